// SPDX-License-Identifier: MIT

package keystore

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wgbpfd/wgbpfd/handshake"
)

// recordingMirror logs every call and keeps the installed keypairs, as the
// kernel would.
type recordingMirror struct {
	log       []string
	installed map[uint32]*Keypair
	current   map[PeerID]uint32
}

func newRecordingMirror() *recordingMirror {
	return &recordingMirror{installed: map[uint32]*Keypair{}, current: map[PeerID]uint32{}}
}

func (m *recordingMirror) Install(kp *Keypair) {
	// The keys must be readable now.
	if isZero(kp.SendKey()[:]) || isZero(kp.ReceiveKey()[:]) {
		m.log = append(m.log, "install-without-keys")
	}
	m.installed[kp.LocalIndex()] = kp
	m.log = append(m.log, fmt.Sprintf("install %d", kp.LocalIndex()))
}

func (m *recordingMirror) SetCurrent(peer PeerID, kp *Keypair) {
	if kp == nil {
		delete(m.current, peer)
		m.log = append(m.log, fmt.Sprintf("current %d none", peer))
		return
	}
	if m.installed[kp.LocalIndex()] != kp {
		m.log = append(m.log, "current-before-install")
	}
	m.current[peer] = kp.LocalIndex()
	m.log = append(m.log, fmt.Sprintf("current %d %d", peer, kp.LocalIndex()))
}

func (m *recordingMirror) Remove(localIndex uint32) {
	for _, cur := range m.current {
		if cur == localIndex {
			m.log = append(m.log, "remove-of-current")
		}
	}
	delete(m.installed, localIndex)
	m.log = append(m.log, fmt.Sprintf("remove %d", localIndex))
}

func (m *recordingMirror) take() []string {
	l := m.log
	m.log = nil
	return l
}

var epoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// handshakeResult is our side of a handshake with local index idx; the
// peer's keys are the mirror image (see peerSide).
func handshakeResult(idx uint32, initiator bool, created time.Time) *handshake.Keypair {
	hk := &handshake.Keypair{LocalIndex: idx, RemoteIndex: idx + 1000, Initiator: initiator, Created: created}
	for i := range hk.Send {
		hk.Send[i] = byte(idx) + byte(i)
		hk.Receive[i] = byte(idx) ^ 0xa5 + byte(i)
	}
	return hk
}

// peerSeal builds the message the peer sends us on the keypair we know as
// local index idx: sealed with our receive key, addressed to idx.
func peerSeal(suite Suite, idx uint32, counter uint64, plaintext []byte) []byte {
	hk := handshakeResult(idx, false, epoch)
	return SealMessage(suite, &hk.Receive, idx, counter, plaintext, 1420)
}

// peerOpen opens a message we sent on local index idx, as the peer would.
func peerOpen(t *testing.T, suite Suite, idx uint32, msg []byte) (counter uint64, padded []byte) {
	t.Helper()
	hk := handshakeResult(idx, false, epoch)
	rx, counter, padded, err := OpenMessage(suite, &hk.Send, nil, msg)
	if err != nil {
		t.Fatalf("peer cannot open our message on index %d: %v", idx, err)
	}
	if rx != hk.RemoteIndex {
		t.Fatalf("message addressed to %d, want the remote index %d", rx, hk.RemoteIndex)
	}
	return counter, padded
}

func mustAdd(t *testing.T, s *Store, peer PeerID, suite Suite, idx uint32, initiator bool, created time.Time) {
	t.Helper()
	if err := s.Add(peer, suite, handshakeResult(idx, initiator, created)); err != nil {
		t.Fatal(err)
	}
}

// sendsOn reports which local index the peer's current keypair sends with.
func sendsOn(t *testing.T, s *Store, peer PeerID, suite Suite, now time.Time) uint32 {
	t.Helper()
	msg, err := s.SealMessage(peer, []byte("ping"), 1420, now)
	if err != nil {
		t.Fatalf("peer %d cannot send: %v", peer, err)
	}
	_, rx, _, _, _ := ParseDataHeader(msg)
	idx := rx - 1000
	peerOpen(t, suite, idx, msg)
	return idx
}

