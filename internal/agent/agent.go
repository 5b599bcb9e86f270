package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/palisade-project/palisade/internal/cfwlog"
	"github.com/palisade-project/palisade/internal/dataplane"
	"github.com/palisade-project/palisade/internal/ddos"
	"github.com/palisade-project/palisade/internal/flowlog/capture"
	"github.com/palisade-project/palisade/internal/mirror"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/policy"
	"github.com/palisade-project/palisade/internal/store"
)

// Topology applies namespaces, links, addresses and routes.
type Topology interface {
	Apply(ctx context.Context, h dataplane.Host) (dataplane.Status, error)
}

// InstancePower is implemented by a Topology that can power instances off
// and on (linux.Applier). A stopped instance runs nothing, as a stopped VM:
// SetInstancesStopped kills every process in the namespace of each
// instance listed as stopped (true), on every call, and marks it so that
// `palisade instance exec` refuses it; for one listed as running (false)
// it takes the mark off. It returns the PIDs it killed by instance ID.
type InstancePower interface {
	SetInstancesStopped(ctx context.Context, instances map[string]bool) (map[string][]int, error)
}

// Firewall installs the security-group program of one VPC namespace and
// cuts the established flows the policy now denies.
type Firewall interface {
	Load(ctx context.Context, vpcID string, p *policy.Program) error
	CutDenied(ctx context.Context, vpcID string, w policy.World) (int, error)
}

// StatusSink receives the status of local instances and ENIs.
type StatusSink interface {
	SetInstanceStatus(ctx context.Context, instanceID, status string) error
	SetENIStatus(ctx context.Context, eniID, status string) error
	SetEIPStatus(ctx context.Context, eipID, status string) error
}

// DDoSSink records Anti-DDoS events (scrubbing and blackholes of EIPs)
// detected on this host: each event as a whole, again at every change
// (service.ReportDDoSEvents, remote.Mirror.ReportDDoSEvents).
type DDoSSink interface {
	ReportDDoSEvents(ctx context.Context, events []model.DDoSEvent) error
}

// Config configures an Agent.
type Config struct {
	Store    store.Store
	Zone     string
	Topology Topology
	Firewall Firewall
	Status   StatusSink
	// WAF, when set, runs the WAF of the protected objects steered on
	// this host.
	WAF WAF
	// FlowRecords, when set, receives the flow-log records captured on
	// this host (flowlog.go); FlowLogDir holds the capture checkpoints
	// (none when empty: a restart then says SKIPDATA for open windows).
	FlowRecords FlowRecordSink
	FlowLogDir  string
	// FlowLogSetSize bounds the flows a VPC's capture can have counted at
	// once, per set (default capture.CountSetSize).
	FlowLogSetSize int
	// FirewallHits, when set, receives the hits of the Internet
	// firewall's policies counted on this host (fwhits.go).
	FirewallHits FirewallHitSink
	// FirewallLogs, when set, receives the traffic logs of the Cloud
	// Firewall's drop and log policies (service.IngestFirewallLogs,
	// remote.Mirror.ReportFirewallLogs).
	FirewallLogs FirewallLogSink
	// LBHealth, when set, receives the health of the backends of the
	// load balancers this host serves (slb.go).
	LBHealth LBHealthSink
	// Resolvers runs each VPC's DNS server (resolver.go) on this host.
	Resolvers bool
	// DDoS, when set, receives the Anti-DDoS events of this host's EIPs
	// (ddos.go); without it the agent neither measures nor scrubs.
	DDoS DDoSSink
	// IfName is the data plane's host-side interface name of an ENI.
	IfName func(eniID string) string
	// Resync is the period of the full reconciliation that repairs drift
	// (default 10 s).
	Resync time.Duration
	// WatchPrefixes are the key prefixes whose changes start a
	// reconciliation (nil: every key). The store of palisade up also
	// holds what the server keeps for itself (firewall hits and logs, WAF
	// logs, statuses), much of it written because this agent reported
	// it: a reconciliation for each such write would run back to back
	// while traffic flows (each one reports the hits counted since the
	// last).
	WatchPrefixes []string
	// Debounce gathers bursts of store events into one reconciliation
	// (default 5 ms).
	Debounce time.Duration
	Logger   *slog.Logger
	// Metrics, when set, receives the agent's measurements (reconciles,
	// what is in the kernel, flows cut, reports); nil: none. See
	// NewMetrics.
	Metrics *Metrics
}

