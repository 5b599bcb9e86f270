package analysis

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/model"
)

// natWorld is vpc-n (10.8.0.0/16) over zones za and zb with two Internet
// NAT gateways in za:
//
//   - ngw-1 (vsw-a) with EIPs natA 47.1.0.1, natB 47.1.0.2, natC 47.1.0.3
//     and natE 47.1.0.5, ICMP reply on. SNAT entries: snat-a vsw-a
//     (10.8.1.0/24) -> natA; snat-a2 10.8.1.12/32 -> natB (more
//     specific); snat-b 10.8.2.0/24 (zone zb) -> natA; snat-d
//     10.8.3.0/24 -> natA, natB, natE (three parts: .0-.84, .85-.169,
//     .170-.255). Forward entries: fwd-a80 tcp natA:80 -> a1:8080;
//     fwd-c81 tcp natA:81 -> c1:8080 (its group admits 10/8 only);
//     fwd-b82 tcp natA:82 -> b1:8080 (zone zb); fwd-d83 tcp natA:83 ->
//     d1:8080 (vsw-d's ACL drops 45.0.0.0/8); fwd-n84 tcp natA:84 ->
//     10.8.1.99:8080 (no ENI); fwd-u53 udp natB:53 -> a2:5353; fwd-s22
//     tcp natB:2222 -> a1:22; fwd-m natC Any -> m1 (an IP mapping);
//   - ngw-2 (vsw-a) with EIP natD 47.1.0.4 and SNAT entry snat-2
//     10.8.1.0/24 -> natD.
//
// Route entries: 0.0.0.0/0 -> ngw-1; 8.8.8.0/24 -> ngw-2; 10.20.0.0/16
// over pcc-p to vpc-p (i-p1 10.20.1.10); 1.1.1.0/24 to pcc-gone, which
// does not exist. i-e1 has an EIP of its own (47.1.0.13); i-x1
// (10.8.4.11) is covered by no SNAT entry; i-l1's group lets out tcp 443
// only.
func natWorld() *World {
	w := &World{AccountID: "acct-1", HostedZones: []string{"za", "zb"}}
	w.VPCs = []model.VPC{
		{ID: "vpc-n", AccountID: "acct-1", CidrBlock: pfx("10.8.0.0/16"), VNI: 8},
		{ID: "vpc-p", AccountID: "acct-1", CidrBlock: pfx("10.20.0.0/16"), VNI: 9},
	}
	w.VSwitches = []model.VSwitch{
		{ID: "vsw-a", VpcID: "vpc-n", ZoneID: "za", CidrBlock: pfx("10.8.1.0/24")},
		{ID: "vsw-b", VpcID: "vpc-n", ZoneID: "zb", CidrBlock: pfx("10.8.2.0/24")},
		{ID: "vsw-d", VpcID: "vpc-n", ZoneID: "za", CidrBlock: pfx("10.8.3.0/24"), NetworkAclID: "nacl-d"},
		{ID: "vsw-x", VpcID: "vpc-n", ZoneID: "za", CidrBlock: pfx("10.8.4.0/24")},
		{ID: "vsw-p", VpcID: "vpc-p", ZoneID: "za", CidrBlock: pfx("10.20.1.0/24")},
	}
	all := model.PortRange{From: -1, To: -1}
	w.ACLs = []model.NetworkACL{{ID: "nacl-d", VpcID: "vpc-n",
		Ingress: []model.ACLEntry{
			{ID: "nae-d-drop", Policy: model.PolicyDrop, Protocol: "all", Ports: all, Cidr: pfx("45.0.0.0/8")},
			{ID: "nae-d-all", Policy: model.PolicyAccept, Protocol: "all", Ports: all, Cidr: pfx("0.0.0.0/0")},
		},
		Egress: []model.ACLEntry{{ID: "nae-d-out", Policy: model.PolicyAccept, Protocol: "all", Ports: all, Cidr: pfx("0.0.0.0/0")}},
	}}
	udp := tcp("sgr-web-5353", model.Ingress, 5353, "0.0.0.0/0", model.PolicyAccept, 1)
	udp.Protocol = model.ProtoUDP
	w.Groups = []model.SecurityGroup{
		{ID: "sg-web", VpcID: "vpc-n", Type: model.GroupTypeBasic, InnerAccessPolicy: model.InnerDrop, Rules: []model.Rule{
			tcp("sgr-web-8080", model.Ingress, 8080, "0.0.0.0/0", model.PolicyAccept, 1),
			tcp("sgr-web-ssh", model.Ingress, 22, "0.0.0.0/0", model.PolicyAccept, 1), udp,
		}},
		{ID: "sg-closed", VpcID: "vpc-n", Type: model.GroupTypeBasic, InnerAccessPolicy: model.InnerDrop, Rules: []model.Rule{
			tcp("sgr-closed-8080", model.Ingress, 8080, "10.0.0.0/8", model.PolicyAccept, 1),
		}},
		{ID: "sg-locked", VpcID: "vpc-n", Type: model.GroupTypeAdvanced, Rules: []model.Rule{
			tcp("sgr-locked-443", model.Egress, 443, "0.0.0.0/0", model.PolicyAccept, 1),
		}},
		{ID: "sg-p", VpcID: "vpc-p", Type: model.GroupTypeBasic, InnerAccessPolicy: model.InnerDrop, Rules: []model.Rule{
			tcp("sgr-p-8080", model.Ingress, 8080, "10.8.0.0/16", model.PolicyAccept, 1),
		}},
	}
	for _, n := range []struct{ id, vpc, vsw, zone, addr, sg string }{
		{"a1", "vpc-n", "vsw-a", "za", "10.8.1.11", "sg-web"},
		{"a2", "vpc-n", "vsw-a", "za", "10.8.1.12", "sg-web"},
		{"e1", "vpc-n", "vsw-a", "za", "10.8.1.13", "sg-web"},
		{"c1", "vpc-n", "vsw-a", "za", "10.8.1.14", "sg-closed"},
		{"m1", "vpc-n", "vsw-a", "za", "10.8.1.15", "sg-web"},
		{"l1", "vpc-n", "vsw-a", "za", "10.8.1.16", "sg-locked"},
		{"b1", "vpc-n", "vsw-b", "zb", "10.8.2.11", "sg-web"},
		{"d1", "vpc-n", "vsw-d", "za", "10.8.3.11", "sg-web"},
		{"d2", "vpc-n", "vsw-d", "za", "10.8.3.100", "sg-web"},
		{"d3", "vpc-n", "vsw-d", "za", "10.8.3.200", "sg-web"},
		{"x1", "vpc-n", "vsw-x", "za", "10.8.4.11", "sg-web"},
		{"p1", "vpc-p", "vsw-p", "za", "10.20.1.10", "sg-p"},
	} {
		w.ENIs = append(w.ENIs, model.ENI{ID: "eni-" + n.id, InstanceID: "i-" + n.id, VpcID: n.vpc, VSwitchID: n.vsw, ZoneID: n.zone,
			PrimaryIP: ip(n.addr), SecurityGroupIDs: []string{n.sg}, Type: model.ENITypePrimary, Status: model.ENIInUse})
		w.Instances = append(w.Instances, model.Instance{ID: "i-" + n.id, VpcID: n.vpc, VSwitchID: n.vsw, ZoneID: n.zone,
			PrimaryENIID: "eni-" + n.id, Status: model.InstanceRunning})
	}
	w.NatGateways = []model.NatGateway{
		{ID: "ngw-1", AccountID: "acct-1", VpcID: "vpc-n", VSwitchID: "vsw-a", ZoneID: "za", NatType: "Enhanced", NetworkType: "internet",
			IcmpReplyEnabled: true, PrivateIP: ip("10.8.1.250"), Status: model.NatGatewayAvailable, SnatTableID: "stb-1", ForwardTableID: "ftb-1"},
		{ID: "ngw-2", AccountID: "acct-1", VpcID: "vpc-n", VSwitchID: "vsw-a", ZoneID: "za", NatType: "Enhanced", NetworkType: "internet",
			PrivateIP: ip("10.8.1.251"), Status: model.NatGatewayAvailable, SnatTableID: "stb-2", ForwardTableID: "ftb-2"},
	}
	natEIP := func(id, addr, gw string) model.EIP {
		return model.EIP{ID: id, AccountID: "acct-1", Address: ip(addr), InstanceID: gw, InstanceType: model.EIPInstanceNat, VpcID: "vpc-n", ZoneID: "za", Status: model.EIPInUse}
	}
	w.EIPs = []model.EIP{
		natEIP("eip-a", "47.1.0.1", "ngw-1"), natEIP("eip-b", "47.1.0.2", "ngw-1"), natEIP("eip-c", "47.1.0.3", "ngw-1"),
		natEIP("eip-e", "47.1.0.5", "ngw-1"), natEIP("eip-d", "47.1.0.4", "ngw-2"),
		{ID: "eip-e1", AccountID: "acct-1", Address: ip("47.1.0.13"), InstanceID: "i-e1", InstanceType: "EcsInstance", ENIID: "eni-e1", PrivateIP: ip("10.8.1.13"), Status: model.EIPInUse},
	}
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	snat := func(id, gw, src string, ips ...string) model.SnatEntry {
		e := model.SnatEntry{ID: id, AccountID: "acct-1", NatGatewayID: gw, VpcID: "vpc-n", SourceCIDR: pfx(src), Status: model.NatEntryAvailable, CreatedAt: t0}
		for _, a := range ips {
			e.SnatIPs = append(e.SnatIPs, ip(a))
		}
		return e
	}
	w.SnatEntries = []model.SnatEntry{
		snat("snat-a", "ngw-1", "10.8.1.0/24", "47.1.0.1"),
		snat("snat-a2", "ngw-1", "10.8.1.12/32", "47.1.0.2"),
		snat("snat-b", "ngw-1", "10.8.2.0/24", "47.1.0.1"),
		snat("snat-d", "ngw-1", "10.8.3.0/24", "47.1.0.1", "47.1.0.2", "47.1.0.5"),
		snat("snat-2", "ngw-2", "10.8.1.0/24", "47.1.0.4"),
	}
	w.SnatEntries[0].SourceVSwitchID = "vsw-a"
	fwd := func(id, ext string, extPort uint16, proto, internal string, intPort uint16) model.ForwardEntry {
		return model.ForwardEntry{ID: id, AccountID: "acct-1", NatGatewayID: "ngw-1", ForwardTableID: "ftb-1", VpcID: "vpc-n",
			ExternalIP: ip(ext), ExternalPort: extPort, IpProtocol: proto, InternalIP: ip(internal), InternalPort: intPort, Status: model.NatEntryAvailable}
	}
	w.ForwardEntries = []model.ForwardEntry{
		fwd("fwd-a80", "47.1.0.1", 80, model.NatProtoTCP, "10.8.1.11", 8080),
		fwd("fwd-c81", "47.1.0.1", 81, model.NatProtoTCP, "10.8.1.14", 8080),
		fwd("fwd-b82", "47.1.0.1", 82, model.NatProtoTCP, "10.8.2.11", 8080),
		fwd("fwd-d83", "47.1.0.1", 83, model.NatProtoTCP, "10.8.3.11", 8080),
		fwd("fwd-n84", "47.1.0.1", 84, model.NatProtoTCP, "10.8.1.99", 8080),
		fwd("fwd-u53", "47.1.0.2", 53, model.NatProtoUDP, "10.8.1.12", 5353),
		fwd("fwd-s22", "47.1.0.2", 2222, model.NatProtoTCP, "10.8.1.11", 22),
		fwd("fwd-m", "47.1.0.3", 0, model.NatProtoAny, "10.8.1.15", 0),
	}
	w.Peerings = []model.PeerConnection{{ID: "pcc-p", AccountID: "acct-1", VpcID: "vpc-n", AcceptingAccountID: "acct-1", AcceptingVpcID: "vpc-p", Status: model.PeerActivated}}
	route := func(id, vpc, dst, typ, hop string) model.RouteEntry {
		return model.RouteEntry{ID: id, AccountID: "acct-1", VpcID: vpc, DestinationCidr: pfx(dst), NextHopType: typ, NextHopID: hop}
	}
	w.RouteEntries = []model.RouteEntry{
		route("rte-default", "vpc-n", "0.0.0.0/0", model.RouteNextHopNat, "ngw-1"),
		route("rte-dns", "vpc-n", "8.8.8.0/24", model.RouteNextHopNat, "ngw-2"),
		route("rte-peer", "vpc-n", "10.20.0.0/16", model.RouteNextHopPeer, "pcc-p"),
		route("rte-gone", "vpc-n", "1.1.1.0/24", model.RouteNextHopPeer, "pcc-gone"),
		route("rte-back", "vpc-p", "10.8.0.0/16", model.RouteNextHopPeer, "pcc-p"),
	}
	return w
}

