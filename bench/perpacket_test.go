package main

import (
	"math"
	"strings"
	"testing"
)

// TestBudget checks the per-packet arithmetic against numbers worked out
// by hand, and the table's rows.
func TestBudget(t *testing.T) {
	limits := &cipherLimits{cores: 2, chachaSeal: 6874, chachaOpen: 6860, cbcEnc: 20219, cbcDec: 52993}
	// 80% of 2 ÷ 13.734 µs × 1420 B × 8 = 1.3235 Gbit/s; over 1368 × 8 bits
	// that is 120,937 packets/s, 16.538 µs of CPU each, 2.804 µs after the cipher.
	if got := budgetUs(limits, limits.chachaSeal, limits.chachaOpen, 0.8, segmentPayload(1420)); math.Abs(got-2.804) > 0.001 {
		t.Errorf("chacha budget %.4f µs, want 2.804", got)
	}
	// 15.2 CPU-s/GB × 1368 B = 20.79 µs per packet.
	if got := usPerPacket(15.2, segmentPayload(1420)); math.Abs(got-20.794) > 0.001 {
		t.Errorf("CPU per packet %.4f µs, want 20.794", got)
	}

	mk := func(tg target, mtu int, cpuPerGB float64) *result {
		r := &result{t: tg, mtu: mtu}
		r.cpu1.cpuPerGBn = cpuPerGB
		return r
	}
	results := []*result{mk(allTargets[0], 0, 0.8), mk(allTargets[1], 1420, 15.2), mk(allTargets[2], 1408, 62.4), mk(allTargets[3], 1420, 5.56)}
	pp := &perPacketVeth{}
	pp.tcp.cpuPerGBn, pp.tcp.gbps = 2.5, 4.2
	var b strings.Builder
	writeBudget(&b, results, limits, pp)
	out := b.String()
	t.Log("\n" + out)
	for _, want := range []string{
		"| wgbpfd chacha20poly1305 | 1368 | 20.8 | 13.7 | 7.1 | 2.8 (80% of the BPF cipher limit) |",
		"| wgbpfd aes-cbc | 1356 | 84.6 | 73.2 | 11.4 |",
		"| wireguard-go (its own cipher, SIMD) | 1368 | 7.6 |",
		"offloads tso/gso/sg/tx/rx/gro off (no tunnel; 4.20 Gbit/s) | 1368 | 3.4 | — | 3.4 | — |",
		"takes 3.4 µs per packet; 80% of the ChaCha20-Poly1305 limit leaves 2.8 µs",
		"(the veth alone is 122% of it)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q", want)
		}
	}

	// No cipher limit, no table.
	b.Reset()
	writeBudget(&b, results, &cipherLimits{cores: 2, err: errTest("failed")}, pp)
	if b.Len() != 0 {
		t.Errorf("a table without limits:\n%s", b.String())
	}
}
