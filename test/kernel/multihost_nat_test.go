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

	cg := vpc.CreateCreateNatGatewayRequest()
	cg.VpcId, cg.VSwitchId, cg.NatType = vpcID, vsw["local-a"], "Enhanced"
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
	sn.SnatTableId, sn.SourceVSwitchId, sn.SnatIp = gw.SnatTableIds.SnatTableId[0], vsw["local-b"], pub.String()
	snat, err := v.CreateSnatEntry(sn)
	if err != nil {
		t.Fatalf("CreateSnatEntry: %v", err)
	}
	fw := vpc.CreateCreateForwardEntryRequest()
	fw.ForwardTableId, fw.ExternalIp, fw.ExternalPort, fw.IpProtocol = gw.ForwardTableIds.ForwardTableId[0], pub.String(), "8081", "TCP"
	fw.InternalIp, fw.InternalPort = "10.61.2.51", "8080"
	if _, err := v.CreateForwardEntry(fw); err != nil {
		t.Fatalf("CreateForwardEntry: %v", err)
	}

	inet := serveWho(t, "", "internet", 0)
	u, err := net.Dial("udp4", netip.AddrPortFrom(pub, 9).String())
	if err != nil {
		t.Fatal(err)
	}
	inetAP := netip.AddrPortFrom(netip.MustParseAddrPort(u.LocalAddr().String()).Addr(), uint16(inet.port()))
	u.Close()
	analyzed := func(from, to string, port uint16) bool {
		out, err := env.Common(t, env.Admin, api.VersionPalisade, "AnalyzeReachability",
			map[string]string{"From": from, "To": to, "Protocol": "tcp", "Port": strconv.Itoa(int(port))})
		if err != nil {
			t.Fatalf("AnalyzeReachability: %v", err)
		}
		return out["Reachable"] == true
	}

	eventually("zone b's instance reaches the internet through zone a's NAT gateway", func() error {
		name, peer, err := dialWho(other.netns(client), inetAP, time.Second)
		if err != nil {
			return err
		}
		if host, _, _ := net.SplitHostPort(peer); name != "internet" || host != pub.String() {
			return fmt.Errorf("answered by %s, seen from %s: want the internet, seen from %v", name, peer, pub)
		}
		return nil
	})
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

	// Without the SNAT entry zone b's instance has no way out.
	ds := vpc.CreateDeleteSnatEntryRequest()
	ds.SnatTableId, ds.SnatEntryId = gw.SnatTableIds.SnatTableId[0], snat.SnatEntryId
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

	dg := vpc.CreateDeleteNatGatewayRequest()
	dg.NatGatewayId, dg.Force = gw.NatGatewayId, requests.NewBoolean(true)
	if _, err := v.DeleteNatGateway(dg); err != nil {
		t.Fatalf("DeleteNatGateway: %v", err)
	}
	rel := vpc.CreateReleaseEipAddressRequest()
	rel.AllocationId = eipID
	if _, err := v.ReleaseEipAddress(rel); err != nil {
		t.Fatalf("ReleaseEipAddress: %v", err)
	}
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
	cv := vpc.CreateCreateVpcRequest()
	cv.CidrBlock = "10.62.0.0/16"
	vr, err := v.CreateVpc(cv)
	if err != nil {
		t.Fatal(err)
	}
	vsw := map[string]string{}
	for i, zone := range []string{"local-a", "local-b"} {
		cw := vpc.CreateCreateVSwitchRequest()
		cw.VpcId, cw.CidrBlock, cw.ZoneId = vr.VpcId, fmt.Sprintf("10.62.%d.0/24", i+1), zone
		wr, err := v.CreateVSwitch(cw)
		if err != nil {
			t.Fatal(err)
		}
		vsw[zone] = wr.VSwitchId
	}
	sg := newGroup(t, e, vr.VpcId, true)
	r := ecs.CreateRunInstancesRequest()
	r.ImageId, r.InstanceType, r.VSwitchId, r.SecurityGroupId, r.PrivateIpAddress = "img", "t", vsw["local-b"], sg, "10.62.2.10"
	rr, err := e.RunInstances(r)
	if err != nil {
		t.Fatal(err)
	}
	client := rr.InstanceIdSets.InstanceIdSet[0]
	waitStatus(t, e, client, "Running")

	cg := vpc.CreateCreateNatGatewayRequest()
	cg.VpcId, cg.VSwitchId = vr.VpcId, vsw["local-a"]
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
	sn.SnatTableId, sn.SourceVSwitchId, sn.SnatIp = gw.SnatTableIds.SnatTableId[0], vsw["local-b"], pub.String()
	if _, err := v.CreateSnatEntry(sn); err != nil {
		t.Fatalf("CreateSnatEntry: %v", err)
	}
	inet := serveWho(t, "", "internet", 0)
	u, err := net.Dial("udp4", netip.AddrPortFrom(pub, 9).String())
	if err != nil {
		t.Fatal(err)
	}
	inetAP := netip.AddrPortFrom(netip.MustParseAddrPort(u.LocalAddr().String()).Addr(), uint16(inet.port()))
	u.Close()
	eventually("zone b's instance reaches the internet through a gateway alone in zone a", func() error {
		name, peer, err := dialWho(other.netns(client), inetAP, time.Second)
		if err != nil {
			return err
		}
		if host, _, _ := net.SplitHostPort(peer); name != "internet" || host != pub.String() {
			return fmt.Errorf("answered by %s, seen from %s: want the internet, seen from %v", name, peer, pub)
		}
		return nil
	})
	out, err := env.Common(t, acct, api.VersionPalisade, "AnalyzeReachability",
		map[string]string{"From": client, "To": inetAP.Addr().String(), "Protocol": "tcp", "Port": strconv.Itoa(int(inetAP.Port()))})
	if err != nil {
		t.Fatal(err)
	}
	if out["Reachable"] != true {
		t.Errorf("the analyzer says zone b's instance does not reach the internet through %s, unlike the kernel: %v", gw.NatGatewayId, out)
	}
	t.Logf("NAT gateway alone in its zone: %s (%v) serves zone b", gw.NatGatewayId, pub)

	dg := vpc.CreateDeleteNatGatewayRequest()
	dg.NatGatewayId, dg.Force = gw.NatGatewayId, requests.NewBoolean(true)
	if _, err := v.DeleteNatGateway(dg); err != nil {
		t.Fatalf("DeleteNatGateway: %v", err)
	}
	rel := vpc.CreateReleaseEipAddressRequest()
	rel.AllocationId = eipID
	if _, err := v.ReleaseEipAddress(rel); err != nil {
		t.Fatalf("ReleaseEipAddress: %v", err)
	}
	del := ecs.CreateDeleteInstanceRequest()
	del.InstanceId, del.Force = client, "true"
	if _, err := e.DeleteInstance(del); err != nil {
		t.Fatal(err)
	}
	eventually("this host drops the namespace it made for the gateway", func() error {
		if _, err := exec.Command("ip", "netns", "exec", vr.VpcId, "true").CombinedOutput(); err == nil {
			return fmt.Errorf("namespace %s still here", vr.VpcId)
		}
		return nil
	})
}
