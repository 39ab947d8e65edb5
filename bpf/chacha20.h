/* SPDX-License-Identifier: GPL-2.0 */
/* chacha20.h: ChaCha20 (RFC 8439 section 2.3-2.4) in plain BPF.
 *
 * One function call per 64-byte block keeps the 512-byte stack budget of
 * the call chain. The 16 state words are plain locals: the JIT's register pressure is
 * not the bottleneck, the missing rotate instruction is (DESIGN.md 4); with
 * -mcpu=v3 each rotate is three 32-bit ALU ops. The double-round loop stays
 * rolled: unrolling measured no faster and costs verifier time.
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

/* A quarter round on four words of the state in the per-CPU map: load,
 * compute in registers, store. The compiler barrier stops clang from keeping
 * all 16 words live across quarter rounds, which with BPF's ten registers
 * would spill them to the stack (208 bytes measured), eating into the
 * 512-byte budget the packet path's own frames need. */
#define WG_QRM(x, i, j, k, l)                                       \
	do {                                                        \
		__u32 a_ = x[i], b_ = x[j], c_ = x[k], d_ = x[l];   \
		WG_QR(a_, b_, c_, d_);                              \
		x[i] = a_; x[j] = b_; x[k] = c_; x[l] = d_;         \
		asm volatile("" ::: "memory");                      \
	} while (0)

#define WG_W64(lo, hi) (((__u64)(hi) << 32) | (lo))

/* Writes keystream block number ctr (key and nonce from st) to st->ks.
 *
 * The heavy functions of the cipher are global (non-static) BPF functions:
 * the verifier checks each once on its own instead of once per call site
 * and per loop iteration, which keeps the object's load time and the
 * programs of the packet path far from the verifier's limits. Global
 * functions get pointers as "memory of the pointee's size, maybe NULL", hence
 * the struct-typed arguments and the NULL checks. */
__noinline int wg_chacha20_block(struct wg_cstate *st, __u32 ctr)
{
	__u32 *x;
	__u64 *ks;
	int i;

	if (!st)
		return WG_ERR_CRYPTO;
	x = st->x;
	x[0] = WG_CHACHA_C0; x[1] = WG_CHACHA_C1; x[2] = WG_CHACHA_C2; x[3] = WG_CHACHA_C3;
#pragma clang loop unroll(full)
	for (i = 0; i < 8; i++)
		x[4 + i] = st->key[i];
	x[12] = ctr; x[13] = st->nonce[0]; x[14] = st->nonce[1]; x[15] = st->nonce[2];
#pragma clang loop unroll(disable)
	for (i = 0; i < 10; i++) {
		WG_QRM(x, 0, 4, 8, 12);
		WG_QRM(x, 1, 5, 9, 13);
		WG_QRM(x, 2, 6, 10, 14);
		WG_QRM(x, 3, 7, 11, 15);
		WG_QRM(x, 0, 5, 10, 15);
		WG_QRM(x, 1, 6, 11, 12);
		WG_QRM(x, 2, 7, 8, 13);
		WG_QRM(x, 3, 4, 9, 14);
	}
	ks = (__u64 *)st->ks;
	ks[0] = WG_W64(x[0] + WG_CHACHA_C0, x[1] + WG_CHACHA_C1);
	ks[1] = WG_W64(x[2] + WG_CHACHA_C2, x[3] + WG_CHACHA_C3);
	ks[2] = WG_W64(x[4] + st->key[0], x[5] + st->key[1]);
	ks[3] = WG_W64(x[6] + st->key[2], x[7] + st->key[3]);
	ks[4] = WG_W64(x[8] + st->key[4], x[9] + st->key[5]);
	ks[5] = WG_W64(x[10] + st->key[6], x[11] + st->key[7]);
	ks[6] = WG_W64(x[12] + ctr, x[13] + st->nonce[0]);
	ks[7] = WG_W64(x[14] + st->nonce[1], x[15] + st->nonce[2]);
	return 0;
}

/* Encrypts (or decrypts: the same) s->buf[0,len) in place with block
 * counters starting at 1 (block 0 keys Poly1305). len <= WG_MAX_PADDED. */
__noinline int wg_chacha20_xor(struct wg_cstate *st, struct wg_scratch *s, __u32 len)
{
	__u32 full = len / 64, i, rest;
	__u64 off, *w, *ks;
	__u8 *p;

	if (!st || !s || len > WG_MAX_PADDED)
		return WG_ERR_LEN;
	ks = (__u64 *)st->ks;
#pragma clang loop unroll(disable)
	for (i = 0; i < WG_MAX_PADDED / 64; i++) {
		if (i >= full)
			break;
		wg_chacha20_block(st, i + 1);
		w = (__u64 *)(s->buf + i * 64);
		w[0] ^= ks[0]; w[1] ^= ks[1]; w[2] ^= ks[2]; w[3] ^= ks[3];
		w[4] ^= ks[4]; w[5] ^= ks[5]; w[6] ^= ks[6]; w[7] ^= ks[7];
	}
	off = (__u64)full * 64;
	rest = len - off;
	/* off < len <= WG_MAX_PADDED and a multiple of 64, so off + 63 stays
	 * inside the buffer; saying so lets the verifier drop per-byte checks. */
	if (!rest || rest > 63 || off > WG_MAX_PADDED - 64)
		return 0;
	/* Partial last block: 8 bytes and then 1 byte at a time, so nothing
	 * past len (the tag) is touched. */
	wg_chacha20_block(st, full + 1);
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
