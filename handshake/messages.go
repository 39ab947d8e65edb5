// SPDX-License-Identifier: MIT

package handshake

import (
	"encoding/binary"
	"fmt"
)

// Message types: a little-endian u32 whose upper three bytes are the reserved
// zeros of the wire format, so a message with non-zero reserved bytes simply
// has an unknown type.
const (
	MessageInitiationType  = 1
	MessageResponseType    = 2
	MessageCookieReplyType = 3
	MessageTransportType   = 4
)

// Message sizes.
const (
	MessageInitiationSize  = 148
	MessageResponseSize    = 92
	MessageCookieReplySize = 64
	macSize                = 16
)

// Field offsets. Initiation: type(4) sender(4) ephemeral(32) static(32+16)
// timestamp(12+16) mac1 mac2. Response: type sender receiver(4) ephemeral(32)
// empty(0+16) mac1 mac2. Cookie reply: type receiver nonce(24) cookie(16+16).
const (
	offSender   = 4
	offReceiver = 8 // response only

	initiationNoiseStart = 8
	initiationNoiseEnd   = MessageInitiationSize - 2*macSize // 116
	responseNoiseStart   = 12
	responseNoiseEnd     = MessageResponseSize - 2*macSize // 60

	cookieReplyReceiver = 4
	cookieReplyNonce    = 8
	cookieReplyCookie   = 32
	cookieNonceSize     = 24
)

// messageType reads the type and checks the length that type requires.
func messageType(msg []byte) (uint32, error) {
	if len(msg) < 4 {
		return 0, fmt.Errorf("%w: %d bytes", ErrMessageLength, len(msg))
	}
	typ := binary.LittleEndian.Uint32(msg)
	var want int
	switch typ {
	case MessageInitiationType:
		want = MessageInitiationSize
	case MessageResponseType:
		want = MessageResponseSize
	case MessageCookieReplyType:
		want = MessageCookieReplySize
	default:
		return 0, fmt.Errorf("%w: %#x", ErrUnknownType, typ)
	}
	if len(msg) != want {
		return 0, fmt.Errorf("%w: type %d with %d bytes, want %d", ErrMessageLength, typ, len(msg), want)
	}
	return typ, nil
}

// macOffsets returns where mac1 and mac2 start in a message of size n.
func macOffsets(n int) (mac1, mac2 int) {
	return n - 2*macSize, n - macSize
}

func putHeader(msg []byte, typ uint32, sender uint32) {
	binary.LittleEndian.PutUint32(msg[0:4], typ)
	binary.LittleEndian.PutUint32(msg[offSender:offSender+4], sender)
}

func sender(msg []byte) uint32 {
	return binary.LittleEndian.Uint32(msg[offSender : offSender+4])
}

func receiver(msg []byte) uint32 {
	return binary.LittleEndian.Uint32(msg[offReceiver : offReceiver+4])
}

func cookieReplyReceiverIndex(msg []byte) uint32 {
	return binary.LittleEndian.Uint32(msg[cookieReplyReceiver : cookieReplyReceiver+4])
}
