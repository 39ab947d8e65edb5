// SPDX-License-Identifier: MIT

package dataplane

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"

	"github.com/wgbpfd/wgbpfd/netif"
)

// The data plane outlives its daemon: every map and every tcx link is
// pinned under PinDir, so that after kill -9 (or a planned hand-over) the
// kernel keeps forwarding, and a successor can take the maps and links
// over. Next to the object's maps, two maps made here describe the state
// so that a successor can check it is its own:
//
//   - identity: one record (Identity): the map layout of the build that
//     made the state, a hash of the interface's public key, its suite,
//     the TUN and hop ifindexes;
//   - peer_pubkeys: peer id → public key, so that a successor gives each
//     peer the id (and so the counters, endpoint and sessions) it had.
//
// Neither holds a secret. session_keys and key_wrap are pinned too: they
// hold chacha20poly1305 keys only wrapped under a key that lives inside a
// crypto context, and aes-cbc keys only inside crypto contexts.
const (
	identityPin   = "identity"
	peerKeysPin   = "peer_pubkeys"
	linkPinPrefix = "link_"
)

// Identity is what a successor checks before it adopts a running data plane.
type Identity struct {
	Layout   [32]byte // LayoutFingerprint of the build that made the state
	PubHash  [32]byte // SHA-256 of the interface's public key
	Suite    uint8    // the interface's default transport suite
	TunIndex uint32
	Hop0     uint32
	Hop1     uint32
}

const identityMagic = "wgbpfd-1"

// identityLen: magic, layout, pubhash, suite (padded to 4), three ifindexes.
const identityLen = 8 + 32 + 32 + 4 + 3*4

func (id *Identity) marshal() []byte {
	b := make([]byte, identityLen)
	copy(b, identityMagic)
	copy(b[8:], id.Layout[:])
	copy(b[40:], id.PubHash[:])
	b[72] = id.Suite
	ne := binary.NativeEndian
	ne.PutUint32(b[76:], id.TunIndex)
	ne.PutUint32(b[80:], id.Hop0)
	ne.PutUint32(b[84:], id.Hop1)
	return b
}

func unmarshalIdentity(b []byte) (*Identity, error) {
	if len(b) != identityLen || string(b[:8]) != identityMagic {
		return nil, errors.New("identity record of an unknown format")
	}
	id := &Identity{Suite: b[72]}
	copy(id.Layout[:], b[8:40])
	copy(id.PubHash[:], b[40:72])
	ne := binary.NativeEndian
	id.TunIndex = ne.Uint32(b[76:])
	id.Hop0 = ne.Uint32(b[80:])
	id.Hop1 = ne.Uint32(b[84:])
	return id, nil
}

// LayoutFingerprint hashes the layout of every map of this build's object:
// name, type, key and value sizes, entries, flags, and the members of the
// value types (names, offsets, sizes). Programs may change between builds
// whose fingerprints match (a successor swaps them in on the running
// links); a map that changed cannot be carried over.
func LayoutFingerprint() ([32]byte, error) {
	spec, err := loadSpec()
	if err != nil {
		return [32]byte{}, err
	}
	return layoutOf(spec), nil
}

func layoutOf(spec *ebpf.CollectionSpec) [32]byte {
	names := make([]string, 0, len(spec.Maps))
	for n := range spec.Maps {
		if shared(n) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		m := spec.Maps[n]
		fmt.Fprintf(h, "%s %v %d %d %d %#x %s %s\n", n, m.Type, m.KeySize, m.ValueSize, m.MaxEntries, m.Flags,
			describeType(m.Key, 0), describeType(m.Value, 0))
	}
	return [32]byte(h.Sum(nil))
}

