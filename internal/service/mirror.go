package service

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/binary"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/palisade-project/palisade/internal/errs"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/store"
)

// Traffic mirroring (VPC 2016-04-28): filters and their rules, sessions
// and their sources (CreateTrafficMirrorFilter, CreateTrafficMirrorFilterRules,
// DeleteTrafficMirrorFilterRules, UpdateTrafficMirrorFilterRuleAttribute,
// UpdateTrafficMirrorFilterAttribute, DeleteTrafficMirrorFilter,
// ListTrafficMirrorFilters, CreateTrafficMirrorSession,
// UpdateTrafficMirrorSessionAttribute, AddSourcesToTrafficMirrorSession,
// RemoveSourcesFromTrafficMirrorSession, DeleteTrafficMirrorSession,
// ListTrafficMirrorSessions). The service is always open
// (OpenTrafficMirrorService, GetTrafficMirrorServiceStatus: package api).
//
// Decisions (SEMANTICS.md Part A "Traffic mirroring", and where it is
// silent):
//   - Filter rules: at most Quotas.MirrorRulesPerDirection (10) per
//     direction; Priority 1 to that number, unique within the direction;
//     Action accept|drop and Protocol ALL|ICMP|TCP|UDP, case-insensitive;
//     CIDRs optional (IPv4 or IPv6, stored masked; both given must be of one
//     family; not given matches any address); port ranges start/end for TCP
//     and UDP, -1/-1 or not given for all ports (the only value for ALL and
//     ICMP). A rule identical to one of its direction (every field but the
//     ID) adds nothing and answers that rule's ID (Part A: an identical rule
//     added twice succeeds and adds nothing).
//   - Sessions: Priority 1-32766 unique per account; VirtualNetworkId
//     0-16777215, random (and unused by the account's other sessions where
//     possible) when not given; PacketLength 64-9600, default 1500; created
//     disabled unless Enabled=true. The target is an ENI of the account
//     (TrafficMirrorTargetType NetworkInterface) or an internal load
//     balancer of the account (SLB: its running UDP listener on port 4789
//     spreads the copies over its backends). Sources are ENIs of the account in the target's VPC
//     (in any zone: the agents relay copies between hosts) or in a VPC
//     joined to it by an activated peering connection, never the target
//     itself, each listed by
//     at most Quotas.MirrorSessionsPerSource (3) sessions. Adding a source
//     the session already has changes nothing; removing one it does not
//     have is an error.
//   - A filter that a session uses cannot be deleted; an ENI that a session
//     mirrors to cannot be deleted, nor the instance whose primary ENI it
//     is; an ENI deleted (or deleted with its instance) while it is a source
//     leaves the sessions' sources in the same transaction.
//   - Every action that changes something takes ClientToken (a retry with
//     the same token and parameters answers the first result, another
//     request with it is IdempotentParameterMismatch) and DryRun (everything
//     is checked, nothing changes: DryRunOperation).
//
// Error codes (HTTP status):
//   - ResourceNotFound.TrafficMirrorFilter, .TrafficMirrorSession,
//     .TrafficMirrorRule (404): no such resource of the caller's account
//     (another account's is reported the same way).
//   - ResourceNotFound.TrafficMirrorTarget, .TrafficMirrorSource (404): the
//     ENI does not exist in the account; for RemoveSources, the ENI is not a
//     source of the session.
//   - MissingParameter (400); IllegalParam.<Parameter> (400): a value
//     malformed or out of range (Action, Priority, Protocol,
//     SourceCidrBlock, DestinationCidrBlock, SourcePortRange,
//     DestinationPortRange, VirtualNetworkId, PacketLength,
//     TrafficMirrorTargetType, names and descriptions).
//   - DuplicatedParam.Priority (400): a rule priority already used in its
//     direction, or a session priority already used in the account.
//   - DuplicatedParam.TrafficMirrorSourceIds (400): a source given twice.
//   - OperationDenied.TrafficMirrorServiceManagedENI (400): a PrivateLink
//     endpoint's interface as source or target.
//   - OperationDenied.TrafficMirrorSourceVpc (400): a source in another
//     VPC than the target, not peered with it; OperationDenied.TrafficMirrorSourceIsTarget
//     (400): the target as its own session's source.
//   - QuotaExceeded.TrafficMirrorRule, QuotaExceeded.TrafficMirrorSessionPerSource
//     (403): the limits above.
//   - DependencyViolation.TrafficMirrorSession (403): deleting a filter a
//     session uses, or an ENI (or the instance of a primary ENI) a session
//     mirrors to.

// Limits of sessions not in model (SEMANTICS.md Part B §5.1; AWS's
// largest jumbo frame for the upper bound).
const (
	MirrorMinPacketLen = 64
	MirrorMaxPacketLen = 9600
)

// Status values the API shows: the control plane has no asynchronous
// creation, so every filter, rule and session is Created at once.
const (
	MirrorStatusCreated   = "Created"
	MirrorBusinessNormal  = "Normal"
	mirrorFilterIDName    = "TrafficMirrorFilterId"
	mirrorSessionIDName   = "TrafficMirrorSessionId"
	mirrorRuleIDName      = "TrafficMirrorFilterRuleId"
	mirrorSourceListParam = "TrafficMirrorSourceIds"
)

func errMirrorFilterNotFound(id string) *errs.Error {
	return errs.NotFound("ResourceNotFound.TrafficMirrorFilter", "The specified TrafficMirrorFilterId %q does not exist.", id)
}

func errMirrorSessionNotFound(id string) *errs.Error {
	return errs.NotFound("ResourceNotFound.TrafficMirrorSession", "The specified TrafficMirrorSessionId %q does not exist.", id)
}

func errMirrorRuleNotFound(id string) *errs.Error {
	return errs.NotFound("ResourceNotFound.TrafficMirrorRule", "The specified TrafficMirrorFilterRuleId %q does not exist.", id)
}

func errMirrorDependency(format string, args ...any) *errs.Error {
	return errs.Forbidden("DependencyViolation.TrafficMirrorSession", format, args...)
}

func getMirrorFilter(tx store.ReadTxn, accountID, id string) (*model.MirrorFilter, error) {
	return getOwned(tx, model.PrefixMirrorFilter, mirrorFilterIDName, accountID, id, func(v *model.MirrorFilter) string { return v.AccountID }, errMirrorFilterNotFound)
}

func getMirrorSession(tx store.ReadTxn, accountID, id string) (*model.MirrorSession, error) {
	return getOwned(tx, model.PrefixMirrorSession, mirrorSessionIDName, accountID, id, func(v *model.MirrorSession) string { return v.AccountID }, errMirrorSessionNotFound)
}

