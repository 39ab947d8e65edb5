// SPDX-License-Identifier: MIT

package daemon

import (
	"fmt"
	"io"
	"log/slog"
	"net"

	"github.com/wgbpfd/wgbpfd/dataplane"
	"github.com/wgbpfd/wgbpfd/keystore"
	"github.com/wgbpfd/wgbpfd/netif"
)

// WriteLeftovers lists the data planes pinned under dataplane.PinRoot, one
// line each: whose (interface, network namespace), whether a daemon holds
// the interface (checked in this network namespace only), and whether this
// build could take it over. `wgbpfd leftovers`.
func WriteLeftovers(w io.Writer) error {
	if _, err := dataplane.EnsureBPFFS(); err != nil {
		return err
	}
	los, err := dataplane.ListLeftovers()
	if err != nil {
		return err
	}
	if len(los) == 0 {
		fmt.Fprintf(w, "no data plane pinned under %s\n", dataplane.PinRoot)
		return nil
	}
	layout, err := dataplane.LayoutFingerprint()
	if err != nil {
		return err
	}
	for _, lo := range los {
		state := "in another network namespace"
		if dataplane.PinDir(lo.Iface) == lo.Dir {
			orphan, idx, err := netif.TUNOrphan(lo.Iface)
			switch {
			case err != nil:
				state = "interface: " + err.Error()
			case idx == 0:
				state = "interface gone"
			case orphan:
				state = "no daemon (forwarding until its keypairs expire)"
			default:
				state = "held by a running daemon"
			}
		}
		what := ""
		if lo.Identity == nil {
			what = "unknown identity: " + lo.IdErr.Error()
		} else {
			match := "same map layout as this build"
			if lo.Identity.Layout != layout {
				match = "another map layout than this build"
			}
			what = fmt.Sprintf("suite %s, interface index %d, %s", keystore.Suite(lo.Identity.Suite), lo.Identity.TunIndex, match)
		}
		fmt.Fprintf(w, "%s\t%s\t%d maps, %d links\t%s\t%s\n", lo.Iface, lo.Dir, lo.Maps, len(lo.Links), state, what)
	}
	return nil
}

// Cleanup removes what a daemon for iface left running (its data plane,
// interface, hop, rules), as a stop would have. It refuses while a daemon
// holds the interface. `wgbpfd cleanup IFACE`.
func Cleanup(iface string, log *slog.Logger) error {
	if err := ValidInterfaceName(iface); err != nil {
		return &StartError{Code: ExitConfig, Err: err}
	}
	if err := checkPrivileges(); err != nil {
		return err
	}
	if _, err := dataplane.EnsureBPFFS(); err != nil {
		return err
	}
	orphan, idx, err := netif.TUNOrphan(iface)
	if err != nil {
		return err
	}
	if idx != 0 && !orphan {
		return startErr(ExitInterface, "interface %s is held by a running process; stop its daemon instead (SIGTERM, systemctl stop)", iface)
	}
	if c, err := net.Dial("unix", "/var/run/wireguard/"+iface+".sock"); err == nil {
		c.Close()
		return startErr(ExitInterface, "a daemon serves %s's control socket; stop it instead", iface)
	}
	return removeLeftovers(iface, 0, log)
}
