package service

import (
	"cmp"
	"context"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/palisade-project/palisade/internal/errs"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/store"
)

// Internet NAT gateways (Vpc 2016-04-28, the enhanced type):
// CreateNatGateway, DescribeNatGateways, GetNatGatewayAttribute,
// ModifyNatGatewayAttribute, DeleteNatGateway; Create/Delete/Modify
// SnatEntry and DescribeSnatTableEntries; Create/Delete/Modify
// ForwardEntry and DescribeForwardTableEntries. EIPs are associated with a
// gateway by AssociateEipAddress (InstanceType Nat, eip.go); routes send
// destinations to it (CreateRouteEntry NextHopType NatGateway, route.go).
//
// Decisions (where the cloud's documentation leaves a choice):
//   - NatType Enhanced and NetworkType internet only (Normal, the
//     retired standard type, and intranet, the VPC NAT gateway, are
//     OperationUnsupported). Pay-as-you-go only (PrePaid is
//     OperationUnsupported); Spec, InternetChargeType and EipBindMode are
//     recorded and shown. SecurityProtectionEnabled and PrivateLinkEnabled
//     are refused.
//   - The gateway takes an address of its vSwitch (the lowest free one),
//     held in the vSwitch's IPAM (ipam/<vsw>/<ip> -> the gateway's ID) as
//     a load balancer's is, and given back when it is deleted. Its zone is
//     its vSwitch's. A vSwitch or VPC with a gateway cannot be deleted
//     (DependencyViolation.EnhancedNatgw), nor a vSwitch that an SNAT
//     entry names as its source (DependencyViolation.SnatEntry).
//   - IsCreateDefaultRoute (default true) adds a custom entry 0.0.0.0/0
//     with next hop the gateway to the VPC's route table, unless the table
//     has a 0.0.0.0/0 entry already. Deleting the gateway deletes every
//     route entry whose next hop it is, in the same transaction.
//   - An SNAT table and a forward table belong to each gateway (stb-,
//     ftb-); a table of another account is not found.
//   - SNAT entries: SnatIp is a comma-separated list of 1-SnatIPsPerEntry
//     IPv4 addresses of EIPs associated with this gateway. The source is
//     exactly one of SourceVSwitchId (a vSwitch of the gateway's VPC; its
//     CIDR block is recorded as SourceCIDR) or SourceCIDR (a canonical
//     IPv4 block inside a CIDR block of the VPC). One source per table
//     (Forbidden.SourceVSwitchId.Duplicated); overlapping sources are
//     allowed (the most specific wins in the data plane).
//     NetworkInterfaceId (ENI-granularity entries) is OperationUnsupported.
//   - Forward entries: IpProtocol TCP, UDP or Any (any case; shown
//     TCP, UDP, Any). ExternalPort and InternalPort are one port 1-65535
//     with TCP and UDP; with Any (an IP mapping) both are Any (stored 0).
//     Port ranges (1000/1010) are OperationUnsupported.PortRange.
//     ExternalIp is an EIP associated with this gateway; InternalIp an
//     IPv4 address inside a vSwitch of the gateway's VPC. Two entries of a
//     table may not take the same ExternalIp, protocol and ExternalPort,
//     and an Any entry takes every port and protocol of its ExternalIp
//     (InvalidForwardEntry.Duplicated). An EIP that an IP mapping uses is
//     no SNAT address, and an SNAT address is not IP-mapped.
//   - An EIP that an entry uses stays associated with its gateway
//     (UnassociateEipAddress refuses); DeleteNatGateway without Force
//     refuses while the gateway has SNAT entries, forward entries or EIPs,
//     and with Force deletes the entries and unassociates the EIPs, all in
//     one transaction. Either way the policies of the gateway's NAT
//     firewall (natfirewall.go) and their hit counts go with it, in the
//     same transaction.
//   - Entries are Available when created (the agent of the gateway's zone
//     programs them), the gateway Available.
//
// Error codes (HTTP status):
//   - MissingParameter (400); InvalidParameter (400): malformed or out of
//     range; InvalidParameter.Name.Malformed,
//     InvalidParameter.Description.Malformed (400).
//   - OperationUnsupported.<Param> (400): NatType, NetworkType,
//     InstanceChargeType, SecurityProtectionEnabled, PrivateLinkEnabled,
//     NetworkInterfaceId, PortRange.
//   - InvalidVpcId.NotFound, InvalidVSwitchId.NotFound (404);
//     InvalidVSwitchId.VpcMismatch (400); InvalidVSwitchId.IpNotEnough
//     (403); QuotaExceeded.RouteEntry (403): no room for the default route.
//   - InvalidNatGatewayId.NotFound, InvalidSnatTableId.NotFound,
//     InvalidSnatEntryId.NotFound, InvalidForwardTableId.NotFound,
//     InvalidForwardEntryId.NotFound (404).
//   - DeleteNatGateway: DependencyViolation.SnatEntry,
//     DependencyViolation.ForwardEntry, DependencyViolation.EIPS,
//     InvalidOperation.DeletionProtection (400).
//   - SNAT: InvalidSnatIp.Malformed (400), InvalidSnatIp.NotFound (404: no
//     EIP of this gateway), SNAT_IP_POOL_COUNT_TOO_MANY (400),
//     Forbidden.IpUsedInForwardTable (400: an IP mapping uses it),
//     InvalidSourceCIDR.Malformed (400), NOT_ALLOW_USE_SOURCECIDR (400: not
//     inside the VPC), Forbidden.SourceVSwitchId.Duplicated (400),
//     Forbidden.SnatEntryCountLimited (400).
//   - Forward: InvalidExternalIp.Malformed, InvalidInternalIp.Malformed,
//     InvalidExternalPort.Malformed, InvalidInternalPort.Malformed,
//     InvalidProtocal.ValueNotSupported (sic) (400); InvalidIp.NotInNatgw
//     (400: no EIP of this gateway); Forbidden.InternalIpOutOfVpcCIDR
//     (400); Forbidden.ExternalIp.UsedInSnatTable (400);
//     InvalidForwardEntry.Duplicated (400); QuotaExceeded.ForwardEntry
//     (400).
//   - EIPs (eip.go): InvalidIpStatus.HasBeenUsedBySnatTable,
//     InvalidIpStatus.HasBeenUsedByForwardEntry (400) on
//     UnassociateEipAddress.
//   - DeleteVpc, DeleteVSwitch: DependencyViolation.EnhancedNatgw,
//     DependencyViolation.SnatEntry (400).

// NAT gateway values the API shows, and the limits of its tables.
const (
	NatTypeEnhanced      = "Enhanced"
	NatNetworkInternet   = "internet"
	NatPostPaid          = "PostPaid"
	NatPayByLcu          = "PayByLcu"
	NatPayBySpec         = "PayBySpec"
	NatEipBindMulti      = "MULTI_BINDED"
	NatEipBindNAT        = "NAT"
	NatIPIdle            = "Idle"
	NatIPUsedBySnatTable = "UsedBySnatTable"
	NatIPUsedByFwdTable  = "UsedByForwardTable"
	// SnatIPsPerEntry bounds the EIPs of one SNAT entry;
	// SnatEntriesPerTable and ForwardEntriesPerTable the entries of one
	// gateway's tables (each is a rule on its zone's host).
	SnatIPsPerEntry        = 20
	SnatEntriesPerTable    = 200
	ForwardEntriesPerTable = 200
)

// Parameter names and texts.
const (
	natGatewayIDParam    = "NatGatewayId"
	natSnatTableParam    = "SnatTableId"
	natForwardTableParam = "ForwardTableId"
	natSnatEntryParam    = "SnatEntryId"
	natForwardEntryParam = "ForwardEntryId"
	natExternalPortParam = "ExternalPort"
	natInternalPortParam = "InternalPort"
	natPortAny           = "Any"
	natTextMax           = 128
	natDescriptionMax    = 256
)

// natSpecs are the Spec values of the cloud (recorded only).
var natSpecs = []string{"Small", "Middle", "Large", "XLarge.1"}

