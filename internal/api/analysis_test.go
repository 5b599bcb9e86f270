package api_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"

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
	// MySQL open to 0.0.0.0/0 on ENIs without an EIP: latent (medium).
	out, _ = call(bob, "AuditSecurity", nil)
	if fmt.Sprint(out["Medium"]) != "1" || fmt.Sprint(out["High"]) != "0" {
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

// TestAnalysisPortParameters: a port that is given must be 1-65535, 0
// included, for AnalyzeReachability (Port, SourcePort) and AnalyzeMatrix
// (SourcePort): InvalidParameter, HTTP 400, and a message that names the
// valid range (and the default, for SourcePort). A port that is not given
// keeps its meaning: required for tcp (MissingParameter), the default
// source port otherwise.
func TestAnalysisPortParameters(t *testing.T) {
	env := apitest.Start(t)
	acct := env.Admin.AccountID
	env.PutRecord(t, model.PrefixVPC+"vpc-p", model.VPC{ID: "vpc-p", AccountID: acct, CidrBlock: netip.MustParsePrefix("10.0.0.0/16")})
	env.PutRecord(t, model.PrefixVSwitch+"vsw-p", model.VSwitch{ID: "vsw-p", AccountID: acct, VpcID: "vpc-p", CidrBlock: netip.MustParsePrefix("10.0.1.0/24")})
	for i, id := range []string{"p1", "p2"} {
		env.PutRecord(t, model.PrefixInstance+"i-"+id, model.Instance{ID: "i-" + id, AccountID: acct, VpcID: "vpc-p", VSwitchID: "vsw-p", PrimaryENIID: "eni-" + id, Status: model.InstanceRunning})
		env.PutRecord(t, model.PrefixENI+"eni-"+id, model.ENI{ID: "eni-" + id, AccountID: acct, VpcID: "vpc-p", VSwitchID: "vsw-p", InstanceID: "i-" + id,
			PrimaryIP: netip.AddrFrom4([4]byte{10, 0, 1, byte(10 + i)})})
	}
	reach := func(extra map[string]string) map[string]string {
		p := map[string]string{"From": "i-p1", "To": "i-p2", "Protocol": "tcp"}
		for k, v := range extra {
			p[k] = v
		}
		return p
	}
	for _, c := range []struct {
		name   string
		action string
		p      map[string]string
		code   string   // "" for success
		msg    []string // in the error message
		sport  string   // SourcePort of a successful answer
	}{
		{"port 0", "AnalyzeReachability", reach(map[string]string{"Port": "0"}), "InvalidParameter",
			[]string{`"Port"`, "0 is not a valid destination port", "1-65535"}, ""},
		{"port 0 for icmp", "AnalyzeReachability", reach(map[string]string{"Protocol": "icmp", "Port": "0"}), "InvalidParameter",
			[]string{`"Port"`, "1-65535"}, ""},
		{"port -1", "AnalyzeReachability", reach(map[string]string{"Port": "-1"}), "InvalidParameter",
			[]string{`"Port"`, "1-65535"}, ""},
		{"port 65536", "AnalyzeReachability", reach(map[string]string{"Port": "65536"}), "InvalidParameter",
			[]string{`"Port"`, "1-65535"}, ""},
		{"port not a number", "AnalyzeReachability", reach(map[string]string{"Port": "ssh"}), "InvalidParameter",
			[]string{`"Port"`, "not an integer"}, ""},
		{"no port for tcp", "AnalyzeReachability", reach(nil), "MissingParameter", []string{`"Port"`}, ""},
		{"source port 0", "AnalyzeReachability", reach(map[string]string{"Port": "22", "SourcePort": "0"}), "InvalidParameter",
			[]string{`"SourcePort"`, "0 is not a valid source port", "1-65535", "omit SourcePort for the default 49152"}, ""},
		{"source port 70000", "AnalyzeReachability", reach(map[string]string{"Port": "22", "SourcePort": "70000"}), "InvalidParameter",
			[]string{`"SourcePort"`, "1-65535"}, ""},
		{"matrix source port 0", "AnalyzeMatrix", map[string]string{"VpcId": "vpc-p", "SourcePort": "0"}, "InvalidParameter",
			[]string{`"SourcePort"`, "1-65535", "default 49152"}, ""},
		{"ports 1 and 65535", "AnalyzeReachability", reach(map[string]string{"Port": "65535", "SourcePort": "1"}), "", nil, "1"},
		{"no source port", "AnalyzeReachability", reach(map[string]string{"Port": "22"}), "", nil, "49152"},
		{"empty source port", "AnalyzeReachability", reach(map[string]string{"Port": "22", "SourcePort": ""}), "", nil, "49152"},
		{"icmp without ports", "AnalyzeReachability", reach(map[string]string{"Protocol": "icmp"}), "", nil, "0"},
		{"matrix without source port", "AnalyzeMatrix", map[string]string{"VpcId": "vpc-p"}, "", nil, "49152"},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, err := env.Common(t, env.Admin, api.VersionPalisade, c.action, c.p)
			if c.code == "" {
				if err != nil {
					t.Fatalf("%s %v: %v", c.action, c.p, err)
				}
				if got := fmt.Sprint(out["SourcePort"]); got != c.sport {
					t.Errorf("%s %v: SourcePort %s, want %s", c.action, c.p, got, c.sport)
				}
				return
			}
			var se *sdkerrors.ServerError
			if !errors.As(err, &se) {
				t.Fatalf("%s %v: %v, want a server error %s", c.action, c.p, err, c.code)
			}
			if se.ErrorCode() != c.code || se.HttpStatus() != http.StatusBadRequest {
				t.Errorf("%s %v: %d %s, want 400 %s (%s)", c.action, c.p, se.HttpStatus(), se.ErrorCode(), c.code, se.Message())
			}
			for _, m := range c.msg {
				if !strings.Contains(se.Message(), m) {
					t.Errorf("%s %v: message %q lacks %q", c.action, c.p, se.Message(), m)
				}
			}
		})
	}
}

