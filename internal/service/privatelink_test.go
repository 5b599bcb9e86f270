package service

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/palisade-project/palisade/internal/errs"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/store"
	"github.com/palisade-project/palisade/internal/store/memory"
)

// plFixture is a service with provider account "1" (vpc-p: instances i-a
// in zone z-a and i-b in zone z-b; vpc-q: i-q in z-a), consumer account
// "2" (vpc-c: vsw-a in z-a, vsw-b in z-b, basic groups sg-1 and sg-2, the
// advanced group sg-adv; vpc-d: vsw-d in z-a, sg-d) and account "3".
func plFixture(t *testing.T) *Service {
	t.Helper()
	s := New(memory.New(), Config{})
	pfx := netip.MustParsePrefix
	inst := func(id, vpc, zone string) model.Instance {
		return model.Instance{ID: id, AccountID: "1", VpcID: vpc, ZoneID: zone, PrimaryENIID: "eni-" + id, Status: model.InstanceRunning}
	}
	recs := map[string]any{
		model.PrefixAccount + "1":            model.Account{ID: "1", Name: "provider"},
		model.PrefixAccount + "2":            model.Account{ID: "2", Name: "consumer"},
		model.PrefixAccount + "3":            model.Account{ID: "3", Name: "stranger"},
		model.PrefixVPC + "vpc-p":            model.VPC{ID: "vpc-p", AccountID: "1", CidrBlock: pfx("10.0.0.0/16")},
		model.PrefixVPC + "vpc-q":            model.VPC{ID: "vpc-q", AccountID: "1", CidrBlock: pfx("10.1.0.0/16")},
		model.PrefixInstance + "i-a":         inst("i-a", "vpc-p", "z-a"),
		model.PrefixInstance + "i-b":         inst("i-b", "vpc-p", "z-b"),
		model.PrefixInstance + "i-q":         inst("i-q", "vpc-q", "z-a"),
		model.PrefixENI + "eni-i-a":          model.ENI{ID: "eni-i-a", AccountID: "1", VpcID: "vpc-p", InstanceID: "i-a", Type: model.ENITypePrimary, PrimaryIP: netip.MustParseAddr("10.0.1.5")},
		model.PrefixVPC + "vpc-c":            model.VPC{ID: "vpc-c", AccountID: "2", CidrBlock: pfx("10.0.0.0/16")},
		model.PrefixVPC + "vpc-d":            model.VPC{ID: "vpc-d", AccountID: "2", CidrBlock: pfx("10.2.0.0/16")},
		model.PrefixVSwitch + "vsw-a":        model.VSwitch{ID: "vsw-a", AccountID: "2", VpcID: "vpc-c", ZoneID: "z-a", CidrBlock: pfx("10.0.1.0/24")},
		model.PrefixVSwitch + "vsw-b":        model.VSwitch{ID: "vsw-b", AccountID: "2", VpcID: "vpc-c", ZoneID: "z-b", CidrBlock: pfx("10.0.2.0/24")},
		model.PrefixVSwitch + "vsw-d":        model.VSwitch{ID: "vsw-d", AccountID: "2", VpcID: "vpc-d", ZoneID: "z-a", CidrBlock: pfx("10.2.1.0/24")},
		model.PrefixSecurityGroup + "sg-1":   model.SecurityGroup{ID: "sg-1", AccountID: "2", VpcID: "vpc-c", Type: model.GroupTypeBasic},
		model.PrefixSecurityGroup + "sg-2":   model.SecurityGroup{ID: "sg-2", AccountID: "2", VpcID: "vpc-c", Type: model.GroupTypeBasic},
		model.PrefixSecurityGroup + "sg-adv": model.SecurityGroup{ID: "sg-adv", AccountID: "2", VpcID: "vpc-c", Type: model.GroupTypeAdvanced},
		model.PrefixSecurityGroup + "sg-d":   model.SecurityGroup{ID: "sg-d", AccountID: "2", VpcID: "vpc-d", Type: model.GroupTypeBasic},
	}
	putRecords(t, s, recs)
	return s
}

