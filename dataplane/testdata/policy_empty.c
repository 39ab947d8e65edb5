// SPDX-License-Identifier: GPL-2.0
/* The cheapest policy: both hooks continue. For the cost benchmark. */
#include <wgbpfd/policy.h>

WGBPFD_POLICY();

SEC("tc")
int wgbpfd_egress(struct __sk_buff *skb)
{
	return WGBPFD_CONTINUE;
}

SEC("tc")
int wgbpfd_ingress(struct __sk_buff *skb)
{
	return WGBPFD_CONTINUE;
}
