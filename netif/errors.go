// SPDX-License-Identifier: MIT

package netif

import (
	"errors"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// isExist reports whether a netlink add failed only because the object is
// already there; wg-quick treats an existing route as success, and so do we.
func isExist(err error) bool {
	return errors.Is(err, unix.EEXIST)
}

// isNotFound reports whether a netlink delete or lookup failed only because
// the object is already gone, which teardown treats as success.
func isNotFound(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf) ||
		errors.Is(err, unix.ENOENT) ||
		errors.Is(err, unix.ESRCH) ||
		errors.Is(err, unix.ENODEV) ||
		errors.Is(err, unix.EADDRNOTAVAIL)
}
