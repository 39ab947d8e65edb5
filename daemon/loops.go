// SPDX-License-Identifier: MIT

package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"time"

	"github.com/wgbpfd/wgbpfd/config"
	"github.com/wgbpfd/wgbpfd/uapi"
)

// tickInterval is how often the daemon polls the data plane's per-peer
// timestamps and runs the timers. WireGuard's timers are seconds long; a
// quarter second keeps jitter small without measurable cost.
const tickInterval = 250 * time.Millisecond

type datagram struct {
	b   []byte
	src netip.AddrPort
}

// startLoops starts the goroutines of a running interface: socket reader and
// handshake workers, TUN reader, data plane events, timers, control socket,
// metrics.
func (r *running) startLoops(ctx context.Context) error {
	l, err := uapi.Listen(r.o.Interface)
	if err != nil {
		if errors.Is(err, uapi.ErrInUse) {
			// Another instance serves this name, perhaps in another network
			// namespace (the socket directory is shared).
			return startErr(ExitInterface, "interface %s already exists: %w", r.o.Interface, err)
		}
		return fmt.Errorf("control socket: %w", err)
	}
	r.uapiL = l
	r.goLoop(func() { _ = uapi.Serve(ctx, l, uapiDevice{r.dev}, r.log) })

	if r.metricsL != nil {
		r.metrics = serveMetrics(r.metricsL, r.dev)
	}

	queue := make(chan datagram, handshakeQueueLen)
	r.sockMu.Lock()
	r.loopCtx, r.queue = ctx, queue
	sock := r.sock
	r.sockMu.Unlock()
	r.goLoop(func() { r.readSocket(ctx, sock, queue) })
	// Handshake workers, one per CPU as in wireguard-go: the public-key
	// work of one message runs outside every shared lock (receive.go), so
	// they compute in parallel. The queue length they see is the load
	// signal (cookies required).
	for range handshakeWorkers() {
		r.goLoop(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case dg := <-queue:
					r.dev.handleDatagram(dg.b, dg.src, len(queue), cap(queue))
				}
			}
		})
	}
	// Every peer's static-static DH, in the background so that start-up
	// does not wait for it; a handshake that comes first computes its own.
	r.goLoop(func() { r.dev.hs.Precompute(ctx) })
	r.goLoop(func() { r.readTUN(ctx) })
	r.goLoop(func() { r.readEvents(ctx) })
	r.goLoop(func() {
		t := time.NewTicker(tickInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				r.dev.tick()
			}
		}
	})
	return nil
}

// readEvents hands the data plane's events to the device until ctx ends.
// Should the reader fail first, the daemon stops: without events no packet
// that waits for a keypair starts a handshake, no rekey happens and no
// roaming is followed, so the tunnel would die quietly some minutes later.
func (r *running) readEvents(ctx context.Context) {
	if err := r.dp.readEvents(ctx, r.dev.handleEvent); err != nil {
		r.fail(fmt.Errorf("the data plane's event reader stopped: %w", err))
	}
}

// fail ends Run with err (the first one; later ones are logged only).
func (r *running) fail(err error) {
	select {
	case r.fatal <- err:
	default:
		r.log.Error("fatal", "err", err)
	}
}

// handshakeWorkers is how many goroutines process handshake messages.
func handshakeWorkers() int {
	return max(1, runtime.GOMAXPROCS(0))
}

func (r *running) goLoop(f func()) {
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		f()
	}()
}

