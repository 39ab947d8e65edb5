// SPDX-License-Identifier: MIT

package dataplane

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// PinRoot is where each interface's state is pinned, one directory per
// interface, so that the data plane outlives the daemon (see persist.go)
// and operators can read it with bpftool
// (`bpftool map dump pinned /sys/fs/bpf/wgbpfd/wg0/drops`).
const PinRoot = "/sys/fs/bpf/wgbpfd"

// scratchMaps are per-operation staging and per-packet work areas: nothing
// in them lives from one packet or one syscall run to the next, and some
// hold key bytes while in use. They are neither pinned nor shared with a
// successor, which brings its own. Every other map holds state and is.
var scratchMaps = map[string]bool{
	"install_buf":  true,
	"session_tmpl": true,
	"cstate":       true,
	"scratch":      true,
	"hop_work":     true,
}

// shared reports whether the map of this name is pinned and handed to a
// successor: not a scratch map, not a global data section (.bss, .data:
// the policy hook mask, which the successor sets when it installs its
// policy).
func shared(name string) bool {
	return !scratchMaps[name] && !strings.HasPrefix(name, ".")
}

// pinnedMaps are the maps that hold state: counters, peers, AllowedIPs,
// sessions, the wrapped keys and the wrapping key's context, the ring of
// events, the interface configuration.
func (d *Dataplane) pinnedMaps() map[string]*ebpf.Map {
	out := d.objectMaps()
	for n := range scratchMaps {
		delete(out, n)
	}
	return out
}

// PinDir is the pin directory of interface ifname in the calling thread's
// network namespace: PinRoot/ifname in the host's, PinRoot/ifname@ns<inode>
// in any other (bpffs is shared by namespaces that share its mount, and an
// interface name is unique only within its network namespace).
func PinDir(ifname string) string {
	own, err := nsInode("/proc/thread-self/ns/net")
	if err != nil {
		return filepath.Join(PinRoot, ifname)
	}
	// Where init's namespace cannot be read (a sandbox), every name is
	// qualified.
	if host, err := nsInode("/proc/1/ns/net"); err == nil && own == host {
		return filepath.Join(PinRoot, ifname)
	}
	return filepath.Join(PinRoot, fmt.Sprintf("%s@ns%d", ifname, own))
}

// ifaceOfDir is the interface name of a pin directory name.
func ifaceOfDir(dir string) string {
	name, _, _ := strings.Cut(dir, "@")
	return name
}

func nsInode(path string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
}

// Pin pins the state maps and the attached links under PinDir(ifname),
// and creates the identity and peer key maps there. Pins left by a
// process that died (kill -9) and that the caller chose not to adopt are
// removed first, detaching their links.
func (d *Dataplane) Pin(ifname string) error {
	dir := PinDir(ifname)
	if _, err := removePinDir(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating pin directory %s: %w", dir, err)
	}
	d.pinDir = dir
	for name, m := range d.pinnedMaps() {
		if err := m.Pin(filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("pinning map %s in %s: %w", name, dir, err)
		}
	}
	var err error
	if d.identity, d.peerKeys, err = newIdentityMaps(); err != nil {
		return err
	}
	if err := d.identity.Pin(filepath.Join(dir, identityPin)); err != nil {
		return fmt.Errorf("pinning the identity map: %w", err)
	}
	if err := d.peerKeys.Pin(filepath.Join(dir, peerKeysPin)); err != nil {
		return fmt.Errorf("pinning the peer key map: %w", err)
	}
	if a := d.att; a != nil {
		if err := a.pinLinks(dir); err != nil {
			return err
		}
	}
	return nil
}

// Unpin removes the pins: the maps and links then live only as long as
// this process holds them.
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
	for _, m := range []*ebpf.Map{d.identity, d.peerKeys} {
		if m != nil {
			errs = append(errs, m.Unpin())
		}
	}
	if a := d.att; a != nil {
		errs = append(errs, a.unpinLinks())
	}
	// Whatever else is there (links of a detached attachment) goes too.
	if _, err := removePinDir(d.pinDir); err != nil {
		errs = append(errs, err)
	}
	d.pinDir = ""
	return errors.Join(errs...)
}

// RemovePins deletes the pin directory of ifname and what is in it,
// detaching pinned links (the leftovers of a process that could not unpin).
func RemovePins(ifname string) error {
	_, err := removePinDir(PinDir(ifname))
	return err
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
