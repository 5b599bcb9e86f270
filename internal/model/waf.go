package model

import "time"

// WAF store prefixes (since issue 8).
const (
	// PrefixWAFProtection + ID -> WAFProtection.
	PrefixWAFProtection = "wafobj/"
	// PrefixWAFTemplate + ID -> WAFTemplate.
	PrefixWAFTemplate = "waftpl/"
	// PrefixWAFRule + ID -> WAFRule.
	PrefixWAFRule = "wafrule/"
	// PrefixWAFLog + accountID + "/" + 20-digit unix nanoseconds + "-" +
	// sequence -> WAFLog. Bounded per account (oldest dropped first).
	PrefixWAFLog = "waflog/"
)

// WAFProtection is a protected object: an instance's HTTP(S) port whose
// traffic goes through the WAF.
type WAFProtection struct {
	ID         string `json:"id"`
	AccountID  string `json:"account_id"`
	InstanceID string `json:"instance_id"`
	Port       int    `json:"port"`
	Protocol   string `json:"protocol"` // HTTP or HTTPS (TLS terminated by the WAF)
	// Upstream is where clean requests go (host:port); empty: the
	// instance's primary private address and Port.
	Upstream string `json:"upstream,omitempty"`
	// Listen is the WAF's listening address; empty: ":" + Port.
	Listen     string `json:"listen,omitempty"`
	TLSCert    string `json:"tls_cert,omitempty"`    // PEM
	TLSKey     string `json:"tls_key,omitempty"`     // PEM; never returned by the API
	TemplateID string `json:"template_id,omitempty"` // empty: built-in default (CRS PL1, Block)
	// Block response; BlockStatus 0 means 405.
	BlockStatus     int               `json:"block_status,omitempty"`
	BlockHeaders    map[string]string `json:"block_headers,omitempty"`
	BlockBody       string            `json:"block_body,omitempty"`
	BlacklistAction string            `json:"blacklist_action,omitempty"` // block (empty) or monitor
	CreatedAt       time.Time         `json:"created_at"`
}

// WAFTemplate is a core-rule-set profile shared by protected objects.
type WAFTemplate struct {
	ID               string   `json:"id"`
	AccountID        string   `json:"account_id"`
	Name             string   `json:"name"`
	Action           string   `json:"action"` // block, monitor or off
	ParanoiaLevel    int      `json:"paranoia_level"`
	InboundThreshold int      `json:"inbound_threshold"`
	ExcludeRuleIDs   []int    `json:"exclude_rule_ids,omitempty"`
	ExcludeTags      []string `json:"exclude_tags,omitempty"`
	BodyLimit        int      `json:"body_limit"`
	BodyAction       string   `json:"body_action"`
	// InspectResponses runs the CRS's response rules (data leakage) on
	// the upstream's answers.
	InspectResponses bool      `json:"inspect_responses,omitempty"`
	CreatedAt        time.Time `json:"created_at"`
}

// WAFRule is a whitelist, blacklist, custom or rate-limit rule of one
// protected object. Fields not used by its Kind are empty.
type WAFRule struct {
	ID           string    `json:"id"`
	AccountID    string    `json:"account_id"`
	ProtectionID string    `json:"protection_id"`
	Kind         string    `json:"kind"`
	Name         string    `json:"name,omitempty"`
	Conditions   string    `json:"conditions,omitempty"`
	Action       string    `json:"action,omitempty"`
	Bypass       []string  `json:"bypass,omitempty"`
	Addresses    []string  `json:"addresses,omitempty"`
	ExpiresAt    time.Time `json:"expires_at,omitempty"` // zero: never
	By           string    `json:"by,omitempty"`
	Header       string    `json:"header,omitempty"`
	Interval     int       `json:"interval,omitempty"`
	Threshold    int       `json:"threshold,omitempty"`
	BlockFor     int       `json:"block_for,omitempty"`
	Status       int       `json:"status,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
}

// WAFLog is one logged WAF decision.
type WAFLog struct {
	Time         time.Time `json:"time"`
	AccountID    string    `json:"account_id"`
	ProtectionID string    `json:"protection_id"`
	ClientIP     string    `json:"client_ip"`
	Method       string    `json:"method"`
	Host         string    `json:"host"`
	URI          string    `json:"uri"`
	Status       int       `json:"status"`
	Module       string    `json:"module,omitempty"`
	RuleIDs      []string  `json:"rule_ids,omitempty"`
	Action       string    `json:"action"`
	Score        int       `json:"score"`
}

// SteeredEIP is which of an instance's EIPs (eips: those associated with
// its ENIs; of gives an EIP's ID and ENI) carries the steering of its
// protected ports: one on the primary ENI, else any; the smallest ID
// among equals. It returns the index in eips, -1 for none. The agent
// steers through it and the analyzer reports the WAF on its path.
func SteeredEIP[E any](primaryENI string, eips []E, of func(E) (id, eniID string)) int {
	best, bestID, bestPrimary := -1, "", false
	for i, e := range eips {
		id, eni := of(e)
		primary := eni == primaryENI
		if best < 0 || (primary && !bestPrimary) || (primary == bestPrimary && id < bestID) {
			best, bestID, bestPrimary = i, id, primary
		}
	}
	return best
}
