// SPDX-License-Identifier: MIT

package main

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wgbpfd/wgbpfd/config"
	"github.com/wgbpfd/wgbpfd/handshake"
)

// peerSet is the responder's key and the many peers configured on it; the
// first len(floodKeys) peers are the identities the flood initiates from.
type peerSet struct {
	resp      config.PrivateKey
	pubs      []config.Key
	floodKeys []config.PrivateKey
}

func newPeerSet(peers, flood int) (*peerSet, error) {
	ps := &peerSet{pubs: make([]config.Key, peers), floodKeys: make([]config.PrivateKey, flood)}
	var err error
	if ps.resp, err = config.GeneratePrivateKey(); err != nil {
		return nil, err
	}
	var wg sync.WaitGroup
	var firstErr atomic.Value
	workers := runtime.GOMAXPROCS(0)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < peers; i += workers {
				k, err := config.GeneratePrivateKey()
				if err != nil {
					firstErr.Store(err)
					return
				}
				ps.pubs[i] = k.Public()
				if i < flood {
					ps.floodKeys[i] = k
				}
			}
		}()
	}
	wg.Wait()
	if e, ok := firstErr.Load().(error); ok {
		return nil, e
	}
	return ps, nil
}

// peerAllowed is peer i's tunnel address, inside the responder's /16.
func peerAllowed(i int) string { return fmt.Sprintf("10.200.%d.%d/32", (i+2)/256, (i+2)%256) }

const scaleAddr = "10.200.0.1/16"

// peersText is the [Peer] sections of ps.
func (ps *peerSet) peersText() string {
	var b strings.Builder
	for i, pub := range ps.pubs {
		fmt.Fprintf(&b, "\n[Peer]\nPublicKey = %s\nAllowedIPs = %s\n", pub, peerAllowed(i))
	}
	return b.String()
}

// scaleResult is one daemon with many peers: start-up, memory and the
// handshake flood.
type scaleResult struct {
	startup        time.Duration // exec → configured and `wg show` answers
	socket         time.Duration // exec → control socket exists (wgbpfd) / setconf done (wireguard-go)
	rssKiB         int64         // after start-up
	rssAfterKiB    int64         // after the flood
	hwmKiB         int64         // peak
	hs             floodResult
	peers, floodID int
}

// runScale starts one responder with ps configured (wgbpfd from its config
// file, wireguard-go with wg setconf), times it, then floods it with
// initiations from the other namespace.
func runScale(s *scope, t target, bin bins, ps *peerSet, o options) scaleResult {
	p := newUnderlay(s, "wgbscale")
	var res scaleResult
	res.peers, res.floodID = len(ps.pubs), len(ps.floodKeys)
	peers := ps.peersText()
	var d *proc
	switch t.kind {
	case kindWgbpfd:
		conf := writeFile(s, p.dir, p.ifB+".conf", fmt.Sprintf("[Interface]\nPrivateKey = %s\nListenPort = %d\nAddress = %s\nCipher = %s\n%s",
			secret(ps.resp), wgPort, scaleAddr, t.cipher, peers))
		t0 := time.Now()
		d = start(s, "wgbpfd "+p.ifB, p.b.Command(bin.wgbpfd, "-c", conf, "-i", p.ifB, "--log-level", "warn"))
		waitSocket(s, d, p.ifB, 120*time.Second)
		res.socket = time.Since(t0)
		waitWgShow(s, p, d, p.ifB)
		res.startup = time.Since(t0)
	case kindWireguardGo:
		conf := writeFile(s, p.dir, p.ifB+".wg", fmt.Sprintf("[Interface]\nPrivateKey = %s\nListenPort = %d\n%s", secret(ps.resp), wgPort, peers))
		t0 := time.Now()
		d = startWireguardGo(s, bin.wggo, p.b, p.ifB)
		wgQuickUp(s, p.b, p.ifB, conf, scaleAddr)
		res.socket = time.Since(t0)
		waitWgShow(s, p, d, p.ifB)
		res.startup = time.Since(t0)
	default:
		s.Fatalf("no daemon for %s", t.title)
	}
	time.Sleep(500 * time.Millisecond) // let start-up garbage settle
	res.rssKiB, _ = rssKiB(d.pid())
	logf("%s: %d peers, ready in %v, RSS %d MiB", t.title, len(ps.pubs), res.startup.Round(time.Millisecond), res.rssKiB>>10)

	res.hs = flood(s, p, ps, o, d.pid())
	if d.exited() {
		s.Fatalf("%s died during the handshake flood: %v\n%s", d.name, d.err, tail(d.out.String()))
	}
	res.rssAfterKiB, res.hwmKiB = rssKiB(d.pid())
	return res
}

