// SPDX-License-Identifier: GPL-2.0
/* wgbpfd.c: the BPF object the daemon loads, and every entry point in it.
 * Helpers and maps live in lib/, one concern per header:
 *
 *   lib/tunnel_defs.h  constants newer than the build host's UAPI headers
 *   lib/wire.h         header layouts (Ethernet, IPv4, IPv6, UDP, data message)
 *   lib/peers.h        maps: ifconfig, peers, peer_stats, allowed_v4/v6
 *   lib/events.h       ring buffer of events for the daemon, rate limiting
 *   lib/replay.h       the receive replay window
 *   lib/csum.h         outer checksums
 *   lib/suite.h        crypto: wg_seal / wg_open on the per-CPU scratch
 *   lib/keys.h         key install and removal behind the syscall programs
 *   lib/outer.h        is an outer packet one the stack would take?
 *   lib/policy.h       the policy hooks
 *   lib/egress.h       send path helpers
 *   lib/ingress.h      receive path helpers
 *
 * Programs only tests need (raw ciphers on caller-given keys) are in
 * wgbpfd_test.c. */
#include "lib/common.h"
#include "lib/suite.h"
#include "lib/keys.h"
#include "lib/egress.h"
#include "lib/ingress.h"
#include "lib/gotypes.h"

WG_GO_TYPE(wg_event);
WG_GO_TYPE(wg_wrap_frame);

/* ---- SEC("syscall"): keypairs, counters, probes (run by the daemon) ---- */

SEC("syscall")
int wg_install(struct wg_install_args *a)
{
	struct bpf_crypto_ctx *scbc = NULL, *secb = NULL, *rcbc = NULL, *recb = NULL;
	struct bpf_crypto_ctx *sa = NULL, *ra = NULL;
	struct wg_keys kv = {}, *k;
	struct wg_wrap *w;
	struct wg_install_buf *b;
	struct wg_session *s;
	__u32 zero = 0, idx = a->local_index;
	__u64 generation;
	int err = 0;

	a->err = 0;
	a->stage = WG_STAGE_NONE;
	b = bpf_map_lookup_elem(&install_buf, &zero);
	s = (struct wg_session *)bpf_map_lookup_elem(&session_tmpl, &zero);
	w = bpf_map_lookup_elem(&key_wrap, &zero);
	if (!b || !s || !w) {
		a->err = -12;
		a->stage = WG_STAGE_ARGS;
		goto wipe;
	}

	kv.suite = a->suite;
	/* Unique per install; starts from the boot clock so that a restarted
	 * install buffer never repeats a generation still in the maps. */
	if (!b->generation)
		b->generation = bpf_ktime_get_boot_ns();
	generation = __sync_add_and_fetch(&b->generation, 1);
	/* A chacha20poly1305 entry holds no keys until wg_wrap has run, which
	 * then sets its generation: until then no packet can use it. */
	kv.generation = a->suite == WG_SUITE_AESCBC ? generation : 0;
	if (a->suite == WG_SUITE_CHACHA20POLY1305 && a->backend != WG_BACKEND_BPF) {
		/* The keys go only into the two contexts: ready at once. */
		kv.backend = a->backend;
		kv.generation = generation;
		sa = wg_aead_ctx_create(&b->params, a->send, &err);
		if (!sa) {
			a->stage = WG_STAGE_SEND_AEAD;
			goto fail;
		}
		ra = wg_aead_ctx_create(&b->params, a->recv, &err);
		if (!ra) {
			a->stage = WG_STAGE_RECV_AEAD;
			goto fail;
		}
	} else if (a->suite == WG_SUITE_CHACHA20POLY1305) {
		/* Via the map: the verifier refuses a ctx pointer plus offset
		 * as an argument. */
		__builtin_memcpy(b->keys, a->wrap_key, WG_KEY_LEN);
		err = wg_ensure_wrap(w, b, b->keys);
		wg_wipe32(b->keys);
		if (err) {
			a->stage = WG_STAGE_WRAP;
			goto fail;
		}
	} else if (a->suite == WG_SUITE_AESCBC) {
		scbc = wg_ctx_create(b, "cbc(aes)", 9, a->send, &err);
		if (!scbc) {
			a->stage = WG_STAGE_SEND_CBC;
			goto fail;
		}
		secb = wg_ctx_create(b, "ecb(aes)", 9, a->send_aux, &err);
		if (!secb) {
			a->stage = WG_STAGE_SEND_ECB;
			goto fail;
		}
		rcbc = wg_ctx_create(b, "cbc(aes)", 9, a->recv, &err);
		if (!rcbc) {
			a->stage = WG_STAGE_RECV_CBC;
			goto fail;
		}
		recb = wg_ctx_create(b, "ecb(aes)", 9, a->recv_aux, &err);
		if (!recb) {
			a->stage = WG_STAGE_RECV_ECB;
			goto fail;
		}
	} else {
		err = -22;
		a->stage = WG_STAGE_ARGS;
		goto fail;
	}

	/* Replacing an entry frees the old one, whose kptr destructor releases
	 * its contexts; a packet still using them holds RCU. */
	err = bpf_map_update_elem(&session_keys, &idx, &kv, BPF_ANY);
	if (err) {
		a->stage = WG_STAGE_KEYS_MAP;
		goto fail;
	}
	k = bpf_map_lookup_elem(&session_keys, &idx);
	if (!k) {
		err = -2;
		a->stage = WG_STAGE_KEYS_MAP;
		goto fail;
	}
	if (scbc)
		wg_xchg_release(&k->send_cbc, scbc);
	if (secb)
		wg_xchg_release(&k->send_ecb, secb);
	if (rcbc)
		wg_xchg_release(&k->recv_cbc, rcbc);
	if (recb)
		wg_xchg_release(&k->recv_ecb, recb);
	if (sa)
		wg_xchg_release(&k->send_aead, sa);
	if (ra)
		wg_xchg_release(&k->recv_aead, ra);
	scbc = secb = rcbc = recb = sa = ra = NULL;

	/* The non-secret half: fresh counters and replay window. */
	/* Nothing ever writes the template's replay bitmap, so it stays zero;
	 * every other field is set here. */
	s->_pad = 0;
	s->generation = generation;
	s->send_counter = 0;
	s->replay_last = 0;
	s->suite = a->suite;
	s->peer_id = a->peer_id;
	s->local_index = idx;
	s->remote_index = a->remote_index;
	s->flags = a->flags;
	s->created_ns = bpf_ktime_get_boot_ns();
	err = bpf_map_update_elem(&sessions, &idx, s, BPF_ANY);
	if (err) {
		bpf_map_delete_elem(&session_keys, &idx);
		a->stage = WG_STAGE_SESSIONS_MAP;
		goto fail;
	}
	goto wipe;

fail:
	if (scbc)
		bpf_crypto_ctx_release(scbc);
	if (secb)
		bpf_crypto_ctx_release(secb);
	if (rcbc)
		bpf_crypto_ctx_release(rcbc);
	if (recb)
		bpf_crypto_ctx_release(recb);
	if (sa)
		bpf_crypto_ctx_release(sa);
	if (ra)
		bpf_crypto_ctx_release(ra);
	a->err = err ? err : -22;
wipe:
	wg_wipe32(a->send);
	wg_wipe32(a->recv);
	wg_wipe32(a->send_aux);
	wg_wipe32(a->recv_aux);
	wg_wipe32(a->wrap_key);
	return 0;
}

