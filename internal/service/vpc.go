package service

import (
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"net/netip"
	"slices"
	"sort"
	"strings"

	"github.com/palisade-project/palisade/internal/errs"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/store"
)

// errDryRun aborts a transaction after every check passed; the API turns it
// into DryRunOperation. Returning an error from the update function is what
// guarantees that nothing of a dry run is written.
var errDryRun = errs.New(http.StatusBadRequest, "DryRunOperation",
	"Request validation has been passed with DryRun flag set.")

// ErrDryRun reports whether err is the dry-run success answer.
func ErrDryRun(err error) bool { return errors.Is(err, errDryRun) }

// forbiddenVpcRanges may not overlap a VPC CIDR (SEMANTICS.md Part A).
var forbiddenVpcRanges = [...]netip.Prefix{
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("224.0.0.0/4"),
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("0.0.0.0/8"),
}

// defaultVpcCidr is used when CreateVpc has no CidrBlock, as in the cloud.
var defaultVpcCidr = netip.MustParsePrefix("172.16.0.0/12")

func errVpcNotFound(id string) *errs.Error {
	return errs.NotFound("InvalidVpcId.NotFound", "The specified VpcId %q does not exist.", id)
}

func errVSwitchNotFound(id string) *errs.Error {
	return errs.NotFound("InvalidVSwitchId.NotFound", "The specified VSwitchId %q does not exist.", id)
}

// parseVpcCidr validates a VPC (primary or secondary) IPv4 CIDR.
func parseVpcCidr(param, v string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(v)
	if err != nil || !p.Addr().Is4() || p.Masked() != p {
		return netip.Prefix{}, errs.InvalidParam("InvalidCidrBlock.Malformed",
			"The specified %s %q is not a valid IPv4 network in CIDR notation (for example 192.168.0.0/16, host bits zero).", param, v)
	}
	if p.Bits() < 8 || p.Bits() > 28 {
		return netip.Prefix{}, errs.InvalidParam("InvalidCidrBlock.Malformed",
			"The specified %s %q has a mask of /%d; a VPC CIDR block must be between /8 and /28.", param, v, p.Bits())
	}
	for _, f := range forbiddenVpcRanges {
		if f.Overlaps(p) {
			return netip.Prefix{}, errs.InvalidParam("InvalidCidrBlock.Malformed",
				"The specified %s %q overlaps the reserved range %s; choose a private range such as 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16.", param, v, f)
		}
	}
	return p, nil
}

// checkOutsidePublicPool refuses a VPC or vSwitch CIDR that overlaps the
// public address pool: its addresses are the EIPs of every account, so a
// private network over them would shadow (or be shadowed by) the public
// addresses. Same code as the other reserved ranges.
func (s *Service) checkOutsidePublicPool(param string, p netip.Prefix) error {
	if pool := s.publicPool(); pool.Overlaps(p) {
		return errs.InvalidParam("InvalidCidrBlock.Malformed",
			"The specified %s %s overlaps the public address pool %s of this deployment (its elastic IP addresses); choose a private range such as 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16 outside it.",
			param, p, pool)
	}
	return nil
}

func validateName(code, param, name string) error {
	if name == "" {
		return nil
	}
	if len(name) > 128 || strings.HasPrefix(name, "http://") || strings.HasPrefix(name, "https://") {
		return errs.InvalidParam(code,
			"The specified %s %q is not valid: use 1-128 characters, not starting with http:// or https://.", param, name)
	}
	return nil
}

// newULA56 returns a random IPv6 /56 in fd00::/8 (unique local addresses).
func newULA56() netip.Prefix {
	var b [16]byte
	if _, err := rand.Read(b[1:7]); err != nil {
		panic("crypto/rand: " + err.Error())
	}
	b[0] = 0xfd
	b[6] = 0
	return netip.PrefixFrom(netip.AddrFrom16(b), 56)
}

