/* SPDX-License-Identifier: GPL-2.0 */
/* poly1305.h: Poly1305 (RFC 8439 section 2.5) in plain BPF, shared by both
 * suites.
 *
 * BPF has 64x64->64 multiplies only, so the accumulator uses five 26-bit
 * limbs (products stay below 2^59). Blocks are consumed two at a time as
 * h = (h + m1)·r² + m2·r with r² computed once per packet: one carry chain
 * per two blocks, faster than block by block (docs/kernel-facts.md).
 * State lives in struct wg_cstate (per-CPU, write-only map).
 */
#pragma once

#include "common.h"
#include "keymap.h"

#define WG_M26 0x3ffffffULL


/* Clamps r, derives 5r, r², 5r² and clears h. The one-time key r (16) ||
 * s (16) is read from st->otk. Global functions: see chacha20.h. */
__noinline int wg_poly1305_init(struct wg_cstate *st)
{
	__u64 lo, hi, r0, r1, r2, r3, r4, s1, s2, s3, s4, d0, d1, d2, d3, d4, c;

	if (!st)
		return WG_ERR_CRYPTO;
	lo = *(__u64 *)st->otk & 0x0ffffffc0fffffffULL;
	hi = *(__u64 *)(st->otk + 8) & 0x0ffffffc0ffffffcULL;
	r0 = lo & WG_M26;
	r1 = (lo >> 26) & WG_M26;
	r2 = ((lo >> 52) | (hi << 12)) & WG_M26;
	r3 = (hi >> 14) & WG_M26;
	r4 = hi >> 40;
	s1 = r1 * 5; s2 = r2 * 5; s3 = r3 * 5; s4 = r4 * 5;
	st->r[0] = r0; st->r[1] = r1; st->r[2] = r2; st->r[3] = r3; st->r[4] = r4;
	st->r5[1] = s1; st->r5[2] = s2; st->r5[3] = s3; st->r5[4] = s4;

	/* r² mod 2^130-5, carried back to 26-bit limbs. */
	d0 = r0 * r0 + 2 * (r1 * s4 + r2 * s3);
	d1 = 2 * (r0 * r1 + r2 * s4) + r3 * s3;
	d2 = 2 * (r0 * r2 + r3 * s4) + r1 * r1;
	d3 = 2 * (r0 * r3 + r1 * r2) + r4 * s4;
	d4 = 2 * (r0 * r4 + r1 * r3) + r2 * r2;
	c = d0 >> 26; d0 &= WG_M26; d1 += c;
	c = d1 >> 26; d1 &= WG_M26; d2 += c;
	c = d2 >> 26; d2 &= WG_M26; d3 += c;
	c = d3 >> 26; d3 &= WG_M26; d4 += c;
	c = d4 >> 26; d4 &= WG_M26; d0 += c * 5;
	c = d0 >> 26; d0 &= WG_M26; d1 += c;
	st->rr[0] = d0; st->rr[1] = d1; st->rr[2] = d2; st->rr[3] = d3; st->rr[4] = d4;
	st->rr5[1] = d1 * 5; st->rr5[2] = d2 * 5; st->rr5[3] = d3 * 5; st->rr5[4] = d4 * 5;

	st->h[0] = st->h[1] = st->h[2] = st->h[3] = st->h[4] = 0;
	st->pad[0] = *(__u64 *)(st->otk + 16);
	st->pad[1] = *(__u64 *)(st->otk + 24);
	return 0;
}

/* The 26-bit limbs of a 16-byte block (lo, hi) plus the 2^128 bit. */
#define WG_LIMBS(lo, hi, hib, m0, m1, m2, m3, m4)       \
	do {                                            \
		m0 = (lo) & WG_M26;                     \
		m1 = ((lo) >> 26) & WG_M26;             \
		m2 = (((lo) >> 52) | ((hi) << 12)) & WG_M26; \
		m3 = ((hi) >> 14) & WG_M26;             \
		m4 = ((hi) >> 40) | (hib);              \
	} while (0)

