// SPDX-License-Identifier: MIT

// Package ratelimiter limits how many handshake messages one source may have
// processed per second: a token bucket per IPv4 address or per IPv6 /64.
//
// It is pure: the caller passes the current time, so tests are deterministic
// and no goroutine runs in the background; old entries are collected lazily.
package ratelimiter

import (
	"net/netip"
	"sync"
	"time"
)

// Spec constants (WireGuard).
const (
	PacketsPerSecond = 20
	PacketsBurstable = 5
)

// Implementation constants.
const (
	// packetCost is the bucket time one packet spends.
	packetCost = int64(time.Second / PacketsPerSecond)
	// maxTokens is a full bucket: PacketsBurstable packets back to back.
	maxTokens = packetCost * PacketsBurstable
	// gcInterval: an entry idle this long has refilled completely, so
	// forgetting it changes no decision; sweeping that often bounds memory.
	gcInterval = time.Second
	// ipv6PrefixBits groups IPv6 sources: one host usually owns a whole /64,
	// so limiting single addresses would let it rotate around the limit.
	ipv6PrefixBits = 64
)

type bucket struct {
	tokens   int64 // nanoseconds of credit
	lastSeen time.Time
}

// Limiter is safe for concurrent use. The zero value is not usable; use New.
type Limiter struct {
	mu      sync.Mutex
	buckets map[netip.Addr]*bucket
	lastGC  time.Time
}

// New returns an empty limiter.
func New() *Limiter {
	return &Limiter{buckets: make(map[netip.Addr]*bucket)}
}

// key maps a source to its bucket: IPv4 (also IPv4-mapped IPv6) by address,
// IPv6 by its /64.
func key(addr netip.Addr) netip.Addr {
	addr = addr.Unmap()
	if addr.Is6() {
		if p, err := addr.Prefix(ipv6PrefixBits); err == nil {
			return p.Addr()
		}
	}
	return addr.WithZone("")
}

// Allow reports whether one more packet from addr may be processed at now,
// and if so charges it.
func (l *Limiter) Allow(addr netip.Addr, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()

	if now.Sub(l.lastGC) >= gcInterval || now.Before(l.lastGC) {
		l.collect(now)
	}

	k := key(addr)
	b, ok := l.buckets[k]
	if !ok {
		l.buckets[k] = &bucket{tokens: maxTokens - packetCost, lastSeen: now}
		return true
	}
	// A clock that steps backwards must not mint tokens.
	if elapsed := now.Sub(b.lastSeen); elapsed > 0 {
		b.tokens = min(b.tokens+int64(elapsed), maxTokens)
		b.lastSeen = now
	}
	if b.tokens < packetCost {
		return false
	}
	b.tokens -= packetCost
	return true
}

// GC drops entries idle for at least gcInterval. Allow calls it on its own;
// the caller may also call it from a timer.
func (l *Limiter) GC(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.collect(now)
}

func (l *Limiter) collect(now time.Time) {
	for k, b := range l.buckets {
		if now.Sub(b.lastSeen) >= gcInterval {
			delete(l.buckets, k)
		}
	}
	l.lastGC = now
}

// Len returns the number of sources currently tracked.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}
