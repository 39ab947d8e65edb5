// SPDX-License-Identifier: MIT

package config

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// This file holds the value syntax shared by Parse and Validate. Each
// function returns the parsed value and "" or, on failure, a message that
// starts with the quoted value (never used for secret keys).

// trimSpace trims ASCII spaces and tabs, as wg-quick does.
func trimSpace(s string) string { return strings.Trim(s, " \t") }

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// dottedNumeric reports whether s consists only of digits and dots, that is
// whether it can only have been meant as an IPv4 address.
func dottedNumeric(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if (s[i] < '0' || s[i] > '9') && s[i] != '.' {
			return false
		}
	}
	return true
}

// parseRange parses a decimal number in [lo, hi].
func parseRange(s string, lo, hi uint64) (uint64, string) {
	if !allDigits(s) {
		return 0, fmt.Sprintf("%q is not a number", s)
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil || v < lo || v > hi {
		return 0, fmt.Sprintf("%q is out of range %d-%d", s, lo, hi)
	}
	return v, ""
}

func parsePort(s string) (int, string) {
	v, msg := parseRange(s, 0, 65535)
	return int(v), msg
}

func parseFwMark(s string) (uint32, string) {
	if lowerASCII(s) == "off" {
		return 0, ""
	}
	digits, base := s, 10
	if len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		digits, base = s[2:], 16
	}
	for i := 0; i < len(digits); i++ {
		c := digits[i]
		ok := c >= '0' && c <= '9' || base == 16 && (c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F')
		if !ok {
			return 0, fmt.Sprintf("%q is not a decimal number, 0x hex number or \"off\"", s)
		}
	}
	if digits == "" {
		return 0, fmt.Sprintf("%q is not a decimal number, 0x hex number or \"off\"", s)
	}
	v, err := strconv.ParseUint(digits, base, 32)
	if err != nil {
		return 0, fmt.Sprintf("%q is out of range 0-0xffffffff", s)
	}
	return uint32(v), ""
}

const (
	minMTU = 576
	maxMTU = 65535
)

func parseMTU(s string) (int, string) {
	v, msg := parseRange(s, minMTU, maxMTU)
	return int(v), msg
}

func parseKeepalive(s string) (int, string) {
	if lowerASCII(s) == "off" {
		return 0, ""
	}
	v, msg := parseRange(s, 0, 65535)
	if msg != "" {
		return 0, msg + ` (or "off")`
	}
	return int(v), ""
}

func parseBool(s string) (bool, string) {
	switch lowerASCII(s) {
	case "true":
		return true, ""
	case "false":
		return false, ""
	}
	return false, fmt.Sprintf("%q is not true or false", s)
}

func parseCipher(s string) (Cipher, string) {
	c := Cipher(lowerASCII(s))
	if !c.Valid() {
		return "", fmt.Sprintf("%q is not a known cipher (%s or %s)", s, CipherChaCha20Poly1305, CipherAESCBC)
	}
	return c, ""
}

// validTableName reports whether s is acceptable as a routing table name.
func validTableName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_':
		case i > 0 && (c >= '0' && c <= '9' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return true
}

// parseTable returns the canonical Table value: "auto", "off", a decimal
// number without leading zeros, or a name.
func parseTable(s string) (string, string) {
	switch ls := lowerASCII(s); ls {
	case TableAuto, TableOff:
		return ls, ""
	}
	if allDigits(s) {
		v, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return "", fmt.Sprintf("%q is out of range 0-4294967295", s)
		}
		return strconv.FormatUint(v, 10), ""
	}
	if !validTableName(s) {
		return "", fmt.Sprintf("%q is not \"auto\", \"off\", a table number or a table name", s)
	}
	return s, ""
}

