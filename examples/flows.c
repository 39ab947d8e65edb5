// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/* flows.c: bytes and packets per inner 5-tuple, both directions, in the map
 * `flows`. wgbpfd pins it as /sys/fs/bpf/wgbpfd/<interface>/policy_flows;
 * `go run ./examples/flowtop wg0` prints the top flows.
 *
 * Build: clang-19 -O2 -g -target bpf -I include -c flows.c -o flows.o */
#include <wgbpfd/policy.h>

WGBPFD_POLICY();

struct flow_key {
	struct wgbpfd_flow flow; /* its _pad carries the hook: 0 sent, 1 received */
	__u32 peer_id;
};

struct flow_counters {
	__u64 packets;
	__u64 bytes; /* inner IP bytes */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH); /* the least recently seen go first */
	__uint(max_entries, 65536);
	__type(key, struct flow_key);
	__type(value, struct flow_counters);
} flows SEC(".maps");

static __always_inline int count(struct __sk_buff *skb)
{
	struct wgbpfd_ctx *ctx = wgbpfd_ctx();
	struct flow_counters *c, zero = {};
	struct flow_key k;

	if (!ctx || wgbpfd_parse_flow(skb, ctx, &k.flow))
		return WGBPFD_CONTINUE;
	k.flow._pad = ctx->hook;
	k.peer_id = ctx->peer_id;
	c = bpf_map_lookup_elem(&flows, &k);
	if (!c) {
		bpf_map_update_elem(&flows, &k, &zero, BPF_NOEXIST);
		c = bpf_map_lookup_elem(&flows, &k);
		if (!c)
			return WGBPFD_CONTINUE;
	}
	__sync_fetch_and_add(&c->packets, 1);
	__sync_fetch_and_add(&c->bytes, skb->len - ctx->l3_off);
	return WGBPFD_CONTINUE;
}

SEC("tc")
int wgbpfd_egress(struct __sk_buff *skb)
{
	return count(skb);
}

SEC("tc")
int wgbpfd_ingress(struct __sk_buff *skb)
{
	return count(skb);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
