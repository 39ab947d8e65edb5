/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* wgbpfd/policy.h: the interface between wgbpfd and a user's policy object.
 *
 * A policy is a BPF object (clang -target bpf) with up to two programs:
 *
 *   SEC("tc") int wgbpfd_egress(struct __sk_buff *skb)
 *	runs on every packet wg0 is about to send, after AllowedIPs chose a
 *	peer and before encryption; skb holds the inner IP packet at
 *	ctx->l3_off.
 *   SEC("tc") int wgbpfd_ingress(struct __sk_buff *skb)
 *	runs on every data packet that was authenticated, decrypted and
 *	passed the AllowedIPs source check, before delivery into wg0.
 *
 * Each returns a verdict (enum wgbpfd_verdict), not a tc action. The
 * context (struct wgbpfd_ctx) and the peers' public information come
 * through the two maps declared below, which wgbpfd replaces with its own
 * when it loads the object: declare no others of those names, and do not
 * change their definitions. The object's own maps (counters, tables) are
 * its business; wgbpfd pins them for tools to read. Keys, sessions and
 * wgbpfd's counters are never reachable from a policy.
 *
 * WGBPFD_POLICY() must appear once in the object: it records the version
 * of this interface the object was built against, and wgbpfd refuses an
 * object whose version it does not implement.
 */
#pragma once

#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* Bumped on any incompatible change of what follows. */
#define WGBPFD_POLICY_ABI 1

#define WGBPFD_POLICY() \
	const volatile __u32 wgbpfd_policy_abi __attribute__((used)) = WGBPFD_POLICY_ABI

enum wgbpfd_hook {
	WGBPFD_HOOK_EGRESS = 0,  /* before encryption */
	WGBPFD_HOOK_INGRESS = 1, /* after decryption, before delivery */
	WGBPFD_HOOKS = 2,
};

enum wgbpfd_verdict {
	WGBPFD_CONTINUE = 0, /* as without a policy */
	WGBPFD_DROP = 1,     /* dropped, counted as drop reason "policy" */
	/* Egress only (at ingress: dropped, counted as "policy"). */
	WGBPFD_TO_PEER = 2,  /* send to ctx->target_peer instead (wgbpfd_to_peer) */
	WGBPFD_BYPASS = 3,   /* leave the tunnel: routed as without wg0 */
	/* Ingress only (at egress: dropped, counted as "policy"): deliver even
	 * though the inner source is not in the sender's AllowedIPs (ctx->flags
	 * lacks WGBPFD_F_SRC_ALLOWED), e.g. replies from a peer that
	 * WGBPFD_TO_PEER chose. Otherwise such a packet is dropped, counted as
	 * "src_not_allowed", whatever the hook returns. */
	WGBPFD_ACCEPT = 4,
};

/* ctx->flags */
#define WGBPFD_F_SRC_ALLOWED (1U << 0) /* ingress: inner source in the sender's AllowedIPs */

/* Per packet, per CPU; valid only during the hook's run. */
struct wgbpfd_ctx {
	__u32 abi;         /* WGBPFD_POLICY_ABI of the running wgbpfd */
	__u32 hook;        /* enum wgbpfd_hook */
	__u32 ifindex;     /* the WireGuard interface (wg0) */
	__u32 peer_id;     /* egress: AllowedIPs' choice (0: none matched);
			    * ingress: the authenticated sender */
	__u32 l3_off;      /* offset of the inner IP header in skb */
	__u32 target_peer; /* out: the peer for WGBPFD_TO_PEER */
	__u32 flags;       /* WGBPFD_F_* */
	__u32 _reserved;
};
_Static_assert(sizeof(struct wgbpfd_ctx) == 32, "wgbpfd_ctx: shared with Go");

/* A peer's public, non-secret state, keyed by its public key (32 raw
 * bytes, as `wg pubkey | base64 -d` prints them). Read-only to a policy. */
