package api

import (
	"context"
	"strconv"
	"strings"

	"github.com/palisade-project/palisade/internal/errs"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/service"
)

// Internet NAT gateway actions (VPC 2016-04-28, the enhanced type);
// semantics and error codes in service/nat.go. Response names are those of
// github.com/aliyun/alibaba-cloud-sdk-go/services/vpc: the classic wrapped
// lists ("NatGateways":{"NatGateway":[...]}, "IpLists":{"IpList":[...]},
// "SnatTableIds":{"SnatTableId":[...]},
// "SnatTableEntries":{"SnatTableEntry":[...]},
// "ForwardTableEntries":{"ForwardTableEntry":[...]}), except
// GetNatGatewayAttribute's bare "IpList":[...].

// IndexNatGatewayIDs is the range of DescribeNatGateways NatGatewayIds.N,
// IndexNetworkInterfaceIDs of DescribeSnatTableEntries
// NetworkInterfaceIds.N.
var (
	IndexNatGatewayIDs       = Indexes{1, 20}
	IndexNetworkInterfaceIDs = Indexes{1, 20}
)

// The NAT lists page with PageNumber and PageSize (1-50, default 10).
const (
	natDefaultPageSize = 10
	natMaxPageSize     = 50
)

type snatTableIDs struct{ SnatTableId []string }
type forwardTableIDs struct{ ForwardTableId []string }
type fullNatTableIDs struct{ FullNatTableId []string }
type bandwidthPackageIDs struct{ BandwidthPackageId []string }

type natPrivateInfo struct {
	VswitchId               string
	EniInstanceId           string
	MaxBandwidth            int
	MaxSessionQuota         int
	MaxSessionEstablishRate int
	PrivateIpAddress        string
	IzNo                    string
	EniType                 string
}

type natAccessMode struct{ TunnelType, ModeValue string }

type natIPItem struct {
	PrivateIpAddress string
	IpAddress        string
	ApAccessEnabled  bool
	UsingStatus      string
	SnatEntryEnabled bool
	AllocationId     string
}

// natGatewayItem is a gateway as DescribeNatGateways lists it
// (vpc.NatGateway).
type natGatewayItem struct {
	NatGatewayId              string
	Name                      string
	Description               string
	Status                    string
	BusinessStatus            string
	CreationTime              string
	ExpiredTime               string
	RegionId                  string
	VpcId                     string
	NatType                   string
	NetworkType               string
	Spec                      string
	InstanceChargeType        string
	InternetChargeType        string
	EipBindMode               string
	AutoPay                   bool
	DeletionProtection        bool
	SecurityProtectionEnabled bool
	EcsMetricEnabled          bool
	IcmpReplyEnabled          bool
	PrivateLinkEnabled        bool
	PrivateLinkMode           string
	EnableSessionLog          string
	ResourceGroupId           string
	ForwardTableIds           forwardTableIDs
	SnatTableIds              snatTableIDs
	FullNatTableIds           fullNatTableIDs
	BandwidthPackageIds       bandwidthPackageIDs
	NatGatewayPrivateInfo     natPrivateInfo
	AccessMode                natAccessMode
	IpLists                   struct{ IpList []natIPItem }
	Tags                      tagsWrapper
}

func natIPItems(g service.NatGatewayView) []natIPItem {
	out := make([]natIPItem, 0, len(g.IPs))
	for _, ip := range g.IPs {
		out = append(out, natIPItem{PrivateIpAddress: addrString(g.PrivateIP), IpAddress: ip.Address.String(), UsingStatus: ip.UsingStatus,
			SnatEntryEnabled: ip.SnatEntryEnabled, AllocationId: ip.AllocationID})
	}
	return out
}

func toNatGatewayItem(region string, g service.NatGatewayView) natGatewayItem {
	it := natGatewayItem{
		NatGatewayId: g.ID, Name: g.Name, Description: g.Description, Status: g.Status, BusinessStatus: "Normal",
		CreationTime: formatTime(g.CreatedAt), RegionId: region, VpcId: g.VpcID, NatType: g.NatType, NetworkType: g.NetworkType,
		Spec: g.Spec, InstanceChargeType: g.InstanceChargeType, InternetChargeType: g.InternetChargeType, EipBindMode: g.EipBindMode,
		DeletionProtection: g.DeletionProtection, IcmpReplyEnabled: g.IcmpReplyEnabled, EnableSessionLog: "false",
		ForwardTableIds: forwardTableIDs{[]string{g.ForwardTableID}}, SnatTableIds: snatTableIDs{[]string{g.SnatTableID}},
		FullNatTableIds: fullNatTableIDs{[]string{}}, BandwidthPackageIds: bandwidthPackageIDs{[]string{}},
		NatGatewayPrivateInfo: natPrivateInfo{VswitchId: g.VSwitchID, PrivateIpAddress: addrString(g.PrivateIP), IzNo: g.ZoneID},
		Tags:                  toTags(g.Tags),
	}
	it.IpLists.IpList = natIPItems(g)
	return it
}

