/* SPDX-License-Identifier: GPL-2.0 */
/* policy.h: the two policy hooks, where a user's BPF program (see
 * include/wgbpfd/policy.h) decides about a packet.
 *
 * Each hook is a slot of the prog array policy_progs. The packet path calls
 * wg_policy_call, a subprogram that tail-calls the slot: a tail call from a
 * subprogram replaces only that subprogram's frame, so the user program's
 * return value comes back to the caller as the subprogram's, and an empty
 * slot falls through to "continue". The daemon swaps a slot with one map
 * update, so every packet sees the old policy or the new one. The verifier
 * allows a tail call from a subprogram only while the frames above it use
 * less than 256 bytes of stack: wg_tun_egress uses 96, and the ingress
 * hook runs from a program of its own (wg_policy_deliver).
 *
 * A policy reaches nothing of ours but wgbpfd_ctx_map (this packet's
 * context) and wgbpfd_peers (public keys, peer ids, handshake times; read
 * only to programs): the loader refuses an object that declares any other
 * map of ours (dataplane/policy.go). */
#pragma once

#include "common.h"
#include "tunnel_defs.h"
#include "peers.h"
#include "wire.h"
#include "../../include/wgbpfd/policy.h"

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, WGBPFD_HOOKS);
	__type(key, __u32);
	__type(value, __u32);
} policy_progs SEC(".maps");

/* Bit (1 << hook) set while a slot holds a program: without a policy the
 * packet path pays one load and a branch. Written by the daemon. */
volatile __u32 wg_policy_hooks;

/* Not a tc action: the packet goes on along the tunnel's path. */
#define WG_POLICY_PASS 0x10000

static __noinline int wg_policy_call(struct __sk_buff *skb, __u32 hook)
{
	int v = WGBPFD_CONTINUE; /* empty slot */

	bpf_tail_call(skb, &policy_progs, hook);
	/* Opaque to clang, which would otherwise see that this function
	 * "always" returns CONTINUE and fold its callers' verdict checks. */
	asm volatile("" : "+r"(v));
	return v;
}

/* Fills this CPU's context and runs the hook: the verdict, or -1. */
/* What a hook is told about the packet it runs on. */
static __always_inline void wg_policy_ctx_fill(struct wgbpfd_ctx *c, struct wg_ifconfig *cfg,
					       __u32 hook, __u32 peer_id, __u32 l3_off,
					       __u32 flags)
{
	c->abi = WGBPFD_POLICY_ABI;
	c->hook = hook;
	c->ifindex = cfg->tun_ifindex;
	c->peer_id = peer_id;
	c->l3_off = l3_off;
	c->target_peer = 0;
	c->flags = flags;
}

static __always_inline int wg_policy_run(struct __sk_buff *skb, struct wg_ifconfig *cfg,
					 __u32 hook, __u32 peer_id, __u32 l3_off,
					 struct wgbpfd_ctx **out)
{
	struct wgbpfd_ctx *c;
	__u32 zero = 0;

	c = bpf_map_lookup_elem(&wgbpfd_ctx_map, &zero);
	if (!c)
		return -1;
	wg_policy_ctx_fill(c, cfg, hook, peer_id, l3_off, 0);
	*out = c;
	return wg_policy_call(skb, hook);
}

/* Leave the tunnel: route the inner packet as the stack would without wg0,
 * that is with the interface's FwMark (wg-quick's rules send marked
 * packets to the main table), and send it from the device that route
 * names. A route back into wg0 is no way out: dropped as no_route. */
