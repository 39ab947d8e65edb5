// SPDX-License-Identifier: MIT

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

	pinDir   string    // set by Pin (pin.go) or Adopt (persist.go)
	identity *ebpf.Map // pinned identity record (persist.go)
	peerKeys *ebpf.Map // pinned peer id → public key (persist.go)

	policy     *Policy // installed by InstallPolicy (policy.go)
	backend    Backend // chacha20poly1305's (backend.go), chosen by Load
	backendWhy string
}

// Load loads the BPF object into the kernel. The verifier log of a failed load
// is part of the returned error.
func Load() (*Dataplane, error) {
	d := &Dataplane{}
	spec, err := loadSpec()
	if err != nil {
		return nil, err
	}
	if err := spec.LoadAndAssign(&d.objs, nil); err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return nil, fmt.Errorf("loading BPF objects: %+v", ve)
		}
		return nil, fmt.Errorf("loading BPF objects: %w", err)
	}
	if err := d.prepareObjects(); err != nil {
		_ = d.objs.Close()
		return nil, err
	}
	return d, nil
}

// prepareObjects does what every load path needs once the objects are in
// the kernel: the ingress hook's own program goes into its prog array
// (policy.h), and the chacha20poly1305 backend for new keypairs is chosen.
// (A keypair keeps the backend it was installed with: wg_keys.backend.)
func (d *Dataplane) prepareObjects() error {
	if err := d.objs.PolicyDeliverProg.Update(uint32(0), d.objs.WgPolicyDeliver, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("loading BPF objects: policy delivery: %w", err)
	}
	b, why, err := chooseBackend(d.objs.WgProbe)
	if err != nil {
		return fmt.Errorf("choosing the chacha20poly1305 backend: %w", err)
	}
	d.backend, d.backendWhy = b, why
	return nil
}

// Close unpins everything, detaches the packet path and releases the
// programs and maps: the data plane is gone (a stop).
func (d *Dataplane) Close() error {
	return errors.Join(d.closeEvents(), d.Unpin(), d.detach(), d.policy.Close(), d.closeMaps())
}

// Release lets go of the data plane and leaves it running: links, hop,
// interface configuration and pinned maps stay for a successor (a
// planned restart). Without pins it is the same as Close.
func (d *Dataplane) Release() error {
	if d.pinDir == "" {
		return d.Close()
	}
	return errors.Join(d.closeEvents(), d.release(), d.policy.Close(), d.closeMaps())
}

func (d *Dataplane) closeMaps() error {
	var errs []error
	for _, m := range []*ebpf.Map{d.identity, d.peerKeys} {
		if m != nil {
			errs = append(errs, m.Close())
		}
	}
	d.identity, d.peerKeys = nil, nil
	return errors.Join(append(errs, d.objs.Close())...)
}

// loadSpec is the embedded object's collection spec, as this build loads
// it (testLayoutChange alters it in builds made to test upgrades).
func loadSpec() (*ebpf.CollectionSpec, error) {
	spec, err := loadWgbpf()
	if err != nil {
		return nil, fmt.Errorf("reading the BPF object: %w", err)
	}
	testLayoutChange(spec)
	return spec, nil
}