// natCase is one reach query of the NAT tests and what its first path
// must show.
type natCase struct {
	name    string
	q       ReachQuery
	verdict string
	// deny is the point of the first step that denies ("" none), detail
	// what that step (or, with deny "", the step at point) says.
	deny   string
	point  string
	detail []string
	// gw and entry: the nat-gateway step's resource and the nat-entry
	// step's ("" none of that step); translated: PathResult.Translated.
	gw, entry  string
	translated string
	packet     string
}

// TestNATAcrossHosts: with zones za and zb joined by the underlay, the
// gateway of za reaches zb's instance both ways over the overlay (the
// path names the crossing), also when the gateway's zone has no instance
// of the VPC.
func TestNATAcrossHosts(t *testing.T) {
	q := func(from, to string, port int) ReachQuery {
		return ReachQuery{From: from, To: to, Protocol: "tcp", Port: port}
	}
	joined := func() *World {
		w := natWorld()
		w.Underlays = []model.Underlay{
			{ZoneID: "za", Addr: ip("192.0.2.1"), Port: 4798}, {ZoneID: "zb", Addr: ip("192.0.2.2"), Port: 4798}}
		return w
	}
	runNATCases(t, joined(), []natCase{
		{name: "inbound to another zone's instance", q: ReachQuery{From: "198.51.100.7", To: "47.1.0.1", Protocol: "tcp", Port: 82}, verdict: "reachable",
			point: PointHosts, detail: []string{"zone za's host and zone zb's are joined"},
			gw: "ngw-1", entry: "fwd-b82", translated: "tcp 198.51.100.7:49152 -> 10.8.2.11:8080"},
		{name: "outbound from another zone's instance", q: q("i-b1", "1.2.3.4", 443), verdict: "reachable",
			point: PointHosts, detail: []string{"zone zb's host and zone za's are joined"},
			gw: "ngw-1", entry: "snat-b", translated: "tcp 47.1.0.1:49152 -> 1.2.3.4:443"},
	})
	w := joined()
	w.Instances = slices.DeleteFunc(w.Instances, func(i model.Instance) bool { return i.ZoneID == "za" })
	w.ENIs = slices.DeleteFunc(w.ENIs, func(e model.ENI) bool { return e.ZoneID == "za" })
	runNATCases(t, w, []natCase{
		{name: "no instance in the gateway's zone", q: q("i-b1", "1.2.3.4", 443), verdict: "reachable",
			point: PointHosts, detail: []string{"zone zb's host and zone za's are joined"},
			gw: "ngw-1", entry: "snat-b", translated: "tcp 47.1.0.1:49152 -> 1.2.3.4:443"},
	})
}

