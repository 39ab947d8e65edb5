// SPDX-License-Identifier: MIT

package test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wgbpfd/wgbpfd/config"
	"github.com/wgbpfd/wgbpfd/dataplane"
	"github.com/wgbpfd/wgbpfd/internal/nstest"
)

// pairCase is one wgbpfd↔wgbpfd tunnel.
type pairCase struct {
	cipher         string
	outer6, inner6 bool
}

func (c pairCase) String() string {
	f := func(v6 bool) string {
		if v6 {
			return "6"
		}
		return "4"
	}
	return fmt.Sprintf("%s/outer%s-inner%s", c.cipher, f(c.outer6), f(c.inner6))
}

// startPair brings up a wgbpfd in each namespace, A initiating.
func startPair(t *testing.T, c pairCase) (*topology, *daemon, *daemon) {
	t.Helper()
	tp := newTopology(t, c.outer6, c.inner6)
	extra := "Cipher = " + c.cipher
	bits := fmt.Sprint(tp.innerBits)
	confA := tp.writeConf(t, tp.ifA, tp.keyA, 51820, tp.innerA, tp.keyB.Public(), tp.innerB+"/"+bits, endpoint(tp.underB, 51820), extra)
	confB := tp.writeConf(t, tp.ifB, tp.keyB, 51820, tp.innerB, tp.keyA.Public(), tp.innerA+"/"+bits, endpoint(tp.underA, 51820), extra)
	da := startWgbpfd(t, tp.a, confA, tp.ifA)
	db := startWgbpfd(t, tp.b, confB, tp.ifB)
	return tp, da, db
}

func TestWgbpfdPair(t *testing.T) {
	prerequisites(t)
	for _, c := range []pairCase{
		{"chacha20poly1305", false, false},
		{"chacha20poly1305", true, true},
		{"chacha20poly1305", false, true},
		{"chacha20poly1305", true, false},
		{"aes-cbc", false, false},
		{"aes-cbc", true, true},
	} {
		t.Run(c.String(), func(t *testing.T) {
			tp, _, _ := startPair(t, c)
			ping(t, tp.a, tp.innerB, 5)
			ping(t, tp.b, tp.innerA, 3)
			transferTCP(t, tp.a, tp.b, tp.innerB, 16<<20)
			transferTCP(t, tp.b, tp.a, tp.innerA, 16<<20)
			transferUDP(t, tp.a, tp.b, tp.innerB, 200)
			transferUDP(t, tp.b, tp.a, tp.innerA, 200)
			out := tp.a.MustRun(t, "wg", "show", tp.ifA)
			for _, want := range []string{"latest handshake", "transfer", tp.keyB.Public().String()} {
				if !strings.Contains(out, want) {
					t.Errorf("wg show %s lacks %q:\n%s", tp.ifA, want, out)
				}
			}
		})
	}
}

// TestStopLeavesNothing: SIGTERM removes the interface, its veth hop, the
// control socket and the data plane's links.
func TestStopLeavesNothing(t *testing.T) {
	prerequisites(t)
	tp, da, _ := startPair(t, pairCase{cipher: "chacha20poly1305"})
	ping(t, tp.a, tp.innerB, 2)
	// The observable maps are pinned in the daemon's mount namespace
	// (ip netns exec gives it its own /sys).
	var dir string
	tp.a.MustDo(t, func() error { dir = dataplane.PinDir(tp.ifA); return nil })
	pins := fmt.Sprintf("/proc/%d/root%s", da.cmd.Process.Pid, dir)
	for _, m := range []string{"drops", "peer_stats", "peers", "sessions"} {
		if _, err := os.Stat(filepath.Join(pins, m)); err != nil {
			t.Errorf("map %s not pinned: %v", m, err)
		}
	}
	if err := da.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("wgbpfd exited with %v after SIGTERM\n%s", err, da.logText())
	}
	links := tp.a.MustRun(t, "ip", "-o", "link", "show")
	if strings.Contains(links, tp.ifA) {
		t.Errorf("links left after SIGTERM:\n%s", links)
	}
	if _, err := os.Stat(filepath.Join("/var/run/wireguard", tp.ifA+".sock")); !os.IsNotExist(err) {
		t.Errorf("control socket left after SIGTERM (stat: %v)", err)
	}
	if out := tp.a.MustRun(t, "ip", "route", "show", "table", "all"); strings.Contains(out, tp.ifA) {
		t.Errorf("routes left after SIGTERM:\n%s", out)
	}
}

// TestInteropWireguardGo runs wgbpfd against wireguard-go (pinned in go.mod),
// with either side initiating.
func TestInteropWireguardGo(t *testing.T) {
	prerequisites(t)
	for _, wgbpfdInitiates := range []bool{true, false} {
		name := "wireguard-go-initiates"
		if wgbpfdInitiates {
			name = "wgbpfd-initiates"
		}
		t.Run(name, func(t *testing.T) {
			tp := newTopology(t, false, false)
			confA := tp.writeConf(t, tp.ifA, tp.keyA, 51820, tp.innerA, tp.keyB.Public(), tp.innerB+"/32", endpoint(tp.underB, 51820), "")
			startWgbpfd(t, tp.a, confA, tp.ifA)
			startWireguardGo(t, tp.b, tp.ifB, tp.keyB, 51820, tp.innerB+"/24", tp.keyA.Public().String(), tp.innerA+"/32", endpoint(tp.underA, 51820))
			if wgbpfdInitiates {
				ping(t, tp.a, tp.innerB, 5)
			} else {
				ping(t, tp.b, tp.innerA, 5)
			}
			transferTCP(t, tp.a, tp.b, tp.innerB, 16<<20)
			transferTCP(t, tp.b, tp.a, tp.innerA, 16<<20)
			transferUDP(t, tp.a, tp.b, tp.innerB, 200)
			transferUDP(t, tp.b, tp.a, tp.innerA, 200)
		})
	}
}

// startWireguardGo runs wireguard-go in the foreground inside ns and
// configures it with wg(8) and ip(8).
func startWireguardGo(t *testing.T, ns *nstest.NS, ifname string, key config.PrivateKey, port int, addr, peerPub, peerAllowed, peerEndpoint string) *exec.Cmd {
	t.Helper()
	bin := filepath.Join(binaries(t), "wireguard-go")
	log := &lockedWriter{w: &bytes.Buffer{}}
	cmd := ns.Command(bin, "-f", ifname)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			log.mu.Lock()
			t.Logf("wireguard-go log:\n%s", log.w.(*bytes.Buffer).String())
			log.mu.Unlock()
		}
	})
	sock := "/var/run/wireguard/" + ifname + ".sock"
	for i := 0; i < 200; i++ {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	keyFile := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(keyFile, []byte(secret(key)), 0o600); err != nil {
		t.Fatal(err)
	}
	ns.MustRun(t, "wg", "set", ifname, "listen-port", fmt.Sprint(port), "private-key", keyFile,
		"peer", peerPub, "allowed-ips", peerAllowed, "endpoint", peerEndpoint)
	ns.MustRun(t, "ip", "addr", "add", addr, "dev", ifname)
	ns.MustRun(t, "ip", "link", "set", ifname, "up")
	return cmd
}
