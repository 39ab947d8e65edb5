// SPDX-License-Identifier: MIT

package daemon

import (
	"errors"
	"slices"
	"syscall"

	"github.com/wgbpfd/wgbpfd/config"
	"github.com/wgbpfd/wgbpfd/keystore"
	"github.com/wgbpfd/wgbpfd/uapi"
)

// uapiDevice serves the wg(8) control socket from the device.
type uapiDevice struct{ d *device }

var _ uapi.Device = uapiDevice{}

// Get implements uapi.Device.
func (u uapiDevice) Get() (*uapi.State, error) {
	d := u.d
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.uapiStateLocked(true), nil
}

func (d *device) uapiStateLocked(withStats bool) *uapi.State {
	st := &uapi.State{
		PrivateKey:   uapi.Key(d.cfg.Interface.PrivateKey),
		ListenPort:   d.listenPort,
		FirewallMark: d.fwmark, // the mark in use, also when a full tunnel picked it
	}
	for _, pc := range d.cfg.Peers {
		p := d.peers[pc.PublicKey]
		if p == nil {
			continue
		}
		ps := uapi.PeerState{
			PublicKey:           uapi.Key(p.pub),
			PresharedKey:        uapi.Key(p.cfg.PresharedKey),
			Endpoint:            p.endpoint,
			PersistentKeepalive: uint16(p.cfg.PersistentKeepalive),
			AllowedIPs:          slices.Clone(p.cfg.AllowedIPs),
			LastHandshake:       p.lastHandshake,
		}
		if withStats {
			ps.TxBytes, ps.RxBytes = d.peerBytesLocked(p)
		}
		st.Peers = append(st.Peers, ps)
	}
	return st
}

// peerBytesLocked adds the kernel's counters to the daemon's own.
func (d *device) peerBytesLocked(p *peer) (tx, rx uint64) {
	tx, rx = p.userTxBytes, p.userRxBytes
	if s, err := d.k.PeerStats(p.id); err == nil {
		tx += s.TxBytes
		rx += s.RxBytes
	}
	return tx, rx
}

// Set implements uapi.Device: the request is applied to a copy of the
// configuration, which is validated and then synced, so a bad request
// changes nothing.
func (u uapiDevice) Set(req *uapi.SetRequest) error {
	d := u.d
	d.mu.Lock()
	defer d.mu.Unlock()
	st := d.uapiStateLocked(false)
	req.ApplyTo(st)
	want := d.cfg.Clone()
	want.Interface.PrivateKey = config.PrivateKey(st.PrivateKey)
	want.Interface.ListenPort = int(st.ListenPort)
	want.Interface.FwMark = st.FirewallMark
	old := make(map[config.Key]config.Peer)
	for _, p := range want.Peers {
		old[p.PublicKey] = p
	}
	want.Peers = nil
	for _, ps := range st.Peers {
		pc := old[config.Key(ps.PublicKey)]
		pc.PublicKey = config.Key(ps.PublicKey)
		pc.PresharedKey = config.PresharedKey(ps.PresharedKey)
		pc.AllowedIPs = slices.Clone(ps.AllowedIPs)
		pc.PersistentKeepalive = int(ps.PersistentKeepalive)
		if ps.Endpoint.IsValid() {
			pc.Endpoint = ps.Endpoint.String()
		}
		if pc.PublicKey == want.PublicKey() {
			return uapi.Errorf(syscall.EINVAL, "peer %s is our own public key", pc.PublicKey)
		}
		want.Peers = append(want.Peers, pc)
	}
	// Here 0 means "no mark" and "a port of the kernel's choosing", as in
	// wg(8); in a file both mean "keep" (syncLocked), so these two changes
	// are made here, before the sync. A request that then fails leaves
	// the mark as it was.
	oldMark := d.fwmark
	if st.FirewallMark != d.fwmark {
		if err := d.changeMarkLocked(st.FirewallMark); err != nil {
			return uapi.Errorf(syscall.EINVAL, "%v", err)
		}
	}
	want.Interface.FwMark = d.cfg.Interface.FwMark
	err := error(nil)
	if req.ListenPort != nil && *req.ListenPort == 0 {
		err = d.changePortLocked(0)
		want.Interface.ListenPort = int(d.listenPort)
	}
	if err == nil {
		err = d.syncLocked(want)
	}
	if err != nil {
		if d.fwmark != oldMark {
			if rerr := d.changeMarkLocked(oldMark); rerr != nil {
				d.log.Warn("restoring the fwmark after a failed set request", "err", rerr)
			}
		}
		if se := (*StartError)(nil); errors.As(err, &se) && se.Code == ExitPortInUse {
			return uapi.Errorf(syscall.EADDRINUSE, "%v", err)
		}
		return uapi.Errorf(syscall.EINVAL, "%v", err)
	}
	return nil
}

func keyID(p *peer) keystore.PeerID { return keystore.PeerID(p.id) }
