package analysis

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/palisade-project/palisade/internal/model"
)

// peerWorld: vpc-a (10.0.0.0/16) peered with vpc-b (10.1.0.0/16) by
// pcc-ab and with vpc-c (10.1.0.0/16 too, overlapping vpc-b) by pcc-ac,
// both Activated, with route entries both ways over pcc-ab only. i-b and
// i-c both have 10.1.1.10; vpc-c is listed first, so only the route can
// tell which one an address means.
func peerWorld() *World {
	w := &World{}
	w.VPCs = []model.VPC{
		{ID: "vpc-c", CidrBlock: pfx("10.1.0.0/16")},
		{ID: "vpc-a", CidrBlock: pfx("10.0.0.0/16")},
		{ID: "vpc-b", CidrBlock: pfx("10.1.0.0/16")},
	}
	w.VSwitches = []model.VSwitch{
		{ID: "vsw-c", VpcID: "vpc-c", CidrBlock: pfx("10.1.1.0/24")},
		{ID: "vsw-a", VpcID: "vpc-a", CidrBlock: pfx("10.0.1.0/24")},
		{ID: "vsw-b", VpcID: "vpc-b", CidrBlock: pfx("10.1.1.0/24")},
	}
	w.Groups = []model.SecurityGroup{
		{ID: "sg-a", VpcID: "vpc-a", Type: model.GroupTypeBasic, InnerAccessPolicy: model.InnerDrop,
			Rules: []model.Rule{tcp("sgr-a80", model.Ingress, 80, "10.1.0.0/16", model.PolicyAccept, 1)}},
		{ID: "sg-b", VpcID: "vpc-b", Type: model.GroupTypeBasic, InnerAccessPolicy: model.InnerAccept,
			Rules: []model.Rule{
				tcp("sgr-b80", model.Ingress, 80, "10.0.0.0/16", model.PolicyAccept, 1),
				tcp("sgr-b8080", model.Ingress, 8080, "sg-b", model.PolicyAccept, 1),
				{ID: "sgr-budp", Direction: model.Ingress, Protocol: model.ProtoUDP, Ports: model.PortRange{From: 53, To: 53}, PeerCidr: pfx("0.0.0.0/0"), Policy: model.PolicyAccept, Priority: 1},
			}},
		{ID: "sg-c", VpcID: "vpc-c", Type: model.GroupTypeBasic, InnerAccessPolicy: model.InnerDrop,
			Rules: []model.Rule{tcp("sgr-c80", model.Ingress, 80, "10.0.0.0/8", model.PolicyAccept, 1)}},
	}
	for _, x := range []struct{ v, addr, sg string }{{"a", "10.0.1.10", "sg-a"}, {"b", "10.1.1.10", "sg-b"}, {"c", "10.1.1.10", "sg-c"}} {
		sgs := []string{x.sg}
		w.ENIs = append(w.ENIs, model.ENI{ID: "eni-" + x.v, InstanceID: "i-" + x.v, VSwitchID: "vsw-" + x.v, VpcID: "vpc-" + x.v,
			PrimaryIP: ip(x.addr), SecurityGroupIDs: sgs, Type: model.ENITypePrimary, Status: model.ENIInUse})
		w.Instances = append(w.Instances, model.Instance{ID: "i-" + x.v, VpcID: "vpc-" + x.v, VSwitchID: "vsw-" + x.v,
			PrimaryENIID: "eni-" + x.v, Status: model.InstanceRunning})
	}
	w.Peerings = []model.PeerConnection{
		{ID: "pcc-ab", VpcID: "vpc-a", AcceptingVpcID: "vpc-b", Status: model.PeerActivated},
		{ID: "pcc-ac", VpcID: "vpc-a", AcceptingVpcID: "vpc-c", Status: model.PeerActivated},
	}
	w.RouteEntries = []model.RouteEntry{
		{ID: "rte-a1", VpcID: "vpc-a", DestinationCidr: pfx("10.1.0.0/16"), NextHopType: model.RouteNextHopPeer, NextHopID: "pcc-ab"},
		{ID: "rte-b1", VpcID: "vpc-b", DestinationCidr: pfx("10.0.0.0/16"), NextHopType: model.RouteNextHopPeer, NextHopID: "pcc-ab"},
	}
	return w
}

