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

// Transport suites, as stored in wg_session.suite (bpf/lib/common.h).
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

// wg_session.flags (bpf/lib/common.h): this side initiated the handshake.
const sessionFlagInit = 1 << 0

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
	args := &installArgs{
		Suite:       uint32(k.Suite),
		LocalIndex:  k.LocalIndex,
		RemoteIndex: k.RemoteIndex,
		PeerId:      k.PeerID,
	}
	defer clear(argBytes(args))
	if k.Initiator {
		args.Flags = sessionFlagInit
	}
	switch k.Suite {
	case SuiteChaCha20Poly1305:
		args.Send = k.Send
		args.Recv = k.Receive
		args.Backend = uint32(d.backend)
	case SuiteAESCBC:
		scbc, saux := keystore.DeriveAESCBCKeys(&k.Send)
		rcbc, raux := keystore.DeriveAESCBCKeys(&k.Receive)
		args.Send, args.Recv = scbc, rcbc
		args.SendAux, args.RecvAux = saux, raux
		clear(scbc[:])
		clear(saux[:])
		clear(rcbc[:])
		clear(raux[:])
	default:
		return fmt.Errorf("install session %d: unknown suite %d", k.LocalIndex, k.Suite)
	}
	// A candidate K_wrap (bpf/lib/keymap.h): used only if the kernel has none
	// yet, and wiped with the rest of args.
	if _, err := rand.Read(args.WrapKey[:]); err != nil {
		return fmt.Errorf("install session %d: random wrap key: %w", k.LocalIndex, err)
	}

	syscallMu.Lock()
	defer syscallMu.Unlock()
	if err := runSyscall(d.objs.WgInstall, argBytes(args)); err != nil {
		return fmt.Errorf("install session %d: %w", k.LocalIndex, err)
	}
	if args.Err != 0 {
		stage := installStage[args.Stage]
		return fmt.Errorf("install session %d: %s: %w", k.LocalIndex, stage, errnoError(args.Err))
	}
	if k.Suite == SuiteChaCha20Poly1305 && d.backend == BackendBPF {
		if err := d.wrapKeys(k); err != nil {
			d.removeLocked(k.LocalIndex)
			return fmt.Errorf("install session %d: %w", k.LocalIndex, err)
		}
	}
	return nil
}

// WG_WRAP_ETHERTYPE (bpf/lib/keys.h): marks wg_wrap's input frame.
const wrapEthertype = 0x88b6

// wrapFrameLen is sizeof(struct wg_wrap_frame).
var wrapFrameLen = binary.Size(wrapFrame{})

// wrapFrameBytes lays out wg_wrap's input. The C struct is packed (the
// index follows the 14-byte Ethernet header), which Go's layout is not:
// binary.Encode writes the fields without padding, as C has them.
func wrapFrameBytes(f *wrapFrame) []byte {
	buf := make([]byte, binary.Size(f))
	if _, err := binary.Encode(buf, binary.NativeEndian, f); err != nil {
		panic(err) // fixed-size struct into a buffer of its size
	}
	return buf
}

// wrapKeys stores the chacha20poly1305 keys, wrapped under K_wrap, with
// wg_wrap: only TC programs may call bpf_crypto_encrypt. Program.Run
// hands Data to the kernel without copying it, so wiping buf is enough; no
// DataOut is given, so nothing is copied back (and wg_wrap zeroes the keys
// in the kernel's copy of the packet before it is freed).
func (d *Dataplane) wrapKeys(k *SessionKeys) error {
	f := &wrapFrame{LocalIndex: k.LocalIndex}
	f.Eth.Proto = htons(wrapEthertype)
	copy(f.Keys[:32], k.Send[:])
	copy(f.Keys[32:], k.Receive[:])
	buf := wrapFrameBytes(f)
	clear(f.Keys[:])
	defer clear(buf)
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
	args := &indexArgs{LocalIndex: localIndex}
	if err := runSyscall(d.objs.WgRemove, argBytes(args)); err != nil {
		return fmt.Errorf("remove session %d: %w", localIndex, err)
	}
	if args.Err != 0 {
		return fmt.Errorf("remove session %d: %w", localIndex, errnoError(args.Err))
	}
	return nil
}

// ReserveCounters atomically takes n send counters of the keypair (a
// fetch-and-add shared with the packet path) for packets the daemon sends
// itself, and returns the first.
func (d *Dataplane) ReserveCounters(localIndex uint32, n uint64) (first uint64, err error) {
	args := &indexArgs{LocalIndex: localIndex, N: n}
	// No lock: wg_reserve touches no staging map.
	if err := runSyscall(d.objs.WgReserve, argBytes(args)); err != nil {
		return 0, fmt.Errorf("reserve counters of session %d: %w", localIndex, err)
	}
	if args.Err != 0 {
		return 0, fmt.Errorf("reserve counters of session %d: %w", localIndex, errnoError(args.Err))
	}
	return args.First, nil
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

// argBytes is the memory of a generated context struct, which has the C
// layout (structs.HostLayout), for runSyscall to pass and the caller to wipe.
func argBytes[T installArgs | indexArgs | probeArgs](a *T) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(a)), unsafe.Sizeof(*a))
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
