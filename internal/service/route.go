package service

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/palisade-project/palisade/internal/errs"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/store"
)

// Route tables (VPC 2016-04-28): DescribeRouteTableList,
// DescribeRouteEntryList, CreateRouteEntry and DeleteRouteEntry.
//
// Decisions (SEMANTICS.md Part A "VPC", and where it is silent):
//   - Every VPC has one route table, its system route table (type System;
//     custom route tables and vSwitch associations do not exist). Its ID
//     is the VPC's RouteTableId as CreateVpc and DescribeVpcs show it
//     (model.SystemRouteTableID(vpcID) for a VPC stored without one).
//   - The table's system entries are the VPC's vSwitch CIDR blocks, IPv4
//     and, for a vSwitch with IPv6, its IPv6 /64 (NextHopType local, Type
//     System, IpVersion IPv4 or IPv6); they are derived, never stored,
//     and cannot be deleted. DescribeRouteEntryList's IpVersion (IPv4 or
//     IPv6, any case) lists one family. Custom entries (Type Custom) send a
//     destination over a VPC peering connection (NextHopType VpcPeer and
//     NextHopId the connection, which must be Activated and have the
//     table's VPC as one end) or to a NAT gateway of the VPC (NextHopType
//     NatGateway, NextHopId ngw-..., IPv4 destinations only: nat.go);
//     other next hops are InvalidNextHopType.NotSupported.
//   - DestinationCidrBlock is an IPv4 or IPv6 CIDR block with its host
//     bits zero; it may not overlap the VPC's CIDR blocks (primary, secondary and IPv6: the
//     VPC's own addresses stay local, so 0.0.0.0/0 and ::/0 are refused
//     too), except that a route to a NAT gateway may cover them (as
//     0.0.0.0/0 does: the system entries, more specific, keep the VPC's
//     addresses local); no other entry of the table may have the same destination.
//     An IPv6 destination needs IPv6 enabled on the VPC (a VPC without an
//     IPv6 CIDR block has no IPv6 traffic to route). IPv4-mapped IPv6
//     blocks, link-local (fe80::/10) and multicast (ff00::/8) blocks are
//     not routable destinations. At most RouteEntriesPerTable custom
//     entries per table, both families together.
//   - Route entries belong to the VPC's account; another account's table
//     or entry is not found.
//
// Error codes (HTTP status):
//   - MissingParameter (400).
//   - InvalidRouteTableId.NotFound, InvalidRouteEntryId.NotFound (404).
//   - InvalidDestinationCidrBlock.Malformed (400): not an IPv4 or IPv6
//     CIDR block with its host bits zero, or an IPv6 block that is
//     IPv4-mapped, link-local or multicast.
//   - OperationFailed.VpcNotEnabledIpv6 (400): an IPv6 destination in the
//     table of a VPC without IPv6 (the code CreateVSwitch answers).
//   - InvalidCidrBlock.Overlapped (400): it overlaps the VPC's CIDR.
//   - InvalidCIDRBlock.Duplicate (400): an entry has that destination.
//   - InvalidNextHopType.NotSupported (400): a next hop other than VpcPeer
//     or NatGateway, or an IPv6 destination to a NAT gateway.
//   - InvalidNextHopId.NotFound (404): no connection or NAT gateway of the
//     caller; InvalidNextHopId.VpcMismatch (400): a connection of other
//     VPCs, or a NAT gateway of another VPC;
//     IncorrectStatus.VpcPeer (400): one not Activated.
//   - IllegalParam.RouteEntryName, IllegalParam.Description (400).
//   - OperationDenied.SystemRouteEntry (403): deleting a system entry.
//   - QuotaExceeded.RouteEntry (403).

// Route-table values.
const (
	RouteEntriesPerTable = 200
	RouteNextHopLocal    = "local"
	RouteTableAvailable  = "Available"
	RouteTableParam      = "RouteTableId"
	routeEntryIDParam    = "RouteEntryId"
)

func errRouteTableNotFound(id string) *errs.Error {
	return errs.NotFound("InvalidRouteTableId.NotFound", "The specified RouteTableId %q is not a route table of your account: DescribeRouteTableList lists them (one per VPC).", id)
}

