// SPDX-License-Identifier: MIT

package timers

import "time"

// timer names the deadlines of a Peer. On equal deadlines the lower one
// fires first.
type timer int

const (
	timerZero timer = iota
	timerWant
	timerRetransmit
	timerNoReply
	timerKeepaliveWant
	timerPassive
	timerPersistent
	numTimers
)

// deadlines returns when each timer fires; zero means not armed.
func (p *Peer) deadlines() [numTimers]time.Time {
	var d [numTimers]time.Time
	d[timerZero] = p.zeroAt
	d[timerWant] = p.wantAt
	d[timerRetransmit] = p.retransmitAt
	if !p.unansweredSent.IsZero() {
		d[timerNoReply] = p.unansweredSent.Add(NoReplyTimeout + p.noReplyJitter)
	}
	d[timerKeepaliveWant] = p.keepaliveWantAt
	if !p.unansweredRecv.IsZero() {
		d[timerPassive] = p.unansweredRecv.Add(KeepaliveTimeout)
	}
	if p.keepaliveInterval > 0 {
		last := p.lastSent
		for _, t := range []time.Time{p.lastRecv, p.persistentFiredAt} {
			if t.After(last) {
				last = t
			}
		}
		if !last.IsZero() {
			d[timerPersistent] = last.Add(p.keepaliveInterval)
		}
	}
	return d
}

// earliest returns the first armed deadline, and false if none is armed.
func earliest(d *[numTimers]time.Time) (timer, time.Time, bool) {
	var (
		best   timer
		bestAt time.Time
		found  bool
	)
	for t := range numTimers {
		if at := d[t]; !at.IsZero() && (!found || at.Before(bestAt)) {
			best, bestAt, found = t, at, true
		}
	}
	return best, bestAt, found
}

// NextDeadline returns when Tick next has something to do, or the zero
// time if nothing is pending. It may be in the past.
func (p *Peer) NextDeadline() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	d := p.deadlines()
	_, at, _ := earliest(&d)
	return at
}

// Tick fires every timer due at or before now, in deadline order, and
// returns the resulting actions. Actions are assumed to be carried out at
// now: their effects (a packet sent, a retransmission armed) are recorded.
func (p *Peer) Tick(now time.Time) []Action {
	p.mu.Lock()
	defer p.mu.Unlock()
	var acts []Action
	for range maxFiringsPerTick {
		d := p.deadlines()
		t, at, ok := earliest(&d)
		if !ok || at.After(now) {
			break
		}
		acts = p.fire(t, now, acts)
	}
	return acts
}

// fire runs one timer. Every case disarms the timer it runs.
func (p *Peer) fire(t timer, now time.Time, acts []Action) []Action {
	switch t {
	case timerZero:
		p.zeroAt = time.Time{}
		p.session.known = false
		acts = append(acts, Action{ZeroKeys, ReasonExpired})
	case timerWant:
		r := p.wantReason
		p.wantAt = time.Time{}
		if !p.rateLimited(now) {
			acts = p.initiate(now, false, r, acts)
		}
	case timerRetransmit:
		p.retransmitAt = time.Time{}
		if p.retries >= MaxHandshakeRetries {
			p.wantAt = time.Time{}
			if p.zeroAt.IsZero() {
				p.zeroAt = now.Add(ZeroKeysAfter)
			}
			acts = append(acts, Action{GiveUp, ReasonMaxAttempts})
			break
		}
		p.retries++
		acts = p.initiate(now, true, ReasonRetry, acts)
	case timerNoReply:
		p.unansweredSent = time.Time{}
		if !p.rateLimited(now) {
			acts = p.initiate(now, false, ReasonNoReply, acts)
		}
	case timerKeepaliveWant:
		r := p.keepaliveWantReason
		p.keepaliveWantAt = time.Time{}
		acts = p.keepalive(now, r, acts)
	case timerPassive:
		p.unansweredRecv = time.Time{}
		acts = p.keepalive(now, ReasonPassive, acts)
	case timerPersistent:
		p.persistentFiredAt = now
		acts = p.keepalive(now, ReasonPersistent, acts)
	}
	return acts
}

func (p *Peer) initiate(now time.Time, retry bool, r Reason, acts []Action) []Action {
	p.recordInitiation(now, retry)
	return append(acts, Action{SendInitiation, r})
}

// keepalive sends a keepalive, or, without a keypair that can send, starts
// a handshake instead (wireguard-go queues the keepalive and initiates; the
// completed handshake then sends its own confirmation keepalive).
func (p *Peer) keepalive(now time.Time, r Reason, acts []Action) []Action {
	if p.validSession(now) {
		p.packetSent(now)
		return append(acts, Action{SendKeepalive, r})
	}
	if p.rateLimited(now) {
		return acts // a handshake is under way
	}
	return p.initiate(now, false, ReasonNoSession, acts)
}
