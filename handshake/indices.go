// SPDX-License-Identifier: MIT

package handshake

import (
	"encoding/binary"
	"fmt"
	"io"
	"sync"
)

// Indices is the table of local session indices: the random 32-bit numbers
// peers put in the receiver field of every message to us. Each index is owned
// by one peer (named by its public key) from the initiation or response that
// introduced it until the keypair built on it dies; the daemon calls Free then.
//
// Indices are random rather than sequential so they leak nothing about how
// many sessions exist, and unique so a receiver index names exactly one
// session. Zero is never allocated so it can mean "none" in maps and the
// data plane.
type Indices struct {
	mu     sync.Mutex
	rand   io.Reader
	owners map[uint32][32]byte
}

// NewIndices returns an empty table drawing indices from rand.
func NewIndices(rand io.Reader) *Indices {
	return &Indices{rand: rand, owners: make(map[uint32][32]byte)}
}

// Allocate reserves a fresh index for owner.
func (t *Indices) Allocate(owner [32]byte) (uint32, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var buf [4]byte
	for range indexAllocAttempts {
		if _, err := io.ReadFull(t.rand, buf[:]); err != nil {
			return 0, fmt.Errorf("%w: index: %w", ErrRandom, err)
		}
		idx := binary.LittleEndian.Uint32(buf[:])
		if _, taken := t.owners[idx]; idx == 0 || taken {
			continue
		}
		t.owners[idx] = owner
		return idx, nil
	}
	return 0, fmt.Errorf("%w: no free index after %d attempts", ErrRandom, indexAllocAttempts)
}

// Free releases idx; freeing an index that is not allocated does nothing.
func (t *Indices) Free(idx uint32) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.owners, idx)
}

// Lookup returns the owner of idx.
func (t *Indices) Lookup(idx uint32) (owner [32]byte, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	owner, ok = t.owners[idx]
	return owner, ok
}

// Len returns the number of allocated indices.
func (t *Indices) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.owners)
}

// Reserve marks idx as taken by owner (a keypair a predecessor installed
// in the data plane), so that Allocate never hands it out again. It
// reports false if idx is 0 or already taken.
func (t *Indices) Reserve(idx uint32, owner [32]byte) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, taken := t.owners[idx]; idx == 0 || taken {
		return false
	}
	t.owners[idx] = owner
	return true
}
