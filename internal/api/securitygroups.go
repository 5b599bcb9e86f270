package api

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/palisade-project/palisade/internal/errs"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/service"
)

// Response shapes of the ECS security group actions; field names are those
// of github.com/aliyun/alibaba-cloud-sdk-go/services/ecs.

type tagItem struct {
	TagKey   string
	TagValue string
	Key      string
	Value    string
}

type tagsWrapper struct {
	Tag []tagItem
}

func toTags(ts []model.Tag) tagsWrapper {
	out := tagsWrapper{Tag: make([]tagItem, 0, len(ts))}
	for _, t := range ts {
		out.Tag = append(out.Tag, tagItem{TagKey: t.Key, TagValue: t.Value, Key: t.Key, Value: t.Value})
	}
	return out
}

type securityGroupItem struct {
	SecurityGroupId         string
	SecurityGroupName       string
	Description             string
	SecurityGroupType       string
	VpcId                   string
	CreationTime            string
	EcsCount                int
	AvailableInstanceAmount int
	ResourceGroupId         string
	ServiceManaged          bool
	RuleCount               int
	GroupToGroupRuleCount   int
	Tags                    tagsWrapper
}

type describeSecurityGroupsResponse struct {
	RegionId       string
	TotalCount     int
	PageNumber     int
	PageSize       int
	NextToken      string
	SecurityGroups struct {
		SecurityGroup []securityGroupItem
	}
}

type permissionItem struct {
	SecurityGroupRuleId     string
	Direction               string
	IpProtocol              string
	PortRange               string
	SourcePortRange         string
	SourceCidrIp            string
	Ipv6SourceCidrIp        string
	SourceGroupId           string
	SourceGroupName         string
	SourceGroupOwnerAccount string
	SourcePrefixListId      string
	SourcePrefixListName    string
	DestCidrIp              string
	Ipv6DestCidrIp          string
	DestGroupId             string
	DestGroupName           string
	DestGroupOwnerAccount   string
	DestPrefixListId        string
	DestPrefixListName      string
	Policy                  string
	Priority                string
	NicType                 string
	Description             string
	CreateTime              string
}

type describeSecurityGroupAttributeResponse struct {
	RegionId          string
	SecurityGroupId   string
	SecurityGroupName string
	Description       string
	VpcId             string
	InnerAccessPolicy string
	NextToken         string
	Permissions       struct {
		Permission []permissionItem
	}
}

type securityGroupReference struct {
	SecurityGroupId           string
	ReferencingSecurityGroups struct {
		ReferencingSecurityGroup []referencingGroup
	}
}

type referencingGroup struct {
	SecurityGroupId string
	AliUid          string
}

type describeSecurityGroupReferencesResponse struct {
	SecurityGroupReferences struct {
		SecurityGroupReference []securityGroupReference
	}
}

func formatTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

// empty is the body of actions that return only a RequestId.
type empty struct{}

// RegisterSecurityGroups registers the ECS security group actions.
func RegisterSecurityGroups(rt *Router, svc *service.Service) {
	h := sgHandlers{svc}
	rt.Handle(VersionECS, "CreateSecurityGroup", h.create)
	rt.Handle(VersionECS, "DescribeSecurityGroups", h.describe)
	rt.Handle(VersionECS, "DescribeSecurityGroupAttribute", h.describeAttribute)
	rt.Handle(VersionECS, "ModifySecurityGroupAttribute", h.modifyAttribute)
	rt.Handle(VersionECS, "ModifySecurityGroupPolicy", h.modifyPolicy)
	rt.Handle(VersionECS, "DeleteSecurityGroup", h.delete)
	rt.Handle(VersionECS, "AuthorizeSecurityGroup", h.authorize(model.Ingress))
	rt.Handle(VersionECS, "AuthorizeSecurityGroupEgress", h.authorize(model.Egress))
	rt.Handle(VersionECS, "RevokeSecurityGroup", h.revoke(model.Ingress))
	rt.Handle(VersionECS, "RevokeSecurityGroupEgress", h.revoke(model.Egress))
	rt.Handle(VersionECS, "ModifySecurityGroupRule", h.modifyRule(model.Ingress))
	rt.Handle(VersionECS, "ModifySecurityGroupEgressRule", h.modifyRule(model.Egress))
	rt.Handle(VersionECS, "DescribeSecurityGroupReferences", h.references)
}

type sgHandlers struct{ svc *service.Service }

