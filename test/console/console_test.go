// Package console tests the web console in a real browser: Debian's
// Chromium driven by playwright-core (e2e.mjs), against a server started
// in-process. Needs node, /usr/bin/chromium and `npm ci` in this
// directory; without them the test skips, or fails when
// PALISADE_REQUIRE_TOOLS=1 (scripts/test.sh sets it).
package console

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	slb "github.com/alibabacloud-go/slb-20140515/v4/client"
	"github.com/alibabacloud-go/tea/tea"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	antiddos "github.com/aliyun/alibaba-cloud-sdk-go/services/antiddos-public"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/cloudfw"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/privatelink"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/vpc"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/vpcpeer"

	"github.com/palisade-project/palisade/internal/api"
	"github.com/palisade-project/palisade/internal/apitest"
	"github.com/palisade-project/palisade/internal/app"
)

const chromiumPath = "/usr/bin/chromium"

// needTools skips (or fails, with PALISADE_REQUIRE_TOOLS=1) when the
// browser test cannot run here.
func needTools(t *testing.T) string {
	t.Helper()
	missing := func(what string) {
		t.Helper()
		if os.Getenv("PALISADE_REQUIRE_TOOLS") == "1" {
			t.Fatalf("%s and PALISADE_REQUIRE_TOOLS=1", what)
		}
		t.Skipf("%s; set PALISADE_REQUIRE_TOOLS=1 to make this a failure", what)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node is not installed")
	}
	if _, err := os.Stat(chromiumPath); err != nil {
		missing(chromiumPath + " is missing (apt-get install chromium)")
	}
	if _, err := os.Stat(filepath.Join("node_modules", "playwright-core", "package.json")); err != nil {
		missing("test/console/node_modules is missing (run `npm ci` in test/console)")
	}
	return node
}

type result struct {
	VpcId           string
	VSwitchId       string
	SecurityGroupId string
	Instances       []string
	Verdict         string

	SecurityGroup2Id string // instances[1] joined it; instances[0] joined and left
	ReleasedEip      string
	BoundEip         string // associated with instances[1]
	NetworkAclId     string // on VSwitchId, entries ssh-in (ingress) and all-out (egress)

	// Made, refused deletion while in use, then deleted in order.
	DeletedVpcId, DeletedVSwitchId, DeletedSecurityGroupId, DeletedInstanceId string

	// The analysis steps' VPC and group (inner access Drop, and OpenRuleId:
	// tcp 22 from 0.0.0.0/0), and the what-if verdicts (before, after).
	AnalysisVpcId, AnalysisGroupId, OpenRuleId string
	WhatIf                                     []string

	KeptPolicy, DeletedPolicy string // Cloud Firewall inbound: kept (disabled), deleted
	DeletedFlowLog            string
	WafTemplate               string // kept
	DeletedProtection         string
	DeletedKeys               []string // the second was the session's own key

	// VPC peering: two VPCs and their route tables; two peerings (one
	// deleted after its routes, one with Force), their route entries and
	// a VPC firewall (with a drop policy), all deleted.
	PeerVpcs, RouteTables, DeletedPeerings, DeletedRoutes []string
	DeletedVpcFirewall                                    string

	// Traffic mirroring: a filter with one egress rule (TCP to 22 of the
	// analysis VPC), a session (priority 7, VNI 4242) from MirrorENIs[0]
	// to MirrorENIs[1], made enabled and then disabled, and a second
	// filter deleted.
	MirrorFilter, MirrorRule, MirrorSession, DeletedMirrorFilter string
	MirrorENIs                                                   []string

	// PrivateLink: a service backed by the analysis VPC's second
	// instance, and an endpoint of it in VpcId whose connection the
	// browser enabled.
	EndpointService, Endpoint, ServiceBackend string

	// Cloud Firewall: an address book (198.51.100.0/24 and
	// 203.0.113.0/24) that BookPolicy (inbound accept TCP 22) takes as
	// its source, and an EIP whose protection the browser disabled.
	AddressBook, BookPolicy, UnprotectedEip string

	// A secondary ENI of VSwitchId the browser created, attached to
	// Instances[0], detached and deleted (Instances[0] was stopped and
	// started meanwhile).
	DeletedEni string

	// Server Load Balancer: a load balancer at 10.20.1.200 of VSwitchId
	// with a running TCP listener 80 -> 8080 (rr, health check on) and
	// Instances[0] (weight 50) as its backend (a UDP listener and
	// Instances[1] were added and removed), and a second one deleted.
	LoadBalancer, DeletedLoadBalancer string
	LoadBalancerService               string
}

