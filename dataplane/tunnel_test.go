// SPDX-License-Identifier: MIT

package dataplane

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/wgbpfd/wgbpfd/internal/nstest"
	"github.com/wgbpfd/wgbpfd/internal/testenv"
)

func suiteName(s uint8) string {
	if s == SuiteAESCBC {
		return "aescbc"
	}
	return "chacha"
}

func family(v6 bool) string {
	if v6 {
		return "6"
	}
	return "4"
}

// TestTunnel: ping and a 16 MiB TCP transfer each way, checksummed at both
// ends, for both suites and every inner/outer family combination.
func TestTunnel(t *testing.T) {
	const size = 16 << 20
	for _, suite := range []uint8{SuiteChaCha20Poly1305, SuiteAESCBC} {
		for _, outer6 := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/outer%s", suiteName(suite), family(outer6)), func(t *testing.T) {
				tn := newTunnel(t, suite, outer6)
				for i, inner6 := range []bool{false, true} {
					t.Run("inner"+family(inner6), func(t *testing.T) {
						ping(t, tn.a, tn.b.inner(inner6), 3)
						ping(t, tn.b, tn.a.inner(inner6), 3)
						ab := transfer(t, tn.a, tn.b, tn.b.inner(inner6), uint16(5001+2*i), size)
						ba := transfer(t, tn.b, tn.a, tn.a.inner(inner6), uint16(5002+2*i), size)
						t.Logf("16 MiB A→B %v (%.0f Mbit/s), B→A %v (%.0f Mbit/s)",
							ab.Round(time.Millisecond), mbits(size, ab), ba.Round(time.Millisecond), mbits(size, ba))
					})
				}
				for _, s := range []*tunnelSide{tn.a, tn.b} {
					st, err := s.dp.PeerStats(s.peerID)
					must(t, err)
					if st.TxPackets == 0 || st.RxPackets == 0 || st.LastRx.IsZero() || st.LastTx.IsZero() {
						t.Errorf("%s: counters not kept: %+v", s.ns.Name, st)
					}
					if st.LastRx.Before(tn.started.Add(-time.Second)) || st.LastRx.After(time.Now().Add(time.Second)) {
						t.Errorf("%s: last receive time %v outside the test", s.ns.Name, st.LastRx)
					}
					drops, err := s.dp.Drops()
					must(t, err)
					for _, r := range []string{"bad_tag", "replay", "malformed", "src_not_allowed", "suite_mismatch", "crypto", "no_session"} {
						if drops[r] != 0 {
							t.Errorf("%s: unexpected drops: %v", s.ns.Name, drops)
							break
						}
					}
					t.Logf("%s: %+v drops %v", s.ns.Name, st, drops)
				}
			})
		}
	}
}

func mbits(n int64, d time.Duration) float64 { return float64(n) * 8 / d.Seconds() / 1e6 }

