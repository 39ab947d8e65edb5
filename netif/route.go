// SPDX-License-Identifier: MIT

package netif

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// DefaultFwmark is wg-quick's first choice of fwmark and table for a full
// tunnel (0xca6c).
const DefaultFwmark = 51820

// familyOf returns the netlink family of a prefix.
func familyOf(p netip.Prefix) int {
	if p.Addr().Unmap().Is4() {
		return netlink.FAMILY_V4
	}
	return netlink.FAMILY_V6
}

// familyName is for messages.
func familyName(family int) string {
	if family == netlink.FAMILY_V4 {
		return "IPv4"
	}
	return "IPv6"
}

// deviceRoute is "ip route add P dev IFACE table T": no gateway, so (as
// iproute2 does) link scope for IPv4; IPv6 routes are always universe.
func deviceRoute(ifindex int, p netip.Prefix, table int) netlink.Route {
	r := netlink.Route{LinkIndex: ifindex, Dst: ipNet(p.Masked()), Table: table}
	if familyOf(p) == netlink.FAMILY_V4 {
		r.Scope = netlink.SCOPE_LINK
	}
	return r
}

// addRoute adds r; an identical route already present is success but is
// reported as not added, so that Teardown will not remove a route it did
// not create.
func addRoute(r netlink.Route) (added bool, err error) {
	if err := netlink.RouteAdd(&r); err != nil {
		if isExist(err) {
			return false, nil
		}
		return false, fmt.Errorf("add route %s dev index %d table %d: %w", r.Dst, r.LinkIndex, r.Table, err)
	}
	return true, nil
}

// delRoute deletes r; a route already gone (e.g. with its link) is success.
func delRoute(r netlink.Route) error {
	if err := netlink.RouteDel(&r); err != nil && !isNotFound(err) {
		return fmt.Errorf("delete route %s dev index %d table %d: %w", r.Dst, r.LinkIndex, r.Table, err)
	}
	return nil
}

// deviceRoutes answers wg-quick's `ip route show dev IFACE match P` for
// each prefix in turn: is there already a main-table route through this
// interface whose destination contains p? Typically that is the prefix
// route of the interface's own address, as for Address = 10.0.0.2/24 with
// AllowedIPs = 10.0.0.0/24 or 10.0.0.3/32; adding a second, more specific
// route would be redundant, and wg-quick skips it. wg-quick lists the
// routes once per prefix, which with thousands of peers made start-up
// quadratic (16,385 uncovered /32s: 3 min 41 s). Here each family's routes are
// listed once, and the routes added since are remembered.
type deviceRoutes struct {
	ifindex int
	listed  map[int]bool          // families listed from the kernel
	set     map[netip.Prefix]bool // destinations, masked
	lens    []int                 // the prefix lengths in set, ascending
}

func newDeviceRoutes(ifindex int) *deviceRoutes {
	return &deviceRoutes{ifindex: ifindex, listed: map[int]bool{}, set: map[netip.Prefix]bool{}}
}

func (d *deviceRoutes) add(p netip.Prefix) {
	p = p.Masked()
	if d.set[p] {
		return
	}
	d.set[p] = true
	if i, found := slices.BinarySearch(d.lens, p.Bits()); !found {
		d.lens = slices.Insert(d.lens, i, p.Bits())
	}
}

// covers reports whether a route through the device contains p.
func (d *deviceRoutes) covers(p netip.Prefix) (bool, error) {
	family := familyOf(p)
	if !d.listed[family] {
		filter := &netlink.Route{LinkIndex: d.ifindex, Table: unix.RT_TABLE_MAIN}
		routes, err := netlink.RouteListFiltered(family, filter, netlink.RT_FILTER_OIF|netlink.RT_FILTER_TABLE)
		if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
			return false, fmt.Errorf("list routes of interface index %d: %w", d.ifindex, err)
		}
		for _, r := range routes {
			if r.Dst == nil { // a default route covers everything
				unspecified := netip.IPv6Unspecified()
				if family == netlink.FAMILY_V4 {
					unspecified = netip.IPv4Unspecified()
				}
				d.add(netip.PrefixFrom(unspecified, 0))
				continue
			}
			a, ok := netip.AddrFromSlice(r.Dst.IP)
			if !ok {
				continue
			}
			ones, _ := r.Dst.Mask.Size()
			d.add(netip.PrefixFrom(a.Unmap(), ones))
		}
		d.listed[family] = true
	}
	for _, bits := range d.lens {
		if bits > p.Bits() {
			break
		}
		if q, err := p.Addr().Prefix(bits); err == nil && d.set[q] {
			return true, nil
		}
	}
	return false, nil
}

// sortAllowed returns the valid prefixes, masked, deduplicated and ordered
// most specific first, as wg-quick does (`sort -nr -k 2 -t /`), so that the
// "already covered" check sees the broader routes only after the narrower
// ones are in place, and the /0s are handled last.
func sortAllowed(allowed []netip.Prefix) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(allowed))
	for _, p := range allowed {
		if !p.IsValid() {
			return nil, fmt.Errorf("allowed IP %v: invalid prefix", p)
		}
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()).Masked()
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	slices.SortStableFunc(out, func(a, b netip.Prefix) int { return cmp.Compare(b.Bits(), a.Bits()) })
	return out, nil
}