// getVPC reads a VPC of the account.
func getVPC(tx store.ReadTxn, accountID, id string) (*model.VPC, error) {
	return getOwned(tx, model.PrefixVPC, "VpcId", accountID, id, func(v *model.VPC) string { return v.AccountID }, errVpcNotFound)
}

// getVSwitch reads a vSwitch of the account.
func getVSwitch(tx store.ReadTxn, accountID, id string) (*model.VSwitch, error) {
	return getOwned(tx, model.PrefixVSwitch, "VSwitchId", accountID, id, func(v *model.VSwitch) string { return v.AccountID }, errVSwitchNotFound)
}

// vpcVSwitches lists the vSwitches of a VPC, sorted by ID.
func vpcVSwitches(tx store.ReadTxn, vpcID string) ([]*model.VSwitch, error) {
	var out []*model.VSwitch
	err := listJSON(tx, model.PrefixVSwitch, func(v *model.VSwitch) error {
		if v.VpcID == vpcID {
			out = append(out, v)
		}
		return nil
	})
	return out, err
}

// usedAddrs counts the addresses allocated in a vSwitch.
func usedAddrs(tx store.ReadTxn, vswID string) (int, error) {
	n := 0
	err := tx.List(model.PrefixIPAM+vswID+"/", func(string, []byte) error { n++; return nil })
	return n, err
}

// CreateVpcInput is the request of CreateVpc.
type CreateVpcInput struct {
	CidrBlock     string
	Name          string
	Description   string
	EnableIPv6    bool
	ResourceGroup string
	Tags          []model.Tag
	ClientToken   string
	DryRun        bool
}

// CreateVpcResult is the answer of CreateVpc.
type CreateVpcResult struct {
	VpcID, VRouterID, RouteTableID, ResourceGroupID string
}

// CreateVpc creates a VPC.
func (s *Service) CreateVpc(ctx context.Context, accountID string, in CreateVpcInput) (CreateVpcResult, error) {
	var res CreateVpcResult
	cidr := defaultVpcCidr
	if in.CidrBlock != "" {
		var err error
		if cidr, err = parseVpcCidr("CidrBlock", in.CidrBlock); err != nil {
			return res, err
		}
	}
	if err := s.checkOutsidePublicPool("CidrBlock", cidr); err != nil {
		return res, err
	}
	if err := validateName("InvalidVpcName.Malformed", "VpcName", in.Name); err != nil {
		return res, err
	}
	if err := validateDescription(in.Description); err != nil {
		return res, err
	}
	_, err := s.update(ctx, func(tx store.Txn) error {
		_, err := withClientToken(tx, accountID, "CreateVpc", in.ClientToken, in, &res, func() error {
			n := 0
			if err := listJSON(tx, model.PrefixVPC, func(v *model.VPC) error {
				if v.AccountID == accountID {
					n++
				}
				return nil
			}); err != nil {
				return err
			}
			if n >= s.cfg.Quotas.VpcsPerAccount {
				return errs.Quota("QuotaExceeded.Vpc",
					"The account already has %d VPCs, the maximum; delete an unused VPC first.", n)
			}
			if in.DryRun {
				return errDryRun
			}
			v := model.VPC{
				ID: NewID("vpc"), AccountID: accountID, Name: in.Name, Description: in.Description,
				CidrBlock: cidr, Status: "Available", VRouterID: NewID("vrt"), RouteTableID: NewID("vtb"),
				ResourceGroup: in.ResourceGroup, Tags: in.Tags, CreatedAt: s.stamp(),
			}
			if in.EnableIPv6 {
				v.Ipv6CidrBlock = newULA56()
			}
			vni, err := allocVNI(tx)
			if err != nil {
				return err
			}
			v.VNI = vni
			res = CreateVpcResult{VpcID: v.ID, VRouterID: v.VRouterID, RouteTableID: v.RouteTableID, ResourceGroupID: v.ResourceGroup}
			return putJSON(tx, model.PrefixVPC+v.ID, &v)
		})
		return err
	})
	return res, err
}

