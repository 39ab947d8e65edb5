// SPDX-License-Identifier: MIT

package main

import (
	"bytes"
	"errors"
	"runtime/debug"
	"strings"
	"testing"
)

// TestKeyCommands: genkey, genpsk and pubkey as in wg(8), and a stray
// argument after one of them is refused (exit 2) instead of ignored.
func TestKeyCommands(t *testing.T) {
	var priv, pub, psk bytes.Buffer
	if err := run([]string{"genkey"}, nil, &priv, nil); err != nil || priv.Len() != 45 {
		t.Fatalf("genkey: %q, %v", priv.String(), err)
	}
	if err := run([]string{"pubkey"}, strings.NewReader(priv.String()), &pub, nil); err != nil || pub.Len() != 45 || pub.String() == priv.String() {
		t.Fatalf("pubkey: %q, %v", pub.String(), err)
	}
	if err := run([]string{"genpsk"}, nil, &psk, nil); err != nil || psk.Len() != 45 {
		t.Fatalf("genpsk: %q, %v", psk.String(), err)
	}
	for _, cmd := range []string{"genkey", "genpsk", "pubkey"} {
		var out bytes.Buffer
		err := run([]string{cmd, "extra"}, strings.NewReader(priv.String()), &out, nil)
		var ee *exitError
		if !errors.As(err, &ee) || ee.code != 2 || !strings.Contains(err.Error(), `takes no arguments, got "extra"`) || out.Len() != 0 {
			t.Errorf("%s extra: %v, printed %q; want exit 2 and nothing printed", cmd, err, out.String())
		}
	}
}

// TestFlagErrors: mistakes in the flags stop the daemon with exit 2 and a
// message naming the offending value, before it brings anything up (run
// returns before daemon.Run, which would need root).
func TestFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-c", "/etc/wireguard/averyveryverylongname.conf"}, `interface name "averyveryverylongname": want 1-15 characters of [a-zA-Z0-9_=+.-], from the file name averyveryverylongname.conf (name one with -i)`},
		{[]string{"-c", "wg0.conf", "-i", "wg/0"}, `-i: interface name "wg/0": want 1-15 characters`},
		{[]string{"-c", "wg0.conf", "--log-level", "loud"}, `--log-level "loud": want debug, info, warn or error`},
		{[]string{"-c", "wg0.conf", "--metrics", "9586"}, `--metrics "9586": want host:port`},
		{[]string{"-c", "wg0.conf", "--metrics", "127.0.0.1:99999"}, `--metrics "127.0.0.1:99999": port "99999": want 1-65535`},
		{[]string{"-c", "wg0.conf", "--metrics", "127.0.0.1:0"}, `--metrics "127.0.0.1:0": port 0: want 1-65535`},
		{[]string{"-c", "wg0.conf", "--metrics", "[::1:9586"}, `--metrics "[::1:9586": want host:port`},
		{[]string{"-c", "wg0.conf", "stray"}, `unexpected argument "stray"`},
		{[]string{"-i", "wg0"}, `-c FILE is required`},
	} {
		var stderr bytes.Buffer
		err := run(tc.args, nil, nil, &stderr)
		var ee *exitError
		if !errors.As(err, &ee) || ee.code != 2 || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("wgbpfd %s: %v; want exit 2 with %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}
	for _, ok := range []string{"127.0.0.1:9586", ":9586", "[::1]:9586", "localhost:http"} {
		if err := checkListenAddr(ok); err != nil {
			t.Errorf("--metrics %s refused: %v", ok, err)
		}
	}
}

// TestBuildVersion: the link-time version wins, then the module version,
// then the recorded commit; a build that records nothing is "dev".
func TestBuildVersion(t *testing.T) {
	vcs := func(rev, modified string) *debug.BuildInfo {
		bi := &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}
		bi.Settings = []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: modified}}
		return bi
	}
	for _, tc := range []struct {
		linked string
		bi     *debug.BuildInfo
		want   string
	}{
		{"v1.0.0-3-gabc1234", vcs("db295b93e0b89c7a13ac331704c046dac3a5c2fe", "false"), "v1.0.0-3-gabc1234"},
		{"", &debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"}}, "v1.2.3"},
		{"", vcs("db295b93e0b89c7a13ac331704c046dac3a5c2fe", "false"), "dev-db295b93e0b8"},
		{"", vcs("db295b93e0b89c7a13ac331704c046dac3a5c2fe", "true"), "dev-db295b93e0b8-dirty"},
		{"", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "dev"},
		{"", nil, "dev"},
	} {
		if got := buildVersion(tc.linked, tc.bi); got != tc.want {
			t.Errorf("buildVersion(%q, %+v) = %q, want %q", tc.linked, tc.bi, got, tc.want)
		}
	}
}
