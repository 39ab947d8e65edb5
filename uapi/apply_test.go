// SPDX-License-Identifier: MIT

package uapi

import (
	"bufio"
	"encoding/hex"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/curve25519"
)

// setText parses req (a set body ending in an empty line) and applies it to
// the fake.
func setText(t *testing.T, f *fakeDevice, req string) {
	t.Helper()
	r, err := ParseSet(bufio.NewReader(strings.NewReader(req)))
	if err != nil {
		t.Fatalf("ParseSet(%q): %v", req, err)
	}
	if err := f.Set(r); err != nil {
		t.Fatalf("Set: %v", err)
	}
}

func hx(k Key) string { return hex.EncodeToString(k[:]) }

func TestApplyInterfaceFields(t *testing.T) {
	f := &fakeDevice{}
	priv := randomPrivateKey(t)
	setText(t, f, "private_key="+hx(priv)+"\nlisten_port=51820\nfwmark=7\n\n")
	st := f.state()
	if st.PrivateKey != priv || st.ListenPort != 51820 || st.FirewallMark != 7 {
		t.Fatalf("state = %+v", st)
	}
	// Fields absent from a request stay; zero values clear.
	setText(t, f, "listen_port=1\n\n")
	if st := f.state(); st.PrivateKey != priv || st.ListenPort != 1 || st.FirewallMark != 7 {
		t.Fatalf("partial update changed other fields: %+v", st)
	}
	setText(t, f, "private_key=\nfwmark=0\n\n")
	if st := f.state(); !st.PrivateKey.IsZero() || st.FirewallMark != 0 || st.ListenPort != 1 {
		t.Fatalf("removal: %+v", st)
	}
}

func TestApplyPeerLifecycle(t *testing.T) {
	f := &fakeDevice{}
	a, b := randomKey(t), randomKey(t)
	psk := randomKey(t)

	setText(t, f, "public_key="+hx(a)+"\npreshared_key="+hx(psk)+"\nendpoint=192.0.2.1:51820\npersistent_keepalive_interval=25\nallowed_ip=10.0.0.1/32\nallowed_ip=fd00::/64\n"+
		"public_key="+hx(b)+"\nallowed_ip=10.0.0.2/32\n\n")
	pa, ok := f.peer(a)
	if !ok {
		t.Fatal("peer a not created")
	}
	want := PeerState{
		PublicKey: a, PresharedKey: psk,
		Endpoint:            netip.MustParseAddrPort("192.0.2.1:51820"),
		PersistentKeepalive: 25,
		AllowedIPs:          mustPrefixes(t, "10.0.0.1/32", "fd00::/64"),
	}
	if !reflect.DeepEqual(pa, want) {
		t.Fatalf("peer a = %+v\nwant %+v", pa, want)
	}

	// Update: add one prefix, remove one, clear the preshared key and
	// keepalive; the stats the device had are kept.
	f.mu.Lock()
	f.st.Peers[0].RxBytes, f.st.Peers[0].LastHandshake = 99, time.Unix(1000, 0)
	f.mu.Unlock()
	setText(t, f, "public_key="+hx(a)+"\npreshared_key="+strings.Repeat("0", 64)+"\npersistent_keepalive_interval=0\nallowed_ip=10.9.0.0/16\nallowed_ip=-fd00::/64\n\n")
	pa, _ = f.peer(a)
	if !pa.PresharedKey.IsZero() || pa.PersistentKeepalive != 0 || pa.RxBytes != 99 || !pa.LastHandshake.Equal(time.Unix(1000, 0)) {
		t.Fatalf("updated peer a = %+v", pa)
	}
	if got := sortedPrefixes(pa.AllowedIPs); !reflect.DeepEqual(got, []string{"10.0.0.1/32", "10.9.0.0/16"}) {
		t.Fatalf("allowed IPs after add/remove = %v", got)
	}

	// Removing a prefix the peer does not have changes nothing.
	setText(t, f, "public_key="+hx(a)+"\nallowed_ip=-172.16.0.0/12\n\n")
	pa, _ = f.peer(a)
	if got := sortedPrefixes(pa.AllowedIPs); !reflect.DeepEqual(got, []string{"10.0.0.1/32", "10.9.0.0/16"}) {
		t.Fatalf("allowed IPs after no-op removal = %v", got)
	}

	// replace_allowed_ips.
	setText(t, f, "public_key="+hx(a)+"\nreplace_allowed_ips=true\nallowed_ip=10.5.0.0/16\n\n")
	pa, _ = f.peer(a)
	if got := sortedPrefixes(pa.AllowedIPs); !reflect.DeepEqual(got, []string{"10.5.0.0/16"}) {
		t.Fatalf("allowed IPs after replace = %v", got)
	}
	// replace_allowed_ips alone clears them.
	setText(t, f, "public_key="+hx(a)+"\nreplace_allowed_ips=true\n\n")
	if pa, _ = f.peer(a); len(pa.AllowedIPs) != 0 {
		t.Fatalf("allowed IPs after empty replace = %v", pa.AllowedIPs)
	}

	// remove.
	setText(t, f, "public_key="+hx(a)+"\nremove=true\n\n")
	if _, ok := f.peer(a); ok {
		t.Fatal("peer a still present after remove")
	}
	if _, ok := f.peer(b); !ok {
		t.Fatal("peer b removed with a")
	}
	// Removing an unknown peer is not an error; the attributes after
	// remove are ignored.
	c := randomKey(t)
	setText(t, f, "public_key="+hx(c)+"\nremove=true\nendpoint=192.0.2.9:1\n\n")
	if _, ok := f.peer(c); ok {
		t.Fatal("remove created a peer")
	}
}

