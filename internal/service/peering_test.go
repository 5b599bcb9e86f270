package service

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/store"
	"github.com/palisade-project/palisade/internal/store/memory"
)

// peerFixture is a service with accounts 1, 2 and 3: account 1 holds
// vpc-a (10.0.0.0/16 and 10.9.0.0/16, vSwitch vsw-a1 10.0.1.0/24), vpc-b
// (10.1.0.0/16) and vpc-d (10.0.0.0/16, overlapping vpc-a), none with
// IPv6, and vpc-e (10.5.0.0/16, fd00:e::/56, vSwitch vsw-e1 10.5.1.0/24
// and fd00:e:0:1::/64) and vpc-f (10.6.0.0/16, fd00:f::/56) with IPv6;
// account 2 holds vpc-c (10.2.0.0/16).
func peerFixture(t *testing.T) *Service {
	t.Helper()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	n := 0
	s := New(memory.New(), Config{Quotas: DefaultQuotas(), Now: func() time.Time { n++; return base.Add(time.Duration(n) * time.Millisecond) }})
	vpc := func(id, acct, cidr string, secondary ...string) model.VPC {
		v := model.VPC{ID: id, AccountID: acct, CidrBlock: netip.MustParsePrefix(cidr), Status: "Available", RouteTableID: "vtb-" + id, CreatedAt: base}
		for _, c := range secondary {
			v.SecondaryCidrs = append(v.SecondaryCidrs, netip.MustParsePrefix(c))
		}
		return v
	}
	recs := map[string]any{
		model.PrefixAccount + "1":      model.Account{ID: "1", Name: "alice"},
		model.PrefixAccount + "2":      model.Account{ID: "2", Name: "bob"},
		model.PrefixAccount + "3":      model.Account{ID: "3", Name: "carol"},
		model.PrefixVPC + "vpc-a":      vpc("vpc-a", "1", "10.0.0.0/16", "10.9.0.0/16"),
		model.PrefixVPC + "vpc-b":      vpc("vpc-b", "1", "10.1.0.0/16"),
		model.PrefixVPC + "vpc-d":      vpc("vpc-d", "1", "10.0.0.0/16"),
		model.PrefixVPC + "vpc-c":      vpc("vpc-c", "2", "10.2.0.0/16"),
		model.PrefixVSwitch + "vsw-a1": model.VSwitch{ID: "vsw-a1", AccountID: "1", VpcID: "vpc-a", CidrBlock: netip.MustParsePrefix("10.0.1.0/24")},
		model.PrefixVPC + "vpc-e":      vpc6(vpc("vpc-e", "1", "10.5.0.0/16"), "fd00:e::/56"),
		model.PrefixVPC + "vpc-f":      vpc6(vpc("vpc-f", "1", "10.6.0.0/16"), "fd00:f::/56"),
		model.PrefixVSwitch + "vsw-e1": model.VSwitch{ID: "vsw-e1", AccountID: "1", VpcID: "vpc-e", CidrBlock: netip.MustParsePrefix("10.5.1.0/24"),
			Ipv6CidrBlock: netip.MustParsePrefix("fd00:e:0:1::/64"), CreatedAt: base},
	}
	putRecords(t, s, recs)
	return s
}

func vpc6(v model.VPC, cidr6 string) model.VPC {
	v.Ipv6CidrBlock = netip.MustParsePrefix(cidr6)
	return v
}

func mustPeer(t *testing.T, s *Service, acct string, in CreatePeerInput) model.PeerConnection {
	t.Helper()
	p, err := s.CreateVpcPeerConnection(context.Background(), acct, in)
	if err != nil {
		t.Fatalf("CreateVpcPeerConnection %+v: %v", in, err)
	}
	return p
}

