package wafrule

import "time"

// Rule kinds.
const (
	KindWhitelist = "whitelist"
	KindBlacklist = "blacklist"
	KindCustom    = "custom"
	KindRateLimit = "ratelimit"
)

// ObjectConfig is the data plane's view of one protected object, as the
// control plane hands it out (DescribeWafConfig): plain JSON, converted to
// an engine policy by waf.PolicyFromConfig.
type ObjectConfig struct {
	ID       string `json:"id"`
	Listen   string `json:"listen"`   // e.g. ":80"
	Upstream string `json:"upstream"` // host:port of the instance
	// VPCID is the VPC of the protected instance (DescribeWafConfig): its
	// Upstream is a private address of that VPC, reachable only inside
	// the VPC's network namespace (named after the ID), where a
	// standalone data plane dials it. Empty in the agents' own objects
	// (their Transport dials in the VPC) and in tests.
	VPCID   string `json:"vpc_id,omitempty"`
	TLSCert string `json:"tls_cert,omitempty"`
	TLSKey  string `json:"tls_key,omitempty"`

	Profile         ProfileConfig  `json:"profile"`
	Response        ResponseConfig `json:"response"`
	BlacklistAction string         `json:"blacklist_action,omitempty"` // block (default) or monitor
	Rules           []RuleConfig   `json:"rules,omitempty"`
}

// ProfileConfig is a core-rule-set profile (template).
type ProfileConfig struct {
	Action           string   `json:"action"` // block, monitor or off
	ParanoiaLevel    int      `json:"paranoia_level"`
	InboundThreshold int      `json:"inbound_threshold"`
	ExcludeRuleIDs   []int    `json:"exclude_rule_ids,omitempty"`
	ExcludeTags      []string `json:"exclude_tags,omitempty"`
	BodyLimit        int      `json:"body_limit"`
	BodyAction       string   `json:"body_action,omitempty"`
	InspectResponses bool     `json:"inspect_responses,omitempty"`
}

// DefaultBlockStatus is the status of a block response that sets none.
const DefaultBlockStatus = 405

// ResponseConfig is the block response (Status 0: DefaultBlockStatus).
type ResponseConfig struct {
	Status  int               `json:"status,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    string            `json:"body,omitempty"`
}

// RuleConfig is a whitelist, blacklist, custom or rate-limit rule.
type RuleConfig struct {
	ID         string `json:"id"`
	Kind       string `json:"kind"`
	Conditions string `json:"conditions,omitempty"` // ParseConditions syntax
	Action     string `json:"action,omitempty"`     // custom, ratelimit
	// Whitelist: modules bypassed (empty: all).
	Bypass []string `json:"bypass,omitempty"`
	// Blacklist: addresses and CIDRs, refused until Expires (zero: never).
	Addresses []string  `json:"addresses,omitempty"`
	Expires   time.Time `json:"expires,omitempty"`
	// Rate limit.
	By        string `json:"by,omitempty"` // ip or header
	Header    string `json:"header,omitempty"`
	Interval  int    `json:"interval,omitempty"` // seconds
	Threshold int    `json:"threshold,omitempty"`
	BlockFor  int    `json:"block_for,omitempty"` // seconds
	Status    int    `json:"status,omitempty"`    // count responses with this status
}
