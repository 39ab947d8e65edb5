// SPDX-License-Identifier: MIT

// Package dataplane is the Go side of wgbpfd's BPF objects: it loads them,
// attaches them with tcx, installs keys through the SEC("syscall") programs,
// and exposes peers, AllowedIPs, endpoints, sessions, counters and events.
//
// Minimum kernel: Linux 6.10 (bpf_crypto kfuncs in TC programs, tcx links,
// BTF). Developed and tested on 6.18.
package dataplane

//go:generate go tool bpf2go -target bpfel -cc clang-19 -cflags "-O2 -g -Wall -Werror -mcpu=v3" -no-global-types -type wg_session -type wg_commit_args -type wg_local_addr -type wg_ifconfig -type wg_endpoint -type wg_peer -type wg_peer_stats -type wg_event -type wg_lpm_v4 -type wg_lpm_v6 -type wg_install_args -type wg_index_args -type wg_probe_args -type wg_wrap_frame -type wgbpfd_peer_info wgbpf ../bpf/wgbpfd.c -- -I../bpf -I/usr/include/x86_64-linux-gnu

// The tests' own object (raw ciphers on caller-given keys): its bindings are
// a _test.go file, so neither the object nor its loader is in the daemon.
//go:generate go tool bpf2go -target bpfel -cc clang-19 -cflags "-O2 -g -Wall -Werror -mcpu=v3" -no-global-types -type wg_selftest_hdr -output-suffix _test wgbpftest ../bpf/wgbpfd_test.c -- -I../bpf -I/usr/include/x86_64-linux-gnu
