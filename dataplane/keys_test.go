// SPDX-License-Identifier: MIT

package dataplane

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/wgbpfd/wgbpfd/internal/testenv"
	"github.com/wgbpfd/wgbpfd/keystore"
)

// probeErrorText is how a refused bpf_crypto_ctx_create reaches Go.
var probeErrorText = regexp.MustCompile(`^bpf_crypto_ctx_create\("([^"]+)"\): errno -([0-9]+) \(([A-Z0-9]+)\)$`)

// checkProbeError: err is a refusal of algo that names the algorithm and
// the kernel's errno, and matches that errno with errors.Is. Which errno a
// kernel gives is its own business.
func checkProbeError(t *testing.T, algo string, err error) {
	t.Helper()
	m := probeErrorText.FindStringSubmatch(fmt.Sprint(err))
	if m == nil || m[1] != algo {
		t.Fatalf("refusal of %s reads %q, want %s", algo, fmt.Sprint(err), probeErrorText)
	}
	n, _ := strconv.Atoi(m[2])
	if e := syscall.Errno(n); !errors.Is(err, e) || unix.ErrnoName(e) != m[3] {
		t.Fatalf("%q does not match errno %d (%s)", err, n, unix.ErrnoName(e))
	}
}

func TestKeysProbe(t *testing.T) {
	testenv.RequireRoot(t)
	r, err := Probe()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("suites %v; AEAD %t; missing: %s", r.Suites(), r.AEAD, r.Missing())
	if len(r.Suites()) != 2 {
		t.Fatalf("want both suites on this kernel, got %v (%s)", r.Suites(), r.Missing())
	}
	// Whether bpf_crypto has an AEAD type depends on the kernel; either
	// answer must be reported consistently. scripts/vmtest.sh says which
	// it expects (WGBPFD_VMTEST_AEAD: the bpf_crypto_aead module loaded or
	// absent).
	want := os.Getenv("WGBPFD_VMTEST_AEAD")
	if r.AEAD {
		if want == "absent" {
			t.Fatal("AEAD type present although the module is not loaded")
		}
		if r.AEADErr != nil || strings.Contains(r.Missing(), "AEAD") {
			t.Fatalf("AEAD available but reported missing: %v; %s", r.AEADErr, r.Missing())
		}
		return
	}
	if want == "loaded" {
		t.Fatalf("AEAD type missing with the module loaded: %v", r.AEADErr)
	}
	checkProbeError(t, "rfc7539(chacha20,poly1305)", r.AEADErr)
	if !strings.Contains(r.Missing(), "no AEAD type in bpf_crypto") {
		t.Fatalf("AEAD missing but not reported: %s", r.Missing())
	}
}

// TestProbeResultAEAD: what a kernel with an AEAD type in bpf_crypto (not
// this one, maybe the next) and one without get reported, without root.
func TestProbeResultAEAD(t *testing.T) {
	with := &ProbeResult{BTF: true, AEAD: true}
	if m := with.Missing(); m != "" || len(with.Suites()) != 2 {
		t.Fatalf("with AEAD: suites %v, missing %q; want both and nothing", with.Suites(), m)
	}
	without := &ProbeResult{BTF: true, AEADErr: errnoError(-2)}
	if m := without.Missing(); !strings.Contains(m, "no AEAD type in bpf_crypto") || len(without.Suites()) != 2 {
		t.Fatalf("without AEAD: suites %v, missing %q", without.Suites(), m)
	}
}

// TestKeysCreateError: a refused algorithm reaches Go as an error naming
// the algorithm and errno. The name exists on no kernel, so every kernel
// refuses it.
func TestKeysCreateError(t *testing.T) {
	d := loadForTest(t)
	const algo = "wgbpfd-no-such-cipher(aes)"
	err, perr := probeCipher(d.objs.WgProbe, "skcipher", algo, 0)
	if perr != nil {
		t.Fatal(perr)
	}
	checkProbeError(t, algo, err)
	t.Logf("refused with %v", err)
	if err := d.InstallSession(&SessionKeys{Suite: 9, LocalIndex: 1}); err == nil {
		t.Fatal("unknown suite accepted")
	}
}

func sessionOf(t testing.TB, d *Dataplane, idx uint32) *wgbpfWgSession {
	t.Helper()
	var s wgbpfWgSession
	if err := d.objs.Sessions.Lookup(idx, &s); err != nil {
		t.Fatalf("session %d: %v", idx, err)
	}
	return &s
}

