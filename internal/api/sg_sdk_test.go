package api_test

import (
	"fmt"
	"maps"
	"net/netip"
	"strings"
	"testing"
	"time"

	ecsv2 "github.com/alibabacloud-go/ecs-20140526/v7/client"
	"github.com/alibabacloud-go/tea/dara"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"

	"github.com/palisade-project/palisade/internal/apitest"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/service"
)

// sgFixtureVPC puts a VPC record of the account straight into the store, so
// the security group tests do not depend on the VPC actions.
func sgFixtureVPC(t *testing.T, env *apitest.Env, accountID, cidr string) string {
	t.Helper()
	v := model.VPC{
		ID: service.NewID("vpc"), AccountID: accountID, Name: "fixture",
		CidrBlock: netip.MustParsePrefix(cidr), Status: "Available", CreatedAt: time.Now().UTC(),
	}
	env.PutRecord(t, model.PrefixVPC+v.ID, v)
	return v.ID
}

func createSG(t *testing.T, c *ecs.Client, vpcID, name, typ string) string {
	t.Helper()
	req := ecs.CreateCreateSecurityGroupRequest()
	req.VpcId, req.SecurityGroupName, req.SecurityGroupType = vpcID, name, typ
	resp, err := c.CreateSecurityGroup(req)
	if err != nil {
		t.Fatalf("CreateSecurityGroup %s: %v", name, err)
	}
	if resp.SecurityGroupId == "" || resp.RequestId == "" {
		t.Fatalf("CreateSecurityGroup: empty SecurityGroupId or RequestId: %+v", resp)
	}
	return resp.SecurityGroupId
}

func sgAttr(t *testing.T, c *ecs.Client, id string) *ecs.DescribeSecurityGroupAttributeResponse {
	t.Helper()
	req := ecs.CreateDescribeSecurityGroupAttributeRequest()
	req.SecurityGroupId = id
	resp, err := c.DescribeSecurityGroupAttribute(req)
	if err != nil {
		t.Fatalf("DescribeSecurityGroupAttribute %s: %v", id, err)
	}
	return resp
}

func TestSecurityGroupLifecycleSDK(t *testing.T) {
	env := apitest.Start(t)
	c := env.ECS(t, env.Admin)
	vpcID := sgFixtureVPC(t, env, env.Admin.AccountID, "192.168.0.0/16")

	basic := createSG(t, c, vpcID, "web", "")
	adv := createSG(t, c, vpcID, "db", "enterprise")

	list := ecs.CreateDescribeSecurityGroupsRequest()
	list.VpcId = vpcID
	resp, err := c.DescribeSecurityGroups(list)
	if err != nil {
		t.Fatal(err)
	}
	if resp.TotalCount != 2 || len(resp.SecurityGroups.SecurityGroup) != 2 {
		t.Fatalf("DescribeSecurityGroups: got %d/%d groups, want 2", resp.TotalCount, len(resp.SecurityGroups.SecurityGroup))
	}
	byID := map[string]ecs.SecurityGroup{}
	for _, g := range resp.SecurityGroups.SecurityGroup {
		byID[g.SecurityGroupId] = g
	}
	if g := byID[basic]; g.SecurityGroupType != "normal" || g.SecurityGroupName != "web" || g.VpcId != vpcID || g.CreationTime == "" || g.AvailableInstanceAmount != 6000 {
		t.Errorf("basic group item: %+v", g)
	}
	if g := byID[adv]; g.SecurityGroupType != "enterprise" || g.AvailableInstanceAmount != 65536 {
		t.Errorf("advanced group item: %+v", g)
	}
	if resp.RegionId != apitest.Region || resp.PageNumber != 1 || resp.PageSize != 10 {
		t.Errorf("paging fields: region %q page %d size %d", resp.RegionId, resp.PageNumber, resp.PageSize)
	}

	a := sgAttr(t, c, basic)
	if a.InnerAccessPolicy != "Accept" || a.VpcId != vpcID || a.SecurityGroupName != "web" || len(a.Permissions.Permission) != 0 {
		t.Errorf("basic attribute: %+v", a)
	}
	if a := sgAttr(t, c, adv); a.InnerAccessPolicy != "Drop" {
		t.Errorf("advanced group InnerAccessPolicy = %q, want Drop", a.InnerAccessPolicy)
	}

	mod := ecs.CreateModifySecurityGroupAttributeRequest()
	mod.SecurityGroupId, mod.SecurityGroupName, mod.Description = basic, "web2", "front end"
	if _, err := c.ModifySecurityGroupAttribute(mod); err != nil {
		t.Fatal(err)
	}
	pol := ecs.CreateModifySecurityGroupPolicyRequest()
	pol.SecurityGroupId, pol.InnerAccessPolicy = basic, "drop"
	if _, err := c.ModifySecurityGroupPolicy(pol); err != nil {
		t.Fatal(err)
	}
	if a := sgAttr(t, c, basic); a.SecurityGroupName != "web2" || a.Description != "front end" || a.InnerAccessPolicy != "Drop" {
		t.Errorf("after modify: name %q desc %q policy %q", a.SecurityGroupName, a.Description, a.InnerAccessPolicy)
	}
	pol.SecurityGroupId, pol.InnerAccessPolicy = adv, "Accept"
	if _, err := c.ModifySecurityGroupPolicy(pol); err == nil {
		t.Error("advanced group accepted InnerAccessPolicy=Accept")
	}

	del := ecs.CreateDeleteSecurityGroupRequest()
	del.SecurityGroupId = basic
	if _, err := c.DeleteSecurityGroup(del); err != nil {
		t.Fatal(err)
	}
	_, err = c.DescribeSecurityGroupAttribute(&ecs.DescribeSecurityGroupAttributeRequest{RpcRequest: ecs.CreateDescribeSecurityGroupAttributeRequest().RpcRequest, SecurityGroupId: basic})
	if status, code := apitest.ServerErr(t, err); status != 404 || code != "InvalidSecurityGroupId.NotFound" {
		t.Errorf("describe deleted group: %d %s", status, code)
	}
}

