// SPDX-License-Identifier: MIT

package netif

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

func TestValidateName(t *testing.T) {
	for _, bad := range []string{"", ".", "..", "a/b", "a:b", "a b", "0123456789abcdef"} {
		if err := ValidateName(bad); err == nil {
			t.Errorf("ValidateName(%q) = nil, want error", bad)
		}
	}
	for _, good := range []string{"wg0", "0123456789abcde", "wg-home_1"} {
		if err := ValidateName(good); err != nil {
			t.Errorf("ValidateName(%q) = %v", good, err)
		}
	}
}

// TestTUNAddressMTUUp creates the TUN, configures it as the daemon would and
// proves the fd carries bare IP packets (IFF_NO_PI) routed to the link.
func TestTUNAddressMTUUp(t *testing.T) {
	ns := inNetns(t)
	st := NewState("wgt0")
	f, idx, err := st.CreateTUN()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if idx <= 0 {
		t.Fatalf("ifindex %d", idx)
	}
	addrs := []netip.Prefix{netip.MustParsePrefix("10.9.0.1/24"), netip.MustParsePrefix("fd00:9::1/64")}
	if err := st.AddAddresses(addrs); err != nil {
		t.Fatal(err)
	}
	if err := st.AddAddresses(addrs[:1]); err != nil {
		t.Fatalf("re-adding an address must converge: %v", err)
	}
	if err := st.SetMTU(1420); err != nil {
		t.Fatal(err)
	}
	if err := st.SetUp(); err != nil {
		t.Fatal(err)
	}

	l, err := netlink.LinkByIndex(idx)
	if err != nil {
		t.Fatal(err)
	}
	tun, ok := l.(*netlink.Tuntap)
	if !ok {
		t.Fatalf("link type %s, want tuntap", l.Type())
	}
	if tun.Mode != netlink.TUNTAP_MODE_TUN || !tun.NonPersist {
		t.Errorf("tun mode=%v nonpersist=%v, want tun, non-persistent", tun.Mode, tun.NonPersist)
	}
	if held, err := tunHasQueue(idx); err != nil || !held {
		t.Errorf("tunHasQueue(wgt0) = %v, %v; want true while the fd is open", held, err)
	}
	if l.Attrs().Name != "wgt0" || l.Attrs().MTU != 1420 || l.Attrs().Flags&net.FlagUp == 0 {
		t.Errorf("link %s mtu %d flags %v, want wgt0 mtu 1420 up", l.Attrs().Name, l.Attrs().MTU, l.Attrs().Flags)
	}
	v6, err := netlink.AddrList(l, netlink.FAMILY_V6)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, a := range v6 {
		if a.IP.Equal(net.ParseIP("fd00:9::1")) {
			found = true
			if a.Flags&unix.IFA_F_NODAD == 0 {
				t.Errorf("fd00:9::1 flags %#x lack IFA_F_NODAD", a.Flags)
			}
		}
	}
	if !found {
		t.Errorf("fd00:9::1 not on wgt0: %v", v6)
	}
	if out := ipIn(t, ns, "-4", "addr", "show", "dev", "wgt0"); !strings.Contains(out, "inet 10.9.0.1/24") {
		t.Errorf("ip addr show: %s", out)
	}

	// A UDP datagram to a peer address in the subnet is routed into the TUN
	// and read from the fd as a bare IPv4 packet.
	conn, err := net.Dial("udp4", "10.9.0.2:9")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("hello-tun")); err != nil {
		t.Fatal(err)
	}
	// A deadline only so a broken TUN cannot hang the test; nothing is
	// asserted about timing. Skip IPv6 router solicitations and the like.
	if err := f.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatalf("TUN fd is not pollable: %v", err)
	}
	buf := make([]byte, 2048)
	for {
		n, err := f.Read(buf)
		if err != nil {
			t.Fatalf("read TUN: %v", err)
		}
		if buf[0]>>4 == 4 && bytes.HasSuffix(buf[:n], []byte("hello-tun")) {
			break
		}
	}

	// The link lives exactly as long as the fd.
	f.Close()
	if _, err := netlink.LinkByName("wgt0"); err == nil {
		t.Error("wgt0 still exists after its fd was closed")
	}
	if err := st.Teardown(); err != nil {
		t.Errorf("Teardown after the link vanished: %v", err)
	}
}

func TestCreateTUNDuplicate(t *testing.T) {
	ns := inNetns(t)
	f, _, err := CreateTUN("wgt0")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, _, err = CreateTUN("wgt0")
	if err == nil || !strings.Contains(err.Error(), "interface wgt0 already exists") || !errors.Is(err, os.ErrExist) {
		t.Fatalf("second CreateTUN: %v, want \"interface wgt0 already exists\"", err)
	}
	// A non-TUN link of that name is refused too, not hijacked.
	ipIn(t, ns, "link", "add", "wgt1", "type", "veth", "peer", "name", "wgt1p")
	if _, _, err := CreateTUN("wgt1"); err == nil || !strings.Contains(err.Error(), "interface wgt1 already exists") {
		t.Fatalf("CreateTUN over a veth: %v", err)
	}
	// So is a persistent TUN nobody holds: attaching to it silently would
	// adopt someone else's configuration.
	ipIn(t, ns, "tuntap", "add", "dev", "wgt2", "mode", "tun")
	if _, _, err := CreateTUN("wgt2"); err == nil || !strings.Contains(err.Error(), "interface wgt2 already exists") {
		t.Fatalf("CreateTUN over a persistent TUN: %v", err)
	}
	l, err := netlink.LinkByName("wgt2")
	if err != nil {
		t.Fatal(err)
	}
	if held, err := tunHasQueue(l.Attrs().Index); err != nil || held {
		t.Errorf("tunHasQueue(orphaned persistent wgt2) = %v, %v; want false", held, err)
	}
	if _, _, err := CreateTUN("bad/name"); err == nil {
		t.Fatal("CreateTUN accepted an invalid name")
	}
}
