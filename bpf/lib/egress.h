/* SPDX-License-Identifier: GPL-2.0 */
/* egress.h: the send path, in two programs (wgbpfd.c); their helpers.
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

/* ---- the send path, stage by stage ---------------------------------------
 * Each stage returns WG_TX_OK to go on, WG_TX_NEXT to leave the packet to
 * the next tcx program (wg0: the daemon's slow path), WG_TX_SHOT to drop
 * what is not ours without counting it, or the enum wg_drop_reason the
 * packet is dropped and counted for. */
#define WG_TX_OK (-1)
#define WG_TX_NEXT (-2)
#define WG_TX_SHOT (-3)

/* wg_tun_egress, look up: AllowedIPs (then the egress policy hook) name
 * the peer, the peer its current keypair. Without a usable keypair or
 * endpoint the packet goes to the daemon, which starts a handshake. */
static __always_inline int wg_tun_lookup(struct __sk_buff *skb, struct wg_ifconfig *cfg,
					 __u32 *peer_id, __u32 *idx, int *verdict)
{
	struct wg_session *s = NULL;
	struct wg_peer *p;
	__u8 dst[16];
	__u64 now;
	int v6;

	if (skb->protocol == bpf_htons(WG_ETH_P_IP)) {
		v6 = 0;
		if (bpf_skb_load_bytes(skb, offsetof(struct wg_ip4, daddr), dst,
				       wg_sizeof_field(struct wg_ip4, daddr)))
			return WG_DROP_MALFORMED;
	} else if (skb->protocol == bpf_htons(WG_ETH_P_IPV6)) {
		v6 = 1;
		if (bpf_skb_load_bytes(skb, offsetof(struct wg_ip6, daddr), dst,
				       wg_sizeof_field(struct wg_ip6, daddr)))
			return WG_DROP_MALFORMED;
	} else {
		return WG_TX_NEXT; /* not IP: the daemon decides */
	}

	if (!wg_allowed_lookup(v6, dst, peer_id))
		*peer_id = 0;
	*verdict = wg_policy_egress(skb, cfg, peer_id);
	if (*verdict != WG_POLICY_PASS)
		return WG_TX_SHOT;
	p = bpf_map_lookup_elem(&peers, peer_id);
	if (!p)
		return WG_DROP_NO_ROUTE;

	now = bpf_ktime_get_boot_ns();
	*idx = p->current;
	if (*idx)
		s = bpf_map_lookup_elem(&sessions, idx);
	if (!s || !wg_send_usable(s, now) || !p->endpoint.family) {
		if (wg_event_allowed(p, &p->handshake_event_ns, now))
			wg_emit(WG_EVENT_HANDSHAKE_NEEDED, *peer_id, *idx, NULL, now);
		return WG_TX_NEXT; /* into the TUN queue: the daemon's slow path */
	}
	if ((s->flags & WG_SESSION_INITIATOR) &&
	    (now - s->created_ns >= WG_REKEY_AFTER_TIME_NS ||
	     s->send_counter >= WG_REKEY_AFTER_MESSAGES) &&
	    wg_event_allowed(p, &p->rekey_event_ns, now))
		wg_emit(WG_EVENT_REKEY_NEEDED, *peer_id, *idx, NULL, now);
	return WG_TX_OK;
}

/* wg_tun_egress, deliver: an Ethernet header naming the peer and the
 * keypair, which the hop's program trusts (it never leaves the host). */
static __always_inline int wg_tun_to_hop(struct __sk_buff *skb, struct wg_ifconfig *cfg,
					 __u32 peer_id, __u32 idx)
{
	struct wg_eth eth = {};

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
		return WG_DROP_MALFORMED;
	return WG_TX_OK;
}

/* What wg_hop_encrypt's stages learn of one packet; the larger parts
 * (FIB answer, endpoint, outer headers) are in the per-CPU hop_work. */
struct wg_tx {
	__u32 peer_id;
	__u32 idx;       /* local index of the keypair */
	__u32 len;       /* plaintext, without the hop's Ethernet header */
	__u32 padded;
	__u32 outer_len;
	__u64 counter;
	__u64 generation;
	long fib_rc;
	struct wg_data_hdr dh;
	struct wg_scratch *sc;
	__be16 proto;    /* skb's protocol, then the outer family's */
};

/* Outer IP, UDP and data headers for the endpoint's family: a constant
 * either way, which the verifier sees as such only if computed here rather
 * than carried through struct wg_tx. */
static __always_inline __u32 wg_outer_hlen(struct wg_hop_work *w)
{
	return w->ep.family == WG_AF_INET ? WG_OUTER4_LEN : WG_OUTER6_LEN;
}

/* wg_hop_encrypt, parse: only what wg_tun_egress sent, within the MTU. */
static __always_inline int wg_hop_parse(struct __sk_buff *skb, struct wg_ifconfig *cfg,
					struct wg_tx *tx)
{
	struct wg_eth eth;

