// SPDX-License-Identifier: MIT

package test

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/wgbpfd/wgbpfd/internal/nstest"
)

// packetTap is an AF_PACKET socket on one interface of a namespace: it sees
// the underlay's frames before any TC program does, as an eavesdropper on
// the wire would.
type packetTap struct {
	fd int
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// newPacketTap opens the tap on ifname inside ns; it closes when t ends.
func newPacketTap(t *testing.T, ns *nstest.NS, ifname string) *packetTap {
	t.Helper()
	tap := &packetTap{fd: -1}
	ns.MustDo(t, func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return err
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}); err != nil {
			unix.Close(fd)
			return err
		}
		tv := unix.NsecToTimeval(int64(100 * time.Millisecond))
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			unix.Close(fd)
			return err
		}
		tap.fd = fd
		return nil
	})
	t.Cleanup(func() { unix.Close(tap.fd) })
	return tap
}

// udpFrame is a UDP datagram seen on the tap.
type udpFrame struct {
	src, dst netip.AddrPort
	payload  []byte
}

// collect returns the first n received UDP datagrams that match, or
// an error after timeout. It may run in its own goroutine.
func (tap *packetTap) collect(n int, timeout time.Duration, match func(udpFrame) bool) ([]udpFrame, error) {
	var out []udpFrame
	buf := make([]byte, 65536)
	deadline := time.Now().Add(timeout)
	for len(out) < n {
		if time.Now().After(deadline) {
			return out, fmt.Errorf("captured %d of %d packets within %v", len(out), n, timeout)
		}
		m, from, err := unix.Recvfrom(tap.fd, buf, 0)
		if err != nil {
			continue // timeout (EAGAIN) or EINTR
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		f, ok := parseUDP4(buf[:m])
		if !ok {
			f, ok = parseUDP6(buf[:m])
		}
		if ok && match(f) {
			out = append(out, f)
		}
	}
	return out, nil
}

// parseUDP4 parses Ethernet/IPv4/UDP.
func parseUDP4(b []byte) (udpFrame, bool) {
	if len(b) < 14+20+8 || binary.BigEndian.Uint16(b[12:14]) != 0x0800 {
		return udpFrame{}, false
	}
	ip := b[14:]
	ihl := int(ip[0]&15) * 4
	if ip[0]>>4 != 4 || ip[9] != unix.IPPROTO_UDP || len(ip) < ihl+8 {
		return udpFrame{}, false
	}
	udp := ip[ihl:]
	ulen := int(binary.BigEndian.Uint16(udp[4:6]))
	if ulen < 8 || ulen > len(udp) {
		return udpFrame{}, false
	}
	return udpFrame{
		src:     netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip[12:16])), binary.BigEndian.Uint16(udp[0:2])),
		dst:     netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip[16:20])), binary.BigEndian.Uint16(udp[2:4])),
		payload: append([]byte(nil), udp[8:ulen]...),
	}, true
}

// parseUDP6 parses Ethernet/IPv6/UDP with no extension header.
func parseUDP6(b []byte) (udpFrame, bool) {
	if len(b) < 14+40+8 || binary.BigEndian.Uint16(b[12:14]) != 0x86dd {
		return udpFrame{}, false
	}
	ip := b[14:]
	if ip[0]>>4 != 6 || ip[6] != unix.IPPROTO_UDP {
		return udpFrame{}, false
	}
	udp := ip[40:]
	ulen := int(binary.BigEndian.Uint16(udp[4:6]))
	if ulen < 8 || ulen > len(udp) {
		return udpFrame{}, false
	}
	return udpFrame{
		src:     netip.AddrPortFrom(netip.AddrFrom16([16]byte(ip[8:24])), binary.BigEndian.Uint16(udp[0:2])),
		dst:     netip.AddrPortFrom(netip.AddrFrom16([16]byte(ip[24:40])), binary.BigEndian.Uint16(udp[2:4])),
		payload: append([]byte(nil), udp[8:ulen]...),
	}, true
}

// rawSender sends IPv4/UDP datagrams with any source address (IP_HDRINCL),
// from inside the namespace it was opened in.
type rawSender struct{ fd int }

func newRawSender(t *testing.T, ns *nstest.NS) *rawSender {
	t.Helper()
	r := &rawSender{fd: -1}
	ns.MustDo(t, func() (err error) {
		r.fd, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
		return err
	})
	t.Cleanup(func() { unix.Close(r.fd) })
	return r
}

// send sends payload from src to dst. The kernel fills in the IP total
// length, identification and checksum; the UDP checksum is 0 (none).
func (r *rawSender) send(src, dst netip.AddrPort, payload []byte) error {
	pkt := make([]byte, 28+len(payload))
	pkt[0] = 0x45
	binary.BigEndian.PutUint16(pkt[6:8], 0x4000) // DF
	pkt[8] = 64
	pkt[9] = unix.IPPROTO_UDP
	s, d := src.Addr().As4(), dst.Addr().As4()
	copy(pkt[12:16], s[:])
	copy(pkt[16:20], d[:])
	binary.BigEndian.PutUint16(pkt[20:22], src.Port())
	binary.BigEndian.PutUint16(pkt[22:24], dst.Port())
	binary.BigEndian.PutUint16(pkt[24:26], uint16(8+len(payload)))
	copy(pkt[28:], payload)
	return unix.Sendto(r.fd, pkt, 0, &unix.SockaddrInet4{Addr: d})
}

// sendFragments sends payload from src to dst as a UDP datagram in two
// IPv4 fragments (the first holding the UDP header and 8k bytes of
// payload), which the receiving stack reassembles.
func (r *rawSender) sendFragments(src, dst netip.AddrPort, payload []byte, id uint16) error {
	udp := make([]byte, 8+len(payload))
	binary.BigEndian.PutUint16(udp[0:2], src.Port())
	binary.BigEndian.PutUint16(udp[2:4], dst.Port())
	binary.BigEndian.PutUint16(udp[4:6], uint16(len(udp)))
	copy(udp[8:], payload)
	split := (len(udp) / 2) &^ 7
	for i, part := range [][]byte{udp[:split], udp[split:]} {
		pkt := make([]byte, 20+len(part))
		pkt[0] = 0x45
		binary.BigEndian.PutUint16(pkt[4:6], id)
		frag := uint16(0)
		if i == 0 {
			frag = 0x2000 // more fragments
		} else {
			frag = uint16(split / 8)
		}
		binary.BigEndian.PutUint16(pkt[6:8], frag)
		pkt[8] = 64
		pkt[9] = unix.IPPROTO_UDP
		s, d := src.Addr().As4(), dst.Addr().As4()
		copy(pkt[12:16], s[:])
		copy(pkt[16:20], d[:])
		copy(pkt[20:], part)
		if err := unix.Sendto(r.fd, pkt, 0, &unix.SockaddrInet4{Addr: d}); err != nil {
			return err
		}
	}
	return nil
}
