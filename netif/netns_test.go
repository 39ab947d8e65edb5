// SPDX-License-Identifier: MIT

package netif

import (
	"crypto/rand"
	"encoding/hex"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/wgbpfd/wgbpfd/internal/testenv"
)

// inNetns moves the calling test goroutine into a fresh, uniquely named
// network namespace and returns its name, for `ip -n NAME ...`. Everything
// the package does afterwards (netlink, /dev/net/tun, /proc/sys/net,
// sockets, child processes) happens in that namespace, never the host's.
//
// The goroutine is locked to its OS thread and deliberately never unlocked:
// if switching back fails, the runtime destroys the thread when the test
// goroutine ends instead of reusing it in the wrong namespace. The
// namespace is deleted in t.Cleanup, which runs on the same goroutine even
// when the test fails.
func inNetns(t *testing.T) string {
	t.Helper()
	testenv.RequireRoot(t)
	testenv.RequireTool(t, "ip")
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("random netns suffix: %v", err)
	}
	name := "wgbpfd-netif-" + hex.EncodeToString(b[:])

	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatalf("get current netns: %v", err)
	}
	ns, err := netns.NewNamed(name)
	if err != nil {
		orig.Close()
		t.Fatalf("create netns %s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := netns.Set(orig); err != nil {
			t.Errorf("switch back from netns %s: %v", name, err)
		}
		ns.Close()
		orig.Close()
		if err := netns.DeleteNamed(name); err != nil {
			t.Errorf("delete netns %s: %v", name, err)
		}
	})
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		t.Fatalf("netns %s: lo: %v", name, err)
	}
	if err := netlink.LinkSetUp(lo); err != nil {
		t.Fatalf("netns %s: lo up: %v", name, err)
	}
	return name
}

// ipIn runs `ip -n ns args...` and returns its trimmed output.
func ipIn(t *testing.T, ns string, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", append([]string{"-n", ns}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip -n %s %s: %v: %s", ns, strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// lines splits command output into trimmed, non-empty lines.
func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// runIP is ipIn for commands expected to fail.
func runIP(ns string, args ...string) (string, error) {
	out, err := exec.Command("ip", append([]string{"-n", ns}, args...)...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}