// Agent reconciles the kernel of one host to the store.
type Agent struct {
	cfg Config
	log *slog.Logger
	// applied is the last revision fully applied (read by tests and the
	// status heartbeat).
	applied chan int64
	// fwLoaded holds the VPCs whose program this agent has loaded into
	// their current namespace (only the reconciling goroutine uses it).
	fwLoaded map[string]bool
	// captures are the flow-log captures by VPC (flowlog.go; only the
	// reconciling goroutine uses it).
	captures map[string]*capture.Capture
	// powerSynced says that the instances' power has been set once since
	// this agent started; stoppedSet holds the instances last set stopped
	// (power.go; only the reconciling goroutine uses them).
	powerSynced bool
	stoppedSet  map[string]bool
	// flowDrained holds the VPCs whose flow-log checkpoint this agent
	// tried to report without a capture (drainFlowLogCheckpoints; only
	// the reconciling goroutine uses it).
	flowDrained map[string]bool
	// countSwept holds the VPCs whose stale flow-log counting table this
	// agent removed (sweepCountTables), once each.
	countSwept map[string]bool
	// mirrors are the traffic mirrors by VPC (mirror.go; written by the
	// reconciling goroutine, under mirrorMu).
	mirrorMu sync.Mutex
	mirrors  map[string]*mirror.Mirror
	// relay is the traffic-mirror relay between hosts, when a session
	// crosses hosts (mirror.go; written by the reconciling goroutine,
	// under mirrorMu).
	relay *mirror.Relay
	// retired holds the counters of the mirrors and relays stopped
	// (under mirrorMu).
	retired mirrorTotals
	// detector and ddosView are Anti-DDoS's state (ddos.go), shared by
	// the reconciling goroutine and the sampler under ddosMu.
	ddosMu   sync.Mutex
	detector *ddos.Detector
	ddosView ddosView
	// ddosApplied is each EIP's mitigation as the last reconciliation
	// built it (what the kernel has).
	ddosApplied map[netip.Addr]ddos.Mode
	// fwRules are, per VPC, the policy IDs of the Internet firewall's in
	// and out rules as loaded, and fwCounts the counts last read (both
	// under ddosMu; fwhits.go).
	fwRules   map[string]map[string][]string
	fwCounts  map[fwRuleKey]uint64
	fwSampled bool
	// fwMu serializes sampleFirewallHits: the sampler calls it on its
	// period, the reconciliation before it rebuilds tables.
	fwMu sync.Mutex
	// fwLogListeners read the Cloud Firewall's traffic log of each VPC
	// namespace into fwLogBuf (cfwlog.go; only the reconciling goroutine
	// uses the map).
	fwLogListeners map[string]*cfwlog.Listener
	fwLogBuf       *cfwlog.Buffer
	// kick asks Run for a reconciliation outside store changes.
	kick chan struct{}
	// resolvers are the VPCs' DNS servers (resolver.go; only the
	// reconciling goroutine uses it).
	resolvers map[string]*vpcResolver
	// lbs checks the health of the load balancers' backends (slb.go).
	lbs *lbChecker
}

