// SPDX-License-Identifier: MIT

// Package tai64n encodes the 12-byte TAI64N timestamps that a WireGuard
// initiation carries so the responder can refuse replayed initiations.
//
// The encoding is the big-endian TAI64 label (2^62 + 10 + Unix seconds; the 10
// is the TAI−UTC offset of 1972 that TAI64 conventionally adds) followed by the
// big-endian nanoseconds. The responder only ever compares two stamps from the
// same sender, so only their order matters on the wire.
package tai64n

import (
	"bytes"
	"encoding/binary"
	"time"
)

// Size is the length of an encoded timestamp.
const Size = 12

const (
	// labelBase is the TAI64 label of the Unix epoch.
	labelBase = uint64(1)<<62 + 10

	// whitenGranularity is the precision Stamp keeps. Rounding the
	// nanoseconds down hides the sender's exact clock from anyone who can
	// decrypt an initiation, while still being finer than the 20 ms
	// initiation rate limit, so legitimate successive stamps still increase.
	whitenGranularity = 1 << 24 // ns, ≈ 16.8 ms
)

// Timestamp is one encoded TAI64N timestamp.
type Timestamp [Size]byte

// Stamp encodes t with its nanoseconds rounded down to the whitening
// granularity. Use it for every timestamp that goes on the wire.
func Stamp(t time.Time) Timestamp {
	nsec := t.Nanosecond()
	return exact(t.Unix(), nsec-nsec%whitenGranularity)
}

// Exact encodes t without whitening (for tests and diagnostics).
func Exact(t time.Time) Timestamp {
	return exact(t.Unix(), t.Nanosecond())
}

func exact(sec int64, nsec int) Timestamp {
	var ts Timestamp
	binary.BigEndian.PutUint64(ts[:8], labelBase+uint64(sec))
	binary.BigEndian.PutUint32(ts[8:], uint32(nsec))
	return ts
}

// After reports whether ts is strictly later than other. Because both fields
// are big-endian, byte order equals time order.
func (ts Timestamp) After(other Timestamp) bool {
	return bytes.Compare(ts[:], other[:]) > 0
}

// IsZero reports whether ts is the all-zero value (no timestamp seen yet).
func (ts Timestamp) IsZero() bool {
	return ts == Timestamp{}
}

// Time decodes ts. A stamp from before the Unix epoch or with an out-of-range
// nanosecond field still decodes without panicking; it just yields an odd time.
func (ts Timestamp) Time() time.Time {
	label := binary.BigEndian.Uint64(ts[:8])
	nsec := binary.BigEndian.Uint32(ts[8:])
	return time.Unix(int64(label-labelBase), int64(nsec))
}