var defaultRoute4 = netip.MustParsePrefix("0.0.0.0/0")

func errNatGatewayNotFound(id string) *errs.Error {
	return errs.NotFound("InvalidNatGatewayId.NotFound", "The specified NatGatewayId %q does not exist: DescribeNatGateways lists your NAT gateways.", id)
}

func errSnatTableNotFound(id string) *errs.Error {
	return errs.NotFound("InvalidSnatTableId.NotFound", "The specified SnatTableId %q is not the SNAT table of a NAT gateway of yours: DescribeNatGateways shows each gateway's SnatTableIds.", id)
}

func errForwardTableNotFound(id string) *errs.Error {
	return errs.NotFound("InvalidForwardTableId.NotFound", "The specified ForwardTableId %q is not the forward table of a NAT gateway of yours: DescribeNatGateways shows each gateway's ForwardTableIds.", id)
}

func errSnatEntryNotFound(id, table string) *errs.Error {
	return errs.NotFound("InvalidSnatEntryId.NotFound", "The specified SnatEntryId %q is not an entry of SNAT table %s: DescribeSnatTableEntries lists them.", id, table)
}

func errForwardEntryNotFound(id, table string) *errs.Error {
	return errs.NotFound("InvalidForwardEntryId.NotFound", "The specified ForwardEntryId %q is not an entry of forward table %s: DescribeForwardTableEntries lists them.", id, table)
}

func natUnsupported(param, format string, args ...any) *errs.Error {
	return errs.InvalidParam("OperationUnsupported."+param, format, args...)
}

// getNatGateway reads a NAT gateway of the account.
func getNatGateway(tx store.ReadTxn, accountID, id string) (*model.NatGateway, error) {
	return getOwned(tx, model.PrefixNatGateway, natGatewayIDParam, accountID, strings.TrimSpace(id), func(v *model.NatGateway) string { return v.AccountID }, errNatGatewayNotFound)
}

// natGatewayByTable finds the caller's gateway whose SNAT (snat true) or
// forward table is tableID.
func natGatewayByTable(tx store.ReadTxn, accountID, tableID string, snat bool) (*model.NatGateway, error) {
	tableID = strings.TrimSpace(tableID)
	param, notFound := natForwardTableParam, errForwardTableNotFound
	if snat {
		param, notFound = natSnatTableParam, errSnatTableNotFound
	}
	if tableID == "" {
		return nil, errs.MissingParameter(param)
	}
	var out *model.NatGateway
	err := listJSON(tx, model.PrefixNatGateway, func(g *model.NatGateway) error {
		if out == nil && g.AccountID == accountID && (snat && g.SnatTableID == tableID || !snat && g.ForwardTableID == tableID) {
			out = g
		}
		return nil
	})
	if err == nil && out == nil {
		err = notFound(tableID)
	}
	return out, err
}

// checkNatText checks a Name (code InvalidParameter.Name.Malformed) or a
// Description of a gateway or entry.
func checkNatText(param string, v string, description bool) error {
	code, maxLen := "InvalidParameter.Name.Malformed", natTextMax
	if description {
		code, maxLen = "InvalidParameter.Description.Malformed", natDescriptionMax
	}
	if len(v) > maxLen || strings.HasPrefix(v, "http://") || strings.HasPrefix(v, "https://") {
		return errs.InvalidParam(code, "The specified %s is not valid: use at most %d characters, not starting with http:// or https://.", param, maxLen)
	}
	return nil
}

// pick matches v case-insensitively against allowed and returns the
// canonical spelling ("" when v is empty).
func pick(v string, allowed ...string) (string, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return "", true
	}
	for _, a := range allowed {
		if strings.EqualFold(v, a) {
			return a, true
		}
	}
	return "", false
}

// ---------------------------------------------------------------------------
// Gateways

// CreateNatGatewayInput is the request of CreateNatGateway.
type CreateNatGatewayInput struct {
	VpcID, VSwitchID, Name, Description string
	NatType, NetworkType, Spec          string
	InstanceChargeType                  string
	InternetChargeType, EipBindMode     string
	IcmpReplyEnabled                    *bool // nil: true
	IsCreateDefaultRoute                *bool // nil: true
	SecurityProtectionEnabled           bool  // refused
	PrivateLinkEnabled                  bool  // refused
	Tags                                []model.Tag
	ClientToken                         string
}

// normalize checks the request and fills in the defaults.
func (in *CreateNatGatewayInput) normalize() error {
	if strings.TrimSpace(in.VpcID) == "" {
		return errs.MissingParameter("VpcId")
	}
	if strings.TrimSpace(in.VSwitchID) == "" {
		return errs.MissingParameter("VSwitchId")
	}
	switch t, ok := pick(in.NatType, NatTypeEnhanced); {
	case strings.EqualFold(strings.TrimSpace(in.NatType), "Normal"):
		return natUnsupported("NatType", "Standard (Normal) NAT gateways are not offered: Palisade serves enhanced NAT gateways only; send NatType=Enhanced (the default) with a VSwitchId.")
	case !ok:
		return errs.InvalidParameter("NatType", "%q is not a NAT gateway type; use Enhanced", in.NatType)
	default:
		in.NatType = cmp.Or(t, NatTypeEnhanced)
	}
	switch t, ok := pick(in.NetworkType, NatNetworkInternet); {
	case strings.EqualFold(strings.TrimSpace(in.NetworkType), "intranet"):
		return natUnsupported("NetworkType", "VPC NAT gateways (NetworkType intranet) are not supported: Palisade serves Internet NAT gateways only; leave NetworkType out or send internet.")
	case !ok:
		return errs.InvalidParameter("NetworkType", "%q is not a network type; use internet", in.NetworkType)
	default:
		in.NetworkType = cmp.Or(t, NatNetworkInternet)
	}
	switch t, ok := pick(in.InstanceChargeType, NatPostPaid); {
	case strings.EqualFold(strings.TrimSpace(in.InstanceChargeType), "PrePaid"):
		return natUnsupported("InstanceChargeType", "subscription (PrePaid) NAT gateways are not offered: NAT gateways are pay-as-you-go (PostPaid, the default).")
	case !ok:
		return errs.InvalidParameter("InstanceChargeType", "%q is not a charge type; use PostPaid", in.InstanceChargeType)
	default:
		in.InstanceChargeType = cmp.Or(t, NatPostPaid)
	}
	t, ok := pick(in.InternetChargeType, NatPayByLcu, NatPayBySpec)
	if !ok {
		return errs.InvalidParameter("InternetChargeType", "%q is not a charge type; use PayByLcu (the default) or PayBySpec", in.InternetChargeType)
	}
	in.InternetChargeType = cmp.Or(t, NatPayByLcu)
	if t, ok = pick(in.EipBindMode, NatEipBindMulti, NatEipBindNAT); !ok {
		return errs.InvalidParameter("EipBindMode", "%q is not an EIP binding mode; use MULTI_BINDED (the default) or NAT", in.EipBindMode)
	}
	in.EipBindMode = cmp.Or(t, NatEipBindMulti)
	if t, ok = pick(in.Spec, natSpecs...); !ok {
		return errs.InvalidParameter("Spec", "%q is not a specification; use %s (or leave it out)", in.Spec, strings.Join(natSpecs, ", "))
	}
	in.Spec = t
	if in.SecurityProtectionEnabled {
		return natUnsupported("SecurityProtectionEnabled", "a NAT gateway has no firewall of its own here: protect its EIPs with the Internet firewall (Cloudfw) instead.")
	}
	if in.PrivateLinkEnabled {
		return natUnsupported("PrivateLinkEnabled", "a NAT gateway cannot reach PrivateLink endpoint services here.")
	}
	if err := checkNatText("Name", in.Name, false); err != nil {
		return err
	}
	return checkNatText("Description", in.Description, true)
}

