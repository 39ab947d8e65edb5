// SPDX-License-Identifier: MIT

package netif

import (
	"net/netip"
	"testing"
)

func TestAutoMTU(t *testing.T) {
	ns := inNetns(t)
	// No endpoint, no default route: wg-quick's 1500 fallback.
	mtu, why, err := AutoMTU(nil, 80)
	if err != nil || mtu != 1420 {
		t.Fatalf("AutoMTU(empty netns) = %d, %q, %v; want 1420", mtu, why, err)
	}
	t.Log(why)

	ipIn(t, ns, "link", "add", "v0", "mtu", "1400", "type", "veth", "peer", "name", "v1", "mtu", "1400")
	ipIn(t, ns, "link", "add", "w0", "mtu", "1350", "type", "veth", "peer", "name", "w1")
	for _, l := range []string{"v0", "v1", "w0", "w1"} {
		ipIn(t, ns, "link", "set", l, "up")
	}
	ipIn(t, ns, "addr", "add", "192.0.2.1/24", "dev", "v0")
	ipIn(t, ns, "addr", "add", "2001:db8::1/64", "dev", "v0", "nodad")
	ipIn(t, ns, "addr", "add", "203.0.113.1/24", "dev", "w0")
	ipIn(t, ns, "route", "add", "198.51.100.0/24", "dev", "v0", "mtu", "1300")

	ep := netip.MustParseAddr
	cases := []struct {
		endpoints []netip.Addr
		overhead  int
		want      int
		why       string
	}{
		{[]netip.Addr{ep("192.0.2.2")}, 80, 1320, "1400 (dev v0 towards 192.0.2.2) - 80 overhead = 1320"},
		{[]netip.Addr{ep("2001:db8::2")}, 80, 1320, "1400 (dev v0 towards 2001:db8::2) - 80 overhead = 1320"},
		{[]netip.Addr{ep("::ffff:192.0.2.2")}, 60, 1340, "1400 (dev v0 towards 192.0.2.2) - 60 overhead = 1340"},
		{[]netip.Addr{ep("198.51.100.7")}, 80, 1220, "1300 (route mtu, dev v0 towards 198.51.100.7) - 80 overhead = 1220"},
		// The largest wins, as in wg-quick.
		{[]netip.Addr{ep("203.0.113.9"), ep("192.0.2.2"), ep("198.51.100.7")}, 80, 1320, "1400 (dev v0 towards 192.0.2.2) - 80 overhead = 1320"},
		{[]netip.Addr{ep("203.0.113.9")}, 96, 1254, "1350 (dev w0 towards 203.0.113.9) - 96 overhead = 1254"},
		// Unroutable endpoint, no default route: fallback.
		{[]netip.Addr{ep("100.64.0.1")}, 80, 1420, "1500 (no route to any endpoint and no default route) - 80 overhead = 1420"},
	}
	for _, c := range cases {
		mtu, why, err := AutoMTU(c.endpoints, c.overhead)
		if err != nil || mtu != c.want || why != c.why {
			t.Errorf("AutoMTU(%v, %d) = %d, %q, %v; want %d, %q", c.endpoints, c.overhead, mtu, why, err, c.want, c.why)
		}
	}

	// With a default route, an unroutable endpoint falls back to it.
	ipIn(t, ns, "route", "add", "default", "dev", "w0")
	mtu, why, err = AutoMTU([]netip.Addr{ep("2001:db8:ffff::1")}, 80)
	if want := "1350 (dev w0 of the default route) - 80 overhead = 1270"; err != nil || mtu != 1270 || why != want {
		t.Errorf("AutoMTU via default = %d, %q, %v; want 1270, %q", mtu, why, err, want)
	}

	if _, _, err := AutoMTU(nil, 1500); err == nil {
		t.Error("AutoMTU accepted an overhead leaving no room")
	}
	if _, _, err := AutoMTU(nil, -1); err == nil {
		t.Error("AutoMTU accepted a negative overhead")
	}
}
