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

// TestAnalysisWorldPeering: the analysis of account 1 reads its peering
// with account 2's VPC, the route entries of both ends, and account 2's
// VPC firewall on it with its policies and address books, and nothing of
// account 3 (peered with account 2 only) or of account 2's other
// resources.
func TestAnalysisWorldPeering(t *testing.T) {
	s := New(memory.New(), Config{})
	pfx := netip.MustParsePrefix
	addr := netip.MustParseAddr
	recs := map[string]any{
		model.PrefixAccount + "1":          model.Account{ID: "1"},
		model.PrefixAccount + "2":          model.Account{ID: "2"},
		model.PrefixAccount + "3":          model.Account{ID: "3"},
		model.PrefixVPC + "vpc-a":          model.VPC{ID: "vpc-a", AccountID: "1", CidrBlock: pfx("10.0.0.0/16")},
		model.PrefixVPC + "vpc-b":          model.VPC{ID: "vpc-b", AccountID: "2", CidrBlock: pfx("10.1.0.0/16")},
		model.PrefixVPC + "vpc-z":          model.VPC{ID: "vpc-z", AccountID: "3", CidrBlock: pfx("10.9.0.0/16")},
		model.PrefixVSwitch + "vsw-a":      model.VSwitch{ID: "vsw-a", AccountID: "1", VpcID: "vpc-a", CidrBlock: pfx("10.0.1.0/24")},
		model.PrefixVSwitch + "vsw-b":      model.VSwitch{ID: "vsw-b", AccountID: "2", VpcID: "vpc-b", CidrBlock: pfx("10.1.1.0/24")},
		model.PrefixSecurityGroup + "sg-a": model.SecurityGroup{ID: "sg-a", AccountID: "1", VpcID: "vpc-a", Type: model.GroupTypeBasic},
		model.PrefixSecurityGroup + "sg-b": model.SecurityGroup{ID: "sg-b", AccountID: "2", VpcID: "vpc-b", Type: model.GroupTypeBasic},
		model.PrefixInstance + "i-a":       model.Instance{ID: "i-a", AccountID: "1", VpcID: "vpc-a", VSwitchID: "vsw-a", PrimaryENIID: "eni-a", Status: model.InstanceRunning},
		model.PrefixENI + "eni-a": model.ENI{ID: "eni-a", AccountID: "1", VpcID: "vpc-a", VSwitchID: "vsw-a", InstanceID: "i-a", Type: model.ENITypePrimary,
			PrimaryIP: addr("10.0.1.10"), SecurityGroupIDs: []string{"sg-a"}, Status: model.ENIInUse},
		model.PrefixENI + "eni-b": model.ENI{ID: "eni-b", AccountID: "2", VpcID: "vpc-b", VSwitchID: "vsw-b", Type: model.ENITypePrimary,
			PrimaryIP: addr("10.1.1.10"), SecurityGroupIDs: []string{"sg-b"}, Status: model.ENIInUse},
		model.PrefixPeerConnection + "pcc-ab": model.PeerConnection{ID: "pcc-ab", AccountID: "1", VpcID: "vpc-a", AcceptingAccountID: "2", AcceptingVpcID: "vpc-b", Status: model.PeerActivated},
		model.PrefixPeerConnection + "pcc-bz": model.PeerConnection{ID: "pcc-bz", AccountID: "2", VpcID: "vpc-b", AcceptingAccountID: "3", AcceptingVpcID: "vpc-z", Status: model.PeerActivated},
		model.PrefixRouteEntry + "rte-a":      model.RouteEntry{ID: "rte-a", AccountID: "1", VpcID: "vpc-a", DestinationCidr: pfx("10.1.0.0/16"), NextHopID: "pcc-ab"},
		model.PrefixRouteEntry + "rte-b":      model.RouteEntry{ID: "rte-b", AccountID: "2", VpcID: "vpc-b", DestinationCidr: pfx("10.0.0.0/16"), NextHopID: "pcc-ab"},
		model.PrefixRouteEntry + "rte-z":      model.RouteEntry{ID: "rte-z", AccountID: "3", VpcID: "vpc-z", DestinationCidr: pfx("10.1.0.0/16"), NextHopID: "pcc-bz"},
		model.PrefixVpcFirewall + "vfw-b":     model.VpcFirewall{ID: "vfw-b", AccountID: "2", LocalVpcID: "vpc-b", PeerVpcID: "vpc-a", PeerConnectionID: "pcc-ab", Enabled: true},
		model.PrefixVpcFirewall + "vfw-z":     model.VpcFirewall{ID: "vfw-z", AccountID: "3", LocalVpcID: "vpc-z", PeerVpcID: "vpc-b", PeerConnectionID: "pcc-bz", Enabled: true},
		model.PrefixVpcFirewallPolicy + "acl-b": model.FirewallPolicy{ID: "acl-b", AccountID: "2", VpcFirewallID: "vfw-b", Order: 1, Action: model.FirewallDrop,
			Source: "hosts-a", SourceType: model.FirewallGroup, Destination: "0.0.0.0/0", DestinationType: model.FirewallNet, Proto: "TCP", DestPort: "80/80", DestPortType: model.FirewallPort, Enabled: true},
		model.PrefixVpcFirewallPolicy + "acl-z": model.FirewallPolicy{ID: "acl-z", AccountID: "3", VpcFirewallID: "vfw-z", Order: 1, Action: model.FirewallDrop,
			Source: "0.0.0.0/0", Destination: "0.0.0.0/0", Proto: "ANY", Enabled: true},
		model.PrefixAddressBook + "book-b": model.AddressBook{ID: "book-b", AccountID: "2", Name: "hosts-a", Type: model.AddressBookIP, Addresses: []string{"10.0.1.0/24"}},
		model.PrefixAddressBook + "book-z": model.AddressBook{ID: "book-z", AccountID: "3", Name: "hosts-a", Type: model.AddressBookIP, Addresses: []string{"0.0.0.0/0"}},
	}
	ctx := context.Background()
	putRecords(t, s, recs)
	w, _, err := s.analysisWorld(ctx, "1")
	if err != nil {
		t.Fatal(err)
	}
	ids := func(n int, id func(int) string) string {
		var out []string
		for i := range n {
			out = append(out, id(i))
		}
		return strings.Join(out, ",")
	}
	for _, c := range []struct{ what, got, want string }{
		{"account", w.AccountID, "1"},
		{"VPCs", ids(len(w.VPCs), func(i int) string { return w.VPCs[i].ID }), "vpc-a"},
		{"ENIs", ids(len(w.ENIs), func(i int) string { return w.ENIs[i].ID }), "eni-a"},
		{"peerings", ids(len(w.Peerings), func(i int) string { return w.Peerings[i].ID }), "pcc-ab"},
		{"route entries", ids(len(w.RouteEntries), func(i int) string { return w.RouteEntries[i].ID }), "rte-a,rte-b"},
		{"VPC firewalls", ids(len(w.VpcFirewalls), func(i int) string { return w.VpcFirewalls[i].ID }), "vfw-b"},
		{"VPC firewall policies", ids(len(w.VpcFirewallPolicies), func(i int) string { return w.VpcFirewallPolicies[i].ID }), "acl-b"},
		{"peer address books", ids(len(w.PeerAddressBooks), func(i int) string { return w.PeerAddressBooks[i].ID }), "book-b"},
		{"own address books", ids(len(w.AddressBooks), func(i int) string { return w.AddressBooks[i].ID }), ""},
	} {
		if c.got != c.want {
			t.Errorf("%s: %q, want %q", c.what, c.got, c.want)
		}
	}

	// Account 2's firewall drops port 80 from account 1's hosts (its
	// address book), without its policy being named to account 1; port
	// 443 crosses to account 2's address, which is not looked behind.
	r, err := s.AnalyzeReachability(ctx, "1", analysis.ReachQuery{From: "i-a", To: "10.1.1.10", Protocol: "tcp", Port: 80}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var fw *analysis.Step
	for i, st := range r.Paths[0].Steps {
		if st.Point == analysis.PointVpcFirewall {
			fw = &r.Paths[0].Steps[i]
		}
	}
	if r.Reachable || fw == nil || fw.Allow || fw.RuleID != "" || strings.Contains(fw.Detail, "acl-b") {
		t.Errorf("port 80: reachable %v, firewall step %+v", r.Reachable, fw)
	}
	r, err = s.AnalyzeReachability(ctx, "1", analysis.ReachQuery{From: "i-a", To: "10.1.1.10", Protocol: "tcp", Port: 443}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Reachable || r.Paths[0].To.VPC != "vpc-b" || r.Paths[0].To.ENI != "" {
		t.Errorf("port 443: reachable %v to %+v", r.Reachable, r.Paths[0].To)
	}
}
