package console_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/cloudfw"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/vpc"

	"github.com/palisade-project/palisade/internal/api"
	"github.com/palisade-project/palisade/internal/apitest"
	"github.com/palisade-project/palisade/internal/app"
	"github.com/palisade-project/palisade/internal/console"
	"github.com/palisade-project/palisade/internal/model"
)

// clock is a settable clock for session expiry.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// fixture is an API server (for SDK calls and accounts) and a console
// built on the same router and keys, served by httptest with a fake clock.
type fixture struct {
	env   *apitest.Env
	clock *clock
	url   string // the console's base URL, ".../console/"
}

func newFixture(t *testing.T, opts ...func(*console.Options)) *fixture {
	t.Helper()
	env := apitest.Start(t, apitest.WithBackend(app.BackendMemory))
	clk := &clock{now: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
	o := console.Options{
		Router: env.App.Router(),
		Keys:   env.App.Service().LookupAccessKey,
		Region: apitest.Region,
		Now:    clk.Now,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	for _, fn := range opts {
		fn(&o)
	}
	mux := http.NewServeMux()
	mux.Handle("/console/", console.New(o))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &fixture{env: env, clock: clk, url: srv.URL + "/console/"}
}

// browser is an HTTP client with a cookie jar, like a browser tab.
type browser struct {
	t    *testing.T
	base string
	hc   *http.Client
	csrf string
}

func newBrowser(t *testing.T, base string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: base, hc: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
}

// reply is a decoded JSON answer.
type reply struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (r reply) str(k string) string { s, _ := r.body[k].(string); return s }

func (b *browser) do(method, path string, body any, header map[string]string) reply {
	b.t.Helper()
	var rd io.Reader
	if body != nil {
		j, _ := json.Marshal(body)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, b.base+path, rd)
	if err != nil {
		b.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := b.hc.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := reply{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &out.body)
	return out
}

func (b *browser) login(c apitest.Creds) reply {
	b.t.Helper()
	r := b.do("POST", "login", map[string]string{"AccessKeyId": c.AccessKeyID, "AccessKeySecret": c.Secret}, nil)
	if r.status == 200 {
		b.csrf = r.str("CsrfToken")
	}
	return r
}

func (b *browser) mustLogin(c apitest.Creds) {
	b.t.Helper()
	if r := b.login(c); r.status != 200 {
		b.t.Fatalf("login: %d %s", r.status, r.raw)
	}
}

func (b *browser) api(version, action string, params map[string]string) reply {
	b.t.Helper()
	return b.do("POST", "api", map[string]any{"Version": version, "Action": action, "Params": params},
		map[string]string{console.CSRFHeader: b.csrf})
}

// wantErr checks an error answer: status, code and the cloud's error shape.
func wantErr(t *testing.T, r reply, status int, code string) {
	t.Helper()
	if r.status != status || r.str("Code") != code {
		t.Fatalf("got %d %s, want %d %s: %s", r.status, r.str("Code"), status, code, r.raw)
	}
	for _, k := range []string{"RequestId", "HostId", "Code", "Message", "Recommend"} {
		if _, ok := r.body[k].(string); !ok {
			t.Fatalf("error body lacks string field %s: %s", k, r.raw)
		}
	}
}

func TestLogin(t *testing.T) {
	f := newFixture(t)
	b := newBrowser(t, f.url)
	r := b.login(f.env.Admin)
	if r.status != 200 || r.str("CsrfToken") == "" || r.str("AccountId") != f.env.Admin.AccountID || r.str("RequestId") == "" {
		t.Fatalf("login: %d %s", r.status, r.raw)
	}
	if strings.Contains(r.raw, f.env.Admin.Secret) {
		t.Fatalf("login answer contains the secret: %s", r.raw)
	}
	ck := r.header.Get("Set-Cookie")
	for _, want := range []string{console.CookieName + "=", "Path=/console/", "HttpOnly", "SameSite=Strict"} {
		if !strings.Contains(ck, want) {
			t.Errorf("Set-Cookie %q lacks %q", ck, want)
		}
	}
	if strings.Contains(ck, "Secure") {
		t.Errorf("Set-Cookie %q: Secure over plain HTTP", ck)
	}
	if s := b.do("GET", "session", nil, nil); s.status != 200 || s.str("CsrfToken") != b.csrf || s.str("AccessKeyId") != f.env.Admin.AccessKeyID {
		t.Fatalf("session: %d %s", s.status, s.raw)
	}
	out := b.api(api.VersionVPC, "DescribeVpcs", nil)
	if out.status != 200 || out.str("RequestId") == "" {
		t.Fatalf("DescribeVpcs: %d %s", out.status, out.raw)
	}
	// Without the cookie: not logged in.
	anon := newBrowser(t, f.url)
	anon.csrf = b.csrf
	wantErr(t, anon.api(api.VersionVPC, "DescribeVpcs", nil), 401, "InvalidSession")
	wantErr(t, anon.do("GET", "session", nil, nil), 401, "InvalidSession")
}

func TestLoginRefused(t *testing.T) {
	var logs apitest.SyncBuffer
	f := newFixture(t, func(o *console.Options) { o.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	b := newBrowser(t, f.url)
	wrong := f.env.Admin
	wrong.Secret += "x"
	wantErr(t, b.login(wrong), 401, "InvalidAccessKey")
	// The refusal is logged with the key ID tried, never with a secret.
	if l := logs.String(); !strings.Contains(l, "console login refused") || !strings.Contains(l, "reason=\"wrong secret\"") ||
		!strings.Contains(l, f.env.Admin.AccessKeyID) || strings.Contains(l, wrong.Secret) || strings.Contains(l, f.env.Admin.Secret) {
		t.Errorf("log of a refused login: %q", l)
	}
	unknown := apitest.Creds{AccessKeyID: "LTAInosuchkey000000000", Secret: "x"}
	wantErr(t, b.login(unknown), 401, "InvalidAccessKey")
	if r := b.do("POST", "login", map[string]string{"AccessKeyId": f.env.Admin.AccessKeyID}, nil); r.status != 400 {
		t.Fatalf("no secret: %d %s", r.status, r.raw)
	}
	if r := b.do("POST", "login", map[string]string{"AccessKeyId": "a", "AccessKeySecret": "b", "Extra": "c"}, nil); r.status != 400 {
		t.Fatalf("unknown field: %d %s", r.status, r.raw)
	}
	if r := b.do("GET", "login", nil, nil); r.status != 405 {
		t.Fatalf("GET login: %d %s", r.status, r.raw)
	}
	// An agent key has the right secret but may not log in.
	out, err := f.env.Common(t, f.env.Admin, api.VersionPalisade, "CreateAccessKey", map[string]string{"AgentZoneId": "local-b"})
	if err != nil {
		t.Fatal(err)
	}
	agent := apitest.Creds{AccessKeyID: out["AccessKeyId"].(string), Secret: out["AccessKeySecret"].(string)}
	wantErr(t, b.login(agent), 403, "Forbidden.AgentKey")
}

func TestLoginThrottle(t *testing.T) {
	f := newFixture(t)
	b := newBrowser(t, f.url)
	wrong := f.env.Admin
	wrong.Secret = "nope"
	for i := 0; i < console.DefaultLoginFailures; i++ {
		wantErr(t, b.login(wrong), 401, "InvalidAccessKey")
	}
	// Even the right secret is refused until the minute is over.
	wantErr(t, b.login(f.env.Admin), 429, "Throttling.User")
	f.clock.Add(61 * time.Second)
	b.mustLogin(f.env.Admin)
}

func TestCSRF(t *testing.T) {
	f := newFixture(t)
	b := newBrowser(t, f.url)
	b.mustLogin(f.env.Admin)
	good := b.csrf
	for _, tok := range []string{"", "wrong", good + "x"} {
		b.csrf = tok
		wantErr(t, b.api(api.VersionVPC, "DescribeVpcs", nil), 403, "Forbidden.CSRF")
		wantErr(t, b.do("POST", "logout", map[string]string{}, map[string]string{console.CSRFHeader: tok}), 403, "Forbidden.CSRF")
	}
	// Another origin is refused even with the token.
	b.csrf = good
	r := b.do("POST", "api", map[string]any{"Version": api.VersionVPC, "Action": "DescribeVpcs"},
		map[string]string{console.CSRFHeader: good, "Origin": "https://evil.example"})
	wantErr(t, r, 403, "Forbidden.Origin")
	// A form post (no JSON) is refused.
	req, _ := http.NewRequest("POST", f.url+"api", strings.NewReader("Action=DescribeVpcs"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set(console.CSRFHeader, good)
	resp, err := b.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Fatalf("form post: %d", resp.StatusCode)
	}
	if r := b.api(api.VersionVPC, "DescribeVpcs", nil); r.status != 200 {
		t.Fatalf("with the token: %d %s", r.status, r.raw)
	}
	// Logout ends the session.
	if r := b.do("POST", "logout", map[string]string{}, map[string]string{console.CSRFHeader: good}); r.status != 200 {
		t.Fatalf("logout: %d %s", r.status, r.raw)
	}
	wantErr(t, b.api(api.VersionVPC, "DescribeVpcs", nil), 401, "InvalidSession")
}

func TestSessionExpiry(t *testing.T) {
	f := newFixture(t)
	b := newBrowser(t, f.url)
	b.mustLogin(f.env.Admin)
	f.clock.Add(29 * time.Minute)
	if r := b.api(api.VersionVPC, "DescribeVpcs", nil); r.status != 200 {
		t.Fatalf("after 29 idle minutes: %d %s", r.status, r.raw)
	}
	f.clock.Add(30 * time.Minute)
	wantErr(t, b.api(api.VersionVPC, "DescribeVpcs", nil), 401, "InvalidSession")

	// Absolute lifetime: used every 20 minutes, it still ends at 12 h.
	b.mustLogin(f.env.Admin)
	for elapsed := 20 * time.Minute; elapsed < 12*time.Hour; elapsed += 20 * time.Minute {
		f.clock.Add(20 * time.Minute)
		if r := b.api(api.VersionVPC, "DescribeVpcs", nil); r.status != 200 {
			t.Fatalf("after %s: %d %s", elapsed, r.status, r.raw)
		}
	}
	f.clock.Add(20 * time.Minute)
	wantErr(t, b.api(api.VersionVPC, "DescribeVpcs", nil), 401, "InvalidSession")
}

func TestSessionLimit(t *testing.T) {
	f := newFixture(t, func(o *console.Options) { o.MaxSessions = 2 })
	bs := []*browser{newBrowser(t, f.url), newBrowser(t, f.url), newBrowser(t, f.url)}
	for _, b := range bs {
		b.mustLogin(f.env.Admin)
		f.clock.Add(time.Second)
	}
	// The least recently used session made room for the third.
	wantErr(t, bs[0].api(api.VersionVPC, "DescribeVpcs", nil), 401, "InvalidSession")
	for _, b := range bs[1:] {
		if r := b.api(api.VersionVPC, "DescribeVpcs", nil); r.status != 200 {
			t.Fatalf("%d %s", r.status, r.raw)
		}
	}
}

func TestDeletedKeyEndsSession(t *testing.T) {
	f := newFixture(t)
	bob := f.env.NewAccount(t, "bob")
	b := newBrowser(t, f.url)
	b.mustLogin(bob)
	if r := b.api(api.VersionVPC, "DescribeVpcs", nil); r.status != 200 {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	if _, err := f.env.Common(t, f.env.Admin, api.VersionPalisade, "DeleteAccessKey",
		map[string]string{"UserAccessKeyId": bob.AccessKeyID}); err != nil {
		t.Fatal(err)
	}
	wantErr(t, b.api(api.VersionVPC, "DescribeVpcs", nil), 401, "InvalidSession")
	wantErr(t, b.do("GET", "session", nil, nil), 401, "InvalidSession")
	wantErr(t, b.login(bob), 401, "InvalidAccessKey")
}

// TestAccountIsolation: a session acts as its account only, with the API's
// own answers.
func TestAccountIsolation(t *testing.T) {
	f := newFixture(t)
	v := f.env.VPC(t, f.env.Admin)
	vreq := vpc.CreateCreateVpcRequest()
	vreq.CidrBlock, vreq.VpcName = "10.8.0.0/16", "admins"
	vresp, err := v.CreateVpc(vreq)
	if err != nil {
		t.Fatal(err)
	}
	sreq := ecs.CreateCreateSecurityGroupRequest()
	sreq.VpcId = vresp.VpcId
	sresp, err := f.env.ECS(t, f.env.Admin).CreateSecurityGroup(sreq)
	if err != nil {
		t.Fatal(err)
	}
	bob := f.env.NewAccount(t, "bob")
	b := newBrowser(t, f.url)
	b.mustLogin(bob)
	r := b.api(api.VersionVPC, "DescribeVpcs", nil)
	if r.status != 200 || strings.Contains(r.raw, vresp.VpcId) {
		t.Fatalf("bob's DescribeVpcs: %d %s", r.status, r.raw)
	}
	r = b.api(api.VersionECS, "DescribeSecurityGroupAttribute", map[string]string{"SecurityGroupId": sresp.SecurityGroupId})
	areq := ecs.CreateDescribeSecurityGroupAttributeRequest()
	areq.SecurityGroupId = sresp.SecurityGroupId
	_, err = f.env.ECS(t, bob).DescribeSecurityGroupAttribute(areq)
	status, code := apitest.ServerErr(t, err)
	wantErr(t, r, status, code)
	if status != 404 && status != 400 {
		t.Fatalf("bob describing the admin's group: %d %s", status, code)
	}
	// The admin's own session sees it.
	a := newBrowser(t, f.url)
	a.mustLogin(f.env.Admin)
	if r := a.api(api.VersionVPC, "DescribeVpcs", nil); !strings.Contains(r.raw, vresp.VpcId) {
		t.Fatalf("admin's DescribeVpcs: %d %s", r.status, r.raw)
	}
}

func TestAPIBridgeRefusals(t *testing.T) {
	f := newFixture(t)
	b := newBrowser(t, f.url)
	b.mustLogin(f.env.Admin)
	for _, action := range []string{"DescribeState", "WaitState", "ReportStatus"} {
		if !f.env.App.Router().IsAgentAction(api.VersionPalisade, action) {
			t.Fatalf("%s is not an agent action", action)
		}
		wantErr(t, b.api(api.VersionPalisade, action, nil), 403, "Forbidden.AgentAction")
	}
	wantErr(t, b.api(api.VersionVPC, "NoSuchAction", nil), 404, "InvalidAction.NotFound")
	wantErr(t, b.api(api.VersionVPC, "DescribeVpcs", map[string]string{"RegionId": "cn-hangzhou"}), 400, "InvalidRegionId.NotFound")
	if r := b.api(api.VersionVPC, "DescribeVpcs", map[string]string{"AccessKeyId": "x"}); r.status != 400 {
		t.Fatalf("reserved parameter: %d %s", r.status, r.raw)
	}
}

// TestInvalidParameterLikeSDK: the console answers a bad parameter exactly
// as the API does through the SDK.
func TestInvalidParameterLikeSDK(t *testing.T) {
	f := newFixture(t)
	v := f.env.VPC(t, f.env.Admin)
	vreq := vpc.CreateCreateVpcRequest()
	vreq.CidrBlock = "10.9.0.0/16"
	vresp, err := v.CreateVpc(vreq)
	if err != nil {
		t.Fatal(err)
	}
	sreq := ecs.CreateCreateSecurityGroupRequest()
	sreq.VpcId = vresp.VpcId
	sresp, err := f.env.ECS(t, f.env.Admin).CreateSecurityGroup(sreq)
	if err != nil {
		t.Fatal(err)
	}
	params := map[string]string{
		"SecurityGroupId": sresp.SecurityGroupId, "Permissions.1.IpProtocol": "TCP",
		"Permissions.1.PortRange": "90/80", "Permissions.1.SourceCidrIp": "10.0.0.0/8", "Permissions.1.Policy": "accept",
	}
	_, err = f.env.Common(t, f.env.Admin, api.VersionECS, "AuthorizeSecurityGroup", params)
	var se *errors.ServerError
	status, code := apitest.ServerErr(t, err)
	if !asServerError(err, &se) {
		t.Fatalf("%T", err)
	}
	b := newBrowser(t, f.url)
	b.mustLogin(f.env.Admin)
	r := b.api(api.VersionECS, "AuthorizeSecurityGroup", params)
	wantErr(t, r, status, code)
	if r.str("Message") != se.Message() {
		t.Fatalf("message %q, the SDK's %q", r.str("Message"), se.Message())
	}
	// And a valid rule goes through.
	params["Permissions.1.PortRange"] = "80/90"
	if r := b.api(api.VersionECS, "AuthorizeSecurityGroup", params); r.status != 200 {
		t.Fatalf("%d %s", r.status, r.raw)
	}
}

func asServerError(err error, se **errors.ServerError) bool {
	s, ok := err.(*errors.ServerError)
	*se = s
	return ok
}

// TestServedByApp checks the console as the server mounts it: assets,
// content types and security headers.
func TestServedByApp(t *testing.T) {
	env := apitest.Start(t, apitest.WithBackend(app.BackendMemory))
	base := "http://" + env.Endpoint
	b := newBrowser(t, base+"/console/")
	checkHeaders := func(path string, r reply) {
		t.Helper()
		want := map[string]string{
			"Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
			"X-Content-Type-Options":  "nosniff",
			"Referrer-Policy":         "no-referrer",
		}
		for k, v := range want {
			if got := r.header.Get(k); got != v {
				t.Errorf("%s: %s = %q, want %q", path, k, got, v)
			}
		}
	}
	for path, ct := range map[string]string{
		"":           "text/html; charset=utf-8",
		"index.html": "text/html; charset=utf-8",
		"app.js":     "text/javascript; charset=utf-8",
		"style.css":  "text/css; charset=utf-8",
	} {
		r := b.do("GET", path, nil, nil)
		if r.status != 200 || r.header.Get("Content-Type") != ct || len(r.raw) == 0 {
			t.Errorf("%q: %d %q", path, r.status, r.header.Get("Content-Type"))
		}
		checkHeaders(path, r)
	}
	if r := b.do("GET", "", nil, nil); !strings.Contains(r.raw, `src="app.js"`) || strings.Contains(r.raw, "<script>") || strings.Contains(r.raw, "style=") {
		t.Errorf("index.html must load app.js and have no inline script or style")
	}
	r := b.do("GET", "nope.js", nil, nil)
	if r.status != 404 {
		t.Errorf("nope.js: %d", r.status)
	}
	checkHeaders("nope.js", r)
	for _, p := range []string{"login", "session"} {
		var r reply
		if p == "login" {
			r = b.do("POST", p, map[string]string{"AccessKeyId": "x", "AccessKeySecret": "y"}, nil)
		} else {
			r = b.do("GET", p, nil, nil)
		}
		checkHeaders(p, r)
		if r.header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: Cache-Control %q", p, r.header.Get("Cache-Control"))
		}
	}
	b.mustLogin(env.Admin)
	r = b.api(api.VersionVPC, "DescribeVpcs", nil)
	if r.status != 200 || r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("api: %d %q", r.status, r.header.Get("Cache-Control"))
	}
	checkHeaders("api", r)
	// The API itself still answers on "/".
	out, err := env.Common(t, env.Admin, api.VersionVPC, "DescribeVpcs", nil)
	if err != nil || out["RequestId"] == nil {
		t.Fatalf("API: %v %v", err, out)
	}
	// /console redirects to /console/.
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Get(base + "/console")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if (resp.StatusCode != 301 && resp.StatusCode != 307 && resp.StatusCode != 308) || resp.Header.Get("Location") != "/console/" {
		t.Errorf("/console: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// TestNATGatewaysPage checks the NAT gateways page: its menu entry and
// route, that every action it sends exists, and those actions sent as the
// page sends them, through the console, with the results read back through
// the official VPC SDK (and another account's session seeing nothing).
func TestNATGatewaysPage(t *testing.T) {
	f := newFixture(t)
	b := newBrowser(t, f.url)
	b.mustLogin(f.env.Admin)

	// The page: a menu entry, its routes, and only actions the API has.
	if r := b.do("GET", "", nil, nil); !strings.Contains(r.raw, `<a href="#/nat-gateways">NAT gateways</a>`) {
		t.Errorf("index.html has no NAT gateways entry")
	}
	js := b.do("GET", "app.js", nil, nil).raw
	start, end := strings.Index(js, "// ---------- Internet NAT gateways"), strings.Index(js, "const VFW_SWITCH")
	if start < 0 || end < start {
		t.Fatalf("app.js has no NAT gateways section")
	}
	for _, want := range []string{`[/^\/nat-gateways$/, viewNatGateways]`, `[/^\/nat-gateways\/([^/]+)$/, (id) => viewNatGateway(decodeURIComponent(id))]`} {
		if !strings.Contains(js, want) {
			t.Errorf("app.js lacks the route %s", want)
		}
	}
	sent := map[string]bool{}
	for _, m := range regexp.MustCompile(`V\.VPC, '(\w+)'`).FindAllStringSubmatch(js[start:end], -1) {
		sent[m[1]] = true
	}
	for _, action := range []string{"CreateNatGateway", "DescribeNatGateways", "DeleteNatGateway", "AssociateEipAddress",
		"UnassociateEipAddress", "CreateSnatEntry", "DescribeSnatTableEntries", "DeleteSnatEntry", "CreateForwardEntry",
		"DescribeForwardTableEntries", "DeleteForwardEntry", "DescribeVpcs", "DescribeVSwitches", "DescribeEipAddresses"} {
		if !sent[action] {
			t.Errorf("the NAT gateways page does not send %s", action)
		}
	}
	for action := range sent {
		if _, ok := f.env.App.Router().Lookup(api.VersionVPC, action); !ok {
			t.Errorf("the NAT gateways page sends %s, which the API does not have", action)
		}
	}

	// A VPC, a vSwitch and two EIPs, through the SDK.
	v := f.env.VPC(t, f.env.Admin)
	vreq := vpc.CreateCreateVpcRequest()
	vreq.CidrBlock = "10.30.0.0/16"
	vresp, err := v.CreateVpc(vreq)
	if err != nil {
		t.Fatal(err)
	}
	wreq := vpc.CreateCreateVSwitchRequest()
	wreq.VpcId, wreq.CidrBlock, wreq.ZoneId = vresp.VpcId, "10.30.1.0/24", apitest.Region+"-a"
	wresp, err := v.CreateVSwitch(wreq)
	if err != nil {
		t.Fatal(err)
	}
	var eips []*vpc.AllocateEipAddressResponse
	for range 2 {
		e, err := v.AllocateEipAddress(vpc.CreateAllocateEipAddressRequest())
		if err != nil {
			t.Fatal(err)
		}
		eips = append(eips, e)
	}

	ok := func(action string, params map[string]string) reply {
		t.Helper()
		r := b.api(api.VersionVPC, action, params)
		if r.status != 200 {
			t.Fatalf("%s: %d %s", action, r.status, r.raw)
		}
		return r
	}
	// The create form, then the gateway's page.
	ngw := ok("CreateNatGateway", map[string]string{"NatType": "Enhanced", "NetworkType": "internet", "VpcId": vresp.VpcId,
		"VSwitchId": wresp.VSwitchId, "Name": "console-ngw", "IcmpReplyEnabled": "false", "IsCreateDefaultRoute": "true"}).str("NatGatewayId")
	for _, e := range eips {
		ok("AssociateEipAddress", map[string]string{"AllocationId": e.AllocationId, "InstanceId": ngw, "InstanceType": "Nat"})
	}
	gws := ok("DescribeNatGateways", map[string]string{"NatGatewayId": ngw}).body["NatGateways"].(map[string]any)["NatGateway"].([]any)
	g := gws[0].(map[string]any)
	snatTable := g["SnatTableIds"].(map[string]any)["SnatTableId"].([]any)[0].(string)
	fwdTable := g["ForwardTableIds"].(map[string]any)["ForwardTableId"].([]any)[0].(string)
	snat := ok("CreateSnatEntry", map[string]string{"SnatTableId": snatTable, "SnatIp": eips[0].EipAddress,
		"SourceVSwitchId": wresp.VSwitchId, "SnatEntryName": "egress"}).str("SnatEntryId")
	fwd := ok("CreateForwardEntry", map[string]string{"ForwardTableId": fwdTable, "IpProtocol": "Any", "ExternalIp": eips[1].EipAddress,
		"ExternalPort": "Any", "InternalIp": "10.30.1.7", "InternalPort": "Any"}).str("ForwardEntryId")

	// What the SDK sees.
	dreq := vpc.CreateDescribeNatGatewaysRequest()
	dreq.NatGatewayId = ngw
	dresp, err := v.DescribeNatGateways(dreq)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(dresp.NatGateways.NatGateway); n != 1 {
		t.Fatalf("SDK DescribeNatGateways: %d gateways", n)
	}
	sg := dresp.NatGateways.NatGateway[0]
	if sg.Name != "console-ngw" || sg.VpcId != vresp.VpcId || sg.NatGatewayPrivateInfo.VswitchId != wresp.VSwitchId ||
		sg.NatType != "Enhanced" || sg.NetworkType != "internet" || sg.IcmpReplyEnabled || len(sg.IpLists.IpList) != 2 {
		t.Errorf("SDK DescribeNatGateways: %+v", sg)
	}
	sreq := vpc.CreateDescribeSnatTableEntriesRequest()
	sreq.SnatTableId = snatTable
	sresp, err := v.DescribeSnatTableEntries(sreq)
	if err != nil {
		t.Fatal(err)
	}
	if es := sresp.SnatTableEntries.SnatTableEntry; len(es) != 1 || es[0].SnatEntryId != snat || es[0].SnatIp != eips[0].EipAddress ||
		es[0].SourceVSwitchId != wresp.VSwitchId || es[0].SourceCIDR != "10.30.1.0/24" || es[0].SnatEntryName != "egress" {
		t.Errorf("SDK DescribeSnatTableEntries: %+v", es)
	}
	freq := vpc.CreateDescribeForwardTableEntriesRequest()
	freq.ForwardTableId = fwdTable
	fresp, err := v.DescribeForwardTableEntries(freq)
	if err != nil {
		t.Fatal(err)
	}
	if es := fresp.ForwardTableEntries.ForwardTableEntry; len(es) != 1 || es[0].ForwardEntryId != fwd || es[0].IpProtocol != "Any" ||
		es[0].ExternalIp != eips[1].EipAddress || es[0].InternalIp != "10.30.1.7" || es[0].ExternalPort != "Any" {
		t.Errorf("SDK DescribeForwardTableEntries: %+v", es)
	}

	// The EIP table's Unassociate is refused as through the SDK.
	ureq := vpc.CreateUnassociateEipAddressRequest()
	ureq.AllocationId, ureq.InstanceId = eips[0].AllocationId, ngw
	_, err = v.UnassociateEipAddress(ureq)
	status, code := apitest.ServerErr(t, err)
	wantErr(t, b.api(api.VersionVPC, "UnassociateEipAddress", map[string]string{"AllocationId": eips[0].AllocationId,
		"InstanceId": ngw, "InstanceType": "Nat"}), status, code)

	// Another account's session sees none of it.
	bob := newBrowser(t, f.url)
	bob.mustLogin(f.env.NewAccount(t, "bob"))
	if r := bob.api(api.VersionVPC, "DescribeNatGateways", map[string]string{"PageSize": "50"}); r.status != 200 || strings.Contains(r.raw, ngw) {
		t.Errorf("bob's DescribeNatGateways: %d %s", r.status, r.raw)
	}
	wantErr(t, bob.api(api.VersionVPC, "DeleteNatGateway", map[string]string{"NatGatewayId": ngw, "Force": "true"}), 404, "InvalidNatGatewayId.NotFound")
	wantErr(t, bob.api(api.VersionVPC, "DescribeSnatTableEntries", map[string]string{"SnatTableId": snatTable}), 404, "InvalidSnatTableId.NotFound")

	// The Delete buttons: an entry, then the gateway with Force.
	ok("DeleteSnatEntry", map[string]string{"SnatTableId": snatTable, "SnatEntryId": snat})
	if sresp, err = v.DescribeSnatTableEntries(sreq); err != nil || len(sresp.SnatTableEntries.SnatTableEntry) != 0 {
		t.Errorf("SNAT entries after delete: %v %+v", err, sresp)
	}
	ok("DeleteNatGateway", map[string]string{"NatGatewayId": ngw, "Force": "true"})
	if dresp, err = v.DescribeNatGateways(dreq); err != nil || len(dresp.NatGateways.NatGateway) != 0 {
		t.Errorf("gateway after delete: %v %+v", err, dresp)
	}
	ereq := vpc.CreateDescribeEipAddressesRequest()
	eresp, err := v.DescribeEipAddresses(ereq)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range eresp.EipAddresses.EipAddress {
		if e.Status != "Available" || e.InstanceId != "" {
			t.Errorf("EIP %s after the gateway's deletion: %s %q", e.AllocationId, e.Status, e.InstanceId)
		}
	}
}

// TestNATGatewayFirewallSection checks the NAT firewall section of a NAT
// gateway's page: the Cloudfw actions it sends exist, and those actions
// sent as the page sends them (the Add NAT firewall policy form, the
// listing, the Move up, Move down, Disable and Delete buttons), through
// the console, with the results read back through the official Cloudfw
// SDK (and another account's session refused).
func TestNATGatewayFirewallSection(t *testing.T) {
	f := newFixture(t)
	b := newBrowser(t, f.url)
	b.mustLogin(f.env.Admin)

	// The section sends only actions the API has: those called with V.CFW
	// and those given to cfwPolicyTable, which sends them with V.CFW.
	js := b.do("GET", "app.js", nil, nil).raw
	start, end := strings.Index(js, "// ---------- Internet NAT gateways"), strings.Index(js, "const VFW_SWITCH")
	if start < 0 || end < start {
		t.Fatalf("app.js has no NAT gateways section")
	}
	section := js[start:end]
	sent := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?:V\.CFW, |modify: |remove: |move: )'(\w+)'`).FindAllStringSubmatch(section, -1) {
		sent[m[1]] = true
	}
	for _, action := range []string{"CreateNatFirewallControlPolicy", "DescribeNatFirewallControlPolicy", "ModifyNatFirewallControlPolicy",
		"DeleteNatFirewallControlPolicy", "ModifyNatFirewallControlPolicyPosition"} {
		if !sent[action] {
			t.Errorf("the NAT gateway page does not send %s", action)
		}
	}
	for action := range sent {
		if _, ok := f.env.App.Router().Lookup(api.VersionCloudfw, action); !ok {
			t.Errorf("the NAT gateway page sends %s, which the API does not have", action)
		}
	}
	// Direction out with every action; the form's order is -1 (last).
	for _, want := range []string{`{ NatGatewayId: id, Direction: 'out' }`, `{ NewOrder: '-1' }`} {
		if !strings.Contains(section, want) {
			t.Errorf("the NAT gateways section lacks %s", want)
		}
	}
	if !strings.Contains(js, `V.CFW, ops.move, Object.assign(ops.params(p), { AclUuid: p.AclUuid, NewOrder: order })`) {
		t.Errorf("cfwPolicyTable does not send ops.move with AclUuid and NewOrder")
	}

	// A VPC, a vSwitch (SDK) and a gateway (the NAT gateways page's form).
	v := f.env.VPC(t, f.env.Admin)
	vreq := vpc.CreateCreateVpcRequest()
	vreq.CidrBlock = "10.31.0.0/16"
	vresp, err := v.CreateVpc(vreq)
	if err != nil {
		t.Fatal(err)
	}
	wreq := vpc.CreateCreateVSwitchRequest()
	wreq.VpcId, wreq.CidrBlock, wreq.ZoneId = vresp.VpcId, "10.31.1.0/24", apitest.Region+"-a"
	wresp, err := v.CreateVSwitch(wreq)
	if err != nil {
		t.Fatal(err)
	}
	ok := func(version, action string, params map[string]string) reply {
		t.Helper()
		r := b.api(version, action, params)
		if r.status != 200 {
			t.Fatalf("%s: %d %s", action, r.status, r.raw)
		}
		return r
	}
	ngw := ok(api.VersionVPC, "CreateNatGateway", map[string]string{"NatType": "Enhanced", "NetworkType": "internet", "VpcId": vresp.VpcId,
		"VSwitchId": wresp.VSwitchId, "IcmpReplyEnabled": "true", "IsCreateDefaultRoute": "true"}).str("NatGatewayId")
	// An IP address book (the Address books page's form).
	book := ok(api.VersionCloudfw, "AddAddressBook", map[string]string{"GroupName": "app-hosts", "GroupType": "ip",
		"AddressList": "10.31.1.0/24,10.31.2.7", "Description": "app hosts"}).str("GroupUuid")

	// target is what natFirewall(id) adds to every action.
	target := func(params map[string]string) map[string]string {
		out := map[string]string{"NatGatewayId": ngw, "Direction": "out"}
		for k, v := range params {
			if v != "" { // call leaves empty values out
				out[k] = v
			}
		}
		return out
	}
	// add sends the Add NAT firewall policy form as cfwPolicyForm does.
	add := func(order, action, proto, srcType, src, dst, port, desc string) map[string]string {
		return target(map[string]string{"ApplicationName": "ANY", "DestPortType": "port", "AclAction": action, "Proto": proto,
			"SourceType": srcType, "Source": src, "DestinationType": "net", "Destination": dst, "DestPort": port,
			"NewOrder": order, "Description": desc})
	}
	ids := map[string]string{}
	for _, p := range []map[string]string{
		add("-1", "drop", "TCP", "net", "10.31.1.0/24", "0.0.0.0/0", "22/22", "ssh out"),
		add("-1", "accept", "TCP", "group", "app-hosts", "198.51.100.0/24", "80/80", "app web"),
		add("1", "log", "ICMP", "net", "10.31.0.0/16", "0.0.0.0/0", "", "pings"),
	} {
		id := ok(api.VersionCloudfw, "CreateNatFirewallControlPolicy", p).str("AclUuid")
		if len(id) != 36 {
			t.Fatalf("CreateNatFirewallControlPolicy %s: AclUuid %q", p["Description"], id)
		}
		ids[p["Description"]] = id
	}
	// A port with ICMP is refused as through the SDK.
	bad := add("-1", "drop", "ICMP", "net", "10.31.1.0/24", "0.0.0.0/0", "80/80", "bad")
	_, err = f.env.Common(t, f.env.Admin, api.VersionCloudfw, "CreateNatFirewallControlPolicy", bad)
	status, code := apitest.ServerErr(t, err)
	wantErr(t, b.api(api.VersionCloudfw, "CreateNatFirewallControlPolicy", bad), status, code)

	// listed checks the page's listing (descriptions in order, TotalCount)
	// and the SDK's, and returns the SDK's policies by description.
	c := f.env.Cloudfw(t, f.env.Admin)
	listed := func(want ...string) map[string]cloudfw.DataItemInDescribeNatFirewallControlPolicy {
		t.Helper()
		r := ok(api.VersionCloudfw, "DescribeNatFirewallControlPolicy", target(map[string]string{"CurrentPage": "1", "PageSize": "100"}))
		var got []string
		for _, p := range r.body["Policys"].([]any) {
			got = append(got, p.(map[string]any)["Description"].(string))
		}
		if r.str("TotalCount") != strconv.Itoa(len(want)) || !slices.Equal(got, want) {
			t.Errorf("the page's listing: TotalCount %q, %v, want %v", r.str("TotalCount"), got, want)
		}
		req := cloudfw.CreateDescribeNatFirewallControlPolicyRequest()
		req.NatGatewayId, req.Direction, req.CurrentPage, req.PageSize = ngw, "out", "1", "100"
		resp, err := c.DescribeNatFirewallControlPolicy(req)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]cloudfw.DataItemInDescribeNatFirewallControlPolicy{}
		for i, p := range resp.Policys {
			if p.Order != i+1 || p.NatGatewayId != ngw || p.Description != want[i] || p.AclUuid != ids[p.Description] {
				t.Errorf("SDK policy %d: %+v, want %s", i+1, p, want[i])
			}
			out[p.Description] = p
		}
		return out
	}
	pols := listed("pings", "ssh out", "app web")
	if p := pols["ssh out"]; p.AclAction != "drop" || p.Proto != "TCP" || p.SourceType != "net" || p.Source != "10.31.1.0/24" ||
		p.DestinationType != "net" || p.Destination != "0.0.0.0/0" || p.DestPort != "22" || p.Release != "true" || p.HitTimes != 0 {
		t.Errorf("ssh out: %+v", p)
	}
	if p := pols["app web"]; p.AclAction != "accept" || p.SourceType != "group" || p.Source != "app-hosts" ||
		!slices.Equal(p.SourceGroupCidrs, []string{"10.31.1.0/24", "10.31.2.7/32"}) || p.Destination != "198.51.100.0/24" || p.DestPort != "80" {
		t.Errorf("app web: %+v", p)
	}
	if p := pols["pings"]; p.AclAction != "log" || p.Proto != "ICMP" || p.Source != "10.31.0.0/16" || p.Release != "true" {
		t.Errorf("pings: %+v", p)
	}

	// Move up the last, move down the first (NewOrder one less or more).
	ok(api.VersionCloudfw, "ModifyNatFirewallControlPolicyPosition", target(map[string]string{"AclUuid": ids["app web"], "NewOrder": "2"}))
	listed("pings", "app web", "ssh out")
	ok(api.VersionCloudfw, "ModifyNatFirewallControlPolicyPosition", target(map[string]string{"AclUuid": ids["pings"], "NewOrder": "2"}))
	listed("app web", "pings", "ssh out")
	// Disable keeps the rest of the policy.
	ok(api.VersionCloudfw, "ModifyNatFirewallControlPolicy", target(map[string]string{"AclUuid": ids["ssh out"], "Release": "false"}))
	if p := listed("app web", "pings", "ssh out")["ssh out"]; p.Release != "false" || p.AclAction != "drop" || p.DestPort != "22" {
		t.Errorf("ssh out disabled: %+v", p)
	}

	// Another account's session sees and changes none of it.
	bob := newBrowser(t, f.url)
	bob.mustLogin(f.env.NewAccount(t, "bob"))
	wantErr(t, bob.api(api.VersionCloudfw, "DescribeNatFirewallControlPolicy", target(map[string]string{"CurrentPage": "1", "PageSize": "100"})),
		404, "InvalidNatGatewayId.NotFound")
	wantErr(t, bob.api(api.VersionCloudfw, "DeleteNatFirewallControlPolicy", target(map[string]string{"AclUuid": ids["pings"]})),
		404, "InvalidNatGatewayId.NotFound")

	// Delete: the ones after it move up.
	ok(api.VersionCloudfw, "DeleteNatFirewallControlPolicy", target(map[string]string{"AclUuid": ids["pings"]}))
	listed("app web", "ssh out")

	// Deleting the gateway (its page's ask says so) takes its policies:
	// the book they used can go.
	ok(api.VersionVPC, "DeleteNatGateway", map[string]string{"NatGatewayId": ngw, "Force": "true"})
	wantErr(t, b.api(api.VersionCloudfw, "DescribeNatFirewallControlPolicy", target(nil)), 404, "InvalidNatGatewayId.NotFound")
	ok(api.VersionCloudfw, "DeleteAddressBook", map[string]string{"GroupUuid": book})
}

// TestFirewallTrafficLogsSection checks the Traffic logs section of the
// Cloud Firewall page: it sends DescribeFirewallLogs, which the API has,
// with only that action's parameters, and reads fields the answer has;
// sent as the page sends it through the console, each account sees its
// own logs and a bad filter comes back as the API's error.
func TestFirewallTrafficLogsSection(t *testing.T) {
	f := newFixture(t)
	b := newBrowser(t, f.url)
	b.mustLogin(f.env.Admin)

	js := b.do("GET", "app.js", nil, nil).raw
	start, view, end := strings.Index(js, "function cfwTrafficLogs("), strings.Index(js, "async function viewFirewall("), strings.Index(js, "async function viewFirewallAssets(")
	if start < 0 || view < start || end < view {
		t.Fatalf("app.js has no Traffic logs section before the Cloud Firewall page")
	}
	section := js[start:view]
	if !strings.Contains(section, "V.PALISADE, 'DescribeFirewallLogs', v") || !strings.Contains(js[view:end], "cfwTrafficLogs(pg.alert)") {
		t.Errorf("the Cloud Firewall page does not send DescribeFirewallLogs from its Traffic logs form")
	}
	if _, ok := f.env.App.Router().Lookup(api.VersionPalisade, "DescribeFirewallLogs"); !ok {
		t.Fatalf("the API has no DescribeFirewallLogs")
	}
	var params []string
	for _, m := range regexp.MustCompile(`\{ name: '(\w+)'`).FindAllStringSubmatch(section, -1) {
		params = append(params, m[1])
	}
	slices.Sort(params)
	if want := []string{"AclUuid", "CurrentPage", "DstIP", "LogType", "PageSize", "Port", "RuleResult", "SrcIP"}; !slices.Equal(params, want) {
		t.Errorf("the Traffic logs form sends %v, want %v", params, want)
	}
	var fields []string
	for _, m := range regexp.MustCompile(`\bl\.(\w+)`).FindAllStringSubmatch(section, -1) {
		fields = append(fields, m[1])
	}

	// A log of the admin's NAT firewall policy and one of bob's, as an
	// agent reports them.
	bob := f.env.NewAccount(t, "bob")
	f.env.PutRecord(t, model.PrefixNatFirewallPolicy+"pol-a", model.FirewallPolicy{ID: "pol-a", AccountID: f.env.Admin.AccountID,
		NatGatewayID: "ngw-a", Direction: "out", Action: "drop", Order: 1})
	f.env.PutRecord(t, model.PrefixFirewallPolicy+"pol-b", model.FirewallPolicy{ID: "pol-b", AccountID: bob.AccountID, Direction: "in", Action: "log", Order: 1})
	rec := func(policy string) model.FirewallTrafficLog {
		return model.FirewallTrafficLog{Time: f.clock.Now(), PolicyID: policy, VpcID: "vpc-1", Src: netip.MustParseAddr("10.0.1.5"),
			Dst: netip.MustParseAddr("192.0.2.1"), SrcPort: 50000, DstPort: 25, Proto: 6}
	}
	if n, err := f.env.App.Service().IngestFirewallLogs(context.Background(), f.env.Admin.AccountID, "", []model.FirewallTrafficLog{rec("pol-a"), rec("pol-b")}); err != nil || n != 2 {
		t.Fatalf("ingest: %d %v", n, err)
	}
	// As the form sends it by default: the page and its size, no filter.
	r := b.api(api.VersionPalisade, "DescribeFirewallLogs", map[string]string{"CurrentPage": "1", "PageSize": "20"})
	logs, _ := r.body["Logs"].([]any)
	if r.status != 200 || r.body["TotalCount"] != float64(1) || len(logs) != 1 {
		t.Fatalf("the admin's logs: %d %s", r.status, r.raw)
	}
	l := logs[0].(map[string]any)
	for _, k := range fields {
		if _, ok := l[k]; !ok {
			t.Errorf("the page reads %s, which a log lacks: %v", k, l)
		}
	}
	if l["acl_rule_id"] != "pol-a" || l["log_type"] != "nat_firewall_log" || l["firewall_id"] != "ngw-a" {
		t.Errorf("the admin's log: %v", l)
	}
	if r := b.api(api.VersionPalisade, "DescribeFirewallLogs", map[string]string{"LogType": "nat_firewall_log", "RuleResult": "log"}); r.body["TotalCount"] != float64(0) {
		t.Errorf("filtered: %s", r.raw)
	}
	wantErr(t, b.api(api.VersionPalisade, "DescribeFirewallLogs", map[string]string{"SrcIP": "10.0.1"}), 400, "InvalidParameter")

	bb := newBrowser(t, f.url)
	bb.mustLogin(bob)
	r = bb.api(api.VersionPalisade, "DescribeFirewallLogs", nil)
	if logs, _ := r.body["Logs"].([]any); r.status != 200 || len(logs) != 1 || logs[0].(map[string]any)["acl_rule_id"] != "pol-b" {
		t.Errorf("bob's logs: %d %s", r.status, r.raw)
	}
}
