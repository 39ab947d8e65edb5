// SPDX-License-Identifier: MIT

package handshake

import (
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/crypto/blake2s"
	"golang.org/x/crypto/chacha20poly1305"
)

// deriveKey is BLAKE2s-256(label || public key): the mac1 and cookie keys.
func deriveKey(label string, pub [32]byte) [32]byte {
	buf := make([]byte, 0, len(label)+len(pub))
	buf = append(buf, label...)
	buf = append(buf, pub[:]...)
	return blake2s.Sum256(buf)
}

// keyedMAC is keyed BLAKE2s-128 over the concatenated parts. ok is false
// only if the key length were invalid, which the fixed-size callers exclude;
// reporting it instead of panicking keeps every input path panic-free.
func keyedMAC(key []byte, parts ...[]byte) (sum [macSize]byte, ok bool) {
	h, err := blake2s.New128(key)
	if err != nil {
		return sum, false
	}
	for _, p := range parts {
		h.Write(p)
	}
	h.Sum(sum[:0])
	return sum, true
}

func macMatches(key []byte, data, got []byte) bool {
	want, ok := keyedMAC(key, data)
	return ok && subtle.ConstantTimeCompare(want[:], got) == 1
}

// sourceBytes is what a cookie is bound to: the source address (IPv4-mapped
// addresses unmapped, so a dual-stack socket and a v4 socket agree) and the
// little-endian port.
func sourceBytes(src netip.AddrPort) []byte {
	b := src.Addr().Unmap().AsSlice()
	return binary.LittleEndian.AppendUint16(b, src.Port())
}

// cookieChecker is the receiving side of mac1/mac2: it verifies macs on
// messages addressed to us and makes cookie replies when under load. Its
// keys are fixed for one identity; the secret changes under mu.
type cookieChecker struct {
	mac1Key  [32]byte // BLAKE2s("mac1----" || our public key)
	replyKey [32]byte // BLAKE2s("cookie--" || our public key)

	mu        sync.RWMutex
	secret    [32]byte // R_secret; cookies are MAC(secret, source)
	secretSet time.Time
}

// newCookieChecker makes the checker of one identity. A new identity gets a
// new checker, which invalidates cookies handed out under the old one.
func newCookieChecker(ourPublic [32]byte) *cookieChecker {
	return &cookieChecker{
		mac1Key:  deriveKey(labelMAC1, ourPublic),
		replyKey: deriveKey(labelCookie, ourPublic),
	}
}

func (c *cookieChecker) checkMAC1(msg []byte) bool {
	m1, _ := macOffsets(len(msg))
	return macMatches(c.mac1Key[:], msg[:m1], msg[m1:m1+macSize])
}

// secretValid reports whether the secret is fresh; c.mu must be held.
func (c *cookieChecker) secretValid(now time.Time) bool {
	return !c.secretSet.IsZero() && now.Sub(c.secretSet) <= CookieRefreshTime && !now.Before(c.secretSet)
}

// cookieFor is the cookie we expect from src under the current secret;
// c.mu must be held.
func (c *cookieChecker) cookieFor(src netip.AddrPort) ([macSize]byte, bool) {
	return keyedMAC(c.secret[:], sourceBytes(src))
}

// checkMAC2 reports whether msg carries mac2 made with the cookie we would
// give src now. An expired secret means every cookie is stale.
func (c *cookieChecker) checkMAC2(msg []byte, src netip.AddrPort, now time.Time) bool {
	c.mu.RLock()
	if !c.secretValid(now) {
		c.mu.RUnlock()
		return false
	}
	cookie, ok := c.cookieFor(src)
	c.mu.RUnlock()
	if !ok {
		return false
	}
	_, m2 := macOffsets(len(msg))
	return macMatches(cookie[:], msg[:m2], msg[m2:m2+macSize])
}

