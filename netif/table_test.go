// SPDX-License-Identifier: MIT

package netif

import (
	"os"
	"path/filepath"
	"testing"
)

func TestParseTable(t *testing.T) {
	dir := t.TempDir()
	etc := filepath.Join(dir, "etc_rt_tables")
	usr := filepath.Join(dir, "usr_rt_tables")
	write := func(p, s string) {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(etc, "# comment\n200 vpn\n0x10 hex\nbogus line\n")
	write(usr, "201 vpn\n202 distro\n")
	write(etc+".d/extra.conf", "300 extra # trailing comment\n")
	paths := []string{etc, usr, filepath.Join(dir, "missing")}

	good := map[string]Table{
		"":       {Mode: TableAuto},
		"auto":   {Mode: TableAuto},
		"off":    {Mode: TableOff},
		"1234":   {Mode: TableID, ID: 1234},
		"51820":  {Mode: TableID, ID: 51820},
		"main":   {Mode: TableID, ID: 254},
		"vpn":    {Mode: TableID, ID: 200}, // /etc wins over /usr/share
		"distro": {Mode: TableID, ID: 202},
		"extra":  {Mode: TableID, ID: 300},
		"hex":    {Mode: TableID, ID: 16},
	}
	for in, want := range good {
		got, err := parseTable(in, paths)
		if err != nil || got != want {
			t.Errorf("parseTable(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"0", "nosuch", "-1", "4294967296"} {
		if got, err := parseTable(bad, paths); err == nil {
			t.Errorf("parseTable(%q) = %+v, want error", bad, got)
		}
	}
	if s := (Table{Mode: TableID, ID: 7}).String(); s != "7" {
		t.Errorf("String = %q", s)
	}
}