// TestTunnelRejects injects replayed, tampered and otherwise bad data
// messages on the underlay (captured from real traffic, then altered) and
// checks each is dropped and counted under its reason, while handshake
// messages and unknown receiver indices reach the daemon's socket.
func TestTunnelRejects(t *testing.T) {
	tn := newTunnel(t, SuiteChaCha20Poly1305, false)
	a, b := tn.a, tn.b
	fd := capture(t, b)
	ping(t, a, b.inner4, 1)
	msg := nextDataMessage(t, fd, time.Now().Add(5*time.Second))
	// A's side of the underlay, sending as A's listen port would.
	inject := udpSocket(t, a, netip.AddrPortFrom(a.outer4, tunnelPort))
	// The daemon's socket on B.
	daemon := udpSocket(t, b, netip.AddrPortFrom(b.outer4, tunnelPort))
	to := netip.AddrPortFrom(b.outer4, tunnelPort).String()
	send := func(p []byte) {
		t.Helper()
		if _, err := inject.WriteToUDPAddrPort(p, netip.MustParseAddrPort(to)); err != nil {
			t.Fatal(err)
		}
	}
	base, err := b.dp.Drops()
	must(t, err)

	t.Run("replay", func(t *testing.T) {
		send(msg.payload)
		waitDrop(t, b.dp, "replay", base["replay"])
	})
	t.Run("tampered", func(t *testing.T) {
		p := slices.Clone(msg.payload)
		p[8] ^= 0x80      // counter: no longer a replay
		p[len(p)-20] ^= 1 // ciphertext
		send(p)
		waitDrop(t, b.dp, "bad_tag", base["bad_tag"])
	})
	t.Run("expired-counter", func(t *testing.T) {
		p := slices.Clone(msg.payload)
		for i := 8; i < 16; i++ {
			p[i] = 0xff
		}
		send(p)
		waitDrop(t, b.dp, "expired", base["expired"])
	})
	t.Run("expired-age", func(t *testing.T) {
		// A keypair past REJECT_AFTER_TIME (as one left by a daemon that
		// never came back becomes): the data plane refuses it on its own.
		idx := binary.LittleEndian.Uint32(msg.payload[4:8])
		var ss wgbpfWgSession
		must(t, b.dp.objs.Sessions.Lookup(idx, &ss))
		created := ss.CreatedNs
		ss.CreatedNs -= 181e9
		must(t, b.dp.objs.Sessions.Update(idx, &ss, ebpf.UpdateExist))
		defer func() {
			// Young again, for the cases that follow.
			must(t, b.dp.objs.Sessions.Lookup(idx, &ss))
			ss.CreatedNs = created
			must(t, b.dp.objs.Sessions.Update(idx, &ss, ebpf.UpdateExist))
		}()
		p := slices.Clone(msg.payload)
		p[10] ^= 0x40 // fresh counter, still a valid-looking message
		send(p)
		waitDrop(t, b.dp, "expired", base["expired"]+1)
	})
	t.Run("suite-mismatch", func(t *testing.T) {
		p := slices.Clone(msg.payload)
		p[0] = 0x84
		send(p)
		waitDrop(t, b.dp, "suite_mismatch", base["suite_mismatch"])
	})
	t.Run("truncated", func(t *testing.T) {
		send(msg.payload[:24])
		waitDrop(t, b.dp, "malformed", base["malformed"])
	})
	t.Run("too-big", func(t *testing.T) {
		// Larger than the BPF crypto handles, yet unfragmented (fragments
		// go to the daemon's socket): needs a jumbo underlay.
		a.ns.MustRun(t, "ip", "link", "set", a.underlay, "mtu", "9000")
		b.ns.MustRun(t, "ip", "link", "set", b.underlay, "mtu", "9000")
		p := make([]byte, 16+MaxPadded+16+16)
		copy(p, msg.payload[:16])
		p[9] ^= 0x40 // fresh counter
		send(p)
		waitDrop(t, b.dp, "too_big", base["too_big"])
	})
	t.Run("wrong-inner-source", func(t *testing.T) {
		// A packet written to A's TUN enters A's stack as if received on
		// wg0; forwarded back out of wg0 it is encrypted by A's dataplane
		// with a source B does not allow for A.
		a.ns.MustRun(t, "sysctl", "-qw", "net.ipv4.ip_forward=1")
		pkt := udp4Packet(netip.MustParseAddr("10.9.0.99"), b.inner4, 9, 9, []byte("spoofed"))
		if _, err := a.tun.File.Write(pkt); err != nil {
			t.Fatal(err)
		}
		waitDrop(t, b.dp, "src_not_allowed", base["src_not_allowed"])
	})
	t.Run("handshake-and-unknown-index-pass", func(t *testing.T) {
		init := make([]byte, 148)
		init[0] = 1
		unknown := slices.Clone(msg.payload)
		unknown[4] ^= 0xff // receiver index no keypair has
		for _, p := range [][]byte{init, unknown} {
			send(p)
			daemon.SetReadDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, 2048)
			n, from, err := daemon.ReadFromUDPAddrPort(buf)
			if err != nil {
				t.Fatalf("daemon socket: %v", err)
			}
			if from.Addr() != a.outer4 || n != len(p) || buf[0] != p[0] {
				t.Fatalf("daemon socket got %d bytes type %d from %v", n, buf[0], from)
			}
		}
	})
	after, err := b.dp.Drops()
	must(t, err)
	t.Logf("drops on B: %v", after)
	// The tunnel still works after all that.
	ping(t, a, b.inner4, 1)
}

