// SPDX-License-Identifier: MIT

package config

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func mustHex32(t *testing.T, s string) [KeyLen]byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != KeyLen {
		t.Fatalf("bad hex %q", s)
	}
	return [KeyLen]byte(b)
}

// RFC 7748 section 6.1 test vector.
func TestPublicKeyRFC7748(t *testing.T) {
	priv := PrivateKey(mustHex32(t, "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"))
	want := Key(mustHex32(t, "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"))
	if got := priv.Public(); got != want {
		t.Fatalf("Public() = %x, want %x", got[:], want[:])
	}
}

func TestGeneratePrivateKey(t *testing.T) {
	a, err := GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	b, err := GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	if a.Equal(b) || a.IsZero() {
		t.Fatal("two generated keys are equal or zero")
	}
	if a[0]&7 != 0 || a[31]&128 != 0 || a[31]&64 == 0 {
		t.Fatalf("key not clamped: first %#x last %#x", a[0], a[31])
	}
	if a.Public() == b.Public() || a.Public().IsZero() {
		t.Fatal("public keys equal or zero")
	}
	psk, err := GeneratePresharedKey()
	if err != nil || psk.IsZero() {
		t.Fatalf("GeneratePresharedKey: %v zero=%v", err, psk.IsZero())
	}
}

func TestParseKey(t *testing.T) {
	raw := mustHex32(t, "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
	s := base64.StdEncoding.EncodeToString(raw[:])
	k, err := ParseKey(s)
	if err != nil || k != Key(raw) {
		t.Fatalf("ParseKey(%q) = %x, %v", s, k[:], err)
	}
	if k.String() != s {
		t.Fatalf("String() = %q, want %q", k.String(), s)
	}
	var k2 Key
	if err := k2.UnmarshalText([]byte(s)); err != nil || k2 != k {
		t.Fatalf("UnmarshalText: %v", err)
	}
	for _, bad := range []string{
		"", s[:43], s + "=", s[:42] + "==", // wrong length / padding
		strings.Repeat("A", 44), // no padding: 33 bytes
		base64.StdEncoding.EncodeToString(make([]byte, 31)) + "AAAA",
		s[:20] + "\n" + s[21:],
		s[:20] + "*" + s[21:],
		base64.URLEncoding.EncodeToString([]byte{0xfb, 0xff, 0xfe, 0xfb, 0xff, 0xfe, 0xfb, 0xff, 0xfe, 0xfb, 0xff, 0xfe, 0xfb, 0xff, 0xfe, 0xfb, 0xff, 0xfe, 0xfb, 0xff, 0xfe, 0xfb, 0xff, 0xfe, 0xfb, 0xff, 0xfe, 0xfb, 0xff, 0xfe, 0xfb, 0xff}),
	} {
		if _, err := ParseKey(bad); err == nil {
			t.Errorf("ParseKey(%q) accepted", bad)
		}
		if _, err := ParsePrivateKey(bad); err == nil {
			t.Errorf("ParsePrivateKey(%q) accepted", bad)
		} else if bad != "" && strings.Contains(err.Error(), bad) {
			t.Errorf("ParsePrivateKey error echoes its input: %v", err)
		}
		if _, err := ParsePresharedKey(bad); err == nil {
			t.Errorf("ParsePresharedKey(%q) accepted", bad)
		} else if bad != "" && strings.Contains(err.Error(), bad) {
			t.Errorf("ParsePresharedKey error echoes its input: %v", err)
		}
	}
}

// Secret keys must not be printable by any fmt verb, nor by encoders.
func TestSecretKeysDoNotLeak(t *testing.T) {
	var priv PrivateKey
	var psk PresharedKey
	for i := range priv {
		priv[i] = byte(0xa0 + i)
		psk[i] = byte(0x40 + i)
	}
	type holder struct {
		P   PrivateKey
		S   PresharedKey
		PP  *PrivateKey
		Cfg Interface
	}
	h := holder{P: priv, S: psk, PP: &priv, Cfg: Interface{PrivateKey: priv}}
	var out []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%d", "%q", "%o", "%b", "%c", "%U"} {
		out = append(out, fmt.Sprintf(verb, priv), fmt.Sprintf(verb, psk), fmt.Sprintf(verb, h), fmt.Sprintf(verb, &h))
	}
	out = append(out, fmt.Sprint(priv, psk), fmt.Sprintln(h))
	j, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, string(j))
	var sb strings.Builder
	slog.New(slog.NewJSONHandler(&sb, nil)).Info("x", "priv", priv, "psk", psk, "h", h)
	slog.New(slog.NewTextHandler(&sb, nil)).Info("x", "priv", priv, "psk", psk, "h", h)
	out = append(out, sb.String())

	forbidden := []string{
		base64.StdEncoding.EncodeToString(priv[:]), base64.StdEncoding.EncodeToString(psk[:]),
		hex.EncodeToString(priv[:8]), hex.EncodeToString(psk[:8]),
		strings.ToUpper(hex.EncodeToString(priv[:8])),
		fmt.Sprint(priv[:4]), fmt.Sprint([]byte(psk[:4])),
		fmt.Sprint(int(priv[0])) + " " + fmt.Sprint(int(priv[1])), // decimal bytes
		"160 161", "64 65", "0xa0", "0x40,",
	}
	for _, s := range out {
		if !strings.Contains(s, hidden) {
			t.Errorf("output %q lacks the placeholder", s)
		}
		for _, f := range forbidden {
			if strings.Contains(s, f) {
				t.Errorf("output %q contains key material %q", s, f)
			}
		}
	}
}