// getMirrorENI reads an ENI of the account named as a session's target
// or source (param is its request parameter).
func getMirrorENI(tx store.ReadTxn, accountID, param, id string, target bool) (*model.ENI, error) {
	code, what := "ResourceNotFound.TrafficMirrorSource", "source"
	if target {
		code, what = "ResourceNotFound.TrafficMirrorTarget", "target"
	}
	e, err := getOwned(tx, model.PrefixENI, param, accountID, id, func(v *model.ENI) string { return v.AccountID }, func(id string) *errs.Error {
		return errs.NotFound(code, "The specified %s %q does not exist: a traffic mirror %s is a network interface (eni-...) of your account.", param, id, what)
	})
	if err == nil && e.EndpointID != "" {
		// Its packets never pass an instance's link: there is nothing
		// to tap on it, nor to deliver copies to.
		return nil, errs.InvalidParam("OperationDenied.TrafficMirrorServiceManagedENI",
			"Network interface %s belongs to PrivateLink endpoint %s: a service-managed interface can be neither the %s nor the target of traffic mirroring; use an instance's interface.", id, e.EndpointID, what)
	}
	return e, err
}

// accountMirrorSessions lists the sessions of an account.
func accountMirrorSessions(tx store.ReadTxn, accountID string) ([]*model.MirrorSession, error) {
	var out []*model.MirrorSession
	err := listJSON(tx, model.PrefixMirrorSession, func(m *model.MirrorSession) error {
		if m.AccountID == accountID {
			out = append(out, m)
		}
		return nil
	})
	return out, err
}

// ---------------------------------------------------------------------------
// Filter rules

// MirrorRuleSpec is a filter rule as the API gives it.
type MirrorRuleSpec struct {
	// Param is the element's wire name, e.g. "IngressRules.1"; errors name
	// its fields "IngressRules.1.Priority". Empty: the fields are top-level
	// parameters (UpdateTrafficMirrorFilterRuleAttribute, where Action is
	// called RuleAction).
	Param                                 string
	Action, Priority, Protocol            string
	SourceCidrBlock, DestinationCidrBlock string
	SourcePortRange, DestinationPortRange string
}

func (spec MirrorRuleSpec) name(field string) string {
	if spec.Param == "" {
		if field == "Action" {
			return "RuleAction"
		}
		return field
	}
	return spec.Param + "." + field
}

// ParseMirrorRule validates one rule of direction dir (model.Ingress or
// model.Egress) whose priority may go up to maxPriority. The rule has no
// ID yet.
func ParseMirrorRule(dir string, spec MirrorRuleSpec, maxPriority int) (model.MirrorRule, error) {
	r := model.MirrorRule{Direction: dir}
	switch strings.ToLower(spec.Action) {
	case "":
		return r, errs.MissingParameter(spec.name("Action"))
	case model.PolicyAccept:
		r.Action = model.PolicyAccept
	case model.PolicyDrop:
		r.Action = model.PolicyDrop
	default:
		return r, errs.InvalidParam("IllegalParam.Action", "The specified %s %q is not valid; use accept (mirror) or drop (do not mirror).", spec.name("Action"), spec.Action)
	}
	if spec.Priority == "" {
		return r, errs.MissingParameter(spec.name("Priority"))
	}
	n, err := strconv.Atoi(strings.TrimSpace(spec.Priority))
	if err != nil || n < 1 || n > maxPriority {
		return r, errs.InvalidParam("IllegalParam.Priority",
			"The specified %s %q is not valid; use an integer from 1 to %d (smaller is evaluated first).", spec.name("Priority"), spec.Priority, maxPriority)
	}
	r.Priority = n
	switch p := strings.ToUpper(spec.Protocol); p {
	case "":
		return r, errs.MissingParameter(spec.name("Protocol"))
	case model.ProtoALL, model.ProtoICMP, model.ProtoTCP, model.ProtoUDP:
		r.Protocol = p
	default:
		return r, errs.InvalidParam("IllegalParam.Protocol", "The specified %s %q is not valid; use ALL, ICMP, TCP or UDP.", spec.name("Protocol"), spec.Protocol)
	}
	if r.SourceCidr, err = parseMirrorCidr("SourceCidrBlock", spec.name("SourceCidrBlock"), spec.SourceCidrBlock); err != nil {
		return r, err
	}
	if r.DestinationCidr, err = parseMirrorCidr("DestinationCidrBlock", spec.name("DestinationCidrBlock"), spec.DestinationCidrBlock); err != nil {
		return r, err
	}
	if s, d := r.SourceCidr, r.DestinationCidr; s.IsValid() && d.IsValid() && s.Addr().Is4() != d.Addr().Is4() {
		return r, errs.InvalidParam("IllegalParam.DestinationCidrBlock",
			"%s %s and %s %s are of different address families: a packet never matches both; give CIDR blocks of one family (leave one out to match any address).",
			spec.name("SourceCidrBlock"), s, spec.name("DestinationCidrBlock"), d)
	}
	if r.SourcePorts, err = parseMirrorPorts("SourcePortRange", spec.name("SourcePortRange"), spec.SourcePortRange, r.Protocol); err != nil {
		return r, err
	}
	if r.DestinationPorts, err = parseMirrorPorts("DestinationPortRange", spec.name("DestinationPortRange"), spec.DestinationPortRange, r.Protocol); err != nil {
		return r, err
	}
	return r, nil
}

// parseMirrorCidr reads an optional CIDR block; "" is the zero Prefix
// (any address). Host bits are cleared.
func parseMirrorCidr(field, param, v string) (netip.Prefix, error) {
	if v == "" {
		return netip.Prefix{}, nil
	}
	p, err := netip.ParsePrefix(v)
	if err != nil {
		return p, errs.InvalidParam("IllegalParam."+field,
			"The specified %s %q is not a CIDR block; use for example 10.0.0.0/24, 192.0.2.7/32 or 2001:db8::/64.", param, v)
	}
	return p.Masked(), nil
}