func TestSecurityGroupRulesSDK(t *testing.T) {
	env := apitest.Start(t)
	c := env.ECS(t, env.Admin)
	vpcID := sgFixtureVPC(t, env, env.Admin.AccountID, "10.0.0.0/8")
	sg := createSG(t, c, vpcID, "app", "")
	peer := createSG(t, c, vpcID, "peer", "")

	auth := ecs.CreateAuthorizeSecurityGroupRequest()
	auth.SecurityGroupId = sg
	auth.Permissions = &[]ecs.AuthorizeSecurityGroupPermissions{
		{IpProtocol: "tcp", PortRange: "22/22", SourceCidrIp: "10.1.0.0/16", Priority: "10", Policy: "drop", Description: "no ssh"},
		{IpProtocol: "UDP", PortRange: "53/53", Ipv6SourceCidrIp: "fd00::/8", SourcePortRange: "1024/65535"},
		{IpProtocol: "icmp", PortRange: "-1/-1", SourceCidrIp: "0.0.0.0/0", DestCidrIp: "10.0.0.5"},
		{IpProtocol: "ALL", PortRange: "-1/-1", SourceGroupId: peer, Priority: "5"},
	}
	if _, err := c.AuthorizeSecurityGroup(auth); err != nil {
		t.Fatal(err)
	}
	// The same rules again add nothing.
	if _, err := c.AuthorizeSecurityGroup(auth); err != nil {
		t.Fatal(err)
	}
	egress := ecs.CreateAuthorizeSecurityGroupEgressRequest()
	egress.SecurityGroupId = sg
	egress.IpProtocol, egress.PortRange, egress.DestCidrIp, egress.Policy = "TCP", "443/443", "0.0.0.0/0", "accept"
	if _, err := c.AuthorizeSecurityGroupEgress(egress); err != nil {
		t.Fatalf("flat-style egress: %v", err)
	}

	a := sgAttr(t, c, sg)
	if n := len(a.Permissions.Permission); n != 5 {
		t.Fatalf("got %d rules, want 5: %+v", n, a.Permissions.Permission)
	}
	want := []ecs.Permission{
		{Direction: "ingress", IpProtocol: "TCP", PortRange: "22/22", SourceCidrIp: "10.1.0.0/16", Priority: "10", Policy: "drop", Description: "no ssh", NicType: "intranet"},
		{Direction: "ingress", IpProtocol: "UDP", PortRange: "53/53", Ipv6SourceCidrIp: "fd00::/8", SourcePortRange: "1024/65535", Priority: "1", Policy: "accept", NicType: "intranet"},
		{Direction: "ingress", IpProtocol: "ICMP", PortRange: "-1/-1", SourceCidrIp: "0.0.0.0/0", DestCidrIp: "10.0.0.5/32", Priority: "1", Policy: "accept", NicType: "intranet"},
		{Direction: "ingress", IpProtocol: "ALL", PortRange: "-1/-1", SourceGroupId: peer, SourceGroupName: "peer", Priority: "5", Policy: "accept", NicType: "intranet"},
		{Direction: "egress", IpProtocol: "TCP", PortRange: "443/443", DestCidrIp: "0.0.0.0/0", Priority: "1", Policy: "accept", NicType: "intranet"},
	}
	for i, got := range a.Permissions.Permission {
		if got.SecurityGroupRuleId == "" || got.CreateTime == "" {
			t.Errorf("rule %d: missing SecurityGroupRuleId or CreateTime: %+v", i, got)
		}
		got.SecurityGroupRuleId, got.CreateTime = "", ""
		if got != want[i] {
			t.Errorf("rule %d:\n got %+v\nwant %+v", i, got, want[i])
		}
	}
	ruleID := a.Permissions.Permission[0].SecurityGroupRuleId

	// Direction filter.
	dreq := ecs.CreateDescribeSecurityGroupAttributeRequest()
	dreq.SecurityGroupId, dreq.Direction = sg, "egress"
	if d, err := c.DescribeSecurityGroupAttribute(dreq); err != nil || len(d.Permissions.Permission) != 1 {
		t.Errorf("Direction=egress: %v, %d rules", err, len(d.Permissions.Permission))
	}

	// Modify by ID: priority and port change, ID stays.
	m := ecs.CreateModifySecurityGroupRuleRequest()
	m.SecurityGroupId, m.SecurityGroupRuleId, m.Priority, m.PortRange = sg, ruleID, "20", "2222/2222"
	if _, err := c.ModifySecurityGroupRule(m); err != nil {
		t.Fatal(err)
	}
	a = sgAttr(t, c, sg)
	if p := a.Permissions.Permission[0]; p.SecurityGroupRuleId != ruleID || p.Priority != "20" || p.PortRange != "2222/2222" || p.Policy != "drop" || p.SourceCidrIp != "10.1.0.0/16" {
		t.Errorf("after ModifySecurityGroupRule: %+v", p)
	}

	// References.
	refs := ecs.CreateDescribeSecurityGroupReferencesRequest()
	refs.SecurityGroupId = &[]string{peer, sg}
	rr, err := c.DescribeSecurityGroupReferences(refs)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, r := range rr.SecurityGroupReferences.SecurityGroupReference {
		for _, g := range r.ReferencingSecurityGroups.ReferencingSecurityGroup {
			got[r.SecurityGroupId] = append(got[r.SecurityGroupId], g.SecurityGroupId)
		}
	}
	if !maps.EqualFunc(got, map[string][]string{peer: {sg}}, func(a, b []string) bool { return len(a) == len(b) && a[0] == b[0] }) {
		t.Errorf("references: %v", got)
	}
	del := ecs.CreateDeleteSecurityGroupRequest()
	del.SecurityGroupId = peer
	_, err = c.DeleteSecurityGroup(del)
	if status, code := apitest.ServerErr(t, err); status != 403 || code != "InvalidOperation.ReferencedBySecurityGroup" {
		t.Errorf("delete referenced group: %d %s", status, code)
	}

	// Revoke by fields (the group reference) and by ID.
	rev := ecs.CreateRevokeSecurityGroupRequest()
	rev.SecurityGroupId = sg
	rev.Permissions = &[]ecs.RevokeSecurityGroupPermissions{{IpProtocol: "all", PortRange: "-1/-1", SourceGroupId: peer, Priority: "5"}}
	if _, err := c.RevokeSecurityGroup(rev); err != nil {
		t.Fatal(err)
	}
	rev = ecs.CreateRevokeSecurityGroupRequest()
	rev.SecurityGroupId = sg
	rev.SecurityGroupRuleId = &[]string{ruleID}
	if _, err := c.RevokeSecurityGroup(rev); err != nil {
		t.Fatal(err)
	}
	if n := len(sgAttr(t, c, sg).Permissions.Permission); n != 3 {
		t.Errorf("after revokes: %d rules, want 3", n)
	}
	_, err = c.RevokeSecurityGroup(rev) // the ID is gone now
	if status, code := apitest.ServerErr(t, err); status != 400 || code != "InvalidParam.SecurityGroupRuleId" {
		t.Errorf("revoke unknown rule ID: %d %s", status, code)
	}
	if _, err := c.DeleteSecurityGroup(del); err != nil {
		t.Errorf("delete no longer referenced group: %v", err)
	}

	revE := ecs.CreateRevokeSecurityGroupEgressRequest()
	revE.SecurityGroupId = sg
	revE.IpProtocol, revE.PortRange, revE.DestCidrIp = "tcp", "443/443", "0.0.0.0/0"
	if _, err := c.RevokeSecurityGroupEgress(revE); err != nil {
		t.Fatal(err)
	}
	if n := len(sgAttr(t, c, sg).Permissions.Permission); n != 2 {
		t.Errorf("after egress revoke: %d rules, want 2", n)
	}
}