func TestInitiatorRotation(t *testing.T) {
	m := newRecordingMirror()
	s := New(m)
	const peer = 7
	mustAdd(t, s, peer, SuiteAESCBC, 1, true, epoch)
	if got := m.take(); !slices.Equal(got, []string{"install 1", "current 7 1"}) {
		t.Fatalf("first handshake: %q", got)
	}
	if kp := m.installed[1]; kp.Peer() != peer || kp.Suite() != SuiteAESCBC || kp.RemoteIndex() != 1001 ||
		!kp.Initiator() || !kp.Created().Equal(epoch) || *kp.SendKey() != handshakeResult(1, true, epoch).Send {
		t.Fatalf("installed keypair does not describe the handshake: %v", kp)
	}
	if sendsOn(t, s, peer, SuiteAESCBC, epoch) != 1 {
		t.Fatal("not sending on the first keypair")
	}
	mustAdd(t, s, peer, SuiteAESCBC, 2, true, epoch.Add(time.Minute))
	if got := m.take(); !slices.Equal(got, []string{"install 2", "current 7 2"}) {
		t.Fatalf("second handshake: %q", got)
	}
	// 1 is previous now: still receives, no longer sends.
	if p, _, err := s.OpenMessage(peerSeal(SuiteAESCBC, 1, 9, []byte("late")), epoch.Add(time.Minute)); err != nil || p != peer {
		t.Fatalf("previous keypair does not receive: %v", err)
	}
	if sendsOn(t, s, peer, SuiteAESCBC, epoch.Add(time.Minute)) != 2 {
		t.Fatal("not sending on the new keypair")
	}
	old := m.installed[1]
	mustAdd(t, s, peer, SuiteAESCBC, 3, true, epoch.Add(2*time.Minute))
	if got := m.take(); !slices.Equal(got, []string{"install 3", "current 7 3", "remove 1"}) {
		t.Fatalf("third handshake: %q", got)
	}
	if !isZero(old.SendKey()[:]) || !isZero(old.ReceiveKey()[:]) {
		t.Fatal("dropped keypair not zeroed")
	}
	if s.IndexInUse(1) || !s.IndexInUse(2) || !s.IndexInUse(3) {
		t.Fatal("index table does not match the slots")
	}
	if _, _, err := s.OpenMessage(peerSeal(SuiteAESCBC, 1, 10, nil), epoch.Add(2*time.Minute)); !errors.Is(err, ErrUnknownIndex) {
		t.Fatalf("dropped keypair still receives: %v", err)
	}
}

func TestResponderConfirmation(t *testing.T) {
	m := newRecordingMirror()
	s := New(m)
	const peer = 3
	suite := SuiteChaCha20Poly1305
	mustAdd(t, s, peer, suite, 10, true, epoch)
	mustAdd(t, s, peer, suite, 11, true, epoch) // 10 becomes previous
	m.take()

	// The peer initiates: our new keypair waits in next.
	mustAdd(t, s, peer, suite, 12, false, epoch.Add(time.Second))
	if got := m.take(); !slices.Equal(got, []string{"install 12", "remove 10"}) {
		t.Fatalf("responder handshake: %q", got)
	}
	if sendsOn(t, s, peer, suite, epoch.Add(time.Second)) != 11 {
		t.Fatal("unconfirmed keypair used to send")
	}
	if s.Confirm(11) {
		t.Fatal("Confirm of the current keypair promoted something")
	}
	// A packet on it confirms it.
	now := epoch.Add(2 * time.Second)
	p, padded, err := s.OpenMessage(peerSeal(suite, 12, 0, []byte("hello")), now)
	if err != nil || p != peer || !bytes.HasPrefix(padded, []byte("hello")) {
		t.Fatalf("open on next: %d %q %v", p, padded, err)
	}
	if got := m.take(); !slices.Equal(got, []string{"current 3 12"}) {
		t.Fatalf("confirmation: %q", got)
	}
	if sendsOn(t, s, peer, suite, now) != 12 {
		t.Fatal("confirmed keypair not current")
	}
	// 11 is previous: it still receives.
	if _, _, err := s.OpenMessage(peerSeal(suite, 11, 50, nil), now); err != nil {
		t.Fatalf("previous after confirmation: %v", err)
	}
	// Confirm through the kernel path: a second responder keypair.
	mustAdd(t, s, peer, suite, 13, false, now)
	if !s.Confirm(13) || s.Confirm(13) {
		t.Fatal("Confirm did not promote exactly once")
	}
	if got := m.take(); !slices.Equal(got, []string{"install 13", "remove 11", "current 3 13"}) {
		t.Fatalf("kernel confirmation: %q", got)
	}
}

