// SPDX-License-Identifier: MIT

package daemon

import (
	"net/netip"
	"time"

	"github.com/wgbpfd/wgbpfd/config"
	"github.com/wgbpfd/wgbpfd/keystore"
	"github.com/wgbpfd/wgbpfd/timers"
)

// maxQueuedPackets bounds the slow-path packets kept per peer while its
// handshake runs (wireguard-go keeps 1024 too); older ones are dropped and
// counted.
const maxQueuedPackets = 1024

// peer is the daemon's view of one configured peer.
type peer struct {
	id    uint32 // data plane peer id (never 0)
	pub   config.Key
	cfg   config.Peer
	suite keystore.Suite

	endpoint netip.AddrPort // where packets go; invalid until known

	queue        [][]byte // slow-path packets waiting for a session
	queueDropped uint64

	lastHandshake   time.Time // completion of the last handshake
	endpointChanges uint64
	userTxBytes     uint64 // bytes the daemon itself sent (handshakes, keepalives, queued data)
	userRxBytes     uint64 // bytes the daemon itself received from this peer

	tm *timers.Peer // WireGuard's timer rules for this peer
}

func (p *peer) enqueue(pkt []byte) {
	if len(p.queue) >= maxQueuedPackets {
		p.queue = p.queue[1:]
		p.queueDropped++
	}
	p.queue = append(p.queue, pkt)
}

func (p *peer) endpointIsIP() bool {
	_, err := netip.ParseAddrPort(p.cfg.Endpoint)
	return err == nil
}
