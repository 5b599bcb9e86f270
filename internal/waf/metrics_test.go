package waf

import (
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/palisade-project/palisade/internal/waf/wafrule"
)

// TestWAFMetrics: every decision is counted by action and deciding
// module, and every inspection timed.
func TestWAFMetrics(t *testing.T) {
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	up := upstream(t)
	u, _ := url.Parse(up.URL)
	p := Policy{
		Whitelist: []WhitelistRule{{ID: "wl-health", Conditions: conds(t, "path equals /healthz"), Bypass: ModuleSet(0).With(wafrule.ModuleCustom)}},
		Custom: []CustomRule{
			{ID: "cr-admin", Conditions: conds(t, "path prefix /admin"), Action: wafrule.Block},
			{ID: "cr-curl", Conditions: conds(t, "header:User-Agent contains curl"), Action: wafrule.Monitor},
			{ID: "cr-health", Conditions: conds(t, "path equals /healthz"), Action: wafrule.Block},
		},
	}
	px, err := NewProxy(Options{ObjectID: "waf-obj", Upstream: u, Cache: testCache, Metrics: m}, p)
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(px)
	t.Cleanup(front.Close)

	for i, tc := range []struct {
		name           string
		path           string
		header         map[string]string
		action, module string
	}{
		{"clean", "/", nil, "allow", "none"},
		{"custom block", "/admin/x", nil, "block", "custom"},
		{"custom monitor", "/", map[string]string{"User-Agent": "curl/8"}, "monitor", "custom"},
		{"whitelisted", "/healthz", nil, "allow", "whitelist"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := m.requests.WithLabelValues(tc.action, tc.module)
			before := testutil.ToFloat64(c)
			do(t, front.Client(), "GET", front.URL+tc.path, "", tc.header)
			// A passed request is counted once the upstream's answer has
			// been relayed: the client may have it a moment before.
			for deadline := time.Now().Add(2 * time.Second); testutil.ToFloat64(c) == before && time.Now().Before(deadline); {
				time.Sleep(5 * time.Millisecond)
			}
			if got := testutil.ToFloat64(c) - before; got != 1 {
				t.Errorf("palisade_waf_requests_total{action=%q,module=%q} grew by %v, want 1", tc.action, tc.module, got)
			}
			if got := testutil.CollectAndCount(m.requests); got != i+1 {
				t.Errorf("%d series, want %d", got, i+1)
			}
		})
	}
	// The histogram's count is one per inspected request.
	ch := make(chan prometheus.Metric, 1)
	m.inspection.Collect(ch)
	var out dto.Metric
	if err := (<-ch).Write(&out); err != nil {
		t.Fatal(err)
	}
	if n := out.GetHistogram().GetSampleCount(); n != 4 {
		t.Errorf("inspections timed %d, want 4", n)
	}
}

func TestActionLabel(t *testing.T) {
	for _, tc := range []struct {
		a    Action
		want string
	}{{wafrule.Pass, "allow"}, {wafrule.Monitor, "monitor"}, {wafrule.Block, "block"}} {
		if got := actionLabel(tc.a); got != tc.want {
			t.Errorf("actionLabel(%v) = %q, want %q", tc.a, got, tc.want)
		}
	}
}
