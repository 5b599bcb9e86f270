package service

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/palisade-project/palisade/internal/analysis"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/store/memory"
)

// TestAnalysisWorldNatFirewall: the analysis of account 1 reads the NAT
// firewall policies of its own NAT gateways (not another account's, nor
// those naming a gateway it does not have), and a policy that drops an
// instance's outbound connection through the gateway makes it
// unreachable at the NAT firewall, naming the policy; its address book
// is the account's.
func TestAnalysisWorldNatFirewall(t *testing.T) {
	s := New(memory.New(), Config{})
	pfx := netip.MustParsePrefix
	addr := netip.MustParseAddr
	policy := func(id, account, gw string, order int, dst, port string) model.FirewallPolicy {
		return model.FirewallPolicy{ID: id, AccountID: account, NatGatewayID: gw, Direction: model.FirewallOut, Order: order, Action: model.FirewallDrop,
			Source: "hosts", SourceType: model.FirewallGroup, Destination: dst, DestinationType: model.FirewallNet,
			Proto: model.FirewallProtoTCP, DestPort: port, DestPortType: model.FirewallPort, Enabled: true}
	}
	recs := map[string]any{
		model.PrefixAccount + "1":          model.Account{ID: "1"},
		model.PrefixAccount + "2":          model.Account{ID: "2"},
		model.PrefixVPC + "vpc-a":          model.VPC{ID: "vpc-a", AccountID: "1", CidrBlock: pfx("10.0.0.0/16")},
		model.PrefixVSwitch + "vsw-a":      model.VSwitch{ID: "vsw-a", AccountID: "1", VpcID: "vpc-a", ZoneID: "za", CidrBlock: pfx("10.0.1.0/24")},
		model.PrefixSecurityGroup + "sg-a": model.SecurityGroup{ID: "sg-a", AccountID: "1", VpcID: "vpc-a", Type: model.GroupTypeBasic},
		model.PrefixInstance + "i-a": model.Instance{ID: "i-a", AccountID: "1", VpcID: "vpc-a", VSwitchID: "vsw-a", ZoneID: "za",
			PrimaryENIID: "eni-a", Status: model.InstanceRunning},
		model.PrefixENI + "eni-a": model.ENI{ID: "eni-a", AccountID: "1", VpcID: "vpc-a", VSwitchID: "vsw-a", ZoneID: "za", InstanceID: "i-a",
			Type: model.ENITypePrimary, PrimaryIP: addr("10.0.1.10"), SecurityGroupIDs: []string{"sg-a"}, Status: model.ENIInUse},
		model.PrefixNatGateway + "ngw-a": model.NatGateway{ID: "ngw-a", AccountID: "1", VpcID: "vpc-a", VSwitchID: "vsw-a", ZoneID: "za",
			NatType: "Enhanced", NetworkType: "internet", Status: model.NatGatewayAvailable, SnatTableID: "stb-a", ForwardTableID: "ftb-a"},
		model.PrefixEIP + "eip-a": model.EIP{ID: "eip-a", AccountID: "1", Address: addr("47.0.0.1"), InstanceID: "ngw-a",
			InstanceType: model.EIPInstanceNat, VpcID: "vpc-a", ZoneID: "za", Status: model.EIPInUse},
		model.PrefixSnatEntry + "snat-a": model.SnatEntry{ID: "snat-a", AccountID: "1", NatGatewayID: "ngw-a", SnatTableID: "stb-a", VpcID: "vpc-a",
			SourceCIDR: pfx("10.0.1.0/24"), SnatIPs: []netip.Addr{addr("47.0.0.1")}, Status: model.NatEntryAvailable},
		model.PrefixRouteEntry + "rte-a": model.RouteEntry{ID: "rte-a", AccountID: "1", VpcID: "vpc-a", DestinationCidr: pfx("0.0.0.0/0"),
			NextHopType: model.RouteNextHopNat, NextHopID: "ngw-a"},
		model.PrefixAddressBook + "book-a":         model.AddressBook{ID: "book-a", AccountID: "1", Name: "hosts", Type: model.AddressBookIP, Addresses: []string{"10.0.1.0/24"}},
		model.PrefixNatFirewallPolicy + "nfw-a":    policy("nfw-a", "1", "ngw-a", 1, "1.2.3.0/24", "443"),
		model.PrefixNatFirewallPolicy + "nfw-gone": policy("nfw-gone", "1", "ngw-gone", 1, "0.0.0.0/0", "80"),
		model.PrefixNatFirewallPolicy + "nfw-b":    policy("nfw-b", "2", "ngw-b", 1, "0.0.0.0/0", "80"),
		model.PrefixNatGateway + "ngw-b":           model.NatGateway{ID: "ngw-b", AccountID: "2", VpcID: "vpc-b", VSwitchID: "vsw-b", ZoneID: "za"},
	}
	ctx := context.Background()
	putRecords(t, s, recs)
	w, _, err := s.analysisWorld(ctx, "1")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, p := range w.NatFirewallPolicies {
		ids = append(ids, p.ID)
	}
	if got := strings.Join(ids, ","); got != "nfw-a" {
		t.Errorf("NAT firewall policies %q, want nfw-a", got)
	}

	for _, c := range []struct {
		to    string
		port  int
		reach bool
	}{
		{"1.2.3.4", 443, false},
		{"1.2.3.4", 80, true},
		{"5.6.7.8", 443, true},
	} {
		r, err := s.AnalyzeReachability(ctx, "1", analysis.ReachQuery{From: "i-a", To: c.to, Protocol: "tcp", Port: c.port}, nil)
		if err != nil {
			t.Fatal(err)
		}
		var fw *analysis.Step
		for i, st := range r.Paths[0].Steps {
			if st.Point == analysis.PointNatFirewall {
				fw = &r.Paths[0].Steps[i]
			}
		}
		switch {
		case r.Reachable != c.reach || fw == nil || fw.Allow != c.reach:
			t.Errorf("%s:%d: reachable %v, NAT-firewall step %+v; want reachable %v", c.to, c.port, r.Reachable, fw, c.reach)
		case !c.reach && (fw.RuleID != "nfw-a" || !strings.Contains(fw.Detail, "nfw-a")):
			t.Errorf("%s:%d: NAT-firewall step %+v does not name nfw-a", c.to, c.port, fw)
		}
	}
}
