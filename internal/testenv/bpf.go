// SPDX-License-Identifier: MIT

package testenv

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// RepoRoot is the repository's top directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// BuildPolicy compiles the policy source src (a path) with clang-19 against
// include/wgbpfd, as docs/policy.md tells users to, with extra -D defines;
// returns the object's path in t's temporary directory.
func BuildPolicy(t testing.TB, src string, defines ...string) string {
	t.Helper()
	clang := RequireTool(t, "clang-19")
	out := filepath.Join(t.TempDir(), filepath.Base(src)+".o")
	args := []string{"-O2", "-g", "-target", "bpf", "-mcpu=v3", "-Wall", "-Werror",
		"-I" + filepath.Join(RepoRoot(), "include"), "-I/usr/include/" + multiarch() + "-linux-gnu"}
	for _, d := range defines {
		args = append(args, "-D"+d)
	}
	args = append(args, "-c", src, "-o", out)
	if b, err := exec.Command(clang, args...).CombinedOutput(); err != nil {
		t.Fatalf("clang-19 %s: %v\n%s", src, err, b)
	}
	return out
}

// multiarch is Debian's name of the host's architecture (asm/ headers).
func multiarch() string {
	switch runtime.GOARCH {
	case "amd64":
		return "x86_64"
	case "arm64":
		return "aarch64"
	}
	return runtime.GOARCH
}
