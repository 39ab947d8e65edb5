// SPDX-License-Identifier: MIT

package daemon

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/wgbpfd/wgbpfd/dataplane"
	"github.com/wgbpfd/wgbpfd/internal/testenv"
)

// TestEventReaderStopEndsServe: when the data plane's event reader fails
// while the daemon runs (here its ring is closed under it), serve returns
// an error naming the reader, which makes Run tear down and exit non-zero,
// and logs it at error level. Before, the reader logged one warning and
// the daemon ran on without events.
func TestEventReaderStopEndsServe(t *testing.T) {
	testenv.RequireRoot(t)
	dp, err := dataplane.Load()
	if err != nil {
		t.Fatalf("loading the data plane: %v", err)
	}
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	r := &running{log: log, dp: &dataplaneKernel{dp: dp}, fatal: make(chan error, 1)}
	// No events come (nothing is attached): the handler is never called.
	r.dev = &device{}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r.goLoop(func() { r.readEvents(ctx) })
	time.Sleep(100 * time.Millisecond) // the reader blocks in the ring
	if err := dp.Close(); err != nil {
		t.Fatalf("closing the data plane: %v", err)
	}

	start := time.Now()
	err = r.serve(ctx)
	cancel()
	r.wg.Wait()
	if err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("serve returned %v after %v; want the event reader's error at once", err, time.Since(start).Round(time.Millisecond))
	}
	if !strings.Contains(err.Error(), "event reader stopped") {
		t.Errorf("serve's error %q does not say that the event reader stopped", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("serve took %v to notice", time.Since(start))
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "event reader stopped") {
		t.Errorf("no error-level log of the stopped reader:\n%s", logs.String())
	}
}
