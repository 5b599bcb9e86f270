package agent_test

import (
	"net/netip"
	"testing"

	"github.com/ti-mo/conntrack"

	"github.com/palisade-project/palisade/internal/agent"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/policy"
)

// TestFlowVerdictACL: an established flow is cut when the ACLs deny its
// original direction or its reply direction (stateless), and kept when
// both pass; security groups are only asked about the original direction.
func TestFlowVerdictACL(t *testing.T) {
	a, b := netip.MustParseAddr("10.0.1.11"), netip.MustParseAddr("10.0.2.21")
	flow := func(src, dst netip.Addr, sport, dport uint16) conntrack.Flow {
		return conntrack.Flow{
			TupleOrig:  conntrack.Tuple{IP: conntrack.IPTuple{SourceAddress: src, DestinationAddress: dst}, Proto: conntrack.ProtoTuple{Protocol: 6, SourcePort: sport, DestinationPort: dport}},
			TupleReply: conntrack.Tuple{IP: conntrack.IPTuple{SourceAddress: dst, DestinationAddress: src}, Proto: conntrack.ProtoTuple{Protocol: 6, SourcePort: dport, DestinationPort: sport}},
		}
	}
	entry := func(id, proto, ports, cidr string) model.ACLEntry {
		e := model.ACLEntry{ID: id, Policy: model.PolicyAccept, Protocol: proto, Ports: model.PortRange{From: -1, To: -1}, Cidr: netip.MustParsePrefix(cidr)}
		if ports == "80" {
			e.Ports = model.PortRange{From: 80, To: 80}
		} else if ports == "eph" {
			e.Ports = model.PortRange{From: 1024, To: 65535}
		}
		return e
	}
	world := func(egress ...model.ACLEntry) policy.World {
		sg := model.SecurityGroup{ID: "sg-1", VpcID: "vpc-1", Type: model.GroupTypeBasic, InnerAccessPolicy: model.InnerDrop, Rules: []model.Rule{
			{ID: "r", Direction: model.Ingress, Protocol: "ALL", Policy: model.PolicyAccept, Priority: 1, Ports: model.PortRange{From: -1, To: -1}, PeerCidr: netip.MustParsePrefix("0.0.0.0/0")},
		}}
		return policy.NewWorld([]model.SecurityGroup{sg}, []model.ENI{
			{ID: "eni-a", VpcID: "vpc-1", VSwitchID: "vsw-a", PrimaryIP: a, SecurityGroupIDs: []string{"sg-1"}},
			{ID: "eni-b", VpcID: "vpc-1", VSwitchID: "vsw-b", PrimaryIP: b, SecurityGroupIDs: []string{"sg-1"}},
		}, []model.VSwitch{
			{ID: "vsw-a", VpcID: "vpc-1", CidrBlock: netip.MustParsePrefix("10.0.1.0/24")},
			{ID: "vsw-b", VpcID: "vpc-1", CidrBlock: netip.MustParsePrefix("10.0.2.0/24"), NetworkAclID: "nacl-b"},
		}, []model.NetworkACL{{ID: "nacl-b", VpcID: "vpc-1", Ingress: []model.ACLEntry{entry("in80", "tcp", "80", "10.0.1.0/24")}, Egress: egress}})
	}
	web := flow(a, b, 40000, 80)
	if agent.FlowVerdict(world(), "vpc-1", web) {
		t.Error("a -> b:80 kept although B's ACL has no outbound entry for the reply")
	}
	if !agent.FlowVerdict(world(entry("eph", "tcp", "eph", "10.0.1.0/24")), "vpc-1", web) {
		t.Error("a -> b:80 cut although both directions pass the ACL")
	}
	if agent.FlowVerdict(world(entry("eph", "tcp", "eph", "10.0.1.0/24")), "vpc-1", flow(a, b, 40000, 22)) {
		t.Error("a -> b:22 kept although B's ACL denies it inbound")
	}
	if !agent.FlowVerdict(world(), "vpc-1", flow(a, netip.MustParseAddr("10.0.1.1"), 40000, 22)) {
		t.Error("a flow to the gateway (not an ENI) must not be cut")
	}
	// The router's own connections to an ENI (a WAF's upstream): judged
	// by the receiver's ingress ACL and groups once the program has
	// stamped them (ct mark), left alone otherwise. From an address of
	// the receiver's own vSwitch (its gateway) no ACL applies, as in the
	// kernel, whose vSwitch chains return on the vSwitch's prefixes.
	other := flow(netip.MustParseAddr("10.0.1.253"), b, 40000, 22)
	if !agent.FlowVerdict(world(), "vpc-1", other) {
		t.Error("an unstamped router connection was judged")
	}
	other.Mark = 0x5eed
	if agent.FlowVerdict(world(), "vpc-1", other) {
		t.Error("the router's stamped connection from 10.0.1.253 to b:22 kept although B's ACL admits 80 only")
	}
	other80 := flow(netip.MustParseAddr("10.0.1.253"), b, 40000, 80)
	other80.Mark = 0x5eed
	if !agent.FlowVerdict(world(), "vpc-1", other80) {
		t.Error("the router's stamped connection from 10.0.1.253 to b:80 cut although B's ACL admits it")
	}
	own := flow(netip.MustParseAddr("10.0.2.253"), b, 40000, 22)
	own.Mark = 0x5eed
	if !agent.FlowVerdict(world(), "vpc-1", own) {
		t.Error("the router's stamped connection from b's own gateway cut by b's ACL, which does not apply inside the vSwitch")
	}
}

