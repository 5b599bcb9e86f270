// Package waf is Palisade's web application firewall: a reverse proxy that
// runs each request through the protection modules (whitelist, IP
// blacklist, custom rules and rate limits, OWASP core rule set on Coraza)
// and forwards clean requests to the protected instance.
//
// A Policy (plain data) is compiled once into an immutable *Compiled; the
// Coraza engine of a rule profile is shared by every object using that
// profile (Cache). Rate-limit counters live apart in State, so a reload
// keeps them. Proxy publishes the compiled policy through an atomic
// pointer: a reload never drops requests in flight.
//
// It must not import the store, the service or the API packages.
package waf

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/palisade-project/palisade/internal/waf/wafrule"
)

// Action, Module and the condition types come from wafrule.
type (
	Action    = wafrule.Action
	Module    = wafrule.Module
	Condition = wafrule.Condition
)

// Body limit defaults and bounds.
const (
	DefaultBodyLimit = 128 << 10
	MaxBodyLimit     = 8 << 20
)

// BodyAction says what happens to a request whose body is larger than the
// body limit. The proxy never holds more than the limit in memory.
type BodyAction string

const (
	// BodyInspectPartial inspects the first BodyLimit bytes and forwards the
	// whole body (streamed). The default. JSON, XML and multipart bodies
	// cannot be parsed when cut, so the core rule set then inspects only
	// their headers (custom rules still see the first bytes).
	BodyInspectPartial BodyAction = "inspect-partial"
	// BodyBlock answers 413 without forwarding.
	BodyBlock BodyAction = "block"
	// BodySkip forwards without inspecting the body at all.
	BodySkip BodyAction = "skip"
)

// Profile is a core-rule-set profile (a "protection template"). Objects
// with equal profiles share one compiled Coraza engine.
type Profile struct {
	// Action of the module: Block or Monitor (Monitor: detections are only
	// logged). Pass disables the core rule set.
	Action Action
	// ParanoiaLevel 1-4; 0 means 1.
	ParanoiaLevel int
	// InboundThreshold is the anomaly score at which a request is a
	// detection; 0 means CRS's default 5.
	InboundThreshold int
	// ExcludeRuleIDs and ExcludeTags remove CRS rules
	// (SecRuleRemoveById / SecRuleRemoveByTag).
	ExcludeRuleIDs []int
	ExcludeTags    []string
	// BodyLimit is how many body bytes are inspected; 0 means
	// DefaultBodyLimit. BodyAction applies above it; empty means
	// BodyInspectPartial.
	BodyLimit  int
	BodyAction BodyAction
	// InspectResponses runs the CRS's response rules (data leakage: SQL,
	// Java, PHP, IIS and Ruby errors, web shells, directory listings) on
	// the upstream's status, headers and the first BodyLimit bytes of
	// textual bodies (text/*, JSON, XML). A detection in Block mode
	// replaces the response with the block response.
	InspectResponses bool
}

func (p Profile) normalized() Profile {
	if p.ParanoiaLevel == 0 {
		p.ParanoiaLevel = 1
	}
	if p.InboundThreshold == 0 {
		p.InboundThreshold = 5
	}
	if p.BodyLimit == 0 {
		p.BodyLimit = DefaultBodyLimit
	}
	if p.BodyAction == "" {
		p.BodyAction = BodyInspectPartial
	}
	p.ExcludeRuleIDs = slices.Sorted(slices.Values(p.ExcludeRuleIDs))
	p.ExcludeRuleIDs = slices.Compact(p.ExcludeRuleIDs)
	p.ExcludeTags = slices.Sorted(slices.Values(p.ExcludeTags))
	p.ExcludeTags = slices.Compact(p.ExcludeTags)
	return p
}

