// SPDX-License-Identifier: MIT

package daemon

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/wgbpfd/wgbpfd/config"
	"github.com/wgbpfd/wgbpfd/netif"
)

// resolveTimeout bounds one hostname lookup, so a dead resolver cannot stall
// start-up or the timers.
const resolveTimeout = 5 * time.Second

// resolveEndpoints gives every peer whose Endpoint is a hostname an address,
// at start-up and after a reload.
func (r *running) resolveEndpoints() {
	for _, pc := range r.cfg.Peers {
		r.dev.resolvePeer(pc.PublicKey, pc.Endpoint)
	}
}

// resolvePeer resolves a "host:port" endpoint and sets it; IP endpoints are
// set by the configuration already. Preference: IPv4 when both exist, as
// wg(8) does.
func (d *device) resolvePeer(pub config.Key, endpoint string) {
	if endpoint == "" {
		return
	}
	if _, err := netip.ParseAddrPort(endpoint); err == nil {
		return
	}
	host, portStr, err := net.SplitHostPort(endpoint)
	if err != nil {
		return
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), resolveTimeout)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil || len(addrs) == 0 {
		d.log.Warn("resolving endpoint", "peer", pub.String(), "host", host, "err", err)
		return
	}
	best := addrs[0]
	for _, a := range addrs {
		if a.Unmap().Is4() {
			best = a
			break
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if p := d.peers[pub]; p != nil {
		d.setEndpointLocked(p, netip.AddrPortFrom(best.Unmap(), uint16(port)), "resolved "+host)
	}
}

func netifTable(cfg *config.Config) (netif.Table, error) {
	return netif.ParseTable(cfg.Interface.Table)
}
