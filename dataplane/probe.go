// SPDX-License-Identifier: MIT

package dataplane

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
)

// ProbeResult is what the running kernel offers the data plane.
type ProbeResult struct {
	BTF           bool     // /sys/kernel/btf/vmlinux is readable
	MissingKfuncs []string // bpf_crypto kfuncs absent from the kernel BTF
	// Errors of creating each context in a SEC("syscall") program; nil when
	// the algorithm is usable.
	CBC, ECB error
	// AEAD reports whether bpf_crypto has an "aead" type; when it does,
	// chacha20poly1305 could move to the kfunc backend. AEADErr is why not.
	AEAD    bool
	AEADErr error
	// LoadErr is set when the probe program itself could not be loaded.
	LoadErr error
}

var cryptoKfuncs = []string{
	"bpf_crypto_ctx_create",
	"bpf_crypto_ctx_release",
	"bpf_crypto_encrypt",
	"bpf_crypto_decrypt",
}

// Probe checks, at start-up, what the data plane can use on this kernel:
// BTF, the bpf_crypto kfuncs, and whether cbc(aes), ecb(aes) and an AEAD
// type can actually be created (the only proof: creating them). It needs
// root (CAP_BPF). The returned error is reserved for failures of the probe
// itself; missing features are in the result.
func Probe() (*ProbeResult, error) {
	r := &ProbeResult{}
	if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err != nil {
		r.LoadErr = fmt.Errorf("kernel BTF: %w", err)
		return r, nil
	}
	r.BTF = true
	kspec, err := btf.LoadKernelSpec()
	if err != nil {
		return nil, fmt.Errorf("loading kernel BTF: %w", err)
	}
	for _, name := range cryptoKfuncs {
		var fn *btf.Func
		if err := kspec.TypeByName(name, &fn); err != nil {
			r.MissingKfuncs = append(r.MissingKfuncs, name)
		}
	}
	if len(r.MissingKfuncs) > 0 {
		r.LoadErr = errors.New("bpf_crypto kfuncs missing")
		return r, nil
	}

	spec, err := loadWgbpf()
	if err != nil {
		return nil, fmt.Errorf("loading BPF spec: %w", err)
	}
	// Load only wg_probe and the map it uses, not the whole data plane.
	var objs struct {
		Probe *ebpf.Program `ebpf:"wg_probe"`
	}
	if err := spec.LoadAndAssign(&objs, nil); err != nil {
		r.LoadErr = fmt.Errorf("loading probe program: %w", err)
		return r, nil
	}
	defer objs.Probe.Close()

	if r.CBC, err = probeCipher(objs.Probe, "skcipher", "cbc(aes)", 0); err != nil {
		return nil, err
	}
	if r.ECB, err = probeCipher(objs.Probe, "skcipher", "ecb(aes)", 0); err != nil {
		return nil, err
	}
	if r.AEADErr, err = probeCipher(objs.Probe, "aead", "rfc7539(chacha20,poly1305)", 16); err != nil {
		return nil, err
	}
	r.AEAD = r.AEADErr == nil
	return r, nil
}

// probeCipher runs wg_probe. authsize is an AEAD's tag length (bpf_crypto
// refuses an AEAD without one and a cipher with one). The first result is
// the kernel's answer for the algorithm, the second a failure to ask.
func probeCipher(p *ebpf.Program, typ, algo string, authsize byte) (error, error) {
	args := &probeArgs{KeyLen: 32, Authsize: uint32(authsize)}
	// NUL-terminated: copy at most len-1 bytes.
	for i := 0; i < len(typ) && i < len(args.Type)-1; i++ {
		args.Type[i] = int8(typ[i])
	}
	for i := 0; i < len(algo) && i < len(args.Algo)-1; i++ {
		args.Algo[i] = int8(algo[i])
	}
	syscallMu.Lock()
	err := runSyscall(p, argBytes(args))
	syscallMu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("probing %s %q: %w", typ, algo, err)
	}
	if args.Err != 0 {
		return fmt.Errorf("bpf_crypto_ctx_create(%q): %w", algo, errnoError(args.Err)), nil
	}
	return nil, nil
}

// Suites lists the transport suites this kernel can run.
func (r *ProbeResult) Suites() []uint8 {
	if !r.BTF || r.LoadErr != nil {
		return nil
	}
	s := []uint8{SuiteChaCha20Poly1305} // plain BPF: needs nothing more
	if r.CBC == nil && r.ECB == nil {
		s = append(s, SuiteAESCBC)
	}
	return s
}

// Missing explains, for a person, what the kernel lacks; "" if nothing.
func (r *ProbeResult) Missing() string {
	var m []string
	if !r.BTF {
		m = append(m, "kernel BTF (/sys/kernel/btf/vmlinux; CONFIG_DEBUG_INFO_BTF=y) is missing: the data plane cannot load")
	}
	if len(r.MissingKfuncs) > 0 {
		m = append(m, "bpf_crypto kfuncs missing ("+strings.Join(r.MissingKfuncs, ", ")+"): needs Linux 6.10+ with CONFIG_BPF_SYSCALL and CONFIG_CRYPTO_SKCIPHER; only the userspace suites would work")
	}
	if r.LoadErr != nil && r.BTF && len(r.MissingKfuncs) == 0 {
		m = append(m, "the probe program did not load: "+r.LoadErr.Error())
	}
	if r.CBC != nil {
		m = append(m, "aes-cbc suite unavailable: "+r.CBC.Error())
	}
	if r.ECB != nil {
		m = append(m, "aes-cbc suite unavailable: "+r.ECB.Error())
	}
	if r.BTF && r.LoadErr == nil && !r.AEAD {
		m = append(m, "no AEAD type in bpf_crypto ("+fmt.Sprint(r.AEADErr)+"): chacha20poly1305 runs in plain BPF")
	}
	return strings.Join(m, "; ")
}
