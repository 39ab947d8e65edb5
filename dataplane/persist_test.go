// SPDX-License-Identifier: MIT

package dataplane

import "testing"

// TestLayoutFingerprint: the fingerprint moves when a shared map changes
// (here its size), and not when a scratch map does: a successor's own
// scratch maps are never shared.
func TestLayoutFingerprint(t *testing.T) {
	spec, err := loadWgbpf()
	if err != nil {
		t.Fatal(err)
	}
	base := layoutOf(spec)
	if base != layoutOf(spec.Copy()) {
		t.Fatal("fingerprint not deterministic")
	}
	changed := spec.Copy()
	changed.Maps["sessions"].MaxEntries++
	if layoutOf(changed) == base {
		t.Error("a longer sessions map left the fingerprint unchanged")
	}
	changed = spec.Copy()
	changed.Maps["peers"].ValueSize += 8
	if layoutOf(changed) == base {
		t.Error("a larger peers value left the fingerprint unchanged")
	}
	scratch := spec.Copy()
	scratch.Maps["install_buf"].MaxEntries++
	if layoutOf(scratch) != base {
		t.Error("a change to a scratch map moved the fingerprint")
	}
	for name := range scratchMaps {
		if _, ok := spec.Maps[name]; !ok {
			t.Errorf("scratch map %s is not in the object (renamed?)", name)
		}
	}
}

func TestIdentityRoundTrip(t *testing.T) {
	id := Identity{Suite: 2, TunIndex: 7, Hop0: 8, Hop1: 9}
	id.Layout[0], id.PubHash[31] = 1, 2
	got, err := unmarshalIdentity(id.marshal())
	if err != nil || *got != id {
		t.Fatalf("round trip: %+v, %v; want %+v", got, err, id)
	}
	if _, err := unmarshalIdentity(make([]byte, identityLen)); err == nil {
		t.Error("a zeroed record (a start that never finished) was accepted")
	}
}
