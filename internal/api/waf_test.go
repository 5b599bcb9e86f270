package api_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/api"
	"github.com/palisade-project/palisade/internal/apitest"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/waf"
	"github.com/palisade-project/palisade/internal/waf/wafrule"
)

// palisadeCall calls a Palisade action and returns its answer, or the
// HTTP status and code of its error.
func palisadeCall(t *testing.T, env *apitest.Env, c apitest.Creds, action string, p map[string]string) (map[string]any, int, string) {
	t.Helper()
	out, err := env.Common(t, c, api.VersionPalisade, action, p)
	if err != nil {
		status, code := apitest.ServerErr(t, err)
		return nil, status, code
	}
	return out, 200, ""
}

func putInstance(t *testing.T, env *apitest.Env, acct, id, ip string) {
	env.PutRecord(t, model.PrefixInstance+id, model.Instance{ID: id, AccountID: acct, PrimaryENIID: "eni-" + id, Status: model.InstanceRunning})
	env.PutRecord(t, model.PrefixENI+"eni-"+id, model.ENI{ID: "eni-" + id, AccountID: acct, InstanceID: id, PrimaryIP: netip.MustParseAddr(ip)})
}

// TestWAFActions covers the WAF actions: templates, protected objects,
// rules, config, logs; bad input and account isolation.
func TestWAFActions(t *testing.T) {
	env := apitest.Start(t)
	bob := env.NewAccount(t, "bob")
	eve := env.NewAccount(t, "eve")
	putInstance(t, env, bob.AccountID, "i-web", "10.0.1.7")
	putInstance(t, env, eve.AccountID, "i-eve", "10.0.1.8")
	ok := func(c apitest.Creds, action string, p map[string]string) map[string]any {
		t.Helper()
		out, status, code := palisadeCall(t, env, c, action, p)
		if status != 200 {
			t.Fatalf("%s %v: %d %s", action, p, status, code)
		}
		return out
	}
	tpl := ok(bob, "CreateWafTemplate", map[string]string{"Name": "strict", "Mode": "monitor", "ParanoiaLevel": "2",
		"InboundThreshold": "10", "ExcludeRuleIds": "942100,920350", "ExcludeTags": `["attack-xss"]`, "BodyLimit": "65536", "BodyAction": "block", "InspectResponses": "true"})["TemplateId"].(string)
	created := ok(bob, "CreateWafProtection", map[string]string{"InstanceId": "i-web", "Port": "80", "TemplateId": tpl,
		"BlockStatus": "403", "BlockHeaders": `{"X-Blocked":"1"}`, "BlockBody": "no"})
	obj := created["ProtectionId"].(string)
	// The instance has no EIP: the answer says the object is not in force.
	if created["Status"] != "NoEip" || !strings.Contains(created["StatusReason"].(string), "no EIP") {
		t.Errorf("created without an EIP: %v", created)
	}
	rules := map[string]map[string]string{
		"whitelist": {"Conditions": "ip in-cidr 192.0.2.0/24", "Bypass": "crs,custom"},
		"blacklist": {"Addresses": "198.51.100.0/24,203.0.113.5", "Ttl": "3600"},
		"custom":    {"Conditions": "path prefix /admin && method equals post", "RuleAction": "block"},
		"ratelimit": {"By": "header", "Header": "x-api-key", "Interval": "10", "Threshold": "100", "BlockDuration": "60", "Status": "404", "RuleAction": "monitor"},
	}
	for kind, p := range rules {
		p["ProtectionId"], p["Kind"] = obj, kind
		ok(bob, "CreateWafRule", p)
	}
	out := ok(bob, "DescribeWafRules", map[string]string{"ProtectionId": obj})
	if out["TotalCount"].(float64) != 4 {
		t.Fatalf("rules: %v", out)
	}
	out = ok(bob, "DescribeWafProtections", nil)
	prot := out["Protections"].(map[string]any)["Protection"].([]any)[0].(map[string]any)
	if prot["Port"].(float64) != 80 || prot["BlockStatus"].(float64) != 403 || prot["Protocol"] != "HTTP" || prot["TemplateId"] != tpl ||
		prot["Status"] != "NoEip" || prot["EipAddress"] != "" {
		t.Errorf("protection: %v", prot)
	}
	out = ok(bob, "DescribeWafConfig", nil)
	b, _ := json.Marshal(out["Objects"])
	var cfgs []wafrule.ObjectConfig
	if err := json.Unmarshal(b, &cfgs); err != nil || len(cfgs) != 1 {
		t.Fatalf("config: %v %s", err, b)
	}
	if c := cfgs[0]; c.Upstream != "10.0.1.7:80" || c.Listen != ":80" || c.Profile.ParanoiaLevel != 2 || c.Profile.Action != "monitor" || !c.Profile.InspectResponses || len(c.Rules) != 4 {
		t.Errorf("config object: %+v", c)
	}
	if pol, err := waf.PolicyFromConfig(cfgs[0]); err != nil || !pol.Profile.InspectResponses {
		t.Errorf("config does not convert: %v %+v", err, pol.Profile)
	}
	hash := out["Hash"]
	ok(bob, "ModifyWafTemplate", map[string]string{"TemplateId": tpl, "ParanoiaLevel": "3", "InspectResponses": "false"})
	tplOut := ok(bob, "DescribeWafTemplates", map[string]string{"TemplateId": tpl})["Templates"].(map[string]any)["Template"].([]any)[0].(map[string]any)
	if tplOut["ParanoiaLevel"].(float64) != 3 || tplOut["InspectResponses"] != false || tplOut["BodyAction"] != "block" {
		t.Errorf("modified template: %v", tplOut)
	}
	if h := ok(bob, "DescribeWafConfig", nil)["Hash"]; h == hash {
		t.Error("config hash did not change after a template change")
	}

	// Bad input: every error is coded and nothing is written.
	bad := []struct {
		action string
		p      map[string]string
		status int
		code   string
	}{
		{"CreateWafTemplate", map[string]string{"ParanoiaLevel": "5"}, 400, "InvalidParameter"},
		{"CreateWafTemplate", map[string]string{"Mode": "drop"}, 400, "InvalidParameter"},
		{"CreateWafTemplate", map[string]string{"BodyLimit": "999999999"}, 400, "InvalidParameter"},
		{"CreateWafTemplate", map[string]string{"ExcludeRuleIds": "x"}, 400, "InvalidParameter"},
		{"CreateWafTemplate", map[string]string{"InspectResponses": "yes"}, 400, "InvalidParameter"},
		{"CreateWafTemplate", map[string]string{"ExcludeTags": "a b"}, 400, "InvalidParameter"},
		{"CreateWafProtection", map[string]string{"Port": "80"}, 400, "MissingParameter"},
		{"CreateWafProtection", map[string]string{"InstanceId": "i-web"}, 400, "MissingParameter"},
		{"CreateWafProtection", map[string]string{"InstanceId": "i-web", "Port": "70000"}, 400, "InvalidParameter"},
		{"CreateWafProtection", map[string]string{"InstanceId": "i-web", "Port": "80"}, 400, "InvalidProtection.Duplicate"},
		{"CreateWafProtection", map[string]string{"InstanceId": "i-web", "Port": "81", "BlockStatus": "204"}, 400, "InvalidParameter"},
		{"CreateWafProtection", map[string]string{"InstanceId": "i-web", "Port": "81", "BlockStatus": "304"}, 400, "InvalidParameter"},
		{"CreateWafProtection", map[string]string{"InstanceId": "i-web", "Port": "81", "BlockStatus": "601"}, 400, "InvalidParameter"},
		{"CreateWafProtection", map[string]string{"InstanceId": "i-web", "Port": "81", "BlockHeaders": "[1]"}, 400, "InvalidParameter"},
		{"CreateWafProtection", map[string]string{"InstanceId": "i-web", "Port": "81", "BlockHeaders": `{"content-length":"5"}`}, 400, "InvalidParameter"},
		{"CreateWafProtection", map[string]string{"InstanceId": "i-web", "Port": "81", "BlockHeaders": `{"Transfer-Encoding":"chunked"}`}, 400, "InvalidParameter"},
		{"CreateWafProtection", map[string]string{"InstanceId": "i-web", "Port": "81", "TlsCertificate": "x", "TlsPrivateKey": "y"}, 400, "InvalidParameter"},
		{"CreateWafProtection", map[string]string{"InstanceId": "i-web", "Port": "81", "TemplateId": "waftpl-none"}, 404, "InvalidTemplateId.NotFound"},
		{"CreateWafProtection", map[string]string{"InstanceId": "i-none", "Port": "81"}, 404, ""},
		// The upstream is the instance's own address or nothing: anywhere
		// else the internet would reach past its security groups.
		{"CreateWafProtection", map[string]string{"InstanceId": "i-web", "Port": "83", "UpstreamAddress": "192.168.1.1:80"}, 400, "InvalidParameter"},
		{"CreateWafProtection", map[string]string{"InstanceId": "i-web", "Port": "83", "UpstreamAddress": "8.8.8.8:80"}, 400, "InvalidParameter"},
		{"CreateWafProtection", map[string]string{"InstanceId": "i-web", "Port": "83", "UpstreamAddress": "127.0.0.1:18787"}, 400, "InvalidParameter"},
		{"CreateWafProtection", map[string]string{"InstanceId": "i-web", "Port": "83", "UpstreamAddress": "[::1]:80"}, 400, "InvalidParameter"},
		{"CreateWafProtection", map[string]string{"InstanceId": "i-web", "Port": "83", "UpstreamAddress": ":80"}, 400, "InvalidParameter"},
		{"CreateWafProtection", map[string]string{"InstanceId": "i-web", "Port": "83", "UpstreamAddress": "10.0.1.8:80"}, 400, "InvalidParameter"}, // eve's instance
		{"CreateWafProtection", map[string]string{"InstanceId": "i-web", "Port": "83", "UpstreamAddress": "10.0.1.7:0"}, 400, "InvalidParameter"},
		{"CreateWafProtection", map[string]string{"InstanceId": "i-web", "Port": "83", "UpstreamAddress": "web:80"}, 400, "InvalidParameter"},
		{"ModifyWafProtection", map[string]string{"ProtectionId": obj, "UpstreamAddress": "192.168.1.1:80"}, 400, "InvalidParameter"},
		{"ModifyWafProtection", map[string]string{"ProtectionId": obj, "UpstreamAddress": "127.0.0.1:18787"}, 400, "InvalidParameter"},
		{"ModifyWafProtection", map[string]string{"ProtectionId": obj, "InstanceId": "i-eve", "UpstreamAddress": "10.0.1.8:80"}, 400, "InvalidParameter"},
		{"CreateWafRule", map[string]string{"Kind": "custom", "Conditions": "path equals /", "RuleAction": "block"}, 400, "MissingParameter"},
		{"CreateWafRule", map[string]string{"ProtectionId": obj, "Kind": "nope"}, 400, "InvalidParameter"},
		{"CreateWafRule", map[string]string{"ProtectionId": obj, "Kind": "custom", "Conditions": "path like /", "RuleAction": "block"}, 400, "InvalidParameter"},
		{"CreateWafRule", map[string]string{"ProtectionId": obj, "Kind": "custom", "Conditions": "path equals /"}, 400, "MissingParameter"},
		{"CreateWafRule", map[string]string{"ProtectionId": obj, "Kind": "custom", "Conditions": "path equals /", "RuleAction": "allow"}, 400, "InvalidParameter"},
		{"CreateWafRule", map[string]string{"ProtectionId": obj, "Kind": "blacklist", "Addresses": "10.0.0.1/8"}, 400, "InvalidParameter"},
		{"CreateWafRule", map[string]string{"ProtectionId": obj, "Kind": "blacklist"}, 400, "MissingParameter"},
		{"CreateWafRule", map[string]string{"ProtectionId": obj, "Kind": "whitelist", "Conditions": "path equals /", "Bypass": "whitelist"}, 400, "InvalidParameter"},
		{"CreateWafRule", map[string]string{"ProtectionId": obj, "Kind": "ratelimit", "RuleAction": "block", "Interval": "0", "Threshold": "1", "BlockDuration": "1"}, 400, "InvalidParameter"},
		{"CreateWafRule", map[string]string{"ProtectionId": obj, "Kind": "ratelimit", "RuleAction": "block", "By": "header", "Interval": "1", "Threshold": "1", "BlockDuration": "1"}, 400, "MissingParameter"},
		{"DeleteWafTemplate", map[string]string{"TemplateId": tpl}, 403, "DependencyViolation"},
		{"DescribeWafLogs", map[string]string{"StartTime": "yesterday"}, 400, "InvalidParameter"},
		{"DescribeWafLogs", map[string]string{"MaxResults": "5000"}, 400, "InvalidParameter"},
		{"DescribeWafLogs", map[string]string{"WafAction": "deny"}, 400, "InvalidParameter"},
		{"DescribeWafLogs", map[string]string{"Module": "waf"}, 400, "InvalidParameter"},
		{"DescribeWafLogs", map[string]string{"ClientIp": "1.2.3"}, 400, "InvalidParameter"},
		{"DescribeWafLogs", map[string]string{"ClientIp": "192.0.2.0/24"}, 400, "InvalidParameter"},
		{"PutWafLogs", map[string]string{"Records": "{"}, 400, "InvalidParameter"},
	}
	before := env.Snapshot(t)
	for _, tc := range bad {
		_, status, code := palisadeCall(t, env, bob, tc.action, tc.p)
		if status != tc.status || (tc.code != "" && code != tc.code) {
			t.Errorf("%s %v: %d %s, want %d %s", tc.action, tc.p, status, code, tc.status, tc.code)
		}
	}
	if after := env.Snapshot(t); len(after) != len(before) {
		t.Errorf("bad input wrote to the store: %d -> %d keys", len(before), len(after))
	}
	// A refused upstream's message says what is allowed.
	if _, err := env.Common(t, bob, api.VersionPalisade, "CreateWafProtection", map[string]string{"InstanceId": "i-web", "Port": "83", "UpstreamAddress": "8.8.8.8:80"}); err == nil || !strings.Contains(err.Error(), "private IPv4 address of instance i-web (10.0.1.7)") {
		t.Errorf("upstream 8.8.8.8:80: %v, want a message naming the instance's addresses", err)
	}
	// The instance's own address with another port: TLS at the WAF, plain
	// HTTP to the instance's port 80.
	tlsObj := ok(bob, "CreateWafProtection", map[string]string{"InstanceId": "i-web", "Port": "443", "UpstreamAddress": "10.0.1.7:80"})["ProtectionId"].(string)
	ok(bob, "ModifyWafProtection", map[string]string{"ProtectionId": tlsObj, "UpstreamAddress": "10.0.1.7:8080"})
	if p := ok(bob, "DescribeWafProtections", map[string]string{"ProtectionId": tlsObj})["Protections"].(map[string]any)["Protection"].([]any)[0].(map[string]any); p["UpstreamAddress"] != "10.0.1.7:8080" {
		t.Errorf("modified upstream: %v", p)
	}
	ok(bob, "DeleteWafProtection", map[string]string{"ProtectionId": tlsObj})

	// Isolation: eve sees and touches nothing of bob's.
	for _, tc := range []struct {
		action string
		p      map[string]string
	}{
		{"DescribeWafProtections", map[string]string{"ProtectionId": obj}},
		{"ModifyWafProtection", map[string]string{"ProtectionId": obj, "BlockStatus": "200"}},
		{"DeleteWafProtection", map[string]string{"ProtectionId": obj}},
		{"DescribeWafTemplates", map[string]string{"TemplateId": tpl}},
		{"ModifyWafTemplate", map[string]string{"TemplateId": tpl, "ParanoiaLevel": "1"}},
		{"DeleteWafTemplate", map[string]string{"TemplateId": tpl}},
		{"CreateWafRule", map[string]string{"ProtectionId": obj, "Kind": "blacklist", "Addresses": "1.2.3.4"}},
		{"DescribeWafRules", map[string]string{"ProtectionId": obj}},
		{"DescribeWafLogs", map[string]string{"ProtectionId": obj}},
		{"PutWafLogs", map[string]string{"Records": fmt.Sprintf(`[{"object":%q,"action":"block"}]`, obj)}},
		{"CreateWafProtection", map[string]string{"InstanceId": "i-web", "Port": "80"}},
		{"CreateWafProtection", map[string]string{"InstanceId": "i-eve", "Port": "80", "TemplateId": tpl}},
	} {
		if _, status, code := palisadeCall(t, env, eve, tc.action, tc.p); status != 404 {
			t.Errorf("eve %s: %d %s, want 404", tc.action, status, code)
		}
	}
	for _, a := range []string{"DescribeWafProtections", "DescribeWafTemplates", "DescribeWafRules", "DescribeWafLogs"} {
		if out := ok(eve, a, nil); out["TotalCount"].(float64) != 0 {
			t.Errorf("eve %s: %v", a, out)
		}
	}
	if out := ok(eve, "DescribeWafConfig", nil); len(out["Objects"].([]any)) != 0 {
		t.Errorf("eve config: %v", out)
	}

	// Logs: put, filter, newest first.
	recs := fmt.Sprintf(`[{"time":"2026-11-25T10:00:00Z","object":%[1]q,"client_ip":"203.0.113.9","method":"GET","uri":"/?q=1","status":405,"module":"crs","rule_ids":["942100"],"action":"block","score":5},
		{"time":"2026-11-25T10:00:01Z","object":%[1]q,"client_ip":"203.0.113.10","method":"GET","uri":"/","status":200,"action":"pass"}]`, obj)
	if out := ok(bob, "PutWafLogs", map[string]string{"Records": recs}); out["Accepted"].(float64) != 2 {
		t.Errorf("put logs: %v", out)
	}
	out = ok(bob, "DescribeWafLogs", map[string]string{"WafAction": "block"})
	logs := out["Logs"].(map[string]any)["Log"].([]any)
	if out["TotalCount"].(float64) != 1 || logs[0].(map[string]any)["Module"] != "crs" || logs[0].(map[string]any)["Score"].(float64) != 5 {
		t.Errorf("logs: %v", out)
	}
	out = ok(bob, "DescribeWafLogs", map[string]string{"ProtectionId": obj})
	if l := out["Logs"].(map[string]any)["Log"].([]any); len(l) != 2 || l[0].(map[string]any)["ClientIp"] != "203.0.113.10" {
		t.Errorf("logs newest first: %v", out)
	}

	ok(bob, "DeleteWafProtection", map[string]string{"ProtectionId": obj})
	if out := ok(bob, "DescribeWafRules", nil); out["TotalCount"].(float64) != 0 {
		t.Errorf("rules left after deleting their object: %v", out)
	}
	ok(bob, "DeleteWafTemplate", map[string]string{"TemplateId": tpl})
}

