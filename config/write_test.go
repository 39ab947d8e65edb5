// SPDX-License-Identifier: MIT

package config

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/wgbpfd/wgbpfd/internal/testenv"
)

func validConfig() *Config {
	p1, _ := ParseKey(peer1PubB64)
	p2, _ := ParseKey(peer2PubB64)
	var psk PresharedKey
	copy(psk[:], "0123456789abcdef0123456789ABCDEF")
	return &Config{
		Name: "built",
		Interface: Interface{
			PrivateKey: ourPriv, ListenPort: 51820, FwMark: 0xca6c,
			Addresses: pfx("10.0.0.1/24", "fd00::1/64"),
			DNS:       addrs("10.0.0.53"), DNSSearch: []string{"example.org"},
			MTU: 1380, Table: "1234",
			PreUp: []string{"true"}, PostUp: []string{"echo up %i", "ip rule add x"},
			PreDown: []string{"echo"}, PostDown: []string{"echo down"},
			SaveConfig: true, Cipher: CipherAESCBC, Policy: "/etc/wireguard/wg0-policy.o",
		},
		Peers: []Peer{
			{PublicKey: p1, PresharedKey: psk, AllowedIPs: pfx("10.0.0.2/32", "192.168.0.0/16"), Endpoint: "[2001:db8::7]:51820", PersistentKeepalive: 15, Cipher: CipherChaCha20Poly1305},
			{PublicKey: p2, Endpoint: "peer2.example.net:1"},
		},
	}
}

