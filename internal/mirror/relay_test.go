package mirror

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// relayCopy builds a copy as a source host's mirror does: from src to
// dst with VNI vni, of a 100-byte UDP datagram.
func relayCopy(src, dst string, vni uint32) []byte {
	e := Encap{Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst), VNI: vni,
		InnerSrc: net.HardwareAddr{2, 0, 0, 0, 0, 1}, InnerDst: net.HardwareAddr{2, 0, 0, 0, 0, 2}}
	return e.Build(nil, ipv4UDP(100, 40000, 8080))
}

func TestRelayDatagram(t *testing.T) {
	c := relayCopy("10.0.1.10", "10.0.2.10", 77)
	b := AppendRelay(nil, "tms-abc", c)
	if !bytes.HasPrefix(b, []byte("PMR1\x07tms-abc")) {
		t.Fatalf("datagram starts % x", b[:12])
	}
	s, got, err := ParseRelay(b)
	if err != nil || s != "tms-abc" || !bytes.Equal(got, c) {
		t.Fatalf("ParseRelay = %q, %d bytes, %v; want tms-abc and the copy", s, len(got), err)
	}
	for name, b := range map[string][]byte{
		"empty":             nil,
		"other magic":       append([]byte("PMR2\x01x"), c...),
		"no session ID":     append([]byte("PMR1\x00"), c...),
		"ID longer than 64": append(append([]byte("PMR1\x41"), strings.Repeat("x", 65)...), c...),
		"cut in the ID":     []byte("PMR1\x07tms"),
	} {
		if _, _, err := ParseRelay(b); err == nil {
			t.Errorf("%s: ParseRelay accepted it", name)
		}
	}
}

func TestCheckCopy(t *testing.T) {
	src, target, hostB := netip.MustParseAddr("10.0.1.10"), netip.MustParseAddr("10.0.2.10"), netip.MustParseAddr("192.0.2.2")
	rt := RelayTarget{SessionID: "tms-1", VNI: 77, Target: target, Sources: map[netip.Addr]netip.Addr{src: hostB}}
	good := relayCopy("10.0.1.10", "10.0.2.10", 77)
	mod := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	for _, c := range []struct {
		name string
		from string
		pkt  []byte
		want string // "" accepted
	}{
		{"the copy", "192.0.2.2", good, ""},
		{"from the host as an IPv4-mapped address", "::ffff:192.0.2.2", good, ""},
		{"relayed by another host", "192.0.2.3", good, "that source runs on 192.0.2.2"},
		{"from an address that is no source", "192.0.2.2", relayCopy("10.0.1.11", "10.0.2.10", 77), "no source of session"},
		{"to another address", "192.0.2.2", relayCopy("10.0.1.10", "10.0.2.11", 77), "target is 10.0.2.10"},
		{"another VNI", "192.0.2.2", relayCopy("10.0.1.10", "10.0.2.10", 78), "VNI 77"},
		{"short", "192.0.2.2", good[:40], "shorter than its headers"},
		{"cut (length field disagrees)", "192.0.2.2", good[:len(good)-1], "whole datagram"},
		{"a fragment", "192.0.2.2", mod(func(b []byte) []byte { b[6] = 0x20; return b }), "whole datagram"},
		{"TCP", "192.0.2.2", mod(func(b []byte) []byte { b[9] = 6; return b }), "IPv4 UDP"},
		{"IP options", "192.0.2.2", mod(func(b []byte) []byte { b[0] = 0x46; return b }), "IPv4 UDP"},
		{"another port", "192.0.2.2", mod(func(b []byte) []byte { binary.BigEndian.PutUint16(b[22:24], 4790); return b }), "VXLAN port"},
		{"VNI flag unset", "192.0.2.2", mod(func(b []byte) []byte { b[28] = 0; return b }), "VNI 77"},
	} {
		err := CheckCopy(rt, netip.MustParseAddr(c.from), c.pkt)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: refused: %v", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: CheckCopy = %v, want an error with %q", c.name, err, c.want)
		}
	}
}

// TestRelayRefuses sends the relay datagrams it must refuse over
// loopback: nothing of them is delivered, each is counted, and the relay
// goes on receiving (delivery itself needs namespaces: the kernel tests').
// TestCheckCopyLoadBalancer: for a load balancer target the copies come
// addressed to the load balancer (the relay picks the backend), never to
// a backend or elsewhere.
func TestCheckCopyLoadBalancer(t *testing.T) {
	src, vip, hostB := netip.MustParseAddr("10.0.1.10"), netip.MustParseAddr("10.0.2.100"), netip.MustParseAddr("192.0.2.2")
	rt := RelayTarget{SessionID: "tms-1", VNI: 77, Target: vip, Backends: []netip.Addr{netip.MustParseAddr("10.0.2.10"), netip.MustParseAddr("10.0.2.11")},
		Sources: map[netip.Addr]netip.Addr{src: hostB}}
	for dst, want := range map[string]string{"10.0.2.100": "", "10.0.2.10": "target is 10.0.2.100", "10.0.2.12": "target is 10.0.2.100"} {
		err := CheckCopy(rt, hostB, relayCopy("10.0.1.10", dst, 77))
		if (want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), want) {
			t.Errorf("copy to %s: %v, want %q", dst, err, want)
		}
	}
}

