// SPDX-License-Identifier: MIT

package netif

import (
	"errors"
	"fmt"

	"github.com/vishvananda/netlink"
)

// linkByIndex wraps netlink's lookup with an error naming the index.
func linkByIndex(ifindex int) (netlink.Link, error) {
	l, err := netlink.LinkByIndex(ifindex)
	if err != nil {
		return nil, fmt.Errorf("interface index %d: %w", ifindex, err)
	}
	return l, nil
}

// SetUp sets the interface administratively up.
func SetUp(ifindex int) error {
	l, err := linkByIndex(ifindex)
	if err != nil {
		return err
	}
	if err := netlink.LinkSetUp(l); err != nil {
		return fmt.Errorf("set %s up: %w", l.Attrs().Name, err)
	}
	return nil
}

// SetDown sets the interface administratively down.
func SetDown(ifindex int) error {
	l, err := linkByIndex(ifindex)
	if err != nil {
		return err
	}
	if err := netlink.LinkSetDown(l); err != nil {
		return fmt.Errorf("set %s down: %w", l.Attrs().Name, err)
	}
	return nil
}

// deleteLink deletes the link with this index if it still has this name; a
// link that is already gone is not an error (a TUN disappears on its own when
// its last queue is closed). Checking the name guards against deleting an
// unrelated link that reused the index.
func deleteLink(ifindex int, name string) error {
	l, err := netlink.LinkByIndex(ifindex)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil
		}
		return fmt.Errorf("delete %s: look up index %d: %w", name, ifindex, err)
	}
	if l.Attrs().Name != name {
		return nil
	}
	if err := netlink.LinkDel(l); err != nil && !isNotFound(err) {
		return fmt.Errorf("delete %s: %w", name, err)
	}
	return nil
}
