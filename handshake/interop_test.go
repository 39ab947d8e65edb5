// SPDX-License-Identifier: MIT

package handshake

// Interop with wireguard-go's own device package, run in-process: its channel
// TUN stands in for the kernel interface and a loopback-only UDP bind for the
// network. Completing handshakes and then moving one data packet each way
// with the derived keys proves the handshake is byte-for-byte WireGuard.

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/curve25519"
	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"
	"golang.zx2c4.com/wireguard/tun/tuntest"
)

var (
	theirInner = netip.MustParseAddr("10.9.0.1")
	ourInner   = netip.MustParseAddr("10.9.0.2")
	loopback   = netip.MustParseAddr("127.0.0.1")
)

// loopbackBind is a conn.Bind on 127.0.0.1 only (StdNetBind listens on every
// address), one packet per call.
type loopbackBind struct {
	mu   sync.Mutex
	conn *net.UDPConn
	port atomic.Uint32
}

type loopbackEndpoint struct{ ap netip.AddrPort }

func (loopbackEndpoint) ClearSrc()             {}
func (loopbackEndpoint) SrcToString() string   { return "" }
func (e loopbackEndpoint) DstToString() string { return e.ap.String() }
func (e loopbackEndpoint) DstToBytes() []byte  { b, _ := e.ap.MarshalBinary(); return b }
func (e loopbackEndpoint) DstIP() netip.Addr   { return e.ap.Addr() }
func (loopbackEndpoint) SrcIP() netip.Addr     { return netip.Addr{} }

func (b *loopbackBind) Open(port uint16) ([]conn.ReceiveFunc, uint16, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.conn != nil {
		return nil, 0, conn.ErrBindAlreadyOpen
	}
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, port)))
	if err != nil {
		return nil, 0, err
	}
	b.conn = c
	actual := uint16(c.LocalAddr().(*net.UDPAddr).Port)
	b.port.Store(uint32(actual))
	recv := func(packets [][]byte, sizes []int, eps []conn.Endpoint) (int, error) {
		n, ap, err := c.ReadFromUDPAddrPort(packets[0])
		if err != nil {
			return 0, err
		}
		sizes[0] = n
		eps[0] = loopbackEndpoint{ap}
		return 1, nil
	}
	return []conn.ReceiveFunc{recv}, actual, nil
}

func (b *loopbackBind) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.conn == nil {
		return nil
	}
	err := b.conn.Close()
	b.conn = nil
	return err
}

func (b *loopbackBind) SetMark(uint32) error { return nil }
func (b *loopbackBind) BatchSize() int       { return 1 }

func (b *loopbackBind) Send(bufs [][]byte, ep conn.Endpoint) error {
	b.mu.Lock()
	c := b.conn
	b.mu.Unlock()
	if c == nil {
		return net.ErrClosed
	}
	le, ok := ep.(loopbackEndpoint)
	if !ok {
		return conn.ErrWrongEndpointType
	}
	for _, buf := range bufs {
		if _, err := c.WriteToUDPAddrPort(buf, le.ap); err != nil {
			return err
		}
	}
	return nil
}

func (b *loopbackBind) ParseEndpoint(s string) (conn.Endpoint, error) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return nil, err
	}
	return loopbackEndpoint{ap}, nil
}

func newKey(t testing.TB) (private, public [32]byte) {
	t.Helper()
	if _, err := rand.Read(private[:]); err != nil {
		t.Fatal(err)
	}
	private[0] &= 248
	private[31] = private[31]&127 | 64
	pub, err := curve25519.X25519(private[:], curve25519.Basepoint)
	if err != nil {
		t.Fatal(err)
	}
	copy(public[:], pub)
	return private, public
}

// wgSide is a wireguard-go device with us as its only peer.
type wgSide struct {
	dev    *device.Device
	tun    *tuntest.ChannelTUN
	bind   *loopbackBind
	public [32]byte
	addr   netip.AddrPort
}

