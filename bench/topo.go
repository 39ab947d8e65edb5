// SPDX-License-Identifier: MIT

package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/wgbpfd/wgbpfd/config"
	"github.com/wgbpfd/wgbpfd/internal/nstest"
)

// The addresses every configuration uses: the underlay veth between the
// namespaces, and the tunnel addresses inside.
const (
	underA = "192.0.2.1"
	underB = "192.0.2.2"
	innerA = "10.77.0.1"
	innerB = "10.77.0.2"
	wgPort = 51820
)

// kind is what carries the traffic.
type kind int

const (
	kindPlain kind = iota
	kindWgbpfd
	kindWireguardGo
)

// target is one column of the table.
type target struct {
	key    string // short name for flags
	title  string // column title
	kind   kind
	cipher string // wgbpfd suite
}

var allTargets = []target{
	{key: "veth", title: "plain veth", kind: kindPlain},
	{key: "chacha", title: "wgbpfd chacha20poly1305", kind: kindWgbpfd, cipher: "chacha20poly1305"},
	{key: "aes", title: "wgbpfd aes-cbc", kind: kindWgbpfd, cipher: "aes-cbc"},
	{key: "wggo", title: "wireguard-go", kind: kindWireguardGo},
}

// bins are the programs under test.
type bins struct{ wgbpfd, wggo string }

// pair is two namespaces joined by a veth pair (ul0 in each) and, for the
// tunnels, one daemon per side.
type pair struct {
	a, b     *nstest.NS
	dir      string
	ifA, ifB string
	dA, dB   *proc  // daemons (nil for plain veth)
	dst      string // address in b that traffic from a goes to
}

func randHex(s *scope, n int) string {
	b := make([]byte, (n+1)/2)
	if _, err := rand.Read(b); err != nil {
		s.Fatal(err)
	}
	return hex.EncodeToString(b)[:n]
}

// newUnderlay creates the namespaces and the veth between them.
func newUnderlay(s *scope, prefix string) *pair {
	p := &pair{a: nstest.New(s, prefix+"-a"), b: nstest.New(s, prefix+"-b")}
	dir, err := os.MkdirTemp("", "wgbpfd-bench-")
	if err != nil {
		s.Fatal(err)
	}
	s.Cleanup(func() { os.RemoveAll(dir) })
	p.dir = dir
	nstest.Veth(s, p.a, "ul0", p.b, "ul0")
	p.a.MustRun(s, "ip", "addr", "add", underA+"/24", "dev", "ul0")
	p.b.MustRun(s, "ip", "addr", "add", underB+"/24", "dev", "ul0")
	id := randHex(s, 6)
	p.ifA, p.ifB = "bw"+id+"a", "bw"+id+"b" // ≤ 10 characters
	return p
}

func secret(k config.PrivateKey) string { return base64.StdEncoding.EncodeToString(k[:]) }

