// SPDX-License-Identifier: MIT

package uapi

import "time"

// Implementation limits: not part of the protocol, chosen so that no input
// can make the server use unbounded memory.
const (
	// MaxLineBytes bounds one line. The longest legitimate line is an
	// endpoint with a zone, far below this; wireguard-go's scanner has the
	// same 64 KiB limit.
	MaxLineBytes = 64 << 10

	// MaxRequestBytes bounds one set request (about half a million
	// allowed_ip lines).
	MaxRequestBytes = 16 << 20

	// writeTimeout bounds how long a reply may wait for a client that does
	// not read.
	writeTimeout = 10 * time.Second

	// dialProbeTimeout bounds the probe of an existing socket in Listen.
	dialProbeTimeout = time.Second

	// readBufferBytes is the size of a connection's read buffer.
	readBufferBytes = 4096
)