// TestSessionDst: a load balancer target's copies of one flow go to one
// backend, and flows spread over all of them.
func TestSessionDst(t *testing.T) {
	a, b := netip.MustParseAddr("10.0.2.10"), netip.MustParseAddr("10.0.2.11")
	s := Session{Target: netip.MustParseAddr("10.0.2.100"), Backends: []netip.Addr{a, b}}
	seen := map[netip.Addr]int{}
	for sport := range 64 {
		pkt := ipv4UDP(10, uint16(40000+sport), 8080)
		d := s.Dst(pkt)
		if d != s.Dst(pkt) {
			t.Fatal("one flow, two backends")
		}
		seen[d]++
	}
	if seen[a] == 0 || seen[b] == 0 || len(seen) != 2 {
		t.Errorf("64 flows went to %v", seen)
	}
	if d := (Session{Target: a}).Dst(nil); d != a {
		t.Errorf("an ENI target: %v", d)
	}
}

func TestRelayRefuses(t *testing.T) {
	r, err := ListenRelay(netip.MustParseAddrPort("127.0.0.1:0"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	to := r.conn.LocalAddr().(*net.UDPAddr).AddrPort()
	rt := RelayTarget{SessionID: "tms-1", VNI: 77, Target: netip.MustParseAddr("10.0.2.10"),
		Sources: map[netip.Addr]netip.Addr{netip.MustParseAddr("10.0.1.10"): netip.MustParseAddr("192.0.2.2")}}
	// No namespace to send from: the session stays out of the view.
	rt.NetnsPath = "/nonexistent/netns"
	if err := r.Update([]RelayTarget{rt}); err == nil {
		t.Errorf("Update with a missing namespace: no error")
	}
	sender, err := ListenRelay(netip.MustParseAddrPort("127.0.0.1:0"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Close()
	good := relayCopy("10.0.1.10", "10.0.2.10", 77)
	for _, d := range [][]byte{
		[]byte("not a relay datagram"),
		AppendRelay(nil, "tms-1", good),     // not in the view (its namespace is missing)
		AppendRelay(nil, "tms-other", good), // no such session
	} {
		if _, err := sender.conn.WriteToUDPAddrPort(d, to); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(2 * time.Second)
	for r.Stats().Received < 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if st := r.Stats(); st.Received != 3 || st.Refused != 3 || st.Delivered != 0 {
		t.Errorf("stats %+v, want 3 received, 3 refused, none delivered", st)
	}
	if err := sender.Send("tms-1", good, to); err != nil {
		t.Fatal(err)
	}
	if st := sender.Stats(); st.Sent != 1 || st.SendErrors != 0 {
		t.Errorf("sender stats %+v, want 1 sent", st)
	}
}

func FuzzParseRelay(f *testing.F) {
	f.Add(AppendRelay(nil, "tms-1", relayCopy("10.0.1.10", "10.0.2.10", 77)))
	f.Add([]byte("PMR1\x00"))
	f.Add([]byte("PMR1\xff"))
	rt := RelayTarget{SessionID: "tms-1", VNI: 77, Target: netip.MustParseAddr("10.0.2.10"),
		Sources: map[netip.Addr]netip.Addr{netip.MustParseAddr("10.0.1.10"): netip.MustParseAddr("192.0.2.2")}}
	from := netip.MustParseAddr("192.0.2.2")
	f.Fuzz(func(t *testing.T, b []byte) {
		s, pkt, err := ParseRelay(b)
		if err != nil {
			return
		}
		if len(s) == 0 || len(s) > maxSessionID {
			t.Fatalf("session ID of %d bytes accepted", len(s))
		}
		if !bytes.Equal(AppendRelay(nil, s, pkt), b) {
			t.Fatalf("ParseRelay and AppendRelay disagree on % x", b)
		}
		if CheckCopy(rt, from, pkt) == nil {
			// What is accepted is whole and addressed as the session says.
			if len(pkt) < EncapOverhead || int(binary.BigEndian.Uint16(pkt[2:4])) != len(pkt) ||
				netip.AddrFrom4([4]byte(pkt[16:20])) != rt.Target {
				t.Fatalf("CheckCopy accepted % x", pkt)
			}
		}
	})
}
