/* SPDX-License-Identifier: GPL-2.0 */
/* wire.h: the header layouts the packet path reads and writes, spelled out
 * here (byte arrays for addresses) so that no kernel networking header with
 * its bitfields and alignment is needed. */
#pragma once

#include "common.h"
#include "tunnel_defs.h"

#ifndef offsetof
#define offsetof(type, member) __builtin_offsetof(type, member)
#endif
#define wg_sizeof_field(type, member) sizeof(((type *)0)->member)

/* wg_ip4.frag_off: more fragments, fragment offset (host order). */
#define WG_IP_MF 0x2000
#define WG_IP_OFFSET 0x1fff

/* Byte-wise: the fields they read sit at any alignment in a buffer. */
static __always_inline void wg_put_be32(__u8 *p, __u32 v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

static __always_inline __u32 wg_get_be32(const __u8 *p)
{
	return ((__u32)p[0] << 24) | ((__u32)p[1] << 16) | ((__u32)p[2] << 8) | p[3];
}

static __always_inline __u32 wg_get_be16(const __u8 *p)
{
	return ((__u32)p[0] << 8) | p[1];
}

struct wg_eth {
	__u8 dst[6];
	__u8 src[6];
	__be16 proto;
} __attribute__((packed));

struct wg_ip4 {
	__u8 vihl;
	__u8 tos;
	__be16 tot_len;
	__be16 id;
	__be16 frag_off;
	__u8 ttl;
	__u8 protocol;
	__u16 check;
	__u8 saddr[4];
	__u8 daddr[4];
};

struct wg_ip6 {
	__be32 vtc_flow;
	__be16 payload_len;
	__u8 nexthdr;
	__u8 hop_limit;
	__u8 saddr[16];
	__u8 daddr[16];
};

struct wg_udp {
	__be16 source;
	__be16 dest;
	__be16 len;
	__u16 check;
};

/* WireGuard data message header; little-endian fields. */
struct wg_data_hdr {
	__u8 type;
	__u8 reserved[3];
	__u32 receiver;
	__u64 counter;
};

/* Outer headers as written in front of the ciphertext. Packed: after the
 * 28 bytes of IPv4 and UDP the 8-byte counter would otherwise be aligned
 * with 4 bytes of padding. */
struct wg_outer4 {
	struct wg_ip4 ip;
	struct wg_udp udp;
	struct wg_data_hdr data;
} __attribute__((packed));

struct wg_outer6 {
	struct wg_ip6 ip;
	struct wg_udp udp;
	struct wg_data_hdr data;
} __attribute__((packed));

#define WG_OUTER4_LEN (WG_IPV4_HLEN + WG_UDP_HLEN + WG_DATA_HEADER_LEN) /* 44 */
#define WG_OUTER6_LEN (WG_IPV6_HLEN + WG_UDP_HLEN + WG_DATA_HEADER_LEN) /* 64 */

_Static_assert(sizeof(struct wg_eth) == WG_ETH_HLEN, "wg_eth layout");
_Static_assert(sizeof(struct wg_ip4) == WG_IPV4_HLEN, "wg_ip4 layout");
_Static_assert(sizeof(struct wg_ip6) == WG_IPV6_HLEN, "wg_ip6 layout");
_Static_assert(sizeof(struct wg_udp) == WG_UDP_HLEN, "wg_udp layout");
_Static_assert(sizeof(struct wg_outer4) == WG_OUTER4_LEN, "wg_outer4 layout");
_Static_assert(sizeof(struct wg_outer6) == WG_OUTER6_LEN, "wg_outer6 layout");
_Static_assert(sizeof(struct wg_data_hdr) == WG_DATA_HEADER_LEN, "data header layout");
