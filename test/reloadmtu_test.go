// SPDX-License-Identifier: MIT

package test

import (
	"strings"
	"testing"
)

// TestReloadMTU: over an IPv6 underlay (the 80-byte overhead the automatic
// MTU leaves room for), a pair reloaded from chacha20poly1305 to aes-cbc
// gets aes-cbc's MTU (1408, a multiple of 16). With 1420 kept, aes-cbc pads
// a full-size packet to 1424 and the outer packet to 1504 bytes, which the
// data plane drops as too big, and TCP stalls. Then MTU = 1380 in the file
// applies as written.
func TestReloadMTU(t *testing.T) {
	prerequisites(t)
	tp := newTopology(t, true, false)
	write := func(extra string) (string, string) {
		return tp.writeConf(t, tp.ifA, tp.keyA, 51820, tp.innerA, tp.keyB.Public(), tp.innerB+"/32", endpoint(tp.underB, 51820), extra),
			tp.writeConf(t, tp.ifB, tp.keyB, 51820, tp.innerB, tp.keyA.Public(), tp.innerA+"/32", endpoint(tp.underA, 51820), extra)
	}
	confA, confB := write("")
	da := startWgbpfd(t, tp.a, confA, tp.ifA)
	db := startWgbpfd(t, tp.b, confB, tp.ifB)
	linkMTU := func() string {
		t.Helper()
		out := tp.a.MustRun(t, "ip", "-o", "link", "show", tp.ifA)
		f := strings.Fields(out[strings.Index(out, " mtu ")+5:])
		return f[0]
	}
	if got := linkMTU(); got != "1420" {
		t.Fatalf("MTU %s at start, want 1420", got)
	}
	reload := func() {
		t.Helper()
		da.reload(t)
		db.reload(t)
	}

	write("Cipher = aes-cbc\n")
	reload()
	if got := linkMTU(); got != "1408" {
		t.Errorf("MTU %s after the reload to aes-cbc, want 1408", got)
	}
	transferTCP(t, tp.a, tp.b, tp.innerB, 1<<20)

	write("Cipher = aes-cbc\nMTU = 1380\n")
	reload()
	if got := linkMTU(); got != "1380" {
		t.Errorf("MTU %s after MTU = 1380, want 1380", got)
	}
	transferTCP(t, tp.a, tp.b, tp.innerB, 1<<20)
}
