/* SPDX-License-Identifier: GPL-2.0 */
/* suite.h: the crypto entry points of the packet path.
 *
 *  wg_seal(local_index, counter, len, generation)
 *	Encrypts scratch.buf[0,len) in place with the SEND key of the keypair
 *	with this local index, for this counter, and writes the 16-byte tag at
 *	buf[len, len+16). len = padded plaintext length, 0..WG_MAX_PADDED (a
 *	multiple of 16 for aes-cbc). Returns 0 or a negative WG_ERR_*.
 *  wg_open(local_index, counter, len, generation)
 *	Verifies (constant time) the tag at buf[len,len+16) over buf[0,len) with
 *	the RECEIVE key, then decrypts in place. Returns 0; WG_ERR_TAG on a bad
 *	tag with buf untouched; other negative WG_ERR_* (WG_ERR_NOKEY,
 *	WG_ERR_LEN, WG_ERR_CRYPTO).
 *  Both fail with WG_ERR_NOKEY, whatever they computed, unless the keys
 *  they used belong to the install `generation` (the caller read it from the
 *  session whose counter it uses; see struct wg_session).
 *  wg_session_suite(local_index)
 *	WG_SUITE_* of the keypair's secret half, or WG_ERR_NOKEY. (The
 *	wg_session in `sessions` carries the same suite.)
 *
 * Both look up the per-CPU `scratch` entry 0 themselves. Counters are the
 * caller's to check; every 64-bit value works here.
 */
#pragma once

#include "common.h"
#include "keymap.h"
#include "chacha20.h"
#include "poly1305.h"
#include "aescbc.h"
#include "aead.h"

static __always_inline int wg_session_suite(__u32 local_index)
{
	struct wg_keys *k = bpf_map_lookup_elem(&session_keys, &local_index);

	if (!k)
		return WG_ERR_NOKEY;
	return k->suite;
}

/* RFC 8439 AEAD on s->buf[0,len) with key, nonce and AD already in st. The
 * Poly1305 key is ChaCha20 block 0; data starts at block 1. Global: see
 * chacha20.h. */
__noinline int wg_chachapoly(struct wg_cstate *st, struct wg_scratch *s, __u32 len,
			     int open)
{
	__u64 *otk, *ks;

	if (!st || !s || len > WG_MAX_PADDED)
		return WG_ERR_LEN;
	wg_chacha20_block(st, NULL, 0, 0);
	otk = (__u64 *)st->otk;
	ks = (__u64 *)st->ks;
	otk[0] = ks[0]; otk[1] = ks[1]; otk[2] = ks[2]; otk[3] = ks[3];
	wg_poly1305_init(st);
	if (open) {
		wg_poly1305_aead(st, s, len);
		if (wg_tag_diff(st, s, len))
			return WG_ERR_TAG;
		return wg_chacha20_xor(st, s, len);
	}
	wg_chacha20_xor(st, s, len);
	wg_poly1305_aead(st, s, len);
	wg_tag_put(st, s, len);
	return 0;
}

/* Forgets the per-packet secrets: key, ChaCha20 state (invertible to the
 * key), keystream, Poly1305 key powers and products, IV. Everything but the
 * counter block, about 80 stores. */
static __always_inline void wg_cstate_wipe(struct wg_cstate *st)
{
	__u64 *w = (__u64 *)st;

#pragma clang loop unroll(full)
	for (int i = 0; i < (int)(sizeof(*st) / 8); i++)
		w[i] = 0;
}

/* Unwraps one direction's ChaCha20 key into st->key (keymap.h explains why
 * keys are wrapped). */
static __noinline int wg_unwrap_key(struct wg_cstate *st, struct wg_keys *k, int open)
{
	struct bpf_dynptr src, dst;
	struct bpf_crypto_ctx *c;
	struct wg_wrap *w;
	__u32 zero = 0;
	long e;

	w = bpf_map_lookup_elem(&key_wrap, &zero);
	if (!w)
		return WG_ERR_NOKEY;
	c = w->ctx; /* RCU-protected, no acquire */
	if (!c)
		return WG_ERR_NOKEY;
	if (open)
		e = bpf_dynptr_from_mem(k->wrapped + WG_WRAPPED_RECV, WG_KEY_LEN, 0, &src);
	else
		e = bpf_dynptr_from_mem(k->wrapped + WG_WRAPPED_SEND, WG_KEY_LEN, 0, &src);
	if (e || bpf_dynptr_from_mem(st->key, WG_KEY_LEN, 0, &dst))
		return WG_ERR_CRYPTO;
	/* The wrapped keys are AES-256 decryptions (keys.h, wg_wrap), so
	 * unwrapping is an encryption, the cheaper direction. */
	return bpf_crypto_encrypt(c, &src, &dst, NULL) ? WG_ERR_CRYPTO : 0;
}

/* The generation of the keys now behind local_index (0: none). */
static __always_inline __u64 wg_keys_generation(__u32 local_index)
{
	struct wg_keys *k = bpf_map_lookup_elem(&session_keys, &local_index);

	return k ? k->generation : 0;
}

static __always_inline int wg_crypt(__u32 local_index, __u64 counter, __u32 len,
				    __u64 generation, int open)
{
	struct wg_scratch *s;
	struct wg_cstate *st;
	struct wg_keys *k;
	__u32 zero = 0;
	int ret;

	if (len > WG_MAX_PADDED)
		return WG_ERR_LEN;
	/* The generation is checked before the keys are read and again after
	 * (a seqlock's reader): wg_wrap sets it only once the keys are in
	 * place, and a reused element changes it. */
	k = bpf_map_lookup_elem(&session_keys, &local_index);
	if (!k || *(volatile __u64 *)&k->generation != generation)
		return WG_ERR_NOKEY;
	s = bpf_map_lookup_elem(&scratch, &zero);
	st = bpf_map_lookup_elem(&cstate, &zero);
	if (!s || !st)
		return WG_ERR_CRYPTO;
	if (k->suite == WG_SUITE_CHACHA20POLY1305 && k->backend != WG_BACKEND_BPF) {
		st->nonce[0] = 0;
		st->nonce[1] = (__u32)counter;
		st->nonce[2] = (__u32)(counter >> 32);
		ret = wg_aead_crypt(k, st, s, len, open);
	} else if (k->suite == WG_SUITE_CHACHA20POLY1305) {
		ret = wg_unwrap_key(st, k, open);
		if (ret)
			goto out;
		st->nonce[0] = 0;
		st->nonce[1] = (__u32)counter;
		st->nonce[2] = (__u32)(counter >> 32);
		st->ad_len = 0;
		ret = wg_chachapoly(st, s, len, open);
	} else if (k->suite == WG_SUITE_AESCBC) {
		st->counter = counter;
		ret = wg_aescbc(st, k, s, len, open);
	} else {
		ret = WG_ERR_NOKEY;
	}
	if (!ret && *(volatile __u64 *)&k->generation != generation)
		ret = WG_ERR_NOKEY;
out:
	wg_cstate_wipe(st);
	return ret;
}

static __noinline int wg_seal(__u32 local_index, __u64 counter, __u32 len, __u64 generation)
{
	return wg_crypt(local_index, counter, len, generation, 0);
}

static __noinline int wg_open(__u32 local_index, __u64 counter, __u32 len, __u64 generation)
{
	return wg_crypt(local_index, counter, len, generation, 1);
}
