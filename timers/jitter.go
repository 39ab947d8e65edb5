// SPDX-License-Identifier: MIT

package timers

import (
	"math/rand/v2"
	"time"
)

// DefaultJitter returns a uniformly random duration in
// [0, RekeyTimeoutJitterMax).
func DefaultJitter() time.Duration {
	return rand.N(RekeyTimeoutJitterMax)
}

// clampJitter keeps an injected jitter inside [0, RekeyTimeoutJitterMax).
func clampJitter(d time.Duration) time.Duration {
	return min(max(d, 0), RekeyTimeoutJitterMax-1)
}
