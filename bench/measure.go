// SPDX-License-Identifier: MIT

package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wgbpfd/wgbpfd/internal/nstest"
)

// userHZ is the unit of /proc/stat (USER_HZ is 100 on every Linux ABI).
const userHZ = 100

// cpuStat is the machine-wide time not spent busy, from /proc/stat:
// idle+iowait+steal of every CPU, and the number of CPUs.
//
// Busy time is the wall time of all CPUs minus that, not the sum of the
// user/system/irq/softirq fields: this kernel samples those at the tick
// (no CONFIG_IRQ_TIME_ACCOUNTING), and with NO_HZ_IDLE a softirq run from
// idle between two ticks lands in no field at all, while idle time itself
// is measured exactly. For a data plane that runs almost entirely in
// softirq, summing the fields reported a third of the real CPU time (one
// wgbpfd stream: 0.40 CPU-s/s summed, 1.18 by wall time minus idle).
type cpuStat struct {
	notBusy float64 // seconds
	cpus    int
	at      time.Time
}

func readCPU() cpuStat {
	c := cpuStat{at: time.Now()}
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return c
	}
	lines := strings.Split(string(b), "\n")
	f := strings.Fields(lines[0])
	var v [8]float64
	for i := 1; i < len(f) && i <= 8; i++ {
		v[i-1], _ = strconv.ParseFloat(f[i], 64)
	}
	// user nice system idle iowait irq softirq steal
	c.notBusy = (v[3] + v[4] + v[7]) / userHZ
	for _, l := range lines[1:] {
		if strings.HasPrefix(l, "cpu") {
			c.cpus++
		}
	}
	return c
}

// since returns the busy CPU seconds and wall seconds since c.
func (c cpuStat) since() (busy, wall float64) {
	n := readCPU()
	wall = n.at.Sub(c.at).Seconds()
	return math.Max(0, float64(c.cpus)*wall-(n.notBusy-c.notBusy)), wall
}

// iperfJSON is the part of `iperf3 -J` the benchmark reads.
type iperfJSON struct {
	End struct {
		Sum struct {
			Seconds     float64 `json:"seconds"`
			Packets     int64   `json:"packets"`
			LostPackets int64   `json:"lost_packets"`
		} `json:"sum"`
		SumReceived struct {
			Seconds       float64 `json:"seconds"`
			Bytes         float64 `json:"bytes"`
			BitsPerSecond float64 `json:"bits_per_second"`
		} `json:"sum_received"`
	} `json:"end"`
	Error string `json:"error"`
}

const iperfPort = "5201"

