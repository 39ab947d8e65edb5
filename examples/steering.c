// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/* steering.c: two peers both meant for 0.0.0.0/0 (two exits); TCP and UDP
 * to destination ports from SPLIT_PORT up go to peer B, everything else to
 * peer A. A peer whose last handshake is older than FAILOVER_SEC (or that
 * never had one) while the other's is fresh loses its flows to the other.
 *
 * WireGuard gives a prefix to one peer only: list 0.0.0.0/0 under one of
 * them (it routes, and is the default here), nothing or a /32 under the
 * other. The ingress hook accepts from either exit what their AllowedIPs
 * would refuse, which the replies from the other exit need.
 *
 * FAILOVER_SEC must exceed the time between handshakes of a healthy peer:
 * WireGuard rekeys every 120 s while packets flow (PersistentKeepalive
 * keeps them flowing), so 180 s or more.
 *
 * Build with both public keys as byte lists, e.g.
 *   key() { wg pubkey < $1 | base64 -d | od -An -tx1 -v | sed 's/ *\([0-9a-f]\{2\}\)/0x\1,/g' | tr -d '\n'; }
 *   clang-19 -O2 -g -target bpf -I include -DPEER_A="{$(key a.key)}" \
 *     -DPEER_B="{$(key b.key)}" -c steering.c -o steering.o */
#include <wgbpfd/policy.h>
#include <bpf/bpf_endian.h>

#ifndef SPLIT_PORT
#define SPLIT_PORT 5000
#endif
#ifndef FAILOVER_SEC
#define FAILOVER_SEC 180
#endif

WGBPFD_POLICY();

static const __u8 peer_a[32] = PEER_A;
static const __u8 peer_b[32] = PEER_B;

static __always_inline int fresh(const struct wgbpfd_peer_info *p, __u64 now)
{
	return p && p->last_handshake_ns && now - p->last_handshake_ns < FAILOVER_SEC * 1000000000ULL;
}

SEC("tc")
int wgbpfd_egress(struct __sk_buff *skb)
{
	const struct wgbpfd_peer_info *a = wgbpfd_peer(peer_a), *b = wgbpfd_peer(peer_b);
	const struct wgbpfd_peer_info *pick, *other;
	struct wgbpfd_ctx *ctx = wgbpfd_ctx();
	__u64 now = bpf_ktime_get_boot_ns();
	struct wgbpfd_flow f;

	if (!ctx || !a || !b || wgbpfd_parse_flow(skb, ctx, &f))
		return WGBPFD_CONTINUE;
	/* Only what AllowedIPs give to A (0.0.0.0/0) is steered: B's own
	 * prefixes stay with B. */
	if (ctx->peer_id != a->peer_id)
		return WGBPFD_CONTINUE;
	pick = a;
	other = b;
	if ((f.proto == WGBPFD_IPPROTO_TCP || f.proto == WGBPFD_IPPROTO_UDP) &&
	    bpf_ntohs(f.dport) >= SPLIT_PORT) {
		pick = b;
		other = a;
	}
	if (!fresh(pick, now) && fresh(other, now))
		pick = other; /* failover */
	return wgbpfd_to_peer(ctx, pick->peer_id);
}

SEC("tc")
int wgbpfd_ingress(struct __sk_buff *skb)
{
	const struct wgbpfd_peer_info *a = wgbpfd_peer(peer_a), *b = wgbpfd_peer(peer_b);
	struct wgbpfd_ctx *ctx = wgbpfd_ctx();

	if (ctx && a && b && (ctx->peer_id == a->peer_id || ctx->peer_id == b->peer_id))
		return WGBPFD_ACCEPT;
	return WGBPFD_CONTINUE;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
