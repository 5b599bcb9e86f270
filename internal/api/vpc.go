package api

import (
	"context"
	"strconv"

	"github.com/palisade-project/palisade/internal/errs"
	"github.com/palisade-project/palisade/internal/service"
)

// Response shapes of the VPC actions; field names are those of
// github.com/aliyun/alibaba-cloud-sdk-go/services/vpc.

type ipv6CidrItem struct {
	Ipv6CidrBlock string
	Ipv6Isp       string
}

type vpcItem struct {
	VpcId               string
	RegionId            string
	Status              string
	VpcName             string
	CreationTime        string
	CidrBlock           string
	Ipv6CidrBlock       string
	EnabledIpv6         bool
	VRouterId           string
	Description         string
	IsDefault           bool
	OwnerId             int64
	ResourceGroupId     string
	NetworkAclNum       string
	VSwitchIds          struct{ VSwitchId []string }
	SecondaryCidrBlocks struct {
		SecondaryCidrBlock []string
	}
	UserCidrs      struct{ UserCidr []string }
	RouterTableIds struct{ RouterTableIds []string }
	NatGatewayIds  struct{ NatGatewayIds []string }
	Ipv6CidrBlocks struct{ Ipv6CidrBlock []ipv6CidrItem }
	Tags           tagsWrapper
}

type routeTableItem struct {
	RouteTableId   string
	RouteTableType string
	VRouterId      string
}

type vswitchItem struct {
	VSwitchId               string
	VpcId                   string
	Status                  string
	CreationTime            string
	IsDefault               bool
	AvailableIpAddressCount int64
	NetworkAclId            string
	OwnerId                 int64
	CidrBlock               string
	Description             string
	ResourceGroupId         string
	ZoneId                  string
	Ipv6CidrBlock           string
	EnabledIpv6             bool
	VSwitchName             string
	ShareType               string
	RouteTable              routeTableItem
	Tags                    tagsWrapper
}

func ownerID(accountID string) int64 {
	n, _ := strconv.ParseInt(accountID, 10, 64)
	return n
}

func prefixString(p interface {
	IsValid() bool
	String() string
}) string {
	if !p.IsValid() {
		return ""
	}
	return p.String()
}

func toVpcItem(region string, v service.VpcView) vpcItem {
	it := vpcItem{
		VpcId: v.ID, RegionId: region, Status: v.Status, VpcName: v.Name,
		CreationTime: formatTime(v.CreatedAt), CidrBlock: v.CidrBlock.String(),
		Ipv6CidrBlock: prefixString(v.Ipv6CidrBlock), EnabledIpv6: v.Ipv6CidrBlock.IsValid(),
		VRouterId: v.VRouterID, Description: v.Description, IsDefault: v.IsDefault,
		OwnerId: ownerID(v.AccountID), ResourceGroupId: v.ResourceGroup, NetworkAclNum: "0",
		Tags: toTags(v.Tags),
	}
	it.VSwitchIds.VSwitchId = v.VSwitchIDs
	it.SecondaryCidrBlocks.SecondaryCidrBlock = []string{}
	for _, c := range v.SecondaryCidrs {
		it.SecondaryCidrBlocks.SecondaryCidrBlock = append(it.SecondaryCidrBlocks.SecondaryCidrBlock, c.String())
	}
	it.UserCidrs.UserCidr = []string{}
	it.RouterTableIds.RouterTableIds = []string{v.RouteTableID}
	it.NatGatewayIds.NatGatewayIds = append([]string{}, v.NatGatewayIDs...)
	it.Ipv6CidrBlocks.Ipv6CidrBlock = []ipv6CidrItem{}
	if v.Ipv6CidrBlock.IsValid() {
		it.Ipv6CidrBlocks.Ipv6CidrBlock = append(it.Ipv6CidrBlocks.Ipv6CidrBlock,
			ipv6CidrItem{Ipv6CidrBlock: v.Ipv6CidrBlock.String(), Ipv6Isp: "BGP"})
	}
	return it
}

