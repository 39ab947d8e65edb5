// SPDX-License-Identifier: MIT

package netif

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// noDNSEnv is a host with neither resolvectl nor resolvconf.
var noDNSEnv = dnsEnv{
	lookPath:        func(string) (string, error) { return "", errors.New("not found") },
	resolvedRunning: func() bool { return false },
}

// fakeResolvconf returns an env whose resolvconf is a script appending its
// arguments to a log file, and that file.
func fakeResolvconf(t *testing.T) (dnsEnv, string) {
	t.Helper()
	dir := t.TempDir()
	log := filepath.Join(dir, "log")
	script := filepath.Join(dir, "resolvconf")
	body := "#!/bin/sh\necho \"$@\" >> " + log + "\ncat >> " + log + "\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return dnsEnv{
		lookPath: func(name string) (string, error) {
			if name == "resolvconf" {
				return script, nil
			}
			return "", errors.New("not found")
		},
		resolvedRunning: func() bool { return false },
		interfaceOrder:  filepath.Join(dir, "no-interface-order"),
	}, log
}

// TestCleanupStale simulates kill -9 of a daemon that had a persistent TUN,
// a full tunnel in both families and the data plane's veth pair, then runs
// the start-up cleanup.
func TestCleanupStale(t *testing.T) {
	ns := inNetns(t)
	if err := writeSysctl(srcValidMark, "0"); err != nil {
		t.Fatal(err)
	}
	// Another full tunnel (IPv6 only) that must survive, with the suppress
	// rule it shares with ours.
	ipIn(t, ns, "-6", "rule", "add", "not", "fwmark", "999", "table", "999")

	st := NewState("wgt0")
	f, _, err := st.CreateTUN()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := st.AddAddresses(prefixes("10.9.0.1/24")); err != nil {
		t.Fatal(err)
	}
	if err := st.SetUp(); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddRoutes(prefixes("0.0.0.0/0", "::/0", "192.168.7.0/24"), Table{}, DefaultFwmark); err != nil {
		t.Fatal(err)
	}
	addHop(t, ns, "wgt0")

	// While the TUN is held (the daemon still runs), nothing is touched.
	env, log := fakeResolvconf(t)
	if _, err := cleanupStale("wgt0", DefaultFwmark, env); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("cleanup while the TUN is held: %v, want an \"in use\" error", err)
	}
	if out := ipIn(t, ns, "-4", "rule", "show"); !strings.Contains(out, "lookup 51820") {
		t.Fatalf("rules were removed although the TUN is in use: %s", out)
	}
	if _, err := os.Stat(log); err == nil {
		t.Fatal("resolvconf ran although the TUN is in use")
	}

	// The crash: the TUN had been made persistent, the process dies, the
	// State is lost without Teardown.
	if err := unix.IoctlSetInt(int(f.Fd()), unix.TUNSETPERSIST, 1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	st = nil
	if out := ipIn(t, ns, "link", "show", "wgt0"); !strings.Contains(out, "wgt0") {
		t.Fatalf("persistent wgt0 vanished: %s", out)
	}

	done, err := cleanupStale("wgt0", DefaultFwmark, env)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("cleanup:\n%s", strings.Join(done, "\n"))
	all := ipIn(t, ns, "link", "show")
	hop := HopNames("wgt0")
	for _, name := range []string{"wgt0:", hop[0], hop[1]} {
		if strings.Contains(all, name) {
			t.Errorf("%s survived cleanup: %s", name, all)
		}
	}
	assertLines(t, "ip rule after cleanup", ipIn(t, ns, "-4", "rule", "show"), baseRules4...)
	assertLines(t, "ip -6 rule after cleanup (the other tunnel keeps the shared rule)", ipIn(t, ns, "-6", "rule", "show"),
		"0:\tfrom all lookup local",
		"32763:\tfrom all lookup main suppress_prefixlength 0", // added after 999's rule
		"32765:\tnot from all fwmark 0x3e7 lookup 999",
		"32766:\tfrom all lookup main")
	assertLines(t, "table 51820 after cleanup", ipIn(t, ns, "route", "show", "table", "51820"))
	assertLines(t, "main after cleanup", ipIn(t, ns, "-4", "route", "show"))
	if b, err := os.ReadFile(log); err != nil || strings.TrimSpace(string(b)) != "-d wgt0 -f" {
		t.Errorf("resolvconf calls %q, %v; want \"-d wgt0 -f\"", b, err)
	}
	// src_valid_mark is adopted, not reset.
	if v, _ := readSysctl(srcValidMark); v != "1" {
		t.Errorf("src_valid_mark = %q, want 1 left in place", v)
	}

	// Nothing left: a second run is a no-op.
	done, err = cleanupStale("wgt0", DefaultFwmark, noDNSEnv)
	if err != nil || len(done) != 0 {
		t.Errorf("second cleanup: %v, %v; want nothing", done, err)
	}
}

