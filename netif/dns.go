// SPDX-License-Identifier: MIT

package netif

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strings"
)

// DNS is the DNS= setting: servers, and search domains (wg-quick puts every
// DNS= value that is not an IP address into the search list).
type DNS struct {
	Servers []netip.Addr
	Search  []string
}

// Empty reports whether there is nothing to configure.
func (d DNS) Empty() bool { return len(d.Servers) == 0 && len(d.Search) == 0 }

// Command is one external command with optional standard input.
type Command struct {
	Args  []string
	Stdin string
}

func (c Command) String() string { return strings.Join(c.Args, " ") }

// DNSPlan is how DNS will be set and unset on this host. When no supported
// resolver manager is present, Set is empty and Warning says why: a VPN that
// comes up without its DNS is still useful, so this is for the log, not an
// error.
type DNSPlan struct {
	Set     []Command
	Unset   []Command
	Warning string
}

// dnsEnv is what the plan depends on, so tests can describe a host without
// touching its resolver.
type dnsEnv struct {
	lookPath        func(string) (string, error)
	resolvedRunning func() bool
	interfaceOrder  string // resolvconf's interface-order file
}

// resolvedSockets exist only while systemd-resolved runs (/run is a tmpfs):
// the varlink socket since systemd 246, the stub file on every version.
var resolvedSockets = []string{"/run/systemd/resolve/io.systemd.Resolve", "/run/systemd/resolve/stub-resolv.conf"}

func hostDNSEnv() dnsEnv {
	return dnsEnv{
		lookPath: exec.LookPath,
		resolvedRunning: func() bool {
			for _, p := range resolvedSockets {
				if _, err := os.Stat(p); err == nil {
					return true
				}
			}
			return false
		},
		interfaceOrder: "/etc/resolvconf/interface-order",
	}
}

// PlanDNS decides how to apply d for iface on this host:
//
//   - systemd-resolved running and resolvectl present: per-link servers and
//     domains, with the routing domain "~." so that all names resolve
//     through the tunnel — what wg-quick's `resolvconf -x` means under
//     systemd's resolvconf; undone with `resolvectl revert`.
//   - else resolvconf present: wg-quick's exact call, a resolv.conf fragment
//     on stdin to `resolvconf -a IFACE -m 0 -x`, undone with
//     `resolvconf -d IFACE -f`.
//   - else a warning.
func PlanDNS(iface string, d DNS) DNSPlan {
	return planDNS(iface, d, hostDNSEnv())
}

func planDNS(iface string, d DNS, env dnsEnv) DNSPlan {
	if d.Empty() {
		return DNSPlan{}
	}
	if rc, err := env.lookPath("resolvectl"); err == nil && env.resolvedRunning() {
		set := []Command{}
		if len(d.Servers) > 0 {
			args := []string{rc, "dns", iface}
			for _, s := range d.Servers {
				args = append(args, s.String())
			}
			set = append(set, Command{Args: args})
		}
		set = append(set, Command{Args: append([]string{rc, "domain", iface, "~."}, d.Search...)})
		return DNSPlan{Set: set, Unset: []Command{{Args: []string{rc, "revert", iface}}}}
	}
	if rc, err := env.lookPath("resolvconf"); err == nil {
		name := resolvconfPrefix(env.interfaceOrder) + iface
		var b strings.Builder
		for _, s := range d.Servers {
			fmt.Fprintf(&b, "nameserver %s\n", s)
		}
		if len(d.Search) > 0 {
			fmt.Fprintf(&b, "search %s\n", strings.Join(d.Search, " "))
		}
		return DNSPlan{
			Set:   []Command{{Args: []string{rc, "-a", name, "-m", "0", "-x"}, Stdin: b.String()}},
			Unset: []Command{{Args: []string{rc, "-d", name, "-f"}}},
		}
	}
	return DNSPlan{Warning: fmt.Sprintf("DNS for %s not configured: neither systemd-resolved (resolvectl) nor resolvconf is available; servers %v, search %v ignored", iface, d.Servers, d.Search)}
}

// staleDNSCommand is what removes DNS a crashed instance left behind: with
// systemd-resolved nothing (per-link settings die with the link), with
// resolvconf the record for iface, which otherwise stays in resolv.conf.
func staleDNSCommand(iface string, env dnsEnv) (Command, bool) {
	if _, err := env.lookPath("resolvectl"); err == nil && env.resolvedRunning() {
		return Command{}, false
	}
	rc, err := env.lookPath("resolvconf")
	if err != nil {
		return Command{}, false
	}
	return Command{Args: []string{rc, "-d", resolvconfPrefix(env.interfaceOrder) + iface, "-f"}}, true
}

// orderPattern is a wildcard entry in Debian resolvconf's interface-order,
// such as "wg*" or "tun*".
var orderPattern = regexp.MustCompile(`^([A-Za-z0-9-]+)\*$`)

// resolvconfPrefix mirrors wg-quick: with Debian's resolvconf, records are
// ordered by interface-order, and naming ours "<first wildcard prefix>.IFACE"
// (e.g. "tun.wg0") files it under that wildcard so it takes precedence.
// Without the file (openresolv) there is no prefix.
func resolvconfPrefix(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := orderPattern.FindStringSubmatch(strings.TrimSpace(sc.Text())); m != nil {
			return m[1] + "."
		}
	}
	return ""
}

// runCommand runs c and returns an error naming the command, its exit status
// and what it wrote to stderr.
func runCommand(c Command) error {
	if len(c.Args) == 0 {
		return errors.New("empty command")
	}
	cmd := exec.Command(c.Args[0], c.Args[1:]...)
	if c.Stdin != "" {
		cmd.Stdin = strings.NewReader(c.Stdin)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			return fmt.Errorf("%q: %w: %s", c.String(), err, msg)
		}
		return fmt.Errorf("%q: %w", c.String(), err)
	}
	return nil
}

// runCommands runs every command, even after a failure (it is used to
// undo), and returns all errors joined.
func runCommands(cmds []Command) error {
	var errs []error
	for _, c := range cmds {
		if err := runCommand(c); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// SetDNS applies d for the interface (see PlanDNS) and records how to undo
// it. The returned warning, if any, is for the log; it is not a failure.
func (s *State) SetDNS(d DNS) (warning string, err error) {
	return s.setDNS(PlanDNS(s.name, d))
}

func (s *State) setDNS(plan DNSPlan) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.link(); err != nil {
		return "", err
	}
	if len(plan.Set) == 0 {
		return plan.Warning, nil
	}
	// Record the undo first: after a partial apply it is still right to
	// revert (both undo commands are harmless when nothing was set).
	s.dnsUndo = append(s.dnsUndo, plan.Unset...)
	for _, c := range plan.Set {
		if err := runCommand(c); err != nil {
			return plan.Warning, fmt.Errorf("set DNS for %s: %w", s.name, err)
		}
	}
	return plan.Warning, nil
}
