// SPDX-License-Identifier: MIT

package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"strings"
	"unsafe"
)

// MaxFileSize bounds the size of a configuration file ParseFile reads.
const MaxFileSize = 16 << 20

type section int

const (
	sectionNone section = iota
	sectionInterface
	sectionPeer
)

// keyInfo describes one configuration key.
type keyInfo struct {
	name      string // canonical spelling
	section   section
	singleton bool
	parse     func(p *parser, line int, value string) *Error
}

type keyID struct {
	name    string // lower case
	section section
}

var keys = map[keyID]keyInfo{}

func init() {
	addKey("PrivateKey", sectionInterface, true, (*parser).privateKey)
	addValue("ListenPort", sectionInterface, parsePort, func(p *parser, n int) { p.cfg.Interface.ListenPort = n })
	addValue("FwMark", sectionInterface, parseFwMark, func(p *parser, n uint32) { p.cfg.Interface.FwMark = n })
	addKey("Address", sectionInterface, false, (*parser).address)
	addKey("DNS", sectionInterface, false, (*parser).dns)
	addValue("MTU", sectionInterface, parseMTU, func(p *parser, n int) { p.cfg.Interface.MTU = n })
	addValue("Table", sectionInterface, parseTable, func(p *parser, t string) { p.tableValue = t })
	addKey("PreUp", sectionInterface, false, func(p *parser, _ int, v string) *Error { return p.hook(&p.cfg.Interface.PreUp, v) })
	addKey("PostUp", sectionInterface, false, func(p *parser, _ int, v string) *Error { return p.hook(&p.cfg.Interface.PostUp, v) })
	addKey("PreDown", sectionInterface, false, func(p *parser, _ int, v string) *Error { return p.hook(&p.cfg.Interface.PreDown, v) })
	addKey("PostDown", sectionInterface, false, func(p *parser, _ int, v string) *Error { return p.hook(&p.cfg.Interface.PostDown, v) })
	addValue("SaveConfig", sectionInterface, parseBool, func(p *parser, b bool) { p.cfg.Interface.SaveConfig = b })
	addValue("Cipher", sectionInterface, parseCipher, func(p *parser, c Cipher) { p.cfg.Interface.Cipher = c })
	addKey("Policy", sectionInterface, true, (*parser).policy)
	addKey("PublicKey", sectionPeer, true, (*parser).publicKey)
	addKey("PresharedKey", sectionPeer, true, (*parser).presharedKey)
	addKey("AllowedIPs", sectionPeer, false, (*parser).allowedIPs)
	addKey("Endpoint", sectionPeer, true, (*parser).endpoint)
	addValue("PersistentKeepalive", sectionPeer, parseKeepalive, func(p *parser, n int) { p.cur.PersistentKeepalive = n })
	addValue("Cipher", sectionPeer, parseCipher, func(p *parser, c Cipher) { p.cur.Cipher = c })
}

// addKey registers a key and its parser.
func addKey(name string, s section, singleton bool, f func(*parser, int, string) *Error) {
	keys[keyID{lowerASCII(name), s}] = keyInfo{name, s, singleton, f}
	if name != "PrivateKey" && name != "PresharedKey" {
		copiedKeys[lowerASCII(name)] = true
	}
}

// addValue registers a singleton key whose value parse checks and set
// stores; parse's message, if any, is the error.
func addValue[T any](name string, s section, parse func(string) (T, string), set func(*parser, T)) {
	addKey(name, s, true, func(p *parser, line int, v string) *Error {
		x, msg := parse(v)
		if msg != "" {
			return p.errorf(line, name, "%s", msg)
		}
		set(p, x)
		return nil
	})
}

// lookupKey finds the key named (case-insensitively) k in section s, and
// whether k is known in any section.
func lookupKey(k string, s section) (keyInfo, bool, string) {
	lk := lowerASCII(k)
	if ki, ok := keys[keyID{lk, s}]; ok {
		return ki, true, ki.name
	}
	for _, other := range []section{sectionInterface, sectionPeer} {
		if ki, ok := keys[keyID{lk, other}]; ok {
			return keyInfo{}, false, ki.name
		}
	}
	return keyInfo{}, false, ""
}

type peerState struct {
	pubLine int // line of PublicKey, 0 if none
}

