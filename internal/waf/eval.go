package waf

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/corazawaf/coraza/v3"
	"github.com/corazawaf/coraza/v3/experimental/plugins/plugintypes"
	"github.com/corazawaf/coraza/v3/types"

	"github.com/palisade-project/palisade/internal/waf/wafrule"
)

// Compiled is a policy ready to evaluate. Immutable after creation; share it
// freely between goroutines.
type Compiled struct {
	objectID  string
	whitelist []compiledWhitelist
	blAddrs   map[netip.Addr]time.Time // expiry; zero: never
	blNets    []BlacklistEntry
	blAction  Action
	custom    []compiledCustom
	rates     []compiledRate
	engine    coraza.WAF // nil: core rule set off
	profile   Profile    // normalized
	response  BlockResponse
	needsBody bool
}

type compiledWhitelist struct {
	id     string
	m      *wafrule.Matcher
	bypass wafrule.ModuleSet
}

type compiledCustom struct {
	id     string
	m      *wafrule.Matcher
	action Action
}

type compiledRate struct {
	RateLimit
	m *wafrule.Matcher
}

// Compile checks and compiles p. The Coraza engine comes from cache
// (shared by every policy with the same profile).
func Compile(p Policy, cache *Cache) (*Compiled, error) {
	if err := p.Profile.Validate(); err != nil {
		return nil, err
	}
	c := &Compiled{objectID: p.ObjectID, profile: p.Profile.normalized(), blAddrs: map[netip.Addr]time.Time{}, blAction: p.BlacklistAction}
	if c.blAction == wafrule.Pass {
		c.blAction = wafrule.Block
	}
	for _, w := range p.Whitelist {
		m, err := wafrule.Compile(w.Conditions)
		if err != nil {
			return nil, fmt.Errorf("whitelist %s: %w", w.ID, err)
		}
		bypass := w.Bypass
		if bypass == 0 {
			bypass = wafrule.AllBypassable
		}
		c.whitelist = append(c.whitelist, compiledWhitelist{w.ID, m, bypass})
		c.needsBody = c.needsBody || m.NeedsBody()
	}
	for _, e := range p.Blacklist {
		if !e.Prefix.IsValid() {
			return nil, fmt.Errorf("blacklist %s: no address", e.ID)
		}
		if e.Prefix.IsSingleIP() {
			c.blAddrs[e.Prefix.Addr().Unmap()] = e.Expires
		} else {
			c.blNets = append(c.blNets, e)
		}
	}
	for _, r := range p.Custom {
		if r.Action != wafrule.Block && r.Action != wafrule.Monitor {
			return nil, fmt.Errorf("custom rule %s: action %s: want block or monitor", r.ID, r.Action)
		}
		m, err := wafrule.Compile(r.Conditions)
		if err != nil {
			return nil, fmt.Errorf("custom rule %s: %w", r.ID, err)
		}
		c.custom = append(c.custom, compiledCustom{r.ID, m, r.Action})
		c.needsBody = c.needsBody || m.NeedsBody()
	}
	for _, r := range p.RateLimits {
		if r.Action != wafrule.Block && r.Action != wafrule.Monitor {
			return nil, fmt.Errorf("rate limit %s: action %s: want block or monitor", r.ID, r.Action)
		}
		if r.Interval <= 0 || r.Threshold < 1 || r.BlockFor <= 0 {
			return nil, fmt.Errorf("rate limit %s: interval, threshold and block duration must be positive", r.ID)
		}
		if r.By == RateByHeader && r.Header == "" {
			return nil, fmt.Errorf("rate limit %s: counting by header needs a header name", r.ID)
		}
		if r.By != RateByHeader && r.By != RateByIP {
			return nil, fmt.Errorf("rate limit %s: by %q: want ip or header", r.ID, r.By)
		}
		m, err := wafrule.Compile(r.Conditions)
		if err != nil {
			return nil, fmt.Errorf("rate limit %s: %w", r.ID, err)
		}
		r.Header = http.CanonicalHeaderKey(r.Header)
		c.rates = append(c.rates, compiledRate{r, m})
		c.needsBody = c.needsBody || m.NeedsBody()
	}
	if p.Profile.Action != wafrule.Pass {
		eng, err := cache.engine(p.Profile)
		if err != nil {
			return nil, fmt.Errorf("core rule set: %w", err)
		}
		c.engine = eng
		c.needsBody = true
	}
	c.response = p.Response
	if !ValidBlockStatus(c.response.Status) {
		c.response.Status = DefaultBlockStatus
	}
	return c, nil
}

