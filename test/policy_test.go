// SPDX-License-Identifier: MIT

package test

import (
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wgbpfd/wgbpfd/config"
	"github.com/wgbpfd/wgbpfd/dataplane"
	"github.com/wgbpfd/wgbpfd/internal/nstest"
	"github.com/wgbpfd/wgbpfd/internal/testenv"
)

// example compiles examples/NAME.c as `make examples` does.
func example(t *testing.T, name string, defines ...string) string {
	t.Helper()
	return testenv.BuildPolicy(t, filepath.Join(testenv.RepoRoot(), "examples", name+".c"), defines...)
}

// sendTCP sends n random bytes from `from` to a listener in `to` at
// addr:port and fails t unless they arrive intact.
func sendTCP(t *testing.T, from, to *nstest.NS, addr string, port, n int) {
	t.Helper()
	var l net.Listener
	to.MustDo(t, func() (err error) {
		l, err = net.Listen("tcp", net.JoinHostPort(addr, strconv.Itoa(port)))
		return err
	})
	defer l.Close()
	got := make(chan [32]byte, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			close(got)
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		h := sha256.New()
		_, _ = io.Copy(h, c)
		got <- [32]byte(h.Sum(nil))
	}()
	payload := make([]byte, n)
	_, _ = rand.Read(payload)
	var c net.Conn
	from.MustDo(t, func() (err error) {
		c, err = net.DialTimeout("tcp", net.JoinHostPort(addr, strconv.Itoa(port)), 10*time.Second)
		return err
	})
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.Write(payload); err != nil {
		t.Fatalf("TCP to %s:%d: %v", addr, port, err)
	}
	c.Close()
	select {
	case h, ok := <-got:
		if !ok || h != sha256.Sum256(payload) {
			t.Fatalf("TCP to %s:%d: data lost or changed", addr, port)
		}
	case <-time.After(40 * time.Second):
		t.Fatalf("TCP to %s:%d did not finish", addr, port)
	}
}

// rxFrom is how many bytes ifname received from peer pub (wg show transfer).
func rxFrom(t *testing.T, ns *nstest.NS, ifname string, pub config.Key) int64 {
	t.Helper()
	for _, line := range strings.Split(ns.MustRun(t, "wg", "show", ifname, "transfer"), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && f[0] == pub.String() {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			return n
		}
	}
	t.Fatalf("wg show %s transfer: no peer %s", ifname, pub)
	return 0
}

// TestPolicySplitTunnel: A routes everything into a full tunnel to B; its
// split_tunnel policy sends TCP to port 8022 out of the tunnel instead. A
// transfer to that port arrives at the same server without B's tunnel
// receiving it; one to another port goes through the tunnel. IPv4 and IPv6
// inside.
func TestPolicySplitTunnel(t *testing.T) {
	prerequisites(t)
	obj := example(t, "split_tunnel", "OUTSIDE_PORT=8022")
	for _, inner6 := range []bool{false, true} {
		name := "inner4"
		if inner6 {
			name = "inner6"
		}
		t.Run(name, func(t *testing.T) { splitTunnel(t, obj, inner6) })
	}
}

