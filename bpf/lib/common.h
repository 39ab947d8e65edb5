/* SPDX-License-Identifier: GPL-2.0 */
/* common.h: types, constants and maps shared by every wgbpfd BPF program.
 *
 * Ownership: this file is the contract between the crypto code
 * (chacha20.h, poly1305.h, aescbc.h, suite.h, keys.h) and the packet path
 * (egress.h, ingress.h). Structs the Go side reads are generated into
 * dataplane by bpf2go (-type) and their sizes asserted here.
 */
#pragma once

#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* ---- WireGuard wire constants ------------------------------------------ */
#define WG_MSG_INITIATION 1
#define WG_MSG_RESPONSE 2
#define WG_MSG_COOKIE 3
#define WG_MSG_DATA 4
/* wgbpfd's aes-cbc data message: same layout as type 4, its own type so that
 * a suite mismatch is counted instead of looking like a forgery. */
#define WG_MSG_DATA_AESCBC 0x84

#define WG_DATA_HEADER_LEN 16 /* type(1) reserved(3) receiver(4) counter(8) */
#define WG_TAG_LEN 16
#define WG_KEY_LEN 32

/* REJECT_AFTER_MESSAGES = 2^64 - 2^13 - 1 */
#define WG_REJECT_AFTER_MESSAGES (~0ULL - (1ULL << 13))
#define WG_REKEY_AFTER_MESSAGES (1ULL << 60)
#define WG_REKEY_AFTER_TIME_NS (120ULL * 1000000000ULL)
#define WG_REJECT_AFTER_TIME_NS (180ULL * 1000000000ULL)

/* Replay window: 8192 bits, of which 8128 counters are usable (one word is
 * the moving edge), as in WireGuard. */
#define WG_REPLAY_BITS 8192
#define WG_REPLAY_WORDS (WG_REPLAY_BITS / 64)
#define WG_REPLAY_WINDOW (WG_REPLAY_BITS - 64)

/* ---- implementation limits --------------------------------------------- */
/* Largest padded plaintext the BPF crypto handles; a bigger packet is dropped
 * and counted as "too big". Covers a 1500-byte underlay with either suite and
 * leaves room for jumbo-free setups with MTU up to 1500 inside. */
#define WG_MAX_PADDED 1536
/* Scratch holds padded plaintext/ciphertext plus the tag. */
#define WG_SCRATCH_LEN (WG_MAX_PADDED + WG_TAG_LEN)

/* ---- suites ------------------------------------------------------------ */
#define WG_SUITE_CHACHA20POLY1305 1
#define WG_SUITE_AESCBC 2

/* ---- session (one keypair), keyed by local index ------------------------ */
#define WG_SESSION_INITIATOR (1U << 0) /* we sent the initiation */
#define WG_SESSION_CONFIRMED (1U << 1) /* a packet was received on it */

/* wg_session is the non-secret half of a keypair: readable from userspace
 * (counters, timestamps). The secret half lives in session_keys, a map the
 * syscall side can never read (see keys.h).
 *
 * Both halves carry the generation of the install that wrote them. A local
 * index can be removed and installed again while a packet is between its
 * two lookups (hash map elements are reused at once), so the packet path
 * reads the generation here, and the crypto checks after the keys were read
 * that wg_keys still holds the same one: a counter of one keypair never
 * goes out under another's key, nor a window of one keypair takes another's
 * message. */
struct wg_session {
	struct bpf_spin_lock lock; /* guards the replay window and flags */
	__u32 suite;               /* WG_SUITE_* */
	__u32 peer_id;
	__u32 local_index;
	__u32 remote_index;
	__u32 flags;               /* WG_SESSION_* */
	__u32 _pad;
	__u64 created_ns;          /* bpf_ktime_get_boot_ns() at install */
	__u64 send_counter;        /* next counter to send; atomic add */
	__u64 generation;          /* install generation, also in wg_keys */
	__u64 replay_last;         /* highest counter accepted + 1 (0: none) */
	__u64 replay_bitmap[WG_REPLAY_WORDS];
};
_Static_assert(sizeof(struct wg_session) == 64 + 8 * WG_REPLAY_WORDS, "wg_session: shared with Go");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32); /* local index */
	__type(value, struct wg_session);
} sessions SEC(".maps");

/* ---- per-CPU scratch buffer used by the crypto entry points ------------- */
struct wg_scratch {
	__u8 buf[WG_SCRATCH_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct wg_scratch);
} scratch SEC(".maps");

/* ---- drop counters by reason (per-CPU array, summed by userspace) ------- */
enum wg_drop_reason {
	WG_DROP_NO_SESSION = 0,   /* unknown receiver index / removed keypair */
	WG_DROP_BAD_TAG = 1,      /* authentication failed */
	WG_DROP_REPLAY = 2,       /* counter outside or already in the window */
	WG_DROP_SRC_NOT_ALLOWED = 3, /* inner source not in the peer's AllowedIPs */
	WG_DROP_MALFORMED = 4,    /* truncated or inconsistent headers */
	WG_DROP_TOO_BIG = 5,      /* larger than the MTU / WG_MAX_PADDED */
	WG_DROP_SUITE_MISMATCH = 6, /* message type of the other suite */
	WG_DROP_EXPIRED = 7,      /* counter or age past the REJECT_AFTER limits */
	WG_DROP_CRYPTO = 8,       /* the crypto backend failed (bpf_crypto error) */
	WG_DROP_NO_ROUTE = 9,     /* no peer/endpoint for the packet */
	WG_DROP_OUTER = 10,       /* outer header the stack would refuse */
	WG_DROP_POLICY = 11,      /* the interface's policy hook said so */
	WG_DROP_REASONS = 16,
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, WG_DROP_REASONS);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

static __always_inline void wg_count_drop(__u32 reason)
{
	__u64 *c = bpf_map_lookup_elem(&drops, &reason);
	if (c)
		*c += 1;
}