// TestSecurityGroupBadInput sends malformed requests; each must fail with
// the right code and status and leave the store exactly as it was.
func TestSecurityGroupBadInput(t *testing.T) {
	q := service.DefaultQuotas()
	q.GroupRefRulesPerGroup = 1
	env := apitest.Start(t, apitest.WithQuotas(q))
	c := env.ECS(t, env.Admin)
	vpcID := sgFixtureVPC(t, env, env.Admin.AccountID, "10.0.0.0/16")
	otherVPC := sgFixtureVPC(t, env, env.Admin.AccountID, "10.1.0.0/16")
	sg := createSG(t, c, vpcID, "app", "")
	adv := createSG(t, c, vpcID, "adv", "enterprise")
	other := createSG(t, c, otherVPC, "other", "")
	peer := createSG(t, c, vpcID, "peer", "")
	peer2 := createSG(t, c, vpcID, "peer2", "")
	one := ecs.CreateAuthorizeSecurityGroupRequest()
	one.SecurityGroupId = sg
	one.Permissions = &[]ecs.AuthorizeSecurityGroupPermissions{{IpProtocol: "tcp", PortRange: "80/80", SourceGroupId: peer}}
	if _, err := c.AuthorizeSecurityGroup(one); err != nil {
		t.Fatal(err)
	}

	ingress := func(p ecs.AuthorizeSecurityGroupPermissions) map[string]string {
		m := map[string]string{"SecurityGroupId": sg}
		set := func(k, v string) {
			if v != "" {
				m["Permissions.1."+k] = v
			}
		}
		set("IpProtocol", p.IpProtocol)
		set("PortRange", p.PortRange)
		set("SourceCidrIp", p.SourceCidrIp)
		set("Ipv6SourceCidrIp", p.Ipv6SourceCidrIp)
		set("SourceGroupId", p.SourceGroupId)
		set("SourcePortRange", p.SourcePortRange)
		set("DestCidrIp", p.DestCidrIp)
		set("Policy", p.Policy)
		set("Priority", p.Priority)
		set("NicType", p.NicType)
		set("SourcePrefixListId", p.SourcePrefixListId)
		return m
	}
	tcp := func(mod func(*ecs.AuthorizeSecurityGroupPermissions)) map[string]string {
		p := ecs.AuthorizeSecurityGroupPermissions{IpProtocol: "tcp", PortRange: "22/22", SourceCidrIp: "10.0.0.0/8"}
		mod(&p)
		return ingress(p)
	}
	tests := []struct {
		name   string
		action string
		params map[string]string
		status int
		code   string
	}{
		{"unknown protocol", "AuthorizeSecurityGroup", tcp(func(p *ecs.AuthorizeSecurityGroupPermissions) { p.IpProtocol = "sctp" }), 400, "InvalidIpProtocol.Malformed"},
		{"missing protocol", "AuthorizeSecurityGroup", tcp(func(p *ecs.AuthorizeSecurityGroupPermissions) { p.IpProtocol = "" }), 400, "MissingParameter"},
		{"port 0", "AuthorizeSecurityGroup", tcp(func(p *ecs.AuthorizeSecurityGroupPermissions) { p.PortRange = "0/22" }), 400, "InvalidIpPortRange.Malformed"},
		{"port 65536", "AuthorizeSecurityGroup", tcp(func(p *ecs.AuthorizeSecurityGroupPermissions) { p.PortRange = "1/65536" }), 400, "InvalidIpPortRange.Malformed"},
		{"reversed ports", "AuthorizeSecurityGroup", tcp(func(p *ecs.AuthorizeSecurityGroupPermissions) { p.PortRange = "80/22" }), 400, "InvalidIpPortRange.Malformed"},
		{"port words", "AuthorizeSecurityGroup", tcp(func(p *ecs.AuthorizeSecurityGroupPermissions) { p.PortRange = "ssh" }), 400, "InvalidIpPortRange.Malformed"},
		{"icmp with ports", "AuthorizeSecurityGroup", tcp(func(p *ecs.AuthorizeSecurityGroupPermissions) { p.IpProtocol = "icmp" }), 400, "InvalidIpPortRange.Malformed"},
		{"bad source ports", "AuthorizeSecurityGroup", tcp(func(p *ecs.AuthorizeSecurityGroupPermissions) { p.SourcePortRange = "9/1" }), 400, "InvalidIpPortRange.Malformed"},
		{"malformed cidr", "AuthorizeSecurityGroup", tcp(func(p *ecs.AuthorizeSecurityGroupPermissions) { p.SourceCidrIp = "10.0.0.0/33" }), 400, "InvalidSourceCidrIp.Malformed"},
		{"host bits set", "AuthorizeSecurityGroup", tcp(func(p *ecs.AuthorizeSecurityGroupPermissions) { p.SourceCidrIp = "10.0.0.1/8" }), 400, "InvalidSourceCidrIp.Malformed"},
		{"v6 in v4 field", "AuthorizeSecurityGroup", tcp(func(p *ecs.AuthorizeSecurityGroupPermissions) { p.SourceCidrIp = "fd00::/8" }), 400, "InvalidSourceCidrIp.Malformed"},
		{"v4 in v6 field", "AuthorizeSecurityGroup", tcp(func(p *ecs.AuthorizeSecurityGroupPermissions) { p.SourceCidrIp, p.Ipv6SourceCidrIp = "", "10.0.0.0/8" }), 400, "InvalidIpv6SourceCidrIp.Malformed"},
		{"icmp to v6 peer", "AuthorizeSecurityGroup", tcp(func(p *ecs.AuthorizeSecurityGroupPermissions) {
			p.IpProtocol, p.PortRange, p.SourceCidrIp, p.Ipv6SourceCidrIp = "icmp", "-1/-1", "", "::/0"
		}), 400, "InvalidIpProtocol.Malformed"},
		{"no peer", "AuthorizeSecurityGroup", tcp(func(p *ecs.AuthorizeSecurityGroupPermissions) { p.SourceCidrIp = "" }), 400, "MissingParameter"},
		{"priority 0", "AuthorizeSecurityGroup", tcp(func(p *ecs.AuthorizeSecurityGroupPermissions) { p.Priority = "0" }), 400, "InvalidPriority.Malformed"},
		{"priority 101", "AuthorizeSecurityGroup", tcp(func(p *ecs.AuthorizeSecurityGroupPermissions) { p.Priority = "101" }), 400, "InvalidPriority.Malformed"},
		{"priority text", "AuthorizeSecurityGroup", tcp(func(p *ecs.AuthorizeSecurityGroupPermissions) { p.Priority = "high" }), 400, "InvalidPriority.Malformed"},
		{"bad policy", "AuthorizeSecurityGroup", tcp(func(p *ecs.AuthorizeSecurityGroupPermissions) { p.Policy = "allow" }), 400, "InvalidPolicy.Malformed"},
		{"internet nic", "AuthorizeSecurityGroup", tcp(func(p *ecs.AuthorizeSecurityGroupPermissions) { p.NicType = "internet" }), 400, "InvalidNicType.ValueNotSupported"},
		{"unknown peer group", "AuthorizeSecurityGroup", tcp(func(p *ecs.AuthorizeSecurityGroupPermissions) {
			p.SourceCidrIp, p.SourceGroupId = "", "sg-doesnotexist"
		}), 404, "InvalidSourceGroupId.NotFound"},
		{"peer group of other VPC", "AuthorizeSecurityGroup", tcp(func(p *ecs.AuthorizeSecurityGroupPermissions) { p.SourceCidrIp, p.SourceGroupId = "", other }), 400, "InvalidSourceGroupId.Mismatch"},
		{"reference advanced group", "AuthorizeSecurityGroup", tcp(func(p *ecs.AuthorizeSecurityGroupPermissions) { p.SourceCidrIp, p.SourceGroupId = "", adv }), 400, "InvalidSecurityGroup.NotSupportReference"},
		{"group-reference quota", "AuthorizeSecurityGroup", tcp(func(p *ecs.AuthorizeSecurityGroupPermissions) { p.SourceCidrIp, p.SourceGroupId = "", peer2 }), 403, "AuthorizationLimitExceed"},
		{"prefix list unknown", "AuthorizeSecurityGroup", tcp(func(p *ecs.AuthorizeSecurityGroupPermissions) {
			p.SourceCidrIp, p.SourcePrefixListId = "", "pl-nothere"
		}), 404, "InvalidPrefixListId.NotFound"},
		{"unknown group", "AuthorizeSecurityGroup", map[string]string{"SecurityGroupId": "sg-nothere", "Permissions.1.IpProtocol": "tcp", "Permissions.1.PortRange": "1/2", "Permissions.1.SourceCidrIp": "1.0.0.0/8"}, 404, "InvalidSecurityGroupId.NotFound"},
		{"missing group id", "AuthorizeSecurityGroup", map[string]string{"Permissions.1.IpProtocol": "tcp"}, 400, "MissingParameter"},
		{"flat and list together", "AuthorizeSecurityGroup", func() map[string]string {
			m := tcp(func(*ecs.AuthorizeSecurityGroupPermissions) {})
			m["IpProtocol"] = "udp"
			return m
		}(), 400, "InvalidParameter"},
		{"second rule bad, first good", "AuthorizeSecurityGroup", func() map[string]string {
			m := tcp(func(*ecs.AuthorizeSecurityGroupPermissions) {})
			m["Permissions.2.IpProtocol"], m["Permissions.2.PortRange"], m["Permissions.2.SourceCidrIp"] = "udp", "99999/1", "1.2.3.4"
			return m
		}(), 400, "InvalidIpPortRange.Malformed"},
		{"create in unknown VPC", "CreateSecurityGroup", map[string]string{"VpcId": "vpc-nothere"}, 404, "InvalidVpcId.NotFound"},
		{"create without VPC", "CreateSecurityGroup", map[string]string{"SecurityGroupName": "x1"}, 400, "MissingParameter"},
		{"create bad type", "CreateSecurityGroup", map[string]string{"VpcId": vpcID, "SecurityGroupType": "premium"}, 400, "InvalidSecurityGroupType.Malformed"},
		{"create bad name", "CreateSecurityGroup", map[string]string{"VpcId": vpcID, "SecurityGroupName": "http://x"}, 400, "InvalidSecurityGroupName.Malformed"},
		{"policy bad value", "ModifySecurityGroupPolicy", map[string]string{"SecurityGroupId": sg, "InnerAccessPolicy": "Maybe"}, 400, "InvalidInnerAccessPolicy.Malformed"},
		{"modify unknown rule", "ModifySecurityGroupRule", map[string]string{"SecurityGroupId": sg, "SecurityGroupRuleId": "sgr-nothere", "Priority": "3"}, 404, "InvalidSecurityGroupRuleId.NotFound"},
		{"references of unknown group", "DescribeSecurityGroupReferences", map[string]string{"SecurityGroupId.1": "sg-nothere"}, 404, "InvalidSecurityGroupId.NotFound"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := env.Snapshot(t)
			_, err := env.Common(t, env.Admin, "2014-05-26", tt.action, tt.params)
			status, code := apitest.ServerErr(t, err)
			if status != tt.status || code != tt.code {
				t.Errorf("got %d %s, want %d %s (%v)", status, code, tt.status, tt.code, err)
			}
			if after := env.Snapshot(t); !maps.Equal(before, after) {
				t.Errorf("the refused call changed the store")
			}
		})
	}
}

