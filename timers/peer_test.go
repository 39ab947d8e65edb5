// SPDX-License-Identifier: MIT

package timers

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

var t0 = time.Unix(1_700_000_000, 0)

const jit = 100 * time.Millisecond

// sim drives a Peer with a fake clock. Times are offsets from t0.
type sim struct {
	t   *testing.T
	p   *Peer
	now time.Duration
	got []string
	log []timed // every action, never reset
}

type timed struct {
	at time.Duration
	a  Action
}

func newSim(t *testing.T, cfg Config) *sim {
	if cfg.Jitter == nil {
		cfg.Jitter = func() time.Duration { return jit }
	}
	return &sim{t: t, p: New(cfg)}
}

func at(d time.Duration) time.Time { return t0.Add(d) }

func secs(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }

// runTo advances the clock to until, ticking at every deadline on the way
// (and at until), and records the actions.
func (s *sim) runTo(until time.Duration) {
	s.t.Helper()
	if until < s.now {
		s.t.Fatalf("clock moving back from %v to %v", s.now, until)
	}
	for range 10000 {
		next := s.p.NextDeadline()
		if next.IsZero() || next.After(at(until)) {
			break
		}
		if d := next.Sub(t0); d > s.now {
			s.now = d
		}
		s.tick()
	}
	s.now = until
	s.tick()
}

// tickEvery advances to until with a tick every step, calling before
// (if not nil) ahead of each tick.
func (s *sim) tickEvery(step, until time.Duration, before func()) {
	for s.now+step <= until {
		s.now += step
		if before != nil {
			before()
		}
		s.tick()
	}
}

func (s *sim) tick() {
	for _, a := range s.p.Tick(at(s.now)) {
		s.log = append(s.log, timed{s.now, a})
		s.got = append(s.got, fmt.Sprintf("%v %v", s.now, a))
	}
}

// expect asserts the actions recorded since the last expect.
func (s *sim) expect(want ...string) {
	s.t.Helper()
	if len(want) == 0 {
		want = nil
	}
	if !reflect.DeepEqual(s.got, want) {
		s.t.Fatalf("actions =\n%q\nwant\n%q", s.got, want)
	}
	s.got = nil
}

func act(d time.Duration, k Kind, r Reason) string {
	return fmt.Sprintf("%v %v", d, Action{k, r})
}

// established completes a handshake at d with the given role and drains
// the confirmation keepalive.
func (s *sim) established(d time.Duration, initiator bool) {
	s.t.Helper()
	s.runTo(d)
	s.p.SessionDerived(at(d))
	s.p.HandshakeCompleted(at(d), initiator, at(d))
	s.runTo(d)
	if initiator {
		s.expect(act(d, SendKeepalive, ReasonConfirm))
	} else {
		s.expect()
	}
}

func TestRetransmitUntilGiveUp(t *testing.T) {
	s := newSim(t, Config{})
	s.p.WantHandshake(at(0))
	s.runTo(700 * time.Second)
	want := []string{act(0, SendInitiation, ReasonWanted)}
	step := RekeyTimeout + jit
	for k := 1; k <= MaxHandshakeRetries; k++ {
		want = append(want, act(time.Duration(k)*step, SendInitiation, ReasonRetry))
	}
	giveUp := time.Duration(MaxHandshakeRetries+1) * step
	want = append(want,
		act(giveUp, GiveUp, ReasonMaxAttempts),
		act(giveUp+ZeroKeysAfter, ZeroKeys, ReasonExpired))
	s.expect(want...)
	if len(want) != 22 || giveUp != 102*time.Second {
		t.Fatalf("20 initiations then GiveUp at 102 s expected, got %d actions, give up at %v", len(want), giveUp)
	}
}

func TestHandshakeCompletionStopsRetransmit(t *testing.T) {
	s := newSim(t, Config{})
	s.p.WantHandshake(at(0))
	s.runTo(7 * time.Second)
	s.expect(act(0, SendInitiation, ReasonWanted), act(secs(5.1), SendInitiation, ReasonRetry))
	s.p.SessionDerived(at(7 * time.Second))
	s.p.HandshakeCompleted(at(7*time.Second), true, at(7*time.Second))
	s.runTo(500 * time.Second)
	s.expect(act(7*time.Second, SendKeepalive, ReasonConfirm))
	if got := s.p.LastHandshake(); !got.Equal(at(7 * time.Second)) {
		t.Fatalf("LastHandshake = %v", got)
	}
	s.runTo(600 * time.Second)
	s.expect(act(547*time.Second, ZeroKeys, ReasonExpired))
}

