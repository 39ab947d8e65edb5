// SPDX-License-Identifier: MIT

package dataplane

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/wgbpfd/wgbpfd/internal/testenv"
)

const probeSrc = "testdata/policy_probe.c"

// pingOnce sends one ICMP echo from s to addr and reports whether the
// reply came within a second.
func pingOnce(t *testing.T, s *tunnelSide, addr netip.Addr) bool {
	t.Helper()
	var c net.PacketConn
	s.ns.MustDo(t, func() (err error) {
		c, err = net.ListenPacket("ip4:icmp", "")
		return err
	})
	defer c.Close()
	msg := make([]byte, 8+56)
	msg[0], msg[4], msg[5], msg[7] = 8, 0x57, 0x47, 1
	sum := inetChecksum(msg)
	msg[2], msg[3] = byte(sum>>8), byte(sum)
	if _, err := c.WriteTo(msg, &net.IPAddr{IP: addr.AsSlice()}); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	c.SetReadDeadline(time.Now().Add(time.Second))
	for {
		n, _, err := c.ReadFrom(buf)
		if err != nil {
			return false
		}
		if n >= 8 && buf[0] == 0 && buf[4] == 0x57 && buf[5] == 0x47 {
			return true
		}
	}
}

func setVerdict(t *testing.T, p *Policy, hook, v uint32) {
	t.Helper()
	must(t, p.Map("verdict").Update(hook, v, 0))
}

func seen(t *testing.T, p *Policy, k uint32) uint64 {
	t.Helper()
	var v uint64
	must(t, p.Map("seen").Lookup(k, &v))
	return v
}

func drops(t *testing.T, d *Dataplane, reason string) uint64 {
	t.Helper()
	m, err := d.Drops()
	must(t, err)
	return m[reason]
}

// TestPolicyVerdicts runs a policy on both hooks of a tunnel with real
// pings: its context (peer, where the IP header is), each verdict, and that
// removing the policy gives the path back to "continue".
func TestPolicyVerdicts(t *testing.T) {
	obj := testenv.BuildPolicy(t, probeSrc)
	tn := newTunnel(t, SuiteChaCha20Poly1305, false)
	a, b := tn.a, tn.b
	pa, err := a.dp.LoadPolicy(obj)
	must(t, err)
	pb, err := b.dp.LoadPolicy(obj)
	must(t, err)
	for _, x := range []struct {
		d *Dataplane
		p *Policy
	}{{a.dp, pa}, {b.dp, pb}} {
		old, err := x.d.InstallPolicy(x.p)
		must(t, err)
		if old != nil {
			t.Fatal("a policy was installed before")
		}
	}
	if got := strings.Join(pa.Hooks(), ","); got != "egress,ingress" {
		t.Errorf("hooks %q", got)
	}

	// Continue: the tunnel works, and the hooks saw the right context.
	if !pingOnce(t, a, b.inner4) {
		t.Fatal("ping through the tunnel failed with a policy that continues")
	}
	if seen(t, pa, HookEgress) == 0 || seen(t, pb, HookIngress) == 0 {
		t.Fatalf("hooks did not run: A egress %d, B ingress %d", seen(t, pa, HookEgress), seen(t, pb, HookIngress))
	}
	if got, want := seen(t, pa, 2+HookEgress), uint64(peerOfB)<<8|0x45; got != want {
		t.Errorf("A egress saw %#x, want peer %d and an IPv4 header at l3_off (%#x)", got, peerOfB, want)
	}
	if got, want := seen(t, pb, 2+HookIngress), uint64(peerOfA)<<8|0x45; got != want {
		t.Errorf("B ingress saw %#x, want peer %d and an IPv4 header at l3_off (%#x)", got, peerOfA, want)
	}

	steps := []struct {
		name   string
		side   *tunnelSide
		p      *Policy
		hook   uint32
		v      uint32
		target uint32
		passes bool
	}{
		{"egress drop", a, pa, HookEgress, 1, 0, false},
		{"egress to an unknown peer", a, pa, HookEgress, 2, 99, false},
		{"egress to the same peer", a, pa, HookEgress, 2, peerOfB, true},
		{"egress undefined verdict", a, pa, HookEgress, 77, 0, false},
		{"ingress drop", b, pb, HookIngress, 1, 0, false},
		{"ingress to a peer", b, pb, HookIngress, 2, peerOfA, false},
		{"ingress bypass", b, pb, HookIngress, 3, 0, false},
		{"ingress accept", b, pb, HookIngress, 4, 0, true},
		{"egress accept", a, pa, HookEgress, 4, 0, false},
	}
	for _, st := range steps {
		setVerdict(t, st.p, st.hook, st.v)
		setVerdict(t, st.p, 2, st.target)
		before := drops(t, st.side.dp, "policy")
		ok := pingOnce(t, a, b.inner4)
		after := drops(t, st.side.dp, "policy")
		if ok != st.passes {
			t.Errorf("%s: ping passed=%v, want %v", st.name, ok, st.passes)
		}
		if !st.passes && after == before {
			t.Errorf("%s: dropped but not counted as policy (%d)", st.name, after)
		}
		if st.passes && after != before {
			t.Errorf("%s: policy drops went %d → %d", st.name, before, after)
		}
		setVerdict(t, st.p, st.hook, 0)
	}

	// Steering without AllowedIPs: A no longer routes B's address to B, its
	// egress hook sends there anyway, and the replies (whose source is not
	// in B's AllowedIPs on A) pass only if A's ingress hook accepts them.
	must(t, a.dp.RemoveAllowedIP(netip.PrefixFrom(b.inner4, 32)))
	setVerdict(t, pa, 2, peerOfB)
	setVerdict(t, pa, HookEgress, 2)
	before := drops(t, a.dp, "src_not_allowed")
	if pingOnce(t, a, b.inner4) {
		t.Error("a reply from outside the sender's AllowedIPs passed on continue")
	}
	if drops(t, a.dp, "src_not_allowed") == before {
		t.Error("the refused reply was not counted as src_not_allowed")
	}
	if got := seen(t, pa, 2+HookEgress) >> 8; got != 0 {
		t.Errorf("egress hook saw peer %d for an address no peer allows, want 0", got)
	}
	setVerdict(t, pa, HookIngress, 4)
	if !pingOnce(t, a, b.inner4) {
		t.Error("egress to a chosen peer and ingress accept: no reply")
	}
	setVerdict(t, pa, HookIngress, 0)
	setVerdict(t, pa, HookEgress, 0)
	must(t, a.dp.AddAllowedIP(netip.PrefixFrom(b.inner4, 32), peerOfB))

	// No policy: a drop verdict left in the old one's map no longer runs.
	setVerdict(t, pa, HookEgress, 1)
	old, err := a.dp.InstallPolicy(nil)
	must(t, err)
	if old != pa {
		t.Fatal("InstallPolicy(nil) did not return the installed policy")
	}
	runs := seen(t, pa, HookEgress)
	if !pingOnce(t, a, b.inner4) {
		t.Fatal("ping failed after the policy was removed")
	}
	if seen(t, pa, HookEgress) != runs {
		t.Error("the removed policy still runs")
	}
	must(t, pa.Close())
}