func toVSwitchItem(w service.VSwitchView) vswitchItem {
	return vswitchItem{
		VSwitchId: w.ID, VpcId: w.VpcID, Status: w.Status, CreationTime: formatTime(w.CreatedAt),
		AvailableIpAddressCount: int64(w.AvailableIPs), NetworkAclId: w.NetworkAclID,
		OwnerId: ownerID(w.AccountID), CidrBlock: w.CidrBlock.String(), Description: w.Description,
		ZoneId: w.ZoneID, Ipv6CidrBlock: prefixString(w.Ipv6CidrBlock), EnabledIpv6: w.Ipv6CidrBlock.IsValid(),
		VSwitchName: w.Name, RouteTable: routeTableItem{RouteTableId: w.RouteTableID, RouteTableType: "System", VRouterId: w.VRouterID},
		Tags: toTags(w.Tags),
	}
}

func optionalBool(p Params, name string) (*bool, error) {
	if !p.Has(name) || p.Get(name) == "" {
		return nil, nil
	}
	b, err := p.Bool(name, false)
	if err != nil {
		return nil, err
	}
	return &b, nil
}

// RegisterVPC registers the VPC and vSwitch actions.
func RegisterVPC(rt *Router, svc *service.Service) {
	h := vpcHandlers{svc}
	rt.HandleDryRun(VersionVPC, "CreateVpc", h.createVpc)
	rt.Handle(VersionVPC, "DescribeVpcs", h.describeVpcs)
	rt.Handle(VersionVPC, "DescribeVpcAttribute", h.describeVpcAttribute)
	rt.Handle(VersionVPC, "ModifyVpcAttribute", h.modifyVpc)
	rt.HandleDryRun(VersionVPC, "DeleteVpc", h.deleteVpc)
	rt.Handle(VersionVPC, "AssociateVpcCidrBlock", h.associateCidr)
	rt.Handle(VersionVPC, "UnassociateVpcCidrBlock", h.unassociateCidr)
	rt.Handle(VersionVPC, "CreateVSwitch", h.createVSwitch)
	rt.Handle(VersionVPC, "DescribeVSwitches", h.describeVSwitches)
	rt.Handle(VersionVPC, "DescribeVSwitchAttributes", h.describeVSwitchAttributes)
	rt.Handle(VersionVPC, "ModifyVSwitchAttribute", h.modifyVSwitch)
	rt.Handle(VersionVPC, "DeleteVSwitch", h.deleteVSwitch)
}

type vpcHandlers struct{ svc *service.Service }

func (h vpcHandlers) createVpc(ctx context.Context, r *Request) (any, error) {
	tags, err := r.Params.Tags("Tag")
	if err != nil {
		return nil, err
	}
	ipv6, err := r.Params.Bool("EnableIpv6", false)
	if err != nil {
		return nil, err
	}
	dry, err := r.Params.Bool("DryRun", false)
	if err != nil {
		return nil, err
	}
	res, err := h.svc.CreateVpc(ctx, r.Account.ID, service.CreateVpcInput{
		CidrBlock: r.Params.Get("CidrBlock"), Name: r.Params.Get("VpcName"),
		Description: r.Params.Get("Description"), EnableIPv6: ipv6,
		ResourceGroup: r.Params.Get("ResourceGroupId"), Tags: tags,
		ClientToken: r.Params.Get("ClientToken"), DryRun: dry,
	})
	if err != nil {
		return nil, err
	}
	return struct{ VpcId, VRouterId, RouteTableId, ResourceGroupId string }{
		res.VpcID, res.VRouterID, res.RouteTableID, res.ResourceGroupID}, nil
}

