package service

import (
	"context"
	"net/netip"
	"slices"
	"testing"

	"github.com/palisade-project/palisade/internal/model"
)

// plSLBFixture is plFixture with load balancers of account 1: lb-a
// (vpc-p, z-a, active, backend i-a), lb-b (vpc-p, z-b, inactive), lb-q
// (vpc-q, z-a) and lb-inet (internet-facing, a record no API call makes);
// and lb-s of account 3.
func plSLBFixture(t *testing.T) *Service {
	t.Helper()
	s := plFixture(t)
	lb := func(id, account, vpc, zone, addr, status string) model.LoadBalancer {
		return model.LoadBalancer{ID: id, AccountID: account, VpcID: vpc, VSwitchID: "vsw-" + id, ZoneID: zone, AddressType: model.LBAddressIntranet,
			Address: netip.MustParseAddr(addr), Status: status, Listeners: []model.LBListener{}, Backends: []model.LBBackend{}}
	}
	a := lb("lb-a", "1", "vpc-p", "z-a", "10.0.1.100", model.LBStatusActive)
	a.Backends = []model.LBBackend{{ServerID: "i-a", Type: model.LBBackendECS, Weight: 100}}
	inet := lb("lb-inet", "1", "vpc-p", "z-a", "10.0.1.101", model.LBStatusActive)
	inet.AddressType = model.LBAddressInternet
	putRecords(t, s, map[string]any{
		model.PrefixLoadBalancer + "lb-a":    a,
		model.PrefixLoadBalancer + "lb-b":    lb("lb-b", "1", "vpc-p", "z-b", "10.0.2.100", model.LBStatusInactive),
		model.PrefixLoadBalancer + "lb-q":    lb("lb-q", "1", "vpc-q", "z-a", "10.1.1.100", model.LBStatusActive),
		model.PrefixLoadBalancer + "lb-inet": inet,
		model.PrefixLoadBalancer + "lb-s":    lb("lb-s", "3", "vpc-s", "z-a", "10.3.1.100", model.LBStatusActive),
	})
	return s
}

func plRes(id, typ, zone string) model.EndpointServiceResource {
	return model.EndpointServiceResource{ResourceID: id, ResourceType: typ, ZoneID: zone}
}

func slbRes(ids ...string) []ServiceResourceSpec {
	var out []ServiceResourceSpec
	for _, id := range ids {
		out = append(out, ServiceResourceSpec{ResourceType: "slb", ResourceID: id})
	}
	return out
}

