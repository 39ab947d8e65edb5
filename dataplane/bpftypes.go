// SPDX-License-Identifier: MIT

package dataplane

import "encoding/binary"

// Short names for the structs shared with the BPF object. bpf2go generates
// them from the C definitions (-type in doc.go), so their layout cannot
// drift from the kernel's; the C side asserts each size.
type (
	wgIfconfig  = wgbpfWgIfconfig  // struct wg_ifconfig (bpf/lib/peers.h)
	wgEndpoint  = wgbpfWgEndpoint  // struct wg_endpoint (bpf/lib/peers.h)
	wgPeer      = wgbpfWgPeer      // struct wg_peer (bpf/lib/peers.h)
	wgPeerStats = wgbpfWgPeerStats // struct wg_peer_stats (bpf/lib/peers.h)
	wgLPM4      = wgbpfWgLpmV4     // struct wg_lpm_v4 (bpf/lib/peers.h)
	wgLPM6      = wgbpfWgLpmV6     // struct wg_lpm_v6 (bpf/lib/peers.h)
	wgEvent     = wgbpfWgEvent     // struct wg_event (bpf/lib/events.h)
	installArgs = wgbpfWgInstallArgs
	indexArgs   = wgbpfWgIndexArgs
	probeArgs   = wgbpfWgProbeArgs
	wrapFrame   = wgbpfWgWrapFrame    // wg_wrap's input (bpf/lib/keys.h)
	wgPeerInfo  = wgbpfWgbpfdPeerInfo // struct wgbpfd_peer_info (include/wgbpfd/policy.h)
)

// htons and ntohs convert a __be16 field as the generated structs hold it
// (a uint16 in host order of the bytes in network order).
func htons(v uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	return binary.NativeEndian.Uint16(b[:])
}

func ntohs(v uint16) uint16 { return htons(v) }
