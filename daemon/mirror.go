// SPDX-License-Identifier: MIT

package daemon

import (
	"errors"
	"log/slog"

	"github.com/wgbpfd/wgbpfd/handshake"
	"github.com/wgbpfd/wgbpfd/keystore"
)

// sessionMirror keeps the kernel's sessions and per-peer slots in step with
// the keystore, which calls it with its lock held, in order. Errors cannot
// be returned through keystore.Mirror, so they are logged and counted: a
// session the kernel lacks sends its packets to the slow path, where the
// daemon handles them with the keystore itself.
type sessionMirror struct {
	k       kernel
	indices *handshake.Indices
	log     *slog.Logger
	slots   map[keystore.PeerID]*slotIndices
	owners  map[uint32]keystore.PeerID // local index → peer, for Remove
	errors  uint64
	// released: the process is handing the data plane over; the kernel's
	// sessions are the successor's and stay.
	released bool
}

// release stops the mirror from changing the kernel.
func (m *sessionMirror) release() { m.released = true }

type slotIndices struct{ current, previous, next uint32 }

func newSessionMirror(k kernel, indices *handshake.Indices, log *slog.Logger) *sessionMirror {
	return &sessionMirror{k: k, indices: indices, log: log, slots: make(map[keystore.PeerID]*slotIndices), owners: make(map[uint32]keystore.PeerID)}
}

func (m *sessionMirror) slot(p keystore.PeerID) *slotIndices {
	s := m.slots[p]
	if s == nil {
		s = &slotIndices{}
		m.slots[p] = s
	}
	return s
}

// Install implements keystore.Mirror.
func (m *sessionMirror) Install(kp *keystore.Keypair) {
	ks := kernelSession{
		Suite:       uint8(kp.Suite()),
		LocalIndex:  kp.LocalIndex(),
		RemoteIndex: kp.RemoteIndex(),
		PeerID:      uint32(kp.Peer()),
		Initiator:   kp.Initiator(),
		Send:        *kp.SendKey(),
		Receive:     *kp.ReceiveKey(),
	}
	err := m.k.InstallSession(ks)
	clear(ks.Send[:])
	clear(ks.Receive[:])
	if err != nil {
		m.fail("install session", kp, err)
		return
	}
	m.owners[kp.LocalIndex()] = kp.Peer()
	if !kp.Initiator() {
		// A responder's keypair waits as "next" until the initiator proves
		// it has it; the kernel promotes it on the first packet.
		s := m.slot(kp.Peer())
		s.next = kp.LocalIndex()
		m.push(kp.Peer())
	}
}

// CommitReceive implements keystore.ReceiveWindow: the kernel's window is
// the one every receive path shares. A kernel that cannot be asked refuses
// the counter (fail closed) and is counted like any other mirror failure.
func (m *sessionMirror) CommitReceive(idx uint32, counter uint64) (accepted, held bool) {
	err := m.k.CommitReceive(idx, counter)
	switch {
	case err == nil:
		return true, true
	case errors.Is(err, errKernelReplay):
		return false, true
	case errors.Is(err, errKernelNoSession):
		return false, false
	}
	m.errors++
	m.log.Warn("committing a received counter to the kernel", "index", idx, "err", err)
	return false, true
}

// SetCurrent implements keystore.Mirror.
func (m *sessionMirror) SetCurrent(p keystore.PeerID, kp *keystore.Keypair) {
	s := m.slot(p)
	if kp == nil {
		s.current = 0
	} else {
		idx := kp.LocalIndex()
		if s.current != idx {
			s.previous = s.current
		}
		if s.next == idx {
			s.next = 0
		}
		s.current = idx
	}
	m.push(p)
}

// Remove implements keystore.Mirror.
func (m *sessionMirror) Remove(localIndex uint32) {
	if m.released {
		m.indices.Free(localIndex)
		return
	}
	if p, ok := m.owners[localIndex]; ok {
		delete(m.owners, localIndex)
		if s := m.slots[p]; s != nil {
			changed := false
			for _, f := range []*uint32{&s.current, &s.previous, &s.next} {
				if *f == localIndex {
					*f = 0
					changed = true
				}
			}
			if changed {
				m.push(p)
			}
		}
	}
	if err := m.k.RemoveSession(localIndex); err != nil {
		m.errors++
		m.log.Warn("removing session from the data plane", "index", localIndex, "err", err)
	}
	m.indices.Free(localIndex)
}

// active reports whether the peer has any session in the kernel, i.e.
// whether the data plane can have counted packets for it.
func (m *sessionMirror) active(p keystore.PeerID) bool {
	s := m.slots[p]
	return s != nil && (s.current != 0 || s.previous != 0 || s.next != 0)
}

// current returns the peer's current local index (0: none).
func (m *sessionMirror) current(p keystore.PeerID) uint32 {
	if s := m.slots[p]; s != nil {
		return s.current
	}
	return 0
}

func (m *sessionMirror) forget(p keystore.PeerID) { delete(m.slots, p) }

func (m *sessionMirror) push(p keystore.PeerID) {
	if m.released {
		return
	}
	s := m.slots[p]
	if err := m.k.SetPeerSessions(uint32(p), s.current, s.previous, s.next); err != nil {
		m.errors++
		m.log.Warn("updating peer sessions in the data plane", "peer", uint32(p), "err", err)
	}
}

func (m *sessionMirror) fail(what string, kp *keystore.Keypair, err error) {
	m.errors++
	m.log.Warn(what, "keypair", kp.String(), "err", err)
}
