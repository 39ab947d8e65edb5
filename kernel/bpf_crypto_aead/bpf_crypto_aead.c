// SPDX-License-Identifier: GPL-2.0
/*
 * bpf_crypto_aead: an "aead" type for the bpf_crypto kfuncs.
 *
 * Linux 6.10 added bpf_crypto_ctx_create()/bpf_crypto_encrypt()/
 * bpf_crypto_decrypt() with a registry of types, but registers only
 * "skcipher". This module registers "aead" with one algorithm,
 * "rfc7539(chacha20,poly1305)" (RFC 8439: 256-bit key, 96-bit nonce, 16-byte
 * tag, empty associated data), so that a TC or XDP program can seal and open
 * WireGuard data messages with the kernel's SIMD ChaCha20 and Poly1305.
 *
 * Implementation: the ChaCha20 and Poly1305 library functions (lib/crypto),
 * which dispatch to the architecture's SIMD code when the FPU is usable and
 * to the generic C code otherwise. They work on virtual addresses, so memory
 * behind a dynptr may be vmalloc (global data, large maps), per-CPU or the
 * linear part of an skb without any scatterlist; nothing is allocated per
 * call and nothing sleeps, so both calls are safe in softirq.
 *
 * Buffer convention. bpf_crypto_encrypt()/decrypt() pass one length, that of
 * the source, and check only that the destination is at least as long. With
 * len = size of the source dynptr (len >= 16):
 *
 *   encrypt: src = plaintext[len - 16] || room[16]
 *            dst = ciphertext[len - 16] || tag[16]      (len bytes written)
 *            The 16 bytes of room are never read.
 *
 *   decrypt: src = ciphertext[len - 16] || tag[16]
 *            dst = plaintext[len - 16]                  (len - 16 written)
 *            The tag is verified before anything is written: on a bad tag
 *            the call returns -EBADMSG and dst is untouched. dst[len - 16..]
 *            is never written.
 *
 * So both calls stay inside both buffers. src and dst may be the same buffer
 * (in place); partially overlapping buffers are refused with -EINVAL. The IV
 * dynptr is the 12-byte nonce. WireGuard's nonce is 4 zero bytes followed by
 * the little-endian 64-bit counter.
 */

#include <linux/crypto.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/types.h>
#include <linux/unaligned.h>
#include <linux/bpf_crypto.h>	/* needs linux/types.h first */
#include <crypto/algapi.h>
#include <crypto/chacha.h>
#include <crypto/poly1305.h>

#define AEAD_ALGO	"rfc7539(chacha20,poly1305)"
#define AEAD_KEY_SIZE	CHACHA_KEY_SIZE		/* 32 */
#define AEAD_NONCE_SIZE	12
#define AEAD_TAG_SIZE	POLY1305_DIGEST_SIZE	/* 16 */

struct bpf_aead_ctx {
	u32 key[AEAD_KEY_SIZE / sizeof(u32)];
	bool keyed;
};

/* Zero input for the one-time key block, and Poly1305's zero padding. */
static const u8 bpf_aead_zeros[POLY1305_KEY_SIZE];

static int bpf_aead_has_algo(const char *algo)
{
	return !strcmp(algo, AEAD_ALGO);
}

static void *bpf_aead_alloc_tfm(const char *algo)
{
	struct bpf_aead_ctx *ctx;

	if (!bpf_aead_has_algo(algo))
		return ERR_PTR(-EOPNOTSUPP);
	ctx = kzalloc(sizeof(*ctx), GFP_KERNEL);
	if (!ctx)
		return ERR_PTR(-ENOMEM);
	return ctx;
}

static void bpf_aead_free_tfm(void *tfm)
{
	kfree_sensitive(tfm);
}

static int bpf_aead_setkey(void *tfm, const u8 *key, unsigned int keylen)
{
	struct bpf_aead_ctx *ctx = tfm;
	int i;

	if (keylen != AEAD_KEY_SIZE)
		return -EINVAL;
	for (i = 0; i < ARRAY_SIZE(ctx->key); i++)
		ctx->key[i] = get_unaligned_le32(key + i * sizeof(u32));
	ctx->keyed = true;
	return 0;
}

static int bpf_aead_setauthsize(void *tfm, unsigned int authsize)
{
	return authsize == AEAD_TAG_SIZE ? 0 : -EINVAL;
}

static unsigned int bpf_aead_ivsize(void *tfm)
{
	return AEAD_NONCE_SIZE;
}

static unsigned int bpf_aead_statesize(void *tfm)
{
	return 0;
}

static u32 bpf_aead_get_flags(void *tfm)
{
	const struct bpf_aead_ctx *ctx = tfm;

	return ctx->keyed ? 0 : CRYPTO_TFM_NEED_KEY;
}

