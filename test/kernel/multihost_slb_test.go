package kernel_test

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/slb"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/vpc"

	"github.com/palisade-project/palisade/internal/apitest"
)

// loadBalancerAcrossHosts is a step of TestVPCAcrossHosts: in its VPC
// (10.61.0.0/16, a vSwitch per zone, vsw), a load balancer of each zone with a backend of
// its zone, and a client of the other zone. Each client reaches the other
// host's load balancer through the overlay and lands on its backend, which
// sees the client's address; each zone's agent checks its own backends and
// reports their health (the other host's through its store mirror). A
// backend whose server stops is found abnormal by the other host's agent
// and the listener then answers nothing. A traffic mirror session of zone
// a's client targets zone b's load balancer: the copies reach its backend
// through the relay.
func loadBalancerAcrossHosts(t *testing.T, env *apitest.Env, other *otherHost, vpcID string, vsw map[string]string, eventually func(string, func() error)) {
	t.Helper()
	e, lbc := env.ECS(t, env.Admin), slbClient(t, env, env.Admin)
	// A group of its own; 8080 from the VPC.
	sg := newGroup(t, e, vpcID, true, ecs.AuthorizeSecurityGroupPermissions{IpProtocol: "tcp", PortRange: "8080/8080", SourceCidrIp: "10.61.0.0/16"})
	type side struct {
		zone, vsw            string
		backend, client      string
		beAddr, cliAddr, vip netip.Addr
		lb                   string
		srv                  *whoServer
	}
	here := func(name string) string { return name }
	sides := []*side{{zone: "local-a"}, {zone: "local-b"}}
	for i, s := range sides {
		s.vsw = vsw[s.zone]
		s.beAddr, s.cliAddr, s.vip = netip.MustParseAddr(fmt.Sprintf("10.61.%d.30", i+1)), netip.MustParseAddr(fmt.Sprintf("10.61.%d.40", i+1)), netip.MustParseAddr(fmt.Sprintf("10.61.%d.100", i+1))
	}
	runIn := func(s *side, addr netip.Addr) string {
		ri := ecs.CreateRunInstancesRequest()
		ri.ImageId, ri.InstanceType, ri.VSwitchId, ri.SecurityGroupId, ri.PrivateIpAddress = "img", "t", s.vsw, sg, addr.String()
		rr, err := e.RunInstances(ri)
		if err != nil {
			t.Fatal(err)
		}
		return rr.InstanceIdSets.InstanceIdSet[0]
	}
	nsOf := map[string]func(string) string{"local-a": here, "local-b": other.netns}
	for _, s := range sides {
		s.backend, s.client = runIn(s, s.beAddr), runIn(s, s.cliAddr)
	}
	for _, s := range sides {
		waitStatus(t, e, s.backend, "Running")
		waitStatus(t, e, s.client, "Running")
		s.srv = serveWho(t, nsOf[s.zone](s.backend), "backend-"+s.zone, 8080)

		creq := slb.CreateCreateLoadBalancerRequest()
		creq.AddressType, creq.VSwitchId, creq.Address = "intranet", s.vsw, s.vip.String()
		cresp, err := lbc.CreateLoadBalancer(creq)
		if err != nil {
			t.Fatalf("CreateLoadBalancer in %s: %v", s.zone, err)
		}
		s.lb = cresp.LoadBalancerId
		lreq := slb.CreateCreateLoadBalancerTCPListenerRequest()
		lreq.LoadBalancerId, lreq.ListenerPort, lreq.BackendServerPort = s.lb, requests.NewInteger(80), requests.NewInteger(8080)
		lreq.Bandwidth, lreq.HealthCheckInterval, lreq.HealthCheckConnectTimeout = requests.NewInteger(-1), requests.NewInteger(1), requests.NewInteger(1)
		lreq.HealthyThreshold, lreq.UnhealthyThreshold = requests.NewInteger(2), requests.NewInteger(2)
		if _, err := lbc.CreateLoadBalancerTCPListener(lreq); err != nil {
			t.Fatalf("CreateLoadBalancerTCPListener: %v", err)
		}
		servers, _ := json.Marshal([]map[string]string{{"ServerId": s.backend, "Weight": "100"}})
		breq := slb.CreateAddBackendServersRequest()
		breq.LoadBalancerId, breq.BackendServers = s.lb, string(servers)
		if _, err := lbc.AddBackendServers(breq); err != nil {
			t.Fatalf("AddBackendServers: %v", err)
		}
		sreq := slb.CreateStartLoadBalancerListenerRequest()
		sreq.LoadBalancerId, sreq.ListenerPort = s.lb, requests.NewInteger(80)
		if _, err := lbc.StartLoadBalancerListener(sreq); err != nil {
			t.Fatalf("StartLoadBalancerListener: %v", err)
		}
	}
	health := func(s *side) string {
		req := slb.CreateDescribeHealthStatusRequest()
		req.LoadBalancerId, req.ListenerPort = s.lb, requests.NewInteger(80)
		resp, err := lbc.DescribeHealthStatus(req)
		if err != nil || len(resp.BackendServers.BackendServer) != 1 {
			return fmt.Sprintf("%v %+v", err, resp)
		}
		return resp.BackendServers.BackendServer[0].ServerHealthStatus
	}
	for i, s := range sides {
		otherSide := sides[1-i]
		// The client of the other zone, on the other host.
		cliNS := nsOf[otherSide.zone](otherSide.client)
		eventually(s.zone+"'s backend normal (its own agent's report)", func() error {
			if h := health(s); h != "normal" {
				return fmt.Errorf("health %s", h)
			}
			return nil
		})
		eventually("a client of "+otherSide.zone+" reaches "+s.zone+"'s load balancer across hosts", func() error {
			name, peer, err := dialWho(cliNS, netip.AddrPortFrom(s.vip, 80), 500*time.Millisecond)
			if err != nil {
				return err
			}
			if name != "backend-"+s.zone || !strings.HasPrefix(peer, otherSide.cliAddr.String()+":") {
				return fmt.Errorf("answered by %q seeing %q, want %s's backend seeing the client %s", name, peer, s.zone, otherSide.cliAddr)
			}
			return nil
		})
		// And the client of its own zone, on its own host.
		if name, _, err := dialWho(nsOf[s.zone](s.client), netip.AddrPortFrom(s.vip, 80), time.Second); err != nil || name != "backend-"+s.zone {
			t.Errorf("%s's own client to its load balancer: %q %v", s.zone, name, err)
		}
	}
	// Mirroring to the other host's load balancer: zone a's client (this
	// host) is the source, zone b's load balancer the target; its UDP
	// listener on 4789 has zone b's backend, where the copies arrive
	// through the relay.
	a0, b1 := sides[0], sides[1]
	sink := listenVXLAN(t, nsOf[b1.zone](b1.backend))
	ul := slb.CreateCreateLoadBalancerUDPListenerRequest()
	ul.LoadBalancerId, ul.ListenerPort, ul.BackendServerPort, ul.Bandwidth, ul.HealthCheckSwitch = b1.lb, requests.NewInteger(4789), requests.NewInteger(4789), requests.NewInteger(-1), "off"
	if _, err := lbc.CreateLoadBalancerUDPListener(ul); err != nil {
		t.Fatalf("CreateLoadBalancerUDPListener: %v", err)
	}
	us := slb.CreateStartLoadBalancerListenerRequest()
	us.LoadBalancerId, us.ListenerPort, us.ListenerProtocol = b1.lb, requests.NewInteger(4789), "udp"
	if _, err := lbc.StartLoadBalancerListener(us); err != nil {
		t.Fatalf("StartLoadBalancerListener udp/4789: %v", err)
	}
	di := ecs.CreateDescribeNetworkInterfacesRequest()
	di.InstanceId = a0.client
	dr, err := e.DescribeNetworkInterfaces(di)
	if err != nil || len(dr.NetworkInterfaceSets.NetworkInterfaceSet) != 1 {
		t.Fatalf("DescribeNetworkInterfaces of %s: %v", a0.client, err)
	}
	v := env.VPC(t, env.Admin)
	fr := vpc.CreateCreateTrafficMirrorFilterRequest()
	fr.EgressRules = &[]vpc.CreateTrafficMirrorFilterEgressRules{{Action: "accept", Protocol: "TCP", Priority: "1",
		DestinationCidrBlock: "0.0.0.0/0", SourceCidrBlock: "0.0.0.0/0", SourcePortRange: "-1/-1", DestinationPortRange: "-1/-1"}}
	fresp, err := v.CreateTrafficMirrorFilter(fr)
	if err != nil {
		t.Fatalf("CreateTrafficMirrorFilter: %v", err)
	}
	sr := vpc.CreateCreateTrafficMirrorSessionRequest()
	sr.TrafficMirrorFilterId, sr.TrafficMirrorTargetId, sr.TrafficMirrorTargetType = fresp.TrafficMirrorFilterId, b1.lb, "SLB"
	sr.Priority, sr.VirtualNetworkId, sr.Enabled = requests.NewInteger(911), requests.NewInteger(911), requests.NewBoolean(true)
	sr.TrafficMirrorSourceIds = &[]string{dr.NetworkInterfaceSets.NetworkInterfaceSet[0].NetworkInterfaceId}
	sresp, err := v.CreateTrafficMirrorSession(sr)
	if err != nil {
		t.Fatalf("CreateTrafficMirrorSession to the other host's load balancer: %v", err)
	}
	eventually("copies of zone a's client reach zone b's load balancer's backend across hosts", func() error {
		sink.take()
		if _, _, err := dialWho(a0.client, netip.AddrPortFrom(b1.vip, 80), 500*time.Millisecond); err != nil {
			return err
		}
		time.Sleep(200 * time.Millisecond)
		copies, bad := sink.take()
		if len(bad) > 0 {
			return fmt.Errorf("malformed copies: %v", bad)
		}
		if len(copies) == 0 {
			return fmt.Errorf("no copies")
		}
		for _, c := range copies {
			if c.vni != 911 || c.outerSrc != a0.cliAddr || c.src != a0.cliAddr || c.dst != b1.vip || c.dport != 80 {
				return fmt.Errorf("copy %v: want VNI 911, from %s to %s:80", c, a0.cliAddr, b1.vip)
			}
		}
		return nil
	})
	ds := vpc.CreateDeleteTrafficMirrorSessionRequest()
	ds.TrafficMirrorSessionId = sresp.TrafficMirrorSessionId
	if _, err := v.DeleteTrafficMirrorSession(ds); err != nil {
		t.Fatalf("DeleteTrafficMirrorSession: %v", err)
	}
	df := vpc.CreateDeleteTrafficMirrorFilterRequest()
	df.TrafficMirrorFilterId = fresp.TrafficMirrorFilterId
	if _, err := v.DeleteTrafficMirrorFilter(df); err != nil {
		t.Fatalf("DeleteTrafficMirrorFilter: %v", err)
	}

	// The other host's backend stops serving: its agent finds it abnormal,
	// reports it through its mirror, and the listener answers nothing.
	b := sides[1]
	b.srv.ln.Close()
	eventually("the other host's backend reported abnormal", func() error {
		if h := health(b); h != "abnormal" {
			return fmt.Errorf("health %s", h)
		}
		return nil
	})
	eventually("the listener without a healthy backend drops", func() error {
		if _, _, err := dialWho(sides[0].client, netip.AddrPortFrom(b.vip, 80), 500*time.Millisecond); err == nil {
			return fmt.Errorf("still answered")
		}
		return nil
	})
	t.Logf("load balancers across hosts: each zone's reached from the other's client, health reported by both agents")

	for _, s := range sides {
		d := slb.CreateDeleteLoadBalancerRequest()
		d.LoadBalancerId = s.lb
		if _, err := lbc.DeleteLoadBalancer(d); err != nil {
			t.Fatalf("DeleteLoadBalancer: %v", err)
		}
		for _, id := range []string{s.backend, s.client} {
			del := ecs.CreateDeleteInstanceRequest()
			del.InstanceId, del.Force = id, "true"
			if _, err := e.DeleteInstance(del); err != nil {
				t.Fatal(err)
			}
		}
	}
}
