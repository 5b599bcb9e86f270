package api

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/palisade-project/palisade/internal/errs"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/service"
)

// PrivateLink actions (Privatelink 2020-04-15); semantics and error codes
// in service/privatelink.go. Response names are those of
// github.com/aliyun/alibaba-cloud-sdk-go/services/privatelink; the lists
// are bare arrays ("Services":[...], "Endpoints":[...], "Users":[...],
// "Zones":[...]), not the classic wrapped lists.

// Index ranges of the PrivateLink lists: syntactic caps (the service
// checks the quotas and answers QuotaExceeded).
var (
	IndexServiceResources = Indexes{1, 100} // CreateVpcEndpointService Resource.N
	IndexEndpointZones    = Indexes{1, 100} // CreateVpcEndpoint Zone.N
)

// Paging of the PrivateLink lists: NextToken/MaxResults only. The lists
// of services, endpoints and connections take MaxResults 1-1000, the
// others (users, resources, groups, zones) 1-50; the default is 50.
var (
	PageEndpointServices          = PageLimits{Scope: "ListVpcEndpointServices", DefaultResults: 50, MinResults: 1, MaxResults: 1000}
	PageEndpointServicesByEndUser = PageLimits{Scope: "ListVpcEndpointServicesByEndUser", DefaultResults: 50, MinResults: 1, MaxResults: 1000}
	PageEndpoints                 = PageLimits{Scope: "ListVpcEndpoints", DefaultResults: 50, MinResults: 1, MaxResults: 1000}
	PageEndpointConnections       = PageLimits{Scope: "ListVpcEndpointConnections", DefaultResults: 50, MinResults: 1, MaxResults: 1000}
	PageEndpointServiceUsers      = PageLimits{Scope: "ListVpcEndpointServiceUsers", DefaultResults: 50, MinResults: 1, MaxResults: 50}
	PageEndpointServiceResources  = PageLimits{Scope: "ListVpcEndpointServiceResources", DefaultResults: 50, MinResults: 1, MaxResults: 50}
	PageEndpointSecurityGroups    = PageLimits{Scope: "ListVpcEndpointSecurityGroups", DefaultResults: 50, MinResults: 1, MaxResults: 50}
	PageEndpointZones             = PageLimits{Scope: "ListVpcEndpointZones", DefaultResults: 50, MinResults: 1, MaxResults: 50}
)

// epoch is the page position of list items without a creation time
// (users, resources, groups, zones): they page by their ID alone.
var epoch = time.Unix(0, 0)

type plTag struct{ Key, Value string }

func toPLTags(ts []model.Tag) []plTag {
	out := make([]plTag, 0, len(ts))
	for _, t := range ts {
		out = append(out, plTag{t.Key, t.Value})
	}
	return out
}

// plServiceItem is a service as ListVpcEndpointServices(ByEndUser) and
// GetVpcEndpointServiceAttribute show it.
type plServiceItem struct {
	ServiceId             string
	ServiceName           string
	ServiceDomain         string
	ServiceDescription    string
	ServiceStatus         string
	ServiceBusinessStatus string
	ServiceResourceType   string
	ServiceType           string
	Payer                 string
	RegionId              string
	ResourceGroupId       string
	CreateTime            string
	PrivateServiceName    string
	AutoAcceptEnabled     bool
	ZoneAffinityEnabled   bool
	ServiceSupportIPv6    bool
	MaxBandwidth          int
	MinBandwidth          int
	ConnectBandwidth      int
	Zones                 []string
	Tags                  []plTag
}

func toPLServiceItem(sv model.EndpointService) plServiceItem {
	return plServiceItem{
		ServiceId: sv.ID, ServiceName: sv.Name, ServiceDomain: sv.Domain, ServiceDescription: sv.Description,
		ServiceStatus: sv.Status, ServiceBusinessStatus: service.PrivateLinkBusinessOK, ServiceResourceType: sv.Type(),
		ServiceType: service.EndpointTypeInterface, Payer: service.EndpointPayer, RegionId: sv.RegionID, ResourceGroupId: sv.ResourceGroupID,
		CreateTime: formatTime(sv.CreatedAt), AutoAcceptEnabled: sv.AutoAccept, Zones: service.ServiceZones(&sv), Tags: toPLTags(sv.Tags),
	}
}

