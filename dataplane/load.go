package dataplane

import (
	"errors"
	"fmt"
	"sync"

	"github.com/cilium/ebpf"
)

// Dataplane is one loaded instance of wgbpfd's BPF object: its programs and
// maps. Attachment (attach.go), keys (keys.go), peers (peers.go) and events
// (events.go) are methods on it.
type Dataplane struct {
	objs wgbpfObjects

	att    *attachment // set by Attach (attach.go)
	evOnce sync.Once   // opens ev on the first ReadEvent (events.go)
	ev     *eventReader
	evErr  error

	pinDir string // set by Pin (pin.go)

	policy     *Policy // installed by InstallPolicy (policy.go)
	backend    Backend // chacha20poly1305's (backend.go), chosen by Load
	backendWhy string
}

// Load loads the BPF object into the kernel. The verifier log of a failed load
// is part of the returned error.
func Load() (*Dataplane, error) {
	d := &Dataplane{}
	if err := loadWgbpfObjects(&d.objs, nil); err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return nil, fmt.Errorf("loading BPF objects: %+v", ve)
		}
		return nil, fmt.Errorf("loading BPF objects: %w", err)
	}
	// The ingress hook's own program, reached by a tail call (policy.h).
	if err := d.objs.PolicyDeliverProg.Update(uint32(0), d.objs.WgPolicyDeliver, ebpf.UpdateAny); err != nil {
		_ = d.objs.Close()
		return nil, fmt.Errorf("loading BPF objects: policy delivery: %w", err)
	}
	b, why, err := chooseBackend(d.objs.WgProbe)
	if err != nil {
		_ = d.objs.Close()
		return nil, fmt.Errorf("choosing the chacha20poly1305 backend: %w", err)
	}
	d.backend, d.backendWhy = b, why
	return d, nil
}

// Close detaches the packet path and releases the programs and maps
// (pinned ones stay pinned).
func (d *Dataplane) Close() error {
	return errors.Join(d.closeEvents(), d.detach(), d.Unpin(), d.policy.Close(), d.objs.Close())
}
