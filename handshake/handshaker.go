// SPDX-License-Identifier: MIT

// Package handshake implements WireGuard's handshake (Noise IKpsk2 on
// flynn/noise) and everything around it: message framing, mac1/mac2, cookie
// replies, TAI64N replay protection, per-source rate limiting and the table
// of local indices. It is pure: no sockets, and no clock but the now passed
// in, so the daemon owns I/O and timers and tests run without root.
package handshake

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

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
// concurrent use, and built for it: messages are processed in parallel, and
// no lock shared by all peers is held during public-key cryptography. Locks,
// always taken in this order: Handshaker.mu (the peer table, key changes;
// never held during a DH), a peer's mu (that peer's state for the whole
// handling of one message), then the leaves: Indices, the cookie checker's
// secret, the random source, the rate limiter.
type Handshaker struct {
	mu      sync.RWMutex
	id      atomic.Pointer[identity] // replaced, under mu, by SetPrivateKey
	rand    io.Reader                // safe for concurrent use
	peers   map[[32]byte]*peer
	indices *Indices
	limiter *ratelimiter.Limiter
}

// New returns a Handshaker for the given private key (all zeros: none yet;
// every handshake then fails with ErrNoPrivateKey). rand supplies ephemeral
// keys, indices, cookie secrets and nonces; nil means crypto/rand. Reads
// from rand are serialised, so it need not be safe for concurrent use.
func New(private [32]byte, rand io.Reader) *Handshaker {
	if rand == nil {
		rand = cryptoRand{}
	} else {
		rand = &lockedReader{r: rand}
	}
	h := &Handshaker{
		rand:    rand,
		peers:   make(map[[32]byte]*peer),
		indices: NewIndices(rand),
		limiter: ratelimiter.New(),
	}
	h.id.Store(newIdentity(private))
	return h
}

type cryptoRand struct{}

func (cryptoRand) Read(b []byte) (int, error) { return rand.Read(b) }

// lockedReader makes an injected random source safe for concurrent use.
type lockedReader struct {
	mu sync.Mutex
	r  io.Reader
}

func (l *lockedReader) Read(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Read(b)
}

// String never shows key material.
func (h *Handshaker) String() string {
	h.mu.RLock()
	n := len(h.peers)
	h.mu.RUnlock()
	return fmt.Sprintf("handshake.Handshaker{peers: %d, indices: %d}", n, h.indices.Len())
}

// GoString is String, so %#v cannot print the private key either.
func (h *Handshaker) GoString() string { return h.String() }

// PublicKey returns our static public key (zero without a private key).
func (h *Handshaker) PublicKey() [32]byte {
	return h.id.Load().public
}

// Indices is the table of local indices. Every completed handshake leaves
// its Keypair.LocalIndex allocated; the daemon frees it when the keypair dies.
func (h *Handshaker) Indices() *Indices { return h.indices }

// SetPrivateKey replaces our identity. Pending initiations are dropped (they
// were made under the old key), every peer's precomputed static-static DH
// is wiped, and a peer whose public key is our new one is removed, since a
// peer cannot be ourselves. A message being processed concurrently finishes
// under the identity it started with.
func (h *Handshaker) SetPrivateKey(private [32]byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	old := h.id.Load()
	if old.hasPrivate() && private == old.private {
		return
	}
	id := newIdentity(private)
	// Stored before any peer is locked: whoever holds a peer's lock and
	// still sees the old identity is done before the loop below visits it.
	h.id.Store(id)
	clear(old.private[:])
	for pub, p := range h.peers {
		p.mu.Lock()
		h.dropPending(p)
		p.wipeStaticShared()
		if id.hasPrivate() && pub == id.public {
			h.forgetLocked(p)
		}
		p.mu.Unlock()
	}
}

// AddPeer configures a peer; psk nil means no preshared key. The peer's
// static-static DH is computed on first use (or by Precompute).
func (h *Handshaker) AddPeer(public [32]byte, psk *[32]byte) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if id := h.id.Load(); id.hasPrivate() && public == id.public {
		return ErrOwnKey
	}
	if _, ok := h.peers[public]; ok {
		return ErrPeerExists
	}
	h.peers[public] = newPeer(public, psk)
	return nil
}

// Precompute computes the static-static DH of every peer that lacks it, so
// that no handshake pays for it; it stops early when ctx ends and returns
// how many it computed. Handshakes compute a missing one themselves, so
// calling this is optional (the daemon runs it in the background at start).
func (h *Handshaker) Precompute(ctx context.Context) int {
	h.mu.RLock()
	peers := make([]*peer, 0, len(h.peers))
	for _, p := range h.peers {
		peers = append(peers, p)
	}
	h.mu.RUnlock()
	n := 0
	for _, p := range peers {
		if ctx.Err() != nil {
			break
		}
		id := h.id.Load()
		if !id.hasPrivate() {
			break
		}
		p.mu.Lock()
		if !p.removed && p.ssFor != id {
			if _, err := h.staticSharedLocked(p, id); err == nil {
				n++
			}
		}
		p.mu.Unlock()
	}
	return n
}

