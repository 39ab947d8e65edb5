// SPDX-License-Identifier: MIT

package dataplane

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/wgbpfd/wgbpfd/keystore"
)

// holdsKeyBytes reports the first 8-byte run of key found in b.
func holdsKeyBytes(b, key []byte) (int, bool) {
	for i := 0; i+8 <= len(key); i++ {
		if j := bytes.Index(b, key[i:i+8]); j >= 0 {
			return j, true
		}
	}
	return 0, false
}

// TestKeysWrapWipesPacket: BPF_PROG_TEST_RUN copies wg_wrap's packet back
// to the caller as data_out (and frees it unwiped); after a run, on success
// and on each refusal, the packet holds none of the keys it brought. On the
// old wg_wrap, which wiped only its scratch, data_out held both keys.
func TestKeysWrapWipesPacket(t *testing.T) {
	d := loadForTest(t)
	r := rand.NewChaCha8([32]byte{6})
	k := randKeys(r, SuiteChaCha20Poly1305, 31)
	if err := d.InstallSession(k); err != nil {
		t.Fatal(err)
	}
	aes := randKeys(r, SuiteAESCBC, 32)
	if err := d.InstallSession(aes); err != nil {
		t.Fatal(err)
	}
	// New keys for index 31, wrapped by hand as wrapKeys does. On the
	// kfunc backend the keypair's keys live only in its crypto contexts:
	// wg_wrap refuses it (EINVAL) and the keys stay.
	next := randKeys(r, SuiteChaCha20Poly1305, 31)
	installedRet, sealKey := int32(0), &next.Send
	if b, _ := d.Backend(); b != BackendBPF {
		installedRet, sealKey = -22, &k.Send
	}
	packet := func(idx uint32, n int) []byte {
		f := &wrapFrame{LocalIndex: idx}
		f.Eth.Proto = htons(wrapEthertype)
		copy(f.Keys[:32], next.Send[:])
		copy(f.Keys[32:], next.Receive[:])
		return wrapFrameBytes(f)[:n]
	}
	for _, c := range []struct {
		name string
		pkt  []byte
		ret  int32
	}{
		{"installed", packet(31, wrapFrameLen), installedRet},
		{"unknown index", packet(999, wrapFrameLen), errNoKey},
		{"aes-cbc keypair", packet(32, wrapFrameLen), errNoKey},
		{"short packet", packet(31, wrapFrameLen-10), -22},
	} {
		t.Run(c.name, func(t *testing.T) {
			opts := &ebpf.RunOptions{Data: c.pkt, DataOut: make([]byte, len(c.pkt)+64)}
			ret, err := d.objs.WgWrap.Run(opts)
			if err != nil {
				t.Fatal(err)
			}
			out := opts.DataOut
			if int32(ret) != c.ret {
				t.Fatalf("wg_wrap returned %d, want %d", int32(ret), c.ret)
			}
			if len(out) != len(c.pkt) {
				t.Fatalf("data_out has %d bytes, want %d", len(out), len(c.pkt))
			}
			for _, key := range [][]byte{next.Send[:], next.Receive[:]} {
				if at, ok := holdsKeyBytes(out, key); ok {
					t.Fatalf("data_out holds key bytes at offset %d: %x", at, out)
				}
			}
			if !bytes.Equal(out[:22], c.pkt[:22]) {
				t.Fatalf("header changed: %x, want %x", out[:22], c.pkt[:22])
			}
		})
	}
	// The installed run did store the new keys (plain BPF), or left the
	// contexts' (kfunc): the next seal uses them.
	pt := make([]byte, 64)
	if ret, got := runSelftest(t, d, &stHdr{Op: stSeal, LocalIndex: 31, Counter: 5, Len: 64}, pt, tagLen); ret != 0 ||
		!bytes.Equal(got, keystore.SealPayload(keystore.SuiteChaCha20Poly1305, sealKey, 5, nil, pt)) {
		t.Fatalf("seal after the wrap run: ret %d, not under the expected key", ret)
	}
}
