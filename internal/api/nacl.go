package api

import (
	"context"
	"strconv"

	"github.com/palisade-project/palisade/internal/errs"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/service"
)

// Response shapes of the network ACL actions (VPC 2016-04-28); field names
// are those of github.com/aliyun/alibaba-cloud-sdk-go/services/vpc.

type ingressACLEntryItem struct {
	NetworkAclEntryId   string
	NetworkAclEntryName string
	Description         string
	Policy              string
	Protocol            string
	Port                string
	SourceCidrIp        string
	EntryType           string
	IpVersion           string
}

type egressACLEntryItem struct {
	NetworkAclEntryId   string
	NetworkAclEntryName string
	Description         string
	Policy              string
	Protocol            string
	Port                string
	DestinationCidrIp   string
	EntryType           string
	IpVersion           string
}

type aclResourceItem struct {
	ResourceId   string
	ResourceType string
	Status       string
}

type aclItem struct {
	NetworkAclId      string
	NetworkAclName    string
	Description       string
	VpcId             string
	Status            string
	RegionId          string
	OwnerId           int64
	CreationTime      string
	IngressAclEntries struct{ IngressAclEntry []ingressACLEntryItem }
	EgressAclEntries  struct{ EgressAclEntry []egressACLEntryItem }
	Resources         struct{ Resource []aclResourceItem }
	Tags              tagsWrapper
}

func ipVersion(e model.ACLEntry) string {
	if e.Cidr.Addr().Is6() {
		return "IPv6"
	}
	return "IPv4"
}

func toACLItem(region string, v service.ACLView) aclItem {
	it := aclItem{
		NetworkAclId: v.ID, NetworkAclName: v.Name, Description: v.Description, VpcId: v.VpcID,
		Status: v.Status, RegionId: region, OwnerId: ownerID(v.AccountID), CreationTime: formatTime(v.CreatedAt),
		Tags: toTags(v.Tags),
	}
	it.IngressAclEntries.IngressAclEntry = make([]ingressACLEntryItem, 0, len(v.Ingress))
	for _, e := range v.Ingress {
		it.IngressAclEntries.IngressAclEntry = append(it.IngressAclEntries.IngressAclEntry, ingressACLEntryItem{
			NetworkAclEntryId: e.ID, NetworkAclEntryName: e.Name, Description: e.Description, Policy: e.Policy,
			Protocol: e.Protocol, Port: service.FormatPortRange(e.Ports), SourceCidrIp: e.Cidr.String(),
			EntryType: e.EntryType, IpVersion: ipVersion(e),
		})
	}
	it.EgressAclEntries.EgressAclEntry = make([]egressACLEntryItem, 0, len(v.Egress))
	for _, e := range v.Egress {
		it.EgressAclEntries.EgressAclEntry = append(it.EgressAclEntries.EgressAclEntry, egressACLEntryItem{
			NetworkAclEntryId: e.ID, NetworkAclEntryName: e.Name, Description: e.Description, Policy: e.Policy,
			Protocol: e.Protocol, Port: service.FormatPortRange(e.Ports), DestinationCidrIp: e.Cidr.String(),
			EntryType: e.EntryType, IpVersion: ipVersion(e),
		})
	}
	it.Resources.Resource = make([]aclResourceItem, 0, len(v.VSwitchIDs))
	for _, id := range v.VSwitchIDs {
		it.Resources.Resource = append(it.Resources.Resource, aclResourceItem{ResourceId: id, ResourceType: "VSwitch", Status: "BINDED"})
	}
	return it
}

// aclEntrySpecs reads the "<prefix>.N.*" entries in index order (N from
// 0 to 99: the list's order is the entries' priority, index 0 first);
// cidrField is SourceCidrIp or DestinationCidrIp.
func aclEntrySpecs(p Params, prefix, cidrField string) ([]service.ACLEntrySpec, error) {
	items, err := p.StructsIn(prefix, IndexACLEntries)
	if err != nil {
		return nil, err
	}
	out := make([]service.ACLEntrySpec, 0, len(items))
	for _, it := range items {
		s := it.Fields
		out = append(out, service.ACLEntrySpec{
			Param: it.Param,
			ID:    s.Get("NetworkAclEntryId"), Name: s.Get("NetworkAclEntryName"), Description: s.Get("Description"),
			Policy: s.Get("Policy"), Protocol: s.Get("Protocol"), Port: s.Get("Port"), Cidr: s.Get(cidrField),
			EntryType: s.Get("EntryType"), IPVersion: s.Get("IpVersion"),
		})
	}
	return out, nil
}

// aclEntryLists reads both directions' entry lists.
func aclEntryLists(p Params) (ingress, egress []service.ACLEntrySpec, err error) {
	if ingress, err = aclEntrySpecs(p, "IngressAclEntries", "SourceCidrIp"); err != nil {
		return nil, nil, err
	}
	if egress, err = aclEntrySpecs(p, "EgressAclEntries", "DestinationCidrIp"); err != nil {
		return nil, nil, err
	}
	return ingress, egress, nil
}

// aclResources reads Resource.N in index order: at most 30 resources, N
// from 0 (see IndexACLResources).
func aclResources(p Params) ([]service.ACLResource, error) {
	items, err := p.StructsIn("Resource", IndexACLResources)
	if err != nil {
		return nil, err
	}
	if len(items) > 30 {
		return nil, errs.InvalidParameter("Resource.N", "at most 30 resources per call, got %d", len(items))
	}
	out := make([]service.ACLResource, 0, len(items))
	for _, it := range items {
		out = append(out, service.ACLResource{Param: it.Param, ID: it.Fields.Get("ResourceId"), Type: it.Fields.Get("ResourceType")})
	}
	return out, nil
}

