package api_test

import (
	"maps"
	"net/netip"
	"strings"
	"testing"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/vpc"

	"github.com/palisade-project/palisade/internal/api"
	"github.com/palisade-project/palisade/internal/apitest"
	"github.com/palisade-project/palisade/internal/service"
)

func createVPC(t *testing.T, c *vpc.Client, cidr, name string) string {
	t.Helper()
	req := vpc.CreateCreateVpcRequest()
	req.CidrBlock, req.VpcName = cidr, name
	resp, err := c.CreateVpc(req)
	if err != nil {
		t.Fatalf("CreateVpc %s: %v", cidr, err)
	}
	if !strings.HasPrefix(resp.VpcId, "vpc-") || resp.VRouterId == "" || resp.RouteTableId == "" {
		t.Fatalf("CreateVpc: %+v", resp)
	}
	return resp.VpcId
}

func createVSwitch(t *testing.T, c *vpc.Client, vpcID, cidr string) string {
	t.Helper()
	req := vpc.CreateCreateVSwitchRequest()
	req.VpcId, req.CidrBlock, req.ZoneId = vpcID, cidr, "local-a"
	resp, err := c.CreateVSwitch(req)
	if err != nil {
		t.Fatalf("CreateVSwitch %s: %v", cidr, err)
	}
	return resp.VSwitchId
}

