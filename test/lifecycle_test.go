// SPDX-License-Identifier: MIT

package test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/wgbpfd/wgbpfd/config"
)

// TestHooksAndSaveConfig: PreUp/PostUp/PreDown/PostDown run with %i
// replaced, in order; with SaveConfig = true a peer added through `wg set`
// is in the file after SIGTERM, and the file still parses.
func TestHooksAndSaveConfig(t *testing.T) {
	prerequisites(t)
	tp := newTopology(t, false, false)
	trace := filepath.Join(tp.dir, "hooks.log")
	extra := "SaveConfig = true\n" +
		"PreUp = echo pre-up %i >> " + trace + "\n" +
		"PostUp = echo post-up %i >> " + trace + "\n" +
		"PreDown = echo pre-down %i >> " + trace + "\n" +
		"PostDown = echo post-down %i >> " + trace + "\n"
	confA := tp.writeConf(t, tp.ifA, tp.keyA, 51820, tp.innerA, tp.keyB.Public(), tp.innerB+"/32", endpoint(tp.underB, 51820), extra)
	da := startWgbpfd(t, tp.a, confA, tp.ifA)

	third, err := config.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	tp.a.MustRun(t, "wg", "set", tp.ifA, "peer", third.Public().String(), "allowed-ips", "10.77.9.0/24", "endpoint", "192.0.2.9:51820")
	if err := da.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("wgbpfd exited with %v\n%s", err, da.logText())
	}

	got, err := os.ReadFile(trace)
	if err != nil {
		t.Fatal(err)
	}
	want := "pre-up " + tp.ifA + "\npost-up " + tp.ifA + "\npre-down " + tp.ifA + "\npost-down " + tp.ifA + "\n"
	if string(got) != want {
		t.Errorf("hooks ran as\n%s\nwant\n%s", got, want)
	}

	saved, err := config.ParseFile(confA)
	if err != nil {
		t.Fatalf("the saved file does not parse: %v", err)
	}
	p := saved.Peer(third.Public())
	if p == nil {
		b, _ := os.ReadFile(confA)
		t.Fatalf("peer added with wg set is not in the saved file:\n%s", b)
	}
	if len(p.AllowedIPs) != 1 || p.AllowedIPs[0].String() != "10.77.9.0/24" || p.Endpoint != "192.0.2.9:51820" {
		t.Errorf("saved peer %v %q, want 10.77.9.0/24 at 192.0.2.9:51820", p.AllowedIPs, p.Endpoint)
	}
	if saved.Peer(tp.keyB.Public()) == nil || !saved.Interface.SaveConfig {
		t.Error("the saved file lost the original peer or SaveConfig")
	}
	if b, _ := os.ReadFile(confA); strings.Contains(string(b), "(hidden)") {
		t.Errorf("the saved file has a hidden placeholder instead of the key:\n%s", b)
	}
}
