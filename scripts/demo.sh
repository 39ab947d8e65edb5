#!/usr/bin/env bash
# make demo: two network namespaces joined by veth, a wgbpfd in each, a
# ping, a few MB through the tunnel, `wg show` and the drop counters.
# Cleans up on every exit; exits non-zero if anything failed.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="$PWD/bin/wgbpfd"
SUFFIX="$$"
NSA="wgdemo-a-$SUFFIX" NSB="wgdemo-b-$SUFFIX"
IFA="wgda$((SUFFIX % 10000))" IFB="wgdb$((SUFFIX % 10000))"
DIR="$(mktemp -d)"
PIDS=()

cleanup() {
	rc=$?
	if [ "$rc" -ne 0 ] && [ -d "$DIR" ]; then
		for f in "$DIR"/a.log "$DIR"/b.log; do [ -f "$f" ] && { echo "--- $f"; tail -40 "$f"; }; done
		echo "demo: FAILED" >&2
	fi
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	ip netns del "$NSA" 2>/dev/null || true
	ip netns del "$NSB" 2>/dev/null || true
	rm -rf "$DIR"
}
trap cleanup EXIT

[ "$(id -u)" -eq 0 ] || { echo "demo: needs root (network namespaces, BPF)" >&2; exit 1; }

echo "== two namespaces joined by veth: $NSA (192.0.2.1) and $NSB (192.0.2.2)"
ip netns add "$NSA"; ip netns add "$NSB"
ip link add veth-a netns "$NSA" type veth peer name veth-b netns "$NSB"
ip -n "$NSA" addr add 192.0.2.1/24 dev veth-a; ip -n "$NSA" link set veth-a up; ip -n "$NSA" link set lo up
ip -n "$NSB" addr add 192.0.2.2/24 dev veth-b; ip -n "$NSB" link set veth-b up; ip -n "$NSB" link set lo up

KA="$("$BIN" genkey)"; KB="$("$BIN" genkey)"
PA="$(echo "$KA" | "$BIN" pubkey)"; PB="$(echo "$KB" | "$BIN" pubkey)"
cat > "$DIR/$IFA.conf" <<CONF
[Interface]
PrivateKey = $KA
ListenPort = 51820
Address = 10.99.0.1/24

[Peer]
PublicKey = $PB
AllowedIPs = 10.99.0.2/32
Endpoint = 192.0.2.2:51820
CONF
cat > "$DIR/$IFB.conf" <<CONF
[Interface]
PrivateKey = $KB
ListenPort = 51820
Address = 10.99.0.2/24

[Peer]
PublicKey = $PA
AllowedIPs = 10.99.0.1/32
Endpoint = 192.0.2.1:51820
CONF

echo "== starting wgbpfd in each namespace"
ip netns exec "$NSA" "$BIN" -c "$DIR/$IFA.conf" --metrics 127.0.0.1:9586 >"$DIR/a.log" 2>&1 & PIDS+=($!)
ip netns exec "$NSB" "$BIN" -c "$DIR/$IFB.conf" >"$DIR/b.log" 2>&1 & PIDS+=($!)
for i in $(seq 50); do
	[ -S "/var/run/wireguard/$IFA.sock" ] && [ -S "/var/run/wireguard/$IFB.sock" ] && break
	sleep 0.1
done
[ -S "/var/run/wireguard/$IFA.sock" ] || { cat "$DIR/a.log"; echo "demo: daemon A did not come up" >&2; exit 1; }
[ -S "/var/run/wireguard/$IFB.sock" ] || { cat "$DIR/b.log"; echo "demo: daemon B did not come up" >&2; exit 1; }

echo "== ping through the tunnel"
ip netns exec "$NSA" ping -c 5 -i 0.2 -W 2 10.99.0.2

echo "== 8 MB over TCP through the tunnel (iperf3)"
ip netns exec "$NSB" iperf3 -s -1 -B 10.99.0.2 >/dev/null 2>&1 & PIDS+=($!)
sleep 0.5
ip netns exec "$NSA" iperf3 -c 10.99.0.2 -n 8M | tail -4

echo "== wg show (from inside $NSA)"
ip netns exec "$NSA" wg show "$IFA"

echo "== data plane drop counters and handshakes (Prometheus metrics of $IFA)"
ip netns exec "$NSA" bash -c 'exec 3<>/dev/tcp/127.0.0.1/9586; printf "GET /metrics HTTP/1.0\r\n\r\n" >&3; cat <&3' \
	| grep -E '^wgbpfd_(dataplane_drops|handshakes)_total' || echo "(no drops, as expected)"
echo "== demo passed"
