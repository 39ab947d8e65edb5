// SPDX-License-Identifier: GPL-2.0
/* wgbpfd_test.c: the BPF object of the dataplane package's tests only. Its
 * programs run the ciphers on keys, nonces and session indices the caller
 * chooses, so the daemon never loads them. The tests load this object with
 * the maps of a loaded wgbpfd.c (MapReplacements), so that it sees the keys
 * the daemon's programs installed. */
#include "lib/common.h"
#include "lib/suite.h"
#include "lib/selftest.h"
#include "lib/gotypes.h"

WG_GO_TYPE(wg_selftest_hdr);

SEC("tc")
int wg_selftest(struct __sk_buff *skb)
{
	struct wg_selftest_hdr h;
	struct wg_scratch *s;
	__u32 zero = 0, op, n;
	__u16 proto = 0;
	int ret;

	s = bpf_map_lookup_elem(&scratch, &zero);
	if (!s)
		return WG_ERR_CRYPTO;
	bpf_skb_load_bytes(skb, offsetof(struct wg_eth, proto), &proto, sizeof(proto));
	if (proto != bpf_htons(WG_ST_ETHERTYPE) ||
	    bpf_skb_load_bytes(skb, WG_ST_OFF, &h, sizeof(h)))
		return wg_st_rx(skb, s);
	op = h.op & 0xff;
	if (op == WG_ST_RX)
		return wg_st_rx(skb, s);
	if (h.len > WG_MAX_PADDED)
		return WG_ERR_LEN;
	n = h.len;
	switch (op) {
	case WG_ST_SEAL:
	case WG_ST_AEAD_SEAL:
	case WG_ST_POLY1305:
	case WG_ST_CBC:
	case WG_ST_CBC_DEC:
		if (wg_st_load(skb, WG_ST_DATA, s, n))
			return WG_ERR_LEN;
		break;
	case WG_ST_OPEN:
	case WG_ST_AEAD_OPEN:
		if (wg_st_load(skb, WG_ST_DATA, s, n + WG_TAG_LEN))
			return WG_ERR_LEN;
		break;
	default:
		return WG_ERR_LEN;
	}
	switch (op) {
	case WG_ST_SEAL:
		ret = wg_seal(h.local_index, h.counter, n, wg_keys_generation(h.local_index));
		n += WG_TAG_LEN;
		break;
	case WG_ST_OPEN:
		ret = wg_open(h.local_index, h.counter, n, wg_keys_generation(h.local_index));
		break;
	default:
		ret = wg_selftest_raw(&h, n);
		if (op == WG_ST_AEAD_SEAL || op == WG_ST_POLY1305)
			n += WG_TAG_LEN;
		break;
	}
	if (ret)
		return ret;
	if (!(h.op & WG_ST_NOWRITE) && wg_st_store(skb, WG_ST_DATA, s, n))
		return WG_ERR_LEN;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
