/* SPDX-License-Identifier: GPL-2.0 */
/* egress.h: the send path, in two programs.
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

SEC("tc")
int wg_tun_egress(struct __sk_buff *skb)
{
	struct wg_ifconfig *cfg = wg_ifconfig();
	struct wg_session *s = NULL;
	struct wg_eth eth = {};
	__u32 peer_id, idx;
	struct wg_peer *p;
	__u8 dst[16];
	__u64 now;
	int v6, rc;

	if (!cfg || !cfg->hop_ifindex)
		return WG_TCX_NEXT;
	if (skb->protocol == bpf_htons(WG_ETH_P_IP)) {
		v6 = 0;
		if (bpf_skb_load_bytes(skb, offsetof(struct wg_ip4, daddr), dst,
				       wg_sizeof_field(struct wg_ip4, daddr)))
			goto malformed;
	} else if (skb->protocol == bpf_htons(WG_ETH_P_IPV6)) {
		v6 = 1;
		if (bpf_skb_load_bytes(skb, offsetof(struct wg_ip6, daddr), dst,
				       wg_sizeof_field(struct wg_ip6, daddr)))
			goto malformed;
	} else {
		return WG_TCX_NEXT; /* not IP: the daemon decides */
	}

	if (!wg_allowed_lookup(v6, dst, &peer_id))
		peer_id = 0;
	rc = wg_policy_egress(skb, cfg, &peer_id);
	if (rc != WG_POLICY_PASS)
		return rc;
	p = bpf_map_lookup_elem(&peers, &peer_id);
	if (!p)
		goto no_route;

	now = bpf_ktime_get_boot_ns();
	idx = p->current;
	if (idx)
		s = bpf_map_lookup_elem(&sessions, &idx);
	if (!s || !wg_send_usable(s, now) || !p->endpoint.family) {
		if (wg_event_allowed(p, &p->handshake_event_ns, now))
			wg_emit(WG_EVENT_HANDSHAKE_NEEDED, peer_id, idx, NULL, now);
		return WG_TCX_NEXT; /* into the TUN queue: the daemon's slow path */
	}
	if ((s->flags & WG_SESSION_INITIATOR) &&
	    (now - s->created_ns >= WG_REKEY_AFTER_TIME_NS ||
	     s->send_counter >= WG_REKEY_AFTER_MESSAGES) &&
	    wg_event_allowed(p, &p->rekey_event_ns, now))
		wg_emit(WG_EVENT_REKEY_NEEDED, peer_id, idx, NULL, now);

	/* The hop's program trusts these two ids; they never leave the host. */
	eth.dst[0] = WG_HOP_MAC0;
	eth.dst[1] = WG_HOP_MAC1;
	wg_put_be32(&eth.dst[WG_HOP_MAC_ID], peer_id);
	eth.src[0] = WG_HOP_MAC0;
	eth.src[1] = WG_HOP_MAC1;
	wg_put_be32(&eth.src[WG_HOP_MAC_ID], idx);
	eth.proto = skb->protocol;
	/* A small packet (ping, ACK) encrypts on this CPU: moving it would cost
	 * an inter-processor wake-up on every round trip (see WG_HANDOFF_MIN). */
	if (cfg->rx_cpus >= 2 && cfg->rx_cpus <= WG_RX_MAX_CPUS && skb->len < WG_HANDOFF_MIN)
		bpf_set_hash(skb, wg_rps_hash(cfg->rx_cpus, bpf_get_smp_processor_id()));
	if (bpf_skb_change_head(skb, WG_ETH_HLEN, 0) ||
	    bpf_skb_store_bytes(skb, 0, &eth, sizeof(eth), 0))
		goto malformed;
	return bpf_redirect(cfg->hop_ifindex, 0);

no_route:
	wg_count_drop(WG_DROP_NO_ROUTE);
	return WG_TC_ACT_SHOT;
malformed:
	wg_count_drop(WG_DROP_MALFORMED);
	return WG_TC_ACT_SHOT;
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

