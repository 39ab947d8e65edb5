// SPDX-License-Identifier: MIT

package dataplane

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// readTexts returns the datagrams listener receives until it has been
// quiet for a while (5 s before the first, 300 ms after each).
func readTexts(listener *net.UDPConn) []string {
	var got []string
	buf := make([]byte, 2048)
	for deadline := time.Now().Add(5 * time.Second); ; {
		listener.SetReadDeadline(deadline)
		n, err := listener.Read(buf)
		if err != nil {
			return got
		}
		got = append(got, string(buf[:n]))
		deadline = time.Now().Add(300 * time.Millisecond)
	}
}

func dropDelta(t *testing.T, dp *Dataplane, before map[string]uint64) map[string]uint64 {
	t.Helper()
	after, err := dp.Drops()
	must(t, err)
	d := map[string]uint64{}
	for r, n := range after {
		if n != before[r] {
			d[r] = n - before[r]
		}
	}
	return d
}

// TestTunnelOneReplayWindow: the daemon's commit (CommitReceive, for a
// message it opened from its socket) and the ingress program share one
// window per keypair, in both orders. A message the daemon committed first
// is refused when it then arrives whole at the data plane; one the data
// plane took first cannot be committed again. Each refusal counts as a
// replay. A keypair the kernel lacks answers ENOENT.
func TestTunnelOneReplayWindow(t *testing.T) {
	tn := newTunnel(t, SuiteChaCha20Poly1305, false)
	a, b := tn.a, tn.b
	ping(t, a, b.inner4, 1)
	inject := udpSocket(t, a, netip.AddrPortFrom(a.outer4, tunnelPort))
	to := netip.AddrPortFrom(b.outer4, tunnelPort)
	listener := udpSocket(t, b, netip.AddrPortFrom(b.inner4, 9999))
	msgs := messagesToB(t, tn, "daemon first", "data plane first")
	counter := func(m []byte) uint64 { return binary.LittleEndian.Uint64(m[8:16]) }
	base, err := b.dp.Drops()
	must(t, err)

	// Daemon first: its commit succeeds, the whole message then does not.
	must(t, b.dp.CommitReceive(indexB, counter(msgs[0])))
	// Data plane first: delivered, and the daemon's commit is refused.
	for _, m := range msgs {
		if _, err := inject.WriteToUDPAddrPort(m, to); err != nil {
			t.Fatal(err)
		}
	}
	if got := readTexts(listener); !slices.Equal(got, []string{"data plane first"}) {
		t.Fatalf("B delivered %q; want only the message the daemon had not committed", got)
	}
	if err := b.dp.CommitReceive(indexB, counter(msgs[1])); !errors.Is(err, ErrReplay) {
		t.Fatalf("committing a counter the data plane took: %v, want ErrReplay", err)
	}
	if d := dropDelta(t, b.dp, base); d["replay"] != 2 || len(d) != 1 {
		t.Errorf("drops moved by %v; want replay +2 (one per path) and nothing else", d)
	}
	if err := b.dp.CommitReceive(0xdead, 1); !errors.Is(err, unix.ENOENT) {
		t.Errorf("commit on an index the kernel lacks: %v, want ENOENT", err)
	}
}

