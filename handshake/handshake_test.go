// SPDX-License-Identifier: MIT

package handshake

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"
)

var (
	t0      = time.Unix(1700000000, 0)
	srcInit = netip.MustParseAddrPort("192.0.2.1:51820")
	srcResp = netip.MustParseAddrPort("192.0.2.2:51820")
)

func seeded(seed uint64) io.Reader {
	var s [32]byte
	binary.LittleEndian.PutUint64(s[:], seed)
	return mrand.NewChaCha8(s)
}

func keyFrom(r io.Reader) (private, public [32]byte) {
	io.ReadFull(r, private[:])
	h := New(private, nil)
	return private, h.PublicKey()
}

// pair is an initiator and a responder that know each other.
type pair struct {
	i, r       *Handshaker
	iPub, rPub [32]byte
}

func newPair(t testing.TB, seed uint64, iPSK, rPSK *[32]byte) *pair {
	t.Helper()
	r := seeded(seed)
	iPriv, iPub := keyFrom(r)
	rPriv, rPub := keyFrom(r)
	p := &pair{i: New(iPriv, seeded(seed+1)), r: New(rPriv, seeded(seed+2)), iPub: iPub, rPub: rPub}
	if err := p.i.AddPeer(rPub, iPSK); err != nil {
		t.Fatal(err)
	}
	if err := p.r.AddPeer(iPub, rPSK); err != nil {
		t.Fatal(err)
	}
	return p
}

func (p *pair) initiate(t testing.TB, now time.Time) []byte {
	t.Helper()
	msg, err := p.i.CreateInitiation(p.rPub, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(msg) != MessageInitiationSize {
		t.Fatalf("initiation is %d bytes", len(msg))
	}
	return msg
}

// remac recomputes mac1 of a tampered message as its sender would.
func remac(msg []byte, receiverPublic [32]byte) {
	var g cookieGenerator
	g.init(receiverPublic)
	g.addMACs(msg, t0)
}

func wantErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error %v, want %v", err, want)
	}
}

func TestHandshakeKeysAgree(t *testing.T) {
	for _, psk := range []*[32]byte{nil, {1, 2, 3}} {
		p := newPair(t, 1, psk, psk)
		init := p.initiate(t, t0)
		rres, err := p.r.Consume(init, srcInit, t0, false)
		if err != nil {
			t.Fatal(err)
		}
		if rres.Kind != InitiationConsumed || rres.Peer != p.iPub || len(rres.Reply) != MessageResponseSize {
			t.Fatalf("responder result %v, %d-byte reply", rres.Kind, len(rres.Reply))
		}
		later := t0.Add(time.Second)
		ires, err := p.i.Consume(rres.Reply, srcResp, later, false)
		if err != nil {
			t.Fatal(err)
		}
		ik, rk := ires.Keypair, rres.Keypair
		if ires.Kind != ResponseConsumed || ires.Peer != p.rPub {
			t.Fatalf("initiator result %v", ires.Kind)
		}
		if ik.Send != rk.Receive || ik.Receive != rk.Send || ik.Send == ik.Receive || ik.Send == [32]byte{} {
			t.Fatal("transport keys do not pair up")
		}
		if ik.LocalIndex != rk.RemoteIndex || ik.RemoteIndex != rk.LocalIndex {
			t.Fatalf("indices do not pair up: %v / %v", ik, rk)
		}
		if !ik.Initiator || rk.Initiator || !ik.Created.Equal(later) || !rk.Created.Equal(t0) {
			t.Fatalf("initiator flags/creation times wrong: %v / %v", ik, rk)
		}
		// The local indices stay allocated for the keypairs.
		if owner, ok := p.i.Indices().Lookup(ik.LocalIndex); !ok || owner != p.rPub {
			t.Fatal("initiator's local index not kept for the keypair")
		}
		if owner, ok := p.r.Indices().Lookup(rk.LocalIndex); !ok || owner != p.iPub {
			t.Fatal("responder's local index not kept for the keypair")
		}
	}
}

func TestInjectedRandomnessIsDeterministic(t *testing.T) {
	a := newPair(t, 7, nil, nil).initiate(t, t0)
	b := newPair(t, 7, nil, nil).initiate(t, t0)
	c := newPair(t, 8, nil, nil).initiate(t, t0)
	if !bytes.Equal(a, b) || bytes.Equal(a, c) {
		t.Fatal("initiation bytes do not follow the injected random source")
	}
}

