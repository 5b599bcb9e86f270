package kernel_test

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/cloudfw"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/vpc"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/vpcpeer"

	"github.com/palisade-project/palisade/internal/api"
	"github.com/palisade-project/palisade/internal/apitest"
	"github.com/palisade-project/palisade/internal/app"
)

// mustVPC6 makes a VPC with IPv6 enabled and returns it with the IPv6
// block the system picked for it.
func (w *world) mustVPC6(cidr string) (string, netip.Prefix) {
	w.t.Helper()
	req := vpc.CreateCreateVpcRequest()
	req.CidrBlock, req.EnableIpv6 = cidr, requests.NewBoolean(true)
	resp, err := w.vpc.CreateVpc(req)
	if err != nil {
		w.t.Fatal(err)
	}
	d := vpc.CreateDescribeVpcsRequest()
	d.VpcId = resp.VpcId
	dr, err := w.vpc.DescribeVpcs(d)
	if err != nil || len(dr.Vpcs.Vpc) != 1 {
		w.t.Fatalf("DescribeVpcs %s: %v %+v", resp.VpcId, err, dr)
	}
	v6, err := netip.ParsePrefix(dr.Vpcs.Vpc[0].Ipv6CidrBlock)
	if err != nil {
		w.t.Fatalf("VPC %s has no IPv6 block: %v", resp.VpcId, err)
	}
	return resp.VpcId, v6
}

// mustVSwitch6 makes a vSwitch with the IPv6 /64 number index of its
// VPC's block and returns it with that /64.
func (w *world) mustVSwitch6(vpcID, cidr string, index int) (string, netip.Prefix) {
	w.t.Helper()
	req := vpc.CreateCreateVSwitchRequest()
	req.VpcId, req.CidrBlock, req.ZoneId, req.Ipv6CidrBlock = vpcID, cidr, "local-a", requests.NewInteger(index)
	resp, err := w.vpc.CreateVSwitch(req)
	if err != nil {
		w.t.Fatal(err)
	}
	d := vpc.CreateDescribeVSwitchesRequest()
	d.VSwitchId = resp.VSwitchId
	dr, err := w.vpc.DescribeVSwitches(d)
	if err != nil || len(dr.VSwitches.VSwitch) != 1 {
		w.t.Fatalf("DescribeVSwitches %s: %v", resp.VSwitchId, err)
	}
	v6, err := netip.ParsePrefix(dr.VSwitches.VSwitch[0].Ipv6CidrBlock)
	if err != nil {
		w.t.Fatalf("vSwitch %s has no IPv6 block: %v", resp.VSwitchId, err)
	}
	return resp.VSwitchId, v6
}

// run6 runs an instance with one IPv6 address (the system's pick) and
// returns that address.
func (w *world) run6(name, vswID, ip string, groups ...string) netip.Addr {
	w.t.Helper()
	req := ecs.CreateRunInstancesRequest()
	req.ImageId, req.InstanceType, req.VSwitchId, req.PrivateIpAddress, req.InstanceName = "palisade", "ecs.t6", vswID, ip, name
	req.Ipv6AddressCount = requests.NewInteger(1)
	var ids []string
	for _, g := range groups {
		ids = append(ids, w.sgs[g])
	}
	req.SecurityGroupIds = &ids
	resp, err := w.ecs.RunInstances(req)
	if err != nil {
		w.t.Fatalf("RunInstances %s: %v", name, err)
	}
	id := resp.InstanceIdSets.InstanceIdSet[0]
	w.ids[name] = id
	w.addr[name] = netip.MustParseAddr(ip)
	d := ecs.CreateDescribeNetworkInterfacesRequest()
	d.InstanceId = id
	dr, err := w.ecs.DescribeNetworkInterfaces(d)
	if err != nil || len(dr.NetworkInterfaceSets.NetworkInterfaceSet) != 1 || len(dr.NetworkInterfaceSets.NetworkInterfaceSet[0].Ipv6Sets.Ipv6Set) != 1 {
		w.t.Fatalf("DescribeNetworkInterfaces of %s: %v %+v", name, err, dr)
	}
	return netip.MustParseAddr(dr.NetworkInterfaceSets.NetworkInterfaceSet[0].Ipv6Sets.Ipv6Set[0].Ipv6Address)
}

// authorize6 opens TCP ports of a group to an IPv6 source block.
func (w *world) authorize6(group, ports string, src netip.Prefix) {
	w.t.Helper()
	req := ecs.CreateAuthorizeSecurityGroupRequest()
	req.SecurityGroupId = w.sgs[group]
	req.Permissions = &[]ecs.AuthorizeSecurityGroupPermissions{{IpProtocol: "tcp", PortRange: ports, Ipv6SourceCidrIp: src.String(),
		Policy: "accept", Priority: "1"}}
	if _, err := w.ecs.AuthorizeSecurityGroup(req); err != nil {
		w.t.Fatalf("AuthorizeSecurityGroup %s %s from %s: %v", group, ports, src, err)
	}
}

