package api

import (
	"cmp"
	"context"
	"encoding/json"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/palisade-project/palisade/internal/errs"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/service"
	"github.com/palisade-project/palisade/internal/waf/wafrule"
)

// WAF actions (VersionPalisade): protected objects, templates (core rule
// set profiles), rules (whitelist, blacklist, custom, ratelimit), the data
// plane's configuration and logs. "Action" is the API's own parameter, so
// a template's mode is Mode and a rule's action RuleAction.

type wafTemplateItem struct {
	TemplateId       string
	Name             string
	Mode             string
	ParanoiaLevel    int
	InboundThreshold int
	ExcludeRuleIds   []int
	ExcludeTags      []string
	BodyLimit        int
	BodyAction       string
	InspectResponses bool
	CreationTime     string
}

type wafProtectionItem struct {
	ProtectionId    string
	InstanceId      string
	Port            int
	Protocol        string
	UpstreamAddress string
	ListenAddress   string
	TemplateId      string
	BlockStatus     int
	BlockHeaders    map[string]string
	BlockBody       string
	BlacklistAction string
	// Steering is how traffic reaches the WAF: "eip" (connections to Port
	// of the instance's EIP are steered to the WAF in the kernel by the
	// instance's agent, transparently; `palisade waf serve` listens on
	// ListenAddress besides).
	Steering string
	// Status says whether the object is in force: Active (EipAddress is
	// the address whose Port goes through the WAF), NoEip or
	// UpstreamNotOnInstance (nothing is steered; StatusReason says what to
	// do).
	Status       string
	EipAddress   string
	StatusReason string
	CreationTime string
}

type wafRuleItem struct {
	RuleId        string
	ProtectionId  string
	Kind          string
	Name          string
	Conditions    string
	RuleAction    string
	Bypass        []string
	Addresses     []string
	ExpireTime    string
	By            string
	Header        string
	Interval      int
	Threshold     int
	BlockDuration int
	Status        int
	CreationTime  string
}

