#!/usr/bin/env bash
# Runs the kernel's checkpatch.pl on the kernel C (the bpf_crypto aead
# module) and on the upstream patch series, and fails on any error or
# warning. checkpatch comes from Debian's linux-source-6.12; the few files it
# needs are unpacked once into a cache shared with later runs.
set -euo pipefail
cd "$(dirname "$0")/.."
cache=${WGBPFD_CHECKPATCH_CACHE:-/var/cache/wgbpfd-checkpatch}
tarball=/usr/src/linux-source-6.12.tar.xz

if [ ! -x "$cache/scripts/checkpatch.pl" ]; then
	if [ ! -f "$tarball" ]; then
		if [ "$(id -u)" -ne 0 ]; then
			echo "checkpatch: $tarball missing; run as root or install linux-source-6.12" >&2
			exit 1
		fi
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends linux-source-6.12 perl
	fi
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	tar -xJf "$tarball" -C "$tmp" --wildcards --strip-components=1 \
		'linux-source-6.12/scripts/checkpatch.pl' \
		'linux-source-6.12/scripts/spelling.txt' \
		'linux-source-6.12/scripts/const_structs.checkpatch'
	mkdir -p "$cache/scripts"
	cp "$tmp"/scripts/* "$cache/scripts/"
fi

cp=("$cache/scripts/checkpatch.pl" --no-tree --terse --show-types --max-line-length=100)
status=0
for f in kernel/bpf_crypto_aead/*.c; do
	echo "checkpatch $f"
	"${cp[@]}" --file "$f" || status=1
done
for p in kernel/upstream/*/0*.patch; do
	case "$p" in *0000-cover-letter.patch) continue ;; esac
	echo "checkpatch $p"
	# On stdin: checkpatch reads a file git tracks as source, not a patch.
	"${cp[@]}" - <"$p" || status=1
done
exit $status
