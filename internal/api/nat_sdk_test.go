package api_test

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/vpc"

	"github.com/palisade-project/palisade/internal/api"
	"github.com/palisade-project/palisade/internal/apitest"
)

// natNet is a VPC (10.0.0.0/16) with two vSwitches, and its route table.
type natNet struct{ vpc, table, vsw, vsw2 string }

func newNatNet(t *testing.T, c *vpc.Client, cidr, vswCidr, vswCidr2 string) natNet {
	t.Helper()
	req := vpc.CreateCreateVpcRequest()
	req.CidrBlock = cidr
	resp, err := c.CreateVpc(req)
	if err != nil {
		t.Fatalf("CreateVpc: %v", err)
	}
	n := natNet{vpc: resp.VpcId, table: resp.RouteTableId}
	n.vsw = createVSwitch(t, c, n.vpc, vswCidr)
	if vswCidr2 != "" {
		n.vsw2 = createVSwitch(t, c, n.vpc, vswCidr2)
	}
	return n
}

type natGW struct{ id, snatTable, fwdTable string }

func createNatGateway(t *testing.T, c *vpc.Client, vpcID, vswID string, f func(*vpc.CreateNatGatewayRequest)) natGW {
	t.Helper()
	req := vpc.CreateCreateNatGatewayRequest()
	req.VpcId, req.VSwitchId = vpcID, vswID
	if f != nil {
		f(req)
	}
	resp, err := c.CreateNatGateway(req)
	if err != nil {
		t.Fatalf("CreateNatGateway: %v", err)
	}
	if !strings.HasPrefix(resp.NatGatewayId, "ngw-") || len(resp.SnatTableIds.SnatTableId) != 1 || len(resp.ForwardTableIds.ForwardTableId) != 1 ||
		!strings.HasPrefix(resp.SnatTableIds.SnatTableId[0], "stb-") || !strings.HasPrefix(resp.ForwardTableIds.ForwardTableId[0], "ftb-") {
		t.Fatalf("CreateNatGateway: %+v", resp)
	}
	return natGW{resp.NatGatewayId, resp.SnatTableIds.SnatTableId[0], resp.ForwardTableIds.ForwardTableId[0]}
}

func associateNat(t *testing.T, c *vpc.Client, eip, gw string) {
	t.Helper()
	req := vpc.CreateAssociateEipAddressRequest()
	req.AllocationId, req.InstanceId, req.InstanceType = eip, gw, "Nat"
	if _, err := c.AssociateEipAddress(req); err != nil {
		t.Fatalf("AssociateEipAddress %s -> %s: %v", eip, gw, err)
	}
}

func describeNatGateway(t *testing.T, c *vpc.Client, id string) vpc.NatGateway {
	t.Helper()
	req := vpc.CreateDescribeNatGatewaysRequest()
	req.NatGatewayId = id
	resp, err := c.DescribeNatGateways(req)
	if err != nil || len(resp.NatGateways.NatGateway) != 1 || resp.TotalCount != 1 {
		t.Fatalf("DescribeNatGateways %s: %v %+v", id, err, resp)
	}
	return resp.NatGateways.NatGateway[0]
}

func customRoutes(t *testing.T, c *vpc.Client, table string) []vpc.RouteEntry {
	t.Helper()
	req := vpc.CreateDescribeRouteEntryListRequest()
	req.RouteTableId, req.RouteEntryType = table, "Custom"
	resp, err := c.DescribeRouteEntryList(req)
	if err != nil {
		t.Fatalf("DescribeRouteEntryList: %v", err)
	}
	return resp.RouteEntrys.RouteEntry
}

