// SPDX-License-Identifier: MIT

package dataplane

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
)

// SetListenPort moves the packet path to another UDP port: ingress then
// takes data messages to port, and encrypted packets leave from it. The
// daemon's socket must already be bound there (handshakes still go to it).
func (d *Dataplane) SetListenPort(port uint16) error {
	if port == 0 {
		return errors.New("set listen port: port 0")
	}
	return d.updateIfconfig("set listen port", func(ifc *wgIfconfig) { ifc.ListenPort = port })
}

// SetMTU changes the largest inner packet the packet path encrypts (the
// interface's MTU, which the caller sets too).
func (d *Dataplane) SetMTU(mtu int) error {
	if mtu < 576 || mtu > maxMTU {
		return fmt.Errorf("set MTU: %d outside [576, %d]", mtu, maxMTU)
	}
	return d.updateIfconfig("set MTU", func(ifc *wgIfconfig) { ifc.Mtu = uint32(mtu) })
}

// SetFwMark changes the mark of outer packets and of their route lookup
// (0: none).
func (d *Dataplane) SetFwMark(mark uint32) error {
	return d.updateIfconfig("set fwmark", func(ifc *wgIfconfig) { ifc.Fwmark = mark })
}

// updateIfconfig rewrites the interface configuration the programs read;
// they see either the old or the new value of each field.
func (d *Dataplane) updateIfconfig(what string, change func(*wgIfconfig)) error {
	if d.att == nil {
		return errors.New("dataplane not attached")
	}
	var ifc wgIfconfig
	if err := d.objs.Ifconfig.Lookup(uint32(0), &ifc); err != nil {
		return fmt.Errorf("%s: reading ifconfig: %w", what, err)
	}
	change(&ifc)
	if err := d.objs.Ifconfig.Update(uint32(0), &ifc, ebpf.UpdateExist); err != nil {
		return fmt.Errorf("%s: writing ifconfig: %w", what, err)
	}
	return nil
}