// parseMirrorPorts reads a port range "start/end"; "" and "-1/-1" mean all
// ports ({-1,-1}), the only value for ALL and ICMP.
func parseMirrorPorts(field, param, v, proto string) (model.PortRange, error) {
	all := model.PortRange{From: -1, To: -1}
	if v == "" || v == "-1/-1" {
		return all, nil
	}
	from, to, ok := strings.Cut(v, "/")
	f, err1 := strconv.Atoi(from)
	t, err2 := strconv.Atoi(to)
	if !ok || err1 != nil || err2 != nil || !canonicalPort(from) || !canonicalPort(to) {
		return all, errs.InvalidParam("IllegalParam."+field,
			"The specified %s %q is not valid; use start/end such as 80/80 or 1024/65535, or -1/-1 for all ports.", param, v)
	}
	if proto != model.ProtoTCP && proto != model.ProtoUDP {
		return all, errs.InvalidParam("IllegalParam."+field,
			"The specified %s %q is not valid for protocol %s: only -1/-1 (or nothing) is allowed; port ranges exist for TCP and UDP only.", param, v, proto)
	}
	if f < 1 || t > 65535 || f > t {
		return all, errs.InvalidParam("IllegalParam."+field,
			"The specified %s %q is not valid: use start/end with 1 <= start <= end <= 65535, or -1/-1 for all ports.", param, v)
	}
	return model.PortRange{From: f, To: t}, nil
}

// parsedMirrorRule is a validated rule with the wire name it came from.
type parsedMirrorRule struct {
	param string
	rule  model.MirrorRule
}

// parseMirrorRules validates the rules of one direction; list names the
// request list ("IngressRules") for elements without Param.
func (s *Service) parseMirrorRules(dir, list string, specs []MirrorRuleSpec) ([]parsedMirrorRule, error) {
	out := make([]parsedMirrorRule, 0, len(specs))
	for i, spec := range specs {
		if spec.Param == "" {
			spec.Param = list + "." + strconv.Itoa(i+1)
		}
		r, err := ParseMirrorRule(dir, spec, s.cfg.Quotas.MirrorRulesPerDirection)
		if err != nil {
			return nil, err
		}
		out = append(out, parsedMirrorRule{param: spec.Param, rule: r})
	}
	return out, nil
}

// sameMirrorRule reports whether two rules are identical but for their IDs.
func sameMirrorRule(a, b model.MirrorRule) bool {
	a.ID, b.ID = "", ""
	return a == b
}

// mirrorRules returns a pointer to the rule list of direction dir.
func mirrorRules(f *model.MirrorFilter, dir string) *[]model.MirrorRule {
	if dir == model.Egress {
		return &f.Egress
	}
	return &f.Ingress
}

// addMirrorRules adds rules to a direction of f and returns each one's ID:
// a new one, or the ID of the identical rule the direction already has
// (which adds nothing). A priority taken by another rule is
// DuplicatedParam.Priority; more rules than the quota is
// QuotaExceeded.TrafficMirrorRule.
func (s *Service) addMirrorRules(f *model.MirrorFilter, dir string, add []parsedMirrorRule) ([]string, error) {
	list := mirrorRules(f, dir)
	out := slices.Clone(*list)
	ids := make([]string, 0, len(add))
	limit := s.cfg.Quotas.MirrorRulesPerDirection
	for _, p := range add {
		r := p.rule
		j := slices.IndexFunc(out, func(o model.MirrorRule) bool { return o.Priority == r.Priority })
		switch {
		case j >= 0 && sameMirrorRule(out[j], r):
			ids = append(ids, out[j].ID)
			continue
		case len(out) >= limit:
			return nil, errs.Quota("QuotaExceeded.TrafficMirrorRule",
				"Filter %s cannot take %s: a filter holds at most %d %s rules; delete one first.", f.ID, p.param, limit, dir)
		case j >= 0:
			return nil, errs.InvalidParam("DuplicatedParam.Priority",
				"%s.Priority %d is already used by %s rule %s of filter %s: the priorities of a direction are unique; choose another one or delete that rule first.",
				p.param, r.Priority, dir, out[j].ID, f.ID)
		}
		r.ID = NewID("tmr")
		out = append(out, r)
		ids = append(ids, r.ID)
	}
	sortMirrorRules(out)
	*list = out
	return ids, nil
}

func sortMirrorRules(rs []model.MirrorRule) {
	slices.SortStableFunc(rs, func(a, b model.MirrorRule) int { return a.Priority - b.Priority })
}

// ---------------------------------------------------------------------------
// Filters

// MirrorCreated is the answer of CreateTrafficMirrorFilter and
// CreateTrafficMirrorSession.
type MirrorCreated struct {
	ID, ResourceGroupID string
}

// CreateMirrorFilterInput is the request of CreateTrafficMirrorFilter.
type CreateMirrorFilterInput struct {
	Name, Description string
	Ingress, Egress   []MirrorRuleSpec
	ResourceGroupID   string
	Tags              []model.Tag
	ClientToken       string
	DryRun            bool
}

func validateMirrorText(param, v string, maxLen int) error {
	return validateFlowLogText("IllegalParam."+param, param, v, maxLen)
}

// CreateTrafficMirrorFilter creates a filter, with optional rules.
func (s *Service) CreateTrafficMirrorFilter(ctx context.Context, accountID string, in CreateMirrorFilterInput) (MirrorCreated, error) {
	var out MirrorCreated
	if err := validateMirrorText("TrafficMirrorFilterName", in.Name, 128); err != nil {
		return out, err
	}
	if err := validateMirrorText("TrafficMirrorFilterDescription", in.Description, 256); err != nil {
		return out, err
	}
	ingress, err := s.parseMirrorRules(model.Ingress, "IngressRules", in.Ingress)
	if err != nil {
		return out, err
	}
	egress, err := s.parseMirrorRules(model.Egress, "EgressRules", in.Egress)
	if err != nil {
		return out, err
	}
	_, err = s.update(ctx, func(tx store.Txn) error {
		_, err := withClientToken(tx, accountID, "CreateTrafficMirrorFilter", in.ClientToken, in, &out, func() error {
			f := model.MirrorFilter{
				ID: NewID("tmf"), AccountID: accountID, RegionID: s.cfg.Region, Name: in.Name, Description: in.Description,
				Ingress: []model.MirrorRule{}, Egress: []model.MirrorRule{},
				ResourceGroupID: in.ResourceGroupID, Tags: in.Tags, CreatedAt: s.stamp(),
			}
			if _, err := s.addMirrorRules(&f, model.Ingress, ingress); err != nil {
				return err
			}
			if _, err := s.addMirrorRules(&f, model.Egress, egress); err != nil {
				return err
			}
			if in.DryRun {
				return errDryRun
			}
			out = MirrorCreated{ID: f.ID, ResourceGroupID: f.ResourceGroupID}
			return putJSON(tx, model.PrefixMirrorFilter+f.ID, &f)
		})
		return err
	})
	return out, err
}

// MirrorRuleIDs are the IDs of the rules CreateTrafficMirrorFilterRules
// added (or found identical), in request order per direction.
type MirrorRuleIDs struct {
	Ingress, Egress []string
}