func TestVPCLifecycleSDK(t *testing.T) {
	env := apitest.Start(t)
	c := env.VPC(t, env.Admin)

	id := createVPC(t, c, "192.168.0.0/16", "prod")
	def := vpc.CreateCreateVpcRequest() // no CidrBlock: the cloud's default
	defResp, err := c.CreateVpc(def)
	if err != nil {
		t.Fatal(err)
	}

	attr := vpc.CreateDescribeVpcAttributeRequest()
	attr.VpcId = id
	a, err := c.DescribeVpcAttribute(attr)
	if err != nil {
		t.Fatal(err)
	}
	if a.VpcId != id || a.CidrBlock != "192.168.0.0/16" || a.VpcName != "prod" || a.Status != "Available" ||
		a.RegionId != "local" || a.CreationTime == "" || a.EnabledIpv6 || a.OwnerId == 0 {
		t.Errorf("DescribeVpcAttribute: %+v", a)
	}

	// Secondary CIDR, then a vSwitch inside it.
	assoc := vpc.CreateAssociateVpcCidrBlockRequest()
	assoc.VpcId, assoc.SecondaryCidrBlock = id, "10.10.0.0/16"
	if _, err := c.AssociateVpcCidrBlock(assoc); err != nil {
		t.Fatal(err)
	}
	vsw1 := createVSwitch(t, c, id, "192.168.1.0/24")
	vsw2 := createVSwitch(t, c, id, "10.10.5.0/24")

	// Enable IPv6 and give vsw3 a /64 of it.
	mod := vpc.CreateModifyVpcAttributeRequest()
	mod.VpcId, mod.VpcName, mod.Description, mod.EnableIPv6 = id, "prod2", "main network", requests.NewBoolean(true)
	if _, err := c.ModifyVpcAttribute(mod); err != nil {
		t.Fatal(err)
	}
	v6 := vpc.CreateCreateVSwitchRequest()
	v6.VpcId, v6.CidrBlock, v6.ZoneId, v6.Ipv6CidrBlock, v6.VSwitchName = id, "192.168.2.0/24", "local-a", requests.NewInteger(7), "dual"
	v6Resp, err := c.CreateVSwitch(v6)
	if err != nil {
		t.Fatal(err)
	}

	list, err := c.DescribeVpcs(vpc.CreateDescribeVpcsRequest())
	if err != nil {
		t.Fatal(err)
	}
	if list.TotalCount != 2 || len(list.Vpcs.Vpc) != 2 {
		t.Fatalf("DescribeVpcs: %d/%d", list.TotalCount, len(list.Vpcs.Vpc))
	}
	got := list.Vpcs.Vpc[0]
	if got.VpcId != id || got.VpcName != "prod2" || got.Description != "main network" || !got.EnabledIpv6 ||
		len(got.VSwitchIds.VSwitchId) != 3 || len(got.SecondaryCidrBlocks.SecondaryCidrBlock) != 1 ||
		got.SecondaryCidrBlocks.SecondaryCidrBlock[0] != "10.10.0.0/16" {
		t.Errorf("DescribeVpcs item: %+v", got)
	}
	if p, err := netip.ParsePrefix(got.Ipv6CidrBlock); err != nil || p.Bits() != 56 || !netip.MustParsePrefix("fd00::/8").Contains(p.Addr()) {
		t.Errorf("IPv6 CIDR %q is not a ULA /56", got.Ipv6CidrBlock)
	}
	if list.Vpcs.Vpc[1].VpcId != defResp.VpcId || list.Vpcs.Vpc[1].CidrBlock != "172.16.0.0/12" {
		t.Errorf("default-CIDR VPC: %+v", list.Vpcs.Vpc[1])
	}

	wa := vpc.CreateDescribeVSwitchAttributesRequest()
	wa.VSwitchId = vsw1
	w, err := c.DescribeVSwitchAttributes(wa)
	if err != nil {
		t.Fatal(err)
	}
	// 256 addresses minus the first and the last three.
	if w.VSwitchId != vsw1 || w.VpcId != id || w.ZoneId != "local-a" || w.CidrBlock != "192.168.1.0/24" ||
		w.AvailableIpAddressCount != 252 || w.Status != "Available" || w.RouteTable.RouteTableId == "" {
		t.Errorf("DescribeVSwitchAttributes: %+v", w)
	}
	wa.VSwitchId = v6Resp.VSwitchId
	if w, err := c.DescribeVSwitchAttributes(wa); err != nil || !w.EnabledIpv6 || !strings.HasSuffix(w.Ipv6CidrBlock, ":7::/64") {
		t.Errorf("IPv6 vSwitch: %v %+v", err, w.Ipv6CidrBlock)
	}

	lw := vpc.CreateDescribeVSwitchesRequest()
	lw.VpcId = id
	ws, err := c.DescribeVSwitches(lw)
	if err != nil || ws.TotalCount != 3 || len(ws.VSwitches.VSwitch) != 3 || ws.VSwitches.VSwitch[1].VSwitchId != vsw2 {
		t.Fatalf("DescribeVSwitches: %v %+v", err, ws)
	}
	mw := vpc.CreateModifyVSwitchAttributeRequest()
	mw.VSwitchId, mw.VSwitchName = vsw1, "web"
	if _, err := c.ModifyVSwitchAttribute(mw); err != nil {
		t.Fatal(err)
	}
	lw.VSwitchName = "web"
	if ws, err := c.DescribeVSwitches(lw); err != nil || ws.TotalCount != 1 || ws.VSwitches.VSwitch[0].VSwitchId != vsw1 {
		t.Errorf("filter by name: %v %+v", err, ws)
	}

	// A VPC with vSwitches cannot be deleted; its vSwitches can, then it can.
	del := vpc.CreateDeleteVpcRequest()
	del.VpcId = id
	if _, err := c.DeleteVpc(del); err == nil {
		t.Fatal("DeleteVpc with vSwitches succeeded")
	} else if st, code := apitest.ServerErr(t, err); code != "DependencyViolation" || st != 403 {
		t.Errorf("DeleteVpc with vSwitches: %d %s", st, code)
	}
	// DryRun checks without deleting.
	dry := vpc.CreateDeleteVpcRequest()
	dry.VpcId, dry.DryRun = defResp.VpcId, requests.NewBoolean(true)
	if _, err := c.DeleteVpc(dry); err == nil {
		t.Fatal("DryRun DeleteVpc returned success")
	} else if _, code := apitest.ServerErr(t, err); code != "DryRunOperation" {
		t.Errorf("DryRun: %s", code)
	}
	for _, w := range []string{vsw1, vsw2, v6Resp.VSwitchId} {
		dw := vpc.CreateDeleteVSwitchRequest()
		dw.VSwitchId = w
		if _, err := c.DeleteVSwitch(dw); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.DeleteVpc(del); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DescribeVpcAttribute(attr); err == nil {
		t.Fatal("deleted VPC still described")
	} else if st, code := apitest.ServerErr(t, err); code != "InvalidVpcId.NotFound" || st != 404 {
		t.Errorf("after delete: %d %s", st, code)
	}
	list, _ = c.DescribeVpcs(vpc.CreateDescribeVpcsRequest())
	if list.TotalCount != 1 {
		t.Errorf("after delete %d VPCs, want 1 (dry run must not delete)", list.TotalCount)
	}
}

func TestVPCForceDeleteSDK(t *testing.T) {
	env := apitest.Start(t)
	c := env.VPC(t, env.Admin)
	e := env.ECS(t, env.Admin)
	id := createVPC(t, c, "10.0.0.0/16", "")
	createVSwitch(t, c, id, "10.0.1.0/24")
	createSG(t, e, id, "app", "")
	del := vpc.CreateDeleteVpcRequest()
	del.VpcId, del.ForceDelete = id, requests.NewBoolean(true)
	if _, err := c.DeleteVpc(del); err != nil {
		t.Fatal(err)
	}
	for k := range env.Snapshot(t) {
		if strings.HasPrefix(k, "vpc/") || strings.HasPrefix(k, "vsw/") || strings.HasPrefix(k, "sg/") {
			t.Errorf("ForceDelete left %s", k)
		}
	}
}

func TestRegionsAndZonesSDK(t *testing.T) {
	env := apitest.Start(t)
	c := env.ECS(t, env.Admin)
	r, err := c.DescribeRegions(ecs.CreateDescribeRegionsRequest())
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Regions.Region) != 1 || r.Regions.Region[0].RegionId != "local" {
		t.Errorf("DescribeRegions: %+v", r.Regions)
	}
	zr := ecs.CreateDescribeZonesRequest()
	zr.RegionId = "local"
	z, err := c.DescribeZones(zr)
	if err != nil {
		t.Fatal(err)
	}
	if len(z.Zones.Zone) != 1 || z.Zones.Zone[0].ZoneId != "local-a" {
		t.Errorf("DescribeZones: %+v", z.Zones)
	}
	_, err = env.Common(t, env.Admin, api.VersionECS, "DescribeZones", map[string]string{"RegionId": "cn-hangzhou"})
	if _, code := apitest.ServerErr(t, err); code != "InvalidRegionId.NotFound" {
		t.Errorf("DescribeZones of another region: %v", err)
	}
}

