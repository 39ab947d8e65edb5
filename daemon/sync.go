// SPDX-License-Identifier: MIT

package daemon

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/wgbpfd/wgbpfd/config"
)

// syncLocked moves the live configuration to want, changing only what
// differs: a peer whose key, preshared key, allowed IPs, endpoint or
// keepalive changed keeps its sessions. It serves both SIGHUP (the file
// re-read) and the control socket's set requests.
func (d *device) syncLocked(want *config.Config) error {
	cur := d.cfg
	if err := d.checkCapacity(want); err != nil {
		return err
	}
	// First, because these can fail on the outside (a port in use, a mark
	// a full tunnel holds): the peers have not changed yet when they do.
	// 0 keeps the port, as a file without ListenPort does for wg
	// syncconf.
	oldPort := d.listenPort
	if want.Interface.ListenPort != 0 && uint16(want.Interface.ListenPort) != d.listenPort {
		if err := d.changePortLocked(want.Interface.ListenPort); err != nil {
			return err
		}
	}
	// A file's FwMark of 0 means "as wg-quick picks" (the mark in use
	// stays); any other value is the mark to use.
	if want.Interface.FwMark != 0 && want.Interface.FwMark != d.fwmark {
		if err := d.changeMarkLocked(want.Interface.FwMark); err != nil {
			// Refused: nothing of this file applies, so the port goes
			// back too.
			if d.listenPort != oldPort {
				if rerr := d.changePortLocked(int(oldPort)); rerr != nil {
					d.log.Warn("moving back to the old listen port after a refused fwmark", "port", oldPort, "err", rerr)
				}
			}
			return err
		}
	}
	if !cur.Interface.PrivateKey.Equal(want.Interface.PrivateKey) {
		// New identity: every session was made under the old one.
		for _, p := range d.peers {
			d.store.RemovePeer(keyID(p))
		}
		d.hs.SetPrivateKey(want.Interface.PrivateKey)
		d.log.Info("private key changed; sessions dropped")
	}
	wantPeers := make(map[config.Key]config.Peer, len(want.Peers))
	for _, p := range want.Peers {
		wantPeers[p.PublicKey] = p
	}
	for pub := range d.peers {
		if _, ok := wantPeers[pub]; !ok {
			d.removePeerLocked(pub)
		}
	}
	d.cfg = want.Clone()
	d.cfg.Interface.ListenPort = int(d.listenPort)
	if want.Interface.FwMark == 0 {
		d.cfg.Interface.FwMark = cur.Interface.FwMark // kept, as above
	}
	for _, wp := range want.Peers {
		p := d.peers[wp.PublicKey]
		if p == nil {
			if err := d.addPeerLocked(wp); err != nil {
				return err
			}
			continue
		}
		if suiteOf(want.PeerCipher(&wp)) != p.suite {
			d.removePeerLocked(wp.PublicKey)
			if err := d.addPeerLocked(wp); err != nil {
				return err
			}
			continue
		}
		d.updatePeerLocked(p, wp)
	}
	return nil
}

// updatePeerLocked applies a changed [Peer] to a live peer in place.
func (d *device) updatePeerLocked(p *peer, wp config.Peer) {
	if !p.cfg.PresharedKey.Equal(wp.PresharedKey) {
		var psk *[32]byte
		if !wp.PresharedKey.IsZero() {
			k := [32]byte(wp.PresharedKey)
			psk = &k
		}
		_ = d.hs.SetPresharedKey(p.pub, psk)
	}
	for _, pfx := range p.cfg.AllowedIPs {
		if !slices.Contains(wp.AllowedIPs, pfx) {
			d.releasePrefix(pfx, p)
			if err := d.k.RemoveAllowedIP(pfx); err != nil {
				d.log.Warn("removing allowed IP from the data plane", "prefix", pfx, "err", err)
			}
		}
	}
	old := p.cfg
	p.cfg = wp
	for _, pfx := range wp.AllowedIPs {
		if !slices.Contains(old.AllowedIPs, pfx) {
			d.claimPrefix(pfx, p)
		}
	}
	if wp.Endpoint != old.Endpoint && wp.Endpoint != "" {
		if ap, err := netip.ParseAddrPort(wp.Endpoint); err == nil {
			d.setEndpointLocked(p, ap, "configuration")
		}
	}
	if wp.PersistentKeepalive != old.PersistentKeepalive {
		d.timerKeepaliveChanged(p, d.now())
	}
}

// snapshotConfig is the live configuration, with the endpoints the peers
// actually use (what SaveConfig writes and `wg showconf` shows).
func (d *device) snapshotConfig() *config.Config {
	d.mu.Lock()
	defer d.mu.Unlock()
	c := d.cfg.Clone()
	for i := range c.Peers {
		if p := d.peers[c.Peers[i].PublicKey]; p != nil {
			c.Peers[i].AllowedIPs = slices.Clone(p.cfg.AllowedIPs)
			if p.endpoint.IsValid() {
				c.Peers[i].Endpoint = p.endpoint.String()
			}
		}
	}
	return c
}

// changePortLocked moves the interface to another UDP port, as `wg set
// listen-port` does: the new socket is bound first, so a port in use
// changes nothing. Peers follow on our next authenticated packet (roaming),
// as with WireGuard.
func (d *device) changePortLocked(port int) error {
	if d.rebind == nil {
		return fmt.Errorf("ListenPort %d: this interface cannot change its port", port)
	}
	out, actual, err := d.rebind(port)
	if err != nil {
		return err
	}
	old := d.listenPort
	d.out = out
	d.listenPort = actual
	d.cfg.Interface.ListenPort = int(actual)
	d.log.Info("listen port changed", "from", old, "to", actual)
	return nil
}

// changeMarkLocked changes the fwmark, as `wg set fwmark` does: the socket
// and the data plane take it (0: none). A full tunnel's policy rules route
// by the mark in use, so there the change is refused.
func (d *device) changeMarkLocked(mark uint32) error {
	if d.remark == nil {
		return fmt.Errorf("FwMark %#x: this interface cannot change its mark", mark)
	}
	if err := d.remark(mark); err != nil {
		return err
	}
	old := d.fwmark
	d.fwmark = mark
	d.cfg.Interface.FwMark = mark
	d.log.Info("fwmark changed", "from", fmt.Sprintf("%#x", old), "to", fmt.Sprintf("%#x", mark))
	return nil
}