func runNATCases(t *testing.T, w *World, cases []natCase) {
	t.Helper()
	a := New(w)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := a.Reach(c.q)
			if err != nil {
				t.Fatalf("%+v: %v", c.q, err)
			}
			var b strings.Builder
			if err := WriteReach(&b, r); err != nil {
				t.Fatal(err)
			}
			out := b.String()
			if r.Verdict != c.verdict {
				t.Errorf("verdict %s, want %s:\n%s", r.Verdict, c.verdict, out)
			}
			p := r.Paths[0]
			s, denied := firstDeny(p)
			switch {
			case c.deny == "" && denied:
				t.Errorf("step %s denies: %s\n%s", s.Point, s.Detail, out)
			case c.deny != "" && (!denied || s.Point != c.deny):
				t.Errorf("first denying step %q (%v), want %s:\n%s", s.Point, denied, c.deny, out)
			}
			if c.point != "" {
				s, _ = stepAt(p.Steps, c.point)
			}
			for _, d := range c.detail {
				if !strings.Contains(s.Detail, d) {
					t.Errorf("%s detail %q lacks %q", s.Point, s.Detail, d)
				}
			}
			gs, hasGW := stepAt(p.Steps, PointNatGateway)
			if got := map[bool]string{true: gs.Resource}[hasGW]; got != c.gw {
				t.Errorf("nat-gateway step %q, want %q:\n%s", got, c.gw, out)
			}
			es, hasEntry := stepAt(p.Steps, PointNatEntry)
			if got := map[bool]string{true: es.Resource}[hasEntry]; got != c.entry {
				t.Errorf("nat-entry step %q, want %q:\n%s", got, c.entry, out)
			}
			if hasEntry && gs.RuleID != c.entry {
				t.Errorf("nat-gateway step names entry %q, want %q", gs.RuleID, c.entry)
			}
			if p.Translated != c.translated {
				t.Errorf("translated %q, want %q", p.Translated, c.translated)
			}
			if c.packet != "" && p.Packet != c.packet {
				t.Errorf("packet %q, want %q", p.Packet, c.packet)
			}
			if !strings.Contains(out, c.gw) || !strings.Contains(out, c.entry) {
				t.Errorf("the rendering does not name %s and %s:\n%s", c.gw, c.entry, out)
			}
		})
	}
}