// CreateVpcEndpointService with load balancers: the service's type, its
// resources' zones and VPC; every refusal has its code and leaves the
// store as it was.
func TestPrivateLinkSLBCreate(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name      string
		in        CreateEndpointServiceInput
		code      string // "" = created
		wantRes   []model.EndpointServiceResource
		wantType  string
		wantVpcID string
	}{
		{name: "two load balancers", in: CreateEndpointServiceInput{ServiceResourceType: "slb", Resources: slbRes("lb-a", "lb-b")},
			wantType: "slb", wantVpcID: "vpc-p", wantRes: []model.EndpointServiceResource{plRes("lb-a", "slb", "z-a"), plRes("lb-b", "slb", "z-b")}},
		{name: "type from the service", in: CreateEndpointServiceInput{ServiceResourceType: "SLB", Resources: []ServiceResourceSpec{{ResourceID: "lb-a", ZoneID: "z-a"}}},
			wantType: "slb", wantVpcID: "vpc-p", wantRes: []model.EndpointServiceResource{plRes("lb-a", "slb", "z-a")}},
		{name: "type from the first resource", in: CreateEndpointServiceInput{Resources: slbRes("lb-b")},
			wantType: "slb", wantVpcID: "vpc-p", wantRes: []model.EndpointServiceResource{plRes("lb-b", "slb", "z-b")}},
		{name: "no resources", in: CreateEndpointServiceInput{ServiceResourceType: "slb"}, wantType: "slb", wantRes: []model.EndpointServiceResource{}},
		{name: "instances by default", in: CreateEndpointServiceInput{Resources: []ServiceResourceSpec{{ResourceID: "i-a"}}},
			wantType: "ecs", wantVpcID: "vpc-p", wantRes: []model.EndpointServiceResource{plRes("i-a", "ecs", "z-a")}},
		{name: "an instance in an slb service", code: "OperationDenied.ServiceResourceType",
			in: CreateEndpointServiceInput{ServiceResourceType: "slb", Resources: []ServiceResourceSpec{{ResourceType: "slb", ResourceID: "lb-a"}, {ResourceType: "ecs", ResourceID: "i-a"}}}},
		{name: "a load balancer in an ecs service", code: "OperationDenied.ServiceResourceType",
			in: CreateEndpointServiceInput{ServiceResourceType: "ecs", Resources: slbRes("lb-a")}},
		{name: "mixed without a service type", code: "OperationDenied.ServiceResourceType",
			in: CreateEndpointServiceInput{Resources: []ServiceResourceSpec{{ResourceType: "ecs", ResourceID: "i-a"}, {ResourceType: "slb", ResourceID: "lb-a"}}}},
		{name: "an instance ID as slb", code: "InvalidLoadBalancerId.NotFound", in: CreateEndpointServiceInput{ServiceResourceType: "slb", Resources: slbRes("i-a")}},
		{name: "a load balancer ID as ecs", code: "InvalidInstanceId.NotFound",
			in: CreateEndpointServiceInput{Resources: []ServiceResourceSpec{{ResourceType: "ecs", ResourceID: "lb-a"}}}},
		{name: "another account's", code: "InvalidLoadBalancerId.NotFound", in: CreateEndpointServiceInput{ServiceResourceType: "slb", Resources: slbRes("lb-s")}},
		{name: "unknown", code: "InvalidLoadBalancerId.NotFound", in: CreateEndpointServiceInput{ServiceResourceType: "slb", Resources: slbRes("lb-nope")}},
		{name: "two VPCs", code: "OperationDenied.ServiceResourceVpc", in: CreateEndpointServiceInput{ServiceResourceType: "slb", Resources: slbRes("lb-a", "lb-q")}},
		{name: "wrong zone", code: "IllegalParam.ZoneId",
			in: CreateEndpointServiceInput{ServiceResourceType: "slb", Resources: []ServiceResourceSpec{{ResourceType: "slb", ResourceID: "lb-a", ZoneID: "z-b"}}}},
		{name: "internet-facing", code: "OperationDenied.ServiceResourceAddressType", in: CreateEndpointServiceInput{ServiceResourceType: "slb", Resources: slbRes("lb-inet")}},
		{name: "twice", code: "DuplicatedParam.ResourceId", in: CreateEndpointServiceInput{ServiceResourceType: "slb", Resources: slbRes("lb-a", "lb-a")}},
		{name: "alb", code: "OperationUnsupported.ServiceResourceType", in: CreateEndpointServiceInput{ServiceResourceType: "alb"}},
		{name: "nlb resource", code: "OperationUnsupported.ServiceResourceType",
			in: CreateEndpointServiceInput{ServiceResourceType: "slb", Resources: []ServiceResourceSpec{{ResourceType: "nlb", ResourceID: "lb-a"}}}},
		{name: "bad type", code: "IllegalParam.ServiceResourceType", in: CreateEndpointServiceInput{ServiceResourceType: "clb"}},
		{name: "dry run", code: "DryRunOperation", in: CreateEndpointServiceInput{ServiceResourceType: "slb", Resources: slbRes("lb-a"), DryRun: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := plSLBFixture(t)
			if tc.code != "" {
				unchanged(t, s, tc.name, tc.code, func() error {
					_, err := s.CreateVpcEndpointService(ctx, "1", tc.in)
					return err
				})
				return
			}
			sv, err := s.CreateVpcEndpointService(ctx, "1", tc.in)
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.GetVpcEndpointServiceAttribute(ctx, "1", sv.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Type() != tc.wantType || got.ResourceType != tc.wantType || got.VpcID != tc.wantVpcID || !slices.Equal(got.Resources, tc.wantRes) {
				t.Errorf("service: type %q, VPC %q, resources %+v", got.ResourceType, got.VpcID, got.Resources)
			}
		})
	}
}