func TestPeeringCreateRefusals(t *testing.T) {
	s := peerFixture(t)
	ctx := context.Background()
	bw := 0
	for _, tc := range []struct {
		name   string
		in     CreatePeerInput
		code   string
		status int
	}{
		{"no vpc", CreatePeerInput{AcceptingVpcID: "vpc-b"}, "MissingParameter", 400},
		{"no accepting vpc", CreatePeerInput{VpcID: "vpc-a"}, "MissingParameter", 400},
		{"itself", CreatePeerInput{VpcID: "vpc-a", AcceptingVpcID: "vpc-a"}, "IllegalParam.AcceptingVpcId", 400},
		{"other region", CreatePeerInput{VpcID: "vpc-a", AcceptingVpcID: "vpc-b", AcceptingRegionID: "cn-hangzhou"}, "IllegalParam.AcceptingRegionId", 400},
		{"bad uid", CreatePeerInput{VpcID: "vpc-a", AcceptingVpcID: "vpc-c", AcceptingAccountID: "bob"}, "IllegalParam.AcceptingAliUid", 400},
		{"bandwidth", CreatePeerInput{VpcID: "vpc-a", AcceptingVpcID: "vpc-b", Bandwidth: &bw}, "IllegalParam.Bandwidth", 400},
		{"long name", CreatePeerInput{VpcID: "vpc-a", AcceptingVpcID: "vpc-b", Name: strings.Repeat("n", 129)}, "IllegalParam.Name", 400},
		{"not my vpc", CreatePeerInput{VpcID: "vpc-c", AcceptingVpcID: "vpc-a"}, "InvalidVpcId.NotFound", 404},
		{"accepting vpc of another account, no uid", CreatePeerInput{VpcID: "vpc-a", AcceptingVpcID: "vpc-c"}, "ResourceNotFound.AcceptingVpcId", 404},
		{"wrong uid", CreatePeerInput{VpcID: "vpc-a", AcceptingVpcID: "vpc-c", AcceptingAccountID: "3"}, "ResourceNotFound.AcceptingVpcId", 404},
		{"no such account", CreatePeerInput{VpcID: "vpc-a", AcceptingVpcID: "vpc-c", AcceptingAccountID: "99"}, "ResourceNotFound.AcceptingVpcId", 404},
	} {
		_, err := s.CreateVpcPeerConnection(ctx, "1", tc.in)
		wantCode(t, tc.name, err, tc.code, tc.status)
	}
	// Dry run: checked, nothing written.
	_, err := s.CreateVpcPeerConnection(ctx, "1", CreatePeerInput{VpcID: "vpc-a", AcceptingVpcID: "vpc-b", DryRun: true})
	wantCode(t, "dry run", err, "DryRunOperation", 400)
	if l, _ := s.ListVpcPeerConnections(ctx, "1", PeerQuery{}); len(l) != 0 {
		t.Fatalf("dry run wrote %+v", l)
	}

	// Same account: Activated at once; twice (either way round) refused.
	p := mustPeer(t, s, "1", CreatePeerInput{VpcID: "vpc-a", AcceptingVpcID: "vpc-b", Name: "ab", AcceptingAccountID: "1"})
	if !strings.HasPrefix(p.ID, "pcc-") || p.Status != model.PeerActivated || p.Bandwidth != DefaultPeerBandwidth || p.AcceptingAccountID != "1" {
		t.Fatalf("peer: %+v", p)
	}
	_, err = s.CreateVpcPeerConnection(ctx, "1", CreatePeerInput{VpcID: "vpc-b", AcceptingVpcID: "vpc-a"})
	wantCode(t, "again", err, "ResourceAlreadyExist.VpcPeer", 400)
	// Overlapping VPCs may be peered (routes may not cover their own CIDR).
	mustPeer(t, s, "1", CreatePeerInput{VpcID: "vpc-a", AcceptingVpcID: "vpc-d"})
}