// udp4Packet builds an IPv4/UDP packet (UDP checksum 0: allowed for IPv4).
func udp4Packet(src, dst netip.Addr, sport, dport uint16, payload []byte) []byte {
	p := make([]byte, 28+len(payload))
	p[0] = 0x45
	total := len(p)
	p[2], p[3] = byte(total>>8), byte(total)
	p[8] = 64
	p[9] = 17
	s4, d4 := src.As4(), dst.As4()
	copy(p[12:], s4[:])
	copy(p[16:], d4[:])
	c := inetChecksum(p[:20])
	p[10], p[11] = byte(c>>8), byte(c)
	p[20], p[21] = byte(sport>>8), byte(sport)
	p[22], p[23] = byte(dport>>8), byte(dport)
	ul := 8 + len(payload)
	p[24], p[25] = byte(ul>>8), byte(ul)
	copy(p[28:], payload)
	return p
}

// TestTunnelEvents: slow path and "handshake needed" without a keypair,
// "rekey needed" past REKEY_AFTER_MESSAGES, "keypair confirmed" on the
// first packet of a next keypair, and roaming to a new outer source.
func TestTunnelEvents(t *testing.T) {
	tn := newTunnel(t, SuiteChaCha20Poly1305, false)
	a, b := tn.a, tn.b
	ping(t, a, b.inner4, 1)

	t.Run("roaming", func(t *testing.T) {
		// A's route to B now prefers a second address: A's packets come
		// from it, and B follows.
		roamed := netip.MustParseAddr("192.0.2.11")
		a.ns.MustRun(t, "ip", "addr", "add", roamed.String()+"/24", "dev", a.underlay)
		a.ns.MustRun(t, "ip", "route", "replace", b.outer4.String()+"/32", "dev", a.underlay, "src", roamed.String())
		ping(t, a, b.inner4, 1)
		ev := waitEvent(t, b.dp, EventEndpointChanged)
		want := netip.AddrPortFrom(roamed, tunnelPort)
		if ev.PeerID != peerOfA || ev.Endpoint != want {
			t.Fatalf("event %+v, want peer %d endpoint %v", ev, peerOfA, want)
		}
		p, err := b.dp.GetPeer(peerOfA)
		must(t, err)
		if p.Endpoint != want {
			t.Fatalf("B's endpoint for A is %v, want %v", p.Endpoint, want)
		}
		ping(t, b, a.inner4, 1) // replies go to the new address
	})

	t.Run("keypair-confirmed", func(t *testing.T) {
		// A new handshake: A initiated, B (responder) holds it as next.
		tn.installPair(t, indexA+1, indexB+1, true)
		must(t, a.dp.SetPeerSessions(peerOfB, indexA+1, indexA, 0))
		must(t, b.dp.SetPeerSessions(peerOfA, indexB, 0, indexB+1))
		ping(t, a, b.inner4, 1)
		ev := waitEvent(t, b.dp, EventKeypairConfirmed)
		if ev.PeerID != peerOfA || ev.LocalIndex != indexB+1 {
			t.Fatalf("event %+v, want peer %d index %#x", ev, peerOfA, indexB+1)
		}
		p, err := b.dp.GetPeer(peerOfA)
		must(t, err)
		if p.Current != indexB+1 || p.Previous != indexB || p.Next != 0 {
			t.Fatalf("B's keypairs after confirmation: %+v", p)
		}
	})

	t.Run("rekey-needed", func(t *testing.T) {
		cur := uint32(indexA + 1)
		if _, err := a.dp.ReserveCounters(cur, 1<<60); err != nil {
			t.Fatal(err)
		}
		ping(t, a, b.inner4, 1) // still sent: rekeying is advice
		ev := waitEvent(t, a.dp, EventRekeyNeeded)
		if ev.PeerID != peerOfB || ev.LocalIndex != cur {
			t.Fatalf("event %+v, want peer %d index %#x", ev, peerOfB, cur)
		}
	})

	t.Run("slow-path", func(t *testing.T) {
		must(t, a.dp.RemoveSession(indexA+1))
		pkt := udp4Packet(a.inner4, b.inner4, 7, 7, []byte("to the daemon"))
		// Any packet routed to wg0 without a keypair lands in the TUN queue.
		c := udpSocket(t, a, netip.AddrPortFrom(a.inner4, 7))
		if _, err := c.WriteToUDPAddrPort([]byte("to the daemon"), netip.AddrPortFrom(b.inner4, 7)); err != nil {
			t.Fatal(err)
		}
		a.tun.File.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 2048)
		for {
			n, err := a.tun.File.Read(buf)
			if err != nil {
				t.Fatalf("reading the TUN: %v", err)
			}
			if n == len(pkt) && buf[9] == 17 && netip.AddrFrom4([4]byte(buf[16:20])) == b.inner4 {
				break
			}
		}
		ev := waitEvent(t, a.dp, EventHandshakeNeeded)
		if ev.PeerID != peerOfB {
			t.Fatalf("event %+v, want peer %d", ev, peerOfB)
		}
	})
}

