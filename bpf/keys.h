/* SPDX-License-Identifier: GPL-2.0 */
/* keys.h: SEC("syscall") programs the daemon runs with BPF_PROG_RUN to
 * install and remove keypairs, reserve send counters and probe bpf_crypto.
 *
 * Key material comes in through the program's context buffer (copied in and
 * out by the kernel for this one run), is stored only inside crypto
 * contexts or wrapped by one (see keymap.h), and is wiped from
 * the context before returning so that neither the kernel's copy nor the one
 * copied back to userspace keeps it.
 * Contexts can only be created here: bpf_crypto_ctx_create may sleep and is
 * not callable from TC.
 */
#pragma once

#include "common.h"
#include "keymap.h"
#include "replay.h"
#include "aead.h"
#include "wire.h"

/* Which step of an install failed (wg_install_args.stage). */
enum wg_install_stage {
	WG_STAGE_NONE = 0,
	WG_STAGE_SEND_CBC = 1, /* bpf_crypto_ctx_create("cbc(aes)"), send */
	WG_STAGE_SEND_ECB = 2, /* bpf_crypto_ctx_create("ecb(aes)"), send */
	WG_STAGE_RECV_CBC = 3,
	WG_STAGE_RECV_ECB = 4,
	WG_STAGE_KEYS_MAP = 5, /* session_keys update */
	WG_STAGE_SESSIONS_MAP = 6, /* sessions update */
	WG_STAGE_ARGS = 7, /* bad suite */
	WG_STAGE_WRAP = 8, /* creating K_wrap's context or wrapping */
	WG_STAGE_SEND_AEAD = 9, /* bpf_crypto_ctx_create("aead"), send */
	WG_STAGE_RECV_AEAD = 10,
};

/* Context of wg_install. */
struct wg_install_args {
	__u32 suite;
	__u32 local_index;
	__u32 remote_index;
	__u32 peer_id;
	__u32 flags;
	__s32 err;   /* out: negative errno of the failed step */
	__u32 stage; /* out: enum wg_install_stage */
	__u32 backend; /* chacha20poly1305: enum wg_backend (aead.h) */
	/* chacha20poly1305: transport keys T. aes-cbc: K_cbc of each direction. */
	__u8 send[WG_KEY_LEN];
	__u8 recv[WG_KEY_LEN];
	/* aes-cbc only: K_aux of each direction. */
	__u8 send_aux[WG_KEY_LEN];
	__u8 recv_aux[WG_KEY_LEN];
	/* A fresh random key; becomes K_wrap if there is no wrap context yet. */
	__u8 wrap_key[WG_KEY_LEN];
};
_Static_assert(sizeof(struct wg_install_args) == 192, "wg_install_args: shared with Go");

/* Context of wg_remove and wg_reserve. */
struct wg_index_args {
	__u32 local_index;
	__s32 err;    /* out */
	__u64 n;      /* in: counters to reserve */
	__u64 first;  /* out: first reserved counter */
};
_Static_assert(sizeof(struct wg_index_args) == 24, "wg_index_args: shared with Go");

/* Context of wg_commit. */
struct wg_commit_args {
	__u32 local_index;
	__s32 err;    /* out: 0 new, -EALREADY replay, -ENOENT no such keypair */
	__u64 counter;
};
_Static_assert(sizeof(struct wg_commit_args) == 16, "wg_commit_args: shared with Go");

/* Context of wg_probe: try to create (and release) one context. */
struct wg_probe_args {
	char type[16];
	char algo[128];
	__u32 key_len;
	__s32 err; /* out */
	__u32 authsize; /* an AEAD's tag length; 0 for a cipher */
};
_Static_assert(sizeof(struct wg_probe_args) == 156, "wg_probe_args: shared with Go");

/* Staging area for bpf_crypto_params (408 bytes: too big for the stack).
 * One entry: the daemon serialises its syscall runs. The key bytes are wiped
 * right after each bpf_crypto_ctx_create. */
struct wg_install_buf {
	struct bpf_crypto_params params;
	__u8 keys[WG_KEY_LEN]; /* the candidate K_wrap on its way to a context */
	__u64 generation;      /* the last install's (struct wg_session) */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct wg_install_buf);
} install_buf SEC(".maps");

/* A zeroed wg_session to fill and copy into `sessions` (too big for the
 * stack). Holds nothing secret. Typed as raw bytes because the verifier
 * refuses a value holding a bpf_spin_lock as a helper's source memory. */
struct wg_session_raw {
	__u8 b[sizeof(struct wg_session)];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct wg_session_raw);
} session_tmpl SEC(".maps");

static __always_inline void wg_wipe32(volatile __u8 *p)
{
	/* volatile: a wipe of memory nobody reads again must not be elided. */
	for (int i = 0; i < WG_KEY_LEN; i++)
		p[i] = 0;
}

