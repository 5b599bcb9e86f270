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

	"github.com/palisade-project/palisade/internal/api"
	"github.com/palisade-project/palisade/internal/apitest"
	"github.com/palisade-project/palisade/internal/app"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/probe"
)

// slbClient is a V1 SDK Server Load Balancer (Slb 2014-05-15) client.
func slbClient(t *testing.T, env *apitest.Env, c apitest.Creds) *slb.Client {
	t.Helper()
	cl, err := slb.NewClientWithAccessKey(apitest.Region, c.AccessKeyID, c.Secret)
	if err != nil {
		t.Fatalf("slb client: %v", err)
	}
	cl.Domain = env.Endpoint
	cl.SetNoProxy("127.0.0.1,localhost")
	return cl
}

// TestLoadBalancerSDK drives an internal load balancer through the
// official SDK and checks it with real connections: a client reaches a
// listener's address and lands on both backends (in two vSwitches), which
// see the client's own address; a stopped listener carries nothing; a
// backend whose server stops is found abnormal by the health check and
// takes no more connections, and comes back when it serves again; a
// backend's security group judges the translated connections; a UDP
// listener on the same port; the load balancer deleted takes its address
// with it.
func TestLoadBalancerSDK(t *testing.T) {
	requireKernel(t)
	env := apitest.Start(t, apitest.WithBackend(app.BackendMemory), apitest.WithAgent(randTag(t)))
	w := newWorld(t, env)
	lbc := slbClient(t, env, env.Admin)
	vpcID := w.mustVPC("10.9.0.0/16")
	vsw1 := w.mustVSwitch(vpcID, "10.9.1.0/24")
	vsw2 := w.mustVSwitch(vpcID, "10.9.2.0/24")
	w.mustGroup("web", vpcID, "normal", "drop")
	w.authorize("web", ruleSpec{proto: "tcp", ports: "8080/8080", peer: "10.9.0.0/16", policy: "accept", priority: 1})
	w.authorize("web", ruleSpec{proto: "udp", ports: "5353/5353", peer: "10.9.0.0/16", policy: "accept", priority: 1})
	w.mustGroup("cli", vpcID, "normal", "drop")
	w.run("cli", vsw1, "10.9.1.10", "cli")
	w.run("b1", vsw1, "10.9.1.11", "web")
	w.run("b2", vsw2, "10.9.2.11", "web")
	w.waitRunning()
	serveWho(t, w.ids["b1"], "b1", 8080)
	b2 := serveWho(t, w.ids["b2"], "b2", 8080)
	for _, b := range []string{"b1", "b2"} {
		srv, err := probe.Serve(w.ids[b], nil, []int{5353})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(srv.Close)
	}

	creq := slb.CreateCreateLoadBalancerRequest()
	creq.AddressType, creq.VSwitchId, creq.Address, creq.LoadBalancerName = "intranet", vsw1, "10.9.1.100", "web"
	cresp, err := lbc.CreateLoadBalancer(creq)
	if err != nil {
		t.Fatalf("CreateLoadBalancer: %v", err)
	}
	lbID := cresp.LoadBalancerId
	vip := netip.MustParseAddr(cresp.Address)
	if vip != netip.MustParseAddr("10.9.1.100") || cresp.VpcId != vpcID {
		t.Fatalf("CreateLoadBalancer: %+v", cresp)
	}
	lreq := slb.CreateCreateLoadBalancerTCPListenerRequest()
	lreq.LoadBalancerId, lreq.ListenerPort, lreq.BackendServerPort = lbID, requests.NewInteger(80), requests.NewInteger(8080)
	lreq.Bandwidth, lreq.HealthCheckInterval = requests.NewInteger(-1), requests.NewInteger(1)
	lreq.HealthyThreshold, lreq.UnhealthyThreshold = requests.NewInteger(2), requests.NewInteger(2)
	lreq.HealthCheckConnectTimeout = requests.NewInteger(1)
	if _, err := lbc.CreateLoadBalancerTCPListener(lreq); err != nil {
		t.Fatalf("CreateLoadBalancerTCPListener: %v", err)
	}
	ureq := slb.CreateCreateLoadBalancerUDPListenerRequest()
	ureq.LoadBalancerId, ureq.ListenerPort, ureq.BackendServerPort = lbID, requests.NewInteger(80), requests.NewInteger(5353)
	ureq.Bandwidth, ureq.HealthCheckSwitch = requests.NewInteger(-1), "off"
	if _, err := lbc.CreateLoadBalancerUDPListener(ureq); err != nil {
		t.Fatalf("CreateLoadBalancerUDPListener: %v", err)
	}
	servers, _ := json.Marshal([]map[string]string{
		{"ServerId": w.ids["b1"], "Weight": "100", "Type": "ecs"},
		{"ServerId": w.ids["b2"], "Weight": "100", "Type": "ecs"},
	})
	breq := slb.CreateAddBackendServersRequest()
	breq.LoadBalancerId, breq.BackendServers = lbID, string(servers)
	if _, err := lbc.AddBackendServers(breq); err != nil {
		t.Fatalf("AddBackendServers: %v", err)
	}
	w.settle()

	tcpDst := netip.AddrPortFrom(vip, 80)
	// whoAnswers makes n connections from the client and counts who
	// answered; every backend must see the client's address.
	whoAnswers := func(n int) map[string]int {
		t.Helper()
		got := map[string]int{}
		for range n {
			name, peer, err := dialWho(w.ids["cli"], tcpDst, time.Second)
			if err != nil {
				got["error"]++
				continue
			}
			if ap, perr := netip.ParseAddrPort(peer); perr != nil || ap.Addr() != w.addr["cli"] {
				t.Errorf("%s saw the connection from %s, want the client's address %s", name, peer, w.addr["cli"])
			}
			got[name]++
		}
		return got
	}
	// health waits until DescribeHealthStatus reports want per server.
	health := func(want map[string]string) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		var last string
		for time.Now().Before(deadline) {
			req := slb.CreateDescribeHealthStatusRequest()
			req.LoadBalancerId, req.ListenerPort = lbID, requests.NewInteger(80)
			resp, err := lbc.DescribeHealthStatus(req)
			if err != nil {
				t.Fatalf("DescribeHealthStatus: %v", err)
			}
			got := map[string]string{}
			for _, s := range resp.BackendServers.BackendServer {
				if s.Protocol == "tcp" || s.Protocol == "" {
					got[s.ServerId] = s.ServerHealthStatus
				}
			}
			ok := true
			for id, st := range want {
				ok = ok && got[id] == st
			}
			if ok {
				return
			}
			last = fmt.Sprint(got)
			time.Sleep(200 * time.Millisecond)
		}
		t.Fatalf("health status: %s, want %v", last, want)
	}

	// analyzed asks the analyzer whether the client reaches the listener.
	analyzed := func(port string) bool {
		t.Helper()
		out, err := env.Common(t, env.Admin, api.VersionPalisade, "AnalyzeReachability", map[string]string{"From": w.ids["cli"], "To": lbID, "Protocol": "tcp", "Port": port})
		if err != nil {
			t.Fatalf("AnalyzeReachability: %v", err)
		}
		return out["Reachable"] == true
	}

	// Listeners are created stopped: nothing answers yet.
	if name, _, err := dialWho(w.ids["cli"], tcpDst, time.Second); err == nil {
		t.Fatalf("a stopped listener answered (%s)", name)
	}
	if err := probe.Ping(w.ids["cli"], vip, time.Second); err != nil {
		t.Errorf("the load balancer's address does not answer ping: %v", err)
	}
	for _, proto := range []string{"tcp", "udp"} {
		sreq := slb.CreateStartLoadBalancerListenerRequest()
		sreq.LoadBalancerId, sreq.ListenerPort, sreq.ListenerProtocol = lbID, requests.NewInteger(80), proto
		if _, err := lbc.StartLoadBalancerListener(sreq); err != nil {
			t.Fatalf("StartLoadBalancerListener %s: %v", proto, err)
		}
	}
	health(map[string]string{w.ids["b1"]: "normal", w.ids["b2"]: "normal"})
	w.settle()
	if got := whoAnswers(40); got["b1"] < 5 || got["b2"] < 5 || got["error"] > 0 {
		t.Errorf("40 connections to the listener: %v, want both backends", got)
	}
	if !analyzed("80") || analyzed("81") {
		t.Errorf("the analyzer disagrees with the kernel: port 80 reachable %v (want true), 81 %v (want false)", analyzed("80"), analyzed("81"))
	}
	udpDst := netip.AddrPortFrom(vip, 80)
	for i := range 10 {
		if err := probe.UDPFrom(t.Context(), w.ids["cli"], uint16(42000+i), udpDst, time.Second); err != nil {
			t.Errorf("UDP listener, datagram %d: %v", i, err)
		}
	}
	// A port without a listener: silence.
	if err := probe.TCP(t.Context(), w.ids["cli"], netip.AddrPortFrom(vip, 81), time.Second); err == nil {
		t.Error("a port without listener answered")
	}

	// b2's server stops: the health check takes it out.
	b2.ln.Close()
	health(map[string]string{w.ids["b1"]: "normal", w.ids["b2"]: "abnormal"})
	w.settle()
	if got := whoAnswers(20); got["b1"] != 20 {
		t.Errorf("20 connections with b2 abnormal: %v, want all on b1", got)
	}
	serveWho(t, w.ids["b2"], "b2", 8080)
	health(map[string]string{w.ids["b1"]: "normal", w.ids["b2"]: "normal"})
	w.settle()
	if got := whoAnswers(40); got["b2"] < 5 {
		t.Errorf("40 connections with b2 back: %v", got)
	}

	// The backends' security group judges the translated connections: an
	// established one through the listener survives a change that keeps
	// it allowed and dies with the rule that admitted it.
	conn, err := probe.DialTCP(t.Context(), w.ids["cli"], tcpDst, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, _, err := ask(conn); err != nil {
		t.Fatal(err)
	}
	w.authorize("web", ruleSpec{proto: "tcp", ports: "22/22", peer: "10.9.0.0/16", policy: "accept", priority: 1})
	w.settle()
	if _, _, err := ask(conn); err != nil {
		t.Errorf("connection through the listener after an unrelated rule: %v", err)
	}
	rv := ecs.CreateRevokeSecurityGroupRequest()
	rv.SecurityGroupId = w.sgs["web"]
	rv.Permissions = &[]ecs.RevokeSecurityGroupPermissions{{IpProtocol: "tcp", PortRange: "8080/8080", SourceCidrIp: "10.9.0.0/16", Policy: "accept", Priority: "1"}}
	if _, err := w.ecs.RevokeSecurityGroup(rv); err != nil {
		t.Fatalf("RevokeSecurityGroup: %v", err)
	}
	w.settle()
	if _, _, err := ask(conn); err == nil {
		t.Error("connection through the listener lives on after its backends' group stopped admitting it")
	}
	if got := whoAnswers(3); got["error"] != 3 {
		t.Errorf("new connections after the revoke: %v", got)
	}
	if analyzed("80") {
		t.Error("the analyzer says the listener is reachable after its backends' group stopped admitting the client, unlike the kernel")
	}

	// Deleted: the address goes (no more answer to ping).
	dreq := slb.CreateDeleteLoadBalancerRequest()
	dreq.LoadBalancerId = lbID
	if _, err := lbc.DeleteLoadBalancer(dreq); err != nil {
		t.Fatalf("DeleteLoadBalancer: %v", err)
	}
	w.settle()
	if err := probe.Ping(w.ids["cli"], vip, time.Second); err == nil {
		t.Error("the deleted load balancer's address still answers ping")
	}
	out, _ := nsExec(vpcID, "nft", "list", "tables")
	if strings.Contains(out, "palisade_lb") {
		t.Errorf("load balancer table left after the delete:\n%s", out)
	}
}