func TestNatGatewaySDK(t *testing.T) {
	env := apitest.Start(t)
	c := env.VPC(t, env.Admin)
	n := newNatNet(t, c, "10.0.0.0/16", "10.0.1.0/24", "10.0.2.0/24")
	gw := createNatGateway(t, c, n.vpc, n.vsw, func(r *vpc.CreateNatGatewayRequest) {
		r.Name, r.Description, r.NatType, r.Spec = "egress", "to the internet", "Enhanced", "Small"
		r.Tag = &[]vpc.CreateNatGatewayTag{{Key: "env", Value: "prod"}}
	})

	// The default route, in the VPC's table.
	routes := customRoutes(t, c, n.table)
	if len(routes) != 1 || routes[0].DestinationCidrBlock != "0.0.0.0/0" || routes[0].NextHopType != "NatGateway" || routes[0].InstanceId != gw.id ||
		routes[0].Type != "Custom" || routes[0].RouteTableId != n.table {
		t.Fatalf("routes: %+v", routes)
	}
	dv := vpc.CreateDescribeVpcsRequest()
	dv.VpcId = n.vpc
	if vpcs, err := c.DescribeVpcs(dv); err != nil || len(vpcs.Vpcs.Vpc) != 1 || !slices.Equal(vpcs.Vpcs.Vpc[0].NatGatewayIds.NatGatewayIds, []string{gw.id}) {
		t.Fatalf("DescribeVpcs NatGatewayIds: %v %+v", err, vpcs)
	}

	// EIPs: associated with the gateway (no agent: InUse at once).
	e1, a1 := allocateEIP(t, c)
	e2, a2 := allocateEIP(t, c)
	e3, a3 := allocateEIP(t, c)
	for _, e := range []string{e1, e2, e3} {
		associateNat(t, c, e, gw.id)
	}
	if got := describeEIP(t, c, e1); got.InstanceType != "Nat" || got.InstanceId != gw.id || got.Status != "InUse" || got.VpcId != n.vpc ||
		got.PrivateIpAddress != "" || got.Zone != "local-a" {
		t.Errorf("NAT EIP: %+v", got)
	}

	// SNAT for the first vSwitch, a port forward and an IP mapping.
	cs := vpc.CreateCreateSnatEntryRequest()
	cs.SnatTableId, cs.SnatIp, cs.SourceVSwitchId, cs.SnatEntryName, cs.EipAffinity = gw.snatTable, a1, n.vsw, "vsw-a", requests.NewInteger(1)
	snat, err := c.CreateSnatEntry(cs)
	if err != nil || !strings.HasPrefix(snat.SnatEntryId, "snat-") {
		t.Fatalf("CreateSnatEntry: %v %+v", err, snat)
	}
	cs2 := vpc.CreateCreateSnatEntryRequest()
	cs2.SnatTableId, cs2.SnatIp, cs2.SourceCIDR = gw.snatTable, a1, "10.0.2.16/28"
	snat2, err := c.CreateSnatEntry(cs2)
	if err != nil {
		t.Fatal(err)
	}
	cf := vpc.CreateCreateForwardEntryRequest()
	cf.ForwardTableId, cf.ExternalIp, cf.ExternalPort, cf.IpProtocol, cf.InternalIp, cf.InternalPort, cf.ForwardEntryName =
		gw.fwdTable, a2, "8080", "tcp", "10.0.1.10", "80", "web"
	fwd, err := c.CreateForwardEntry(cf)
	if err != nil || !strings.HasPrefix(fwd.ForwardEntryId, "fwd-") {
		t.Fatalf("CreateForwardEntry: %v %+v", err, fwd)
	}
	cm := vpc.CreateCreateForwardEntryRequest()
	cm.ForwardTableId, cm.ExternalIp, cm.ExternalPort, cm.IpProtocol, cm.InternalIp, cm.InternalPort = gw.fwdTable, a3, "Any", "Any", "10.0.2.20", "Any"
	mapping, err := c.CreateForwardEntry(cm)
	if err != nil {
		t.Fatalf("CreateForwardEntry (IP mapping): %v", err)
	}

	// Described back.
	g := describeNatGateway(t, c, gw.id)
	if g.Name != "egress" || g.Description != "to the internet" || g.Status != "Available" || g.VpcId != n.vpc || g.NatType != "Enhanced" ||
		g.NetworkType != "internet" || g.Spec != "Small" || g.InstanceChargeType != "PostPaid" || g.InternetChargeType != "PayByLcu" ||
		g.EipBindMode != "MULTI_BINDED" || !g.IcmpReplyEnabled || g.DeletionProtection || g.RegionId != apitest.Region || g.CreationTime == "" ||
		!slices.Equal(g.SnatTableIds.SnatTableId, []string{gw.snatTable}) || !slices.Equal(g.ForwardTableIds.ForwardTableId, []string{gw.fwdTable}) ||
		g.NatGatewayPrivateInfo.VswitchId != n.vsw || g.NatGatewayPrivateInfo.PrivateIpAddress != "10.0.1.1" || g.NatGatewayPrivateInfo.IzNo != "local-a" ||
		len(g.Tags.Tag) != 1 || g.Tags.Tag[0].Key != "env" || g.Tags.Tag[0].Value != "prod" {
		t.Errorf("DescribeNatGateways: %+v", g)
	}
	status := map[string]string{}
	for _, ip := range g.IpLists.IpList {
		status[ip.AllocationId] = ip.UsingStatus + "/" + ip.IpAddress
		if ip.SnatEntryEnabled != (ip.AllocationId == e1) {
			t.Errorf("IpList %+v: SnatEntryEnabled", ip)
		}
	}
	if want := map[string]string{e1: "UsedBySnatTable/" + a1, e2: "UsedByForwardTable/" + a2, e3: "UsedByForwardTable/" + a3}; !maps.Equal(status, want) {
		t.Errorf("IpLists: %v, want %v", status, want)
	}
	ga := vpc.CreateGetNatGatewayAttributeRequest()
	ga.NatGatewayId = gw.id
	attr, err := c.GetNatGatewayAttribute(ga)
	if err != nil || attr.NatGatewayId != gw.id || attr.SnatTable.SnatTableId != gw.snatTable || attr.SnatTable.SnatEntryCount != 2 ||
		attr.ForwardTable.ForwardTableId != gw.fwdTable || attr.ForwardTable.ForwardEntryCount != 2 || len(attr.IpList) != 3 ||
		attr.PrivateInfo.PrivateIpAddress != "10.0.1.1" || attr.PrivateInfo.VswitchId != n.vsw || attr.BillingConfig.InstanceChargeType != "PostPaid" {
		t.Errorf("GetNatGatewayAttribute: %v %+v", err, attr)
	}
	ds := vpc.CreateDescribeSnatTableEntriesRequest()
	ds.SnatTableId = gw.snatTable
	sl, err := c.DescribeSnatTableEntries(ds)
	if err != nil || sl.TotalCount != 2 || len(sl.SnatTableEntries.SnatTableEntry) != 2 {
		t.Fatalf("DescribeSnatTableEntries: %v %+v", err, sl)
	}
	if se := sl.SnatTableEntries.SnatTableEntry[0]; se.SnatEntryId != snat.SnatEntryId || se.SourceVSwitchId != n.vsw || se.SourceCIDR != "10.0.1.0/24" ||
		se.SnatIp != a1 || se.NatGatewayId != gw.id || se.SnatTableId != gw.snatTable || se.SnatEntryName != "vsw-a" || se.EipAffinity != "1" || se.Status != "Available" {
		t.Errorf("SNAT entry: %+v", se)
	}
	if se := sl.SnatTableEntries.SnatTableEntry[1]; se.SnatEntryId != snat2.SnatEntryId || se.SourceVSwitchId != "" || se.SourceCIDR != "10.0.2.16/28" {
		t.Errorf("SNAT entry by CIDR: %+v", se)
	}
	ds.SourceCIDR, ds.PageSize = "10.0.2.16/28", requests.NewInteger(1)
	if sl, err := c.DescribeSnatTableEntries(ds); err != nil || sl.TotalCount != 1 || sl.PageSize != 1 {
		t.Errorf("DescribeSnatTableEntries SourceCIDR: %v %+v", err, sl)
	}
	df := vpc.CreateDescribeForwardTableEntriesRequest()
	df.ForwardTableId = gw.fwdTable
	fl, err := c.DescribeForwardTableEntries(df)
	if err != nil || fl.TotalCount != 2 || len(fl.ForwardTableEntries.ForwardTableEntry) != 2 {
		t.Fatalf("DescribeForwardTableEntries: %v %+v", err, fl)
	}
	if fe := fl.ForwardTableEntries.ForwardTableEntry[0]; fe.ForwardEntryId != fwd.ForwardEntryId || fe.ExternalIp != a2 || fe.ExternalPort != "8080" ||
		fe.IpProtocol != "TCP" || fe.InternalIp != "10.0.1.10" || fe.InternalPort != "80" || fe.ForwardEntryName != "web" || fe.NatGatewayId != gw.id ||
		fe.ForwardTableId != gw.fwdTable || fe.Status != "Available" {
		t.Errorf("forward entry: %+v", fe)
	}
	if fe := fl.ForwardTableEntries.ForwardTableEntry[1]; fe.ForwardEntryId != mapping.ForwardEntryId || fe.IpProtocol != "Any" || fe.ExternalPort != "Any" || fe.InternalPort != "Any" {
		t.Errorf("IP mapping: %+v", fe)
	}
	df.IpProtocol = "any"
	if fl, err := c.DescribeForwardTableEntries(df); err != nil || fl.TotalCount != 1 {
		t.Errorf("DescribeForwardTableEntries IpProtocol: %v %+v", err, fl)
	}

	// Changes.
	mg := vpc.CreateModifyNatGatewayAttributeRequest()
	mg.NatGatewayId, mg.Name, mg.IcmpReplyEnabled = gw.id, "egress2", requests.NewBoolean(false)
	if _, err := c.ModifyNatGatewayAttribute(mg); err != nil {
		t.Fatal(err)
	}
	if g := describeNatGateway(t, c, gw.id); g.Name != "egress2" || g.IcmpReplyEnabled || g.Description != "to the internet" {
		t.Errorf("after ModifyNatGatewayAttribute: %+v", g)
	}
	ms := vpc.CreateModifySnatEntryRequest()
	ms.SnatTableId, ms.SnatEntryId, ms.SnatEntryName = gw.snatTable, snat2.SnatEntryId, "small"
	if _, err := c.ModifySnatEntry(ms); err != nil {
		t.Fatal(err)
	}
	mf := vpc.CreateModifyForwardEntryRequest()
	mf.ForwardTableId, mf.ForwardEntryId, mf.ExternalPort = gw.fwdTable, fwd.ForwardEntryId, "8443"
	if _, err := c.ModifyForwardEntry(mf); err != nil {
		t.Fatal(err)
	}
	df = vpc.CreateDescribeForwardTableEntriesRequest() // a used request keeps its parameters
	df.ForwardTableId, df.ExternalPort = gw.fwdTable, "8443"
	if fl, err := c.DescribeForwardTableEntries(df); err != nil || fl.TotalCount != 1 || fl.ForwardTableEntries.ForwardTableEntry[0].InternalPort != "80" {
		t.Errorf("after ModifyForwardEntry: %v %+v", err, fl)
	}

	// Refusals, each leaving the store as it was.
	other := newNatNet(t, c, "10.1.0.0/16", "10.1.1.0/24", "")
	ogw := createNatGateway(t, c, other.vpc, other.vsw, nil)
	eo, ao := allocateEIP(t, c)
	associateNat(t, c, eo, ogw.id)
	eFree, aFree := allocateEIP(t, c)
	bob := env.NewAccount(t, "bob")
	bobEIP, _ := allocateEIP(t, env.VPC(t, bob))
	alice := env.Admin
	type call struct {
		name, action string
		who          apitest.Creds
		params       map[string]string
		status       int
		code         string
	}
	p := func(kv ...string) map[string]string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	fwdParams := func(kv ...string) map[string]string {
		m := p("ForwardTableId", gw.fwdTable, "ExternalIp", a2, "ExternalPort", "9000", "IpProtocol", "TCP", "InternalIp", "10.0.1.11", "InternalPort", "9000")
		maps.Copy(m, p(kv...))
		return m
	}
	snatParams := func(kv ...string) map[string]string {
		m := p("SnatTableId", gw.snatTable, "SnatIp", a1, "SourceCIDR", "10.0.1.128/25")
		maps.Copy(m, p(kv...))
		return m
	}
	calls := []call{
		{"gw missing vpc", "CreateNatGateway", alice, p("VSwitchId", n.vsw), 400, "MissingParameter"},
		{"gw missing vswitch", "CreateNatGateway", alice, p("VpcId", n.vpc), 400, "MissingParameter"},
		{"gw normal", "CreateNatGateway", alice, p("VpcId", n.vpc, "VSwitchId", n.vsw, "NatType", "Normal"), 400, "OperationUnsupported.NatType"},
		{"gw intranet", "CreateNatGateway", alice, p("VpcId", n.vpc, "VSwitchId", n.vsw, "NetworkType", "intranet"), 400, "OperationUnsupported.NetworkType"},
		{"gw prepaid", "CreateNatGateway", alice, p("VpcId", n.vpc, "VSwitchId", n.vsw, "InstanceChargeType", "PrePaid"), 400, "OperationUnsupported.InstanceChargeType"},
		{"gw bad bool", "CreateNatGateway", alice, p("VpcId", n.vpc, "VSwitchId", n.vsw, "IcmpReplyEnabled", "maybe"), 400, "InvalidParameter"},
		{"gw bad name", "CreateNatGateway", alice, p("VpcId", n.vpc, "VSwitchId", n.vsw, "Name", "http://x"), 400, "InvalidParameter.Name.Malformed"},
		{"gw bandwidth package", "CreateNatGateway", alice, p("VpcId", n.vpc, "VSwitchId", n.vsw, "BandwidthPackage.1.IpCount", "1"), 400, "OperationUnsupported.BandwidthPackage"},
		{"gw unknown vpc", "CreateNatGateway", alice, p("VpcId", "vpc-nope", "VSwitchId", n.vsw), 404, "InvalidVpcId.NotFound"},
		{"gw vswitch of another vpc", "CreateNatGateway", alice, p("VpcId", n.vpc, "VSwitchId", other.vsw), 400, "InvalidVSwitchId.VpcMismatch"},
		{"gw in bob's vpc", "CreateNatGateway", bob, p("VpcId", n.vpc, "VSwitchId", n.vsw), 404, "InvalidVpcId.NotFound"},
		{"describe page size", "DescribeNatGateways", alice, p("PageSize", "51"), 400, "InvalidParameter"},
		{"get unknown", "GetNatGatewayAttribute", alice, p("NatGatewayId", "ngw-nope"), 404, "InvalidNatGatewayId.NotFound"},
		{"get bob", "GetNatGatewayAttribute", bob, p("NatGatewayId", gw.id), 404, "InvalidNatGatewayId.NotFound"},
		{"modify bob", "ModifyNatGatewayAttribute", bob, p("NatGatewayId", gw.id, "Name", "x"), 404, "InvalidNatGatewayId.NotFound"},
		{"modify session log", "ModifyNatGatewayAttribute", alice, p("NatGatewayId", gw.id, "EnableSessionLog", "true"), 400, "OperationUnsupported.EnableSessionLog"},
		{"delete without force", "DeleteNatGateway", alice, p("NatGatewayId", gw.id), 400, "DependencyViolation.SnatEntry"},
		{"delete bob", "DeleteNatGateway", bob, p("NatGatewayId", gw.id, "Force", "true"), 404, "InvalidNatGatewayId.NotFound"},
		{"delete missing id", "DeleteNatGateway", alice, p(), 400, "MissingParameter"},
		{"delete vpc", "DeleteVpc", alice, p("VpcId", n.vpc, "ForceDelete", "true"), 400, "DependencyViolation.EnhancedNatgw"},
		{"delete vswitch", "DeleteVSwitch", alice, p("VSwitchId", n.vsw), 400, "DependencyViolation.EnhancedNatgw"},
		{"associate unknown gateway", "AssociateEipAddress", alice, p("AllocationId", eFree, "InstanceId", "ngw-nope", "InstanceType", "Nat"), 404, "InvalidNatGatewayId.NotFound"},
		{"associate with bob's eip", "AssociateEipAddress", bob, p("AllocationId", bobEIP, "InstanceId", gw.id, "InstanceType", "Nat"), 404, "InvalidNatGatewayId.NotFound"},
		{"associate a busy eip", "AssociateEipAddress", alice, p("AllocationId", e1, "InstanceId", ogw.id, "InstanceType", "Nat"), 403, "IncorrectEipStatus"},
		{"unassociate snat ip", "UnassociateEipAddress", alice, p("AllocationId", e1), 400, "InvalidIpStatus.HasBeenUsedBySnatTable"},
		{"unassociate dnat ip", "UnassociateEipAddress", alice, p("AllocationId", e2, "InstanceId", gw.id), 400, "InvalidIpStatus.HasBeenUsedByForwardEntry"},
		{"snat missing table", "CreateSnatEntry", alice, p("SnatIp", a1, "SourceCIDR", "10.0.1.0/25"), 400, "MissingParameter"},
		{"snat unknown table", "CreateSnatEntry", alice, snatParams("SnatTableId", "stb-nope"), 404, "InvalidSnatTableId.NotFound"},
		{"snat bob", "CreateSnatEntry", bob, snatParams(), 404, "InvalidSnatTableId.NotFound"},
		{"snat missing ip", "CreateSnatEntry", alice, p("SnatTableId", gw.snatTable, "SourceCIDR", "10.0.1.0/25"), 400, "MissingParameter"},
		{"snat bad ip", "CreateSnatEntry", alice, snatParams("SnatIp", "not-an-ip"), 400, "InvalidSnatIp.Malformed"},
		{"snat ip of another gateway", "CreateSnatEntry", alice, snatParams("SnatIp", ao), 404, "InvalidSnatIp.NotFound"},
		{"snat unassociated ip", "CreateSnatEntry", alice, snatParams("SnatIp", aFree), 404, "InvalidSnatIp.NotFound"},
		{"snat ip-mapped ip", "CreateSnatEntry", alice, snatParams("SnatIp", a3), 400, "Forbidden.IpUsedInForwardTable"},
		{"snat both sources", "CreateSnatEntry", alice, snatParams("SourceVSwitchId", n.vsw2), 400, "InvalidParameter"},
		{"snat no source", "CreateSnatEntry", alice, p("SnatTableId", gw.snatTable, "SnatIp", a1), 400, "MissingParameter"},
		{"snat eni", "CreateSnatEntry", alice, snatParams("NetworkInterfaceId", "eni-1"), 400, "OperationUnsupported.NetworkInterfaceId"},
		{"snat vswitch twice", "CreateSnatEntry", alice, p("SnatTableId", gw.snatTable, "SnatIp", a1, "SourceVSwitchId", n.vsw), 400, "Forbidden.SourceVSwitchId.Duplicated"},
		{"snat cidr twice", "CreateSnatEntry", alice, snatParams("SourceCIDR", "10.0.2.16/28"), 400, "Forbidden.SourceVSwitchId.Duplicated"},
		{"snat cidr outside", "CreateSnatEntry", alice, snatParams("SourceCIDR", "192.168.0.0/24"), 400, "NOT_ALLOW_USE_SOURCECIDR"},
		{"snat cidr host bits", "CreateSnatEntry", alice, snatParams("SourceCIDR", "10.0.1.1/24"), 400, "InvalidSourceCIDR.Malformed"},
		{"snat vswitch of another vpc", "CreateSnatEntry", alice, p("SnatTableId", gw.snatTable, "SnatIp", a1, "SourceVSwitchId", other.vsw), 400, "InvalidVSwitchId.VpcMismatch"},
		{"snat affinity word", "CreateSnatEntry", alice, snatParams("EipAffinity", "yes"), 400, "InvalidParameter"},
		{"snat modify bob", "ModifySnatEntry", bob, p("SnatTableId", gw.snatTable, "SnatEntryId", snat.SnatEntryId, "SnatEntryName", "x"), 404, "InvalidSnatTableId.NotFound"},
		{"snat modify unknown", "ModifySnatEntry", alice, p("SnatTableId", gw.snatTable, "SnatEntryId", "snat-nope", "SnatEntryName", "x"), 404, "InvalidSnatEntryId.NotFound"},
		{"snat modify mapped ip", "ModifySnatEntry", alice, p("SnatTableId", gw.snatTable, "SnatEntryId", snat.SnatEntryId, "SnatIp", a3), 400, "Forbidden.IpUsedInForwardTable"},
		{"snat delete bob", "DeleteSnatEntry", bob, p("SnatTableId", gw.snatTable, "SnatEntryId", snat.SnatEntryId), 404, "InvalidSnatTableId.NotFound"},
		{"snat delete other table", "DeleteSnatEntry", alice, p("SnatTableId", ogw.snatTable, "SnatEntryId", snat.SnatEntryId), 404, "InvalidSnatEntryId.NotFound"},
		{"snat describe missing table", "DescribeSnatTableEntries", alice, p(), 400, "MissingParameter"},
		{"snat describe bob", "DescribeSnatTableEntries", bob, p("SnatTableId", gw.snatTable), 404, "InvalidSnatTableId.NotFound"},
		{"fwd missing port", "CreateForwardEntry", alice, p("ForwardTableId", gw.fwdTable, "ExternalIp", a2, "IpProtocol", "TCP", "InternalIp", "10.0.1.11", "InternalPort", "80"), 400, "MissingParameter"},
		{"fwd unknown table", "CreateForwardEntry", alice, fwdParams("ForwardTableId", "ftb-nope"), 404, "InvalidForwardTableId.NotFound"},
		{"fwd bob", "CreateForwardEntry", bob, fwdParams(), 404, "InvalidForwardTableId.NotFound"},
		{"fwd port range", "CreateForwardEntry", alice, fwdParams("ExternalPort", "1000/1010", "InternalPort", "1000/1010"), 400, "OperationUnsupported.PortRange"},
		{"fwd port 0", "CreateForwardEntry", alice, fwdParams("ExternalPort", "0"), 400, "InvalidExternalPort.Malformed"},
		{"fwd any port with tcp", "CreateForwardEntry", alice, fwdParams("InternalPort", "Any"), 400, "InvalidInternalPort.Malformed"},
		{"fwd any protocol with a port", "CreateForwardEntry", alice, fwdParams("ExternalIp", aFree, "IpProtocol", "Any", "ExternalPort", "Any"), 400, "InvalidInternalPort.Malformed"},
		{"fwd protocol", "CreateForwardEntry", alice, fwdParams("IpProtocol", "ICMP"), 400, "InvalidProtocal.ValueNotSupported"},
		{"fwd bad external ip", "CreateForwardEntry", alice, fwdParams("ExternalIp", "1.2.3.4.5"), 400, "InvalidExternalIp.Malformed"},
		{"fwd ip of another gateway", "CreateForwardEntry", alice, fwdParams("ExternalIp", ao), 400, "InvalidIp.NotInNatgw"},
		{"fwd internal ip outside", "CreateForwardEntry", alice, fwdParams("InternalIp", "10.1.1.5"), 400, "Forbidden.InternalIpOutOfVpcCIDR"},
		{"fwd duplicate", "CreateForwardEntry", alice, fwdParams("ExternalPort", "8443"), 400, "InvalidForwardEntry.Duplicated"},
		{"fwd port on a mapped ip", "CreateForwardEntry", alice, fwdParams("ExternalIp", a3), 400, "InvalidForwardEntry.Duplicated"},
		{"fwd map a forwarded ip", "CreateForwardEntry", alice, fwdParams("IpProtocol", "Any", "ExternalPort", "Any", "InternalPort", "Any"), 400, "InvalidForwardEntry.Duplicated"},
		{"fwd map the snat ip", "CreateForwardEntry", alice, fwdParams("ExternalIp", a1, "IpProtocol", "Any", "ExternalPort", "Any", "InternalPort", "Any"), 400, "Forbidden.ExternalIp.UsedInSnatTable"},
		{"fwd modify to a range", "ModifyForwardEntry", alice, p("ForwardTableId", gw.fwdTable, "ForwardEntryId", fwd.ForwardEntryId, "ExternalPort", "1/9"), 400, "OperationUnsupported.PortRange"},
		{"fwd modify bob", "ModifyForwardEntry", bob, p("ForwardTableId", gw.fwdTable, "ForwardEntryId", fwd.ForwardEntryId, "ForwardEntryName", "x"), 404, "InvalidForwardTableId.NotFound"},
		{"fwd delete unknown", "DeleteForwardEntry", alice, p("ForwardTableId", gw.fwdTable, "ForwardEntryId", "fwd-nope"), 404, "InvalidForwardEntryId.NotFound"},
		{"fwd describe bob", "DescribeForwardTableEntries", bob, p("ForwardTableId", gw.fwdTable), 404, "InvalidForwardTableId.NotFound"},
		{"route duplicate default", "CreateRouteEntry", alice, p("RouteTableId", n.table, "DestinationCidrBlock", "0.0.0.0/0", "NextHopType", "NatGateway", "NextHopId", gw.id), 400, "InvalidCIDRBlock.Duplicate"},
		{"route to another vpc's gateway", "CreateRouteEntry", alice, p("RouteTableId", n.table, "DestinationCidrBlock", "192.0.2.0/24", "NextHopType", "NatGateway", "NextHopId", ogw.id), 400, "InvalidNextHopId.VpcMismatch"},
		{"route inside the vpc", "CreateRouteEntry", alice, p("RouteTableId", n.table, "DestinationCidrBlock", "10.0.9.0/24", "NextHopType", "NatGateway", "NextHopId", gw.id), 400, "InvalidCidrBlock.Overlapped"},
	}
	for _, tc := range calls {
		t.Run(tc.name, func(t *testing.T) {
			before := env.Snapshot(t)
			_, err := env.Common(t, tc.who, api.VersionVPC, tc.action, tc.params)
			if err == nil {
				t.Fatalf("%s %v succeeded", tc.action, tc.params)
			}
			st, code := apitest.ServerErr(t, err)
			if code != tc.code || st != tc.status {
				t.Errorf("%s: got %d %s, want %d %s (%v)", tc.action, st, code, tc.status, tc.code, err)
			}
			if after := env.Snapshot(t); !maps.Equal(before, after) {
				t.Errorf("%s changed the store on error", tc.action)
			}
		})
	}

	// Bob sees none of it.
	bc := env.VPC(t, bob)
	if resp, err := bc.DescribeNatGateways(vpc.CreateDescribeNatGatewaysRequest()); err != nil || resp.TotalCount != 0 || len(resp.NatGateways.NatGateway) != 0 {
		t.Errorf("bob's DescribeNatGateways: %v %+v", err, resp)
	}

	// A route to the gateway by hand, then a forced delete takes the
	// entries, the EIPs' association and every route to it.
	cr := vpc.CreateCreateRouteEntryRequest()
	cr.RouteTableId, cr.DestinationCidrBlock, cr.NextHopType, cr.NextHopId = n.table, "198.51.100.0/24", "NatGateway", gw.id
	if _, err := c.CreateRouteEntry(cr); err != nil {
		t.Fatal(err)
	}
	if got := customRoutes(t, c, n.table); len(got) != 2 {
		t.Fatalf("routes: %+v", got)
	}
	del := vpc.CreateDeleteNatGatewayRequest()
	del.NatGatewayId, del.Force = gw.id, requests.NewBoolean(true)
	if _, err := c.DeleteNatGateway(del); err != nil {
		t.Fatal(err)
	}
	if got := customRoutes(t, c, n.table); len(got) != 0 {
		t.Errorf("routes after the gateway: %+v", got)
	}
	for _, e := range []string{e1, e2, e3} {
		if got := describeEIP(t, c, e); got.Status != "Available" || got.InstanceId != "" || got.InstanceType != "" {
			t.Errorf("EIP after a forced delete: %+v", got)
		}
	}
	for k, v := range env.Snapshot(t) {
		for _, id := range []string{gw.id, gw.snatTable, gw.fwdTable, snat.SnatEntryId, fwd.ForwardEntryId} {
			if strings.Contains(k, id) || strings.Contains(v, id) {
				t.Errorf("%s left after the gateway: %s = %s", id, k, v)
			}
		}
	}
	if vpcs, err := c.DescribeVpcs(dv); err != nil || len(vpcs.Vpcs.Vpc[0].NatGatewayIds.NatGatewayIds) != 0 {
		t.Errorf("DescribeVpcs after the gateway: %v %+v", err, vpcs)
	}
	dsw := vpc.CreateDeleteVSwitchRequest()
	dsw.VSwitchId = n.vsw
	if _, err := c.DeleteVSwitch(dsw); err != nil {
		t.Errorf("DeleteVSwitch after the gateway: %v", err)
	}

	// Without Force, once emptied: the other gateway.
	un := vpc.CreateUnassociateEipAddressRequest()
	un.AllocationId = eo
	if _, err := c.UnassociateEipAddress(un); err != nil {
		t.Fatal(err)
	}
	del = vpc.CreateDeleteNatGatewayRequest()
	del.NatGatewayId = ogw.id
	if _, err := c.DeleteNatGateway(del); err != nil {
		t.Fatal(err)
	}
	if got := customRoutes(t, c, other.table); len(got) != 0 {
		t.Errorf("routes of the other VPC: %+v", got)
	}
}

