package api

import (
	"context"
	"strconv"
	"time"

	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/service"
)

// Traffic-mirroring actions (VPC 2016-04-28); semantics and error codes in
// service/mirror.go. Response names are those of
// github.com/aliyun/alibaba-cloud-sdk-go/services/vpc; the lists are bare
// arrays ("TrafficMirrorFilters":[...], "IngressRules":[...],
// "TrafficMirrorSourceIds":[...]), not the classic wrapped lists.

// Index ranges of the traffic-mirroring lists: syntactic caps (the
// service checks the rule quota and answers QuotaExceeded).
var (
	IndexMirrorRules = Indexes{1, 100} // IngressRules.N, EgressRules.N
	IndexMirrorIDs   = Indexes{1, 100} // TrafficMirrorFilterIds.N, TrafficMirrorSessionIds.N, TrafficMirrorFilterRuleIds.N, TrafficMirrorSourceIds.N
)

// Paging of ListTrafficMirrorFilters and ListTrafficMirrorSessions:
// NextToken/MaxResults only, MaxResults 1-100, default 20.
var (
	PageMirrorFilters  = PageLimits{Scope: "ListTrafficMirrorFilters", DefaultResults: 20, MinResults: 1, MaxResults: 100}
	PageMirrorSessions = PageLimits{Scope: "ListTrafficMirrorSessions", DefaultResults: 20, MinResults: 1, MaxResults: 100}
)

type mirrorTagItem struct {
	Key, Value, TagKey, TagValue string
}

func toMirrorTags(ts []model.Tag) []mirrorTagItem {
	out := make([]mirrorTagItem, 0, len(ts))
	for _, t := range ts {
		out = append(out, mirrorTagItem{Key: t.Key, Value: t.Value, TagKey: t.Key, TagValue: t.Value})
	}
	return out
}

type mirrorRuleItem struct {
	TrafficMirrorFilterRuleId     string
	TrafficMirrorFilterId         string
	TrafficDirection              string
	Priority                      int
	Action                        string
	Protocol                      string
	SourceCidrBlock               string
	DestinationCidrBlock          string
	SourcePortRange               string
	DestinationPortRange          string
	TrafficMirrorFilterRuleStatus string
}

type mirrorFilterItem struct {
	TrafficMirrorFilterId          string
	TrafficMirrorFilterName        string
	TrafficMirrorFilterDescription string
	TrafficMirrorFilterStatus      string
	ResourceGroupId                string
	CreationTime                   string
	IngressRules                   []mirrorRuleItem
	EgressRules                    []mirrorRuleItem
	Tags                           []mirrorTagItem
}

func toMirrorRuleItems(filterID string, rs []model.MirrorRule) []mirrorRuleItem {
	out := make([]mirrorRuleItem, 0, len(rs))
	for _, r := range rs {
		src, dst := service.MirrorCidrs(r)
		out = append(out, mirrorRuleItem{
			TrafficMirrorFilterRuleId: r.ID, TrafficMirrorFilterId: filterID, TrafficDirection: r.Direction,
			Priority: r.Priority, Action: r.Action, Protocol: r.Protocol, SourceCidrBlock: src, DestinationCidrBlock: dst,
			SourcePortRange: service.FormatPortRange(r.SourcePorts), DestinationPortRange: service.FormatPortRange(r.DestinationPorts),
			TrafficMirrorFilterRuleStatus: service.MirrorStatusCreated,
		})
	}
	return out
}

func toMirrorFilterItem(f model.MirrorFilter) mirrorFilterItem {
	return mirrorFilterItem{
		TrafficMirrorFilterId: f.ID, TrafficMirrorFilterName: f.Name, TrafficMirrorFilterDescription: f.Description,
		TrafficMirrorFilterStatus: service.MirrorStatusCreated, ResourceGroupId: f.ResourceGroupID, CreationTime: formatTime(f.CreatedAt),
		IngressRules: toMirrorRuleItems(f.ID, f.Ingress), EgressRules: toMirrorRuleItems(f.ID, f.Egress), Tags: toMirrorTags(f.Tags),
	}
}

