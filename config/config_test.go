// SPDX-License-Identifier: MIT

package config

import (
	"encoding/base64"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// testKey returns a deterministic private key and its base64 form, plus the
// base64 public key.
func testKey(seed byte) (PrivateKey, string, string) {
	var k PrivateKey
	for i := range k {
		k[i] = seed + byte(i)*7
	}
	pub := k.Public()
	return k, base64.StdEncoding.EncodeToString(k[:]), pub.String()
}

var (
	ourPriv, ourPrivB64, ourPubB64 = testKey(1)
	_, peer1PrivB64, peer1PubB64   = testKey(2)
	_, peer2PrivB64, peer2PubB64   = testKey(3)
	pskB64                         = base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789ABCDEF"))
)

// secrets are strings that must never appear in an error message.
func secrets() []string {
	return []string{ourPrivB64, peer1PrivB64, peer2PrivB64, pskB64, ourPrivB64[:16], pskB64[:16]}
}

func mustParse(t *testing.T, text string) *Config {
	t.Helper()
	c, err := Parse("wg0.conf", []byte(text))
	if err != nil {
		t.Fatalf("Parse: %v\n%s", err, text)
	}
	return c
}

func pfx(s ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, x := range s {
		out = append(out, netip.MustParsePrefix(x))
	}
	return out
}

func addrs(s ...string) []netip.Addr {
	var out []netip.Addr
	for _, x := range s {
		out = append(out, netip.MustParseAddr(x))
	}
	return out
}

func TestFullTunnel(t *testing.T) {
	text := `# Laptop: full tunnel through the office gateway
[Interface]
PrivateKey = ` + ourPrivB64 + `
Address = 10.8.0.2/24, fd00:8::2/64
DNS = 10.8.0.1, fd00:8::1, corp.example.com
MTU = 1420
PostUp = iptables -I OUTPUT ! -o %i -m mark ! --mark $(wg show %i fwmark) -m addrtype ! --dst-type LOCAL -j REJECT
PreDown = iptables -D OUTPUT ! -o %i -m mark ! --mark $(wg show %i fwmark) -m addrtype ! --dst-type LOCAL -j REJECT

[Peer]
# gateway
PublicKey = ` + peer1PubB64 + `
PresharedKey = ` + pskB64 + `
AllowedIPs = 0.0.0.0/0, ::/0
Endpoint = vpn.example.com:51820
PersistentKeepalive = 25
`
	c := mustParse(t, text)
	in := c.Interface
	if !in.PrivateKey.Equal(ourPriv) || c.PublicKey().String() != ourPubB64 {
		t.Error("private key not parsed")
	}
	if !slices.Equal(in.Addresses, pfx("10.8.0.2/24", "fd00:8::2/64")) {
		t.Errorf("Addresses = %v", in.Addresses)
	}
	if !slices.Equal(in.DNS, addrs("10.8.0.1", "fd00:8::1")) || !slices.Equal(in.DNSSearch, []string{"corp.example.com"}) {
		t.Errorf("DNS = %v search %v", in.DNS, in.DNSSearch)
	}
	if in.MTU != 1420 || in.ListenPort != 0 || in.FwMark != 0 || in.Table != TableAuto || in.SaveConfig {
		t.Errorf("scalars: %+v", in)
	}
	if len(in.PostUp) != 1 || !strings.HasPrefix(in.PostUp[0], "iptables -I OUTPUT ! -o %i") || !strings.HasSuffix(in.PostUp[0], "-j REJECT") {
		t.Errorf("PostUp = %q", in.PostUp)
	}
	if len(in.PreDown) != 1 || in.PreUp != nil || in.PostDown != nil {
		t.Errorf("hooks: %q %q %q", in.PreUp, in.PreDown, in.PostDown)
	}
	if in.Cipher != CipherChaCha20Poly1305 {
		t.Errorf("Cipher = %q", in.Cipher)
	}
	if len(c.Peers) != 1 {
		t.Fatalf("%d peers", len(c.Peers))
	}
	p := c.Peers[0]
	if p.PublicKey.String() != peer1PubB64 || base64.StdEncoding.EncodeToString(p.PresharedKey[:]) != pskB64 {
		t.Error("peer keys")
	}
	if !slices.Equal(p.AllowedIPs, pfx("0.0.0.0/0", "::/0")) || p.Endpoint != "vpn.example.com:51820" || p.PersistentKeepalive != 25 || p.Line != 10 {
		t.Errorf("peer: %+v", p)
	}
	if c.PeerCipher(&p) != CipherChaCha20Poly1305 || c.Peer(p.PublicKey) != &c.Peers[0] {
		t.Error("PeerCipher/Peer")
	}
	roundTrip(t, c)
}

// roundTrip checks Validate passes and Parse(Marshal(c)) equals c.
func roundTrip(t *testing.T, c *Config) {
	t.Helper()
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate on a parsed config: %v", err)
	}
	out := c.Marshal()
	c2, err := Parse("again.conf", out)
	if err != nil {
		t.Fatalf("re-Parse: %v\n%s", err, out)
	}
	if !c.Equal(c2) {
		t.Fatalf("round trip differs:\n%s\n---\n%s", out, c2.Marshal())
	}
	if out2 := c2.Marshal(); string(out2) != string(out) {
		t.Fatalf("Marshal not stable:\n%s\n---\n%s", out, out2)
	}
}

