// SPDX-License-Identifier: MIT

//go:build !wgbpfd_testhooks

package daemon

// TestHooks reports whether this build accepts test-only settings (such as
// a fast REKEY_AFTER_TIME). Production builds do not: build with
// -tags wgbpfd_testhooks for the namespace tests.
const TestHooks = false
