// SPDX-License-Identifier: GPL-2.0
/* A policy for the tests: each hook returns the verdict the test wrote in
 * `verdict`, and records what it saw in `seen`. Variants for the loader's
 * refusals are chosen with -D. */
#include <wgbpfd/policy.h>

#ifdef ABI_OVERRIDE
const volatile __u32 wgbpfd_policy_abi __attribute__((used)) = ABI_OVERRIDE;
#elif !defined(NO_ABI)
WGBPFD_POLICY();
#endif

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 3);
	__type(key, __u32);
	__type(value, __u32); /* [hook]: verdict; [2]: target peer */
} verdict SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64); /* [hook]: runs; [2 + hook]: peer_id << 8 | first IP byte */
} seen SEC(".maps");

#ifdef STEAL_SESSIONS
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u64);
} sessions SEC(".maps");
#endif

static __always_inline int run(struct __sk_buff *skb, __u32 hook)
{
	struct wgbpfd_ctx *c = wgbpfd_ctx();
	__u32 k = 2 + hook, two = 2, *v, *target;
	__u64 *n, *p;
	__u8 first = 0;

	if (!c)
		return WGBPFD_DROP;
	n = bpf_map_lookup_elem(&seen, &hook);
	if (n)
		__sync_fetch_and_add(n, 1);
	bpf_skb_load_bytes(skb, c->l3_off, &first, 1);
	p = bpf_map_lookup_elem(&seen, &k);
	if (p)
		*p = (__u64)c->peer_id << 8 | first;
#ifdef STEAL_SESSIONS
	bpf_map_lookup_elem(&sessions, &k);
#endif
	v = bpf_map_lookup_elem(&verdict, &hook);
	if (!v)
		return WGBPFD_CONTINUE;
	if (*v == WGBPFD_TO_PEER) {
		target = bpf_map_lookup_elem(&verdict, &two);
		return wgbpfd_to_peer(c, target ? *target : 0);
	}
	return *v;
}

SEC("tc")
int wgbpfd_egress(struct __sk_buff *skb)
{
	return run(skb, WGBPFD_HOOK_EGRESS);
}

SEC("tc")
int wgbpfd_ingress(struct __sk_buff *skb)
{
	return run(skb, WGBPFD_HOOK_INGRESS);
}

#ifdef EXTRA_PROG
SEC("tc")
int other(struct __sk_buff *skb)
{
	return 0;
}
#endif
