// SPDX-License-Identifier: MIT

package daemon

import (
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wgbpfd/wgbpfd/config"
	"github.com/wgbpfd/wgbpfd/handshake"
	"github.com/wgbpfd/wgbpfd/timers"
)

// TestConcurrentHandshakeWorkers: initiations from many peers, each
// delivered twice, handled by several workers at once (as startLoops runs
// them), while a peer is removed: each live peer gets exactly one response
// and one kernel session, and nothing races (-race).
func TestConcurrentHandshakeWorkers(t *testing.T) {
	const peers = 12
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	privB, _ := config.GeneratePrivateKey()
	cfg := &config.Config{Interface: config.Interface{PrivateKey: privB, ListenPort: 51820, Table: config.TableAuto}}
	var initiators []*handshake.Handshaker
	for k := range peers {
		priv, _ := config.GeneratePrivateKey()
		h := handshake.New([32]byte(priv), nil)
		if err := h.AddPeer(privB.Public(), nil); err != nil {
			t.Fatal(err)
		}
		initiators = append(initiators, h)
		cfg.Peers = append(cfg.Peers, config.Peer{
			PublicKey:  priv.Public(),
			AllowedIPs: []netip.Prefix{netip.MustParsePrefix(fmt.Sprintf("10.0.1.%d/32", k+1))},
		})
	}
	net := &fakeNet{devices: map[netip.AddrPort]*device{}}
	k := newFakeKernel()
	self := netip.MustParseAddrPort("192.0.2.2:51820")
	d, err := newDevice("wgtest", cfg, 1420, k, &fakeSocket{net, self}, func([]byte) error { return nil },
		slog.New(slog.NewTextHandler(io.Discard, nil)), func() time.Time { return now }, 0)
	if err != nil {
		t.Fatal(err)
	}

	queue := make(chan datagram, 2*peers)
	for i, h := range initiators {
		msg, err := h.CreateInitiation(privB.Public(), now)
		if err != nil {
			t.Fatal(err)
		}
		src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, 100, byte(i + 1)}), 51820)
		queue <- datagram{msg, src}
		queue <- datagram{msg, src}
	}
	close(queue)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for dg := range queue {
				d.handleDatagram(dg.b, dg.src, 0, handshakeQueueLen)
			}
		}()
	}
	removed := cfg.Peers[0].PublicKey
	d.mu.Lock()
	d.removePeerLocked(removed)
	d.mu.Unlock()
	wg.Wait()

	d.mu.Lock()
	defer d.mu.Unlock()
	completed := d.stats.handshakes["completed_responder"]
	if completed < peers-1 || completed > peers {
		t.Fatalf("%d handshakes completed, want %d or %d (stats %v)", completed, peers-1, peers, d.stats.handshakes)
	}
	if dup := d.stats.handshakes["replayed_timestamp"] + d.stats.handshakes["flood"]; dup < peers-1 {
		t.Fatalf("%d duplicates refused, want at least %d (stats %v)", dup, peers-1, d.stats.handshakes)
	}
	for _, p := range d.peers {
		if p.lastHandshake.IsZero() || p.endpoint.Addr().As4()[0] != 198 {
			t.Errorf("peer %d: no handshake or endpoint %v", p.id, p.endpoint)
		}
	}
	net.mu.Lock()
	sent := net.sent
	net.mu.Unlock()
	if uint64(sent) != completed {
		t.Fatalf("%d responses sent for %d completed handshakes", sent, completed)
	}
	// Every allocated index belongs to a stored keypair: none leaked by the
	// removed peer or a duplicate.
	if n := d.hs.Indices().Len(); n != len(d.peers) {
		t.Fatalf("%d indices allocated for %d live peers", n, len(d.peers))
	}
}

// TestHandshakeLogLevel: a peer's first handshake, and one after its
// sessions expired, are logged at info level; a rekey of a peer that stays
// up only at debug level.
func TestHandshakeLogLevel(t *testing.T) {
	tp := newTestPeerPair(t, config.CipherChaCha20Poly1305)
	var logged strings.Builder
	tp.a.log = slog.New(slog.NewTextHandler(&logged, nil)) // info and above
	p := tp.a.peers[tp.b.cfg.PublicKey()]
	handshake := func(after time.Duration) (infoLines int) {
		t.Helper()
		tp.now = tp.now.Add(after)
		before := strings.Count(logged.String(), "handshake completed")
		tp.a.mu.Lock()
		tp.a.initiateLocked(p, tp.now)
		tp.a.mu.Unlock()
		tp.net.pump()
		if tp.a.stats.handshakes["completed_initiator"] == 0 || !p.lastHandshake.Equal(tp.now) {
			t.Fatalf("no handshake completed at %v (stats %v)", tp.now, tp.a.stats.handshakes)
		}
		return strings.Count(logged.String(), "handshake completed") - before
	}
	if n := handshake(0); n != 1 {
		t.Errorf("first handshake: %d info lines, want 1", n)
	}
	if n := handshake(timers.RekeyAfterTime); n != 0 {
		t.Errorf("rekey after %v: %d info lines, want 0\n%s", timers.RekeyAfterTime, n, logged.String())
	}
	if n := handshake(timers.RejectAfterTime); n != 1 {
		t.Errorf("handshake %v after the last one: %d info lines, want 1", timers.RejectAfterTime, n)
	}
}
