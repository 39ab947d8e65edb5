// SPDX-License-Identifier: MIT

package daemon

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wgbpfd/wgbpfd/config"
	"github.com/wgbpfd/wgbpfd/dataplane"
	"github.com/wgbpfd/wgbpfd/keystore"
	"github.com/wgbpfd/wgbpfd/uapi"
)

// fakeNet carries datagrams between in-memory devices. Delivery happens in
// pump, outside any device lock, as a real network would.
type fakeNet struct {
	mu      sync.Mutex
	devices map[netip.AddrPort]*device
	queue   []fakeDatagram
	sent    int
}

type fakeDatagram struct {
	b        []byte
	from, to netip.AddrPort
}

type fakeSocket struct {
	n    *fakeNet
	addr netip.AddrPort
}

func (s *fakeSocket) sendTo(b []byte, to netip.AddrPort) error {
	s.n.mu.Lock()
	defer s.n.mu.Unlock()
	s.n.queue = append(s.n.queue, fakeDatagram{append([]byte(nil), b...), s.addr, to})
	s.n.sent++
	return nil
}

// pump delivers queued datagrams (and the ones they cause) and returns how
// many it delivered.
func (n *fakeNet) pump() int {
	delivered := 0
	for {
		n.mu.Lock()
		if len(n.queue) == 0 {
			n.mu.Unlock()
			return delivered
		}
		dg := n.queue[0]
		n.queue = n.queue[1:]
		dst := n.devices[dg.to]
		n.mu.Unlock()
		if dst != nil {
			dst.handleDatagram(dg.b, dg.from, 0, handshakeQueueLen)
			delivered++
		}
	}
}

// testPeerPair is two devices that know each other, on a fake network,
// with a shared fake clock.
type testPeerPair struct {
	net          *fakeNet
	a, b         *device
	ka, kb       *fakeKernel
	tunA, tunB   *[][]byte
	now          time.Time
	addrA, addrB netip.AddrPort
}

func newTestPeerPair(t *testing.T, cipher config.Cipher) *testPeerPair {
	t.Helper()
	privA, _ := config.GeneratePrivateKey()
	privB, _ := config.GeneratePrivateKey()
	tp := &testPeerPair{
		net:   &fakeNet{devices: map[netip.AddrPort]*device{}},
		ka:    newFakeKernel(),
		kb:    newFakeKernel(),
		now:   time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC),
		addrA: netip.MustParseAddrPort("192.0.2.1:51820"),
		addrB: netip.MustParseAddrPort("192.0.2.2:51820"),
		tunA:  &[][]byte{},
		tunB:  &[][]byte{},
	}
	clock := func() time.Time { return tp.now }
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	mk := func(priv config.PrivateKey, peerPub config.Key, peerIP, peerEP string, k *fakeKernel, self netip.AddrPort, tun *[][]byte) *device {
		cfg := &config.Config{Interface: config.Interface{PrivateKey: priv, ListenPort: 51820, Cipher: cipher, Table: config.TableAuto},
			Peers: []config.Peer{{PublicKey: peerPub, AllowedIPs: []netip.Prefix{netip.MustParsePrefix(peerIP)}, Endpoint: peerEP}}}
		d, err := newDevice("wgtest", cfg, 1420, k, &fakeSocket{tp.net, self}, func(p []byte) error {
			*tun = append(*tun, append([]byte(nil), p...))
			return nil
		}, log, clock, 0)
		if err != nil {
			t.Fatal(err)
		}
		d.listenPort = 51820
		tp.net.devices[self] = d
		return d
	}
	tp.a = mk(privA, privB.Public(), "10.0.0.2/32", tp.addrB.String(), tp.ka, tp.addrA, tp.tunA)
	tp.b = mk(privB, privA.Public(), "10.0.0.1/32", tp.addrA.String(), tp.kb, tp.addrB, tp.tunB)
	return tp
}

// sessionUp sends a packet from A to B so that a handshake runs, and
// returns A's id for B and the index of the session A's kernel now uses.
func (tp *testPeerPair) sessionUp(t *testing.T) (id, session uint32) {
	t.Helper()
	tp.a.handleTUNPacket(ipv4Packet("10.0.0.1", "10.0.0.2", []byte("x")))
	tp.net.pump()
	id = tp.a.peers[tp.b.cfg.PublicKey()].id
	if session = tp.ka.peer(id).current; session == 0 {
		t.Fatal("no session")
	}
	return id, session
}