func (h vpcHandlers) describeVpcs(ctx context.Context, r *Request) (any, error) {
	pg, err := r.Params.PageOnly(10, 50)
	if err != nil {
		return nil, err
	}
	tags, err := r.Params.Tags("Tag")
	if err != nil {
		return nil, err
	}
	isDefault, err := optionalBool(r.Params, "IsDefault")
	if err != nil {
		return nil, err
	}
	ids := CommaList(r.Params.Get("VpcId"))
	if len(ids) > 20 {
		return nil, errs.InvalidParameter("VpcId", "at most 20 comma-separated VPC IDs are allowed, got %d", len(ids))
	}
	vpcs, err := h.svc.DescribeVpcs(ctx, r.Account.ID, service.VpcFilter{
		IDs: ids, Name: r.Params.Get("VpcName"), IsDefault: isDefault,
		ResourceGroup: r.Params.Get("ResourceGroupId"), Tags: tags,
	})
	if err != nil {
		return nil, err
	}
	page, total, _ := Paginate(vpcs, pg)
	var resp struct {
		TotalCount, PageNumber, PageSize int
		Vpcs                             struct{ Vpc []vpcItem }
	}
	resp.TotalCount, resp.PageNumber, resp.PageSize = total, pg.Number, pg.Size
	resp.Vpcs.Vpc = make([]vpcItem, 0, len(page))
	for _, v := range page {
		resp.Vpcs.Vpc = append(resp.Vpcs.Vpc, toVpcItem(h.svc.Region(), v))
	}
	return resp, nil
}

func (h vpcHandlers) describeVpcAttribute(ctx context.Context, r *Request) (any, error) {
	id, err := r.Params.Required("VpcId")
	if err != nil {
		return nil, err
	}
	v, err := h.svc.DescribeVpcAttribute(ctx, r.Account.ID, id)
	if err != nil {
		return nil, err
	}
	return toVpcItem(h.svc.Region(), v), nil
}

func (h vpcHandlers) modifyVpc(ctx context.Context, r *Request) (any, error) {
	id, err := r.Params.Required("VpcId")
	if err != nil {
		return nil, err
	}
	ipv6, err := optionalBool(r.Params, "EnableIPv6")
	if err != nil {
		return nil, err
	}
	return empty{}, h.svc.ModifyVpcAttribute(ctx, r.Account.ID, id, service.ModifyVpcInput{
		Name: optional(r.Params, "VpcName"), Description: optional(r.Params, "Description"),
		CidrBlock: optional(r.Params, "CidrBlock"), EnableIPv6: ipv6,
	})
}

func (h vpcHandlers) deleteVpc(ctx context.Context, r *Request) (any, error) {
	id, err := r.Params.Required("VpcId")
	if err != nil {
		return nil, err
	}
	force, err := r.Params.Bool("ForceDelete", false)
	if err != nil {
		return nil, err
	}
	dry, err := r.Params.Bool("DryRun", false)
	if err != nil {
		return nil, err
	}
	return empty{}, h.svc.DeleteVpc(ctx, r.Account.ID, id, force, dry)
}

func (h vpcHandlers) associateCidr(ctx context.Context, r *Request) (any, error) {
	id, err := r.Params.Required("VpcId")
	if err != nil {
		return nil, err
	}
	ipv6 := r.Params.Get("IpVersion") == "IPV6" || r.Params.Get("IpVersion") == "IPv6"
	return empty{}, h.svc.AssociateVpcCidrBlock(ctx, r.Account.ID, id, r.Params.Get("SecondaryCidrBlock"), ipv6)
}

func (h vpcHandlers) unassociateCidr(ctx context.Context, r *Request) (any, error) {
	id, err := r.Params.Required("VpcId")
	if err != nil {
		return nil, err
	}
	return empty{}, h.svc.UnassociateVpcCidrBlock(ctx, r.Account.ID, id, r.Params.Get("SecondaryCidrBlock"))
}

func (h vpcHandlers) createVSwitch(ctx context.Context, r *Request) (any, error) {
	tags, err := r.Params.Tags("Tag")
	if err != nil {
		return nil, err
	}
	in := service.CreateVSwitchInput{
		VpcID: r.Params.Get("VpcId"), ZoneID: r.Params.Get("ZoneId"), CidrBlock: r.Params.Get("CidrBlock"),
		Name: r.Params.Get("VSwitchName"), Description: r.Params.Get("Description"),
		Tags: tags, ClientToken: r.Params.Get("ClientToken"),
	}
	if r.Params.Get("Ipv6CidrBlock") != "" {
		n, err := r.Params.Int("Ipv6CidrBlock", 0)
		if err != nil {
			return nil, err
		}
		in.Ipv6Index = &n
	}
	id, err := h.svc.CreateVSwitch(ctx, r.Account.ID, in)
	if err != nil {
		return nil, err
	}
	return struct{ VSwitchId string }{id}, nil
}

