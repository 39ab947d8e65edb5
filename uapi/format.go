// SPDX-License-Identifier: MIT

package uapi

import (
	"encoding/hex"
	"strconv"
)

// AppendState appends the body of a get response for s (without the errno
// line) to b, in the order wireguard-go uses: private_key, listen_port and
// fwmark (each only if set), then per peer public_key, preshared_key (if
// set), protocol_version, endpoint (if set), last_handshake_time_sec/nsec,
// tx_bytes, rx_bytes, persistent_keepalive_interval and allowed_ip lines.
func AppendState(b []byte, s *State) []byte {
	if !s.PrivateKey.IsZero() {
		b = appendKey(b, keyPrivateKey, &s.PrivateKey)
	}
	if s.ListenPort != 0 {
		b = appendUint(b, keyListenPort, uint64(s.ListenPort))
	}
	if s.FirewallMark != 0 {
		b = appendUint(b, keyFwmark, uint64(s.FirewallMark))
	}
	for i := range s.Peers {
		p := &s.Peers[i]
		b = appendKey(b, keyPublicKey, &p.PublicKey)
		if !p.PresharedKey.IsZero() {
			b = appendKey(b, keyPresharedKey, &p.PresharedKey)
		}
		b = appendUint(b, keyProtocolVersion, ProtocolVersion)
		if p.Endpoint.IsValid() {
			b = append(b, keyEndpoint...)
			b = append(b, '=')
			b = p.Endpoint.AppendTo(b)
			b = append(b, '\n')
		}
		var sec, nsec int64
		if !p.LastHandshake.IsZero() {
			sec, nsec = p.LastHandshake.Unix(), int64(p.LastHandshake.Nanosecond())
			if sec < 0 {
				// Before 1970: a bogus clock; wg(8) only reads
				// non-negative numbers.
				sec, nsec = 0, 0
			}
		}
		b = appendUint(b, keyLastHandshakeSec, uint64(sec))
		b = appendUint(b, keyLastHandshakeNsec, uint64(nsec))
		b = appendUint(b, keyTxBytes, p.TxBytes)
		b = appendUint(b, keyRxBytes, p.RxBytes)
		b = appendUint(b, keyKeepalive, uint64(p.PersistentKeepalive))
		for _, prefix := range p.AllowedIPs {
			if !prefix.IsValid() {
				continue
			}
			b = append(b, keyAllowedIP...)
			b = append(b, '=')
			b = prefix.AppendTo(b)
			b = append(b, '\n')
		}
	}
	return b
}

// appendErrno appends the line that ends every response.
func appendErrno(b []byte, err error) []byte {
	b = append(b, keyErrno...)
	b = append(b, '=')
	b = strconv.AppendInt(b, wireErrno(err), 10)
	return append(b, '\n', '\n')
}

func appendKey(b []byte, name string, k *Key) []byte {
	b = append(b, name...)
	b = append(b, '=')
	b = hex.AppendEncode(b, k[:])
	return append(b, '\n')
}

func appendUint(b []byte, name string, v uint64) []byte {
	b = append(b, name...)
	b = append(b, '=')
	b = strconv.AppendUint(b, v, 10)
	return append(b, '\n')
}

// wipe zeroes a buffer that held keys.
func wipe(b []byte) { clear(b[:cap(b)]) }