func (h sgHandlers) create(ctx context.Context, r *Request) (any, error) {
	tags, err := r.Params.Tags("Tag")
	if err != nil {
		return nil, err
	}
	id, err := h.svc.CreateSecurityGroup(ctx, r.Account.ID, service.CreateSecurityGroupInput{
		VpcID:         r.Params.Get("VpcId"),
		Name:          r.Params.Get("SecurityGroupName"),
		Description:   r.Params.Get("Description"),
		Type:          r.Params.Get("SecurityGroupType"),
		ResourceGroup: r.Params.Get("ResourceGroupId"),
		Tags:          tags,
		ClientToken:   r.Params.Get("ClientToken"),
	})
	if err != nil {
		return nil, err
	}
	return struct{ SecurityGroupId string }{id}, nil
}

func (h sgHandlers) describe(ctx context.Context, r *Request) (any, error) {
	pg, err := r.Params.PagingFor(PageSecurityGroups)
	if err != nil {
		return nil, err
	}
	ids, err := r.Params.JSONList("SecurityGroupIds")
	if err != nil {
		return nil, err
	}
	if id := r.Params.Get("SecurityGroupId"); id != "" {
		ids = append(ids, id)
	}
	tags, err := r.Params.Tags("Tag")
	if err != nil {
		return nil, err
	}
	groups, err := h.svc.DescribeSecurityGroups(ctx, r.Account.ID, service.SecurityGroupFilter{
		VpcID: r.Params.Get("VpcId"), IDs: ids, Name: r.Params.Get("SecurityGroupName"),
		Type: r.Params.Get("SecurityGroupType"), ResourceGroup: r.Params.Get("ResourceGroupId"), Tags: tags,
	})
	if err != nil {
		return nil, err
	}
	page, total, next := PaginateKeyset(groups, pg, func(g service.SecurityGroupView) (time.Time, string) { return g.CreatedAt, g.ID })
	var resp describeSecurityGroupsResponse
	resp.RegionId, resp.TotalCount, resp.NextToken = h.svc.Region(), total, next
	resp.PageNumber, resp.PageSize = pg.Number, pg.Size
	resp.SecurityGroups.SecurityGroup = make([]securityGroupItem, 0, len(page))
	for _, g := range page {
		resp.SecurityGroups.SecurityGroup = append(resp.SecurityGroups.SecurityGroup, securityGroupItem{
			SecurityGroupId: g.ID, SecurityGroupName: g.Name, Description: g.Description,
			SecurityGroupType: g.Type, VpcId: g.VpcID, CreationTime: formatTime(g.CreatedAt),
			EcsCount: g.ENICount, AvailableInstanceAmount: g.AvailableENISlots,
			ResourceGroupId: g.ResourceGroup, RuleCount: len(g.Rules),
			GroupToGroupRuleCount: g.GroupRefRuleCount, Tags: toTags(g.Tags),
		})
	}
	return resp, nil
}

// toPermission renders a rule in the SDK's Permission shape.
func toPermission(rule model.Rule, peerNames map[string]string) permissionItem {
	spec := service.RuleToSpec(rule)
	p := permissionItem{
		SecurityGroupRuleId: rule.ID, Direction: rule.Direction, IpProtocol: rule.Protocol,
		PortRange: spec.PortRange, SourcePortRange: spec.SourcePortRange, Policy: rule.Policy,
		Priority: spec.Priority, NicType: rule.NicType, Description: rule.Description,
		CreateTime: formatTime(rule.CreatedAt),
	}
	if rule.Direction == model.Ingress {
		p.SourceCidrIp, p.Ipv6SourceCidrIp = spec.PeerCidr, spec.PeerCidr6
		p.SourceGroupId, p.SourceGroupName = rule.PeerGroupID, peerNames[rule.PeerGroupID]
		p.SourcePrefixListId = rule.PeerPrefixListID
		p.DestCidrIp, p.Ipv6DestCidrIp = spec.LocalCidr, spec.LocalCidr6
	} else {
		p.DestCidrIp, p.Ipv6DestCidrIp = spec.PeerCidr, spec.PeerCidr6
		p.DestGroupId, p.DestGroupName = rule.PeerGroupID, peerNames[rule.PeerGroupID]
		p.DestPrefixListId = rule.PeerPrefixListID
		p.SourceCidrIp, p.Ipv6SourceCidrIp = spec.LocalCidr, spec.LocalCidr6
	}
	return p
}