func splitTunnel(t *testing.T, obj string, inner6 bool) {
	tp := newTopology(t, false, inner6)
	// The server sits on B, reachable through the tunnel (B delivers it)
	// and outside it (A's route to it through B's underlay address). Its
	// replies to A's tunnel address go back through the tunnel, so B must
	// accept A's tunnel address on the underlay. Outside the tunnel, only
	// marked packets (the ones the policy lets out are routed with the
	// FwMark) know the way to the server: a lookup for any other address
	// fails.
	server, prefix, ip, via, bits := "198.51.100.1", "198.51.100.0/24", "-4", tp.underB, "/32"
	tp.b.MustRun(t, "sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.ul0.rp_filter=0")
	if inner6 {
		server, prefix, ip, via, bits = "2001:db8:51::1", "2001:db8:51::/64", "-6", "fd00:98::2", "/128"
		tp.a.MustRun(t, "ip", "addr", "add", "fd00:98::1/64", "dev", "ul0", "nodad")
		tp.b.MustRun(t, "ip", "addr", "add", "fd00:98::2/64", "dev", "ul0", "nodad")
	}
	tp.b.MustRun(t, "ip", "addr", "add", server, "dev", "lo")
	tp.a.MustRun(t, "ip", ip, "route", "add", prefix, "via", via, "dev", "ul0", "table", "100")
	tp.a.MustRun(t, "ip", ip, "rule", "add", "fwmark", "0xca6c", "lookup", "100", "pref", "100")
	confA := tp.writeConf(t, tp.ifA, tp.keyA, 51820, tp.innerA, tp.keyB.Public(), "0.0.0.0/0, ::/0", endpoint(tp.underB, 51820), "Policy = "+obj+"\n")
	confB := tp.writeConf(t, tp.ifB, tp.keyB, 51820, tp.innerB, tp.keyA.Public(), tp.innerA+bits, endpoint(tp.underA, 51820), "")
	da := startWgbpfd(t, tp.a, confA, tp.ifA)
	startWgbpfd(t, tp.b, confB, tp.ifB)
	waitReachable(t, tp.a, server)
	if !strings.Contains(da.logText(), "policy loaded") || !strings.Contains(da.logText(), obj) {
		t.Errorf("the log does not name the policy:\n%s", da.logText())
	}

	const size = 2 << 20
	before := rxFrom(t, tp.b, tp.ifB, tp.keyA.Public())
	sendTCP(t, tp.a, tp.b, server, 8022, size)
	outside := rxFrom(t, tp.b, tp.ifB, tp.keyA.Public()) - before
	sendTCP(t, tp.a, tp.b, server, 8080, size)
	inside := rxFrom(t, tp.b, tp.ifB, tp.keyA.Public()) - before - outside
	t.Logf("B's tunnel received %d bytes during the transfer to port 8022, %d during the one to 8080", outside, inside)
	if outside > size/8 {
		t.Errorf("port 8022 went through the tunnel (%d bytes of %d)", outside, size)
	}
	if inside < size {
		t.Errorf("port 8080 did not go through the tunnel (%d bytes of %d)", inside, size)
	}
}

// TestPolicyFlows: the flows example counts a transfer under its 5-tuple
// and flowtop prints it from the map the daemon pinned; the metrics name
// the policy.
func TestPolicyFlows(t *testing.T) {
	prerequisites(t)
	obj := example(t, "flows")
	flowtop := filepath.Join(t.TempDir(), "flowtop")
	if out, err := exec.Command("go", "build", "-o", flowtop, "../examples/flowtop").CombinedOutput(); err != nil {
		t.Fatalf("building flowtop: %v\n%s", err, out)
	}
	tp := newTopology(t, false, false)
	const metricsAddr = "127.0.0.1:9587"
	confA := tp.writeConf(t, tp.ifA, tp.keyA, 51820, tp.innerA, tp.keyB.Public(), tp.innerB+"/32", endpoint(tp.underB, 51820), "Policy = "+obj+"\n")
	confB := tp.writeConf(t, tp.ifB, tp.keyB, 51820, tp.innerB, tp.keyA.Public(), tp.innerA+"/32", endpoint(tp.underA, 51820), "")
	da := startWgbpfd(t, tp.a, confA, tp.ifA, "--metrics", metricsAddr)
	startWgbpfd(t, tp.b, confB, tp.ifB)
	waitReachable(t, tp.a, tp.innerB)
	const size = 1 << 20
	sendTCP(t, tp.a, tp.b, tp.innerB, 7001, size)

	var dir string
	tp.a.MustDo(t, func() error { dir = dataplane.PinDir(tp.ifA); return nil })
	pins := fmt.Sprintf("/proc/%d/root%s", da.cmd.Process.Pid, dir)
	out, err := exec.Command(flowtop, "-n", "5", "-pin", pins, tp.ifA).CombinedOutput()
	if err != nil {
		t.Fatalf("flowtop: %v\n%s", err, out)
	}
	t.Logf("flowtop:\n%s", out)
	found := false
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 7 && f[0] == "sent" && f[1] == "tcp" && f[3] == tp.innerB+":7001" &&
			strings.HasPrefix(f[2], tp.innerA+":") {
			n, _ := strconv.Atoi(f[6])
			found = n >= size
		}
	}
	if !found {
		t.Errorf("flowtop does not show the %d-byte transfer to %s:7001", size, tp.innerB)
	}
	m := scrapeMetrics(t, tp.a, metricsAddr)
	for _, hook := range []string{"egress", "ingress"} {
		found := false
		for k, v := range m {
			found = found || (strings.HasPrefix(k, "wgbpfd_policy_info{") && strings.Contains(k, `hook="`+hook+`"`) &&
				strings.Contains(k, `file="`+obj+`"`) && v == 1)
		}
		if !found {
			t.Errorf("no wgbpfd_policy_info for hook %s and %s in the metrics", hook, obj)
		}
	}
}

