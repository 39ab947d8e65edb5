// SPDX-License-Identifier: MIT

package test

import (
	"bufio"
	"crypto/sha256"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wgbpfd/wgbpfd/config"
	"github.com/wgbpfd/wgbpfd/internal/nstest"
)

// Helpers for tests with more than two namespaces: a "switch" namespace
// holding a bridge, and member namespaces each with one underlay port on
// 192.0.2.0/24.

// lanNode is one member of a lan: a namespace, its underlay and tunnel
// addresses, its key and its (unique) wg interface name.
type lanNode struct {
	ns     *nstest.NS
	under  string // 192.0.2.N
	inner  string // 10.77.0.N
	ifname string
	key    config.PrivateKey
	sw     *nstest.NS // the switch's namespace
	port   string     // this member's port on the switch
}

func (n *lanNode) pub() config.Key { return n.key.Public() }

// newLAN creates a bridge in its own namespace and one member namespace per
// name, member i at 192.0.2.(i+1) and 10.77.0.(i+1).
func newLAN(t *testing.T, names ...string) []*lanNode {
	t.Helper()
	sw := nstest.New(t, "wgt-sw")
	sw.MustRun(t, "ip", "link", "add", "br0", "type", "bridge", "stp_state", "0")
	sw.MustRun(t, "ip", "link", "set", "br0", "up")
	var nodes []*lanNode
	for i, name := range names {
		key, err := config.GeneratePrivateKey()
		if err != nil {
			t.Fatal(err)
		}
		n := &lanNode{
			ns:     nstest.New(t, "wgt-"+name),
			under:  fmt.Sprintf("192.0.2.%d", i+1),
			inner:  fmt.Sprintf("10.77.0.%d", i+1),
			ifname: uniqueIf(t, "w"+name[:1]),
			key:    key,
			sw:     sw,
			port:   fmt.Sprintf("p%d", i),
		}
		port := n.port
		nstest.Veth(t, n.ns, "ul0", sw, port)
		sw.MustRun(t, "ip", "link", "set", port, "master", "br0")
		n.ns.MustRun(t, "ip", "addr", "add", n.under+"/24", "dev", "ul0")
		nodes = append(nodes, n)
	}
	return nodes
}

// confPeer is one [Peer] section.
type confPeer struct {
	pub      config.Key
	allowed  string
	endpoint string
}

// writeMultiConf writes a wg-quick file with any number of peers to dir and
// returns its path. addrs is the Address line's value.
func writeMultiConf(t *testing.T, dir, name string, key config.PrivateKey, port int, addrs, extra string, peers ...confPeer) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "[Interface]\nPrivateKey = %s\nListenPort = %d\n", secret(key), port)
	if addrs != "" {
		fmt.Fprintf(&b, "Address = %s\n", addrs)
	}
	b.WriteString(extra)
	for _, p := range peers {
		fmt.Fprintf(&b, "\n[Peer]\nPublicKey = %s\nAllowedIPs = %s\n", p.pub, p.allowed)
		if p.endpoint != "" {
			fmt.Fprintf(&b, "Endpoint = %s\n", p.endpoint)
		}
	}
	path := filepath.Join(dir, name+".conf")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// pingLoss sends count pings at the given interval and returns how many
