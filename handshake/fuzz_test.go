// SPDX-License-Identifier: MIT

package handshake

import (
	"bytes"
	"net/netip"
	"testing"
	"time"
)

// fuzzSetup is deterministic, so seeds recorded from it (testdata/fuzz) stay
// valid messages: a pair where the responder already handed the initiator a
// cookie, and the initiator has an initiation pending.
type fuzzSetup struct {
	*pair
	init, resp, cookieReply []byte
}

func newFuzzSetup(t testing.TB) *fuzzSetup {
	p := newPair(t, 1000, &[32]byte{7}, &[32]byte{7})
	s := &fuzzSetup{pair: p}
	res, _ := p.r.Consume(p.initiate(t, t0), srcInit, t0, true)
	if _, err := p.i.Consume(res.Reply, srcResp, t0, false); err != nil {
		t.Fatal(err)
	}
	s.init = p.initiate(t, t0.Add(time.Second))
	// From another port the cookie does not match: a fresh cookie reply
	// answering s.init, which the initiator has not consumed.
	res, _ = p.r.Consume(s.init, netip.MustParseAddrPort("192.0.2.1:1"), t0.Add(time.Second), true)
	s.cookieReply = res.Reply
	res, err := p.r.Consume(s.init, srcInit, t0.Add(time.Second), true)
	if err != nil {
		t.Fatal(err)
	}
	s.resp = res.Reply
	return s
}

func checkResult(t *testing.T, res Result, err error) {
	if err != nil {
		if res.Kind != KindNone && res.Kind != CookieReplyToSend {
			t.Fatalf("error %v with result kind %v", err, res.Kind)
		}
		return
	}
	switch res.Kind {
	case InitiationConsumed:
		if res.Keypair == nil || len(res.Reply) != MessageResponseSize {
			t.Fatal("initiation consumed without keypair or response")
		}
	case ResponseConsumed:
		if res.Keypair == nil {
			t.Fatal("response consumed without keypair")
		}
	case CookieConsumed:
	default:
		t.Fatalf("success with kind %v", res.Kind)
	}
}

// FuzzConsume feeds raw datagrams to both sides.
func FuzzConsume(f *testing.F) {
	s := newFuzzSetup(f)
	f.Add(s.init, false)
	f.Add(s.resp, true)
	f.Add(s.cookieReply, false)
	f.Fuzz(func(t *testing.T, msg []byte, underLoad bool) {
		p := newPair(t, 1000, &[32]byte{7}, &[32]byte{7})
		p.initiate(t, t0)
		for _, h := range []*Handshaker{p.i, p.r} {
			res, err := h.Consume(msg, srcInit, t0, underLoad)
			checkResult(t, res, err)
		}
	})
}

// FuzzConsumeAuthenticated gets past mac1 (and mac2, which the initiator can
// make from its cookie) so the Noise parsing, timestamp checks and index
// matching see the fuzzed bytes.
func FuzzConsumeAuthenticated(f *testing.F) {
	s := newFuzzSetup(f)
	f.Add(s.init, true)
	f.Add(s.resp, false)
	f.Fuzz(func(t *testing.T, msg []byte, underLoad bool) {
		typ, err := messageType(msg)
		if err != nil || typ == MessageCookieReplyType {
			return
		}
		fresh := newFuzzSetup(t)
		msg = append([]byte(nil), msg...)
		now := t0.Add(2 * time.Second)
		if typ == MessageInitiationType {
			// Sent by i to r: i's generator holds r's cookie.
			fresh.i.peers[fresh.rPub].cookies.addMACs(msg, now)
			fresh.r.peers[fresh.iPub].lastTimestamp = [12]byte{} // allow the recorded stamp again
			fresh.r.peers[fresh.iPub].lastInitiationConsumed = time.Time{}
			res, err := fresh.r.Consume(msg, srcInit, now, underLoad)
			checkResult(t, res, err)
			return
		}
		fresh.r.peers[fresh.iPub].cookies.addMACs(msg, now)
		res, err := fresh.i.Consume(msg, srcResp, now, underLoad)
		checkResult(t, res, err)
	})
}

// FuzzCookieReply aims fuzzed nonces and ciphertexts at the pending index.
func FuzzCookieReply(f *testing.F) {
	s := newFuzzSetup(f)
	f.Add(s.cookieReply[cookieReplyNonce:])
	f.Fuzz(func(t *testing.T, body []byte) {
		fresh := newFuzzSetup(t)
		msg := make([]byte, MessageCookieReplySize)
		msg[0] = MessageCookieReplyType
		copy(msg[cookieReplyReceiver:], fresh.init[offSender:offSender+4])
		copy(msg[cookieReplyNonce:], body)
		res, err := fresh.i.Consume(msg, srcResp, t0, false)
		checkResult(t, res, err)
		if bytes.Equal(msg, fresh.cookieReply) && err != nil {
			t.Fatalf("the recorded cookie reply no longer decrypts: %v", err)
		}
	})
}
