package agent

import (
	"context"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/dataplane"
	"github.com/palisade-project/palisade/internal/model"
)

// fakeBackends answers probes from a table the test changes.
type fakeBackends struct {
	mu sync.Mutex
	up map[netip.Addr]bool
	// probed counts the probes of each address that read up (under mu).
	probed map[netip.Addr]int
}

func (f *fakeBackends) probe(_ context.Context, p lbProbe) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.probed == nil {
		f.probed = map[netip.Addr]int{}
	}
	f.probed[p.To.Addr()]++
	return f.up[p.To.Addr()]
}

// probes is how many probes of a have read its state so far.
func (f *fakeBackends) probes(a netip.Addr) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.probed[a]
}

func (f *fakeBackends) set(a netip.Addr, up bool) {
	f.mu.Lock()
	f.up[a] = up
	f.mu.Unlock()
}

func testLB() LoadBalancer {
	hc := model.LBHealthCheck{Enabled: true, Interval: 1, ConnectTimeout: 1, HealthyThreshold: 2, UnhealthyThreshold: 2}
	return LoadBalancer{
		LB: model.LoadBalancer{ID: "lb-1", VpcID: "vpc-1", Address: netip.MustParseAddr("10.0.0.100"), Status: model.LBStatusActive,
			Listeners: []model.LBListener{
				{Protocol: "tcp", Port: 80, BackendPort: 8080, Status: model.ListenerRunning, HealthCheck: hc},
				{Protocol: "udp", Port: 53, BackendPort: 53, Status: model.ListenerRunning, Scheduler: model.LBSchedulerRR},
				{Protocol: "tcp", Port: 81, BackendPort: 8081, Status: model.ListenerStopped, HealthCheck: hc},
			},
			Backends: []model.LBBackend{{ServerID: "i-a", Weight: 100}, {ServerID: "i-b", Weight: 50}, {ServerID: "i-c", Weight: 0}, {ServerID: "i-gone", Weight: 10}}},
		Addrs: map[string]netip.Addr{"i-a": netip.MustParseAddr("10.0.0.1"), "i-b": netip.MustParseAddr("10.0.0.2"), "i-c": netip.MustParseAddr("10.0.0.3")},
	}
}

func placed(c *lbChecker, lbs []LoadBalancer) []dataplane.LBListener {
	h := dataplane.Host{VPCs: []dataplane.VPC{{ID: "vpc-1"}, {ID: "vpc-2"}}}
	c.place(&h, lbs)
	if len(h.VPCs[1].LoadBalancers) != 0 || len(h.VPCs[0].LoadBalancers) != 1 {
		return nil
	}
	return h.VPCs[0].LoadBalancers[0].Listeners
}

func backendAddrs(l dataplane.LBListener) map[string]int {
	out := map[string]int{}
	for _, b := range l.Backends {
		out[b.Addr.String()] = b.Weight
	}
	return out
}

func TestLBProbes(t *testing.T) {
	got := lbProbes([]LoadBalancer{testLB()})
	// Only the running checked listener (tcp/80), only backends with an
	// address (i-gone has none); weight 0 is still checked.
	if len(got) != 3 {
		t.Fatalf("probes: %v", got)
	}
	p := got[lbProbeKey{"lb-1", "tcp", 80, "i-b"}]
	if p.To != netip.MustParseAddrPort("10.0.0.2:8080") || p.From != netip.MustParseAddr("10.0.0.100") || p.UDP || p.VPC != "vpc-1" || p.Interval != time.Second || p.HealthyAfter != 2 {
		t.Errorf("probe of i-b: %+v", p)
	}
	lb := testLB()
	lb.LB.Listeners[0].HealthCheck.ConnectPort = 9000
	if p := lbProbes([]LoadBalancer{lb})[lbProbeKey{"lb-1", "tcp", 80, "i-a"}]; p.To.Port() != 9000 {
		t.Errorf("connect port: %v", p.To)
	}
}

