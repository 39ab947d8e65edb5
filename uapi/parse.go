// SPDX-License-Identifier: MIT

package uapi

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
)

// errLineTooLong is returned by readLine for a line over the limit.
var errLineTooLong = errors.New("line too long")

// ParseSet reads the body of a set request, the lines after "set=1" up to
// and including the empty line that ends it, and returns it parsed. It
// does not read past the empty line, so requests can follow on r.
//
// Errors are *Errno: ErrnoProtocol for a line without '=' or a stream that
// ends inside the request, ErrnoInvalid for an unknown key or a bad value,
// ErrnoIO for a line longer than MaxLineBytes or a read error, ErrnoNoMemory
// for a request longer than MaxRequestBytes. After a bad line the rest of the
// request is still consumed (up to MaxRequestBytes), so that a client that
// writes its whole request before reading the reply gets the reply.
// Error messages never contain key material.
func ParseSet(r *bufio.Reader) (*SetRequest, error) {
	p := setParser{req: &SetRequest{}, peer: -1}
	total := 0
	for {
		line, err := readLine(r, MaxLineBytes)
		total += len(line) + 1
		switch {
		case errors.Is(err, errLineTooLong):
			return nil, Errorf(ErrnoIO, "set: %w", err)
		case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
			return nil, Errorf(ErrnoProtocol, "set: request not terminated by an empty line")
		case err != nil:
			return nil, Errorf(ErrnoIO, "set: reading request: %w", err)
		case total > MaxRequestBytes:
			if p.err != nil {
				return nil, p.err
			}
			return nil, Errorf(ErrnoNoMemory, "set: request longer than %d bytes", MaxRequestBytes)
		case line == "":
			if p.err != nil {
				return nil, p.err
			}
			return p.req, nil
		case p.err == nil:
			p.err = p.line(line)
		}
	}
}

// readLine returns the next line without its '\n'. At most max bytes are
// buffered; a longer line returns errLineTooLong (having consumed max bytes
// of it). A stream that ends without '\n' returns io.ErrUnexpectedEOF, or
// io.EOF if nothing was read.
func readLine(r *bufio.Reader, max int) (string, error) {
	var buf []byte
	for {
		chunk, err := r.ReadSlice('\n')
		if len(buf)+len(chunk) > max+1 {
			return "", errLineTooLong
		}
		buf = append(buf, chunk...)
		switch {
		case err == nil:
			return string(buf[:len(buf)-1]), nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && len(buf) > 0:
			return "", io.ErrUnexpectedEOF
		default:
			return "", err
		}
	}
}

// setParser holds the state between the lines of one set request.
type setParser struct {
	req  *SetRequest
	peer int // index of the current peer op in req.Peers; -1 before the first
	err  error
}

func (p *setParser) line(line string) error {
	key, value, ok := strings.Cut(line, "=")
	if !ok {
		return Errorf(ErrnoProtocol, "set: line of %d bytes without '='", len(line))
	}
	if key == keyPublicKey {
		k, err := parseKey(value)
		if err != nil {
			return Errorf(ErrnoInvalid, "set: %s: %w", keyPublicKey, err)
		}
		p.req.Peers = append(p.req.Peers, PeerOp{PublicKey: k})
		p.peer = len(p.req.Peers) - 1
		return nil
	}
	if p.peer < 0 {
		return p.deviceLine(key, value)
	}
	return p.peerLine(&p.req.Peers[p.peer], key, value)
}

func (p *setParser) deviceLine(key, value string) error {
	r := p.req
	switch key {
	case keyPrivateKey:
		var k Key
		if value != "" {
			var err error
			if k, err = parseKey(value); err != nil {
				return Errorf(ErrnoInvalid, "set: %s: %w", keyPrivateKey, err)
			}
		}
		if !k.IsZero() {
			clampPrivateKey(&k)
		}
		r.PrivateKey = &k
	case keyListenPort:
		v, err := strconv.ParseUint(value, 10, 16)
		if err != nil {
			return Errorf(ErrnoInvalid, "set: invalid %s %s", keyListenPort, quote(value))
		}
		port := uint16(v)
		r.ListenPort = &port
	case keyFwmark:
		v, err := strconv.ParseUint(value, 10, 32)
		if err != nil {
			return Errorf(ErrnoInvalid, "set: invalid %s %s", keyFwmark, quote(value))
		}
		mark := uint32(v)
		r.FirewallMark = &mark
	case keyReplacePeers:
		if value != valueTrue {
			return Errorf(ErrnoInvalid, "set: invalid %s %s", keyReplacePeers, quote(value))
		}
		r.ReplacePeers = true
	default:
		return Errorf(ErrnoInvalid, "set: unknown interface key %s", quote(key))
	}
	return nil
}

