// SPDX-License-Identifier: MIT

package dataplane

import (
	"strings"
	"testing"
	"time"
)

// TestNeighbourRechecked: encrypted packets mostly leave as clones with the
// MACs bpf_fib_lookup returns, which bypasses the neighbour state machine;
// a STALE entry counts as valid there. Once a second a packet goes through
// bpf_redirect_neigh instead, so the kernel re-checks the entry (STALE →
// DELAY → PROBE → REACHABLE) as it would for any other traffic; a next hop
// whose MAC changed is found again that way.
func TestNeighbourRechecked(t *testing.T) {
	tn := newTunnel(t, SuiteChaCha20Poly1305, false)
	ping(t, tn.a, tn.b.inner4, 2)

	// Probe a STALE entry at once and quickly once it is used.
	tn.a.ns.MustRun(t, "sysctl", "-qw", "net.ipv4.neigh."+tn.a.underlay+".delay_first_probe_time=0",
		"net.ipv4.neigh."+tn.a.underlay+".retrans_time_ms=100")
	state := func() string {
		return strings.TrimSpace(tn.a.ns.MustRun(t, "ip", "neigh", "show", tn.b.outer4.String(), "dev", tn.a.underlay))
	}
	_, mac, ok := strings.Cut(state(), "lladdr ")
	if mac, _, _ = strings.Cut(mac, " "); !ok || mac == "" {
		t.Fatalf("A has no neighbour entry for B: %q", state())
	}
	tn.a.ns.MustRun(t, "ip", "neigh", "replace", tn.b.outer4.String(), "dev", tn.a.underlay,
		"lladdr", mac, "nud", "stale")
	if s := state(); !strings.HasSuffix(s, "STALE") {
		t.Fatalf("could not make the entry stale: %q", s)
	}

	// Only tunnel traffic from here: pings, a few per second.
	deadline := time.Now().Add(5 * time.Second)
	for {
		ping(t, tn.a, tn.b.inner4, 1)
		if strings.HasSuffix(state(), "REACHABLE") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("5 s of tunnel traffic left A's neighbour entry for B unchecked: %q", state())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
