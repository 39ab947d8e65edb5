package daemon

import (
	"math/rand/v2"
	"time"

	"github.com/wgbpfd/wgbpfd/keystore"
)

// WireGuard's timer constants (whitepaper §6; DESIGN.md section 5). The
// key-lifetime ones live in keystore.
const (
	rekeyTimeout       = keystore.RekeyTimeout // 5 s between initiations
	rekeyTimeoutJitter = 333 * time.Millisecond
	rekeyAttemptTime   = 90 * time.Second
	keepaliveTimeout   = keystore.KeepaliveTimeout // 10 s
	newHandshakeAfter  = keepaliveTimeout + rekeyTimeout
	zeroKeysAfter      = keystore.ZeroKeysAfterTime // 540 s
)

// peerTimers is one peer's timer state. The kernel handles the packets, so
// the daemon learns of data sent and received by polling the data plane's
// per-peer timestamps every tick, and of its own packets directly.
type peerTimers struct {
	attemptStart  time.Time // first initiation of the running attempt; zero: none
	lastInitiated time.Time
	retryAt       time.Time // next initiation of the running attempt

	lastDataSent, lastDataRecv time.Time
	lastAnySent, lastAnyRecv   time.Time
	keysZeroed                 bool
}

func jitter() time.Duration { return time.Duration(rand.Int64N(int64(rekeyTimeoutJitter))) }

// wantHandshakeLocked starts a handshake attempt unless one runs; an
// initiation is never sent more often than every REKEY_TIMEOUT.
func (d *device) wantHandshakeLocked(p *peer, now time.Time) {
	t := &p.timers
	if !t.attemptStart.IsZero() {
		return // the running attempt retries on its own
	}
	if !t.lastInitiated.IsZero() && now.Sub(t.lastInitiated) < rekeyTimeout {
		return
	}
	t.attemptStart = now
	d.sendInitiationLocked(p, now)
}

func (d *device) sendInitiationLocked(p *peer, now time.Time) {
	p.timers.lastInitiated = now
	p.timers.retryAt = now.Add(rekeyTimeout + jitter())
	d.initiateLocked(p, now)
}

func (d *device) timerHandshakeComplete(p *peer, initiator bool, now time.Time) {
	p.timers.attemptStart = time.Time{}
	p.timers.keysZeroed = false
	p.timers.lastAnyRecv = now
}

func (d *device) timerPacketSent(p *peer, data bool, now time.Time) {
	p.timers.lastAnySent = now
	if data {
		p.timers.lastDataSent = now
	}
}

func (d *device) timerDataReceived(p *peer, data bool, now time.Time) {
	p.timers.lastAnyRecv = now
	if data {
		p.timers.lastDataRecv = now
	}
}

// timerKeepaliveChanged sends a keepalive at once when persistent keepalive
// is switched on, as WireGuard does, so a NAT mapping opens immediately.
func (d *device) timerKeepaliveChanged(p *peer, now time.Time) {
	if p.cfg.PersistentKeepalive > 0 {
		if !d.sendLocked(p, nil, now) {
			d.wantHandshakeLocked(p, now)
		}
	}
}

// tick runs every timer of every peer once.
func (d *device) tick() {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.now()
	d.store.Expire(now)
	for _, p := range d.peers {
		d.observeKernelLocked(p)
		d.tickPeerLocked(p, now)
	}
}

// observeKernelLocked folds the data plane's per-peer timestamps into the
// timers: the packets the kernel sent and received since the last tick.
func (d *device) observeKernelLocked(p *peer) {
	s, err := d.k.PeerStats(p.id)
	if err != nil {
		return
	}
	t := &p.timers
	if s.LastTx.After(t.lastDataSent) {
		t.lastDataSent = s.LastTx
		if s.LastTx.After(t.lastAnySent) {
			t.lastAnySent = s.LastTx
		}
	}
	if s.LastRx.After(t.lastDataRecv) {
		t.lastDataRecv = s.LastRx
	}
	if s.LastRxAny.After(t.lastAnyRecv) {
		t.lastAnyRecv = s.LastRxAny
	}
	if s.LastRx.After(t.lastAnyRecv) {
		t.lastAnyRecv = s.LastRx
	}
}

func (d *device) tickPeerLocked(p *peer, now time.Time) {
	t := &p.timers
	id := keystore.PeerID(p.id)

	// A running attempt: retry every REKEY_TIMEOUT+jitter, give up after
	// REKEY_ATTEMPT_TIME and drop what waited for it.
	if !t.attemptStart.IsZero() && !now.Before(t.retryAt) {
		if now.Sub(t.attemptStart) >= rekeyAttemptTime {
			d.log.Info("handshake did not complete; giving up until new traffic", "peer", p.pub.String(), "after", rekeyAttemptTime)
			t.attemptStart = time.Time{}
			p.queueDropped += uint64(len(p.queue))
			p.queue = nil
			d.stats.countHandshake("attempt_given_up")
		} else {
			d.resolveStaleLocked(p)
			d.sendInitiationLocked(p, now)
		}
	}

	// Data sent and nothing heard back for KEEPALIVE+REKEY_TIMEOUT (15 s):
	// the session may be dead on the other side; start a new handshake.
	if !t.lastDataSent.IsZero() && t.lastDataSent.After(t.lastAnyRecv) &&
		now.Sub(t.lastDataSent) >= newHandshakeAfter && now.Sub(t.lastAnyRecv) >= newHandshakeAfter {
		d.wantHandshakeLocked(p, now)
		t.lastDataSent = time.Time{} // one handshake per silence
	}

	// Rekey: our own keypair past REKEY_AFTER_TIME when sending, or past
	// REJECT_AFTER_TIME-KEEPALIVE-REKEY_TIMEOUT (165 s) when receiving.
	if d.store.NeedsRekeyOnSend(id, now) && now.Sub(t.lastDataSent) < 2*tickInterval {
		d.wantHandshakeLocked(p, now)
	}
	if d.store.NeedsRekeyOnReceive(id, now) && now.Sub(t.lastDataRecv) < 2*tickInterval {
		d.wantHandshakeLocked(p, now)
	}

	canSend := d.store.CanSend(id, now)
	// Passive keepalive: data received and nothing sent back for
	// KEEPALIVE_TIMEOUT, so the peer knows the session works.
	if canSend && !t.lastDataRecv.IsZero() && t.lastDataRecv.After(t.lastAnySent) && now.Sub(t.lastDataRecv) >= keepaliveTimeout {
		d.sendLocked(p, nil, now)
	}
	// Persistent keepalive.
	if ka := time.Duration(p.cfg.PersistentKeepalive) * time.Second; ka > 0 && now.Sub(t.lastAnySent) >= ka {
		if canSend {
			d.sendLocked(p, nil, now)
		} else {
			d.wantHandshakeLocked(p, now)
		}
	}

	// Zero every key REJECT_AFTER_TIME*3 after the last handshake.
	if !p.lastHandshake.IsZero() && !t.keysZeroed && now.Sub(p.lastHandshake) >= zeroKeysAfter {
		d.store.RemovePeer(id)
		t.keysZeroed = true
		d.log.Info("keys zeroed after 540 s without a handshake", "peer", p.pub.String())
	}
}

// resolveStaleLocked re-resolves a hostname endpoint when handshakes go
// unanswered (the name may point elsewhere now). It runs the lookup outside
// the lock.
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
		if d.store.NeedsRekeyOnSend(keyID(p), now) {
			d.wantHandshakeLocked(p, now)
		}
	case evKeypairConfirmed:
		d.store.Confirm(ev.LocalIndex)
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
