// SPDX-License-Identifier: MIT

//go:build !wgbpfd_testlayout

package dataplane

import "github.com/cilium/ebpf"

func testLayoutChange(*ebpf.CollectionSpec) {}
