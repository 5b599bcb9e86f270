package linux

import (
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

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

// TestInternetFirewallModes: the Internet firewall's in rules judge new
// connections to a protected EIP the same way tried one after another
// and flattened into one lookup, and count their hits either way.
func TestInternetFirewallModes(t *testing.T) {
	needRoot(t)
	for _, flat := range []bool{false, true} {
		t.Run(map[bool]string{false: "rules", true: "map"}[flat], func(t *testing.T) {
			w := newWorld(t)
			a := newApplier(t, w.tag)
			eip := netip.AddrFrom4([4]byte{198, 19, 79, byte(len(w.tag)) + map[bool]byte{false: 0, true: 1}[flat]})
			a1 := w.enis["a1"].Addrs[0]
			any4 := []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}
			rules := []dataplane.FirewallRule{
				{ID: "accept-8081", Src: any4, Dst: []netip.Prefix{netip.PrefixFrom(eip, 32)}, Proto: 6, Ports: []dataplane.PortRange{{From: 8081, To: 8081}}},
				{ID: "drop-808x", Drop: true, Log: true, Src: any4, Dst: any4, Proto: 6, Ports: []dataplane.PortRange{{From: 8080, To: 8089}}},
				{ID: "log-8090", Log: true, Src: any4, Dst: any4, Proto: 6, Ports: []dataplane.PortRange{{From: 8090, To: 8090}}},
			}
			fw := &dataplane.Firewall{Protected: []netip.Addr{eip}, In: rules}
			if flat {
				fw.InMap = flatMap(rules)
			}
			h := w.host
			h.VPCs = append([]dataplane.VPC(nil), w.host.VPCs...)
			h.VPCs[0].EIPs = []dataplane.EIP{{ID: "eip-" + w.tag, Address: eip, ENIID: w.enis["a1"].ID, PrivateIP: a1}}
			h.VPCs[0].Firewall = fw
			apply(t, a, h)
			logged := collectNFLog(t, w.vpcA, dataplane.FirewallLogGroup)
			out, err := exec.Command("ip", "netns", "exec", w.vpcA, "nft", "list", "map", "ip", cfwTable, "in_p4").CombinedOutput()
			if flat != (err == nil && strings.Contains(string(out), "goto in_r1")) {
				t.Fatalf("flattened %v, but the map in_p4: %v\n%s", flat, err, out)
			}
			for _, port := range []int{8080, 8081, 8090} {
				startServer(t, w.inst("a1"), port, fmt.Sprint(port))
			}
			time.Sleep(200 * time.Millisecond)
			for port, want := range map[int]string{8080: "", 8081: "8081", 8090: "8090"} {
				if got := rootReply(eip, port); got != want {
					t.Errorf("internet -> %v:%d: %q, want %q", eip, port, got, want)
				}
			}
			counts, err := a.FirewallCounters(w.vpcA)
			if err != nil {
				t.Fatal(err)
			}
			if c := counts[dataplane.FirewallChainIn]; len(c) != 3 || c[0] == 0 || c[1] == 0 || c[2] == 0 {
				t.Errorf("in counters %v, want hits on every rule", c)
			}
			// The drop and the log rule hand their connections' first
			// packets to NFLOG (the drop's retransmitted SYNs too), the
			// accept nothing; the verdict is a rule of its own, after
			// the rate-limited log.
			want := map[string]bool{dataplane.FirewallLogPrefix("drop-808x"): true, dataplane.FirewallLogPrefix("log-8090"): true}
			got := logged()
			for prefix, pkt := range got {
				if !want[prefix] {
					t.Errorf("NFLOG prefix %q logged, want only %v", prefix, want)
				} else if !strings.Contains(pkt, eip.String()) {
					t.Errorf("NFLOG %q: packet %s, want one to %v", prefix, pkt, eip)
				}
			}
			for prefix := range want {
				if _, ok := got[prefix]; !ok {
					t.Errorf("nothing logged with prefix %q (got %v)", prefix, got)
				}
			}
			rc, err := exec.Command("ip", "netns", "exec", w.vpcA, "nft", "list", "chain", "ip", cfwTable, "in_r1").CombinedOutput()
			if err != nil || !strings.Contains(string(rc), `log prefix "palisade-cfw drop-808x" group 9 snaplen 64`) || !strings.Contains(string(rc), "\n\t\tdrop") {
				t.Errorf("in_r1 (%v):\n%s\nwant a rate-limited log rule, then the drop in a rule of its own", err, rc)
			}
		})
	}
}