// CreateTrafficMirrorFilterRules adds rules to a filter.
func (s *Service) CreateTrafficMirrorFilterRules(ctx context.Context, accountID, filterID string, ingress, egress []MirrorRuleSpec, clientToken string, dryRun bool) (MirrorRuleIDs, error) {
	var out MirrorRuleIDs
	if filterID == "" {
		return out, errs.MissingParameter(mirrorFilterIDName)
	}
	if len(ingress) == 0 && len(egress) == 0 {
		return out, errs.MissingParameter("IngressRules.N or EgressRules.N")
	}
	in, err := s.parseMirrorRules(model.Ingress, "IngressRules", ingress)
	if err != nil {
		return out, err
	}
	eg, err := s.parseMirrorRules(model.Egress, "EgressRules", egress)
	if err != nil {
		return out, err
	}
	params := struct {
		Ingress, Egress []MirrorRuleSpec
		DryRun          bool
	}{ingress, egress, dryRun}
	_, err = s.update(ctx, func(tx store.Txn) error {
		_, err := withClientToken(tx, accountID, "CreateTrafficMirrorFilterRules/"+filterID, clientToken, params, &out, func() error {
			f, err := getMirrorFilter(tx, accountID, filterID)
			if err != nil {
				return err
			}
			if out.Ingress, err = s.addMirrorRules(f, model.Ingress, in); err != nil {
				return err
			}
			if out.Egress, err = s.addMirrorRules(f, model.Egress, eg); err != nil {
				return err
			}
			if dryRun {
				return errDryRun
			}
			return putJSON(tx, model.PrefixMirrorFilter+f.ID, f)
		})
		return err
	})
	return out, err
}

// DeleteTrafficMirrorFilterRules deletes rules of a filter (either
// direction). An ID that is not a rule of the filter is
// ResourceNotFound.TrafficMirrorRule, and nothing is deleted.
func (s *Service) DeleteTrafficMirrorFilterRules(ctx context.Context, accountID, filterID string, ruleIDs []string, clientToken string, dryRun bool) error {
	if filterID == "" {
		return errs.MissingParameter(mirrorFilterIDName)
	}
	if len(ruleIDs) == 0 {
		return errs.MissingParameter("TrafficMirrorFilterRuleIds.N")
	}
	params := struct {
		IDs    []string
		DryRun bool
	}{ruleIDs, dryRun}
	_, err := s.update(ctx, func(tx store.Txn) error {
		var done bool
		_, err := withClientToken(tx, accountID, "DeleteTrafficMirrorFilterRules/"+filterID, clientToken, params, &done, func() error {
			f, err := getMirrorFilter(tx, accountID, filterID)
			if err != nil {
				return err
			}
			for i, id := range ruleIDs {
				if slices.Contains(ruleIDs[:i], id) {
					continue // given twice: deleted once
				}
				found := false
				for _, list := range []*[]model.MirrorRule{&f.Ingress, &f.Egress} {
					if i := slices.IndexFunc(*list, func(r model.MirrorRule) bool { return r.ID == id }); i >= 0 {
						*list = slices.Delete(*list, i, i+1)
						found = true
					}
				}
				if !found {
					return errs.NotFound("ResourceNotFound.TrafficMirrorRule",
						"The specified TrafficMirrorFilterRuleId %q is not a rule of filter %s.", id, f.ID)
				}
			}
			if dryRun {
				return errDryRun
			}
			done = true
			return putJSON(tx, model.PrefixMirrorFilter+f.ID, f)
		})
		return err
	})
	return err
}

// UpdateMirrorRuleInput is the request of
// UpdateTrafficMirrorFilterRuleAttribute; nil fields stay as they are.
type UpdateMirrorRuleInput struct {
	Action, Priority, Protocol            *string
	SourceCidrBlock, DestinationCidrBlock *string
	SourcePortRange, DestinationPortRange *string
	ClientToken                           string
	DryRun                                bool
}

// mirrorCidrText is a rule CIDR as the API shows it: the zero Prefix (any
// address) is 0.0.0.0/0, or ::/0 when the rule's other CIDR is IPv6.
func mirrorCidrText(p, other netip.Prefix) string {
	switch {
	case p.IsValid():
		return p.String()
	case other.IsValid() && other.Addr().Is6():
		return "::/0"
	}
	return "0.0.0.0/0"
}

// MirrorCidrs returns a rule's source and destination CIDR blocks as the
// API shows them (see mirrorCidrText).
func MirrorCidrs(r model.MirrorRule) (src, dst string) {
	return mirrorCidrText(r.SourceCidr, r.DestinationCidr), mirrorCidrText(r.DestinationCidr, r.SourceCidr)
}

// UpdateTrafficMirrorFilterRuleAttribute changes a rule: the fields given
// replace the rule's, checked as a new rule. A rule changed to ALL or ICMP
// without port ranges gets -1/-1.
func (s *Service) UpdateTrafficMirrorFilterRuleAttribute(ctx context.Context, accountID, ruleID string, in UpdateMirrorRuleInput) error {
	if ruleID == "" {
		return errs.MissingParameter(mirrorRuleIDName)
	}
	_, err := s.update(ctx, func(tx store.Txn) error {
		var done bool
		_, err := withClientToken(tx, accountID, "UpdateTrafficMirrorFilterRuleAttribute/"+ruleID, in.ClientToken, in, &done, func() error {
			f, old, err := findMirrorRule(tx, accountID, ruleID)
			if err != nil {
				return err
			}
			src, dst := "", ""
			if old.SourceCidr.IsValid() {
				src = old.SourceCidr.String()
			}
			if old.DestinationCidr.IsValid() {
				dst = old.DestinationCidr.String()
			}
			spec := MirrorRuleSpec{
				Action: old.Action, Priority: strconv.Itoa(old.Priority), Protocol: old.Protocol,
				SourceCidrBlock: src, DestinationCidrBlock: dst,
				SourcePortRange: FormatPortRange(old.SourcePorts), DestinationPortRange: FormatPortRange(old.DestinationPorts),
			}
			set := func(dst *string, v *string) {
				if v != nil {
					*dst = *v
				}
			}
			set(&spec.Action, in.Action)
			set(&spec.Priority, in.Priority)
			set(&spec.Protocol, in.Protocol)
			set(&spec.SourceCidrBlock, in.SourceCidrBlock)
			set(&spec.DestinationCidrBlock, in.DestinationCidrBlock)
			if p := strings.ToUpper(spec.Protocol); p != model.ProtoTCP && p != model.ProtoUDP {
				spec.SourcePortRange, spec.DestinationPortRange = "", ""
			}
			set(&spec.SourcePortRange, in.SourcePortRange)
			set(&spec.DestinationPortRange, in.DestinationPortRange)
			r, err := ParseMirrorRule(old.Direction, spec, s.cfg.Quotas.MirrorRulesPerDirection)
			if err != nil {
				return err
			}
			r.ID = old.ID
			list := mirrorRules(f, old.Direction)
			for _, o := range *list {
				if o.ID != r.ID && o.Priority == r.Priority {
					return errs.InvalidParam("DuplicatedParam.Priority",
						"Priority %d is already used by %s rule %s of filter %s: the priorities of a direction are unique.", r.Priority, r.Direction, o.ID, f.ID)
				}
			}
			i := slices.IndexFunc(*list, func(o model.MirrorRule) bool { return o.ID == r.ID })
			(*list)[i] = r
			sortMirrorRules(*list)
			if in.DryRun {
				return errDryRun
			}
			done = true
			return putJSON(tx, model.PrefixMirrorFilter+f.ID, f)
		})
		return err
	})
	return err
}

