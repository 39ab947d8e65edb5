// SPDX-License-Identifier: MIT

package dataplane

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/wgbpfd/wgbpfd/internal/testenv"
)

// BenchmarkTunnel measures, in one run, iperf3 TCP throughput (1 and 4
// streams) and ping RTT over plain veth and through the kernel tunnel (keys
// installed by hand, no daemon) with each suite: make bench-tunnel. The
// numbers are logged; the benchmark's own ns/op means nothing.
func BenchmarkTunnel(b *testing.B) {
	t := b
	testenv.RequireRoot(t)
	testenv.RequireTool(t, "iperf3")
	port := 5301
	for _, suite := range []uint8{SuiteChaCha20Poly1305, SuiteAESCBC} {
		tn := newTunnel(t, suite, false)
		// The baseline gets the veth's usual offloads back; the tunnel
		// does not use the underlay's offloads either way.
		for _, s := range []*tunnelSide{tn.a, tn.b} {
			s.ns.MustRun(t, "ethtool", "-K", s.underlay, "tx", "on", "rx", "on", "tso", "on", "gso", "on", "sg", "on")
		}
		targets := []struct {
			name string
			addr netip.Addr
		}{{"tunnel-" + suiteName(suite), tn.b.inner4}}
		if suite == SuiteChaCha20Poly1305 {
			targets = append([]struct {
				name string
				addr netip.Addr
			}{{"plain-veth", tn.b.outer4}}, targets...)
		}
		for _, x := range targets {
			for _, streams := range []int{1, 4} {
				port++
				gbit := iperf(t, tn, x.addr, port, streams)
				t.Logf("%-16s %d stream(s): %6.2f Gbit/s", x.name, streams, gbit)
			}
			t.Logf("%-16s ping RTT avg %v", x.name, ping(t, tn.a, x.addr, 20))
		}
	}
}

// iperf runs an iperf3 server in B (stopped afterwards) and a client in A
// for 5 s and returns the received rate in Gbit/s.
func iperf(t testing.TB, tn *tunnel, addr netip.Addr, port, streams int) float64 {
	t.Helper()
	srv := tn.b.ns.Command("iperf3", "-s", "-p", fmt.Sprint(port), "-B", addr.String())
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		srv.Process.Kill()
		srv.Wait()
	}()
	type report struct {
		Error string `json:"error"`
		End   struct {
			SumReceived struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	var r report
	for try := 0; ; try++ {
		// Until the server listens, iperf3 reports an error in its JSON.
		out, _ := tn.a.ns.Command("iperf3", "-c", addr.String(), "-p", fmt.Sprint(port),
			"-t", "5", "-P", fmt.Sprint(streams), "-J").Output()
		r = report{}
		err := json.Unmarshal(out, &r)
		if err == nil && r.Error == "" && r.End.SumReceived.BitsPerSecond > 0 {
			break
		}
		if try == 50 {
			t.Fatalf("iperf3 client: %v %s: %s", err, r.Error, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return r.End.SumReceived.BitsPerSecond / 1e9
}
