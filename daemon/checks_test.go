package daemon

import (
	"regexp"
	"strconv"
	"testing"

	"github.com/wgbpfd/wgbpfd/config"
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
