package dataplane

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/wgbpfd/wgbpfd/netif"
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

// hopMTU: the hop never limits packet size; wg_hop_encrypt enforces the
// configured MTU and bpf_skb_change_tail needs room for the outer packet.
const hopMTU = 65535

// hopNames names the veth pair of the TUN: hop0 (wg0 egress redirects
// plaintext into it) and hop1 (the encrypting end). netif owns the naming,
// so that its start-up cleanup and the data plane agree.
func hopNames(tun string) (string, string) {
	n := netif.HopNames(tun)
	return n[0], n[1]
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

	// Watch before listing so that no link slips between the two.
	if cfg.WatchLinks {
		if err := d.watchLinks(); err != nil {
			return err
		}
	}
	links, err := netlink.LinkList()
	if err != nil {
		return fmt.Errorf("attach: listing links: %w", err)
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
	if a.cfg.WatchLinks {
		if err := d.watchLinks(); err != nil {
			return err
		}
	}
	links, err := netlink.LinkList()
	if err != nil {
		return fmt.Errorf("adopt: listing links: %w", err)
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

// release closes the attachment's file descriptors and leaves the pinned
// links, the hop and the interface configuration running.
func (d *Dataplane) release() error {
	a := d.att
	if a == nil {
		return nil
	}
	d.att = nil
	var errs []error
	if a.stop != nil {
		close(a.stop)
		select {
		case <-a.watching:
		case <-time.After(5 * time.Second):
			errs = append(errs, errors.New("release: the link watcher did not stop within 5 s"))
		}
	}
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
	a.ns.Close()
	return errors.Join(errs...)
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

// createHop makes the veth pair, offloads off (the kernel then segments GSO
// packets and fills checksums before the encrypting program sees them),
// IPv6 off (no link-local chatter into the encryptor), forwarding on for
// hop1 (bpf_fib_lookup requires it on its input device), and brings it up.
func (a *attachment) createHop(tunName string) error {
	h0, h1 := hopNames(tunName)
	// Left behind by a daemon of this interface that died: a veth marked
	// with our alias (a crash between creation and marking leaves an
	// unmarked veth under our hashed name, which is ours too).
	stale, err := netif.HopLinks(tunName)
	if err != nil {
		return fmt.Errorf("attach: %w", err)
	}
	if l, err := netlink.LinkByName(h0); err == nil && l.Attrs().Alias == "" {
		if _, ok := l.(*netlink.Veth); ok {
			stale = append(stale, l)
		}
	}
	for _, old := range stale {
		if err := netlink.LinkDel(old); err != nil && !errors.Is(err, unix.ENODEV) {
			return fmt.Errorf("attach: removing stale %s: %w", old.Attrs().Name, err)
		}
	}
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: h0, MTU: hopMTU, TxQLen: 1000}, PeerName: h1}
	if err := netlink.LinkAdd(veth); err != nil {
		return fmt.Errorf("attach: creating %s/%s: %w", h0, h1, err)
	}
	a.hop0, a.hop1 = h0, h1
	for _, name := range []string{h0, h1} {
		l, err := netlink.LinkByName(name)
		if err != nil {
			return fmt.Errorf("attach: %s: %w", name, err)
		}
		if err := netlink.LinkSetAlias(l, netif.HopAlias(tunName)); err != nil {
			return fmt.Errorf("attach: %s alias: %w", name, err)
		}
		if name == h0 {
			a.hop0Idx = l.Attrs().Index
		} else {
			a.hop1Idx = l.Attrs().Index
		}
		if err := netlink.LinkSetMTU(l, hopMTU); err != nil {
			return fmt.Errorf("attach: %s mtu: %w", name, err)
		}
		if err := writeSysctl("net/ipv6/conf/"+name+"/disable_ipv6", "1"); err != nil {
			return err
		}
		if err := disableOffloads(name); err != nil {
			return fmt.Errorf("attach: %s: %w", name, err)
		}
	}
	for _, p := range []string{"net/ipv4/conf/" + h1 + "/forwarding", "net/ipv6/conf/" + h1 + "/forwarding"} {
		if err := writeSysctl(p, "1"); err != nil {
			return err
		}
	}
	for _, name := range []string{h1, h0} {
		l, _ := netlink.LinkByName(name)
		if err := netlink.LinkSetUp(l); err != nil {
			return fmt.Errorf("attach: %s up: %w", name, err)
		}
	}
	return nil
}

// writeSysctl writes /proc/sys/<path> in the calling thread's namespace.
func writeSysctl(path, value string) error {
	if err := os.WriteFile("/proc/sys/"+path, []byte(value), 0); err != nil {
		return fmt.Errorf("attach: sysctl %s: %w", path, err)
	}
	return nil
}

// Legacy ethtool ioctls (linux/ethtool.h): enough to switch off the four
// offloads, with no dependency on the ethtool netlink family.
const (
	ethtoolSTXCSUM = 0x17
	ethtoolSSG     = 0x19
	ethtoolSTSO    = 0x1f
	ethtoolSGSO    = 0x24
)

type ethtoolValue struct {
	cmd  uint32
	data uint32
}

type ifreqData struct {
	name [unix.IFNAMSIZ]byte
	data unsafe.Pointer
	_    [16]byte // rest of the ifreq union
}

// disableOffloads turns off tso, gso, tx-checksumming and sg on name.
func disableOffloads(name string) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("ethtool socket: %w", err)
	}
	defer unix.Close(fd)
	for _, cmd := range []uint32{ethtoolSTSO, ethtoolSGSO, ethtoolSTXCSUM, ethtoolSSG} {
		v := &ethtoolValue{cmd: cmd}
		ifr := &ifreqData{data: unsafe.Pointer(v)}
		copy(ifr.name[:], name)
		_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(ifr)))
		runtime.KeepAlive(v)
		if e != 0 {
			return fmt.Errorf("ethtool command %#x: %w", cmd, e)
		}
	}
	return nil
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