	if (bpf_skb_load_bytes(skb, 0, &eth, sizeof(eth)) ||
	    eth.dst[0] != WG_HOP_MAC0 || eth.dst[1] != WG_HOP_MAC1 ||
	    eth.src[0] != WG_HOP_MAC0 || eth.src[1] != WG_HOP_MAC1)
		return WG_TX_SHOT; /* not from wg_tun_egress */
	tx->peer_id = wg_get_be32(&eth.dst[WG_HOP_MAC_ID]);
	tx->idx = wg_get_be32(&eth.src[WG_HOP_MAC_ID]);
	tx->proto = eth.proto;

	tx->len = skb->len;
	if (tx->len < WG_ETH_HLEN + WG_IPV4_HLEN)
		return WG_DROP_MALFORMED;
	tx->len -= WG_ETH_HLEN;
	if (tx->len > cfg->mtu || tx->len > WG_MAX_PADDED)
		return WG_DROP_TOO_BIG;
	return WG_TX_OK;
}

/* wg_hop_encrypt, look up: the keypair and its next counter, the peer's
 * endpoint, the padded length and the route to the endpoint. */
static __always_inline int wg_hop_lookup(struct __sk_buff *skb, struct wg_ifconfig *cfg,
					 struct wg_tx *tx, struct wg_hop_work *w)
{
	struct wg_session *s;
	struct wg_peer *p;

	/* The peer, the counter, the header fields and, in wg_seal, the key
	 * must come from one install (struct wg_session): read its generation
	 * on both sides of what is taken from the session, and wg_seal checks
	 * it against the keys. */
	s = bpf_map_lookup_elem(&sessions, &tx->idx);
	if (!s)
		return WG_DROP_NO_SESSION;
	tx->generation = s->generation;
	if (s->peer_id != tx->peer_id)
		return WG_DROP_NO_SESSION;
	tx->dh.type = s->suite == WG_SUITE_AESCBC ? WG_MSG_DATA_AESCBC : WG_MSG_DATA;
	tx->dh.receiver = s->remote_index; /* little endian on the wire, as in memory */
	tx->counter = __sync_fetch_and_add(&s->send_counter, 1);
	if (*(volatile __u64 *)&s->generation != tx->generation)
		return WG_DROP_NO_SESSION;
	if (tx->counter >= WG_REJECT_AFTER_MESSAGES)
		return WG_DROP_EXPIRED;

	p = bpf_map_lookup_elem(&peers, &tx->peer_id);
	if (!p)
		return WG_DROP_NO_ROUTE;
	bpf_spin_lock(&p->lock);
	w->ep = p->endpoint;
	bpf_spin_unlock(&p->lock);
	if (w->ep.family != WG_AF_INET && w->ep.family != WG_AF_INET6)
		return WG_DROP_NO_ROUTE;

	tx->padded = wg_padded_len(tx->dh.type == WG_MSG_DATA_AESCBC ? WG_SUITE_AESCBC :
				   WG_SUITE_CHACHA20POLY1305, tx->len, cfg->mtu);
	if (tx->padded > WG_MAX_PADDED)
		return WG_DROP_TOO_BIG;
	tx->outer_len = wg_outer_hlen(w) + tx->padded + WG_TAG_LEN;

	tx->fib_rc = wg_route(skb, cfg, &w->ep, tx->outer_len, &w->fib);
	if (tx->fib_rc == BPF_FIB_LKUP_RET_FRAG_NEEDED)
		return WG_DROP_TOO_BIG;
	if (tx->fib_rc != BPF_FIB_LKUP_RET_SUCCESS && tx->fib_rc != BPF_FIB_LKUP_RET_NO_NEIGH)
		return WG_DROP_NO_ROUTE;
	return WG_TX_OK;
}

/* wg_hop_encrypt, seal: plaintext into scratch, zero padding, seal in place. */
static __always_inline int wg_hop_seal(struct __sk_buff *skb, struct wg_tx *tx)
{
	__u32 zero = 0, len = tx->len;

	tx->sc = bpf_map_lookup_elem(&scratch, &zero);
	if (!tx->sc)
		return WG_DROP_CRYPTO;
	WG_BOUND(len, WG_IPV4_HLEN, WG_MAX_PADDED, malformed);
	if (bpf_skb_load_bytes(skb, WG_ETH_HLEN, tx->sc->buf, len))
		return WG_DROP_MALFORMED;
	__builtin_memset(&tx->sc->buf[len], 0, 16);
	if (wg_seal(tx->idx, tx->counter, tx->padded, tx->generation))
		return WG_DROP_CRYPTO;
	return WG_TX_OK;
malformed:
	return WG_DROP_MALFORMED;
}

/* wg_hop_encrypt: the outer IP, UDP and data headers, in hop_work. */
static __always_inline int wg_hop_headers(struct wg_ifconfig *cfg, struct wg_tx *tx,
					  struct wg_hop_work *w)
{
	__u32 total = tx->padded + WG_TAG_LEN, i;
	struct wg_udp *udp;
	__u8 *l4;
	__s64 sum;

