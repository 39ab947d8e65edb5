// SPDX-License-Identifier: MIT

package daemon

import (
	"crypto/sha256"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/wgbpfd/wgbpfd/config"
	"github.com/wgbpfd/wgbpfd/dataplane"
	"github.com/wgbpfd/wgbpfd/keystore"
	"github.com/wgbpfd/wgbpfd/netif"
)

// A data plane outlives its daemon (dataplane/persist.go). A start that
// finds one left running for its interface takes it over when it is its
// own: made by a build with the same map layout, for the same private key
// and suite, on the TUN and hop that are there, held by no process. Then
// the interface, its addresses, routes and the packet path are never
// taken down; the file is applied as a reload would, and every peer gets
// a handshake at once so that new keypairs replace the ones whose keys
// only the dead process knew. Anything else is removed and the start is
// clean, with the reason logged.

// rejectAfterTime is REJECT_AFTER_TIME: a keypair the data plane refuses
// to use past this age (enforced in BPF too).
const rejectAfterTime = 180 * time.Second

// identityOf is what the pinned identity must match for cfg.
func identityOf(cfg *config.Config) dataplane.Identity {
	pub := cfg.Interface.PrivateKey.Public()
	return dataplane.Identity{
		PubHash: sha256.Sum256(pub[:]),
		Suite:   uint8(suiteOf(cfg.Interface.Cipher)),
	}
}

// adoptable decides whether the state left for iface can be taken over.
// ok false with an empty reason: nothing was left. A TUN that a running
// process holds is an error: another daemon runs, nothing is touched.
func adoptable(iface string, cfg *config.Config) (ok bool, reason string, err error) {
	orphan, tunIdx, err := netif.TUNOrphan(iface)
	if err != nil {
		return false, "", startErr(ExitInterface, "%s: %w", iface, err)
	}
	if tunIdx != 0 && !orphan {
		return false, "", startErr(ExitInterface, "interface %s is in use by a running process (a queue is attached); is another wgbpfd running for it?", iface)
	}
	lo, err := dataplane.FindLeftover(iface)
	if err != nil {
		return false, "", err
	}
	if lo == nil {
		return false, "", nil
	}
	if lo.IdErr != nil {
		return false, lo.IdErr.Error(), nil
	}
	layout, err := dataplane.LayoutFingerprint()
	if err != nil {
		return false, "", err
	}
	want := identityOf(cfg)
	got := lo.Identity
	switch {
	case got.PubHash != want.PubHash:
		return false, "it was made for another private key", nil
	case got.Suite != want.Suite:
		return false, fmt.Sprintf("it was made for suite %s, the file asks for %s", keystore.Suite(got.Suite), keystore.Suite(want.Suite)), nil
	case got.Layout != layout:
		return false, fmt.Sprintf("it was made by a build with another map layout (%x, this build %x)", got.Layout[:6], layout[:6]), nil
	case tunIdx == 0:
		return false, "its interface is gone", nil
	case uint32(tunIdx) != got.TunIndex:
		return false, fmt.Sprintf("it was made for interface index %d, %s has %d", got.TunIndex, iface, tunIdx), nil
	}
	return true, "", nil
}

// removeLeftovers removes a data plane left for iface and, as before the
// data plane could outlive its daemon, the interface and the rest.
func removeLeftovers(iface string, fwmark uint32, log *slog.Logger) error {
	var done []string
	if fwmark == 0 {
		// The mark a full tunnel picked is in the pinned configuration.
		if c, err := dataplane.PinnedConfig(iface); err == nil {
			fwmark = c.FwMark
		}
	}
	removed, err := dataplane.RemoveLeftover(iface)
	done = append(done, removed...)
	if err != nil {
		return fmt.Errorf("%s: %w", iface, err)
	}
	removed, err = netif.CleanupStale(iface, fwmark)
	done = append(done, removed...)
	if len(done) > 0 {
		log.Info("removed leftovers of an earlier run", "what", done)
	}
	if err != nil {
		return startErr(ExitInterface, "%s: %w", iface, err)
	}
	return nil
}