// New returns an agent.
func New(cfg Config) *Agent {
	if cfg.Resync == 0 {
		cfg.Resync = 10 * time.Second
	}
	if cfg.Debounce == 0 {
		cfg.Debounce = 5 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Metrics != nil && cfg.FlowRecords != nil {
		cfg.FlowRecords = countingFlowSink{sink: cfg.FlowRecords, metrics: cfg.Metrics}
	}
	a := &Agent{cfg: cfg, log: cfg.Logger.With("component", "agent", "zone", cfg.Zone), applied: make(chan int64, 1), fwLoaded: map[string]bool{}, captures: map[string]*capture.Capture{}, stoppedSet: map[string]bool{}, flowDrained: map[string]bool{}, countSwept: map[string]bool{}, mirrors: map[string]*mirror.Mirror{}, kick: make(chan struct{}, 1), resolvers: map[string]*vpcResolver{},
		fwLogListeners: map[string]*cfwlog.Listener{}, fwLogBuf: cfwlog.NewBuffer(fwLogBuffered)}
	a.lbs = newLBChecker(probeLBBackend, a.kickReconcile)
	cfg.Metrics.bindMirrors(a.mirrorTotals)
	return a
}

// Close stops what an agent that reconciles by hand (Reconcile, without
// Run) keeps open: its flow-log captures and traffic mirrors, whose NFLOG
// groups a new agent of the same host then binds, and its DNS servers. Run does it itself when
// it returns. The kernel keeps its state.
func (a *Agent) Close() {
	a.stopFlowLogs()
	a.stopFirewallLogs()
	a.stopMirrors()
	a.stopResolvers()
	a.lbs.stop()
}

// Applied returns a channel that receives the revision of every completed
// reconciliation (the latest one; older ones are dropped).
func (a *Agent) Applied() <-chan int64 { return a.applied }

// Run reconciles at once, then on every store change and every Resync,
// until ctx ends. A failed reconciliation is retried on the next trigger;
// the kernel keeps its last state meanwhile (stopping the agent tears
// nothing down).
func (a *Agent) Run(ctx context.Context) error {
	rev := a.cfg.Store.Revision()
	events, err := a.cfg.Store.Watch(ctx, "", rev)
	if err != nil {
		return fmt.Errorf("watch store: %w", err)
	}
	defer a.stopFlowLogs()
	defer a.stopFirewallLogs()
	defer a.stopMirrors()
	defer a.stopResolvers()
	defer a.lbs.stop()
	if err := a.Reconcile(ctx); err != nil {
		a.log.Error("reconcile", "err", err)
	}
	ticker := time.NewTicker(a.cfg.Resync)
	defer ticker.Stop()
	var ddosDone sync.WaitGroup
	defer ddosDone.Wait()
	ddosDone.Go(func() { a.runSamplers(ctx) })
	ddosDone.Go(func() { a.runLBReports(ctx) })
	ddosDone.Go(func() { a.runFirewallLogs(ctx) })
	for {
		select {
		case <-a.kick:
		case <-ctx.Done():
			return nil
		case ev, ok := <-events:
			if ok && !a.watched(ev.Key) {
				continue // the server's own record: nothing to apply
			}
			if !ok {
				if ctx.Err() != nil {
					return nil
				}
				// Closed because we fell behind: re-watch from now and
				// do a full reconciliation, which needs no history.
				if events, err = a.cfg.Store.Watch(ctx, "", a.cfg.Store.Revision()); err != nil {
					return fmt.Errorf("re-watch store: %w", err)
				}
			}
			a.drain(events)
		case <-ticker.C:
		}
		if err := a.Reconcile(ctx); err != nil && !errors.Is(err, context.Canceled) {
			a.log.Error("reconcile", "err", err)
		}
	}
}

// watched reports whether a change of key starts a reconciliation
// (Config.WatchPrefixes).
func (a *Agent) watched(key string) bool {
	if a.cfg.WatchPrefixes == nil {
		return true
	}
	for _, p := range a.cfg.WatchPrefixes {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	return false
}

// drain swallows the events of a burst: reconciliation reads a fresh
// snapshot, so only the fact that something changed matters.
func (a *Agent) drain(events <-chan store.Event) {
	timer := time.NewTimer(a.cfg.Debounce)
	defer timer.Stop()
	for {
		select {
		case _, ok := <-events:
			if !ok {
				return
			}
		case <-timer.C:
			return
		}
	}
}

// Reconcile applies the desired state of one store snapshot. Each VPC's
// security-group program is loaded before the topology changes, so a new
// ENI is filtered from its first packet (until its chain is in the program
// the guard drops its unknown interface). A VPC whose namespace does not
// exist yet cannot hold a program: it is first applied without ENIs (which
// creates the namespace), its program is loaded, and only then do its ENIs
// get their links; if that load fails they stay out (fail closed: a VPC
// namespace without the table would forward everything). So do the ENIs
// of a VPC whose load fails and into which this agent has not loaded a
// program yet. Then the flows the new policy denies are cut, and status
// is reported. Reconcile must not run concurrently with itself or Run.
func (a *Agent) Reconcile(ctx context.Context) error {
	start := time.Now()
	err := a.reconcile(ctx)
	a.cfg.Metrics.reconciled(err, time.Since(start))
	return err
}

func (a *Agent) reconcile(ctx context.Context) error {
	var d *Desired
	var mirrors mirrorPlan
	err := a.cfg.Store.View(ctx, func(tx store.ReadTxn) error {
		var err error
		if d, err = Build(tx, a.cfg.Zone, a.cfg.IfName); err != nil {
			return err
		}
		if mirrors, err = a.buildMirrors(tx, d); err != nil {
			return err
		}
		d.Host.MirrorRelay = mirrors.hostRelay()
		return a.buildDDoS(tx, d)
	})
	if err != nil {
		return fmt.Errorf("build desired state: %w", err)
	}
	a.lbs.sync(d.LoadBalancers)
	a.cfg.Metrics.setLoadBalancers(a.lbs.place(&d.Host, d.LoadBalancers))
	var errList []error
	fwOK := map[string]bool{}
	var missing, failed []string // VPCs without namespace; without a program
	present := map[string]bool{}
	for _, v := range d.Host.VPCs {
		present[v.ID] = true
		err := a.cfg.Firewall.Load(ctx, v.ID, d.Programs[v.ID])
		switch {
		case err == nil:
			fwOK[v.ID] = true
		case errors.Is(err, fs.ErrNotExist):
			missing = append(missing, v.ID)
		default:
			errList = append(errList, fmt.Errorf("security groups of %s: %w", v.ID, err))
			// A program this agent loaded earlier is still in place (its
			// guard drops interfaces it does not know): the ENIs stay.
			// Otherwise the namespace may have no table at all.
			if !a.fwLoaded[v.ID] {
				failed = append(failed, v.ID)
			}
		}
	}
	for id := range a.fwLoaded {
		if !present[id] {
			delete(a.fwLoaded, id) // its namespace goes away
		}
	}
	if len(missing) > 0 {
		// Create the missing namespaces without ENIs, then load their
		// programs.
		if _, err := a.cfg.Topology.Apply(ctx, withoutENIs(d.Host, append(slices.Clone(failed), missing...))); err != nil {
			a.log.Warn("create namespaces of new VPCs", "err", err)
		}
		for _, id := range missing {
			if err := a.cfg.Firewall.Load(ctx, id, d.Programs[id]); err != nil {
				failed = append(failed, id)
				errList = append(errList, fmt.Errorf("security groups of %s: %w", id, err))
				continue
			}
			fwOK[id] = true
		}
	}
	for id := range fwOK {
		a.fwLoaded[id] = true
	}
	host := withoutENIs(d.Host, failed)
	failedClosed := 0
	for _, v := range d.Host.VPCs {
		if slices.Contains(failed, v.ID) {
			failedClosed += len(v.ENIs)
		}
	}
	a.cfg.Metrics.setHost(host, len(d.Instances), failedClosed)
	// The firewalls' traffic log is read before the topology loads the
	// rules that log: what they log at once is not lost to a group that
	// nobody listens to yet.
	a.syncFirewallLogs(host.VPCs, fwOK)
	// A rebuilt table counts from 0 again: what its rules counted since
	// the last reading is reported first.
	a.sampleHitsAroundApply(ctx)
	st, topoErr := a.cfg.Topology.Apply(ctx, host)
	if topoErr != nil {
		errList = append(errList, fmt.Errorf("topology: %w", topoErr))
	}
	// After the topology, which creates the namespaces of new instances.
	if err := a.syncPower(ctx, d); err != nil {
		errList = append(errList, fmt.Errorf("instance power: %w", err))
	}
	if a.cfg.WAF != nil {
		// After the topology: the listeners live in the VPC namespaces.
		// Until an object's listener is up its steered port drops new
		// connections (fail closed), so this follows at once.
		if err := a.cfg.WAF.Apply(ctx, d.WAF); err != nil {
			errList = append(errList, fmt.Errorf("waf: %w", err))
		}
	}
	for _, v := range d.Host.VPCs {
		if !fwOK[v.ID] {
			continue
		}
		n, err := a.cfg.Firewall.CutDenied(ctx, v.ID, d.World)
		a.cfg.Metrics.flowsCutAdd(n)
		if err != nil {
			errList = append(errList, fmt.Errorf("cut denied flows in %s: %w", v.ID, err))
		} else if n > 0 {
			a.log.Info("cut flows the policy now denies", "vpc", v.ID, "flows", n)
		}
	}
	a.setFirewallRules(host.VPCs)
	// And right after: a rebuilt table's counters start the new baseline.
	a.sampleHitsAroundApply(ctx)
	a.syncFlowLogs(d, fwOK)
	a.syncFirewallLogs(host.VPCs, fwOK) // and in a namespace the topology made anew
	// After the topology: the servers listen in the VPC namespaces.
	if err := a.syncResolvers(d); err != nil {
		errList = append(errList, err)
	}
	if err := a.syncMirrors(mirrors, fwOK); err != nil {
		errList = append(errList, fmt.Errorf("traffic mirroring: %w", err))
	}
	a.report(ctx, d, st, fwOK)
	select {
	case <-a.applied:
	default:
	}
	a.applied <- d.Revision
	return errors.Join(errList...)
}

// withoutENIs returns h with the ENIs (and so the EIPs) of the listed VPCs
// left out (the VPCs themselves, their namespaces and gateways, stay).
func withoutENIs(h dataplane.Host, vpcIDs []string) dataplane.Host {
	if len(vpcIDs) == 0 {
		return h
	}
	out := dataplane.Host{VPCs: make([]dataplane.VPC, len(h.VPCs)), MirrorRelay: h.MirrorRelay}
	for i, v := range h.VPCs {
		if slices.Contains(vpcIDs, v.ID) {
			v.ENIs, v.EIPs, v.LoadBalancers, v.NATGateways = nil, nil, nil, nil
		}
		out.VPCs[i] = v
	}
	return out
}

// report moves local instances to Running and their ENIs to InUse once
// they are in place in the kernel, and back to Pending when they are not;
// likewise EIPs between Associating and InUse.
func (a *Agent) report(ctx context.Context, d *Desired, st dataplane.Status, fwOK map[string]bool) {
	if a.cfg.Status == nil {
		return
	}
	ready := map[string]bool{} // instance ID -> all its ENIs ready
	for _, e := range d.ENIs {
		ok := st.Ready(e.ID) && fwOK[e.VpcID]
		if prev, seen := ready[e.InstanceID]; !seen || prev {
			ready[e.InstanceID] = ok
		}
		want := model.ENIInUse
		if !ok {
			want = model.ENIAttaching
		}
		if e.Status != want {
			if err := a.cfg.Status.SetENIStatus(ctx, e.ID, want); err != nil {
				a.log.Warn("report ENI status", "eni", e.ID, "err", err)
			}
		}
	}
	for _, e := range d.EIPs {
		if e.Status != model.EIPAssociating && e.Status != model.EIPInUse {
			continue
		}
		want := model.EIPAssociating
		if st.EIPReady(e.ID) && fwOK[e.VpcID] {
			want = model.EIPInUse
		}
		if e.Status != want {
			if err := a.cfg.Status.SetEIPStatus(ctx, e.ID, want); err != nil {
				a.log.Warn("report EIP status", "eip", e.ID, "err", err)
			}
		}
	}
	for _, inst := range d.Instances {
		if inst.Status != model.InstancePending && inst.Status != model.InstanceRunning {
			continue
		}
		want := model.InstancePending
		if ready[inst.ID] {
			want = model.InstanceRunning
		}
		if inst.Status != want {
			if err := a.cfg.Status.SetInstanceStatus(ctx, inst.ID, want); err != nil {
				a.log.Warn("report instance status", "instance", inst.ID, "err", err)
			}
		}
	}
}