// watchLinks attaches to Ethernet links as they appear and forgets links
// that go away (their tcx links die with the device).
func (d *Dataplane) watchLinks() error {
	a := d.att
	updates := make(chan netlink.LinkUpdate, 64)
	stop := make(chan struct{})
	a.stop = stop
	report := func(err error) {
		select {
		case <-stop:
			// Stopping closes the subscription's socket, and its reader
			// reports that as a receive error: not news.
			return
		default:
		}
		if a.cfg.OnWatchError != nil {
			a.cfg.OnWatchError(err)
		}
	}
	ns := a.ns
	prog := d.objs.WgUnderlayIngress
	if err := netlink.LinkSubscribeWithOptions(updates, a.stop, netlink.LinkSubscribeOptions{
		Namespace:     &ns,
		ErrorCallback: report,
	}); err != nil {
		return fmt.Errorf("attach: subscribing to link updates: %w", err)
	}
	watching := make(chan struct{})
	a.watching = watching
	go func() {
		// netlink closes updates after its last report, so once this
		// goroutine ends nothing more is reported.
		defer close(watching)
		// tcx attachment resolves the ifindex in the calling thread's
		// namespace: this goroutine's thread lives in the dataplane's. It
		// stays locked so the runtime retires the thread when we return.
		runtime.LockOSThread()
		if err := netns.Set(ns); err != nil {
			report(fmt.Errorf("link watcher: entering namespace: %w", err))
			for range updates { // drain until stopped
			}
			return
		}
		for u := range updates {
			idx := int(u.Index)
			if u.Header.Type == unix.RTM_DELLINK {
				a.detachUnderlay(idx)
				continue
			}
			if u.Link != nil && a.isUnderlay(u.Link) {
				if err := a.attachUnderlay(prog, idx); err != nil {
					report(err)
				}
			}
		}
	}()
	return nil
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
	if a.stop != nil {
		close(a.stop)
		// Wait for the watcher, so that it attaches nothing and reports
		// nothing after Detach; bounded, should netlink never let go.
		select {
		case <-a.watching:
		case <-time.After(5 * time.Second):
			errs = append(errs, errors.New("detach: the link watcher did not stop within 5 s"))
		}
	}
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
	if a.hop0 != "" {
		errs = append(errs, a.inNetns(func() error {
			l, err := netlink.LinkByName(a.hop0)
			if err != nil {
				return nil // gone with its namespace
			}
			return netlink.LinkDel(l)
		}))
	}
	if d.objs.Ifconfig != nil {
		errs = append(errs, d.objs.Ifconfig.Update(uint32(0), &wgIfconfig{}, ebpf.UpdateAny))
	}
	a.ns.Close()
	return errors.Join(errs...)
}

// Detach removes the packet path from the interfaces; the maps stay.
func (d *Dataplane) Detach() error { return d.detach() }

// spreadHop turns on RPS over every online CPU on both ends of the hop:
// on hop1, so that encryption runs on the CPU the inner flow's hash picks
// (flows in parallel, instead of everything on the sending CPU, which a
// veth pair would otherwise keep it on); on hop0, so that decryption can be
// handed to another CPU (wg_rx_handoff in bpf/ingress.h). Returns the
// number of CPUs in the maps. The hop is ours and goes away on detach, so
// nothing is undone. rps_cpus lives in sysfs, which shows the network
// namespace it was mounted in: a throwaway thread enters ours, takes a
// private mount namespace and mounts its own sysfs there (without
// CAP_SYS_ADMIN it tries the /sys it has, if that shows our hop).
func (a *attachment) spreadHop() (int, error) {
	type res struct {
		n   int
		err error
	}
	rc := make(chan res, 1)
	go func() {
		// Locked and never unlocked: the thread dies with the goroutine,
		// its namespaces with it.
		runtime.LockOSThread()
		n, err := a.spreadHopLocked()
		rc <- res{n, err}
	}()
	r := <-rc
	if r.err != nil {
		return 0, fmt.Errorf("attach: RPS on the hop (encryption and decryption stay on one CPU per packet path): %w", r.err)
	}
	return r.n, nil
}

