package api_test

import (
	"encoding/base64"
	stderrors "errors"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"

	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/vpc"

	"github.com/palisade-project/palisade/internal/apitest"
	"github.com/palisade-project/palisade/internal/service"
)

// errMessage is the Message of an API error from the V1 SDK.
func errMessage(t *testing.T, err error) string {
	t.Helper()
	var se *sdkerrors.ServerError
	if !stderrors.As(err, &se) {
		t.Fatalf("not a server error: %v", err)
	}
	return se.Message()
}

// TestListIndexesSDK drives every kind of ".N" list through raw parameters:
// an element the action cannot take is refused with a message naming the
// parameter and the documented range (never dropped), index 0 is taken
// where the cloud documents it (ACL entries, ACL resources, CreateNetworkInterface
// PrivateIpAddress.N), and gaps are taken in index order.
func TestListIndexesSDK(t *testing.T) {
	env := apitest.Start(t)
	v := env.VPC(t, env.Admin)
	c := env.ECS(t, env.Admin)
	net := newNet(t, env, env.Admin, "10.0.0.0/16", "10.0.1.0/24")
	acl := createACL(t, v, net.vpc, "acl")

	const ecsV, vpcV = "2014-05-26", "2016-04-28"
	entry := func(m map[string]string, prefix, policy, port string) {
		m[prefix+".Policy"], m[prefix+".Protocol"], m[prefix+".Port"], m[prefix+".SourceCidrIp"] = policy, "tcp", port, "10.0.0.0/8"
	}
	aclUpdate := func(idx ...string) map[string]string {
		m := map[string]string{"NetworkAclId": acl, "UpdateIngressAclEntries": "true"}
		for i, n := range idx {
			entry(m, "IngressAclEntries."+n, "accept", strconv.Itoa(1000+i)+"/"+strconv.Itoa(1000+i))
		}
		return m
	}
	perm := func(idx ...string) map[string]string {
		m := map[string]string{"SecurityGroupId": net.sg}
		for i, n := range idx {
			p := "Permissions." + n
			m[p+".IpProtocol"], m[p+".PortRange"], m[p+".SourceCidrIp"] = "tcp", strconv.Itoa(2000+i)+"/"+strconv.Itoa(2000+i), "10.0.0.0/8"
		}
		return m
	}
	refused := []struct {
		name, version, action string
		params                map[string]string
		inMessage             []string // the message names the parameter and the range
	}{
		{"acl entry 500", vpcV, "UpdateNetworkAclEntries", aclUpdate("0", "500"), []string{"IngressAclEntries.500", "0 to 100"}},
		{"acl entry 101", vpcV, "UpdateNetworkAclEntries", aclUpdate("101"), []string{"IngressAclEntries.101", "0 to 100"}},
		{"acl entry negative", vpcV, "UpdateNetworkAclEntries", aclUpdate("-1"), []string{"IngressAclEntries.-1", "0 to 100"}},
		{"acl entry not a number", vpcV, "UpdateNetworkAclEntries", aclUpdate("first"), []string{"IngressAclEntries.first"}},
		{"acl entry leading zero", vpcV, "UpdateNetworkAclEntries", aclUpdate("1", "01"), []string{"IngressAclEntries.01"}},
		{"acl egress 101", vpcV, "UpdateNetworkAclEntries", map[string]string{
			"NetworkAclId": acl, "UpdateEgressAclEntries": "true", "EgressAclEntries.101.Protocol": "all", "EgressAclEntries.101.DestinationCidrIp": "0.0.0.0/0",
		}, []string{"EgressAclEntries.101", "0 to 100"}},
		{"acl entry without field", vpcV, "UpdateNetworkAclEntries", map[string]string{"NetworkAclId": acl, "UpdateIngressAclEntries": "true", "IngressAclEntries.1": "x"}, []string{"IngressAclEntries.1"}},
		{"acl resource 31", vpcV, "AssociateNetworkAcl", map[string]string{"NetworkAclId": acl, "Resource.31.ResourceId": net.vsw, "Resource.31.ResourceType": "VSwitch"}, []string{"Resource.31", "0 to 30"}},
		{"acl resources 0 to 30", vpcV, "AssociateNetworkAcl", func() map[string]string {
			m := map[string]string{"NetworkAclId": acl}
			for i := 0; i <= 30; i++ {
				m["Resource."+strconv.Itoa(i)+".ResourceId"], m["Resource."+strconv.Itoa(i)+".ResourceType"] = "vsw-x"+strconv.Itoa(i), "VSwitch"
			}
			return m
		}(), []string{"Resource.N", "at most 30"}},
		{"permissions 0", ecsV, "AuthorizeSecurityGroup", perm("0"), []string{"Permissions.0", "1 to 100"}},
		{"permissions 0 and 1", ecsV, "AuthorizeSecurityGroup", perm("0", "1"), []string{"Permissions.0", "1 to 100"}},
		{"permissions 101", ecsV, "AuthorizeSecurityGroup", perm("101"), []string{"Permissions.101", "1 to 100"}},
		{"permissions plus sign", ecsV, "AuthorizeSecurityGroup", perm("+1"), []string{"Permissions.+1"}},
		{"egress permissions 0", ecsV, "AuthorizeSecurityGroupEgress", map[string]string{
			"SecurityGroupId": net.sg, "Permissions.0.IpProtocol": "all", "Permissions.0.PortRange": "-1/-1", "Permissions.0.DestCidrIp": "0.0.0.0/0",
		}, []string{"Permissions.0", "1 to 100"}},
		{"revoke permissions 0", ecsV, "RevokeSecurityGroup", perm("0"), []string{"Permissions.0", "1 to 100"}},
		{"revoke rule id 0", ecsV, "RevokeSecurityGroup", map[string]string{"SecurityGroupId": net.sg, "SecurityGroupRuleId.0": "sgr-x"}, []string{"SecurityGroupRuleId.0", "1 to 100"}},
		{"revoke rule id with field", ecsV, "RevokeSecurityGroup", map[string]string{"SecurityGroupId": net.sg, "SecurityGroupRuleId.1.Id": "sgr-x"}, []string{"SecurityGroupRuleId.1.Id"}},
		{"tag 0", ecsV, "CreateSecurityGroup", map[string]string{"VpcId": net.vpc, "Tag.0.Key": "env", "Tag.0.Value": "prod"}, []string{"Tag.0", "1 to 20"}},
		{"tag 21", ecsV, "CreateSecurityGroup", map[string]string{"VpcId": net.vpc, "Tag.21.Key": "env"}, []string{"Tag.21", "1 to 20"}},
		{"vpc tag 0", vpcV, "CreateVpc", map[string]string{"CidrBlock": "10.9.0.0/16", "Tag.0.Key": "env"}, []string{"Tag.0", "1 to 20"}},
		{"acl filter tags 0", vpcV, "DescribeNetworkAcls", map[string]string{"Tags.0.Key": "env"}, []string{"Tags.0", "1 to 20"}},
		{"references 11", ecsV, "DescribeSecurityGroupReferences", map[string]string{"SecurityGroupId.11": net.sg}, []string{"SecurityGroupId.11", "1 to 10"}},
		{"delete instances 0", ecsV, "DeleteInstances", map[string]string{"InstanceId.0": "i-x"}, []string{"InstanceId.0", "1 to 100"}},
		{"eni groups 0", ecsV, "CreateNetworkInterface", map[string]string{"VSwitchId": net.vsw, "SecurityGroupIds.0": net.sg}, []string{"SecurityGroupIds.0"}},
		{"eni ipv6 0", ecsV, "CreateNetworkInterface", map[string]string{"VSwitchId": net.vsw, "SecurityGroupId": net.sg, "Ipv6Address.0": "fd00::5"}, []string{"Ipv6Address.0", "1 to 10"}},
		{"eni private ip 11", ecsV, "CreateNetworkInterface", map[string]string{"VSwitchId": net.vsw, "SecurityGroupId": net.sg, "PrivateIpAddress.11": "10.0.1.50"}, []string{"PrivateIpAddress.11", "0 to 10"}},
		{"modify eni groups 0", ecsV, "ModifyNetworkInterfaceAttribute", map[string]string{"NetworkInterfaceId": "eni-x", "SecurityGroupId.0": net.sg}, []string{"SecurityGroupId.0"}},
		{"assign ip 0", ecsV, "AssignPrivateIpAddresses", map[string]string{"NetworkInterfaceId": "eni-x", "PrivateIpAddress.0": "10.0.1.9"}, []string{"PrivateIpAddress.0", "1 to 50"}},
		{"unassign ip 0", ecsV, "UnassignPrivateIpAddresses", map[string]string{"NetworkInterfaceId": "eni-x", "PrivateIpAddress.0": "10.0.1.9"}, []string{"PrivateIpAddress.0", "1 to 50"}},
		{"describe enis id 0", ecsV, "DescribeNetworkInterfaces", map[string]string{"NetworkInterfaceId.0": "eni-x"}, []string{"NetworkInterfaceId.0", "1 to 100"}},
		{"run instances eni 0", ecsV, "RunInstances", map[string]string{
			"ImageId": "img", "InstanceType": "t", "VSwitchId": net.vsw, "SecurityGroupId": net.sg, "NetworkInterface.0.VSwitchId": net.vsw,
		}, []string{"NetworkInterface.0"}},
		{"run instances eni groups 0", ecsV, "RunInstances", map[string]string{
			"ImageId": "img", "InstanceType": "t", "VSwitchId": net.vsw, "SecurityGroupId": net.sg,
			"NetworkInterface.1.VSwitchId": net.vsw, "NetworkInterface.1.SecurityGroupIds.0": net.sg,
		}, []string{"NetworkInterface.1.SecurityGroupIds.0"}},
		{"run instances eni ipv6 11", ecsV, "RunInstances", map[string]string{
			"ImageId": "img", "InstanceType": "t", "VSwitchId": net.vsw, "SecurityGroupId": net.sg,
			"NetworkInterface.1.VSwitchId": net.vsw, "NetworkInterface.1.Ipv6Address.11": "fd00::1",
		}, []string{"NetworkInterface.1.Ipv6Address.11", "1 to 10"}},
	}
	for _, tt := range refused {
		t.Run("refused/"+tt.name, func(t *testing.T) {
			before := env.Snapshot(t)
			_, err := env.Common(t, env.Admin, tt.version, tt.action, tt.params)
			if status, code := apitest.ServerErr(t, err); status != 400 || code != "InvalidParameter" {
				t.Fatalf("got %d %s, want 400 InvalidParameter (%v)", status, code, err)
			}
			msg := errMessage(t, err)
			for _, want := range tt.inMessage {
				if !strings.Contains(msg, want) {
					t.Errorf("message %q does not name %q", msg, want)
				}
			}
			if after := env.Snapshot(t); !maps.Equal(before, after) {
				t.Errorf("the refused call changed the store")
			}
		})
	}

	// Taken: index 0 where documented, gaps, numeric (not lexical) order.
	ingress := func() []vpc.IngressAclEntry { return aclAttr(t, v, acl).IngressAclEntries.IngressAclEntry }
	taken := []struct {
		name   string
		params map[string]string
		want   []string // Policy/Port of the stored entries in order
	}{
		{"index 0 drop before 1 accept", func() map[string]string {
			m := map[string]string{"NetworkAclId": acl, "UpdateIngressAclEntries": "true"}
			entry(m, "IngressAclEntries.1", "accept", "22/22")
			entry(m, "IngressAclEntries.0", "drop", "22/22")
			return m
		}(), []string{"drop 22/22", "accept 22/22"}},
		{"index 0 alone", func() map[string]string {
			m := map[string]string{"NetworkAclId": acl, "UpdateIngressAclEntries": "true"}
			entry(m, "IngressAclEntries.0", "drop", "23/23")
			return m
		}(), []string{"drop 23/23"}},
		{"gap 1 and 3", func() map[string]string {
			m := map[string]string{"NetworkAclId": acl, "UpdateIngressAclEntries": "true"}
			entry(m, "IngressAclEntries.3", "accept", "3/3")
			entry(m, "IngressAclEntries.1", "drop", "1/1")
			return m
		}(), []string{"drop 1/1", "accept 3/3"}},
		{"numeric order 2 before 10", func() map[string]string {
			m := map[string]string{"NetworkAclId": acl, "UpdateIngressAclEntries": "true"}
			entry(m, "IngressAclEntries.10", "accept", "10/10")
			entry(m, "IngressAclEntries.2", "drop", "2/2")
			entry(m, "IngressAclEntries.99", "accept", "99/99")
			return m
		}(), []string{"drop 2/2", "accept 10/10", "accept 99/99"}},
	}
	for _, tt := range taken {
		t.Run("taken/"+tt.name, func(t *testing.T) {
			if _, err := env.Common(t, env.Admin, vpcV, "UpdateNetworkAclEntries", tt.params); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range ingress() {
				got = append(got, e.Policy+" "+e.Port)
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("stored %v, want %v", got, tt.want)
			}
		})
	}

	// The SDK numbers from 1: the documented 100 entries arrive as 1 to 100.
	full := vpc.CreateUpdateNetworkAclEntriesRequest()
	full.NetworkAclId, full.UpdateIngressAclEntries = acl, requests.NewBoolean(true)
	var hundred []vpc.UpdateNetworkAclEntriesIngressAclEntries
	for i := 1; i <= 100; i++ {
		hundred = append(hundred, vpc.UpdateNetworkAclEntriesIngressAclEntries{Policy: "accept", Protocol: "tcp", Port: strconv.Itoa(i) + "/" + strconv.Itoa(i), SourceCidrIp: "10.0.0.0/8"})
	}
	full.IngressAclEntries = &hundred
	if _, err := v.UpdateNetworkAclEntries(full); err != nil {
		t.Errorf("100 entries through the SDK: %v", err)
	} else if in := ingress(); len(in) != 100 || in[0].Port != "1/1" || in[99].Port != "100/100" {
		t.Errorf("100 entries through the SDK: stored %d", len(in))
	}

	// An error in an entry names the element by its wire index.
	bad := map[string]string{"NetworkAclId": acl, "UpdateIngressAclEntries": "true"}
	entry(bad, "IngressAclEntries.0", "maybe", "22/22")
	_, err := env.Common(t, env.Admin, vpcV, "UpdateNetworkAclEntries", bad)
	if _, code := apitest.ServerErr(t, err); code != "IllegalParam.Policy" || !strings.Contains(errMessage(t, err), "IngressAclEntries.0.Policy") {
		t.Errorf("bad entry 0: %s %q", code, errMessage(t, err))
	}

	// Resource.0 is documented (N: 0 to 29).
	if _, err := env.Common(t, env.Admin, vpcV, "AssociateNetworkAcl", map[string]string{
		"NetworkAclId": acl, "Resource.0.ResourceId": net.vsw, "Resource.0.ResourceType": "VSwitch",
	}); err != nil {
		t.Fatalf("Resource.0: %v", err)
	}
	if r := aclAttr(t, v, acl).Resources.Resource; len(r) != 1 || r[0].ResourceId != net.vsw {
		t.Errorf("after Resource.0: %+v", r)
	}

	// Permissions with a gap: both rules added.
	if _, err := env.Common(t, env.Admin, ecsV, "AuthorizeSecurityGroup", perm("1", "3")); err != nil {
		t.Fatal(err)
	}
	ports := map[string]bool{}
	for _, p := range sgAttr(t, c, net.sg).Permissions.Permission {
		ports[p.PortRange] = true
	}
	if !ports["2000/2000"] || !ports["2001/2001"] {
		t.Errorf("Permissions.1 and .3: rules %v", ports)
	}

	// CreateNetworkInterface PrivateIpAddress.N is documented from 0 to 10.
	out, err := env.Common(t, env.Admin, ecsV, "CreateNetworkInterface", map[string]string{
		"VSwitchId": net.vsw, "SecurityGroupId": net.sg, "PrivateIpAddress.0": "10.0.1.50", "PrivateIpAddress.2": "10.0.1.52",
	})
	if err != nil {
		t.Fatalf("PrivateIpAddress.0: %v", err)
	}
	eni := describeENI(t, c, out["NetworkInterfaceId"].(string))
	var ips []string
	for _, s := range eni.PrivateIpSets.PrivateIpSet {
		ips = append(ips, s.PrivateIpAddress)
	}
	if !strings.Contains(strings.Join(ips, ","), "10.0.1.50") || !strings.Contains(strings.Join(ips, ","), "10.0.1.52") {
		t.Errorf("ENI addresses %v, want 10.0.1.50 and 10.0.1.52 among them", ips)
	}
}

