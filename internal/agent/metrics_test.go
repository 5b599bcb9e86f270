package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/palisade-project/palisade/internal/dataplane"
	"github.com/palisade-project/palisade/internal/ddos"
	"github.com/palisade-project/palisade/internal/flowlog"
	"github.com/palisade-project/palisade/internal/mirror"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/policy"
	"github.com/palisade-project/palisade/internal/store"
	"github.com/palisade-project/palisade/internal/store/memory"
)

// metricsTopology applies nothing and reports nothing ready.
type metricsTopology struct{}

func (metricsTopology) Apply(context.Context, dataplane.Host) (dataplane.Status, error) {
	return dataplane.Status{}, nil
}

// metricsFirewall fails the loads of the VPCs in fail and cuts cut flows
// in every other.
type metricsFirewall struct {
	fail map[string]bool
	cut  int
}

func (f *metricsFirewall) Load(_ context.Context, vpcID string, _ *policy.Program) error {
	if f.fail[vpcID] {
		return errors.New("netlink: no buffer space")
	}
	return nil
}

func (f *metricsFirewall) CutDenied(context.Context, string, policy.World) (int, error) {
	return f.cut, nil
}

// putVPCWithInstance stores a VPC with one vSwitch in zone and one
// instance with its ENI.
func putVPCWithInstance(t *testing.T, st store.Store, vpc, zone, ip string) {
	t.Helper()
	if _, err := st.Update(context.Background(), func(tx store.Txn) error {
		putRecord(t, tx, model.PrefixVPC+vpc, model.VPC{ID: vpc, CidrBlock: netip.MustParsePrefix("10.0.0.0/16")})
		putRecord(t, tx, model.PrefixVSwitch+"vsw-"+vpc, model.VSwitch{ID: "vsw-" + vpc, VpcID: vpc, ZoneID: zone, CidrBlock: netip.MustParsePrefix("10.0.1.0/24")})
		putRecord(t, tx, model.PrefixSecurityGroup+"sg-"+vpc, model.SecurityGroup{ID: "sg-" + vpc, VpcID: vpc, Type: model.GroupTypeBasic, InnerAccessPolicy: model.InnerDrop})
		putRecord(t, tx, model.PrefixInstance+"i-"+vpc, model.Instance{ID: "i-" + vpc, ZoneID: zone, VpcID: vpc, VSwitchID: "vsw-" + vpc, PrimaryENIID: "eni-" + vpc, Status: model.InstanceRunning})
		putRecord(t, tx, model.PrefixENI+"eni-"+vpc, model.ENI{ID: "eni-" + vpc, VpcID: vpc, VSwitchID: "vsw-" + vpc, ZoneID: zone, InstanceID: "i-" + vpc,
			MAC: "02:00:00:00:00:01", PrimaryIP: netip.MustParseAddr(ip), SecurityGroupIDs: []string{"sg-" + vpc}})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// TestAgentMetrics: each reconciliation is counted with its result and
// duration; the gauges follow what is in the kernel (a VPC whose program
// fails to load keeps its ENIs out: failed closed), and the flows cut add
// up. Another zone's instances are not this host's.
func TestAgentMetrics(t *testing.T) {
	st := memory.New()
	t.Cleanup(func() { st.Close() })
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	fw := &metricsFirewall{cut: 3}
	a := New(Config{Store: st, Zone: "z1", Topology: metricsTopology{}, Firewall: fw, IfName: func(id string) string { return "pv" + id }, Metrics: m,
		Logger: slog.New(slog.DiscardHandler)})
	t.Cleanup(a.Close)

	steps := []struct {
		name    string
		setup   func()
		wantOK  float64 // reconciles_total{result="ok"} after the step
		wantAll float64 // reconciles of either result
		gauges  map[prometheus.Gauge]float64
		cut     float64
	}{
		{"empty host", func() {}, 1, 1,
			map[prometheus.Gauge]float64{m.vpcNamespaces: 0, m.instances: 0, m.enis: 0, m.enisFailedClosed: 0}, 0},
		{"vpc-b fails closed", func() {
			putVPCWithInstance(t, st, "vpc-a", "z1", "10.0.1.5")
			putVPCWithInstance(t, st, "vpc-b", "z1", "10.0.1.6")
			putVPCWithInstance(t, st, "vpc-far", "z2", "10.0.1.7")
			fw.fail = map[string]bool{"vpc-b": true}
		}, 1, 2,
			map[prometheus.Gauge]float64{m.vpcNamespaces: 2, m.instances: 2, m.enis: 1, m.enisFailedClosed: 1}, 3},
		{"vpc-b loads", func() { fw.fail = nil }, -1, 3,
			map[prometheus.Gauge]float64{m.vpcNamespaces: 2, m.instances: 2, m.enis: 2, m.enisFailedClosed: 0}, 9},
	}
	for _, s := range steps {
		s.setup()
		err := a.Reconcile(context.Background())
		if s.name == "vpc-b fails closed" && err == nil {
			t.Errorf("%s: Reconcile succeeded, want the load error", s.name)
		}
		ok := testutil.ToFloat64(m.reconciles.WithLabelValues(reconcileOK))
		bad := testutil.ToFloat64(m.reconciles.WithLabelValues(reconcileError))
		if s.wantOK >= 0 && ok != s.wantOK {
			t.Errorf("%s: reconciles{ok} = %v, want %v", s.name, ok, s.wantOK)
		}
		if ok+bad != s.wantAll {
			t.Errorf("%s: reconciles = %v ok + %v error, want %v in all", s.name, ok, bad, s.wantAll)
		}
		if n := testutil.CollectAndCount(m.reconcileDuration); n != 1 {
			t.Errorf("%s: %d duration series, want 1", s.name, n)
		}
		for g, want := range s.gauges {
			if got := testutil.ToFloat64(g); got != want {
				t.Errorf("%s: %s = %v, want %v", s.name, g.Desc(), got, want)
			}
		}
		if got := testutil.ToFloat64(m.flowsCut); got != s.cut {
			t.Errorf("%s: flows cut %v, want %v", s.name, got, s.cut)
		}
	}
	// The histogram counted every reconciliation.
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "palisade_agent_reconcile_duration_seconds" {
			if c := mf.GetMetric()[0].GetHistogram().GetSampleCount(); c != uint64(len(steps)) {
				t.Errorf("reconcile durations observed %d, want %d", c, len(steps))
			}
		}
	}
}

// TestAgentMetricsNil: an agent without metrics reconciles as before.
func TestAgentMetricsNil(t *testing.T) {
	st := memory.New()
	t.Cleanup(func() { st.Close() })
	a := New(Config{Store: st, Zone: "z1", Topology: metricsTopology{}, Firewall: &metricsFirewall{}})
	if err := a.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
}

type recordSink struct{ err error }

func (s recordSink) ReportFlowRecords(context.Context, flowlog.Batch) error { return s.err }

// TestFlowRecordsCounted: records are counted once their sink took them.
func TestFlowRecordsCounted(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want float64
	}{
		{"taken", nil, 2},
		{"refused", errors.New("server unreachable"), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := NewMetrics(prometheus.NewRegistry())
			if err != nil {
				t.Fatal(err)
			}
			a := New(Config{FlowRecords: recordSink{tc.err}, Metrics: m})
			_ = a.cfg.FlowRecords.ReportFlowRecords(context.Background(), flowlog.Batch{Records: make([]flowlog.Record, 2)})
			if got := testutil.ToFloat64(m.flowRecords); got != tc.want {
				t.Errorf("records reported %v, want %v", got, tc.want)
			}
		})
	}
}

