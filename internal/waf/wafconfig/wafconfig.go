// Package wafconfig converts stored WAF records (model) into the data
// plane's object configuration (wafrule.ObjectConfig). The control plane
// (DescribeWafConfig, for `palisade waf serve`) and the agents (which run
// the WAF inside the VPC namespaces for steered EIP ports) share it, so
// both data planes enforce the same thing.
package wafconfig

import (
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/waf/wafrule"
)

// DefaultBodyLimit is the body inspection limit of the built-in template.
const DefaultBodyLimit = 128 << 10

// DefaultTemplate is the core-rule-set profile of objects without a
// template: CRS paranoia 1, anomaly threshold 5, block.
func DefaultTemplate() model.WAFTemplate {
	return model.WAFTemplate{Action: "block", ParanoiaLevel: 1, InboundThreshold: 5, BodyLimit: DefaultBodyLimit, BodyAction: "inspect-partial"}
}

// Object is the configuration of protected object p with template t (nil:
// DefaultTemplate) and its rules (any order). upstream is used when p has
// none of its own ("" when unknown); Listen defaults to ":<port>".
func Object(p model.WAFProtection, t *model.WAFTemplate, rules []model.WAFRule, upstream string) wafrule.ObjectConfig {
	oc := wafrule.ObjectConfig{ID: p.ID, Listen: p.Listen, Upstream: p.Upstream, TLSCert: p.TLSCert, TLSKey: p.TLSKey,
		BlacklistAction: p.BlacklistAction,
		Response:        wafrule.ResponseConfig{Status: p.BlockStatus, Headers: p.BlockHeaders, Body: p.BlockBody}}
	if oc.Listen == "" {
		oc.Listen = ":" + strconv.Itoa(p.Port)
	}
	if oc.Upstream == "" {
		oc.Upstream = upstream
	}
	tpl := DefaultTemplate()
	if t != nil {
		tpl = *t
	}
	oc.Profile = wafrule.ProfileConfig{Action: tpl.Action, ParanoiaLevel: tpl.ParanoiaLevel, InboundThreshold: tpl.InboundThreshold,
		ExcludeRuleIDs: tpl.ExcludeRuleIDs, ExcludeTags: tpl.ExcludeTags, BodyLimit: tpl.BodyLimit, BodyAction: tpl.BodyAction,
		InspectResponses: tpl.InspectResponses}
	rs := slices.Clone(rules)
	slices.SortFunc(rs, func(a, b model.WAFRule) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	for _, r := range rs {
		oc.Rules = append(oc.Rules, wafrule.RuleConfig{ID: r.ID, Kind: r.Kind, Conditions: r.Conditions, Action: r.Action,
			Bypass: r.Bypass, Addresses: r.Addresses, Expires: r.ExpiresAt, By: r.By, Header: r.Header,
			Interval: r.Interval, Threshold: r.Threshold, BlockFor: r.BlockFor, Status: r.Status})
	}
	return oc
}

// Upstream is host:port of a private address.
func Upstream(addr string, port int) string {
	return net.JoinHostPort(addr, strconv.Itoa(port))
}
