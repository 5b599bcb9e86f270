package cli_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/apitest"
	"github.com/palisade-project/palisade/internal/cli"
	"github.com/palisade-project/palisade/internal/model"
)

func TestWAFCommands(t *testing.T) {
	env := apitest.Start(t)
	r := newRunner(t, env)
	acct := env.Admin.AccountID
	env.PutRecord(t, model.PrefixInstance+"i-web", model.Instance{ID: "i-web", AccountID: acct, PrimaryENIID: "eni-web", Status: model.InstanceRunning})
	env.PutRecord(t, model.PrefixENI+"eni-web", model.ENI{ID: "eni-web", AccountID: acct, InstanceID: "i-web", PrimaryIP: netip.MustParseAddr("10.0.1.7")})

	tpl := strings.TrimSpace(r.ok("waf", "template", "create", "--name", "strict", "--mode", "monitor", "--paranoia", "2", "--exclude-tag", "attack-xss"))
	if !strings.HasPrefix(tpl, "waftpl-") {
		t.Fatalf("template create printed %q", tpl)
	}
	stdout, stderr, code := r.run("waf", "protect", "--instance", "i-web", "--port", "8080", "--template", tpl,
		"--block-status", "403", "--block-header", "X-Why=waf", "--block-body", "denied")
	obj := strings.TrimSpace(stdout)
	if code != 0 || !strings.HasPrefix(obj, "waf-") {
		t.Fatalf("protect printed %q (exit %d, stderr %q)", obj, code, stderr)
	}
	// The instance has no EIP: the object is recorded, and the user told
	// that nothing reaches it yet (on stderr: stdout stays the bare ID).
	if !strings.Contains(stderr, "warning: "+obj+" is not in force (NoEip)") || !strings.Contains(stderr, "eip associate") {
		t.Errorf("protect without an EIP: stderr %q, want a warning", stderr)
	}
	out := r.ok("waf", "list")
	// Headers are the API's field names, as in every other list.
	if head, _, _ := strings.Cut(out, "\n"); !strings.Contains(head, "ProtectionId") || !strings.Contains(head, "BlockStatus") {
		t.Errorf("waf list headers: %q", head)
	}
	for _, want := range []string{obj, "i-web", "8080", "HTTP", tpl, "403", "NoEip"} {
		if !strings.Contains(out, want) {
			t.Errorf("waf list lacks %q:\n%s", want, out)
		}
	}
	r.ok("waf", "rule", "add", "--protection", obj, "--if", "path prefix /admin && method equals post", "--action", "block")
	bl := strings.TrimSpace(r.ok("waf", "blacklist", "add", "--protection", obj, "--address", "198.51.100.0/24", "--address", "203.0.113.5", "--ttl", "1h"))
	wl := strings.TrimSpace(r.ok("waf", "whitelist", "add", "--protection", obj, "--if", "ip in-cidr 192.0.2.0/24", "--bypass", "crs"))
	mon := strings.TrimSpace(r.ok("waf", "rule", "add", "--protection", obj, "--name", "mon", "--if", "path prefix /m", "--action", "monitor"))
	r.ok("waf", "ratelimit", "add", "--protection", obj, "--status", "404", "--interval", "60s", "--threshold", "20", "--block-for", "10m")
	out = r.ok("waf", "rules", "list", "--protection", obj)
	if head, _, _ := strings.Cut(out, "\n"); !strings.Contains(head, "RuleId") || !strings.Contains(head, "RuleAction") {
		t.Errorf("rules list headers: %q", head)
	}
	for _, want := range []string{"custom", "blacklist", "whitelist", "ratelimit", `path prefix "/admin"`, "198.51.100.0/24", "404", "600"} {
		if !strings.Contains(out, want) {
			t.Errorf("rules list lacks %q:\n%s", want, out)
		}
	}
	if out := r.ok("waf", "blacklist", "list", "--protection", obj); strings.Contains(out, "custom") || !strings.Contains(out, "203.0.113.5/32") {
		t.Errorf("blacklist list:\n%s", out)
	}
	// "rules set" changes what it is given and keeps the rest: the
	// whitelist's bypass list (empty would mean every module), the monitor
	// rule's action and name, the blacklist's addresses and expiry.
	ruleByID := func() map[string]map[string]any {
		out := map[string]map[string]any{}
		for _, o := range r.okJSON("waf", "rules", "list", "--protection", obj)["Rules"].(map[string]any)["Rule"].([]any) {
			m := o.(map[string]any)
			out[m["RuleId"].(string)] = m
		}
		return out
	}
	before := ruleByID()
	r.ok("waf", "rules", "set", wl, "--if", "ip in-cidr 192.0.2.0/25")
	r.ok("waf", "rules", "set", mon, "--if", "path prefix /n")
	r.ok("waf", "rules", "set", bl, "--name", "bad-nets")
	after := ruleByID()
	if w := after[wl]; w["Conditions"] != `ip in-cidr "192.0.2.0/25"` || fmt.Sprint(w["Bypass"]) != "[crs]" {
		t.Errorf("whitelist after set --if: %v, want the new conditions and Bypass [crs]", w)
	}
	if m := after[mon]; m["Conditions"] != `path prefix "/n"` || m["RuleAction"] != "monitor" || m["Name"] != "mon" {
		t.Errorf("monitor rule after set --if: %v, want the new conditions, monitor and its name", m)
	}
	if b := after[bl]; b["Name"] != "bad-nets" || fmt.Sprint(b["Addresses"]) != fmt.Sprint(before[bl]["Addresses"]) || b["ExpireTime"] != before[bl]["ExpireTime"] {
		t.Errorf("blacklist after set --name: %v, want the name changed and addresses and expiry %v kept", b, before[bl])
	}
	n := len(ruleByID())
	if e := r.fail("waf", "blacklist", "add", "--protection", obj, "--address", "192.0.2.99", "--ttl", "1ms"); !strings.Contains(e, "at least 1s") {
		t.Errorf("blacklist --ttl 1ms (would never expire): %s", e)
	}
	if e := r.fail("waf", "blacklist", "add", "--protection", obj); !strings.Contains(e, "--address") {
		t.Errorf("blacklist without an address: %s", e)
	}
	if got := len(ruleByID()); got != n {
		t.Errorf("refused blacklist adds left %d rules, want %d", got, n)
	}
	if e := r.fail("waf", "rules", "delete", mon, "wafr-doesnotexist"); !strings.Contains(e, "nothing was deleted") {
		t.Errorf("rules delete with an unknown ID: %s", e)
	}
	if _, ok := ruleByID()[mon]; !ok {
		t.Errorf("rules delete with an unknown ID deleted %s", mon)
	}
	if e := r.fail("waf", "rules", "set", mon); !strings.Contains(e, "nothing to change") {
		t.Errorf("rules set without a change: %s", e)
	}
	if e := r.fail("waf", "rule", "add", "--protection", obj, "--if", "path like /x"); !strings.Contains(e, "InvalidParameter") {
		t.Errorf("bad condition: %s", e)
	}
	if e := r.fail("waf", "protect", "--instance", "i-web", "--port", "8081", "--block-status", "304"); !strings.Contains(e, "BlockStatus") {
		t.Errorf("bad block status: %s", e)
	}
	if e := r.fail("waf", "protect", "--instance", "i-web", "--port", "8081", "--tls-cert", "x.pem"); !strings.Contains(e, "--tls-key") {
		t.Errorf("cert without key: %s", e)
	}
	// modify changes what it is given: the template back to the default,
	// the block status; the block body stays.
	r.ok("waf", "modify", obj, "--template", "", "--block-status", "401")
	if o := r.okJSON("waf", "list")["Protections"].(map[string]any)["Protection"].([]any)[0].(map[string]any); o["TemplateId"] != "" || o["BlockStatus"] != float64(401) || o["BlockBody"] != "denied" {
		t.Errorf("after waf modify: %v, want no template, block status 401 and the body kept", o)
	}
	if e := r.fail("waf", "modify", obj); !strings.Contains(e, "nothing to change") {
		t.Errorf("waf modify without a flag: %s", e)
	}
	if e := r.fail("waf", "unprotect", obj, "--instance", "i-web"); !strings.Contains(e, "not both") {
		t.Errorf("unprotect with an ID and --instance: %s", e)
	}
	r.ok("waf", "logs")
	r.ok("waf", "unprotect", "--instance", "i-web", "--port", "8080")
	if out := r.ok("waf", "list"); strings.Contains(out, obj) {
		t.Errorf("unprotected object still listed:\n%s", out)
	}
	r.ok("waf", "template", "delete", tpl)
	r.fail("waf", "frobnicate")
}

