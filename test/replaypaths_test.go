// SPDX-License-Identifier: MIT

package test

import (
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The data plane hands IPv4 fragments, IPv6 packets with extension headers
// and GRO aggregates up the stack to the daemon's socket. These tests
// replay captured data messages through each of those paths and check that
// the daemon and the data plane share one replay window: every message is
// delivered once, a replay moves B's replay counter and nothing else (no
// bytes received from A, no slow-path delivery, no endpoint change).

const replayCount = 4

// captureFromA pings B from A and returns the data messages A sent.
func (l *attackLAN) captureFromA(t *testing.T) [][]byte {
	t.Helper()
	ping(t, l.a.ns, l.b.inner, 1)
	wait := l.startCollect(t, replayCount, 4, 100)
	ping(t, l.a.ns, l.b.inner, replayCount)
	var out [][]byte
	for _, f := range wait() {
		out = append(out, f.payload)
	}
	return out
}

// expectReplays runs send, which replays n messages B already accepted,
// and checks that B refused each as a replay and changed nothing else.
func (l *attackLAN) expectReplays(t *testing.T, n int, send func()) {
	t.Helper()
	ka := l.a.pub().String()
	_, before := wgDump(t, l.b.ns, l.b.ifname)
	m0 := scrapeMetrics(t, l.b.ns, victimMetrics)
	send()
	waitMetric(t, l.b.ns, "wgbpfd_dataplane_drops_total", "reason", "replay",
		m0.get("wgbpfd_dataplane_drops_total", "reason", "replay")+float64(n), 5*time.Second)
	time.Sleep(300 * time.Millisecond) // anything wrongly delivered would show by now
	m1 := scrapeMetrics(t, l.b.ns, victimMetrics)
	_, after := wgDump(t, l.b.ns, l.b.ifname)
	if d := m1.get("wgbpfd_slow_path_packets_total", "outcome", "received") - m0.get("wgbpfd_slow_path_packets_total", "outcome", "received"); d != 0 {
		t.Errorf("the daemon delivered %v replayed messages", d)
	}
	if d := after[ka].rx - before[ka].rx; d > 64 { // a keepalive from A may arrive
		t.Errorf("B counted %d bytes from A while only replays were sent", d)
	}
	if after[ka].endpoint != endpoint(l.a.under, 51820) {
		t.Errorf("B's endpoint for A moved to %s (want %s)", after[ka].endpoint, endpoint(l.a.under, 51820))
	}
	if d := m1.get("wgbpfd_dataplane_drops_total", "reason", "replay") - m0.get("wgbpfd_dataplane_drops_total", "reason", "replay"); d != float64(n) {
		t.Errorf("replay counter moved by %v; want %d", d, n)
	}
}

// TestReplayIPv4 replays, from the attacker's own address, messages B
// accepted through its data plane: whole (the data plane's window), and as
// IPv4 fragments (reassembled by the stack and opened by the daemon). Then
// messages B never saw arrive first as fragments (the daemon delivers each
// once) and then whole (the data plane refuses them).
func TestReplayIPv4(t *testing.T) {
	prerequisites(t)
	l := newAttackLAN(t)
	captured := l.captureFromA(t)
	raw := newRawSender(t, l.m.ns)
	fromM := netip.AddrPortFrom(netip.MustParseAddr(l.m.under), 40000)

	t.Run("whole", func(t *testing.T) {
		l.expectReplays(t, len(captured), func() { sendUDP(t, l.m.ns, l.victimPort, captured...) })
	})
	t.Run("fragments", func(t *testing.T) {
		l.expectReplays(t, len(captured), func() {
			for i, p := range captured {
				if err := raw.sendFragments(fromM, l.victimPort, p, uint16(0x5100+i)); err != nil {
					t.Fatal(err)
				}
			}
		})
	})
	t.Run("fragments-first-then-whole", func(t *testing.T) {
		// A's next messages never reach B (B's switch port is down while
		// A pings); a tap on A's switch port keeps them.
		tap := newPacketTap(t, l.a.sw, l.a.port)
		done := make(chan []udpFrame, 1)
		go func() {
			f, _ := tap.collect(replayCount, 10*time.Second, l.fromA(4, 100))
			done <- f
		}()
		l.b.sw.MustRun(t, "ip", "link", "set", l.b.port, "down")
		pingLoss(t, l.a.ns, l.b.inner, replayCount, "0.2")
		frames := <-done
		l.b.sw.MustRun(t, "ip", "link", "set", l.b.port, "up")
		if len(frames) != replayCount {
			t.Fatalf("captured %d of %d messages A sent while B was cut off", len(frames), replayCount)
		}
		// Sent as A would have (A's address and port): the endpoint stays.
		fromA := netip.AddrPortFrom(netip.MustParseAddr(l.a.under), 51820)
		m0 := scrapeMetrics(t, l.b.ns, victimMetrics)
		for i, f := range frames {
			if err := raw.sendFragments(fromA, l.victimPort, f.payload, uint16(0x6100+i)); err != nil {
				t.Fatal(err)
			}
		}
		waitMetric(t, l.b.ns, "wgbpfd_slow_path_packets_total", "outcome", "received",
			m0.get("wgbpfd_slow_path_packets_total", "outcome", "received")+replayCount, 5*time.Second)
		l.expectReplays(t, replayCount, func() {
			for _, f := range frames {
				if err := raw.send(fromA, l.victimPort, f.payload); err != nil {
					t.Fatal(err)
				}
			}
		})
	})
	// The tunnel still works.
	ping(t, l.a.ns, l.b.inner, 2)
}

// TestReplayIPv6DestinationOptions: over an IPv6 underlay, messages B
// accepted are replayed from the attacker with a destination-options
// header, which the data plane passes up the stack to the daemon.
func TestReplayIPv6DestinationOptions(t *testing.T) {
	prerequisites(t)
	l := newAttackLANFamily(t, true)
	captured := l.captureFromA(t)
	var c *net.UDPConn
	l.m.ns.MustDo(t, func() (err error) {
		c, err = net.DialUDP("udp6", nil, net.UDPAddrFromAddrPort(l.victimPort))
		if err != nil {
			return err
		}
		rc, err := c.SyscallConn()
		if err != nil {
			return err
		}
		// Next header and length are the kernel's; one PadN option fills
		// the header's 8 bytes.
		opts := string([]byte{0, 0, 1, 4, 0, 0, 0, 0})
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = unix.SetsockoptString(int(fd), unix.IPPROTO_IPV6, unix.IPV6_DSTOPTS, opts)
		}); err != nil {
			return err
		}
		return serr
	})
	t.Cleanup(func() { c.Close() })
	tap := newPacketTap(t, l.b.ns, "ul0")
	seen := make(chan int, 1)
	go func() { seen <- tap.countDestOpts(len(captured), 5*time.Second) }()
	l.expectReplays(t, len(captured), func() {
		for _, p := range captured {
			if _, err := c.Write(p); err != nil {
				t.Fatal(err)
			}
		}
	})
	if n := <-seen; n != len(captured) {
		t.Errorf("B's underlay saw %d of %d replays with a destination-options header", n, len(captured))
	}
	ping(t, l.a.ns, l.b.inner, 2)
}

// countDestOpts counts frames with an IPv6 destination-options header
// (next header 60) until n were seen or timeout passes.
func (tap *packetTap) countDestOpts(n int, timeout time.Duration) int {
	buf := make([]byte, 65536)
	seen := 0
	for deadline := time.Now().Add(timeout); seen < n && time.Now().Before(deadline); {
		m, _, err := unix.Recvfrom(tap.fd, buf, 0)
		if err != nil {
			if err == syscall.EINTR || err == syscall.EAGAIN {
				continue
			}
			return seen
		}
		if m >= 14+40 && buf[12] == 0x86 && buf[13] == 0xdd && buf[14+6] == unix.IPPROTO_DSTOPTS {
			seen++
		}
	}
	return seen
}