func TestConsoleInBrowser(t *testing.T) {
	node := needTools(t)
	env := apitest.Start(t, apitest.WithBackend(app.BackendMemory))
	bob := env.NewAccount(t, "bob")
	inbound := peeringsToAdmin(t, env, bob)

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	tmp := t.TempDir() // Chromium's profile and temp files: removed even on failure
	cmd := exec.CommandContext(ctx, node, "e2e.mjs")
	cmd.Env = append(os.Environ(),
		"PALISADE_CONSOLE_URL=http://"+env.Endpoint+"/console/",
		"PALISADE_ACCESS_KEY_ID="+env.Admin.AccessKeyID,
		"PALISADE_ACCESS_KEY_SECRET="+env.Admin.Secret,
		"PALISADE_PEER_INBOUND="+strings.Join(inbound, ","),
		"PALISADE_PEER_ACCOUNT="+bob.AccountID,
		"TMPDIR="+tmp,
		"HOME="+tmp,
		"NO_PROXY=127.0.0.1,localhost",
		"no_proxy=127.0.0.1,localhost",
	)
	// Its own process group, so that a timeout kills Chromium too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // leftovers of the group, if any
	}
	if err != nil {
		t.Fatalf("e2e.mjs failed (%v):\n%s", err, out)
	}
	t.Logf("e2e.mjs:\n%s", out)
	if strings.Contains(string(out), env.Admin.Secret) {
		t.Errorf("the script's output contains the secret")
	}
	var res result
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		if line, ok := strings.CutPrefix(sc.Text(), "RESULT "); ok {
			if err := json.Unmarshal([]byte(line), &res); err != nil {
				t.Fatalf("RESULT line: %v: %s", err, line)
			}
		}
	}
	if res.VpcId == "" || res.SecurityGroupId == "" || len(res.Instances) != 2 || res.NetworkAclId == "" || res.DeletedVpcId == "" {
		t.Fatalf("no complete RESULT line in the output:\n%s", out)
	}

	// What the browser made is in the store, as the SDK sees it.
	req := vpc.CreateDescribeVpcsRequest()
	req.VpcId = res.VpcId
	resp, err := env.VPC(t, env.Admin).DescribeVpcs(req)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Vpcs.Vpc) != 1 || resp.Vpcs.Vpc[0].VpcName != "console-vpc" || resp.Vpcs.Vpc[0].CidrBlock != "10.20.0.0/16" {
		t.Fatalf("DescribeVpcs %s: %+v", res.VpcId, resp.Vpcs.Vpc)
	}
	areq := ecs.CreateDescribeSecurityGroupAttributeRequest()
	areq.SecurityGroupId = res.SecurityGroupId
	attr, err := env.ECS(t, env.Admin).DescribeSecurityGroupAttribute(areq)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range attr.Permissions.Permission {
		if p.PortRange == "22/22" || p.PortRange == "90/80" {
			t.Errorf("rule %s %s is still there after the revoke", p.SecurityGroupRuleId, p.PortRange)
		}
	}
	if attr.InnerAccessPolicy != "Drop" {
		t.Errorf("InnerAccessPolicy of %s: %q, want Drop", res.SecurityGroupId, attr.InnerAccessPolicy)
	}
	checkManaged(t, env, res)
	checkSecurity(t, env, res)
	checkPeering(t, env, res)
	checkMirror(t, env, res)
	checkPrivateLink(t, env, res, bob.AccountID)
	checkLoadBalancer(t, env, res)
	checkDDoS(t, env, res)
	checkFirewall(t, env, res)
	checkENIAndPower(t, env, res)
	checkGroupReference(t, env, res)
	checkInbound(t, env, bob, inbound)

	// And it is the admin's only: bob does not see it.
	bresp, err := env.VPC(t, bob).DescribeVpcs(vpc.CreateDescribeVpcsRequest())
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range bresp.Vpcs.Vpc {
		if v.VpcId == res.VpcId {
			t.Fatalf("bob sees the admin's VPC %s", v.VpcId)
		}
	}
}

