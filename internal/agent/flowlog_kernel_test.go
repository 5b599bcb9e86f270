package agent_test

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/agent"
	"github.com/palisade-project/palisade/internal/dataplane/linux"
	"github.com/palisade-project/palisade/internal/flowlog"
	"github.com/palisade-project/palisade/internal/flowlog/capture"
	"github.com/palisade-project/palisade/internal/model"
)

// flowSink keeps the batches an agent reports.
type flowSink struct {
	mu      sync.Mutex
	records []flowlog.Record
	missed  map[string]int64
}

func (s *flowSink) ReportFlowRecords(_ context.Context, b flowlog.Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.records = append(s.records, b.Records...)
	for id, n := range b.Missed {
		if s.missed == nil {
			s.missed = map[string]int64{}
		}
		s.missed[id] += n
	}
	return nil
}

// window returns the records of the flow log's window [start, end) and
// the log's missed count.
func (s *flowSink) window(logID string, start, end int64) (ok []flowlog.Record, skip map[string]bool, missed int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	skip = map[string]bool{}
	for _, r := range s.records {
		if r.FlowLogID != logID || r.Start < start || r.End > end {
			continue
		}
		switch r.LogStatus {
		case flowlog.StatusOK:
			ok = append(ok, r)
		case flowlog.StatusSkipData:
			if r.Start == start && r.End == end {
				skip[r.ENIID] = true
			}
		}
	}
	return ok, skip, s.missed[logID]
}

// flowWindow is the window of the flow log under test: long enough for
// an agent to start, see traffic and stop within one.
const flowWindow = 30

// flowRig is an agent environment with one VPC, instances a and b, a
// flow log fl over the VPC (window flowWindow) and, when other, a flow
// log of ENI a with a window of 2 s; the agents it makes report to sink
// and keep their checkpoints in dir.
type flowRig struct {
	*env
	t    *testing.T
	sink *flowSink
	dir  string
	log  *slog.Logger
	vpc  string
	a, b inst
	fl   model.FlowLog
}

func newFlowRig(t *testing.T, other bool) *flowRig {
	e := newEnv(t, nil)
	r := &flowRig{env: e, t: t, sink: &flowSink{}, dir: t.TempDir(), log: slog.New(slog.NewTextHandler(t.Output(), nil))}
	vpc, vsw := e.vpc("a", "10.10.1.0/24")
	g := e.group("a", vpc, model.InnerAccept, allowAll())
	r.vpc = vpc
	r.a = e.instance("a", vpc, vsw, "10.10.1.10", g)
	r.b = e.instance("b", vpc, vsw, "10.10.1.11", g)
	r.fl = model.FlowLog{ID: "fl-" + e.tag + "a", AccountID: "acct", ResourceType: model.FlowLogResourceVPC, ResourceID: vpc,
		VpcID: vpc, TrafficType: model.FlowLogTrafficAll, AggregationInterval: 1, WindowSeconds: flowWindow, Status: model.FlowLogActive}
	e.put(model.PrefixFlowLog+r.fl.ID, r.fl)
	if other {
		e.put(model.PrefixFlowLog+"fl-"+e.tag+"b", model.FlowLog{ID: "fl-" + e.tag + "b", AccountID: "acct", ResourceType: model.FlowLogResourceENI,
			ResourceID: r.a.eni, VpcID: vpc, TrafficType: model.FlowLogTrafficAll, AggregationInterval: 1, WindowSeconds: 2, Status: model.FlowLogActive})
	}
	return r
}

