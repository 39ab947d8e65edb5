// SPDX-License-Identifier: MIT

package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Marshal returns c in the wg-quick format. Fields at their defaults are
// left out (so a file without wgbpfd extensions stays readable by
// wg-quick). For a Config that passes Validate, Parse reads the output back
// to an Equal Config. Control characters in string values are replaced by
// spaces so that no value can start a new line.
//
// The keys are written only into the returned slice, which the caller
// wipes: the text is built with placeholders and the keys encoded into the
// final copy, so no string or outgrown buffer holds them.
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
	var secrets []*[KeyLen]byte
	var at []int
	secret := func(k string, key *[KeyLen]byte) {
		b.WriteString(k)
		b.WriteString(" = ")
		secrets, at = append(secrets, key), append(at, b.Len())
		b.WriteString(keyPlaceholder)
		b.WriteByte('\n')
	}
	in := &c.Interface
	b.WriteString("[Interface]\n")
	secret("PrivateKey", (*[KeyLen]byte)(&in.PrivateKey))
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
			secret("PresharedKey", (*[KeyLen]byte)(&p.PresharedKey))
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
	out := []byte(b.String())
	var text [keyTextLen]byte
	for i, key := range secrets {
		encodeKey(&text, key)
		copy(out[at[i]:], text[:])
	}
	clear(text[:])
	return out
}

// keyPlaceholder stands for a key while Marshal builds the text.
const keyPlaceholder = "********************************************"

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
// file in the same directory, synced, then renamed over path. The new file
// has the owner, group and mode of the one it replaces (path's target, if
// path is a symbolic link), or mode 0600 if there was none; while it is
// written it is 0600. If the owner cannot be kept, nothing is replaced.
func WriteFile(path string, c *Config) error {
	if err := c.Validate(); err != nil {
		return err
	}
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real
	}
	fail := func(err error) error { return fileError(path, err) }
	mode, uid, gid := fs.FileMode(0o600), -1, -1
	if st, err := os.Stat(path); err == nil {
		mode = st.Mode().Perm()
		if sys, ok := st.Sys().(*syscall.Stat_t); ok {
			uid, gid = int(sys.Uid), int(sys.Gid)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fail(err)
	}
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
	data := c.Marshal()
	defer clear(data)
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if uid >= 0 {
		if err := f.Chown(uid, gid); err != nil {
			return fail(fmt.Errorf("keeping owner %d:%d: %w", uid, gid, err))
		}
	}
	// After Chown, which may clear set-id bits.
	if err := f.Chmod(mode); err != nil {
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
