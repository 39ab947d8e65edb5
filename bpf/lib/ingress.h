/* SPDX-License-Identifier: GPL-2.0 */
/* ingress.h: the receive path, wg_underlay_ingress (wgbpfd.c; tcx ingress on every
 * underlay interface).
 *
 * Traffic that is not UDP to ListenPort, that arrives in a frame for
 * another host's MAC, or whose outer destination is not one of this host's
 * addresses (a router's transit traffic; outer.h), continues to the next
 * tcx program (TCX_NEXT). So do handshake messages, IP fragments, GRO
 * aggregates and data messages for a receiver index the kernel does not
 * hold, on their way up the stack to the daemon's socket. Outer headers
 * the stack would refuse before any socket are dropped (outer.h). A data message for a known keypair is checked (suite,
 * age, counter, replay window), authenticated and decrypted in the per-CPU
 * scratch buffer, its inner source checked against the peer's AllowedIPs,
 * and the skb is reshaped into the inner packet and redirected into wg0's
 * receive path. Everything refused is dropped and counted by reason. The
 * same program on <tun>-hop0's ingress decrypts what wg_rx_handoff sent to
 * another CPU. */
#pragma once

#include "common.h"
#include "tunnel_defs.h"
#include "wire.h"
#include "peers.h"
#include "events.h"
#include "replay.h"
#include "suite.h"
#include "outer.h"
#include "policy.h"

/* WireGuard's receive-side rekey: an initiator whose keypair is this close
 * to REJECT_AFTER_TIME (minus KEEPALIVE_TIMEOUT and REKEY_TIMEOUT) rekeys. */
#define WG_REKEY_ON_RECV_NS (WG_REJECT_AFTER_TIME_NS - 15ULL * 1000000000ULL)

static __always_inline int wg_ep_equal(const struct wg_endpoint *a, const struct wg_endpoint *b)
{
	const __u32 *x = (const __u32 *)a, *y = (const __u32 *)b;

	return x[0] == y[0] && x[1] == y[1] && x[2] == y[2] && x[3] == y[3] && x[4] == y[4];
}

/* Decryption on another CPU. The CPU that receives from the underlay (the
 * NIC's RSS choice, one per tunnel since its outer 5-tuple never changes;
 * with a veth underlay, the sender's CPU, which has just encrypted the
 * packet) would otherwise decrypt everything of the tunnel and run the
 * inner stack too. A data message of WG_HANDOFF_MIN bytes or more goes back
 * out through <tun>-hop1 with a hash that makes RPS on <tun>-hop0 pick
 * another CPU, where this program runs again (ingress on hop0) and
 * decrypts: a pipeline across two CPUs. The session's index picks which
 * other CPU, so one tunnel's packets keep their order (TCP pays dearly for
 * reordering: spreading one tunnel's packets over the CPUs by counter
 * measured slower than not spreading at all). */
static __always_inline int wg_rx_handoff(struct __sk_buff *skb, struct wg_ifconfig *cfg, __u32 idx)
{
	__u32 n = cfg->rx_cpus;

	bpf_set_hash(skb, wg_rps_hash(n, (bpf_get_smp_processor_id() + 1 + idx % (n - 1)) % n));
	return bpf_redirect(cfg->fib_ifindex, 0);
}

/* Small data messages stay on the CPU that received them (WG_HANDOFF_MIN),
 * unless they arrive as a flood: WG_FLOOD_RUN of them in a row on this CPU,
 * each within WG_FLOOD_GAP_NS of the one before. The receiving CPU is then
 * busy anyway, and decrypting even 64 bytes (1.3 µs with ChaCha20-Poly1305,
 * 3.6 µs with aes-cbc) costs more than the hand-off. A ping, or the ACKs of
 * a transfer, never make such a run, so idle round trips keep the short
 * path. Measured with 64-byte UDP through iperf3: aes-cbc 50 → 74-90 k
 * packets/s delivered when every packet was handed off, with idle pings
 * going from 0.08-0.10 to 0.19-0.27 ms, which this rule avoids. */
#define WG_FLOOD_GAP_NS 50000ULL
#define WG_FLOOD_RUN 16

struct wg_rx_pace {
	__u64 last_ns; /* the last small data message on this CPU */
	__u64 run;     /* how many in a row came within WG_FLOOD_GAP_NS */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct wg_rx_pace);
} rx_pace SEC(".maps");

/* Counts one small data message on this CPU; true while they flood in. A
 * function of its own: wg_underlay_ingress has no stack to spare. */
static __noinline int wg_small_flood(void)
{
	struct wg_rx_pace *p;
	__u32 zero = 0;
	__u64 now;

	p = bpf_map_lookup_elem(&rx_pace, &zero);
	if (!p)
		return 0;
	now = bpf_ktime_get_ns();
	if (now - p->last_ns < WG_FLOOD_GAP_NS) {
		if (p->run < WG_FLOOD_RUN)
			p->run++;
	} else {
		p->run = 0;
	}
	p->last_ns = now;
	return p->run >= WG_FLOOD_RUN;
}
