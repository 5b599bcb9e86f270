package api_test

import (
	"slices"
	"strconv"
	"testing"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/cloudfw"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/vpc"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/vpcpeer"

	"github.com/palisade-project/palisade/internal/apitest"
	"github.com/palisade-project/palisade/internal/model"
)

func createPeer(t *testing.T, c *vpcpeer.Client, vpcID, accepting, accepter string) string {
	t.Helper()
	req := vpcpeer.CreateCreateVpcPeerConnectionRequest()
	req.VpcId, req.AcceptingVpcId, req.AcceptingRegionId, req.Name = vpcID, accepting, apitest.Region, "peer "+vpcID
	if accepter != "" {
		req.AcceptingAliUid = requests.Integer(accepter)
	}
	resp, err := c.CreateVpcPeerConnection(req)
	if err != nil {
		t.Fatalf("CreateVpcPeerConnection %s-%s: %v", vpcID, accepting, err)
	}
	if len(resp.InstanceId) < 5 || resp.InstanceId[:4] != "pcc-" || resp.RequestId == "" {
		t.Fatalf("CreateVpcPeerConnection: %+v", resp)
	}
	return resp.InstanceId
}

func getPeer(t *testing.T, c *vpcpeer.Client, id string) *vpcpeer.GetVpcPeerConnectionAttributeResponse {
	t.Helper()
	req := vpcpeer.CreateGetVpcPeerConnectionAttributeRequest()
	req.InstanceId = id
	resp, err := c.GetVpcPeerConnectionAttribute(req)
	if err != nil {
		t.Fatalf("GetVpcPeerConnectionAttribute %s: %v", id, err)
	}
	return resp
}

