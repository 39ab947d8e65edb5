/* SPDX-License-Identifier: GPL-2.0 */
/* egress.h: the send path, in two programs (wgbpfd.c); their helpers.
 *
 * wg_tun_egress (tcx egress on wg0) decides: AllowedIPs → peer → current
 * keypair. Without a usable keypair the packet stays in the TUN for the
 * daemon (slow path). Otherwise it pushes an Ethernet header naming the peer
 * and keypair and redirects the plaintext into <tun>-hop0. TCP arrives here
 * as GSO super-packets with partial checksums that no helper can finish, so
 * encryption cannot happen here: the veth pair, with its offloads off,
 * segments and checksums on the way through.
 *
 * wg_hop_encrypt (tcx ingress on <tun>-hop1) sees one MTU-sized packet at a
 * time, on the CPU that RPS on hop1 picks from the inner flow's hash (flows
 * encrypt in parallel instead of all on the sending CPU; small packets stay
 * on the sending CPU): takes a counter, pads, seals, writes outer IP/UDP
 * and the data header, and after a FIB lookup that picks the underlay
 * device, next hop, source address and MACs, transmits a clone of the
 * packet (see the end of wg_hop_encrypt for why a clone). */
#pragma once

#include "common.h"
#include "tunnel_defs.h"
#include "wire.h"
#include "peers.h"
#include "events.h"
#include "csum.h"
#include "suite.h"
#include "policy.h"

static __always_inline int wg_send_usable(struct wg_session *s, __u64 now)
{
	return now - s->created_ns < WG_REJECT_AFTER_TIME_NS &&
	       s->send_counter < WG_REJECT_AFTER_MESSAGES;
}

/* Padded plaintext length (WireGuard: a multiple of 16, capped at the MTU
 * for ChaCha20-Poly1305; aes-cbc needs whole blocks, so no cap). */
static __always_inline __u32 wg_padded_len(__u32 suite, __u32 len, __u32 mtu)
{
	__u32 padded = (len + 15) & ~15U;

	if (suite == WG_SUITE_CHACHA20POLY1305 && padded > mtu && len <= mtu)
		padded = mtu;
	return padded;
}

/* Route to the endpoint: fills *fib (egress ifindex, next hop, source and,
 * once the neighbour is resolved, the MACs: BPF_FIB_LKUP_RET_NO_NEIGH
 * otherwise). */
static __always_inline long wg_route(struct __sk_buff *skb, struct wg_ifconfig *cfg,
				     const struct wg_endpoint *ep, __u32 outer_len,
				     struct bpf_fib_lookup *fib)
{
	fib->family = ep->family;
	fib->l4_protocol = WG_IPPROTO_UDP;
	fib->sport = bpf_htons(cfg->listen_port);
	fib->dport = ep->port;
	fib->tot_len = outer_len; /* asks the lookup to check the route MTU */
	fib->ifindex = cfg->fib_ifindex;
	if (ep->family == WG_AF_INET)
		__builtin_memcpy(&fib->ipv4_dst, ep->addr, 4);
	else
		__builtin_memcpy(fib->ipv6_dst, ep->addr, 16);
	/* Input "mark" shares its bytes with the output smac. */
	__builtin_memcpy(fib->smac, &cfg->fwmark, 4);
	return bpf_fib_lookup(skb, fib, sizeof(*fib),
			      BPF_FIB_LOOKUP_SRC |
			      WG_FIB_LOOKUP_MARK);
}

/* Per-packet state of wg_hop_encrypt kept off the stack: the crypto call
 * chain needs most of the 512 bytes BPF allows across nested calls. */
struct wg_hop_work {
	struct bpf_fib_lookup fib;
	struct bpf_redir_neigh nh;
	struct wg_endpoint ep;
	__u32 _pad;
	union {
		struct wg_outer4 v4;
		struct wg_outer6 v6;
	} o;
	__be32 ph[2]; /* IPv6 pseudo-header: UDP length, next header */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct wg_hop_work);
} hop_work SEC(".maps");

/* How often, per CPU, an encrypted packet goes through bpf_redirect_neigh
 * even when it could leave as a clone: the clone path writes the MACs that
 * bpf_fib_lookup returns, which bypasses the neighbour state machine, and a
 * STALE entry (still "valid" to the lookup) is re-checked only when a packet
 * is sent through it. Without that, a next hop whose MAC changed would stay
 * unreachable until the daemon's own UDP traffic happened to refresh it. */
#define WG_NEIGH_REFRESH_NS 1000000000ULL

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64); /* when this CPU last used bpf_redirect_neigh */
} neigh_pace SEC(".maps");

/* True at most once per WG_NEIGH_REFRESH_NS on this CPU (now: boot-time
 * ns). A function of its own: wg_hop_encrypt's frame is close to the limit
 * already. */
static __noinline int wg_neigh_refresh_due(__u64 now)
{
	__u32 zero = 0;
	__u64 *last;

	last = bpf_map_lookup_elem(&neigh_pace, &zero);
	if (!last)
		return 1;
	if (now - *last < WG_NEIGH_REFRESH_NS)
		return 0;
	*last = now;
	return 1;
}