func stepAt(ss []Step, point string) (Step, bool) {
	for _, s := range ss {
		if s.Point == point {
			return s, true
		}
	}
	return Step{}, false
}

func vfwPolicy(id string, order int, action, src, srcType, proto, port string) model.FirewallPolicy {
	return model.FirewallPolicy{ID: id, VpcFirewallID: "vfw-ab", Order: order, Action: action, Source: src, SourceType: srcType,
		Destination: "0.0.0.0/0", DestinationType: model.FirewallNet, Proto: proto, DestPort: port, DestPortType: model.FirewallPort, Enabled: true}
}

func TestPeeringReach(t *testing.T) {
	withFW := func(enabled bool, ps ...model.FirewallPolicy) func(*World) {
		return func(w *World) {
			w.VpcFirewalls = []model.VpcFirewall{{ID: "vfw-ab", LocalVpcID: "vpc-a", PeerVpcID: "vpc-b", PeerConnectionID: "pcc-ab", Enabled: enabled}}
			w.VpcFirewallPolicies = ps
		}
	}
	acl := func(in, out []model.ACLEntry) func(*World) {
		return func(w *World) {
			w.ACLs = []model.NetworkACL{{ID: "nacl-b", VpcID: "vpc-b", Ingress: in, Egress: out}}
			w.VSwitches[2].NetworkAclID = "nacl-b"
		}
	}
	open := []model.ACLEntry{aclEntry("nae-all", model.PolicyAccept, "all", 0, "0.0.0.0/0")}
	// dual gives vpc-a and vpc-b IPv6 (vSwitches, ENIs, vpc-b's group
	// opens port 80 to vpc-a's IPv6 block) and IPv6 route entries: over
	// pcc-ab from vpc-a, and back from vpc-b when back is set.
	dual := func(back bool) func(*World) {
		return func(w *World) {
			for i, v6 := range map[int]string{1: "fd00:a::/56", 2: "fd00:b::/56"} {
				w.VPCs[i].Ipv6CidrBlock = pfx(v6)
			}
			w.VSwitches[1].Ipv6CidrBlock, w.VSwitches[2].Ipv6CidrBlock = pfx("fd00:a:0:1::/64"), pfx("fd00:b:0:1::/64")
			w.ENIs[0].IPv6s, w.ENIs[1].IPv6s = []netip.Addr{ip("fd00:a:0:1::10")}, []netip.Addr{ip("fd00:b:0:1::10")}
			w.Groups[1].Rules = append(w.Groups[1].Rules, tcp("sgr-b80v6", model.Ingress, 80, "fd00:a::/56", model.PolicyAccept, 1))
			w.RouteEntries = append(w.RouteEntries, model.RouteEntry{ID: "rte-a6", VpcID: "vpc-a", DestinationCidr: pfx("fd00:b::/56"), NextHopType: model.RouteNextHopPeer, NextHopID: "pcc-ab"})
			if back {
				w.RouteEntries = append(w.RouteEntries, model.RouteEntry{ID: "rte-b6", VpcID: "vpc-b", DestinationCidr: pfx("fd00:a:0:1::/64"), NextHopType: model.RouteNextHopPeer, NextHopID: "pcc-ab"})
			}
		}
	}
	cases := []struct {
		name   string
		change func(*World)
		q      ReachQuery
		reach  bool
		fwd    bool
		point  string // the step (forward, or reply when reply is set) that must say detail
		reply  bool
		allow  bool
		detail string
		rule   string // RuleID of that step
		to     string // the destination ENI
		paths  int    // the number of paths, when not 0
	}{
		{name: "both ways: reachable, route names the entry and the peering",
			q: ReachQuery{From: "i-a", To: "i-b", Protocol: "tcp", Port: 80}, reach: true, fwd: true,
			point: PointRoute, allow: true, detail: "route entry rte-a1 (10.1.0.0/16) of vpc-a sends 10.1.1.10 over peering connection pcc-ab (Activated) to vpc-b, whose system route delivers it to vSwitch vsw-b", to: "eni-b"},
		{name: "both ways: the reply's route step",
			q: ReachQuery{From: "i-a", To: "i-b", Protocol: "tcp", Port: 80}, reach: true, fwd: true,
			point: PointRoute, reply: true, allow: true, detail: "reply: route entry rte-b1 (10.0.0.0/16) of vpc-b sends 10.0.1.10 back over peering connection pcc-ab"},
		{name: "no route entry in vpc-a",
			change: func(w *World) { w.RouteEntries = w.RouteEntries[1:] },
			q:      ReachQuery{From: "i-a", To: "i-b", Protocol: "tcp", Port: 80},
			point:  PointRoute, detail: "no route to 10.1.1.10 in vpc-a"},
		{name: "peering Accepting carries nothing",
			change: func(w *World) { w.Peerings[0].Status = model.PeerAccepting },
			q:      ReachQuery{From: "i-a", To: "i-b", Protocol: "tcp", Port: 80},
			point:  PointRoute, detail: "over peering connection pcc-ab, which is Accepting"},
		{name: "peering Rejected carries nothing",
			change: func(w *World) { w.Peerings[0].Status = model.PeerRejected },
			q:      ReachQuery{From: "i-a", To: "i-b", Protocol: "tcp", Port: 80},
			point:  PointRoute, detail: "pcc-ab, which is Rejected"},
		{name: "one way: TCP unreachable, the reply has no route",
			change: func(w *World) { w.RouteEntries = w.RouteEntries[:1] },
			q:      ReachQuery{From: "i-a", To: "i-b", Protocol: "tcp", Port: 80}, fwd: true,
			point: PointRoute, reply: true, detail: "reply: no route to 10.0.1.10 in vpc-b"},
		{name: "one way: UDP delivered, no reply (as a reply blocked by an ACL)",
			change: func(w *World) { w.RouteEntries = w.RouteEntries[:1] },
			q:      ReachQuery{From: "i-a", To: "i-b", Protocol: "udp", Port: 53}, fwd: true,
			point: PointRoute, reply: true, detail: "reply: no route to 10.0.1.10 in vpc-b"},
		{name: "reply routed over another peering",
			change: func(w *World) {
				w.Peerings = append(w.Peerings, model.PeerConnection{ID: "pcc-bx", VpcID: "vpc-b", AcceptingVpcID: "vpc-x", Status: model.PeerActivated})
				w.RouteEntries = append(w.RouteEntries, model.RouteEntry{ID: "rte-b2", VpcID: "vpc-b", DestinationCidr: pfx("10.0.1.0/24"), NextHopID: "pcc-bx"})
			},
			q: ReachQuery{From: "i-a", To: "i-b", Protocol: "tcp", Port: 80}, fwd: true,
			point: PointRoute, reply: true, detail: "route entry rte-b2 (10.0.1.0/24) of vpc-b sends 10.0.1.10 to peering connection pcc-bx, not back over pcc-ab"},
		{name: "overlapping VPCs: the route picks vpc-b's 10.1.1.10",
			q: ReachQuery{From: "i-a", To: "10.1.1.10", Protocol: "tcp", Port: 80}, reach: true, fwd: true,
			point: PointRoute, allow: true, detail: "over peering connection pcc-ab (Activated) to vpc-b", to: "eni-b"},
		{name: "a CIDR in the peer: the ENIs where the route sends it",
			q: ReachQuery{From: "i-a", To: "10.1.1.0/24", Protocol: "tcp", Port: 80}, reach: true, fwd: true,
			point: PointRoute, allow: true, detail: "over peering connection pcc-ab (Activated) to vpc-b", to: "eni-b", paths: 1},
		{name: "longest prefix: a /24 over pcc-ac wins, the address is vpc-c's",
			change: func(w *World) {
				w.RouteEntries = append(w.RouteEntries,
					model.RouteEntry{ID: "rte-a2", VpcID: "vpc-a", DestinationCidr: pfx("10.1.1.0/24"), NextHopID: "pcc-ac"},
					model.RouteEntry{ID: "rte-c1", VpcID: "vpc-c", DestinationCidr: pfx("10.0.0.0/16"), NextHopID: "pcc-ac"})
			},
			q: ReachQuery{From: "i-a", To: "10.1.1.10", Protocol: "tcp", Port: 80}, reach: true, fwd: true,
			point: PointRoute, allow: true, detail: "route entry rte-a2 (10.1.1.0/24) of vpc-a sends 10.1.1.10 over peering connection pcc-ac (Activated) to vpc-c", to: "eni-c"},
		{name: "longest prefix: i-b named, but its address goes to vpc-c",
			change: func(w *World) {
				w.RouteEntries = append(w.RouteEntries, model.RouteEntry{ID: "rte-a2", VpcID: "vpc-a", DestinationCidr: pfx("10.1.1.0/24"), NextHopID: "pcc-ac"})
			},
			q:     ReachQuery{From: "i-a", To: "i-b", Protocol: "tcp", Port: 80},
			point: PointRoute, detail: "sends 10.1.1.10 over peering connection pcc-ac to vpc-c, not to vpc-b"},
		{name: "security group of the destination decides across VPCs",
			q:     ReachQuery{From: "i-a", To: "i-b", Protocol: "tcp", Port: 22},
			point: PointSGIngress, fwd: false, detail: "no ingress rule matched"},
		{name: "a group reference does not match a source in another VPC",
			q:     ReachQuery{From: "i-a", To: "i-b", Protocol: "tcp", Port: 8080},
			point: PointSGIngress, detail: "no ingress rule matched"},
		{name: "intra-group accept does not reach across VPCs",
			q:     ReachQuery{From: "i-a", To: "i-b", Protocol: "tcp", Port: 9000},
			point: PointSGIngress, detail: "no ingress rule matched"},
		{name: "the other direction: vpc-a's group admits vpc-b",
			q: ReachQuery{From: "i-b", To: "i-a", Protocol: "tcp", Port: 80}, reach: true, fwd: true,
			point: PointSGIngress, allow: true, detail: "ingress rule sgr-a80", rule: "sgr-a80"},
		{name: "network ACL of the destination vSwitch on the way in",
			change: acl([]model.ACLEntry{aclEntry("nae-no", model.PolicyDrop, "tcp", 80, "10.0.0.0/16")}, open),
			q:      ReachQuery{From: "i-a", To: "i-b", Protocol: "tcp", Port: 80},
			point:  PointACLIngress, detail: "ingress entry 1 nae-no of nacl-b (drop tcp port 80 10.0.0.0/16)", rule: "nae-no"},
		{name: "network ACL of the destination vSwitch on the reply",
			change: acl(open, nil),
			q:      ReachQuery{From: "i-a", To: "i-b", Protocol: "tcp", Port: 80}, fwd: true,
			point: PointACLEgress, reply: true, detail: "no egress entry of nacl-b matched"},
		{name: "VPC firewall: a drop policy by port decides",
			change: withFW(true, vfwPolicy("acl-drop80", 1, model.FirewallDrop, "0.0.0.0/0", model.FirewallNet, "TCP", "80/80")),
			q:      ReachQuery{From: "i-a", To: "i-b", Protocol: "tcp", Port: 80},
			point:  PointVpcFirewall, detail: "policy acl-drop80 (order 1) of VPC firewall vfw-ab on pcc-ab: drop", rule: "acl-drop80"},
		{name: "VPC firewall: the same drop for another port matches nothing",
			change: withFW(true, vfwPolicy("acl-drop80", 1, model.FirewallDrop, "0.0.0.0/0", model.FirewallNet, "TCP", "443/443")),
			q:      ReachQuery{From: "i-a", To: "i-b", Protocol: "tcp", Port: 80}, reach: true, fwd: true,
			point: PointVpcFirewall, allow: true, detail: "no policy of VPC firewall vfw-ab on pcc-ab matches: allowed"},
		{name: "VPC firewall: order matters (accept first)",
			change: withFW(true,
				vfwPolicy("acl-drop", 2, model.FirewallDrop, "0.0.0.0/0", model.FirewallNet, "ANY", ""),
				vfwPolicy("acl-ok", 1, model.FirewallAccept, "10.0.1.10/32", model.FirewallNet, "TCP", "80/80")),
			q: ReachQuery{From: "i-a", To: "i-b", Protocol: "tcp", Port: 80}, reach: true, fwd: true,
			point: PointVpcFirewall, allow: true, detail: "policy acl-ok (order 1)", rule: "acl-ok"},
		{name: "VPC firewall: order matters (drop first)",
			change: withFW(true,
				vfwPolicy("acl-drop", 1, model.FirewallDrop, "0.0.0.0/0", model.FirewallNet, "ANY", ""),
				vfwPolicy("acl-ok", 2, model.FirewallAccept, "10.0.1.10/32", model.FirewallNet, "TCP", "80/80")),
			q:     ReachQuery{From: "i-a", To: "i-b", Protocol: "tcp", Port: 80},
			point: PointVpcFirewall, detail: "policy acl-drop (order 1)", rule: "acl-drop"},
		{name: "VPC firewall: log allows",
			change: withFW(true,
				vfwPolicy("acl-log", 1, model.FirewallLog, "0.0.0.0/0", model.FirewallNet, "TCP", "80/80"),
				vfwPolicy("acl-drop", 2, model.FirewallDrop, "0.0.0.0/0", model.FirewallNet, "ANY", "")),
			q: ReachQuery{From: "i-a", To: "i-b", Protocol: "tcp", Port: 80}, reach: true, fwd: true,
			point: PointVpcFirewall, allow: true, detail: "policy acl-log (order 1) of VPC firewall vfw-ab on pcc-ab: log", rule: "acl-log"},
		{name: "VPC firewall: closed, its drop is ignored",
			change: withFW(false, vfwPolicy("acl-drop", 1, model.FirewallDrop, "0.0.0.0/0", model.FirewallNet, "ANY", "")),
			q:      ReachQuery{From: "i-a", To: "i-b", Protocol: "tcp", Port: 80}, reach: true, fwd: true,
			point: PointVpcFirewall, allow: true, detail: "VPC firewall vfw-ab on pcc-ab is off (closed): it judges nothing"},
		{name: "VPC firewall: address-book source",
			change: func(w *World) {
				withFW(true, vfwPolicy("acl-book", 1, model.FirewallDrop, "a-hosts", model.FirewallGroup, "ANY", ""))(w)
				w.AddressBooks = []model.AddressBook{{ID: "book-1", Name: "a-hosts", Type: model.AddressBookIP, Addresses: []string{"10.0.1.0/24"}}}
			},
			q:     ReachQuery{From: "i-a", To: "i-b", Protocol: "tcp", Port: 80},
			point: PointVpcFirewall, detail: "policy acl-book (order 1)", rule: "acl-book"},
		{name: "VPC firewall: judges the other direction too",
			change: withFW(true, vfwPolicy("acl-fromb", 1, model.FirewallDrop, "10.1.0.0/16", model.FirewallNet, "TCP", "80/80")),
			q:      ReachQuery{From: "i-b", To: "i-a", Protocol: "tcp", Port: 80},
			point:  PointVpcFirewall, detail: "policy acl-fromb", rule: "acl-fromb"},
		{name: "IPv6 both ways: reachable over the IPv6 route entry",
			change: dual(true),
			q:      ReachQuery{From: "i-a", To: "fd00:b:0:1::10", Protocol: "tcp", Port: 80}, reach: true, fwd: true,
			point: PointRoute, allow: true, detail: "route entry rte-a6 (fd00:b::/56) of vpc-a sends fd00:b:0:1::10 over peering connection pcc-ab (Activated) to vpc-b", to: "eni-b"},
		{name: "IPv6 both ways: the reply's route step",
			change: dual(true),
			q:      ReachQuery{From: "i-a", To: "fd00:b:0:1::10", Protocol: "tcp", Port: 80}, reach: true, fwd: true,
			point: PointRoute, reply: true, allow: true, detail: "reply: route entry rte-b6 (fd00:a:0:1::/64) of vpc-b sends fd00:a:0:1::10 back over peering connection pcc-ab"},
		{name: "IPv6 one way: the IPv4 route back does not carry IPv6",
			change: dual(false),
			q:      ReachQuery{From: "i-a", To: "fd00:b:0:1::10", Protocol: "tcp", Port: 80}, fwd: true,
			point: PointRoute, reply: true, detail: "reply: no route to fd00:a:0:1::10 in vpc-b"},
		{name: "IPv6 without an IPv6 route entry: the IPv4 ones do not carry it",
			change: func(w *World) {
				dual(true)(w)
				w.RouteEntries = slices.DeleteFunc(w.RouteEntries, func(e model.RouteEntry) bool { return e.ID == "rte-a6" })
			},
			q:     ReachQuery{From: "i-a", To: "fd00:b:0:1::10", Protocol: "tcp", Port: 80},
			point: PointRoute, detail: "no route to fd00:b:0:1::10 in vpc-a"},
		{name: "IPv6: the destination's group decides by IPv6 rules",
			change: dual(true),
			q:      ReachQuery{From: "i-a", To: "fd00:b:0:1::10", Protocol: "tcp", Port: 22},
			point:  PointSGIngress, detail: "no ingress rule matched"},
		{name: "IPv6: the VPC firewall's IPv4 policies match nothing",
			change: func(w *World) {
				dual(true)(w)
				withFW(true, vfwPolicy("acl-drop", 1, model.FirewallDrop, "0.0.0.0/0", model.FirewallNet, "ANY", ""))(w)
			},
			q: ReachQuery{From: "i-a", To: "fd00:b:0:1::10", Protocol: "tcp", Port: 80}, reach: true, fwd: true,
			point: PointVpcFirewall, allow: true, detail: "its policies name IPv4 addresses only, so IPv6 meets none; allowed"},
		{name: "IPv6: the same policy still drops IPv4",
			change: func(w *World) {
				dual(true)(w)
				withFW(true, vfwPolicy("acl-drop", 1, model.FirewallDrop, "0.0.0.0/0", model.FirewallNet, "ANY", ""))(w)
			},
			q:     ReachQuery{From: "i-a", To: "10.1.1.10", Protocol: "tcp", Port: 80},
			point: PointVpcFirewall, detail: "policy acl-drop (order 1)", rule: "acl-drop"},
		{name: "VPC firewall: not consulted when the peering is not routed",
			change: func(w *World) {
				withFW(true)(w)
				w.RouteEntries = w.RouteEntries[1:]
			},
			q:     ReachQuery{From: "i-a", To: "i-b", Protocol: "tcp", Port: 80},
			point: PointRoute, detail: "no route to 10.1.1.10 in vpc-a"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := peerWorld()
			if c.change != nil {
				c.change(w)
			}
			r, err := New(w).Reach(c.q)
			if err != nil {
				t.Fatal(err)
			}
			p := r.Paths[0]
			trace := stepLines(p.Steps) + "reply:\n" + stepLines(p.Reply)
			if r.Reachable != c.reach || p.Forward != c.fwd {
				t.Errorf("reachable %v forward %v, want %v %v\n%s", r.Reachable, p.Forward, c.reach, c.fwd, trace)
			}
			if c.paths != 0 && len(r.Paths) != c.paths {
				t.Errorf("%d paths, want %d", len(r.Paths), c.paths)
			}
			if c.to != "" && p.To.ENI != c.to {
				t.Errorf("destination %s, want %s", p.To.ENI, c.to)
			}
			steps := p.Steps
			if c.reply {
				steps = p.Reply
			}
			s, ok := stepAt(steps, c.point)
			if !ok || s.Allow != c.allow || !strings.Contains(s.Detail, c.detail) || s.RuleID != c.rule {
				t.Errorf("step %s: allow %v rule %q %q; want allow %v rule %q containing %q\n%s", c.point, s.Allow, s.RuleID, s.Detail, c.allow, c.rule, c.detail, trace)
			}
		})
	}
}

