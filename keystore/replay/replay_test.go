// SPDX-License-Identifier: MIT

package replay

import (
	"math"
	"math/rand/v2"
	"testing"
)

// rejectAfterMessages is WireGuard's REJECT_AFTER_MESSAGES, the limit the
// keystore passes.
const rejectAfterMessages = math.MaxUint64 - (1 << 13)

type step struct {
	counter uint64
	want    bool
}

func run(t *testing.T, f *Filter, steps []step) {
	t.Helper()
	for i, s := range steps {
		if got := f.ValidateCounter(s.counter, rejectAfterMessages); got != s.want {
			t.Fatalf("step %d: ValidateCounter(%d) = %v, want %v", i, s.counter, got, s.want)
		}
	}
}

func TestInOrder(t *testing.T) {
	var f Filter
	for c := uint64(0); c < 3*RingBits; c++ {
		if !f.ValidateCounter(c, rejectAfterMessages) {
			t.Fatalf("in-order counter %d rejected", c)
		}
	}
	for _, c := range []uint64{0, 3*RingBits - 1, 3*RingBits - 100} {
		if f.ValidateCounter(c, rejectAfterMessages) {
			t.Fatalf("counter %d accepted twice", c)
		}
	}
}

func TestOutOfOrderAndDuplicate(t *testing.T) {
	var f Filter
	run(t, &f, []step{
		{0, true}, {0, false}, // duplicate of the very first
		{5, true}, {3, true}, {4, true}, {1, true}, {2, true},
		{3, false}, {5, false}, {1, false},
		{100, true}, {64, true}, {63, true}, {65, true}, {64, false}, {99, true}, {100, false},
	})
}

func TestTooOld(t *testing.T) {
	var f Filter
	const top = 20000
	run(t, &f, []step{
		{top, true},
		{top - WindowSize - 1, false}, // one past the window
		{top - WindowSize, true},      // the oldest tracked counter
		{top - WindowSize, false},
		{top - 1, true},
		{0, false},
	})
}

func TestFarJumpClears(t *testing.T) {
	var f Filter
	for c := uint64(0); c < 200; c++ {
		f.ValidateCounter(c, rejectAfterMessages)
	}
	// A jump of exactly one ring and of far more: the old counters are
	// outside the window, and every slot the new window covers is clear.
	for _, jump := range []uint64{RingBits, 1 << 40} {
		f.Reset()
		for c := uint64(0); c < 200; c++ {
			f.ValidateCounter(c, rejectAfterMessages)
		}
		top := 199 + jump
		if !f.ValidateCounter(top, rejectAfterMessages) {
			t.Fatalf("jump to %d rejected", top)
		}
		for c := top - WindowSize; c < top; c++ {
			if !f.ValidateCounter(c, rejectAfterMessages) {
				t.Fatalf("after jump to %d: fresh counter %d rejected (stale bit)", top, c)
			}
		}
		if f.ValidateCounter(150, rejectAfterMessages) {
			t.Fatal("counter from before the jump accepted")
		}
	}
}

func TestLimit(t *testing.T) {
	var f Filter
	run(t, &f, []step{
		{rejectAfterMessages, false},
		{math.MaxUint64, false},
		{rejectAfterMessages - 1, true}, // the last valid counter
		{rejectAfterMessages - 1, false},
		{rejectAfterMessages - 2, true},
		{rejectAfterMessages - 1 - WindowSize, true},
		{rejectAfterMessages - 2 - WindowSize, false},
	})
	// The limit is the caller's: a smaller one is honoured.
	f.Reset()
	if f.ValidateCounter(10, 10) || !f.ValidateCounter(9, 10) {
		t.Fatal("limit 10 not honoured")
	}
	// With no effective limit the top counter does not wrap the arithmetic.
	f.Reset()
	if !f.ValidateCounter(math.MaxUint64-1, math.MaxUint64) || f.ValidateCounter(math.MaxUint64-1, math.MaxUint64) {
		t.Fatal("counter 2^64-2 under limit 2^64-1 mishandled")
	}
	if !f.ValidateCounter(math.MaxUint64-2, math.MaxUint64) {
		t.Fatal("counter 2^64-3 below the top rejected")
	}
}

func TestReset(t *testing.T) {
	var f Filter
	run(t, &f, []step{{7, true}, {7, false}})
	f.Reset()
	if next, ring := f.State(); next != 0 || ring != [RingWords]uint64{} {
		t.Fatal("Reset left state behind")
	}
	run(t, &f, []step{{7, true}, {0, true}})
}

// TestState checks the layout the BPF session shares: highest+1 and the bit
// of counter c at position (c+1) mod 8192.
func TestState(t *testing.T) {
	var f Filter
	f.ValidateCounter(0, rejectAfterMessages)
	f.ValidateCounter(64, rejectAfterMessages)
	next, ring := f.State()
	if next != 65 || ring[0] != 1<<1 || ring[1] != 1<<1 {
		t.Fatalf("state next=%d ring[0]=%#x ring[1]=%#x", next, ring[0], ring[1])
	}
}

// TestAgainstModel compares the filter with an obviously correct model (a
// set of every accepted counter) over random sequences that dwell around
// the window edge and jump.
func TestAgainstModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 20 {
		var f Filter
		seen := map[uint64]bool{}
		var highest uint64
		any := false
		base := uint64(round) * (1 << 58)
		for range 20000 {
			var c uint64
			switch r := rng.IntN(10); {
			case r < 5:
				c = highest + uint64(rng.IntN(200)) - 100
			case r < 8:
				c = highest - WindowSize + uint64(rng.IntN(64)) - 32
			case r < 9:
				c = highest + uint64(rng.IntN(3*RingBits))
			default:
				c = base + uint64(rng.IntN(1<<20))
			}
			want := c < rejectAfterMessages && !seen[c] &&
				(!any || c > highest || highest-c <= WindowSize)
			if got := f.ValidateCounter(c, rejectAfterMessages); got != want {
				t.Fatalf("round %d: counter %d (highest %d): got %v, model %v", round, c, highest, got, want)
			}
			if want {
				seen[c] = true
				if !any || c > highest {
					highest, any = c, true
				}
			}
		}
	}
}