// TestNextTokenKeysetSDK: NextToken names the last item returned, so a
// delete or an insert between two pages neither skips nor repeats a
// resource, and a token not made by the action is refused.
func TestNextTokenKeysetSDK(t *testing.T) {
	env := apitest.Start(t)
	c := env.ECS(t, env.Admin)
	net := newNet(t, env, env.Admin, "10.0.0.0/16", "10.0.1.0/24")
	for i := 0; i < 5; i++ {
		createSG(t, c, net.vpc, "g"+strconv.Itoa(i), "")
	}
	list := func(max int, token string) *ecs.DescribeSecurityGroupsResponse {
		t.Helper()
		req := ecs.CreateDescribeSecurityGroupsRequest()
		req.MaxResults, req.NextToken = requests.NewInteger(max), token
		resp, err := c.DescribeSecurityGroups(req)
		if err != nil {
			t.Fatalf("DescribeSecurityGroups: %v", err)
		}
		return resp
	}
	ids := func(r *ecs.DescribeSecurityGroupsResponse) []string {
		var out []string
		for _, g := range r.SecurityGroups.SecurityGroup {
			out = append(out, g.SecurityGroupId)
		}
		return out
	}
	del := func(id string) {
		t.Helper()
		req := ecs.CreateDeleteSecurityGroupRequest()
		req.SecurityGroupId = id
		if _, err := c.DeleteSecurityGroup(req); err != nil {
			t.Fatal(err)
		}
	}

	// The list order: creation time, then ID.
	groups := ids(list(100, ""))
	if len(groups) != 6 {
		t.Fatalf("%d groups, want 6", len(groups))
	}
	p1 := list(2, "")
	if got := ids(p1); strings.Join(got, ",") != strings.Join(groups[:2], ",") || p1.NextToken == "" {
		t.Fatalf("page 1: %v token %q, want %v", got, p1.NextToken, groups[:2])
	}
	if p1.NextToken == "2" {
		t.Errorf("NextToken is a plain offset: %q", p1.NextToken)
	}
	// Delete one of the first page: the next page still starts at groups[2].
	del(groups[1])
	p2 := list(2, p1.NextToken)
	if got := ids(p2); strings.Join(got, ",") != strings.Join(groups[2:4], ",") {
		t.Errorf("page 2 after a delete: %v, want %v", got, groups[2:4])
	}
	// Delete the very item the token names, and insert one: the next page
	// starts right after the deleted item; nothing is repeated or skipped.
	// (The new group sorts by its creation time and ID: after the cursor it
	// is listed once, before it, not at all.)
	del(groups[3])
	fresh := createSG(t, c, net.vpc, "fresh", "")
	p3 := list(2, p2.NextToken)
	rest := ids(p3)
	for tok := p3.NextToken; tok != ""; {
		p := list(2, tok)
		rest, tok = append(rest, ids(p)...), p.NextToken
	}
	seen := map[string]int{}
	for _, id := range rest {
		seen[id]++
	}
	without := slices.DeleteFunc(slices.Clone(rest), func(id string) bool { return id == fresh })
	if strings.Join(without, ",") != groups[4]+","+groups[5] || seen[fresh] > 1 {
		t.Errorf("pages 3 on: %v, want %s then %s (and %s at most once)", rest, groups[4], groups[5], fresh)
	}

	// Tokens the action did not make.
	// The same position, but in another action's list.
	raw, err := base64.RawURLEncoding.DecodeString(p1.NextToken)
	if err != nil || !strings.Contains(string(raw), "DescribeSecurityGroups") {
		t.Fatalf("token %q: %v %q", p1.NextToken, err, raw)
	}
	instTok := base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(raw), "DescribeSecurityGroups", "DescribeInstances", 1)))
	for _, tok := range []string{"2", "1000", "0", "-1", "garbage", "!!!", p1.NextToken + "x", instTok} {
		t.Run("token "+tok, func(t *testing.T) {
			_, err := env.Common(t, env.Admin, "2014-05-26", "DescribeSecurityGroups", map[string]string{"NextToken": tok, "MaxResults": "2"})
			if status, code := apitest.ServerErr(t, err); status != 400 || code != "InvalidNextToken.Malformed" {
				t.Errorf("NextToken %q: %d %s, want 400 InvalidNextToken.Malformed", tok, status, code)
			}
		})
	}
}

