// SPDX-License-Identifier: MIT

package handshake

import (
	"bytes"
	"testing"

	"github.com/flynn/noise"
)

// observeWipes records every DH output handed to flynn/noise and every
// handshake state made from now on; the returned check fails the test
// unless at least minDH outputs were seen since the last check and every
// one of them, and every state's handshake hash, is zero by then.
func observeWipes(t *testing.T) (check func(what string, minDH int)) {
	var outs [][]byte
	var states []*noise.HandshakeState
	testObserveDH = func(out []byte) {
		if bytes.Equal(out, make([]byte, len(out))) {
			t.Errorf("a DH output is zero when handed out")
		}
		outs = append(outs, out)
	}
	testObserveState = func(hs *noise.HandshakeState) { states = append(states, hs) }
	t.Cleanup(func() { testObserveDH, testObserveState = nil, nil })
	return func(what string, minDH int) {
		t.Helper()
		if len(outs) < minDH {
			t.Errorf("%s: %d DH outputs seen, want at least %d", what, len(outs), minDH)
		}
		for i, o := range outs {
			if !bytes.Equal(o, make([]byte, len(o))) {
				t.Errorf("%s: DH output %d of %d not wiped: %x", what, i+1, len(outs), o)
			}
		}
		for i, hs := range states {
			if h := hs.ChannelBinding(); !bytes.Equal(h, make([]byte, len(h))) {
				t.Errorf("%s: handshake hash of state %d not wiped", what, i+1)
			}
		}
		outs, states = nil, nil
	}
}

// TestDHOutputsWiped: after each call that runs Noise, on success and on
// each reject path that got as far as a DH, the DH results (es, ss, ee, se)
// and the handshake hash are zero.
func TestDHOutputsWiped(t *testing.T) {
	check := observeWipes(t)

	p := newPair(t, 40, &[32]byte{7}, &[32]byte{7})
	init := p.initiate(t, t0)
	check("initiation", 2) // es, ss
	res, err := p.r.Consume(init, srcInit, t0, false)
	if err != nil {
		t.Fatal(err)
	}
	check("initiation consumed", 4) // es, ss, ee, se
	forged := bytes.Clone(res.Reply)
	copy(forged[responseNoiseStart:], bytes.Repeat([]byte{0x42}, 32))
	remac(forged, p.iPub)
	_, err = p.i.Consume(forged, srcResp, t0, false)
	wantErr(t, err, ErrDecrypt)
	check("forged response", 4) // the rebuilt initiation's es, ss; ee, se
	if _, err := p.i.Consume(res.Reply, srcResp, t0, false); err != nil {
		t.Fatal(err)
	}
	check("response consumed", 4)

	// A PSK mismatch fails at the initiator after every DH.
	p = newPair(t, 41, &[32]byte{1}, &[32]byte{2})
	res, err = p.r.Consume(p.initiate(t, t0), srcInit, t0, false)
	if err != nil {
		t.Fatal(err)
	}
	check("initiation and response with another PSK", 6)
	_, err = p.i.Consume(res.Reply, srcResp, t0, false)
	wantErr(t, err, ErrDecrypt)
	check("response under the wrong PSK", 4)

	// An initiator the responder does not know: es and ss are computed
	// before the peer is looked up.
	p = newPair(t, 42, nil, nil)
	if err := p.r.RemovePeer(p.iPub); err != nil {
		t.Fatal(err)
	}
	init = p.initiate(t, t0)
	_, err = p.r.Consume(init, srcInit, t0, false)
	wantErr(t, err, ErrUnknownPeer)
	check("unknown initiator", 4)
}

// TestKeypairWipe: Wipe zeroes both keys and nothing else.
func TestKeypairWipe(t *testing.T) {
	k := &Keypair{Send: [32]byte{1, 2}, Receive: [32]byte{3}, LocalIndex: 5, RemoteIndex: 6, Initiator: true, Created: t0}
	k.Wipe()
	if k.Send != [32]byte{} || k.Receive != [32]byte{} {
		t.Fatal("keys not zero after Wipe")
	}
	if k.LocalIndex != 5 || k.RemoteIndex != 6 || !k.Initiator || !k.Created.Equal(t0) {
		t.Fatalf("Wipe changed more than the keys: %v", k)
	}
}