func TestConfirmKeepalive(t *testing.T) {
	// Something sent after the completion makes the keepalive needless.
	s := newSim(t, Config{})
	s.p.HandshakeCompleted(at(time.Second), true, at(time.Second))
	s.p.PacketReceived(at(secs(1.4)))
	s.p.DataSent(at(secs(1.5)))
	s.runTo(2 * time.Second)
	s.expect()

	// The responder sends none.
	s = newSim(t, Config{})
	s.p.HandshakeCompleted(at(time.Second), false, at(0))
	s.runTo(2 * time.Second)
	s.expect()
}

func TestInitiationRateLimit(t *testing.T) {
	s := newSim(t, Config{})
	s.p.WantHandshake(at(0))
	s.runTo(0)
	s.p.WantHandshake(at(time.Second))
	s.p.WantHandshake(at(secs(4.999)))
	s.runTo(secs(4.999))
	s.expect(act(0, SendInitiation, ReasonWanted))
	// 5 s after the last one a fresh initiation goes out; it resets the
	// retransmission, which follows it by RekeyTimeout + jitter.
	s.p.WantHandshake(at(5 * time.Second))
	s.runTo(11 * time.Second)
	s.expect(act(5*time.Second, SendInitiation, ReasonWanted), act(secs(10.1), SendInitiation, ReasonRetry))
}

// However events arrive, two initiations are never less than RekeyTimeout
// apart.
func TestInitiationRateLimitRandomEvents(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	s := newSim(t, Config{Jitter: func() time.Duration { return time.Duration(rng.Int64N(int64(RekeyTimeoutJitterMax))) }})
	var last time.Duration = -time.Hour
	for s.now < 2000*time.Second {
		next := s.now + time.Duration(rng.IntN(3000))*time.Millisecond
		s.runTo(next)
		switch rng.IntN(8) {
		case 0:
			s.p.WantHandshake(at(s.now))
		case 1:
			s.p.DataSent(at(s.now))
		case 2:
			s.p.DataReceived(at(s.now))
		case 3:
			s.p.HandshakeCompleted(at(s.now), rng.IntN(2) == 0, at(s.now-time.Duration(rng.IntN(200))*time.Second))
		case 4:
			s.p.SendCounter(at(s.now), RekeyAfterMessages+uint64(rng.IntN(2)))
		case 5:
			s.p.SetPersistentKeepalive(at(s.now), time.Duration(rng.IntN(3))*time.Second)
		case 6:
			s.p.SessionDerived(at(s.now))
		case 7:
			s.p.PacketReceived(at(s.now))
		}
		s.got = nil
	}
	n := 0
	for _, e := range s.log {
		if e.a.Kind != SendInitiation {
			continue
		}
		n++
		if e.at-last < RekeyTimeout {
			t.Fatalf("initiations at %v and %v", last, e.at)
		}
		last = e.at
	}
	if n < 50 {
		t.Fatalf("only %d initiations: the scenario does not exercise the limit", n)
	}
}

func TestRekeyAfterTime(t *testing.T) {
	s := newSim(t, Config{})
	s.established(0, true)
	for _, d := range []time.Duration{60 * time.Second, 119 * time.Second, 120 * time.Second} {
		s.runTo(d)
		s.p.DataSent(at(d))
		s.p.PacketReceived(at(d))
	}
	s.runTo(120 * time.Second)
	s.expect()
	s.p.DataSent(at(secs(120.5)))
	s.runTo(121 * time.Second)
	s.expect(act(secs(120.5), SendInitiation, ReasonRekeyAfterTime))

	// A responder never rekeys on time.
	s = newSim(t, Config{})
	s.established(0, false)
	s.p.DataSent(at(150 * time.Second))
	s.p.PacketReceived(at(secs(150.2)))
	s.runTo(179 * time.Second)
	s.expect()
}

