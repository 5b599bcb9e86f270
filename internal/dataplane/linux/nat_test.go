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
	"github.com/palisade-project/palisade/internal/policy"
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

// rootEcho serves, in the root namespace (the internet), the address each
// TCP client comes from, and returns its port.
func rootEcho(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp4", ":0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
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
	return ln.Addr().(*net.TCPAddr).Port
}

// rootAddr is the root namespace's address on the way to via (over an
// uplink).
func rootAddr(t *testing.T, via netip.Addr) netip.Addr {
	t.Helper()
	u, err := net.Dial("udp4", netip.AddrPortFrom(via, 9).String())
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	return netip.MustParseAddrPort(u.LocalAddr().String()).Addr()
}

// TestNATFirewall: the gateway's NAT firewall judges the new connections
// it translates on their way out, by their private source, in rule order
// (a2's connections to one port are dropped; the IP-mapped a3's to every
// port), not those of an instance with an EIP of its own (a1); its rules
// count their hits; without rules everything the gateway translates
// leaves again.
func TestNATFirewall(t *testing.T) {
	needRoot(t)
	t.Run("rules", func(t *testing.T) { testNATFirewall(t, false) })
	// Flattened into one lookup (policy.FlattenFirewall), as the agent
	// loads it: the same verdicts, the same counts.
	t.Run("map", func(t *testing.T) { testNATFirewall(t, true) })
}

// flatMap is rules flattened as the agent does it.
func flatMap(rules []dataplane.FirewallRule) *dataplane.FirewallMap {
	var prs []policy.FirewallRule
	for _, r := range rules {
		pr := policy.FirewallRule{ID: r.ID, Drop: r.Drop, Src: r.Src, Dst: r.Dst, Proto: r.Proto}
		for _, p := range r.Ports {
			pr.Ports = append(pr.Ports, policy.Range{From: p.From, To: p.To})
		}
		prs = append(prs, pr)
	}
	f, ok := policy.FlattenFirewall(prs, policy.MaxFirewallFlatElements)
	if !ok {
		return nil
	}
	conv := func(es []policy.FirewallElement) []dataplane.FirewallBox {
		var out []dataplane.FirewallBox
		for _, e := range es {
			out = append(out, dataplane.FirewallBox{SrcFrom: e.Peer.From, SrcTo: e.Peer.To, ProtoFrom: uint8(e.Proto.From), ProtoTo: uint8(e.Proto.To),
				PortFrom: e.DPort.From, PortTo: e.DPort.To, DstFrom: e.Local.From, DstTo: e.Local.To, Rule: e.Rule})
		}
		return out
	}
	return &dataplane.FirewallMap{Ports: conv(f.Ports), Any: conv(f.Any)}
}

