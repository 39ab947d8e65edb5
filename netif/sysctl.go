// SPDX-License-Identifier: MIT

package netif

import (
	"bytes"
	"fmt"
	"os"
)

// sysctlChange is one /proc/sys value we changed and how to put it back.
type sysctlChange struct {
	path, old, new string
	// unlessNeeded, if set, is asked at teardown whether something else
	// still depends on the new value; if so the value is left as it is.
	unlessNeeded func() (bool, error)
}

// readSysctl reads a /proc/sys value without its trailing newline. /proc/sys
// resolves net.* in the network namespace of the calling thread.
func readSysctl(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read sysctl %s: %w", path, err)
	}
	return string(bytes.TrimSpace(b)), nil
}

// writeSysctl writes value to a /proc/sys file.
func writeSysctl(path, value string) error {
	if err := os.WriteFile(path, []byte(value+"\n"), 0o644); err != nil {
		return fmt.Errorf("write sysctl %s=%s: %w", path, value, err)
	}
	return nil
}

// setSysctl sets path to value and returns the change to undo, or nil if
// the value was already set (then there is nothing of ours to undo).
func setSysctl(path, value string) (*sysctlChange, error) {
	old, err := readSysctl(path)
	if err != nil {
		return nil, err
	}
	if old == value {
		return nil, nil
	}
	if err := writeSysctl(path, value); err != nil {
		return nil, err
	}
	return &sysctlChange{path: path, old: old, new: value}, nil
}

// restore puts the old value back if the current value is still ours and
// nothing else needs it.
func (c sysctlChange) restore() error {
	cur, err := readSysctl(c.path)
	if err != nil {
		return err
	}
	if cur != c.new {
		return nil // someone changed it after us; theirs now
	}
	if c.unlessNeeded != nil {
		needed, err := c.unlessNeeded()
		if err != nil {
			return fmt.Errorf("restore sysctl %s: %w", c.path, err)
		}
		if needed {
			return nil
		}
	}
	return writeSysctl(c.path, c.old)
}
