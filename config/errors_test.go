// SPDX-License-Identifier: MIT

package config

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestParseErrors(t *testing.T) {
	head := "[Interface]\nPrivateKey = " + ourPrivB64 + "\n" // lines 1-2
	peer := "[Peer]\nPublicKey = " + peer1PubB64 + "\n"      // +2 lines
	badKey := ourPrivB64[:43]                                // 43 chars: bad length, still secret
	tests := []struct {
		name string
		text string
		line int
		key  string
		msg  string // substring of Msg
	}{
		{"unknown key", head + "ListenPrt = 1", 3, "ListenPrt", "unknown key in [Interface]"},
		{"unknown key, odd name", head + "Listen Port = 1", 3, "", "unknown key in [Interface]"},
		{"peer key in interface", head + "Endpoint = a:1", 3, "Endpoint", "not valid in [Interface]"},
		{"interface key in peer", head + peer + "MTU = 1420", 5, "MTU", "not valid in [Peer]"},
		{"pasted key as a line", head + ourPrivB64, 3, "", "unknown key in [Interface]"},
		{"pasted key without =", head + ourPrivB64[:43], 3, "", "expected Key = value"},
		{"unknown section", head + "[Peers]", 3, "", "unknown section [Peers]"},
		{"unterminated section", head + "[Peer", 3, "", "missing ']'"},
		{"key outside a section", "ListenPort = 5\n" + head, 1, "ListenPort", "outside a section"},
		{"unknown key outside a section", "Foo = 5\n" + head, 1, "Foo", "outside a section"},
		{"missing key", head + " = 5", 3, "", "missing key"},
		{"line without =", head + "ListenPort 51820", 3, "", "expected Key = value"},
		{"control character", head + "PostUp = a\x00b", 3, "", "control character"},
		{"bare CR inside", head + "PostUp = a\rb", 3, "", "control character"},
		{"duplicate interface", head + "[interface]", 3, "", "duplicate [Interface] section (first on line 1)"},

		{"private key bad base64", "[Interface]\nPrivateKey = " + ourPrivB64[:40] + "*!!=", 2, "PrivateKey", "not a valid base64 32-byte key"},
		{"private key short", "[Interface]\nPrivateKey = " + badKey, 2, "PrivateKey", "not a valid base64 32-byte key"},
		{"private key long", "[Interface]\nPrivateKey = " + ourPrivB64 + "AAAA", 2, "PrivateKey", "not a valid base64 32-byte key"},
		{"private key zero", "[Interface]\nPrivateKey = " + strings.Repeat("A", 43) + "=", 2, "PrivateKey", "all-zero"},
		{"preshared key bad", head + peer + "PresharedKey = " + pskB64[:43], 5, "PresharedKey", "not a valid base64 32-byte key"},
		{"preshared key empty", head + peer + "PresharedKey =", 5, "PresharedKey", "not a valid"},
		{"public key bad", head + "[Peer]\nPublicKey = " + peer1PubB64[:30], 4, "PublicKey", `"` + peer1PubB64[:30] + `" is not a valid base64 32-byte key`},
		{"public key zero", head + "[Peer]\nPublicKey = " + strings.Repeat("A", 43) + "=", 4, "PublicKey", "all-zero"},

		{"ListenPort range", head + "ListenPort = 70000", 3, "ListenPort", `"70000" is out of range 0-65535`},
		{"ListenPort huge", head + "ListenPort = 99999999999999999999999", 3, "ListenPort", "out of range"},
		{"ListenPort negative", head + "ListenPort = -1", 3, "ListenPort", `"-1" is not a number`},
		{"ListenPort text", head + "ListenPort = http", 3, "ListenPort", `"http" is not a number`},
		{"ListenPort empty", head + "ListenPort =", 3, "ListenPort", `"" is not a number`},
		{"Policy relative", head + "Policy = wg0-policy.o", 3, "Policy", `"wg0-policy.o" is not an absolute path`},
		{"Policy empty", head + "Policy =", 3, "Policy", "empty path"},
		{"Policy twice", head + "Policy = /a.o\nPolicy = /b.o", 4, "Policy", ""},
		{"FwMark text", head + "FwMark = on", 3, "FwMark", `"on"`},
		{"FwMark bad hex", head + "FwMark = 0xg1", 3, "FwMark", `"0xg1"`},
		{"FwMark empty hex", head + "FwMark = 0x", 3, "FwMark", `"0x"`},
		{"FwMark too big", head + "FwMark = 0x100000000", 3, "FwMark", `"0x100000000" is out of range`},
		{"FwMark too big dec", head + "FwMark = 4294967296", 3, "FwMark", `out of range`},
		{"FwMark negative", head + "FwMark = -1", 3, "FwMark", `"-1"`},
		{"Address bad CIDR", head + "Address = 10.0.0.1/33", 3, "Address", `"10.0.0.1/33" is not a valid IP prefix`},
		{"Address garbage", head + "Address = 10.0.0.1, bogus", 3, "Address", `"bogus"`},
		{"Address zone", head + "Address = fe80::1%eth0", 3, "Address", `"fe80::1%eth0": a zone is not allowed`},
		{"Address empty entry", head + "Address = 10.0.0.1/24,,10.0.0.2/24", 3, "Address", "empty entry"},
		{"Address trailing comma", head + "Address = 10.0.0.1/24,", 3, "Address", "empty entry"},
		{"Address duplicate", head + "Address = 10.0.0.1/24\nAddress = 10.0.0.1/24", 4, "Address", "10.0.0.1/24 is listed twice (first on line 3)"},
		{"DNS bad ip", head + "DNS = 1.2.3", 3, "DNS", `"1.2.3" is not a valid IP address`},
		{"DNS bad v6", head + "DNS = fd00:::1", 3, "DNS", `"fd00:::1"`},
		{"DNS bad domain", head + "DNS = exa mple.com", 3, "DNS", `"exa mple.com" is neither`},
		{"DNS bad domain dots", head + "DNS = a..b", 3, "DNS", `"a..b"`},
		{"MTU low", head + "MTU = 575", 3, "MTU", `"575" is out of range 576-65535`},
		{"MTU high", head + "MTU = 65536", 3, "MTU", `"65536" is out of range`},
		{"MTU zero", head + "MTU = 0", 3, "MTU", `"0" is out of range`},
		{"MTU text", head + "MTU = auto", 3, "MTU", `"auto" is not a number`},
		{"Table bad name", head + "Table = my table", 3, "Table", `"my table"`},
		{"Table digit name", head + "Table = 1abc", 3, "Table", `"1abc"`},
		{"Table too big", head + "Table = 4294967296", 3, "Table", `"4294967296" is out of range`},
		{"Table negative", head + "Table = -5", 3, "Table", `"-5"`},
		{"SaveConfig", head + "SaveConfig = yes", 3, "SaveConfig", `"yes" is not true or false`},
		{"Cipher interface", head + "Cipher = aes-gcm", 3, "Cipher", `"aes-gcm" is not a known cipher`},
		{"Cipher peer", head + peer + "Cipher = chacha20", 5, "Cipher", `"chacha20" is not a known cipher`},
		{"Cipher empty", head + "Cipher =", 3, "Cipher", `"" is not a known cipher`},
		{"AllowedIPs bad", head + peer + "AllowedIPs = 10.0.0.0/8, 300.0.0.0/8", 5, "AllowedIPs", `"300.0.0.0/8"`},
		{"AllowedIPs empty entry", head + peer + "AllowedIPs = ,10.0.0.0/8", 5, "AllowedIPs", "empty entry"},
		{"Endpoint no port", head + peer + "Endpoint = 192.0.2.1", 5, "Endpoint", `"192.0.2.1" is not a valid endpoint: missing :port`},
		{"Endpoint port 0", head + peer + "Endpoint = 192.0.2.1:0", 5, "Endpoint", `out of range 1-65535`},
		{"Endpoint port big", head + peer + "Endpoint = host:65536", 5, "Endpoint", `"host:65536"`},
		{"Endpoint v6 no brackets", head + peer + "Endpoint = 2001:db8::1:51820", 5, "Endpoint", "[address]:port"},
		{"Endpoint empty", head + peer + "Endpoint =", 5, "Endpoint", "empty"},
		{"Endpoint bad host", head + peer + "Endpoint = bad_host!:5", 5, "Endpoint", `"bad_host!:5"`},
		{"Keepalive range", head + peer + "PersistentKeepalive = 65536", 5, "PersistentKeepalive", `"65536" is out of range 0-65535`},
		{"Keepalive text", head + peer + "PersistentKeepalive = on", 5, "PersistentKeepalive", `"on" is not a number`},

		{"duplicate ListenPort", head + "ListenPort = 1\nlistenport = 2", 4, "ListenPort", "set twice in one section (first on line 3)"},
		{"duplicate PrivateKey", head + "PrivateKey = " + peer1PrivB64, 3, "PrivateKey", "set twice in one section (first on line 2)"},
		{"duplicate PresharedKey", head + peer + "PresharedKey = " + pskB64 + "\nPresharedKey = " + pskB64, 6, "PresharedKey", "set twice in one section (first on line 5)"},
		{"duplicate Endpoint", head + peer + "Endpoint = a:1\nEndpoint = a:1", 6, "Endpoint", "first on line 5"},
		{"duplicate PublicKey in a peer", head + peer + "PublicKey = " + peer2PubB64, 5, "PublicKey", "first on line 4"},
		{"duplicate peer", head + peer + "AllowedIPs = 10.0.0.0/8\n" + peer, 7, "PublicKey", "peer " + peer1PubB64 + " is already defined on line 4"},
		{"own public key", head + "[Peer]\nPublicKey = " + ourPubB64, 4, "PublicKey", ourPubB64 + " is this interface's own public key"},
		{"own key, interface last", "[Peer]\nPublicKey = " + ourPubB64 + "\n" + head, 2, "PublicKey", "own public key"},
		{"missing PrivateKey", "[Interface]\nListenPort = 1\n" + peer, 1, "PrivateKey", "missing from [Interface]"},
		{"missing Interface", peer, 0, "PrivateKey", "no [Interface] section"},
		{"empty file", "", 0, "PrivateKey", "no [Interface] section"},
		{"peer missing PublicKey", head + peer + "[Peer]\nAllowedIPs = 10.0.0.0/8\n", 5, "PublicKey", "missing from [Peer]"},
		{"empty peer section", head + "[Peer]", 3, "PublicKey", "missing from [Peer]"},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		if seen[tt.name] {
			t.Fatalf("duplicate test name %q", tt.name)
		}
		seen[tt.name] = true
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("wg0.conf", []byte(tt.text))
			if err == nil {
				t.Fatalf("accepted:\n%s\n=> %+v", tt.text, c)
			}
			if c != nil {
				t.Error("non-nil Config with an error")
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T is not *Error", err)
			}
			if e.File != "wg0.conf" || e.Line != tt.line || e.Key != tt.key || !strings.Contains(e.Msg, tt.msg) {
				t.Fatalf("got File=%q Line=%d Key=%q Msg=%q\nwant Line=%d Key=%q Msg~%q", e.File, e.Line, e.Key, e.Msg, tt.line, tt.key, tt.msg)
			}
			s := err.Error()
			want := "wg0.conf"
			if tt.line > 0 {
				want += ":" + strconv.Itoa(tt.line)
			}
			want += ": "
			if tt.key != "" {
				want += tt.key + ": "
			}
			if s != want+e.Msg {
				t.Errorf("Error() = %q, want prefix %q", s, want)
			}
			for _, sec := range append(secrets(), badKey) {
				if strings.Contains(s, sec) {
					t.Errorf("error %q contains key material", s)
				}
			}
		})
	}
}

func TestErrorFormat(t *testing.T) {
	for _, tt := range []struct {
		e    Error
		want string
	}{
		{Error{File: "a.conf", Line: 3, Key: "MTU", Msg: "m"}, "a.conf:3: MTU: m"},
		{Error{File: "a.conf", Key: "PrivateKey", Msg: "m"}, "a.conf: PrivateKey: m"},
		{Error{Line: 2, Msg: "m"}, "line 2: m"},
		{Error{Key: "Endpoint", Msg: "m"}, "Endpoint: m"},
	} {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("got %q want %q", got, tt.want)
		}
	}
}

func TestParseFileErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "missing.conf")
	_, err := ParseFile(path)
	var e *Error
	if !errors.As(err, &e) || e.File != path || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("ParseFile(missing) = %v", err)
	}
	p2 := filepath.Join(dir, "bad.conf")
	if err := os.WriteFile(p2, []byte("[Interface]\nMTU = 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = ParseFile(p2)
	if !errors.As(err, &e) || e.File != p2 || e.Line != 2 || e.Key != "MTU" {
		t.Fatalf("ParseFile(bad) = %v", err)
	}
}