// VpcView is a VPC with its vSwitches and NAT gateways.
type VpcView struct {
	model.VPC
	VSwitchIDs    []string
	NatGatewayIDs []string
}

// VpcFilter selects VPCs in DescribeVpcs.
type VpcFilter struct {
	IDs           []string
	Name          string
	IsDefault     *bool
	ResourceGroup string
	Tags          []model.Tag
}

// DescribeVpcs lists the account's VPCs, oldest first.
func (s *Service) DescribeVpcs(ctx context.Context, accountID string, f VpcFilter) ([]VpcView, error) {
	var out []VpcView
	err := s.view(ctx, func(tx store.ReadTxn) error {
		out = nil
		// One pass over the vSwitches for all VPCs, not one per VPC.
		byVPC := map[string][]string{}
		if err := listJSON(tx, model.PrefixVSwitch, func(w *model.VSwitch) error {
			if w.AccountID == accountID {
				byVPC[w.VpcID] = append(byVPC[w.VpcID], w.ID)
			}
			return nil
		}); err != nil {
			return err
		}
		nats := map[string][]*model.NatGateway{}
		if err := listJSON(tx, model.PrefixNatGateway, func(g *model.NatGateway) error {
			if g.AccountID == accountID {
				nats[g.VpcID] = append(nats[g.VpcID], g)
			}
			return nil
		}); err != nil {
			return err
		}
		return listJSON(tx, model.PrefixVPC, func(v *model.VPC) error {
			if v.AccountID != accountID ||
				(len(f.IDs) > 0 && !slices.Contains(f.IDs, v.ID)) ||
				(f.Name != "" && v.Name != f.Name) ||
				(f.IsDefault != nil && v.IsDefault != *f.IsDefault) ||
				(f.ResourceGroup != "" && v.ResourceGroup != f.ResourceGroup) ||
				!hasTags(v.Tags, f.Tags) {
				return nil
			}
			gs := nats[v.ID]
			sortByCreation(gs, func(g *model.NatGateway) (int64, string) { return g.CreatedAt.UnixNano(), g.ID })
			ngws := make([]string, 0, len(gs))
			for _, g := range gs {
				ngws = append(ngws, g.ID)
			}
			out = append(out, VpcView{VPC: *v, VSwitchIDs: append([]string{}, byVPC[v.ID]...), NatGatewayIDs: ngws})
			return nil
		})
	})
	sortByCreation(out, func(v VpcView) (int64, string) { return v.CreatedAt.UnixNano(), v.ID })
	return out, err
}

func vpcView(tx store.ReadTxn, v *model.VPC) (VpcView, error) {
	vsws, err := vpcVSwitches(tx, v.ID)
	if err != nil {
		return VpcView{}, err
	}
	view := VpcView{VPC: *v, VSwitchIDs: []string{}}
	for _, w := range vsws {
		view.VSwitchIDs = append(view.VSwitchIDs, w.ID)
	}
	view.NatGatewayIDs, err = vpcNatGateways(tx, v.ID)
	return view, err
}

// DescribeVpcAttribute returns one VPC.
func (s *Service) DescribeVpcAttribute(ctx context.Context, accountID, id string) (VpcView, error) {
	var out VpcView
	err := s.view(ctx, func(tx store.ReadTxn) error {
		v, err := getVPC(tx, accountID, id)
		if err != nil {
			return err
		}
		out, err = vpcView(tx, v)
		return err
	})
	return out, err
}

// ModifyVpcInput holds the changes of ModifyVpcAttribute; nil leaves a field.
type ModifyVpcInput struct {
	Name, Description, CidrBlock *string
	EnableIPv6                   *bool
}

