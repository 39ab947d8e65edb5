// SPDX-License-Identifier: MIT

package timers

import (
	"sync"
	"time"
)

// Config configures a Peer.
type Config struct {
	// Jitter returns the random time added to handshake retransmissions
	// and to the no-reply timer; values are clamped to
	// [0, RekeyTimeoutJitterMax). Nil means DefaultJitter.
	Jitter func() time.Duration
	// PersistentKeepalive is the initial persistent keepalive interval; 0
	// is off. Unlike SetPersistentKeepalive it sends no immediate
	// keepalive.
	PersistentKeepalive time.Duration
	// RekeyAfterTime overrides the protocol's REKEY_AFTER_TIME (120 s) when
	// positive. Only tests set it, through a daemon build that accepts
	// test settings; production builds refuse to.
	RekeyAfterTime time.Duration
}

// Peer is the timer state of one peer. Its methods are safe for concurrent
// use. Times passed in must come from one clock; observations may be
// reported late and out of order (see the package documentation).
type Peer struct {
	mu     sync.Mutex
	jitter func() time.Duration

	keepaliveInterval time.Duration
	rekeyAfterTime    time.Duration

	// Latest observations.
	lastDataSent time.Time
	lastDataRecv time.Time
	lastSent     time.Time // any authenticated packet, data included
	lastRecv     time.Time

	// The keypair used for sending, once a handshake completed.
	session struct {
		known     bool
		created   time.Time
		initiator bool
		counter   uint64
	}

	lastInitiation time.Time // last initiation sent; rate limit
	retries        int       // retransmissions since the last fresh initiation
	retransmitAt   time.Time // zero: not armed
	sentLastMinute bool      // ReasonRekeyOnReceive already used for this keypair
	lastHandshake  time.Time

	wantAt     time.Time // a requested initiation; zero: none
	wantReason Reason

	// Passive keepalive: data received since this time has not been
	// answered by any authenticated packet sent.
	unansweredRecv time.Time
	// No-reply handshake: data sent since this time has had no
	// authenticated packet back.
	unansweredSent time.Time
	noReplyJitter  time.Duration

	keepaliveWantAt     time.Time // an immediate keepalive; zero: none
	keepaliveWantReason Reason
	persistentFiredAt   time.Time // a persistent keepalive that found no session

	zeroAt time.Time // zero: not armed
}

// New returns the timer state of a peer with no session.
func New(cfg Config) *Peer {
	p := &Peer{jitter: cfg.Jitter, keepaliveInterval: max(cfg.PersistentKeepalive, 0), rekeyAfterTime: RekeyAfterTime}
	if cfg.RekeyAfterTime > 0 {
		p.rekeyAfterTime = cfg.RekeyAfterTime
	}
	if p.jitter == nil {
		p.jitter = DefaultJitter
	}
	return p
}

// DataSent reports that a data packet (not a keepalive) was sent at at. It
// implies PacketSent.
func (p *Peer) DataSent(at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !at.After(p.lastDataSent) {
		return
	}
	p.lastDataSent = at
	p.packetSent(at)
	if at.After(p.lastRecv) && p.unansweredSent.IsZero() {
		p.unansweredSent = at
		p.noReplyJitter = clampJitter(p.jitter())
	}
	// Keep the key fresh on the sending side.
	s := &p.session
	switch {
	case !s.known:
	case s.counter > RekeyAfterMessages:
		p.want(at, ReasonRekeyAfterMessages)
	case s.initiator && at.Sub(s.created) > p.rekeyAfterTime:
		p.want(at, ReasonRekeyAfterTime)
	}
}

// DataReceived reports that an authenticated data packet (not a keepalive)
// was received at at. It implies PacketReceived.
func (p *Peer) DataReceived(at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !at.After(p.lastDataRecv) {
		return
	}
	p.lastDataRecv = at
	p.packetReceived(at)
	if at.After(p.lastSent) && p.unansweredRecv.IsZero() {
		p.unansweredRecv = at
	}
	// Keep the key fresh on the receiving side, once per keypair.
	s := &p.session
	if s.known && s.initiator && !p.sentLastMinute && at.Sub(s.created) > LastMinuteRekeyAge {
		p.sentLastMinute = true
		p.want(at, ReasonRekeyOnReceive)
	}
}

// PacketSent reports that an authenticated packet of any kind (keepalive,
// handshake message, data) was sent at at.
func (p *Peer) PacketSent(at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.packetSent(at)
}

// PacketReceived reports that an authenticated packet of any kind was
// received at at.
func (p *Peer) PacketReceived(at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.packetReceived(at)
}

func (p *Peer) packetSent(at time.Time) {
	if at.After(p.lastSent) {
		p.lastSent = at
	}
	if !p.unansweredRecv.IsZero() && !p.unansweredRecv.After(at) {
		p.unansweredRecv = time.Time{}
		if p.lastDataRecv.After(at) {
			// Data also arrived after this packet; the earliest
			// such arrival is unknown, at is a lower bound.
			p.unansweredRecv = at
		}
	}
	if !p.keepaliveWantAt.IsZero() && !p.keepaliveWantAt.After(at) {
		p.keepaliveWantAt = time.Time{}
	}
}

