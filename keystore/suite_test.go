// SPDX-License-Identifier: MIT

package keystore

import (
	"bytes"
	"errors"
	"testing"

	"golang.org/x/crypto/chacha20poly1305"
)

var allSuites = []Suite{SuiteChaCha20Poly1305, SuiteAESCBC}

func TestSuiteNames(t *testing.T) {
	for _, c := range []struct {
		name string
		s    Suite
		id   uint8
		typ  uint8
	}{
		{"chacha20poly1305", SuiteChaCha20Poly1305, 1, 4},
		{"aes-cbc", SuiteAESCBC, 2, 0x84},
	} {
		s, err := ParseSuite(c.name)
		if err != nil || s != c.s || uint8(s) != c.id || s.String() != c.name || s.MessageType() != c.typ || !s.Valid() {
			t.Errorf("ParseSuite(%q) = %d (%q, type %d), %v", c.name, s, s, s.MessageType(), err)
		}
	}
	for _, bad := range []string{"", "AES-CBC", "chacha20-poly1305", "aes-gcm", "chacha20poly1305 "} {
		if _, err := ParseSuite(bad); !errors.Is(err, ErrUnknownSuite) {
			t.Errorf("ParseSuite(%q) error = %v, want ErrUnknownSuite", bad, err)
		}
	}
	if s := Suite(0); s.Valid() || s.String() != "suite(0)" || s.MessageType() != 0 {
		t.Errorf("Suite(0): valid %v, %q, type %d", s.Valid(), s, s.MessageType())
	}
}

func TestPaddedLen(t *testing.T) {
	for _, c := range []struct {
		s            Suite
		n, mtu, want int
	}{
		{SuiteChaCha20Poly1305, 0, 1420, 0},
		{SuiteChaCha20Poly1305, 1, 1420, 16},
		{SuiteChaCha20Poly1305, 16, 1420, 16},
		{SuiteChaCha20Poly1305, 1405, 1420, 1408},
		{SuiteChaCha20Poly1305, 1409, 1420, 1420}, // capped at the MTU
		{SuiteChaCha20Poly1305, 1420, 1420, 1420},
		{SuiteChaCha20Poly1305, 1430, 1420, 1436}, // over the MTU: last unit of 10 padded to 16
		{SuiteChaCha20Poly1305, 2840, 1420, 2840},
		{SuiteChaCha20Poly1305, 1419, 0, 1424}, // no MTU: no cap
		{SuiteChaCha20Poly1305, 1419, -1, 1424},
		{SuiteChaCha20Poly1305, 5, 3, 6}, // tiny MTU: last unit 2 padded to the MTU, as WireGuard does
		{SuiteAESCBC, 0, 1420, 0},
		{SuiteAESCBC, 1, 1420, 16},
		{SuiteAESCBC, 1409, 1420, 1424}, // never capped
		{SuiteAESCBC, 1420, 1420, 1424},
		{SuiteAESCBC, 1421, 0, 1424},
		{SuiteChaCha20Poly1305, -1, 1420, 0},
		{Suite(9), 17, 1420, 17},
	} {
		if got := PaddedLen(c.s, c.n, c.mtu); got != c.want {
			t.Errorf("PaddedLen(%s, %d, %d) = %d, want %d", c.s, c.n, c.mtu, got, c.want)
		}
	}
	// Exhaustively: never below n; aes-cbc always whole blocks.
	for n := 0; n <= 3000; n++ {
		for _, s := range allSuites {
			p := PaddedLen(s, n, 1420)
			if p < n || p >= n+16 {
				t.Fatalf("PaddedLen(%s, %d, 1420) = %d", s, n, p)
			}
			if s == SuiteAESCBC && p%16 != 0 {
				t.Fatalf("aes-cbc PaddedLen(%d) = %d, not whole blocks", n, p)
			}
		}
	}
}

func TestDataHeader(t *testing.T) {
	h := AppendDataHeader([]byte{0xee}, SuiteAESCBC, 0x11223344, 0x0102030405060708)
	want := []byte{0xee, 0x84, 0, 0, 0, 0x44, 0x33, 0x22, 0x11, 8, 7, 6, 5, 4, 3, 2, 1}
	if !bytes.Equal(h, want) {
		t.Fatalf("AppendDataHeader = %x, want %x", h, want)
	}
	msg := append(h[1:], make([]byte, TagLen)...)
	s, rx, ctr, payload, err := ParseDataHeader(msg)
	if err != nil || s != SuiteAESCBC || rx != 0x11223344 || ctr != 0x0102030405060708 || len(payload) != TagLen {
		t.Fatalf("ParseDataHeader = %s %x %x %d bytes, %v", s, rx, ctr, len(payload), err)
	}
	if &payload[0] != &msg[DataHeaderLen] {
		t.Error("payload does not alias the message")
	}
	for _, c := range []struct {
		name string
		msg  []byte
		want error
	}{
		{"short", msg[:MinDataMessage-1], ErrShortMessage},
		{"empty", nil, ErrShortMessage},
		{"initiation", append([]byte{1}, msg[1:]...), ErrNotDataMessage},
		{"type 0x04 of other byte", append([]byte{0x44}, msg[1:]...), ErrNotDataMessage},
		{"reserved", append([]byte{4, 0, 1}, msg[3:]...), ErrReservedNotZero},
	} {
		if _, _, _, _, err := ParseDataHeader(c.msg); !errors.Is(err, c.want) {
			t.Errorf("%s: error %v, want %v", c.name, err, c.want)
		}
	}
}

