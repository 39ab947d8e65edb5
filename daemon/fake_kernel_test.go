// SPDX-License-Identifier: MIT

package daemon

import (
	"errors"
	"maps"
	"net/netip"
	"sync"

	"github.com/wgbpfd/wgbpfd/keystore"
	"github.com/wgbpfd/wgbpfd/keystore/replay"
)

// fakeKernel is an in-memory data plane: it records what the daemon mirrors
// into the kernel so tests can check it without root.
type fakeKernel struct {
	mu       sync.Mutex
	sessions map[uint32]kernelSession
	counters map[uint32]uint64
	windows  map[uint32]*replay.Filter // receive windows, by session
	peers    map[uint32]fakePeer
	allowed  map[netip.Prefix]uint32
	stats    map[uint32]peerStats
	drops    map[string]uint64 // what Drops reports
	queues   map[string]uint64 // what QueueDrops reports
}

type fakePeer struct {
	endpoint                netip.AddrPort
	current, previous, next uint32
}

func newFakeKernel() *fakeKernel {
	return &fakeKernel{
		sessions: map[uint32]kernelSession{},
		counters: map[uint32]uint64{},
		windows:  map[uint32]*replay.Filter{},
		peers:    map[uint32]fakePeer{},
		allowed:  map[netip.Prefix]uint32{},
		stats:    map[uint32]peerStats{},
	}
}

func (k *fakeKernel) InstallSession(s kernelSession) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.sessions[s.LocalIndex] = s
	k.counters[s.LocalIndex] = 0
	return nil
}

func (k *fakeKernel) RemoveSession(idx uint32) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, ok := k.sessions[idx]; !ok {
		return errors.New("no such session")
	}
	delete(k.sessions, idx)
	delete(k.counters, idx)
	delete(k.windows, idx)
	return nil
}

func (k *fakeKernel) ReserveCounters(idx uint32, n uint64) (uint64, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, ok := k.sessions[idx]; !ok {
		return 0, errors.New("no such session")
	}
	first := k.counters[idx]
	k.counters[idx] += n
	return first, nil
}

// CommitReceive keeps a window per session, as the data plane does.
func (k *fakeKernel) CommitReceive(idx uint32, counter uint64) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, ok := k.sessions[idx]; !ok {
		return errKernelNoSession
	}
	w := k.windows[idx]
	if w == nil {
		w = &replay.Filter{}
		k.windows[idx] = w
	}
	if !w.ValidateCounter(counter, keystore.RejectAfterMessages) {
		return errKernelReplay
	}
	return nil
}

func (k *fakeKernel) SetPeer(id uint32, ep netip.AddrPort) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	p := k.peers[id]
	p.endpoint = ep
	k.peers[id] = p
	return nil
}

func (k *fakeKernel) DeletePeer(id uint32) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.peers, id)
	return nil
}

func (k *fakeKernel) SetPeerSessions(id, cur, prev, next uint32) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	p := k.peers[id]
	p.current, p.previous, p.next = cur, prev, next
	k.peers[id] = p
	return nil
}

func (k *fakeKernel) AddAllowedIP(p netip.Prefix, id uint32) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.allowed[p] = id
	return nil
}

func (k *fakeKernel) RemoveAllowedIP(p netip.Prefix) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.allowed, p)
	return nil
}

func (k *fakeKernel) PeerStats(id uint32) (peerStats, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.stats[id], nil
}

func (k *fakeKernel) Drops() (map[string]uint64, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return maps.Clone(k.drops), nil
}

func (k *fakeKernel) ChaChaBackend() string { return "bpf" }

func (k *fakeKernel) QueueDrops() (map[string]uint64, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return maps.Clone(k.queues), nil
}

func (k *fakeKernel) peer(id uint32) fakePeer {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.peers[id]
}

func (k *fakeKernel) session(idx uint32) (kernelSession, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	s, ok := k.sessions[idx]
	return s, ok
}
