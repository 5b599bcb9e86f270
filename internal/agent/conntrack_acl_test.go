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