// findMirrorRule finds a rule among the account's filters.
func findMirrorRule(tx store.ReadTxn, accountID, ruleID string) (*model.MirrorFilter, model.MirrorRule, error) {
	var (
		found *model.MirrorFilter
		rule  model.MirrorRule
	)
	err := listJSON(tx, model.PrefixMirrorFilter, func(f *model.MirrorFilter) error {
		if f.AccountID != accountID || found != nil {
			return nil
		}
		for _, r := range slices.Concat(f.Ingress, f.Egress) {
			if r.ID == ruleID {
				found, rule = f, r
			}
		}
		return nil
	})
	if err == nil && found == nil {
		err = errMirrorRuleNotFound(ruleID)
	}
	return found, rule, err
}

// UpdateTrafficMirrorFilterAttribute renames a filter or changes its
// description.
func (s *Service) UpdateTrafficMirrorFilterAttribute(ctx context.Context, accountID, id string, name, description *string, clientToken string, dryRun bool) error {
	if id == "" {
		return errs.MissingParameter(mirrorFilterIDName)
	}
	if name != nil {
		if err := validateMirrorText("TrafficMirrorFilterName", *name, 128); err != nil {
			return err
		}
	}
	if description != nil {
		if err := validateMirrorText("TrafficMirrorFilterDescription", *description, 256); err != nil {
			return err
		}
	}
	params := struct {
		Name, Description *string
		DryRun            bool
	}{name, description, dryRun}
	return changeOwned(s, ctx, accountID, "UpdateTrafficMirrorFilterAttribute", id, clientToken, params, dryRun,
		func(tx store.ReadTxn) (*model.MirrorFilter, error) { return getMirrorFilter(tx, accountID, id) },
		func(_ store.Txn, f *model.MirrorFilter) error {
			if name != nil {
				f.Name = *name
			}
			if description != nil {
				f.Description = *description
			}
			return nil
		}, func(f *model.MirrorFilter) string { return model.PrefixMirrorFilter + f.ID })
}

// DeleteTrafficMirrorFilter deletes a filter that no session uses.
func (s *Service) DeleteTrafficMirrorFilter(ctx context.Context, accountID, id, clientToken string, dryRun bool) error {
	if id == "" {
		return errs.MissingParameter(mirrorFilterIDName)
	}
	return deleteOwned(s, ctx, accountID, "DeleteTrafficMirrorFilter", id, clientToken, dryRun,
		func(tx store.ReadTxn) (*model.MirrorFilter, error) { return getMirrorFilter(tx, accountID, id) },
		func(tx store.Txn, f *model.MirrorFilter) error {
			sessions, err := accountMirrorSessions(tx, accountID)
			if err != nil {
				return err
			}
			for _, m := range sessions {
				if m.FilterID == f.ID {
					return errMirrorDependency("Filter %s is used by traffic mirror session %s; delete the session or give it another filter first.", f.ID, m.ID)
				}
			}
			return nil
		}, func(f *model.MirrorFilter) string { return model.PrefixMirrorFilter + f.ID })
}

// MirrorFilterQuery selects filters in ListTrafficMirrorFilters; empty
// fields match all.
type MirrorFilterQuery struct {
	IDs                   []string
	Name, ResourceGroupID string
	Tags                  []model.Tag
}

// ListTrafficMirrorFilters lists the account's filters, oldest first.
func (s *Service) ListTrafficMirrorFilters(ctx context.Context, accountID string, q MirrorFilterQuery) ([]model.MirrorFilter, error) {
	return listMatching(s, ctx, model.PrefixMirrorFilter, func(f *model.MirrorFilter) bool {
		return f.AccountID == accountID && (len(q.IDs) == 0 || slices.Contains(q.IDs, f.ID)) && (q.Name == "" || f.Name == q.Name) &&
			(q.ResourceGroupID == "" || f.ResourceGroupID == q.ResourceGroupID) && hasTags(f.Tags, q.Tags)
	}, func(f model.MirrorFilter) (int64, string) { return f.CreatedAt.UnixNano(), f.ID })
}

// ---------------------------------------------------------------------------
// Sessions

// CreateMirrorSessionInput is the request of CreateTrafficMirrorSession.
type CreateMirrorSessionInput struct {
	Name, Description  string
	FilterID, TargetID string
	TargetType         string // NetworkInterface (required)
	Priority           int    // 1..32766 (required)
	VNI                *int   // nil: random
	PacketLength       *int   // nil: model.MirrorDefaultPacketLen
	Enabled            bool
	SourceIDs          []string
	ResourceGroupID    string
	Tags               []model.Tag
	ClientToken        string
	DryRun             bool
}

// parseMirrorTargetType checks TrafficMirrorTargetType and returns its
// model spelling.
func parseMirrorTargetType(v string) (string, error) {
	switch {
	case strings.EqualFold(v, model.MirrorTargetENI):
		return model.MirrorTargetENI, nil
	case strings.EqualFold(v, model.MirrorTargetSLB):
		return model.MirrorTargetSLB, nil
	}
	return "", errs.InvalidParam("IllegalParam.TrafficMirrorTargetType", "The specified TrafficMirrorTargetType %q is not valid; use NetworkInterface or SLB.", v)
}

// getMirrorTarget reads a session's target of type typ: an ENI, or an
// internal load balancer, given as an ENI value with its ID, VPC and
// zone (what the source checks need).
func getMirrorTarget(tx store.ReadTxn, accountID, typ, id string) (*model.ENI, error) {
	if typ != model.MirrorTargetSLB {
		return getMirrorENI(tx, accountID, "TrafficMirrorTargetId", id, true)
	}
	lb, err := getOwned(tx, model.PrefixLoadBalancer, "TrafficMirrorTargetId", accountID, id, func(v *model.LoadBalancer) string { return v.AccountID }, func(id string) *errs.Error {
		return errs.NotFound("ResourceNotFound.TrafficMirrorTarget", "The specified TrafficMirrorTargetId %q does not exist: an SLB traffic mirror target is a load balancer (lb-...) of your account.", id)
	})
	if err != nil {
		return nil, err
	}
	return &model.ENI{ID: lb.ID, VpcID: lb.VpcID, ZoneID: lb.ZoneID}, nil
}