const minimal = "[Interface]\nPrivateKey = "

// Every accepted form of every key.
func TestAcceptedForms(t *testing.T) {
	head := "[Interface]\nPrivateKey = " + ourPrivB64 + "\n"
	peer := "[Peer]\nPublicKey = " + peer1PubB64 + "\n"
	tests := []struct {
		name  string
		text  string
		check func(*Config) bool
	}{
		{"comments blanks spacing", "# c\n\n  [ interface ]  # trailing\n\tprivatekey\t=\t" + ourPrivB64 + "   # k\n\n",
			func(c *Config) bool { return c.Interface.PrivateKey.Equal(ourPriv) }},
		{"CRLF", strings.ReplaceAll(head+"ListenPort = 51820\n"+peer, "\n", "\r\n"),
			func(c *Config) bool { return c.Interface.ListenPort == 51820 && len(c.Peers) == 1 }},
		{"no final newline", head + "ListenPort=1", func(c *Config) bool { return c.Interface.ListenPort == 1 }},
		{"key case", head + "LISTENPORT = 0\nfWmArK = 7", func(c *Config) bool { return c.Interface.FwMark == 7 }},
		{"ListenPort max", head + "ListenPort = 65535", func(c *Config) bool { return c.Interface.ListenPort == 65535 }},
		{"FwMark hex", head + "FwMark = 0xCa", func(c *Config) bool { return c.Interface.FwMark == 0xca }},
		{"FwMark 0X max", head + "FwMark = 0Xffffffff", func(c *Config) bool { return c.Interface.FwMark == 0xffffffff }},
		{"FwMark off", head + "FwMark = OFF", func(c *Config) bool { return c.Interface.FwMark == 0 }},
		{"FwMark decimal", head + "FwMark = 4294967295", func(c *Config) bool { return c.Interface.FwMark == 0xffffffff }},
		{"Address repeat, list, bare", head + "Address = 10.0.0.1/24 , 10.0.0.9\nAddress = fd00::1/64,fd00::2",
			func(c *Config) bool {
				return slices.Equal(c.Interface.Addresses, pfx("10.0.0.1/24", "10.0.0.9/32", "fd00::1/64", "fd00::2/128"))
			}},
		{"Address empty value", head + "Address =", func(c *Config) bool { return c.Interface.Addresses == nil }},
		{"DNS mixed", head + "DNS = 1.1.1.1,example.com\nDNS = 2606:4700::1111, lan., fe80::1%eth0",
			func(c *Config) bool {
				return slices.Equal(c.Interface.DNS, addrs("1.1.1.1", "2606:4700::1111", "fe80::1%eth0")) &&
					slices.Equal(c.Interface.DNSSearch, []string{"example.com", "lan."})
			}},
		{"MTU bounds", head + "MTU = 576", func(c *Config) bool { return c.Interface.MTU == 576 }},
		{"MTU max", head + "MTU = 65535", func(c *Config) bool { return c.Interface.MTU == 65535 }},
		{"Table off", head + "Table = Off", func(c *Config) bool { return c.Interface.Table == TableOff }},
		{"Table auto", head + "Table = AUTO", func(c *Config) bool { return c.Interface.Table == TableAuto }},
		{"Table number", head + "Table = 0051820", func(c *Config) bool { return c.Interface.Table == "51820" }},
		{"Table name", head + "Table = My_table-2", func(c *Config) bool { return c.Interface.Table == "My_table-2" }},
		{"hooks order", head + "PostUp = a\nPreUp = b = c\nPostUp = d ; e\nPostUp =\nPreDown = f\nPostDown = g",
			func(c *Config) bool {
				i := c.Interface
				return slices.Equal(i.PostUp, []string{"a", "d ; e"}) && slices.Equal(i.PreUp, []string{"b = c"}) &&
					slices.Equal(i.PreDown, []string{"f"}) && slices.Equal(i.PostDown, []string{"g"})
			}},
		{"SaveConfig", head + "SaveConfig = TRUE", func(c *Config) bool { return c.Interface.SaveConfig }},
		{"SaveConfig false", head + "SaveConfig = false", func(c *Config) bool { return !c.Interface.SaveConfig }},
		{"Cipher aes", head + "Cipher = AES-CBC\n" + peer,
			func(c *Config) bool {
				return c.Interface.Cipher == CipherAESCBC && c.Peers[0].Cipher == "" && c.PeerCipher(&c.Peers[0]) == CipherAESCBC
			}},
		{"peer Cipher override", "[Interface]\nCipher=aes-cbc\nPrivateKey=" + ourPrivB64 + "\n" + peer + "Cipher = chacha20poly1305\n",
			func(c *Config) bool {
				return c.Interface.Cipher == CipherAESCBC && c.PeerCipher(&c.Peers[0]) == CipherChaCha20Poly1305
			}},
		{"interface after peers", peer + "[Interface]\nPrivateKey = " + ourPrivB64,
			func(c *Config) bool { return len(c.Peers) == 1 && c.Peers[0].Line == 1 }},
		{"AllowedIPs masked, bare, repeat", head + peer + "AllowedIPs = 10.0.0.1/24, 10.9.9.9\nAllowedIPs=fd00::1/64 ,::1",
			func(c *Config) bool {
				return slices.Equal(c.Peers[0].AllowedIPs, pfx("10.0.0.0/24", "10.9.9.9/32", "fd00::/64", "::1/128"))
			}},
		{"AllowedIPs empty", head + peer + "AllowedIPs =", func(c *Config) bool { return c.Peers[0].AllowedIPs == nil }},
		{"AllowedIPs dedup within peer", head + peer + "AllowedIPs = 10.0.0.0/8, 10.1.2.3/8, 10.0.0.0/8",
			func(c *Config) bool { return slices.Equal(c.Peers[0].AllowedIPs, pfx("10.0.0.0/8")) }},
		{"AllowedIPs moves to last peer", head + peer + "AllowedIPs = 10.0.0.0/8, 10.1.0.0/16\n[Peer]\nPublicKey = " + peer2PubB64 + "\nAllowedIPs = 10.1.0.5/16",
			func(c *Config) bool {
				return slices.Equal(c.Peers[0].AllowedIPs, pfx("10.0.0.0/8")) && slices.Equal(c.Peers[1].AllowedIPs, pfx("10.1.0.0/16"))
			}},
		{"Endpoint v4", head + peer + "Endpoint = 192.0.2.1:51820", func(c *Config) bool { return c.Peers[0].Endpoint == "192.0.2.1:51820" }},
		{"Endpoint v6", head + peer + "Endpoint = [2001:db8::1]:1", func(c *Config) bool { return c.Peers[0].Endpoint == "[2001:db8::1]:1" }},
		{"Endpoint v6 zone", head + peer + "Endpoint = [fe80::1%eth0]:65535", func(c *Config) bool { return c.Peers[0].Endpoint == "[fe80::1%eth0]:65535" }},
		{"Endpoint host", head + peer + "Endpoint = Vpn-1.Example.COM:443", func(c *Config) bool { return c.Peers[0].Endpoint == "Vpn-1.Example.COM:443" }},
		{"Keepalive off", head + peer + "PersistentKeepalive = Off", func(c *Config) bool { return c.Peers[0].PersistentKeepalive == 0 }},
		{"Keepalive max", head + peer + "PersistentKeepalive = 65535", func(c *Config) bool { return c.Peers[0].PersistentKeepalive == 65535 }},
		{"peer without AllowedIPs", head + peer + peer2Section(), func(c *Config) bool { return len(c.Peers) == 2 }},
		{"PresharedKey zero", head + peer + "PresharedKey = " + strings.Repeat("A", 43) + "=", func(c *Config) bool { return c.Peers[0].PresharedKey.IsZero() }},
		{"value with equals", head + "PostUp = echo a=b==c", func(c *Config) bool { return c.Interface.PostUp[0] == "echo a=b==c" }},
		{"non-canonical base64 padding bits", "[Interface]\nPrivateKey = " + ourPrivB64[:42] + flipLowBits(ourPrivB64[42]) + "=",
			func(c *Config) bool { return c.Interface.PrivateKey.Equal(ourPriv) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustParse(t, tt.text)
			if !tt.check(c) {
				t.Fatalf("unexpected result for:\n%s\n=> %+v", tt.text, c)
			}
			roundTrip(t, c)
		})
	}
}