// checkManaged verifies, through the SDK, the end state of what the
// browser changed and deleted.
func checkManaged(t *testing.T, env *apitest.Env, res result) {
	t.Helper()
	ecsc, vpcc := env.ECS(t, env.Admin), env.VPC(t, env.Admin)

	// Security group membership: instances[1] joined the second group,
	// instances[0] joined and left it.
	ireq := ecs.CreateDescribeInstancesRequest()
	ireq.InstanceIds = `["` + strings.Join(res.Instances, `","`) + `"]`
	insts, err := ecsc.DescribeInstances(ireq)
	if err != nil {
		t.Fatal(err)
	}
	groups := map[string][]string{}
	for _, i := range insts.Instances.Instance {
		groups[i.InstanceId] = i.SecurityGroupIds.SecurityGroupId
	}
	if g := groups[res.Instances[0]]; len(g) != 1 || g[0] != res.SecurityGroupId {
		t.Errorf("groups of %s: %v, want [%s]", res.Instances[0], g, res.SecurityGroupId)
	}
	if g := groups[res.Instances[1]]; len(g) != 2 || !slices.Contains(g, res.SecurityGroup2Id) {
		t.Errorf("groups of %s: %v, want %s and %s", res.Instances[1], g, res.SecurityGroupId, res.SecurityGroup2Id)
	}

	// EIPs: one released, one bound to instances[1].
	ereq := vpc.CreateDescribeEipAddressesRequest()
	ereq.PageSize = requests.NewInteger(100)
	eips, err := vpcc.DescribeEipAddresses(ereq)
	if err != nil {
		t.Fatal(err)
	}
	bound := false
	for _, e := range eips.EipAddresses.EipAddress {
		switch e.AllocationId {
		case res.ReleasedEip:
			t.Errorf("EIP %s is still there after the release", e.AllocationId)
		case res.BoundEip:
			bound = e.InstanceId == res.Instances[1] && e.InstanceType == "EcsInstance"
		}
	}
	if !bound {
		t.Errorf("EIP %s is not bound to %s: %+v", res.BoundEip, res.Instances[1], eips.EipAddresses.EipAddress)
	}

	// The network ACL: on the vSwitch, the entries the form left.
	areq := vpc.CreateDescribeNetworkAclAttributesRequest()
	areq.NetworkAclId = res.NetworkAclId
	acl, err := vpcc.DescribeNetworkAclAttributes(areq)
	if err != nil {
		t.Fatal(err)
	}
	a := acl.NetworkAclAttribute
	if len(a.Resources.Resource) != 1 || a.Resources.Resource[0].ResourceId != res.VSwitchId {
		t.Errorf("ACL %s resources: %+v, want %s", res.NetworkAclId, a.Resources.Resource, res.VSwitchId)
	}
	in, out := a.IngressAclEntries.IngressAclEntry, a.EgressAclEntries.EgressAclEntry
	if len(in) != 1 || in[0].NetworkAclEntryName != "ssh-in" || in[0].Protocol != "tcp" || in[0].Port != "22/22" ||
		in[0].SourceCidrIp != "10.0.0.0/8" || in[0].Policy != "accept" {
		t.Errorf("ACL %s ingress entries: %+v, want ssh-in only", res.NetworkAclId, in)
	}
	if len(out) != 1 || out[0].NetworkAclEntryName != "all-out" || out[0].Protocol != "all" || out[0].DestinationCidrIp != "0.0.0.0/0" {
		t.Errorf("ACL %s egress entries: %+v, want all-out only", res.NetworkAclId, out)
	}

	// What the browser deleted is gone.
	vreq := vpc.CreateDescribeVpcsRequest()
	vreq.VpcId = res.DeletedVpcId
	if v, err := vpcc.DescribeVpcs(vreq); err == nil && len(v.Vpcs.Vpc) != 0 {
		t.Errorf("VPC %s is still there", res.DeletedVpcId)
	}
	wreq := vpc.CreateDescribeVSwitchesRequest()
	wreq.VSwitchId = res.DeletedVSwitchId
	if w, err := vpcc.DescribeVSwitches(wreq); err == nil && len(w.VSwitches.VSwitch) != 0 {
		t.Errorf("vSwitch %s is still there", res.DeletedVSwitchId)
	}
	greq := ecs.CreateDescribeSecurityGroupsRequest()
	greq.SecurityGroupId = res.DeletedSecurityGroupId
	if g, err := ecsc.DescribeSecurityGroups(greq); err == nil && len(g.SecurityGroups.SecurityGroup) != 0 {
		t.Errorf("security group %s is still there", res.DeletedSecurityGroupId)
	}
	dreq := ecs.CreateDescribeInstancesRequest()
	dreq.InstanceIds = `["` + res.DeletedInstanceId + `"]`
	if d, err := ecsc.DescribeInstances(dreq); err != nil {
		t.Errorf("DescribeInstances %s: %v", res.DeletedInstanceId, err)
	} else if len(d.Instances.Instance) != 0 {
		t.Errorf("instance %s is still there", res.DeletedInstanceId)
	}
}

