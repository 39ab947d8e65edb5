// SPDX-License-Identifier: MIT

package handshake

import (
	"sync/atomic"
	"time"
)

// Implementation constants of the under-load heuristic (as in wireguard-go).
const (
	// UnderLoadQueueFraction: a handshake queue at least 1/8 full means load.
	UnderLoadQueueFraction = 8
	// UnderLoadAfterTime is how long load is assumed to last once seen, so
	// that cookies stay required while an attack comes in bursts.
	UnderLoadAfterTime = time.Second
)

// LoadDetector is a helper for the caller's underLoad argument: it reports
// load while the daemon's handshake queue is long and for a second after.
// It is safe for concurrent use, so every handshake worker can consult it;
// the zero value is ready.
type LoadDetector struct {
	until atomic.Int64 // Unix nanoseconds; load is assumed before it
}

// UnderLoad reports load given how many handshake messages wait in a queue
// of the given capacity.
func (d *LoadDetector) UnderLoad(queued, capacity int, now time.Time) bool {
	if capacity > 0 && queued >= capacity/UnderLoadQueueFraction {
		until := now.Add(UnderLoadAfterTime).UnixNano()
		// Only ever extend: a worker with an older now must not shorten it.
		for {
			old := d.until.Load()
			if old >= until || d.until.CompareAndSwap(old, until) {
				return true
			}
		}
	}
	return now.UnixNano() < d.until.Load()
}
