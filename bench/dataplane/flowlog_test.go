package dataplane_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/palisade-project/palisade/internal/agent"
	"github.com/palisade-project/palisade/internal/dataplane/linux"
	"github.com/palisade-project/palisade/internal/flowlog"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/probe"
	"github.com/palisade-project/palisade/internal/store"
)

// flowWindowFlag is the flow-log window of the benchmarks: by default 2 s,
// the shortest the tests use, so that window boundaries (a dump of the
// counting sets, the records and a checkpoint each) fall inside every
// measurement; production windows are 60 s or more.
var flowWindowFlag = flag.Int("flowlog.window", 2, "flow-log window of the flow-log benchmarks, seconds")

// countSink counts what the agent reports.
type countSink struct {
	mu       sync.Mutex
	records  int
	skipdata int
	missed   int64
}

func (s *countSink) ReportFlowRecords(_ context.Context, b flowlog.Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.records += len(b.Records)
	for _, r := range b.Records {
		if r.LogStatus == flowlog.StatusSkipData {
			s.skipdata++
		}
	}
	for _, n := range b.Missed {
		s.missed += n
	}
	return nil
}

func (s *countSink) take() (records, skipdata int, missed int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	records, skipdata, missed = s.records, s.skipdata, s.missed
	s.records, s.skipdata, s.missed = 0, 0, 0
	return
}

// flowEnv is one VPC with a client and a server instance whose groups
// accept each other, and an agent that captures flow logs.
type flowEnv struct {
	w              *kworld
	vpcID          string
	client, server string
	serverIP       netip.Addr
	sink           *countSink
	srv            *sink
	on             bool
}

var (
	flowOnce sync.Once
	flowE    *flowEnv
	flowErr  error
)

func getFlowEnv(b *testing.B) *flowEnv {
	b.Helper()
	needKernel(b)
	flowOnce.Do(func() { flowE, flowErr = buildFlowEnv() })
	if flowErr != nil {
		b.Fatal(flowErr)
	}
	return flowE
}

func buildFlowEnv() (*flowEnv, error) {
	w := newKWorld(randTag())
	e := &flowEnv{w: w, sink: &countSink{}, serverIP: netip.MustParseAddr("10.78.1.20")}
	dir, err := os.MkdirTemp("", "flowlog-bench")
	if err != nil {
		return nil, err
	}
	cleanups = append(cleanups, func() { os.RemoveAll(dir) }, w.close)
	w.fw = &agent.NlFirewall{GuardPrefix: linux.VethPrefix}
	w.a = agent.New(agent.Config{Store: w.st, Zone: zone, Topology: w.ap, Firewall: w.fw, IfName: linux.VethName,
		Resync: 1 << 40, Logger: quietLogger(), FlowRecords: e.sink, FlowLogDir: dir})
	var vswID string
	if e.vpcID, vswID, err = w.vpc("f", "10.78.0.0/16"); err != nil {
		return nil, err
	}
	g := "sg-" + w.tag + "f"
	if err := w.group(g, e.vpcID, []model.Rule{matchRule("sgr-"+w.tag+"f", model.Ingress, netip.MustParseAddr("10.78.1.10"))}); err != nil {
		return nil, err
	}
	if e.client, _, err = w.instance("fc", e.vpcID, vswID, netip.MustParseAddr("10.78.1.10"), g); err != nil {
		return nil, err
	}
	if e.server, _, err = w.instance("fs", e.vpcID, vswID, e.serverIP, g); err != nil {
		return nil, err
	}
	if err := w.a.Reconcile(w.ctx); err != nil {
		return nil, err
	}
	if e.srv, err = startSink(e.server); err != nil {
		return nil, err
	}
	cleanups = append(cleanups, func() {
		e.setFlowLogs(false) // stops the capture
		e.srv.close()
	})
	return e, nil
}

// setFlowLogs turns a VPC-wide flow log (All traffic) on or off.
func (e *flowEnv) setFlowLogs(on bool) error {
	if e.on == on {
		return nil
	}
	id := "fl-" + e.w.tag
	var err error
	if on {
		err = e.w.put(map[string]any{model.PrefixFlowLog + id: model.FlowLog{ID: id, AccountID: "acct", ResourceType: model.FlowLogResourceVPC,
			ResourceID: e.vpcID, VpcID: e.vpcID, TrafficType: model.FlowLogTrafficAll, AggregationInterval: 1, WindowSeconds: *flowWindowFlag,
			Status: model.FlowLogActive}})
	} else {
		_, err = e.w.st.Update(e.w.ctx, func(tx store.Txn) error { return tx.Delete(model.PrefixFlowLog + id) })
	}
	if err != nil {
		return err
	}
	e.on = on
	return e.w.a.Reconcile(e.w.ctx)
}

// awaitCapture waits until the VPC's capture has read the table once.
func (e *flowEnv) awaitCapture() error {
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if st, ok := e.w.a.FlowLogStats(e.vpcID); ok && st.Dumps > 0 {
			return nil
		}
	}
	return fmt.Errorf("the capture of %s did not start", e.vpcID)
}

