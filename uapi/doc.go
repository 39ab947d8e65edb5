// SPDX-License-Identifier: MIT

// Package uapi implements WireGuard's cross-platform userspace configuration
// protocol, the line-oriented text protocol that wg(8), wgctrl and
// wireguard-go speak on /var/run/wireguard/<ifname>.sock, so that the usual
// tools can inspect and configure a wgbpfd interface.
//
// The package owns the wire format only. A set request is parsed completely
// into a typed SetRequest before anything is applied; the daemon implements
// Device and applies the request atomically. Get responses are rendered from a
// State snapshot. Every error carries an errno (see Errno) that is reported to
// the client with the same sign and values wireguard-go uses.
//
// Protocol summary (https://www.wireguard.com/xplatform/):
//
//	get=1\n\n                  -> key=value lines, errno=0\n\n
//	set=1\nkey=value\n...\n\n   -> errno=N\n\n
//
// Several requests may follow one another on a connection. A request that
// fails is answered with its errno and the connection is then closed, as
// wireguard-go does.
package uapi