func TestVpcPeerSDK(t *testing.T) {
	env := apitest.Start(t)
	alice, bob, carol := env.NewAccount(t, "alice"), env.NewAccount(t, "bob"), env.NewAccount(t, "carol")
	pa, pb, pc := env.VpcPeer(t, alice), env.VpcPeer(t, bob), env.VpcPeer(t, carol)
	va, vb := env.VPC(t, alice), env.VPC(t, bob)
	a1 := createVPC(t, va, "10.0.0.0/16", "a1")
	a2 := createVPC(t, va, "10.1.0.0/16", "a2")
	b1 := createVPC(t, vb, "10.2.0.0/16", "b1")

	// Refusals: code and HTTP status; nothing written.
	before := env.Snapshot(t)
	for _, tc := range []struct {
		name   string
		mod    func(*vpcpeer.CreateVpcPeerConnectionRequest)
		status int
		code   string
	}{
		{"no vpc", func(r *vpcpeer.CreateVpcPeerConnectionRequest) { r.VpcId = "" }, 400, "MissingParameter"},
		{"itself", func(r *vpcpeer.CreateVpcPeerConnectionRequest) { r.AcceptingVpcId = a1 }, 400, "IllegalParam.AcceptingVpcId"},
		{"region", func(r *vpcpeer.CreateVpcPeerConnectionRequest) { r.AcceptingRegionId = "cn-hangzhou" }, 400, "IllegalParam.AcceptingRegionId"},
		{"uid", func(r *vpcpeer.CreateVpcPeerConnectionRequest) { r.AcceptingAliUid = "bob" }, 400, "IllegalParam.AcceptingAliUid"},
		{"other's vpc", func(r *vpcpeer.CreateVpcPeerConnectionRequest) { r.VpcId = b1 }, 404, "InvalidVpcId.NotFound"},
		{"accepter's vpc without uid", func(r *vpcpeer.CreateVpcPeerConnectionRequest) { r.AcceptingVpcId = b1 }, 404, "ResourceNotFound.AcceptingVpcId"},
		{"wrong uid", func(r *vpcpeer.CreateVpcPeerConnectionRequest) {
			r.AcceptingVpcId, r.AcceptingAliUid = b1, requests.Integer(carol.AccountID)
		}, 404, "ResourceNotFound.AcceptingVpcId"},
		{"dry run", func(r *vpcpeer.CreateVpcPeerConnectionRequest) { r.DryRun = "true" }, 400, "DryRunOperation"},
	} {
		req := vpcpeer.CreateCreateVpcPeerConnectionRequest()
		req.VpcId, req.AcceptingVpcId = a1, a2
		tc.mod(req)
		_, err := pa.CreateVpcPeerConnection(req)
		wantSDKErr(t, tc.name, err, tc.status, tc.code, "")
	}
	if after := env.Snapshot(t); len(after) != len(before) {
		t.Errorf("refused creates wrote %d records", len(after)-len(before))
	}

	// Same account: Activated at once; once only.
	same := createPeer(t, pa, a1, a2, "")
	if g := getPeer(t, pa, same); g.Status != "Activated" || g.Vpc.VpcId != a1 || g.AcceptingVpc.VpcId != a2 || g.Bandwidth != 1024 ||
		!slices.Equal(g.AcceptingVpc.Ipv4Cidrs, []string{"10.1.0.0/16"}) || g.RegionId != apitest.Region || g.Name != "peer "+a1 ||
		g.OwnerId == 0 || g.OwnerId != g.AcceptingOwnerUid || g.GmtCreate == "" {
		t.Errorf("same-account peering: %+v", g)
	}
	req := vpcpeer.CreateCreateVpcPeerConnectionRequest()
	req.VpcId, req.AcceptingVpcId = a2, a1
	_, err := pa.CreateVpcPeerConnection(req)
	wantSDKErr(t, "twice", err, 400, "ResourceAlreadyExist.VpcPeer", same)

	// Across accounts: Accepting; only bob answers; carol sees nothing.
	cross := createPeer(t, pa, a1, b1, bob.AccountID)
	if g := getPeer(t, pb, cross); g.Status != "Accepting" || g.AcceptingVpc.VpcId != b1 {
		t.Errorf("bob sees %+v", g)
	}
	acc := vpcpeer.CreateAcceptVpcPeerConnectionRequest()
	acc.InstanceId = cross
	_, err = pa.AcceptVpcPeerConnection(acc)
	wantSDKErr(t, "alice accepts", err, 403, "OperationDenied.AcceptingAccount", "")
	_, err = pc.AcceptVpcPeerConnection(acc)
	wantSDKErr(t, "carol accepts", err, 404, "ResourceNotFound.InstanceId", "")
	greq := vpcpeer.CreateGetVpcPeerConnectionAttributeRequest()
	greq.InstanceId = cross
	_, err = pc.GetVpcPeerConnectionAttribute(greq)
	wantSDKErr(t, "carol gets", err, 404, "ResourceNotFound.InstanceId", "")
	if _, err := pb.AcceptVpcPeerConnection(acc); err != nil {
		t.Fatalf("bob accepts: %v", err)
	}
	_, err = pb.AcceptVpcPeerConnection(acc)
	wantSDKErr(t, "accept twice", err, 400, "IncorrectStatus.VpcPeer", "")
	rej := vpcpeer.CreateRejectVpcPeerConnectionRequest()
	rej.InstanceId = cross
	_, err = pb.RejectVpcPeerConnection(rej)
	wantSDKErr(t, "reject activated", err, 400, "IncorrectStatus.VpcPeer", "")

	// Lists: filters, paging with NextToken.
	list := func(c *vpcpeer.Client, mod func(*vpcpeer.ListVpcPeerConnectionsRequest)) *vpcpeer.ListVpcPeerConnectionsResponse {
		t.Helper()
		req := vpcpeer.CreateListVpcPeerConnectionsRequest()
		if mod != nil {
			mod(req)
		}
		resp, err := c.ListVpcPeerConnections(req)
		if err != nil {
			t.Fatalf("ListVpcPeerConnections: %v", err)
		}
		return resp
	}
	if r := list(pa, nil); r.TotalCount != 2 || len(r.VpcPeerConnects) != 2 || r.VpcPeerConnects[0].InstanceId != same {
		t.Errorf("alice lists %+v", r)
	}
	if r := list(pb, nil); r.TotalCount != 1 || r.VpcPeerConnects[0].InstanceId != cross || r.VpcPeerConnects[0].Status != "Activated" {
		t.Errorf("bob lists %+v", r)
	}
	if r := list(pc, nil); r.TotalCount != 0 || len(r.VpcPeerConnects) != 0 {
		t.Errorf("carol lists %+v", r)
	}
	if r := list(pa, func(r *vpcpeer.ListVpcPeerConnectionsRequest) { r.VpcId = &[]string{b1} }); r.TotalCount != 1 || r.VpcPeerConnects[0].InstanceId != cross {
		t.Errorf("by VpcId: %+v", r)
	}
	first := list(pa, func(r *vpcpeer.ListVpcPeerConnectionsRequest) { r.MaxResults = "1" })
	if len(first.VpcPeerConnects) != 1 || first.NextToken == "" || first.MaxResults != 1 {
		t.Fatalf("page 1: %+v", first)
	}
	if second := list(pa, func(r *vpcpeer.ListVpcPeerConnectionsRequest) { r.MaxResults, r.NextToken = "1", first.NextToken }); len(second.VpcPeerConnects) != 1 ||
		second.VpcPeerConnects[0].InstanceId != cross || second.NextToken != "" {
		t.Errorf("page 2: %+v", second)
	}

	// Modify by either end.
	mod := vpcpeer.CreateModifyVpcPeerConnectionRequest()
	mod.InstanceId, mod.Name, mod.Bandwidth = cross, "shared", "100"
	if _, err := pb.ModifyVpcPeerConnection(mod); err != nil {
		t.Fatalf("bob modifies: %v", err)
	}
	if g := getPeer(t, pa, cross); g.Name != "shared" || g.Bandwidth != 100 {
		t.Errorf("after modify: %+v", g)
	}

	// Routes over it block its deletion (and the VPC's) until Force.
	rt := routeTableOf(t, va, a1)
	re := createRoute(t, va, rt, "10.2.0.0/16", cross)
	del := vpcpeer.CreateDeleteVpcPeerConnectionRequest()
	del.InstanceId = cross
	_, err = pb.DeleteVpcPeerConnection(del)
	wantSDKErr(t, "delete used", err, 403, "DependencyViolation.RouteEntry", re)
	dv := vpc.CreateDeleteVpcRequest()
	dv.VpcId, dv.ForceDelete = b1, "true"
	_, err = vb.DeleteVpc(dv)
	wantSDKErr(t, "delete peered vpc", err, 403, "DependencyViolation", cross)
	del.Force = "true"
	if _, err := pb.DeleteVpcPeerConnection(del); err != nil {
		t.Fatalf("bob deletes with Force: %v", err)
	}
	if entries := routeEntries(t, va, rt, nil); len(entries) != 0 {
		t.Errorf("entries after Force: %+v", entries)
	}
	if _, err := vb.DeleteVpc(dv); err != nil {
		t.Errorf("delete unpeered vpc: %v", err)
	}
}

