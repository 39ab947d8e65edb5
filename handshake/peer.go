// SPDX-License-Identifier: MIT

package handshake

import (
	"sync"
	"time"

	"github.com/wgbpfd/wgbpfd/handshake/tai64n"
)

// peer is everything the handshake keeps about one configured peer. public
// never changes; everything else is guarded by mu, which is held across the
// whole handling of one message concerning this peer (so replay and flood
// checks, the pending initiation and the cookie state change atomically)
// but never while waiting for Handshaker.mu.
type peer struct {
	public [32]byte

	mu sync.Mutex
	// psk is all zeros when no preshared key is configured: WireGuard then
	// mixes 32 zero bytes in the psk2 position, which is what makes a peer
	// without a PSK interoperate.
	psk [32]byte

	// Replay and flood protection for initiations this peer sends us.
	lastTimestamp          tai64n.Timestamp
	lastInitiationConsumed time.Time

	cookies cookieGenerator
	pending *pendingInitiation

	// ss is DH(our static, public) under identity ssFor (nil: not computed
	// yet). It is computed on first use and wiped when our key changes or
	// the peer is removed.
	ss    [32]byte
	ssFor *identity

	removed bool // set (under mu) when the peer left the Handshaker
}

// pendingInitiation is our initiation to the peer that awaits its response.
//
// It keeps the inputs of message 1 rather than a live noise.HandshakeState:
// flynn/noise mutates its state while reading, even when the message then
// fails to authenticate, so a single forged response carrying our (visible)
// index would otherwise spoil the real one. Rebuilding the state from these
// inputs for every response costs two extra X25519 operations and makes
// every attempt independent.
type pendingInitiation struct {
	id         *identity // the identity message 1 was made under
	localIndex uint32
	ephemeral  [32]byte // private key, wiped when the handshake ends
	timestamp  tai64n.Timestamp
}

func (p *pendingInitiation) wipe() {
	clear(p.ephemeral[:])
}

func newPeer(public [32]byte, psk *[32]byte) *peer {
	p := &peer{public: public}
	if psk != nil {
		p.psk = *psk
	}
	p.cookies.init(public)
	return p
}

// staticShared returns the peer's ss under id, computing it when missing;
// p.mu must be held.
func (p *peer) staticShared(id *identity) ([32]byte, error) {
	if p.ssFor == id {
		return p.ss, nil
	}
	ss, err := computeStaticShared(id, p.public)
	if err != nil {
		return ss, err
	}
	p.ss, p.ssFor = ss, id
	return ss, nil
}

// wipeStaticShared forgets the cached ss; p.mu must be held.
func (p *peer) wipeStaticShared() {
	clear(p.ss[:])
	p.ssFor = nil
}