// TestPeeringStepOrder: the VPC firewall is judged where the packet enters
// the destination VPC: after the route, before its ACL and groups; the
// reply names the route back.
func TestPeeringStepOrder(t *testing.T) {
	w := peerWorld()
	w.VpcFirewalls = []model.VpcFirewall{{ID: "vfw-ab", PeerConnectionID: "pcc-ab", Enabled: true}}
	r, err := New(w).Reach(ReachQuery{From: "i-a", To: "i-b", Protocol: "tcp", Port: 80})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range r.Paths[0].Steps {
		got = append(got, s.Point)
	}
	want := "sg-egress acl-egress route vpc-firewall acl-ingress sg-ingress"
	if strings.Join(got, " ") != want {
		t.Errorf("steps %v, want %s", got, want)
	}
	if rp := r.Paths[0].Reply; len(rp) < 2 || rp[0].Point != "reply" || !strings.Contains(rp[0].Detail, "the route back over pcc-ab decides") || rp[1].Point != PointRoute {
		t.Errorf("reply steps:\n%s", stepLines(rp))
	}
}

// TestPeeringOtherAccount: the far end of a peering that is another
// account's VPC is an address the answer does not look behind (as the
// provider side of PrivateLink), and another account's VPC firewall
// decides without its policies being named.
func TestPeeringOtherAccount(t *testing.T) {
	mk := func() *World {
		w := peerWorld()
		w.AccountID = "acct-a"
		w.VPCs = []model.VPC{w.VPCs[1]}
		w.VSwitches = []model.VSwitch{w.VSwitches[1]}
		w.Groups = w.Groups[:1]
		w.ENIs, w.Instances = w.ENIs[:1], w.Instances[:1]
		w.Peerings = w.Peerings[:1]
		w.RouteEntries[0].AccountID, w.RouteEntries[1].AccountID = "acct-a", "acct-b"
		return w
	}
	w := mk()
	r, err := New(w).Reach(ReachQuery{From: "i-a", To: "10.1.1.10", Protocol: "tcp", Port: 80})
	if err != nil {
		t.Fatal(err)
	}
	p := r.Paths[0]
	last := p.Steps[len(p.Steps)-1]
	if !r.Reachable || p.To.VPC != "vpc-b" || last.Point != PointDestination || !strings.Contains(last.Detail, "another account's VPC") {
		t.Errorf("reachable %v to %+v\n%s", r.Reachable, p.To, stepLines(p.Steps))
	}
	if s, _ := stepAt(p.Reply, PointRoute); !s.Allow || strings.Contains(s.Detail, "rte-b1") {
		t.Errorf("reply route of another account's entry: %+v", s)
	}

	w = mk()
	w.VpcFirewalls = []model.VpcFirewall{{ID: "vfw-ab", AccountID: "acct-b", PeerConnectionID: "pcc-ab", Enabled: true}}
	pol := vfwPolicy("acl-b", 1, model.FirewallDrop, "0.0.0.0/0", model.FirewallNet, "ANY", "")
	pol.AccountID = "acct-b"
	w.VpcFirewallPolicies = []model.FirewallPolicy{pol}
	r, err = New(w).Reach(ReachQuery{From: "i-a", To: "10.1.1.10", Protocol: "tcp", Port: 80})
	if err != nil {
		t.Fatal(err)
	}
	s, ok := stepAt(r.Paths[0].Steps, PointVpcFirewall)
	if r.Reachable || !ok || s.Allow || s.RuleID != "" || strings.Contains(s.Detail, "acl-b") || strings.Contains(s.Detail, "vfw-ab") {
		t.Errorf("another account's VPC firewall: reachable %v step %+v", r.Reachable, s)
	}

	// From the other account's VPC into ours: the source is an address.
	w = mk()
	r, err = New(w).Reach(ReachQuery{From: "10.1.1.10", To: "i-a", Protocol: "tcp", Port: 80})
	if err != nil {
		t.Fatal(err)
	}
	if p := r.Paths[0]; !r.Reachable || p.From.VPC != "vpc-b" {
		t.Errorf("from another account's VPC: reachable %v from %+v\n%s", r.Reachable, p.From, stepLines(p.Steps))
	}
}

