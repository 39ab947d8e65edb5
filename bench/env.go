// SPDX-License-Identifier: MIT

package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// scope is one section of the benchmark (one configuration). It owns a
// stack of cleanups that runs when the section ends, fails, or the process
// is interrupted. It satisfies testing.TB for internal/nstest: the embedded
// interface is nil, so only the methods defined here may be called (they are
// the ones nstest uses).
type scope struct {
	testing.TB
	name string

	mu       sync.Mutex
	cleanups []func()
}

// fatal is the panic value of scope.Fatal; run recovers it.
type fatal struct{ msg string }

var (
	scopesMu sync.Mutex
	scopes   = map[*scope]bool{}
)

func newScope(name string) *scope {
	s := &scope{name: name}
	scopesMu.Lock()
	scopes[s] = true
	scopesMu.Unlock()
	return s
}

// runScope runs fn in a fresh scope and returns its failure, if any; the
// scope's cleanups have run when it returns.
func runScope(name string, fn func(s *scope)) error {
	s := newScope(name)
	defer s.close()
	return s.try(func() { fn(s) })
}

// try runs fn and turns a Fatal inside it into an error.
func (s *scope) try(fn func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if f, ok := r.(fatal); ok {
				err = fmt.Errorf("%s: %s", s.name, f.msg)
				return
			}
			panic(r)
		}
	}()
	fn()
	return nil
}

// close runs the scope's cleanups and forgets it.
func (s *scope) close() {
	s.runCleanups()
	scopesMu.Lock()
	delete(scopes, s)
	scopesMu.Unlock()
}

func (s *scope) Helper()      {}
func (s *scope) Name() string { return s.name }
func (s *scope) Failed() bool { return false }

func (s *scope) Cleanup(f func()) {
	s.mu.Lock()
	s.cleanups = append(s.cleanups, f)
	s.mu.Unlock()
}

func (s *scope) Fatal(args ...any) { panic(fatal{strings.TrimSpace(fmt.Sprintln(args...))}) }
func (s *scope) Fatalf(format string, args ...any) {
	panic(fatal{fmt.Sprintf(format, args...)})
}
func (s *scope) Errorf(format string, args ...any) {
	logf("%s: error: %s", s.name, fmt.Sprintf(format, args...))
}
func (s *scope) Logf(format string, args ...any) {
	logf("%s: %s", s.name, fmt.Sprintf(format, args...))
}

// runCleanups pops and runs cleanups until none are left; safe to call
// from the signal handler and the section at once (each runs once).
func (s *scope) runCleanups() {
	for {
		s.mu.Lock()
		n := len(s.cleanups)
		if n == 0 {
			s.mu.Unlock()
			return
		}
		f := s.cleanups[n-1]
		s.cleanups = s.cleanups[:n-1]
		s.mu.Unlock()
		func() {
			defer func() { _ = recover() }()
			f()
		}()
	}
}

// handleSignals cleans every live scope up on SIGINT/SIGTERM and exits.
func handleSignals() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		sig := <-ch
		logf("%v: cleaning up", sig)
		scopesMu.Lock()
		live := make([]*scope, 0, len(scopes))
		for s := range scopes {
			live = append(live, s)
		}
		scopesMu.Unlock()
		for _, s := range live {
			s.runCleanups()
		}
		os.Exit(130)
	}()
}

var logOut io.Writer = os.Stderr

func logf(format string, args ...any) {
	fmt.Fprintf(logOut, "[%s] %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// proc is a process the benchmark started (directly or through
// `ip netns exec`, which execs, so the pid is the program's own).
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.b.Len() > 1<<20 { // keep the log bounded
		return len(p), nil
	}
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// start starts cmd and registers its termination (SIGTERM, then SIGKILL
// after 5 s) as a cleanup of s.
func start(s *scope, name string, cmd *exec.Cmd) *proc {
	p := &proc{name: name, cmd: cmd, out: &syncBuffer{}, done: make(chan struct{})}
	if cmd.Stdout == nil {
		cmd.Stdout = p.out
	}
	if cmd.Stderr == nil {
		cmd.Stderr = p.out
	}
	// Own process group: a Ctrl-C on the terminal reaches only us, and our
	// handler stops the children in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		s.Fatalf("starting %s: %v", name, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	s.Cleanup(func() { p.stop() })
	return p
}

// output runs cmd as a tracked process (stopped by the scope's cleanup if
// the benchmark is interrupted meanwhile) and returns its standard output.
func output(s *scope, name string, cmd *exec.Cmd) ([]byte, error) {
	var out bytes.Buffer
	cmd.Stdout = &out
	p := start(s, name, cmd)
	<-p.done
	return out.Bytes(), p.err
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop ends the process by its pid: SIGTERM, SIGKILL after 5 s.
func (p *proc) stop() {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// wait waits for the process to exit, at most d.
func (p *proc) wait(d time.Duration) bool {
	select {
	case <-p.done:
		return true
	case <-time.After(d):
		return false
	}
}

// moduleRoot is the directory holding go.mod.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("not inside the wgbpfd module")
	}
	return filepath.Dir(mod), nil
}

// buildBinaries builds the production wgbpfd and the pinned wireguard-go
// into dir.
func buildBinaries(dir string) (wgbpfd, wggo string, err error) {
	root, err := moduleRoot()
	if err != nil {
		return "", "", err
	}
	wgbpfd = filepath.Join(dir, "wgbpfd")
	wggo = filepath.Join(dir, "wireguard-go")
	for _, b := range [][]string{
		{"-o", wgbpfd, "./cmd/wgbpfd"},
		{"-o", wggo, "golang.zx2c4.com/wireguard"},
	} {
		cmd := exec.Command("go", append([]string{"build"}, b...)...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", "", fmt.Errorf("go build %s: %v: %s", strings.Join(b, " "), err, out)
		}
	}
	return wgbpfd, wggo, nil
}

// wireguardGoVersion is the pinned module version from go.mod.
func wireguardGoVersion() string {
	root, err := moduleRoot()
	if err != nil {
		return "?"
	}
	b, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		return "?"
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 && f[0] == "golang.zx2c4.com/wireguard" {
			return f[1]
		}
	}
	return "?"
}
