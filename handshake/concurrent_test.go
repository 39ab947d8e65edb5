// SPDX-License-Identifier: MIT

package handshake

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flynn/noise"
	"golang.org/x/crypto/curve25519"
)

// star is one responder and n initiators that each know it.
type star struct {
	r     *Handshaker
	rPub  [32]byte
	i     []*Handshaker
	iPubs [][32]byte
	src   []netip.AddrPort
}

func newStar(t testing.TB, seed uint64, n int) *star {
	t.Helper()
	keys := seeded(seed)
	rPriv, rPub := keyFrom(keys)
	s := &star{r: New(rPriv, seeded(seed+1)), rPub: rPub}
	for k := range n {
		priv, pub := keyFrom(keys)
		h := New(priv, seeded(seed+2+uint64(k)))
		if err := h.AddPeer(rPub, nil); err != nil {
			t.Fatal(err)
		}
		if err := s.r.AddPeer(pub, nil); err != nil {
			t.Fatal(err)
		}
		s.i = append(s.i, h)
		s.iPubs = append(s.iPubs, pub)
		s.src = append(s.src, netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, byte(k >> 8), byte(k)}), 51820))
	}
	return s
}

// TestConcurrentConsume runs many handshakes through one responder from
// many goroutines at once, each initiation delivered several times, while
// the peer table changes: every handshake completes exactly once with
// matching keys, and the indices account for every keypair. Run with -race.
func TestConcurrentConsume(t *testing.T) {
	const (
		initiators = 16
		rounds     = 3
		copies     = 3 // deliveries of each initiation, concurrently
	)
	s := newStar(t, 100, initiators)
	stop := make(chan struct{})
	var churn sync.WaitGroup
	churn.Add(1)
	go func() { // unrelated peer-table and PSK changes during the flood
		defer churn.Done()
		_, other := keyFrom(seeded(999))
		for k := 0; ; k++ {
			select {
			case <-stop:
				return
			default:
			}
			_ = s.r.AddPeer(other, nil)
			_ = s.r.SetPresharedKey(other, &[32]byte{byte(k)})
			s.r.Precompute(context.Background())
			_ = s.r.RemovePeer(other)
			_ = s.r.String()
		}
	}()

	var completed, duplicates atomic.Int64
	for round := range rounds {
		now := t0.Add(time.Duration(round) * time.Second)
		var wg sync.WaitGroup
		errs := make(chan error, initiators*copies)
		for k := range initiators {
			msg, err := s.i[k].CreateInitiation(s.rPub, now)
			if err != nil {
				t.Fatal(err)
			}
			results := make(chan Result, copies)
			var inner sync.WaitGroup
			for range copies {
				inner.Add(1)
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer inner.Done()
					res, err := s.r.Consume(msg, s.src[k], now, false)
					switch {
					case err == nil:
						results <- res
					case errors.Is(err, ErrReplayedTimestamp) || errors.Is(err, ErrFlood):
						duplicates.Add(1)
					default:
						errs <- fmt.Errorf("initiator %d: %w", k, err)
					}
				}()
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				inner.Wait()
				close(results)
				n := 0
				for rres := range results {
					n++
					ires, err := s.i[k].Consume(rres.Reply, netip.AddrPortFrom(netip.MustParseAddr("192.0.2.2"), 51820), now, false)
					if err != nil {
						errs <- fmt.Errorf("initiator %d consuming response: %w", k, err)
						continue
					}
					ik, rk := ires.Keypair, rres.Keypair
					if rres.Peer != s.iPubs[k] || ik.Send != rk.Receive || ik.Receive != rk.Send ||
						ik.LocalIndex != rk.RemoteIndex || ik.RemoteIndex != rk.LocalIndex {
						errs <- fmt.Errorf("initiator %d: keypairs do not pair up", k)
					}
					completed.Add(1)
				}
				if n != 1 {
					errs <- fmt.Errorf("initiator %d: %d of %d copies answered, want exactly 1", k, n, copies)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	}
	close(stop)
	churn.Wait()
	if got, want := completed.Load(), int64(initiators*rounds); got != want {
		t.Fatalf("%d handshakes completed, want %d", got, want)
	}
	if got, want := duplicates.Load(), int64(initiators*rounds*(copies-1)); got != want {
		t.Fatalf("%d duplicate initiations refused, want %d", got, want)
	}
	// One local index per responder keypair: the pending ones were replaced.
	if got, want := s.r.Indices().Len(), initiators*rounds; got != want {
		t.Fatalf("responder holds %d indices, want %d", got, want)
	}
}

// TestConcurrentResponsesCompleteOnce: copies of one response processed at
// once complete the pending handshake exactly once.
func TestConcurrentResponsesCompleteOnce(t *testing.T) {
	p := newPair(t, 110, nil, nil)
	res, err := p.r.Consume(p.initiate(t, t0), srcInit, t0, false)
	if err != nil {
		t.Fatal(err)
	}
	var ok, unknown atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := p.i.Consume(res.Reply, srcResp, t0, false)
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, ErrUnknownIndex):
				unknown.Add(1)
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 1 || unknown.Load() != 7 {
		t.Fatalf("%d completed, %d refused; want 1 and 7", ok.Load(), unknown.Load())
	}
}

// TestConcurrentCookiesUnderLoad: under load, concurrent initiations without
// mac2 all get cookie replies, made with one secret.
func TestConcurrentCookiesUnderLoad(t *testing.T) {
	s := newStar(t, 120, 8)
	var wg sync.WaitGroup
	replies := make([][]byte, len(s.i))
	for k := range s.i {
		msg, err := s.i[k].CreateInitiation(s.rPub, t0)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := s.r.Consume(msg, s.src[k], t0, true)
			if !errors.Is(err, ErrCookieRequired) || res.Kind != CookieReplyToSend {
				t.Errorf("initiator %d: %v, %v", k, res.Kind, err)
			}
			replies[k] = res.Reply
		}()
	}
	wg.Wait()
	for k := range s.i {
		if _, err := s.i[k].Consume(replies[k], srcResp, t0, false); err != nil {
			t.Fatalf("initiator %d consuming cookie: %v", k, err)
		}
		retry, err := s.i[k].CreateInitiation(s.rPub, t0.Add(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if res, err := s.r.Consume(retry, s.src[k], t0.Add(time.Second), true); err != nil || res.Kind != InitiationConsumed {
			t.Fatalf("initiator %d with mac2: %v", k, err)
		}
	}
}

// TestStaticSharedLifecycle: the static-static DH is computed once per peer
// and identity, and wiped when the peer goes or our key changes.
func TestStaticSharedLifecycle(t *testing.T) {
	s := newStar(t, 130, 3)
	if n := s.r.Precompute(context.Background()); n != 3 {
		t.Fatalf("precomputed %d, want 3", n)
	}
	if n := s.r.Precompute(context.Background()); n != 0 {
		t.Fatalf("precomputed %d again, want 0", n)
	}
	p0 := s.r.peers[s.iPubs[0]]
	want, _ := curve25519.X25519(s.r.id.Load().private[:], s.iPubs[0][:])
	if [32]byte(want) != p0.ss {
		t.Fatal("cached static-static DH is wrong")
	}
	if err := s.r.RemovePeer(s.iPubs[0]); err != nil {
		t.Fatal(err)
	}
	if p0.ss != [32]byte{} || p0.ssFor != nil || !p0.removed {
		t.Fatal("removed peer's static-static DH not wiped")
	}
	p1 := s.r.peers[s.iPubs[1]]
	old := s.r.id.Load()
	newPriv, _ := keyFrom(seeded(131))
	s.r.SetPrivateKey(newPriv)
	if p1.ss != [32]byte{} || p1.ssFor != nil {
		t.Fatal("static-static DH survived a key change")
	}
	if old.private != [32]byte{} {
		t.Fatal("old private key not wiped")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if n := s.r.Precompute(ctx); n != 0 {
		t.Fatalf("precomputed %d after cancel", n)
	}
}

// TestLoadDetectorConcurrent: workers sharing one detector (-race).
func TestLoadDetectorConcurrent(t *testing.T) {
	var d LoadDetector
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range 100 {
				d.UnderLoad(k*w, 1024, t0.Add(time.Duration(k)*time.Millisecond))
			}
		}()
	}
	wg.Wait()
	if !d.UnderLoad(0, 1024, t0.Add(1050*time.Millisecond)) {
		t.Fatal("load not remembered after concurrent updates")
	}
}

// BenchmarkX25519 shows why dh.go exists: flynn/noise's DH25519 (x/crypto
// curve25519.X25519) costs two scalar multiplications per DH, ours one.
func BenchmarkX25519(b *testing.B) {
	priv, _ := keyFrom(seeded(140))
	_, pub := keyFrom(seeded(141))
	b.Run("flynn-DH25519", func(b *testing.B) {
		for b.Loop() {
			if _, err := noise.DH25519.DH(priv[:], pub[:]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("dhFunc-static", func(b *testing.B) {
		d := &dhFunc{id: newIdentity(priv)}
		for b.Loop() {
			if _, err := d.DH(d.id.marker, pub[:]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("dhFunc-static-cached", func(b *testing.B) {
		s := newStar(b, 142, 1)
		id := s.r.id.Load()
		d := &dhFunc{id: id, staticShared: func(pub []byte) ([]byte, bool, error) { return s.r.cachedStaticShared(id, pub) }}
		for b.Loop() {
			if _, err := d.DH(id.marker, s.iPubs[0][:]); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkConsumeInitiation: a responder answering valid initiations from
// many peers, serially and from GOMAXPROCS goroutines.
func BenchmarkConsumeInitiation(b *testing.B) {
	for _, parallel := range []bool{false, true} {
		b.Run(fmt.Sprintf("parallel=%t", parallel), func(b *testing.B) {
			const n = 64
			s := newStar(b, 150, n)
			s.r.Precompute(context.Background())
			// Initiations made beforehand, one per peer per 25 ms step.
			steps := b.N/n + 1
			msgs := make([][]byte, 0, steps*n)
			for step := range steps {
				now := t0.Add(time.Duration(step) * 25 * time.Millisecond)
				for k := range n {
					m, err := s.i[k].CreateInitiation(s.rPub, now)
					if err != nil {
						b.Fatal(err)
					}
					msgs = append(msgs, m)
				}
			}
			var next atomic.Int64
			consume := func() {
				j := int(next.Add(1) - 1)
				step, k := j/n, j%n
				now := t0.Add(time.Duration(step) * 25 * time.Millisecond)
				if _, err := s.r.Consume(msgs[j], s.src[k], now, false); err != nil && !errors.Is(err, ErrFlood) && !errors.Is(err, ErrReplayedTimestamp) {
					b.Error(err)
				}
			}
			b.ResetTimer()
			if parallel {
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						consume()
					}
				})
			} else {
				for range b.N {
					consume()
				}
			}
		})
	}
}