func TestSecurityGroupQuotasSDK(t *testing.T) {
	q := service.DefaultQuotas()
	q.RulesPerGroup = 3
	q.SecurityGroupsPerAccount = 2
	env := apitest.Start(t, apitest.WithQuotas(q))
	c := env.ECS(t, env.Admin)
	vpcID := sgFixtureVPC(t, env, env.Admin.AccountID, "10.0.0.0/16")
	sg := createSG(t, c, vpcID, "a1", "")
	createSG(t, c, vpcID, "a2", "")
	_, err := env.Common(t, env.Admin, "2014-05-26", "CreateSecurityGroup", map[string]string{"VpcId": vpcID})
	if status, code := apitest.ServerErr(t, err); status != 403 || code != "QuotaExceed.SecurityGroup" {
		t.Errorf("third group: %d %s", status, code)
	}
	auth := ecs.CreateAuthorizeSecurityGroupRequest()
	auth.SecurityGroupId = sg
	auth.Permissions = &[]ecs.AuthorizeSecurityGroupPermissions{
		{IpProtocol: "tcp", PortRange: "1/1", SourceCidrIp: "10.0.0.0/8"},
		{IpProtocol: "tcp", PortRange: "2/2", SourceCidrIp: "10.0.0.0/8"},
		{IpProtocol: "tcp", PortRange: "3/3", SourceCidrIp: "10.0.0.0/8"},
	}
	if _, err := c.AuthorizeSecurityGroup(auth); err != nil {
		t.Fatal(err)
	}
	auth.Permissions = &[]ecs.AuthorizeSecurityGroupPermissions{{IpProtocol: "tcp", PortRange: "4/4", SourceCidrIp: "10.0.0.0/8"}}
	_, err = c.AuthorizeSecurityGroup(auth)
	if status, code := apitest.ServerErr(t, err); status != 403 || code != "AuthorizationLimitExceed" {
		t.Errorf("fourth rule: %d %s", status, code)
	}
	// A duplicate of an existing rule is not a new rule, so the full group accepts it.
	auth.Permissions = &[]ecs.AuthorizeSecurityGroupPermissions{{IpProtocol: "TCP", PortRange: "3/3", SourceCidrIp: "10.0.0.0/8"}}
	if _, err := c.AuthorizeSecurityGroup(auth); err != nil {
		t.Errorf("identical rule on a full group: %v", err)
	}
}

