// SPDX-License-Identifier: MIT

package dataplane

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// PeerStats are one peer's traffic counters, summed over CPUs. Bytes are
// WireGuard data message bytes (header, ciphertext, tag), as wg(8) shows.
type PeerStats struct {
	RxBytes, RxPackets uint64
	TxBytes, TxPackets uint64
	RxKeepalives       uint64    // authenticated empty packets (also in RxPackets)
	LastRx, LastTx     time.Time // last authenticated packet received (keepalives too) / sent
	LastRxData         time.Time // last data packet received (not a keepalive)
}

// PeerStats reads peer id's counters.
func (d *Dataplane) PeerStats(id uint32) (PeerStats, error) {
	var per []wgPeerStats
	if err := d.objs.PeerStats.Lookup(id, &per); err != nil {
		return PeerStats{}, fmt.Errorf("counters of peer %d: %w", id, err)
	}
	var s PeerStats
	var lastRx, lastTx, lastRxData uint64
	for _, c := range per {
		s.RxBytes += c.RxBytes
		s.RxPackets += c.RxPackets
		s.TxBytes += c.TxBytes
		s.TxPackets += c.TxPackets
		s.RxKeepalives += c.RxKeepalives
		lastRx = max(lastRx, c.LastRxNs)
		lastTx = max(lastTx, c.LastTxNs)
		lastRxData = max(lastRxData, c.LastRxDataNs)
	}
	s.LastRx, s.LastTx, s.LastRxData = bootTime(lastRx), bootTime(lastTx), bootTime(lastRxData)
	return s, nil
}

// DropReasons names the drop counters (enum wg_drop_reason, bpf/lib/common.h),
// indexed by reason.
var DropReasons = []string{
	0:  "no_session",
	1:  "bad_tag",
	2:  "replay",
	3:  "src_not_allowed",
	4:  "malformed",
	5:  "too_big",
	6:  "suite_mismatch",
	7:  "expired",
	8:  "crypto",
	9:  "no_route",
	10: "outer_header",
	11: "policy",
}

// Drops returns the drop counters by name, summed over CPUs (every name in
// DropReasons is present).
func (d *Dataplane) Drops() (map[string]uint64, error) {
	out := make(map[string]uint64, len(DropReasons))
	for i, name := range DropReasons {
		var per []uint64
		if err := d.objs.Drops.Lookup(uint32(i), &per); err != nil {
			return nil, fmt.Errorf("drop counter %s: %w", name, err)
		}
		var n uint64
		for _, c := range per {
			n += c
		}
		out[name] = n
	}
	return out, nil
}

// bootTime converts a bpf_ktime_get_boot_ns() timestamp to wall time; 0
// stays the zero Time.
func bootTime(ns uint64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	var ts unix.Timespec
	now := time.Now()
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return time.Time{}
	}
	return now.Add(-time.Duration(uint64(ts.Nano()) - ns))
}