// plEndpointItem is an endpoint as ListVpcEndpoints,
// GetVpcEndpointAttribute and CreateVpcEndpoint show it.
type plEndpointItem struct {
	EndpointId                string
	EndpointName              string
	EndpointDescription       string
	EndpointType              string
	EndpointStatus            string
	EndpointBusinessStatus    string
	EndpointDomain            string
	ConnectionStatus          string
	ServiceId                 string
	ServiceName               string
	VpcId                     string
	RegionId                  string
	ResourceGroupId           string
	CreateTime                string
	Payer                     string
	PrivateServiceName        string
	ResourceOwner             bool
	ZoneAffinityEnabled       bool
	Bandwidth                 int
	ZonePrivateIpAddressCount int
	Tags                      []plTag
}

func toPLEndpointItem(ep model.Endpoint) plEndpointItem {
	return plEndpointItem{
		EndpointId: ep.ID, EndpointName: ep.Name, EndpointDescription: ep.Description, EndpointType: service.EndpointTypeInterface,
		EndpointStatus: ep.Status, EndpointBusinessStatus: service.PrivateLinkBusinessOK, EndpointDomain: ep.Domain,
		ConnectionStatus: ep.ConnectionStatus, ServiceId: ep.ServiceID, ServiceName: ep.ServiceName, VpcId: ep.VpcID,
		RegionId: ep.RegionID, ResourceGroupId: ep.ResourceGroupID, CreateTime: formatTime(ep.CreatedAt), Payer: service.EndpointPayer,
		ResourceOwner: ep.AccountID == ep.ServiceAccountID, ZonePrivateIpAddressCount: 1, Tags: toPLTags(ep.Tags),
	}
}

// zoneStatus is a zone's status as the API shows it: the endpoint's
// connection.
func zoneStatus(ep model.Endpoint) string {
	if ep.ConnectionStatus == model.EndpointConnected {
		return model.EndpointConnected
	}
	return model.EndpointDisconnected
}

type plZoneItem struct {
	ZoneId     string
	VSwitchId  string
	EniId      string
	EniIp      string
	ZoneDomain string
	ZoneStatus string
	RegionId   string
}

type plConnectionItem struct {
	EndpointId       string
	EndpointOwnerId  int64
	EndpointVpcId    string
	ServiceId        string
	ConnectionStatus string
	ModifiedTime     string
	ResourceGroupId  string
	ResourceOwner    bool
	Bandwidth        int
	Zones            []plConnZone
}

// plConnZone is a zone of a connection as the provider sees it: no
// consumer vSwitch or ENI; EniIp is the zone's transit address (the
// source address the service's instances see).
type plConnZone struct {
	ZoneId     string
	EniIp      string
	ZoneStatus string
	RegionId   string
}

func toPLConnectionItem(ep model.Endpoint) plConnectionItem {
	owner, _ := strconv.ParseInt(ep.AccountID, 10, 64)
	it := plConnectionItem{
		EndpointId: ep.ID, EndpointOwnerId: owner, EndpointVpcId: ep.VpcID, ServiceId: ep.ServiceID,
		ConnectionStatus: ep.ConnectionStatus, ModifiedTime: formatTime(ep.ConnectionChangedAt),
		ResourceOwner: ep.AccountID == ep.ServiceAccountID, Zones: make([]plConnZone, 0, len(ep.Zones)),
	}
	for _, z := range ep.Zones {
		it.Zones = append(it.Zones, plConnZone{ZoneId: z.ZoneID, EniIp: z.TransitAddr.String(), ZoneStatus: zoneStatus(ep), RegionId: ep.RegionID})
	}
	return it
}

// serviceQuery reads the filters of ListVpcEndpointServices(ByEndUser).
func serviceQuery(p Params) (service.EndpointServiceQuery, error) {
	q := service.EndpointServiceQuery{
		ID: p.Get("ServiceId"), Name: p.Get("ServiceName"), Status: p.Get("ServiceStatus"),
		ResourceType: p.Get("ServiceResourceType"), ResourceID: p.Get("ResourceId"), ServiceType: p.Get("ServiceType"),
		ResourceGroupID: p.Get("ResourceGroupId"),
	}
	var err error
	if q.AutoAccept, err = optionalBool(p, "AutoAcceptEnabled"); err != nil {
		return q, err
	}
	if q.ZoneAffinity, err = optionalBool(p, "ZoneAffinityEnabled"); err != nil {
		return q, err
	}
	q.Tags, err = p.Tags("Tag")
	return q, err
}