// staticSharedLocked is p's static-static DH under id, cached in p unless
// id is no longer ours (then a concurrent SetPrivateKey has wiped, or is
// about to wipe, p's cache and nothing stale may be put back). p.mu must
// be held.
func (h *Handshaker) staticSharedLocked(p *peer, id *identity) ([32]byte, error) {
	if p.ssFor == id {
		return p.ss, nil
	}
	if p.removed || h.id.Load() != id {
		return computeStaticShared(id, p.public)
	}
	return p.staticShared(id)
}

// RemovePeer forgets a peer, wipes its keys and frees the index of its
// pending initiation. Indices of keypairs already handed out stay allocated
// until the daemon frees them with the keypairs; a late message to one gets
// ErrUnknownIndex.
func (h *Handshaker) RemovePeer(public [32]byte) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	p, ok := h.peers[public]
	if !ok {
		return ErrUnknownPeer
	}
	p.mu.Lock()
	h.forgetLocked(p)
	p.mu.Unlock()
	return nil
}

// forgetLocked removes p; h.mu and p.mu must be held. A message for p being
// processed concurrently sees p.removed and fails.
func (h *Handshaker) forgetLocked(p *peer) {
	h.dropPending(p)
	clear(p.psk[:])
	p.wipeStaticShared()
	p.removed = true
	delete(h.peers, p.public)
}