// adoptKernel reconciles a taken-over data plane with the device built
// from the file: peers the file no longer has go (with their sessions and
// AllowedIPs), AllowedIPs the file moved are rewritten, the predecessor's
// keypairs stay usable until new ones replace them.
func (d *device) adoptKernelLocked(k *dataplaneKernel) error {
	dp := k.dp
	ids, err := dp.PeerIDs()
	if err != nil {
		return err
	}
	for _, id := range ids {
		if d.byID[id] == nil {
			if err := dp.DeletePeer(id); err != nil {
				d.log.Warn("removing a peer the file no longer has", "id", id, "err", err)
			}
			_ = dp.DeletePeerKey(id)
		}
	}
	allowed, err := dp.AllAllowedIPs()
	if err != nil {
		return err
	}
	for pfx, id := range allowed {
		if o := d.owner[pfx]; o == nil || o.id != id {
			if err := dp.RemoveAllowedIP(pfx); err != nil {
				d.log.Warn("removing an allowed IP the file no longer has", "prefix", pfx, "err", err)
			}
		}
	}
	sessions, err := dp.Sessions()
	if err != nil {
		return err
	}
	for _, idx := range sessions {
		peerID, _, err := dp.SessionInfo(idx)
		p := d.byID[peerID]
		if err != nil || p == nil {
			_ = dp.RemoveSession(idx)
			continue
		}
		if !d.hs.Indices().Reserve(idx, p.pub) {
			_ = dp.RemoveSession(idx)
			continue
		}
		d.adopted = append(d.adopted, idx)
	}
	// The kernel's slots are the mirror's starting point: a new current
	// keypair pushes the adopted one to previous, as a rekey does.
	for _, p := range d.byID {
		kp, err := dp.GetPeer(p.id)
		if err != nil {
			continue
		}
		s := d.mirror.slot(keystore.PeerID(p.id))
		s.current, s.previous, s.next = kp.Current, kp.Previous, kp.Next
	}
	return nil
}

// reapAdoptedLocked removes the predecessor's keypairs once nothing uses
// them: no longer in their peer's slots, or past REJECT_AFTER_TIME (the
// data plane refuses them by then anyway).
func (d *device) reapAdoptedLocked(now time.Time) {
	if len(d.adopted) == 0 {
		return
	}
	k, ok := d.k.(*dataplaneKernel)
	if !ok {
		return
	}
	keep := d.adopted[:0]
	for _, idx := range d.adopted {
		peerID, created, err := k.dp.SessionInfo(idx)
		inUse := false
		if s := d.mirror.slots[keystore.PeerID(peerID)]; s != nil && d.byID[peerID] != nil {
			inUse = s.current == idx || s.previous == idx || s.next == idx
		}
		if err == nil && inUse && now.Sub(created) < rejectAfterTime {
			keep = append(keep, idx)
			continue
		}
		if err := k.dp.RemoveSession(idx); err != nil {
			d.log.Debug("removing an adopted keypair", "index", idx, "err", err)
		}
		d.hs.Indices().Free(idx)
		d.log.Debug("adopted keypair retired", "index", idx)
	}
	d.adopted = keep
}

// handshakeAllLocked starts a handshake with every peer that has an
// endpoint: the keys of the adopted keypairs are in the kernel only, so
// the daemon cannot rekey them or open what the data plane passes up.
func (d *device) handshakeAllLocked(now time.Time) {
	for _, p := range d.peers {
		if p.endpoint.IsValid() {
			d.wantHandshakeLocked(p, now)
		}
	}
}

// adoptedEndpoint returns the endpoint the data plane has for a peer it
// already knows (it may have roamed since the file was written).
func (k *dataplaneKernel) adoptedEndpoint(id uint32) (netip.AddrPort, bool) {
	p, err := k.dp.GetPeer(id)
	if err != nil {
		return netip.AddrPort{}, false
	}
	return p.Endpoint, true
}

