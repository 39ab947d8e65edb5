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
	__u32 peer_id = 0, idx = 0;
	int ret, verdict = WG_TC_ACT_SHOT;

	if (!cfg || !cfg->hop_ifindex)
		return WG_TCX_NEXT;
	ret = wg_tun_lookup(skb, cfg, &peer_id, &idx, &verdict);
	if (ret != WG_TX_OK)
		goto out;
	ret = wg_tun_to_hop(skb, cfg, peer_id, idx);
	if (ret != WG_TX_OK)
		goto out;
	return bpf_redirect(cfg->hop_ifindex, 0);

out:
	if (ret == WG_TX_NEXT)
		return WG_TCX_NEXT;
	if (ret == WG_TX_SHOT)
		return verdict; /* the policy hook's, counted there */
	wg_count_drop(ret);
	return WG_TC_ACT_SHOT;
}

SEC("tc")
int wg_hop_encrypt(struct __sk_buff *skb)
{
	struct wg_ifconfig *cfg = wg_ifconfig();
	struct wg_peer_stats *st;
	struct wg_hop_work *w;
	struct wg_tx tx = {};
	__u32 zero = 0;
	__u64 now;
	int ret;

	w = bpf_map_lookup_elem(&hop_work, &zero);
	if (!cfg || !w)
		return WG_TC_ACT_SHOT;
	__builtin_memset(w, 0, sizeof(*w));
	ret = wg_hop_parse(skb, cfg, &tx);
	if (ret != WG_TX_OK)
		goto out;
	ret = wg_hop_lookup(skb, cfg, &tx, w);
	if (ret != WG_TX_OK)
		goto out;
	ret = wg_hop_seal(skb, &tx);
	if (ret != WG_TX_OK)
		goto out;
	ret = wg_hop_headers(cfg, &tx, w);
	if (ret != WG_TX_OK)
		goto out;
	ret = wg_hop_reshape(skb, &tx, w);
	if (ret != WG_TX_OK)
		goto out;

	now = bpf_ktime_get_boot_ns(); /* one clock read: stats and neighbour pace */
	st = wg_stats(tx.peer_id);
	if (st) {
		st->tx_bytes += WG_DATA_HEADER_LEN + tx.padded + WG_TAG_LEN;
		st->tx_packets++;
		st->last_tx_ns = now;
	}

	skb->mark = cfg->fwmark;
	/* Send a clone and consume the original: the clone belongs to no
	 * socket, and freeing the original gives the sending TCP socket back
	 * its TCP-small-queues credit now, as a NIC's transmit completion
	 * would. Otherwise the credit is held until the packet is freed
	 * wherever it ends: over a veth underlay, after the peer has decrypted
	 * it, which throttled one stream (docs/kernel-facts.md). A packet of no local socket
	 * (forwarded) needs no clone, without a resolved neighbour (the first
	 * packets) bpf_redirect_neigh resolves it, and once a second it keeps
	 * the neighbour entry checked (WG_NEIGH_REFRESH_NS). */
	if (tx.fib_rc == BPF_FIB_LKUP_RET_SUCCESS && skb->sk && !wg_neigh_refresh_due(now)) {
		if (bpf_skb_store_bytes(skb, offsetof(struct wg_eth, dst), w->fib.dmac,
					wg_sizeof_field(struct wg_eth, dst), 0) ||
		    bpf_skb_store_bytes(skb, offsetof(struct wg_eth, src), w->fib.smac,
					wg_sizeof_field(struct wg_eth, src), 0)) {
			ret = WG_DROP_MALFORMED;
			goto out;
		}
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

out:
	if (ret == WG_TX_SHOT)
		return WG_TC_ACT_SHOT; /* not from wg_tun_egress */
	wg_count_drop(ret);
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