func testKey(b byte) *[32]byte {
	var k [32]byte
	for i := range k {
		k[i] = b + byte(i)
	}
	return &k
}

// TestChaCha20Poly1305MatchesXCrypto: the suite is exactly WireGuard's use
// of the AEAD — nonce 0^32 || le64(counter), no associated data.
func TestChaCha20Poly1305MatchesXCrypto(t *testing.T) {
	key := testKey(3)
	aead, err := chacha20poly1305.New(key[:])
	if err != nil {
		t.Fatal(err)
	}
	for _, counter := range vectorCounters {
		for _, n := range []int{0, 16, 1420} {
			p := vectorPlaintext(n, int(counter%251))
			nonce := []byte{0, 0, 0, 0, byte(counter), byte(counter >> 8), byte(counter >> 16), byte(counter >> 24),
				byte(counter >> 32), byte(counter >> 40), byte(counter >> 48), byte(counter >> 56)}
			want := aead.Seal(nil, nonce, p, nil)
			if got := SealPayload(SuiteChaCha20Poly1305, key, counter, nil, p); !bytes.Equal(got, want) {
				t.Fatalf("counter %d len %d: SealPayload differs from x/crypto", counter, n)
			}
		}
	}
}

func TestRoundTrip(t *testing.T) {
	key := testKey(7)
	for _, s := range allSuites {
		for n := 0; n <= 1600; n += 1 + n/64 {
			plain := vectorPlaintext(n, n)
			padded := make([]byte, PaddedLen(s, n, 1420))
			copy(padded, plain)
			counter := uint64(n) * 0x9e3779b97f4a7c15
			prefix := []byte("prefix")
			sealed := SealPayload(s, key, counter, append([]byte{}, prefix...), padded)
			if !bytes.HasPrefix(sealed, prefix) || len(sealed) != len(prefix)+len(padded)+TagLen {
				t.Fatalf("%s len %d: sealed %d bytes", s, n, len(sealed))
			}
			if len(padded) > 0 && bytes.Contains(sealed, padded) && n >= 16 {
				t.Fatalf("%s len %d: plaintext visible in ciphertext", s, n)
			}
			opened, err := OpenPayload(s, key, counter, []byte("x"), sealed[len(prefix):])
			if err != nil || !bytes.Equal(opened, append([]byte("x"), padded...)) {
				t.Fatalf("%s len %d: open = %v", s, n, err)
			}
			// In place, as the data path does it.
			buf := append([]byte{}, padded...)
			inPlace := SealPayload(s, key, counter, buf[:0], buf)
			if !bytes.Equal(inPlace, sealed[len(prefix):]) {
				t.Fatalf("%s len %d: in-place seal differs", s, n)
			}
			back, err := OpenPayload(s, key, counter, inPlace[:0], inPlace)
			if err != nil || !bytes.Equal(back, padded) {
				t.Fatalf("%s len %d: in-place open = %v", s, n, err)
			}
			// Whole messages.
			msg := SealMessage(s, key, 77, counter, plain, 1420)
			rx, ctr, got, err := OpenMessage(s, key, nil, msg)
			if err != nil || rx != 77 || ctr != counter || !bytes.Equal(got, padded) {
				t.Fatalf("%s len %d: OpenMessage = %d %d %v", s, n, rx, ctr, err)
			}
		}
	}
}

func TestWrongCounterKeySuite(t *testing.T) {
	for _, s := range allSuites {
		padded := make([]byte, 64)
		sealed := SealPayload(s, testKey(1), 1000, nil, padded)
		for _, c := range []struct {
			name    string
			key     *[32]byte
			counter uint64
		}{
			{"counter+1", testKey(1), 1001},
			{"counter-1", testKey(1), 999},
			{"counter+2^32", testKey(1), 1000 + 1<<32},
			{"other key", testKey(2), 1000},
		} {
			if _, err := OpenPayload(s, c.key, c.counter, nil, sealed); !errors.Is(err, ErrAuthentication) {
				t.Errorf("%s %s: error %v, want ErrAuthentication", s, c.name, err)
			}
		}
		other := SuiteAESCBC
		if s == SuiteAESCBC {
			other = SuiteChaCha20Poly1305
		}
		if _, err := OpenPayload(other, testKey(1), 1000, nil, sealed); !errors.Is(err, ErrAuthentication) {
			t.Errorf("%s opened as %s: error %v", s, other, err)
		}
		msg := SealMessage(s, testKey(1), 5, 1000, padded, 1420)
		if _, _, _, err := OpenMessage(other, testKey(1), nil, msg); !errors.Is(err, ErrSuiteMismatch) {
			t.Errorf("%s message opened as %s: error %v, want ErrSuiteMismatch", s, other, err)
		}
	}
}

