/* SPDX-License-Identifier: GPL-2.0 */
/* outer.h: does the stack accept this outer packet for a local socket?
 *
 * The ingress program takes a data message only if the kernel's own
 * receive path (ip_rcv, ip_route_input, ipv6_rcv) would have handed it to
 * the daemon's socket. Otherwise an attacker on the link could have the
 * data plane decrypt, deliver and roam on packets the host must ignore: a
 * frame to another host's address, a broadcast, a loopback source.
 *
 * wg_outer_check answers with one of:
 *   WG_OUTER_OURS    a unicast packet to one of this host's addresses from
 *                    an acceptable source, with a valid IPv4 header;
 *   WG_OUTER_STACK   not ours to judge: IPv4 options, or a destination that
 *                    is not local (the stack forwards it if this host
 *                    routes, and drops it otherwise);
 *   WG_OUTER_REFUSE  never valid WireGuard traffic and dropped by the stack
 *                    before any unicast socket (bad IPv4 header checksum,
 *                    martian or loopback source, broadcast, multicast or
 *                    loopback destination): dropped and counted here.
 *
 * "Local" is what the daemon mirrors into local_addrs from the namespace's
 * addresses (netlink); IPv4 addresses are stored v4-mapped (::ffff:a.b.c.d).
 * A route lookup cannot answer it: bpf_fib_lookup reports nothing but
 * FWD_DISABLED on a device that does not forward.
 */
#pragma once

#include "common.h"
#include "tunnel_defs.h"
#include "wire.h"

#define WG_OUTER_OURS 0
#define WG_OUTER_STACK 1
#define WG_OUTER_REFUSE 2

/* skb->pkt_type (linux/if_packet.h) */
#define WG_PACKET_BROADCAST 1
#define WG_PACKET_MULTICAST 2

struct wg_local_addr {
	__u8 addr[16];
};
_Static_assert(sizeof(struct wg_local_addr) == 16, "wg_local_addr: shared with Go");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct wg_local_addr);
	__type(value, __u8);
} local_addrs SEC(".maps");

/* ipv4_is_zeronet, _loopback, _multicast or _lbcast: neither a valid
 * source (martian) nor a unicast destination from the wire. */
static __always_inline int wg_v4_not_unicast(const __u8 *a)
{
	return a[0] == 0 || a[0] == 127 || (a[0] & 0xf0) == 0xe0 ||
	       (a[0] == 255 && a[1] == 255 && a[2] == 255 && a[3] == 255);
}

static __always_inline int wg_v6_unspecified_or_loopback(const __u8 *a)
{
	const __u32 *w = (const __u32 *)a;

	return !w[0] && !w[1] && !w[2] && (!w[3] || w[3] == bpf_htonl(1));
}

/* ::ffff:0:0/96, which ipv6_rcv refuses as a source (RFC 4291 2.5.5.2). */
static __always_inline int wg_v6_v4mapped(const __u8 *a)
{
	const __u32 *w = (const __u32 *)a;

	return !w[0] && !w[1] && w[2] == bpf_htonl(0xffff);
}

/* The IPv4 header checksum over a 20-byte header (ip_fast_csum). */
static __always_inline int wg_v4_csum_ok(struct wg_ip4 *ip)
{
	__s64 sum = bpf_csum_diff(NULL, 0, (__be32 *)ip, sizeof(*ip), 0);

	if (sum < 0)
		return 0;
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return sum == 0xffff;
}

static __noinline int wg_outer_check(struct __sk_buff *skb, __u32 family)
{
	struct wg_local_addr dst = {};

	if (skb->pkt_type == WG_PACKET_BROADCAST || skb->pkt_type == WG_PACKET_MULTICAST)
		return WG_OUTER_REFUSE;
	if (family == WG_AF_INET) {
		struct wg_ip4 ip;

		if (bpf_skb_load_bytes(skb, WG_ETH_HLEN, &ip, sizeof(ip)))
			return WG_OUTER_STACK;
		if ((ip.vihl & 15) != sizeof(ip) / 4)
			return WG_OUTER_STACK; /* options: the stack checks them */
		if (!wg_v4_csum_ok(&ip) || wg_v4_not_unicast(ip.saddr) ||
		    wg_v4_not_unicast(ip.daddr))
			return WG_OUTER_REFUSE;
		dst.addr[10] = 0xff;
		dst.addr[11] = 0xff;
		__builtin_memcpy(&dst.addr[12], ip.daddr, sizeof(ip.daddr));
	} else {
		struct wg_ip6 ip;

		if (bpf_skb_load_bytes(skb, WG_ETH_HLEN, &ip, sizeof(ip)))
			return WG_OUTER_STACK;
		if (ip.saddr[0] == 0xff || wg_v6_unspecified_or_loopback(ip.saddr) ||
		    wg_v6_v4mapped(ip.saddr) ||
		    ip.daddr[0] == 0xff || wg_v6_unspecified_or_loopback(ip.daddr) ||
		    wg_v6_v4mapped(ip.daddr))
			return WG_OUTER_REFUSE;
		__builtin_memcpy(dst.addr, ip.daddr, sizeof(ip.daddr));
	}
	if (!bpf_map_lookup_elem(&local_addrs, &dst))
		return WG_OUTER_STACK;
	return WG_OUTER_OURS;
}
