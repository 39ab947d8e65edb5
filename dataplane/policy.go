// SPDX-License-Identifier: MIT

package dataplane

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// PolicyABI is the version of include/wgbpfd/policy.h this build
// implements; an object built against another is refused.
const PolicyABI = 1

// Policy hooks: slots of the policy_progs prog array (enum wgbpfd_hook).
const (
	HookEgress  = 0
	HookIngress = 1
)

// policyEntry names each hook's program in a policy object, by slot.
var policyEntry = [...]string{HookEgress: "wgbpfd_egress", HookIngress: "wgbpfd_ingress"}

// policyShared are the maps a policy object may declare: wgbpfd replaces
// them with its own (the packet's context, the peers' public state).
var policyShared = map[string]bool{"wgbpfd_ctx_map": true, "wgbpfd_peers": true}

// Policy is a user's policy object, loaded and verified but not yet
// installed (InstallPolicy).
type Policy struct {
	File   string // the object's path
	Digest string // first 12 hex digits of the object's SHA-256
	coll   *ebpf.Collection
	progs  [len(policyEntry)]*ebpf.Program
	maps   map[string]*ebpf.Map // the object's own maps (pinned for tools)
}

// Hooks names the hooks the policy has, in slot order.
func (p *Policy) Hooks() []string {
	var out []string
	for i, prog := range p.progs {
		if prog != nil {
			out = append(out, strings.TrimPrefix(policyEntry[i], "wgbpfd_"))
		}
	}
	return out
}

// Map is one of the object's own maps by name (nil if it has none).
func (p *Policy) Map(name string) *ebpf.Map { return p.maps[name] }

// Close releases the policy's programs and maps (a slot that holds one of
// the programs keeps it alive until it is replaced).
func (p *Policy) Close() error {
	if p == nil || p.coll == nil {
		return nil
	}
	p.coll.Close()
	p.coll = nil
	return nil
}

// LoadPolicy reads the policy object at path and loads it against this data
// plane's context and peer maps. Errors say what is wrong with the object;
// the caller adds the path.
func (d *Dataplane) LoadPolicy(path string) (*Policy, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	spec, err := ebpf.LoadCollectionSpecFromReader(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("not a BPF object: %w", err)
	}
	if err := checkPolicySpec(spec, d.ownMapNames()); err != nil {
		return nil, err
	}
	repl := map[string]*ebpf.Map{}
	for name := range policyShared {
		if _, ok := spec.Maps[name]; ok {
			repl[name] = d.sharedMap(name)
		}
	}
	coll, err := ebpf.NewCollectionWithOptions(spec, ebpf.CollectionOptions{MapReplacements: repl})
	if err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return nil, fmt.Errorf("refused by the verifier: %+v", ve)
		}
		return nil, fmt.Errorf("loading: %w", err)
	}
	sum := sha256.Sum256(raw)
	p := &Policy{File: path, Digest: hex.EncodeToString(sum[:6]), coll: coll, maps: map[string]*ebpf.Map{}}
	for i, name := range policyEntry {
		p.progs[i] = coll.Programs[name]
	}
	for name, m := range coll.Maps {
		if !policyShared[name] && !strings.HasPrefix(name, ".") {
			p.maps[name] = m
		}
	}
	return p, nil
}

// checkPolicySpec refuses an object that is not a policy of this ABI, or
// that could reach more than a policy may: only the two entry programs,
// SCHED_CLS both (the prog array takes no other type); no map named like one
// of wgbpfd's (it would be mistaken for ours by readers of the pins), no
// pinned maps (they would reach maps outside the object).
func checkPolicySpec(spec *ebpf.CollectionSpec, ours map[string]bool) error {
	v, ok := spec.Variables["wgbpfd_policy_abi"]
	if !ok {
		return errors.New("no interface version: the object lacks WGBPFD_POLICY() (include/wgbpfd/policy.h)")
	}
	var abi uint32
	if v.Size() != 4 || v.Get(&abi) != nil {
		return errors.New("wgbpfd_policy_abi is not a __u32")
	}
	if abi != PolicyABI {
		return fmt.Errorf("built for policy interface version %d; this wgbpfd implements version %d", abi, PolicyABI)
	}
	var found int
	names := make([]string, 0, len(spec.Programs))
	for name := range spec.Programs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		ps := spec.Programs[name]
		known := false
		for _, e := range policyEntry {
			known = known || e == name
		}
		if !known {
			return fmt.Errorf("program %q: a policy has only wgbpfd_egress and wgbpfd_ingress", name)
		}
		if ps.Type != ebpf.SchedCLS {
			return fmt.Errorf("program %q is %s, not a tc (SEC(\"tc\")) program", name, ps.Type)
		}
		// A prog array takes programs of its owner's attach type; ours are
		// plain SEC("tc"). tcx/... sections mean the same to a hook.
		ps.AttachType = ebpf.AttachNone
		found++
	}
	if found == 0 {
		return errors.New("no wgbpfd_egress or wgbpfd_ingress program")
	}
	for name, ms := range spec.Maps {
		if policyShared[name] || strings.HasPrefix(name, ".") {
			continue
		}
		if ours[name] {
			return fmt.Errorf("map %q has the name of one of wgbpfd's maps", name)
		}
		if ms.Pinning != ebpf.PinNone {
			return fmt.Errorf("map %q is pinned: a policy's maps must be its own", name)
		}
	}
	return nil
}

