package waf

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	coreruleset "github.com/corazawaf/coraza-coreruleset/v4"
	"github.com/corazawaf/coraza/v3"

	"github.com/palisade-project/palisade/internal/waf/wafrule"
)

// Cache holds compiled Coraza engines by profile, so that every object with
// the same profile shares one engine (compiling the CRS takes hundreds of
// milliseconds and tens of megabytes). Safe for concurrent use.
type Cache struct {
	mu      sync.Mutex
	engines map[string]*cacheEntry
	builds  int // engines compiled, for tests
}

type cacheEntry struct {
	once sync.Once
	waf  coraza.WAF
	err  error
}

// NewCache returns an empty cache.
func NewCache() *Cache { return &Cache{engines: map[string]*cacheEntry{}} }

// engine returns the engine of p, compiling it on first use. Concurrent
// callers for one profile wait for a single compilation.
func (c *Cache) engine(p Profile) (coraza.WAF, error) {
	key := p.engineKey()
	c.mu.Lock()
	e := c.engines[key]
	if e == nil {
		e = &cacheEntry{}
		c.engines[key] = e
	}
	c.mu.Unlock()
	e.once.Do(func() {
		var dirs string
		if dirs, e.err = Directives(p); e.err == nil {
			e.waf, e.err = coraza.NewWAF(coraza.NewWAFConfig().WithRootFS(coreruleset.FS).WithDirectives(dirs))
		}
		c.mu.Lock()
		c.builds++
		if e.err != nil {
			delete(c.engines, key)
		}
		c.mu.Unlock()
	})
	return e.waf, e.err
}

// Retain drops the engines of profiles not in keep (call after a reload so
// that unused engines are freed).
func (c *Cache) Retain(keep []Profile) {
	want := map[string]bool{}
	for _, p := range keep {
		want[p.engineKey()] = true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.engines {
		if !want[k] {
			delete(c.engines, k)
		}
	}
}

// Len is the number of cached engines.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.engines)
}

// Builds is the number of engines compiled so far.
func (c *Cache) Builds() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.builds
}

// Directives is the SecLang configuration of a profile: Coraza's
// recommended base, the CRS setup with the profile's paranoia level and
// threshold, Palisade's rules (rules.go), the CRS rules, then Palisade's
// and the profile's exclusions and the rules the profile's paranoia level
// can never run (prune.go). Whether a detection blocks is Palisade's
// decision (Profile.Action); a Monitor profile's engine runs
// DetectionOnly so that nothing after a detection goes unevaluated.
func Directives(p Profile) (string, error) { return directives(p, "", palisadeExclusions(), true) }

// directives inserts extra (tests' CRS settings) before the CRS rules and
// removes the CRS rules in exclude (Palisade's exclusions, or none for the
// CRS regression suite) besides the profile's, and with prune the rules
// its paranoia level can never run.
func directives(p Profile, extra string, exclude []int, prune bool) (string, error) {
	p = p.normalized()
	if prune {
		pruned, err := paranoiaPruned(coreruleset.FS, p.ParanoiaLevel)
		if err != nil {
			return "", fmt.Errorf("paranoia level %d: %w", p.ParanoiaLevel, err)
		}
		exclude = append(slices.Clip(exclude), pruned...)
	}
	var b strings.Builder
	b.WriteString("Include @coraza.conf-recommended\n")
	if p.Action == wafrule.Monitor {
		// Monitor evaluates every rule of every phase (the response's
		// too): an inbound detection does not end the transaction.
		b.WriteString("SecRuleEngine DetectionOnly\n")
	} else {
		b.WriteString("SecRuleEngine On\n")
	}
	if p.InspectResponses {
		// Textual bodies only: the CRS's response rules look for error
		// messages and source code, which compressed or binary bodies
		// do not show (the proxy skips encoded bodies).
		b.WriteString("SecResponseBodyAccess On\n")
		b.WriteString("SecResponseBodyMimeType text/plain text/html text/xml application/xml application/json application/problem+json\n")
		fmt.Fprintf(&b, "SecResponseBodyLimit %d\n", p.BodyLimit)
		b.WriteString("SecResponseBodyLimitAction ProcessPartial\n")
	} else {
		b.WriteString("SecResponseBodyAccess Off\n")
	}
	b.WriteString("SecAuditEngine Off\n")
	fmt.Fprintf(&b, "SecRequestBodyLimit %d\n", p.BodyLimit)
	fmt.Fprintf(&b, "SecRequestBodyInMemoryLimit %d\n", p.BodyLimit)
	b.WriteString("SecRequestBodyLimitAction ProcessPartial\n")
	b.WriteString("Include @crs-setup.conf.example\n")
	// crs-setup sets the default actions of phases 1 and 2 only; as in
	// ModSecurity, the later phases' rules (responses, the CRS's
	// reports) log and pass by default too.
	for phase := 3; phase <= 5; phase++ {
		fmt.Fprintf(&b, "SecDefaultAction \"phase:%d,log,auditlog,pass\"\n", phase)
	}
	fmt.Fprintf(&b, "SecAction \"id:900000,phase:1,pass,t:none,nolog,setvar:tx.blocking_paranoia_level=%d\"\n", p.ParanoiaLevel)
	fmt.Fprintf(&b, "SecAction \"id:900110,phase:1,pass,t:none,nolog,setvar:tx.inbound_anomaly_score_threshold=%d,setvar:tx.outbound_anomaly_score_threshold=4\"\n", p.InboundThreshold)
	b.WriteString(extra)
	b.WriteString(palisadeRules())
	b.WriteString("Include @owasp_crs/*.conf\n")
	var ids []string
	for _, id := range exclude {
		ids = append(ids, strconv.Itoa(id))
	}
	for _, id := range p.ExcludeRuleIDs {
		ids = append(ids, strconv.Itoa(id))
	}
	if len(ids) > 0 {
		b.WriteString("SecRuleRemoveById " + strings.Join(ids, " ") + "\n")
	}
	for _, t := range p.ExcludeTags {
		fmt.Fprintf(&b, "SecRuleRemoveByTag %q\n", t)
	}
	return b.String(), nil
}
