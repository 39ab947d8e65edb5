// SPDX-License-Identifier: MIT

package dataplane

import (
	"errors"
	"fmt"

	"github.com/vishvananda/netlink"
)

// QueueNames are the kernel queues a packet waits in between the data
// plane's programs, by the names QueueDrops reports:
//   - encrypt: from hop0 into hop1's backlog, in front of
//     wg_hop_encrypt on the CPU RPS picks;
//   - decrypt: from hop1 into hop0's backlog, in front of
//     decryption on another CPU (wg_rx_handoff);
//   - deliver: decrypted packets into the TUN's receive backlog.
//
// Each is a per-CPU backlog of net.core.netdev_max_backlog packets. The
// sending TCP socket gets its small-queues credit back once a packet is
// encrypted (see wg_hop_encrypt), so under a bulk transfer these queues,
// like a router's, are where the excess is dropped and TCP backs off.
var QueueNames = []string{"encrypt", "decrypt", "deliver"}

// QueueDrops returns how many packets the kernel dropped entering each
// queue of QueueNames (a full backlog, or a link that is down) since the
// links were created. A veth counts a packet its peer refused as a transmit
// drop of the sending end; a redirect into the TUN that fails counts as the
// TUN's receive drop.
func (d *Dataplane) QueueDrops() (map[string]uint64, error) {
	a := d.att
	if a == nil {
		return nil, errors.New("queue drops: the data plane is not attached")
	}
	h, err := netlink.NewHandleAt(a.ns)
	if err != nil {
		return nil, fmt.Errorf("queue drops: netlink in the data plane's namespace: %w", err)
	}
	defer h.Close()
	out := make(map[string]uint64, len(QueueNames))
	for _, q := range []struct {
		name    string
		ifindex int
		tx      bool
	}{
		{"encrypt", a.hop0Idx, true},
		{"decrypt", a.hop1Idx, true},
		{"deliver", a.cfg.TunIndex, false},
	} {
		l, err := h.LinkByIndex(q.ifindex)
		if err != nil {
			return nil, fmt.Errorf("queue drops: %s queue's link (ifindex %d): %w", q.name, q.ifindex, err)
		}
		st := l.Attrs().Statistics
		if st == nil {
			return nil, fmt.Errorf("queue drops: link %s has no statistics", l.Attrs().Name)
		}
		if q.tx {
			out[q.name] = st.TxDropped
		} else {
			out[q.name] = st.RxDropped
		}
	}
	return out, nil
}
