// SPDX-License-Identifier: MIT

package netif

import (
	"net/netip"
	"os"
	"reflect"
	"strings"
	"testing"
)

func prefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

// upTUN creates wgt0 through a State with one IPv4 and one IPv6 address,
// up, and returns the State and the fd (also closed in cleanup).
func upTUN(t *testing.T) (*State, *os.File) {
	t.Helper()
	return upTUNNamed(t, "wgt0")
}

func upTUNNamed(t *testing.T, name string) (*State, *os.File) {
	t.Helper()
	st := NewState(name)
	f, _, err := st.CreateTUN()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if err := st.AddAddresses(prefixes("10.9.0.1/24", "fd00:9::1/64")); err != nil {
		t.Fatal(err)
	}
	if err := st.SetUp(); err != nil {
		t.Fatal(err)
	}
	return st, f
}

func assertLines(t *testing.T, what string, got string, want ...string) {
	t.Helper()
	if g := lines(got); !reflect.DeepEqual(g, want) {
		t.Errorf("%s:\ngot  %q\nwant %q", what, g, want)
	}
}

var baseRules4 = []string{"0:\tfrom all lookup local", "32766:\tfrom all lookup main", "32767:\tfrom all lookup default"}
var baseRules6 = []string{"0:\tfrom all lookup local", "32766:\tfrom all lookup main"}

func TestRoutesAuto(t *testing.T) {
	ns := inNetns(t)
	st, _ := upTUN(t)
	// 10.9.0.0/24 and 10.9.0.5/32 are covered by the address's own prefix
	// route, so wg-quick (and we) add nothing for them.
	allowed := prefixes("10.9.0.5/32", "192.168.50.0/24", "10.9.0.0/24", "172.16.0.0/12", "10.1.2.3/32", "fd00:1::/64", "192.168.50.7/24")
	mark, err := st.AddRoutes(allowed, Table{Mode: TableAuto}, DefaultFwmark)
	if err != nil {
		t.Fatal(err)
	}
	if mark != DefaultFwmark {
		t.Errorf("fwmark %d, want %d unchanged without a /0", mark, DefaultFwmark)
	}
	assertLines(t, "ip -4 route (main)", ipIn(t, ns, "-4", "route", "show", "dev", "wgt0"),
		"10.1.2.3 scope link",
		"10.9.0.0/24 proto kernel scope link src 10.9.0.1",
		"172.16.0.0/12 scope link",
		"192.168.50.0/24 scope link")
	if out := ipIn(t, ns, "-6", "route", "show", "dev", "wgt0"); !strings.Contains(out, "fd00:1::/64 metric 1024") {
		t.Errorf("ip -6 route: %s", out)
	}
	assertLines(t, "ip rule", ipIn(t, ns, "-4", "rule", "show"), baseRules4...)
	if got := len(st.routes); got != 4 {
		t.Errorf("recorded %d routes, want 4 (covered prefixes are not ours): %v", got, st.routes)
	}

	if err := st.Teardown(); err != nil {
		t.Fatal(err)
	}
	if out := ipIn(t, ns, "link", "show"); strings.Contains(out, "wgt0") {
		t.Errorf("wgt0 survived Teardown: %s", out)
	}
	assertLines(t, "ip -4 route after teardown", ipIn(t, ns, "-4", "route", "show"))
	assertLines(t, "ip -6 route after teardown", ipIn(t, ns, "-6", "route", "show"))
}

// TestRoutesAutoDefaultOnDevice: a main-table default route through the
// interface covers every prefix of its family, and only of its family.
func TestRoutesAutoDefaultOnDevice(t *testing.T) {
	ns := inNetns(t)
	st, _ := upTUN(t)
	ipIn(t, ns, "-4", "route", "add", "default", "dev", "wgt0")
	if _, err := st.AddRoutes(prefixes("10.1.0.0/16", "192.0.2.7/32", "fd00:2::/64"), Table{Mode: TableAuto}, DefaultFwmark); err != nil {
		t.Fatal(err)
	}
	if got := len(st.routes); got != 1 || st.routes[0].Dst.String() != "fd00:2::/64" {
		t.Errorf("recorded %v, want only fd00:2::/64 (the IPv4 default covers the rest)", st.routes)
	}
	if err := st.Teardown(); err != nil {
		t.Fatal(err)
	}
}

func TestRoutesNumberedTable(t *testing.T) {
	ns := inNetns(t)
	st, _ := upTUN(t)
	// With an explicit table even a /0 is just a route: no rules.
	if _, err := st.AddRoutes(prefixes("0.0.0.0/0", "10.9.0.0/24", "192.168.50.0/24", "::/0"), Table{Mode: TableID, ID: 1234}, DefaultFwmark); err != nil {
		t.Fatal(err)
	}
	assertLines(t, "table 1234", ipIn(t, ns, "-4", "route", "show", "table", "1234"),
		"default dev wgt0 scope link",
		"10.9.0.0/24 dev wgt0 scope link",
		"192.168.50.0/24 dev wgt0 scope link")
	assertLines(t, "table 1234 v6", ipIn(t, ns, "-6", "route", "show", "table", "1234"),
		"default dev wgt0 metric 1024 pref medium")
	assertLines(t, "ip rule", ipIn(t, ns, "-4", "rule", "show"), baseRules4...)
	assertLines(t, "ip -6 rule", ipIn(t, ns, "-6", "rule", "show"), baseRules6...)
	if err := st.Teardown(); err != nil {
		t.Fatal(err)
	}
	assertLines(t, "table 1234 after teardown", ipIn(t, ns, "route", "show", "table", "1234"))
}