// TestKeysInstallReplaceReserve: install fills the session; a replaced
// keypair is used by the very next packet; counters are reserved
// atomically from where the session is.
func TestKeysInstallReplaceReserve(t *testing.T) {
	d := loadForTest(t)
	r := rand.NewChaCha8([32]byte{3})
	for _, s := range suites {
		t.Run(s.name, func(t *testing.T) {
			a := randKeys(r, s.id, 77)
			a.Initiator = true
			if err := d.InstallSession(a); err != nil {
				t.Fatal(err)
			}
			ss := sessionOf(t, d, 77)
			if ss.Suite != uint32(s.id) || ss.LocalIndex != 77 || ss.RemoteIndex != a.RemoteIndex ||
				ss.PeerId != 7 || ss.Flags != sessionFlagInit || ss.CreatedNs == 0 || ss.SendCounter != 0 {
				t.Fatalf("session %+v", ss)
			}
			first, err := d.ReserveCounters(77, 10)
			if err != nil || first != 0 {
				t.Fatalf("reserve: %d %v", first, err)
			}
			if first, _ = d.ReserveCounters(77, 5); first != 10 {
				t.Fatalf("second reserve got %d, want 10", first)
			}
			if ss = sessionOf(t, d, 77); ss.SendCounter != 15 {
				t.Fatalf("send_counter %d, want 15", ss.SendCounter)
			}
			if _, err := d.ReserveCounters(999999, 1); !errors.Is(err, unix.ENOENT) {
				t.Fatalf("reserve on a missing session: %v", err)
			}

			pt := make([]byte, 64)
			seal := func() []byte {
				_, out := runSelftest(t, d, &stHdr{Op: stSeal, LocalIndex: 77, Counter: 3, Len: 64}, pt, tagLen)
				return out
			}
			if got := seal(); !bytes.Equal(got, keystore.SealPayload(s.ks, &a.Send, 3, nil, pt)) {
				t.Fatal("first keypair not used")
			}
			b := randKeys(r, s.id, 77)
			if err := d.InstallSession(b); err != nil {
				t.Fatal(err)
			}
			if got := seal(); !bytes.Equal(got, keystore.SealPayload(s.ks, &b.Send, 3, nil, pt)) {
				t.Fatal("replaced keypair not used by the next packet")
			}
			if ss = sessionOf(t, d, 77); ss.SendCounter != 0 || ss.Flags != 0 {
				t.Fatalf("replaced session not reset: %+v", ss)
			}
			ct := keystore.SealPayload(s.ks, &a.Receive, 3, nil, pt)
			if ret, _ := runSelftest(t, d, &stHdr{Op: stOpen, LocalIndex: 77, Counter: 3, Len: 64}, ct, 0); ret != errTag {
				t.Fatalf("old receive key still accepted: %d", ret)
			}
			if err := d.RemoveSession(77); err != nil {
				t.Fatal(err)
			}
			if err := d.RemoveSession(77); !errors.Is(err, unix.ENOENT) {
				t.Fatalf("second removal: %v", err)
			}
		})
	}
}

func meminfo(t testing.TB, field string) int64 {
	t.Helper()
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			n, err := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no %s in /proc/meminfo", field)
	return 0
}

// TestKeysNoLeak: 10,000 install/remove cycles, plus 10,000 in-place
// replacements, leave unreclaimable slab memory where it was: aes-cbc
// (4 crypto contexts per install) and chacha20poly1305 (2 "aead" contexts
// per install on the kfunc backend, none on plain BPF).
func TestKeysNoLeak(t *testing.T) {
	d := loadForTest(t)
	b, _ := d.Backend()
	for _, tc := range []struct {
		name     string
		suite    uint8
		contexts int
		limitKB  int64 // well under what leaking every context would add
	}{
		{"aes-cbc", SuiteAESCBC, 4, 4096},
		// An "aead" context is ~128 bytes with its key: 30,000 leaked
		// would be ~3.7 MiB.
		{"chacha20poly1305-" + b.String(), SuiteChaCha20Poly1305, map[bool]int{true: 2, false: 0}[b != BackendBPF], 2048},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.NewChaCha8([32]byte{4})
			k := randKeys(r, tc.suite, 4242)
			// Warm up caches so that first-use allocations do not count.
			for range 200 {
				d.InstallSession(k)
				d.RemoveSession(k.LocalIndex)
			}
			settle := func() int64 {
				// Contexts are freed after an RCU grace period.
				time.Sleep(2 * time.Second)
				return meminfo(t, "SUnreclaim")
			}
			before := settle()
			const cycles = 10000
			for i := range cycles {
				if err := d.InstallSession(k); err != nil {
					t.Fatal(err)
				}
				if i%2 == 0 { // replace in place: the old contexts must go too
					if err := d.InstallSession(k); err != nil {
						t.Fatal(err)
					}
				}
				if err := d.RemoveSession(k.LocalIndex); err != nil {
					t.Fatal(err)
				}
			}
			after := settle()
			grow := after - before
			t.Logf("SUnreclaim %d kB -> %d kB (%+d kB) over %d install/remove cycles (%d context creations)", before, after, grow, cycles, (cycles+cycles/2)*tc.contexts)
			if grow > tc.limitKB {
				t.Fatalf("unreclaimable slab grew by %d kB: contexts leak", grow)
			}
		})
	}
}

