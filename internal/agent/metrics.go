package agent

import (
	"context"
	"fmt"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/palisade-project/palisade/internal/dataplane"
	"github.com/palisade-project/palisade/internal/ddos"
	"github.com/palisade-project/palisade/internal/flowlog"
	"github.com/palisade-project/palisade/internal/mirror"
)

// Metrics is what an agent tells Prometheus about its host: its
// reconciliations, what it put in the kernel, the flows it cut and what it
// reported. No label names a resource or an account.
type Metrics struct {
	reconciles        *prometheus.CounterVec
	reconcileDuration prometheus.Histogram
	vpcNamespaces     prometheus.Gauge
	instances         prometheus.Gauge
	enis              prometheus.Gauge
	enisFailedClosed  prometheus.Gauge
	flowsCut          prometheus.Counter
	flowRecords       prometheus.Counter
	ddosScrubbed      prometheus.Gauge
	ddosBlackholed    prometheus.Gauge
	ddosEvents        prometheus.Counter
	lbBackends        *prometheus.GaugeVec
	mirror            *mirrorCollector
}

// mirrorCollector reads the traffic mirrors' counters at each scrape
// (Agent.mirrorTotals, bound by New): the mirrors count for themselves on
// the packet path, where a Prometheus counter per copy would cost more.
type mirrorCollector struct {
	totals                               atomic.Pointer[func() (mirror.Stats, mirror.RelayStats)]
	tapped, unmatched, copies, relayedIn *prometheus.Desc
}

func newMirrorCollector() *mirrorCollector {
	return &mirrorCollector{
		tapped: prometheus.NewDesc("palisade_agent_mirror_packets_tapped_total",
			"Packets of traffic-mirror sources that the kernel handed to this host's mirrors.", nil, nil),
		unmatched: prometheus.NewDesc("palisade_agent_mirror_packets_unmatched_total",
			"Tapped packets that no session's filter accepted (not mirrored).", nil, nil),
		copies: prometheus.NewDesc("palisade_agent_mirror_copies_total",
			"Copies this host's mirrors sent, to a target here or to the relay of the target's host, by result (sent or error).", []string{"result"}, nil),
		relayedIn: prometheus.NewDesc("palisade_agent_mirror_relayed_copies_total",
			"Copies other hosts relayed to this host's targets, by result (delivered, refused: not a copy of a session of a target here, or error).", []string{"result"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *mirrorCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.tapped, c.unmatched, c.copies, c.relayedIn} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: zeros until an agent is bound.
func (c *mirrorCollector) Collect(ch chan<- prometheus.Metric) {
	var st mirror.Stats
	var rs mirror.RelayStats
	if f := c.totals.Load(); f != nil {
		st, rs = (*f)()
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	counter(c.tapped, st.Received)
	counter(c.unmatched, st.Unmatched)
	counter(c.copies, st.Mirrored, "sent")
	counter(c.copies, st.SendErrors, "error")
	counter(c.relayedIn, rs.Delivered, "delivered")
	counter(c.relayedIn, rs.Refused, "refused")
	counter(c.relayedIn, rs.DeliverErrors, "error")
}

// Values of the result label of palisade_agent_reconciles_total.
const (
	reconcileOK    = "ok"
	reconcileError = "error"
)

// NewMetrics makes an agent's metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		reconciles: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "palisade_agent_reconciles_total",
			Help: "Reconciliations of this host's kernel to the store, by result (ok or error).",
		}, []string{"result"}),
		reconcileDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "palisade_agent_reconcile_duration_seconds",
			Help:    "Time one reconciliation of this host's kernel took.",
			Buckets: []float64{0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}),
		vpcNamespaces: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "palisade_agent_vpc_namespaces",
			Help: "VPC namespaces on this host at the last reconciliation.",
		}),
		instances: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "palisade_agent_instances",
			Help: "Instances of this host's zone at the last reconciliation.",
		}),
		enis: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "palisade_agent_enis",
			Help: "ENIs put in this host's kernel at the last reconciliation (those failed closed excluded).",
		}),
		enisFailedClosed: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "palisade_agent_enis_failed_closed",
			Help: "ENIs kept out of the kernel at the last reconciliation because their VPC's security-group program could not be loaded.",
		}),
		flowsCut: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "palisade_agent_conntrack_flows_cut_total",
			Help: "Established flows deleted from conntrack because the policy now denies them.",
		}),
		flowRecords: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "palisade_agent_flowlog_records_reported_total",
			Help: "Flow-log records reported by this host's captures.",
		}),
		ddosScrubbed: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "palisade_agent_ddos_eips_scrubbed",
			Help: "EIPs on this host under Anti-DDoS scrubbing at the last reconciliation.",
		}),
		ddosBlackholed: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "palisade_agent_ddos_eips_blackholed",
			Help: "EIPs on this host blackholed by Anti-DDoS at the last reconciliation.",
		}),
		ddosEvents: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "palisade_agent_ddos_events_reported_total",
			Help: "Anti-DDoS event reports (an event opened, changed or ended) sent by this host.",
		}),
		lbBackends: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "palisade_agent_lb_backends",
			Help: "Backends of the running listeners of this host's load balancers, per listener: taking new connections (state=\"taking\") or not (state=\"out\": weight 0, or health check not passed).",
		}, []string{"state"}),
		mirror: newMirrorCollector(),
	}
	for _, c := range []prometheus.Collector{m.reconciles, m.reconcileDuration, m.vpcNamespaces, m.instances, m.enis,
		m.enisFailedClosed, m.flowsCut, m.flowRecords, m.ddosScrubbed, m.ddosBlackholed, m.ddosEvents, m.lbBackends, m.mirror} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register agent metrics: %w", err)
		}
	}
	// Both results exist from the start, so that a rate of errors is 0
	// rather than absent.
	m.reconciles.WithLabelValues(reconcileOK)
	m.reconciles.WithLabelValues(reconcileError)
	return m, nil
}

