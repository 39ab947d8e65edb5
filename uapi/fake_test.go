// SPDX-License-Identifier: MIT

package uapi

import (
	"crypto/rand"
	"net/netip"
	"slices"
	"sync"
	"testing"
)

// fakeDevice is an in-memory Device: the state and a map of peers applying
// each SetRequest atomically through SetRequest.ApplyTo.
type fakeDevice struct {
	mu     sync.Mutex
	st     State
	sets   int   // successful Set calls
	setErr error // if non-nil, Set fails with it and changes nothing
	getErr error // if non-nil, Get fails with it
}

func (f *fakeDevice) Get() (*State, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.getErr != nil {
		return nil, f.getErr
	}
	st := cloneState(&f.st)
	return &st, nil
}

func (f *fakeDevice) Set(r *SetRequest) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.setErr != nil {
		return f.setErr
	}
	next := cloneState(&f.st)
	r.ApplyTo(&next)
	f.st = next
	f.sets++
	return nil
}

// state returns a copy of the current state.
func (f *fakeDevice) state() State {
	f.mu.Lock()
	defer f.mu.Unlock()
	return cloneState(&f.st)
}

// peer returns the peer with public key k.
func (f *fakeDevice) peer(k Key) (PeerState, bool) {
	st := f.state()
	for _, p := range st.Peers {
		if p.PublicKey == k {
			return p, true
		}
	}
	return PeerState{}, false
}

func cloneState(s *State) State {
	c := *s
	c.Peers = slices.Clone(s.Peers)
	for i := range c.Peers {
		c.Peers[i].AllowedIPs = slices.Clone(c.Peers[i].AllowedIPs)
	}
	return c
}

func randomKey(t testing.TB) Key {
	t.Helper()
	var k Key
	if _, err := rand.Read(k[:]); err != nil {
		t.Fatal(err)
	}
	return k
}

func randomPrivateKey(t testing.TB) Key {
	k := randomKey(t)
	clampPrivateKey(&k)
	return k
}

func mustPrefixes(t testing.TB, ss ...string) []netip.Prefix {
	t.Helper()
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

// sortedPrefixes returns the prefixes as sorted strings, for comparisons
// that do not depend on order.
func sortedPrefixes(ps []netip.Prefix) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.String())
	}
	slices.Sort(out)
	return out
}
