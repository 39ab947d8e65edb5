/* SPDX-License-Identifier: GPL-2.0 */
/* chacha20.h: ChaCha20 (RFC 8439 section 2.3-2.4) in plain BPF.
 *
 * One function call per 64-byte block. The 16 state words are plain locals
 * that clang keeps in registers and its own frame; the chain
 * underlay ingress -> wg_open -> wg_chachapoly -> wg_chacha20_xor ->
 * wg_chacha20_block -> wg_chacha20_ks is near the 512-byte stack limit
 * (docs/kernel-facts.md). The
 * double-round loop stays rolled: unrolling is no faster and costs
 * verifier time. BPF has no rotate: each is four instructions. Locals beat
 * both the per-CPU map and hand-allocated assembly: the rounds are bound by
 * shift throughput, not by spills (docs/kernel-facts.md, Speed).
 */
#pragma once

#include "common.h"
#include "keymap.h"

#define WG_CHACHA_C0 0x61707865U /* "expa" */
#define WG_CHACHA_C1 0x3320646eU /* "nd 3" */
#define WG_CHACHA_C2 0x79622d32U /* "2-by" */
#define WG_CHACHA_C3 0x6b206574U /* "te k" */

#define WG_ROTL32(v, n) (((v) << (n)) | ((v) >> (32 - (n))))

#define WG_QR(a, b, c, d)                      \
	do {                                   \
		a += b; d ^= a; d = WG_ROTL32(d, 16); \
		c += d; b ^= c; b = WG_ROTL32(b, 12); \
		a += b; d ^= a; d = WG_ROTL32(d, 8);  \
		c += d; b ^= c; b = WG_ROTL32(b, 7);  \
	} while (0)

#define WG_W64(lo, hi) (((__u64)(hi) << 32) | (lo))

/* Keystream block number ctr (key and nonce from st) into st->ks.
 *
 * The heavy functions of the cipher are global (non-static) BPF functions:
 * the verifier checks each once on its own instead of once per call site
 * and per loop iteration, which keeps the object's load time and the
 * programs of the packet path far from the verifier's limits. Global
 * functions get pointers as "memory of the pointee's size, maybe NULL", hence
 * the struct-typed arguments and the NULL checks. Only st and the words are
 * live across the rounds, which keeps this frame at 208 bytes (240 when the
 * XOR into the buffer happened here too). */
__noinline int wg_chacha20_ks(struct wg_cstate *st, __u32 ctr)
{
	__u32 x0, x1, x2, x3, x4, x5, x6, x7, x8, x9, x10, x11, x12, x13, x14, x15;
	__u64 *w;
	int i;

	if (!st)
		return WG_ERR_CRYPTO;
	x0 = WG_CHACHA_C0; x1 = WG_CHACHA_C1; x2 = WG_CHACHA_C2; x3 = WG_CHACHA_C3;
	x4 = st->key[0]; x5 = st->key[1]; x6 = st->key[2]; x7 = st->key[3];
	x8 = st->key[4]; x9 = st->key[5]; x10 = st->key[6]; x11 = st->key[7];
	x12 = ctr; x13 = st->nonce[0]; x14 = st->nonce[1]; x15 = st->nonce[2];
#pragma clang loop unroll(disable)
	for (i = 0; i < 10; i++) {
		WG_QR(x0, x4, x8, x12);
		WG_QR(x1, x5, x9, x13);
		WG_QR(x2, x6, x10, x14);
		WG_QR(x3, x7, x11, x15);
		WG_QR(x0, x5, x10, x15);
		WG_QR(x1, x6, x11, x12);
		WG_QR(x2, x7, x8, x13);
		WG_QR(x3, x4, x9, x14);
	}
	x0 += WG_CHACHA_C0; x1 += WG_CHACHA_C1; x2 += WG_CHACHA_C2; x3 += WG_CHACHA_C3;
	x4 += st->key[0]; x5 += st->key[1]; x6 += st->key[2]; x7 += st->key[3];
	x8 += st->key[4]; x9 += st->key[5]; x10 += st->key[6]; x11 += st->key[7];
	x12 += ctr; x13 += st->nonce[0]; x14 += st->nonce[1]; x15 += st->nonce[2];
	w = (__u64 *)st->ks;
	w[0] = WG_W64(x0, x1); w[1] = WG_W64(x2, x3);
	w[2] = WG_W64(x4, x5); w[3] = WG_W64(x6, x7);
	w[4] = WG_W64(x8, x9); w[5] = WG_W64(x10, x11);
	w[6] = WG_W64(x12, x13); w[7] = WG_W64(x14, x15);
	return 0;
}

/* Keystream block number ctr XORed into s->buf[off, off+64), or, without s,
 * left in st->ks. */
__noinline int wg_chacha20_block(struct wg_cstate *st, struct wg_scratch *s, __u32 ctr,
				 __u32 off)
{
	__u64 *w, *ks, o = off;

	if (!st)
		return WG_ERR_CRYPTO;
	wg_chacha20_ks(st, ctr);
	if (!s)
		return 0;
	WG_OPAQUE(o);
	if (o > WG_MAX_PADDED - 64)
		return WG_ERR_LEN;
	w = (__u64 *)(s->buf + o);
	ks = (__u64 *)st->ks;
	w[0] ^= ks[0]; w[1] ^= ks[1]; w[2] ^= ks[2]; w[3] ^= ks[3];
	w[4] ^= ks[4]; w[5] ^= ks[5]; w[6] ^= ks[6]; w[7] ^= ks[7];
	return 0;
}

/* Encrypts (or decrypts: the same) s->buf[0,len) in place with block
 * counters starting at 1 (block 0 keys Poly1305). len <= WG_MAX_PADDED. */
__noinline int wg_chacha20_xor(struct wg_cstate *st, struct wg_scratch *s, __u32 len)
{
	__u32 full = len / 64, i, rest;
	__u64 off, *ks;
	__u8 *p;

	if (!st || !s || len > WG_MAX_PADDED)
		return WG_ERR_LEN;
	ks = (__u64 *)st->ks;
#pragma clang loop unroll(disable)
	for (i = 0; i < WG_MAX_PADDED / 64; i++) {
		if (i >= full)
			break;
		wg_chacha20_block(st, s, i + 1, i * 64);
	}
	off = (__u64)full * 64;
	rest = len - off;
	/* off < len <= WG_MAX_PADDED and a multiple of 64, so off + 63 stays
	 * inside the buffer; saying so lets the verifier drop per-byte checks. */
	if (!rest || rest > 63 || off > WG_MAX_PADDED - 64)
		return 0;
	/* Partial last block: 8 bytes and then 1 byte at a time, so nothing
	 * past len (the tag) is touched. */
	wg_chacha20_block(st, NULL, full + 1, 0);
	p = s->buf + off;
#pragma clang loop unroll(disable)
	for (i = 0; i < 7; i++) {
		if (8 * i + 8 > rest)
			break;
		*(__u64 *)(p + 8 * i) ^= ks[i];
	}
#pragma clang loop unroll(disable)
	for (i = 8 * i; i < 63; i++) {
		if (i >= rest)
			break;
		p[i] ^= st->ks[i];
	}
	return 0;
}
