// SPDX-License-Identifier: MIT

package keystore

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"

	"golang.org/x/crypto/chacha20poly1305"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// RFC 8439 section 2.5.2: the Poly1305 test vector. Checks the reference
// Poly1305 that the vector tests trust.
func TestRefPoly1305RFC8439(t *testing.T) {
	var key [32]byte
	copy(key[:], mustHex(t, `85d6be7857556d337f4452fe42d506a8 0103808afb0db2fd4abff6af4149f51b`))
	want := mustHex(t, `a8061dc1305136c6c22b8baf0c0127a9`)
	got := refPoly1305(&key, []byte("Cryptographic Forum Research Group"))
	if !bytes.Equal(got[:], want) {
		t.Fatalf("poly1305 = %x, want %x", got, want)
	}
}

// RFC 8439 section 2.8.2: the AEAD test vector, with its associated data.
// It checks the AEAD this package seals chacha20poly1305 with and the
// reference AEAD of the tests.
func TestChaCha20Poly1305RFC8439(t *testing.T) {
	key := mustHex(t, `808182838485868788898a8b8c8d8e8f 909192939495969798999a9b9c9d9e9f`)
	nonce := mustHex(t, `070000004041424344454647`)
	ad := mustHex(t, `50515253c0c1c2c3c4c5c6c7`)
	plaintext := []byte("Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.")
	want := mustHex(t, `
		d31a8d34648e60db7b86afbc53ef7ec2 a4aded51296e08fea9e2b5a736ee62d6
		3dbea45e8ca9671282fafb69da92728b 1a71de0a9e060b2905d6a5b67ecd3b36
		92ddbd7f2d778b8c9803aee328091b58 fab324e4fad675945585808b4831d7bc
		3ff4def08e4b7a9de576d26586cec64b 6116
		1ae10b594f09e26a7e902ecbd0600691`)

	aead, err := chacha20poly1305.New(key)
	if err != nil {
		t.Fatal(err)
	}
	if got := aead.Seal(nil, nonce, plaintext, ad); !bytes.Equal(got, want) {
		t.Fatalf("x/crypto seal:\n got %x\nwant %x", got, want)
	}
	if got, _ := refChaCha20Poly1305(t, key, nonce, ad, plaintext); !bytes.Equal(got, want) {
		t.Fatalf("reference seal:\n got %x\nwant %x", got, want)
	}
	opened, err := aead.Open(nil, nonce, want, ad)
	if err != nil || !bytes.Equal(opened, plaintext) {
		t.Fatalf("open = %q, %v", opened, err)
	}
	if _, err := aead.Open(nil, nonce, want, ad[1:]); err == nil {
		t.Fatal("open with different associated data succeeded")
	}
}
