// SPDX-License-Identifier: MIT

package dataplane

import (
	"fmt"
	"os"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
)

// Backend is what computes the chacha20poly1305 suite (enum wg_backend,
// bpf/lib/aead.h). The wire format is the same either way.
type Backend uint32

const (
	// BackendBPF is ChaCha20-Poly1305 written in BPF (bpf/lib/chacha20.h,
	// poly1305.h); it needs nothing from the kernel beyond bpf_crypto's
	// ecb(aes) for the key wrap.
	BackendBPF Backend = 0
	// BackendKfuncRegistry is bpf_crypto's "aead" type on a kernel with
	// the type registry (6.10 on, with the bpf_crypto_aead module or the
	// patch in kernel/upstream/registry).
	BackendKfuncRegistry Backend = 1
	// BackendKfuncTable is the same algorithm on a kernel whose bpf_crypto
	// is a table of lib/crypto algorithms (kernel/upstream/libtable).
	BackendKfuncTable Backend = 2
)

// String is the backend's name in the start-up log and the metrics.
func (b Backend) String() string {
	switch b {
	case BackendBPF:
		return "bpf"
	case BackendKfuncRegistry, BackendKfuncTable:
		return "kfunc"
	}
	return fmt.Sprintf("backend(%d)", uint32(b))
}

// BackendEnv overrides the choice: "bpf" keeps the plain-BPF code even
// where the kernel has the AEAD type; "kfunc" makes Load fail unless the
// kernel has it. Empty or unset: the kfunc backend when the kernel offers
// it.
const BackendEnv = "WGBPFD_CHACHA_BACKEND"

const aeadAlgo = "rfc7539(chacha20,poly1305)"

// chooseBackend asks the kernel, through wg_probe, for an "aead" context
// of rfc7539(chacha20,poly1305); the only proof that it works is creating
// one. Whether bpf_crypto still has its type registry decides the buffer
// convention (bpf/lib/aead.h). why says, for the log, why the plain-BPF code
// runs; it is empty when the kfunc backend was chosen.
func chooseBackend(probe *ebpf.Program) (b Backend, why string, err error) {
	want := os.Getenv(BackendEnv)
	switch want {
	case "", "bpf", "kfunc":
	default:
		return 0, "", fmt.Errorf("%s=%q: want bpf or kfunc", BackendEnv, want)
	}
	if want == "bpf" {
		return BackendBPF, BackendEnv + "=bpf", nil
	}
	refused, err := probeCipher(probe, "aead", aeadAlgo, 16)
	if err != nil {
		return 0, "", err
	}
	if refused != nil {
		if want == "kfunc" {
			return 0, "", fmt.Errorf("%s=kfunc, but the kernel has no AEAD in bpf_crypto: %w (load kernel/bpf_crypto_aead)", BackendEnv, refused)
		}
		return BackendBPF, refused.Error(), nil
	}
	kspec, err := btf.LoadKernelSpec()
	if err != nil {
		return 0, "", fmt.Errorf("loading kernel BTF: %w", err)
	}
	var fn *btf.Func
	if kspec.TypeByName("bpf_crypto_register_type", &fn) == nil {
		return BackendKfuncRegistry, "", nil
	}
	return BackendKfuncTable, "", nil
}

// Backend is what computes chacha20poly1305 in this data plane, and why
// not the kfunc when it is the plain-BPF code ("" otherwise).
func (d *Dataplane) Backend() (Backend, string) { return d.backend, d.backendWhy }
