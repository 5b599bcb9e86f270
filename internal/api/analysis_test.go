package api_test

import (
	"fmt"
	"net/http"
	"net/netip"
	"testing"

	"github.com/palisade-project/palisade/internal/api"
	"github.com/palisade-project/palisade/internal/apitest"
	"github.com/palisade-project/palisade/internal/model"
)

// TestAnalysisActions calls AnalyzeReachability, AnalyzeMatrix and
// AuditSecurity on records written to the store: answers, what-if
// changes, parameter errors and account isolation.
func TestAnalysisActions(t *testing.T) {
	env := apitest.Start(t)
	bob := env.NewAccount(t, "bob")
	eve := env.NewAccount(t, "eve")
	acct := bob.AccountID
	env.PutRecord(t, model.PrefixVPC+"vpc-a", model.VPC{ID: "vpc-a", AccountID: acct, CidrBlock: netip.MustParsePrefix("10.0.0.0/16")})
	env.PutRecord(t, model.PrefixVSwitch+"vsw-a", model.VSwitch{ID: "vsw-a", AccountID: acct, VpcID: "vpc-a", CidrBlock: netip.MustParsePrefix("10.0.1.0/24")})
	env.PutRecord(t, model.PrefixSecurityGroup+"sg-a", model.SecurityGroup{ID: "sg-a", AccountID: acct, VpcID: "vpc-a", Type: model.GroupTypeBasic,
		InnerAccessPolicy: model.InnerDrop, Rules: []model.Rule{{ID: "sgr-1", Direction: model.Ingress, Protocol: model.ProtoTCP,
			Ports: model.PortRange{From: 3306, To: 3306}, PeerCidr: netip.MustParsePrefix("0.0.0.0/0"), Policy: model.PolicyAccept, Priority: 1}}})
	for i, addr := range []string{"10.0.1.10", "10.0.1.11"} {
		id := []string{"a", "b"}[i]
		env.PutRecord(t, model.PrefixInstance+"i-"+id, model.Instance{ID: "i-" + id, AccountID: acct, VpcID: "vpc-a", VSwitchID: "vsw-a", PrimaryENIID: "eni-" + id, Status: model.InstanceRunning})
		env.PutRecord(t, model.PrefixENI+"eni-"+id, model.ENI{ID: "eni-" + id, AccountID: acct, VpcID: "vpc-a", VSwitchID: "vsw-a", InstanceID: "i-" + id,
			PrimaryIP: netip.MustParseAddr(addr), SecurityGroupIDs: []string{"sg-a"}})
	}
	call := func(c apitest.Creds, action string, p map[string]string) (map[string]any, string) {
		t.Helper()
		out, err := env.Common(t, c, api.VersionPalisade, action, p)
		if err != nil {
			status, code := apitest.ServerErr(t, err)
			if status != http.StatusBadRequest && status != http.StatusNotFound {
				t.Errorf("%s: status %d", action, status)
			}
			return nil, code
		}
		return out, ""
	}
	out, code := call(bob, "AnalyzeReachability", map[string]string{"From": "i-a", "To": "i-b", "Protocol": "tcp", "Port": "3306"})
	if code != "" || out["Verdict"] != "reachable" {
		t.Fatalf("reach: %v %s", out, code)
	}
	out, _ = call(bob, "AnalyzeReachability", map[string]string{"From": "i-a", "To": "i-b", "Protocol": "tcp", "Port": "3306",
		"Changes": `[{"Action":"remove","SecurityGroupId":"sg-a","RuleId":"sgr-1"}]`})
	if out["Verdict"] != "unreachable" || out["WhatIf"] == nil {
		t.Errorf("reach what-if: %v", out)
	}
	out, _ = call(bob, "AuditSecurity", nil)
	if fmt.Sprint(out["High"]) != "1" {
		t.Errorf("audit: %v", out)
	}
	if _, code := call(bob, "AnalyzeMatrix", map[string]string{"VpcId": "vpc-a", "Ports": "3306,udp:53"}); code != "" {
		t.Errorf("matrix: %s", code)
	}
	for _, c := range []struct {
		action string
		p      map[string]string
		code   string
	}{
		{"AnalyzeReachability", map[string]string{"To": "i-b", "Protocol": "tcp", "Port": "1"}, "MissingParameter"},
		{"AnalyzeReachability", map[string]string{"From": "i-a", "To": "i-b", "Protocol": "sctpx", "Port": "1"}, "InvalidParameter"},
		{"AnalyzeReachability", map[string]string{"From": "i-a", "To": "i-b", "Protocol": "tcp", "Port": "70000"}, "InvalidParameter"},
		{"AnalyzeReachability", map[string]string{"From": "i-a", "To": "i-b", "Protocol": "tcp", "Port": "1", "Changes": "[{"}, "InvalidParameter"},
		{"AnalyzeReachability", map[string]string{"From": "i-a", "To": "i-b", "Protocol": "tcp", "Port": "1", "Changes": `[{"Action":"add","SecurityGroupId":"sg-zz","Direction":"ingress","IpProtocol":"tcp","PortRange":"1/1","PeerCidrIp":"10.0.0.0/8"}]`}, "InvalidSecurityGroupId.NotFound"},
		{"AnalyzeReachability", map[string]string{"From": "i-a", "To": "i-b", "Protocol": "tcp", "Port": "1", "Changes": `[{"Action":"add","SecurityGroupId":"sg-a","Direction":"ingress","IpProtocol":"tcp","PortRange":"99999/1","PeerCidrIp":"10.0.0.0/8"}]`}, "InvalidParameter"},
		{"AnalyzeMatrix", map[string]string{}, "MissingParameter"},
		{"AnalyzeMatrix", map[string]string{"VpcId": "vpc-a", "Ports": "tcp:0"}, "InvalidParameter"},
		{"AuditSecurity", map[string]string{"VpcId": "vpc-zz"}, "InvalidVpcId.NotFound"},
	} {
		if _, code := call(bob, c.action, c.p); code != c.code && !(c.code == "InvalidParameter" && code != "") {
			t.Errorf("%s %v: code %q, want %q", c.action, c.p, code, c.code)
		}
	}
	// Another account sees nothing of bob's.
	if _, code := call(eve, "AnalyzeReachability", map[string]string{"From": "i-a", "To": "i-b", "Protocol": "tcp", "Port": "3306"}); code != "InvalidInstanceId.NotFound" {
		t.Errorf("eve reach: %s", code)
	}
	if _, code := call(eve, "AnalyzeMatrix", map[string]string{"VpcId": "vpc-a"}); code != "InvalidVpcId.NotFound" {
		t.Errorf("eve matrix: %s", code)
	}
}
