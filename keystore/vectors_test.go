// SPDX-License-Identifier: MIT

package keystore

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"golang.org/x/crypto/blake2s"
)

// testdata/aescbc_vectors.json holds known-answer vectors for both suites.
// The BPF data plane is tested against the same file. Regenerate with
//
//	go test ./keystore -run TestVectors -update
//
// and the independent check (TestVectorsIndependent) must still pass.
//
// Schema. Byte strings are lowercase hex; absent fields are omitted.
//
//	{
//	  "comment": string,
//	  "mtu":     number   MTU given to PaddedLen for every vector
//	  "vectors": [{
//	    "name":               string
//	    "suite":              "chacha20poly1305" | "aes-cbc"
//	    "suite_id":           1 | 2                    (WG_SUITE_*)
//	    "message_type":       4 | 132                  (data message type byte)
//	    "transport_key":      32 bytes                 T, this direction's key
//	    "kcbc":               32 bytes                 aes-cbc only: K_cbc
//	    "kaux":               32 bytes                 aes-cbc only: K_aux
//	    "iv":                 16 bytes                 aes-cbc only: ECB block 0
//	    "polykey":            32 bytes                 one-time Poly1305 key r||s
//	                                                   (chacha20poly1305: first half of
//	                                                   ChaCha20 block 0; aes-cbc: ECB blocks 1-2)
//	    "counter":            16 hex digits            the counter as a big-endian number,
//	                                                   e.g. "00000000ffffffff" = 2^32-1
//	    "receiver":           number                   receiver index (uint32)
//	    "plaintext_len":      number                   unpadded plaintext length
//	    "plaintext":          PaddedLen bytes          the padded plaintext: plaintext_len
//	                                                   data bytes, then zeros
//	    "ciphertext_and_tag": len(plaintext)+16 bytes  SealPayload output
//	    "message":            16+len(ciphertext_and_tag) bytes
//	                                                   the whole data message
//	  }],
//	  "padding": [{"suite": string, "n": number, "mtu": number, "padded": number}]
//	                                                   PaddedLen(suite, n, mtu)
//	}
var update = flag.Bool("update", false, "rewrite testdata/aescbc_vectors.json from the implementation")

const vectorsFile = "testdata/aescbc_vectors.json"

type vectorFile struct {
	Comment string          `json:"comment"`
	MTU     int             `json:"mtu"`
	Vectors []vector        `json:"vectors"`
	Padding []paddingVector `json:"padding"`
}

type vector struct {
	Name             string `json:"name"`
	Suite            string `json:"suite"`
	SuiteID          uint8  `json:"suite_id"`
	MessageType      uint8  `json:"message_type"`
	TransportKey     string `json:"transport_key"`
	KCBC             string `json:"kcbc,omitempty"`
	KAux             string `json:"kaux,omitempty"`
	IV               string `json:"iv,omitempty"`
	PolyKey          string `json:"polykey"`
	Counter          string `json:"counter"`
	Receiver         uint32 `json:"receiver"`
	PlaintextLen     int    `json:"plaintext_len"`
	Plaintext        string `json:"plaintext"`
	CiphertextAndTag string `json:"ciphertext_and_tag"`
	Message          string `json:"message"`
}

type paddingVector struct {
	Suite  string `json:"suite"`
	N      int    `json:"n"`
	MTU    int    `json:"mtu"`
	Padded int    `json:"padded"`
}

const vectorMTU = 1420

var (
	vectorLengths  = []int{0, 1, 15, 16, 17, 63, 64, 65, 1023, 1024, 1407, 1408, 1420}
	vectorCounters = []uint64{
		0, 1, 2, 1<<32 - 1, 1 << 32, RekeyAfterMessages, RejectAfterMessages - 1,
	}
)

// vectorKey and vectorPlaintext are deterministic inputs: BLAKE2s of a
// label, and a byte ramp that differs per vector.
func vectorKey(name string) [32]byte {
	return blake2s.Sum256([]byte("wgbpfd test vector key " + name))
}

func vectorPlaintext(n, seed int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*7 + seed*13 + 1)
	}
	return p
}