// checkSecurity verifies, through the SDKs, what the analysis, firewall,
// flow-log, WAF and access-key steps left.
func checkSecurity(t *testing.T, env *apitest.Env, res result) {
	t.Helper()
	if len(res.WhatIf) != 2 || res.WhatIf[0] != "unreachable" || res.WhatIf[1] != "reachable" {
		t.Errorf("what-if verdicts %v, want [unreachable reachable]", res.WhatIf)
	}
	common := func(action string, params map[string]string) map[string]any {
		t.Helper()
		out, err := env.Common(t, env.Admin, api.VersionPalisade, action, params)
		if err != nil {
			t.Fatalf("%s: %v", action, err)
		}
		return out
	}
	items := func(out map[string]any, wrapper, item string) []map[string]any {
		w, _ := out[wrapper].(map[string]any)
		l, _ := w[item].([]any)
		var ms []map[string]any
		for _, x := range l {
			if m, ok := x.(map[string]any); ok {
				ms = append(ms, m)
			}
		}
		return ms
	}

	// The group the browser changed: inner access Drop, the open SSH rule
	// (which the audit reports), and no what-if rule (never applied).
	areq := ecs.CreateDescribeSecurityGroupAttributeRequest()
	areq.SecurityGroupId = res.AnalysisGroupId
	attr, err := env.ECS(t, env.Admin).DescribeSecurityGroupAttribute(areq)
	if err != nil {
		t.Fatal(err)
	}
	if attr.InnerAccessPolicy != "Drop" || len(attr.Permissions.Permission) != 1 ||
		attr.Permissions.Permission[0].SecurityGroupRuleId != res.OpenRuleId || attr.Permissions.Permission[0].SourceCidrIp != "0.0.0.0/0" {
		t.Errorf("group %s: inner %s, rules %+v; want Drop and %s only", res.AnalysisGroupId, attr.InnerAccessPolicy, attr.Permissions.Permission, res.OpenRuleId)
	}
	audit := common("AuditSecurity", map[string]string{"VpcId": res.AnalysisVpcId})
	found := false
	for _, f := range audit["Findings"].([]any) {
		f := f.(map[string]any)
		found = found || (f["Code"] == "sensitive-port-open" && f["Rule"] == res.OpenRuleId && f["Resource"] == res.AnalysisGroupId)
	}
	if !found {
		t.Errorf("AuditSecurity %s: no sensitive-port-open finding for %s: %v", res.AnalysisVpcId, res.OpenRuleId, audit["Findings"])
	}

	// Cloud Firewall: the kept policy is disabled, the other is gone.
	preq := cloudfw.CreateDescribeControlPolicyRequest()
	preq.Direction, preq.CurrentPage, preq.PageSize = "in", "1", "100"
	pols, err := env.Cloudfw(t, env.Admin).DescribeControlPolicy(preq)
	if err != nil {
		t.Fatal(err)
	}
	kept := false
	for _, p := range pols.Policys {
		switch p.AclUuid {
		case res.DeletedPolicy:
			t.Errorf("policy %s is still there after the delete", p.AclUuid)
		case res.KeptPolicy:
			kept = p.Release == "false" && p.Description == "console-cfw-keep" && p.AclAction == "drop" && p.DestPort == "3389"
			if !kept {
				t.Errorf("kept policy: %+v", p)
			}
		}
	}
	if !kept {
		t.Errorf("policy %s is missing or not disabled", res.KeptPolicy)
	}

	// The flow log is gone.
	freq := vpc.CreateDescribeFlowLogsRequest()
	freq.FlowLogId = res.DeletedFlowLog
	if f, err := env.VPC(t, env.Admin).DescribeFlowLogs(freq); err == nil && len(f.FlowLogs.FlowLog) != 0 {
		t.Errorf("flow log %s is still there: %+v", res.DeletedFlowLog, f.FlowLogs.FlowLog)
	}

	// WAF: the template stays, the protected object is gone.
	for _, p := range items(common("DescribeWafProtections", nil), "Protections", "Protection") {
		if p["ProtectionId"] == res.DeletedProtection {
			t.Errorf("protected object %s is still there", res.DeletedProtection)
		}
	}
	if ts := items(common("DescribeWafTemplates", nil), "Templates", "Template"); !slices.ContainsFunc(ts, func(m map[string]any) bool {
		return m["TemplateId"] == res.WafTemplate && m["Name"] == "console-tpl"
	}) {
		t.Errorf("template %s is missing: %v", res.WafTemplate, ts)
	}

	// The keys the browser made and deleted are gone; the admin's stays.
	keys := items(common("DescribeAccessKeys", nil), "AccessKeys", "AccessKey")
	ids := map[any]bool{}
	for _, k := range keys {
		ids[k["AccessKeyId"]] = true
	}
	if len(res.DeletedKeys) != 2 || !ids[env.Admin.AccessKeyID] {
		t.Errorf("keys %v, deleted %v", ids, res.DeletedKeys)
	}
	for _, k := range res.DeletedKeys {
		if ids[k] {
			t.Errorf("access key %s is still there", k)
		}
	}
}