// TestNATInbound: forward entries from the internet. A matching entry
// translates to its internal address and port (an IP mapping: every
// protocol, same port); the internal ENI's network ACL and security
// groups judge the real client; an ENI of another zone, an address no ENI
// holds and a packet no entry takes are unreachable, each saying why; the
// gateway answers pings when its ICMP reply is on.
func TestNATInbound(t *testing.T) {
	const client = "198.51.100.7"
	tcpQ := func(from, to string, port int) ReachQuery {
		return ReachQuery{From: from, To: to, Protocol: "tcp", Port: port}
	}
	runNATCases(t, natWorld(), []natCase{
		{name: "port entry", q: tcpQ(client, "47.1.0.1", 80), verdict: "reachable",
			point: PointNatEntry, detail: []string{"fwd-a80", "tcp 47.1.0.1:80 -> 10.8.1.11:8080", "client's address kept"},
			gw: "ngw-1", entry: "fwd-a80", translated: "tcp 198.51.100.7:49152 -> 10.8.1.11:8080"},
		{name: "the internal security groups judge the real client", q: tcpQ(client, "47.1.0.1", 81), verdict: "unreachable",
			deny: PointSGIngress, detail: []string{"no ingress rule matched"},
			gw: "ngw-1", entry: "fwd-c81", translated: "tcp 198.51.100.7:49152 -> 10.8.1.14:8080"},
		{name: "the internal network ACL judges the real client", q: tcpQ("45.1.2.3", "47.1.0.1", 83), verdict: "unreachable",
			deny: PointACLIngress, detail: []string{"nae-d-drop"},
			gw: "ngw-1", entry: "fwd-d83", translated: "tcp 45.1.2.3:49152 -> 10.8.3.11:8080"},
		{name: "behind a network ACL that admits the client", q: tcpQ(client, "47.1.0.1", 83), verdict: "reachable",
			gw: "ngw-1", entry: "fwd-d83", translated: "tcp 198.51.100.7:49152 -> 10.8.3.11:8080"},
		{name: "instance of another zone", q: tcpQ(client, "47.1.0.1", 82), verdict: "unreachable",
			deny: PointRoute, detail: []string{"whose hosts are not joined", "zone za", "zone zb", "eni-b1", "has an underlay address"},
			gw: "ngw-1", entry: "fwd-b82", translated: "tcp 198.51.100.7:49152 -> 10.8.2.11:8080"},
		{name: "no ENI holds the internal address", q: tcpQ(client, "47.1.0.1", 84), verdict: "unreachable",
			deny: PointRoute, detail: []string{"no ENI of vpc-n holds 10.8.1.99"},
			gw: "ngw-1", entry: "fwd-n84", translated: "tcp 198.51.100.7:49152 -> 10.8.1.99:8080"},
		{name: "no forward entry for the port", q: tcpQ(client, "47.1.0.1", 85), verdict: "unreachable",
			deny: PointNatGateway, detail: []string{"dropped by NAT gateway ngw-1", "no forward entry", "tcp port 85", "fwd-a80 (tcp 80)"},
			gw: "ngw-1"},
		{name: "no forward entry for the protocol", q: ReachQuery{From: client, To: "47.1.0.1", Protocol: "udp", Port: 80}, verdict: "unreachable",
			deny: PointNatGateway, detail: []string{"no forward entry", "udp port 80"}, gw: "ngw-1"},
		{name: "an EIP without forward entries", q: tcpQ(client, "47.1.0.5", 80), verdict: "unreachable",
			deny: PointNatGateway, detail: []string{"no forward entry for that address"}, gw: "ngw-1"},
		{name: "udp entry", q: ReachQuery{From: client, To: "47.1.0.2", Protocol: "udp", Port: 53}, verdict: "reachable",
			gw: "ngw-1", entry: "fwd-u53", translated: "udp 198.51.100.7:49152 -> 10.8.1.12:5353"},
		{name: "IP mapping: any port, the same inside", q: tcpQ(client, "47.1.0.3", 8080), verdict: "reachable",
			point: PointNatEntry, detail: []string{"IP mapping 47.1.0.3 <-> 10.8.1.15"},
			gw: "ngw-1", entry: "fwd-m", translated: "tcp 198.51.100.7:49152 -> 10.8.1.15:8080"},
		{name: "IP mapping: any protocol", q: ReachQuery{From: client, To: "47.1.0.3", Protocol: "icmp"}, verdict: "unreachable",
			deny: PointSGIngress, gw: "ngw-1", entry: "fwd-m", translated: "icmp 198.51.100.7 -> 10.8.1.15"},
		{name: "ping answered by the gateway", q: ReachQuery{From: client, To: "47.1.0.1", Protocol: "icmp"}, verdict: "reachable",
			point: PointNatGateway, detail: []string{"answers ICMP echo requests", "itself"}, gw: "ngw-1"},
		{name: "ping with the ICMP reply off", q: ReachQuery{From: client, To: "47.1.0.4", Protocol: "icmp"}, verdict: "unreachable",
			deny: PointNatGateway, detail: []string{"ICMP reply is off"}, gw: "ngw-2"},
		{name: "to the instance: through its forward entry", q: tcpQ(client, "i-a1", 8080), verdict: "reachable",
			gw: "ngw-1", entry: "fwd-a80", packet: "tcp 198.51.100.7:49152 -> 47.1.0.1:80", translated: "tcp 198.51.100.7:49152 -> 10.8.1.11:8080"},
		{name: "to the instance: through its IP mapping", q: tcpQ(client, "i-m1", 22), verdict: "reachable",
			gw: "ngw-1", entry: "fwd-m", packet: "tcp 198.51.100.7:49152 -> 47.1.0.3:22", translated: "tcp 198.51.100.7:49152 -> 10.8.1.15:22"},
		{name: "to the instance: no entry for the port", q: tcpQ(client, "i-a2", 8080), verdict: "unreachable",
			deny: PointRoute, detail: []string{"no EIP is associated with 10.8.1.12", "fwd-u53 of NAT gateway ngw-1: udp 47.1.0.2:53 -> 10.8.1.12:5353"}},
		{name: "to the instance: its own EIP first", q: tcpQ(client, "i-e1", 8080), verdict: "reachable",
			point: PointRoute, detail: []string{"inbound through EIP 47.1.0.13"}},
	})
}

