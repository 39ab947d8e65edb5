// SPDX-License-Identifier: MIT

package dataplane

import (
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/wgbpfd/wgbpfd/internal/testenv"
	"github.com/wgbpfd/wgbpfd/netif"
)

// TestSmallPacketHandoff: small data messages are decrypted on the CPU that
// received them while they come one at a time (pings), and handed to
// another CPU while they flood in. Every hand-off leaves through
// <tun>-hop1, so its transmit counter counts them.
func TestSmallPacketHandoff(t *testing.T) {
	if runtime.NumCPU() < 2 {
		testenv.Unavailable(t, "needs 2 CPUs: with one there is no other CPU to hand off to")
	}
	for _, suite := range []uint8{SuiteChaCha20Poly1305, SuiteAESCBC} {
		t.Run(suiteName(suite), func(t *testing.T) {
			tn := newTunnel(t, suite, false)
			hop1 := netif.HopNames("wg0")[1]
			handoffs := func() uint64 {
				t.Helper()
				h, err := netlink.NewHandleAt(tn.b.ns.Handle())
				must(t, err)
				defer h.Close()
				l, err := h.LinkByName(hop1)
				must(t, err)
				return l.Attrs().Statistics.TxPackets
			}

			// One at a time, 20 ms apart: never handed off.
			before := handoffs()
			for range 20 {
				ping(t, tn.a, tn.b.inner4, 1)
				time.Sleep(20 * time.Millisecond)
			}
			if n := handoffs() - before; n != 0 {
				t.Errorf("%d of 20 single pings were handed off; they should stay on their CPU", n)
			}

			// A flood of 64-byte datagrams: most are handed off once the
			// run is long enough (a slow machine may break some runs).
			conn := udpSocket(t, tn.a, netip.AddrPortFrom(tn.a.inner4, 0))
			dst := netip.AddrPortFrom(tn.b.inner4, 9)
			payload := make([]byte, 64)
			const flood = 4000
			before = handoffs()
			for range flood {
				if _, err := conn.WriteToUDPAddrPort(payload, dst); err != nil {
					t.Fatalf("sending: %v", err)
				}
			}
			var n uint64
			for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
				if n = handoffs() - before; n >= flood/4 {
					break
				}
			}
			if n < flood/4 {
				t.Errorf("%d of %d flooding datagrams were handed off, want at least %d", n, flood, flood/4)
			}
			t.Logf("%d of %d flooding datagrams handed off", n, flood)

			// The tunnel still works, and pings stay local again.
			ping(t, tn.a, tn.b.inner4, 2)
		})
	}
}
