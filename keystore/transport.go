// SPDX-License-Identifier: MIT

package keystore

import (
	"fmt"
	"time"
)

// The Store's own data path: the packets the daemon seals and opens in
// userspace (keepalives, packets queued during a handshake, anything the
// kernel passed up), with WireGuard's counter and lifetime rules.
//
// The kernel keeps its own send counter per session (wg_session.send_counter).
// When the kernel and userspace both send on one keypair, the daemon must
// keep the two apart, e.g. by raising the Store's counter past the kernel's
// with SyncSendCounter before it seals here.

// SealMessage seals plaintext into a data message to peer with its current
// keypair and the next send counter. It fails with ErrNoKeypair,
// ErrKeypairExpired or ErrCounterExhausted; then the peer needs a handshake.
func (s *Store) SealMessage(peer PeerID, plaintext []byte, mtu int, now time.Time) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	slots := s.peers[peer]
	if slots == nil || slots.current == nil {
		return nil, fmt.Errorf("seal for peer %d: %w", peer, ErrNoKeypair)
	}
	kp := slots.current
	if kp.expired(now) {
		return nil, fmt.Errorf("seal for peer %d: %w", peer, ErrKeypairExpired)
	}
	if kp.sendCounter >= RejectAfterMessages {
		return nil, fmt.Errorf("seal for peer %d: %w", peer, ErrCounterExhausted)
	}
	counter := kp.sendCounter
	kp.sendCounter++
	return SealMessage(kp.suite, &kp.send, kp.remoteIndex, counter, plaintext, mtu), nil
}

// OpenMessage authenticates a data message on whichever stored keypair its
// receiver index names and returns the peer and the padded plaintext. The
// counter must be below REJECT_AFTER_MESSAGES and new to the keypair's
// replay window; the window moves only after the tag verified. A packet on
// a peer's next keypair confirms it (see Confirm).
func (s *Store) OpenMessage(msg []byte, now time.Time) (PeerID, []byte, error) {
	suite, receiver, counter, payload, err := ParseDataHeader(msg)
	if err != nil {
		return 0, nil, fmt.Errorf("open: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	kp := s.byIdx[receiver]
	if kp == nil {
		return 0, nil, fmt.Errorf("open: %w: %#08x", ErrUnknownIndex, receiver)
	}
	if suite != kp.suite {
		return 0, nil, fmt.Errorf("open on %s: %w: message is %s", kp, ErrSuiteMismatch, suite)
	}
	if kp.expired(now) {
		return 0, nil, fmt.Errorf("open on %s: %w", kp, ErrKeypairExpired)
	}
	if counter >= RejectAfterMessages {
		return 0, nil, fmt.Errorf("open on %s: %w", kp, ErrCounterExhausted)
	}
	padded, err := OpenPayload(kp.suite, &kp.receive, counter, nil, payload)
	if err != nil {
		return 0, nil, fmt.Errorf("open on %s: %w", kp, err)
	}
	if !s.commitReceive(kp, counter) {
		clear(padded)
		return 0, nil, fmt.Errorf("open on %s: %w: counter %d", kp, ErrReplay, counter)
	}
	s.confirm(kp)
	return kp.peer, padded, nil
}

// commitReceive marks counter as received on kp after its message
// authenticated: in the kernel's window if the kernel holds the keypair,
// else in the Store's own. It reports whether the counter was new.
func (s *Store) commitReceive(kp *Keypair, counter uint64) bool {
	if w, ok := s.mirror.(ReceiveWindow); ok {
		if accepted, held := w.CommitReceive(kp.localIndex, counter); held {
			return accepted
		}
	}
	return kp.replay.ValidateCounter(counter, RejectAfterMessages)
}

// SyncSendCounter raises the send counter of the keypair with localIndex to
// at least next (never lowers it), e.g. to the kernel's counter. It reports
// whether the keypair exists.
func (s *Store) SyncSendCounter(localIndex uint32, next uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	kp := s.byIdx[localIndex]
	if kp == nil {
		return false
	}
	kp.sendCounter = max(kp.sendCounter, next)
	return true
}

// CanSend reports whether peer has a current keypair that may still send.
func (s *Store) CanSend(peer PeerID, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	kp := s.current(peer)
	return kp != nil && !kp.expired(now) && kp.sendCounter < RejectAfterMessages
}

// NeedsRekeyOnSend is WireGuard's check after sending: a new handshake is
// due when the current keypair has sent more than REKEY_AFTER_MESSAGES, or
// we initiated it more than REKEY_AFTER_TIME ago (only the initiator rekeys
// on time, so both ends do not start at once). No keypair: true.
func (s *Store) NeedsRekeyOnSend(peer PeerID, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	kp := s.current(peer)
	if kp == nil {
		return true
	}
	return kp.sendCounter > RekeyAfterMessages ||
		(kp.initiator && now.Sub(kp.created) > RekeyAfterTime)
}

// NeedsRekeyOnReceive is WireGuard's check after receiving: an initiator
// whose current keypair is older than RekeyOnReceiveAfter (165 s) starts a
// handshake so that the session does not expire while traffic flows only
// towards us.
func (s *Store) NeedsRekeyOnReceive(peer PeerID, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	kp := s.current(peer)
	return kp != nil && kp.initiator && now.Sub(kp.created) > RekeyOnReceiveAfter
}

func (s *Store) current(peer PeerID) *Keypair {
	if slots := s.peers[peer]; slots != nil {
		return slots.current
	}
	return nil
}