type parser struct {
	name       string
	cfg        *Config
	section    section
	ifaceLine  int            // line of [Interface], 0 if none
	privLine   int            // line of PrivateKey, 0 if none
	seen       map[string]int // singleton key -> line, for the current section
	peers      []peerState    // parallel to cfg.Peers
	addrLines  map[netip.Prefix]int
	cur        *Peer
	curState   *peerState
	tableValue string
}

func (p *parser) errorf(line int, key, format string, args ...any) *Error {
	return &Error{File: p.name, Line: line, Key: key, Msg: fmt.Sprintf(format, args...)}
}

// Parse parses a configuration in the wg-quick format. name is used in
// error messages and stored in Config.Name. Every error is a *Error.
func Parse(name string, data []byte) (*Config, error) {
	p := &parser{
		name:      name,
		cfg:       &Config{Name: name},
		addrLines: map[netip.Prefix]int{},
	}
	if err := p.run(data); err != nil {
		return nil, err
	}
	return p.cfg, nil
}

// ParseFile reads and parses the file at path.
func ParseFile(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fileError(path, err)
	}
	defer f.Close()
	size := 0
	if st, err := f.Stat(); err == nil && st.Size() < MaxFileSize {
		size = int(st.Size())
	}
	data, err := readWiped(f, size, MaxFileSize)
	defer clear(data[:cap(data)]) // the file holds the private key
	if err != nil {
		return nil, fileError(path, err)
	}
	if len(data) > MaxFileSize {
		return nil, &Error{File: path, Msg: fmt.Sprintf("file is larger than %d bytes", MaxFileSize)}
	}
	return Parse(path, data)
}

