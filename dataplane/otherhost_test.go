// SPDX-License-Identifier: MIT

package dataplane

import (
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/wgbpfd/wgbpfd/keystore"
)

// TestTunnelOtherHostFrame: a valid, fresh data message in a frame for
// another host's MAC (what a promiscuous interface or a bridge port sees)
// is not decrypted: B's stack drops it, as it would before any socket. The
// same kind of message in a frame for B's MAC, sent right after, is.
func TestTunnelOtherHostFrame(t *testing.T) {
	tn := newTunnel(t, SuiteChaCha20Poly1305, false)
	a, b := tn.a, tn.b
	ping(t, a, b.inner4, 1) // neighbours resolved, keypair in use

	foreign, mine := twoMessagesToB(t, tn)

	bMAC := macOf(t, b)
	otherMAC := net.HardwareAddr{0x02, 0x00, 0x5e, 0x10, 0x20, 0x30}
	sendFrame := frameSender(t, a)
	send := func(dst net.HardwareAddr, payload []byte) {
		sendFrame(dst, udp4Packet(a.outer4, b.outer4, tunnelPort, tunnelPort, payload))
	}

	listener := udpSocket(t, b, netip.AddrPortFrom(b.inner4, 9999))
	before, err := b.dp.PeerStats(peerOfA)
	must(t, err)
	dropsBefore, err := b.dp.Drops()
	must(t, err)

	send(otherMAC, foreign)
	send(bMAC, mine)
	expectOnly(t, b, listener, before, dropsBefore, "to B")
}

// TestTunnelTransitFrame: on a router (forwarding on), a valid, fresh data
// message in a frame for B's MAC but addressed to another host's IP is
// transit traffic: B forwards it and does not decrypt it, even though its
// receiver index is one of B's (what a 32-bit collision with another
// tunnel through the router would look like). The same message to B's own
// address, sent right after, is decrypted.
func TestTunnelTransitFrame(t *testing.T) {
	tn := newTunnel(t, SuiteChaCha20Poly1305, false)
	a, b := tn.a, tn.b
	ping(t, a, b.inner4, 1)
	b.ns.MustRun(t, "sysctl", "-qw", "net.ipv4.conf.all.forwarding=1", "net.ipv4.conf."+b.underlay+".forwarding=1")

	transit, mine := twoMessagesToB(t, tn)

	listener := udpSocket(t, b, netip.AddrPortFrom(b.inner4, 9999))
	before, err := b.dp.PeerStats(peerOfA)
	must(t, err)
	dropsBefore, err := b.dp.Drops()
	must(t, err)
	forwardedBefore := ipStat(t, b, "Ip:", "ForwDatagrams")

	sendFrame := frameSender(t, a)
	elsewhere := netip.MustParseAddr("192.0.2.99") // on the underlay's subnet, nobody's
	sendFrame(macOf(t, b), udp4Packet(a.outer4, elsewhere, tunnelPort, tunnelPort, transit))
	sendFrame(macOf(t, b), udp4Packet(a.outer4, b.outer4, tunnelPort, tunnelPort, mine))
	expectOnly(t, b, listener, before, dropsBefore, "to B")
	if n := ipStat(t, b, "Ip:", "ForwDatagrams"); n <= forwardedBefore {
		t.Errorf("B's stack forwarded %d datagrams before and %d after; the transit message was not handed to it", forwardedBefore, n)
	}
}

// twoMessagesToB seals, with A's next two counters, data messages for B
// carrying UDP datagrams to B's inner port 9999: "to another host", then
// "to B".
func twoMessagesToB(t *testing.T, tn *tunnel) (first, second []byte) {
	t.Helper()
	m := messagesToB(t, tn, "to another host", "to B")
	return m[0], m[1]
}

