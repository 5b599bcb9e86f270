package api

import (
	"context"
	"net/netip"
	"time"

	"github.com/palisade-project/palisade/internal/errs"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/service"
)

// Response shapes of the ECS instance and ENI actions; field names are those
// of github.com/aliyun/alibaba-cloud-sdk-go/services/ecs.

type privateIPItem struct {
	PrivateIpAddress string
	PrivateDnsName   string
	Primary          bool
}

type ipv6Item struct{ Ipv6Address string }

type eniItem struct {
	NetworkInterfaceId   string
	NetworkInterfaceName string
	Description          string
	Status               string
	Type                 string
	VpcId                string
	VSwitchId            string
	ZoneId               string
	InstanceId           string
	PrivateIpAddress     string
	MacAddress           string
	OwnerId              string
	CreationTime         string
	ResourceGroupId      string
	ServiceManaged       bool
	SourceDestCheck      bool
	DeleteOnRelease      bool
	SecurityGroupIds     struct{ SecurityGroupId []string }
	PrivateIpSets        struct{ PrivateIpSet []privateIPItem }
	Ipv6Sets             struct{ Ipv6Set []ipv6Item }
	Attachment           struct {
		InstanceId  string
		DeviceIndex int
	}
	Tags tagsWrapper
}

func privateIPSets(e model.ENI) []privateIPItem {
	out := []privateIPItem{{PrivateIpAddress: e.PrimaryIP.String(), Primary: true}}
	for _, a := range e.SecondaryIPs {
		out = append(out, privateIPItem{PrivateIpAddress: a.String()})
	}
	return out
}

func ipv6Sets(e model.ENI) []ipv6Item {
	out := []ipv6Item{}
	for _, a := range e.IPv6s {
		out = append(out, ipv6Item{Ipv6Address: a.String()})
	}
	return out
}

func toENIItem(e model.ENI) eniItem {
	it := eniItem{
		NetworkInterfaceId: e.ID, NetworkInterfaceName: e.Name, Description: e.Description,
		Status: e.Status, Type: e.Type, VpcId: e.VpcID, VSwitchId: e.VSwitchID, ZoneId: e.ZoneID,
		InstanceId: e.InstanceID, PrivateIpAddress: e.PrimaryIP.String(), MacAddress: e.MAC,
		OwnerId: e.AccountID, CreationTime: formatTime(e.CreatedAt), SourceDestCheck: true,
		DeleteOnRelease: e.Type == model.ENITypePrimary, Tags: toTags(e.Tags),
		// A PrivateLink endpoint's ENI is managed by its endpoint.
		ServiceManaged: e.EndpointID != "",
	}
	it.SecurityGroupIds.SecurityGroupId = append([]string{}, e.SecurityGroupIDs...)
	it.PrivateIpSets.PrivateIpSet = privateIPSets(e)
	it.Ipv6Sets.Ipv6Set = ipv6Sets(e)
	it.Attachment.InstanceId, it.Attachment.DeviceIndex = e.InstanceID, e.DeviceIndex
	return it
}

type instanceENIItem struct {
	NetworkInterfaceId   string
	NetworkInterfaceName string
	Type                 string
	MacAddress           string
	PrimaryIpAddress     string
	VSwitchId            string
	SecurityGroupIds     struct{ SecurityGroupId []string }
	PrivateIpSets        struct{ PrivateIpSet []privateIPItem }
	Ipv6Sets             struct{ Ipv6Set []ipv6Item }
}

type ipList struct{ IpAddress []string }

type instanceItem struct {
	InstanceId          string
	InstanceName        string
	HostName            string
	Description         string
	ImageId             string
	InstanceType        string
	Status              string
	RegionId            string
	ZoneId              string
	CreationTime        string
	StartTime           string
	InstanceNetworkType string
	InstanceChargeType  string
	InternetChargeType  string
	OSType              string
	OsType              string
	Cpu                 int
	Memory              int
	DeletionProtection  bool
	SecurityGroupIds    struct{ SecurityGroupId []string }
	VpcAttributes       struct {
		VpcId            string
		VSwitchId        string
		NatIpAddress     string
		PrivateIpAddress ipList
	}
	InnerIpAddress    ipList
	PublicIpAddress   ipList
	NetworkInterfaces struct{ NetworkInterface []instanceENIItem }
	Tags              tagsWrapper
}

