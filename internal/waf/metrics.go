package waf

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/palisade-project/palisade/internal/waf/wafrule"
)

// Metrics counts a WAF's decisions for Prometheus, by action and deciding
// module only: no label names a protected object, a client or a rule.
type Metrics struct {
	requests   *prometheus.CounterVec
	inspection prometheus.Histogram
}

// NewMetrics makes the WAF's metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "palisade_waf_requests_total",
			Help: "Requests the WAF decided on, by action (allow, monitor, block) and deciding module (whitelist, blacklist, custom, ratelimit, crs, none).",
		}, []string{"action", "module"}),
		inspection: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "palisade_waf_inspection_duration_seconds",
			Help:    "Time the WAF's modules took to inspect a request (its body read before excluded).",
			Buckets: []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1},
		}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.inspection} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register WAF metrics: %w", err)
		}
	}
	return m, nil
}

// decided counts one decision; a nil m counts nothing.
func (m *Metrics) decided(d *Decision) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(actionLabel(d.Action), moduleLabel(d)).Inc()
}

// inspected records how long one request's inspection took.
func (m *Metrics) inspected(took time.Duration) {
	if m == nil {
		return
	}
	m.inspection.Observe(took.Seconds())
}

// actionLabel names what became of the request: a Pass decision lets it
// through ("allow").
func actionLabel(a Action) string {
	switch a {
	case wafrule.Block:
		return "block"
	case wafrule.Monitor:
		return "monitor"
	default:
		return "allow"
	}
}

// moduleLabel names the deciding module; a request that only matched
// whitelist rules is "whitelist", one that matched nothing "none".
func moduleLabel(d *Decision) string {
	switch {
	case d.Module != 0:
		return d.Module.String()
	case len(d.Whitelist) > 0:
		return wafrule.ModuleWhitelist.String()
	default:
		return "none"
	}
}
