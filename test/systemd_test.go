// SPDX-License-Identifier: MIT

package test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wgbpfd/wgbpfd/internal/testenv"
)

// TestSystemdUnitVerifies: dist/wgbpfd@.service passes systemd-analyze
// verify (with ExecStart pointing at a real build) and keeps the settings
// the daemon relies on: Type=notify (it sends READY=1), reload by SIGHUP,
// a restart after a hand-over (SIGUSR2, exit 75).
func TestSystemdUnitVerifies(t *testing.T) {
	analyze := testenv.RequireTool(t, "systemd-analyze")
	bin := filepath.Join(binaries(t), "wgbpfd-production")
	unit, err := os.ReadFile("../dist/wgbpfd@.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Type=notify", "ExecReload=/bin/kill -HUP $MAINPID", "Restart=on-failure", "RestartForceExitStatus=75", "SuccessExitStatus=75", "ProtectSystem=strict", "CapabilityBoundingSet="} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("unit lacks %q", want)
		}
	}
	text := strings.ReplaceAll(string(unit), "/usr/local/bin/wgbpfd", bin)
	path := filepath.Join(t.TempDir(), "wgbpfd@.service")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}
