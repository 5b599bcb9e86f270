package service

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"strings"
	"testing"

	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/store/memory"
)

// natFixture: account "1" with vpc-1 (10.0.0.0/16 + 10.5.0.0/16; vsw-a
// 10.0.1.0/24 in z-a, vsw-b 10.0.2.0/24 in z-b, vsw-s 10.5.1.0/24 in z-a)
// and vpc-2 (10.1.0.0/16; vsw-c 10.1.1.0/24); account "2" with vpc-x
// (10.0.0.0/16; vsw-x 10.0.1.0/24). Zone z-b is served by an agent.
func natFixture(t *testing.T) *Service {
	t.Helper()
	s := New(memory.New(), Config{ZoneServed: func(z string) bool { return z == "z-b" }})
	pfx := netip.MustParsePrefix
	putRecords(t, s, map[string]any{
		model.PrefixAccount + "1":     model.Account{ID: "1", Name: "alice"},
		model.PrefixAccount + "2":     model.Account{ID: "2", Name: "bob"},
		model.PrefixVPC + "vpc-1":     model.VPC{ID: "vpc-1", AccountID: "1", CidrBlock: pfx("10.0.0.0/16"), SecondaryCidrs: []netip.Prefix{pfx("10.5.0.0/16")}, RouteTableID: "vtb-1"},
		model.PrefixVPC + "vpc-2":     model.VPC{ID: "vpc-2", AccountID: "1", CidrBlock: pfx("10.1.0.0/16"), RouteTableID: "vtb-2"},
		model.PrefixVPC + "vpc-x":     model.VPC{ID: "vpc-x", AccountID: "2", CidrBlock: pfx("10.0.0.0/16"), RouteTableID: "vtb-x"},
		model.PrefixVSwitch + "vsw-a": model.VSwitch{ID: "vsw-a", AccountID: "1", VpcID: "vpc-1", ZoneID: "z-a", CidrBlock: pfx("10.0.1.0/24")},
		model.PrefixVSwitch + "vsw-b": model.VSwitch{ID: "vsw-b", AccountID: "1", VpcID: "vpc-1", ZoneID: "z-b", CidrBlock: pfx("10.0.2.0/24")},
		model.PrefixVSwitch + "vsw-s": model.VSwitch{ID: "vsw-s", AccountID: "1", VpcID: "vpc-1", ZoneID: "z-a", CidrBlock: pfx("10.5.1.0/24")},
		model.PrefixVSwitch + "vsw-c": model.VSwitch{ID: "vsw-c", AccountID: "1", VpcID: "vpc-2", ZoneID: "z-a", CidrBlock: pfx("10.1.1.0/24")},
		model.PrefixVSwitch + "vsw-x": model.VSwitch{ID: "vsw-x", AccountID: "2", VpcID: "vpc-x", ZoneID: "z-a", CidrBlock: pfx("10.0.1.0/24")},
	})
	return s
}

func natBool(b bool) *bool { return &b }

func newNatGW(t *testing.T, s *Service, account string, in CreateNatGatewayInput) model.NatGateway {
	t.Helper()
	g, err := s.CreateNatGateway(context.Background(), account, in)
	if err != nil {
		t.Fatalf("CreateNatGateway %+v: %v", in, err)
	}
	return g
}

// natEIP allocates an EIP of account and, with gw, associates it.
func natEIP(t *testing.T, s *Service, account, gw string) model.EIP {
	t.Helper()
	ctx := context.Background()
	e, err := s.AllocateEipAddress(ctx, account, AllocateEipInput{})
	if err != nil {
		t.Fatal(err)
	}
	if gw != "" {
		if err := s.AssociateEipAddress(ctx, account, e.ID, gw, "Nat", ""); err != nil {
			t.Fatalf("associate %s with %s: %v", e.ID, gw, err)
		}
	}
	return e
}

func getEIPRecord(t *testing.T, s *Service, id string) model.EIP {
	t.Helper()
	list, err := s.DescribeEipAddresses(context.Background(), "1", EIPFilter{ID: id})
	if err != nil || len(list) != 1 {
		t.Fatalf("EIP %s: %v %v", id, list, err)
	}
	return list[0]
}

// refused runs f and checks its code and that the store is unchanged.
func refused(t *testing.T, s *Service, what, code string, status int, f func() error) {
	t.Helper()
	before := storeSnapshot(t, s)
	wantCode(t, what, f(), code, status)
	if after := storeSnapshot(t, s); !maps.Equal(before, after) {
		t.Errorf("%s: a refused call changed the store", what)
	}
}

func TestCreateNatGatewayRefusals(t *testing.T) {
	s := natFixture(t)
	ctx := context.Background()
	ok := CreateNatGatewayInput{VpcID: "vpc-1", VSwitchID: "vsw-a"}
	with := func(f func(*CreateNatGatewayInput)) CreateNatGatewayInput {
		in := ok
		f(&in)
		return in
	}
	tests := []struct {
		name   string
		in     CreateNatGatewayInput
		code   string
		status int
	}{
		{"no vpc", with(func(in *CreateNatGatewayInput) { in.VpcID = "" }), "MissingParameter", 400},
		{"no vswitch", with(func(in *CreateNatGatewayInput) { in.VSwitchID = "" }), "MissingParameter", 400},
		{"normal type", with(func(in *CreateNatGatewayInput) { in.NatType = "Normal" }), "OperationUnsupported.NatType", 400},
		{"unknown type", with(func(in *CreateNatGatewayInput) { in.NatType = "Turbo" }), "InvalidParameter", 400},
		{"intranet", with(func(in *CreateNatGatewayInput) { in.NetworkType = "intranet" }), "OperationUnsupported.NetworkType", 400},
		{"unknown network", with(func(in *CreateNatGatewayInput) { in.NetworkType = "dmz" }), "InvalidParameter", 400},
		{"prepaid", with(func(in *CreateNatGatewayInput) { in.InstanceChargeType = "PrePaid" }), "OperationUnsupported.InstanceChargeType", 400},
		{"unknown charge", with(func(in *CreateNatGatewayInput) { in.InternetChargeType = "Free" }), "InvalidParameter", 400},
		{"unknown bind mode", with(func(in *CreateNatGatewayInput) { in.EipBindMode = "ALL" }), "InvalidParameter", 400},
		{"unknown spec", with(func(in *CreateNatGatewayInput) { in.Spec = "Huge" }), "InvalidParameter", 400},
		{"security protection", with(func(in *CreateNatGatewayInput) { in.SecurityProtectionEnabled = true }), "OperationUnsupported.SecurityProtectionEnabled", 400},
		{"privatelink", with(func(in *CreateNatGatewayInput) { in.PrivateLinkEnabled = true }), "OperationUnsupported.PrivateLinkEnabled", 400},
		{"long name", with(func(in *CreateNatGatewayInput) { in.Name = strings.Repeat("n", 129) }), "InvalidParameter.Name.Malformed", 400},
		{"url name", with(func(in *CreateNatGatewayInput) { in.Name = "http://x" }), "InvalidParameter.Name.Malformed", 400},
		{"long description", with(func(in *CreateNatGatewayInput) { in.Description = strings.Repeat("d", 257) }), "InvalidParameter.Description.Malformed", 400},
		{"unknown vpc", with(func(in *CreateNatGatewayInput) { in.VpcID = "vpc-nope" }), "InvalidVpcId.NotFound", 404},
		{"vpc of another account", with(func(in *CreateNatGatewayInput) { in.VpcID = "vpc-x" }), "InvalidVpcId.NotFound", 404},
		{"vswitch of another account", with(func(in *CreateNatGatewayInput) { in.VSwitchID = "vsw-x" }), "InvalidVSwitchId.NotFound", 404},
		{"vswitch of another vpc", with(func(in *CreateNatGatewayInput) { in.VSwitchID = "vsw-c" }), "InvalidVSwitchId.VpcMismatch", 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			refused(t, s, tc.name, tc.code, tc.status, func() error { _, err := s.CreateNatGateway(ctx, "1", tc.in); return err })
		})
	}
}

