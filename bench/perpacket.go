// SPDX-License-Identifier: MIT

package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/wgbpfd/wgbpfd/internal/nstest"
)

// The per-packet budget: how much CPU time the bulk targets leave
// for everything a packet costs besides the cipher, beside what that
// costs in this run.
//
// Glossary:
//   - segment payload: the TCP bytes one packet carries, the link MTU
//     minus 20 (IPv4) and 32 (TCP with timestamps): 1368 at MTU 1420.
//   - CPU per packet: the CPU seconds per GB received of a 1-stream run
//     (minus the idle baseline), times the segment payload.
//   - cipher per packet: encrypt + decrypt of one 1420-byte packet from the
//     crypto benchmark, the same numbers the limits use.
//   - target rate: share × limit, in bits per second, over 8 × the segment
//     payload: the packets per second the target needs, since iperf3
//     counts payload.
//   - budget: at the target rate with every core busy, each packet may
//     take cores ÷ target rate of CPU; less the cipher, that is what is
//     left for TCP at both ends, the devices, copies and the programs'
//     own work.
//   - per-packet veth: plain veth at MTU 1420 with every offload off, the
//     way the tunnel's inner packets travel (segmented and checksummed in
//     software before encryption, no GRO after decryption). It is TCP and
//     one device pass, no tunnel: the least a per-packet path costs.

// perPacketMTU is the per-packet veth's MTU, wgbpfd's default over a
// 1500-byte underlay.
const perPacketMTU = 1420

// perPacketOffloads are the ethtool features switched off on both ends of
// the per-packet veth.
var perPacketOffloads = []string{"tso", "gso", "sg", "tx", "rx", "gro"}

// segmentPayload is the TCP payload of a full-size IPv4 packet at mtu.
func segmentPayload(mtu int) float64 { return float64(mtu - 20 - 32) }

// usPerPacket converts CPU seconds per GB into µs per packet of payload bytes.
func usPerPacket(cpuPerGB, payload float64) float64 { return cpuPerGB * payload / 1e3 }

// targetRate is the packets per second of payload bytes that share × the
// limit of a cipher costing enc + dec ns per packet needs.
func targetRate(c *cipherLimits, enc, dec, share, payload float64) float64 {
	return share * c.limitGbps(enc, dec) * 1e9 / (8 * payload)
}

// budgetUs is the CPU time per packet, in µs, that a target of share ×
// the limit leaves outside the cipher (enc + dec ns per packet).
func budgetUs(c *cipherLimits, enc, dec, share, payload float64) float64 {
	return float64(c.cores)/targetRate(c, enc, dec, share, payload)*1e6 - (enc+dec)/1e3
}

// perPacketVeth is the per-packet veth's best 1-stream run.
type perPacketVeth struct {
	tcp tcpResult
	err error
}

// measurePerPacketVeth runs 1-stream TCP over the per-packet veth once per
// round and keeps the run with the least CPU per GB.
func measurePerPacketVeth(o options, idle float64) *perPacketVeth {
	pp := &perPacketVeth{}
	pp.err = runScope("per-packet veth", func(s *scope) {
		p := newUnderlay(s, "wgbench-pp")
		for _, ns := range []*nstest.NS{p.a, p.b} {
			ns.MustRun(s, "ip", "link", "set", "ul0", "mtu", strconv.Itoa(perPacketMTU))
			args := []string{"ethtool", "-K", "ul0"}
			for _, f := range perPacketOffloads {
				args = append(args, f, "off")
			}
			ns.MustRun(s, args...)
		}
		startIperfServer(s, p.b, underB)
		for round := range o.rounds {
			r := runTCP(s, p.a, underB, 1, o.dur, idle)
			logf("per-packet veth, round %d/%d: %.2f Gbit/s, %.2f CPU-s/GB", round+1, o.rounds, r.gbps, r.cpuPerGB)
			if r.cpuPerGBn > 0 && (pp.tcp.cpuPerGBn == 0 || r.cpuPerGBn < pp.tcp.cpuPerGBn) {
				pp.tcp = r
			}
		}
		if pp.tcp.cpuPerGBn == 0 {
			s.Fatalf("no CPU time measured over %d rounds", o.rounds)
		}
	})
	return pp
}

// linkMTU is ifname's MTU in ns.
func linkMTU(s *scope, ns *nstest.NS, ifname string) int {
	out := ns.MustRun(s, "cat", "/sys/class/net/"+ifname+"/mtu")
	mtu, err := strconv.Atoi(strings.TrimSpace(out))
	if err != nil || mtu <= 52 {
		s.Fatalf("MTU of %s in %s: %q", ifname, ns.Name, out)
	}
	return mtu
}

