package api_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	slb "github.com/alibabacloud-go/slb-20140515/v4/client"
	"github.com/alibabacloud-go/tea/tea"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/privatelink"

	"github.com/palisade-project/palisade/internal/api"
)

// plLB creates an intranet load balancer in vsw (at addr, "" for any)
// with the official SLB SDK and returns its ID.
func plLB(t *testing.T, c *slb.Client, vsw, addr string) string {
	t.Helper()
	req := &slb.CreateLoadBalancerRequest{VSwitchId: tea.String(vsw), AddressType: tea.String("intranet")}
	if addr != "" {
		req.Address = tea.String(addr)
	}
	resp, err := c.CreateLoadBalancer(req)
	if err != nil {
		t.Fatalf("CreateLoadBalancer: %v", err)
	}
	return tea.StringValue(resp.Body.LoadBalancerId)
}

// plLBListener gives load balancer lb a running TCP listener port ->
// backendPort with the servers as backends (weight 100, no health check).
func plLBListener(t *testing.T, c *slb.Client, lb string, port, backendPort int32, servers ...string) {
	t.Helper()
	if _, err := c.CreateLoadBalancerTCPListener(&slb.CreateLoadBalancerTCPListenerRequest{LoadBalancerId: tea.String(lb),
		ListenerPort: tea.Int32(port), BackendServerPort: tea.Int32(backendPort), Bandwidth: tea.Int32(-1), HealthCheckSwitch: tea.String("off")}); err != nil {
		t.Fatal(err)
	}
	var bs []map[string]any
	for _, s := range servers {
		bs = append(bs, map[string]any{"ServerId": s, "Weight": "100"})
	}
	if len(bs) > 0 {
		if _, err := c.AddBackendServers(&slb.AddBackendServersRequest{LoadBalancerId: tea.String(lb), BackendServers: backendsJSON(t, bs...)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.StartLoadBalancerListener(&slb.StartLoadBalancerListenerRequest{LoadBalancerId: tea.String(lb), ListenerPort: tea.Int32(port)}); err != nil {
		t.Fatal(err)
	}
}

// TestPrivateLinkSLBSDK: an endpoint service backed by internal load
// balancers, through the official PrivateLink and SLB SDKs: its type and
// zones, attach/detach/list with load balancers (any status), the
// refusals of mixed types, endpoints in the load balancers' zones, and a
// load balancer that cannot be deleted while it backs the service (its
// backend can).
func TestPrivateLinkSLBSDK(t *testing.T) {
	w := newPLWorld(t)
	env, pl := w.env, w.pl
	sc := env.SLB(t, w.provider)
	pVswB := createVSwitchIn(t, env.VPC(t, w.provider), w.pNet.vpc, "10.0.3.0/24", "local-b")
	lbA := plLB(t, sc, w.pNet.vsw, "10.0.1.100")
	lbB := plLB(t, sc, pVswB, "")
	plLBListener(t, sc, lbA, 80, 8080, w.inst1)

	req := privatelink.CreateCreateVpcEndpointServiceRequest()
	req.ServiceResourceType, req.AutoAcceptEnabled = "slb", requests.NewBoolean(true)
	req.Resource = &[]privatelink.CreateVpcEndpointServiceResource{{ResourceType: "slb", ResourceId: lbA, ZoneId: "local-a"}}
	created, err := pl.CreateVpcEndpointService(req)
	if err != nil {
		t.Fatal(err)
	}
	sid := created.ServiceId
	attr := privatelink.CreateGetVpcEndpointServiceAttributeRequest()
	attr.ServiceId = sid
	got, err := pl.GetVpcEndpointServiceAttribute(attr)
	if err != nil {
		t.Fatal(err)
	}
	if got.ServiceResourceType != "slb" || !slices.Equal(got.Zones, []string{"local-a"}) {
		t.Errorf("GetVpcEndpointServiceAttribute: type %q, zones %v", got.ServiceResourceType, got.Zones)
	}

	// Refusals: the other type, the wrong zone, a load balancer of another
	// account; an instance service takes no load balancer.
	att := func(typ, id, zone string) *privatelink.AttachResourceToVpcEndpointServiceRequest {
		r := privatelink.CreateAttachResourceToVpcEndpointServiceRequest()
		r.ServiceId, r.ResourceType, r.ResourceId, r.ZoneId = sid, typ, id, zone
		return r
	}
	_, err = pl.AttachResourceToVpcEndpointService(att("ecs", w.inst2, ""))
	wantSLBErr(t, "attach an instance", err, 400, "OperationDenied.ServiceResourceType")
	if err != nil && !strings.Contains(err.Error(), "ServiceResourceType slb") {
		t.Errorf("attach an instance: %v", err)
	}
	_, err = pl.AttachResourceToVpcEndpointService(att("slb", lbB, "local-a"))
	wantSLBErr(t, "attach in the wrong zone", err, 400, "IllegalParam.ZoneId")
	otherLB := plLB(t, env.SLB(t, w.consumer), w.cNet.vsw, "")
	_, err = pl.AttachResourceToVpcEndpointService(att("slb", otherLB, ""))
	wantSLBErr(t, "attach another account's", err, 404, "InvalidLoadBalancerId.NotFound")
	ecsSvc := createPLService(t, pl, false, w.inst2)
	bad := att("slb", lbB, "")
	bad.ServiceId = ecsSvc.ServiceId
	_, err = pl.AttachResourceToVpcEndpointService(bad)
	wantSLBErr(t, "a load balancer to an ecs service", err, 400, "OperationDenied.ServiceResourceType")

	// lbB, inactive: any status does.
	if _, err := sc.SetLoadBalancerStatus(&slb.SetLoadBalancerStatusRequest{LoadBalancerId: tea.String(lbB), LoadBalancerStatus: tea.String("inactive")}); err != nil {
		t.Fatal(err)
	}
	if _, err := pl.AttachResourceToVpcEndpointService(att("slb", lbB, "local-b")); err != nil {
		t.Fatal(err)
	}
	rl := privatelink.CreateListVpcEndpointServiceResourcesRequest()
	rl.ServiceId = sid
	res, err := pl.ListVpcEndpointServiceResources(rl)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]privatelink.Resource{}
	for _, r := range res.Resources {
		byID[r.ResourceId] = r
	}
	if r := byID[lbA]; len(res.Resources) != 2 || r.ResourceType != "slb" || r.ZoneId != "local-a" || r.Ip != "10.0.1.100" ||
		r.VpcId != w.pNet.vpc || r.VSwitchId != w.pNet.vsw || r.RegionId != "local" {
		t.Errorf("resources: %+v", res.Resources)
	}
	if r := byID[lbB]; r.ResourceType != "slb" || r.ZoneId != "local-b" || r.VSwitchId != pVswB || !strings.HasPrefix(r.Ip, "10.0.3.") {
		t.Errorf("resource %s: %+v", lbB, r)
	}
	list := func(typ string) []string {
		t.Helper()
		q := privatelink.CreateListVpcEndpointServicesRequest()
		q.ServiceResourceType = typ
		resp, err := pl.ListVpcEndpointServices(q)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, s := range resp.Services {
			ids = append(ids, s.ServiceId+"/"+s.ServiceResourceType)
		}
		return ids
	}
	if l := list("slb"); !slices.Equal(l, []string{sid + "/slb"}) {
		t.Errorf("ServiceResourceType slb: %v", l)
	}
	if l := list("ecs"); !slices.Equal(l, []string{ecsSvc.ServiceId + "/ecs"}) {
		t.Errorf("ServiceResourceType ecs: %v", l)
	}

	// An endpoint in both zones of the load balancers.
	addPLUser(t, pl, sid, w.consumer.AccountID)
	ep := createPLEndpoint(t, w.cl, w.cNet.vpc, w.cNet.sg, sid,
		privatelink.CreateVpcEndpointZone{ZoneId: "local-a", VSwitchId: w.cNet.vsw}, privatelink.CreateVpcEndpointZone{ZoneId: "local-b", VSwitchId: w.cVswB})
	if ep.ConnectionStatus != "Connected" || len(plZones(t, w.cl, ep.EndpointId)) != 2 {
		t.Errorf("endpoint: %+v", ep)
	}

	// Deletion: not the load balancer that backs the service; its backend
	// may go (it leaves the load balancer).
	_, err = sc.DeleteLoadBalancer(&slb.DeleteLoadBalancerRequest{LoadBalancerId: tea.String(lbA)})
	wantSLBErr(t, "delete the service's load balancer", err, 403, "DependencyViolation.VpcEndpointService")
	del := ecs.CreateDeleteInstanceRequest()
	del.InstanceId, del.Force = w.inst1, requests.NewBoolean(true)
	if _, err := env.ECS(t, w.provider).DeleteInstance(del); err != nil {
		t.Fatalf("delete the load balancer's backend: %v", err)
	}
	a, err := sc.DescribeLoadBalancerAttribute(&slb.DescribeLoadBalancerAttributeRequest{LoadBalancerId: tea.String(lbA)})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(a.Body.BackendServers.BackendServer); n != 0 {
		t.Errorf("backends after the instance's deletion: %d", n)
	}

	// Detach: of the service's type only; then lbB may be deleted.
	det := func(typ, id string) *privatelink.DetachResourceFromVpcEndpointServiceRequest {
		r := privatelink.CreateDetachResourceFromVpcEndpointServiceRequest()
		r.ServiceId, r.ResourceType, r.ResourceId = sid, typ, id
		return r
	}
	_, err = pl.DetachResourceFromVpcEndpointService(det("ecs", lbB))
	wantSLBErr(t, "detach as ecs", err, 400, "OperationDenied.ServiceResourceType")
	if _, err := pl.DetachResourceFromVpcEndpointService(det("slb", lbB)); err != nil {
		t.Fatal(err)
	}
	if _, err := sc.DeleteLoadBalancer(&slb.DeleteLoadBalancerRequest{LoadBalancerId: tea.String(lbB)}); err != nil {
		t.Errorf("delete the detached load balancer: %v", err)
	}
	if got, err := pl.GetVpcEndpointServiceAttribute(attr); err != nil || !slices.Equal(got.Zones, []string{"local-a"}) {
		t.Errorf("zones after the detach: %v %v", err, got.Zones)
	}

	// A service of load balancers without any yet keeps its type.
	empty := privatelink.CreateCreateVpcEndpointServiceRequest()
	empty.ServiceResourceType = "slb"
	e, err := pl.CreateVpcEndpointService(empty)
	if err != nil {
		t.Fatal(err)
	}
	attr.ServiceId = e.ServiceId
	if got, err := pl.GetVpcEndpointServiceAttribute(attr); err != nil || got.ServiceResourceType != "slb" || len(got.Zones) != 0 {
		t.Errorf("empty slb service: %v %+v", err, got)
	}
	nlb := privatelink.CreateCreateVpcEndpointServiceRequest()
	nlb.ServiceResourceType = "nlb"
	_, err = pl.CreateVpcEndpointService(nlb)
	wantSLBErr(t, "nlb", err, 400, "OperationUnsupported.ServiceResourceType")
	if err != nil && !strings.Contains(err.Error(), "(slb") {
		t.Errorf("nlb refusal does not name slb: %v", err)
	}
}

// TestAnalyzeEndpointLoadBalancerSDK: AnalyzeReachability follows an
// endpoint of the account's own service backed by a load balancer (made
// with the official SDKs) to the listener and its backend, which sees the
// transit address on the backend port: blocked until the backend's group
// admits 100.64.0.0/10 on it (the audit reports it meanwhile), reachable
// after; a port without listener is dropped at the load balancer. An
// endpoint of another account's service ends at the endpoint.
func TestAnalyzeEndpointLoadBalancerSDK(t *testing.T) {
	w := newPLWorld(t)
	env := w.env
	pe := env.ECS(t, w.provider)
	sc := env.SLB(t, w.provider)
	// The backend's group admits 8080 from its VPC only.
	auth := ecs.CreateAuthorizeSecurityGroupRequest()
	auth.SecurityGroupId = w.pNet.sg
	auth.Permissions = &[]ecs.AuthorizeSecurityGroupPermissions{{IpProtocol: "tcp", PortRange: "8080/8080", SourceCidrIp: "10.0.0.0/16"}}
	if _, err := pe.AuthorizeSecurityGroup(auth); err != nil {
		t.Fatal(err)
	}
	lb := plLB(t, sc, w.pNet.vsw, "10.0.1.100")
	plLBListener(t, sc, lb, 80, 8080, w.inst1)
	req := privatelink.CreateCreateVpcEndpointServiceRequest()
	req.ServiceResourceType, req.AutoAcceptEnabled = "slb", requests.NewBoolean(true)
	req.Resource = &[]privatelink.CreateVpcEndpointServiceResource{{ResourceType: "slb", ResourceId: lb}}
	svc, err := w.pl.CreateVpcEndpointService(req)
	if err != nil {
		t.Fatal(err)
	}
	// The provider's own client VPC (same CIDR) with an endpoint that
	// admits tcp 80.
	own := newNet(t, env, w.provider, "10.0.0.0/16", "10.0.1.0/24")
	auth = ecs.CreateAuthorizeSecurityGroupRequest()
	auth.SecurityGroupId = own.sg
	auth.Permissions = &[]ecs.AuthorizeSecurityGroupPermissions{{IpProtocol: "tcp", PortRange: "80/80", SourceCidrIp: "10.0.0.0/16"}}
	if _, err := pe.AuthorizeSecurityGroup(auth); err != nil {
		t.Fatal(err)
	}
	client := runInstance(t, pe, own.vsw, createSG(t, pe, own.vpc, "client", ""), "10.0.1.20")
	ep := createPLEndpoint(t, w.pl, own.vpc, own.sg, svc.ServiceId, privatelink.CreateVpcEndpointZone{ZoneId: "local-a", VSwitchId: own.vsw, Ip: "10.0.1.50"})

	type result struct {
		Verdict string
		Paths   []struct {
			Steps []struct {
				Point, Resource, Detail string
				Allow                   bool
			}
			Backend    *struct{ Instance, Address string }
			Translated string
		}
	}
	reach := func(who string, p map[string]string) result {
		t.Helper()
		creds := w.provider
		if who == "consumer" {
			creds = w.consumer
		}
		out, err := env.Common(t, creds, api.VersionPalisade, "AnalyzeReachability", p)
		if err != nil {
			t.Fatalf("AnalyzeReachability %v: %v", p, err)
		}
		b, _ := json.Marshal(out)
		var r result
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	firstDenied := func(r result) string {
		for _, s := range r.Paths[0].Steps {
			if !s.Allow {
				return s.Point + ": " + s.Detail
			}
		}
		return ""
	}
	q := map[string]string{"From": client, "To": "10.0.1.50", "Protocol": "tcp", "Port": "80"}
	r := reach("provider", q)
	if len(r.Paths) != 1 || r.Verdict != "unreachable" || !strings.HasPrefix(firstDenied(r), "sg-ingress: no ingress rule matched") {
		t.Fatalf("backend without a transit rule: %s %q", r.Verdict, firstDenied(r))
	}
	p := r.Paths[0]
	if p.Backend == nil || p.Backend.Instance != w.inst1 || p.Translated != "tcp 100.64.0.1:49152 -> 10.0.1.10:8080" {
		t.Errorf("path: backend %+v, translated %q", p.Backend, p.Translated)
	}
	var points []string
	for _, s := range p.Steps {
		points = append(points, s.Point)
	}
	if !slices.Equal(points[len(points)-5:], []string{"privatelink", "load-balancer", "lb-backend", "acl-ingress", "sg-ingress"}) {
		t.Errorf("steps: %v", points)
	}
	audit, err := env.Common(t, w.provider, api.VersionPalisade, "AuditSecurity", nil)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, f := range audit["Findings"].([]any) {
		m := f.(map[string]any)
		found = found || (m["Code"] == "privatelink-backend-refuses-transit" && m["Resource"] == w.inst1 && strings.Contains(m["Message"].(string), lb))
	}
	if !found {
		t.Errorf("audit: %s", jsonText(t, audit))
	}

	// The transit range admitted on 8080: reachable, by the endpoint's ID
	// too; port 22 has no listener.
	auth = ecs.CreateAuthorizeSecurityGroupRequest()
	auth.SecurityGroupId = w.pNet.sg
	auth.Permissions = &[]ecs.AuthorizeSecurityGroupPermissions{{IpProtocol: "tcp", PortRange: "8080/8080", SourceCidrIp: "100.64.0.0/10"}}
	if _, err := pe.AuthorizeSecurityGroup(auth); err != nil {
		t.Fatal(err)
	}
	if r := reach("provider", map[string]string{"From": client, "To": ep.EndpointId, "Protocol": "tcp", "Port": "80"}); r.Verdict != "reachable" {
		t.Errorf("with the transit rule: %s %q", r.Verdict, firstDenied(r))
	}
	auth.Permissions = &[]ecs.AuthorizeSecurityGroupPermissions{{IpProtocol: "tcp", PortRange: "22/22", SourceCidrIp: "10.0.0.0/16"}}
	auth.SecurityGroupId = own.sg
	if _, err := pe.AuthorizeSecurityGroup(auth); err != nil {
		t.Fatal(err)
	}
	q["Port"] = "22"
	if r := reach("provider", q); r.Verdict != "unreachable" || !strings.Contains(firstDenied(r), "load-balancer: dropped by load balancer "+lb+": no running tcp listener on port 22") {
		t.Errorf("port 22: %s %q", r.Verdict, firstDenied(r))
	}
	audit, err = env.Common(t, w.provider, api.VersionPalisade, "AuditSecurity", nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(jsonText(t, audit), "privatelink-backend-refuses-transit") {
		t.Errorf("audit with the transit rule: %s", jsonText(t, audit))
	}

	// The consumer account's endpoint: its side only.
	addPLUser(t, w.pl, svc.ServiceId, w.consumer.AccountID)
	cInst := runInstance(t, env.ECS(t, w.consumer), w.cNet.vsw, w.cSG2, "")
	auth = ecs.CreateAuthorizeSecurityGroupRequest()
	auth.SecurityGroupId = w.cNet.sg
	auth.Permissions = &[]ecs.AuthorizeSecurityGroupPermissions{{IpProtocol: "tcp", PortRange: "80/80", SourceCidrIp: "10.0.0.0/16"}}
	if _, err := env.ECS(t, w.consumer).AuthorizeSecurityGroup(auth); err != nil {
		t.Fatal(err)
	}
	cep := createPLEndpoint(t, w.cl, w.cNet.vpc, w.cNet.sg, svc.ServiceId, privatelink.CreateVpcEndpointZone{VSwitchId: w.cNet.vsw})
	r = reach("consumer", map[string]string{"From": cInst, "To": cep.EndpointId, "Protocol": "tcp", "Port": "80"})
	last := r.Paths[0].Steps[len(r.Paths[0].Steps)-1]
	if len(r.Paths) != 1 || r.Paths[0].Backend != nil || last.Point != "destination" || strings.Contains(jsonText(t, r), lb) ||
		!strings.Contains(last.Detail, "not analysed here") {
		t.Errorf("consumer's view: %s", jsonText(t, r))
	}
}
