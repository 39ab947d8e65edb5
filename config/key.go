// SPDX-License-Identifier: MIT

package config

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"

	"golang.org/x/crypto/curve25519"
)

// KeyLen is the length in bytes of every WireGuard key.
const KeyLen = 32

// hidden is what secret keys print as.
const hidden = "(hidden)"

// Key is a Curve25519 public key. Its text form is standard base64.
type Key [KeyLen]byte

// PrivateKey is a Curve25519 private key. It never prints its value: every
// fmt verb, String, GoString and MarshalText give "(hidden)".
type PrivateKey [KeyLen]byte

// PresharedKey is a WireGuard preshared symmetric key. The zero value means
// "no preshared key", exactly as in WireGuard. Like PrivateKey, it never
// prints its value.
type PresharedKey [KeyLen]byte

// decodeKey decodes a 44-character standard base64 string holding 32 bytes.
func decodeKey(s string) ([KeyLen]byte, bool) {
	var k [KeyLen]byte
	if len(s) != keyTextLen {
		return k, false
	}
	// StdEncoding skips '\r' and '\n'; such input is never a key.
	for i := 0; i < len(s); i++ {
		if s[i] == '\r' || s[i] == '\n' {
			return k, false
		}
	}
	// Both buffers on the stack and wiped: []byte(s) would be a heap copy
	// of the encoded key that nothing wipes.
	var src [keyTextLen]byte
	var buf [KeyLen + 1]byte // DecodedLen(44) is 33
	copy(src[:], s)
	n, err := base64.StdEncoding.Decode(buf[:], src[:])
	clear(src[:])
	if err != nil || n != KeyLen {
		clear(buf[:])
		return k, false
	}
	copy(k[:], buf[:KeyLen])
	clear(buf[:])
	return k, true
}

// keyTextLen is the length of a key in base64.
const keyTextLen = 44

// encodeKey writes k in base64 into dst.
func encodeKey(dst *[keyTextLen]byte, k *[KeyLen]byte) {
	base64.StdEncoding.Encode(dst[:], k[:])
}

// ParseKey parses a base64 public key. The error echoes the input, which is
// public.
func ParseKey(s string) (Key, error) {
	k, ok := decodeKey(s)
	if !ok {
		return Key{}, &Error{Key: "PublicKey", Msg: fmt.Sprintf("%q is not a valid base64 32-byte key", s)}
	}
	return Key(k), nil
}

// ParsePrivateKey parses a base64 private key. The error never contains the
// input.
func ParsePrivateKey(s string) (PrivateKey, error) {
	k, ok := decodeKey(s)
	if !ok {
		return PrivateKey{}, &Error{Key: "PrivateKey", Msg: "not a valid base64 32-byte key"}
	}
	return PrivateKey(k), nil
}

// ParsePresharedKey parses a base64 preshared key. The error never contains
// the input.
func ParsePresharedKey(s string) (PresharedKey, error) {
	k, ok := decodeKey(s)
	if !ok {
		return PresharedKey{}, &Error{Key: "PresharedKey", Msg: "not a valid base64 32-byte key"}
	}
	return PresharedKey(k), nil
}

// String returns the key in standard base64.
func (k Key) String() string { return base64.StdEncoding.EncodeToString(k[:]) }

// IsZero reports whether k is all zeros.
func (k Key) IsZero() bool { return k == Key{} }

// MarshalText returns the base64 form.
func (k Key) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText parses the base64 form.
func (k *Key) UnmarshalText(b []byte) error {
	v, err := ParseKey(string(b))
	if err != nil {
		return err
	}
	*k = v
	return nil
}

// GeneratePrivateKey returns a new random, clamped private key.
func GeneratePrivateKey() (PrivateKey, error) {
	var k PrivateKey
	if _, err := rand.Read(k[:]); err != nil {
		return PrivateKey{}, &Error{Key: "PrivateKey", Msg: "generating key: " + err.Error(), Err: err}
	}
	k[0] &= 248
	k[31] &= 127
	k[31] |= 64
	return k, nil
}

// GeneratePresharedKey returns a new random preshared key.
func GeneratePresharedKey() (PresharedKey, error) {
	var k PresharedKey
	if _, err := rand.Read(k[:]); err != nil {
		return PresharedKey{}, &Error{Key: "PresharedKey", Msg: "generating key: " + err.Error(), Err: err}
	}
	return k, nil
}

// Public returns the public key for k. The scalar is clamped as X25519
// requires, so unclamped keys (which wg(8) accepts) give the same public key
// as their clamped form. The zero key and any key whose product is the
// identity give the zero Key.
func (k PrivateKey) Public() Key {
	out, err := curve25519.X25519(k[:], curve25519.Basepoint)
	if err != nil {
		return Key{}
	}
	return Key(out)
}

// IsZero reports whether k is all zeros.
func (k PrivateKey) IsZero() bool { return subtle.ConstantTimeCompare(k[:], make([]byte, KeyLen)) == 1 }

// Equal compares two private keys in constant time.
func (k PrivateKey) Equal(o PrivateKey) bool { return subtle.ConstantTimeCompare(k[:], o[:]) == 1 }

// String returns "(hidden)".
func (PrivateKey) String() string { return hidden }

// GoString returns a placeholder, so %#v does not print the key.
func (PrivateKey) GoString() string { return "config.PrivateKey(" + hidden + ")" }

// Format implements fmt.Formatter so that no verb prints the key bytes.
func (PrivateKey) Format(f fmt.State, verb rune) { _, _ = f.Write([]byte(hidden)) }

// MarshalText returns "(hidden)", so encoders such as encoding/json and
// log/slog do not write the key.
func (PrivateKey) MarshalText() ([]byte, error) { return []byte(hidden), nil }

// IsZero reports whether k is all zeros (no preshared key).
func (k PresharedKey) IsZero() bool {
	return subtle.ConstantTimeCompare(k[:], make([]byte, KeyLen)) == 1
}

// Equal compares two preshared keys in constant time.
func (k PresharedKey) Equal(o PresharedKey) bool { return subtle.ConstantTimeCompare(k[:], o[:]) == 1 }

// String returns "(hidden)".
func (PresharedKey) String() string { return hidden }

// GoString returns a placeholder, so %#v does not print the key.
func (PresharedKey) GoString() string { return "config.PresharedKey(" + hidden + ")" }

// Format implements fmt.Formatter so that no verb prints the key bytes.
func (PresharedKey) Format(f fmt.State, verb rune) { _, _ = f.Write([]byte(hidden)) }

// MarshalText returns "(hidden)".
func (PresharedKey) MarshalText() ([]byte, error) { return []byte(hidden), nil }
