// SPDX-License-Identifier: MIT

package dataplane

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/wgbpfd/wgbpfd/internal/nstest"
	"github.com/wgbpfd/wgbpfd/internal/testenv"
)

// A tunnel between two namespaces, each with its own Dataplane and TUN:
//
//	ns A: wg0 10.9.0.1 fd00:9::1 ── ua 192.0.2.1 fd00:1::1
//	                                   │ veth (the underlay)
//	ns B: wg0 10.9.0.2 fd00:9::2 ── ub 192.0.2.2 fd00:1::2
const (
	tunnelPort = 51820
	tunnelMark = 0x5157
	peerOfA    = 1 // B's id for A
	peerOfB    = 7 // A's id for B
	indexA     = 0x1001
	indexB     = 0x2001
)

type tunnelSide struct {
	ns       *nstest.NS
	dp       *Dataplane
	tun      *nstest.TUN
	underlay string
	outer4   netip.Addr
	outer6   netip.Addr
	inner4   netip.Addr
	inner6   netip.Addr
	peerID   uint32 // id of the other side in this side's dataplane
}

type tunnel struct {
	suite   uint8
	outer6  bool
	mtu     int
	a, b    *tunnelSide
	keyAB   [32]byte // A sends, B receives
	keyBA   [32]byte
	started time.Time
}

func (s *tunnelSide) outer(v6 bool) netip.Addr {
	if v6 {
		return s.outer6
	}
	return s.outer4
}

func (s *tunnelSide) inner(v6 bool) netip.Addr {
	if v6 {
		return s.inner6
	}
	return s.inner4
}

// newTunnel builds both namespaces, attaches both dataplanes and installs
// one mirrored keypair (A initiator) with endpoints of the outer family.
func newTunnel(t testing.TB, suite uint8, outer6 bool) *tunnel {
	t.Helper()
	testenv.RequireRoot(t)
	testenv.RequireTool(t, "ip")
	testenv.RequireTool(t, "ethtool")

	tn := &tunnel{suite: suite, outer6: outer6, mtu: DefaultMTU(suite, 1500), started: time.Now()}
	tn.a = &tunnelSide{ns: nstest.New(t, "wgt-a"), underlay: "ua",
		outer4: netip.MustParseAddr("192.0.2.1"), outer6: netip.MustParseAddr("fd00:1::1"),
		inner4: netip.MustParseAddr("10.9.0.1"), inner6: netip.MustParseAddr("fd00:9::1"), peerID: peerOfB}
	tn.b = &tunnelSide{ns: nstest.New(t, "wgt-b"), underlay: "ub",
		outer4: netip.MustParseAddr("192.0.2.2"), outer6: netip.MustParseAddr("fd00:1::2"),
		inner4: netip.MustParseAddr("10.9.0.2"), inner6: netip.MustParseAddr("fd00:9::2"), peerID: peerOfA}
	nstest.Veth(t, tn.a.ns, "ua", tn.b.ns, "ub")

	for _, s := range []*tunnelSide{tn.a, tn.b} {
		ns := s.ns
		ns.MustRun(t, "ip", "addr", "add", s.outer4.String()+"/24", "dev", s.underlay)
		ns.MustRun(t, "ip", "addr", "add", s.outer6.String()+"/64", "dev", s.underlay, "nodad")
		// The underlay must not rely on checksum offload.
		ns.MustRun(t, "ethtool", "-K", s.underlay, "tx", "off", "rx", "off")
		s.tun = ns.NewTUN(t, "wg0", tn.mtu)
		ns.MustRun(t, "ip", "addr", "add", s.inner4.String()+"/24", "dev", "wg0")
		ns.MustRun(t, "ip", "addr", "add", s.inner6.String()+"/64", "dev", "wg0", "nodad")

		dp, err := Load()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := dp.Close(); err != nil {
				t.Errorf("closing dataplane: %v", err)
			}
		})
		s.dp = dp
		ns.MustDo(t, func() error {
			return dp.Attach(AttachConfig{TunIndex: s.tun.Index, ListenPort: tunnelPort, FwMark: tunnelMark, MTU: tn.mtu})
		})
	}
	rand.Read(tn.keyAB[:])
	rand.Read(tn.keyBA[:])
	tn.installPair(t, indexA, indexB, true)
	tn.setPeers(t, indexA, indexB)
	return tn
}

