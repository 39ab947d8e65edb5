// SPDX-License-Identifier: MIT

package netif

import (
	"errors"
	"strings"
	"testing"
)

// Hooks touch nothing but a shell, so these run without root.
func TestRunHooks(t *testing.T) {
	res, err := RunHooks([]string{"echo up %i; echo %i-%i", "printf x >&2"}, "wg7")
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || res[0].Command != "echo up wg7; echo wg7-wg7" || res[0].Stdout != "up wg7\nwg7-wg7\n" || res[1].Stderr != "x" {
		t.Errorf("results %+v", res)
	}
}

func TestRunHooksFailure(t *testing.T) {
	res, err := RunHooks([]string{"true", "echo boom on %i >&2; exit 3", "echo never"}, "wg7")
	var he *HookError
	if !errors.As(err, &he) {
		t.Fatalf("error %v (%T), want *HookError", err, err)
	}
	if he.Command != "echo boom on wg7 >&2; exit 3" || he.ExitCode != 3 || he.Stderr != "boom on wg7" {
		t.Errorf("HookError %+v", he)
	}
	for _, want := range []string{`"echo boom on wg7 >&2; exit 3"`, "exit status 3", "boom on wg7"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if len(res) != 2 {
		t.Errorf("%d results, want 2: hooks after a failure must not run", len(res))
	}
}
