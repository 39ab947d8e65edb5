// SPDX-License-Identifier: MIT

package ratelimiter

import (
	"net/netip"
	"testing"
	"time"
)

var t0 = time.Unix(1700000000, 0)

func countAllowed(l *Limiter, addr netip.Addr, now time.Time, n int) int {
	allowed := 0
	for range n {
		if l.Allow(addr, now) {
			allowed++
		}
	}
	return allowed
}

func TestBurstThenRefill(t *testing.T) {
	l := New()
	a := netip.MustParseAddr("192.0.2.1")
	if got := countAllowed(l, a, t0, 20); got != PacketsBurstable {
		t.Fatalf("burst allowed %d, want %d", got, PacketsBurstable)
	}
	// 49 ms later a token is not yet back; at 50 ms exactly one is.
	if l.Allow(a, t0.Add(49*time.Millisecond)) {
		t.Fatal("allowed before a token refilled")
	}
	if got := countAllowed(l, a, t0.Add(50*time.Millisecond), 3); got != 1 {
		t.Fatalf("after 50 ms allowed %d, want 1", got)
	}
	// Over one second at a steady 20/s everything passes.
	now := t0.Add(time.Second)
	l2 := New()
	passed := 0
	for i := range 100 {
		if l2.Allow(a, now.Add(time.Duration(i)*50*time.Millisecond)) {
			passed++
		}
	}
	if passed != 100 {
		t.Fatalf("steady 20/s: %d of 100 passed", passed)
	}
}

func TestSourcesAreIndependent(t *testing.T) {
	l := New()
	a := netip.MustParseAddr("192.0.2.1")
	b := netip.MustParseAddr("192.0.2.2")
	countAllowed(l, a, t0, 10)
	if !l.Allow(b, t0) {
		t.Fatal("exhausting one IPv4 source limited another")
	}
	// IPv4-mapped IPv6 shares the IPv4 bucket.
	if l.Allow(netip.MustParseAddr("::ffff:192.0.2.1"), t0) {
		t.Fatal("IPv4-mapped form escaped the IPv4 bucket")
	}
}

func TestIPv6GroupedBy64(t *testing.T) {
	l := New()
	if got := countAllowed(l, netip.MustParseAddr("2001:db8:1:2::1"), t0, 10); got != PacketsBurstable {
		t.Fatalf("burst %d", got)
	}
	if l.Allow(netip.MustParseAddr("2001:db8:1:2:ffff::9"), t0) {
		t.Fatal("another address in the same /64 was not limited")
	}
	if !l.Allow(netip.MustParseAddr("2001:db8:1:3::1"), t0) {
		t.Fatal("a different /64 was limited")
	}
}

func TestClockBackwardsMintsNothing(t *testing.T) {
	l := New()
	a := netip.MustParseAddr("192.0.2.1")
	countAllowed(l, a, t0, 10)
	if l.Allow(a, t0.Add(-time.Hour)) {
		t.Fatal("stepping the clock back refilled the bucket")
	}
}

func TestGarbageCollection(t *testing.T) {
	l := New()
	for i := range 50 {
		l.Allow(netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), t0)
	}
	if l.Len() != 50 {
		t.Fatalf("Len = %d, want 50", l.Len())
	}
	l.GC(t0.Add(500 * time.Millisecond))
	if l.Len() != 50 {
		t.Fatalf("GC dropped fresh entries: Len = %d", l.Len())
	}
	// A later Allow sweeps lazily: only the new source remains.
	l.Allow(netip.MustParseAddr("192.0.2.9"), t0.Add(2*time.Second))
	if l.Len() != 1 {
		t.Fatalf("lazy GC left %d entries, want 1", l.Len())
	}
}