// ModifyVpcAttribute renames a VPC, changes its description or enables IPv6.
// The primary CIDR is immutable (SEMANTICS.md Part A).
func (s *Service) ModifyVpcAttribute(ctx context.Context, accountID, id string, in ModifyVpcInput) error {
	if in.Name != nil {
		if err := validateName("InvalidVpcName.Malformed", "VpcName", *in.Name); err != nil {
			return err
		}
	}
	if in.Description != nil {
		if err := validateDescription(*in.Description); err != nil {
			return err
		}
	}
	_, err := s.update(ctx, func(tx store.Txn) error {
		v, err := getVPC(tx, accountID, id)
		if err != nil {
			return err
		}
		if in.CidrBlock != nil && *in.CidrBlock != "" && *in.CidrBlock != v.CidrBlock.String() {
			return errs.InvalidParam("OperationUnsupported.ModifyCidrBlock",
				"The primary CIDR block of VPC %s (%s) cannot be changed; add a secondary CIDR block with AssociateVpcCidrBlock instead.", id, v.CidrBlock)
		}
		if in.Name != nil {
			v.Name = *in.Name
		}
		if in.Description != nil {
			v.Description = *in.Description
		}
		if in.EnableIPv6 != nil && *in.EnableIPv6 && !v.Ipv6CidrBlock.IsValid() {
			v.Ipv6CidrBlock = newULA56()
		}
		return putJSON(tx, model.PrefixVPC+v.ID, v)
	})
	return err
}

// AssociateVpcCidrBlock adds a secondary IPv4 CIDR, or an IPv6 /56 when
// ipv6 is true and the VPC has none.
func (s *Service) AssociateVpcCidrBlock(ctx context.Context, accountID, id, secondary string, ipv6 bool) error {
	if secondary == "" && !ipv6 {
		return errs.MissingParameter("SecondaryCidrBlock")
	}
	var cidr netip.Prefix
	if secondary != "" {
		var err error
		if cidr, err = parseVpcCidr("SecondaryCidrBlock", secondary); err != nil {
			return err
		}
		if err := s.checkOutsidePublicPool("SecondaryCidrBlock", cidr); err != nil {
			return err
		}
	}
	_, err := s.update(ctx, func(tx store.Txn) error {
		v, err := getVPC(tx, accountID, id)
		if err != nil {
			return err
		}
		if ipv6 && secondary == "" {
			if v.Ipv6CidrBlock.IsValid() {
				return errs.InvalidParam("QuotaExceeded.Ipv6CidrBlock",
					"VPC %s already has the IPv6 CIDR block %s.", id, v.Ipv6CidrBlock)
			}
			v.Ipv6CidrBlock = newULA56()
			return putJSON(tx, model.PrefixVPC+v.ID, v)
		}
		if len(v.SecondaryCidrs) >= s.cfg.Quotas.SecondaryCidrsPerVpc {
			return errs.Quota("QuotaExceeded.SecondaryCidrBlock",
				"VPC %s already has %d secondary CIDR blocks, the maximum.", id, len(v.SecondaryCidrs))
		}
		for _, c := range append([]netip.Prefix{v.CidrBlock}, v.SecondaryCidrs...) {
			if c.Overlaps(cidr) {
				return errs.Conflict("InvalidCidrBlock.Overlapped",
					"The secondary CIDR block %s overlaps CIDR block %s of VPC %s.", cidr, c, id)
			}
		}
		v.SecondaryCidrs = append(v.SecondaryCidrs, cidr)
		return putJSON(tx, model.PrefixVPC+v.ID, v)
	})
	return err
}

