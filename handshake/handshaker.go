// Package handshake implements WireGuard's handshake (Noise IKpsk2 on
// flynn/noise) and everything around it: message framing, mac1/mac2, cookie
// replies, TAI64N replay protection, per-source rate limiting and the table
// of local indices. It is pure: no sockets, and no clock but the now passed
// in, so the daemon owns I/O and timers and tests run without root.
package handshake

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/crypto/curve25519"

	"github.com/wgbpfd/wgbpfd/handshake/ratelimiter"
	"github.com/wgbpfd/wgbpfd/handshake/tai64n"
)

// Kind says what Consume did with a message.
type Kind int

const (
	KindNone           Kind = iota
	InitiationConsumed      // Reply holds our response; Keypair is the responder's
	ResponseConsumed        // Keypair is the initiator's
	CookieConsumed          // a cookie from Peer is stored; later messages carry mac2
	CookieReplyToSend       // under load and mac2 missing: send Reply (a cookie reply) back
)

func (k Kind) String() string {
	switch k {
	case InitiationConsumed:
		return "initiation consumed"
	case ResponseConsumed:
		return "response consumed"
	case CookieConsumed:
		return "cookie consumed"
	case CookieReplyToSend:
		return "cookie reply to send"
	default:
		return "none"
	}
}

// Result is the outcome of Consume.
type Result struct {
	Kind    Kind
	Peer    [32]byte // public key of the peer concerned (zero for CookieReplyToSend)
	Reply   []byte   // message to send back to the source, if any
	Keypair *Keypair // set when a handshake completed
}

// Handshaker holds our identity and the configured peers. It is safe for
// concurrent use; one mutex serialises all handshake processing, which is
// rare and already bounded by the rate limiter under load.
type Handshaker struct {
	mu         sync.Mutex
	rand       io.Reader
	private    [32]byte
	public     [32]byte
	hasPrivate bool
	checker    cookieChecker
	peers      map[[32]byte]*peer
	indices    *Indices
	limiter    *ratelimiter.Limiter
}

// New returns a Handshaker for the given private key (all zeros: none yet;
// every handshake then fails with ErrNoPrivateKey). rand supplies ephemeral
// keys, indices, cookie secrets and nonces; nil means crypto/rand.
func New(private [32]byte, rand io.Reader) *Handshaker {
	if rand == nil {
		rand = cryptoRand{}
	}
	h := &Handshaker{
		rand:    rand,
		peers:   make(map[[32]byte]*peer),
		indices: NewIndices(rand),
		limiter: ratelimiter.New(),
	}
	h.setPrivateKey(private)
	return h
}

type cryptoRand struct{}

func (cryptoRand) Read(b []byte) (int, error) { return rand.Read(b) }

// String never shows key material.
func (h *Handshaker) String() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return fmt.Sprintf("handshake.Handshaker{peers: %d, indices: %d}", len(h.peers), h.indices.Len())
}

// GoString is String, so %#v cannot print the private key either.
func (h *Handshaker) GoString() string { return h.String() }

// PublicKey returns our static public key (zero without a private key).
func (h *Handshaker) PublicKey() [32]byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.public
}

// Indices is the table of local indices. Every completed handshake leaves
// its Keypair.LocalIndex allocated; the daemon frees it when the keypair dies.
func (h *Handshaker) Indices() *Indices { return h.indices }

// SetPrivateKey replaces our identity. Pending initiations are dropped (they
// were made under the old key) and a peer whose public key is our new one is
// removed, since a peer cannot be ourselves.
func (h *Handshaker) SetPrivateKey(private [32]byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.hasPrivate && private == h.private {
		return
	}
	h.setPrivateKey(private)
	for pub, p := range h.peers {
		h.dropPending(p)
		if h.hasPrivate && pub == h.public {
			delete(h.peers, pub)
		}
	}
}

func (h *Handshaker) setPrivateKey(private [32]byte) {
	h.private = private
	h.public = [32]byte{}
	h.hasPrivate = private != [32]byte{}
	if h.hasPrivate {
		pub, err := curve25519.X25519(private[:], curve25519.Basepoint)
		if err != nil {
			// Unreachable for the base point; treat as "no key" rather than panic.
			h.hasPrivate = false
		} else {
			copy(h.public[:], pub)
		}
	}
	h.checker.init(h.public)
}

// AddPeer configures a peer; psk nil means no preshared key.
func (h *Handshaker) AddPeer(public [32]byte, psk *[32]byte) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.hasPrivate && public == h.public {
		return ErrOwnKey
	}
	if _, ok := h.peers[public]; ok {
		return ErrPeerExists
	}
	h.peers[public] = newPeer(public, psk)
	return nil
}