// replies came back (no error for loss).
func pingLoss(t *testing.T, ns *nstest.NS, addr string, count int, interval string) int {
	t.Helper()
	out, _ := ns.Run("ping", "-c", fmt.Sprint(count), "-i", interval, "-W", "2", addr)
	m := regexp.MustCompile(`(\d+) received`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("ping %s from %s: no summary:\n%s", addr, ns.Name, out)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// waitPing pings addr once a second until a reply comes or timeout passes.
func waitPing(t *testing.T, ns *nstest.NS, addr string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		out, err := ns.Run("ping", "-c", "1", "-W", "1", addr)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no ping reply from %s (in %s) within %v:\n%s", addr, ns.Name, timeout, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// noPing fails t if any of three pings to addr is answered (no reply and
// no route both pass).
func noPing(t *testing.T, ns *nstest.NS, addr string) {
	t.Helper()
	if out, err := ns.Run("ping", "-c", "3", "-i", "0.2", "-W", "1", addr); err == nil || regexp.MustCompile(`[1-9]\d* received`).MatchString(out) {
		t.Errorf("ping %s from %s was answered, want no reply:\n%s", addr, ns.Name, out)
	}
}

// waitLog waits until the daemon's log contains s.
func waitLog(t *testing.T, d *daemon, s string, timeout time.Duration) {
	t.Helper()
	waitLogCount(t, d, s, 1, timeout)
}

// reload sends d SIGHUP and waits until it logs one more "configuration
// reloaded" than before.
func (d *daemon) reload(t *testing.T) {
	t.Helper()
	n := strings.Count(d.logText(), "configuration reloaded")
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLogCount(t, d, "configuration reloaded", n+1, 10*time.Second)
}

// waitLogCount waits until s appears n times in d's log.
func waitLogCount(t *testing.T, d *daemon, s string, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for strings.Count(d.logText(), s) < n {
		if time.Now().After(deadline) {
			t.Fatalf("wgbpfd %s: %q not %d times in the log within %v:\n%s", d.ifname, s, n, timeout, d.logText())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// wgPeer is one peer line of `wg show IF dump`.
type wgPeer struct {
	endpoint      string
	allowedIPs    string
	lastHandshake int64
	rx, tx        uint64
}

// wgDump runs `wg show IF dump` and returns the interface line's fields
// and the peers by public key.
func wgDump(t *testing.T, ns *nstest.NS, ifname string) ([]string, map[string]wgPeer) {
	t.Helper()
	out := ns.MustRun(t, "wg", "show", ifname, "dump")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	iface := strings.Split(lines[0], "\t")
	peers := make(map[string]wgPeer)
	for _, l := range lines[1:] {
		f := strings.Split(l, "\t")
		if len(f) != 8 {
			t.Fatalf("wg show %s dump: peer line with %d fields: %q", ifname, len(f), l)
		}
		hs, _ := strconv.ParseInt(f[4], 10, 64)
		rx, _ := strconv.ParseUint(f[5], 10, 64)
		tx, _ := strconv.ParseUint(f[6], 10, 64)
		peers[f[0]] = wgPeer{endpoint: f[2], allowedIPs: f[3], lastHandshake: hs, rx: rx, tx: tx}
	}
	return iface, peers
}

// metrics is one scrape of the daemon's Prometheus endpoint: series
// (name{labels}) to value.
type metrics map[string]float64

// scrapeMetrics fetches http://addr/metrics from inside ns.
func scrapeMetrics(t *testing.T, ns *nstest.NS, addr string) metrics {
	t.Helper()
	var c net.Conn
	ns.MustDo(t, func() (err error) {
		c, err = net.DialTimeout("tcp", addr, 5*time.Second)
		return err
	})
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	req, err := http.NewRequest("GET", "http://"+addr+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Close = true
	if err := req.Write(c); err != nil {
		t.Fatalf("metrics request: %v", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), req)
	if err != nil {
		t.Fatalf("metrics response: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("metrics: %s", resp.Status)
	}
	m := make(metrics)
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		m[line[:i]] = v
	}
	return m
}

// get sums the series of metric name whose labels include label="value".
func (m metrics) get(name, label, value string) float64 {
	var sum float64
	want := fmt.Sprintf("%s=%q", label, value)
	for k, v := range m {
		if strings.HasPrefix(k, name+"{") && strings.Contains(k, want) {
			sum += v
		}
	}
	return sum
}

// stream is a TCP transfer of pseudo-random bytes that runs until stopped,
// paced so that it spans events the test causes meanwhile.
type stream struct {
	stop   chan struct{}
	halt   func() // closes stop once
	result chan error
	sent   int64
	want   [32]byte
	got    chan streamEnd
	l      net.Listener
}

type streamEnd struct {
	n   int64
	sum [32]byte
	err error
}

// startStream connects from `from` to a listener on addr in `to` and sends
// about 4 MiB/s until finish is called.
func startStream(t *testing.T, from, to *nstest.NS, addr string) *stream {
	t.Helper()
	s := &stream{stop: make(chan struct{}), result: make(chan error, 1), got: make(chan streamEnd, 1)}
	s.halt = sync.OnceFunc(func() { close(s.stop) })
	t.Cleanup(s.halt) // a test that fails early stops the sender too
	to.MustDo(t, func() (err error) {
		s.l, err = net.Listen("tcp", net.JoinHostPort(addr, "0"))
		return err
	})
	t.Cleanup(func() { s.l.Close() })
	go func() {
		c, err := s.l.Accept()
		if err != nil {
			s.got <- streamEnd{err: err}
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(120 * time.Second))
		h := sha256.New()
		n, err := io.Copy(h, c)
		s.got <- streamEnd{n: n, sum: [32]byte(h.Sum(nil)), err: err}
	}()
	var c net.Conn
	from.MustDo(t, func() (err error) {
		c, err = net.DialTimeout("tcp", s.l.Addr().String(), 10*time.Second)
		return err
	})
	go func() {
		defer c.Close()
		rng := mrand.NewChaCha8([32]byte{byte(time.Now().UnixNano())})
		h := sha256.New()
		buf := make([]byte, 16<<10)
		tick := time.NewTicker(4 * time.Millisecond)
		defer tick.Stop()
		_ = c.SetWriteDeadline(time.Now().Add(120 * time.Second))
		for {
			select {
			case <-s.stop:
				s.want = [32]byte(h.Sum(nil))
				s.result <- nil
				return
			case <-tick.C:
			}
			_, _ = rng.Read(buf)
			n, err := c.Write(buf)
			h.Write(buf[:n])
			s.sent += int64(n)
			if err != nil {
				s.want = [32]byte(h.Sum(nil))
				s.result <- fmt.Errorf("write after %d bytes: %w", s.sent, err)
				return
			}
		}
	}()
	return s
}

// finish stops the sender and checks that every byte arrived intact.
func (s *stream) finish(t *testing.T) {
	t.Helper()
	s.halt()
	if err := <-s.result; err != nil {
		t.Fatalf("TCP stream: %v", err)
	}
	select {
	case e := <-s.got:
		if e.err != nil {
			t.Fatalf("TCP stream receive: %v", e.err)
		}
		if e.n != s.sent || e.sum != s.want {
			t.Fatalf("TCP stream: received %d bytes (sha256 %x), sent %d (sha256 %x)", e.n, e.sum[:8], s.sent, s.want[:8])
		}
		t.Logf("TCP stream: %d bytes intact (sha256 %x…)", e.n, e.sum[:8])
	case <-time.After(60 * time.Second):
		t.Fatalf("TCP stream: receiver did not finish")
	}
}
