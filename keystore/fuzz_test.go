// SPDX-License-Identifier: MIT

package keystore

import (
	"bytes"
	"testing"
)

// FuzzOpenPayload: no input makes OpenPayload panic, and whatever it accepts
// seals back to the very same bytes (so it cannot "accept" garbage it did
// not authenticate).
func FuzzOpenPayload(f *testing.F) {
	key := testKey(5)
	for _, s := range allSuites {
		for _, n := range []int{0, 16, 64} {
			f.Add(uint8(s), uint64(n), SealPayload(s, key, uint64(n), nil, make([]byte, n)))
		}
	}
	f.Add(uint8(0), uint64(0), []byte{})
	f.Add(uint8(2), uint64(1), make([]byte, 17))
	f.Fuzz(func(t *testing.T, suite uint8, counter uint64, data []byte) {
		s := Suite(suite)
		opened, err := OpenPayload(s, key, counter, nil, data)
		if err != nil {
			if opened != nil {
				t.Fatal("failed open returned data")
			}
			return
		}
		if again := SealPayload(s, key, counter, nil, opened); !bytes.Equal(again, data) {
			t.Fatalf("accepted %x, which does not reseal to itself", data)
		}
	})
}

// FuzzParseDataHeader: no panic, and a parsed header re-encodes to the
// bytes it came from.
func FuzzParseDataHeader(f *testing.F) {
	f.Add(SealMessage(SuiteAESCBC, testKey(1), 7, 9, []byte("hi"), 1420))
	f.Add(SealMessage(SuiteChaCha20Poly1305, testKey(1), 7, 9, nil, 1420))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, msg []byte) {
		s, rx, ctr, payload, err := ParseDataHeader(msg)
		if err != nil {
			return
		}
		if !bytes.Equal(append(AppendDataHeader(nil, s, rx, ctr), payload...), msg) {
			t.Fatal("header does not round-trip")
		}
	})
}