func TestMarshalBuiltConfig(t *testing.T) {
	c := validConfig()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	out := string(c.Marshal())
	for _, want := range []string{
		"[Interface]\nPrivateKey = " + ourPrivB64 + "\nListenPort = 51820\nFwMark = 0xca6c\nAddress = 10.0.0.1/24, fd00::1/64\nDNS = 10.0.0.53, example.org\nMTU = 1380\nTable = 1234\nPreUp = true\nPostUp = echo up %i\nPostUp = ip rule add x\nPreDown = echo\nPostDown = echo down\nSaveConfig = true\nCipher = aes-cbc\nPolicy = /etc/wireguard/wg0-policy.o\n",
		"\n[Peer]\nPublicKey = " + peer1PubB64 + "\nPresharedKey = " + pskB64 + "\nAllowedIPs = 10.0.0.2/32, 192.168.0.0/16\nEndpoint = [2001:db8::7]:51820\nPersistentKeepalive = 15\nCipher = chacha20poly1305\n",
		"\n[Peer]\nPublicKey = " + peer2PubB64 + "\nEndpoint = peer2.example.net:1\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	roundTrip(t, c)

	// Defaults are left out, so a plain config stays wg-quick compatible.
	plain := &Config{Interface: Interface{PrivateKey: ourPriv, Cipher: CipherChaCha20Poly1305, Table: TableAuto}}
	if got, want := string(plain.Marshal()), "[Interface]\nPrivateKey = "+ourPrivB64+"\n"; got != want {
		t.Errorf("plain Marshal = %q, want %q", got, want)
	}
}

// Marshal must not let a value start a new line, even for invalid configs.
func TestMarshalNoInjection(t *testing.T) {
	c := validConfig()
	c.Interface.PostUp = []string{"echo hi\n[Peer]\nPublicKey = " + ourPubB64}
	c.Peers[1].Endpoint = "x:1\r\nAllowedIPs = 0.0.0.0/0"
	out := string(c.Marshal())
	if strings.Count(out, "\n[Peer]\n") != 2 || strings.Contains(out, "\nAllowedIPs = 0.0.0.0/0") {
		t.Fatalf("value injected lines:\n%s", out)
	}
	if err := c.Validate(); err == nil {
		t.Fatal("Validate accepted a hook with a newline")
	}
}

func TestValidateErrors(t *testing.T) {
	tests := []struct {
		name string
		mut  func(*Config)
		key  string
		line int
	}{
		{"no private key", func(c *Config) { c.Interface.PrivateKey = PrivateKey{} }, "PrivateKey", 0},
		{"port", func(c *Config) { c.Interface.ListenPort = 65536 }, "ListenPort", 0},
		{"port negative", func(c *Config) { c.Interface.ListenPort = -1 }, "ListenPort", 0},
		{"address invalid", func(c *Config) { c.Interface.Addresses = []netip.Prefix{{}} }, "Address", 0},
		{"address dup", func(c *Config) { c.Interface.Addresses = pfx("10.0.0.1/24", "10.0.0.1/24") }, "Address", 0},
		{"dns invalid", func(c *Config) { c.Interface.DNS = []netip.Addr{{}} }, "DNS", 0},
		{"dns zone", func(c *Config) { c.Interface.DNS = []netip.Addr{netip.MustParseAddr("fe80::1").WithZone("a b")} }, "DNS", 0},
		{"search bad", func(c *Config) { c.Interface.DNSSearch = []string{"a b"} }, "DNS", 0},
		{"search is an ip", func(c *Config) { c.Interface.DNSSearch = []string{"10.0.0.1"} }, "DNS", 0},
		{"mtu", func(c *Config) { c.Interface.MTU = 100 }, "MTU", 0},
		{"table", func(c *Config) { c.Interface.Table = "a b" }, "Table", 0},
		{"table not normal", func(c *Config) { c.Interface.Table = "007" }, "Table", 0},
		{"table case", func(c *Config) { c.Interface.Table = "Off" }, "Table", 0},
		{"hook empty", func(c *Config) { c.Interface.PreUp = []string{""} }, "PreUp", 0},
		{"hook comment", func(c *Config) { c.Interface.PostUp = []string{"a # b"} }, "PostUp", 0},
		{"hook space", func(c *Config) { c.Interface.PreDown = []string{"a "} }, "PreDown", 0},
		{"hook newline", func(c *Config) { c.Interface.PostDown = []string{"a\nb"} }, "PostDown", 0},
		{"cipher", func(c *Config) { c.Interface.Cipher = "rot13" }, "Cipher", 0},
		{"peer key zero", func(c *Config) { c.Peers[1].PublicKey = Key{}; c.Peers[1].Line = 9 }, "PublicKey", 9},
		{"peer own key", func(c *Config) { c.Peers[0].PublicKey = c.PublicKey() }, "PublicKey", 0},
		{"peer dup", func(c *Config) { c.Peers[1].PublicKey = c.Peers[0].PublicKey }, "PublicKey", 0},
		{"allowed invalid", func(c *Config) { c.Peers[1].AllowedIPs = []netip.Prefix{{}} }, "AllowedIPs", 0},
		{"allowed host bits", func(c *Config) { c.Peers[1].AllowedIPs = pfx("10.1.1.1/8") }, "AllowedIPs", 0},
		{"allowed across peers", func(c *Config) { c.Peers[1].AllowedIPs = pfx("192.168.0.0/16") }, "AllowedIPs", 0},
		{"endpoint", func(c *Config) { c.Peers[0].Endpoint = "nope" }, "Endpoint", 0},
		{"endpoint space", func(c *Config) { c.Peers[0].Endpoint = " a:1" }, "Endpoint", 0},
		{"keepalive", func(c *Config) { c.Peers[0].PersistentKeepalive = 70000 }, "PersistentKeepalive", 0},
		{"peer cipher", func(c *Config) { c.Peers[0].Cipher = "AES-CBC" }, "Cipher", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.mut(c)
			err := c.Validate()
			var e *Error
			if !errors.As(err, &e) || e.Key != tt.key || e.Line != tt.line || e.File != "built" {
				t.Fatalf("Validate = %v (want key %s line %d)", err, tt.key, tt.line)
			}
			for _, s := range secrets() {
				if strings.Contains(err.Error(), s) {
					t.Fatalf("error leaks key material: %v", err)
				}
			}
			if werr := WriteFile(filepath.Join(t.TempDir(), "x.conf"), c); werr == nil {
				t.Fatal("WriteFile wrote an invalid config")
			}
		})
	}
}

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "wg0.conf")
	if err := os.WriteFile(path, []byte("old contents"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := validConfig()
	if err := WriteFile(path, c); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want the replaced file's 0644", st.Mode().Perm())
	}
	// A new file is private.
	fresh := filepath.Join(t.TempDir(), "wg1.conf")
	if err := WriteFile(fresh, c); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(fresh); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("new file: %v, %v; want mode 0600", st.Mode(), err)
	}
	got, err := ParseFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(c) || got.Name != path {
		t.Fatalf("file does not read back equal:\n%s", got.Marshal())
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 {
		t.Errorf("temporary files left behind: %v", ents)
	}
	// A write into a missing directory fails and names the file.
	bad := filepath.Join(dir, "nodir", "wg1.conf")
	if err := WriteFile(bad, c); err == nil {
		t.Fatal("write into a missing directory succeeded")
	} else if e := (*Error)(nil); !errors.As(err, &e) || e.File != bad {
		t.Fatalf("error %v does not name the file", err)
	}
	// A failed rename (the target is a non-empty directory) leaves the
	// target alone and no temporary file behind.
	target := filepath.Join(dir, "busy")
	if err := os.MkdirAll(filepath.Join(target, "sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(target, c); err == nil {
		t.Fatal("rename over a directory succeeded")
	}
	if st, err := os.Stat(filepath.Join(target, "sub")); err != nil || !st.IsDir() {
		t.Fatal("target directory was disturbed")
	}
	ents, err = os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 2 {
		t.Errorf("temporary files left behind: %v", ents)
	}
}

// TestWriteFileKeepsOwnerAndMode: saving over a file owned by another user
// with mode 0640 keeps that owner, group and mode; saving through a
// symbolic link replaces its target and keeps the link. Before, the file
// became root's with mode 0600 and a link became a regular file.
func TestWriteFileKeepsOwnerAndMode(t *testing.T) {
	testenv.RequireRoot(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "wg0.conf")
	if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(path, 1234, 2345); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.conf")
	if err := os.Symlink("wg0.conf", link); err != nil {
		t.Fatal(err)
	}
	c := validConfig()
	for _, target := range []string{path, link} {
		if err := WriteFile(target, c); err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		sys := st.Sys().(*syscall.Stat_t)
		if sys.Uid != 1234 || sys.Gid != 2345 || st.Mode().Perm() != 0o640 {
			t.Errorf("after saving to %s: owner %d:%d mode %04o, want 1234:2345 0640", filepath.Base(target), sys.Uid, sys.Gid, st.Mode().Perm())
		}
		if got, err := ParseFile(path); err != nil || !got.Equal(c) {
			t.Fatalf("saved file does not read back: %v", err)
		}
	}
	if st, err := os.Lstat(link); err != nil || st.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the link is no longer a link: %v %v", st.Mode(), err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 2 {
		t.Errorf("files left behind: %v", ents)
	}
}
