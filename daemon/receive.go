// SPDX-License-Identifier: MIT

package daemon

import (
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"net/netip"

	"github.com/wgbpfd/wgbpfd/handshake"
	"github.com/wgbpfd/wgbpfd/keystore"
	"github.com/wgbpfd/wgbpfd/timers"
)

// handleDatagram processes one UDP datagram the kernel passed up to the
// daemon's socket: handshake messages, and data messages the data plane did
// not take (unknown receiver index, or a session the kernel lacks). Any
// bytes are safe here: every failure is counted, none panics.
func (d *device) handleDatagram(b []byte, src netip.AddrPort, queued, capacity int) {
	src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
	if len(b) < 4 {
		d.mu.Lock()
		d.stats.countSlow("malformed")
		d.mu.Unlock()
		return
	}
	switch b[0] {
	case 1, 2, 3:
		d.handleHandshake(b, src, queued, capacity)
	case keystore.MessageTypeData, keystore.MessageTypeDataAESCBC:
		d.handleData(b, src)
	default:
		d.mu.Lock()
		d.stats.countSlow("unknown_type")
		d.mu.Unlock()
	}
}

// handleHandshake runs on every handshake worker at once (loops.go): the
// public-key work of hs.Consume happens without the device mutex, which is
// taken only to apply the outcome (keypair, endpoint, reply, timers).
func (d *device) handleHandshake(b []byte, src netip.AddrPort, queued, capacity int) {
	now := d.now()
	underLoad := d.loadDetect.UnderLoad(queued, capacity, now)
	res, err := d.hs.Consume(b, src, now, underLoad)

	d.mu.Lock()
	defer d.mu.Unlock()
	if err != nil {
		if errors.Is(err, handshake.ErrCookieRequired) && res.Reply != nil {
			d.stats.countHandshake("cookie_sent")
			_ = d.out.sendTo(res.Reply, src)
			return
		}
		d.stats.countHandshake(handshakeErrorName(err))
		d.log.Debug("handshake message rejected", "from", src, "err", err)
		return
	}
	p := d.peers[res.Peer]
	if p == nil && res.Keypair != nil {
		// The peer was removed while its handshake was computed.
		d.hs.Indices().Free(res.Keypair.LocalIndex)
		res.Keypair.Wipe()
		return
	}
	switch res.Kind {
	case handshake.InitiationConsumed:
		if p == nil {
			return
		}
		p.userRxBytes += uint64(len(b))
		d.setEndpointLocked(p, src, "handshake initiation")
		if !d.completeLocked(p, res.Keypair, false) {
			return
		}
		if err := d.out.sendTo(res.Reply, src); err != nil {
			d.log.Warn("sending handshake response", "peer", p.pub.String(), "to", src, "err", err)
			return
		}
		p.userTxBytes += uint64(len(res.Reply))
		d.timerHandshakeComplete(p, false, now)
	case handshake.ResponseConsumed:
		if p == nil {
			return
		}
		p.userRxBytes += uint64(len(b))
		d.setEndpointLocked(p, src, "handshake response")
		if !d.completeLocked(p, res.Keypair, true) {
			return
		}
		d.timerHandshakeComplete(p, true, now)
		// The initiator confirms the keypair for the responder by sending
		// first: the queued packets, or else the keepalive the timers ask
		// for at once.
		d.flushQueueLocked(p, now)
		d.runTimersLocked(p, now)
	case handshake.CookieConsumed:
		d.stats.countHandshake("cookie_received")
	}
}

// completeLocked stores the keypair of a finished handshake (which mirrors
// it into the kernel) and reports success. Handshakes are computed in
// parallel and applied in turn, so a keypair may arrive after a newer one
// with the same peer: it is dropped (with its response, as if lost), never
// installed over the newer one.
func (d *device) completeLocked(p *peer, kp *handshake.Keypair, initiator bool) bool {
	if kp == nil {
		return false
	}
	if kp.Created.Before(p.lastHandshake) {
		d.hs.Indices().Free(kp.LocalIndex)
		kp.Wipe()
		d.stats.countHandshake("superseded")
		return false
	}
	if err := d.store.Add(keystore.PeerID(p.id), p.suite, kp); err != nil {
		d.hs.Indices().Free(kp.LocalIndex)
		kp.Wipe() // Add keeps a refused keypair's keys for a retry; there is none
		d.stats.countHandshake("store_failed")
		d.log.Warn("storing keypair", "peer", p.pub.String(), "err", err)
		return false
	}
	// A peer coming up (its first handshake, or one after its sessions
	// expired) is worth a line at info level. The rekey every two minutes
	// of a peer that stays up is detail: 10,000 active peers would log 80
	// lines a second of it.
	level := slog.LevelDebug
	if p.lastHandshake.IsZero() || kp.Created.Sub(p.lastHandshake) >= timers.RejectAfterTime {
		level = slog.LevelInfo
	}
	p.lastHandshake = kp.Created
	d.publishPeerLocked(p)
	if initiator {
		d.stats.countHandshake("completed_initiator")
	} else {
		d.stats.countHandshake("completed_responder")
	}
	d.log.Log(context.Background(), level, "handshake completed", "peer", p.pub.String(), "initiator", initiator, "endpoint", p.endpoint, "suite", p.suite.String())
	return true
}

