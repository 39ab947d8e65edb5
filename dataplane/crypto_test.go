// SPDX-License-Identifier: MIT

package dataplane

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"testing"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/wgbpfd/wgbpfd/internal/testenv"
	"github.com/wgbpfd/wgbpfd/keystore"
)

// Selftest operations and return codes (bpf/selftest.h, bpf/keymap.h).
const (
	stSeal     = 1
	stOpen     = 2
	stRX       = 3
	stAEADSeal = 4
	stPoly1305 = 5
	stCBC      = 6
	stCBCDec   = 7
	stAEADOpen = 8
	stNoWrite  = 0x100

	errTag    = -1
	errNoKey  = -2
	errLen    = -3
	errCrypto = -4

	ethLen      = 14
	stEthertype = 0x88b5
	stHdrLen    = 80
	wgHdrLen    = 16
	tagLen      = 16
	maxPadded   = 1536
)

// Drop reasons (enum wg_drop_reason in bpf/common.h).
const (
	dropNoSession     = 0
	dropBadTag        = 1
	dropMalformed     = 4
	dropSuiteMismatch = 6
)

// stHdr mirrors struct wg_selftest_hdr.
type stHdr struct {
	Op, LocalIndex uint32
	Counter        uint64
	Len, ADLen     uint32
	NonceLo        uint32
	Ret            int32
	Key            [32]byte
	AD             [16]byte
}

// selftestPacket builds Ethernet (zero) || header || payload, with room for
// the tag after the payload when the operation appends one.
func selftestPacket(h *stHdr, payload []byte, extra int) []byte {
	b := make([]byte, ethLen, ethLen+stHdrLen+len(payload)+extra)
	binary.BigEndian.PutUint16(b[12:], stEthertype)
	b, _ = binary.Append(b, binary.NativeEndian, h)
	b = append(b, payload...)
	return append(b, make([]byte, extra)...)
}

// runSelftest runs wg_selftest once and returns its return value and the
// payload part of the resulting packet.
func runSelftest(t testing.TB, d *Dataplane, h *stHdr, payload []byte, extra int) (int32, []byte) {
	t.Helper()
	pkt := selftestPacket(h, payload, extra)
	out := make([]byte, len(pkt)+64)
	ret, err := selftestOf(t, d).Run(&ebpf.RunOptions{Data: pkt, DataOut: out})
	if err != nil {
		t.Fatalf("BPF_PROG_TEST_RUN: %v", err)
	}
	return int32(ret), out[ethLen+stHdrLen : len(pkt)]
}

// runRX feeds a WireGuard data message to the receive mimic.
func runRX(t testing.TB, d *Dataplane, msg []byte) (int32, []byte) {
	t.Helper()
	pkt := append(make([]byte, ethLen), msg...)
	out := make([]byte, len(pkt)+64)
	ret, err := selftestOf(t, d).Run(&ebpf.RunOptions{Data: pkt, DataOut: out})
	if err != nil {
		t.Fatalf("BPF_PROG_TEST_RUN: %v", err)
	}
	return int32(ret), out[ethLen:len(pkt)]
}