func toInstanceItem(region string, v service.InstanceView) instanceItem {
	it := instanceItem{
		InstanceId: v.ID, InstanceName: v.Name, HostName: v.HostName, Description: v.Description,
		ImageId: v.ImageID, InstanceType: v.InstanceType, Status: v.Status, RegionId: region,
		ZoneId: v.ZoneID, CreationTime: formatTime(v.CreatedAt), StartTime: formatTime(v.CreatedAt),
		InstanceNetworkType: "vpc", InstanceChargeType: "PostPaid", InternetChargeType: "PayByTraffic",
		OSType: "linux", OsType: "linux", Tags: toTags(v.Tags),
	}
	it.VpcAttributes.VpcId, it.VpcAttributes.VSwitchId = v.VpcID, v.VSwitchID
	it.VpcAttributes.PrivateIpAddress.IpAddress = []string{}
	it.InnerIpAddress.IpAddress, it.PublicIpAddress.IpAddress = []string{}, []string{}
	it.SecurityGroupIds.SecurityGroupId = []string{}
	it.NetworkInterfaces.NetworkInterface = []instanceENIItem{}
	for _, e := range v.ENIs {
		if e.Type == model.ENITypePrimary {
			it.SecurityGroupIds.SecurityGroupId = append(it.SecurityGroupIds.SecurityGroupId, e.SecurityGroupIDs...)
			it.VpcAttributes.PrivateIpAddress.IpAddress = append(it.VpcAttributes.PrivateIpAddress.IpAddress, e.PrimaryIP.String())
		}
		n := instanceENIItem{
			NetworkInterfaceId: e.ID, NetworkInterfaceName: e.Name, Type: e.Type, MacAddress: e.MAC,
			PrimaryIpAddress: e.PrimaryIP.String(), VSwitchId: e.VSwitchID,
		}
		n.SecurityGroupIds.SecurityGroupId = append([]string{}, e.SecurityGroupIDs...)
		n.PrivateIpSets.PrivateIpSet = privateIPSets(e)
		n.Ipv6Sets.Ipv6Set = ipv6Sets(e)
		it.NetworkInterfaces.NetworkInterface = append(it.NetworkInterfaces.NetworkInterface, n)
	}
	return it
}

// groupIDs reads "SecurityGroupId" plus "SecurityGroupIds.N" (either form)
// of the request (prefix "") or of one element of a list (prefix
// "NetworkInterface.1.", p holding the request's keys).
func groupIDs(p Params, prefix string) ([]string, error) {
	ids, err := p.ListIn(prefix+"SecurityGroupIds", IndexENIGroups)
	if err != nil {
		return nil, err
	}
	if id := p.Get(prefix + "SecurityGroupId"); id != "" {
		ids = append([]string{id}, ids...)
	}
	return ids, nil
}

// uniqueAddresses refuses an address given twice in one request (lists of
// elements with their wire names), so the caller learns that the request
// repeats itself instead of reading that the address is "already used" by
// the very ENI being changed. Addresses compare as parsed (an IPv6 address
// may be written several ways); a value that does not parse compares as
// written and is left to the service to refuse.
func uniqueAddresses(lists ...[]ListItem) error {
	seen := map[string]string{}
	for _, l := range lists {
		for _, it := range l {
			k := it.Value
			if a, err := netip.ParseAddr(it.Value); err == nil {
				k = a.String()
			}
			if first, dup := seen[k]; dup {
				return errs.InvalidParam("InvalidPrivateIpAddress.Duplicated",
					"The address %s is given twice in the request (%s and %s); give each address once.", it.Value, first, it.Param)
			}
			seen[k] = it.Param
		}
	}
	return nil
}

// single is the one-element list of a scalar parameter, empty when absent.
func single(p Params, name string) []ListItem {
	if v := p.Get(name); v != "" {
		return []ListItem{{Param: name, Value: v}}
	}
	return nil
}