// start makes a new agent (same sink and checkpoints) and runs it until
// the returned stop (also a cleanup), once it has applied the store.
func (r *flowRig) start() (stop func()) {
	t := r.t
	r.env.a = agent.New(agent.Config{
		Store: r.st, Zone: zone, Topology: r.ap, Firewall: r.fw, Status: r.status,
		IfName: linux.VethName, Resync: time.Hour, Logger: r.log, FlowRecords: r.sink, FlowLogDir: r.dir,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	a := r.env.a
	go func() { done <- a.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	r.waitApplied()
	return stop
}

func (r *flowRig) waitApplied() {
	r.t.Helper()
	deadline := time.After(15 * time.Second)
	for rev := r.st.Revision(); ; {
		select {
		case got := <-r.env.a.Applied():
			if got >= rev {
				return
			}
		case <-deadline:
			r.t.Fatalf("revision %d not applied in time", rev)
		}
	}
}

// traffic starts an agent early in a window of fl, pings b from a once
// the capture has its baselines, and returns the window's start and the
// agent's stop.
func (r *flowRig) traffic() (w int64, stop func()) {
	t := r.t
	for now := time.Now().Unix(); now%flowWindow < 1 || now%flowWindow > 10; now = time.Now().Unix() {
		time.Sleep(200 * time.Millisecond)
	}
	now := time.Now().Unix()
	w = now - now%flowWindow
	stop = r.start()
	// The agent is idle: FlowLogStats may be read.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if st, ok := r.env.a.FlowLogStats(r.vpc); ok && st.Dumps > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("capture not started")
		}
	}
	if !r.pingEventually("a", r.addr("b")) {
		t.Fatal("ping a -> b failed")
	}
	return w, stop
}

// stillOpen fails the test when fl's window w was reported or ended.
func (r *flowRig) stillOpen(w int64) {
	r.t.Helper()
	if end := time.Now().Unix(); end >= w+flowWindow {
		r.t.Fatalf("the window [%d,%d) ended while the agent ran (until %d)", w, w+flowWindow, end)
	}
	if ok, _, _ := r.sink.window(r.fl.ID, w, w+flowWindow); len(ok) > 0 {
		r.t.Fatalf("window [%d,%d) reported while open: %v", w, w+flowWindow, ok)
	}
}

// reported waits (up to 10 s) for fl's window w and checks that it holds
// ENI a's ICMP traffic, within its bounds; it returns the ENIs whose
// SKIPDATA the window says and fl's missed count.
func (r *flowRig) reported(w int64) (skip map[string]bool, missed int64) {
	t := r.t
	t.Helper()
	var ok []flowlog.Record
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if ok, skip, missed = r.sink.window(r.fl.ID, w, w+flowWindow); len(ok) > 0 {
			break
		}
	}
	var pkts uint64
	for _, rec := range ok {
		if rec.ENIID == r.a.eni && rec.Protocol == 1 {
			pkts += rec.Packets
		}
		if rec.Start < w || rec.End > w+flowWindow {
			t.Errorf("record outside its window [%d,%d): %+v", w, w+flowWindow, rec)
		}
	}
	if pkts == 0 {
		t.Fatalf("the ICMP traffic of ENI a in window [%d,%d) was not reported: %v", w, w+flowWindow, ok)
	}
	return skip, missed
}

// checkpointGone checks that the VPC's checkpoint was removed (no log
// left, everything reported).
func (r *flowRig) checkpointGone() {
	r.t.Helper()
	if _, err := os.Stat(filepath.Join(r.dir, "flowlog-"+r.vpc+".json")); !os.IsNotExist(err) {
		r.t.Errorf("checkpoint of %s left: %v", r.vpc, err)
	}
}

// countTable reports whether the VPC namespace has the flow-log counting
// table.
func (r *flowRig) countTable() bool {
	r.t.Helper()
	return exec.Command("ip", "netns", "exec", r.vpc, "nft", "list", "table", "inet", capture.CountTable).Run() == nil
}

func deactivate(r *flowRig) {
	fl := r.fl
	fl.Status = model.FlowLogInactive
	r.put(model.PrefixFlowLog+fl.ID, fl)
}

