// SPDX-License-Identifier: MIT

package test

import (
	"errors"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wgbpfd/wgbpfd/netif"
)

// runWgbpfdExit runs cmd to completion (bounded) and returns its output
// and exit code.
func runWgbpfdExit(t *testing.T, cmd *exec.Cmd) (string, int) {
	t.Helper()
	out, err := runBounded(t, cmd, 30*time.Second)
	if err == nil {
		return out, 0
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return out, ee.ExitCode()
	}
	t.Fatalf("%v: %v", cmd.Args, err)
	return out, -1
}

// TestStartupErrors: start-up failures through the binary give the exit
// code of their class and a message that locates the problem.
func TestStartupErrors(t *testing.T) {
	prerequisites(t)
	bin := filepath.Join(binaries(t), "wgbpfd")

	t.Run("bad-line", func(t *testing.T) {
		tp := newTopology(t, false, false)
		conf := filepath.Join(tp.dir, "bad.conf")
		writeFile(t, conf, "[Interface]\nPrivateKey = "+secret(tp.keyA)+"\nListenPort = fifty\n")
		out, code := runWgbpfdExit(t, tp.a.Command(bin, "-c", conf, "-i", tp.ifA))
		if code != 2 || !strings.Contains(out, conf+":3:") || !strings.Contains(out, "ListenPort") {
			t.Errorf("exit code %d, want 2 with %s:3 and ListenPort in the message:\n%s", code, conf, out)
		}
		if strings.Contains(out, secret(tp.keyA)) {
			t.Errorf("the message shows the private key:\n%s", out)
		}
	})

	t.Run("same-interface-twice", func(t *testing.T) {
		tp, _, _ := startPair(t, pairCase{cipher: "chacha20poly1305"})
		ping(t, tp.a, tp.innerB, 1)
		// A second instance for the same interface, from another file with
		// another port.
		conf2 := tp.writeConf(t, "second", tp.keyA, 51821, "10.77.1.1", tp.keyB.Public(), "10.77.1.2/32", endpoint(tp.underB, 51820), "")
		out, code := runWgbpfdExit(t, tp.a.Command(bin, "-c", conf2, "-i", tp.ifA))
		if code != 6 || !strings.Contains(out, tp.ifA) || !(strings.Contains(out, "already exists") || strings.Contains(out, "in use")) {
			t.Errorf("exit code %d, want 6 and a message that %s exists or is in use:\n%s", code, tp.ifA, out)
		}
		// The same name in another namespace: the control socket
		// (/var/run/wireguard/NAME.sock) is shared, so this fails too.
		conf3 := tp.writeConf(t, "third", tp.keyB, 51821, "10.77.1.2", tp.keyA.Public(), "10.77.1.1/32", endpoint(tp.underA, 51820), "")
		out, code = runWgbpfdExit(t, tp.b.Command(bin, "-c", conf3, "-i", tp.ifA))
		if code != 6 || !strings.Contains(out, tp.ifA) {
			t.Errorf("same name in another namespace: exit code %d, want 6 naming %s:\n%s", code, tp.ifA, out)
		}
		if links := tp.b.MustRun(t, "ip", "-o", "link", "show"); strings.Contains(links, tp.ifA) {
			t.Errorf("the failed start in the other namespace left links:\n%s", links)
		}
		// Both failures left the running instance whole.
		ping(t, tp.a, tp.innerB, 3)
		if out := tp.a.MustRun(t, "wg", "show", tp.ifA); !strings.Contains(out, "latest handshake") {
			t.Errorf("wg show %s after the failed starts:\n%s", tp.ifA, out)
		}
		// The failed start took nothing from the running one.
		if links := tp.a.MustRun(t, "ip", "-o", "link", "show"); strings.Count(links, netif.HopNames(tp.ifA)[0]+"@") != 1 {
			t.Errorf("the running instance's hop is gone or doubled:\n%s", links)
		}
	})

	t.Run("port-in-use", func(t *testing.T) {
		tp := newTopology(t, false, false)
		var c net.PacketConn
		tp.a.MustDo(t, func() (err error) {
			c, err = net.ListenPacket("udp4", "0.0.0.0:51820")
			return err
		})
		defer c.Close()
		conf := tp.writeConf(t, tp.ifA, tp.keyA, 51820, tp.innerA, tp.keyB.Public(), tp.innerB+"/32", endpoint(tp.underB, 51820), "")
		out, code := runWgbpfdExit(t, tp.a.Command(bin, "-c", conf, "-i", tp.ifA))
		if code != 7 || !strings.Contains(out, "51820") {
			t.Errorf("exit code %d, want 7 naming port 51820:\n%s", code, out)
		}
		// Torn down: no interface, no hop, no control socket left.
		if links := tp.a.MustRun(t, "ip", "-o", "link", "show"); strings.Contains(links, tp.ifA) {
			t.Errorf("links left after the failed start:\n%s", links)
		}

		// A taken metrics port is the same class of failure, found before
		// anything is brought up (no MTU chosen, no interface made).
		c.Close()
		var l net.Listener
		tp.a.MustDo(t, func() (err error) {
			l, err = net.Listen("tcp4", "127.0.0.1:9586")
			return err
		})
		defer l.Close()
		out, code = runWgbpfdExit(t, tp.a.Command(bin, "-c", conf, "-i", tp.ifA, "--metrics", "127.0.0.1:9586"))
		if code != 7 || !strings.Contains(out, "--metrics 127.0.0.1:9586: already in use") || strings.Contains(out, "MTU chosen") {
			t.Errorf("metrics port taken: exit code %d, want 7 naming --metrics before any bring-up:\n%s", code, out)
		}
		if links := tp.a.MustRun(t, "ip", "-o", "link", "show"); strings.Contains(links, tp.ifA) {
			t.Errorf("links left after the failed start:\n%s", links)
		}
	})

	t.Run("genkey-pubkey", func(t *testing.T) {
		genkey := exec.Command(bin, "genkey")
		priv, err := genkey.Output()
		if err != nil {
			t.Fatalf("wgbpfd genkey: %v", err)
		}
		pub := exec.Command(bin, "pubkey")
		pub.Stdin = strings.NewReader(string(priv))
		ours, err := pub.Output()
		if err != nil {
			t.Fatalf("wgbpfd pubkey: %v", err)
		}
		wg := exec.Command("wg", "pubkey")
		wg.Stdin = strings.NewReader(string(priv))
		theirs, err := wg.Output()
		if err != nil {
			t.Fatalf("wg pubkey rejects wgbpfd's key: %v", err)
		}
		if len(strings.TrimSpace(string(ours))) != 44 || string(ours) != string(theirs) {
			t.Errorf("wgbpfd pubkey %q, wg pubkey %q", ours, theirs)
		}
		// And the other way: a key from wg genkey.
		wgPriv, err := exec.Command("wg", "genkey").Output()
		if err != nil {
			t.Fatal(err)
		}
		pub = exec.Command(bin, "pubkey")
		pub.Stdin = strings.NewReader(string(wgPriv))
		ours, err = pub.Output()
		if err != nil {
			t.Fatalf("wgbpfd pubkey on wg's key: %v", err)
		}
		wg = exec.Command("wg", "pubkey")
		wg.Stdin = strings.NewReader(string(wgPriv))
		if theirs, err = wg.Output(); err != nil || string(ours) != string(theirs) {
			t.Errorf("wgbpfd pubkey %q, wg pubkey %q (%v)", ours, theirs, err)
		}
	})
}