func errRouteEntryNotFound(id string) *errs.Error {
	return errs.NotFound("InvalidRouteEntryId.NotFound", "The specified RouteEntryId %q is not a route entry of your account: DescribeRouteEntryList lists them.", id)
}

// RouteTableOf is the ID of a VPC's (system) route table.
func RouteTableOf(v *model.VPC) string {
	if v.RouteTableID != "" {
		return v.RouteTableID
	}
	return model.SystemRouteTableID(v.ID)
}

// routeTableVPC finds the caller's VPC of a route table.
func routeTableVPC(tx store.ReadTxn, accountID, tableID string) (*model.VPC, error) {
	tableID = strings.TrimSpace(tableID)
	if tableID == "" {
		return nil, errs.MissingParameter(RouteTableParam)
	}
	var out *model.VPC
	err := listJSON(tx, model.PrefixVPC, func(v *model.VPC) error {
		if out == nil && v.AccountID == accountID && RouteTableOf(v) == tableID {
			out = v
		}
		return nil
	})
	if err == nil && out == nil {
		err = errRouteTableNotFound(tableID)
	}
	return out, err
}

// systemEntryID is the RouteEntryId of a vSwitch's system entry (its
// IPv4 block), systemEntryID6 of the entry of its IPv6 block.
func systemEntryID(vswID string) string  { return "rte-" + strings.TrimPrefix(vswID, "vsw-") }
func systemEntryID6(vswID string) string { return systemEntryID(vswID) + "v6" }

// vpcOwnCidrs are the CIDR blocks of a VPC, every family: a custom route
// entry may not overlap any of them.
func vpcOwnCidrs(v *model.VPC) []netip.Prefix {
	out := append([]netip.Prefix{v.CidrBlock}, v.SecondaryCidrs...)
	if v.Ipv6CidrBlock.IsValid() {
		out = append(out, v.Ipv6CidrBlock)
	}
	return out
}

// RouteEntryView is an entry of a route table: a custom entry, or a
// system entry (Type System, NextHopType local, no next hop).
type RouteEntryView struct {
	model.RouteEntry
	Type         string
	RouteTableID string
}

// vpcRouteEntries returns the custom entries of a VPC, oldest first.
func vpcRouteEntries(tx store.ReadTxn, vpcID string) ([]*model.RouteEntry, error) {
	var out []*model.RouteEntry
	err := listJSON(tx, model.PrefixRouteEntry, func(e *model.RouteEntry) error {
		if e.VpcID == vpcID {
			out = append(out, e)
		}
		return nil
	})
	sortByCreation(out, func(e *model.RouteEntry) (int64, string) { return e.CreatedAt.UnixNano(), e.ID })
	return out, err
}

// tableEntries returns the system then the custom entries of a VPC's
// table.
func tableEntries(tx store.ReadTxn, v *model.VPC) ([]RouteEntryView, error) {
	vsws, err := vpcVSwitches(tx, v.ID)
	if err != nil {
		return nil, err
	}
	sortByCreation(vsws, func(w *model.VSwitch) (int64, string) { return w.CreatedAt.UnixNano(), w.ID })
	table := RouteTableOf(v)
	out := make([]RouteEntryView, 0, len(vsws))
	system := func(id string, w *model.VSwitch, dst netip.Prefix) {
		out = append(out, RouteEntryView{Type: model.RouteTypeSystem, RouteTableID: table, RouteEntry: model.RouteEntry{
			ID: id, AccountID: v.AccountID, VpcID: v.ID, DestinationCidr: dst, NextHopType: RouteNextHopLocal, CreatedAt: w.CreatedAt,
		}})
	}
	for _, w := range vsws {
		system(systemEntryID(w.ID), w, w.CidrBlock)
		if w.Ipv6CidrBlock.IsValid() {
			system(systemEntryID6(w.ID), w, w.Ipv6CidrBlock)
		}
	}
	custom, err := vpcRouteEntries(tx, v.ID)
	for _, e := range custom {
		out = append(out, RouteEntryView{RouteEntry: *e, Type: model.RouteTypeCustom, RouteTableID: table})
	}
	return out, err
}

// RouteTableView is a VPC's route table.
type RouteTableView struct {
	ID        string
	VPC       model.VPC
	VSwitches []string
}

// RouteTableQuery selects tables in DescribeRouteTableList; empty fields
// match all.
type RouteTableQuery struct {
	VpcID, RouteTableID, RouteTableName, RouteTableType, RouterID, RouterType string
}