func TestResponderReplacedBeforeConfirmation(t *testing.T) {
	m := newRecordingMirror()
	s := New(m)
	mustAdd(t, s, 1, SuiteAESCBC, 20, false, epoch)
	mustAdd(t, s, 1, SuiteAESCBC, 21, false, epoch)
	if got := m.take(); !slices.Equal(got, []string{"install 20", "install 21", "remove 20"}) {
		t.Fatalf("%q", got)
	}
	if s.CanSend(1, epoch) {
		t.Fatal("a responder with only an unconfirmed keypair can send")
	}
	if _, err := s.SealMessage(1, nil, 1420, epoch); !errors.Is(err, ErrNoKeypair) {
		t.Fatalf("seal without current: %v", err)
	}
	// We initiate while 21 is unconfirmed: ours becomes current, 21 previous.
	mustAdd(t, s, 1, SuiteAESCBC, 22, true, epoch)
	if got := m.take(); !slices.Equal(got, []string{"install 22", "current 1 22"}) {
		t.Fatalf("%q", got)
	}
	if _, _, err := s.OpenMessage(peerSeal(SuiteAESCBC, 21, 0, nil), epoch); err != nil {
		t.Fatalf("old next as previous does not receive: %v", err)
	}
	if sendsOn(t, s, 1, SuiteAESCBC, epoch) != 22 {
		t.Fatal("a packet on previous changed the current keypair")
	}
	// Now with a current and a next, an initiation drops the old current.
	mustAdd(t, s, 1, SuiteAESCBC, 23, false, epoch)
	mustAdd(t, s, 1, SuiteAESCBC, 24, true, epoch)
	if got := m.take(); !slices.Equal(got, []string{"install 23", "remove 21", "install 24", "current 1 24", "remove 22"}) {
		t.Fatalf("%q", got)
	}
}