/* Removes a keypair: the session first (the packet path stops finding it),
 * then the contexts (released explicitly) and the keys. */
SEC("syscall")
int wg_remove(struct wg_index_args *a)
{
	__u32 idx = a->local_index;
	struct wg_keys *k;
	int e1, e2;

	e1 = bpf_map_delete_elem(&sessions, &idx);
	k = bpf_map_lookup_elem(&session_keys, &idx);
	if (k) {
		wg_xchg_release(&k->send_cbc, NULL);
		wg_xchg_release(&k->send_ecb, NULL);
		wg_xchg_release(&k->recv_cbc, NULL);
		wg_xchg_release(&k->recv_ecb, NULL);
		wg_xchg_release(&k->send_aead, NULL);
		wg_xchg_release(&k->recv_aead, NULL);
	}
	e2 = bpf_map_delete_elem(&session_keys, &idx);
	a->err = (e1 && e2) ? e1 : 0;
	return 0;
}

/* Reserves n send counters for packets the daemon sends itself. */
SEC("syscall")
int wg_reserve(struct wg_index_args *a)
{
	__u32 idx = a->local_index;
	struct wg_session *s = bpf_map_lookup_elem(&sessions, &idx);

	if (!s) {
		a->err = -2;
		return 0;
	}
	a->first = __sync_fetch_and_add(&s->send_counter, a->n);
	a->err = 0;
	return 0;
}

/* Commits a counter the daemon authenticated (a message that reached its
 * socket rather than the ingress program) to the keypair's one replay
 * window, under the same lock and rules as the ingress program. A refused
 * counter is counted as a replay drop, as it would be there. */
SEC("syscall")
int wg_commit(struct wg_commit_args *a)
{
	__u32 idx = a->local_index;
	struct wg_session *s = bpf_map_lookup_elem(&sessions, &idx);

	if (!s) {
		a->err = -2; /* ENOENT */
		return 0;
	}
	if (a->counter >= WG_REJECT_AFTER_MESSAGES ||
	    wg_replay_commit(s, a->counter, s->generation) != WG_REPLAY_NEW) {
		wg_count_drop(WG_DROP_REPLAY);
		a->err = -114; /* EALREADY */
		return 0;
	}
	a->err = 0;
	return 0;
}