// plService creates a service of account 1 on the instances, with account
// 2 as a user.
func plService(t *testing.T, s *Service, instances ...string) model.EndpointService {
	t.Helper()
	ctx := context.Background()
	in := CreateEndpointServiceInput{}
	for _, id := range instances {
		in.Resources = append(in.Resources, ServiceResourceSpec{ResourceID: id})
	}
	sv, err := s.CreateVpcEndpointService(ctx, "1", in)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddUserToVpcEndpointService(ctx, "1", sv.ID, "2", "", "", false); err != nil {
		t.Fatal(err)
	}
	return sv
}

func plENI(t *testing.T, s *Service, id string) (model.ENI, bool) {
	t.Helper()
	var e model.ENI
	var ok bool
	if err := s.view(context.Background(), func(tx store.ReadTxn) error {
		var err error
		ok, err = getJSON(tx, model.PrefixENI+id, &e)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return e, ok
}

func TestFreeTransit(t *testing.T) {
	a := netip.MustParseAddr
	used := func(addrs ...string) map[netip.Addr]bool {
		m := map[netip.Addr]bool{}
		for _, s := range addrs {
			m[a(s)] = true
		}
		return m
	}
	tests := []struct {
		name string
		r    string
		used map[netip.Addr]bool
		want string // "" = none
	}{
		{"first", "100.64.0.0/10", nil, "100.64.0.1"},
		{"lowest free", "100.64.0.0/10", used("100.64.0.1", "100.64.0.2", "100.64.0.4"), "100.64.0.3"},
		{"no broadcast", "100.64.0.0/30", used("100.64.0.1", "100.64.0.2"), ""},
		{"skips cloud services", "100.99.255.252/30", nil, "100.99.255.253"},
		{"reserved only", "100.100.2.0/24", nil, ""},
	}
	for _, tc := range tests {
		got, ok := freeTransit(netip.MustParsePrefix(tc.r), tc.used)
		if (tc.want == "" && ok) || (tc.want != "" && (!ok || got != a(tc.want))) {
			t.Errorf("%s: %v %v, want %q", tc.name, got, ok, tc.want)
		}
	}
	// The range across 100.100.0.0/16: the first address after it.
	r := netip.MustParsePrefix("100.96.0.0/12")
	all := map[netip.Addr]bool{}
	for x := a("100.96.0.1"); x.Less(a("100.100.0.0")); x = x.Next() {
		all[x] = true
	}
	if got, ok := freeTransit(r, all); !ok || got != a("100.101.0.0") {
		t.Errorf("past 100.100.0.0/16: %v %v", got, ok)
	}
	if got := lastAddr(model.TransitRange); got != a("100.127.255.255") {
		t.Errorf("lastAddr: %v", got)
	}
}

// An endpoint's zones are ENIs of the consumer with the endpoint's groups,
// addresses from IPAM and unique transit addresses; group changes, zone
// changes and deletion keep ENIs, memberships, IPAM and transit keys in
// step.
func TestPrivateLinkEndpointRecords(t *testing.T) {
	s := plFixture(t)
	ctx := context.Background()
	sv := plService(t, s, "i-a", "i-b")
	if sv.VpcID != "vpc-p" || sv.Name != "com.aliyuncs.privatelink.local."+sv.ID || sv.Domain != sv.ID+".local."+PrivateLinkDomain ||
		!slices.Equal(ServiceZones(&sv), []string{"z-a", "z-b"}) || sv.AutoAccept || sv.Status != "Active" {
		t.Fatalf("service: %+v", sv)
	}
	ep, err := s.CreateVpcEndpoint(ctx, "2", CreateEndpointInput{
		VpcID: "vpc-c", SecurityGroupIDs: []string{"sg-1"}, ServiceName: sv.Name,
		Zones: []EndpointZoneSpec{{ZoneID: "z-a", VSwitchID: "vsw-a", IP: "10.0.1.9"}, {VSwitchID: "vsw-b"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if ep.ConnectionStatus != model.EndpointDisconnected || ep.ServiceAccountID != "1" || ep.Domain != ep.ID+"."+sv.Domain ||
		ep.VpcID != "vpc-c" || ep.ServiceID != sv.ID || len(ep.Zones) != 2 {
		t.Fatalf("endpoint: %+v", ep)
	}
	want := []model.EndpointZone{
		{ZoneID: "z-a", VSwitchID: "vsw-a", Addr: netip.MustParseAddr("10.0.1.9"), TransitAddr: netip.MustParseAddr("100.64.0.1")},
		{ZoneID: "z-b", VSwitchID: "vsw-b", Addr: netip.MustParseAddr("10.0.2.1"), TransitAddr: netip.MustParseAddr("100.64.0.2")},
	}
	for i, z := range ep.Zones {
		w := want[i]
		w.ENIID = z.ENIID
		if z != w {
			t.Errorf("zone %d: %+v, want %+v", i, z, w)
		}
		e, ok := plENI(t, s, z.ENIID)
		if !ok || e.EndpointID != ep.ID || e.AccountID != "2" || e.InstanceID != "" || e.Type != model.ENITypeSecondary ||
			e.Status != model.ENIInUse || e.VpcID != "vpc-c" || e.VSwitchID != z.VSwitchID || e.ZoneID != z.ZoneID ||
			e.PrimaryIP != z.Addr || !strings.HasPrefix(e.MAC, "00:16:3e:") || !slices.Equal(e.SecurityGroupIDs, []string{"sg-1"}) ||
			e.Description != "PrivateLink endpoint "+ep.ID {
			t.Errorf("ENI of zone %d: %+v", i, e)
		}
	}
	snap := storeSnapshot(t, s)
	for _, z := range ep.Zones {
		for _, k := range []string{ipamKey(z.VSwitchID, z.Addr), memberKey("sg-1", z.ENIID), transitKey(z.TransitAddr)} {
			if _, ok := snap[k]; !ok {
				t.Errorf("no %s", k)
			}
		}
		if v := snap[transitKey(z.TransitAddr)]; v != ep.ID {
			t.Errorf("transit key of %s holds %q", z.TransitAddr, v)
		}
	}

	// Transit addresses are unique across accounts: the provider's own
	// endpoint (another VPC of its own would do; here account 2's vpc-d)
	// gets the next one.
	other, err := s.CreateVpcEndpoint(ctx, "2", CreateEndpointInput{VpcID: "vpc-d", SecurityGroupIDs: []string{"sg-d"}, ServiceID: sv.ID,
		Zones: []EndpointZoneSpec{{VSwitchID: "vsw-d"}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := other.Zones[0].TransitAddr; got != netip.MustParseAddr("100.64.0.3") {
		t.Errorf("second endpoint's transit: %v", got)
	}

	// Groups: attach sg-2, detach sg-1; every ENI and membership follows.
	if err := s.AttachSecurityGroupToVpcEndpoint(ctx, "2", ep.ID, "sg-2", "", false); err != nil {
		t.Fatal(err)
	}
	if err := s.DetachSecurityGroupFromVpcEndpoint(ctx, "2", ep.ID, "sg-1", "", false); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetVpcEndpointAttribute(ctx, "2", ep.ID)
	if err != nil || !slices.Equal(got.SecurityGroupIDs, []string{"sg-2"}) {
		t.Fatalf("groups: %v %+v", err, got)
	}
	snap = storeSnapshot(t, s)
	for _, z := range ep.Zones {
		if e, _ := plENI(t, s, z.ENIID); !slices.Equal(e.SecurityGroupIDs, []string{"sg-2"}) {
			t.Errorf("ENI %s groups %v", z.ENIID, e.SecurityGroupIDs)
		}
		if _, ok := snap[memberKey("sg-1", z.ENIID)]; ok {
			t.Errorf("membership of sg-1 left for %s", z.ENIID)
		}
		if _, ok := snap[memberKey("sg-2", z.ENIID)]; !ok {
			t.Errorf("no membership of sg-2 for %s", z.ENIID)
		}
	}

	// Zones: remove z-b (its ENI, address and transit address go), add it
	// back (the lowest free transit address again).
	zb := ep.Zones[1]
	if err := s.RemoveZoneFromVpcEndpoint(ctx, "2", ep.ID, "z-b", "", false); err != nil {
		t.Fatal(err)
	}
	snap = storeSnapshot(t, s)
	for _, k := range []string{model.PrefixENI + zb.ENIID, ipamKey(zb.VSwitchID, zb.Addr), memberKey("sg-2", zb.ENIID), transitKey(zb.TransitAddr)} {
		if _, ok := snap[k]; ok {
			t.Errorf("left after RemoveZone: %s", k)
		}
	}
	if err := s.AddZoneToVpcEndpoint(ctx, "2", ep.ID, EndpointZoneSpec{ZoneID: "z-b", VSwitchID: "vsw-b", IP: "10.0.2.7"}, "", false); err != nil {
		t.Fatal(err)
	}
	got, _ = s.GetVpcEndpointAttribute(ctx, "2", ep.ID)
	if len(got.Zones) != 2 || got.Zones[1].TransitAddr != zb.TransitAddr || got.Zones[1].Addr != netip.MustParseAddr("10.0.2.7") {
		t.Errorf("zones after AddZone: %+v", got.Zones)
	}
	if e, _ := plENI(t, s, got.Zones[1].ENIID); !slices.Equal(e.SecurityGroupIDs, []string{"sg-2"}) || e.EndpointID != ep.ID {
		t.Errorf("new zone's ENI: %+v", e)
	}

	// Deletion leaves nothing of the endpoint.
	before := storeSnapshot(t, s)
	if err := s.DeleteVpcEndpoint(ctx, "2", ep.ID, "", false); err != nil {
		t.Fatal(err)
	}
	after := storeSnapshot(t, s)
	for k := range before {
		if _, ok := after[k]; ok {
			continue
		}
		if !strings.HasPrefix(k, model.PrefixENI) && !strings.HasPrefix(k, model.PrefixIPAM) && !strings.HasPrefix(k, model.PrefixMember) &&
			!strings.HasPrefix(k, model.PrefixEndpointTransit) && k != model.PrefixEndpoint+ep.ID {
			t.Errorf("DeleteVpcEndpoint deleted %s", k)
		}
	}
	for k, v := range after {
		if strings.Contains(k, ep.ID) || strings.Contains(v, ep.ID) {
			t.Errorf("left after DeleteVpcEndpoint: %s = %s", k, v)
		}
	}
	if len(before)-len(after) != 1+2*4 { // the endpoint; per zone its ENI, address, membership, transit address
		t.Errorf("DeleteVpcEndpoint removed %d keys", len(before)-len(after))
	}
}

func TestPrivateLinkAcceptance(t *testing.T) {
	s := plFixture(t)
	ctx := context.Background()
	sv := plService(t, s, "i-a")
	create := func() model.Endpoint {
		t.Helper()
		ep, err := s.CreateVpcEndpoint(ctx, "2", CreateEndpointInput{VpcID: "vpc-d", SecurityGroupIDs: []string{"sg-d"}, ServiceID: sv.ID,
			Zones: []EndpointZoneSpec{{VSwitchID: "vsw-d"}}})
		if err != nil {
			t.Fatal(err)
		}
		return ep
	}
	status := func(id string) string {
		t.Helper()
		ep, err := s.GetVpcEndpointAttribute(ctx, "2", id)
		if err != nil {
			t.Fatal(err)
		}
		return ep.ConnectionStatus
	}
	ep := create()
	if ep.ConnectionStatus != model.EndpointDisconnected {
		t.Fatalf("new endpoint: %s", ep.ConnectionStatus)
	}
	// Only the owner of the service accepts, and only its endpoints.
	wantCode(t, "consumer enables", s.EnableVpcEndpointConnection(ctx, "2", sv.ID, ep.ID, nil, "", false), "EndpointServiceNotFound", 404)
	wantCode(t, "bandwidth", s.EnableVpcEndpointConnection(ctx, "1", sv.ID, ep.ID, new(int), "", false), "OperationUnsupported.Bandwidth", 400)
	wantCode(t, "dry run", s.EnableVpcEndpointConnection(ctx, "1", sv.ID, ep.ID, nil, "", true), "DryRunOperation", 400)
	if st := status(ep.ID); st != model.EndpointDisconnected {
		t.Fatalf("after refusals: %s", st)
	}
	wantCode(t, "enable", s.EnableVpcEndpointConnection(ctx, "1", sv.ID, ep.ID, nil, "", false), "", 0)
	if st := status(ep.ID); st != model.EndpointConnected {
		t.Errorf("after enable: %s", st)
	}
	wantCode(t, "disable", s.DisableVpcEndpointConnection(ctx, "1", sv.ID, ep.ID, "", false), "", 0)
	if st := status(ep.ID); st != model.EndpointDisconnected {
		t.Errorf("after disable: %s", st)
	}
	// Auto-accept: new endpoints connect at once; the old one stays.
	auto := true
	if err := s.UpdateVpcEndpointServiceAttribute(ctx, "1", sv.ID, UpdateEndpointServiceInput{AutoAccept: &auto}); err != nil {
		t.Fatal(err)
	}
	if ep2 := create(); ep2.ConnectionStatus != model.EndpointConnected {
		t.Errorf("auto-accepted: %s", ep2.ConnectionStatus)
	}
	if st := status(ep.ID); st != model.EndpointDisconnected {
		t.Errorf("old endpoint after auto-accept: %s", st)
	}
	conns, err := s.ListVpcEndpointConnections(ctx, "1", ConnectionQuery{ServiceID: sv.ID, ConnectionStatus: "connected"})
	if err != nil || len(conns) != 1 {
		t.Errorf("connected connections: %v %+v", err, conns)
	}
}

// Users: the owner is implied, users are listed once; a removed user's
// endpoints stay but it can neither create new ones nor add zones.
func TestPrivateLinkUsers(t *testing.T) {
	s := plFixture(t)
	ctx := context.Background()
	sv := plService(t, s, "i-a", "i-b")
	for _, u := range []string{"1", "2", "2"} {
		if err := s.AddUserToVpcEndpointService(ctx, "1", sv.ID, u, "", "", false); err != nil {
			t.Fatal(err)
		}
	}
	if users, err := s.ListVpcEndpointServiceUsers(ctx, "1", sv.ID, ""); err != nil || !slices.Equal(users, []string{"2"}) {
		t.Fatalf("users: %v %v", users, err)
	}
	for _, acct := range []string{"1", "2"} {
		if l, err := s.ListVpcEndpointServicesByEndUser(ctx, acct, EndpointServiceQuery{}); err != nil || len(l) != 1 {
			t.Errorf("%s's usable services: %v %v", acct, l, err)
		}
	}
	if l, err := s.ListVpcEndpointServicesByEndUser(ctx, "3", EndpointServiceQuery{}); err != nil || len(l) != 0 {
		t.Errorf("stranger's usable services: %v %v", l, err)
	}
	ep, err := s.CreateVpcEndpoint(ctx, "2", CreateEndpointInput{VpcID: "vpc-c", SecurityGroupIDs: []string{"sg-1"}, ServiceID: sv.ID,
		Zones: []EndpointZoneSpec{{VSwitchID: "vsw-a"}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveUserFromVpcEndpointService(ctx, "1", sv.ID, "2", "", "", false); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetVpcEndpointAttribute(ctx, "2", ep.ID); err != nil {
		t.Errorf("endpoint after removing its user: %v", err)
	}
	unchanged(t, s, "create after removal", "EndpointServiceNotFound", func() error {
		_, err := s.CreateVpcEndpoint(ctx, "2", CreateEndpointInput{VpcID: "vpc-d", SecurityGroupIDs: []string{"sg-d"}, ServiceID: sv.ID,
			Zones: []EndpointZoneSpec{{VSwitchID: "vsw-d"}}})
		return err
	})
	unchanged(t, s, "add zone after removal", "EndpointServiceNotFound", func() error {
		return s.AddZoneToVpcEndpoint(ctx, "2", ep.ID, EndpointZoneSpec{VSwitchID: "vsw-b"}, "", false)
	})
	unchanged(t, s, "remove the owner", "OperationDenied.ServiceOwner", func() error {
		return s.RemoveUserFromVpcEndpointService(ctx, "1", sv.ID, "1", "", "", false)
	})
	unchanged(t, s, "remove again", "ResourceNotFound.User", func() error {
		return s.RemoveUserFromVpcEndpointService(ctx, "1", sv.ID, "2", "", "", false)
	})
	unchanged(t, s, "unknown account", "ResourceNotFound.User", func() error {
		return s.AddUserToVpcEndpointService(ctx, "1", sv.ID, "99", "", "", false)
	})
	unchanged(t, s, "user arn", "OperationUnsupported.UserARN", func() error {
		return s.AddUserToVpcEndpointService(ctx, "1", sv.ID, "", "acs:ram::2:root", "", false)
	})
	unchanged(t, s, "user dry run", "DryRunOperation", func() error {
		return s.AddUserToVpcEndpointService(ctx, "1", sv.ID, "3", "", "", true)
	})
}

// A service's VPC is its first resource's and is released when the last
// one leaves a service without endpoints.
func TestPrivateLinkServiceResources(t *testing.T) {
	s := plFixture(t)
	ctx := context.Background()
	sv := plService(t, s, "i-a")
	res := func(id string) ServiceResourceSpec { return ServiceResourceSpec{ResourceID: id, ResourceType: "ECS"} }
	unchanged(t, s, "other vpc", "OperationDenied.ServiceResourceVpc", func() error {
		return s.AttachResourceToVpcEndpointService(ctx, "1", sv.ID, res("i-q"), "", false)
	})
	unchanged(t, s, "the consumer's view", "EndpointServiceNotFound", func() error {
		_, err := s.ListVpcEndpointServiceResources(ctx, "2", sv.ID, "")
		return err
	})
	unchanged(t, s, "delete the instance", "DependencyViolation.VpcEndpointService", func() error {
		return s.DeleteInstance(ctx, "1", "i-a", true, false)
	})
	if err := s.DetachResourceFromVpcEndpointService(ctx, "1", sv.ID, res("i-a"), "", false); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetVpcEndpointServiceAttribute(ctx, "1", sv.ID); got.VpcID != "" || len(got.Resources) != 0 {
		t.Errorf("after the last detach: %+v", got)
	}
	if err := s.AttachResourceToVpcEndpointService(ctx, "1", sv.ID, res("i-q"), "", false); err != nil {
		t.Fatal(err)
	}
	views, err := s.ListVpcEndpointServiceResources(ctx, "1", sv.ID, "")
	if err != nil || len(views) != 1 || views[0].ResourceID != "i-q" || views[0].VpcID != "vpc-q" || views[0].ResourceType != model.EndpointResourceECS {
		t.Errorf("resources: %v %+v", err, views)
	}
	// With an endpoint, the VPC stays when the last resource leaves.
	if _, err := s.CreateVpcEndpoint(ctx, "2", CreateEndpointInput{VpcID: "vpc-c", SecurityGroupIDs: []string{"sg-1"}, ServiceID: sv.ID,
		Zones: []EndpointZoneSpec{{VSwitchID: "vsw-a"}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.DetachResourceFromVpcEndpointService(ctx, "1", sv.ID, res("i-q"), "", false); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetVpcEndpointServiceAttribute(ctx, "1", sv.ID); got.VpcID != "vpc-q" {
		t.Errorf("VPC of a service with an endpoint: %q", got.VpcID)
	}
	unchanged(t, s, "another vpc while endpoints use it", "OperationDenied.ServiceResourceVpc", func() error {
		return s.AttachResourceToVpcEndpointService(ctx, "1", sv.ID, res("i-a"), "", false)
	})
	if err := s.DeleteInstance(ctx, "1", "i-q", true, false); err != nil {
		t.Errorf("delete a former resource: %v", err)
	}
}

// Refusals at the service layer change nothing; the endpoint's ENI is
// refused to every ENI action.
func TestPrivateLinkRefusals(t *testing.T) {
	s := plFixture(t)
	ctx := context.Background()
	sv := plService(t, s, "i-a")
	ep, err := s.CreateVpcEndpoint(ctx, "2", CreateEndpointInput{VpcID: "vpc-c", SecurityGroupIDs: []string{"sg-1"}, ServiceID: sv.ID,
		Zones: []EndpointZoneSpec{{VSwitchID: "vsw-a"}}})
	if err != nil {
		t.Fatal(err)
	}
	eni := ep.Zones[0].ENIID
	name := "x"
	const managed = "OperationDenied.ServiceManagedNetworkInterface"
	for _, tc := range []struct {
		what, code string
		fn         func() error
	}{
		{"delete ENI", managed, func() error { return s.DeleteNetworkInterface(ctx, "2", eni) }},
		{"attach ENI", managed, func() error { return s.AttachNetworkInterface(ctx, "2", eni, "i-nope") }},
		{"detach ENI", managed, func() error { return s.DetachNetworkInterface(ctx, "2", eni, "i-nope") }},
		{"modify ENI", managed, func() error { return s.ModifyNetworkInterfaceAttribute(ctx, "2", eni, ModifyENIInput{Name: &name}) }},
		{"assign", managed, func() error { _, err := s.AssignPrivateIpAddresses(ctx, "2", eni, nil, 1); return err }},
		{"unassign", managed, func() error { return s.UnassignPrivateIpAddresses(ctx, "2", eni, []string{"10.0.1.1"}) }},
		{"join", managed, func() error { return s.JoinSecurityGroup(ctx, "2", "sg-2", "", eni) }},
		{"leave", managed, func() error { return s.LeaveSecurityGroup(ctx, "2", "sg-1", "", eni) }},
		{"mirror target", "OperationDenied.TrafficMirrorServiceManagedENI", func() error {
			f, err := s.CreateTrafficMirrorFilter(ctx, "2", CreateMirrorFilterInput{})
			if err != nil {
				return err
			}
			_, err = s.CreateTrafficMirrorSession(ctx, "2", CreateMirrorSessionInput{FilterID: f.ID, TargetID: eni, TargetType: "NetworkInterface", Priority: 1})
			if errs.HasCode(err, "OperationDenied.TrafficMirrorServiceManagedENI") {
				_ = s.DeleteTrafficMirrorFilter(ctx, "2", f.ID, "", false)
			}
			return err
		}},
		{"delete service", "DependencyViolation.VpcEndpoint", func() error { return s.DeleteVpcEndpointService(ctx, "1", sv.ID, "", false) }},
		{"delete endpoint dry run", "DryRunOperation", func() error { return s.DeleteVpcEndpoint(ctx, "2", ep.ID, "", true) }},
		{"provider deletes endpoint", "EndpointNotFound", func() error { return s.DeleteVpcEndpoint(ctx, "1", ep.ID, "", false) }},
		{"zone twice", "DuplicatedParam.ZoneId", func() error {
			return s.AddZoneToVpcEndpoint(ctx, "2", ep.ID, EndpointZoneSpec{VSwitchID: "vsw-a"}, "", false)
		}},
		{"zone the service lacks", "OperationDenied.EndpointZone", func() error {
			return s.AddZoneToVpcEndpoint(ctx, "2", ep.ID, EndpointZoneSpec{VSwitchID: "vsw-b"}, "", false)
		}},
		{"advanced group", "InvalidSecurityGroupType.Mixed", func() error {
			return s.AttachSecurityGroupToVpcEndpoint(ctx, "2", ep.ID, "sg-adv", "", false)
		}},
		{"slb", "OperationUnsupported.ServiceResourceType", func() error {
			_, err := s.CreateVpcEndpointService(ctx, "1", CreateEndpointServiceInput{ServiceResourceType: "alb"})
			return err
		}},
		{"gwlb resource", "OperationUnsupported.ServiceResourceType", func() error {
			_, err := s.CreateVpcEndpointService(ctx, "1", CreateEndpointServiceInput{Resources: []ServiceResourceSpec{{ResourceID: "i-a", ResourceType: "gwlb"}}})
			return err
		}},
		{"21 resources", "QuotaExceeded.ServiceResource", func() error {
			q := DefaultQuotas()
			q.EndpointServiceResources = 1
			small := New(s.st, Config{Quotas: q})
			_, err := small.CreateVpcEndpointService(ctx, "1", CreateEndpointServiceInput{Resources: []ServiceResourceSpec{{ResourceID: "i-a"}, {ResourceID: "i-b"}}})
			return err
		}},
	} {
		unchanged(t, s, tc.what, tc.code, tc.fn)
	}
	// The ENI is listed with the account's ENIs.
	enis, err := s.DescribeNetworkInterfaces(ctx, "2", ENIFilter{})
	if err != nil || len(enis) != 1 || enis[0].ID != eni || enis[0].EndpointID != ep.ID {
		t.Errorf("DescribeNetworkInterfaces: %v %+v", err, enis)
	}
}

// ClientToken: a retried creation answers the first result and creates
// nothing more.
func TestPrivateLinkClientToken(t *testing.T) {
	s := plFixture(t)
	ctx := context.Background()
	in := CreateEndpointServiceInput{Resources: []ServiceResourceSpec{{ResourceID: "i-a"}}, ClientToken: "t1"}
	a, err := s.CreateVpcEndpointService(ctx, "1", in)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.CreateVpcEndpointService(ctx, "1", in)
	if err != nil || b.ID != a.ID {
		t.Errorf("retry: %v %s, want %s", err, b.ID, a.ID)
	}
	in.AutoAccept = true
	unchanged(t, s, "token mismatch", "IdempotentParameterMismatch", func() error {
		_, err := s.CreateVpcEndpointService(ctx, "1", in)
		return err
	})
	if err := s.AddUserToVpcEndpointService(ctx, "1", a.ID, "2", "", "", false); err != nil {
		t.Fatal(err)
	}
	ein := CreateEndpointInput{VpcID: "vpc-c", SecurityGroupIDs: []string{"sg-1"}, ServiceID: a.ID, Zones: []EndpointZoneSpec{{VSwitchID: "vsw-a"}}, ClientToken: "t2"}
	e1, err := s.CreateVpcEndpoint(ctx, "2", ein)
	if err != nil {
		t.Fatal(err)
	}
	e2, err := s.CreateVpcEndpoint(ctx, "2", ein)
	if err != nil || e2.ID != e1.ID || e2.Zones[0] != e1.Zones[0] {
		t.Errorf("endpoint retry: %v %+v", err, e2)
	}
	if l, _ := s.ListVpcEndpoints(ctx, "2", EndpointQuery{}); len(l) != 1 {
		t.Errorf("endpoints: %d", len(l))
	}
}
