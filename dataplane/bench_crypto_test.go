// SPDX-License-Identifier: MIT

package dataplane

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/wgbpfd/wgbpfd/keystore"
)

// BenchmarkCrypto measures the BPF suites per packet with
// BPF_PROG_TEST_RUN and repeat (the kernel times the runs; the numbers
// include copying the payload into and out of the per-CPU scratch), beside
// keystore's Go suites and the bare bpf_crypto cbc(aes) cipher on the same
// lengths. Run: go test ./dataplane -run '^$' -bench Crypto
func BenchmarkCrypto(b *testing.B) {
	d := loadForTest(b)
	r := rand.NewChaCha8([32]byte{9})

	for _, n := range []int{64, 1420} {
		for i, s := range suites {
			k := randKeys(r, s.id, uint32(7000+i))
			if err := d.InstallSession(k); err != nil {
				b.Fatal(err)
			}
			padded := keystore.PaddedLen(s.ks, n, 1420)
			pt := make([]byte, padded)
			r.Read(pt)
			ct := keystore.SealPayload(s.ks, &k.Receive, 42, nil, pt)

			bpf := func(op uint32, payload []byte, extra int) func(*testing.B) {
				return func(b *testing.B) {
					h := &stHdr{Op: op | stNoWrite, LocalIndex: k.LocalIndex, Counter: 42, Len: uint32(padded)}
					pkt := selftestPacket(h, payload, extra)
					ret, per, err := selftestOf(b, d).Benchmark(pkt, b.N, nil)
					if err != nil || ret != 0 {
						b.Fatalf("ret %d: %v", int32(ret), err)
					}
					report(b, per, padded)
				}
			}
			goSuite := func(open bool) func(*testing.B) {
				return func(b *testing.B) {
					dst := make([]byte, 0, padded+tagLen)
					start := time.Now()
					for range b.N {
						if open {
							if _, err := keystore.OpenPayload(s.ks, &k.Receive, 42, dst[:0], ct); err != nil {
								b.Fatal(err)
							}
						} else {
							keystore.SealPayload(s.ks, &k.Send, 42, dst[:0], pt)
						}
					}
					report(b, time.Since(start)/time.Duration(b.N), padded)
				}
			}
			b.Run(fmt.Sprintf("%s/seal/bpf/%d", s.name, n), bpf(stSeal, pt, tagLen))
			if s.id == SuiteChaCha20Poly1305 {
				// The breakdown: the AEAD on a key given in the
				// request (no per-packet unwrap) and Poly1305 alone.
				raw := func(op uint32) func(*testing.B) {
					return func(b *testing.B) {
						h := &stHdr{Op: op | stNoWrite, Len: uint32(padded)}
						copy(h.Key[:], k.Send[:])
						pkt := selftestPacket(h, pt, tagLen)
						ret, per, err := selftestOf(b, d).Benchmark(pkt, b.N, nil)
						if err != nil || ret != 0 {
							b.Fatalf("ret %d: %v", int32(ret), err)
						}
						report(b, per, padded)
					}
				}
				b.Run(fmt.Sprintf("%s/seal-nounwrap/bpf/%d", s.name, n), raw(stAEADSeal))
				b.Run(fmt.Sprintf("poly1305/bpf/%d", n), raw(stPoly1305))
			}
			b.Run(fmt.Sprintf("%s/open/bpf/%d", s.name, n), bpf(stOpen, ct, 0))
			b.Run(fmt.Sprintf("%s/seal/go/%d", s.name, n), goSuite(false))
			b.Run(fmt.Sprintf("%s/open/go/%d", s.name, n), goSuite(true))
			if s.id == SuiteAESCBC {
				b.Run(fmt.Sprintf("bare-cbc(aes)/encrypt/bpf_crypto/%d", n), bpf(stCBC, pt, 0))
				b.Run(fmt.Sprintf("bare-cbc(aes)/decrypt/bpf_crypto/%d", n), bpf(stCBCDec, pt, 0))
			}
		}
	}
}

func report(b *testing.B, per time.Duration, n int) {
	b.ReportMetric(float64(per.Nanoseconds()), "ns/pkt")
	b.ReportMetric(float64(n)/per.Seconds()/1e6, "MB/s")
}
