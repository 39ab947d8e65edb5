// SPDX-License-Identifier: MIT

package netif

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// These only build commands; nothing here touches the host's resolver.

func fakeEnv(tools map[string]bool, resolved bool, order string) dnsEnv {
	return dnsEnv{
		lookPath: func(name string) (string, error) {
			if tools[name] {
				return "/fake/" + name, nil
			}
			return "", errors.New("not found")
		},
		resolvedRunning: func() bool { return resolved },
		interfaceOrder:  order,
	}
}

var testDNS = DNS{
	Servers: []netip.Addr{netip.MustParseAddr("10.9.0.53"), netip.MustParseAddr("fd00:9::53")},
	Search:  []string{"corp.example", "lab.example"},
}

func TestPlanDNSResolved(t *testing.T) {
	p := planDNS("wg0", testDNS, fakeEnv(map[string]bool{"resolvectl": true, "resolvconf": true}, true, ""))
	want := DNSPlan{
		Set: []Command{
			{Args: []string{"/fake/resolvectl", "dns", "wg0", "10.9.0.53", "fd00:9::53"}},
			{Args: []string{"/fake/resolvectl", "domain", "wg0", "~.", "corp.example", "lab.example"}},
		},
		Unset: []Command{{Args: []string{"/fake/resolvectl", "revert", "wg0"}}},
	}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("plan %+v\nwant %+v", p, want)
	}
}

func TestPlanDNSResolvconf(t *testing.T) {
	// resolvectl installed but resolved not running: resolvconf is used.
	order := filepath.Join(t.TempDir(), "interface-order")
	if err := os.WriteFile(order, []byte("lo.inet6\nlo.inet*\ntun*\nwg*\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ order, name string }{{"/nonexistent", "wg0"}, {order, "tun.wg0"}} {
		p := planDNS("wg0", testDNS, fakeEnv(map[string]bool{"resolvectl": true, "resolvconf": true}, false, c.order))
		want := DNSPlan{
			Set: []Command{{
				Args:  []string{"/fake/resolvconf", "-a", c.name, "-m", "0", "-x"},
				Stdin: "nameserver 10.9.0.53\nnameserver fd00:9::53\nsearch corp.example lab.example\n",
			}},
			Unset: []Command{{Args: []string{"/fake/resolvconf", "-d", c.name, "-f"}}},
		}
		if !reflect.DeepEqual(p, want) {
			t.Errorf("plan %+v\nwant %+v", p, want)
		}
	}
}

func TestPlanDNSWarning(t *testing.T) {
	p := planDNS("wg0", testDNS, fakeEnv(nil, true, ""))
	if len(p.Set) != 0 || len(p.Unset) != 0 || !strings.Contains(p.Warning, "DNS for wg0 not configured") {
		t.Errorf("plan %+v, want only a warning", p)
	}
	if p := planDNS("wg0", DNS{}, fakeEnv(map[string]bool{"resolvconf": true}, false, "")); !reflect.DeepEqual(p, DNSPlan{}) {
		t.Errorf("empty DNS gave %+v", p)
	}
}

// TestStateDNS checks the bookkeeping with harmless commands standing in for
// the resolver tools: Set runs at SetDNS, Unset at Teardown, and a warning
// is returned without an error.
func TestStateDNS(t *testing.T) {
	inNetns(t)
	st, _ := upTUN(t)
	log := filepath.Join(t.TempDir(), "log")
	rec := func(word string) Command {
		return Command{Args: []string{"/bin/sh", "-c", "cat >> " + log + "; echo " + word + " >> " + log}, Stdin: word + "-stdin\n"}
	}
	warn, err := st.setDNS(DNSPlan{Set: []Command{rec("set")}, Unset: []Command{rec("unset")}})
	if err != nil || warn != "" {
		t.Fatalf("setDNS: %q, %v", warn, err)
	}
	if err := st.Teardown(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(log)
	if got := string(b); got != "set-stdin\nset\nunset-stdin\nunset\n" {
		t.Errorf("commands ran as %q", got)
	}

	if _, err := NewState("wgt9").setDNS(DNSPlan{Warning: "w"}); err == nil {
		t.Error("setDNS without a link succeeded")
	}
	st3, _ := upTUNNamed(t, "wgt1")
	if warn, err := st3.setDNS(DNSPlan{Warning: "no resolver"}); err != nil || warn != "no resolver" {
		t.Errorf("warning path: %q, %v", warn, err)
	}
	failing := DNSPlan{Set: []Command{{Args: []string{"/bin/sh", "-c", "echo nope >&2; exit 2"}}}}
	if _, err := st3.setDNS(failing); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("failing DNS command: %v", err)
	}
}
