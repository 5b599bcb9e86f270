package api_test

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	slb "github.com/alibabacloud-go/slb-20140515/v4/client"
	"github.com/alibabacloud-go/tea/tea"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/vpc"

	"github.com/palisade-project/palisade/internal/api"
	"github.com/palisade-project/palisade/internal/apiclient"
	"github.com/palisade-project/palisade/internal/apitest"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/remote"
)

// slbWorld is account alice with a VPC (vSwitch local-a 10.0.1.0/24,
// vSwitch local-b 10.0.2.0/24), instances i1 (10.0.1.10) and i2
// (10.0.1.11) in local-a and iB in local-b; account bob with an instance
// of his own.
type slbWorld struct {
	env        *apitest.Env
	alice, bob apitest.Creds
	c          *slb.Client // alice's
	net        netFixture
	vswB       string
	i1, i2, iB string
	bobInst    string
}

func newSLBWorld(t *testing.T) *slbWorld {
	t.Helper()
	env := apitest.Start(t)
	env.PutRecord(t, model.PrefixZoneStatus+"local-b", model.ZoneStatus{ZoneID: "local-b", Host: "b", LastSeen: time.Now()})
	w := &slbWorld{env: env, alice: env.NewAccount(t, "alice"), bob: env.NewAccount(t, "bob")}
	w.c = env.SLB(t, w.alice)
	w.net = newNet(t, env, w.alice, "10.0.0.0/16", "10.0.1.0/24")
	w.vswB = createVSwitchIn(t, env.VPC(t, w.alice), w.net.vpc, "10.0.2.0/24", "local-b")
	e := env.ECS(t, w.alice)
	w.i1 = runInstance(t, e, w.net.vsw, w.net.sg, "10.0.1.10")
	w.i2 = runInstance(t, e, w.net.vsw, w.net.sg, "10.0.1.11")
	w.iB = runInstance(t, e, w.vswB, w.net.sg, "")
	bn := newNet(t, env, w.bob, "10.0.0.0/16", "10.0.1.0/24")
	w.bobInst = runInstance(t, env.ECS(t, w.bob), bn.vsw, bn.sg, "")
	return w
}

// wantSLBErr checks an SDK error's HTTP status and code.
func wantSLBErr(t *testing.T, what string, err error, status int, code string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: succeeded, want %d %s", what, status, code)
		return
	}
	if st, c := apitest.ServerErr(t, err); st != status || c != code {
		t.Errorf("%s: %d %s, want %d %s (%v)", what, st, c, status, code, err)
	}
}

func (w *slbWorld) createLB(t *testing.T, c *slb.Client, req *slb.CreateLoadBalancerRequest) *slb.CreateLoadBalancerResponseBody {
	t.Helper()
	resp, err := c.CreateLoadBalancer(req)
	if err != nil {
		t.Fatalf("CreateLoadBalancer: %v", err)
	}
	return resp.Body
}

func backendsJSON(t *testing.T, servers ...map[string]any) *string {
	t.Helper()
	b, err := json.Marshal(servers)
	if err != nil {
		t.Fatal(err)
	}
	return tea.String(string(b))
}

func (w *slbWorld) health(t *testing.T, lb string, port int32, proto string) []string {
	t.Helper()
	req := &slb.DescribeHealthStatusRequest{LoadBalancerId: tea.String(lb)}
	if port != 0 {
		req.ListenerPort = tea.Int32(port)
	}
	if proto != "" {
		req.ListenerProtocol = tea.String(proto)
	}
	resp, err := w.c.DescribeHealthStatus(req)
	if err != nil {
		t.Fatalf("DescribeHealthStatus: %v", err)
	}
	var out []string
	for _, s := range resp.Body.BackendServers.BackendServer {
		name := map[string]string{w.i1: "i1", w.i2: "i2"}[tea.StringValue(s.ServerId)]
		out = append(out, tea.StringValue(s.Protocol)+"/"+name+"/"+tea.StringValue(s.ServerHealthStatus))
		wantPort := map[int32]int32{80: 8080, 53: 5353}[tea.Int32Value(s.ListenerPort)]
		if tea.Int32Value(s.ListenerPort) == 80 && tea.StringValue(s.Protocol) == "udp" {
			wantPort = 5353
		}
		if (name == "i1" && tea.StringValue(s.ServerIp) != "10.0.1.10") || tea.Int32Value(s.Port) != wantPort {
			t.Errorf("health entry %+v", s)
		}
	}
	return out
}

