// SPDX-License-Identifier: MIT

package keystore

// PaddedLen is the length a plaintext of n bytes is zero-padded to before it
// is sealed.
//
// chacha20poly1305 follows WireGuard exactly (wireguard-go's
// calculatePaddingSize, the kernel's calculate_skb_padding): round up to a
// multiple of 16 but never past the MTU; a packet longer than the MTU (a
// GSO super-packet) is padded as its last MTU-sized unit would be. mtu <= 0
// means no MTU is known and the length is only rounded up. The result is
// never below n.
//
// aes-cbc needs whole AES blocks, so it always rounds up to a multiple of 16,
// whatever the MTU.
//
// A negative n gives 0; an unknown suite gives n.
func PaddedLen(s Suite, n, mtu int) int {
	if n < 0 {
		return 0
	}
	switch s {
	case SuiteChaCha20Poly1305:
		if mtu <= 0 {
			return roundUp16(n)
		}
		last := n
		if last > mtu {
			last %= mtu
		}
		padded := min(roundUp16(last), mtu)
		return n + padded - last
	case SuiteAESCBC:
		return roundUp16(n)
	}
	return n
}

func roundUp16(n int) int {
	return (n + paddingUnit - 1) &^ (paddingUnit - 1)
}