// TestLBChecker: a backend takes connections after its first successful
// check; then it needs UnhealthyThreshold failures to leave and
// HealthyThreshold successes to come back; the listener without health
// check takes every backend with a weight; stopped listeners are not
// placed; reports say normal/abnormal and only when something changed.
func TestLBChecker(t *testing.T) {
	a, b := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	fb := &fakeBackends{up: map[netip.Addr]bool{a: true}}
	var flips atomic.Int64
	c := newLBChecker(fb.probe, func() { flips.Add(1) })
	defer c.stop()
	lbs := []LoadBalancer{testLB()}
	c.sync(lbs)

	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	tcp80 := func() map[string]int { return backendAddrs(placed(c, lbs)[0]) }
	waitFor("a admitted", func() bool { return len(tcp80()) == 1 && tcp80()["10.0.0.1"] == 100 })
	ls := placed(c, lbs)
	if len(ls) != 2 || ls[1].Protocol != "udp" || !ls[1].RoundRobin || len(ls[1].Backends) != 2 {
		t.Fatalf("listeners placed: %+v", ls)
	}
	// Two running listeners of four backends: tcp/80 takes a (b not yet
	// checked), udp/53 a and b (c has weight 0, i-gone no address).
	if taking, out := c.place(&dataplane.Host{VPCs: []dataplane.VPC{{ID: "vpc-1"}}}, lbs); taking != 3 || out != 5 {
		t.Errorf("backends taking %d, out %d; want 3 and 5", taking, out)
	}
	rep := c.report()
	if len(rep) != 1 || len(rep[0].Listeners) != 1 || len(rep[0].Listeners[0].Servers) != 3 {
		t.Fatalf("report: %+v", rep)
	}
	for _, s := range rep[0].Listeners[0].Servers {
		want := model.LBHealthAbnormal
		if s.ServerID == "i-a" {
			want = model.LBHealthNormal
		}
		if s.Status != want {
			t.Errorf("report: %s %s, want %s", s.ServerID, s.Status, want)
		}
	}
	if c.report() != nil {
		t.Error("a second report without change")
	}

	fb.set(b, true)
	waitFor("b admitted", func() bool { return len(tcp80()) == 2 })
	// One failure is not enough to leave (threshold 2): after the first
	// failed check a is still in; after the second it is out.
	fb.set(a, false)
	// a's own next probe, not a count of every backend's: timers that
	// drift under load may probe a twice while others once.
	before := fb.probes(a)
	waitFor("a checked once", func() bool { return fb.probes(a) >= before+1 })
	if _, in := tcp80()["10.0.0.1"]; !in {
		t.Error("a left after one failure")
	}
	waitFor("a out", func() bool { _, in := tcp80()["10.0.0.1"]; return !in })
	fb.set(a, true)
	waitFor("a back", func() bool { _, in := tcp80()["10.0.0.1"]; return in })
	if flips.Load() < 4 {
		t.Errorf("changed called %d times", flips.Load())
	}

	// The listener stops: its checks end and it is not placed.
	lbs[0].LB.Listeners[0].Status = model.ListenerStopped
	c.sync(lbs)
	if len(c.running) != 0 {
		t.Errorf("checks still running: %d", len(c.running))
	}
	if ls := placed(c, lbs); len(ls) != 1 || ls[0].Protocol != "udp" {
		t.Errorf("listeners placed after the stop: %+v", ls)
	}
}

// TestLBPlaceEndpoints: a PrivateLink endpoint of a service backed by a
// load balancer gets that load balancer's listeners as placed (running
// ones, backends that take connections); one of a load balancer not served
// here gets none.
func TestLBPlaceEndpoints(t *testing.T) {
	c := newLBChecker(func(context.Context, lbProbe) bool { return true }, func() {})
	defer c.stop()
	lb := testLB()
	lb.LB.Listeners[0].HealthCheck.Enabled = false
	h := dataplane.Host{VPCs: []dataplane.VPC{{ID: "vpc-1"}, {ID: "vpc-c", Endpoints: []dataplane.Endpoint{
		{ENIID: "eni-ep1", LoadBalancer: "lb-1"}, {ENIID: "eni-ep2", LoadBalancer: "lb-elsewhere"}, {ENIID: "eni-ep3"},
	}}}}
	c.place(&h, []LoadBalancer{lb})
	eps := h.VPCs[1].Endpoints
	if len(eps[0].Listeners) != 2 || eps[0].Listeners[0].Port != 80 || len(eps[0].Listeners[0].Backends) != 2 {
		t.Errorf("endpoint of lb-1: %+v", eps[0].Listeners)
	}
	if eps[1].Listeners != nil || eps[2].Listeners != nil {
		t.Errorf("endpoints of another load balancer and of instances: %+v, %+v", eps[1].Listeners, eps[2].Listeners)
	}
}

// TestListenerACL: a listener's access control as the data plane gets it;
// a list that is on but missing admits no one.
func TestListenerACL(t *testing.T) {
	l := LoadBalancer{ACLs: map[string]model.LBAccessControlList{"acl-1": {ID: "acl-1", Entries: []model.LBACLEntry{
		{Entry: netip.MustParsePrefix("10.0.0.0/24")}, {Entry: netip.MustParsePrefix("10.0.1.7/32")}}}}}
	if got := listenerACL(l, model.LBListener{AclID: "acl-1"}); got != nil {
		t.Errorf("off: %+v", got)
	}
	got := listenerACL(l, model.LBListener{AclStatus: model.LBACLOn, AclType: model.LBACLWhite, AclID: "acl-1"})
	if got == nil || !got.White || len(got.Prefixes) != 2 {
		t.Errorf("whitelist: %+v", got)
	}
	if got := listenerACL(l, model.LBListener{AclStatus: model.LBACLOn, AclType: model.LBACLBlack, AclID: "acl-1"}); got == nil || got.White || len(got.Prefixes) != 2 {
		t.Errorf("blacklist: %+v", got)
	}
	got = listenerACL(l, model.LBListener{AclStatus: model.LBACLOn, AclType: model.LBACLBlack, AclID: "acl-gone"})
	if got == nil || !got.White || len(got.Prefixes) != 1 || got.Prefixes[0] != netip.MustParsePrefix("0.0.0.0/32") {
		t.Errorf("a missing list must admit no one: %+v", got)
	}
}
