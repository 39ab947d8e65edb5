/* SPDX-License-Identifier: GPL-2.0 */
/* tunnel_defs.h: constants the packet path needs that the build host's
 * <linux/bpf.h> may be too old to name. Values are the kernel UAPI's; the
 * running kernel (>= 6.10) implements all of them. Prefixed WG_ so they
 * never collide with a newer header. */
#pragma once

#include "common.h"

#define WG_ETH_HLEN 14
#define WG_ETH_P_IP 0x0800
#define WG_ETH_P_IPV6 0x86DD
#define WG_AF_INET 2
#define WG_AF_INET6 10
#define WG_IPPROTO_UDP 17
#define WG_UDP_HLEN 8
#define WG_IPV4_HLEN 20
#define WG_IPV6_HLEN 40

/* skb->pkt_type of a frame addressed to another host's MAC (linux/if_packet.h). */
#define WG_PACKET_OTHERHOST 3

/* tc verdicts (linux/pkt_cls.h) and tcx's "run the next program". */
#define WG_TC_ACT_OK 0
#define WG_TC_ACT_SHOT 2
#define WG_TC_ACT_STOLEN 4
#define WG_TC_ACT_REDIRECT 7
#define WG_TCX_NEXT (-1)

/* bpf_skb_adjust_room: set skb->protocol to the inner family on decap
 * (UAPI since 6.3). */
#define WG_ADJ_ROOM_DECAP_L3_IPV4 (1ULL << 7)
#define WG_ADJ_ROOM_DECAP_L3_IPV6 (1ULL << 8)

/* bpf_fib_lookup: honour params->mark for policy routing (UAPI since 6.10).
 * The mark is an input that shares its bytes with the output smac[0..3]. */
#define WG_FIB_LOOKUP_MARK (1U << 5)

/* Locally administered unicast MAC prefix the wg0 egress program writes on
 * the plaintext it hands to the veth hop; the rest of each address carries
 * a 32-bit id (destination: peer id, source: local index of the keypair). */
#define WG_HOP_MAC0 0x02
#define WG_HOP_MAC1 0x57 /* 'W' */
#define WG_HOP_MAC_ID 2   /* where the 32-bit id starts */