func TestRekeyOnReceive(t *testing.T) {
	s := newSim(t, Config{})
	s.established(0, true)
	s.p.DataReceived(at(160 * time.Second))
	s.runTo(160 * time.Second)
	s.expect()
	s.p.DataReceived(at(166 * time.Second))
	s.runTo(166 * time.Second)
	// The initiation also answers the data received (no passive
	// keepalive at 170 s).
	s.expect(act(166*time.Second, SendInitiation, ReasonRekeyOnReceive))

	// The new keypair clears the once-per-keypair flag.
	s.p.SessionDerived(at(167 * time.Second))
	s.p.HandshakeCompleted(at(167*time.Second), true, at(167*time.Second))
	s.runTo(167 * time.Second)
	s.expect(act(167*time.Second, SendKeepalive, ReasonConfirm))
	s.p.DataReceived(at(172 * time.Second))
	s.p.DataSent(at(173 * time.Second))
	s.p.PacketReceived(at(174 * time.Second))
	s.runTo(330 * time.Second)
	s.expect()
	s.p.DataReceived(at(334 * time.Second))
	s.runTo(334 * time.Second)
	s.expect(act(334*time.Second, SendInitiation, ReasonRekeyOnReceive))

	// Only once per keypair: data received after the rate limit window
	// of that initiation (jitter keeps the retry 332 ms later) starts no
	// second one.
	s = newSim(t, Config{Jitter: func() time.Duration { return 332 * time.Millisecond }})
	s.established(0, true)
	s.p.DataReceived(at(166 * time.Second))
	s.runTo(166 * time.Second)
	s.expect(act(166*time.Second, SendInitiation, ReasonRekeyOnReceive))
	s.p.HandshakeInitiated(at(166 * time.Second)) // a duplicate report changes nothing
	s.p.DataReceived(at(secs(171.2)))
	s.runTo(secs(171.4))
	s.expect(act(secs(171.332), SendInitiation, ReasonRetry))
}

func TestPassiveKeepalive(t *testing.T) {
	s := newSim(t, Config{})
	s.established(0, false)
	s.p.DataReceived(at(1 * time.Second))
	s.runTo(3 * time.Second)
	s.p.DataReceived(at(3 * time.Second))
	s.runTo(12 * time.Second)
	s.p.DataReceived(at(12 * time.Second))
	s.runTo(29 * time.Second)
	s.expect(act(11*time.Second, SendKeepalive, ReasonPassive), act(22*time.Second, SendKeepalive, ReasonPassive))

	// Data sent after the data received answers it: no keepalive.
	s.p.DataReceived(at(30 * time.Second))
	s.p.DataSent(at(35 * time.Second))
	s.p.PacketReceived(at(36 * time.Second))
	// Reported out of order: received at 38, before the send at 39.
	s.p.DataSent(at(39 * time.Second))
	s.p.DataReceived(at(38 * time.Second))
	s.p.PacketReceived(at(40 * time.Second))
	s.runTo(100 * time.Second)
	s.expect()

	// A packet sent between two data packets answers only the first:
	// the second is still answered, within KeepaliveTimeout of the send.
	s.p.DataReceived(at(110 * time.Second))
	s.p.DataReceived(at(112 * time.Second))
	s.p.PacketSent(at(111 * time.Second))
	s.runTo(130 * time.Second)
	s.expect(act(121*time.Second, SendKeepalive, ReasonPassive))
}

func TestNoReplyHandshake(t *testing.T) {
	s := newSim(t, Config{})
	s.established(0, false)
	s.p.DataSent(at(time.Second))
	// A packet received before the send, reported after it, does not
	// count as a reply.
	s.p.PacketReceived(at(secs(0.5)))
	s.runTo(17 * time.Second)
	s.expect(act(secs(16.1), SendInitiation, ReasonNoReply))
	// The same observation reported again does not re-arm it.
	s.p.DataSent(at(time.Second))
	s.p.HandshakeCompleted(at(18*time.Second), false, at(17*time.Second))
	s.runTo(40 * time.Second)
	s.expect()

	// A reply cancels it, in either order of report.
	s = newSim(t, Config{})
	s.established(0, false)
	s.p.DataSent(at(time.Second))
	s.p.PacketReceived(at(10 * time.Second))
	s.runTo(60 * time.Second)
	s.p.PacketReceived(at(62 * time.Second))
	s.p.DataSent(at(61 * time.Second))
	s.runTo(100 * time.Second)
	s.expect()

	// Data sent after the reply keeps it armed, counted from the reply.
	s = newSim(t, Config{})
	s.established(0, false)
	s.p.DataSent(at(time.Second))
	s.p.DataSent(at(8 * time.Second))
	s.p.PacketReceived(at(5 * time.Second))
	s.runTo(25 * time.Second)
	s.expect(act(secs(20.1), SendInitiation, ReasonNoReply))
}

