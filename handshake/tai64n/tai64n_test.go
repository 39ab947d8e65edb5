// SPDX-License-Identifier: MIT

package tai64n

import (
	"encoding/hex"
	"testing"
	"time"
)

func TestExactEncoding(t *testing.T) {
	// 2^62 + 10 + 1 second, 5 ns: the label and nanoseconds are big-endian.
	ts := Exact(time.Unix(1, 5))
	const want = "400000000000000b" + "00000005"
	if got := hex.EncodeToString(ts[:]); got != want {
		t.Fatalf("Exact = %s, want %s", got, want)
	}
	if !ts.Time().Equal(time.Unix(1, 5)) {
		t.Fatalf("Time() = %v, want %v", ts.Time(), time.Unix(1, 5))
	}
}

func TestStampWhitens(t *testing.T) {
	base := time.Unix(1700000000, 0)
	a := Stamp(base.Add(1 * time.Millisecond))
	b := Stamp(base.Add(10 * time.Millisecond))
	if a != b {
		t.Fatalf("stamps 9 ms apart inside one whitening step differ: %x %x", a, b)
	}
	if got := a.Time(); !got.Equal(base) {
		t.Fatalf("whitened time = %v, want %v", got, base)
	}
	c := Stamp(base.Add(20 * time.Millisecond))
	if !c.After(a) {
		t.Fatalf("stamp 20 ms later is not After")
	}
}

func TestAfterOrder(t *testing.T) {
	base := time.Unix(1700000000, 999_000_000)
	earlier := Exact(base)
	later := Exact(base.Add(2 * time.Millisecond)) // crosses a second boundary
	if !later.After(earlier) {
		t.Fatal("later not After earlier")
	}
	if earlier.After(later) {
		t.Fatal("earlier After later")
	}
	if earlier.After(earlier) {
		t.Fatal("a stamp is After itself")
	}
	if !earlier.After(Timestamp{}) || !(Timestamp{}).IsZero() || earlier.IsZero() {
		t.Fatal("zero stamp ordering/IsZero wrong")
	}
}

// FuzzTimestamp: any 12 bytes decode without panic, and every stamp with a
// valid nanosecond field within ±2^62 s of the epoch encodes back to itself.
func FuzzTimestamp(f *testing.F) {
	seed := Exact(time.Unix(1700000000, 123456789))
	f.Add(seed[:])
	f.Add(make([]byte, Size))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) != Size {
			return
		}
		ts := Timestamp(b)
		got := ts.Time()
		label := uint64(ts[0])<<56 | uint64(ts[1])<<48 | uint64(ts[2])<<40 | uint64(ts[3])<<32 |
			uint64(ts[4])<<24 | uint64(ts[5])<<16 | uint64(ts[6])<<8 | uint64(ts[7])
		nsec := uint32(ts[8])<<24 | uint32(ts[9])<<16 | uint32(ts[10])<<8 | uint32(ts[11])
		if nsec < 1e9 && label >= labelBase-1<<61 && label <= labelBase+1<<61 {
			if back := Exact(got); back != ts {
				t.Fatalf("round trip %x -> %v -> %x", ts, got, back)
			}
		}
	})
}