/* Partial reduction of d0..d4 into h0..h4 (limbs < 2^26 + small). */
#define WG_CARRY(d0, d1, d2, d3, d4)                    \
	do {                                            \
		__u64 c_;                               \
		c_ = d0 >> 26; d0 &= WG_M26; d1 += c_;  \
		c_ = d1 >> 26; d1 &= WG_M26; d2 += c_;  \
		c_ = d2 >> 26; d2 &= WG_M26; d3 += c_;  \
		c_ = d3 >> 26; d3 &= WG_M26; d4 += c_;  \
		c_ = d4 >> 26; d4 &= WG_M26; d0 += c_ * 5; \
		c_ = d0 >> 26; d0 &= WG_M26; d1 += c_;  \
	} while (0)

/* One block: h = (h + m)·r. hibit is 1<<24 for a full (or AEAD-padded)
 * block, 0 for the raw final block that carries its own 0x01. */
__noinline int wg_poly1305_block(struct wg_cstate *st, __u64 lo, __u64 hi, __u64 hibit)
{
	__u64 d0, d1, d2, d3, d4;

	if (!st)
		return WG_ERR_CRYPTO;
	/* Limbs through st->ma: see wg_poly1305_pair. */
	WG_LIMBS(lo, hi, hibit, st->ma[0], st->ma[1], st->ma[2], st->ma[3], st->ma[4]);
	st->ma[0] += st->h[0]; st->ma[1] += st->h[1]; st->ma[2] += st->h[2];
	st->ma[3] += st->h[3]; st->ma[4] += st->h[4];
	asm volatile("" ::: "memory");
	st->md[0] = st->ma[0] * st->r[0] + st->ma[1] * st->r5[4] +
		    st->ma[2] * st->r5[3] + st->ma[3] * st->r5[2] +
		    st->ma[4] * st->r5[1];
	asm volatile("" ::: "memory");
	st->md[1] = st->ma[0] * st->r[1] + st->ma[1] * st->r[0] +
		    st->ma[2] * st->r5[4] + st->ma[3] * st->r5[3] +
		    st->ma[4] * st->r5[2];
	asm volatile("" ::: "memory");
	st->md[2] = st->ma[0] * st->r[2] + st->ma[1] * st->r[1] +
		    st->ma[2] * st->r[0] + st->ma[3] * st->r5[4] +
		    st->ma[4] * st->r5[3];
	asm volatile("" ::: "memory");
	st->md[3] = st->ma[0] * st->r[3] + st->ma[1] * st->r[2] +
		    st->ma[2] * st->r[1] + st->ma[3] * st->r[0] +
		    st->ma[4] * st->r5[4];
	asm volatile("" ::: "memory");
	st->md[4] = st->ma[0] * st->r[4] + st->ma[1] * st->r[3] +
		    st->ma[2] * st->r[2] + st->ma[3] * st->r[1] +
		    st->ma[4] * st->r[0];
	d0 = st->md[0]; d1 = st->md[1]; d2 = st->md[2]; d3 = st->md[3]; d4 = st->md[4];
	WG_CARRY(d0, d1, d2, d3, d4);
	st->h[0] = d0; st->h[1] = d1; st->h[2] = d2; st->h[3] = d3; st->h[4] = d4;
	return 0;
}

/* Two full blocks at p: h = (h + m1)·r² + m2·r. The limbs go through
 * st->ma/mb rather than registers: 15 live values do not fit in BPF's ten
 * registers and would otherwise spill to the stack. */