// TestNATInboundPaths: the gateway as the destination (one path per EIP),
// an internet range cut where the internal ENI's network ACL cuts it, and
// no Internet firewall on the gateway's EIPs, while Anti-DDoS mitigates
// them.
func TestNATInboundPaths(t *testing.T) {
	a := New(natWorld())
	r, err := a.Reach(ReachQuery{From: "198.51.100.7", To: "ngw-1", Protocol: "tcp", Port: 80})
	if err != nil {
		t.Fatal(err)
	}
	if r.Verdict != "reachable" || len(r.Paths) != 4 || len(r.Notes) != 1 || !strings.Contains(r.Notes[0], "blocked at") {
		t.Errorf("ngw-1 port 80: %s, %d paths, notes %q; want reachable over 4 paths (one per EIP), a note on the blocked ones", r.Verdict, len(r.Paths), r.Notes)
	}
	if p := r.Paths[0]; p.To.Kind != "nat-gateway" || p.To.NatGateway != "ngw-1" || p.Backend == nil || p.Backend.ENI != "eni-a1" {
		t.Errorf("first path to %+v through %+v, want ngw-1's EIP to eni-a1", p.To, p.Backend)
	}
	if _, err := a.Reach(ReachQuery{From: "ngw-1", To: "1.2.3.4", Protocol: "tcp", Port: 80}); err == nil {
		t.Error("ngw-1 as a source: no error")
	}

	r, err = a.Reach(ReachQuery{From: "44.0.0.0/7", To: "47.1.0.1", Protocol: "tcp", Port: 83})
	if err != nil {
		t.Fatal(err)
	}
	if r.Verdict != "partial" || len(r.Paths) != 2 || !r.Paths[0].Reachable || r.Paths[1].Reachable || r.Paths[1].From.Range != "45.0.0.0-45.255.255.255" {
		var b strings.Builder
		WriteReach(&b, r)
		t.Errorf("44.0.0.0/7 to natA:83: want partial, 45/8 blocked by the internal ENI's ACL:\n%s", b.String())
	}

	// The Internet firewall protects a NAT gateway's EIPs (unless switched
	// off for one), both ways; Anti-DDoS blackholes one like any EIP.
	w := natWorld()
	w.FirewallPolicies = []model.FirewallPolicy{{ID: "fw-drop", AccountID: "acct-1", Direction: model.FirewallIn, Order: 1, Action: model.FirewallDrop,
		Source: "0.0.0.0/0", SourceType: model.FirewallNet, Destination: "0.0.0.0/0", DestinationType: model.FirewallNet, Proto: "ANY", Enabled: true}}
	a = New(w)
	r, err = a.Reach(ReachQuery{From: "198.51.100.7", To: "47.1.0.1", Protocol: "tcp", Port: 80})
	if err != nil {
		t.Fatal(err)
	}
	if s, ok := stepAt(r.Paths[0].Steps, PointFirewall); !ok || s.Allow || s.RuleID != "fw-drop" || r.Reachable {
		t.Errorf("NAT EIP behind the Internet firewall's drop-all: %+v", r.Paths[0].Steps)
	}
	out := *w
	out.FirewallPolicies = []model.FirewallPolicy{{ID: "fw-out", AccountID: "acct-1", Direction: model.FirewallOut, Order: 1, Action: model.FirewallDrop,
		Source: "47.1.0.1/32", SourceType: model.FirewallNet, Destination: "0.0.0.0/0", DestinationType: model.FirewallNet, Proto: "ANY", Enabled: true}}
	if r, _ := New(&out).Reach(ReachQuery{From: "i-a1", To: "1.2.3.4", Protocol: "tcp", Port: 443}); r.Reachable {
		t.Error("an out policy dropping the gateway's translated source lets i-a1 out")
	}
	if r, _ := New(&out).Reach(ReachQuery{From: "i-a2", To: "1.2.3.4", Protocol: "tcp", Port: 443}); !r.Reachable {
		t.Error("the out policy on 47.1.0.1 stops i-a2, which leaves with 47.1.0.2")
	}
	off := *w
	off.FirewallOff = []netip.Addr{ip("47.1.0.1")}
	if r, _ := New(&off).Reach(ReachQuery{From: "198.51.100.7", To: "47.1.0.1", Protocol: "tcp", Port: 80}); !r.Reachable {
		t.Error("the firewall switched off for 47.1.0.1 still drops it")
	}
	if r, _ := a.Reach(ReachQuery{From: "198.51.100.7", To: "i-e1", Protocol: "tcp", Port: 8080}); r.Reachable {
		t.Error("control: the firewall's drop-all does not stop i-e1's own EIP")
	}
	w.DDoSEvents = []model.DDoSEvent{{IP: ip("47.1.0.1"), AccountID: "acct-1", EipID: "eip-a", Type: model.DDoSBlackhole,
		Start: time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC), UnBlackholeAt: time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC)}}
	w.FirewallPolicies = nil
	r, err = New(w).Reach(ReachQuery{From: "198.51.100.7", To: "47.1.0.1", Protocol: "tcp", Port: 80})
	if err != nil {
		t.Fatal(err)
	}
	if s := r.Paths[0].Steps[0]; r.Reachable || s.Point != PointDDoS || s.Allow || s.Resource != "47.1.0.1" {
		t.Errorf("blackholed NAT EIP: first step %+v, reachable %v", s, r.Reachable)
	}
}

