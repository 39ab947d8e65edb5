// SPDX-License-Identifier: MIT

package test

import (
	"fmt"
	"testing"
)

// TestMultiPeerRouting: one wgbpfd (hub) with three peers on a bridged
// underlay (B is wireguard-go, C and D wgbpfd). AllowedIPs pick the peer for each destination, longest prefix
// first (C owns 10.88.0.0/16, D the more specific 10.88.4.0/24 and an IPv6
// /64): each ping is answered only by the peer that holds the address, and
// only that peer's counters grow, at the hub and at the peer.
func TestMultiPeerRouting(t *testing.T) {
	prerequisites(t)
	n := newLAN(t, "hub", "b", "c", "d")
	hub, b, c, d := n[0], n[1], n[2], n[3]
	dir := t.TempDir()
	ep := func(x *lanNode) string { return endpoint(x.under, 51820) }
	confHub := writeMultiConf(t, dir, hub.ifname, hub.key, 51820, hub.inner+"/24", "",
		confPeer{b.pub(), b.inner + "/32", ep(b)},
		confPeer{c.pub(), c.inner + "/32, 10.88.0.0/16", ep(c)},
		confPeer{d.pub(), d.inner + "/32, 10.88.4.0/24, fd00:88:4::/64", ep(d)},
	)
	startWgbpfd(t, hub.ns, confHub, hub.ifname)
	addrs := map[*lanNode]string{
		b: b.inner + "/24",
		c: c.inner + "/24, 10.88.3.1/32",
		d: d.inner + "/24, 10.88.4.1/32, fd00:88:4::1/128",
	}
	// B is wireguard-go: a hub's peers need not all be wgbpfd.
	startWireguardGo(t, b.ns, b.ifname, b.key, 51820, addrs[b], hub.pub().String(), hub.inner+"/32", ep(hub))
	for _, x := range []*lanNode{c, d} {
		conf := writeMultiConf(t, dir, x.ifname, x.key, 51820, addrs[x], "",
			confPeer{hub.pub(), hub.inner + "/32, fd00:77::/64", ep(hub)})
		startWgbpfd(t, x.ns, conf, x.ifname)
	}
	// The hub's address on the IPv6 side, for D's replies.
	hub.ns.MustRun(t, "ip", "addr", "add", "fd00:77::1/128", "dev", hub.ifname)

	peers := map[*lanNode]string{b: "B", c: "C", d: "D"}
	for _, tc := range []struct {
		dst  string
		want *lanNode
	}{
		{b.inner, b},
		{c.inner, c},
		{d.inner, d},
		{"10.88.3.1", c},    // inside C's /16 only
		{"10.88.4.1", d},    // D's /24 beats C's /16
		{"fd00:88:4::1", d}, // IPv6 inner
	} {
		_, before := wgDump(t, hub.ns, hub.ifname)
		_, peerBefore := wgDump(t, tc.want.ns, tc.want.ifname)
		const count, size = 5, 1000
		out, err := hub.ns.Run("ping", "-c", fmt.Sprint(count), "-i", "0.2", "-W", "3", "-s", fmt.Sprint(size), tc.dst)
		if err != nil {
			t.Fatalf("ping %s (peer %s): %v\n%s", tc.dst, peers[tc.want], err, out)
		}
		_, after := wgDump(t, hub.ns, hub.ifname)
		_, peerAfter := wgDump(t, tc.want.ns, tc.want.ifname)
		for x, name := range peers {
			k := x.pub().String()
			dtx := after[k].tx - before[k].tx
			if x == tc.want && dtx < count*size {
				t.Errorf("%s: hub sent %d bytes to peer %s, want ≥ %d", tc.dst, dtx, name, count*size)
			}
			// Other peers see at most a keepalive or a handshake.
			if x != tc.want && dtx >= size {
				t.Errorf("%s: hub sent %d bytes to peer %s, which does not hold the address", tc.dst, dtx, name)
			}
		}
		hk := hub.pub().String()
		if drx := peerAfter[hk].rx - peerBefore[hk].rx; drx < count*size {
			t.Errorf("%s: peer %s received %d bytes from the hub, want ≥ %d", tc.dst, peers[tc.want], drx, count*size)
		}
	}
	// The spokes reach the hub too.
	for _, x := range []*lanNode{b, c, d} {
		ping(t, x.ns, hub.inner, 2)
	}
	_, final := wgDump(t, hub.ns, hub.ifname)
	for x, name := range peers {
		p := final[x.pub().String()]
		if p.lastHandshake == 0 || p.endpoint != ep(x) {
			t.Errorf("peer %s: latest handshake %d, endpoint %q; want a handshake at %s", name, p.lastHandshake, p.endpoint, ep(x))
		}
	}
}
