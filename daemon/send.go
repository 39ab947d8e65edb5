// SPDX-License-Identifier: MIT

package daemon

import (
	"time"

	"github.com/wgbpfd/wgbpfd/keystore"
)

// handleTUNPacket takes a packet the kernel left in the TUN queue: the data
// plane had no usable session for its peer. It is sent in userspace when a
// session exists (a race with installation), otherwise queued while a
// handshake starts.
func (d *device) handleTUNPacket(pkt []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	dst, ok := ipDestination(pkt)
	if !ok {
		d.stats.countSlow("malformed")
		return
	}
	p := d.lookup(dst)
	if p == nil {
		d.stats.countSlow("no_peer")
		return
	}
	now := d.now()
	if d.store.CanSend(keystore.PeerID(p.id), now) {
		d.sendLocked(p, pkt, now)
		return
	}
	p.enqueue(append([]byte(nil), pkt...))
	d.stats.countSlow("queued")
	d.wantHandshakeLocked(p, now)
}

// sendLocked seals pkt (nil: a keepalive) with the peer's current keypair
// and sends it. Counters come from the kernel's session, so the daemon's
// packets never reuse one the data plane used or will use.
func (d *device) sendLocked(p *peer, pkt []byte, now time.Time) bool {
	if !d.sealAndSendLocked(p, pkt, now) {
		return false
	}
	d.timerPacketSent(p, pkt != nil, now)
	return true
}

// sealAndSendLocked seals and sends without telling the timers.
func (d *device) sealAndSendLocked(p *peer, pkt []byte, now time.Time) bool {
	if !p.endpoint.IsValid() {
		d.stats.countSlow("no_endpoint")
		return false
	}
	idx := d.mirror.current(keystore.PeerID(p.id))
	if idx == 0 {
		return false
	}
	first, err := d.k.ReserveCounters(idx, 1)
	if err != nil {
		d.stats.countSlow("reserve_failed")
		d.log.Warn("reserving a send counter", "peer", p.pub.String(), "err", err)
		return false
	}
	d.store.SyncSendCounter(idx, first)
	msg, err := d.store.SealMessage(keystore.PeerID(p.id), pkt, d.mtu, now)
	if err != nil {
		d.stats.countSlow("seal_failed")
		return false
	}
	if err := d.out.sendTo(msg, p.endpoint); err != nil {
		d.stats.countSlow("send_failed")
		d.log.Debug("sending data", "peer", p.pub.String(), "to", p.endpoint, "err", err)
		return false
	}
	p.userTxBytes += uint64(len(msg))
	if pkt == nil {
		d.stats.countSlow("keepalive_sent")
	} else {
		d.stats.countSlow("sent")
	}
	return true
}

// flushQueueLocked sends the packets that waited for a session.
func (d *device) flushQueueLocked(p *peer, now time.Time) {
	q := p.queue
	p.queue = nil
	for i, pkt := range q {
		if !d.sendLocked(p, pkt, now) {
			p.queue = append(p.queue, q[i:]...)
			return
		}
	}
}

// initiateLocked sends a handshake initiation to p.
func (d *device) initiateLocked(p *peer, now time.Time) {
	if !p.endpoint.IsValid() {
		d.stats.countHandshake("no_endpoint")
		return
	}
	msg, err := d.hs.CreateInitiation(p.pub, now)
	if err != nil {
		d.stats.countHandshake("initiation_failed")
		d.log.Warn("creating handshake initiation", "peer", p.pub.String(), "err", err)
		return
	}
	if err := d.out.sendTo(msg, p.endpoint); err != nil {
		d.stats.countHandshake("send_failed")
		d.log.Debug("sending handshake initiation", "peer", p.pub.String(), "to", p.endpoint, "err", err)
		return
	}
	p.userTxBytes += uint64(len(msg))
	d.stats.countHandshake("initiation_sent")
	d.log.Debug("handshake initiation sent", "peer", p.pub.String(), "to", p.endpoint)
}
