// SPDX-License-Identifier: MIT

package uapi

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestAppendState(t *testing.T) {
	var priv, a, b, psk Key
	for i := range priv {
		priv[i], a[i], b[i], psk[i] = 0x01, 0xaa, 0xbb, 0xcc
	}
	st := &State{
		PrivateKey:   priv,
		ListenPort:   51820,
		FirewallMark: 0,
		Peers: []PeerState{
			{
				PublicKey:           a,
				PresharedKey:        psk,
				Endpoint:            netip.MustParseAddrPort("[2001:db8::1]:1234"),
				PersistentKeepalive: 25,
				AllowedIPs:          mustPrefixes(t, "10.0.0.0/24", "fd00::/64"),
				LastHandshake:       time.Unix(1700000000, 123456789),
				TxBytes:             1 << 40,
				RxBytes:             7,
			},
			{PublicKey: b},
		},
	}
	want := "private_key=" + strings.Repeat("01", 32) + "\n" +
		"listen_port=51820\n" +
		"public_key=" + strings.Repeat("aa", 32) + "\n" +
		"preshared_key=" + strings.Repeat("cc", 32) + "\n" +
		"protocol_version=1\n" +
		"endpoint=[2001:db8::1]:1234\n" +
		"last_handshake_time_sec=1700000000\n" +
		"last_handshake_time_nsec=123456789\n" +
		"tx_bytes=1099511627776\n" +
		"rx_bytes=7\n" +
		"persistent_keepalive_interval=25\n" +
		"allowed_ip=10.0.0.0/24\n" +
		"allowed_ip=fd00::/64\n" +
		"public_key=" + strings.Repeat("bb", 32) + "\n" +
		"protocol_version=1\n" +
		"last_handshake_time_sec=0\n" +
		"last_handshake_time_nsec=0\n" +
		"tx_bytes=0\n" +
		"rx_bytes=0\n" +
		"persistent_keepalive_interval=0\n"
	if got := string(AppendState(nil, st)); got != want {
		t.Fatalf("AppendState =\n%s\nwant\n%s", got, want)
	}

	st2 := &State{FirewallMark: 3}
	if got := string(AppendState(nil, st2)); got != "fwmark=3\n" {
		t.Fatalf("interface without key and port: %q", got)
	}
}