func TestVPCBadInputSDK(t *testing.T) {
	q := service.DefaultQuotas()
	q.VpcsPerAccount = 2
	q.VSwitchesPerVpc = 2
	q.SecondaryCidrsPerVpc = 1
	env := apitest.Start(t, apitest.WithQuotas(q))
	c := env.VPC(t, env.Admin)
	id := createVPC(t, c, "192.168.0.0/16", "")
	full := createVPC(t, c, "10.0.0.0/16", "")
	createVSwitch(t, c, id, "192.168.1.0/24")
	createVSwitch(t, c, full, "10.0.1.0/24")
	createVSwitch(t, c, full, "10.0.2.0/24")
	assoc := vpc.CreateAssociateVpcCidrBlockRequest()
	assoc.VpcId, assoc.SecondaryCidrBlock = full, "10.1.0.0/16"
	if _, err := c.AssociateVpcCidrBlock(assoc); err != nil {
		t.Fatal(err)
	}

	long := strings.Repeat("x", 129)
	tests := []struct {
		name, action string
		params       map[string]string
		status       int
		code         string
	}{
		{"cidr not a prefix", "CreateVpc", map[string]string{"CidrBlock": "10.0.0.0"}, 400, "InvalidCidrBlock.Malformed"},
		{"cidr garbage", "CreateVpc", map[string]string{"CidrBlock": "banana"}, 400, "InvalidCidrBlock.Malformed"},
		{"cidr host bits", "CreateVpc", map[string]string{"CidrBlock": "10.0.0.1/16"}, 400, "InvalidCidrBlock.Malformed"},
		{"cidr too large", "CreateVpc", map[string]string{"CidrBlock": "10.0.0.0/7"}, 400, "InvalidCidrBlock.Malformed"},
		{"cidr too small", "CreateVpc", map[string]string{"CidrBlock": "10.0.0.0/29"}, 400, "InvalidCidrBlock.Malformed"},
		{"cidr ipv6", "CreateVpc", map[string]string{"CidrBlock": "fd00::/48"}, 400, "InvalidCidrBlock.Malformed"},
		{"cidr CGNAT", "CreateVpc", map[string]string{"CidrBlock": "100.64.0.0/16"}, 400, "InvalidCidrBlock.Malformed"},
		{"cidr multicast", "CreateVpc", map[string]string{"CidrBlock": "224.0.0.0/8"}, 400, "InvalidCidrBlock.Malformed"},
		{"cidr loopback", "CreateVpc", map[string]string{"CidrBlock": "127.0.0.0/16"}, 400, "InvalidCidrBlock.Malformed"},
		{"cidr link-local", "CreateVpc", map[string]string{"CidrBlock": "169.254.0.0/16"}, 400, "InvalidCidrBlock.Malformed"},
		{"name too long", "CreateVpc", map[string]string{"CidrBlock": "10.5.0.0/16", "VpcName": long}, 400, "InvalidVpcName.Malformed"},
		{"bool not bool", "CreateVpc", map[string]string{"CidrBlock": "10.5.0.0/16", "EnableIpv6": "maybe"}, 400, "InvalidParameter"},
		{"vpc quota", "CreateVpc", map[string]string{"CidrBlock": "10.5.0.0/16"}, 403, "QuotaExceeded.Vpc"},
		{"describe missing id", "DescribeVpcAttribute", map[string]string{}, 400, "MissingParameter"},
		{"describe unknown", "DescribeVpcAttribute", map[string]string{"VpcId": "vpc-nope"}, 404, "InvalidVpcId.NotFound"},
		{"page size too big", "DescribeVpcs", map[string]string{"PageSize": "51"}, 400, "InvalidParameter"},
		{"page number zero", "DescribeVpcs", map[string]string{"PageNumber": "0"}, 400, "InvalidParameter"},
		{"page size word", "DescribeVpcs", map[string]string{"PageSize": "ten"}, 400, "InvalidParameter"},
		{"modify cidr", "ModifyVpcAttribute", map[string]string{"VpcId": id, "CidrBlock": "192.168.0.0/17"}, 400, "OperationUnsupported.ModifyCidrBlock"},
		{"modify unknown", "ModifyVpcAttribute", map[string]string{"VpcId": "vpc-nope", "VpcName": "x"}, 404, "InvalidVpcId.NotFound"},
		{"secondary overlaps", "AssociateVpcCidrBlock", map[string]string{"VpcId": id, "SecondaryCidrBlock": "192.168.128.0/17"}, 400, "InvalidCidrBlock.Overlapped"},
		{"secondary malformed", "AssociateVpcCidrBlock", map[string]string{"VpcId": id, "SecondaryCidrBlock": "10.0.0.0/33"}, 400, "InvalidCidrBlock.Malformed"},
		{"secondary missing", "AssociateVpcCidrBlock", map[string]string{"VpcId": id}, 400, "MissingParameter"},
		{"secondary quota", "AssociateVpcCidrBlock", map[string]string{"VpcId": full, "SecondaryCidrBlock": "10.2.0.0/16"}, 403, "QuotaExceeded.SecondaryCidrBlock"},
		{"vsw missing zone", "CreateVSwitch", map[string]string{"VpcId": id, "CidrBlock": "192.168.9.0/24"}, 400, "MissingParameter"},
		{"vsw missing cidr", "CreateVSwitch", map[string]string{"VpcId": id, "ZoneId": "local-a"}, 400, "MissingParameter"},
		{"vsw missing vpc", "CreateVSwitch", map[string]string{"ZoneId": "local-a", "CidrBlock": "192.168.9.0/24"}, 400, "MissingParameter"},
		{"vsw unknown zone", "CreateVSwitch", map[string]string{"VpcId": id, "ZoneId": "mars-1", "CidrBlock": "192.168.9.0/24"}, 400, "InvalidZoneId.NotFound"},
		{"vsw unknown vpc", "CreateVSwitch", map[string]string{"VpcId": "vpc-nope", "ZoneId": "local-a", "CidrBlock": "192.168.9.0/24"}, 404, "InvalidVpcId.NotFound"},
		{"vsw mask too small", "CreateVSwitch", map[string]string{"VpcId": id, "ZoneId": "local-a", "CidrBlock": "192.168.9.0/30"}, 400, "InvalidCidrBlock.Malformed"},
		{"vsw mask too large", "CreateVSwitch", map[string]string{"VpcId": id, "ZoneId": "local-a", "CidrBlock": "192.0.0.0/15"}, 400, "InvalidCidrBlock.Malformed"},
		{"vsw outside vpc", "CreateVSwitch", map[string]string{"VpcId": id, "ZoneId": "local-a", "CidrBlock": "10.9.0.0/24"}, 400, "InvalidParameter"},
		{"vsw overlaps", "CreateVSwitch", map[string]string{"VpcId": id, "ZoneId": "local-a", "CidrBlock": "192.168.1.128/25"}, 400, "InvalidCidrBlock.Overlapped"},
		{"vsw quota", "CreateVSwitch", map[string]string{"VpcId": full, "ZoneId": "local-a", "CidrBlock": "10.0.3.0/24"}, 400, "QuotaExceeded.VSwitch"},
		{"vsw ipv6 not enabled", "CreateVSwitch", map[string]string{"VpcId": id, "ZoneId": "local-a", "CidrBlock": "192.168.9.0/24", "Ipv6CidrBlock": "1"}, 400, "OperationFailed.VpcNotEnabledIpv6"},
		{"vsw ipv6 index range", "CreateVSwitch", map[string]string{"VpcId": id, "ZoneId": "local-a", "CidrBlock": "192.168.9.0/24", "Ipv6CidrBlock": "256"}, 400, "InvalidParameter"},
		{"vsw name", "CreateVSwitch", map[string]string{"VpcId": id, "ZoneId": "local-a", "CidrBlock": "192.168.9.0/24", "VSwitchName": "http://x"}, 400, "InvalidVSwitchName.Malformed"},
		{"vsw describe unknown", "DescribeVSwitchAttributes", map[string]string{"VSwitchId": "vsw-nope"}, 404, "InvalidVSwitchId.NotFound"},
		{"vsw delete unknown", "DeleteVSwitch", map[string]string{"VSwitchId": "vsw-nope"}, 404, "InvalidVSwitchId.NotFound"},
		{"vpc delete in use", "DeleteVpc", map[string]string{"VpcId": id}, 403, "DependencyViolation"},
		{"vpc delete bad bool", "DeleteVpc", map[string]string{"VpcId": id, "ForceDelete": "yes please"}, 400, "InvalidParameter"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := env.Snapshot(t)
			_, err := env.Common(t, env.Admin, api.VersionVPC, tc.action, tc.params)
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
}

func TestVPCTenantIsolationAndIdempotencySDK(t *testing.T) {
	env := apitest.Start(t)
	alice := env.VPC(t, env.Admin)
	bobCreds := env.NewAccount(t, "bob")
	bob := env.VPC(t, bobCreds)
	aliceVPC := createVPC(t, alice, "10.0.0.0/16", "a")
	aliceVSW := createVSwitch(t, alice, aliceVPC, "10.0.1.0/24")
	bobVPC := createVPC(t, bob, "10.0.0.0/16", "b") // same CIDR: VPCs are isolated

	list, err := bob.DescribeVpcs(vpc.CreateDescribeVpcsRequest())
	if err != nil || list.TotalCount != 1 || list.Vpcs.Vpc[0].VpcId != bobVPC {
		t.Fatalf("bob lists %v %+v", err, list)
	}
	byID := vpc.CreateDescribeVpcsRequest()
	byID.VpcId = aliceVPC
	if l, err := bob.DescribeVpcs(byID); err != nil || l.TotalCount != 0 {
		t.Errorf("bob lists alice's VPC by ID: %v %+v", err, l)
	}
	if l, err := bob.DescribeVSwitches(vpc.CreateDescribeVSwitchesRequest()); err != nil || l.TotalCount != 0 {
		t.Errorf("bob lists vSwitches: %v %+v", err, l)
	}
	before := env.Snapshot(t)
	calls := []struct {
		action string
		params map[string]string
		code   string
	}{
		{"DescribeVpcAttribute", map[string]string{"VpcId": aliceVPC}, "InvalidVpcId.NotFound"},
		{"ModifyVpcAttribute", map[string]string{"VpcId": aliceVPC, "VpcName": "pwned"}, "InvalidVpcId.NotFound"},
		{"DeleteVpc", map[string]string{"VpcId": aliceVPC, "ForceDelete": "true"}, "InvalidVpcId.NotFound"},
		{"AssociateVpcCidrBlock", map[string]string{"VpcId": aliceVPC, "SecondaryCidrBlock": "10.9.0.0/16"}, "InvalidVpcId.NotFound"},
		{"CreateVSwitch", map[string]string{"VpcId": aliceVPC, "ZoneId": "local-a", "CidrBlock": "10.0.9.0/24"}, "InvalidVpcId.NotFound"},
		{"DescribeVSwitchAttributes", map[string]string{"VSwitchId": aliceVSW}, "InvalidVSwitchId.NotFound"},
		{"ModifyVSwitchAttribute", map[string]string{"VSwitchId": aliceVSW, "VSwitchName": "pwned"}, "InvalidVSwitchId.NotFound"},
		{"DeleteVSwitch", map[string]string{"VSwitchId": aliceVSW}, "InvalidVSwitchId.NotFound"},
	}
	for _, c := range calls {
		_, err := env.Common(t, bobCreds, api.VersionVPC, c.action, c.params)
		if _, code := apitest.ServerErr(t, err); code != c.code {
			t.Errorf("bob %s on alice's resource: %s, want %s", c.action, code, c.code)
		}
	}
	if after := env.Snapshot(t); !maps.Equal(before, after) {
		t.Error("bob's calls changed the store")
	}

	// ClientToken: the same token returns the same VPC and creates one.
	req := vpc.CreateCreateVpcRequest()
	req.CidrBlock, req.ClientToken = "192.168.0.0/16", "token-1"
	r1, err := alice.CreateVpc(req)
	if err != nil {
		t.Fatal(err)
	}
	req2 := vpc.CreateCreateVpcRequest()
	req2.CidrBlock, req2.ClientToken = "192.168.0.0/16", "token-1"
	r2, err := alice.CreateVpc(req2)
	if err != nil || r2.VpcId != r1.VpcId {
		t.Fatalf("ClientToken replay: %v %s != %s", err, r2.VpcId, r1.VpcId)
	}
	req3 := vpc.CreateCreateVpcRequest()
	req3.CidrBlock, req3.ClientToken = "10.9.0.0/16", "token-1"
	if _, err := alice.CreateVpc(req3); err == nil {
		t.Error("ClientToken reused with another CidrBlock: accepted")
	} else if _, code := apitest.ServerErr(t, err); code != "IdempotentParameterMismatch" {
		t.Errorf("ClientToken reused with another CidrBlock: %v, want IdempotentParameterMismatch", err)
	}
	// Paging: PageSize 1 walks both VPCs.
	seen := map[string]bool{}
	for p := 1; p <= 2; p++ {
		pr := vpc.CreateDescribeVpcsRequest()
		pr.PageSize, pr.PageNumber = requests.NewInteger(1), requests.NewInteger(p)
		l, err := alice.DescribeVpcs(pr)
		if err != nil || l.TotalCount != 2 || len(l.Vpcs.Vpc) != 1 {
			t.Fatalf("page %d: %v %+v", p, err, l)
		}
		seen[l.Vpcs.Vpc[0].VpcId] = true
	}
	if len(seen) != 2 {
		t.Errorf("paging saw %v", seen)
	}
}
