// SPDX-License-Identifier: MIT

package main

import (
	"math"
	"strings"
	"testing"
)

// TestBudget checks the per-packet arithmetic against numbers worked out
// by hand, and the table's rows.
func TestBudget(t *testing.T) {
	limits := &cipherLimits{cores: 2, chachaSeal: 6874, chachaOpen: 6860, cbcEnc: 20219, cbcDec: 52993, aesSeal: 22543, aesOpen: 55792}
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
		"with no tunnel at all, takes 3.4 µs per packet.",
		"chacha20poly1305: 80% of the limit leaves 2.8 µs per packet for that and everything else around the cipher (the veth alone is 122% of it).",
		// 85% of 2 ÷ 73.212 µs × 1420 B × 8 = 0.26378 Gbit/s: 24,316 packets
		// of 1356 B per second, 41.1 µs each per CPU, 82.25 µs on two; less
		// the bare cipher, 9.04. The suite adds 78.335 − 73.212 = 5.12.
		"leaves 9.0 µs per packet outside the bare cipher",
		"takes 5.1 µs of that and the per-packet veth 3.4, leaving 0.5.",
		"each CPU may spend 41.1 µs per packet, less than one bare decryption (53.0 µs)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q", want)
		}
	}

	for _, tc := range []struct {
		what string
		edit func(c *cipherLimits)
		want string
	}{
		// Not subtracted: the machine was slower while the cipher was timed.
		{"a cipher timed slower than the whole packet", func(c *cipherLimits) { c.cbcDec = 90000 },
			"| wgbpfd aes-cbc | 1356 | 84.6 | 110.2 | — (less than the cipher"},
		// 9.04 − (22.543 + 60 − 73.212) − 3.42 = −3.71.
		{"a suite whose own work exceeds the budget", func(c *cipherLimits) { c.aesOpen = 60000 },
			"takes 9.3 µs of that and the per-packet veth 3.4, 3.7 µs more than all of it."},
	} {
		b.Reset()
		edited := *limits
		tc.edit(&edited)
		writeBudget(&b, results, &edited, pp)
		if !strings.Contains(b.String(), tc.want) {
			t.Errorf("%s: no %q in\n%s", tc.what, tc.want, b.String())
		}
	}

	// No cipher limit, no table.
	b.Reset()
	writeBudget(&b, results, &cipherLimits{cores: 2, err: errTest("failed")}, pp)
	if b.Len() != 0 {
		t.Errorf("a table without limits:\n%s", b.String())
	}
}
