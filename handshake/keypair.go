// SPDX-License-Identifier: MIT

package handshake

import (
	"fmt"
	"time"
)

// Keypair is the result of a completed handshake: the two transport keys of
// one session and the indices that name it on the wire.
type Keypair struct {
	Send        [32]byte // key for packets we send (initiator→responder if Initiator)
	Receive     [32]byte // key for packets we receive
	LocalIndex  uint32   // the receiver index peers put on packets to us
	RemoteIndex uint32   // the receiver index we put on packets to the peer
	Initiator   bool     // true if we sent the initiation
	Created     time.Time
}

// Wipe zeroes both keys. Whoever drops a Keypair instead of handing it on
// calls it; keystore.Store.Add does once it has copied them.
func (k *Keypair) Wipe() {
	clear(k.Send[:])
	clear(k.Receive[:])
}

// String shows the indices only: keys never go into logs.
func (k Keypair) String() string {
	return fmt.Sprintf("keypair{local %#x, remote %#x, initiator %t, created %s}",
		k.LocalIndex, k.RemoteIndex, k.Initiator, k.Created.Format(time.RFC3339Nano))
}

// GoString is String, so %#v cannot print the keys either.
func (k Keypair) GoString() string { return k.String() }
