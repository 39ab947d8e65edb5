// SPDX-License-Identifier: MIT

package keystore

import (
	"crypto/hmac"
	"hash"

	"golang.org/x/crypto/blake2s"
)

// aesCBCKeyLabel is the KDF input that separates the aes-cbc keys from every
// other use of a transport key. Changing it changes the wire format.
const aesCBCKeyLabel = "wgbpfd aes-cbc v1"

// DeriveAESCBCKeys derives the aes-cbc suite's two keys from one direction's
// transport key T with WireGuard's KDF2 (HMAC-BLAKE2s):
//
//	tau0 = HMAC(T, "wgbpfd aes-cbc v1")
//	kcbc = HMAC(tau0, 0x01)            the AES-256-CBC key
//	kaux = HMAC(tau0, kcbc || 0x02)    the AES-256-ECB key for IV and Poly1305 key
//
// The data plane keeps the derived keys, never T, for this suite.
func DeriveAESCBCKeys(t *[32]byte) (kcbc, kaux [32]byte) {
	var tau0 [blake2s.Size]byte
	defer clear(tau0[:])
	hmacBLAKE2s(&tau0, t[:], []byte(aesCBCKeyLabel))
	hmacBLAKE2s(&kcbc, tau0[:], []byte{0x01})
	hmacBLAKE2s(&kaux, tau0[:], kcbc[:], []byte{0x02})
	return kcbc, kaux
}

// hmacBLAKE2s sets sum to HMAC-BLAKE2s-256(key, concatenation of in).
// WireGuard uses HMAC over unkeyed BLAKE2s, not BLAKE2s's own keyed mode.
func hmacBLAKE2s(sum *[blake2s.Size]byte, key []byte, in ...[]byte) {
	mac := hmac.New(newBLAKE2s256, key)
	for _, b := range in {
		mac.Write(b)
	}
	mac.Sum(sum[:0])
}

func newBLAKE2s256() hash.Hash {
	h, err := blake2s.New256(nil)
	if err != nil {
		// Only a key longer than 32 bytes fails, and there is none.
		return nil
	}
	return h
}