	if (w->ep.family == WG_AF_INET) {
		w->o.v4.ip.vihl = 0x45;
		w->o.v4.ip.tot_len = bpf_htons(tx->outer_len);
		/* No DF, so an identification that varies per packet matters for
		 * reassembly if a router fragments; the counter's low bits do. */
		w->o.v4.ip.id = (__be16)tx->counter;
		w->o.v4.ip.ttl = 64;
		w->o.v4.ip.protocol = WG_IPPROTO_UDP;
		__builtin_memcpy(w->o.v4.ip.saddr, &w->fib.ipv4_src, 4);
		__builtin_memcpy(w->o.v4.ip.daddr, w->ep.addr, 4);
		sum = bpf_csum_diff(NULL, 0, (__be32 *)&w->o.v4.ip, sizeof(w->o.v4.ip), 0);
		if (sum < 0)
			return WG_DROP_MALFORMED;
		w->o.v4.ip.check = wg_csum_fold(sum);
		l4 = (__u8 *)&w->o + WG_IPV4_HLEN;
	} else {
		w->o.v6.ip.vtc_flow = bpf_htonl(0x60000000);
		w->o.v6.ip.payload_len = bpf_htons(tx->outer_len - WG_IPV6_HLEN);
		w->o.v6.ip.nexthdr = WG_IPPROTO_UDP;
		w->o.v6.ip.hop_limit = 64;
		__builtin_memcpy(w->o.v6.ip.saddr, w->fib.ipv6_src, 16);
		__builtin_memcpy(w->o.v6.ip.daddr, w->ep.addr, 16);
		l4 = (__u8 *)&w->o + WG_IPV6_HLEN;
	}
	udp = (struct wg_udp *)l4; /* 4-byte aligned in either layout */
	udp->source = bpf_htons(cfg->listen_port);
	udp->dest = w->ep.port;
	udp->len = bpf_htons(WG_UDP_HLEN + WG_DATA_HEADER_LEN + total);
	tx->dh.counter = tx->counter;
	__builtin_memcpy(l4 + WG_UDP_HLEN, &tx->dh, sizeof(tx->dh));

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
				tx->sc->buf[off] = 0;
		}
		sum = bpf_csum_diff(NULL, 0, (__be32 *)w->o.v6.ip.saddr,
				    sizeof(w->o.v6.ip.saddr) + sizeof(w->o.v6.ip.daddr), 0);
		if (sum >= 0)
			sum = bpf_csum_diff(NULL, 0, w->ph, sizeof(w->ph), sum);
		if (sum >= 0)
			sum = bpf_csum_diff(NULL, 0, (__be32 *)l4,
					    WG_UDP_HLEN + WG_DATA_HEADER_LEN, sum);
		if (sum >= 0)
			sum = wg_csum_scratch(tx->sc->buf, total4, sum);
		if (sum < 0)
			return WG_DROP_MALFORMED;
		udp->check = wg_csum_fold(sum);
		if (!udp->check)
			udp->check = 0xffff;
	}
	return WG_TX_OK;
}

/* wg_hop_encrypt, deliver, first half: the skb becomes Ethernet + outer
 * headers + ciphertext. Switch skb->protocol if the outer family differs
 * (no ENCAP flags: skb->encapsulation would follow the packet across a veth
 * and make the receiver's bpf_skb_change_tail fail), set the final length,
 * then overwrite everything behind the Ethernet header. */
static __always_inline int wg_hop_reshape(struct __sk_buff *skb, struct wg_tx *tx,
					  struct wg_hop_work *w)
{
	__be16 outer = w->ep.family == WG_AF_INET ? bpf_htons(WG_ETH_P_IP)
						  : bpf_htons(WG_ETH_P_IPV6);
	__u32 total = tx->padded + WG_TAG_LEN, hlen = wg_outer_hlen(w);

	if (tx->proto != outer) {
		tx->proto = outer;
		if (bpf_skb_change_proto(skb, outer, 0))
			return WG_DROP_MALFORMED;
	}
	if (bpf_skb_change_tail(skb, WG_ETH_HLEN + tx->outer_len, 0))
		return WG_DROP_MALFORMED;
	if (bpf_skb_store_bytes(skb, WG_ETH_HLEN, &w->o, hlen, 0))
		return WG_DROP_MALFORMED;
	WG_BOUND(total, WG_TAG_LEN, WG_SCRATCH_LEN, too_big);
	if (bpf_skb_store_bytes(skb, WG_ETH_HLEN + hlen, tx->sc->buf, total, 0))
		return WG_DROP_MALFORMED;
	if (bpf_skb_store_bytes(skb, offsetof(struct wg_eth, proto), &tx->proto,
				sizeof(tx->proto), 0))
		return WG_DROP_MALFORMED;
	return WG_TX_OK;
too_big:
	return WG_DROP_TOO_BIG;
}
