// SPDX-License-Identifier: MIT

package dataplane

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// spreadHop turns on RPS over every online CPU on both ends of the hop:
// on hop1, so that encryption runs on the CPU the inner flow's hash picks
// (flows in parallel, instead of everything on the sending CPU, which a
// veth pair would otherwise keep it on); on hop0, so that decryption can be
// handed to another CPU (wg_rx_handoff in bpf/lib/ingress.h). Returns the
// number of CPUs in the maps. The hop is ours and goes away on detach, so
// nothing is undone. rps_cpus lives in sysfs, which shows the network
// namespace it was mounted in: a throwaway thread enters ours, takes a
// private mount namespace and mounts its own sysfs there (without
// CAP_SYS_ADMIN it tries the /sys it has, if that shows our hop).
func (a *attachment) spreadHop() (int, error) {
	type res struct {
		n   int
		err error
	}
	rc := make(chan res, 1)
	go func() {
		// Locked and never unlocked: the thread dies with the goroutine,
		// its namespaces with it.
		runtime.LockOSThread()
		n, err := a.spreadHopLocked()
		rc <- res{n, err}
	}()
	r := <-rc
	if r.err != nil {
		return 0, fmt.Errorf("attach: RPS on the hop (encryption and decryption stay on one CPU per packet path): %w", r.err)
	}
	return r.n, nil
}

func (a *attachment) spreadHopLocked() (int, error) {
	if err := netns.Set(a.ns); err != nil {
		return 0, err
	}
	sys := "/sys"
	if err := unix.Unshare(unix.CLONE_NEWNS); err == nil {
		if err := unix.Mount("", "/", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
			return 0, fmt.Errorf("mount namespace: %w", err)
		}
		// EBUSY: /sys is already this namespace's sysfs (ip netns exec
		// mounts one); the ifindex check below tells.
		if err := unix.Mount("sysfs", "/sys", "sysfs", unix.MS_NOSUID|unix.MS_NOEXEC|unix.MS_NODEV, ""); err != nil && err != unix.EBUSY {
			return 0, fmt.Errorf("mounting sysfs: %w", err)
		}
	}
	cpus, err := onlineCPUs(sys)
	if err != nil {
		return 0, err
	}
	mask := cpuMask(cpus)
	for _, x := range []struct {
		name string
		idx  int
	}{{a.hop0, a.hop0Idx}, {a.hop1, a.hop1Idx}} {
		dir := filepath.Join(sys, "class/net", x.name)
		b, err := os.ReadFile(filepath.Join(dir, "ifindex"))
		if err != nil {
			return 0, err
		}
		if strings.TrimSpace(string(b)) != strconv.Itoa(x.idx) {
			return 0, fmt.Errorf("%s in sysfs is not ours (another network namespace)", x.name)
		}
		if err := os.WriteFile(filepath.Join(dir, "queues/rx-0/rps_cpus"), []byte(mask), 0); err != nil {
			return 0, err
		}
	}
	return len(cpus), nil
}

// onlineCPUs parses <sys>/devices/system/cpu/online ("0-3,8").
func onlineCPUs(sys string) ([]int, error) {
	b, err := os.ReadFile(filepath.Join(sys, "devices/system/cpu/online"))
	if err != nil {
		return nil, err
	}
	var cpus []int
	for _, r := range strings.Split(strings.TrimSpace(string(b)), ",") {
		lo, hi, ok := strings.Cut(r, "-")
		l, err := strconv.Atoi(lo)
		if err != nil {
			return nil, fmt.Errorf("cpu list %q: %w", b, err)
		}
		h := l
		if ok {
			if h, err = strconv.Atoi(hi); err != nil {
				return nil, fmt.Errorf("cpu list %q: %w", b, err)
			}
		}
		for c := l; c <= h; c++ {
			cpus = append(cpus, c)
		}
	}
	return cpus, nil
}

// cpuMask formats cpus as sysfs wants a cpumask: 32-bit hex words, most
// significant first, separated by commas.
func cpuMask(cpus []int) string {
	words := make([]uint32, 1)
	for _, c := range cpus {
		for len(words) <= c/32 {
			words = append(words, 0)
		}
		words[c/32] |= 1 << (c % 32)
	}
	parts := make([]string, len(words))
	for i, w := range words {
		parts[len(words)-1-i] = fmt.Sprintf("%08x", w)
	}
	return strings.Join(parts, ",")
}