func (p *setParser) peerLine(op *PeerOp, key, value string) error {
	switch key {
	case keyUpdateOnly:
		if value != valueTrue {
			return Errorf(ErrnoInvalid, "set: invalid %s %s", keyUpdateOnly, quote(value))
		}
		op.UpdateOnly = true
	case keyRemove:
		if value != valueTrue {
			return Errorf(ErrnoInvalid, "set: invalid %s %s", keyRemove, quote(value))
		}
		op.Remove = true
	case keyPresharedKey:
		k, err := parseKey(value)
		if err != nil {
			return Errorf(ErrnoInvalid, "set: %s: %w", keyPresharedKey, err)
		}
		op.PresharedKey = &k
	case keyEndpoint:
		ap, err := netip.ParseAddrPort(value)
		if err != nil {
			return Errorf(ErrnoInvalid, "set: invalid %s %s", keyEndpoint, quote(value))
		}
		op.Endpoint = &ap
	case keyKeepalive:
		v, err := strconv.ParseUint(value, 10, 16)
		if err != nil {
			return Errorf(ErrnoInvalid, "set: invalid %s %s", keyKeepalive, quote(value))
		}
		secs := uint16(v)
		op.PersistentKeepalive = &secs
	case keyReplaceAllowedIPs:
		if value != valueTrue {
			return Errorf(ErrnoInvalid, "set: invalid %s %s", keyReplaceAllowedIPs, quote(value))
		}
		op.ReplaceAllowedIPs = true
		op.AllowedIPs = op.AllowedIPs[:0]
	case keyAllowedIP:
		remove := len(value) > 0 && value[0] == allowedIPRemovePrefix
		if remove {
			value = value[1:]
		}
		prefix, err := netip.ParsePrefix(value)
		if err != nil {
			return Errorf(ErrnoInvalid, "set: invalid %s %s", keyAllowedIP, quote(value))
		}
		op.AllowedIPs = append(op.AllowedIPs, AllowedIPOp{Prefix: prefix.Masked(), Remove: remove})
	case keyProtocolVersion:
		if value != strconv.Itoa(ProtocolVersion) {
			return Errorf(ErrnoInvalid, "set: unsupported %s %s", keyProtocolVersion, quote(value))
		}
	default:
		return Errorf(ErrnoInvalid, "set: unknown peer key %s", quote(key))
	}
	return nil
}

// parseKey decodes exactly KeyLen bytes of hex (either case). Its errors
// say nothing about the value, which may be a secret.
func parseKey(s string) (Key, error) {
	var k Key
	if len(s) != 2*KeyLen {
		return k, fmt.Errorf("key must be %d hex digits, got %d characters", 2*KeyLen, len(s))
	}
	if _, err := hex.Decode(k[:], []byte(s)); err != nil {
		return Key{}, errors.New("key is not hexadecimal")
	}
	return k, nil
}

// quote renders a value for an error message, truncated so that a huge line
// does not make a huge log line. A value that could be a key (hex or base64
// of KeyLen bytes, sent on the wrong line) is not shown at all.
func quote(s string) string {
	const max = 48
	if looksLikeKey(s) {
		return "<redacted>"
	}
	if len(s) > max {
		return strconv.Quote(s[:max]) + "..."
	}
	return strconv.Quote(s)
}

func looksLikeKey(s string) bool {
	const minRun = 40 // a key is 64 hex or 43 base64 characters
	run := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '+' || c == '/' {
			run++
			if run >= minRun {
				return true
			}
			continue
		}
		run = 0
	}
	return false
}