struct wgbpfd_peer_info {
	__u32 peer_id;
	__u32 _reserved;
	__u64 last_handshake_ns; /* bpf_ktime_get_boot_ns() clock; 0: none yet */
};
_Static_assert(sizeof(struct wgbpfd_peer_info) == 16, "wgbpfd_peer_info: shared with Go");

#define WGBPFD_MAX_PEERS 16384

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct wgbpfd_ctx);
} wgbpfd_ctx_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, WGBPFD_MAX_PEERS);
	__uint(map_flags, BPF_F_RDONLY_PROG);
	__type(key, __u8[32]);
	__type(value, struct wgbpfd_peer_info);
} wgbpfd_peers SEC(".maps");

/* The context of this packet (never NULL while a hook runs; check anyway,
 * the verifier insists). */
static __always_inline struct wgbpfd_ctx *wgbpfd_ctx(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&wgbpfd_ctx_map, &zero);
}

/* The peer with this public key, or NULL if the interface has none. */
static __always_inline const struct wgbpfd_peer_info *wgbpfd_peer(const __u8 *pubkey)
{
	return bpf_map_lookup_elem(&wgbpfd_peers, pubkey);
}

/* Verdict: send this packet to peer_id (a wgbpfd_peer_info's peer_id). A
 * peer id the interface does not have drops the packet ("policy"). */
static __always_inline int wgbpfd_to_peer(struct wgbpfd_ctx *ctx, __u32 peer_id)
{
	ctx->target_peer = peer_id;
	return WGBPFD_TO_PEER;
}

/* The inner packet's addresses, protocol and ports. */
struct wgbpfd_flow {
	__u8 saddr[16]; /* IPv4: the first 4 bytes, the rest zero */
	__u8 daddr[16];
	__be16 sport;   /* TCP, UDP, SCTP; 0 otherwise and in later fragments */
	__be16 dport;
	__u8 proto;     /* IPPROTO_*; IPv6: the first next header, no extension
			 * headers are followed */
	__u8 family;    /* 4 or 6 */
	__u16 _pad;
};

#define WGBPFD_IPPROTO_TCP 6
#define WGBPFD_IPPROTO_UDP 17
#define WGBPFD_IPPROTO_SCTP 132

/* Fills *f from the packet; 0, or -1 if it is no IP packet. */
static __always_inline int wgbpfd_parse_flow(struct __sk_buff *skb, const struct wgbpfd_ctx *ctx,
					     struct wgbpfd_flow *f)
{
	__u32 off = ctx->l3_off & 0xff;
	__u8 h[40];
	__be16 ports[2];

	__builtin_memset(f, 0, sizeof(*f));
	if (bpf_skb_load_bytes(skb, off, h, 20))
		return -1;
	if ((h[0] >> 4) == 4) {
		f->family = 4;
		f->proto = h[9];
		__builtin_memcpy(f->saddr, &h[12], 4);
		__builtin_memcpy(f->daddr, &h[16], 4);
		if (((h[6] & 0x1f) << 8 | h[7]) != 0)
			return 0; /* not the first fragment: no ports */
		off += (h[0] & 15) * 4;
	} else if ((h[0] >> 4) == 6) {
		if (bpf_skb_load_bytes(skb, off, h, 40))
			return -1;
		f->family = 6;
		f->proto = h[6];
		__builtin_memcpy(f->saddr, &h[8], 16);
		__builtin_memcpy(f->daddr, &h[24], 16);
		off += 40;
	} else {
		return -1;
	}
	if ((f->proto == WGBPFD_IPPROTO_TCP || f->proto == WGBPFD_IPPROTO_UDP ||
	     f->proto == WGBPFD_IPPROTO_SCTP) && !bpf_skb_load_bytes(skb, off, ports, 4)) {
		f->sport = ports[0];
		f->dport = ports[1];
	}
	return 0;
}