// The gateway's address comes from the vSwitch's IPAM like an ENI's: an
// instance cannot take it, and it is free again after the gateway.
func TestNatGatewayAddressSDK(t *testing.T) {
	env := apitest.Start(t)
	c, e := env.VPC(t, env.Admin), env.ECS(t, env.Admin)
	n := newNet(t, env, env.Admin, "10.0.0.0/16", "10.0.1.0/24")
	gw := createNatGateway(t, c, n.vpc, n.vsw, func(r *vpc.CreateNatGatewayRequest) { r.IsCreateDefaultRoute = requests.NewBoolean(false) })
	g := describeNatGateway(t, c, gw.id)
	addr := g.NatGatewayPrivateInfo.PrivateIpAddress
	if addr != "10.0.1.1" {
		t.Fatalf("gateway address %q", addr)
	}
	run := func() error {
		req := ecs.CreateRunInstancesRequest()
		req.ImageId, req.InstanceType, req.VSwitchId, req.SecurityGroupId, req.PrivateIpAddress = "ubuntu_24_04_x64", "ecs.g7.large", n.vsw, n.sg, addr
		_, err := e.RunInstances(req)
		return err
	}
	if err := run(); err == nil {
		t.Fatal("an instance took the gateway's address")
	} else if _, code := apitest.ServerErr(t, err); code != "InvalidPrivateIpAddress.Duplicated" {
		t.Errorf("instance on the gateway's address: %s", code)
	}
	del := vpc.CreateDeleteNatGatewayRequest()
	del.NatGatewayId = gw.id
	if _, err := c.DeleteNatGateway(del); err != nil {
		t.Fatal(err)
	}
	if err := run(); err != nil {
		t.Errorf("the address was not given back: %v", err)
	}
}
