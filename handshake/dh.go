// SPDX-License-Identifier: MIT

package handshake

import (
	"crypto/ecdh"
	"errors"
	"fmt"
	"io"

	"github.com/flynn/noise"
)

// Why a DHFunc of our own: flynn/noise's DH25519 calls
// golang.org/x/crypto/curve25519.X25519, which builds a crypto/ecdh private
// key for every call, and crypto/ecdh derives the public key of every
// private key it builds. Each Diffie-Hellman thus costs two scalar
// multiplications (BenchmarkX25519 in dh_test.go). Here our static key is
// parsed once per identity, the ephemeral once per handshake, so each DH is
// one scalar multiplication; and DH(our static, a configured peer's static)
// — the ss of IK — is computed once per peer and identity, not per message.

var x25519 = ecdh.X25519()

var errDHKey = errors.New("handshake: DH with a private key this handshake does not own")

// identity is our static key and what follows from it. It is immutable: a
// key change replaces the whole identity, so a message processed
// concurrently with the change sees one consistent identity.
type identity struct {
	private [32]byte // read only under Handshaker.mu; wiped when replaced
	public  [32]byte
	key     *ecdh.PrivateKey // nil: no private key configured
	checker *cookieChecker   // mac1/mac2 of messages to us; cookie secret
	// marker stands for the private static key in flynn/noise's state: our
	// dhFunc recognises it by address and uses key, so the key bytes
	// themselves never enter flynn/noise.
	marker []byte
}

func newIdentity(private [32]byte) *identity {
	id := &identity{private: private, marker: make([]byte, 32)}
	if private != [32]byte{} {
		// Any 32 bytes are a valid X25519 private key; an error here would
		// only mean a broken library, and then we act as if there were no key.
		if k, err := x25519.NewPrivateKey(private[:]); err == nil {
			id.key = k
			copy(id.public[:], k.PublicKey().Bytes())
		}
	}
	id.checker = newCookieChecker(id.public)
	return id
}

func (id *identity) hasPrivate() bool { return id.key != nil }

// staticKeypair is what flynn/noise gets as our static key pair.
func (id *identity) staticKeypair() noise.DHKey {
	return noise.DHKey{Private: id.marker, Public: id.public[:]}
}

// staticDH is DH(our static private, pub).
func (id *identity) staticDH(pub []byte) ([]byte, error) {
	pk, err := x25519.NewPublicKey(pub)
	if err != nil {
		return nil, err
	}
	return id.key.ECDH(pk)
}

// dhFunc is the noise.DHFunc of one handshake state. It is not shared
// between handshakes: it holds that handshake's ephemeral key.
type dhFunc struct {
	id *identity
	// staticShared returns DH(our static, pub) when it is cached (pub is a
	// configured peer's static key); ok false means compute it.
	staticShared func(pub []byte) (ss []byte, ok bool, err error)

	ephemeral *ecdh.PrivateKey
	ephMarker []byte

	// outputs are the DH results handed to flynn/noise, which mixes each
	// into its chaining key at once and keeps no reference: wipe zeroes them.
	outputs [][]byte
}

// Tests observe what wipe must reach: every DH output handed out and every
// handshake state made. Nil outside tests.
var (
	testObserveDH    func(out []byte)
	testObserveState func(hs *noise.HandshakeState)
)

func (d *dhFunc) GenerateKeypair(rng io.Reader) (noise.DHKey, error) {
	var priv [32]byte
	defer clear(priv[:])
	if _, err := io.ReadFull(rng, priv[:]); err != nil {
		return noise.DHKey{}, err
	}
	k, err := x25519.NewPrivateKey(priv[:])
	if err != nil {
		return noise.DHKey{}, err
	}
	d.ephemeral = k
	d.ephMarker = make([]byte, 32)
	return noise.DHKey{Private: d.ephMarker, Public: k.PublicKey().Bytes()}, nil
}

func (d *dhFunc) DH(private, public []byte) ([]byte, error) {
	out, err := d.dh(private, public)
	if out != nil {
		d.outputs = append(d.outputs, out)
		if testObserveDH != nil {
			testObserveDH(out)
		}
	}
	return out, err
}

func (d *dhFunc) dh(private, public []byte) ([]byte, error) {
	switch {
	case len(private) == 0:
	case &private[0] == &d.id.marker[0]:
		if d.staticShared != nil {
			ss, ok, err := d.staticShared(public)
			if ok || err != nil {
				return ss, err
			}
		}
		return d.id.staticDH(public)
	case d.ephemeral != nil && &private[0] == &d.ephMarker[0]:
		pk, err := x25519.NewPublicKey(public)
		if err != nil {
			return nil, err
		}
		return d.ephemeral.ECDH(pk)
	}
	return nil, errDHKey
}

// wipe ends a handshake state made with d: it zeroes the DH outputs and
// the handshake hash (flynn/noise hands out its own slice as the channel
// binding) and drops the ephemeral key. What flynn/noise keeps unexported
// (chaining key, its copy of the PSK, cipher keys) and crypto/ecdh's copy
// of the ephemeral scalar cannot be reached; they go with the state.
func (d *dhFunc) wipe(hs *noise.HandshakeState) {
	for _, o := range d.outputs {
		clear(o)
	}
	d.outputs = nil
	d.ephemeral = nil
	if hs != nil {
		clear(hs.ChannelBinding())
	}
}

func (d *dhFunc) DHLen() int { return 32 }

// DHName goes into the Noise protocol name, hence into every handshake
// hash: it must be flynn/noise's name for X25519.
func (d *dhFunc) DHName() string { return noise.DH25519.DHName() }

// cipherSuite is WireGuard's suite with d as its DH.
func (d *dhFunc) cipherSuite() noise.CipherSuite {
	return noise.NewCipherSuite(d, noise.CipherChaChaPoly, noise.HashBLAKE2s)
}

// computeStaticShared is the ss of a peer: DH(our static, peer static). An
// error means a low-order peer key, with which no handshake can succeed.
func computeStaticShared(id *identity, peerPublic [32]byte) ([32]byte, error) {
	var ss [32]byte
	out, err := id.staticDH(peerPublic[:])
	if err != nil {
		return ss, fmt.Errorf("%w: static-static DH: %w", ErrUnknownPeer, err)
	}
	copy(ss[:], out)
	clear(out)
	return ss, nil
}
