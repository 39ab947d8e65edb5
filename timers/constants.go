// SPDX-License-Identifier: MIT

package timers

import "time"

// Protocol constants (WireGuard whitepaper §6.1).
const (
	RekeyAfterMessages  uint64 = 1 << 60
	RejectAfterMessages uint64 = 1<<64 - 1<<13 - 1
	RekeyAfterTime             = 120 * time.Second
	RejectAfterTime            = 180 * time.Second
	RekeyAttemptTime           = 90 * time.Second
	RekeyTimeout               = 5 * time.Second
	KeepaliveTimeout           = 10 * time.Second
	// RekeyTimeoutJitterMax bounds the random time added to handshake
	// retransmissions and to the no-reply handshake timer.
	RekeyTimeoutJitterMax = 333 * time.Millisecond
)

// Constants derived from the protocol constants, as the kernel module and
// wireguard-go derive them.
const (
	// ZeroKeysAfter: key material is erased this long after the last
	// session was derived (or after giving up on a handshake).
	ZeroKeysAfter = 3 * RejectAfterTime
	// LastMinuteRekeyAge: data received on a keypair we initiated and
	// that is this old triggers a handshake, so that a new keypair exists
	// before the old one is rejected.
	LastMinuteRekeyAge = RejectAfterTime - KeepaliveTimeout - RekeyTimeout
	// NoReplyTimeout: data sent and nothing received for this long (plus
	// jitter) triggers a handshake.
	NoReplyTimeout = KeepaliveTimeout + RekeyTimeout
	// MaxHandshakeRetries: retransmissions after the first initiation
	// before giving up, counted as the kernel counts them (the attempt
	// counter must exceed RekeyAttemptTime/RekeyTimeout = 18), so a
	// handshake is sent 20 times, about 100 s, before GiveUp.
	MaxHandshakeRetries = int(RekeyAttemptTime/RekeyTimeout) + 1
)

// maxFiringsPerTick bounds the loop in Tick; every firing clears its own
// condition, so this is only a guard against a bug or absurd input.
const maxFiringsPerTick = 32