func TestPeeringCrossAccount(t *testing.T) {
	s := peerFixture(t)
	ctx := context.Background()
	p := mustPeer(t, s, "1", CreatePeerInput{VpcID: "vpc-a", AcceptingVpcID: "vpc-c", AcceptingAccountID: "2", Name: "to bob"})
	if p.Status != model.PeerAccepting || p.AcceptingAccountID != "2" {
		t.Fatalf("peer: %+v", p)
	}
	// Both ends see it, a third account does not.
	for _, acct := range []string{"1", "2"} {
		if v, err := s.GetVpcPeerConnection(ctx, acct, p.ID); err != nil || v.Name != "to bob" ||
			!slices.Equal(v.VpcCidrs, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16"), netip.MustParsePrefix("10.9.0.0/16")}) ||
			!slices.Equal(v.AcceptingVpcCidrs, []netip.Prefix{netip.MustParsePrefix("10.2.0.0/16")}) {
			t.Errorf("account %s: %+v %v", acct, v, err)
		}
		if l, err := s.ListVpcPeerConnections(ctx, acct, PeerQuery{VpcIDs: []string{"vpc-c"}}); err != nil || len(l) != 1 {
			t.Errorf("account %s list: %v %v", acct, l, err)
		}
	}
	_, err := s.GetVpcPeerConnection(ctx, "3", p.ID)
	wantCode(t, "third account", err, "ResourceNotFound.InstanceId", 404)
	if l, _ := s.ListVpcPeerConnections(ctx, "3", PeerQuery{}); len(l) != 0 {
		t.Errorf("third account lists %v", l)
	}
	wantCode(t, "third accepts", s.AcceptVpcPeerConnection(ctx, "3", p.ID, "", false), "ResourceNotFound.InstanceId", 404)
	// Only the accepting account answers.
	wantCode(t, "requester accepts", s.AcceptVpcPeerConnection(ctx, "1", p.ID, "", false), "OperationDenied.AcceptingAccount", 403)
	wantCode(t, "requester rejects", s.RejectVpcPeerConnection(ctx, "1", p.ID, "", false), "OperationDenied.AcceptingAccount", 403)
	// Routes need it Activated.
	_, err = s.CreateRouteEntry(ctx, "1", CreateRouteEntryInput{RouteTableID: "vtb-vpc-a", DestinationCidrBlock: "10.2.0.0/16", NextHopType: "VpcPeer", NextHopID: p.ID})
	wantCode(t, "route over Accepting", err, "IncorrectStatus.VpcPeer", 400)
	wantCode(t, "dry accept", s.AcceptVpcPeerConnection(ctx, "2", p.ID, "", true), "DryRunOperation", 400)
	wantCode(t, "accept", s.AcceptVpcPeerConnection(ctx, "2", p.ID, "", false), "", 0)
	wantCode(t, "accept twice", s.AcceptVpcPeerConnection(ctx, "2", p.ID, "", false), "IncorrectStatus.VpcPeer", 400)
	wantCode(t, "reject activated", s.RejectVpcPeerConnection(ctx, "2", p.ID, "", false), "IncorrectStatus.VpcPeer", 400)
	if v, _ := s.GetVpcPeerConnection(ctx, "1", p.ID); v.Status != model.PeerActivated {
		t.Errorf("after accept: %s", v.Status)
	}
	// Either account modifies and deletes.
	name, bw := "renamed", 50
	wantCode(t, "modify by accepter", s.ModifyVpcPeerConnection(ctx, "2", p.ID, ModifyPeerInput{Name: &name, Bandwidth: &bw}), "", 0)
	if v, _ := s.GetVpcPeerConnection(ctx, "1", p.ID); v.Name != name || v.Bandwidth != 50 {
		t.Errorf("after modify: %+v", v)
	}
	wantCode(t, "delete by accepter", s.DeleteVpcPeerConnection(ctx, "2", p.ID, false, "", false), "", 0)
	_, err = s.GetVpcPeerConnection(ctx, "1", p.ID)
	wantCode(t, "deleted", err, "ResourceNotFound.InstanceId", 404)

	// Rejected: a new connection between the same VPCs may be made.
	r := mustPeer(t, s, "1", CreatePeerInput{VpcID: "vpc-a", AcceptingVpcID: "vpc-c", AcceptingAccountID: "2"})
	wantCode(t, "reject", s.RejectVpcPeerConnection(ctx, "2", r.ID, "", false), "", 0)
	if v, _ := s.GetVpcPeerConnection(ctx, "2", r.ID); v.Status != model.PeerRejected {
		t.Errorf("after reject: %s", v.Status)
	}
	wantCode(t, "accept rejected", s.AcceptVpcPeerConnection(ctx, "2", r.ID, "", false), "IncorrectStatus.VpcPeer", 400)
	mustPeer(t, s, "1", CreatePeerInput{VpcID: "vpc-a", AcceptingVpcID: "vpc-c", AcceptingAccountID: "2"})
}

func TestRouteEntries(t *testing.T) {
	s := peerFixture(t)
	ctx := context.Background()
	ab := mustPeer(t, s, "1", CreatePeerInput{VpcID: "vpc-a", AcceptingVpcID: "vpc-b"})
	other := mustPeer(t, s, "1", CreatePeerInput{VpcID: "vpc-b", AcceptingVpcID: "vpc-d"})
	in := func(dst string) CreateRouteEntryInput {
		return CreateRouteEntryInput{RouteTableID: "vtb-vpc-a", DestinationCidrBlock: dst, NextHopType: "VpcPeer", NextHopID: ab.ID}
	}
	for _, tc := range []struct {
		name   string
		in     CreateRouteEntryInput
		code   string
		status int
	}{
		{"no table", CreateRouteEntryInput{DestinationCidrBlock: "10.1.0.0/16", NextHopType: "VpcPeer", NextHopID: ab.ID}, "MissingParameter", 400},
		{"no destination", CreateRouteEntryInput{RouteTableID: "vtb-vpc-a", NextHopType: "VpcPeer", NextHopID: ab.ID}, "MissingParameter", 400},
		{"ipv6 in a VPC without IPv6", in("fd00::/64"), "OperationFailed.VpcNotEnabledIpv6", 400},
		{"host bits", in("10.1.0.1/16"), "InvalidDestinationCidrBlock.Malformed", 400},
		{"garbage", in("10.1.0.0/33"), "InvalidDestinationCidrBlock.Malformed", 400},
		{"instance hop", CreateRouteEntryInput{RouteTableID: "vtb-vpc-a", DestinationCidrBlock: "10.1.0.0/16", NextHopType: "Instance", NextHopID: "i-1"}, "InvalidNextHopType.NotSupported", 400},
		{"no hop", CreateRouteEntryInput{RouteTableID: "vtb-vpc-a", DestinationCidrBlock: "10.1.0.0/16", NextHopType: "VpcPeer"}, "MissingParameter", 400},
		{"own cidr", in("10.0.0.0/8"), "InvalidCidrBlock.Overlapped", 400},
		{"secondary cidr", in("10.9.1.0/24"), "InvalidCidrBlock.Overlapped", 400},
		{"default route", in("0.0.0.0/0"), "InvalidCidrBlock.Overlapped", 400},
		{"not my table", CreateRouteEntryInput{RouteTableID: "vtb-vpc-c", DestinationCidrBlock: "10.1.0.0/16", NextHopType: "VpcPeer", NextHopID: ab.ID}, "InvalidRouteTableId.NotFound", 404},
		{"no such peering", func() CreateRouteEntryInput { x := in("10.1.0.0/16"); x.NextHopID = "pcc-nope"; return x }(), "InvalidNextHopId.NotFound", 404},
		{"peering of other vpcs", func() CreateRouteEntryInput { x := in("10.1.0.0/16"); x.NextHopID = other.ID; return x }(), "InvalidNextHopId.VpcMismatch", 400},
	} {
		_, err := s.CreateRouteEntry(ctx, "1", tc.in)
		wantCode(t, tc.name, err, tc.code, tc.status)
	}
	e, err := s.CreateRouteEntry(ctx, "1", in("10.1.0.0/16"))
	if err != nil || !strings.HasPrefix(e.ID, "rte-") || e.VpcID != "vpc-a" || e.NextHopType != model.RouteNextHopPeer {
		t.Fatalf("CreateRouteEntry: %+v %v", e, err)
	}
	_, err = s.CreateRouteEntry(ctx, "1", in("10.1.0.0/16"))
	wantCode(t, "duplicate", err, "InvalidCIDRBlock.Duplicate", 400)
	// A table has one ID: the derived one names nothing while the VPC
	// has its own. A more specific entry is another destination.
	sub := in("10.1.2.0/24")
	sub.RouteTableID = model.SystemRouteTableID("vpc-a")
	_, err = s.CreateRouteEntry(ctx, "1", sub)
	wantCode(t, "a second ID for the table", err, "InvalidRouteTableId.NotFound", 404)
	sub.RouteTableID = "vtb-vpc-a"
	if _, err := s.CreateRouteEntry(ctx, "1", sub); err != nil {
		t.Fatalf("a more specific entry: %v", err)
	}
	list, err := s.DescribeRouteEntryList(ctx, "1", RouteEntryQuery{RouteTableID: "vtb-vpc-a"})
	if err != nil || len(list) != 3 || list[0].Type != model.RouteTypeSystem || list[0].DestinationCidr.String() != "10.0.1.0/24" ||
		list[0].NextHopType != RouteNextHopLocal || list[1].ID != e.ID || list[1].Type != model.RouteTypeCustom {
		t.Fatalf("entries: %+v %v", list, err)
	}
	if l, _ := s.DescribeRouteEntryList(ctx, "1", RouteEntryQuery{RouteTableID: "vtb-vpc-a", RouteEntryType: "Custom", DestinationCidrBlock: "10.1.2.0/24"}); len(l) != 1 {
		t.Errorf("filtered: %+v", l)
	}
	_, err = s.DescribeRouteEntryList(ctx, "2", RouteEntryQuery{RouteTableID: "vtb-vpc-a"})
	wantCode(t, "other account's table", err, "InvalidRouteTableId.NotFound", 404)
	tables, err := s.DescribeRouteTableList(ctx, "1", RouteTableQuery{VpcID: "vpc-a"})
	if err != nil || len(tables) != 1 || tables[0].ID != "vtb-vpc-a" || !slices.Equal(tables[0].VSwitches, []string{"vsw-a1"}) {
		t.Errorf("tables: %+v %v", tables, err)
	}

	// The peering is in use: no delete without Force; no VPC delete.
	wantCode(t, "delete used peering", s.DeleteVpcPeerConnection(ctx, "1", ab.ID, false, "", false), "DependencyViolation.RouteEntry", 403)
	wantCode(t, "delete peered vpc", s.DeleteVpc(ctx, "1", "vpc-b", true, false), "DependencyViolation", 403)
	// Deleting entries: a system one is refused; by ID, by destination.
	wantCode(t, "system entry", s.DeleteRouteEntry(ctx, "1", DeleteRouteEntryInput{RouteTableID: "vtb-vpc-a", DestinationCidrBlock: "10.0.1.0/24"}), "OperationDenied.SystemRouteEntry", 403)
	wantCode(t, "other account's entry", s.DeleteRouteEntry(ctx, "2", DeleteRouteEntryInput{RouteEntryID: e.ID}), "InvalidRouteEntryId.NotFound", 404)
	wantCode(t, "wrong hop", s.DeleteRouteEntry(ctx, "1", DeleteRouteEntryInput{RouteTableID: "vtb-vpc-a", DestinationCidrBlock: "10.1.2.0/24", NextHopID: other.ID}), "InvalidRouteEntry.NotFound", 404)
	wantCode(t, "by id", s.DeleteRouteEntry(ctx, "1", DeleteRouteEntryInput{RouteEntryID: e.ID}), "", 0)
	// Force deletes the remaining entry with the peering.
	wantCode(t, "force", s.DeleteVpcPeerConnection(ctx, "1", ab.ID, true, "", false), "", 0)
	if l, _ := s.DescribeRouteEntryList(ctx, "1", RouteEntryQuery{RouteTableID: "vtb-vpc-a"}); len(l) != 1 {
		t.Errorf("after force: %+v", l)
	}
	wantCode(t, "delete other peering", s.DeleteVpcPeerConnection(ctx, "1", other.ID, false, "", false), "", 0)
	wantCode(t, "delete vpc now", s.DeleteVpc(ctx, "1", "vpc-b", true, false), "", 0)
}

// TestRouteEntriesIPv6 sends IPv6 over a peering between two VPCs with
// IPv6: what CreateRouteEntry accepts and refuses, the IPv6 system entry
// of a vSwitch, IpVersion in DescribeRouteEntryList, and deleting by an
// IPv6 destination.
func TestRouteEntriesIPv6(t *testing.T) {
	s := peerFixture(t)
	ctx := context.Background()
	ef := mustPeer(t, s, "1", CreatePeerInput{VpcID: "vpc-e", AcceptingVpcID: "vpc-f"})
	in := func(dst string) CreateRouteEntryInput {
		return CreateRouteEntryInput{RouteTableID: "vtb-vpc-e", DestinationCidrBlock: dst, NextHopType: "VpcPeer", NextHopID: ef.ID}
	}
	for _, tc := range []struct {
		name, dst, code string
		status          int
	}{
		{"host bits", "fd00:f::1/56", "InvalidDestinationCidrBlock.Malformed", 400},
		{"prefix too long", "fd00:f::/129", "InvalidDestinationCidrBlock.Malformed", 400},
		{"bare address", "fd00:f::1", "InvalidDestinationCidrBlock.Malformed", 400},
		{"zone", "fe80::%eth0/64", "InvalidDestinationCidrBlock.Malformed", 400},
		{"ipv4-mapped", "::ffff:10.6.0.0/112", "InvalidDestinationCidrBlock.Malformed", 400},
		{"link-local", "fe80::/64", "InvalidDestinationCidrBlock.Malformed", 400},
		{"multicast", "ff02::/16", "InvalidDestinationCidrBlock.Malformed", 400},
		{"own ipv6 cidr", "fd00:e:0:2::/64", "InvalidCidrBlock.Overlapped", 400},
		{"covers own ipv6 cidr", "fd00::/16", "InvalidCidrBlock.Overlapped", 400},
		{"ipv6 default route", "::/0", "InvalidCidrBlock.Overlapped", 400},
		{"the peer's block", "fd00:f::/56", "", 0},
		{"the same spelled otherwise", "FD00:F:0::/56", "InvalidCIDRBlock.Duplicate", 400},
		{"more specific", "fd00:f:0:1::/64", "", 0},
		{"a host", "fd00:f:0:1::10/128", "", 0},
		{"ipv4 beside", "10.6.0.0/16", "", 0},
	} {
		_, err := s.CreateRouteEntry(ctx, "1", in(tc.dst))
		wantCode(t, tc.name, err, tc.code, tc.status)
	}
	// The accepter's side: its VPC has IPv6 too, so it routes back.
	back := in("fd00:e::/56")
	back.RouteTableID = "vtb-vpc-f"
	if _, err := s.CreateRouteEntry(ctx, "1", back); err != nil {
		t.Fatalf("route back: %v", err)
	}
	// Nothing half-done: the refusals added nothing.
	list, err := s.DescribeRouteEntryList(ctx, "1", RouteEntryQuery{RouteTableID: "vtb-vpc-e"})
	var got []string
	for _, e := range list {
		got = append(got, e.Type+" "+e.DestinationCidr.String()+" "+e.ID[:4])
	}
	want := []string{"System 10.5.1.0/24 rte-", "System fd00:e:0:1::/64 rte-", "Custom fd00:f::/56 rte-", "Custom fd00:f:0:1::/64 rte-",
		"Custom fd00:f:0:1::10/128 rte-", "Custom 10.6.0.0/16 rte-"}
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("entries: %v %v, want %v", got, err, want)
	}
	if list[0].ID == list[1].ID || list[1].NextHopType != RouteNextHopLocal {
		t.Errorf("system entries: %+v", list[:2])
	}
	for _, tc := range []struct {
		version string
		n       int
	}{{"IPv6", 4}, {"ipv6", 4}, {"IPv4", 2}, {"", 6}} {
		l, err := s.DescribeRouteEntryList(ctx, "1", RouteEntryQuery{RouteTableID: "vtb-vpc-e", IpVersion: tc.version})
		if err != nil || len(l) != tc.n {
			t.Errorf("IpVersion %q: %d entries %v, want %d", tc.version, len(l), err, tc.n)
		}
	}
	_, err = s.DescribeRouteEntryList(ctx, "1", RouteEntryQuery{RouteTableID: "vtb-vpc-e", IpVersion: "6"})
	wantCode(t, "IpVersion 6", err, "IllegalParam.IpVersion", 400)
	if l, _ := s.DescribeRouteEntryList(ctx, "1", RouteEntryQuery{RouteTableID: "vtb-vpc-e", DestinationCidrBlock: "FD00:F::/56"}); len(l) != 1 {
		t.Errorf("filter by another spelling: %+v", l)
	}
	// The IPv6 system entry cannot be deleted; a custom one by its
	// destination can.
	wantCode(t, "ipv6 system entry", s.DeleteRouteEntry(ctx, "1", DeleteRouteEntryInput{RouteTableID: "vtb-vpc-e", DestinationCidrBlock: "fd00:e:0:1::/64"}),
		"OperationDenied.SystemRouteEntry", 403)
	wantCode(t, "delete by ipv6 destination", s.DeleteRouteEntry(ctx, "1", DeleteRouteEntryInput{RouteTableID: "vtb-vpc-e", DestinationCidrBlock: "fd00:f:0:1::10/128"}), "", 0)
	if l, _ := s.DescribeRouteEntryList(ctx, "1", RouteEntryQuery{RouteTableID: "vtb-vpc-e", IpVersion: "IPv6"}); len(l) != 3 {
		t.Errorf("after delete: %+v", l)
	}
	// The peering shows both VPCs' IPv6 blocks.
	v, err := s.GetVpcPeerConnection(ctx, "1", ef.ID)
	if err != nil || !slices.Equal(v.VpcCidrs6, []netip.Prefix{netip.MustParsePrefix("fd00:e::/56")}) ||
		!slices.Equal(v.AcceptingVpcCidrs6, []netip.Prefix{netip.MustParsePrefix("fd00:f::/56")}) {
		t.Errorf("peering view: %+v %v", v, err)
	}
	// A VPC without IPv6 shows none (an empty list, not null).
	ab := mustPeer(t, s, "1", CreatePeerInput{VpcID: "vpc-a", AcceptingVpcID: "vpc-e"})
	if v, err := s.GetVpcPeerConnection(ctx, "1", ab.ID); err != nil || v.VpcCidrs6 == nil || len(v.VpcCidrs6) != 0 || len(v.AcceptingVpcCidrs6) != 1 {
		t.Errorf("peering of a VPC without IPv6: %+v %v", v, err)
	}
}