func TestExpiryAndZeroing(t *testing.T) {
	m := newRecordingMirror()
	s := New(m)
	mustAdd(t, s, 1, SuiteAESCBC, 30, true, epoch)
	mustAdd(t, s, 1, SuiteAESCBC, 31, true, epoch.Add(60*time.Second))
	mustAdd(t, s, 2, SuiteChaCha20Poly1305, 40, true, epoch)
	mustAdd(t, s, 3, SuiteAESCBC, 50, false, epoch) // never confirmed
	m.take()
	kps := map[uint32]*Keypair{30: m.installed[30], 31: m.installed[31], 40: m.installed[40], 50: m.installed[50]}

	justBefore := epoch.Add(RejectAfterTime - time.Nanosecond)
	s.Expire(justBefore)
	if got := m.take(); len(got) != 0 {
		t.Fatalf("expired too early: %q", got)
	}
	if !s.CanSend(2, justBefore) {
		t.Fatal("keypair cannot send just before REJECT_AFTER_TIME")
	}
	at := epoch.Add(RejectAfterTime)
	if s.CanSend(2, at) {
		t.Fatal("keypair can send at REJECT_AFTER_TIME")
	}
	if _, err := s.SealMessage(2, nil, 1420, at); !errors.Is(err, ErrKeypairExpired) {
		t.Fatalf("seal at REJECT_AFTER_TIME: %v", err)
	}
	if _, _, err := s.OpenMessage(peerSeal(SuiteChaCha20Poly1305, 40, 1, nil), at); !errors.Is(err, ErrKeypairExpired) {
		t.Fatalf("open at REJECT_AFTER_TIME: %v", err)
	}
	s.Expire(at)
	got := m.take()
	slices.Sort(got)
	if !slices.Equal(got, []string{"current 2 none", "remove 30", "remove 40", "remove 50"}) {
		t.Fatalf("expiry at 180 s: %q", got)
	}
	for _, idx := range []uint32{30, 40, 50} {
		if !isZero(kps[idx].send[:]) || !isZero(kps[idx].receive[:]) {
			t.Fatalf("expired keypair %d not zeroed", idx)
		}
	}
	if isZero(kps[31].send[:]) || !s.IndexInUse(31) {
		t.Fatal("live keypair zeroed")
	}
	if sendsOn(t, s, 1, SuiteAESCBC, at) != 31 {
		t.Fatal("peer 1 lost its live keypair")
	}
	// ZeroKeysAfterTime after the last handshake nothing is left.
	s.Expire(epoch.Add(60*time.Second + ZeroKeysAfterTime))
	for idx, kp := range kps {
		if !isZero(kp.send[:]) || !isZero(kp.receive[:]) || s.IndexInUse(idx) {
			t.Fatalf("keypair %d survives 540 s after the last handshake", idx)
		}
	}
	if len(s.peers) != 0 || len(s.byIdx) != 0 || len(m.installed) != 0 || len(m.current) != 0 {
		t.Fatalf("state left: %d peers, %d indices, kernel %d sessions %d current",
			len(s.peers), len(s.byIdx), len(m.installed), len(m.current))
	}
}

func TestAddZeroesAndRejects(t *testing.T) {
	s := New(nil)
	hk := handshakeResult(5, true, epoch)
	if err := s.Add(1, SuiteAESCBC, hk); err != nil {
		t.Fatal(err)
	}
	if !isZero(hk.Send[:]) || !isZero(hk.Receive[:]) {
		t.Fatal("Add left the handshake's copy of the keys")
	}
	dup := handshakeResult(5, false, epoch)
	if err := s.Add(2, SuiteAESCBC, dup); !errors.Is(err, ErrIndexInUse) {
		t.Fatalf("duplicate index: %v", err)
	}
	if isZero(dup.Send[:]) {
		t.Fatal("a refused keypair was zeroed; the caller may retry with another index")
	}
	if err := s.Add(2, Suite(0), handshakeResult(6, true, epoch)); !errors.Is(err, ErrUnknownSuite) {
		t.Fatalf("unknown suite: %v", err)
	}
	if s.IndexInUse(6) {
		t.Fatal("refused keypair was stored")
	}
}

func TestRemovePeerAndClear(t *testing.T) {
	m := newRecordingMirror()
	s := New(m)
	mustAdd(t, s, 1, SuiteAESCBC, 1, true, epoch)
	mustAdd(t, s, 1, SuiteAESCBC, 2, true, epoch)
	kps := []*Keypair{m.installed[1]}
	mustAdd(t, s, 1, SuiteAESCBC, 3, false, epoch) // previous (1) dropped
	mustAdd(t, s, 2, SuiteAESCBC, 4, true, epoch)
	kps = append(kps, m.installed[2], m.installed[3], m.installed[4])
	m.take()
	s.RemovePeer(1)
	got := m.take()
	if !slices.Equal(got, []string{"current 1 none", "remove 2", "remove 3"}) {
		t.Fatalf("RemovePeer: %q", got)
	}
	if isZero(kps[3].send[:]) || !s.CanSend(2, epoch) {
		t.Fatal("RemovePeer touched another peer")
	}
	s.Clear()
	for i, kp := range kps {
		if !isZero(kp.send[:]) || !isZero(kp.receive[:]) {
			t.Fatalf("keypair %d not zeroed after Clear", i)
		}
	}
	if len(m.installed) != 0 || s.CanSend(2, epoch) {
		t.Fatal("Clear left keypairs")
	}
}

