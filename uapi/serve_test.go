// SPDX-License-Identifier: MIT

package uapi

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// serveTemp serves d on a socket in a temporary directory (no root needed)
// and returns its path. The server stops at the end of the test; the test
// fails if Serve returned an error.
func serveTemp(t *testing.T, d Device) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "wgtest.sock")
	l, err := listenAt(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, l, d, nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return path
}

type client struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dialClient(t *testing.T, path string) *client {
	t.Helper()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &client{t: t, c: c, r: bufio.NewReader(c)}
}

// do sends req and returns the reply up to and including its blank line.
func (cl *client) do(req string) string {
	cl.t.Helper()
	if _, err := io.WriteString(cl.c, req); err != nil {
		cl.t.Fatalf("write: %v", err)
	}
	var b strings.Builder
	for {
		line, err := cl.r.ReadString('\n')
		b.WriteString(line)
		if err != nil {
			cl.t.Fatalf("reading reply after %q: %v", b.String(), err)
		}
		if line == "\n" {
			return b.String()
		}
	}
}

// expectClosed asserts that the server closed the connection.
func (cl *client) expectClosed() {
	cl.t.Helper()
	cl.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if b, err := cl.r.ReadByte(); err != io.EOF {
		cl.t.Fatalf("connection not closed by the server: read %q, %v", b, err)
	}
}

func TestServeGetSetOnOneConnection(t *testing.T) {
	f := &fakeDevice{}
	path := serveTemp(t, f)
	cl := dialClient(t, path)
	if got := cl.do("get=1\n\n"); got != "errno=0\n\n" {
		t.Fatalf("get on an empty device = %q", got)
	}
	a := randomKey(t)
	if got := cl.do("set=1\nlisten_port=4000\npublic_key=" + hx(a) + "\nallowed_ip=10.0.0.0/8\n\n"); got != "errno=0\n\n" {
		t.Fatalf("set = %q", got)
	}
	want := "listen_port=4000\npublic_key=" + hx(a) + "\nprotocol_version=1\nlast_handshake_time_sec=0\nlast_handshake_time_nsec=0\n" +
		"tx_bytes=0\nrx_bytes=0\npersistent_keepalive_interval=0\nallowed_ip=10.0.0.0/8\nerrno=0\n\n"
	if got := cl.do("get=1\n\n"); got != want {
		t.Fatalf("get after set =\n%q\nwant\n%q", got, want)
	}
	// Two requests in one write.
	if got := cl.do("set=1\nlisten_port=5000\n\nget=1\n\n"); got != "errno=0\n\n" {
		t.Fatalf("pipelined set = %q", got)
	}
	if got := cl.do(""); !strings.HasPrefix(got, "listen_port=5000\n") {
		t.Fatalf("pipelined get = %q", got)
	}
}

func TestServeErrorsCloseConnection(t *testing.T) {
	k := randomKey(t)
	for _, tc := range []struct {
		name, req, want string
	}{
		{"unknown operation", "bogus\n", "errno=-71\n\n"},
		{"empty operation", "\n", "errno=-71\n\n"},
		{"get with trailing line", "get=1\nx\n", "errno=-22\n\n"},
		{"get=2", "get=2\n\n", "errno=-71\n\n"},
		{"bad value", "set=1\nlisten_port=x\npublic_key=" + hx(k) + "\n\n", "errno=-22\n\n"},
		{"unknown key", "set=1\nwhat=1\n\n", "errno=-22\n\n"},
		{"malformed line", "set=1\nwhat\n\n", "errno=-71\n\n"},
		{"line too long", "set=1\nlisten_port=" + strings.Repeat("9", MaxLineBytes+10) + "\n\n", "errno=-5\n\n"},
		{"operation line too long", strings.Repeat("g", MaxLineBytes+10) + "\n", "errno=-71\n\n"},
		{"binary", "\x00\xff\x01set=1\n", "errno=-71\n\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeDevice{}
			path := serveTemp(t, f)
			cl := dialClient(t, path)
			if got := cl.do(tc.req); got != tc.want {
				t.Fatalf("reply = %q, want %q", got, tc.want)
			}
			cl.expectClosed()
			if f.sets != 0 {
				t.Fatalf("a failed request was applied")
			}
			// The server still serves new connections.
			if got := dialClient(t, path).do("get=1\n\n"); got != "errno=0\n\n" {
				t.Fatalf("get after error = %q", got)
			}
		})
	}
}

func TestServeDeviceErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"errno", Errorf(ErrnoPortInUse, "port %d taken", 1), "errno=-98\n\n"},
		{"wrapped errno", fmt.Errorf("apply: %w", Errorf(ErrnoNoDevice, "gone")), "errno=-19\n\n"},
		{"syscall errno", fmt.Errorf("bind: %w", syscall.EACCES), "errno=-13\n\n"},
		{"plain error", errors.New("broken"), "errno=-55\n\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeDevice{setErr: tc.err, getErr: tc.err}
			path := serveTemp(t, f)
			cl := dialClient(t, path)
			if got := cl.do("set=1\nlisten_port=1\n\n"); got != tc.want {
				t.Fatalf("set reply = %q, want %q", got, tc.want)
			}
			cl.expectClosed()
			if got := dialClient(t, path).do("get=1\n\n"); got != tc.want {
				t.Fatalf("get reply = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestServeConcurrentConnections(t *testing.T) {
	f := &fakeDevice{}
	path := serveTemp(t, f)
	const n = 32
	keys := make([]Key, n)
	for i := range keys {
		keys[i] = randomKey(t)
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			c, err := net.Dial("unix", path)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			r := bufio.NewReader(c)
			for j := range 5 {
				req := fmt.Sprintf("set=1\npublic_key=%s\nallowed_ip=10.%d.%d.0/24\n\nget=1\n\n", hx(keys[i]), i, j)
				if _, err := io.WriteString(c, req); err != nil {
					errs <- err
					return
				}
				// set reply, then the get reply ending in errno=0.
				var lines []string
				for blank := 0; blank < 2; {
					line, err := r.ReadString('\n')
					if err != nil {
						errs <- err
						return
					}
					if line == "\n" {
						blank++
					}
					lines = append(lines, line)
				}
				if lines[0] != "errno=0\n" || lines[len(lines)-2] != "errno=0\n" {
					errs <- fmt.Errorf("conn %d: replies %q", i, lines)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	st := f.state()
	if len(st.Peers) != n {
		t.Fatalf("%d peers, want %d", len(st.Peers), n)
	}
	for _, p := range st.Peers {
		if len(p.AllowedIPs) != 5 {
			t.Fatalf("peer has %d allowed IPs, want 5", len(p.AllowedIPs))
		}
	}
}

// Random bytes on many connections never stop the server.
func TestServeSurvivesGarbage(t *testing.T) {
	f := &fakeDevice{}
	path := serveTemp(t, f)
	for i := range 200 {
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 1+i*37%4096)
		rand.Read(buf)
		if i%3 == 0 {
			buf = append([]byte("set=1\n"), buf...)
		}
		if i%5 == 0 {
			buf = append(buf, "\n\n"...)
		}
		c.Write(buf)
		if i%2 == 0 {
			c.(*net.UnixConn).CloseWrite()
			io.Copy(io.Discard, c)
		}
		c.Close()
	}
	if got := dialClient(t, path).do("get=1\n\n"); got != "errno=0\n\n" {
		t.Fatalf("get after garbage = %q", got)
	}
}

// Cancelling the context closes idle connections and the listener.
func TestServeStopsOnCancel(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stop.sock")
	l, err := listenAt(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, l, &fakeDevice{}, nil) }()
	idle := dialClient(t, path)
	if got := idle.do("get=1\n\n"); got != "errno=0\n\n" {
		t.Fatalf("get = %q", got)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve after cancel: %v", err)
	}
	idle.expectClosed()
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket file left after Serve returned: %v", err)
	}
}