func routeTableOf(t *testing.T, c *vpc.Client, vpcID string) string {
	t.Helper()
	req := vpc.CreateDescribeRouteTableListRequest()
	req.VpcId = vpcID
	resp, err := c.DescribeRouteTableList(req)
	if err != nil || len(resp.RouterTableList.RouterTableListType) != 1 || resp.TotalCount != 1 || !resp.Success {
		t.Fatalf("DescribeRouteTableList %s: %v %+v", vpcID, err, resp)
	}
	return resp.RouterTableList.RouterTableListType[0].RouteTableId
}

func createRoute(t *testing.T, c *vpc.Client, table, dst, hop string) string {
	t.Helper()
	req := vpc.CreateCreateRouteEntryRequest()
	req.RouteTableId, req.DestinationCidrBlock, req.NextHopType, req.NextHopId = table, dst, "VpcPeer", hop
	resp, err := c.CreateRouteEntry(req)
	if err != nil {
		t.Fatalf("CreateRouteEntry %s via %s: %v", dst, hop, err)
	}
	return resp.RouteEntryId
}

func routeEntries(t *testing.T, c *vpc.Client, table string, mod func(*vpc.DescribeRouteEntryListRequest)) []vpc.RouteEntry {
	t.Helper()
	req := vpc.CreateDescribeRouteEntryListRequest()
	req.RouteTableId = table
	if mod != nil {
		mod(req)
	}
	resp, err := c.DescribeRouteEntryList(req)
	if err != nil {
		t.Fatalf("DescribeRouteEntryList %s: %v", table, err)
	}
	return resp.RouteEntrys.RouteEntry
}

