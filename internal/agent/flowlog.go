package agent

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"

	"github.com/palisade-project/palisade/internal/flowlog"
	"github.com/palisade-project/palisade/internal/flowlog/capture"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/policy"
	"github.com/palisade-project/palisade/internal/store"
)

// FlowRecordSink receives the flow-log records captured on this host
// (remote.Mirror for a remote agent, the service for palisade up).
type FlowRecordSink = capture.Sink

// buildFlowLogs reads the active flow logs and returns, per VPC on the
// host, each log with the local ENIs it covers (a host captures its own
// ENIs) and, for a log of the path internetGateway, its path filter, whose
// inside blocks are the VPC's (model.FlowLogInside); it puts the
// interfaces of covered ENIs into the VPC's program, whose drops of them
// are then logged (policy.DenyChain).
func buildFlowLogs(tx store.ReadTxn, d *Desired, ifName func(eniID string) string) (map[string][]flowlog.Log, error) {
	var fls []model.FlowLog
	if err := listAll(tx, model.PrefixFlowLog, func(f model.FlowLog) { fls = append(fls, f) }); err != nil {
		return nil, err
	}
	out := map[string][]flowlog.Log{}
	if len(fls) == 0 {
		return out, nil
	}
	slices.SortFunc(fls, func(a, b model.FlowLog) int { return cmpString(a.ID, b.ID) })
	ifaces := map[string][]string{}
	paths := internetPaths{tx: tx, byVPC: map[string]*flowlog.PathFilter{}}
	for _, f := range fls {
		if f.Status != model.FlowLogActive || d.Programs[f.VpcID] == nil {
			continue
		}
		l := flowlog.Log{ID: f.ID, AccountID: f.AccountID, TrafficType: f.TrafficType, WindowSeconds: int64(f.WindowSeconds)}
		if l.WindowSeconds <= 0 {
			l.WindowSeconds = int64(f.AggregationInterval) * 60
		}
		if f.InternetOnly() {
			var err error
			if l.Path, err = paths.of(f.VpcID); err != nil {
				return nil, err
			}
		}
		for _, e := range d.ENIs {
			if e.VpcID != f.VpcID || !covers(f, e) {
				continue
			}
			l.ENIs = append(l.ENIs, flowlog.ENI{ID: e.ID, VMID: e.InstanceID, VSwitchID: e.VSwitchID, VpcID: e.VpcID})
			if n := ifName(e.ID); !slices.Contains(ifaces[f.VpcID], n) {
				ifaces[f.VpcID] = append(ifaces[f.VpcID], n)
			}
		}
		if len(l.ENIs) > 0 {
			slices.SortFunc(l.ENIs, func(a, b flowlog.ENI) int { return cmpString(a.ID, b.ID) })
			out[f.VpcID] = append(out[f.VpcID], l)
		}
	}
	for vpc, names := range ifaces {
		slices.Sort(names)
		d.Programs[vpc].FlowLogIfaces = names
	}
	return out, nil
}

// internetPaths builds the internetGateway filter of each VPC once, shared
// by the VPC's logs of that path.
type internetPaths struct {
	tx     store.ReadTxn
	routes []model.RouteEntry // read at the first VPC
	read   bool
	byVPC  map[string]*flowlog.PathFilter
}

func (p *internetPaths) of(vpcID string) (*flowlog.PathFilter, error) {
	if f := p.byVPC[vpcID]; f != nil {
		return f, nil
	}
	if !p.read {
		if err := listAll(p.tx, model.PrefixRouteEntry, func(r model.RouteEntry) { p.routes = append(p.routes, r) }); err != nil {
			return nil, err
		}
		p.read = true
	}
	var vpc model.VPC
	b, ok, err := p.tx.Get(model.PrefixVPC + vpcID)
	if err != nil {
		return nil, err
	}
	if ok {
		if err := json.Unmarshal(b, &vpc); err != nil {
			return nil, fmt.Errorf("decode %s: %w", model.PrefixVPC+vpcID, err)
		}
	}
	// A VPC missing from the store (being deleted) has no CIDR left to
	// leave out: the fixed blocks still are.
	vpc.ID = vpcID
	f := flowlog.NewInternetPath(model.FlowLogInside(vpc, p.routes))
	p.byVPC[vpcID] = f
	return f, nil
}

func covers(f model.FlowLog, e model.ENI) bool {
	switch f.ResourceType {
	case model.FlowLogResourceENI:
		return e.ID == f.ResourceID
	case model.FlowLogResourceVSwitch:
		return e.VSwitchID == f.ResourceID
	case model.FlowLogResourceVPC:
		return e.VpcID == f.ResourceID
	}
	return false
}