func startWireGuard(t *testing.T, ourPublic [32]byte, ourAddr netip.AddrPort, psk *[32]byte) *wgSide {
	t.Helper()
	private, public := newKey(t)
	w := &wgSide{tun: tuntest.NewChannelTUN(), bind: &loopbackBind{}, public: public}
	logger := device.NewLogger(device.LogLevelSilent, "")
	if os.Getenv("WGBPFD_WG_LOG") != "" {
		logger = device.NewLogger(device.LogLevelVerbose, "wireguard-go: ")
	}
	w.dev = device.NewDevice(w.tun.TUN(), w.bind, logger)
	t.Cleanup(w.dev.Close)

	var cfg strings.Builder
	fmt.Fprintf(&cfg, "private_key=%s\nlisten_port=0\n", hex.EncodeToString(private[:]))
	fmt.Fprintf(&cfg, "public_key=%s\n", hex.EncodeToString(ourPublic[:]))
	if psk != nil {
		fmt.Fprintf(&cfg, "preshared_key=%s\n", hex.EncodeToString(psk[:]))
	}
	fmt.Fprintf(&cfg, "endpoint=%s\nallowed_ip=%s/32\n", ourAddr, ourInner)
	if err := w.dev.IpcSet(cfg.String()); err != nil {
		t.Fatalf("IpcSet: %v", err)
	}
	if err := w.dev.Up(); err != nil {
		t.Fatalf("Up: %v", err)
	}
	w.addr = netip.AddrPortFrom(loopback, uint16(w.bind.port.Load()))
	if w.addr.Port() == 0 {
		t.Fatal("wireguard-go bind has no port")
	}
	return w
}

// ourSide is the Handshaker on a plain loopback UDP socket.
type ourSide struct {
	h      *Handshaker
	conn   *net.UDPConn
	addr   netip.AddrPort
	public [32]byte
}

func newOurSide(t *testing.T) *ourSide {
	t.Helper()
	private, public := newKey(t)
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, 0)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &ourSide{
		h:      New(private, nil),
		conn:   c,
		addr:   c.LocalAddr().(*net.UDPAddr).AddrPort(),
		public: public,
	}
}

func (o *ourSide) send(t *testing.T, msg []byte, to netip.AddrPort) {
	t.Helper()
	if _, err := o.conn.WriteToUDPAddrPort(msg, to); err != nil {
		t.Fatalf("send: %v", err)
	}
}

// receive returns the next datagram of type typ (skipping others, e.g. cookie
// replies or keepalives) and its source.
func receive(t *testing.T, c *net.UDPConn, typ byte, timeout time.Duration) ([]byte, netip.AddrPort) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	buf := make([]byte, 2048)
	for {
		if err := c.SetReadDeadline(deadline); err != nil {
			t.Fatal(err)
		}
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("waiting for message type %d: %v", typ, err)
		}
		if n > 0 && buf[0] == typ {
			return bytes.Clone(buf[:n]), from
		}
	}
}

// sealData builds a WireGuard transport message (type 4).
func sealData(t *testing.T, kp *Keypair, counter uint64, packet []byte) []byte {
	t.Helper()
	aead, err := chacha20poly1305.New(kp.Send[:])
	if err != nil {
		t.Fatal(err)
	}
	padded := append(bytes.Clone(packet), make([]byte, (16-len(packet)%16)%16)...)
	msg := make([]byte, 16, 16+len(padded)+aead.Overhead())
	binary.LittleEndian.PutUint32(msg[0:], MessageTransportType)
	binary.LittleEndian.PutUint32(msg[4:], kp.RemoteIndex)
	binary.LittleEndian.PutUint64(msg[8:], counter)
	var nonce [12]byte
	binary.LittleEndian.PutUint64(nonce[4:], counter)
	return aead.Seal(msg, nonce[:], padded, nil)
}

// openData decrypts a transport message addressed to kp.
func openData(t *testing.T, kp *Keypair, msg []byte) []byte {
	t.Helper()
	if len(msg) < 32 || binary.LittleEndian.Uint32(msg) != MessageTransportType {
		t.Fatalf("not a transport message: %d bytes", len(msg))
	}
	if got := binary.LittleEndian.Uint32(msg[4:]); got != kp.LocalIndex {
		t.Fatalf("transport receiver index %#x, want our local index %#x", got, kp.LocalIndex)
	}
	aead, err := chacha20poly1305.New(kp.Receive[:])
	if err != nil {
		t.Fatal(err)
	}
	var nonce [12]byte
	copy(nonce[4:], msg[8:16])
	plain, err := aead.Open(nil, nonce[:], msg[16:], nil)
	if err != nil {
		t.Fatalf("their transport message does not decrypt with our receive key: %v", err)
	}
	return plain
}

// receiveData waits for a non-keepalive transport message.
func receiveData(t *testing.T, c *net.UDPConn, kp *Keypair) []byte {
	t.Helper()
	for {
		msg, _ := receive(t, c, MessageTransportType, 10*time.Second)
		if plain := openData(t, kp, msg); len(plain) > 0 {
			return plain
		}
	}
}

