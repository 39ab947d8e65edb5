// SPDX-License-Identifier: MIT

package test

import (
	"strings"
	"syscall"
	"testing"
)

// TestFullTunnel: AllowedIPs = 0.0.0.0/0, ::/0 on one side routes
// everything through the tunnel with wg-quick's fwmark rules; the encrypted
// packets carry the mark and do not loop; SIGTERM removes the rules.
func TestFullTunnel(t *testing.T) {
	prerequisites(t)
	tp := newTopology(t, false, false)
	confA := tp.writeConf(t, tp.ifA, tp.keyA, 51820, tp.innerA, tp.keyB.Public(), "0.0.0.0/0, ::/0", endpoint(tp.underB, 51820), "")
	confB := tp.writeConf(t, tp.ifB, tp.keyB, 51820, tp.innerB, tp.keyA.Public(), tp.innerA+"/32", endpoint(tp.underA, 51820), "")
	da := startWgbpfd(t, tp.a, confA, tp.ifA)
	startWgbpfd(t, tp.b, confB, tp.ifB)

	rules := tp.a.MustRun(t, "ip", "-4", "rule", "show")
	for _, want := range []string{"not from all fwmark 0xca6c lookup 51820", "from all lookup main suppress_prefixlength 0"} {
		if !strings.Contains(rules, want) {
			t.Fatalf("ip rule lacks %q:\n%s", want, rules)
		}
	}
	// The tunnel address of B and an address that exists only beyond the
	// tunnel: both go through it.
	waitReachable(t, tp.a, tp.innerB)
	ping(t, tp.a, tp.innerB, 5)
	transferTCP(t, tp.a, tp.b, tp.innerB, 4<<20)
	if out := tp.a.MustRun(t, "ip", "route", "get", "198.51.100.1"); !strings.Contains(out, tp.ifA) {
		t.Errorf("unmarked traffic does not use the tunnel:\n%s", out)
	}
	if out := tp.a.MustRun(t, "ip", "route", "get", tp.underB, "mark", "51820"); strings.Contains(out, tp.ifA) {
		t.Errorf("marked (encrypted) traffic would loop into the tunnel:\n%s", out)
	}
	// The rules route by the mark in use: a new one is refused, not
	// applied halfway (it would loop every encrypted packet).
	if out, err := tp.a.Run("wg", "set", tp.ifA, "fwmark", "0x99"); err == nil || !strings.Contains(out, "Invalid argument") {
		t.Errorf("wg set fwmark under a full tunnel: %v: %q, want Invalid argument", err, out)
	}
	if got := strings.TrimSpace(tp.a.MustRun(t, "wg", "show", tp.ifA, "fwmark")); got != "0xca6c" {
		t.Errorf("fwmark %s after a refused change, want 0xca6c", got)
	}
	ping(t, tp.a, tp.innerB, 1)

	if err := da.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("wgbpfd exited with %v", err)
	}
	if rules := tp.a.MustRun(t, "ip", "-4", "rule", "show"); strings.Contains(rules, "51820") || strings.Contains(rules, "suppress_prefixlength") {
		t.Errorf("rules left after SIGTERM:\n%s", rules)
	}
	if rules := tp.a.MustRun(t, "ip", "-6", "rule", "show"); strings.Contains(rules, "51820") {
		t.Errorf("IPv6 rules left after SIGTERM:\n%s", rules)
	}
}

// TestReloadToFullTunnel: a file rewritten to AllowedIPs = 0.0.0.0/0 and
// reloaded (SIGHUP) on a running interface without a mark, whose peer's
// endpoint is reached through the default route. The full tunnel picks
// its mark as at start-up, and the socket and the data plane take it too:
// otherwise the rules would route every encrypted packet back into the
// tunnel. A reload back to the peer's /32 takes the full tunnel down: the
// rules go, other traffic takes the default route again, and the mark may
// be changed again.
func TestReloadToFullTunnel(t *testing.T) {
	prerequisites(t)
	tp := newTopology(t, false, false)
	// B's endpoint reachable through A's default route only, as an
	// endpoint on the internet is: the route a full tunnel takes over.
	tp.a.MustRun(t, "ip", "addr", "del", tp.underA+"/24", "dev", "ul0")
	tp.a.MustRun(t, "ip", "addr", "add", tp.underA+"/32", "dev", "ul0")
	tp.a.MustRun(t, "ip", "route", "add", "default", "via", tp.underB, "dev", "ul0", "onlink")
	confA := tp.writeConf(t, tp.ifA, tp.keyA, 51820, tp.innerA, tp.keyB.Public(), tp.innerB+"/32", endpoint(tp.underB, 51820), "")
	confB := tp.writeConf(t, tp.ifB, tp.keyB, 51820, tp.innerB, tp.keyA.Public(), tp.innerA+"/32", endpoint(tp.underA, 51820), "")
	da := startWgbpfd(t, tp.a, confA, tp.ifA)
	startWgbpfd(t, tp.b, confB, tp.ifB)
	ping(t, tp.a, tp.innerB, 2)
	if got := strings.TrimSpace(tp.a.MustRun(t, "wg", "show", tp.ifA, "fwmark")); got != "off" {
		t.Fatalf("fwmark %s before the reload, want off", got)
	}

	tp.writeConf(t, tp.ifA, tp.keyA, 51820, tp.innerA, tp.keyB.Public(), "0.0.0.0/0", endpoint(tp.underB, 51820), "")
	da.reload(t)
	if got := strings.TrimSpace(tp.a.MustRun(t, "wg", "show", tp.ifA, "fwmark")); got != "0xca6c" {
		t.Errorf("fwmark %s after the reload, want 0xca6c (the full tunnel's)", got)
	}
	if out := tp.a.MustRun(t, "ip", "route", "get", "198.51.100.1"); !strings.Contains(out, tp.ifA) {
		t.Errorf("unmarked traffic does not use the tunnel:\n%s", out)
	}
	ping(t, tp.a, tp.innerB, 3)
	transferTCP(t, tp.a, tp.b, tp.innerB, 1<<20)

	tp.writeConf(t, tp.ifA, tp.keyA, 51820, tp.innerA, tp.keyB.Public(), tp.innerB+"/32", endpoint(tp.underB, 51820), "")
	da.reload(t)
	if out := tp.a.MustRun(t, "ip", "rule", "show"); strings.Contains(out, "fwmark") {
		t.Errorf("full-tunnel rules left after the reload back:\n%s", out)
	}
	if out := tp.a.MustRun(t, "ip", "route", "get", "198.51.100.1"); strings.Contains(out, tp.ifA) || !strings.Contains(out, "ul0") {
		t.Errorf("other traffic still goes into the tunnel:\n%s", out)
	}
	ping(t, tp.a, tp.innerB, 2)
	tp.a.MustRun(t, "wg", "set", tp.ifA, "fwmark", "0x77")
	if got := strings.TrimSpace(tp.a.MustRun(t, "wg", "show", tp.ifA, "fwmark")); got != "0x77" {
		t.Errorf("fwmark %s after wg set, want 0x77 (no full tunnel holds the mark any more)", got)
	}
}