/* Start-up probe: can this kernel create a context of this type/algorithm? */
SEC("syscall")
int wg_probe(struct wg_probe_args *a)
{
	struct wg_install_buf *b;
	struct bpf_crypto_ctx *c;
	__u32 zero = 0;
	int err = 0;

	b = bpf_map_lookup_elem(&install_buf, &zero);
	if (!b) {
		a->err = -12;
		return 0;
	}
	__builtin_memset(&b->params, 0, sizeof(b->params));
	__builtin_memcpy(b->params.type, a->type, sizeof(a->type));
	b->params.type[13] = 0;
	__builtin_memcpy(b->params.algo, a->algo, sizeof(a->algo));
	b->params.algo[127] = 0;
	b->params.key_len = a->key_len > 256 ? 256 : a->key_len;
	b->params.authsize = a->authsize;
	c = bpf_crypto_ctx_create(&b->params, sizeof(b->params), &err);
	if (c) {
		bpf_crypto_ctx_release(c);
		err = 0;
	} else if (!err) {
		err = -22;
	}
	a->err = err;
	return 0;
}

/* ---- SEC("tc") wg_wrap: key wrapping (BPF_PROG_TEST_RUN only) ---- */

/* The packet is copied back to the caller as data_out, and freed unwiped:
 * zero whatever of the keys it holds, on every path. */
SEC("tc")
int wg_wrap(struct __sk_buff *skb)
{
	__u8 zeros[wg_sizeof_field(struct wg_wrap_frame, keys)] = {};
	int ret = wg_wrap_keys(skb);
	__u32 n = skb->len;

	if (n > offsetof(struct wg_wrap_frame, keys)) {
		n -= offsetof(struct wg_wrap_frame, keys);
		if (n > sizeof(zeros))
			n = sizeof(zeros);
		WG_BOUND(n, 1, sizeof(zeros), out);
		bpf_skb_store_bytes(skb, offsetof(struct wg_wrap_frame, keys), zeros, n, 0);
	}
out:
	return ret;
}

/* ---- send path: wg0 egress, then the encrypting hop ---- */

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

/* ---- receive path: underlay ingress, then the ingress policy hook ---- */

SEC("tc")
int wg_underlay_ingress(struct __sk_buff *skb)
{
	struct wg_ifconfig *cfg = wg_ifconfig();
	struct wg_rx rx = {};
	int ret;

	if (!cfg || !cfg->listen_port)
		return WG_TCX_NEXT;
	ret = wg_rx_parse(skb, cfg, &rx);
	if (ret != WG_RX_OK)
		goto out;
	ret = wg_rx_lookup(skb, cfg, &rx);
	if (ret == WG_RX_HANDOFF)
		return wg_rx_handoff(skb, cfg, rx.dh.receiver);
	if (ret != WG_RX_OK)
		goto out;
	ret = wg_rx_open(skb, &rx);
	if (ret != WG_RX_OK)
		goto out;
	ret = wg_rx_peer_update(&rx);
	if (ret != WG_RX_OK)
		goto out;
	if (!rx.ct_len)
		return WG_TC_ACT_SHOT; /* keepalive: timestamps only, not a drop */
	ret = wg_rx_deliver(skb, &rx);
	if (ret != WG_RX_OK)
		goto out;
	ret = wg_policy_ingress(skb, cfg, rx.peer_id, rx.src_allowed);
	if (ret != WG_POLICY_PASS)
		return ret;
	return bpf_redirect(cfg->tun_ifindex, BPF_F_INGRESS);

out:
	if (ret == WG_RX_NEXT)
		return WG_TCX_NEXT;
	wg_count_drop(ret);
	return WG_TC_ACT_SHOT;
}

/* Runs the ingress hook on what wg_underlay_ingress decrypted (its context
 * already filled) and delivers into wg0 on continue (if the source check
 * passed) or accept; any other verdict drops. */
SEC("tc")
int wg_policy_deliver(struct __sk_buff *skb)
{
	struct wg_ifconfig *cfg = wg_ifconfig();
	struct wgbpfd_ctx *c;
	__u32 zero = 0;
	int v;

	c = bpf_map_lookup_elem(&wgbpfd_ctx_map, &zero);
	if (!cfg || !c)
		goto drop;
	/* Read before the hook: it may write the context. */
	if (c->flags & WGBPFD_F_SRC_ALLOWED) {
		v = wg_policy_call(skb, WGBPFD_HOOK_INGRESS);
		if (v != WGBPFD_CONTINUE && v != WGBPFD_ACCEPT)
			goto drop;
	} else if (wg_policy_call(skb, WGBPFD_HOOK_INGRESS) != WGBPFD_ACCEPT) {
		wg_count_drop(WG_DROP_SRC_NOT_ALLOWED);
		return WG_TC_ACT_SHOT;
	}
	return bpf_redirect(cfg->tun_ifindex, BPF_F_INGRESS);
drop:
	wg_count_drop(WG_DROP_POLICY);
	return WG_TC_ACT_SHOT;
}

char LICENSE[] SEC("license") = "GPL";