// deliverToTUN sends packet over the session until wireguard-go writes it to
// its TUN. It resends (with the next counter) because a flood may still fill
// wireguard-go's socket buffer, where UDP is dropped silently.
func (w *wgSide) deliverToTUN(t *testing.T, o *ourSide, kp *Keypair, packet []byte) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for counter := uint64(0); ; counter++ {
		o.send(t, sealData(t, kp, counter, packet), w.addr)
		select {
		case got := <-w.tun.Inbound:
			if !bytes.Equal(got, packet) {
				t.Fatalf("wireguard-go delivered %x, want %x", got, packet)
			}
			return
		case <-time.After(200 * time.Millisecond):
		case <-deadline:
			t.Fatal("our data packet never reached wireguard-go's TUN")
		}
	}
}

func (w *wgSide) sendFromTUN(t *testing.T, packet []byte) {
	t.Helper()
	select {
	case w.tun.Outbound <- packet:
	case <-time.After(10 * time.Second):
		t.Fatal("wireguard-go did not read its TUN")
	}
}

// exchangeData moves one packet each way over the new session.
func exchangeData(t *testing.T, o *ourSide, w *wgSide, kp *Keypair) {
	t.Helper()
	ours := tuntest.Ping(theirInner, ourInner)
	w.deliverToTUN(t, o, kp, ours)

	theirs := tuntest.Ping(ourInner, theirInner)
	w.sendFromTUN(t, theirs)
	plain := receiveData(t, o.conn, kp)
	if !bytes.HasPrefix(plain, theirs) || len(plain)%16 != 0 {
		t.Fatalf("decrypted %x, want %x padded to 16", plain, theirs)
	}
}

func pskCases(t *testing.T) []struct {
	name string
	psk  *[32]byte
} {
	var psk [32]byte
	if _, err := rand.Read(psk[:]); err != nil {
		t.Fatal(err)
	}
	return []struct {
		name string
		psk  *[32]byte
	}{{"no-psk", nil}, {"psk", &psk}}
}

func TestInteropWeInitiate(t *testing.T) {
	for _, tc := range pskCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			o := newOurSide(t)
			w := startWireGuard(t, o.public, o.addr, tc.psk)
			if err := o.h.AddPeer(w.public, tc.psk); err != nil {
				t.Fatal(err)
			}
			init, err := o.h.CreateInitiation(w.public, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			o.send(t, init, w.addr)
			resp, from := receive(t, o.conn, MessageResponseType, 10*time.Second)
			res, err := o.h.Consume(resp, from, time.Now(), false)
			if err != nil {
				t.Fatalf("consuming wireguard-go's response: %v", err)
			}
			if res.Kind != ResponseConsumed || res.Peer != w.public || res.Keypair == nil || !res.Keypair.Initiator {
				t.Fatalf("result %v peer ok %t keypair %v", res.Kind, res.Peer == w.public, res.Keypair)
			}
			exchangeData(t, o, w, res.Keypair)
		})
	}
}

// theyInitiate makes wireguard-go start a handshake by routing a packet to us
// and returns that packet, which it sends once the handshake completes.
func theyInitiate(t *testing.T, w *wgSide) []byte {
	t.Helper()
	first := tuntest.Ping(ourInner, theirInner)
	w.sendFromTUN(t, first)
	return first
}

// completeTheirHandshake answers initiations (and sends cookie replies when
// underLoad) until one is consumed, then checks the queued packet and one
// packet back.
func completeTheirHandshake(t *testing.T, o *ourSide, w *wgSide, queued []byte, underLoad bool) (cookieReplies int) {
	t.Helper()
	for {
		init, from := receive(t, o.conn, MessageInitiationType, 15*time.Second)
		res, err := o.h.Consume(init, from, time.Now(), underLoad)
		if errors.Is(err, ErrCookieRequired) {
			if res.Kind != CookieReplyToSend || len(res.Reply) != MessageCookieReplySize {
				t.Fatalf("cookie required but result %v with %d-byte reply", res.Kind, len(res.Reply))
			}
			cookieReplies++
			o.send(t, res.Reply, from)
			continue
		}
		if err != nil {
			t.Fatalf("consuming wireguard-go's initiation: %v", err)
		}
		if res.Kind != InitiationConsumed || res.Peer != w.public || res.Keypair == nil || res.Keypair.Initiator {
			t.Fatalf("result %v keypair %v", res.Kind, res.Keypair)
		}
		o.send(t, res.Reply, from)
		plain := receiveData(t, o.conn, res.Keypair)
		if !bytes.HasPrefix(plain, queued) {
			t.Fatalf("decrypted %x, want %x", plain, queued)
		}
		ours := tuntest.Ping(theirInner, ourInner)
		w.deliverToTUN(t, o, res.Keypair, ours)
		return cookieReplies
	}
}