func loadForTest(t testing.TB) *Dataplane {
	t.Helper()
	testenv.RequireRoot(t)
	d, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if _, err := loadSelftest(d); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeSelftest(d) })
	return d
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCryptoRFC8439 checks the raw primitives on RFC 8439's own vectors:
// 2.5.2 (Poly1305) and 2.8.2 (the AEAD, with its 7-byte-prefixed nonce and
// 12 bytes of AD, which the WireGuard path never uses but the code supports).
func TestCryptoRFC8439(t *testing.T) {
	d := loadForTest(t)

	t.Run("2.5.2 Poly1305", func(t *testing.T) {
		h := &stHdr{Op: stPoly1305}
		copy(h.Key[:], mustHex(t, "85d6be7857556d337f4452fe42d506a80103808afb0db2fd4abff6af4149f51b"))
		msg := []byte("Cryptographic Forum Research Group")
		h.Len = uint32(len(msg))
		ret, out := runSelftest(t, d, h, msg, tagLen)
		if ret != 0 {
			t.Fatalf("ret %d", ret)
		}
		want := mustHex(t, "a8061dc1305136c6c22b8baf0c0127a9")
		if !bytes.Equal(out[len(msg):], want) {
			t.Fatalf("tag %x, want %x", out[len(msg):], want)
		}
	})

	t.Run("2.8.2 AEAD", func(t *testing.T) {
		h := &stHdr{Op: stAEADSeal, ADLen: 12}
		copy(h.Key[:], mustHex(t, "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"))
		nonce := mustHex(t, "070000004041424344454647")
		h.NonceLo = binary.LittleEndian.Uint32(nonce[0:4])
		h.Counter = binary.LittleEndian.Uint64(nonce[4:12])
		copy(h.AD[:], mustHex(t, "50515253c0c1c2c3c4c5c6c7"))
		pt := []byte("Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.")
		h.Len = uint32(len(pt))
		want := mustHex(t, "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6"+
			"3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36"+
			"92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc"+
			"3ff4def08e4b7a9de576d26586cec64b6116"+
			"1ae10b594f09e26a7e902ecbd0600691")
		ret, out := runSelftest(t, d, h, pt, tagLen)
		if ret != 0 || !bytes.Equal(out, want) {
			t.Fatalf("ret %d\n got %x\nwant %x", ret, out, want)
		}
		h.Op = stAEADOpen
		ret, out = runSelftest(t, d, h, want, 0)
		if ret != 0 || !bytes.Equal(out[:len(pt)], pt) {
			t.Fatalf("open: ret %d, got %q", ret, out[:len(pt)])
		}
		want[5] ^= 1
		if ret, _ = runSelftest(t, d, h, want, 0); ret != errTag {
			t.Fatalf("open of a forged ciphertext: ret %d, want %d", ret, errTag)
		}
	})
}

var suites = []struct {
	name string
	id   uint8
	ks   keystore.Suite
	typ  byte
}{
	{"chacha20poly1305", SuiteChaCha20Poly1305, keystore.SuiteChaCha20Poly1305, 4},
	{"aes-cbc", SuiteAESCBC, keystore.SuiteAESCBC, 0x84},
}

// Counters every suite must handle: the 32-bit boundary and the top of the
// REJECT_AFTER_MESSAGES range.
var edgeCounters = []uint64{0, 1, 1<<32 - 1, 1 << 32, 1 << 60, ^uint64(0) - 1<<13 - 1, ^uint64(0) - 1<<13, ^uint64(0)}

func randKeys(r *rand.ChaCha8, s uint8, idx uint32) *SessionKeys {
	k := &SessionKeys{Suite: s, LocalIndex: idx, RemoteIndex: idx ^ 0x5a5a5a5a, PeerID: 7}
	r.Read(k.Send[:])
	r.Read(k.Receive[:])
	return k
}

// sealOpenCheck seals with BPF and compares byte for byte with keystore,
// then opens a keystore-sealed payload with BPF.
func sealOpenCheck(t *testing.T, d *Dataplane, r *rand.ChaCha8, k *SessionKeys, ks keystore.Suite, padded int, ctr uint64) {
	t.Helper()
	pt := make([]byte, padded)
	r.Read(pt)
	want := keystore.SealPayload(ks, &k.Send, ctr, nil, pt)
	ret, got := runSelftest(t, d, &stHdr{Op: stSeal, LocalIndex: k.LocalIndex, Counter: ctr, Len: uint32(padded)}, pt, tagLen)
	if ret != 0 || !bytes.Equal(got, want) {
		t.Fatalf("seal len %d counter %#x: ret %d\n got %x\nwant %x", padded, ctr, ret, got, want)
	}
	ct := keystore.SealPayload(ks, &k.Receive, ctr, nil, pt)
	ret, got = runSelftest(t, d, &stHdr{Op: stOpen, LocalIndex: k.LocalIndex, Counter: ctr, Len: uint32(padded)}, ct, 0)
	if ret != 0 || !bytes.Equal(got[:padded], pt) {
		t.Fatalf("open len %d counter %#x: ret %d", padded, ctr, ret)
	}
}

