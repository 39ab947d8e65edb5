// SPDX-License-Identifier: MIT

package uapi

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
)

// ErrInUse is returned by Listen when a live process answers on the socket.
var ErrInUse = errors.New("uapi: socket in use by a running process")

// SocketPath returns the path of the control socket of interface ifname.
func SocketPath(ifname string) string {
	return filepath.Join(SocketDir, ifname+SocketSuffix)
}

// ValidIfName reports whether name is a valid Linux interface name (the
// kernel's dev_valid_name), which also makes it a safe file name.
func ValidIfName(name string) bool {
	if name == "" || len(name) > MaxIfNameLen || name == "." || name == ".." {
		return false
	}
	return !strings.ContainsAny(name, "/: \t\n\v\f\r\x00")
}

// Listen creates the control socket of interface ifname in SocketDir
// (created with mode 0755 if missing). The socket is created with umask 077
// (mode 0600, root only). A socket file left by a crashed process, one on
// which nothing answers, is replaced; if a process answers, Listen returns
// ErrInUse. Closing the listener removes the socket file.
func Listen(ifname string) (net.Listener, error) {
	if !ValidIfName(ifname) {
		return nil, fmt.Errorf("uapi: invalid interface name %q", ifname)
	}
	if err := os.MkdirAll(SocketDir, 0o755); err != nil {
		return nil, fmt.Errorf("uapi: creating socket directory: %w", err)
	}
	return listenAt(SocketPath(ifname))
}

// listenAt is Listen for an explicit path.
func listenAt(path string) (net.Listener, error) {
	l, err := listenUnix(path)
	if err == nil {
		return l, nil
	}
	if !errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("uapi: listen on %s: %w", path, err)
	}
	fi, lerr := os.Lstat(path)
	if lerr != nil {
		return nil, fmt.Errorf("uapi: listen on %s: %w", path, err)
	}
	if fi.Mode().Type() != os.ModeSocket {
		return nil, fmt.Errorf("uapi: %s exists and is not a socket", path)
	}
	c, derr := net.DialTimeout("unix", path, dialProbeTimeout)
	if derr == nil {
		c.Close()
		return nil, fmt.Errorf("%w: %s", ErrInUse, path)
	}
	if !errors.Is(derr, syscall.ECONNREFUSED) {
		// Something may be alive but slow (EAGAIN: backlog full); do
		// not take its socket away.
		return nil, fmt.Errorf("uapi: probing existing socket %s: %w", path, derr)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("uapi: removing stale socket: %w", err)
	}
	l, err = listenUnix(path)
	if err != nil {
		return nil, fmt.Errorf("uapi: listen on %s: %w", path, err)
	}
	return l, nil
}

// umaskMu serialises the umask changes of this package. The umask is
// process-wide; 077 can only make files that other goroutines create at
// the same moment stricter, never looser.
var umaskMu sync.Mutex

func listenUnix(path string) (*net.UnixListener, error) {
	umaskMu.Lock()
	old := syscall.Umask(0o077)
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	syscall.Umask(old)
	umaskMu.Unlock()
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("chmod: %w", err)
	}
	return l, nil
}
