// Package wafbaseline measures the reference that issue 8's performance goal
// is set against: Coraza's own HTTP middleware (github.com/corazawaf/coraza/v3/http)
// with the OWASP CRS at paranoia level 1, in front of Go's reverse proxy,
// as a ratio to the same reverse proxy without it. It is a package of its
// own because Palisade's WAF (internal/waf) replaces Coraza's @rx operator
// for the whole process; this binary never imports it, so the middleware
// runs Coraza as shipped.
//
// The load is internal/httpload's, as in internal/waf's BenchmarkWAFRatio:
//
//	go test ./bench/wafbaseline -run '^$' -bench CorazaMiddlewareRatio -benchtime 5x
package wafbaseline

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"testing"
	"time"

	coreruleset "github.com/corazawaf/coraza-coreruleset/v4"
	"github.com/corazawaf/coraza/v3"
	corazahttp "github.com/corazawaf/coraza/v3/http"

	"github.com/palisade-project/palisade/internal/httpload"
)

// directives is Coraza's recommended configuration with the CRS, as the
// coraza-coreruleset README loads it, blocking, with the request body
// limits Palisade's default profile uses and no response inspection
// (Palisade's default profile does not inspect responses either).
const directives = `Include @coraza.conf-recommended
SecRuleEngine On
SecResponseBodyAccess Off
SecAuditEngine Off
SecRequestBodyLimit 131072
SecRequestBodyInMemoryLimit 131072
SecRequestBodyLimitAction ProcessPartial
Include @crs-setup.conf.example
Include @owasp_crs/*.conf
`

// BenchmarkCorazaMiddlewareRatio reports, like BenchmarkWAFRatio, the
// medians over rounds of requests/s and p99 latency of the bare reverse
// proxy and of the same proxy wrapped in Coraza's middleware, and their
// ratios.
func BenchmarkCorazaMiddlewareRatio(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, "ok")
	}))
	b.Cleanup(up.Close)
	u, err := url.Parse(up.URL)
	if err != nil {
		b.Fatal(err)
	}
	waf, err := coraza.NewWAF(coraza.NewWAFConfig().WithRootFS(coreruleset.FS).WithDirectives(directives))
	if err != nil {
		b.Fatal(err)
	}
	serve := func(h http.Handler) string {
		s := httptest.NewServer(h)
		b.Cleanup(s.Close)
		return s.URL
	}
	targets := [2]string{
		serve(httputil.NewSingleHostReverseProxy(u)),
		serve(corazahttp.WrapHandler(waf, httputil.NewSingleHostReverseProxy(u))),
	}
	for _, kind := range httpload.Kinds {
		b.Run(kind, func(b *testing.B) {
			var rps, p99 [2][]float64 // [bare, coraza]
			round := 0
			for b.Loop() {
				if err := httpload.Round(round, targets, kind, 8, 1500*time.Millisecond, &rps, &p99); err != nil {
					b.Fatal(err)
				}
				round++
			}
			httpload.Report(b, [2]string{"bare", "coraza"}, rps, p99)
		})
	}
}

// TestMiddlewareBlocks checks that the baseline is a working WAF, not a
// pass-through: the CRS in the middleware blocks an attack.
func TestMiddlewareBlocks(t *testing.T) {
	waf, err := coraza.NewWAF(coraza.NewWAFConfig().WithRootFS(coreruleset.FS).WithDirectives(directives))
	if err != nil {
		t.Fatal(err)
	}
	h := corazahttp.WrapHandler(waf, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }))
	for _, tc := range []struct {
		target string
		want   int
	}{
		{httpload.Path, 200},
		{"/products?id=1%27%20UNION%20SELECT%20password%20FROM%20users--", 403},
	} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", tc.target, nil)
		req.Header.Set("User-Agent", "Mozilla/5.0 (bench)")
		req.Header.Set("Accept", "text/html")
		h.ServeHTTP(rec, req)
		if rec.Code != tc.want {
			t.Errorf("GET %s: status %d, want %d", tc.target, rec.Code, tc.want)
		}
	}
}