static __always_inline void wg_poly1305_pair(struct wg_cstate *st, const __u8 *p)
{
	__u64 lo = *(const __u64 *)p, hi = *(const __u64 *)(p + 8);
	__u64 d0, d1, d2, d3, d4;

	WG_LIMBS(lo, hi, 1ULL << 24, st->ma[0], st->ma[1], st->ma[2], st->ma[3], st->ma[4]);
	st->ma[0] += st->h[0]; st->ma[1] += st->h[1]; st->ma[2] += st->h[2];
	st->ma[3] += st->h[3]; st->ma[4] += st->h[4];
	lo = *(const __u64 *)(p + 16);
	hi = *(const __u64 *)(p + 24);
	WG_LIMBS(lo, hi, 1ULL << 24, st->mb[0], st->mb[1], st->mb[2], st->mb[3], st->mb[4]);
	st->md[0] = st->ma[0] * st->rr[0] + st->ma[1] * st->rr5[4] +
	     st->ma[2] * st->rr5[3] + st->ma[3] * st->rr5[2] +
	     st->ma[4] * st->rr5[1] + st->mb[0] * st->r[0] +
	     st->mb[1] * st->r5[4] + st->mb[2] * st->r5[3] +
	     st->mb[3] * st->r5[2] + st->mb[4] * st->r5[1];
	asm volatile("" ::: "memory");
	st->md[1] = st->ma[0] * st->rr[1] + st->ma[1] * st->rr[0] +
	     st->ma[2] * st->rr5[4] + st->ma[3] * st->rr5[3] +
	     st->ma[4] * st->rr5[2] + st->mb[0] * st->r[1] +
	     st->mb[1] * st->r[0] + st->mb[2] * st->r5[4] +
	     st->mb[3] * st->r5[3] + st->mb[4] * st->r5[2];
	asm volatile("" ::: "memory");
	st->md[2] = st->ma[0] * st->rr[2] + st->ma[1] * st->rr[1] +
	     st->ma[2] * st->rr[0] + st->ma[3] * st->rr5[4] +
	     st->ma[4] * st->rr5[3] + st->mb[0] * st->r[2] +
	     st->mb[1] * st->r[1] + st->mb[2] * st->r[0] +
	     st->mb[3] * st->r5[4] + st->mb[4] * st->r5[3];
	asm volatile("" ::: "memory");
	st->md[3] = st->ma[0] * st->rr[3] + st->ma[1] * st->rr[2] +
	     st->ma[2] * st->rr[1] + st->ma[3] * st->rr[0] +
	     st->ma[4] * st->rr5[4] + st->mb[0] * st->r[3] +
	     st->mb[1] * st->r[2] + st->mb[2] * st->r[1] +
	     st->mb[3] * st->r[0] + st->mb[4] * st->r5[4];
	asm volatile("" ::: "memory");
	st->md[4] = st->ma[0] * st->rr[4] + st->ma[1] * st->rr[3] +
	     st->ma[2] * st->rr[2] + st->ma[3] * st->rr[1] +
	     st->ma[4] * st->rr[0] + st->mb[0] * st->r[4] +
	     st->mb[1] * st->r[3] + st->mb[2] * st->r[2] +
	     st->mb[3] * st->r[1] + st->mb[4] * st->r[0];
	d0 = st->md[0]; d1 = st->md[1]; d2 = st->md[2]; d3 = st->md[3]; d4 = st->md[4];
	WG_CARRY(d0, d1, d2, d3, d4);
	st->h[0] = d0; st->h[1] = d1; st->h[2] = d2; st->h[3] = d3; st->h[4] = d4;
}

/* Absorbs the n full 16-byte blocks at the start of s->buf. */
__noinline int wg_poly1305_blocks(struct wg_cstate *st, struct wg_scratch *s, __u32 n)
{
	__u32 i;

	if (!st || !s || n > WG_MAX_PADDED / 16)
		return WG_ERR_LEN;
#pragma clang loop unroll(disable)
	for (i = 0; i < WG_MAX_PADDED / 32; i++) {
		if (2 * i + 1 >= n)
			break;
		wg_poly1305_pair(st, s->buf + i * 32);
	}
	if (n & 1) {
		__u64 off = (__u64)(n - 1) * 16;

		if (off <= WG_MAX_PADDED - 16)
			wg_poly1305_block(st, *(__u64 *)(s->buf + off),
					  *(__u64 *)(s->buf + off + 8), 1ULL << 24);
	}
	return 0;
}

/* Absorbs the rest (< 16) bytes at s->buf[off] as one block: zero-padded
 * with the 2^128 bit (AEAD, raw = 0), or with a 0x01 byte and no 2^128 bit
 * (plain Poly1305's last block, raw = 1). */
__noinline int wg_poly1305_tail(struct wg_cstate *st, struct wg_scratch *s, __u32 off,
				__u32 rest, int raw)
{
	__u64 *b;
	__u8 *p;
	__u32 i;

	if (!st || !s || !rest || rest > 15 || off > WG_MAX_PADDED - 16)
		return 0;
	b = (__u64 *)st->blk;
	b[0] = b[1] = 0;
	p = s->buf + off;
#pragma clang loop unroll(disable)
	for (i = 0; i < 15; i++) {
		if (i >= rest)
			break;
		st->blk[i] = p[i];
	}
	if (raw) {
		WG_OPAQUE(rest);
		st->blk[rest & 15] = 1;
		return wg_poly1305_block(st, b[0], b[1], 0);
	}
	return wg_poly1305_block(st, b[0], b[1], 1ULL << 24);
}

