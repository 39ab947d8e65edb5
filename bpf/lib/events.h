/* SPDX-License-Identifier: GPL-2.0 */
/* events.h: what the packet path tells the daemon, through a ring buffer.
 * Events that a busy peer could raise for
 * every packet are rate-limited per peer (WG_EVENT_INTERVAL_NS). */
#pragma once

#include "common.h"
#include "peers.h"

enum wg_event_type {
	WG_EVENT_HANDSHAKE_NEEDED = 1,  /* no usable keypair; packet left in wg0 */
	WG_EVENT_REKEY_NEEDED = 2,      /* initiator keypair past the REKEY limits */
	WG_EVENT_KEYPAIR_CONFIRMED = 3, /* "next" promoted to "current" */
	WG_EVENT_ENDPOINT_CHANGED = 4,  /* authenticated packet from a new address */
};

struct wg_event {
	__u32 type;        /* enum wg_event_type */
	__u32 peer_id;
	__u32 local_index; /* keypair concerned, 0 if none */
	__u32 _pad;
	__u64 time_ns;     /* CLOCK_BOOTTIME */
	struct wg_endpoint endpoint; /* ENDPOINT_CHANGED: the new endpoint */
	__u32 _pad2;
};
_Static_assert(sizeof(struct wg_event) == 48, "wg_event: shared with Go");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

/* The daemon reacts within one REKEY_TIMEOUT; one reminder a second per
 * peer is plenty and keeps a flood of packets from flooding the ring. */
#define WG_EVENT_INTERVAL_NS (1000000000ULL)

/* Claims the rate-limit slot (a field of *p): 1 if an event may be sent. The
 * unlocked read filters the common case without touching the lock. */
static __always_inline int wg_event_allowed(struct wg_peer *p, __u64 *slot, __u64 now)
{
	int ok = 0;

	if (*slot && now - *slot < WG_EVENT_INTERVAL_NS)
		return 0;
	bpf_spin_lock(&p->lock);
	if (!*slot || now - *slot >= WG_EVENT_INTERVAL_NS) {
		*slot = now;
		ok = 1;
	}
	bpf_spin_unlock(&p->lock);
	return ok;
}

static __always_inline void wg_emit(__u32 type, __u32 peer_id, __u32 local_index,
				    const struct wg_endpoint *ep, __u64 now)
{
	struct wg_event ev = {
		.type = type,
		.peer_id = peer_id,
		.local_index = local_index,
		.time_ns = now,
	};

	if (ep)
		ev.endpoint = *ep;
	/* A full ring loses the event; the daemon's own timers cover it. */
	bpf_ringbuf_output(&events, &ev, sizeof(ev), 0);
}
