// SPDX-License-Identifier: MIT

package dataplane

import (
	"errors"
	"fmt"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/wgbpfd/wgbpfd/netif"
)

// hopMTU: the hop never limits packet size; wg_hop_encrypt enforces the
// configured MTU and bpf_skb_change_tail needs room for the outer packet.
const hopMTU = 65535

// createHop makes the veth pair, offloads off (the kernel then segments GSO
// packets and fills checksums before the encrypting program sees them),
// IPv6 off (no link-local chatter into the encryptor), forwarding on for
// hop1 (bpf_fib_lookup requires it on its input device), and brings it up.
//
// The pair's names and alias are netif's (HopNames, HopAlias), so that its
// start-up cleanup and the data plane agree: hop0 (TUN egress redirects
// plaintext into it) and hop1 (the encrypting end).
func (a *attachment) createHop(tunName string) error {
	names := netif.HopNames(tunName)
	h0, h1 := names[0], names[1]
	// Left behind by a daemon of this interface that died: a veth marked
	// with our alias (a crash between creation and marking leaves an
	// unmarked veth under our hashed name, which is ours too).
	stale, err := netif.HopLinks(tunName)
	if err != nil {
		return fmt.Errorf("attach: %w", err)
	}
	if l, err := netlink.LinkByName(h0); err == nil && l.Attrs().Alias == "" {
		if _, ok := l.(*netlink.Veth); ok {
			stale = append(stale, l)
		}
	}
	for _, old := range stale {
		if err := netlink.LinkDel(old); err != nil && !errors.Is(err, unix.ENODEV) {
			return fmt.Errorf("attach: removing stale %s: %w", old.Attrs().Name, err)
		}
	}
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: h0, MTU: hopMTU, TxQLen: 1000}, PeerName: h1}
	if err := netlink.LinkAdd(veth); err != nil {
		return fmt.Errorf("attach: creating %s/%s: %w", h0, h1, err)
	}
	a.hop0, a.hop1 = h0, h1
	for _, name := range []string{h0, h1} {
		l, err := netlink.LinkByName(name)
		if err != nil {
			return fmt.Errorf("attach: %s: %w", name, err)
		}
		if err := netlink.LinkSetAlias(l, netif.HopAlias(tunName)); err != nil {
			return fmt.Errorf("attach: %s alias: %w", name, err)
		}
		if name == h0 {
			a.hop0Idx = l.Attrs().Index
		} else {
			a.hop1Idx = l.Attrs().Index
		}
		if err := netlink.LinkSetMTU(l, hopMTU); err != nil {
			return fmt.Errorf("attach: %s mtu: %w", name, err)
		}
		if err := writeSysctl("net/ipv6/conf/"+name+"/disable_ipv6", "1"); err != nil {
			return err
		}
		if err := disableOffloads(name); err != nil {
			return fmt.Errorf("attach: %s: %w", name, err)
		}
	}
	for _, p := range []string{"net/ipv4/conf/" + h1 + "/forwarding", "net/ipv6/conf/" + h1 + "/forwarding"} {
		if err := writeSysctl(p, "1"); err != nil {
			return err
		}
	}
	for _, name := range []string{h1, h0} {
		l, _ := netlink.LinkByName(name)
		if err := netlink.LinkSetUp(l); err != nil {
			return fmt.Errorf("attach: %s up: %w", name, err)
		}
	}
	return nil
}

// deleteHop removes the veth pair (deleting one end removes both), if it
// is still there.
func (a *attachment) deleteHop() error {
	if a.hop0 == "" {
		return nil
	}
	return a.inNetns(func() error {
		l, err := netlink.LinkByName(a.hop0)
		if err != nil {
			return nil // gone with its namespace
		}
		return netlink.LinkDel(l)
	})
}