// TestCryptoSealOpen compares wg_seal/wg_open with keystore's Go suites at
// the brief's lengths, random lengths, random keys and edge counters.
func TestCryptoSealOpen(t *testing.T) {
	d := loadForTest(t)
	r := rand.NewChaCha8([32]byte{1})
	rnd := rand.New(r)
	lengths := []int{0, 1, 15, 16, 17, 63, 64, 65, 1023, 1024, 1407, 1408, 1420}
	for range 40 {
		lengths = append(lengths, rnd.IntN(1500))
	}
	for _, s := range suites {
		t.Run(s.name, func(t *testing.T) {
			n := 0
			for i, l := range lengths {
				k := randKeys(r, s.id, uint32(1000+i))
				if err := d.InstallSession(k); err != nil {
					t.Fatal(err)
				}
				// The padded length the packet path passes (MTU 1420),
				// and for chacha also the exact length: the primitive
				// must handle any length, padding is the caller's.
				pads := []int{keystore.PaddedLen(s.ks, l, 1420)}
				if s.id == SuiteChaCha20Poly1305 && l != pads[0] {
					pads = append(pads, l)
				}
				ctrs := append([]uint64{rnd.Uint64()}, edgeCounters[i%len(edgeCounters)])
				for _, p := range pads {
					for _, c := range ctrs {
						sealOpenCheck(t, d, r, k, s.ks, p, c)
						n++
					}
				}
				if err := d.RemoveSession(k.LocalIndex); err != nil {
					t.Fatal(err)
				}
			}
			t.Logf("%d seal+open pairs identical to keystore", n)
		})
	}
}

// TestCryptoVectors runs keystore's known-answer file through the BPF
// seal and open.
func TestCryptoVectors(t *testing.T) {
	d := loadForTest(t)
	raw, err := os.ReadFile("../keystore/testdata/aescbc_vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Vectors []struct {
			Name, Suite, TransportKey, Counter, Plaintext, CiphertextAndTag string
			SuiteID                                                         uint8
		}
	}
	// The file uses snake_case; map the fields we need.
	var rawf struct {
		Vectors []map[string]any `json:"vectors"`
	}
	if err := json.Unmarshal(raw, &rawf); err != nil {
		t.Fatal(err)
	}
	for _, v := range rawf.Vectors {
		f.Vectors = append(f.Vectors, struct {
			Name, Suite, TransportKey, Counter, Plaintext, CiphertextAndTag string
			SuiteID                                                         uint8
		}{
			Name: v["name"].(string), TransportKey: v["transport_key"].(string),
			Counter: v["counter"].(string), Plaintext: v["plaintext"].(string),
			CiphertextAndTag: v["ciphertext_and_tag"].(string), SuiteID: uint8(v["suite_id"].(float64)),
		})
	}
	if len(f.Vectors) == 0 {
		t.Fatal("no vectors")
	}
	for i, v := range f.Vectors {
		k := &SessionKeys{Suite: v.SuiteID, LocalIndex: uint32(5000 + i)}
		copy(k.Send[:], mustHex(t, v.TransportKey))
		k.Receive = k.Send
		if err := d.InstallSession(k); err != nil {
			t.Fatal(err)
		}
		ctr := binary.BigEndian.Uint64(mustHex(t, v.Counter))
		pt, want := mustHex(t, v.Plaintext), mustHex(t, v.CiphertextAndTag)
		ret, got := runSelftest(t, d, &stHdr{Op: stSeal, LocalIndex: k.LocalIndex, Counter: ctr, Len: uint32(len(pt))}, pt, tagLen)
		if ret != 0 || !bytes.Equal(got, want) {
			t.Fatalf("%s: seal ret %d\n got %x\nwant %x", v.Name, ret, got, want)
		}
		ret, got = runSelftest(t, d, &stHdr{Op: stOpen, LocalIndex: k.LocalIndex, Counter: ctr, Len: uint32(len(pt))}, want, 0)
		if ret != 0 || !bytes.Equal(got[:len(pt)], pt) {
			t.Fatalf("%s: open ret %d", v.Name, ret)
		}
		d.RemoveSession(k.LocalIndex)
	}
	t.Logf("%d known-answer vectors sealed and opened", len(f.Vectors))
}

// dropCounts sums the per-CPU drop counters.
func dropCounts(t testing.TB, d *Dataplane) []uint64 {
	t.Helper()
	out := make([]uint64, 16)
	for reason := range uint32(16) {
		var per []uint64
		if err := d.objs.Drops.Lookup(reason, &per); err != nil {
			t.Fatal(err)
		}
		for _, v := range per {
			out[reason] += v
		}
	}
	return out
}

// pinCPU0 keeps the test on CPU 0 so that "the per-CPU scratch" is one
// known buffer.
func pinCPU0(t *testing.T) {
	runtime.LockOSThread()
	t.Cleanup(runtime.UnlockOSThread)
	var set unix.CPUSet
	set.Set(0)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		t.Fatal(err)
	}
}