// UnassociateVpcCidrBlock removes a secondary IPv4 CIDR that no vSwitch uses.
func (s *Service) UnassociateVpcCidrBlock(ctx context.Context, accountID, id, secondary string) error {
	if secondary == "" {
		return errs.MissingParameter("SecondaryCidrBlock")
	}
	cidr, err := netip.ParsePrefix(secondary)
	if err != nil {
		return errs.InvalidParam("InvalidCidrBlock.Malformed", "The specified SecondaryCidrBlock %q is not a CIDR block.", secondary)
	}
	_, err = s.update(ctx, func(tx store.Txn) error {
		v, err := getVPC(tx, accountID, id)
		if err != nil {
			return err
		}
		i := slices.Index(v.SecondaryCidrs, cidr)
		if i < 0 {
			return errs.NotFound("InvalidCidrBlock.NotFound", "VPC %s has no secondary CIDR block %s.", id, cidr)
		}
		vsws, err := vpcVSwitches(tx, id)
		if err != nil {
			return err
		}
		for _, w := range vsws {
			if cidr.Overlaps(w.CidrBlock) {
				return errs.DependencyViolation("vSwitch %s (%s) uses the CIDR block %s; delete it first.", w.ID, w.CidrBlock, cidr)
			}
		}
		v.SecondaryCidrs = slices.Delete(v.SecondaryCidrs, i, i+1)
		return putJSON(tx, model.PrefixVPC+v.ID, v)
	})
	return err
}

// DeleteVpc deletes a VPC that holds no vSwitch and no security group other
// than its default one. With force, empty vSwitches and security groups
// without members are deleted with it.
func (s *Service) DeleteVpc(ctx context.Context, accountID, id string, force, dryRun bool) error {
	_, err := s.update(ctx, func(tx store.Txn) error {
		v, err := getVPC(tx, accountID, id)
		if err != nil {
			return err
		}
		// Even with ForceDelete: a peering joins another VPC, maybe of
		// another account (peering.go).
		if err := refuseVpcPeers(tx, id); err != nil {
			return err
		}
		// Even with ForceDelete: a load balancer holds an address of one
		// of its vSwitches (slb.go).
		if err := refuseLoadBalancersIn(tx, id, ""); err != nil {
			return err
		}
		// Even with ForceDelete: a NAT gateway holds EIPs and routes
		// (nat.go).
		if err := refuseNatGatewaysIn(tx, id, ""); err != nil {
			return err
		}
		vsws, err := vpcVSwitches(tx, id)
		if err != nil {
			return err
		}
		for _, w := range vsws {
			if !force {
				return errs.DependencyViolation("VPC %s still has vSwitch %s; delete its vSwitches first (or pass ForceDelete=true).", id, w.ID)
			}
			if n, err := usedAddrs(tx, w.ID); err != nil {
				return err
			} else if n > 0 {
				return errs.DependencyViolation("vSwitch %s of VPC %s still has %d network interfaces; delete them first.", w.ID, id, n)
			}
		}
		var groups []*model.SecurityGroup
		if err := listJSON(tx, model.PrefixSecurityGroup, func(g *model.SecurityGroup) error {
			if g.VpcID == id {
				groups = append(groups, g)
			}
			return nil
		}); err != nil {
			return err
		}
		for _, g := range groups {
			if !g.IsDefault && !force {
				return errs.DependencyViolation("VPC %s still has security group %s; delete it first (or pass ForceDelete=true).", id, g.ID)
			}
			members, err := groupMemberENIs(tx, g.ID)
			if err != nil {
				return err
			}
			if len(members) > 0 {
				return errs.DependencyViolation("Security group %s of VPC %s still has %d network interfaces.", g.ID, id, len(members))
			}
		}
		var acls []string
		if err := listJSON(tx, model.PrefixNetworkACL, func(a *model.NetworkACL) error {
			if a.VpcID == id {
				acls = append(acls, a.ID)
			}
			return nil
		}); err != nil {
			return err
		}
		if len(acls) > 0 && !force {
			return errs.DependencyViolation("VPC %s still has network ACL %s; delete it first (or pass ForceDelete=true).", id, acls[0])
		}
		// Flow logs on the VPC or its vSwitches: refused, or deleted with
		// ForceDelete (see flowlog.go).
		covered := []string{id}
		for _, w := range vsws {
			covered = append(covered, w.ID)
		}
		if !force {
			if err := refuseFlowLogsOn(tx, " (or pass ForceDelete=true)", covered...); err != nil {
				return err
			}
		}
		if dryRun {
			return errDryRun
		}
		if err := deleteFlowLogsOn(tx, s.stamp(), covered...); err != nil {
			return err
		}
		for _, a := range acls {
			if err := tx.Delete(model.PrefixNetworkACL + a); err != nil {
				return err
			}
		}
		for _, w := range vsws {
			if err := tx.Delete(model.PrefixVSwitch + w.ID); err != nil {
				return err
			}
		}
		for _, g := range groups {
			if err := tx.Delete(model.PrefixSecurityGroup + g.ID); err != nil {
				return err
			}
		}
		return tx.Delete(model.PrefixVPC + v.ID)
	})
	return err
}

