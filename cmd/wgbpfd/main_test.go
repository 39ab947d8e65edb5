package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// TestKeyCommands: genkey, genpsk and pubkey as in wg(8), and a stray
// argument after one of them is refused (exit 2) instead of ignored.
func TestKeyCommands(t *testing.T) {
	var priv, pub, psk bytes.Buffer
	if err := run([]string{"genkey"}, nil, &priv, nil); err != nil || priv.Len() != 45 {
		t.Fatalf("genkey: %q, %v", priv.String(), err)
	}
	if err := run([]string{"pubkey"}, strings.NewReader(priv.String()), &pub, nil); err != nil || pub.Len() != 45 || pub.String() == priv.String() {
		t.Fatalf("pubkey: %q, %v", pub.String(), err)
	}
	if err := run([]string{"genpsk"}, nil, &psk, nil); err != nil || psk.Len() != 45 {
		t.Fatalf("genpsk: %q, %v", psk.String(), err)
	}
	for _, cmd := range []string{"genkey", "genpsk", "pubkey"} {
		var out bytes.Buffer
		err := run([]string{cmd, "extra"}, strings.NewReader(priv.String()), &out, nil)
		var ee *exitError
		if !errors.As(err, &ee) || ee.code != 2 || !strings.Contains(err.Error(), `takes no arguments, got "extra"`) || out.Len() != 0 {
			t.Errorf("%s extra: %v, printed %q; want exit 2 and nothing printed", cmd, err, out.String())
		}
	}
}
