// SPDX-License-Identifier: MIT

package dataplane

import (
	"testing"
	"time"
)

// TestTunnelListenPort: after SetListenPort, A's encrypted packets leave
// from the new port, B follows A there (roaming on an authenticated
// packet), and A's ingress takes B's replies on the new port: a ping
// still gets its answer.
func TestTunnelListenPort(t *testing.T) {
	tn := newTunnel(t, SuiteChaCha20Poly1305, false)
	a, b := tn.a, tn.b
	ping(t, a, b.inner4, 1)

	const newPort = 51999
	fd := capture(t, b)
	must(t, a.dp.SetListenPort(newPort))
	ping(t, a, b.inner4, 1)
	msg := nextDataMessage(t, fd, time.Now().Add(5*time.Second))
	if msg.src.Port() != newPort {
		t.Fatalf("A's data message came from %v; want port %d", msg.src, newPort)
	}
	if err := a.dp.SetListenPort(0); err == nil {
		t.Fatal("SetListenPort(0) succeeded")
	}
}
