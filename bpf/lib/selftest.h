/* SPDX-License-Identifier: GPL-2.0 */
/* selftest.h: helpers of wg_selftest (wgbpfd_test.c), a SEC("tc") program
 * that exists only for BPF_PROG_TEST_RUN
 * tests and benchmarks (dataplane/crypto_test.go, bench_crypto_test.go). It is
 * built only into wgbpfd_test.c, never into the daemon's object. It runs
 * wg_seal/wg_open, a mimic of the receive path that counts drops by reason,
 * and the raw primitives on caller-given keys so that RFC 8439 vectors can be
 * checked.
 *
 * Packet layout: 14 bytes Ethernet (TC test runs need them) with ethertype
 * WG_ST_ETHERTYPE, then struct wg_selftest_hdr, then the payload. With any
 * other ethertype the bytes after the Ethernet header are a WireGuard data
 * message for the receive mimic.
 */
#pragma once

#include "common.h"
#include "suite.h"
#include "wire.h"

enum wg_selftest_op {
	WG_ST_SEAL = 1,      /* wg_seal(index, counter, len); writes C||tag */
	WG_ST_OPEN = 2,      /* wg_open(index, counter, len) on C||tag; writes P */
	WG_ST_RX = 3,        /* receive mimic on a data message; counts drops */
	WG_ST_AEAD_SEAL = 4, /* raw RFC 8439 AEAD: key, 96-bit nonce, ad */
	WG_ST_POLY1305 = 5,  /* raw Poly1305: key = r||s, tag at [len,len+16) */
	WG_ST_CBC = 6,       /* bare bpf_crypto cbc(aes) send context, zero IV */
	WG_ST_CBC_DEC = 7,   /* the same, decrypting */
	WG_ST_AEAD_OPEN = 8, /* raw RFC 8439 AEAD open */
};

/* Set in op: do not write the result back into the packet, so that a
 * benchmark repeats the same input (test runs reuse the skb). */
#define WG_ST_NOWRITE 0x100

struct wg_selftest_hdr {
	__u32 op;
	__u32 local_index;
	__u64 counter;
	__u32 len;	/* payload length without tag */
	__u32 ad_len;	/* WG_ST_AEAD_SEAL: 0..16 */
	__u32 nonce_lo;	/* WG_ST_AEAD_SEAL: first 4 nonce bytes (LE) */
	__s32 ret;	/* out */
	__u8 key[32];
	__u8 ad[16];
};
_Static_assert(sizeof(struct wg_selftest_hdr) == 80, "wg_selftest_hdr: shared with Go");

#define WG_ST_ETHERTYPE 0x88b5 /* IEEE local experimental */
#define WG_ST_OFF sizeof(struct wg_eth)
#define WG_ST_DATA (WG_ST_OFF + sizeof(struct wg_selftest_hdr))

static __always_inline int wg_st_load(struct __sk_buff *skb, __u32 off,
				      struct wg_scratch *s, __u32 n)
{
	if (!n)
		return 0;
	WG_BOUND(n, 1, WG_SCRATCH_LEN, fail);
	return bpf_skb_load_bytes(skb, off, s->buf, n);
fail:
	return -1;
}

static __always_inline int wg_st_store(struct __sk_buff *skb, __u32 off,
				       struct wg_scratch *s, __u32 n)
{
	if (!n)
		return 0;
	WG_BOUND(n, 1, WG_SCRATCH_LEN, fail);
	return bpf_skb_store_bytes(skb, off, s->buf, n, 0);
fail:
	return -1;
}

