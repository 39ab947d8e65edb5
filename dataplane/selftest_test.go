// SPDX-License-Identifier: MIT

package dataplane

import (
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"

	"github.com/cilium/ebpf"
)

// selftests holds, for each Dataplane a test loaded, the test object's
// wg_selftest loaded on that Dataplane's maps (bpf/wgbpfd_test.c).
var selftests sync.Map // *Dataplane → *ebpf.Program

// productionMaps returns the maps of d by their names in the object.
func productionMaps(d *Dataplane) map[string]*ebpf.Map {
	maps := map[string]*ebpf.Map{}
	v := reflect.ValueOf(d.objs.wgbpfMaps)
	for i := range v.NumField() {
		if m, ok := v.Field(i).Interface().(*ebpf.Map); ok && m != nil {
			maps[v.Type().Field(i).Tag.Get("ebpf")] = m
		}
	}
	return maps
}

// loadSelftest loads the test object with every map it shares with the
// daemon's object replaced by d's, so that wg_selftest runs on the keys and
// sessions d installed, and registers it for runSelftest.
func loadSelftest(d *Dataplane) (*ebpf.Program, error) {
	spec, err := loadWgbpftest()
	if err != nil {
		return nil, err
	}
	prod := productionMaps(d)
	repl := map[string]*ebpf.Map{}
	for name := range spec.Maps {
		m, ok := prod[name]
		if !ok {
			return nil, fmt.Errorf("test object map %s has no counterpart in the daemon's object", name)
		}
		repl[name] = m
	}
	var objs wgbpftestObjects
	if err := spec.LoadAndAssign(&objs, &ebpf.CollectionOptions{MapReplacements: repl}); err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return nil, fmt.Errorf("loading the test object: %+v", ve)
		}
		return nil, fmt.Errorf("loading the test object: %w", err)
	}
	// The program keeps its maps; the clones LoadAndAssign made are ours.
	objs.wgbpftestMaps.Close()
	selftests.Store(d, objs.WgSelftest)
	return objs.WgSelftest, nil
}

// selftestOf is d's wg_selftest (loadForTest loads it).
func selftestOf(t testing.TB, d *Dataplane) *ebpf.Program {
	t.Helper()
	p, ok := selftests.Load(d)
	if !ok {
		t.Fatal("no test object loaded for this Dataplane (use loadForTest)")
	}
	return p.(*ebpf.Program)
}

func closeSelftest(d *Dataplane) {
	if p, ok := selftests.LoadAndDelete(d); ok {
		p.(*ebpf.Program).Close()
	}
}

// daemonPrograms are the programs the daemon's object may hold, and why.
var daemonPrograms = map[string]string{
	"wg_tun_egress":       "attached to the tunnel interface",
	"wg_hop_encrypt":      "attached to the encrypt hop",
	"wg_underlay_ingress": "attached to the underlay interfaces",
	"wg_install":          "installs a keypair",
	"wg_remove":           "removes a keypair",
	"wg_reserve":          "reserves send counters",
	"wg_commit":           "commits a counter the daemon opened to the replay window",
	"wg_policy_deliver":   "runs the ingress policy hook, then delivers",
	"wg_probe":            "start-up probe of bpf_crypto",
	"wg_wrap":             "wraps chacha20poly1305 keys at install",
}

// TestObjectHasNoTestPrograms: the object the daemon loads holds only the
// programs of the data path and key management, none of the test object's
// (which run ciphers on caller-given keys and indices). Before the test
// object existed, wg_selftest was in the daemon's object and this failed.
func TestObjectHasNoTestPrograms(t *testing.T) {
	prod, err := loadWgbpf()
	if err != nil {
		t.Fatal(err)
	}
	test, err := loadWgbpftest()
	if err != nil {
		t.Fatal(err)
	}
	if len(test.Programs) == 0 {
		t.Fatal("the test object has no programs")
	}
	for name, p := range test.Programs {
		if _, ok := prod.Programs[name]; ok {
			t.Errorf("test program %s (section %s) is in the daemon's object", name, p.SectionName)
		}
	}
	for name, p := range prod.Programs {
		if _, ok := daemonPrograms[name]; !ok {
			t.Errorf("the daemon's object holds %s (section %s), which is not a data path or key management program; "+
				"if it is one, list it in daemonPrograms with its reason", name, p.SectionName)
		}
	}
}