// The methods below do nothing on a nil *Metrics (an agent without
// metrics).

func (m *Metrics) reconciled(err error, took time.Duration) {
	if m == nil {
		return
	}
	result := reconcileOK
	if err != nil {
		result = reconcileError
	}
	m.reconciles.WithLabelValues(result).Inc()
	m.reconcileDuration.Observe(took.Seconds())
}

// setHost records what a reconciliation put in the kernel: host (its
// VPCs and ENIs, those of failed VPCs left out), the local instances, and
// the ENIs of the VPCs that failed closed.
func (m *Metrics) setHost(host dataplane.Host, instances, failedClosed int) {
	if m == nil {
		return
	}
	enis := 0
	for _, v := range host.VPCs {
		enis += len(v.ENIs)
	}
	m.vpcNamespaces.Set(float64(len(host.VPCs)))
	m.enis.Set(float64(enis))
	m.instances.Set(float64(instances))
	m.enisFailedClosed.Set(float64(failedClosed))
}

// setLoadBalancers records the backends of the running listeners the
// kernel has: taking new connections, and the others.
func (m *Metrics) setLoadBalancers(taking, out int) {
	if m == nil {
		return
	}
	m.lbBackends.WithLabelValues("taking").Set(float64(taking))
	m.lbBackends.WithLabelValues("out").Set(float64(out))
}

// bindMirrors makes the mirror metrics read totals.
func (m *Metrics) bindMirrors(totals func() (mirror.Stats, mirror.RelayStats)) {
	if m == nil {
		return
	}
	m.mirror.totals.Store(&totals)
}

func (m *Metrics) flowsCutAdd(n int) {
	if m == nil || n <= 0 {
		return
	}
	m.flowsCut.Add(float64(n))
}

func (m *Metrics) setDDoS(applied map[netip.Addr]ddos.Mode) {
	if m == nil {
		return
	}
	var scrubbed, blackholed int
	for _, mode := range applied {
		switch mode {
		case ddos.Scrub:
			scrubbed++
		case ddos.Blackhole:
			blackholed++
		}
	}
	m.ddosScrubbed.Set(float64(scrubbed))
	m.ddosBlackholed.Set(float64(blackholed))
}

func (m *Metrics) ddosEventsAdd(n int) {
	if m == nil || n <= 0 {
		return
	}
	m.ddosEvents.Add(float64(n))
}

// countingFlowSink counts the flow-log records its sink accepted.
type countingFlowSink struct {
	sink    FlowRecordSink
	metrics *Metrics
}

// ReportFlowRecords implements FlowRecordSink.
func (s countingFlowSink) ReportFlowRecords(ctx context.Context, b flowlog.Batch) error {
	if err := s.sink.ReportFlowRecords(ctx, b); err != nil {
		return err
	}
	s.metrics.flowRecords.Add(float64(len(b.Records)))
	return nil
}