func TestRouteEntriesSDK(t *testing.T) {
	env := apitest.Start(t)
	alice, bob := env.NewAccount(t, "alice"), env.NewAccount(t, "bob")
	va, vb := env.VPC(t, alice), env.VPC(t, bob)
	a1 := createVPC(t, va, "10.0.0.0/16", "a1")
	vsw := createVSwitch(t, va, a1, "10.0.1.0/24")
	a2 := createVPC(t, va, "10.1.0.0/16", "a2")
	peer := createPeer(t, env.VpcPeer(t, alice), a1, a2, "")
	rt := routeTableOf(t, va, a1)
	// The table is the VPC's RouteTableId.
	dreq := vpc.CreateDescribeVpcsRequest()
	dreq.VpcId = a1
	if d, err := va.DescribeVpcs(dreq); err != nil || len(d.Vpcs.Vpc) != 1 || !slices.Contains(d.Vpcs.Vpc[0].RouterTableIds.RouterTableIds, rt) {
		t.Errorf("DescribeVpcs route table vs %s: %v %+v", rt, err, d)
	}
	tl := vpc.CreateDescribeRouteTableListRequest()
	tl.RouteTableId = rt
	if r, err := va.DescribeRouteTableList(tl); err != nil || len(r.RouterTableList.RouterTableListType) != 1 ||
		r.RouterTableList.RouterTableListType[0].RouteTableType != "System" || r.RouterTableList.RouterTableListType[0].VpcId != a1 ||
		!slices.Equal(r.RouterTableList.RouterTableListType[0].VSwitchIds.VSwitchId, []string{vsw}) {
		t.Errorf("DescribeRouteTableList: %v %+v", err, r)
	}
	if r, err := vb.DescribeRouteTableList(tl); err != nil || r.TotalCount != 0 {
		t.Errorf("bob sees alice's table: %v %+v", err, r)
	}

	for _, tc := range []struct {
		name                 string
		table, dst, typ, hop string
		status               int
		code                 string
	}{
		{"no table", "", "10.1.0.0/16", "VpcPeer", peer, 400, "MissingParameter"},
		{"instance hop", rt, "10.1.0.0/16", "Instance", "i-123", 400, "InvalidNextHopType.NotSupported"},
		{"malformed", rt, "10.1.0.0/40", "VpcPeer", peer, 400, "InvalidDestinationCidrBlock.Malformed"},
		{"host bits", rt, "10.1.0.7/16", "VpcPeer", peer, 400, "InvalidDestinationCidrBlock.Malformed"},
		{"own cidr", rt, "10.0.5.0/24", "VpcPeer", peer, 400, "InvalidCidrBlock.Overlapped"},
		{"no such hop", rt, "10.1.0.0/16", "VpcPeer", "pcc-nope", 404, "InvalidNextHopId.NotFound"},
		{"no such table", "vtb-nope", "10.1.0.0/16", "VpcPeer", peer, 404, "InvalidRouteTableId.NotFound"},
	} {
		req := vpc.CreateCreateRouteEntryRequest()
		req.RouteTableId, req.DestinationCidrBlock, req.NextHopType, req.NextHopId = tc.table, tc.dst, tc.typ, tc.hop
		_, err := va.CreateRouteEntry(req)
		wantSDKErr(t, tc.name, err, tc.status, tc.code, "")
	}
	// Bob cannot use alice's table.
	breq := vpc.CreateCreateRouteEntryRequest()
	breq.RouteTableId, breq.DestinationCidrBlock, breq.NextHopType, breq.NextHopId = rt, "10.1.0.0/16", "VpcPeer", peer
	_, err := vb.CreateRouteEntry(breq)
	wantSDKErr(t, "bob's route", err, 404, "InvalidRouteTableId.NotFound", "")

	id := createRoute(t, va, rt, "10.1.0.0/16", peer)
	_, err = va.CreateRouteEntry(breq)
	wantSDKErr(t, "duplicate", err, 400, "InvalidCIDRBlock.Duplicate", id)
	createRoute(t, va, rt, "10.1.8.0/24", peer)
	entries := routeEntries(t, va, rt, nil)
	if len(entries) != 3 || entries[0].Type != "System" || entries[0].NextHopType != "local" || entries[0].DestinationCidrBlock != "10.0.1.0/24" ||
		entries[1].RouteEntryId != id || entries[1].Type != "Custom" || entries[1].NextHopType != "VpcPeer" || entries[1].InstanceId != peer ||
		entries[1].Status != model.RouteAvailable || entries[1].RouteTableId != rt || len(entries[1].NextHops.NextHop) != 1 ||
		entries[1].NextHops.NextHop[0].NextHopId != peer {
		t.Errorf("entries: %+v", entries)
	}
	if e := routeEntries(t, va, rt, func(r *vpc.DescribeRouteEntryListRequest) { r.RouteEntryType = "Custom"; r.MaxResult = "20" }); len(e) != 2 {
		t.Errorf("custom entries: %+v", e)
	}
	lreq := vpc.CreateDescribeRouteEntryListRequest()
	lreq.RouteTableId = rt
	_, err = vb.DescribeRouteEntryList(lreq)
	wantSDKErr(t, "bob lists", err, 404, "InvalidRouteTableId.NotFound", "")

	// Delete: by ID, by table and destination; system entries stay.
	dreq2 := vpc.CreateDeleteRouteEntryRequest()
	dreq2.RouteEntryId = id
	_, err = vb.DeleteRouteEntry(dreq2)
	wantSDKErr(t, "bob deletes", err, 404, "InvalidRouteEntryId.NotFound", "")
	if _, err := va.DeleteRouteEntry(dreq2); err != nil {
		t.Fatalf("DeleteRouteEntry by ID: %v", err)
	}
	sys := vpc.CreateDeleteRouteEntryRequest()
	sys.RouteTableId, sys.DestinationCidrBlock = rt, "10.0.1.0/24"
	_, err = va.DeleteRouteEntry(sys)
	wantSDKErr(t, "system entry", err, 403, "OperationDenied.SystemRouteEntry", "")
	byDst := vpc.CreateDeleteRouteEntryRequest()
	byDst.RouteTableId, byDst.DestinationCidrBlock, byDst.NextHopId = rt, "10.1.8.0/24", peer
	if _, err := va.DeleteRouteEntry(byDst); err != nil {
		t.Fatalf("DeleteRouteEntry by destination: %v", err)
	}
	if e := routeEntries(t, va, rt, nil); len(e) != 1 || e[0].Type != "System" {
		t.Errorf("after deletes: %+v", e)
	}
}

