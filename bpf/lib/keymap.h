/* SPDX-License-Identifier: GPL-2.0 */
/* keymap.h: where the secret half of every keypair lives, and the bpf_crypto
 * kfuncs that use it.
 *
 * Secrets never sit in a map value userspace can read. BPF_F_WRONLY would
 * not do: it only restricts the creating fd, and anyone with CAP_SYS_ADMIN
 * gets a read-write fd with BPF_MAP_GET_FD_BY_ID (`bpftool map dump id N`
 * prints such a map in full; measured). A bpf_obj_new object behind a kptr
 * would, but cilium/ebpf v0.22 gives each map its own BTF, so the verifier
 * refuses the program's object for the map's kptr ("invalid kptr access,
 * type=ptr_wg_secret expected=ptr_wg_secret"; measured). So:
 *  - aes-cbc keys exist only inside kernel crypto contexts held as kptrs
 *    (userspace reads a kptr as 0);
 *  - chacha20poly1305 keys are stored wrapped: AES-256-ECB under K_wrap, a
 *    random key that exists only inside one ecb(aes) context (kptr in
 *    key_wrap), so a dump shows ciphertext. The wrap is the AES decryption
 *    and the unwrap the encryption (AES is a permutation either way): the
 *    kernel's fixed-time AES encrypts faster than it decrypts.
 *    Unwrapping costs one bpf_crypto_encrypt of 32 bytes per packet.
 * Keys arrive through the context buffer of the SEC("syscall") programs in
 * keys.h, never through a map, and per-packet state is wiped after each
 * packet.
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

/* RCU read section for sleepable (syscall) programs reading a kptr. */
extern void bpf_rcu_read_lock(void) __ksym;
extern void bpf_rcu_read_unlock(void) __ksym;

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

/* Hides x's known range from clang so that a bounds check the verifier
 * needs (it may have lost track across calls) is not optimised away. */
#define WG_OPAQUE(x) asm volatile("" : "+r"(x))

/* Goes to fail unless lo <= n <= hi, as two checks the verifier sees. clang
 * would fold them into one unsigned compare of n - lo, from which the
 * verifier of Linux 6.12 learns no lower bound for n (6.18's does) and then
 * refuses n as a helper's length ("invalid zero-sized read"). */
#define WG_BOUND(n, lo, hi, fail)		\
	do {					\
		WG_OPAQUE(n);			\
		if ((n) < (lo))			\
			goto fail;		\
		WG_OPAQUE(n);			\
		if ((n) > (hi))			\
			goto fail;		\
	} while (0)

/* ---- error codes of wg_seal / wg_open ------------------------------------ */
#define WG_ERR_TAG (-1)    /* authentication failed; buffer untouched */
#define WG_ERR_NOKEY (-2)  /* no keys (or no crypto context) for this index */
#define WG_ERR_LEN (-3)    /* length out of range or not a block multiple */
#define WG_ERR_CRYPTO (-4) /* the crypto backend failed */

/* ---- secret half of a keypair, keyed by local index ------------------------
 * chacha20poly1305: send || receive transport key, wrapped (see above).
 * aes-cbc: K_cbc and K_aux of each direction live only inside the four
 * crypto contexts. */
#define WG_WRAPPED_SEND 0
#define WG_WRAPPED_RECV WG_KEY_LEN

struct wg_keys {
	__u32 suite;
	__u32 backend; /* chacha20poly1305: enum wg_backend (aead.h) */
	__u64 generation; /* the install's; see struct wg_session */
	__u8 wrapped[2 * WG_KEY_LEN];
	struct bpf_crypto_ctx __kptr *send_cbc;
	struct bpf_crypto_ctx __kptr *send_ecb;
	struct bpf_crypto_ctx __kptr *recv_cbc;
	struct bpf_crypto_ctx __kptr *recv_ecb;
	struct bpf_crypto_ctx __kptr *send_aead; /* backend != WG_BACKEND_BPF */
	struct bpf_crypto_ctx __kptr *recv_aead;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32); /* local index */
	__type(value, struct wg_keys);
} session_keys SEC(".maps");

/* The ecb(aes) context holding K_wrap; created by the first install. */
struct wg_wrap {
	struct bpf_crypto_ctx __kptr *ctx;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct wg_wrap);
} key_wrap SEC(".maps");

/* ---- per-packet crypto state -----------------------------------------------
 * Everything a packet's crypto needs besides the data itself: the ChaCha20
 * key and nonce, the Poly1305 key powers and accumulator, the aes-cbc IV and
 * one-time key. It lives in a per-CPU map rather than on the stack so that
 * the TC frame stays small (512-byte limit shared by the whole call chain),
 * and is wiped after each packet: at rest it holds nothing secret. TC programs run with BH disabled, so one CPU never nests two
 * packets' crypto. */
struct wg_cstate {
	__u32 key[8];	/* ChaCha20 key words */
	__u32 nonce[3];	/* ChaCha20 nonce words (WireGuard: 0, lo(c), hi(c)) */
	__u32 ad_len;	/* associated data length, 0..16 (selftests only) */
	__u64 counter;	/* the packet's counter (aes-cbc ECB input) */
	__u8 ad[16];	/* associated data, zero-padded */
	/* Poly1305 in 26-bit limbs: r, 5r, r^2, 5r^2, accumulator, s. */
	__u64 r[5];
	__u64 r5[5];
	__u64 rr[5];
	__u64 rr5[5];
	__u64 h[5];
	__u64 pad[2];
	__u64 ma[5];	/* limbs of the blocks being absorbed (spill space */
	__u64 mb[5];	/* kept off the stack) */
	__u64 md[5];
	__u8 otk[64];	/* ChaCha20 block 0, or aes-cbc ECB output IV||r||s */
	__u8 aux_in[48];/* aes-cbc ECB input le64(c)||le64(i), i = 0,1,2 */
	__u8 iv[16];	/* aes-cbc IV (the kernel chains it in place) */
	__u8 ks[64];	/* one ChaCha20 keystream block */
	__u8 blk[16];	/* a partial Poly1305 block, padded */
	__u8 tag[16];	/* computed tag (open: compared before decrypting) */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct wg_cstate);
} cstate SEC(".maps");
