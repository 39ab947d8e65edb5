// SPDX-License-Identifier: MIT

package main

import (
	"math"
	"strings"
	"testing"
)

func TestCipherParse(t *testing.T) {
	out := `goos: linux
BenchmarkCrypto/chacha20poly1305/seal/bpf/1420-2         	   20000	      6880 ns/op	 206.58 MB/s	      6874 ns/pkt
BenchmarkCrypto/chacha20poly1305/open/bpf/1420           	   20000	      6870 ns/op	 206.58 MB/s	      6860 ns/pkt
BenchmarkCrypto/bare-cbc(aes)/encrypt/bpf_crypto/1420-16 	   20000	     20227.5 ns/op	  70.43 MB/s	     20219 ns/pkt
BenchmarkCrypto/bare-cbc(aes)/decrypt/bpf_crypto/1420-2  	   20000	     53002 ns/op	  26.87 MB/s	     52993 ns/pkt
BenchmarkCrypto/aes-cbc/seal/bpf/1420-2                  	   20000	     22552 ns/op	  62.97 MB/s	     22543 ns/pkt
BenchmarkCrypto/aes-cbc/open/bpf/1420-2                  	   20000	     55801 ns/op	  25.45 MB/s	     55792 ns/pkt
PASS
`
	c := &cipherLimits{cores: 2}
	if err := c.parse(out); err != nil {
		t.Fatal(err)
	}
	if c.chachaSeal != 6874 || c.chachaOpen != 6860 || c.cbcEnc != 20219 || c.cbcDec != 52993 || c.aesSeal != 22543 || c.aesOpen != 55792 {
		t.Fatalf("parsed %+v", c)
	}
	// 2 cores ÷ (6874 + 6860 ns) × 1420 B × 8 = 1.654 Gbit/s.
	if g := c.chachaGbps(); math.Abs(g-1.654) > 0.001 {
		t.Fatalf("chacha limit %v Gbit/s", g)
	}

	// With -count, each row appears once per run: the lowest cost counts
	// (a disturbed run must not lower the limit).
	c = &cipherLimits{cores: 2}
	again := strings.Replace(out, "      6860 ns/pkt", "     12139 ns/pkt", 1)
	again = strings.Replace(again, "      6874 ns/pkt", "      6901 ns/pkt", 1)
	if err := c.parse(out + again); err != nil {
		t.Fatal(err)
	}
	if c.chachaSeal != 6874 || c.chachaOpen != 6860 {
		t.Fatalf("with a slower second run parsed %+v; want the first run's 6874 / 6860", c)
	}
	c = &cipherLimits{cores: 2}
	if err := c.parse(again + out); err != nil {
		t.Fatal(err)
	}
	if c.chachaSeal != 6874 || c.chachaOpen != 6860 {
		t.Fatalf("with a slower first run parsed %+v; want the second run's 6874 / 6860", c)
	}

	// The second benchmark (after the traffic) parses into the same limits:
	// a slower one keeps the first costs, a faster row replaces its cost.
	c = &cipherLimits{cores: 2}
	if err := c.parse(out); err != nil {
		t.Fatal(err)
	}
	if err := c.parse(strings.Replace(again, "     52993 ns/pkt", "     51000 ns/pkt", 1)); err != nil {
		t.Fatal(err)
	}
	if c.chachaSeal != 6874 || c.chachaOpen != 6860 || c.cbcDec != 51000 {
		t.Fatalf("after a second benchmark parsed %+v; want 6874 / 6860 kept and decrypt 51000", c)
	}

	// A skipped benchmark prints no row.
	c = &cipherLimits{cores: 2}
	err := c.parse(strings.Replace(out, "open/bpf", "open/go", 1))
	if err == nil || !strings.Contains(err.Error(), "chacha20poly1305/open/bpf/1420") {
		t.Fatalf("missing row: err %v", err)
	}
}

// TestTargetsWithoutCipherLimit: a failed crypto benchmark leaves only the
// limit rows unmeasured, with the reason under the table.
func TestTargetsWithoutCipherLimit(t *testing.T) {
	mk := func(tg target, udp, tcp float64) *result {
		r := &result{t: tg, traffic: traffic{udpPPS: udp}}
		r.tcp1.gbps, r.tcp4.gbps = tcp, tcp
		r.pingIdle.mean, r.pingLoad.mean = 0.1, 0.2
		return r
	}
	results := []*result{
		mk(allTargets[0], 200e3, 15), mk(allTargets[1], 70e3, 0.9),
		mk(allTargets[2], 50e3, 0.2), mk(allTargets[3], 30e3, 2.5),
	}
	results[3].pingIdle.mean, results[3].pingLoad.mean = 0.5, 4
	var b strings.Builder
	limits := &cipherLimits{cores: 2}
	limits.err = errTest("go test -bench: exit status 1")
	writeTargets(&b, results, limits, results[0], results[3])
	out := b.String()
	t.Log("\n" + out)
	for _, want := range []string{
		"| 2.33× / 1.67× | **no** |",
		"| —¹ / —¹ | not measured |",
		"¹ The crypto benchmark failed, so there is no cipher limit: go test -bench: exit status 1",
		"| — / — | not measured |", // no scale results
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q", want)
		}
	}
}

type errTest string

func (e errTest) Error() string { return string(e) }
