package api_test

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/privatelink"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/vpc"

	"github.com/palisade-project/palisade/internal/api"
	"github.com/palisade-project/palisade/internal/apitest"
	"github.com/palisade-project/palisade/internal/model"
)

// plWorld is a provider account with two instances (zones local-a and
// local-b) in one VPC, and a consumer account with a VPC of the same CIDR
// and a vSwitch in each zone.
type plWorld struct {
	env                *apitest.Env
	provider, consumer apitest.Creds
	pl, cl             *privatelink.Client // provider's, consumer's
	pNet, cNet         netFixture
	inst1, inst2       string // provider instances in local-a, local-b
	cVswB              string // consumer vSwitch in local-b
	cSG2               string // a second consumer group
}

func createVSwitchIn(t *testing.T, c *vpc.Client, vpcID, cidr, zone string) string {
	t.Helper()
	req := vpc.CreateCreateVSwitchRequest()
	req.VpcId, req.CidrBlock, req.ZoneId = vpcID, cidr, zone
	resp, err := c.CreateVSwitch(req)
	if err != nil {
		t.Fatalf("CreateVSwitch %s: %v", cidr, err)
	}
	return resp.VSwitchId
}

func newPLWorld(t *testing.T) *plWorld {
	t.Helper()
	env := apitest.Start(t)
	// A second zone, as an agent would register it.
	env.PutRecord(t, model.PrefixZoneStatus+"local-b", model.ZoneStatus{ZoneID: "local-b", Host: "b", LastSeen: time.Now()})
	w := &plWorld{env: env, provider: env.NewAccount(t, "provider"), consumer: env.NewAccount(t, "consumer")}
	w.pl, w.cl = env.PrivateLink(t, w.provider), env.PrivateLink(t, w.consumer)
	w.pNet = newNet(t, env, w.provider, "10.0.0.0/16", "10.0.1.0/24")
	pe := env.ECS(t, w.provider)
	w.inst1 = runInstance(t, pe, w.pNet.vsw, w.pNet.sg, "10.0.1.10")
	w.inst2 = runInstance(t, pe, createVSwitchIn(t, env.VPC(t, w.provider), w.pNet.vpc, "10.0.2.0/24", "local-b"), w.pNet.sg, "")
	w.cNet = newNet(t, env, w.consumer, "10.0.0.0/16", "10.0.1.0/24")
	w.cVswB = createVSwitchIn(t, env.VPC(t, w.consumer), w.cNet.vpc, "10.0.2.0/24", "local-b")
	w.cSG2 = createSG(t, env.ECS(t, w.consumer), w.cNet.vpc, "second", "")
	return w
}

func createPLService(t *testing.T, c *privatelink.Client, autoAccept bool, instances ...string) privatelink.CreateVpcEndpointServiceResponse {
	t.Helper()
	req := privatelink.CreateCreateVpcEndpointServiceRequest()
	req.ServiceResourceType, req.AutoAcceptEnabled = "ecs", requests.NewBoolean(autoAccept)
	var res []privatelink.CreateVpcEndpointServiceResource
	for _, id := range instances {
		res = append(res, privatelink.CreateVpcEndpointServiceResource{ResourceType: "ecs", ResourceId: id})
	}
	if res != nil {
		req.Resource = &res
	}
	resp, err := c.CreateVpcEndpointService(req)
	if err != nil {
		t.Fatalf("CreateVpcEndpointService: %v", err)
	}
	return *resp
}

func addPLUser(t *testing.T, c *privatelink.Client, serviceID, account string) {
	t.Helper()
	req := privatelink.CreateAddUserToVpcEndpointServiceRequest()
	req.ServiceId, req.UserId = serviceID, requests.Integer(account)
	if _, err := c.AddUserToVpcEndpointService(req); err != nil {
		t.Fatalf("AddUserToVpcEndpointService: %v", err)
	}
}

func createPLEndpoint(t *testing.T, c *privatelink.Client, vpcID, sg, serviceID string, zones ...privatelink.CreateVpcEndpointZone) privatelink.CreateVpcEndpointResponse {
	t.Helper()
	req := privatelink.CreateCreateVpcEndpointRequest()
	req.VpcId, req.ServiceId, req.SecurityGroupId, req.Zone = vpcID, serviceID, &[]string{sg}, &zones
	resp, err := c.CreateVpcEndpoint(req)
	if err != nil {
		t.Fatalf("CreateVpcEndpoint: %v", err)
	}
	return *resp
}

func plConnections(t *testing.T, c *privatelink.Client, serviceID string) []privatelink.Connection {
	t.Helper()
	req := privatelink.CreateListVpcEndpointConnectionsRequest()
	req.ServiceId = serviceID
	resp, err := c.ListVpcEndpointConnections(req)
	if err != nil {
		t.Fatalf("ListVpcEndpointConnections: %v", err)
	}
	if resp.TotalCount != strconv.Itoa(len(resp.Connections)) {
		t.Errorf("TotalCount %s for %d connections", resp.TotalCount, len(resp.Connections))
	}
	return resp.Connections
}

func plEndpoint(t *testing.T, c *privatelink.Client, id string) *privatelink.GetVpcEndpointAttributeResponse {
	t.Helper()
	req := privatelink.CreateGetVpcEndpointAttributeRequest()
	req.EndpointId = id
	resp, err := c.GetVpcEndpointAttribute(req)
	if err != nil {
		t.Fatalf("GetVpcEndpointAttribute %s: %v", id, err)
	}
	return resp
}

func plZones(t *testing.T, c *privatelink.Client, id string) []privatelink.Zone {
	t.Helper()
	req := privatelink.CreateListVpcEndpointZonesRequest()
	req.EndpointId = id
	resp, err := c.ListVpcEndpointZones(req)
	if err != nil {
		t.Fatalf("ListVpcEndpointZones %s: %v", id, err)
	}
	return resp.Zones
}

