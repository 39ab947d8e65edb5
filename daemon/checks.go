// SPDX-License-Identifier: MIT

package daemon

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/wgbpfd/wgbpfd/config"
	"github.com/wgbpfd/wgbpfd/dataplane"
	"github.com/wgbpfd/wgbpfd/netif"
)

// probeKernel is dataplane.Probe; tests stand in a kernel without some
// feature.
var probeKernel = dataplane.Probe

// usesAES reports whether the interface or any peer uses aes-cbc.
func usesAES(cfg *config.Config) bool {
	if cfg.InterfaceCipher() == config.CipherAESCBC {
		return true
	}
	for i := range cfg.Peers {
		if cfg.PeerCipher(&cfg.Peers[i]) == config.CipherAESCBC {
			return true
		}
	}
	return false
}

// checkSuites probes the kernel and fails with ExitNoCrypto when a peer
// needs a suite the kernel cannot run (aes-cbc needs bpf_crypto with
// cbc(aes) and ecb(aes)).
func checkSuites(cfg *config.Config) error {
	needAES := usesAES(cfg)
	probe, err := probeKernel()
	if err != nil {
		return startErr(ExitKernelLoader, "probing the kernel: %w", err)
	}
	suites := probe.Suites()
	if len(suites) == 0 {
		return startErr(ExitNoBTF, "the data plane cannot run on this kernel: %s", probe.Missing())
	}
	if needAES && !slices.Contains(suites, dataplane.SuiteAESCBC) {
		return startErr(ExitNoCrypto, "Cipher = aes-cbc needs bpf_crypto with cbc(aes) and ecb(aes): %s", probe.Missing())
	}
	return nil
}

// chooseMTU returns the interface MTU: the file's, or the route MTU towards
// the endpoints minus the largest overhead of the suites in use (see
// dataplane/mtu.go), and a sentence saying why.
func chooseMTU(cfg *config.Config) (int, string, error) {
	if cfg.Interface.MTU > 0 {
		return cfg.Interface.MTU, "MTU set in the configuration", nil
	}
	var eps []netip.Addr
	for _, p := range cfg.Peers {
		if ap, err := netip.ParseAddrPort(p.Endpoint); err == nil {
			eps = append(eps, ap.Addr().Unmap())
		}
	}
	// Like wg-quick, assume the larger (IPv6) outer header: 80 bytes.
	overhead := dataplane.Overhead(true)
	auto, why, err := netif.AutoMTU(eps, overhead)
	if err != nil {
		return 0, "", fmt.Errorf("computing the MTU: %w", err)
	}
	aes := usesAES(cfg)
	suite := uint8(dataplane.SuiteChaCha20Poly1305)
	if aes {
		suite = dataplane.SuiteAESCBC
	}
	mtu := dataplane.DefaultMTU(suite, auto+overhead)
	switch {
	case mtu == auto:
	case aes && mtu == auto&^15:
		// aes-cbc pads without the MTU cap, so its MTU is a multiple of 16.
		why += fmt.Sprintf(", rounded down to %d, a multiple of 16 for aes-cbc", mtu)
	default:
		why += fmt.Sprintf(", capped at %d, the largest the data plane encrypts", mtu)
	}
	return mtu, why, nil
}
