package agent

import (
	"maps"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/dataplane"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/policy"
)

func TestAddNATGateways(t *testing.T) {
	a := netip.MustParseAddr
	p := netip.MustParsePrefix
	natA, natB, natC := a("198.18.0.10"), a("198.18.0.11"), a("198.18.0.12")
	t0 := time.Unix(1, 0)
	s := &snapshot{
		natGWs: []model.NatGateway{
			{ID: "ngw-1", AccountID: "1", VpcID: "vpc-1", ZoneID: "z-a", IcmpReplyEnabled: true},
			{ID: "ngw-other", AccountID: "1", VpcID: "vpc-1", ZoneID: "z-b"},
		},
		natFwPols: []model.FirewallPolicy{
			{ID: "nfw-drop", AccountID: "1", NatGatewayID: "ngw-1", Direction: model.FirewallOut, Order: 1, Action: model.FirewallDrop,
				Source: "10.0.1.6/32", SourceType: model.FirewallNet, Destination: "0.0.0.0/0", DestinationType: model.FirewallNet, Proto: "TCP", Enabled: true},
			{ID: "nfw-off", AccountID: "1", NatGatewayID: "ngw-1", Direction: model.FirewallOut, Order: 2, Action: model.FirewallDrop,
				Source: "0.0.0.0/0", SourceType: model.FirewallNet, Destination: "0.0.0.0/0", DestinationType: model.FirewallNet, Proto: "ANY"},
			{ID: "nfw-other", AccountID: "1", NatGatewayID: "ngw-other", Direction: model.FirewallOut, Order: 1, Action: model.FirewallDrop,
				Source: "0.0.0.0/0", SourceType: model.FirewallNet, Destination: "0.0.0.0/0", DestinationType: model.FirewallNet, Proto: "ANY", Enabled: true},
			{ID: "nfw-domain", AccountID: "1", NatGatewayID: "ngw-1", Direction: model.FirewallOut, Order: 3, Action: model.FirewallAccept,
				Source: "0.0.0.0/0", SourceType: model.FirewallNet, Destination: "api.example.com", DestinationType: model.FirewallDomain,
				DomainResolveType: model.FirewallResolveDNS, Proto: "ANY", Enabled: true},
		},
		domains: policy.Domains{"api.example.com": {a("203.0.113.7")}},
		eips: []model.EIP{
			{ID: "eip-a", Address: natA, InstanceType: model.EIPInstanceNat, InstanceID: "ngw-1", VpcID: "vpc-1"},
			{ID: "eip-b", Address: natB, InstanceType: model.EIPInstanceNat, InstanceID: "ngw-1", VpcID: "vpc-1"},
			{ID: "eip-c", Address: natC, InstanceType: model.EIPInstanceNat, InstanceID: "ngw-1", VpcID: "vpc-1"},
			{ID: "eip-x", Address: a("198.18.0.20"), InstanceType: model.EIPInstanceNat, InstanceID: "ngw-other", VpcID: "vpc-1"},
			{ID: "eip-eni", Address: a("198.18.0.30"), InstanceType: "EcsInstance", InstanceID: "i-1", ENIID: "eni-1", PrivateIP: a("10.0.1.5")},
		},
		snats: []model.SnatEntry{
			{ID: "snat-host", NatGatewayID: "ngw-1", SourceCIDR: p("10.0.1.6/32"), SnatIPs: []netip.Addr{natB}, CreatedAt: t0.Add(time.Second)},
			{ID: "snat-vsw", NatGatewayID: "ngw-1", SourceCIDR: p("10.0.1.0/24"), SnatIPs: []netip.Addr{natA}, CreatedAt: t0},
			{ID: "snat-x", NatGatewayID: "ngw-other", SourceCIDR: p("10.0.0.0/16"), SnatIPs: []netip.Addr{a("198.18.0.20")}},
		},
		forwards: []model.ForwardEntry{
			{ID: "fwd-tcp", NatGatewayID: "ngw-1", ExternalIP: natA, ExternalPort: 80, IpProtocol: model.NatProtoTCP, InternalIP: a("10.0.1.5"), InternalPort: 8080},
			{ID: "fwd-udp", NatGatewayID: "ngw-1", ExternalIP: natA, ExternalPort: 53, IpProtocol: model.NatProtoUDP, InternalIP: a("10.0.1.6"), InternalPort: 5353},
			{ID: "fwd-any", NatGatewayID: "ngw-1", ExternalIP: natC, IpProtocol: model.NatProtoAny, InternalIP: a("10.0.1.6")},
			{ID: "fwd-elsewhere", NatGatewayID: "ngw-1", ExternalIP: natA, ExternalPort: 81, IpProtocol: model.NatProtoTCP, InternalIP: a("10.0.9.9"), InternalPort: 80},
		},
		routes: []model.RouteEntry{
			{VpcID: "vpc-1", DestinationCidr: p("0.0.0.0/0"), NextHopType: model.RouteNextHopNat, NextHopID: "ngw-1"},
			{VpcID: "vpc-1", DestinationCidr: p("10.2.0.0/16"), NextHopType: model.RouteNextHopPeer, NextHopID: "pcc-1"},
			{VpcID: "vpc-2", DestinationCidr: p("8.8.8.0/24"), NextHopType: model.RouteNextHopNat, NextHopID: "ngw-1"},
		},
	}
	byVPC := map[string]*dataplane.VPC{"vpc-1": {ID: "vpc-1", ENIs: []dataplane.ENI{
		{ID: "eni-1", Addrs: []netip.Addr{a("10.0.1.5")}}, {ID: "eni-2", Addrs: []netip.Addr{a("10.0.1.6")}}}}}
	d := &Desired{}
	addNATGateways(s, byVPC, "z-a", d)

	gws := byVPC["vpc-1"].NATGateways
	if len(gws) != 1 || gws[0].ID != "ngw-1" || !gws[0].ICMPReply {
		t.Fatalf("gateways: %+v, want ngw-1 alone (ngw-other is in another zone)", gws)
	}
	g := gws[0]
	if len(g.EIPs) != 3 || g.EIPs[0].Address != natA || g.EIPs[2].Address != natC {
		t.Errorf("EIPs: %+v", g.EIPs)
	}
	if len(d.EIPs) != 3 {
		t.Errorf("d.EIPs has %d, want the gateway's 3 (status, Anti-DDoS)", len(d.EIPs))
	}
	wantDNAT := []dataplane.DNATRule{
		{Addr: natA, Proto: 6, Port: 80, Internal: a("10.0.1.5"), InternalPort: 8080},
		{Addr: natA, Proto: 17, Port: 53, Internal: a("10.0.1.6"), InternalPort: 5353},
		{Addr: natC, Proto: 0, Internal: a("10.0.1.6")},
	}
	if len(g.DNAT) != len(wantDNAT) {
		t.Fatalf("DNAT: %+v, want %+v (an internal address not on this host left out)", g.DNAT, wantDNAT)
	}
	for i := range wantDNAT {
		if g.DNAT[i] != wantDNAT[i] {
			t.Errorf("DNAT[%d] = %+v, want %+v", i, g.DNAT[i], wantDNAT[i])
		}
	}
	r := func(dst, dstTo, src, srcTo string, addr netip.Addr) dataplane.SNATRange {
		return dataplane.SNATRange{Dst: a(dst), DstTo: a(dstTo), Src: a(src), SrcTo: a(srcTo), Addr: addr}
	}
	// Everything but the peering's 10.2/16 goes to the gateway; 10.0.1.6
	// has the more specific entry.
	want := []dataplane.SNATRange{
		r("0.0.0.0", "10.1.255.255", "10.0.1.0", "10.0.1.5", natA),
		r("0.0.0.0", "10.1.255.255", "10.0.1.6", "10.0.1.6", natB),
		r("0.0.0.0", "10.1.255.255", "10.0.1.7", "10.0.1.255", natA),
		r("10.3.0.0", "255.255.255.255", "10.0.1.0", "10.0.1.5", natA),
		r("10.3.0.0", "255.255.255.255", "10.0.1.6", "10.0.1.6", natB),
		r("10.3.0.0", "255.255.255.255", "10.0.1.7", "10.0.1.255", natA),
	}
	if len(g.SNAT) != len(want) {
		t.Fatalf("SNAT: %+v\nwant %+v", g.SNAT, want)
	}
	for i := range want {
		if g.SNAT[i] != want[i] {
			t.Errorf("SNAT[%d] = %+v, want %+v", i, g.SNAT[i], want[i])
		}
	}
	// The NAT firewall: the gateway's enabled policies only, a domain
	// matched by its resolved addresses.
	if len(g.Firewall) != 2 || g.Firewall[0].ID != "nfw-drop" || !g.Firewall[0].Drop || g.Firewall[0].Proto != 6 ||
		len(g.Firewall[0].Src) != 1 || g.Firewall[0].Src[0] != p("10.0.1.6/32") ||
		g.Firewall[1].ID != "nfw-domain" || len(g.Firewall[1].Dst) != 1 || g.Firewall[1].Dst[0] != p("203.0.113.7/32") {
		t.Errorf("NAT firewall: %+v, want nfw-drop and nfw-domain (203.0.113.7/32)", g.Firewall)
	}
}