// TestNATOutbound: to the internet, an address with an EIP of its own
// keeps it; an IP mapping's internal address leaves with its EIP; others
// leave through the NAT gateway the VPC's most specific route entry sends
// the destination to, with the gateway's most specific SNAT entry covering
// them (its SnatIPs splitting its range), from the gateway's zone only.
func TestNATOutbound(t *testing.T) {
	q := func(from, to string, port int) ReachQuery {
		return ReachQuery{From: from, To: to, Protocol: "tcp", Port: port}
	}
	noRoute := natWorld()
	noRoute.RouteEntries = slices.DeleteFunc(noRoute.RouteEntries, func(r model.RouteEntry) bool { return r.NextHopType == model.RouteNextHopNat })
	runNATCases(t, natWorld(), []natCase{
		{name: "SNAT entry of the vSwitch", q: q("i-a1", "1.2.3.4", 443), verdict: "reachable",
			point: PointRoute, detail: []string{"rte-default (0.0.0.0/0)", "NAT gateway ngw-1"},
			gw: "ngw-1", entry: "snat-a", translated: "tcp 47.1.0.1:49152 -> 1.2.3.4:443"},
		{name: "the most specific SNAT entry", q: q("i-a2", "1.2.3.4", 443), verdict: "reachable",
			point: PointNatGateway, detail: []string{"snat-a2", "most specific"},
			gw: "ngw-1", entry: "snat-a2", translated: "tcp 47.1.0.2:49152 -> 1.2.3.4:443"},
		{name: "own EIP first", q: q("i-e1", "1.2.3.4", 443), verdict: "reachable",
			point: PointRoute, detail: []string{"outbound through EIP 47.1.0.13"}},
		{name: "IP mapping before SNAT", q: q("i-m1", "1.2.3.4", 443), verdict: "reachable",
			point: PointNatEntry, detail: []string{"IP mapping fwd-m translates the source 10.8.1.15 to 47.1.0.3"},
			gw: "ngw-1", entry: "fwd-m", translated: "tcp 47.1.0.3:49152 -> 1.2.3.4:443"},
		{name: "SnatIPs split: first part", q: q("i-d1", "1.2.3.4", 443), verdict: "reachable",
			point: PointNatEntry, detail: []string{"split 10.8.3.0/24 into 3 consecutive parts", "part 1 (10.8.3.0-10.8.3.84)", "uses 47.1.0.1"},
			gw: "ngw-1", entry: "snat-d", translated: "tcp 47.1.0.1:49152 -> 1.2.3.4:443"},
		{name: "SnatIPs split: second part", q: q("i-d2", "1.2.3.4", 443), verdict: "reachable",
			point: PointNatEntry, detail: []string{"part 2 (10.8.3.85-10.8.3.169)", "uses 47.1.0.2"},
			gw: "ngw-1", entry: "snat-d", translated: "tcp 47.1.0.2:49152 -> 1.2.3.4:443"},
		{name: "SnatIPs split: the last part takes the remainder", q: q("i-d3", "1.2.3.4", 443), verdict: "reachable",
			point: PointNatEntry, detail: []string{"part 3 (10.8.3.170-10.8.3.255)", "uses 47.1.0.5"},
			gw: "ngw-1", entry: "snat-d", translated: "tcp 47.1.0.5:49152 -> 1.2.3.4:443"},
		{name: "a more specific route to another gateway", q: q("i-a1", "8.8.8.8", 443), verdict: "reachable",
			point: PointRoute, detail: []string{"rte-dns (8.8.8.0/24)", "NAT gateway ngw-2"},
			gw: "ngw-2", entry: "snat-2", translated: "tcp 47.1.0.4:49152 -> 8.8.8.8:443"},
		{name: "a more specific route to a peering", q: q("i-a1", "10.20.1.10", 8080), verdict: "reachable",
			point: PointRoute, detail: []string{"rte-peer", "over peering connection pcc-p"}},
		{name: "the route sends it to no NAT gateway", q: q("i-x1", "1.1.1.1", 443), verdict: "unreachable",
			deny: PointRoute, detail: []string{"rte-gone (1.1.1.0/24)", "peering connection pcc-gone, not to a NAT gateway"}},
		{name: "no SNAT entry covers the address", q: q("i-x1", "1.2.3.4", 443), verdict: "unreachable",
			deny: PointNatGateway, detail: []string{"dropped by NAT gateway ngw-1", "no SNAT entry of ngw-1 covers 10.8.4.11"}, gw: "ngw-1"},
		{name: "another zone", q: q("i-b1", "1.2.3.4", 443), verdict: "unreachable",
			deny: PointNatGateway, detail: []string{"ngw-1 is in zone za and eni-b1 in zone zb, whose hosts are not joined"}, gw: "ngw-1"},
		{name: "egress security group", q: q("i-l1", "1.2.3.4", 80), verdict: "unreachable",
			deny: PointSGEgress, gw: "ngw-1", entry: "snat-a", translated: "tcp 47.1.0.1:49152 -> 1.2.3.4:80"},
		{name: "egress security group admits", q: q("i-l1", "1.2.3.4", 443), verdict: "reachable",
			gw: "ngw-1", entry: "snat-a", translated: "tcp 47.1.0.1:49152 -> 1.2.3.4:443"},
		{name: "the network ACL drops the reply", q: q("i-d1", "45.1.2.3", 443), verdict: "unreachable",
			gw: "ngw-1", entry: "snat-d", translated: "tcp 47.1.0.1:49152 -> 45.1.2.3:443"},
	})
	runNATCases(t, noRoute, []natCase{
		{name: "no route to a NAT gateway", q: q("i-a1", "1.2.3.4", 443), verdict: "unreachable",
			deny: PointRoute, detail: []string{"no route entry of vpc-n sends 1.2.3.4 to a NAT gateway", "SNAT entry snat-a of NAT gateway ngw-1 covers 10.8.1.11"}},
	})
}