// TestFlowVerdictPeered: a flow the program stamped between an ENI of the
// VPC and an address beyond it (an ENI of a peered VPC) is judged by that
// ENI's groups, egress when it sends, ingress when it receives; unstamped,
// it is the namespace's own and left alone.
func TestFlowVerdictPeered(t *testing.T) {
	a, peer := netip.MustParseAddr("10.0.1.11"), netip.MustParseAddr("10.9.1.5")
	flow := func(src, dst netip.Addr, dport uint16) conntrack.Flow {
		return conntrack.Flow{
			TupleOrig:  conntrack.Tuple{IP: conntrack.IPTuple{SourceAddress: src, DestinationAddress: dst}, Proto: conntrack.ProtoTuple{Protocol: 6, SourcePort: 40000, DestinationPort: dport}},
			TupleReply: conntrack.Tuple{IP: conntrack.IPTuple{SourceAddress: dst, DestinationAddress: src}, Proto: conntrack.ProtoTuple{Protocol: 6, SourcePort: dport, DestinationPort: 40000}},
			Mark:       0x5eed,
		}
	}
	tcp := func(id, dir string, port int, policyName string) model.Rule {
		return model.Rule{ID: id, Direction: dir, Protocol: model.ProtoTCP, Policy: policyName, Priority: 1,
			Ports: model.PortRange{From: port, To: port}, PeerCidr: netip.MustParsePrefix("10.9.0.0/16")}
	}
	w := policy.NewWorld([]model.SecurityGroup{{ID: "sg-1", VpcID: "vpc-1", Type: model.GroupTypeBasic, InnerAccessPolicy: model.InnerDrop, Rules: []model.Rule{
		tcp("in80", model.Ingress, 80, model.PolicyAccept),
		tcp("out22", model.Egress, 22, model.PolicyDrop),
	}}}, []model.ENI{{ID: "eni-a", VpcID: "vpc-1", VSwitchID: "vsw-a", PrimaryIP: a, SecurityGroupIDs: []string{"sg-1"}}},
		[]model.VSwitch{{ID: "vsw-a", VpcID: "vpc-1", CidrBlock: netip.MustParsePrefix("10.0.1.0/24")}}, nil)
	for _, c := range []struct {
		name string
		f    conntrack.Flow
		keep bool
	}{
		{"peer -> a:80, admitted by a's ingress", flow(peer, a, 80), true},
		{"peer -> a:8080, not admitted", flow(peer, a, 8080), false},
		{"a -> peer:443, egress open by default", flow(a, peer, 443), true},
		{"a -> peer:22, dropped by a's egress", flow(a, peer, 22), false},
	} {
		if got := agent.FlowVerdict(w, "vpc-1", c.f); got != c.keep {
			t.Errorf("%s: kept %v, want %v", c.name, got, c.keep)
		}
		unstamped := c.f
		unstamped.Mark = 0
		if !agent.FlowVerdict(w, "vpc-1", unstamped) {
			t.Errorf("%s, unstamped: cut, want left alone", c.name)
		}
	}
}