// installPair installs one keypair on both sides: A's local index la is
// B's remote index and the other way round.
func (tn *tunnel) installPair(t testing.TB, la, lb uint32, aInitiates bool) {
	t.Helper()
	must(t, tn.a.dp.InstallSession(&SessionKeys{Suite: tn.suite, LocalIndex: la, RemoteIndex: lb,
		PeerID: peerOfB, Initiator: aInitiates, Send: tn.keyAB, Receive: tn.keyBA}))
	must(t, tn.b.dp.InstallSession(&SessionKeys{Suite: tn.suite, LocalIndex: lb, RemoteIndex: la,
		PeerID: peerOfA, Initiator: !aInitiates, Send: tn.keyBA, Receive: tn.keyAB}))
}

func (tn *tunnel) setPeers(t testing.TB, la, lb uint32) {
	t.Helper()
	for _, x := range []struct {
		self, other *tunnelSide
		current     uint32
	}{{tn.a, tn.b, la}, {tn.b, tn.a, lb}} {
		ep := netip.AddrPortFrom(x.other.outer(tn.outer6), tunnelPort)
		must(t, x.self.dp.SetPeer(x.self.peerID, Peer{Endpoint: ep, Current: x.current}))
		must(t, x.self.dp.AddAllowedIP(netip.PrefixFrom(x.other.inner4, 32), x.self.peerID))
		must(t, x.self.dp.AddAllowedIP(netip.PrefixFrom(x.other.inner6, 128), x.self.peerID))
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// ping sends count ICMP echo requests from s to addr, one at a time, and
// fails t unless each is answered; returns the average round trip. (A raw
// socket in the namespace: no ping binary needed.)
func ping(t testing.TB, s *tunnelSide, addr netip.Addr, count int) time.Duration {
	t.Helper()
	network, reqType, replyType := "ip4:icmp", byte(8), byte(0)
	if addr.Is6() {
		network, reqType, replyType = "ip6:ipv6-icmp", 128, 129
	}
	var c net.PacketConn
	s.ns.MustDo(t, func() (err error) {
		c, err = net.ListenPacket(network, "")
		return err
	})
	defer c.Close()
	id := uint16(mrand.Uint32())
	var total time.Duration
	buf := make([]byte, 1500)
	for seq := 1; seq <= count; seq++ {
		msg := make([]byte, 8+56)
		msg[0] = reqType
		msg[4], msg[5] = byte(id>>8), byte(id)
		msg[6], msg[7] = byte(seq>>8), byte(seq)
		copy(msg[8:], "wgbpfd tunnel test")
		if !addr.Is6() { // the kernel fills ICMPv6 checksums
			c := inetChecksum(msg)
			msg[2], msg[3] = byte(c>>8), byte(c)
		}
		start := time.Now()
		if _, err := c.WriteTo(msg, &net.IPAddr{IP: addr.AsSlice()}); err != nil {
			t.Fatalf("ping %v: %v", addr, err)
		}
		c.SetReadDeadline(start.Add(5 * time.Second))
		for {
			n, _, err := c.ReadFrom(buf)
			if err != nil {
				t.Fatalf("ping %v seq %d from %s: %v", addr, seq, s.ns.Name, err)
			}
			if n >= 8 && buf[0] == replyType && uint16(buf[4])<<8|uint16(buf[5]) == id &&
				int(buf[6])<<8|int(buf[7]) == seq {
				break
			}
		}
		total += time.Since(start)
	}
	return total / time.Duration(count)
}

func inetChecksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// transfer sends size pseudo-random bytes over TCP from one side to the
// other's address and checks byte count and SHA-256 at both ends. Sockets
// are created in their namespaces and used from ordinary goroutines.
func transfer(t *testing.T, from, to *tunnelSide, addr netip.Addr, port uint16, size int64) time.Duration {
	t.Helper()
	var ln net.Listener
	to.ns.MustDo(t, func() (err error) {
		ln, err = net.Listen("tcp", netip.AddrPortFrom(addr, port).String())
		return err
	})
	defer ln.Close()

	type result struct {
		n   int64
		sum string
		err error
	}
	got := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- result{err: err}
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(2 * time.Minute))
		h := sha256.New()
		n, err := io.Copy(h, c)
		got <- result{n, hex.EncodeToString(h.Sum(nil)), err}
	}()

	var c net.Conn
	from.ns.MustDo(t, func() (err error) {
		d := net.Dialer{Timeout: 10 * time.Second}
		c, err = d.Dial("tcp", netip.AddrPortFrom(addr, port).String())
		return err
	})
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Minute))
	start := time.Now()
	h := sha256.New()
	src := io.LimitReader(mrand.NewChaCha8([32]byte{byte(port)}), size)
	n, err := io.Copy(io.MultiWriter(c, h), src)
	if err != nil {
		t.Fatalf("sending: %v after %d bytes", err, n)
	}
	c.(*net.TCPConn).CloseWrite()
	r := <-got
	elapsed := time.Since(start)
	if r.err != nil {
		t.Fatalf("receiving: %v after %d bytes", r.err, r.n)
	}
	if want := hex.EncodeToString(h.Sum(nil)); r.n != size || r.sum != want {
		t.Fatalf("received %d bytes sha256 %s, sent %d bytes sha256 %s", r.n, r.sum, size, want)
	}
	return elapsed
}