// checkPeering verifies, through the SDKs, that the peerings, their route
// entries and the VPC firewall the browser made are gone, and the VPCs
// stay.
func checkPeering(t *testing.T, env *apitest.Env, res result) {
	t.Helper()
	if len(res.PeerVpcs) != 2 || len(res.RouteTables) != 2 || len(res.DeletedPeerings) != 2 || len(res.DeletedRoutes) != 3 ||
		res.DeletedVpcFirewall == "" {
		t.Fatalf("incomplete peering result: %+v", res)
	}
	pc := env.VpcPeer(t, env.Admin)
	lreq := vpcpeer.CreateListVpcPeerConnectionsRequest()
	lreq.VpcId = &res.PeerVpcs
	l, err := pc.ListVpcPeerConnections(lreq)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.VpcPeerConnects) != 0 {
		t.Errorf("peerings of %v left: %+v", res.PeerVpcs, l.VpcPeerConnects)
	}
	for _, id := range res.DeletedPeerings {
		greq := vpcpeer.CreateGetVpcPeerConnectionAttributeRequest()
		greq.InstanceId = id
		if _, err := pc.GetVpcPeerConnectionAttribute(greq); err == nil || !strings.Contains(err.Error(), "ResourceNotFound.InstanceId") {
			t.Errorf("GetVpcPeerConnectionAttribute %s: %v, want ResourceNotFound.InstanceId", id, err)
		}
	}

	vpcc := env.VPC(t, env.Admin)
	for i, table := range res.RouteTables {
		req := vpc.CreateDescribeRouteEntryListRequest()
		req.RouteTableId = table
		resp, err := vpcc.DescribeRouteEntryList(req)
		if err != nil {
			t.Fatalf("DescribeRouteEntryList %s: %v", table, err)
		}
		for _, e := range resp.RouteEntrys.RouteEntry {
			if e.Type != "System" {
				t.Errorf("route table %s of %s: entry %s (%s %s) left", table, res.PeerVpcs[i], e.RouteEntryId, e.Type, e.DestinationCidrBlock)
			}
		}
		if i == 0 && (len(resp.RouteEntrys.RouteEntry) != 1 || resp.RouteEntrys.RouteEntry[0].DestinationCidrBlock != "10.60.1.0/24") {
			t.Errorf("route table %s: %+v, want the vSwitch's system entry only", table, resp.RouteEntrys.RouteEntry)
		}
	}
	vreq := vpc.CreateDescribeVpcsRequest()
	vreq.VpcId = strings.Join(res.PeerVpcs, ",")
	if v, err := vpcc.DescribeVpcs(vreq); err != nil || len(v.Vpcs.Vpc) != 2 {
		t.Errorf("DescribeVpcs %v: %v %+v", res.PeerVpcs, err, v)
	}

	freq := cloudfw.CreateDescribeVpcFirewallListRequest()
	freq.CurrentPage, freq.PageSize = "1", "50"
	fws, err := env.Cloudfw(t, env.Admin).DescribeVpcFirewallList(freq)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fws.VpcFirewalls {
		if f.VpcFirewallId == res.DeletedVpcFirewall {
			t.Errorf("VPC firewall %s is still there", f.VpcFirewallId)
		}
	}
	preq := cloudfw.CreateDescribeVpcFirewallControlPolicyRequest()
	preq.VpcFirewallId, preq.CurrentPage, preq.PageSize = res.DeletedVpcFirewall, "1", "10"
	if p, err := env.Cloudfw(t, env.Admin).DescribeVpcFirewallControlPolicy(preq); err == nil && len(p.Policys) != 0 {
		t.Errorf("policies of the deleted firewall %s: %+v", res.DeletedVpcFirewall, p.Policys)
	}
}

// peeringsToAdmin has bob ask for two peerings with a VPC of the admin:
// the browser accepts the first and rejects the second.
func peeringsToAdmin(t *testing.T, env *apitest.Env, bob apitest.Creds) []string {
	t.Helper()
	newVPC := func(c apitest.Creds, cidr, name string) string {
		t.Helper()
		req := vpc.CreateCreateVpcRequest()
		req.CidrBlock, req.VpcName = cidr, name
		resp, err := env.VPC(t, c).CreateVpc(req)
		if err != nil {
			t.Fatalf("CreateVpc %s: %v", cidr, err)
		}
		return resp.VpcId
	}
	mine := newVPC(env.Admin, "10.63.0.0/16", "console-peer-in")
	pc := env.VpcPeer(t, bob)
	var ids []string
	for _, cidr := range []string{"10.64.0.0/16", "10.65.0.0/16"} {
		req := vpcpeer.CreateCreateVpcPeerConnectionRequest()
		req.VpcId, req.AcceptingVpcId, req.Name = newVPC(bob, cidr, "bob-"+cidr), mine, "from bob "+cidr
		req.AcceptingAliUid = requests.Integer(env.Admin.AccountID)
		resp, err := pc.CreateVpcPeerConnection(req)
		if err != nil {
			t.Fatalf("CreateVpcPeerConnection to the admin: %v", err)
		}
		ids = append(ids, resp.InstanceId)
	}
	return ids
}

// checkInbound verifies, as bob sees them, that the browser accepted the
// first peering and rejected the second.
func checkInbound(t *testing.T, env *apitest.Env, bob apitest.Creds, ids []string) {
	t.Helper()
	pc := env.VpcPeer(t, bob)
	for i, want := range []string{"Activated", "Rejected"} {
		req := vpcpeer.CreateGetVpcPeerConnectionAttributeRequest()
		req.InstanceId = ids[i]
		resp, err := pc.GetVpcPeerConnectionAttribute(req)
		if err != nil {
			t.Fatalf("GetVpcPeerConnectionAttribute %s: %v", ids[i], err)
		}
		if resp.Status != want {
			t.Errorf("peering %s from bob: %s, want %s", ids[i], resp.Status, want)
		}
	}
}

