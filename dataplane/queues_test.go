// SPDX-License-Identifier: MIT

package dataplane

import (
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/wgbpfd/wgbpfd/netif"
)

// TestQueueDrops makes each queue between the data plane's programs refuse
// packets, by taking down the link it feeds, and checks that QueueDrops
// counts them under that queue's name and no other.
func TestQueueDrops(t *testing.T) {
	tn := newTunnel(t, SuiteChaCha20Poly1305, false)
	ping(t, tn.a, tn.b.inner4, 2) // neighbours resolved, both ways work

	const n = 10
	payload := make([]byte, 1000) // ≥ WG_HANDOFF_MIN: decrypted on another CPU
	conn := udpSocket(t, tn.a, netip.AddrPortFrom(tn.a.inner4, 0))
	dst := netip.AddrPortFrom(tn.b.inner4, 9)
	hops := netif.HopNames("wg0")
	hop0, hop1 := hops[0], hops[1]

	for _, c := range []struct {
		queue string
		side  *tunnelSide
		link  string
	}{
		{"encrypt", tn.a, hop1},  // A's hop0 cannot hand plaintext to hop1
		{"decrypt", tn.b, hop0},  // B's hop1 cannot hand ciphertext to hop0
		{"deliver", tn.b, "wg0"}, // B cannot deliver into its TUN
	} {
		if c.queue == "decrypt" && runtime.NumCPU() < 2 {
			t.Logf("one CPU: decryption is never handed off, no decrypt queue to test")
			continue
		}
		before := queueDrops(t, c.side.dp)
		c.side.ns.MustRun(t, "ip", "link", "set", c.link, "down")
		for range n {
			if _, err := conn.WriteToUDPAddrPort(payload, dst); err != nil {
				t.Fatalf("%s: sending: %v", c.queue, err)
			}
		}
		var after map[string]uint64
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			after = queueDrops(t, c.side.dp)
			if after[c.queue] >= before[c.queue]+n || time.Now().After(deadline) {
				break
			}
		}
		c.side.ns.MustRun(t, "ip", "link", "set", c.link, "up")
		if got := after[c.queue] - before[c.queue]; got < n {
			t.Errorf("%s: %d of %d refused packets counted (before %v, after %v)", c.queue, got, n, before, after)
		}
		for _, other := range QueueNames {
			if other != c.queue && after[other] != before[other] {
				t.Errorf("%s refused packets, but %s counted them: before %v, after %v", c.queue, other, before, after)
			}
		}
	}
	// Every link is back up (IPv4 addresses and their routes survive): the
	// tunnel works again.
	ping(t, tn.a, tn.b.inner4, 2)
}

func queueDrops(t *testing.T, dp *Dataplane) map[string]uint64 {
	t.Helper()
	d, err := dp.QueueDrops()
	must(t, err)
	if len(d) != len(QueueNames) {
		t.Fatalf("QueueDrops returned %v, want the queues %v", d, QueueNames)
	}
	return d
}
