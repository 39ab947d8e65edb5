// SPDX-License-Identifier: MIT

// Package replay is WireGuard's sliding-window replay filter for data
// message counters (RFC 6479 style), shared in design with the BPF data plane
// (struct wg_session in bpf/lib/common.h: replay_last and replay_bitmap).
package replay

// Window geometry. The ring has 8192 bits; one 64-bit word is always the
// moving edge, so 8128 counters behind the highest one are tracked exactly.
const (
	wordBits   = 64
	RingWords  = 128                        // WG_REPLAY_WORDS
	RingBits   = RingWords * wordBits       // WG_REPLAY_BITS
	WindowSize = (RingWords - 1) * wordBits // WG_REPLAY_WINDOW: 8128
	wordMask   = RingWords - 1
	bitMask    = wordBits - 1
	wordShift  = 6 // log2(wordBits)
)

// Filter remembers which counters of one receiving keypair were accepted.
// The zero value is ready to use and has accepted nothing. A Filter is not
// safe for concurrent use.
//
// It stores "highest accepted counter + 1" (0: none) and indexes the ring
// by counter + 1, like the Linux kernel's WireGuard and the BPF data plane,
// so the two states can be compared word for word.
type Filter struct {
	next uint64 // highest accepted counter + 1; 0 before the first
	ring [RingWords]uint64
}

// Reset forgets every counter, as for a new keypair.
func (f *Filter) Reset() {
	*f = Filter{}
}

// ValidateCounter reports whether counter is new and acceptable, and if so
// marks it seen. It rejects counters >= limit (pass REJECT_AFTER_MESSAGES),
// counters more than WindowSize behind the highest accepted one, and
// counters already accepted. Call it only after the message authenticated:
// a forged counter must not move the window.
func (f *Filter) ValidateCounter(counter, limit uint64) bool {
	if counter >= limit {
		return false
	}
	pos := counter + 1 // cannot wrap: counter < limit <= 2^64-1
	if pos < f.next && f.next-pos > WindowSize {
		return false // too old: below the window
	}
	word := pos >> wordShift
	if pos > f.next {
		// Moving forward: clear the words between the old edge and the new
		// one. A jump of a whole ring or more clears everything.
		edge := f.next >> wordShift
		steps := min(word-edge, RingWords)
		for i := uint64(1); i <= steps; i++ {
			f.ring[(edge+i)&wordMask] = 0
		}
		f.next = pos
	}
	bit := uint64(1) << (pos & bitMask)
	w := &f.ring[word&wordMask]
	if *w&bit != 0 {
		return false // replay
	}
	*w |= bit
	return true
}

// State returns the highest accepted counter + 1 (0: none) and the ring, in
// the layout of the BPF session (replay_last, replay_bitmap) for tests that
// compare the two.
func (f *Filter) State() (next uint64, ring [RingWords]uint64) {
	return f.next, f.ring
}
