// SPDX-License-Identifier: MIT

package daemon

import (
	"fmt"
	"strings"
	"time"

	"github.com/wgbpfd/wgbpfd/config"
	"github.com/wgbpfd/wgbpfd/dataplane"
)

// policyInfo names the policy object in use, for the log and the metrics.
type policyInfo struct {
	File   string
	Digest string   // the object's SHA-256, first 12 hex digits
	Hooks  []string // "egress", "ingress"
}

// peerPublisher is the part of the kernel that tells policies about peers
// (public key, id, last handshake); the real data plane has it.
type peerPublisher interface {
	SetPeerInfo(pub [32]byte, id uint32, lastHandshake time.Time) error
	DeletePeerInfo(pub [32]byte) error
}

func (k *dataplaneKernel) SetPeerInfo(pub [32]byte, id uint32, lastHandshake time.Time) error {
	return k.dp.SetPeerInfo(pub, id, lastHandshake)
}

func (k *dataplaneKernel) DeletePeerInfo(pub [32]byte) error { return k.dp.DeletePeerInfo(pub) }

// publishPeerLocked tells policies about p: at its start and after each
// handshake (failover policies read the handshake's age).
func (d *device) publishPeerLocked(p *peer) {
	if pp, ok := d.k.(peerPublisher); ok {
		if err := pp.SetPeerInfo([32]byte(p.pub), p.id, p.lastHandshake); err != nil {
			d.log.Warn("policy peer view", "peer", p.pub.String(), "err", err)
		}
	}
}

func (d *device) unpublishPeerLocked(p *peer) {
	if pp, ok := d.k.(peerPublisher); ok {
		if err := pp.DeletePeerInfo([32]byte(p.pub)); err != nil {
			d.log.Warn("policy peer view", "peer", p.pub.String(), "err", err)
		}
	}
}

// loadPolicy loads the object cfg names (nil with no Policy); the error
// says which file, where it was named, and why it was refused.
func (k *dataplaneKernel) loadPolicy(cfg *config.Config) (*dataplane.Policy, error) {
	in := &cfg.Interface
	if in.Policy == "" {
		return nil, nil
	}
	p, err := k.dp.LoadPolicy(in.Policy)
	if err != nil {
		where := cfg.Name
		if in.PolicyLine > 0 {
			where = fmt.Sprintf("%s:%d", cfg.Name, in.PolicyLine)
		}
		return nil, fmt.Errorf("%s: Policy %s: %w", where, in.Policy, err)
	}
	return p, nil
}

// installPolicy puts p in place of the policy in use (nil: none), and
// reports what is in use now. A p with the same file and content as the
// policy in use is dropped and the old one stays: nothing to swap.
func (k *dataplaneKernel) installPolicy(p *dataplane.Policy) (info policyInfo, changed bool, err error) {
	if k == nil {
		return policyInfo{}, false, nil // no data plane (tests); p is nil then
	}
	cur := k.policy
	if p != nil && cur != nil && p.File == cur.File && p.Digest == cur.Digest {
		_ = p.Close()
		return infoOf(cur), false, nil
	}
	if p == nil && cur == nil {
		return policyInfo{}, false, nil
	}
	old, err := k.dp.InstallPolicy(p)
	if err != nil {
		if p != nil {
			_ = p.Close()
		}
		return infoOf(cur), false, err
	}
	_ = old.Close()
	k.policy = p
	return infoOf(p), true, nil
}

func infoOf(p *dataplane.Policy) policyInfo {
	if p == nil {
		return policyInfo{}
	}
	return policyInfo{File: p.File, Digest: p.Digest, Hooks: p.Hooks()}
}

// logPolicy says which policy is in use after a change.
func (r *running) logPolicy(info policyInfo) {
	if info.File == "" {
		r.log.Info("no policy")
		return
	}
	r.log.Info("policy loaded", "file", info.File, "sha256", info.Digest, "hooks", strings.Join(info.Hooks, ","))
}