/* Creates an skcipher context for algo with a 32-byte key. */
static __always_inline struct bpf_crypto_ctx *
wg_ctx_create(struct wg_install_buf *b, const char *algo, __u32 algo_len,
	      const __u8 *key, int *err)
{
	struct bpf_crypto_ctx *c;

	__builtin_memset(&b->params, 0, sizeof(b->params));
	__builtin_memcpy(b->params.type, "skcipher", 9);
	for (__u32 i = 0; i < 16; i++) {
		if (i >= algo_len)
			break;
		b->params.algo[i] = algo[i];
	}
	__builtin_memcpy(b->params.key, key, WG_KEY_LEN);
	b->params.key_len = WG_KEY_LEN;
	*err = 0;
	c = bpf_crypto_ctx_create(&b->params, sizeof(b->params), err);
	wg_wipe32(b->params.key);
	if (!c && !*err)
		*err = -22;
	return c;
}

static __always_inline void wg_xchg_release(struct bpf_crypto_ctx **slot,
					    struct bpf_crypto_ctx *c)
{
	struct bpf_crypto_ctx *old = bpf_kptr_xchg(slot, c);

	if (old)
		bpf_crypto_ctx_release(old);
}

/* Creates the K_wrap context from key unless one exists. */
static __always_inline int wg_ensure_wrap(struct wg_wrap *w, struct wg_install_buf *b,
					  const __u8 *key)
{
	struct bpf_crypto_ctx *c, *old;
	int have, err = 0;

	bpf_rcu_read_lock();
	have = w->ctx != NULL;
	bpf_rcu_read_unlock();
	if (have)
		return 0;
	c = wg_ctx_create(b, "ecb(aes)", 9, key, &err);
	if (!c)
		return err;
	old = bpf_kptr_xchg(&w->ctx, c);
	if (old) /* lost a race with another installer: theirs is replaced */
		bpf_crypto_ctx_release(old);
	return 0;
}

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

/* wg_wrap: the second half of installing a chacha20poly1305 keypair. The
 * kernel lets only TC/XDP programs call bpf_crypto_encrypt (a syscall
 * program gets "calling kernel function bpf_crypto_encrypt is not allowed";
 * measured), so the daemon runs this one with BPF_PROG_TEST_RUN, right after
 * wg_install, on a struct wg_wrap_frame, and it stores both keys, AES-256-ECB-decrypted under K_wrap, into the keypair's
 * session_keys entry, then gives the entry its session's generation. It is
 * never attached to an interface. */
#define WG_WRAP_ETHERTYPE 0x88b6

struct wg_wrap_frame {
	struct wg_eth eth;	/* proto: WG_WRAP_ETHERTYPE */
	__u32 local_index;	/* little-endian */
	__u32 zero;
	__u8 keys[2 * WG_KEY_LEN]; /* send key || receive key */
} __attribute__((packed));

_Static_assert(sizeof(struct wg_wrap_frame) == 86, "wg_wrap_frame layout");

static __always_inline int wg_wrap_keys(struct __sk_buff *skb)
{
	struct bpf_dynptr src, dst;
	struct wg_session *sess;
	struct bpf_crypto_ctx *c;
	struct wg_scratch *s;
	struct wg_wrap *w;
	struct wg_keys *k;
	__u32 zero = 0, idx;
	__u16 proto = 0;
	__u64 *p;
	int ret = -22;

	if (bpf_skb_load_bytes(skb, offsetof(struct wg_wrap_frame, eth.proto), &proto,
			       sizeof(proto)) ||
	    proto != bpf_htons(WG_WRAP_ETHERTYPE) ||
	    bpf_skb_load_bytes(skb, offsetof(struct wg_wrap_frame, local_index), &idx,
			       sizeof(idx)))
		return -22;
	k = bpf_map_lookup_elem(&session_keys, &idx);
	w = bpf_map_lookup_elem(&key_wrap, &zero);
	s = bpf_map_lookup_elem(&scratch, &zero);
	if (!k || !w || !s || k->suite != WG_SUITE_CHACHA20POLY1305)
		return -2;
	if (k->backend != WG_BACKEND_BPF) /* keys only in its contexts */
		return -22;
	c = w->ctx; /* RCU-protected, no acquire */
	if (!c)
		return -2;
	if (bpf_skb_load_bytes(skb, offsetof(struct wg_wrap_frame, keys), s->buf,
			       wg_sizeof_field(struct wg_wrap_frame, keys)))
		return -22;
	if (!bpf_dynptr_from_mem(s->buf, 2 * WG_KEY_LEN, 0, &src) &&
	    !bpf_dynptr_from_mem(k->wrapped, sizeof(k->wrapped), 0, &dst))
		/* Wrapped with the AES *decryption*, so that the per-packet
		 * unwrap (suite.h) is the encryption: the kernel's
		 * fixed-time AES encrypts a block ~2.7x faster than it
		 * decrypts one (bench-crypto, bare cbc(aes)). */
		ret = bpf_crypto_decrypt(c, &src, &dst, NULL);
	/* The keys are in place: the packet path may use them now, as the
	 * session's install (wg_install left the generation 0). */
	sess = bpf_map_lookup_elem(&sessions, &idx);
	if (!ret && sess)
		k->generation = sess->generation;
	/* The scratch map is readable: leave no key in it. */
	p = (__u64 *)s->buf;
	p[0] = p[1] = p[2] = p[3] = p[4] = p[5] = p[6] = p[7] = 0;
	return ret;
}

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