// checkMirror verifies, through the SDK, the traffic mirroring the browser
// set up.
func checkMirror(t *testing.T, env *apitest.Env, res result) {
	t.Helper()
	c := env.VPC(t, env.Admin)
	fr := vpc.CreateListTrafficMirrorFiltersRequest()
	fr.TrafficMirrorFilterIds = &[]string{res.MirrorFilter, res.DeletedMirrorFilter}
	filters, err := c.ListTrafficMirrorFilters(fr)
	if err != nil {
		t.Fatal(err)
	}
	if len(filters.TrafficMirrorFilters) != 1 || filters.TrafficMirrorFilters[0].TrafficMirrorFilterId != res.MirrorFilter {
		t.Fatalf("filters %s (kept) and %s (deleted): %+v", res.MirrorFilter, res.DeletedMirrorFilter, filters.TrafficMirrorFilters)
	}
	f := filters.TrafficMirrorFilters[0]
	if len(f.IngressRules) != 0 || len(f.EgressRules) != 1 {
		t.Fatalf("filter %s rules: %+v %+v, want one egress rule", f.TrafficMirrorFilterId, f.IngressRules, f.EgressRules)
	}
	if r := f.EgressRules[0]; r.TrafficMirrorFilterRuleId != res.MirrorRule || r.Protocol != "TCP" || r.DestinationCidrBlock != "10.40.0.0/16" ||
		r.DestinationPortRange != "22/22" || r.Action != "accept" || r.Priority != 1 {
		t.Errorf("egress rule %+v, want %s: accept TCP to 10.40.0.0/16 port 22/22, priority 1", r, res.MirrorRule)
	}
	sr := vpc.CreateListTrafficMirrorSessionsRequest()
	sr.TrafficMirrorSessionIds = &[]string{res.MirrorSession}
	sessions, err := c.ListTrafficMirrorSessions(sr)
	if err != nil {
		t.Fatal(err)
	}
	if len(sessions.TrafficMirrorSessions) != 1 {
		t.Fatalf("session %s: %+v", res.MirrorSession, sessions.TrafficMirrorSessions)
	}
	m := sessions.TrafficMirrorSessions[0]
	if m.TrafficMirrorFilterId != res.MirrorFilter || m.TrafficMirrorTargetId != res.MirrorENIs[1] || len(m.TrafficMirrorSourceIds) != 1 ||
		m.TrafficMirrorSourceIds[0] != res.MirrorENIs[0] || m.Priority != 7 || m.VirtualNetworkId != 4242 || m.Enabled {
		t.Errorf("session %+v, want filter %s, %s -> %s, priority 7, VNI 4242, disabled", m, res.MirrorFilter, res.MirrorENIs[0], res.MirrorENIs[1])
	}
}

// checkPrivateLink verifies, through the SDK, the endpoint service and
// endpoint the browser made.
func checkPrivateLink(t *testing.T, env *apitest.Env, res result, bobID string) {
	t.Helper()
	c := env.PrivateLink(t, env.Admin)
	sr := privatelink.CreateListVpcEndpointServiceResourcesRequest()
	sr.ServiceId = res.EndpointService
	resources, err := c.ListVpcEndpointServiceResources(sr)
	if err != nil {
		t.Fatal(err)
	}
	if len(resources.Resources) != 1 || resources.Resources[0].ResourceId != res.ServiceBackend || resources.Resources[0].ResourceType != "ecs" {
		t.Errorf("resources of %s: %+v, want the ecs instance %s", res.EndpointService, resources.Resources, res.ServiceBackend)
	}
	sr.ServiceId = res.LoadBalancerService
	resources, err = c.ListVpcEndpointServiceResources(sr)
	if err != nil {
		t.Fatal(err)
	}
	if len(resources.Resources) != 1 || resources.Resources[0].ResourceId != res.LoadBalancer || resources.Resources[0].ResourceType != "slb" {
		t.Errorf("resources of %s: %+v, want the load balancer %s (slb)", res.LoadBalancerService, resources.Resources, res.LoadBalancer)
	}
	ur := privatelink.CreateListVpcEndpointServiceUsersRequest()
	ur.ServiceId = res.EndpointService
	users, err := c.ListVpcEndpointServiceUsers(ur)
	if err != nil {
		t.Fatal(err)
	}
	if len(users.Users) != 1 || fmt.Sprint(users.Users[0].UserId) != bobID {
		t.Errorf("users of %s: %+v, want bob (%s), added in the browser", res.EndpointService, users.Users, bobID)
	}
	gr := privatelink.CreateListVpcEndpointSecurityGroupsRequest()
	gr.EndpointId = res.Endpoint
	groups, err := c.ListVpcEndpointSecurityGroups(gr)
	if err != nil {
		t.Fatal(err)
	}
	if len(groups.SecurityGroups) != 1 || groups.SecurityGroups[0].SecurityGroupId != res.SecurityGroup2Id {
		t.Errorf("groups of endpoint %s: %+v, want only %s (attached; the first detached)", res.Endpoint, groups.SecurityGroups, res.SecurityGroup2Id)
	}
	er := privatelink.CreateGetVpcEndpointAttributeRequest()
	er.EndpointId = res.Endpoint
	ep, err := c.GetVpcEndpointAttribute(er)
	if err != nil {
		t.Fatal(err)
	}
	if ep.ServiceId != res.EndpointService || ep.VpcId != res.VpcId || ep.ConnectionStatus != "Connected" || ep.EndpointName != "console-ep" {
		t.Errorf("endpoint %s: service %s, VPC %s, connection %s, name %q; want %s, %s, Connected, console-ep",
			res.Endpoint, ep.ServiceId, ep.VpcId, ep.ConnectionStatus, ep.EndpointName, res.EndpointService, res.VpcId)
	}
}

