// SPDX-License-Identifier: MIT

package keystore

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Errors of ParseDataHeader.
var (
	ErrShortMessage    = errors.New("data message too short")
	ErrNotDataMessage  = errors.New("not a data message")
	ErrReservedNotZero = errors.New("data message reserved bytes not zero")
)

// AppendDataHeader appends the 16-byte data message header for suite s:
// type, three zero reserved bytes, receiver index (LE), counter (LE).
// An unknown suite gets type 0, which every receiver rejects.
func AppendDataHeader(dst []byte, s Suite, receiver uint32, counter uint64) []byte {
	dst = append(dst, s.MessageType(), 0, 0, 0)
	dst = binary.LittleEndian.AppendUint32(dst, receiver)
	return binary.LittleEndian.AppendUint64(dst, counter)
}

// ParseDataHeader splits a data message into its header fields and the
// payload (ciphertext || tag), which aliases msg. The suite comes from the
// message type. The reserved bytes must be zero: WireGuard reads the type as
// a little-endian 32-bit word, so anything else is a different type.
func ParseDataHeader(msg []byte) (s Suite, receiver uint32, counter uint64, payload []byte, err error) {
	if len(msg) < MinDataMessage {
		return 0, 0, 0, nil, fmt.Errorf("%w: %d bytes, need %d", ErrShortMessage, len(msg), MinDataMessage)
	}
	s, ok := suiteOfMessageType(msg[0])
	if !ok {
		return 0, 0, 0, nil, fmt.Errorf("%w: type %#x", ErrNotDataMessage, msg[0])
	}
	if msg[1]|msg[2]|msg[3] != 0 {
		return 0, 0, 0, nil, ErrReservedNotZero
	}
	receiver = binary.LittleEndian.Uint32(msg[4:8])
	counter = binary.LittleEndian.Uint64(msg[8:16])
	return s, receiver, counter, msg[DataHeaderLen:], nil
}
