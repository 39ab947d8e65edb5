// SPDX-License-Identifier: MIT

package test

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wgbpfd/wgbpfd/config"
	"github.com/wgbpfd/wgbpfd/internal/nstest"
)

const victimMetrics = "127.0.0.1:9586"

// attackLAN is A and B with a tunnel (B serving metrics) and an attacker M
// on the same bridged underlay, with a tap on B's underlay.
type attackLAN struct {
	a, b, m    *lanNode
	confA      string
	da, db     *daemon
	tap        *packetTap
	victimPort netip.AddrPort // B's WireGuard port
}

func newAttackLAN(t *testing.T) *attackLAN { return newAttackLANFamily(t, false) }

// newAttackLANFamily is newAttackLAN over an IPv6 underlay if v6: member i
// at 2001:db8:77::(i+1).
func newAttackLANFamily(t *testing.T, v6 bool) *attackLAN {
	t.Helper()
	n := newLAN(t, "a", "b", "m")
	if v6 {
		for i, node := range n {
			node.under = fmt.Sprintf("2001:db8:77::%d", i+1)
			node.ns.MustRun(t, "ip", "addr", "add", node.under+"/64", "dev", "ul0", "nodad")
		}
	}
	l := &attackLAN{a: n[0], b: n[1], m: n[2]}
	dir := t.TempDir()
	l.confA = writeMultiConf(t, dir, l.a.ifname, l.a.key, 51820, l.a.inner+"/24", "",
		confPeer{l.b.pub(), l.b.inner + "/32", endpoint(l.b.under, 51820)})
	confB := writeMultiConf(t, dir, l.b.ifname, l.b.key, 51820, l.b.inner+"/24", "",
		confPeer{l.a.pub(), l.a.inner + "/32", endpoint(l.a.under, 51820)})
	l.db = startWgbpfd(t, l.b.ns, confB, l.b.ifname, "--metrics", victimMetrics)
	l.tap = newPacketTap(t, l.b.ns, "ul0")
	l.da = startWgbpfd(t, l.a.ns, l.confA, l.a.ifname, "--metrics", victimMetrics)
	l.victimPort = netip.MustParseAddrPort(endpoint(l.b.under, 51820))
	return l
}

// startCollect captures n messages of type typ from A to B in the
// background; the returned function waits for them.
func (l *attackLAN) startCollect(t *testing.T, n int, typ byte, minLen int) func() []udpFrame {
	type res struct {
		f   []udpFrame
		err error
	}
	done := make(chan res, 1)
	go func() {
		f, err := l.tap.collect(n, 10*time.Second, l.fromA(typ, minLen))
		done <- res{f, err}
	}()
	return func() []udpFrame {
		t.Helper()
		r := <-done
		if r.err != nil {
			t.Fatal(r.err)
		}
		return r.f
	}
}

// fromA matches WireGuard messages of type typ from A to B.
func (l *attackLAN) fromA(typ byte, minLen int) func(udpFrame) bool {
	return func(f udpFrame) bool {
		return f.src.Addr().String() == l.a.under && f.dst == l.victimPort &&
			len(f.payload) >= minLen && f.payload[0] == typ
	}
}

// sendUDP sends each payload from a UDP socket in ns to dst.
func sendUDP(t *testing.T, ns *nstest.NS, dst netip.AddrPort, payloads ...[]byte) {
	t.Helper()
	var c *net.UDPConn
	ns.MustDo(t, func() (err error) {
		c, err = net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(dst))
		return err
	})
	defer c.Close()
	for _, p := range payloads {
		if _, err := c.Write(p); err != nil {
			t.Fatal(err)
		}
	}
}

