// SPDX-License-Identifier: MIT

package test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wgbpfd/wgbpfd/config"
	"github.com/wgbpfd/wgbpfd/internal/nstest"
	"github.com/wgbpfd/wgbpfd/internal/testenv"
	"github.com/wgbpfd/wgbpfd/netif"
)

// bpfHost is a mount namespace that outlives the daemons started in it,
// as the host's does under systemd: its bpffs keeps the pins of a daemon
// that died. (`ip netns exec` gives each command a mount namespace, and so
// a bpffs, of its own, which dies with it.) A sleeping process holds it;
// when the test ends the process goes, and with it the bpffs and every pin.
type bpfHost struct {
	pid int
}

func newBPFHost(t *testing.T) *bpfHost {
	t.Helper()
	holder := exec.Command("unshare", "--mount", "--propagation", "private", "sleep", "3600")
	if err := holder.Start(); err != nil {
		t.Fatalf("unshare: %v", err)
	}
	h := &bpfHost{pid: holder.Process.Pid}
	t.Cleanup(func() {
		_ = holder.Process.Kill()
		_ = holder.Wait()
	})
	own, _ := os.Readlink("/proc/self/ns/mnt")
	deadline := time.Now().Add(5 * time.Second)
	for {
		ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", h.pid))
		if err == nil && ns != own {
			if out, err := exec.Command("readlink", fmt.Sprintf("/proc/%d/exe", h.pid)).Output(); err == nil && strings.Contains(string(out), "sleep") {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("unshare did not make a mount namespace within 5 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return h
}

// command runs args in network namespace ns and the host's mount namespace.
func (h *bpfHost) command(ns *nstest.NS, args ...string) *exec.Cmd {
	return exec.Command("nsenter", append([]string{"-t", strconv.Itoa(h.pid), "-m", "--net=/run/netns/" + ns.Name}, args...)...)
}

func (h *bpfHost) run(t *testing.T, ns *nstest.NS, args ...string) string {
	t.Helper()
	out, err := h.command(ns, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %v\n%s", args, err, out)
	}
	return string(out)
}

// start starts wgbpfd (the binary bin of the test build directory) in ns.
func (h *bpfHost) start(t *testing.T, ns *nstest.NS, bin, conf, ifname string, args ...string) *daemon {
	t.Helper()
	path := filepath.Join(binaries(t), bin)
	return startDaemonCmd(t, h.command(ns, append([]string{path, "-c", conf, "-i", ifname, "--log-level", "debug"}, args...)...), ifname)
}

// pingRun is a ping every 10 ms running in the background.
type pingRun struct {
	cmd *exec.Cmd
	out bytes.Buffer
}

func startPing(t *testing.T, ns *nstest.NS, addr string, count int) *pingRun {
	t.Helper()
	p := &pingRun{cmd: ns.Command("ping", "-n", "-D", "-i", "0.01", "-c", strconv.Itoa(count), "-W", "1", addr)}
	p.cmd.Stdout = &p.out
	p.cmd.Stderr = &p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.cmd.Process.Kill() })
	return p
}

// result waits for the ping and returns packets sent, lost, and the
// longest time between two consecutive replies (the first and last
// included; ~10 ms when nothing is lost).
func (p *pingRun) result(t *testing.T) (sent, lost int, gap time.Duration) {
	t.Helper()
	_ = p.cmd.Wait()
	out := p.out.String()
	m := regexp.MustCompile(`(\d+) packets transmitted, (\d+) received`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("ping: no summary:\n%s", out)
	}
	sent, _ = strconv.Atoi(m[1])
	recv, _ := strconv.Atoi(m[2])
	var last float64
	for _, r := range regexp.MustCompile(`\[(\d+\.\d+)\] \d+ bytes from`).FindAllStringSubmatch(out, -1) {
		ts, _ := strconv.ParseFloat(r[1], 64)
		if last != 0 {
			gap = max(gap, time.Duration((ts-last)*float64(time.Second)).Round(time.Millisecond))
		}
		last = ts
	}
	return sent, sent - recv, gap
}

// survivalPair: A runs in a bpfHost (its data plane can outlive it), B
// as usual; the tunnel is up and a TCP stream runs from A to B.
func survivalPair(t *testing.T, extra string) (tp *topology, h *bpfHost, confA string, da *daemon) {
	prerequisites(t)
	testenv.RequireTool(t, "nsenter")
	testenv.RequireTool(t, "unshare")
	tp = newTopology(t, false, false)
	h = newBPFHost(t)
	confA = tp.writeConf(t, tp.ifA, tp.keyA, 51820, tp.innerA, tp.keyB.Public(), tp.innerB+"/32", endpoint(tp.underB, 51820), extra)
	confB := tp.writeConf(t, tp.ifB, tp.keyB, 51820, tp.innerB, tp.keyA.Public(), tp.innerA+"/32", endpoint(tp.underA, 51820), extra)
	da = h.start(t, tp.a, "wgbpfd", confA, tp.ifA)
	startWgbpfd(t, tp.b, confB, tp.ifB)
	waitPing(t, tp.a, tp.innerB, 10*time.Second)
	ping(t, tp.b, tp.innerA, 2)
	return tp, h, confA, da
}

// measureAcross runs a ping every 10 ms (and, with stream, a TCP stream
// whose sha256 must match) while swap replaces a daemon, and returns what
// the ping lost. The "pings every 10 ms" line is what bench-restart shows.
func measureAcross(t *testing.T, tp *topology, what string, withStream bool, swap func()) (lost int, gap time.Duration) {
	t.Helper()
	var s *stream
	if withStream {
		s = startStream(t, tp.a, tp.b, tp.innerB)
	}
	p := startPing(t, tp.a, tp.innerB, 600) // 6 s
	time.Sleep(time.Second)
	swap()
	sent, lost, gap := p.result(t)
	if s != nil {
		s.finish(t)
	}
	t.Logf("%s: %d pings every 10 ms, %d lost, longest gap %v", what, sent, lost, gap)
	return lost, gap
}

// across is measureAcross with a TCP stream that must survive and no
// ping lost.
func across(t *testing.T, tp *topology, what string, swap func()) {
	t.Helper()
	if lost, gap := measureAcross(t, tp, what, true, swap); lost != 0 {
		t.Errorf("%s: %d pings lost (longest gap %v), want 0", what, lost, gap)
	}
}

// TestCrashKeepsForwarding: kill -9 leaves the tunnel forwarding; a new
// wgbpfd from the same file takes it over (no interface or hop made anew),
// handshakes, and a ping every 10 ms and a TCP stream lose nothing across
// it, with either suite (aes-cbc keypairs are crypto contexts in the
// pinned maps). SIGTERM then removes everything.
func TestCrashKeepsForwarding(t *testing.T) {
	for _, c := range []struct{ name, extra string }{{"chacha20poly1305", ""}, {"aes-cbc", "Cipher = aes-cbc\n"}, {"policy", "policy"}} {
		t.Run(c.name, func(t *testing.T) {
			if c.extra == "policy" {
				// A policy on both hooks (flow accounting): the successor
				// installs its own before its programs take packets.
				c.extra = "Policy = " + example(t, "flows") + "\n"
			}
			crashKeepsForwarding(t, c.extra)
		})
	}
}

func crashKeepsForwarding(t *testing.T, extra string) {
	tp, h, confA, da := survivalPair(t, extra)
	hop := netif.HopNames(tp.ifA)
	idx := func() string {
		return strings.Fields(tp.a.MustRun(t, "ip", "-o", "link", "show", tp.ifA))[0]
	}
	before := idx()
	var dn *daemon
	var txBefore uint64
	across(t, tp, "kill -9 and restart", func() {
		_, peers := wgDump(t, tp.a, tp.ifA)
		txBefore = peers[tp.keyB.Public().String()].tx
		_ = da.stop(t, syscall.SIGKILL)
		time.Sleep(time.Second) // no daemon: the kernel alone forwards
		dn = h.start(t, tp.a, "wgbpfd", confA, tp.ifA)
		waitLog(t, dn, "took over the running interface and data plane", 10*time.Second)
	})
	if idx() != before {
		t.Errorf("interface index %s after the restart, was %s: the interface was made anew", idx(), before)
	}
	// The counters carried on (the stream's megabytes are in them).
	if _, peers := wgDump(t, tp.a, tp.ifA); peers[tp.keyB.Public().String()].tx < txBefore || txBefore < 1<<20 {
		t.Errorf("bytes sent to the peer: %d before the crash, %d after the take-over; want them carried on", txBefore, peers[tp.keyB.Public().String()].tx)
	}
	if strings.Contains(extra, "Policy") && !strings.Contains(dn.logText(), "policy loaded") {
		t.Errorf("the successor did not install the policy:\n%s", dn.logText())
	}
	// The successor's own keypair replaced the unrecoverable one.
	waitLog(t, dn, "handshake initiation sent", 5*time.Second)
	ping(t, tp.b, tp.innerA, 3)
	if out := h.run(t, tp.a, filepath.Join(binaries(t), "wgbpfd"), "leftovers"); !strings.Contains(out, tp.ifA) || !strings.Contains(out, "held by a running daemon") {
		t.Errorf("wgbpfd leftovers while running:\n%s", out)
	}

	// Stop means stop: no interface, hop or pins remain.
	if err := dn.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	links := tp.a.MustRun(t, "ip", "-o", "link", "show")
	for _, n := range []string{tp.ifA + ":", hop[0], hop[1]} {
		if strings.Contains(links, n) {
			t.Errorf("%s left after SIGTERM:\n%s", n, links)
		}
	}
	if out := h.run(t, tp.a, filepath.Join(binaries(t), "wgbpfd"), "leftovers"); strings.Contains(out, tp.ifA) {
		t.Errorf("pins left after SIGTERM:\n%s", out)
	}
}

// TestPlannedRestartAndUpgrade: SIGUSR2 makes the daemon exit leaving the
// data plane to a successor: the same build (planned restart), a newer
// build with the same maps (upgrade: its programs replace the running
// ones), neither losing a ping or a byte of a TCP stream. A build whose
// drops map differs refuses to take over, says why, and starts clean.
func TestPlannedRestartAndUpgrade(t *testing.T) {
	tp, h, confA, da := survivalPair(t, "")
	handover := func(d *daemon) {
		t.Helper()
		err := d.stop(t, syscall.SIGUSR2)
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 75 {
			t.Fatalf("SIGUSR2: exit %v, want status 75 (handed over)", err)
		}
		if !strings.Contains(d.logText(), "handed over") {
			t.Fatalf("no hand-over in the log:\n%s", d.logText())
		}
	}
	idx := func() string { return strings.Fields(tp.a.MustRun(t, "ip", "-o", "link", "show", tp.ifA))[0] }
	before := idx()
	// The gaps below compare with this one: the same ping and stream on a
	// loaded machine, nothing restarted.
	across(t, tp, "baseline, nothing restarted", func() {})
	across(t, tp, "SIGUSR2 and restart", func() {
		handover(da)
		da = h.start(t, tp.a, "wgbpfd", confA, tp.ifA)
		waitLog(t, da, "took over the running interface and data plane", 10*time.Second)
	})
	across(t, tp, "upgrade (SIGUSR2, new binary)", func() {
		handover(da)
		da = h.start(t, tp.a, "wgbpfd-next", confA, tp.ifA)
		waitLog(t, da, "took over the running interface and data plane", 10*time.Second)
	})
	waitLog(t, da, "version=next", time.Second)
	if idx() != before {
		t.Errorf("interface index %s, was %s: made anew", idx(), before)
	}

	// Another map layout: a clean restart, with the reason.
	measureAcross(t, tp, "upgrade to another map layout (a clean restart)", false, func() {
		handover(da)
		da = h.start(t, tp.a, "wgbpfd-newlayout", confA, tp.ifA)
		waitLog(t, da, "wgbpfd is up", 10*time.Second)
	})
	if log := da.logText(); !strings.Contains(log, "another map layout") || strings.Contains(log, "took over") {
		t.Errorf("a build with another map layout did not refuse with the reason:\n%s", log)
	}
	if idx() == before {
		t.Errorf("interface index unchanged (%s) after a clean restart", idx())
	}
	if links := tp.a.MustRun(t, "ip", "-o", "link", "show"); strings.Count(links, netif.HopNames(tp.ifA)[0]+"@") != 1 {
		t.Errorf("want exactly one hop pair after the clean restart:\n%s", links)
	}
	waitPing(t, tp.a, tp.innerB, 10*time.Second)
	ping(t, tp.b, tp.innerA, 3)

	// Another private key: not adopted either.
	_ = da.stop(t, syscall.SIGKILL)
	other, err := config.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	confOther := tp.writeConf(t, tp.ifA, other, 51820, tp.innerA, tp.keyB.Public(), tp.innerB+"/32", endpoint(tp.underB, 51820), "")
	da = h.start(t, tp.a, "wgbpfd", confOther, tp.ifA)
	waitLog(t, da, "made for another private key", 10*time.Second)
}

// TestLeftoversCleanup: after kill -9 `wgbpfd leftovers` lists the data
// plane left running, `wgbpfd cleanup IF` refuses while a daemon runs and
// removes everything once none does.
func TestLeftoversCleanup(t *testing.T) {
	tp, h, confA, da := survivalPair(t, "")
	bin := filepath.Join(binaries(t), "wgbpfd")
	if out, err := h.command(tp.a, bin, "cleanup", tp.ifA).CombinedOutput(); err == nil || !strings.Contains(string(out), "running") {
		t.Errorf("cleanup while the daemon runs: %v\n%s", err, out)
	}
	ping(t, tp.a, tp.innerB, 2)
	_ = da.stop(t, syscall.SIGKILL)
	ping(t, tp.a, tp.innerB, 3) // the orphan still forwards
	if out := h.run(t, tp.a, bin, "leftovers"); !strings.Contains(out, tp.ifA) || !strings.Contains(out, "no daemon") {
		t.Errorf("wgbpfd leftovers after kill -9:\n%s", out)
	}
	out := h.run(t, tp.a, bin, "cleanup", tp.ifA)
	t.Logf("cleanup: %s", out)
	links := tp.a.MustRun(t, "ip", "-o", "link", "show")
	for _, n := range []string{tp.ifA + ":", netif.HopNames(tp.ifA)[0], netif.HopNames(tp.ifA)[1]} {
		if strings.Contains(links, n) {
			t.Errorf("%s left after cleanup:\n%s", n, links)
		}
	}
	if out := h.run(t, tp.a, bin, "leftovers"); strings.Contains(out, tp.ifA) {
		t.Errorf("leftovers after cleanup:\n%s", out)
	}
	noPing(t, tp.a, tp.innerB)
	// And a start after it is a plain fresh start.
	da = h.start(t, tp.a, "wgbpfd", confA, tp.ifA)
	waitPing(t, tp.a, tp.innerB, 10*time.Second)
}

// TestRestartLossWireguardGo: the same measurement for wireguard-go, whose
// tunnel goes with its process: kill -9 and start again (interface and
// configuration made anew, as a supervisor would). The tunnel must come
// back; what the ping lost is logged for bench-restart.
func TestRestartLossWireguardGo(t *testing.T) {
	prerequisites(t)
	tp := newTopology(t, false, false)
	cmd := startWireguardGo(t, tp.a, tp.ifA, tp.keyA, 51820, tp.innerA+"/24", tp.keyB.Public().String(), tp.innerB+"/32", endpoint(tp.underB, 51820))
	startWireguardGo(t, tp.b, tp.ifB, tp.keyB, 51820, tp.innerB+"/24", tp.keyA.Public().String(), tp.innerA+"/32", endpoint(tp.underA, 51820))
	waitPing(t, tp.a, tp.innerB, 10*time.Second)
	for _, pause := range []time.Duration{0, time.Second} {
		// 1 s: the pause the wgbpfd crash case has between kill and start.
		measureAcross(t, tp, fmt.Sprintf("wireguard-go kill -9 and restart after %v", pause), false, func() {
			_ = cmd.Process.Kill()
			for { // its TUN goes with the process
				if _, err := tp.a.Run("ip", "link", "show", tp.ifA); err != nil {
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
			// Its control socket stays behind; the new one replaces it,
			// and startWireguardGo must not take the old one for it.
			_ = os.Remove("/var/run/wireguard/" + tp.ifA + ".sock")
			time.Sleep(pause)
			cmd = startWireguardGo(t, tp.a, tp.ifA, tp.keyA, 51820, tp.innerA+"/24", tp.keyB.Public().String(), tp.innerB+"/32", endpoint(tp.underB, 51820))
		})
		ping(t, tp.a, tp.innerB, 3)
	}
}

// TestCrashFullTunnel: a full tunnel (0.0.0.0/0, ::/0 with the fwmark
// wg-quick picks) survives kill -9 and is taken over with the same mark
// (the file has none; picking afresh would take the next free table, whose
// rules would loop the encrypted packets); a stop afterwards removes the
// rules the predecessor added.
func TestCrashFullTunnel(t *testing.T) {
	prerequisites(t)
	testenv.RequireTool(t, "nsenter")
	testenv.RequireTool(t, "unshare")
	tp := newTopology(t, false, false)
	h := newBPFHost(t)
	confA := tp.writeConf(t, tp.ifA, tp.keyA, 51820, tp.innerA, tp.keyB.Public(), "0.0.0.0/0, ::/0", endpoint(tp.underB, 51820), "")
	confB := tp.writeConf(t, tp.ifB, tp.keyB, 51820, tp.innerB, tp.keyA.Public(), tp.innerA+"/32", endpoint(tp.underA, 51820), "")
	da := h.start(t, tp.a, "wgbpfd", confA, tp.ifA)
	startWgbpfd(t, tp.b, confB, tp.ifB)
	waitReachable(t, tp.a, tp.innerB)
	across(t, tp, "full tunnel: kill -9 and restart", func() {
		_ = da.stop(t, syscall.SIGKILL)
		da = h.start(t, tp.a, "wgbpfd", confA, tp.ifA)
		waitLog(t, da, "took over the running interface and data plane", 10*time.Second)
	})
	if got := strings.TrimSpace(tp.a.MustRun(t, "wg", "show", tp.ifA, "fwmark")); got != "0xca6c" {
		t.Errorf("fwmark %s after the take-over, want 0xca6c", got)
	}
	if rules := tp.a.MustRun(t, "ip", "-4", "rule", "show"); strings.Count(rules, "lookup 51820") != 1 {
		t.Errorf("want one rule for table 51820 after the take-over:\n%s", rules)
	}
	if err := da.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	for _, f := range []string{"-4", "-6"} {
		if rules := tp.a.MustRun(t, "ip", f, "rule", "show"); strings.Contains(rules, "51820") || strings.Contains(rules, "suppress_prefixlength") {
			t.Errorf("rules left after SIGTERM:\n%s", rules)
		}
	}
}

// TestTakeOverKeepsEndpoint: B moves to a new underlay address and A's
// data plane learns it from B's packets (roaming); after kill -9 A's
// successor keeps that endpoint rather than the file's stale one, and its
// handshake completes there.
func TestTakeOverKeepsEndpoint(t *testing.T) {
	tp, h, confA, da := survivalPair(t, "")
	tp.b.MustRun(t, "sysctl", "-qw", "net.ipv4.conf.ul0.promote_secondaries=1")
	tp.b.MustRun(t, "ip", "addr", "add", "192.0.2.12/24", "dev", "ul0")
	tp.b.MustRun(t, "ip", "addr", "del", tp.underB+"/24", "dev", "ul0")
	ping(t, tp.b, tp.innerA, 3) // B's packets now come from .12
	keyB := tp.keyB.Public().String()
	if _, p := wgDump(t, tp.a, tp.ifA); p[keyB].endpoint != "192.0.2.12:51820" {
		t.Fatalf("A's endpoint for B is %q after B moved, want 192.0.2.12:51820", p[keyB].endpoint)
	}
	_ = da.stop(t, syscall.SIGKILL)
	da = h.start(t, tp.a, "wgbpfd", confA, tp.ifA)
	waitLog(t, da, "took over the running interface and data plane", 10*time.Second)
	waitLog(t, da, "handshake completed", 10*time.Second)
	if _, p := wgDump(t, tp.a, tp.ifA); p[keyB].endpoint != "192.0.2.12:51820" {
		t.Errorf("A's endpoint for B is %q after the take-over, want the learned 192.0.2.12:51820", p[keyB].endpoint)
	}
	ping(t, tp.a, tp.innerB, 3)
	ping(t, tp.b, tp.innerA, 3)
}

// TestTakeOverAppliesFile: a file changed while no daemon ran is applied
// on take-over as a reload would: a new address and AllowedIPs appear, an
// address the file dropped goes, and the tunnel never stops.
func TestTakeOverAppliesFile(t *testing.T) {
	tp, h, confA, da := survivalPair(t, "Address = 10.79.0.1/24\n")
	ping(t, tp.a, tp.innerB, 2)
	if out := tp.a.MustRun(t, "ip", "addr", "show", tp.ifA); !strings.Contains(out, "10.79.0.1/24") {
		t.Fatalf("second address missing before the change:\n%s", out)
	}
	_ = da.stop(t, syscall.SIGKILL)
	// The file now has another second address and one more AllowedIPs.
	confA = tp.writeConf(t, tp.ifA, tp.keyA, 51820, tp.innerA, tp.keyB.Public(), tp.innerB+"/32, 10.80.0.0/24", endpoint(tp.underB, 51820), "Address = 10.81.0.1/24\n")
	p := startPing(t, tp.a, tp.innerB, 300)
	da = h.start(t, tp.a, "wgbpfd", confA, tp.ifA)
	waitLog(t, da, "took over the running interface and data plane", 10*time.Second)
	if sent, lost, gap := p.result(t); lost != 0 {
		t.Errorf("%d of %d pings lost across the take-over (gap %v)", lost, sent, gap)
	}
	out := tp.a.MustRun(t, "ip", "addr", "show", tp.ifA)
	if !strings.Contains(out, "10.81.0.1/24") || strings.Contains(out, "10.79.0.1/24") || !strings.Contains(out, tp.innerA+"/24") {
		t.Errorf("addresses after the take-over, want %s and 10.81.0.1 only:\n%s", tp.innerA, out)
	}
	if out := tp.a.MustRun(t, "wg", "show", tp.ifA, "allowed-ips"); !strings.Contains(out, "10.80.0.0/24") {
		t.Errorf("AllowedIPs after the take-over:\n%s", out)
	}
	if out := tp.a.MustRun(t, "ip", "route", "show", "10.80.0.0/24"); !strings.Contains(out, tp.ifA) {
		t.Errorf("no route for the new AllowedIPs:\n%s", out)
	}
}