func TestSecurityGroupTenantIsolationSDK(t *testing.T) {
	env := apitest.Start(t)
	alice := env.ECS(t, env.Admin)
	bobCreds := env.NewAccount(t, "bob")
	bob := env.ECS(t, bobCreds)
	aliceVPC := sgFixtureVPC(t, env, env.Admin.AccountID, "10.0.0.0/16")
	bobVPC := sgFixtureVPC(t, env, bobCreds.AccountID, "10.0.0.0/16")
	aliceSG := createSG(t, alice, aliceVPC, "alice", "")
	bobSG := createSG(t, bob, bobVPC, "bob", "")

	list, err := bob.DescribeSecurityGroups(ecs.CreateDescribeSecurityGroupsRequest())
	if err != nil {
		t.Fatal(err)
	}
	if list.TotalCount != 1 || list.SecurityGroups.SecurityGroup[0].SecurityGroupId != bobSG {
		t.Errorf("bob lists %+v", list.SecurityGroups.SecurityGroup)
	}
	byID := ecs.CreateDescribeSecurityGroupsRequest()
	byID.SecurityGroupIds = `["` + aliceSG + `"]`
	if l, err := bob.DescribeSecurityGroups(byID); err != nil || l.TotalCount != 0 {
		t.Errorf("bob lists alice's group by ID: %v %d", err, l.TotalCount)
	}

	before := env.Snapshot(t)
	calls := map[string]map[string]string{
		"DescribeSecurityGroupAttribute":  {"SecurityGroupId": aliceSG},
		"ModifySecurityGroupAttribute":    {"SecurityGroupId": aliceSG, "SecurityGroupName": "pwned"},
		"ModifySecurityGroupPolicy":       {"SecurityGroupId": aliceSG, "InnerAccessPolicy": "Drop"},
		"AuthorizeSecurityGroup":          {"SecurityGroupId": aliceSG, "IpProtocol": "all", "PortRange": "-1/-1", "SourceCidrIp": "0.0.0.0/0"},
		"RevokeSecurityGroup":             {"SecurityGroupId": aliceSG, "IpProtocol": "all", "PortRange": "-1/-1", "SourceCidrIp": "0.0.0.0/0"},
		"DeleteSecurityGroup":             {"SecurityGroupId": aliceSG},
		"DescribeSecurityGroupReferences": {"SecurityGroupId.1": aliceSG},
	}
	for action, params := range calls {
		_, err := env.Common(t, bobCreds, "2014-05-26", action, params)
		if status, code := apitest.ServerErr(t, err); status != 404 || code != "InvalidSecurityGroupId.NotFound" {
			t.Errorf("bob %s on alice's group: %d %s", action, status, code)
		}
	}
	// Referencing alice's group from bob's own group, with or without an owner.
	for _, owner := range []string{"", env.Admin.AccountID} {
		params := map[string]string{"SecurityGroupId": bobSG, "IpProtocol": "tcp", "PortRange": "22/22", "SourceGroupId": aliceSG}
		if owner != "" {
			params["SourceGroupOwnerId"] = owner
		}
		_, err := env.Common(t, bobCreds, "2014-05-26", "AuthorizeSecurityGroup", params)
		if status, code := apitest.ServerErr(t, err); status != 404 || code != "InvalidSourceGroupId.NotFound" {
			t.Errorf("bob references alice's group (owner %q): %d %s", owner, status, code)
		}
	}
	_, err = env.Common(t, bobCreds, "2014-05-26", "CreateSecurityGroup", map[string]string{"VpcId": aliceVPC})
	if status, code := apitest.ServerErr(t, err); status != 404 || code != "InvalidVpcId.NotFound" {
		t.Errorf("bob creates a group in alice's VPC: %d %s", status, code)
	}
	if after := env.Snapshot(t); !maps.Equal(before, after) {
		t.Errorf("bob's refused calls changed the store")
	}
}

