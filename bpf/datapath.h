/* SPDX-License-Identifier: GPL-2.0 */
/* datapath.h: wgbpfd's packet path, one concern per header.
 *
 *   tunnel_defs.h  constants newer than the build host's UAPI headers
 *   wire.h         header layouts (Ethernet, IPv4, IPv6, UDP, data message)
 *   peers.h        maps: ifconfig, peers, peer_stats, allowed_v4/v6
 *   events.h       ring buffer of events for the daemon, rate limiting
 *   replay.h       the receive replay window
 *   csum.h         outer checksums
 *   egress.h       wg_tun_egress (wg0), wg_hop_encrypt (<tun>-hop1)
 *   ingress.h      wg_underlay_ingress (every underlay interface)
 */
#pragma once

#include "egress.h"
#include "ingress.h"
