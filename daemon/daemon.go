// SPDX-License-Identifier: MIT

// Package daemon runs one wgbpfd interface: it reads the wg-quick file,
// creates the interface, loads and attaches the data plane, runs handshakes
// and timers, serves the wg(8) control socket, and removes everything it
// created when it stops.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/wgbpfd/wgbpfd/config"
	"github.com/wgbpfd/wgbpfd/dataplane"
	"github.com/wgbpfd/wgbpfd/netif"
)

// Options configure Run.
type Options struct {
	ConfigPath  string
	Interface   string
	Logger      *slog.Logger
	MetricsAddr string           // "" disables the Prometheus endpoint
	Reload      <-chan os.Signal // SIGHUP: re-read the file, apply differences
	// Handoff (SIGUSR2): exit leaving the interface and the data plane
	// running, for a successor started from the same file to take over.
	Handoff <-chan os.Signal
	Version string
	// TestRekeyAfter replaces REKEY_AFTER_TIME when positive, so that tests
	// can watch rekeys under traffic in seconds. Run refuses it unless the
	// build has TestHooks.
	TestRekeyAfter time.Duration
}

// handshakeQueueLen bounds the handshake messages waiting for the handshake
// goroutine; a queue 1/8 full counts as load (cookies required).
const handshakeQueueLen = 1024

// Run brings the interface up, serves until ctx ends, then tears down.
func Run(ctx context.Context, o Options) error {
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("interface", o.Interface)

	if o.TestRekeyAfter != 0 && !TestHooks {
		return startErr(ExitConfig, "test settings (--test-rekey-after) are refused by this build; they exist only in builds with -tags wgbpfd_testhooks")
	}
	// Privileges first: without them nothing else can be checked or done.
	if err := checkPrivileges(); err != nil {
		return err
	}
	cfg, err := config.ParseFile(o.ConfigPath)
	if err != nil {
		return &StartError{Code: ExitConfig, Err: err}
	}
	if cfg.Interface.PrivateKey.IsZero() {
		return startErr(ExitConfig, "%s: PrivateKey is missing", o.ConfigPath)
	}
	if w := config.AccessWarning(o.ConfigPath, cfg); w != "" {
		log.Warn(w)
	}
	if err := checkBTF(); err != nil {
		return err
	}
	if mounted, err := dataplane.EnsureBPFFS(); err != nil {
		return err
	} else if mounted {
		log.Warn("mounted a bpffs of its own on /sys/fs/bpf (none was there, e.g. under `ip netns exec`): if it is private to this process, the data plane will not outlive it (use nsenter --net instead)")
	}
	if err := checkSuites(cfg); err != nil {
		return err
	}
	// Before anything is set up, so that nothing has to be undone.
	if err := checkCapacity(cfg, dataplane.MaxPeers, dataplane.MaxAllowedIPs); err != nil {
		return startErr(ExitConfig, "%s: %w", o.ConfigPath, err)
	}

	up, err := bringUp(ctx, o, cfg, log)
	if err != nil {
		return err
	}
	defer up.teardown()
	_ = sdNotify("READY=1")
	log.Info("wgbpfd is up", "version", o.Version, "listen_port", up.sock.port, "mtu", up.dev.mtu, "peers", len(cfg.Peers))

	return up.serve(ctx)
}

// serve waits for the end (ctx, a hand-over, a fatal error), reloading on
// SIGHUP meanwhile; the caller tears down.
func (r *running) serve(ctx context.Context) error {
	o, log := r.o, r.log
	for {
		select {
		case <-ctx.Done():
			_ = sdNotify("STOPPING=1")
			log.Info("stopping")
			return nil
		case err := <-r.fatal:
			_ = sdNotify("STOPPING=1")
			log.Error("stopping on a fatal error; tearing the interface down", "err", err)
			return err
		case <-o.Handoff:
			_ = sdNotify("STOPPING=1")
			log.Info("handing over: exiting, the interface and data plane stay for a successor")
			r.handoff = true
			return ErrHandedOver
		case <-o.Reload:
			_ = sdNotify("RELOADING=1")
			if err := r.reload(o.ConfigPath); err != nil {
				log.Error("reload failed", "err", err)
			}
			_ = sdNotify("READY=1")
		}
	}
}

