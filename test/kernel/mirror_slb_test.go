package kernel_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/slb"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/vpc"

	"github.com/palisade-project/palisade/internal/apitest"
	"github.com/palisade-project/palisade/internal/app"
)

// TestTrafficMirrorToLoadBalancerSDK mirrors an ENI to an internal load
// balancer (TrafficMirrorTargetType SLB) through the official SDK: with
// no running UDP listener on 4789 nothing is mirrored; once it runs, the
// copies reach its two backends, all copies of one connection at one
// backend and the connections spread over both; a backend taken out of
// the load balancer gets no more copies.
func TestTrafficMirrorToLoadBalancerSDK(t *testing.T) {
	requireKernel(t)
	env := apitest.Start(t, apitest.WithBackend(app.BackendMemory), apitest.WithAgent(randTag(t)))
	w := newWorld(t, env)
	lbc := slbClient(t, env, env.Admin)
	vpcID := w.mustVPC("10.8.0.0/16")
	vsw := w.mustVSwitch(vpcID, "10.8.1.0/24")
	w.mustGroup("web", vpcID, "normal", "")
	w.authorize("web", ruleSpec{proto: "tcp", ports: "8080/8080", peer: "10.8.0.0/16", policy: "accept", priority: 1})
	w.mustGroup("ids", vpcID, "normal", "Drop") // admits nothing: copies are not judged by it
	srcENI, _, sink1, dst := mirrorTrio(t, w, vsw, vsw, "10.8.1.12", "ids")
	w.run("tgt2", vsw, "10.8.1.13", "ids")
	w.waitRunning()
	sink2 := listenVXLAN(t, w.ids["tgt2"])

	creq := slb.CreateCreateLoadBalancerRequest()
	creq.AddressType, creq.VSwitchId = "intranet", vsw
	cresp, err := lbc.CreateLoadBalancer(creq)
	if err != nil {
		t.Fatalf("CreateLoadBalancer: %v", err)
	}
	lbID := cresp.LoadBalancerId
	lreq := slb.CreateCreateLoadBalancerUDPListenerRequest()
	lreq.LoadBalancerId, lreq.ListenerPort, lreq.BackendServerPort, lreq.Bandwidth = lbID, requests.NewInteger(4789), requests.NewInteger(4789), requests.NewInteger(-1)
	lreq.HealthCheckSwitch = "off"
	if _, err := lbc.CreateLoadBalancerUDPListener(lreq); err != nil {
		t.Fatalf("CreateLoadBalancerUDPListener: %v", err)
	}
	servers, _ := json.Marshal([]map[string]string{{"ServerId": w.ids["tgt"]}, {"ServerId": w.ids["tgt2"]}})
	breq := slb.CreateAddBackendServersRequest()
	breq.LoadBalancerId, breq.BackendServers = lbID, string(servers)
	if _, err := lbc.AddBackendServers(breq); err != nil {
		t.Fatalf("AddBackendServers: %v", err)
	}

	freq := vpc.CreateCreateTrafficMirrorFilterRequest()
	freq.EgressRules = &[]vpc.CreateTrafficMirrorFilterEgressRules{{Action: "accept", Protocol: "TCP", Priority: "1",
		DestinationCidrBlock: "10.8.1.0/24", SourcePortRange: "-1/-1", DestinationPortRange: "8080/8080"}}
	fresp, err := w.vpc.CreateTrafficMirrorFilter(freq)
	if err != nil {
		t.Fatalf("CreateTrafficMirrorFilter: %v", err)
	}
	sreq := vpc.CreateCreateTrafficMirrorSessionRequest()
	sreq.TrafficMirrorFilterId, sreq.TrafficMirrorTargetId, sreq.TrafficMirrorTargetType = fresp.TrafficMirrorFilterId, lbID, "SLB"
	sreq.Priority, sreq.VirtualNetworkId, sreq.Enabled = requests.NewInteger(1), requests.NewInteger(779), requests.NewBoolean(true)
	sreq.TrafficMirrorSourceIds = &[]string{srcENI}
	if _, err := w.vpc.CreateTrafficMirrorSession(sreq); err != nil {
		t.Fatalf("CreateTrafficMirrorSession with an SLB target: %v", err)
	}
	dreq := slb.CreateDeleteLoadBalancerRequest()
	dreq.LoadBalancerId = lbID
	if _, err := lbc.DeleteLoadBalancer(dreq); err == nil {
		t.Fatal("a load balancer that is a mirror target was deleted")
	}
	w.settle()

	// connections opens one connection from each source port and returns,
	// per port, which backends got its copies.
	connections := func(ports []uint16) map[uint16]map[string]int {
		t.Helper()
		sink1.take()
		sink2.take()
		for _, sport := range ports {
			var err error
			for range 5 { // ARP
				if err = tcpProbe(w.ids["src"], sport, dst, time.Second); err == nil {
					break
				}
			}
			if err != nil {
				t.Fatalf("src -> peer:8080 from port %d: %v", sport, err)
			}
		}
		time.Sleep(300 * time.Millisecond)
		got := map[uint16]map[string]int{}
		for name, sink := range map[string]*vxlanSink{"tgt": sink1, "tgt2": sink2} {
			copies, bad := sink.take()
			if len(bad) > 0 {
				t.Errorf("malformed copies at %s: %v", name, bad)
			}
			for _, c := range copies {
				if c.vni != 779 || c.outerSrc != w.addr["src"] || c.dport != 8080 {
					t.Errorf("copy at %s: %v, want VNI 779 from src to 8080", name, c)
				}
				if got[c.sport] == nil {
					got[c.sport] = map[string]int{}
				}
				got[c.sport][name]++
			}
		}
		return got
	}
	ports := func(from uint16, n int) []uint16 {
		var out []uint16
		for i := range n {
			out = append(out, from+uint16(i))
		}
		return out
	}
	if got := connections(ports(43000, 3)); len(got) > 0 {
		t.Errorf("copies while the load balancer's UDP listener is stopped: %v", got)
	}
	start := slb.CreateStartLoadBalancerListenerRequest()
	start.LoadBalancerId, start.ListenerPort, start.ListenerProtocol = lbID, requests.NewInteger(4789), "udp"
	if _, err := lbc.StartLoadBalancerListener(start); err != nil {
		t.Fatalf("StartLoadBalancerListener: %v", err)
	}
	w.settle()
	got := connections(ports(43100, 24))
	per := map[string]int{}
	for sport, at := range got {
		if len(at) != 1 {
			t.Errorf("the copies of the connection from port %d went to %v, want one backend", sport, at)
		}
		for name := range at {
			per[name]++
		}
	}
	if len(got) != 24 || per["tgt"] == 0 || per["tgt2"] == 0 {
		t.Errorf("24 connections: copies of %d, by backend %v; want all, spread over both", len(got), per)
	}

	rm, _ := json.Marshal([]map[string]string{{"ServerId": w.ids["tgt2"]}})
	rreq := slb.CreateRemoveBackendServersRequest()
	rreq.LoadBalancerId, rreq.BackendServers = lbID, string(rm)
	if _, err := lbc.RemoveBackendServers(rreq); err != nil {
		t.Fatalf("RemoveBackendServers: %v", err)
	}
	w.settle()
	got = connections(ports(43200, 8))
	for sport, at := range got {
		if at["tgt2"] > 0 || at["tgt"] == 0 {
			t.Errorf("after tgt2 left the load balancer, the copies of port %d went to %v", sport, at)
		}
	}
	if len(got) != 8 {
		t.Errorf("after tgt2 left: copies of %d connections of 8", len(got))
	}
}