/* Final reduction mod 2^130-5, + s mod 2^128, into st->tag. */
__noinline int wg_poly1305_final(struct wg_cstate *st)
{
	__u64 h0, h1, h2, h3, h4, g0, g1, g2, g3, g4, c, mask, f0, f1;

	if (!st)
		return WG_ERR_CRYPTO;
	h0 = st->h[0]; h1 = st->h[1]; h2 = st->h[2]; h3 = st->h[3]; h4 = st->h[4];

	c = h1 >> 26; h1 &= WG_M26; h2 += c;
	c = h2 >> 26; h2 &= WG_M26; h3 += c;
	c = h3 >> 26; h3 &= WG_M26; h4 += c;
	c = h4 >> 26; h4 &= WG_M26; h0 += c * 5;
	c = h0 >> 26; h0 &= WG_M26; h1 += c;

	/* g = h + 5 - 2^130; use g if it did not borrow (h >= p). */
	g0 = h0 + 5; c = g0 >> 26; g0 &= WG_M26;
	g1 = h1 + c; c = g1 >> 26; g1 &= WG_M26;
	g2 = h2 + c; c = g2 >> 26; g2 &= WG_M26;
	g3 = h3 + c; c = g3 >> 26; g3 &= WG_M26;
	g4 = h4 + c - (1ULL << 26);
	mask = (g4 >> 63) - 1; /* all ones when no borrow */
	h0 = (h0 & ~mask) | (g0 & mask);
	h1 = (h1 & ~mask) | (g1 & mask);
	h2 = (h2 & ~mask) | (g2 & mask);
	h3 = (h3 & ~mask) | (g3 & mask);
	h4 = (h4 & ~mask) | (g4 & mask & WG_M26);

	/* h mod 2^128 as two 64-bit words, then + s with carry. */
	f0 = h0 | (h1 << 26) | (h2 << 52);
	f1 = (h2 >> 12) | (h3 << 14) | (h4 << 40);
	g0 = f0 + st->pad[0];
	c = g0 < f0;
	f1 = f1 + st->pad[1] + c;
	*(__u64 *)st->tag = g0;
	*(__u64 *)(st->tag + 8) = f1;
	return 0;
}

/* The AEAD tag of RFC 8439 2.8 over st->ad (st->ad_len bytes, <= 16) and
 * s->buf[0,len), into st->tag:
 * ad || pad16 || C || pad16 || le64(ad_len) || le64(len). */
__noinline int wg_poly1305_aead(struct wg_cstate *st, struct wg_scratch *s, __u32 len)
{
	if (!st || !s || len > WG_MAX_PADDED)
		return WG_ERR_LEN;
	if (st->ad_len)
		wg_poly1305_block(st, *(__u64 *)st->ad, *(__u64 *)(st->ad + 8), 1ULL << 24);
	wg_poly1305_blocks(st, s, len / 16);
	wg_poly1305_tail(st, s, len & ~15U, len & 15, 0);
	wg_poly1305_block(st, st->ad_len, len, 1ULL << 24);
	return wg_poly1305_final(st);
}

/* Constant-time comparison of st->tag with the 16 bytes at p; 0 if equal. */
static __always_inline __u64 wg_tag_diff(struct wg_cstate *st, struct wg_scratch *s,
					 __u32 len)
{
	__u64 off = len;

	WG_OPAQUE(off);
	if (off > WG_MAX_PADDED)
		return 1;
	return (*(__u64 *)st->tag ^ *(__u64 *)(s->buf + off)) |
	       (*(__u64 *)(st->tag + 8) ^ *(__u64 *)(s->buf + off + 8));
}

/* Writes st->tag to s->buf[len, len+16). */
static __always_inline void wg_tag_put(struct wg_cstate *st, struct wg_scratch *s,
				       __u32 len)
{
	__u64 off = len;

	WG_OPAQUE(off);
	if (off > WG_MAX_PADDED)
		return;
	*(__u64 *)(s->buf + off) = *(__u64 *)st->tag;
	*(__u64 *)(s->buf + off + 8) = *(__u64 *)(st->tag + 8);
}