// ipv4Packet builds a minimal IPv4 packet with a payload.
func ipv4Packet(src, dst string, payload []byte) []byte {
	p := make([]byte, 20+len(payload))
	p[0] = 0x45
	binary.BigEndian.PutUint16(p[2:], uint16(len(p)))
	p[8] = 64
	p[9] = 17
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	copy(p[12:], s[:])
	copy(p[16:], d[:])
	copy(p[20:], payload)
	return p
}

// TestSlowPathHandshakeAndDelivery: a packet with no session is queued, a
// handshake runs, the keypairs reach both kernels mirrored (A's send key is
// B's receive key), the queued packet is sealed in userspace with a counter
// reserved from the kernel and opened by the other side.
func TestSlowPathHandshakeAndDelivery(t *testing.T) {
	for _, c := range []config.Cipher{config.CipherChaCha20Poly1305, config.CipherAESCBC} {
		t.Run(string(c), func(t *testing.T) {
			tp := newTestPeerPair(t, c)
			pkt := ipv4Packet("10.0.0.1", "10.0.0.2", []byte("hello through the slow path"))
			tp.a.handleTUNPacket(pkt)
			if got := tp.a.stats.slowPath["queued"]; got != 1 {
				t.Fatalf("queued = %d, want 1", got)
			}
			if n := tp.net.pump(); n < 3 {
				t.Fatalf("delivered %d datagrams, want initiation, response and data", n)
			}
			if len(*tp.tunB) != 1 || !bytes.Equal((*tp.tunB)[0], pkt) {
				t.Fatalf("B's interface got %x, want the packet %x", *tp.tunB, pkt)
			}
			pa := tp.ka.peer(tp.a.peers[tp.b.cfg.PublicKey()].id)
			pb := tp.kb.peer(tp.b.peers[tp.a.cfg.PublicKey()].id)
			if pa.current == 0 {
				t.Fatal("A's kernel has no current session after the handshake")
			}
			sa, _ := tp.ka.session(pa.current)
			// B got a data packet on its new keypair in userspace; the fake
			// kernel raised no event, so it is still "next" until confirmed.
			idxB := pb.current
			if idxB == 0 {
				idxB = pb.next
			}
			sb, ok := tp.kb.session(idxB)
			if !ok {
				t.Fatal("B's kernel has no session")
			}
			if sa.Send != sb.Receive || sa.Receive != sb.Send {
				t.Fatal("kernel sessions are not mirrored: A.send != B.receive")
			}
			if sa.RemoteIndex != sb.LocalIndex || sb.RemoteIndex != sa.LocalIndex {
				t.Fatalf("indices not mirrored: A %d→%d, B %d→%d", sa.LocalIndex, sa.RemoteIndex, sb.LocalIndex, sb.RemoteIndex)
			}
			if want := uint8(suiteOf(c)); sa.Suite != want || sb.Suite != want {
				t.Fatalf("suites %d/%d, want %d", sa.Suite, sb.Suite, want)
			}
			if got := tp.ka.counters[pa.current]; got != 1 {
				t.Fatalf("A reserved %d kernel counters, want 1 (the queued packet)", got)
			}
		})
	}
}

// TestConfirmEventPromotesNext: the responder's keypair stays "next" in
// the kernel until the data plane reports a packet on it.
func TestConfirmEventPromotesNext(t *testing.T) {
	tp := newTestPeerPair(t, config.CipherChaCha20Poly1305)
	tp.a.mu.Lock()
	pa := tp.a.peers[tp.b.cfg.PublicKey()]
	tp.a.wantHandshakeLocked(pa, tp.now)
	tp.a.mu.Unlock()
	// Deliver the initiation and the response only: A then sends a
	// keepalive, which the test drops (the kernel would take it).
	for i := 0; i < 2; i++ {
		tp.net.mu.Lock()
		dg := tp.net.queue[0]
		tp.net.queue = tp.net.queue[1:]
		tp.net.mu.Unlock()
		tp.net.devices[dg.to].handleDatagram(dg.b, dg.from, 0, handshakeQueueLen)
	}
	idB := tp.b.peers[tp.a.cfg.PublicKey()].id
	p := tp.kb.peer(idB)
	if p.next == 0 || p.current != 0 {
		t.Fatalf("responder's kernel slots %+v, want only next", p)
	}
	tp.b.handleEvent(kernelEvent{Kind: evKeypairConfirmed, PeerID: idB, LocalIndex: p.next})
	if q := tp.kb.peer(idB); q.current != p.next || q.next != 0 {
		t.Fatalf("after confirmation slots %+v, want current = %d", q, p.next)
	}
}

