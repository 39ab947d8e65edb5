// SPDX-License-Identifier: MIT

package uapi

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/wgbpfd/wgbpfd/internal/testenv"
)

func TestSocketPath(t *testing.T) {
	if got := SocketPath("wg0"); got != "/var/run/wireguard/wg0.sock" {
		t.Fatalf("SocketPath(wg0) = %q", got)
	}
}

func TestValidIfName(t *testing.T) {
	for name, want := range map[string]bool{
		"wg0": true, "a": true, "wgt0123456789ab": true,
		"": false, ".": false, "..": false, "wgt0123456789abc": false,
		"a/b": false, "../x": false, "a b": false, "a:1": false, "a\x00": false,
	} {
		if got := ValidIfName(name); got != want {
			t.Errorf("ValidIfName(%q) = %v, want %v", name, got, want)
		}
	}
	if _, err := Listen("../etc"); err == nil {
		t.Fatal("Listen accepted a name with a slash")
	}
}

func TestListenMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.sock")
	l, err := listenAt(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode = %v, want socket 0600", fi.Mode())
	}
}

// A socket file whose process died is replaced.
func TestListenReplacesStaleSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stale.sock")
	old, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	old.SetUnlinkOnClose(false)
	old.Close() // the file stays, nothing answers: a crashed daemon
	if _, err := os.Lstat(path); err != nil {
		t.Fatalf("stale socket file missing: %v", err)
	}
	l, err := listenAt(path)
	if err != nil {
		t.Fatalf("listen over a stale socket: %v", err)
	}
	defer l.Close()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatalf("new socket does not answer: %v", err)
	}
	c.Close()
}

// A socket a live process answers on is never taken over.
func TestListenRefusesLiveSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "live.sock")
	live, err := listenAt(path)
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	if l, err := listenAt(path); !errors.Is(err, ErrInUse) {
		if l != nil {
			l.Close()
		}
		t.Fatalf("second listen: err = %v, want ErrInUse", err)
	}
	// The live socket still works.
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatalf("live socket broken by the refused listen: %v", err)
	}
	c.Close()
}

func TestListenKeepsNonSocketFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "file.sock")
	if err := os.WriteFile(path, []byte("data"), 0o600); err != nil {
		t.Fatal(err)
	}
	if l, err := listenAt(path); err == nil {
		l.Close()
		t.Fatal("listen replaced a regular file")
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "data" {
		t.Fatalf("regular file changed: %q, %v", b, err)
	}
}

// uniqueIfName returns an interface name no other test uses.
func uniqueIfName(t *testing.T) string {
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return "wgt" + hex.EncodeToString(b[:])
}

// Listen in the real directory: mode, stale replacement and removal on
// Close.
func TestListenRealDirectory(t *testing.T) {
	testenv.RequireRoot(t)
	name := uniqueIfName(t)
	path := SocketPath(name)
	t.Cleanup(func() { os.Remove(path) })
	l, err := Listen(name)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket %s: %v, %v", path, fi, err)
	}
	if dfi, err := os.Stat(SocketDir); err != nil || !dfi.IsDir() {
		t.Fatalf("socket directory: %v", err)
	}
	if _, err := Listen(name); !errors.Is(err, ErrInUse) {
		t.Fatalf("second Listen: %v, want ErrInUse", err)
	}
	l.Close()
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket not removed on Close: %v", err)
	}
}
