// SPDX-License-Identifier: MIT

package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"
)

// udpSocket is the daemon's WireGuard port: handshake messages arrive here
// (the data plane passes them up) and the daemon's own packets leave here.
// One dual-stack socket serves IPv4 and IPv6.
type udpSocket struct {
	conn *net.UDPConn
	port uint16
}

// listenUDP opens the port with SO_MARK = fwmark so that, in a full tunnel,
// handshake packets follow the same policy routing as encrypted ones.
func listenUDP(port int, fwmark uint32) (*udpSocket, error) {
	lc := net.ListenConfig{Control: func(network, address string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			if err := unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 0); err != nil {
				serr = fmt.Errorf("IPV6_V6ONLY=0: %w", err)
				return
			}
			if fwmark != 0 {
				if err := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_MARK, int(fwmark)); err != nil {
					serr = fmt.Errorf("SO_MARK=%d: %w", fwmark, err)
				}
			}
		})
		if err != nil {
			return err
		}
		return serr
	}}
	pc, err := lc.ListenPacket(context.Background(), "udp6", fmt.Sprintf("[::]:%d", port))
	if err != nil {
		if errors.Is(err, unix.EADDRINUSE) {
			return nil, startErr(ExitPortInUse, "ListenPort %d: already in use", port)
		}
		return nil, fmt.Errorf("listening on UDP port %d: %w", port, err)
	}
	conn := pc.(*net.UDPConn)
	ap, _ := netip.ParseAddrPort(conn.LocalAddr().String())
	return &udpSocket{conn: conn, port: ap.Port()}, nil
}

func (s *udpSocket) sendTo(b []byte, to netip.AddrPort) error {
	if to.Addr().Is4() {
		to = netip.AddrPortFrom(netip.AddrFrom16(to.Addr().As16()), to.Port())
	}
	_, err := s.conn.WriteToUDPAddrPort(b, to)
	return err
}

func (s *udpSocket) setMark(fwmark uint32) error {
	rc, err := s.conn.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_MARK, int(fwmark))
	}); err != nil {
		return err
	}
	return serr
}

func (s *udpSocket) close() error { return s.conn.Close() }
