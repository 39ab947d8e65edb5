// SPDX-License-Identifier: MIT

package netif

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// HopNames are the names of the veth pair the data plane creates next to
// the TUN (GSO packets are bounced through a veth so the kernel segments
// them before encryption): "wgh", ten hex digits of SHA-256(iface) and the
// end's number, 14 bytes whatever the length of iface. A name derived by
// truncating iface would be shared by interfaces whose names differ only
// after the cut ("wg-site-east", "wg-site-east2"). The name only avoids
// clashes; ownership is the alias (HopAlias), which holds iface in full.
func HopNames(iface string) [2]string {
	h := sha256.Sum256([]byte(iface))
	base := "wgh" + hex.EncodeToString(h[:5])
	return [2]string{base + "0", base + "1"}
}

// HopAlias is the alias (IFLA_IFALIAS) set on both ends of iface's veth
// pair: it names the owner, so that cleanup never takes another
// interface's helper for its own.
func HopAlias(iface string) string { return "wgbpfd:" + iface }

// HopLinks lists the veths that belong to iface: kind veth and alias
// HopAlias(iface). Links of other kinds, or veths of other owners, are
// never returned, whatever their names.
func HopLinks(iface string) ([]netlink.Link, error) {
	links, err := netlink.LinkList()
	if err != nil {
		return nil, fmt.Errorf("listing links: %w", err)
	}
	alias := HopAlias(iface)
	var out []netlink.Link
	for _, l := range links {
		if _, ok := l.(*netlink.Veth); ok && l.Attrs().Alias == alias {
			out = append(out, l)
		}
	}
	return out, nil
}

// CleanupStale removes what a previous instance for the same interface and
// fwmark left behind when it died without tearing down (kill -9, OOM, power
// loss in a persistent netns). Call it at start-up, before CreateTUN. It
// returns one line per removal for the log.
//
// How leftovers are recognised — there is no state file, only the two
// identifiers an instance owns:
//
//   - The link named iface. The daemon makes its TUN persistent, so that
//     the data plane outlives it; a start that does not take it over
//     finds it here. It is examined: a TUN with no queue attached is an
//     orphan and is deleted; a TUN with a queue attached
//     belongs to a running process — probably another wgbpfd for the same
//     interface — and CleanupStale refuses with an error and touches
//     nothing; any other kind of link (e.g. a kernel wireguard link from
//     wg-quick) is not ours either, and is reported the same way.
//   - The veth helpers: veths whose alias is HopAlias(iface) (never a
//     name prefix, which interfaces with a common prefix share). A veth has
//     no owner process to ask, but a running instance always also holds its
//     TUN, so once the TUN check above passed they are orphans and are
//     deleted (deleting either end removes both).
//   - Policy rules for fwmark (0 = none): every rule that looks up table
//     fwmark (which includes "not fwmark F lookup F") is deleted, in both
//     families, as wg-quick's teardown does. The shared
//     "lookup main suppress_prefixlength 0" rule is deleted only in a family
//     where such a stale rule was found and no other full tunnel (a
//     "not fwmark X lookup X" rule with another X) still needs it. The
//     fwmark must therefore be unique per instance, as wg-quick's choice of
//     a free table ensures.
//   - Routes: those through our links went with the links; routes that other
//     software put into table fwmark through its own devices are not ours
//     and stay.
//   - DNS: systemd-resolved forgets a link's DNS when the link goes; a
//     resolvconf record does not, so with resolvconf (and no resolved) the
//     record for iface is deleted.
//
// Adopted rather than removed: net.ipv4.conf.all.src_valid_mark stays 1 if
// it is 1 — its value before the crash is unknown, wg-quick never resets it
// either, and it only matters when marks are in use. Pinned BPF objects are
// the data plane's to adopt or remove.
func CleanupStale(iface string, fwmark uint32) ([]string, error) {
	return cleanupStale(iface, fwmark, hostDNSEnv())
}

