// SPDX-License-Identifier: MIT

// Package config reads, validates and writes wg-quick(8) configuration files
// ([Interface] and [Peer] sections in the INI format shared with wg(8)),
// extended with wgbpfd's Cipher key, which selects the transport suite.
//
// Every error returned by the package is a *Error naming the file, line and
// key. Private and preshared keys never appear in errors or in the String
// form of any type.
package config

import (
	"net/netip"
	"slices"
)

// Cipher names a transport suite.
type Cipher string

// The transport suites. In a Peer, the empty Cipher means "inherit the
// interface's".
const (
	CipherChaCha20Poly1305 Cipher = "chacha20poly1305"
	CipherAESCBC           Cipher = "aes-cbc"
)

// DefaultCipher is the suite used when none is configured.
const DefaultCipher = CipherChaCha20Poly1305

// Valid reports whether c names a known suite. The empty Cipher is not valid.
func (c Cipher) Valid() bool {
	return c == CipherChaCha20Poly1305 || c == CipherAESCBC
}

// Table values with a special meaning to wg-quick.
const (
	TableAuto = "auto"
	TableOff  = "off"
)

// Config is a parsed configuration file.
type Config struct {
	// Name is the file name or path the configuration was parsed from; it
	// is used in error messages only.
	Name      string
	Interface Interface
	// Peers in file order.
	Peers []Peer
}

// Interface is the [Interface] section.
type Interface struct {
	PrivateKey PrivateKey
	// ListenPort is the UDP port; 0 means choose one at random.
	ListenPort int
	// FwMark is the mark on outgoing packets; 0 means off.
	FwMark uint32
	// Addresses are the interface's addresses with their prefix lengths
	// (host bits kept: 10.0.0.1/24 is address 10.0.0.1 on a /24).
	Addresses []netip.Prefix
	// DNS holds the DNS server addresses and DNSSearch the search domains,
	// each in file order.
	DNS       []netip.Addr
	DNSSearch []string
	// MTU is the interface MTU; 0 means automatic.
	MTU int
	// Table is TableAuto (the default), TableOff, a decimal routing table
	// number, or a table name to be resolved by the caller.
	Table string
	// Hooks, in file order, unexpanded (%i is left as written).
	PreUp, PostUp, PreDown, PostDown []string
	SaveConfig                       bool
	// Cipher is the interface's transport suite; Parse sets DefaultCipher
	// when the file has none.
	Cipher Cipher
	// Policy is the absolute path of a compiled policy object (BPF hooks
	// run by the data plane); "" for none. PolicyLine is the line that set
	// it, for error messages only.
	Policy     string
	PolicyLine int
}

// Peer is one [Peer] section.
type Peer struct {
	PublicKey Key
	// PresharedKey is the zero key when the peer has none.
	PresharedKey PresharedKey
	// AllowedIPs are masked prefixes (host bits cleared), without
	// duplicates. A prefix listed by several peers belongs to the last one,
	// as in wg(8).
	AllowedIPs []netip.Prefix
	// Endpoint is "host:port" as written ("[v6]:port" for IPv6); hostnames
	// are not resolved. "" if none. See SplitEndpoint.
	Endpoint string
	// PersistentKeepalive is the keepalive interval in seconds; 0 is off.
	PersistentKeepalive int
	// Cipher overrides the interface's suite; "" inherits it.
	Cipher Cipher
	// Line is the line number of the peer's [Peer] header (0 if the peer
	// was not parsed from a file).
	Line int
}

// InterfaceCipher returns the interface's effective suite.
func (c *Config) InterfaceCipher() Cipher {
	if c.Interface.Cipher == "" {
		return DefaultCipher
	}
	return c.Interface.Cipher
}

// PeerCipher returns the suite in effect for p: its own Cipher if set, the
// interface's otherwise.
func (c *Config) PeerCipher(p *Peer) Cipher {
	if p != nil && p.Cipher != "" {
		return p.Cipher
	}
	return c.InterfaceCipher()
}

// PublicKey returns the interface's public key.
func (c *Config) PublicKey() Key { return c.Interface.PrivateKey.Public() }

// Peer returns the peer with public key k, or nil.
func (c *Config) Peer(k Key) *Peer {
	for i := range c.Peers {
		if c.Peers[i].PublicKey == k {
			return &c.Peers[i]
		}
	}
	return nil
}

// table returns the effective Table value.
func (i *Interface) table() string {
	if i.Table == "" {
		return TableAuto
	}
	return i.Table
}

// Equal reports whether c and o describe the same configuration. It ignores
// Name and Peer.Line, treats nil and empty slices alike, and compares
// effective values where a field has a default (Interface.Cipher "" equals
// DefaultCipher, Table "" equals TableAuto).
func (c *Config) Equal(o *Config) bool {
	if c == nil || o == nil {
		return c == o
	}
	a, b := &c.Interface, &o.Interface
	if !a.PrivateKey.Equal(b.PrivateKey) ||
		a.ListenPort != b.ListenPort || a.FwMark != b.FwMark ||
		!slices.Equal(a.Addresses, b.Addresses) ||
		!slices.Equal(a.DNS, b.DNS) || !slices.Equal(a.DNSSearch, b.DNSSearch) ||
		a.MTU != b.MTU || a.table() != b.table() ||
		!slices.Equal(a.PreUp, b.PreUp) || !slices.Equal(a.PostUp, b.PostUp) ||
		!slices.Equal(a.PreDown, b.PreDown) || !slices.Equal(a.PostDown, b.PostDown) ||
		a.SaveConfig != b.SaveConfig || c.InterfaceCipher() != o.InterfaceCipher() ||
		a.Policy != b.Policy {
		return false
	}
	if len(c.Peers) != len(o.Peers) {
		return false
	}
	for i := range c.Peers {
		if !c.Peers[i].Equal(&o.Peers[i]) {
			return false
		}
	}
	return true
}

// Equal reports whether p and o are the same peer configuration, ignoring
// Line and treating nil and empty AllowedIPs alike.
func (p *Peer) Equal(o *Peer) bool {
	return p.PublicKey == o.PublicKey && p.PresharedKey.Equal(o.PresharedKey) &&
		slices.Equal(p.AllowedIPs, o.AllowedIPs) && p.Endpoint == o.Endpoint &&
		p.PersistentKeepalive == o.PersistentKeepalive && p.Cipher == o.Cipher
}

// Clone returns a deep copy of c.
func (c *Config) Clone() *Config {
	if c == nil {
		return nil
	}
	n := *c
	i := &n.Interface
	i.Addresses = slices.Clone(i.Addresses)
	i.DNS = slices.Clone(i.DNS)
	i.DNSSearch = slices.Clone(i.DNSSearch)
	i.PreUp = slices.Clone(i.PreUp)
	i.PostUp = slices.Clone(i.PostUp)
	i.PreDown = slices.Clone(i.PreDown)
	i.PostDown = slices.Clone(i.PostDown)
	n.Peers = slices.Clone(c.Peers)
	for j := range n.Peers {
		n.Peers[j].AllowedIPs = slices.Clone(n.Peers[j].AllowedIPs)
	}
	return &n
}