func checkMirrorPriority(p int) error {
	if p < model.MirrorMinPriority || p > model.MirrorMaxPriority {
		return errs.InvalidParam("IllegalParam.Priority",
			"The specified Priority %d is not valid; use an integer from %d to %d (smaller is evaluated first).", p, model.MirrorMinPriority, model.MirrorMaxPriority)
	}
	return nil
}

func checkMirrorVNI(v *int) error {
	if v != nil && (*v < 0 || *v > model.MirrorMaxVNI) {
		return errs.InvalidParam("IllegalParam.VirtualNetworkId", "The specified VirtualNetworkId %d is not valid; use an integer from 0 to %d.", *v, model.MirrorMaxVNI)
	}
	return nil
}

func checkMirrorPacketLength(v *int) error {
	if v != nil && (*v < MirrorMinPacketLen || *v > MirrorMaxPacketLen) {
		return errs.InvalidParam("IllegalParam.PacketLength",
			"The specified PacketLength %d is not valid; use %d to %d bytes (default %d; longer packets are truncated).", *v, MirrorMinPacketLen, MirrorMaxPacketLen, model.MirrorDefaultPacketLen)
	}
	return nil
}

// checkMirrorSourceList refuses a source given twice.
func checkMirrorSourceList(ids []string) error {
	for i, id := range ids {
		if slices.Contains(ids[:i], id) {
			return errs.InvalidParam("DuplicatedParam.TrafficMirrorSourceIds", "Source %s is given twice in TrafficMirrorSourceIds.N.", id)
		}
	}
	return nil
}

// checkMirrorVPCs refuses source e for target when they are in two VPCs
// not joined by an activated peering connection (a cross-VPC target needs
// VPC peering, as in Alibaba Cloud); session names the session whose
// target changes ("" on creation and when adding sources).
func checkMirrorVPCs(tx store.ReadTxn, e, target *model.ENI, session string) error {
	if e.VpcID == target.VpcID {
		return nil
	}
	peered := false
	if err := listJSON(tx, model.PrefixPeerConnection, func(p *model.PeerConnection) error {
		peered = peered || p.Status == model.PeerActivated && p.Other(e.VpcID) == target.VpcID
		return nil
	}); err != nil {
		return err
	}
	if peered {
		return nil
	}
	of := ""
	if session != "" {
		of = " of session " + session
	}
	return errs.InvalidParam("OperationDenied.TrafficMirrorSourceVpc",
		"Source %s%s is in VPC %s but the target %s is in VPC %s, and no activated VPC peering connection joins them: peer the two VPCs (and route the target's address over the peering from the source's VPC), or choose a target in the source's VPC.",
		e.ID, of, e.VpcID, target.ID, target.VpcID)
}

// checkMirrorSessionPriority refuses a priority another session of the
// account (not self) has.
func checkMirrorSessionPriority(tx store.ReadTxn, accountID, self string, p int) error {
	sessions, err := accountMirrorSessions(tx, accountID)
	if err != nil {
		return err
	}
	for _, m := range sessions {
		if m.ID != self && m.Priority == p {
			return errs.InvalidParam("DuplicatedParam.Priority",
				"Priority %d is already used by traffic mirror session %s: session priorities are unique in an account; choose another one.", p, m.ID)
		}
	}
	return nil
}

// checkMirrorSource checks that e may be a source of session self ("" for
// a new one) whose target is target: in the target's VPC, not the target,
// and listed by fewer sessions than the quota (self not counted).
func (s *Service) checkMirrorSource(tx store.ReadTxn, self string, e, target *model.ENI) error {
	if e.ID == target.ID {
		return errs.InvalidParam("OperationDenied.TrafficMirrorSourceIsTarget",
			"Network interface %s is the session's target; it cannot also be its source.", e.ID)
	}
	if err := checkMirrorVPCs(tx, e, target, ""); err != nil {
		return err
	}
	n := 0
	var ids []string
	if err := listJSON(tx, model.PrefixMirrorSession, func(m *model.MirrorSession) error {
		if m.ID != self && slices.Contains(m.SourceIDs, e.ID) {
			n++
			ids = append(ids, m.ID)
		}
		return nil
	}); err != nil {
		return err
	}
	if limit := s.cfg.Quotas.MirrorSessionsPerSource; n >= limit {
		return errs.Quota("QuotaExceeded.TrafficMirrorSessionPerSource",
			"Source %s is already in %d traffic mirror sessions (%s), the maximum per source.", e.ID, n, strings.Join(ids, ", "))
	}
	return nil
}

// addMirrorSources checks the sources ids (given as param.N) and adds
// those m does not have yet.
func (s *Service) addMirrorSources(tx store.ReadTxn, m *model.MirrorSession, target *model.ENI, ids []string) error {
	for i, id := range ids {
		if slices.Contains(m.SourceIDs, id) {
			continue
		}
		e, err := getMirrorENI(tx, m.AccountID, mirrorSourceListParam+"."+strconv.Itoa(i+1), id, false)
		if err != nil {
			return err
		}
		if err := s.checkMirrorSource(tx, m.ID, e, target); err != nil {
			return err
		}
		m.SourceIDs = append(m.SourceIDs, id)
	}
	return nil
}

// randomVNI picks a VNI that no other session of the account uses, if one
// turns up in a few tries (2^24 values: it does unless nearly all are
// taken, and a shared VNI only makes the target's job harder).
func randomVNI(tx store.ReadTxn, accountID string) (uint32, error) {
	sessions, err := accountMirrorSessions(tx, accountID)
	if err != nil {
		return 0, err
	}
	used := map[uint32]bool{}
	for _, m := range sessions {
		used[m.VNI] = true
	}
	var v uint32
	for range 64 {
		var b [4]byte
		if _, err := rand.Read(b[:]); err != nil {
			panic("crypto/rand: " + err.Error())
		}
		v = binary.BigEndian.Uint32(b[:]) & model.MirrorMaxVNI
		if !used[v] {
			break
		}
	}
	return v, nil
}

