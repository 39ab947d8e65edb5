// SPDX-License-Identifier: MIT

package dataplane

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"syscall"
	"unsafe"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/wgbpfd/wgbpfd/keystore"
)

// Transport suites, as stored in wg_session.suite (bpf/common.h).
const (
	SuiteChaCha20Poly1305 = uint8(keystore.SuiteChaCha20Poly1305)
	SuiteAESCBC           = uint8(keystore.SuiteAESCBC)
)

// SessionKeys is one keypair as the handshake hands it to the data plane.
type SessionKeys struct {
	Suite       uint8 // SuiteChaCha20Poly1305 or SuiteAESCBC
	LocalIndex  uint32
	RemoteIndex uint32
	PeerID      uint32
	Initiator   bool
	// Send and Receive are the transport keys T of each direction. For
	// aes-cbc, (K_cbc, K_aux) are derived from them here, in userspace.
	Send, Receive [32]byte
}

// Sizes and offsets of the syscall programs' contexts (bpf/keys.h).
const (
	installArgsLen  = 8*4 + 5*32 // struct wg_install_args
	installKeysOff  = 8 * 4
	indexArgsLen    = 24 // struct wg_index_args
	sessionFlagInit = 1 << 0
)

// installStage names the failed step reported in wg_install_args.stage.
var installStage = map[uint32]string{
	1:  `bpf_crypto_ctx_create("cbc(aes)") for sending`,
	2:  `bpf_crypto_ctx_create("ecb(aes)") for sending`,
	3:  `bpf_crypto_ctx_create("cbc(aes)") for receiving`,
	4:  `bpf_crypto_ctx_create("ecb(aes)") for receiving`,
	5:  "updating session_keys",
	6:  "updating sessions",
	7:  "invalid arguments",
	8:  `bpf_crypto_ctx_create("ecb(aes)") for the key-wrapping key`,
	9:  `bpf_crypto_ctx_create("aead") for sending`,
	10: `bpf_crypto_ctx_create("aead") for receiving`,
}

// syscallMu serialises runs of the syscall programs: they share the
// one-entry staging maps install_buf and session_tmpl.
var syscallMu sync.Mutex

// InstallSession creates or replaces the keypair with k.LocalIndex: a fresh
// wg_session (counters 0, empty replay window, created now) and its secret
// half. For aes-cbc it creates cbc(aes) and ecb(aes) contexts for both
// directions; contexts of a replaced keypair are released.
func (d *Dataplane) InstallSession(k *SessionKeys) error {
	ctx := make([]byte, installArgsLen)
	defer clear(ctx)

	ne := binary.NativeEndian
	ne.PutUint32(ctx[0:], uint32(k.Suite))
	ne.PutUint32(ctx[4:], k.LocalIndex)
	ne.PutUint32(ctx[8:], k.RemoteIndex)
	ne.PutUint32(ctx[12:], k.PeerID)
	if k.Initiator {
		ne.PutUint32(ctx[16:], sessionFlagInit)
	}
	keys := ctx[installKeysOff:]
	switch k.Suite {
	case SuiteChaCha20Poly1305:
		copy(keys[0:32], k.Send[:])
		copy(keys[32:64], k.Receive[:])
		ne.PutUint32(ctx[28:], uint32(d.backend)) // wg_install_args.backend
	case SuiteAESCBC:
		scbc, saux := keystore.DeriveAESCBCKeys(&k.Send)
		rcbc, raux := keystore.DeriveAESCBCKeys(&k.Receive)
		copy(keys[0:32], scbc[:])
		copy(keys[32:64], rcbc[:])
		copy(keys[64:96], saux[:])
		copy(keys[96:128], raux[:])
		clear(scbc[:])
		clear(saux[:])
		clear(rcbc[:])
		clear(raux[:])
	default:
		return fmt.Errorf("install session %d: unknown suite %d", k.LocalIndex, k.Suite)
	}
	// A candidate K_wrap (bpf/keymap.h): used only if the kernel has none
	// yet, and wiped with the rest of ctx.
	if _, err := rand.Read(keys[128:160]); err != nil {
		return fmt.Errorf("install session %d: random wrap key: %w", k.LocalIndex, err)
	}

	syscallMu.Lock()
	defer syscallMu.Unlock()
	if err := runSyscall(d.objs.WgInstall, ctx); err != nil {
		return fmt.Errorf("install session %d: %w", k.LocalIndex, err)
	}
	if errno := int32(ne.Uint32(ctx[20:])); errno != 0 {
		stage := installStage[ne.Uint32(ctx[24:])]
		return fmt.Errorf("install session %d: %s: %w", k.LocalIndex, stage, errnoError(errno))
	}
	if k.Suite == SuiteChaCha20Poly1305 && d.backend == BackendBPF {
		if err := d.wrapKeys(k); err != nil {
			d.removeLocked(k.LocalIndex)
			return fmt.Errorf("install session %d: %w", k.LocalIndex, err)
		}
	}
	return nil
}

// Layout of wg_wrap's input (bpf/keys.h).
const (
	wrapEthertype = 0x88b6
	wrapLen       = 14 + 8 + 64
)