// TestPolicyRefused: objects that are not policies of this interface
// version, or that reach for more than a policy may, are refused with the
// reason, before anything is installed.
func TestPolicyRefused(t *testing.T) {
	testenv.RequireRoot(t)
	d, err := Load()
	must(t, err)
	defer d.Close()
	for _, c := range []struct {
		defines []string
		want    string
	}{
		{[]string{"NO_ABI"}, "lacks WGBPFD_POLICY()"},
		{[]string{"ABI_OVERRIDE=2"}, "built for policy interface version 2; this wgbpfd implements version 1"},
		{[]string{"STEAL_SESSIONS"}, `map "sessions" has the name of one of wgbpfd's maps`},
		{[]string{"EXTRA_PROG"}, `program "other": a policy has only wgbpfd_egress and wgbpfd_ingress`},
	} {
		obj := testenv.BuildPolicy(t, probeSrc, c.defines...)
		_, err := d.LoadPolicy(obj)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want %q", c.defines, err, c.want)
		}
	}
	if _, err := d.LoadPolicy("/nonexistent.o"); err == nil {
		t.Error("a missing file loaded")
	}
	if _, err := d.LoadPolicy(probeSrc); err == nil || !strings.Contains(err.Error(), "not a BPF object") {
		t.Errorf("C source as object: %v", err)
	}
}

