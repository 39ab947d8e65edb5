// SPDX-License-Identifier: MIT

package dataplane

import (
	"fmt"
	"os"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

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