// TestTunnelOuterChecks: fresh, valid data messages in frames for B's MAC
// whose outer header the stack would not hand to a unicast socket are not
// decrypted and do not move A's endpoint: to an address B does not have
// (with forwarding off: the stack drops it), from a loopback or martian
// source, to a broadcast or multicast address, or with a bad IPv4 header
// checksum. The refused ones are counted as outer_header; the one to
// another address is left to the stack. A valid message sent last is
// delivered.
func TestTunnelOuterChecks(t *testing.T) {
	tn := newTunnel(t, SuiteChaCha20Poly1305, false)
	a, b := tn.a, tn.b
	ping(t, a, b.inner4, 1)
	b.ns.MustRun(t, "sysctl", "-qw", "net.ipv4.conf.all.forwarding=0")

	type variant struct {
		name    string
		src     netip.Addr
		dst     netip.Addr
		mac     net.HardwareAddr
		mangle  func(ip []byte)
		refused bool // dropped and counted here, not left to the stack
	}
	bMAC := macOf(t, b)
	bcast := net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	mcast := net.HardwareAddr{0x01, 0x00, 0x5e, 0x00, 0x00, 0x01}
	variants := []variant{
		{name: "not-local", src: a.outer4, dst: netip.MustParseAddr("192.0.2.99"), mac: bMAC},
		{name: "loopback-src", src: netip.MustParseAddr("127.0.0.1"), dst: b.outer4, mac: bMAC, refused: true},
		{name: "zero-src", src: netip.MustParseAddr("0.0.0.7"), dst: b.outer4, mac: bMAC, refused: true},
		{name: "limited-broadcast", src: a.outer4, dst: netip.MustParseAddr("255.255.255.255"), mac: bcast, refused: true},
		{name: "subnet-broadcast-frame", src: a.outer4, dst: b.outer4, mac: bcast, refused: true},
		{name: "multicast", src: a.outer4, dst: netip.MustParseAddr("224.0.0.1"), mac: mcast, refused: true},
		{name: "loopback-dst", src: a.outer4, dst: netip.MustParseAddr("127.0.0.1"), mac: bMAC, refused: true},
		{name: "bad-header-checksum", src: a.outer4, dst: b.outer4, mac: bMAC, refused: true,
			mangle: func(ip []byte) { ip[10] ^= 0x5a }},
	}
	texts := []string{}
	for _, v := range variants {
		texts = append(texts, v.name)
	}
	msgs := messagesToB(t, tn, append(texts, "valid")...)

	listener := udpSocket(t, b, netip.AddrPortFrom(b.inner4, 9999))
	before, err := b.dp.PeerStats(peerOfA)
	must(t, err)
	base, err := b.dp.Drops()
	must(t, err)
	peerBefore, err := b.dp.GetPeer(peerOfA)
	must(t, err)
	refused := uint64(0)
	sendFrame := frameSender(t, a)
	for i, v := range variants {
		pkt := udp4Packet(v.src, v.dst, tunnelPort, tunnelPort, msgs[i])
		if v.mangle != nil {
			v.mangle(pkt)
		}
		sendFrame(v.mac, pkt)
		if v.refused {
			refused++
		}
	}
	sendFrame(bMAC, udp4Packet(a.outer4, b.outer4, tunnelPort, tunnelPort, msgs[len(msgs)-1]))

	if got := readTexts(listener); !slices.Equal(got, []string{"valid"}) {
		t.Fatalf("B delivered %q; want only the valid message", got)
	}
	after, err := b.dp.PeerStats(peerOfA)
	must(t, err)
	if after.RxPackets != before.RxPackets+1 {
		t.Errorf("B's rx packets went from %d to %d; want one more", before.RxPackets, after.RxPackets)
	}
	if d := dropDelta(t, b.dp, base); d["outer_header"] != refused || len(d) != 1 {
		t.Errorf("drops moved by %v; want outer_header +%d and nothing else", d, refused)
	}
	peerAfter, err := b.dp.GetPeer(peerOfA)
	must(t, err)
	if peerAfter.Endpoint != peerBefore.Endpoint {
		t.Errorf("A's endpoint moved from %v to %v", peerBefore.Endpoint, peerAfter.Endpoint)
	}
}