// TestRouteEntriesIPv6SDK: IPv6 route entries through the SDK between two
// VPCs with IPv6: the vSwitch's IPv6 system entry, IpVersion on each entry
// and as a filter, the peering's Ipv6Cidrs, and the refusals.
func TestRouteEntriesIPv6SDK(t *testing.T) {
	env := apitest.Start(t)
	alice := env.NewAccount(t, "alice")
	va := env.VPC(t, alice)
	mk := func(cidr string, ipv6 bool) (string, string) {
		req := vpc.CreateCreateVpcRequest()
		req.CidrBlock, req.EnableIpv6 = cidr, requests.NewBoolean(ipv6)
		resp, err := va.CreateVpc(req)
		if err != nil {
			t.Fatalf("CreateVpc %s: %v", cidr, err)
		}
		d := vpc.CreateDescribeVpcsRequest()
		d.VpcId = resp.VpcId
		dr, err := va.DescribeVpcs(d)
		if err != nil || len(dr.Vpcs.Vpc) != 1 {
			t.Fatalf("DescribeVpcs: %v", err)
		}
		return resp.VpcId, dr.Vpcs.Vpc[0].Ipv6CidrBlock
	}
	a, a6 := mk("10.0.0.0/16", true)
	b, b6 := mk("10.1.0.0/16", true)
	c, _ := mk("10.2.0.0/16", false)
	vreq := vpc.CreateCreateVSwitchRequest()
	vreq.VpcId, vreq.CidrBlock, vreq.ZoneId, vreq.Ipv6CidrBlock = a, "10.0.1.0/24", "local-a", requests.NewInteger(3)
	if _, err := va.CreateVSwitch(vreq); err != nil {
		t.Fatalf("CreateVSwitch: %v", err)
	}
	ab, ac := createPeer(t, env.VpcPeer(t, alice), a, b, ""), createPeer(t, env.VpcPeer(t, alice), c, a, "")
	get := vpcpeer.CreateGetVpcPeerConnectionAttributeRequest()
	get.InstanceId = ab
	if g, err := env.VpcPeer(t, alice).GetVpcPeerConnectionAttribute(get); err != nil ||
		!slices.Equal(g.Vpc.Ipv6Cidrs, []string{a6}) || !slices.Equal(g.AcceptingVpc.Ipv6Cidrs, []string{b6}) {
		t.Errorf("Ipv6Cidrs %v %v, want [%s] [%s] (%v)", g.Vpc.Ipv6Cidrs, g.AcceptingVpc.Ipv6Cidrs, a6, b6, err)
	}
	rt := routeTableOf(t, va, a)
	for _, tc := range []struct {
		name, table, dst, hop string
		code                  string
	}{
		{"a VPC without IPv6", routeTableOf(t, va, c), b6, ac, "OperationFailed.VpcNotEnabledIpv6"},
		{"own IPv6 block", rt, a6, ab, "InvalidCidrBlock.Overlapped"},
		{"::/0", rt, "::/0", ab, "InvalidCidrBlock.Overlapped"},
		{"host bits", rt, "fd00::1/64", ab, "InvalidDestinationCidrBlock.Malformed"},
		{"link-local", rt, "fe80::/64", ab, "InvalidDestinationCidrBlock.Malformed"},
	} {
		req := vpc.CreateCreateRouteEntryRequest()
		req.RouteTableId, req.DestinationCidrBlock, req.NextHopType, req.NextHopId = tc.table, tc.dst, "VpcPeer", tc.hop
		_, err := va.CreateRouteEntry(req)
		wantSDKErr(t, tc.name, err, 400, tc.code, "")
	}
	id := createRoute(t, va, rt, b6, ab)
	createRoute(t, va, rt, "10.1.0.0/16", ab)
	var got []string
	for _, e := range routeEntries(t, va, rt, nil) {
		got = append(got, e.Type+" "+e.IpVersion)
	}
	if want := []string{"System IPv4", "System IPv6", "Custom IPv6", "Custom IPv4"}; !slices.Equal(got, want) {
		t.Errorf("entries: %v, want %v", got, want)
	}
	if e := routeEntries(t, va, rt, func(r *vpc.DescribeRouteEntryListRequest) { r.IpVersion = "IPv6"; r.RouteEntryType = "Custom" }); len(e) != 1 || e[0].RouteEntryId != id {
		t.Errorf("IPv6 custom entries: %+v", e)
	}
	if e := routeEntries(t, va, rt, func(r *vpc.DescribeRouteEntryListRequest) { r.IpVersion = "IPv4" }); len(e) != 2 {
		t.Errorf("IPv4 entries: %+v", e)
	}
}