func peer2Section() string { return "[Peer]\nPublicKey = " + peer2PubB64 + "\n" }

// flipLowBits returns the base64 character whose value differs from c's only
// in the two low bits, which a 32-byte key does not use.
func flipLowBits(c byte) string {
	const alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	i := strings.IndexByte(alpha, c)
	return string(alpha[i^3])
}

func TestDefaults(t *testing.T) {
	c := mustParse(t, minimal+ourPrivB64)
	want := &Config{Interface: Interface{PrivateKey: ourPriv, Table: TableAuto, Cipher: CipherChaCha20Poly1305}}
	if !c.Equal(want) || c.Name != "wg0.conf" || c.Peers != nil {
		t.Fatalf("got %+v", c)
	}
	// Equal compares effective values and is sensitive to each field.
	if !want.Equal(&Config{Interface: Interface{PrivateKey: ourPriv}}) {
		t.Error("Equal should treat empty Table/Cipher as defaults")
	}
	mut := []func(*Config){
		func(c *Config) { c.Interface.PrivateKey[0] ^= 1 },
		func(c *Config) { c.Interface.ListenPort = 1 },
		func(c *Config) { c.Interface.FwMark = 1 },
		func(c *Config) { c.Interface.Addresses = pfx("10.0.0.1/32") },
		func(c *Config) { c.Interface.DNS = addrs("10.0.0.1") },
		func(c *Config) { c.Interface.DNSSearch = []string{"a"} },
		func(c *Config) { c.Interface.MTU = 1280 },
		func(c *Config) { c.Interface.Table = "off" },
		func(c *Config) { c.Interface.PreUp = []string{"x"} },
		func(c *Config) { c.Interface.PostUp = []string{"x"} },
		func(c *Config) { c.Interface.PreDown = []string{"x"} },
		func(c *Config) { c.Interface.PostDown = []string{"x"} },
		func(c *Config) { c.Interface.SaveConfig = true },
		func(c *Config) { c.Interface.Cipher = CipherAESCBC },
		func(c *Config) { c.Peers = []Peer{{}} },
	}
	for i, m := range mut {
		d := want.Clone()
		m(d)
		if want.Equal(d) || d.Equal(want) {
			t.Errorf("mutation %d not detected by Equal", i)
		}
	}
	p := Peer{PublicKey: Key{1}, AllowedIPs: pfx("10.0.0.0/8"), Endpoint: "a:1", PersistentKeepalive: 5, Cipher: CipherAESCBC, Line: 3}
	pm := []func(*Peer){
		func(p *Peer) { p.PublicKey[1] = 1 },
		func(p *Peer) { p.PresharedKey[0] = 1 },
		func(p *Peer) { p.AllowedIPs = nil },
		func(p *Peer) { p.Endpoint = "a:2" },
		func(p *Peer) { p.PersistentKeepalive = 0 },
		func(p *Peer) { p.Cipher = "" },
	}
	for i, m := range pm {
		q := p
		q.AllowedIPs = slices.Clone(p.AllowedIPs)
		m(&q)
		if p.Equal(&q) {
			t.Errorf("peer mutation %d not detected", i)
		}
	}
	q := p
	q.Line = 99
	if !p.Equal(&q) {
		t.Error("Equal must ignore Line")
	}
}