// ownMapNames are the names of this object's maps.
func (d *Dataplane) ownMapNames() map[string]bool {
	spec, err := loadWgbpf()
	out := map[string]bool{}
	if err != nil {
		return out
	}
	for name := range spec.Maps {
		if !policyShared[name] {
			out[name] = true
		}
	}
	return out
}

func (d *Dataplane) sharedMap(name string) *ebpf.Map {
	if name == "wgbpfd_ctx_map" {
		return d.objs.WgbpfdCtxMap
	}
	return d.objs.WgbpfdPeers
}

// InstallPolicy puts p's programs into the hook slots (nil: no policy) and
// returns the policy it replaces, for the caller to Close. Each slot changes
// with one map update: a packet runs the old hook or the new one, never
// none. Hooks the new policy lacks are emptied last.
func (d *Dataplane) InstallPolicy(p *Policy) (*Policy, error) {
	old := d.policy
	var want uint32
	for i := range policyEntry {
		if p != nil && p.progs[i] != nil {
			if err := d.objs.PolicyProgs.Update(uint32(i), uint32(p.progs[i].FD()), ebpf.UpdateAny); err != nil {
				// Slots already switched go back to the old policy.
				_ = d.restoreSlots(old, i)
				return nil, fmt.Errorf("installing hook %s: %w", policyEntry[i], err)
			}
			want |= 1 << i
		}
	}
	var have uint32
	if err := d.objs.WgPolicyHooks.Get(&have); err != nil {
		return nil, fmt.Errorf("reading the hook mask: %w", err)
	}
	// A slot's bit is set while it may hold a program; a cleared bit only
	// skips a slot that is about to be emptied anyway.
	if err := d.objs.WgPolicyHooks.Set(have | want); err != nil {
		return nil, fmt.Errorf("writing the hook mask: %w", err)
	}
	if err := d.objs.WgPolicyHooks.Set(want); err != nil {
		return nil, fmt.Errorf("writing the hook mask: %w", err)
	}
	for i := range policyEntry {
		if want&(1<<i) != 0 {
			continue
		}
		if err := d.objs.PolicyProgs.Delete(uint32(i)); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return nil, fmt.Errorf("emptying hook %s: %w", policyEntry[i], err)
		}
	}
	d.policy = p
	d.repinPolicy(old, p)
	return old, nil
}

func (d *Dataplane) restoreSlots(old *Policy, n int) error {
	var errs []error
	for i := 0; i < n; i++ {
		if old != nil && old.progs[i] != nil {
			errs = append(errs, d.objs.PolicyProgs.Update(uint32(i), uint32(old.progs[i].FD()), ebpf.UpdateAny))
		} else if err := d.objs.PolicyProgs.Delete(uint32(i)); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// PolicyPinPrefix begins the pin names of a policy's own maps in the
// interface's pin directory: /sys/fs/bpf/wgbpfd/wg0/policy_flows.
const PolicyPinPrefix = "policy_"

// repinPolicy moves the pins from old's maps to p's (best effort: pins are
// for tools, the policy works without them).
func (d *Dataplane) repinPolicy(old, p *Policy) {
	if old != nil {
		for _, m := range old.maps {
			_ = m.Unpin()
		}
	}
	if d.pinDir == "" || p == nil {
		return
	}
	for name, m := range p.maps {
		_ = m.Pin(filepath.Join(d.pinDir, PolicyPinPrefix+name))
	}
}

// SetPeerInfo publishes a peer's id and last handshake (zero: none) to
// policies, keyed by its public key.
func (d *Dataplane) SetPeerInfo(pub [32]byte, id uint32, lastHandshake time.Time) error {
	info := wgPeerInfo{PeerId: id, LastHandshakeNs: bootNs(lastHandshake)}
	if err := d.objs.WgbpfdPeers.Update(pub, &info, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("publishing peer %d to the policy: %w", id, err)
	}
	return nil
}

// DeletePeerInfo removes a peer from what policies see.
func (d *Dataplane) DeletePeerInfo(pub [32]byte) error {
	if err := d.objs.WgbpfdPeers.Delete(pub); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("removing a peer from the policy's view: %w", err)
	}
	return nil
}

// bootNs converts wall time to the bpf_ktime_get_boot_ns() clock; the zero
// Time is 0.
func bootNs(t time.Time) uint64 {
	if t.IsZero() {
		return 0
	}
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return 0
	}
	ns := ts.Nano() - time.Since(t).Nanoseconds()
	if ns <= 0 {
		return 1
	}
	return uint64(ns)
}
