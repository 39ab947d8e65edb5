// SPDX-License-Identifier: MIT

package nstest

import (
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// openTUN creates a TUN device in the calling thread's namespace (the
// device lives in the namespace that opened /dev/net/tun).
func openTUN(name string) (*TUN, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("opening /dev/net/tun: %w", err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("TUN name %q: %w", name, err)
	}
	ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("TUNSETIFF %s: %w", name, err)
	}
	ifi, err := net.InterfaceByName(ifr.Name())
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("looking up %s: %w", name, err)
	}
	return &TUN{Name: ifr.Name(), Index: ifi.Index, File: os.NewFile(uintptr(fd), "tun:"+name)}, nil
}