// waitMetric polls until series name{label="value"} reaches at least min.
func waitMetric(t *testing.T, ns *nstest.NS, name, label, value string, min float64, timeout time.Duration) metrics {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		m := scrapeMetrics(t, ns, victimMetrics)
		if m.get(name, label, value) >= min {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s{%s=%q} = %v after %v, want ≥ %v", name, label, value, m.get(name, label, value), timeout, min)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestAttackReplayTamper: data packets captured on the wire and sent again
// by an attacker on the same LAN are dropped as replays; captured packets
// with a fresh counter and a flipped ciphertext or tag bit are dropped as
// bad tags and do not move the replay window; an unknown receiver index
// fails in the slow path. None of them is delivered, counted as received
// from A, or moves A's endpoint to the attacker's address, and the tunnel
// keeps working.
func TestAttackReplayTamper(t *testing.T) {
	prerequisites(t)
	l := newAttackLAN(t)
	ping(t, l.a.ns, l.b.inner, 1)
	const n = 5
	wait := l.startCollect(t, n, 4, 100)
	ping(t, l.a.ns, l.b.inner, n) // 84-byte echo requests: 128-byte messages
	captured := wait()

	ka := l.a.pub().String()
	_, before := wgDump(t, l.b.ns, l.b.ifname)
	m0 := scrapeMetrics(t, l.b.ns, victimMetrics)
	drops := func(m metrics, reason string) float64 { return m.get("wgbpfd_dataplane_drops_total", "reason", reason) }
	for _, q := range []string{"encrypt", "decrypt", "deliver"} { // read from the kernel's links
		if _, ok := m0[fmt.Sprintf("wgbpfd_queue_drops_total{interface=%q,queue=%q}", l.b.ifname, q)]; !ok {
			t.Errorf("metrics lack the %s queue's drops: %v", q, m0)
		}
	}

	// Replays, from the attacker's own address.
	var replays [][]byte
	for _, f := range captured {
		replays = append(replays, f.payload)
	}
	sendUDP(t, l.m.ns, l.victimPort, replays...)
	m1 := waitMetric(t, l.b.ns, "wgbpfd_dataplane_drops_total", "reason", "replay", drops(m0, "replay")+n, 5*time.Second)

	// Forgeries: a counter far ahead (a window moved by it would reject
	// all of A's later packets) with one ciphertext or tag bit flipped.
	var forged [][]byte
	for i, f := range captured {
		p := append([]byte(nil), f.payload...)
		ctr := binary.LittleEndian.Uint64(p[8:16])
		binary.LittleEndian.PutUint64(p[8:16], ctr+100000+uint64(i))
		if i%2 == 0 {
			p[20] ^= 0x01 // ciphertext
		} else {
			p[len(p)-1] ^= 0x80 // tag
		}
		forged = append(forged, p)
	}
	sendUDP(t, l.m.ns, l.victimPort, forged...)
	m2 := waitMetric(t, l.b.ns, "wgbpfd_dataplane_drops_total", "reason", "bad_tag", drops(m1, "bad_tag")+n, 5*time.Second)

	// An index B never handed out goes to the slow path, which cannot
	// open it either.
	unknown := append([]byte(nil), captured[0].payload...)
	binary.LittleEndian.PutUint32(unknown[4:8], binary.LittleEndian.Uint32(unknown[4:8])^0x5a5a5a5a)
	sendUDP(t, l.m.ns, l.victimPort, unknown)
	waitMetric(t, l.b.ns, "wgbpfd_slow_path_packets_total", "outcome", "open_failed", m2.get("wgbpfd_slow_path_packets_total", "outcome", "open_failed")+1, 5*time.Second)

	mEnd := scrapeMetrics(t, l.b.ns, victimMetrics)
	t.Logf("B's drops after %d replays and %d forgeries: replay +%v, bad_tag +%v", n, n,
		drops(mEnd, "replay")-drops(m0, "replay"), drops(mEnd, "bad_tag")-drops(m0, "bad_tag"))
	_, after := wgDump(t, l.b.ns, l.b.ifname)
	// At most a keepalive (32 bytes) may have arrived from A meanwhile.
	if d := after[ka].rx - before[ka].rx; d > 64 {
		t.Errorf("B counted %d bytes from A while only the attacker sent", d)
	}
	if after[ka].endpoint != endpoint(l.a.under, 51820) || after[ka].lastHandshake != before[ka].lastHandshake {
		t.Errorf("B's peer A changed: endpoint %q (want %s), latest handshake %d → %d",
			after[ka].endpoint, endpoint(l.a.under, 51820), before[ka].lastHandshake, after[ka].lastHandshake)
	}
	if got := mEnd.get("wgbpfd_slow_path_packets_total", "outcome", "received"); got != m0.get("wgbpfd_slow_path_packets_total", "outcome", "received") {
		t.Errorf("the slow path delivered %v attacker packets", got-m0.get("wgbpfd_slow_path_packets_total", "outcome", "received"))
	}
	// The window did not move: A's next packets (lower counters than the
	// forgeries) still pass, both ways.
	ping(t, l.a.ns, l.b.inner, 5)
	ping(t, l.b.ns, l.a.inner, 2)
}

// TestWrongPublicKey: B is configured with a wrong public key for A. A's
// initiations reach B but name a static key B does not know (counted as
// unknown_peer); B's initiations carry a mac1 for the wrong key, which A
// rejects (bad_mac1). Neither side ever has a session.
func TestWrongPublicKey(t *testing.T) {
	prerequisites(t)
	tp := newTopology(t, false, false)
	wrong, err := config.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	confA := tp.writeConf(t, tp.ifA, tp.keyA, 51820, tp.innerA, tp.keyB.Public(), tp.innerB+"/32", endpoint(tp.underB, 51820), "")
	confB := tp.writeConf(t, tp.ifB, tp.keyB, 51820, tp.innerB, wrong.Public(), tp.innerA+"/32", endpoint(tp.underA, 51820), "")
	startWgbpfd(t, tp.a, confA, tp.ifA, "--metrics", victimMetrics)
	startWgbpfd(t, tp.b, confB, tp.ifB, "--metrics", victimMetrics)

	var wg sync.WaitGroup
	for _, c := range []struct {
		from *nstest.NS
		to   string
	}{{tp.a, tp.innerB}, {tp.b, tp.innerA}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// -w 6: long enough for a retried initiation (REKEY_TIMEOUT 5 s).
			if out, err := c.from.Run("ping", "-c", "6", "-i", "1", "-w", "7", c.to); err == nil {
				t.Errorf("ping %s answered although the keys do not match:\n%s", c.to, out)
			}
		}()
	}
	wg.Wait()

	mb := waitMetric(t, tp.b, "wgbpfd_handshakes_total", "outcome", "unknown_peer", 2, 5*time.Second)
	ma := waitMetric(t, tp.a, "wgbpfd_handshakes_total", "outcome", "bad_mac1", 2, 5*time.Second)
	for side, m := range map[string]metrics{"A": ma, "B": mb} {
		for _, o := range []string{"completed_initiator", "completed_responder"} {
			if n := m.get("wgbpfd_handshakes_total", "outcome", o); n != 0 {
				t.Errorf("%s: %v handshakes %s with a wrong key", side, n, o)
			}
		}
	}
	for _, s := range []struct {
		ns     *nstest.NS
		ifname string
	}{{tp.a, tp.ifA}, {tp.b, tp.ifB}} {
		if out := s.ns.MustRun(t, "wg", "show", s.ifname); strings.Contains(out, "latest handshake") {
			t.Errorf("wg show %s has a handshake with a wrong key:\n%s", s.ifname, out)
		}
		_, peers := wgDump(t, s.ns, s.ifname)
		for k, p := range peers {
			if p.lastHandshake != 0 {
				t.Errorf("%s: peer %s latest handshake %d, want 0", s.ifname, k, p.lastHandshake)
			}
		}
	}
}

// TestHandshakeFloodCookies: an attacker who captured A's initiation
// replays it at B in bursts from spoofed sources. B, under load, answers
// with cookie replies instead of doing the Diffie-Hellman work; a
// restarted A gets a cookie too, retries with mac2 and completes a
// handshake, and the tunnel carries traffic while the flood goes on.
func TestHandshakeFloodCookies(t *testing.T) {
	prerequisites(t)
	l := newAttackLAN(t)
	// B's replies to the spoofed sources go to the attacker, who drops them.
	l.b.ns.MustRun(t, "ip", "route", "add", "203.0.113.0/24", "via", l.m.under)
	wait := l.startCollect(t, 1, 1, 148)
	ping(t, l.a.ns, l.b.inner, 1)
	initiation := wait()
	if err := l.da.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("stopping A: %v", err)
	}

	raw := newRawSender(t, l.m.ns)
	stop := make(chan struct{})
	flooded := make(chan int, 1)
	go func() {
		sent := 0
		defer func() { flooded <- sent }()
		for {
			// 1500 copies every 200 ms keep B's handshake queue past its
			// load mark; between bursts, real initiations get through.
			for i := 0; i < 1500; i++ {
				src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{203, 0, 113, byte(1 + sent%254)}), uint16(1024+sent%50000))
				if raw.send(src, l.victimPort, initiation[0].payload) == nil {
					sent++
				}
			}
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	stopFlood := sync.OnceFunc(func() { close(stop); t.Logf("%d spoofed initiations sent", <-flooded) })
	t.Cleanup(stopFlood)

	m := waitMetric(t, l.b.ns, "wgbpfd_handshakes_total", "outcome", "cookie_sent", 1, 10*time.Second)
	completedBefore := m.get("wgbpfd_handshakes_total", "outcome", "completed_responder")

	da := startWgbpfd(t, l.a.ns, l.confA, l.a.ifname, "--metrics", victimMetrics)
	waitLog(t, da, "wgbpfd is up", 20*time.Second)
	waitPing(t, l.a.ns, l.b.inner, 25*time.Second)
	ping(t, l.a.ns, l.b.inner, 3)
	ma := scrapeMetrics(t, l.a.ns, victimMetrics)
	mb := scrapeMetrics(t, l.b.ns, victimMetrics)
	stopFlood()

	t.Logf("B: cookie_sent %v, completed_responder %v → %v; A: cookie_received %v",
		mb.get("wgbpfd_handshakes_total", "outcome", "cookie_sent"), completedBefore,
		mb.get("wgbpfd_handshakes_total", "outcome", "completed_responder"),
		ma.get("wgbpfd_handshakes_total", "outcome", "cookie_received"))
	if mb.get("wgbpfd_handshakes_total", "outcome", "completed_responder") <= completedBefore {
		t.Errorf("B completed no handshake with A during the flood")
	}
	if ma.get("wgbpfd_handshakes_total", "outcome", "cookie_received") < 1 {
		t.Errorf("A received no cookie reply: B was not under load when A's initiation came")
	}
}
