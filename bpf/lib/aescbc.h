/* SPDX-License-Identifier: GPL-2.0 */
/* aescbc.h: the aes-cbc suite on bpf_crypto.
 *
 * Per packet with counter c: one ecb(aes) call under K_aux over
 * le64(c)||le64(i), i = 0,1,2 gives the CBC IV and the one-time Poly1305 key
 * r||s; C = cbc(aes) under K_cbc; tag = Poly1305(r||s, C || le64(0) ||
 * le64(len)), checked before anything is decrypted.
 *
 * The contexts are RCU-protected kptrs read without acquiring them (the TC
 * program runs under RCU). bpf_dynptr_from_mem accepts map values only, so
 * every buffer here is in the per-CPU scratch/cstate maps, never the stack.
 */
#pragma once

#include "common.h"
#include "keymap.h"
#include "poly1305.h"

/* IV and Poly1305 key for counter c into st->otk[0,48). */
static __noinline int wg_aescbc_otk(struct wg_cstate *st, struct bpf_crypto_ctx *ecb)
{
	__u64 counter = st->counter;
	struct bpf_dynptr src, dst;
	__u64 *in = (__u64 *)st->aux_in;

	in[0] = counter; in[1] = 0;
	in[2] = counter; in[3] = 1;
	in[4] = counter; in[5] = 2;
	if (bpf_dynptr_from_mem(st->aux_in, 48, 0, &src) ||
	    bpf_dynptr_from_mem(st->otk, 48, 0, &dst))
		return WG_ERR_CRYPTO;
	if (bpf_crypto_encrypt(ecb, &src, &dst, NULL))
		return WG_ERR_CRYPTO;
	return 0;
}

/* cbc(aes) over s->buf[0,len) in place with the IV in st->iv. */
static __noinline int wg_aescbc_crypt(struct wg_cstate *st, struct bpf_crypto_ctx *cbc,
				      struct wg_scratch *s, __u32 len, int decrypt)
{
	struct bpf_dynptr src, dst, iv;
	int err;

	WG_OPAQUE(len);
	if (len > WG_MAX_PADDED)
		return WG_ERR_LEN;
	if (!len) /* bpf_crypto refuses empty input; nothing to do anyway */
		return 0;
	if (bpf_dynptr_from_mem(s->buf, len, 0, &src) ||
	    bpf_dynptr_from_mem(s->buf, len, 0, &dst) ||
	    bpf_dynptr_from_mem(st->iv, 16, 0, &iv))
		return WG_ERR_CRYPTO;
	if (decrypt)
		err = bpf_crypto_decrypt(cbc, &src, &dst, &iv);
	else
		err = bpf_crypto_encrypt(cbc, &src, &dst, &iv);
	return err ? WG_ERR_CRYPTO : 0;
}

/* Seal (open = 0) or open buf[0,len) || tag with one direction's contexts,
 * for the counter in st->counter. */
static __noinline int wg_aescbc(struct wg_cstate *st, struct wg_keys *k,
				struct wg_scratch *s, __u32 len, int open)
{
	__u64 *w = (__u64 *)st->otk;
	struct bpf_crypto_ctx *cbc, *ecb;
	int err;

	if (len > WG_MAX_PADDED || (len & 15))
		return WG_ERR_LEN;
	cbc = open ? k->recv_cbc : k->send_cbc;
	ecb = open ? k->recv_ecb : k->send_ecb;
	if (!cbc || !ecb)
		return WG_ERR_NOKEY;
	err = wg_aescbc_otk(st, ecb);
	if (err)
		return err;
	/* otk = IV || r || s: move the IV out, r||s to where
	 * wg_poly1305_init reads the one-time key. */
	w[6] = w[0]; w[7] = w[1];
	w[0] = w[2]; w[1] = w[3]; w[2] = w[4]; w[3] = w[5];
	*(__u64 *)st->iv = w[6];
	*(__u64 *)(st->iv + 8) = w[7];
	wg_poly1305_init(st);
	st->ad_len = 0;
	if (open) {
		wg_poly1305_aead(st, s, len);
		if (wg_tag_diff(st, s, len))
			return WG_ERR_TAG;
		return wg_aescbc_crypt(st, cbc, s, len, 1);
	}
	err = wg_aescbc_crypt(st, cbc, s, len, 0);
	if (err)
		return err;
	wg_poly1305_aead(st, s, len);
	wg_tag_put(st, s, len);
	return 0;
}