func vfwPolicy(fw, order, label string) *cloudfw.CreateVpcFirewallControlPolicyRequest {
	req := cloudfw.CreateCreateVpcFirewallControlPolicyRequest()
	req.VpcFirewallId, req.NewOrder, req.Description = fw, order, label
	req.AclAction, req.Proto, req.ApplicationName = "drop", "TCP", "ANY"
	req.Source, req.SourceType, req.Destination, req.DestinationType = "10.0.0.0/16", "net", "10.2.0.0/16", "net"
	req.DestPortType, req.DestPort = "port", "22"
	return req
}

func vfwOrder(t *testing.T, c *cloudfw.Client, fw string) []string {
	t.Helper()
	req := cloudfw.CreateDescribeVpcFirewallControlPolicyRequest()
	req.VpcFirewallId, req.CurrentPage, req.PageSize = fw, "1", "100"
	resp, err := c.DescribeVpcFirewallControlPolicy(req)
	if err != nil {
		t.Fatalf("DescribeVpcFirewallControlPolicy: %v", err)
	}
	out := []string{}
	for i, p := range resp.Policys {
		if p.Order != i+1 {
			t.Errorf("%s has order %d at %d", p.Description, p.Order, i+1)
		}
		out = append(out, p.Description)
	}
	if resp.TotalCount != strconv.Itoa(len(out)) {
		t.Errorf("TotalCount %q for %d policies", resp.TotalCount, len(out))
	}
	return out
}

