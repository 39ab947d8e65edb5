#!/bin/sh
# PID 1 of the vmtest VM (scripts/vmtest.sh packs it as /init). Runs the
# suites without and then with the bpf_crypto "aead" module, prints the go
# test lines on the console and, last, "VMTEST-RESULT pass" or "fail".
export PATH=/usr/bin:/usr/sbin:/bin:/sbin
export HOME=/root CI=true WGBPFD_TEST_BIN=/wgbpfd/bin GOTRACEBACK=all
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mount -t bpf bpf /sys/fs/bpf
mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null
. /wgbpfd/env
ip link set lo up
hostname vmtest

failed=""
fail() {
	echo "vmtest: FAILED: $*"
	failed="$failed $1"
}

for m in $(cat /mod/order); do
	insmod "$m" || fail "insmod-$(basename "$m")"
done
echo "vmtest: kernel $(uname -r), $(nproc) CPUs, $(awk '/MemTotal/ {print $2 " kB"}' /proc/meminfo)"

# run NAME DIR BINARY ARGS...: one go test binary; its lines go to the console.
run() {
	name=$1 dir=$2
	shift 2
	t0=$(date +%s)
	echo "vmtest: == $name"
	(cd "/wgbpfd/src/$dir" && "$@" -test.v -test.count=1 -test.timeout 30m) 2>&1
	rc=$?
	echo "vmtest: == $name exit $rc after $(($(date +%s) - t0))s"
	[ $rc -eq 0 ] || fail "$name"
}

# ---- 1. stock kernel: plain-BPF ChaCha20-Poly1305 ---------------------------
export WGBPFD_VMTEST_AEAD=absent
run dataplane-plain dataplane /wgbpfd/bin/dataplane.test -test.run "$DPRUN"
run namespaces-plain test /wgbpfd/bin/test.test -test.run "$NSRUN"

# ---- 2. with the module: kfunc ChaCha20-Poly1305 ----------------------------
if insmod /mod/aead.ko; then
	# Every data plane the tests and daemons load must take the kfunc
	# backend (Load fails otherwise) except where a test asks for bpf.
	export WGBPFD_VMTEST_AEAD=loaded WGBPFD_CHACHA_BACKEND=kfunc
	run dataplane-aead dataplane /wgbpfd/bin/dataplane.test -test.run "$DPRUN"
	run namespaces-aead test /wgbpfd/bin/test.test \
		-test.run '^(TestWgbpfdPair|TestInteropWireguardGo|TestRekeyUnderTraffic)$'
	unset WGBPFD_CHACHA_BACKEND
	# Every context is gone once the daemons and test programs are; the
	# module must unload (contexts are freed after an RCU grace period).
	ok=""
	for i in 1 2 3 4 5 6 7 8 9 10; do
		if rmmod bpf_crypto_aead 2>/dev/null; then
			ok=1
			break
		fi
		sleep 1
	done
	if [ -n "$ok" ]; then
		echo "vmtest: rmmod bpf_crypto_aead ok"
	else
		lsmod | grep bpf_crypto_aead
		fail rmmod-aead
	fi
else
	fail insmod-aead
fi

# ---- 3. the kernel must not have complained -----------------------------------
if dmesg | grep -E 'WARNING:|BUG:|Oops|general protection|KASAN|refcount_t'; then
	fail kernel-log
fi

if [ -z "$failed" ]; then
	echo "VMTEST-RESULT pass"
else
	echo "vmtest: failed:$failed"
	echo "VMTEST-RESULT fail"
fi
sync
poweroff -f
