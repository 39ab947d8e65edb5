// SPDX-License-Identifier: MIT

package test

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wgbpfd/wgbpfd/config"
)

// TestTwoInterfaces: two tunnels between the same two namespaces, one per
// suite, on their own ports over the same underlay, so each underlay
// carries two daemons' ingress programs in its tcx chain. Both carry
// traffic side by side, each counts only its own, and stopping one leaves
// the other working: its programs, hop and routes are its own.
func TestTwoInterfaces(t *testing.T) {
	prerequisites(t)
	tp := newTopology(t, false, false)
	keyA2, err := config.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	keyB2, err := config.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	ifA2, ifB2 := uniqueIf(t, "wa"), uniqueIf(t, "wb")
	const innerA2, innerB2 = "10.78.0.1", "10.78.0.2"

	confA := tp.writeConf(t, tp.ifA, tp.keyA, 51820, tp.innerA, tp.keyB.Public(), tp.innerB+"/32", endpoint(tp.underB, 51820), "")
	confB := tp.writeConf(t, tp.ifB, tp.keyB, 51820, tp.innerB, tp.keyA.Public(), tp.innerA+"/32", endpoint(tp.underA, 51820), "")
	confA2 := tp.writeConf(t, ifA2, keyA2, 51821, innerA2, keyB2.Public(), innerB2+"/32", endpoint(tp.underB, 51821), "Cipher = aes-cbc\n")
	confB2 := tp.writeConf(t, ifB2, keyB2, 51821, innerB2, keyA2.Public(), innerA2+"/32", endpoint(tp.underA, 51821), "Cipher = aes-cbc\n")
	const metricsB, metricsB2 = "127.0.0.1:9586", "127.0.0.1:9587"
	da := startWgbpfd(t, tp.a, confA, tp.ifA)
	startWgbpfd(t, tp.b, confB, tp.ifB, "--metrics", metricsB)
	startWgbpfd(t, tp.a, confA2, ifA2)
	startWgbpfd(t, tp.b, confB2, ifB2, "--metrics", metricsB2)

	ping(t, tp.a, tp.innerB, 2)
	ping(t, tp.a, innerB2, 2)
	s1 := startStream(t, tp.a, tp.b, tp.innerB)
	s2 := startStream(t, tp.a, tp.b, innerB2)
	time.Sleep(time.Second) // about 4 MiB each, at once
	s1.finish(t)
	s2.finish(t)

	// Each receiving daemon's kernel program took its own tunnel's packets:
	// the few its socket saw are the first ones, before the kernel had
	// the keypair. (A program that ended the tcx chain for the other
	// port would leave them all to the socket, which still delivers.)
	for _, addr := range []string{metricsB, metricsB2} {
		m := scrapeMetrics(t, tp.b, addr)
		if n := m.get("wgbpfd_slow_path_packets_total", "outcome", "received"); n > 10 {
			t.Errorf("daemon with metrics on %s opened %v data messages in userspace; the kernel should take them", addr, n)
		}
	}

	// Each interface counts its own peer's traffic (megabytes each).
	for _, x := range []struct{ ifname, peer string }{{tp.ifA, tp.keyB.Public().String()}, {ifA2, keyB2.Public().String()}} {
		_, peers := wgDump(t, tp.a, x.ifname)
		p, ok := peers[x.peer]
		if !ok || len(peers) != 1 {
			t.Fatalf("%s: peers %v, want only %s", x.ifname, peers, x.peer)
		}
		if p.tx < 1<<20 || p.rx == 0 {
			t.Errorf("%s: %d bytes sent, %d received; want the stream's megabytes", x.ifname, p.tx, p.rx)
		}
	}

	// The chacha20poly1305 tunnel goes; the aes-cbc one stays.
	if err := da.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("stopping %s: %v", tp.ifA, err)
	}
	if out := tp.a.MustRun(t, "ip", "link", "show"); strings.Contains(out, tp.ifA) || !strings.Contains(out, ifA2) {
		t.Errorf("links after stopping %s:\n%s", tp.ifA, out)
	}
	ping(t, tp.a, innerB2, 3)
	transferTCP(t, tp.a, tp.b, innerB2, 1<<20)
}

// TestSharedPrefixInterfaces: two interfaces whose names share their first
// ten characters (as "wg-site-east" and "wg-site-east2" do) side by side in
// one namespace. Starting, stopping, killing and restarting one leaves the
// other's helper links and programs alone: the other keeps answering.
func TestSharedPrefixInterfaces(t *testing.T) {
	prerequisites(t)
	tp := newTopology(t, false, false)
	keyA2, err := config.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	keyB2, err := config.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	base := uniqueIf(t, "ws") // 8 characters, unique per run
	ifA1, ifA2 := base+"east", base+"east2"
	ifB2 := uniqueIf(t, "wb")
	const innerA2, innerB2 = "10.78.0.1", "10.78.0.2"

	confA1 := tp.writeConf(t, ifA1, tp.keyA, 51820, tp.innerA, tp.keyB.Public(), tp.innerB+"/32", endpoint(tp.underB, 51820), "")
	confB1 := tp.writeConf(t, tp.ifB, tp.keyB, 51820, tp.innerB, tp.keyA.Public(), tp.innerA+"/32", endpoint(tp.underA, 51820), "")
	confA2 := tp.writeConf(t, ifA2, keyA2, 51821, innerA2, keyB2.Public(), innerB2+"/32", endpoint(tp.underB, 51821), "")
	confB2 := tp.writeConf(t, ifB2, keyB2, 51821, innerB2, keyA2.Public(), innerA2+"/32", endpoint(tp.underA, 51821), "")
	startWgbpfd(t, tp.b, confB1, tp.ifB)
	startWgbpfd(t, tp.b, confB2, ifB2)
	da1 := startWgbpfd(t, tp.a, confA1, ifA1)
	ping(t, tp.a, tp.innerB, 2)
	da2 := startWgbpfd(t, tp.a, confA2, ifA2)
	ping(t, tp.a, innerB2, 2)
	// The second start took nothing from the first.
	ping(t, tp.a, tp.innerB, 3)

	// Stop the second: the first keeps its links and programs.
	if err := da2.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("stopping %s: %v", ifA2, err)
	}
	ping(t, tp.a, tp.innerB, 3)
	da2 = startWgbpfd(t, tp.a, confA2, ifA2)
	waitPing(t, tp.a, innerB2, 10*time.Second)
	ping(t, tp.a, tp.innerB, 3)

	// Kill the first and start it again: the second never notices.
	_ = da1.stop(t, syscall.SIGKILL)
	startWgbpfd(t, tp.a, confA1, ifA1)
	waitPing(t, tp.a, tp.innerB, 10*time.Second)
	ping(t, tp.a, innerB2, 3)
	_ = da2
}
