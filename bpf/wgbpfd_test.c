// SPDX-License-Identifier: GPL-2.0
/* wgbpfd_test.c: the BPF object of the dataplane package's tests only. Its
 * programs run the ciphers on keys, nonces and session indices the caller
 * chooses, so the daemon never loads them. The tests load this object with
 * the maps of a loaded wgbpfd.c (MapReplacements), so that it sees the keys
 * the daemon's programs installed. */
#include "common.h"
#include "suite.h"
#include "selftest.h" /* SEC("tc") wg_selftest, for BPF_PROG_TEST_RUN */
#include "gotypes.h"

WG_GO_TYPE(wg_selftest_hdr);

char LICENSE[] SEC("license") = "GPL";