func waitWgShow(s *scope, p *pair, d *proc, ifname string) {
	deadline := time.Now().Add(120 * time.Second)
	for !wgShows(p.b, ifname) {
		if d.exited() {
			s.Fatalf("%s exited: %v\n%s", d.name, d.err, tail(d.out.String()))
		}
		if time.Now().After(deadline) {
			s.Fatalf("%s: wg show does not answer after 120 s", d.name)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// floodResult is what the initiators saw.
type floodResult struct {
	perSec       float64 // responses per second in the steady window
	offered      float64 // initiations per second sent
	responses    int64   // all responses
	cookies      int64   // cookie replies during the flood
	primedCookie int     // identities holding a cookie before the flood
	sendErrs     int64
	saturated    bool    // responses ≥ 95% of offered: the sender was the limit
	respCPU      float64 // responder process CPU-s/s in the window
	machCPU      float64 // whole machine busy CPU-s/s in the window
	perCPUSec    float64 // handshakes per CPU second of the responder process
}

// procCPU is the user+system CPU seconds of pid (all its threads).
func procCPU(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b)[i+1:])
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / userHZ
}

// floodSrc is identity i's source address in the initiators' namespace.
func floodSrc(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{198, 18, byte(i / 250), byte(i%250 + 1)})
}

type initiator struct {
	hs     *handshake.Handshaker
	conn   *net.UDPConn
	msgs   [][]byte
	cookie atomic.Bool
}

