// SPDX-License-Identifier: MIT

package dataplane

import (
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// AttachConfig says where the packet path runs. Attach must be called by a
// goroutine whose thread is in the network namespace of the TUN (the daemon's
// whole process normally is); every later attachment happens there too.
type AttachConfig struct {
	TunIndex   int    // ifindex of the wg TUN (IFF_TUN|IFF_NO_PI), held by the daemon
	ListenPort uint16 // the daemon's UDP port: outer source port, ingress match
	FwMark     uint32 // skb->mark of outer packets, also used for their route lookup
	MTU        int    // wg0's MTU; 0 = the TUN's current MTU
	// WatchLinks attaches the ingress program to underlay interfaces that
	// appear after Attach (netlink link updates).
	WatchLinks bool
	// OnWatchError, if set, hears of failures of the link watcher (e.g. a
	// new interface that could not be attached); the daemon logs them.
	OnWatchError func(error)
}

// attachment is the state of an attached Dataplane.
type attachment struct {
	mu       sync.Mutex
	ns       netns.NsHandle
	cfg      AttachConfig
	hop0     string
	hop1     string
	hop0Idx  int
	hop1Idx  int
	links    []link.Link       // hop encrypt, hop decrypt, wg0 egress (fixedLinks)
	pinDir   string            // links are pinned here (and new ones as they come)
	underlay map[int]link.Link // ingress per underlay ifindex
	addrs    *addrTracker      // local_addrs kept in step
	stop     chan struct{}     // closes the link watcher
	watching chan struct{}     // closed when the link watcher has ended
}

// Attach creates the veth hop, writes the interface configuration and
// attaches the programs: egress on the TUN, encryption on the hop, ingress
// on every current underlay interface (Ethernet links other than the hop).
func (d *Dataplane) Attach(cfg AttachConfig) (err error) {
	if d.att != nil {
		return errors.New("dataplane already attached")
	}
	if cfg.ListenPort == 0 {
		return errors.New("attach: ListenPort must be set")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	ns, err := netns.Get()
	if err != nil {
		return fmt.Errorf("attach: current network namespace: %w", err)
	}
	a := &attachment{ns: ns, cfg: cfg, underlay: map[int]link.Link{}}
	d.att = a
	defer func() {
		if err != nil {
			d.detach()
		}
	}()

	tun, err := netlink.LinkByIndex(cfg.TunIndex)
	if err != nil {
		return fmt.Errorf("attach: TUN ifindex %d: %w", cfg.TunIndex, err)
	}
	if cfg.MTU == 0 {
		a.cfg.MTU = tun.Attrs().MTU
	}
	if a.cfg.MTU < 576 || a.cfg.MTU > maxMTU {
		return fmt.Errorf("attach: MTU %d outside [576, %d]", a.cfg.MTU, maxMTU)
	}

	if err := a.createHop(tun.Attrs().Name); err != nil {
		return err
	}
	rxCPUs := 0
	if n, err := a.spreadHop(); err != nil {
		if cfg.OnWatchError != nil {
			cfg.OnWatchError(err)
		}
	} else {
		rxCPUs = n
	}
	ifc := wgIfconfig{
		RxCpus:     uint32(rxCPUs),
		TunIfindex: uint32(cfg.TunIndex),
		HopIfindex: uint32(a.hop0Idx),
		FibIfindex: uint32(a.hop1Idx),
		Fwmark:     cfg.FwMark,
		Mtu:        uint32(a.cfg.MTU),
		ListenPort: cfg.ListenPort,
	}
	if err := d.objs.Ifconfig.Update(uint32(0), &ifc, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("attach: writing ifconfig: %w", err)
	}
	if a.addrs, err = d.trackAddrs(ns, cfg.OnWatchError); err != nil {
		return fmt.Errorf("attach: %w", err)
	}

	for _, x := range []struct {
		prog  *ebpf.Program
		index int
		at    ebpf.AttachType
		what  string
	}{
		{d.objs.WgHopEncrypt, a.hop1Idx, ebpf.AttachTCXIngress, "hop ingress"},
		{d.objs.WgUnderlayIngress, a.hop0Idx, ebpf.AttachTCXIngress, "hop decrypt"},
		{d.objs.WgTunEgress, cfg.TunIndex, ebpf.AttachTCXEgress, "TUN egress"},
	} {

		l, err := link.AttachTCX(link.TCXOptions{Interface: x.index, Program: x.prog, Attach: x.at})
		if err != nil {
			return fmt.Errorf("attach: %s: %w", x.what, err)
		}
		a.links = append(a.links, l)
	}

	return d.attachUnderlays("attach")
}

// attachUnderlays attaches the ingress program to every underlay link
// there is and, with WatchLinks, to those that come later.
func (d *Dataplane) attachUnderlays(what string) error {
	a := d.att
	// Watch before listing so that no link slips between the two.
	if a.cfg.WatchLinks {
		if err := d.watchLinks(); err != nil {
			return err
		}
	}
	links, err := netlink.LinkList()
	if err != nil {
		return fmt.Errorf("%s: listing links: %w", what, err)
	}
	for _, l := range links {
		if a.isUnderlay(l) {
			if err := a.attachUnderlay(d.objs.WgUnderlayIngress, l.Attrs().Index); err != nil {
				return err
			}
		}
	}
	return nil
}

// fixedLinks name the pins of the attachment's links, in a.links order.
var fixedLinks = [...]string{linkPinPrefix + "hop_encrypt", linkPinPrefix + "hop_decrypt", linkPinPrefix + "tun_egress"}

// pinLinks pins every link under dir; links attached later are pinned as
// they come.
func (a *attachment) pinLinks(dir string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.pinDir = dir
	for i, l := range a.links {
		if err := l.Pin(filepath.Join(dir, fixedLinks[i])); err != nil {
			return fmt.Errorf("pinning link %s: %w", fixedLinks[i], err)
		}
	}
	for idx, l := range a.underlay {
		if err := l.Pin(filepath.Join(dir, underlayPin(idx))); err != nil {
			return fmt.Errorf("pinning link %s: %w", underlayPin(idx), err)
		}
	}
	return nil
}

// unpinLinks removes the links' pins: closing them then detaches them.
func (a *attachment) unpinLinks() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.pinDir == "" {
		return nil
	}
	var errs []error
	for _, l := range a.links {
		errs = append(errs, l.Unpin())
	}
	for _, l := range a.underlay {
		errs = append(errs, l.Unpin())
	}
	a.pinDir = ""
	return errors.Join(errs...)
}

// adoptAttachment makes a (the running links, taken over by Adopt) this
// data plane's attachment, in the calling thread's namespace: the
// interface configuration is rewritten from a.cfg (a successor's port,
// mark and MTU apply now), the watcher starts, underlay links that came
// while nobody watched get the ingress program.
func (d *Dataplane) adoptAttachment(a *attachment, ifc wgIfconfig) (err error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	ns, err := netns.Get()
	if err != nil {
		return fmt.Errorf("adopt: current network namespace: %w", err)
	}
	a.ns = ns
	d.att = a
	if a.cfg.ListenPort == 0 {
		a.cfg.ListenPort = ifc.ListenPort
	}
	ifc.ListenPort = a.cfg.ListenPort
	ifc.Fwmark = a.cfg.FwMark
	ifc.Mtu = uint32(a.cfg.MTU)
	if err := d.objs.Ifconfig.Update(uint32(0), &ifc, ebpf.UpdateExist); err != nil {
		return fmt.Errorf("adopt: writing ifconfig: %w", err)
	}
	if err := d.pruneLocalAddrs(); err != nil {
		return fmt.Errorf("adopt: %w", err)
	}
	if a.addrs, err = d.trackAddrs(ns, a.cfg.OnWatchError); err != nil {
		return fmt.Errorf("adopt: %w", err)
	}
	return d.attachUnderlays("adopt")
}

// release closes the attachment's file descriptors and leaves the pinned
// links, the hop and the interface configuration running.
func (d *Dataplane) release() error {
	a := d.att
	if a == nil {
		return nil
	}
	d.att = nil
	errs := a.closeLinks()
	a.ns.Close()
	return errors.Join(errs...)
}

// closeLinks stops the watchers and closes every link's descriptor: a
// pinned link stays attached, an unpinned one is detached.
func (a *attachment) closeLinks() []error {
	errs := []error{a.stopWatching()}
	if a.addrs != nil {
		errs = append(errs, a.addrs.close())
	}
	a.mu.Lock()
	for _, l := range a.underlay {
		errs = append(errs, l.Close())
	}
	a.underlay = nil
	a.mu.Unlock()
	for _, l := range a.links {
		errs = append(errs, l.Close())
	}
	return errs
}

// isUnderlay: Ethernet-framed links that are not ours. L3 devices (TUNs,
// WireGuard) have no MAC header for the ingress parser.
func (a *attachment) isUnderlay(l netlink.Link) bool {
	at := l.Attrs()
	if at.Index == a.cfg.TunIndex || at.Index == a.hop0Idx || at.Index == a.hop1Idx {
		return false
	}
	return at.EncapType == "ether"
}

// AttachUnderlay attaches the ingress program to ifindex (idempotent). For
// an interface the watcher does not see, e.g. when WatchLinks is off.
func (d *Dataplane) AttachUnderlay(ifindex int) error {
	a := d.att
	if a == nil {
		return errors.New("dataplane not attached")
	}
	return a.inNetns(func() error { return a.attachUnderlay(d.objs.WgUnderlayIngress, ifindex) })
}

// attachUnderlay runs on a thread in the attachment's namespace.
func (a *attachment) attachUnderlay(prog *ebpf.Program, ifindex int) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.underlay == nil {
		return errors.New("dataplane detached")
	}
	if _, ok := a.underlay[ifindex]; ok {
		return nil
	}
	l, err := link.AttachTCX(link.TCXOptions{Interface: ifindex, Program: prog, Attach: ebpf.AttachTCXIngress})
	if err != nil {
		return fmt.Errorf("attaching underlay ingress to ifindex %d: %w", ifindex, err)
	}
	if a.pinDir != "" {
		if err := l.Pin(filepath.Join(a.pinDir, underlayPin(ifindex))); err != nil {
			l.Close()
			return fmt.Errorf("pinning the underlay ingress link of ifindex %d: %w", ifindex, err)
		}
	}
	a.underlay[ifindex] = l
	return nil
}