func TestRoutesOff(t *testing.T) {
	ns := inNetns(t)
	st, _ := upTUN(t)
	before := ipIn(t, ns, "route", "show", "table", "all")
	if _, err := st.AddRoutes(prefixes("0.0.0.0/0", "192.168.50.0/24", "::/0"), Table{Mode: TableOff}, DefaultFwmark); err != nil {
		t.Fatal(err)
	}
	if after := ipIn(t, ns, "route", "show", "table", "all"); after != before {
		t.Errorf("Table=off changed routes:\nbefore %s\nafter  %s", before, after)
	}
	assertLines(t, "ip rule", ipIn(t, ns, "-4", "rule", "show"), baseRules4...)
}

// TestFullTunnel checks wg-quick's exact rule set and table for both /0s,
// and that Teardown restores the namespace to what it was.
func TestFullTunnel(t *testing.T) {
	ns := inNetns(t)
	if err := writeSysctl(srcValidMark, "0"); err != nil {
		t.Fatal(err)
	}
	st, _ := upTUN(t)
	mark, err := st.AddRoutes(prefixes("0.0.0.0/0", "::/0", "10.5.0.0/16"), Table{Mode: TableAuto}, DefaultFwmark)
	if err != nil {
		t.Fatal(err)
	}
	if mark != DefaultFwmark {
		t.Errorf("fwmark %d, want %d", mark, DefaultFwmark)
	}
	assertLines(t, "ip rule", ipIn(t, ns, "-4", "rule", "show"),
		"0:\tfrom all lookup local",
		"32764:\tfrom all lookup main suppress_prefixlength 0",
		"32765:\tnot from all fwmark 0xca6c lookup 51820",
		"32766:\tfrom all lookup main",
		"32767:\tfrom all lookup default")
	assertLines(t, "ip -6 rule", ipIn(t, ns, "-6", "rule", "show"),
		"0:\tfrom all lookup local",
		"32764:\tfrom all lookup main suppress_prefixlength 0",
		"32765:\tnot from all fwmark 0xca6c lookup 51820",
		"32766:\tfrom all lookup main")
	assertLines(t, "table 51820", ipIn(t, ns, "-4", "route", "show", "table", "51820"), "default dev wgt0 scope link")
	assertLines(t, "table 51820 v6", ipIn(t, ns, "-6", "route", "show", "table", "51820"), "default dev wgt0 metric 1024 pref medium")
	if out := ipIn(t, ns, "-4", "route", "show", "10.5.0.0/16"); out != "10.5.0.0/16 dev wgt0 scope link" {
		t.Errorf("non-/0 prefix in main: %q", out)
	}
	if v, err := readSysctl(srcValidMark); err != nil || v != "1" {
		t.Errorf("src_valid_mark = %q, %v; want 1", v, err)
	}
	// Unmarked traffic goes into the tunnel, marked traffic does not.
	if out := ipIn(t, ns, "route", "get", "198.51.100.1"); !strings.Contains(out, "dev wgt0 table 51820") {
		t.Errorf("unmarked lookup: %s", out)
	}
	if out, err := runIP(ns, "route", "get", "198.51.100.1", "mark", "51820"); err == nil || strings.Contains(out, "wgt0") {
		t.Errorf("marked lookup must not reach wgt0 (no real default route here, so unreachable): %s %v", out, err)
	}

	// A second AddRoutes for the same /0 (e.g. a peer added later) must not
	// duplicate the rules.
	if _, err := st.AddRoutes(prefixes("0.0.0.0/0"), Table{Mode: TableAuto}, DefaultFwmark); err != nil {
		t.Fatal(err)
	}
	if n := len(lines(ipIn(t, ns, "-4", "rule", "show"))); n != 5 {
		t.Errorf("%d IPv4 rules after a second AddRoutes, want 5", n)
	}

	if err := st.Teardown(); err != nil {
		t.Fatal(err)
	}
	assertLines(t, "ip rule after teardown", ipIn(t, ns, "-4", "rule", "show"), baseRules4...)
	assertLines(t, "ip -6 rule after teardown", ipIn(t, ns, "-6", "rule", "show"), baseRules6...)
	assertLines(t, "table 51820 after teardown", ipIn(t, ns, "route", "show", "table", "51820"))
	if out := ipIn(t, ns, "link", "show"); strings.Contains(out, "wgt0") {
		t.Errorf("wgt0 survived Teardown: %s", out)
	}
	if v, _ := readSysctl(srcValidMark); v != "0" {
		t.Errorf("src_valid_mark = %q after teardown, want 0 restored", v)
	}
	if err := st.Teardown(); err != nil {
		t.Errorf("second Teardown: %v", err)
	}
}

