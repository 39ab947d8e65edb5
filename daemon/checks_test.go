// SPDX-License-Identifier: MIT

package daemon

import (
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/wgbpfd/wgbpfd/config"
	"github.com/wgbpfd/wgbpfd/dataplane"
)

// TestChooseMTUSentence: the "MTU chosen" log line does the arithmetic once,
// "<underlay> (<where it comes from>) - 80 overhead = <n>", then says how
// aes-cbc rounded it or the data plane capped it, and the numbers add up
// to the MTU chosen. (It used to subtract a 0 overhead first and then the
// 80: "1500 (...) - 0 overhead = 1500 - 80 overhead = 1420".) The underlay
// MTU is whatever this machine routes 192.0.2.1 through.
func TestChooseMTUSentence(t *testing.T) {
	priv, _ := config.GeneratePrivateKey()
	peer, _ := config.GeneratePrivateKey()
	re := regexp.MustCompile(`^(\d+) \([^)]*\) - 80 overhead = (\d+)` +
		`(?:, rounded down to (\d+), a multiple of 16 for aes-cbc|, capped at (\d+), the largest the data plane encrypts)?$`)
	for _, c := range []config.Cipher{config.CipherChaCha20Poly1305, config.CipherAESCBC} {
		cfg := &config.Config{
			Interface: config.Interface{PrivateKey: priv, Cipher: c},
			Peers:     []config.Peer{{PublicKey: peer.Public(), Endpoint: "192.0.2.1:51820"}},
		}
		mtu, why, err := chooseMTU(cfg)
		if err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		m := re.FindStringSubmatch(why)
		if m == nil {
			t.Fatalf("%s: MTU %d explained as %q", c, mtu, why)
		}
		num := func(s string) int { n, _ := strconv.Atoi(s); return n }
		underlay, auto, rounded, capped := num(m[1]), num(m[2]), num(m[3]), num(m[4])
		want := auto
		switch {
		case rounded != 0:
			want = rounded
		case capped != 0:
			want = capped
		}
		if auto != underlay-80 || mtu != want {
			t.Errorf("%s: MTU %d from %q", c, mtu, why)
		}
		aesRounds := c == config.CipherAESCBC && auto%16 != 0 && capped == 0
		if (rounded != 0) != aesRounds || (c == config.CipherAESCBC && mtu%16 != 0) {
			t.Errorf("%s: MTU %d from %q: aes-cbc needs (and only it gets) a multiple of 16", c, mtu, why)
		}
		t.Logf("%s: %d because %s", c, mtu, why)
	}
}

// TestReloadRefusesAESWithoutKernelSupport: a reload whose file newly needs
// aes-cbc, on a kernel that cannot create cbc(aes), is refused as a start
// would be (ExitNoCrypto, with the kernel's reason) before anything
// changes. (The running daemon here has no device: reaching the sync would
// panic.)
func TestReloadRefusesAESWithoutKernelSupport(t *testing.T) {
	probeKernel = func() (*dataplane.ProbeResult, error) {
		return &dataplane.ProbeResult{BTF: true, CBC: errors.New("cbc(aes): no such algorithm")}, nil
	}
	t.Cleanup(func() { probeKernel = dataplane.Probe })
	priv, _ := config.GeneratePrivateKey()
	peer, _ := config.GeneratePrivateKey()
	running := &running{cfg: &config.Config{
		Interface: config.Interface{PrivateKey: priv, Cipher: config.CipherChaCha20Poly1305},
		Peers:     []config.Peer{{PublicKey: peer.Public()}},
	}}
	path := filepath.Join(t.TempDir(), "wg0.conf")
	conf := fmt.Sprintf("[Interface]\nPrivateKey = %s\nCipher = aes-cbc\n\n[Peer]\nPublicKey = %s\nAllowedIPs = 10.0.0.2/32\n",
		base64.StdEncoding.EncodeToString(priv[:]), peer.Public())
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	err := running.reload(path)
	var se *StartError
	if !errors.As(err, &se) || se.Code != ExitNoCrypto || !strings.Contains(err.Error(), "cbc(aes): no such algorithm") {
		t.Fatalf("reload to aes-cbc without cbc(aes): %v", err)
	}
}

// TestReloadMTU: what a reload does to the MTU in use.
func TestReloadMTU(t *testing.T) {
	aes := &config.Config{Interface: config.Interface{Cipher: config.CipherAESCBC}}
	chacha := &config.Config{Interface: config.Interface{Cipher: config.CipherChaCha20Poly1305}}
	set := &config.Config{Interface: config.Interface{Cipher: config.CipherChaCha20Poly1305, MTU: 1380}}
	for _, c := range []struct {
		cur  int
		cfg  *config.Config
		want int
	}{
		{1420, chacha, 1420}, // no MTU = in the file: as it is
		{1420, aes, 1408},    // aes-cbc needs a multiple of 16
		{1408, aes, 1408},
		{1408, chacha, 1408}, // back to chacha: 1408 still fits
		{1420, set, 1380},    // MTU = N as written
	} {
		if got := reloadMTU(c.cur, c.cfg); got != c.want {
			t.Errorf("reloadMTU(%d, %s MTU %d) = %d, want %d", c.cur, c.cfg.Interface.Cipher, c.cfg.Interface.MTU, got, c.want)
		}
	}
}
