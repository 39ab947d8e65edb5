// SPDX-License-Identifier: MIT

package uapi

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
)

var fuzzSeeds = []string{
	"\n",
	"listen_port=51820\n\n",
	"private_key=\nfwmark=0\nreplace_peers=true\n\n",
	"private_key=" + strings.Repeat("ab", 32) + "\n\n",
	"public_key=" + strings.Repeat("cd", 32) + "\nupdate_only=true\nremove=true\npreshared_key=" + strings.Repeat("00", 32) +
		"\nendpoint=[fe80::1%eth0]:1\npersistent_keepalive_interval=25\nreplace_allowed_ips=true\nallowed_ip=10.0.0.1/32\nallowed_ip=-::/0\nprotocol_version=1\n\n",
	"public_key=" + strings.Repeat("cd", 32) + "\nallowed_ip=-\n\n",
	"bogus\n\n",
	"=\n\n",
	"listen_port=65536\n\n",
	"listen_port=1",
	"\x00\xff=\n\n",
}

// FuzzParseSet: ParseSet never panics, returns exactly one of a request or
// an *Errno, and what it accepts is well formed.
func FuzzParseSet(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bufio.NewReader(bytes.NewReader(data))
		req, err := ParseSet(r)
		if (req == nil) == (err == nil) {
			t.Fatalf("ParseSet returned request %v and error %v", req, err)
		}
		if err != nil {
			var e *Errno
			if !errors.As(err, &e) || e.Code == 0 {
				t.Fatalf("error without errno: %v", err)
			}
			return
		}
		for _, op := range req.Peers {
			for _, a := range op.AllowedIPs {
				if !a.Prefix.IsValid() || a.Prefix != a.Prefix.Masked() {
					t.Fatalf("accepted unmasked or invalid prefix %v", a.Prefix)
				}
			}
			if op.Endpoint != nil && !op.Endpoint.IsValid() {
				t.Fatalf("accepted invalid endpoint")
			}
		}
		// Applying what was accepted never panics either.
		var st State
		req.ApplyTo(&st)
		AppendState(nil, &st)
	})
}

// FuzzServeConn: any bytes on a connection end with the connection closed
// by the server and every reply well formed; never a panic or a hang.
func FuzzServeConn(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte("set=1\n" + s))
	}
	f.Add([]byte("get=1\n\nget=1\n\n"))
	f.Add([]byte("get=1\nset=1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		srv := &server{dev: &fakeDevice{}, log: slog.New(slog.DiscardHandler), conns: map[net.Conn]struct{}{}}
		client, conn := socketPair(t)
		done := make(chan struct{})
		go func() {
			defer close(done)
			defer conn.Close()
			srv.handle(conn)
		}()
		go func() {
			client.Write(data)
			client.CloseWrite()
		}()
		replies, _ := io.ReadAll(client)
		<-done
		client.Close()
		for _, line := range strings.SplitAfter(string(replies), "\n") {
			if line == "" || line == "\n" {
				continue
			}
			if !strings.Contains(line, "=") {
				t.Fatalf("reply line without '=': %q", line)
			}
		}
		if len(replies) > 0 && !strings.HasSuffix(string(replies), "\n\n") {
			t.Fatalf("reply not terminated: %q", replies)
		}
	})
}

// socketPair returns the two ends of a connected AF_UNIX stream pair.
func socketPair(t *testing.T) (*net.UnixConn, *net.UnixConn) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	conn := func(fd int) *net.UnixConn {
		f := os.NewFile(uintptr(fd), "socketpair")
		defer f.Close()
		c, err := net.FileConn(f)
		if err != nil {
			t.Fatal(err)
		}
		return c.(*net.UnixConn)
	}
	return conn(fds[0]), conn(fds[1])
}
