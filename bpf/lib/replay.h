/* SPDX-License-Identifier: GPL-2.0 */
/* replay.h: the receive sliding window of one keypair (RFC 6479 style).
 *
 * State in struct wg_session: replay_last = n_max, the highest accepted
 * counter plus one (0: nothing accepted yet), and replay_bitmap, 8192 bits
 * where bit (n mod 8192) records that counter n - 1 was seen. We work with
 * n = counter + 1 so that 0 can mean "empty". A counter is acceptable when
 * it is newer than n_max or within the last WG_REPLAY_WINDOW (8128) counters
 * and its bit is clear. When n_max advances, the 64-bit words it enters are
 * cleared first; because the window is one word shorter than the bitmap,
 * a word being cleared never holds a live bit.
 *
 * wg_replay_check runs before decryption without the lock (a stale read
 * only costs one wasted decryption); wg_replay_commit runs after the tag
 * verified, under the session's spin lock, and is the authority for every
 * receive path: the ingress program calls it, and the daemon, for messages
 * that reach its socket (fragments, aggregates, IPv6 extension headers),
 * through the wg_commit syscall program. */
#pragma once

#include "common.h"

#define WG_REPLAY_WORD_MASK (WG_REPLAY_WORDS - 1)

/* 1 if counter may be new, 0 if it is too old or already seen. */
static __always_inline int wg_replay_check(struct wg_session *s, __u64 counter)
{
	__u64 n = counter + 1, last = s->replay_last;

	if (n > last)
		return 1;
	if (last - n >= WG_REPLAY_WINDOW)
		return 0;
	return !((s->replay_bitmap[(n >> 6) & WG_REPLAY_WORD_MASK] >> (n & 63)) & 1);
}

#define WG_REPLAY_NEW 1    /* counter accepted and marked */
#define WG_REPLAY_SEEN 0   /* a replay, or older than the window */
#define WG_REPLAY_STALE -1 /* s now belongs to another install */

/* Marks counter as received in the window of install `generation` (see
 * struct wg_session): WG_REPLAY_NEW, _SEEN or _STALE. Also marks the
 * keypair confirmed (a packet authenticated on it). */
static __always_inline int wg_replay_commit(struct wg_session *s, __u64 counter,
					    __u64 generation)
{
	__u64 n = counter + 1, bit = 1ULL << (n & 63);
	__u32 w = (n >> 6) & WG_REPLAY_WORD_MASK;
	int ok = WG_REPLAY_SEEN;

	bpf_spin_lock(&s->lock);
	if (s->generation != generation) {
		ok = WG_REPLAY_STALE;
		goto out;
	}
	if (n > s->replay_last) {
		__u64 cur = s->replay_last >> 6;
		__u64 words = (n >> 6) - cur;
		__u32 i;

		if (words > WG_REPLAY_WORDS)
			words = WG_REPLAY_WORDS;
		for (i = 1; i <= WG_REPLAY_WORDS; i++) {
			if (i > words)
				break;
			s->replay_bitmap[(cur + i) & WG_REPLAY_WORD_MASK] = 0;
		}
		s->replay_last = n;
	} else if (s->replay_last - n >= WG_REPLAY_WINDOW) {
		goto out;
	}
	if (!(s->replay_bitmap[w] & bit)) {
		s->replay_bitmap[w] |= bit;
		s->flags |= WG_SESSION_CONFIRMED;
		ok = WG_REPLAY_NEW;
	}
out:
	bpf_spin_unlock(&s->lock);
	return ok;
}