func TestSecurityGroupPagingAndClientTokenSDK(t *testing.T) {
	env := apitest.Start(t)
	c := env.ECS(t, env.Admin)
	vpcID := sgFixtureVPC(t, env, env.Admin.AccountID, "10.0.0.0/16")
	req := ecs.CreateCreateSecurityGroupRequest()
	req.VpcId, req.ClientToken = vpcID, "token-1"
	r1, err := c.CreateSecurityGroup(req)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := c.CreateSecurityGroup(req)
	if err != nil || r2.SecurityGroupId != r1.SecurityGroupId {
		t.Fatalf("ClientToken replay: %v, %s vs %s", err, r2.SecurityGroupId, r1.SecurityGroupId)
	}
	for i := 0; i < 6; i++ {
		createSG(t, c, vpcID, "g"+string(rune('a'+i)), "")
	}
	seen := map[string]bool{}
	for page := 1; page <= 3; page++ {
		l := ecs.CreateDescribeSecurityGroupsRequest()
		l.PageNumber, l.PageSize = requestsInt(page), requestsInt(3)
		resp, err := c.DescribeSecurityGroups(l)
		if err != nil {
			t.Fatal(err)
		}
		if resp.TotalCount != 7 || resp.PageNumber != page {
			t.Errorf("page %d: total %d number %d", page, resp.TotalCount, resp.PageNumber)
		}
		for _, g := range resp.SecurityGroups.SecurityGroup {
			seen[g.SecurityGroupId] = true
		}
	}
	if len(seen) != 7 {
		t.Errorf("pages covered %d groups, want 7", len(seen))
	}
	// Token mode.
	seen = map[string]bool{}
	token := ""
	for i := 0; ; i++ {
		l := ecs.CreateDescribeSecurityGroupsRequest()
		l.MaxResults, l.NextToken = requestsInt(4), token
		resp, err := c.DescribeSecurityGroups(l)
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range resp.SecurityGroups.SecurityGroup {
			seen[g.SecurityGroupId] = true
		}
		if token = resp.NextToken; token == "" || i > 5 {
			break
		}
	}
	if len(seen) != 7 {
		t.Errorf("NextToken pages covered %d groups, want 7", len(seen))
	}
}

