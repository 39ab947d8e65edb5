package handshake

import "time"

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
// It is not safe for concurrent use; the goroutine that reads the queue owns it.
type LoadDetector struct {
	until time.Time
}

// UnderLoad reports load given how many handshake messages wait in a queue
// of the given capacity.
func (d *LoadDetector) UnderLoad(queued, capacity int, now time.Time) bool {
	if capacity > 0 && queued >= capacity/UnderLoadQueueFraction {
		d.until = now.Add(UnderLoadAfterTime)
		return true
	}
	return now.Before(d.until)
}