func TestInteropTheyInitiate(t *testing.T) {
	for _, tc := range pskCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			o := newOurSide(t)
			w := startWireGuard(t, o.public, o.addr, tc.psk)
			if err := o.h.AddPeer(w.public, tc.psk); err != nil {
				t.Fatal(err)
			}
			queued := theyInitiate(t, w)
			if n := completeTheirHandshake(t, o, w, queued, false); n != 0 {
				t.Fatalf("%d cookie replies while not under load", n)
			}
		})
	}
}

// We are under load: their first initiation gets a cookie reply, their retry
// (REKEY_TIMEOUT later) carries mac2 made from it and is accepted.
func TestInteropCookieWeAreUnderLoad(t *testing.T) {
	o := newOurSide(t)
	w := startWireGuard(t, o.public, o.addr, nil)
	if err := o.h.AddPeer(w.public, nil); err != nil {
		t.Fatal(err)
	}
	queued := theyInitiate(t, w)
	if n := completeTheirHandshake(t, o, w, queued, true); n == 0 {
		t.Fatal("handshake completed under load without a cookie round")
	}
}

// wireguard-go under load: a flood of initiations from a second socket fills
// its handshake queue; our initiation from the main socket then gets a cookie
// reply, and the next one, carrying mac2 made from that cookie, is answered
// while the flood still keeps it under load.
func TestInteropCookieTheyAreUnderLoad(t *testing.T) {
	o := newOurSide(t)
	w := startWireGuard(t, o.public, o.addr, nil)
	if err := o.h.AddPeer(w.public, nil); err != nil {
		t.Fatal(err)
	}
	flood, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, 0)))
	if err != nil {
		t.Fatal(err)
	}
	defer flood.Close()

	floodMsg, err := o.h.CreateInitiation(w.public, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var flooding sync.WaitGroup
	flooding.Add(1)
	go func() {
		defer flooding.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			for range 64 {
				flood.WriteToUDPAddrPort(floodMsg, w.addr)
			}
		}
	}()
	var stopOnce sync.Once
	stopFlood := func() { stopOnce.Do(func() { close(stop) }); flooding.Wait() }
	defer stopFlood()

	// A cookie reply to the flood socket proves wireguard-go is under load.
	receive(t, flood, MessageCookieReplyType, 10*time.Second)

	// Our initiation without mac2: resend until wireguard-go (whose queue
	// may be full) answers it with a cookie reply.
	time.Sleep(50 * time.Millisecond) // a later TAI64N stamp than the flood's
	plain, err := o.h.CreateInitiation(w.public, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(plain[MessageInitiationSize-macSize:], make([]byte, macSize)) {
		t.Fatal("initiation carries mac2 before any cookie was received")
	}
	cookieReply := resendUntil(t, o, plain, w.addr, MessageCookieReplyType)
	res, err := o.h.Consume(cookieReply, w.addr, time.Now(), false)
	if err != nil || res.Kind != CookieConsumed || res.Peer != w.public {
		t.Fatalf("consuming wireguard-go's cookie reply: %v (%v)", err, res.Kind)
	}

	withMAC2, err := o.h.CreateInitiation(w.public, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(withMAC2[MessageInitiationSize-macSize:], make([]byte, macSize)) {
		t.Fatal("initiation after a cookie carries no mac2")
	}
	resp := resendUntil(t, o, withMAC2, w.addr, MessageResponseType)
	res, err = o.h.Consume(resp, w.addr, time.Now(), false)
	if err != nil || res.Kind != ResponseConsumed {
		t.Fatalf("consuming the response: %v (%v)", err, res.Kind)
	}
	stopFlood()
	exchangeData(t, o, w, res.Keypair)
}

// resendUntil sends msg every 50 ms until a message of type typ arrives.
func resendUntil(t *testing.T, o *ourSide, msg []byte, to netip.AddrPort, typ byte) []byte {
	t.Helper()
	buf := make([]byte, 2048)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		o.send(t, msg, to)
		o.conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		for {
			n, _, err := o.conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				break
			}
			if n > 0 && buf[0] == typ {
				return bytes.Clone(buf[:n])
			}
		}
	}
	t.Fatalf("no message of type %d arrived", typ)
	return nil
}
