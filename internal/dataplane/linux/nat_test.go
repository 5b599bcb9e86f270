package linux

import (
	"net"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/dataplane"
)

// rootPing sends one echo request from the root namespace.
func rootPing(dst netip.Addr) error {
	return exec.Command("ping", "-c", "1", "-W", "1", dst.String()).Run()
}

// rootReply connects from the root namespace (the internet) to dst:port
// and returns what the server said ("" when nothing answered in 1 s).
func rootReply(dst netip.Addr, port int) string {
	out, err := exec.Command("ncat", "-w", "1", "--recv-only", dst.String(), strconv.Itoa(port)).CombinedOutput()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// TestNATGateway: a NAT gateway's address forwards a port to a1 and one to
// a3, SNATs
// the vSwitch 10.20.1.0/24 (a2 reaches a server in the root namespace,
// which sees the gateway's address), answers pings, and stops doing each
// when its rule goes; an address of the other vSwitch (a3) has no SNAT
// range and leaves nothing; removing the gateway removes its route and
// the uplink.
func TestNATGateway(t *testing.T) {
	needRoot(t)
	w := newWorld(t)
	a := newApplier(t, w.tag)
	b, err := strconv.ParseUint(w.tag[:4], 16, 16)
	if err != nil {
		t.Fatal(err)
	}
	pub := netip.AddrFrom4([4]byte{198, 19, byte(b >> 8), byte(b)}) // unlikely to be another run's
	a1, a3 := w.enis["a1"].Addrs[0], w.enis["a3"].Addrs[0]
	gw := dataplane.NATGateway{ID: "ngw-" + w.tag, ICMPReply: true,
		EIPs: []dataplane.EIP{{ID: "eip-" + w.tag, Address: pub}},
		DNAT: []dataplane.DNATRule{{Addr: pub, Proto: 6, Port: 80, Internal: a1, InternalPort: 8080},
			{Addr: pub, Proto: 6, Port: 81, Internal: a3, InternalPort: 8080}},
		SNAT: []dataplane.SNATRange{{Dst: netip.MustParseAddr("0.0.0.0"), DstTo: netip.MustParseAddr("255.255.255.255"),
			Src: netip.MustParseAddr("10.20.1.0"), SrcTo: netip.MustParseAddr("10.20.1.255"), Addr: pub}},
	}
	h := w.host
	h.VPCs = append([]dataplane.VPC(nil), w.host.VPCs...)
	h.VPCs[0].NATGateways = []dataplane.NATGateway{gw}
	st := apply(t, a, h)
	if !st.EIPReady("eip-" + w.tag) {
		t.Fatalf("gateway address not ready: %+v", st.EIPs)
	}
	startServer(t, w.inst("a1"), 8080, "a1")
	startServer(t, w.inst("a3"), 8080, "a3")
	var got string
	for range 20 {
		if got = rootReply(pub, 80); got != "" {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got != "a1" {
		t.Errorf("internet -> %v:80: %q, want a1 (forward entry)", pub, got)
	}
	// a3 has no SNAT range: its answers leave as the replies they are.
	if got := rootReply(pub, 81); got != "a3" {
		t.Errorf("internet -> %v:81: %q, want a3 (forward entry)", pub, got)
	}
	if got := rootReply(pub, 8080); got != "" {
		t.Errorf("internet -> %v:8080: %q, want nothing (no forward entry)", pub, got)
	}
	if err := rootPing(pub); err != nil {
		t.Errorf("ping %v: %v, want the gateway's answer", pub, err)
	}

	// Outbound: a server in the root namespace sees the gateway's address.
	ln, err := net.Listen("tcp4", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
			_, _ = c.Write([]byte(host + "\n"))
			c.Close()
		}
	}()
	u, err := net.Dial("udp4", netip.AddrPortFrom(pub, 9).String())
	if err != nil {
		t.Fatal(err)
	}
	hostAddr := netip.MustParseAddrPort(u.LocalAddr().String()).Addr()
	u.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	if got := tcpReply(w.inst("a2"), hostAddr.String(), port, 3); got != pub.String() {
		t.Errorf("a2 -> internet: server saw %q, want the gateway's %v", got, pub)
	}
	if got := tcpReply(w.inst("a3"), hostAddr.String(), port, 1); got != "" {
		t.Errorf("a3 (%v, no SNAT range) -> internet: server saw %q, want nothing to leave", a3, got)
	}

	// Without the forward entry and the pings, nothing comes in.
	gw.DNAT, gw.ICMPReply = nil, false
	h.VPCs[0].NATGateways = []dataplane.NATGateway{gw}
	apply(t, a, h)
	if got := rootReply(pub, 80); got != "" {
		t.Errorf("internet -> %v:80 after the forward entry went: %q, want nothing", pub, got)
	}
	if err := rootPing(pub); err == nil {
		t.Errorf("ping %v answered with ICMPReply off", pub)
	}
	if got := tcpReply(w.inst("a2"), hostAddr.String(), port, 3); got != pub.String() {
		t.Errorf("a2 -> internet with SNAT only: server saw %q, want %v", got, pub)
	}

	// Without the gateway: no route to its address, no uplink.
	apply(t, a, w.host)
	out, _ := exec.Command("ip", "-4", "route", "show", "proto", "0x9a").CombinedOutput()
	if strings.Contains(string(out), pub.String()+" ") {
		t.Errorf("route to %v left after the gateway went:\n%s", pub, out)
	}
	if got := tcpReply(w.inst("a2"), hostAddr.String(), port, 1); got != "" {
		t.Errorf("a2 -> internet without the gateway: server saw %q", got)
	}
}
