// SPDX-License-Identifier: MIT

package dataplane

import (
	"encoding/binary"
	"testing"

	"github.com/cilium/ebpf/btf"
)

// TestTunnelLayouts: the types bpf2go generated (-type in doc.go) have the
// sizes of their C definitions in the object's BTF, and the maps' key and
// value sizes (no root needed: read from the ELF). binary.Size, not
// unsafe.Sizeof: it is what the map and ring codecs read and write.
func TestTunnelLayouts(t *testing.T) {
	spec, err := loadWgbpf()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		c string
		v any
	}{
		{"wg_ifconfig", wgIfconfig{}},
		{"wg_endpoint", wgEndpoint{}},
		{"wg_peer", wgPeer{}},
		{"wg_peer_stats", wgPeerStats{}},
		{"wg_lpm_v4", wgLPM4{}},
		{"wg_lpm_v6", wgLPM6{}},
		{"wg_event", wgEvent{}},
		{"wg_install_args", installArgs{}},
		{"wg_index_args", indexArgs{}},
		{"wg_probe_args", probeArgs{}},
		{"wg_commit_args", wgbpfWgCommitArgs{}},
		{"wg_local_addr", wgbpfWgLocalAddr{}},
		{"wg_session", wgbpfWgSession{}},
		{"wg_wrap_frame", wrapFrame{}},
		{"wgbpfd_peer_info", wgPeerInfo{}},
	} {
		var st *btf.Struct
		if err := spec.Types.TypeByName(c.c, &st); err != nil {
			t.Errorf("struct %s: %v", c.c, err)
			continue
		}
		if got := binary.Size(c.v); got != int(st.Size) {
			t.Errorf("%T is %d bytes, struct %s %d", c.v, got, c.c, st.Size)
		}
	}
	for _, c := range []struct {
		m       string
		key, vs any
	}{
		{"peers", uint32(0), wgPeer{}},
		{"peer_stats", uint32(0), wgPeerStats{}},
		{"ifconfig", uint32(0), wgIfconfig{}},
		{"allowed_v4", wgLPM4{}, uint32(0)},
		{"allowed_v6", wgLPM6{}, uint32(0)},
		{"local_addrs", wgbpfWgLocalAddr{}, uint8(0)},
		{"wgbpfd_peers", [32]byte{}, wgPeerInfo{}},
	} {
		ms := spec.Maps[c.m]
		if ms == nil {
			t.Fatalf("map %s missing", c.m)
		}
		if k, v := binary.Size(c.key), binary.Size(c.vs); uint32(k) != ms.KeySize || uint32(v) != ms.ValueSize {
			t.Errorf("%s: Go key/value %d/%d bytes, C %d/%d", c.m, k, v, ms.KeySize, ms.ValueSize)
		}
	}
}

func TestTunnelMTU(t *testing.T) {
	for _, c := range []struct {
		suite    uint8
		underlay int
		want     int
	}{
		{SuiteChaCha20Poly1305, 1500, 1420},
		{SuiteAESCBC, 1500, 1408},
		{SuiteChaCha20Poly1305, 9000, MaxPadded},
		{SuiteAESCBC, 1280 + 80, 1280},
	} {
		if got := DefaultMTU(c.suite, c.underlay); got != c.want {
			t.Errorf("DefaultMTU(%d, %d) = %d, want %d", c.suite, c.underlay, got, c.want)
		}
	}
	// A full-size packet fits the underlay in either family, either suite.
	for _, suite := range []uint8{SuiteChaCha20Poly1305, SuiteAESCBC} {
		mtu := DefaultMTU(suite, 1500)
		for n := mtu - 20; n <= mtu; n++ {
			if l := OuterLen(suite, n, mtu, true); l > 1500 {
				t.Errorf("suite %d: %d inner bytes make a %d-byte IPv6 packet", suite, n, l)
			}
		}
	}
	if PaddedLen(SuiteChaCha20Poly1305, 1419, 1420) != 1420 || PaddedLen(SuiteAESCBC, 1401, 1408) != 1408 ||
		PaddedLen(SuiteChaCha20Poly1305, 1, 1420) != 16 || PaddedLen(SuiteChaCha20Poly1305, 0, 1420) != 0 {
		t.Error("PaddedLen disagrees with WireGuard's padding")
	}
}
