// SPDX-License-Identifier: MIT

package config

import (
	"fmt"
	"net/netip"
)

// Validate checks a Config built or modified in code against the rules Parse
// enforces, and also that it is in the normal form Parse produces: a config
// that passes Validate is written by Marshal in a form that Parse reads back
// to an Equal Config. Errors name c.Name and, for peers, Peer.Line.
func (c *Config) Validate() error {
	if c == nil {
		return &Error{Msg: "nil configuration"}
	}
	e := func(line int, key, format string, args ...any) error {
		return &Error{File: c.Name, Line: line, Key: key, Msg: fmt.Sprintf(format, args...)}
	}
	in := &c.Interface
	if in.PrivateKey.IsZero() {
		return e(0, "PrivateKey", "missing")
	}
	if in.ListenPort < 0 || in.ListenPort > 65535 {
		return e(0, "ListenPort", "%d is out of range 0-65535", in.ListenPort)
	}
	seenAddr := map[netip.Prefix]bool{}
	for _, a := range in.Addresses {
		if !a.IsValid() {
			return e(0, "Address", "invalid prefix")
		}
		if seenAddr[a] {
			return e(0, "Address", "%s is listed twice", a)
		}
		seenAddr[a] = true
	}
	for _, a := range in.DNS {
		if !a.IsValid() {
			return e(0, "DNS", "invalid address")
		}
		if _, _, msg := parseDNSEntry(a.String()); msg != "" {
			return e(0, "DNS", "%s", msg)
		}
	}
	for _, s := range in.DNSSearch {
		if _, search, msg := parseDNSEntry(s); msg != "" || search != s {
			return e(0, "DNS", "%q is not a valid search domain", s)
		}
	}
	if in.MTU != 0 && (in.MTU < minMTU || in.MTU > maxMTU) {
		return e(0, "MTU", "%d is out of range %d-%d", in.MTU, minMTU, maxMTU)
	}
	if in.Table != "" {
		if t, msg := parseTable(in.Table); msg != "" {
			return e(0, "Table", "%s", msg)
		} else if t != in.Table {
			return e(0, "Table", "%q is not in normal form (%q)", in.Table, t)
		}
	}
	for _, h := range []struct {
		key  string
		list []string
	}{{"PreUp", in.PreUp}, {"PostUp", in.PostUp}, {"PreDown", in.PreDown}, {"PostDown", in.PostDown}} {
		for _, cmd := range h.list {
			if msg := checkHook(cmd); msg != "" {
				return e(0, h.key, "%s", msg)
			}
		}
	}
	if in.Policy != "" {
		if msg := checkPolicy(in.Policy); msg != "" {
			return e(in.PolicyLine, "Policy", "%s", msg)
		}
	}
	if in.Cipher != "" && !in.Cipher.Valid() {
		return e(0, "Cipher", "%q is not a known cipher", string(in.Cipher))
	}

	own := in.PrivateKey.Public()
	byKey := map[Key]int{}
	owner := map[netip.Prefix]int{}
	for i := range c.Peers {
		p := &c.Peers[i]
		if p.PublicKey.IsZero() {
			return e(p.Line, "PublicKey", "missing")
		}
		if p.PublicKey == own {
			return e(p.Line, "PublicKey", "%s is this interface's own public key", p.PublicKey)
		}
		if j, dup := byKey[p.PublicKey]; dup {
			return e(p.Line, "PublicKey", "peer %s is listed twice (peers %d and %d)", p.PublicKey, j+1, i+1)
		}
		byKey[p.PublicKey] = i
		for _, a := range p.AllowedIPs {
			if !a.IsValid() {
				return e(p.Line, "AllowedIPs", "invalid prefix")
			}
			if a != a.Masked() {
				return e(p.Line, "AllowedIPs", "%s has host bits set (use %s)", a, a.Masked())
			}
			if j, dup := owner[a]; dup {
				return e(p.Line, "AllowedIPs", "%s is listed twice (peers %d and %d)", a, j+1, i+1)
			}
			owner[a] = i
		}
		if p.Endpoint != "" {
			if _, _, msg := splitEndpoint(p.Endpoint); msg != "" {
				return e(p.Line, "Endpoint", "%s", msg)
			}
			if trimSpace(p.Endpoint) != p.Endpoint {
				return e(p.Line, "Endpoint", "%q has surrounding white space", p.Endpoint)
			}
		}
		if p.PersistentKeepalive < 0 || p.PersistentKeepalive > 65535 {
			return e(p.Line, "PersistentKeepalive", "%d is out of range 0-65535", p.PersistentKeepalive)
		}
		if p.Cipher != "" && !p.Cipher.Valid() {
			return e(p.Line, "Cipher", "%q is not a known cipher", string(p.Cipher))
		}
	}
	return nil
}