func TestOpenRejectsBadLengths(t *testing.T) {
	key := testKey(1)
	for _, s := range allSuites {
		for n := 0; n < TagLen; n++ {
			if _, err := OpenPayload(s, key, 0, nil, make([]byte, n)); !errors.Is(err, ErrShortPayload) {
				t.Errorf("%s %d bytes: error %v, want ErrShortPayload", s, n, err)
			}
		}
	}
	for _, extra := range []int{1, 15, 17, 31} {
		if _, err := OpenPayload(SuiteAESCBC, key, 0, nil, make([]byte, TagLen+extra)); !errors.Is(err, ErrCiphertextLength) {
			t.Errorf("aes-cbc ciphertext of %d bytes: error %v", extra, err)
		}
	}
	if _, err := OpenPayload(Suite(0), key, 0, nil, make([]byte, 32)); !errors.Is(err, ErrUnknownSuite) {
		t.Errorf("unknown suite: error %v", err)
	}
	if got := SealPayload(Suite(3), key, 0, []byte("d"), make([]byte, 16)); !bytes.Equal(got, []byte("d")) {
		t.Errorf("SealPayload with unknown suite appended %x", got[1:])
	}
	if SealMessage(Suite(3), key, 0, 0, nil, 1420) != nil {
		t.Error("SealMessage with unknown suite returned a message")
	}
}

// TestAESCBCUnpaddedInput: aes-cbc zero-pads a partial block itself, so it
// seals the same as the explicitly padded plaintext.
func TestAESCBCUnpaddedInput(t *testing.T) {
	p := vectorPlaintext(21, 1)
	padded := append(append([]byte{}, p...), make([]byte, 11)...)
	a := SealPayload(SuiteAESCBC, testKey(4), 9, nil, p)
	b := SealPayload(SuiteAESCBC, testKey(4), 9, nil, padded)
	if !bytes.Equal(a, b) {
		t.Fatal("unpadded input sealed differently from its zero padding")
	}
}

// TestTamper: every single-byte change anywhere in a data message except
// the receiver index (which selects the key and is checked by the lookup)
// makes OpenMessage fail. Each position gets all eight one-bit flips and a
// whole-byte inversion.
func TestTamper(t *testing.T) {
	key := testKey(9)
	for _, s := range allSuites {
		for _, n := range []int{0, 17, 64} {
			msg := SealMessage(s, key, 0xabcdef01, 1<<32+5, vectorPlaintext(n, 3), 1420)
			if _, _, _, err := OpenMessage(s, key, nil, msg); err != nil {
				t.Fatalf("%s len %d: untampered message fails: %v", s, n, err)
			}
			for pos := range msg {
				if pos >= 4 && pos < 8 {
					continue // receiver index
				}
				for _, mask := range []byte{1, 2, 4, 8, 16, 32, 64, 128, 0xff} {
					bad := append([]byte{}, msg...)
					bad[pos] ^= mask
					if _, _, _, err := OpenMessage(s, key, nil, bad); err == nil {
						t.Fatalf("%s len %d: byte %d ^ %#x accepted", s, n, pos, mask)
					}
				}
			}
			// Truncated and extended messages fail too.
			for cut := 1; cut <= 16 && cut <= len(msg)-DataHeaderLen; cut++ {
				if _, _, _, err := OpenMessage(s, key, nil, msg[:len(msg)-cut]); err == nil {
					t.Fatalf("%s len %d: message cut by %d accepted", s, n, cut)
				}
			}
			if _, _, _, err := OpenMessage(s, key, nil, append(append([]byte{}, msg...), make([]byte, 16)...)); err == nil {
				t.Fatalf("%s len %d: extended message accepted", s, n)
			}
		}
	}
}

func TestDeriveAESCBCKeysSeparates(t *testing.T) {
	kcbc, kaux := DeriveAESCBCKeys(testKey(1))
	kcbc2, _ := DeriveAESCBCKeys(testKey(2))
	if kcbc == kaux || kcbc == kcbc2 || kcbc == *testKey(1) || isZero(kcbc[:]) || isZero(kaux[:]) {
		t.Fatal("derived keys are not distinct")
	}
}