// natGatewayAttribute is GetNatGatewayAttribute's answer.
type natGatewayAttribute struct {
	NatGatewayId       string
	Name               string
	Description        string
	Status             string
	BusinessStatus     string
	CreationTime       string
	ExpiredTime        string
	RegionId           string
	VpcId              string
	NatType            string
	NetworkType        string
	EcsMetricEnabled   bool
	PrivateLinkEnabled bool
	PrivateLinkMode    string
	EnableSessionLog   bool
	ResourceGroupId    string
	ForwardTable       struct {
		ForwardTableId    string
		ForwardEntryCount int
	}
	SnatTable struct {
		SnatTableId    string
		SnatEntryCount int
	}
	FullNatTable struct {
		FullNatTableId    string
		FullNatEntryCount int64
	}
	BillingConfig struct {
		InternetChargeType, AutoPay, Spec, InstanceChargeType string
	}
	PrivateInfo struct {
		MaxBandwidth                      int
		VswitchId, PrivateIpAddress, IzNo string
		EniInstanceId                     string
	}
	DeletionProtectionInfo struct{ Enabled bool }
	AccessMode             natAccessMode
	IpList                 []natIPListItem
}

type natIPListItem struct{ UsingStatus, IpAddress, AllocationId string }

func toNatGatewayAttribute(region string, g service.NatGatewayView) natGatewayAttribute {
	out := natGatewayAttribute{
		NatGatewayId: g.ID, Name: g.Name, Description: g.Description, Status: g.Status, BusinessStatus: "Normal",
		CreationTime: formatTime(g.CreatedAt), RegionId: region, VpcId: g.VpcID, NatType: g.NatType, NetworkType: g.NetworkType,
		IpList: make([]natIPListItem, 0, len(g.IPs)),
	}
	out.ForwardTable.ForwardTableId, out.ForwardTable.ForwardEntryCount = g.ForwardTableID, g.ForwardEntryCount
	out.SnatTable.SnatTableId, out.SnatTable.SnatEntryCount = g.SnatTableID, g.SnatEntryCount
	out.BillingConfig.InternetChargeType, out.BillingConfig.AutoPay = g.InternetChargeType, "false"
	out.BillingConfig.Spec, out.BillingConfig.InstanceChargeType = g.Spec, g.InstanceChargeType
	out.PrivateInfo.VswitchId, out.PrivateInfo.PrivateIpAddress, out.PrivateInfo.IzNo = g.VSwitchID, addrString(g.PrivateIP), g.ZoneID
	out.DeletionProtectionInfo.Enabled = g.DeletionProtection
	for _, ip := range g.IPs {
		out.IpList = append(out.IpList, natIPListItem{UsingStatus: ip.UsingStatus, IpAddress: ip.Address.String(), AllocationId: ip.AllocationID})
	}
	return out
}

// snatEntryItem is an entry as DescribeSnatTableEntries lists it
// (vpc.SnatTableEntry).
type snatEntryItem struct {
	SnatEntryId        string
	SnatEntryName      string
	SnatTableId        string
	NatGatewayId       string
	SourceVSwitchId    string
	SourceCIDR         string
	SnatIp             string
	EipAffinity        string
	NetworkInterfaceId string
	Status             string
}

func toSnatEntryItem(e model.SnatEntry) snatEntryItem {
	ips := make([]string, 0, len(e.SnatIPs))
	for _, a := range e.SnatIPs {
		ips = append(ips, a.String())
	}
	return snatEntryItem{
		SnatEntryId: e.ID, SnatEntryName: e.Name, SnatTableId: e.SnatTableID, NatGatewayId: e.NatGatewayID,
		SourceVSwitchId: e.SourceVSwitchID, SourceCIDR: prefixString(e.SourceCIDR), SnatIp: strings.Join(ips, ","),
		EipAffinity: strconv.Itoa(e.EipAffinity), Status: e.Status,
	}
}

