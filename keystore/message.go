// SPDX-License-Identifier: MIT

package keystore

import "fmt"

// SealMessage builds a whole data message: header, then plaintext padded for
// suite s and mtu (see PaddedLen), encrypted and tagged under key with
// counter. It returns nil for an unknown suite.
//
// Counter bookkeeping (uniqueness, REJECT_AFTER_MESSAGES) is the caller's;
// Store.SealMessage does it.
func SealMessage(s Suite, key *[32]byte, receiver uint32, counter uint64, plaintext []byte, mtu int) []byte {
	if !s.Valid() {
		return nil
	}
	padded := PaddedLen(s, len(plaintext), mtu)
	msg := make([]byte, 0, DataHeaderLen+padded+TagLen)
	msg = AppendDataHeader(msg, s, receiver, counter)
	// The plaintext is staged in the message buffer itself and sealed in
	// place, so no second copy of it is made.
	body := append(msg[DataHeaderLen:], plaintext...)
	body = body[:padded] // capacity covers it; the bytes are fresh zeros
	return SealPayload(s, key, counter, msg, body)
}

// OpenMessage parses and authenticates a data message that must be of
// suite s and appends its padded plaintext to dst. The padding is left in:
// only the inner IP header knows the real length. Replay and counter limits
// are the caller's (see Store.OpenMessage).
func OpenMessage(s Suite, key *[32]byte, dst, msg []byte) (receiver uint32, counter uint64, padded []byte, err error) {
	got, receiver, counter, payload, err := ParseDataHeader(msg)
	if err != nil {
		return 0, 0, nil, err
	}
	if got != s {
		return 0, 0, nil, fmt.Errorf("%w: got %s, want %s", ErrSuiteMismatch, got, s)
	}
	padded, err = OpenPayload(s, key, counter, dst, payload)
	if err != nil {
		return 0, 0, nil, err
	}
	return receiver, counter, padded, nil
}