func (p *Peer) packetReceived(at time.Time) {
	if at.After(p.lastRecv) {
		p.lastRecv = at
	}
	if !p.unansweredSent.IsZero() && !p.unansweredSent.After(at) {
		p.unansweredSent = time.Time{}
		if p.lastDataSent.After(at) {
			p.unansweredSent = at // lower bound, as in packetSent
		}
	}
}

// WantHandshake reports that a packet for the peer found no usable session
// (the slow path) at at: an initiation is sent unless one was sent less
// than RekeyTimeout before.
func (p *Peer) WantHandshake(at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.want(at, ReasonWanted)
}

// want requests an initiation. Like wireguard-go, a request within
// RekeyTimeout of the last initiation is dropped: that handshake's
// retransmissions cover it.
func (p *Peer) want(at time.Time, r Reason) {
	if p.rateLimited(at) {
		return
	}
	if p.wantAt.IsZero() || at.Before(p.wantAt) {
		p.wantAt, p.wantReason = at, r
	}
}

func (p *Peer) rateLimited(at time.Time) bool {
	return !p.lastInitiation.IsZero() && at.Sub(p.lastInitiation) < RekeyTimeout
}

// HandshakeInitiated reports an initiation the daemon sent at at without
// being asked by Tick. (Initiations returned by Tick are recorded by Tick.)
func (p *Peer) HandshakeInitiated(at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.recordInitiation(at, false)
}

func (p *Peer) recordInitiation(at time.Time, retry bool) {
	if !retry {
		p.retries = 0
	}
	if at.After(p.lastInitiation) {
		p.lastInitiation = at
	}
	p.retransmitAt = at.Add(RekeyTimeout + clampJitter(p.jitter()))
	if !p.wantAt.IsZero() && !p.wantAt.After(at) {
		p.wantAt = time.Time{}
	}
	p.packetSent(at)
}

// HandshakeCompleted reports that a handshake completed at at: as
// initiator when the response was processed, as responder when the first
// packet on the new keypair confirmed it. keypairCreated is when the
// keypair was derived; it becomes the keypair used for sending. A
// completion is also an authenticated packet received. As initiator, a
// keepalive is due at once (ReasonConfirm) unless something is sent at or
// after at before the next Tick.
func (p *Peer) HandshakeCompleted(at time.Time, initiator bool, keypairCreated time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.session.known = true
	p.session.created = keypairCreated
	p.session.initiator = initiator
	p.session.counter = 0
	p.retransmitAt = time.Time{}
	p.retries = 0
	p.sentLastMinute = false
	if at.After(p.lastHandshake) {
		p.lastHandshake = at
	}
	if !p.wantAt.IsZero() && !p.wantAt.After(at) {
		p.wantAt = time.Time{}
	}
	p.packetReceived(at)
	if initiator && at.After(p.lastSent) {
		p.keepaliveWantAt, p.keepaliveWantReason = at, ReasonConfirm
	}
}

// SessionDerived reports that keys were derived at at (a response sent,
// or a response received): key material is erased ZeroKeysAfter later
// unless another session is derived first.
func (p *Peer) SessionDerived(at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if z := at.Add(ZeroKeysAfter); z.After(p.zeroAt) {
		p.zeroAt = z
	}
}

// SendCounter reports the send counter of the current keypair at at. A
// counter above RekeyAfterMessages requests a handshake (for either role,
// as in the kernel module); one at RejectAfterMessages makes the keypair
// unusable.
func (p *Peer) SendCounter(at time.Time, n uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.session.known {
		return
	}
	p.session.counter = n
	if n > RekeyAfterMessages {
		p.want(at, ReasonRekeyAfterMessages)
	}
}

// SetPersistentKeepalive changes the persistent keepalive interval at at;
// 0 turns it off. Turning it on from off sends a keepalive at once, as
// wireguard-go does.
func (p *Peer) SetPersistentKeepalive(at time.Time, interval time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	interval = max(interval, 0)
	if p.keepaliveInterval == 0 && interval > 0 {
		p.keepaliveWantAt, p.keepaliveWantReason = at, ReasonPersistent
	}
	if interval == 0 && p.keepaliveWantReason == ReasonPersistent {
		p.keepaliveWantAt = time.Time{}
	}
	p.keepaliveInterval = interval
}

// LastHandshake returns the time of the last completed handshake (zero if
// none), as reported by HandshakeCompleted.
func (p *Peer) LastHandshake() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lastHandshake
}

// validSession reports whether the keypair can still send at now.
func (p *Peer) validSession(now time.Time) bool {
	s := &p.session
	return s.known && now.Sub(s.created) < RejectAfterTime && s.counter < RejectAfterMessages
}
