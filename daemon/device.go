// SPDX-License-Identifier: MIT

package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/wgbpfd/wgbpfd/config"
	"github.com/wgbpfd/wgbpfd/dataplane"
	"github.com/wgbpfd/wgbpfd/handshake"
	"github.com/wgbpfd/wgbpfd/keystore"
)

// packetSender sends a UDP datagram to an endpoint (the daemon's socket).
type packetSender interface {
	sendTo(b []byte, to netip.AddrPort) error
}

// device is the daemon's state: the live configuration, the peers, the
// handshake and keystore, and the kernel data plane they are mirrored into.
// One mutex guards it; everything here is control-plane rare.
type device struct {
	mu     sync.Mutex
	log    *slog.Logger
	name   string
	now    func() time.Time
	cfg    *config.Config // live configuration: file + UAPI changes
	mtu    int
	hs     *handshake.Handshaker
	store  *keystore.Store
	mirror *sessionMirror
	k      kernel
	out    packetSender
	tun    func([]byte) error // delivers a decrypted packet into the interface
	// The data plane's capacity: dataplane.MaxPeers, and
	// dataplane.MaxAllowedIPs prefixes per family.
	maxPeers, maxAllowedIPs int

	peers       map[config.Key]*peer
	byID        map[uint32]*peer
	nextID      uint32
	owner       map[netip.Prefix]*peer // who holds each AllowedIPs prefix
	routes      []route                // owner sorted longest prefix first, for the slow path
	routesDirty bool

	listenPort uint16 // the socket's actual port
	// rebind opens the UDP port and moves the data plane and the socket
	// reader there (running.rebind); nil where ports cannot move (tests
	// with a fake network that do not set it).
	rebind func(port int) (packetSender, uint16, error)
	// remark puts a new fwmark on the socket and the data plane
	// (running.remark); nil where the mark cannot change.
	remark     func(mark uint32) error
	rekeyAfter time.Duration // test-only REKEY_AFTER_TIME override; 0: 120 s
	fwmark     uint32        // the mark in use (the full-tunnel table when picked)
	policy     policyInfo    // the policy object in use (metrics)

	loadDetect handshake.LoadDetector

	// Taking over a running data plane (adopt.go): the ids the peers had,
	// by public key, while the file's peers are added; the predecessor's
	// keypairs still in the kernel.
	presetIDs map[config.Key]uint32
	adopted   []uint32

	dropsLogged   map[string]uint64 // data plane drops at the last log line
	queuesLogged  map[string]uint64 // kernel queue drops at the last log line
	dropsLoggedAt time.Time
	stats         deviceStats
}

type route struct {
	prefix netip.Prefix
	peer   *peer
}

// deviceStats count what the daemon itself handles, by outcome.
type deviceStats struct {
	handshakes map[string]uint64 // by outcome: completed_initiator, completed_responder, cookie_sent, bad_mac1, ...
	slowPath   map[string]uint64 // userspace data path: sent, queued, no_peer, no_endpoint, open_failed, ...
}

func (s *deviceStats) countHandshake(outcome string) {
	if s.handshakes == nil {
		s.handshakes = make(map[string]uint64)
	}
	s.handshakes[outcome]++
}

func (s *deviceStats) countSlow(what string) {
	if s.slowPath == nil {
		s.slowPath = make(map[string]uint64)
	}
	s.slowPath[what]++
}

func newDevice(name string, cfg *config.Config, mtu int, k kernel, out packetSender, tun func([]byte) error, log *slog.Logger, now func() time.Time, rekeyAfter time.Duration) (*device, error) {
	return newDeviceWithIDs(name, cfg, mtu, k, out, tun, log, now, rekeyAfter, nil)
}

