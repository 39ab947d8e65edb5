// SPDX-License-Identifier: MIT

// Command flowtop prints the busiest flows that the flows.c example policy
// counted: one line per inner 5-tuple and direction, by bytes.
//
//	go run ./examples/flowtop [-n 20] wg0
//
// It reads the map the daemon pinned for the policy
// (/sys/fs/bpf/wgbpfd/wg0/policy_flows); -pin names another directory.
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"text/tabwriter"

	"github.com/cilium/ebpf"
)

// flowKey mirrors struct flow_key in examples/flows.c.
type flowKey struct {
	Saddr, Daddr [16]byte
	Sport, Dport uint16 // network order in memory
	Proto        uint8
	Family       uint8
	Hook         uint16
	PeerID       uint32
}

type flowCounters struct {
	Packets, Bytes uint64
}

type flow struct {
	k flowKey
	c flowCounters
}

func main() {
	n := flag.Int("n", 20, "how many flows to print")
	pin := flag.String("pin", "", "pin directory (default /sys/fs/bpf/wgbpfd/IFACE)")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: flowtop [-n N] [-pin DIR] IFACE")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	dir := *pin
	if dir == "" {
		dir = filepath.Join("/sys/fs/bpf/wgbpfd", flag.Arg(0))
	}
	if err := run(filepath.Join(dir, "policy_flows"), *n); err != nil {
		fmt.Fprintln(os.Stderr, "flowtop:", err)
		os.Exit(1)
	}
}

func run(path string, n int) error {
	m, err := ebpf.LoadPinnedMap(path, &ebpf.LoadPinOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("%s (is the flows.c policy loaded?): %w", path, err)
	}
	defer m.Close()
	var flows []flow
	var f flow
	it := m.Iterate()
	for it.Next(&f.k, &f.c) {
		flows = append(flows, f)
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	sort.Slice(flows, func(i, j int) bool { return flows[i].c.Bytes > flows[j].c.Bytes })
	if len(flows) > n {
		flows = flows[:n]
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "DIR\tPROTO\tSOURCE\tDESTINATION\tPEER\tPACKETS\tBYTES\t")
	for _, f := range flows {
		dir := "sent"
		if f.k.Hook == 1 {
			dir = "received"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t\n", dir, proto(f.k.Proto),
			endpoint(f.k.Family, f.k.Saddr, f.k.Sport), endpoint(f.k.Family, f.k.Daddr, f.k.Dport),
			f.k.PeerID, f.c.Packets, f.c.Bytes)
	}
	return w.Flush()
}

func proto(p uint8) string {
	switch p {
	case 1:
		return "icmp"
	case 6:
		return "tcp"
	case 17:
		return "udp"
	case 58:
		return "icmpv6"
	case 132:
		return "sctp"
	}
	return fmt.Sprint(p)
}

func endpoint(family uint8, addr [16]byte, port uint16) string {
	var a netip.Addr
	if family == 4 {
		a = netip.AddrFrom4([4]byte(addr[:4]))
	} else {
		a = netip.AddrFrom16(addr)
	}
	var b [2]byte
	binary.NativeEndian.PutUint16(b[:], port)
	p := binary.BigEndian.Uint16(b[:])
	if p == 0 {
		return a.String()
	}
	return netip.AddrPortFrom(a, p).String()
}
