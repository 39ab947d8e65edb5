/* SPDX-License-Identifier: GPL-2.0 */
/* csum.h: Internet checksums of the outer headers we build (RFC 1071). */
#pragma once

#include "common.h"

static __always_inline __u16 wg_csum_fold(__u64 sum)
{
	sum = (sum & 0xffffffff) + (sum >> 32);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/* Adds buf[0,len) to the running sum seed. len must be a multiple of 4 and
 * buf a map value of at least WG_SCRATCH_LEN bytes. bpf_csum_diff accepts at
 * most 512 bytes a call on older kernels, hence the chunks. Returns < 0 on
 * error. */
static __always_inline __s64 wg_csum_scratch(__u8 *buf, __u32 len, __s64 seed)
{
	__u32 i;

#pragma clang loop unroll(full)
	for (i = 0; i < (WG_SCRATCH_LEN + 511) / 512; i++) {
		__u32 off = i * 512, n;

		if (off >= len)
			break;
		n = len - off;
		if (n > 512)
			n = 512;
		if (n > WG_SCRATCH_LEN - off)
			return -1;
		seed = bpf_csum_diff(NULL, 0, (__be32 *)(buf + off), n, (__u32)seed);
		if (seed < 0)
			return seed;
	}
	return seed;
}
