// SPDX-License-Identifier: MIT

package keystore

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/wgbpfd/wgbpfd/handshake"
)

// Errors of the Store.
var (
	ErrIndexInUse       = errors.New("local index already in use")
	ErrUnknownIndex     = errors.New("no keypair with this receiver index")
	ErrNoKeypair        = errors.New("peer has no current keypair")
	ErrKeypairExpired   = errors.New("keypair past REJECT_AFTER_TIME")
	ErrCounterExhausted = errors.New("keypair past REJECT_AFTER_MESSAGES")
	ErrReplay           = errors.New("counter replayed or outside the window")
)

// peerKeypairs are WireGuard's three slots per peer:
//   - current sends (and receives);
//   - previous still receives packets that were in flight during a rotation;
//   - next is a responder's new keypair, which receives but does not send
//     until the initiator proves it has it (key confirmation).
type peerKeypairs struct {
	previous, current, next *Keypair
}

// Store holds every keypair of the daemon, per peer and by local index.
// Its methods are safe for concurrent use. Time is always passed in.
type Store struct {
	mu     sync.Mutex
	mirror Mirror
	peers  map[PeerID]*peerKeypairs
	byIdx  map[uint32]*Keypair
}

// New returns an empty Store that reports its changes to m (nil: nobody).
func New(m Mirror) *Store {
	if m == nil {
		m = noMirror{}
	}
	return &Store{
		mirror: m,
		peers:  make(map[PeerID]*peerKeypairs),
		byIdx:  make(map[uint32]*Keypair),
	}
}

// IndexInUse reports whether a local index names a stored keypair, so the
// handshake can avoid it when it picks a new one.
func (s *Store) IndexInUse(localIndex uint32) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.byIdx[localIndex]
	return ok
}

// Add stores the keypair of a handshake just completed with peer and
// rotates the peer's slots as WireGuard does:
//
//   - initiator (we sent the initiation and got the response): the new
//     keypair is confirmed by the response and becomes current at once; the
//     old current (or an unconfirmed next) becomes previous;
//   - responder: the new keypair becomes next, and current only when a
//     packet arrives on it (Confirm); an older next and the previous
//     keypair are dropped.
//
// The keys are copied and hk's are zeroed. hk.Created is the keypair's
// birth for every lifetime check.
func (s *Store) Add(peer PeerID, suite Suite, hk *handshake.Keypair) error {
	if !suite.Valid() {
		return fmt.Errorf("add keypair for peer %d: %w: %d", peer, ErrUnknownSuite, uint8(suite))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.byIdx[hk.LocalIndex]; ok {
		return fmt.Errorf("add keypair for peer %d: %w: %#08x", peer, ErrIndexInUse, hk.LocalIndex)
	}
	kp := &Keypair{
		peer:        peer,
		suite:       suite,
		send:        hk.Send,
		receive:     hk.Receive,
		localIndex:  hk.LocalIndex,
		remoteIndex: hk.RemoteIndex,
		initiator:   hk.Initiator,
		created:     hk.Created,
	}
	clear(hk.Send[:])
	clear(hk.Receive[:])

	slots := s.peers[peer]
	if slots == nil {
		slots = &peerKeypairs{}
		s.peers[peer] = slots
	}
	s.byIdx[kp.localIndex] = kp
	s.mirror.Install(kp)

	oldPrevious, oldCurrent, oldNext := slots.previous, slots.current, slots.next
	if kp.initiator {
		if oldNext != nil {
			// The unconfirmed next was never used to send; it may still
			// receive a late packet, while the old current is superseded.
			slots.previous, slots.next = oldNext, nil
			s.setCurrent(slots, kp)
			s.drop(oldCurrent)
		} else {
			slots.previous = oldCurrent
			s.setCurrent(slots, kp)
		}
		s.drop(oldPrevious)
		return nil
	}
	slots.next = kp
	slots.previous = nil
	s.drop(oldNext)
	s.drop(oldPrevious)
	return nil
}

// Confirm records that an authenticated packet arrived on localIndex. If
// that is the peer's next keypair, it is confirmed: it becomes current, the
// old current becomes previous and the old previous is dropped. It reports
// whether a promotion happened. The kernel calls for this through the
// daemon; OpenMessage does it itself.
func (s *Store) Confirm(localIndex uint32) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	kp := s.byIdx[localIndex]
	if kp == nil {
		return false
	}
	return s.confirm(kp)
}

func (s *Store) confirm(kp *Keypair) bool {
	slots := s.peers[kp.peer]
	if slots == nil || slots.next != kp {
		return false
	}
	oldPrevious := slots.previous
	slots.previous, slots.next = slots.current, nil
	s.setCurrent(slots, kp)
	s.drop(oldPrevious)
	return true
}

// Expire drops every keypair past REJECT_AFTER_TIME and zeroes its keys.
// Such a keypair can never send or receive again, so nothing is kept for
// it. This is stricter than WireGuard, which zeroes keys only
// ZeroKeysAfterTime (540 s) after the last handshake, and it implies that
// rule: by then every keypair of the handshake has expired. Call it
// periodically and before deciding whether a peer needs a handshake.
func (s *Store) Expire(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for peer, slots := range s.peers {
		if kp := slots.previous; kp != nil && kp.expired(now) {
			slots.previous = nil
			s.drop(kp)
		}
		if kp := slots.next; kp != nil && kp.expired(now) {
			slots.next = nil
			s.drop(kp)
		}
		if kp := slots.current; kp != nil && kp.expired(now) {
			s.setCurrent(slots, nil)
			s.drop(kp)
		}
		if *slots == (peerKeypairs{}) {
			delete(s.peers, peer)
		}
	}
}

// RemovePeer drops and zeroes every keypair of peer (peer removed from the
// configuration, or its handshake state cleared).
func (s *Store) RemovePeer(peer PeerID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.removePeer(peer)
}

// Clear drops and zeroes every keypair, as on shutdown.
func (s *Store) Clear() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for peer := range s.peers {
		s.removePeer(peer)
	}
}

func (s *Store) removePeer(peer PeerID) {
	slots := s.peers[peer]
	if slots == nil {
		return
	}
	previous, current, next := slots.previous, slots.current, slots.next
	slots.previous, slots.next = nil, nil
	if current != nil {
		s.setCurrent(slots, nil)
	}
	s.drop(previous)
	s.drop(current)
	s.drop(next)
	delete(s.peers, peer)
}

// setCurrent changes a peer's current slot and tells the mirror.
func (s *Store) setCurrent(slots *peerKeypairs, kp *Keypair) {
	var peer PeerID
	switch {
	case kp != nil:
		peer = kp.peer
	case slots.current != nil:
		peer = slots.current.peer
	default:
		return
	}
	slots.current = kp
	s.mirror.SetCurrent(peer, kp)
}

// drop removes a keypair from the index table and the kernel and zeroes it.
// nil is ignored so that rotations can drop whatever a slot held.
func (s *Store) drop(kp *Keypair) {
	if kp == nil || kp.dropped {
		return
	}
	delete(s.byIdx, kp.localIndex)
	s.mirror.Remove(kp.localIndex)
	kp.zero()
}
