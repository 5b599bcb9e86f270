package kernel_test

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/privatelink"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/slb"

	"github.com/palisade-project/palisade/internal/apitest"
	"github.com/palisade-project/palisade/internal/app"
	"github.com/palisade-project/palisade/internal/probe"
)

// TestPrivateLinkLoadBalancerSDK: an endpoint service backed by an
// internal load balancer (ServiceResourceType slb), through the official
// SDKs, in VPCs with the same CIDR: a connection to the endpoint's port 80
// reaches the load balancer's listener on 80 and lands on its backends'
// port 8080, spread over both, which see a transit address; port 81 (no
// listener) is dropped; a backend whose server stops is taken out by the
// health check; the listener stopped, nothing crosses.
func TestPrivateLinkLoadBalancerSDK(t *testing.T) {
	requireKernel(t)
	env := apitest.Start(t, apitest.WithBackend(app.BackendMemory), apitest.WithAgent(randTag(t)))
	w := newWorld(t, env)
	lbc := slbClient(t, env, env.Admin)
	pvpc := w.mustVPC("10.6.0.0/16")
	pvsw := w.mustVSwitch(pvpc, "10.6.1.0/24")
	w.mustGroup("svc", pvpc, "normal", "drop")
	w.authorize("svc", ruleSpec{proto: "tcp", ports: "8080/8080", peer: "100.64.0.0/10", policy: "accept", priority: 1})
	w.authorize("svc", ruleSpec{proto: "tcp", ports: "80/81", peer: "100.64.0.0/10", policy: "accept", priority: 1})
	w.run("b1", pvsw, "10.6.1.11", "svc")
	w.run("b2", pvsw, "10.6.1.12", "svc")
	cvpc := w.mustVPC("10.7.0.0/16")
	cvsw := w.mustVSwitch(cvpc, "10.7.1.0/24")
	w.mustGroup("client", cvpc, "normal", "")
	w.mustGroup("endpoint", cvpc, "normal", "")
	w.authorize("endpoint", ruleSpec{proto: "tcp", ports: "80/81", peer: "10.7.1.0/24", policy: "accept", priority: 1})
	w.run("client", cvsw, "10.7.1.10", "client")
	w.waitRunning()
	serveWho(t, w.ids["b1"], "b1", 8080)
	b2 := serveWho(t, w.ids["b2"], "b2", 8080)
	for _, b := range []string{"b1", "b2"} { // answers on 80 and 81 too: only the listener may lead there
		serveWho(t, w.ids[b], b+"-direct", 80)
		serveWho(t, w.ids[b], b+"-direct", 81)
	}

	creq := slb.CreateCreateLoadBalancerRequest()
	creq.AddressType, creq.VSwitchId = "intranet", pvsw
	cresp, err := lbc.CreateLoadBalancer(creq)
	if err != nil {
		t.Fatalf("CreateLoadBalancer: %v", err)
	}
	lbID := cresp.LoadBalancerId
	lreq := slb.CreateCreateLoadBalancerTCPListenerRequest()
	lreq.LoadBalancerId, lreq.ListenerPort, lreq.BackendServerPort, lreq.Bandwidth = lbID, requests.NewInteger(80), requests.NewInteger(8080), requests.NewInteger(-1)
	lreq.HealthCheckInterval, lreq.HealthCheckConnectTimeout = requests.NewInteger(1), requests.NewInteger(1)
	lreq.HealthyThreshold, lreq.UnhealthyThreshold = requests.NewInteger(2), requests.NewInteger(2)
	if _, err := lbc.CreateLoadBalancerTCPListener(lreq); err != nil {
		t.Fatalf("CreateLoadBalancerTCPListener: %v", err)
	}
	servers, _ := json.Marshal([]map[string]string{{"ServerId": w.ids["b1"]}, {"ServerId": w.ids["b2"]}})
	breq := slb.CreateAddBackendServersRequest()
	breq.LoadBalancerId, breq.BackendServers = lbID, string(servers)
	if _, err := lbc.AddBackendServers(breq); err != nil {
		t.Fatalf("AddBackendServers: %v", err)
	}
	start := slb.CreateStartLoadBalancerListenerRequest()
	start.LoadBalancerId, start.ListenerPort = lbID, requests.NewInteger(80)
	if _, err := lbc.StartLoadBalancerListener(start); err != nil {
		t.Fatalf("StartLoadBalancerListener: %v", err)
	}

	pl := env.PrivateLink(t, env.Admin)
	sreq := privatelink.CreateCreateVpcEndpointServiceRequest()
	sreq.ServiceResourceType, sreq.AutoAcceptEnabled = "slb", requests.NewBoolean(true)
	sreq.Resource = &[]privatelink.CreateVpcEndpointServiceResource{{ResourceType: "slb", ResourceId: lbID, ZoneId: "local-a"}}
	sresp, err := pl.CreateVpcEndpointService(sreq)
	if err != nil {
		t.Fatalf("CreateVpcEndpointService backed by a load balancer: %v", err)
	}
	ereq := privatelink.CreateCreateVpcEndpointRequest()
	ereq.VpcId, ereq.ServiceId, ereq.SecurityGroupId = cvpc, sresp.ServiceId, &[]string{w.sgs["endpoint"]}
	ereq.Zone = &[]privatelink.CreateVpcEndpointZone{{ZoneId: "local-a", VSwitchId: cvsw, Ip: "10.7.1.50"}}
	if _, err := pl.CreateVpcEndpoint(ereq); err != nil {
		t.Fatalf("CreateVpcEndpoint: %v", err)
	}
	w.settle()
	ep := netip.MustParseAddr("10.7.1.50")

	who := func(n int, port uint16) map[string]int {
		t.Helper()
		got := map[string]int{}
		for range n {
			name, peer, err := dialWho(w.ids["client"], netip.AddrPortFrom(ep, port), time.Second)
			if err != nil {
				got["error"]++
				continue
			}
			if !strings.HasPrefix(peer, "100.") {
				t.Errorf("%s saw the connection from %s, want a transit address of 100.64.0.0/10", name, peer)
			}
			got[name]++
		}
		return got
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		got := who(10, 80)
		if got["b1"] > 0 && got["b2"] > 0 && got["error"] == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("10 connections to the endpoint's port 80: %v, want both backends' port 8080", got)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if got := who(20, 80); got["b1"]+got["b2"] != 20 {
		t.Errorf("20 connections to the endpoint's port 80: %v, want all on the backends' 8080", got)
	}
	if got := who(2, 81); got["error"] != 2 {
		t.Errorf("the endpoint's port 81 (no listener): %v, want dropped", got)
	}

	b2.ln.Close()
	deadline = time.Now().Add(15 * time.Second)
	for {
		got := who(10, 80)
		if got["b1"] == 10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("with b2's server stopped: %v, want all on b1", got)
		}
		time.Sleep(200 * time.Millisecond)
	}

	stop := slb.CreateStopLoadBalancerListenerRequest()
	stop.LoadBalancerId, stop.ListenerPort = lbID, requests.NewInteger(80)
	if _, err := lbc.StopLoadBalancerListener(stop); err != nil {
		t.Fatalf("StopLoadBalancerListener: %v", err)
	}
	w.settle()
	if err := probe.TCP(t.Context(), w.ids["client"], netip.AddrPortFrom(ep, 80), time.Second); err == nil {
		t.Error("the endpoint's port 80 answered with the listener stopped")
	}
	dreq := slb.CreateDeleteLoadBalancerRequest()
	dreq.LoadBalancerId = lbID
	if _, err := lbc.DeleteLoadBalancer(dreq); err == nil {
		t.Error("a load balancer that backs an endpoint service was deleted")
	}
}
