// SPDX-License-Identifier: MIT

//go:build wgbpfd_testlayout

package dataplane

import "github.com/cilium/ebpf"

// testLayoutChange makes this build's drops map one entry longer than the
// object's: a real change of a map's layout, which a running data plane of
// another build cannot be carried over across (the upgrade tests build a
// binary with this tag). The programs index drops with reasons below
// WG_DROP_REASONS, so the longer map changes nothing else.
func testLayoutChange(spec *ebpf.CollectionSpec) {
	spec.Maps["drops"].MaxEntries++
}