// TestNATOutboundOtherGatewayEntry: the route decides the gateway; a SNAT
// entry of another gateway of the VPC does not translate for it.
func TestNATOutboundOtherGatewayEntry(t *testing.T) {
	w := natWorld()
	w.SnatEntries = append(w.SnatEntries, model.SnatEntry{ID: "snat-x2", NatGatewayID: "ngw-2", VpcID: "vpc-n", SourceCIDR: pfx("10.8.4.0/24"), SnatIPs: []netip.Addr{ip("47.1.0.4")}})
	runNATCases(t, w, []natCase{
		{name: "routed to ngw-1, covered by ngw-2 only", q: ReachQuery{From: "i-x1", To: "1.2.3.4", Protocol: "tcp", Port: 443}, verdict: "unreachable",
			deny: PointNatGateway, detail: []string{"no SNAT entry of ngw-1 covers 10.8.4.11", "SNAT entry snat-x2 of NAT gateway ngw-2 covers 10.8.4.11, but only for the destinations routed to ngw-2"}, gw: "ngw-1"},
		{name: "routed to ngw-2", q: ReachQuery{From: "i-x1", To: "8.8.8.8", Protocol: "tcp", Port: 443}, verdict: "reachable",
			gw: "ngw-2", entry: "snat-x2", translated: "tcp 47.1.0.4:49152 -> 8.8.8.8:443"},
	})
}

// TestNATHairpin: from inside a VPC to a NAT gateway's EIP, and from one
// of its EIPs to an EIP, is the EIP hairpin, which the data plane does
// not do: unreachable at the route, the receiver's filters never see it.
func TestNATHairpin(t *testing.T) {
	const hairpin = "EIP hairpin is not supported"
	pooled := natWorld()
	pooled.PublicCIDR = pfx("47.1.0.0/24")
	for _, w := range []*World{natWorld(), pooled} {
		a := New(w)
		for _, c := range []struct {
			q        ReachQuery
			contains []string
		}{
			{ReachQuery{From: "i-a1", To: "47.1.0.1", Protocol: "tcp", Port: 80},
				[]string{hairpin, "EIP 47.1.0.1 of NAT gateway ngw-1", "through NAT gateway ngw-1, translated to 47.1.0.1", "dropped by the host"}},
			{ReachQuery{From: "i-e1", To: "47.1.0.3", Protocol: "tcp", Port: 80},
				[]string{hairpin, "EIP 47.1.0.3 of NAT gateway ngw-1", "sender's EIP 47.1.0.13"}},
			{ReachQuery{From: "i-x1", To: "47.1.0.1", Protocol: "tcp", Port: 80},
				[]string{hairpin, "never leaves vpc-n", "no SNAT entry of ngw-1 covers 10.8.4.11"}},
			{ReachQuery{From: "i-p1", To: "47.1.0.1", Protocol: "tcp", Port: 80},
				[]string{hairpin, "never leaves vpc-p", "10.20.1.10 has none"}},
			{ReachQuery{From: "i-a1", To: "ngw-1", Protocol: "tcp", Port: 80}, []string{hairpin}},
			{ReachQuery{From: "47.1.0.2", To: "i-e1", Protocol: "tcp", Port: 8080},
				[]string{hairpin, "reaches EIP 47.1.0.13"}},
			{ReachQuery{From: "47.1.0.2", To: "47.1.0.1", Protocol: "tcp", Port: 80},
				[]string{hairpin, "reaches EIP 47.1.0.1 of NAT gateway ngw-1"}},
			{ReachQuery{From: "47.1.0.2", To: "i-a1", Protocol: "tcp", Port: 8080},
				[]string{hairpin, "reaches EIP 47.1.0.1 of NAT gateway ngw-1"}},
		} {
			r, err := a.Reach(c.q)
			if err != nil {
				t.Fatalf("%+v: %v", c.q, err)
			}
			var b strings.Builder
			WriteReach(&b, r)
			if r.Reachable {
				t.Errorf("%+v reachable:\n%s", c.q, b.String())
			}
			for _, p := range r.Paths {
				last := p.Steps[len(p.Steps)-1]
				if last.Point != PointRoute || last.Allow {
					t.Errorf("%+v: last step %+v, want the route denying", c.q, last)
				}
				for _, s := range c.contains {
					if !strings.Contains(last.Detail, s) {
						t.Errorf("%+v (pool %v): route detail %q lacks %q", c.q, w.PublicCIDR, last.Detail, s)
					}
				}
				for _, s := range p.Steps {
					if s.Point == PointACLIngress || s.Point == PointSGIngress || s.Point == PointNatGateway || s.Point == PointNatEntry {
						t.Errorf("%+v: step %s on a hairpin:\n%s", c.q, s.Point, b.String())
					}
				}
			}
		}
	}
	// With the EIP pool known, its own pool address as a source is the
	// pool's wording; a NAT gateway's EIP outside the pool says whose it is.
	r, _ := New(natWorld()).Reach(ReachQuery{From: "47.1.0.2", To: "i-e1", Protocol: "tcp", Port: 8080})
	if d := r.Paths[0].Steps[len(r.Paths[0].Steps)-1].Detail; !strings.Contains(d, "47.1.0.2 is an EIP of NAT gateway ngw-1") {
		t.Errorf("source NAT EIP: %q", d)
	}
}