// startIperfServer starts a persistent iperf3 server in ns on addr.
func startIperfServer(s *scope, ns *nstest.NS, addr string) *proc {
	p := start(s, "iperf3 -s", ns.Command("iperf3", "-s", "-B", addr, "-p", iperfPort))
	// Wait until it listens (ss is in iproute2).
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		out, _ := ns.Run("ss", "-Htln", "sport = :"+iperfPort)
		if strings.Contains(out, iperfPort) {
			return p
		}
		if p.exited() {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.Fatalf("iperf3 server in %s did not start: %s", ns.Name, p.out.String())
	return nil
}

// iperf runs an iperf3 client in ns and parses its JSON. A busy server
// (the previous test still closing) is retried.
func iperf(s *scope, ns *nstest.NS, args ...string) iperfJSON {
	var last string
	for attempt := 0; attempt < 4; attempt++ {
		out, _ := output(s, "iperf3 -c", ns.Command(append([]string{"iperf3", "-J"}, args...)...))
		var r iperfJSON
		if err := json.Unmarshal(out, &r); err == nil && r.Error == "" {
			return r
		} else if err != nil {
			last = err.Error() + ": " + string(out)
		} else {
			last = r.Error
		}
		time.Sleep(500 * time.Millisecond)
	}
	s.Fatalf("iperf3 %s: %s", strings.Join(args, " "), last)
	return iperfJSON{}
}

// tcpResult is one bulk TCP run.
type tcpResult struct {
	gbps      float64
	bytes     float64
	cpuSec    float64 // machine busy CPU seconds during the run
	wallSec   float64
	cpuPerGB  float64 // raw
	cpuPerGBn float64 // minus the idle baseline
}

func runTCP(s *scope, ns *nstest.NS, dst string, streams int, dur time.Duration, idle float64) tcpResult {
	c := readCPU()
	r := iperf(s, ns, "-c", dst, "-p", iperfPort, "-t", secs(dur), "-P", strconv.Itoa(streams))
	busy, wall := c.since()
	res := tcpResult{
		gbps:    r.End.SumReceived.BitsPerSecond / 1e9,
		bytes:   r.End.SumReceived.Bytes,
		cpuSec:  busy,
		wallSec: wall,
	}
	if res.bytes > 0 {
		gb := res.bytes / 1e9
		res.cpuPerGB = busy / gb
		res.cpuPerGBn = math.Max(0, busy-idle*wall) / gb
	}
	return res
}

// runUDP sends 64-byte UDP payloads as fast as iperf3 can and returns the
// packets per second the receiver got, and the sender's rate.
func runUDP(s *scope, ns *nstest.NS, dst string, dur time.Duration) (delivered, sent float64) {
	r := iperf(s, ns, "-c", dst, "-p", iperfPort, "-u", "-l", "64", "-b", "0", "-t", secs(dur))
	sec := r.End.Sum.Seconds
	if sec <= 0 {
		return 0, 0
	}
	return float64(r.End.Sum.Packets-r.End.Sum.LostPackets) / sec, float64(r.End.Sum.Packets) / sec
}

func secs(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) }

// pingResult is RTT statistics in milliseconds.
type pingResult struct {
	mean, p99 float64
	n, lost   int
}

var pingTime = regexp.MustCompile(`time=([0-9.]+) ms`)

// runPing sends count pings every interval and collects every RTT.
func runPing(s *scope, ns *nstest.NS, dst string, count int, interval time.Duration) pingResult {
	out, _ := output(s, "ping", ns.Command("ping", "-n", "-c", strconv.Itoa(count), "-i", fmt.Sprintf("%.3f", interval.Seconds()), "-W", "1", dst))
	var rtts []float64
	for _, m := range pingTime.FindAllStringSubmatch(string(out), -1) {
		v, err := strconv.ParseFloat(m[1], 64)
		if err == nil {
			rtts = append(rtts, v)
		}
	}
	if len(rtts) == 0 {
		s.Fatalf("ping %s from %s: no replies:\n%s", dst, ns.Name, out)
	}
	slices.Sort(rtts)
	sum := 0.0
	for _, v := range rtts {
		sum += v
	}
	return pingResult{
		mean: sum / float64(len(rtts)),
		p99:  percentile(rtts, 0.99),
		n:    len(rtts),
		lost: count - len(rtts),
	}
}

// percentile of sorted values (nearest rank).
func percentile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// runPingLoaded pings while a single-stream iperf3 transfer runs in the
// same direction.
func runPingLoaded(s *scope, ns *nstest.NS, dst string, count int, interval time.Duration) pingResult {
	pingDur := time.Duration(count) * interval
	load := start(s, "iperf3 load", ns.Command("iperf3", "-c", dst, "-p", iperfPort, "-t", secs(pingDur+2*time.Second)))
	time.Sleep(time.Second) // past slow start
	r := runPing(s, ns, dst, count, interval)
	if !load.wait(pingDur + 10*time.Second) {
		load.stop()
	}
	return r
}

// idleCPU is the machine's busy CPU seconds per second with nothing of
// ours running: what other tenants use.
func idleCPU(d time.Duration) float64 {
	c := readCPU()
	time.Sleep(d)
	busy, wall := c.since()
	return busy / wall
}
