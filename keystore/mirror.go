// SPDX-License-Identifier: MIT

package keystore

// Mirror receives every change the kernel's session table must follow. The
// Store calls it with its lock held, in the order the changes happen:
// a keypair is installed before it becomes current and removed only after
// the peer's current keypair no longer is it. Implementations must not call
// back into the Store.
type Mirror interface {
	// Install makes a new keypair known: packets to its local index may be
	// received. Its keys are readable during the call.
	Install(kp *Keypair)
	// SetCurrent makes kp the keypair peer's packets are sent with; nil
	// means the peer has none and must not send until a new handshake.
	SetCurrent(peer PeerID, kp *Keypair)
	// Remove forgets the keypair with this local index. The Store has
	// zeroed its keys once Remove returns.
	Remove(localIndex uint32)
}

// noMirror is used when the Store has no kernel to keep in step (tests,
// a purely userspace peer).
type noMirror struct{}

func (noMirror) Install(*Keypair)            {}
func (noMirror) SetCurrent(PeerID, *Keypair) {}
func (noMirror) Remove(uint32)               {}

// ReceiveWindow is implemented by a Mirror whose kernel keeps the replay
// window of the keypairs it installed. The Store then commits every counter
// it opens there, so that the kernel's packet path and the Store share one
// window per keypair and no message is accepted twice, whichever of them
// sees it first.
type ReceiveWindow interface {
	// CommitReceive marks counter as received on the keypair with
	// localIndex. held is false when the kernel has no such keypair; the
	// Store's own window decides then. accepted is false for a replay (or
	// when the kernel could not be asked: fail closed).
	CommitReceive(localIndex uint32, counter uint64) (accepted, held bool)
}