// TestBadDatagramsAreCounted: any bytes on the port are handled without
// panic and counted by kind.
func TestBadDatagramsAreCounted(t *testing.T) {
	tp := newTestPeerPair(t, config.CipherChaCha20Poly1305)
	src := netip.MustParseAddrPort("198.51.100.7:4444")
	for n := 0; n < 200; n++ {
		b := bytes.Repeat([]byte{byte(n)}, n)
		for _, typ := range []byte{1, 2, 3, 4, keystore.MessageTypeDataAESCBC, 9} {
			if n > 0 {
				b[0] = typ
			}
			tp.a.handleDatagram(b, src, 0, handshakeQueueLen)
		}
	}
	var total uint64
	for _, v := range tp.a.stats.slowPath {
		total += v
	}
	for _, v := range tp.a.stats.handshakes {
		total += v
	}
	if total != 200*6 {
		t.Fatalf("counted %d outcomes for %d datagrams: slow path %v, handshakes %v", total, 200*6, tp.a.stats.slowPath, tp.a.stats.handshakes)
	}
	if len(*tp.tunA) != 0 {
		t.Fatal("garbage reached the interface")
	}
}

// TestUAPISetKeepsSessions: a set request that changes a peer's allowed IPs
// keeps its session; removing the peer removes its kernel state.
func TestUAPISetKeepsSessions(t *testing.T) {
	tp := newTestPeerPair(t, config.CipherChaCha20Poly1305)
	id, before := tp.sessionUp(t)
	pubB := tp.b.cfg.PublicKey()
	u := uapiDevice{tp.a}
	st, _ := u.Get()
	if len(st.Peers) != 1 {
		t.Fatalf("get: %d peers", len(st.Peers))
	}
	extra := netip.MustParsePrefix("10.0.1.0/24")
	if err := tp.a.applyUAPIForTest(pubB, extra); err != nil {
		t.Fatal(err)
	}
	if got := tp.ka.peer(id).current; got != before {
		t.Fatalf("session changed from %d to %d on an allowed-ips change", before, got)
	}
	if tp.ka.allowed[extra] != id {
		t.Fatalf("new prefix not in the kernel: %v", tp.ka.allowed)
	}
	tp.a.mu.Lock()
	tp.a.removePeerLocked(pubB)
	tp.a.mu.Unlock()
	if _, ok := tp.ka.session(before); ok {
		t.Fatal("session left in the kernel after the peer was removed")
	}
	if len(tp.ka.allowed) != 0 {
		t.Fatalf("prefixes left: %v", tp.ka.allowed)
	}
}