// TestAddOverlayNAT: on zone zb's host, the ENIs that zone za's gateway
// translates (an SNAT entry of zb's vSwitch, a forward entry's internal
// address) are routed to za's host; an ENI with an EIP here is kept; a
// gateway whose host is not a remote of the overlay is left out.
func TestAddOverlayNAT(t *testing.T) {
	a := netip.MustParseAddr
	p := netip.MustParsePrefix
	za, zc := a("192.0.2.1"), a("192.0.2.3")
	s := &snapshot{
		underlays: map[string]model.Underlay{"z-a": {ZoneID: "z-a", Addr: za}, "z-c": {ZoneID: "z-c", Addr: zc}},
		natGWs: []model.NatGateway{
			{ID: "ngw-a", VpcID: "vpc-1", ZoneID: "z-a"},
			{ID: "ngw-c", VpcID: "vpc-1", ZoneID: "z-c"}, // its host has no ENI of the VPC
			{ID: "ngw-b", VpcID: "vpc-1", ZoneID: "z-b"}, // this host's own
		},
		snats: []model.SnatEntry{
			{ID: "snat-b", NatGatewayID: "ngw-a", SourceCIDR: p("10.0.2.0/24"), SnatIPs: []netip.Addr{a("198.18.0.1")}},
			{ID: "snat-far", NatGatewayID: "ngw-a", SourceCIDR: p("10.0.9.0/24"), SnatIPs: []netip.Addr{a("198.18.0.1")}},
			{ID: "snat-c", NatGatewayID: "ngw-c", SourceCIDR: p("10.0.2.0/24"), SnatIPs: []netip.Addr{a("198.18.0.3")}},
		},
		forwards: []model.ForwardEntry{
			{ID: "fwd-1", NatGatewayID: "ngw-a", ExternalIP: a("198.18.0.1"), ExternalPort: 80, IpProtocol: model.NatProtoTCP, InternalIP: a("10.0.3.7"), InternalPort: 80},
		},
		routes: []model.RouteEntry{{VpcID: "vpc-1", DestinationCidr: p("0.0.0.0/0"), NextHopType: model.RouteNextHopNat, NextHopID: "ngw-a"}},
	}
	v := &dataplane.VPC{ID: "vpc-1",
		ENIs:    []dataplane.ENI{{ID: "eni-1", Addrs: []netip.Addr{a("10.0.2.5")}}, {ID: "eni-2", Addrs: []netip.Addr{a("10.0.3.7")}}},
		EIPs:    []dataplane.EIP{{ID: "eip-own", Address: a("198.18.0.9"), ENIID: "eni-1", PrivateIP: a("10.0.2.5")}},
		Overlay: &dataplane.Overlay{VNI: 7, Remotes: []dataplane.RemoteHost{{Underlay: za, Addrs: []netip.Addr{a("10.0.1.5")}}}},
	}
	addOverlayNAT(s, map[string]*dataplane.VPC{"vpc-1": v}, "z-b")
	if len(v.Overlay.NAT) != 1 {
		t.Fatalf("overlay NAT: %+v, want zone z-a's gateway alone", v.Overlay.NAT)
	}
	n := v.Overlay.NAT[0]
	want := []dataplane.NATRoute{{Src: p("10.0.2.0/24"), Dst: p("0.0.0.0/0")}, {Src: p("10.0.3.7/32"), Dst: p("0.0.0.0/0")}}
	if n.Via != za || len(n.Routes) != len(want) || n.Routes[0] != want[0] || n.Routes[1] != want[1] {
		t.Errorf("got %+v, want via %v routes %+v (no route for 10.0.9.0/24: no ENI here)", n, za, want)
	}
	if len(n.Keep) != 1 || n.Keep[0] != a("10.0.2.5") {
		t.Errorf("keep %v, want the ENI with an EIP here", n.Keep)
	}
}

