// SPDX-License-Identifier: MIT

package daemon

import (
	"testing"
	"time"

	"github.com/wgbpfd/wgbpfd/config"
	"github.com/wgbpfd/wgbpfd/handshake"
)

// TestRejectedKeypairWiped: a finished handshake's keypair that is not
// stored (superseded by a newer one, or refused by the store) leaves no
// key behind in the Keypair the handshake handed over. The old reject
// paths freed the index and kept the keys.
func TestRejectedKeypairWiped(t *testing.T) {
	tp := newTestPeerPair(t, config.CipherChaCha20Poly1305)
	_, current := tp.sessionUp(t)
	d := tp.a
	p := d.peers[tp.b.cfg.PublicKey()]

	keypair := func(idx uint32, created time.Time) *handshake.Keypair {
		kp := &handshake.Keypair{LocalIndex: idx, RemoteIndex: 7, Initiator: true, Created: created}
		for i := range kp.Send {
			kp.Send[i], kp.Receive[i] = byte(i+1), byte(i+101)
		}
		return kp
	}
	for _, c := range []struct {
		name, stat string
		kp         func() *handshake.Keypair
	}{
		{"superseded", "superseded", func() *handshake.Keypair {
			idx, err := d.hs.Indices().Allocate(tp.b.cfg.PublicKey())
			if err != nil {
				t.Fatal(err)
			}
			return keypair(idx, p.lastHandshake.Add(-time.Second))
		}},
		// The store refuses an index it already holds.
		{"refused by the store", "store_failed", func() *handshake.Keypair {
			return keypair(current, p.lastHandshake.Add(time.Second))
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			kp := c.kp()
			d.mu.Lock()
			before := d.stats.handshakes[c.stat]
			ok := d.completeLocked(p, kp, true)
			after := d.stats.handshakes[c.stat]
			d.mu.Unlock()
			if ok || after != before+1 {
				t.Fatalf("completeLocked = %t, %s %d -> %d; want a rejection counted", ok, c.stat, before, after)
			}
			if kp.Send != [32]byte{} || kp.Receive != [32]byte{} {
				t.Fatalf("rejected keypair still holds its keys: send %x", kp.Send[:8])
			}
		})
	}
}
