// SPDX-License-Identifier: MIT

package keystore

import (
	"fmt"
	"time"

	"github.com/wgbpfd/wgbpfd/keystore/replay"
)

// PeerID names a peer inside the daemon; it is the peer_id of the kernel's
// sessions (struct wg_session).
type PeerID uint32

// Keypair is one session: the two transport keys of a completed handshake,
// the indices that name it on the wire, its suite and its counters.
// A Keypair belongs to the Store; outside it is only ever read, and its
// keys only while a Mirror callback runs.
type Keypair struct {
	peer        PeerID
	suite       Suite
	send        [KeyLen]byte
	receive     [KeyLen]byte
	localIndex  uint32
	remoteIndex uint32
	initiator   bool
	created     time.Time

	// Guarded by the Store's lock.
	sendCounter uint64        // next counter for a message userspace seals
	replay      replay.Filter // counters received through the Store
	dropped     bool
}

// Peer, Suite, LocalIndex, RemoteIndex, Initiator and Created describe the
// keypair; they never change after Add.
func (k *Keypair) Peer() PeerID        { return k.peer }
func (k *Keypair) Suite() Suite        { return k.suite }
func (k *Keypair) LocalIndex() uint32  { return k.localIndex }
func (k *Keypair) RemoteIndex() uint32 { return k.remoteIndex }
func (k *Keypair) Initiator() bool     { return k.initiator }
func (k *Keypair) Created() time.Time  { return k.created }

// SendKey and ReceiveKey return the transport keys T of each direction.
// They are for Mirror.Install, to hand the keys to the kernel; the arrays
// are zeroed when the keypair is dropped, so do not keep the pointers.
func (k *Keypair) SendKey() *[KeyLen]byte    { return &k.send }
func (k *Keypair) ReceiveKey() *[KeyLen]byte { return &k.receive }

// String describes the keypair without any key material.
func (k *Keypair) String() string {
	role := "responder"
	if k.initiator {
		role = "initiator"
	}
	return fmt.Sprintf("keypair(peer %d, local %#08x, remote %#08x, %s, %s)",
		k.peer, k.localIndex, k.remoteIndex, k.suite, role)
}

// expired reports whether the keypair is past REJECT_AFTER_TIME: it may
// neither send nor receive any more.
func (k *Keypair) expired(now time.Time) bool {
	return now.Sub(k.created) >= RejectAfterTime
}

// zero wipes the key material; the keypair is unusable afterwards.
func (k *Keypair) zero() {
	clear(k.send[:])
	clear(k.receive[:])
	k.dropped = true
}

// GoString keeps %#v from printing the key arrays.
func (k *Keypair) GoString() string { return k.String() }
