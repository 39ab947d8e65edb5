// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/* split_tunnel.c: TCP to one port leaves outside the tunnel; everything
 * else stays in it.
 *
 * For a full tunnel (AllowedIPs = 0.0.0.0/0), whose FwMark rules let
 * marked packets use the main table: the packets this policy lets out are
 * routed as if wg0 did not exist. Their source address is the one the
 * socket chose for wg0, so the way back must know it (a LAN route back,
 * or SNAT: see docs/policy.md).
 *
 * Build: clang-19 -O2 -g -target bpf -I include -c split_tunnel.c -o split.o
 * (-DOUTSIDE_PORT=22 to pick the port). */
#include <wgbpfd/policy.h>
#include <bpf/bpf_endian.h>

#ifndef OUTSIDE_PORT
#define OUTSIDE_PORT 22
#endif

WGBPFD_POLICY();

SEC("tc")
int wgbpfd_egress(struct __sk_buff *skb)
{
	struct wgbpfd_ctx *ctx = wgbpfd_ctx();
	struct wgbpfd_flow f;

	if (!ctx || wgbpfd_parse_flow(skb, ctx, &f))
		return WGBPFD_CONTINUE;
	if (f.proto == WGBPFD_IPPROTO_TCP && f.dport == bpf_htons(OUTSIDE_PORT))
		return WGBPFD_BYPASS;
	return WGBPFD_CONTINUE;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
