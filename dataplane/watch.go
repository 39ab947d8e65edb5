// SPDX-License-Identifier: MIT

package dataplane

import (
	"fmt"
	"runtime"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// watchLinks attaches to Ethernet links as they appear and forgets links
// that go away (their tcx links die with the device).
func (d *Dataplane) watchLinks() error {
	a := d.att
	updates := make(chan netlink.LinkUpdate, 64)
	stop := make(chan struct{})
	a.stop = stop
	report := func(err error) {
		select {
		case <-stop:
			// Stopping closes the subscription's socket, and its reader
			// reports that as a receive error: not news.
			return
		default:
		}
		if a.cfg.OnWatchError != nil {
			a.cfg.OnWatchError(err)
		}
	}
	ns := a.ns
	prog := d.objs.WgUnderlayIngress
	if err := netlink.LinkSubscribeWithOptions(updates, a.stop, netlink.LinkSubscribeOptions{
		Namespace:     &ns,
		ErrorCallback: report,
	}); err != nil {
		return fmt.Errorf("attach: subscribing to link updates: %w", err)
	}
	watching := make(chan struct{})
	a.watching = watching
	go func() {
		// netlink closes updates after its last report, so once this
		// goroutine ends nothing more is reported.
		defer close(watching)
		// tcx attachment resolves the ifindex in the calling thread's
		// namespace: this goroutine's thread lives in the dataplane's. It
		// stays locked so the runtime retires the thread when we return.
		runtime.LockOSThread()
		if err := netns.Set(ns); err != nil {
			report(fmt.Errorf("link watcher: entering namespace: %w", err))
			for range updates { // drain until stopped
			}
			return
		}
		for u := range updates {
			idx := int(u.Index)
			if u.Header.Type == unix.RTM_DELLINK {
				a.detachUnderlay(idx)
				continue
			}
			if u.Link != nil && a.isUnderlay(u.Link) {
				if err := a.attachUnderlay(prog, idx); err != nil {
					report(err)
				}
			}
		}
	}()
	return nil
}

// stopWatching ends the link watcher and waits for it, so that it attaches
// nothing and reports nothing afterwards; bounded, should netlink never
// let go.
func (a *attachment) stopWatching() error {
	if a.stop == nil {
		return nil
	}
	return stopAndWait(a.stop, a.watching, "link watcher")
}

// stopAndWait closes stop and waits for the watcher behind it to close
// done; bounded, should netlink never let go.
func stopAndWait(stop, done chan struct{}, what string) error {
	close(stop)
	select {
	case <-done:
		return nil
	case <-time.After(5 * time.Second):
		return fmt.Errorf("the %s did not stop within 5 s", what)
	}
}
