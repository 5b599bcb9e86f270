package api

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics counts the requests a Server answers, for Prometheus. Labels are
// bounded: the version and action of a registered route ("unknown" for
// any other) and the Alibaba error code ("OK" on success); never an
// account, key or resource ID.
type Metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// unknownLabel replaces the version and action of a request that matched
// no route: they are whatever the client sent.
const unknownLabel = "unknown"

// NewMetrics makes the API's metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "palisade_api_requests_total",
			Help: "API requests answered, by version and action (\"unknown\" when no route matched) and Alibaba error code (\"OK\" on success).",
		}, []string{"version", "action", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "palisade_api_request_duration_seconds",
			Help:    "Time from receiving an API request to writing its answer, by version and action (\"unknown\" when no route matched).",
			Buckets: prometheus.DefBuckets,
		}, []string{"version", "action"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register API metrics: %w", err)
		}
	}
	return m, nil
}

// observe counts one answered request; a nil m counts nothing.
func (m *Metrics) observe(c *call, code string, d time.Duration) {
	if m == nil {
		return
	}
	version, action := unknownLabel, unknownLabel
	if c.routed {
		version, action = c.version, c.action
	}
	m.requests.WithLabelValues(version, action, codeLabel(code)).Inc()
	m.duration.WithLabelValues(version, action).Observe(d.Seconds())
}

// maxCodeLabel bounds an error code used as a label value.
const maxCodeLabel = 64

// codeLabel is the code label of an answer: "OK" for success, the error
// code otherwise. Codes are the server's own strings, some with a
// parameter name in them (IllegalParam.StartTime); one that is not a
// plain code is counted as "Other" so that no request can add series.
func codeLabel(code string) string {
	if code == "" {
		return "OK"
	}
	if len(code) > maxCodeLabel {
		return "Other"
	}
	for _, r := range code {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '.' || r == '_' || r == '-') {
			return "Other"
		}
	}
	return code
}
