// SPDX-License-Identifier: MIT

package daemon

import (
	"sort"
	"time"

	"github.com/wgbpfd/wgbpfd/keystore"
	"github.com/wgbpfd/wgbpfd/timers"
)

// The daemon drives WireGuard's timer rules (package timers) with what it
// observes: its own packets directly, and the packets the kernel handled by
// polling the data plane's per-peer timestamps every tick. Actions that
// Tick returns are carried out at once.

func newPeerTimers(keepaliveSeconds int, rekeyAfter time.Duration) *timers.Peer {
	return timers.New(timers.Config{PersistentKeepalive: time.Duration(keepaliveSeconds) * time.Second, RekeyAfterTime: rekeyAfter})
}

// wantHandshakeLocked asks for a handshake (a packet found no session) and
// runs the peer's timers so that the initiation leaves now, subject to the
// REKEY_TIMEOUT spacing the timers enforce.
func (d *device) wantHandshakeLocked(p *peer, now time.Time) {
	p.tm.WantHandshake(now)
	d.runTimersLocked(p, now)
}

func (d *device) timerHandshakeComplete(p *peer, initiator bool, now time.Time) {
	p.tm.SessionDerived(now)
	if initiator {
		p.tm.HandshakeCompleted(now, true, now)
	}
}

// timerConfirmed: the responder's keypair received its first packet.
func (d *device) timerConfirmed(p *peer, now time.Time) {
	p.tm.HandshakeCompleted(now, false, p.lastHandshake)
}

func (d *device) timerPacketSent(p *peer, data bool, now time.Time) {
	if data {
		p.tm.DataSent(now)
	} else {
		p.tm.PacketSent(now)
	}
}

func (d *device) timerDataReceived(p *peer, data bool, now time.Time) {
	if data {
		p.tm.DataReceived(now)
	} else {
		p.tm.PacketReceived(now)
	}
}

// timerKeepaliveChanged applies a new PersistentKeepalive; switching it on
// sends a keepalive at once, as WireGuard does.
func (d *device) timerKeepaliveChanged(p *peer, now time.Time) {
	p.tm.SetPersistentKeepalive(now, time.Duration(p.cfg.PersistentKeepalive)*time.Second)
	d.runTimersLocked(p, now)
}

// tick runs every peer's timers once.
func (d *device) tick() {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.now()
	d.store.Expire(now)
	d.reapAdoptedLocked(now)
	for _, p := range d.peers {
		// Only a peer with a kernel session can have kernel traffic; with
		// 10,000 configured peers most have none.
		if d.mirror.active(keystore.PeerID(p.id)) {
			d.observeKernelLocked(p)
		}
		d.runTimersLocked(p, now)
	}
	d.logDropsLocked(now)
}

// dropLogInterval rate-limits the log of data plane drops: one line per
// interval at most, with what changed since the last one.
const dropLogInterval = 10 * time.Second

// logDropsLocked logs the data plane's drops by reason when they grew, and
// the kernel's queue drops by queue (congestion, hence only at info).
func (d *device) logDropsLocked(now time.Time) {
	if now.Sub(d.dropsLoggedAt) < dropLogInterval {
		return
	}
	d.dropsLoggedAt = now
	if drops, err := d.k.Drops(); err == nil {
		if attrs := grown(d.dropsLogged, drops); len(attrs) > 0 {
			d.log.Warn("data plane dropped packets (since the last report, by reason)", attrs...)
		}
		d.dropsLogged = drops
	}
	if drops, err := d.k.QueueDrops(); err == nil {
		if attrs := grown(d.queuesLogged, drops); len(attrs) > 0 {
			d.log.Info("kernel queues between the data plane's programs were full and dropped packets (since the last report, by queue)", attrs...)
		}
		d.queuesLogged = drops
	}
}

// grown lists, by sorted name, the counters of now that grew since before,
// as slog attributes (name, increase).
func grown(before, now map[string]uint64) []any {
	names := make([]string, 0, len(now))
	for name, n := range now {
		if n > before[name] {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	attrs := make([]any, 0, 2*len(names))
	for _, name := range names {
		attrs = append(attrs, name, now[name]-before[name])
	}
	return attrs
}

// observeKernelLocked reports the data plane's per-peer timestamps; the
// timers ignore the ones they have seen.
func (d *device) observeKernelLocked(p *peer) {
	s, err := d.k.PeerStats(p.id)
	if err != nil {
		return
	}
	if !s.LastTx.IsZero() {
		p.tm.DataSent(s.LastTx)
	}
	if !s.LastRx.IsZero() {
		p.tm.DataReceived(s.LastRx)
	}
	if !s.LastRxAny.IsZero() {
		p.tm.PacketReceived(s.LastRxAny) // keepalives: proof of life, not data
	}
}

// runTimersLocked carries out the actions that are due for p.
func (d *device) runTimersLocked(p *peer, now time.Time) {
	for _, a := range p.tm.Tick(now) {
		switch a.Kind {
		case timers.SendInitiation:
			if a.Reason == timers.ReasonRetry {
				d.resolveStaleLocked(p)
			}
			d.initiateLocked(p, now)
		case timers.SendKeepalive:
			d.sendKeepaliveLocked(p, now)
		case timers.ZeroKeys:
			d.store.RemovePeer(keystore.PeerID(p.id))
			d.log.Info("keys zeroed after 540 s without a new handshake", "peer", p.pub.String())
		case timers.GiveUp:
			p.queueDropped += uint64(len(p.queue))
			p.queue = nil
			d.stats.countHandshake("attempt_given_up")
			d.log.Info("handshake did not complete; giving up until new traffic", "peer", p.pub.String())
		}
	}
}

// sendKeepaliveLocked sends an empty data packet without reporting it to
// the timers (Tick already counted it).
func (d *device) sendKeepaliveLocked(p *peer, now time.Time) {
	if !p.endpoint.IsValid() || d.mirror.current(keystore.PeerID(p.id)) == 0 {
		return
	}
	d.sealAndSendLocked(p, nil, now)
}

// resolveStaleLocked re-resolves a hostname endpoint when handshakes go
// unanswered (the name may point elsewhere now), outside the lock.
func (d *device) resolveStaleLocked(p *peer) {
	if p.cfg.Endpoint == "" || p.endpointIsIP() {
		return
	}
	pub, ep := p.pub, p.cfg.Endpoint
	go d.resolvePeer(pub, ep)
}

// handleEvent acts on an event the data plane raised.
func (d *device) handleEvent(ev kernelEvent) {
	d.mu.Lock()
	defer d.mu.Unlock()
	p := d.byID[ev.PeerID]
	if p == nil {
		return
	}
	now := d.now()
	switch ev.Kind {
	case evHandshakeNeeded:
		d.wantHandshakeLocked(p, now)
	case evRekeyNeeded:
		// The kernel's keypair is past REKEY_AFTER_MESSAGES or its age
		// limit (it alone knows the send counter); the timers space the
		// initiation like any other.
		d.wantHandshakeLocked(p, now)
	case evKeypairConfirmed:
		if d.store.Confirm(ev.LocalIndex) {
			d.timerConfirmed(p, now)
		}
		d.flushQueueLocked(p, now)
	case evEndpointChanged:
		// The kernel already sends to the new address; record it.
		if ev.Endpoint.IsValid() && ev.Endpoint != p.endpoint {
			p.endpoint = ev.Endpoint
			p.endpointChanges++
			d.log.Info("endpoint changed", "peer", p.pub.String(), "to", ev.Endpoint, "why", "authenticated packet from a new address")
		}
	}
}