// validHostname reports whether s is a DNS name: dot-separated labels of
// 1-63 letters, digits, '-' or '_', at most 253 characters, optionally with a
// trailing dot, and not something that can only be an IPv4 address.
func validHostname(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 || dottedNumeric(s) {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// validZone reports whether an IPv6 zone is a plausible interface name or
// index.
func validZone(z string) bool {
	if len(z) > 64 {
		return false
	}
	for i := 0; i < len(z); i++ {
		c := z[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// parsePrefix parses a CIDR prefix or a bare address (meaning /32 or /128).
func parsePrefix(s string) (netip.Prefix, string) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Sprintf("%q is not a valid IP prefix", s)
		}
		return p, ""
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Sprintf("%q is not a valid IP address or prefix", s)
	}
	if a.Zone() != "" {
		return netip.Prefix{}, fmt.Sprintf("%q: a zone is not allowed here", s)
	}
	return netip.PrefixFrom(a, a.BitLen()), ""
}

// parseDNSEntry classifies a DNS entry as a server address or a search
// domain.
func parseDNSEntry(s string) (addr netip.Addr, search string, msg string) {
	if a, err := netip.ParseAddr(s); err == nil {
		if !validZone(a.Zone()) {
			return netip.Addr{}, "", fmt.Sprintf("%q has an invalid zone", s)
		}
		return a, "", ""
	}
	if dottedNumeric(s) || strings.Contains(s, ":") {
		return netip.Addr{}, "", fmt.Sprintf("%q is not a valid IP address", s)
	}
	if !validHostname(s) {
		return netip.Addr{}, "", fmt.Sprintf("%q is neither an IP address nor a valid search domain", s)
	}
	return netip.Addr{}, s, ""
}

// splitEndpoint does the work of SplitEndpoint and returns a message
// instead of an error.
func splitEndpoint(s string) (string, uint16, string) {
	bad := func(why string) (string, uint16, string) {
		return "", 0, fmt.Sprintf("%q is not a valid endpoint: %s", s, why)
	}
	if s == "" {
		return bad("empty")
	}
	var host, port string
	if s[0] == '[' {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return bad("missing ']'")
		}
		host, port = s[1:end], s[end+1:]
		if !strings.HasPrefix(port, ":") {
			return bad("missing :port after ']'")
		}
		port = port[1:]
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Is6() {
			return bad("brackets must hold an IPv6 address")
		}
		if !validZone(a.Zone()) {
			return bad("invalid IPv6 zone")
		}
	} else {
		i := strings.LastIndexByte(s, ':')
		if i < 0 {
			return bad("missing :port")
		}
		host, port = s[:i], s[i+1:]
		if strings.Contains(host, ":") {
			return bad("an IPv6 address must be written as [address]:port")
		}
		if _, err := netip.ParseAddr(host); err != nil && !validHostname(host) {
			return bad("host is not an IPv4 address or a host name")
		}
	}
	p, msg := parseRange(port, 1, 65535)
	if msg != "" {
		return bad("port " + msg)
	}
	return host, uint16(p), ""
}

// SplitEndpoint splits an endpoint written as "ipv4:port", "[ipv6]:port" or
// "hostname:port" into its host (without brackets) and port. The host is
// not resolved. The port must be 1-65535.
func SplitEndpoint(s string) (host string, port uint16, err error) {
	host, port, msg := splitEndpoint(s)
	if msg != "" {
		return "", 0, &Error{Key: "Endpoint", Msg: msg}
	}
	return host, port, nil
}

// checkHook reports whether a hook command can be written to and read back
// from a file unchanged.
func checkHook(s string) string {
	if s == "" {
		return "empty command"
	}
	if trimSpace(s) != s {
		return fmt.Sprintf("%q has leading or trailing white space", s)
	}
	if strings.IndexByte(s, '#') >= 0 {
		return fmt.Sprintf("%q contains '#', which starts a comment", s)
	}
	if hasControl(s) {
		return fmt.Sprintf("%q contains a control character", s)
	}
	return ""
}

// hasControl reports whether s holds an ASCII control character other than
// tab.
func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return true
		}
	}
	return false
}

// lowerASCII lower-cases ASCII letters only, as wg(8)'s strcasecmp does, so
// that no Unicode folding (such as the Kelvin sign to 'k') matches a key.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// checkPolicy checks a Policy value: an absolute path that the file format
// can carry (no '#', no control characters, no surrounding space).
func checkPolicy(s string) string {
	if s == "" {
		return "empty path"
	}
	if msg := checkHook(s); msg != "" {
		return msg
	}
	if !strings.HasPrefix(s, "/") {
		return fmt.Sprintf("%q is not an absolute path", s)
	}
	return ""
}