// SetPresharedKey changes (psk != nil) or removes (nil) a peer's PSK. A
// pending initiation completes with the new PSK: message 1 does not depend
// on it.
func (h *Handshaker) SetPresharedKey(public [32]byte, psk *[32]byte) error {
	h.mu.RLock()
	p, ok := h.peers[public]
	h.mu.RUnlock()
	if !ok {
		return ErrUnknownPeer
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.removed {
		return ErrUnknownPeer
	}
	if psk == nil {
		clear(p.psk[:])
	} else {
		p.psk = *psk
	}
	return nil
}

// dropPending forgets p's pending initiation; p.mu must be held.
func (h *Handshaker) dropPending(p *peer) {
	if p.pending == nil {
		return
	}
	h.indices.Free(p.pending.localIndex)
	p.pending.wipe()
	p.pending = nil
}

// lookupPeer returns the configured peer with this public key, or nil.
func (h *Handshaker) lookupPeer(public [32]byte) *peer {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.peers[public]
}

// CreateInitiation starts a handshake with a peer and returns message 1
// (148 bytes, with mac2 if the peer gave us a cookie in the last 120 s). It
// replaces any pending initiation to that peer.
func (h *Handshaker) CreateInitiation(public [32]byte, now time.Time) ([]byte, error) {
	for {
		id := h.id.Load()
		if !id.hasPrivate() {
			return nil, ErrNoPrivateKey
		}
		p := h.lookupPeer(public)
		if p == nil {
			return nil, ErrUnknownPeer
		}
		p.mu.Lock()
		msg, err, retry := h.createInitiationLocked(id, p, now)
		p.mu.Unlock()
		if !retry {
			return msg, err
		}
	}
}

// createInitiationLocked is CreateInitiation with p.mu held; retry means
// the peer or our identity changed since they were looked up.
func (h *Handshaker) createInitiationLocked(id *identity, p *peer, now time.Time) (msg []byte, err error, retry bool) {
	if p.removed || h.id.Load() != id {
		return nil, nil, true
	}
	h.dropPending(p)

	idx, err := h.indices.Allocate(p.public)
	if err != nil {
		return nil, err, false
	}
	pending := &pendingInitiation{id: id, localIndex: idx, timestamp: tai64n.Stamp(now)}
	if _, err := io.ReadFull(h.rand, pending.ephemeral[:]); err != nil {
		h.indices.Free(idx)
		return nil, fmt.Errorf("%w: ephemeral key: %w", ErrRandom, err), false
	}
	hs, dh, body, err := h.initiatorState(p, pending)
	if err != nil {
		h.indices.Free(idx)
		pending.wipe()
		return nil, err, false
	}
	dh.wipe(hs)

	msg = make([]byte, MessageInitiationSize)
	putHeader(msg, MessageInitiationType, idx)
	copy(msg[initiationNoiseStart:initiationNoiseEnd], body)
	p.cookies.addMACs(msg, now)
	p.pending = pending
	return msg, nil, false
}

// Consume processes one handshake message from src. underLoad is the
// caller's judgement (see LoadDetector); under load, initiations and
// responses must carry a valid mac2 (else Result.Reply is a cookie reply and
// the error ErrCookieRequired) and each source is rate limited. Consume may
// be called from many goroutines at once.
func (h *Handshaker) Consume(msg []byte, src netip.AddrPort, now time.Time, underLoad bool) (Result, error) {
	typ, err := messageType(msg)
	if err != nil {
		return Result{}, err
	}
	if typ == MessageCookieReplyType {
		return h.consumeCookieReply(msg, now)
	}
	id := h.id.Load()
	if !id.hasPrivate() {
		return Result{}, ErrNoPrivateKey
	}
	if !id.checker.checkMAC1(msg) {
		return Result{}, ErrBadMAC1
	}
	if underLoad {
		if !id.checker.checkMAC2(msg, src, now) {
			reply, err := id.checker.createReply(msg, src, now, h.rand)
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
		return h.consumeInitiation(id, msg, now)
	}
	return h.consumeResponse(msg, now)
}

// cachedStaticShared serves a responder's DH(our static, pub): the cached
// ss when pub is a configured peer's key, else ok false.
func (h *Handshaker) cachedStaticShared(id *identity, pub []byte) ([]byte, bool, error) {
	if len(pub) != 32 {
		return nil, false, nil
	}
	p := h.lookupPeer([32]byte(pub))
	if p == nil {
		return nil, false, nil
	}
	p.mu.Lock()
	ss, err := h.staticSharedLocked(p, id)
	p.mu.Unlock()
	if err != nil {
		return nil, false, err
	}
	out := bytes.Clone(ss[:])
	clear(ss[:])
	return out, true, nil
}

func (h *Handshaker) consumeInitiation(id *identity, msg []byte, now time.Time) (Result, error) {
	// The responder's ephemeral is drawn only once the initiation is
	// accepted; newNoiseState reads it lazily.
	var ephemeral [32]byte
	defer clear(ephemeral[:])
	dh := &dhFunc{id: id, staticShared: func(pub []byte) ([]byte, bool, error) {
		return h.cachedStaticShared(id, pub)
	}}
	hs, err := newNoiseState(false, dh, nil, nil, &ephemeral)
	if err != nil {
		return Result{}, err
	}
	defer dh.wipe(hs)
	payload, _, _, err := hs.ReadMessage(nil, msg[initiationNoiseStart:initiationNoiseEnd])
	if err != nil {
		return Result{}, fmt.Errorf("%w: initiation: %w", ErrDecrypt, err)
	}
	var public [32]byte
	if copy(public[:], hs.PeerStatic()) != len(public) || len(payload) != tai64n.Size {
		return Result{}, fmt.Errorf("%w: initiation fields", ErrDecrypt)
	}
	p := h.lookupPeer(public)
	if p == nil {
		return Result{}, ErrUnknownPeer
	}
	// From here to the end this peer's state changes atomically: of two
	// copies of one initiation processed at once, exactly one is answered.
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.removed {
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
	// Held throughout: of two responses to one initiation, one completes.
	p, err := h.lockPeerByIndex(idx)
	if err != nil {
		return Result{}, err
	}
	defer p.mu.Unlock()
	if p.pending == nil || p.pending.localIndex != idx {
		return Result{}, fmt.Errorf("%w: %#x has no pending initiation", ErrUnknownIndex, idx)
	}
	hs, dh, _, err := h.initiatorState(p, p.pending)
	if err != nil {
		return Result{}, err
	}
	defer dh.wipe(hs)
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
	p, err := h.lockPeerByIndex(idx)
	if err != nil {
		return Result{}, err
	}
	defer p.mu.Unlock()
	if err := p.cookies.consumeReply(msg, now); err != nil {
		return Result{}, err
	}
	return Result{Kind: CookieConsumed, Peer: p.public}, nil
}

// lockPeerByIndex returns the live peer owning idx with its lock held; the
// caller unlocks it.
func (h *Handshaker) lockPeerByIndex(idx uint32) (*peer, error) {
	p, err := h.peerByIndex(idx)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	if p.removed {
		p.mu.Unlock()
		return nil, fmt.Errorf("%w: %#x belongs to a removed peer", ErrUnknownIndex, idx)
	}
	return p, nil
}

func (h *Handshaker) peerByIndex(idx uint32) (*peer, error) {
	public, ok := h.indices.Lookup(idx)
	if !ok {
		return nil, fmt.Errorf("%w: %#x", ErrUnknownIndex, idx)
	}
	p := h.lookupPeer(public)
	if p == nil {
		return nil, fmt.Errorf("%w: %#x belongs to a removed peer", ErrUnknownIndex, idx)
	}
	return p, nil
}
