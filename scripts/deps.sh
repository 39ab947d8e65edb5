#!/usr/bin/env bash
# Installs, from Debian's packages, the tools wgbpfd's build, tests and demo
# use. A fresh machine has only Go. Needs root; does nothing when all are there.
set -euo pipefail
pkgs=(clang-19 llvm-19 libbpf-dev linux-libc-dev bpftool iproute2 iperf3 wireguard-tools ethtool iputils-ping systemd make git)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing ${missing[*]}; run as root or: sudo apt-get install --no-install-recommends ${missing[*]}" >&2
	exit 1
fi
echo "deps: installing ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
