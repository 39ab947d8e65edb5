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

// FuzzParse checks that Parse never panics, that every error is a *Error
// without key material, and that every accepted input passes Validate and
// round-trips through Marshal to an Equal Config.
func FuzzParse(f *testing.F) {
	f.Add([]byte("[Interface]\nPrivateKey = " + ourPrivB64 + "\nListenPort = 51820\n"))
	f.Add([]byte("[Interface]\nPrivateKey = " + ourPrivB64 + "\n[Peer]\nPublicKey = " + peer1PubB64 + "\nAllowedIPs = 10.0.0.1/24\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.conf", data)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T is not *Error: %v", err, err)
			}
			if c != nil {
				t.Fatal("Config returned with an error")
			}
			// Messages about secret keys, and messages with no key (which
			// may concern a line holding a pasted key), never echo input.
			if e.Key != "PrivateKey" && e.Key != "PresharedKey" && e.Key != "" {
				return
			}
			for _, s := range secrets() {
				if strings.Contains(e.Msg, s) {
					t.Fatalf("error contains key material: %q", e.Msg)
				}
			}
			if v := lineValue(data, e.Line); len(v) >= 8 && strings.Contains(e.Msg, v) {
				t.Fatalf("error %q echoes the value %q of line %d", e.Msg, v, e.Line)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("parsed config fails Validate: %v\ninput:\n%q", err, data)
		}
		out := c.Marshal()
		c2, err := Parse("fuzz2.conf", out)
		if err != nil {
			t.Fatalf("Marshal output does not parse: %v\ninput: %q\noutput:\n%s", err, data, out)
		}
		if !c.Equal(c2) {
			t.Fatalf("round trip differs\ninput: %q\nfirst:\n%s\nsecond:\n%s", data, out, c2.Marshal())
		}
		if out2 := c2.Marshal(); string(out2) != string(out) {
			t.Fatalf("Marshal not stable:\n%s\n---\n%s", out, out2)
		}
	})
}

// lineValue returns the trimmed value of line n (1-based) of data: the text
// after the first '=' (or the whole line) with any comment removed.
func lineValue(data []byte, n int) string {
	if n < 1 {
		return ""
	}
	lines := strings.Split(string(data), "\n")
	if n > len(lines) {
		return ""
	}
	l := lines[n-1]
	if strings.HasPrefix(strings.TrimSpace(l), "[") {
		return "" // section names are echoed by design
	}
	if i := strings.IndexByte(l, '#'); i >= 0 {
		l = l[:i]
	}
	if i := strings.IndexByte(l, '='); i >= 0 {
		l = l[i+1:]
	}
	return strings.TrimSpace(l)
}

// The seed corpus must exercise both the accepting and rejecting paths.
func TestFuzzCorpusSeeds(t *testing.T) {
	want := map[string]bool{
		"minimal": true, "full_tunnel": true, "server": true, "peer_first": true,
		"bad_port": false, "bad_psk": false, "own_key": false, "dup_peer": false, "garbage": false,
	}
	for name, ok := range want {
		raw, err := os.ReadFile(filepath.Join("testdata", "fuzz", "FuzzParse", name))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.SplitN(string(raw), "\n", 3)
		if len(lines) < 2 || lines[0] != "go test fuzz v1" || !strings.HasPrefix(lines[1], "[]byte(") {
			t.Fatalf("%s: not a fuzz corpus file", name)
		}
		text, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		c, err := Parse(name, []byte(text))
		if (err == nil) != ok {
			t.Errorf("%s: Parse error = %v, want accepted=%v", name, err, ok)
		}
		if name == "server" && err == nil {
			// The prefix listed by both peers moved to the second.
			if len(c.Peers) != 2 || len(c.Peers[0].AllowedIPs) != 1 || len(c.Peers[1].AllowedIPs) != 2 || c.PeerCipher(&c.Peers[1]) != CipherChaCha20Poly1305 || c.PeerCipher(&c.Peers[0]) != CipherAESCBC {
				t.Errorf("server: unexpected peers %+v", c.Peers)
			}
		}
	}
}