// TestSLBLifecycleSDK drives every SLB action through the official SDK
// (slb-20140515/v4): load balancers with and without an address,
// filters and paging, TCP and UDP listeners on one port, backends,
// health before and after an agent's report, isolation, refusals with
// their codes, ClientToken, delete protection, and the address given back.
func TestSLBLifecycleSDK(t *testing.T) {
	w := newSLBWorld(t)
	c := w.c

	// Create: an address from the vSwitch's pool, or the one asked for.
	a := w.createLB(t, c, &slb.CreateLoadBalancerRequest{AddressType: tea.String("intranet"), VSwitchId: tea.String(w.net.vsw),
		LoadBalancerName: tea.String("web"), LoadBalancerSpec: tea.String("slb.s1.small"),
		Tag: []*slb.CreateLoadBalancerRequestTag{{Key: tea.String("env"), Value: tea.String("prod")}}})
	if !strings.HasPrefix(tea.StringValue(a.LoadBalancerId), "lb-") || tea.StringValue(a.Address) != "10.0.1.1" ||
		tea.StringValue(a.VpcId) != w.net.vpc || tea.StringValue(a.VSwitchId) != w.net.vsw || tea.StringValue(a.NetworkType) != "vpc" ||
		tea.StringValue(a.AddressIPVersion) != "ipv4" || tea.StringValue(a.LoadBalancerName) != "web" || tea.StringValue(a.RequestId) == "" {
		t.Fatalf("created %+v", a)
	}
	lbA := tea.StringValue(a.LoadBalancerId)
	fixedReq := &slb.CreateLoadBalancerRequest{VSwitchId: tea.String(w.net.vsw), VpcId: tea.String(w.net.vpc), Address: tea.String("10.0.1.50"),
		DeleteProtection: tea.String("on"), ClientToken: tea.String("token-1")}
	b := w.createLB(t, c, fixedReq)
	lbB := tea.StringValue(b.LoadBalancerId)
	if tea.StringValue(b.Address) != "10.0.1.50" {
		t.Fatalf("fixed address %+v", b)
	}
	if again := w.createLB(t, c, fixedReq); tea.StringValue(again.LoadBalancerId) != lbB {
		t.Errorf("retry with the ClientToken: %s, first %s", tea.StringValue(again.LoadBalancerId), lbB)
	}
	_, err := c.CreateLoadBalancer(&slb.CreateLoadBalancerRequest{VSwitchId: tea.String(w.net.vsw), Address: tea.String("10.0.1.51"), ClientToken: tea.String("token-1")})
	wantSLBErr(t, "ClientToken reused", err, 400, "IdempotentParameterMismatch")

	// Refusals of CreateLoadBalancer, with their codes; none changes the
	// store.
	before := w.env.Snapshot(t)
	for _, tc := range []struct {
		name   string
		req    *slb.CreateLoadBalancerRequest
		status int
		code   string
	}{
		{"internet", &slb.CreateLoadBalancerRequest{AddressType: tea.String("internet")}, 400, "OperationUnsupported.AddressType"},
		{"no address type nor vswitch", &slb.CreateLoadBalancerRequest{}, 400, "OperationUnsupported.AddressType"},
		{"intranet without vswitch", &slb.CreateLoadBalancerRequest{AddressType: tea.String("intranet")}, 400, "MissingParam.VSwitchId"},
		{"address of an instance", &slb.CreateLoadBalancerRequest{VSwitchId: tea.String(w.net.vsw), Address: tea.String("10.0.1.10")}, 400, "InvalidPrivateIpAddress.Duplicated"},
		{"address outside", &slb.CreateLoadBalancerRequest{VSwitchId: tea.String(w.net.vsw), Address: tea.String("10.0.2.7")}, 400, "InvalidPrivateIpAddress.Mismatch"},
		{"ipv6", &slb.CreateLoadBalancerRequest{VSwitchId: tea.String(w.net.vsw), AddressIPVersion: tea.String("ipv6")}, 400, "InvalidParameter.Mismatch"},
		{"unknown vswitch", &slb.CreateLoadBalancerRequest{VSwitchId: tea.String("vsw-nope")}, 404, "InvalidVSwitchId.NotFound"},
		{"other vpc", &slb.CreateLoadBalancerRequest{VSwitchId: tea.String(w.net.vsw), VpcId: tea.String("vpc-nope")}, 404, "InvalidVpcId.NotFound"},
		{"standby zone", &slb.CreateLoadBalancerRequest{VSwitchId: tea.String(w.net.vsw), SlaveZoneId: tea.String("local-b")}, 400, "OperationUnsupported.SlaveZoneId"},
		{"bad delete protection", &slb.CreateLoadBalancerRequest{VSwitchId: tea.String(w.net.vsw), DeleteProtection: tea.String("yes")}, 400, "InvalidParameter"},
	} {
		_, err := c.CreateLoadBalancer(tc.req)
		wantSLBErr(t, tc.name, err, tc.status, tc.code)
	}
	// Bob cannot use alice's vSwitch.
	_, err = w.env.SLB(t, w.bob).CreateLoadBalancer(&slb.CreateLoadBalancerRequest{AddressType: tea.String("intranet"), VSwitchId: tea.String(w.net.vsw)})
	wantSLBErr(t, "bob in alice's vSwitch", err, 404, "InvalidVSwitchId.NotFound")
	if after := w.env.Snapshot(t); !maps.Equal(before, after) {
		t.Error("a refused CreateLoadBalancer changed the store")
	}

	// DescribeLoadBalancers: filters and paging.
	list := func(req *slb.DescribeLoadBalancersRequest) (ids []string, total int32) {
		t.Helper()
		resp, err := c.DescribeLoadBalancers(req)
		if err != nil {
			t.Fatalf("DescribeLoadBalancers: %v", err)
		}
		for _, lb := range resp.Body.LoadBalancers.LoadBalancer {
			ids = append(ids, tea.StringValue(lb.LoadBalancerId))
		}
		return ids, tea.Int32Value(resp.Body.TotalCount)
	}
	if ids, total := list(&slb.DescribeLoadBalancersRequest{}); total != 2 || !slices.Equal(ids, []string{lbA, lbB}) {
		t.Errorf("all: %v %d", ids, total)
	}
	if ids, total := list(&slb.DescribeLoadBalancersRequest{PageSize: tea.Int32(1), PageNumber: tea.Int32(2)}); total != 2 || !slices.Equal(ids, []string{lbB}) {
		t.Errorf("page 2: %v %d", ids, total)
	}
	for name, tc := range map[string]struct {
		req  *slb.DescribeLoadBalancersRequest
		want []string
	}{
		"ids":          {&slb.DescribeLoadBalancersRequest{LoadBalancerId: tea.String(lbB + ",lb-nope")}, []string{lbB}},
		"address":      {&slb.DescribeLoadBalancersRequest{Address: tea.String("10.0.1.1")}, []string{lbA}},
		"name":         {&slb.DescribeLoadBalancersRequest{LoadBalancerName: tea.String("web")}, []string{lbA}},
		"vpc, vswitch": {&slb.DescribeLoadBalancersRequest{VpcId: tea.String(w.net.vpc), VSwitchId: tea.String(w.net.vsw), NetworkType: tea.String("vpc")}, []string{lbA, lbB}},
		"internet":     {&slb.DescribeLoadBalancersRequest{AddressType: tea.String("internet")}, nil},
		"tag":          {&slb.DescribeLoadBalancersRequest{Tag: []*slb.DescribeLoadBalancersRequestTag{{Key: tea.String("env"), Value: tea.String("prod")}}}, []string{lbA}},
		"tags json":    {&slb.DescribeLoadBalancersRequest{Tags: tea.String(`[{"TagKey":"env","TagValue":"dev"}]`)}, nil},
		"status":       {&slb.DescribeLoadBalancersRequest{LoadBalancerStatus: tea.String("active")}, []string{lbA, lbB}},
	} {
		if ids, _ := list(tc.req); !slices.Equal(ids, tc.want) {
			t.Errorf("%s: %v, want %v", name, ids, tc.want)
		}
	}
	resp, err := c.DescribeLoadBalancers(&slb.DescribeLoadBalancersRequest{LoadBalancerId: tea.String(lbB)})
	if err != nil {
		t.Fatal(err)
	}
	if lb := resp.Body.LoadBalancers.LoadBalancer[0]; tea.StringValue(lb.MasterZoneId) != "local-a" || tea.StringValue(lb.SlaveZoneId) != "" ||
		tea.StringValue(lb.DeleteProtection) != "on" || tea.StringValue(lb.AddressType) != "intranet" || tea.Int64Value(lb.CreateTimeStamp) == 0 ||
		tea.StringValue(lb.LoadBalancerStatus) != "active" || tea.StringValue(lb.RegionId) != apitest.Region || tea.StringValue(lb.CreateTime) == "" ||
		tea.StringValue(lb.AddressIPVersion) != "ipv4" || tea.StringValue(lb.NetworkType) != "vpc" || tea.StringValue(lb.LoadBalancerName) != "auto_named_slb" {
		t.Errorf("item %+v", lb)
	}
	_, err = c.DescribeLoadBalancers(&slb.DescribeLoadBalancersRequest{PageSize: tea.Int32(101)})
	wantSLBErr(t, "PageSize 101", err, 400, "InvalidParameter")

	// Listeners: TCP and UDP on port 80 (and UDP 53).
	if _, err := c.CreateLoadBalancerTCPListener(&slb.CreateLoadBalancerTCPListenerRequest{LoadBalancerId: tea.String(lbA), ListenerPort: tea.Int32(80),
		BackendServerPort: tea.Int32(8080), Bandwidth: tea.Int32(-1), HealthCheckInterval: tea.Int32(3), Description: tea.String("web")}); err != nil {
		t.Fatal(err)
	}
	for _, port := range []int32{80, 53} {
		if _, err := c.CreateLoadBalancerUDPListener(&slb.CreateLoadBalancerUDPListenerRequest{LoadBalancerId: tea.String(lbA), ListenerPort: tea.Int32(port),
			BackendServerPort: tea.Int32(5353), Bandwidth: tea.Int32(-1), HealthCheckSwitch: tea.String("on"), HealthyThreshold: tea.Int32(2)}); err != nil {
			t.Fatal(err)
		}
	}
	tcpReq := func(f func(*slb.CreateLoadBalancerTCPListenerRequest)) *slb.CreateLoadBalancerTCPListenerRequest {
		r := &slb.CreateLoadBalancerTCPListenerRequest{LoadBalancerId: tea.String(lbA), ListenerPort: tea.Int32(81), BackendServerPort: tea.Int32(81), Bandwidth: tea.Int32(-1)}
		f(r)
		return r
	}
	before = w.env.Snapshot(t)
	for _, tc := range []struct {
		name   string
		req    *slb.CreateLoadBalancerTCPListenerRequest
		status int
		code   string
	}{
		{"exists", tcpReq(func(r *slb.CreateLoadBalancerTCPListenerRequest) { r.ListenerPort = tea.Int32(80) }), 400, "ListenerAlreadyExists"},
		{"persistence", tcpReq(func(r *slb.CreateLoadBalancerTCPListenerRequest) { r.PersistenceTimeout = tea.Int32(60) }), 400, "OperationUnsupported.PersistenceTimeout"},
		{"wlc", tcpReq(func(r *slb.CreateLoadBalancerTCPListenerRequest) { r.Scheduler = tea.String("wlc") }), 400, "OperationUnsupported.Scheduler"},
		{"vserver group", tcpReq(func(r *slb.CreateLoadBalancerTCPListenerRequest) {
			r.BackendServerPort, r.VServerGroupId = nil, tea.String("rsp-1")
		}), 400, "OperationUnsupported.VServerGroupId"},
		{"bandwidth", tcpReq(func(r *slb.CreateLoadBalancerTCPListenerRequest) { r.Bandwidth = tea.Int32(10) }), 400, "InvalidParameter.Bandwidth"},
		{"http check", tcpReq(func(r *slb.CreateLoadBalancerTCPListenerRequest) { r.HealthCheckType = tea.String("http") }), 400, "OperationUnsupported.HealthCheckType"},
		{"proxy protocol", tcpReq(func(r *slb.CreateLoadBalancerTCPListenerRequest) { r.ProxyProtocolV2Enabled = tea.Bool(true) }), 400, "OperationUnsupported.ProxyProtocolV2Enabled"},
		{"interval 51", tcpReq(func(r *slb.CreateLoadBalancerTCPListenerRequest) { r.HealthCheckInterval = tea.Int32(51) }), 400, "InvalidParameter"},
		{"no backend port", tcpReq(func(r *slb.CreateLoadBalancerTCPListenerRequest) { r.BackendServerPort = nil }), 400, "MissingParameter"},
		{"port 0", tcpReq(func(r *slb.CreateLoadBalancerTCPListenerRequest) { r.ListenerPort = tea.Int32(0) }), 400, "InvalidParameter"},
		{"unknown load balancer", tcpReq(func(r *slb.CreateLoadBalancerTCPListenerRequest) { r.LoadBalancerId = tea.String("lb-nope") }), 404, "InvalidLoadBalancerId.NotFound"},
	} {
		_, err := c.CreateLoadBalancerTCPListener(tc.req)
		wantSLBErr(t, "TCP listener "+tc.name, err, tc.status, tc.code)
	}
	_, err = c.CreateLoadBalancerUDPListener(&slb.CreateLoadBalancerUDPListenerRequest{LoadBalancerId: tea.String(lbA), ListenerPort: tea.Int32(82),
		BackendServerPort: tea.Int32(82), HealthCheckReq: tea.String("ping"), HealthCheckExp: tea.String("pong")})
	wantSLBErr(t, "UDP request check", err, 400, "OperationUnsupported.healthCheckReq")
	_, err = c.StartLoadBalancerListener(&slb.StartLoadBalancerListenerRequest{LoadBalancerId: tea.String(lbA), ListenerPort: tea.Int32(80)})
	wantSLBErr(t, "start port 80 without protocol", err, 400, "MissingParam.ListenerProtocol")
	_, err = c.StartLoadBalancerListener(&slb.StartLoadBalancerListenerRequest{LoadBalancerId: tea.String(lbA), ListenerPort: tea.Int32(443)})
	wantSLBErr(t, "start a missing listener", err, 400, "InvalidParameter")
	_, err = c.DescribeLoadBalancerTCPListenerAttribute(&slb.DescribeLoadBalancerTCPListenerAttributeRequest{LoadBalancerId: tea.String(lbA), ListenerPort: tea.Int32(53)})
	wantSLBErr(t, "TCP attribute of a UDP-only port", err, 400, "InvalidParameter")
	if after := w.env.Snapshot(t); !maps.Equal(before, after) {
		t.Error("a refused listener action changed the store")
	}
	if _, err := c.StartLoadBalancerListener(&slb.StartLoadBalancerListenerRequest{LoadBalancerId: tea.String(lbA), ListenerPort: tea.Int32(80), ListenerProtocol: tea.String("tcp")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.StartLoadBalancerListener(&slb.StartLoadBalancerListenerRequest{LoadBalancerId: tea.String(lbA), ListenerPort: tea.Int32(53)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SetLoadBalancerTCPListenerAttribute(&slb.SetLoadBalancerTCPListenerAttributeRequest{LoadBalancerId: tea.String(lbA), ListenerPort: tea.Int32(80),
		Scheduler: tea.String("rr"), HealthCheckConnectPort: tea.Int32(8081), UnhealthyThreshold: tea.Int32(4)}); err != nil {
		t.Fatal(err)
	}
	_, err = c.SetLoadBalancerUDPListenerAttribute(&slb.SetLoadBalancerUDPListenerAttributeRequest{LoadBalancerId: tea.String(lbA), ListenerPort: tea.Int32(80), Scheduler: tea.String("sch")})
	wantSLBErr(t, "UDP sch", err, 400, "OperationUnsupported.Scheduler")
	if _, err := c.SetLoadBalancerUDPListenerAttribute(&slb.SetLoadBalancerUDPListenerAttributeRequest{LoadBalancerId: tea.String(lbA), ListenerPort: tea.Int32(80),
		HealthCheckInterval: tea.Int32(7), Description: tea.String("dns")}); err != nil {
		t.Fatal(err)
	}
	tcpAttr, err := c.DescribeLoadBalancerTCPListenerAttribute(&slb.DescribeLoadBalancerTCPListenerAttributeRequest{LoadBalancerId: tea.String(lbA), ListenerPort: tea.Int32(80)})
	if err != nil {
		t.Fatal(err)
	}
	if x := tcpAttr.Body; tea.StringValue(x.Status) != "running" || tea.StringValue(x.Scheduler) != "rr" || tea.Int32Value(x.BackendServerPort) != 8080 ||
		tea.Int32Value(x.HealthCheckInterval) != 3 || tea.Int32Value(x.HealthCheckConnectPort) != 8081 || tea.Int32Value(x.UnhealthyThreshold) != 4 ||
		tea.Int32Value(x.HealthyThreshold) != 3 || tea.Int32Value(x.HealthCheckConnectTimeout) != 5 || tea.StringValue(x.HealthCheck) != "on" ||
		tea.Int32Value(x.Bandwidth) != -1 || tea.StringValue(x.Description) != "web" || tea.StringValue(x.HealthCheckType) != "tcp" {
		t.Errorf("TCP attribute %+v", x)
	}
	udpAttr, err := c.DescribeLoadBalancerUDPListenerAttribute(&slb.DescribeLoadBalancerUDPListenerAttributeRequest{LoadBalancerId: tea.String(lbA), ListenerPort: tea.Int32(80)})
	if err != nil {
		t.Fatal(err)
	}
	if x := udpAttr.Body; tea.StringValue(x.Status) != "stopped" || tea.StringValue(x.Scheduler) != "wrr" || tea.Int32Value(x.HealthCheckInterval) != 7 ||
		tea.Int32Value(x.HealthyThreshold) != 2 || tea.StringValue(x.Description) != "dns" || tea.Int32Value(x.BackendServerPort) != 5353 {
		t.Errorf("UDP attribute %+v", x)
	}

	// DescribeLoadBalancerListeners pages with NextToken.
	var got []string
	next := ""
	for range 5 {
		req := &slb.DescribeLoadBalancerListenersRequest{LoadBalancerId: []*string{tea.String(lbA)}, MaxResults: tea.Int32(2)}
		if next != "" {
			req.NextToken = tea.String(next)
		}
		resp, err := c.DescribeLoadBalancerListeners(req)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range resp.Body.Listeners {
			cfg := l.TCPListenerConfig
			if tea.StringValue(l.ListenerProtocol) == "udp" {
				cfg = nil
				if l.UDPListenerConfig == nil || l.TCPListenerConfig != nil {
					t.Errorf("UDP listener configs %+v", l)
				}
			} else if cfg == nil || tea.StringValue(cfg.HealthCheck) != "on" || tea.Int32Value(cfg.HealthCheckConnectPort) != 8081 {
				t.Errorf("TCP listener config %+v", cfg)
			}
			got = append(got, tea.StringValue(l.ListenerProtocol)+"/"+tea.ToString(tea.Int32Value(l.ListenerPort))+"/"+tea.StringValue(l.Status))
		}
		if tea.Int32Value(resp.Body.TotalCount) != 3 {
			t.Errorf("TotalCount %d", tea.Int32Value(resp.Body.TotalCount))
		}
		if next = tea.StringValue(resp.Body.NextToken); next == "" {
			break
		}
	}
	if !slices.Equal(got, []string{"udp/53/running", "tcp/80/running", "udp/80/stopped"}) {
		t.Errorf("listeners %v", got)
	}
	if resp, err := c.DescribeLoadBalancerListeners(&slb.DescribeLoadBalancerListenersRequest{ListenerProtocol: tea.String("udp"), ListenerPort: tea.Int32(80)}); err != nil ||
		len(resp.Body.Listeners) != 1 || tea.StringValue(resp.Body.Listeners[0].LoadBalancerId) != lbA {
		t.Errorf("udp/80 filter: %v %+v", err, resp)
	}

	// Backend servers.
	add, err := c.AddBackendServers(&slb.AddBackendServersRequest{LoadBalancerId: tea.String(lbA), BackendServers: backendsJSON(t,
		map[string]any{"ServerId": w.i1, "Weight": "100", "Type": "ecs", "Description": "first"},
		map[string]any{"ServerId": w.i2, "Weight": 50})})
	if err != nil {
		t.Fatal(err)
	}
	if bs := add.Body.BackendServers.BackendServer; tea.StringValue(add.Body.LoadBalancerId) != lbA || len(bs) != 2 ||
		tea.StringValue(bs[0].Weight) != "100" || tea.StringValue(bs[1].Weight) != "50" || tea.StringValue(bs[0].Description) != "first" || tea.StringValue(bs[1].Type) != "ecs" {
		t.Errorf("AddBackendServers %+v", add.Body)
	}
	before = w.env.Snapshot(t)
	for _, tc := range []struct {
		name    string
		servers *string
		status  int
		code    string
	}{
		{"other zone", backendsJSON(t, map[string]any{"ServerId": w.iB}), 400, "OperationDenied.BackendServerZone"},
		{"again", backendsJSON(t, map[string]any{"ServerId": w.i1, "Weight": "10"}), 400, "BackendServerAlreadyExists"},
		{"bob's instance", backendsJSON(t, map[string]any{"ServerId": w.bobInst}), 404, "InvalidInstanceId.NotFound"},
		{"eni", backendsJSON(t, map[string]any{"ServerId": "eni-1", "Type": "eni", "ServerIp": "10.0.1.9", "Port": "80"}), 400, "OperationUnsupported.BackendServerType"},
		{"weight 101", backendsJSON(t, map[string]any{"ServerId": w.iB, "Weight": 101}), 400, "InvalidParameter"},
		{"not json", tea.String("i-1,i-2"), 400, "InvalidParameter"},
		{"unknown field", backendsJSON(t, map[string]any{"ServerID": w.iB}), 400, "InvalidParameter"},
		{"none", nil, 400, "MissingParameter"},
	} {
		_, err := c.AddBackendServers(&slb.AddBackendServersRequest{LoadBalancerId: tea.String(lbA), BackendServers: tc.servers})
		wantSLBErr(t, "add "+tc.name, err, tc.status, tc.code)
	}
	_, err = c.RemoveBackendServers(&slb.RemoveBackendServersRequest{LoadBalancerId: tea.String(lbA), BackendServers: backendsJSON(t, map[string]any{"ServerId": w.iB})})
	wantSLBErr(t, "remove a stranger", err, 404, "ResourceNotFound.BackendServer")
	if after := w.env.Snapshot(t); !maps.Equal(before, after) {
		t.Error("a refused backend action changed the store")
	}
	set, err := c.SetBackendServers(&slb.SetBackendServersRequest{LoadBalancerId: tea.String(lbA), BackendServers: backendsJSON(t, map[string]any{"ServerId": w.i2, "Weight": "0"})})
	if err != nil {
		t.Fatal(err)
	}
	if bs := set.Body.BackendServers.BackendServer; len(bs) != 2 || tea.StringValue(bs[1].Weight) != "0" {
		t.Errorf("SetBackendServers %+v", set.Body)
	}
	attr, err := c.DescribeLoadBalancerAttribute(&slb.DescribeLoadBalancerAttributeRequest{LoadBalancerId: tea.String(lbA)})
	if err != nil {
		t.Fatal(err)
	}
	x := attr.Body
	var pp []string
	for _, l := range x.ListenerPortsAndProtocol.ListenerPortAndProtocol {
		pp = append(pp, tea.StringValue(l.ListenerProtocol)+"/"+tea.ToString(tea.Int32Value(l.ListenerPort)))
	}
	var ports []int32
	for _, p := range x.ListenerPorts.ListenerPort {
		ports = append(ports, tea.Int32Value(p))
	}
	if !slices.Equal(pp, []string{"udp/53", "tcp/80", "udp/80"}) || !slices.Equal(ports, []int32{53, 80}) ||
		len(x.ListenerPortsAndProtocal.ListenerPortAndProtocal) != 3 || tea.StringValue(x.ListenerPortsAndProtocal.ListenerPortAndProtocal[1].ListenerProtocal) != "tcp" {
		t.Errorf("listeners of the attribute: %v %v %+v", pp, ports, x.ListenerPortsAndProtocal)
	}
	if bs := x.BackendServers.BackendServer; len(bs) != 2 || tea.StringValue(bs[0].ServerId) != w.i1 || tea.Int32Value(bs[0].Weight) != 100 ||
		tea.Int32Value(bs[1].Weight) != 0 || tea.StringValue(bs[0].ServerIp) != "10.0.1.10" {
		t.Errorf("backends of the attribute: %+v", bs)
	}
	if tea.StringValue(x.LoadBalancerStatus) != "active" || tea.StringValue(x.Address) != "10.0.1.1" || tea.StringValue(x.MasterZoneId) != "local-a" ||
		tea.StringValue(x.DeleteProtection) != "off" || len(x.Tags.Tag) != 1 || tea.StringValue(x.Tags.Tag[0].TagKey) != "env" {
		t.Errorf("attribute %+v", x)
	}

	// Health: stopped listeners unavailable, running ones abnormal until
	// the agent of the zone reports.
	if h := w.health(t, lbA, 0, ""); !slices.Equal(h, []string{"udp/i1/abnormal", "udp/i2/abnormal", "tcp/i1/abnormal", "tcp/i2/abnormal", "udp/i1/unavailable", "udp/i2/unavailable"}) {
		t.Errorf("before a report: %v", h)
	}
	out, status, code := palisadeCall(t, w.env, w.env.Admin, "CreateAccessKey", map[string]string{"AgentZoneId": "local-a"})
	if status != 200 {
		t.Fatalf("agent key: %d %s", status, code)
	}
	agentA := apitest.Creds{AccessKeyID: out["AccessKeyId"].(string), Secret: out["AccessKeySecret"].(string), AccountID: w.env.Admin.AccountID}
	out, _, _ = palisadeCall(t, w.env, w.env.Admin, "CreateAccessKey", map[string]string{"AgentZoneId": "local-b"})
	agentB := apitest.Creds{AccessKeyID: out["AccessKeyId"].(string), Secret: out["AccessKeySecret"].(string), AccountID: w.env.Admin.AccountID}
	report := func(hs ...model.LBHealth) string {
		b, err := json.Marshal(hs)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	tcp80 := model.LBHealth{LoadBalancerID: lbA, Listeners: []model.LBListenerHealth{{Protocol: "tcp", Port: 80, Servers: []model.LBServerHealth{
		{ServerID: w.i1, Status: model.LBHealthNormal}, {ServerID: w.i2, Status: model.LBHealthAbnormal}}}}}
	before = w.env.Snapshot(t)
	for _, tc := range []struct {
		name   string
		who    apitest.Creds
		health string
		status int
		code   string
	}{
		{"tenant", w.alice, report(tcp80), 403, "Forbidden.NotAdmin"},
		{"agent of another zone", agentB, report(tcp80), 403, "Forbidden.AgentZone"},
		{"malformed", agentA, `[{"load_balancer_id":"x","extra":1}]`, 400, "InvalidParameter"},
		{"bad status", agentA, `[{"load_balancer_id":"` + lbA + `","listeners":[{"protocol":"tcp","port":80,"servers":[{"server_id":"i-1","status":"up"}]}]}]`, 400, "InvalidParameter"},
		{"missing", agentA, "", 400, "MissingParameter"},
	} {
		p := map[string]string{"Health": tc.health}
		if tc.health == "" {
			p = nil
		}
		if _, status, code := palisadeCall(t, w.env, tc.who, "PalisadeReportLoadBalancerHealth", p); status != tc.status || code != tc.code {
			t.Errorf("report %s: %d %s, want %d %s", tc.name, status, code, tc.status, tc.code)
		}
	}
	if after := w.env.Snapshot(t); !maps.Equal(before, after) {
		t.Error("a refused report changed the store")
	}
	if _, status, code := palisadeCall(t, w.env, agentA, "PalisadeReportLoadBalancerHealth", map[string]string{"Health": report(tcp80)}); status != 200 {
		t.Fatalf("agent report: %d %s", status, code)
	}
	if h := w.health(t, lbA, 80, "tcp"); !slices.Equal(h, []string{"tcp/i1/normal", "tcp/i2/abnormal"}) {
		t.Errorf("after the report: %v", h)
	}
	// Through the remote agent's mirror with the agent key.
	cl, err := apiclient.New(apiclient.Options{Endpoint: w.env.Endpoint, AccessKeyID: agentA.AccessKeyID, AccessKeySecret: agentA.Secret})
	if err != nil {
		t.Fatal(err)
	}
	tcp80.Listeners[0].Servers[1].Status = model.LBHealthNormal
	udp53 := model.LBListenerHealth{Protocol: "udp", Port: 53, Servers: []model.LBServerHealth{{ServerID: w.i1, Status: model.LBHealthNormal}}}
	tcp80.Listeners = append(tcp80.Listeners, udp53)
	if err := remote.New(cl, "local-a", nil).ReportLBHealth(context.Background(), []model.LBHealth{tcp80}); err != nil {
		t.Fatal(err)
	}
	if h := w.health(t, lbA, 0, ""); !slices.Equal(h, []string{"udp/i1/normal", "udp/i2/abnormal", "tcp/i1/normal", "tcp/i2/normal", "udp/i1/unavailable", "udp/i2/unavailable"}) {
		t.Errorf("after the mirror's report: %v", h)
	}
	if _, err := c.SetLoadBalancerStatus(&slb.SetLoadBalancerStatusRequest{LoadBalancerId: tea.String(lbA), LoadBalancerStatus: tea.String("inactive")}); err != nil {
		t.Fatal(err)
	}
	if h := w.health(t, lbA, 53, ""); !slices.Equal(h, []string{"udp/i1/unavailable", "udp/i2/unavailable"}) {
		t.Errorf("inactive: %v", h)
	}
	if _, err := c.SetLoadBalancerStatus(&slb.SetLoadBalancerStatusRequest{LoadBalancerId: tea.String(lbA), LoadBalancerStatus: tea.String("active")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.StopLoadBalancerListener(&slb.StopLoadBalancerListenerRequest{LoadBalancerId: tea.String(lbA), ListenerPort: tea.Int32(80), ListenerProtocol: tea.String("tcp")}); err != nil {
		t.Fatal(err)
	}
	if h := w.health(t, lbA, 80, "tcp"); !slices.Equal(h, []string{"tcp/i1/unavailable", "tcp/i2/unavailable"}) {
		t.Errorf("stopped: %v", h)
	}

	// Bob sees and touches nothing of alice's.
	bc := w.env.SLB(t, w.bob)
	_, err = bc.DescribeLoadBalancerAttribute(&slb.DescribeLoadBalancerAttributeRequest{LoadBalancerId: tea.String(lbA)})
	wantSLBErr(t, "bob describes", err, 404, "InvalidLoadBalancerId.NotFound")
	_, err = bc.DeleteLoadBalancer(&slb.DeleteLoadBalancerRequest{LoadBalancerId: tea.String(lbA)})
	wantSLBErr(t, "bob deletes", err, 404, "InvalidLoadBalancerId.NotFound")
	_, err = bc.AddBackendServers(&slb.AddBackendServersRequest{LoadBalancerId: tea.String(lbA), BackendServers: backendsJSON(t, map[string]any{"ServerId": w.bobInst})})
	wantSLBErr(t, "bob adds a backend", err, 404, "InvalidLoadBalancerId.NotFound")
	_, err = bc.DescribeHealthStatus(&slb.DescribeHealthStatusRequest{LoadBalancerId: tea.String(lbA)})
	wantSLBErr(t, "bob's health", err, 404, "InvalidLoadBalancerId.NotFound")
	_, err = bc.StartLoadBalancerListener(&slb.StartLoadBalancerListenerRequest{LoadBalancerId: tea.String(lbA), ListenerPort: tea.Int32(53)})
	wantSLBErr(t, "bob starts", err, 404, "InvalidLoadBalancerId.NotFound")
	if resp, err := bc.DescribeLoadBalancers(&slb.DescribeLoadBalancersRequest{}); err != nil || tea.Int32Value(resp.Body.TotalCount) != 0 || len(resp.Body.LoadBalancers.LoadBalancer) != 0 {
		t.Errorf("bob lists %v %+v", err, resp)
	}
	if resp, err := bc.DescribeLoadBalancerListeners(&slb.DescribeLoadBalancerListenersRequest{LoadBalancerId: []*string{tea.String(lbA)}}); err != nil || len(resp.Body.Listeners) != 0 {
		t.Errorf("bob lists listeners %v %+v", err, resp)
	}

	// Deleting an instance removes it from the load balancer.
	del := ecs.CreateDeleteInstanceRequest()
	del.InstanceId, del.Force = w.i2, requests.NewBoolean(true)
	if _, err := w.env.ECS(t, w.alice).DeleteInstance(del); err != nil {
		t.Fatal(err)
	}
	attr, err = c.DescribeLoadBalancerAttribute(&slb.DescribeLoadBalancerAttributeRequest{LoadBalancerId: tea.String(lbA)})
	if err != nil || len(attr.Body.BackendServers.BackendServer) != 1 || tea.StringValue(attr.Body.BackendServers.BackendServer[0].ServerId) != w.i1 {
		t.Errorf("after deleting i2: %v %+v", err, attr)
	}
	if _, err := c.RemoveBackendServers(&slb.RemoveBackendServersRequest{LoadBalancerId: tea.String(lbA), BackendServers: backendsJSON(t, map[string]any{"ServerId": w.i1})}); err != nil {
		t.Fatal(err)
	}

	// A vSwitch with a load balancer cannot be deleted.
	v := w.env.VPC(t, w.alice)
	vswC := createVSwitch(t, v, w.net.vpc, "10.0.3.0/24")
	onC := w.createLB(t, c, &slb.CreateLoadBalancerRequest{AddressType: tea.String("intranet"), VSwitchId: tea.String(vswC)})
	dv := vpc.CreateDeleteVSwitchRequest()
	dv.VSwitchId = vswC
	_, err = v.DeleteVSwitch(dv)
	wantSLBErr(t, "delete the vSwitch of a load balancer", err, 403, "DependencyViolation")
	if _, err := c.DeleteLoadBalancer(&slb.DeleteLoadBalancerRequest{LoadBalancerId: onC.LoadBalancerId}); err != nil {
		t.Fatal(err)
	}
	if _, err := v.DeleteVSwitch(dv); err != nil {
		t.Errorf("delete the vSwitch after its load balancer: %v", err)
	}

	// Delete protection; the address is given back.
	_, err = c.DeleteLoadBalancer(&slb.DeleteLoadBalancerRequest{LoadBalancerId: tea.String(lbB)})
	wantSLBErr(t, "delete a protected load balancer", err, 400, "OperationDenied.DeleteProtectionIsOn")
	_, err = c.SetLoadBalancerDeleteProtection(&slb.SetLoadBalancerDeleteProtectionRequest{LoadBalancerId: tea.String(lbB), DeleteProtection: tea.String("maybe")})
	wantSLBErr(t, "bad delete protection", err, 400, "InvalidParameter")
	if _, err := c.SetLoadBalancerDeleteProtection(&slb.SetLoadBalancerDeleteProtectionRequest{LoadBalancerId: tea.String(lbB), DeleteProtection: tea.String("off")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SetLoadBalancerName(&slb.SetLoadBalancerNameRequest{LoadBalancerId: tea.String(lbB), LoadBalancerName: tea.String("gone soon")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteLoadBalancer(&slb.DeleteLoadBalancerRequest{LoadBalancerId: tea.String(lbB)}); err != nil {
		t.Fatal(err)
	}
	if again := w.createLB(t, c, &slb.CreateLoadBalancerRequest{AddressType: tea.String("intranet"), VSwitchId: tea.String(w.net.vsw), Address: tea.String("10.0.1.50")}); tea.StringValue(again.Address) != "10.0.1.50" {
		t.Errorf("the address again: %+v", again)
	}
	// Deleting alice's lbA drops its health record too.
	if _, err := c.DeleteLoadBalancer(&slb.DeleteLoadBalancerRequest{LoadBalancerId: tea.String(lbA)}); err != nil {
		t.Fatal(err)
	}
	for k := range w.env.Snapshot(t) {
		if strings.HasPrefix(k, model.PrefixLBHealth) || k == model.PrefixLoadBalancer+lbA {
			t.Errorf("%s left after DeleteLoadBalancer", k)
		}
	}
	_ = api.VersionSLB
}