// flood drives the responder in p.b from many identities in p.a: each has
// its own source address (so per-source rate limits do not cap it) and
// its own key (so per-peer flood limits do not). Initiations are made in
// advance so that the sender costs little CPU while the responder is
// measured; each carries mac2 once the identity got a cookie.
func flood(s *scope, p *pair, ps *peerSet, o options, respPid int) floodResult {
	n := len(ps.floodKeys)
	respPub := [32]byte(ps.resp.Public())
	resp := netip.AddrPortFrom(netip.MustParseAddr(underB), wgPort)

	// Source addresses in a, routed from b through a's underlay address.
	var batch strings.Builder
	for i := range n {
		fmt.Fprintf(&batch, "addr add %s/32 dev ul0\n", floodSrc(i))
	}
	cmd := p.a.Command("ip", "-batch", "-")
	cmd.Stdin = strings.NewReader(batch.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		s.Fatalf("adding flood source addresses: %v: %s", err, out)
	}
	p.b.MustRun(s, "ip", "route", "add", "198.18.0.0/15", "via", underA)

	ids := make([]*initiator, n)
	s.Cleanup(func() {
		for _, id := range ids {
			if id != nil {
				id.conn.Close()
			}
		}
	})
	err := p.a.Do(func() error {
		for i := range n {
			c, err := net.DialUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(floodSrc(i), 0)), net.UDPAddrFromAddrPort(resp))
			if err != nil {
				return err
			}
			_ = c.SetReadBuffer(1 << 16)
			id := &initiator{hs: handshake.New([32]byte(ps.floodKeys[i]), nil), conn: c}
			ids[i] = id
			if err := id.hs.AddPeer(respPub, nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		s.Fatalf("flood sockets: %v", err)
	}

	// Virtual clock for the initiators' timestamps and cookie ages: priming
	// round r uses base+r·30 ms, the flood base+5 s+k·50 ms, so timestamps
	// of one identity always increase and cookies stay fresh.
	base := time.Now()
	var primeNow atomic.Int64
	var responses, cookies atomic.Int64
	measuring := atomic.Bool{}
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 256)
			for {
				m, err := id.conn.Read(buf)
				if err != nil {
					return
				}
				switch {
				case m == handshake.MessageResponseSize && buf[0] == handshake.MessageResponseType:
					responses.Add(1)
				case m == handshake.MessageCookieReplySize && buf[0] == handshake.MessageCookieReplyType:
					if measuring.Load() {
						cookies.Add(1)
						continue
					}
					now := base.Add(time.Duration(primeNow.Load()))
					if _, err := id.hs.Consume(buf[:m], resp, now, false); err == nil {
						id.cookie.Store(true)
					}
				}
			}
		}()
	}

	// Prime: send initiations until the responder, overwhelmed, has given
	// every identity a cookie (or it never claims load).
	primed := 0
	for r := 0; r < 25; r++ {
		now := base.Add(time.Duration(r) * 30 * time.Millisecond)
		primeNow.Store(int64(now.Sub(base)))
		// Every identity sends, primed or not, so that the responder stays
		// under load while the last ones get their cookies.
		sent := 0
		for _, id := range ids {
			msg, err := id.hs.CreateInitiation(respPub, now)
			if err != nil {
				s.Fatalf("CreateInitiation: %v", err)
			}
			_, _ = id.conn.Write(msg)
			sent++
		}
		time.Sleep(250 * time.Millisecond)
		primed = 0
		for _, id := range ids {
			if id.cookie.Load() {
				primed++
			}
		}
		if primed == n {
			break
		}
		if r >= 4 && primed == 0 {
			break // never under load
		}
	}

	// Make the flood's initiations.
	total := int(o.hsRate * o.hsDur.Seconds())
	per := (total + n - 1) / n
	var gw sync.WaitGroup
	workers := runtime.GOMAXPROCS(0)
	for w := range workers {
		gw.Add(1)
		go func() {
			defer gw.Done()
			for i := w; i < n; i += workers {
				id := ids[i]
				id.msgs = make([][]byte, per)
				for k := range per {
					now := base.Add(5*time.Second + time.Duration(k)*50*time.Millisecond)
					msg, err := id.hs.CreateInitiation(respPub, now)
					if err != nil {
						panic(err)
					}
					id.msgs[k] = msg
				}
			}
		}()
	}
	gw.Wait()
	time.Sleep(1500 * time.Millisecond) // priming's load flag lapses, stray replies arrive

	// Flood at o.hsRate: message j goes from identity j%n, its (j/n)-th.
	measuring.Store(true)
	responses.Store(0)
	var sendErrs int64
	warm := o.hsDur / 8
	var atWarm, atEnd int64
	var tWarm, tEnd time.Time
	var cpuWarm float64
	var machWarm cpuStat
	startT := time.Now()
	warmDone := false
	for j := range per * n {
		if j%32 == 0 {
			due := startT.Add(time.Duration(float64(j) / o.hsRate * float64(time.Second)))
			if d := time.Until(due); d > 0 {
				time.Sleep(d)
			}
			if !warmDone && time.Since(startT) >= warm {
				atWarm, tWarm, warmDone = responses.Load(), time.Now(), true
				cpuWarm, machWarm = procCPU(respPid), readCPU()
			}
		}
		if _, err := ids[j%n].conn.Write(ids[j%n].msgs[j/n]); err != nil {
			sendErrs++
		}
	}
	atEnd, tEnd = responses.Load(), time.Now()
	cpuEnd := procCPU(respPid)
	machBusy, _ := machWarm.since()
	elapsed := tEnd.Sub(startT).Seconds()
	time.Sleep(500 * time.Millisecond)
	for _, id := range ids {
		id.conn.Close()
	}
	wg.Wait()
	res := floodResult{
		offered:      float64(per*n) / elapsed,
		responses:    responses.Load(),
		cookies:      cookies.Load(),
		primedCookie: primed,
		sendErrs:     sendErrs,
	}
	if warmDone && tEnd.After(tWarm) {
		win := tEnd.Sub(tWarm).Seconds()
		res.perSec = float64(atEnd-atWarm) / win
		res.respCPU = (cpuEnd - cpuWarm) / win
		res.machCPU = machBusy / win
		if cpuEnd > cpuWarm {
			res.perCPUSec = float64(atEnd-atWarm) / (cpuEnd - cpuWarm)
		}
	}
	res.saturated = res.perSec >= 0.95*res.offered
	logf("handshake flood: %d identities (%d with cookies), offered %.0f/s, completed %.0f/s (%.0f per responder CPU-second; responder %.2f CPU-s/s, machine %.2f), %d responses, %d cookie replies, %d send errors",
		n, primed, res.offered, res.perSec, res.perCPUSec, res.respCPU, res.machCPU, res.responses, res.cookies, sendErrs)
	return res
}