// describeType renders a BTF type's shape: names, offsets and sizes of
// struct and union members, recursively, array lengths.
func describeType(t btf.Type, depth int) string {
	if t == nil || depth > 8 {
		return "-"
	}
	t = btf.UnderlyingType(t)
	size, _ := btf.Sizeof(t)
	switch v := t.(type) {
	case *btf.Struct, *btf.Union:
		var members []btf.Member
		if s, ok := v.(*btf.Struct); ok {
			members = s.Members
		} else {
			members = v.(*btf.Union).Members
		}
		var b strings.Builder
		fmt.Fprintf(&b, "%T(%d){", v, size)
		for _, m := range members {
			fmt.Fprintf(&b, "%s@%d:%s;", m.Name, m.Offset, describeType(m.Type, depth+1))
		}
		b.WriteString("}")
		return b.String()
	case *btf.Array:
		return fmt.Sprintf("[%d]%s", v.Nelems, describeType(v.Type, depth+1))
	case *btf.Pointer:
		return "*" + pointee(v.Target)
	default:
		return fmt.Sprintf("%s(%d)", t.TypeName(), size)
	}
}

func pointee(t btf.Type) string {
	for {
		switch v := t.(type) {
		case *btf.Typedef:
			t = v.Type
		case *btf.Const:
			t = v.Type
		case *btf.Volatile:
			t = v.Type
		case *btf.TypeTag:
			t = v.Type
		default:
			return fmt.Sprintf("%T:%s", t, t.TypeName())
		}
	}
}

// objectMaps lists the object's maps by their names in the ELF.
func (d *Dataplane) objectMaps() map[string]*ebpf.Map {
	out := map[string]*ebpf.Map{}
	v := reflect.ValueOf(&d.objs.wgbpfMaps).Elem()
	for i := range v.NumField() {
		name := v.Type().Field(i).Tag.Get("ebpf")
		if m, ok := v.Field(i).Interface().(*ebpf.Map); ok && m != nil && name != "" {
			out[name] = m
		}
	}
	return out
}

// newIdentityMaps creates the two maps of this file (not pinned yet).
func newIdentityMaps() (identity, keys *ebpf.Map, err error) {
	identity, err = ebpf.NewMap(&ebpf.MapSpec{Name: "wg_identity", Type: ebpf.Array, KeySize: 4, ValueSize: identityLen, MaxEntries: 1})
	if err != nil {
		return nil, nil, fmt.Errorf("creating the identity map: %w", err)
	}
	keys, err = ebpf.NewMap(&ebpf.MapSpec{Name: "wg_peer_pubkeys", Type: ebpf.Hash, KeySize: 4, ValueSize: 32, MaxEntries: MaxPeers})
	if err != nil {
		identity.Close()
		return nil, nil, fmt.Errorf("creating the peer key map: %w", err)
	}
	return identity, keys, nil
}

// WriteIdentity records id in the pinned state (the layout is filled in
// here); call it once the data plane is pinned and configured.
func (d *Dataplane) WriteIdentity(id Identity) error {
	if d.identity == nil {
		return errors.New("write identity: data plane not pinned")
	}
	l, err := LayoutFingerprint()
	if err != nil {
		return err
	}
	id.Layout = l
	if a := d.att; a != nil {
		id.TunIndex, id.Hop0, id.Hop1 = uint32(a.cfg.TunIndex), uint32(a.hop0Idx), uint32(a.hop1Idx)
	}
	if err := d.identity.Update(uint32(0), id.marshal(), ebpf.UpdateAny); err != nil {
		return fmt.Errorf("write identity: %w", err)
	}
	return nil
}

// SetPeerKey records which public key peer id belongs to.
func (d *Dataplane) SetPeerKey(id uint32, pub [32]byte) error {
	if d.peerKeys == nil {
		return nil
	}
	return d.peerKeys.Update(id, pub, ebpf.UpdateAny)
}

// DeletePeerKey forgets peer id's public key.
func (d *Dataplane) DeletePeerKey(id uint32) error {
	if d.peerKeys == nil {
		return nil
	}
	if err := d.peerKeys.Delete(id); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return err
	}
	return nil
}

// PeerKeys returns the recorded peer ids by public key.
func (d *Dataplane) PeerKeys() (map[[32]byte]uint32, error) {
	out := map[[32]byte]uint32{}
	if d.peerKeys == nil {
		return out, nil
	}
	var id uint32
	var pub [32]byte
	it := d.peerKeys.Iterate()
	for it.Next(&id, &pub) {
		out[pub] = id
	}
	return out, it.Err()
}