SEC("tc")
int wg_hop_encrypt(struct __sk_buff *skb)
{
	__u32 zero = 0, peer_id, idx, len, padded, total, hlen, outer_len, reason, i;
	struct wg_ifconfig *cfg = wg_ifconfig();
	struct wg_peer_stats *st;
	struct wg_data_hdr dh = {};
	struct wg_session *s;
	struct wg_scratch *sc;
	struct wg_hop_work *w;
	struct wg_udp *udp;
	__u8 *l4;
	struct wg_eth eth;
	struct wg_peer *p;
	__u64 counter, now, generation;
	__s64 sum;
	long rc;

	w = bpf_map_lookup_elem(&hop_work, &zero);
	if (!cfg || !w)
		return WG_TC_ACT_SHOT;
	__builtin_memset(w, 0, sizeof(*w));
	if (bpf_skb_load_bytes(skb, 0, &eth, sizeof(eth)) ||
	    eth.dst[0] != WG_HOP_MAC0 || eth.dst[1] != WG_HOP_MAC1 ||
	    eth.src[0] != WG_HOP_MAC0 || eth.src[1] != WG_HOP_MAC1)
		return WG_TC_ACT_SHOT; /* not from wg_tun_egress */
	peer_id = wg_get_be32(&eth.dst[WG_HOP_MAC_ID]);
	idx = wg_get_be32(&eth.src[WG_HOP_MAC_ID]);

	len = skb->len;
	if (len < WG_ETH_HLEN + WG_IPV4_HLEN)
		goto malformed;
	len -= WG_ETH_HLEN;
	if (len > cfg->mtu || len > WG_MAX_PADDED)
		goto too_big;

	/* The peer, the counter, the header fields and, in wg_seal, the key
	 * must come from one install (struct wg_session): read its generation
	 * on both sides of what is taken from the session, and wg_seal checks
	 * it against the keys. */
	s = bpf_map_lookup_elem(&sessions, &idx);
	if (!s) {
		reason = WG_DROP_NO_SESSION;
		goto drop;
	}
	generation = s->generation;
	if (s->peer_id != peer_id) {
		reason = WG_DROP_NO_SESSION;
		goto drop;
	}
	dh.type = s->suite == WG_SUITE_AESCBC ? WG_MSG_DATA_AESCBC : WG_MSG_DATA;
	dh.receiver = s->remote_index; /* little endian on the wire, as in memory */
	counter = __sync_fetch_and_add(&s->send_counter, 1);
	if (*(volatile __u64 *)&s->generation != generation) {
		reason = WG_DROP_NO_SESSION;
		goto drop;
	}
	if (counter >= WG_REJECT_AFTER_MESSAGES) {
		reason = WG_DROP_EXPIRED;
		goto drop;
	}

	p = bpf_map_lookup_elem(&peers, &peer_id);
	if (!p)
		goto no_route;
	bpf_spin_lock(&p->lock);
	w->ep = p->endpoint;
	bpf_spin_unlock(&p->lock);
	if (w->ep.family != WG_AF_INET && w->ep.family != WG_AF_INET6)
		goto no_route;

	padded = wg_padded_len(dh.type == WG_MSG_DATA_AESCBC ? WG_SUITE_AESCBC :
			       WG_SUITE_CHACHA20POLY1305, len, cfg->mtu);
	if (padded > WG_MAX_PADDED)
		goto too_big;
	hlen = w->ep.family == WG_AF_INET ? WG_OUTER4_LEN : WG_OUTER6_LEN;
	outer_len = hlen + padded + WG_TAG_LEN;

	rc = wg_route(skb, cfg, &w->ep, outer_len, &w->fib);
	if (rc == BPF_FIB_LKUP_RET_FRAG_NEEDED)
		goto too_big;
	if (rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NO_NEIGH)
		goto no_route;

	/* Plaintext into scratch, zero padding, seal in place. */
	sc = bpf_map_lookup_elem(&scratch, &zero);
	if (!sc) {
		reason = WG_DROP_CRYPTO;
		goto drop;
	}
	WG_BOUND(len, WG_IPV4_HLEN, WG_MAX_PADDED, malformed);
	if (bpf_skb_load_bytes(skb, WG_ETH_HLEN, sc->buf, len))
		goto malformed;
	__builtin_memset(&sc->buf[len], 0, 16);
	if (wg_seal(idx, counter, padded, generation)) {
		reason = WG_DROP_CRYPTO;
		goto drop;
	}

	/* Outer headers. */
	if (w->ep.family == WG_AF_INET) {
		w->o.v4.ip.vihl = 0x45;
		w->o.v4.ip.tot_len = bpf_htons(outer_len);
		/* No DF, so an identification that varies per packet matters for
		 * reassembly if a router fragments; the counter's low bits do. */
		w->o.v4.ip.id = (__be16)counter;
		w->o.v4.ip.ttl = 64;
		w->o.v4.ip.protocol = WG_IPPROTO_UDP;
		__builtin_memcpy(w->o.v4.ip.saddr, &w->fib.ipv4_src, 4);
		__builtin_memcpy(w->o.v4.ip.daddr, w->ep.addr, 4);
		sum = bpf_csum_diff(NULL, 0, (__be32 *)&w->o.v4.ip, sizeof(w->o.v4.ip), 0);
		if (sum < 0)
			goto malformed;
		w->o.v4.ip.check = wg_csum_fold(sum);
		l4 = (__u8 *)&w->o + WG_IPV4_HLEN;
	} else {
		w->o.v6.ip.vtc_flow = bpf_htonl(0x60000000);
		w->o.v6.ip.payload_len = bpf_htons(outer_len - WG_IPV6_HLEN);
		w->o.v6.ip.nexthdr = WG_IPPROTO_UDP;
		w->o.v6.ip.hop_limit = 64;
		__builtin_memcpy(w->o.v6.ip.saddr, w->fib.ipv6_src, 16);
		__builtin_memcpy(w->o.v6.ip.daddr, w->ep.addr, 16);
		l4 = (__u8 *)&w->o + WG_IPV6_HLEN;
	}
	udp = (struct wg_udp *)l4; /* 4-byte aligned in either layout */
	udp->source = bpf_htons(cfg->listen_port);
	udp->dest = w->ep.port;
	udp->len = bpf_htons(WG_UDP_HLEN + WG_DATA_HEADER_LEN + padded + WG_TAG_LEN);
	dh.counter = counter;
	__builtin_memcpy(l4 + WG_UDP_HLEN, &dh, sizeof(dh));

	total = padded + WG_TAG_LEN;
	if (w->ep.family == WG_AF_INET6) {
		/* UDP over IPv6 must carry a checksum: pseudo-header (addresses,
		 * length, next header), UDP and data headers, then the payload
		 * padded with zeros to a multiple of 4 (zeros add nothing). */
		__u32 total4 = (total + 3) & ~3U;

		w->ph[0] = bpf_htonl(WG_UDP_HLEN + WG_DATA_HEADER_LEN + total);
		w->ph[1] = bpf_htonl(WG_IPPROTO_UDP);

		for (i = 0; i < 3; i++) {
			__u32 off = total + i;

			if (off < total4 && off < WG_SCRATCH_LEN)
				sc->buf[off] = 0;
		}
		sum = bpf_csum_diff(NULL, 0, (__be32 *)w->o.v6.ip.saddr, 32, 0);
		if (sum >= 0)
			sum = bpf_csum_diff(NULL, 0, w->ph, sizeof(w->ph), sum);
		if (sum >= 0)
			sum = bpf_csum_diff(NULL, 0, (__be32 *)l4,
					    WG_UDP_HLEN + WG_DATA_HEADER_LEN, sum);
		if (sum >= 0)
			sum = wg_csum_scratch(sc->buf, total4, sum);
		if (sum < 0)
			goto malformed;
		udp->check = wg_csum_fold(sum);
		if (!udp->check)
			udp->check = 0xffff;
	}

	/* Reshape: switch skb->protocol if the outer family differs (no ENCAP
	 * flags: skb->encapsulation would follow the packet across a veth and
	 * make the receiver's bpf_skb_change_tail fail), set the final length,
	 * then overwrite everything behind the Ethernet header. */
	if (eth.proto != (w->ep.family == WG_AF_INET ? bpf_htons(WG_ETH_P_IP)
						   : bpf_htons(WG_ETH_P_IPV6))) {
		eth.proto = w->ep.family == WG_AF_INET ? bpf_htons(WG_ETH_P_IP)
						    : bpf_htons(WG_ETH_P_IPV6);
		if (bpf_skb_change_proto(skb, eth.proto, 0))
			goto malformed;
	}
	if (bpf_skb_change_tail(skb, WG_ETH_HLEN + outer_len, 0))
		goto malformed;
	if (bpf_skb_store_bytes(skb, WG_ETH_HLEN, &w->o, hlen, 0))
		goto malformed;
	WG_BOUND(total, WG_TAG_LEN, WG_SCRATCH_LEN, too_big);
	if (bpf_skb_store_bytes(skb, WG_ETH_HLEN + hlen, sc->buf, total, 0))
		goto malformed;
	if (bpf_skb_store_bytes(skb, offsetof(struct wg_eth, proto), &eth.proto,
				sizeof(eth.proto), 0))
		goto malformed;

	now = bpf_ktime_get_boot_ns(); /* one clock read: stats and neighbour pace */
	st = wg_stats(peer_id);
	if (st) {
		st->tx_bytes += WG_DATA_HEADER_LEN + total;
		st->tx_packets++;
		st->last_tx_ns = now;
	}

	skb->mark = cfg->fwmark;
	/* Send a clone and consume the original: the clone belongs to no
	 * socket, and freeing the original gives the sending TCP socket back
	 * its TCP-small-queues credit now, as a NIC's transmit completion
	 * would. Otherwise the credit is held until the packet is freed
	 * wherever it ends: over a veth underlay, after the peer has decrypted
	 * it, which capped one stream at about 1 ms of pacing rate in flight
	 * and left the CPUs about 40% idle. A packet of no local socket
	 * (forwarded) needs no clone, without a resolved neighbour (the first
	 * packets) bpf_redirect_neigh resolves it, and once a second it keeps
	 * the neighbour entry checked (WG_NEIGH_REFRESH_NS). */
	if (rc == BPF_FIB_LKUP_RET_SUCCESS && skb->sk && !wg_neigh_refresh_due(now)) {
		if (bpf_skb_store_bytes(skb, offsetof(struct wg_eth, dst), w->fib.dmac,
					wg_sizeof_field(struct wg_eth, dst), 0) ||
		    bpf_skb_store_bytes(skb, offsetof(struct wg_eth, src), w->fib.smac,
					wg_sizeof_field(struct wg_eth, src), 0))
			goto malformed;
		if (bpf_clone_redirect(skb, w->fib.ifindex, 0) >= 0)
			return WG_TC_ACT_STOLEN; /* consumed, not dropped */
		/* No clone (out of memory): send the original instead. */
	}
	w->nh.nh_family = w->fib.family;
	if (w->fib.family == WG_AF_INET)
		w->nh.ipv4_nh = w->fib.ipv4_dst;
	else
		__builtin_memcpy(w->nh.ipv6_nh, w->fib.ipv6_dst, 16);
	return bpf_redirect_neigh(w->fib.ifindex, &w->nh, sizeof(w->nh), 0);

no_route:
	reason = WG_DROP_NO_ROUTE;
	goto drop;
too_big:
	reason = WG_DROP_TOO_BIG;
	goto drop;
malformed:
	reason = WG_DROP_MALFORMED;
drop:
	wg_count_drop(reason);
	return WG_TC_ACT_SHOT;
}