// TestDDoSMetrics: the gauges count the EIPs blackholed and scrubbed as
// built for the kernel.
func TestDDoSMetrics(t *testing.T) {
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ip := func(s string) netip.Addr { return netip.MustParseAddr(s) }
	m.setDDoS(map[netip.Addr]ddos.Mode{ip("198.51.100.1"): ddos.Blackhole, ip("198.51.100.2"): ddos.Scrub, ip("198.51.100.3"): ddos.Scrub, ip("198.51.100.4"): ddos.Normal})
	if got := testutil.ToFloat64(m.ddosBlackholed); got != 1 {
		t.Errorf("blackholed %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.ddosScrubbed); got != 2 {
		t.Errorf("scrubbed %v, want 2", got)
	}
	m.ddosEventsAdd(3)
	if got := testutil.ToFloat64(m.ddosEvents); got != 3 {
		t.Errorf("events reported %v, want 3", got)
	}
}

// TestMirrorMetrics: the traffic-mirror counters are read at each scrape,
// zeros before anything ran; a relay's count stays in the totals after it
// is closed (counters never go back), and the stopped mirrors' too.
func TestMirrorMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	a := New(Config{Store: memory.New(), Zone: "z1", Metrics: m, Logger: slog.New(slog.DiscardHandler)})
	t.Cleanup(a.Close)
	want := func(step string, w string) {
		t.Helper()
		if err := testutil.CollectAndCompare(m.mirror, strings.NewReader(w),
			"palisade_agent_mirror_copies_total", "palisade_agent_mirror_relayed_copies_total", "palisade_agent_mirror_packets_tapped_total"); err != nil {
			t.Errorf("%s: %v", step, err)
		}
	}
	const help = `# HELP palisade_agent_mirror_copies_total Copies this host's mirrors sent, to a target here or to the relay of the target's host, by result (sent or error).
# TYPE palisade_agent_mirror_copies_total counter
# HELP palisade_agent_mirror_packets_tapped_total Packets of traffic-mirror sources that the kernel handed to this host's mirrors.
# TYPE palisade_agent_mirror_packets_tapped_total counter
# HELP palisade_agent_mirror_relayed_copies_total Copies other hosts relayed to this host's targets, by result (delivered, refused: not a copy of a session of a target here, or error).
# TYPE palisade_agent_mirror_relayed_copies_total counter
`
	series := func(tapped, sent, sendErr, delivered, refused int) string {
		return help + fmt.Sprintf(`palisade_agent_mirror_copies_total{result="error"} %d
palisade_agent_mirror_copies_total{result="sent"} %d
palisade_agent_mirror_packets_tapped_total %d
palisade_agent_mirror_relayed_copies_total{result="delivered"} %d
palisade_agent_mirror_relayed_copies_total{result="error"} 0
palisade_agent_mirror_relayed_copies_total{result="refused"} %d
`, sendErr, sent, tapped, delivered, refused)
	}
	want("nothing ran", series(0, 0, 0, 0, 0))

	// A relay that refuses one datagram (not a relay datagram), then is
	// closed: the refusal stays counted.
	r, err := mirror.ListenRelay(netip.MustParseAddrPort("127.0.0.1:0"), nil)
	if err != nil {
		t.Fatal(err)
	}
	a.mirrorMu.Lock()
	a.relay = r
	a.mirrorMu.Unlock()
	c, err := net.Dial("udp", r.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("not a copy")); err != nil {
		t.Fatal(err)
	}
	c.Close()
	deadline := time.Now().Add(2 * time.Second)
	for st, _ := a.RelayStats(); st.Refused == 0 && time.Now().Before(deadline); st, _ = a.RelayStats() {
		time.Sleep(10 * time.Millisecond)
	}
	want("relay open", series(0, 0, 0, 0, 1))
	a.stopRelay()
	want("relay closed", series(0, 0, 0, 0, 1))
	// A stopped mirror's counts (as stopMirror retires them).
	a.mirrorMu.Lock()
	a.retired.add(mirror.Stats{Received: 10, Mirrored: 12, Unmatched: 1, SendErrors: 2})
	a.mirrorMu.Unlock()
	want("a mirror stopped", series(10, 12, 2, 0, 1))
}

// TestLBMetrics: the load balancers' backends, taking connections or out.
func TestLBMetrics(t *testing.T) {
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	m.setLoadBalancers(3, 5)
	if got := testutil.ToFloat64(m.lbBackends.WithLabelValues("taking")); got != 3 {
		t.Errorf("taking %v", got)
	}
	if got := testutil.ToFloat64(m.lbBackends.WithLabelValues("out")); got != 5 {
		t.Errorf("out %v", got)
	}
	(*Metrics)(nil).setLoadBalancers(1, 1) // no metrics: nothing
}