func cleanupStale(iface string, fwmark uint32, env dnsEnv) ([]string, error) {
	if err := ValidateName(iface); err != nil {
		return nil, err
	}
	var done []string
	removed, err := removeStaleTUN(iface)
	if err != nil {
		return nil, err
	}
	done = append(done, removed...)

	var errs []error
	hops, err := HopLinks(iface)
	if err != nil {
		errs = append(errs, err)
	}
	deleted := map[int]bool{}
	for _, l := range hops {
		name := l.Attrs().Name
		if deleted[l.Attrs().Index] {
			continue
		}
		// Deleting one end removes its peer too (asked before, while it
		// can still be asked).
		peer, perr := netlink.VethPeerIndex(l.(*netlink.Veth))
		if err := netlink.LinkDel(l); err != nil && !isNotFound(err) {
			errs = append(errs, fmt.Errorf("delete stale veth %s: %w", name, err))
			continue
		}
		deleted[l.Attrs().Index] = true
		if perr == nil {
			deleted[peer] = true
		}
		done = append(done, "deleted stale veth "+name)
	}

	if fwmark != 0 {
		for _, family := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
			removed, err := removeStaleRules(family, fwmark)
			done = append(done, removed...)
			if err != nil {
				errs = append(errs, err)
			}
		}
	}

	if c, ok := staleDNSCommand(iface, env); ok {
		if err := runCommand(c); err != nil {
			errs = append(errs, fmt.Errorf("remove stale resolvconf record for %s: %w", iface, err))
		} else {
			done = append(done, "removed resolvconf record for "+iface)
		}
	}
	return done, errors.Join(errs...)
}

// removeStaleTUN deletes an orphaned TUN named iface, or refuses if the link
// is in use or not a TUN.
func removeStaleTUN(iface string) ([]string, error) {
	l, err := netlink.LinkByName(iface)
	if err != nil {
		if isNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("look up %s: %w", iface, err)
	}
	tun, ok := l.(*netlink.Tuntap)
	if !ok {
		return nil, fmt.Errorf("interface %s exists and is a %s link, not a TUN left by wgbpfd; remove it or choose another name", iface, l.Type())
	}
	attached := tun.Queues > 0 // reported for multi-queue TUNs only
	if !attached {
		if attached, err = tunHasQueue(tun.Attrs().Index); err != nil {
			return nil, fmt.Errorf("check whether %s is in use: %w", iface, err)
		}
	}
	if attached {
		return nil, fmt.Errorf("interface %s is in use by a running process (a queue is attached); is another wgbpfd running for it?", iface)
	}
	if err := netlink.LinkDel(l); err != nil && !isNotFound(err) {
		return nil, fmt.Errorf("delete orphaned TUN %s: %w", iface, err)
	}
	return []string{"deleted orphaned persistent TUN " + iface}, nil
}

// removeStaleRules deletes the rules of one family that use table f, then
// the suppress rule if it is no longer needed.
func removeStaleRules(family int, f uint32) ([]string, error) {
	rules, err := listRules(family)
	if err != nil {
		return nil, err
	}
	var done []string
	var errs []error
	for _, r := range rules {
		if uint32(r.Table) != f {
			continue
		}
		if err := delRule(r); err != nil {
			errs = append(errs, err)
			continue
		}
		done = append(done, fmt.Sprintf("deleted stale %s rule %s", familyName(family), describeRule(r)))
	}
	if len(done) == 0 {
		return nil, errors.Join(errs...)
	}
	others, err := otherFullTunnels(family, f)
	if err != nil {
		return done, errors.Join(append(errs, err)...)
	}
	if !others {
		for _, r := range rules {
			if !isSuppressRule(r) {
				continue
			}
			if err := delRule(r); err != nil {
				errs = append(errs, err)
				continue
			}
			done = append(done, fmt.Sprintf("deleted stale %s rule %s", familyName(family), describeRule(r)))
		}
	}
	return done, errors.Join(errs...)
}

// describeRule renders the rules this package deals with the way
// `ip rule show` does.
func describeRule(r netlink.Rule) string {
	s := fmt.Sprintf("%d: ", r.Priority)
	if r.Invert {
		s += "not "
	}
	s += "from all"
	if r.Mark != 0 {
		s += fmt.Sprintf(" fwmark %#x", r.Mark)
	}
	switch r.Table {
	case unix.RT_TABLE_MAIN:
		s += " lookup main"
	case unix.RT_TABLE_LOCAL:
		s += " lookup local"
	case unix.RT_TABLE_DEFAULT:
		s += " lookup default"
	default:
		s += fmt.Sprintf(" lookup %d", r.Table)
	}
	if r.SuppressPrefixlen >= 0 {
		s += fmt.Sprintf(" suppress_prefixlength %d", r.SuppressPrefixlen)
	}
	return s
}