// CreateNatGateway creates an Internet NAT gateway in a vSwitch of the
// caller's VPC, with an address of the vSwitch and, unless asked not to,
// the VPC's default route to it.
func (s *Service) CreateNatGateway(ctx context.Context, accountID string, in CreateNatGatewayInput) (model.NatGateway, error) {
	var out model.NatGateway
	if err := in.normalize(); err != nil {
		return out, err
	}
	_, err := s.update(ctx, func(tx store.Txn) error {
		_, err := withClientToken(tx, accountID, "CreateNatGateway", in.ClientToken, in, &out, func() error {
			v, err := getVPC(tx, accountID, strings.TrimSpace(in.VpcID))
			if err != nil {
				return err
			}
			vsw, err := getVSwitch(tx, accountID, strings.TrimSpace(in.VSwitchID))
			if err != nil {
				return err
			}
			if vsw.VpcID != v.ID {
				return errs.InvalidParam("InvalidVSwitchId.VpcMismatch",
					"vSwitch %s is in VPC %s, not in the specified VpcId %s: give a vSwitch of the VPC the NAT gateway serves.", vsw.ID, vsw.VpcID, v.ID)
			}
			id := NewID("ngw")
			addr, err := allocator{tx: tx, vsw: vsw}.next(id, false)
			if err != nil {
				return err
			}
			g := &model.NatGateway{
				ID: id, AccountID: accountID, VpcID: v.ID, VSwitchID: vsw.ID, ZoneID: vsw.ZoneID,
				Name: in.Name, Description: in.Description, NatType: in.NatType, NetworkType: in.NetworkType,
				Spec: in.Spec, InstanceChargeType: in.InstanceChargeType, InternetChargeType: in.InternetChargeType,
				EipBindMode: in.EipBindMode, IcmpReplyEnabled: in.IcmpReplyEnabled == nil || *in.IcmpReplyEnabled,
				PrivateIP: addr, Status: model.NatGatewayAvailable, SnatTableID: NewID("stb"), ForwardTableID: NewID("ftb"),
				Tags: in.Tags, CreatedAt: s.stamp(),
			}
			if in.IsCreateDefaultRoute == nil || *in.IsCreateDefaultRoute {
				if err := s.addNatDefaultRoute(tx, v, g); err != nil {
					return err
				}
			}
			out = *g
			return putJSON(tx, model.PrefixNatGateway+g.ID, g)
		})
		return err
	})
	return out, err
}

// addNatDefaultRoute adds 0.0.0.0/0 -> g to v's route table when the table
// has no 0.0.0.0/0 entry.
func (s *Service) addNatDefaultRoute(tx store.Txn, v *model.VPC, g *model.NatGateway) error {
	entries, err := vpcRouteEntries(tx, v.ID)
	if err != nil {
		return err
	}
	if slices.ContainsFunc(entries, func(e *model.RouteEntry) bool { return e.DestinationCidr == defaultRoute4 }) {
		return nil
	}
	if len(entries) >= RouteEntriesPerTable {
		return errs.Quota("QuotaExceeded.RouteEntry",
			"Route table %s has %d custom entries, the most allowed, so the default route to the NAT gateway cannot be added: delete an entry, or send IsCreateDefaultRoute=false.", RouteTableOf(v), len(entries))
	}
	e := &model.RouteEntry{
		ID: NewID("rte"), AccountID: g.AccountID, VpcID: v.ID, DestinationCidr: defaultRoute4,
		NextHopType: model.RouteNextHopNat, NextHopID: g.ID, CreatedAt: s.stamp(),
	}
	return putJSON(tx, model.PrefixRouteEntry+e.ID, e)
}

// NatIPView is an EIP of a gateway as IpLists shows it.
type NatIPView struct {
	AllocationID     string
	Address          netip.Addr
	UsingStatus      string // NatIPIdle, NatIPUsedBySnatTable or NatIPUsedByFwdTable
	SnatEntryEnabled bool
}

// NatGatewayView is a gateway with its EIPs and entry counts.
type NatGatewayView struct {
	model.NatGateway
	IPs               []NatIPView
	SnatEntryCount    int
	ForwardEntryCount int
}

// natUsage indexes the EIPs and entries of gateways.
type natUsage struct {
	eips     map[string][]*model.EIP // by gateway
	snat     map[string][]*model.SnatEntry
	forward  map[string][]*model.ForwardEntry
	snatIPs  map[string]map[netip.Addr]bool // gateway -> SNAT addresses
	fwdIPs   map[string]map[netip.Addr]bool // gateway -> forward external addresses
	gateways map[string]bool                // gateways indexed ("" = all)
}

