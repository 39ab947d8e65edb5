/* SPDX-License-Identifier: GPL-2.0 */
/* keys.h: behind the SEC("syscall") programs (wgbpfd.c) the daemon runs to
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
		 * fixed-time AES encrypts a block faster than it
		 * decrypts one (docs/kernel-facts.md). */
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
