// SPDX-License-Identifier: MIT

// Package timers implements WireGuard's per-peer timer rules (whitepaper §6,
// the kernel module's timers.c) as a pure state machine with an injected
// clock and jitter source.
//
// In wgbpfd the data plane runs in the kernel, so the daemon does not see
// each packet. Instead it reports observations — times at which data or any
// authenticated packet was last sent or received (polled from the data
// plane), handshake and session events, the send counter — and calls Tick
// with the current time. Tick returns the actions that are due
// (SendInitiation, SendKeepalive, ZeroKeys, GiveUp) and assumes the daemon
// performs them at that time: an initiation or keepalive returned by Tick
// counts as sent without being reported back.
//
// Observations carry their own timestamps and may arrive in any order
// within a poll; an observation not newer than the last of its kind is
// ignored, so the daemon may report the same polled timestamp every tick.
// Timers are kept as deadlines, so ticking late only delays actions to the
// next Tick; NextDeadline tells the daemon when to tick next.
package timers