// ObjectID is the protected object of the policy.
func (c *Compiled) ObjectID() string { return c.objectID }

// Profile is the normalized core-rule-set profile.
func (c *Compiled) Profile() Profile { return c.profile }

// Match is one module's match.
type Match struct {
	Module Module `json:"module"`
	RuleID string `json:"rule_id"`
	Action Action `json:"action"`
}

// Decision is the outcome of the request modules.
type Decision struct {
	// Action is the strongest action of all matches; Pass when none.
	Action Action
	// Module and RuleIDs name what decided (the first module with the
	// strongest action); empty when nothing matched.
	Module  Module
	RuleIDs []string
	// Matches are all the matches, in module order.
	Matches []Match
	// Whitelist holds the IDs of the whitelist rules that matched and
	// Bypassed the modules they skipped.
	Whitelist []string
	Bypassed  wafrule.ModuleSet
	// Score is the CRS inbound anomaly score (0 when the CRS did not run).
	Score int
	// BodyTooLarge: the body exceeded the limit (see Profile.BodyAction).
	BodyTooLarge bool
	// crs is the CRS transaction of a clean request, kept open for the
	// response phases (Profile.InspectResponses) until Finish; crsSeen
	// is how many rules it had matched in the request phases.
	crs     types.Transaction
	crsSeen int
}

// Finish ends the CRS transaction a decision kept open for the response
// (a no-op otherwise). Every caller of Evaluate must call it.
func (d *Decision) Finish() {
	if d.crs != nil {
		d.crs.ProcessLogging()
		_ = d.crs.Close()
		d.crs = nil
	}
}

func (d *Decision) add(m Module, id string, a Action) {
	d.Matches = append(d.Matches, Match{m, id, a})
	switch {
	case a > d.Action:
		d.Action, d.Module, d.RuleIDs = a, m, []string{id}
	case a == d.Action && m == d.Module:
		d.RuleIDs = append(d.RuleIDs, id)
	}
}

// Input is a request to evaluate: the HTTP request (headers, URI) and the
// condition view with the inspected body.
type Input struct {
	HTTP *http.Request
	Req  *wafrule.Request
	// LocalAddr is the proxy's address the client connected to (for CRS;
	// may be zero).
	LocalAddr netip.AddrPort
	// SkipCRSBody: the CRS inspects headers only (a structured body cut at
	// the body limit).
	SkipCRSBody bool
}

// Evaluate runs the request modules in order. It stops at the first Block
// (nothing is stronger).
func (c *Compiled) Evaluate(in Input, st *State, now time.Time) Decision {
	var d Decision
	r := in.Req
	for i := range c.whitelist {
		w := &c.whitelist[i]
		if w.m.Match(r) {
			d.Whitelist = append(d.Whitelist, w.id)
			d.Bypassed |= w.bypass
		}
	}
	if !d.Bypassed.Has(wafrule.ModuleBlacklist) {
		if id, ok := c.blacklisted(r.IP, now); ok {
			d.add(wafrule.ModuleBlacklist, id, c.blAction)
			if d.Action == wafrule.Block {
				return d
			}
		}
	}
	if !d.Bypassed.Has(wafrule.ModuleCustom) {
		for i := range c.custom {
			cr := &c.custom[i]
			if cr.m.Match(r) {
				d.add(wafrule.ModuleCustom, cr.id, cr.action)
			}
		}
	}
	if !d.Bypassed.Has(wafrule.ModuleRateLimit) && st != nil {
		for i := range c.rates {
			rl := &c.rates[i]
			k, ok := c.rateKey(rl, r)
			if !ok || !rl.m.Match(r) {
				continue
			}
			var hit bool
			if rl.Status != 0 {
				hit = st.blocked(k, now)
			} else {
				hit = st.hit(k, &rl.RateLimit, now)
			}
			if hit {
				d.add(wafrule.ModuleRateLimit, rl.ID, rl.Action)
			}
		}
	}
	if d.Action == wafrule.Block {
		return d
	}
	if c.engine != nil && !d.Bypassed.Has(wafrule.ModuleCoreRules) {
		c.runCRS(in, &d)
	}
	return d
}

func (c *Compiled) rateKey(rl *compiledRate, r *wafrule.Request) (rateKey, bool) {
	k := rateKey{object: c.objectID, rule: rl.ID}
	if rl.By == RateByHeader {
		v := r.Header.Get(rl.Header)
		if v == "" {
			return k, false
		}
		k.key = "h:" + v
	} else {
		k.key = r.IP.Unmap().String()
	}
	return k, true
}

