// SPDX-License-Identifier: MIT

package dataplane

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// The ingress program takes a data message only when its outer destination
// is one of this host's addresses (bpf/lib/outer.h): what the stack would hand
// to the daemon's socket. No BPF helper answers "is this address local" on
// a host that does not forward, so the namespace's addresses are mirrored
// into local_addrs, IPv4 ones v4-mapped. An address that appears before the
// mirror learns it costs nothing but the fast path: its messages go up the
// stack to the daemon, which checks them against the same replay window.

// addrTracker keeps local_addrs in step with the namespace's addresses.
type addrTracker struct {
	stop chan struct{}
	done chan struct{}
}

func localAddrKey(a netip.Addr) wgbpfWgLocalAddr {
	return wgbpfWgLocalAddr{Addr: a.Unmap().As16()}
}

func addrOf(ipn []byte) (netip.Addr, bool) {
	a, ok := netip.AddrFromSlice(ipn)
	return a.Unmap(), ok
}

// trackAddrs subscribes to ns's address updates, then lists the current
// ones (in that order, so none slips between); the calling thread must be in
// ns.
func (d *Dataplane) trackAddrs(ns netns.NsHandle, report func(error)) (*addrTracker, error) {
	t := &addrTracker{stop: make(chan struct{}), done: make(chan struct{})}
	updates := make(chan netlink.AddrUpdate, 64)
	if err := netlink.AddrSubscribeWithOptions(updates, t.stop, netlink.AddrSubscribeOptions{
		Namespace: &ns,
		ErrorCallback: func(err error) {
			select {
			case <-t.stop: // the closed socket's receive error: not news
			default:
				if report != nil {
					report(fmt.Errorf("address watcher: %w", err))
				}
			}
		},
	}); err != nil {
		return nil, fmt.Errorf("subscribing to address updates: %w", err)
	}
	m := d.objs.LocalAddrs
	go func() {
		defer close(t.done)
		for u := range updates {
			a, ok := addrOf(u.LinkAddress.IP)
			if !ok {
				continue
			}
			var err error
			if u.NewAddr {
				err = m.Update(localAddrKey(a), uint8(1), ebpf.UpdateAny)
			} else if err = m.Delete(localAddrKey(a)); errors.Is(err, ebpf.ErrKeyNotExist) {
				err = nil
			}
			if err != nil && report != nil {
				report(fmt.Errorf("address watcher: %s: %w", a, err))
			}
		}
	}()
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		t.close()
		return nil, fmt.Errorf("listing addresses: %w", err)
	}
	for _, ad := range addrs {
		if a, ok := addrOf(ad.IP); ok {
			if err := m.Update(localAddrKey(a), uint8(1), ebpf.UpdateAny); err != nil {
				t.close()
				return nil, fmt.Errorf("local address %s: %w", a, err)
			}
		}
	}
	return t, nil
}

// close stops the watcher and waits for it.
func (t *addrTracker) close() error { return stopAndWait(t.stop, t.done, "address watcher") }

// pruneLocalAddrs deletes from a taken-over local_addrs the addresses the
// namespace no longer has (removed while no daemon watched); trackAddrs
// then adds the current ones.
func (d *Dataplane) pruneLocalAddrs() error {
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return fmt.Errorf("listing addresses: %w", err)
	}
	have := map[wgbpfWgLocalAddr]bool{}
	for _, ad := range addrs {
		if a, ok := addrOf(ad.IP); ok {
			have[localAddrKey(a)] = true
		}
	}
	var stale []wgbpfWgLocalAddr
	var k wgbpfWgLocalAddr
	var v uint8
	it := d.objs.LocalAddrs.Iterate()
	for it.Next(&k, &v) {
		if !have[k] {
			stale = append(stale, k)
		}
	}
	for _, k := range stale {
		if err := d.objs.LocalAddrs.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return err
		}
	}
	return it.Err()
}