func TestPersistentKeepalive(t *testing.T) {
	s := newSim(t, Config{})
	s.established(0, false)
	s.p.SetPersistentKeepalive(at(0), 25*time.Second)
	s.runTo(60 * time.Second)
	s.expect(act(0, SendKeepalive, ReasonPersistent), act(25*time.Second, SendKeepalive, ReasonPersistent),
		act(50*time.Second, SendKeepalive, ReasonPersistent))
	// Any authenticated packet, sent or received, restarts the interval.
	s.p.DataSent(at(60 * time.Second))
	s.p.PacketReceived(at(61 * time.Second))
	s.runTo(90 * time.Second)
	s.expect(act(86*time.Second, SendKeepalive, ReasonPersistent))
	s.p.SetPersistentKeepalive(at(90*time.Second), 0)
	s.runTo(170 * time.Second)
	s.expect()

	// Configured at creation: no immediate keepalive, one interval
	// after the last packet.
	s = newSim(t, Config{PersistentKeepalive: 10 * time.Second})
	s.established(0, false)
	s.runTo(25 * time.Second)
	s.expect(act(10*time.Second, SendKeepalive, ReasonPersistent), act(20*time.Second, SendKeepalive, ReasonPersistent))
}

// Without a session a persistent keepalive starts a handshake; after
// giving up, the next interval starts another.
func TestPersistentKeepaliveWithoutSession(t *testing.T) {
	s := newSim(t, Config{})
	s.p.SetPersistentKeepalive(at(0), 25*time.Second)
	s.runTo(secs(121.9))
	if len(s.got) != 22 {
		t.Fatalf("actions: %q", s.got)
	}
	first, giveUp, again := s.got[0], s.got[20], s.got[21]
	if first != act(0, SendInitiation, ReasonNoSession) || giveUp != act(102*time.Second, GiveUp, ReasonMaxAttempts) ||
		again != act(secs(96.9)+25*time.Second, SendInitiation, ReasonNoSession) {
		t.Fatalf("first %q, give up %q, again %q", first, giveUp, again)
	}
}

func TestZeroKeys(t *testing.T) {
	s := newSim(t, Config{})
	s.established(0, false)
	s.p.SessionDerived(at(100 * time.Second))
	s.p.SessionDerived(at(50 * time.Second)) // reported late: changes nothing
	s.runTo(700 * time.Second)
	s.expect(act(640*time.Second, ZeroKeys, ReasonExpired))
	// Keys are gone: a keepalive now needs a handshake.
	s.p.SetPersistentKeepalive(at(700*time.Second), 25*time.Second)
	s.runTo(700 * time.Second)
	s.expect(act(700*time.Second, SendInitiation, ReasonNoSession))
}

func TestRekeyAfterMessages(t *testing.T) {
	for _, initiator := range []bool{true, false} {
		s := newSim(t, Config{})
		s.established(0, initiator)
		s.p.SendCounter(at(10*time.Second), RekeyAfterMessages)
		s.runTo(10 * time.Second)
		s.expect()
		s.p.SendCounter(at(11*time.Second), RekeyAfterMessages+1)
		s.runTo(11 * time.Second)
		s.expect(act(11*time.Second, SendInitiation, ReasonRekeyAfterMessages))
	}
	// Sending data with the counter past the limit keeps asking, once
	// the rate limit allows (jitter keeps the retry 332 ms later).
	s := newSim(t, Config{Jitter: func() time.Duration { return 332 * time.Millisecond }})
	s.established(0, false)
	s.p.SendCounter(at(11*time.Second), RekeyAfterMessages+1)
	s.runTo(16 * time.Second)
	s.p.DataSent(at(secs(16.2)))
	s.p.PacketReceived(at(secs(16.2)))
	s.runTo(secs(16.3))
	s.expect(act(11*time.Second, SendInitiation, ReasonRekeyAfterMessages),
		act(secs(16.2), SendInitiation, ReasonRekeyAfterMessages))

	// An exhausted counter makes the keypair unusable: once the
	// handshake is given up, the persistent keepalive needs a new one.
	s = newSim(t, Config{})
	s.established(0, false)
	s.p.SetPersistentKeepalive(at(0), 25*time.Second)
	s.runTo(0)
	s.expect(act(0, SendKeepalive, ReasonPersistent))
	s.p.SendCounter(at(10*time.Second), RejectAfterMessages)
	s.runTo(secs(131.9))
	if n := len(s.got); n != 22 ||
		s.got[0] != act(10*time.Second, SendInitiation, ReasonRekeyAfterMessages) ||
		s.got[20] != act(112*time.Second, GiveUp, ReasonMaxAttempts) ||
		s.got[21] != act(secs(131.9), SendInitiation, ReasonNoSession) {
		t.Fatalf("actions: %q", s.got)
	}
}

