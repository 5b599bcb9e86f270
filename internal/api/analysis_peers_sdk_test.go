package api_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/vpcpeer"

	"github.com/palisade-project/palisade/internal/api"
	"github.com/palisade-project/palisade/internal/apitest"
)

// TestAnalyzeMatrixPeersSDK builds peered VPCs with the official SDK
// (VPCs, vSwitches, groups, instances, a peering within alice's account
// and one with bob's, route entries) and asks AnalyzeMatrix with
// IncludePeers: alice's peer VPC joins the matrix with each instance's
// VPC named, a route on one side only gives "r" until the route back
// exists, an overlapping VPC that is not peered stays out, and neither
// account sees the other's instances.
func TestAnalyzeMatrixPeersSDK(t *testing.T) {
	env := apitest.Start(t)
	alice, bob := env.NewAccount(t, "alice"), env.NewAccount(t, "bob")
	ea, va := env.ECS(t, alice), env.VPC(t, alice)
	open := func(c *ecs.Client, sg string) {
		t.Helper()
		auth := ecs.CreateAuthorizeSecurityGroupRequest()
		auth.SecurityGroupId = sg
		auth.Permissions = &[]ecs.AuthorizeSecurityGroupPermissions{{IpProtocol: "tcp", PortRange: "80/80", SourceCidrIp: "10.0.0.0/8"}}
		if _, err := c.AuthorizeSecurityGroup(auth); err != nil {
			t.Fatal(err)
		}
	}
	netA := newNet(t, env, alice, "10.0.0.0/16", "10.0.1.0/24")
	netB := newNet(t, env, alice, "10.1.0.0/16", "10.1.1.0/24")
	netC := newNet(t, env, alice, "10.1.0.0/16", "10.1.1.0/24") // overlaps B, not peered
	netX := newNet(t, env, bob, "10.2.0.0/16", "10.2.1.0/24")
	for _, n := range []netFixture{netA, netB, netC} {
		open(ea, n.sg)
	}
	open(env.ECS(t, bob), netX.sg)
	ia := runInstance(t, ea, netA.vsw, netA.sg, "10.0.1.10")
	ib := runInstance(t, ea, netB.vsw, netB.sg, "10.1.1.10")
	ic := runInstance(t, ea, netC.vsw, netC.sg, "10.1.1.10")
	ix := runInstance(t, env.ECS(t, bob), netX.vsw, netX.sg, "10.2.1.10")

	pab := createPeer(t, env.VpcPeer(t, alice), netA.vpc, netB.vpc, "")
	pax := createPeer(t, env.VpcPeer(t, alice), netA.vpc, netX.vpc, bob.AccountID)
	acc := vpcpeer.CreateAcceptVpcPeerConnectionRequest()
	acc.InstanceId = pax
	if _, err := env.VpcPeer(t, bob).AcceptVpcPeerConnection(acc); err != nil {
		t.Fatalf("bob accepts: %v", err)
	}
	createRoute(t, va, routeTableOf(t, va, netA.vpc), "10.1.0.0/16", pab)
	createRoute(t, va, routeTableOf(t, va, netA.vpc), "10.2.0.0/16", pax)

	matrix := func(c apitest.Creds, p map[string]string) (insts []map[string]any, cells map[string]string, notes string) {
		t.Helper()
		out, err := env.Common(t, c, api.VersionPalisade, "AnalyzeMatrix", p)
		if err != nil {
			t.Fatalf("AnalyzeMatrix %v: %v", p, err)
		}
		cells = map[string]string{}
		var ids []string
		for _, x := range out["Instances"].([]any) {
			m := x.(map[string]any)
			insts = append(insts, m)
			ids = append(ids, m["Instance"].(string))
		}
		for i, r := range out["Rows"].([]any) {
			row := r.(map[string]any)["Cells"].([]any)[0].(string)
			for j := range ids {
				cells[ids[i]+">"+ids[j]] = row[j : j+1]
			}
		}
		if n, ok := out["Notes"].([]any); ok {
			notes = fmt.Sprint(n...)
		}
		return insts, cells, notes
	}
	ids := func(insts []map[string]any) string {
		var s []string
		for _, m := range insts {
			s = append(s, fmt.Sprintf("%s@%s", m["Instance"], m["VpcID"]))
		}
		return strings.Join(s, " ")
	}

	// Without IncludePeers: A alone.
	insts, _, _ := matrix(alice, map[string]string{"VpcId": netA.vpc, "Ports": "80"})
	if got := ids(insts); got != ia+"@"+netA.vpc {
		t.Errorf("without IncludePeers: %s", got)
	}
	// A's route to B, none back: the first packet passes, the replies
	// are lost. C (overlapping B, not peered) and bob's X are not shown.
	insts, cells, notes := matrix(alice, map[string]string{"VpcId": netA.vpc, "Ports": "80", "IncludePeers": "true"})
	if got, want := ids(insts), ia+"@"+netA.vpc+" "+ib+"@"+netB.vpc; got != want {
		t.Errorf("with peers: %s, want %s (not %s of the overlapping %s)", got, want, ic, netC.vpc)
	}
	if cells[ia+">"+ib] != "r" || cells[ib+">"+ia] != "." {
		t.Errorf("route on A's side only: %v", cells)
	}
	if !strings.Contains(notes, pax) || !strings.Contains(notes, "another account") || strings.Contains(notes, ix) {
		t.Errorf("notes: %q", notes)
	}
	createRoute(t, va, routeTableOf(t, va, netB.vpc), "10.0.0.0/16", pab)
	_, cells, _ = matrix(alice, map[string]string{"VpcId": netA.vpc, "Ports": "80", "IncludePeers": "true"})
	if cells[ia+">"+ib] != "Y" || cells[ib+">"+ia] != "Y" {
		t.Errorf("routes both ways: %v", cells)
	}
	// From B: its peer A, not C.
	insts, _, _ = matrix(alice, map[string]string{"VpcId": netB.vpc, "Ports": "80", "IncludePeers": "true"})
	if got, want := ids(insts), ib+"@"+netB.vpc+" "+ia+"@"+netA.vpc; got != want {
		t.Errorf("from B: %s, want %s", got, want)
	}
	// Bob sees his instance only, and a note on alice's VPC.
	insts, _, notes = matrix(bob, map[string]string{"VpcId": netX.vpc, "Ports": "80", "IncludePeers": "true"})
	if got := ids(insts); got != ix+"@"+netX.vpc || strings.Contains(notes, ia) || !strings.Contains(notes, pax) {
		t.Errorf("bob: %s, notes %q", got, notes)
	}
	_, err := env.Common(t, alice, api.VersionPalisade, "AnalyzeMatrix", map[string]string{"VpcId": netA.vpc, "IncludePeers": "yes"})
	if status, code := apitest.ServerErr(t, err); status != 400 || code != "InvalidParameter" {
		t.Errorf("IncludePeers yes: %d %s", status, code)
	}
}
