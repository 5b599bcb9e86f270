package api_test

import (
	"encoding/json"
	"strings"
	"testing"

	slb "github.com/alibabacloud-go/slb-20140515/v4/client"
	"github.com/alibabacloud-go/tea/tea"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"

	"github.com/palisade-project/palisade/internal/api"
	"github.com/palisade-project/palisade/internal/apitest"
	"github.com/palisade-project/palisade/internal/model"
)

// TestAnalyzeLoadBalancerSDK builds a load balancer with the official
// SDKs (a TCP listener 80 -> 8080 with two backends whose group admits
// 8080 from the VPC) and follows it with AnalyzeReachability: one path per
// backend, blocked at the lb-backend step until the agent reports the
// backends normal, then reachable through the backend reported normal
// only; a port without listener ends at the load balancer; the audit
// reports the listener once the backends' group admits only the
// listener's port; another account does not see the load balancer.
func TestAnalyzeLoadBalancerSDK(t *testing.T) {
	w := newSLBWorld(t)
	env := w.env
	e := env.ECS(t, w.alice)
	auth := ecs.CreateAuthorizeSecurityGroupRequest()
	auth.SecurityGroupId = w.net.sg
	auth.Permissions = &[]ecs.AuthorizeSecurityGroupPermissions{
		{IpProtocol: "tcp", PortRange: "8080/8080", SourceCidrIp: "10.0.0.0/16", Description: "backends"},
		{IpProtocol: "tcp", PortRange: "80/80", SourceCidrIp: "10.0.0.0/16", Description: "listener port"},
	}
	if _, err := e.AuthorizeSecurityGroup(auth); err != nil {
		t.Fatal(err)
	}
	// The backends do not admit each other (they are clients too); the
	// client has a group of its own.
	pol := ecs.CreateModifySecurityGroupPolicyRequest()
	pol.SecurityGroupId, pol.InnerAccessPolicy = w.net.sg, "Drop"
	if _, err := e.ModifySecurityGroupPolicy(pol); err != nil {
		t.Fatal(err)
	}
	client := runInstance(t, e, w.net.vsw, createSG(t, e, w.net.vpc, "client", ""), "10.0.1.20")
	lb := w.createLB(t, w.c, &slb.CreateLoadBalancerRequest{VSwitchId: tea.String(w.net.vsw), Address: tea.String("10.0.1.100"), AddressType: tea.String("intranet")})
	lbID := tea.StringValue(lb.LoadBalancerId)
	if _, err := w.c.CreateLoadBalancerTCPListener(&slb.CreateLoadBalancerTCPListenerRequest{LoadBalancerId: lb.LoadBalancerId,
		ListenerPort: tea.Int32(80), BackendServerPort: tea.Int32(8080), Bandwidth: tea.Int32(-1)}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.c.AddBackendServers(&slb.AddBackendServersRequest{LoadBalancerId: lb.LoadBalancerId,
		BackendServers: backendsJSON(t, map[string]any{"ServerId": w.i1, "Weight": "100"}, map[string]any{"ServerId": w.i2, "Weight": "100"})}); err != nil {
		t.Fatal(err)
	}

	type path struct {
		Steps []struct {
			Point, Resource, Detail string
			Allow                   bool
		}
		Backend    *struct{ Instance, Address string }
		Translated string
		Reachable  bool
	}
	type result struct {
		Verdict string
		Paths   []path
	}
	reach := func(to, port string) result {
		t.Helper()
		out, err := env.Common(t, w.alice, api.VersionPalisade, "AnalyzeReachability", map[string]string{"From": client, "To": to, "Protocol": "tcp", "Port": port})
		if err != nil {
			t.Fatalf("AnalyzeReachability -> %s:%s: %v", to, port, err)
		}
		b, _ := json.Marshal(out)
		var r result
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	// denied is the first denying step of each path.
	denied := func(r result) []string {
		var out []string
		for _, p := range r.Paths {
			d := ""
			for _, s := range p.Steps {
				if !s.Allow {
					d = s.Point + ": " + s.Detail
					break
				}
			}
			out = append(out, d)
		}
		return out
	}

	// The listener is created stopped.
	r := reach(lbID, "80")
	if d := denied(r); r.Verdict != "unreachable" || len(d) != 1 || !strings.Contains(d[0], "no running tcp listener on port 80 (the tcp listener on port 80 is stopped") {
		t.Fatalf("stopped listener: %s %q", r.Verdict, d)
	}
	if _, err := w.c.StartLoadBalancerListener(&slb.StartLoadBalancerListenerRequest{LoadBalancerId: lb.LoadBalancerId, ListenerPort: tea.Int32(80)}); err != nil {
		t.Fatal(err)
	}
	// Running, no health report yet: no backend takes connections.
	r = reach("10.0.1.100", "80")
	if d := denied(r); r.Verdict != "unreachable" || len(d) != 2 || !strings.HasPrefix(d[0], "lb-backend: no health report") || !strings.HasPrefix(d[1], "lb-backend: ") {
		t.Fatalf("before a report: %s %q", r.Verdict, d)
	}
	// The agent reports i1 normal, i2 abnormal.
	report, _ := json.Marshal([]model.LBHealth{{LoadBalancerID: lbID, Listeners: []model.LBListenerHealth{{Protocol: "tcp", Port: 80,
		Servers: []model.LBServerHealth{{ServerID: w.i1, Status: model.LBHealthNormal}, {ServerID: w.i2, Status: model.LBHealthAbnormal}}}}}})
	if _, status, code := palisadeCall(t, env, env.Admin, "PalisadeReportLoadBalancerHealth", map[string]string{"Health": string(report)}); status != 200 {
		t.Fatalf("report: %d %s", status, code)
	}
	r = reach(lbID, "80")
	d := denied(r)
	if r.Verdict != "reachable" || len(r.Paths) != 2 || d[0] != "" || !strings.Contains(d[1], "is abnormal on the tcp listener on port 80") {
		t.Fatalf("after the report: %s %q", r.Verdict, d)
	}
	p := r.Paths[0]
	if p.Backend == nil || p.Backend.Instance != w.i1 || p.Translated != "tcp 10.0.1.20:49152 -> 10.0.1.10:8080" {
		t.Errorf("path to i1: backend %+v, translated %q", p.Backend, p.Translated)
	}
	// No listener on 8080: dropped by the load balancer, whatever the
	// backends' groups admit.
	if d := denied(reach(lbID, "8080")); len(d) != 1 || !strings.Contains(d[0], "load-balancer: dropped by load balancer "+lbID+": no running tcp listener on port 8080") {
		t.Errorf("port 8080: %q", d)
	}

	// The backends' group admits the listener's port only: the audit
	// reports the listener, reach stops at their groups.
	out, err := env.Common(t, w.alice, api.VersionPalisade, "AuditSecurity", nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(jsonText(t, out), "lb-backends-refuse-vpc") {
		t.Errorf("audit reports the listener while its backends admit the VPC: %s", jsonText(t, out))
	}
	var ruleID string
	desc := ecs.CreateDescribeSecurityGroupAttributeRequest()
	desc.SecurityGroupId = w.net.sg
	attr, err := e.DescribeSecurityGroupAttribute(desc)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range attr.Permissions.Permission {
		if p.PortRange == "8080/8080" {
			ruleID = p.SecurityGroupRuleId
		}
	}
	if ruleID == "" {
		t.Fatalf("no 8080 rule in %+v", attr.Permissions)
	}
	changes := `[{"Action":"remove","SecurityGroupId":"` + w.net.sg + `","RuleId":"` + ruleID + `"}]`
	out, err = env.Common(t, w.alice, api.VersionPalisade, "AuditSecurity", map[string]string{"Changes": changes})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, f := range out["Findings"].([]any) {
		m := f.(map[string]any)
		found = found || (m["Code"] == "lb-backends-refuse-vpc" && m["Resource"] == lbID && m["Severity"] == "medium")
	}
	if !found {
		t.Errorf("audit without the 8080 rule: %s", jsonText(t, out))
	}
	out, err = env.Common(t, w.alice, api.VersionPalisade, "AnalyzeReachability", map[string]string{"From": client, "To": lbID, "Protocol": "tcp", "Port": "80", "Changes": changes})
	if err != nil {
		t.Fatal(err)
	}
	if s := jsonText(t, out); out["Verdict"] != "unreachable" || !strings.Contains(s, "no ingress rule matched") {
		t.Errorf("reach without the 8080 rule: %s", s)
	}

	// Bob does not see alice's load balancer.
	if _, err := env.Common(t, w.bob, api.VersionPalisade, "AnalyzeReachability", map[string]string{"From": w.bobInst, "To": lbID, "Protocol": "tcp", "Port": "80"}); err == nil {
		t.Error("bob analysed alice's load balancer")
	} else if _, code := apitest.ServerErr(t, err); code != "InvalidLoadBalancerId.NotFound" {
		t.Errorf("bob: %s", code)
	}
}

func jsonText(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