func generateVectors(t *testing.T) vectorFile {
	t.Helper()
	f := vectorFile{
		Comment: "wgbpfd transport suite known-answer vectors; schema and generator in keystore/vectors_test.go",
		MTU:     vectorMTU,
	}
	for _, s := range []Suite{SuiteChaCha20Poly1305, SuiteAESCBC} {
		// Every length once, counters cycling, plus every counter at an
		// unaligned length.
		type in struct {
			n, seed int
			counter uint64
		}
		var ins []in
		for i, n := range vectorLengths {
			ins = append(ins, in{n, i, vectorCounters[i%len(vectorCounters)]})
		}
		for i, c := range vectorCounters {
			ins = append(ins, in{33, 100 + i, c})
		}
		for i, x := range ins {
			name := fmt.Sprintf("%s/len%d/counter%d", s, x.n, x.counter)
			key := vectorKey(name)
			receiver := 0x01020304 * uint32(i+1)
			plain := vectorPlaintext(x.n, x.seed)
			padded := make([]byte, PaddedLen(s, x.n, vectorMTU))
			copy(padded, plain)
			sealed := SealPayload(s, &key, x.counter, nil, padded)
			v := vector{
				Name:             name,
				Suite:            s.String(),
				SuiteID:          uint8(s),
				MessageType:      s.MessageType(),
				TransportKey:     hex.EncodeToString(key[:]),
				Counter:          fmt.Sprintf("%016x", x.counter),
				Receiver:         receiver,
				PlaintextLen:     x.n,
				Plaintext:        hex.EncodeToString(padded),
				CiphertextAndTag: hex.EncodeToString(sealed),
				Message:          hex.EncodeToString(SealMessage(s, &key, receiver, x.counter, plain, vectorMTU)),
			}
			if s == SuiteAESCBC {
				k, err := newAESCBCPacketKeys(&key, x.counter)
				if err != nil {
					t.Fatal(err)
				}
				kcbc, kaux := DeriveAESCBCKeys(&key)
				v.KCBC = hex.EncodeToString(kcbc[:])
				v.KAux = hex.EncodeToString(kaux[:])
				v.IV = hex.EncodeToString(k.iv[:])
				v.PolyKey = hex.EncodeToString(k.polyKey[:])
			} else {
				nonce := chachaNonce(x.counter)
				_, pk := refChaCha20Poly1305(t, key[:], nonce[:], nil, padded)
				v.PolyKey = hex.EncodeToString(pk[:])
			}
			f.Vectors = append(f.Vectors, v)
		}
		for _, n := range []int{0, 1, 16, 17, 1403, 1404, 1405, 1419, 1420, 1421, 1436, 1500, 2840, 2841} {
			for _, mtu := range []int{0, 1420} {
				f.Padding = append(f.Padding, paddingVector{s.String(), n, mtu, PaddedLen(s, n, mtu)})
			}
		}
	}
	return f
}

func loadVectors(t *testing.T) vectorFile {
	t.Helper()
	raw, err := os.ReadFile(vectorsFile)
	if err != nil {
		t.Fatalf("%v (regenerate with -update)", err)
	}
	var f vectorFile
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Vectors) == 0 || len(f.Padding) == 0 {
		t.Fatal("vector file has no vectors")
	}
	return f
}

// decoded is a vector with its byte strings decoded.
type decoded struct {
	suite                      Suite
	key                        [32]byte
	counter                    uint64
	plaintext, sealed, message []byte
}

func decodeVector(t *testing.T, v vector) decoded {
	t.Helper()
	var d decoded
	var err error
	if d.suite, err = ParseSuite(v.Suite); err != nil {
		t.Fatal(err)
	}
	if uint8(d.suite) != v.SuiteID || d.suite.MessageType() != v.MessageType {
		t.Fatalf("suite %q: id %d type %d disagree with the package", v.Suite, v.SuiteID, v.MessageType)
	}
	if k := mustHex(t, v.TransportKey); len(k) == 32 {
		copy(d.key[:], k)
	} else {
		t.Fatalf("transport key of %d bytes", len(k))
	}
	if d.counter, err = strconv.ParseUint(v.Counter, 16, 64); err != nil || len(v.Counter) != 16 {
		t.Fatalf("counter %q: %v", v.Counter, err)
	}
	d.plaintext = mustHex(t, v.Plaintext)
	d.sealed = mustHex(t, v.CiphertextAndTag)
	d.message = mustHex(t, v.Message)
	return d
}

