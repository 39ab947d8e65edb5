// SPDX-License-Identifier: MIT

package test

import (
	"net"
	"strings"
	"testing"
)

// TestWgSetListenPort: `wg set IF listen-port N` on a running wgbpfd. A port
// that is taken is refused and changes nothing; a free one takes over at
// once: the old port is released, the tunnel keeps working both ways
// through the data plane on the new port, and the peer follows.
func TestWgSetListenPort(t *testing.T) {
	a, b := startLANPair(t)

	listenPort := func() string {
		return strings.TrimSpace(a.ns.MustRun(t, "wg", "show", a.ifname, "listen-port"))
	}
	// bindable reports whether port is free in A's namespace.
	bindable := func(port int) bool {
		free := false
		a.ns.MustDo(t, func() error {
			c, err := net.ListenUDP("udp", &net.UDPAddr{Port: port})
			if err == nil {
				free = true
				c.Close()
			}
			return nil
		})
		return free
	}

	var taken *net.UDPConn
	a.ns.MustDo(t, func() (err error) {
		taken, err = net.ListenUDP("udp", &net.UDPAddr{Port: 51998})
		return err
	})
	out, err := a.ns.Run("wg", "set", a.ifname, "listen-port", "51998")
	taken.Close()
	if err == nil {
		t.Fatalf("wg set listen-port to a taken port succeeded: %s", out)
	}
	if !strings.Contains(out, "Address already in use") {
		t.Errorf("wg set listen-port to a taken port: %q, want \"Address already in use\"", out)
	}
	if got := listenPort(); got != "51820" {
		t.Fatalf("listen port %s after a refused change, want 51820", got)
	}

	a.ns.MustRun(t, "wg", "set", a.ifname, "listen-port", "51999")
	if got := listenPort(); got != "51999" {
		t.Fatalf("listen port %s, want 51999", got)
	}
	if !bindable(51820) {
		t.Error("the old port 51820 is still bound in A's namespace")
	}
	if bindable(51999) {
		t.Error("nothing listens on the new port 51999")
	}
	// Both directions through the kernel on the new port: A's packets
	// leave from 51999, B roams A's endpoint there and replies to it.
	ping(t, a.ns, b.inner, 3)
	transferTCP(t, a.ns, b.ns, b.inner, 2<<20)
	_, peers := wgDump(t, b.ns, b.ifname)
	if got, want := peers[a.pub().String()].endpoint, endpoint(a.under, 51999); got != want {
		t.Errorf("B's endpoint for A is %s, want %s", got, want)
	}
}

// TestWgSetFwMark: `wg set IF fwmark M` on a running wgbpfd without a full
// tunnel. Encrypted packets then carry M: a policy rule that sends marked
// packets into a table with no way to B cuts the tunnel, and setting the
// mark back to 0 (none) restores it.
func TestWgSetFwMark(t *testing.T) {
	a, b := startLANPair(t)

	a.ns.MustRun(t, "ip", "rule", "add", "fwmark", "0x77", "lookup", "77", "priority", "100")
	a.ns.MustRun(t, "ip", "route", "add", "unreachable", b.under+"/32", "table", "77")
	a.ns.MustRun(t, "wg", "set", a.ifname, "fwmark", "0x77")
	if got := strings.TrimSpace(a.ns.MustRun(t, "wg", "show", a.ifname, "fwmark")); got != "0x77" {
		t.Fatalf("fwmark %s, want 0x77", got)
	}
	if out, err := a.ns.Run("ping", "-c", "2", "-i", "0.2", "-W", "1", b.inner); err == nil {
		t.Fatalf("ping through the tunnel worked with marked packets routed nowhere:\n%s", out)
	}
	a.ns.MustRun(t, "wg", "set", a.ifname, "fwmark", "0")
	if got := strings.TrimSpace(a.ns.MustRun(t, "wg", "show", a.ifname, "fwmark")); got != "off" {
		t.Fatalf("fwmark %s, want off", got)
	}
	ping(t, a.ns, b.inner, 2)
}

// startLANPair runs wgbpfd on two LAN nodes that are each other's peer on
// port 51820, and pings once through the tunnel.
func startLANPair(t *testing.T) (a, b *lanNode) {
	t.Helper()
	prerequisites(t)
	n := newLAN(t, "a", "b")
	a, b = n[0], n[1]
	dir := t.TempDir()
	confA := writeMultiConf(t, dir, a.ifname, a.key, 51820, a.inner+"/24", "",
		confPeer{b.pub(), b.inner + "/32", endpoint(b.under, 51820)})
	confB := writeMultiConf(t, dir, b.ifname, b.key, 51820, b.inner+"/24", "",
		confPeer{a.pub(), a.inner + "/32", endpoint(a.under, 51820)})
	startWgbpfd(t, a.ns, confA, a.ifname)
	startWgbpfd(t, b.ns, confB, b.ifname)
	ping(t, a.ns, b.inner, 2)
	return a, b
}