// countingProgram returns a tcx program that counts, in counts[0], the
// IPv4 packets to UDP port `port` (without IP options) it sees, and passes
// everything on (TCX_NEXT).
func countingProgram(t *testing.T, port uint16) (*ebpf.Program, *ebpf.Map) {
	t.Helper()
	counts, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: 1})
	must(t, err)
	t.Cleanup(func() { counts.Close() })
	const dportOff = 14 + 20 + 2
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:    ebpf.SchedCLS,
		License: "GPL",
		Instructions: asm.Instructions{
			// bpf_skb_load_bytes(skb, dportOff, fp-8, 2)
			asm.Mov.Imm(asm.R0, 0),
			asm.StoreMem(asm.RFP, -8, asm.R0, asm.DWord),
			asm.StoreMem(asm.RFP, -16, asm.R0, asm.DWord),
			asm.Mov.Imm(asm.R2, dportOff),
			asm.Mov.Reg(asm.R3, asm.RFP),
			asm.Add.Imm(asm.R3, -8),
			asm.Mov.Imm(asm.R4, 2),
			asm.FnSkbLoadBytes.Call(),
			asm.JNE.Imm(asm.R0, 0, "next"),
			asm.LoadMem(asm.R1, asm.RFP, -8, asm.Half),
			asm.JNE.Imm(asm.R1, int32(htons(port)), "next"),
			// counts[0]++ (the key, 0, is at fp-16)
			asm.LoadMapPtr(asm.R1, counts.FD()),
			asm.Mov.Reg(asm.R2, asm.RFP),
			asm.Add.Imm(asm.R2, -16),
			asm.FnMapLookupElem.Call(),
			asm.JEq.Imm(asm.R0, 0, "next"),
			asm.Mov.Imm(asm.R1, 1),
			asm.StoreXAdd(asm.R0, asm.R1, asm.DWord),
			asm.Mov.Imm(asm.R0, -1).WithSymbol("next"), // TCX_NEXT
			asm.Return(),
		},
	})
	must(t, err)
	t.Cleanup(func() { prog.Close() })
	return prog, counts
}

// TestTunnelNextProgramSees: everything the ingress program hands on
// (handshake messages, unknown receiver indices, IPv4 fragments, data
// messages to an address that is not B's) reaches a tcx program attached
// after it, as a host firewall would be; a data message the data plane
// takes does not.
func TestTunnelNextProgramSees(t *testing.T) {
	tn := newTunnel(t, SuiteChaCha20Poly1305, false)
	a, b := tn.a, tn.b
	ping(t, a, b.inner4, 1)
	prog, counts := countingProgram(t, tunnelPort)
	b.ns.MustDo(t, func() error {
		ifi, err := net.InterfaceByName(b.underlay)
		if err != nil {
			return err
		}
		l, err := link.AttachTCX(link.TCXOptions{Interface: ifi.Index, Program: prog,
			Attach: ebpf.AttachTCXIngress, Anchor: link.Tail()})
		if err == nil {
			t.Cleanup(func() { l.Close() })
		}
		return err
	})
	seen := func() uint64 {
		var n uint64
		must(t, counts.Lookup(uint32(0), &n))
		return n
	}

	msgs := messagesToB(t, tn, "taken", "not for B")
	init := make([]byte, 148)
	init[0] = 1
	unknown := slices.Clone(msgs[1])
	unknown[4] ^= 0xff
	fragment := udp4Packet(a.outer4, b.outer4, tunnelPort, tunnelPort, unknown)
	fragment[6] |= 0x20 // more fragments: the first of two that never complete

	bMAC := macOf(t, b)
	sendFrame := frameSender(t, a)
	for _, c := range []struct {
		name   string
		packet []byte
		handed bool
	}{
		{"data message taken", udp4Packet(a.outer4, b.outer4, tunnelPort, tunnelPort, msgs[0]), false},
		{"handshake initiation", udp4Packet(a.outer4, b.outer4, tunnelPort, tunnelPort, init), true},
		{"unknown receiver index", udp4Packet(a.outer4, b.outer4, tunnelPort, tunnelPort, unknown), true},
		{"IPv4 fragment", fixIPv4Checksum(fragment), true},
		{"to another address", udp4Packet(a.outer4, netip.MustParseAddr("192.0.2.99"), tunnelPort, tunnelPort, msgs[1]), true},
	} {
		n0 := seen()
		sendFrame(bMAC, c.packet)
		want := n0
		if c.handed {
			want++
		}
		var n uint64
		for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if n = seen(); n >= want || time.Now().After(deadline) {
				break
			}
		}
		if !c.handed {
			time.Sleep(200 * time.Millisecond)
			n = seen()
		}
		if n != want {
			t.Errorf("%s: the next tcx program saw %d packets; want %d", c.name, n-n0, want-n0)
		}
	}
}

// fixIPv4Checksum recomputes the header checksum of an IPv4 packet without
// options after its header was changed.
func fixIPv4Checksum(p []byte) []byte {
	p[10], p[11] = 0, 0
	c := inetChecksum(p[:20])
	p[10], p[11] = byte(c>>8), byte(c)
	return p
}