// BenchmarkPolicyHook: what the egress hook costs per packet, from
// BPF_PROG_TEST_RUN of wg_tun_egress on one IPv4 packet (AllowedIPs match,
// peer found, no session: the path up to the keypair check, which the hook
// precedes) without a policy, then with one whose hooks only continue.
//
//	go test ./dataplane -run '^$' -bench PolicyHook
func BenchmarkPolicyHook(b *testing.B) {
	testenv.RequireRoot(b)
	obj := testenv.BuildPolicy(b, "testdata/policy_empty.c")
	d, err := Load()
	must(b, err)
	defer d.Close()
	must(b, d.objs.Ifconfig.Update(uint32(0), &wgIfconfig{TunIfindex: 1, HopIfindex: 1, FibIfindex: 1, Mtu: 1420}, 0))
	must(b, d.SetPeer(7, Peer{Endpoint: netip.MustParseAddrPort("192.0.2.2:51820")}))
	must(b, d.AddAllowedIP(netip.MustParsePrefix("10.9.0.0/24"), 7))
	// The test run takes the data as a frame and sets skb->protocol from
	// bytes 12-13, which wg_tun_egress reads as the IPv4 source address:
	// 8.0.0.1 makes them 0x0800.
	pkt := make([]byte, 64)
	copy(pkt, []byte{0x45, 0, 0, 64, 0, 0, 0, 0, 64, 17, 0, 0, 8, 0, 0, 1, 10, 9, 0, 2})
	run := func(name string) {
		b.Run(name, func(b *testing.B) {
			ret, per, err := d.objs.WgTunEgress.Benchmark(pkt, b.N, nil)
			must(b, err)
			if ret != 0 {
				b.Fatalf("wg_tun_egress returned %d, want TC_ACT_OK (no session)", ret)
			}
			b.ReportMetric(float64(per.Nanoseconds()), "ns/packet")
		})
	}
	for round := 0; round < 3; round++ {
		_, err := d.InstallPolicy(nil)
		must(b, err)
		run(fmt.Sprintf("none-%d", round))
		p, err := d.LoadPolicy(obj)
		must(b, err)
		_, err = d.InstallPolicy(p)
		must(b, err)
		run(fmt.Sprintf("empty-%d", round))
	}
	old, err := d.InstallPolicy(nil)
	must(b, err)
	must(b, old.Close())
}

// TestPolicySwapUnderTraffic: two policies that both drop what A sends,
// swapped 200 times while A sends UDP as fast as it can: not one datagram
// reaches B, so no packet ran between the two without a policy. Without a
// policy the same sender gets through.
func TestPolicySwapUnderTraffic(t *testing.T) {
	obj := testenv.BuildPolicy(t, probeSrc)
	tn := newTunnel(t, SuiteChaCha20Poly1305, false)
	a, b := tn.a, tn.b
	var pols [2]*Policy
	for i := range pols {
		p, err := a.dp.LoadPolicy(obj)
		must(t, err)
		setVerdict(t, p, HookEgress, 1)
		pols[i] = p
	}
	_, err := a.dp.InstallPolicy(pols[1])
	must(t, err)
	dst := netip.AddrPortFrom(b.inner4, 9999)
	rx := udpSocket(t, b, dst)
	tx := udpSocket(t, a, netip.AddrPortFrom(a.inner4, 0))
	received := make(chan int, 1)
	go func() {
		n := 0
		buf := make([]byte, 64)
		for {
			rx.SetReadDeadline(time.Now().Add(2 * time.Second))
			if _, err := rx.Read(buf); err != nil {
				received <- n
				return
			}
			n++
		}
	}()
	stop := make(chan struct{})
	sent := make(chan int, 1)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				sent <- n
				return
			default:
			}
			if _, err := tx.WriteToUDPAddrPort([]byte("swap"), dst); err == nil {
				n++
			}
		}
	}()
	for i := 0; i < 200; i++ {
		old, err := a.dp.InstallPolicy(pols[i%2])
		must(t, err)
		_ = old // kept open: installed again in the next round
		time.Sleep(time.Millisecond)
	}
	close(stop)
	nSent := <-sent
	nRecv := <-received
	t.Logf("%d datagrams sent during 200 swaps, %d received", nSent, nRecv)
	if nSent < 1000 {
		t.Fatalf("only %d datagrams sent: the test proves nothing", nSent)
	}
	if nRecv != 0 {
		t.Errorf("%d datagrams passed while one drop policy replaced the other", nRecv)
	}
	_, err = a.dp.InstallPolicy(nil)
	must(t, err)
	for _, p := range pols {
		must(t, p.Close())
	}
	// The control: the same path without a policy delivers.
	got := make(chan error, 1)
	go func() {
		buf := make([]byte, 64)
		rx.SetReadDeadline(time.Now().Add(3 * time.Second))
		_, err := rx.Read(buf)
		got <- err
	}()
	for i := 0; i < 20; i++ {
		_, _ = tx.WriteToUDPAddrPort([]byte("open"), dst)
		time.Sleep(20 * time.Millisecond)
	}
	if err := <-got; err != nil {
		t.Errorf("without a policy nothing arrived either: %v", err)
	}
}