// ObserveResponse counts a response for the status-based rate limits.
// Whitelisted requests (bypassing rate limits) are not counted.
func (c *Compiled) ObserveResponse(r *wafrule.Request, d *Decision, status int, st *State, now time.Time) {
	if st == nil || d.Bypassed.Has(wafrule.ModuleRateLimit) {
		return
	}
	for i := range c.rates {
		rl := &c.rates[i]
		if rl.Status == 0 || rl.Status != status {
			continue
		}
		if k, ok := c.rateKey(rl, r); ok && rl.m.Match(r) {
			st.hit(k, &rl.RateLimit, now)
		}
	}
}

func (c *Compiled) blacklisted(ip netip.Addr, now time.Time) (string, bool) {
	ip = ip.Unmap()
	if exp, ok := c.blAddrs[ip]; ok && (exp.IsZero() || now.Before(exp)) {
		return ip.String(), true
	}
	for _, e := range c.blNets {
		if e.Prefix.Contains(ip) && (e.Expires.IsZero() || now.Before(e.Expires)) {
			if e.ID != "" {
				return e.ID, true
			}
			return e.Prefix.String(), true
		}
	}
	return "", false
}

// runCRS runs the Coraza transaction: headers (phase 1) then body (phase
// 2, where CRS evaluates the anomaly score).
func (c *Compiled) runCRS(in Input, d *Decision) {
	r := in.HTTP
	tx := c.engine.NewTransaction()
	keep := false
	defer func() {
		if !keep {
			tx.ProcessLogging()
			_ = tx.Close()
		}
	}()
	cport := 0
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		cport = int(ap.Port())
	}
	tx.ProcessConnection(in.Req.IP.String(), cport, in.LocalAddr.Addr().String(), int(in.LocalAddr.Port()))
	uri := r.RequestURI
	if uri == "" {
		uri = r.URL.RequestURI()
	}
	tx.ProcessURI(uri, r.Method, r.Proto)
	for k, vs := range r.Header {
		for _, v := range vs {
			tx.AddRequestHeader(k, v)
		}
	}
	// Go's server moves Host out of the header map. HTTP/1.1 requires the
	// header, so an empty r.Host there means "Host:" was sent empty (CRS
	// rule 920290); in HTTP/1.0 an empty r.Host means no Host (920280).
	if r.Host != "" || r.ProtoAtLeast(1, 1) {
		tx.AddRequestHeader("Host", r.Host)
		host, _, err := net.SplitHostPort(r.Host)
		if err != nil {
			host = r.Host
		}
		tx.SetServerName(host)
	}
	if len(r.TransferEncoding) > 0 {
		tx.AddRequestHeader("Transfer-Encoding", r.TransferEncoding[0])
	} else if r.ContentLength > 0 && r.Header.Get("Content-Length") == "" {
		tx.AddRequestHeader("Content-Length", strconv.FormatInt(r.ContentLength, 10))
	}
	it := tx.ProcessRequestHeaders()
	if it == nil {
		if len(in.Req.Body) > 0 && !in.SkipCRSBody {
			it, _, _ = tx.WriteRequestBody(in.Req.Body)
		}
		if it == nil {
			it, _ = tx.ProcessRequestBody()
		}
	}
	if ts, ok := tx.(plugintypes.TransactionState); ok {
		if v := ts.Variables().TX().Get("blocking_inbound_anomaly_score"); len(v) > 0 {
			d.Score, _ = strconv.Atoi(v[0])
		}
	}
	if c.rawXMLEntity(r, in) {
		// Critical, like the CRS's own: a detection whatever the rest.
		d.Score += 5
		d.add(wafrule.ModuleCoreRules, strconv.Itoa(RawXMLEntityRule), c.profile.Action)
	}
	if it == nil {
		if c.profile.InspectResponses {
			keep = true
			d.crs, d.crsSeen = tx, len(tx.MatchedRules())
		}
		it = detectionOnly(tx)
	}
	if it != nil {
		c.addCRSMatches(d, tx.MatchedRules(), it)
	}
}