// Sessions lists the local indices of every keypair in the data plane.
func (d *Dataplane) Sessions() ([]uint32, error) {
	var out []uint32
	var idx uint32
	it := d.objs.Sessions.Iterate()
	val := make([]byte, d.objs.Sessions.ValueSize())
	for it.Next(&idx, &val) {
		out = append(out, idx)
	}
	return out, it.Err()
}

// Peers lists the peer ids in the data plane.
func (d *Dataplane) PeerIDs() ([]uint32, error) {
	var out []uint32
	var id uint32
	var p wgPeer
	it := d.objs.Peers.Iterate()
	for it.Next(&id, &p) {
		out = append(out, id)
	}
	return out, it.Err()
}

// AllAllowedIPs lists every AllowedIPs entry with its peer id.
func (d *Dataplane) AllAllowedIPs() (map[netip.Prefix]uint32, error) {
	out := map[netip.Prefix]uint32{}
	var k4 wgLPM4
	var id uint32
	it := d.objs.AllowedV4.Iterate()
	for it.Next(&k4, &id) {
		out[netip.PrefixFrom(netip.AddrFrom4(k4.Addr), int(k4.Prefixlen))] = id
	}
	if err := it.Err(); err != nil {
		return nil, err
	}
	var k6 wgLPM6
	it = d.objs.AllowedV6.Iterate()
	for it.Next(&k6, &id) {
		out[netip.PrefixFrom(netip.AddrFrom16(k6.Addr), int(k6.Prefixlen))] = id
	}
	return out, it.Err()
}

// Leftover is the pinned state of one interface found in PinRoot.
type Leftover struct {
	Dir      string
	Iface    string
	Identity *Identity // nil if unreadable (IdentityErr says why)
	IdErr    error
	Links    []string // pinned tcx links
	Maps     int      // pinned maps
}

// FindLeftover returns the pinned state of ifname in this network
// namespace, or nil if there is none.
func FindLeftover(ifname string) (*Leftover, error) {
	return readLeftover(PinDir(ifname))
}

func readLeftover(dir string) (*Leftover, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", dir, err)
	}
	lo := &Leftover{Dir: dir, Iface: ifaceOfDir(filepath.Base(dir))}
	for _, e := range entries {
		switch {
		case strings.HasPrefix(e.Name(), linkPinPrefix):
			lo.Links = append(lo.Links, e.Name())
		default:
			lo.Maps++
		}
	}
	m, err := ebpf.LoadPinnedMap(filepath.Join(dir, identityPin), &ebpf.LoadPinOptions{ReadOnly: true})
	if err != nil {
		lo.IdErr = fmt.Errorf("no identity record (made by an older build, or a start that did not finish): %w", err)
		return lo, nil
	}
	defer m.Close()
	b := make([]byte, m.ValueSize())
	if err := m.Lookup(uint32(0), &b); err != nil {
		lo.IdErr = fmt.Errorf("reading the identity record: %w", err)
		return lo, nil
	}
	lo.Identity, lo.IdErr = unmarshalIdentity(b)
	return lo, nil
}

// ListLeftovers lists the pinned state of every interface under PinRoot
// (all network namespaces: the directory names say which).
func ListLeftovers() ([]*Leftover, error) {
	entries, err := os.ReadDir(PinRoot)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []*Leftover
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		lo, err := readLeftover(filepath.Join(PinRoot, e.Name()))
		if err != nil {
			return nil, err
		}
		if lo != nil {
			out = append(out, lo)
		}
	}
	return out, nil
}

// RemoveLeftover detaches the pinned links of ifname's state and removes
// its pins: the programs stop, the maps are freed once nothing holds them.
// The interface itself and its hop are netif's (CleanupStale).
func RemoveLeftover(ifname string) ([]string, error) {
	return removePinDir(PinDir(ifname))
}

func removePinDir(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading pin directory %s: %w", dir, err)
	}
	var done []string
	var errs []error
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if strings.HasPrefix(e.Name(), linkPinPrefix) {
			if l, err := link.LoadPinnedLink(p, nil); err == nil {
				// Detach explicitly: another process may hold an fd.
				if err := l.Detach(); err != nil && !errors.Is(err, ebpf.ErrNotSupported) {
					errs = append(errs, fmt.Errorf("detaching %s: %w", p, err))
				}
				l.Close()
			}
			done = append(done, "detached pinned link "+e.Name())
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("removing pin %s: %w", p, err))
		}
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, fmt.Errorf("removing pin directory %s: %w", dir, err))
	} else {
		done = append(done, "removed pinned maps in "+dir)
	}
	return done, errors.Join(errs...)
}

