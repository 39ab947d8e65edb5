// SPDX-License-Identifier: MIT

package netif

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// ipNet converts a prefix to the net.IPNet netlink wants, keeping the host
// bits (an interface address 10.0.0.2/24 must stay .2, not become .0).
func ipNet(p netip.Prefix) *net.IPNet {
	a := p.Addr().Unmap()
	return &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(p.Bits(), a.BitLen())}
}

// addrFor builds the netlink address for p. IPv6 addresses get IFA_F_NODAD:
// a TUN is a point-to-point layer-3 link with no neighbours to collide with,
// and duplicate address detection would only leave the address "tentative"
// for a second or so, during which binding to it fails.
func addrFor(p netip.Prefix) *netlink.Addr {
	a := &netlink.Addr{IPNet: ipNet(p)}
	if p.Addr().Unmap().Is6() {
		a.Flags = unix.IFA_F_NODAD
	}
	return a
}

// AddAddress assigns p (an interface address with its prefix length, e.g.
// 10.0.0.2/24 or fd00::2/64, as in the Address= line) to the interface. An
// address that is already assigned is not an error, as re-running setup
// after a partial failure must converge.
func AddAddress(ifindex int, p netip.Prefix) error {
	if !p.IsValid() {
		return fmt.Errorf("add address %v: invalid prefix", p)
	}
	l, err := linkByIndex(ifindex)
	if err != nil {
		return fmt.Errorf("add address %s: %w", p, err)
	}
	if err := netlink.AddrAdd(l, addrFor(p)); err != nil && !isExist(err) {
		return fmt.Errorf("add address %s to %s: %w", p, l.Attrs().Name, err)
	}
	return nil
}

// DelAddress removes p from the interface; an address or link that is
// already gone is not an error.
func DelAddress(ifindex int, p netip.Prefix) error {
	l, err := linkByIndex(ifindex)
	if err != nil {
		if isNotFound(err) {
			return nil
		}
		return fmt.Errorf("delete address %s: %w", p, err)
	}
	if err := netlink.AddrDel(l, addrFor(p)); err != nil && !isNotFound(err) {
		return fmt.Errorf("delete address %s from %s: %w", p, l.Attrs().Name, err)
	}
	return nil
}
