package config

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Marshal returns c in the wg-quick format. Fields at their defaults are
// left out (so a file without wgbpfd extensions stays readable by
// wg-quick). For a Config that passes Validate, Parse reads the output back
// to an Equal Config. Control characters in string values are replaced by
// spaces so that no value can start a new line.
func (c *Config) Marshal() []byte {
	if c == nil {
		return nil
	}
	var b strings.Builder
	kv := func(k, v string) {
		b.WriteString(k)
		b.WriteString(" = ")
		b.WriteString(clean(v))
		b.WriteByte('\n')
	}
	in := &c.Interface
	b.WriteString("[Interface]\n")
	kv("PrivateKey", base64.StdEncoding.EncodeToString(in.PrivateKey[:]))
	if in.ListenPort != 0 {
		kv("ListenPort", strconv.Itoa(in.ListenPort))
	}
	if in.FwMark != 0 {
		kv("FwMark", "0x"+strconv.FormatUint(uint64(in.FwMark), 16))
	}
	if len(in.Addresses) > 0 {
		s := make([]string, len(in.Addresses))
		for i, a := range in.Addresses {
			s[i] = a.String()
		}
		kv("Address", strings.Join(s, ", "))
	}
	if len(in.DNS)+len(in.DNSSearch) > 0 {
		s := make([]string, 0, len(in.DNS)+len(in.DNSSearch))
		for _, a := range in.DNS {
			s = append(s, a.String())
		}
		s = append(s, in.DNSSearch...)
		kv("DNS", strings.Join(s, ", "))
	}
	if in.MTU != 0 {
		kv("MTU", strconv.Itoa(in.MTU))
	}
	if in.Table != "" && in.Table != TableAuto {
		kv("Table", in.Table)
	}
	for _, h := range []struct {
		key  string
		list []string
	}{{"PreUp", in.PreUp}, {"PostUp", in.PostUp}, {"PreDown", in.PreDown}, {"PostDown", in.PostDown}} {
		for _, cmd := range h.list {
			kv(h.key, cmd)
		}
	}
	if in.SaveConfig {
		kv("SaveConfig", "true")
	}
	if in.Cipher != "" && in.Cipher != DefaultCipher {
		kv("Cipher", string(in.Cipher))
	}
	if in.Policy != "" {
		kv("Policy", in.Policy)
	}
	for i := range c.Peers {
		p := &c.Peers[i]
		b.WriteString("\n[Peer]\n")
		kv("PublicKey", p.PublicKey.String())
		if !p.PresharedKey.IsZero() {
			kv("PresharedKey", base64.StdEncoding.EncodeToString(p.PresharedKey[:]))
		}
		if len(p.AllowedIPs) > 0 {
			s := make([]string, len(p.AllowedIPs))
			for i, a := range p.AllowedIPs {
				s[i] = a.String()
			}
			kv("AllowedIPs", strings.Join(s, ", "))
		}
		if p.Endpoint != "" {
			kv("Endpoint", p.Endpoint)
		}
		if p.PersistentKeepalive != 0 {
			kv("PersistentKeepalive", strconv.Itoa(p.PersistentKeepalive))
		}
		if p.Cipher != "" {
			kv("Cipher", string(p.Cipher))
		}
	}
	return []byte(b.String())
}

// clean replaces ASCII control characters other than tab with spaces.
func clean(s string) string {
	if !hasControl(s) {
		return s
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 && r != '\t' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

// WriteFile validates c and writes it to path atomically: to a temporary
// file in the same directory with mode 0600, synced, then renamed over
// path.
func WriteFile(path string, c *Config) error {
	if err := c.Validate(); err != nil {
		return err
	}
	fail := func(err error) error { return fileError(path, err) }
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fail(err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return fail(err)
	}
	if _, err := f.Write(c.Marshal()); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fail(err)
	}
	ok = true
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}
