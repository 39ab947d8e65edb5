// SPDX-License-Identifier: MIT

package netif

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Full-tunnel routing (AllowedIPs containing 0.0.0.0/0 or ::/0 with
// Table = auto) is wg-quick's fwmark scheme. For each family it adds, in this
// order, which the kernel numbers 32765 and 32764 (an ip rule without a
// priority gets one less than the first non-local rule), so the second is
// evaluated first:
//
//	32764: from all lookup main suppress_prefixlength 0
//	32765: not from all fwmark F lookup F
//	32766: from all lookup main            (the kernel's own)
//
// and the tunnel's default route goes only into table F.
//
// Why the encrypted packets do not loop back into the tunnel: the daemon's
// UDP socket (SO_MARK) and the data plane (skb->mark, set before
// bpf_redirect_neigh's route lookup) put mark F on every packet that
// carries tunnel traffic to an endpoint. Rule 32764 looks in main but
// suppresses any result with prefix length 0, i.e. it lets specific main
// routes — the LAN, the underlay subnet, an explicit host route — win, but
// never main's default route. Rule 32765 sends everything *without* mark F
// to table F, whose only route is "default dev wg0": plaintext goes into the
// tunnel. A marked packet is excluded from 32765 by "not fwmark F"; 32764
// can send it only along a specific main-table route, which is the right way
// to the endpoint anyway; otherwise it falls through to 32766, the main table
// with the real default route through the physical underlay. Only unmarked
// traffic can reach table F and so wg0, and everything wgbpfd emits towards
// an endpoint is marked, so none of it is routed back into wg0. Nothing here
// depends on the endpoint address, which is why it keeps working when peers
// roam (a per-endpoint host route, the older approach, would not).
//
// For IPv4 wg-quick also sets net.ipv4.conf.all.src_valid_mark=1: reverse-
// path filtering (rp_filter) validates the source of an incoming packet with
// a route lookup, and without src_valid_mark that lookup ignores the mark, so
// a handshake packet from the endpoint would be checked against table F
// (→ wg0), fail for the underlay interface it arrived on, and be dropped
// under strict rp_filter. With it, a packet that is given mark F on ingress
// (wg-quick restores it from conntrack; the data plane's ingress program can
// set skb->mark for packets it passes to the socket) is validated through
// the main table.
//
// wg-quick additionally installs nftables/iptables "raw" rules that drop
// packets addressed to the tunnel address arriving on other interfaces and
// the CONNMARK save/restore rules; those are not done here.

// fullTunnelRules are the two rules for one family and fwmark/table f.
func fullTunnelRules(family int, f uint32) (notMark, suppress netlink.Rule) {
	n := netlink.NewRule()
	n.Family = family
	n.Mark = f
	n.Invert = true
	n.Table = int(f)
	s := netlink.NewRule()
	s.Family = family
	s.Table = unix.RT_TABLE_MAIN
	s.SuppressPrefixlen = 0
	return *n, *s
}

// isNotMarkRule reports "not fwmark F lookup F" for any F (f == 0) or for f.
func isNotMarkRule(r netlink.Rule, f uint32) bool {
	fullMask := r.Mask == nil || *r.Mask == 0xffffffff
	return r.Invert && r.Mark != 0 && fullMask && uint32(r.Table) == r.Mark &&
		(f == 0 || r.Mark == f) && r.Src == nil && r.Dst == nil
}

// isSuppressRule reports "from all lookup main suppress_prefixlength 0".
func isSuppressRule(r netlink.Rule) bool {
	return !r.Invert && r.Table == unix.RT_TABLE_MAIN && r.SuppressPrefixlen == 0 &&
		r.Mark == 0 && r.Src == nil && r.Dst == nil
}

// listRules lists the rules of one family.
func listRules(family int) ([]netlink.Rule, error) {
	rules, err := netlink.RuleList(family)
	if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
		return nil, fmt.Errorf("list %s rules: %w", familyName(family), err)
	}
	return rules, nil
}

// addRuleOnce adds r unless an equivalent rule is already there (left by a
// crashed run, or shared with another tunnel using the same scheme), and
// reports whether it added one, so Teardown removes only what it created.
func addRuleOnce(r netlink.Rule, same func(netlink.Rule) bool) (bool, error) {
	existing, err := listRules(r.Family)
	if err != nil {
		return false, err
	}
	for _, e := range existing {
		if same(e) {
			return false, nil
		}
	}
	if err := netlink.RuleAdd(&r); err != nil {
		if isExist(err) {
			return false, nil
		}
		return false, fmt.Errorf("add %s rule (table %d, fwmark %d): %w", familyName(r.Family), r.Table, r.Mark, err)
	}
	return true, nil
}