// createReply answers the refused message msg (initiation or response, whose
// mac1 was already verified) with a cookie reply for src.
func (c *cookieChecker) createReply(msg []byte, src netip.AddrPort, now time.Time, rand io.Reader) ([]byte, error) {
	c.mu.Lock()
	if !c.secretValid(now) {
		if _, err := io.ReadFull(rand, c.secret[:]); err != nil {
			c.mu.Unlock()
			return nil, fmt.Errorf("%w: cookie secret: %w", ErrRandom, err)
		}
		c.secretSet = now
	}
	cookie, ok := c.cookieFor(src)
	c.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("%w: cookie mac", ErrDecrypt)
	}
	reply := make([]byte, cookieReplyCookie, MessageCookieReplySize)
	binary.LittleEndian.PutUint32(reply[0:4], MessageCookieReplyType)
	copy(reply[cookieReplyReceiver:cookieReplyReceiver+4], msg[offSender:offSender+4])
	nonce := reply[cookieReplyNonce : cookieReplyNonce+cookieNonceSize]
	if _, err := io.ReadFull(rand, nonce); err != nil {
		return nil, fmt.Errorf("%w: cookie nonce: %w", ErrRandom, err)
	}
	aead, err := chacha20poly1305.NewX(c.replyKey[:])
	if err != nil {
		return nil, fmt.Errorf("cookie reply cipher: %w", err)
	}
	m1, _ := macOffsets(len(msg))
	return aead.Seal(reply, nonce, cookie[:], msg[m1:m1+macSize]), nil
}

// cookieGenerator is the sending side towards one peer: it puts mac1 (and
// mac2 while a cookie from that peer is fresh) on our messages and accepts
// the peer's cookie replies. The peer's mutex guards it.
type cookieGenerator struct {
	mac1Key     [32]byte // BLAKE2s("mac1----" || peer public key)
	replyKey    [32]byte // BLAKE2s("cookie--" || peer public key)
	cookie      [macSize]byte
	cookieSet   time.Time
	lastMAC1    [macSize]byte // AD a genuine cookie reply must carry
	hasLastMAC1 bool
}

func (g *cookieGenerator) init(peerPublic [32]byte) {
	*g = cookieGenerator{
		mac1Key:  deriveKey(labelMAC1, peerPublic),
		replyKey: deriveKey(labelCookie, peerPublic),
	}
}

func (g *cookieGenerator) cookieValid(now time.Time) bool {
	return !g.cookieSet.IsZero() && !now.Before(g.cookieSet) && now.Sub(g.cookieSet) <= CookieRefreshTime
}

// addMACs fills mac1 and mac2 of a complete outgoing message.
func (g *cookieGenerator) addMACs(msg []byte, now time.Time) {
	m1, m2 := macOffsets(len(msg))
	mac1, _ := keyedMAC(g.mac1Key[:], msg[:m1])
	copy(msg[m1:], mac1[:])
	g.lastMAC1 = mac1
	g.hasLastMAC1 = true

	var mac2 [macSize]byte
	if g.cookieValid(now) {
		mac2, _ = keyedMAC(g.cookie[:], msg[:m2])
	}
	copy(msg[m2:], mac2[:])
}

// consumeReply decrypts a cookie reply from this peer and stores the cookie.
func (g *cookieGenerator) consumeReply(msg []byte, now time.Time) error {
	if !g.hasLastMAC1 {
		return ErrNoCookieExpected
	}
	aead, err := chacha20poly1305.NewX(g.replyKey[:])
	if err != nil {
		return fmt.Errorf("cookie reply cipher: %w", err)
	}
	nonce := msg[cookieReplyNonce : cookieReplyNonce+cookieNonceSize]
	var cookie [macSize]byte
	if _, err := aead.Open(cookie[:0], nonce, msg[cookieReplyCookie:], g.lastMAC1[:]); err != nil {
		return fmt.Errorf("%w: cookie reply", ErrDecrypt)
	}
	g.cookie = cookie
	g.cookieSet = now
	return nil
}