func (h vpcHandlers) describeVSwitches(ctx context.Context, r *Request) (any, error) {
	pg, err := r.Params.PageOnly(10, 50)
	if err != nil {
		return nil, err
	}
	tags, err := r.Params.Tags("Tag")
	if err != nil {
		return nil, err
	}
	vsws, err := h.svc.DescribeVSwitches(ctx, r.Account.ID, service.VSwitchFilter{
		VpcID: r.Params.Get("VpcId"), ZoneID: r.Params.Get("ZoneId"), Name: r.Params.Get("VSwitchName"),
		RouteTableID: r.Params.Get("RouteTableId"), IDs: CommaList(r.Params.Get("VSwitchId")), Tags: tags,
	})
	if err != nil {
		return nil, err
	}
	page, total, _ := Paginate(vsws, pg)
	var resp struct {
		TotalCount, PageNumber, PageSize int
		VSwitches                        struct{ VSwitch []vswitchItem }
	}
	resp.TotalCount, resp.PageNumber, resp.PageSize = total, pg.Number, pg.Size
	resp.VSwitches.VSwitch = make([]vswitchItem, 0, len(page))
	for _, w := range page {
		resp.VSwitches.VSwitch = append(resp.VSwitches.VSwitch, toVSwitchItem(w))
	}
	return resp, nil
}

func (h vpcHandlers) describeVSwitchAttributes(ctx context.Context, r *Request) (any, error) {
	id, err := r.Params.Required("VSwitchId")
	if err != nil {
		return nil, err
	}
	w, err := h.svc.DescribeVSwitchAttributes(ctx, r.Account.ID, id)
	if err != nil {
		return nil, err
	}
	return toVSwitchItem(w), nil
}

func (h vpcHandlers) modifyVSwitch(ctx context.Context, r *Request) (any, error) {
	id, err := r.Params.Required("VSwitchId")
	if err != nil {
		return nil, err
	}
	return empty{}, h.svc.ModifyVSwitchAttribute(ctx, r.Account.ID, id,
		optional(r.Params, "VSwitchName"), optional(r.Params, "Description"))
}

func (h vpcHandlers) deleteVSwitch(ctx context.Context, r *Request) (any, error) {
	id, err := r.Params.Required("VSwitchId")
	if err != nil {
		return nil, err
	}
	return empty{}, h.svc.DeleteVSwitch(ctx, r.Account.ID, id)
}

// RegisterRegions registers DescribeRegions and DescribeZones (ECS).
func RegisterRegions(rt *Router, svc *service.Service) {
	rt.Handle(VersionECS, "DescribeRegions", func(ctx context.Context, r *Request) (any, error) {
		type region struct{ RegionId, LocalName, RegionEndpoint, Status string }
		var resp struct{ Regions struct{ Region []region } }
		resp.Regions.Region = []region{{RegionId: svc.Region(), LocalName: "Palisade " + svc.Region(), Status: "available"}}
		return resp, nil
	})
	rt.Handle(VersionECS, "DescribeZones", func(ctx context.Context, r *Request) (any, error) {
		if rg := r.RegionID; rg != "" && rg != svc.Region() {
			return nil, errs.InvalidParam("InvalidRegionId.NotFound",
				"The specified RegionId %q does not exist; this control plane serves region %q.", rg, svc.Region())
		}
		zones, err := svc.Zones(ctx)
		if err != nil {
			return nil, err
		}
		type zone struct {
			ZoneId, LocalName, ZoneType string
			AvailableResourceCreation   struct{ ResourceTypes []string }
		}
		var resp struct{ Zones struct{ Zone []zone } }
		resp.Zones.Zone = make([]zone, 0, len(zones))
		for _, z := range zones {
			it := zone{ZoneId: z, LocalName: z, ZoneType: "AvailabilityZone"}
			it.AvailableResourceCreation.ResourceTypes = []string{"VSwitch", "IoOptimized", "Instance"}
			resp.Zones.Zone = append(resp.Zones.Zone, it)
		}
		return resp, nil
	})
}