// handleData opens a data message in userspace. The kernel normally takes
// these; the ones that reach the socket are for sessions it does not have.
func (d *device) handleData(b []byte, src netip.AddrPort) {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.now()
	// The counter is committed to the kernel's replay window (the one the
	// data plane uses) before anything below delivers or roams.
	id, padded, err := d.store.OpenMessage(b, now)
	if errors.Is(err, keystore.ErrReplay) {
		d.stats.countSlow("replay")
		return
	}
	if err != nil {
		d.stats.countSlow("open_failed")
		return
	}
	p := d.byID[uint32(id)]
	if p == nil {
		d.stats.countSlow("open_failed")
		return
	}
	p.userRxBytes += uint64(len(b))
	d.setEndpointLocked(p, src, "authenticated data")
	d.timerDataReceived(p, len(padded) > 0, now)
	if len(padded) == 0 {
		return // keepalive
	}
	pkt, ok := trimToIPLength(padded)
	if !ok {
		d.stats.countSlow("malformed")
		return
	}
	src2, ok := ipSource(pkt)
	if !ok || d.lookup(src2) != p {
		d.stats.countSlow("source_not_allowed")
		return
	}
	if err := d.tun(pkt); err != nil {
		d.stats.countSlow("tun_write_failed")
		return
	}
	d.stats.countSlow("received")
}

// trimToIPLength drops WireGuard's zero padding using the inner header's
// total length.
func trimToIPLength(b []byte) ([]byte, bool) {
	if len(b) < 1 {
		return nil, false
	}
	var n int
	switch b[0] >> 4 {
	case 4:
		if len(b) < 20 {
			return nil, false
		}
		n = int(binary.BigEndian.Uint16(b[2:4]))
	case 6:
		if len(b) < 40 {
			return nil, false
		}
		n = 40 + int(binary.BigEndian.Uint16(b[4:6]))
	default:
		return nil, false
	}
	if n > len(b) || n < 20 {
		return nil, false
	}
	return b[:n], true
}

func ipSource(b []byte) (netip.Addr, bool) {
	switch {
	case len(b) >= 20 && b[0]>>4 == 4:
		return netip.AddrFrom4([4]byte(b[12:16])), true
	case len(b) >= 40 && b[0]>>4 == 6:
		return netip.AddrFrom16([16]byte(b[8:24])), true
	}
	return netip.Addr{}, false
}

func ipDestination(b []byte) (netip.Addr, bool) {
	switch {
	case len(b) >= 20 && b[0]>>4 == 4:
		return netip.AddrFrom4([4]byte(b[16:20])), true
	case len(b) >= 40 && b[0]>>4 == 6:
		return netip.AddrFrom16([16]byte(b[24:40])), true
	}
	return netip.Addr{}, false
}

func handshakeErrorName(err error) string {
	for _, e := range []struct {
		err  error
		name string
	}{
		{handshake.ErrMessageLength, "bad_length"},
		{handshake.ErrUnknownType, "unknown_type"},
		{handshake.ErrBadMAC1, "bad_mac1"},
		{handshake.ErrUnknownPeer, "unknown_peer"},
		{handshake.ErrDecrypt, "decrypt_failed"},
		{handshake.ErrReplayedTimestamp, "replayed_timestamp"},
		{handshake.ErrFlood, "flood"},
		{handshake.ErrRateLimited, "rate_limited"},
		{handshake.ErrUnknownIndex, "unknown_index"},
		{handshake.ErrNoPrivateKey, "no_private_key"},
		{handshake.ErrNoCookieExpected, "unexpected_cookie"},
	} {
		if errors.Is(err, e.err) {
			return e.name
		}
	}
	return "other_error"
}
