package linux

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/palisade-project/palisade/internal/dataplane"
	"github.com/palisade-project/palisade/internal/model"
)

// TestPeering links two VPC namespaces through a peering, step by step,
// IPv4 and IPv6: no peering, routes on one side only (the reply has no
// way back), on both sides, a VPC firewall dropping one port and
// accepting another (IPv4 only: its policies are IPv4; each rule's hits
// counted in the namespace the connection enters), the router itself out of reach, the firewall's
// tables, routes and the link deleted by hand (each repaired), and the
// peering removed (no link, no route, no table left).
func TestPeering(t *testing.T) {
	needRoot(t)
	tag := randHex(t, 4)
	vswP, vswQ := netip.MustParsePrefix("10.31.1.0/24"), netip.MustParsePrefix("10.41.1.0/24")
	vswP6, vswQ6 := netip.MustParsePrefix("fd00:31:0:1::/64"), netip.MustParsePrefix("fd00:41:0:1::/64")
	mk := func(short string, n int, vsw, vsw6 netip.Prefix, addr, addr6 string) dataplane.ENI {
		return dataplane.ENI{ID: "eni-" + tag + short + "x0123456789", InstanceID: "i-" + tag + short,
			MAC: fmt.Sprintf("02:%s:%s:%s:00:%02x", tag[0:2], tag[2:4], tag[4:6], n), VSwitchCidr: vsw, VSwitchCidr6: vsw6,
			Gateway: model.VSwitchGateway(vsw), Gateway6: model.VSwitchGateway(vsw6),
			Addrs: []netip.Addr{netip.MustParseAddr(addr), netip.MustParseAddr(addr6)}}
	}
	p1, q1 := mk("p1", 1, vswP, vswP6, "10.31.1.10", "fd00:31:0:1::10"), mk("q1", 2, vswQ, vswQ6, "10.41.1.10", "fd00:41:0:1::10")
	vpcP, vpcQ := "vpc-"+tag+"p", "vpc-"+tag+"q"
	pcc := "pcc-" + tag + "peer0123456"
	host := func(pRoutes, qRoutes []string, fw *dataplane.PeerFirewall) dataplane.Host {
		p := dataplane.VPC{ID: vpcP, Gateways: []netip.Prefix{gwPrefix(vswP), gwPrefix(vswP6)}, ENIs: []dataplane.ENI{p1}}
		q := dataplane.VPC{ID: vpcQ, Gateways: []netip.Prefix{gwPrefix(vswQ), gwPrefix(vswQ6)}, ENIs: []dataplane.ENI{q1}}
		if pRoutes != nil {
			pe := dataplane.Peering{ID: pcc, PeerVPC: vpcQ, Firewall: fw}
			for _, r := range pRoutes {
				pe.Routes = append(pe.Routes, netip.MustParsePrefix(r))
			}
			p.Peerings = []dataplane.Peering{pe}
			qe := dataplane.Peering{ID: pcc, PeerVPC: vpcP, Firewall: fw}
			for _, r := range qRoutes {
				qe.Routes = append(qe.Routes, netip.MustParsePrefix(r))
			}
			q.Peerings = []dataplane.Peering{qe}
		}
		return dataplane.Host{VPCs: []dataplane.VPC{p, q}}
	}
	a := newApplier(t, tag)
	reach := func(step, dst string, port int, want string) {
		t.Helper()
		attempts := 5
		if want == "" {
			attempts = 1
		}
		if got := tcpReply(p1.InstanceID, dst, port, attempts); got != want {
			t.Errorf("%s: p1 -> %s:%d answered %q, want %q", step, dst, port, got, want)
		}
	}
	link := PeerLinkName(pcc)

	apply(t, a, host(nil, nil, nil))
	startServer(t, q1.InstanceID, 8080, "q-8080")
	startServer(t, q1.InstanceID, 8081, "q-8081")
	for _, port := range []int{8080, 8081} { // up, so that a silence below is the network's
		for _, lo := range []string{"127.0.0.1", "::1"} {
			if got := tcpReply(q1.InstanceID, lo, port, 30); got != fmt.Sprintf("q-%d", port) {
				t.Fatalf("server on q1 [%s]:%d: %q", lo, port, got)
			}
		}
	}
	const q4, q6 = "10.41.1.10", "fd00:41:0:1::10"
	both := func(step string, port int, want string) {
		t.Helper()
		reach(step, q4, port, want)
		reach(step+" (IPv6)", q6, port, want)
	}
	both("no peering", 8080, "")

	toQ, toP := []string{"10.41.0.0/16", "fd00:41::/56"}, []string{"10.31.1.0/24", "fd00:31:0:1::/64"}
	apply(t, a, host(toQ, nil, nil))
	both("routes on P's side only", 8080, "")
	if out := mustNS(t, vpcP, "ip", "route", "show", "10.41.0.0/16"); !strings.Contains(out, "dev "+link) {
		t.Errorf("P's route over the peering: %q", out)
	}
	if out := mustNS(t, vpcP, "ip", "-6", "route", "show", "fd00:41::/56"); !strings.Contains(out, "via fe80::77:1 dev "+link) || !strings.Contains(out, "proto 156") {
		t.Errorf("P's IPv6 route over the peering: %q", out)
	}

	apply(t, a, host(toQ, toP, nil))
	both("routes on both sides", 8080, "q-8080")
	if !pingEventually(p1.InstanceID, "10.41.1.10") {
		t.Error("routes on both sides: p1 cannot ping q1")
	}
	if !pingEventually(p1.InstanceID, q6) {
		t.Error("routes on both sides: p1 cannot ping q1 over IPv6")
	}
	// The other VPC's router is not a destination over the peering.
	if ping(p1.InstanceID, model.VSwitchGateway(vswQ).String()) {
		t.Error("p1 pings Q's gateway over the peering")
	}
	if ping(p1.InstanceID, model.VSwitchGateway(vswQ6).String()) {
		t.Error("p1 pings Q's IPv6 gateway over the peering")
	}
	// An IPv6 route one side only: IPv4 still crosses, IPv6 gets no answer.
	apply(t, a, host(toQ, toP[:1], nil))
	reach("IPv6 routed on P's side only: IPv4", q4, 8080, "q-8080")
	reach("IPv6 routed on P's side only: IPv6", q6, 8080, "")
	// The peer link takes no router advertisements nor addresses from them.
	for _, ns := range []string{vpcP, vpcQ} {
		for key, want := range map[string]string{"accept_ra": "0", "autoconf": "0", "forwarding": "1"} {
			if got := strings.TrimSpace(mustNS(t, ns, "cat", "/proc/sys/net/ipv6/conf/"+link+"/"+key)); got != want {
				t.Errorf("%s: %s on %s is %s, want %s", ns, key, link, got, want)
			}
		}
	}

	// The VPC firewall's policies name IPv4 blocks only (0.0.0.0/0 is not
	// ::/0): IPv6 meets no policy and passes.
	any4 := []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}
	fw := &dataplane.PeerFirewall{ID: "vfw-" + tag, Rules: []dataplane.FirewallRule{
		{ID: "drop-8080", Drop: true, Src: any4, Dst: any4, Proto: 6, Ports: []dataplane.PortRange{{From: 8080, To: 8080}}},
		{ID: "accept-8081", Src: any4, Dst: any4, Proto: 6, Ports: []dataplane.PortRange{{From: 8081, To: 8081}}},
	}}
	// hits checks each namespace's counters of the firewall's rules: a
	// connection is judged once, where it enters the other VPC (Q), so P
	// counts nothing; the accept counts the one connection, not its
	// packets.
	hits := func(step string) {
		t.Helper()
		chain := dataplane.PeerFirewallChain(pcc)
		for ns, accepted := range map[string]uint64{vpcQ: 1, vpcP: 0} {
			got, err := a.FirewallCounters(ns)
			if err != nil {
				t.Fatalf("%s: counters of %s: %v", step, ns, err)
			}
			c := got[chain]
			switch {
			case len(c) != 2:
				t.Errorf("%s: %s counts %v for %s, want one per rule (all: %v)", step, ns, c, chain, got)
			case accepted == 1 && (c[0] == 0 || c[1] != 1):
				t.Errorf("%s: %s counts %v, want the drop's SYNs and the accept's one connection", step, ns, c)
			case accepted == 0 && (c[0] != 0 || c[1] != 0):
				t.Errorf("%s: %s counts %v, want nothing: the connections entered the other VPC", step, ns, c)
			}
		}
	}
	apply(t, a, host(toQ, toP, fw))
	reach("VPC firewall drops 8080", q4, 8080, "")
	reach("VPC firewall accepts 8081", q4, 8081, "q-8081")
	hits("VPC firewall")
	reach("VPC firewall: IPv6 to 8080 matches no policy", q6, 8080, "q-8080")
	if !pingEventually(p1.InstanceID, "10.41.1.10") {
		t.Error("VPC firewall: ICMP matches no policy but is dropped")
	}
	hits("VPC firewall, after traffic no policy matches")
	// Flattened into one lookup, as the agent loads it: the same verdicts.
	flat := *fw
	flat.Map = flatMap(fw.Rules)
	apply(t, a, host(toQ, toP, &flat))
	if out := mustNS(t, vpcQ, "nft", "list", "table", "ip", peerTable); !strings.Contains(out, "vmap @"+dataplane.PeerFirewallChain(pcc)+"_p4") {
		t.Errorf("the flattened VPC firewall has no map:\n%s", out)
	}
	reach("flattened VPC firewall drops 8080", q4, 8080, "")
	reach("flattened VPC firewall accepts 8081", q4, 8081, "q-8081")
	if !pingEventually(p1.InstanceID, "10.41.1.10") {
		t.Error("flattened VPC firewall: ICMP matches no policy but is dropped")
	}
	hits("flattened VPC firewall")
	apply(t, a, host(toQ, toP, fw))

	// Drift: the firewall's tables and routes deleted by hand come back
	// (the firewall still drops 8080), and so does the link.
	mustNS(t, vpcQ, "nft", "delete", "table", "ip", peerTable)
	mustNS(t, vpcQ, "nft", "delete", "table", "ip6", peerTable)
	mustNS(t, vpcP, "ip", "route", "del", "10.41.0.0/16")
	mustNS(t, vpcP, "ip", "-6", "route", "del", "fd00:41::/56")
	mustNS(t, vpcQ, "ip", "-6", "neigh", "del", "fe80::77:1", "dev", link)
	apply(t, a, host(toQ, toP, fw))
	reach("table and route deleted by hand, repaired: 8080 still dropped", q4, 8080, "")
	reach("table and route deleted by hand, repaired: 8081 accepted", q4, 8081, "q-8081")
	reach("IPv6 route and neighbour deleted by hand, repaired", q6, 8081, "q-8081")
	if out := mustNS(t, vpcQ, "nft", "list", "table", "ip6", peerTable); !strings.Contains(out, `iifname "pp*"`) {
		t.Errorf("Q's ip6 table not repaired:\n%s", out)
	}
	mustNS(t, vpcQ, "ip", "link", "del", link)
	apply(t, a, host(toQ, toP, nil))
	both("link deleted by hand, repaired", 8080, "q-8080")

	apply(t, a, host(nil, nil, nil))
	both("peering removed", 8080, "")
	for _, ns := range []string{vpcP, vpcQ} {
		if out := mustNS(t, ns, "ip", "-o", "link", "show"); strings.Contains(out, link) {
			t.Errorf("%s: peering link left after the peering is gone:\n%s", ns, out)
		}
		for _, family := range []string{"ip", "ip6"} {
			if out, _ := nsRun(ns, "nft", "list", "table", family, peerTable); strings.Contains(out, "chain") {
				t.Errorf("%s: peering table %s left:\n%s", ns, family, out)
			}
		}
		if out := mustNS(t, ns, "ip", "-6", "route", "show", "proto", "156"); strings.TrimSpace(out) != "" {
			t.Errorf("%s: IPv6 peering routes left:\n%s", ns, out)
		}
	}
}
