// SPDX-License-Identifier: MIT

package dataplane

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// ErrReplay is CommitReceive's answer for a counter the keypair's window
// already holds, or that is older than the window.
var ErrReplay = errors.New("counter already received")

// CommitReceive marks counter as received in the replay window of the
// keypair with localIndex: the one window the ingress program uses too, so
// that a message is accepted once whichever path (the data plane, or the
// daemon's socket for fragments and the like) opens it first. Call it after
// the message authenticated and before delivering it or moving the endpoint.
// It returns nil for a new counter, an error matching ErrReplay for a
// replay (counted as a replay drop), and one matching unix.ENOENT when the
// kernel holds no such keypair.
func (d *Dataplane) CommitReceive(localIndex uint32, counter uint64) error {
	args := wgbpfWgCommitArgs{LocalIndex: localIndex, Counter: counter}
	if _, err := d.objs.WgCommit.Run(&ebpf.RunOptions{Context: &args, ContextOut: &args}); err != nil {
		return fmt.Errorf("commit counter of session %d: %w", localIndex, err)
	}
	switch args.Err {
	case 0:
		return nil
	case -int32(unix.EALREADY):
		return fmt.Errorf("session %d, counter %d: %w", localIndex, counter, ErrReplay)
	default:
		return fmt.Errorf("commit counter of session %d: %w", localIndex, errnoError(args.Err))
	}
}
