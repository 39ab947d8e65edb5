/* SPDX-License-Identifier: GPL-2.0 */
/* keymap.h: where the secret half of every keypair lives, and the bpf_crypto
 * kfuncs that use it.
 *
 * Secrets never sit in a map userspace can read: session_keys and the
 * per-CPU crypto state are created BPF_F_WRONLY (the syscall side may write
 * but never look up or dump them), and the aes-cbc keys exist only inside
 * kernel crypto contexts held as kptrs, which userspace sees as 0 anyway.
 * Keys arrive through the context buffer of the SEC("syscall") programs in
 * keys.h, never through a map.
 */
#pragma once

#include "common.h"

/* ---- bpf_crypto kfuncs (kernel/bpf/crypto.c); the layouts below mirror the
 * kernel's, checked against /sys/kernel/btf/vmlinux on 6.18. ---------------- */

/* Opaque to BPF. A complete (if fake) definition is needed because the kernel
 * accepts a kptr field only if it points to a struct; it then matches the
 * kernel type by name. */
struct bpf_crypto_ctx {
	int __opaque;
};

struct bpf_crypto_params {
	char type[14];
	__u8 reserved[2];
	char algo[128];
	__u8 key[256];
	__u32 key_len;
	__u32 authsize;
};

extern struct bpf_crypto_ctx *
bpf_crypto_ctx_create(const struct bpf_crypto_params *params, __u32 params__sz,
		      int *err) __ksym;
extern void bpf_crypto_ctx_release(struct bpf_crypto_ctx *ctx) __ksym;
extern int bpf_crypto_encrypt(struct bpf_crypto_ctx *ctx,
			      const struct bpf_dynptr *src,
			      const struct bpf_dynptr *dst,
			      const struct bpf_dynptr *siv__nullable) __ksym;
extern int bpf_crypto_decrypt(struct bpf_crypto_ctx *ctx,
			      const struct bpf_dynptr *src,
			      const struct bpf_dynptr *dst,
			      const struct bpf_dynptr *siv__nullable) __ksym;

/* ---- error codes of wg_seal / wg_open ------------------------------------ */
#define WG_ERR_TAG (-1)    /* authentication failed; buffer untouched */
#define WG_ERR_NOKEY (-2)  /* no keys (or no crypto context) for this index */
#define WG_ERR_LEN (-3)    /* length out of range or not a block multiple */
#define WG_ERR_CRYPTO (-4) /* the crypto backend failed */

/* ---- secret half of a keypair, keyed by local index ------------------------
 * chacha20poly1305: send_key/recv_key are the transport keys.
 * aes-cbc: the key bytes stay zero; K_cbc and K_aux of each direction live only
 * inside the four crypto contexts. */
struct wg_keys {
	__u32 suite;
	__u32 _pad;
	__u8 send_key[WG_KEY_LEN];
	__u8 recv_key[WG_KEY_LEN];
	struct bpf_crypto_ctx __kptr *send_cbc;
	struct bpf_crypto_ctx __kptr *send_ecb;
	struct bpf_crypto_ctx __kptr *recv_cbc;
	struct bpf_crypto_ctx __kptr *recv_ecb;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC | BPF_F_WRONLY);
	__type(key, __u32); /* local index */
	__type(value, struct wg_keys);
} session_keys SEC(".maps");