// TestPolicyStartAndReload: a missing or incompatible object stops the
// start with exit 2, the file and the reason; on SIGHUP a refused object
// keeps the policy in use, a changed one replaces it, and none removes it.
func TestPolicyStartAndReload(t *testing.T) {
	prerequisites(t)
	bin := filepath.Join(binaries(t), "wgbpfd")
	tp := newTopology(t, false, false)
	probe := filepath.Join(testenv.RepoRoot(), "dataplane", "testdata", "policy_probe.c")
	oldABI := testenv.BuildPolicy(t, probe, "ABI_OVERRIDE=7")
	for _, c := range []struct{ obj, why string }{
		{filepath.Join(tp.dir, "missing.o"), "no such file"},
		{oldABI, "built for policy interface version 7"},
		{probe, "not a BPF object"},
	} {
		conf := tp.writeConf(t, "bad", tp.keyA, 51820, tp.innerA, tp.keyB.Public(), tp.innerB+"/32", "", "Policy = "+c.obj+"\n")
		out, code := runWgbpfdExit(t, tp.a.Command(bin, "-c", conf, "-i", tp.ifA))
		if code != 2 || !strings.Contains(out, conf+":5:") || !strings.Contains(out, c.obj) || !strings.Contains(out, c.why) {
			t.Errorf("Policy = %s: exit %d, want 2 with %s:5, the file and %q:\n%s", c.obj, code, conf, c.why, out)
		}
	}

	// A policy that drops what A sends on port 7100 (the split-tunnel
	// example's match, with a drop): the port is cut, others work.
	src := filepath.Join(tp.dir, "drop_port.c")
	body, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "examples", "split_tunnel.c"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(src, []byte(strings.Replace(string(body), "return WGBPFD_BYPASS;", "return WGBPFD_DROP;", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	dropObj := testenv.BuildPolicy(t, src, "OUTSIDE_PORT=7100")
	policyPath := filepath.Join(tp.dir, "policy.o")
	install := func(obj string) {
		b, err := os.ReadFile(obj)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(policyPath, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	install(dropObj)
	confA := tp.writeConf(t, tp.ifA, tp.keyA, 51820, tp.innerA, tp.keyB.Public(), tp.innerB+"/32", endpoint(tp.underB, 51820), "Policy = "+policyPath+"\n")
	confB := tp.writeConf(t, tp.ifB, tp.keyB, 51820, tp.innerB, tp.keyA.Public(), tp.innerA+"/32", endpoint(tp.underA, 51820), "")
	da := startWgbpfd(t, tp.a, confA, tp.ifA)
	startWgbpfd(t, tp.b, confB, tp.ifB)
	waitReachable(t, tp.a, tp.innerB)
	cut := func() bool {
		var l net.Listener
		tp.b.MustDo(t, func() (err error) {
			l, err = net.Listen("tcp", net.JoinHostPort(tp.innerB, "7100"))
			return err
		})
		defer l.Close()
		var c net.Conn
		err := tp.a.Do(func() (err error) {
			c, err = net.DialTimeout("tcp", net.JoinHostPort(tp.innerB, "7100"), 2*time.Second)
			return err
		})
		if err == nil {
			c.Close()
		}
		return err != nil
	}
	if !cut() {
		t.Fatal("the drop policy did not cut port 7100")
	}
	sendTCP(t, tp.a, tp.b, tp.innerB, 7101, 64<<10)

	// A refused object: the reload fails, the policy in use stays.
	install(oldABI)
	n := strings.Count(da.logText(), "reload failed")
	_ = da.cmd.Process.Signal(syscall.SIGHUP)
	waitLogCount(t, da, "reload failed", n+1, 10*time.Second)
	if !strings.Contains(da.logText(), "built for policy interface version 7") {
		t.Errorf("the failed reload does not say why:\n%s", da.logText())
	}
	if !cut() {
		t.Error("after a refused reload, the policy in use no longer applies")
	}
	// A changed object at the same path: swapped (the continue-only flows
	// example: the port opens).
	install(example(t, "flows"))
	da.reload(t)
	if cut() {
		t.Error("after reloading a changed object, the old policy still applies")
	}
	if strings.Count(da.logText(), "policy loaded") != 2 {
		t.Errorf("want two \"policy loaded\" lines (start, reload):\n%s", da.logText())
	}
	// No Policy: none.
	tp.writeConf(t, tp.ifA, tp.keyA, 51820, tp.innerA, tp.keyB.Public(), tp.innerB+"/32", endpoint(tp.underB, 51820), "")
	install(dropObj)
	da.reload(t)
	if cut() {
		t.Error("a file without Policy left a policy in place")
	}
	if !strings.Contains(da.logText(), "no policy") {
		t.Errorf("the removal is not logged:\n%s", da.logText())
	}
}

// cArray is a public key as a C initializer: {0x12,0x34,...}.
func cArray(k config.Key) string {
	s := make([]string, len(k))
	for i, b := range k {
		s[i] = fmt.Sprintf("0x%02x", b)
	}
	return "{" + strings.Join(s, ",") + "}"
}

// TestPolicySteering: A has two exits, B (AllowedIPs 0.0.0.0/0) and C (its
// tunnel address only); both serve 198.51.100.1. The steering example sends
// destination ports from 5000 up to C and the rest to B; when C stops and
// its last handshake grows older than 12 s, its flows go to B.
func TestPolicySteering(t *testing.T) {
	prerequisites(t)
	a, b, c := nstest.New(t, "wgt-a"), nstest.New(t, "wgt-b"), nstest.New(t, "wgt-c")
	nstest.Veth(t, a, "ul0", b, "ul0")
	nstest.Veth(t, a, "ul1", c, "ul0")
	a.MustRun(t, "ip", "addr", "add", "192.0.2.1/24", "dev", "ul0")
	b.MustRun(t, "ip", "addr", "add", "192.0.2.2/24", "dev", "ul0")
	a.MustRun(t, "ip", "addr", "add", "192.0.3.1/24", "dev", "ul1")
	c.MustRun(t, "ip", "addr", "add", "192.0.3.2/24", "dev", "ul0")
	const server = "198.51.100.1"
	for _, ns := range []*nstest.NS{b, c} {
		ns.MustRun(t, "ip", "addr", "add", server+"/32", "dev", "lo")
	}
	var keys [3]config.PrivateKey
	for i := range keys {
		var err error
		if keys[i], err = config.GeneratePrivateKey(); err != nil {
			t.Fatal(err)
		}
	}
	obj := example(t, "steering", "PEER_A="+cArray(keys[1].Public()), "PEER_B="+cArray(keys[2].Public()),
		"SPLIT_PORT=5000", "FAILOVER_SEC=12")
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name+".conf")
		writeFile(t, p, text)
		return p
	}
	ifA, ifB, ifC := uniqueIf(t, "wa"), uniqueIf(t, "wb"), uniqueIf(t, "wc")
	confA := write(ifA, fmt.Sprintf("[Interface]\nPrivateKey = %s\nListenPort = 51820\nAddress = 10.77.0.1/24\nPolicy = %s\n\n"+
		"[Peer]\nPublicKey = %s\nAllowedIPs = 0.0.0.0/0\nEndpoint = 192.0.2.2:51820\nPersistentKeepalive = 1\n\n"+
		"[Peer]\nPublicKey = %s\nAllowedIPs = 10.77.0.3/32\nEndpoint = 192.0.3.2:51820\nPersistentKeepalive = 1\n",
		secret(keys[0]), obj, keys[1].Public(), keys[2].Public()))
	exit := func(i int, addr, ep string) string {
		return fmt.Sprintf("[Interface]\nPrivateKey = %s\nListenPort = 51820\nAddress = %s/24\n\n[Peer]\nPublicKey = %s\nAllowedIPs = 10.77.0.1/32\nEndpoint = %s\n",
			secret(keys[i]), addr, keys[0].Public(), ep)
	}
	confB := write(ifB, exit(1, "10.77.0.2", "192.0.2.1:51820"))
	confC := write(ifC, exit(2, "10.77.0.3", "192.0.3.1:51820"))
	rekey := []string{"--test-rekey-after", "2s"}
	startWgbpfd(t, a, confA, ifA, rekey...)
	startWgbpfd(t, b, confB, ifB, rekey...)
	dc := startWgbpfd(t, c, confC, ifC, rekey...)
	waitReachable(t, a, "10.77.0.2")
	waitReachable(t, a, "10.77.0.3")

	// Listeners on both exits; which one a connection reaches says which
	// way it went.
	accepted := make(chan string, 16)
	for _, x := range []struct {
		ns   *nstest.NS
		name string
	}{{b, "B"}, {c, "C"}} {
		for _, port := range []string{"80", "6000"} {
			var l net.Listener
			x.ns.MustDo(t, func() (err error) {
				l, err = net.Listen("tcp", net.JoinHostPort(server, port))
				return err
			})
			t.Cleanup(func() { l.Close() })
			go func(name string) {
				for {
					conn, err := l.Accept()
					if err != nil {
						return
					}
					conn.Close()
					accepted <- name
				}
			}(x.name)
		}
	}
	via := func(port string) string {
		var conn net.Conn
		err := a.Do(func() (err error) {
			conn, err = net.DialTimeout("tcp", net.JoinHostPort(server, port), 2*time.Second)
			return err
		})
		if err != nil {
			return "none"
		}
		conn.Close()
		select {
		case who := <-accepted:
			return who
		case <-time.After(2 * time.Second):
			return "none"
		}
	}
	if got := via("80"); got != "B" {
		t.Errorf("port 80 went to %s, want B", got)
	}
	if got := via("6000"); got != "C" {
		t.Errorf("port 6000 went to %s, want C", got)
	}

	// C goes away: within FAILOVER_SEC (12 s) and a rekey or two after
	// its last handshake, port 6000 moves to B, whose handshakes stay
	// fresh: data to B every 0.3 s rekeys it every few seconds (the
	// --test-rekey-after 2s build).
	pinger := a.Command("ping", "-q", "-i", "0.3", "10.77.0.2")
	if err := pinger.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pinger.Process.Kill(); _ = pinger.Wait() })
	if err := dc.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("stopping C: %v", err)
	}
	stopped := time.Now()
	for {
		got := via("6000")
		if got == "B" {
			t.Logf("port 6000 moved to B %v after C stopped", time.Since(stopped).Round(time.Second))
			break
		}
		if time.Since(stopped) > 30*time.Second {
			t.Fatalf("port 6000 still goes to %s 30 s after C stopped", got)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if got := via("80"); got != "B" {
		t.Errorf("after the failover port 80 went to %s, want B", got)
	}
}
