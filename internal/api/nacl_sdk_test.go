package api_test

import (
	"maps"
	"strconv"
	"strings"
	"testing"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/vpc"

	"github.com/palisade-project/palisade/internal/api"
	"github.com/palisade-project/palisade/internal/apitest"
	"github.com/palisade-project/palisade/internal/service"
)

func createACL(t *testing.T, c *vpc.Client, vpcID, name string) string {
	t.Helper()
	req := vpc.CreateCreateNetworkAclRequest()
	req.VpcId, req.NetworkAclName = vpcID, name
	resp, err := c.CreateNetworkAcl(req)
	if err != nil {
		t.Fatalf("CreateNetworkAcl: %v", err)
	}
	if !strings.HasPrefix(resp.NetworkAclId, "nacl-") || resp.NetworkAclAttribute.VpcId != vpcID {
		t.Fatalf("CreateNetworkAcl: %+v", resp)
	}
	return resp.NetworkAclId
}

func aclAttr(t *testing.T, c *vpc.Client, id string) vpc.NetworkAclAttribute {
	t.Helper()
	req := vpc.CreateDescribeNetworkAclAttributesRequest()
	req.NetworkAclId = id
	resp, err := c.DescribeNetworkAclAttributes(req)
	if err != nil {
		t.Fatalf("DescribeNetworkAclAttributes: %v", err)
	}
	return resp.NetworkAclAttribute
}

