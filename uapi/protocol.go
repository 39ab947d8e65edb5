// SPDX-License-Identifier: MIT

package uapi

import "syscall"

// Constants fixed by the protocol and by the tools that speak it.
const (
	// SocketDir is where wg(8), wgctrl and wireguard-go look for
	// userspace interfaces.
	SocketDir = "/var/run/wireguard"
	// SocketSuffix follows the interface name in the socket file name.
	SocketSuffix = ".sock"

	// ProtocolVersion is the only protocol_version that exists.
	ProtocolVersion = 1

	// KeyLen is the length of every key (Curve25519 and preshared).
	KeyLen = 32

	// MaxIfNameLen is IFNAMSIZ-1: the longest Linux interface name.
	MaxIfNameLen = 15
)

// Request lines.
const (
	opGet = "get=1"
	opSet = "set=1"
)

// Keys of the protocol. Device keys come before the first public_key, peer
// keys after it.
const (
	keyPrivateKey   = "private_key"
	keyListenPort   = "listen_port"
	keyFwmark       = "fwmark"
	keyReplacePeers = "replace_peers"

	keyPublicKey         = "public_key"
	keyUpdateOnly        = "update_only"
	keyRemove            = "remove"
	keyPresharedKey      = "preshared_key"
	keyEndpoint          = "endpoint"
	keyKeepalive         = "persistent_keepalive_interval"
	keyReplaceAllowedIPs = "replace_allowed_ips"
	keyAllowedIP         = "allowed_ip"
	keyProtocolVersion   = "protocol_version"

	keyLastHandshakeSec  = "last_handshake_time_sec"
	keyLastHandshakeNsec = "last_handshake_time_nsec"
	keyTxBytes           = "tx_bytes"
	keyRxBytes           = "rx_bytes"

	keyErrno = "errno"

	valueTrue = "true"
	// allowedIPRemovePrefix in front of an allowed_ip value removes that
	// prefix instead of adding it (wireguard-tools >= 1.0.20250521).
	allowedIPRemovePrefix = '-'
)

// The errno values wireguard-go (device/uapi.go, ipc/uapi_unix.go) reports.
// They are written negated on the wire ("errno=-22"), which is what wg(8)
// expects from a set: it negates the value back into errno.
const (
	ErrnoIO        = syscall.EIO        // reading the request or writing the reply failed
	ErrnoProtocol  = syscall.EPROTO     // malformed line or request
	ErrnoInvalid   = syscall.EINVAL     // invalid value or unknown key
	ErrnoPortInUse = syscall.EADDRINUSE // listen_port or fwmark could not be applied
	ErrnoUnknown   = syscall.ENOANO     // any error that carries no errno
	ErrnoNoMemory  = syscall.ENOMEM     // the request exceeds MaxRequestBytes
	ErrnoNoDevice  = syscall.ENODEV     // the interface is gone
)
