package service

import (
	"context"
	"net/netip"
	"slices"
	"testing"

	"github.com/palisade-project/palisade/internal/errs"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/store"
	"github.com/palisade-project/palisade/internal/store/memory"
)

// slbFixture: admin "0"; account "1" with vpc-1 (vsw-a in z-a, vsw-b in
// z-b; instances i-a and i-a2 in z-a, i-b in z-b) and vpc-2 (vsw-c in
// z-a, instance i-c); account "2" with vpc-x (vsw-x in z-a, instance
// i-x). eni-i-a holds 10.0.1.5 in vsw-a's IPAM.
func slbFixture(t *testing.T, q Quotas) *Service {
	t.Helper()
	s := New(memory.New(), Config{Quotas: q})
	pfx := netip.MustParsePrefix
	ip := netip.MustParseAddr
	inst := func(id, acct, vpc, vsw, zone string) model.Instance {
		return model.Instance{ID: id, AccountID: acct, VpcID: vpc, VSwitchID: vsw, ZoneID: zone, PrimaryENIID: "eni-" + id, Status: model.InstanceRunning}
	}
	eni := func(id, acct, vpc, vsw, zone, addr string) model.ENI {
		return model.ENI{ID: "eni-" + id, AccountID: acct, VpcID: vpc, VSwitchID: vsw, ZoneID: zone, InstanceID: id, Type: model.ENITypePrimary,
			PrimaryIP: ip(addr), Status: model.ENIInUse}
	}
	recs := map[string]any{
		model.PrefixAccount + "0":          model.Account{ID: "0", Name: "admin", Admin: true},
		model.PrefixAccount + "1":          model.Account{ID: "1", Name: "alice"},
		model.PrefixAccount + "2":          model.Account{ID: "2", Name: "bob"},
		model.PrefixVPC + "vpc-1":          model.VPC{ID: "vpc-1", AccountID: "1", CidrBlock: pfx("10.0.0.0/16")},
		model.PrefixVPC + "vpc-2":          model.VPC{ID: "vpc-2", AccountID: "1", CidrBlock: pfx("10.1.0.0/16")},
		model.PrefixVPC + "vpc-x":          model.VPC{ID: "vpc-x", AccountID: "2", CidrBlock: pfx("10.0.0.0/16")},
		model.PrefixVSwitch + "vsw-a":      model.VSwitch{ID: "vsw-a", AccountID: "1", VpcID: "vpc-1", ZoneID: "z-a", CidrBlock: pfx("10.0.1.0/24")},
		model.PrefixVSwitch + "vsw-b":      model.VSwitch{ID: "vsw-b", AccountID: "1", VpcID: "vpc-1", ZoneID: "z-b", CidrBlock: pfx("10.0.2.0/24")},
		model.PrefixVSwitch + "vsw-c":      model.VSwitch{ID: "vsw-c", AccountID: "1", VpcID: "vpc-2", ZoneID: "z-a", CidrBlock: pfx("10.1.1.0/24")},
		model.PrefixVSwitch + "vsw-x":      model.VSwitch{ID: "vsw-x", AccountID: "2", VpcID: "vpc-x", ZoneID: "z-a", CidrBlock: pfx("10.0.1.0/24")},
		model.PrefixSecurityGroup + "sg-1": model.SecurityGroup{ID: "sg-1", AccountID: "1", VpcID: "vpc-1", Type: model.GroupTypeBasic},
		model.PrefixInstance + "i-a":       inst("i-a", "1", "vpc-1", "vsw-a", "z-a"),
		model.PrefixInstance + "i-a2":      inst("i-a2", "1", "vpc-1", "vsw-a", "z-a"),
		model.PrefixInstance + "i-b":       inst("i-b", "1", "vpc-1", "vsw-b", "z-b"),
		model.PrefixInstance + "i-c":       inst("i-c", "1", "vpc-2", "vsw-c", "z-a"),
		model.PrefixInstance + "i-x":       inst("i-x", "2", "vpc-x", "vsw-x", "z-a"),
		model.PrefixENI + "eni-i-a":        eni("i-a", "1", "vpc-1", "vsw-a", "z-a", "10.0.1.5"),
		model.PrefixENI + "eni-i-a2":       eni("i-a2", "1", "vpc-1", "vsw-a", "z-a", "10.0.1.6"),
	}
	putRecords(t, s, recs)
	if _, err := s.update(context.Background(), func(tx store.Txn) error {
		for _, e := range []struct{ eni, addr string }{{"eni-i-a", "10.0.1.5"}, {"eni-i-a2", "10.0.1.6"}} {
			if err := tx.Put(ipamKey("vsw-a", netip.MustParseAddr(e.addr)), []byte(e.eni)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return s
}

func newLB(t *testing.T, s *Service, account string, in CreateLoadBalancerInput) model.LoadBalancer {
	t.Helper()
	lb, err := s.CreateLoadBalancer(context.Background(), account, in)
	if err != nil {
		t.Fatalf("CreateLoadBalancer %+v: %v", in, err)
	}
	return lb
}

func ipamOwner(t *testing.T, s *Service, vsw, addr string) string {
	t.Helper()
	var owner string
	if err := s.view(context.Background(), func(tx store.ReadTxn) error {
		b, _, err := tx.Get(ipamKey(vsw, netip.MustParseAddr(addr)))
		owner = string(b)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return owner
}

func intp(n int) *int       { return &n }
func strp(v string) *string { return &v }

func TestCreateLoadBalancerRefusals(t *testing.T) {
	s := slbFixture(t, Quotas{})
	ok := CreateLoadBalancerInput{AddressType: "intranet", VSwitchID: "vsw-a"}
	with := func(f func(*CreateLoadBalancerInput)) CreateLoadBalancerInput {
		in := ok
		f(&in)
		return in
	}
	tests := []struct {
		name string
		in   CreateLoadBalancerInput
		code string
	}{
		{"no address type, no vswitch", CreateLoadBalancerInput{}, "OperationUnsupported.AddressType"},
		{"internet", with(func(in *CreateLoadBalancerInput) { in.AddressType = "internet" }), "OperationUnsupported.AddressType"},
		{"intranet without vswitch", CreateLoadBalancerInput{AddressType: "intranet"}, "MissingParam.VSwitchId"},
		{"unknown address type", with(func(in *CreateLoadBalancerInput) { in.AddressType = "dmz" }), "InvalidParameter"},
		{"ipv6", with(func(in *CreateLoadBalancerInput) { in.AddressIPVersion = "ipv6" }), "InvalidParameter.Mismatch"},
		{"standby zone", with(func(in *CreateLoadBalancerInput) { in.SlaveZoneID = "z-b" }), "OperationUnsupported.SlaveZoneId"},
		{"prepaid", with(func(in *CreateLoadBalancerInput) { in.PayType = "PrePay" }), "OperationUnsupported.PayType"},
		{"console protection", with(func(in *CreateLoadBalancerInput) { in.ModificationProtection = "ConsoleProtection" }), "OperationUnsupported.ModificationProtectionStatus"},
		{"bad delete protection", with(func(in *CreateLoadBalancerInput) { in.DeleteProtection = "maybe" }), "InvalidParameter"},
		{"long name", with(func(in *CreateLoadBalancerInput) { in.Name = string(make([]byte, 81)) }), "InvalidParameter"},
		{"vswitch of another account", with(func(in *CreateLoadBalancerInput) { in.VSwitchID = "vsw-x" }), "InvalidVSwitchId.NotFound"},
		{"unknown vpc", with(func(in *CreateLoadBalancerInput) { in.VpcID = "vpc-nope" }), "InvalidVpcId.NotFound"},
		{"vpc of another account", with(func(in *CreateLoadBalancerInput) { in.VpcID = "vpc-x" }), "InvalidVpcId.NotFound"},
		{"vswitch outside the vpc", with(func(in *CreateLoadBalancerInput) { in.VpcID = "vpc-2" }), "InvalidVSwitchId.VpcMismatch"},
		{"zone not the vswitch's", with(func(in *CreateLoadBalancerInput) { in.MasterZoneID = "z-b" }), "InvalidVSwitchId.ZoneMismatch"},
		{"address outside", with(func(in *CreateLoadBalancerInput) { in.Address = "10.0.2.9" }), "InvalidPrivateIpAddress.Mismatch"},
		{"address reserved", with(func(in *CreateLoadBalancerInput) { in.Address = "10.0.1.255" }), "InvalidPrivateIpAddress.Reserved"},
		{"address of an ENI", with(func(in *CreateLoadBalancerInput) { in.Address = "10.0.1.5" }), "InvalidPrivateIpAddress.Duplicated"},
		{"address malformed", with(func(in *CreateLoadBalancerInput) { in.Address = "10.0.1" }), "InvalidPrivateIpAddress.Malformed"},
		{"address ipv6", with(func(in *CreateLoadBalancerInput) { in.Address = "fd00::1" }), "InvalidPrivateIpAddress.Malformed"},
	}
	for _, tc := range tests {
		unchanged(t, s, tc.name, tc.code, func() error {
			_, err := s.CreateLoadBalancer(context.Background(), "1", tc.in)
			return err
		})
	}
	// The statuses of a few.
	_, err := s.CreateLoadBalancer(context.Background(), "1", with(func(in *CreateLoadBalancerInput) { in.VSwitchID = "vsw-x" }))
	wantCode(t, "vswitch of another account", err, "InvalidVSwitchId.NotFound", 404)
	_, err = s.CreateLoadBalancer(context.Background(), "1", CreateLoadBalancerInput{AddressType: "internet"})
	wantCode(t, "internet", err, "OperationUnsupported.AddressType", 400)
}

func TestCreateLoadBalancerQuota(t *testing.T) {
	q := DefaultQuotas()
	q.LoadBalancersPerAccount = 1
	s := slbFixture(t, q)
	newLB(t, s, "1", CreateLoadBalancerInput{VSwitchID: "vsw-a"})
	unchanged(t, s, "second load balancer", "OverQuota", func() error {
		_, err := s.CreateLoadBalancer(context.Background(), "1", CreateLoadBalancerInput{VSwitchID: "vsw-b"})
		return err
	})
	// Another account's quota is its own.
	newLB(t, s, "2", CreateLoadBalancerInput{VSwitchID: "vsw-x"})
	if got := New(memory.New(), Config{Quotas: Quotas{VpcsPerAccount: 1}}).Quotas(); got.LoadBalancersPerAccount != DefaultLoadBalancersPerAccount ||
		got.ListenersPerLoadBalancer != DefaultListenersPerLoadBalancer || got.BackendsPerLoadBalancer != DefaultBackendsPerLoadBalancer {
		t.Errorf("default SLB quotas: %+v", got)
	}
}

// A load balancer's address is the vSwitch's (IPAM), given back on
// delete; the load balancer is its account's only; delete protection,
// ClientToken, and vSwitch/VPC deletion refused while it exists.
func TestLoadBalancerLifecycle(t *testing.T) {
	s := slbFixture(t, Quotas{})
	ctx := context.Background()
	lb := newLB(t, s, "1", CreateLoadBalancerInput{VSwitchID: "vsw-a", Name: "web", Tags: []model.Tag{{Key: "env", Value: "prod"}}})
	if lb.Address != netip.MustParseAddr("10.0.1.1") || lb.ZoneID != "z-a" || lb.VpcID != "vpc-1" || lb.Status != model.LBStatusActive ||
		lb.AddressType != model.LBAddressIntranet || lb.Name != "web" || lb.Listeners == nil || lb.Backends == nil {
		t.Fatalf("created %+v", lb)
	}
	if owner := ipamOwner(t, s, "vsw-a", "10.0.1.1"); owner != lb.ID {
		t.Errorf("IPAM of 10.0.1.1: %q", owner)
	}
	fixed := newLB(t, s, "1", CreateLoadBalancerInput{AddressType: "Intranet", VSwitchID: "vsw-a", VpcID: "vpc-1", Address: "10.0.1.9", DeleteProtection: "on"})
	if fixed.Address != netip.MustParseAddr("10.0.1.9") || !fixed.DeleteProtection || fixed.Name != LBDefaultName {
		t.Fatalf("fixed %+v", fixed)
	}
	// No ENI can take it.
	_, err := s.CreateNetworkInterface(ctx, "1", ENISpec{VSwitchID: "vsw-a", PrimaryIP: "10.0.1.9", SecurityGroupIDs: []string{"sg-1"}}, "")
	wantCode(t, "ENI on the load balancer's address", err, "InvalidPrivateIpAddress.Duplicated", 400)

	// ClientToken.
	in := CreateLoadBalancerInput{VSwitchID: "vsw-b", ClientToken: "t-1"}
	a := newLB(t, s, "1", in)
	if b := newLB(t, s, "1", in); b.ID != a.ID || b.Address != a.Address {
		t.Errorf("retry: %s %s, first %s %s", b.ID, b.Address, a.ID, a.Address)
	}
	in.Name = "other"
	unchanged(t, s, "token reused", "IdempotentParameterMismatch", func() error { _, err := s.CreateLoadBalancer(ctx, "1", in); return err })

	// Another account sees nothing.
	for name, fn := range map[string]func() error{
		"get":    func() error { _, err := s.GetLoadBalancer(ctx, "2", lb.ID); return err },
		"delete": func() error { return s.DeleteLoadBalancer(ctx, "2", lb.ID) },
		"rename": func() error { return s.SetLoadBalancerName(ctx, "2", lb.ID, "x") },
		"listener": func() error {
			return s.CreateListener(ctx, "2", lb.ID, ListenerSpec{Protocol: "tcp", Port: 80, BackendPort: intp(80)})
		},
		"backends": func() error {
			_, err := s.AddBackendServers(ctx, "2", lb.ID, []BackendServerSpec{{ServerID: "i-x"}})
			return err
		},
		"health":     func() error { _, err := s.DescribeHealthStatus(ctx, "2", lb.ID, 0, ""); return err },
		"protection": func() error { return s.SetLoadBalancerDeleteProtection(ctx, "2", lb.ID, "off") },
	} {
		unchanged(t, s, "account 2 "+name, "InvalidLoadBalancerId.NotFound", fn)
	}
	if list, err := s.DescribeLoadBalancers(ctx, "2", LoadBalancerQuery{}); err != nil || len(list) != 0 {
		t.Errorf("account 2 lists %v %v", list, err)
	}

	// Filters.
	for _, tc := range []struct {
		q    LoadBalancerQuery
		want []string
	}{
		{LoadBalancerQuery{}, []string{lb.ID, fixed.ID, a.ID}},
		{LoadBalancerQuery{IDs: []string{fixed.ID, "lb-nope"}}, []string{fixed.ID}},
		{LoadBalancerQuery{Name: "web"}, []string{lb.ID}},
		{LoadBalancerQuery{VSwitchID: "vsw-b"}, []string{a.ID}},
		{LoadBalancerQuery{Address: "10.0.1.9"}, []string{fixed.ID}},
		{LoadBalancerQuery{AddressType: "internet"}, nil},
		{LoadBalancerQuery{NetworkType: "VPC", VpcID: "vpc-1", MasterZoneID: "z-a"}, []string{lb.ID, fixed.ID}},
		{LoadBalancerQuery{Tags: []model.Tag{{Key: "env"}}}, []string{lb.ID}},
		{LoadBalancerQuery{Status: "inactive"}, nil},
	} {
		list, err := s.DescribeLoadBalancers(ctx, "1", tc.q)
		var ids []string
		for _, x := range list {
			ids = append(ids, x.ID)
		}
		if err != nil || !slices.Equal(ids, tc.want) {
			t.Errorf("%+v: %v %v, want %v", tc.q, ids, err, tc.want)
		}
	}

	// Attributes.
	for name, tc := range map[string]struct {
		fn   func() error
		code string
	}{
		"empty name":    {func() error { return s.SetLoadBalancerName(ctx, "1", lb.ID, "") }, "MissingParameter"},
		"bad status":    {func() error { return s.SetLoadBalancerStatus(ctx, "1", lb.ID, "locked") }, "InvalidParameter"},
		"no status":     {func() error { return s.SetLoadBalancerStatus(ctx, "1", lb.ID, "") }, "MissingParameter"},
		"bad protect":   {func() error { return s.SetLoadBalancerDeleteProtection(ctx, "1", lb.ID, "yes") }, "InvalidParameter"},
		"no id":         {func() error { return s.SetLoadBalancerName(ctx, "1", "", "x") }, "MissingParameter"},
		"protected del": {func() error { return s.DeleteLoadBalancer(ctx, "1", fixed.ID) }, "OperationDenied.DeleteProtectionIsOn"},
		"vswitch":       {func() error { return s.DeleteVSwitch(ctx, "1", "vsw-a") }, "DependencyViolation"},
		"vpc":           {func() error { return s.DeleteVpc(ctx, "1", "vpc-1", true, false) }, "DependencyViolation"},
	} {
		unchanged(t, s, name, tc.code, tc.fn)
	}
	if err := s.SetLoadBalancerName(ctx, "1", lb.ID, "api"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetLoadBalancerStatus(ctx, "1", lb.ID, "Inactive"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetLoadBalancer(ctx, "1", lb.ID); got.Name != "api" || got.Status != model.LBStatusInactive {
		t.Errorf("after set: %+v", got)
	}

	// Delete gives the address back; the same address can be taken again.
	if err := s.SetLoadBalancerDeleteProtection(ctx, "1", fixed.ID, "off"); err != nil {
		t.Fatal(err)
	}
	putRecords(t, s, map[string]any{model.PrefixLBHealth + fixed.ID: model.LBHealth{LoadBalancerID: fixed.ID}})
	if err := s.DeleteLoadBalancer(ctx, "1", fixed.ID); err != nil {
		t.Fatal(err)
	}
	snap := storeSnapshot(t, s)
	for k := range snap {
		if k == model.PrefixLBHealth+fixed.ID || k == model.PrefixLoadBalancer+fixed.ID || k == ipamKey("vsw-a", netip.MustParseAddr("10.0.1.9")) {
			t.Errorf("%s left after delete", k)
		}
	}
	again := newLB(t, s, "1", CreateLoadBalancerInput{VSwitchID: "vsw-a", Address: "10.0.1.9"})
	wantCode(t, "delete again", s.DeleteLoadBalancer(ctx, "1", fixed.ID), "InvalidLoadBalancerId.NotFound", 404)
	for _, id := range []string{lb.ID, again.ID, a.ID} {
		if err := s.DeleteLoadBalancer(ctx, "1", id); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteVSwitch(ctx, "1", "vsw-b"); err != nil {
		t.Errorf("vsw-b without load balancers: %v", err)
	}
}

func TestListeners(t *testing.T) {
	q := DefaultQuotas()
	q.ListenersPerLoadBalancer = 3
	s := slbFixture(t, q)
	ctx := context.Background()
	lb := newLB(t, s, "1", CreateLoadBalancerInput{VSwitchID: "vsw-a"})
	tcp := ListenerSpec{Protocol: "tcp", Port: 80, BackendPort: intp(8080)}
	if err := s.CreateListener(ctx, "1", lb.ID, tcp); err != nil {
		t.Fatal(err)
	}
	l, err := s.GetListener(ctx, "1", lb.ID, 80, "tcp")
	want := model.LBListener{Protocol: "tcp", Port: 80, BackendPort: 8080, Scheduler: "wrr", Status: model.ListenerStopped, Bandwidth: -1,
		HealthCheck: model.LBHealthCheck{Enabled: true, Interval: 2, ConnectTimeout: 5, HealthyThreshold: 3, UnhealthyThreshold: 3}}
	if err != nil || l != want {
		t.Fatalf("listener %+v %v, want %+v", l, err, want)
	}
	udp := ListenerSpec{Protocol: "udp", Port: 80, BackendPort: intp(53), Scheduler: strp("rr"), HealthCheck: strp("off"), Bandwidth: intp(-1),
		HealthyThreshold: intp(10), UnhealthyThreshold: intp(2), HealthCheckInterval: intp(50), HealthCheckConnectTimeout: intp(300),
		HealthCheckConnectPort: intp(5353), Description: strp("dns")}
	if err := s.CreateListener(ctx, "1", lb.ID, udp); err != nil {
		t.Fatal(err)
	}
	if l, _ := s.GetListener(ctx, "1", lb.ID, 80, "udp"); l.Scheduler != "rr" || l.HealthCheck.Enabled || l.HealthCheck.ConnectPort != 5353 ||
		l.HealthCheck.Interval != 50 || l.Description != "dns" {
		t.Errorf("udp listener %+v", l)
	}
	with := func(f func(*ListenerSpec)) ListenerSpec {
		x := ListenerSpec{Protocol: "tcp", Port: 81, BackendPort: intp(81)}
		f(&x)
		return x
	}
	for _, tc := range []struct {
		name string
		x    ListenerSpec
		code string
	}{
		{"exists", tcp, "ListenerAlreadyExists"},
		{"port 0", with(func(x *ListenerSpec) { x.Port = 0 }), "InvalidParameter"},
		{"port 65536", with(func(x *ListenerSpec) { x.Port = 65536 }), "InvalidParameter"},
		{"no backend port", with(func(x *ListenerSpec) { x.BackendPort = nil }), "MissingParameter"},
		{"backend port 0", with(func(x *ListenerSpec) { x.BackendPort = intp(0) }), "InvalidParameter"},
		{"protocol http", with(func(x *ListenerSpec) { x.Protocol = "http" }), "InvalidParameter"},
		{"bandwidth", with(func(x *ListenerSpec) { x.Bandwidth = intp(10) }), "InvalidParameter.Bandwidth"},
		{"wlc", with(func(x *ListenerSpec) { x.Scheduler = strp("wlc") }), "OperationUnsupported.Scheduler"},
		{"tch", with(func(x *ListenerSpec) { x.Scheduler = strp("tch") }), "OperationUnsupported.Scheduler"},
		{"bad scheduler", with(func(x *ListenerSpec) { x.Scheduler = strp("random") }), "InvalidParameter"},
		{"bad switch", with(func(x *ListenerSpec) { x.HealthCheck = strp("yes") }), "InvalidParameter"},
		{"healthy 1", with(func(x *ListenerSpec) { x.HealthyThreshold = intp(1) }), "InvalidParameter"},
		{"unhealthy 11", with(func(x *ListenerSpec) { x.UnhealthyThreshold = intp(11) }), "InvalidParameter"},
		{"interval 51", with(func(x *ListenerSpec) { x.HealthCheckInterval = intp(51) }), "InvalidParameter"},
		{"timeout 0", with(func(x *ListenerSpec) { x.HealthCheckConnectTimeout = intp(0) }), "InvalidParameter"},
		{"connect port", with(func(x *ListenerSpec) { x.HealthCheckConnectPort = intp(70000) }), "InvalidParameter"},
		{"description", with(func(x *ListenerSpec) { x.Description = strp("https://x") }), "InvalidParameter"},
		{"vserver group", with(func(x *ListenerSpec) { x.BackendPort, x.Settings.VServerGroupID = nil, "rsp-1" }), "OperationUnsupported.VServerGroupId"},
		{"master slave", with(func(x *ListenerSpec) { x.Settings.MasterSlaveServerGroupID = "rsp-2" }), "OperationUnsupported.MasterSlaveServerGroupId"},
		{"persistence", with(func(x *ListenerSpec) { x.Settings.PersistenceTimeout = intp(60) }), "OperationUnsupported.PersistenceTimeout"},
		{"established", with(func(x *ListenerSpec) { x.Settings.EstablishedTimeout = intp(900) }), "OperationUnsupported.EstablishedTimeout"},
		{"acl on without type", with(func(x *ListenerSpec) { x.AclStatus, x.AclID = strp("on"), strp("acl-nope") }), "MissingParameter"},
		{"acl on without list", with(func(x *ListenerSpec) { x.AclStatus, x.AclType = strp("on"), strp("white") }), "MissingParameter"},
		{"acl unknown", with(func(x *ListenerSpec) { x.AclStatus, x.AclType, x.AclID = strp("on"), strp("white"), strp("acl-nope") }), "AclNotExist"},
		{"acl bad status", with(func(x *ListenerSpec) { x.AclStatus = strp("yes") }), "InvalidParameter"},
		{"acl bad type", with(func(x *ListenerSpec) { x.AclStatus, x.AclType, x.AclID = strp("on"), strp("grey"), strp("acl-nope") }), "InvalidParameter"},
		{"drain", with(func(x *ListenerSpec) { x.Settings.ConnectionDrain = "on" }), "OperationUnsupported.ConnectionDrain"},
		{"proxy protocol", with(func(x *ListenerSpec) { x.Settings.ProxyProtocolV2 = true }), "OperationUnsupported.ProxyProtocolV2Enabled"},
		{"http check", with(func(x *ListenerSpec) { x.Settings.HealthCheckType = "http" }), "OperationUnsupported.HealthCheckType"},
		{"check uri", with(func(x *ListenerSpec) { x.Settings.HealthCheckURI = "/" }), "OperationUnsupported.HealthCheckURI"},
		{"check domain", with(func(x *ListenerSpec) { x.Settings.HealthCheckDomain = "a.example" }), "OperationUnsupported.HealthCheckDomain"},
		{"udp req", with(func(x *ListenerSpec) { x.Protocol, x.Settings.HealthCheckReq = "udp", "ping" }), "OperationUnsupported.healthCheckReq"},
		{"syn proxy", with(func(x *ListenerSpec) { x.Settings.SynProxy = "enable" }), "OperationUnsupported.SynProxy"},
		{"tags", with(func(x *ListenerSpec) { x.Settings.Tagged = true }), "OperationUnsupported.Tag"},
	} {
		unchanged(t, s, tc.name, tc.code, func() error { return s.CreateListener(ctx, "1", lb.ID, tc.x) })
	}
	// Defaults of the refused settings pass.
	ok := with(func(x *ListenerSpec) {
		x.AclStatus, x.AclType = strp("off"), strp("black")
		x.Settings = ListenerSettings{PersistenceTimeout: intp(0), ConnectionDrain: "off", HealthCheckType: "tcp",
			HealthCheckDomain: "$_ip", SynProxy: "disable", VServerGroup: "off"}
	})
	if err := s.CreateListener(ctx, "1", lb.ID, ok); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	unchanged(t, s, "quota", "OverQuota", func() error {
		return s.CreateListener(ctx, "1", lb.ID, ListenerSpec{Protocol: "tcp", Port: 82, BackendPort: intp(82)})
	})

	// Naming a listener by port: ambiguous on 80 without a protocol.
	for _, tc := range []struct {
		name  string
		port  int
		proto string
		code  string
	}{
		{"shared port", 80, "", "MissingParam.ListenerProtocol"},
		{"no listener", 443, "", "InvalidParameter"},
		{"no udp listener", 81, "udp", "InvalidParameter"},
		{"http", 80, "http", "InvalidParameter"},
		{"bad protocol", 80, "sctp", "InvalidParameter"},
		{"bad port", -1, "tcp", "InvalidParameter"},
	} {
		unchanged(t, s, "start "+tc.name, tc.code, func() error { return s.SetListenerStatus(ctx, "1", lb.ID, tc.port, tc.proto, true) })
		unchanged(t, s, "delete "+tc.name, tc.code, func() error { return s.DeleteListener(ctx, "1", lb.ID, tc.port, tc.proto) })
	}
	if err := s.SetListenerStatus(ctx, "1", lb.ID, 81, "", true); err != nil {
		t.Fatal(err)
	}
	if err := s.SetListenerStatus(ctx, "1", lb.ID, 80, "TCP", true); err != nil {
		t.Fatal(err)
	}
	if err := s.SetListenerStatus(ctx, "1", lb.ID, 80, "tcp", true); err != nil {
		t.Errorf("start a running listener: %v", err)
	}
	got, _ := s.GetLoadBalancer(ctx, "1", lb.ID)
	var states []string
	for _, l := range got.Listeners {
		states = append(states, l.Protocol+"/"+string(rune('0'+l.Port%10))+"/"+l.Status)
	}
	if !slices.Equal(states, []string{"tcp/0/running", "udp/0/stopped", "tcp/1/running"}) {
		t.Errorf("listeners %v", states)
	}

	// Set.
	set := ListenerSpec{Protocol: "tcp", Port: 80, Scheduler: strp("rr"), HealthCheckInterval: intp(10), Description: strp("web")}
	if err := s.SetListener(ctx, "1", lb.ID, set); err != nil {
		t.Fatal(err)
	}
	if l, _ := s.GetListener(ctx, "1", lb.ID, 80, "tcp"); l.Scheduler != "rr" || l.HealthCheck.Interval != 10 || l.Description != "web" ||
		l.BackendPort != 8080 || l.Status != model.ListenerRunning || l.HealthCheck.HealthyThreshold != 3 {
		t.Errorf("after set %+v", l)
	}
	for name, x := range map[string]ListenerSpec{
		"udp attribute on tcp only port": {Protocol: "udp", Port: 81},
		"backend port":                   {Protocol: "tcp", Port: 80, BackendPort: intp(1)},
		"sch":                            {Protocol: "tcp", Port: 80, Scheduler: strp("sch")},
		"vserver group on":               {Protocol: "tcp", Port: 80, Settings: ListenerSettings{VServerGroup: "on"}},
	} {
		before := storeSnapshot(t, s)
		if err := s.SetListener(ctx, "1", lb.ID, x); err == nil {
			t.Errorf("%s: accepted", name)
		}
		if after := storeSnapshot(t, s); len(after) != len(before) || after[model.PrefixLoadBalancer+lb.ID] != before[model.PrefixLoadBalancer+lb.ID] {
			t.Errorf("%s changed the load balancer", name)
		}
	}

	// Listing.
	views, err := s.DescribeLoadBalancerListeners(ctx, "1", ListenerQuery{Protocol: "udp"})
	if err != nil || len(views) != 1 || views[0].LoadBalancerID != lb.ID || views[0].Port != 80 {
		t.Errorf("udp listeners %+v %v", views, err)
	}
	if views, _ := s.DescribeLoadBalancerListeners(ctx, "2", ListenerQuery{LoadBalancerIDs: []string{lb.ID}}); len(views) != 0 {
		t.Errorf("account 2 lists %+v", views)
	}

	if err := s.DeleteListener(ctx, "1", lb.ID, 80, "udp"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetListenerStatus(ctx, "1", lb.ID, 80, "", false); err != nil {
		t.Errorf("stop the one listener on 80: %v", err)
	}
}

func TestBackendServers(t *testing.T) {
	q := DefaultQuotas()
	q.BackendsPerLoadBalancer = 2
	s := slbFixture(t, q)
	ctx := context.Background()
	lb := newLB(t, s, "1", CreateLoadBalancerInput{VSwitchID: "vsw-a"})
	got, err := s.AddBackendServers(ctx, "1", lb.ID, []BackendServerSpec{{ServerID: "i-a"}, {ServerID: "i-a", Weight: intp(5)}, {ServerID: "i-a2", Weight: intp(0), Type: "ECS", Description: strp("canary")}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []model.LBBackend{{ServerID: "i-a", Type: "ecs", Weight: 100}, {ServerID: "i-a2", Type: "ecs", Weight: 0, Description: "canary"}}; !slices.Equal(got.Backends, want) {
		t.Fatalf("backends %+v", got.Backends)
	}
	many := make([]BackendServerSpec, BackendServersPerCall+1)
	for i := range many {
		many[i].ServerID = "i-a"
	}
	for _, tc := range []struct {
		name  string
		specs []BackendServerSpec
		code  string
	}{
		{"none", nil, "MissingParameter"},
		{"no id", []BackendServerSpec{{}}, "MissingParameter"},
		{"too many", many, "InvalidParameter"},
		{"eni", []BackendServerSpec{{ServerID: "eni-1", Type: "eni"}}, "OperationUnsupported.BackendServerType"},
		{"bad type", []BackendServerSpec{{ServerID: "i-b", Type: "vm"}}, "InvalidParameter"},
		{"weight", []BackendServerSpec{{ServerID: "i-b", Weight: intp(101)}}, "InvalidParameter"},
		{"port", []BackendServerSpec{{ServerID: "i-b", Port: "80"}}, "OperationUnsupported.Port"},
		{"exists", []BackendServerSpec{{ServerID: "i-a"}}, "BackendServerAlreadyExists"},
		{"another account's", []BackendServerSpec{{ServerID: "i-x"}}, "InvalidInstanceId.NotFound"},
		{"unknown", []BackendServerSpec{{ServerID: "i-nope"}}, "InvalidInstanceId.NotFound"},
		{"other vpc", []BackendServerSpec{{ServerID: "i-c"}}, "OperationDenied.BackendServerVpc"},
		{"other zone", []BackendServerSpec{{ServerID: "i-b"}}, "OperationDenied.BackendServerZone"},
	} {
		unchanged(t, s, "add "+tc.name, tc.code, func() error { _, err := s.AddBackendServers(ctx, "1", lb.ID, tc.specs); return err })
	}
	// Quota: a third server (put one more instance of z-a in vpc-1).
	putRecords(t, s, map[string]any{model.PrefixInstance + "i-a3": model.Instance{ID: "i-a3", AccountID: "1", VpcID: "vpc-1", ZoneID: "z-a"}})
	unchanged(t, s, "quota", "OverQuota", func() error {
		_, err := s.AddBackendServers(ctx, "1", lb.ID, []BackendServerSpec{{ServerID: "i-a3"}})
		return err
	})

	for _, tc := range []struct {
		name string
		fn   func([]BackendServerSpec) (model.LoadBalancer, error)
		code string
	}{
		{"set a stranger", func(b []BackendServerSpec) (model.LoadBalancer, error) {
			return s.SetBackendServers(ctx, "1", lb.ID, b)
		}, "ResourceNotFound.BackendServer"},
		{"remove a stranger", func(b []BackendServerSpec) (model.LoadBalancer, error) {
			return s.RemoveBackendServers(ctx, "1", lb.ID, b)
		}, "ResourceNotFound.BackendServer"},
	} {
		unchanged(t, s, tc.name, tc.code, func() error { _, err := tc.fn([]BackendServerSpec{{ServerID: "i-a2"}, {ServerID: "i-b"}}); return err })
	}
	got, err = s.SetBackendServers(ctx, "1", lb.ID, []BackendServerSpec{{ServerID: "i-a2", Weight: intp(50)}})
	if err != nil || got.Backends[1].Weight != 50 || got.Backends[1].Description != "canary" || got.Backends[0].Weight != 100 {
		t.Fatalf("set: %+v %v", got.Backends, err)
	}
	got, err = s.RemoveBackendServers(ctx, "1", lb.ID, []BackendServerSpec{{ServerID: "i-a2"}})
	if err != nil || len(got.Backends) != 1 || got.Backends[0].ServerID != "i-a" {
		t.Fatalf("remove: %+v %v", got.Backends, err)
	}
	if list, _ := s.DescribeLoadBalancers(ctx, "1", LoadBalancerQuery{ServerID: "i-a"}); len(list) != 1 {
		t.Errorf("ServerId filter: %d", len(list))
	}
	if list, _ := s.DescribeLoadBalancers(ctx, "1", LoadBalancerQuery{ServerAddress: "10.0.1.5"}); len(list) != 1 {
		t.Errorf("ServerIntranetAddress filter: %d", len(list))
	}
	if list, _ := s.DescribeLoadBalancers(ctx, "1", LoadBalancerQuery{ServerAddress: "10.0.1.6"}); len(list) != 0 {
		t.Errorf("ServerIntranetAddress of a removed server: %d", len(list))
	}

	// Deleting the instance removes it from the load balancer, in its
	// transaction.
	if err := s.DeleteInstances(ctx, "1", []string{"i-a"}, true, false); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetLoadBalancer(ctx, "1", lb.ID); len(got.Backends) != 0 {
		t.Errorf("backends after the instance's deletion: %+v", got.Backends)
	}
}

func TestLoadBalancerHealth(t *testing.T) {
	s := slbFixture(t, Quotas{})
	ctx := context.Background()
	lb := newLB(t, s, "1", CreateLoadBalancerInput{VSwitchID: "vsw-a"})
	other := newLB(t, s, "1", CreateLoadBalancerInput{VSwitchID: "vsw-b"})
	for _, x := range []ListenerSpec{{Protocol: "tcp", Port: 80, BackendPort: intp(8080)}, {Protocol: "udp", Port: 53, BackendPort: intp(53)}} {
		if err := s.CreateListener(ctx, "1", lb.ID, x); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.AddBackendServers(ctx, "1", lb.ID, []BackendServerSpec{{ServerID: "i-a"}, {ServerID: "i-a2"}}); err != nil {
		t.Fatal(err)
	}
	status := func(port int, proto string) []string {
		t.Helper()
		hs, err := s.DescribeHealthStatus(ctx, "1", lb.ID, port, proto)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, h := range hs {
			out = append(out, h.Protocol+":"+h.ServerID+":"+h.Status)
			if h.ServerID == "i-a" && (h.ServerIP != netip.MustParseAddr("10.0.1.5") || (h.Protocol == "tcp" && h.Port != 8080)) {
				t.Errorf("view %+v", h)
			}
		}
		return out
	}
	if got := status(0, ""); !slices.Equal(got, []string{"udp:i-a:unavailable", "udp:i-a2:unavailable", "tcp:i-a:unavailable", "tcp:i-a2:unavailable"}) {
		t.Errorf("stopped: %v", got)
	}
	if err := s.SetListenerStatus(ctx, "1", lb.ID, 80, "", true); err != nil {
		t.Fatal(err)
	}
	if got := status(80, ""); !slices.Equal(got, []string{"tcp:i-a:abnormal", "tcp:i-a2:abnormal"}) {
		t.Errorf("running, no report: %v", got)
	}
	report := []model.LBHealth{
		{LoadBalancerID: lb.ID, Listeners: []model.LBListenerHealth{
			{Protocol: "tcp", Port: 80, Servers: []model.LBServerHealth{{ServerID: "i-a", Status: "normal"}, {ServerID: "i-a2", Status: "abnormal"}, {ServerID: "i-gone", Status: "normal"}}},
			{Protocol: "tcp", Port: 9999, Servers: []model.LBServerHealth{{ServerID: "i-a", Status: "normal"}}},
		}},
		{LoadBalancerID: "lb-deleted", Listeners: []model.LBListenerHealth{}},
	}
	for _, tc := range []struct {
		name, caller, zone string
		hs                 []model.LBHealth
		code               string
	}{
		{"tenant", "1", "", report, "Forbidden.NotAdmin"},
		{"agent of another zone", "0", "z-b", report, "Forbidden.AgentZone"},
		{"twice", "0", "", []model.LBHealth{{LoadBalancerID: lb.ID}, {LoadBalancerID: lb.ID}}, "InvalidParameter"},
		{"no id", "0", "", []model.LBHealth{{}}, "InvalidParameter"},
		{"bad status", "0", "", []model.LBHealth{{LoadBalancerID: lb.ID, Listeners: []model.LBListenerHealth{{Protocol: "tcp", Port: 80, Servers: []model.LBServerHealth{{ServerID: "i-a", Status: "up"}}}}}}, "InvalidParameter"},
		{"bad protocol", "0", "", []model.LBHealth{{LoadBalancerID: lb.ID, Listeners: []model.LBListenerHealth{{Protocol: "http", Port: 80}}}}, "InvalidParameter"},
		{"too many", "0", "", make([]model.LBHealth, LBHealthPerReport+1), "InvalidParameter"},
	} {
		unchanged(t, s, "report "+tc.name, tc.code, func() error { return s.ReportLBHealth(ctx, tc.caller, tc.zone, tc.hs) })
	}
	if err := s.ReportLBHealth(ctx, "0", "z-a", report); err != nil {
		t.Fatal(err)
	}
	if h, ok, _ := s.LBHealthRecord(ctx, lb.ID); !ok || len(h.Listeners) != 1 || len(h.Listeners[0].Servers) != 2 || h.UpdatedAt.IsZero() {
		t.Errorf("stored %+v (entries of unknown listeners and servers dropped)", h)
	}
	if got := status(0, "tcp"); !slices.Equal(got, []string{"tcp:i-a:normal", "tcp:i-a2:abnormal"}) {
		t.Errorf("reported: %v", got)
	}
	// The same health again writes nothing (no new revision for the
	// agents' mirrors).
	rev := s.Store().Revision()
	if err := s.ReportLBHealth(ctx, "0", "", report); err != nil {
		t.Fatal(err)
	}
	if s.Store().Revision() != rev {
		t.Error("an unchanged report made a new revision")
	}
	// Health check off, load balancer inactive: unavailable.
	if err := s.SetListener(ctx, "1", lb.ID, ListenerSpec{Protocol: "tcp", Port: 80, HealthCheck: strp("off")}); err != nil {
		t.Fatal(err)
	}
	if got := status(80, "tcp"); !slices.Equal(got, []string{"tcp:i-a:unavailable", "tcp:i-a2:unavailable"}) {
		t.Errorf("check off: %v", got)
	}
	if err := s.SetListener(ctx, "1", lb.ID, ListenerSpec{Protocol: "tcp", Port: 80, HealthCheck: strp("on")}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetLoadBalancerStatus(ctx, "1", lb.ID, "inactive"); err != nil {
		t.Fatal(err)
	}
	if got := status(80, ""); !slices.Equal(got, []string{"tcp:i-a:unavailable", "tcp:i-a2:unavailable"}) {
		t.Errorf("inactive: %v", got)
	}
	if err := s.SetLoadBalancerStatus(ctx, "1", lb.ID, "active"); err != nil {
		t.Fatal(err)
	}
	// A removed server's health goes with it: added again, it starts
	// abnormal.
	if _, err := s.RemoveBackendServers(ctx, "1", lb.ID, []BackendServerSpec{{ServerID: "i-a"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddBackendServers(ctx, "1", lb.ID, []BackendServerSpec{{ServerID: "i-a"}}); err != nil {
		t.Fatal(err)
	}
	if got := status(80, ""); !slices.Equal(got, []string{"tcp:i-a2:abnormal", "tcp:i-a:abnormal"}) {
		t.Errorf("added again: %v", got)
	}
	// Deleting the listener drops the record.
	if err := s.DeleteListener(ctx, "1", lb.ID, 80, ""); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.LBHealthRecord(ctx, lb.ID); ok {
		t.Error("health record left without its listener")
	}
	for name, fn := range map[string]func() error{
		"bad protocol": func() error { _, err := s.DescribeHealthStatus(ctx, "1", lb.ID, 0, "sctp"); return err },
		"bad port":     func() error { _, err := s.DescribeHealthStatus(ctx, "1", lb.ID, 70000, ""); return err },
	} {
		if err := fn(); !errs.HasCode(err, "InvalidParameter") {
			t.Errorf("%s: %v", name, err)
		}
	}
	_ = other
}

func TestAgentsMirrorLoadBalancers(t *testing.T) {
	if p := AgentPrefixes(); !slices.Contains(p, model.PrefixLoadBalancer) || slices.Contains(p, model.PrefixLBHealth) {
		t.Errorf("AgentPrefixes %v", p)
	}
}
