// SPDX-License-Identifier: MIT

package test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wgbpfd/wgbpfd/config"
)

// TestWgTool drives a running wgbpfd with wg(8): show, show dump and
// showconf match the file (keys, port, preshared key, keepalive, allowed
// IPs, endpoints); `wg set ... allowed-ips` changes where packets go;
// `wg set ... remove` removes a peer and its traffic stops; `wg syncconf`
// with a file brings it back and leaves the untouched peer's session alone.
func TestWgTool(t *testing.T) {
	prerequisites(t)
	n := newLAN(t, "a", "b", "c")
	a, b, c := n[0], n[1], n[2]
	dir := t.TempDir()
	psk, err := config.GeneratePresharedKey()
	if err != nil {
		t.Fatal(err)
	}
	pskText := base64Std(psk[:])
	epB, epC := endpoint(b.under, 51820), endpoint(c.under, 51820)
	confA := filepath.Join(dir, a.ifname+".conf")
	writeFile(t, confA, fmt.Sprintf(`[Interface]
PrivateKey = %s
ListenPort = 51820
Address = %s/24

[Peer]
PublicKey = %s
PresharedKey = %s
AllowedIPs = %s/32, 10.99.2.0/24
Endpoint = %s
PersistentKeepalive = 25

[Peer]
PublicKey = %s
AllowedIPs = %s/32
Endpoint = %s
`, secret(a.key), a.inner, b.pub(), pskText, b.inner, epB, c.pub(), c.inner, epC))
	startWgbpfd(t, a.ns, confA, a.ifname)
	for _, x := range []*lanNode{b, c} {
		extra := ""
		if x == b {
			extra = "PresharedKey = " + pskText + "\n"
		}
		conf := filepath.Join(dir, x.ifname+".conf")
		writeFile(t, conf, fmt.Sprintf("[Interface]\nPrivateKey = %s\nListenPort = 51820\nAddress = %s/24\n\n[Peer]\nPublicKey = %s\n%sAllowedIPs = %s/32\nEndpoint = %s\n",
			secret(x.key), x.inner, a.pub(), extra, a.inner, endpoint(a.under, 51820)))
		startWgbpfd(t, x.ns, conf, x.ifname)
	}
	ping(t, a.ns, b.inner, 2)
	ping(t, a.ns, c.inner, 2)

	// wg show dump: exactly the file.
	iface, peers := wgDump(t, a.ns, a.ifname)
	if want := []string{secret(a.key), a.pub().String(), "51820", "off"}; !slices.Equal(iface, want) {
		t.Errorf("wg show dump interface line %q, want %q", iface, want)
	}
	kb, kc := b.pub().String(), c.pub().String()
	if len(peers) != 2 {
		t.Fatalf("wg show dump lists %d peers, want 2", len(peers))
	}
	if p := peers[kb]; p.endpoint != epB || !sameSet(p.allowedIPs, b.inner+"/32,10.99.2.0/24") || p.lastHandshake == 0 {
		t.Errorf("peer B in wg show dump: %+v", p)
	}
	if p := peers[kc]; p.endpoint != epC || p.allowedIPs != c.inner+"/32" || p.lastHandshake == 0 {
		t.Errorf("peer C in wg show dump: %+v", p)
	}
	dump := a.ns.MustRun(t, "wg", "show", a.ifname, "dump")
	for _, want := range []string{kb + "\t" + pskText + "\t", "\t25\n", kc + "\t(none)\t", "\toff\n"} {
		if !strings.Contains(dump, want) {
			t.Errorf("wg show dump lacks %q:\n%s", want, dump)
		}
	}
	human := a.ns.MustRun(t, "wg", "show", a.ifname)
	for _, want := range []string{"listening port: 51820", "preshared key: (hidden)", "persistent keepalive: every 25 seconds", "latest handshake"} {
		if !strings.Contains(human, want) {
			t.Errorf("wg show lacks %q:\n%s", want, human)
		}
	}

	// wg showconf parses back to the file's settings.
	shown, err := config.Parse("showconf", []byte(a.ns.MustRun(t, "wg", "showconf", a.ifname)))
	if err != nil {
		t.Fatalf("wg showconf output does not parse: %v", err)
	}
	file, err := config.ParseFile(confA)
	if err != nil {
		t.Fatal(err)
	}
	if !shown.Interface.PrivateKey.Equal(file.Interface.PrivateKey) || shown.Interface.ListenPort != 51820 || len(shown.Peers) != 2 {
		t.Errorf("wg showconf interface/peer count differ from the file")
	}
	for _, fp := range file.Peers {
		sp := shown.Peer(fp.PublicKey)
		if sp == nil {
			t.Errorf("wg showconf lacks peer %s", fp.PublicKey)
			continue
		}
		if !sp.PresharedKey.Equal(fp.PresharedKey) || sp.Endpoint != fp.Endpoint || sp.PersistentKeepalive != fp.PersistentKeepalive || !sameSet(prefixes(sp), prefixes(&fp)) {
			t.Errorf("wg showconf peer %s: endpoint %q keepalive %d allowed %s; file: %q %d %s",
				fp.PublicKey, sp.Endpoint, sp.PersistentKeepalive, prefixes(sp), fp.Endpoint, fp.PersistentKeepalive, prefixes(&fp))
		}
	}

	// wg set allowed-ips: a prefix added to C carries traffic to C.
	c.ns.MustRun(t, "ip", "addr", "add", "10.99.3.1/32", "dev", c.ifname)
	a.ns.MustRun(t, "ip", "route", "add", "10.99.3.0/24", "dev", a.ifname)
	noPing(t, a.ns, "10.99.3.1")
	a.ns.MustRun(t, "wg", "set", a.ifname, "peer", kc, "allowed-ips", c.inner+"/32,10.99.3.0/24")
	if out := a.ns.MustRun(t, "wg", "show", a.ifname, "allowed-ips"); !strings.Contains(out, kc+"\t"+c.inner+"/32 10.99.3.0/24") {
		t.Errorf("wg show allowed-ips after wg set:\n%s", out)
	}
	ping(t, a.ns, "10.99.3.1", 3)

	// wg set remove: C is gone and gets nothing more.
	_, before := wgDump(t, a.ns, a.ifname)
	a.ns.MustRun(t, "wg", "set", a.ifname, "peer", kc, "remove")
	_, cBefore := wgDump(t, c.ns, c.ifname)
	noPing(t, a.ns, c.inner)
	noPing(t, a.ns, "10.99.3.1")
	_, cAfter := wgDump(t, c.ns, c.ifname)
	ka := a.pub().String()
	if d := cAfter[ka].rx - cBefore[ka].rx; d != 0 {
		t.Errorf("C received %d bytes from A after A removed it", d)
	}
	_, after := wgDump(t, a.ns, a.ifname)
	if _, ok := after[kc]; ok || len(after) != 1 {
		t.Errorf("wg show dump after remove still lists C (%d peers)", len(after))
	}
	ping(t, a.ns, b.inner, 2)

	// wg syncconf: C back from a file, B's allowed IPs narrowed, B's
	// session kept.
	syncFile := filepath.Join(dir, "sync.conf")
	writeFile(t, syncFile, fmt.Sprintf("[Interface]\nPrivateKey = %s\nListenPort = 51820\n\n[Peer]\nPublicKey = %s\nPresharedKey = %s\nAllowedIPs = %s/32\nEndpoint = %s\nPersistentKeepalive = 25\n\n[Peer]\nPublicKey = %s\nAllowedIPs = %s/32\nEndpoint = %s\n",
		secret(a.key), kb, pskText, b.inner, epB, kc, c.inner, epC))
	a.ns.MustRun(t, "wg", "syncconf", a.ifname, syncFile)
	_, synced := wgDump(t, a.ns, a.ifname)
	if p, ok := synced[kc]; !ok || p.endpoint != epC || p.allowedIPs != c.inner+"/32" {
		t.Errorf("C after wg syncconf: %+v (present %v)", p, ok)
	}
	if p := synced[kb]; p.allowedIPs != b.inner+"/32" || p.lastHandshake != before[kb].lastHandshake {
		t.Errorf("B after wg syncconf: allowed %q (want %s/32), latest handshake %d → %d", p.allowedIPs, b.inner, before[kb].lastHandshake, p.lastHandshake)
	}
	waitPing(t, a.ns, c.inner, 10*time.Second)
	ping(t, a.ns, c.inner, 2)
	ping(t, a.ns, b.inner, 2)
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

func prefixes(p *config.Peer) string {
	var s []string
	for _, a := range p.AllowedIPs {
		s = append(s, a.String())
	}
	return strings.Join(s, ",")
}

// sameSet compares comma-separated lists regardless of order.
func sameSet(a, b string) bool {
	x, y := strings.Split(a, ","), strings.Split(b, ",")
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}