// running is an interface that is up: what teardown must undo.
type running struct {
	o        Options
	log      *slog.Logger
	cfg      *config.Config
	net      *netif.State
	tun      *os.File
	tunIdx   int
	sockMu   sync.Mutex // sock, loopCtx and queue: the port can move (rebind)
	sock     *udpSocket
	loopCtx  context.Context
	queue    chan datagram
	dp       *dataplaneKernel
	dev      *device
	uapiL    net.Listener
	metricsL net.Listener // listening from the start; served once the device exists
	metrics  *metricsServer
	cancel   context.CancelFunc
	fatal    chan error // a loop that cannot go on ends Run (fail)
	wg       sync.WaitGroup
	handoff  bool // teardown leaves the interface and data plane running
}

func bringUp(parent context.Context, o Options, cfg *config.Config, log *slog.Logger) (r *running, err error) {
	ctx, cancel := context.WithCancel(parent)
	r = &running{o: o, log: log, cfg: cfg, cancel: cancel, fatal: make(chan error, 1)}
	defer func() {
		if err != nil {
			r.teardown()
			r = nil
		}
	}()
	// The metrics port first: a port that is taken stops the start before
	// anything exists that would have to be undone.
	if o.MetricsAddr != "" {
		if r.metricsL, err = listenMetrics(o.MetricsAddr); err != nil {
			return r, err
		}
	}
	fwmark := cfg.Interface.FwMark
	adopt, why, err := adoptable(o.Interface, cfg)
	if err != nil {
		return r, err
	}
	if why != "" {
		log.Warn("not taking over the data plane left running for this interface; starting clean", "reason", why)
	}
	if adopt {
		err := r.adopt(cfg)
		if err == nil {
			return r, r.completeBringUp(ctx, cfg, false)
		}
		// Nothing half-adopted stays: what was taken goes, with the rest
		// of the leftovers below, and the start is clean.
		log.Warn("taking over the running data plane failed; starting clean", "err", err)
		r.abandonAdoption()
	}
	if err := removeLeftovers(o.Interface, fwmark, log); err != nil {
		return r, err
	}
	if err := r.hooks("PreUp", cfg.Interface.PreUp); err != nil {
		return r, err
	}

	r.net = netif.NewState(o.Interface)
	r.tun, r.tunIdx, err = r.net.CreateTUN()
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return r, startErr(ExitInterface, "interface %s already exists", o.Interface)
		}
		return r, fmt.Errorf("creating interface %s: %w", o.Interface, err)
	}
	// Persistent: the interface, and the data plane on it, outlive this
	// process (kill -9, a planned restart); stopping deletes it.
	if err := netif.Persist(r.tun); err != nil {
		return r, fmt.Errorf("interface %s: %w", o.Interface, err)
	}
	if err := r.net.AddAddresses(cfg.Interface.Addresses); err != nil {
		return r, err
	}
	mtu, why, err := chooseMTU(cfg)
	if err != nil {
		return r, err
	}
	log.Info("MTU chosen", "mtu", mtu, "why", why)
	if err := r.net.SetMTU(mtu); err != nil {
		return r, err
	}
	if err := r.net.SetUp(); err != nil {
		return r, err
	}
	table, err := netif.ParseTable(cfg.Interface.Table)
	if err != nil {
		return r, &StartError{Code: ExitConfig, Err: fmt.Errorf("%s: Table: %w", o.ConfigPath, err)}
	}
	fwmark, err = r.net.AddRoutes(allAllowedIPs(cfg), table, fwmark)
	if err != nil {
		return r, fmt.Errorf("adding routes: %w", err)
	}

	r.sock, err = listenUDP(cfg.Interface.ListenPort, fwmark)
	if err != nil {
		return r, err
	}
	r.dp, err = attachDataplane(o.Interface, r.tunIdx, r.sock.port, fwmark, mtu, log)
	if err != nil {
		return r, err
	}
	// Before any packet can pass: the policy applies from the first one.
	pol, err := r.dp.loadPolicy(cfg)
	if err != nil {
		return r, &StartError{Code: ExitConfig, Err: err}
	}
	polInfo, _, err := r.dp.installPolicy(pol)
	if err != nil {
		return r, fmt.Errorf("installing the policy: %w", err)
	}
	r.dev, err = newDevice(o.Interface, cfg, mtu, r.dp, r.sock, r.writeTUN, log, time.Now, o.TestRekeyAfter)
	if err != nil {
		return r, &StartError{Code: ExitConfig, Err: err}
	}
	r.dev.policy = polInfo
	if polInfo.File != "" {
		r.logPolicy(polInfo)
	}
	r.dev.fwmark = fwmark
	if err := r.completeBringUp(ctx, cfg, true); err != nil {
		return r, err
	}
	return r, nil
}