func scratchCPU0(t testing.TB, d *Dataplane) []byte {
	t.Helper()
	var per [][]byte
	if err := d.objs.Scratch.Lookup(uint32(0), &per); err != nil {
		t.Fatal(err)
	}
	return per[0]
}

// TestCryptoTamper: a flipped bit in every byte of a data message, a
// truncated message, a wrong index and a removed keypair are all dropped,
// the packet is left as it was, the scratch buffer holds the untouched
// ciphertext, and exactly the right per-reason counter moves.
func TestCryptoTamper(t *testing.T) {
	d := loadForTest(t)
	r := rand.NewChaCha8([32]byte{2})
	for si, s := range suites {
		t.Run(s.name, func(t *testing.T) {
			pinCPU0(t)
			k := randKeys(r, s.id, uint32(0x10000*(si+1)))
			if err := d.InstallSession(k); err != nil {
				t.Fatal(err)
			}
			pt := make([]byte, 96)
			r.Read(pt)
			ctr := uint64(1<<32 + 5)
			msg := keystore.AppendDataHeader(nil, s.ks, k.LocalIndex, ctr)
			msg = keystore.SealPayload(s.ks, &k.Receive, ctr, msg, pt)

			check := func(name string, m []byte, wantReason int) {
				t.Helper()
				before := dropCounts(t, d)
				ret, out := runRX(t, d, m)
				after := dropCounts(t, d)
				if ret == 0 {
					t.Fatalf("%s: accepted", name)
				}
				if !bytes.Equal(out, m) {
					t.Fatalf("%s: packet modified", name)
				}
				for reason := range after {
					want := uint64(0)
					if reason == wantReason {
						want = 1
					}
					if after[reason]-before[reason] != want {
						t.Fatalf("%s: drop counter %d moved by %d, want %d", name, reason, after[reason]-before[reason], want)
					}
				}
				if wantReason == dropBadTag {
					sc := scratchCPU0(t, d)
					if !bytes.Equal(sc[:len(m)-wgHdrLen], m[wgHdrLen:]) {
						t.Fatalf("%s: scratch buffer modified after a bad tag", name)
					}
				}
			}

			ret, out := runRX(t, d, msg)
			if ret != 0 || !bytes.Equal(out[wgHdrLen:wgHdrLen+len(pt)], pt) {
				t.Fatalf("genuine message: ret %d", ret)
			}
			flips := 0
			for i := range msg {
				for _, bit := range []byte{0x01, 0x80} {
					m := bytes.Clone(msg)
					m[i] ^= bit
					want := dropBadTag
					switch {
					case i == 0 && (m[0] == 4 || m[0] == 0x84):
						want = dropSuiteMismatch
					case i < 4:
						want = dropMalformed
					case i < 8:
						want = dropNoSession
					}
					check(fmt.Sprintf("bit %#x of byte %d", bit, i), m, want)
					flips++
				}
			}
			for _, cut := range []int{1, 15, 16, len(msg) - 31, len(msg) - 16} {
				m := msg[:len(msg)-cut]
				want := dropBadTag
				switch {
				case len(m) < wgHdrLen+tagLen:
					want = dropMalformed
				case s.id == SuiteAESCBC && (len(m)-wgHdrLen-tagLen)%16 != 0:
					want = dropMalformed // wg_open: WG_ERR_LEN
				}
				check(fmt.Sprintf("truncated by %d", cut), m, want)
			}
			m := bytes.Clone(msg)
			binary.LittleEndian.PutUint32(m[4:], k.LocalIndex+1)
			check("wrong index", m, dropNoSession)
			if err := d.RemoveSession(k.LocalIndex); err != nil {
				t.Fatal(err)
			}
			check("removed keypair", msg, dropNoSession)
			// wg_open itself on a removed keypair: WG_ERR_NOKEY.
			ret, _ = runSelftest(t, d, &stHdr{Op: stOpen, LocalIndex: k.LocalIndex, Counter: ctr, Len: uint32(len(pt))}, msg[wgHdrLen:], 0)
			if ret != errNoKey {
				t.Fatalf("wg_open after removal: %d, want %d", ret, errNoKey)
			}
			t.Logf("%d bit flips, 5 truncations, wrong index, removed keypair: all dropped and counted", flips)
		})
	}
}