// Adopt takes over the data plane pinned for ifname: it loads this build's
// programs onto the pinned maps, swaps them into the pinned links (atomic:
// no packet sees no program), attaches ingress to underlay links that came
// meanwhile and forgets those that went. The caller has checked the
// identity (FindLeftover); Adopt checks the layout and that the TUN and hop
// are the ones recorded, and on any failure changes nothing that was
// running and returns an error: the caller then removes the state and
// starts clean.
//
// prepare, if set, runs once the new programs are loaded onto the shared
// maps and before they replace the running ones: the daemon installs its
// policy there, so that no packet meets the new programs without it.
func Adopt(ifname string, cfg AttachConfig, prepare func(*Dataplane) error) (d *Dataplane, err error) {
	dir := PinDir(ifname)
	lo, err := readLeftover(dir)
	if err != nil {
		return nil, err
	}
	if lo == nil {
		return nil, errors.New("no pinned data plane")
	}
	if lo.IdErr != nil {
		return nil, lo.IdErr
	}
	id := *lo.Identity
	spec, err := loadSpec()
	if err != nil {
		return nil, err
	}
	if layoutOf(spec) != id.Layout {
		return nil, errors.New("the running data plane was built with another map layout")
	}
	if uint32(cfg.TunIndex) != id.TunIndex {
		return nil, fmt.Errorf("the interface has index %d, the data plane was made for %d", cfg.TunIndex, id.TunIndex)
	}
	hops, err := netif.HopLinks(ifname)
	if err != nil {
		return nil, err
	}
	var h0, h1 string
	for _, l := range hops {
		switch uint32(l.Attrs().Index) {
		case id.Hop0:
			h0 = l.Attrs().Name
		case id.Hop1:
			h1 = l.Attrs().Name
		}
	}
	if h0 == "" || h1 == "" {
		return nil, errors.New("the hop veth pair recorded in the identity is gone")
	}

	repl := map[string]*ebpf.Map{}
	defer func() {
		for _, m := range repl {
			m.Close() // LoadAndAssign took its own references
		}
	}()
	for name := range spec.Maps {
		if !shared(name) {
			continue // this build's own
		}
		m, err := ebpf.LoadPinnedMap(filepath.Join(dir, name), nil)
		if err != nil {
			return nil, fmt.Errorf("map %s: %w", name, err)
		}
		repl[name] = m
	}
	d = &Dataplane{}
	if err := spec.LoadAndAssign(&d.objs, &ebpf.CollectionOptions{MapReplacements: repl}); err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return nil, fmt.Errorf("loading BPF objects onto the pinned maps: %+v", ve)
		}
		return nil, fmt.Errorf("loading BPF objects onto the pinned maps: %w", err)
	}
	defer func() {
		if err != nil {
			d.objs.Close()
			if d.identity != nil {
				d.identity.Close()
				d.peerKeys.Close()
			}
		}
	}()
	if d.identity, err = ebpf.LoadPinnedMap(filepath.Join(dir, identityPin), nil); err != nil {
		return nil, err
	}
	if d.peerKeys, err = ebpf.LoadPinnedMap(filepath.Join(dir, peerKeysPin), nil); err != nil {
		return nil, err
	}
	var ifc wgIfconfig
	if err := d.objs.Ifconfig.Lookup(uint32(0), &ifc); err != nil {
		return nil, fmt.Errorf("reading ifconfig: %w", err)
	}
	if ifc.TunIfindex != id.TunIndex || ifc.HopIfindex != id.Hop0 || ifc.FibIfindex != id.Hop1 {
		return nil, errors.New("the pinned interface configuration names other links than the identity")
	}

	// The predecessor's policy maps: its policy is replaced by ours.
	if entries, err := os.ReadDir(dir); err == nil {
		for _, e := range entries {
			// (policy_progs and policy_deliver_prog are ours.)
			if _, own := spec.Maps[e.Name()]; !own && strings.HasPrefix(e.Name(), PolicyPinPrefix) {
				os.Remove(filepath.Join(dir, e.Name()))
			}
		}
	}
	d.pinDir = dir
	if err := d.prepareObjects(); err != nil {
		return nil, err
	}
	if prepare != nil {
		if err := prepare(d); err != nil {
			return nil, err
		}
	}

	// Everything checked: from here on the running links are touched.
	links := map[string]link.Link{}
	for _, name := range lo.Links {
		l, err := link.LoadPinnedLink(filepath.Join(dir, name), nil)
		if err != nil {
			if strings.HasPrefix(name, linkPinPrefix+"underlay_") {
				os.Remove(filepath.Join(dir, name)) // its device went
				continue
			}
			closeLinks(links)
			return nil, fmt.Errorf("pinned link %s: %w", name, err)
		}
		links[name] = l
	}
	fixed := []struct {
		name string
		prog *ebpf.Program
	}{
		{fixedLinks[0], d.objs.WgHopEncrypt},
		{fixedLinks[1], d.objs.WgUnderlayIngress},
		{fixedLinks[2], d.objs.WgTunEgress},
	}
	for _, f := range fixed {
		if links[f.name] == nil {
			closeLinks(links)
			return nil, fmt.Errorf("pinned link %s is missing", f.name)
		}
	}
	a := &attachment{cfg: cfg, underlay: map[int]link.Link{}, hop0: h0, hop1: h1, hop0Idx: int(id.Hop0), hop1Idx: int(id.Hop1), pinDir: dir}
	if a.cfg.MTU == 0 {
		a.cfg.MTU = int(ifc.Mtu)
	}
	for _, f := range fixed {
		if err := links[f.name].Update(f.prog); err != nil {
			closeLinks(links)
			return nil, fmt.Errorf("replacing the program of %s: %w", f.name, err)
		}
		a.links = append(a.links, links[f.name])
		delete(links, f.name)
	}
	for name, l := range links {
		idx, _ := strconv.Atoi(strings.TrimPrefix(name, linkPinPrefix+"underlay_"))
		if uerr := l.Update(d.objs.WgUnderlayIngress); uerr != nil || idx == 0 {
			// The device went: the link is defunct.
			_ = l.Unpin()
			l.Close()
			continue
		}
		a.underlay[idx] = l
	}
	if err := d.adoptAttachment(a, ifc); err != nil {
		// The programs stay attached (new ones, on the old maps); the
		// caller removes everything.
		return nil, err
	}
	return d, nil
}