func vpcPolicy(label string) PolicyInput {
	return PolicyInput{
		AclAction: sp("drop"), Proto: sp("TCP"), Source: sp("10.0.0.0/16"), SourceType: sp("net"),
		Destination: sp("10.2.0.0/16"), DestinationType: sp("net"), DestPort: sp("22"), Description: sp(label),
	}
}

func vfwLabels(t *testing.T, s *Service, acct, fw string) []string {
	t.Helper()
	list, err := s.DescribeVpcFirewallControlPolicy(context.Background(), acct, VpcPolicyQuery{VpcFirewallID: fw})
	if err != nil {
		t.Fatal(err)
	}
	out := []string{}
	for i, p := range list {
		if p.Order != i+1 || p.VpcFirewallID != fw || p.Direction != "" {
			t.Errorf("policy %s: order %d at %d, firewall %q, direction %q", p.Description, p.Order, i+1, p.VpcFirewallID, p.Direction)
		}
		out = append(out, p.Description)
	}
	return out
}

func TestVpcFirewall(t *testing.T) {
	s := peerFixture(t)
	ctx := context.Background()
	p := mustPeer(t, s, "1", CreatePeerInput{VpcID: "vpc-a", AcceptingVpcID: "vpc-c", AcceptingAccountID: "2"})
	in := CreateVpcFirewallInput{Name: "fw", LocalVpcID: "vpc-a", PeerVpcID: "vpc-c", FirewallSwitch: "opened"}
	_, err := s.CreateVpcFirewallConfigure(ctx, "1", in)
	wantCode(t, "not activated", err, "IncorrectStatus.VpcPeer", 400)
	wantCode(t, "accept", s.AcceptVpcPeerConnection(ctx, "2", p.ID, "", false), "", 0)
	for _, tc := range []struct {
		name   string
		change func(*CreateVpcFirewallInput)
		acct   string
		code   string
		status int
	}{
		{"no name", func(x *CreateVpcFirewallInput) { x.Name = "" }, "1", "MissingParameter", 400},
		{"no switch", func(x *CreateVpcFirewallInput) { x.FirewallSwitch = "" }, "1", "MissingParameter", 400},
		{"bad switch", func(x *CreateVpcFirewallInput) { x.FirewallSwitch = "on" }, "1", "IllegalParam.FirewallSwitch", 400},
		{"same vpc", func(x *CreateVpcFirewallInput) { x.PeerVpcID = "vpc-a" }, "1", "IllegalParam.PeerVpcId", 400},
		{"region", func(x *CreateVpcFirewallInput) { x.PeerVpcRegion = "cn-beijing" }, "1", "IllegalParam.PeerVpcRegion", 400},
		{"not my vpc", func(x *CreateVpcFirewallInput) {}, "3", "ResourceNotFound.VpcId", 404},
		{"not peered", func(x *CreateVpcFirewallInput) { x.PeerVpcID = "vpc-b" }, "1", "ResourceNotFound.VpcPeerConnection", 404},
	} {
		x := in
		tc.change(&x)
		_, err := s.CreateVpcFirewallConfigure(ctx, tc.acct, x)
		wantCode(t, tc.name, err, tc.code, tc.status)
	}
	fw, err := s.CreateVpcFirewallConfigure(ctx, "1", in)
	if err != nil || !strings.HasPrefix(fw.ID, "vfw-") || !fw.Enabled || fw.PeerConnectionID != p.ID {
		t.Fatalf("CreateVpcFirewallConfigure: %+v %v", fw, err)
	}
	// One per peering, whichever end asks.
	_, err = s.CreateVpcFirewallConfigure(ctx, "2", CreateVpcFirewallInput{Name: "fw2", LocalVpcID: "vpc-c", PeerVpcID: "vpc-a", FirewallSwitch: "closed"})
	wantCode(t, "second firewall", err, "ResourceAlreadyExist.VpcFirewall", 400)
	wantCode(t, "delete guarded peering", s.DeleteVpcPeerConnection(ctx, "2", p.ID, true, "", false), "DependencyViolation.VpcFirewall", 403)

	list, err := s.DescribeVpcFirewallList(ctx, "1", VpcFirewallQuery{})
	if err != nil || len(list) != 1 || list[0].LocalVpc.ID != "vpc-a" || list[0].PeerVpc.ID != "vpc-c" || list[0].Peer.ID != p.ID {
		t.Fatalf("list: %+v %v", list, err)
	}
	if l, _ := s.DescribeVpcFirewallList(ctx, "2", VpcFirewallQuery{}); len(l) != 0 {
		t.Errorf("other account lists %+v", l)
	}
	wantCode(t, "switch by other", s.ModifyVpcFirewallSwitchStatus(ctx, "2", fw.ID, "closed"), "ResourceNotFound.VpcFirewall", 404)
	wantCode(t, "switch bad", s.ModifyVpcFirewallSwitchStatus(ctx, "1", fw.ID, "off"), "IllegalParam.FirewallSwitch", 400)
	wantCode(t, "switch", s.ModifyVpcFirewallSwitchStatus(ctx, "1", fw.ID, "closed"), "", 0)
	if l, _ := s.DescribeVpcFirewallList(ctx, "1", VpcFirewallQuery{SwitchStatus: "closed"}); len(l) != 1 || l[0].Enabled {
		t.Errorf("closed: %+v", l)
	}

	// Policies: ordering.
	add := func(order, label string) model.FirewallPolicy {
		t.Helper()
		pol, err := s.CreateVpcFirewallControlPolicy(ctx, "1", fw.ID, order, vpcPolicy(label))
		if err != nil {
			t.Fatalf("add %s at %s: %v", label, order, err)
		}
		return pol
	}
	b := add("-1", "b")
	a := add("1", "a")
	add("3", "c")
	add("2", "ab")
	if got := vfwLabels(t, s, "1", fw.ID); !slices.Equal(got, []string{"a", "ab", "b", "c"}) {
		t.Errorf("order: %v", got)
	}
	// A retry adds nothing.
	if again := add("1", "a"); again.ID != a.ID {
		t.Errorf("retry made %s", again.ID)
	}
	for _, tc := range []struct {
		name, order string
		in          PolicyInput
		code        string
	}{
		{"order", "9", vpcPolicy("x"), "IllegalParam.NewOrder"},
		{"no order", "", vpcPolicy("x"), "MissingParameter"},
		{"action", "1", func() PolicyInput { x := vpcPolicy("x"); x.AclAction = sp("reject"); return x }(), "IllegalParam.AclAction"},
		{"icmp port", "1", func() PolicyInput { x := vpcPolicy("x"); x.Proto = sp("ICMP"); return x }(), "IllegalParam.DestPort"},
		{"no book", "1", func() PolicyInput { x := vpcPolicy("x"); x.Source, x.SourceType = sp("office"), sp("group"); return x }(), "ResourceNotFound.AddressBook"},
		{"no description", "1", func() PolicyInput { x := vpcPolicy("x"); x.Description = nil; return x }(), "MissingParameter"},
	} {
		_, err := s.CreateVpcFirewallControlPolicy(ctx, "1", fw.ID, tc.order, tc.in)
		wantCode(t, tc.name, err, tc.code, 0)
	}
	_, err = s.CreateVpcFirewallControlPolicy(ctx, "2", fw.ID, "1", vpcPolicy("x"))
	wantCode(t, "other account", err, "ResourceNotFound.VpcFirewall", 404)
	// Address books of the account: a book in use cannot go; renaming
	// follows.
	book, err := s.AddAddressBook(ctx, "1", AddressBookInput{Name: sp("peers"), Type: sp("ip"), Description: sp("d"), AddressList: sp("10.2.0.0/24")})
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, "modify", s.ModifyVpcFirewallControlPolicy(ctx, "1", fw.ID, b.ID, PolicyInput{Destination: sp("peers"), DestinationType: sp("group")}), "", 0)
	wantCode(t, "delete used book", s.DeleteAddressBook(ctx, "1", book.ID), "DependencyViolation.AddressBook", 403)
	wantCode(t, "rename book", s.ModifyAddressBook(ctx, "1", book.ID, AddressBookInput{Name: sp("peer-nets")}), "", 0)
	got, _ := s.DescribeVpcFirewallControlPolicy(ctx, "1", VpcPolicyQuery{VpcFirewallID: fw.ID, AclUuid: b.ID})
	if len(got) != 1 || got[0].Destination != "peer-nets" || !slices.Equal(got[0].DestinationGroupCidrs, []string{"10.2.0.0/24"}) {
		t.Errorf("after rename: %+v", got)
	}
	wantCode(t, "modify other firewall's", s.ModifyVpcFirewallControlPolicy(ctx, "1", "vfw-nope", b.ID, PolicyInput{}), "ResourceNotFound.VpcFirewall", 404)
	wantCode(t, "delete policy", s.DeleteVpcFirewallControlPolicy(ctx, "1", fw.ID, a.ID), "", 0)
	if got := vfwLabels(t, s, "1", fw.ID); !slices.Equal(got, []string{"ab", "b", "c"}) {
		t.Errorf("after delete: %v", got)
	}
	wantCode(t, "delete gone", s.DeleteVpcFirewallControlPolicy(ctx, "1", fw.ID, a.ID), "ResourceNotFound.ControlPolicy", 404)
	// The Internet firewall's lists are apart.
	if l, _ := s.DescribeControlPolicy(ctx, "1", ControlPolicyQuery{}); len(l) != 0 {
		t.Errorf("Internet policies: %+v", l)
	}

	// Deleting the firewall deletes its policies; then the peering goes.
	wantCode(t, "delete other's firewall", s.DeleteVpcFirewallConfigure(ctx, "2", []string{fw.ID}), "ResourceNotFound.VpcFirewall", 404)
	wantCode(t, "delete firewall", s.DeleteVpcFirewallConfigure(ctx, "1", []string{fw.ID}), "", 0)
	snap := map[string]bool{}
	_ = s.view(ctx, func(tx store.ReadTxn) error {
		return tx.List(model.PrefixVpcFirewallPolicy, func(k string, _ []byte) error { snap[k] = true; return nil })
	})
	if len(snap) != 0 {
		t.Errorf("policies left: %v", snap)
	}
	wantCode(t, "delete book now", s.DeleteAddressBook(ctx, "1", book.ID), "", 0)
	wantCode(t, "delete peering", s.DeleteVpcPeerConnection(ctx, "2", p.ID, false, "", false), "", 0)
}

func TestPeeringClientToken(t *testing.T) {
	s := peerFixture(t)
	ctx := context.Background()
	in := CreatePeerInput{VpcID: "vpc-a", AcceptingVpcID: "vpc-b", ClientToken: "t1"}
	first := mustPeer(t, s, "1", in)
	if again := mustPeer(t, s, "1", in); again.ID != first.ID {
		t.Errorf("retry made %s, want %s", again.ID, first.ID)
	}
	in.Name = "other"
	_, err := s.CreateVpcPeerConnection(ctx, "1", in)
	wantCode(t, "token reused", err, "IdempotentParameterMismatch", 400)
	r := CreateRouteEntryInput{RouteTableID: "vtb-vpc-a", DestinationCidrBlock: "10.1.0.0/16", NextHopType: "VpcPeer", NextHopID: first.ID, ClientToken: "t2"}
	e1, err := s.CreateRouteEntry(ctx, "1", r)
	if err != nil {
		t.Fatal(err)
	}
	if e2, err := s.CreateRouteEntry(ctx, "1", r); err != nil || e2.ID != e1.ID {
		t.Errorf("route retry: %+v %v", e2, err)
	}
}