func TestSplitEndpoint(t *testing.T) {
	good := []struct {
		in   string
		host string
		port uint16
	}{
		{"1.2.3.4:51820", "1.2.3.4", 51820},
		{"[2001:db8::1]:1", "2001:db8::1", 1},
		{"[::ffff:1.2.3.4]:9", "::ffff:1.2.3.4", 9},
		{"example.com.:65535", "example.com.", 65535},
		{"localhost:0080", "localhost", 80},
	}
	for _, g := range good {
		h, p, err := SplitEndpoint(g.in)
		if err != nil || h != g.host || p != g.port {
			t.Errorf("SplitEndpoint(%q) = %q, %d, %v", g.in, h, p, err)
		}
	}
	for _, bad := range []string{"", "1.2.3.4", "1.2.3.4:0", "1.2.3.4:65536", "1.2.3.4:", ":51820",
		"2001:db8::1:51820", "[2001:db8::1]51820", "[2001:db8::1:51820", "[1.2.3.4]:5", "[host]:5",
		"1.2.3:5", "01.2.3.4:5", "a b:5", "a..b:5", "host:+5", "host:-5", "host:http", "[::1]:5:6",
		"-_-.:1x", strings.Repeat("a", 64) + ".com:1", "[fe80::1%a b]:5"} {
		_, _, err := SplitEndpoint(bad)
		if err == nil {
			t.Errorf("SplitEndpoint(%q) accepted", bad)
			continue
		}
		e, ok := err.(*Error)
		if !ok || e.Key != "Endpoint" || !strings.Contains(e.Msg, "\""+bad+"\"") && bad != "" {
			t.Errorf("SplitEndpoint(%q) error %v does not name the value", bad, err)
		}
	}
}

func TestKeysFoldASCIIOnly(t *testing.T) {
	// U+212A KELVIN SIGN lower-cases to 'k' under Unicode rules.
	_, err := Parse("wg0.conf", []byte("[Interface]\nPrivate\u212aey = "+ourPrivB64+"\n"))
	if err == nil {
		t.Fatal("a key spelled with the Kelvin sign was accepted")
	}
	_, err = Parse("wg0.conf", []byte("[Interface]\nPrivateKey = "+ourPrivB64+"\nSaveConfig = fal\u017fe\n"))
	if err == nil {
		t.Fatal("a boolean spelled with a long s was accepted")
	}
}
