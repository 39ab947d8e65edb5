/* SPDX-License-Identifier: GPL-2.0 */
/* ingress.h: the receive path, wg_underlay_ingress (tcx ingress on every
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
 * busy anyway, and decrypting even 64 bytes (1.3 µs with ChaCha20-Poly1305,
 * 3.6 µs with aes-cbc) costs more than the hand-off. A ping, or the ACKs of
 * a transfer, never make such a run, so idle round trips keep the short
 * path. Measured with 64-byte UDP through iperf3: aes-cbc 50 → 74-90 k
 * packets/s delivered when every packet was handed off, with idle pings
 * going from 0.08-0.10 to 0.19-0.27 ms, which this rule avoids. */
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

SEC("tc")
int wg_underlay_ingress(struct __sk_buff *skb)
{
	__u32 zero = 0, off, pktlen, ulen, plen, ct_len, inner_len, idx, owner, reason, n, peer_id;
	struct wg_endpoint src __attribute__((aligned(8))) = {};
	struct wg_ifconfig *cfg = wg_ifconfig();
	int confirmed = 0, roamed = 0, v6in;
	struct wg_peer_stats *st;
	struct wg_data_hdr dh;
	struct wg_session *s;
	struct wg_scratch *sc;
	__u64 now, generation;
	__be16 inner_proto;
	struct wg_udp udp;
	struct wg_eth eth;
	struct wg_peer *p;
	long rc;

	if (!cfg || !cfg->listen_port)
		return WG_TCX_NEXT;
	pktlen = skb->len;
	if (bpf_skb_load_bytes(skb, 0, &eth, sizeof(eth)))
		return WG_TCX_NEXT;
	if (eth.proto == bpf_htons(WG_ETH_P_IP)) {
		struct wg_ip4 ip;

		if (bpf_skb_load_bytes(skb, WG_ETH_HLEN, &ip, sizeof(ip)) ||
		    (ip.vihl >> 4) != 4 || (ip.vihl & 15) < 5 ||
		    ip.protocol != WG_IPPROTO_UDP)
			return WG_TCX_NEXT;
		off = WG_ETH_HLEN + (ip.vihl & 15) * 4;
		if (ip.frag_off & bpf_htons(WG_IP_MF | WG_IP_OFFSET))
			return WG_TCX_NEXT; /* reassembled by the stack for the daemon */
		src.family = WG_AF_INET;
		__builtin_memcpy(src.addr, ip.saddr, 4);
	} else if (eth.proto == bpf_htons(WG_ETH_P_IPV6)) {
		struct wg_ip6 ip;

		if (bpf_skb_load_bytes(skb, WG_ETH_HLEN, &ip, sizeof(ip)) ||
		    ip.nexthdr != WG_IPPROTO_UDP)
			return WG_TCX_NEXT;
		off = WG_ETH_HLEN + WG_IPV6_HLEN;
		src.family = WG_AF_INET6;
		__builtin_memcpy(src.addr, ip.saddr, 16);
	} else {
		return WG_TCX_NEXT;
	}
	if (bpf_skb_load_bytes(skb, off, &udp, sizeof(udp)) ||
	    udp.dest != bpf_htons(cfg->listen_port))
		return WG_TCX_NEXT;
	src.port = udp.source;

	/* A frame for another host's MAC (a promiscuous interface, a bridge
	 * port) is not ours: the stack drops it in ip_rcv, as it would for a
	 * socket. On <tun>-hop0 every hand-off looks like that (it keeps the
	 * underlay's destination MAC). */
	if (skb->ifindex != cfg->hop_ifindex) {
		if (skb->pkt_type == WG_PACKET_OTHERHOST)
			return WG_TCX_NEXT;
		switch (wg_outer_check(skb, src.family)) {
		case WG_OUTER_OURS:
			break;
		case WG_OUTER_STACK:
			return WG_TCX_NEXT; /* forwarded or dropped by the stack */
		default:
			reason = WG_DROP_OUTER;
			goto drop;
		}
	}

	/* Ours from here on. Only data messages are handled in the kernel;
	 * everything else goes up to the daemon's socket, past any later tcx
	 * program (a host firewall) that wants to see it. */
	if (skb->gso_size)
		return WG_TCX_NEXT; /* GRO aggregate: let the stack split it */
	if (bpf_skb_load_bytes(skb, off + sizeof(udp), &dh, sizeof(dh)) ||
	    (dh.type != WG_MSG_DATA && dh.type != WG_MSG_DATA_AESCBC) ||
	    dh.reserved[0] || dh.reserved[1] || dh.reserved[2])
		return WG_TCX_NEXT;
	ulen = bpf_ntohs(udp.len);
	if (ulen < WG_UDP_HLEN + WG_DATA_HEADER_LEN + WG_TAG_LEN ||
	    (__u64)off + ulen > pktlen)
		goto malformed;
	plen = ulen - WG_UDP_HLEN;
	idx = dh.receiver;
	s = bpf_map_lookup_elem(&sessions, &idx);
	if (!s)
		return WG_TCX_NEXT; /* perhaps a keypair only the daemon holds */
	/* What is read of s before wg_replay_commit, which checks the install
	 * generation again under the lock, belongs to that install (struct
	 * wg_session); the peer is read here for the same reason. */
	generation = s->generation;
	peer_id = s->peer_id;
	if (skb->ifindex != cfg->hop_ifindex && cfg->rx_cpus >= 2 &&
	    cfg->rx_cpus <= WG_RX_MAX_CPUS && (plen >= WG_HANDOFF_MIN || wg_small_flood()))
		return wg_rx_handoff(skb, cfg, idx);

	if ((dh.type == WG_MSG_DATA_AESCBC) != (s->suite == WG_SUITE_AESCBC)) {
		reason = WG_DROP_SUITE_MISMATCH;
		goto drop;
	}
	now = bpf_ktime_get_boot_ns();
	if (dh.counter >= WG_REJECT_AFTER_MESSAGES ||
	    now - s->created_ns >= WG_REJECT_AFTER_TIME_NS) {
		reason = WG_DROP_EXPIRED;
		goto drop;
	}
	if (!wg_replay_check(s, dh.counter))
		goto replay;
	ct_len = plen - WG_DATA_HEADER_LEN - WG_TAG_LEN;
	if (ct_len > WG_MAX_PADDED) {
		reason = WG_DROP_TOO_BIG;
		goto drop;
	}
	if (s->suite == WG_SUITE_AESCBC && (ct_len & 15))
		goto malformed;

	sc = bpf_map_lookup_elem(&scratch, &zero);
	if (!sc) {
		reason = WG_DROP_CRYPTO;
		goto drop;
	}
	/* Re-check the copy length right where it is used: clang may otherwise
	 * recompute it from a register the verifier has no bounds for. */
	n = ct_len + WG_TAG_LEN;
	WG_BOUND(n, WG_TAG_LEN, WG_SCRATCH_LEN, malformed);
	if (bpf_skb_load_bytes(skb, off + sizeof(udp) + sizeof(dh), sc->buf, n))
		goto malformed;
	rc = wg_open(idx, dh.counter, ct_len, generation);
	if (rc) {
		reason = rc == WG_ERR_TAG ? WG_DROP_BAD_TAG : WG_DROP_CRYPTO;
		goto drop;
	}
	/* Authentic from here on. The window is the one the daemon commits
	 * to as well (keys.h, wg_commit), whichever path sees a message first. */
	rc = wg_replay_commit(s, dh.counter, generation);
	if (rc == WG_REPLAY_STALE) {
		reason = WG_DROP_NO_SESSION;
		goto drop;
	}
	if (rc != WG_REPLAY_NEW)
		goto replay;
	p = bpf_map_lookup_elem(&peers, &peer_id);
	if (!p) {
		reason = WG_DROP_NO_SESSION;
		goto drop;
	}

	/* First packet on the responder's new keypair confirms it; an
	 * authenticated packet from elsewhere moves the endpoint (roaming). */
	if (p->next == idx || !wg_ep_equal(&p->endpoint, &src)) {
		bpf_spin_lock(&p->lock);
		if (p->next == idx) {
			p->previous = p->current;
			p->current = idx;
			p->next = 0;
			confirmed = 1;
		}
		if (!wg_ep_equal(&p->endpoint, &src)) {
			p->endpoint = src;
			roamed = 1;
		}
		bpf_spin_unlock(&p->lock);
	}
	if (confirmed)
		wg_emit(WG_EVENT_KEYPAIR_CONFIRMED, peer_id, idx, NULL, now);
	if (roamed)
		wg_emit(WG_EVENT_ENDPOINT_CHANGED, peer_id, idx, &src, now);
	if ((s->flags & WG_SESSION_INITIATOR) && p->current == idx &&
	    now - s->created_ns >= WG_REKEY_ON_RECV_NS &&
	    wg_event_allowed(p, &p->rekey_event_ns, now))
		wg_emit(WG_EVENT_REKEY_NEEDED, peer_id, idx, NULL, now);

	st = wg_stats(peer_id);
	if (st) {
		st->rx_bytes += plen;
		st->rx_packets++;
		st->last_rx_ns = now;
		if (!ct_len)
			st->rx_keepalives++;
		else
			st->last_rx_data_ns = now;
	}
	if (!ct_len)
		return WG_TC_ACT_SHOT; /* keepalive: timestamps only, not a drop */

	/* The inner packet: its own length field says where padding starts. */
	if ((sc->buf[offsetof(struct wg_ip4, vihl)] >> 4) == 4) {
		if (ct_len < WG_IPV4_HLEN)
			goto malformed;
		inner_len = wg_get_be16(&sc->buf[offsetof(struct wg_ip4, tot_len)]);
		if (inner_len < WG_IPV4_HLEN)
			goto malformed;
		v6in = 0;
		inner_proto = bpf_htons(WG_ETH_P_IP);
	} else if ((sc->buf[offsetof(struct wg_ip4, vihl)] >> 4) == 6) {
		if (ct_len < WG_IPV6_HLEN)
			goto malformed;
		inner_len = WG_IPV6_HLEN +
			    wg_get_be16(&sc->buf[offsetof(struct wg_ip6, payload_len)]);
		v6in = 1;
		inner_proto = bpf_htons(WG_ETH_P_IPV6);
	} else {
		goto malformed;
	}
	if (inner_len > ct_len)
		goto malformed;
	WG_BOUND(inner_len, WG_IPV4_HLEN, WG_MAX_PADDED, malformed);
	if (!wg_allowed_lookup(v6in, v6in ? &sc->buf[offsetof(struct wg_ip6, saddr)]
					    : &sc->buf[offsetof(struct wg_ip4, saddr)], &owner) ||
	    owner != peer_id) {
		reason = WG_DROP_SRC_NOT_ALLOWED;
		if (!wg_policy_may_accept())
			goto drop;
		owner = 0; /* the policy hook decides */
	}

	/* Reshape into Ethernet + inner packet: change the family if needed,
	 * cut to length, overwrite the body with the plaintext. */
	if (inner_proto != eth.proto && bpf_skb_change_proto(skb, inner_proto, 0))
		goto malformed;
	if (bpf_skb_change_tail(skb, WG_ETH_HLEN + inner_len, 0) ||
	    bpf_skb_store_bytes(skb, WG_ETH_HLEN, sc->buf, inner_len, BPF_F_RECOMPUTE_CSUM) ||
	    bpf_skb_store_bytes(skb, offsetof(struct wg_eth, proto), &inner_proto,
				sizeof(inner_proto), BPF_F_RECOMPUTE_CSUM))
		goto malformed;
	/* A NIC's "outer UDP checksum verified" must not vouch for the inner
	 * packet: the stack checks the inner checksums itself. */
	bpf_csum_level(skb, BPF_CSUM_LEVEL_RESET);
	rc = wg_policy_ingress(skb, cfg, peer_id, owner != 0);
	if (rc != WG_POLICY_PASS)
		return rc;
	return bpf_redirect(cfg->tun_ifindex, BPF_F_INGRESS);

replay:
	reason = WG_DROP_REPLAY;
	goto drop;
malformed:
	reason = WG_DROP_MALFORMED;
drop:
	wg_count_drop(reason);
	return WG_TC_ACT_SHOT;
}
