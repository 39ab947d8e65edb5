// SPDX-License-Identifier: MIT

package uapi

import (
	"net/netip"
	"time"
)

// Key is a Curve25519 public or private key, or a preshared key.
type Key [KeyLen]byte

// IsZero reports whether every byte of k is zero (no key).
func (k Key) IsZero() bool { return k == Key{} }

// Device is what Serve drives: implemented by the daemon. Both methods may be
// called concurrently from several connections.
type Device interface {
	// Get returns a snapshot of the interface.
	Get() (*State, error)
	// Set applies req atomically: all of it or, on error, none of it. An
	// error of type *Errno chooses the errno reported to the client.
	// SetRequest.ApplyTo implements the semantics on a State.
	Set(req *SetRequest) error
}

// State is a snapshot of an interface, as a get request reports it.
type State struct {
	PrivateKey   Key    // zero: none
	ListenPort   uint16 // 0: not listening / not set
	FirewallMark uint32 // 0: off
	Peers        []PeerState
}

// PeerState is one peer in a State.
type PeerState struct {
	PublicKey    Key
	PresharedKey Key            // zero: none
	Endpoint     netip.AddrPort // invalid (zero): none
	// PersistentKeepalive is the interval in seconds; 0 is off.
	PersistentKeepalive uint16
	AllowedIPs          []netip.Prefix

	LastHandshake time.Time // zero: never
	TxBytes       uint64
	RxBytes       uint64
}

// SetRequest is a parsed set request. Fields that are nil were not in the
// request and leave the interface unchanged.
type SetRequest struct {
	// PrivateKey replaces the private key; the zero key removes it. A
	// non-zero key is clamped as X25519 requires (as the kernel and
	// wireguard-go do).
	PrivateKey   *Key
	ListenPort   *uint16
	FirewallMark *uint32 // 0 turns the mark off
	// ReplacePeers removes every peer before Peers are applied.
	ReplacePeers bool
	// Peers are applied in order; a public key may appear more than once.
	Peers []PeerOp
}

// PeerOp is the part of a set request that follows one public_key line.
type PeerOp struct {
	PublicKey Key
	// Remove deletes the peer; every other field of the op is ignored.
	Remove bool
	// UpdateOnly: if the peer does not exist, the op is ignored instead of
	// creating it.
	UpdateOnly bool

	PresharedKey        *Key // zero key removes the preshared key
	Endpoint            *netip.AddrPort
	PersistentKeepalive *uint16 // seconds, 0 turns it off

	// ReplaceAllowedIPs removes the peer's allowed IPs before AllowedIPs
	// are applied. (A replace_allowed_ips line also discards the
	// allowed_ip lines before it in the same op, as in wireguard-go.)
	ReplaceAllowedIPs bool
	// AllowedIPs are added or removed in order. Prefixes are masked
	// (10.0.0.1/24 is 10.0.0.0/24).
	AllowedIPs []AllowedIPOp
}

// AllowedIPOp adds a prefix to, or removes it from, a peer.
type AllowedIPOp struct {
	Prefix netip.Prefix
	Remove bool
}

// Bytes returns the key as a slice.
func (k Key) Bytes() []byte { return k[:] }