// checkLoadBalancer verifies, through the SLB SDK, the load balancers,
// listeners and backend servers the browser made, changed and deleted.
func checkLoadBalancer(t *testing.T, env *apitest.Env, res result) {
	t.Helper()
	if res.LoadBalancer == "" || res.DeletedLoadBalancer == "" {
		t.Fatalf("incomplete load balancer result: %+v", res)
	}
	c := env.SLB(t, env.Admin)
	a, err := c.DescribeLoadBalancerAttribute(&slb.DescribeLoadBalancerAttributeRequest{LoadBalancerId: tea.String(res.LoadBalancer)})
	if err != nil {
		t.Fatalf("DescribeLoadBalancerAttribute %s: %v", res.LoadBalancer, err)
	}
	b := a.Body
	if tea.StringValue(b.LoadBalancerName) != "console-lb" || tea.StringValue(b.Address) != "10.20.1.200" || tea.StringValue(b.AddressType) != "intranet" ||
		tea.StringValue(b.VpcId) != res.VpcId || tea.StringValue(b.VSwitchId) != res.VSwitchId || tea.StringValue(b.LoadBalancerStatus) != "active" {
		t.Errorf("load balancer %s: %s", res.LoadBalancer, b)
	}
	if bs := b.BackendServers; bs == nil || len(bs.BackendServer) != 1 || tea.StringValue(bs.BackendServer[0].ServerId) != res.Instances[0] ||
		tea.Int32Value(bs.BackendServer[0].Weight) != 50 {
		t.Errorf("backend servers of %s: %v, want %s with weight 50 only", res.LoadBalancer, bs, res.Instances[0])
	}
	ls, err := c.DescribeLoadBalancerListeners(&slb.DescribeLoadBalancerListenersRequest{LoadBalancerId: []*string{tea.String(res.LoadBalancer)}})
	if err != nil {
		t.Fatalf("DescribeLoadBalancerListeners %s: %v", res.LoadBalancer, err)
	}
	if l := ls.Body.Listeners; len(l) != 1 || tea.StringValue(l[0].ListenerProtocol) != "tcp" || tea.Int32Value(l[0].ListenerPort) != 80 ||
		tea.Int32Value(l[0].BackendServerPort) != 8080 || tea.StringValue(l[0].Scheduler) != "rr" || tea.StringValue(l[0].Status) != "running" ||
		l[0].TCPListenerConfig == nil || tea.StringValue(l[0].TCPListenerConfig.HealthCheck) != "on" {
		t.Errorf("listeners of %s: %v, want TCP 80 -> 8080, rr, running, health check on", res.LoadBalancer, l)
	}
	h, err := c.DescribeHealthStatus(&slb.DescribeHealthStatusRequest{LoadBalancerId: tea.String(res.LoadBalancer)})
	if err != nil {
		t.Fatalf("DescribeHealthStatus %s: %v", res.LoadBalancer, err)
	}
	if hs := h.Body.BackendServers; hs == nil || len(hs.BackendServer) != 1 || tea.StringValue(hs.BackendServer[0].ServerId) != res.Instances[0] ||
		tea.StringValue(hs.BackendServer[0].ServerHealthStatus) != "abnormal" {
		t.Errorf("health of %s: %v, want %s abnormal (no agent reports here)", res.LoadBalancer, hs, res.Instances[0])
	}
	_, err = c.DescribeLoadBalancerAttribute(&slb.DescribeLoadBalancerAttributeRequest{LoadBalancerId: tea.String(res.DeletedLoadBalancer)})
	if err == nil {
		t.Errorf("load balancer %s is still there", res.DeletedLoadBalancer)
	} else if _, code := apitest.ServerErr(t, err); code != "InvalidLoadBalancerId.NotFound" {
		t.Errorf("DescribeLoadBalancerAttribute %s: %v, want InvalidLoadBalancerId.NotFound", res.DeletedLoadBalancer, err)
	}
}

