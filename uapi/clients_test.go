// SPDX-License-Identifier: MIT

package uapi

import (
	"context"
	"encoding/base64"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wgbpfd/wgbpfd/internal/testenv"
	"golang.zx2c4.com/wireguard/wgctrl"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// serveReal serves d on the real control socket of a unique interface name,
// where wg(8) and wgctrl look, and returns the name.
func serveReal(t *testing.T, d Device) string {
	t.Helper()
	testenv.RequireRoot(t)
	name := uniqueIfName(t)
	l, err := Listen(name)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, l, d, nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		os.Remove(SocketPath(name))
	})
	return name
}

func b64(k Key) string { return base64.StdEncoding.EncodeToString(k[:]) }

func pubOf(t *testing.T, priv Key) Key {
	pub, ok := publicKeyOf(priv)
	if !ok {
		t.Fatal("no public key")
	}
	return pub
}

// exampleState is a device with one fully configured peer and stats.
func exampleState(t *testing.T) (State, Key) {
	priv := randomPrivateKey(t)
	peer := randomKey(t)
	return State{
		PrivateKey: priv,
		ListenPort: 51820,
		Peers: []PeerState{{
			PublicKey:           peer,
			PresharedKey:        randomKey(t),
			Endpoint:            netip.MustParseAddrPort("192.0.2.1:51820"),
			PersistentKeepalive: 25,
			AllowedIPs:          mustPrefixes(t, "10.0.0.0/24", "fd00::/64"),
			LastHandshake:       time.Unix(1700000000, 5),
			TxBytes:             1 << 40,
			RxBytes:             7,
		}},
	}, peer
}

