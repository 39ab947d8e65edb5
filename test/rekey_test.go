// SPDX-License-Identifier: MIT

package test

import (
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wgbpfd/wgbpfd/internal/nstest"
)

// TestRekeyUnderTraffic: with REKEY_AFTER_TIME at 3 s (test build) on the
// initiator A, a 12-second ping flood (240 pings, 50 ms apart) and a TCP
// stream run while the tunnel rekeys (every ~5.2 s: REKEY_TIMEOUT spaces
// initiations): at most 5 pings are lost, the stream arrives intact, the
// data plane drops nothing for a bad tag, and the latest handshake moves on
// both sides. The responder B is a wgbpfd, then wireguard-go.
func TestRekeyUnderTraffic(t *testing.T) {
	prerequisites(t)
	for _, peer := range []string{"wgbpfd", "wireguard-go"} {
		t.Run(peer, func(t *testing.T) {
			tp := newTopology(t, false, false)
			confA := tp.writeConf(t, tp.ifA, tp.keyA, 51820, tp.innerA, tp.keyB.Public(), tp.innerB+"/32", endpoint(tp.underB, 51820), "")
			const metricsAddr = "127.0.0.1:9586"
			da := startWgbpfd(t, tp.a, confA, tp.ifA, "--test-rekey-after", "3s", "--metrics", metricsAddr)
			var db *daemon
			if peer == "wgbpfd" {
				confB := tp.writeConf(t, tp.ifB, tp.keyB, 51820, tp.innerB, tp.keyA.Public(), tp.innerA+"/32", endpoint(tp.underA, 51820), "")
				db = startWgbpfd(t, tp.b, confB, tp.ifB, "--test-rekey-after", "3s", "--metrics", metricsAddr)
			} else {
				startWireguardGo(t, tp.b, tp.ifB, tp.keyB, 51820, tp.innerB+"/24", tp.keyA.Public().String(), tp.innerA+"/32", endpoint(tp.underA, 51820))
			}
			ping(t, tp.a, tp.innerB, 2)
			hsBefore := strings.Count(da.logText(), "handshake completed")
			_, peersBefore := wgDump(t, tp.a, tp.ifA)
			_, peersBeforeB := wgDump(t, tp.b, tp.ifB)

			s := startStream(t, tp.a, tp.b, tp.innerB)
			received := pingLoss(t, tp.a, tp.innerB, 240, "0.05")
			s.finish(t)

			hsAfter := strings.Count(da.logText(), "handshake completed")
			t.Logf("%d/240 pings answered; %d rekeys during the flood", received, hsAfter-hsBefore)
			if received < 235 {
				t.Errorf("%d of 240 pings answered during rekeys, want ≥ 235", received)
			}
			// A rekey starts 3 s into a keypair's life, but, as in WireGuard, no
			// initiation leaves within REKEY_TIMEOUT (5 s) of the previous one:
			// a new keypair every ~5.2 s, so at least two during the 12 s.
			if hsAfter-hsBefore < 2 {
				t.Errorf("%d rekeys by the initiator during 12 s with REKEY_AFTER_TIME=3s, want ≥ 2", hsAfter-hsBefore)
			}
			if db != nil {
				if n := strings.Count(db.logText(), "handshake completed"); n < 3 {
					t.Errorf("the responder logged %d completed handshakes, want ≥ 3", n)
				}
			}
			_, peersAfter := wgDump(t, tp.a, tp.ifA)
			_, peersAfterB := wgDump(t, tp.b, tp.ifB)
			ka, kb := tp.keyA.Public().String(), tp.keyB.Public().String()
			if peersAfter[kb].lastHandshake <= peersBefore[kb].lastHandshake || peersAfterB[ka].lastHandshake <= peersBeforeB[ka].lastHandshake {
				t.Errorf("latest handshake did not move: A %d → %d, B %d → %d", peersBefore[kb].lastHandshake, peersAfter[kb].lastHandshake,
					peersBeforeB[ka].lastHandshake, peersAfterB[ka].lastHandshake)
			}
			sides := []*nstest.NS{tp.a}
			if db != nil {
				sides = append(sides, tp.b)
			}
			for _, side := range sides {
				m := scrapeMetrics(t, side, metricsAddr)
				if n := m.get("wgbpfd_dataplane_drops_total", "reason", "bad_tag"); n != 0 {
					t.Errorf("%s: %v packets dropped for a bad tag during rekeys", side.Name, n)
				}
			}
		})
	}
}

// TestProductionRefusesTestSettings: the build without -tags
// wgbpfd_testhooks refuses --test-rekey-after with exit code 2 and says why.
func TestProductionRefusesTestSettings(t *testing.T) {
	prerequisites(t)
	tp := newTopology(t, false, false)
	conf := tp.writeConf(t, tp.ifA, tp.keyA, 51820, tp.innerA, tp.keyB.Public(), tp.innerB+"/32", endpoint(tp.underB, 51820), "")
	cmd := tp.a.Command(filepath.Join(binaries(t), "wgbpfd-production"), "-c", conf, "-i", tp.ifA, "--test-rekey-after", "3s")
	out, err := runBounded(t, cmd, 20*time.Second)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Fatalf("production build with --test-rekey-after: want exit code 2, got %v:\n%s", err, out)
	}
	if !strings.Contains(out, "--test-rekey-after") || !strings.Contains(out, "refused") {
		t.Errorf("message does not say the setting is refused:\n%s", out)
	}
	// And it did not come up.
	if links := tp.a.MustRun(t, "ip", "-o", "link", "show"); strings.Contains(links, tp.ifA) {
		t.Errorf("the refused daemon left links:\n%s", links)
	}
}

// runBounded runs cmd with combined output, killing it after timeout (a
// command that should have exited must not outlive the test).
func runBounded(t *testing.T, cmd *exec.Cmd, timeout time.Duration) (string, error) {
	t.Helper()
	var buf strings.Builder
	w := &lockedWriter{w: &buf}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return buf.String(), err
	case <-time.After(timeout):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("%v still running after %v:\n%s", cmd.Args, timeout, buf.String())
		return "", nil
	}
}