// adopt takes over the interface and data plane left running for the
// interface (adoptable said it may): the same steps as a fresh start, each
// applied to what is there. On error the caller abandons the adoption.
func (r *running) adopt(cfg *config.Config) error {
	o, log := r.o, r.log
	prev, err := dataplane.PinnedConfig(o.Interface)
	if err != nil {
		return fmt.Errorf("reading the running configuration: %w", err)
	}
	r.net = netif.NewState(o.Interface)
	if r.tun, r.tunIdx, err = r.net.AdoptTUN(); err != nil {
		return err
	}
	if removed, err := r.net.SyncAddresses(cfg.Interface.Addresses); err != nil {
		return err
	} else if len(removed) > 0 {
		log.Info("removed addresses the file no longer has", "addresses", removed)
	}
	if err := r.net.AddAddresses(cfg.Interface.Addresses); err != nil {
		return err
	}
	mtu, why, err := chooseMTU(cfg)
	if err != nil {
		return err
	}
	log.Info("MTU chosen", "mtu", mtu, "why", why)
	if err := r.net.SetMTU(mtu); err != nil {
		return err
	}
	if err := r.net.SetUp(); err != nil {
		return err
	}
	table, err := netif.ParseTable(cfg.Interface.Table)
	if err != nil {
		return &StartError{Code: ExitConfig, Err: fmt.Errorf("%s: Table: %w", o.ConfigPath, err)}
	}
	// A file without FwMark or ListenPort keeps what the running one has
	// (the mark a full tunnel picked, the port peers send to).
	fwmark := cfg.Interface.FwMark
	if fwmark == 0 {
		fwmark = prev.FwMark
	}
	if fwmark, err = r.net.AddRoutes(allAllowedIPs(cfg), table, fwmark); err != nil {
		return fmt.Errorf("adding routes: %w", err)
	}
	port := cfg.Interface.ListenPort
	if port == 0 {
		port = int(prev.ListenPort)
	}
	if r.sock, err = listenUDP(port, fwmark); err != nil {
		return err
	}
	k := &dataplaneKernel{}
	var polInfo policyInfo
	dp, err := dataplane.Adopt(o.Interface, dataplane.AttachConfig{
		TunIndex: r.tunIdx, ListenPort: r.sock.port, FwMark: fwmark, MTU: mtu, WatchLinks: true,
		OnWatchError: func(err error) { log.Warn("data plane", "err", err) },
	}, func(dp *dataplane.Dataplane) error {
		// The policy is in place before the new programs take packets.
		k.dp = dp
		pol, err := k.loadPolicy(cfg)
		if err != nil {
			return &StartError{Code: ExitConfig, Err: err}
		}
		if polInfo, _, err = k.installPolicy(pol); err != nil {
			return fmt.Errorf("installing the policy: %w", err)
		}
		return nil
	})
	if err != nil {
		_ = k.policy.Close() // what prepare loaded; the data plane went
		return err
	}
	r.dp = k
	logBackend(log, dp)
	keys, err := dp.PeerKeys()
	if err != nil {
		return fmt.Errorf("reading the peers' ids: %w", err)
	}
	ids := make(map[config.Key]uint32, len(keys))
	for pub, id := range keys {
		ids[config.Key(pub)] = id
	}
	if r.dev, err = newDeviceWithIDs(o.Interface, cfg, mtu, r.dp, r.sock, r.writeTUN, log, time.Now, o.TestRekeyAfter, ids); err != nil {
		return &StartError{Code: ExitConfig, Err: err}
	}
	r.dev.fwmark = fwmark
	r.dev.policy = polInfo
	if polInfo.File != "" {
		r.logPolicy(polInfo)
	}
	r.dev.mu.Lock()
	err = r.dev.adoptKernelLocked(r.dp)
	adopted := len(r.dev.adopted)
	r.dev.mu.Unlock()
	if err != nil {
		return fmt.Errorf("reconciling the running data plane with the file: %w", err)
	}
	r.net.EndAdoption()
	log.Info("took over the running interface and data plane", "peers", len(cfg.Peers), "keypairs", adopted, "listen_port", r.sock.port)
	return nil
}

// abandonAdoption undoes a failed adopt: what it opened is closed and what
// it took is removed (interface, hop, pinned data plane), so that the
// clean start that follows finds nothing half-adopted.
func (r *running) abandonAdoption() {
	r.dev = nil
	if r.sock != nil {
		_ = r.sock.close()
		r.sock = nil
	}
	if r.dp != nil {
		if err := r.dp.dp.Close(); err != nil {
			r.log.Warn("removing the data plane that could not be taken over", "err", err)
		}
		r.dp = nil
	}
	if r.tun != nil {
		_ = r.tun.Close()
		r.tun = nil
	}
	if r.net != nil {
		if err := r.net.Teardown(); err != nil {
			r.log.Warn("removing the interface that could not be taken over", "err", err)
		}
		r.net = nil
	}
}