// checkDDoS verifies, through the SDK, the scrubbing threshold the browser
// set on the bound EIP (50 Mbit/s, 1,000 packets/s; the refused one left
// nothing).
func checkDDoS(t *testing.T, env *apitest.Env, res result) {
	t.Helper()
	req := antiddos.CreateDescribeDdosThresholdRequest()
	req.DdosRegionId, req.InstanceType, req.DdosType, req.InstanceIds = apitest.Region, "eip", "defense", &[]string{res.BoundEip}
	resp, err := env.AntiDDoS(t, env.Admin).DescribeDdosThreshold(req)
	if err != nil {
		t.Fatal(err)
	}
	th := resp.Thresholds.Threshold
	if len(th) != 1 || th[0].Bps != 50 || th[0].Pps != 1000 || th[0].IsAuto {
		t.Errorf("scrubbing threshold of %s: %+v, want 50 Mbit/s and 1000 packets/s, not automatic", res.BoundEip, th)
	}
}

// checkFirewall verifies, through the SDK, the address book, the policy
// that uses it and the EIP switch the browser set.
func checkFirewall(t *testing.T, env *apitest.Env, res result) {
	t.Helper()
	c := env.Cloudfw(t, env.Admin)
	br := cloudfw.CreateDescribeAddressBookRequest()
	books, err := c.DescribeAddressBook(br)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, b := range books.Acls {
		if b.GroupUuid != res.AddressBook {
			continue
		}
		found = true
		if b.GroupName != "console-admins" || !slices.Equal(b.AddressList, []string{"198.51.100.0/24", "203.0.113.0/24"}) || b.ReferenceCount != 1 {
			t.Errorf("address book %s: %+v, want console-admins with two blocks, used by one policy", res.AddressBook, b)
		}
	}
	if !found {
		t.Errorf("address book %s not found: %+v", res.AddressBook, books.Acls)
	}
	pr := cloudfw.CreateDescribeControlPolicyRequest()
	pr.Direction, pr.CurrentPage, pr.PageSize = "in", "1", "100"
	pols, err := c.DescribeControlPolicy(pr)
	if err != nil {
		t.Fatal(err)
	}
	found = false
	for _, p := range pols.Policys {
		if p.AclUuid == res.BookPolicy {
			found = true
			if p.Source != "console-admins" || p.SourceType != "group" || p.DestPort != "22" {
				t.Errorf("policy %s: source %s (%s), port %s; want the book console-admins, port 22", p.AclUuid, p.Source, p.SourceType, p.DestPort)
			}
		}
	}
	if !found {
		t.Errorf("policy %s not found", res.BookPolicy)
	}
	ar := cloudfw.CreateDescribeAssetListRequest()
	ar.CurrentPage, ar.PageSize = "1", "100"
	assets, err := c.DescribeAssetList(ar)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range assets.Assets {
		if a.ResourceInstanceId == res.UnprotectedEip && a.ProtectStatus != "closed" {
			t.Errorf("EIP %s: protection %q, want closed (disabled in the browser)", a.ResourceInstanceId, a.ProtectStatus)
		}
	}
}

// checkENIAndPower verifies, through the SDK, that the secondary ENI the
// browser made is gone and that Instances[0] runs again after its stop
// and start.
func checkENIAndPower(t *testing.T, env *apitest.Env, res result) {
	t.Helper()
	c := env.ECS(t, env.Admin)
	er := ecs.CreateDescribeNetworkInterfacesRequest()
	er.NetworkInterfaceId = &[]string{res.DeletedEni}
	enis, err := c.DescribeNetworkInterfaces(er)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(enis.NetworkInterfaceSets.NetworkInterfaceSet); n != 0 {
		t.Errorf("ENI %s deleted in the browser: %d still listed", res.DeletedEni, n)
	}
	ir := ecs.CreateDescribeInstancesRequest()
	ir.InstanceIds = `["` + res.Instances[0] + `"]`
	insts, err := c.DescribeInstances(ir)
	if err != nil {
		t.Fatal(err)
	}
	if len(insts.Instances.Instance) != 1 || insts.Instances.Instance[0].Status != "Running" {
		t.Errorf("instance %s after stop and start: %+v, want Running", res.Instances[0], insts.Instances.Instance)
	}
}

// checkGroupReference verifies, through the SDK, the rule of the second
// group whose peer is the first: the first is referenced by the second.
func checkGroupReference(t *testing.T, env *apitest.Env, res result) {
	t.Helper()
	req := ecs.CreateDescribeSecurityGroupReferencesRequest()
	req.SecurityGroupId = &[]string{res.SecurityGroupId}
	resp, err := env.ECS(t, env.Admin).DescribeSecurityGroupReferences(req)
	if err != nil {
		t.Fatal(err)
	}
	var by []string
	for _, r := range resp.SecurityGroupReferences.SecurityGroupReference {
		for _, g := range r.ReferencingSecurityGroups.ReferencingSecurityGroup {
			by = append(by, g.SecurityGroupId)
		}
	}
	if !slices.Equal(by, []string{res.SecurityGroup2Id}) {
		t.Errorf("groups referencing %s: %v, want [%s] (its 5432 rule made in the browser)", res.SecurityGroupId, by, res.SecurityGroup2Id)
	}
}