// Attach, detach and list with load balancers; an empty slb service keeps
// its type; ListVpcEndpointServices filters on the real type; endpoints
// take the zones of the service's load balancers.
func TestPrivateLinkSLBResources(t *testing.T) {
	s := plSLBFixture(t)
	ctx := context.Background()
	sv, err := s.CreateVpcEndpointService(ctx, "1", CreateEndpointServiceInput{ServiceResourceType: "slb"})
	if err != nil {
		t.Fatal(err)
	}
	ecsSvc := plService(t, s, "i-a")
	if err := s.AddUserToVpcEndpointService(ctx, "1", sv.ID, "2", "", "", false); err != nil {
		t.Fatal(err)
	}
	lbSpec := func(id, zone string) ServiceResourceSpec {
		return ServiceResourceSpec{ResourceType: "slb", ResourceID: id, ZoneID: zone}
	}
	for _, tc := range []struct {
		what, code string
		fn         func() error
	}{
		{"an instance to an slb service", "OperationDenied.ServiceResourceType", func() error {
			return s.AttachResourceToVpcEndpointService(ctx, "1", sv.ID, ServiceResourceSpec{ResourceType: "ecs", ResourceID: "i-a"}, "", false)
		}},
		{"a load balancer to an ecs service", "OperationDenied.ServiceResourceType", func() error {
			return s.AttachResourceToVpcEndpointService(ctx, "1", ecsSvc.ID, lbSpec("lb-a", ""), "", false)
		}},
		{"no type", "MissingParameter", func() error {
			return s.AttachResourceToVpcEndpointService(ctx, "1", sv.ID, ServiceResourceSpec{ResourceID: "lb-a"}, "", false)
		}},
		{"gwlb", "OperationUnsupported.ServiceResourceType", func() error {
			return s.AttachResourceToVpcEndpointService(ctx, "1", sv.ID, ServiceResourceSpec{ResourceType: "gwlb", ResourceID: "lb-a"}, "", false)
		}},
		{"wrong zone", "IllegalParam.ZoneId", func() error {
			return s.AttachResourceToVpcEndpointService(ctx, "1", sv.ID, lbSpec("lb-a", "z-b"), "", false)
		}},
		{"another account's", "InvalidLoadBalancerId.NotFound", func() error {
			return s.AttachResourceToVpcEndpointService(ctx, "1", sv.ID, lbSpec("lb-s", ""), "", false)
		}},
		{"to another's service", "EndpointServiceNotFound", func() error {
			return s.AttachResourceToVpcEndpointService(ctx, "2", sv.ID, lbSpec("lb-a", ""), "", false)
		}},
		{"attach dry run", "DryRunOperation", func() error {
			return s.AttachResourceToVpcEndpointService(ctx, "1", sv.ID, lbSpec("lb-a", ""), "", true)
		}},
	} {
		unchanged(t, s, tc.what, tc.code, tc.fn)
	}
	if got, _ := s.GetVpcEndpointServiceAttribute(ctx, "1", sv.ID); got.Type() != "slb" || len(got.Resources) != 0 || got.VpcID != "" {
		t.Fatalf("empty slb service: %+v", got)
	}

	// Attach lb-a (z-a), then lb-b (z-b, inactive: any status does).
	for _, spec := range []ServiceResourceSpec{lbSpec("lb-a", "z-a"), lbSpec("lb-b", ""), lbSpec("lb-a", "")} {
		if err := s.AttachResourceToVpcEndpointService(ctx, "1", sv.ID, spec, "", false); err != nil {
			t.Fatalf("attach %s: %v", spec.ResourceID, err)
		}
	}
	unchanged(t, s, "a load balancer of another VPC", "OperationDenied.ServiceResourceVpc", func() error {
		return s.AttachResourceToVpcEndpointService(ctx, "1", sv.ID, lbSpec("lb-q", ""), "", false)
	})
	got, _ := s.GetVpcEndpointServiceAttribute(ctx, "1", sv.ID)
	if got.VpcID != "vpc-p" || !slices.Equal(ServiceZones(&got), []string{"z-a", "z-b"}) || len(got.Resources) != 2 {
		t.Fatalf("after attaching: %+v", got)
	}
	views, err := s.ListVpcEndpointServiceResources(ctx, "1", sv.ID, "")
	if err != nil || len(views) != 2 {
		t.Fatalf("resources: %v %+v", err, views)
	}
	if v := views[0]; v.ResourceID != "lb-a" || v.ResourceType != "slb" || v.ZoneID != "z-a" || v.VpcID != "vpc-p" || v.VSwitchID != "vsw-lb-a" ||
		v.IP != netip.MustParseAddr("10.0.1.100") {
		t.Errorf("lb-a: %+v", v)
	}
	if views, _ := s.ListVpcEndpointServiceResources(ctx, "1", sv.ID, "z-b"); len(views) != 1 || views[0].ResourceID != "lb-b" || views[0].IP != netip.MustParseAddr("10.0.2.100") {
		t.Errorf("z-b: %+v", views)
	}

	// The ResourceType filter matches each service's type.
	for typ, want := range map[string][]string{"slb": {sv.ID}, "SLB": {sv.ID}, "ecs": {ecsSvc.ID}, "": {sv.ID, ecsSvc.ID}, "alb": nil} {
		l, err := s.ListVpcEndpointServices(ctx, "1", EndpointServiceQuery{ResourceType: typ})
		var ids []string
		for _, x := range l {
			ids = append(ids, x.ID)
		}
		slices.Sort(ids)
		slices.Sort(want)
		if err != nil || !slices.Equal(ids, want) {
			t.Errorf("ResourceType %q: %v %v, want %v", typ, err, ids, want)
		}
	}

	// Endpoints: zones of the load balancers only.
	ep, err := s.CreateVpcEndpoint(ctx, "2", CreateEndpointInput{VpcID: "vpc-c", SecurityGroupIDs: []string{"sg-1"}, ServiceID: sv.ID,
		Zones: []EndpointZoneSpec{{VSwitchID: "vsw-a"}, {VSwitchID: "vsw-b"}}})
	if err != nil || len(ep.Zones) != 2 {
		t.Fatalf("endpoint in both zones: %v %+v", err, ep)
	}
	if err := s.RemoveZoneFromVpcEndpoint(ctx, "2", ep.ID, "z-b", "", false); err != nil {
		t.Fatal(err)
	}

	// Detach lb-b: z-b is no zone of the service any more.
	unchanged(t, s, "detach as ecs", "OperationDenied.ServiceResourceType", func() error {
		return s.DetachResourceFromVpcEndpointService(ctx, "1", sv.ID, ServiceResourceSpec{ResourceType: "ecs", ResourceID: "lb-b"}, "", false)
	})
	unchanged(t, s, "detach a non-resource", "ResourceNotFound.ServiceResource", func() error {
		return s.DetachResourceFromVpcEndpointService(ctx, "1", sv.ID, lbSpec("lb-q", ""), "", false)
	})
	unchanged(t, s, "detach in the wrong zone", "ResourceNotFound.ServiceResource", func() error {
		return s.DetachResourceFromVpcEndpointService(ctx, "1", sv.ID, lbSpec("lb-b", "z-a"), "", false)
	})
	if err := s.DetachResourceFromVpcEndpointService(ctx, "1", sv.ID, lbSpec("lb-b", "z-b"), "", false); err != nil {
		t.Fatal(err)
	}
	unchanged(t, s, "a zone without load balancer", "OperationDenied.EndpointZone", func() error {
		return s.AddZoneToVpcEndpoint(ctx, "2", ep.ID, EndpointZoneSpec{VSwitchID: "vsw-b"}, "", false)
	})
	// The last one leaves: the service keeps its type and, with an
	// endpoint, its VPC.
	if err := s.DetachResourceFromVpcEndpointService(ctx, "1", sv.ID, lbSpec("lb-a", ""), "", false); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetVpcEndpointServiceAttribute(ctx, "1", sv.ID); got.Type() != "slb" || len(got.Resources) != 0 || got.VpcID != "vpc-p" {
		t.Errorf("after the last detach: %+v", got)
	}
	unchanged(t, s, "an instance to the emptied service", "OperationDenied.ServiceResourceType", func() error {
		return s.AttachResourceToVpcEndpointService(ctx, "1", sv.ID, ServiceResourceSpec{ResourceType: "ecs", ResourceID: "i-a"}, "", false)
	})
}

