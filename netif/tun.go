// SPDX-License-Identifier: MIT

package netif

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// tunDevice is the clone device every TUN is created through.
const tunDevice = "/dev/net/tun"

// ValidateName checks that name can be a Linux interface name: the kernel
// accepts at most IFNAMSIZ-1 bytes and rejects "/", ":" and whitespace, and
// "." / ".." would collide with sysfs entries.
func ValidateName(name string) error {
	switch {
	case name == "":
		return errors.New("interface name is empty")
	case len(name) >= unix.IFNAMSIZ:
		return fmt.Errorf("interface name %q is longer than %d bytes", name, unix.IFNAMSIZ-1)
	case name == "." || name == "..":
		return fmt.Errorf("interface name %q is not allowed", name)
	case strings.ContainsAny(name, "/: \t\n\r\v\f"):
		return fmt.Errorf("interface name %q contains '/', ':' or whitespace", name)
	}
	return nil
}

// CreateTUN creates a layer-3 TUN interface (IFF_TUN|IFF_NO_PI: every read
// and write is one bare IP packet, as the data plane and the userspace slow
// path expect) and returns the open queue file and the new link's index.
//
// The link is not persistent: it lives exactly as long as the returned file
// is open (or until it is deleted), so a daemon killed with -9 does not leave
// it behind. The file is non-blocking and registered with Go's poller, so
// closing it from another goroutine unblocks a pending Read.
//
// An existing interface of that name is an error, never adopted: IFF_TUN_EXCL
// makes the kernel refuse atomically instead of silently attaching to a
// persistent TUN someone else created.
func CreateTUN(name string) (*os.File, int, error) {
	if err := ValidateName(name); err != nil {
		return nil, 0, err
	}
	fd, err := unix.Open(tunDevice, unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, 0, fmt.Errorf("create TUN %s: open %s: %w", name, tunDevice, err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return nil, 0, fmt.Errorf("create TUN %s: %w", name, err)
	}
	ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI | unix.IFF_TUN_EXCL)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		if errors.Is(err, unix.EBUSY) {
			return nil, 0, fmt.Errorf("interface %s already exists: %w", name, os.ErrExist)
		}
		return nil, 0, fmt.Errorf("create TUN %s: TUNSETIFF: %w", name, err)
	}
	// The kernel may have rewritten the name (a "%d" template); report what
	// was actually created.
	actual := ifr.Name()
	f := os.NewFile(uintptr(fd), tunDevice+":"+actual)
	link, err := netlink.LinkByName(actual)
	if err != nil {
		f.Close() // the link goes away with its only queue
		return nil, 0, fmt.Errorf("create TUN %s: look up new link: %w", actual, err)
	}
	return f, link.Attrs().Index, nil
}

// tunHasQueue reports whether a process holds a queue of the single-queue
// TUN with this index. The kernel reports IFLA_TUN_NUM_QUEUES only for
// multi-queue devices, but it turns the carrier on when a queue attaches
// and off when the last one detaches, whether or not the link is up, and
// IFLA_CARRIER carries exactly that. (sysfs's carrier file would refuse to
// answer for a down link and shows the namespace sysfs was mounted in.)
func tunHasQueue(ifindex int) (bool, error) {
	req := nl.NewNetlinkRequest(unix.RTM_GETLINK, unix.NLM_F_ACK)
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(ifindex)
	req.AddData(msg)
	msgs, err := req.Execute(unix.NETLINK_ROUTE, unix.RTM_NEWLINK)
	if err != nil {
		return false, fmt.Errorf("query carrier of interface index %d: %w", ifindex, err)
	}
	for _, m := range msgs {
		ifi := nl.DeserializeIfInfomsg(m)
		attrs, err := nl.ParseRouteAttr(m[ifi.Len():])
		if err != nil {
			return false, fmt.Errorf("parse interface index %d: %w", ifindex, err)
		}
		for _, a := range attrs {
			if a.Attr.Type == unix.IFLA_CARRIER && len(a.Value) > 0 {
				return a.Value[0] != 0, nil
			}
		}
	}
	return false, fmt.Errorf("interface index %d: kernel reported no carrier state", ifindex)
}

// Persist makes the TUN behind f persistent (TUNSETPERSIST): it stays when
// the last file descriptor closes, so that the data plane attached to it
// keeps forwarding while its daemon is gone (crash or planned restart).
// Deleting the link (Teardown, CleanupStale) still removes it.
func Persist(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ioErr error
	if err := rc.Control(func(fd uintptr) { ioErr = unix.IoctlSetInt(int(fd), unix.TUNSETPERSIST, 1) }); err != nil {
		return err
	}
	if ioErr != nil {
		return fmt.Errorf("TUNSETPERSIST: %w", ioErr)
	}
	return nil
}

// OpenTUN attaches a queue to the existing persistent TUN name (left by a
// daemon that died or handed over) and returns it like CreateTUN. It
// refuses a link that is not a TUN or that a process still holds.
func OpenTUN(name string) (*os.File, int, error) {
	if err := ValidateName(name); err != nil {
		return nil, 0, err
	}
	l, err := netlink.LinkByName(name)
	if err != nil {
		return nil, 0, fmt.Errorf("open TUN %s: %w", name, err)
	}
	tun, ok := l.(*netlink.Tuntap)
	if !ok || tun.Mode != netlink.TUNTAP_MODE_TUN {
		return nil, 0, fmt.Errorf("open TUN %s: it is a %s link, not a TUN", name, l.Type())
	}
	if inUse, err := tunHasQueue(l.Attrs().Index); err != nil {
		return nil, 0, err
	} else if inUse {
		return nil, 0, fmt.Errorf("interface %s is in use by a running process (a queue is attached); is another wgbpfd running for it?", name)
	}
	fd, err := unix.Open(tunDevice, unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, 0, fmt.Errorf("open TUN %s: open %s: %w", name, tunDevice, err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return nil, 0, fmt.Errorf("open TUN %s: %w", name, err)
	}
	ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return nil, 0, fmt.Errorf("open TUN %s: TUNSETIFF: %w", name, err)
	}
	f := os.NewFile(uintptr(fd), tunDevice+":"+name)
	return f, l.Attrs().Index, nil
}

// TUNOrphan reports whether name is a TUN that no process holds (a
// persistent one whose daemon is gone), and its index.
func TUNOrphan(name string) (bool, int, error) {
	l, err := netlink.LinkByName(name)
	if err != nil {
		if isNotFound(err) {
			return false, 0, nil
		}
		return false, 0, err
	}
	if _, ok := l.(*netlink.Tuntap); !ok {
		return false, 0, nil
	}
	inUse, err := tunHasQueue(l.Attrs().Index)
	if err != nil {
		return false, 0, err
	}
	return !inUse, l.Attrs().Index, nil
}