func TestApplyUpdateOnly(t *testing.T) {
	f := &fakeDevice{}
	a, b := randomKey(t), randomKey(t)
	setText(t, f, "public_key="+hx(a)+"\n\n")
	setText(t, f, "public_key="+hx(a)+"\nupdate_only=true\npersistent_keepalive_interval=5\n"+
		"public_key="+hx(b)+"\nupdate_only=true\npersistent_keepalive_interval=5\n\n")
	st := f.state()
	if len(st.Peers) != 1 || st.Peers[0].PublicKey != a || st.Peers[0].PersistentKeepalive != 5 {
		t.Fatalf("update_only: state = %+v (existing peer should be updated, new one not created)", st)
	}
}

func TestApplyReplacePeers(t *testing.T) {
	f := &fakeDevice{}
	a, b, c := randomKey(t), randomKey(t), randomKey(t)
	setText(t, f, "listen_port=9\npublic_key="+hx(a)+"\npublic_key="+hx(b)+"\n\n")
	setText(t, f, "replace_peers=true\npublic_key="+hx(c)+"\nallowed_ip=10.0.0.0/8\n\n")
	st := f.state()
	if len(st.Peers) != 1 || st.Peers[0].PublicKey != c || st.ListenPort != 9 {
		t.Fatalf("replace_peers: state = %+v", st)
	}
	setText(t, f, "replace_peers=true\n\n")
	if st := f.state(); len(st.Peers) != 0 {
		t.Fatalf("replace_peers with no peers left %d peers", len(st.Peers))
	}
}

// An allowed IP belongs to one peer: giving it to another moves it.
func TestApplyAllowedIPMovesBetweenPeers(t *testing.T) {
	f := &fakeDevice{}
	a, b := randomKey(t), randomKey(t)
	setText(t, f, "public_key="+hx(a)+"\nallowed_ip=10.0.0.0/24\nallowed_ip=10.0.1.0/24\npublic_key="+hx(b)+"\nallowed_ip=10.0.0.0/24\n\n")
	pa, _ := f.peer(a)
	pb, _ := f.peer(b)
	if !reflect.DeepEqual(sortedPrefixes(pa.AllowedIPs), []string{"10.0.1.0/24"}) ||
		!reflect.DeepEqual(sortedPrefixes(pb.AllowedIPs), []string{"10.0.0.0/24"}) {
		t.Fatalf("a = %v, b = %v", pa.AllowedIPs, pb.AllowedIPs)
	}
}

// A peer with the interface's own public key is ignored, and setting a
// private key removes a peer that has its public key.
func TestApplyOwnPublicKey(t *testing.T) {
	priv := randomPrivateKey(t)
	pubBytes, err := curve25519.X25519(priv[:], curve25519.Basepoint)
	if err != nil {
		t.Fatal(err)
	}
	pub := Key(pubBytes)
	f := &fakeDevice{}
	setText(t, f, "public_key="+hx(pub)+"\n\n")
	if _, ok := f.peer(pub); !ok {
		t.Fatal("peer not created while there is no private key")
	}
	setText(t, f, "private_key="+hx(priv)+"\n\n")
	if _, ok := f.peer(pub); ok {
		t.Fatal("peer with our own public key kept after private_key was set")
	}
	setText(t, f, "public_key="+hx(pub)+"\nallowed_ip=10.0.0.0/8\n\n")
	if st := f.state(); len(st.Peers) != 0 {
		t.Fatalf("peer with our own public key created: %+v", st.Peers)
	}
}

// The same public key twice in a request: ops apply in order.
func TestApplyRepeatedPeer(t *testing.T) {
	f := &fakeDevice{}
	a := randomKey(t)
	setText(t, f, "public_key="+hx(a)+"\nallowed_ip=10.0.0.0/8\npublic_key="+hx(a)+"\nremove=true\npublic_key="+hx(a)+"\nupdate_only=true\nallowed_ip=10.1.0.0/16\n\n")
	if _, ok := f.peer(a); ok {
		t.Fatal("peer exists: create, remove, update_only must leave it absent")
	}
}