func itemValues(items []ListItem) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.Value
	}
	return out
}

// RegisterInstances registers the ECS instance and ENI actions.
func RegisterInstances(rt *Router, svc *service.Service) {
	h := instanceHandlers{svc}
	rt.HandleDryRun(VersionECS, "RunInstances", h.run)
	rt.Handle(VersionECS, "DescribeInstances", h.describe)
	rt.Handle(VersionECS, "DescribeInstanceAttribute", h.describeAttribute)
	rt.HandleDryRun(VersionECS, "DeleteInstance", h.delete)
	rt.HandleDryRun(VersionECS, "DeleteInstances", h.deleteMany)
	rt.HandleDryRun(VersionECS, "StopInstance", h.stop)
	rt.HandleDryRun(VersionECS, "StartInstance", h.start)
	rt.Handle(VersionECS, "CreateNetworkInterface", h.createENI)
	rt.Handle(VersionECS, "DescribeNetworkInterfaces", h.describeENIs)
	rt.Handle(VersionECS, "DeleteNetworkInterface", h.deleteENI)
	rt.Handle(VersionECS, "AttachNetworkInterface", h.attach)
	rt.Handle(VersionECS, "DetachNetworkInterface", h.detach)
	rt.Handle(VersionECS, "ModifyNetworkInterfaceAttribute", h.modifyENI)
	rt.Handle(VersionECS, "AssignPrivateIpAddresses", h.assign)
	rt.Handle(VersionECS, "UnassignPrivateIpAddresses", h.unassign)
	rt.Handle(VersionECS, "JoinSecurityGroup", h.join)
	rt.Handle(VersionECS, "LeaveSecurityGroup", h.leave)
}

type instanceHandlers struct{ svc *service.Service }

func (h instanceHandlers) run(ctx context.Context, r *Request) (any, error) {
	tags, err := r.Params.Tags("Tag")
	if err != nil {
		return nil, err
	}
	amount, err := r.Params.IntRange("Amount", 1, 1, 1<<20)
	if err != nil {
		return nil, err
	}
	v6, err := r.Params.IntRange("Ipv6AddressCount", 0, 0, 10)
	if err != nil {
		return nil, err
	}
	dry, err := r.Params.Bool("DryRun", false)
	if err != nil {
		return nil, err
	}
	sgs, err := groupIDs(r.Params, "")
	if err != nil {
		return nil, err
	}
	in := service.RunInstancesInput{
		ImageID: r.Params.Get("ImageId"), InstanceType: r.Params.Get("InstanceType"),
		ZoneID: r.Params.Get("ZoneId"), Name: r.Params.Get("InstanceName"),
		HostName: r.Params.Get("HostName"), Description: r.Params.Get("Description"),
		Amount: amount, VSwitchID: r.Params.Get("VSwitchId"), SecurityGroupIDs: sgs,
		PrivateIP: r.Params.Get("PrivateIpAddress"), IPv6Count: v6, Tags: tags,
		ClientToken: r.Params.Get("ClientToken"), DryRun: dry,
	}
	enis, err := r.Params.StructsIn("NetworkInterface", IndexNetworkIfaces)
	if err != nil {
		return nil, err
	}
	for _, it := range enis {
		n := it.Fields
		cnt, err := n.IntRange("Ipv6AddressCount", 0, 0, 10)
		if err != nil {
			return nil, err
		}
		sgs, err := groupIDs(r.Params, it.Param+".")
		if err != nil {
			return nil, err
		}
		v6s, err := r.Params.ListIn(it.Param+".Ipv6Address", IndexIPv6Addrs)
		if err != nil {
			return nil, err
		}
		in.ENIs = append(in.ENIs, service.ENISpec{
			VSwitchID: n.Get("VSwitchId"), SecurityGroupIDs: sgs,
			PrimaryIP: n.Get("PrimaryIpAddress"), Name: n.Get("NetworkInterfaceName"),
			Description: n.Get("Description"), IPv6s: v6s, IPv6Count: cnt,
		})
	}
	ids, err := h.svc.RunInstances(ctx, r.Account.ID, in)
	if err != nil {
		return nil, err
	}
	var resp struct {
		OrderId        string
		TradePrice     float64
		InstanceIdSets struct {
			InstanceIdSet []string
		}
	}
	resp.InstanceIdSets.InstanceIdSet = ids
	return resp, nil
}

