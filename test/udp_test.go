// SPDX-License-Identifier: MIT

package test

import (
	"bytes"
	"encoding/binary"
	"net"
	"testing"
	"time"

	"github.com/wgbpfd/wgbpfd/internal/nstest"
)

// udpSizes are inner UDP payload sizes: tiny, odd, and the largest that
// fits a 1420-byte MTU over IPv6 (1420 - 40 - 8), so padding and the MTU
// edge are both crossed.
var udpSizes = []int{1, 17, 255, 1000, 1372}

// udpPayload is datagram seq's content: its number, then a pattern that
// depends on it.
func udpPayload(seq, size int) []byte {
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(seq*31 + i)
	}
	if size >= 4 {
		binary.BigEndian.PutUint32(b, uint32(seq))
	}
	return b
}

// transferUDP sends count datagrams from `from` to a socket at addr in
// `to`, paced, and checks that what arrives is intact; UDP may lose a few,
// but not more than 2%.
func transferUDP(t *testing.T, from, to *nstest.NS, addr string, count int) {
	t.Helper()
	var rc net.PacketConn
	to.MustDo(t, func() (err error) {
		rc, err = net.ListenPacket("udp", net.JoinHostPort(addr, "0"))
		return err
	})
	defer rc.Close()
	var sc net.Conn
	from.MustDo(t, func() (err error) {
		sc, err = net.Dial("udp", rc.LocalAddr().String())
		return err
	})
	defer sc.Close()
	// Read while sending: the socket buffer holds only ~100 datagrams.
	type result struct {
		got     int
		corrupt int
	}
	done := make(chan result, 1)
	go func() {
		var r result
		buf := make([]byte, 2048)
		for {
			_ = rc.SetReadDeadline(time.Now().Add(2 * time.Second))
			n, _, err := rc.ReadFrom(buf)
			if err != nil {
				done <- r
				return
			}
			if !validUDPPayload(buf[:n], count) {
				r.corrupt++
			}
			r.got++
		}
	}()
	for seq := 0; seq < count; seq++ {
		if _, err := sc.Write(udpPayload(seq, udpSizes[seq%len(udpSizes)])); err != nil {
			t.Fatalf("UDP send %d: %v", seq, err)
		}
		time.Sleep(time.Millisecond)
	}
	r := <-done
	got := r.got
	if r.corrupt > 0 {
		t.Fatalf("UDP to %s: %d datagrams arrived corrupted", addr, r.corrupt)
	}
	if got < count*98/100 {
		t.Fatalf("UDP to %s: %d of %d datagrams arrived", addr, got, count)
	}
	t.Logf("UDP %d of %d datagrams (sizes %v) → %s intact", got, count, udpSizes, addr)
}

// validUDPPayload reports whether b is one of the datagrams transferUDP sent.
func validUDPPayload(b []byte, count int) bool {
	for s := 0; s < count; s++ {
		if udpSizes[s%len(udpSizes)] == len(b) && bytes.Equal(b, udpPayload(s, len(b))) {
			return true
		}
	}
	return false
}