type wafLogItem struct {
	Time         string
	ProtectionId string
	ClientIp     string
	Method       string
	Host         string
	Uri          string
	Status       int
	Module       string
	RuleIds      []string
	WafAction    string
	Score        int
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func toWafTemplate(t model.WAFTemplate) wafTemplateItem {
	return wafTemplateItem{TemplateId: t.ID, Name: t.Name, Mode: t.Action, ParanoiaLevel: t.ParanoiaLevel, InboundThreshold: t.InboundThreshold,
		ExcludeRuleIds: orEmpty(t.ExcludeRuleIDs), ExcludeTags: orEmpty(t.ExcludeTags), BodyLimit: t.BodyLimit, BodyAction: t.BodyAction,
		InspectResponses: t.InspectResponses, CreationTime: rfc3339(t.CreatedAt)}
}

// protectionStatus is the answer of CreateWafProtection and
// ModifyWafProtection: the object's ID and whether it is in force, so that
// a caller learns at once that, say, the instance has no EIP yet.
func protectionStatus(ctx context.Context, svc *service.Service, accountID string, p model.WAFProtection) (any, error) {
	st, err := svc.WafSteering(ctx, accountID, []model.WAFProtection{p})
	if err != nil {
		return nil, err
	}
	return map[string]string{"ProtectionId": p.ID, "Status": st[p.ID].Status, "StatusReason": st[p.ID].Reason}, nil
}

func toWafProtection(p model.WAFProtection, st service.WAFSteering) wafProtectionItem {
	var eip string
	if st.EIPAddress.IsValid() {
		eip = st.EIPAddress.String()
	}
	return wafProtectionItem{Status: st.Status, EipAddress: eip, StatusReason: st.Reason,
		ProtectionId: p.ID, InstanceId: p.InstanceID, Port: p.Port, Protocol: p.Protocol, UpstreamAddress: p.Upstream,
		ListenAddress: p.Listen, TemplateId: p.TemplateID, BlockStatus: cmp.Or(p.BlockStatus, wafrule.DefaultBlockStatus), BlockHeaders: p.BlockHeaders, BlockBody: p.BlockBody,
		BlacklistAction: p.BlacklistAction, Steering: "eip", CreationTime: rfc3339(p.CreatedAt)}
}

func toWafRule(r model.WAFRule) wafRuleItem {
	return wafRuleItem{RuleId: r.ID, ProtectionId: r.ProtectionID, Kind: r.Kind, Name: r.Name, Conditions: r.Conditions, RuleAction: r.Action,
		Bypass: orEmpty(r.Bypass), Addresses: orEmpty(r.Addresses), ExpireTime: rfc3339(r.ExpiresAt), By: r.By, Header: r.Header,
		Interval: r.Interval, Threshold: r.Threshold, BlockDuration: r.BlockFor, Status: r.Status, CreationTime: rfc3339(r.CreatedAt)}
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// optString returns a pointer to the parameter when it was sent.
func optString(p Params, name string) *string {
	if !p.Has(name) {
		return nil
	}
	v := p.Get(name)
	return &v
}

// optInt parses an integer parameter when it was sent (non-empty).
func optInt(p Params, name string) (*int, error) {
	if p.Get(name) == "" {
		return nil, nil
	}
	n, err := p.Int(name, 0)
	if err != nil {
		return nil, err
	}
	return &n, nil
}

func wafTemplateInput(p Params) (service.WAFTemplateInput, error) {
	in := service.WAFTemplateInput{Name: optString(p, "Name"), Action: optString(p, "Mode"), BodyAction: optString(p, "BodyAction")}
	var err error
	if in.ParanoiaLevel, err = optInt(p, "ParanoiaLevel"); err != nil {
		return in, err
	}
	if in.InboundThreshold, err = optInt(p, "InboundThreshold"); err != nil {
		return in, err
	}
	if in.BodyLimit, err = optInt(p, "BodyLimit"); err != nil {
		return in, err
	}
	if p.Get("InspectResponses") != "" {
		v, err := p.Bool("InspectResponses", false)
		if err != nil {
			return in, err
		}
		in.InspectResponses = &v
	}
	if p.Has("ExcludeRuleIds") {
		items, err := p.JSONList("ExcludeRuleIds")
		if err != nil {
			return in, err
		}
		ids := []int{}
		for _, s := range items {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil {
				return in, errs.InvalidParameter("ExcludeRuleIds", "%q is not a rule ID", s)
			}
			ids = append(ids, n)
		}
		in.ExcludeRuleIDs = &ids
	}
	if p.Has("ExcludeTags") {
		tags, err := p.JSONList("ExcludeTags")
		if err != nil {
			return in, err
		}
		if tags == nil {
			tags = []string{}
		}
		in.ExcludeTags = &tags
	}
	return in, nil
}

func wafProtectionInput(p Params) (service.WAFProtectionInput, error) {
	in := service.WAFProtectionInput{InstanceID: p.Get("InstanceId"), Upstream: optString(p, "UpstreamAddress"),
		Listen: optString(p, "ListenAddress"), TLSCert: optString(p, "TlsCertificate"), TLSKey: optString(p, "TlsPrivateKey"),
		TemplateID: optString(p, "TemplateId"), BlockBody: optString(p, "BlockBody"), BlacklistAction: optString(p, "BlacklistAction")}
	var err error
	if in.BlockStatus, err = optInt(p, "BlockStatus"); err != nil {
		return in, err
	}
	if v := p.Get("BlockHeaders"); v != "" {
		h := map[string]string{}
		if err := json.Unmarshal([]byte(v), &h); err != nil {
			return in, errs.InvalidParameter("BlockHeaders", "expected a JSON object of strings such as {\"Retry-After\":\"30\"}")
		}
		in.BlockHeaders = &h
	} else if p.Has("BlockHeaders") {
		h := map[string]string{}
		in.BlockHeaders = &h
	}
	return in, nil
}

func wafRuleInput(p Params) (service.WAFRuleInput, error) {
	in := service.WAFRuleInput{ProtectionID: p.Get("ProtectionId"), Kind: p.Get("Kind"), Name: p.Get("Name"), Conditions: p.Get("Conditions"),
		Action: p.Get("RuleAction"), By: p.Get("By"), Header: p.Get("Header"), Bypass: CommaList(p.Get("Bypass"))}
	var err error
	if in.Addresses, err = p.JSONList("Addresses"); err != nil {
		return in, err
	}
	for name, dst := range map[string]*int{"Ttl": &in.TTL, "Interval": &in.Interval, "Threshold": &in.Threshold, "BlockDuration": &in.BlockFor, "Status": &in.Status} {
		if *dst, err = p.Int(name, 0); err != nil {
			return in, err
		}
	}
	return in, nil
}

// keepRuleParams is ModifyWafRule's input: the parameters given, and the
// rule's current values for the others, as Alibaba's Modify actions keep
// what they are not given. (Replacing them would, for instance, widen a
// whitelist rule modified without Bypass to bypass every module.) A
// blacklist rule keeps its expiry time; one that has expired needs a new
// Ttl.
func keepRuleParams(cur model.WAFRule, given Params, now time.Time) (Params, error) {
	p := Params{}
	for k, v := range given {
		p[k] = v
	}
	keep := func(name, v string) {
		if !given.Has(name) {
			p[name] = v
		}
	}
	addrs, err := json.Marshal(cur.Addresses)
	if err != nil {
		return nil, err
	}
	keep("Name", cur.Name)
	keep("Conditions", cur.Conditions)
	keep("RuleAction", cur.Action)
	keep("Bypass", strings.Join(cur.Bypass, ","))
	keep("Addresses", string(addrs))
	keep("By", cur.By)
	keep("Header", cur.Header)
	keep("Interval", strconv.Itoa(cur.Interval))
	keep("Threshold", strconv.Itoa(cur.Threshold))
	keep("BlockDuration", strconv.Itoa(cur.BlockFor))
	keep("Status", strconv.Itoa(cur.Status))
	if !given.Has("Ttl") && !cur.ExpiresAt.IsZero() {
		left := cur.ExpiresAt.Sub(now)
		if left <= 0 {
			return nil, errs.InvalidParameter("Ttl", "blacklist rule %s expired at %s: give a new Ttl (seconds, 0 for never)", cur.ID, cur.ExpiresAt.UTC().Format(time.RFC3339))
		}
		// The expiry itself is kept (WAFRuleInput.ExpiresAt), not a Ttl
		// recomputed from now, which would move it by up to a second.
	}
	return p, nil
}

// RegisterWAF registers the WAF actions.
func RegisterWAF(rt *Router, svc *service.Service) {
	rt.Handle(VersionPalisade, "CreateWafTemplate", func(ctx context.Context, r *Request) (any, error) {
		in, err := wafTemplateInput(r.Params)
		if err != nil {
			return nil, err
		}
		t, err := svc.CreateWafTemplate(ctx, r.Account.ID, in)
		if err != nil {
			return nil, err
		}
		return map[string]string{"TemplateId": t.ID}, nil
	})
	rt.Handle(VersionPalisade, "ModifyWafTemplate", func(ctx context.Context, r *Request) (any, error) {
		in, err := wafTemplateInput(r.Params)
		if err != nil {
			return nil, err
		}
		return struct{}{}, svc.ModifyWafTemplate(ctx, r.Account.ID, r.Params.Get("TemplateId"), in)
	})
	rt.Handle(VersionPalisade, "DescribeWafTemplates", func(ctx context.Context, r *Request) (any, error) {
		ts, err := svc.DescribeWafTemplates(ctx, r.Account.ID, r.Params.Get("TemplateId"))
		if err != nil {
			return nil, err
		}
		var resp struct {
			TotalCount int
			Templates  struct{ Template []wafTemplateItem }
		}
		resp.TotalCount = len(ts)
		resp.Templates.Template = make([]wafTemplateItem, 0, len(ts))
		for _, t := range ts {
			resp.Templates.Template = append(resp.Templates.Template, toWafTemplate(t))
		}
		return resp, nil
	})
	rt.Handle(VersionPalisade, "DeleteWafTemplate", func(ctx context.Context, r *Request) (any, error) {
		return struct{}{}, svc.DeleteWafTemplate(ctx, r.Account.ID, r.Params.Get("TemplateId"))
	})

	rt.Handle(VersionPalisade, "CreateWafProtection", func(ctx context.Context, r *Request) (any, error) {
		port, err := r.Params.Required("Port")
		if err != nil {
			return nil, err
		}
		in, err := wafProtectionInput(r.Params)
		if err != nil {
			return nil, err
		}
		if in.Port, err = strconv.Atoi(port); err != nil {
			return nil, errs.InvalidParameter("Port", "%q is not an integer", port)
		}
		p, err := svc.CreateWafProtection(ctx, r.Account.ID, in)
		if err != nil {
			return nil, err
		}
		return protectionStatus(ctx, svc, r.Account.ID, p)
	})
	rt.Handle(VersionPalisade, "ModifyWafProtection", func(ctx context.Context, r *Request) (any, error) {
		in, err := wafProtectionInput(r.Params)
		if err != nil {
			return nil, err
		}
		id := r.Params.Get("ProtectionId")
		if err := svc.ModifyWafProtection(ctx, r.Account.ID, id, in); err != nil {
			return nil, err
		}
		ps, err := svc.DescribeWafProtections(ctx, r.Account.ID, service.WAFProtectionFilter{ID: id})
		if err != nil {
			return nil, err
		}
		return protectionStatus(ctx, svc, r.Account.ID, ps[0])
	})
	rt.Handle(VersionPalisade, "DescribeWafProtections", func(ctx context.Context, r *Request) (any, error) {
		ps, err := svc.DescribeWafProtections(ctx, r.Account.ID, service.WAFProtectionFilter{ID: r.Params.Get("ProtectionId"), InstanceID: r.Params.Get("InstanceId")})
		if err != nil {
			return nil, err
		}
		var resp struct {
			TotalCount  int
			Protections struct{ Protection []wafProtectionItem }
		}
		steering, err := svc.WafSteering(ctx, r.Account.ID, ps)
		if err != nil {
			return nil, err
		}
		resp.TotalCount = len(ps)
		resp.Protections.Protection = make([]wafProtectionItem, 0, len(ps))
		for _, p := range ps {
			resp.Protections.Protection = append(resp.Protections.Protection, toWafProtection(p, steering[p.ID]))
		}
		return resp, nil
	})
	rt.Handle(VersionPalisade, "DeleteWafProtection", func(ctx context.Context, r *Request) (any, error) {
		return struct{}{}, svc.DeleteWafProtection(ctx, r.Account.ID, r.Params.Get("ProtectionId"))
	})

	rt.Handle(VersionPalisade, "CreateWafRule", func(ctx context.Context, r *Request) (any, error) {
		in, err := wafRuleInput(r.Params)
		if err != nil {
			return nil, err
		}
		if in.ProtectionID == "" {
			return nil, errs.MissingParameter("ProtectionId")
		}
		rule, err := svc.CreateWafRule(ctx, r.Account.ID, in)
		if err != nil {
			return nil, err
		}
		return map[string]string{"RuleId": rule.ID}, nil
	})
	rt.Handle(VersionPalisade, "ModifyWafRule", func(ctx context.Context, r *Request) (any, error) {
		id, err := r.Params.Required("RuleId")
		if err != nil {
			return nil, err
		}
		cur, err := svc.WafRule(ctx, r.Account.ID, id)
		if err != nil {
			return nil, err
		}
		params, err := keepRuleParams(cur, r.Params, time.Now())
		if err != nil {
			return nil, err
		}
		in, err := wafRuleInput(params)
		if err != nil {
			return nil, err
		}
		if !r.Params.Has("Ttl") {
			in.ExpiresAt = cur.ExpiresAt
		}
		return struct{}{}, svc.ModifyWafRule(ctx, r.Account.ID, id, in)
	})
	rt.Handle(VersionPalisade, "DescribeWafRules", func(ctx context.Context, r *Request) (any, error) {
		rs, err := svc.DescribeWafRules(ctx, r.Account.ID, r.Params.Get("ProtectionId"), r.Params.Get("Kind"))
		if err != nil {
			return nil, err
		}
		var resp struct {
			TotalCount int
			Rules      struct{ Rule []wafRuleItem }
		}
		resp.TotalCount = len(rs)
		resp.Rules.Rule = make([]wafRuleItem, 0, len(rs))
		for _, x := range rs {
			resp.Rules.Rule = append(resp.Rules.Rule, toWafRule(x))
		}
		return resp, nil
	})
	rt.Handle(VersionPalisade, "DeleteWafRule", func(ctx context.Context, r *Request) (any, error) {
		return struct{}{}, svc.DeleteWafRule(ctx, r.Account.ID, r.Params.Get("RuleId"))
	})

	// DescribeWafConfig is for the data plane (`palisade waf serve`):
	// Objects are wafrule.ObjectConfig values (snake_case JSON).
	rt.Handle(VersionPalisade, "DescribeWafConfig", func(ctx context.Context, r *Request) (any, error) {
		objs, hash, err := svc.DescribeWafConfig(ctx, r.Account.ID)
		if err != nil {
			return nil, err
		}
		if objs == nil {
			return map[string]any{"Hash": hash, "Objects": []any{}}, nil
		}
		return map[string]any{"Hash": hash, "Objects": objs}, nil
	})
	rt.Handle(VersionPalisade, "PutWafLogs", func(ctx context.Context, r *Request) (any, error) {
		raw, err := r.Params.Required("Records")
		if err != nil {
			return nil, err
		}
		var recs []struct {
			Time     time.Time `json:"time"`
			Object   string    `json:"object"`
			ClientIP string    `json:"client_ip"`
			Method   string    `json:"method"`
			Host     string    `json:"host"`
			URI      string    `json:"uri"`
			Status   int       `json:"status"`
			Module   string    `json:"module"`
			RuleIDs  []string  `json:"rule_ids"`
			Action   string    `json:"action"`
			Score    int       `json:"score"`
		}
		if err := json.Unmarshal([]byte(raw), &recs); err != nil {
			return nil, errs.InvalidParameter("Records", "expected a JSON array of WAF log records (as `palisade waf serve` writes them)")
		}
		out := make([]model.WAFLog, len(recs))
		for i, x := range recs {
			if x.Object == "" {
				return nil, errs.InvalidParameter("Records", "record %d has no object", i+1)
			}
			out[i] = model.WAFLog{Time: x.Time, ProtectionID: x.Object, ClientIP: x.ClientIP, Method: x.Method, Host: x.Host, URI: x.URI,
				Status: x.Status, Module: x.Module, RuleIDs: x.RuleIDs, Action: x.Action, Score: x.Score}
		}
		n, err := svc.PutWafLogs(ctx, r.Account.ID, out)
		if err != nil {
			return nil, err
		}
		return map[string]int{"Accepted": n}, nil
	})
	rt.Handle(VersionPalisade, "DescribeWafLogs", func(ctx context.Context, r *Request) (any, error) {
		p := r.Params
		f := service.WAFLogFilter{ProtectionID: p.Get("ProtectionId"), ClientIP: p.Get("ClientIp"), Action: p.Get("WafAction"), Module: p.Get("Module")}
		// A filter that can match nothing is a mistake to report, not an
		// empty answer.
		switch strings.ToLower(f.Action) {
		case "", "block", "monitor", "pass":
		default:
			return nil, errs.InvalidParameter("WafAction", "%q: use block, monitor or pass", f.Action)
		}
		if f.Module != "" {
			if _, err := wafrule.ParseModule(f.Module); err != nil {
				return nil, errs.InvalidParameter("Module", "%v", err)
			}
		}
		if f.ClientIP != "" {
			if _, err := netip.ParseAddr(f.ClientIP); err != nil {
				return nil, errs.InvalidParameter("ClientIp", "%q: use one IP address such as 203.0.113.9", f.ClientIP)
			}
		}
		var err error
		if f.Limit, err = p.IntRange("MaxResults", 100, 1, 1000); err != nil {
			return nil, err
		}
		for name, dst := range map[string]*time.Time{"StartTime": &f.Start, "EndTime": &f.End} {
			if v := p.Get(name); v != "" {
				if *dst, err = time.Parse(time.RFC3339, v); err != nil {
					return nil, errs.InvalidParameter(name, "%q: use RFC 3339 such as 2026-11-25T12:00:00Z", v)
				}
			}
		}
		logs, total, err := svc.DescribeWafLogs(ctx, r.Account.ID, f)
		if err != nil {
			return nil, err
		}
		var resp struct {
			TotalCount int
			Logs       struct{ Log []wafLogItem }
		}
		resp.TotalCount = total
		resp.Logs.Log = make([]wafLogItem, 0, len(logs))
		for _, l := range logs {
			resp.Logs.Log = append(resp.Logs.Log, wafLogItem{Time: l.Time.UTC().Format(time.RFC3339Nano), ProtectionId: l.ProtectionID, ClientIp: l.ClientIP,
				Method: l.Method, Host: l.Host, Uri: l.URI, Status: l.Status, Module: l.Module, RuleIds: orEmpty(l.RuleIDs), WafAction: l.Action, Score: l.Score})
		}
		return resp, nil
	})
}
