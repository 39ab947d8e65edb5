// SPDX-License-Identifier: MIT

package dataplane

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/wgbpfd/wgbpfd/keystore"
)

// TestTunnelKeystore checks the kernel's packets against the userspace
// reference suites, both ways: a data message sealed by A's dataplane opens
// with keystore.OpenPayload, and a keepalive and a data message sealed with
// keystore.SealPayload (counters reserved from A's keypair, as the daemon
// does for its own sends) are accepted by B's dataplane.
func TestTunnelKeystore(t *testing.T) {
	for _, suite := range []uint8{SuiteChaCha20Poly1305, SuiteAESCBC} {
		t.Run(suiteName(suite), func(t *testing.T) {
			tn := newTunnel(t, suite, false)
			a, b := tn.a, tn.b
			ks := keystore.Suite(suite)

			fd := capture(t, b)
			ping(t, a, b.inner4, 1)
			msg := nextDataMessage(t, fd, time.Now().Add(5*time.Second))
			s, recv, ctr, payload, err := keystore.ParseDataHeader(msg.payload)
			must(t, err)
			if s != ks || recv != indexB {
				t.Fatalf("header: suite %v receiver %#x, want %v %#x", s, recv, ks, indexB)
			}
			pt, err := keystore.OpenPayload(ks, &tn.keyAB, ctr, nil, payload)
			if err != nil {
				t.Fatalf("reference suite cannot open the kernel's message: %v", err)
			}
			total := int(pt[2])<<8 | int(pt[3])
			if pt[0]>>4 != 4 || netip.AddrFrom4([4]byte(pt[12:16])) != a.inner4 ||
				len(pt) != PaddedLen(suite, total, tn.mtu) || len(pt) != keystore.PaddedLen(ks, total, tn.mtu) {
				t.Fatalf("kernel plaintext: %d bytes for a %d-byte packet: % x", len(pt), total, pt[:20])
			}

			first, err := a.dp.ReserveCounters(indexA, 2)
			must(t, err)
			before, err := b.dp.PeerStats(peerOfA)
			must(t, err)
			inject := udpSocket(t, a, netip.AddrPortFrom(a.outer4, tunnelPort))
			listener := udpSocket(t, b, netip.AddrPortFrom(b.inner4, 9999))
			to := netip.AddrPortFrom(b.outer4, tunnelPort)

			keepalive := keystore.AppendDataHeader(nil, ks, indexB, first)
			keepalive = keystore.SealPayload(ks, &tn.keyAB, first, keepalive, nil)
			text := []byte("sealed in userspace")
			inner := udp4Packet(a.inner4, b.inner4, 9999, 9999, text)
			padded := make([]byte, keystore.PaddedLen(ks, len(inner), tn.mtu))
			copy(padded, inner)
			data := keystore.AppendDataHeader(nil, ks, indexB, first+1)
			data = keystore.SealPayload(ks, &tn.keyAB, first+1, data, padded)
			// The keepalive alone first: it counts as a packet received,
			// but not as data (the daemon's timers must not answer it).
			// Times come back converted from CLOCK_BOOTTIME, with some
			// nanoseconds of jitter; the pause makes the gap unmistakable.
			time.Sleep(20 * time.Millisecond)
			if _, err := inject.WriteToUDPAddrPort(keepalive, to); err != nil {
				t.Fatal(err)
			}
			mid := before
			for deadline := time.Now().Add(5 * time.Second); mid.RxKeepalives == before.RxKeepalives && time.Now().Before(deadline); {
				time.Sleep(10 * time.Millisecond)
				mid, err = b.dp.PeerStats(peerOfA)
				must(t, err)
			}
			if mid.RxKeepalives != before.RxKeepalives+1 || mid.LastRxData.Sub(before.LastRxData).Abs() > time.Millisecond ||
				mid.LastRx.Sub(before.LastRx) < 10*time.Millisecond {
				t.Fatalf("after a keepalive B's counters are %+v (before %+v): want a keepalive, a new LastRx and the same LastRxData", mid, before)
			}
			if _, err := inject.WriteToUDPAddrPort(data, to); err != nil {
				t.Fatal(err)
			}
			listener.SetReadDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, 2048)
			n, err := listener.Read(buf)
			if err != nil || !bytes.Equal(buf[:n], text) {
				t.Fatalf("B received %q, %v; want %q", buf[:n], err, text)
			}
			after, err := b.dp.PeerStats(peerOfA)
			must(t, err)
			if after.RxKeepalives != before.RxKeepalives+1 || after.RxPackets != before.RxPackets+2 {
				t.Fatalf("B's counters before %+v after %+v: want one keepalive and two packets more", before, after)
			}
			drops, err := b.dp.Drops()
			must(t, err)
			for r, n := range drops {
				if n != 0 {
					t.Errorf("drop counter %s = %d, want none", r, n)
				}
			}
		})
	}
}