// TestWAFServe runs the data plane command against the API: a protected
// object with an upstream, an attack blocked, logs shipped and listed by
// "waf logs", a rule change in force within a second.
func TestWAFServe(t *testing.T) {
	env := apitest.Start(t)
	r := newRunner(t, env)
	acct := env.Admin.AccountID
	env.PutRecord(t, model.PrefixInstance+"i-web", model.Instance{ID: "i-web", AccountID: acct, PrimaryENIID: "eni-web", Status: model.InstanceRunning})
	// The upstream must be an address of the instance: here the fixture's
	// instance has the loopback address, where the test's origin listens.
	env.PutRecord(t, model.PrefixENI+"eni-web", model.ENI{ID: "eni-web", AccountID: acct, InstanceID: "i-web", PrimaryIP: netip.MustParseAddr("127.0.0.1")})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "origin") }))
	defer up.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	listen := ln.Addr().String()
	ln.Close()
	obj := strings.TrimSpace(r.ok("waf", "protect", "--instance", "i-web", "--port", "80", "--upstream", strings.TrimPrefix(up.URL, "http://"), "--listen", listen))
	if o := r.okJSON("waf", "list")["Protections"].(map[string]any)["Protection"].([]any)[0].(map[string]any); o["BlockStatus"] != float64(405) {
		t.Errorf("block status of an object that sets none: %v, want 405 (the status it answers)", o["BlockStatus"])
	}
	rule := strings.TrimSpace(r.ok("waf", "rule", "add", "--protection", obj, "--if", "path prefix /a", "--action", "block"))

	logFile := t.TempDir() + "/waf.jsonl"
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	var stderr bytes.Buffer
	go func() {
		done <- cli.Execute(ctx, r.cliEnv(io.Discard, &stderr), []string{"waf", "serve", "--log-file", logFile, "--interval", "100ms"})
	}()
	get := func(path string) int {
		resp, err := http.Get("http://" + listen + path)
		if err != nil {
			return 0
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	for i := 0; get("/") != 200; i++ {
		if i > 200 {
			t.Fatalf("waf serve did not start: %s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if s := get("/a"); s != 405 {
		t.Errorf("custom rule: %d", s)
	}
	if s := get("/?file=../../../../etc/passwd"); s != 405 {
		t.Errorf("path traversal: %d", s)
	}
	r.ok("waf", "rules", "set", rule, "--if", "path prefix /b", "--action", "block")
	start := time.Now()
	for get("/b") != 405 || get("/a") != 200 {
		if time.Since(start) > time.Second {
			t.Fatal("rule change not in force within a second")
		}
		time.Sleep(10 * time.Millisecond)
	}
	var out string
	for i := 0; ; i++ {
		out = r.ok("waf", "logs", "--protection", obj, "--action", "block")
		if strings.Contains(out, "crs") && strings.Contains(out, rule) {
			break
		}
		if i > 60 {
			t.Fatalf("block decisions not shipped to the API:\n%s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("waf serve exit %d: %s", code, stderr.String())
	}
	b, _ := os.ReadFile(logFile)
	if n := strings.Count(string(b), "\n"); n < 4 || !strings.Contains(string(b), `"action":"pass"`) {
		t.Errorf("log file has %d lines:\n%s", n, b)
	}
}