// RegisterNetworkACLs registers the network ACL actions.
func RegisterNetworkACLs(rt *Router, svc *service.Service) {
	rt.HandleDryRun(VersionVPC, "CreateNetworkAcl", func(ctx context.Context, r *Request) (any, error) {
		tags, err := r.Params.Tags("Tag")
		if err != nil {
			return nil, err
		}
		dry, err := r.Params.Bool("DryRun", false)
		if err != nil {
			return nil, err
		}
		ingress, egress, err := aclEntryLists(r.Params)
		if err != nil {
			return nil, err
		}
		a, err := svc.CreateNetworkAcl(ctx, r.Account.ID, service.CreateNetworkAclInput{
			VpcID: r.Params.Get("VpcId"), Name: r.Params.Get("NetworkAclName"), Description: r.Params.Get("Description"),
			Ingress: ingress, Egress: egress,
			Tags: tags, ClientToken: r.Params.Get("ClientToken"), DryRun: dry,
		})
		if err != nil {
			return nil, err
		}
		return struct {
			NetworkAclId        string
			NetworkAclAttribute aclItem
		}{a.ID, toACLItem(svc.Region(), service.ACLView{NetworkACL: a, VSwitchIDs: []string{}})}, nil
	})
	rt.Handle(VersionVPC, "DescribeNetworkAcls", func(ctx context.Context, r *Request) (any, error) {
		pg, err := r.Params.PageOnly(10, 100)
		if err != nil {
			return nil, err
		}
		tags, err := r.Params.Tags("Tags")
		if err != nil {
			return nil, err
		}
		list, err := svc.DescribeNetworkAcls(ctx, r.Account.ID, service.ACLFilter{
			ID: r.Params.Get("NetworkAclId"), VpcID: r.Params.Get("VpcId"), Name: r.Params.Get("NetworkAclName"),
			ResourceID: r.Params.Get("ResourceId"), Tags: tags,
		})
		if err != nil {
			return nil, err
		}
		page, total, _ := Paginate(list, pg)
		var resp struct {
			TotalCount  string
			PageNumber  string
			PageSize    string
			NetworkAcls struct{ NetworkAcl []aclItem }
		}
		resp.TotalCount, resp.PageNumber, resp.PageSize = strconv.Itoa(total), strconv.Itoa(pg.Number), strconv.Itoa(pg.Size)
		resp.NetworkAcls.NetworkAcl = make([]aclItem, 0, len(page))
		for _, v := range page {
			resp.NetworkAcls.NetworkAcl = append(resp.NetworkAcls.NetworkAcl, toACLItem(svc.Region(), v))
		}
		return resp, nil
	})
	rt.Handle(VersionVPC, "DescribeNetworkAclAttributes", func(ctx context.Context, r *Request) (any, error) {
		id, err := r.Params.Required("NetworkAclId")
		if err != nil {
			return nil, err
		}
		v, err := svc.DescribeNetworkAclAttributes(ctx, r.Account.ID, id)
		if err != nil {
			return nil, err
		}
		return struct{ NetworkAclAttribute aclItem }{toACLItem(svc.Region(), v)}, nil
	})
	rt.Handle(VersionVPC, "ModifyNetworkAclAttributes", func(ctx context.Context, r *Request) (any, error) {
		id, err := r.Params.Required("NetworkAclId")
		if err != nil {
			return nil, err
		}
		return empty{}, svc.ModifyNetworkAclAttributes(ctx, r.Account.ID, id,
			optional(r.Params, "NetworkAclName"), optional(r.Params, "Description"))
	})
	rt.Handle(VersionVPC, "UpdateNetworkAclEntries", func(ctx context.Context, r *Request) (any, error) {
		id, err := r.Params.Required("NetworkAclId")
		if err != nil {
			return nil, err
		}
		updIn, err := r.Params.Bool("UpdateIngressAclEntries", false)
		if err != nil {
			return nil, err
		}
		updOut, err := r.Params.Bool("UpdateEgressAclEntries", false)
		if err != nil {
			return nil, err
		}
		ingress, egress, err := aclEntryLists(r.Params)
		if err != nil {
			return nil, err
		}
		return empty{}, svc.UpdateNetworkAclEntries(ctx, r.Account.ID, id, updIn, ingress, updOut, egress)
	})
	rt.Handle(VersionVPC, "AssociateNetworkAcl", func(ctx context.Context, r *Request) (any, error) {
		id, err := r.Params.Required("NetworkAclId")
		if err != nil {
			return nil, err
		}
		rs, err := aclResources(r.Params)
		if err != nil {
			return nil, err
		}
		return empty{}, svc.AssociateNetworkAcl(ctx, r.Account.ID, id, rs)
	})
	rt.Handle(VersionVPC, "UnassociateNetworkAcl", func(ctx context.Context, r *Request) (any, error) {
		id, err := r.Params.Required("NetworkAclId")
		if err != nil {
			return nil, err
		}
		rs, err := aclResources(r.Params)
		if err != nil {
			return nil, err
		}
		return empty{}, svc.UnassociateNetworkAcl(ctx, r.Account.ID, id, rs)
	})
	rt.Handle(VersionVPC, "CopyNetworkAclEntries", func(ctx context.Context, r *Request) (any, error) {
		id, err := r.Params.Required("NetworkAclId")
		if err != nil {
			return nil, err
		}
		return empty{}, svc.CopyNetworkAclEntries(ctx, r.Account.ID, id, r.Params.Get("SourceNetworkAclId"))
	})
	rt.Handle(VersionVPC, "DeleteNetworkAcl", func(ctx context.Context, r *Request) (any, error) {
		id, err := r.Params.Required("NetworkAclId")
		if err != nil {
			return nil, err
		}
		return empty{}, svc.DeleteNetworkAcl(ctx, r.Account.ID, id)
	})
}
