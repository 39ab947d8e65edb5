// SPDX-License-Identifier: MIT

package keystore

import (
	"crypto/aes"
	"encoding/binary"
	"math/big"
	"testing"

	"golang.org/x/crypto/chacha20"
	"golang.zx2c4.com/wireguard/device"
)

// A second implementation of both suites, written from the specifications
// with different building blocks than the package code (big-integer
// Poly1305, CBC chained by hand over cipher.Block, wireguard-go's own KDF2,
// raw ChaCha20), so that the vectors are checked against something other
// than the code that wrote them.

// refPoly1305 is RFC 8439 section 2.5.1 in arbitrary precision.
func refPoly1305(key *[32]byte, msg []byte) [16]byte {
	var rb [16]byte
	copy(rb[:], key[:16])
	for _, i := range []int{3, 7, 11, 15} {
		rb[i] &= 0x0f
	}
	for _, i := range []int{4, 8, 12} {
		rb[i] &= 0xfc
	}
	r := leInt(rb[:])
	s := leInt(key[16:])
	p := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 130), big.NewInt(5))
	acc := new(big.Int)
	for len(msg) > 0 {
		n := min(16, len(msg))
		block := append(append([]byte{}, msg[:n]...), 0x01)
		acc.Add(acc, leInt(block))
		acc.Mul(acc, r)
		acc.Mod(acc, p)
		msg = msg[n:]
	}
	acc.Add(acc, s)
	var tag [16]byte
	be := acc.Bytes() // big-endian, may be longer than 16 bytes
	for i := 0; i < 16 && i < len(be); i++ {
		tag[i] = be[len(be)-1-i]
	}
	return tag
}

func leInt(b []byte) *big.Int {
	be := make([]byte, len(b))
	for i := range b {
		be[len(b)-1-i] = b[i]
	}
	return new(big.Int).SetBytes(be)
}

// refMACData is RFC 8439 section 2.8's Poly1305 input.
func refMACData(ad, ciphertext []byte) []byte {
	pad := func(b []byte) []byte { return make([]byte, (16-len(b)%16)%16) }
	var out []byte
	out = append(out, ad...)
	out = append(out, pad(ad)...)
	out = append(out, ciphertext...)
	out = append(out, pad(ciphertext)...)
	out = binary.LittleEndian.AppendUint64(out, uint64(len(ad)))
	out = binary.LittleEndian.AppendUint64(out, uint64(len(ciphertext)))
	return out
}

// refChaCha20Poly1305 is the RFC 8439 AEAD from raw ChaCha20 and
// refPoly1305; it also returns the one-time Poly1305 key.
func refChaCha20Poly1305(t testing.TB, key []byte, nonce, ad, plaintext []byte) (sealed []byte, polyKey [32]byte) {
	t.Helper()
	c, err := chacha20.NewUnauthenticatedCipher(key, nonce)
	if err != nil {
		t.Fatal(err)
	}
	var block0 [64]byte
	c.XORKeyStream(block0[:], block0[:])
	copy(polyKey[:], block0[:32])
	c.SetCounter(1)
	ct := make([]byte, len(plaintext))
	c.XORKeyStream(ct, plaintext)
	tag := refPoly1305(&polyKey, refMACData(ad, ct))
	return append(ct, tag[:]...), polyKey
}

// refAESCBCParts are the intermediate values of the aes-cbc suite.
type refAESCBCParts struct {
	kcbc, kaux [32]byte
	iv         [16]byte
	polyKey    [32]byte
	sealed     []byte
}

func refAESCBC(t testing.TB, transportKey *[32]byte, counter uint64, padded []byte) refAESCBCParts {
	t.Helper()
	if len(padded)%16 != 0 {
		t.Fatalf("reference aes-cbc given %d bytes, not whole blocks", len(padded))
	}
	var p refAESCBCParts
	device.KDF2(&p.kcbc, &p.kaux, transportKey[:], []byte("wgbpfd aes-cbc v1"))

	aux, err := aes.NewCipher(p.kaux[:])
	if err != nil {
		t.Fatal(err)
	}
	var in, out [16]byte
	var stream [48]byte
	for i := range 3 {
		binary.LittleEndian.PutUint64(in[:8], counter)
		binary.LittleEndian.PutUint64(in[8:], uint64(i))
		aux.Encrypt(out[:], in[:])
		copy(stream[16*i:], out[:])
	}
	copy(p.iv[:], stream[:16])
	copy(p.polyKey[:], stream[16:])

	cbc, err := aes.NewCipher(p.kcbc[:])
	if err != nil {
		t.Fatal(err)
	}
	prev := p.iv
	ct := make([]byte, 0, len(padded)+16)
	for off := 0; off < len(padded); off += 16 {
		var x [16]byte
		for j := range x {
			x[j] = padded[off+j] ^ prev[j]
		}
		cbc.Encrypt(prev[:], x[:])
		ct = append(ct, prev[:]...)
	}
	tag := refPoly1305(&p.polyKey, refMACData(nil, ct))
	p.sealed = append(ct, tag[:]...)
	return p
}