// capture opens an AF_PACKET socket on s's underlay; packet taps run before
// tc ingress, so it sees data messages as they arrive.
func capture(t *testing.T, s *tunnelSide) int {
	t.Helper()
	var fd int
	s.ns.MustDo(t, func() error {
		ifi, err := net.InterfaceByName(s.underlay)
		if err != nil {
			return err
		}
		proto := htons(unix.ETH_P_ALL)
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(proto))
		if err != nil {
			return err
		}
		tv := unix.NsecToTimeval(int64(200 * time.Millisecond))
		unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: proto, Ifindex: ifi.Index})
	})
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

// dataMessage is one captured data message: its UDP payload and source.
type dataMessage struct {
	payload []byte
	src     netip.AddrPort
}

// nextDataMessage reads frames until a data message to tunnelPort arrives.
func nextDataMessage(t *testing.T, fd int, deadline time.Time) dataMessage {
	t.Helper()
	buf := make([]byte, 65536)
	for time.Now().Before(deadline) {
		n, from, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			continue // timeout: poll the deadline
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		if m, ok := parseDataFrame(buf[:n]); ok {
			return m
		}
	}
	t.Fatal("no data message captured")
	return dataMessage{}
}

func parseDataFrame(f []byte) (dataMessage, bool) {
	if len(f) < 14 {
		return dataMessage{}, false
	}
	var src netip.Addr
	var l4 []byte
	switch uint16(f[12])<<8 | uint16(f[13]) {
	case unix.ETH_P_IP:
		ip := f[14:]
		if len(ip) < 20 || ip[9] != unix.IPPROTO_UDP {
			return dataMessage{}, false
		}
		src = netip.AddrFrom4([4]byte(ip[12:16]))
		l4 = ip[int(ip[0]&15)*4:]
	case unix.ETH_P_IPV6:
		ip := f[14:]
		if len(ip) < 40 || ip[6] != unix.IPPROTO_UDP {
			return dataMessage{}, false
		}
		src = netip.AddrFrom16([16]byte(ip[8:24]))
		l4 = ip[40:]
	default:
		return dataMessage{}, false
	}
	if len(l4) < 8+16 || int(l4[2])<<8|int(l4[3]) != tunnelPort {
		return dataMessage{}, false
	}
	ulen := int(l4[4])<<8 | int(l4[5])
	if ulen > len(l4) || (l4[8] != 4 && l4[8] != 0x84) {
		return dataMessage{}, false
	}
	sport := uint16(l4[0])<<8 | uint16(l4[1])
	return dataMessage{payload: append([]byte(nil), l4[8:ulen]...), src: netip.AddrPortFrom(src, sport)}, true
}

// udpSocket opens a UDP socket bound to bind inside s's namespace.
func udpSocket(t *testing.T, s *tunnelSide, bind netip.AddrPort) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	s.ns.MustDo(t, func() (err error) {
		c, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(bind))
		return err
	})
	t.Cleanup(func() { c.Close() })
	return c
}

// waitEvent reads events until one of type typ arrives.
func waitEvent(t *testing.T, dp *Dataplane, typ EventType) Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		ev, err := dp.ReadEvent(ctx)
		if err != nil {
			t.Fatalf("waiting for %v: %v", typ, err)
		}
		if ev.Type == typ {
			return ev
		}
		t.Logf("event %v peer %d index %#x %v (skipped)", ev.Type, ev.PeerID, ev.LocalIndex, ev.Endpoint)
	}
}

// waitDrop waits until drop counter reason of dp exceeds base.
func waitDrop(t *testing.T, dp *Dataplane, reason string, base uint64) uint64 {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		d, err := dp.Drops()
		must(t, err)
		if d[reason] > base {
			return d[reason]
		}
		if time.Now().After(deadline) {
			t.Fatalf("drop counter %q stayed at %d (all: %v)", reason, d[reason], d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