// routeTableOf is the ID of a VPC's route table.
func (w *world) routeTableOf(vpcID string) string {
	w.t.Helper()
	req := vpc.CreateDescribeRouteTableListRequest()
	req.VpcId = vpcID
	resp, err := w.vpc.DescribeRouteTableList(req)
	if err != nil || len(resp.RouterTableList.RouterTableListType) != 1 {
		w.t.Fatalf("DescribeRouteTableList %s: %v", vpcID, err)
	}
	return resp.RouterTableList.RouterTableListType[0].RouteTableId
}

// addRoute sends dst over peering pcc in vpcID's table.
func (w *world) addRoute(vpcID, dst, pcc string) (string, error) {
	req := vpc.CreateCreateRouteEntryRequest()
	req.RouteTableId, req.DestinationCidrBlock, req.NextHopType, req.NextHopId = w.routeTableOf(vpcID), dst, "VpcPeer", pcc
	resp, err := w.vpc.CreateRouteEntry(req)
	if err != nil {
		return "", err
	}
	return resp.RouteEntryId, nil
}

// peerVPCs creates an activated peering "a-b" from vpcA to vpcB (one
// account: no acceptance) with the admin's key, and returns its client,
// ID and attributes as GetVpcPeerConnectionAttribute reports them.
func peerVPCs(t *testing.T, env *apitest.Env, vpcA, vpcB string) (*vpcpeer.Client, string, *vpcpeer.GetVpcPeerConnectionAttributeResponse) {
	t.Helper()
	peer := env.VpcPeer(t, env.Admin)
	cr := vpcpeer.CreateCreateVpcPeerConnectionRequest()
	cr.VpcId, cr.AcceptingVpcId, cr.AcceptingRegionId, cr.Name = vpcA, vpcB, apitest.Region, "a-b"
	created, err := peer.CreateVpcPeerConnection(cr)
	if err != nil {
		t.Fatalf("CreateVpcPeerConnection: %v", err)
	}
	get := vpcpeer.CreateGetVpcPeerConnectionAttributeRequest()
	get.InstanceId = created.InstanceId
	attr, err := peer.GetVpcPeerConnectionAttribute(get)
	if err != nil {
		t.Fatalf("GetVpcPeerConnectionAttribute: %v", err)
	}
	return peer, created.InstanceId, attr
}

// vpcFirewall creates the VPC firewall "a-b" of the peering between vpcA
// and vpcB, switched sw ("opened" or "closed"), and returns its client
// and ID.
func vpcFirewall(t *testing.T, env *apitest.Env, vpcA, vpcB, sw string) (*cloudfw.Client, string) {
	t.Helper()
	fw := env.Cloudfw(t, env.Admin)
	fcr := cloudfw.CreateCreateVpcFirewallConfigureRequest()
	fcr.VpcFirewallName, fcr.LocalVpcId, fcr.PeerVpcId, fcr.FirewallSwitch = "a-b", vpcA, vpcB, sw
	fresp, err := fw.CreateVpcFirewallConfigure(fcr)
	if err != nil {
		t.Fatalf("CreateVpcFirewallConfigure: %v", err)
	}
	return fw, fresp.VpcFirewallId
}

// dropAllIPv4 gives VPC firewall fwID one policy, first, that drops every
// IPv4 connection.
func dropAllIPv4(t *testing.T, fw *cloudfw.Client, fwID string) {
	t.Helper()
	pol := cloudfw.CreateCreateVpcFirewallControlPolicyRequest()
	pol.VpcFirewallId, pol.AclAction, pol.Proto, pol.NewOrder = fwID, "drop", "ANY", "1"
	pol.Source, pol.SourceType, pol.Destination, pol.DestinationType = "0.0.0.0/0", "net", "0.0.0.0/0", "net"
	pol.ApplicationName, pol.Description = "ANY", "drop all IPv4"
	if _, err := fw.CreateVpcFirewallControlPolicy(pol); err != nil {
		t.Fatalf("CreateVpcFirewallControlPolicy: %v", err)
	}
}

