// SPDX-License-Identifier: MIT

package ratelimiter

import (
	"net/netip"
	"testing"
	"time"
)

// FuzzAllow: any address bytes and time steps; a source never gets more than
// the burst plus what the elapsed time refills.
func FuzzAllow(f *testing.F) {
	f.Add([]byte{192, 0, 2, 1}, uint16(10), uint8(50))
	f.Add([]byte{0x20, 0x01, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, uint16(1000), uint8(3))
	f.Fuzz(func(t *testing.T, raw []byte, n uint16, stepMs uint8) {
		addr, ok := netip.AddrFromSlice(raw)
		if !ok {
			return
		}
		l := New()
		now := time.Unix(1700000000, 0)
		step := time.Duration(stepMs) * time.Millisecond
		allowed := 0
		for i := range int(n % 2000) {
			if l.Allow(addr, now.Add(time.Duration(i)*step)) {
				allowed++
			}
		}
		elapsed := time.Duration(int(n%2000)) * step
		if limit := PacketsBurstable + int(elapsed/(time.Second/PacketsPerSecond)); allowed > limit {
			t.Fatalf("%d allowed over %v, limit %d", allowed, elapsed, limit)
		}
	})
}