// Zones returns the zones of the region: the default zone and every zone
// an agent has registered, sorted.
func (s *Service) Zones(ctx context.Context) ([]string, error) {
	zones := []string{s.DefaultZone()}
	err := s.view(ctx, func(tx store.ReadTxn) error {
		return listJSON(tx, model.PrefixZoneStatus, func(z *model.ZoneStatus) error {
			if !slices.Contains(zones, z.ZoneID) {
				zones = append(zones, z.ZoneID)
			}
			return nil
		})
	})
	sort.Strings(zones)
	return zones, err
}

func (s *Service) checkZone(tx store.ReadTxn, zone string) error {
	if zone == s.DefaultZone() {
		return nil
	}
	if _, ok, err := tx.Get(model.PrefixZoneStatus + zone); err != nil {
		return err
	} else if ok {
		return nil
	}
	return errs.InvalidParam("InvalidZoneId.NotFound",
		"The specified ZoneId %q does not exist in region %s; call DescribeZones for the zones (the default is %s).", zone, s.cfg.Region, s.DefaultZone())
}

// CreateVSwitchInput is the request of CreateVSwitch.
type CreateVSwitchInput struct {
	VpcID, ZoneID, CidrBlock, Name, Description string
	// Ipv6Index is the /64 index (0-255) in the VPC's IPv6 /56; nil: no IPv6.
	Ipv6Index   *int
	Tags        []model.Tag
	ClientToken string
}

func parseVSwitchCidr(v string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(v)
	if err != nil || !p.Addr().Is4() || p.Masked() != p {
		return netip.Prefix{}, errs.InvalidParam("InvalidCidrBlock.Malformed",
			"The specified CidrBlock %q is not a valid IPv4 network in CIDR notation (for example 192.168.1.0/24, host bits zero).", v)
	}
	if p.Bits() < 16 || p.Bits() > 29 {
		return netip.Prefix{}, errs.InvalidParam("InvalidCidrBlock.Malformed",
			"The specified CidrBlock %q has a mask of /%d; a vSwitch CIDR block must be between /16 and /29.", v, p.Bits())
	}
	return p, nil
}

func prefixContains(outer, inner netip.Prefix) bool {
	return outer.Bits() <= inner.Bits() && outer.Contains(inner.Addr())
}