func closeLinks(ls map[string]link.Link) {
	for _, l := range ls {
		l.Close()
	}
}

// underlayPin names the pin of the ingress link on ifindex.
func underlayPin(ifindex int) string {
	return linkPinPrefix + "underlay_" + strconv.Itoa(ifindex)
}

// SessionInfo returns the peer and creation time of keypair idx.
func (d *Dataplane) SessionInfo(idx uint32) (peer uint32, created time.Time, err error) {
	var s wgbpfWgSession
	if err := d.objs.Sessions.Lookup(idx, &s); err != nil {
		return 0, time.Time{}, fmt.Errorf("session %d: %w", idx, err)
	}
	return s.PeerId, bootTime(s.CreatedNs), nil
}

// PinnedConfig reads the interface configuration of ifname's pinned data
// plane (port, mark, MTU, TUN index), to take over what the file leaves
// open (ListenPort, FwMark).
func PinnedConfig(ifname string) (AttachConfig, error) {
	m, err := ebpf.LoadPinnedMap(filepath.Join(PinDir(ifname), "ifconfig"), &ebpf.LoadPinOptions{ReadOnly: true})
	if err != nil {
		return AttachConfig{}, err
	}
	defer m.Close()
	var ifc wgIfconfig
	if err := m.Lookup(uint32(0), &ifc); err != nil {
		return AttachConfig{}, err
	}
	return AttachConfig{TunIndex: int(ifc.TunIfindex), ListenPort: ifc.ListenPort, FwMark: ifc.Fwmark, MTU: int(ifc.Mtu)}, nil
}