// serviceSettings reads the service settings Palisade refuses unless at
// their defaults.
func serviceSettings(p Params) (service.EndpointServiceSettings, error) {
	x := service.EndpointServiceSettings{Payer: p.Get("Payer"), PrivateServiceDomain: p.Get("PrivateServiceDomain")}
	var err error
	if x.ZoneAffinityEnabled, err = p.Bool("ZoneAffinityEnabled", false); err != nil {
		return x, err
	}
	if x.ServiceSupportIPv6, err = p.Bool("ServiceSupportIPv6", false); err != nil {
		return x, err
	}
	if x.PrivateServiceDomainEnabled, err = p.Bool("PrivateServiceDomainEnabled", false); err != nil {
		return x, err
	}
	return x, nil
}

// resourceSpec reads the top-level resource of Attach/DetachResource....
func resourceSpec(p Params) service.ServiceResourceSpec {
	return service.ServiceResourceSpec{ResourceType: p.Get("ResourceType"), ResourceID: p.Get("ResourceId"), ZoneID: p.Get("ZoneId")}
}

// userIDParam reads UserId, an integer in the SDK (a non-number is the
// service's IllegalParam.UserId).
func userIDParam(p Params) string { return strings.TrimSpace(p.Get("UserId")) }

// RegisterPrivateLink registers the PrivateLink actions.
func RegisterPrivateLink(rt *Router, svc *service.Service) {
	v := VersionPrivateLink

	// Services (the provider).
	rt.HandleDryRun(v, "CreateVpcEndpointService", func(ctx context.Context, r *Request) (any, error) {
		p := r.Params
		dry, token, err := dryRunToken(p)
		if err != nil {
			return nil, err
		}
		in := service.CreateEndpointServiceInput{
			ServiceResourceType: p.Get("ServiceResourceType"), Description: p.Get("ServiceDescription"),
			ResourceGroupID: p.Get("ResourceGroupId"), ClientToken: token, DryRun: dry,
		}
		if in.AutoAccept, err = p.Bool("AutoAcceptEnabled", false); err != nil {
			return nil, err
		}
		if in.Settings, err = serviceSettings(p); err != nil {
			return nil, err
		}
		if in.Tags, err = p.Tags("Tag"); err != nil {
			return nil, err
		}
		items, err := p.StructsIn("Resource", IndexServiceResources)
		if err != nil {
			return nil, err
		}
		for _, it := range items {
			in.Resources = append(in.Resources, service.ServiceResourceSpec{
				Param: it.Param, ResourceType: it.Fields.Get("ResourceType"), ResourceID: it.Fields.Get("ResourceId"), ZoneID: it.Fields.Get("ZoneId"),
			})
		}
		sv, err := svc.CreateVpcEndpointService(ctx, r.Account.ID, in)
		if err != nil {
			return nil, err
		}
		return struct {
			ServiceId, ServiceName, ServiceDomain, ServiceDescription  string
			ServiceStatus, ServiceBusinessStatus, CreateTime           string
			ResourceGroupId                                            string
			AutoAcceptEnabled, ZoneAffinityEnabled, ServiceSupportIPv6 bool
		}{sv.ID, sv.Name, sv.Domain, sv.Description, sv.Status, service.PrivateLinkBusinessOK, formatTime(sv.CreatedAt),
			sv.ResourceGroupID, sv.AutoAccept, false, false}, nil
	})
	rt.Handle(v, "GetVpcEndpointServiceAttribute", func(ctx context.Context, r *Request) (any, error) {
		sv, err := svc.GetVpcEndpointServiceAttribute(ctx, r.Account.ID, r.Params.Get("ServiceId"))
		if err != nil {
			return nil, err
		}
		return toPLServiceItem(sv), nil
	})
	rt.HandleDryRun(v, "UpdateVpcEndpointServiceAttribute", func(ctx context.Context, r *Request) (any, error) {
		p := r.Params
		dry, token, err := dryRunToken(p)
		if err != nil {
			return nil, err
		}
		in := service.UpdateEndpointServiceInput{Description: optional(p, "ServiceDescription"), ClientToken: token, DryRun: dry}
		if in.AutoAccept, err = optionalBool(p, "AutoAcceptEnabled"); err != nil {
			return nil, err
		}
		if in.Settings, err = serviceSettings(p); err != nil {
			return nil, err
		}
		if in.Settings.ConnectBandwidth, err = optionalInt(p, "ConnectBandwidth"); err != nil {
			return nil, err
		}
		return empty{}, svc.UpdateVpcEndpointServiceAttribute(ctx, r.Account.ID, p.Get("ServiceId"), in)
	})
	listServices := func(page PageLimits, list func(context.Context, string, service.EndpointServiceQuery) ([]model.EndpointService, error), totalString bool) Handler {
		return func(ctx context.Context, r *Request) (any, error) {
			pg, err := r.Params.PagingFor(page)
			if err != nil {
				return nil, err
			}
			q, err := serviceQuery(r.Params)
			if err != nil {
				return nil, err
			}
			all, err := list(ctx, r.Account.ID, q)
			if err != nil {
				return nil, err
			}
			items, total, next := PaginateKeyset(all, pg, func(sv model.EndpointService) (time.Time, string) { return sv.CreatedAt, sv.ID })
			out := make([]plServiceItem, 0, len(items))
			for _, sv := range items {
				out = append(out, toPLServiceItem(sv))
			}
			if totalString {
				return struct {
					NextToken  string
					MaxResults int
					TotalCount string
					Services   []plServiceItem
				}{next, pg.MaxResults, strconv.Itoa(total), out}, nil
			}
			return struct {
				NextToken  string
				MaxResults int
				TotalCount int
				Services   []plServiceItem
			}{next, pg.MaxResults, total, out}, nil
		}
	}
	rt.Handle(v, "ListVpcEndpointServices", listServices(PageEndpointServices, svc.ListVpcEndpointServices, false))
	rt.Handle(v, "ListVpcEndpointServicesByEndUser", listServices(PageEndpointServicesByEndUser, svc.ListVpcEndpointServicesByEndUser, true))
	rt.HandleDryRun(v, "DeleteVpcEndpointService", func(ctx context.Context, r *Request) (any, error) {
		dry, token, err := dryRunToken(r.Params)
		if err != nil {
			return nil, err
		}
		return empty{}, svc.DeleteVpcEndpointService(ctx, r.Account.ID, r.Params.Get("ServiceId"), token, dry)
	})
	for action, fn := range map[string]func(context.Context, string, string, service.ServiceResourceSpec, string, bool) error{
		"AttachResourceToVpcEndpointService":   svc.AttachResourceToVpcEndpointService,
		"DetachResourceFromVpcEndpointService": svc.DetachResourceFromVpcEndpointService,
	} {
		rt.HandleDryRun(v, action, func(ctx context.Context, r *Request) (any, error) {
			dry, token, err := dryRunToken(r.Params)
			if err != nil {
				return nil, err
			}
			return empty{}, fn(ctx, r.Account.ID, r.Params.Get("ServiceId"), resourceSpec(r.Params), token, dry)
		})
	}
	rt.Handle(v, "ListVpcEndpointServiceResources", func(ctx context.Context, r *Request) (any, error) {
		pg, err := r.Params.PagingFor(PageEndpointServiceResources)
		if err != nil {
			return nil, err
		}
		all, err := svc.ListVpcEndpointServiceResources(ctx, r.Account.ID, r.Params.Get("ServiceId"), r.Params.Get("ZoneId"))
		if err != nil {
			return nil, err
		}
		items, _, next := PaginateKeyset(all, pg, func(v service.ServiceResourceView) (time.Time, string) { return epoch, v.ResourceID })
		type resourceItem struct {
			ResourceId, ResourceType, ZoneId, VpcId, VSwitchId, Ip, RegionId, StatusInfo string
			RelatedEndpointCount, RelatedDeprecatedEndpointCount                         int
			AutoAllocatedEnabled, ResourceSupportIPv6                                    bool
		}
		out := make([]resourceItem, 0, len(items))
		for _, v := range items {
			ip := ""
			if v.IP.IsValid() {
				ip = v.IP.String()
			}
			out = append(out, resourceItem{ResourceId: v.ResourceID, ResourceType: v.ResourceType, ZoneId: v.ZoneID, VpcId: v.VpcID,
				VSwitchId: v.VSwitchID, Ip: ip, RegionId: svc.Region(), RelatedEndpointCount: v.RelatedEndpoints})
		}
		return struct {
			NextToken  string
			MaxResults int
			Resources  []resourceItem
		}{next, pg.MaxResults, out}, nil
	})

	// Users of a service.
	for action, fn := range map[string]func(context.Context, string, string, string, string, string, bool) error{
		"AddUserToVpcEndpointService":      svc.AddUserToVpcEndpointService,
		"RemoveUserFromVpcEndpointService": svc.RemoveUserFromVpcEndpointService,
	} {
		rt.HandleDryRun(v, action, func(ctx context.Context, r *Request) (any, error) {
			dry, token, err := dryRunToken(r.Params)
			if err != nil {
				return nil, err
			}
			return empty{}, fn(ctx, r.Account.ID, r.Params.Get("ServiceId"), userIDParam(r.Params), r.Params.Get("UserARN"), token, dry)
		})
	}
	rt.Handle(v, "ListVpcEndpointServiceUsers", func(ctx context.Context, r *Request) (any, error) {
		pg, err := r.Params.PagingFor(PageEndpointServiceUsers)
		if err != nil {
			return nil, err
		}
		if _, err := r.Params.Int("UserId", 0); err != nil {
			return nil, err
		}
		listType := r.Params.Get("UserListType")
		if listType != "" && listType != "UserId" && listType != "UserARN" {
			return nil, errs.InvalidParam("IllegalParam.UserListType", "The specified UserListType %q is not valid; use UserId (or UserARN, always empty: Palisade has no RAM).", listType)
		}
		users, err := svc.ListVpcEndpointServiceUsers(ctx, r.Account.ID, r.Params.Get("ServiceId"), userIDParam(r.Params))
		if err != nil {
			return nil, err
		}
		if listType == "UserARN" {
			users = nil
		}
		items, total, next := PaginateKeyset(users, pg, func(u string) (time.Time, string) { return epoch, u })
		type user struct{ UserId int64 }
		out := make([]user, 0, len(items))
		for _, u := range items {
			n, _ := strconv.ParseInt(u, 10, 64)
			out = append(out, user{n})
		}
		return struct {
			NextToken  string
			MaxResults int
			TotalCount string
			Users      []user
			UserARNs   []struct{ UserARN string }
		}{next, pg.MaxResults, strconv.Itoa(total), out, []struct{ UserARN string }{}}, nil
	})

	// Connections (the provider's view).
	rt.Handle(v, "ListVpcEndpointConnections", func(ctx context.Context, r *Request) (any, error) {
		p := r.Params
		pg, err := p.PagingFor(PageEndpointConnections)
		if err != nil {
			return nil, err
		}
		if _, err := p.Int("EndpointOwnerId", 0); err != nil {
			return nil, err
		}
		all, err := svc.ListVpcEndpointConnections(ctx, r.Account.ID, service.ConnectionQuery{
			ServiceID: p.Get("ServiceId"), EndpointID: p.Get("EndpointId"), EndpointOwnerID: strings.TrimSpace(p.Get("EndpointOwnerId")),
			ConnectionStatus: p.Get("ConnectionStatus"), ZoneID: p.Get("ZoneId"),
		})
		if err != nil {
			return nil, err
		}
		items, total, next := PaginateKeyset(all, pg, func(ep model.Endpoint) (time.Time, string) { return ep.CreatedAt, ep.ID })
		out := make([]plConnectionItem, 0, len(items))
		for _, ep := range items {
			out = append(out, toPLConnectionItem(ep))
		}
		return struct {
			NextToken   string
			MaxResults  int
			TotalCount  string
			Connections []plConnectionItem
		}{next, pg.MaxResults, strconv.Itoa(total), out}, nil
	})
	rt.HandleDryRun(v, "EnableVpcEndpointConnection", func(ctx context.Context, r *Request) (any, error) {
		dry, token, err := dryRunToken(r.Params)
		if err != nil {
			return nil, err
		}
		bw, err := optionalInt(r.Params, "Bandwidth")
		if err != nil {
			return nil, err
		}
		return empty{}, svc.EnableVpcEndpointConnection(ctx, r.Account.ID, r.Params.Get("ServiceId"), r.Params.Get("EndpointId"), bw, token, dry)
	})
	rt.HandleDryRun(v, "DisableVpcEndpointConnection", func(ctx context.Context, r *Request) (any, error) {
		dry, token, err := dryRunToken(r.Params)
		if err != nil {
			return nil, err
		}
		return empty{}, svc.DisableVpcEndpointConnection(ctx, r.Account.ID, r.Params.Get("ServiceId"), r.Params.Get("EndpointId"), token, dry)
	})

	// Endpoints (the consumer).
	rt.HandleDryRun(v, "CreateVpcEndpoint", func(ctx context.Context, r *Request) (any, error) {
		p := r.Params
		dry, token, err := dryRunToken(p)
		if err != nil {
			return nil, err
		}
		in := service.CreateEndpointInput{
			VpcID: p.Get("VpcId"), ServiceID: p.Get("ServiceId"), ServiceName: p.Get("ServiceName"),
			Name: p.Get("EndpointName"), Description: p.Get("EndpointDescription"), EndpointType: p.Get("EndpointType"),
			ResourceGroupID: p.Get("ResourceGroupId"), ClientToken: token, DryRun: dry,
		}
		if in.SecurityGroupIDs, err = p.ListIn("SecurityGroupId", IndexENIGroups); err != nil {
			return nil, err
		}
		items, err := p.StructsIn("Zone", IndexEndpointZones)
		if err != nil {
			return nil, err
		}
		for _, it := range items {
			in.Zones = append(in.Zones, service.EndpointZoneSpec{
				Param: it.Param, ZoneID: it.Fields.Get("ZoneId"), VSwitchID: it.Fields.Get("VSwitchId"), IP: it.Fields.Get("ip"),
			})
		}
		if in.ZonePrivateIPCount, err = optionalInt(p, "ZonePrivateIpAddressCount"); err != nil {
			return nil, err
		}
		if in.Protected, err = p.Bool("ProtectedEnabled", false); err != nil {
			return nil, err
		}
		if in.Tags, err = p.Tags("Tag"); err != nil {
			return nil, err
		}
		ep, err := svc.CreateVpcEndpoint(ctx, r.Account.ID, in)
		if err != nil {
			return nil, err
		}
		it := toPLEndpointItem(ep)
		return struct {
			EndpointId, EndpointName, EndpointDescription, EndpointDomain string
			EndpointStatus, EndpointBusinessStatus, ConnectionStatus      string
			ServiceId, ServiceName, VpcId, CreateTime                     string
			Bandwidth                                                     int
		}{it.EndpointId, it.EndpointName, it.EndpointDescription, it.EndpointDomain, it.EndpointStatus, it.EndpointBusinessStatus,
			it.ConnectionStatus, it.ServiceId, it.ServiceName, it.VpcId, it.CreateTime, 0}, nil
	})
	rt.Handle(v, "GetVpcEndpointAttribute", func(ctx context.Context, r *Request) (any, error) {
		ep, err := svc.GetVpcEndpointAttribute(ctx, r.Account.ID, r.Params.Get("EndpointId"))
		if err != nil {
			return nil, err
		}
		return toPLEndpointItem(ep), nil
	})
	rt.HandleDryRun(v, "UpdateVpcEndpointAttribute", func(ctx context.Context, r *Request) (any, error) {
		dry, token, err := dryRunToken(r.Params)
		if err != nil {
			return nil, err
		}
		return empty{}, svc.UpdateVpcEndpointAttribute(ctx, r.Account.ID, r.Params.Get("EndpointId"),
			optional(r.Params, "EndpointName"), optional(r.Params, "EndpointDescription"), token, dry)
	})
	rt.Handle(v, "ListVpcEndpoints", func(ctx context.Context, r *Request) (any, error) {
		p := r.Params
		pg, err := p.PagingFor(PageEndpoints)
		if err != nil {
			return nil, err
		}
		q := service.EndpointQuery{
			ID: p.Get("EndpointId"), Name: p.Get("EndpointName"), Status: p.Get("EndpointStatus"), Type: p.Get("EndpointType"),
			ServiceName: p.Get("ServiceName"), ConnectionStatus: p.Get("ConnectionStatus"), VpcID: p.Get("VpcId"),
			ResourceGroupID: p.Get("ResourceGroupId"),
		}
		if q.Tags, err = p.Tags("Tag"); err != nil {
			return nil, err
		}
		all, err := svc.ListVpcEndpoints(ctx, r.Account.ID, q)
		if err != nil {
			return nil, err
		}
		items, total, next := PaginateKeyset(all, pg, func(ep model.Endpoint) (time.Time, string) { return ep.CreatedAt, ep.ID })
		out := make([]plEndpointItem, 0, len(items))
		for _, ep := range items {
			out = append(out, toPLEndpointItem(ep))
		}
		return struct {
			NextToken  string
			MaxResults int
			TotalCount int
			Endpoints  []plEndpointItem
		}{next, pg.MaxResults, total, out}, nil
	})
	rt.HandleDryRun(v, "DeleteVpcEndpoint", func(ctx context.Context, r *Request) (any, error) {
		dry, token, err := dryRunToken(r.Params)
		if err != nil {
			return nil, err
		}
		if _, err := r.Params.Bool("Force", false); err != nil {
			return nil, err
		}
		return empty{}, svc.DeleteVpcEndpoint(ctx, r.Account.ID, r.Params.Get("EndpointId"), token, dry)
	})
	for action, fn := range map[string]func(context.Context, string, string, string, string, bool) error{
		"AttachSecurityGroupToVpcEndpoint":   svc.AttachSecurityGroupToVpcEndpoint,
		"DetachSecurityGroupFromVpcEndpoint": svc.DetachSecurityGroupFromVpcEndpoint,
	} {
		rt.HandleDryRun(v, action, func(ctx context.Context, r *Request) (any, error) {
			dry, token, err := dryRunToken(r.Params)
			if err != nil {
				return nil, err
			}
			return empty{}, fn(ctx, r.Account.ID, r.Params.Get("EndpointId"), r.Params.Get("SecurityGroupId"), token, dry)
		})
	}
	rt.Handle(v, "ListVpcEndpointSecurityGroups", func(ctx context.Context, r *Request) (any, error) {
		pg, err := r.Params.PagingFor(PageEndpointSecurityGroups)
		if err != nil {
			return nil, err
		}
		ep, err := svc.GetVpcEndpointAttribute(ctx, r.Account.ID, r.Params.Get("EndpointId"))
		if err != nil {
			return nil, err
		}
		items, _, next := PaginateKeyset(ep.SecurityGroupIDs, pg, func(id string) (time.Time, string) { return epoch, id })
		type group struct{ SecurityGroupId string }
		out := make([]group, 0, len(items))
		for _, id := range items {
			out = append(out, group{id})
		}
		return struct {
			NextToken      string
			MaxResults     int
			SecurityGroups []group
		}{next, pg.MaxResults, out}, nil
	})
	rt.HandleDryRun(v, "AddZoneToVpcEndpoint", func(ctx context.Context, r *Request) (any, error) {
		p := r.Params
		dry, token, err := dryRunToken(p)
		if err != nil {
			return nil, err
		}
		return empty{}, svc.AddZoneToVpcEndpoint(ctx, r.Account.ID, p.Get("EndpointId"),
			service.EndpointZoneSpec{ZoneID: p.Get("ZoneId"), VSwitchID: p.Get("VSwitchId"), IP: p.Get("ip")}, token, dry)
	})
	rt.HandleDryRun(v, "RemoveZoneFromVpcEndpoint", func(ctx context.Context, r *Request) (any, error) {
		dry, token, err := dryRunToken(r.Params)
		if err != nil {
			return nil, err
		}
		return empty{}, svc.RemoveZoneFromVpcEndpoint(ctx, r.Account.ID, r.Params.Get("EndpointId"), r.Params.Get("ZoneId"), token, dry)
	})
	rt.Handle(v, "ListVpcEndpointZones", func(ctx context.Context, r *Request) (any, error) {
		pg, err := r.Params.PagingFor(PageEndpointZones)
		if err != nil {
			return nil, err
		}
		ep, err := svc.GetVpcEndpointAttribute(ctx, r.Account.ID, r.Params.Get("EndpointId"))
		if err != nil {
			return nil, err
		}
		items, _, next := PaginateKeyset(ep.Zones, pg, func(z model.EndpointZone) (time.Time, string) { return epoch, z.ZoneID })
		out := make([]plZoneItem, 0, len(items))
		for _, z := range items {
			out = append(out, plZoneItem{ZoneId: z.ZoneID, VSwitchId: z.VSwitchID, EniId: z.ENIID, EniIp: z.Addr.String(),
				ZoneDomain: service.EndpointZoneDomain(&ep, z.ZoneID), ZoneStatus: zoneStatus(ep), RegionId: ep.RegionID})
		}
		return struct {
			NextToken  string
			MaxResults int
			Zones      []plZoneItem
		}{next, pg.MaxResults, out}, nil
	})
}
