/* SPDX-License-Identifier: GPL-2.0 */
/* ingress.h: the receive path, wg_underlay_ingress (wgbpfd.c; tcx ingress on every
 * underlay interface).
 *
 * Traffic that is not UDP to ListenPort, that arrives in a frame for
 * another host's MAC, or whose outer destination is not one of this host's
 * addresses (a router's transit traffic; outer.h), continues to the next
 * tcx program (TCX_NEXT). So do handshake messages, IP fragments, GRO
 * aggregates and data messages for a receiver index the kernel does not
 * hold, on their way up the stack to the daemon's socket. Outer headers
 * the stack would refuse before any socket are dropped (outer.h). A data message for a known keypair is checked (suite,
 * age, counter, replay window), authenticated and decrypted in the per-CPU
 * scratch buffer, its inner source checked against the peer's AllowedIPs,
 * and the skb is reshaped into the inner packet and redirected into wg0's
 * receive path. Everything refused is dropped and counted by reason. The
 * same program on <tun>-hop0's ingress decrypts what wg_rx_handoff sent to
 * another CPU. */
#pragma once

#include "common.h"
#include "tunnel_defs.h"
#include "wire.h"
#include "peers.h"
#include "events.h"
#include "replay.h"
#include "suite.h"
#include "outer.h"
#include "policy.h"

/* WireGuard's receive-side rekey: an initiator whose keypair is this close
 * to REJECT_AFTER_TIME (minus KEEPALIVE_TIMEOUT and REKEY_TIMEOUT) rekeys. */
#define WG_REKEY_ON_RECV_NS (WG_REJECT_AFTER_TIME_NS - 15ULL * 1000000000ULL)

static __always_inline int wg_ep_equal(const struct wg_endpoint *a, const struct wg_endpoint *b)
{
	const __u32 *x = (const __u32 *)a, *y = (const __u32 *)b;

	return x[0] == y[0] && x[1] == y[1] && x[2] == y[2] && x[3] == y[3] && x[4] == y[4];
}

/* Decryption on another CPU. The CPU that receives from the underlay (the
 * NIC's RSS choice, one per tunnel since its outer 5-tuple never changes;
 * with a veth underlay, the sender's CPU, which has just encrypted the
 * packet) would otherwise decrypt everything of the tunnel and run the
 * inner stack too. A data message of WG_HANDOFF_MIN bytes or more goes back
 * out through <tun>-hop1 with a hash that makes RPS on <tun>-hop0 pick
 * another CPU, where this program runs again (ingress on hop0) and
 * decrypts: a pipeline across two CPUs. The session's index picks which
 * other CPU, so one tunnel's packets keep their order (TCP pays dearly for
 * reordering: spreading one tunnel's packets over the CPUs by counter
 * measured slower than not spreading at all). */
static __always_inline int wg_rx_handoff(struct __sk_buff *skb, struct wg_ifconfig *cfg, __u32 idx)
{
	__u32 n = cfg->rx_cpus;

	bpf_set_hash(skb, wg_rps_hash(n, (bpf_get_smp_processor_id() + 1 + idx % (n - 1)) % n));
	return bpf_redirect(cfg->fib_ifindex, 0);
}

/* Small data messages stay on the CPU that received them (WG_HANDOFF_MIN),
 * unless they arrive as a flood: WG_FLOOD_RUN of them in a row on this CPU,
 * each within WG_FLOOD_GAP_NS of the one before. The receiving CPU is then
 * busy anyway, and decrypting even 64 bytes costs more than the hand-off.
 * A ping, or the ACKs of a transfer, never make such a run, so idle round
 * trips keep the short path (docs/kernel-facts.md, Packet path). */
#define WG_FLOOD_GAP_NS 50000ULL
#define WG_FLOOD_RUN 16

struct wg_rx_pace {
	__u64 last_ns; /* the last small data message on this CPU */
	__u64 run;     /* how many in a row came within WG_FLOOD_GAP_NS */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct wg_rx_pace);
} rx_pace SEC(".maps");

/* Counts one small data message on this CPU; true while they flood in. A
 * function of its own: wg_underlay_ingress has no stack to spare. */
static __noinline int wg_small_flood(void)
{
	struct wg_rx_pace *p;
	__u32 zero = 0;
	__u64 now;

	p = bpf_map_lookup_elem(&rx_pace, &zero);
	if (!p)
		return 0;
	now = bpf_ktime_get_ns();
	if (now - p->last_ns < WG_FLOOD_GAP_NS) {
		if (p->run < WG_FLOOD_RUN)
			p->run++;
	} else {
		p->run = 0;
	}
	p->last_ns = now;
	return p->run >= WG_FLOOD_RUN;
}

