// SPDX-License-Identifier: MIT

package uapi

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"syscall"
	"time"
)

// Serve answers requests on l with d until ctx is done, then closes l and
// every open connection and returns nil once their handlers have finished.
// It returns an error if Accept fails for a reason other than ctx; l is
// closed in every case. Each connection is served by its own goroutine and
// may carry several requests. logger may be nil.
func Serve(ctx context.Context, l net.Listener, d Device, logger *slog.Logger) error {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &server{dev: d, log: logger, conns: make(map[net.Conn]struct{})}

	stop := context.AfterFunc(ctx, func() {
		l.Close()
		s.closeAll()
	})
	defer stop()
	defer s.wg.Wait()
	defer s.closeAll()
	defer l.Close()

	var backoff time.Duration
	for {
		c, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("uapi: listener closed: %w", err)
			}
			if !transientAcceptError(err) {
				return fmt.Errorf("uapi: accept: %w", err)
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			logger.Warn("uapi: accept failed, retrying", "err", err, "backoff", backoff)
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return nil
			}
			continue
		}
		backoff = 0
		if !s.track(c) {
			c.Close()
			return nil
		}
		s.wg.Go(func() {
			defer s.untrack(c)
			s.handle(c)
		})
	}
}

// transientAcceptError reports whether Accept may succeed if retried.
func transientAcceptError(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
		errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.ENOMEM) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.EINTR)
}

type server struct {
	dev Device
	log *slog.Logger
	wg  sync.WaitGroup

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

func (s *server) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *server) untrack(c net.Conn) {
	c.Close()
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

func (s *server) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
}

// handle serves the requests of one connection until it ends or a request
// fails.
func (s *server) handle(c net.Conn) {
	r := bufio.NewReaderSize(c, readBufferBytes)
	for {
		op, err := readLine(r, MaxLineBytes)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				s.reply(c, nil, Errorf(ErrnoProtocol, "reading request: %w", err))
			}
			return
		}
		var (
			body []byte
			rerr error
		)
		switch op {
		case opGet:
			body, rerr = s.get(r)
		case opSet:
			rerr = s.set(r)
		default:
			rerr = Errorf(ErrnoProtocol, "unknown operation (%d bytes)", len(op))
		}
		if !s.reply(c, body, rerr) || rerr != nil {
			return
		}
	}
}

func (s *server) get(r *bufio.Reader) ([]byte, error) {
	line, err := readLine(r, MaxLineBytes)
	if err != nil {
		return nil, Errorf(ErrnoProtocol, "get: reading request: %w", err)
	}
	if line != "" {
		return nil, Errorf(ErrnoInvalid, "get: request not terminated by an empty line")
	}
	st, err := s.dev.Get()
	if err != nil {
		return nil, fmt.Errorf("get: %w", err)
	}
	return AppendState(nil, st), nil
}

func (s *server) set(r *bufio.Reader) error {
	req, err := ParseSet(r)
	if err != nil {
		return err
	}
	if err := s.dev.Set(req); err != nil {
		return fmt.Errorf("set: %w", err)
	}
	s.log.Debug("uapi: set applied", "peers", len(req.Peers), "replace_peers", req.ReplacePeers)
	return nil
}

// reply writes body and the errno line in one write, so that a client
// that reads once (wgctrl) sees the whole reply. It reports whether the
// write succeeded.
func (s *server) reply(c net.Conn, body []byte, rerr error) bool {
	if rerr != nil {
		s.log.Info("uapi: request failed", "errno", int(ErrnoOf(rerr)), "err", rerr)
	}
	out := appendErrno(body, rerr)
	defer wipe(out)
	c.SetWriteDeadline(time.Now().Add(writeTimeout))
	_, err := c.Write(out)
	c.SetWriteDeadline(time.Time{})
	if err != nil {
		s.log.Debug("uapi: writing reply", "err", err)
		return false
	}
	return true
}