// TestVpcPeeringIPv6SDK drives IPv6 over a VPC peering through the
// official SDK between two VPCs with IPv6, with real TCP connections
// checked against the analyzer at every step: IPv4 route entries carry no
// IPv6; an IPv6 route on one side only gets no answer; on both sides
// IPv6 connects where the security group's IPv6 rules open the port; a
// VPC firewall's IPv4 policies drop IPv4 but do not touch IPv6; the route
// table lists the IPv6 entries (system and custom) with IpVersion; the
// API refuses IPv6 in a VPC without IPv6, overlaps and duplicates;
// deleting the route back by its IPv6 destination cuts IPv6 again, and
// deleting the peering leaves no IPv6 route behind.
func TestVpcPeeringIPv6SDK(t *testing.T) {
	requireKernel(t)
	env := apitest.Start(t, apitest.WithBackend(app.BackendMemory), apitest.WithAgent(randTag(t)))
	w := newWorld(t, env)
	vpcA, vpcA6 := w.mustVPC6("10.65.0.0/16")
	vpcB, vpcB6 := w.mustVPC6("10.66.0.0/16")
	vpcC := w.mustVPC("10.67.0.0/16") // no IPv6
	vswA, vswA6 := w.mustVSwitch6(vpcA, "10.65.1.0/24", 1)
	vswB, vswB6 := w.mustVSwitch6(vpcB, "10.66.1.0/24", 1)
	w.mustGroup("ga", vpcA, "normal", "")
	w.mustGroup("gb", vpcB, "normal", "")
	w.authorize("gb", ruleSpec{proto: "tcp", ports: "8080/8081", peer: "10.65.0.0/16", policy: "accept", priority: 1})
	w.authorize6("gb", "8080/8081", vpcA6)
	w.run6("a1", vswA, "10.65.1.10", "ga")
	b1v6 := w.run6("b1", vswB, "10.66.1.10", "gb")
	w.waitRunning()
	if !vswA6.Contains(b1v6) && !vswB6.Contains(b1v6) {
		t.Fatalf("b1's IPv6 address %s is in no vSwitch block", b1v6)
	}
	for _, port := range []int{8080, 8081, 9090} { // 9090: no group rule opens it
		serveWho(t, w.ids["b1"], "b1", port)
		serveWho6(t, w.ids["b1"], "b1", port)
	}
	reachTo := func(step string, dst netip.Addr, port int, want bool) {
		t.Helper()
		out, err := env.Common(t, env.Admin, api.VersionPalisade, "AnalyzeReachability",
			map[string]string{"From": w.ids["a1"], "To": dst.String(), "Protocol": "tcp", "Port": fmt.Sprint(port)})
		if err != nil {
			t.Fatalf("%s: AnalyzeReachability: %v", step, err)
		}
		if verdict := out["Verdict"]; (verdict == "reachable") != want {
			t.Errorf("%s: the analyzer says %v for a1 -> [%s]:%d, want reachable=%v", step, verdict, dst, port, want)
		}
		for range 5 { // the agent may still be applying the last change
			var name string
			name, _, err = dialWho(w.ids["a1"], netip.AddrPortFrom(dst, uint16(port)), 500*time.Millisecond)
			if err == nil && name != "b1" {
				err = fmt.Errorf("answered by %s", name)
			}
			if (err == nil) == want {
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
		if want {
			t.Errorf("%s: a1 -> [%s]:%d: %v, want a connection", step, dst, port, err)
		} else {
			t.Errorf("%s: a1 -> [%s]:%d connected, want no connection", step, dst, port)
		}
	}
	b1v4 := w.addr["b1"]
	reach6 := func(step string, port int, want bool) { t.Helper(); reachTo(step, b1v6, port, want) }
	reach6("no peering", 8080, false)

	peer, pcc, attr := peerVPCs(t, env, vpcA, vpcB)
	if strings.Join(attr.Vpc.Ipv6Cidrs, ",") != vpcA6.String() || strings.Join(attr.AcceptingVpc.Ipv6Cidrs, ",") != vpcB6.String() {
		t.Fatalf("GetVpcPeerConnectionAttribute: Ipv6Cidrs %v and %v, want %s and %s", attr.Vpc.Ipv6Cidrs, attr.AcceptingVpc.Ipv6Cidrs, vpcA6, vpcB6)
	}
	w.settle()
	reach6("peering without routes", 8080, false)

	// Refusals, before any route: nothing half-done after them.
	for _, c := range []struct{ vpc, dst, code string }{
		{vpcC, "fd00:1::/64", "OperationFailed.VpcNotEnabledIpv6"},
		{vpcA, vpcA6.String(), "InvalidCidrBlock.Overlapped"},
		{vpcA, "::/0", "InvalidCidrBlock.Overlapped"},
		{vpcA, netip.PrefixFrom(vpcB6.Addr().Next(), 56).String(), "InvalidDestinationCidrBlock.Malformed"},
		{vpcA, "fe80::/64", "InvalidDestinationCidrBlock.Malformed"},
	} {
		if _, err := w.addRoute(c.vpc, c.dst, pcc); err == nil || !strings.Contains(err.Error(), c.code) {
			t.Errorf("CreateRouteEntry %s in %s: %v, want %s", c.dst, c.vpc, err, c.code)
		}
	}

	// IPv4 routes both ways carry IPv4 only.
	for _, r := range [][2]string{{vpcA, "10.66.0.0/16"}, {vpcB, "10.65.1.0/24"}} {
		if _, err := w.addRoute(r[0], r[1], pcc); err != nil {
			t.Fatalf("CreateRouteEntry %s in %s: %v", r[1], r[0], err)
		}
	}
	w.settle()
	reachTo("IPv4 routes both ways: IPv4", b1v4, 8080, true)
	reach6("IPv4 routes both ways: IPv6", 8080, false)

	if _, err := w.addRoute(vpcA, vpcB6.String(), pcc); err != nil {
		t.Fatalf("CreateRouteEntry %s in %s: %v", vpcB6, vpcA, err)
	}
	w.settle()
	reach6("an IPv6 route on A's side only", 8080, false)
	// The route back covers a1's vSwitch only, spelled in upper case.
	if _, err := w.addRoute(vpcB, strings.ToUpper(vswA6.String()), pcc); err != nil {
		t.Fatalf("CreateRouteEntry %s in %s: %v", vswA6, vpcB, err)
	}
	if _, err := w.addRoute(vpcB, vswA6.String(), pcc); err == nil || !strings.Contains(err.Error(), "InvalidCIDRBlock.Duplicate") {
		t.Errorf("the same IPv6 route spelled otherwise: %v, want InvalidCIDRBlock.Duplicate", err)
	}
	w.settle()
	reach6("IPv6 routes both ways", 8080, true)
	reach6("IPv6 routes both ways, a port B's group does not open", 9090, false)

	// The table: IpVersion on every entry, and the filter.
	le := vpc.CreateDescribeRouteEntryListRequest()
	le.RouteTableId, le.IpVersion = w.routeTableOf(vpcA), "IPv6"
	entries, err := w.vpc.DescribeRouteEntryList(le)
	if err != nil {
		t.Fatalf("DescribeRouteEntryList: %v", err)
	}
	var got []string
	for _, e := range entries.RouteEntrys.RouteEntry {
		got = append(got, e.Type+" "+e.DestinationCidrBlock+" "+e.NextHopType+" "+e.IpVersion)
	}
	want := []string{"System " + vswA6.String() + " local IPv6", "Custom " + vpcB6.String() + " VpcPeer IPv6"}
	if strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Errorf("A's IPv6 entries: %q, want %q", got, want)
	}

	// A VPC firewall dropping everything, as its IPv4 policies can say it.
	fw, fwID := vpcFirewall(t, env, vpcA, vpcB, "opened")
	dropAllIPv4(t, fw, fwID)
	w.settle()
	reachTo("VPC firewall drops all IPv4: IPv4", b1v4, 8080, false)
	reach6("VPC firewall drops all IPv4: IPv6 meets no policy", 8080, true)
	fdel := cloudfw.CreateDeleteVpcFirewallConfigureRequest()
	fdel.VpcFirewallIdList = &[]string{fwID}
	if _, err := fw.DeleteVpcFirewallConfigure(fdel); err != nil {
		t.Fatalf("DeleteVpcFirewallConfigure: %v", err)
	}

	// The route back deleted by its destination: IPv6 has no way back.
	del := vpc.CreateDeleteRouteEntryRequest()
	del.RouteTableId, del.DestinationCidrBlock = w.routeTableOf(vpcB), vswA6.String()
	if _, err := w.vpc.DeleteRouteEntry(del); err != nil {
		t.Fatalf("DeleteRouteEntry %s: %v", vswA6, err)
	}
	w.settle()
	reach6("IPv6 route back deleted", 8081, false)
	reachTo("IPv6 route back deleted: IPv4 still crosses", b1v4, 8081, true)

	pd := vpcpeer.CreateDeleteVpcPeerConnectionRequest()
	pd.InstanceId, pd.Force = pcc, requests.NewBoolean(true)
	if _, err := peer.DeleteVpcPeerConnection(pd); err != nil {
		t.Fatalf("DeleteVpcPeerConnection with Force: %v", err)
	}
	w.settle()
	reach6("peering deleted", 8081, false)
	for _, ns := range []string{vpcA, vpcB} {
		if out, err := nsExec(ns, "ip", "-6", "route", "show", "proto", "156"); err != nil || strings.TrimSpace(out) != "" {
			t.Errorf("%s: IPv6 peering routes left after the peering was deleted: %q %v", ns, out, err)
		}
		if out, err := nsExec(ns, "ip", "-o", "link", "show"); err != nil || strings.Contains(out, " pp") {
			t.Errorf("%s: a peering link is left after the peering was deleted (%v):\n%s", ns, err, out)
		}
	}
}