// BenchmarkFlowLogConnRate measures new TCP connections per second between
// two instances with flow logs off and on (VPC-wide, All, windows of
// -flowlog.window seconds), alternating in each round so that the
// machine's drift hits both alike, and reports the median ratio on/off;
// and, for the rounds with flow logs on, whether every record was
// complete (skipdata and missed must be 0). "On" is measured once the
// capture runs (after its first dump). Run with -benchtime 9x for nine
// rounds.
func BenchmarkFlowLogConnRate(b *testing.B) {
	e := getFlowEnv(b)
	sa := &unix.SockaddrInet4{Port: tcpPort, Addr: e.serverIP.As4()}
	// Each phase lasts about one dump interval (5 s at these rates), so
	// the periodic dumps weigh in the "on" figures as they do in a long
	// run.
	const conns = 75_000
	var ratios, onRates []float64
	skip, missed := 0, int64(0)
	for range b.N {
		var rates [2]float64
		for i, on := range []bool{false, true} {
			if err := e.setFlowLogs(on); err != nil {
				b.Fatal(err)
			}
			if on {
				// Flow logs on means a running capture: its start (the
				// first dump of the whole table) is not part of it.
				if err := e.awaitCapture(); err != nil {
					b.Fatal(err)
				}
			}
			e.sink.take()
			r, err := dialN(e.client, sa, e.srv, conns)
			if err != nil {
				b.Fatal(err)
			}
			if r.fails > 0 || r.synRetrans > 0 {
				b.Logf("on=%v: %d failed connections, %d SYNs sent again", on, r.fails, r.synRetrans)
			}
			rates[i] = r.rate
			if on {
				// Turning the log off reports the open window, so every
				// record of this phase is at the sink now.
				if err := e.setFlowLogs(false); err != nil {
					b.Fatal(err)
				}
				recs, s, m := e.sink.take()
				skip += s
				missed += m
				b.Logf("round: off %.0f conns/s, on %.0f conns/s; %d records, %d SKIPDATA, %d missed", rates[0], r.rate, recs, s, m)
			}
		}
		ratios = append(ratios, rates[1]/rates[0])
		onRates = append(onRates, rates[1])
	}
	b.ReportMetric(median(ratios), "on/off-ratio")
	b.ReportMetric(median(onRates), "on-conns/s")
	b.ReportMetric(float64(skip), "skipdata-records")
	b.ReportMetric(float64(missed), "missed")
}

// BenchmarkFlowLogMemory turns the flow log on, sends 100,000 flows (a
// datagram each) between the two instances, which the kernel counts in
// 100,000 elements of the counting sets, and measures the Go heap of the
// process over two window boundaries: live bytes after a GC (the
// capture's state), and the peak heap (live and not yet collected
// objects, sampled every 5 ms) while the capture dumps and checkpoints,
// both above the level before. Run with -benchtime 1x.
func BenchmarkFlowLogMemory(b *testing.B) {
	e := getFlowEnv(b)
	const flows = 100_000
	heap := func() uint64 {
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		metrics.Read(s)
		return s[0].Value.Uint64()
	}
	if err := e.setFlowLogs(false); err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	base := heap() // no capture
	if err := e.setFlowLogs(true); err != nil {
		b.Fatal(err)
	}
	if err := e.awaitCapture(); err != nil {
		b.Fatal(err)
	}
	// 102,000 flows with a packet each, paced (a burst overflows the
	// veths' backlog): three source ports to 34,000 destination ports
	// each (the server answers some with ICMP port unreachable, which
	// adds a few elements).
	err := probe.InNetns(e.client, func() error {
		for sp := range 3 {
			fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				return err
			}
			defer unix.Close(fd)
			if err := unix.Bind(fd, &unix.SockaddrInet4{Port: 20000 + sp}); err != nil {
				return err
			}
			for i := range 34_000 {
				if i%500 == 0 {
					time.Sleep(2 * time.Millisecond)
				}
				sa := &unix.SockaddrInet4{Port: 1025 + i, Addr: e.serverIP.As4()}
				for {
					err := unix.Sendto(fd, []byte{1}, 0, sa)
					if err == nil {
						break
					}
					if !errors.Is(err, unix.ENOBUFS) && !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.ECONNREFUSED) {
						return err
					}
					time.Sleep(time.Millisecond)
				}
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	var peak atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	sample := func() {
		defer close(done)
		for {
			if h := heap(); h > peak.Load() {
				peak.Store(h)
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}
	var sampler sync.Once
	b.ResetTimer()
	for range b.N {
		runtime.GC()
		sampler.Do(func() { go sample() })
		// Two window boundaries (a dump and a checkpoint of all the
		// flows each) and the dumps between them.
		time.Sleep(time.Duration(2*min(*flowWindowFlag, 5))*time.Second + 500*time.Millisecond)
	}
	b.StopTimer()
	close(stop)
	<-done
	runtime.GC()
	live := heap()
	st, _ := e.w.a.FlowLogStats(e.vpcID)
	if err := e.setFlowLogs(false); err != nil {
		b.Fatal(err)
	}
	var ru unix.Rusage
	_ = unix.Getrusage(unix.RUSAGE_SELF, &ru)
	b.ReportMetric(float64(st.Flows), "tracked-flows")
	b.ReportMetric(st.LastDump.Seconds(), "last-dump-s")
	b.Logf("last dump: %d elements in %v", st.LastDumpElems, st.LastDump)
	b.ReportMetric(float64(int64(live)-int64(base))/1e6, "live-MB")
	b.ReportMetric(float64(int64(peak.Load())-int64(base))/1e6, "peak-MB")
	b.ReportMetric(float64(ru.Maxrss)/1e3, "process-maxrss-MB")
	if st.Flows < flows {
		b.Errorf("capture tracks %d flows, want at least %d", st.Flows, flows)
	}
	fmt.Fprintf(os.Stderr, "flowlog memory: %d flows tracked, heap base %d MB\n", st.Flows, base/1e6)
}