// forwardEntryItem is an entry as DescribeForwardTableEntries lists it
// (vpc.ForwardTableEntry).
type forwardEntryItem struct {
	ForwardEntryId   string
	ForwardEntryName string
	ForwardTableId   string
	NatGatewayId     string
	ExternalIp       string
	ExternalPort     string
	IpProtocol       string
	InternalIp       string
	InternalPort     string
	Status           string
}

func toForwardEntryItem(e model.ForwardEntry) forwardEntryItem {
	return forwardEntryItem{
		ForwardEntryId: e.ID, ForwardEntryName: e.Name, ForwardTableId: e.ForwardTableID, NatGatewayId: e.NatGatewayID,
		ExternalIp: addrString(e.ExternalIP), ExternalPort: service.NatPortString(e.IpProtocol, e.ExternalPort), IpProtocol: e.IpProtocol,
		InternalIp: addrString(e.InternalIP), InternalPort: service.NatPortString(e.IpProtocol, e.InternalPort), Status: e.Status,
	}
}

// refuseTrue refuses a boolean parameter sent true (a feature Palisade
// does not have): OperationUnsupported.<name>.
func refuseTrue(p Params, name, why string) error {
	b, err := p.Bool(name, false)
	if err != nil {
		return err
	}
	if b {
		return errs.InvalidParam("OperationUnsupported."+name, "%s is not supported: %s", name, why)
	}
	return nil
}