/* The raw primitives on the key, nonce and AD given in the header. */
static __noinline int wg_selftest_raw(struct wg_selftest_hdr *h, __u32 len)
{
	struct wg_scratch *s;
	struct wg_cstate *st;
	struct wg_keys *k;
	__u32 zero = 0, op = h->op & 0xff;
	int ret = 0;

	if (len > WG_MAX_PADDED)
		return WG_ERR_LEN;
	s = bpf_map_lookup_elem(&scratch, &zero);
	st = bpf_map_lookup_elem(&cstate, &zero);
	if (!s || !st)
		return WG_ERR_CRYPTO;
	switch (op) {
	case WG_ST_AEAD_SEAL:
	case WG_ST_AEAD_OPEN:
		__builtin_memcpy(st->key, h->key, 32);
		__builtin_memcpy(st->ad, h->ad, 16);
		st->ad_len = h->ad_len > 16 ? 16 : h->ad_len;
		st->nonce[0] = h->nonce_lo;
		st->nonce[1] = (__u32)h->counter;
		st->nonce[2] = (__u32)(h->counter >> 32);
		ret = wg_chachapoly(st, s, len, op == WG_ST_AEAD_OPEN);
		break;
	case WG_ST_POLY1305:
		__builtin_memcpy(st->otk, h->key, 32);
		wg_poly1305_init(st);
		wg_poly1305_blocks(st, s, len / 16);
		wg_poly1305_tail(st, s, len & ~15U, len & 15, 1);
		wg_poly1305_final(st);
		wg_tag_put(st, s, len);
		break;
	case WG_ST_CBC:
	case WG_ST_CBC_DEC: {
		struct bpf_crypto_ctx *cbc;

		k = bpf_map_lookup_elem(&session_keys, &h->local_index);
		if (!k)
			return WG_ERR_NOKEY;
		cbc = k->send_cbc;
		if (!cbc)
			return WG_ERR_NOKEY;
		*(__u64 *)st->iv = 0;
		*(__u64 *)(st->iv + 8) = 0;
		ret = wg_aescbc_crypt(st, cbc, s, len, op == WG_ST_CBC_DEC);
		break;
	}
	default:
		ret = WG_ERR_LEN;
	}
	wg_cstate_wipe(st);
	return ret;
}

/* Receive mimic: the checks of the real ingress path that concern crypto. */
static __always_inline int wg_st_rx(struct __sk_buff *skb, struct wg_scratch *s)
{
	__u8 hdr[WG_DATA_HEADER_LEN];
	__u64 plen = skb->len, clen;
	struct wg_session *sess;
	__u32 idx;
	__u64 ctr;
	int ret;

	if (plen < WG_ST_OFF + WG_DATA_HEADER_LEN + WG_TAG_LEN ||
	    bpf_skb_load_bytes(skb, WG_ST_OFF, hdr, sizeof(hdr))) {
		wg_count_drop(WG_DROP_MALFORMED);
		return WG_ERR_LEN;
	}
	idx = *(__u32 *)&hdr[4];
	ctr = *(__u64 *)&hdr[8];
	sess = bpf_map_lookup_elem(&sessions, &idx);
	if (!sess) {
		wg_count_drop(WG_DROP_NO_SESSION);
		return WG_ERR_NOKEY;
	}
	if ((hdr[0] == WG_MSG_DATA && sess->suite != WG_SUITE_CHACHA20POLY1305) ||
	    (hdr[0] == WG_MSG_DATA_AESCBC && sess->suite != WG_SUITE_AESCBC)) {
		wg_count_drop(WG_DROP_SUITE_MISMATCH);
		return WG_ERR_LEN;
	}
	if ((hdr[0] != WG_MSG_DATA && hdr[0] != WG_MSG_DATA_AESCBC) ||
	    hdr[1] || hdr[2] || hdr[3]) {
		wg_count_drop(WG_DROP_MALFORMED);
		return WG_ERR_LEN;
	}
	clen = plen - WG_ST_OFF - WG_DATA_HEADER_LEN - WG_TAG_LEN;
	if (clen > WG_MAX_PADDED) {
		wg_count_drop(WG_DROP_TOO_BIG);
		return WG_ERR_LEN;
	}
	if (wg_st_load(skb, WG_ST_OFF + WG_DATA_HEADER_LEN, s, clen + WG_TAG_LEN)) {
		wg_count_drop(WG_DROP_MALFORMED);
		return WG_ERR_LEN;
	}
	ret = wg_open(idx, ctr, clen, sess->generation);
	switch (ret) {
	case 0:
		break;
	case WG_ERR_TAG:
		wg_count_drop(WG_DROP_BAD_TAG);
		return ret;
	case WG_ERR_NOKEY:
		wg_count_drop(WG_DROP_NO_SESSION);
		return ret;
	case WG_ERR_LEN:
		wg_count_drop(WG_DROP_MALFORMED);
		return ret;
	default:
		wg_count_drop(WG_DROP_CRYPTO);
		return ret;
	}
	if (wg_st_store(skb, WG_ST_OFF + WG_DATA_HEADER_LEN, s, clen))
		return WG_ERR_LEN;
	return 0;
}