// setupPair builds the configuration t between two new namespaces and
// waits until traffic passes.
func setupPair(s *scope, t target, bin bins) *pair {
	p := newUnderlay(s, "wgbench")
	if t.kind == kindPlain {
		p.dst = underB
		return p
	}
	kA, err := config.GeneratePrivateKey()
	if err != nil {
		s.Fatal(err)
	}
	kB, err := config.GeneratePrivateKey()
	if err != nil {
		s.Fatal(err)
	}
	p.dst = innerB
	switch t.kind {
	case kindWgbpfd:
		extra := "Cipher = " + t.cipher + "\n"
		confA := writeFile(s, p.dir, p.ifA+".conf", fmt.Sprintf(
			"[Interface]\nPrivateKey = %s\nListenPort = %d\nAddress = %s/24\n%s\n[Peer]\nPublicKey = %s\nAllowedIPs = %s/32\nEndpoint = %s:%d\n",
			secret(kA), wgPort, innerA, extra, kB.Public(), innerB, underB, wgPort))
		confB := writeFile(s, p.dir, p.ifB+".conf", fmt.Sprintf(
			"[Interface]\nPrivateKey = %s\nListenPort = %d\nAddress = %s/24\n%s\n[Peer]\nPublicKey = %s\nAllowedIPs = %s/32\nEndpoint = %s:%d\n",
			secret(kB), wgPort, innerB, extra, kA.Public(), innerA, underA, wgPort))
		p.dA = startWgbpfd(s, bin.wgbpfd, p.a, confA, p.ifA)
		p.dB = startWgbpfd(s, bin.wgbpfd, p.b, confB, p.ifB)
	case kindWireguardGo:
		p.dA = startWireguardGo(s, bin.wggo, p.a, p.ifA)
		p.dB = startWireguardGo(s, bin.wggo, p.b, p.ifB)
		confA := writeFile(s, p.dir, p.ifA+".wg", fmt.Sprintf(
			"[Interface]\nPrivateKey = %s\nListenPort = %d\n\n[Peer]\nPublicKey = %s\nAllowedIPs = %s/32\nEndpoint = %s:%d\n",
			secret(kA), wgPort, kB.Public(), innerB, underB, wgPort))
		confB := writeFile(s, p.dir, p.ifB+".wg", fmt.Sprintf(
			"[Interface]\nPrivateKey = %s\nListenPort = %d\n\n[Peer]\nPublicKey = %s\nAllowedIPs = %s/32\nEndpoint = %s:%d\n",
			secret(kB), wgPort, kA.Public(), innerA, underA, wgPort))
		wgQuickUp(s, p.a, p.ifA, confA, innerA+"/24")
		wgQuickUp(s, p.b, p.ifB, confB, innerB+"/24")
	}
	// First packet triggers the handshake; wait until pings pass.
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := p.a.Run("ping", "-c", "1", "-W", "1", p.dst); err == nil {
			break
		}
		if time.Now().After(deadline) {
			s.Fatalf("no ping through the %s tunnel after 15 s\n--- a:\n%s\n--- b:\n%s", t.title, tail(p.dA.out.String()), tail(p.dB.out.String()))
		}
		time.Sleep(100 * time.Millisecond)
	}
	return p
}

func tail(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	return strings.Join(lines, "\n")
}

func writeFile(s *scope, dir, name, content string) string {
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		s.Fatal(err)
	}
	return path
}

func sockPath(ifname string) string { return "/var/run/wireguard/" + ifname + ".sock" }

// startWgbpfd runs wgbpfd -c conf in ns and waits for its control socket.
func startWgbpfd(s *scope, bin string, ns *nstest.NS, conf, ifname string) *proc {
	p := start(s, "wgbpfd "+ifname, ns.Command(bin, "-c", conf, "-i", ifname, "--log-level", "warn"))
	waitSocket(s, p, ifname, 60*time.Second)
	return p
}

// startWireguardGo runs wireguard-go in the foreground in ns and waits for
// its control socket.
func startWireguardGo(s *scope, bin string, ns *nstest.NS, ifname string) *proc {
	cmd := ns.Command(bin, "-f", ifname)
	cmd.Env = append(os.Environ(), "LOG_LEVEL=error")
	p := start(s, "wireguard-go "+ifname, cmd)
	waitSocket(s, p, ifname, 20*time.Second)
	return p
}

// wgQuickUp does what wg-quick up does for wireguard-go: wg setconf, the
// address, the link up (the address' prefix route covers AllowedIPs).
func wgQuickUp(s *scope, ns *nstest.NS, ifname, wgConf, addr string) {
	ns.MustRun(s, "wg", "setconf", ifname, wgConf)
	ns.MustRun(s, "ip", "addr", "add", addr, "dev", ifname)
	ns.MustRun(s, "ip", "link", "set", ifname, "up")
}

func waitSocket(s *scope, p *proc, ifname string, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for {
		if _, err := os.Stat(sockPath(ifname)); err == nil {
			return
		}
		if p.exited() {
			s.Fatalf("%s exited during start-up: %v\n%s", p.name, p.err, tail(p.out.String()))
		}
		if time.Now().After(deadline) {
			s.Fatalf("%s: no control socket after %v\n%s", p.name, limit, tail(p.out.String()))
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// wgShows reports whether `wg show IF listen-port` answers in ns.
func wgShows(ns *nstest.NS, ifname string) bool {
	return ns.Command("wg", "show", ifname, "listen-port").Run() == nil
}

// rssKiB reads VmRSS and VmHWM of pid.
func rssKiB(pid int) (rss, hwm int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1, -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		var v int64
		fmt.Sscan(f[1], &v)
		switch f[0] {
		case "VmRSS:":
			rss = v
		case "VmHWM:":
			hwm = v
		}
	}
	return rss, hwm
}