// DescribeRouteTableList lists the route tables of the caller's VPCs,
// oldest VPC first.
func (s *Service) DescribeRouteTableList(ctx context.Context, accountID string, q RouteTableQuery) ([]RouteTableView, error) {
	var out []RouteTableView
	err := s.view(ctx, func(tx store.ReadTxn) error {
		out = nil
		var vpcs []*model.VPC
		if err := listJSON(tx, model.PrefixVPC, func(v *model.VPC) error {
			if v.AccountID == accountID && (q.VpcID == "" || v.ID == q.VpcID) &&
				(q.RouteTableID == "" || q.RouteTableID == RouteTableOf(v) || q.RouteTableID == model.SystemRouteTableID(v.ID)) &&
				q.RouteTableName == "" && (q.RouteTableType == "" || strings.EqualFold(q.RouteTableType, model.RouteTypeSystem)) &&
				(q.RouterID == "" || q.RouterID == v.VRouterID) && (q.RouterType == "" || strings.EqualFold(q.RouterType, "VRouter")) {
				vpcs = append(vpcs, v)
			}
			return nil
		}); err != nil {
			return err
		}
		sortByCreation(vpcs, func(v *model.VPC) (int64, string) { return v.CreatedAt.UnixNano(), v.ID })
		for _, v := range vpcs {
			vsws, err := vpcVSwitches(tx, v.ID)
			if err != nil {
				return err
			}
			t := RouteTableView{ID: RouteTableOf(v), VPC: *v, VSwitches: []string{}}
			for _, w := range vsws {
				t.VSwitches = append(t.VSwitches, w.ID)
			}
			out = append(out, t)
		}
		return nil
	})
	return out, err
}

// RouteEntryQuery selects entries in DescribeRouteEntryList; empty fields
// match all.
type RouteEntryQuery struct {
	RouteTableID, RouteEntryID, RouteEntryType, RouteEntryName string
	NextHopID, NextHopType, DestinationCidrBlock, IpVersion    string
	DestCidrBlocks                                             []string
}

// DescribeRouteEntryList lists the entries of a route table of the
// caller: system entries, then custom entries, each oldest first.
func (s *Service) DescribeRouteEntryList(ctx context.Context, accountID string, q RouteEntryQuery) ([]RouteEntryView, error) {
	// IpVersion lists one family (none: both).
	var family func(netip.Prefix) bool
	switch strings.ToLower(strings.TrimSpace(q.IpVersion)) {
	case "":
	case "ipv4":
		family = func(p netip.Prefix) bool { return p.Addr().Is4() }
	case "ipv6":
		family = func(p netip.Prefix) bool { return p.Addr().Is6() }
	default:
		return nil, illegal("IpVersion", "The specified IpVersion %q is not valid: use IPv4 or IPv6.", q.IpVersion)
	}
	var out []RouteEntryView
	err := s.view(ctx, func(tx store.ReadTxn) error {
		out = nil
		v, err := routeTableVPC(tx, accountID, q.RouteTableID)
		if err != nil {
			return err
		}
		all, err := tableEntries(tx, v)
		if err != nil {
			return err
		}
		for _, e := range all {
			if family != nil && !family(e.DestinationCidr) || q.RouteEntryID != "" && e.ID != q.RouteEntryID || q.RouteEntryType != "" && !strings.EqualFold(q.RouteEntryType, e.Type) ||
				q.RouteEntryName != "" && e.Name != q.RouteEntryName || q.NextHopID != "" && e.NextHopID != q.NextHopID ||
				q.NextHopType != "" && !strings.EqualFold(q.NextHopType, e.NextHopType) ||
				q.DestinationCidrBlock != "" && !sameCidr(e.DestinationCidr, q.DestinationCidrBlock) ||
				len(q.DestCidrBlocks) > 0 && !slices.ContainsFunc(q.DestCidrBlocks, func(c string) bool { return sameCidr(e.DestinationCidr, c) }) {
				continue
			}
			out = append(out, e)
		}
		return nil
	})
	return out, err
}

