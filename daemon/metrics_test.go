// SPDX-License-Identifier: MIT

package daemon

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/wgbpfd/wgbpfd/config"
)

// TestDropReports: the data plane's drops (by reason) and the kernel's
// queue drops (by queue) reach the metrics as totals and the log as what
// grew since the last line, at most one line each per dropLogInterval.
func TestDropReports(t *testing.T) {
	tp := newTestPeerPair(t, config.CipherChaCha20Poly1305)
	d, k := tp.a, tp.ka
	var logged bytes.Buffer
	d.log = slog.New(slog.NewTextHandler(&logged, nil))
	report := func(now time.Time) string {
		logged.Reset()
		d.mu.Lock()
		d.logDropsLocked(now)
		d.mu.Unlock()
		return logged.String()
	}

	k.mu.Lock()
	k.drops = map[string]uint64{"bad_tag": 3, "replay": 0}
	k.queues = map[string]uint64{"encrypt": 0, "decrypt": 5, "deliver": 0}
	k.mu.Unlock()
	out := report(tp.now)
	for _, want := range []string{
		`level=WARN msg="data plane dropped packets (since the last report, by reason)" bad_tag=3` + "\n",
		`level=INFO msg="kernel queues between the data plane's programs were full and dropped packets (since the last report, by queue)" decrypt=5` + "\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("first report lacks %q:\n%s", want, out)
		}
	}

	k.mu.Lock()
	k.drops["replay"] = 2
	k.queues["decrypt"] = 7
	k.queues["deliver"] = 1
	k.mu.Unlock()
	if out := report(tp.now.Add(dropLogInterval - time.Second)); out != "" {
		t.Errorf("a second report within %v:\n%s", dropLogInterval, out)
	}
	out = report(tp.now.Add(dropLogInterval))
	for _, want := range []string{`by reason)" replay=2` + "\n", `by queue)" decrypt=2 deliver=1` + "\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("report after %v lacks %q (only what grew, sorted):\n%s", dropLogInterval, want, out)
		}
	}
	if out := report(tp.now.Add(3 * dropLogInterval)); out != "" {
		t.Errorf("nothing grew, yet:\n%s", out)
	}

	m := string(d.metricsText())
	for _, want := range []string{
		`wgbpfd_dataplane_drops_total{interface="wgtest",reason="bad_tag"} 3`,
		`wgbpfd_dataplane_drops_total{interface="wgtest",reason="replay"} 2`,
		"# TYPE wgbpfd_queue_drops_total counter",
		`wgbpfd_queue_drops_total{interface="wgtest",queue="decrypt"} 7`,
		`wgbpfd_queue_drops_total{interface="wgtest",queue="deliver"} 1`,
		`wgbpfd_queue_drops_total{interface="wgtest",queue="encrypt"} 0`,
		`wgbpfd_chacha20poly1305_backend{interface="wgtest",backend="bpf"} 1`,
	} {
		if !strings.Contains(m, want+"\n") {
			t.Errorf("metrics lack %q:\n%s", want, m)
		}
	}
}