// pickFwmark is wg-quick's choice when no FwMark is configured: the first
// table from 51820 up that holds no IPv4 or IPv6 route.
func pickFwmark() (uint32, error) {
	for id := DefaultFwmark; id < DefaultFwmark+1024; id++ {
		empty := true
		for _, family := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
			routes, err := netlink.RouteListFiltered(family, &netlink.Route{Table: id}, netlink.RT_FILTER_TABLE)
			if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
				return 0, fmt.Errorf("pick fwmark: list routes in table %d: %w", id, err)
			}
			if len(routes) > 0 {
				empty = false
			}
		}
		if empty {
			return uint32(id), nil
		}
	}
	return 0, fmt.Errorf("pick fwmark: tables %d..%d are all in use", DefaultFwmark, DefaultFwmark+1023)
}

// AddRoutes installs the routes for the peers' AllowedIPs through the
// interface, following Table= exactly as wg-quick does:
//
//   - TableOff: nothing.
//   - TableID: every prefix, /0 included, into that table; no rules.
//   - TableAuto: every prefix into the main table unless a route through the
//     interface already covers it; a /0 instead triggers the full-tunnel
//     scheme for its family (see addFullTunnel in rule.go): the route goes
//     into table fwmark and two policy rules steer unmarked traffic there.
//
// fwmark is the mark the daemon puts on its own encrypted and handshake
// packets; 0 means "pick one like wg-quick" (the first free table from
// 51820), and the value used is returned so the caller can configure the
// data plane and socket with it. Without a /0 the returned value is fwmark
// unchanged.
func (s *State) AddRoutes(allowed []netip.Prefix, table Table, fwmark uint32) (uint32, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	idx, err := s.link()
	if err != nil {
		return fwmark, err
	}
	if table.Mode == TableOff {
		return fwmark, nil
	}
	sorted, err := sortAllowed(allowed)
	if err != nil {
		return fwmark, err
	}
	onDevice := newDeviceRoutes(idx)
	for _, p := range sorted {
		switch {
		case table.Mode == TableID:
			if err := s.addRouteLocked(deviceRoute(idx, p, table.ID)); err != nil {
				return fwmark, err
			}
		case p.Bits() == 0:
			if fwmark == 0 {
				if fwmark, err = pickFwmark(); err != nil {
					return 0, err
				}
			}
			if err := s.addFullTunnel(idx, p, fwmark); err != nil {
				return fwmark, err
			}
		default:
			covered, err := onDevice.covers(p)
			if err != nil {
				return fwmark, err
			}
			if covered {
				continue
			}
			if err := s.addRouteLocked(deviceRoute(idx, p, unix.RT_TABLE_MAIN)); err != nil {
				return fwmark, err
			}
			onDevice.add(p)
		}
	}
	return fwmark, nil
}

// addRouteLocked adds r and records it if it was new. The caller holds s.mu.
func (s *State) addRouteLocked(r netlink.Route) error {
	added, err := addRoute(r)
	if err != nil {
		return fmt.Errorf("interface %s: %w", s.name, err)
	}
	if added || s.adopting {
		s.routes = append(s.routes, r)
	}
	return nil
}

// RemoveRoutes deletes the routes this State added for the given prefixes
// (a reload that dropped a peer's AllowedIPs); routes it did not add are
// left alone. A /0 that goes takes its family's full tunnel with it, as
// Teardown would: the policy rules this State added for the family (the
// shared suppress rule only when no other full tunnel needs it) and, for
// IPv4, src_valid_mark. The mark stays on the socket and the data plane,
// where nothing routes by it any more.
func (s *State) RemoveRoutes(prefixes []netip.Prefix) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	gone := make(map[netip.Prefix]bool, len(prefixes))
	for _, p := range prefixes {
		gone[p.Masked()] = true
	}
	kept := s.routes[:0]
	for _, r := range s.routes {
		if dst, ok := routeDst(r); ok && gone[dst] {
			if err := delRoute(r); err != nil {
				errs = append(errs, err)
				kept = append(kept, r)
			}
			continue
		}
		kept = append(kept, r)
	}
	s.routes = kept
	for _, p := range prefixes {
		family := familyOf(p)
		if p.Bits() != 0 || !s.fullTunnel[family] ||
			slices.ContainsFunc(s.routes, func(r netlink.Route) bool { return routeIs(r, p) }) {
			continue // not a full tunnel, or its route is still there
		}
		if err := s.removeFullTunnel(family); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// routeDst is r's destination as a prefix; false for none (a default
// route written without one).
func routeDst(r netlink.Route) (netip.Prefix, bool) {
	if r.Dst == nil {
		return netip.Prefix{}, false
	}
	ones, _ := r.Dst.Mask.Size()
	a, ok := netip.AddrFromSlice(r.Dst.IP)
	return netip.PrefixFrom(a.Unmap(), ones), ok
}

// routeIs reports whether r is the route for prefix p.
func routeIs(r netlink.Route, p netip.Prefix) bool {
	dst, ok := routeDst(r)
	return ok && dst == p.Masked()
}