// sameCidr reports whether a filter value names p: IPv6 blocks have more
// than one spelling (FD00::/64 is fd00::/64).
func sameCidr(p netip.Prefix, v string) bool {
	if q, err := netip.ParsePrefix(strings.TrimSpace(v)); err == nil {
		return q == p
	}
	return false
}

// CreateRouteEntryInput is the request of CreateRouteEntry.
type CreateRouteEntryInput struct {
	RouteTableID, DestinationCidrBlock, NextHopType, NextHopID string
	Name, Description                                          string
	NextHopList                                                int // NextHopList.N given (ECMP: refused)
	ClientToken                                                string
}

// Ranges an IPv6 route entry may not send anywhere: the link's own
// addresses and multicast are never forwarded between VPCs.
var (
	linkLocal6 = netip.MustParsePrefix("fe80::/10")
	multicast6 = netip.MustParsePrefix("ff00::/8")
)

// parseRouteDestination reads DestinationCidrBlock: IPv4 or IPv6, host
// bits zero.
func parseRouteDestination(v string) (netip.Prefix, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return netip.Prefix{}, errs.MissingParameter("DestinationCidrBlock")
	}
	p, err := netip.ParsePrefix(v)
	if err != nil || p.Addr().Zone() != "" {
		return netip.Prefix{}, errs.InvalidParam("InvalidDestinationCidrBlock.Malformed",
			"The specified DestinationCidrBlock %q is not valid: give an IPv4 or IPv6 CIDR block such as 10.1.0.0/16 or fd00:1:2:300::/56.", v)
	}
	if p.Masked() != p {
		return netip.Prefix{}, errs.InvalidParam("InvalidDestinationCidrBlock.Malformed",
			"The specified DestinationCidrBlock %q has host bits set: give the network, %s.", v, p.Masked())
	}
	if a := p.Addr(); a.Is4In6() {
		return netip.Prefix{}, errs.InvalidParam("InvalidDestinationCidrBlock.Malformed",
			"The specified DestinationCidrBlock %q is an IPv4-mapped IPv6 block: give the IPv4 CIDR block instead.", v)
	}
	for _, r := range []netip.Prefix{linkLocal6, multicast6} {
		if p.Addr().Is6() && p.Bits() >= r.Bits() && r.Contains(p.Addr()) {
			return netip.Prefix{}, errs.InvalidParam("InvalidDestinationCidrBlock.Malformed",
				"The specified DestinationCidrBlock %q is in %s, which is never routed between VPCs: give the peer VPC's IPv6 CIDR block (or a part of it).", v, r)
		}
	}
	return p, nil
}

func checkRouteText(name, description string) error {
	if !utf8.ValidString(name) || utf8.RuneCountInString(name) > 128 || strings.HasPrefix(name, "http://") || strings.HasPrefix(name, "https://") {
		return illegal("RouteEntryName", "The specified RouteEntryName %q is not valid: use at most 128 characters, not starting with http:// or https://.", name)
	}
	if !utf8.ValidString(description) || utf8.RuneCountInString(description) > 256 {
		return illegal("Description", "The specified Description is not valid: use at most 256 characters of UTF-8 text.")
	}
	return nil
}