func TestSendCounters(t *testing.T) {
	s := New(nil)
	mustAdd(t, s, 1, SuiteChaCha20Poly1305, 1, true, epoch)
	for want := range uint64(3) {
		msg, err := s.SealMessage(1, []byte{byte(want)}, 1420, epoch)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := peerOpen(t, SuiteChaCha20Poly1305, 1, msg); got != want {
			t.Fatalf("counter %d, want %d", got, want)
		}
	}
	if !s.SyncSendCounter(1, 1000) || s.SyncSendCounter(99, 1) {
		t.Fatal("SyncSendCounter reports the wrong keypair")
	}
	s.SyncSendCounter(1, 10) // never lowers
	msg, _ := s.SealMessage(1, nil, 1420, epoch)
	if got, _ := peerOpen(t, SuiteChaCha20Poly1305, 1, msg); got != 1000 {
		t.Fatalf("counter after sync %d, want 1000", got)
	}
	// The last counter WireGuard allows, then nothing.
	s.SyncSendCounter(1, RejectAfterMessages-1)
	msg, err := s.SealMessage(1, nil, 1420, epoch)
	if err != nil {
		t.Fatalf("last counter refused: %v", err)
	}
	if got, _ := peerOpen(t, SuiteChaCha20Poly1305, 1, msg); got != RejectAfterMessages-1 {
		t.Fatalf("last counter %d", got)
	}
	if _, err := s.SealMessage(1, nil, 1420, epoch); !errors.Is(err, ErrCounterExhausted) {
		t.Fatalf("seal past REJECT_AFTER_MESSAGES: %v", err)
	}
	if s.CanSend(1, epoch) {
		t.Fatal("CanSend with an exhausted counter")
	}
}

func TestOpenChecks(t *testing.T) {
	s := New(nil)
	mustAdd(t, s, 1, SuiteAESCBC, 1, true, epoch)
	open := func(msg []byte) error { _, _, err := s.OpenMessage(msg, epoch); return err }

	if err := open(peerSeal(SuiteAESCBC, 1, 5, []byte("a"))); err != nil {
		t.Fatal(err)
	}
	if err := open(peerSeal(SuiteAESCBC, 1, 5, []byte("a"))); !errors.Is(err, ErrReplay) {
		t.Fatalf("replay: %v", err)
	}
	// A forgery with a fresh counter must not burn that counter.
	forged := peerSeal(SuiteAESCBC, 1, 6, []byte("b"))
	forged[len(forged)-1] ^= 1
	if err := open(forged); !errors.Is(err, ErrAuthentication) {
		t.Fatalf("forgery: %v", err)
	}
	if err := open(peerSeal(SuiteAESCBC, 1, 6, []byte("b"))); err != nil {
		t.Fatalf("genuine counter 6 after a forgery with it: %v", err)
	}
	if err := open(peerSeal(SuiteAESCBC, 1, 4, nil)); err != nil {
		t.Fatalf("out of order: %v", err)
	}
	if err := open(peerSeal(SuiteAESCBC, 1, RejectAfterMessages, nil)); !errors.Is(err, ErrCounterExhausted) {
		t.Fatalf("counter at REJECT_AFTER_MESSAGES: %v", err)
	}
	if err := open(peerSeal(SuiteChaCha20Poly1305, 1, 7, nil)); !errors.Is(err, ErrSuiteMismatch) {
		t.Fatalf("other suite: %v", err)
	}
	if err := open(peerSeal(SuiteAESCBC, 9, 7, nil)); !errors.Is(err, ErrUnknownIndex) {
		t.Fatalf("unknown index: %v", err)
	}
	if err := open([]byte{4, 0, 0}); !errors.Is(err, ErrShortMessage) {
		t.Fatalf("short: %v", err)
	}
}