func testNATFirewall(t *testing.T, flat bool) {
	w := newWorld(t)
	a := newApplier(t, w.tag)
	b, err := strconv.ParseUint(w.tag[:4], 16, 16)
	if err != nil {
		t.Fatal(err)
	}
	pub := netip.AddrFrom4([4]byte{198, 19, byte(b >> 8), byte(b)})
	mapped := netip.AddrFrom4([4]byte{198, 18, byte(b >> 8), byte(b)})
	own := netip.AddrFrom4([4]byte{198, 17, byte(b >> 8), byte(b)})
	mappedA1 := netip.AddrFrom4([4]byte{198, 16, byte(b >> 8), byte(b)})
	a1, a2, a3 := w.enis["a1"].Addrs[0], w.enis["a2"].Addrs[0], w.enis["a3"].Addrs[0]
	port, port2 := rootEcho(t), rootEcho(t)
	host := func(a netip.Addr) []netip.Prefix { return []netip.Prefix{netip.PrefixFrom(a, 32)} }
	anyAddr := []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}
	gw := dataplane.NATGateway{ID: "ngw-" + w.tag,
		EIPs: []dataplane.EIP{{ID: "eip-" + w.tag, Address: pub}, {ID: "eip-m" + w.tag, Address: mapped}, {ID: "eip-a" + w.tag, Address: mappedA1}},
		// a1 has an EIP of its own and an IP mapping: it leaves with
		// its own, and the table still loads.
		DNAT: []dataplane.DNATRule{{Addr: mapped, Internal: a3}, {Addr: mappedA1, Internal: a1}},
		SNAT: []dataplane.SNATRange{{Dst: netip.MustParseAddr("0.0.0.0"), DstTo: netip.MustParseAddr("255.255.255.255"),
			Src: netip.MustParseAddr("10.20.1.0"), SrcTo: netip.MustParseAddr("10.20.1.255"), Addr: pub}},
		Firewall: []dataplane.FirewallRule{
			{ID: "accept-a2-port2", Src: host(a2), Dst: anyAddr, Proto: 6, Ports: []dataplane.PortRange{{From: uint16(port2), To: uint16(port2)}}},
			{ID: "drop-a2", Drop: true, Src: host(a2), Dst: anyAddr},
			{ID: "drop-a3", Drop: true, Src: host(a3), Dst: anyAddr, Proto: 6},
			{ID: "drop-a1", Drop: true, Src: host(a1), Dst: anyAddr},
		},
	}
	if flat {
		if gw.FirewallMap = flatMap(gw.Firewall); gw.FirewallMap == nil {
			t.Fatal("the rules do not flatten")
		}
	}
	h := w.host
	h.VPCs = append([]dataplane.VPC(nil), w.host.VPCs...)
	h.VPCs[0].EIPs = []dataplane.EIP{{ID: "eip-o" + w.tag, Address: own, ENIID: w.enis["a1"].ID, PrivateIP: a1}}
	h.VPCs[0].NATGateways = []dataplane.NATGateway{gw}
	apply(t, a, h)
	server := rootAddr(t, pub)
	if flat {
		// One lookup, not a rule per policy.
		out, err := exec.Command("ip", "netns", "exec", w.vpcA, "nft", "list", "map", "inet", "palisade_nat", dataplane.NATFirewallChain(gw.ID)+"_p4").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "goto "+dataplane.NATFirewallChain(gw.ID)+"_r0") {
			all, _ := exec.Command("ip", "netns", "exec", w.vpcA, "nft", "list", "table", "inet", "palisade_nat").CombinedOutput()
			t.Fatalf("the flattened NAT firewall's map: %v\n%s\n%s", err, out, all)
		}
	}

	reach := func(inst string, dst netip.Addr, p int, want string) {
		t.Helper()
		attempts := 3
		if want == "" {
			attempts = 1
		}
		if got := tcpReply(w.inst(inst), dst.String(), p, attempts); got != want {
			t.Errorf("%s -> %v:%d: server saw %q, want %q", inst, dst, p, got, want)
		}
	}
	reach("a2", server, port, "")            // drop-a2
	reach("a2", server, port2, pub.String()) // accept-a2-port2 comes first
	reach("a3", server, port, "")            // drop-a3: IP mappings are judged too
	reach("a1", server, port, own.String())  // a1's own EIP: not the gateway's
	counts, err := a.FirewallCounters(w.vpcA)
	if err != nil {
		t.Fatal(err)
	}
	got := counts[dataplane.NATFirewallChain(gw.ID)]
	if len(got) != 4 || got[0] == 0 || got[1] == 0 || got[2] == 0 || got[3] != 0 {
		t.Errorf("NAT firewall counters %v, want hits on the first three rules and none on drop-a1", got)
	}

	// Without rules the gateway translates everything again.
	gw.Firewall, gw.FirewallMap = nil, nil
	h.VPCs[0].NATGateways = []dataplane.NATGateway{gw}
	apply(t, a, h)
	reach("a2", server, port, pub.String())
	reach("a3", server, port, mapped.String())
	if counts, err := a.FirewallCounters(w.vpcA); err != nil || counts[dataplane.NATFirewallChain(gw.ID)] != nil {
		t.Errorf("NAT firewall counters without rules: %v, %v", counts, err)
	}
}