/* ---- wg_underlay_ingress, stage by stage ---------------------------------
 * Each stage returns WG_RX_OK to go on, WG_RX_NEXT to leave the packet to
 * the next tcx program (and the stack), WG_RX_HANDOFF, or the
 * enum wg_drop_reason the packet is dropped and counted for. */
#define WG_RX_OK (-1)
#define WG_RX_NEXT (-2)
#define WG_RX_HANDOFF (-3)

/* What the stages learn of one data message, in the order they learn it. */
struct wg_rx {
	struct wg_endpoint src; /* outer source: wg_ep_equal reads it as words */
	__u32 off;              /* outer UDP header */
	struct wg_data_hdr dh;
	__u32 plen;             /* data message: header, ciphertext, tag */
	__u32 ct_len;           /* padded plaintext */
	__u32 inner_len;        /* inner packet without padding */
	__u32 peer_id;
	__u64 generation;       /* of the install the session was read from */
	__u64 now;
	struct wg_session *s;
	struct wg_scratch *sc;
	__be16 outer_proto;
	__be16 inner_proto;
	int src_allowed;
} __attribute__((aligned(8)));

/* Parse: Ethernet, IP, UDP to ListenPort, an outer packet the stack would
 * take for a local socket, then a data message header and its length. */
static __always_inline int wg_rx_parse(struct __sk_buff *skb, struct wg_ifconfig *cfg,
				       struct wg_rx *rx)
{
	struct wg_udp udp;
	struct wg_eth eth;
	__u32 ulen;

	if (bpf_skb_load_bytes(skb, 0, &eth, sizeof(eth)))
		return WG_RX_NEXT;
	rx->outer_proto = eth.proto;
	if (eth.proto == bpf_htons(WG_ETH_P_IP)) {
		struct wg_ip4 ip;

		if (bpf_skb_load_bytes(skb, WG_ETH_HLEN, &ip, sizeof(ip)) ||
		    (ip.vihl >> 4) != 4 || (ip.vihl & 15) < 5 ||
		    ip.protocol != WG_IPPROTO_UDP)
			return WG_RX_NEXT;
		rx->off = WG_ETH_HLEN + (ip.vihl & 15) * 4;
		if (ip.frag_off & bpf_htons(WG_IP_MF | WG_IP_OFFSET))
			return WG_RX_NEXT; /* reassembled by the stack for the daemon */
		rx->src.family = WG_AF_INET;
		__builtin_memcpy(rx->src.addr, ip.saddr, sizeof(ip.saddr));
	} else if (eth.proto == bpf_htons(WG_ETH_P_IPV6)) {
		struct wg_ip6 ip;

		if (bpf_skb_load_bytes(skb, WG_ETH_HLEN, &ip, sizeof(ip)) ||
		    ip.nexthdr != WG_IPPROTO_UDP)
			return WG_RX_NEXT;
		rx->off = WG_ETH_HLEN + sizeof(ip);
		rx->src.family = WG_AF_INET6;
		__builtin_memcpy(rx->src.addr, ip.saddr, sizeof(ip.saddr));
	} else {
		return WG_RX_NEXT;
	}
	if (bpf_skb_load_bytes(skb, rx->off, &udp, sizeof(udp)) ||
	    udp.dest != bpf_htons(cfg->listen_port))
		return WG_RX_NEXT;
	rx->src.port = udp.source;

	/* A frame for another host's MAC (a promiscuous interface, a bridge
	 * port) is not ours: the stack drops it in ip_rcv, as it would for a
	 * socket. On <tun>-hop0 every hand-off looks like that (it keeps the
	 * underlay's destination MAC). */
	if (skb->ifindex != cfg->hop_ifindex) {
		if (skb->pkt_type == WG_PACKET_OTHERHOST)
			return WG_RX_NEXT;
		switch (wg_outer_check(skb, rx->src.family)) {
		case WG_OUTER_OURS:
			break;
		case WG_OUTER_STACK:
			return WG_RX_NEXT; /* forwarded or dropped by the stack */
		default:
			return WG_DROP_OUTER;
		}
	}

	/* Ours from here on. Only data messages are handled in the kernel;
	 * everything else goes up to the daemon's socket, past any later tcx
	 * program (a host firewall) that wants to see it. */
	if (skb->gso_size)
		return WG_RX_NEXT; /* GRO aggregate: let the stack split it */
	if (bpf_skb_load_bytes(skb, rx->off + sizeof(udp), &rx->dh, sizeof(rx->dh)) ||
	    (rx->dh.type != WG_MSG_DATA && rx->dh.type != WG_MSG_DATA_AESCBC) ||
	    rx->dh.reserved[0] || rx->dh.reserved[1] || rx->dh.reserved[2])
		return WG_RX_NEXT;
	ulen = bpf_ntohs(udp.len);
	if (ulen < sizeof(udp) + sizeof(rx->dh) + WG_TAG_LEN ||
	    (__u64)rx->off + ulen > skb->len)
		return WG_DROP_MALFORMED;
	rx->plen = ulen - sizeof(udp);
	return WG_RX_OK;
}

