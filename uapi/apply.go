// SPDX-License-Identifier: MIT

package uapi

import (
	"net/netip"
	"slices"

	"golang.org/x/crypto/curve25519"
)

// ApplyTo applies r to the configuration in s with the semantics of
// wireguard-go and the kernel module, so that a Device can compute the new
// configuration first and commit it atomically:
//
//   - a new private key removes any peer whose public key is the interface's
//     own public key, and a peer op for that key is ignored;
//   - ReplacePeers removes every peer first;
//   - a PeerOp with Remove deletes the peer (if it exists); with UpdateOnly it
//     is skipped when the peer does not exist; otherwise the peer is created
//     (appended) or updated;
//   - an allowed IP belongs to one peer at most: adding it to a peer removes
//     it from any other.
//
// Statistics of existing peers (handshake time, byte counts) are kept; new
// peers start with none. ApplyTo never fails: every value was validated by
// ParseSet.
func (r *SetRequest) ApplyTo(s *State) {
	if r.PrivateKey != nil {
		s.PrivateKey = *r.PrivateKey
	}
	if r.ListenPort != nil {
		s.ListenPort = *r.ListenPort
	}
	if r.FirewallMark != nil {
		s.FirewallMark = *r.FirewallMark
	}
	if r.ReplacePeers {
		s.Peers = nil
	}
	self, hasSelf := publicKeyOf(s.PrivateKey)
	if hasSelf && r.PrivateKey != nil {
		s.Peers = slices.DeleteFunc(s.Peers, func(p PeerState) bool { return p.PublicKey == self })
	}
	for i := range r.Peers {
		op := &r.Peers[i]
		if hasSelf && op.PublicKey == self {
			continue
		}
		applyPeerOp(s, op)
	}
}

func applyPeerOp(s *State, op *PeerOp) {
	idx := slices.IndexFunc(s.Peers, func(p PeerState) bool { return p.PublicKey == op.PublicKey })
	if op.Remove {
		if idx >= 0 {
			s.Peers = slices.Delete(s.Peers, idx, idx+1)
		}
		return
	}
	if idx < 0 {
		if op.UpdateOnly {
			return
		}
		s.Peers = append(s.Peers, PeerState{PublicKey: op.PublicKey})
		idx = len(s.Peers) - 1
	}
	p := &s.Peers[idx]
	if op.PresharedKey != nil {
		p.PresharedKey = *op.PresharedKey
	}
	if op.Endpoint != nil {
		p.Endpoint = *op.Endpoint
	}
	if op.PersistentKeepalive != nil {
		p.PersistentKeepalive = *op.PersistentKeepalive
	}
	if op.ReplaceAllowedIPs {
		p.AllowedIPs = nil
	}
	for _, a := range op.AllowedIPs {
		if a.Remove {
			p.AllowedIPs = slices.DeleteFunc(p.AllowedIPs, func(q netip.Prefix) bool { return q == a.Prefix })
			continue
		}
		for j := range s.Peers {
			if j != idx {
				s.Peers[j].AllowedIPs = slices.DeleteFunc(s.Peers[j].AllowedIPs, func(q netip.Prefix) bool { return q == a.Prefix })
			}
		}
		if !slices.Contains(p.AllowedIPs, a.Prefix) {
			p.AllowedIPs = append(p.AllowedIPs, a.Prefix)
		}
	}
}

// publicKeyOf derives the public key of a private key; false for no key.
func publicKeyOf(priv Key) (Key, bool) {
	if priv.IsZero() {
		return Key{}, false
	}
	pub, err := curve25519.X25519(priv[:], curve25519.Basepoint)
	if err != nil {
		// Only a low-order result fails, which a clamped scalar times
		// the base point cannot produce.
		return Key{}, false
	}
	return Key(pub), true
}

// clampPrivateKey applies X25519 clamping.
func clampPrivateKey(k *Key) {
	k[0] &= 248
	k[31] = (k[31] & 127) | 64
}