// RegisterNAT registers the Internet NAT gateway actions.
func RegisterNAT(rt *Router, svc *service.Service) {
	v := VersionVPC

	rt.Handle(v, "CreateNatGateway", func(ctx context.Context, r *Request) (any, error) {
		p := r.Params
		in := service.CreateNatGatewayInput{
			VpcID: p.Get("VpcId"), VSwitchID: p.Get("VSwitchId"), Name: p.Get("Name"), Description: p.Get("Description"),
			NatType: p.Get("NatType"), NetworkType: p.Get("NetworkType"), Spec: p.Get("Spec"),
			InstanceChargeType: p.Get("InstanceChargeType"), InternetChargeType: p.Get("InternetChargeType"),
			EipBindMode: p.Get("EipBindMode"), ClientToken: p.Get("ClientToken"),
		}
		var err error
		if in.IcmpReplyEnabled, err = optionalBool(p, "IcmpReplyEnabled"); err != nil {
			return nil, err
		}
		if in.IsCreateDefaultRoute, err = optionalBool(p, "IsCreateDefaultRoute"); err != nil {
			return nil, err
		}
		if in.SecurityProtectionEnabled, err = p.Bool("SecurityProtectionEnabled", false); err != nil {
			return nil, err
		}
		if in.PrivateLinkEnabled, err = p.Bool("PrivateLinkEnabled", false); err != nil {
			return nil, err
		}
		if bp, err := p.StructsIn("BandwidthPackage", Indexes{1, 16}); err != nil {
			return nil, err
		} else if len(bp) > 0 {
			return nil, errs.InvalidParam("OperationUnsupported.BandwidthPackage", "BandwidthPackage is not supported: EIPs are associated with the NAT gateway by AssociateEipAddress (InstanceType=Nat).")
		}
		if in.Tags, err = p.Tags("Tag"); err != nil {
			return nil, err
		}
		g, err := svc.CreateNatGateway(ctx, r.Account.ID, in)
		if err != nil {
			return nil, err
		}
		return struct {
			NatGatewayId        string
			ForwardTableIds     forwardTableIDs
			SnatTableIds        snatTableIDs
			FullNatTableIds     fullNatTableIDs
			BandwidthPackageIds bandwidthPackageIDs
		}{g.ID, forwardTableIDs{[]string{g.ForwardTableID}}, snatTableIDs{[]string{g.SnatTableID}}, fullNatTableIDs{[]string{}}, bandwidthPackageIDs{[]string{}}}, nil
	})
	rt.Handle(v, "DescribeNatGateways", func(ctx context.Context, r *Request) (any, error) {
		p := r.Params
		pg, err := p.PageOnly(natDefaultPageSize, natMaxPageSize)
		if err != nil {
			return nil, err
		}
		ids, err := p.ListIn("NatGatewayIds", IndexNatGatewayIDs)
		if err != nil {
			return nil, err
		}
		if id := strings.TrimSpace(p.Get("NatGatewayId")); id != "" {
			ids = append(ids, id)
		}
		q := service.NatGatewayQuery{
			IDs: ids, VpcID: p.Get("VpcId"), VSwitchID: p.Get("VSwitchId"), ZoneID: p.Get("ZoneId"), Name: p.Get("Name"),
			Status: p.Get("Status"), NatType: p.Get("NatType"), NetworkType: p.Get("NetworkType"), Spec: p.Get("Spec"),
			InstanceChargeType: p.Get("InstanceChargeType"), ResourceGroupID: p.Get("ResourceGroupId"),
		}
		if q.PrivateLinkEnabled, err = optionalBool(p, "PrivateLinkEnabled"); err != nil {
			return nil, err
		}
		if q.Tags, err = p.Tags("Tag"); err != nil {
			return nil, err
		}
		all, err := svc.DescribeNatGateways(ctx, r.Account.ID, q)
		if err != nil {
			return nil, err
		}
		var resp struct {
			TotalCount, PageNumber, PageSize int
			NatGateways                      struct{ NatGateway []natGatewayItem }
		}
		resp.NatGateways.NatGateway, resp.TotalCount = pageOf(all, pg, func(g service.NatGatewayView) natGatewayItem { return toNatGatewayItem(svc.Region(), g) })
		resp.PageNumber, resp.PageSize = pg.Number, pg.Size
		return resp, nil
	})
	rt.Handle(v, "GetNatGatewayAttribute", func(ctx context.Context, r *Request) (any, error) {
		g, err := svc.GetNatGatewayAttribute(ctx, r.Account.ID, r.Params.Get("NatGatewayId"))
		if err != nil {
			return nil, err
		}
		return toNatGatewayAttribute(svc.Region(), g), nil
	})
	rt.Handle(v, "ModifyNatGatewayAttribute", func(ctx context.Context, r *Request) (any, error) {
		p := r.Params
		if err := refuseTrue(p, "SecurityProtectionEnabled", "a NAT gateway has no firewall of its own here; protect its EIPs with the Internet firewall (Cloudfw)."); err != nil {
			return nil, err
		}
		if err := refuseTrue(p, "EnableSessionLog", "NAT gateways keep no session logs here; use flow logs on the VPC."); err != nil {
			return nil, err
		}
		icmp, err := optionalBool(p, "IcmpReplyEnabled")
		if err != nil {
			return nil, err
		}
		return empty{}, svc.ModifyNatGatewayAttribute(ctx, r.Account.ID, p.Get("NatGatewayId"), service.ModifyNatGatewayInput{
			Name: optional(p, "Name"), Description: optional(p, "Description"), EipBindMode: optional(p, "EipBindMode"), IcmpReplyEnabled: icmp,
		})
	})
	rt.Handle(v, "DeleteNatGateway", func(ctx context.Context, r *Request) (any, error) {
		force, err := r.Params.Bool("Force", false)
		if err != nil {
			return nil, err
		}
		return empty{}, svc.DeleteNatGateway(ctx, r.Account.ID, r.Params.Get("NatGatewayId"), force)
	})

	rt.Handle(v, "CreateSnatEntry", func(ctx context.Context, r *Request) (any, error) {
		p := r.Params
		aff, err := optionalInt(p, "EipAffinity")
		if err != nil {
			return nil, err
		}
		e, err := svc.CreateSnatEntry(ctx, r.Account.ID, service.CreateSnatEntryInput{
			SnatTableID: p.Get("SnatTableId"), SnatIP: p.Get("SnatIp"), SourceVSwitchID: p.Get("SourceVSwitchId"),
			SourceCIDR: p.Get("SourceCIDR"), Name: p.Get("SnatEntryName"), NetworkInterfaceID: p.Get("NetworkInterfaceId"),
			EipAffinity: aff, ClientToken: p.Get("ClientToken"),
		})
		if err != nil {
			return nil, err
		}
		return struct{ SnatEntryId string }{e.ID}, nil
	})
	rt.Handle(v, "ModifySnatEntry", func(ctx context.Context, r *Request) (any, error) {
		p := r.Params
		aff, err := optionalInt(p, "EipAffinity")
		if err != nil {
			return nil, err
		}
		return empty{}, svc.ModifySnatEntry(ctx, r.Account.ID, service.ModifySnatEntryInput{
			SnatTableID: p.Get("SnatTableId"), SnatEntryID: p.Get("SnatEntryId"), SnatIP: optional(p, "SnatIp"),
			Name: optional(p, "SnatEntryName"), EipAffinity: aff, NetworkInterfaceID: p.Get("NetworkInterfaceId"),
		})
	})
	rt.Handle(v, "DeleteSnatEntry", func(ctx context.Context, r *Request) (any, error) {
		return empty{}, svc.DeleteSnatEntry(ctx, r.Account.ID, r.Params.Get("SnatTableId"), r.Params.Get("SnatEntryId"))
	})
	rt.Handle(v, "DescribeSnatTableEntries", func(ctx context.Context, r *Request) (any, error) {
		p := r.Params
		pg, err := p.PageOnly(natDefaultPageSize, natMaxPageSize)
		if err != nil {
			return nil, err
		}
		enis, err := p.ListIn("NetworkInterfaceIds", IndexNetworkInterfaceIDs)
		if err != nil {
			return nil, err
		}
		all, err := svc.DescribeSnatTableEntries(ctx, r.Account.ID, service.SnatEntryQuery{
			SnatTableID: p.Get("SnatTableId"), SnatEntryID: p.Get("SnatEntryId"), SourceVSwitchID: p.Get("SourceVSwitchId"),
			SourceCIDR: p.Get("SourceCIDR"), SnatIP: p.Get("SnatIp"), Name: p.Get("SnatEntryName"), NatGatewayID: p.Get("NatGatewayId"),
			NetworkInterfaceIDs: enis,
		})
		if err != nil {
			return nil, err
		}
		var resp struct {
			TotalCount, PageNumber, PageSize int
			SnatTableEntries                 struct{ SnatTableEntry []snatEntryItem }
		}
		resp.SnatTableEntries.SnatTableEntry, resp.TotalCount = pageOf(all, pg, toSnatEntryItem)
		resp.PageNumber, resp.PageSize = pg.Number, pg.Size
		return resp, nil
	})

	forwardSpec := func(p Params) (service.ForwardEntrySpec, error) {
		x := service.ForwardEntrySpec{
			ExternalIP: optional(p, "ExternalIp"), ExternalPort: optional(p, "ExternalPort"), IpProtocol: optional(p, "IpProtocol"),
			InternalIP: optional(p, "InternalIp"), InternalPort: optional(p, "InternalPort"), Name: optional(p, "ForwardEntryName"),
		}
		var err error
		x.PortBreak, err = optionalBool(p, "PortBreak")
		return x, err
	}
	rt.Handle(v, "CreateForwardEntry", func(ctx context.Context, r *Request) (any, error) {
		x, err := forwardSpec(r.Params)
		if err != nil {
			return nil, err
		}
		e, err := svc.CreateForwardEntry(ctx, r.Account.ID, service.CreateForwardEntryInput{
			ForwardTableID: r.Params.Get("ForwardTableId"), ForwardEntrySpec: x, ClientToken: r.Params.Get("ClientToken"),
		})
		if err != nil {
			return nil, err
		}
		return struct{ ForwardEntryId string }{e.ID}, nil
	})
	rt.Handle(v, "ModifyForwardEntry", func(ctx context.Context, r *Request) (any, error) {
		x, err := forwardSpec(r.Params)
		if err != nil {
			return nil, err
		}
		return empty{}, svc.ModifyForwardEntry(ctx, r.Account.ID, r.Params.Get("ForwardTableId"), r.Params.Get("ForwardEntryId"), x)
	})
	rt.Handle(v, "DeleteForwardEntry", func(ctx context.Context, r *Request) (any, error) {
		return empty{}, svc.DeleteForwardEntry(ctx, r.Account.ID, r.Params.Get("ForwardTableId"), r.Params.Get("ForwardEntryId"))
	})
	rt.Handle(v, "DescribeForwardTableEntries", func(ctx context.Context, r *Request) (any, error) {
		p := r.Params
		pg, err := p.PageOnly(natDefaultPageSize, natMaxPageSize)
		if err != nil {
			return nil, err
		}
		all, err := svc.DescribeForwardTableEntries(ctx, r.Account.ID, service.ForwardEntryQuery{
			ForwardTableID: p.Get("ForwardTableId"), ForwardEntryID: p.Get("ForwardEntryId"), ExternalIP: p.Get("ExternalIp"),
			ExternalPort: p.Get("ExternalPort"), InternalIP: p.Get("InternalIp"), InternalPort: p.Get("InternalPort"),
			IpProtocol: p.Get("IpProtocol"), Name: p.Get("ForwardEntryName"), NatGatewayID: p.Get("NatGatewayId"),
		})
		if err != nil {
			return nil, err
		}
		var resp struct {
			TotalCount, PageNumber, PageSize int
			ForwardTableEntries              struct{ ForwardTableEntry []forwardEntryItem }
		}
		resp.ForwardTableEntries.ForwardTableEntry, resp.TotalCount = pageOf(all, pg, toForwardEntryItem)
		resp.PageNumber, resp.PageSize = pg.Number, pg.Size
		return resp, nil
	})
}