// CreateTrafficMirrorSession creates a session (disabled unless Enabled).
func (s *Service) CreateTrafficMirrorSession(ctx context.Context, accountID string, in CreateMirrorSessionInput) (MirrorCreated, error) {
	var out MirrorCreated
	switch {
	case in.FilterID == "":
		return out, errs.MissingParameter(mirrorFilterIDName)
	case in.TargetID == "":
		return out, errs.MissingParameter("TrafficMirrorTargetId")
	case in.TargetType == "":
		return out, errs.MissingParameter("TrafficMirrorTargetType")
	}
	targetType, err := parseMirrorTargetType(in.TargetType)
	if err != nil {
		return out, err
	}
	if err := checkMirrorPriority(in.Priority); err != nil {
		return out, err
	}
	if err := checkMirrorVNI(in.VNI); err != nil {
		return out, err
	}
	if err := checkMirrorPacketLength(in.PacketLength); err != nil {
		return out, err
	}
	if err := validateMirrorText("TrafficMirrorSessionName", in.Name, 128); err != nil {
		return out, err
	}
	if err := validateMirrorText("TrafficMirrorSessionDescription", in.Description, 256); err != nil {
		return out, err
	}
	if err := checkMirrorSourceList(in.SourceIDs); err != nil {
		return out, err
	}
	_, err = s.update(ctx, func(tx store.Txn) error {
		_, err := withClientToken(tx, accountID, "CreateTrafficMirrorSession", in.ClientToken, in, &out, func() error {
			if _, err := getMirrorFilter(tx, accountID, in.FilterID); err != nil {
				return err
			}
			target, err := getMirrorTarget(tx, accountID, targetType, in.TargetID)
			if err != nil {
				return err
			}
			if err := checkMirrorSessionPriority(tx, accountID, "", in.Priority); err != nil {
				return err
			}
			m := model.MirrorSession{
				ID: NewID("tms"), AccountID: accountID, RegionID: s.cfg.Region, Name: in.Name, Description: in.Description,
				FilterID: in.FilterID, TargetID: target.ID, TargetType: targetType, Priority: in.Priority,
				PacketLength: model.MirrorDefaultPacketLen, Enabled: in.Enabled, SourceIDs: []string{},
				ResourceGroupID: in.ResourceGroupID, Tags: in.Tags, CreatedAt: s.stamp(),
			}
			if in.PacketLength != nil {
				m.PacketLength = *in.PacketLength
			}
			if in.VNI != nil {
				m.VNI = uint32(*in.VNI)
			} else if m.VNI, err = randomVNI(tx, accountID); err != nil {
				return err
			}
			if err := s.addMirrorSources(tx, &m, target, in.SourceIDs); err != nil {
				return err
			}
			if in.DryRun {
				return errDryRun
			}
			out = MirrorCreated{ID: m.ID, ResourceGroupID: m.ResourceGroupID}
			return putJSON(tx, model.PrefixMirrorSession+m.ID, &m)
		})
		return err
	})
	return out, err
}

// UpdateMirrorSessionInput is the request of
// UpdateTrafficMirrorSessionAttribute; nil fields stay as they are.
type UpdateMirrorSessionInput struct {
	Name, Description           *string
	FilterID, TargetID          *string
	TargetType                  *string
	Priority, VNI, PacketLength *int
	Enabled                     *bool
	ClientToken                 string
	DryRun                      bool
}

// UpdateTrafficMirrorSessionAttribute changes a session, with the checks
// of its creation: a new target must not be one of the sources, and the
// sources must be in its VPC.
func (s *Service) UpdateTrafficMirrorSessionAttribute(ctx context.Context, accountID, id string, in UpdateMirrorSessionInput) error {
	if id == "" {
		return errs.MissingParameter(mirrorSessionIDName)
	}
	targetType := ""
	if in.TargetType != nil {
		var err error
		if targetType, err = parseMirrorTargetType(*in.TargetType); err != nil {
			return err
		}
	}
	if in.Priority != nil {
		if err := checkMirrorPriority(*in.Priority); err != nil {
			return err
		}
	}
	if err := checkMirrorVNI(in.VNI); err != nil {
		return err
	}
	if err := checkMirrorPacketLength(in.PacketLength); err != nil {
		return err
	}
	if in.Name != nil {
		if err := validateMirrorText("TrafficMirrorSessionName", *in.Name, 128); err != nil {
			return err
		}
	}
	if in.Description != nil {
		if err := validateMirrorText("TrafficMirrorSessionDescription", *in.Description, 256); err != nil {
			return err
		}
	}
	_, err := s.update(ctx, func(tx store.Txn) error {
		var done bool
		_, err := withClientToken(tx, accountID, "UpdateTrafficMirrorSessionAttribute/"+id, in.ClientToken, in, &done, func() error {
			m, err := getMirrorSession(tx, accountID, id)
			if err != nil {
				return err
			}
			if in.FilterID != nil {
				if _, err := getMirrorFilter(tx, accountID, *in.FilterID); err != nil {
					return err
				}
				m.FilterID = *in.FilterID
			}
			typ := cmp.Or(targetType, m.TargetType, model.MirrorTargetENI)
			if typ != cmp.Or(m.TargetType, model.MirrorTargetENI) && (in.TargetID == nil || *in.TargetID == m.TargetID) {
				return errs.MissingParameter("TrafficMirrorTargetId")
			}
			if in.TargetID != nil && *in.TargetID != m.TargetID {
				target, err := getMirrorTarget(tx, accountID, typ, *in.TargetID)
				if err != nil {
					return err
				}
				for _, src := range m.SourceIDs {
					var e model.ENI
					if ok, err := getJSON(tx, model.PrefixENI+src, &e); err != nil {
						return err
					} else if !ok {
						continue // gone: deleteENI removes it from the sources
					}
					if e.ID == target.ID {
						return errs.InvalidParam("OperationDenied.TrafficMirrorSourceIsTarget",
							"Network interface %s is a source of session %s; it cannot also be its target (remove it from the sources first).", e.ID, m.ID)
					}
					if err := checkMirrorVPCs(tx, &e, target, m.ID); err != nil {
						return err
					}
				}
				m.TargetID, m.TargetType = target.ID, typ
			}
			if in.Priority != nil && *in.Priority != m.Priority {
				if err := checkMirrorSessionPriority(tx, accountID, m.ID, *in.Priority); err != nil {
					return err
				}
				m.Priority = *in.Priority
			}
			if in.VNI != nil {
				m.VNI = uint32(*in.VNI)
			}
			if in.PacketLength != nil {
				m.PacketLength = *in.PacketLength
			}
			if in.Enabled != nil {
				m.Enabled = *in.Enabled
			}
			if in.Name != nil {
				m.Name = *in.Name
			}
			if in.Description != nil {
				m.Description = *in.Description
			}
			if in.DryRun {
				return errDryRun
			}
			done = true
			return putJSON(tx, model.PrefixMirrorSession+m.ID, m)
		})
		return err
	})
	return err
}

