// SPDX-License-Identifier: MIT

package handshake

import (
	"bytes"
	"fmt"

	"github.com/flynn/noise"
)

// dhFunc.cipherSuite and the settings in newNoiseState reproduce
// WireGuard's Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s byte for byte
// (the interop tests check it against wireguard-go).

const pskPlacement = 2

// Sizes of the Noise part of each message.
const (
	initiationNoiseSize = initiationNoiseEnd - initiationNoiseStart // 32 + 48 + 28
	responseNoiseSize   = responseNoiseEnd - responseNoiseStart     // 32 + 16
)

// newNoiseState starts one side of a handshake. ephemeral is the private
// ephemeral key flynn/noise will "generate": feeding it through a reader
// keeps all randomness in our injectable source and lets a pending
// initiation be rebuilt exactly. The reader is consumed only when the state
// writes its ephemeral, so the caller may fill the array after this call.
// For an initiator, psk must be set (zeros when none); a responder learns the
// peer only after message 1 and sets the PSK then. dh is this handshake's
// own DHFunc (see dh.go); its identity is our static key.
func newNoiseState(initiator bool, dh *dhFunc, peerStatic []byte, psk *[32]byte, ephemeral *[32]byte) (*noise.HandshakeState, error) {
	cfg := noise.Config{
		CipherSuite:           dh.cipherSuite(),
		Random:                bytes.NewReader(ephemeral[:]),
		Pattern:               noise.HandshakeIK,
		Initiator:             initiator,
		Prologue:              []byte(wgPrologue),
		PresharedKeyPlacement: pskPlacement,
		StaticKeypair:         dh.id.staticKeypair(),
		PeerStatic:            peerStatic,
	}
	if psk != nil {
		cfg.PresharedKey = psk[:]
	}
	hs, err := noise.NewHandshakeState(cfg)
	if err != nil {
		return nil, fmt.Errorf("noise state: %w", err)
	}
	if testObserveState != nil {
		testObserveState(hs)
	}
	return hs, nil
}

// initiatorState returns the initiator's handshake state right after it
// wrote message 1 for pending, that message's Noise part, and the state's
// DH, whose wipe the caller defers. p.mu must be held.
func (h *Handshaker) initiatorState(p *peer, pending *pendingInitiation) (*noise.HandshakeState, *dhFunc, []byte, error) {
	id := pending.id
	if _, err := h.staticSharedLocked(p, id); err != nil {
		// Only a low-order peer public key makes X25519 fail.
		return nil, nil, nil, err
	}
	dh := &dhFunc{id: id, staticShared: func(pub []byte) ([]byte, bool, error) {
		if len(pub) != len(p.public) || [32]byte(pub) != p.public {
			return nil, false, nil
		}
		ss, err := h.staticSharedLocked(p, id)
		if err != nil {
			return nil, false, err
		}
		out := bytes.Clone(ss[:])
		clear(ss[:])
		return out, true, nil
	}}
	hs, err := newNoiseState(true, dh, p.public[:], &p.psk, &pending.ephemeral)
	if err != nil {
		return nil, nil, nil, err
	}
	body, _, _, err := hs.WriteMessage(nil, pending.timestamp[:])
	if err != nil {
		dh.wipe(hs)
		// Only a low-order peer public key makes X25519 fail here.
		return nil, nil, nil, fmt.Errorf("%w: writing initiation: %w", ErrUnknownPeer, err)
	}
	if len(body) != initiationNoiseSize {
		dh.wipe(hs)
		return nil, nil, nil, fmt.Errorf("noise initiation is %d bytes, want %d", len(body), initiationNoiseSize)
	}
	return hs, dh, body, nil
}
