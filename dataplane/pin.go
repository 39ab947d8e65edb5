package dataplane

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// PinRoot is where each interface's observable maps are pinned, one
// directory per interface, so that operators can read them with bpftool
// (`bpftool map dump pinned /sys/fs/bpf/wgbpfd/wg0/drops`).
const PinRoot = "/sys/fs/bpf/wgbpfd"

// pinnedMaps are the maps worth reading from outside: counters, peers,
// AllowedIPs and the non-secret half of sessions. Nothing here holds key
// material (keys live in session_keys/key_wrap, which are never pinned).
func (d *Dataplane) pinnedMaps() map[string]*ebpf.Map {
	o := &d.objs
	return map[string]*ebpf.Map{
		"drops":      o.Drops,
		"peer_stats": o.PeerStats,
		"peers":      o.Peers,
		"allowed_v4": o.AllowedV4,
		"allowed_v6": o.AllowedV6,
		"sessions":   o.Sessions,
	}
}

// PinDir is the pin directory of interface ifname.
func PinDir(ifname string) string { return filepath.Join(PinRoot, ifname) }

// Pin pins the observable maps under PinDir(ifname). Pins left by a
// process that died (kill -9) are replaced.
func (d *Dataplane) Pin(ifname string) error {
	dir := PinDir(ifname)
	if err := RemovePins(ifname); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating pin directory %s: %w", dir, err)
	}
	for name, m := range d.pinnedMaps() {
		if err := m.Pin(filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("pinning map %s in %s: %w", name, dir, err)
		}
	}
	d.pinDir = dir
	return nil
}

// Unpin removes the pins Pin made.
func (d *Dataplane) Unpin() error {
	if d.pinDir == "" {
		return nil
	}
	var errs []error
	if d.policy != nil {
		for _, m := range d.policy.maps {
			_ = m.Unpin()
		}
	}
	for _, m := range d.pinnedMaps() {
		if err := m.Unpin(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := os.Remove(d.pinDir); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	d.pinDir = ""
	return errors.Join(errs...)
}

// RemovePins deletes the pin directory of ifname and what is in it (the
// leftovers of a process that could not unpin).
func RemovePins(ifname string) error {
	dir := PinDir(ifname)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading pin directory %s: %w", dir, err)
	}
	for _, e := range entries {
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
			return fmt.Errorf("removing stale pin: %w", err)
		}
	}
	if err := os.Remove(dir); err != nil {
		return fmt.Errorf("removing stale pin directory %s: %w", dir, err)
	}
	return nil
}

// EnsureBPFFS mounts bpffs on /sys/fs/bpf if nothing is mounted there (as
// systemd does at boot; `ip netns exec` gives a fresh /sys without it) and
// reports whether it mounted it.
func EnsureBPFFS() (mounted bool, err error) {
	const dir = "/sys/fs/bpf"
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err == nil && st.Type == unix.BPF_FS_MAGIC {
		return false, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return false, fmt.Errorf("creating %s: %w", dir, err)
	}
	if err := unix.Mount("bpffs", dir, "bpf", 0, "mode=0700"); err != nil {
		return false, fmt.Errorf("mounting bpffs on %s: %w", dir, err)
	}
	return true, nil
}