func (a *attachment) spreadHopLocked() (int, error) {
	if err := netns.Set(a.ns); err != nil {
		return 0, err
	}
	sys := "/sys"
	if err := unix.Unshare(unix.CLONE_NEWNS); err == nil {
		if err := unix.Mount("", "/", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
			return 0, fmt.Errorf("mount namespace: %w", err)
		}
		// EBUSY: /sys is already this namespace's sysfs (ip netns exec
		// mounts one); the ifindex check below tells.
		if err := unix.Mount("sysfs", "/sys", "sysfs", unix.MS_NOSUID|unix.MS_NOEXEC|unix.MS_NODEV, ""); err != nil && err != unix.EBUSY {
			return 0, fmt.Errorf("mounting sysfs: %w", err)
		}
	}
	cpus, err := onlineCPUs(sys)
	if err != nil {
		return 0, err
	}
	mask := cpuMask(cpus)
	for _, x := range []struct {
		name string
		idx  int
	}{{a.hop0, a.hop0Idx}, {a.hop1, a.hop1Idx}} {
		dir := filepath.Join(sys, "class/net", x.name)
		b, err := os.ReadFile(filepath.Join(dir, "ifindex"))
		if err != nil {
			return 0, err
		}
		if strings.TrimSpace(string(b)) != strconv.Itoa(x.idx) {
			return 0, fmt.Errorf("%s in sysfs is not ours (another network namespace)", x.name)
		}
		if err := os.WriteFile(filepath.Join(dir, "queues/rx-0/rps_cpus"), []byte(mask), 0); err != nil {
			return 0, err
		}
	}
	return len(cpus), nil
}

// onlineCPUs parses <sys>/devices/system/cpu/online ("0-3,8").
func onlineCPUs(sys string) ([]int, error) {
	b, err := os.ReadFile(filepath.Join(sys, "devices/system/cpu/online"))
	if err != nil {
		return nil, err
	}
	var cpus []int
	for _, r := range strings.Split(strings.TrimSpace(string(b)), ",") {
		lo, hi, ok := strings.Cut(r, "-")
		l, err := strconv.Atoi(lo)
		if err != nil {
			return nil, fmt.Errorf("cpu list %q: %w", b, err)
		}
		h := l
		if ok {
			if h, err = strconv.Atoi(hi); err != nil {
				return nil, fmt.Errorf("cpu list %q: %w", b, err)
			}
		}
		for c := l; c <= h; c++ {
			cpus = append(cpus, c)
		}
	}
	return cpus, nil
}

// cpuMask formats cpus as sysfs wants a cpumask: 32-bit hex words, most
// significant first, separated by commas.
func cpuMask(cpus []int) string {
	words := make([]uint32, 1)
	for _, c := range cpus {
		for len(words) <= c/32 {
			words = append(words, 0)
		}
		words[c/32] |= 1 << (c % 32)
	}
	parts := make([]string, len(words))
	for i, w := range words {
		parts[len(words)-1-i] = fmt.Sprintf("%08x", w)
	}
	return strings.Join(parts, ",")
}

// SetListenPort moves the packet path to another UDP port: ingress then
// takes data messages to port, and encrypted packets leave from it. The
// daemon's socket must already be bound there (handshakes still go to it).
func (d *Dataplane) SetListenPort(port uint16) error {
	if port == 0 {
		return errors.New("set listen port: port 0")
	}
	return d.updateIfconfig("set listen port", func(ifc *wgIfconfig) { ifc.ListenPort = port })
}

// SetMTU changes the largest inner packet the packet path encrypts (the
// interface's MTU, which the caller sets too).
func (d *Dataplane) SetMTU(mtu int) error {
	if mtu < 576 || mtu > maxMTU {
		return fmt.Errorf("set MTU: %d outside [576, %d]", mtu, maxMTU)
	}
	return d.updateIfconfig("set MTU", func(ifc *wgIfconfig) { ifc.Mtu = uint32(mtu) })
}

// SetFwMark changes the mark of outer packets and of their route lookup
// (0: none).
func (d *Dataplane) SetFwMark(mark uint32) error {
	return d.updateIfconfig("set fwmark", func(ifc *wgIfconfig) { ifc.Fwmark = mark })
}

// updateIfconfig rewrites the interface configuration the programs read;
// they see either the old or the new value of each field.
func (d *Dataplane) updateIfconfig(what string, change func(*wgIfconfig)) error {
	if d.att == nil {
		return errors.New("dataplane not attached")
	}
	var ifc wgIfconfig
	if err := d.objs.Ifconfig.Lookup(uint32(0), &ifc); err != nil {
		return fmt.Errorf("%s: reading ifconfig: %w", what, err)
	}
	change(&ifc)
	if err := d.objs.Ifconfig.Update(uint32(0), &ifc, ebpf.UpdateExist); err != nil {
		return fmt.Errorf("%s: writing ifconfig: %w", what, err)
	}
	return nil
}