// RawXMLEntityRule is Palisade's rule for an external entity or DTD in a
// raw XML body. Coraza's XML body processor keeps only the elements' text
// and attributes (XML:/*), so no SecLang rule sees a DOCTYPE or ENTITY
// declaration; rule 99101 covers them in arguments, headers and cookies.
// It is excluded like a CRS rule (Profile.ExcludeRuleIDs).
const RawXMLEntityRule = 99102

// xmlEntityPattern is xmlEntityPatterns as one expression.
var xmlEntityPattern = regexp.MustCompile(strings.Join(xmlEntityPatterns(), "|"))

// rawXMLEntity reports whether the inspected body of r is not one that
// the CRS parses into arguments (a form, JSON, multipart) and declares an
// external entity or DTD.
func (c *Compiled) rawXMLEntity(r *http.Request, in Input) bool {
	body := in.Req.Body
	if len(body) == 0 || in.SkipCRSBody || !bytes.Contains(body, []byte("<!")) || slices.Contains(c.profile.ExcludeRuleIDs, RawXMLEntityRule) {
		return false
	}
	ct := strings.ToLower(r.Header.Get("Content-Type"))
	if strings.Contains(ct, "x-www-form-urlencoded") || strings.Contains(ct, "json") || strings.HasPrefix(ct, "multipart/") {
		return false
	}
	return xmlEntityPattern.Match(body)
}

// detectionOnly is the interruption a DetectionOnly engine (Monitor)
// recorded without acting on it, or nil.
func detectionOnly(tx types.Transaction) *types.Interruption {
	if dt, ok := tx.(interface {
		DetectionOnlyInterruption() *types.Interruption
	}); ok {
		return dt.DetectionOnlyInterruption()
	}
	return nil
}

// addCRSMatches adds the rules that matched (those with a message, not
// the anomaly evaluations and reports) to d, or the interrupting rule if
// none did.
func (c *Compiled) addCRSMatches(d *Decision, matched []types.MatchedRule, it *types.Interruption) {
	var ids []string
	for _, mr := range matched {
		id := mr.Rule().ID()
		if mr.Message() == "" || id == 949110 || id == 959100 || (id >= 980000 && id < 981000) || (id >= 900000 && id < 902000) {
			continue
		}
		ids = append(ids, strconv.Itoa(id))
	}
	if len(ids) == 0 {
		ids = []string{strconv.Itoa(it.RuleID)}
	}
	a := c.profile.Action
	for _, id := range ids {
		d.add(wafrule.ModuleCoreRules, id, a)
	}
}

// InspectResponse runs the CRS's response phases for a decision whose
// transaction is open (see Decision.Finish): the status and headers, then
// phase 4 with the first body bytes readBody returns when the engine
// wants the body (a textual type, no Content-Encoding; readBody gets the
// profile's body limit). A detection is added to d; the result says
// whether to answer with the block response instead (Block mode).
func (c *Compiled) InspectResponse(d *Decision, status int, proto string, h http.Header, readBody func(limit int) ([]byte, error)) (bool, error) {
	tx := d.crs
	if tx == nil {
		return false, nil
	}
	for k, vs := range h {
		for _, v := range vs {
			tx.AddResponseHeader(k, v)
		}
	}
	hadDetection := detectionOnly(tx) != nil
	it := tx.ProcessResponseHeaders(status, proto)
	if it == nil {
		enc := strings.ToLower(strings.TrimSpace(h.Get("Content-Encoding")))
		if readBody != nil && tx.IsResponseBodyAccessible() && tx.IsResponseBodyProcessable() && (enc == "" || enc == "identity") {
			b, err := readBody(c.profile.BodyLimit)
			if err != nil {
				return false, err
			}
			if len(b) > 0 {
				it, _, _ = tx.WriteResponseBody(b[:min(len(b), c.profile.BodyLimit)])
			}
		}
		if it == nil {
			var err error
			if it, err = tx.ProcessResponseBody(); err != nil {
				return false, fmt.Errorf("waf: response body: %w", err)
			}
		}
	}
	fresh := tx.MatchedRules()[d.crsSeen:]
	if it == nil {
		// Monitor: the outbound evaluation (959100) matched, or the
		// first detection of the transaction came now.
		for _, mr := range fresh {
			if mr.Rule().ID() == 959100 {
				it = &types.Interruption{RuleID: 959100}
				break
			}
		}
		if it == nil && !hadDetection {
			it = detectionOnly(tx)
		}
	}
	if it == nil {
		return false, nil
	}
	c.addCRSMatches(d, fresh, it)
	return c.profile.Action == wafrule.Block, nil
}

// truncate shortens s for logs.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}
