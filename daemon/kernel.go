// SPDX-License-Identifier: MIT

package daemon

import (
	"errors"
	"net/netip"
	"time"
)

// Answers of kernel.CommitReceive.
var (
	errKernelReplay    = errors.New("counter already received")
	errKernelNoSession = errors.New("no such session in the kernel")
)

// kernel is what the daemon needs from the in-kernel data plane. The real
// one is *dataplane.Dataplane behind dataplaneKernel (dataplane.go); the
// daemon's logic does not depend on BPF details beyond this.
type kernel interface {
	// Sessions (keypairs). Keys are passed once and never read back.
	InstallSession(s kernelSession) error
	RemoveSession(localIndex uint32) error
	ReserveCounters(localIndex uint32, n uint64) (first uint64, err error)
	// CommitReceive marks counter as received in the keypair's replay
	// window, the one the packet path uses: nil if it was new,
	// errKernelReplay if not, errKernelNoSession if the kernel has no such
	// keypair.
	CommitReceive(localIndex uint32, counter uint64) error

	// Peers: the endpoint packets go to, and which installed sessions are
	// current/previous/next (0 = none). The suite is per session.
	SetPeer(id uint32, endpoint netip.AddrPort) error
	DeletePeer(id uint32) error
	SetPeerSessions(id uint32, current, previous, next uint32) error
	AddAllowedIP(p netip.Prefix, id uint32) error
	RemoveAllowedIP(p netip.Prefix) error

	// Observations.
	PeerStats(id uint32) (peerStats, error)
	Drops() (map[string]uint64, error)
	// QueueDrops counts packets the kernel dropped in the queues between
	// the data plane's programs (full backlogs: congestion), by queue.
	QueueDrops() (map[string]uint64, error)
	// ChaChaBackend names what computes chacha20poly1305: "bpf" or
	// "kfunc" (bpf_crypto's AEAD type, dataplane/backend.go).
	ChaChaBackend() string
}

// kernelSession is one keypair as the data plane takes it.
type kernelSession struct {
	Suite                           uint8
	LocalIndex, RemoteIndex, PeerID uint32
	Initiator                       bool
	Send, Receive                   [32]byte
}

// peerStats are the data plane's per-peer counters; times are zero when
// nothing happened yet.
type peerStats struct {
	RxBytes, RxPackets, TxBytes, TxPackets uint64
	LastRx, LastTx                         time.Time // last authenticated data packet
	LastRxAny                              time.Time // including keepalives
}

// kernelEvent is an event the data plane raised.
type kernelEvent struct {
	Kind       kernelEventKind
	PeerID     uint32
	LocalIndex uint32
	Endpoint   netip.AddrPort
}

type kernelEventKind int

const (
	evHandshakeNeeded kernelEventKind = iota + 1
	evRekeyNeeded
	evKeypairConfirmed
	evEndpointChanged
)
