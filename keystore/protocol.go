// SPDX-License-Identifier: MIT

package keystore

import (
	"math"
	"time"
)

// Protocol constants from the WireGuard paper, section 6. The BPF side
// mirrors these in bpf/lib/common.h.

// Data message types. aes-cbc has a type of its own so that a peer using the
// other suite is counted as a mismatch instead of looking like a forgery.
const (
	MessageTypeData       = 4    // WG_MSG_DATA
	MessageTypeDataAESCBC = 0x84 // WG_MSG_DATA_AESCBC
)

// Data message layout: type(1) reserved(3) receiver(4 LE) counter(8 LE),
// then the encrypted, padded payload and its tag.
const (
	DataHeaderLen  = 16
	TagLen         = 16
	KeyLen         = 32
	MinDataMessage = DataHeaderLen + TagLen // a keepalive: empty payload
	paddingUnit    = 16                     // both suites pad to this multiple
)

// Keypair lifetimes.
const (
	RekeyAfterMessages  = uint64(1) << 60
	RejectAfterMessages = math.MaxUint64 - (uint64(1) << 13) // 2^64 - 2^13 - 1
	RekeyAfterTime      = 120 * time.Second
	RejectAfterTime     = 180 * time.Second
	KeepaliveTimeout    = 10 * time.Second
	RekeyTimeout        = 5 * time.Second
	// ZeroKeysAfterTime is how long after the last handshake all key
	// material of a peer is erased (REJECT_AFTER_TIME * 3).
	ZeroKeysAfterTime = RejectAfterTime * 3
	// RekeyOnReceiveAfter: an initiator that is still receiving on a keypair
	// this old starts a new handshake so that the keypair does not expire
	// under traffic that flows only towards it.
	RekeyOnReceiveAfter = RejectAfterTime - KeepaliveTimeout - RekeyTimeout
)
