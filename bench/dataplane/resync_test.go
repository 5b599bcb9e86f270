package dataplane_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/agent"
	"github.com/palisade-project/palisade/internal/dataplane"
	"github.com/palisade-project/palisade/internal/policy"
)

// timedTopology and timedFirewall add up the time the agent spends in the
// data plane's Apply and in program loads, so a resync can be broken down.
type timedTopology struct {
	inner agent.Topology
	mu    sync.Mutex
	total time.Duration
}

func (t *timedTopology) Apply(ctx context.Context, h dataplane.Host) (dataplane.Status, error) {
	start := time.Now()
	st, err := t.inner.Apply(ctx, h)
	t.mu.Lock()
	t.total += time.Since(start)
	t.mu.Unlock()
	return st, err
}

func (t *timedTopology) take() time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	d := t.total
	t.total = 0
	return d
}

type timedFirewall struct {
	inner     agent.Firewall
	mu        sync.Mutex
	load, cut time.Duration
}

func (f *timedFirewall) Load(ctx context.Context, vpcID string, p *policy.Program) error {
	start := time.Now()
	err := f.inner.Load(ctx, vpcID, p)
	f.mu.Lock()
	f.load += time.Since(start)
	f.mu.Unlock()
	return err
}

func (f *timedFirewall) CutDenied(ctx context.Context, vpcID string, w policy.World) (int, error) {
	start := time.Now()
	n, err := f.inner.CutDenied(ctx, vpcID, w)
	f.mu.Lock()
	f.cut += time.Since(start)
	f.mu.Unlock()
	return n, err
}

func (f *timedFirewall) take() (load, cut time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	load, cut = f.load, f.cut
	f.load, f.cut = 0, 0
	return load, cut
}

const (
	resyncENIs          = 100
	resyncGroups        = 10
	resyncRulesPerGroup = 1000
)

// resyncWorld writes one VPC with 100 instances (one ENI each) spread over
// 10 groups of 1,000 random rules (both directions), so every ENI carries
// 1,000 rules.
func resyncWorld(b *testing.B) *kworld {
	w := newKWorld(randTag())
	b.Cleanup(w.close)
	vpcID, vswID, err := w.vpc("r", "10.88.0.0/16")
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 4))
	var gids []string
	for g := range resyncGroups {
		gid := fmt.Sprintf("sg-%sg%d", w.tag, g)
		rules := randomRules(r, fmt.Sprintf("%sg%di", w.tag, g), "ingress", resyncRulesPerGroup/2)
		rules = append(rules, randomRules(r, fmt.Sprintf("%sg%de", w.tag, g), "egress", resyncRulesPerGroup/2)...)
		if err := w.group(gid, vpcID, rules); err != nil {
			b.Fatal(err)
		}
		gids = append(gids, gid)
	}
	for i := range resyncENIs {
		addr := netip.AddrFrom4([4]byte{10, 88, byte(1 + i/200), byte(10 + i%200)})
		if _, _, err := w.instance(fmt.Sprintf("n%d", i), vpcID, vswID, addr, gids[i%resyncGroups]); err != nil {
			b.Fatal(err)
		}
	}
	return w
}

// BenchmarkFullResync measures agent.Reconcile for 100 ENIs with 1,000
// rules each: from scratch (no namespace exists, a fresh agent: namespaces,
// veths, routes, anti-spoofing and the program are all made) and with no
// change (everything is in place and is only checked). Goal: from scratch
// under 2 s.
func BenchmarkFullResync(b *testing.B) {
	needKernel(b)
	report := func(b *testing.B, w *kworld, total time.Duration, n int) {
		load, cut := w.fwT.take()
		topo := w.topo.take()
		b.ReportMetric(total.Seconds()/float64(n), "s/resync")
		b.ReportMetric(load.Seconds()/float64(n), "load-s/resync")
		b.ReportMetric(topo.Seconds()/float64(n), "topology-s/resync")
		b.ReportMetric((total-load-topo-cut).Seconds()/float64(n), "build-s/resync")
		b.ReportMetric(cut.Seconds()/float64(n), "cut-s/resync")
	}
	b.Run("state=scratch", func(b *testing.B) {
		w := resyncWorld(b)
		var total time.Duration
		for b.Loop() {
			b.StopTimer()
			if err := w.ap.Cleanup(w.ctx); err != nil {
				b.Fatal(err)
			}
			w.newAgent()
			b.StartTimer()
			start := time.Now()
			if err := w.a.Reconcile(w.ctx); err != nil {
				b.Fatal(err)
			}
			total += time.Since(start)
		}
		report(b, w, total, b.N)
	})
	b.Run("state=nochange", func(b *testing.B) {
		w := resyncWorld(b)
		if err := w.a.Reconcile(w.ctx); err != nil {
			b.Fatal(err)
		}
		w.fwT.take()
		w.topo.take()
		var total time.Duration
		for b.Loop() {
			start := time.Now()
			if err := w.a.Reconcile(w.ctx); err != nil {
				b.Fatal(err)
			}
			total += time.Since(start)
		}
		report(b, w, total, b.N)
	})
}