// TestAuditVpcFirewallClosed: the account's VPC firewall that is off on an
// Activated peering is reported; an open one, one on a peering that is
// not Activated, and another account's are not.
func TestAuditVpcFirewallClosed(t *testing.T) {
	for _, c := range []struct {
		name     string
		enabled  bool
		status   string
		account  string
		reported bool
	}{
		{"closed", false, model.PeerActivated, "", true},
		{"open", true, model.PeerActivated, "", false},
		{"closed on an Accepting peering", false, model.PeerAccepting, "", false},
		{"closed, another account's", false, model.PeerActivated, "acct-b", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := peerWorld()
			w.AccountID = "acct-a"
			if c.account == "" {
				c.account = w.AccountID
			}
			w.Peerings[0].Status = c.status
			w.VpcFirewalls = []model.VpcFirewall{{ID: "vfw-ab", AccountID: c.account, PeerConnectionID: "pcc-ab", Enabled: c.enabled}}
			res, err := New(w).Audit(AuditQuery{VpcID: "vpc-a"})
			if err != nil {
				t.Fatal(err)
			}
			got := false
			for _, f := range res.Findings {
				if f.Code == CodeVpcFirewallClosed && f.Resource == "vfw-ab" && strings.Contains(f.Message, "pcc-ab") {
					got = true
				}
			}
			if got != c.reported {
				t.Errorf("reported %v, want %v: %+v", got, c.reported, res.Findings)
			}
		})
	}
}
