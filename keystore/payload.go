// SPDX-License-Identifier: MIT

package keystore

import (
	"errors"
	"fmt"
)

// Errors of OpenPayload and OpenMessage. None of them carries key material.
var (
	ErrAuthentication   = errors.New("message authentication failed")
	ErrShortPayload     = errors.New("payload shorter than the tag")
	ErrCiphertextLength = errors.New("ciphertext length not a multiple of 16")
	ErrSuiteMismatch    = errors.New("data message of another suite")
)

// SealPayload appends ciphertext || 16-byte tag of padded to dst and returns
// the extended slice. key is the sending direction's transport key T; padded
// is the plaintext already zero-padded to PaddedLen. dst may be padded[:0]
// (in-place) or must not overlap padded at all.
//
// aes-cbc zero-pads a plaintext that is not whole blocks itself. For an
// unknown suite nothing is appended: dst is returned unchanged.
func SealPayload(s Suite, key *[32]byte, counter uint64, dst, padded []byte) []byte {
	switch s {
	case SuiteChaCha20Poly1305:
		return sealChaCha20Poly1305(key, counter, dst, padded)
	case SuiteAESCBC:
		return sealAESCBC(key, counter, dst, padded)
	}
	return dst
}

// OpenPayload authenticates ciphertextAndTag and appends the padded plaintext
// to dst. key is the receiving direction's transport key. It fails with
// ErrAuthentication on a bad tag, ErrShortPayload below 16 bytes and, for
// aes-cbc, ErrCiphertextLength when the ciphertext is not whole blocks.
// dst may be ciphertextAndTag[:0] (in-place) or must not overlap it.
//
// OpenPayload does not check the counter against a replay window or the
// REJECT_AFTER_MESSAGES limit; the caller does (see Store.OpenMessage).
func OpenPayload(s Suite, key *[32]byte, counter uint64, dst, ciphertextAndTag []byte) ([]byte, error) {
	switch s {
	case SuiteChaCha20Poly1305:
		return openChaCha20Poly1305(key, counter, dst, ciphertextAndTag)
	case SuiteAESCBC:
		return openAESCBC(key, counter, dst, ciphertextAndTag)
	}
	return nil, fmt.Errorf("%w: %d", ErrUnknownSuite, uint8(s))
}

// sliceForAppend extends in by n bytes, reallocating only when the capacity
// is short, and returns the whole slice and the n new bytes.
func sliceForAppend(in []byte, n int) (whole, tail []byte) {
	total := len(in) + n
	if cap(in) >= total {
		whole = in[:total]
	} else {
		whole = make([]byte, total)
		copy(whole, in)
	}
	return whole, whole[len(in):]
}