// TestKernelFlowLogChangedWhileDown stops the agent in the middle of a
// flow log's window after traffic, changes the flow log in the store,
// and starts a new agent on the same checkpoints: the window captured
// before the stop is reported, with its own bounds, and says SKIPDATA
// (what came after the checkpoint was not captured for it), whether the
// flow log was deactivated, deleted or re-windowed, and whether or not
// another flow log of the VPC keeps a capture running.
func TestKernelFlowLogChangedWhileDown(t *testing.T) {
	tests := []struct {
		name   string
		change func(r *flowRig) // while the agent is down
		other  bool             // another log (ENI a, 2 s) keeps capturing
		// newWindow: fl stays active with this window (re-windowed).
		newWindow int64
		// lost: the checkpoint is lost too (nothing to report).
		lost bool
	}{{
		name:   "deactivated, no log left in the VPC",
		change: deactivate,
	}, {
		name:   "deleted, no log left in the VPC",
		change: func(r *flowRig) { r.del(model.PrefixFlowLog + r.fl.ID) },
	}, {
		name:   "deactivated, another log keeps capturing",
		change: deactivate,
		other:  true,
	}, {
		name: "re-windowed",
		change: func(r *flowRig) {
			fl := r.fl
			fl.WindowSeconds = 2
			r.put(model.PrefixFlowLog+fl.ID, fl)
		},
		newWindow: 2,
	}, {
		name:   "deleted, checkpoint lost",
		change: func(r *flowRig) { r.del(model.PrefixFlowLog + r.fl.ID) },
		lost:   true,
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newFlowRig(t, tc.other)
			w, stop := r.traffic()
			stop() // graceful: the open window goes into the checkpoint
			r.stillOpen(w)
			tc.change(r)
			if !r.countTable() {
				t.Fatal("the counting table went with the agent (a restart keeps it)")
			}
			if tc.lost {
				if err := os.Remove(filepath.Join(r.dir, "flowlog-"+r.vpc+".json")); err != nil {
					t.Fatal(err)
				}
				r.start()
				// The new agent removes the table nobody needs.
				for deadline := time.Now().Add(10 * time.Second); r.countTable(); time.Sleep(100 * time.Millisecond) {
					if time.Now().After(deadline) {
						t.Fatal("the stale counting table is still there")
					}
				}
				return
			}
			r.start()
			// At once when no log is left in the VPC, at the first
			// boundary otherwise.
			skip, missed := r.reported(w)
			if !skip[r.a.eni] || !skip[r.b.eni] {
				t.Errorf("window [%d,%d) says SKIPDATA for %v, want both ENIs", w, w+flowWindow, skip)
			}
			if missed < 1 {
				t.Errorf("missed count of %s: %d, want at least 1", r.fl.ID, missed)
			}
			if tc.newWindow > 0 {
				// Capture continues with the new window.
				for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
					r.sink.mu.Lock()
					found := false
					for _, rec := range r.sink.records {
						if rec.FlowLogID == r.fl.ID && rec.LogStatus == flowlog.StatusNoData && rec.End-rec.Start == tc.newWindow {
							found = true
						}
					}
					r.sink.mu.Unlock()
					if found {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("no window of %d s reported after the re-windowing", tc.newWindow)
					}
				}
			}
			if !tc.other && tc.newWindow == 0 {
				r.checkpointGone()
				if r.countTable() {
					t.Error("the counting table outlived the VPC's last flow log")
				}
			}
		})
	}
}

// TestKernelFlowLogDeactivatedWhileRunning deactivates (or deletes) a
// flow log while the agent runs, in the middle of a window with traffic:
// the agent reports the window at once (the server takes the window in
// progress at a deactivation), whether or not another flow log of the
// VPC keeps the capture running, and nothing of it says SKIPDATA.
func TestKernelFlowLogDeactivatedWhileRunning(t *testing.T) {
	tests := []struct {
		name   string
		change func(r *flowRig)
		other  bool
	}{{
		name:   "deactivated, no log left in the VPC",
		change: deactivate,
	}, {
		name:   "deactivated, another log keeps capturing",
		change: deactivate,
		other:  true,
	}, {
		name:   "deleted, no log left in the VPC",
		change: func(r *flowRig) { r.del(model.PrefixFlowLog + r.fl.ID) },
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newFlowRig(t, tc.other)
			w, stop := r.traffic()
			r.stillOpen(w)
			tc.change(r)
			r.waitApplied()
			skip, missed := r.reported(w)
			if len(skip) > 0 || missed > 0 {
				t.Errorf("window [%d,%d) says SKIPDATA for %v, missed %d; want none", w, w+flowWindow, skip, missed)
			}
			if end := time.Now().Unix(); end >= w+flowWindow {
				t.Errorf("window [%d,%d) reported after its end (%d), not at the deactivation", w, w+flowWindow, end)
			}
			stop()
			if !tc.other {
				r.checkpointGone()
			}
		})
	}
}
