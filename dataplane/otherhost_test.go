package dataplane

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/wgbpfd/wgbpfd/keystore"
)

// TestTunnelOtherHostFrame: a valid, fresh data message in a frame for
// another host's MAC (what a promiscuous interface or a bridge port sees)
// is not decrypted: B's stack drops it, as it would before any socket. The
// same kind of message in a frame for B's MAC, sent right after, is.
func TestTunnelOtherHostFrame(t *testing.T) {
	tn := newTunnel(t, SuiteChaCha20Poly1305, false)
	a, b := tn.a, tn.b
	ks := keystore.Suite(tn.suite)
	ping(t, a, b.inner4, 1) // neighbours resolved, keypair in use

	seal := func(ctr uint64, text string) []byte {
		inner := udp4Packet(a.inner4, b.inner4, 9999, 9999, []byte(text))
		padded := make([]byte, keystore.PaddedLen(ks, len(inner), tn.mtu))
		copy(padded, inner)
		msg := keystore.AppendDataHeader(nil, ks, indexB, ctr)
		return keystore.SealPayload(ks, &tn.keyAB, ctr, msg, padded)
	}
	first, err := a.dp.ReserveCounters(indexA, 2)
	must(t, err)
	foreign, mine := seal(first, "to another host"), seal(first+1, "to B")

	var bMAC net.HardwareAddr
	b.ns.MustDo(t, func() error {
		ifi, err := net.InterfaceByName(b.underlay)
		bMAC = ifi.HardwareAddr
		return err
	})
	otherMAC := net.HardwareAddr{0x02, 0x00, 0x5e, 0x10, 0x20, 0x30}
	var fd, ifindex int
	var aMAC net.HardwareAddr
	a.ns.MustDo(t, func() error {
		ifi, err := net.InterfaceByName(a.underlay)
		if err != nil {
			return err
		}
		ifindex, aMAC = ifi.Index, ifi.HardwareAddr
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		return err
	})
	t.Cleanup(func() { unix.Close(fd) })
	sendFrame := func(dst net.HardwareAddr, payload []byte) {
		t.Helper()
		frame := append(append(append([]byte{}, dst...), aMAC...), 0x08, 0x00)
		frame = append(frame, udp4Packet(a.outer4, b.outer4, tunnelPort, tunnelPort, payload)...)
		to := &unix.SockaddrLinklayer{Ifindex: ifindex, Halen: 6, Protocol: htons(unix.ETH_P_IP)}
		copy(to.Addr[:], dst)
		if err := unix.Sendto(fd, frame, 0, to); err != nil {
			t.Fatalf("sending a frame to %v: %v", dst, err)
		}
	}

	listener := udpSocket(t, b, netip.AddrPortFrom(b.inner4, 9999))
	before, err := b.dp.PeerStats(peerOfA)
	must(t, err)
	dropsBefore, err := b.dp.Drops()
	must(t, err)

	sendFrame(otherMAC, foreign)
	sendFrame(bMAC, mine)
	var got []string
	buf := make([]byte, 2048)
	for deadline := time.Now().Add(5 * time.Second); ; {
		listener.SetReadDeadline(deadline)
		n, err := listener.Read(buf)
		if err != nil {
			break
		}
		got = append(got, string(buf[:n]))
		// After B's message, a little longer for anything behind it.
		deadline = time.Now().Add(200 * time.Millisecond)
	}
	if len(got) != 1 || got[0] != "to B" {
		t.Fatalf("B's inner socket received %q; want only %q", got, "to B")
	}
	after, err := b.dp.PeerStats(peerOfA)
	must(t, err)
	if after.RxPackets != before.RxPackets+1 {
		t.Errorf("B's rx packets went from %d to %d; want one more", before.RxPackets, after.RxPackets)
	}
	dropsAfter, err := b.dp.Drops()
	must(t, err)
	for r, n := range dropsAfter {
		if n != dropsBefore[r] {
			t.Errorf("drop counter %s went from %d to %d; the foreign frame is not ours to count", r, dropsBefore[r], n)
		}
	}
}