// RemovePeer forgets a peer and frees the index of its pending initiation.
// Indices of keypairs already handed out stay allocated until the daemon
// frees them with the keypairs; a late message to one gets ErrUnknownIndex.
func (h *Handshaker) RemovePeer(public [32]byte) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	p, ok := h.peers[public]
	if !ok {
		return ErrUnknownPeer
	}
	h.dropPending(p)
	clear(p.psk[:])
	delete(h.peers, public)
	return nil
}

// SetPresharedKey changes (psk != nil) or removes (nil) a peer's PSK. A
// pending initiation completes with the new PSK: message 1 does not depend
// on it.
func (h *Handshaker) SetPresharedKey(public [32]byte, psk *[32]byte) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	p, ok := h.peers[public]
	if !ok {
		return ErrUnknownPeer
	}
	if psk == nil {
		clear(p.psk[:])
	} else {
		p.psk = *psk
	}
	return nil
}

func (h *Handshaker) dropPending(p *peer) {
	if p.pending == nil {
		return
	}
	h.indices.Free(p.pending.localIndex)
	p.pending.wipe()
	p.pending = nil
}

// CreateInitiation starts a handshake with a peer and returns message 1
// (148 bytes, with mac2 if the peer gave us a cookie in the last 120 s). It
// replaces any pending initiation to that peer.
func (h *Handshaker) CreateInitiation(public [32]byte, now time.Time) ([]byte, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.hasPrivate {
		return nil, ErrNoPrivateKey
	}
	p, ok := h.peers[public]
	if !ok {
		return nil, ErrUnknownPeer
	}
	h.dropPending(p)

	idx, err := h.indices.Allocate(public)
	if err != nil {
		return nil, err
	}
	pending := &pendingInitiation{localIndex: idx, timestamp: tai64n.Stamp(now)}
	if _, err := io.ReadFull(h.rand, pending.ephemeral[:]); err != nil {
		h.indices.Free(idx)
		return nil, fmt.Errorf("%w: ephemeral key: %w", ErrRandom, err)
	}
	_, body, err := h.initiatorState(p, pending)
	if err != nil {
		h.indices.Free(idx)
		pending.wipe()
		return nil, err
	}

	msg := make([]byte, MessageInitiationSize)
	putHeader(msg, MessageInitiationType, idx)
	copy(msg[initiationNoiseStart:initiationNoiseEnd], body)
	p.cookies.addMACs(msg, now)
	p.pending = pending
	return msg, nil
}