// CreateVSwitch creates a vSwitch in a VPC.
func (s *Service) CreateVSwitch(ctx context.Context, accountID string, in CreateVSwitchInput) (string, error) {
	if in.VpcID == "" {
		return "", errs.MissingParameter("VpcId")
	}
	if in.ZoneID == "" {
		return "", errs.MissingParameter("ZoneId")
	}
	if in.CidrBlock == "" {
		return "", errs.MissingParameter("CidrBlock")
	}
	cidr, err := parseVSwitchCidr(in.CidrBlock)
	if err != nil {
		return "", err
	}
	// VPCs made before the check, or before the pool was moved, may
	// overlap it: their new vSwitches may not.
	if err := s.checkOutsidePublicPool("CidrBlock", cidr); err != nil {
		return "", err
	}
	if err := validateName("InvalidVSwitchName.Malformed", "VSwitchName", in.Name); err != nil {
		return "", err
	}
	if err := validateDescription(in.Description); err != nil {
		return "", err
	}
	if in.Ipv6Index != nil && (*in.Ipv6Index < 0 || *in.Ipv6Index > 255) {
		return "", errs.InvalidParameter("Ipv6CidrBlock", "must be an integer from 0 to 255 (the /64 index in the VPC's IPv6 /56), got %d", *in.Ipv6Index)
	}
	var id string
	_, err = s.update(ctx, func(tx store.Txn) error {
		_, err := withClientToken(tx, accountID, "CreateVSwitch", in.ClientToken, in, &id, func() error {
			v, err := getVPC(tx, accountID, in.VpcID)
			if err != nil {
				return err
			}
			if err := s.checkZone(tx, in.ZoneID); err != nil {
				return err
			}
			inside := false
			for _, c := range append([]netip.Prefix{v.CidrBlock}, v.SecondaryCidrs...) {
				inside = inside || prefixContains(c, cidr)
			}
			if !inside {
				return errs.InvalidParameter("CidrBlock", "%s is not inside a CIDR block of VPC %s (%s)", cidr, v.ID, v.CidrBlock)
			}
			vsws, err := vpcVSwitches(tx, v.ID)
			if err != nil {
				return err
			}
			if len(vsws) >= s.cfg.Quotas.VSwitchesPerVpc {
				return errs.New(http.StatusBadRequest, "QuotaExceeded.VSwitch",
					"VPC %s already has %d vSwitches, the maximum.", v.ID, len(vsws))
			}
			var v6 netip.Prefix
			if in.Ipv6Index != nil {
				if !v.Ipv6CidrBlock.IsValid() {
					return errs.InvalidParam("OperationFailed.VpcNotEnabledIpv6",
						"VPC %s has no IPv6 CIDR block; enable IPv6 on the VPC first (ModifyVpcAttribute EnableIPv6=true).", v.ID)
				}
				b := v.Ipv6CidrBlock.Addr().As16()
				b[7] = byte(*in.Ipv6Index)
				v6 = netip.PrefixFrom(netip.AddrFrom16(b), 64)
			}
			for _, w := range vsws {
				if w.CidrBlock.Overlaps(cidr) {
					return errs.Conflict("InvalidCidrBlock.Overlapped",
						"The CIDR block %s overlaps vSwitch %s (%s).", cidr, w.ID, w.CidrBlock)
				}
				if v6.IsValid() && w.Ipv6CidrBlock == v6 {
					return errs.Conflict("InvalidIpv6CidrBlock.Overlapped",
						"The IPv6 CIDR block %s is already used by vSwitch %s.", v6, w.ID)
				}
			}
			w := model.VSwitch{
				ID: NewID("vsw"), AccountID: accountID, VpcID: v.ID, ZoneID: in.ZoneID,
				Name: in.Name, Description: in.Description, CidrBlock: cidr, Ipv6CidrBlock: v6,
				Status: "Available", Tags: in.Tags, CreatedAt: s.stamp(),
			}
			id = w.ID
			return putJSON(tx, model.PrefixVSwitch+w.ID, &w)
		})
		return err
	})
	return id, err
}

// VSwitchView is a vSwitch with its free address count.
type VSwitchView struct {
	model.VSwitch
	AvailableIPs int
	RouteTableID string
	VRouterID    string
}

// VSwitchFilter selects vSwitches in DescribeVSwitches.
type VSwitchFilter struct {
	VpcID, ZoneID, Name, RouteTableID string
	IDs                               []string
	Tags                              []model.Tag
}