func TestNetworkACLLifecycleSDK(t *testing.T) {
	env := apitest.Start(t)
	c := env.VPC(t, env.Admin)
	vpcID := createVPC(t, c, "10.0.0.0/16", "")
	vsw1 := createVSwitch(t, c, vpcID, "10.0.1.0/24")
	vsw2 := createVSwitch(t, c, vpcID, "10.0.2.0/24")
	acl := createACL(t, c, vpcID, "web-acl")

	// A new ACL has no entries (it denies everything once associated).
	if a := aclAttr(t, c, acl); len(a.IngressAclEntries.IngressAclEntry) != 0 || len(a.EgressAclEntries.EgressAclEntry) != 0 || a.Status != "Available" {
		t.Errorf("new ACL: %+v", a)
	}

	upd := vpc.CreateUpdateNetworkAclEntriesRequest()
	upd.NetworkAclId, upd.UpdateIngressAclEntries, upd.UpdateEgressAclEntries = acl, requests.NewBoolean(true), requests.NewBoolean(true)
	upd.IngressAclEntries = &[]vpc.UpdateNetworkAclEntriesIngressAclEntries{
		{NetworkAclEntryName: "ssh-drop", Policy: "drop", Protocol: "tcp", Port: "22/22", SourceCidrIp: "10.0.2.0/24"},
		{NetworkAclEntryName: "web", Policy: "accept", Protocol: "tcp", Port: "80/443", SourceCidrIp: "0.0.0.0/0"},
		{NetworkAclEntryName: "ping", Policy: "accept", Protocol: "icmp", Port: "-1/-1", SourceCidrIp: "10.0.0.0/16"},
	}
	upd.EgressAclEntries = &[]vpc.UpdateNetworkAclEntriesEgressAclEntries{
		{NetworkAclEntryName: "all-out", Policy: "accept", Protocol: "all", Port: "-1/-1", DestinationCidrIp: "0.0.0.0/0"},
	}
	if _, err := c.UpdateNetworkAclEntries(upd); err != nil {
		t.Fatal(err)
	}
	a := aclAttr(t, c, acl)
	in := a.IngressAclEntries.IngressAclEntry
	if len(in) != 3 || in[0].NetworkAclEntryName != "ssh-drop" || in[0].Policy != "drop" || in[1].Port != "80/443" ||
		in[2].Protocol != "icmp" || in[2].Port != "-1/-1" || in[0].IpVersion != "IPv4" || !strings.HasPrefix(in[0].NetworkAclEntryId, "nae-") {
		t.Errorf("ingress entries (order is priority): %+v", in)
	}
	if out := a.EgressAclEntries.EgressAclEntry; len(out) != 1 || out[0].DestinationCidrIp != "0.0.0.0/0" {
		t.Errorf("egress entries: %+v", out)
	}

	// Replace ingress only: egress stays; order follows the new list.
	upd2 := vpc.CreateUpdateNetworkAclEntriesRequest()
	upd2.NetworkAclId, upd2.UpdateIngressAclEntries = acl, requests.NewBoolean(true)
	upd2.IngressAclEntries = &[]vpc.UpdateNetworkAclEntriesIngressAclEntries{
		{NetworkAclEntryName: "ping", Policy: "accept", Protocol: "icmp", Port: "-1/-1", SourceCidrIp: "10.0.0.0/16"},
		{NetworkAclEntryName: "v6", Policy: "accept", Protocol: "udp", Port: "53/53", SourceCidrIp: "fd00::/8", IpVersion: "IPv6"},
	}
	if _, err := c.UpdateNetworkAclEntries(upd2); err != nil {
		t.Fatal(err)
	}
	a = aclAttr(t, c, acl)
	if in := a.IngressAclEntries.IngressAclEntry; len(in) != 2 || in[0].NetworkAclEntryName != "ping" || in[1].IpVersion != "IPv6" {
		t.Errorf("after ingress replace: %+v", in)
	}
	if len(a.EgressAclEntries.EgressAclEntry) != 1 {
		t.Errorf("egress changed by an ingress-only update: %+v", a.EgressAclEntries)
	}

	assoc := vpc.CreateAssociateNetworkAclRequest()
	assoc.NetworkAclId = acl
	assoc.Resource = &[]vpc.AssociateNetworkAclResource{{ResourceId: vsw1, ResourceType: "VSwitch"}, {ResourceId: vsw2, ResourceType: "VSwitch"}}
	if _, err := c.AssociateNetworkAcl(assoc); err != nil {
		t.Fatal(err)
	}
	if a := aclAttr(t, c, acl); len(a.Resources.Resource) != 2 {
		t.Errorf("resources after associate: %+v", a.Resources)
	}
	wa := vpc.CreateDescribeVSwitchAttributesRequest()
	wa.VSwitchId = vsw1
	if w, err := c.DescribeVSwitchAttributes(wa); err != nil || w.NetworkAclId != acl {
		t.Errorf("vSwitch NetworkAclId: %v %q", err, w.NetworkAclId)
	}
	list := vpc.CreateDescribeNetworkAclsRequest()
	list.ResourceId = vsw2
	if l, err := c.DescribeNetworkAcls(list); err != nil || l.TotalCount != "1" || l.NetworkAcls.NetworkAcl[0].NetworkAclId != acl {
		t.Errorf("DescribeNetworkAcls by resource: %v %+v", err, l)
	}

	// Copy into a second ACL: same entries, new IDs.
	acl2 := createACL(t, c, vpcID, "copy")
	cp := vpc.CreateCopyNetworkAclEntriesRequest()
	cp.NetworkAclId, cp.SourceNetworkAclId = acl2, acl
	if _, err := c.CopyNetworkAclEntries(cp); err != nil {
		t.Fatal(err)
	}
	a2 := aclAttr(t, c, acl2)
	if len(a2.IngressAclEntries.IngressAclEntry) != 2 || a2.IngressAclEntries.IngressAclEntry[0].NetworkAclEntryId == a.IngressAclEntries.IngressAclEntry[0].NetworkAclEntryId {
		t.Errorf("copied entries: %+v", a2.IngressAclEntries)
	}

	mod := vpc.CreateModifyNetworkAclAttributesRequest()
	mod.NetworkAclId, mod.NetworkAclName, mod.Description = acl, "renamed", "edge"
	if _, err := c.ModifyNetworkAclAttributes(mod); err != nil {
		t.Fatal(err)
	}
	if a := aclAttr(t, c, acl); a.NetworkAclName != "renamed" || a.Description != "edge" {
		t.Errorf("after modify: %+v", a)
	}

	// Associated: not deletable; a vSwitch with an ACL is not deletable.
	del := vpc.CreateDeleteNetworkAclRequest()
	del.NetworkAclId = acl
	if _, err := c.DeleteNetworkAcl(del); err == nil {
		t.Fatal("DeleteNetworkAcl of an associated ACL succeeded")
	} else if _, code := apitest.ServerErr(t, err); code != "DependencyViolation" {
		t.Errorf("delete associated: %s", code)
	}
	un := vpc.CreateUnassociateNetworkAclRequest()
	un.NetworkAclId = acl
	un.Resource = &[]vpc.UnassociateNetworkAclResource{{ResourceId: vsw1, ResourceType: "VSwitch"}, {ResourceId: vsw2, ResourceType: "VSwitch"}}
	if _, err := c.UnassociateNetworkAcl(un); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteNetworkAcl(del); err != nil {
		t.Fatal(err)
	}
	if l, err := c.DescribeNetworkAcls(vpc.CreateDescribeNetworkAclsRequest()); err != nil || l.TotalCount != "1" {
		t.Errorf("after delete: %v %+v", err, l)
	}
}

