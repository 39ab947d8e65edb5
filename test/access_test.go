// SPDX-License-Identifier: MIT

package test

import (
	"os"
	"strings"
	"testing"
)

// TestConfigAccessWarning: a configuration file holding a PrivateKey that
// its group or others may access draws wg-quick's warning at start-up and
// at every reload that finds it so; a 0600 file draws none.
func TestConfigAccessWarning(t *testing.T) {
	prerequisites(t)
	tp := newTopology(t, false, false)
	conf := tp.writeConf(t, "a", tp.keyA, 51820, tp.innerA, tp.keyB.Public(), tp.innerB+"/32", "", "")
	chmod := func(mode os.FileMode) {
		t.Helper()
		if err := os.Chmod(conf, mode); err != nil {
			t.Fatal(err)
		}
	}
	world := "`" + conf + "' is world accessible (mode 0644)"
	group := "`" + conf + "' is accessible by its group (mode 0640)"
	count := func(d *daemon) (int, int) {
		log := d.logText()
		return strings.Count(log, world), strings.Count(log, group)
	}

	chmod(0o644)
	d := startWgbpfd(t, tp.a, conf, tp.ifA)
	if w, g := count(d); w != 1 || g != 0 {
		t.Fatalf("start-up with mode 0644: %d world and %d group warnings, want 1 and 0:\n%s", w, g, d.logText())
	}
	for _, line := range strings.Split(d.logText(), "\n") {
		if strings.Contains(line, world) && !strings.Contains(line, "level=WARN") {
			t.Fatalf("the warning is not at warn level: %s", line)
		}
	}
	chmod(0o600)
	d.reload(t)
	if w, g := count(d); w != 1 || g != 0 {
		t.Fatalf("reload with mode 0600: %d world and %d group warnings, want no new one:\n%s", w, g, d.logText())
	}
	chmod(0o640)
	d.reload(t)
	if w, g := count(d); w != 1 || g != 1 {
		t.Fatalf("reload with mode 0640: %d world and %d group warnings, want 1 and 1:\n%s", w, g, d.logText())
	}
	for _, s := range []string{secret(tp.keyA), secret(tp.keyA)[:16]} {
		if strings.Contains(d.logText(), s) {
			t.Fatal("the log holds the private key")
		}
	}
}
