// SPDX-License-Identifier: MIT

// Package test holds wgbpfd's peer-to-peer tests: real daemons in network
// namespaces joined by veth, against each other and against wireguard-go,
// driven by their config files and by wg(8). Root only; under CI=true a
// missing prerequisite fails the test.
package test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wgbpfd/wgbpfd/config"
	"github.com/wgbpfd/wgbpfd/internal/nstest"
	"github.com/wgbpfd/wgbpfd/internal/testenv"
)

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// binaries builds wgbpfd and wireguard-go (the pinned go.mod tool) once per
// test run and returns the directory holding them. WGBPFD_TEST_BIN names a
// directory with the three binaries already built, for machines without a Go
// toolchain (the VM of scripts/vmtest.sh).
func binaries(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if dir := os.Getenv("WGBPFD_TEST_BIN"); dir != "" {
			binDir = dir
			for _, name := range []string{"wgbpfd", "wgbpfd-production", "wireguard-go"} {
				if _, buildErr = os.Stat(filepath.Join(dir, name)); buildErr != nil {
					buildErr = fmt.Errorf("WGBPFD_TEST_BIN: %w", buildErr)
					return
				}
			}
			return
		}
		binDir, buildErr = os.MkdirTemp("", "wgbpfd-test-bin-")
		if buildErr != nil {
			return
		}
		for _, b := range [][]string{
			// The tests' wgbpfd accepts test settings (fast rekey); the
			// production build, which must refuse them, is built too.
			{"-tags", "wgbpfd_testhooks", "-o", filepath.Join(binDir, "wgbpfd"), "../cmd/wgbpfd"},
			{"-o", filepath.Join(binDir, "wgbpfd-production"), "../cmd/wgbpfd"},
			// Upgrades: a newer build with the same maps, and one whose
			// drops map differs (dataplane/testlayout_on.go).
			{"-tags", "wgbpfd_testhooks", "-ldflags", "-X main.version=next", "-o", filepath.Join(binDir, "wgbpfd-next"), "../cmd/wgbpfd"},
			{"-tags", "wgbpfd_testhooks,wgbpfd_testlayout", "-ldflags", "-X main.version=newlayout", "-o", filepath.Join(binDir, "wgbpfd-newlayout"), "../cmd/wgbpfd"},
			{"-o", filepath.Join(binDir, "wireguard-go"), "golang.zx2c4.com/wireguard"},
		} {
			out, err := exec.Command("go", append([]string{"build"}, b...)...).CombinedOutput()
			if err != nil {
				buildErr = fmt.Errorf("go build %v: %v: %s", b, err, out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binDir
}

// prerequisites stops t unless it can run namespace tests.
func prerequisites(t *testing.T) {
	t.Helper()
	testenv.RequireRoot(t)
	testenv.RequireTool(t, "ip")
	testenv.RequireTool(t, "ping")
	testenv.RequireTool(t, "wg")
}

// topology is two namespaces joined by one veth pair (the underlay).
type topology struct {
	a, b       *nstest.NS
	underA     string // underlay address of a (IPv4 or IPv6)
	underB     string
	ifA, ifB   string // unique wg interface names (the socket dir is shared)
	innerA     string // tunnel addresses
	innerB     string
	innerBits  int
	keyA, keyB config.PrivateKey
	dir        string
	outer6     bool
	inner6     bool
}

func uniqueIf(t *testing.T, prefix string) string {
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return prefix + hex.EncodeToString(b[:]) // 8 characters: room for a suffix
}

func newTopology(t *testing.T, outer6, inner6 bool) *topology {
	t.Helper()
	tp := &topology{
		a: nstest.New(t, "wgt-a"), b: nstest.New(t, "wgt-b"),
		ifA: uniqueIf(t, "wa"), ifB: uniqueIf(t, "wb"),
		dir: t.TempDir(), outer6: outer6, inner6: inner6,
	}
	nstest.Veth(t, tp.a, "ul0", tp.b, "ul0")
	if outer6 {
		tp.underA, tp.underB = "fd00:99::1", "fd00:99::2"
		tp.a.MustRun(t, "ip", "addr", "add", "fd00:99::1/64", "dev", "ul0", "nodad")
		tp.b.MustRun(t, "ip", "addr", "add", "fd00:99::2/64", "dev", "ul0", "nodad")
	} else {
		tp.underA, tp.underB = "192.0.2.1", "192.0.2.2"
		tp.a.MustRun(t, "ip", "addr", "add", "192.0.2.1/24", "dev", "ul0")
		tp.b.MustRun(t, "ip", "addr", "add", "192.0.2.2/24", "dev", "ul0")
	}
	tp.a.MustRun(t, "ip", "link", "set", "ul0", "up")
	tp.b.MustRun(t, "ip", "link", "set", "ul0", "up")
	// Checksum offload off on the underlay: the encrypted packets must be
	// right without the NIC's help.
	if _, err := exec.LookPath("ethtool"); err == nil {
		tp.a.Run("ethtool", "-K", "ul0", "tx", "off", "rx", "off")
		tp.b.Run("ethtool", "-K", "ul0", "tx", "off", "rx", "off")
	}
	if inner6 {
		tp.innerA, tp.innerB, tp.innerBits = "fd00:77::1", "fd00:77::2", 128
	} else {
		tp.innerA, tp.innerB, tp.innerBits = "10.77.0.1", "10.77.0.2", 32
	}
	var err error
	if tp.keyA, err = config.GeneratePrivateKey(); err != nil {
		t.Fatal(err)
	}
	if tp.keyB, err = config.GeneratePrivateKey(); err != nil {
		t.Fatal(err)
	}
	return tp
}

func endpoint(addr string, port int) string {
	if strings.Contains(addr, ":") {
		return fmt.Sprintf("[%s]:%d", addr, port)
	}
	return fmt.Sprintf("%s:%d", addr, port)
}

func secret(k config.PrivateKey) string { return base64Std(k[:]) }

// writeConf writes a wg-quick file for one side and returns its path.
func (tp *topology) writeConf(t *testing.T, name string, priv config.PrivateKey, port int, addr string, peerPub config.Key, peerAllowed string, peerEndpoint string, extra string) string {
	t.Helper()
	bits := 24
	if strings.Contains(addr, ":") {
		bits = 64
	}
	conf := fmt.Sprintf("[Interface]\nPrivateKey = %s\nListenPort = %d\nAddress = %s/%d\n%s\n[Peer]\nPublicKey = %s\nAllowedIPs = %s\n",
		secret(priv), port, addr, bits, extra, peerPub, peerAllowed)
	if peerEndpoint != "" {
		conf += "Endpoint = " + peerEndpoint + "\n"
	}
	path := filepath.Join(tp.dir, name+".conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// daemon is a running wgbpfd started by the test.
type daemon struct {
	cmd    *exec.Cmd
	log    *bytes.Buffer
	ifname string
	done   chan error
}

func startWgbpfd(t *testing.T, ns *nstest.NS, conf, ifname string, args ...string) *daemon {
	t.Helper()
	bin := filepath.Join(binaries(t), "wgbpfd")
	return startDaemonCmd(t, ns.Command(append([]string{bin, "-c", conf, "-i", ifname, "--log-level", "debug"}, args...)...), ifname)
}

// startDaemonCmd starts a wgbpfd command line prepared by the caller.
func startDaemonCmd(t *testing.T, cmd *exec.Cmd, ifname string) *daemon {
	t.Helper()
	d := &daemon{log: &bytes.Buffer{}, ifname: ifname, done: make(chan error, 1)}
	d.cmd = cmd
	d.cmd.Stdout = &lockedWriter{w: d.log}
	d.cmd.Stderr = d.cmd.Stdout
	// A child the daemon started (a hook) may hold the output pipe after
	// the daemon exits; do not let Wait block on it forever.
	d.cmd.WaitDelay = 5 * time.Second
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.done <- d.cmd.Wait() }()
	t.Cleanup(func() {
		d.stop(t, syscall.SIGTERM)
		if t.Failed() {
			t.Logf("wgbpfd %s log:\n%s", ifname, d.logText())
		}
	})
	waitSocket(t, ifname, d)
	// The start-up log names the chacha20poly1305 backend; under
	// WGBPFD_CHACHA_BACKEND=kfunc (make vmtest with the module) it must be
	// the kernel's AEAD.
	want := `msg="chacha20poly1305 backend" interface=` + ifname + " backend="
	if os.Getenv("WGBPFD_CHACHA_BACKEND") == "kfunc" {
		want += "kfunc"
	}
	// The socket can be there before the log line is read (a restart
	// finds the last daemon's), so wait a little for it.
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(d.logText(), want); {
		if time.Now().After(deadline) {
			t.Fatalf("wgbpfd %s: the start-up log lacks %q:\n%s", ifname, want, d.logText())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return d
}

func (d *daemon) logText() string {
	lw := d.cmd.Stdout.(*lockedWriter)
	lw.mu.Lock()
	defer lw.mu.Unlock()
	return d.log.String()
}

// stop signals the daemon and waits for it; SIGKILL after 10 s.
func (d *daemon) stop(t *testing.T, sig syscall.Signal) error {
	if d.cmd.ProcessState != nil {
		return nil
	}
	_ = d.cmd.Process.Signal(sig)
	select {
	case err := <-d.done:
		d.done <- err
		return err
	case <-time.After(10 * time.Second):
		_ = d.cmd.Process.Kill()
		err := <-d.done
		d.done <- err
		t.Errorf("wgbpfd %s did not stop within 10 s of %v", d.ifname, sig)
		return err
	}
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func waitSocket(t *testing.T, ifname string, d *daemon) {
	t.Helper()
	sock := "/var/run/wireguard/" + ifname + ".sock"
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(sock); err == nil {
			return
		}
		select {
		case err := <-d.done:
			d.done <- err
			t.Fatalf("wgbpfd %s exited during start-up: %v\n%s", ifname, err, d.logText())
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("wgbpfd %s: no control socket after 20 s\n%s", ifname, d.logText())
}

// ping sends count pings from ns to addr and fails t unless all arrive.
func ping(t *testing.T, ns *nstest.NS, addr string, count int) {
	t.Helper()
	out, err := ns.Run("ping", "-c", fmt.Sprint(count), "-i", "0.2", "-W", "3", addr)
	if err != nil {
		t.Fatalf("ping %s from %s: %v\n%s", addr, ns.Name, err, out)
	}
	if !strings.Contains(out, fmt.Sprintf("%d received", count)) {
		t.Fatalf("ping %s from %s lost packets:\n%s", addr, ns.Name, out)
	}
}

// transferTCP sends n random bytes from ns `from` to a listener in `to` at
// addr over TCP and checks that the sha256 of what arrived matches.
func transferTCP(t *testing.T, from, to *nstest.NS, addr string, n int) {
	t.Helper()
	var l net.Listener
	to.MustDo(t, func() (err error) {
		l, err = net.Listen("tcp", net.JoinHostPort(addr, "0"))
		return err
	})
	defer l.Close()
	got := make(chan [32]byte, 1)
	gotErr := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			gotErr <- err
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(60 * time.Second))
		h := sha256.New()
		if _, err := io.Copy(h, c); err != nil {
			gotErr <- err
			return
		}
		got <- [32]byte(h.Sum(nil))
	}()
	var c net.Conn
	from.MustDo(t, func() (err error) {
		c, err = net.DialTimeout("tcp", l.Addr().String(), 10*time.Second)
		return err
	})
	payload := make([]byte, n)
	if _, err := rand.Read(payload); err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256(payload)
	_ = c.SetDeadline(time.Now().Add(60 * time.Second))
	start := time.Now()
	if _, err := c.Write(payload); err != nil {
		t.Fatalf("TCP write to %s: %v", addr, err)
	}
	c.Close()
	select {
	case h := <-got:
		if h != want {
			t.Fatalf("TCP transfer of %d bytes to %s: sha256 mismatch", n, addr)
		}
		t.Logf("TCP %d MiB %s → %s in %v", n>>20, from.Name, addr, time.Since(start).Round(time.Millisecond))
	case err := <-gotErr:
		t.Fatalf("TCP receive at %s: %v", addr, err)
	case <-time.After(90 * time.Second):
		t.Fatalf("TCP transfer to %s did not finish", addr)
	}
}

// waitReachable pings addr from ns until one reply arrives (up to 15 s).
// A handshake attempt that started before the peer was up is retried only
// after REKEY_TIMEOUT (5 s), as in WireGuard, so the first reply can take
// that long.
func waitReachable(t *testing.T, ns *nstest.NS, addr string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := ns.Run("ping", "-c", "1", "-W", "1", addr); err == nil {
			return
		}
	}
	t.Fatalf("%s: no reply from %s within 15 s", ns.Name, addr)
}
