// SPDX-License-Identifier: MIT

package handshake

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"
)

func TestIndicesUnique(t *testing.T) {
	table := NewIndices(rand.Reader)
	seen := make(map[uint32]bool)
	for i := range 20000 {
		idx, err := table.Allocate([32]byte{byte(i)})
		if err != nil {
			t.Fatal(err)
		}
		if idx == 0 || seen[idx] {
			t.Fatalf("index %#x allocated twice or zero", idx)
		}
		seen[idx] = true
		if owner, ok := table.Lookup(idx); !ok || owner != ([32]byte{byte(i)}) {
			t.Fatalf("Lookup(%#x) = %v, %t", idx, owner[0], ok)
		}
	}
	if table.Len() != len(seen) {
		t.Fatalf("Len = %d, want %d", table.Len(), len(seen))
	}
	for idx := range seen {
		table.Free(idx)
		if _, ok := table.Lookup(idx); ok {
			t.Fatalf("index %#x still found after Free", idx)
		}
	}
	table.Free(12345) // freeing an unknown index is harmless
	if table.Len() != 0 {
		t.Fatalf("Len = %d after freeing all", table.Len())
	}
}

func TestIndicesSkipZeroAndTaken(t *testing.T) {
	// The source yields 0, then 7, then 7 again, then 9.
	src := bytes.NewReader([]byte{0, 0, 0, 0, 7, 0, 0, 0, 7, 0, 0, 0, 9, 0, 0, 0})
	table := NewIndices(src)
	a, err := table.Allocate([32]byte{1})
	if err != nil || a != 7 {
		t.Fatalf("first = %d, %v; want 7", a, err)
	}
	b, err := table.Allocate([32]byte{2})
	if err != nil || b != 9 {
		t.Fatalf("second = %d, %v; want 9 (0 and the taken 7 skipped)", b, err)
	}
	if _, err := table.Allocate([32]byte{3}); !errors.Is(err, ErrRandom) {
		t.Fatalf("exhausted source: %v, want ErrRandom", err)
	}
}

func TestIndicesBrokenSourceGivesUp(t *testing.T) {
	table := NewIndices(bytes.NewReader(bytes.Repeat([]byte{5, 0, 0, 0}, 1000)))
	if _, err := table.Allocate([32]byte{}); err != nil {
		t.Fatal(err)
	}
	if _, err := table.Allocate([32]byte{}); !errors.Is(err, ErrRandom) {
		t.Fatalf("constant source: %v, want ErrRandom after bounded attempts", err)
	}
}
