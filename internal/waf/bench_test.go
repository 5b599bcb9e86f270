package waf

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/waf/wafrule"
)

// BenchmarkProxy measures requests/s of a minimal GET (and a small form
// POST) sent straight to the upstream, through the proxy without modules,
// and through the proxy with the CRS at paranoia level 1 in Block mode, in
// the same run over loopback TCP. Compare the req/s metrics, e.g.
//
//	go test ./internal/waf -run '^$' -bench Proxy -count 5 | benchstat -
func BenchmarkProxy(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "ok")
	}))
	defer up.Close()
	u, _ := url.Parse(up.URL)
	front := func(p Policy) string {
		px, err := NewProxy(Options{ObjectID: "bench", Upstream: u, Cache: testCache, Sink: SinkFunc(func(Record) {})}, p)
		if err != nil {
			b.Fatal(err)
		}
		s := httptest.NewServer(px)
		b.Cleanup(s.Close)
		return s.URL
	}
	crs := Policy{Profile: Profile{Action: wafrule.Block, ParanoiaLevel: 1},
		Custom: []CustomRule{{ID: "c", Conditions: []Condition{{Field: wafrule.FieldPath, Op: wafrule.OpPrefix, Values: []string{"/admin"}}}, Action: wafrule.Block}}}
	targets := []struct{ name, url string }{
		{"direct", up.URL},
		{"proxy-nowaf", front(Policy{})},
		{"proxy-crs-pl1", front(crs)},
	}
	form := "name=alice&comment=" + strings.Repeat("hello+world+", 80)
	for _, kind := range []string{"get", "post1k"} {
		for _, tg := range targets {
			b.Run(kind+"/"+tg.name, func(b *testing.B) {
				client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
				defer client.CloseIdleConnections()
				target := tg.url + "/products/42?page=2&sort=price"
				b.SetParallelism(4)
				b.ResetTimer()
				start := time.Now()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						var req *http.Request
						if kind == "get" {
							req, _ = http.NewRequest("GET", target, nil)
						} else {
							req, _ = http.NewRequest("POST", target, strings.NewReader(form))
							req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
						}
						req.Header.Set("User-Agent", "Mozilla/5.0 (bench)")
						req.Header.Set("Accept", "text/html")
						resp, err := client.Do(req)
						if err != nil {
							b.Error(err)
							return
						}
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if resp.StatusCode != 200 {
							b.Errorf("status %d", resp.StatusCode)
							return
						}
					}
				})
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
			})
		}
	}
}

// BenchmarkEvaluateModules is the module path without the CRS (whitelist,
// blacklist, custom rules, rate limit) for one request.
func BenchmarkEvaluateModules(b *testing.B) {
	c := mustCompile(b, Policy{ObjectID: "o",
		Whitelist:  []WhitelistRule{{ID: "w", Conditions: conds(b, "ip in-cidr 192.0.2.0/24")}},
		Custom:     []CustomRule{{ID: "c", Conditions: conds(b, "path prefix /admin && method equals post"), Action: wafrule.Block}},
		RateLimits: []RateLimit{{ID: "r", By: RateByIP, Interval: time.Second, Threshold: 1 << 30, BlockFor: time.Second, Action: wafrule.Block}},
	})
	st := NewState()
	r := mkReq(reqSpec{target: "/products?id=1"})
	ip, _ := clientAddr(r.RemoteAddr)
	req := &wafrule.Request{IP: ip, Method: r.Method, URI: r.RequestURI, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header}
	b.ReportAllocs()
	for b.Loop() {
		c.Evaluate(Input{HTTP: r, Req: req}, st, t0)
	}
}