// CreateRouteEntry adds a custom entry to a route table of the caller.
func (s *Service) CreateRouteEntry(ctx context.Context, accountID string, in CreateRouteEntryInput) (model.RouteEntry, error) {
	var out model.RouteEntry
	if strings.TrimSpace(in.RouteTableID) == "" {
		return out, errs.MissingParameter(RouteTableParam)
	}
	dst, err := parseRouteDestination(in.DestinationCidrBlock)
	if err != nil {
		return out, err
	}
	if in.NextHopList > 0 {
		return out, errs.InvalidParam("InvalidNextHopType.NotSupported", "NextHopList (ECMP routes) is not supported: give one next hop, NextHopType VpcPeer or NatGateway and NextHopId the peering connection or NAT gateway.")
	}
	var hopType string
	switch t := strings.TrimSpace(in.NextHopType); {
	case t == "":
		return out, errs.MissingParameter("NextHopType")
	case strings.EqualFold(t, model.RouteNextHopPeer):
		hopType = model.RouteNextHopPeer
	case strings.EqualFold(t, model.RouteNextHopNat):
		hopType = model.RouteNextHopNat
		if !dst.Addr().Is4() {
			return out, errs.InvalidParam("InvalidNextHopType.NotSupported",
				"DestinationCidrBlock %s is IPv6, and a NAT gateway translates IPv4 only: give an IPv4 destination (0.0.0.0/0 for the internet).", dst)
		}
	default:
		return out, errs.InvalidParam("InvalidNextHopType.NotSupported",
			"The specified NextHopType %q is not supported: Palisade's route entries send traffic over VPC peering connections (NextHopType VpcPeer, NextHopId pcc-...) or to NAT gateways (NextHopType NatGateway, NextHopId ngw-...).", t)
	}
	hop := strings.TrimSpace(in.NextHopID)
	if hop == "" {
		return out, errs.MissingParameter("NextHopId")
	}
	if err := checkRouteText(in.Name, in.Description); err != nil {
		return out, err
	}
	_, err = s.update(ctx, func(tx store.Txn) error {
		_, err := withClientToken(tx, accountID, "CreateRouteEntry", in.ClientToken, in, &out, func() error {
			v, err := routeTableVPC(tx, accountID, in.RouteTableID)
			if err != nil {
				return err
			}
			if dst.Addr().Is6() && !v.Ipv6CidrBlock.IsValid() {
				return errs.InvalidParam("OperationFailed.VpcNotEnabledIpv6",
					"DestinationCidrBlock %s is IPv6 but VPC %s has no IPv6 CIDR block: enable IPv6 on the VPC first (ModifyVpcAttribute EnableIPv6=true), or give an IPv4 destination.", dst, v.ID)
			}
			for _, c := range vpcOwnCidrs(v) {
				// A route to a NAT gateway may cover the VPC (0.0.0.0/0):
				// the VPC's system entries, more specific, keep its own
				// addresses local. It may not lie inside the VPC.
				if c.Overlaps(dst) && (hopType == model.RouteNextHopPeer || dst.Bits() >= c.Bits()) {
					return errs.Conflict("InvalidCidrBlock.Overlapped",
						"DestinationCidrBlock %s overlaps CIDR block %s of VPC %s: the VPC's own addresses stay in the VPC; give a destination outside it (the peer VPC's CIDR block; to a NAT gateway, one that covers the VPC, such as 0.0.0.0/0, is allowed too).", dst, c, v.ID)
				}
			}
			if hopType == model.RouteNextHopNat {
				if err := checkNatRouteHop(tx, accountID, v, hop, in.RouteTableID); err != nil {
					return err
				}
			} else if err := checkPeerRouteHop(tx, accountID, v, hop, in.RouteTableID); err != nil {
				return err
			}
			entries, err := tableEntries(tx, v)
			if err != nil {
				return err
			}
			custom := 0
			for _, e := range entries {
				if e.DestinationCidr == dst {
					return errs.Conflict("InvalidCIDRBlock.Duplicate",
						"Route table %s has an entry for %s already (%s): delete it first, or give another DestinationCidrBlock.", in.RouteTableID, dst, e.ID)
				}
				if e.Type == model.RouteTypeCustom {
					custom++
				}
			}
			if custom >= RouteEntriesPerTable {
				return errs.Quota("QuotaExceeded.RouteEntry", "Route table %s has %d custom entries, the most allowed: delete one first.", in.RouteTableID, custom)
			}
			e := &model.RouteEntry{
				ID: NewID("rte"), AccountID: accountID, VpcID: v.ID, DestinationCidr: dst, NextHopType: hopType,
				NextHopID: hop, Name: in.Name, Description: in.Description, CreatedAt: s.stamp(),
			}
			out = *e
			return putJSON(tx, model.PrefixRouteEntry+e.ID, e)
		})
		return err
	})
	return out, err
}

// checkPeerRouteHop checks a VpcPeer next hop: an Activated peering
// connection of the caller with v at one end.
func checkPeerRouteHop(tx store.ReadTxn, accountID string, v *model.VPC, hop, tableID string) error {
	p, err := getPeer(tx, accountID, hop)
	if err != nil {
		if errs.HasCode(err, "ResourceNotFound.InstanceId") {
			return errs.NotFound("InvalidNextHopId.NotFound", "The specified NextHopId %q is not a VPC peering connection of your account: ListVpcPeerConnections lists them.", hop)
		}
		return err
	}
	if p.Other(v.ID) == "" {
		return errs.InvalidParam("InvalidNextHopId.VpcMismatch",
			"VPC peering connection %s joins %s and %s, not VPC %s of route table %s: give a connection of that VPC.", p.ID, p.VpcID, p.AcceptingVpcID, v.ID, tableID)
	}
	if p.Status != model.PeerActivated {
		return errs.Conflict("IncorrectStatus.VpcPeer",
			"VPC peering connection %s is %s: routes can use it once it is Activated (the accepting account accepts it with AcceptVpcPeerConnection).", p.ID, p.Status)
	}
	return nil
}

