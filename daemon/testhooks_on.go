// SPDX-License-Identifier: MIT

//go:build wgbpfd_testhooks

package daemon

// TestHooks reports whether this build accepts test-only settings. This one,
// built with -tags wgbpfd_testhooks for the namespace tests, does.
const TestHooks = true
