// SPDX-License-Identifier: MIT

// Package nstest builds throwaway network namespaces for tests: uniquely
// named namespaces, veth links between them, commands and Go code run
// inside them, TUN devices held by the test, and cleanup that runs even
// when the test fails.
//
// Code runs inside a namespace on a locked OS thread (Do), so sockets, TUN
// file descriptors and BPF links created there belong to that namespace
// while the rest of the test process stays where it was. A socket keeps
// its namespace for life: create it in Do, use it from any goroutine.
package nstest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/vishvananda/netns"
)

// NS is a network namespace owned by one test.
type NS struct {
	Name   string
	handle netns.NsHandle
}

// New creates a namespace named prefix-<random> (at most 15 characters of
// prefix are kept), brings its loopback up and deletes it when t ends.
func New(t testing.TB, prefix string) *NS {
	t.Helper()
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	if len(prefix) > 15 {
		prefix = prefix[:15]
	}
	name := prefix + "-" + hex.EncodeToString(b[:])
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	ns := &NS{Name: name}
	t.Cleanup(func() {
		if ns.handle.IsOpen() {
			ns.handle.Close()
		}
		// Deleting the name frees the namespace once nothing else holds it;
		// links inside (veth ends, TUNs) go with it.
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", name, err, out)
		}
	})
	h, err := netns.GetFromName(name)
	if err != nil {
		t.Fatalf("opening namespace %s: %v", name, err)
	}
	ns.handle = h
	ns.MustRun(t, "ip", "link", "set", "lo", "up")
	return ns
}

// Handle is the namespace's file descriptor handle (valid until cleanup).
func (ns *NS) Handle() netns.NsHandle { return ns.handle }

// Do runs fn on an OS thread switched into the namespace. The thread goes
// back to its original namespace afterwards; if that fails it is left
// locked so that the Go runtime discards it.
func (ns *NS) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- fmt.Errorf("current namespace: %w", err)
			return
		}
		defer orig.Close()
		if err := netns.Set(ns.handle); err != nil {
			errc <- fmt.Errorf("entering %s: %w", ns.Name, err)
			return
		}
		ferr := fn()
		if err := netns.Set(orig); err != nil {
			// Thread stays locked and dies with this goroutine.
			errc <- fmt.Errorf("leaving %s: %w (fn: %v)", ns.Name, err, ferr)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// MustDo is Do that fails t on error.
func (ns *NS) MustDo(t testing.TB, fn func() error) {
	t.Helper()
	if err := ns.Do(fn); err != nil {
		t.Fatal(err)
	}
}

// Command returns cmd prepared to run inside the namespace
// (ip netns exec NAME args...).
func (ns *NS) Command(args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", ns.Name}, args...)...)
}

// Run runs a command inside the namespace and returns its combined output.
func (ns *NS) Run(args ...string) (string, error) {
	var out bytes.Buffer
	cmd := ns.Command(args...)
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("%s (in %s): %w: %s", strings.Join(args, " "), ns.Name, err, out.String())
	}
	return out.String(), nil
}

// MustRun is Run that fails t on error.
func (ns *NS) MustRun(t testing.TB, args ...string) string {
	t.Helper()
	out, err := ns.Run(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Veth creates a veth pair with one end, nameA, in a and the other, nameB,
// in b, and brings both up. The links vanish with their namespaces.
func Veth(t testing.TB, a *NS, nameA string, b *NS, nameB string) {
	t.Helper()
	tmp := "nst" + randHex(t, 5)
	if out, err := exec.Command("ip", "link", "add", tmp, "type", "veth", "peer", "name", tmp+"p").CombinedOutput(); err != nil {
		t.Fatalf("creating veth: %v: %s", err, out)
	}
	for _, c := range [][]string{
		{"ip", "link", "set", tmp, "netns", a.Name, "name", nameA},
		{"ip", "link", "set", tmp + "p", "netns", b.Name, "name", nameB},
	} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			exec.Command("ip", "link", "del", tmp).Run()
			t.Fatalf("%s: %v: %s", strings.Join(c, " "), err, out)
		}
	}
	a.MustRun(t, "ip", "link", "set", nameA, "up")
	b.MustRun(t, "ip", "link", "set", nameB, "up")
}

// TUN is a TUN device (IFF_TUN|IFF_NO_PI) held open by the test.
type TUN struct {
	Name  string
	Index int
	File  *os.File // non-blocking: read deadlines work
}

// NewTUN creates a TUN named name inside ns, brings it up with the given
// MTU and closes it (removing the device) when t ends.
func (ns *NS) NewTUN(t testing.TB, name string, mtu int) *TUN {
	t.Helper()
	var tun *TUN
	ns.MustDo(t, func() error {
		var err error
		tun, err = openTUN(name)
		return err
	})
	t.Cleanup(func() { tun.File.Close() })
	ns.MustRun(t, "ip", "link", "set", name, "mtu", fmt.Sprint(mtu), "up")
	return tun
}

func randHex(t testing.TB, n int) string {
	b := make([]byte, (n+1)/2)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)[:n]
}
