// SPDX-License-Identifier: MIT

package dataplane

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/cilium/ebpf/ringbuf"
)

// EventType says what the packet path needs the daemon to know.
type EventType uint32

// Event types (enum wg_event_type, bpf/lib/events.h).
const (
	// EventHandshakeNeeded: a packet for the peer found no usable keypair
	// and was left in the TUN. At most one a second per peer.
	EventHandshakeNeeded EventType = 1
	// EventRekeyNeeded: the initiator's keypair LocalIndex passed
	// REKEY_AFTER_TIME or REKEY_AFTER_MESSAGES. At most one a second per peer.
	EventRekeyNeeded EventType = 2
	// EventKeypairConfirmed: the first packet on the peer's Next keypair
	// arrived; it is now Current and the old Current is Previous.
	EventKeypairConfirmed EventType = 3
	// EventEndpointChanged: an authenticated packet came from Endpoint,
	// which is now the peer's endpoint.
	EventEndpointChanged EventType = 4
)

func (t EventType) String() string {
	switch t {
	case EventHandshakeNeeded:
		return "handshake-needed"
	case EventRekeyNeeded:
		return "rekey-needed"
	case EventKeypairConfirmed:
		return "keypair-confirmed"
	case EventEndpointChanged:
		return "endpoint-changed"
	}
	return fmt.Sprintf("event(%d)", uint32(t))
}

// Event is one message from the packet path.
type Event struct {
	Type       EventType
	PeerID     uint32
	LocalIndex uint32         // keypair concerned, 0 if none
	Endpoint   netip.AddrPort // EventEndpointChanged only
	Time       time.Time
}

// eventReader serialises readers of the ring (ringbuf.Reader is not meant
// for concurrent reads).
type eventReader struct {
	mu sync.Mutex
	r  *ringbuf.Reader
}

// ReadEvent blocks until the next event or until ctx is done. Events are
// lost, not queued forever, when the daemon does not read them (256 KiB).
func (d *Dataplane) ReadEvent(ctx context.Context) (Event, error) {
	d.evOnce.Do(func() {
		r, err := ringbuf.NewReader(d.objs.Events)
		d.ev = &eventReader{r: r}
		d.evErr = err
	})
	if d.evErr != nil {
		return Event{}, fmt.Errorf("opening the event ring: %w", d.evErr)
	}
	e := d.ev
	e.mu.Lock()
	defer e.mu.Unlock()
	for {
		if err := ctx.Err(); err != nil {
			return Event{}, err
		}
		dl, _ := ctx.Deadline()
		e.r.SetDeadline(dl)
		// Flush wakes the blocked Read when ctx ends.
		stop := context.AfterFunc(ctx, func() { e.r.Flush() })
		rec, err := e.r.Read()
		stop()
		switch {
		case err == nil:
		case errors.Is(err, ringbuf.ErrFlushed):
			continue // loop checks ctx
		case errors.Is(err, ringbuf.ErrClosed):
			return Event{}, fmt.Errorf("reading events: %w", err)
		case errors.Is(err, os.ErrDeadlineExceeded):
			return Event{}, context.DeadlineExceeded
		default:
			if ctx.Err() != nil {
				return Event{}, ctx.Err()
			}
			return Event{}, fmt.Errorf("reading events: %w", err)
		}
		var v wgEvent
		if err := binary.Read(bytes.NewReader(rec.RawSample), binary.NativeEndian, &v); err != nil {
			return Event{}, fmt.Errorf("decoding event: %w", err)
		}
		return Event{
			Type:       EventType(v.Type),
			PeerID:     v.PeerId,
			LocalIndex: v.LocalIndex,
			Endpoint:   endpointFromBPF(v.Endpoint),
			Time:       bootTime(v.TimeNs),
		}, nil
	}
}

// closeEvents releases the ring reader, waking a blocked ReadEvent. It may
// run while ReadEvent does: the Once orders it after the reader's opening
// (and makes a ReadEvent that never opened one fail from now on).
func (d *Dataplane) closeEvents() error {
	d.evOnce.Do(func() { d.evErr = ringbuf.ErrClosed })
	if d.ev == nil || d.ev.r == nil {
		return nil
	}
	return d.ev.r.Close()
}