// readSocket reads the UDP port until sock is closed (at shutdown, or when
// the port moves: rebind). A full queue drops the datagram (it is counted):
// handshakes retry, and the queue length is what signals load.
func (r *running) readSocket(ctx context.Context, sock *udpSocket, queue chan<- datagram) {
	buf := make([]byte, 65536)
	for {
		n, src, err := sock.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			r.log.Warn("reading the UDP socket", "err", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		dg := datagram{b: append([]byte(nil), buf[:n]...), src: src}
		select {
		case queue <- dg:
		default:
			r.dev.mu.Lock()
			r.dev.stats.countHandshake("queue_full")
			r.dev.mu.Unlock()
		}
	}
}

// rebind implements device.rebind (called with the device mutex held): it
// binds the new port with the interface's mark, points the data plane at
// it, starts its reader and closes the old socket, whose reader then ends.
func (r *running) rebind(port int) (packetSender, uint16, error) {
	r.sockMu.Lock()
	defer r.sockMu.Unlock()
	if r.queue == nil || r.loopCtx.Err() != nil {
		return nil, 0, fmt.Errorf("ListenPort %d: the interface is not running", port)
	}
	s, err := listenUDP(port, r.dev.fwmark)
	if err != nil {
		return nil, 0, err
	}
	if err := r.dp.dp.SetListenPort(s.port); err != nil {
		_ = s.close()
		return nil, 0, fmt.Errorf("ListenPort %d: %w", port, err)
	}
	old := r.sock
	r.sock = s
	ctx, queue := r.loopCtx, r.queue
	r.goLoop(func() { r.readSocket(ctx, s, queue) })
	_ = old.close()
	return s, s.port, nil
}

// remark implements device.remark (called with the device mutex held). A
// full tunnel's policy rules route by the mark in use, so there it refuses.
func (r *running) remark(mark uint32) error {
	if r.net.FullTunnel() {
		return fmt.Errorf("FwMark %#x: the full tunnel's policy rules route by the mark in use (%#x); a new mark needs a restart", mark, r.dev.fwmark)
	}
	return r.applyMark(mark)
}

// applyMark puts mark on the socket (SO_MARK), then on the data plane,
// restoring the socket's if the data plane refuses. The device mutex is
// held.
func (r *running) applyMark(mark uint32) error {
	r.sockMu.Lock()
	defer r.sockMu.Unlock()
	if err := r.sock.setMark(mark); err != nil {
		return fmt.Errorf("FwMark %#x: SO_MARK: %w", mark, err)
	}
	if err := r.dp.dp.SetFwMark(mark); err != nil {
		_ = r.sock.setMark(r.dev.fwmark)
		return fmt.Errorf("FwMark %#x: %w", mark, err)
	}
	return nil
}

// readTUN reads the packets the data plane left in the TUN queue (no usable
// session) and hands them to the slow path.
func (r *running) readTUN(ctx context.Context) {
	buf := make([]byte, 65536)
	for {
		n, err := r.tun.Read(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, os.ErrClosed) {
				return
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				continue
			}
			r.log.Warn("reading the TUN", "err", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		r.dev.handleTUNPacket(buf[:n])
	}
}

// reload re-reads the configuration file and applies the differences.
func (r *running) reload(path string) error {
	cfg, err := config.ParseFile(path)
	if err != nil {
		return err
	}
	if w := config.AccessWarning(path, cfg); w != "" {
		r.log.Warn(w)
	}
	// A file that newly needs aes-cbc is checked as at start: on a kernel
	// without cbc(aes) its peers could never install a keypair.
	if usesAES(cfg) && !usesAES(r.cfg) {
		if err := checkSuites(cfg); err != nil {
			return err
		}
	}
	// The policy object is loaded (and verified) first: one that is
	// refused refuses the whole file, and the policy in use stays.
	pol, err := r.dp.loadPolicy(cfg)
	if err != nil {
		return err
	}
	r.dev.mu.Lock()
	err = r.dev.syncLocked(cfg)
	r.dev.mu.Unlock()
	if err != nil {
		_ = pol.Close()
		return err
	}
	if info, changed, err := r.dp.installPolicy(pol); err != nil {
		r.log.Error("policy not replaced; the one in use stays", "err", err)
	} else if changed {
		r.dev.mu.Lock()
		r.dev.policy = info
		r.dev.mu.Unlock()
		r.logPolicy(info)
	}
	// Routes follow the file: prefixes it added are routed, the ones it
	// dropped are no longer (wg syncconf leaves routes alone; a reload that
	// adds or removes a peer expects its prefixes to follow).
	kept := make(map[netip.Prefix]bool)
	for _, p := range allAllowedIPs(cfg) {
		kept[p] = true
	}
	var gone []netip.Prefix
	for _, p := range allAllowedIPs(r.cfg) {
		if !kept[p] {
			gone = append(gone, p)
		}
	}
	if err := r.net.RemoveRoutes(gone); err != nil {
		r.log.Warn("removing routes of dropped prefixes", "err", err)
	}
	table, terr := netifTable(cfg)
	if terr == nil {
		r.dev.mu.Lock()
		mark := r.dev.fwmark
		r.dev.mu.Unlock()
		picked, err := r.net.AddRoutes(allAllowedIPs(cfg), table, mark)
		if err != nil {
			r.log.Warn("adding routes for reloaded peers", "err", err)
		}
		if picked != mark {
			// A full tunnel came with this file and picked its mark, as at
			// start-up; unless the socket and the data plane carry it, the
			// rules route every encrypted packet back into the tunnel.
			r.dev.mu.Lock()
			if err := r.applyMark(picked); err != nil {
				r.log.Error("full tunnel: marking the tunnel's own packets", "fwmark", fmt.Sprintf("%#x", picked), "err", err)
			} else {
				r.dev.fwmark = picked
				r.log.Info("fwmark set for the full tunnel", "fwmark", fmt.Sprintf("%#x", picked))
			}
			r.dev.mu.Unlock()
		}
	}
	r.dev.mu.Lock()
	cur := r.dev.mtu
	r.dev.mu.Unlock()
	if mtu := reloadMTU(cur, cfg); mtu != cur {
		if err := r.applyMTU(cur, mtu); err != nil {
			r.log.Warn("changing the MTU for the reloaded file", "mtu", mtu, "err", err)
		} else {
			r.log.Info("MTU changed", "mtu", mtu, "was", cur)
		}
	}
	r.cfg = cfg
	r.resolveEndpoints()
	r.log.Info("configuration reloaded", "peers", len(cfg.Peers))
	return nil
}

// reloadMTU is the MTU for a reloaded file, given the one in use. MTU = N
// applies as written. Without it the MTU in use stands, except that a file
// that now uses aes-cbc rounds it down to a multiple of 16: aes-cbc
// pads without the MTU cap, so a full-size packet over an IPv6 underlay
// would not fit. The route towards the endpoints is not asked again: under
// a full tunnel it would lead into the tunnel itself.
func reloadMTU(cur int, cfg *config.Config) int {
	if cfg.Interface.MTU > 0 {
		return cfg.Interface.MTU
	}
	if usesAES(cfg) {
		return cur &^ 15
	}
	return cur
}

// applyMTU sets the interface's MTU and the data plane's, in the order
// that never lets the stack hand the data plane a packet it would refuse
// as too big: the link first when shrinking, the data plane first when
// growing.
func (r *running) applyMTU(cur, mtu int) error {
	link := func() error { return r.net.SetMTU(mtu) }
	dp := func() error { return r.dp.dp.SetMTU(mtu) }
	first, second := dp, link
	if mtu < cur {
		first, second = link, dp
	}
	if err := first(); err != nil {
		return err
	}
	if err := second(); err != nil {
		return err
	}
	r.dev.mu.Lock()
	r.dev.mtu = mtu
	r.dev.mu.Unlock()
	return nil
}
