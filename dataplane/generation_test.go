// SPDX-License-Identifier: MIT

package dataplane

import (
	"crypto/rand"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// TestTunnelInstallRace: A's keypair index is removed and installed again,
// each time with a new key and a new receiver index at B, while A sends
// through the tunnel as fast as it can. A packet numbered by one install
// and sealed under the next one's key (or carrying the next one's receiver
// index) would fail its tag at B, or land in the wrong replay window and
// later push out packets of the right one; so B must count no bad tag and
// no replay, having received packets of many installs.
func TestTunnelInstallRace(t *testing.T) {
	tn := newTunnel(t, SuiteChaCha20Poly1305, false)
	a, b := tn.a, tn.b
	ping(t, a, b.inner4, 1)

	const cycles = 300
	const firstRemote = 0x30000
	keys := make([][32]byte, cycles)
	for i := range keys {
		rand.Read(keys[i][:])
		must(t, b.dp.InstallSession(&SessionKeys{Suite: tn.suite, LocalIndex: firstRemote + uint32(i),
			RemoteIndex: indexA, PeerID: peerOfA, Send: tn.keyBA, Receive: keys[i]}))
	}
	base, err := b.dp.Drops()
	must(t, err)
	rxBefore, err := b.dp.PeerStats(peerOfA)
	must(t, err)

	listener := udpSocket(t, b, netip.AddrPortFrom(b.inner4, 9999))
	go func() {
		buf := make([]byte, 2048)
		for {
			if _, err := listener.Read(buf); err != nil {
				return
			}
		}
	}()
	sender := udpSocket(t, a, netip.AddrPortFrom(a.inner4, 0))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		to := netip.AddrPortFrom(b.inner4, 9999)
		payload := make([]byte, 200)
		for {
			select {
			case <-stop:
				return
			default:
			}
			sender.WriteToUDPAddrPort(payload, to) // errors: a full queue while no keypair is installed
		}
	}()

	for i := range cycles {
		must(t, a.dp.RemoveSession(indexA))
		must(t, a.dp.InstallSession(&SessionKeys{Suite: tn.suite, LocalIndex: indexA,
			RemoteIndex: firstRemote + uint32(i), PeerID: peerOfB, Initiator: true, Send: keys[i], Receive: tn.keyBA}))
		time.Sleep(time.Millisecond)
	}
	close(stop)
	wg.Wait()
	time.Sleep(200 * time.Millisecond) // what is in flight arrives

	rxAfter, err := b.dp.PeerStats(peerOfA)
	must(t, err)
	received := rxAfter.RxPackets - rxBefore.RxPackets
	d := dropDelta(t, b.dp, base)
	t.Logf("%d installs under traffic: B received %d packets; drops %v", cycles, received, d)
	if d["bad_tag"] != 0 || d["replay"] != 0 {
		t.Errorf("B counted %d bad tags and %d replays: a packet mixed two installs", d["bad_tag"], d["replay"])
	}
	if received < cycles {
		t.Errorf("B received only %d packets over %d installs: the race was hardly exercised", received, cycles)
	}
}