// readWiped reads r to its end, or to limit+1 bytes, into one buffer of
// size+1 bytes to start with (size: what the file said it holds), wiping
// every buffer it outgrows. bytes.Buffer would leave each outgrown copy of
// the file, private key and all, to the garbage collector.
func readWiped(r io.Reader, size, limit int) ([]byte, error) {
	buf := make([]byte, 0, min(max(size, 511)+1, limit+1))
	for {
		if len(buf) == cap(buf) {
			if len(buf) > limit {
				return buf, nil
			}
			bigger := make([]byte, len(buf), min(2*cap(buf), limit+1))
			copy(bigger, buf)
			clear(buf)
			buf = bigger
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// copiedKeys are the keys whose lines the parser copies into strings: all
// but PrivateKey and PresharedKey.
var copiedKeys = map[string]bool{}

// lineText is raw as a string. A line that may hold a secret (PrivateKey,
// PresharedKey, a line that is not a known key at all, such as a pasted
// key) is a view of raw, which the caller wipes: string(raw) would be a
// copy that nothing can wipe. Nothing of a view may outlive the parse.
func lineText(raw []byte) string {
	if eq := bytes.IndexByte(raw, '='); eq >= 0 {
		name := bytes.Trim(raw[:eq], " \t")
		var lower [24]byte
		if len(name) <= len(lower) {
			for i, c := range name {
				if c >= 'A' && c <= 'Z' {
					c += 'a' - 'A'
				}
				lower[i] = c
			}
			if copiedKeys[string(lower[:len(name)])] {
				return string(raw)
			}
		}
	}
	return unsafe.String(unsafe.SliceData(raw), len(raw))
}

// fileError wraps a file system error, without repeating the path.
func fileError(path string, err error) *Error {
	msg := err.Error()
	var pe *fs.PathError
	if errors.As(err, &pe) {
		msg = pe.Op + ": " + pe.Err.Error()
	}
	return &Error{File: path, Msg: msg, Err: err}
}

func (p *parser) run(data []byte) error {
	lineNo := 0
	for len(data) > 0 {
		lineNo++
		var raw []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			raw, data = data[:i], data[i+1:]
		} else {
			raw, data = data, nil
		}
		raw = bytes.TrimSuffix(raw, []byte("\r"))
		line := lineText(raw)
		if hasControl(line) {
			return p.errorf(lineNo, "", "line contains a control character")
		}
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		line = trimSpace(line)
		if line == "" {
			continue
		}
		if line[0] == '[' {
			if err := p.header(lineNo, line); err != nil {
				return err
			}
			continue
		}
		if err := p.keyValue(lineNo, line); err != nil {
			return err
		}
	}
	if err := p.finish(); err != nil {
		return err
	}
	return nil
}

func (p *parser) header(line int, s string) *Error {
	if !strings.HasSuffix(s, "]") {
		return p.errorf(line, "", "malformed section header (missing ']')")
	}
	name := trimSpace(s[1 : len(s)-1])
	p.seen = map[string]int{}
	switch lowerASCII(name) {
	case "interface":
		if p.ifaceLine != 0 {
			return p.errorf(line, "", "duplicate [Interface] section (first on line %d)", p.ifaceLine)
		}
		p.ifaceLine = line
		p.section = sectionInterface
		p.cur, p.curState = nil, nil
	case "peer":
		p.section = sectionPeer
		p.cfg.Peers = append(p.cfg.Peers, Peer{Line: line})
		p.peers = append(p.peers, peerState{})
		p.cur = &p.cfg.Peers[len(p.cfg.Peers)-1]
		p.curState = &p.peers[len(p.peers)-1]
	default:
		if safeName(name) == name {
			return p.errorf(line, "", "unknown section [%s]", name)
		}
		return p.errorf(line, "", "unknown section")
	}
	return nil
}

func (p *parser) keyValue(line int, s string) *Error {
	eq := strings.IndexByte(s, '=')
	if eq < 0 {
		// The line is not echoed: it could be a pasted private key.
		return p.errorf(line, "", "expected Key = value")
	}
	k, v := trimSpace(s[:eq]), trimSpace(s[eq+1:])
	if k == "" {
		return p.errorf(line, "", "missing key before '='")
	}
	ki, ok, canon := lookupKey(k, p.section)
	// k may be a view of the caller's buffer (lineText): errors keep a copy.
	if p.section == sectionNone {
		if canon == "" && safeName(k) == k {
			canon = strings.Clone(k)
		}
		return p.errorf(line, canon, "key outside a section; expected [Interface] or [Peer] first")
	}
	if !ok {
		sec := "[Interface]"
		if p.section == sectionPeer {
			sec = "[Peer]"
		}
		if canon != "" {
			return p.errorf(line, canon, "not valid in %s", sec)
		}
		if safeName(k) == k {
			return p.errorf(line, strings.Clone(k), "unknown key in %s", sec)
		}
		return p.errorf(line, "", "unknown key in %s", sec)
	}
	if ki.singleton {
		if first, dup := p.seen[ki.name]; dup {
			return p.errorf(line, ki.name, "set twice in one section (first on line %d)", first)
		}
		p.seen[ki.name] = line
	}
	return ki.parse(p, line, v)
}

// list splits a comma-separated value into trimmed entries. An empty value
// is an empty list; an empty entry is an error.
func (p *parser) list(line int, key, v string) ([]string, *Error) {
	if v == "" {
		return nil, nil
	}
	parts := strings.Split(v, ",")
	for i := range parts {
		parts[i] = trimSpace(parts[i])
		if parts[i] == "" {
			return nil, p.errorf(line, key, "empty entry in list %q", v)
		}
	}
	return parts, nil
}

func (p *parser) privateKey(line int, v string) *Error {
	k, ok := decodeKey(v)
	if !ok {
		return p.errorf(line, "PrivateKey", "not a valid base64 32-byte key")
	}
	if k == [KeyLen]byte{} {
		return p.errorf(line, "PrivateKey", "the all-zero key is not a valid private key")
	}
	p.cfg.Interface.PrivateKey = PrivateKey(k)
	p.privLine = line
	return nil
}

func (p *parser) address(line int, v string) *Error {
	items, err := p.list(line, "Address", v)
	if err != nil {
		return err
	}
	for _, it := range items {
		pfx, msg := parsePrefix(it)
		if msg != "" {
			return p.errorf(line, "Address", "%s", msg)
		}
		if first, dup := p.addrLines[pfx]; dup {
			return p.errorf(line, "Address", "%s is listed twice (first on line %d)", pfx, first)
		}
		p.addrLines[pfx] = line
		p.cfg.Interface.Addresses = append(p.cfg.Interface.Addresses, pfx)
	}
	return nil
}

func (p *parser) dns(line int, v string) *Error {
	items, err := p.list(line, "DNS", v)
	if err != nil {
		return err
	}
	for _, it := range items {
		a, search, msg := parseDNSEntry(it)
		if msg != "" {
			return p.errorf(line, "DNS", "%s", msg)
		}
		if search != "" {
			p.cfg.Interface.DNSSearch = append(p.cfg.Interface.DNSSearch, search)
		} else {
			p.cfg.Interface.DNS = append(p.cfg.Interface.DNS, a)
		}
	}
	return nil
}

func (p *parser) hook(dst *[]string, v string) *Error {
	// An empty hook is a no-op in wg-quick; drop it.
	if v != "" {
		*dst = append(*dst, v)
	}
	return nil
}

func (p *parser) policy(line int, v string) *Error {
	if msg := checkPolicy(v); msg != "" {
		return p.errorf(line, "Policy", "%s", msg)
	}
	p.cfg.Interface.Policy = v
	p.cfg.Interface.PolicyLine = line
	return nil
}

func (p *parser) publicKey(line int, v string) *Error {
	k, ok := decodeKey(v)
	if !ok {
		return p.errorf(line, "PublicKey", "%q is not a valid base64 32-byte key", v)
	}
	if k == [KeyLen]byte{} {
		return p.errorf(line, "PublicKey", "the all-zero key is not a valid public key")
	}
	p.cur.PublicKey = Key(k)
	p.curState.pubLine = line
	return nil
}

func (p *parser) presharedKey(line int, v string) *Error {
	k, ok := decodeKey(v)
	if !ok {
		return p.errorf(line, "PresharedKey", "not a valid base64 32-byte key")
	}
	p.cur.PresharedKey = PresharedKey(k)
	return nil
}

func (p *parser) allowedIPs(line int, v string) *Error {
	items, err := p.list(line, "AllowedIPs", v)
	if err != nil {
		return err
	}
	for _, it := range items {
		pfx, msg := parsePrefix(it)
		if msg != "" {
			return p.errorf(line, "AllowedIPs", "%s", msg)
		}
		p.cur.AllowedIPs = append(p.cur.AllowedIPs, pfx.Masked())
	}
	return nil
}

func (p *parser) endpoint(line int, v string) *Error {
	if _, _, msg := splitEndpoint(v); msg != "" {
		return p.errorf(line, "Endpoint", "%s", msg)
	}
	p.cur.Endpoint = v
	return nil
}

// finish applies the checks that need the whole file and normalises the
// result.
func (p *parser) finish() *Error {
	c := p.cfg
	if p.privLine == 0 {
		if p.ifaceLine == 0 {
			return p.errorf(0, "PrivateKey", "missing: the file has no [Interface] section")
		}
		return p.errorf(p.ifaceLine, "PrivateKey", "missing from [Interface]")
	}
	if c.Interface.Cipher == "" {
		c.Interface.Cipher = DefaultCipher
	}
	c.Interface.Table = TableAuto
	if p.tableValue != "" {
		c.Interface.Table = p.tableValue
	}
	own := c.Interface.PrivateKey.Public()
	byKey := map[Key]int{}
	for i := range c.Peers {
		peer, st := &c.Peers[i], &p.peers[i]
		if st.pubLine == 0 {
			return p.errorf(peer.Line, "PublicKey", "missing from [Peer]")
		}
		if peer.PublicKey == own {
			return p.errorf(st.pubLine, "PublicKey", "%s is this interface's own public key", peer.PublicKey)
		}
		if first, dup := byKey[peer.PublicKey]; dup {
			return p.errorf(st.pubLine, "PublicKey", "peer %s is already defined on line %d", peer.PublicKey, first)
		}
		byKey[peer.PublicKey] = st.pubLine
	}
	assignAllowedIPs(c.Peers)
	return nil
}

// assignAllowedIPs gives each prefix to the last peer that lists it, as
// wg(8) does, and removes duplicates within a peer, keeping file order.
func assignAllowedIPs(peers []Peer) {
	owner := map[netip.Prefix]int{}
	for i := range peers {
		for _, pfx := range peers[i].AllowedIPs {
			owner[pfx] = i
		}
	}
	for i := range peers {
		var kept []netip.Prefix
		for _, pfx := range peers[i].AllowedIPs {
			if owner[pfx] == i {
				kept = append(kept, pfx)
				owner[pfx] = -1 // keep only the first occurrence
			}
		}
		peers[i].AllowedIPs = kept
	}
}
