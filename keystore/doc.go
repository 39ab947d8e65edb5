// SPDX-License-Identifier: MIT

// Package keystore holds every transport keypair of the daemon and the
// userspace reference implementation of each transport suite.
//
// The suites here are the golden model for the BPF data plane: the kernel
// programs are tested byte for byte against SealPayload/OpenPayload and the
// vectors in testdata/. The userspace daemon also uses them for the packets
// it sends itself (keepalives, packets queued during a handshake).
package keystore