func vswitchView(tx store.ReadTxn, w *model.VSwitch) (VSwitchView, error) {
	used, err := usedAddrs(tx, w.ID)
	if err != nil {
		return VSwitchView{}, err
	}
	view := VSwitchView{VSwitch: *w, AvailableIPs: model.UsableAddrs(w.CidrBlock) - used}
	var v model.VPC
	if _, err := getJSON(tx, model.PrefixVPC+w.VpcID, &v); err != nil {
		return view, err
	}
	view.RouteTableID, view.VRouterID = v.RouteTableID, v.VRouterID
	return view, nil
}

// DescribeVSwitches lists the account's vSwitches, oldest first.
func (s *Service) DescribeVSwitches(ctx context.Context, accountID string, f VSwitchFilter) ([]VSwitchView, error) {
	var out []VSwitchView
	err := s.view(ctx, func(tx store.ReadTxn) error {
		out = nil
		return listJSON(tx, model.PrefixVSwitch, func(w *model.VSwitch) error {
			if w.AccountID != accountID ||
				(f.VpcID != "" && w.VpcID != f.VpcID) ||
				(f.ZoneID != "" && w.ZoneID != f.ZoneID) ||
				(f.Name != "" && w.Name != f.Name) ||
				(len(f.IDs) > 0 && !slices.Contains(f.IDs, w.ID)) ||
				!hasTags(w.Tags, f.Tags) {
				return nil
			}
			view, err := vswitchView(tx, w)
			if err != nil {
				return err
			}
			if f.RouteTableID != "" && view.RouteTableID != f.RouteTableID {
				return nil
			}
			out = append(out, view)
			return nil
		})
	})
	sortByCreation(out, func(v VSwitchView) (int64, string) { return v.CreatedAt.UnixNano(), v.ID })
	return out, err
}

// DescribeVSwitchAttributes returns one vSwitch.
func (s *Service) DescribeVSwitchAttributes(ctx context.Context, accountID, id string) (VSwitchView, error) {
	var out VSwitchView
	err := s.view(ctx, func(tx store.ReadTxn) error {
		w, err := getVSwitch(tx, accountID, id)
		if err != nil {
			return err
		}
		out, err = vswitchView(tx, w)
		return err
	})
	return out, err
}

// ModifyVSwitchAttribute renames a vSwitch or changes its description.
func (s *Service) ModifyVSwitchAttribute(ctx context.Context, accountID, id string, name, description *string) error {
	if name != nil {
		if err := validateName("InvalidVSwitchName.Malformed", "VSwitchName", *name); err != nil {
			return err
		}
	}
	if description != nil {
		if err := validateDescription(*description); err != nil {
			return err
		}
	}
	_, err := s.update(ctx, func(tx store.Txn) error {
		w, err := getVSwitch(tx, accountID, id)
		if err != nil {
			return err
		}
		if name != nil {
			w.Name = *name
		}
		if description != nil {
			w.Description = *description
		}
		return putJSON(tx, model.PrefixVSwitch+w.ID, w)
	})
	return err
}

// DeleteVSwitch deletes a vSwitch that holds no network interface.
func (s *Service) DeleteVSwitch(ctx context.Context, accountID, id string) error {
	_, err := s.update(ctx, func(tx store.Txn) error {
		w, err := getVSwitch(tx, accountID, id)
		if err != nil {
			return err
		}
		if err := refuseLoadBalancersIn(tx, "", w.ID); err != nil {
			return err
		}
		if err := refuseNatGatewaysIn(tx, "", w.ID); err != nil {
			return err
		}
		if n, err := usedAddrs(tx, w.ID); err != nil {
			return err
		} else if n > 0 {
			return errs.DependencyViolation("vSwitch %s still has %d allocated private IP addresses (instances or network interfaces); delete them first.", id, n)
		}
		if w.NetworkAclID != "" {
			return errs.DependencyViolation("vSwitch %s is associated with network ACL %s; unassociate it first.", id, w.NetworkAclID)
		}
		if err := refuseFlowLogsOn(tx, "", w.ID); err != nil {
			return err
		}
		return tx.Delete(model.PrefixVSwitch + w.ID)
	})
	return err
}