static __noinline int wg_policy_bypass(struct __sk_buff *skb, __u32 fib_ifindex,
				       __u32 tun_ifindex, __u32 mark)
{
	struct bpf_fib_lookup fib = {};
	struct bpf_redir_neigh nh = {};
	__be16 proto;
	long rc;

	fib.ifindex = fib_ifindex;
	__builtin_memcpy(fib.smac, &mark, 4);
	if (skb->protocol == bpf_htons(WG_ETH_P_IP)) {
		fib.family = WG_AF_INET;
		if (bpf_skb_load_bytes(skb, offsetof(struct wg_ip4, saddr), &fib.ipv4_src,
				       sizeof(fib.ipv4_src)) ||
		    bpf_skb_load_bytes(skb, offsetof(struct wg_ip4, daddr), &fib.ipv4_dst,
				       sizeof(fib.ipv4_dst)))
			goto drop;
	} else {
		fib.family = WG_AF_INET6;
		/* saddr and daddr, adjacent in both structs */
		if (bpf_skb_load_bytes(skb, offsetof(struct wg_ip6, saddr), fib.ipv6_src,
				       sizeof(fib.ipv6_src) + sizeof(fib.ipv6_dst)))
			goto drop;
	}
	rc = bpf_fib_lookup(skb, &fib, sizeof(fib), BPF_FIB_LOOKUP_SKIP_NEIGH | WG_FIB_LOOKUP_MARK);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS || fib.ifindex == tun_ifindex)
		goto drop;
	/* bpf_redirect_neigh takes frames (it strips the Ethernet header it
	 * expects, and drops a packet without one): wg0 has no link layer. */
	proto = skb->protocol;
	if (bpf_skb_change_head(skb, WG_ETH_HLEN, 0) ||
	    bpf_skb_store_bytes(skb, offsetof(struct wg_eth, proto), &proto, sizeof(proto), 0))
		goto drop;
	skb->mark = mark;
	nh.nh_family = fib.family;
	if (fib.family == WG_AF_INET)
		nh.ipv4_nh = fib.ipv4_dst;
	else
		__builtin_memcpy(nh.ipv6_nh, fib.ipv6_dst, 16);
	return bpf_redirect_neigh(fib.ifindex, &nh, sizeof(nh), 0);
drop:
	wg_count_drop(WG_DROP_NO_ROUTE);
	return WG_TC_ACT_SHOT;
}

/* wg0 egress, before encryption. *peer_id: AllowedIPs' choice (0: none),
 * another peer of this interface on WGBPFD_TO_PEER. Returns WG_POLICY_PASS
 * or the tc action to end with. */
static __always_inline int wg_policy_egress(struct __sk_buff *skb, struct wg_ifconfig *cfg,
					    __u32 *peer_id)
{
	struct wgbpfd_ctx *c = NULL;
	__u32 target;

	if (!(wg_policy_hooks & (1U << WGBPFD_HOOK_EGRESS)))
		return WG_POLICY_PASS;
	switch (wg_policy_run(skb, cfg, WGBPFD_HOOK_EGRESS, *peer_id, 0, &c)) {
	case WGBPFD_CONTINUE:
		return WG_POLICY_PASS;
	case WGBPFD_TO_PEER:
		if (!c)
			break;
		target = c->target_peer;
		if (!target || !bpf_map_lookup_elem(&peers, &target))
			break;
		*peer_id = target;
		return WG_POLICY_PASS;
	case WGBPFD_BYPASS:
		return wg_policy_bypass(skb, cfg->fib_ifindex, cfg->tun_ifindex, cfg->fwmark);
	}
	wg_count_drop(WG_DROP_POLICY); /* WGBPFD_DROP, or anything undefined */
	return WG_TC_ACT_SHOT;
}

/* Our own program, reached by a tail call: the ingress hook runs in a
 * frame of its own (see wg_policy_ingress). */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} policy_deliver_prog SEC(".maps");

/* Underlay ingress, after decryption and the source check, with the inner
 * packet behind an Ethernet header. wg_underlay_ingress's frame alone is
 * close to the 256 bytes above which the verifier refuses a tail call from
 * a subprogram, so with an ingress hook it tail-calls wg_policy_deliver,
 * which runs the hook and delivers. Returns WG_POLICY_PASS (no hook) or
 * the tc action to end with. */
static __always_inline int wg_policy_ingress(struct __sk_buff *skb, struct wg_ifconfig *cfg,
					     __u32 peer_id, int src_allowed)
{
	struct wgbpfd_ctx *c;
	__u32 zero = 0;

	if (!(wg_policy_hooks & (1U << WGBPFD_HOOK_INGRESS)))
		return WG_POLICY_PASS;
	c = bpf_map_lookup_elem(&wgbpfd_ctx_map, &zero);
	if (c) {
		wg_policy_ctx_fill(c, cfg, WGBPFD_HOOK_INGRESS, peer_id, WG_ETH_HLEN,
				   src_allowed ? WGBPFD_F_SRC_ALLOWED : 0);
		bpf_tail_call(skb, &policy_deliver_prog, 0);
	}
	wg_count_drop(WG_DROP_POLICY);
	return WG_TC_ACT_SHOT;
}

/* With an ingress hook, a packet whose inner source is not in the sender's
 * AllowedIPs goes on to the hook, which alone may accept it
 * (WGBPFD_ACCEPT); without one it is dropped at once, as always. */
static __always_inline int wg_policy_may_accept(void)
{
	return wg_policy_hooks & (1U << WGBPFD_HOOK_INGRESS);
}
