// SPDX-License-Identifier: MIT

package test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wgbpfd/wgbpfd/internal/testenv"
)

// TestRefusesWithoutPrivileges: started without CAP_NET_ADMIN/CAP_BPF (an
// unprivileged user), wgbpfd exits with code 3 and names what it lacks.
func TestRefusesWithoutPrivileges(t *testing.T) {
	testenv.RequireRoot(t)
	setpriv := testenv.RequireTool(t, "setpriv")
	bin := filepath.Join(binaries(t), "wgbpfd")
	conf := filepath.Join(t.TempDir(), "wgp0.conf")
	if err := os.WriteFile(conf, []byte("[Interface]\nPrivateKey = "+base64Std(make([]byte, 32))+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Dir(conf), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all", bin, "-c", conf)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("want exit code 3, got %v:\n%s", err, out)
	}
	for _, want := range []string{"CAP_NET_ADMIN", "CAP_BPF"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("message does not name %s:\n%s", want, out)
		}
	}
}