// TestNATAudit: a forward entry whose internal ENI admits the forwarded
// port from every public address is reported (high for a sensitive port,
// low otherwise), an IP mapping for the sensitive ports it opens; entries
// that do not reach (closed groups, a network ACL that drops part of the
// internet, another zone, no ENI) are not. An address reached through a
// NAT gateway is not called unreachable from the internet.
func TestNATAudit(t *testing.T) {
	res, err := New(natWorld()).Audit(AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Finding{}
	for _, f := range res.Findings {
		if f.Code == CodeNatForwardOpen {
			got[f.Resource] = f
		}
	}
	want := map[string]struct {
		sev, rule string
		msg       []string
	}{
		"fwd-s22": {SeverityHigh, "sgr-web-ssh", []string{"tcp/22 (SSH)", "i-a1/eni-a1", "tcp 47.1.0.2:2222 -> 10.8.1.11:22", "not behind the Internet firewall"}},
		"fwd-m":   {SeverityHigh, "sgr-web-ssh", []string{"IP mapping fwd-m", "tcp/22 (SSH)", "i-m1/eni-m1"}},
		"fwd-a80": {SeverityLow, "sgr-web-8080", []string{"tcp/8080 of i-a1/eni-a1"}},
		"fwd-u53": {SeverityLow, "sgr-web-5353", []string{"udp/5353"}},
	}
	for id, w := range want {
		f, ok := got[id]
		if !ok {
			t.Errorf("no finding for %s: %+v", id, res.Findings)
			continue
		}
		if f.Severity != w.sev || f.Rule != w.rule {
			t.Errorf("%s: severity %s rule %s, want %s %s", id, f.Severity, f.Rule, w.sev, w.rule)
		}
		for _, m := range w.msg {
			if !strings.Contains(f.Message, m) {
				t.Errorf("%s: message %q lacks %q", id, f.Message, m)
			}
		}
	}
	if len(got) != len(want) {
		t.Errorf("findings for %d forward entries, want %d: %+v", len(got), len(want), got)
	}

	// Without i-e1's EIP, sg-web's ssh rule is no latent exposure: the
	// NAT gateway opens it (fwd-s22, fwd-m), and says so.
	w := natWorld()
	w.EIPs = slices.DeleteFunc(w.EIPs, func(e model.EIP) bool { return e.ID == "eip-e1" })
	res, _ = New(w).Audit(AuditQuery{})
	for _, f := range res.Findings {
		if strings.Contains(f.Message, "cannot reach it today") {
			t.Errorf("latent exposure of ports the NAT gateway opens: %+v", f)
		}
	}
	w.ForwardEntries = nil
	res, _ = New(w).Audit(AuditQuery{})
	if !slices.ContainsFunc(res.Findings, func(f Finding) bool { return strings.Contains(f.Message, "cannot reach it today") }) {
		t.Errorf("control: without forward entries, sg-web's ssh rule is a latent exposure: %+v", res.Findings)
	}
}

// TestNATRouteBetweenVPCs: a VPC whose route entries send everything to a
// NAT gateway still reaches another VPC only over a peering, and says
// where its route sends the address.
func TestNATRouteBetweenVPCs(t *testing.T) {
	w := natWorld()
	w.VPCs = append(w.VPCs, model.VPC{ID: "vpc-q", AccountID: "acct-1", CidrBlock: pfx("10.30.0.0/16")})
	w.VSwitches = append(w.VSwitches, model.VSwitch{ID: "vsw-q", VpcID: "vpc-q", ZoneID: "za", CidrBlock: pfx("10.30.1.0/24")})
	w.ENIs = append(w.ENIs, model.ENI{ID: "eni-q1", InstanceID: "i-q1", VpcID: "vpc-q", VSwitchID: "vsw-q", ZoneID: "za",
		PrimaryIP: ip("10.30.1.10"), SecurityGroupIDs: []string{"sg-p"}, Type: model.ENITypePrimary, Status: model.ENIInUse})
	w.Instances = append(w.Instances, model.Instance{ID: "i-q1", VpcID: "vpc-q", VSwitchID: "vsw-q", ZoneID: "za", PrimaryENIID: "eni-q1", Status: model.InstanceRunning})
	runNATCases(t, w, []natCase{
		{name: "the default route to the gateway is no way to another VPC", q: ReachQuery{From: "i-a1", To: "i-q1", Protocol: "tcp", Port: 8080}, verdict: "unreachable",
			deny: PointRoute, detail: []string{"rte-default (0.0.0.0/0) of vpc-n sends 10.30.1.10 to NAT gateway ngw-1", "not over a peering connection to vpc-q"}},
	})
}