func (h sgHandlers) describeAttribute(ctx context.Context, r *Request) (any, error) {
	id, err := r.Params.Required("SecurityGroupId")
	if err != nil {
		return nil, err
	}
	dir := strings.ToLower(r.Params.Get("Direction"))
	if dir != "" && dir != "all" && dir != model.Ingress && dir != model.Egress {
		return nil, errs.InvalidParameter("Direction", "use ingress, egress or all, got %q", r.Params.Get("Direction"))
	}
	if nt := r.Params.Get("NicType"); nt != "" && !strings.EqualFold(nt, "intranet") && !strings.EqualFold(nt, "internet") {
		return nil, errs.InvalidParam("InvalidNicType.ValueNotSupported", "The specified NicType %q is not valid; use intranet.", nt)
	}
	paged := r.Params.Has("NextToken") || r.Params.Has("MaxResults")
	var pg Page
	if paged {
		if pg, err = r.Params.PagingFor(PageSecurityGroupRules); err != nil {
			return nil, err
		}
	}
	g, err := h.svc.DescribeSecurityGroupAttribute(ctx, r.Account.ID, id)
	if err != nil {
		return nil, err
	}
	var resp describeSecurityGroupAttributeResponse
	resp.RegionId, resp.SecurityGroupId, resp.SecurityGroupName = h.svc.Region(), g.ID, g.Name
	resp.Description, resp.VpcId, resp.InnerAccessPolicy = g.Description, g.VpcID, g.InnerAccessPolicy
	rules := g.Rules
	if paged {
		// Pages of rules run in creation order (then rule ID), the order
		// the NextToken positions in.
		rules, _, resp.NextToken = PaginateKeyset(slices.DeleteFunc(slices.Clone(rules), func(rule model.Rule) bool {
			return !ruleListed(rule, dir, r.Params.Get("NicType"))
		}), pg, func(rule model.Rule) (time.Time, string) { return rule.CreatedAt, rule.ID })
	}
	perms := make([]permissionItem, 0, len(rules))
	for _, rule := range rules {
		if !ruleListed(rule, dir, r.Params.Get("NicType")) {
			continue
		}
		perms = append(perms, toPermission(rule, g.PeerGroupNames))
	}
	resp.Permissions.Permission = perms
	return resp, nil
}

// ruleListed reports whether DescribeSecurityGroupAttribute lists rule for
// the Direction (lower-cased; "" or "all" for both) and NicType filters.
func ruleListed(rule model.Rule, dir, nicType string) bool {
	if (dir == model.Ingress || dir == model.Egress) && rule.Direction != dir {
		return false
	}
	return !strings.EqualFold(nicType, "internet") // a VPC group has no internet-NIC rules
}

func optional(p Params, name string) *string {
	if !p.Has(name) {
		return nil
	}
	v := p.Get(name)
	return &v
}

func (h sgHandlers) modifyAttribute(ctx context.Context, r *Request) (any, error) {
	id, err := r.Params.Required("SecurityGroupId")
	if err != nil {
		return nil, err
	}
	return empty{}, h.svc.ModifySecurityGroupAttribute(ctx, r.Account.ID, id,
		optional(r.Params, "SecurityGroupName"), optional(r.Params, "Description"))
}

func (h sgHandlers) modifyPolicy(ctx context.Context, r *Request) (any, error) {
	id, err := r.Params.Required("SecurityGroupId")
	if err != nil {
		return nil, err
	}
	pol, err := r.Params.Required("InnerAccessPolicy")
	if err != nil {
		return nil, err
	}
	return empty{}, h.svc.ModifySecurityGroupPolicy(ctx, r.Account.ID, id, pol)
}

func (h sgHandlers) delete(ctx context.Context, r *Request) (any, error) {
	id, err := r.Params.Required("SecurityGroupId")
	if err != nil {
		return nil, err
	}
	return empty{}, h.svc.DeleteSecurityGroup(ctx, r.Account.ID, id)
}

// flatRuleParams are the rule parameters of the older flat style; their
// presence means the request uses it. (Read-only.)
var flatRuleParams = []string{
	"IpProtocol", "PortRange", "SourcePortRange", "SourceCidrIp", "Ipv6SourceCidrIp", "SourceGroupId",
	"DestCidrIp", "Ipv6DestCidrIp", "DestGroupId", "Policy", "Priority",
}

// specFrom reads one rule from p (the request itself for the flat style,
// or one Permissions.N element), with defaults for NicType and Description
// from the request's top level.
func specFrom(dir string, p, top Params, caller model.Account) service.RuleSpec {
	owner := func(idName, accountName string) string {
		if v := p.Get(idName); v != "" {
			return v
		}
		if v := p.Get(accountName); v != "" {
			if v == caller.Name || v == caller.ID {
				return caller.ID
			}
			return v
		}
		return ""
	}
	orTop := func(name string) string {
		if v := p.Get(name); v != "" {
			return v
		}
		return top.Get(name)
	}
	spec := service.RuleSpec{
		IpProtocol: p.Get("IpProtocol"), PortRange: p.Get("PortRange"),
		SourcePortRange: orTop("SourcePortRange"),
		Policy:          p.Get("Policy"), Priority: p.Get("Priority"),
		NicType: orTop("NicType"), Description: orTop("Description"),
	}
	if dir == model.Ingress {
		spec.PeerCidr, spec.PeerCidr6 = p.Get("SourceCidrIp"), p.Get("Ipv6SourceCidrIp")
		spec.PeerGroupID = p.Get("SourceGroupId")
		spec.PeerGroupOwner = owner("SourceGroupOwnerId", "SourceGroupOwnerAccount")
		spec.PeerPrefixList = orTop("SourcePrefixListId")
		spec.LocalCidr, spec.LocalCidr6 = p.Get("DestCidrIp"), p.Get("Ipv6DestCidrIp")
	} else {
		spec.PeerCidr, spec.PeerCidr6 = p.Get("DestCidrIp"), p.Get("Ipv6DestCidrIp")
		spec.PeerGroupID = p.Get("DestGroupId")
		spec.PeerGroupOwner = owner("DestGroupOwnerId", "DestGroupOwnerAccount")
		spec.PeerPrefixList = orTop("DestPrefixListId")
		spec.LocalCidr, spec.LocalCidr6 = p.Get("SourceCidrIp"), p.Get("Ipv6SourceCidrIp")
	}
	return spec
}

