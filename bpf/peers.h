/* SPDX-License-Identifier: GPL-2.0 */
/* peers.h: the packet path's maps: interface configuration, peers (which
 * keypairs they use and where to send), AllowedIPs and per-peer counters.
 * Mirrored in dataplane/peers.go, attach.go and counters.go. */
#pragma once

#include "common.h"
#include "tunnel_defs.h"

/* One per attached interface (a loaded object serves one wg device). */
struct wg_ifconfig {
	__u32 tun_ifindex; /* wg0: decrypted packets are redirected here */
	__u32 hop_ifindex; /* <tun>-hop0: wg0 egress redirects plaintext here */
	__u32 fib_ifindex; /* <tun>-hop1: input device of the FIB lookup (forwarding on) */
	__u32 fwmark;      /* skb->mark of outer packets and of their FIB lookup */
	__u32 mtu;         /* wg0's MTU: padding cap and the largest inner packet */
	__u16 listen_port; /* host order: outer UDP source port, ingress match */
	__u16 _pad;
	__u32 rx_cpus;     /* CPUs in the hop's RPS maps; >= 2: decrypt on another CPU */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct wg_ifconfig);
} ifconfig SEC(".maps");

static __always_inline struct wg_ifconfig *wg_ifconfig(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&ifconfig, &zero);
}

/* Hand-off of decryption to another CPU through the hop's RPS map (every
 * online CPU; see ingress.h and dataplane/attach.go spreadHop). RPS maps a
 * hash h to cpus[(h * n) >> 32]; CPU ids are taken as map positions, exact
 * when the online CPUs are 0..n-1. Packets smaller than WG_HANDOFF_MIN stay
 * on their CPU: the hand-off (a veth pass and an inter-processor wake-up)
 * costs more than their crypto and would add to every round trip; unless
 * they flood in (wg_small_flood, ingress.h). */
#define WG_HANDOFF_MIN 512
#define WG_RX_MAX_CPUS 8192

static __always_inline __u32 wg_rps_hash(__u32 n, __u32 cpu)
{
	__u32 step = 0xffffffffU / n;

	return cpu * step + step / 2;
}

/* A UDP endpoint. family 0 = unknown (no packet can be sent yet). */
struct wg_endpoint {
	__u16 family;   /* WG_AF_INET / WG_AF_INET6 */
	__be16 port;
	__u8 addr[16];  /* IPv4 in the first 4 bytes, rest zero */
};

/* The peer: written by userspace (sessions after a handshake, configured
 * endpoint) and by BPF (promotion of "next" on its first packet, roaming,
 * event rate limits), so both sides write under the lock (BPF_F_LOCK from
 * Go). Local indices name keypairs in `sessions`; 0 = none. */
struct wg_peer {
	struct bpf_spin_lock lock;
	__u32 current;  /* keypair used to send */
	__u32 previous; /* still accepted on receive */
	__u32 next;     /* responder's new keypair, unconfirmed until a packet on it */
	struct wg_endpoint endpoint;
	__u32 _pad;
	__u64 handshake_event_ns; /* last "handshake needed" event (rate limit) */
	__u64 rekey_event_ns;     /* last "rekey needed" event (rate limit) */
};

#define WG_MAX_PEERS 16384

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, WG_MAX_PEERS);
	__type(key, __u32); /* peer id, chosen by the daemon */
	__type(value, struct wg_peer);
} peers SEC(".maps");

/* Per-peer traffic counters: per-CPU so that no packet takes a lock or
 * bounces a cache line; userspace adds the CPUs up (times: the maximum).
 * Bytes are UDP payload bytes of data messages, as WireGuard counts them. */
struct wg_peer_stats {
	__u64 rx_bytes;
	__u64 rx_packets;
	__u64 tx_bytes;
	__u64 tx_packets;
	__u64 rx_keepalives;
	__u64 last_rx_ns; /* CLOCK_BOOTTIME, any authenticated packet */
	__u64 last_tx_ns;
	__u64 last_rx_data_ns; /* data only: a keepalive must not look like data
				* to the timers (it would be answered by one) */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, WG_MAX_PEERS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct wg_peer_stats);
} peer_stats SEC(".maps");

/* AllowedIPs: longest-prefix match → peer id, one trie per family. */
#define WG_MAX_ALLOWED_IPS 65536 /* per family */
struct wg_lpm_v4 {
	__u32 prefixlen;
	__u8 addr[4];
};

struct wg_lpm_v6 {
	__u32 prefixlen;
	__u8 addr[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, WG_MAX_ALLOWED_IPS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct wg_lpm_v4);
	__type(value, __u32);
} allowed_v4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, WG_MAX_ALLOWED_IPS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct wg_lpm_v6);
	__type(value, __u32);
} allowed_v6 SEC(".maps");

/* Peer id owning addr (4 or 16 bytes, network order), or 0 with ok = 0. */
static __always_inline int wg_allowed_lookup(int v6, const __u8 *addr, __u32 *peer_id)
{
	__u32 *id;

	if (v6) {
		struct wg_lpm_v6 k = { .prefixlen = 128 };

		__builtin_memcpy(k.addr, addr, 16);
		id = bpf_map_lookup_elem(&allowed_v6, &k);
	} else {
		struct wg_lpm_v4 k = { .prefixlen = 32 };

		__builtin_memcpy(k.addr, addr, 4);
		id = bpf_map_lookup_elem(&allowed_v4, &k);
	}
	if (!id)
		return 0;
	*peer_id = *id;
	return 1;
}

static __always_inline struct wg_peer_stats *wg_stats(__u32 peer_id)
{
	return bpf_map_lookup_elem(&peer_stats, &peer_id);
}