// TestNATNamespaces: a gateway of this zone with an EIP gets a namespace
// of its VPC here without any instance; one without an EIP, or of another
// zone, does not. Another zone's gateway is a remote of the overlay.
func TestNATNamespaces(t *testing.T) {
	s := &snapshot{
		vpcs: map[string]model.VPC{"vpc-1": {ID: "vpc-1"}, "vpc-2": {ID: "vpc-2"}, "vpc-3": {ID: "vpc-3"}},
		natGWs: []model.NatGateway{
			{ID: "ngw-1", VpcID: "vpc-1", ZoneID: "z-a"},
			{ID: "ngw-2", VpcID: "vpc-2", ZoneID: "z-a"}, // no EIP
			{ID: "ngw-3", VpcID: "vpc-3", ZoneID: "z-b"},
		},
		eips: []model.EIP{
			{ID: "eip-1", InstanceType: model.EIPInstanceNat, InstanceID: "ngw-1"},
			{ID: "eip-3", InstanceType: model.EIPInstanceNat, InstanceID: "ngw-3"},
		},
		underlays: map[string]model.Underlay{"z-a": {ZoneID: "z-a", Addr: netip.MustParseAddr("192.0.2.1"), Port: 4798},
			"z-b": {ZoneID: "z-b", Addr: netip.MustParseAddr("192.0.2.2"), Port: 4798}},
	}
	byVPC := map[string]*dataplane.VPC{}
	addNATNamespaces(s, byVPC, "z-a")
	if len(byVPC) != 1 || byVPC["vpc-1"] == nil {
		t.Errorf("namespaces for %v, want vpc-1 alone", slices.Collect(maps.Keys(byVPC)))
	}
	remote := map[netip.Addr][]netip.Addr{}
	natRemotes(s, "vpc-3", "z-a", s.underlays["z-a"], remote)
	if _, ok := remote[netip.MustParseAddr("192.0.2.2")]; !ok || len(remote) != 1 {
		t.Errorf("remotes %v, want zone z-b's host for ngw-3", remote)
	}
}