// ruleSpecs decodes the rules of an Authorize/Revoke call: the
// Permissions.N list or the older flat parameters, never both.
func ruleSpecs(dir string, r *Request) ([]service.RuleSpec, error) {
	perms, err := r.Params.StructsIn("Permissions", IndexPermissions)
	if err != nil {
		return nil, err
	}
	flat := slices.ContainsFunc(flatRuleParams, r.Params.Has)
	if len(perms) > 0 && flat {
		return nil, errs.InvalidParameter("Permissions.N",
			"the flat rule parameters (IpProtocol, PortRange, ...) and Permissions.N cannot be used in the same call; use Permissions.N")
	}
	if len(perms) > 100 {
		return nil, errs.InvalidParameter("Permissions.N", "at most 100 rules per call, got %d", len(perms))
	}
	var specs []service.RuleSpec
	for _, p := range perms {
		specs = append(specs, specFrom(dir, p.Fields, r.Params, r.Account))
	}
	if flat {
		specs = append(specs, specFrom(dir, r.Params, r.Params, r.Account))
	}
	return specs, nil
}

func (h sgHandlers) authorize(dir string) Handler {
	return func(ctx context.Context, r *Request) (any, error) {
		id, err := r.Params.Required("SecurityGroupId")
		if err != nil {
			return nil, err
		}
		specs, err := ruleSpecs(dir, r)
		if err != nil {
			return nil, err
		}
		return empty{}, h.svc.AuthorizeRules(ctx, r.Account.ID, id, dir, specs, r.Params.Get("ClientToken"))
	}
}

func (h sgHandlers) revoke(dir string) Handler {
	return func(ctx context.Context, r *Request) (any, error) {
		id, err := r.Params.Required("SecurityGroupId")
		if err != nil {
			return nil, err
		}
		specs, err := ruleSpecs(dir, r)
		if err != nil {
			return nil, err
		}
		ruleIDs, err := r.Params.ListIn("SecurityGroupRuleId", IndexRuleIDs)
		if err != nil {
			return nil, err
		}
		return empty{}, h.svc.RevokeRules(ctx, r.Account.ID, id, dir, specs, ruleIDs)
	}
}

func (h sgHandlers) modifyRule(dir string) Handler {
	return func(ctx context.Context, r *Request) (any, error) {
		id, err := r.Params.Required("SecurityGroupId")
		if err != nil {
			return nil, err
		}
		ruleID, err := r.Params.Required("SecurityGroupRuleId")
		if err != nil {
			return nil, err
		}
		patch := specFrom(dir, r.Params, r.Params, r.Account)
		return empty{}, h.svc.ModifyRule(ctx, r.Account.ID, id, dir, ruleID, patch)
	}
}

func (h sgHandlers) references(ctx context.Context, r *Request) (any, error) {
	ids, err := r.Params.ListIn("SecurityGroupId", IndexGroupRefs)
	if err != nil {
		return nil, err
	}
	refs, err := h.svc.DescribeSecurityGroupReferences(ctx, r.Account.ID, ids)
	if err != nil {
		return nil, err
	}
	var resp describeSecurityGroupReferencesResponse
	resp.SecurityGroupReferences.SecurityGroupReference = make([]securityGroupReference, 0, len(ids))
	for _, id := range ids {
		ref := securityGroupReference{SecurityGroupId: id}
		ref.ReferencingSecurityGroups.ReferencingSecurityGroup = make([]referencingGroup, 0, len(refs[id]))
		for _, g := range refs[id] {
			ref.ReferencingSecurityGroups.ReferencingSecurityGroup = append(ref.ReferencingSecurityGroups.ReferencingSecurityGroup,
				referencingGroup{SecurityGroupId: g, AliUid: r.Account.ID})
		}
		resp.SecurityGroupReferences.SecurityGroupReference = append(resp.SecurityGroupReferences.SecurityGroupReference, ref)
	}
	return resp, nil
}
