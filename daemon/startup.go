// SPDX-License-Identifier: MIT

package daemon

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"

	"golang.org/x/sys/unix"
)

// Exit codes of start-up failures, so that scripts and systemd can tell the
// classes apart. 1 is any other error, 2 bad usage.
const (
	ExitConfig       = 2 // the configuration file is missing or invalid
	ExitPrivilege    = 3 // not root / missing capabilities
	ExitNoBTF        = 4 // the kernel has no BTF
	ExitNoCrypto     = 5 // bpf_crypto or cbc(aes) missing while a peer needs aes-cbc
	ExitInterface    = 6 // the interface already exists
	ExitPortInUse    = 7 // ListenPort (or the --metrics port) is taken
	ExitKernelLoader = 8 // the BPF object did not load
	// ExitHandedOver: SIGUSR2 made the daemon exit leaving the interface
	// and data plane running for a successor (EX_TEMPFAIL; the systemd
	// unit restarts on it).
	ExitHandedOver = 75
)

// ErrHandedOver is Run's result after a hand-over (SIGUSR2).
var ErrHandedOver = &StartError{Code: ExitHandedOver, Err: errors.New("exited for a successor; the interface and data plane stay running")}

// StartError is a start-up failure with the exit code of its class.
type StartError struct {
	Code int
	Err  error
}

func (e *StartError) Error() string { return e.Err.Error() }
func (e *StartError) Unwrap() error { return e.Err }

// ExitCode is the process exit code for this failure.
func (e *StartError) ExitCode() int { return e.Code }

func startErr(code int, format string, args ...any) error {
	return &StartError{Code: code, Err: fmt.Errorf(format, args...)}
}

// Linux interface names: 1-15 bytes, no '/', no whitespace, not "." or "..".
// wg-quick is stricter still; follow it so names work with wg(8) too.
var ifnameRE = regexp.MustCompile(`^[a-zA-Z0-9_=+.-]{1,15}$`)

// ValidInterfaceName reports whether name can be a wgbpfd interface.
func ValidInterfaceName(name string) error {
	if !ifnameRE.MatchString(name) || name == "." || name == ".." {
		return fmt.Errorf("interface name %q: want 1-15 characters of [a-zA-Z0-9_=+.-]", name)
	}
	return nil
}

// capabilities the daemon needs: BPF programs and maps, netlink and tc,
// bpf_crypto contexts (CAP_SYS_ADMIN for sleepable syscall programs), ringbuf.
var neededCaps = []struct {
	bit  uint
	name string
}{
	{unix.CAP_NET_ADMIN, "CAP_NET_ADMIN"},
	{unix.CAP_BPF, "CAP_BPF"},
	{unix.CAP_PERFMON, "CAP_PERFMON"},
	{unix.CAP_SYS_ADMIN, "CAP_SYS_ADMIN"},
}

// checkPrivileges fails with ExitPrivilege naming the missing capabilities.
func checkPrivileges() error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return startErr(ExitPrivilege, "reading capabilities: %w", err)
	}
	var missing []string
	for _, c := range neededCaps {
		if data[c.bit/32].Effective&(1<<(c.bit%32)) == 0 {
			missing = append(missing, c.name)
		}
	}
	if len(missing) > 0 {
		who := "this process"
		if os.Geteuid() != 0 {
			who = "a non-root user"
		}
		return startErr(ExitPrivilege, "wgbpfd needs root or the capabilities %s; %s lacks them", strings.Join(missing, ", "), who)
	}
	return nil
}

// checkBTF fails with ExitNoBTF when the kernel exposes no BTF, which the BPF
// object's kfunc calls and kptrs require.
func checkBTF() error {
	if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err != nil {
		return startErr(ExitNoBTF, "kernel BTF missing (/sys/kernel/btf/vmlinux: %v); wgbpfd needs CONFIG_DEBUG_INFO_BTF=y", errors.Unwrap(err))
	}
	return nil
}