// mirrorSourcesChange runs AddSourcesToTrafficMirrorSession and
// RemoveSourcesFromTrafficMirrorSession.
func (s *Service) mirrorSourcesChange(ctx context.Context, action, accountID, id string, ids []string, clientToken string, dryRun bool,
	change func(tx store.Txn, m *model.MirrorSession) error) error {
	if id == "" {
		return errs.MissingParameter(mirrorSessionIDName)
	}
	if len(ids) == 0 {
		return errs.MissingParameter(mirrorSourceListParam + ".N")
	}
	if err := checkMirrorSourceList(ids); err != nil {
		return err
	}
	params := struct {
		IDs    []string
		DryRun bool
	}{ids, dryRun}
	_, err := s.update(ctx, func(tx store.Txn) error {
		var done bool
		_, err := withClientToken(tx, accountID, action+"/"+id, clientToken, params, &done, func() error {
			m, err := getMirrorSession(tx, accountID, id)
			if err != nil {
				return err
			}
			if err := change(tx, m); err != nil {
				return err
			}
			if dryRun {
				return errDryRun
			}
			done = true
			return putJSON(tx, model.PrefixMirrorSession+m.ID, m)
		})
		return err
	})
	return err
}

// AddSourcesToTrafficMirrorSession adds source ENIs to a session; one it
// already has is left as it is.
func (s *Service) AddSourcesToTrafficMirrorSession(ctx context.Context, accountID, id string, ids []string, clientToken string, dryRun bool) error {
	return s.mirrorSourcesChange(ctx, "AddSourcesToTrafficMirrorSession", accountID, id, ids, clientToken, dryRun, func(tx store.Txn, m *model.MirrorSession) error {
		target, err := getMirrorTarget(tx, m.AccountID, m.TargetType, m.TargetID)
		if err != nil {
			return errs.New(http.StatusInternalServerError, "InternalError", "The target %s of session %s is missing.", m.TargetID, m.ID)
		}
		return s.addMirrorSources(tx, m, target, ids)
	})
}

// RemoveSourcesFromTrafficMirrorSession removes source ENIs from a session;
// an ENI that is not one of its sources is ResourceNotFound.TrafficMirrorSource.
func (s *Service) RemoveSourcesFromTrafficMirrorSession(ctx context.Context, accountID, id string, ids []string, clientToken string, dryRun bool) error {
	return s.mirrorSourcesChange(ctx, "RemoveSourcesFromTrafficMirrorSession", accountID, id, ids, clientToken, dryRun, func(_ store.Txn, m *model.MirrorSession) error {
		for i, src := range ids {
			j := slices.Index(m.SourceIDs, src)
			if j < 0 {
				return errs.NotFound("ResourceNotFound.TrafficMirrorSource",
					"The specified %s.%d %q is not a source of traffic mirror session %s.", mirrorSourceListParam, i+1, src, m.ID)
			}
			m.SourceIDs = slices.Delete(m.SourceIDs, j, j+1)
		}
		return nil
	})
}

// DeleteTrafficMirrorSession deletes a session.
func (s *Service) DeleteTrafficMirrorSession(ctx context.Context, accountID, id, clientToken string, dryRun bool) error {
	if id == "" {
		return errs.MissingParameter(mirrorSessionIDName)
	}
	return deleteOwned(s, ctx, accountID, "DeleteTrafficMirrorSession", id, clientToken, dryRun,
		func(tx store.ReadTxn) (*model.MirrorSession, error) { return getMirrorSession(tx, accountID, id) },
		func(store.Txn, *model.MirrorSession) error { return nil },
		func(m *model.MirrorSession) string { return model.PrefixMirrorSession + m.ID })
}

// MirrorSessionQuery selects sessions in ListTrafficMirrorSessions; empty
// (nil) fields match all.
type MirrorSessionQuery struct {
	IDs                                []string
	FilterID, SourceID, TargetID, Name string
	ResourceGroupID                    string
	Priority, VNI                      *int
	Enabled                            *bool
	Tags                               []model.Tag
}

func (q MirrorSessionQuery) match(m *model.MirrorSession) bool {
	return (len(q.IDs) == 0 || slices.Contains(q.IDs, m.ID)) &&
		(q.FilterID == "" || m.FilterID == q.FilterID) &&
		(q.SourceID == "" || slices.Contains(m.SourceIDs, q.SourceID)) &&
		(q.TargetID == "" || m.TargetID == q.TargetID) &&
		(q.Name == "" || m.Name == q.Name) &&
		(q.ResourceGroupID == "" || m.ResourceGroupID == q.ResourceGroupID) &&
		(q.Priority == nil || m.Priority == *q.Priority) &&
		(q.VNI == nil || int64(m.VNI) == int64(*q.VNI)) &&
		(q.Enabled == nil || m.Enabled == *q.Enabled) &&
		hasTags(m.Tags, q.Tags)
}

// ListTrafficMirrorSessions lists the account's sessions, oldest first.
func (s *Service) ListTrafficMirrorSessions(ctx context.Context, accountID string, q MirrorSessionQuery) ([]model.MirrorSession, error) {
	return listMatching(s, ctx, model.PrefixMirrorSession, func(m *model.MirrorSession) bool { return m.AccountID == accountID && q.match(m) },
		func(m model.MirrorSession) (int64, string) { return m.CreatedAt.UnixNano(), m.ID })
}

// releaseMirrorENI is deleteENI's part of traffic mirroring: an ENI that a
// session mirrors to cannot be deleted (nor, for a primary ENI, its
// instance); an ENI that is a source leaves the sessions' sources.
func releaseMirrorENI(tx store.Txn, e *model.ENI) error {
	var changed []*model.MirrorSession
	if err := listJSON(tx, model.PrefixMirrorSession, func(m *model.MirrorSession) error {
		if m.TargetID == e.ID {
			what := "Network interface " + e.ID
			if e.Type == model.ENITypePrimary && e.InstanceID != "" {
				what += " (the primary network interface of instance " + e.InstanceID + ")"
			}
			return errMirrorDependency("%s is the target of traffic mirror session %s; delete the session or give it another target first.", what, m.ID)
		}
		if i := slices.Index(m.SourceIDs, e.ID); i >= 0 {
			m.SourceIDs = slices.Delete(m.SourceIDs, i, i+1)
			changed = append(changed, m)
		}
		return nil
	}); err != nil {
		return err
	}
	for _, m := range changed {
		if err := putJSON(tx, model.PrefixMirrorSession+m.ID, m); err != nil {
			return err
		}
	}
	return nil
}