// messagesToB seals, with A's next counters, one data message for B per
// text, each carrying a UDP datagram with that text to B's inner port 9999.
func messagesToB(t *testing.T, tn *tunnel, texts ...string) [][]byte {
	t.Helper()
	ks := keystore.Suite(tn.suite)
	ctr, err := tn.a.dp.ReserveCounters(indexA, uint64(len(texts)))
	must(t, err)
	var out [][]byte
	for i, text := range texts {
		inner := udp4Packet(tn.a.inner4, tn.b.inner4, 9999, 9999, []byte(text))
		padded := make([]byte, keystore.PaddedLen(ks, len(inner), tn.mtu))
		copy(padded, inner)
		msg := keystore.AppendDataHeader(nil, ks, indexB, ctr+uint64(i))
		out = append(out, keystore.SealPayload(ks, &tn.keyAB, ctr+uint64(i), msg, padded))
	}
	return out
}

// macOf is the MAC of s's underlay.
func macOf(t *testing.T, s *tunnelSide) net.HardwareAddr {
	t.Helper()
	var mac net.HardwareAddr
	s.ns.MustDo(t, func() error {
		ifi, err := net.InterfaceByName(s.underlay)
		if ifi != nil {
			mac = ifi.HardwareAddr
		}
		return err
	})
	return mac
}

// frameSender returns a function that sends an IPv4 packet from s's
// underlay in an Ethernet frame to dst, through a packet socket.
func frameSender(t *testing.T, s *tunnelSide) func(dst net.HardwareAddr, ipPacket []byte) {
	t.Helper()
	var fd, ifindex int
	var src net.HardwareAddr
	s.ns.MustDo(t, func() error {
		ifi, err := net.InterfaceByName(s.underlay)
		if err != nil {
			return err
		}
		ifindex, src = ifi.Index, ifi.HardwareAddr
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		return err
	})
	t.Cleanup(func() { unix.Close(fd) })
	return func(dst net.HardwareAddr, ipPacket []byte) {
		t.Helper()
		frame := append(append(append([]byte{}, dst...), src...), 0x08, 0x00)
		frame = append(frame, ipPacket...)
		to := &unix.SockaddrLinklayer{Ifindex: ifindex, Halen: 6, Protocol: htons(unix.ETH_P_IP)}
		copy(to.Addr[:], dst)
		if err := unix.Sendto(fd, frame, 0, to); err != nil {
			t.Fatalf("sending a frame to %v: %v", dst, err)
		}
	}
}

// expectOnly checks that B's inner socket received exactly want, that B
// counted one more packet from A, and that no drop counter moved.
func expectOnly(t *testing.T, b *tunnelSide, listener *net.UDPConn, before PeerStats, dropsBefore map[string]uint64, want string) {
	t.Helper()
	if got := readTexts(listener); len(got) != 1 || got[0] != want {
		t.Fatalf("B's inner socket received %q; want only %q", got, want)
	}
	after, err := b.dp.PeerStats(peerOfA)
	must(t, err)
	if after.RxPackets != before.RxPackets+1 {
		t.Errorf("B's rx packets went from %d to %d; want one more", before.RxPackets, after.RxPackets)
	}
	dropsAfter, err := b.dp.Drops()
	must(t, err)
	for r, n := range dropsAfter {
		if n != dropsBefore[r] {
			t.Errorf("drop counter %s went from %d to %d; the foreign message is not ours to count", r, dropsBefore[r], n)
		}
	}
}

// ipStat reads one counter of /proc/net/snmp in s's namespace: the line
// after the header line that starts with proto names the fields.
func ipStat(t *testing.T, s *tunnelSide, proto, field string) uint64 {
	t.Helper()
	out := s.ns.MustRun(t, "cat", "/proc/net/snmp")
	lines := strings.Split(out, "\n")
	for i := 0; i+1 < len(lines); i++ {
		names, values := strings.Fields(lines[i]), strings.Fields(lines[i+1])
		if len(names) == 0 || names[0] != proto || len(values) != len(names) || values[0] != proto {
			continue
		}
		for j, n := range names {
			if n == field {
				v, err := strconv.ParseUint(values[j], 10, 64)
				if err != nil {
					t.Fatalf("%s %s: %q", proto, field, values[j])
				}
				return v
			}
		}
	}
	t.Fatalf("no %s %s in /proc/net/snmp:\n%s", proto, field, out)
	return 0
}
