// SPDX-License-Identifier: MIT

package netif

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"sync"

	"github.com/vishvananda/netlink"
)

// State records every change this process made to the host's network
// configuration for one interface, so Teardown can undo exactly those and
// leave everything else — routes, rules and addresses someone else added,
// or that already existed — alone. It is safe for concurrent use.
//
// State lives only in memory. After kill -9 it is lost; CleanupStale finds
// the leftovers by interface name and fwmark instead.
type State struct {
	mu       sync.Mutex
	name     string
	ifindex  int
	ownsLink bool // the link was created here, so deleting it is ours to do
	addrs    []netip.Prefix
	routes   []netlink.Route
	rules    []ruleRec
	// fullTunnel: the families whose /0 is routed through the interface
	// with wg-quick's fwmark rules, which name the mark (and the table) in
	// use.
	fullTunnel map[int]bool
	sysctls    []sysctlChange
	dnsUndo    []Command
	done       bool
	// adopting: the link was taken over from a daemon that is gone; routes
	// and rules it finds already in place are recorded as this State's,
	// since they are (Teardown removes them).
	adopting bool
}

// NewState starts recording changes for the interface named iface.
func NewState(iface string) *State {
	return &State{name: iface}
}

// FullTunnel reports whether a /0 is routed through the interface with
// the fwmark policy rules, which tie the tunnel to the mark in use.
func (s *State) FullTunnel() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.fullTunnel) > 0
}

// Name is the interface name the State manages.
func (s *State) Name() string { return s.name }

// Ifindex is the interface's index once CreateTUN or UseLink succeeded, else 0.
func (s *State) Ifindex() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ifindex
}

// CreateTUN creates the TUN (see the package-level CreateTUN) and records
// it, so Teardown deletes the link. The returned file belongs to the caller,
// who closes it; closing it alone also removes the (non-persistent) link.
func (s *State) CreateTUN() (*os.File, int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ifindex != 0 {
		return nil, 0, fmt.Errorf("create TUN %s: this state already manages interface index %d", s.name, s.ifindex)
	}
	f, idx, err := CreateTUN(s.name)
	if err != nil {
		return nil, 0, err
	}
	s.ifindex, s.ownsLink = idx, true
	return f, idx, nil
}

// AdoptTUN attaches to the persistent TUN s.Name() left running by a
// daemon that is gone (see OpenTUN) and manages it as if it had created
// it: Teardown deletes it. Until EndAdoption, the routes and rules asked
// for that are already in place are recorded as this State's.
func (s *State) AdoptTUN() (*os.File, int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ifindex != 0 {
		return nil, 0, fmt.Errorf("adopt TUN %s: this state already manages interface index %d", s.name, s.ifindex)
	}
	f, idx, err := OpenTUN(s.name)
	if err != nil {
		return nil, 0, err
	}
	s.ifindex, s.ownsLink, s.adopting = idx, true, true
	return f, idx, nil
}

// EndAdoption ends the bring-up of an adopted link: from now on only what
// this State adds is recorded.
func (s *State) EndAdoption() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.adopting = false
}

// SyncAddresses removes the addresses of an adopted link that keep does not
// list (the file changed while no daemon ran) and returns them. IPv6
// link-local addresses stay.
func (s *State) SyncAddresses(keep []netip.Prefix) ([]netip.Prefix, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	idx, err := s.link()
	if err != nil {
		return nil, err
	}
	l, err := linkByIndex(idx)
	if err != nil {
		return nil, err
	}
	addrs, err := netlink.AddrList(l, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("listing addresses of %s: %w", s.name, err)
	}
	var removed []netip.Prefix
	var errs []error
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok || ip.Is6() && ip.IsLinkLocalUnicast() {
			continue
		}
		bits, _ := a.Mask.Size()
		p := netip.PrefixFrom(ip.Unmap(), bits)
		if slices.Contains(keep, p) {
			continue
		}
		if err := DelAddress(idx, p); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, p)
	}
	return removed, errors.Join(errs...)
}

// UseLink makes the State manage an existing link it did not create (for
// example one a test or another component made). Teardown then removes the
// addresses, routes and rules added through the State but not the link.
func (s *State) UseLink(ifindex int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ifindex != 0 {
		return fmt.Errorf("use link index %d for %s: already managing index %d", ifindex, s.name, s.ifindex)
	}
	l, err := linkByIndex(ifindex)
	if err != nil {
		return fmt.Errorf("use link for %s: %w", s.name, err)
	}
	if l.Attrs().Name != s.name {
		return fmt.Errorf("use link index %d: it is named %s, not %s", ifindex, l.Attrs().Name, s.name)
	}
	s.ifindex = ifindex
	return nil
}

// link returns the managed index or an error if there is none yet. The
// caller holds s.mu.
func (s *State) link() (int, error) {
	if s.done {
		return 0, fmt.Errorf("interface %s: already torn down", s.name)
	}
	if s.ifindex == 0 {
		return 0, fmt.Errorf("interface %s: not created yet", s.name)
	}
	return s.ifindex, nil
}

// AddAddresses assigns each prefix to the interface (see AddAddress).
func (s *State) AddAddresses(prefixes []netip.Prefix) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	idx, err := s.link()
	if err != nil {
		return err
	}
	for _, p := range prefixes {
		if err := AddAddress(idx, p); err != nil {
			return err
		}
		s.addrs = append(s.addrs, p)
	}
	return nil
}

// SetMTU sets the interface MTU. Not undone: the link goes away on teardown.
func (s *State) SetMTU(mtu int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	idx, err := s.link()
	if err != nil {
		return err
	}
	return SetMTU(idx, mtu)
}

// SetUp sets the interface up.
func (s *State) SetUp() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	idx, err := s.link()
	if err != nil {
		return err
	}
	return SetUp(idx)
}

// Teardown undoes everything recorded, in the reverse order of wg-quick's
// "up": DNS first (resolvectl needs the link to exist), then the policy
// rules (so traffic stops being steered into a table about to empty), the
// routes, the sysctls, the addresses when the link is not ours, and finally
// the link. It keeps going past failures and returns them all joined. A
// second call does nothing.
func (s *State) Teardown() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return nil
	}
	s.done = true
	var errs []error
	if err := runCommands(s.dnsUndo); err != nil {
		errs = append(errs, fmt.Errorf("unset DNS for %s: %w", s.name, err))
	}
	for i := len(s.rules) - 1; i >= 0; i-- {
		if err := s.rules[i].undo(); err != nil {
			errs = append(errs, err)
		}
	}
	for i := len(s.routes) - 1; i >= 0; i-- {
		if err := delRoute(s.routes[i]); err != nil {
			errs = append(errs, err)
		}
	}
	for i := len(s.sysctls) - 1; i >= 0; i-- {
		if err := s.sysctls[i].restore(); err != nil {
			errs = append(errs, err)
		}
	}
	if s.ifindex != 0 && !s.ownsLink {
		for _, p := range s.addrs {
			if err := DelAddress(s.ifindex, p); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if s.ifindex != 0 && s.ownsLink {
		if err := deleteLink(s.ifindex, s.name); err != nil {
			errs = append(errs, err)
		}
	}
	s.dnsUndo, s.rules, s.routes, s.sysctls, s.addrs = nil, nil, nil, nil, nil
	return errors.Join(errs...)
}