// TestFlowVerdictLoadBalanced: a client's flow to an internal load
// balancer, translated to a backend, is judged as the packet the VPC
// forwarded: to the backend's address and port, by the client's egress
// and the backend's ingress rules.
func TestFlowVerdictLoadBalanced(t *testing.T) {
	cli, be, vip := netip.MustParseAddr("10.0.1.11"), netip.MustParseAddr("10.0.2.21"), netip.MustParseAddr("10.0.1.100")
	flow := conntrack.Flow{
		Status:     conntrack.StatusDstNAT,
		TupleOrig:  conntrack.Tuple{IP: conntrack.IPTuple{SourceAddress: cli, DestinationAddress: vip}, Proto: conntrack.ProtoTuple{Protocol: 6, SourcePort: 40000, DestinationPort: 80}},
		TupleReply: conntrack.Tuple{IP: conntrack.IPTuple{SourceAddress: be, DestinationAddress: cli}, Proto: conntrack.ProtoTuple{Protocol: 6, SourcePort: 8080, DestinationPort: 40000}},
	}
	world := func(port int, egressDrop bool) policy.World {
		rules := []model.Rule{{ID: "in", Direction: model.Ingress, Protocol: "TCP", Policy: model.PolicyAccept, Priority: 1,
			Ports: model.PortRange{From: port, To: port}, PeerCidr: netip.MustParsePrefix("10.0.0.0/8")}}
		if egressDrop {
			rules = append(rules, model.Rule{ID: "out", Direction: model.Egress, Protocol: "TCP", Policy: model.PolicyDrop, Priority: 1,
				Ports: model.PortRange{From: 8080, To: 8080}, PeerCidr: netip.MustParsePrefix("10.0.2.0/24")})
		}
		sg := model.SecurityGroup{ID: "sg-1", VpcID: "vpc-1", Type: model.GroupTypeBasic, InnerAccessPolicy: model.InnerDrop, Rules: rules}
		return policy.NewWorld([]model.SecurityGroup{sg}, []model.ENI{
			{ID: "eni-cli", VpcID: "vpc-1", VSwitchID: "vsw-a", PrimaryIP: cli, SecurityGroupIDs: []string{"sg-1"}},
			{ID: "eni-be", VpcID: "vpc-1", VSwitchID: "vsw-b", PrimaryIP: be, SecurityGroupIDs: []string{"sg-1"}},
		}, []model.VSwitch{
			{ID: "vsw-a", VpcID: "vpc-1", CidrBlock: netip.MustParsePrefix("10.0.1.0/24")},
			{ID: "vsw-b", VpcID: "vpc-1", CidrBlock: netip.MustParsePrefix("10.0.2.0/24")},
		}, nil)
	}
	if !agent.FlowVerdict(world(8080, false), "vpc-1", flow) {
		t.Error("cut although the backend admits its port 8080")
	}
	if agent.FlowVerdict(world(80, false), "vpc-1", flow) {
		t.Error("kept although the backend admits the listener's port 80 only, not its own 8080")
	}
	if agent.FlowVerdict(world(8080, true), "vpc-1", flow) {
		t.Error("kept although the client's egress drops the backend's address and port")
	}
}