// syncFlowLogs starts, updates and stops the capture of each VPC
// namespace after the programs are loaded: a VPC has a capture while an
// active flow log covers one of its local ENIs and its program is in.
// Starting a capture opens a few sockets; updating one hands it the new
// view without waiting.
func (a *Agent) syncFlowLogs(d *Desired, fwOK map[string]bool) {
	if a.cfg.FlowRecords == nil {
		return
	}
	for vpc, logs := range d.FlowLogs {
		if !fwOK[vpc] {
			continue
		}
		w, vpcID := d.World, vpc
		v := capture.View{
			Logs:  logs,
			ENIOf: func(addr netip.Addr) string { return w.ENIByAddr(vpcID, addr) },
			EgressAllowed: func(eniID string, p capture.Packet) bool {
				pkt := policy.Packet{Src: p.Src, Dst: p.Dst, Proto: p.Proto, SrcPort: p.SrcPort, DstPort: p.DstPort}
				return policy.EvaluateENI(w, eniID, policy.Egress, pkt).Allow
			},
		}
		if c := a.captures[vpc]; c != nil && c.Stale() {
			// The namespace was made anew: the old capture saves its
			// counts, and a new one counts in the new namespace.
			a.log.Info("VPC namespace made anew: restarting its flow-log capture", "vpc", vpc)
			c.Stop()
			delete(a.captures, vpc)
		}
		if c := a.captures[vpc]; c != nil {
			c.Update(v)
			continue
		}
		c, err := capture.Start(capture.Config{VpcID: vpc, Sink: a.cfg.FlowRecords, CheckpointDir: a.cfg.FlowLogDir, SetSize: a.cfg.FlowLogSetSize, Logger: a.cfg.Logger}, v)
		if err != nil {
			a.log.Warn("start flow-log capture", "vpc", vpc, "err", err)
			continue
		}
		a.captures[vpc] = c
	}
	for vpc, c := range a.captures {
		if len(d.FlowLogs[vpc]) == 0 {
			c.Update(capture.View{}) // the logs' open windows are emitted
			c.Stop()
			delete(a.captures, vpc)
		}
	}
	a.drainFlowLogCheckpoints(d, fwOK)
	a.sweepCountTables(d, fwOK)
}

// sweepCountTables removes, once per VPC while the agent runs, the
// flow-log counting table of a VPC that has neither an active flow log
// nor a capture: a table left by an agent that stopped while a log was
// active, whose logs went meanwhile (a capture that ends removes its
// table itself).
func (a *Agent) sweepCountTables(d *Desired, fwOK map[string]bool) {
	for vpc := range fwOK {
		if a.captures[vpc] != nil || len(d.FlowLogs[vpc]) > 0 || a.countSwept[vpc] {
			continue
		}
		a.countSwept[vpc] = true
		if err := capture.RemoveCountTable(filepath.Join("/run/netns", vpc)); err != nil {
			a.log.Warn("remove a stale flow-log counting table", "vpc", vpc, "err", err)
		}
	}
}

// drainFlowLogCheckpoints reports what the checkpoint of a VPC without
// capture holds: the open windows of flow logs that were deactivated or
// deleted while the agent was down, when none is left in the VPC (a VPC
// with an active log restores its checkpoint when its capture starts),
// and batches not reported yet. A capture started with no log and
// stopped at once restores the checkpoint, reports it and removes it
// (see flowlog.Aggregator.Restore). Once per VPC while the agent runs: a
// checkpoint that could not be reported (the sink is down) stays for the
// next capture of the VPC or the next start of the agent.
func (a *Agent) drainFlowLogCheckpoints(d *Desired, fwOK map[string]bool) {
	if a.cfg.FlowLogDir == "" {
		return
	}
	for vpc := range fwOK {
		if a.captures[vpc] != nil || len(d.FlowLogs[vpc]) > 0 {
			continue
		}
		path := capture.CheckpointPath(a.cfg.FlowLogDir, vpc)
		if _, err := os.Stat(path); err != nil {
			continue
		}
		if a.flowDrained[vpc] {
			continue
		}
		a.flowDrained[vpc] = true
		a.log.Info("flow-log checkpoint of a VPC without active flow log (deactivated or deleted while the agent was down): reporting it", "vpc", vpc)
		c, err := capture.Start(capture.Config{VpcID: vpc, Sink: a.cfg.FlowRecords, CheckpointDir: a.cfg.FlowLogDir, SetSize: a.cfg.FlowLogSetSize, Logger: a.cfg.Logger}, capture.View{})
		if err != nil {
			a.log.Warn("report flow-log checkpoint; kept for the next capture", "vpc", vpc, "err", err)
			continue
		}
		c.Stop()
		if _, err := os.Stat(path); err == nil {
			a.log.Warn("flow-log checkpoint not reported (sink unreachable?); kept for the next capture", "vpc", vpc)
		}
	}
}

// stopFlowLogs stops every capture (the agent stops): open windows are
// saved in the checkpoints and continue when the agent comes back.
func (a *Agent) stopFlowLogs() {
	for vpc, c := range a.captures {
		c.Stop()
		delete(a.captures, vpc)
	}
}

// FlowLogStats returns the capture counters of a VPC (tests, benchmarks;
// call it from the goroutine that reconciles, or while the agent is idle).
func (a *Agent) FlowLogStats(vpcID string) (capture.Stats, bool) {
	c := a.captures[vpcID]
	if c == nil {
		return capture.Stats{}, false
	}
	return c.Stats(), true
}