func (d *device) applyUAPIForTest(pub config.Key, add netip.Prefix) error {
	d.mu.Lock()
	want := d.cfg.Clone()
	d.mu.Unlock()
	for i := range want.Peers {
		if want.Peers[i].PublicKey == pub {
			want.Peers[i].AllowedIPs = append(want.Peers[i].AllowedIPs, add)
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.syncLocked(want); err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	return nil
}

// TestUAPIRefusesRuntimeChanges: where the interface can neither rebind
// nor remark (no hooks), a new port or fwmark fails with EINVAL and
// changes nothing.
func TestUAPIRefusesRuntimeChanges(t *testing.T) {
	tp := newTestPeerPair(t, config.CipherChaCha20Poly1305)
	u := uapiDevice{tp.a}
	mark := uint32(0x1234)
	port := uint16(40000)
	for _, req := range []*uapi.SetRequest{{FirewallMark: &mark}, {ListenPort: &port}} {
		err := u.Set(req)
		if uapi.ErrnoOf(err) != syscall.EINVAL {
			t.Fatalf("set %+v: %v, want EINVAL", req, err)
		}
	}
	st, _ := u.Get()
	if st.FirewallMark != 0 || st.ListenPort != 51820 || len(st.Peers) != 1 {
		t.Fatalf("state changed by refused requests: %+v", st)
	}
}

// TestUAPIListenPort: `wg set listen-port` binds the new port first (a
// port in use fails with EADDRINUSE and changes nothing), then sends from
// it: the peer learns the new endpoint from our next handshake.
func TestUAPIListenPort(t *testing.T) {
	tp := newTestPeerPair(t, config.CipherChaCha20Poly1305)
	u := uapiDevice{tp.a}
	var asked []int
	inUse := false
	sendsFrom := tp.addrA
	tp.a.rebind = func(port int) (packetSender, uint16, error) {
		asked = append(asked, port)
		if inUse {
			return nil, 0, startErr(ExitPortInUse, "ListenPort %d: already in use", port)
		}
		if port == 0 {
			port = 40000 // the kernel's choice
		}
		sendsFrom = netip.AddrPortFrom(tp.addrA.Addr(), uint16(port))
		tp.net.mu.Lock()
		tp.net.devices[sendsFrom] = tp.a
		tp.net.mu.Unlock()
		return &fakeSocket{tp.net, sendsFrom}, uint16(port), nil
	}

	inUse = true
	port := uint16(51999)
	err := u.Set(&uapi.SetRequest{ListenPort: &port})
	if uapi.ErrnoOf(err) != syscall.EADDRINUSE {
		t.Fatalf("port in use: %v, want EADDRINUSE", err)
	}
	if st, _ := u.Get(); st.ListenPort != 51820 {
		t.Fatalf("listen port %d after a failed change, want 51820", st.ListenPort)
	}

	inUse = false
	if err := u.Set(&uapi.SetRequest{ListenPort: &port}); err != nil {
		t.Fatal(err)
	}
	if st, _ := u.Get(); st.ListenPort != 51999 {
		t.Fatalf("listen port %d, want 51999", st.ListenPort)
	}
	if got := tp.a.snapshotConfig().Interface.ListenPort; got != 51999 {
		t.Fatalf("SaveConfig would write ListenPort %d, want 51999", got)
	}
	// The same port again is not a change.
	if err := u.Set(&uapi.SetRequest{ListenPort: &port}); err != nil {
		t.Fatal(err)
	}
	if len(asked) != 2 || asked[0] != 51999 || asked[1] != 51999 {
		t.Fatalf("rebind calls %v, want [51999 51999]", asked)
	}

	// Port 0 asks for one of the kernel's choosing, as in wg(8).
	zero := uint16(0)
	if err := u.Set(&uapi.SetRequest{ListenPort: &zero}); err != nil {
		t.Fatal(err)
	}
	if st, _ := u.Get(); len(asked) != 3 || asked[2] != 0 || st.ListenPort != 40000 {
		t.Fatalf("rebind calls %v, listen port %d; want a third call with port 0, and its port 40000", asked, st.ListenPort)
	}
	// A failed request leaves the mark it would have changed.
	inUse = true
	mark := uint32(0x42)
	tp.a.remark = func(uint32) error { return nil }
	if err := u.Set(&uapi.SetRequest{ListenPort: &port, FirewallMark: &mark}); uapi.ErrnoOf(err) != syscall.EADDRINUSE {
		t.Fatalf("port in use with a new mark: %v, want EADDRINUSE", err)
	}
	if st, _ := u.Get(); st.FirewallMark != 0 {
		t.Fatalf("fwmark %#x after a failed request, want 0", st.FirewallMark)
	}
	inUse = false

	// A handshake from A now leaves from the new port, and B follows.
	tp.a.handleTUNPacket(ipv4Packet("10.0.0.1", "10.0.0.2", []byte("x")))
	tp.net.pump()
	tp.b.mu.Lock()
	ep := tp.b.peers[tp.a.cfg.PublicKey()].endpoint
	tp.b.mu.Unlock()
	if ep != sendsFrom || sendsFrom.Port() != 40000 {
		t.Fatalf("B sends to A at %v, want %v", ep, sendsFrom)
	}
}

// TestFwMarkChange: `wg set fwmark` applies the mark through the hook (0 is
// "none" there), a refusal (a full tunnel) fails with EINVAL and changes
// nothing, and in a reloaded file 0 keeps the mark in use while another
// value replaces it.
func TestFwMarkChange(t *testing.T) {
	tp := newTestPeerPair(t, config.CipherChaCha20Poly1305)
	u := uapiDevice{tp.a}
	var applied []uint32
	refuse := false
	tp.a.remark = func(mark uint32) error {
		if refuse {
			return fmt.Errorf("FwMark %#x: refused", mark)
		}
		applied = append(applied, mark)
		return nil
	}
	mark := uint32(0x77)
	if err := u.Set(&uapi.SetRequest{FirewallMark: &mark}); err != nil {
		t.Fatal(err)
	}
	if st, _ := u.Get(); st.FirewallMark != 0x77 {
		t.Fatalf("fwmark %#x, want 0x77", st.FirewallMark)
	}
	refuse = true
	other := uint32(0x99)
	if err := u.Set(&uapi.SetRequest{FirewallMark: &other}); uapi.ErrnoOf(err) != syscall.EINVAL {
		t.Fatalf("refused mark: %v, want EINVAL", err)
	}
	if st, _ := u.Get(); st.FirewallMark != 0x77 {
		t.Fatalf("fwmark %#x after a refusal, want 0x77", st.FirewallMark)
	}
	refuse = false
	zero := uint32(0)
	if err := u.Set(&uapi.SetRequest{FirewallMark: &zero}); err != nil {
		t.Fatal(err)
	}
	reload := func(fwmark uint32) {
		t.Helper()
		tp.a.mu.Lock()
		defer tp.a.mu.Unlock()
		want := tp.a.cfg.Clone()
		want.Interface.FwMark = fwmark
		if err := tp.a.syncLocked(want); err != nil {
			t.Fatal(err)
		}
	}
	reload(0) // a file without FwMark: the mark stays
	reload(0x55)
	reload(0)
	if got := tp.a.snapshotConfig().Interface.FwMark; got != 0x55 {
		t.Fatalf("a reload without FwMark made SaveConfig write FwMark %#x, want 0x55", got)
	}
	if st, _ := u.Get(); st.FirewallMark != 0x55 {
		t.Fatalf("after a reload with FwMark 0x55 the mark is %#x", st.FirewallMark)
	}
	if got := tp.a.snapshotConfig().Interface.FwMark; got != 0x55 {
		t.Fatalf("SaveConfig would write FwMark %#x, want 0x55", got)
	}
	if fmt.Sprint(applied) != "[119 0 85]" {
		t.Fatalf("marks applied %v, want [0x77 0 0x55]", applied)
	}
}

// TestSyncRefusedMarkKeepsPort: a file that changes both ListenPort and
// FwMark, whose mark is refused (a full tunnel holds it), changes neither:
// the port that had already moved goes back.
func TestSyncRefusedMarkKeepsPort(t *testing.T) {
	tp := newTestPeerPair(t, config.CipherChaCha20Poly1305)
	var asked []int
	tp.a.rebind = func(port int) (packetSender, uint16, error) {
		asked = append(asked, port)
		return &fakeSocket{tp.net, netip.AddrPortFrom(tp.addrA.Addr(), uint16(port))}, uint16(port), nil
	}
	tp.a.remark = func(mark uint32) error { return fmt.Errorf("FwMark %#x: refused", mark) }
	tp.a.mu.Lock()
	defer tp.a.mu.Unlock()
	want := tp.a.cfg.Clone()
	want.Interface.ListenPort, want.Interface.FwMark = 51999, 0x99
	if err := tp.a.syncLocked(want); err == nil {
		t.Fatal("a refused fwmark did not fail the sync")
	}
	if tp.a.listenPort != 51820 || tp.a.cfg.Interface.ListenPort != 51820 || fmt.Sprint(asked) != "[51999 51820]" {
		t.Fatalf("listen port %d (config %d), rebind calls %v; want 51820 back after [51999 51820]",
			tp.a.listenPort, tp.a.cfg.Interface.ListenPort, asked)
	}
}

// TestSyncRefusesOverCapacity: a configuration with more peers, or more
// AllowedIPs of a family, than the data plane holds is refused before
// anything changes, at start and on a reload (or wg set), instead of
// failing halfway through the peers.
func TestSyncRefusesOverCapacity(t *testing.T) {
	tp := newTestPeerPair(t, config.CipherChaCha20Poly1305)
	id, session := tp.sessionUp(t)
	extra := netip.MustParsePrefix("10.0.7.0/24")
	newPeer, _ := config.GeneratePrivateKey()
	for _, c := range []struct {
		name            string
		maxPeers, maxIP int
		want            string
	}{
		{"peers", 1, 100, "2 peers: the data plane holds at most 1"},
		{"allowed-ips", 100, 2, "3 IPv4 AllowedIPs: the data plane holds at most 2"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tp.a.mu.Lock()
			tp.a.maxPeers, tp.a.maxAllowedIPs = c.maxPeers, c.maxIP
			want := tp.a.cfg.Clone()
			want.Peers[0].AllowedIPs = append(want.Peers[0].AllowedIPs, extra)
			want.Peers = append(want.Peers, config.Peer{PublicKey: newPeer.Public(), AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.0.0.3/32")}})
			err := tp.a.syncLocked(want)
			tp.a.mu.Unlock()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("sync: %v, want %q", err, c.want)
			}
			if len(tp.a.peers) != 1 || len(tp.a.cfg.Peers) != 1 || len(tp.a.cfg.Peers[0].AllowedIPs) != 1 {
				t.Errorf("configuration changed: %d peers, %+v", len(tp.a.peers), tp.a.cfg.Peers)
			}
			if got := tp.ka.peer(id).current; got != session {
				t.Errorf("session changed from %d to %d", session, got)
			}
			if len(tp.ka.allowed) != 1 {
				t.Errorf("kernel prefixes changed: %v", tp.ka.allowed)
			}
		})
	}

	// A device takes the data plane's capacity as its limits (Run checks
	// the file against the same ones before bring-up).
	d, err := newDevice("wgtest", tp.a.cfg.Clone(), 1420, newFakeKernel(), &fakeSocket{tp.net, netip.MustParseAddrPort("192.0.2.9:51820")},
		func([]byte) error { return nil }, slog.New(slog.NewTextHandler(io.Discard, nil)), func() time.Time { return tp.now }, 0)
	if err != nil || d.maxPeers != dataplane.MaxPeers || d.maxAllowedIPs != dataplane.MaxAllowedIPs {
		t.Fatalf("newDevice: %v", err)
	}
}

// TestSlowPathSharesKernelWindow: a data message the daemon opens from its
// socket (fragments and the like reach it there) is committed to the
// kernel's replay window, the one the data plane uses. A copy is refused
// whichever path saw the message first, counted as a replay, and moves no
// endpoint.
func TestSlowPathSharesKernelWindow(t *testing.T) {
	tp := newTestPeerPair(t, config.CipherChaCha20Poly1305)
	tp.sessionUp(t)
	pa := tp.b.peers[tp.a.cfg.PublicKey()]
	attacker := netip.MustParseAddrPort("192.0.2.66:40000")
	// nextMessage has A send text and returns its data message, undelivered.
	nextMessage := func(text string) []byte {
		tp.a.handleTUNPacket(ipv4Packet("10.0.0.1", "10.0.0.2", []byte(text)))
		tp.net.mu.Lock()
		defer tp.net.mu.Unlock()
		for i, dg := range tp.net.queue {
			if dg.b[0] == keystore.MessageTypeData {
				tp.net.queue = append(tp.net.queue[:i], tp.net.queue[i+1:]...)
				return dg.b
			}
		}
		t.Fatal("A sent no data message")
		return nil
	}
	delivered := func() int { return len(*tp.tunB) }

	// Daemon first, then a replay from elsewhere.
	msg := nextMessage("daemon first")
	n := delivered() + 1
	tp.b.handleDatagram(msg, tp.addrA, 0, handshakeQueueLen)
	if delivered() != n {
		t.Fatal("the daemon did not deliver a fresh message")
	}
	tp.b.handleDatagram(msg, attacker, 0, handshakeQueueLen)
	if delivered() != n {
		t.Fatal("the daemon delivered a replay")
	}
	if got := tp.b.stats.slowPath["replay"]; got != 1 {
		t.Fatalf("slow-path replays = %d, want 1", got)
	}
	if pa.endpoint != tp.addrA {
		t.Fatalf("a replay moved A's endpoint to %v", pa.endpoint)
	}
	// The data plane's window holds the counter: the kernel refuses it.
	idx, ctr := binary.LittleEndian.Uint32(msg[4:8]), binary.LittleEndian.Uint64(msg[8:16])
	if err := tp.kb.CommitReceive(idx, ctr); !errors.Is(err, errKernelReplay) {
		t.Fatalf("the kernel's window took a counter the daemon had opened: %v", err)
	}

	// Data plane first (it commits the counter), then the daemon.
	msg = nextMessage("data plane first")
	idx, ctr = binary.LittleEndian.Uint32(msg[4:8]), binary.LittleEndian.Uint64(msg[8:16])
	if err := tp.kb.CommitReceive(idx, ctr); err != nil {
		t.Fatal(err)
	}
	tp.b.handleDatagram(msg, attacker, 0, handshakeQueueLen)
	if delivered() != n {
		t.Fatal("the daemon delivered a message the data plane had taken")
	}
	if got := tp.b.stats.slowPath["replay"]; got != 2 {
		t.Fatalf("slow-path replays = %d, want 2", got)
	}
	if pa.endpoint != tp.addrA {
		t.Fatalf("a replay moved A's endpoint to %v", pa.endpoint)
	}
}