// TestAnalysisEIPHairpin: through the service, which knows the EIP pool,
// a path from inside a VPC to an EIP (the account's own, in the same or
// another VPC, or another account's) is unreachable because the data
// plane has no EIP hairpin, and the answer names nothing of the other
// account.
func TestAnalysisEIPHairpin(t *testing.T) {
	env := apitest.Start(t)
	bob := env.NewAccount(t, "bob")
	eve := env.NewAccount(t, "eve")
	put := func(acct, vpc, id, addr, eip string) {
		env.PutRecord(t, model.PrefixInstance+"i-"+id, model.Instance{ID: "i-" + id, AccountID: acct, VpcID: vpc, VSwitchID: "vsw-" + vpc[4:], PrimaryENIID: "eni-" + id, Status: model.InstanceRunning})
		env.PutRecord(t, model.PrefixENI+"eni-"+id, model.ENI{ID: "eni-" + id, AccountID: acct, VpcID: vpc, VSwitchID: "vsw-" + vpc[4:], InstanceID: "i-" + id,
			PrimaryIP: netip.MustParseAddr(addr), SecurityGroupIDs: []string{"sg-" + vpc[4:]}})
		if eip != "" {
			env.PutRecord(t, model.PrefixEIP+"eip-"+id, model.EIP{ID: "eip-" + id, AccountID: acct, Address: netip.MustParseAddr(eip), ENIID: "eni-" + id,
				PrivateIP: netip.MustParseAddr(addr), InstanceID: "i-" + id, Status: model.EIPInUse})
		}
	}
	for _, v := range []struct{ acct, vpc string }{{bob.AccountID, "vpc-b1"}, {bob.AccountID, "vpc-b2"}, {eve.AccountID, "vpc-e1"}} {
		env.PutRecord(t, model.PrefixVPC+v.vpc, model.VPC{ID: v.vpc, AccountID: v.acct, CidrBlock: netip.MustParsePrefix("10.0.0.0/16")})
		env.PutRecord(t, model.PrefixVSwitch+"vsw-"+v.vpc[4:], model.VSwitch{ID: "vsw-" + v.vpc[4:], AccountID: v.acct, VpcID: v.vpc, CidrBlock: netip.MustParsePrefix("10.0.1.0/24")})
		env.PutRecord(t, model.PrefixSecurityGroup+"sg-"+v.vpc[4:], model.SecurityGroup{ID: "sg-" + v.vpc[4:], AccountID: v.acct, VpcID: v.vpc, Type: model.GroupTypeBasic,
			InnerAccessPolicy: model.InnerAccept, Rules: []model.Rule{{ID: "sgr-" + v.vpc[4:], Direction: model.Ingress, Protocol: model.ProtoTCP,
				Ports: model.PortRange{From: 80, To: 80}, PeerCidr: netip.MustParsePrefix("0.0.0.0/0"), Policy: model.PolicyAccept, Priority: 1}}})
	}
	put(bob.AccountID, "vpc-b1", "b1", "10.0.1.10", "198.18.0.21")
	put(bob.AccountID, "vpc-b1", "b2", "10.0.1.11", "198.18.0.22")
	put(bob.AccountID, "vpc-b1", "b3", "10.0.1.12", "")
	put(bob.AccountID, "vpc-b2", "b4", "10.0.1.10", "198.18.0.24")
	put(eve.AccountID, "vpc-e1", "e1", "10.0.1.10", "198.18.0.31")

	for _, c := range []struct {
		from, to  string
		reachable bool
		detail    string
	}{
		{"i-b1", "198.18.0.22", false, "EIP hairpin is not supported: traffic from inside a VPC to EIP 198.18.0.22"},
		{"i-b3", "198.18.0.22", false, "EIP hairpin is not supported: traffic from inside a VPC to EIP 198.18.0.22 never leaves vpc-b1"},
		{"i-b1", "198.18.0.24", false, "EIP hairpin is not supported: traffic from inside a VPC to EIP 198.18.0.24"},
		{"i-b1", "198.18.0.31", false, "EIP hairpin is not supported: traffic from inside a VPC to 198.18.0.31, an address of the EIP pool 198.18.0.0/20"},
		{"198.18.0.31", "i-b1", false, "EIP hairpin is not supported: 198.18.0.31 is an address of the EIP pool 198.18.0.0/20"},
		{"i-b1", "i-b2", true, "local route"},
		{"203.0.113.9", "198.18.0.22", true, "inbound through EIP 198.18.0.22"},
	} {
		out, err := env.Common(t, bob, api.VersionPalisade, "AnalyzeReachability", map[string]string{"From": c.from, "To": c.to, "Protocol": "tcp", "Port": "80"})
		if err != nil {
			t.Fatalf("%s -> %s: %v", c.from, c.to, err)
		}
		b, _ := json.Marshal(out)
		if out["Reachable"] != c.reachable || !strings.Contains(string(b), c.detail) {
			t.Errorf("%s -> %s: reachable %v, want %v with %q:\n%s", c.from, c.to, out["Reachable"], c.reachable, c.detail, b)
		}
		for _, leak := range []string{eve.AccountID, "vpc-e1", "i-e1", "eni-e1", "eip-e1", "sg-e1"} {
			if strings.Contains(string(b), leak) {
				t.Errorf("%s -> %s: the answer names %s of another account:\n%s", c.from, c.to, leak, b)
			}
		}
	}
}