type mirrorSessionItem struct {
	TrafficMirrorSessionId             string
	TrafficMirrorSessionName           string
	TrafficMirrorSessionDescription    string
	TrafficMirrorFilterId              string
	TrafficMirrorTargetId              string
	TrafficMirrorTargetType            string
	TrafficMirrorSourceIds             []string
	Priority                           int
	VirtualNetworkId                   int
	PacketLength                       int
	Enabled                            bool
	TrafficMirrorSessionStatus         string
	TrafficMirrorSessionBusinessStatus string
	ResourceGroupId                    string
	CreationTime                       string
	Tags                               []mirrorTagItem
}

func toMirrorSessionItem(m model.MirrorSession) mirrorSessionItem {
	src := m.SourceIDs
	if src == nil {
		src = []string{}
	}
	return mirrorSessionItem{
		TrafficMirrorSessionId: m.ID, TrafficMirrorSessionName: m.Name, TrafficMirrorSessionDescription: m.Description,
		TrafficMirrorFilterId: m.FilterID, TrafficMirrorTargetId: m.TargetID, TrafficMirrorTargetType: m.TargetType,
		TrafficMirrorSourceIds: src, Priority: m.Priority, VirtualNetworkId: int(m.VNI), PacketLength: m.PacketLength,
		Enabled: m.Enabled, TrafficMirrorSessionStatus: service.MirrorStatusCreated,
		TrafficMirrorSessionBusinessStatus: service.MirrorBusinessNormal, ResourceGroupId: m.ResourceGroupID,
		CreationTime: formatTime(m.CreatedAt), Tags: toMirrorTags(m.Tags),
	}
}

// mirrorRuleSpecs reads the rules "<list>.N.*" in index order.
func mirrorRuleSpecs(p Params, list string) ([]service.MirrorRuleSpec, error) {
	items, err := p.StructsIn(list, IndexMirrorRules)
	if err != nil {
		return nil, err
	}
	out := make([]service.MirrorRuleSpec, 0, len(items))
	for _, it := range items {
		f := it.Fields
		out = append(out, service.MirrorRuleSpec{
			Param: it.Param, Action: f.Get("Action"), Priority: f.Get("Priority"), Protocol: f.Get("Protocol"),
			SourceCidrBlock: f.Get("SourceCidrBlock"), DestinationCidrBlock: f.Get("DestinationCidrBlock"),
			SourcePortRange: f.Get("SourcePortRange"), DestinationPortRange: f.Get("DestinationPortRange"),
		})
	}
	return out, nil
}

// mirrorRuleLists reads IngressRules.N and EgressRules.N.
func mirrorRuleLists(p Params) (ingress, egress []service.MirrorRuleSpec, err error) {
	if ingress, err = mirrorRuleSpecs(p, "IngressRules"); err != nil {
		return nil, nil, err
	}
	if egress, err = mirrorRuleSpecs(p, "EgressRules"); err != nil {
		return nil, nil, err
	}
	return ingress, egress, nil
}

// optionalInt reads an integer parameter; nil when absent.
func optionalInt(p Params, name string) (*int, error) {
	if p.Get(name) == "" {
		return nil, nil
	}
	n, err := p.Int(name, 0)
	if err != nil {
		return nil, err
	}
	return &n, nil
}

// dryRunToken reads the DryRun and ClientToken of a changing action.
func dryRunToken(p Params) (bool, string, error) {
	dry, err := p.Bool("DryRun", false)
	return dry, p.Get("ClientToken"), err
}