// TestLoadBalancerAgentRestart: while a client opens a connection to a
// load balancer's listener every 20 ms and a long-lived one exchanges a
// line every 50 ms, the agent stops and a new one starts (its health
// checks begin anew): no connection fails, as for security groups
// (TestAgentRestartUnderProbing).
func TestLoadBalancerAgentRestart(t *testing.T) {
	r := newRig(t, "l", 2*time.Second)
	v := r.vswitch("1", "10.78.1.0/24")
	g := r.groupID("g")
	r.put(model.PrefixSecurityGroup+g, model.SecurityGroup{ID: g, VpcID: r.vpc, Type: model.GroupTypeBasic, InnerAccessPolicy: model.InnerDrop, Rules: []model.Rule{{
		ID: "sgr-8080", Direction: model.Ingress, Protocol: model.ProtoTCP, Ports: model.PortRange{From: 8080, To: 8080},
		PeerCidr: netip.MustParsePrefix("10.78.1.0/24"), Policy: model.PolicyAccept, Priority: 1}}})
	a := r.instance("a", v, "10.78.1.10", g)
	b := r.instance("b", v, "10.78.1.11", g)
	c := r.instance("c", v, "10.78.1.12", g)
	vip := netip.MustParseAddr("10.78.1.100")
	hc := model.LBHealthCheck{Enabled: true, Interval: 1, ConnectTimeout: 1, HealthyThreshold: 2, UnhealthyThreshold: 2}
	r.put(model.PrefixLoadBalancer+"lb-"+r.tag, model.LoadBalancer{ID: "lb-" + r.tag, VpcID: r.vpc, VSwitchID: v, ZoneID: rigZone, Address: vip,
		Status: model.LBStatusActive, AddressType: model.LBAddressIntranet,
		Listeners: []model.LBListener{{Protocol: model.LBProtocolTCP, Port: 80, BackendPort: 8080, Scheduler: model.LBSchedulerWRR, Status: model.ListenerRunning, HealthCheck: hc}},
		Backends:  []model.LBBackend{{ServerID: b.inst, Type: model.LBBackendECS, Weight: 100}, {ServerID: c.inst, Type: model.LBBackendECS, Weight: 100}}})
	stopFirst := r.run()
	r.waitApplied()
	r.serve(b, []int{8080}, nil)
	r.serve(c, []int{8080}, nil)
	dst := netip.AddrPortFrom(vip, 80)
	deadline := time.Now().Add(10 * time.Second)
	for tcpProbe(a.inst, 0, dst, 500*time.Millisecond) != nil { // the first checks, ARP
		if time.Now().After(deadline) {
			t.Fatal("the listener never answered")
		}
		time.Sleep(100 * time.Millisecond)
	}
	long, err := probe.DialTCP(t.Context(), a.inst, dst, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer long.Close()
	p := newProber()
	p.every("connect", 20*time.Millisecond, func(int) error { return tcpProbe(a.inst, 0, dst, time.Second) })
	p.every("long-lived", 50*time.Millisecond, func(n int) error { return probe.Echo(long, fmt.Sprint("line ", n), time.Second) })
	time.Sleep(400 * time.Millisecond)
	stopFirst()
	time.Sleep(400 * time.Millisecond)
	r.newAgent()
	r.run()
	r.waitApplied()
	time.Sleep(500 * time.Millisecond)
	p.halt()
	for _, f := range p.fails {
		t.Errorf("probe failed: %s", f)
	}
	t.Logf("probes: %v, %d failed", p.count, len(p.fails))
	if p.count["connect"] < 40 || p.count["long-lived"] < 20 {
		t.Errorf("too few probes ran: %v", p.count)
	}
}

// TestLoadBalancerACLSDK: a listener's access control through the official
// SDK, with real connections from two clients: a whitelist admits only
// its entries, a blacklist refuses them, an empty list admits everyone,
// and access control switched off admits everyone again.
func TestLoadBalancerACLSDK(t *testing.T) {
	requireKernel(t)
	env := apitest.Start(t, apitest.WithBackend(app.BackendMemory), apitest.WithAgent(randTag(t)))
	w := newWorld(t, env)
	lbc := slbClient(t, env, env.Admin)
	vpcID := w.mustVPC("10.9.0.0/16")
	vsw := w.mustVSwitch(vpcID, "10.9.1.0/24")
	w.mustGroup("web", vpcID, "normal", "drop")
	w.authorize("web", ruleSpec{proto: "tcp", ports: "8080/8080", peer: "10.9.0.0/16", policy: "accept", priority: 1})
	w.mustGroup("cli", vpcID, "normal", "drop")
	w.run("c1", vsw, "10.9.1.10", "cli")
	w.run("c2", vsw, "10.9.1.20", "cli")
	w.run("be", vsw, "10.9.1.11", "web")
	w.waitRunning()
	serveWho(t, w.ids["be"], "be", 8080)

	creq := slb.CreateCreateLoadBalancerRequest()
	creq.AddressType, creq.VSwitchId = "intranet", vsw
	cresp, err := lbc.CreateLoadBalancer(creq)
	if err != nil {
		t.Fatalf("CreateLoadBalancer: %v", err)
	}
	lbID, vip := cresp.LoadBalancerId, netip.MustParseAddr(cresp.Address)
	lreq := slb.CreateCreateLoadBalancerTCPListenerRequest()
	lreq.LoadBalancerId, lreq.ListenerPort, lreq.BackendServerPort, lreq.Bandwidth = lbID, requests.NewInteger(80), requests.NewInteger(8080), requests.NewInteger(-1)
	lreq.HealthCheckSwitch = "off"
	if _, err := lbc.CreateLoadBalancerTCPListener(lreq); err != nil {
		t.Fatalf("CreateLoadBalancerTCPListener: %v", err)
	}
	servers, _ := json.Marshal([]map[string]string{{"ServerId": w.ids["be"]}})
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
	areq := slb.CreateCreateAccessControlListRequest()
	areq.AclName, areq.AddressIPVersion = "office", "ipv4"
	aresp, err := lbc.CreateAccessControlList(areq)
	if err != nil {
		t.Fatalf("CreateAccessControlList: %v", err)
	}
	acl := aresp.AclId

	// reach says which clients the listener admits.
	reach := func() map[string]bool {
		t.Helper()
		w.settle()
		got := map[string]bool{}
		for _, c := range []string{"c1", "c2"} {
			var err error
			for range 2 { // ARP
				if _, _, err = dialWho(w.ids[c], netip.AddrPortFrom(vip, 80), time.Second); err == nil {
					break
				}
			}
			got[c] = err == nil
		}
		return got
	}
	setACL := func(status, typ string) {
		t.Helper()
		req := slb.CreateSetLoadBalancerTCPListenerAttributeRequest()
		req.LoadBalancerId, req.ListenerPort, req.AclStatus = lbID, requests.NewInteger(80), status
		if status == "on" {
			req.AclType, req.AclId = typ, acl
		}
		if _, err := lbc.SetLoadBalancerTCPListenerAttribute(req); err != nil {
			t.Fatalf("SetLoadBalancerTCPListenerAttribute AclStatus=%s AclType=%s: %v", status, typ, err)
		}
	}
	want := func(step string, c1, c2 bool) {
		t.Helper()
		got := reach()
		if got["c1"] != c1 || got["c2"] != c2 {
			t.Errorf("%s: c1 admitted %v, c2 %v; want %v, %v", step, got["c1"], got["c2"], c1, c2)
		}
		// The analyzer agrees with the kernel.
		for _, c := range []string{"c1", "c2"} {
			out, err := env.Common(t, env.Admin, api.VersionPalisade, "AnalyzeReachability", map[string]string{"From": w.ids[c], "To": lbID, "Protocol": "tcp", "Port": "80"})
			if err != nil {
				t.Fatalf("AnalyzeReachability: %v", err)
			}
			if out["Reachable"] != got[c] {
				t.Errorf("%s: the analyzer says %s reachable %v, the kernel %v", step, c, out["Reachable"], got[c])
			}
		}
	}
	want("no access control", true, true)
	setACL("on", "white")
	want("an empty whitelist (admits everyone, as the cloud documents)", true, true)
	entries, _ := json.Marshal([]map[string]string{{"entry": "10.9.1.10/32", "comment": "c1"}})
	ereq := slb.CreateAddAccessControlListEntryRequest()
	ereq.AclId, ereq.AclEntrys = acl, string(entries)
	if _, err := lbc.AddAccessControlListEntry(ereq); err != nil {
		t.Fatalf("AddAccessControlListEntry: %v", err)
	}
	want("a whitelist of c1", true, false)
	setACL("on", "black")
	want("a blacklist of c1", false, true)
	setACL("off", "")
	want("access control off", true, true)
}
