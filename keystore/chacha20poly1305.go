// SPDX-License-Identifier: MIT

package keystore

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
)

// chachaNonce is WireGuard's nonce: 4 zero bytes || little-endian counter.
func chachaNonce(counter uint64) [chacha20poly1305.NonceSize]byte {
	var n [chacha20poly1305.NonceSize]byte
	binary.LittleEndian.PutUint64(n[4:], counter)
	return n
}

// sealChaCha20Poly1305 is WireGuard's transport encryption: RFC 8439 AEAD
// with empty associated data.
func sealChaCha20Poly1305(key *[32]byte, counter uint64, dst, padded []byte) []byte {
	aead, err := chacha20poly1305.New(key[:])
	if err != nil {
		// Unreachable: the key has the one length New accepts.
		return dst
	}
	nonce := chachaNonce(counter)
	return aead.Seal(dst, nonce[:], padded, nil)
}

func openChaCha20Poly1305(key *[32]byte, counter uint64, dst, ciphertextAndTag []byte) ([]byte, error) {
	if len(ciphertextAndTag) < TagLen {
		return nil, fmt.Errorf("%s: %w: %d bytes", SuiteChaCha20Poly1305, ErrShortPayload, len(ciphertextAndTag))
	}
	aead, err := chacha20poly1305.New(key[:])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", SuiteChaCha20Poly1305, err)
	}
	nonce := chachaNonce(counter)
	out, err := aead.Open(dst, nonce[:], ciphertextAndTag, nil)
	if err != nil {
		// x/crypto's error says nothing about the key; replace it with ours
		// so callers test one sentinel for every suite.
		return nil, fmt.Errorf("%s: %w", SuiteChaCha20Poly1305, ErrAuthentication)
	}
	return out, nil
}
