// SPDX-License-Identifier: MIT

package netif

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// fallbackUnderlayMTU is what wg-quick assumes when neither an endpoint nor
// a default route tells it anything.
const fallbackUnderlayMTU = 1500

// minMTU is the smallest MTU the kernel accepts for an IPv4 interface; a
// result below it means the overhead is wrong, not that the path is small.
const minMTU = 68

// SetMTU sets the interface MTU.
func SetMTU(ifindex, mtu int) error {
	if mtu < minMTU {
		return fmt.Errorf("set MTU %d on interface index %d: below the minimum %d", mtu, ifindex, minMTU)
	}
	l, err := linkByIndex(ifindex)
	if err != nil {
		return fmt.Errorf("set MTU %d: %w", mtu, err)
	}
	if err := netlink.LinkSetMTU(l, mtu); err != nil {
		return fmt.Errorf("set MTU %d on %s: %w", mtu, l.Attrs().Name, err)
	}
	return nil
}

// underlay is one candidate MTU with the reason it was chosen.
type underlay struct {
	mtu int
	why string
}

// routeMTU returns the MTU a route implies: its own "mtu" metric if it has
// one, else the MTU of its output device. This is wg-quick's
// `ip route get` / `ip link show dev` pair.
func routeMTU(r netlink.Route, towards string) (underlay, bool, error) {
	if r.LinkIndex == 0 {
		return underlay{}, false, nil
	}
	l, err := netlink.LinkByIndex(r.LinkIndex)
	if err != nil {
		if isNotFound(err) {
			return underlay{}, false, nil
		}
		return underlay{}, false, fmt.Errorf("look up device index %d of the route %s: %w", r.LinkIndex, towards, err)
	}
	name := l.Attrs().Name
	if r.MTU > 0 {
		return underlay{r.MTU, fmt.Sprintf("%d (route mtu, dev %s %s)", r.MTU, name, towards)}, true, nil
	}
	return underlay{l.Attrs().MTU, fmt.Sprintf("%d (dev %s %s)", l.Attrs().MTU, name, towards)}, true, nil
}

// unroutable reports route-lookup errors that only mean "no route", which
// wg-quick ignores (`ip route get ... || true`).
func unroutable(err error) bool {
	return errors.Is(err, unix.ENETUNREACH) || errors.Is(err, unix.EHOSTUNREACH) ||
		errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) ||
		errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM) // prohibit/blackhole routes
}

// AutoMTU computes the tunnel MTU the way wg-quick does when the config sets
// none: for every endpoint, the MTU of the route towards it (the route's mtu
// metric, else its device's MTU), taking the largest; with no usable endpoint,
// the device MTU of the default route (IPv4 first, as wg-quick only looks at
// `ip route show default`; IPv6 is consulted only if there is no IPv4
// default); with neither, 1500. The caller's overhead (outer IP + UDP + the
// transport header and tag, which depends on the suite) is subtracted.
//
// Taking the maximum rather than the minimum is wg-quick's choice: one peer
// behind a small-MTU path should not shrink the tunnel for all others, and
// PMTU discovery inside the tunnel handles the rest.
//
// Call it before installing full-tunnel routes: afterwards an unmarked route
// lookup towards an endpoint would resolve to the tunnel itself.
//
// why is a sentence for the log, e.g.
// "1500 (dev eth0 towards 192.0.2.1) - 80 overhead = 1420".
func AutoMTU(endpoints []netip.Addr, overhead int) (mtu int, why string, err error) {
	if overhead < 0 {
		return 0, "", fmt.Errorf("auto MTU: negative overhead %d", overhead)
	}
	var best underlay
	for _, ep := range endpoints {
		if !ep.IsValid() {
			continue
		}
		ep = ep.Unmap()
		routes, err := netlink.RouteGet(ep.AsSlice())
		if err != nil {
			if unroutable(err) {
				continue
			}
			return 0, "", fmt.Errorf("auto MTU: route towards endpoint %s: %w", ep, err)
		}
		for _, r := range routes {
			u, ok, err := routeMTU(r, "towards "+ep.String())
			if err != nil {
				return 0, "", fmt.Errorf("auto MTU: %w", err)
			}
			if ok && u.mtu > best.mtu {
				best = u
			}
		}
	}
	if best.mtu == 0 {
		u, err := defaultRouteMTU()
		if err != nil {
			return 0, "", fmt.Errorf("auto MTU: %w", err)
		}
		best = u
	}
	if best.mtu == 0 {
		best = underlay{fallbackUnderlayMTU, fmt.Sprintf("%d (no route to any endpoint and no default route)", fallbackUnderlayMTU)}
	}
	mtu = best.mtu - overhead
	why = fmt.Sprintf("%s - %d overhead = %d", best.why, overhead, mtu)
	if mtu < minMTU {
		return 0, why, fmt.Errorf("auto MTU %d is below the minimum %d: %s", mtu, minMTU, why)
	}
	return mtu, why, nil
}

// defaultRouteMTU looks at the first default route of the main table, IPv4
// then IPv6; zero if there is none.
func defaultRouteMTU() (underlay, error) {
	for _, family := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		routes, err := netlink.RouteListFiltered(family, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
		if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
			return underlay{}, fmt.Errorf("list main-table routes (family %d): %w", family, err)
		}
		for _, r := range routes {
			if r.Dst != nil {
				if ones, _ := r.Dst.Mask.Size(); ones != 0 {
					continue
				}
			}
			if r.Type != unix.RTN_UNICAST {
				continue
			}
			u, ok, err := routeMTU(r, "of the default route")
			if err != nil {
				return underlay{}, err
			}
			if ok {
				return u, nil
			}
		}
	}
	return underlay{}, nil
}
