package linux

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/palisade-project/palisade/internal/dataplane"
	"github.com/palisade-project/palisade/internal/model"
)

// TestPeering links two VPC namespaces through a peering, step by step:
// no peering, routes on one side only (the reply has no way back), on
// both sides, a VPC firewall dropping one port, the router itself out of
// reach, the firewall's table, a route and the link deleted by hand (each
// repaired), and the peering removed (no link, no route left).
func TestPeering(t *testing.T) {
	needRoot(t)
	tag := randHex(t, 4)
	vswP, vswQ := netip.MustParsePrefix("10.31.1.0/24"), netip.MustParsePrefix("10.41.1.0/24")
	mk := func(short string, n int, vsw netip.Prefix, addr string) dataplane.ENI {
		return dataplane.ENI{ID: "eni-" + tag + short + "x0123456789", InstanceID: "i-" + tag + short,
			MAC: fmt.Sprintf("02:%s:%s:%s:00:%02x", tag[0:2], tag[2:4], tag[4:6], n), VSwitchCidr: vsw,
			Gateway: model.VSwitchGateway(vsw), Addrs: []netip.Addr{netip.MustParseAddr(addr)}}
	}
	p1, q1 := mk("p1", 1, vswP, "10.31.1.10"), mk("q1", 2, vswQ, "10.41.1.10")
	vpcP, vpcQ := "vpc-"+tag+"p", "vpc-"+tag+"q"
	pcc := "pcc-" + tag + "peer0123456"
	host := func(pRoutes, qRoutes []string, fw *dataplane.PeerFirewall) dataplane.Host {
		p := dataplane.VPC{ID: vpcP, Gateways: []netip.Prefix{gwPrefix(vswP)}, ENIs: []dataplane.ENI{p1}}
		q := dataplane.VPC{ID: vpcQ, Gateways: []netip.Prefix{gwPrefix(vswQ)}, ENIs: []dataplane.ENI{q1}}
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
		if got := tcpReply(q1.InstanceID, "127.0.0.1", port, 30); got != fmt.Sprintf("q-%d", port) {
			t.Fatalf("server on q1:%d: %q", port, got)
		}
	}
	reach("no peering", "10.41.1.10", 8080, "")

	apply(t, a, host([]string{"10.41.0.0/16"}, nil, nil))
	reach("routes on P's side only", "10.41.1.10", 8080, "")
	if out := mustNS(t, vpcP, "ip", "route", "show", "10.41.0.0/16"); !strings.Contains(out, "dev "+link) {
		t.Errorf("P's route over the peering: %q", out)
	}

	apply(t, a, host([]string{"10.41.0.0/16"}, []string{"10.31.1.0/24"}, nil))
	reach("routes on both sides", "10.41.1.10", 8080, "q-8080")
	if !pingEventually(p1.InstanceID, "10.41.1.10") {
		t.Error("routes on both sides: p1 cannot ping q1")
	}
	// The other VPC's router is not a destination over the peering.
	if ping(p1.InstanceID, model.VSwitchGateway(vswQ).String()) {
		t.Error("p1 pings Q's gateway over the peering")
	}

	fw := &dataplane.PeerFirewall{ID: "vfw-" + tag, Rules: []dataplane.FirewallRule{
		{ID: "drop-8080", Drop: true, Src: []netip.Prefix{vswP}, Dst: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}, Proto: 6,
			Ports: []dataplane.PortRange{{From: 8080, To: 8080}}},
	}}
	apply(t, a, host([]string{"10.41.0.0/16"}, []string{"10.31.1.0/24"}, fw))
	reach("VPC firewall drops 8080", "10.41.1.10", 8080, "")
	reach("VPC firewall: 8081 matches no policy", "10.41.1.10", 8081, "q-8081")
	if !pingEventually(p1.InstanceID, "10.41.1.10") {
		t.Error("VPC firewall: ICMP matches no policy but is dropped")
	}

	// Drift: the firewall's table and a route deleted by hand come back
	// (the firewall still drops 8080), and so does the link.
	mustNS(t, vpcQ, "nft", "delete", "table", "ip", peerTable)
	mustNS(t, vpcP, "ip", "route", "del", "10.41.0.0/16")
	apply(t, a, host([]string{"10.41.0.0/16"}, []string{"10.31.1.0/24"}, fw))
	reach("table and route deleted by hand, repaired: 8080 still dropped", "10.41.1.10", 8080, "")
	reach("table and route deleted by hand, repaired: 8081 passes", "10.41.1.10", 8081, "q-8081")
	mustNS(t, vpcQ, "ip", "link", "del", link)
	apply(t, a, host([]string{"10.41.0.0/16"}, []string{"10.31.1.0/24"}, nil))
	reach("link deleted by hand, repaired", "10.41.1.10", 8080, "q-8080")

	apply(t, a, host(nil, nil, nil))
	reach("peering removed", "10.41.1.10", 8080, "")
	for _, ns := range []string{vpcP, vpcQ} {
		if out := mustNS(t, ns, "ip", "-o", "link", "show"); strings.Contains(out, link) {
			t.Errorf("%s: peering link left after the peering is gone:\n%s", ns, out)
		}
		if out, _ := nsRun(ns, "nft", "list", "table", "ip", peerTable); strings.Contains(out, "chain") {
			t.Errorf("%s: peering table left:\n%s", ns, out)
		}
	}
}
