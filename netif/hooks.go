// SPDX-License-Identifier: MIT

package netif

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
)

// HookResult is what one hook printed, for the caller to log.
type HookResult struct {
	Command string // after %i substitution
	Stdout  string
	Stderr  string
}

// RunHooks runs PreUp/PostUp/PreDown/PostDown commands in order, as
// wg-quick does: each through `/bin/sh -c` (wg-quick evals them in bash;
// sh is what every system has), with every "%i" replaced by the interface
// name, stopping at the first failure. It returns the output of every hook
// that ran, including the failing one; the error names the failing command,
// its exit status and the end of its stderr.
func RunHooks(cmds []string, iface string) ([]HookResult, error) {
	return RunHooksContext(context.Background(), cmds, iface)
}

// RunHooksContext is RunHooks with a context that kills a hanging hook.
func RunHooksContext(ctx context.Context, cmds []string, iface string) ([]HookResult, error) {
	var results []HookResult
	for _, c := range cmds {
		c = strings.ReplaceAll(c, "%i", iface)
		var stdout, stderr bytes.Buffer
		cmd := exec.CommandContext(ctx, "/bin/sh", "-c", c)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		results = append(results, HookResult{Command: c, Stdout: stdout.String(), Stderr: stderr.String()})
		if err != nil {
			return results, hookError(c, err, stderr.String())
		}
	}
	return results, nil
}

// maxStderr bounds how much of a failing hook's stderr goes into the error.
const maxStderr = 512

// HookError is a failed hook.
type HookError struct {
	Command  string // after %i substitution
	ExitCode int    // -1 if it did not exit normally (signal, not started)
	Stderr   string // the last maxStderr bytes, trimmed
	Err      error
}

func (e *HookError) Error() string {
	msg := fmt.Sprintf("hook %q failed: %v", e.Command, e.Err)
	if e.Stderr != "" {
		msg += ": " + e.Stderr
	}
	return msg
}

func (e *HookError) Unwrap() error { return e.Err }

func hookError(c string, err error, stderr string) error {
	code := -1
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	}
	msg := strings.TrimSpace(stderr)
	if len(msg) > maxStderr {
		msg = "..." + msg[len(msg)-maxStderr:]
	}
	return &HookError{Command: c, ExitCode: code, Stderr: msg, Err: err}
}
