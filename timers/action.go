// SPDX-License-Identifier: MIT

package timers

import "fmt"

// Kind is what the daemon must do.
type Kind uint8

const (
	// SendInitiation: create and send a handshake initiation.
	SendInitiation Kind = iota + 1
	// SendKeepalive: send an empty data packet on the current keypair.
	SendKeepalive
	// ZeroKeys: erase every keypair and handshake state of the peer.
	ZeroKeys
	// GiveUp: the handshake did not complete; drop the packets queued for
	// the peer. Retransmissions have stopped.
	GiveUp
)

func (k Kind) String() string {
	switch k {
	case SendInitiation:
		return "SendInitiation"
	case SendKeepalive:
		return "SendKeepalive"
	case ZeroKeys:
		return "ZeroKeys"
	case GiveUp:
		return "GiveUp"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Reason says which rule produced an action, for logs and tests.
type Reason uint8

const (
	// ReasonWanted: WantHandshake (a packet with no session).
	ReasonWanted Reason = iota + 1
	// ReasonRetry: the previous initiation got no response within
	// RekeyTimeout plus jitter.
	ReasonRetry
	// ReasonNoReply: data was sent and nothing came back within
	// NoReplyTimeout plus jitter.
	ReasonNoReply
	// ReasonRekeyAfterTime: data sent on a keypair we initiated that is
	// older than RekeyAfterTime.
	ReasonRekeyAfterTime
	// ReasonRekeyAfterMessages: the send counter passed RekeyAfterMessages.
	ReasonRekeyAfterMessages
	// ReasonRekeyOnReceive: data received on a keypair we initiated that
	// is older than LastMinuteRekeyAge.
	ReasonRekeyOnReceive
	// ReasonNoSession: a keepalive was due but there is no valid keypair
	// to send it with, so a handshake is started instead.
	ReasonNoSession
	// ReasonPassive: data was received and nothing sent for
	// KeepaliveTimeout.
	ReasonPassive
	// ReasonPersistent: the persistent keepalive interval elapsed (or the
	// interval was just turned on).
	ReasonPersistent
	// ReasonConfirm: we completed a handshake as initiator; the responder
	// needs a packet on the new keypair to start using it.
	ReasonConfirm
	// ReasonExpired: ZeroKeysAfter elapsed.
	ReasonExpired
	// ReasonMaxAttempts: MaxHandshakeRetries retransmissions went
	// unanswered.
	ReasonMaxAttempts
)

var reasonNames = [...]string{
	ReasonWanted:             "wanted",
	ReasonRetry:              "retry",
	ReasonNoReply:            "no-reply",
	ReasonRekeyAfterTime:     "rekey-after-time",
	ReasonRekeyAfterMessages: "rekey-after-messages",
	ReasonRekeyOnReceive:     "rekey-on-receive",
	ReasonNoSession:          "no-session",
	ReasonPassive:            "passive",
	ReasonPersistent:         "persistent",
	ReasonConfirm:            "confirm",
	ReasonExpired:            "expired",
	ReasonMaxAttempts:        "max-attempts",
}

func (r Reason) String() string {
	if int(r) < len(reasonNames) && reasonNames[r] != "" {
		return reasonNames[r]
	}
	return fmt.Sprintf("Reason(%d)", uint8(r))
}

// Action is one thing Tick asks the daemon to do now.
type Action struct {
	Kind   Kind
	Reason Reason
}

func (a Action) String() string { return a.Kind.String() + "(" + a.Reason.String() + ")" }