// Validate checks the profile's ranges.
func (p Profile) Validate() error {
	if p.ParanoiaLevel < 0 || p.ParanoiaLevel > 4 {
		return fmt.Errorf("paranoia level %d: want 1 to 4", p.ParanoiaLevel)
	}
	if p.InboundThreshold < 0 || p.InboundThreshold > 10000 {
		return fmt.Errorf("inbound anomaly threshold %d: want 1 to 10000", p.InboundThreshold)
	}
	if p.BodyLimit < 0 || p.BodyLimit > MaxBodyLimit {
		return fmt.Errorf("body limit %d: want 1 to %d bytes", p.BodyLimit, MaxBodyLimit)
	}
	switch p.BodyAction {
	case "", BodyInspectPartial, BodyBlock, BodySkip:
	default:
		return fmt.Errorf("body action %q: want inspect-partial, block or skip", p.BodyAction)
	}
	for _, id := range p.ExcludeRuleIDs {
		if id < 1 || id > 9999999 {
			return fmt.Errorf("rule ID %d out of range", id)
		}
	}
	for _, t := range p.ExcludeTags {
		if t == "" || len(t) > 128 || strings.ContainsAny(t, " \t\r\n\"'\\") {
			return fmt.Errorf("rule tag %q: want a word such as attack-sqli", t)
		}
	}
	return nil
}

// engineKey is the part of a profile that shapes the Coraza engine (the
// action is applied by Palisade; Monitor engines run DetectionOnly).
func (p Profile) engineKey() string {
	p = p.normalized()
	var b strings.Builder
	fmt.Fprintf(&b, "pl=%d;in=%d;body=%d;resp=%t;monitor=%t;ids=", p.ParanoiaLevel, p.InboundThreshold, p.BodyLimit, p.InspectResponses, p.Action == wafrule.Monitor)
	for _, id := range p.ExcludeRuleIDs {
		b.WriteString(strconv.Itoa(id) + ",")
	}
	b.WriteString(";tags=" + strings.Join(p.ExcludeTags, ","))
	return b.String()
}

// WhitelistRule lets matching requests bypass modules.
type WhitelistRule struct {
	ID         string
	Conditions []Condition
	// Bypass is the set of modules skipped; empty means all.
	Bypass wafrule.ModuleSet
}

// BlacklistEntry is an address or CIDR, refused until Expires (zero: never
// expires).
type BlacklistEntry struct {
	ID      string
	Prefix  netip.Prefix
	Expires time.Time
}

// CustomRule is an AND of conditions with an action.
type CustomRule struct {
	ID         string
	Conditions []Condition
	Action     Action
}

// RateKey says what a rate limit counts by.
type RateKey string

const (
	RateByIP     RateKey = "ip"
	RateByHeader RateKey = "header"
)

// RateLimit counts requests (or responses with Status) per client address
// or per header value over Interval; over Threshold the key gets Action for
// BlockFor. Conditions (optional) restrict which requests are counted.
type RateLimit struct {
	ID         string
	Conditions []Condition
	By         RateKey
	Header     string // By == RateByHeader: the header whose value is the key
	Interval   time.Duration
	Threshold  int
	BlockFor   time.Duration
	Status     int // non-zero: count only responses with this status
	Action     Action
}

// BlockResponse is the answer to a blocked request. Status 0 means 405;
// statuses outside 200-600 and 204/304 fall back to 405.
type BlockResponse struct {
	Status  int
	Headers map[string]string
	Body    string
}

// ValidBlockStatus reports whether s may be configured as block status.
func ValidBlockStatus(s int) bool {
	return s >= 200 && s <= 600 && s != 204 && s != 304
}

// Policy is everything that protects one object.
type Policy struct {
	ObjectID        string
	Whitelist       []WhitelistRule
	Blacklist       []BlacklistEntry
	BlacklistAction Action // action of the blacklist module; Pass means Block
	Custom          []CustomRule
	RateLimits      []RateLimit
	Profile         Profile
	Response        BlockResponse
}

// ModuleSet re-exported for callers building whitelists.
type ModuleSet = wafrule.ModuleSet

// DefaultBlockStatus is the status of a block response.
const DefaultBlockStatus = wafrule.DefaultBlockStatus