// A load balancer that backs a service cannot be deleted; its backend
// can (it leaves the load balancer), and so can the load balancer once
// detached. Old records without a ResourceType are ecs services.
func TestPrivateLinkSLBDeletion(t *testing.T) {
	s := plSLBFixture(t)
	ctx := context.Background()
	sv, err := s.CreateVpcEndpointService(ctx, "1", CreateEndpointServiceInput{ServiceResourceType: "slb", Resources: slbRes("lb-a")})
	if err != nil {
		t.Fatal(err)
	}
	unchanged(t, s, "delete the load balancer", "DependencyViolation.VpcEndpointService", func() error {
		return s.DeleteLoadBalancer(ctx, "1", "lb-a")
	})
	if err := s.DeleteInstance(ctx, "1", "i-a", true, false); err != nil {
		t.Fatalf("delete a backend of the load balancer: %v", err)
	}
	if lb, err := s.GetLoadBalancer(ctx, "1", "lb-a"); err != nil || len(lb.Backends) != 0 {
		t.Errorf("load balancer after its backend's deletion: %v %+v", err, lb)
	}
	if err := s.DeleteLoadBalancer(ctx, "1", "lb-b"); err != nil {
		t.Errorf("delete a load balancer that backs nothing: %v", err)
	}
	if err := s.DetachResourceFromVpcEndpointService(ctx, "1", sv.ID, ServiceResourceSpec{ResourceType: "slb", ResourceID: "lb-a"}, "", false); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteLoadBalancer(ctx, "1", "lb-a"); err != nil {
		t.Errorf("delete the detached load balancer: %v", err)
	}

	// A record of before ResourceType: an ecs service.
	old := model.EndpointService{ID: "epsrv-old", AccountID: "1", VpcID: "vpc-p", Status: "Active", Users: []string{},
		Resources: []model.EndpointServiceResource{{ResourceID: "i-b", ResourceType: "ecs", ZoneID: "z-b"}}}
	putRecords(t, s, map[string]any{model.PrefixEndpointService + old.ID: old})
	if l, err := s.ListVpcEndpointServices(ctx, "1", EndpointServiceQuery{ResourceType: "ecs"}); err != nil || len(l) != 1 || l[0].ID != old.ID {
		t.Errorf("old record as ecs: %v %+v", err, l)
	}
	unchanged(t, s, "a load balancer to the old service", "OperationDenied.ServiceResourceType", func() error {
		return s.AttachResourceToVpcEndpointService(ctx, "1", old.ID, ServiceResourceSpec{ResourceType: "slb", ResourceID: "lb-q"}, "", false)
	})
	unchanged(t, s, "delete the old service's instance", "DependencyViolation.VpcEndpointService", func() error {
		return s.DeleteInstance(ctx, "1", "i-b", true, false)
	})
}