func TestNeedsRekey(t *testing.T) {
	s := New(nil)
	if !s.NeedsRekeyOnSend(1, epoch) || s.NeedsRekeyOnReceive(1, epoch) {
		t.Fatal("peer without keypair")
	}
	mustAdd(t, s, 1, SuiteAESCBC, 1, true, epoch)
	mustAdd(t, s, 2, SuiteAESCBC, 2, false, epoch)
	s.Confirm(2)
	for _, c := range []struct {
		peer       PeerID
		after      time.Duration
		send, recv bool
	}{
		{1, RekeyAfterTime, false, false},
		{1, RekeyAfterTime + time.Nanosecond, true, false},
		{1, RekeyOnReceiveAfter, true, false},
		{1, RekeyOnReceiveAfter + time.Nanosecond, true, true},
		{2, RekeyOnReceiveAfter + time.Second, false, false}, // responders never rekey on time
	} {
		now := epoch.Add(c.after)
		if got := s.NeedsRekeyOnSend(c.peer, now); got != c.send {
			t.Errorf("peer %d after %v: NeedsRekeyOnSend = %v", c.peer, c.after, got)
		}
		if got := s.NeedsRekeyOnReceive(c.peer, now); got != c.recv {
			t.Errorf("peer %d after %v: NeedsRekeyOnReceive = %v", c.peer, c.after, got)
		}
	}
	s.SyncSendCounter(2, RekeyAfterMessages)
	if s.NeedsRekeyOnSend(2, epoch) {
		t.Fatal("rekey at exactly REKEY_AFTER_MESSAGES")
	}
	s.SyncSendCounter(2, RekeyAfterMessages+1)
	if !s.NeedsRekeyOnSend(2, epoch) {
		t.Fatal("no rekey past REKEY_AFTER_MESSAGES")
	}
}

func TestNoKeyMaterialInStrings(t *testing.T) {
	m := newRecordingMirror()
	s := New(m)
	hk := handshakeResult(1, true, epoch)
	keys := []string{hex.EncodeToString(hk.Send[:]), hex.EncodeToString(hk.Receive[:]), string(hk.Send[:]), string(hk.Receive[:])}
	mustAdd(t, s, 1, SuiteAESCBC, 1, true, epoch)
	kp := m.installed[1]
	_, _, err := s.OpenMessage(peerSeal(SuiteChaCha20Poly1305, 1, 1, nil), epoch)
	out := fmt.Sprintf("%v %+v %#v %s %x %v", kp, kp, kp, kp, kp, err)
	for _, k := range keys {
		if strings.Contains(out, k) {
			t.Fatalf("key material in %q", out)
		}
	}
	if !strings.Contains(out, "aes-cbc") {
		t.Fatalf("description lacks the suite: %q", out)
	}
}

// TestConcurrentUse runs the Store's methods from several goroutines; run
// with -race it proves the locking.
func TestConcurrentUse(t *testing.T) {
	s := New(newRecordingMirror())
	done := make(chan struct{})
	for g := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 200 {
				idx := uint32(g*1000 + i)
				now := epoch.Add(time.Duration(i) * time.Second)
				_ = s.Add(PeerID(g%2), SuiteChaCha20Poly1305, handshakeResult(idx, i%3 != 0, now))
				s.SealMessage(PeerID(g%2), []byte("x"), 1420, now)
				s.OpenMessage(peerSeal(SuiteChaCha20Poly1305, idx, uint64(i), nil), now)
				s.Confirm(idx)
				s.Expire(now)
				s.NeedsRekeyOnSend(PeerID(g%2), now)
			}
		}()
	}
	for range 4 {
		<-done
	}
	s.Clear()
	if len(s.byIdx) != 0 || len(s.peers) != 0 {
		t.Fatal("Clear left keypairs")
	}
}
