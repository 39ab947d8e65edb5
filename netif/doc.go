// SPDX-License-Identifier: MIT

// Package netif is everything wgbpfd does to the host's network
// configuration, following wg-quick(8) as the specification: the TUN link,
// its addresses and MTU, routes for AllowedIPs (including the fwmark-based
// full-tunnel scheme), DNS through systemd-resolved or resolvconf, the
// PreUp/PostUp/PreDown/PostDown hooks, and undoing all of it.
//
// Every change made through a State is recorded there, so State.Teardown
// removes exactly what this process created and nothing else. After a crash
// (kill -9) no State survives; CleanupStale then recognises leftovers by the
// two things that identify an instance of wgbpfd: the interface name and the
// fwmark/table number. See cleanup.go for what is removed and what is adopted.
//
// The package works on the network namespace of the calling OS thread, as
// netlink sockets and /proc/sys do; callers that switch namespaces must lock
// the goroutine to its thread.
package netif
