package kernel_test

import (
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/cloudfw"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/vpc"

	"github.com/palisade-project/palisade/internal/api"
	"github.com/palisade-project/palisade/internal/apitest"
	"github.com/palisade-project/palisade/internal/probe"
)

// natAcrossHosts is a step of TestVPCAcrossHosts: a NAT gateway in zone a
// (this host, the root namespace playing the internet) translates for
// instances of zone b (the other host): an SNAT entry for zone b's
// vSwitch lets its instance reach the internet with the gateway's address,
// and a forward entry takes internet clients to a zone b instance, whose
// security group judges them with their own address. Both ways cross the
// overlay; the analyzer agrees. The gateway's host may send zone b
// packets from outside the VPC only: not from an address of its vSwitches
// that no ENI has. Without the SNAT entry nothing of zone b leaves.
func natAcrossHosts(t *testing.T, env *apitest.Env, other *otherHost, vpcID string, vsw map[string]string, eventually func(string, func() error)) {
	t.Helper()
	e, v := env.ECS(t, env.Admin), env.VPC(t, env.Admin)
	// ICMP from anywhere too: only the overlay may stop the spoofed ping
	// below.
	sg := newGroup(t, e, vpcID, true, ecs.AuthorizeSecurityGroupPermissions{IpProtocol: "tcp", PortRange: "8080/8080", SourceCidrIp: "0.0.0.0/0"},
		ecs.AuthorizeSecurityGroupPermissions{IpProtocol: "icmp", PortRange: "-1/-1", SourceCidrIp: "0.0.0.0/0"})
	run := func(addr string) string {
		r := ecs.CreateRunInstancesRequest()
		r.ImageId, r.InstanceType, r.VSwitchId, r.SecurityGroupId, r.PrivateIpAddress = "img", "t", vsw["local-b"], sg, addr
		rr, err := e.RunInstances(r)
		if err != nil {
			t.Fatal(err)
		}
		return rr.InstanceIdSets.InstanceIdSet[0]
	}
	client, server := run("10.61.2.50"), run("10.61.2.51")
	waitStatus(t, e, client, "Running")
	waitStatus(t, e, server, "Running")
	serveWho(t, other.netns(server), "server-b", 8080)

	gw, eipID, pub, snatID := snatGateway(t, v, vpcID, vsw["local-a"], vsw["local-b"])
	fw := vpc.CreateCreateForwardEntryRequest()
	fw.ForwardTableId, fw.ExternalIp, fw.ExternalPort, fw.IpProtocol = gw.ForwardTableIds.ForwardTableId[0], pub.String(), "8081", "TCP"
	fw.InternalIp, fw.InternalPort = "10.61.2.51", "8080"
	if _, err := v.CreateForwardEntry(fw); err != nil {
		t.Fatalf("CreateForwardEntry: %v", err)
	}

	inetAP := internetServer(t, pub)
	analyzed := func(from, to string, port uint16) bool {
		out, err := env.Common(t, env.Admin, api.VersionPalisade, "AnalyzeReachability",
			map[string]string{"From": from, "To": to, "Protocol": "tcp", "Port": strconv.Itoa(int(port))})
		if err != nil {
			t.Fatalf("AnalyzeReachability: %v", err)
		}
		return out["Reachable"] == true
	}

	eventually("zone b's instance reaches the internet through zone a's NAT gateway", leavesThrough(other.netns(client), inetAP, pub))
	eventually("the internet reaches zone b's instance through the gateway's forward entry", func() error {
		c, err := dialRoot(netip.AddrPortFrom(pub, 8081))
		if err != nil {
			return err
		}
		defer c.Close()
		name, peer, err := ask(c)
		if err != nil {
			return err
		}
		if name != "server-b" || peer != c.LocalAddr().String() {
			return fmt.Errorf("answered by %s, which sees the client as %s (want server-b, %s)", name, peer, c.LocalAddr())
		}
		return nil
	})
	// The gateway's tunnel end may send from outside the VPC, not from an
	// address of its vSwitches that no ENI has: this host's router pings
	// zone b's client from one, and nothing arrives.
	var icmpConn net.PacketConn
	if err := probe.InNetns(other.netns(client), func() error {
		var err error
		icmpConn, err = net.ListenPacket("ip4:icmp", "0.0.0.0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	const spoofed = "10.61.1.99"
	if out, err := exec.Command("ip", "netns", "exec", vpcID, "ip", "addr", "add", spoofed+"/32", "dev", "lo").CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	_ = exec.Command("ip", "netns", "exec", vpcID, "ping", "-n", "-c", "3", "-i", "0.2", "-W", "1", "-I", spoofed, "10.61.2.50").Run()
	if out, err := exec.Command("ip", "netns", "exec", vpcID, "ip", "addr", "del", spoofed+"/32", "dev", "lo").CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	_ = icmpConn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	buf := make([]byte, 1500)
	for {
		n, from, err := icmpConn.ReadFrom(buf)
		if err != nil {
			break
		}
		if from.String() == spoofed && n > 0 && buf[0] == 8 {
			t.Errorf("an echo request from the gateway host's router (%s, no ENI's address) came out of the tunnel to zone b", spoofed)
		}
	}
	icmpConn.Close()

	if !analyzed(client, inetAP.Addr().String(), inetAP.Port()) || !analyzed(inetAP.Addr().String(), pub.String(), 8081) {
		t.Errorf("the analyzer disagrees with the kernel: zone b -> internet %v, internet -> %v:8081 %v (both reach)",
			analyzed(client, inetAP.Addr().String(), inetAP.Port()), pub, analyzed(inetAP.Addr().String(), pub.String(), 8081))
	}

	// The gateway's NAT firewall judges zone b's connections on zone a's
	// host, where the gateway translates them, by their private source.
	cfw := env.Cloudfw(t, env.Admin)
	np := cloudfw.CreateCreateNatFirewallControlPolicyRequest()
	np.NatGatewayId, np.Direction, np.AclAction, np.Proto, np.NewOrder = gw.NatGatewayId, "out", "drop", "TCP", "1"
	np.Source, np.SourceType, np.Destination, np.DestinationType = "10.61.2.50/32", "net", "0.0.0.0/0", "net"
	np.DestPortType, np.DestPort, np.ApplicationNameList, np.Description = "port", "0/0", &[]string{"ANY"}, "zone b stays in"
	npr, err := cfw.CreateNatFirewallControlPolicy(np)
	if err != nil {
		t.Fatalf("CreateNatFirewallControlPolicy: %v", err)
	}
	eventually("the NAT firewall keeps zone b's instance in", func() error {
		if name, _, err := dialWho(other.netns(client), inetAP, 500*time.Millisecond); err == nil {
			return fmt.Errorf("still reaches the internet (%s)", name)
		}
		return nil
	})
	if analyzed(client, inetAP.Addr().String(), inetAP.Port()) {
		t.Error("the analyzer says zone b reaches the internet past the NAT firewall's drop, unlike the kernel")
	}
	dp := cloudfw.CreateDeleteNatFirewallControlPolicyRequest()
	dp.AclUuid, dp.NatGatewayId, dp.Direction = npr.AclUuid, gw.NatGatewayId, "out"
	if _, err := cfw.DeleteNatFirewallControlPolicy(dp); err != nil {
		t.Fatalf("DeleteNatFirewallControlPolicy: %v", err)
	}
	eventually("zone b's instance out again once the NAT firewall's policy is gone", leavesThrough(other.netns(client), inetAP, pub))

	// Without the SNAT entry zone b's instance has no way out.
	ds := vpc.CreateDeleteSnatEntryRequest()
	ds.SnatTableId, ds.SnatEntryId = gw.SnatTableIds.SnatTableId[0], snatID
	if _, err := v.DeleteSnatEntry(ds); err != nil {
		t.Fatalf("DeleteSnatEntry: %v", err)
	}
	eventually("zone b's instance cut off from the internet once the SNAT entry is gone", func() error {
		if name, _, err := dialWho(other.netns(client), inetAP, 500*time.Millisecond); err == nil {
			return fmt.Errorf("still reaches the internet (%s)", name)
		}
		return nil
	})
	if analyzed(client, inetAP.Addr().String(), inetAP.Port()) {
		t.Error("the analyzer says zone b reaches the internet without an SNAT entry, unlike the kernel")
	}
	t.Logf("NAT gateway across hosts: zone b through zone a's %s (%v)", gw.NatGatewayId, pub)

	deleteGateway(t, v, gw.NatGatewayId, eipID)
	for _, id := range []string{client, server} {
		del := ecs.CreateDeleteInstanceRequest()
		del.InstanceId, del.Force = id, "true"
		if _, err := e.DeleteInstance(del); err != nil {
			t.Fatal(err)
		}
	}
	natOnlyZone(t, env, other, eventually)
}

// natOnlyZone: a VPC whose zone a holds nothing but the NAT gateway (a
// vSwitch of its own, the usual layout) and whose instances are in zone
// b: this host makes a namespace of the VPC for the gateway, and zone b's
// instance reaches the internet through it.
func natOnlyZone(t *testing.T, env *apitest.Env, other *otherHost, eventually func(string, func() error)) {
	t.Helper()
	// An account of its own: the test's has used its quota of VPCs.
	acct := env.NewAccount(t, "nat-only-zone")
	e, v := env.ECS(t, acct), env.VPC(t, acct)
	vpcID, vsw := twoZoneVPC(t, v, "10.62")
	sg := newGroup(t, e, vpcID, true)
	r := ecs.CreateRunInstancesRequest()
	r.ImageId, r.InstanceType, r.VSwitchId, r.SecurityGroupId, r.PrivateIpAddress = "img", "t", vsw["local-b"], sg, "10.62.2.10"
	rr, err := e.RunInstances(r)
	if err != nil {
		t.Fatal(err)
	}
	client := rr.InstanceIdSets.InstanceIdSet[0]
	waitStatus(t, e, client, "Running")

	gw, eipID, pub, _ := snatGateway(t, v, vpcID, vsw["local-a"], vsw["local-b"])
	inetAP := internetServer(t, pub)
	eventually("zone b's instance reaches the internet through a gateway alone in zone a", leavesThrough(other.netns(client), inetAP, pub))
	out, err := env.Common(t, acct, api.VersionPalisade, "AnalyzeReachability",
		map[string]string{"From": client, "To": inetAP.Addr().String(), "Protocol": "tcp", "Port": strconv.Itoa(int(inetAP.Port()))})
	if err != nil {
		t.Fatal(err)
	}
	if out["Reachable"] != true {
		t.Errorf("the analyzer says zone b's instance does not reach the internet through %s, unlike the kernel: %v", gw.NatGatewayId, out)
	}
	t.Logf("NAT gateway alone in its zone: %s (%v) serves zone b", gw.NatGatewayId, pub)

	deleteGateway(t, v, gw.NatGatewayId, eipID)
	del := ecs.CreateDeleteInstanceRequest()
	del.InstanceId, del.Force = client, "true"
	if _, err := e.DeleteInstance(del); err != nil {
		t.Fatal(err)
	}
	eventually("this host drops the namespace it made for the gateway", func() error {
		if _, err := exec.Command("ip", "netns", "exec", vpcID, "true").CombinedOutput(); err == nil {
			return fmt.Errorf("namespace %s still here", vpcID)
		}
		return nil
	})
}

// snatGateway makes a NAT gateway in vSwitch gwVsw of vpcID with a new
// EIP and an SNAT entry for vSwitch srcVsw, and returns the gateway, the
// EIP's allocation ID and address, and the SNAT entry's ID.
func snatGateway(t *testing.T, v *vpc.Client, vpcID, gwVsw, srcVsw string) (*vpc.CreateNatGatewayResponse, string, netip.Addr, string) {
	t.Helper()
	cg := vpc.CreateCreateNatGatewayRequest()
	cg.VpcId, cg.VSwitchId, cg.NatType = vpcID, gwVsw, "Enhanced"
	gw, err := v.CreateNatGateway(cg)
	if err != nil {
		t.Fatalf("CreateNatGateway: %v", err)
	}
	eipID, pub := allocateEIP(t, v)
	as := vpc.CreateAssociateEipAddressRequest()
	as.AllocationId, as.InstanceId, as.InstanceType = eipID, gw.NatGatewayId, "Nat"
	if _, err := v.AssociateEipAddress(as); err != nil {
		t.Fatalf("associate %s with %s: %v", eipID, gw.NatGatewayId, err)
	}
	sn := vpc.CreateCreateSnatEntryRequest()
	sn.SnatTableId, sn.SourceVSwitchId, sn.SnatIp = gw.SnatTableIds.SnatTableId[0], srcVsw, pub.String()
	snat, err := v.CreateSnatEntry(sn)
	if err != nil {
		t.Fatalf("CreateSnatEntry: %v", err)
	}
	return gw, eipID, pub, snat.SnatEntryId
}

// internetServer serves who-is-it in the root namespace (the internet)
// and returns its address as an instance reaching it through pub sees it.
func internetServer(t *testing.T, pub netip.Addr) netip.AddrPort {
	t.Helper()
	inet := serveWho(t, "", "internet", 0)
	u, err := net.Dial("udp4", netip.AddrPortFrom(pub, 9).String())
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	return netip.AddrPortFrom(netip.MustParseAddrPort(u.LocalAddr().String()).Addr(), uint16(inet.port()))
}

// leavesThrough is a check for eventually: the instance in namespace ns
// reaches the internet server inet, which sees it come from pub.
func leavesThrough(ns string, inet netip.AddrPort, pub netip.Addr) func() error {
	return func() error {
		name, peer, err := dialWho(ns, inet, time.Second)
		if err != nil {
			return err
		}
		if host, _, _ := net.SplitHostPort(peer); name != "internet" || host != pub.String() {
			return fmt.Errorf("answered by %s, seen from %s: want the internet, seen from %v", name, peer, pub)
		}
		return nil
	}
}

// deleteGateway force-deletes a NAT gateway and releases its EIP.
func deleteGateway(t *testing.T, v *vpc.Client, gwID, eipID string) {
	t.Helper()
	dg := vpc.CreateDeleteNatGatewayRequest()
	dg.NatGatewayId, dg.Force = gwID, requests.NewBoolean(true)
	if _, err := v.DeleteNatGateway(dg); err != nil {
		t.Fatalf("DeleteNatGateway: %v", err)
	}
	rel := vpc.CreateReleaseEipAddressRequest()
	rel.AllocationId = eipID
	if _, err := v.ReleaseEipAddress(rel); err != nil {
		t.Fatalf("ReleaseEipAddress: %v", err)
	}
}

// twoZoneVPC makes a VPC of prefix.0.0/16 with a vSwitch prefix.1.0/24 in
// zone local-a (this host) and prefix.2.0/24 in local-b (the other), and
// returns its ID and the vSwitches by zone.
func twoZoneVPC(t *testing.T, v *vpc.Client, prefix string) (string, map[string]string) {
	t.Helper()
	cv := vpc.CreateCreateVpcRequest()
	cv.CidrBlock = prefix + ".0.0/16"
	vr, err := v.CreateVpc(cv)
	if err != nil {
		t.Fatal(err)
	}
	vsw := map[string]string{}
	for i, zone := range []string{"local-a", "local-b"} {
		cw := vpc.CreateCreateVSwitchRequest()
		cw.VpcId, cw.CidrBlock, cw.ZoneId = vr.VpcId, fmt.Sprintf("%s.%d.0/24", prefix, i+1), zone
		wr, err := v.CreateVSwitch(cw)
		if err != nil {
			t.Fatal(err)
		}
		vsw[zone] = wr.VSwitchId
	}
	return vr.VpcId, vsw
}
