// SPDX-License-Identifier: MIT

package handshake

import "time"

// Spec constants (WireGuard whitepaper §5).
const (
	// CookieRefreshTime is how long a received cookie stays usable and how
	// often the cookie secret is replaced.
	CookieRefreshTime = 120 * time.Second
	// InitiationRate is the least time between two initiations accepted
	// from one peer.
	InitiationRate = 20 * time.Millisecond
)

// Construction strings of the protocol.
const (
	wgPrologue  = "WireGuard v1 zx2c4 Jason@zx2c4.com"
	labelMAC1   = "mac1----"
	labelCookie = "cookie--"
)

// Implementation constants.
const (
	// indexAllocAttempts bounds the search for a free random index. With
	// 2^32 values and at most a few thousand in use, needing more than one
	// attempt is already rare; this only stops a broken random source.
	indexAllocAttempts = 64
)
