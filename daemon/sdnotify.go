// SPDX-License-Identifier: MIT

package daemon

import (
	"fmt"
	"net"
	"os"
)

// sdNotify sends a state line ("READY=1", "RELOADING=1", "STOPPING=1") to
// systemd when the daemon runs under a Type=notify unit. Without
// NOTIFY_SOCKET it does nothing: the daemon runs fine outside systemd.
func sdNotify(state string) error {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return nil
	}
	if path[0] == '@' { // abstract socket namespace
		path = "\x00" + path[1:]
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("sd_notify %q: %w", state, err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		return fmt.Errorf("sd_notify %q: %w", state, err)
	}
	return nil
}