// TestWAFEndToEnd protects an upstream through the API, runs the data
// plane on the API's configuration, and checks detection, logging through
// PutWafLogs, and that a rule change is in force within a second while
// clients keep sending requests (none fails).
func TestWAFEndToEnd(t *testing.T) {
	env := apitest.Start(t)
	bob := env.NewAccount(t, "bob")
	putInstance(t, env, bob.AccountID, "i-web", "10.0.1.7")
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "hello ", r.Header.Get("X-Real-IP"))
	}))
	defer up.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	listen := ln.Addr().String()
	ln.Close()
	// The API takes only the instance's own addresses as the upstream;
	// 10.0.1.7 is not on the test host, so the data plane below is handed
	// the test's origin in its place.
	const upstream = "10.0.1.7:8080"
	origin := strings.TrimPrefix(up.URL, "http://")
	obj, status, code := palisadeCall(t, env, bob, "CreateWafProtection", map[string]string{"InstanceId": "i-web", "Port": "80",
		"UpstreamAddress": upstream, "ListenAddress": listen})
	if status != 200 {
		t.Fatalf("protect: %d %s", status, code)
	}
	id := obj["ProtectionId"].(string)
	rule, _, _ := palisadeCall(t, env, bob, "CreateWafRule", map[string]string{"ProtectionId": id, "Kind": "custom", "Conditions": "path prefix /a", "RuleAction": "block"})
	ruleID := rule["RuleId"].(string)

	var mu sync.Mutex
	var pending []waf.Record
	rt := waf.NewRuntime(waf.SinkFunc(func(r waf.Record) { mu.Lock(); pending = append(pending, r); mu.Unlock() }), nil)
	fetch := func(ctx context.Context) ([]wafrule.ObjectConfig, string, error) {
		out, err := env.Common(t, bob, api.VersionPalisade, "DescribeWafConfig", nil)
		if err != nil {
			return nil, "", err
		}
		b, _ := json.Marshal(out["Objects"])
		var cfgs []wafrule.ObjectConfig
		err = json.Unmarshal(b, &cfgs)
		for i := range cfgs {
			if cfgs[i].Upstream != upstream {
				return nil, "", fmt.Errorf("object %s: upstream %q, want %q", cfgs[i].ID, cfgs[i].Upstream, upstream)
			}
			cfgs[i].Upstream = origin
		}
		return cfgs, out["Hash"].(string), err
	}
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan struct{})
	go func() { defer close(runDone); rt.Run(ctx, fetch, 100*time.Millisecond) }()
	defer func() { cancel(); <-runDone }()

	base := "http://" + listen
	get := func(path string) (int, string) {
		resp, err := http.Get(base + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if s, _ := get("/ready"); s == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("proxy did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if s, body := get("/x"); s != 200 || body != "hello 127.0.0.1" {
		t.Errorf("clean: %d %q", s, body)
	}
	if s, _ := get("/a/1"); s != 405 {
		t.Errorf("custom rule: %d", s)
	}
	if s, _ := get("/?q=1%27%20OR%20%271%27%3D%271"); s != 405 {
		t.Errorf("sqli: %d", s)
	}

	// Rule change under load.
	var failed, sent atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if s, _ := get("/c/load"); s != 200 {
					failed.Add(1)
				}
				sent.Add(1)
			}
		}()
	}
	time.Sleep(100 * time.Millisecond)
	changed := time.Now()
	palisadeCall(t, env, bob, "ModifyWafRule", map[string]string{"RuleId": ruleID, "Conditions": "path prefix /b", "RuleAction": "block"})
	for {
		sa, _ := get("/a/1")
		sb, _ := get("/b/1")
		if sa == 200 && sb == 405 {
			break
		}
		if time.Since(changed) > time.Second {
			t.Fatalf("rule change not in force after 1s: /a %d /b %d", sa, sb)
		}
		time.Sleep(10 * time.Millisecond)
	}
	took := time.Since(changed)
	time.Sleep(100 * time.Millisecond)
	close(stop)
	wg.Wait()
	if failed.Load() != 0 {
		t.Errorf("%d of %d requests failed during the reload", failed.Load(), sent.Load())
	}
	t.Logf("rule change in force after %v; %d requests during reload, %d failed", took, sent.Load(), failed.Load())

	// Ship the logs as `palisade waf serve` does, and query them.
	mu.Lock()
	var blocked []waf.Record
	for _, r := range pending {
		if r.Action == "block" {
			blocked = append(blocked, r)
		}
	}
	mu.Unlock()
	b, _ := json.Marshal(blocked)
	if _, status, code := palisadeCall(t, env, bob, "PutWafLogs", map[string]string{"Records": string(b)}); status != 200 {
		t.Fatalf("put logs: %d %s", status, code)
	}
	out, _, _ := palisadeCall(t, env, bob, "DescribeWafLogs", map[string]string{"ProtectionId": id, "Module": "crs"})
	if out["TotalCount"].(float64) != 1 {
		t.Errorf("crs logs: %v", out)
	} else if l := out["Logs"].(map[string]any)["Log"].([]any)[0].(map[string]any); l["Status"].(float64) != 405 || len(l["RuleIds"].([]any)) == 0 || l["Score"].(float64) < 5 {
		t.Errorf("crs log record: %v", l)
	}
}

