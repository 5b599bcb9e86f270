package api_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/palisade-project/palisade/internal/api"
	"github.com/palisade-project/palisade/internal/errs"
	"github.com/palisade-project/palisade/internal/model"
)

// metricsServer serves a router with PalisadeTestEcho and PalisadeTestFail
// (ECS version) and one key, counting requests into a fresh registry.
func metricsServer(t *testing.T) (endpoint string, reg *prometheus.Registry) {
	t.Helper()
	reg = prometheus.NewRegistry()
	m, err := api.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	rt := api.NewRouter()
	rt.Handle(api.VersionECS, "PalisadeTestEcho", func(context.Context, *api.Request) (any, error) { return struct{}{}, nil })
	rt.Handle(api.VersionECS, "PalisadeTestFail", func(context.Context, *api.Request) (any, error) {
		return nil, errs.NotFound("InvalidVpcId.NotFound", "The specified VpcId does not exist.")
	})
	keys := func(_ context.Context, id string) (model.AccessKey, model.Account, error) {
		if id != "LTAImetrics" {
			return model.AccessKey{}, model.Account{}, errs.NotFound("InvalidAccessKeyId.NotFound", "Specified access key is not found.")
		}
		return model.AccessKey{ID: id, Secret: "metrics-secret", AccountID: "1001"}, model.Account{ID: "1001"}, nil
	}
	hs := httptest.NewServer(api.NewServer(api.ServerOptions{Router: rt, Keys: keys, Metrics: m}))
	t.Cleanup(hs.Close)
	return strings.TrimPrefix(hs.URL, "http://"), reg
}

// series returns the value of every sample of a counter (the count of a
// histogram) by its labels, written name="value" joined with ",", in the
// order of the metric's label names.
func series(t *testing.T, reg *prometheus.Registry, name string) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, lp := range m.GetLabel() {
				labels = append(labels, lp.GetName()+"="+lp.GetValue())
			}
			out[strings.Join(labels, ",")] = value(m)
		}
	}
	return out
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	return 0
}

// TestAPIMetrics: SDK calls are counted by version, action and code; an
// action or version that no route has is counted as "unknown", so that
// clients cannot add series.
func TestAPIMetrics(t *testing.T) {
	endpoint, reg := metricsServer(t)
	calls := []struct {
		name            string
		version, action string
		secret          string
	}{
		{"ok", api.VersionECS, "PalisadeTestEcho", "metrics-secret"},
		{"ok again", api.VersionECS, "PalisadeTestEcho", "metrics-secret"},
		{"coded error", api.VersionECS, "PalisadeTestFail", "metrics-secret"},
		{"wrong secret", api.VersionECS, "PalisadeTestEcho", "not-the-secret"},
		{"unknown action", api.VersionECS, "NoSuchAction-eni-12345", "metrics-secret"},
		{"unknown version", "1999-01-01", "PalisadeTestEcho", "metrics-secret"},
	}
	for _, c := range calls {
		cl := v1Client(t, "local", "LTAImetrics", c.secret)
		req := requests.NewCommonRequest()
		req.Method = requests.POST
		req.Scheme = requests.HTTP
		req.Domain = endpoint
		req.Product = "Ecs"
		req.Version = c.version
		req.ApiName = c.action
		_, _ = cl.ProcessCommonRequest(req) // the answers are checked through the metrics
	}

	want := map[string]float64{
		`version=2014-05-26,action=PalisadeTestEcho,code=OK`:                    2,
		`version=2014-05-26,action=PalisadeTestFail,code=InvalidVpcId.NotFound`: 1,
		`version=2014-05-26,action=PalisadeTestEcho,code=SignatureDoesNotMatch`: 1,
		`version=unknown,action=unknown,code=InvalidAction.NotFound`:            2,
	}
	// Prometheus sorts label pairs by name.
	got := map[string]float64{}
	for k, v := range series(t, reg, "palisade_api_requests_total") {
		got[reorder(k)] = v
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("palisade_api_requests_total{%s} = %v, want %v", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("palisade_api_requests_total series %v, want exactly %v", got, want)
	}
	for k := range got {
		if strings.Contains(k, "NoSuchAction") || strings.Contains(k, "1999") {
			t.Errorf("a series carries what the client sent: %s", k)
		}
	}
	durations := series(t, reg, "palisade_api_request_duration_seconds")
	if n := durations["action=PalisadeTestEcho,version=2014-05-26"]; n != 3 {
		t.Errorf("duration count of PalisadeTestEcho = %v, want 3 (%v)", n, durations)
	}
	if n := durations["action=unknown,version=unknown"]; n != 2 {
		t.Errorf("duration count of unknown = %v, want 2 (%v)", n, durations)
	}
}

// reorder turns "action=..,code=..,version=.." (Prometheus's order) into
// "version=..,action=..,code=..".
func reorder(k string) string {
	byName := map[string]string{}
	for _, p := range strings.Split(k, ",") {
		name, _, _ := strings.Cut(p, "=")
		byName[name] = p
	}
	return byName["version"] + "," + byName["action"] + "," + byName["code"]
}

// TestAPIMetricsNil: a server without metrics serves as before.
func TestAPIMetricsNil(t *testing.T) {
	rt := api.NewRouter()
	hs := httptest.NewServer(api.NewServer(api.ServerOptions{Router: rt}))
	t.Cleanup(hs.Close)
	resp, err := hs.Client().Get(hs.URL + "/?Action=X&Version=Y")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("status %d, want 404", resp.StatusCode)
	}
}
