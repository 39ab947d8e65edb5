// SPDX-License-Identifier: MIT

package uapi

import (
	"bufio"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"syscall"
	"testing"
)

func parseString(s string) (*SetRequest, error) {
	return ParseSet(bufio.NewReader(strings.NewReader(s)))
}

func ptr[T any](v T) *T { return &v }

func TestParseSetEveryKey(t *testing.T) {
	priv := randomPrivateKey(t)
	pub1, pub2, psk := randomKey(t), randomKey(t), randomKey(t)
	req := "" +
		"private_key=" + hex.EncodeToString(priv[:]) + "\n" +
		"listen_port=51820\n" +
		"fwmark=4294967295\n" +
		"replace_peers=true\n" +
		"public_key=" + hex.EncodeToString(pub1[:]) + "\n" +
		"update_only=true\n" +
		"preshared_key=" + strings.ToUpper(hex.EncodeToString(psk[:])) + "\n" +
		"endpoint=[fe80::1%eth0]:51821\n" +
		"persistent_keepalive_interval=65535\n" +
		"replace_allowed_ips=true\n" +
		"allowed_ip=10.0.0.1/24\n" +
		"allowed_ip=-fd00::1/128\n" +
		"protocol_version=1\n" +
		"public_key=" + hex.EncodeToString(pub2[:]) + "\n" +
		"remove=true\n" +
		"\n"
	got, err := parseString(req)
	if err != nil {
		t.Fatalf("ParseSet: %v", err)
	}
	want := &SetRequest{
		PrivateKey:   &priv,
		ListenPort:   ptr(uint16(51820)),
		FirewallMark: ptr(uint32(4294967295)),
		ReplacePeers: true,
		Peers: []PeerOp{
			{
				PublicKey:           pub1,
				UpdateOnly:          true,
				PresharedKey:        &psk,
				Endpoint:            ptr(netip.MustParseAddrPort("[fe80::1%eth0]:51821")),
				PersistentKeepalive: ptr(uint16(65535)),
				ReplaceAllowedIPs:   true,
				AllowedIPs: []AllowedIPOp{
					{Prefix: netip.MustParsePrefix("10.0.0.0/24")},
					{Prefix: netip.MustParsePrefix("fd00::1/128"), Remove: true},
				},
			},
			{PublicKey: pub2, Remove: true},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ParseSet =\n%+v\nwant\n%+v", got, want)
	}
}

func TestParseSetPrivateKey(t *testing.T) {
	unclamped := Key{}
	for i := range unclamped {
		unclamped[i] = 0xff
	}
	clamped := unclamped
	clamped[0], clamped[31] = 0xf8, 0x7f
	zero := Key{}
	for _, tc := range []struct {
		name, value string
		want        Key
	}{
		{"clamped on parse", hex.EncodeToString(unclamped[:]), clamped},
		{"empty removes", "", zero},
		{"zero removes", strings.Repeat("0", 64), zero},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseString("private_key=" + tc.value + "\n\n")
			if err != nil {
				t.Fatal(err)
			}
			if got.PrivateKey == nil || *got.PrivateKey != tc.want {
				t.Fatalf("PrivateKey = %v, want %x", got.PrivateKey, tc.want)
			}
		})
	}
}

func TestParseSetEmptyRequest(t *testing.T) {
	got, err := parseString("\n")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, &SetRequest{}) {
		t.Fatalf("empty request parsed as %+v", got)
	}
}

// A replace_allowed_ips line discards the allowed_ip lines before it in the
// same peer op, as wireguard-go applies lines in order.
func TestParseSetReplaceAllowedIPsDiscardsEarlierLines(t *testing.T) {
	k := randomKey(t)
	got, err := parseString("public_key=" + hex.EncodeToString(k[:]) + "\nallowed_ip=10.0.0.0/8\nreplace_allowed_ips=true\nallowed_ip=10.1.0.0/16\n\n")
	if err != nil {
		t.Fatal(err)
	}
	want := []AllowedIPOp{{Prefix: netip.MustParsePrefix("10.1.0.0/16")}}
	if !got.Peers[0].ReplaceAllowedIPs || !reflect.DeepEqual(got.Peers[0].AllowedIPs, want) {
		t.Fatalf("peer op = %+v", got.Peers[0])
	}
}

