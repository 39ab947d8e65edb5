// SPDX-License-Identifier: MIT

package main

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// machine describes where the run happened.
func machine() (cpu string, cores int, kernel string) {
	cpu = "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = strings.TrimSpace(string(b))
	}
	return cpu, runtime.NumCPU(), kernel
}

func gitRev() string {
	out, err := exec.Command("git", "describe", "--always", "--dirty").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

// rowFn formats one configuration's value of a row; false means none.
type rowFn func(r *result) (string, bool)

func find(results []*result, k kind, cipher string) *result {
	for _, r := range results {
		if r.t.kind == k && r.t.cipher == cipher && r.err == nil {
			return r
		}
	}
	return nil
}

func f2(v float64) string {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return "—"
	case math.Abs(v) >= 100:
		return fmt.Sprintf("%.0f", v)
	case math.Abs(v) >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

func f3(v float64) string { return fmt.Sprintf("%.3f", v) }

func mib(kib int64) string { return fmt.Sprintf("%.1f", float64(kib)/1024) }

func report(results []*result, limits *cipherLimits, perPacket *perPacketVeth, o options, idle float64, began time.Time, took time.Duration) string {
	var b strings.Builder
	cpu, cores, kernel := machine()
	fmt.Fprintf(&b, "# wgbpfd benchmark\n\n")
	fmt.Fprintf(&b, "- date: %s (took %v)\n", began.UTC().Format("2006-01-02 15:04 UTC"), took.Round(time.Second))
	fmt.Fprintf(&b, "- machine: %s, %d cores, kernel %s\n", cpu, cores, kernel)
	build := "production build of this tree"
	if o.wgbpfd != "" {
		build = "binary " + o.wgbpfd
	}
	fmt.Fprintf(&b, "- wgbpfd %s (%s); wireguard-go %s (go.mod pin); %s\n", gitRev(), build, wireguardGoVersion(), runtime.Version())
	fmt.Fprintf(&b, "- idle baseline: %.3f CPU-seconds per second busy on the whole machine with nothing of ours running (other tenants, the host)\n", idle)
	fmt.Fprintf(&b, "- setup: two namespaces joined by veth (default offloads), 192.0.2.1 ↔ 192.0.2.2; tunnels 10.77.0.1 ↔ 10.77.0.2 over UDP 51820; traffic from the first namespace to the second\n\n")

	baseVeth := find(results, kindPlain, "")
	baseGo := find(results, kindWireguardGo, "")

	fmt.Fprintf(&b, "| | ")
	for _, r := range results {
		fmt.Fprintf(&b, "%s | ", r.t.title)
	}
	fmt.Fprintf(&b, "\n|---|")
	for range results {
		fmt.Fprintf(&b, "---:|")
	}
	fmt.Fprintln(&b)

	row := func(name string, fn rowFn, scale bool) {
		fmt.Fprintf(&b, "| %s | ", name)
		for _, r := range results {
			switch {
			case r.err != nil && !scale:
				b.WriteString("failed")
			case scale && r.scaleErr != nil:
				b.WriteString("failed")
			default:
				if v, ok := fn(r); ok {
					b.WriteString(v)
				} else {
					b.WriteString("—")
				}
			}
			b.WriteString(" | ")
		}
		fmt.Fprintln(&b)
	}
	row(fmt.Sprintf("TCP, 1 stream, Gbit/s (iperf3 %v)", o.dur), func(r *result) (string, bool) { return f2(r.tcp1.gbps), true }, false)
	row("TCP, 4 streams, Gbit/s", func(r *result) (string, bool) { return f2(r.tcp4.gbps), true }, false)
	row("UDP 64 B, k packets/s delivered (sent)", func(r *result) (string, bool) {
		return fmt.Sprintf("%s (%s)", f2(r.udpPPS/1e3), f2(r.udpSent/1e3)), true
	}, false)
	row(fmt.Sprintf("ping idle, mean / p99 ms (%d pings)", o.pings), func(r *result) (string, bool) {
		return f3(r.pingIdle.mean) + " / " + f3(r.pingIdle.p99), true
	}, false)
	row("ping under 1-stream TCP load, mean / p99 ms", func(r *result) (string, bool) {
		return f3(r.pingLoad.mean) + " / " + f3(r.pingLoad.p99) + lost(r.pingLoad), true
	}, false)
	row("added RTT idle (− plain veth), mean / p99 ms", func(r *result) (string, bool) {
		if baseVeth == nil || r.t.kind == kindPlain {
			return "", false
		}
		return f3(r.pingIdle.mean-baseVeth.pingIdle.mean) + " / " + f3(r.pingIdle.p99-baseVeth.pingIdle.p99), true
	}, false)
	row("added RTT under load, mean / p99 ms", func(r *result) (string, bool) {
		if baseVeth == nil || r.t.kind == kindPlain {
			return "", false
		}
		return f3(r.pingLoad.mean-baseVeth.pingLoad.mean) + " / " + f3(r.pingLoad.p99-baseVeth.pingLoad.p99), true
	}, false)
	row("CPU s per GB, TCP 1 stream (minus idle baseline)", func(r *result) (string, bool) {
		return fmt.Sprintf("%s (%s)", f2(r.cpu1.cpuPerGB), f2(r.cpu1.cpuPerGBn)), true
	}, false)
	row("CPU s per GB, TCP 4 streams (minus idle baseline)", func(r *result) (string, bool) {
		return fmt.Sprintf("%s (%s)", f2(r.cpu4.cpuPerGB), f2(r.cpu4.cpuPerGBn)), true
	}, false)
	row("CPU busy during TCP 1 stream, of all cores", func(r *result) (string, bool) {
		if r.tcp1.wallSec == 0 {
			return "", false
		}
		return fmt.Sprintf("%.0f%%", 100*r.tcp1.cpuSec/r.tcp1.wallSec/float64(cores)), true
	}, false)
	if !o.noScale {
		row(fmt.Sprintf("handshakes/s completed under flood (%d identities, %.0f/s offered)", o.floodIDs, o.hsRate), func(r *result) (string, bool) {
			if r.scale == nil {
				return "", false
			}
			v := fmt.Sprintf("%.0f", r.scale.hs.perSec)
			if r.scale.hs.saturated {
				v = "≥ " + v + " (sender-bound)"
			}
			return v, true
		}, true)
		row("handshakes per CPU-second of the responder process", func(r *result) (string, bool) {
			if r.scale == nil || r.scale.hs.perCPUSec == 0 {
				return "", false
			}
			return fmt.Sprintf("%.0f (%.2f CPU-s/s)", r.scale.hs.perCPUSec, r.scale.hs.respCPU), true
		}, true)
		row(fmt.Sprintf("start-up with %d peers, s (exec → wg show answers)", o.peers), func(r *result) (string, bool) {
			if r.scale == nil {
				return "", false
			}
			return fmt.Sprintf("%.2f", r.scale.startup.Seconds()), true
		}, true)
		row(fmt.Sprintf("RSS with %d peers, MiB: started / after flood (peak)", o.peers), func(r *result) (string, bool) {
			if r.scale == nil {
				return "", false
			}
			return fmt.Sprintf("%s / %s (%s)", mib(r.scale.rssKiB), mib(r.scale.rssAfterKiB), mib(r.scale.hwmKiB)), true
		}, true)
	}
	row("RSS with 1 peer after the traffic, MiB", func(r *result) (string, bool) {
		if r.rss1KiB == 0 {
			return "", false
		}
		return mib(r.rss1KiB), true
	}, false)

	// Ratios.
	writeRatios(&b, results, o, baseVeth, baseGo)
	writeTargets(&b, results, limits, baseVeth, baseGo)
	writeBudget(&b, results, limits, perPacket)
	writeHow(&b, results, o)
	return b.String()
}

func writeRatios(b *strings.Builder, results []*result, o options, baseVeth, baseGo *result) {
	fmt.Fprintf(b, "\nRatios within this run (wgbpfd ÷ wireguard-go; tunnel ÷ plain veth; > 1 is more):\n\n")
	type col struct {
		name string
		num  *result
		den  *result
	}
	var cols []col
	for _, c := range []string{"chacha20poly1305", "aes-cbc"} {
		if r := find(results, kindWgbpfd, c); r != nil && baseGo != nil {
			cols = append(cols, col{"wgbpfd " + c + " ÷ wireguard-go", r, baseGo})
		}
	}
	for _, r := range results {
		if r.t.kind != kindPlain && r.err == nil && baseVeth != nil {
			cols = append(cols, col{r.t.title + " ÷ plain veth", r, baseVeth})
		}
	}
	if len(cols) == 0 {
		return
	}
	fmt.Fprintf(b, "| | ")
	for _, c := range cols {
		fmt.Fprintf(b, "%s | ", c.name)
	}
	fmt.Fprintf(b, "\n|---|")
	for range cols {
		fmt.Fprintf(b, "---:|")
	}
	fmt.Fprintln(b)
	ratio := func(name string, get func(r *result) (float64, bool)) {
		fmt.Fprintf(b, "| %s | ", name)
		for _, c := range cols {
			n, ok1 := get(c.num)
			d, ok2 := get(c.den)
			if ok1 && ok2 && d != 0 {
				fmt.Fprintf(b, "%s× | ", f2(n/d))
			} else {
				b.WriteString("— | ")
			}
		}
		fmt.Fprintln(b)
	}
	ratio("TCP, 1 stream", func(r *result) (float64, bool) { return r.tcp1.gbps, true })
	ratio("TCP, 4 streams", func(r *result) (float64, bool) { return r.tcp4.gbps, true })
	ratio("UDP 64 B packets/s delivered", func(r *result) (float64, bool) { return r.udpPPS, true })
	ratio("CPU s per GB, TCP 1 stream", func(r *result) (float64, bool) { return r.cpu1.cpuPerGB, true })
	ratio("ping RTT idle, mean", func(r *result) (float64, bool) { return r.pingIdle.mean, true })
	ratio("ping RTT under load, mean", func(r *result) (float64, bool) { return r.pingLoad.mean, true })
	if baseVeth != nil {
		ratio("added RTT idle, mean", func(r *result) (float64, bool) {
			return r.pingIdle.mean - baseVeth.pingIdle.mean, r.t.kind != kindPlain
		})
	}
	if !o.noScale {
		ratio("handshakes/s under flood", func(r *result) (float64, bool) {
			return sc(r, func(s *scaleResult) float64 { return s.hs.perSec })
		})
		ratio("handshakes per responder CPU-second", func(r *result) (float64, bool) {
			return sc(r, func(s *scaleResult) float64 { return s.hs.perCPUSec })
		})
		ratio(fmt.Sprintf("start-up time, %d peers", o.peers), func(r *result) (float64, bool) {
			return sc(r, func(s *scaleResult) float64 { return s.startup.Seconds() })
		})
		ratio(fmt.Sprintf("RSS, %d peers", o.peers), func(r *result) (float64, bool) {
			return sc(r, func(s *scaleResult) float64 { return float64(s.rssKiB) })
		})
	}
}

// writeHow explains the method and lists every round and the notes.
func writeHow(b *strings.Builder, results []*result, o options) {
	fmt.Fprintf(b, "\nHow: each traffic number is the best of %d rounds; a round runs every configuration in turn (order reversed every other round), "+
		"all configurations set up side by side beforehand. ", o.rounds)
	fmt.Fprintf(b, "iperf3 -J from the first namespace to a server in the second (TCP: receiver's rate; UDP: -u -l 64 -b 0, "+
		"packets sent minus the receiver's lost count). ping -i %v, RTT from every reply; under load a 1-stream iperf3 runs in the same direction. "+
		"CPU: busy time of the whole machine across the iperf3 run (CPUs × wall time minus idle, iowait and steal from /proc/stat: the per-state fields are tick samples that miss softirq run from idle), per GB received; "+
		"both namespaces, all processes and softirq, plus whatever else the machine ran (see the idle baseline). "+
		"Handshakes: a responder with %d peers; %d of them initiate from distinct source addresses in the other namespace (Go, package handshake), "+
		"initiations made in advance (with mac2 after a priming round got cookies) and sent at a fixed rate for %v; the rate is responses received "+
		"after the first 1/8 of the flood. Start-up: wgbpfd -c FILE with the peers in FILE; wireguard-go -f, wg setconf, ip addr, ip link up; "+
		"both until `wg show IF listen-port` answers. RSS: VmRSS/VmHWM from /proc. "+
		"Cipher limits (targets): package dataplane's crypto benchmark (go test -bench Crypto, 20000 packets of %d B each through BPF_PROG_TEST_RUN, ns per packet as the kernel times them) "+
		"run %d times before the traffic tests and %d times after them, the lowest cost of each kept; the limit is every core encrypting and decrypting full packets and nothing else, cores ÷ (encrypt + decrypt ns) × %d B. "+
		"Per-packet veth: its own pair of namespaces, plain veth at MTU %d with %s off on both ends, one 1-stream iperf3 run per round, the least CPU per GB kept.\n",
		o.interval, o.peers, o.floodIDs, o.hsDur, cipherPacket, cipherRuns, cipherRuns, cipherPacket, perPacketMTU, strings.Join(perPacketOffloads, "/"))

	fmt.Fprintf(b, "\nEvery round (busy = machine CPU-s/s in the second before the round, our daemons idle):\n\n")
	fmt.Fprintf(b, "| configuration | round | busy | TCP 1 / 4 Gbit/s | CPU s/GB 1 / 4 | UDP kpps delivered (sent) | ping idle mean / p99 ms | ping loaded mean / p99 ms |\n|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range results {
		for _, m := range r.rounds {
			fmt.Fprintf(b, "| %s | %d | %.2f | %s / %s | %s / %s | %s (%s) | %s / %s | %s / %s |\n", r.t.title, m.round, m.bg,
				f2(m.tcp1.gbps), f2(m.tcp4.gbps), f2(m.tcp1.cpuPerGB), f2(m.tcp4.cpuPerGB), f2(m.udpPPS/1e3), f2(m.udpSent/1e3),
				f3(m.pingIdle.mean), f3(m.pingIdle.p99), f3(m.pingLoad.mean), f3(m.pingLoad.p99))
		}
	}

	var notes []string
	for _, r := range results {
		if r.err != nil {
			notes = append(notes, fmt.Sprintf("- %s failed: %s", r.t.title, oneLine(strings.TrimSpace(r.err.Error()))))
		}
		if r.scaleErr != nil {
			notes = append(notes, fmt.Sprintf("- %s, many peers, failed: %s", r.t.title, oneLine(strings.TrimSpace(r.scaleErr.Error()))))
		}
		if s := r.scale; s != nil {
			notes = append(notes, fmt.Sprintf("- %s flood: %.0f/s offered, %d responses, %d cookie replies, %d of %d identities primed with a cookie, %d send errors; machine %.2f CPU-s/s busy during it; control socket after %.2f s",
				r.t.title, s.hs.offered, s.hs.responses, s.hs.cookies, s.hs.primedCookie, s.floodID, s.hs.sendErrs, s.hs.machCPU, s.socket.Seconds()))
		}
		if r.err == nil && (r.pingIdle.lost > 0 || r.pingLoad.lost > 0) {
			notes = append(notes, fmt.Sprintf("- %s: %d idle and %d loaded pings unanswered", r.t.title, r.pingIdle.lost, r.pingLoad.lost))
		}
	}
	if len(notes) > 0 {
		fmt.Fprintf(b, "\nNotes:\n\n%s\n", strings.Join(notes, "\n"))
	}
}

func lost(p pingResult) string {
	if p.lost > 0 {
		return fmt.Sprintf(" (%d lost)", p.lost)
	}
	return ""
}

func sc(r *result, f func(*scaleResult) float64) (float64, bool) {
	if r.scale == nil || r.scaleErr != nil {
		return 0, false
	}
	return f(r.scale), true
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ⏎ ")
	if len(s) > 400 {
		s = s[:400] + "…"
	}
	return s
}

// targetPart is one number of a target row: a ratio, or a share of a
// limit, with whether both sides of it were measured.
type targetPart struct {
	v        float64
	measured bool
	atLeast  bool // a lower bound: the handshake flood's sender was the limit
}

// part divides two measurements; a missing side, or a denominator that
// cannot be divided by (no added RTT at all), leaves it unmeasured.
func part(n, d float64, okN, okD bool) targetPart {
	v := n / d
	return targetPart{v: v, measured: okN && okD && d > 0 && !math.IsNaN(v) && !math.IsInf(v, 0)}
}

// writeTargets checks the project's performance targets. They are ratios within this run
// because the machine is shared: absolute numbers move from run to run,
// the configurations measured side by side move together.
func writeTargets(b *strings.Builder, results []*result, limits *cipherLimits, baseVeth, baseGo *result) {
	fmt.Fprintf(b, "\n## Targets, as ratios within this run\n\n| target | result | met |\n|---|---|---|\n")
	chacha := find(results, kindWgbpfd, "chacha20poly1305")
	aes := find(results, kindWgbpfd, "aes-cbc")
	suites := []*result{chacha, aes}
	anyMissing := false

	// row writes one target: its parts joined by " / ", met when every
	// part passes. One failing part is enough for "no", even if another
	// part is missing.
	row := func(text string, format func(float64) string, pass func(float64) bool, missing string, parts ...targetPart) {
		var vs []string
		failed, unmeasured, bounded := false, false, false
		for _, p := range parts {
			if !p.measured {
				vs = append(vs, missing)
				unmeasured, anyMissing = true, true
				continue
			}
			v := format(p.v)
			if p.atLeast {
				v = "≥ " + v
			}
			vs = append(vs, v)
			// A lower bound that passes passes; one that fails says nothing.
			if !pass(p.v) && !p.atLeast {
				failed = true
			} else if !pass(p.v) {
				bounded = true
			}
		}
		met := "yes"
		switch {
		case failed:
			met = "**no**"
		case unmeasured:
			met = "not measured"
		case bounded:
			met = "not measured (flood sender-bound)"
		}
		fmt.Fprintf(b, "| %s | %s | %s |\n", text, strings.Join(vs, " / "), met)
	}
	times := func(v float64) string { return f2(v) + "×" }
	percent := func(v float64) string { return fmt.Sprintf("%.0f%%", 100*v) }
	atLeast := func(min float64) func(float64) bool { return func(v float64) bool { return v >= min } }
	atMost := func(max float64) func(float64) bool { return func(v float64) bool { return v <= max } }

	// vsGo is each suite's value over wireguard-go's.
	vsGo := func(get func(r *result) (float64, bool)) []targetPart {
		var ps []targetPart
		for _, r := range suites {
			n, okN := value(r, get)
			d, okD := value(baseGo, get)
			ps = append(ps, part(n, d, okN, okD))
		}
		return ps
	}
	field := func(f func(r *result) float64) func(r *result) (float64, bool) {
		return func(r *result) (float64, bool) { return f(r), true }
	}
	addedRTT := func(f func(r *result) float64) func(r *result) (float64, bool) {
		return func(r *result) (float64, bool) {
			if baseVeth == nil {
				return 0, false
			}
			return f(r) - f(baseVeth), true
		}
	}

	row("small packets: UDP 64 B packets/s delivered ≥ 2× wireguard-go's (chacha20poly1305 / aes-cbc)", times, atLeast(2), "—",
		vsGo(field(func(r *result) float64 { return r.udpPPS }))...)
	row("added RTT idle (tunnel − plain veth, mean) ≤ ⅓ of wireguard-go's (chacha20poly1305 / aes-cbc)", times, atMost(1.0/3), "—",
		vsGo(addedRTT(func(r *result) float64 { return r.pingIdle.mean }))...)
	row("added RTT under load (tunnel − plain veth, mean) ≤ ⅓ of wireguard-go's (chacha20poly1305 / aes-cbc)", times, atMost(1.0/3), "—",
		vsGo(addedRTT(func(r *result) float64 { return r.pingLoad.mean }))...)

	tcp1 := field(func(r *result) float64 { return r.tcp1.gbps })
	tcp4 := field(func(r *result) float64 { return r.tcp4.gbps })
	var tcp []targetPart
	for _, get := range []func(*result) (float64, bool){tcp1, tcp4} {
		n, okN := value(chacha, get)
		d, okD := value(baseGo, get)
		tcp = append(tcp, part(n, d, okN, okD))
	}
	row("chacha20poly1305 TCP ≥ 1.0× wireguard-go (1 / 4 streams)", times, atLeast(1), "—", tcp...)

	// The limits: TCP over the cipher limit at 1 and 4 streams.
	missing := "—"
	if limits != nil && limits.err != nil {
		missing = "—¹"
	}
	ofLimit := func(r *result, enc, dec float64) []targetPart {
		ok := limits != nil && limits.err == nil
		var lim float64
		if ok {
			lim = limits.limitGbps(enc, dec)
		}
		var ps []targetPart
		for _, get := range []func(*result) (float64, bool){tcp1, tcp4} {
			n, okN := value(r, get)
			ps = append(ps, part(n, lim, okN, ok))
		}
		return ps
	}
	formula := func(enc, dec float64) string {
		if limits == nil || limits.err != nil {
			return fmt.Sprintf("cores ÷ (encrypt + decrypt ns) × %d B", cipherPacket)
		}
		return fmt.Sprintf("%d cores ÷ (%.0f + %.0f ns) × %d B = %s Gbit/s", limits.cores, enc, dec, cipherPacket, f2(limits.limitGbps(enc, dec)))
	}
	var l cipherLimits
	if limits != nil {
		l = *limits
	}
	row(fmt.Sprintf("chacha20poly1305 TCP ≥ 80%% of the BPF cipher limit, seal + open: %s (1 / 4 streams)", formula(l.chachaSeal, l.chachaOpen)),
		percent, atLeast(0.8), missing, ofLimit(chacha, l.chachaSeal, l.chachaOpen)...)
	row(fmt.Sprintf("aes-cbc TCP ≥ 85%% of the bare cbc(aes) limit, encrypt + decrypt: %s (1 / 4 streams)", formula(l.cbcEnc, l.cbcDec)),
		percent, atLeast(0.85), missing, ofLimit(aes, l.cbcEnc, l.cbcDec)...)

	hs := vsGo(func(r *result) (float64, bool) { return sc(r, func(s *scaleResult) float64 { return s.hs.perSec }) })
	for i, r := range suites {
		// A sender-bound wgbpfd could have done more: its ratio is a floor.
		if r != nil && r.scale != nil && r.scale.hs.saturated {
			hs[i].atLeast = true
		}
	}
	row("handshakes/s completed under the flood ≥ wireguard-go's (chacha20poly1305 / aes-cbc)", times, atLeast(1), "—", hs...)

	if anyMissing {
		fmt.Fprintf(b, "\n— is not measured: the configuration failed, or -only or -no-scale left it out.\n")
	}
	if limits != nil && limits.err != nil {
		fmt.Fprintf(b, "\n¹ The crypto benchmark failed, so there is no cipher limit: %s\n", oneLine(strings.TrimSpace(limits.err.Error())))
	}
}

// value is get(r), or false when r was not measured.
func value(r *result, get func(r *result) (float64, bool)) (float64, bool) {
	if r == nil {
		return 0, false
	}
	return get(r)
}
