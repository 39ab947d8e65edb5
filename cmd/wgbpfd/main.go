// SPDX-License-Identifier: MIT

// Command wgbpfd is a WireGuard-compatible VPN daemon whose data plane runs
// in eBPF.
//
//	wgbpfd -c /etc/wireguard/wg0.conf [-i wg0] [--log-level info] [--metrics 127.0.0.1:9586]
//	wgbpfd genkey
//	wgbpfd pubkey < private.key
//	wgbpfd leftovers
//	wgbpfd cleanup IFACE
//	wgbpfd --version
package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/wgbpfd/wgbpfd/config"
	"github.com/wgbpfd/wgbpfd/daemon"
)

// version is set at build time with -ldflags "-X main.version=..." (make
// build sets `git describe`); without it, buildVersion falls back on what
// the Go toolchain recorded.
var version = ""

// buildVersion is the version to report: the one set at link time, else
// the module version `go install ...@v1.2.3` records, else the commit a
// build from a git checkout records, else "dev".
func buildVersion(linked string, bi *debug.BuildInfo) string {
	if linked != "" {
		return linked
	}
	if bi == nil {
		return "dev"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, dirty string
	for _, s := range bi.Settings {
		switch {
		case s.Key == "vcs.revision":
			rev = s.Value
		case s.Key == "vcs.modified" && s.Value == "true":
			dirty = "-dirty"
		}
	}
	if len(rev) >= 12 {
		return "dev-" + rev[:12] + dirty
	}
	return "dev"
}

// exitError carries a process exit code chosen for a class of start-up
// failure, so that scripts and systemd can tell them apart.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, daemon.ErrHandedOver) {
			fmt.Fprintf(os.Stderr, "wgbpfd: %v\n", err)
		}
		code := 1
		var ee *exitError
		if errors.As(err, &ee) {
			code = ee.code
		}
		var de *daemon.StartError
		if errors.As(err, &de) {
			code = de.ExitCode()
		}
		os.Exit(code)
	}
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "genkey", "genpsk", "pubkey":
			if len(args) > 1 {
				return &exitError{code: 2, err: fmt.Errorf("%s takes no arguments, got %q", args[0], args[1])}
			}
		}
		switch args[0] {
		case "genkey":
			return genkey(stdout)
		case "genpsk":
			return genpsk(stdout)
		case "pubkey":
			return pubkey(stdin, stdout)
		case "leftovers":
			if len(args) > 1 {
				return &exitError{code: 2, err: fmt.Errorf("leftovers takes no arguments, got %q", args[1])}
			}
			return daemon.WriteLeftovers(stdout)
		case "cleanup":
			if len(args) != 2 {
				return &exitError{code: 2, err: errors.New("usage: wgbpfd cleanup IFACE")}
			}
			return daemon.Cleanup(args[1], slog.New(slog.NewTextHandler(stderr, nil)))
		}
	}

	fs := flag.NewFlagSet("wgbpfd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("c", "", "wg-quick configuration `file` (required)")
	ifname := fs.String("i", "", "interface `name` (default: the config file name without .conf)")
	logLevel := fs.String("log-level", "info", "log `level`: debug, info, warn, error")
	metrics := fs.String("metrics", "", "serve Prometheus metrics on `addr` (e.g. 127.0.0.1:9586)")
	showVersion := fs.Bool("version", false, "print the version and exit")
	testRekeyAfter := fs.Duration("test-rekey-after", 0, "test builds only: REKEY_AFTER_TIME override (refused by production builds)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: wgbpfd -c FILE [-i NAME] [--log-level LEVEL] [--metrics ADDR]\n       wgbpfd genkey | genpsk | pubkey\n       wgbpfd leftovers | cleanup IFACE\n\nSIGHUP reloads the file; SIGTERM stops and removes the interface; SIGUSR2\nexits leaving the interface and data plane running for a successor.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return &exitError{code: 2, err: err}
	}
	bi, _ := debug.ReadBuildInfo()
	ver := buildVersion(version, bi)
	if *showVersion {
		fmt.Fprintf(stdout, "wgbpfd %s\n", ver)
		return nil
	}
	if fs.NArg() > 0 {
		return &exitError{code: 2, err: fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	if *configPath == "" {
		fs.Usage()
		return &exitError{code: 2, err: errors.New("-c FILE is required")}
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return &exitError{code: 2, err: fmt.Errorf("--log-level %q: want debug, info, warn or error", *logLevel)}
	}
	name := *ifname
	if name == "" {
		name = strings.TrimSuffix(filepath.Base(*configPath), ".conf")
		if err := daemon.ValidInterfaceName(name); err != nil {
			return &exitError{code: 2, err: fmt.Errorf("%w, from the file name %s (name one with -i)", err, filepath.Base(*configPath))}
		}
	} else if err := daemon.ValidInterfaceName(name); err != nil {
		return &exitError{code: 2, err: fmt.Errorf("-i: %w", err)}
	}
	if *metrics != "" {
		if err := checkListenAddr(*metrics); err != nil {
			return &exitError{code: 2, err: fmt.Errorf("--metrics %q: %w", *metrics, err)}
		}
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	usr2 := make(chan os.Signal, 1)
	signal.Notify(usr2, syscall.SIGUSR2)
	defer signal.Stop(usr2)

	return daemon.Run(ctx, daemon.Options{
		ConfigPath:  *configPath,
		Interface:   name,
		Logger:      logger,
		MetricsAddr: *metrics,
		Reload:      hup,
		Handoff:     usr2,
		Version:     ver,

		TestRekeyAfter: *testRekeyAfter,
	})
}

// checkListenAddr refuses a metrics address that is not host:port with a
// port of 1-65535 (or a service name), so that the mistake stops the daemon
// before it brings anything up. Port 0, which net.Listen takes as "any",
// is refused too: nobody could scrape it. Whether the host is this
// machine's is left to the listen.
func checkListenAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("want host:port, e.g. 127.0.0.1:9586 or [::1]:9586 (%w)", err)
	}
	n, err := net.LookupPort("tcp", port)
	if err != nil {
		return fmt.Errorf("port %q: want 1-65535", port)
	}
	if n == 0 {
		return errors.New("port 0: want 1-65535 (a metrics endpoint needs a known port)")
	}
	return nil
}

func genkey(w io.Writer) error {
	k, err := config.GeneratePrivateKey()
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, encodeSecret(k[:]))
	return err
}

func genpsk(w io.Writer) error {
	k, err := config.GeneratePresharedKey()
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, encodeSecret(k[:]))
	return err
}

func pubkey(r io.Reader, w io.Writer) error {
	line, err := bufio.NewReader(io.LimitReader(r, 1024)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("reading private key from standard input: %w", err)
	}
	k, err := config.ParsePrivateKey(strings.TrimSpace(line))
	if err != nil {
		return &exitError{code: 1, err: errors.New("standard input is not a base64 private key")}
	}
	_, err = fmt.Fprintln(w, k.Public().String())
	return err
}

// encodeSecret prints a secret key for genkey/genpsk, the only places where
// a secret is meant to be shown.
func encodeSecret(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