func (h instanceHandlers) describe(ctx context.Context, r *Request) (any, error) {
	pg, err := r.Params.PagingFor(PageInstances)
	if err != nil {
		return nil, err
	}
	ids, err := r.Params.JSONList("InstanceIds")
	if err != nil {
		return nil, err
	}
	if len(ids) > 100 {
		return nil, errs.InvalidParameter("InstanceIds", "at most 100 IDs are allowed, got %d", len(ids))
	}
	ips, err := r.Params.JSONList("PrivateIpAddresses")
	if err != nil {
		return nil, err
	}
	tags, err := r.Params.Tags("Tag")
	if err != nil {
		return nil, err
	}
	list, err := h.svc.DescribeInstances(ctx, r.Account.ID, service.InstanceFilter{
		IDs: ids, VpcID: r.Params.Get("VpcId"), VSwitchID: r.Params.Get("VSwitchId"),
		ZoneID: r.Params.Get("ZoneId"), SecurityGroupID: r.Params.Get("SecurityGroupId"),
		Status: r.Params.Get("Status"), Name: r.Params.Get("InstanceName"), ImageID: r.Params.Get("ImageId"),
		InstanceType: r.Params.Get("InstanceType"), PrivateIPs: ips, Tags: tags,
	})
	if err != nil {
		return nil, err
	}
	page, total, next := PaginateKeyset(list, pg, func(v service.InstanceView) (time.Time, string) { return v.CreatedAt, v.ID })
	var resp struct {
		TotalCount, PageNumber, PageSize int
		NextToken                        string
		Instances                        struct{ Instance []instanceItem }
	}
	resp.TotalCount, resp.PageNumber, resp.PageSize, resp.NextToken = total, pg.Number, pg.Size, next
	resp.Instances.Instance = make([]instanceItem, 0, len(page))
	for _, v := range page {
		resp.Instances.Instance = append(resp.Instances.Instance, toInstanceItem(h.svc.Region(), v))
	}
	return resp, nil
}

func (h instanceHandlers) describeAttribute(ctx context.Context, r *Request) (any, error) {
	id, err := r.Params.Required("InstanceId")
	if err != nil {
		return nil, err
	}
	v, err := h.svc.DescribeInstance(ctx, r.Account.ID, id)
	if err != nil {
		return nil, err
	}
	return toInstanceItem(h.svc.Region(), v), nil
}

func (h instanceHandlers) delete(ctx context.Context, r *Request) (any, error) {
	id, err := r.Params.Required("InstanceId")
	if err != nil {
		return nil, err
	}
	force, dry, err := forceAndDryRun(r.Params)
	if err != nil {
		return nil, err
	}
	return empty{}, h.svc.DeleteInstance(ctx, r.Account.ID, id, force, dry)
}

func (h instanceHandlers) deleteMany(ctx context.Context, r *Request) (any, error) {
	force, dry, err := forceAndDryRun(r.Params)
	if err != nil {
		return nil, err
	}
	ids, err := r.Params.ListIn("InstanceId", IndexInstanceIDs)
	if err != nil {
		return nil, err
	}
	return empty{}, h.svc.DeleteInstances(ctx, r.Account.ID, ids, force, dry)
}

// forceAndDryRun reads the Force and DryRun flags of the delete actions.
func forceAndDryRun(p Params) (force, dry bool, err error) {
	if force, err = p.Bool("Force", false); err != nil {
		return false, false, err
	}
	dry, err = p.Bool("DryRun", false)
	return force, dry, err
}

func (h instanceHandlers) stop(ctx context.Context, r *Request) (any, error) {
	id, err := r.Params.Required("InstanceId")
	if err != nil {
		return nil, err
	}
	dry, err := r.Params.Bool("DryRun", false)
	if err != nil {
		return nil, err
	}
	return empty{}, h.svc.StopInstance(ctx, r.Account.ID, id, dry)
}