// TestCleanupStaleNonPersistent: the common crash. The TUN went with the
// process's fd, and its routes with it; the rules and the veths remain.
func TestCleanupStaleNonPersistent(t *testing.T) {
	ns := inNetns(t)
	st, f := upTUN(t)
	if _, err := st.AddRoutes(prefixes("0.0.0.0/0"), Table{}, 4242); err != nil {
		t.Fatal(err)
	}
	addHop(t, ns, "wgt0")
	f.Close() // the process dies; st is dropped without Teardown

	done, err := cleanupStale("wgt0", 4242, noDNSEnv)
	if err != nil {
		t.Fatal(err)
	}
	if len(done) != 3 { // one veth, two rules; the TUN was already gone
		t.Errorf("cleanup:\n%s", strings.Join(done, "\n"))
	}
	assertLines(t, "ip rule after cleanup", ipIn(t, ns, "-4", "rule", "show"), baseRules4...)
	if out := ipIn(t, ns, "link", "show"); strings.Contains(out, "wgt0") || strings.Contains(out, HopNames("wgt0")[0]) {
		t.Errorf("links survived cleanup: %s", out)
	}
}

// addHop makes iface's veth pair as the data plane does: hashed names,
// both ends marked with the owner's alias.
func addHop(t *testing.T, ns, iface string) {
	t.Helper()
	h := HopNames(iface)
	ipIn(t, ns, "link", "add", h[0], "type", "veth", "peer", "name", h[1])
	for _, n := range h {
		ipIn(t, ns, "link", "set", n, "alias", HopAlias(iface))
	}
}

// TestHopNamesDistinct: interfaces that share their first ten (or
// fourteen) characters get helper names of their own that fit in
// IFNAMSIZ.
func TestHopNamesDistinct(t *testing.T) {
	seen := map[string]string{}
	for _, iface := range []string{"wg-site-east", "wg-site-east2", "wg-site-east22", "wg-site-east222", "wg0", "wg1"} {
		for _, n := range HopNames(iface) {
			if err := ValidateName(n); err != nil {
				t.Errorf("%s: %v", iface, err)
			}
			if o, ok := seen[n]; ok {
				t.Errorf("%s and %s share the helper name %s", o, iface, n)
			}
			seen[n] = iface
		}
	}
}

// TestCleanupStaleSharedPrefix: cleaning up after "wg-site-east" deletes
// its own veth and leaves those of "wg-site-east2" (same first ten
// characters) and an unmarked veth with an old-style name alone.
func TestCleanupStaleSharedPrefix(t *testing.T) {
	ns := inNetns(t)
	addHop(t, ns, "wg-site-east")
	addHop(t, ns, "wg-site-east2")
	ipIn(t, ns, "link", "add", "wg-site-e-hop0", "type", "veth", "peer", "name", "wg-site-e-hop1")
	done, err := cleanupStale("wg-site-east", 0, noDNSEnv)
	if err != nil {
		t.Fatal(err)
	}
	if len(done) != 1 {
		t.Errorf("cleanup of wg-site-east:\n%s", strings.Join(done, "\n"))
	}
	out := ipIn(t, ns, "link", "show")
	for _, n := range HopNames("wg-site-east") {
		if strings.Contains(out, n) {
			t.Errorf("%s of wg-site-east survived its cleanup:\n%s", n, out)
		}
	}
	east2 := HopNames("wg-site-east2")
	for _, n := range []string{east2[0], east2[1], "wg-site-e-hop0", "wg-site-e-hop1"} {
		if !strings.Contains(out, n) {
			t.Errorf("cleanup of wg-site-east removed %s, not its own:\n%s", n, out)
		}
	}
}

func TestCleanupStaleForeignLink(t *testing.T) {
	ns := inNetns(t)
	ipIn(t, ns, "link", "add", "wgt5", "type", "veth", "peer", "name", "wgt5-hop0")
	ipIn(t, ns, "rule", "add", "not", "fwmark", "51820", "table", "51820")
	_, err := cleanupStale("wgt5", DefaultFwmark, noDNSEnv)
	if err == nil || !strings.Contains(err.Error(), "wgt5 exists and is a veth link") {
		t.Fatalf("cleanup over a foreign link: %v", err)
	}
	if out := ipIn(t, ns, "link", "show"); !strings.Contains(out, "wgt5-hop0") {
		t.Errorf("cleanup touched links although it refused: %s", out)
	}
	if out := ipIn(t, ns, "rule", "show"); !strings.Contains(out, "lookup 51820") {
		t.Errorf("cleanup touched rules although it refused: %s", out)
	}
}