/* Look up: the keypair the receiver index names, whether to decrypt on
 * another CPU, and what can be refused before any crypto (suite, age,
 * counter, replay window, length). */
static __always_inline int wg_rx_lookup(struct __sk_buff *skb, struct wg_ifconfig *cfg,
					struct wg_rx *rx)
{
	__u32 idx = rx->dh.receiver;
	struct wg_session *s;

	s = bpf_map_lookup_elem(&sessions, &idx);
	if (!s)
		return WG_RX_NEXT; /* perhaps a keypair only the daemon holds */
	rx->s = s;
	/* What is read of s before wg_replay_commit, which checks the install
	 * generation again under the lock, belongs to that install (struct
	 * wg_session); the peer is read here for the same reason. */
	rx->generation = s->generation;
	rx->peer_id = s->peer_id;
	if (skb->ifindex != cfg->hop_ifindex && cfg->rx_cpus >= 2 &&
	    cfg->rx_cpus <= WG_RX_MAX_CPUS &&
	    (rx->plen >= WG_HANDOFF_MIN || wg_small_flood()))
		return WG_RX_HANDOFF;

	if ((rx->dh.type == WG_MSG_DATA_AESCBC) != (s->suite == WG_SUITE_AESCBC))
		return WG_DROP_SUITE_MISMATCH;
	rx->now = bpf_ktime_get_boot_ns();
	if (rx->dh.counter >= WG_REJECT_AFTER_MESSAGES ||
	    rx->now - s->created_ns >= WG_REJECT_AFTER_TIME_NS)
		return WG_DROP_EXPIRED;
	if (!wg_replay_check(s, rx->dh.counter))
		return WG_DROP_REPLAY;
	rx->ct_len = rx->plen - WG_DATA_HEADER_LEN - WG_TAG_LEN;
	if (rx->ct_len > WG_MAX_PADDED)
		return WG_DROP_TOO_BIG;
	if (s->suite == WG_SUITE_AESCBC && (rx->ct_len & 15))
		return WG_DROP_MALFORMED;
	return WG_RX_OK;
}

/* Open: authenticate and decrypt into the per-CPU scratch buffer, then
 * commit the counter to the replay window. */
static __always_inline int wg_rx_open(struct __sk_buff *skb, struct wg_rx *rx)
{
	__u32 zero = 0, n;
	long rc;

	rx->sc = bpf_map_lookup_elem(&scratch, &zero);
	if (!rx->sc)
		return WG_DROP_CRYPTO;
	/* Re-check the copy length right where it is used: clang may otherwise
	 * recompute it from a register the verifier has no bounds for. */
	n = rx->ct_len + WG_TAG_LEN;
	WG_BOUND(n, WG_TAG_LEN, WG_SCRATCH_LEN, malformed);
	if (bpf_skb_load_bytes(skb, rx->off + sizeof(struct wg_udp) + sizeof(rx->dh),
			       rx->sc->buf, n))
		return WG_DROP_MALFORMED;
	rc = wg_open(rx->dh.receiver, rx->dh.counter, rx->ct_len, rx->generation);
	if (rc)
		return rc == WG_ERR_TAG ? WG_DROP_BAD_TAG : WG_DROP_CRYPTO;
	/* Authentic from here on. The window is the one the daemon commits
	 * to as well (keys.h, wg_commit), whichever path sees a message first. */
	rc = wg_replay_commit(rx->s, rx->dh.counter, rx->generation);
	if (rc == WG_REPLAY_STALE)
		return WG_DROP_NO_SESSION;
	if (rc != WG_REPLAY_NEW)
		return WG_DROP_REPLAY;
	return WG_RX_OK;
malformed:
	return WG_DROP_MALFORMED;
}

/* The peer learns of the authentic message: the responder's new keypair is
 * confirmed by its first packet, a packet from elsewhere moves the
 * endpoint (roaming), an old initiator keypair asks for a rekey, and the
 * counters and timestamps move. */
