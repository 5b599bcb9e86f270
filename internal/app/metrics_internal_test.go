package app

import (
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
)

// TestServeAgentMetrics: a remote agent's --metrics-listen serves its
// registry on /metrics without credentials, and nothing else.
func TestServeAgentMetrics(t *testing.T) {
	reg, err := newMetricsRegistry()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newHostMetrics(reg); err != nil {
		t.Fatal(err)
	}
	addr, stop, err := serveMetrics("127.0.0.1:0", reg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	for _, tc := range []struct {
		path   string
		status int
		want   []string
	}{
		{MetricsPath, http.StatusOK, []string{"palisade_agent_reconciles_total{result=\"ok\"} 0", "palisade_agent_enis_failed_closed 0",
			"palisade_waf_inspection_duration_seconds_count 0", "go_goroutines "}},
		{"/", http.StatusNotFound, nil},
	} {
		resp, err := http.Get("http://" + addr.String() + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("GET %s: %d, want %d", tc.path, resp.StatusCode, tc.status)
		}
		for _, w := range tc.want {
			if !strings.Contains(string(b), w) {
				t.Errorf("GET %s lacks %q", tc.path, w)
			}
		}
	}
	// A second registration of the same metrics is an error, not a panic.
	if _, err := newHostMetrics(reg); err == nil {
		t.Error("registering the agent's metrics twice succeeded")
	}
}

// TestServeWAFMetrics: a standalone WAF's endpoint has the WAF's and the
// runtime's metrics, and what the WAF counts shows there.
func TestServeWAFMetrics(t *testing.T) {
	m, addr, stop, err := ServeWAFMetrics("127.0.0.1:0", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if m == nil {
		t.Fatal("no WAF metrics")
	}
	resp, err := http.Get("http://" + addr.String() + MetricsPath)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, w := range []string{"palisade_waf_inspection_duration_seconds_count 0", "go_goroutines ", "process_"} {
		if !strings.Contains(string(b), w) {
			t.Errorf("GET %s lacks %q", MetricsPath, w)
		}
	}
	if strings.Contains(string(b), "palisade_agent_") {
		t.Error("a standalone WAF serves agent metrics")
	}
}
