/* SPDX-License-Identifier: GPL-2.0 */
/* aead.h: chacha20poly1305 through bpf_crypto, where the kernel has an
 * "aead" type for rfc7539(chacha20,poly1305) (the bpf_crypto_aead module in
 * kernel/, or the upstream patch). The wire format is the plain-BPF code's;
 * only who computes it changes: the kernel's SIMD ChaCha20 and Poly1305
 * instead of BPF, and the keys live only inside the two contexts of each
 * keypair (no wrapped copy, no wg_wrap).
 *
 * The daemon probes at start-up and says per install which backend to use
 * (wg_install_args.backend); the packet path follows the keypair's
 * wg_keys.backend. Two buffer conventions exist, because the kfunc changed
 * shape upstream:
 *  - WG_BACKEND_AEAD_REGISTRY (kernels with bpf_crypto_register_type, 6.10
 *    on): the type sees only the source length, so the source is
 *    plaintext||16 bytes of room on encrypt and ciphertext||tag on
 *    decrypt, and the destination is the same buffer;
 *  - WG_BACKEND_AEAD_TABLE (the lib/crypto table): the source is the
 *    plaintext alone on encrypt, the destination plaintext alone on
 *    decrypt, as for AES-GCM there.
 * Both verify the tag before writing any plaintext. */
#pragma once

#include "common.h"
#include "keymap.h"

enum wg_backend {
	WG_BACKEND_BPF = 0,		/* plain-BPF ChaCha20-Poly1305 (suite.h) */
	WG_BACKEND_AEAD_REGISTRY = 1,
	WG_BACKEND_AEAD_TABLE = 2,
};

#define WG_AEAD_ALGO "rfc7539(chacha20,poly1305)"
#define WG_AEAD_NONCE_LEN 12
#define WG_EBADMSG 74

/* Creates an "aead" context for WG_AEAD_ALGO with a 32-byte key; the key's
 * copy in the staging buffer is wiped at once. */
static __always_inline struct bpf_crypto_ctx *
wg_aead_ctx_create(struct bpf_crypto_params *p, const __u8 *key, int *err)
{
	struct bpf_crypto_ctx *c;

	__builtin_memset(p, 0, sizeof(*p));
	__builtin_memcpy(p->type, "aead", 5);
	__builtin_memcpy(p->algo, WG_AEAD_ALGO, sizeof(WG_AEAD_ALGO));
	__builtin_memcpy(p->key, key, WG_KEY_LEN);
	p->key_len = WG_KEY_LEN;
	p->authsize = WG_TAG_LEN;
	*err = 0;
	c = bpf_crypto_ctx_create(p, sizeof(*p), err);
	for (int i = 0; i < WG_KEY_LEN; i++)
		((volatile __u8 *)p->key)[i] = 0;
	if (!c && !*err)
		*err = -22;
	return c;
}

/* Seals or opens s->buf[0,len) (tag at [len,len+16)) in place with the
 * keypair's context for that direction; st->nonce holds the 12-byte nonce.
 * Same contract as wg_chachapoly: WG_ERR_TAG leaves the buffer untouched. */
static __noinline int wg_aead_crypt(struct wg_keys *k, struct wg_cstate *st,
				    struct wg_scratch *s, __u32 len, int open)
{
	struct bpf_dynptr src, dst, iv;
	struct bpf_crypto_ctx *c;
	__u32 slen, dlen;
	int ret;

	if (!k || !st || !s || len > WG_MAX_PADDED)
		return WG_ERR_LEN;
	c = open ? k->recv_aead : k->send_aead; /* RCU-protected, no acquire */
	if (!c)
		return WG_ERR_NOKEY;
	slen = len + WG_TAG_LEN;
	dlen = len + WG_TAG_LEN;
	if (k->backend == WG_BACKEND_AEAD_TABLE) {
		if (open)
			dlen = len;
		else
			slen = len;
	}
	if (bpf_dynptr_from_mem(s->buf, slen, 0, &src) ||
	    bpf_dynptr_from_mem(s->buf, dlen, 0, &dst) ||
	    bpf_dynptr_from_mem(st->nonce, WG_AEAD_NONCE_LEN, 0, &iv))
		return WG_ERR_CRYPTO;
	if (open)
		ret = bpf_crypto_decrypt(c, &src, &dst, &iv);
	else
		ret = bpf_crypto_encrypt(c, &src, &dst, &iv);
	if (ret == -WG_EBADMSG)
		return WG_ERR_TAG;
	return ret ? WG_ERR_CRYPTO : 0;
}
