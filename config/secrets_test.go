// SPDX-License-Identifier: MIT

package config

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"unsafe"
)

func keyedText() string {
	return "[Interface]\nPrivateKey = " + ourPrivB64 + "\nListenPort = 51820\n\n[Peer]\nPublicKey = " + peer1PubB64 +
		"\nPresharedKey = " + pskB64 + "\nAllowedIPs = 10.0.0.2/32\n"
}

// chunkReader hands out its data a few bytes at a time and keeps every
// buffer it was given to fill.
type chunkReader struct {
	data  []byte
	given [][]byte
}

func (r *chunkReader) Read(p []byte) (int, error) {
	r.given = append(r.given, p)
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), 7)], r.data)
	r.data = r.data[n:]
	return n, nil
}

// TestReadWipedLeavesNoCopy: reading a file larger than the first buffer
// leaves no copy of it in any buffer read into, once the final one is
// wiped as ParseFile does. bytes.Buffer.ReadFrom, used before, left every
// outgrown buffer, private key included, to the garbage collector.
func TestReadWipedLeavesNoCopy(t *testing.T) {
	text := []byte(keyedText() + strings.Repeat("# padding\n", 300))
	r := &chunkReader{data: bytes.Clone(text)}
	data, err := readWiped(r, 0, MaxFileSize)
	if err != nil || !bytes.Equal(data, text) {
		t.Fatalf("read %d bytes (%v), want the %d of the file", len(data), err, len(text))
	}
	clear(data[:cap(data)])
	for _, p := range r.given {
		if !bytes.Equal(p[:cap(p)], make([]byte, cap(p))) {
			t.Fatalf("a buffer of %d bytes read into still holds file data", cap(p))
		}
	}
	if len(r.given) < 3 {
		t.Fatalf("the reader was called %d times; the test needs growth", len(r.given))
	}
	// Over the limit: one byte more than the limit is read, then it stops.
	data, err = readWiped(&chunkReader{data: bytes.Clone(text)}, 0, 100)
	if err != nil || len(data) != 101 {
		t.Fatalf("over the limit: %d bytes, %v; want 101", len(data), err)
	}
}

// TestDecodeKeyNoHeapCopy: decoding a key allocates nothing, so the only
// copies of its text are the caller's and the wiped stack buffers. The old
// []byte(s) conversion was a heap copy of the encoded key.
func TestDecodeKeyNoHeapCopy(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() {
		if _, ok := decodeKey(ourPrivB64); !ok {
			t.Fatal("key did not decode")
		}
	}); n != 0 {
		t.Fatalf("decodeKey allocates %v times per call", n)
	}
}

// TestKeyLinesAreViews: a line that holds a key (or is no known key, like a
// pasted key) is read as a view of the caller's buffer, which ParseFile
// wipes; the lines of other keys are copies, because the Config keeps
// strings from them. Parse's result survives the wipe of its input.
func TestKeyLinesAreViews(t *testing.T) {
	for _, c := range []struct {
		line string
		view bool
	}{
		{"PrivateKey = " + ourPrivB64, true},
		{"  presharedkey\t= " + pskB64 + " # comment", true},
		{ourPrivB64, true},
		{"[Peer]", true},
		{"PostUp = ip link set %i up", false},
		{"publickey = " + peer1PubB64, false},
		{"Endpoint = host.example:51820", false},
	} {
		raw := []byte(c.line)
		s := lineText(raw)
		if s != c.line {
			t.Fatalf("%q read as %q", c.line, s)
		}
		if view := unsafe.StringData(s) == &raw[0]; view != c.view {
			t.Errorf("%q: view %t, want %t", c.line, view, c.view)
		}
	}

	data := []byte(strings.Replace(keyedText(), "ListenPort", "PostUp = echo up\nListenPort", 1) + "Endpoint = 192.0.2.1:51820\n")
	want, err := Parse("wg0.conf", bytes.Clone(data))
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse("wg0.conf", data)
	if err != nil {
		t.Fatal(err)
	}
	clear(data)
	if !got.Equal(want) || got.Peers[0].Endpoint != "192.0.2.1:51820" || got.Interface.PostUp[0] != "echo up" {
		t.Fatalf("the parsed config changed when its input was wiped:\n%s", got.Marshal())
	}
	// An error that names an unknown key survives the wipe too.
	data = []byte("[Interface]\nBogusKey = 1\n")
	_, err = Parse("wg0.conf", data)
	clear(data)
	if err == nil || !strings.Contains(err.Error(), "BogusKey") {
		t.Fatalf("error after the wipe: %v", err)
	}
}

// TestMarshalPlaceholders: Marshal puts the keys in the returned slice, in
// place of placeholders of the same length.
func TestMarshalPlaceholders(t *testing.T) {
	c := mustParse(t, keyedText())
	out := c.Marshal()
	if bytes.Contains(out, []byte(keyPlaceholder[:8])) {
		t.Fatalf("placeholder left in the output:\n%s", out)
	}
	for _, k := range []string{ourPrivB64, pskB64} {
		if !bytes.Contains(out, []byte(k)) {
			t.Fatalf("output lacks a key:\n%s", out)
		}
	}
	if len(keyPlaceholder) != keyTextLen {
		t.Fatalf("placeholder is %d characters, a key %d", len(keyPlaceholder), keyTextLen)
	}
}