// completeBringUp is the part of the start that is the same whether the
// data plane was taken over or made: wiring the device, DNS, the PostUp
// hooks (fresh starts only: a taken-over interface had them run), the
// loops, and the identity a successor checks.
func (r *running) completeBringUp(ctx context.Context, cfg *config.Config, fresh bool) error {
	log := r.log
	r.dev.listenPort = r.sock.port
	r.dev.rebind = r.rebind
	r.dev.remark = r.remark
	r.resolveEndpoints()

	if dns := dnsOf(cfg); !dns.Empty() {
		warning, derr := r.net.SetDNS(dns)
		if derr != nil {
			return fmt.Errorf("setting DNS: %w", derr)
		}
		if warning != "" {
			log.Warn(warning)
		}
	}
	if fresh {
		if err := r.hooks("PostUp", cfg.Interface.PostUp); err != nil {
			return err
		}
	} else if len(cfg.Interface.PostUp) > 0 {
		log.Info("PostUp hooks not run: the interface was taken over, they ran when it came up")
	}
	if err := r.startLoops(ctx); err != nil {
		return err
	}
	if !fresh {
		r.dev.mu.Lock()
		r.dev.handshakeAllLocked(r.dev.now())
		r.dev.mu.Unlock()
	}
	// Last: a successor adopts only a data plane whose start finished.
	if err := r.dp.dp.WriteIdentity(identityOf(cfg)); err != nil {
		return fmt.Errorf("recording the data plane's identity: %w", err)
	}
	return nil
}

func (r *running) hooks(stage string, cmds []string) error {
	if len(cmds) == 0 {
		return nil
	}
	res, err := netif.RunHooks(cmds, r.o.Interface)
	for _, h := range res {
		r.log.Info(stage+" hook ran", "output", string(h.Stdout))
	}
	if err != nil {
		return fmt.Errorf("%s: %w", stage, err)
	}
	return nil
}

func (r *running) writeTUN(pkt []byte) error {
	_, err := r.tun.Write(pkt)
	return err
}

// teardown undoes bringUp in reverse, running PreDown/PostDown, and writes
// the configuration back when SaveConfig is set. It is safe on a partial
// bring-up.
func (r *running) teardown() {
	if r.dev != nil && !r.handoff {
		if err := r.hooks("PreDown", r.cfg.Interface.PreDown); err != nil {
			r.log.Warn("PreDown hook failed", "err", err)
		}
	}
	if r.cancel != nil {
		r.cancel()
	}
	if r.uapiL != nil {
		_ = r.uapiL.Close()
	}
	if r.metrics != nil {
		r.metrics.close()
	} else if r.metricsL != nil {
		_ = r.metricsL.Close()
	}
	if r.dev != nil && r.cfg.Interface.SaveConfig && !r.handoff {
		if err := config.WriteFile(r.o.ConfigPath, r.dev.snapshotConfig()); err != nil {
			r.log.Error("SaveConfig: writing the configuration back", "err", err)
		} else {
			r.log.Info("SaveConfig: configuration written back", "file", r.o.ConfigPath)
		}
	}
	r.sockMu.Lock()
	if r.sock != nil {
		_ = r.sock.close()
	}
	r.sockMu.Unlock()
	if r.tun != nil {
		_ = r.tun.Close()
	}
	r.wg.Wait()
	if r.handoff {
		// The kernel keeps the keypairs: only this process's copies go.
		if r.dev != nil {
			r.dev.mirror.release()
			r.dev.store.Clear()
		}
		if r.dp != nil {
			if err := r.dp.dp.Release(); err != nil {
				r.log.Warn("releasing the data plane", "err", err)
			}
		}
		r.log.Info("handed over: interface and data plane left running")
		return
	}
	if r.dev != nil {
		r.dev.store.Clear()
	}
	if r.dp != nil {
		if err := r.dp.close(); err != nil {
			r.log.Warn("closing the data plane", "err", err)
		}
	}
	if r.net != nil {
		if err := r.net.Teardown(); err != nil {
			r.log.Warn("removing network configuration", "err", err)
		}
	}
	if r.dev != nil {
		if err := r.hooks("PostDown", r.cfg.Interface.PostDown); err != nil {
			r.log.Warn("PostDown hook failed", "err", err)
		}
	}
}

func allAllowedIPs(cfg *config.Config) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range cfg.Peers {
		out = append(out, p.AllowedIPs...)
	}
	return out
}

func dnsOf(cfg *config.Config) netif.DNS {
	return netif.DNS{Servers: cfg.Interface.DNS, Search: cfg.Interface.DNSSearch}
}