func TestNetworkACLBadInputSDK(t *testing.T) {
	q := service.DefaultQuotas()
	q.ACLEntriesPerDirection = 3
	env := apitest.Start(t, apitest.WithQuotas(q))
	c := env.VPC(t, env.Admin)
	vpcID := createVPC(t, c, "10.0.0.0/16", "")
	other := createVPC(t, c, "10.1.0.0/16", "")
	vsw := createVSwitch(t, c, vpcID, "10.0.1.0/24")
	otherVsw := createVSwitch(t, c, other, "10.1.1.0/24")
	acl := createACL(t, c, vpcID, "a")
	acl2 := createACL(t, c, vpcID, "b")
	if _, err := env.Common(t, env.Admin, api.VersionVPC, "AssociateNetworkAcl", map[string]string{
		"NetworkAclId": acl, "Resource.1.ResourceId": vsw, "Resource.1.ResourceType": "VSwitch"}); err != nil {
		t.Fatal(err)
	}
	entry := func(kv ...string) map[string]string {
		m := map[string]string{"NetworkAclId": acl, "UpdateIngressAclEntries": "true",
			"IngressAclEntries.1.Protocol": "tcp", "IngressAclEntries.1.Port": "80/80", "IngressAclEntries.1.SourceCidrIp": "10.0.0.0/8"}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "" {
				delete(m, kv[i])
			} else {
				m[kv[i]] = kv[i+1]
			}
		}
		return m
	}
	many := entry()
	for i := 1; i <= 4; i++ {
		n := strconv.Itoa(i)
		many["IngressAclEntries."+n+".Protocol"], many["IngressAclEntries."+n+".Port"], many["IngressAclEntries."+n+".SourceCidrIp"] = "tcp", n+"/"+n, "10.0.0.0/8"
	}
	tests := []struct {
		name, action string
		params       map[string]string
		status       int
		code         string
	}{
		{"create no vpc", "CreateNetworkAcl", map[string]string{}, 400, "MissingParameter"},
		{"create unknown vpc", "CreateNetworkAcl", map[string]string{"VpcId": "vpc-nope"}, 404, "InvalidVpcId.NotFound"},
		{"create bad initial entry", "CreateNetworkAcl", map[string]string{"VpcId": vpcID, "IngressAclEntries.1.Protocol": "sctp", "IngressAclEntries.1.SourceCidrIp": "10.0.0.0/8"}, 400, "IllegalParam.Protocol"},
		{"update no flag", "UpdateNetworkAclEntries", entry("UpdateIngressAclEntries", ""), 400, "MissingParameter"},
		{"bad cidr", "UpdateNetworkAclEntries", entry("IngressAclEntries.1.SourceCidrIp", "10.0.0.300/8"), 400, "IllegalParam.CidrIp"},
		{"cidr host bits", "UpdateNetworkAclEntries", entry("IngressAclEntries.1.SourceCidrIp", "10.0.0.1/8"), 400, "IllegalParam.CidrIp"},
		{"missing cidr", "UpdateNetworkAclEntries", entry("IngressAclEntries.1.SourceCidrIp", ""), 400, "MissingParameter"},
		{"egress needs destination", "UpdateNetworkAclEntries", map[string]string{"NetworkAclId": acl, "UpdateEgressAclEntries": "true",
			"EgressAclEntries.1.Protocol": "all", "EgressAclEntries.1.Port": "-1/-1", "EgressAclEntries.1.SourceCidrIp": "10.0.0.0/8"}, 400, "MissingParameter"},
		{"port on icmp", "UpdateNetworkAclEntries", entry("IngressAclEntries.1.Protocol", "icmp"), 400, "IllegalParam.Port"},
		{"port on all", "UpdateNetworkAclEntries", entry("IngressAclEntries.1.Protocol", "all", "IngressAclEntries.1.Port", "1/65535"), 400, "IllegalParam.Port"},
		{"no port on tcp", "UpdateNetworkAclEntries", entry("IngressAclEntries.1.Port", ""), 400, "MissingParameter"},
		{"port -1 on tcp", "UpdateNetworkAclEntries", entry("IngressAclEntries.1.Port", "-1/-1"), 400, "IllegalParam.Port"},
		{"port too big", "UpdateNetworkAclEntries", entry("IngressAclEntries.1.Port", "1/65536"), 400, "IllegalParam.Port"},
		{"port reversed", "UpdateNetworkAclEntries", entry("IngressAclEntries.1.Port", "90/80"), 400, "IllegalParam.Port"},
		{"port garbage", "UpdateNetworkAclEntries", entry("IngressAclEntries.1.Port", "http"), 400, "IllegalParam.Port"},
		{"bad protocol", "UpdateNetworkAclEntries", entry("IngressAclEntries.1.Protocol", "sctp"), 400, "IllegalParam.Protocol"},
		{"bad policy", "UpdateNetworkAclEntries", entry("IngressAclEntries.1.Policy", "maybe"), 400, "IllegalParam.Policy"},
		{"ip version mismatch", "UpdateNetworkAclEntries", entry("IngressAclEntries.1.IpVersion", "IPv6"), 400, "IllegalParam.IpVersion"},
		{"too many entries", "UpdateNetworkAclEntries", many, 403, "QuotaExceeded.NetworkAclEntry"},
		{"unknown acl", "UpdateNetworkAclEntries", entry("NetworkAclId", "nacl-nope"), 404, "InvalidNetworkAclId.NotFound"},
		{"associate other vpc", "AssociateNetworkAcl", map[string]string{"NetworkAclId": acl, "Resource.1.ResourceId": otherVsw, "Resource.1.ResourceType": "VSwitch"}, 400, "InvalidVSwitchId.VpcMismatch"},
		{"associate second acl", "AssociateNetworkAcl", map[string]string{"NetworkAclId": acl2, "Resource.1.ResourceId": vsw, "Resource.1.ResourceType": "VSwitch"}, 400, "OperationConflict.VSwitchAssociated"},
		{"associate wrong type", "AssociateNetworkAcl", map[string]string{"NetworkAclId": acl, "Resource.1.ResourceId": vsw, "Resource.1.ResourceType": "Instance"}, 400, "IllegalParam.ResourceType"},
		{"associate nothing", "AssociateNetworkAcl", map[string]string{"NetworkAclId": acl}, 400, "MissingParameter"},
		{"unassociate not associated", "UnassociateNetworkAcl", map[string]string{"NetworkAclId": acl2, "Resource.1.ResourceId": vsw, "Resource.1.ResourceType": "VSwitch"}, 400, "InvalidVSwitchId.NotAssociated"},
		{"delete associated", "DeleteNetworkAcl", map[string]string{"NetworkAclId": acl}, 403, "DependencyViolation"},
		{"delete vswitch with acl", "DeleteVSwitch", map[string]string{"VSwitchId": vsw}, 403, "DependencyViolation"},
		{"copy unknown source", "CopyNetworkAclEntries", map[string]string{"NetworkAclId": acl, "SourceNetworkAclId": "nacl-nope"}, 404, "InvalidNetworkAclId.NotFound"},
		{"name too long", "ModifyNetworkAclAttributes", map[string]string{"NetworkAclId": acl, "NetworkAclName": strings.Repeat("n", 129)}, 400, "IllegalParam.NetworkAclName"},
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

	// Tenant isolation.
	bob := env.NewAccount(t, "bob")
	before := env.Snapshot(t)
	for action, params := range map[string]map[string]string{
		"DescribeNetworkAclAttributes": {"NetworkAclId": acl},
		"ModifyNetworkAclAttributes":   {"NetworkAclId": acl, "NetworkAclName": "pwned"},
		"UpdateNetworkAclEntries":      {"NetworkAclId": acl, "UpdateIngressAclEntries": "true"},
		"DeleteNetworkAcl":             {"NetworkAclId": acl2},
		"CopyNetworkAclEntries":        {"NetworkAclId": acl2, "SourceNetworkAclId": acl},
	} {
		_, err := env.Common(t, bob, api.VersionVPC, action, params)
		if _, code := apitest.ServerErr(t, err); code != "InvalidNetworkAclId.NotFound" {
			t.Errorf("bob %s: %s", action, code)
		}
	}
	if l, err := env.Common(t, bob, api.VersionVPC, "DescribeNetworkAcls", nil); err != nil || l["TotalCount"] != "0" {
		t.Errorf("bob lists ACLs: %v %v", err, l["TotalCount"])
	}
	if after := env.Snapshot(t); !maps.Equal(before, after) {
		t.Error("bob changed the store")
	}
}