// With a coarse tick, actions come at the first tick at or after their
// deadline, and a stale observation reported every tick fires nothing
// twice.
func TestCoarseTicks(t *testing.T) {
	s := newSim(t, Config{})
	s.established(0, false)
	s.tickEvery(time.Second, 22*time.Second, func() {
		s.p.DataSent(at(time.Second)) // the same polled timestamp each tick
	})
	s.expect(act(17*time.Second, SendInitiation, ReasonNoReply))

	s = newSim(t, Config{})
	s.p.WantHandshake(at(0))
	s.runTo(0)
	s.tickEvery(time.Second, 13*time.Second, nil)
	s.expect(act(0, SendInitiation, ReasonWanted), act(6*time.Second, SendInitiation, ReasonRetry),
		act(12*time.Second, SendInitiation, ReasonRetry))
}

func TestJitter(t *testing.T) {
	for range 1000 {
		if j := DefaultJitter(); j < 0 || j >= RekeyTimeoutJitterMax {
			t.Fatalf("DefaultJitter() = %v", j)
		}
	}
	for _, tc := range []struct {
		jitter, want time.Duration
	}{
		{10 * time.Second, RekeyTimeout + RekeyTimeoutJitterMax - 1},
		{-time.Second, RekeyTimeout},
	} {
		s := newSim(t, Config{Jitter: func() time.Duration { return tc.jitter }})
		s.p.WantHandshake(at(0))
		s.runTo(0)
		if got := s.p.NextDeadline(); !got.Equal(at(tc.want)) {
			t.Fatalf("jitter %v: retransmission at %v, want %v", tc.jitter, got.Sub(t0), tc.want)
		}
	}
}

func TestNextDeadline(t *testing.T) {
	p := New(Config{})
	if d := p.NextDeadline(); !d.IsZero() {
		t.Fatalf("idle peer has deadline %v", d)
	}
	if acts := p.Tick(at(time.Hour)); acts != nil {
		t.Fatalf("idle peer acted: %v", acts)
	}
	p.WantHandshake(at(time.Second))
	if d := p.NextDeadline(); !d.Equal(at(time.Second)) {
		t.Fatalf("deadline after WantHandshake = %v", d.Sub(t0))
	}
	if acts := p.Tick(at(0)); acts != nil {
		t.Fatalf("acted before the deadline: %v", acts)
	}
}

// TestRekeyAfterTimeOverride: a positive Config.RekeyAfterTime replaces the
// 120 s rule (the test-only fast rekey), and the default stays 120 s.
func TestRekeyAfterTimeOverride(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		override, want time.Duration
	}{{0, RekeyAfterTime}, {3 * time.Second, 3 * time.Second}} {
		p := New(Config{Jitter: func() time.Duration { return 0 }, RekeyAfterTime: c.override})
		p.HandshakeCompleted(t0, true, t0)
		p.Tick(t0)
		p.DataSent(t0.Add(c.want))
		if acts := p.Tick(t0.Add(c.want)); len(acts) != 0 {
			t.Fatalf("override %v: rekey at exactly %v: %v", c.override, c.want, acts)
		}
		p.DataSent(t0.Add(c.want + time.Millisecond))
		acts := p.Tick(t0.Add(c.want + time.Millisecond))
		if len(acts) != 1 || acts[0].Kind != SendInitiation || acts[0].Reason != ReasonRekeyAfterTime {
			t.Fatalf("override %v: after %v got %v, want one rekey initiation", c.override, c.want, acts)
		}
	}
}