func TestUnknownInitiatorStaticKey(t *testing.T) {
	p := newPair(t, 2, nil, nil)
	if err := p.r.RemovePeer(p.iPub); err != nil {
		t.Fatal(err)
	}
	_, err := p.r.Consume(p.initiate(t, t0), srcInit, t0, false)
	wantErr(t, err, ErrUnknownPeer)
}

func TestInitiationToWrongResponderKey(t *testing.T) {
	p := newPair(t, 3, nil, nil)
	_, other := keyFrom(seeded(99))
	if err := p.i.AddPeer(other, nil); err != nil {
		t.Fatal(err)
	}
	msg, err := p.i.CreateInitiation(other, t0)
	if err != nil {
		t.Fatal(err)
	}
	// mac1 is keyed to the intended receiver's public key.
	_, err = p.r.Consume(msg, srcInit, t0, false)
	wantErr(t, err, ErrBadMAC1)
	// With a mac1 valid for r, the encrypted static still fails under the
	// wrong es secret.
	remac(msg, p.rPub)
	_, err = p.r.Consume(msg, srcInit, t0, false)
	wantErr(t, err, ErrDecrypt)
}

func TestWrongPresharedKey(t *testing.T) {
	p := newPair(t, 4, &[32]byte{1}, &[32]byte{2})
	res, err := p.r.Consume(p.initiate(t, t0), srcInit, t0, false)
	if err != nil {
		t.Fatal(err) // message 1 does not involve the PSK
	}
	_, err = p.i.Consume(res.Reply, srcResp, t0, false)
	wantErr(t, err, ErrDecrypt)

	// A PSK on one side only fails the same way.
	p = newPair(t, 5, nil, &[32]byte{2})
	res, err = p.r.Consume(p.initiate(t, t0), srcInit, t0, false)
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.i.Consume(res.Reply, srcResp, t0, false)
	wantErr(t, err, ErrDecrypt)
}

