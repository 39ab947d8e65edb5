// SPDX-License-Identifier: MIT

package keystore

import (
	"errors"
	"fmt"
	"strconv"
)

// Suite is a transport suite: how data message payloads are encrypted and
// authenticated. The values are part of the kernel contract (WG_SUITE_* in
// bpf/lib/common.h) and are stored in every session.
type Suite uint8

const (
	// SuiteChaCha20Poly1305 is WireGuard's own transport: RFC 8439 AEAD.
	SuiteChaCha20Poly1305 Suite = 1
	// SuiteAESCBC is wgbpfd's AES-256-CBC + Poly1305 encrypt-then-MAC suite,
	// built from what the kernel's bpf_crypto offers (skcipher only).
	SuiteAESCBC Suite = 2
)

// Suite names as written in the configuration file (Cipher = ...).
const (
	suiteNameChaCha20Poly1305 = "chacha20poly1305"
	suiteNameAESCBC           = "aes-cbc"
)

// ErrUnknownSuite is returned for a suite name or number wgbpfd does not know.
var ErrUnknownSuite = errors.New("unknown transport suite")

// ParseSuite maps a configuration name to its Suite.
func ParseSuite(s string) (Suite, error) {
	switch s {
	case suiteNameChaCha20Poly1305:
		return SuiteChaCha20Poly1305, nil
	case suiteNameAESCBC:
		return SuiteAESCBC, nil
	}
	return 0, fmt.Errorf("%w: %q (want %q or %q)", ErrUnknownSuite, s,
		suiteNameChaCha20Poly1305, suiteNameAESCBC)
}

// String returns the configuration name of the suite.
func (s Suite) String() string {
	switch s {
	case SuiteChaCha20Poly1305:
		return suiteNameChaCha20Poly1305
	case SuiteAESCBC:
		return suiteNameAESCBC
	}
	return "suite(" + strconv.Itoa(int(s)) + ")"
}

// Valid reports whether s is a suite this package implements.
func (s Suite) Valid() bool {
	return s == SuiteChaCha20Poly1305 || s == SuiteAESCBC
}

// MessageType is the data message type that carries this suite's payloads,
// or 0 for an unknown suite.
func (s Suite) MessageType() uint8 {
	switch s {
	case SuiteChaCha20Poly1305:
		return MessageTypeData
	case SuiteAESCBC:
		return MessageTypeDataAESCBC
	}
	return 0
}

// suiteOfMessageType is the inverse of Suite.MessageType.
func suiteOfMessageType(t uint8) (Suite, bool) {
	switch t {
	case MessageTypeData:
		return SuiteChaCha20Poly1305, true
	case MessageTypeDataAESCBC:
		return SuiteAESCBC, true
	}
	return 0, false
}