// writeBudget writes the per-packet table: each tunnel's CPU per packet,
// the cipher's part of it and the rest, against what its target leaves
// for the rest, and the per-packet veth below them.
func writeBudget(b *strings.Builder, results []*result, limits *cipherLimits, pp *perPacketVeth) {
	if limits == nil || limits.err != nil {
		return
	}
	fmt.Fprintf(b, "\n## CPU per packet, TCP 1 stream (what the bulk targets leave outside the cipher)\n\n")
	fmt.Fprintf(b, "| | segment payload, B | CPU per packet, µs | cipher, µs | outside the cipher, µs | the target leaves outside the cipher, µs |\n|---|---:|---:|---:|---:|---:|\n")
	suite := func(cipher, target string, enc, dec, share float64) {
		r := find(results, kindWgbpfd, cipher)
		if r == nil || r.err != nil || r.mtu == 0 || r.cpu1.cpuPerGBn == 0 {
			return
		}
		payload := segmentPayload(r.mtu)
		cpu := usPerPacket(r.cpu1.cpuPerGBn, payload)
		cipherUs := (enc + dec) / 1e3
		outside := fmt.Sprintf("%.1f", cpu-cipherUs)
		if cpu < cipherUs {
			// The machine was slower while the cipher was timed than
			// during the transfer: the two do not compare.
			outside = "— (less than the cipher: the crypto benchmark ran slower than the transfer)"
		}
		fmt.Fprintf(b, "| %s | %.0f | %.1f | %.1f | %s | %.1f (%s) |\n", r.t.title, payload, cpu, cipherUs, outside,
			budgetUs(limits, enc, dec, share, payload), target)
	}
	suite("chacha20poly1305", "80% of the BPF cipher limit", limits.chachaSeal, limits.chachaOpen, 0.8)
	suite("aes-cbc", "85% of the bare cbc(aes) limit", limits.cbcEnc, limits.cbcDec, 0.85)
	if r := find(results, kindWireguardGo, ""); r != nil && r.err == nil && r.mtu > 0 && r.cpu1.cpuPerGBn > 0 {
		payload := segmentPayload(r.mtu)
		fmt.Fprintf(b, "| wireguard-go (its own cipher, SIMD) | %.0f | %.1f | — | — | — |\n", payload, usPerPacket(r.cpu1.cpuPerGBn, payload))
	}
	if pp == nil {
		return
	}
	if pp.err != nil {
		fmt.Fprintf(b, "| per-packet veth | failed: %s |\n", oneLine(strings.TrimSpace(pp.err.Error())))
		return
	}
	payload := segmentPayload(perPacketMTU)
	cpu := usPerPacket(pp.tcp.cpuPerGBn, payload)
	fmt.Fprintf(b, "| per-packet veth: plain veth, MTU %d, offloads %s off (no tunnel; %s Gbit/s) | %.0f | %.1f | — | %.1f | — |\n",
		perPacketMTU, strings.Join(perPacketOffloads, "/"), f2(pp.tcp.gbps), payload, cpu, cpu)
	fmt.Fprintf(b, "\nThe tunnel's inner packets travel as the per-packet veth's do: segmented and checksummed in software before encryption, "+
		"one skb each after decryption. TCP over that veth, with no tunnel at all, takes %.1f µs per packet.\n", cpu)
	if r := find(results, kindWgbpfd, "chacha20poly1305"); r != nil && r.err == nil && r.mtu > 0 {
		budget := budgetUs(limits, limits.chachaSeal, limits.chachaOpen, 0.8, segmentPayload(r.mtu))
		fmt.Fprintf(b, "\n- chacha20poly1305: 80%% of the limit leaves %.1f µs per packet for that and everything else around the cipher (%s).\n",
			budget, fits(cpu, budget))
	}
	if r := find(results, kindWgbpfd, "aes-cbc"); r != nil && r.err == nil && r.mtu > 0 {
		payload := segmentPayload(r.mtu)
		budget := budgetUs(limits, limits.cbcEnc, limits.cbcDec, 0.85, payload)
		suite := math.Max(0, (limits.aesSeal+limits.aesOpen-limits.cbcEnc-limits.cbcDec)/1e3)
		perCPU := 1e6 / targetRate(limits, limits.cbcEnc, limits.cbcDec, 0.85, payload)
		fmt.Fprintf(b, "- aes-cbc: 85%% of the bare cbc(aes) limit leaves %.1f µs per packet outside the bare cipher. "+
			"The suite's own work around it (the ECB call that derives the IV and Poly1305 key, and Poly1305; "+
			"seal + open − bare encrypt + decrypt in the crypto benchmark) takes %.1f µs of that and the per-packet veth %.1f, %s. "+
			"At that rate each CPU may spend %.1f µs per packet, less than one bare decryption (%.1f µs): "+
			"the target also needs one tunnel's decryption spread over more than one CPU.\n",
			budget, suite, cpu, leaving(budget-suite-cpu), perCPU, limits.cbcDec/1e3)
	}
}

// leaving says what is left of a budget.
func leaving(left float64) string {
	if left < 0 {
		return fmt.Sprintf("%.1f µs more than all of it", -left)
	}
	return fmt.Sprintf("leaving %.1f", left)
}

// fits says how the per-packet veth compares with the budget.
func fits(cpu, budget float64) string {
	if cpu >= budget {
		return fmt.Sprintf("the veth alone is %.0f%% of it", 100*cpu/budget)
	}
	return fmt.Sprintf("%.1f µs would be left for the tunnel itself", math.Max(0, budget-cpu))
}