// TestFullTunnelRemoved: a reload whose file drops a /0 takes down that
// family's full tunnel (rules, route, src_valid_mark) and leaves the other
// family's and the other routes.
func TestFullTunnelRemoved(t *testing.T) {
	ns := inNetns(t)
	if err := writeSysctl(srcValidMark, "0"); err != nil {
		t.Fatal(err)
	}
	st, _ := upTUN(t)
	if _, err := st.AddRoutes(prefixes("0.0.0.0/0", "::/0", "10.5.0.0/16"), Table{Mode: TableAuto}, DefaultFwmark); err != nil {
		t.Fatal(err)
	}
	if err := st.RemoveRoutes(prefixes("0.0.0.0/0")); err != nil {
		t.Fatal(err)
	}
	assertLines(t, "ip rule without the IPv4 /0", ipIn(t, ns, "-4", "rule", "show"), baseRules4...)
	assertLines(t, "table 51820 without the IPv4 /0", ipIn(t, ns, "-4", "route", "show", "table", "51820"))
	if v, _ := readSysctl(srcValidMark); v != "0" {
		t.Errorf("src_valid_mark = %q, want 0 restored", v)
	}
	if out := ipIn(t, ns, "-6", "rule", "show"); !strings.Contains(out, "not from all fwmark 0xca6c lookup 51820") {
		t.Errorf("the IPv6 full tunnel went too:\n%s", out)
	}
	if !st.FullTunnel() {
		t.Error("FullTunnel() false while the IPv6 /0 is still routed")
	}
	if err := st.RemoveRoutes(prefixes("::/0")); err != nil {
		t.Fatal(err)
	}
	assertLines(t, "ip -6 rule without the IPv6 /0", ipIn(t, ns, "-6", "rule", "show"), baseRules6...)
	assertLines(t, "table 51820 v6 without the IPv6 /0", ipIn(t, ns, "-6", "route", "show", "table", "51820"))
	if st.FullTunnel() {
		t.Error("FullTunnel() true with no /0 routed")
	}
	if out := ipIn(t, ns, "-4", "route", "show", "10.5.0.0/16"); out != "10.5.0.0/16 dev wgt0 scope link" {
		t.Errorf("10.5.0.0/16 not kept: %q", out)
	}
	if err := st.Teardown(); err != nil {
		t.Fatal(err)
	}
}

// TestFullTunnelPicksFwmark: with fwmark 0 the first table from 51820 with
// no routes is chosen, as wg-quick does.
func TestFullTunnelPicksFwmark(t *testing.T) {
	ns := inNetns(t)
	ipIn(t, ns, "link", "add", "other0", "type", "veth", "peer", "name", "other1")
	ipIn(t, ns, "link", "set", "other0", "up")
	ipIn(t, ns, "route", "add", "192.0.2.0/24", "dev", "other0", "table", "51820")
	st, _ := upTUN(t)
	mark, err := st.AddRoutes(prefixes("0.0.0.0/0"), Table{Mode: TableAuto}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if mark != 51821 {
		t.Fatalf("picked fwmark %d, want 51821 (51820 is in use)", mark)
	}
	if out := ipIn(t, ns, "-4", "rule", "show"); !strings.Contains(out, "not from all fwmark 0xca6d lookup 51821") {
		t.Errorf("ip rule: %s", out)
	}
	if err := st.Teardown(); err != nil {
		t.Fatal(err)
	}
	assertLines(t, "foreign route in 51820 kept", ipIn(t, ns, "route", "show", "table", "51820"), "192.0.2.0/24 dev other0 scope link linkdown")
}

func TestAddRoutesBeforeLink(t *testing.T) {
	if _, err := NewState("wgt0").AddRoutes(prefixes("10.0.0.0/8"), Table{}, 1); err == nil {
		t.Fatal("AddRoutes without a link succeeded")
	}
}

// TestRemoveRoutes: a reload that drops prefixes removes exactly the routes
// this State added for them and keeps the others.
func TestRemoveRoutes(t *testing.T) {
	ns := inNetns(t)
	st, _ := upTUN(t)
	if _, err := st.AddRoutes(prefixes("192.168.50.0/24", "172.16.0.0/12", "fd00:1::/64"), Table{Mode: TableAuto}, DefaultFwmark); err != nil {
		t.Fatal(err)
	}
	if err := st.RemoveRoutes(prefixes("192.168.50.0/24", "fd00:1::/64", "10.200.0.0/16")); err != nil {
		t.Fatal(err)
	}
	assertLines(t, "ip -4 route (main)", ipIn(t, ns, "-4", "route", "show", "dev", "wgt0"),
		"10.9.0.0/24 proto kernel scope link src 10.9.0.1",
		"172.16.0.0/12 scope link")
	if out := ipIn(t, ns, "-6", "route", "show", "dev", "wgt0"); strings.Contains(out, "fd00:1::/64") {
		t.Errorf("fd00:1::/64 still routed: %s", out)
	}
	if got := len(st.routes); got != 1 {
		t.Errorf("recorded %d routes after removal, want 1: %v", got, st.routes)
	}
}