// checkNatRouteHop checks a NatGateway next hop: a NAT gateway of the
// caller in v.
func checkNatRouteHop(tx store.ReadTxn, accountID string, v *model.VPC, hop, tableID string) error {
	g, err := getNatGateway(tx, accountID, hop)
	if err != nil {
		if errs.HasCode(err, "InvalidNatGatewayId.NotFound") {
			return errs.NotFound("InvalidNextHopId.NotFound", "The specified NextHopId %q is not a NAT gateway of your account: DescribeNatGateways lists them.", hop)
		}
		return err
	}
	if g.VpcID != v.ID {
		return errs.InvalidParam("InvalidNextHopId.VpcMismatch",
			"NAT gateway %s is in VPC %s, not in VPC %s of route table %s: give a NAT gateway of that VPC.", g.ID, g.VpcID, v.ID, tableID)
	}
	return nil
}

// DeleteRouteEntryInput is the request of DeleteRouteEntry: the entry by
// RouteEntryId, or by RouteTableId and DestinationCidrBlock (NextHopId,
// when given, must be its next hop).
type DeleteRouteEntryInput struct {
	RouteEntryID, RouteTableID, DestinationCidrBlock, NextHopID string
}

// DeleteRouteEntry deletes a custom entry of the caller.
func (s *Service) DeleteRouteEntry(ctx context.Context, accountID string, in DeleteRouteEntryInput) error {
	id := strings.TrimSpace(in.RouteEntryID)
	var dst netip.Prefix
	if id == "" {
		if strings.TrimSpace(in.RouteTableID) == "" {
			return errs.MissingParameter("RouteEntryId or RouteTableId")
		}
		var err error
		if dst, err = parseRouteDestination(in.DestinationCidrBlock); err != nil {
			return err
		}
	}
	_, err := s.update(ctx, func(tx store.Txn) error {
		var e *RouteEntryView
		var tableID string
		if id != "" {
			var stored model.RouteEntry
			ok, err := getJSON(tx, model.PrefixRouteEntry+id, &stored)
			if err != nil {
				return err
			}
			if !ok || stored.AccountID != accountID {
				return errRouteEntryNotFound(id)
			}
			e = &RouteEntryView{RouteEntry: stored, Type: model.RouteTypeCustom}
			if in.RouteTableID != "" {
				v, err := routeTableVPC(tx, accountID, in.RouteTableID)
				if err != nil {
					return err
				}
				if v.ID != stored.VpcID {
					return errRouteEntryNotFound(id)
				}
			}
		} else {
			v, err := routeTableVPC(tx, accountID, in.RouteTableID)
			if err != nil {
				return err
			}
			tableID = in.RouteTableID
			entries, err := tableEntries(tx, v)
			if err != nil {
				return err
			}
			for i := range entries {
				if entries[i].DestinationCidr == dst {
					e = &entries[i]
				}
			}
			if e == nil {
				return errs.NotFound("InvalidRouteEntry.NotFound", "Route table %s has no entry for %s: DescribeRouteEntryList lists its entries.", tableID, dst)
			}
		}
		if e.Type == model.RouteTypeSystem {
			return errs.Forbidden("OperationDenied.SystemRouteEntry", "Route entry %s (%s) is the system entry of a vSwitch: it goes with the vSwitch (DeleteVSwitch).", e.ID, e.DestinationCidr)
		}
		if hop := strings.TrimSpace(in.NextHopID); hop != "" && hop != e.NextHopID {
			return errs.NotFound("InvalidRouteEntry.NotFound", "Route entry %s (%s) has next hop %s, not %s.", e.ID, e.DestinationCidr, e.NextHopID, hop)
		}
		return tx.Delete(model.PrefixRouteEntry + e.ID)
	})
	return err
}
