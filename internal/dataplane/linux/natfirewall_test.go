package linux

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/palisade-project/palisade/internal/dataplane"
)

// TestNATFirewallLarge: a NAT firewall of 1,000 policies flattens into
// some 3,000 map elements, which load (all of a set's elements in one
// netlink message overflowed its 16-bit attribute length past about
// 1,200 of them and the kernel refused the transaction), and a connection
// that only the last policy matches leaves.
func TestNATFirewallLarge(t *testing.T) {
	needRoot(t)
	w := newWorld(t)
	a := newApplier(t, w.tag)
	pub := netip.AddrFrom4([4]byte{198, 19, 78, byte(len(w.tag))})
	const n = 1000
	var rules []dataplane.FirewallRule
	for i := range n - 1 {
		rules = append(rules, dataplane.FirewallRule{ID: fmt.Sprint(i), Drop: true, Proto: 6,
			Src: []netip.Prefix{netip.MustParsePrefix(fmt.Sprintf("10.78.%d.%d/32", 2+i/250, 1+i%250))},
			Dst: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}})
	}
	any4 := []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}
	rules = append(rules, dataplane.FirewallRule{ID: "last", Src: any4, Dst: any4})
	gw := dataplane.NATGateway{ID: "ngw-" + w.tag, EIPs: []dataplane.EIP{{ID: "eip-" + w.tag, Address: pub}},
		SNAT: []dataplane.SNATRange{{Dst: netip.MustParseAddr("0.0.0.0"), DstTo: netip.MustParseAddr("255.255.255.255"),
			Src: netip.MustParseAddr("10.20.1.0"), SrcTo: netip.MustParseAddr("10.20.1.255"), Addr: pub}},
		Firewall: rules, FirewallMap: flatMap(rules)}
	if gw.FirewallMap == nil || len(gw.FirewallMap.Ports) < 2*n {
		t.Fatalf("flattened: %d elements, want some thousands", len(gw.FirewallMap.Ports))
	}
	h := w.host
	h.VPCs = append([]dataplane.VPC(nil), w.host.VPCs...)
	h.VPCs[0].NATGateways = []dataplane.NATGateway{gw}
	apply(t, a, h)
	port := rootEcho(t)
	if got := tcpReply(w.inst("a2"), rootAddr(t, pub).String(), port, 3); got != pub.String() {
		t.Errorf("a2 -> internet past 999 policies that do not match: server saw %q, want %v", got, pub)
	}
	counts, err := a.FirewallCounters(w.vpcA)
	if err != nil {
		t.Fatal(err)
	}
	if c := counts[dataplane.NATFirewallChain(gw.ID)]; len(c) != n || c[n-1] == 0 {
		t.Errorf("counters: %d of them, the last %v; want %d, the last one counting a2's connection", len(c), c[len(c)-1:], n)
	}
}