static __always_inline int wg_rx_peer_update(struct wg_rx *rx)
{
	__u32 idx = rx->dh.receiver, peer_id = rx->peer_id;
	int confirmed = 0, roamed = 0;
	struct wg_peer_stats *st;
	struct wg_peer *p;

	p = bpf_map_lookup_elem(&peers, &peer_id);
	if (!p)
		return WG_DROP_NO_SESSION;
	if (p->next == idx || !wg_ep_equal(&p->endpoint, &rx->src)) {
		bpf_spin_lock(&p->lock);
		if (p->next == idx) {
			p->previous = p->current;
			p->current = idx;
			p->next = 0;
			confirmed = 1;
		}
		if (!wg_ep_equal(&p->endpoint, &rx->src)) {
			p->endpoint = rx->src;
			roamed = 1;
		}
		bpf_spin_unlock(&p->lock);
	}
	if (confirmed)
		wg_emit(WG_EVENT_KEYPAIR_CONFIRMED, peer_id, idx, NULL, rx->now);
	if (roamed)
		wg_emit(WG_EVENT_ENDPOINT_CHANGED, peer_id, idx, &rx->src, rx->now);
	if ((rx->s->flags & WG_SESSION_INITIATOR) && p->current == idx &&
	    rx->now - rx->s->created_ns >= WG_REKEY_ON_RECV_NS &&
	    wg_event_allowed(p, &p->rekey_event_ns, rx->now))
		wg_emit(WG_EVENT_REKEY_NEEDED, peer_id, idx, NULL, rx->now);

	st = wg_stats(peer_id);
	if (st) {
		st->rx_bytes += rx->plen;
		st->rx_packets++;
		st->last_rx_ns = rx->now;
		if (!rx->ct_len)
			st->rx_keepalives++;
		else
			st->last_rx_data_ns = rx->now;
	}
	return WG_RX_OK;
}

/* Deliver, first half: the inner packet (its own length field says where
 * padding starts), its source checked against the sender's AllowedIPs, and
 * the skb reshaped into Ethernet + inner packet. */
static __always_inline int wg_rx_deliver(struct __sk_buff *skb, struct wg_rx *rx)
{
	__u8 *in = rx->sc->buf;
	__u32 owner, inner_len;
	int v6in;

	if ((in[offsetof(struct wg_ip4, vihl)] >> 4) == 4) {
		if (rx->ct_len < WG_IPV4_HLEN)
			return WG_DROP_MALFORMED;
		inner_len = wg_get_be16(&in[offsetof(struct wg_ip4, tot_len)]);
		if (inner_len < WG_IPV4_HLEN)
			return WG_DROP_MALFORMED;
		v6in = 0;
		rx->inner_proto = bpf_htons(WG_ETH_P_IP);
	} else if ((in[offsetof(struct wg_ip4, vihl)] >> 4) == 6) {
		if (rx->ct_len < WG_IPV6_HLEN)
			return WG_DROP_MALFORMED;
		inner_len = WG_IPV6_HLEN + wg_get_be16(&in[offsetof(struct wg_ip6, payload_len)]);
		v6in = 1;
		rx->inner_proto = bpf_htons(WG_ETH_P_IPV6);
	} else {
		return WG_DROP_MALFORMED;
	}
	if (inner_len > rx->ct_len)
		return WG_DROP_MALFORMED;
	WG_BOUND(inner_len, WG_IPV4_HLEN, WG_MAX_PADDED, malformed);
	rx->src_allowed = 1;
	if (!wg_allowed_lookup(v6in, v6in ? &in[offsetof(struct wg_ip6, saddr)]
					  : &in[offsetof(struct wg_ip4, saddr)], &owner) ||
	    owner != rx->peer_id) {
		if (!wg_policy_may_accept())
			return WG_DROP_SRC_NOT_ALLOWED;
		rx->src_allowed = 0; /* the policy hook decides */
	}

	/* Change the family if needed, cut to length, overwrite the body
	 * with the plaintext. */
	if (rx->inner_proto != rx->outer_proto &&
	    bpf_skb_change_proto(skb, rx->inner_proto, 0))
		return WG_DROP_MALFORMED;
	if (bpf_skb_change_tail(skb, WG_ETH_HLEN + inner_len, 0) ||
	    bpf_skb_store_bytes(skb, WG_ETH_HLEN, in, inner_len, BPF_F_RECOMPUTE_CSUM) ||
	    bpf_skb_store_bytes(skb, offsetof(struct wg_eth, proto), &rx->inner_proto,
				sizeof(rx->inner_proto), BPF_F_RECOMPUTE_CSUM))
		return WG_DROP_MALFORMED;
	/* A NIC's "outer UDP checksum verified" must not vouch for the inner
	 * packet: the stack checks the inner checksums itself. */
	bpf_csum_level(skb, BPF_CSUM_LEVEL_RESET);
	return WG_RX_OK;
malformed:
	return WG_DROP_MALFORMED;
}