func TestParseSetErrno(t *testing.T) {
	k := randomKey(t)
	peer := "public_key=" + hex.EncodeToString(k[:]) + "\n"
	for _, tc := range []struct {
		name, req string
		want      syscall.Errno
	}{
		{"line without equals", "listen_port\n\n", ErrnoProtocol},
		{"unknown interface key", "bogus=1\n\n", ErrnoInvalid},
		{"peer key before public_key", "endpoint=1.2.3.4:5\n\n", ErrnoInvalid},
		{"interface key after public_key", peer + "listen_port=1\n\n", ErrnoInvalid},
		{"unknown peer key", peer + "bogus=1\n\n", ErrnoInvalid},
		{"short private key", "private_key=abcd\n\n", ErrnoInvalid},
		{"non-hex private key", "private_key=" + strings.Repeat("g", 64) + "\n\n", ErrnoInvalid},
		{"base64 public key", "public_key=" + base64.StdEncoding.EncodeToString(k[:]) + "\n\n", ErrnoInvalid},
		{"listen_port too big", "listen_port=65536\n\n", ErrnoInvalid},
		{"listen_port negative", "listen_port=-1\n\n", ErrnoInvalid},
		{"listen_port empty", "listen_port=\n\n", ErrnoInvalid},
		{"fwmark too big", "fwmark=4294967296\n\n", ErrnoInvalid},
		{"fwmark hex", "fwmark=0x10\n\n", ErrnoInvalid},
		{"replace_peers false", "replace_peers=false\n\n", ErrnoInvalid},
		{"update_only yes", peer + "update_only=yes\n\n", ErrnoInvalid},
		{"remove false", peer + "remove=false\n\n", ErrnoInvalid},
		{"empty preshared key", peer + "preshared_key=\n\n", ErrnoInvalid},
		{"long preshared key", peer + "preshared_key=" + strings.Repeat("0", 66) + "\n\n", ErrnoInvalid},
		{"endpoint without port", peer + "endpoint=1.2.3.4\n\n", ErrnoInvalid},
		{"endpoint hostname", peer + "endpoint=example.com:51820\n\n", ErrnoInvalid},
		{"endpoint v6 without brackets", peer + "endpoint=fd00::1:51820\n\n", ErrnoInvalid},
		{"keepalive too big", peer + "persistent_keepalive_interval=65536\n\n", ErrnoInvalid},
		{"replace_allowed_ips 1", peer + "replace_allowed_ips=1\n\n", ErrnoInvalid},
		{"allowed ip without length", peer + "allowed_ip=10.0.0.1\n\n", ErrnoInvalid},
		{"allowed ip bad length", peer + "allowed_ip=10.0.0.1/33\n\n", ErrnoInvalid},
		{"allowed ip only minus", peer + "allowed_ip=-\n\n", ErrnoInvalid},
		{"allowed ip with zone", peer + "allowed_ip=fe80::1%eth0/128\n\n", ErrnoInvalid},
		{"protocol_version 2", peer + "protocol_version=2\n\n", ErrnoInvalid},
		{"not terminated", "listen_port=1\n", ErrnoProtocol},
		{"ends inside a line", "listen_port=1", ErrnoProtocol},
		{"nothing at all", "", ErrnoProtocol},
		{"line too long", "listen_port=" + strings.Repeat("1", MaxLineBytes) + "\n\n", ErrnoIO},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseString(tc.req)
			if err == nil {
				t.Fatalf("ParseSet(%q) = %+v, want errno %d", tc.req, got, tc.want)
			}
			var e *Errno
			if !errors.As(err, &e) {
				t.Fatalf("error %v is %T, not *Errno", err, err)
			}
			if e.Code != tc.want || !errors.Is(err, tc.want) {
				t.Fatalf("errno = %d (%v), want %d", e.Code, err, tc.want)
			}
			if got != nil {
				t.Fatalf("request returned with the error: %+v", got)
			}
		})
	}
}