// RegisterTrafficMirror registers the traffic-mirroring actions.
func RegisterTrafficMirror(rt *Router, svc *service.Service) {
	// The service needs no opening in Palisade: it is always on.
	rt.Handle(VersionVPC, "OpenTrafficMirrorService", func(context.Context, *Request) (any, error) {
		return struct{ Code, Message string }{"200", "successful"}, nil
	})
	rt.Handle(VersionVPC, "GetTrafficMirrorServiceStatus", func(context.Context, *Request) (any, error) {
		return struct{ Enabled bool }{true}, nil
	})

	rt.HandleDryRun(VersionVPC, "CreateTrafficMirrorFilter", func(ctx context.Context, r *Request) (any, error) {
		dry, token, err := dryRunToken(r.Params)
		if err != nil {
			return nil, err
		}
		tags, err := r.Params.Tags("Tag")
		if err != nil {
			return nil, err
		}
		ingress, egress, err := mirrorRuleLists(r.Params)
		if err != nil {
			return nil, err
		}
		res, err := svc.CreateTrafficMirrorFilter(ctx, r.Account.ID, service.CreateMirrorFilterInput{
			Name: r.Params.Get("TrafficMirrorFilterName"), Description: r.Params.Get("TrafficMirrorFilterDescription"),
			Ingress: ingress, Egress: egress, ResourceGroupID: r.Params.Get("ResourceGroupId"), Tags: tags,
			ClientToken: token, DryRun: dry,
		})
		if err != nil {
			return nil, err
		}
		return struct{ TrafficMirrorFilterId, ResourceGroupId string }{res.ID, res.ResourceGroupID}, nil
	})
	rt.HandleDryRun(VersionVPC, "CreateTrafficMirrorFilterRules", func(ctx context.Context, r *Request) (any, error) {
		dry, token, err := dryRunToken(r.Params)
		if err != nil {
			return nil, err
		}
		ingress, egress, err := mirrorRuleLists(r.Params)
		if err != nil {
			return nil, err
		}
		ids, err := svc.CreateTrafficMirrorFilterRules(ctx, r.Account.ID, r.Params.Get("TrafficMirrorFilterId"), ingress, egress, token, dry)
		if err != nil {
			return nil, err
		}
		type ruleID struct{ InstanceId string }
		resp := struct{ IngressRules, EgressRules []ruleID }{[]ruleID{}, []ruleID{}}
		for _, id := range ids.Ingress {
			resp.IngressRules = append(resp.IngressRules, ruleID{id})
		}
		for _, id := range ids.Egress {
			resp.EgressRules = append(resp.EgressRules, ruleID{id})
		}
		return resp, nil
	})
	rt.HandleDryRun(VersionVPC, "DeleteTrafficMirrorFilterRules", func(ctx context.Context, r *Request) (any, error) {
		dry, token, err := dryRunToken(r.Params)
		if err != nil {
			return nil, err
		}
		ids, err := r.Params.ListIn("TrafficMirrorFilterRuleIds", IndexMirrorIDs)
		if err != nil {
			return nil, err
		}
		return empty{}, svc.DeleteTrafficMirrorFilterRules(ctx, r.Account.ID, r.Params.Get("TrafficMirrorFilterId"), ids, token, dry)
	})
	rt.HandleDryRun(VersionVPC, "UpdateTrafficMirrorFilterRuleAttribute", func(ctx context.Context, r *Request) (any, error) {
		dry, token, err := dryRunToken(r.Params)
		if err != nil {
			return nil, err
		}
		p := r.Params
		return empty{}, svc.UpdateTrafficMirrorFilterRuleAttribute(ctx, r.Account.ID, p.Get("TrafficMirrorFilterRuleId"), service.UpdateMirrorRuleInput{
			Action: optional(p, "RuleAction"), Priority: optional(p, "Priority"), Protocol: optional(p, "Protocol"),
			SourceCidrBlock: optional(p, "SourceCidrBlock"), DestinationCidrBlock: optional(p, "DestinationCidrBlock"),
			SourcePortRange: optional(p, "SourcePortRange"), DestinationPortRange: optional(p, "DestinationPortRange"),
			ClientToken: token, DryRun: dry,
		})
	})
	rt.HandleDryRun(VersionVPC, "UpdateTrafficMirrorFilterAttribute", func(ctx context.Context, r *Request) (any, error) {
		dry, token, err := dryRunToken(r.Params)
		if err != nil {
			return nil, err
		}
		return empty{}, svc.UpdateTrafficMirrorFilterAttribute(ctx, r.Account.ID, r.Params.Get("TrafficMirrorFilterId"),
			optional(r.Params, "TrafficMirrorFilterName"), optional(r.Params, "TrafficMirrorFilterDescription"), token, dry)
	})
	rt.HandleDryRun(VersionVPC, "DeleteTrafficMirrorFilter", func(ctx context.Context, r *Request) (any, error) {
		dry, token, err := dryRunToken(r.Params)
		if err != nil {
			return nil, err
		}
		return empty{}, svc.DeleteTrafficMirrorFilter(ctx, r.Account.ID, r.Params.Get("TrafficMirrorFilterId"), token, dry)
	})
	rt.Handle(VersionVPC, "ListTrafficMirrorFilters", func(ctx context.Context, r *Request) (any, error) {
		pg, err := r.Params.PagingFor(PageMirrorFilters)
		if err != nil {
			return nil, err
		}
		ids, err := r.Params.ListIn("TrafficMirrorFilterIds", IndexMirrorIDs)
		if err != nil {
			return nil, err
		}
		tags, err := r.Params.Tags("Tags")
		if err != nil {
			return nil, err
		}
		list, err := svc.ListTrafficMirrorFilters(ctx, r.Account.ID, service.MirrorFilterQuery{
			IDs: ids, Name: r.Params.Get("TrafficMirrorFilterName"), ResourceGroupID: r.Params.Get("ResourceGroupId"), Tags: tags,
		})
		if err != nil {
			return nil, err
		}
		page, total, next := PaginateKeyset(list, pg, func(f model.MirrorFilter) (time.Time, string) { return f.CreatedAt, f.ID })
		resp := struct {
			TotalCount           string
			MaxResults           int
			Count                int
			NextToken            string
			TrafficMirrorFilters []mirrorFilterItem
		}{strconv.Itoa(total), pg.MaxResults, len(page), next, make([]mirrorFilterItem, 0, len(page))}
		for _, f := range page {
			resp.TrafficMirrorFilters = append(resp.TrafficMirrorFilters, toMirrorFilterItem(f))
		}
		return resp, nil
	})

	rt.HandleDryRun(VersionVPC, "CreateTrafficMirrorSession", func(ctx context.Context, r *Request) (any, error) {
		p := r.Params
		dry, token, err := dryRunToken(p)
		if err != nil {
			return nil, err
		}
		tags, err := p.Tags("Tag")
		if err != nil {
			return nil, err
		}
		sources, err := p.ListIn("TrafficMirrorSourceIds", IndexMirrorIDs)
		if err != nil {
			return nil, err
		}
		if _, err := p.Required("Priority"); err != nil {
			return nil, err
		}
		prio, err := p.Int("Priority", 0)
		if err != nil {
			return nil, err
		}
		vni, err := optionalInt(p, "VirtualNetworkId")
		if err != nil {
			return nil, err
		}
		plen, err := optionalInt(p, "PacketLength")
		if err != nil {
			return nil, err
		}
		enabled, err := p.Bool("Enabled", false)
		if err != nil {
			return nil, err
		}
		res, err := svc.CreateTrafficMirrorSession(ctx, r.Account.ID, service.CreateMirrorSessionInput{
			Name: p.Get("TrafficMirrorSessionName"), Description: p.Get("TrafficMirrorSessionDescription"),
			FilterID: p.Get("TrafficMirrorFilterId"), TargetID: p.Get("TrafficMirrorTargetId"), TargetType: p.Get("TrafficMirrorTargetType"),
			Priority: prio, VNI: vni, PacketLength: plen, Enabled: enabled, SourceIDs: sources,
			ResourceGroupID: p.Get("ResourceGroupId"), Tags: tags, ClientToken: token, DryRun: dry,
		})
		if err != nil {
			return nil, err
		}
		return struct{ TrafficMirrorSessionId, ResourceGroupId string }{res.ID, res.ResourceGroupID}, nil
	})
	rt.HandleDryRun(VersionVPC, "UpdateTrafficMirrorSessionAttribute", func(ctx context.Context, r *Request) (any, error) {
		p := r.Params
		dry, token, err := dryRunToken(p)
		if err != nil {
			return nil, err
		}
		in := service.UpdateMirrorSessionInput{
			Name: optional(p, "TrafficMirrorSessionName"), Description: optional(p, "TrafficMirrorSessionDescription"),
			FilterID: optional(p, "TrafficMirrorFilterId"), TargetID: optional(p, "TrafficMirrorTargetId"),
			TargetType: optional(p, "TrafficMirrorTargetType"), ClientToken: token, DryRun: dry,
		}
		if in.Priority, err = optionalInt(p, "Priority"); err != nil {
			return nil, err
		}
		if in.VNI, err = optionalInt(p, "VirtualNetworkId"); err != nil {
			return nil, err
		}
		if in.PacketLength, err = optionalInt(p, "PacketLength"); err != nil {
			return nil, err
		}
		if in.Enabled, err = optionalBool(p, "Enabled"); err != nil {
			return nil, err
		}
		return empty{}, svc.UpdateTrafficMirrorSessionAttribute(ctx, r.Account.ID, p.Get("TrafficMirrorSessionId"), in)
	})
	for action, fn := range map[string]func(context.Context, string, string, []string, string, bool) error{
		"AddSourcesToTrafficMirrorSession":      svc.AddSourcesToTrafficMirrorSession,
		"RemoveSourcesFromTrafficMirrorSession": svc.RemoveSourcesFromTrafficMirrorSession,
	} {
		rt.HandleDryRun(VersionVPC, action, func(ctx context.Context, r *Request) (any, error) {
			dry, token, err := dryRunToken(r.Params)
			if err != nil {
				return nil, err
			}
			ids, err := r.Params.ListIn("TrafficMirrorSourceIds", IndexMirrorIDs)
			if err != nil {
				return nil, err
			}
			return empty{}, fn(ctx, r.Account.ID, r.Params.Get("TrafficMirrorSessionId"), ids, token, dry)
		})
	}
	rt.HandleDryRun(VersionVPC, "DeleteTrafficMirrorSession", func(ctx context.Context, r *Request) (any, error) {
		dry, token, err := dryRunToken(r.Params)
		if err != nil {
			return nil, err
		}
		return empty{}, svc.DeleteTrafficMirrorSession(ctx, r.Account.ID, r.Params.Get("TrafficMirrorSessionId"), token, dry)
	})
	rt.Handle(VersionVPC, "ListTrafficMirrorSessions", func(ctx context.Context, r *Request) (any, error) {
		p := r.Params
		pg, err := p.PagingFor(PageMirrorSessions)
		if err != nil {
			return nil, err
		}
		q := service.MirrorSessionQuery{
			FilterID: p.Get("TrafficMirrorFilterId"), SourceID: p.Get("TrafficMirrorSourceId"), TargetID: p.Get("TrafficMirrorTargetId"),
			Name: p.Get("TrafficMirrorSessionName"), ResourceGroupID: p.Get("ResourceGroupId"),
		}
		if q.IDs, err = p.ListIn("TrafficMirrorSessionIds", IndexMirrorIDs); err != nil {
			return nil, err
		}
		if q.Tags, err = p.Tags("Tags"); err != nil {
			return nil, err
		}
		if q.Priority, err = optionalInt(p, "Priority"); err != nil {
			return nil, err
		}
		if q.VNI, err = optionalInt(p, "VirtualNetworkId"); err != nil {
			return nil, err
		}
		if q.Enabled, err = optionalBool(p, "Enabled"); err != nil {
			return nil, err
		}
		list, err := svc.ListTrafficMirrorSessions(ctx, r.Account.ID, q)
		if err != nil {
			return nil, err
		}
		page, total, next := PaginateKeyset(list, pg, func(m model.MirrorSession) (time.Time, string) { return m.CreatedAt, m.ID })
		resp := struct {
			TotalCount            string
			MaxResults            int
			NextToken             string
			TrafficMirrorSessions []mirrorSessionItem
		}{strconv.Itoa(total), pg.MaxResults, next, make([]mirrorSessionItem, 0, len(page))}
		for _, m := range page {
			resp.TrafficMirrorSessions = append(resp.TrafficMirrorSessions, toMirrorSessionItem(m))
		}
		return resp, nil
	})
}
