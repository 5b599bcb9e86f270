package kernel_test

import (
	"bufio"
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/cloudfw"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/vpc"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/vpcpeer"

	"github.com/palisade-project/palisade/internal/api"
	"github.com/palisade-project/palisade/internal/apitest"
	"github.com/palisade-project/palisade/internal/app"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/probe"
)

// TestVpcPeeringSDK drives VPC peering (VpcPeer 2022-01-01), its route
// entries (VPC 2016-04-28) and Cloud Firewall's VPC firewall (Cloudfw
// 2017-12-07) through the official SDK against real connections between
// two VPCs: isolated at first; a peering alone routes nothing; a route on
// one side only gets no answer; routes on both sides connect, and the
// security groups still decide; the VPC firewall drops one port while it
// is open and nothing once it is closed; deleting the routes and the
// peering isolates the VPCs again.
func TestVpcPeeringSDK(t *testing.T) {
	requireKernel(t)
	env := apitest.Start(t, apitest.WithBackend(app.BackendMemory), apitest.WithAgent(randTag(t)))
	w := newWorld(t, env)
	vpcA, vpcB := w.mustVPC("10.61.0.0/16"), w.mustVPC("10.62.0.0/16")
	vswA, vswB := w.mustVSwitch(vpcA, "10.61.1.0/24"), w.mustVSwitch(vpcB, "10.62.1.0/24")
	w.mustGroup("ga", vpcA, "normal", "")
	w.mustGroup("gb", vpcB, "normal", "")
	w.authorize("gb", ruleSpec{proto: "tcp", ports: "8080/8081", peer: "10.61.0.0/16", policy: "accept", priority: 1})
	w.run("a1", vswA, "10.61.1.10", "ga")
	w.run("b1", vswB, "10.62.1.10", "gb")
	w.waitRunning()
	serveWho(t, w.ids["b1"], "b1", 8080)
	serveWho(t, w.ids["b1"], "b1", 8081)
	serveWho(t, w.ids["b1"], "b1", 9090) // no group rule opens it
	b1 := netip.MustParseAddr("10.62.1.10")
	reach := func(step string, port int, want bool) {
		t.Helper()
		// The analyzer says the same as the kernel, at every step.
		out, err := env.Common(t, env.Admin, api.VersionPalisade, "AnalyzeReachability",
			map[string]string{"From": w.ids["a1"], "To": w.ids["b1"], "Protocol": "tcp", "Port": fmt.Sprint(port)})
		if err != nil {
			t.Fatalf("%s: AnalyzeReachability: %v", step, err)
		}
		if verdict := out["Verdict"]; (verdict == "reachable") != want {
			t.Errorf("%s: the analyzer says %v for a1 -> b1:%d, want reachable=%v", step, verdict, port, want)
		}
		dst := netip.AddrPortFrom(b1, uint16(port))
		for range 5 { // the agent may still be applying the last change
			var name string
			name, _, err = dialWho(w.ids["a1"], dst, 500*time.Millisecond)
			if err == nil && name != "b1" {
				err = fmt.Errorf("answered by %s", name)
			}
			if (err == nil) == want {
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
		if want {
			t.Errorf("%s: a1 -> b1:%d: %v, want a connection", step, port, err)
		} else {
			t.Errorf("%s: a1 -> b1:%d connected, want no connection", step, port)
		}
	}
	reach("no peering", 8080, false)

	peer, pcc, attr := peerVPCs(t, env, vpcA, vpcB)
	if attr.Status != model.PeerActivated {
		t.Fatalf("a peering within one account: Status %q, want %s", attr.Status, model.PeerActivated)
	}
	w.settle()
	reach("peering without routes", 8080, false)

	route := func(vpcID, dst string) string {
		t.Helper()
		id, err := w.addRoute(vpcID, dst, pcc)
		if err != nil {
			t.Fatalf("CreateRouteEntry %s in %s: %v", dst, vpcID, err)
		}
		return id
	}
	toB := route(vpcA, "10.62.0.0/16")
	w.settle()
	reach("a route on A's side only", 8080, false)
	toA := route(vpcB, "10.61.1.0/24")
	w.settle()
	reach("routes on both sides", 8080, true)
	reach("routes on both sides, a port B's group does not open", 9090, false)

	fw, fwID := vpcFirewall(t, env, vpcA, vpcB, "opened")
	pol := cloudfw.CreateCreateVpcFirewallControlPolicyRequest()
	pol.VpcFirewallId, pol.AclAction, pol.Proto, pol.NewOrder = fwID, "drop", "TCP", "1"
	pol.Source, pol.SourceType, pol.Destination, pol.DestinationType = "10.61.0.0/16", "net", "10.62.1.0/24", "net"
	pol.DestPortType, pol.DestPort, pol.ApplicationName, pol.Description = "port", "8080/8080", "ANY", "no 8080 from A"
	dropped, err := fw.CreateVpcFirewallControlPolicy(pol)
	if err != nil {
		t.Fatalf("CreateVpcFirewallControlPolicy: %v", err)
	}
	w.settle()
	reach("VPC firewall drops 8080", 8080, false)
	reach("VPC firewall: no policy for 8081", 8081, true)
	pol.AclAction, pol.NewOrder, pol.DestPort, pol.Description = "accept", "2", "8081/8081", "8081 from A"
	accepted, err := fw.CreateVpcFirewallControlPolicy(pol)
	if err != nil {
		t.Fatalf("CreateVpcFirewallControlPolicy: %v", err)
	}
	w.settle()
	reach("VPC firewall accepts 8081", 8081, true)
	// The kernel counted both policies' hits, where the connections
	// entered B, and the agent reported them: HitTimes and HitLastTime.
	since := time.Now().Add(-time.Minute).Unix()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		dreq := cloudfw.CreateDescribeVpcFirewallControlPolicyRequest()
		dreq.VpcFirewallId, dreq.CurrentPage, dreq.PageSize = fwID, "1", "10"
		dresp, err := fw.DescribeVpcFirewallControlPolicy(dreq)
		if err != nil {
			t.Fatalf("DescribeVpcFirewallControlPolicy: %v", err)
		}
		hits := map[string]cloudfw.DataItem{}
		for _, p := range dresp.Policys {
			hits[p.AclUuid] = p
		}
		d, a := hits[dropped.AclUuid], hits[accepted.AclUuid]
		if d.HitTimes >= 1 && a.HitTimes >= 1 {
			for _, p := range []cloudfw.DataItem{d, a} {
				if p.HitLastTime < since || p.HitLastTime > time.Now().Unix()+1 {
					t.Errorf("policy %s (%s): HitLastTime %d, want about now", p.AclUuid, p.AclAction, p.HitLastTime)
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("DescribeVpcFirewallControlPolicy: after 10 s the drop has %d hits and the accept %d, want at least 1 each", d.HitTimes, a.HitTimes)
		}
	}
	// The drop logged a1's attempts at b1:8080 (judged in B, where they
	// entered); the accept logs nothing.
	vfwLogs := firewallLogs(t, env, env.Admin, map[string]string{"LogType": "vpc_firewall_log"}, func(m map[string]any) bool {
		return logField(m, "acl_rule_id") == dropped.AclUuid
	})
	for _, m := range vfwLogs {
		if logField(m, "acl_rule_id") != dropped.AclUuid || logField(m, "rule_result") != "drop" || logField(m, "firewall_id") != fwID ||
			logField(m, "vpc_id") != vpcB || logField(m, "src_ip") != "10.61.1.10" || logField(m, "dst_ip") != b1.String() || logField(m, "dst_port") != "8080" {
			t.Errorf("VPC firewall traffic log %v, want the drop of a1 -> b1:8080 by %s in %s", m, dropped.AclUuid, vpcB)
		}
	}

	sw := cloudfw.CreateModifyVpcFirewallSwitchStatusRequest()
	sw.VpcFirewallId, sw.FirewallSwitch = fwID, "closed"
	if _, err := fw.ModifyVpcFirewallSwitchStatus(sw); err != nil {
		t.Fatalf("ModifyVpcFirewallSwitchStatus: %v", err)
	}
	w.settle()
	reach("VPC firewall closed", 8080, true)

	// The connection that must die over the peering: held open from a1 to
	// b1:8081, then a drop on the sender's egress (a1's group, in A's
	// namespace, where the flow's other end is beyond the VPC) cuts it.
	held, err := probe.DialTCP(context.Background(), w.ids["a1"], netip.AddrPortFrom(b1, 8081), 2*time.Second)
	if err != nil {
		t.Fatalf("a1 -> b1:8081 before the egress drop: %v", err)
	}
	defer held.Close()
	lines := bufio.NewReader(held)
	ask := func(timeout time.Duration) error { // a line, and b1's answer
		_ = held.SetDeadline(time.Now().Add(timeout))
		if _, err := fmt.Fprintln(held, "who"); err != nil {
			return err
		}
		line, err := lines.ReadString('\n')
		if err == nil && !strings.HasPrefix(line, "b1 ") {
			err = fmt.Errorf("answered %q", line)
		}
		return err
	}
	if err := ask(time.Second); err != nil {
		t.Fatalf("a1 -> b1:8081 before the egress drop: %v", err)
	}
	w.authorize("ga", ruleSpec{dir: "egress", proto: "tcp", ports: "8081/8081", peer: "10.62.0.0/16", policy: "drop", priority: 1})
	cut := false
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		if err := ask(300 * time.Millisecond); err != nil {
			cut = true
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !cut {
		t.Errorf("a1 -> b1:8081 still open 5 s after a1's egress drops it")
	}
	reach("a1's egress drops 8081", 8081, false)
	reach("a1's egress drops 8081: 8080 still passes", 8080, true)

	// The peering is refused while routes use it (or a firewall is on it).
	del := vpcpeer.CreateDeleteVpcPeerConnectionRequest()
	del.InstanceId = pcc
	if _, err := peer.DeleteVpcPeerConnection(del); err == nil || !strings.Contains(err.Error(), "DependencyViolation") {
		t.Fatalf("DeleteVpcPeerConnection with routes in place: %v, want DependencyViolation", err)
	}
	for _, id := range []string{toB, toA} {
		req := vpc.CreateDeleteRouteEntryRequest()
		req.RouteEntryId = id
		if _, err := w.vpc.DeleteRouteEntry(req); err != nil {
			t.Fatalf("DeleteRouteEntry %s: %v", id, err)
		}
	}
	w.settle()
	reach("routes deleted", 8081, false)
	fdel := cloudfw.CreateDeleteVpcFirewallConfigureRequest()
	fdel.VpcFirewallIdList = &[]string{fwID}
	if _, err := fw.DeleteVpcFirewallConfigure(fdel); err != nil {
		t.Fatalf("DeleteVpcFirewallConfigure: %v", err)
	}
	if _, err := peer.DeleteVpcPeerConnection(del); err != nil {
		t.Fatalf("DeleteVpcPeerConnection: %v", err)
	}
	w.settle()
	for _, ns := range []string{vpcA, vpcB} {
		out, err := nsExec(ns, "ip", "-o", "link", "show")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(out, " pp") {
			t.Errorf("%s: a peering link is left after the peering was deleted:\n%s", ns, out)
		}
	}
}

// TestVpcPeeringAcrossAccountsSDK peers VPCs of two accounts through the
// official SDK: nothing crosses and no route may use the peering while it
// waits for the accepting account; once accepted and routed on both sides
// the accepter's security group decides; the accepter may delete it (with
// Force, which takes its routes), which isolates the VPCs again.
func TestVpcPeeringAcrossAccountsSDK(t *testing.T) {
	requireKernel(t)
	env := apitest.Start(t, apitest.WithBackend(app.BackendMemory), apitest.WithAgent(randTag(t)))
	bob := env.NewAccount(t, "bob")
	wa, wb := newWorld(t, env), newWorldAs(t, env, bob)
	vpcA, vpcB := wa.mustVPC("10.63.0.0/16"), wb.mustVPC("10.64.0.0/16")
	wa.mustGroup("ga", vpcA, "normal", "")
	wb.mustGroup("gb", vpcB, "normal", "")
	wb.authorize("gb", ruleSpec{proto: "tcp", ports: "8080/8080", peer: "10.63.0.0/16", policy: "accept", priority: 1})
	wa.run("a1", wa.mustVSwitch(vpcA, "10.63.1.0/24"), "10.63.1.10", "ga")
	wb.run("b1", wb.mustVSwitch(vpcB, "10.64.1.0/24"), "10.64.1.10", "gb")
	wa.waitRunning()
	wb.waitRunning()
	serveWho(t, wb.ids["b1"], "b1", 8080)
	serveWho(t, wb.ids["b1"], "b1", 9090)
	b1 := netip.MustParseAddr("10.64.1.10")
	reach := func(step string, port int, want bool) {
		t.Helper()
		var err error
		for range 5 {
			var name string
			name, _, err = dialWho(wa.ids["a1"], netip.AddrPortFrom(b1, uint16(port)), 500*time.Millisecond)
			if err == nil && name != "b1" {
				err = fmt.Errorf("answered by %s", name)
			}
			if (err == nil) == want {
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
		t.Errorf("%s: a1 -> b1:%d: %v, want a connection: %v", step, port, err, want)
	}
	tableOf := func(w *world, vpcID string) string {
		t.Helper()
		req := vpc.CreateDescribeRouteTableListRequest()
		req.VpcId = vpcID
		resp, err := w.vpc.DescribeRouteTableList(req)
		if err != nil || len(resp.RouterTableList.RouterTableListType) != 1 {
			t.Fatalf("DescribeRouteTableList %s: %v", vpcID, err)
		}
		return resp.RouterTableList.RouterTableListType[0].RouteTableId
	}
	route := func(w *world, vpcID, dst, pcc string) error {
		req := vpc.CreateCreateRouteEntryRequest()
		req.RouteTableId, req.DestinationCidrBlock, req.NextHopType, req.NextHopId = tableOf(w, vpcID), dst, "VpcPeer", pcc
		_, err := w.vpc.CreateRouteEntry(req)
		return err
	}

	cr := vpcpeer.CreateCreateVpcPeerConnectionRequest()
	cr.VpcId, cr.AcceptingVpcId, cr.AcceptingRegionId = vpcA, vpcB, apitest.Region
	cr.AcceptingAliUid = requests.Integer(bob.AccountID)
	created, err := env.VpcPeer(t, env.Admin).CreateVpcPeerConnection(cr)
	if err != nil {
		t.Fatalf("CreateVpcPeerConnection to bob's VPC: %v", err)
	}
	pcc := created.InstanceId
	if err := route(wa, vpcA, "10.64.0.0/16", pcc); err == nil || !strings.Contains(err.Error(), "IncorrectStatus.VpcPeer") {
		t.Fatalf("a route over a peering still Accepting: %v, want IncorrectStatus.VpcPeer", err)
	}
	acc := vpcpeer.CreateAcceptVpcPeerConnectionRequest()
	acc.InstanceId = pcc
	if _, err := env.VpcPeer(t, env.Admin).AcceptVpcPeerConnection(acc); err == nil || !strings.Contains(err.Error(), "OperationDenied.AcceptingAccount") {
		t.Fatalf("the requester accepting its own request: %v, want OperationDenied.AcceptingAccount", err)
	}
	if _, err := env.VpcPeer(t, bob).AcceptVpcPeerConnection(acc); err != nil {
		t.Fatalf("bob's AcceptVpcPeerConnection: %v", err)
	}
	if err := route(wa, vpcA, "10.64.0.0/16", pcc); err != nil {
		t.Fatalf("admin's route: %v", err)
	}
	wa.settle()
	reach("accepted, routed on the requester's side only", 8080, false)
	if err := route(wb, vpcB, "10.63.0.0/16", pcc); err != nil {
		t.Fatalf("bob's route: %v", err)
	}
	wa.settle()
	reach("accepted, routed on both sides", 8080, true)
	reach("bob's group does not open 9090", 9090, false)

	del := vpcpeer.CreateDeleteVpcPeerConnectionRequest()
	del.InstanceId, del.Force = pcc, requests.NewBoolean(true)
	if _, err := env.VpcPeer(t, bob).DeleteVpcPeerConnection(del); err != nil {
		t.Fatalf("bob's DeleteVpcPeerConnection with Force: %v", err)
	}
	wa.settle()
	reach("peering deleted by the accepter", 8080, false)
}