// TestVectors: the package reproduces every vector and opens it again.
func TestVectors(t *testing.T) {
	if *update {
		f := generateVectors(t)
		raw, err := json.MarshalIndent(f, "", " ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(vectorsFile), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(vectorsFile, append(raw, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f := loadVectors(t)
	counters := map[uint64]bool{}
	lengths := map[Suite]map[int]bool{}
	for _, v := range f.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			d := decodeVector(t, v)
			counters[d.counter] = true
			if lengths[d.suite] == nil {
				lengths[d.suite] = map[int]bool{}
			}
			lengths[d.suite][v.PlaintextLen] = true

			if want := PaddedLen(d.suite, v.PlaintextLen, f.MTU); len(d.plaintext) != want {
				t.Fatalf("padded plaintext is %d bytes, PaddedLen says %d", len(d.plaintext), want)
			}
			if !isZero(d.plaintext[v.PlaintextLen:]) {
				t.Fatal("padding bytes are not zero")
			}
			if got := SealPayload(d.suite, &d.key, d.counter, nil, d.plaintext); !bytes.Equal(got, d.sealed) {
				t.Fatalf("SealPayload:\n got %x\nwant %x", got, d.sealed)
			}
			got, err := OpenPayload(d.suite, &d.key, d.counter, nil, d.sealed)
			if err != nil || !bytes.Equal(got, d.plaintext) {
				t.Fatalf("OpenPayload = %x, %v", got, err)
			}
			hdr := AppendDataHeader(nil, d.suite, v.Receiver, d.counter)
			if want := append(hdr, d.sealed...); !bytes.Equal(d.message, want) {
				t.Fatal("message is not header || ciphertext_and_tag")
			}
			if got := SealMessage(d.suite, &d.key, v.Receiver, d.counter, d.plaintext[:v.PlaintextLen], f.MTU); !bytes.Equal(got, d.message) {
				t.Fatalf("SealMessage:\n got %x\nwant %x", got, d.message)
			}
			rx, ctr, opened, err := OpenMessage(d.suite, &d.key, nil, d.message)
			if err != nil || rx != v.Receiver || ctr != d.counter || !bytes.Equal(opened, d.plaintext) {
				t.Fatalf("OpenMessage = %d, %d, %x, %v", rx, ctr, opened, err)
			}
			if d.suite == SuiteAESCBC {
				kcbc, kaux := DeriveAESCBCKeys(&d.key)
				if hex.EncodeToString(kcbc[:]) != v.KCBC || hex.EncodeToString(kaux[:]) != v.KAux {
					t.Fatal("DeriveAESCBCKeys disagrees with kcbc/kaux")
				}
			}
		})
	}
	// The file must cover what the BPF side is tested on.
	for _, c := range vectorCounters {
		if !counters[c] {
			t.Errorf("no vector with counter %d", c)
		}
	}
	for _, s := range []Suite{SuiteChaCha20Poly1305, SuiteAESCBC} {
		for _, n := range vectorLengths {
			if !lengths[s][n] {
				t.Errorf("no %s vector with plaintext length %d", s, n)
			}
		}
	}
	for _, p := range f.Padding {
		s, err := ParseSuite(p.Suite)
		if err != nil {
			t.Fatal(err)
		}
		if got := PaddedLen(s, p.N, p.MTU); got != p.Padded {
			t.Errorf("PaddedLen(%s, %d, %d) = %d, file says %d", s, p.N, p.MTU, got, p.Padded)
		}
	}
}

// TestVectorsIndependent recomputes every vector with the reference
// implementation in reference_test.go, so a bug in the package that also
// wrote the file is still caught.
func TestVectorsIndependent(t *testing.T) {
	f := loadVectors(t)
	for _, v := range f.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			d := decodeVector(t, v)
			switch d.suite {
			case SuiteAESCBC:
				p := refAESCBC(t, &d.key, d.counter, d.plaintext)
				for _, c := range []struct {
					field, want string
					got         []byte
				}{
					{"kcbc", v.KCBC, p.kcbc[:]},
					{"kaux", v.KAux, p.kaux[:]},
					{"iv", v.IV, p.iv[:]},
					{"polykey", v.PolyKey, p.polyKey[:]},
					{"ciphertext_and_tag", v.CiphertextAndTag, p.sealed},
				} {
					if hex.EncodeToString(c.got) != c.want {
						t.Errorf("%s: reference %x, file %s", c.field, c.got, c.want)
					}
				}
			case SuiteChaCha20Poly1305:
				var nonce [12]byte
				binary.LittleEndian.PutUint64(nonce[4:], d.counter)
				sealed, pk := refChaCha20Poly1305(t, d.key[:], nonce[:], nil, d.plaintext)
				if !bytes.Equal(sealed, d.sealed) {
					t.Errorf("ciphertext_and_tag: reference %x, file %x", sealed, d.sealed)
				}
				if hex.EncodeToString(pk[:]) != v.PolyKey {
					t.Errorf("polykey: reference %x, file %s", pk, v.PolyKey)
				}
			}
			// The header, by hand.
			m := d.message
			if m[0] != v.MessageType || m[1]|m[2]|m[3] != 0 ||
				binary.LittleEndian.Uint32(m[4:8]) != v.Receiver ||
				binary.LittleEndian.Uint64(m[8:16]) != d.counter {
				t.Errorf("message header %x is not type/reserved/receiver/counter", m[:16])
			}
		})
	}
}

func isZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}