// wrapKeys stores the chacha20poly1305 keys, wrapped under K_wrap, with
// wg_wrap: only TC programs may call bpf_crypto_encrypt. Program.Run
// hands Data to the kernel without copying it, so wiping buf is enough; no
// DataOut is given, so nothing is copied back (and wg_wrap zeroes the keys
// in the kernel's copy of the packet before it is freed).
func (d *Dataplane) wrapKeys(k *SessionKeys) error {
	buf := make([]byte, wrapLen)
	defer clear(buf)
	binary.BigEndian.PutUint16(buf[12:], wrapEthertype)
	binary.NativeEndian.PutUint32(buf[14:], k.LocalIndex)
	copy(buf[22:54], k.Send[:])
	copy(buf[54:86], k.Receive[:])
	ret, err := d.objs.WgWrap.Run(&ebpf.RunOptions{Data: buf})
	if err != nil {
		return fmt.Errorf("wrapping keys: %w", err)
	}
	if errno := int32(ret); errno != 0 {
		return fmt.Errorf("wrapping keys: %w", errnoError(errno))
	}
	return nil
}

// RemoveSession deletes the keypair: the session first, so the packet path
// stops finding it, then its contexts (released) and keys (wiped).
func (d *Dataplane) RemoveSession(localIndex uint32) error {
	syscallMu.Lock()
	defer syscallMu.Unlock()
	return d.removeLocked(localIndex)
}

func (d *Dataplane) removeLocked(localIndex uint32) error {
	ctx := make([]byte, indexArgsLen)
	binary.NativeEndian.PutUint32(ctx[0:], localIndex)
	if err := runSyscall(d.objs.WgRemove, ctx); err != nil {
		return fmt.Errorf("remove session %d: %w", localIndex, err)
	}
	if errno := int32(binary.NativeEndian.Uint32(ctx[4:])); errno != 0 {
		return fmt.Errorf("remove session %d: %w", localIndex, errnoError(errno))
	}
	return nil
}

// ReserveCounters atomically takes n send counters of the keypair (a
// fetch-and-add shared with the packet path) for packets the daemon sends
// itself, and returns the first.
func (d *Dataplane) ReserveCounters(localIndex uint32, n uint64) (first uint64, err error) {
	ctx := make([]byte, indexArgsLen)
	ne := binary.NativeEndian
	ne.PutUint32(ctx[0:], localIndex)
	ne.PutUint64(ctx[8:], n)
	// No lock: wg_reserve touches no staging map.
	if err := runSyscall(d.objs.WgReserve, ctx); err != nil {
		return 0, fmt.Errorf("reserve counters of session %d: %w", localIndex, err)
	}
	if errno := int32(ne.Uint32(ctx[4:])); errno != 0 {
		return 0, fmt.Errorf("reserve counters of session %d: %w", localIndex, errnoError(errno))
	}
	return ne.Uint64(ctx[16:]), nil
}

// errnoError turns a negative errno from BPF into an error that reads
// "errno -22 (EINVAL)" and matches errors.Is(err, unix.EINVAL).
func errnoError(errno int32) error {
	e := syscall.Errno(-errno)
	return &bpfErrno{errno: errno, e: e}
}

type bpfErrno struct {
	errno int32
	e     syscall.Errno
}

func (b *bpfErrno) Error() string {
	name := unix.ErrnoName(b.e)
	if name == "" {
		name = b.e.Error()
	}
	return fmt.Sprintf("errno %d (%s)", b.errno, name)
}

func (b *bpfErrno) Unwrap() error { return b.e }

// progRunAttr is union bpf_attr for BPF_PROG_TEST_RUN.
type progRunAttr struct {
	progFd      uint32
	retval      uint32
	dataSizeIn  uint32
	dataSizeOut uint32
	dataIn      uint64
	dataOut     uint64
	repeat      uint32
	duration    uint32
	ctxSizeIn   uint32
	ctxSizeOut  uint32
	ctxIn       uint64
	ctxOut      uint64
	flags       uint32
	cpu         uint32
	batchSize   uint32
	_           uint32
}

// runSyscall runs a SEC("syscall") program on ctx, which the kernel copies
// in and back out. It calls BPF_PROG_TEST_RUN itself rather than through
// Program.Run because that serialises the context into a private buffer the
// caller could not wipe; here the only copy is ctx.
func runSyscall(p *ebpf.Program, ctx []byte) error {
	if p == nil {
		return errors.New("syscall program not loaded")
	}
	var pin runtime.Pinner
	pin.Pin(&ctx[0])
	defer pin.Unpin()
	attr := progRunAttr{
		progFd:    uint32(p.FD()),
		ctxSizeIn: uint32(len(ctx)),
		ctxIn:     uint64(uintptr(unsafe.Pointer(&ctx[0]))),
	}
	_, _, e := unix.Syscall(unix.SYS_BPF, unix.BPF_PROG_TEST_RUN,
		uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
	runtime.KeepAlive(ctx)
	if e != 0 {
		return fmt.Errorf("BPF_PROG_TEST_RUN %s: %w", p, e)
	}
	return nil
}