func (h instanceHandlers) start(ctx context.Context, r *Request) (any, error) {
	id, err := r.Params.Required("InstanceId")
	if err != nil {
		return nil, err
	}
	dry, err := r.Params.Bool("DryRun", false)
	if err != nil {
		return nil, err
	}
	return empty{}, h.svc.StartInstance(ctx, r.Account.ID, id, dry)
}

func (h instanceHandlers) createENI(ctx context.Context, r *Request) (any, error) {
	tags, err := r.Params.Tags("Tag")
	if err != nil {
		return nil, err
	}
	count, err := r.Params.IntRange("SecondaryPrivateIpAddressCount", 0, 0, 49)
	if err != nil {
		return nil, err
	}
	v6, err := r.Params.IntRange("Ipv6AddressCount", 0, 0, 10)
	if err != nil {
		return nil, err
	}
	sgs, err := groupIDs(r.Params, "")
	if err != nil {
		return nil, err
	}
	ips, err := r.Params.ListItemsIn("PrivateIpAddress", IndexCreateENIIPs)
	if err != nil {
		return nil, err
	}
	v6s, err := r.Params.ListItemsIn("Ipv6Address", IndexIPv6Addrs)
	if err != nil {
		return nil, err
	}
	if err := uniqueAddresses(single(r.Params, "PrimaryIpAddress"), ips, v6s); err != nil {
		return nil, err
	}
	e, err := h.svc.CreateNetworkInterface(ctx, r.Account.ID, service.ENISpec{
		VSwitchID: r.Params.Get("VSwitchId"), SecurityGroupIDs: sgs,
		PrimaryIP: r.Params.Get("PrimaryIpAddress"), SecondaryIPs: itemValues(ips),
		SecondaryCount: count, IPv6s: itemValues(v6s), IPv6Count: v6,
		Name: r.Params.Get("NetworkInterfaceName"), Description: r.Params.Get("Description"), Tags: tags,
	}, r.Params.Get("ClientToken"))
	if err != nil {
		return nil, err
	}
	return toENIItem(e), nil
}

func (h instanceHandlers) describeENIs(ctx context.Context, r *Request) (any, error) {
	pg, err := r.Params.PagingFor(PageNetworkInterfaces)
	if err != nil {
		return nil, err
	}
	tags, err := r.Params.Tags("Tag")
	if err != nil {
		return nil, err
	}
	ids, err := r.Params.ListIn("NetworkInterfaceId", IndexFilterIDs)
	if err != nil {
		return nil, err
	}
	ips, err := r.Params.ListIn("PrivateIpAddress", IndexFilterIDs)
	if err != nil {
		return nil, err
	}
	list, err := h.svc.DescribeNetworkInterfaces(ctx, r.Account.ID, service.ENIFilter{
		IDs: ids, VpcID: r.Params.Get("VpcId"),
		VSwitchID: r.Params.Get("VSwitchId"), InstanceID: r.Params.Get("InstanceId"),
		SecurityGroupID: r.Params.Get("SecurityGroupId"), Type: r.Params.Get("Type"),
		Status: r.Params.Get("Status"), Name: r.Params.Get("NetworkInterfaceName"),
		PrimaryIP: r.Params.Get("PrimaryIpAddress"), PrivateIPs: ips, Tags: tags,
	})
	if err != nil {
		return nil, err
	}
	page, total, next := PaginateKeyset(list, pg, func(e model.ENI) (time.Time, string) { return e.CreatedAt, e.ID })
	var resp struct {
		TotalCount, PageNumber, PageSize int
		NextToken                        string
		NetworkInterfaceSets             struct{ NetworkInterfaceSet []eniItem }
	}
	resp.TotalCount, resp.PageNumber, resp.PageSize, resp.NextToken = total, pg.Number, pg.Size, next
	resp.NetworkInterfaceSets.NetworkInterfaceSet = make([]eniItem, 0, len(page))
	for _, e := range page {
		resp.NetworkInterfaceSets.NetworkInterfaceSet = append(resp.NetworkInterfaceSets.NetworkInterfaceSet, toENIItem(e))
	}
	return resp, nil
}

