// SPDX-License-Identifier: MIT

package handshake

import "errors"

// Sentinel errors; Consume and the other methods wrap them with context, so
// test with errors.Is.
var (
	ErrMessageLength     = errors.New("handshake: wrong message length")
	ErrUnknownType       = errors.New("handshake: unknown message type")
	ErrBadMAC1           = errors.New("handshake: invalid mac1")
	ErrUnknownPeer       = errors.New("handshake: unknown peer")
	ErrDecrypt           = errors.New("handshake: decryption failed")
	ErrReplayedTimestamp = errors.New("handshake: replayed or stale initiation timestamp")
	ErrFlood             = errors.New("handshake: initiations from this peer arrive too fast")
	ErrRateLimited       = errors.New("handshake: source rate limited")
	ErrUnknownIndex      = errors.New("handshake: unknown receiver index")
	ErrCookieRequired    = errors.New("handshake: under load and mac2 missing or invalid; cookie reply produced")
	ErrNoPrivateKey      = errors.New("handshake: no private key configured")
	ErrPeerExists        = errors.New("handshake: peer already configured")
	ErrOwnKey            = errors.New("handshake: peer public key equals our own")
	ErrNoCookieExpected  = errors.New("handshake: cookie reply without a message it could answer")
	ErrRandom            = errors.New("handshake: random source failed")
)