type watchEnv struct {
	ns *nstest.NS
	dp *Dataplane
}

func newTunnelWatching(t *testing.T) *watchEnv {
	t.Helper()
	ns := nstest.New(t, "wgt-w")
	tun := ns.NewTUN(t, "wg0", 1420)
	dp, err := Load()
	must(t, err)
	t.Cleanup(func() { dp.Close() })
	ns.MustDo(t, func() error {
		return dp.Attach(AttachConfig{TunIndex: tun.Index, ListenPort: tunnelPort, WatchLinks: true})
	})
	return &watchEnv{ns: ns, dp: dp}
}

func ifindex(name string) (int, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return 0, err
	}
	return ifi.Index, nil
}

// TestTunnelWatchLinks: an interface created after Attach gets the ingress
// program when WatchLinks is on.
func TestTunnelWatchLinks(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireTool(t, "ip")
	tn := newTunnelWatching(t)
	ns := tn.ns
	ns.MustRun(t, "ip", "link", "add", "late0", "type", "veth", "peer", "name", "late1")
	var idx []int
	ns.MustDo(t, func() error {
		for _, n := range []string{"late0", "late1"} {
			i, err := ifindex(n)
			if err != nil {
				return err
			}
			idx = append(idx, i)
		}
		return nil
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := tn.dp.UnderlayInterfaces()
		if slices.Contains(got, idx[0]) && slices.Contains(got, idx[1]) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("underlay interfaces %v, want %v among them", got, idx)
		}
		time.Sleep(20 * time.Millisecond)
	}
	ns.MustRun(t, "ip", "link", "del", "late0")
	for {
		if got := tn.dp.UnderlayInterfaces(); !slices.Contains(got, idx[0]) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("late0 still attached after deletion")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestTunnelWatchStopsQuietly: detaching stops the link watcher without a
// report; closing the subscription used to surface as "Receive failed"
// and the daemon logged a warning on every clean stop.
func TestTunnelWatchStopsQuietly(t *testing.T) {
	testenv.RequireRoot(t)
	ns := nstest.New(t, "wgt-w")
	tun := ns.NewTUN(t, "wg0", 1420)
	dp, err := Load()
	must(t, err)
	t.Cleanup(func() { dp.Close() })
	var mu sync.Mutex
	var reports []error
	ns.MustDo(t, func() error {
		return dp.Attach(AttachConfig{TunIndex: tun.Index, ListenPort: tunnelPort, WatchLinks: true,
			OnWatchError: func(err error) {
				mu.Lock()
				reports = append(reports, err)
				mu.Unlock()
			}})
	})
	must(t, dp.Detach())
	// Detach waits for the watcher, whose last report comes before it ends.
	mu.Lock()
	defer mu.Unlock()
	if len(reports) != 0 {
		t.Fatalf("the link watcher reported %v on detach", reports)
	}
}
