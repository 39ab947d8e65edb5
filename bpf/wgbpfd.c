// SPDX-License-Identifier: GPL-2.0
/* wgbpfd.c: the BPF object the daemon loads. Each concern lives in its own
 * header so that the programs share maps without pinning tricks. Programs
 * only tests need (raw ciphers on caller-given keys) are in wgbpfd_test.c. */
#include "common.h"
#include "suite.h"    /* crypto: wg_seal / wg_open on the per-CPU scratch */
#include "keys.h"     /* SEC("syscall"): key install, removal, counter reservation */
#include "datapath.h" /* TC programs: wg0 egress, veth encrypt hop, underlay ingress */
#include "gotypes.h"

WG_GO_TYPE(wg_event);
WG_GO_TYPE(wg_wrap_frame);

char LICENSE[] SEC("license") = "GPL";
