// SPDX-License-Identifier: MIT

package dataplane

import "github.com/wgbpfd/wgbpfd/keystore"

// MTU, overhead and padding, for both suites.
//
// A data message on the wire is
//
//	outer IP header   20 (IPv4) or 40 (IPv6)
//	UDP header         8
//	data header       16  type, reserved, receiver index, counter
//	ciphertext         P  the inner packet of length n, zero-padded to P
//	tag               16  Poly1305
//
// so the overhead is 60 bytes over IPv4 and 80 over IPv6, plus the padding
// P - n. The inner packet is at most the wg interface's MTU.
//
// ChaCha20-Poly1305 (WireGuard): P is n rounded up to a multiple of 16 but
// never above the MTU, so a full-size packet is not padded and the largest
// outer packet is MTU + 80. With a 1500-byte underlay that gives WireGuard's
// default MTU of 1420: room for IPv6 outer headers, with no padding.
//
// aes-cbc: CBC encrypts whole 16-byte blocks, so P is n rounded up to a
// multiple of 16 with no cap and a full-size packet can grow by up to 15
// bytes. Its default MTU is therefore the ChaCha20 one rounded down to a
// multiple of 16 (1420 → 1408 on a 1500-byte underlay), where padding is
// never needed for a full-size packet.
//
// The packet path drops (and counts as "too_big") an inner packet larger
// than the configured MTU, a padded payload larger than the BPF limit of
// 1536 bytes, and an outer packet the route's MTU cannot carry; it does not
// fragment.

// Header and trailer sizes of a data message.
const (
	OuterIPv4Len  = 20
	OuterIPv6Len  = 40
	UDPHeaderLen  = 8
	DataHeaderLen = 16
	TagLen        = 16
	// MaxPadded is the largest padded payload the BPF code handles
	// (WG_MAX_PADDED in bpf/lib/common.h).
	MaxPadded = 1536
)

// maxMTU is the largest wg MTU the packet path accepts: any bigger and a
// full-size packet cannot be encrypted in the kernel.
const maxMTU = MaxPadded

// Overhead is the bytes a data message adds to an inner packet, padding
// aside: 60 over IPv4, 80 over IPv6.
func Overhead(outerIPv6 bool) int {
	ip := OuterIPv4Len
	if outerIPv6 {
		ip = OuterIPv6Len
	}
	return ip + UDPHeaderLen + DataHeaderLen + TagLen
}

// PaddedLen is the encrypted length of an inner packet of n bytes under
// suite with the given MTU.
func PaddedLen(suite uint8, n, mtu int) int {
	return keystore.PaddedLen(keystore.Suite(suite), n, mtu)
}

// OuterLen is the length of the outer IP packet carrying n inner bytes.
func OuterLen(suite uint8, n, mtu int, outerIPv6 bool) int {
	return Overhead(outerIPv6) + PaddedLen(suite, n, mtu)
}

// DefaultMTU is the wg MTU that lets a full-size packet of either outer
// family through an underlay of underlayMTU bytes without fragmentation.
func DefaultMTU(suite uint8, underlayMTU int) int {
	m := underlayMTU - Overhead(true)
	if suite == SuiteAESCBC {
		m &^= 15
	}
	return min(m, maxMTU)
}
