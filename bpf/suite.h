/* SPDX-License-Identifier: GPL-2.0 */
/* suite.h: the crypto entry points of the packet path.
 *
 *  wg_seal(local_index, counter, len)
 *	Encrypts scratch.buf[0,len) in place with the SEND key of the keypair
 *	with this local index, for this counter, and writes the 16-byte tag at
 *	buf[len, len+16). len = padded plaintext length, 0..WG_MAX_PADDED (a
 *	multiple of 16 for aes-cbc). Returns 0 or a negative WG_ERR_*.
 *  wg_open(local_index, counter, len)
 *	Verifies (constant time) the tag at buf[len,len+16) over buf[0,len) with
 *	the RECEIVE key, then decrypts in place. Returns 0; WG_ERR_TAG on a bad
 *	tag with buf untouched; other negative WG_ERR_* (WG_ERR_NOKEY,
 *	WG_ERR_LEN, WG_ERR_CRYPTO).
 *  wg_session_suite(local_index)
 *	WG_SUITE_* of the keypair, or WG_ERR_NOKEY.
 *
 * Both look up the per-CPU `scratch` entry 0 themselves.
 */
#pragma once

#include "common.h"
#include "keymap.h"

/* TEMPORARY placeholder cipher (XOR with the key, XOR-sum tag) so that the
 * packet path can integrate; replaced by chacha20.h/poly1305.h/aescbc.h. */

static __always_inline int wg_session_suite(__u32 local_index)
{
	struct wg_keys *k = bpf_map_lookup_elem(&session_keys, &local_index);

	if (!k)
		return WG_ERR_NOKEY;
	return k->suite;
}

static __noinline int wg_placeholder(__u32 local_index, __u64 counter, __u32 len,
				     int open)
{
	__u32 zero = 0, i;
	struct wg_scratch *s;
	struct wg_keys *k;
	__u8 *key, tag[16] = {};

	if (len > WG_MAX_PADDED)
		return WG_ERR_LEN;
	k = bpf_map_lookup_elem(&session_keys, &local_index);
	if (!k)
		return WG_ERR_NOKEY;
	s = bpf_map_lookup_elem(&scratch, &zero);
	if (!s)
		return WG_ERR_CRYPTO;
	key = open ? k->recv_key : k->send_key;
	for (i = 0; i < 16; i++)
		tag[i] = key[i] ^ (__u8)counter;
	for (i = 0; i < WG_MAX_PADDED; i++) {
		if (i >= len)
			break;
		if (!open)
			s->buf[i] ^= key[i & 31];
		tag[i & 15] ^= s->buf[i];
	}
	if (open) {
		__u8 d = 0;

		for (i = 0; i < 16; i++) {
			__u64 o = (__u64)len + i;

			if (o < WG_SCRATCH_LEN)
				d |= s->buf[o] ^ tag[i];
		}
		if (d)
			return WG_ERR_TAG;
		for (i = 0; i < WG_MAX_PADDED; i++) {
			if (i >= len)
				break;
			s->buf[i] ^= key[i & 31];
		}
		return 0;
	}
	for (i = 0; i < 16; i++) {
		__u64 o = (__u64)len + i;

		if (o < WG_SCRATCH_LEN)
			s->buf[o] = tag[i];
	}
	return 0;
}

static __noinline int wg_seal(__u32 local_index, __u64 counter, __u32 len)
{
	return wg_placeholder(local_index, counter, len, 0);
}

static __noinline int wg_open(__u32 local_index, __u64 counter, __u32 len)
{
	return wg_placeholder(local_index, counter, len, 1);
}
