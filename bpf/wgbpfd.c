// SPDX-License-Identifier: GPL-2.0
/* wgbpfd.c: the one BPF object of wgbpfd. Each concern lives in its own
 * header so that the programs share maps without pinning tricks. */
#include "common.h"
#include "suite.h"    /* crypto: wg_seal / wg_open on the per-CPU scratch */
#include "keys.h"     /* SEC("syscall"): key install, removal, counter reservation */
#include "selftest.h" /* SEC("tc") programs used only by BPF_PROG_TEST_RUN tests */
#include "datapath.h" /* TC programs: wg0 egress, veth encrypt hop, underlay ingress */

char LICENSE[] SEC("license") = "GPL";
