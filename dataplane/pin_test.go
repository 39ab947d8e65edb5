// SPDX-License-Identifier: MIT

package dataplane

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/wgbpfd/wgbpfd/internal/testenv"
	"golang.org/x/sys/unix"
)

// TestPin: the observable maps appear under /sys/fs/bpf/wgbpfd/IF, readable
// with bpftool; stale pins are replaced; Unpin removes the directory.
func TestPin(t *testing.T) {
	testenv.RequireRoot(t)
	bpftool := testenv.RequireTool(t, "bpftool")
	d, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	name := fmt.Sprintf("wgpin%d", os.Getpid()%100000)
	dir := PinDir(name)
	t.Cleanup(func() { _ = RemovePins(name) })
	mounted, err := EnsureBPFFS()
	if err != nil {
		t.Fatal(err)
	}
	if mounted {
		t.Cleanup(func() { _ = unix.Unmount("/sys/fs/bpf", 0) })
	}
	// Leftovers of a killed process.
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := d.Pin(name); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"drops", "peer_stats", "peers", "sessions"} {
		out, err := exec.Command(bpftool, "map", "show", "pinned", filepath.Join(dir, m)).CombinedOutput()
		if err != nil {
			t.Errorf("bpftool map show pinned %s: %v: %s", m, err, out)
		}
	}
	// Staging and per-packet maps, which hold key bytes while in use, are
	// never pinned; session_keys and key_wrap are (keys only wrapped or
	// inside crypto contexts), so that the data plane outlives the daemon.
	for _, secret := range []string{"install_buf", "cstate", "scratch", "hop_work", "session_tmpl"} {
		if _, err := os.Stat(filepath.Join(dir, secret)); err == nil {
			t.Errorf("map %s, a staging or per-packet area, is pinned", secret)
		}
	}
	for _, m := range []string{"session_keys", "key_wrap", "identity", "peer_pubkeys", "ifconfig", "events"} {
		if _, err := os.Stat(filepath.Join(dir, m)); err != nil {
			t.Errorf("map %s, which a successor needs, is not pinned: %v", m, err)
		}
	}
	if err := d.Unpin(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("pin directory left after Unpin: %v", err)
	}
}