// TestModifyWafRuleKeepsExpiry: ModifyWafRule without Ttl keeps a
// blacklist rule's expiry exactly (it used to be recomputed from a Ttl
// rounded to whole seconds, moving it by up to a second); with Ttl it is
// set anew.
func TestModifyWafRuleKeepsExpiry(t *testing.T) {
	env := apitest.Start(t)
	bob := env.NewAccount(t, "bob")
	putInstance(t, env, bob.AccountID, "i-web", "10.0.1.7")
	call := func(action string, p map[string]string) map[string]any {
		t.Helper()
		out, status, code := palisadeCall(t, env, bob, action, p)
		if status != 200 {
			t.Fatalf("%s %v: %d %s", action, p, status, code)
		}
		return out
	}
	obj := call("CreateWafProtection", map[string]string{"InstanceId": "i-web", "Port": "80"})["ProtectionId"].(string)
	id := call("CreateWafRule", map[string]string{"ProtectionId": obj, "Kind": "blacklist", "Addresses": "198.51.100.0/24", "Ttl": "3600"})["RuleId"].(string)
	stored := func() model.WAFRule {
		t.Helper()
		var r model.WAFRule
		if err := json.Unmarshal([]byte(env.Snapshot(t)[model.PrefixWAFRule+id]), &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	before := stored()
	time.Sleep(20 * time.Millisecond)
	call("ModifyWafRule", map[string]string{"RuleId": id, "Name": "bad-nets"})
	if after := stored(); after.Name != "bad-nets" || !after.ExpiresAt.Equal(before.ExpiresAt) {
		t.Errorf("after a name change: name %q, expiry %v, want bad-nets and the expiry kept (%v)", after.Name, after.ExpiresAt, before.ExpiresAt)
	}
	call("ModifyWafRule", map[string]string{"RuleId": id, "Ttl": "60"})
	if after := stored(); time.Until(after.ExpiresAt) > time.Minute || time.Until(after.ExpiresAt) < 50*time.Second {
		t.Errorf("after Ttl 60: expiry %v, want about a minute from now", after.ExpiresAt)
	}
	call("ModifyWafRule", map[string]string{"RuleId": id, "Ttl": "0"})
	if after := stored(); !after.ExpiresAt.IsZero() {
		t.Errorf("after Ttl 0: expiry %v, want none", after.ExpiresAt)
	}
}

func testKeyPair(t *testing.T) (certPEM, keyPEM string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "waf.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}))
}

// TestWafPrivateKeyNeverReturned: an uploaded TLS private key comes back
// from no action of the account (DescribeWafConfig included, which hands
// the certificate to a standalone data plane); a new key still changes
// the configuration's hash, so data planes reload.
func TestWafPrivateKeyNeverReturned(t *testing.T) {
	env := apitest.Start(t)
	bob := env.NewAccount(t, "bob")
	putInstance(t, env, bob.AccountID, "i-web", "10.0.1.7")
	call := func(action string, p map[string]string) map[string]any {
		t.Helper()
		out, status, code := palisadeCall(t, env, bob, action, p)
		if status != 200 {
			t.Fatalf("%s %v: %d %s", action, p, status, code)
		}
		return out
	}
	cert, key := testKeyPair(t)
	obj := call("CreateWafProtection", map[string]string{"InstanceId": "i-web", "Port": "443", "TlsCertificate": cert, "TlsPrivateKey": key})["ProtectionId"].(string)
	cfg := call("DescribeWafConfig", nil)
	for action, out := range map[string]map[string]any{
		"DescribeWafConfig":      cfg,
		"DescribeWafProtections": call("DescribeWafProtections", map[string]string{"ProtectionId": obj}),
	} {
		b, _ := json.Marshal(out)
		if strings.Contains(string(b), "PRIVATE KEY") || strings.Contains(string(b), strings.TrimSpace(strings.Split(key, "\n")[1])) {
			t.Errorf("%s returns the private key: %s", action, b)
		}
	}
	if b, _ := json.Marshal(cfg["Objects"]); !strings.Contains(string(b), "BEGIN CERTIFICATE") {
		t.Errorf("DescribeWafConfig lacks the certificate: %s", b)
	}
	cert2, key2 := testKeyPair(t)
	call("ModifyWafProtection", map[string]string{"ProtectionId": obj, "TlsCertificate": cert2, "TlsPrivateKey": key2})
	if h := call("DescribeWafConfig", nil)["Hash"]; h == cfg["Hash"] {
		t.Error("a new key pair did not change the configuration's hash")
	}
}

// TestWAFConfigDefaultUpstream: without UpstreamAddress, DescribeWafConfig
// gives the upstream the agent steers to: the private address of the
// instance's steered EIP (here a secondary address), where the direct path
// leads, and the primary address while the instance has no EIP.
func TestWAFConfigDefaultUpstream(t *testing.T) {
	env := apitest.Start(t)
	bob := env.NewAccount(t, "bob")
	putInstance(t, env, bob.AccountID, "i-web", "10.0.1.7")
	if _, status, code := palisadeCall(t, env, bob, "CreateWafProtection", map[string]string{"InstanceId": "i-web", "Port": "80"}); status != 200 {
		t.Fatalf("CreateWafProtection: %d %s", status, code)
	}
	upstream := func() string {
		t.Helper()
		out, status, code := palisadeCall(t, env, bob, "DescribeWafConfig", nil)
		if status != 200 {
			t.Fatalf("DescribeWafConfig: %d %s", status, code)
		}
		b, _ := json.Marshal(out["Objects"])
		var cfgs []wafrule.ObjectConfig
		if err := json.Unmarshal(b, &cfgs); err != nil || len(cfgs) != 1 {
			t.Fatalf("config: %v %s", err, b)
		}
		return cfgs[0].Upstream
	}
	if got := upstream(); got != "10.0.1.7:80" {
		t.Errorf("without an EIP: upstream %s, want the primary address 10.0.1.7:80", got)
	}
	env.PutRecord(t, model.PrefixENI+"eni-i-web", model.ENI{ID: "eni-i-web", AccountID: bob.AccountID, InstanceID: "i-web",
		PrimaryIP: netip.MustParseAddr("10.0.1.7"), SecondaryIPs: []netip.Addr{netip.MustParseAddr("10.0.1.9")}})
	env.PutRecord(t, model.PrefixEIP+"eip-web", model.EIP{ID: "eip-web", AccountID: bob.AccountID, Address: netip.MustParseAddr("198.18.0.9"),
		ENIID: "eni-i-web", PrivateIP: netip.MustParseAddr("10.0.1.9"), InstanceID: "i-web", Status: model.EIPInUse})
	if got := upstream(); got != "10.0.1.9:80" {
		t.Errorf("with an EIP on 10.0.1.9: upstream %s, want 10.0.1.9:80", got)
	}
}