func TestNatGatewayLifecycle(t *testing.T) {
	s := natFixture(t)
	ctx := context.Background()
	g := newNatGW(t, s, "1", CreateNatGatewayInput{VpcID: "vpc-1", VSwitchID: "vsw-a", Name: "egress", NatType: "enhanced",
		Spec: "small", Tags: []model.Tag{{Key: "env", Value: "prod"}}})
	if !strings.HasPrefix(g.ID, "ngw-") || !strings.HasPrefix(g.SnatTableID, "stb-") || !strings.HasPrefix(g.ForwardTableID, "ftb-") ||
		g.NatType != "Enhanced" || g.NetworkType != "internet" || g.InstanceChargeType != "PostPaid" || g.InternetChargeType != "PayByLcu" ||
		g.EipBindMode != "MULTI_BINDED" || g.Spec != "Small" || !g.IcmpReplyEnabled || g.ZoneID != "z-a" || g.Status != "Available" ||
		g.PrivateIP != netip.MustParseAddr("10.0.1.1") {
		t.Fatalf("gateway: %+v", g)
	}
	if owner := ipamOwner(t, s, "vsw-a", "10.0.1.1"); owner != g.ID {
		t.Fatalf("IPAM owner of 10.0.1.1 is %q", owner)
	}
	// The default route.
	routes, err := s.DescribeRouteEntryList(ctx, "1", RouteEntryQuery{RouteTableID: "vtb-1", RouteEntryType: "Custom"})
	if err != nil || len(routes) != 1 || routes[0].DestinationCidr != defaultRoute4 || routes[0].NextHopType != "NatGateway" || routes[0].NextHopID != g.ID {
		t.Fatalf("routes after create: %+v %v", routes, err)
	}
	// A second gateway finds 0.0.0.0/0 taken: no second default route.
	g2 := newNatGW(t, s, "1", CreateNatGatewayInput{VpcID: "vpc-1", VSwitchID: "vsw-b", IcmpReplyEnabled: natBool(false), EipBindMode: "nat"})
	if g2.IcmpReplyEnabled || g2.EipBindMode != "NAT" || g2.ZoneID != "z-b" {
		t.Fatalf("second gateway: %+v", g2)
	}
	if routes, _ := s.DescribeRouteEntryList(ctx, "1", RouteEntryQuery{RouteTableID: "vtb-1", RouteEntryType: "Custom"}); len(routes) != 1 {
		t.Fatalf("routes after second gateway: %+v", routes)
	}
	g3 := newNatGW(t, s, "1", CreateNatGatewayInput{VpcID: "vpc-2", VSwitchID: "vsw-c", IsCreateDefaultRoute: natBool(false)})
	if routes, _ := s.DescribeRouteEntryList(ctx, "1", RouteEntryQuery{RouteTableID: "vtb-2", RouteEntryType: "Custom"}); len(routes) != 0 {
		t.Fatalf("IsCreateDefaultRoute=false made routes: %+v", routes)
	}
	// Describe and its filters.
	for _, c := range []struct {
		q    NatGatewayQuery
		want []string
	}{
		{NatGatewayQuery{}, []string{g.ID, g2.ID, g3.ID}},
		{NatGatewayQuery{VpcID: "vpc-1"}, []string{g.ID, g2.ID}},
		{NatGatewayQuery{IDs: []string{g2.ID}}, []string{g2.ID}},
		{NatGatewayQuery{Name: "egress"}, []string{g.ID}},
		{NatGatewayQuery{ZoneID: "z-b"}, []string{g2.ID}},
		{NatGatewayQuery{VSwitchID: "vsw-c"}, []string{g3.ID}},
		{NatGatewayQuery{Status: "available", NatType: "Enhanced", NetworkType: "internet"}, []string{g.ID, g2.ID, g3.ID}},
		{NatGatewayQuery{NatType: "Normal"}, nil},
		{NatGatewayQuery{Spec: "Small"}, []string{g.ID}},
		{NatGatewayQuery{Tags: []model.Tag{{Key: "env"}}}, []string{g.ID}},
		{NatGatewayQuery{Tags: []model.Tag{{Key: "env", Value: "dev"}}}, nil},
	} {
		got, err := s.DescribeNatGateways(ctx, "1", c.q)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, v := range got {
			ids = append(ids, v.ID)
		}
		if fmt.Sprint(ids) != fmt.Sprint(c.want) {
			t.Errorf("DescribeNatGateways %+v = %v, want %v", c.q, ids, c.want)
		}
	}
	if vpcs, _ := s.DescribeVpcs(ctx, "1", VpcFilter{IDs: []string{"vpc-1"}}); len(vpcs) != 1 || fmt.Sprint(vpcs[0].NatGatewayIDs) != fmt.Sprint([]string{g.ID, g2.ID}) {
		t.Errorf("DescribeVpcs NatGatewayIDs: %+v", vpcs)
	}
	if v, _ := s.DescribeVpcAttribute(ctx, "1", "vpc-2"); fmt.Sprint(v.NatGatewayIDs) != fmt.Sprint([]string{g3.ID}) {
		t.Errorf("DescribeVpcAttribute NatGatewayIDs: %+v", v.NatGatewayIDs)
	}

	// Modify.
	if err := s.ModifyNatGatewayAttribute(ctx, "1", g.ID, ModifyNatGatewayInput{Name: strp("out"), Description: strp("d"), IcmpReplyEnabled: natBool(false)}); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "modify bad name", s.ModifyNatGatewayAttribute(ctx, "1", g.ID, ModifyNatGatewayInput{Name: strp("https://x")}), "InvalidParameter.Name.Malformed", 400)
	wantCode(t, "modify bad mode", s.ModifyNatGatewayAttribute(ctx, "1", g.ID, ModifyNatGatewayInput{EipBindMode: strp("x")}), "InvalidParameter", 400)
	wantCode(t, "modify other account", s.ModifyNatGatewayAttribute(ctx, "2", g.ID, ModifyNatGatewayInput{Name: strp("x")}), "InvalidNatGatewayId.NotFound", 404)

	// EIPs: the zone of g is not served (InUse), g2's is (Associating).
	e1, e2, e3 := natEIP(t, s, "1", g.ID), natEIP(t, s, "1", g.ID), natEIP(t, s, "1", g2.ID)
	if got := getEIPRecord(t, s, e1.ID); got.Status != "InUse" || got.InstanceID != g.ID || got.InstanceType != "Nat" || got.VpcID != "vpc-1" ||
		got.ZoneID != "z-a" || got.ENIID != "" || got.PrivateIP.IsValid() {
		t.Errorf("NAT EIP: %+v", got)
	}
	if got := getEIPRecord(t, s, e3.ID); got.Status != "Associating" || got.ZoneID != "z-b" {
		t.Errorf("NAT EIP in a served zone: %+v", got)
	}
	if list, _ := s.DescribeEipAddresses(ctx, "1", EIPFilter{InstanceType: "Nat", InstanceID: g.ID}); len(list) != 2 {
		t.Errorf("EIPs of %s: %+v", g.ID, list)
	}
	snat, err := s.CreateSnatEntry(ctx, "1", CreateSnatEntryInput{SnatTableID: g.SnatTableID, SnatIP: e1.Address.String(), SourceVSwitchID: "vsw-a", Name: "web"})
	if err != nil {
		t.Fatal(err)
	}
	fwd, err := s.CreateForwardEntry(ctx, "1", CreateForwardEntryInput{ForwardTableID: g.ForwardTableID, ForwardEntrySpec: ForwardEntrySpec{
		ExternalIP: strp(e2.Address.String()), ExternalPort: strp("8080"), IpProtocol: strp("tcp"), InternalIP: strp("10.0.1.10"), InternalPort: strp("80")}})
	if err != nil {
		t.Fatal(err)
	}
	view, err := s.GetNatGatewayAttribute(ctx, "1", g.ID)
	if err != nil || view.Name != "out" || view.IcmpReplyEnabled || view.SnatEntryCount != 1 || view.ForwardEntryCount != 1 || len(view.IPs) != 2 ||
		view.IPs[0].UsingStatus != "UsedBySnatTable" || !view.IPs[0].SnatEntryEnabled || view.IPs[1].UsingStatus != "UsedByForwardTable" || view.IPs[1].SnatEntryEnabled {
		t.Fatalf("GetNatGatewayAttribute: %+v %v", view, err)
	}
	// An EIP in use stays with its gateway.
	refused(t, s, "unassociate SNAT IP", "InvalidIpStatus.HasBeenUsedBySnatTable", 400, func() error { return s.UnassociateEipAddress(ctx, "1", e1.ID, "") })
	refused(t, s, "unassociate DNAT IP", "InvalidIpStatus.HasBeenUsedByForwardEntry", 400, func() error { return s.UnassociateEipAddress(ctx, "1", e2.ID, g.ID) })
	refused(t, s, "release NAT EIP", "IncorrectEipStatus", 403, func() error { return s.ReleaseEipAddress(ctx, "1", e1.ID) })
	refused(t, s, "associate busy EIP", "IncorrectEipStatus", 403, func() error { return s.AssociateEipAddress(ctx, "1", e1.ID, g2.ID, "Nat", "") })

	// Deleting without Force names what to remove, in order.
	refused(t, s, "delete with SNAT", "DependencyViolation.SnatEntry", 400, func() error { return s.DeleteNatGateway(ctx, "1", g.ID, false) })
	if err := s.DeleteSnatEntry(ctx, "1", g.SnatTableID, snat.ID); err != nil {
		t.Fatal(err)
	}
	refused(t, s, "delete with DNAT", "DependencyViolation.ForwardEntry", 400, func() error { return s.DeleteNatGateway(ctx, "1", g.ID, false) })
	if err := s.DeleteForwardEntry(ctx, "1", g.ForwardTableID, fwd.ID); err != nil {
		t.Fatal(err)
	}
	refused(t, s, "delete with EIPs", "DependencyViolation.EIPS", 400, func() error { return s.DeleteNatGateway(ctx, "1", g.ID, false) })
	refused(t, s, "delete VPC", "DependencyViolation.EnhancedNatgw", 400, func() error { return s.DeleteVpc(ctx, "1", "vpc-1", true, false) })
	refused(t, s, "delete vSwitch", "DependencyViolation.EnhancedNatgw", 400, func() error { return s.DeleteVSwitch(ctx, "1", "vsw-a") })
	refused(t, s, "delete of another account", "InvalidNatGatewayId.NotFound", 404, func() error { return s.DeleteNatGateway(ctx, "2", g.ID, true) })

	// Unassociate, then delete; the route and the address go with it.
	if err := s.UnassociateEipAddress(ctx, "1", e1.ID, g.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.UnassociateEipAddress(ctx, "1", e2.ID, ""); err != nil {
		t.Fatal(err)
	}
	if got := getEIPRecord(t, s, e2.ID); got.Status != "Available" || got.InstanceID != "" || got.InstanceType != "" || got.VpcID != "" || got.ZoneID != "" {
		t.Errorf("unassociated EIP: %+v", got)
	}
	if err := s.DeleteNatGateway(ctx, "1", g.ID, false); err != nil {
		t.Fatal(err)
	}
	if owner := ipamOwner(t, s, "vsw-a", "10.0.1.1"); owner != "" {
		t.Errorf("address still held by %q", owner)
	}
	if routes, _ := s.DescribeRouteEntryList(ctx, "1", RouteEntryQuery{RouteTableID: "vtb-1", RouteEntryType: "Custom"}); len(routes) != 0 {
		t.Errorf("routes after delete: %+v", routes)
	}
	if _, err := s.GetNatGatewayAttribute(ctx, "1", g.ID); err == nil {
		t.Error("deleted gateway still found")
	}
	// The vSwitch is free again.
	if err := s.DeleteVSwitch(ctx, "1", "vsw-a"); err != nil {
		t.Errorf("DeleteVSwitch after the gateway: %v", err)
	}
}