func TestWgctrl(t *testing.T) {
	st, peer := exampleState(t)
	f := &fakeDevice{st: st}
	name := serveReal(t, f)

	c, err := wgctrl.New()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	d, err := c.Device(name)
	if err != nil {
		t.Fatalf("wgctrl Device: %v", err)
	}
	p := st.Peers[0]
	if d.Name != name || d.Type != wgtypes.Userspace || d.PrivateKey != wgtypes.Key(st.PrivateKey) ||
		d.PublicKey != wgtypes.Key(pubOf(t, st.PrivateKey)) || d.ListenPort != 51820 || d.FirewallMark != 0 || len(d.Peers) != 1 {
		t.Fatalf("wgctrl device = %+v", d)
	}
	wp := d.Peers[0]
	if wp.PublicKey != wgtypes.Key(peer) || wp.PresharedKey != wgtypes.Key(p.PresharedKey) ||
		wp.Endpoint.String() != "192.0.2.1:51820" || wp.PersistentKeepaliveInterval != 25*time.Second ||
		!wp.LastHandshakeTime.Equal(p.LastHandshake) || wp.TransmitBytes != 1<<40 || wp.ReceiveBytes != 7 ||
		wp.ProtocolVersion != 1 || len(wp.AllowedIPs) != 2 ||
		wp.AllowedIPs[0].String() != "10.0.0.0/24" || wp.AllowedIPs[1].String() != "fd00::/64" {
		t.Fatalf("wgctrl peer = %+v", wp)
	}

	// Configure: new private key, port, fwmark; update the peer with
	// replace_allowed_ips; add a second peer; update_only for an absent
	// one.
	newPriv := randomPrivateKey(t)
	second, absent := randomKey(t), randomKey(t)
	port, mark := 4000, 0x10
	ka := 5 * time.Second
	zeroPSK := wgtypes.Key{}
	err = c.ConfigureDevice(name, wgtypes.Config{
		PrivateKey:   (*wgtypes.Key)(&newPriv),
		ListenPort:   &port,
		FirewallMark: &mark,
		Peers: []wgtypes.PeerConfig{
			{
				PublicKey:                   wgtypes.Key(peer),
				UpdateOnly:                  true,
				PresharedKey:                &zeroPSK,
				Endpoint:                    &net.UDPAddr{IP: net.ParseIP("2001:db8::9"), Port: 9},
				PersistentKeepaliveInterval: &ka,
				ReplaceAllowedIPs:           true,
				AllowedIPs:                  []net.IPNet{{IP: net.IPv4(10, 1, 0, 0), Mask: net.CIDRMask(16, 32)}},
			},
			{PublicKey: wgtypes.Key(second), AllowedIPs: []net.IPNet{{IP: net.IPv4(10, 2, 0, 0), Mask: net.CIDRMask(16, 32)}}},
			{PublicKey: wgtypes.Key(absent), UpdateOnly: true},
		},
	})
	if err != nil {
		t.Fatalf("ConfigureDevice: %v", err)
	}
	got := f.state()
	want := State{
		PrivateKey: newPriv, ListenPort: 4000, FirewallMark: 0x10,
		Peers: []PeerState{
			{
				PublicKey: peer, Endpoint: netip.MustParseAddrPort("[2001:db8::9]:9"), PersistentKeepalive: 5,
				AllowedIPs:    mustPrefixes(t, "10.1.0.0/16"),
				LastHandshake: p.LastHandshake, TxBytes: p.TxBytes, RxBytes: p.RxBytes,
			},
			{PublicKey: second, AllowedIPs: mustPrefixes(t, "10.2.0.0/16")},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("state after ConfigureDevice =\n%+v\nwant\n%+v", got, want)
	}

	// Remove and replace_peers.
	if err := c.ConfigureDevice(name, wgtypes.Config{Peers: []wgtypes.PeerConfig{{PublicKey: wgtypes.Key(peer), Remove: true}}}); err != nil {
		t.Fatal(err)
	}
	if got := f.state(); len(got.Peers) != 1 || got.Peers[0].PublicKey != second {
		t.Fatalf("after remove: %+v", got.Peers)
	}
	if err := c.ConfigureDevice(name, wgtypes.Config{ReplacePeers: true}); err != nil {
		t.Fatal(err)
	}
	if got := f.state(); len(got.Peers) != 0 {
		t.Fatalf("after replace_peers: %+v", got.Peers)
	}

	// A device error reaches wgctrl as an error.
	f.mu.Lock()
	f.setErr = Errorf(ErrnoPortInUse, "port taken")
	f.mu.Unlock()
	if err := c.ConfigureDevice(name, wgtypes.Config{ListenPort: &port}); err == nil || !strings.Contains(err.Error(), "errno=-98") {
		t.Fatalf("ConfigureDevice with a failing device: %v", err)
	}
}

// wg runs wg(8) and returns its standard output.
func wg(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("wg", args...).Output()
	if err != nil {
		stderr := ""
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("wg %s: %v: %s", strings.Join(args, " "), err, stderr)
	}
	return string(out)
}

func TestWgTool(t *testing.T) {
	testenv.RequireTool(t, "wg")
	st, peer := exampleState(t)
	f := &fakeDevice{st: st}
	name := serveReal(t, f)
	p := st.Peers[0]
	pub := pubOf(t, st.PrivateKey)

	t.Run("show dump", func(t *testing.T) {
		want := b64(st.PrivateKey) + "\t" + b64(pub) + "\t51820\toff\n" +
			b64(peer) + "\t" + b64(p.PresharedKey) + "\t192.0.2.1:51820\t10.0.0.0/24,fd00::/64\t1700000000\t7\t1099511627776\t25\n"
		if got := wg(t, "show", name, "dump"); got != want {
			t.Fatalf("wg show dump =\n%q\nwant\n%q", got, want)
		}
	})
	t.Run("show", func(t *testing.T) {
		got := wg(t, "show", name)
		for _, s := range []string{
			"interface: " + name, "public key: " + b64(pub), "private key: (hidden)", "listening port: 51820",
			"peer: " + b64(peer), "preshared key: (hidden)", "endpoint: 192.0.2.1:51820",
			"allowed ips: 10.0.0.0/24, fd00::/64", "transfer: 7 B received, 1.00 TiB sent",
			"persistent keepalive: every 25 seconds", "latest handshake: ",
		} {
			if !strings.Contains(got, s) {
				t.Errorf("wg show lacks %q:\n%s", s, got)
			}
		}
		if strings.Contains(got, b64(st.PrivateKey)) {
			t.Error("wg show printed the private key")
		}
	})
	t.Run("showconf", func(t *testing.T) {
		want := "[Interface]\nListenPort = 51820\nPrivateKey = " + b64(st.PrivateKey) + "\n\n" +
			"[Peer]\nPublicKey = " + b64(peer) + "\nPresharedKey = " + b64(p.PresharedKey) + "\n" +
			"AllowedIPs = 10.0.0.0/24, fd00::/64\nEndpoint = 192.0.2.1:51820\nPersistentKeepalive = 25\n"
		if got := wg(t, "showconf", name); got != want {
			t.Fatalf("wg showconf =\n%s\nwant\n%s", got, want)
		}
	})
	t.Run("set peer", func(t *testing.T) {
		k := randomKey(t)
		wg(t, "set", name, "peer", b64(k), "allowed-ips", "10.7.0.0/16,fd07::/64", "endpoint", "198.51.100.7:4242", "persistent-keepalive", "off")
		got, ok := f.peer(k)
		want := PeerState{PublicKey: k, Endpoint: netip.MustParseAddrPort("198.51.100.7:4242"), AllowedIPs: mustPrefixes(t, "10.7.0.0/16", "fd07::/64")}
		if !ok || !reflect.DeepEqual(got, want) {
			t.Fatalf("peer after wg set = %+v, want %+v", got, want)
		}
		// allowed-ips replaces the list.
		wg(t, "set", name, "peer", b64(k), "allowed-ips", "10.8.0.0/16")
		if got, _ := f.peer(k); !reflect.DeepEqual(sortedPrefixes(got.AllowedIPs), []string{"10.8.0.0/16"}) {
			t.Fatalf("allowed ips after second wg set = %v", got.AllowedIPs)
		}
		wg(t, "set", name, "peer", b64(k), "remove")
		if _, ok := f.peer(k); ok {
			t.Fatal("peer still present after wg set remove")
		}
	})
	t.Run("set interface", func(t *testing.T) {
		newPriv := randomPrivateKey(t)
		keyFile := filepath.Join(t.TempDir(), "key")
		if err := os.WriteFile(keyFile, []byte(b64(newPriv)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		wg(t, "set", name, "listen-port", "4321", "fwmark", "0x20", "private-key", keyFile)
		got := f.state()
		if got.PrivateKey != newPriv || got.ListenPort != 4321 || got.FirewallMark != 0x20 {
			t.Fatalf("interface after wg set: port %d mark %#x key match %v", got.ListenPort, got.FirewallMark, got.PrivateKey == newPriv)
		}
	})
	t.Run("syncconf", func(t *testing.T) {
		newPriv := randomPrivateKey(t)
		other := randomKey(t)
		conf := "[Interface]\nPrivateKey = " + b64(newPriv) + "\nListenPort = 6000\n\n" +
			"[Peer]\nPublicKey = " + b64(peer) + "\nAllowedIPs = 10.0.0.0/24\nEndpoint = 192.0.2.1:51820\n\n" +
			"[Peer]\nPublicKey = " + b64(other) + "\nAllowedIPs = 10.3.0.0/16, fd03::/64\n"
		file := filepath.Join(t.TempDir(), "wg.conf")
		if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		// A peer that is not in the file must go.
		stray := randomKey(t)
		wg(t, "set", name, "peer", b64(stray), "allowed-ips", "10.99.0.0/16")

		wg(t, "syncconf", name, file)
		got := f.state()
		if got.PrivateKey != newPriv || got.ListenPort != 6000 {
			t.Fatalf("interface after syncconf: port %d, key match %v", got.ListenPort, got.PrivateKey == newPriv)
		}
		if len(got.Peers) != 2 {
			t.Fatalf("%d peers after syncconf, want 2: %+v", len(got.Peers), got.Peers)
		}
		kept, ok := f.peer(peer)
		if !ok || !reflect.DeepEqual(sortedPrefixes(kept.AllowedIPs), []string{"10.0.0.0/24"}) ||
			kept.RxBytes != 7 || kept.PresharedKey != p.PresharedKey || kept.PersistentKeepalive != 25 {
			// wg syncconf sends only what the file sets for a peer that
			// stays, so its preshared key and keepalive are kept.
			t.Fatalf("kept peer after syncconf = %+v", kept)
		}
		added, ok := f.peer(other)
		if !ok || !reflect.DeepEqual(sortedPrefixes(added.AllowedIPs), []string{"10.3.0.0/16", "fd03::/64"}) {
			t.Fatalf("added peer after syncconf = %+v", added)
		}
	})
	t.Run("device error", func(t *testing.T) {
		f.mu.Lock()
		f.setErr = Errorf(ErrnoPortInUse, "port taken")
		f.mu.Unlock()
		defer func() {
			f.mu.Lock()
			f.setErr = nil
			f.mu.Unlock()
		}()
		cmd := exec.Command("wg", "set", name, "listen-port", "1")
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Fatal("wg set succeeded against a failing device")
		}
		// wg negates the errno it reads: the strerror proves the sign.
		if !strings.Contains(string(out), "Address already in use") {
			t.Fatalf("wg set output = %q, want EADDRINUSE's message", out)
		}
	})
}
