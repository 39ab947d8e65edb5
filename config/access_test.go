// SPDX-License-Identifier: MIT

package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAccessWarning: wg-quick's warning when the group or others may
// access a file that holds a private or preshared key; none for a 0600
// file or a file without keys.
func TestAccessWarning(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wg0.conf")
	if err := os.WriteFile(path, []byte(keyedText()), 0o600); err != nil {
		t.Fatal(err)
	}
	keyed := mustParse(t, keyedText())
	psk := &Config{Peers: []Peer{{PresharedKey: keyed.Peers[0].PresharedKey}}}
	for _, c := range []struct {
		mode os.FileMode
		cfg  *Config
		want string
	}{
		{0o600, keyed, ""},
		{0o400, keyed, ""},
		{0o640, keyed, "`" + path + "' is accessible by its group (mode 0640) and holds the PrivateKey and PresharedKey"},
		{0o620, keyed, "accessible by its group (mode 0620)"},
		{0o644, keyed, "`" + path + "' is world accessible (mode 0644)"},
		{0o604, psk, "world accessible (mode 0604) and holds the PresharedKey"},
		{0o644, &Config{}, ""},
	} {
		if err := os.Chmod(path, c.mode); err != nil {
			t.Fatal(err)
		}
		got := AccessWarning(path, c.cfg)
		if (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
			t.Errorf("mode %04o: %q, want %q", c.mode, got, c.want)
		}
	}
}
