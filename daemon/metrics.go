// SPDX-License-Identifier: MIT

package daemon

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"syscall"
	"time"
)

// metricsServer serves Prometheus text-format metrics: per peer rx/tx
// bytes, last handshake and endpoint changes; data plane drops by reason;
// kernel queue drops by queue; handshakes by outcome; the slow path by
// outcome.
type metricsServer struct {
	srv *http.Server
	l   net.Listener
}

// listenMetrics opens the metrics port; a port in use is ExitPortInUse,
// like a taken ListenPort.
func listenMetrics(addr string) (net.Listener, error) {
	l, err := net.Listen("tcp", addr)
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, startErr(ExitPortInUse, "--metrics %s: already in use", addr)
	}
	if err != nil {
		return nil, fmt.Errorf("--metrics %s: %w", addr, err)
	}
	return l, nil
}

// serveMetrics serves /metrics on l until close.
func serveMetrics(l net.Listener, d *device) *metricsServer {
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		_, _ = w.Write(d.metricsText())
	})
	m := &metricsServer{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}, l: l}
	go func() { _ = m.srv.Serve(l) }()
	return m
}

func (m *metricsServer) close() { _ = m.srv.Close() }

// metricsText renders every metric; label values are base64 keys, reason
// names and interface names, none of which need escaping beyond quotes.
func (d *device) metricsText() []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	var b bytes.Buffer
	help := func(name, typ, text string) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", name, text, name, typ)
	}
	help("wgbpfd_peer_receive_bytes_total", "counter", "Bytes received from the peer (data plane and daemon).")
	help("wgbpfd_peer_transmit_bytes_total", "counter", "Bytes sent to the peer (data plane and daemon).")
	help("wgbpfd_peer_last_handshake_seconds", "gauge", "Unix time of the last completed handshake (0: never).")
	help("wgbpfd_peer_endpoint_changes_total", "counter", "Times the peer's endpoint changed (roaming, configuration).")
	keys := make([]string, 0, len(d.peers))
	byKey := make(map[string]*peer)
	for k, p := range d.peers {
		keys = append(keys, k.String())
		byKey[k.String()] = p
	}
	sort.Strings(keys)
	for _, k := range keys {
		p := byKey[k]
		tx, rx := d.peerBytesLocked(p)
		lbl := fmt.Sprintf(`{interface=%q,peer=%q}`, d.name, k)
		fmt.Fprintf(&b, "wgbpfd_peer_receive_bytes_total%s %d\n", lbl, rx)
		fmt.Fprintf(&b, "wgbpfd_peer_transmit_bytes_total%s %d\n", lbl, tx)
		var last int64
		if !p.lastHandshake.IsZero() {
			last = p.lastHandshake.Unix()
		}
		fmt.Fprintf(&b, "wgbpfd_peer_last_handshake_seconds%s %d\n", lbl, last)
		fmt.Fprintf(&b, "wgbpfd_peer_endpoint_changes_total%s %d\n", lbl, p.endpointChanges)
	}
	help("wgbpfd_dataplane_drops_total", "counter", "Packets the data plane dropped, by reason.")
	if drops, err := d.k.Drops(); err == nil {
		writeSorted(&b, "wgbpfd_dataplane_drops_total", d.name, "reason", drops)
	}
	help("wgbpfd_queue_drops_total", "counter", "Packets the kernel dropped entering a queue between the data plane's programs (encrypt, decrypt, deliver): a full backlog, which is congestion (TCP backs off as at a full router queue), or a link that is down.")
	if drops, err := d.k.QueueDrops(); err == nil {
		writeSorted(&b, "wgbpfd_queue_drops_total", d.name, "queue", drops)
	}
	help("wgbpfd_policy_info", "gauge", "The policy object in use, one series per hook it has (none: no policy).")
	for _, h := range d.policy.Hooks {
		fmt.Fprintf(&b, "wgbpfd_policy_info{interface=%q,hook=%q,file=%q,sha256=%q} 1\n", d.name, h, d.policy.File, d.policy.Digest)
	}
	help("wgbpfd_chacha20poly1305_backend", "gauge", "1 for what computes the chacha20poly1305 suite: bpf (plain BPF) or kfunc (bpf_crypto's AEAD type).")
	fmt.Fprintf(&b, "wgbpfd_chacha20poly1305_backend{interface=%q,backend=%q} 1\n", d.name, d.k.ChaChaBackend())
	help("wgbpfd_handshakes_total", "counter", "Handshake messages handled by the daemon, by outcome.")
	writeSorted(&b, "wgbpfd_handshakes_total", d.name, "outcome", d.stats.handshakes)
	help("wgbpfd_slow_path_packets_total", "counter", "Packets handled in userspace, by outcome.")
	writeSorted(&b, "wgbpfd_slow_path_packets_total", d.name, "outcome", d.stats.slowPath)
	return b.Bytes()
}

func writeSorted(b *bytes.Buffer, metric, iface, label string, m map[string]uint64) {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(b, "%s{interface=%q,%s=%q} %d\n", metric, iface, label, n, m[n])
	}
}