func TestParseSetTooLarge(t *testing.T) {
	line := "allowed_ip=10.0.0.0/8\n"
	k := randomKey(t)
	var b strings.Builder
	b.WriteString("public_key=" + hex.EncodeToString(k[:]) + "\n")
	for b.Len() <= MaxRequestBytes {
		b.WriteString(line)
	}
	b.WriteString("\n")
	_, err := parseString(b.String())
	if ErrnoOf(err) != ErrnoNoMemory {
		t.Fatalf("oversized request: err = %v, want ENOMEM", err)
	}
}

// After an invalid line the parser still consumes the request up to its
// empty line, so the stream is positioned at the next request.
func TestParseSetConsumesRestOfBadRequest(t *testing.T) {
	r := bufio.NewReader(strings.NewReader("bogus=1\nlisten_port=1\nmore garbage\n\nget=1\n\n"))
	if _, err := ParseSet(r); ErrnoOf(err) != ErrnoInvalid {
		t.Fatalf("err = %v, want EINVAL", err)
	}
	next, err := readLine(r, MaxLineBytes)
	if err != nil || next != "get=1" {
		t.Fatalf("next line = %q, %v; want get=1", next, err)
	}
}

// The first error of a request is the one reported.
func TestParseSetReportsFirstError(t *testing.T) {
	_, err := parseString("garbage\nbogus=1\n\n")
	if ErrnoOf(err) != ErrnoProtocol {
		t.Fatalf("err = %v, want EPROTO of the first line", err)
	}
}

// Key material never appears in an error message, even when a key is sent
// where it does not belong.
func TestParseSetErrorsHideKeys(t *testing.T) {
	k := randomKey(t)
	hk := hex.EncodeToString(k[:])
	bk := base64.StdEncoding.EncodeToString(k[:])
	peer := "public_key=" + hex.EncodeToString(randomKey(t).Bytes()) + "\n"
	for _, req := range []string{
		"private_key=" + hk + "0\n\n",
		"private_key=" + hk[:63] + "x\n\n",
		"private_key=" + bk + "\n\n",
		"listen_port=" + hk + "\n\n",
		"fwmark=" + bk + "\n\n",
		hk + "\n\n",
		bk + "\n\n",
		hk + "=1\n\n",
		peer + "preshared_key=" + hk + "00\n\n",
		peer + "endpoint=" + hk + "\n\n",
		peer + "allowed_ip=" + bk + "\n\n",
		peer + "endpoint=1.2.3.4:" + hk + "\n\n",
		peer + hk + "=" + hk + "\n\n",
	} {
		_, err := parseString(req)
		if err == nil {
			t.Fatalf("request %q accepted", req)
		}
		msg := err.Error()
		for i := 0; i+16 <= len(hk); i += 8 {
			if strings.Contains(msg, hk[i:i+16]) {
				t.Fatalf("error %q contains part of the hex key", msg)
			}
		}
		for i := 0; i+16 <= len(bk); i += 8 {
			if strings.Contains(msg, bk[i:i+16]) {
				t.Fatalf("error %q contains part of the base64 key", msg)
			}
		}
	}
}

func TestErrnoOf(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want syscall.Errno
	}{
		{nil, 0},
		{Errorf(ErrnoPortInUse, "port"), syscall.EADDRINUSE},
		{errors.Join(errors.New("x"), Errorf(ErrnoNoDevice, "gone")), syscall.ENODEV},
		{syscall.ENOMEM, syscall.ENOMEM},
		{errors.New("plain"), syscall.ENOANO},
	} {
		if got := ErrnoOf(tc.err); got != tc.want {
			t.Errorf("ErrnoOf(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
	if got := string(appendErrno(nil, Errorf(ErrnoInvalid, "x"))); got != "errno=-22\n\n" {
		t.Errorf("errno line = %q, want errno=-22 as wireguard-go writes it", got)
	}
	if got := string(appendErrno(nil, nil)); got != "errno=0\n\n" {
		t.Errorf("success line = %q", got)
	}
}
