// SPDX-License-Identifier: MIT

package test

import (
	"strings"
	"testing"
	"time"
)

// TestRoaming: while a TCP stream runs from A to B, A's underlay address
// changes (a new address is added, the old one deleted), over IPv4 and
// IPv6, with A a wgbpfd or (IPv4) wireguard-go; B is a wgbpfd. The stream
// arrives intact, B's wg show names the new endpoint, and B's own packets
// reach A there.
func TestRoaming(t *testing.T) {
	prerequisites(t)
	for _, c := range []struct {
		name               string
		wireguardGo        bool
		outer6             bool
		old, new, bits     string
		oldEp, newEp, addF string
	}{
		{"outer4", false, false, "192.0.2.1", "192.0.2.11", "/24", "192.0.2.1:51820", "192.0.2.11:51820", "-4"},
		{"outer6", false, true, "fd00:99::1", "fd00:99::11", "/64", "[fd00:99::1]:51820", "[fd00:99::11]:51820", "-6"},
		{"wireguard-go-roams", true, false, "192.0.2.1", "192.0.2.11", "/24", "192.0.2.1:51820", "192.0.2.11:51820", "-4"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tp := newTopology(t, c.outer6, false)
			// Deleting the primary IPv4 address keeps the secondary (the new one).
			tp.a.MustRun(t, "sysctl", "-qw", "net.ipv4.conf.ul0.promote_secondaries=1")
			confA := tp.writeConf(t, tp.ifA, tp.keyA, 51820, tp.innerA, tp.keyB.Public(), tp.innerB+"/32", endpoint(tp.underB, 51820), "")
			// B knows no endpoint for A: it learns it from A's packets.
			confB := tp.writeConf(t, tp.ifB, tp.keyB, 51820, tp.innerB, tp.keyA.Public(), tp.innerA+"/32", "", "")
			if c.wireguardGo {
				startWireguardGo(t, tp.a, tp.ifA, tp.keyA, 51820, tp.innerA+"/24", tp.keyB.Public().String(), tp.innerB+"/32", endpoint(tp.underB, 51820))
			} else {
				startWgbpfd(t, tp.a, confA, tp.ifA)
			}
			db := startWgbpfd(t, tp.b, confB, tp.ifB)
			ping(t, tp.a, tp.innerB, 2)
			keyA := tp.keyA.Public().String()
			if _, p := wgDump(t, tp.b, tp.ifB); p[keyA].endpoint != c.oldEp {
				t.Fatalf("B's endpoint for A is %q before roaming, want %s", p[keyA].endpoint, c.oldEp)
			}

			s := startStream(t, tp.a, tp.b, tp.innerB)
			time.Sleep(1500 * time.Millisecond)
			add := []string{"ip", "addr", "add", c.new + c.bits, "dev", "ul0"}
			if c.outer6 {
				add = append(add, "nodad")
			}
			tp.a.MustRun(t, add...)
			tp.a.MustRun(t, "ip", "addr", "del", c.old+c.bits, "dev", "ul0")
			if out := tp.a.MustRun(t, "ip", c.addF, "-o", "addr", "show", "dev", "ul0", "scope", "global"); strings.Contains(out, " "+c.old+"/") || !strings.Contains(out, " "+c.new+"/") {
				t.Fatalf("address change did not take:\n%s", out)
			}
			time.Sleep(2 * time.Second)
			s.finish(t)

			_, p := wgDump(t, tp.b, tp.ifB)
			if p[keyA].endpoint != c.newEp {
				t.Errorf("B's endpoint for A is %q after roaming, want %s\n%s", p[keyA].endpoint, c.newEp, db.logText())
			}
			// Both directions work from the new address, B→A included.
			ping(t, tp.b, tp.innerA, 3)
			ping(t, tp.a, tp.innerB, 3)
		})
	}
}
