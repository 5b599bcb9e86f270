package linux

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/palisade-project/palisade/internal/dataplane"
)

func TestValidLoadBalancer(t *testing.T) {
	ok := dataplane.LoadBalancer{ID: "lb-1", Addr: netip.MustParseAddr("10.0.0.5"), Listeners: []dataplane.LBListener{
		{Protocol: "tcp", Port: 80, BackendPort: 8080, Backends: []dataplane.LBBackend{{Addr: netip.MustParseAddr("10.0.0.6"), Weight: 100}}},
		{Protocol: "udp", Port: 80, BackendPort: 8080},
	}}
	if err := validLoadBalancer(ok); err != nil {
		t.Fatal(err)
	}
	for name, mut := range map[string]func(*dataplane.LoadBalancer){
		"IPv6 address":   func(lb *dataplane.LoadBalancer) { lb.Addr = netip.MustParseAddr("fd00::5") },
		"protocol":       func(lb *dataplane.LoadBalancer) { lb.Listeners[0].Protocol = "http" },
		"port 0":         func(lb *dataplane.LoadBalancer) { lb.Listeners[0].Port = 0 },
		"backend port 0": func(lb *dataplane.LoadBalancer) { lb.Listeners[0].BackendPort = 0 },
		"listener twice": func(lb *dataplane.LoadBalancer) { lb.Listeners[1].Protocol = "tcp" },
		"weight 0":       func(lb *dataplane.LoadBalancer) { lb.Listeners[0].Backends[0].Weight = 0 },
		"IPv6 backend":   func(lb *dataplane.LoadBalancer) { lb.Listeners[0].Backends[0].Addr = netip.MustParseAddr("fd00::6") },
		"IPv6 ACL entry": func(lb *dataplane.LoadBalancer) {
			lb.Listeners[0].ACL = &dataplane.LBACL{Prefixes: []netip.Prefix{netip.MustParsePrefix("fd00::/64")}}
		},
	} {
		lb := ok
		lb.Listeners = []dataplane.LBListener{ok.Listeners[0], ok.Listeners[1]}
		lb.Listeners[0].Backends = []dataplane.LBBackend{ok.Listeners[0].Backends[0]}
		mut(&lb)
		if err := validLoadBalancer(lb); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestLoadBalancer: a1 reaches a listener of a load balancer in VPC A and
// lands on a2 or a3 (another vSwitch) in proportion to their weights, on
// the backend port; a port without listener, and a listener without
// backends, time out; the address answers ping; B (same addresses) does
// not see it; removing the load balancer removes its address and table.
func TestLoadBalancer(t *testing.T) {
	needRoot(t)
	w := newWorld(t)
	a := newApplier(t, w.tag)
	apply(t, a, w.host)
	vpcNS := w.vpcA
	vip := "10.20.1.200"
	startServer(t, w.inst("a2"), 8080, "a2")
	startServer(t, w.inst("a3"), 8080, "a3")
	lb := dataplane.LoadBalancer{ID: "lb-" + w.tag, Addr: netip.MustParseAddr(vip), Listeners: []dataplane.LBListener{
		{Protocol: "tcp", Port: 80, BackendPort: 8080, Backends: []dataplane.LBBackend{
			{Addr: netip.MustParseAddr("10.20.1.11"), Weight: 100}, {Addr: netip.MustParseAddr("10.20.2.10"), Weight: 25}}},
		{Protocol: "tcp", Port: 81, BackendPort: 8080},
	}}
	h := w.host
	h.VPCs = []dataplane.VPC{w.host.VPCs[0], w.host.VPCs[1]}
	h.VPCs[0].LoadBalancers = []dataplane.LoadBalancer{lb}
	apply(t, a, h)

	if !pingEventually(w.inst("a1"), vip) {
		t.Error("the load balancer's address does not answer ping")
	}
	counts := map[string]int{}
	for range 100 {
		counts[tcpReply(w.inst("a1"), vip, 80, 3)]++
	}
	if counts["a2"]+counts["a3"] != 100 || counts["a2"] < 65 || counts["a3"] < 8 {
		t.Errorf("100 connections to the listener, weights 100:25: %v", counts)
	}
	if got := tcpReply(w.inst("a1"), vip, 81, 1); got != "" {
		t.Errorf("listener without backends answered %q", got)
	}
	if got := tcpReply(w.inst("a1"), vip, 8080, 1); got != "" {
		t.Errorf("a port without listener answered %q", got)
	}
	if pingEventually(w.inst("b1"), vip) {
		t.Error("VPC B reaches VPC A's load balancer")
	}
	table := mustNS(t, vpcNS, "nft", "list", "table", "ip", lbTable)
	for _, want := range []string{"dnat to numgen random mod 5 map @be_0:8080", "ip daddr @vips drop"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}

	// Drift: the table and the address removed by hand come back with the
	// next reconciliation.
	mustNS(t, vpcNS, "nft", "delete", "table", "ip", lbTable)
	mustNS(t, vpcNS, "ip", "addr", "del", vip+"/32", "dev", gatewayLink)
	if got := tcpReply(w.inst("a1"), vip, 80, 1); got != "" {
		t.Fatalf("answered %q without table and address", got)
	}
	apply(t, a, h)
	if got := tcpReply(w.inst("a1"), vip, 80, 3); got != "a2" && got != "a3" {
		t.Errorf("after drift repair: %q", got)
	}

	// Access control: a whitelist without the client's address, a
	// blacklist with it, refuse it; an empty list, a whitelist with it and
	// a blacklist without it admit it.
	for _, c := range []struct {
		name  string
		acl   *dataplane.LBACL
		admit bool
	}{
		{"whitelist without the client", &dataplane.LBACL{White: true, Prefixes: []netip.Prefix{netip.MustParsePrefix("10.20.1.50/32")}}, false},
		{"whitelist with the client", &dataplane.LBACL{White: true, Prefixes: []netip.Prefix{netip.MustParsePrefix("10.20.1.0/28")}}, true},
		{"blacklist with the client", &dataplane.LBACL{Prefixes: []netip.Prefix{netip.MustParsePrefix("10.20.1.10/32"), netip.MustParsePrefix("10.99.0.0/16")}}, false},
		{"blacklist without the client", &dataplane.LBACL{Prefixes: []netip.Prefix{netip.MustParsePrefix("10.99.0.0/16")}}, true},
		{"empty whitelist", &dataplane.LBACL{White: true}, true},
	} {
		h.VPCs[0].LoadBalancers[0].Listeners[0].ACL = c.acl
		apply(t, a, h)
		got := tcpReply(w.inst("a1"), vip, 80, 2)
		if admitted := got == "a2" || got == "a3"; admitted != c.admit {
			t.Errorf("%s: answered %q, want admitted %v", c.name, got, c.admit)
		}
	}
	h.VPCs[0].LoadBalancers[0].Listeners[0].ACL = nil

	// Round robin: in turn.
	h.VPCs[0].LoadBalancers[0].Listeners[0].RoundRobin = true
	apply(t, a, h)
	counts = map[string]int{}
	for range 20 {
		counts[tcpReply(w.inst("a1"), vip, 80, 3)]++
	}
	if counts["a2"] != 10 || counts["a3"] != 10 {
		t.Errorf("20 connections in round robin: %v", counts)
	}

	// Gone: no address, no table.
	apply(t, a, w.host)
	if out, err := nsRun(vpcNS, "nft", "list", "table", "ip", lbTable); err == nil {
		t.Errorf("table left:\n%s", out)
	}
	if out := mustNS(t, vpcNS, "ip", "-4", "addr", "show", "dev", gatewayLink); strings.Contains(out, vip) {
		t.Errorf("address left on %s:\n%s", gatewayLink, out)
	}
}