// newDeviceWithIDs is newDevice for a taken-over data plane: peers listed
// in ids keep the data plane id they had.
func newDeviceWithIDs(name string, cfg *config.Config, mtu int, k kernel, out packetSender, tun func([]byte) error, log *slog.Logger, now func() time.Time, rekeyAfter time.Duration, ids map[config.Key]uint32) (*device, error) {
	d := &device{
		presetIDs:     ids,
		rekeyAfter:    rekeyAfter,
		maxPeers:      dataplane.MaxPeers,
		maxAllowedIPs: dataplane.MaxAllowedIPs,
		log:           log,
		name:          name,
		now:           now,
		cfg:           cfg.Clone(),
		mtu:           mtu,
		hs:            handshake.New(cfg.Interface.PrivateKey, nil),
		k:             k,
		out:           out,
		tun:           tun,
		peers:         make(map[config.Key]*peer),
		byID:          make(map[uint32]*peer),
		owner:         make(map[netip.Prefix]*peer),
	}
	d.mirror = newSessionMirror(k, d.hs.Indices(), log)
	d.store = keystore.New(d.mirror)
	for _, id := range ids {
		d.nextID = max(d.nextID, id)
	}
	for i := range cfg.Peers {
		if err := d.addPeerLocked(cfg.Peers[i]); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// checkCapacity refuses a configuration with more peers or AllowedIPs than
// the data plane holds, before anything is changed: otherwise the ones
// beyond it would fail one by one, halfway through a reload.
func (d *device) checkCapacity(cfg *config.Config) error {
	return checkCapacity(cfg, d.maxPeers, d.maxAllowedIPs)
}

// checkCapacity refuses more than maxPeers peers or more than maxAllowedIPs
// AllowedIPs prefixes of one family.
func checkCapacity(cfg *config.Config, maxPeers, maxAllowedIPs int) error {
	if n := len(cfg.Peers); n > maxPeers {
		return fmt.Errorf("%d peers: the data plane holds at most %d", n, maxPeers)
	}
	var v4, v6 int
	for i := range cfg.Peers {
		for _, p := range cfg.Peers[i].AllowedIPs {
			if p.Addr().Is4() {
				v4++
			} else {
				v6++
			}
		}
	}
	for _, c := range []struct {
		family string
		n      int
	}{{"IPv4", v4}, {"IPv6", v6}} {
		if c.n > maxAllowedIPs {
			return fmt.Errorf("%d %s AllowedIPs: the data plane holds at most %d", c.n, c.family, maxAllowedIPs)
		}
	}
	return nil
}

func suiteOf(c config.Cipher) keystore.Suite {
	if c == config.CipherAESCBC {
		return keystore.SuiteAESCBC
	}
	return keystore.SuiteChaCha20Poly1305
}

// addPeerLocked adds a configured peer to the handshake, the data plane and
// the routing table of the slow path.
func (d *device) addPeerLocked(pc config.Peer) error {
	if _, ok := d.peers[pc.PublicKey]; ok {
		return fmt.Errorf("peer %s: already configured", pc.PublicKey)
	}
	var psk *[32]byte
	if !pc.PresharedKey.IsZero() {
		k := [32]byte(pc.PresharedKey)
		psk = &k
	}
	if err := d.hs.AddPeer(pc.PublicKey, psk); err != nil {
		return fmt.Errorf("peer %s: %w", pc.PublicKey, err)
	}
	id, preset := d.presetIDs[pc.PublicKey]
	if !preset {
		d.nextID++
		id = d.nextID
	}
	p := &peer{id: id, pub: pc.PublicKey, cfg: pc, suite: suiteOf(d.cfg.PeerCipher(&pc)), tm: newPeerTimers(pc.PersistentKeepalive, d.rekeyAfter)}
	if pc.Endpoint != "" {
		if ap, err := netip.ParseAddrPort(pc.Endpoint); err == nil {
			p.endpoint = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
		}
		// Hostnames are resolved by the caller (resolve.go) and set later.
	}
	dk, isDP := d.k.(*dataplaneKernel)
	if preset && isDP {
		// Taken over: the data plane's endpoint is newer than the file's
		// (roaming) and stays.
		if ep, ok := dk.adoptedEndpoint(p.id); ok && ep.IsValid() {
			p.endpoint = ep
		}
	}
	if err := d.k.SetPeer(p.id, p.endpoint); err != nil {
		_ = d.hs.RemovePeer(pc.PublicKey)
		return fmt.Errorf("peer %s: data plane: %w", pc.PublicKey, err)
	}
	if isDP {
		// For a successor: which peer this id is.
		if err := dk.dp.SetPeerKey(p.id, p.pub); err != nil {
			d.log.Warn("recording the peer's public key in the data plane", "peer", p.pub.String(), "err", err)
		}
	}
	for _, pfx := range pc.AllowedIPs {
		d.claimPrefix(pfx, p)
	}
	d.peers[p.pub] = p
	d.byID[p.id] = p
	d.publishPeerLocked(p)
	d.log.Debug("peer added", "peer", p.pub.String(), "suite", p.suite.String(), "endpoint", p.endpoint, "allowed_ips", len(pc.AllowedIPs))
	return nil
}

// claimPrefix gives pfx to p, taking it from any other peer, as wg(8) does.
func (d *device) claimPrefix(pfx netip.Prefix, p *peer) {
	if o := d.owner[pfx]; o != nil && o != p {
		if i := slices.Index(o.cfg.AllowedIPs, pfx); i >= 0 {
			o.cfg.AllowedIPs = slices.Delete(slices.Clone(o.cfg.AllowedIPs), i, i+1)
		}
	}
	d.owner[pfx] = p
	d.routesDirty = true
	if err := d.k.AddAllowedIP(pfx, p.id); err != nil {
		d.log.Warn("adding allowed IP to the data plane", "prefix", pfx, "peer", p.pub.String(), "err", err)
	}
}

// releasePrefix forgets that p owns pfx (the kernel entry is the caller's).
func (d *device) releasePrefix(pfx netip.Prefix, p *peer) {
	if d.owner[pfx] == p {
		delete(d.owner, pfx)
		d.routesDirty = true
	}
}

// removePeerLocked forgets a peer: its sessions, prefixes and queue.
func (d *device) removePeerLocked(pub config.Key) {
	p := d.peers[pub]
	if p == nil {
		return
	}
	d.store.RemovePeer(keystore.PeerID(p.id))
	d.mirror.forget(keystore.PeerID(p.id))
	for _, pfx := range p.cfg.AllowedIPs {
		d.releasePrefix(pfx, p)
		if err := d.k.RemoveAllowedIP(pfx); err != nil {
			d.log.Warn("removing allowed IP from the data plane", "prefix", pfx, "err", err)
		}
	}
	if err := d.k.DeletePeer(p.id); err != nil {
		d.log.Warn("removing peer from the data plane", "peer", pub.String(), "err", err)
	}
	if dk, ok := d.k.(*dataplaneKernel); ok {
		_ = dk.dp.DeletePeerKey(p.id)
	}
	delete(d.presetIDs, pub) // re-added, it is a new peer
	d.unpublishPeerLocked(p)
	_ = d.hs.RemovePeer(pub)
	delete(d.peers, pub)
	delete(d.byID, p.id)
	d.log.Info("peer removed", "peer", pub.String())
}

// rebuildRoutes sorts the slow path's table again after prefixes changed;
// lookups do it lazily so that adding 10,000 peers stays linear.
func (d *device) rebuildRoutes() {
	d.routes = d.routes[:0]
	for pfx, p := range d.owner {
		d.routes = append(d.routes, route{pfx, p})
	}
	sort.Slice(d.routes, func(i, j int) bool { return d.routes[i].prefix.Bits() > d.routes[j].prefix.Bits() })
	d.routesDirty = false
}

// lookup finds the peer whose AllowedIPs hold addr (longest prefix).
func (d *device) lookup(addr netip.Addr) *peer {
	if d.routesDirty {
		d.rebuildRoutes()
	}
	addr = addr.Unmap()
	for _, r := range d.routes {
		if r.prefix.Contains(addr) {
			return r.peer
		}
	}
	return nil
}

// setEndpoint records a new endpoint for p and tells the data plane.
func (d *device) setEndpointLocked(p *peer, ep netip.AddrPort, why string) {
	ep = netip.AddrPortFrom(ep.Addr().Unmap(), ep.Port())
	if !ep.IsValid() || ep == p.endpoint {
		return
	}
	old := p.endpoint
	p.endpoint = ep
	p.endpointChanges++
	if err := d.k.SetPeer(p.id, ep); err != nil {
		d.log.Warn("setting endpoint in the data plane", "peer", p.pub.String(), "err", err)
	}
	d.log.Info("endpoint changed", "peer", p.pub.String(), "from", old, "to", ep, "why", why)
}

// errNoEndpoint is returned when a peer has nowhere to send to.
var errNoEndpoint = errors.New("peer has no endpoint")
