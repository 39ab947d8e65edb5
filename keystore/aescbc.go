// SPDX-License-Identifier: MIT

package keystore

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"encoding/binary"
	"fmt"

	"golang.org/x/crypto/poly1305"
)

// The aes-cbc suite: AES-256-CBC for confidentiality,
// Poly1305 over the ciphertext for integrity (encrypt-then-MAC). It exists
// because the kernel's bpf_crypto offers cbc(aes) and ecb(aes) but no AEAD.
//
// Per packet with counter c, one AES-256-ECB call under K_aux over
//
//	le64(c)||le64(0), le64(c)||le64(1), le64(c)||le64(2)
//
// gives the CBC IV (block 0) and the one-time Poly1305 key r||s (blocks
// 1-2). Every (key, counter) pair yields a fresh IV and MAC key, so neither
// is sent and a counter must never be reused — the same rule as the AEAD.

const aesCBCAuxBlocks = 3 // IV + two blocks of Poly1305 key

// aesCBCPacketKeys is what one packet needs: the CBC cipher, its IV and the
// one-time Poly1305 key.
type aesCBCPacketKeys struct {
	cbc     cipher.Block
	iv      [aes.BlockSize]byte
	polyKey [32]byte
}

func (k *aesCBCPacketKeys) zero() {
	clear(k.iv[:])
	clear(k.polyKey[:])
}

// newAESCBCPacketKeys derives K_cbc and K_aux from T and the per-packet IV
// and Poly1305 key. The AES key schedules live inside crypto/aes, which
// cannot be wiped; the 32-byte keys are wiped here.
func newAESCBCPacketKeys(t *[32]byte, counter uint64) (*aesCBCPacketKeys, error) {
	kcbc, kaux := DeriveAESCBCKeys(t)
	defer clear(kcbc[:])
	defer clear(kaux[:])

	cbc, err := aes.NewCipher(kcbc[:])
	if err != nil {
		return nil, fmt.Errorf("%s: cbc key: %w", SuiteAESCBC, err)
	}
	aux, err := aes.NewCipher(kaux[:])
	if err != nil {
		return nil, fmt.Errorf("%s: aux key: %w", SuiteAESCBC, err)
	}
	var blocks [aesCBCAuxBlocks * aes.BlockSize]byte
	defer clear(blocks[:])
	aesCBCAuxInput(&blocks, counter)
	for i := 0; i < len(blocks); i += aes.BlockSize {
		aux.Encrypt(blocks[i:i+aes.BlockSize], blocks[i:i+aes.BlockSize])
	}
	k := &aesCBCPacketKeys{cbc: cbc}
	copy(k.iv[:], blocks[:aes.BlockSize])
	copy(k.polyKey[:], blocks[aes.BlockSize:])
	return k, nil
}

// aesCBCAuxInput fills the ECB input blocks le64(counter)||le64(i).
func aesCBCAuxInput(blocks *[aesCBCAuxBlocks * aes.BlockSize]byte, counter uint64) {
	for i := range aesCBCAuxBlocks {
		b := blocks[i*aes.BlockSize:]
		binary.LittleEndian.PutUint64(b[0:8], counter)
		binary.LittleEndian.PutUint64(b[8:16], uint64(i))
	}
}

// aesCBCTag is Poly1305 over RFC 8439's mac_data with empty associated data:
// C || pad16(C) || le64(0) || le64(len(C)). C is whole AES blocks, so pad16
// is always empty.
func aesCBCTag(tag *[TagLen]byte, polyKey *[32]byte, ciphertext []byte) {
	var lengths [16]byte
	binary.LittleEndian.PutUint64(lengths[8:], uint64(len(ciphertext)))
	mac := poly1305.New(polyKey)
	mac.Write(ciphertext)
	mac.Write(lengths[:])
	mac.Sum(tag[:0])
}

// sealAESCBC appends C || tag. A plaintext that is not whole blocks is
// zero-padded here so that no input can break CBC; callers pad with
// PaddedLen already, and then nothing is added.
func sealAESCBC(key *[32]byte, counter uint64, dst, padded []byte) []byte {
	k, err := newAESCBCPacketKeys(key, counter)
	if err != nil {
		return dst
	}
	defer k.zero()

	n := roundUp16(len(padded))
	ret, out := sliceForAppend(dst, n+TagLen)
	ciphertext := out[:n]
	// copy handles the in-place case (padded aliasing ret) as well.
	copy(ciphertext, padded)
	clear(ciphertext[len(padded):])
	cipher.NewCBCEncrypter(k.cbc, k.iv[:]).CryptBlocks(ciphertext, ciphertext)

	var tag [TagLen]byte
	aesCBCTag(&tag, &k.polyKey, ciphertext)
	copy(out[n:], tag[:])
	return ret
}

// openAESCBC checks the tag before anything is decrypted, then appends the
// padded plaintext to dst.
func openAESCBC(key *[32]byte, counter uint64, dst, ciphertextAndTag []byte) ([]byte, error) {
	if len(ciphertextAndTag) < TagLen {
		return nil, fmt.Errorf("%s: %w: %d bytes", SuiteAESCBC, ErrShortPayload, len(ciphertextAndTag))
	}
	n := len(ciphertextAndTag) - TagLen
	if n%aes.BlockSize != 0 {
		return nil, fmt.Errorf("%s: %w: %d bytes", SuiteAESCBC, ErrCiphertextLength, n)
	}
	ciphertext, gotTag := ciphertextAndTag[:n], ciphertextAndTag[n:]

	k, err := newAESCBCPacketKeys(key, counter)
	if err != nil {
		return nil, err
	}
	defer k.zero()

	var wantTag [TagLen]byte
	aesCBCTag(&wantTag, &k.polyKey, ciphertext)
	if subtle.ConstantTimeCompare(wantTag[:], gotTag) != 1 {
		return nil, fmt.Errorf("%s: %w", SuiteAESCBC, ErrAuthentication)
	}

	ret, out := sliceForAppend(dst, n)
	// CryptBlocks allows exact overlap (in-place open with dst =
	// ciphertextAndTag[:0]) and no overlap.
	cipher.NewCBCDecrypter(k.cbc, k.iv[:]).CryptBlocks(out, ciphertext)
	return ret, nil
}
