// SPDX-License-Identifier: MIT

package test

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wgbpfd/wgbpfd/netif"
)

// TestRestart: after SIGTERM a new wgbpfd from the same file brings the
// tunnel back within seconds; after SIGKILL the hop veth pair (and the
// persistent TUN) are left behind, and the next wgbpfd removes them, says
// so, makes exactly one new pair and brings the tunnel back. Under `ip
// netns exec` the daemon's bpffs, and with it the pinned data plane, dies
// with it: there is nothing to take over (survive_test.go runs daemons
// where the pins outlive them).
func TestRestart(t *testing.T) {
	prerequisites(t)
	tp := newTopology(t, false, false)
	confA := tp.writeConf(t, tp.ifA, tp.keyA, 51820, tp.innerA, tp.keyB.Public(), tp.innerB+"/32", endpoint(tp.underB, 51820), "")
	confB := tp.writeConf(t, tp.ifB, tp.keyB, 51820, tp.innerB, tp.keyA.Public(), tp.innerA+"/32", endpoint(tp.underA, 51820), "")
	da := startWgbpfd(t, tp.a, confA, tp.ifA)
	startWgbpfd(t, tp.b, confB, tp.ifB)
	ping(t, tp.a, tp.innerB, 2)

	// SIGTERM, start again.
	if err := da.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("wgbpfd exited with %v after SIGTERM", err)
	}
	da = startWgbpfd(t, tp.a, confA, tp.ifA)
	waitLog(t, da, "wgbpfd is up", 20*time.Second)
	waitPing(t, tp.a, tp.innerB, 10*time.Second)
	ping(t, tp.b, tp.innerA, 3)
	transferTCP(t, tp.a, tp.b, tp.innerB, 4<<20)

	// SIGKILL: nothing is torn down.
	_ = da.stop(t, syscall.SIGKILL)
	hop := netif.HopNames(tp.ifA)[0]
	// A veth has no owner process: the pair outlives the daemon.
	if links := tp.a.MustRun(t, "ip", "-o", "link", "show"); !strings.Contains(links, hop+"@") {
		t.Fatalf("no %s left after SIGKILL, nothing for the next start to clean:\n%s", hop, links)
	}
	da = startWgbpfd(t, tp.a, confA, tp.ifA)
	waitLog(t, da, "wgbpfd is up", 20*time.Second)
	if !strings.Contains(da.logText(), "removed leftovers of an earlier run") {
		t.Errorf("the new wgbpfd did not report removing the leftovers:\n%s", da.logText())
	}
	links := tp.a.MustRun(t, "ip", "-o", "link", "show")
	if n := strings.Count(links, hop+"@"); n != 1 {
		t.Errorf("%d links named %s after the restart, want 1:\n%s", n, hop, links)
	}
	waitPing(t, tp.a, tp.innerB, 10*time.Second)
	ping(t, tp.b, tp.innerA, 3)
	transferTCP(t, tp.a, tp.b, tp.innerB, 4<<20)
}