// ruleRec is a rule this process added. A shared rule (the suppress rule,
// identical for every full tunnel) is left in place at teardown while
// another full tunnel with a different fwmark still uses it.
type ruleRec struct {
	rule   netlink.Rule
	fwmark uint32
	shared bool
}

// undo deletes the recorded rule unless it is shared and still needed.
func (rr ruleRec) undo() error {
	if rr.shared {
		needed, err := otherFullTunnels(rr.rule.Family, rr.fwmark)
		if err != nil {
			return err
		}
		if needed {
			return nil
		}
	}
	return delRule(rr.rule)
}

// delRule deletes a rule we added. A rule we added had no priority, so it is
// matched by its selectors; rules that are already gone are success.
func delRule(r netlink.Rule) error {
	if err := netlink.RuleDel(&r); err != nil && !isNotFound(err) {
		return fmt.Errorf("delete %s rule (table %d, fwmark %d): %w", familyName(r.Family), r.Table, r.Mark, err)
	}
	return nil
}

// otherFullTunnels reports whether a "not fwmark X lookup X" rule with X != f
// exists in the family: another tunnel still needs the shared pieces (the
// suppress rule, src_valid_mark).
func otherFullTunnels(family int, f uint32) (bool, error) {
	rules, err := listRules(family)
	if err != nil {
		return false, err
	}
	for _, r := range rules {
		if isNotMarkRule(r, 0) && r.Mark != f {
			return true, nil
		}
	}
	return false, nil
}

// srcValidMark is the IPv4 sysctl wg-quick sets for full tunnels.
const srcValidMark = "/proc/sys/net/ipv4/conf/all/src_valid_mark"

// addFullTunnel installs the scheme above for the family of p (a /0) and
// records each change. The caller holds s.mu.
func (s *State) addFullTunnel(ifindex int, p netip.Prefix, f uint32) error {
	family := familyOf(p)
	notMark, suppress := fullTunnelRules(family, f)
	added, err := addRuleOnce(notMark, func(r netlink.Rule) bool { return isNotMarkRule(r, f) })
	if err != nil {
		return fmt.Errorf("full tunnel on %s: %w", s.name, err)
	}
	if added || s.adopting {
		s.rules = append(s.rules, ruleRec{rule: notMark, fwmark: f})
	}
	added, err = addRuleOnce(suppress, isSuppressRule)
	if err != nil {
		return fmt.Errorf("full tunnel on %s: %w", s.name, err)
	}
	if added || s.adopting {
		s.rules = append(s.rules, ruleRec{rule: suppress, fwmark: f, shared: true})
	}
	if err := s.addRouteLocked(deviceRoute(ifindex, p, int(f))); err != nil {
		return err
	}
	if s.fullTunnel == nil {
		s.fullTunnel = make(map[int]bool)
	}
	s.fullTunnel[family] = true
	if family == netlink.FAMILY_V4 {
		c, err := setSysctl(srcValidMark, "1")
		if err != nil {
			return fmt.Errorf("full tunnel on %s: %w", s.name, err)
		}
		if c != nil {
			// Restoring it under another full tunnel would break that tunnel's
			// rp_filter checks, so only restore when we were the last.
			c.unlessNeeded = func() (bool, error) { return otherFullTunnels(netlink.FAMILY_V4, f) }
			s.sysctls = append(s.sysctls, *c)
		}
	}
	return nil
}

// removeFullTunnel undoes addFullTunnel for one family, for a reload whose
// file no longer routes that family's /0 here (its route is already gone).
// What fails to go stays recorded for Teardown. The caller holds s.mu.
func (s *State) removeFullTunnel(family int) error {
	var errs []error
	rules := s.rules[:0]
	for _, rr := range s.rules {
		if rr.rule.Family == family {
			if err := rr.undo(); err != nil {
				errs = append(errs, err)
				rules = append(rules, rr)
			}
			continue
		}
		rules = append(rules, rr)
	}
	s.rules = rules
	if family == netlink.FAMILY_V4 {
		sysctls := s.sysctls[:0]
		for _, c := range s.sysctls {
			if c.path == srcValidMark {
				if err := c.restore(); err != nil {
					errs = append(errs, err)
					sysctls = append(sysctls, c)
				}
				continue
			}
			sysctls = append(sysctls, c)
		}
		s.sysctls = sysctls
	}
	if len(errs) > 0 {
		// Still a full tunnel as far as the mark goes: a rule that would
		// not go still routes by it.
		return fmt.Errorf("full tunnel on %s: %w", s.name, errors.Join(errs...))
	}
	delete(s.fullTunnel, family)
	return nil
}
