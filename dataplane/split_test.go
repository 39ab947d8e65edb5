package dataplane

import (
	"bytes"
	"net/netip"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/wgbpfd/wgbpfd/internal/testenv"
	"github.com/wgbpfd/wgbpfd/keystore"
)

// TestTunnelSplitOpen: a large aes-cbc data message is checked, verified
// and partly decrypted on the CPU that receives it and finished on the CPU
// it is handed to (wg_rx_split). The plaintext arrives intact; a replay and
// a forgery are refused and counted by the first part; and the internal
// message type between the two parts is not accepted from the wire: it goes
// to the daemon's socket like any message the kernel does not handle.
func TestTunnelSplitOpen(t *testing.T) {
	if runtime.NumCPU() < 2 {
		testenv.Unavailable(t, "needs 2 CPUs: with one there is no hand-off to split across")
	}
	tn := newTunnel(t, SuiteAESCBC, false)
	a, b := tn.a, tn.b
	ks := keystore.Suite(tn.suite)
	ping(t, a, b.inner4, 1) // neighbours resolved, keypair in use

	text := func(i byte) []byte { return bytes.Repeat([]byte{'a' + i}, 1000) }
	seal := func(ctr uint64, body []byte) []byte {
		inner := udp4Packet(a.inner4, b.inner4, 9999, 9999, body)
		padded := make([]byte, keystore.PaddedLen(ks, len(inner), tn.mtu))
		copy(padded, inner)
		msg := keystore.AppendDataHeader(nil, ks, indexB, ctr)
		return keystore.SealPayload(ks, &tn.keyAB, ctr, msg, padded)
	}
	first, err := a.dp.ReserveCounters(indexA, 4)
	must(t, err)

	inject := udpSocket(t, a, netip.AddrPortFrom(a.outer4, tunnelPort))
	daemon := udpSocket(t, b, netip.AddrPortFrom(b.outer4, tunnelPort))
	listener := udpSocket(t, b, netip.AddrPortFrom(b.inner4, 9999))
	to := netip.AddrPortFrom(b.outer4, tunnelPort)
	send := func(p []byte) {
		t.Helper()
		if _, err := inject.WriteToUDPAddrPort(p, to); err != nil {
			t.Fatal(err)
		}
	}
	// received returns what B's inner socket gets within wait.
	received := func(wait time.Duration) [][]byte {
		t.Helper()
		var got [][]byte
		buf := make([]byte, 2048)
		for deadline := time.Now().Add(wait); ; {
			listener.SetReadDeadline(deadline)
			n, err := listener.Read(buf)
			if err != nil {
				return got
			}
			got = append(got, slices.Clone(buf[:n]))
			deadline = time.Now().Add(200 * time.Millisecond)
		}
	}
	_, hop1 := hopNames("wg0")
	handoffs := func() uint64 {
		t.Helper()
		h, err := netlink.NewHandleAt(b.ns.Handle())
		must(t, err)
		defer h.Close()
		l, err := h.LinkByName(hop1)
		must(t, err)
		return l.Attrs().Statistics.TxPackets
	}
	drops := func() map[string]uint64 {
		t.Helper()
		d, err := b.dp.Drops()
		must(t, err)
		return d
	}
	base := drops()

	t.Run("delivered", func(t *testing.T) {
		before := handoffs()
		send(seal(first, text(0)))
		got := received(5 * time.Second)
		if len(got) != 1 || !bytes.Equal(got[0], text(0)) {
			t.Fatalf("B's inner socket received %d datagrams; want the 1000 bytes sent", len(got))
		}
		if n := handoffs() - before; n != 1 {
			t.Errorf("%d hand-offs for one large message; want 1 (it is decrypted in two parts)", n)
		}
	})
	t.Run("replay", func(t *testing.T) {
		send(seal(first, text(0)))
		waitDrop(t, b.dp, "replay", base["replay"])
	})
	t.Run("forged", func(t *testing.T) {
		m := seal(first+1, text(1))
		m[len(m)-tagLen-1] ^= 1 // the last block, which the first part decrypts
		send(m)
		waitDrop(t, b.dp, "bad_tag", base["bad_tag"])
	})
	t.Run("internal-type-from-the-wire", func(t *testing.T) {
		before := drops()
		stats, err := b.dp.PeerStats(peerOfA)
		must(t, err)
		m := seal(first+2, text(2))
		m[0], m[1] = 0xc4, 10 // WG_MSG_SPLIT_AESCBC, 10 leading blocks
		send(m)
		daemon.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 2048)
		n, err := daemon.Read(buf)
		if err != nil {
			t.Fatalf("daemon socket: %v", err)
		}
		if !bytes.Equal(buf[:n], m) {
			t.Fatalf("daemon socket got %d bytes of type %#x; want the %d sent", n, buf[0], len(m))
		}
		if got := received(300 * time.Millisecond); len(got) != 0 {
			t.Errorf("B's inner socket received %d datagrams from an internal message off the wire", len(got))
		}
		after, err := b.dp.PeerStats(peerOfA)
		must(t, err)
		if after.RxPackets != stats.RxPackets {
			t.Errorf("B's rx packets went from %d to %d", stats.RxPackets, after.RxPackets)
		}
		for r, n := range drops() {
			if n != before[r] {
				t.Errorf("drop counter %s went from %d to %d", r, before[r], n)
			}
		}
	})
	t.Run("still-works", func(t *testing.T) {
		send(seal(first+3, text(3)))
		if got := received(5 * time.Second); len(got) != 1 || !bytes.Equal(got[0], text(3)) {
			t.Fatalf("B's inner socket received %d datagrams; want the 1000 bytes sent", len(got))
		}
	})
}