func TestPrivateLinkLifecycleSDK(t *testing.T) {
	w := newPLWorld(t)
	env, pl, cl := w.env, w.pl, w.cl
	ce := env.ECS(t, w.consumer)

	// The provider's service: one instance, a description and a tag.
	req := privatelink.CreateCreateVpcEndpointServiceRequest()
	req.ServiceResourceType, req.ServiceDescription, req.ResourceGroupId = "ecs", "orders API", "rg-1"
	req.Resource = &[]privatelink.CreateVpcEndpointServiceResource{{ResourceType: "ecs", ResourceId: w.inst1, ZoneId: "local-a"}}
	req.Tag = &[]privatelink.CreateVpcEndpointServiceTag{{Key: "team", Value: "orders"}}
	created, err := pl.CreateVpcEndpointService(req)
	if err != nil {
		t.Fatal(err)
	}
	sid := created.ServiceId
	if !strings.HasPrefix(sid, "epsrv-") || created.ServiceName != "com.aliyuncs.privatelink.local."+sid ||
		created.ServiceDomain != sid+".local.privatelink.palisade.local" || created.ServiceStatus != "Active" ||
		created.ServiceBusinessStatus != "Normal" || created.AutoAcceptEnabled || created.ServiceDescription != "orders API" ||
		created.CreateTime == "" || created.ResourceGroupId != "rg-1" || created.RequestId == "" {
		t.Fatalf("CreateVpcEndpointService: %+v", created)
	}
	attr := privatelink.CreateGetVpcEndpointServiceAttributeRequest()
	attr.ServiceId = sid
	got, err := pl.GetVpcEndpointServiceAttribute(attr)
	if err != nil {
		t.Fatal(err)
	}
	if got.ServiceId != sid || got.ServiceResourceType != "ecs" || got.ServiceType != "Interface" || got.Payer != "Endpoint" ||
		!slices.Equal(got.Zones, []string{"local-a"}) || got.RegionId != "local" || got.ServiceDomain != created.ServiceDomain {
		t.Errorf("GetVpcEndpointServiceAttribute: %+v", got)
	}
	up := privatelink.CreateUpdateVpcEndpointServiceAttributeRequest()
	up.ServiceId, up.ServiceDescription = sid, "orders API v2"
	if _, err := pl.UpdateVpcEndpointServiceAttribute(up); err != nil {
		t.Fatal(err)
	}

	// The second instance, in local-b.
	att := privatelink.CreateAttachResourceToVpcEndpointServiceRequest()
	att.ServiceId, att.ResourceId, att.ResourceType, att.ZoneId = sid, w.inst2, "ecs", "local-b"
	if _, err := pl.AttachResourceToVpcEndpointService(att); err != nil {
		t.Fatal(err)
	}
	if _, err := pl.AttachResourceToVpcEndpointService(att); err != nil { // again: nothing changes
		t.Fatal(err)
	}
	rl := privatelink.CreateListVpcEndpointServiceResourcesRequest()
	rl.ServiceId = sid
	res, err := pl.ListVpcEndpointServiceResources(rl)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Resources) != 2 || res.MaxResults != 50 {
		t.Fatalf("resources: %+v", res)
	}
	byID := map[string]privatelink.Resource{}
	for _, r := range res.Resources {
		byID[r.ResourceId] = r
	}
	if r := byID[w.inst1]; r.ResourceType != "ecs" || r.ZoneId != "local-a" || r.VpcId != w.pNet.vpc || r.VSwitchId != w.pNet.vsw || r.Ip != "10.0.1.10" || r.RegionId != "local" {
		t.Errorf("resource 1: %+v", r)
	}
	if r := byID[w.inst2]; r.ZoneId != "local-b" || r.VpcId != w.pNet.vpc {
		t.Errorf("resource 2: %+v", r)
	}
	rl.ZoneId = "local-b"
	if res, err := pl.ListVpcEndpointServiceResources(rl); err != nil || len(res.Resources) != 1 || res.Resources[0].ResourceId != w.inst2 {
		t.Errorf("resources in local-b: %v %+v", err, res)
	}
	got, _ = pl.GetVpcEndpointServiceAttribute(attr)
	if !slices.Equal(got.Zones, []string{"local-a", "local-b"}) || got.ServiceDescription != "orders API v2" {
		t.Errorf("after attach and update: %+v", got)
	}

	// The consumer sees nothing until the provider lists it as a user.
	byUser := privatelink.CreateListVpcEndpointServicesByEndUserRequest()
	if l, err := cl.ListVpcEndpointServicesByEndUser(byUser); err != nil || len(l.Services) != 0 || l.TotalCount != "0" {
		t.Fatalf("consumer's services before: %v %+v", err, l)
	}
	if l, err := pl.ListVpcEndpointServicesByEndUser(byUser); err != nil || len(l.Services) != 1 {
		t.Fatalf("owner's usable services: %v %+v", err, l)
	}
	addPLUser(t, pl, sid, w.consumer.AccountID)
	addPLUser(t, pl, sid, w.consumer.AccountID) // again: listed once
	addPLUser(t, pl, sid, w.provider.AccountID) // the owner: never listed
	ul := privatelink.CreateListVpcEndpointServiceUsersRequest()
	ul.ServiceId = sid
	users, err := pl.ListVpcEndpointServiceUsers(ul)
	if err != nil {
		t.Fatal(err)
	}
	if len(users.Users) != 1 || strconv.FormatInt(users.Users[0].UserId, 10) != w.consumer.AccountID || users.TotalCount != "1" || users.UserARNs == nil {
		t.Fatalf("users: %+v", users)
	}
	l, err := cl.ListVpcEndpointServicesByEndUser(byUser)
	if err != nil || len(l.Services) != 1 {
		t.Fatalf("consumer's services after: %v %+v", err, l)
	}
	if s := l.Services[0]; s.ServiceId != sid || s.ServiceName != created.ServiceName || s.ServiceDomain != created.ServiceDomain ||
		!slices.Equal(s.Zones, []string{"local-a", "local-b"}) || s.ServiceType != "Interface" || len(s.Tags) != 1 || s.Tags[0].Key != "team" {
		t.Errorf("usable service: %+v", s)
	}
	if l, err := cl.ListVpcEndpointServices(privatelink.CreateListVpcEndpointServicesRequest()); err != nil || len(l.Services) != 0 || l.TotalCount != 0 {
		t.Errorf("consumer lists services it does not own: %v %+v", err, l)
	}
	if l, err := pl.ListVpcEndpointServices(privatelink.CreateListVpcEndpointServicesRequest()); err != nil || len(l.Services) != 1 || l.TotalCount != 1 ||
		l.Services[0].ServiceDescription != "orders API v2" || l.Services[0].AutoAcceptEnabled {
		t.Errorf("provider's services: %v %+v", err, l)
	}

	// The consumer's endpoint, by service name, in local-a with a given
	// address: awaiting acceptance.
	ereq := privatelink.CreateCreateVpcEndpointRequest()
	ereq.VpcId, ereq.ServiceName, ereq.EndpointName, ereq.EndpointDescription = w.cNet.vpc, created.ServiceName, "orders", "to orders"
	ereq.SecurityGroupId = &[]string{w.cNet.sg}
	ereq.Zone = &[]privatelink.CreateVpcEndpointZone{{ZoneId: "local-a", VSwitchId: w.cNet.vsw, Ip: "10.0.1.100"}}
	ereq.EndpointType = "Interface"
	ep, err := cl.CreateVpcEndpoint(ereq)
	if err != nil {
		t.Fatal(err)
	}
	eid := ep.EndpointId
	if !strings.HasPrefix(eid, "ep-") || ep.ConnectionStatus != "Disconnected" || ep.EndpointStatus != "Active" || ep.ServiceId != sid ||
		ep.ServiceName != created.ServiceName || ep.VpcId != w.cNet.vpc || ep.EndpointDomain != eid+"."+created.ServiceDomain ||
		ep.EndpointName != "orders" || ep.EndpointDescription != "to orders" || ep.CreateTime == "" || ep.EndpointBusinessStatus != "Normal" {
		t.Fatalf("CreateVpcEndpoint: %+v", ep)
	}
	if a := plEndpoint(t, cl, eid); a.EndpointId != eid || a.EndpointType != "Interface" || a.ConnectionStatus != "Disconnected" ||
		a.ResourceOwner || a.ZonePrivateIpAddressCount != 1 || a.EndpointDomain != ep.EndpointDomain || a.RegionId != "local" || a.VpcId != w.cNet.vpc {
		t.Errorf("GetVpcEndpointAttribute: %+v", a)
	}
	zones := plZones(t, cl, eid)
	if len(zones) != 1 || zones[0].ZoneId != "local-a" || zones[0].VSwitchId != w.cNet.vsw || zones[0].EniIp != "10.0.1.100" ||
		!strings.HasPrefix(zones[0].EniId, "eni-") || zones[0].ZoneDomain != eid+"-local-a."+created.ServiceDomain || zones[0].ZoneStatus != "Disconnected" {
		t.Fatalf("zones: %+v", zones)
	}
	epENI := zones[0].EniId
	sgl := privatelink.CreateListVpcEndpointSecurityGroupsRequest()
	sgl.EndpointId = eid
	if g, err := cl.ListVpcEndpointSecurityGroups(sgl); err != nil || len(g.SecurityGroups) != 1 || g.SecurityGroups[0].SecurityGroupId != w.cNet.sg {
		t.Errorf("security groups: %v %+v", err, g)
	}
	if l, err := cl.ListVpcEndpoints(privatelink.CreateListVpcEndpointsRequest()); err != nil || l.TotalCount != 1 || len(l.Endpoints) != 1 ||
		l.Endpoints[0].EndpointId != eid || l.Endpoints[0].EndpointType != "Interface" || l.Endpoints[0].ServiceId != sid {
		t.Errorf("ListVpcEndpoints: %v %+v", err, l)
	}
	if l, err := pl.ListVpcEndpoints(privatelink.CreateListVpcEndpointsRequest()); err != nil || len(l.Endpoints) != 0 {
		t.Errorf("the provider lists the consumer's endpoint: %v %+v", err, l)
	}

	// The endpoint's ENI: the consumer's, listed, service-managed.
	eni := describeENI(t, ce, epENI)
	if !eni.ServiceManaged || eni.Status != "InUse" || eni.InstanceId != "" || eni.Type != "Secondary" || eni.VpcId != w.cNet.vpc ||
		eni.VSwitchId != w.cNet.vsw || eni.PrivateIpAddress != "10.0.1.100" || eni.Description != "PrivateLink endpoint "+eid ||
		!slices.Equal(eni.SecurityGroupIds.SecurityGroupId, []string{w.cNet.sg}) || !strings.HasPrefix(eni.MacAddress, "00:16:3e:") ||
		eni.OwnerId != w.consumer.AccountID {
		t.Errorf("endpoint ENI: %+v", eni)
	}

	// The provider's view: one connection awaiting acceptance.
	conns := plConnections(t, pl, sid)
	if len(conns) != 1 {
		t.Fatalf("connections: %+v", conns)
	}
	c := conns[0]
	if c.EndpointId != eid || strconv.FormatInt(c.EndpointOwnerId, 10) != w.consumer.AccountID || c.EndpointVpcId != w.cNet.vpc ||
		c.ConnectionStatus != "Disconnected" || c.ServiceId != sid || c.ResourceOwner || c.ModifiedTime == "" ||
		len(c.Zones) != 1 || c.Zones[0].ZoneId != "local-a" || c.Zones[0].EniIp != "100.64.0.1" || c.Zones[0].EniId != "" || c.Zones[0].VSwitchId != "" {
		t.Errorf("connection: %+v", c)
	}
	toggle := func(enable bool) {
		t.Helper()
		var err error
		if enable {
			r := privatelink.CreateEnableVpcEndpointConnectionRequest()
			r.ServiceId, r.EndpointId = sid, eid
			_, err = pl.EnableVpcEndpointConnection(r)
		} else {
			r := privatelink.CreateDisableVpcEndpointConnectionRequest()
			r.ServiceId, r.EndpointId = sid, eid
			_, err = pl.DisableVpcEndpointConnection(r)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	toggle(true)
	if a := plEndpoint(t, cl, eid); a.ConnectionStatus != "Connected" {
		t.Errorf("after enable: %s", a.ConnectionStatus)
	}
	if z := plZones(t, cl, eid); z[0].ZoneStatus != "Connected" {
		t.Errorf("zone after enable: %+v", z)
	}
	toggle(true) // again: nothing changes
	toggle(false)
	if conns := plConnections(t, pl, sid); conns[0].ConnectionStatus != "Disconnected" {
		t.Errorf("after disable: %+v", conns)
	}
	toggle(true)
	cf := privatelink.CreateListVpcEndpointConnectionsRequest()
	cf.ServiceId, cf.ConnectionStatus = sid, "Disconnected"
	if r, err := pl.ListVpcEndpointConnections(cf); err != nil || len(r.Connections) != 0 {
		t.Errorf("connections filtered by status: %v %+v", err, r)
	}

	// A second zone, a second group, a new name.
	az := privatelink.CreateAddZoneToVpcEndpointRequest()
	az.EndpointId, az.ZoneId, az.VSwitchId = eid, "local-b", w.cVswB
	if _, err := cl.AddZoneToVpcEndpoint(az); err != nil {
		t.Fatal(err)
	}
	zones = plZones(t, cl, eid)
	if len(zones) != 2 || zones[1].ZoneId != "local-b" || zones[1].EniIp != "10.0.2.1" || zones[1].VSwitchId != w.cVswB {
		t.Fatalf("zones after AddZone: %+v", zones)
	}
	if c := plConnections(t, pl, sid)[0]; len(c.Zones) != 2 || c.Zones[1].EniIp != "100.64.0.2" {
		t.Errorf("transit addresses: %+v", c.Zones)
	}
	asg := privatelink.CreateAttachSecurityGroupToVpcEndpointRequest()
	asg.EndpointId, asg.SecurityGroupId = eid, w.cSG2
	if _, err := cl.AttachSecurityGroupToVpcEndpoint(asg); err != nil {
		t.Fatal(err)
	}
	for _, z := range plZones(t, cl, eid) {
		if g := describeENI(t, ce, z.EniId).SecurityGroupIds.SecurityGroupId; !slices.Equal(g, []string{w.cNet.sg, w.cSG2}) {
			t.Errorf("ENI %s groups after attach: %v", z.EniId, g)
		}
	}
	if g, err := cl.ListVpcEndpointSecurityGroups(sgl); err != nil || len(g.SecurityGroups) != 2 {
		t.Errorf("security groups after attach: %v %+v", err, g)
	}
	dsg := privatelink.CreateDetachSecurityGroupFromVpcEndpointRequest()
	dsg.EndpointId, dsg.SecurityGroupId = eid, w.cNet.sg
	if _, err := cl.DetachSecurityGroupFromVpcEndpoint(dsg); err != nil {
		t.Fatal(err)
	}
	for _, z := range plZones(t, cl, eid) {
		if g := describeENI(t, ce, z.EniId).SecurityGroupIds.SecurityGroupId; !slices.Equal(g, []string{w.cSG2}) {
			t.Errorf("ENI %s groups after detach: %v", z.EniId, g)
		}
	}
	ua := privatelink.CreateUpdateVpcEndpointAttributeRequest()
	ua.EndpointId, ua.EndpointName = eid, "orders-b"
	if _, err := cl.UpdateVpcEndpointAttribute(ua); err != nil {
		t.Fatal(err)
	}
	if a := plEndpoint(t, cl, eid); a.EndpointName != "orders-b" || a.EndpointDescription != "to orders" {
		t.Errorf("after update: %+v", a)
	}
	rz := privatelink.CreateRemoveZoneFromVpcEndpointRequest()
	rz.EndpointId, rz.ZoneId = eid, "local-b"
	if _, err := cl.RemoveZoneFromVpcEndpoint(rz); err != nil {
		t.Fatal(err)
	}
	if z := plZones(t, cl, eid); len(z) != 1 || z[0].ZoneId != "local-a" {
		t.Errorf("zones after RemoveZone: %+v", z)
	}

	// Dependencies: the service has an endpoint, the instance backs it.
	ds := privatelink.CreateDeleteVpcEndpointServiceRequest()
	ds.ServiceId = sid
	if _, err := pl.DeleteVpcEndpointService(ds); err == nil {
		t.Error("deleted a service with an endpoint")
	} else if st, code := apitest.ServerErr(t, err); st != 403 || code != "DependencyViolation.VpcEndpoint" {
		t.Errorf("delete service with endpoint: %d %s", st, code)
	}
	di := ecs.CreateDeleteInstanceRequest()
	di.InstanceId, di.Force = w.inst1, requests.NewBoolean(true)
	if _, err := env.ECS(t, w.provider).DeleteInstance(di); err == nil {
		t.Error("deleted an instance that backs a service")
	} else if st, code := apitest.ServerErr(t, err); st != 403 || code != "DependencyViolation.VpcEndpointService" {
		t.Errorf("delete a service's instance: %d %s", st, code)
	}

	// Removing the user keeps its endpoint; detaching every resource is
	// allowed.
	ru := privatelink.CreateRemoveUserFromVpcEndpointServiceRequest()
	ru.ServiceId, ru.UserId = sid, requests.Integer(w.consumer.AccountID)
	if _, err := pl.RemoveUserFromVpcEndpointService(ru); err != nil {
		t.Fatal(err)
	}
	if c := plConnections(t, pl, sid); len(c) != 1 || c[0].ConnectionStatus != "Connected" {
		t.Errorf("connection after removing the user: %+v", c)
	}
	for _, inst := range []string{w.inst1, w.inst2} {
		dr := privatelink.CreateDetachResourceFromVpcEndpointServiceRequest()
		dr.ServiceId, dr.ResourceId, dr.ResourceType = sid, inst, "ecs"
		if _, err := pl.DetachResourceFromVpcEndpointService(dr); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := env.ECS(t, w.provider).DeleteInstance(di); err != nil {
		t.Errorf("delete a former resource: %v", err)
	}

	// Deleting the endpoint deletes its ENI, addresses and transit
	// addresses; then the service goes.
	de := privatelink.CreateDeleteVpcEndpointRequest()
	de.EndpointId = eid
	if _, err := cl.DeleteVpcEndpoint(de); err != nil {
		t.Fatal(err)
	}
	for k := range env.Snapshot(t) {
		if strings.HasPrefix(k, model.PrefixEndpoint) || strings.HasPrefix(k, model.PrefixEndpointTransit) || strings.Contains(k, epENI) ||
			strings.HasPrefix(k, model.PrefixIPAM+w.cNet.vsw+"/") || strings.HasPrefix(k, model.PrefixIPAM+w.cVswB+"/") {
			t.Errorf("left after DeleteVpcEndpoint: %s", k)
		}
	}
	if _, err := pl.DeleteVpcEndpointService(ds); err != nil {
		t.Fatal(err)
	}
	if _, err := pl.GetVpcEndpointServiceAttribute(attr); err == nil {
		t.Error("deleted service still there")
	} else if st, code := apitest.ServerErr(t, err); st != 404 || code != "EndpointServiceNotFound" {
		t.Errorf("deleted service: %d %s", st, code)
	}
}

// An auto-accepting service connects new endpoints at once, by ID, and
// its owner may have endpoints of it in another VPC.
func TestPrivateLinkAutoAcceptSDK(t *testing.T) {
	w := newPLWorld(t)
	svc := createPLService(t, w.pl, true, w.inst1)
	if !svc.AutoAcceptEnabled {
		t.Fatalf("AutoAcceptEnabled: %+v", svc)
	}
	addPLUser(t, w.pl, svc.ServiceId, w.consumer.AccountID)
	ep := createPLEndpoint(t, w.cl, w.cNet.vpc, w.cNet.sg, svc.ServiceId, privatelink.CreateVpcEndpointZone{VSwitchId: w.cNet.vsw})
	if ep.ConnectionStatus != "Connected" {
		t.Errorf("auto-accepted endpoint: %+v", ep)
	}
	if z := plZones(t, w.cl, ep.EndpointId); len(z) != 1 || z[0].ZoneId != "local-a" || z[0].EniIp != "10.0.1.1" {
		t.Errorf("zone without ZoneId and ip: %+v", z)
	}
	// Auto-accept turned off: new endpoints wait, existing ones stay.
	up := privatelink.CreateUpdateVpcEndpointServiceAttributeRequest()
	up.ServiceId, up.AutoAcceptEnabled = svc.ServiceId, requests.NewBoolean(false)
	if _, err := w.pl.UpdateVpcEndpointServiceAttribute(up); err != nil {
		t.Fatal(err)
	}
	own := newNet(t, w.env, w.provider, "10.9.0.0/16", "10.9.1.0/24")
	mine := createPLEndpoint(t, w.pl, own.vpc, own.sg, svc.ServiceId, privatelink.CreateVpcEndpointZone{ZoneId: "local-a", VSwitchId: own.vsw})
	if mine.ConnectionStatus != "Disconnected" {
		t.Errorf("endpoint after auto-accept off: %+v", mine)
	}
	if a := plEndpoint(t, w.pl, mine.EndpointId); !a.ResourceOwner {
		t.Errorf("owner's endpoint: ResourceOwner %v", a.ResourceOwner)
	}
	conns := plConnections(t, w.pl, svc.ServiceId)
	if len(conns) != 2 || conns[0].ConnectionStatus != "Connected" || conns[1].ConnectionStatus != "Disconnected" ||
		conns[0].Zones[0].EniIp == conns[1].Zones[0].EniIp {
		t.Errorf("connections: %+v", conns)
	}
}

func TestPrivateLinkBadInputSDK(t *testing.T) {
	w := newPLWorld(t)
	env := w.env
	svc := createPLService(t, w.pl, false, w.inst1)
	sid := svc.ServiceId
	empty := createPLService(t, w.pl, false) // no resources
	addPLUser(t, w.pl, sid, w.consumer.AccountID)
	addPLUser(t, w.pl, empty.ServiceId, w.consumer.AccountID)
	ep := createPLEndpoint(t, w.cl, w.cNet.vpc, w.cNet.sg, sid, privatelink.CreateVpcEndpointZone{ZoneId: "local-a", VSwitchId: w.cNet.vsw, Ip: "10.0.1.50"})
	eid := ep.EndpointId
	epENI := plZones(t, w.cl, eid)[0].EniId
	stranger := env.NewAccount(t, "stranger")
	sNet := newNet(t, env, stranger, "10.0.0.0/16", "10.0.1.0/24")
	other := newNet(t, env, w.consumer, "10.5.0.0/16", "10.5.1.0/24") // another consumer VPC
	advanced := createSG(t, env.ECS(t, w.consumer), w.cNet.vpc, "adv", "enterprise")
	pInst := runInstance(t, env.ECS(t, w.provider), newNet(t, env, w.provider, "10.8.0.0/16", "10.8.1.0/24").vsw, "", "") // another provider VPC
	cInst := runInstance(t, env.ECS(t, w.consumer), w.cNet.vsw, w.cNet.sg, "")
	eip, err := env.VPC(t, w.consumer).AllocateEipAddress(vpc.CreateAllocateEipAddressRequest())
	if err != nil {
		t.Fatal(err)
	}
	var many []string
	for i := range 10 {
		many = append(many, createSG(t, env.ECS(t, w.consumer), w.cNet.vpc, fmt.Sprintf("g%d", i), ""))
	}

	with := func(base map[string]string, kv ...string) map[string]string {
		m := maps.Clone(base)
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "" {
				delete(m, kv[i])
			} else {
				m[kv[i]] = kv[i+1]
			}
		}
		return m
	}
	svcReq := map[string]string{"ServiceResourceType": "ecs", "Resource.1.ResourceType": "ecs", "Resource.1.ResourceId": w.inst1}
	epReq := map[string]string{"VpcId": w.cNet.vpc, "ServiceId": sid, "SecurityGroupId.1": w.cNet.sg, "Zone.1.VSwitchId": w.cNet.vsw, "Zone.1.ZoneId": "local-a"}
	attach := map[string]string{"ServiceId": sid, "ResourceId": w.inst2, "ResourceType": "ecs"}
	const (
		createSvc = "CreateVpcEndpointService"
		createEp  = "CreateVpcEndpoint"
	)
	tests := []struct {
		name, action string
		who          apitest.Creds
		params       map[string]string
		status       int
		code         string
	}{
		// Services.
		{"slb service of an instance", createSvc, w.provider, with(svcReq, "ServiceResourceType", "slb"), 400, "OperationDenied.ServiceResourceType"},
		{"slb resource of an instance", createSvc, w.provider, with(svcReq, "ServiceResourceType", "slb", "Resource.1.ResourceType", "slb"), 404, "InvalidLoadBalancerId.NotFound"},
		{"alb service", createSvc, w.provider, with(svcReq, "ServiceResourceType", "alb"), 400, "OperationUnsupported.ServiceResourceType"},
		{"nlb resource", createSvc, w.provider, with(svcReq, "Resource.1.ResourceType", "nlb"), 400, "OperationUnsupported.ServiceResourceType"},
		{"bad service type", createSvc, w.provider, with(svcReq, "ServiceResourceType", "vm"), 400, "IllegalParam.ServiceResourceType"},
		{"bad resource type", createSvc, w.provider, with(svcReq, "Resource.1.ResourceType", "vm"), 400, "IllegalParam.ResourceType"},
		{"no resource id", createSvc, w.provider, with(svcReq, "Resource.1.ResourceId", "", "Resource.1.ZoneId", "local-a"), 400, "MissingParameter"},
		{"unknown instance", createSvc, w.provider, with(svcReq, "Resource.1.ResourceId", "i-nope"), 404, "InvalidInstanceId.NotFound"},
		{"consumer's instance", createSvc, w.provider, with(svcReq, "Resource.1.ResourceId", cInst), 404, "InvalidInstanceId.NotFound"},
		{"wrong zone", createSvc, w.provider, with(svcReq, "Resource.1.ZoneId", "local-b"), 400, "IllegalParam.ZoneId"},
		{"two vpcs", createSvc, w.provider, with(svcReq, "Resource.2.ResourceId", pInst), 400, "OperationDenied.ServiceResourceVpc"},
		{"resource twice", createSvc, w.provider, with(svcReq, "Resource.2.ResourceId", w.inst1), 400, "DuplicatedParam.ResourceId"},
		{"resource index 0", createSvc, w.provider, with(svcReq, "Resource.0.ResourceId", w.inst2), 400, "InvalidParameter"},
		{"payer", createSvc, w.provider, with(svcReq, "Payer", "EndpointService"), 400, "OperationUnsupported.Payer"},
		{"zone affinity", createSvc, w.provider, with(svcReq, "ZoneAffinityEnabled", "true"), 400, "OperationUnsupported.ZoneAffinityEnabled"},
		{"ipv6", createSvc, w.provider, with(svcReq, "ServiceSupportIPv6", "true"), 400, "OperationUnsupported.ServiceSupportIPv6"},
		{"private domain", createSvc, w.provider, with(svcReq, "PrivateServiceDomainEnabled", "true", "PrivateServiceDomain", "x.example"), 400, "OperationUnsupported.PrivateServiceDomain"},
		{"bad auto accept", createSvc, w.provider, with(svcReq, "AutoAcceptEnabled", "yes"), 400, "InvalidParameter"},
		{"long description", createSvc, w.provider, with(svcReq, "ServiceDescription", strings.Repeat("d", 257)), 400, "IllegalParam.ServiceDescription"},
		{"service dry run", createSvc, w.provider, with(svcReq, "DryRun", "true"), 400, "DryRunOperation"},
		{"get another's service", "GetVpcEndpointServiceAttribute", w.consumer, map[string]string{"ServiceId": sid}, 404, "EndpointServiceNotFound"},
		{"get no id", "GetVpcEndpointServiceAttribute", w.provider, nil, 400, "MissingParameter"},
		{"get dry run", "GetVpcEndpointServiceAttribute", w.provider, map[string]string{"ServiceId": sid, "DryRun": "true"}, 400, "InvalidParameter"},
		{"update another's", "UpdateVpcEndpointServiceAttribute", w.consumer, map[string]string{"ServiceId": sid, "AutoAcceptEnabled": "true"}, 404, "EndpointServiceNotFound"},
		{"update bandwidth", "UpdateVpcEndpointServiceAttribute", w.provider, map[string]string{"ServiceId": sid, "ConnectBandwidth": "2048"}, 400, "OperationUnsupported.ConnectBandwidth"},
		{"update dry run", "UpdateVpcEndpointServiceAttribute", w.provider, map[string]string{"ServiceId": sid, "AutoAcceptEnabled": "true", "DryRun": "true"}, 400, "DryRunOperation"},
		{"delete with endpoint", "DeleteVpcEndpointService", w.provider, map[string]string{"ServiceId": sid}, 403, "DependencyViolation.VpcEndpoint"},
		{"delete another's", "DeleteVpcEndpointService", w.consumer, map[string]string{"ServiceId": empty.ServiceId}, 404, "EndpointServiceNotFound"},
		{"delete dry run", "DeleteVpcEndpointService", w.provider, map[string]string{"ServiceId": empty.ServiceId, "DryRun": "true"}, 400, "DryRunOperation"},
		{"attach no type", "AttachResourceToVpcEndpointService", w.provider, with(attach, "ResourceType", ""), 400, "MissingParameter"},
		{"attach slb to ecs", "AttachResourceToVpcEndpointService", w.provider, with(attach, "ResourceType", "slb"), 400, "OperationDenied.ServiceResourceType"},
		{"attach gwlb", "AttachResourceToVpcEndpointService", w.provider, with(attach, "ResourceType", "gwlb"), 400, "OperationUnsupported.ServiceResourceType"},
		{"attach other vpc", "AttachResourceToVpcEndpointService", w.provider, with(attach, "ResourceId", pInst), 400, "OperationDenied.ServiceResourceVpc"},
		{"attach wrong zone", "AttachResourceToVpcEndpointService", w.provider, with(attach, "ZoneId", "local-a"), 400, "IllegalParam.ZoneId"},
		{"attach to another's", "AttachResourceToVpcEndpointService", w.consumer, with(attach, "ResourceId", cInst), 404, "EndpointServiceNotFound"},
		{"attach dry run", "AttachResourceToVpcEndpointService", w.provider, with(attach, "DryRun", "true"), 400, "DryRunOperation"},
		{"detach non-resource", "DetachResourceFromVpcEndpointService", w.provider, attach, 404, "ResourceNotFound.ServiceResource"},
		{"detach wrong zone", "DetachResourceFromVpcEndpointService", w.provider, with(attach, "ResourceId", w.inst1, "ZoneId", "local-b"), 404, "ResourceNotFound.ServiceResource"},
		{"list resources of another's", "ListVpcEndpointServiceResources", w.consumer, map[string]string{"ServiceId": sid}, 404, "EndpointServiceNotFound"},
		{"list resources max 51", "ListVpcEndpointServiceResources", w.provider, map[string]string{"ServiceId": sid, "MaxResults": "51"}, 400, "InvalidParameter"},

		// Users.
		{"add no user", "AddUserToVpcEndpointService", w.provider, map[string]string{"ServiceId": sid}, 400, "MissingParameter"},
		{"add unknown account", "AddUserToVpcEndpointService", w.provider, map[string]string{"ServiceId": sid, "UserId": "1234"}, 404, "ResourceNotFound.User"},
		{"add bad user id", "AddUserToVpcEndpointService", w.provider, map[string]string{"ServiceId": sid, "UserId": "bob"}, 400, "IllegalParam.UserId"},
		{"add user arn", "AddUserToVpcEndpointService", w.provider, map[string]string{"ServiceId": sid, "UserARN": "acs:ram::1:root"}, 400, "OperationUnsupported.UserARN"},
		{"add to another's", "AddUserToVpcEndpointService", w.consumer, map[string]string{"ServiceId": sid, "UserId": stranger.AccountID}, 404, "EndpointServiceNotFound"},
		{"add dry run", "AddUserToVpcEndpointService", w.provider, map[string]string{"ServiceId": sid, "UserId": stranger.AccountID, "DryRun": "true"}, 400, "DryRunOperation"},
		{"remove non-user", "RemoveUserFromVpcEndpointService", w.provider, map[string]string{"ServiceId": sid, "UserId": stranger.AccountID}, 404, "ResourceNotFound.User"},
		{"remove owner", "RemoveUserFromVpcEndpointService", w.provider, map[string]string{"ServiceId": sid, "UserId": w.provider.AccountID}, 400, "OperationDenied.ServiceOwner"},
		{"remove by user", "RemoveUserFromVpcEndpointService", w.consumer, map[string]string{"ServiceId": sid, "UserId": w.consumer.AccountID}, 404, "EndpointServiceNotFound"},
		{"list users of another's", "ListVpcEndpointServiceUsers", w.consumer, map[string]string{"ServiceId": sid}, 404, "EndpointServiceNotFound"},
		{"list users bad type", "ListVpcEndpointServiceUsers", w.provider, map[string]string{"ServiceId": sid, "UserListType": "Role"}, 400, "IllegalParam.UserListType"},

		// Connections: the provider only.
		{"connections no service", "ListVpcEndpointConnections", w.provider, nil, 400, "MissingParameter"},
		{"connections by the consumer", "ListVpcEndpointConnections", w.consumer, map[string]string{"ServiceId": sid}, 404, "EndpointServiceNotFound"},
		{"connections bad owner", "ListVpcEndpointConnections", w.provider, map[string]string{"ServiceId": sid, "EndpointOwnerId": "x"}, 400, "InvalidParameter"},
		{"enable by the consumer", "EnableVpcEndpointConnection", w.consumer, map[string]string{"ServiceId": sid, "EndpointId": eid}, 404, "EndpointServiceNotFound"},
		{"enable other service's endpoint", "EnableVpcEndpointConnection", w.provider, map[string]string{"ServiceId": empty.ServiceId, "EndpointId": eid}, 404, "EndpointNotFound"},
		{"enable no endpoint", "EnableVpcEndpointConnection", w.provider, map[string]string{"ServiceId": sid}, 400, "MissingParameter"},
		{"enable bandwidth", "EnableVpcEndpointConnection", w.provider, map[string]string{"ServiceId": sid, "EndpointId": eid, "Bandwidth": "3072"}, 400, "OperationUnsupported.Bandwidth"},
		{"enable dry run", "EnableVpcEndpointConnection", w.provider, map[string]string{"ServiceId": sid, "EndpointId": eid, "DryRun": "true"}, 400, "DryRunOperation"},
		{"disable by a stranger", "DisableVpcEndpointConnection", stranger, map[string]string{"ServiceId": sid, "EndpointId": eid}, 404, "EndpointServiceNotFound"},

		// Endpoints.
		{"no vpc", createEp, w.consumer, with(epReq, "VpcId", ""), 400, "MissingParameter"},
		{"no group", createEp, w.consumer, with(epReq, "SecurityGroupId.1", ""), 400, "MissingParameter"},
		{"no service", createEp, w.consumer, with(epReq, "ServiceId", ""), 400, "MissingParameter"},
		{"no zone", createEp, w.consumer, with(epReq, "Zone.1.VSwitchId", "", "Zone.1.ZoneId", ""), 400, "MissingParameter"},
		{"zone without vswitch", createEp, w.consumer, with(epReq, "Zone.1.VSwitchId", ""), 400, "MissingParameter"},
		{"unknown vpc", createEp, w.consumer, with(epReq, "VpcId", "vpc-nope"), 404, "InvalidVpcId.NotFound"},
		{"stranger's vpc", createEp, w.consumer, with(epReq, "VpcId", sNet.vpc), 404, "InvalidVpcId.NotFound"},
		{"not a user", createEp, stranger, with(epReq, "VpcId", sNet.vpc, "SecurityGroupId.1", sNet.sg, "Zone.1.VSwitchId", sNet.vsw), 404, "EndpointServiceNotFound"},
		{"not a user by name", createEp, stranger, with(epReq, "VpcId", sNet.vpc, "SecurityGroupId.1", sNet.sg, "Zone.1.VSwitchId", sNet.vsw, "ServiceId", "", "ServiceName", svc.ServiceName), 404, "EndpointServiceNotFound"},
		{"unknown service", createEp, w.consumer, with(epReq, "ServiceId", "epsrv-nope"), 404, "EndpointServiceNotFound"},
		{"name of another service", createEp, w.consumer, with(epReq, "ServiceName", empty.ServiceName), 400, "IllegalParam.ServiceName"},
		{"reverse", createEp, w.consumer, with(epReq, "EndpointType", "Reverse"), 400, "OperationUnsupported.EndpointType"},
		{"gwlb endpoint", createEp, w.consumer, with(epReq, "EndpointType", "GatewayLoadBalancer"), 400, "OperationUnsupported.EndpointType"},
		{"bad type", createEp, w.consumer, with(epReq, "EndpointType", "Gateway"), 400, "IllegalParam.EndpointType"},
		{"two ips a zone", createEp, w.consumer, with(epReq, "ZonePrivateIpAddressCount", "2"), 400, "OperationUnsupported.ZonePrivateIpAddressCount"},
		{"protected", createEp, w.consumer, with(epReq, "ProtectedEnabled", "true"), 400, "OperationUnsupported.ProtectedEnabled"},
		{"long name", createEp, w.consumer, with(epReq, "EndpointName", strings.Repeat("n", 129)), 400, "IllegalParam.EndpointName"},
		{"unknown group", createEp, w.consumer, with(epReq, "SecurityGroupId.1", "sg-nope"), 404, "InvalidSecurityGroupId.NotFound"},
		{"group of another vpc", createEp, w.consumer, with(epReq, "SecurityGroupId.1", other.sg), 400, "InvalidSecurityGroupId.VPCMismatch"},
		{"mixed groups", createEp, w.consumer, with(epReq, "SecurityGroupId.2", advanced), 400, "InvalidSecurityGroupType.Mixed"},
		{"eleven groups", createEp, w.consumer, func() map[string]string {
			m := maps.Clone(epReq)
			for i, g := range many {
				m[fmt.Sprintf("SecurityGroupId.%d", i+2)] = g
			}
			return m
		}(), 400, "InstanceSecurityGroupLimitExceeded"},
		{"vswitch of another vpc", createEp, w.consumer, with(epReq, "Zone.1.VSwitchId", other.vsw), 400, "InvalidVSwitchId.VpcMismatch"},
		{"unknown vswitch", createEp, w.consumer, with(epReq, "Zone.1.VSwitchId", "vsw-nope"), 404, "InvalidVSwitchId.NotFound"},
		{"zone mismatch", createEp, w.consumer, with(epReq, "Zone.1.ZoneId", "local-b"), 400, "InvalidVSwitchId.ZoneMismatch"},
		{"zone not the service's", createEp, w.consumer, with(epReq, "Zone.1.VSwitchId", w.cVswB, "Zone.1.ZoneId", ""), 400, "OperationDenied.EndpointZone"},
		{"service without resources", createEp, w.consumer, with(epReq, "ServiceId", empty.ServiceId), 400, "OperationDenied.EndpointZone"},
		{"zone twice", createEp, w.consumer, with(epReq, "Zone.2.VSwitchId", w.cNet.vsw), 400, "DuplicatedParam.ZoneId"},
		{"eleven zones", createEp, w.consumer, func() map[string]string {
			m := maps.Clone(epReq)
			for i := 2; i <= 11; i++ {
				m[fmt.Sprintf("Zone.%d.VSwitchId", i)] = w.cNet.vsw
			}
			return m
		}(), 403, "QuotaExceeded.EndpointZone"},
		{"ip taken", createEp, w.consumer, with(epReq, "Zone.1.ip", "10.0.1.50"), 400, "InvalidPrivateIpAddress.Duplicated"},
		{"ip outside", createEp, w.consumer, with(epReq, "Zone.1.ip", "10.0.9.9"), 400, "InvalidPrivateIpAddress.Mismatch"},
		{"ip reserved", createEp, w.consumer, with(epReq, "Zone.1.ip", "10.0.1.253"), 400, "InvalidPrivateIpAddress.Reserved"},
		{"ip malformed", createEp, w.consumer, with(epReq, "Zone.1.ip", "ten"), 400, "InvalidPrivateIpAddress.Malformed"},
		{"in the service's vpc", createEp, w.provider, with(epReq, "VpcId", w.pNet.vpc, "SecurityGroupId.1", w.pNet.sg, "Zone.1.VSwitchId", w.pNet.vsw), 400, "OperationDenied.EndpointVpc"},
		{"endpoint dry run", createEp, w.consumer, with(epReq, "DryRun", "true"), 400, "DryRunOperation"},
		{"get another's endpoint", "GetVpcEndpointAttribute", w.provider, map[string]string{"EndpointId": eid}, 404, "EndpointNotFound"},
		{"update another's endpoint", "UpdateVpcEndpointAttribute", stranger, map[string]string{"EndpointId": eid, "EndpointName": "x"}, 404, "EndpointNotFound"},
		{"update long description", "UpdateVpcEndpointAttribute", w.consumer, map[string]string{"EndpointId": eid, "EndpointDescription": strings.Repeat("d", 257)}, 400, "IllegalParam.EndpointDescription"},
		{"delete another's endpoint", "DeleteVpcEndpoint", w.provider, map[string]string{"EndpointId": eid}, 404, "EndpointNotFound"},
		{"delete endpoint dry run", "DeleteVpcEndpoint", w.consumer, map[string]string{"EndpointId": eid, "DryRun": "true"}, 400, "DryRunOperation"},
		{"attach joined group", "AttachSecurityGroupToVpcEndpoint", w.consumer, map[string]string{"EndpointId": eid, "SecurityGroupId": w.cNet.sg}, 400, "InvalidSecurityGroupId.AlreadyJoined"},
		{"attach advanced group", "AttachSecurityGroupToVpcEndpoint", w.consumer, map[string]string{"EndpointId": eid, "SecurityGroupId": advanced}, 400, "InvalidSecurityGroupType.Mixed"},
		{"attach other vpc's group", "AttachSecurityGroupToVpcEndpoint", w.consumer, map[string]string{"EndpointId": eid, "SecurityGroupId": other.sg}, 400, "InvalidSecurityGroupId.VPCMismatch"},
		{"attach stranger's group", "AttachSecurityGroupToVpcEndpoint", w.consumer, map[string]string{"EndpointId": eid, "SecurityGroupId": sNet.sg}, 404, "InvalidSecurityGroupId.NotFound"},
		{"attach no group", "AttachSecurityGroupToVpcEndpoint", w.consumer, map[string]string{"EndpointId": eid}, 400, "MissingParameter"},
		{"attach dry run", "AttachSecurityGroupToVpcEndpoint", w.consumer, map[string]string{"EndpointId": eid, "SecurityGroupId": w.cSG2, "DryRun": "true"}, 400, "DryRunOperation"},
		{"detach last group", "DetachSecurityGroupFromVpcEndpoint", w.consumer, map[string]string{"EndpointId": eid, "SecurityGroupId": w.cNet.sg}, 403, "InvalidOperation.LastSecurityGroup"},
		{"detach unjoined group", "DetachSecurityGroupFromVpcEndpoint", w.consumer, map[string]string{"EndpointId": eid, "SecurityGroupId": w.cSG2}, 400, "InvalidSecurityGroupId.NotJoined"},
		{"list groups of another's", "ListVpcEndpointSecurityGroups", w.provider, map[string]string{"EndpointId": eid}, 404, "EndpointNotFound"},
		{"add zone twice", "AddZoneToVpcEndpoint", w.consumer, map[string]string{"EndpointId": eid, "VSwitchId": w.cNet.vsw}, 400, "DuplicatedParam.ZoneId"},
		{"add zone not the service's", "AddZoneToVpcEndpoint", w.consumer, map[string]string{"EndpointId": eid, "VSwitchId": w.cVswB}, 400, "OperationDenied.EndpointZone"},
		{"add zone no vswitch", "AddZoneToVpcEndpoint", w.consumer, map[string]string{"EndpointId": eid, "ZoneId": "local-b"}, 400, "MissingParameter"},
		{"remove last zone", "RemoveZoneFromVpcEndpoint", w.consumer, map[string]string{"EndpointId": eid, "ZoneId": "local-a"}, 403, "InvalidOperation.LastEndpointZone"},
		{"remove absent zone", "RemoveZoneFromVpcEndpoint", w.consumer, map[string]string{"EndpointId": eid, "ZoneId": "local-b"}, 404, "ResourceNotFound.EndpointZone"},
		{"remove no zone", "RemoveZoneFromVpcEndpoint", w.consumer, map[string]string{"EndpointId": eid}, 400, "MissingParameter"},
		{"list zones of another's", "ListVpcEndpointZones", stranger, map[string]string{"EndpointId": eid}, 404, "EndpointNotFound"},
		{"list endpoints bad token", "ListVpcEndpoints", w.consumer, map[string]string{"NextToken": "1"}, 400, "InvalidNextToken.Malformed"},
		{"list endpoints max 1001", "ListVpcEndpoints", w.consumer, map[string]string{"MaxResults": "1001"}, 400, "InvalidParameter"},
		{"list services bad auto accept", "ListVpcEndpointServices", w.provider, map[string]string{"AutoAcceptEnabled": "maybe"}, 400, "InvalidParameter"},

		// The endpoint's ENI is the endpoint's.
		{"delete endpoint ENI", "DeleteNetworkInterface", w.consumer, map[string]string{"NetworkInterfaceId": epENI}, 403, "OperationDenied.ServiceManagedNetworkInterface"},
		{"attach endpoint ENI", "AttachNetworkInterface", w.consumer, map[string]string{"NetworkInterfaceId": epENI, "InstanceId": cInst}, 403, "OperationDenied.ServiceManagedNetworkInterface"},
		{"detach endpoint ENI", "DetachNetworkInterface", w.consumer, map[string]string{"NetworkInterfaceId": epENI, "InstanceId": cInst}, 403, "OperationDenied.ServiceManagedNetworkInterface"},
		{"modify endpoint ENI groups", "ModifyNetworkInterfaceAttribute", w.consumer, map[string]string{"NetworkInterfaceId": epENI, "SecurityGroupId.1": w.cSG2}, 403, "OperationDenied.ServiceManagedNetworkInterface"},
		{"rename endpoint ENI", "ModifyNetworkInterfaceAttribute", w.consumer, map[string]string{"NetworkInterfaceId": epENI, "NetworkInterfaceName": "mine"}, 403, "OperationDenied.ServiceManagedNetworkInterface"},
		{"assign to endpoint ENI", "AssignPrivateIpAddresses", w.consumer, map[string]string{"NetworkInterfaceId": epENI, "SecondaryPrivateIpAddressCount": "1"}, 403, "OperationDenied.ServiceManagedNetworkInterface"},
		{"unassign from endpoint ENI", "UnassignPrivateIpAddresses", w.consumer, map[string]string{"NetworkInterfaceId": epENI, "PrivateIpAddress.1": "10.0.1.50"}, 403, "OperationDenied.ServiceManagedNetworkInterface"},
		{"join with endpoint ENI", "JoinSecurityGroup", w.consumer, map[string]string{"NetworkInterfaceId": epENI, "SecurityGroupId": w.cSG2}, 403, "OperationDenied.ServiceManagedNetworkInterface"},
		{"leave with endpoint ENI", "LeaveSecurityGroup", w.consumer, map[string]string{"NetworkInterfaceId": epENI, "SecurityGroupId": w.cNet.sg}, 403, "OperationDenied.ServiceManagedNetworkInterface"},
		{"eip on endpoint ENI", "AssociateEipAddress", w.consumer, map[string]string{"AllocationId": eip.AllocationId, "InstanceId": epENI, "InstanceType": "NetworkInterface"}, 403, "OperationDenied.ServiceManagedNetworkInterface"},
		{"delete service's instance", "DeleteInstance", w.provider, map[string]string{"InstanceId": w.inst1, "Force": "true"}, 403, "DependencyViolation.VpcEndpointService"},
		{"delete endpoint's group", "DeleteSecurityGroup", w.consumer, map[string]string{"SecurityGroupId": w.cNet.sg}, 403, "DependencyViolation"},
		{"delete endpoint's vswitch", "DeleteVSwitch", w.consumer, map[string]string{"VSwitchId": w.cNet.vsw}, 403, "DependencyViolation"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			version := api.VersionPrivateLink
			switch {
			case strings.Contains(tc.action, "NetworkInterface") || strings.Contains(tc.action, "PrivateIp") || strings.Contains(tc.action, "SecurityGroup") && !strings.Contains(tc.action, "VpcEndpoint") ||
				tc.action == "DeleteInstance":
				version = api.VersionECS
			case strings.Contains(tc.action, "Eip") || tc.action == "DeleteVSwitch":
				version = api.VersionVPC
			}
			before := env.Snapshot(t)
			_, err := env.Common(t, tc.who, version, tc.action, tc.params)
			if err == nil {
				t.Fatalf("%s %v succeeded", tc.action, tc.params)
			}
			st, code := apitest.ServerErr(t, err)
			if code != tc.code || st != tc.status {
				t.Errorf("%s: got %d %s, want %d %s (%v)", tc.action, st, code, tc.status, tc.code, err)
			}
			if after := env.Snapshot(t); !maps.Equal(before, after) {
				t.Errorf("%s changed the store on error", tc.action)
			}
		})
	}

	// The stranger sees none of it.
	for _, action := range []string{"ListVpcEndpointServices", "ListVpcEndpointServicesByEndUser", "ListVpcEndpoints"} {
		out, err := env.Common(t, stranger, api.VersionPrivateLink, action, nil)
		if err != nil || fmt.Sprint(out["TotalCount"]) != "0" {
			t.Errorf("stranger's %s: %v %v", action, out, err)
		}
	}
}