func (h instanceHandlers) deleteENI(ctx context.Context, r *Request) (any, error) {
	id, err := r.Params.Required("NetworkInterfaceId")
	if err != nil {
		return nil, err
	}
	return empty{}, h.svc.DeleteNetworkInterface(ctx, r.Account.ID, id)
}

func (h instanceHandlers) attach(ctx context.Context, r *Request) (any, error) {
	return empty{}, h.svc.AttachNetworkInterface(ctx, r.Account.ID, r.Params.Get("NetworkInterfaceId"), r.Params.Get("InstanceId"))
}

func (h instanceHandlers) detach(ctx context.Context, r *Request) (any, error) {
	return empty{}, h.svc.DetachNetworkInterface(ctx, r.Account.ID, r.Params.Get("NetworkInterfaceId"), r.Params.Get("InstanceId"))
}

func (h instanceHandlers) modifyENI(ctx context.Context, r *Request) (any, error) {
	id, err := r.Params.Required("NetworkInterfaceId")
	if err != nil {
		return nil, err
	}
	in := service.ModifyENIInput{
		Name: optional(r.Params, "NetworkInterfaceName"), Description: optional(r.Params, "Description"),
	}
	ids, err := r.Params.ListIn("SecurityGroupId", IndexENIGroups)
	if err != nil {
		return nil, err
	}
	if len(ids) > 0 {
		in.SecurityGroupIDs = ids
	}
	return empty{}, h.svc.ModifyNetworkInterfaceAttribute(ctx, r.Account.ID, id, in)
}

func (h instanceHandlers) assign(ctx context.Context, r *Request) (any, error) {
	id, err := r.Params.Required("NetworkInterfaceId")
	if err != nil {
		return nil, err
	}
	count, err := r.Params.IntRange("SecondaryPrivateIpAddressCount", 0, 0, 49)
	if err != nil {
		return nil, err
	}
	ips, err := r.Params.ListItemsIn("PrivateIpAddress", IndexAssignIPs)
	if err != nil {
		return nil, err
	}
	if err := uniqueAddresses(ips); err != nil {
		return nil, err
	}
	added, err := h.svc.AssignPrivateIpAddresses(ctx, r.Account.ID, id, itemValues(ips), count)
	if err != nil {
		return nil, err
	}
	var resp struct {
		AssignedPrivateIpAddressesSet struct {
			NetworkInterfaceId string
			PrivateIpSet       struct{ PrivateIpAddress []string }
		}
	}
	resp.AssignedPrivateIpAddressesSet.NetworkInterfaceId = id
	resp.AssignedPrivateIpAddressesSet.PrivateIpSet.PrivateIpAddress = addrStrings(added)
	return resp, nil
}

func addrStrings(as []netip.Addr) []string {
	out := make([]string, 0, len(as))
	for _, a := range as {
		out = append(out, a.String())
	}
	return out
}

func (h instanceHandlers) unassign(ctx context.Context, r *Request) (any, error) {
	id, err := r.Params.Required("NetworkInterfaceId")
	if err != nil {
		return nil, err
	}
	ips, err := r.Params.ListItemsIn("PrivateIpAddress", IndexAssignIPs)
	if err != nil {
		return nil, err
	}
	if err := uniqueAddresses(ips); err != nil {
		return nil, err
	}
	return empty{}, h.svc.UnassignPrivateIpAddresses(ctx, r.Account.ID, id, itemValues(ips))
}

func (h instanceHandlers) join(ctx context.Context, r *Request) (any, error) {
	return empty{}, h.svc.JoinSecurityGroup(ctx, r.Account.ID, r.Params.Get("SecurityGroupId"),
		r.Params.Get("InstanceId"), r.Params.Get("NetworkInterfaceId"))
}

func (h instanceHandlers) leave(ctx context.Context, r *Request) (any, error) {
	return empty{}, h.svc.LeaveSecurityGroup(ctx, r.Account.ID, r.Params.Get("SecurityGroupId"),
		r.Params.Get("InstanceId"), r.Params.Get("NetworkInterfaceId"))
}
