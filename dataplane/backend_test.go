// SPDX-License-Identifier: MIT

package dataplane

import (
	"bytes"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/wgbpfd/wgbpfd/keystore"
)

// TestBackendChoice: Load takes the kfunc backend exactly when the kernel
// has bpf_crypto's AEAD type, says why when it does not, and obeys
// WGBPFD_CHACHA_BACKEND. Under scripts/vmtest.sh WGBPFD_VMTEST_AEAD says
// whether the bpf_crypto_aead module is loaded.
func TestBackendChoice(t *testing.T) {
	d := loadForTest(t)
	b, why := d.Backend()
	t.Logf("backend %s (%s)", b, why)
	switch os.Getenv("WGBPFD_VMTEST_AEAD") {
	case "loaded":
		if b != BackendKfuncRegistry {
			t.Fatalf("module loaded: backend %v (%s), want the kfunc on the registry", b, why)
		}
	case "absent":
		if b != BackendBPF || !strings.Contains(why, "ENOENT") {
			t.Fatalf("no module: backend %v, why %q; want bpf because of ENOENT", b, why)
		}
	}
	if (b == BackendBPF) != (why != "") {
		t.Fatalf("backend %v with reason %q", b, why)
	}

	t.Setenv(BackendEnv, "bpf")
	forced, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	defer forced.Close()
	if fb, fwhy := forced.Backend(); fb != BackendBPF || fwhy != BackendEnv+"=bpf" {
		t.Fatalf("%s=bpf: backend %v (%s)", BackendEnv, fb, fwhy)
	}

	t.Setenv(BackendEnv, "kfunc")
	strict, err := Load()
	if b == BackendBPF {
		if err == nil || !strings.Contains(err.Error(), "no AEAD in bpf_crypto") {
			t.Fatalf("%s=kfunc without the AEAD type: err %v", BackendEnv, err)
		}
	} else if err != nil {
		t.Fatalf("%s=kfunc with the AEAD type: %v", BackendEnv, err)
	} else {
		strict.Close()
	}

	t.Setenv(BackendEnv, "simd")
	if bad, err := Load(); err == nil || !strings.Contains(err.Error(), `WGBPFD_CHACHA_BACKEND="simd"`) {
		if bad != nil {
			bad.Close()
		}
		t.Fatalf("%s=simd: err %v", BackendEnv, err)
	}
}

// TestBackendsAgree seals with one backend and opens the result with the
// other (the opener's receive key is the sealer's send key), both ways:
// the data plane's chosen backend and the plain-BPF one must be
// interchangeable on the wire. The seal is also compared with keystore.
// Where the kernel has no AEAD type both are the plain-BPF code.
func TestBackendsAgree(t *testing.T) {
	auto := loadForTest(t)
	t.Setenv(BackendEnv, "bpf")
	plain := loadForTest(t)
	b, _ := auto.Backend()
	t.Logf("comparing %s with bpf", b)

	r := rand.NewChaCha8([32]byte{3})
	n := 0
	for i, l := range []int{0, 1, 16, 17, 64, 255, 1024, 1408, 1420, 1536} {
		for j, pair := range [][2]*Dataplane{{auto, plain}, {plain, auto}} {
			ks := randKeys(r, SuiteChaCha20Poly1305, uint32(3000+2*i+j))
			ko := *ks
			ko.Receive = ks.Send
			if err := pair[0].InstallSession(ks); err != nil {
				t.Fatal(err)
			}
			if err := pair[1].InstallSession(&ko); err != nil {
				t.Fatal(err)
			}
			pt := make([]byte, l)
			r.Read(pt)
			ctr := uint64(i)<<40 | uint64(j)
			ret, sealed := runSelftest(t, pair[0], &stHdr{Op: stSeal, LocalIndex: ks.LocalIndex, Counter: ctr, Len: uint32(l)}, pt, tagLen)
			want := keystore.SealPayload(keystore.SuiteChaCha20Poly1305, &ks.Send, ctr, nil, pt)
			if ret != 0 || !bytes.Equal(sealed, want) {
				t.Fatalf("len %d: seal ret %d, differs from keystore", l, ret)
			}
			ret, opened := runSelftest(t, pair[1], &stHdr{Op: stOpen, LocalIndex: ko.LocalIndex, Counter: ctr, Len: uint32(l)}, sealed, 0)
			if ret != 0 || !bytes.Equal(opened[:l], pt) {
				t.Fatalf("len %d: the other backend's open: ret %d", l, ret)
			}
			n++
		}
	}
	t.Logf("%d seal/open pairs across backends agree", n)
}