// byteToken matches what bpftool prints for a byte: "0x1f" (raw hex), "1f"
// (plain hex dump) or "31" (BTF-formatted decimal).
var byteToken = regexp.MustCompile(`\b(0x[0-9a-f]{1,2}|[0-9a-f]{2}|[0-9]{1,3})\b`)

// byteStreams turns a dump into the byte sequences it could be showing:
// read as hex and read as decimal.
func byteStreams(out []byte) [][]byte {
	var hexs, decs []byte
	for _, tok := range byteToken.FindAllString(string(out), -1) {
		if v, err := strconv.ParseUint(strings.TrimPrefix(tok, "0x"), 16, 8); err == nil {
			hexs = append(hexs, byte(v))
		}
		if v, err := strconv.ParseUint(tok, 10, 8); err == nil {
			decs = append(decs, byte(v))
		}
	}
	return [][]byte{hexs, decs}
}

// TestKeysNotReadable: with keypairs of both suites installed and used,
// `bpftool map dump` of every map of the object shows none of the key
// bytes (transport keys and the derived aes-cbc keys).
// aesEntryUnwrapped matches an aes-cbc session_keys entry in bpftool's
// JSON: nothing in its wrapped field (its keys live in contexts).
var aesEntryUnwrapped = regexp.MustCompile(`"suite":2,[^}]*"wrapped":\[0,0,`)

func TestKeysNotReadable(t *testing.T) {
	d := loadForTest(t)
	bpftool := testenv.RequireTool(t, "bpftool")
	r := rand.NewChaCha8([32]byte{5})
	var secrets [][]byte
	for i, s := range suites {
		k := randKeys(r, s.id, uint32(900+i))
		if err := d.InstallSession(k); err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, bytes.Clone(k.Send[:]), bytes.Clone(k.Receive[:]))
		if s.id == SuiteAESCBC {
			for _, tk := range []*[32]byte{&k.Send, &k.Receive} {
				c, a := keystore.DeriveAESCBCKeys(tk)
				secrets = append(secrets, c[:], a[:])
			}
		}
		pt := make([]byte, 128)
		runSelftest(t, d, &stHdr{Op: stSeal, LocalIndex: k.LocalIndex, Counter: 1, Len: 128}, pt, tagLen)
	}

	v := reflect.ValueOf(d.objs.wgbpfMaps)
	dumped := 0
	for i := range v.NumField() {
		m, ok := v.Field(i).Interface().(*ebpf.Map)
		if !ok || m == nil {
			continue
		}
		info, err := m.Info()
		if err != nil {
			t.Fatal(err)
		}
		id, _ := info.ID()
		// Formatted (BTF) and raw hex dumps.
		var dump []byte
		for _, args := range [][]string{{"map", "dump", "id"}, {"-j", "map", "dump", "id"}} {
			out, err := exec.Command(bpftool, append(args, strconv.Itoa(int(id)))...).CombinedOutput()
			if err != nil && !bytes.Contains(out, []byte("Found 0 elements")) {
				// e.g. the ring buffer: nothing a dump can show.
				t.Logf("bpftool %v %d (%s): %v: %.100s", args, id, info.Name, err, out)
				continue
			}
			dump = append(dump, out...)
		}
		dumped++
		for _, stream := range byteStreams(dump) {
			for _, s := range secrets {
				for off := 0; off+8 <= len(s); off += 4 {
					if bytes.Contains(stream, s[off:off+8]) {
						t.Fatalf("map %s dump contains key bytes %x", info.Name, s[off:off+8])
					}
				}
			}
		}
		if info.Name == "session_keys" {
			// The entries are there (chacha keys wrapped); the
			// installed aes-cbc contexts read as 0.
			if !aesEntryUnwrapped.Match(dump) || !bytes.Contains(dump, []byte(`"send_cbc":0`)) {
				t.Fatalf("session_keys dump does not show the kptrs as 0:\n%s", dump)
			}
		}
	}
	if dumped < 8 {
		t.Fatalf("only %d maps dumped", dumped)
	}
	t.Logf("%d maps dumped with bpftool (formatted and -j): no 8-byte window of %d secrets", dumped, len(secrets))
}