func TestPrivateLinkQuotasTokensPagingSDK(t *testing.T) {
	w := newPLWorld(t)
	env := w.env
	pe := env.ECS(t, w.provider)

	// Twenty resources fill a service; the 21st is refused.
	var insts []string
	for range 19 {
		insts = append(insts, runInstance(t, pe, w.pNet.vsw, w.pNet.sg, ""))
	}
	full := createPLService(t, w.pl, false, append([]string{w.inst1}, insts...)...)
	before := env.Snapshot(t)
	att := privatelink.CreateAttachResourceToVpcEndpointServiceRequest()
	att.ServiceId, att.ResourceId, att.ResourceType = full.ServiceId, w.inst2, "ecs"
	if _, err := w.pl.AttachResourceToVpcEndpointService(att); err == nil {
		t.Error("attached a 21st resource")
	} else if st, code := apitest.ServerErr(t, err); st != 403 || code != "QuotaExceeded.ServiceResource" {
		t.Errorf("21st resource: %d %s", st, code)
	}
	if !maps.Equal(before, env.Snapshot(t)) {
		t.Error("the refused attachment changed the store")
	}

	// ClientToken: a retry answers the first service and endpoint; other
	// parameters with the token are refused.
	req := privatelink.CreateCreateVpcEndpointServiceRequest()
	req.Resource = &[]privatelink.CreateVpcEndpointServiceResource{{ResourceId: w.inst2}}
	req.ClientToken = "svc-token"
	first, err := w.pl.CreateVpcEndpointService(req)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := w.pl.CreateVpcEndpointService(req); err != nil || again.ServiceId != first.ServiceId {
		t.Errorf("retry: %v %+v", err, again)
	}
	req.ServiceDescription = "other"
	if _, err := w.pl.CreateVpcEndpointService(req); err == nil {
		t.Error("token reused with other parameters")
	} else if st, code := apitest.ServerErr(t, err); st != 400 || code != "IdempotentParameterMismatch" {
		t.Errorf("token mismatch: %d %s", st, code)
	}
	addPLUser(t, w.pl, first.ServiceId, w.consumer.AccountID)
	ereq := privatelink.CreateCreateVpcEndpointRequest()
	ereq.VpcId, ereq.ServiceId, ereq.SecurityGroupId, ereq.ClientToken = w.cNet.vpc, first.ServiceId, &[]string{w.cNet.sg}, "ep-token"
	ereq.Zone = &[]privatelink.CreateVpcEndpointZone{{VSwitchId: w.cVswB}}
	e1, err := w.cl.CreateVpcEndpoint(ereq)
	if err != nil {
		t.Fatal(err)
	}
	if e2, err := w.cl.CreateVpcEndpoint(ereq); err != nil || e2.EndpointId != e1.EndpointId {
		t.Errorf("endpoint retry: %v %+v", err, e2)
	}
	if l, err := w.cl.ListVpcEndpoints(privatelink.CreateListVpcEndpointsRequest()); err != nil || l.TotalCount != 1 {
		t.Errorf("endpoints after retry: %v %+v", err, l)
	}
	// A dry run of a zone the service has (once inst1 backs it too)
	// changes nothing.
	att.ServiceId, att.ResourceId = first.ServiceId, w.inst1
	if _, err := w.pl.AttachResourceToVpcEndpointService(att); err != nil {
		t.Fatal(err)
	}
	before = env.Snapshot(t)
	az := privatelink.CreateAddZoneToVpcEndpointRequest()
	az.EndpointId, az.VSwitchId, az.DryRun = e1.EndpointId, w.cNet.vsw, requests.NewBoolean(true)
	if _, err := w.cl.AddZoneToVpcEndpoint(az); err == nil {
		t.Error("AddZone dry run succeeded")
	} else if _, code := apitest.ServerErr(t, err); code != "DryRunOperation" {
		t.Errorf("AddZone dry run: %s", code)
	}
	if !maps.Equal(before, env.Snapshot(t)) {
		t.Error("the AddZone dry run changed the store")
	}
	del := privatelink.CreateDeleteVpcEndpointRequest()
	del.EndpointId, del.ClientToken = e1.EndpointId, "del-token"
	if _, err := w.cl.DeleteVpcEndpoint(del); err != nil {
		t.Fatal(err)
	}
	if _, err := w.cl.DeleteVpcEndpoint(del); err != nil {
		t.Errorf("delete retry: %v", err)
	}

	// Paging with NextToken: every service once, in creation order, with
	// a deletion between two pages.
	ids := []string{full.ServiceId, first.ServiceId}
	for range 3 {
		ids = append(ids, createPLService(t, w.pl, false).ServiceId)
	}
	var walk []string
	token := ""
	for i := 0; ; i++ {
		lr := privatelink.CreateListVpcEndpointServicesRequest()
		lr.MaxResults, lr.NextToken = requests.NewInteger(2), token
		resp, err := w.pl.ListVpcEndpointServices(lr)
		if err != nil {
			t.Fatal(err)
		}
		if resp.MaxResults != 2 {
			t.Errorf("page %d: MaxResults %d", i, resp.MaxResults)
		}
		for _, s := range resp.Services {
			walk = append(walk, s.ServiceId)
		}
		if i == 0 {
			if resp.TotalCount != 5 {
				t.Errorf("TotalCount %d, want 5", resp.TotalCount)
			}
			ds := privatelink.CreateDeleteVpcEndpointServiceRequest()
			ds.ServiceId = ids[2]
			if _, err := w.pl.DeleteVpcEndpointService(ds); err != nil {
				t.Fatal(err)
			}
		}
		if resp.NextToken == "" {
			break
		}
		token = resp.NextToken
	}
	if want := []string{ids[0], ids[1], ids[3], ids[4]}; !slices.Equal(walk, want) {
		t.Errorf("service walk %v, want %v", walk, want)
	}
	// A token of one list is not a token of another.
	lr := privatelink.CreateListVpcEndpointServicesRequest()
	lr.MaxResults = requests.NewInteger(1)
	resp, err := w.pl.ListVpcEndpointServices(lr)
	if err != nil || resp.NextToken == "" {
		t.Fatalf("first page: %v %+v", err, resp)
	}
	er := privatelink.CreateListVpcEndpointsRequest()
	er.NextToken = resp.NextToken
	if _, err := w.cl.ListVpcEndpoints(er); err == nil {
		t.Error("a services token accepted by ListVpcEndpoints")
	} else if _, code := apitest.ServerErr(t, err); code != "InvalidNextToken.Malformed" {
		t.Errorf("foreign token: %s", code)
	}

	// Users page too.
	var accounts []string
	for i := range 3 {
		a := env.NewAccount(t, fmt.Sprintf("user%d", i))
		accounts = append(accounts, a.AccountID)
		addPLUser(t, w.pl, full.ServiceId, a.AccountID)
	}
	slices.Sort(accounts)
	var got []string
	token = ""
	for {
		ul := privatelink.CreateListVpcEndpointServiceUsersRequest()
		ul.ServiceId, ul.MaxResults, ul.NextToken = full.ServiceId, requests.NewInteger(2), token
		r, err := w.pl.ListVpcEndpointServiceUsers(ul)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range r.Users {
			got = append(got, strconv.FormatInt(u.UserId, 10))
		}
		if r.NextToken == "" {
			break
		}
		token = r.NextToken
	}
	if !slices.Equal(got, accounts) {
		t.Errorf("users walk %v, want %v", got, accounts)
	}
}
