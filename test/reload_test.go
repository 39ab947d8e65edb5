// SPDX-License-Identifier: MIT

package test

import (
	"strings"
	"testing"
	"time"
)

// TestReloadSIGHUP: while a TCP stream runs from A to peer X, A's file is
// rewritten to add peer Y and drop peer Z, and A gets SIGHUP. X's stream
// arrives intact on the same session (no new handshake, same latest
// handshake), Y becomes reachable (including a prefix that needs a new
// route), Z is gone from wg show and no longer answers.
func TestReloadSIGHUP(t *testing.T) {
	prerequisites(t)
	n := newLAN(t, "a", "x", "y", "z")
	a, x, y, z := n[0], n[1], n[2], n[3]
	dir := t.TempDir()
	ep := func(p *lanNode) string { return endpoint(p.under, 51820) }
	px := confPeer{x.pub(), x.inner + "/32", ep(x)}
	py := confPeer{y.pub(), "10.88.0.3/32", ep(y)}
	pz := confPeer{z.pub(), "10.88.0.4/32", ep(z)}
	confA := writeMultiConf(t, dir, a.ifname, a.key, 51820, a.inner+"/24", "", px, pz)
	da := startWgbpfd(t, a.ns, confA, a.ifname)
	for _, p := range []struct {
		n     *lanNode
		addrs string
	}{{x, x.inner + "/24"}, {y, "10.88.0.3/32"}, {z, "10.88.0.4/32"}} {
		conf := writeMultiConf(t, dir, p.n.ifname, p.n.key, 51820, p.addrs, "", confPeer{a.pub(), a.inner + "/32", ep(a)})
		startWgbpfd(t, p.n.ns, conf, p.n.ifname)
	}
	ping(t, a.ns, x.inner, 2)
	ping(t, a.ns, "10.88.0.4", 2)
	noPing(t, a.ns, "10.88.0.3") // not a peer yet

	kx := x.pub().String()
	_, before := wgDump(t, a.ns, a.ifname)
	hsX := strings.Count(da.logText(), "handshake completed")

	s := startStream(t, a.ns, x.ns, x.inner)
	time.Sleep(time.Second)
	writeMultiConf(t, dir, a.ifname, a.key, 51820, a.inner+"/24", "", px, py)
	da.reload(t)
	ping(t, a.ns, "10.88.0.3", 3)
	time.Sleep(time.Second)
	s.finish(t)

	_, after := wgDump(t, a.ns, a.ifname)
	if _, ok := after[z.pub().String()]; ok {
		t.Errorf("peer Z is still in wg show after the reload")
	}
	if p, ok := after[y.pub().String()]; !ok || p.lastHandshake == 0 || p.allowedIPs != "10.88.0.3/32" {
		t.Errorf("peer Y after the reload: %+v (present %v), want a handshake and 10.88.0.3/32", p, ok)
	}
	if after[kx].lastHandshake != before[kx].lastHandshake {
		t.Errorf("X's latest handshake moved across the reload: %d → %d", before[kx].lastHandshake, after[kx].lastHandshake)
	}
	// The only new handshake is Y's.
	if got := strings.Count(da.logText(), "handshake completed") - hsX; got != 1 {
		t.Errorf("%d handshakes completed during the reload, want 1 (Y's):\n%s", got, da.logText())
	}
	noPing(t, a.ns, "10.88.0.4")
	ping(t, a.ns, x.inner, 2)
}