// readNatUsage reads the EIPs and entries of the account's gateways.
func readNatUsage(tx store.ReadTxn, accountID string) (*natUsage, error) {
	u := &natUsage{eips: map[string][]*model.EIP{}, snat: map[string][]*model.SnatEntry{}, forward: map[string][]*model.ForwardEntry{},
		snatIPs: map[string]map[netip.Addr]bool{}, fwdIPs: map[string]map[netip.Addr]bool{}}
	if err := listJSON(tx, model.PrefixEIP, func(e *model.EIP) error {
		if e.AccountID == accountID && e.InstanceType == model.EIPInstanceNat {
			u.eips[e.InstanceID] = append(u.eips[e.InstanceID], e)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	if err := listJSON(tx, model.PrefixSnatEntry, func(e *model.SnatEntry) error {
		if e.AccountID == accountID {
			u.snat[e.NatGatewayID] = append(u.snat[e.NatGatewayID], e)
			if u.snatIPs[e.NatGatewayID] == nil {
				u.snatIPs[e.NatGatewayID] = map[netip.Addr]bool{}
			}
			for _, a := range e.SnatIPs {
				u.snatIPs[e.NatGatewayID][a] = true
			}
		}
		return nil
	}); err != nil {
		return nil, err
	}
	err := listJSON(tx, model.PrefixForwardEntry, func(e *model.ForwardEntry) error {
		if e.AccountID == accountID {
			u.forward[e.NatGatewayID] = append(u.forward[e.NatGatewayID], e)
			if u.fwdIPs[e.NatGatewayID] == nil {
				u.fwdIPs[e.NatGatewayID] = map[netip.Addr]bool{}
			}
			u.fwdIPs[e.NatGatewayID][e.ExternalIP] = true
		}
		return nil
	})
	return u, err
}

func (u *natUsage) view(g *model.NatGateway) NatGatewayView {
	v := NatGatewayView{NatGateway: *g, IPs: []NatIPView{}, SnatEntryCount: len(u.snat[g.ID]), ForwardEntryCount: len(u.forward[g.ID])}
	eips := slices.Clone(u.eips[g.ID])
	sortByCreation(eips, func(e *model.EIP) (int64, string) { return e.CreatedAt.UnixNano(), e.ID })
	for _, e := range eips {
		ip := NatIPView{AllocationID: e.ID, Address: e.Address, UsingStatus: NatIPIdle}
		switch {
		case u.snatIPs[g.ID][e.Address]:
			ip.UsingStatus, ip.SnatEntryEnabled = NatIPUsedBySnatTable, true
		case u.fwdIPs[g.ID][e.Address]:
			ip.UsingStatus = NatIPUsedByFwdTable
		}
		v.IPs = append(v.IPs, ip)
	}
	return v
}

// NatGatewayQuery selects gateways in DescribeNatGateways; empty fields
// match all.
type NatGatewayQuery struct {
	IDs                                            []string
	VpcID, VSwitchID, ZoneID, Name, Status         string
	NatType, NetworkType, Spec, InstanceChargeType string
	Tags                                           []model.Tag
	PrivateLinkEnabled                             *bool // only false matches
	ResourceGroupID                                string
}

func (q NatGatewayQuery) match(g *model.NatGateway) bool {
	eq := func(want, have string) bool { return want == "" || strings.EqualFold(want, have) }
	return (len(q.IDs) == 0 || slices.Contains(q.IDs, g.ID)) && (q.VpcID == "" || q.VpcID == g.VpcID) &&
		(q.VSwitchID == "" || q.VSwitchID == g.VSwitchID) && (q.ZoneID == "" || q.ZoneID == g.ZoneID) &&
		(q.Name == "" || q.Name == g.Name) && eq(q.Status, g.Status) && eq(q.NatType, g.NatType) &&
		eq(q.NetworkType, g.NetworkType) && eq(q.Spec, g.Spec) && eq(q.InstanceChargeType, g.InstanceChargeType) &&
		(q.PrivateLinkEnabled == nil || !*q.PrivateLinkEnabled) && q.ResourceGroupID == "" && hasTags(g.Tags, q.Tags)
}

// DescribeNatGateways lists the caller's gateways, oldest first.
func (s *Service) DescribeNatGateways(ctx context.Context, accountID string, q NatGatewayQuery) ([]NatGatewayView, error) {
	var out []NatGatewayView
	err := s.view(ctx, func(tx store.ReadTxn) error {
		out = nil
		u, err := readNatUsage(tx, accountID)
		if err != nil {
			return err
		}
		return listJSON(tx, model.PrefixNatGateway, func(g *model.NatGateway) error {
			if g.AccountID == accountID && q.match(g) {
				out = append(out, u.view(g))
			}
			return nil
		})
	})
	sortByCreation(out, func(v NatGatewayView) (int64, string) { return v.CreatedAt.UnixNano(), v.ID })
	return out, err
}

// GetNatGatewayAttribute returns one gateway of the caller.
func (s *Service) GetNatGatewayAttribute(ctx context.Context, accountID, id string) (NatGatewayView, error) {
	var out NatGatewayView
	err := s.view(ctx, func(tx store.ReadTxn) error {
		g, err := getNatGateway(tx, accountID, id)
		if err != nil {
			return err
		}
		u, err := readNatUsage(tx, accountID)
		if err == nil {
			out = u.view(g)
		}
		return err
	})
	return out, err
}

// ModifyNatGatewayInput holds the changes of ModifyNatGatewayAttribute;
// nil leaves a field.
type ModifyNatGatewayInput struct {
	Name, Description, EipBindMode *string
	IcmpReplyEnabled               *bool
}

// ModifyNatGatewayAttribute renames a gateway or changes its description,
// EIP binding mode or ICMP reply.
func (s *Service) ModifyNatGatewayAttribute(ctx context.Context, accountID, id string, in ModifyNatGatewayInput) error {
	if in.Name != nil {
		if err := checkNatText("Name", *in.Name, false); err != nil {
			return err
		}
	}
	if in.Description != nil {
		if err := checkNatText("Description", *in.Description, true); err != nil {
			return err
		}
	}
	mode := ""
	if in.EipBindMode != nil {
		m, ok := pick(*in.EipBindMode, NatEipBindMulti, NatEipBindNAT)
		if !ok {
			return errs.InvalidParameter("EipBindMode", "%q is not an EIP binding mode; use MULTI_BINDED or NAT", *in.EipBindMode)
		}
		mode = m
	}
	_, err := s.update(ctx, func(tx store.Txn) error {
		g, err := getNatGateway(tx, accountID, id)
		if err != nil {
			return err
		}
		if in.Name != nil {
			g.Name = *in.Name
		}
		if in.Description != nil {
			g.Description = *in.Description
		}
		if mode != "" {
			g.EipBindMode = mode
		}
		if in.IcmpReplyEnabled != nil {
			g.IcmpReplyEnabled = *in.IcmpReplyEnabled
		}
		return putJSON(tx, model.PrefixNatGateway+g.ID, g)
	})
	return err
}

// DeleteNatGateway deletes a gateway with its address, the route entries
// to it and its NAT firewall's policies. Without force it refuses while the gateway has entries or
// EIPs; with force those entries are deleted and the EIPs unassociated.
func (s *Service) DeleteNatGateway(ctx context.Context, accountID, id string, force bool) error {
	_, err := s.update(ctx, func(tx store.Txn) error {
		g, err := getNatGateway(tx, accountID, id)
		if err != nil {
			return err
		}
		if g.DeletionProtection {
			return errs.InvalidParam("InvalidOperation.DeletionProtection",
				"NAT gateway %s has deletion protection on: turn it off before deleting it.", g.ID)
		}
		u, err := readNatUsage(tx, accountID)
		if err != nil {
			return err
		}
		snat, fwd, eips := u.snat[g.ID], u.forward[g.ID], u.eips[g.ID]
		if !force {
			switch {
			case len(snat) > 0:
				return errs.InvalidParam("DependencyViolation.SnatEntry",
					"NAT gateway %s has %d SNAT entries (SNAT table %s): delete them first (DeleteSnatEntry), or pass Force=true.", g.ID, len(snat), g.SnatTableID)
			case len(fwd) > 0:
				return errs.InvalidParam("DependencyViolation.ForwardEntry",
					"NAT gateway %s has %d forward entries (forward table %s): delete them first (DeleteForwardEntry), or pass Force=true.", g.ID, len(fwd), g.ForwardTableID)
			case len(eips) > 0:
				return errs.InvalidParam("DependencyViolation.EIPS",
					"NAT gateway %s has %d EIPs associated (%s first): unassociate them first (UnassociateEipAddress), or pass Force=true.", g.ID, len(eips), eips[0].ID)
			}
		}
		for _, e := range snat {
			if err := tx.Delete(model.PrefixSnatEntry + e.ID); err != nil {
				return err
			}
		}
		for _, e := range fwd {
			if err := tx.Delete(model.PrefixForwardEntry + e.ID); err != nil {
				return err
			}
		}
		for _, e := range eips {
			clearEIPAssociation(e)
			if err := putJSON(tx, model.PrefixEIP+e.ID, e); err != nil {
				return err
			}
		}
		if err := deleteRoutesTo(tx, g.ID); err != nil {
			return err
		}
		// The gateway's NAT firewall goes with it (natfirewall.go): its
		// policies judge nothing once the gateway is gone, and a policy
		// left behind would keep its address books in use.
		if err := deleteNatFirewallPolicies(tx, g.ID); err != nil {
			return err
		}
		key := ipamKey(g.VSwitchID, g.PrivateIP)
		if owner, ok, err := tx.Get(key); err != nil {
			return err
		} else if ok && string(owner) == g.ID {
			if err := tx.Delete(key); err != nil {
				return err
			}
		}
		return tx.Delete(model.PrefixNatGateway + g.ID)
	})
	return err
}

// clearEIPAssociation makes e Available, associated with nothing.
func clearEIPAssociation(e *model.EIP) {
	e.InstanceID, e.InstanceType, e.ENIID, e.PrivateIP, e.VpcID, e.ZoneID = "", "", "", netip.Addr{}, "", ""
	e.Status = model.EIPAvailable
}

// deleteRoutesTo deletes the route entries whose next hop is hopID.
func deleteRoutesTo(tx store.Txn, hopID string) error {
	var ids []string
	if err := listJSON(tx, model.PrefixRouteEntry, func(r *model.RouteEntry) error {
		if r.NextHopID == hopID {
			ids = append(ids, r.ID)
		}
		return nil
	}); err != nil {
		return err
	}
	for _, id := range ids {
		if err := tx.Delete(model.PrefixRouteEntry + id); err != nil {
			return err
		}
	}
	return nil
}

// refuseNatGatewaysIn is DeleteVpc's and DeleteVSwitch's part of NAT: a
// VPC or vSwitch with a gateway stays, and so does a vSwitch that an SNAT
// entry names as its source.
func refuseNatGatewaysIn(tx store.ReadTxn, vpcID, vswID string) error {
	if err := listJSON(tx, model.PrefixNatGateway, func(g *model.NatGateway) error {
		switch {
		case vswID != "" && g.VSwitchID == vswID:
			return errs.InvalidParam("DependencyViolation.EnhancedNatgw",
				"vSwitch %s holds NAT gateway %s (address %s); delete the NAT gateway first (DeleteNatGateway).", vswID, g.ID, g.PrivateIP)
		case vpcID != "" && g.VpcID == vpcID:
			return errs.InvalidParam("DependencyViolation.EnhancedNatgw",
				"VPC %s holds NAT gateway %s (vSwitch %s); delete the NAT gateway first (DeleteNatGateway).", vpcID, g.ID, g.VSwitchID)
		}
		return nil
	}); err != nil || vswID == "" {
		return err
	}
	return listJSON(tx, model.PrefixSnatEntry, func(e *model.SnatEntry) error {
		if e.SourceVSwitchID == vswID {
			return errs.InvalidParam("DependencyViolation.SnatEntry",
				"vSwitch %s is the source of SNAT entry %s of NAT gateway %s; delete the entry first (DeleteSnatEntry).", vswID, e.ID, e.NatGatewayID)
		}
		return nil
	})
}

// vpcNatGateways lists the IDs of the NAT gateways of a VPC, by creation.
func vpcNatGateways(tx store.ReadTxn, vpcID string) ([]string, error) {
	var gs []*model.NatGateway
	err := listJSON(tx, model.PrefixNatGateway, func(g *model.NatGateway) error {
		if g.VpcID == vpcID {
			gs = append(gs, g)
		}
		return nil
	})
	sortByCreation(gs, func(g *model.NatGateway) (int64, string) { return g.CreatedAt.UnixNano(), g.ID })
	out := make([]string, 0, len(gs))
	for _, g := range gs {
		out = append(out, g.ID)
	}
	return out, err
}

// ---------------------------------------------------------------------------
// EIPs

// associateNatEIP is AssociateEipAddress for InstanceType Nat: e (of the
// caller, Available) goes to gateway gwID of the caller.
func (s *Service) associateNatEIP(tx store.Txn, accountID string, e *model.EIP, gwID, privateIP string) error {
	if privateIP != "" {
		return errs.InvalidParameter("PrivateIpAddress", "an EIP associated with a NAT gateway maps to no private address of yours: leave PrivateIpAddress out")
	}
	g, err := getNatGateway(tx, accountID, gwID)
	if err != nil {
		return err
	}
	e.InstanceID, e.InstanceType, e.ENIID, e.PrivateIP, e.VpcID, e.ZoneID = g.ID, model.EIPInstanceNat, "", netip.Addr{}, g.VpcID, g.ZoneID
	e.Status = model.EIPInUse
	if s.zoneServed(tx, g.ZoneID) {
		e.Status = model.EIPAssociating
	}
	return putJSON(tx, model.PrefixEIP+e.ID, e)
}

// refuseNatEIPInUse is UnassociateEipAddress's part of NAT: an EIP that an
// SNAT or forward entry of its gateway uses stays.
func refuseNatEIPInUse(tx store.ReadTxn, e *model.EIP) error {
	if e.InstanceType != model.EIPInstanceNat {
		return nil
	}
	if err := listJSON(tx, model.PrefixSnatEntry, func(s *model.SnatEntry) error {
		if s.NatGatewayID == e.InstanceID && slices.Contains(s.SnatIPs, e.Address) {
			return errs.InvalidParam("InvalidIpStatus.HasBeenUsedBySnatTable",
				"EIP %s (%s) is an address of SNAT entry %s of NAT gateway %s: delete the entry or take the address out of its SnatIp (ModifySnatEntry) first.", e.ID, e.Address, s.ID, e.InstanceID)
		}
		return nil
	}); err != nil {
		return err
	}
	return listJSON(tx, model.PrefixForwardEntry, func(f *model.ForwardEntry) error {
		if f.NatGatewayID == e.InstanceID && f.ExternalIP == e.Address {
			return errs.InvalidParam("InvalidIpStatus.HasBeenUsedByForwardEntry",
				"EIP %s (%s) is the ExternalIp of forward entry %s of NAT gateway %s: delete the entry first (DeleteForwardEntry).", e.ID, e.Address, f.ID, e.InstanceID)
		}
		return nil
	})
}

// gatewayEIP returns the EIP of address a when it is the caller's and
// associated with gateway g (nil otherwise).
func gatewayEIP(tx store.ReadTxn, g *model.NatGateway, a netip.Addr) (*model.EIP, error) {
	e, err := accountEIPByAddr(tx, g.AccountID, a)
	if err != nil || e == nil || e.InstanceType != model.EIPInstanceNat || e.InstanceID != g.ID {
		return nil, err
	}
	return e, nil
}

// ---------------------------------------------------------------------------
// SNAT entries

// parseSnatIPs reads SnatIp: comma-separated IPv4 addresses, each once.
func parseSnatIPs(v string) ([]netip.Addr, error) {
	items := commaItems(v)
	if len(items) == 0 {
		return nil, errs.MissingParameter("SnatIp")
	}
	if len(items) > SnatIPsPerEntry {
		return nil, errs.InvalidParam("SNAT_IP_POOL_COUNT_TOO_MANY",
			"SnatIp lists %d addresses: an SNAT entry takes at most %d EIPs.", len(items), SnatIPsPerEntry)
	}
	out := make([]netip.Addr, 0, len(items))
	for _, it := range items {
		a, err := netip.ParseAddr(it)
		if err != nil || !a.Is4() {
			return nil, errs.InvalidParam("InvalidSnatIp.Malformed",
				"The specified SnatIp %q is not valid: give the IPv4 addresses of EIPs associated with the NAT gateway, separated by commas.", it)
		}
		if slices.Contains(out, a) {
			return nil, errs.InvalidParam("InvalidSnatIp.Malformed", "The specified SnatIp lists %s twice: give each address once.", a)
		}
		out = append(out, a)
	}
	return out, nil
}

// commaItems splits "a,b , c" into trimmed, non-empty items.
func commaItems(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func checkEipAffinity(v *int) error {
	if v != nil && *v != 0 && *v != 1 {
		return errs.InvalidParameter("EipAffinity", "%d is neither 0 (off) nor 1 (on)", *v)
	}
	return nil
}

// checkSnatIPs checks that every address is an EIP of g that no IP
// mapping of g uses.
func checkSnatIPs(tx store.ReadTxn, g *model.NatGateway, ips []netip.Addr) error {
	for _, a := range ips {
		e, err := gatewayEIP(tx, g, a)
		if err != nil {
			return err
		}
		if e == nil {
			return errs.NotFound("InvalidSnatIp.NotFound",
				"SnatIp %s is not an EIP associated with NAT gateway %s: associate it first (AssociateEipAddress InstanceType=Nat InstanceId=%s).", a, g.ID, g.ID)
		}
	}
	return listJSON(tx, model.PrefixForwardEntry, func(f *model.ForwardEntry) error {
		if f.NatGatewayID == g.ID && f.IpProtocol == model.NatProtoAny && slices.Contains(ips, f.ExternalIP) {
			return errs.InvalidParam("Forbidden.IpUsedInForwardTable",
				"SnatIp %s is IP-mapped to %s by forward entry %s (IpProtocol Any): an IP-mapped EIP cannot be an SNAT address; use another EIP or delete the entry.", f.ExternalIP, f.InternalIP, f.ID)
		}
		return nil
	})
}

// tableSnatEntries lists the entries of a gateway's SNAT table, oldest
// first.
func tableSnatEntries(tx store.ReadTxn, g *model.NatGateway) ([]*model.SnatEntry, error) {
	var out []*model.SnatEntry
	err := listJSON(tx, model.PrefixSnatEntry, func(e *model.SnatEntry) error {
		if e.NatGatewayID == g.ID && e.SnatTableID == g.SnatTableID {
			out = append(out, e)
		}
		return nil
	})
	sortByCreation(out, func(e *model.SnatEntry) (int64, string) { return e.CreatedAt.UnixNano(), e.ID })
	return out, err
}

// CreateSnatEntryInput is the request of CreateSnatEntry.
type CreateSnatEntryInput struct {
	SnatTableID, SnatIP         string
	SourceVSwitchID, SourceCIDR string
	Name, NetworkInterfaceID    string
	EipAffinity                 *int
	ClientToken                 string
}

// CreateSnatEntry adds an SNAT entry to a gateway's SNAT table.
func (s *Service) CreateSnatEntry(ctx context.Context, accountID string, in CreateSnatEntryInput) (model.SnatEntry, error) {
	var out model.SnatEntry
	if strings.TrimSpace(in.SnatTableID) == "" {
		return out, errs.MissingParameter(natSnatTableParam)
	}
	if in.NetworkInterfaceID != "" {
		return out, natUnsupported("NetworkInterfaceId", "SNAT entries are for a vSwitch (SourceVSwitchId) or a CIDR block (SourceCIDR; an instance's address/32 for one instance), not for a network interface.")
	}
	ips, err := parseSnatIPs(in.SnatIP)
	if err != nil {
		return out, err
	}
	vswID, cidrText := strings.TrimSpace(in.SourceVSwitchID), strings.TrimSpace(in.SourceCIDR)
	var cidr netip.Prefix
	switch {
	case vswID == "" && cidrText == "":
		return out, errs.MissingParameter("SourceVSwitchId or SourceCIDR")
	case vswID != "" && cidrText != "":
		return out, errs.InvalidParameter("SourceCIDR", "give SourceVSwitchId or SourceCIDR, not both")
	case cidrText != "":
		p, err := netip.ParsePrefix(cidrText)
		if err != nil || !p.Addr().Is4() || p.Masked() != p {
			return out, errs.InvalidParam("InvalidSourceCIDR.Malformed",
				"The specified SourceCIDR %q is not valid: give an IPv4 CIDR block with its host bits zero, such as 192.168.1.0/24 (or 192.168.1.10/32 for one instance).", cidrText)
		}
		cidr = p
	}
	if err := checkEipAffinity(in.EipAffinity); err != nil {
		return out, err
	}
	if err := checkNatText("SnatEntryName", in.Name, false); err != nil {
		return out, err
	}
	_, err = s.update(ctx, func(tx store.Txn) error {
		_, err := withClientToken(tx, accountID, "CreateSnatEntry", in.ClientToken, in, &out, func() error {
			g, err := natGatewayByTable(tx, accountID, in.SnatTableID, true)
			if err != nil {
				return err
			}
			src := cidr
			if vswID != "" {
				w, err := getVSwitch(tx, accountID, vswID)
				if err != nil {
					return err
				}
				if w.VpcID != g.VpcID {
					return errs.InvalidParam("InvalidVSwitchId.VpcMismatch",
						"vSwitch %s is in VPC %s, but NAT gateway %s serves VPC %s: give a vSwitch of that VPC.", w.ID, w.VpcID, g.ID, g.VpcID)
				}
				src = w.CidrBlock
			} else {
				v, err := getVPC(tx, accountID, g.VpcID)
				if err != nil {
					return err
				}
				if !slices.ContainsFunc(append([]netip.Prefix{v.CidrBlock}, v.SecondaryCidrs...), func(c netip.Prefix) bool { return prefixContains(c, src) }) {
					return errs.InvalidParam("NOT_ALLOW_USE_SOURCECIDR",
						"SourceCIDR %s is not inside a CIDR block of VPC %s (%s): SNAT serves the VPC's own addresses.", src, v.ID, v.CidrBlock)
				}
			}
			if err := checkSnatIPs(tx, g, ips); err != nil {
				return err
			}
			entries, err := tableSnatEntries(tx, g)
			if err != nil {
				return err
			}
			for _, e := range entries {
				if e.SourceCIDR == src {
					return errs.InvalidParam("Forbidden.SourceVSwitchId.Duplicated",
						"SNAT table %s has an entry for %s already (%s): one entry per source; change that entry's SnatIp (ModifySnatEntry) instead.", g.SnatTableID, src, e.ID)
				}
			}
			if len(entries) >= SnatEntriesPerTable {
				return errs.InvalidParam("Forbidden.SnatEntryCountLimited",
					"SNAT table %s has %d entries, the most allowed: delete one first.", g.SnatTableID, len(entries))
			}
			e := &model.SnatEntry{
				ID: NewID("snat"), AccountID: accountID, NatGatewayID: g.ID, SnatTableID: g.SnatTableID, VpcID: g.VpcID,
				Name: in.Name, SourceVSwitchID: vswID, SourceCIDR: src, SnatIPs: ips, Status: model.NatEntryAvailable, CreatedAt: s.stamp(),
			}
			if in.EipAffinity != nil {
				e.EipAffinity = *in.EipAffinity
			}
			out = *e
			return putJSON(tx, model.PrefixSnatEntry+e.ID, e)
		})
		return err
	})
	return out, err
}

// snatEntryOf reads entry id of table tableID of the caller.
func snatEntryOf(tx store.ReadTxn, accountID, tableID, id string) (*model.NatGateway, *model.SnatEntry, error) {
	g, err := natGatewayByTable(tx, accountID, tableID, true)
	if err != nil {
		return nil, nil, err
	}
	id = strings.TrimSpace(id)
	if id == "" {
		return nil, nil, errs.MissingParameter(natSnatEntryParam)
	}
	var e model.SnatEntry
	if ok, err := getJSON(tx, model.PrefixSnatEntry+id, &e); err != nil {
		return nil, nil, err
	} else if !ok || e.AccountID != accountID || e.SnatTableID != g.SnatTableID {
		return nil, nil, errSnatEntryNotFound(id, g.SnatTableID)
	}
	return g, &e, nil
}

// ModifySnatEntryInput is the request of ModifySnatEntry; nil leaves a
// field.
type ModifySnatEntryInput struct {
	SnatTableID, SnatEntryID string
	SnatIP, Name             *string
	EipAffinity              *int
	NetworkInterfaceID       string
}

// ModifySnatEntry changes an entry's addresses, name or EIP affinity.
func (s *Service) ModifySnatEntry(ctx context.Context, accountID string, in ModifySnatEntryInput) error {
	if in.NetworkInterfaceID != "" {
		return natUnsupported("NetworkInterfaceId", "SNAT entries are for a vSwitch or a CIDR block, not for a network interface.")
	}
	var ips []netip.Addr
	if in.SnatIP != nil {
		var err error
		if ips, err = parseSnatIPs(*in.SnatIP); err != nil {
			return err
		}
	}
	if err := checkEipAffinity(in.EipAffinity); err != nil {
		return err
	}
	if in.Name != nil {
		if err := checkNatText("SnatEntryName", *in.Name, false); err != nil {
			return err
		}
	}
	_, err := s.update(ctx, func(tx store.Txn) error {
		g, e, err := snatEntryOf(tx, accountID, in.SnatTableID, in.SnatEntryID)
		if err != nil {
			return err
		}
		if ips != nil {
			if err := checkSnatIPs(tx, g, ips); err != nil {
				return err
			}
			e.SnatIPs = ips
		}
		if in.Name != nil {
			e.Name = *in.Name
		}
		if in.EipAffinity != nil {
			e.EipAffinity = *in.EipAffinity
		}
		return putJSON(tx, model.PrefixSnatEntry+e.ID, e)
	})
	return err
}

// DeleteSnatEntry deletes an entry of a gateway's SNAT table.
func (s *Service) DeleteSnatEntry(ctx context.Context, accountID, tableID, id string) error {
	_, err := s.update(ctx, func(tx store.Txn) error {
		_, e, err := snatEntryOf(tx, accountID, tableID, id)
		if err != nil {
			return err
		}
		return tx.Delete(model.PrefixSnatEntry + e.ID)
	})
	return err
}

// SnatEntryQuery selects entries in DescribeSnatTableEntries; SnatTableID
// is required, empty fields match all.
type SnatEntryQuery struct {
	SnatTableID, SnatEntryID, SourceVSwitchID, SourceCIDR string
	SnatIP, Name, NatGatewayID                            string
	NetworkInterfaceIDs                                   []string // no entry has one
}

// DescribeSnatTableEntries lists the entries of a gateway's SNAT table,
// oldest first.
func (s *Service) DescribeSnatTableEntries(ctx context.Context, accountID string, q SnatEntryQuery) ([]model.SnatEntry, error) {
	var src netip.Prefix
	if v := strings.TrimSpace(q.SourceCIDR); v != "" {
		p, err := netip.ParsePrefix(v)
		if err != nil {
			return nil, errs.InvalidParam("InvalidSourceCIDR.Malformed", "The specified SourceCIDR %q is not a CIDR block.", v)
		}
		src = p.Masked()
	}
	var snatIPs []netip.Addr
	if v := strings.TrimSpace(q.SnatIP); v != "" {
		var err error
		if snatIPs, err = parseSnatIPs(v); err != nil {
			return nil, err
		}
	}
	var out []model.SnatEntry
	err := s.view(ctx, func(tx store.ReadTxn) error {
		out = nil
		g, err := natGatewayByTable(tx, accountID, q.SnatTableID, true)
		if err != nil {
			return err
		}
		if q.NatGatewayID != "" && q.NatGatewayID != g.ID || len(q.NetworkInterfaceIDs) > 0 {
			return nil
		}
		entries, err := tableSnatEntries(tx, g)
		for _, e := range entries {
			if q.SnatEntryID != "" && e.ID != q.SnatEntryID || q.SourceVSwitchID != "" && e.SourceVSwitchID != q.SourceVSwitchID ||
				src.IsValid() && e.SourceCIDR != src || q.Name != "" && e.Name != q.Name ||
				len(snatIPs) > 0 && !containsAll(e.SnatIPs, snatIPs) {
				continue
			}
			out = append(out, *e)
		}
		return err
	})
	return out, err
}

func containsAll(have, want []netip.Addr) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

// ---------------------------------------------------------------------------
// Forward entries

// natProtocol reads an IpProtocol.
func natProtocol(v string) (string, error) {
	p, ok := pick(v, model.NatProtoTCP, model.NatProtoUDP, model.NatProtoAny)
	switch {
	case p == "" && ok:
		return "", errs.MissingParameter("IpProtocol")
	case !ok:
		return "", errs.InvalidParam("InvalidProtocal.ValueNotSupported", "The specified IpProtocol %q is not supported: use TCP, UDP or Any (an IP mapping).", v)
	}
	return p, nil
}

// natPort reads an ExternalPort or InternalPort: a port, or Any (0).
func natPort(param, v string) (port uint16, anyPort bool, err error) {
	v = strings.TrimSpace(v)
	code := "Invalid" + param + ".Malformed"
	switch {
	case v == "":
		return 0, false, errs.MissingParameter(param)
	case strings.EqualFold(v, natPortAny):
		return 0, true, nil
	case strings.Contains(v, "/"):
		return 0, false, natUnsupported("PortRange", "%s %q is a port range: forward entries take one port each (or Any with IpProtocol Any); create one entry per port.", param, v)
	}
	n, convErr := strconv.Atoi(v)
	if convErr != nil || n < 1 || n > 65535 {
		return 0, false, errs.InvalidParam(code, "The specified %s %q is not a valid port: give 1-65535 (or Any with IpProtocol Any).", param, v)
	}
	return uint16(n), false, nil
}

// ForwardEntrySpec is the request of CreateForwardEntry, and of
// ModifyForwardEntry where nil fields keep the entry's.
type ForwardEntrySpec struct {
	ExternalIP, ExternalPort, IpProtocol *string
	InternalIP, InternalPort, Name       *string
	PortBreak                            *bool
}

// apply checks x and sets it on f, then checks the whole entry.
func (x ForwardEntrySpec) apply(f *model.ForwardEntry) error {
	if x.IpProtocol != nil {
		p, err := natProtocol(*x.IpProtocol)
		if err != nil {
			return err
		}
		f.IpProtocol = p
	}
	for _, ip := range []struct {
		param string
		v     *string
		dst   *netip.Addr
	}{{"ExternalIp", x.ExternalIP, &f.ExternalIP}, {"InternalIp", x.InternalIP, &f.InternalIP}} {
		if ip.v == nil {
			continue
		}
		v := strings.TrimSpace(*ip.v)
		if v == "" {
			return errs.MissingParameter(ip.param)
		}
		a, err := netip.ParseAddr(v)
		if err != nil || !a.Is4() {
			return errs.InvalidParam("Invalid"+ip.param+".Malformed", "The specified %s %q is not an IPv4 address.", ip.param, v)
		}
		*ip.dst = a
	}
	anyPorts := map[string]bool{}
	for _, pt := range []struct {
		param string
		v     *string
		dst   *uint16
	}{{natExternalPortParam, x.ExternalPort, &f.ExternalPort}, {natInternalPortParam, x.InternalPort, &f.InternalPort}} {
		if pt.v == nil {
			anyPorts[pt.param] = *pt.dst == 0
			continue
		}
		n, anyPort, err := natPort(pt.param, *pt.v)
		if err != nil {
			return err
		}
		*pt.dst, anyPorts[pt.param] = n, anyPort
	}
	if x.Name != nil {
		if err := checkNatText("ForwardEntryName", *x.Name, false); err != nil {
			return err
		}
		f.Name = *x.Name
	}
	if x.PortBreak != nil {
		f.PortBreak = *x.PortBreak
	}
	for _, param := range []string{natExternalPortParam, natInternalPortParam} {
		switch {
		case f.IpProtocol == model.NatProtoAny && !anyPorts[param]:
			return errs.InvalidParam("Invalid"+param+".Malformed",
				"With IpProtocol Any (an IP mapping) every port is forwarded: give %s=Any.", param)
		case f.IpProtocol != model.NatProtoAny && anyPorts[param]:
			return errs.InvalidParam("Invalid"+param+".Malformed",
				"%s Any goes with IpProtocol Any (an IP mapping) only: with %s give one port, 1-65535.", param, f.IpProtocol)
		}
	}
	return nil
}

// tableForwardEntries lists the entries of a gateway's forward table,
// oldest first.
func tableForwardEntries(tx store.ReadTxn, g *model.NatGateway) ([]*model.ForwardEntry, error) {
	var out []*model.ForwardEntry
	err := listJSON(tx, model.PrefixForwardEntry, func(e *model.ForwardEntry) error {
		if e.NatGatewayID == g.ID && e.ForwardTableID == g.ForwardTableID {
			out = append(out, e)
		}
		return nil
	})
	sortByCreation(out, func(e *model.ForwardEntry) (int64, string) { return e.CreatedAt.UnixNano(), e.ID })
	return out, err
}

// checkForwardEntry checks f (new or changed) against g, its VPC and the
// table's other entries.
func checkForwardEntry(tx store.ReadTxn, g *model.NatGateway, f *model.ForwardEntry) error {
	e, err := gatewayEIP(tx, g, f.ExternalIP)
	if err != nil {
		return err
	}
	if e == nil {
		return errs.InvalidParam("InvalidIp.NotInNatgw",
			"ExternalIp %s is not an EIP associated with NAT gateway %s: associate it first (AssociateEipAddress InstanceType=Nat InstanceId=%s).", f.ExternalIP, g.ID, g.ID)
	}
	vsws, err := vpcVSwitches(tx, g.VpcID)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(vsws, func(w *model.VSwitch) bool { return w.CidrBlock.Contains(f.InternalIP) }) {
		return errs.InvalidParam("Forbidden.InternalIpOutOfVpcCIDR",
			"InternalIp %s is not in a vSwitch of VPC %s: forward to an address of the NAT gateway's VPC.", f.InternalIP, g.VpcID)
	}
	if f.IpProtocol == model.NatProtoAny {
		if err := listJSON(tx, model.PrefixSnatEntry, func(s *model.SnatEntry) error {
			if s.NatGatewayID == g.ID && slices.Contains(s.SnatIPs, f.ExternalIP) {
				return errs.InvalidParam("Forbidden.ExternalIp.UsedInSnatTable",
					"ExternalIp %s is an address of SNAT entry %s: an SNAT address cannot be IP-mapped (IpProtocol Any); use another EIP, or a TCP/UDP port.", f.ExternalIP, s.ID)
			}
			return nil
		}); err != nil {
			return err
		}
	}
	entries, err := tableForwardEntries(tx, g)
	if err != nil {
		return err
	}
	n := 0
	for _, o := range entries {
		if o.ID == f.ID {
			continue
		}
		n++
		if o.ExternalIP != f.ExternalIP {
			continue
		}
		switch {
		case o.IpProtocol == model.NatProtoAny || f.IpProtocol == model.NatProtoAny:
			return errs.InvalidParam("InvalidForwardEntry.Duplicated",
				"Forward entry %s already forwards %s (%s): an IP mapping (IpProtocol Any) takes every port of its ExternalIp, so it cannot share the address with another entry.", o.ID, f.ExternalIP, describeForward(o))
		case o.IpProtocol == f.IpProtocol && o.ExternalPort == f.ExternalPort:
			return errs.InvalidParam("InvalidForwardEntry.Duplicated",
				"Forward entry %s already forwards %s %s:%d: give another ExternalPort or ExternalIp, or change that entry.", o.ID, f.IpProtocol, f.ExternalIP, f.ExternalPort)
		}
	}
	if f.ID == "" && n >= ForwardEntriesPerTable {
		return errs.InvalidParam("QuotaExceeded.ForwardEntry", "Forward table %s has %d entries, the most allowed: delete one first.", g.ForwardTableID, n)
	}
	return nil
}

func describeForward(f *model.ForwardEntry) string {
	if f.IpProtocol == model.NatProtoAny {
		return "IP mapping to " + f.InternalIP.String()
	}
	return f.IpProtocol + " port " + strconv.Itoa(int(f.ExternalPort)) + " to " + f.InternalIP.String()
}

// CreateForwardEntryInput is the request of CreateForwardEntry.
type CreateForwardEntryInput struct {
	ForwardTableID string
	ForwardEntrySpec
	ClientToken string
}

// CreateForwardEntry adds a forward (DNAT) entry to a gateway's forward
// table.
func (s *Service) CreateForwardEntry(ctx context.Context, accountID string, in CreateForwardEntryInput) (model.ForwardEntry, error) {
	var out model.ForwardEntry
	if strings.TrimSpace(in.ForwardTableID) == "" {
		return out, errs.MissingParameter(natForwardTableParam)
	}
	x := in.ForwardEntrySpec
	for _, r := range []struct {
		param string
		v     *string
	}{{"ExternalIp", x.ExternalIP}, {natExternalPortParam, x.ExternalPort}, {"IpProtocol", x.IpProtocol}, {"InternalIp", x.InternalIP}, {natInternalPortParam, x.InternalPort}} {
		if r.v == nil || strings.TrimSpace(*r.v) == "" {
			return out, errs.MissingParameter(r.param)
		}
	}
	f := &model.ForwardEntry{Status: model.NatEntryAvailable}
	if err := x.apply(f); err != nil {
		return out, err
	}
	_, err := s.update(ctx, func(tx store.Txn) error {
		_, err := withClientToken(tx, accountID, "CreateForwardEntry", in.ClientToken, in, &out, func() error {
			g, err := natGatewayByTable(tx, accountID, in.ForwardTableID, false)
			if err != nil {
				return err
			}
			e := *f
			e.AccountID, e.NatGatewayID, e.ForwardTableID, e.VpcID = accountID, g.ID, g.ForwardTableID, g.VpcID
			if err := checkForwardEntry(tx, g, &e); err != nil {
				return err
			}
			e.ID, e.CreatedAt = NewID("fwd"), s.stamp()
			out = e
			return putJSON(tx, model.PrefixForwardEntry+e.ID, &e)
		})
		return err
	})
	return out, err
}

// forwardEntryOf reads entry id of table tableID of the caller.
func forwardEntryOf(tx store.ReadTxn, accountID, tableID, id string) (*model.NatGateway, *model.ForwardEntry, error) {
	g, err := natGatewayByTable(tx, accountID, tableID, false)
	if err != nil {
		return nil, nil, err
	}
	id = strings.TrimSpace(id)
	if id == "" {
		return nil, nil, errs.MissingParameter(natForwardEntryParam)
	}
	var e model.ForwardEntry
	if ok, err := getJSON(tx, model.PrefixForwardEntry+id, &e); err != nil {
		return nil, nil, err
	} else if !ok || e.AccountID != accountID || e.ForwardTableID != g.ForwardTableID {
		return nil, nil, errForwardEntryNotFound(id, g.ForwardTableID)
	}
	return g, &e, nil
}

// ModifyForwardEntry changes a forward entry; the changed entry is checked
// as a new one would be.
func (s *Service) ModifyForwardEntry(ctx context.Context, accountID, tableID, id string, x ForwardEntrySpec) error {
	_, err := s.update(ctx, func(tx store.Txn) error {
		g, e, err := forwardEntryOf(tx, accountID, tableID, id)
		if err != nil {
			return err
		}
		if err := x.apply(e); err != nil {
			return err
		}
		if err := checkForwardEntry(tx, g, e); err != nil {
			return err
		}
		return putJSON(tx, model.PrefixForwardEntry+e.ID, e)
	})
	return err
}

// DeleteForwardEntry deletes an entry of a gateway's forward table.
func (s *Service) DeleteForwardEntry(ctx context.Context, accountID, tableID, id string) error {
	_, err := s.update(ctx, func(tx store.Txn) error {
		_, e, err := forwardEntryOf(tx, accountID, tableID, id)
		if err != nil {
			return err
		}
		return tx.Delete(model.PrefixForwardEntry + e.ID)
	})
	return err
}

// ForwardEntryQuery selects entries in DescribeForwardTableEntries;
// ForwardTableID is required, empty fields match all.
type ForwardEntryQuery struct {
	ForwardTableID, ForwardEntryID, ExternalIP, ExternalPort string
	InternalIP, InternalPort, IpProtocol, Name, NatGatewayID string
}

// DescribeForwardTableEntries lists the entries of a gateway's forward
// table, oldest first.
func (s *Service) DescribeForwardTableEntries(ctx context.Context, accountID string, q ForwardEntryQuery) ([]model.ForwardEntry, error) {
	proto := ""
	if strings.TrimSpace(q.IpProtocol) != "" {
		var err error
		if proto, err = natProtocol(q.IpProtocol); err != nil {
			return nil, err
		}
	}
	port := func(param, v string) (*uint16, error) {
		if strings.TrimSpace(v) == "" {
			return nil, nil
		}
		n, _, err := natPort(param, v)
		return &n, err
	}
	extPort, err := port(natExternalPortParam, q.ExternalPort)
	if err != nil {
		return nil, err
	}
	intPort, err := port(natInternalPortParam, q.InternalPort)
	if err != nil {
		return nil, err
	}
	var out []model.ForwardEntry
	err = s.view(ctx, func(tx store.ReadTxn) error {
		out = nil
		g, err := natGatewayByTable(tx, accountID, q.ForwardTableID, false)
		if err != nil {
			return err
		}
		if q.NatGatewayID != "" && q.NatGatewayID != g.ID {
			return nil
		}
		entries, err := tableForwardEntries(tx, g)
		for _, e := range entries {
			if q.ForwardEntryID != "" && e.ID != q.ForwardEntryID || q.ExternalIP != "" && e.ExternalIP.String() != strings.TrimSpace(q.ExternalIP) ||
				q.InternalIP != "" && e.InternalIP.String() != strings.TrimSpace(q.InternalIP) || proto != "" && e.IpProtocol != proto ||
				extPort != nil && e.ExternalPort != *extPort || intPort != nil && e.InternalPort != *intPort || q.Name != "" && e.Name != q.Name {
				continue
			}
			out = append(out, *e)
		}
		return err
	})
	return out, err
}

// NatPortString is a forward entry's port as the API shows it ("Any" for
// an IP mapping).
func NatPortString(proto string, port uint16) string {
	if proto == model.NatProtoAny {
		return natPortAny
	}
	return strconv.Itoa(int(port))
}