// DetachUnderlay removes the ingress program from ifindex.
func (d *Dataplane) DetachUnderlay(ifindex int) error {
	a := d.att
	if a == nil {
		return errors.New("dataplane not attached")
	}
	return a.detachUnderlay(ifindex)
}

func (a *attachment) detachUnderlay(ifindex int) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	l, ok := a.underlay[ifindex]
	if !ok {
		return nil
	}
	delete(a.underlay, ifindex)
	if a.pinDir != "" {
		_ = l.Unpin()
	}
	return l.Close()
}

// UnderlayInterfaces lists the ifindexes with the ingress program attached.
func (d *Dataplane) UnderlayInterfaces() []int {
	a := d.att
	if a == nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]int, 0, len(a.underlay))
	for i := range a.underlay {
		out = append(out, i)
	}
	return out
}

// inNetns runs fn on a thread in the attachment's namespace: a fresh
// goroutine locked to its thread, so that a thread whose namespace could not
// be restored dies with that goroutine instead of serving other code.
func (a *attachment) inNetns(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- fmt.Errorf("current network namespace: %w", err)
			return
		}
		defer orig.Close()
		if err := netns.Set(a.ns); err != nil {
			errc <- fmt.Errorf("entering the dataplane's namespace: %w", err)
			return
		}
		ferr := fn()
		if err := netns.Set(orig); err != nil {
			errc <- fmt.Errorf("restoring network namespace: %w (after: %v)", err, ferr)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// detach undoes Attach: links closed (programs detached), hop deleted,
// ifconfig cleared. Safe on a partial attachment.
func (d *Dataplane) detach() error {
	a := d.att
	if a == nil {
		return nil
	}
	d.att = nil
	// Unpinned, closing a link detaches it.
	errs := []error{a.unpinLinks()}
	errs = append(errs, a.closeLinks()...)
	errs = append(errs, a.deleteHop())
	if d.objs.Ifconfig != nil {
		errs = append(errs, d.objs.Ifconfig.Update(uint32(0), &wgIfconfig{}, ebpf.UpdateAny))
	}
	a.ns.Close()
	return errors.Join(errs...)
}

// Detach removes the packet path from the interfaces; the maps stay.
func (d *Dataplane) Detach() error { return d.detach() }