// TestSecurityGroupV2SDK drives the group actions through the V2 SDK,
// which signs with ACS3-HMAC-SHA256.
func TestSecurityGroupV2SDK(t *testing.T) {
	env := apitest.Start(t)
	vpcID := sgFixtureVPC(t, env, env.Admin.AccountID, "10.0.0.0/16")
	c := env.ECSV2(t, env.Admin)
	created, err := c.CreateSecurityGroup(&ecsv2.CreateSecurityGroupRequest{
		RegionId: dara.String(apitest.Region), VpcId: dara.String(vpcID), SecurityGroupName: dara.String("v2"),
	})
	if err != nil {
		t.Fatal(err)
	}
	id := dara.StringValue(created.Body.SecurityGroupId)
	_, err = c.AuthorizeSecurityGroup(&ecsv2.AuthorizeSecurityGroupRequest{
		RegionId: dara.String(apitest.Region), SecurityGroupId: dara.String(id),
		Permissions: []*ecsv2.AuthorizeSecurityGroupRequestPermissions{{
			IpProtocol: dara.String("TCP"), PortRange: dara.String("80/80"), SourceCidrIp: dara.String("0.0.0.0/0"), Priority: dara.String("7"),
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	attr, err := c.DescribeSecurityGroupAttribute(&ecsv2.DescribeSecurityGroupAttributeRequest{
		RegionId: dara.String(apitest.Region), SecurityGroupId: dara.String(id),
	})
	if err != nil {
		t.Fatal(err)
	}
	perms := attr.Body.Permissions.Permission
	if len(perms) != 1 || dara.StringValue(perms[0].PortRange) != "80/80" || dara.StringValue(perms[0].Priority) != "7" {
		t.Errorf("V2 permissions: %+v", perms)
	}
	_, err = c.DescribeSecurityGroupAttribute(&ecsv2.DescribeSecurityGroupAttributeRequest{
		RegionId: dara.String(apitest.Region), SecurityGroupId: dara.String("sg-nothere"),
	})
	if status, code := apitest.ServerErr(t, err); status != 404 || code != "InvalidSecurityGroupId.NotFound" {
		t.Errorf("V2 not found: %d %s", status, code)
	}
}

func requestsInt(n int) requests.Integer { return requests.NewInteger(n) }

// TestModifySecurityGroupRuleProtocolSwitchSDK: changing a rule's protocol
// through ModifySecurityGroupRule(Egress) treats PortRange as
// AuthorizeSecurityGroup(Egress) does for the same inputs. To ICMP, GRE or
// ALL an omitted PortRange is -1/-1 (and the source ports go), an explicit
// TCP-style range is InvalidIpPortRange.Malformed; to TCP or UDP from a
// protocol without ports the new PortRange is required (MissingParameter),
// and -1/-1 is malformed. A refused modification changes nothing.
func TestModifySecurityGroupRuleProtocolSwitchSDK(t *testing.T) {
	env := apitest.Start(t)
	c := env.ECS(t, env.Admin)
	vpcID := sgFixtureVPC(t, env, env.Admin.AccountID, "10.0.0.0/8")
	sg := createSG(t, c, vpcID, "app", "")

	type rule struct{ proto, ports, srcPorts string }
	tests := []struct {
		name    string
		egress  bool
		from    rule
		patch   rule   // proto, ports, srcPorts of the modification ("" = not sent)
		code    string // "" = success
		want    rule   // the rule afterwards (on success)
		authErr string // what AuthorizeSecurityGroup says to patch's protocol and ports alone
	}{
		{name: "tcp to icmp, no range", from: rule{"TCP", "80/80", ""}, patch: rule{"ICMP", "", ""}, want: rule{"ICMP", "-1/-1", ""}},
		{name: "tcp with source ports to icmp, no range", from: rule{"TCP", "80/80", "1024/65535"}, patch: rule{"ICMP", "", ""}, want: rule{"ICMP", "-1/-1", ""}},
		{name: "tcp to icmp, -1/-1", from: rule{"TCP", "80/80", ""}, patch: rule{"ICMP", "-1/-1", ""}, want: rule{"ICMP", "-1/-1", ""}},
		{name: "tcp to icmp, tcp range", from: rule{"TCP", "80/80", ""}, patch: rule{"ICMP", "80/80", ""}, code: "InvalidIpPortRange.Malformed", authErr: "InvalidIpPortRange.Malformed"},
		{name: "tcp to all, tcp range", from: rule{"TCP", "80/80", ""}, patch: rule{"ALL", "1/65535", ""}, code: "InvalidIpPortRange.Malformed", authErr: "InvalidIpPortRange.Malformed"},
		{name: "tcp to gre, no range", from: rule{"TCP", "22/22", ""}, patch: rule{"GRE", "", ""}, want: rule{"GRE", "-1/-1", ""}},
		{name: "icmp to tcp, no range", from: rule{"ICMP", "-1/-1", ""}, patch: rule{"TCP", "", ""}, code: "MissingParameter", authErr: "MissingParameter"},
		{name: "all to udp, no range", from: rule{"ALL", "-1/-1", ""}, patch: rule{"udp", "", ""}, code: "MissingParameter", authErr: "MissingParameter"},
		{name: "icmp to tcp, -1/-1", from: rule{"ICMP", "-1/-1", ""}, patch: rule{"TCP", "-1/-1", ""}, code: "InvalidIpPortRange.Malformed", authErr: "InvalidIpPortRange.Malformed"},
		{name: "icmp to tcp with range", from: rule{"ICMP", "-1/-1", ""}, patch: rule{"TCP", "443/443", ""}, want: rule{"TCP", "443/443", ""}},
		{name: "tcp to udp keeps the range", from: rule{"TCP", "53/53", "1024/65535"}, patch: rule{"UDP", "", ""}, want: rule{"UDP", "53/53", "1024/65535"}},
		{name: "icmp, only a tcp range", from: rule{"ICMP", "-1/-1", ""}, patch: rule{"", "80/80", ""}, code: "InvalidIpPortRange.Malformed", authErr: "InvalidIpPortRange.Malformed"},
		{name: "egress tcp to icmp, tcp range", egress: true, from: rule{"TCP", "443/443", ""}, patch: rule{"ICMP", "443/443", ""}, code: "InvalidIpPortRange.Malformed", authErr: "InvalidIpPortRange.Malformed"},
		{name: "egress icmp to udp, no range", egress: true, from: rule{"ICMP", "-1/-1", ""}, patch: rule{"UDP", "", ""}, code: "MissingParameter", authErr: "MissingParameter"},
		{name: "egress tcp to icmp, no range", egress: true, from: rule{"TCP", "443/443", ""}, patch: rule{"ICMP", "", ""}, want: rule{"ICMP", "-1/-1", ""}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cidr := fmt.Sprintf("10.%d.0.0/16", i+1)
			dir := "ingress"
			if tt.egress {
				dir = "egress"
				req := ecs.CreateAuthorizeSecurityGroupEgressRequest()
				req.SecurityGroupId = sg
				req.Permissions = &[]ecs.AuthorizeSecurityGroupEgressPermissions{{IpProtocol: tt.from.proto, PortRange: tt.from.ports, SourcePortRange: tt.from.srcPorts, DestCidrIp: cidr}}
				if _, err := c.AuthorizeSecurityGroupEgress(req); err != nil {
					t.Fatal(err)
				}
			} else {
				req := ecs.CreateAuthorizeSecurityGroupRequest()
				req.SecurityGroupId = sg
				req.Permissions = &[]ecs.AuthorizeSecurityGroupPermissions{{IpProtocol: tt.from.proto, PortRange: tt.from.ports, SourcePortRange: tt.from.srcPorts, SourceCidrIp: cidr}}
				if _, err := c.AuthorizeSecurityGroup(req); err != nil {
					t.Fatal(err)
				}
			}
			find := func() ecs.Permission {
				t.Helper()
				for _, p := range sgAttr(t, c, sg).Permissions.Permission {
					if p.Direction == dir && (p.SourceCidrIp == cidr || p.DestCidrIp == cidr) {
						return p
					}
				}
				t.Fatalf("rule for %s not found", cidr)
				return ecs.Permission{}
			}
			ruleID := find().SecurityGroupRuleId

			before := env.Snapshot(t)
			var err error
			if tt.egress {
				m := ecs.CreateModifySecurityGroupEgressRuleRequest()
				m.SecurityGroupId, m.SecurityGroupRuleId = sg, ruleID
				m.IpProtocol, m.PortRange, m.SourcePortRange = tt.patch.proto, tt.patch.ports, tt.patch.srcPorts
				_, err = c.ModifySecurityGroupEgressRule(m)
			} else {
				m := ecs.CreateModifySecurityGroupRuleRequest()
				m.SecurityGroupId, m.SecurityGroupRuleId = sg, ruleID
				m.IpProtocol, m.PortRange, m.SourcePortRange = tt.patch.proto, tt.patch.ports, tt.patch.srcPorts
				_, err = c.ModifySecurityGroupRule(m)
			}
			if tt.code != "" {
				status, code := apitest.ServerErr(t, err)
				if status != 400 || code != tt.code {
					t.Errorf("got %d %s, want 400 %s (%v)", status, code, tt.code, err)
				}
				if code == "MissingParameter" && !strings.Contains(err.Error(), "PortRange") {
					t.Errorf("the error does not ask for PortRange: %v", err)
				}
				if after := env.Snapshot(t); !maps.Equal(before, after) {
					t.Errorf("the refused modification changed the store")
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				p := find()
				got := rule{p.IpProtocol, p.PortRange, p.SourcePortRange}
				if got != tt.want || p.SecurityGroupRuleId != ruleID {
					t.Errorf("after modify: %+v (ID %s), want %+v (ID %s)", got, p.SecurityGroupRuleId, tt.want, ruleID)
				}
			}

			// AuthorizeSecurityGroup answers the same to the same protocol
			// and ports.
			if tt.authErr != "" {
				params := map[string]string{"SecurityGroupId": sg, "Permissions.1.SourceCidrIp": "192.0.2.0/24"}
				if tt.patch.proto != "" {
					params["Permissions.1.IpProtocol"] = tt.patch.proto
				} else {
					params["Permissions.1.IpProtocol"] = tt.from.proto
				}
				if tt.patch.ports != "" {
					params["Permissions.1.PortRange"] = tt.patch.ports
				}
				_, err := env.Common(t, env.Admin, "2014-05-26", "AuthorizeSecurityGroup", params)
				if _, code := apitest.ServerErr(t, err); code != tt.authErr {
					t.Errorf("AuthorizeSecurityGroup with %v: %s, want %s (%v)", params, code, tt.authErr, err)
				}
			}
		})
	}
}

// TestSecurityGroupNameSDK: SecurityGroupName follows the cloud's rule in
// CreateSecurityGroup and ModifySecurityGroupAttribute alike: 2-128
// characters, a letter first (Chinese characters are letters), then
// letters, digits, '.', '_', ':', '-', not starting with http:// or
// https://. A refused name changes nothing.
func TestSecurityGroupNameSDK(t *testing.T) {
	env := apitest.Start(t)
	c := env.ECS(t, env.Admin)
	vpcID := sgFixtureVPC(t, env, env.Admin.AccountID, "10.0.0.0/8")
	existing := createSG(t, c, vpcID, "existing", "")
	tests := []struct {
		name, groupName string
		ok              bool
	}{
		{"two letters", "ab", true},
		{"all allowed characters", "Web.sg_01:blue-2", true},
		{"chinese", "安全组a", true},
		{"128 characters", "s" + strings.Repeat("g", 127), true},
		{"128 chinese characters", strings.Repeat("组", 128), true},
		{"letters then a colon", "http:x", true},
		{"one character", "g", false},
		{"129 characters", "s" + strings.Repeat("g", 128), false},
		{"http url", "http://sg", false},
		{"https url", "https://sg", false},
		{"starts with a digit", "1sg", false},
		{"starts with a dot", ".sg", false},
		{"space", "web sg", false},
		{"star and tilde", "sg*~", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := env.Snapshot(t)
			req := ecs.CreateCreateSecurityGroupRequest()
			req.VpcId, req.SecurityGroupName = vpcID, tt.groupName
			resp, err := c.CreateSecurityGroup(req)
			mod := ecs.CreateModifySecurityGroupAttributeRequest()
			mod.SecurityGroupId, mod.SecurityGroupName = existing, tt.groupName
			_, modErr := c.ModifySecurityGroupAttribute(mod)
			if tt.ok {
				if err != nil || modErr != nil {
					t.Fatalf("name %q: create %v, modify %v", tt.groupName, err, modErr)
				}
				if got := sgAttr(t, c, resp.SecurityGroupId).SecurityGroupName; got != tt.groupName {
					t.Errorf("created with name %q, want %q", got, tt.groupName)
				}
				if got := sgAttr(t, c, existing).SecurityGroupName; got != tt.groupName {
					t.Errorf("renamed to %q, want %q", got, tt.groupName)
				}
				return
			}
			for what, err := range map[string]error{"CreateSecurityGroup": err, "ModifySecurityGroupAttribute": modErr} {
				if status, code := apitest.ServerErr(t, err); status != 400 || code != "InvalidSecurityGroupName.Malformed" {
					t.Errorf("%s %q: got %d %s, want 400 InvalidSecurityGroupName.Malformed (%v)", what, tt.groupName, status, code, err)
				}
			}
			if after := env.Snapshot(t); !maps.Equal(before, after) {
				t.Errorf("the refused calls changed the store")
			}
		})
	}
}