// TestNextTokenRulesSDK: DescribeSecurityGroupAttribute pages rules by
// creation time then ID; a revoke between pages skips nothing.
func TestNextTokenRulesSDK(t *testing.T) {
	env := apitest.Start(t)
	c := env.ECS(t, env.Admin)
	vpcID := sgFixtureVPC(t, env, env.Admin.AccountID, "10.0.0.0/16")
	sg := createSG(t, c, vpcID, "rules", "")
	var perms []ecs.AuthorizeSecurityGroupPermissions
	for i := 1; i <= 25; i++ {
		perms = append(perms, ecs.AuthorizeSecurityGroupPermissions{IpProtocol: "tcp", PortRange: strconv.Itoa(i) + "/" + strconv.Itoa(i), SourceCidrIp: "10.0.0.0/8"})
	}
	auth := ecs.CreateAuthorizeSecurityGroupRequest()
	auth.SecurityGroupId, auth.Permissions = sg, &perms
	if _, err := c.AuthorizeSecurityGroup(auth); err != nil {
		t.Fatal(err)
	}
	page := func(token string) *ecs.DescribeSecurityGroupAttributeResponse {
		t.Helper()
		req := ecs.CreateDescribeSecurityGroupAttributeRequest()
		req.SecurityGroupId, req.MaxResults, req.NextToken = sg, requests.NewInteger(10), token
		resp, err := c.DescribeSecurityGroupAttribute(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	p1 := page("")
	if len(p1.Permissions.Permission) != 10 || p1.NextToken == "" {
		t.Fatalf("page 1: %d rules token %q", len(p1.Permissions.Permission), p1.NextToken)
	}
	seen := map[string]bool{}
	for _, p := range p1.Permissions.Permission {
		seen[p.SecurityGroupRuleId] = true
	}
	// Revoke two rules of the first page.
	rev := ecs.CreateRevokeSecurityGroupRequest()
	rev.SecurityGroupId = sg
	rev.SecurityGroupRuleId = &[]string{p1.Permissions.Permission[0].SecurityGroupRuleId, p1.Permissions.Permission[5].SecurityGroupRuleId}
	if _, err := c.RevokeSecurityGroup(rev); err != nil {
		t.Fatal(err)
	}
	for tok := p1.NextToken; tok != ""; {
		p := page(tok)
		for _, r := range p.Permissions.Permission {
			if seen[r.SecurityGroupRuleId] {
				t.Errorf("rule %s listed twice", r.SecurityGroupRuleId)
			}
			seen[r.SecurityGroupRuleId] = true
		}
		tok = p.NextToken
	}
	if len(seen) != 25 {
		t.Errorf("pages listed %d rules, want all 25 (23 left after the revoke plus the 2 revoked on page 1)", len(seen))
	}
	_, err := env.Common(t, env.Admin, "2014-05-26", "DescribeSecurityGroupAttribute", map[string]string{"SecurityGroupId": sg, "NextToken": "10"})
	if status, code := apitest.ServerErr(t, err); status != 400 || code != "InvalidNextToken.Malformed" {
		t.Errorf("offset token: %d %s", status, code)
	}
}

// TestMaxResultsLimitsSDK: each action takes MaxResults as it documents it.
func TestMaxResultsLimitsSDK(t *testing.T) {
	env := apitest.Start(t)
	c := env.ECS(t, env.Admin)
	net := newNet(t, env, env.Admin, "10.0.0.0/16", "10.0.1.0/24")
	for i := 0; i < 11; i++ {
		createSG(t, c, net.vpc, "g"+strconv.Itoa(i), "")
	}
	for i := 0; i < 11; i++ {
		req := ecs.CreateCreateNetworkInterfaceRequest()
		req.VSwitchId, req.SecurityGroupId = net.vsw, net.sg
		if _, err := c.CreateNetworkInterface(req); err != nil {
			t.Fatal(err)
		}
	}
	count := func(out map[string]any, path ...string) int {
		var cur any = out
		for _, p := range path {
			cur = cur.(map[string]any)[p]
		}
		return len(cur.([]any))
	}
	sgs := []string{"SecurityGroups", "SecurityGroup"}
	enis := []string{"NetworkInterfaceSets", "NetworkInterfaceSet"}
	tests := []struct {
		name, action string
		params       map[string]string
		code         string   // "" = accepted
		path         []string // the list in the response
		want         int      // its length when accepted
	}{
		{"security groups 100", "DescribeSecurityGroups", map[string]string{"MaxResults": "100"}, "", sgs, 12},
		{"security groups 60", "DescribeSecurityGroups", map[string]string{"MaxResults": "60"}, "", sgs, 12},
		{"security groups 101", "DescribeSecurityGroups", map[string]string{"MaxResults": "101"}, "InvalidParameter", nil, 0},
		{"security groups 0", "DescribeSecurityGroups", map[string]string{"MaxResults": "0"}, "InvalidParameter", nil, 0},
		{"security groups default 10", "DescribeSecurityGroups", map[string]string{"NextToken": ""}, "", sgs, 10},
		{"security groups page size 50 stays", "DescribeSecurityGroups", map[string]string{"PageSize": "51"}, "InvalidParameter", nil, 0},
		{"rules 1000", "DescribeSecurityGroupAttribute", map[string]string{"SecurityGroupId": net.sg, "MaxResults": "1000"}, "", nil, 0},
		{"rules 1001", "DescribeSecurityGroupAttribute", map[string]string{"SecurityGroupId": net.sg, "MaxResults": "1001"}, "InvalidParameter", nil, 0},
		{"rules 9", "DescribeSecurityGroupAttribute", map[string]string{"SecurityGroupId": net.sg, "MaxResults": "9"}, "InvalidParameter", nil, 0},
		{"enis 1000 counts as 500", "DescribeNetworkInterfaces", map[string]string{"MaxResults": "1000"}, "", enis, 11},
		{"enis 3 counts as 10", "DescribeNetworkInterfaces", map[string]string{"MaxResults": "3"}, "", enis, 10},
		{"instances 500 counts as 100", "DescribeInstances", map[string]string{"MaxResults": "500"}, "", []string{"Instances", "Instance"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := env.Common(t, env.Admin, "2014-05-26", tt.action, tt.params)
			if tt.code != "" {
				if status, code := apitest.ServerErr(t, err); status != 400 || code != tt.code {
					t.Errorf("got %d %s, want 400 %s", status, code, tt.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.path != nil {
				if n := count(out, tt.path...); n != tt.want {
					t.Errorf("%d items, want %d", n, tt.want)
				}
			}
		})
	}
}

// TestRuleErrorCodesSDK: unknown rule IDs and rule limits answer each
// action's documented code.
func TestRuleErrorCodesSDK(t *testing.T) {
	q := service.DefaultQuotas()
	q.RulesPerENI = 3
	env := apitest.Start(t, apitest.WithQuotas(q))
	c := env.ECS(t, env.Admin)
	net := newNet(t, env, env.Admin, "10.0.0.0/16", "10.0.1.0/24")
	other := createSG(t, c, net.vpc, "other", "")
	auth := func(sg, action string, ports ...string) error {
		m := map[string]string{"SecurityGroupId": sg}
		for i, p := range ports {
			n := "Permissions." + strconv.Itoa(i+1)
			m[n+".IpProtocol"], m[n+".PortRange"] = "tcp", p
			if action == "AuthorizeSecurityGroupEgress" {
				m[n+".DestCidrIp"] = "10.0.0.0/8"
			} else {
				m[n+".SourceCidrIp"] = "10.0.0.0/8"
			}
		}
		_, err := env.Common(t, env.Admin, "2014-05-26", action, m)
		return err
	}
	if err := auth(net.sg, "AuthorizeSecurityGroup", "1/1"); err != nil {
		t.Fatal(err)
	}
	if err := auth(net.sg, "AuthorizeSecurityGroupEgress", "2/2"); err != nil {
		t.Fatal(err)
	}
	ruleOf := func(dir string) string {
		for _, p := range sgAttr(t, c, net.sg).Permissions.Permission {
			if p.Direction == dir {
				return p.SecurityGroupRuleId
			}
		}
		t.Fatalf("no %s rule", dir)
		return ""
	}
	in, out := ruleOf("ingress"), ruleOf("egress")
	eni := func() string {
		req := ecs.CreateCreateNetworkInterfaceRequest()
		req.VSwitchId, req.SecurityGroupId = net.vsw, net.sg
		r, err := c.CreateNetworkInterface(req)
		if err != nil {
			t.Fatal(err)
		}
		return r.NetworkInterfaceId
	}()
	if err := auth(other, "AuthorizeSecurityGroup", "3/3", "4/4"); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name, action string
		params       map[string]string
		status       int
		code         string
	}{
		{"revoke unknown ingress rule", "RevokeSecurityGroup", map[string]string{"SecurityGroupId": net.sg, "SecurityGroupRuleId.1": "sgr-nothere"}, 400, "InvalidParam.SecurityGroupRuleId"},
		{"revoke an egress rule as ingress", "RevokeSecurityGroup", map[string]string{"SecurityGroupId": net.sg, "SecurityGroupRuleId.1": out}, 400, "InvalidParam.SecurityGroupRuleId"},
		{"revoke known and unknown ingress", "RevokeSecurityGroup", map[string]string{"SecurityGroupId": net.sg, "SecurityGroupRuleId.1": in, "SecurityGroupRuleId.2": "sgr-nothere"}, 400, "InvalidParam.SecurityGroupRuleId"},
		{"revoke unknown egress rule", "RevokeSecurityGroupEgress", map[string]string{"SecurityGroupId": net.sg, "SecurityGroupRuleId.1": "sgr-nothere"}, 400, "InvalidSecurityGroupRule.RuleNotExist"},
		{"revoke an ingress rule as egress", "RevokeSecurityGroupEgress", map[string]string{"SecurityGroupId": net.sg, "SecurityGroupRuleId.1": in}, 400, "InvalidSecurityGroupRule.RuleNotExist"},
		{"revoke a rule ID twice", "RevokeSecurityGroup", map[string]string{"SecurityGroupId": net.sg, "SecurityGroupRuleId.1": in, "SecurityGroupRuleId.2": in}, 400, "InvalidParam.SecurityGroupRuleIdRepeated"},
		{"modify unknown rule", "ModifySecurityGroupRule", map[string]string{"SecurityGroupId": net.sg, "SecurityGroupRuleId": "sgr-nothere", "Priority": "3"}, 404, "InvalidSecurityGroupRuleId.NotFound"},
		{"modify unknown egress rule", "ModifySecurityGroupEgressRule", map[string]string{"SecurityGroupId": net.sg, "SecurityGroupRuleId": in, "Priority": "3"}, 404, "InvalidSecurityGroupRuleId.NotFound"},
		// The ENI's groups hold 2 rules; the limit is 3 per ENI.
		{"per-ENI limit via authorize", "AuthorizeSecurityGroup", map[string]string{
			"SecurityGroupId": net.sg, "Permissions.1.IpProtocol": "tcp", "Permissions.1.PortRange": "5/5", "Permissions.1.SourceCidrIp": "10.0.0.0/8",
			"Permissions.2.IpProtocol": "tcp", "Permissions.2.PortRange": "6/6", "Permissions.2.SourceCidrIp": "10.0.0.0/8",
		}, 403, "AuthorizationLimitExceed"},
		{"per-ENI limit via join", "JoinSecurityGroup", map[string]string{"SecurityGroupId": other, "NetworkInterfaceId": eni}, 403, "AuthorizationLimitExceed"},
		{"per-ENI limit via modify ENI", "ModifyNetworkInterfaceAttribute", map[string]string{"NetworkInterfaceId": eni, "SecurityGroupId.1": net.sg, "SecurityGroupId.2": other}, 403, "AuthorizationLimitExceed"},
		{"per-ENI limit via create ENI", "CreateNetworkInterface", map[string]string{"VSwitchId": net.vsw, "SecurityGroupIds.1": net.sg, "SecurityGroupIds.2": other}, 403, "AuthorizationLimitExceed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := env.Snapshot(t)
			_, err := env.Common(t, env.Admin, "2014-05-26", tt.action, tt.params)
			if status, code := apitest.ServerErr(t, err); status != tt.status || code != tt.code {
				t.Errorf("got %d %s, want %d %s (%v)", status, code, tt.status, tt.code, err)
			}
			if after := env.Snapshot(t); !maps.Equal(before, after) {
				t.Errorf("the refused call changed the store")
			}
		})
	}
}

// TestPortRangeSyntaxSDK: a port range is taken only as written
// "start/end" with plain decimal ends; anything the parser would have to
// rewrite is refused.
func TestPortRangeSyntaxSDK(t *testing.T) {
	env := apitest.Start(t)
	c := env.ECS(t, env.Admin)
	v := env.VPC(t, env.Admin)
	net := newNet(t, env, env.Admin, "10.0.0.0/16", "10.0.1.0/24")
	acl := createACL(t, v, net.vpc, "acl")
	if err := func() error {
		_, err := env.Common(t, env.Admin, "2014-05-26", "AuthorizeSecurityGroup", map[string]string{
			"SecurityGroupId": net.sg, "IpProtocol": "tcp", "PortRange": "80/80", "SourceCidrIp": "10.0.0.0/8",
		})
		return err
	}(); err != nil {
		t.Fatal(err)
	}
	rule := sgAttr(t, c, net.sg).Permissions.Permission[0].SecurityGroupRuleId

	type tc struct {
		name, version, action string
		params                map[string]string
		code                  string
	}
	var tests []tc
	for _, pr := range []string{" 22/22", "22/22 ", "+22/+22", "22/+22", "022/22", "22 /22", "22/ 22", "2 2/22", "22/22/22", "\t22/22", " -1/-1"} {
		tests = append(tests,
			tc{"authorize " + strconv.Quote(pr), "2014-05-26", "AuthorizeSecurityGroup", map[string]string{
				"SecurityGroupId": net.sg, "Permissions.1.IpProtocol": "tcp", "Permissions.1.PortRange": pr, "Permissions.1.SourceCidrIp": "10.0.0.0/8",
			}, "InvalidIpPortRange.Malformed"},
			tc{"authorize egress " + strconv.Quote(pr), "2014-05-26", "AuthorizeSecurityGroupEgress", map[string]string{
				"SecurityGroupId": net.sg, "IpProtocol": "tcp", "PortRange": pr, "DestCidrIp": "10.0.0.0/8",
			}, "InvalidIpPortRange.Malformed"},
			tc{"source ports " + strconv.Quote(pr), "2014-05-26", "AuthorizeSecurityGroup", map[string]string{
				"SecurityGroupId": net.sg, "Permissions.1.IpProtocol": "tcp", "Permissions.1.PortRange": "22/22", "Permissions.1.SourceCidrIp": "10.0.0.0/8", "Permissions.1.SourcePortRange": pr,
			}, "InvalidIpPortRange.Malformed"},
			tc{"revoke " + strconv.Quote(pr), "2014-05-26", "RevokeSecurityGroup", map[string]string{
				"SecurityGroupId": net.sg, "IpProtocol": "tcp", "PortRange": pr, "SourceCidrIp": "10.0.0.0/8",
			}, "InvalidIpPortRange.Malformed"},
			tc{"modify " + strconv.Quote(pr), "2014-05-26", "ModifySecurityGroupRule", map[string]string{
				"SecurityGroupId": net.sg, "SecurityGroupRuleId": rule, "PortRange": pr,
			}, "InvalidIpPortRange.Malformed"},
			tc{"acl " + strconv.Quote(pr), "2016-04-28", "UpdateNetworkAclEntries", map[string]string{
				"NetworkAclId": acl, "UpdateIngressAclEntries": "true", "IngressAclEntries.1.Protocol": "tcp",
				"IngressAclEntries.1.Port": pr, "IngressAclEntries.1.SourceCidrIp": "10.0.0.0/8",
			}, "IllegalParam.Port"},
		)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := env.Snapshot(t)
			_, err := env.Common(t, env.Admin, tt.version, tt.action, tt.params)
			if status, code := apitest.ServerErr(t, err); status != 400 || code != tt.code {
				t.Errorf("got %d %s, want 400 %s (%v)", status, code, tt.code, err)
			}
			if after := env.Snapshot(t); !maps.Equal(before, after) {
				t.Errorf("the refused call changed the store")
			}
		})
	}
	// The plain forms still work, and the stored range is the one written.
	for _, pr := range []string{"22/22", "1/65535", "0/0"} {
		_, err := env.Common(t, env.Admin, "2014-05-26", "AuthorizeSecurityGroup", map[string]string{
			"SecurityGroupId": net.sg, "IpProtocol": "tcp", "PortRange": pr, "SourceCidrIp": "10.0.0.0/8",
		})
		if pr == "0/0" {
			if _, code := apitest.ServerErr(t, err); code != "InvalidIpPortRange.Malformed" {
				t.Errorf("0/0: %s", code)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", pr, err)
		}
	}
}

// TestAssignDuplicateAddressSDK: an address given twice in one request is
// named as a repeat of the request, not as "already used" by the ENI.
func TestAssignDuplicateAddressSDK(t *testing.T) {
	env := apitest.Start(t)
	c := env.ECS(t, env.Admin)
	net := newNet(t, env, env.Admin, "10.0.0.0/16", "10.0.1.0/24")
	req := ecs.CreateCreateNetworkInterfaceRequest()
	req.VSwitchId, req.SecurityGroupId = net.vsw, net.sg
	r, err := c.CreateNetworkInterface(req)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, action string
		params       map[string]string
		names        []string // the two wire names the message gives
	}{
		{"assign same address twice", "AssignPrivateIpAddresses", map[string]string{
			"NetworkInterfaceId": r.NetworkInterfaceId, "PrivateIpAddress.1": "10.0.1.20", "PrivateIpAddress.2": "10.0.1.20",
		}, []string{"PrivateIpAddress.1", "PrivateIpAddress.2"}},
		{"assign with a gap", "AssignPrivateIpAddresses", map[string]string{
			"NetworkInterfaceId": r.NetworkInterfaceId, "PrivateIpAddress.1": "10.0.1.20", "PrivateIpAddress.2": "10.0.1.21", "PrivateIpAddress.5": "10.0.1.20",
		}, []string{"PrivateIpAddress.1", "PrivateIpAddress.5"}},
		{"unassign same address twice", "UnassignPrivateIpAddresses", map[string]string{
			"NetworkInterfaceId": r.NetworkInterfaceId, "PrivateIpAddress.1": "10.0.1.20", "PrivateIpAddress.2": "10.0.1.20",
		}, []string{"PrivateIpAddress.1", "PrivateIpAddress.2"}},
		{"create with primary repeated", "CreateNetworkInterface", map[string]string{
			"VSwitchId": net.vsw, "SecurityGroupId": net.sg, "PrimaryIpAddress": "10.0.1.30", "PrivateIpAddress.1": "10.0.1.30",
		}, []string{"PrimaryIpAddress", "PrivateIpAddress.1"}},
		{"create with ipv6 written twice", "CreateNetworkInterface", map[string]string{
			"VSwitchId": net.vsw, "SecurityGroupId": net.sg, "Ipv6Address.1": "fd00::5", "Ipv6Address.2": "fd00:0::5",
		}, []string{"Ipv6Address.1", "Ipv6Address.2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := env.Snapshot(t)
			_, err := env.Common(t, env.Admin, "2014-05-26", tt.action, tt.params)
			if status, code := apitest.ServerErr(t, err); status != 400 || code != "InvalidPrivateIpAddress.Duplicated" {
				t.Fatalf("got %d %s, want 400 InvalidPrivateIpAddress.Duplicated", status, code)
			}
			msg := errMessage(t, err)
			if !strings.Contains(msg, "given twice in the request") || strings.Contains(msg, "already used") {
				t.Errorf("message %q", msg)
			}
			for _, n := range tt.names {
				if !strings.Contains(msg, n) {
					t.Errorf("message %q does not name %s", msg, n)
				}
			}
			if after := env.Snapshot(t); !maps.Equal(before, after) {
				t.Errorf("the refused call changed the store")
			}
		})
	}
	// Distinct addresses are still assigned.
	if _, err := env.Common(t, env.Admin, "2014-05-26", "AssignPrivateIpAddresses", map[string]string{
		"NetworkInterfaceId": r.NetworkInterfaceId, "PrivateIpAddress.1": "10.0.1.20", "PrivateIpAddress.2": "10.0.1.21",
	}); err != nil {
		t.Errorf("distinct addresses: %v", err)
	}
}