func TestDeleteNatGatewayForce(t *testing.T) {
	s := natFixture(t)
	ctx := context.Background()
	g := newNatGW(t, s, "1", CreateNatGatewayInput{VpcID: "vpc-1", VSwitchID: "vsw-a"})
	e1, e2 := natEIP(t, s, "1", g.ID), natEIP(t, s, "1", g.ID)
	if _, err := s.CreateSnatEntry(ctx, "1", CreateSnatEntryInput{SnatTableID: g.SnatTableID, SnatIP: e1.Address.String(), SourceCIDR: "10.0.0.0/16"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateForwardEntry(ctx, "1", CreateForwardEntryInput{ForwardTableID: g.ForwardTableID, ForwardEntrySpec: ForwardEntrySpec{
		ExternalIP: strp(e2.Address.String()), ExternalPort: strp("any"), IpProtocol: strp("ANY"), InternalIP: strp("10.0.2.7"), InternalPort: strp("Any")}}); err != nil {
		t.Fatal(err)
	}
	// A custom route to the gateway goes too.
	if _, err := s.CreateRouteEntry(ctx, "1", CreateRouteEntryInput{RouteTableID: "vtb-1", DestinationCidrBlock: "192.0.2.0/24", NextHopType: "NatGateway", NextHopID: g.ID}); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "protected", func() error {
		putRecords(t, s, map[string]any{model.PrefixNatGateway + g.ID: func() model.NatGateway { p := g; p.DeletionProtection = true; return p }()})
		return s.DeleteNatGateway(ctx, "1", g.ID, true)
	}(), "InvalidOperation.DeletionProtection", 400)
	putRecords(t, s, map[string]any{model.PrefixNatGateway + g.ID: g})
	if err := s.DeleteNatGateway(ctx, "1", g.ID, true); err != nil {
		t.Fatal(err)
	}
	snap := storeSnapshot(t, s)
	for k := range snap {
		for _, p := range []string{model.PrefixNatGateway, model.PrefixSnatEntry, model.PrefixForwardEntry, model.PrefixRouteEntry} {
			if strings.HasPrefix(k, p) {
				t.Errorf("left after a forced delete: %s", k)
			}
		}
	}
	for _, e := range []model.EIP{e1, e2} {
		if got := getEIPRecord(t, s, e.ID); got.Status != "Available" || got.InstanceID != "" || got.InstanceType != "" {
			t.Errorf("EIP after a forced delete: %+v", got)
		}
	}
	if owner := ipamOwner(t, s, "vsw-a", "10.0.1.1"); owner != "" {
		t.Errorf("address still held by %q", owner)
	}
}

func TestSnatEntries(t *testing.T) {
	s := natFixture(t)
	ctx := context.Background()
	g := newNatGW(t, s, "1", CreateNatGatewayInput{VpcID: "vpc-1", VSwitchID: "vsw-a"})
	other := newNatGW(t, s, "1", CreateNatGatewayInput{VpcID: "vpc-2", VSwitchID: "vsw-c"})
	e1, e2, eMapped := natEIP(t, s, "1", g.ID), natEIP(t, s, "1", g.ID), natEIP(t, s, "1", g.ID)
	eOther, eFree := natEIP(t, s, "1", other.ID), natEIP(t, s, "1", "")
	bobGW := newNatGW(t, s, "2", CreateNatGatewayInput{VpcID: "vpc-x", VSwitchID: "vsw-x"})
	eBob := natEIP(t, s, "2", bobGW.ID)
	if _, err := s.CreateForwardEntry(ctx, "1", CreateForwardEntryInput{ForwardTableID: g.ForwardTableID, ForwardEntrySpec: ForwardEntrySpec{
		ExternalIP: strp(eMapped.Address.String()), ExternalPort: strp("Any"), IpProtocol: strp("Any"), InternalIP: strp("10.0.1.50"), InternalPort: strp("Any")}}); err != nil {
		t.Fatal(err)
	}
	first, err := s.CreateSnatEntry(ctx, "1", CreateSnatEntryInput{SnatTableID: g.SnatTableID, SnatIP: e1.Address.String() + ", " + e2.Address.String(),
		SourceVSwitchID: "vsw-b", Name: "b", EipAffinity: intp(1)})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(first.ID, "snat-") || first.SourceCIDR != netip.MustParsePrefix("10.0.2.0/24") || len(first.SnatIPs) != 2 || first.EipAffinity != 1 ||
		first.Status != "Available" || first.VpcID != "vpc-1" || first.NatGatewayID != g.ID {
		t.Fatalf("SNAT entry: %+v", first)
	}
	ip := func(e model.EIP) string { return e.Address.String() }
	base := CreateSnatEntryInput{SnatTableID: g.SnatTableID, SnatIP: ip(e1), SourceCIDR: "10.0.1.0/25"}
	with := func(f func(*CreateSnatEntryInput)) CreateSnatEntryInput { in := base; f(&in); return in }
	tests := []struct {
		name   string
		in     CreateSnatEntryInput
		code   string
		status int
	}{
		{"no table", with(func(in *CreateSnatEntryInput) { in.SnatTableID = "" }), "MissingParameter", 400},
		{"unknown table", with(func(in *CreateSnatEntryInput) { in.SnatTableID = "stb-nope" }), "InvalidSnatTableId.NotFound", 404},
		{"table of another account", with(func(in *CreateSnatEntryInput) { in.SnatTableID = bobGW.SnatTableID }), "InvalidSnatTableId.NotFound", 404},
		{"forward table id", with(func(in *CreateSnatEntryInput) { in.SnatTableID = g.ForwardTableID }), "InvalidSnatTableId.NotFound", 404},
		{"no snat ip", with(func(in *CreateSnatEntryInput) { in.SnatIP = " , " }), "MissingParameter", 400},
		{"bad snat ip", with(func(in *CreateSnatEntryInput) { in.SnatIP = "198.18.0.300" }), "InvalidSnatIp.Malformed", 400},
		{"ipv6 snat ip", with(func(in *CreateSnatEntryInput) { in.SnatIP = "2001:db8::1" }), "InvalidSnatIp.Malformed", 400},
		{"snat ip twice", with(func(in *CreateSnatEntryInput) { in.SnatIP = ip(e1) + "," + ip(e1) }), "InvalidSnatIp.Malformed", 400},
		{"too many snat ips", with(func(in *CreateSnatEntryInput) { in.SnatIP = strings.Repeat(ip(e1)+",", 21) }), "SNAT_IP_POOL_COUNT_TOO_MANY", 400},
		{"ip of another gateway", with(func(in *CreateSnatEntryInput) { in.SnatIP = ip(eOther) }), "InvalidSnatIp.NotFound", 404},
		{"unassociated ip", with(func(in *CreateSnatEntryInput) { in.SnatIP = ip(eFree) }), "InvalidSnatIp.NotFound", 404},
		{"ip of another account", with(func(in *CreateSnatEntryInput) { in.SnatIP = ip(eBob) }), "InvalidSnatIp.NotFound", 404},
		{"ip-mapped ip", with(func(in *CreateSnatEntryInput) { in.SnatIP = ip(e1) + "," + ip(eMapped) }), "Forbidden.IpUsedInForwardTable", 400},
		{"no source", with(func(in *CreateSnatEntryInput) { in.SourceCIDR = "" }), "MissingParameter", 400},
		{"both sources", with(func(in *CreateSnatEntryInput) { in.SourceVSwitchID = "vsw-a" }), "InvalidParameter", 400},
		{"eni source", with(func(in *CreateSnatEntryInput) { in.NetworkInterfaceID = "eni-1" }), "OperationUnsupported.NetworkInterfaceId", 400},
		{"cidr garbage", with(func(in *CreateSnatEntryInput) { in.SourceCIDR = "10.0.1.0" }), "InvalidSourceCIDR.Malformed", 400},
		{"cidr host bits", with(func(in *CreateSnatEntryInput) { in.SourceCIDR = "10.0.1.1/24" }), "InvalidSourceCIDR.Malformed", 400},
		{"cidr ipv6", with(func(in *CreateSnatEntryInput) { in.SourceCIDR = "fd00::/64" }), "InvalidSourceCIDR.Malformed", 400},
		{"cidr outside the vpc", with(func(in *CreateSnatEntryInput) { in.SourceCIDR = "10.1.1.0/24" }), "NOT_ALLOW_USE_SOURCECIDR", 400},
		{"cidr covering the vpc", with(func(in *CreateSnatEntryInput) { in.SourceCIDR = "10.0.0.0/8" }), "NOT_ALLOW_USE_SOURCECIDR", 400},
		{"unknown vswitch", with(func(in *CreateSnatEntryInput) { in.SourceCIDR, in.SourceVSwitchID = "", "vsw-nope" }), "InvalidVSwitchId.NotFound", 404},
		{"vswitch of another account", with(func(in *CreateSnatEntryInput) { in.SourceCIDR, in.SourceVSwitchID = "", "vsw-x" }), "InvalidVSwitchId.NotFound", 404},
		{"vswitch of another vpc", with(func(in *CreateSnatEntryInput) { in.SourceCIDR, in.SourceVSwitchID = "", "vsw-c" }), "InvalidVSwitchId.VpcMismatch", 400},
		{"same vswitch twice", with(func(in *CreateSnatEntryInput) { in.SourceCIDR, in.SourceVSwitchID = "", "vsw-b" }), "Forbidden.SourceVSwitchId.Duplicated", 400},
		{"vswitch's cidr as cidr", with(func(in *CreateSnatEntryInput) { in.SourceCIDR = "10.0.2.0/24" }), "Forbidden.SourceVSwitchId.Duplicated", 400},
		{"affinity 2", with(func(in *CreateSnatEntryInput) { in.EipAffinity = intp(2) }), "InvalidParameter", 400},
		{"bad name", with(func(in *CreateSnatEntryInput) { in.Name = "https://x" }), "InvalidParameter.Name.Malformed", 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			refused(t, s, tc.name, tc.code, tc.status, func() error { _, err := s.CreateSnatEntry(ctx, "1", tc.in); return err })
		})
	}
	// Overlapping sources and the secondary CIDR block are fine.
	inner, err := s.CreateSnatEntry(ctx, "1", CreateSnatEntryInput{SnatTableID: g.SnatTableID, SnatIP: ip(e2), SourceCIDR: "10.0.2.8/32"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateSnatEntry(ctx, "1", CreateSnatEntryInput{SnatTableID: g.SnatTableID, SnatIP: ip(e2), SourceVSwitchID: "vsw-s"}); err != nil {
		t.Fatal(err)
	}

	// Describe and its filters.
	for _, c := range []struct {
		q    SnatEntryQuery
		want int
	}{
		{SnatEntryQuery{}, 3},
		{SnatEntryQuery{SnatEntryID: first.ID}, 1},
		{SnatEntryQuery{SourceVSwitchID: "vsw-b"}, 1},
		{SnatEntryQuery{SourceCIDR: "10.0.2.8/32"}, 1},
		{SnatEntryQuery{SnatIP: ip(e1)}, 1},
		{SnatEntryQuery{SnatIP: ip(e2)}, 3},
		{SnatEntryQuery{Name: "b"}, 1},
		{SnatEntryQuery{NatGatewayID: g.ID}, 3},
		{SnatEntryQuery{NatGatewayID: other.ID}, 0},
		{SnatEntryQuery{NetworkInterfaceIDs: []string{"eni-1"}}, 0},
	} {
		c.q.SnatTableID = g.SnatTableID
		got, err := s.DescribeSnatTableEntries(ctx, "1", c.q)
		if err != nil || len(got) != c.want {
			t.Errorf("DescribeSnatTableEntries %+v: %d entries, want %d (%v)", c.q, len(got), c.want, err)
		}
	}
	wantCode(t, "describe without table", func() error { _, err := s.DescribeSnatTableEntries(ctx, "1", SnatEntryQuery{}); return err }(), "MissingParameter", 400)
	wantCode(t, "describe bob's table", func() error {
		_, err := s.DescribeSnatTableEntries(ctx, "1", SnatEntryQuery{SnatTableID: bobGW.SnatTableID})
		return err
	}(), "InvalidSnatTableId.NotFound", 404)

	// Modify.
	if err := s.ModifySnatEntry(ctx, "1", ModifySnatEntryInput{SnatTableID: g.SnatTableID, SnatEntryID: inner.ID, SnatIP: strp(ip(e1)), Name: strp("one"), EipAffinity: intp(0)}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.DescribeSnatTableEntries(ctx, "1", SnatEntryQuery{SnatTableID: g.SnatTableID, SnatEntryID: inner.ID}); len(got) != 1 || got[0].Name != "one" ||
		len(got[0].SnatIPs) != 1 || got[0].SnatIPs[0] != e1.Address {
		t.Errorf("modified entry: %+v", got)
	}
	mods := []struct {
		name   string
		in     ModifySnatEntryInput
		code   string
		status int
	}{
		{"mapped ip", ModifySnatEntryInput{SnatTableID: g.SnatTableID, SnatEntryID: inner.ID, SnatIP: strp(ip(eMapped))}, "Forbidden.IpUsedInForwardTable", 400},
		{"other gateway's ip", ModifySnatEntryInput{SnatTableID: g.SnatTableID, SnatEntryID: inner.ID, SnatIP: strp(ip(eOther))}, "InvalidSnatIp.NotFound", 404},
		{"no entry id", ModifySnatEntryInput{SnatTableID: g.SnatTableID}, "MissingParameter", 400},
		{"entry of another table", ModifySnatEntryInput{SnatTableID: other.SnatTableID, SnatEntryID: inner.ID, Name: strp("x")}, "InvalidSnatEntryId.NotFound", 404},
		{"bob", ModifySnatEntryInput{SnatTableID: g.SnatTableID, SnatEntryID: inner.ID, Name: strp("x")}, "InvalidSnatTableId.NotFound", 404},
		{"eni", ModifySnatEntryInput{SnatTableID: g.SnatTableID, SnatEntryID: inner.ID, NetworkInterfaceID: "eni-1"}, "OperationUnsupported.NetworkInterfaceId", 400},
		{"affinity", ModifySnatEntryInput{SnatTableID: g.SnatTableID, SnatEntryID: inner.ID, EipAffinity: intp(-1)}, "InvalidParameter", 400},
	}
	for _, m := range mods {
		account := "1"
		if m.name == "bob" {
			account = "2"
		}
		refused(t, s, "modify "+m.name, m.code, m.status, func() error { return s.ModifySnatEntry(ctx, account, m.in) })
	}
	// Delete: only the caller's entry of that table.
	refused(t, s, "delete unknown", "InvalidSnatEntryId.NotFound", 404, func() error { return s.DeleteSnatEntry(ctx, "1", g.SnatTableID, "snat-nope") })
	refused(t, s, "delete via bob", "InvalidSnatTableId.NotFound", 404, func() error { return s.DeleteSnatEntry(ctx, "2", g.SnatTableID, inner.ID) })
	refused(t, s, "delete vSwitch that is a source", "DependencyViolation.SnatEntry", 400, func() error { return s.DeleteVSwitch(ctx, "1", "vsw-s") })
	if err := s.DeleteSnatEntry(ctx, "1", g.SnatTableID, inner.ID); err != nil {
		t.Fatal(err)
	}
}

func TestSnatEntryLimit(t *testing.T) {
	s := natFixture(t)
	ctx := context.Background()
	g := newNatGW(t, s, "1", CreateNatGatewayInput{VpcID: "vpc-1", VSwitchID: "vsw-a"})
	e := natEIP(t, s, "1", g.ID)
	for i := range SnatEntriesPerTable {
		if _, err := s.CreateSnatEntry(ctx, "1", CreateSnatEntryInput{SnatTableID: g.SnatTableID, SnatIP: e.Address.String(),
			SourceCIDR: fmt.Sprintf("10.0.%d.%d/32", 100+i/200, i%200)}); err != nil {
			t.Fatal(err)
		}
	}
	refused(t, s, "one too many", "Forbidden.SnatEntryCountLimited", 400, func() error {
		_, err := s.CreateSnatEntry(ctx, "1", CreateSnatEntryInput{SnatTableID: g.SnatTableID, SnatIP: e.Address.String(), SourceCIDR: "10.0.200.0/24"})
		return err
	})
}

func TestForwardEntries(t *testing.T) {
	s := natFixture(t)
	ctx := context.Background()
	g := newNatGW(t, s, "1", CreateNatGatewayInput{VpcID: "vpc-1", VSwitchID: "vsw-a"})
	other := newNatGW(t, s, "1", CreateNatGatewayInput{VpcID: "vpc-2", VSwitchID: "vsw-c"})
	bobGW := newNatGW(t, s, "2", CreateNatGatewayInput{VpcID: "vpc-x", VSwitchID: "vsw-x"})
	e1, eSnat, eMap := natEIP(t, s, "1", g.ID), natEIP(t, s, "1", g.ID), natEIP(t, s, "1", g.ID)
	eOther := natEIP(t, s, "1", other.ID)
	ip := func(e model.EIP) *string { return strp(e.Address.String()) }
	if _, err := s.CreateSnatEntry(ctx, "1", CreateSnatEntryInput{SnatTableID: g.SnatTableID, SnatIP: eSnat.Address.String(), SourceVSwitchID: "vsw-a"}); err != nil {
		t.Fatal(err)
	}
	web, err := s.CreateForwardEntry(ctx, "1", CreateForwardEntryInput{ForwardTableID: g.ForwardTableID, ForwardEntrySpec: ForwardEntrySpec{
		ExternalIP: ip(e1), ExternalPort: strp("443"), IpProtocol: strp("Tcp"), InternalIP: strp("10.0.2.5"), InternalPort: strp("8443"), Name: strp("web"), PortBreak: natBool(true)}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(web.ID, "fwd-") || web.IpProtocol != "TCP" || web.ExternalPort != 443 || web.InternalPort != 8443 || !web.PortBreak ||
		web.Status != "Available" || web.NatGatewayID != g.ID || web.VpcID != "vpc-1" {
		t.Fatalf("forward entry: %+v", web)
	}
	// The same port over UDP is another entry; a TCP port on the SNAT
	// address is fine (only IP mappings exclude SNAT).
	dns, err := s.CreateForwardEntry(ctx, "1", CreateForwardEntryInput{ForwardTableID: g.ForwardTableID, ForwardEntrySpec: ForwardEntrySpec{
		ExternalIP: ip(e1), ExternalPort: strp("443"), IpProtocol: strp("udp"), InternalIP: strp("10.0.2.5"), InternalPort: strp("443")}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateForwardEntry(ctx, "1", CreateForwardEntryInput{ForwardTableID: g.ForwardTableID, ForwardEntrySpec: ForwardEntrySpec{
		ExternalIP: ip(eSnat), ExternalPort: strp("22"), IpProtocol: strp("TCP"), InternalIP: strp("10.5.1.9"), InternalPort: strp("22")}}); err != nil {
		t.Fatal(err)
	}
	mapping, err := s.CreateForwardEntry(ctx, "1", CreateForwardEntryInput{ForwardTableID: g.ForwardTableID, ForwardEntrySpec: ForwardEntrySpec{
		ExternalIP: ip(eMap), ExternalPort: strp("any"), IpProtocol: strp("any"), InternalIP: strp("10.0.1.77"), InternalPort: strp("ANY")}})
	if err != nil {
		t.Fatal(err)
	}
	if mapping.IpProtocol != "Any" || mapping.ExternalPort != 0 || mapping.InternalPort != 0 || NatPortString(mapping.IpProtocol, mapping.ExternalPort) != "Any" {
		t.Fatalf("IP mapping: %+v", mapping)
	}
	full := ForwardEntrySpec{ExternalIP: ip(e1), ExternalPort: strp("80"), IpProtocol: strp("TCP"), InternalIP: strp("10.0.2.5"), InternalPort: strp("80")}
	with := func(f func(*ForwardEntrySpec)) CreateForwardEntryInput {
		x := full
		f(&x)
		return CreateForwardEntryInput{ForwardTableID: g.ForwardTableID, ForwardEntrySpec: x}
	}
	tests := []struct {
		name   string
		in     CreateForwardEntryInput
		code   string
		status int
	}{
		{"no table", CreateForwardEntryInput{ForwardEntrySpec: full}, "MissingParameter", 400},
		{"unknown table", CreateForwardEntryInput{ForwardTableID: "ftb-nope", ForwardEntrySpec: full}, "InvalidForwardTableId.NotFound", 404},
		{"bob's table", CreateForwardEntryInput{ForwardTableID: bobGW.ForwardTableID, ForwardEntrySpec: full}, "InvalidForwardTableId.NotFound", 404},
		{"snat table id", CreateForwardEntryInput{ForwardTableID: g.SnatTableID, ForwardEntrySpec: full}, "InvalidForwardTableId.NotFound", 404},
		{"no external ip", with(func(x *ForwardEntrySpec) { x.ExternalIP = nil }), "MissingParameter", 400},
		{"no external port", with(func(x *ForwardEntrySpec) { x.ExternalPort = strp("") }), "MissingParameter", 400},
		{"no protocol", with(func(x *ForwardEntrySpec) { x.IpProtocol = nil }), "MissingParameter", 400},
		{"no internal ip", with(func(x *ForwardEntrySpec) { x.InternalIP = nil }), "MissingParameter", 400},
		{"no internal port", with(func(x *ForwardEntrySpec) { x.InternalPort = nil }), "MissingParameter", 400},
		{"bad protocol", with(func(x *ForwardEntrySpec) { x.IpProtocol = strp("icmp") }), "InvalidProtocal.ValueNotSupported", 400},
		{"bad external ip", with(func(x *ForwardEntrySpec) { x.ExternalIP = strp("1.2.3") }), "InvalidExternalIp.Malformed", 400},
		{"ipv6 internal ip", with(func(x *ForwardEntrySpec) { x.InternalIP = strp("fd00::5") }), "InvalidInternalIp.Malformed", 400},
		{"port 0", with(func(x *ForwardEntrySpec) { x.ExternalPort = strp("0") }), "InvalidExternalPort.Malformed", 400},
		{"port too big", with(func(x *ForwardEntrySpec) { x.InternalPort = strp("65536") }), "InvalidInternalPort.Malformed", 400},
		{"port word", with(func(x *ForwardEntrySpec) { x.ExternalPort = strp("http") }), "InvalidExternalPort.Malformed", 400},
		{"port range", with(func(x *ForwardEntrySpec) { x.ExternalPort, x.InternalPort = strp("1000/1010"), strp("1000/1010") }), "OperationUnsupported.PortRange", 400},
		{"any port with tcp", with(func(x *ForwardEntrySpec) { x.ExternalPort = strp("Any") }), "InvalidExternalPort.Malformed", 400},
		{"any protocol with a port", with(func(x *ForwardEntrySpec) {
			x.ExternalIP, x.IpProtocol, x.ExternalPort = ip(eOther), strp("Any"), strp("Any")
		}), "InvalidInternalPort.Malformed", 400},
		{"ip of another gateway", with(func(x *ForwardEntrySpec) { x.ExternalIP = ip(eOther) }), "InvalidIp.NotInNatgw", 400},
		{"ip not an eip", with(func(x *ForwardEntrySpec) { x.ExternalIP = strp("203.0.113.9") }), "InvalidIp.NotInNatgw", 400},
		{"internal ip outside the vpc", with(func(x *ForwardEntrySpec) { x.InternalIP = strp("10.1.1.5") }), "Forbidden.InternalIpOutOfVpcCIDR", 400},
		{"internal ip in no vswitch", with(func(x *ForwardEntrySpec) { x.InternalIP = strp("10.0.9.5") }), "Forbidden.InternalIpOutOfVpcCIDR", 400},
		{"duplicate port", with(func(x *ForwardEntrySpec) { x.ExternalPort = strp("443") }), "InvalidForwardEntry.Duplicated", 400},
		{"port on a mapped ip", with(func(x *ForwardEntrySpec) { x.ExternalIP = ip(eMap) }), "InvalidForwardEntry.Duplicated", 400},
		{"mapping an ip with ports", with(func(x *ForwardEntrySpec) {
			x.IpProtocol, x.ExternalPort, x.InternalPort = strp("Any"), strp("Any"), strp("Any")
		}), "InvalidForwardEntry.Duplicated", 400},
		{"mapping the snat ip", with(func(x *ForwardEntrySpec) {
			x.ExternalIP, x.IpProtocol, x.ExternalPort, x.InternalPort = ip(eSnat), strp("Any"), strp("Any"), strp("Any")
		}), "Forbidden.ExternalIp.UsedInSnatTable", 400},
		{"bad name", with(func(x *ForwardEntrySpec) { x.Name = strp(strings.Repeat("x", 129)) }), "InvalidParameter.Name.Malformed", 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			refused(t, s, tc.name, tc.code, tc.status, func() error { _, err := s.CreateForwardEntry(ctx, "1", tc.in); return err })
		})
	}

	// Describe and its filters.
	for _, c := range []struct {
		q    ForwardEntryQuery
		want int
	}{
		{ForwardEntryQuery{}, 4},
		{ForwardEntryQuery{ForwardEntryID: web.ID}, 1},
		{ForwardEntryQuery{ExternalIP: e1.Address.String()}, 2},
		{ForwardEntryQuery{ExternalPort: "443"}, 2},
		{ForwardEntryQuery{ExternalPort: "Any"}, 1},
		{ForwardEntryQuery{InternalIP: "10.0.2.5", InternalPort: "8443"}, 1},
		{ForwardEntryQuery{IpProtocol: "udp"}, 1},
		{ForwardEntryQuery{IpProtocol: "ANY"}, 1},
		{ForwardEntryQuery{Name: "web"}, 1},
		{ForwardEntryQuery{NatGatewayID: other.ID}, 0},
	} {
		c.q.ForwardTableID = g.ForwardTableID
		got, err := s.DescribeForwardTableEntries(ctx, "1", c.q)
		if err != nil || len(got) != c.want {
			t.Errorf("DescribeForwardTableEntries %+v: %d entries, want %d (%v)", c.q, len(got), c.want, err)
		}
	}
	wantCode(t, "describe bad protocol", func() error {
		_, err := s.DescribeForwardTableEntries(ctx, "1", ForwardEntryQuery{ForwardTableID: g.ForwardTableID, IpProtocol: "gre"})
		return err
	}(), "InvalidProtocal.ValueNotSupported", 400)
	wantCode(t, "describe bob's table", func() error {
		_, err := s.DescribeForwardTableEntries(ctx, "1", ForwardEntryQuery{ForwardTableID: bobGW.ForwardTableID})
		return err
	}(), "InvalidForwardTableId.NotFound", 404)

	// Modify: checked as a whole, the entry itself excluded.
	if err := s.ModifyForwardEntry(ctx, "1", g.ForwardTableID, web.ID, ForwardEntrySpec{InternalPort: strp("9443"), Name: strp("web2")}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.DescribeForwardTableEntries(ctx, "1", ForwardEntryQuery{ForwardTableID: g.ForwardTableID, ForwardEntryID: web.ID}); len(got) != 1 ||
		got[0].InternalPort != 9443 || got[0].Name != "web2" || got[0].ExternalPort != 443 {
		t.Errorf("modified entry: %+v", got)
	}
	mods := []struct {
		name    string
		account string
		id      string
		x       ForwardEntrySpec
		code    string
		status  int
	}{
		{"onto the udp entry", "1", dns.ID, ForwardEntrySpec{IpProtocol: strp("TCP")}, "InvalidForwardEntry.Duplicated", 400},
		{"to any without ports", "1", dns.ID, ForwardEntrySpec{IpProtocol: strp("Any")}, "InvalidExternalPort.Malformed", 400},
		{"to tcp leaving Any ports", "1", mapping.ID, ForwardEntrySpec{IpProtocol: strp("TCP")}, "InvalidExternalPort.Malformed", 400},
		{"port range", "1", dns.ID, ForwardEntrySpec{InternalPort: strp("1/2")}, "OperationUnsupported.PortRange", 400},
		{"to another gateway's ip", "1", dns.ID, ForwardEntrySpec{ExternalIP: ip(eOther)}, "InvalidIp.NotInNatgw", 400},
		{"map the snat ip", "1", mapping.ID, ForwardEntrySpec{ExternalIP: ip(eSnat)}, "Forbidden.ExternalIp.UsedInSnatTable", 400},
		{"unknown entry", "1", "fwd-nope", ForwardEntrySpec{Name: strp("x")}, "InvalidForwardEntryId.NotFound", 404},
		{"bob", "2", web.ID, ForwardEntrySpec{Name: strp("x")}, "InvalidForwardTableId.NotFound", 404},
	}
	for _, m := range mods {
		refused(t, s, "modify "+m.name, m.code, m.status, func() error { return s.ModifyForwardEntry(ctx, m.account, g.ForwardTableID, m.id, m.x) })
	}
	// The IP mapping may become a port forward, then the address is free
	// for others.
	if err := s.ModifyForwardEntry(ctx, "1", g.ForwardTableID, mapping.ID, ForwardEntrySpec{IpProtocol: strp("udp"), ExternalPort: strp("53"), InternalPort: strp("53")}); err != nil {
		t.Fatal(err)
	}
	refused(t, s, "delete via the snat table", "InvalidForwardTableId.NotFound", 404, func() error { return s.DeleteForwardEntry(ctx, "1", g.SnatTableID, web.ID) })
	refused(t, s, "delete without id", "MissingParameter", 400, func() error { return s.DeleteForwardEntry(ctx, "1", g.ForwardTableID, "") })
	if err := s.DeleteForwardEntry(ctx, "1", g.ForwardTableID, web.ID); err != nil {
		t.Fatal(err)
	}
}

func TestNatRouteEntries(t *testing.T) {
	s := natFixture(t)
	ctx := context.Background()
	g := newNatGW(t, s, "1", CreateNatGatewayInput{VpcID: "vpc-1", VSwitchID: "vsw-a", IsCreateDefaultRoute: natBool(false)})
	g2 := newNatGW(t, s, "1", CreateNatGatewayInput{VpcID: "vpc-2", VSwitchID: "vsw-c"})
	bobGW := newNatGW(t, s, "2", CreateNatGatewayInput{VpcID: "vpc-x", VSwitchID: "vsw-x"})
	in := func(dst, hop string) CreateRouteEntryInput {
		return CreateRouteEntryInput{RouteTableID: "vtb-1", DestinationCidrBlock: dst, NextHopType: "natgateway", NextHopID: hop}
	}
	for _, c := range []struct {
		name   string
		in     CreateRouteEntryInput
		code   string
		status int
	}{
		{"inside the vpc", in("10.0.3.0/24", g.ID), "InvalidCidrBlock.Overlapped", 400},
		{"the vpc's block", in("10.0.0.0/16", g.ID), "InvalidCidrBlock.Overlapped", 400},
		{"inside the secondary block", in("10.5.0.0/24", g.ID), "InvalidCidrBlock.Overlapped", 400},
		{"ipv6", in("::/0", g.ID), "InvalidNextHopType.NotSupported", 400},
		{"gateway of another vpc", in("0.0.0.0/0", g2.ID), "InvalidNextHopId.VpcMismatch", 400},
		{"bob's gateway", in("0.0.0.0/0", bobGW.ID), "InvalidNextHopId.NotFound", 404},
		{"unknown gateway", in("0.0.0.0/0", "ngw-nope"), "InvalidNextHopId.NotFound", 404},
		{"no hop", in("0.0.0.0/0", ""), "MissingParameter", 400},
		{"unknown type", CreateRouteEntryInput{RouteTableID: "vtb-1", DestinationCidrBlock: "0.0.0.0/0", NextHopType: "Instance", NextHopID: "i-1"}, "InvalidNextHopType.NotSupported", 400},
	} {
		refused(t, s, c.name, c.code, c.status, func() error { _, err := s.CreateRouteEntry(ctx, "1", c.in); return err })
	}
	def, err := s.CreateRouteEntry(ctx, "1", in("0.0.0.0/0", g.ID))
	if err != nil || def.NextHopType != model.RouteNextHopNat || def.NextHopID != g.ID {
		t.Fatalf("default route: %+v %v", def, err)
	}
	if _, err := s.CreateRouteEntry(ctx, "1", in("10.0.0.0/8", g.ID)); err != nil {
		t.Errorf("a route covering the VPC: %v", err)
	}
	refused(t, s, "duplicate", "InvalidCIDRBlock.Duplicate", 400, func() error { _, err := s.CreateRouteEntry(ctx, "1", in("0.0.0.0/0", g.ID)); return err })
	// A gateway made later finds 0.0.0.0/0 taken.
	g3 := newNatGW(t, s, "1", CreateNatGatewayInput{VpcID: "vpc-1", VSwitchID: "vsw-b"})
	routes, _ := s.DescribeRouteEntryList(ctx, "1", RouteEntryQuery{RouteTableID: "vtb-1", NextHopType: "NatGateway"})
	if len(routes) != 2 {
		t.Fatalf("routes: %+v", routes)
	}
	if routes, _ := s.DescribeRouteEntryList(ctx, "1", RouteEntryQuery{RouteTableID: "vtb-1", NextHopID: g3.ID}); len(routes) != 0 {
		t.Errorf("routes to %s: %+v", g3.ID, routes)
	}
	// The entry may be deleted by hand; the gateway's delete takes the rest.
	if err := s.DeleteRouteEntry(ctx, "1", DeleteRouteEntryInput{RouteEntryID: def.ID}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteNatGateway(ctx, "1", g.ID, false); err != nil {
		t.Fatal(err)
	}
	if routes, _ := s.DescribeRouteEntryList(ctx, "1", RouteEntryQuery{RouteTableID: "vtb-1", RouteEntryType: "Custom"}); len(routes) != 0 {
		t.Errorf("routes left: %+v", routes)
	}
}

func TestNatTenantIsolation(t *testing.T) {
	s := natFixture(t)
	ctx := context.Background()
	g := newNatGW(t, s, "1", CreateNatGatewayInput{VpcID: "vpc-1", VSwitchID: "vsw-a"})
	e := natEIP(t, s, "1", g.ID)
	bobEIP := natEIP(t, s, "2", "")
	if list, err := s.DescribeNatGateways(ctx, "2", NatGatewayQuery{}); err != nil || len(list) != 0 {
		t.Errorf("bob sees %+v %v", list, err)
	}
	if list, err := s.DescribeNatGateways(ctx, "2", NatGatewayQuery{IDs: []string{g.ID}}); err != nil || len(list) != 0 {
		t.Errorf("bob sees %+v %v", list, err)
	}
	wantCode(t, "bob gets", func() error { _, err := s.GetNatGatewayAttribute(ctx, "2", g.ID); return err }(), "InvalidNatGatewayId.NotFound", 404)
	refused(t, s, "bob associates with alice's gateway", "InvalidNatGatewayId.NotFound", 404, func() error {
		return s.AssociateEipAddress(ctx, "2", bobEIP.ID, g.ID, "Nat", "")
	})
	refused(t, s, "bob unassociates alice's EIP", "InvalidAllocationId.NotFound", 404, func() error { return s.UnassociateEipAddress(ctx, "2", e.ID, "") })
	refused(t, s, "bob's snat", "InvalidSnatTableId.NotFound", 404, func() error {
		_, err := s.CreateSnatEntry(ctx, "2", CreateSnatEntryInput{SnatTableID: g.SnatTableID, SnatIP: e.Address.String(), SourceCIDR: "10.0.1.0/24"})
		return err
	})
	// The NAT type is chosen from the ID when InstanceType is left out;
	// a private address does not go with a NAT gateway.
	e2 := natEIP(t, s, "1", "")
	refused(t, s, "private ip with a gateway", "InvalidParameter", 400, func() error { return s.AssociateEipAddress(ctx, "1", e2.ID, g.ID, "", "10.0.1.9") })
	if err := s.AssociateEipAddress(ctx, "1", e2.ID, g.ID, "", ""); err != nil {
		t.Fatal(err)
	}
	if got := getEIPRecord(t, s, e2.ID); got.InstanceType != model.EIPInstanceNat || got.InstanceID != g.ID {
		t.Errorf("EIP associated by ID alone: %+v", got)
	}
}

// Elsewhere an EIP of a NAT gateway is one: Cloud Firewall's assets show
// it as NatEIP, bound to the gateway.
func TestNatEIPAsFirewallAsset(t *testing.T) {
	s := natFixture(t)
	ctx := context.Background()
	g := newNatGW(t, s, "1", CreateNatGatewayInput{VpcID: "vpc-1", VSwitchID: "vsw-a", Name: "egress"})
	e := natEIP(t, s, "1", g.ID)
	got, err := s.DescribeFirewallAssets(ctx, "1", AssetQuery{ResourceType: "NatEIP"})
	if err != nil || len(got) != 1 || got[0].ID != e.ID || got[0].InstanceName != "egress" || FirewallAssetResourceType(got[0].EIP) != "NatEIP" {
		t.Errorf("firewall assets: %+v %v", got, err)
	}
}
