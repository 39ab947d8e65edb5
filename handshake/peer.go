package handshake

import (
	"time"

	"github.com/wgbpfd/wgbpfd/handshake/tai64n"
)

// peer is everything the handshake keeps about one configured peer.
type peer struct {
	public [32]byte
	// psk is all zeros when no preshared key is configured: WireGuard then
	// mixes 32 zero bytes in the psk2 position, which is what makes a peer
	// without a PSK interoperate.
	psk [32]byte

	// Replay and flood protection for initiations this peer sends us.
	lastTimestamp          tai64n.Timestamp
	lastInitiationConsumed time.Time

	cookies cookieGenerator
	pending *pendingInitiation
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