func TestVpcFirewallSDK(t *testing.T) {
	env := apitest.Start(t)
	alice, bob := env.NewAccount(t, "alice"), env.NewAccount(t, "bob")
	ca, cb := env.Cloudfw(t, alice), env.Cloudfw(t, bob)
	a1 := createVPC(t, env.VPC(t, alice), "10.0.0.0/16", "a1")
	b1 := createVPC(t, env.VPC(t, bob), "10.2.0.0/16", "b1")
	peer := createPeer(t, env.VpcPeer(t, alice), a1, b1, bob.AccountID)

	create := func(c *cloudfw.Client, local, remote, sw string) (string, error) {
		req := cloudfw.CreateCreateVpcFirewallConfigureRequest()
		req.VpcFirewallName, req.LocalVpcId, req.PeerVpcId, req.FirewallSwitch = "fw", local, remote, sw
		req.LocalVpcRegion, req.PeerVpcRegion, req.MemberUid = apitest.Region, apitest.Region, "123"
		resp, err := c.CreateVpcFirewallConfigure(req)
		if err != nil {
			return "", err
		}
		return resp.VpcFirewallId, nil
	}
	_, err := create(ca, a1, b1, "opened")
	wantSDKErr(t, "accepting peering", err, 400, "IncorrectStatus.VpcPeer", peer)
	acc := vpcpeer.CreateAcceptVpcPeerConnectionRequest()
	acc.InstanceId = peer
	if _, err := env.VpcPeer(t, bob).AcceptVpcPeerConnection(acc); err != nil {
		t.Fatal(err)
	}
	_, err = create(ca, a1, b1, "on")
	wantSDKErr(t, "bad switch", err, 400, "IllegalParam.FirewallSwitch", "")
	_, err = create(ca, b1, a1, "opened")
	wantSDKErr(t, "bob's vpc as local", err, 404, "ResourceNotFound.VpcId", "")
	fw, err := create(ca, a1, b1, "opened")
	if err != nil || len(fw) < 5 || fw[:4] != "vfw-" {
		t.Fatalf("CreateVpcFirewallConfigure: %q %v", fw, err)
	}
	_, err = create(cb, b1, a1, "closed")
	wantSDKErr(t, "second firewall", err, 400, "ResourceAlreadyExist.VpcFirewall", "")

	lreq := cloudfw.CreateDescribeVpcFirewallListRequest()
	lreq.CurrentPage, lreq.PageSize = "1", "10"
	l, err := ca.DescribeVpcFirewallList(lreq)
	if err != nil || l.TotalCount != 1 || len(l.VpcFirewalls) != 1 {
		t.Fatalf("DescribeVpcFirewallList: %v %+v", err, l)
	}
	f := l.VpcFirewalls[0]
	if f.VpcFirewallId != fw || f.FirewallSwitchStatus != "opened" || f.ConnectType != "peering" || f.LocalVpc.VpcId != a1 ||
		f.LocalVpc.VpcName != "a1" || f.PeerVpc.VpcId != b1 || f.PeerVpc.VpcName != "" || f.PeerVpc.OwnerId == 0 || f.Bandwidth != 1024 ||
		len(f.LocalVpc.VpcCidrTableList) != 1 || len(f.LocalVpc.VpcCidrTableList[0].RouteEntryList) != 1 ||
		f.LocalVpc.VpcCidrTableList[0].RouteEntryList[0].DestinationCidr != "10.0.0.0/16" {
		t.Errorf("firewall: %+v", f)
	}
	if l, err := cb.DescribeVpcFirewallList(lreq); err != nil || l.TotalCount != 0 {
		t.Errorf("bob lists: %v %+v", err, l)
	}
	sw := cloudfw.CreateModifyVpcFirewallSwitchStatusRequest()
	sw.VpcFirewallId, sw.FirewallSwitch = fw, "closed"
	_, err = cb.ModifyVpcFirewallSwitchStatus(sw)
	wantSDKErr(t, "bob switches", err, 404, "ResourceNotFound.VpcFirewall", "")
	if _, err := ca.ModifyVpcFirewallSwitchStatus(sw); err != nil {
		t.Fatal(err)
	}
	lreq.FirewallSwitchStatus = "closed"
	if l, err := ca.DescribeVpcFirewallList(lreq); err != nil || l.TotalCount != 1 || l.VpcFirewalls[0].FirewallSwitchStatus != "closed" {
		t.Errorf("closed: %v %+v", err, l)
	}

	// Policies: order, refusals, modify, delete.
	add := func(order, label string) string {
		t.Helper()
		resp, err := ca.CreateVpcFirewallControlPolicy(vfwPolicy(fw, order, label))
		if err != nil {
			t.Fatalf("CreateVpcFirewallControlPolicy %s: %v", label, err)
		}
		if len(resp.AclUuid) != 36 {
			t.Fatalf("AclUuid %q", resp.AclUuid)
		}
		return resp.AclUuid
	}
	b := add("-1", "b")
	a := add("1", "a")
	add("3", "c")
	if got := vfwOrder(t, ca, fw); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("order: %v", got)
	}
	for _, tc := range []struct {
		name   string
		mod    func(*cloudfw.CreateVpcFirewallControlPolicyRequest)
		status int
		code   string
	}{
		{"order", func(r *cloudfw.CreateVpcFirewallControlPolicyRequest) { r.NewOrder = "7" }, 400, "IllegalParam.NewOrder"},
		{"proto", func(r *cloudfw.CreateVpcFirewallControlPolicyRequest) { r.Proto = "GRE" }, 400, "IllegalParam.Proto"},
		{"source", func(r *cloudfw.CreateVpcFirewallControlPolicyRequest) { r.Source = "10.0.0.0/33" }, 400, "IllegalParam.Source"},
		{"app", func(r *cloudfw.CreateVpcFirewallControlPolicyRequest) { r.ApplicationName = "HTTP" }, 400, "OperationUnsupported.ApplicationName"},
		{"domain", func(r *cloudfw.CreateVpcFirewallControlPolicyRequest) {
			r.Destination, r.DestinationType = "example.com", "domain"
		}, 400, "OperationUnsupported.DestinationType"},
		{"no firewall", func(r *cloudfw.CreateVpcFirewallControlPolicyRequest) { r.VpcFirewallId = "" }, 400, "MissingParameter"},
		{"other firewall", func(r *cloudfw.CreateVpcFirewallControlPolicyRequest) { r.VpcFirewallId = "vfw-nope" }, 404, "ResourceNotFound.VpcFirewall"},
	} {
		req := vfwPolicy(fw, "1", "x")
		tc.mod(req)
		_, err := ca.CreateVpcFirewallControlPolicy(req)
		wantSDKErr(t, tc.name, err, tc.status, tc.code, "")
	}
	_, err = cb.CreateVpcFirewallControlPolicy(vfwPolicy(fw, "1", "x"))
	wantSDKErr(t, "bob adds", err, 404, "ResourceNotFound.VpcFirewall", "")

	mod := cloudfw.CreateModifyVpcFirewallControlPolicyRequest()
	mod.VpcFirewallId, mod.AclUuid, mod.AclAction, mod.Proto, mod.DestPort = fw, b, "accept", "UDP", "53"
	if _, err := ca.ModifyVpcFirewallControlPolicy(mod); err != nil {
		t.Fatalf("ModifyVpcFirewallControlPolicy: %v", err)
	}
	dq := cloudfw.CreateDescribeVpcFirewallControlPolicyRequest()
	dq.VpcFirewallId, dq.AclUuid, dq.CurrentPage, dq.PageSize = fw, b, "1", "10"
	if r, err := ca.DescribeVpcFirewallControlPolicy(dq); err != nil || len(r.Policys) != 1 || r.Policys[0].AclAction != "accept" ||
		r.Policys[0].Proto != "UDP" || r.Policys[0].DestPort != "53" || r.Policys[0].Order != 2 || r.Policys[0].Direction != "" {
		t.Errorf("after modify: %v %+v", err, r)
	}
	mod.VpcFirewallId = "vfw-nope"
	_, err = ca.ModifyVpcFirewallControlPolicy(mod)
	wantSDKErr(t, "modify elsewhere", err, 404, "ResourceNotFound.VpcFirewall", "")
	del := cloudfw.CreateDeleteVpcFirewallControlPolicyRequest()
	del.VpcFirewallId, del.AclUuid = fw, a
	if _, err := ca.DeleteVpcFirewallControlPolicy(del); err != nil {
		t.Fatal(err)
	}
	if got := vfwOrder(t, ca, fw); !slices.Equal(got, []string{"b", "c"}) {
		t.Errorf("after delete: %v", got)
	}
	_, err = ca.DeleteVpcFirewallControlPolicy(del)
	wantSDKErr(t, "delete twice", err, 404, "ResourceNotFound.ControlPolicy", "")

	// The peering cannot go while guarded; deleting the firewall deletes
	// its policies.
	pd := vpcpeer.CreateDeleteVpcPeerConnectionRequest()
	pd.InstanceId, pd.Force = peer, "true"
	_, err = env.VpcPeer(t, bob).DeleteVpcPeerConnection(pd)
	wantSDKErr(t, "delete guarded peering", err, 403, "DependencyViolation.VpcFirewall", fw)
	dfw := cloudfw.CreateDeleteVpcFirewallConfigureRequest()
	dfw.VpcFirewallIdList = &[]string{fw}
	_, err = cb.DeleteVpcFirewallConfigure(dfw)
	wantSDKErr(t, "bob deletes firewall", err, 404, "ResourceNotFound.VpcFirewall", "")
	if _, err := ca.DeleteVpcFirewallConfigure(dfw); err != nil {
		t.Fatal(err)
	}
	for k := range env.Snapshot(t) {
		if len(k) > len(model.PrefixVpcFirewallPolicy) && k[:len(model.PrefixVpcFirewallPolicy)] == model.PrefixVpcFirewallPolicy {
			t.Errorf("policy left: %s", k)
		}
	}
	if _, err := env.VpcPeer(t, bob).DeleteVpcPeerConnection(pd); err != nil {
		t.Errorf("delete peering: %v", err)
	}
}
