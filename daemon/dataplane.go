// SPDX-License-Identifier: MIT

package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"

	"github.com/wgbpfd/wgbpfd/dataplane"
	"golang.org/x/sys/unix"
)

// dataplaneKernel is the kernel interface on the real BPF data plane.
type dataplaneKernel struct {
	dp     *dataplane.Dataplane
	policy *dataplane.Policy // in use; nil: none (policy.go)
}

var _ kernel = (*dataplaneKernel)(nil)

// attachDataplane loads the BPF object and attaches it: wg0 egress, the
// segmenting veth hop, and ingress on every underlay interface (new ones
// too).
func attachDataplane(ifname string, tunIdx int, port uint16, fwmark uint32, mtu int, log *slog.Logger) (*dataplaneKernel, error) {
	dp, err := dataplane.Load()
	if err != nil {
		return nil, startErr(ExitKernelLoader, "loading the data plane: %w", err)
	}
	logBackend(log, dp)
	cfg := dataplane.AttachConfig{
		TunIndex: tunIdx, ListenPort: port, FwMark: fwmark, MTU: mtu, WatchLinks: true,
		// Not fatal (new links, RPS on the hop): the tunnel works, slower
		// or without a new underlay, and the operator should know.
		OnWatchError: func(err error) { log.Warn("data plane", "err", err) },
	}
	if err := dp.Attach(cfg); err != nil {
		_ = dp.Close()
		return nil, startErr(ExitKernelLoader, "attaching the data plane to %s: %w", ifname, err)
	}
	// Counters, peers and sessions (never keys) for bpftool and friends.
	if err := dp.Pin(ifname); err != nil {
		_ = dp.Close()
		return nil, fmt.Errorf("pinning maps for %s: %w", ifname, err)
	}
	return &dataplaneKernel{dp: dp}, nil
}

// logBackend says which chacha20poly1305 backend new keypairs get.
func logBackend(log *slog.Logger, dp *dataplane.Dataplane) {
	if b, why := dp.Backend(); why != "" {
		log.Info("chacha20poly1305 backend", "backend", b.String(), "why", why)
	} else {
		log.Info("chacha20poly1305 backend", "backend", b.String())
	}
}

func (k *dataplaneKernel) close() error {
	return errors.Join(k.dp.Detach(), k.dp.Close())
}

func (k *dataplaneKernel) InstallSession(s kernelSession) error {
	sk := dataplane.SessionKeys{
		Suite: s.Suite, LocalIndex: s.LocalIndex, RemoteIndex: s.RemoteIndex,
		PeerID: s.PeerID, Initiator: s.Initiator, Send: s.Send, Receive: s.Receive,
	}
	err := k.dp.InstallSession(&sk)
	clear(sk.Send[:])
	clear(sk.Receive[:])
	clear(s.Send[:]) // s is a copy too
	clear(s.Receive[:])
	return err
}

func (k *dataplaneKernel) RemoveSession(idx uint32) error { return k.dp.RemoveSession(idx) }

func (k *dataplaneKernel) ReserveCounters(idx uint32, n uint64) (uint64, error) {
	return k.dp.ReserveCounters(idx, n)
}

func (k *dataplaneKernel) CommitReceive(idx uint32, counter uint64) error {
	err := k.dp.CommitReceive(idx, counter)
	switch {
	case errors.Is(err, dataplane.ErrReplay):
		return errKernelReplay
	case errors.Is(err, unix.ENOENT):
		return errKernelNoSession
	}
	return err
}

func (k *dataplaneKernel) SetPeer(id uint32, ep netip.AddrPort) error {
	if _, err := k.dp.GetPeer(id); err == nil {
		return k.dp.SetEndpoint(id, ep)
	}
	return k.dp.SetPeer(id, dataplane.Peer{Endpoint: ep})
}

func (k *dataplaneKernel) DeletePeer(id uint32) error { return k.dp.DeletePeer(id) }

func (k *dataplaneKernel) SetPeerSessions(id, cur, prev, next uint32) error {
	return k.dp.SetPeerSessions(id, cur, prev, next)
}

func (k *dataplaneKernel) AddAllowedIP(p netip.Prefix, id uint32) error {
	return k.dp.AddAllowedIP(p, id)
}

func (k *dataplaneKernel) RemoveAllowedIP(p netip.Prefix) error { return k.dp.RemoveAllowedIP(p) }

func (k *dataplaneKernel) PeerStats(id uint32) (peerStats, error) {
	s, err := k.dp.PeerStats(id)
	if err != nil {
		return peerStats{}, err
	}
	ps := peerStats{
		RxBytes: s.RxBytes, RxPackets: s.RxPackets, TxBytes: s.TxBytes, TxPackets: s.TxPackets,
		LastRx: s.LastRxData, LastTx: s.LastTx, LastRxAny: s.LastRx,
	}
	return ps, nil
}

func (k *dataplaneKernel) Drops() (map[string]uint64, error) { return k.dp.Drops() }

func (k *dataplaneKernel) QueueDrops() (map[string]uint64, error) { return k.dp.QueueDrops() }

func (k *dataplaneKernel) ChaChaBackend() string {
	b, _ := k.dp.Backend()
	return b.String()
}

// readEvents delivers the data plane's events until ctx ends (nil) or the
// reader fails (its error: the daemon cannot run without events, see
// running.readEvents).
func (k *dataplaneKernel) readEvents(ctx context.Context, handle func(kernelEvent)) error {
	for {
		ev, err := k.dp.ReadEvent(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		var kind kernelEventKind
		switch ev.Type {
		case dataplane.EventHandshakeNeeded:
			kind = evHandshakeNeeded
		case dataplane.EventRekeyNeeded:
			kind = evRekeyNeeded
		case dataplane.EventKeypairConfirmed:
			kind = evKeypairConfirmed
		case dataplane.EventEndpointChanged:
			kind = evEndpointChanged
		default:
			continue
		}
		handle(kernelEvent{Kind: kind, PeerID: ev.PeerID, LocalIndex: ev.LocalIndex, Endpoint: ev.Endpoint})
	}
}