// Consume processes one handshake message from src. underLoad is the
// caller's judgement (see LoadDetector); under load, initiations and
// responses must carry a valid mac2 (else Result.Reply is a cookie reply and
// the error ErrCookieRequired) and each source is rate limited.
func (h *Handshaker) Consume(msg []byte, src netip.AddrPort, now time.Time, underLoad bool) (Result, error) {
	typ, err := messageType(msg)
	if err != nil {
		return Result{}, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()

	if typ == MessageCookieReplyType {
		return h.consumeCookieReply(msg, now)
	}
	if !h.hasPrivate {
		return Result{}, ErrNoPrivateKey
	}
	if !h.checker.checkMAC1(msg) {
		return Result{}, ErrBadMAC1
	}
	if underLoad {
		if !h.checker.checkMAC2(msg, src, now) {
			reply, err := h.checker.createReply(msg, src, now, h.rand)
			if err != nil {
				return Result{}, err
			}
			return Result{Kind: CookieReplyToSend, Reply: reply}, ErrCookieRequired
		}
		// Only now is the source address proven (it received our cookie),
		// so limiting by it cannot be used to lock out a spoofed victim.
		if !h.limiter.Allow(src.Addr(), now) {
			return Result{}, fmt.Errorf("%w: %v", ErrRateLimited, src.Addr())
		}
	}
	if typ == MessageInitiationType {
		return h.consumeInitiation(msg, now)
	}
	return h.consumeResponse(msg, now)
}

func (h *Handshaker) consumeInitiation(msg []byte, now time.Time) (Result, error) {
	// The responder's ephemeral is drawn only once the initiation is
	// accepted; newNoiseState reads it lazily.
	var ephemeral [32]byte
	defer clear(ephemeral[:])
	hs, err := newNoiseState(false, h.staticKeypair(), nil, nil, &ephemeral)
	if err != nil {
		return Result{}, err
	}
	payload, _, _, err := hs.ReadMessage(nil, msg[initiationNoiseStart:initiationNoiseEnd])
	if err != nil {
		return Result{}, fmt.Errorf("%w: initiation: %w", ErrDecrypt, err)
	}
	var public [32]byte
	if copy(public[:], hs.PeerStatic()) != len(public) || len(payload) != tai64n.Size {
		return Result{}, fmt.Errorf("%w: initiation fields", ErrDecrypt)
	}
	p, ok := h.peers[public]
	if !ok {
		return Result{}, ErrUnknownPeer
	}
	ts := tai64n.Timestamp(payload)
	if !ts.After(p.lastTimestamp) {
		return Result{}, ErrReplayedTimestamp
	}
	if since := now.Sub(p.lastInitiationConsumed); !p.lastInitiationConsumed.IsZero() && since >= 0 && since <= InitiationRate {
		return Result{}, ErrFlood
	}
	if err := hs.SetPresharedKey(p.psk[:]); err != nil {
		return Result{}, fmt.Errorf("preshared key: %w", err)
	}

	idx, err := h.indices.Allocate(public)
	if err != nil {
		return Result{}, err
	}
	if _, err := io.ReadFull(h.rand, ephemeral[:]); err != nil {
		h.indices.Free(idx)
		return Result{}, fmt.Errorf("%w: ephemeral key: %w", ErrRandom, err)
	}
	body, cs1, cs2, err := hs.WriteMessage(nil, nil)
	if err == nil && (len(body) != responseNoiseSize || cs1 == nil || cs2 == nil) {
		err = errors.New("unexpected noise response shape")
	}
	if err != nil {
		h.indices.Free(idx)
		return Result{}, fmt.Errorf("writing response: %w", err)
	}

	reply := make([]byte, MessageResponseSize)
	putHeader(reply, MessageResponseType, idx)
	copy(reply[offReceiver:offReceiver+4], msg[offSender:offSender+4])
	copy(reply[responseNoiseStart:responseNoiseEnd], body)
	p.cookies.addMACs(reply, now)

	p.lastTimestamp = ts
	p.lastInitiationConsumed = now
	return Result{
		Kind:  InitiationConsumed,
		Peer:  public,
		Reply: reply,
		Keypair: &Keypair{
			// Split's first CipherState is initiator→responder.
			Send:        cs2.UnsafeKey(),
			Receive:     cs1.UnsafeKey(),
			LocalIndex:  idx,
			RemoteIndex: sender(msg),
			Initiator:   false,
			Created:     now,
		},
	}, nil
}

func (h *Handshaker) consumeResponse(msg []byte, now time.Time) (Result, error) {
	idx := receiver(msg)
	p, err := h.peerByIndex(idx)
	if err != nil {
		return Result{}, err
	}
	if p.pending == nil || p.pending.localIndex != idx {
		return Result{}, fmt.Errorf("%w: %#x has no pending initiation", ErrUnknownIndex, idx)
	}
	hs, _, err := h.initiatorState(p, p.pending)
	if err != nil {
		return Result{}, err
	}
	payload, cs1, cs2, err := hs.ReadMessage(nil, msg[responseNoiseStart:responseNoiseEnd])
	if err != nil {
		return Result{}, fmt.Errorf("%w: response: %w", ErrDecrypt, err)
	}
	if len(payload) != 0 || cs1 == nil || cs2 == nil {
		return Result{}, fmt.Errorf("%w: response fields", ErrDecrypt)
	}
	// The index now names the session; it is the keypair's to free.
	p.pending.wipe()
	p.pending = nil
	return Result{
		Kind: ResponseConsumed,
		Peer: p.public,
		Keypair: &Keypair{
			Send:        cs1.UnsafeKey(),
			Receive:     cs2.UnsafeKey(),
			LocalIndex:  idx,
			RemoteIndex: sender(msg),
			Initiator:   true,
			Created:     now,
		},
	}, nil
}

func (h *Handshaker) consumeCookieReply(msg []byte, now time.Time) (Result, error) {
	idx := cookieReplyReceiverIndex(msg)
	p, err := h.peerByIndex(idx)
	if err != nil {
		return Result{}, err
	}
	if err := p.cookies.consumeReply(msg, now); err != nil {
		return Result{}, err
	}
	return Result{Kind: CookieConsumed, Peer: p.public}, nil
}

func (h *Handshaker) peerByIndex(idx uint32) (*peer, error) {
	public, ok := h.indices.Lookup(idx)
	if !ok {
		return nil, fmt.Errorf("%w: %#x", ErrUnknownIndex, idx)
	}
	p, ok := h.peers[public]
	if !ok {
		return nil, fmt.Errorf("%w: %#x belongs to a removed peer", ErrUnknownIndex, idx)
	}
	return p, nil
}