/*
 * One message: the ChaCha20 state at block counter 0 for this nonce, and the
 * Poly1305 state keyed with the first 32 bytes of that block; the state is
 * left at block counter 1, where the payload starts (RFC 8439, 2.8).
 */
struct bpf_aead_msg {
	u32 chacha[CHACHA_STATE_WORDS];
	struct poly1305_desc_ctx poly;
};

static void bpf_aead_begin(struct bpf_aead_msg *m,
			   const struct bpf_aead_ctx *ctx, const u8 *nonce)
{
	u8 iv[CHACHA_IV_SIZE];
	u8 otk[POLY1305_KEY_SIZE];

	put_unaligned_le32(0, iv);
	memcpy(iv + sizeof(u32), nonce, AEAD_NONCE_SIZE);
	chacha_init(m->chacha, ctx->key, iv);
	chacha20_crypt(m->chacha, otk, bpf_aead_zeros, sizeof(otk));
	/* The payload starts at block 1 whatever the partial block did. */
	m->chacha[12] = 1;
	poly1305_init(&m->poly, otk);
	memzero_explicit(otk, sizeof(otk));
}

/*
 * Poly1305 over ciphertext, its zero padding and the two lengths; the
 * associated data is empty.
 */
static void bpf_aead_mac(struct bpf_aead_msg *m, const u8 *ct,
			 unsigned int ct_len, u8 *tag)
{
	__le64 lens[2];

	poly1305_update(&m->poly, ct, ct_len);
	if (ct_len % 16)
		poly1305_update(&m->poly, bpf_aead_zeros, 16 - ct_len % 16);
	lens[0] = cpu_to_le64(0);
	lens[1] = cpu_to_le64(ct_len);
	poly1305_update(&m->poly, (const u8 *)lens, sizeof(lens));
	poly1305_final(&m->poly, tag);
}

static int bpf_aead_check(const u8 *src, const u8 *dst, unsigned int len)
{
	if (len < AEAD_TAG_SIZE)
		return -EINVAL;
	/*
	 * In place, or apart: a stream cipher over shifted buffers would
	 * read bytes it has already written.
	 */
	if (src != dst && src < dst + len && dst < src + len)
		return -EINVAL;
	return 0;
}

static int bpf_aead_encrypt(void *tfm, const u8 *src, u8 *dst,
			    unsigned int len, u8 *iv)
{
	unsigned int pt_len = len - AEAD_TAG_SIZE;
	struct bpf_aead_msg m;
	int err;

	err = bpf_aead_check(src, dst, len);
	if (err)
		return err;
	bpf_aead_begin(&m, tfm, iv);
	chacha20_crypt(m.chacha, dst, src, pt_len);
	bpf_aead_mac(&m, dst, pt_len, dst + pt_len);
	memzero_explicit(&m, sizeof(m));
	return 0;
}

static int bpf_aead_decrypt(void *tfm, const u8 *src, u8 *dst,
			    unsigned int len, u8 *iv)
{
	unsigned int ct_len = len - AEAD_TAG_SIZE;
	u8 tag[AEAD_TAG_SIZE];
	struct bpf_aead_msg m;
	int err;

	err = bpf_aead_check(src, dst, len);
	if (err)
		return err;
	bpf_aead_begin(&m, tfm, iv);
	bpf_aead_mac(&m, src, ct_len, tag);
	if (crypto_memneq(tag, src + ct_len, AEAD_TAG_SIZE)) {
		err = -EBADMSG;
		goto out;
	}
	chacha20_crypt(m.chacha, dst, src, ct_len);
out:
	memzero_explicit(&m, sizeof(m));
	memzero_explicit(tag, sizeof(tag));
	return err;
}

static const struct bpf_crypto_type bpf_aead_type = {
	.alloc_tfm	= bpf_aead_alloc_tfm,
	.free_tfm	= bpf_aead_free_tfm,
	.has_algo	= bpf_aead_has_algo,
	.setkey		= bpf_aead_setkey,
	.setauthsize	= bpf_aead_setauthsize,
	.encrypt	= bpf_aead_encrypt,
	.decrypt	= bpf_aead_decrypt,
	.ivsize		= bpf_aead_ivsize,
	.statesize	= bpf_aead_statesize,
	.get_flags	= bpf_aead_get_flags,
	.owner		= THIS_MODULE,
	.name		= "aead",
};

static int __init bpf_aead_init(void)
{
	return bpf_crypto_register_type(&bpf_aead_type);
}

static void __exit bpf_aead_exit(void)
{
	int err = bpf_crypto_unregister_type(&bpf_aead_type);

	WARN_ON_ONCE(err);
}

module_init(bpf_aead_init);
module_exit(bpf_aead_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("bpf_crypto AEAD type: rfc7539(chacha20,poly1305)");
