// SPDX-License-Identifier: MIT

package dataplane

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/cilium/ebpf"
)

// MaxPeers is how many peers the data plane holds (WG_MAX_PEERS in
// bpf/lib/peers.h, the size of the peers and peer_stats maps).
const MaxPeers = 16384

// MaxAllowedIPs is how many AllowedIPs prefixes of each family the data
// plane holds (WG_MAX_ALLOWED_IPS, the size of allowed_v4 and allowed_v6).
const MaxAllowedIPs = 65536

// Peer is what the packet path knows about one peer: where to send, and
// which keypairs (local indices, 0 = none) it uses. The daemon chooses the
// peer ids; a keypair's SessionKeys.PeerID must name its peer.
type Peer struct {
	// Endpoint is the peer's UDP address; invalid (zero) until known. The
	// ingress program updates it when an authenticated packet arrives from
	// elsewhere (roaming, EventEndpointChanged).
	Endpoint netip.AddrPort
	// Current sends; Previous is still accepted on receive; Next is a
	// responder's keypair that becomes Current on its first received packet
	// (EventKeypairConfirmed).
	Current, Previous, Next uint32
}

const (
	afInet  = 2
	afInet6 = 10
)

func endpointToBPF(ap netip.AddrPort) wgEndpoint {
	var e wgEndpoint
	if !ap.IsValid() {
		return e
	}
	a := ap.Addr().Unmap()
	if a.Is4() {
		e.Family = afInet
		b := a.As4()
		copy(e.Addr[:], b[:])
	} else {
		e.Family = afInet6
		e.Addr = a.As16()
	}
	e.Port = htons(ap.Port())
	return e
}

func endpointFromBPF(e wgEndpoint) netip.AddrPort {
	port := ntohs(e.Port)
	switch e.Family {
	case afInet:
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(e.Addr[:4])), port)
	case afInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(e.Addr), port)
	}
	return netip.AddrPort{}
}

// SetPeer creates or replaces peer id (its counters are kept if it exists).
func (d *Dataplane) SetPeer(id uint32, p Peer) error {
	v := wgPeer{Current: p.Current, Previous: p.Previous, Next: p.Next, Endpoint: endpointToBPF(p.Endpoint)}
	if err := d.objs.Peers.Update(id, &v, ebpf.UpdateAny|ebpf.UpdateLock); err != nil {
		return fmt.Errorf("setting peer %d: %w", id, err)
	}
	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		return fmt.Errorf("possible CPUs: %w", err)
	}
	zero := make([]wgPeerStats, ncpu)
	if err := d.objs.PeerStats.Update(id, zero, ebpf.UpdateNoExist); err != nil && !errors.Is(err, ebpf.ErrKeyExist) {
		return fmt.Errorf("creating counters of peer %d: %w", id, err)
	}
	return nil
}

// GetPeer reads peer id as the packet path currently sees it.
func (d *Dataplane) GetPeer(id uint32) (Peer, error) {
	var v wgPeer
	if err := d.objs.Peers.LookupWithFlags(id, &v, ebpf.LookupLock); err != nil {
		return Peer{}, fmt.Errorf("peer %d: %w", id, err)
	}
	return Peer{Endpoint: endpointFromBPF(v.Endpoint), Current: v.Current, Previous: v.Previous, Next: v.Next}, nil
}

// modifyPeer is a read-modify-write under the peer's lock on each side. A
// change the packet path makes between the two steps (a promotion, a roam)
// is overwritten; both repair themselves: the daemon hears of promotions
// through events and the next packet from a roamed peer roams again.
func (d *Dataplane) modifyPeer(id uint32, fn func(*wgPeer)) error {
	var v wgPeer
	if err := d.objs.Peers.LookupWithFlags(id, &v, ebpf.LookupLock); err != nil {
		return fmt.Errorf("peer %d: %w", id, err)
	}
	fn(&v)
	if err := d.objs.Peers.Update(id, &v, ebpf.UpdateExist|ebpf.UpdateLock); err != nil {
		return fmt.Errorf("updating peer %d: %w", id, err)
	}
	return nil
}

// SetEndpoint sets where packets to peer id go.
func (d *Dataplane) SetEndpoint(id uint32, ep netip.AddrPort) error {
	e := endpointToBPF(ep)
	return d.modifyPeer(id, func(v *wgPeer) { v.Endpoint = e })
}

// SetPeerSessions sets the keypairs of peer id after a handshake or expiry
// (local indices, 0 = none).
func (d *Dataplane) SetPeerSessions(id, current, previous, next uint32) error {
	return d.modifyPeer(id, func(v *wgPeer) {
		v.Current, v.Previous, v.Next = current, previous, next
		v.HandshakeEventNs, v.RekeyEventNs = 0, 0 // new keys: remind afresh
	})
}

// DeletePeer removes peer id and its counters. Its AllowedIPs are the
// caller's to remove (RemoveAllowedIP): the caller knows them, and finding
// them here would scan both tries for every peer removed. Its keypairs stay
// until RemoveSession.
func (d *Dataplane) DeletePeer(id uint32) error {
	var errs []error
	if err := d.objs.Peers.Delete(id); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		errs = append(errs, fmt.Errorf("deleting peer %d: %w", id, err))
	}
	if err := d.objs.PeerStats.Delete(id); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		errs = append(errs, fmt.Errorf("deleting counters of peer %d: %w", id, err))
	}
	return errors.Join(errs...)
}

func (d *Dataplane) lpm(p netip.Prefix) (*ebpf.Map, any, error) {
	if !p.IsValid() {
		return nil, nil, fmt.Errorf("invalid prefix %v", p)
	}
	p = p.Masked()
	if p.Addr().Is4() {
		return d.objs.AllowedV4, &wgLPM4{Prefixlen: uint32(p.Bits()), Addr: p.Addr().As4()}, nil
	}
	return d.objs.AllowedV6, &wgLPM6{Prefixlen: uint32(p.Bits()), Addr: p.Addr().As16()}, nil
}

// AddAllowedIP routes prefix to peer id (replacing another peer's claim on
// exactly this prefix, as WireGuard does).
func (d *Dataplane) AddAllowedIP(p netip.Prefix, id uint32) error {
	m, k, err := d.lpm(p)
	if err != nil {
		return err
	}
	if err := m.Update(k, id, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("adding allowed IP %v: %w", p, err)
	}
	return nil
}

// RemoveAllowedIP removes prefix.
func (d *Dataplane) RemoveAllowedIP(p netip.Prefix) error {
	m, k, err := d.lpm(p)
	if err != nil {
		return err
	}
	if err := m.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("removing allowed IP %v: %w", p, err)
	}
	return nil
}

// AllowedIPs lists the prefixes routed to peer id.
func (d *Dataplane) AllowedIPs(id uint32) ([]netip.Prefix, error) {
	var out []netip.Prefix
	var k4 wgLPM4
	var owner uint32
	it := d.objs.AllowedV4.Iterate()
	for it.Next(&k4, &owner) {
		if owner == id {
			out = append(out, netip.PrefixFrom(netip.AddrFrom4(k4.Addr), int(k4.Prefixlen)))
		}
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("listing IPv4 allowed IPs: %w", err)
	}
	var k6 wgLPM6
	it = d.objs.AllowedV6.Iterate()
	for it.Next(&k6, &owner) {
		if owner == id {
			out = append(out, netip.PrefixFrom(netip.AddrFrom16(k6.Addr), int(k6.Prefixlen)))
		}
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("listing IPv6 allowed IPs: %w", err)
	}
	return out, nil
}