func TestPresharedKeyChangeAtRunTime(t *testing.T) {
	p := newPair(t, 6, nil, nil)
	psk := [32]byte{9}
	if err := p.i.SetPresharedKey(p.rPub, &psk); err != nil {
		t.Fatal(err)
	}
	init := p.initiate(t, t0)
	res, _ := p.r.Consume(init, srcInit, t0, false)
	_, err := p.i.Consume(res.Reply, srcResp, t0, false)
	wantErr(t, err, ErrDecrypt)

	if err := p.r.SetPresharedKey(p.iPub, &psk); err != nil {
		t.Fatal(err)
	}
	res, err = p.r.Consume(p.initiate(t, t0.Add(time.Second)), srcInit, t0.Add(time.Second), false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.i.Consume(res.Reply, srcResp, t0.Add(time.Second), false); err != nil {
		t.Fatalf("after both sides set the PSK: %v", err)
	}
	wantErr(t, p.r.SetPresharedKey([32]byte{1}, nil), ErrUnknownPeer)
}

func TestReplayedInitiation(t *testing.T) {
	p := newPair(t, 10, nil, nil)
	init := p.initiate(t, t0)
	if _, err := p.r.Consume(init, srcInit, t0, false); err != nil {
		t.Fatal(err)
	}
	_, err := p.r.Consume(init, srcInit, t0.Add(time.Minute), false)
	wantErr(t, err, ErrReplayedTimestamp)
}

func TestStaleTimestamp(t *testing.T) {
	p := newPair(t, 11, nil, nil)
	older := p.initiate(t, t0)
	newer := p.initiate(t, t0.Add(time.Second))
	if _, err := p.r.Consume(newer, srcInit, t0.Add(time.Second), false); err != nil {
		t.Fatal(err)
	}
	_, err := p.r.Consume(older, srcInit, t0.Add(2*time.Second), false)
	wantErr(t, err, ErrReplayedTimestamp)
}

func TestFlood(t *testing.T) {
	p := newPair(t, 12, nil, nil)
	first := p.initiate(t, t0)
	second := p.initiate(t, t0.Add(100*time.Millisecond)) // strictly later stamp
	third := p.initiate(t, t0.Add(200*time.Millisecond))
	if _, err := p.r.Consume(first, srcInit, t0, false); err != nil {
		t.Fatal(err)
	}
	_, err := p.r.Consume(second, srcInit, t0.Add(InitiationRate), false)
	wantErr(t, err, ErrFlood)
	// A refused initiation does not move the window; 21 ms after the last
	// accepted one the next is fine.
	if _, err := p.r.Consume(third, srcInit, t0.Add(InitiationRate+time.Millisecond), false); err != nil {
		t.Fatalf("after the flood window: %v", err)
	}
}

func TestBadMAC1(t *testing.T) {
	p := newPair(t, 13, nil, nil)
	for _, pos := range []int{0 + 8, initiationNoiseEnd - 1, initiationNoiseEnd, initiationNoiseEnd + macSize - 1} {
		init := p.initiate(t, t0)
		init[pos] ^= 1
		_, err := p.r.Consume(init, srcInit, t0, false)
		wantErr(t, err, ErrBadMAC1)
	}
}

func TestTamperedInitiationWithValidMAC1(t *testing.T) {
	for _, pos := range []int{8, 40, 100, 115} { // ephemeral, static, timestamp
		p := newPair(t, 14, nil, nil)
		init := p.initiate(t, t0)
		init[pos] ^= 0x80
		remac(init, p.rPub)
		_, err := p.r.Consume(init, srcInit, t0, false)
		if !errors.Is(err, ErrDecrypt) && !errors.Is(err, ErrUnknownPeer) {
			t.Fatalf("byte %d flipped: %v", pos, err)
		}
	}
}

func TestResponseIndexChecks(t *testing.T) {
	p := newPair(t, 15, nil, nil)
	res, err := p.r.Consume(p.initiate(t, t0), srcInit, t0, false)
	if err != nil {
		t.Fatal(err)
	}
	wrong := bytes.Clone(res.Reply)
	binary.LittleEndian.PutUint32(wrong[offReceiver:], receiver(wrong)+1)
	remac(wrong, p.iPub)
	_, err = p.i.Consume(wrong, srcResp, t0, false)
	wantErr(t, err, ErrUnknownIndex)

	if _, err := p.i.Consume(res.Reply, srcResp, t0, false); err != nil {
		t.Fatal(err)
	}
	// The pending initiation is gone: the same response again is refused.
	_, err = p.i.Consume(res.Reply, srcResp, t0, false)
	wantErr(t, err, ErrUnknownIndex)
}

func TestForgedResponseDoesNotSpoilPendingHandshake(t *testing.T) {
	p := newPair(t, 16, nil, nil)
	init := p.initiate(t, t0)
	res, err := p.r.Consume(init, srcInit, t0, false)
	if err != nil {
		t.Fatal(err)
	}
	forged := bytes.Clone(res.Reply)
	copy(forged[responseNoiseStart:], bytes.Repeat([]byte{0x42}, 32)) // another ephemeral
	remac(forged, p.iPub)
	_, err = p.i.Consume(forged, srcResp, t0, false)
	wantErr(t, err, ErrDecrypt)
	// A low-order ephemeral (all zeros) makes X25519 itself fail.
	copy(forged[responseNoiseStart:], make([]byte, 32))
	remac(forged, p.iPub)
	_, err = p.i.Consume(forged, srcResp, t0, false)
	wantErr(t, err, ErrDecrypt)

	if _, err := p.i.Consume(res.Reply, srcResp, t0, false); err != nil {
		t.Fatalf("genuine response after forged ones: %v", err)
	}
}

func TestCookieRoundTripInProcess(t *testing.T) {
	p := newPair(t, 20, nil, nil)
	init := p.initiate(t, t0)
	res, err := p.r.Consume(init, srcInit, t0, true)
	wantErr(t, err, ErrCookieRequired)
	if res.Kind != CookieReplyToSend || len(res.Reply) != MessageCookieReplySize {
		t.Fatalf("result %v with %d-byte reply", res.Kind, len(res.Reply))
	}
	if got := binary.LittleEndian.Uint32(res.Reply[4:]); got != sender(init) {
		t.Fatalf("cookie reply receiver %#x, want the initiation's sender %#x", got, sender(init))
	}

	// Tampered or misaddressed cookie replies are refused.
	bad := bytes.Clone(res.Reply)
	bad[40] ^= 1
	_, err = p.i.Consume(bad, srcResp, t0, false)
	wantErr(t, err, ErrDecrypt)
	bad = bytes.Clone(res.Reply)
	binary.LittleEndian.PutUint32(bad[4:], sender(init)+1)
	_, err = p.i.Consume(bad, srcResp, t0, false)
	wantErr(t, err, ErrUnknownIndex)

	cres, err := p.i.Consume(res.Reply, srcResp, t0, false)
	if err != nil || cres.Kind != CookieConsumed || cres.Peer != p.rPub {
		t.Fatalf("consuming cookie reply: %v (%v)", err, cres.Kind)
	}
	retry := p.initiate(t, t0.Add(time.Second))
	// The cookie is bound to the source address and port.
	_, err = p.r.Consume(retry, netip.MustParseAddrPort("192.0.2.1:51821"), t0.Add(time.Second), true)
	wantErr(t, err, ErrCookieRequired)
	res, err = p.r.Consume(retry, srcInit, t0.Add(time.Second), true)
	if err != nil || res.Kind != InitiationConsumed {
		t.Fatalf("initiation with mac2 under load: %v", err)
	}

	// Under load the initiator demands a cookie for the response too; the
	// responder takes it by its keypair's local index.
	ires, err := p.i.Consume(res.Reply, srcResp, t0.Add(time.Second), true)
	wantErr(t, err, ErrCookieRequired)
	if cres, err := p.r.Consume(ires.Reply, srcInit, t0.Add(time.Second), false); err != nil || cres.Kind != CookieConsumed {
		t.Fatalf("responder consuming cookie reply: %v", err)
	}
}

func TestCookieExpiry(t *testing.T) {
	p := newPair(t, 21, nil, nil)
	res, _ := p.r.Consume(p.initiate(t, t0), srcInit, t0, true)
	if _, err := p.i.Consume(res.Reply, srcResp, t0, false); err != nil {
		t.Fatal(err)
	}
	withMAC2 := p.initiate(t, t0.Add(CookieRefreshTime))
	if bytes.Equal(withMAC2[MessageInitiationSize-macSize:], make([]byte, macSize)) {
		t.Fatal("no mac2 while the cookie is fresh")
	}
	stale := p.initiate(t, t0.Add(CookieRefreshTime+time.Second))
	if !bytes.Equal(stale[MessageInitiationSize-macSize:], make([]byte, macSize)) {
		t.Fatal("mac2 from an expired cookie")
	}
	// The responder's secret expired too: a mac2 made from the old cookie
	// no longer counts.
	_, err := p.r.Consume(withMAC2, srcInit, t0.Add(CookieRefreshTime+time.Second), true)
	wantErr(t, err, ErrCookieRequired)
}

func TestRateLimitedUnderLoad(t *testing.T) {
	p := newPair(t, 22, nil, nil)
	res, _ := p.r.Consume(p.initiate(t, t0), srcInit, t0, true)
	if _, err := p.i.Consume(res.Reply, srcResp, t0, false); err != nil {
		t.Fatal(err)
	}
	init := p.initiate(t, t0)
	var errs []error
	for range 6 {
		_, err := p.r.Consume(init, srcInit, t0, true)
		errs = append(errs, err)
	}
	if errs[0] != nil {
		t.Fatalf("first initiation with mac2: %v", errs[0])
	}
	for _, err := range errs[1:5] {
		wantErr(t, err, ErrReplayedTimestamp)
	}
	wantErr(t, errs[5], ErrRateLimited)
	// Not under load, no rate limit applies.
	_, err := p.r.Consume(init, srcInit, t0, false)
	wantErr(t, err, ErrReplayedTimestamp)
}

func TestMessageFraming(t *testing.T) {
	p := newPair(t, 30, nil, nil)
	init := p.initiate(t, t0)
	cases := []struct {
		msg  []byte
		want error
	}{
		{nil, ErrMessageLength},
		{[]byte{1, 0, 0}, ErrMessageLength},
		{init[:MessageInitiationSize-1], ErrMessageLength},
		{append(bytes.Clone(init), 0), ErrMessageLength},
		{[]byte{2, 0, 0, 0}, ErrMessageLength},
		{make([]byte, MessageCookieReplySize+1), ErrUnknownType},
		{append([]byte{4, 0, 0, 0}, make([]byte, 28)...), ErrUnknownType},
		{append([]byte{1, 0, 1, 0}, init[4:]...), ErrUnknownType}, // reserved bytes must be zero
	}
	for i, c := range cases {
		_, err := p.r.Consume(c.msg, srcInit, t0, false)
		if !errors.Is(err, c.want) {
			t.Errorf("case %d: %v, want %v", i, err, c.want)
		}
	}
}

func TestRandomMessagesNeverPanic(t *testing.T) {
	p := newPair(t, 31, nil, nil)
	p.initiate(t, t0)
	rng := mrand.New(mrand.NewPCG(1, 2))
	for n := 0; n <= 200; n++ {
		for _, typ := range []byte{0, 1, 2, 3, 4, 0xff} {
			msg := make([]byte, n)
			for i := range msg {
				msg[i] = byte(rng.Uint32())
			}
			if n >= 4 {
				msg[0], msg[1], msg[2], msg[3] = typ, 0, 0, 0
			}
			for _, h := range []*Handshaker{p.i, p.r} {
				for _, load := range []bool{false, true} {
					if res, err := h.Consume(msg, srcInit, t0, load); err == nil {
						t.Fatalf("random %d-byte type %d message accepted: %v", n, typ, res.Kind)
					}
				}
			}
		}
	}
}

func TestNoPrivateKey(t *testing.T) {
	h := New([32]byte{}, seeded(1))
	_, pub := keyFrom(seeded(2))
	if err := h.AddPeer(pub, nil); err != nil {
		t.Fatal(err)
	}
	_, err := h.CreateInitiation(pub, t0)
	wantErr(t, err, ErrNoPrivateKey)
	msg := make([]byte, MessageInitiationSize)
	msg[0] = MessageInitiationType
	_, err = h.Consume(msg, srcInit, t0, false)
	wantErr(t, err, ErrNoPrivateKey)
}

func TestPeerManagement(t *testing.T) {
	p := newPair(t, 40, nil, nil)
	wantErr(t, p.i.AddPeer(p.rPub, nil), ErrPeerExists)
	wantErr(t, p.i.AddPeer(p.i.PublicKey(), nil), ErrOwnKey)
	_, err := p.i.CreateInitiation([32]byte{5}, t0)
	wantErr(t, err, ErrUnknownPeer)

	p.initiate(t, t0)
	p.initiate(t, t0) // replaces the first pending initiation and frees its index
	if n := p.i.Indices().Len(); n != 1 {
		t.Fatalf("%d indices allocated after two initiations, want 1", n)
	}
	if err := p.i.RemovePeer(p.rPub); err != nil {
		t.Fatal(err)
	}
	if n := p.i.Indices().Len(); n != 0 {
		t.Fatalf("%d indices left after removing the peer", n)
	}
	wantErr(t, p.i.RemovePeer(p.rPub), ErrUnknownPeer)
}

func TestSetPrivateKeyDropsPending(t *testing.T) {
	p := newPair(t, 41, nil, nil)
	init := p.initiate(t, t0)
	res, err := p.r.Consume(init, srcInit, t0, false)
	if err != nil {
		t.Fatal(err)
	}
	newPriv, _ := keyFrom(seeded(77))
	p.i.SetPrivateKey(newPriv)
	if p.i.Indices().Len() != 0 {
		t.Fatal("pending index survived a key change")
	}
	// The response was made for the old identity: mac1 no longer matches.
	_, err = p.i.Consume(res.Reply, srcResp, t0, false)
	wantErr(t, err, ErrBadMAC1)
}

func TestNoKeyMaterialInStrings(t *testing.T) {
	psk := [32]byte{0xaa, 0xbb, 0xcc, 0xdd}
	p := newPair(t, 42, &psk, &psk)
	res, _ := p.r.Consume(p.initiate(t, t0), srcInit, t0, false)
	ires, err := p.i.Consume(res.Reply, srcResp, t0, false)
	if err != nil {
		t.Fatal(err)
	}
	kp := ires.Keypair
	out := fmt.Sprintf("%v %+v %#v %v %+v %#v %v %+v", p.i, p.i, p.i, kp, kp, kp, *kp, *kp)
	for _, secret := range [][32]byte{p.i.id.Load().private, psk, kp.Send, kp.Receive} {
		for _, enc := range []string{hex.EncodeToString(secret[:]), strings.Trim(fmt.Sprint(secret[:]), "[]")} {
			if strings.Contains(out, enc) {
				t.Fatalf("formatted output contains key material %q: %s", enc, out)
			}
		}
	}
}
