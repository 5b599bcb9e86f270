package agent

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/vishvananda/netns"

	"github.com/palisade-project/palisade/internal/dataplane"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/netnsrun"
)

// LBHealthSink receives the health of the backends of the load balancers
// this host serves (service.ReportLBHealth, remote.Mirror.ReportLBHealth).
type LBHealthSink interface {
	ReportLBHealth(ctx context.Context, h []model.LBHealth) error
}

// LoadBalancer is an internal load balancer of this host's zone as the
// agent serves it: the record and the addresses of its backends (the
// primary address of each instance's primary ENI; a backend without one
// is left out).
type LoadBalancer struct {
	LB    model.LoadBalancer
	Addrs map[string]netip.Addr // server ID -> address
	// ACLs are the access control lists its listeners use, by ID.
	ACLs map[string]model.LBAccessControlList
}

// loadBalancers are the active load balancers of zone whose VPC has its
// namespace on this host.
func loadBalancers(s *snapshot, byVPC map[string]*dataplane.VPC, zone string) []LoadBalancer {
	primary := map[string]netip.Addr{} // instance ID -> address
	for _, e := range s.enis {
		if e.Type == model.ENITypePrimary && e.InstanceID != "" && e.PrimaryIP.Is4() {
			primary[e.InstanceID] = e.PrimaryIP
		}
	}
	var out []LoadBalancer
	for _, lb := range s.lbs {
		if lb.ZoneID != zone || lb.Status != model.LBStatusActive || byVPC[lb.VpcID] == nil || !lb.Address.Is4() {
			continue
		}
		addrs := map[string]netip.Addr{}
		for _, b := range lb.Backends {
			if a, ok := primary[b.ServerID]; ok {
				addrs[b.ServerID] = a
			}
		}
		acls := map[string]model.LBAccessControlList{}
		for _, ls := range lb.Listeners {
			if a, ok := s.lbACLs[ls.AclID]; ok && ls.AclStatus == model.LBACLOn {
				acls[a.ID] = a
			}
		}
		out = append(out, LoadBalancer{LB: lb, Addrs: addrs, ACLs: acls})
	}
	slices.SortFunc(out, func(a, b LoadBalancer) int { return cmpString(a.LB.ID, b.LB.ID) })
	return out
}

// lbRemotes routes the addresses of vpc's active load balancers served on
// other hosts (their zones') to those hosts, as the addresses of remote
// ENIs are: a client here reaches a load balancer there, which translates
// its connections to backends of its own zone, so that their replies come
// back through it.
func lbRemotes(s *snapshot, vpc, zone string, local model.Underlay, remote map[netip.Addr][]netip.Addr, seen map[netip.Addr]bool) {
	for _, lb := range s.lbs {
		if lb.VpcID != vpc || lb.ZoneID == zone || lb.Status != model.LBStatusActive || !lb.Address.IsValid() || seen[lb.Address] {
			continue
		}
		u, ok := s.underlays[lb.ZoneID]
		if !ok || !local.Joins(u) {
			continue
		}
		seen[lb.Address] = true
		remote[u.Addr] = append(remote[u.Addr], lb.Address)
	}
}

// lbProbeKey names one backend of one listener.
type lbProbeKey struct {
	LB       string
	Protocol string
	Port     int
	ServerID string
}

// lbProbe is what is checked and how often.
type lbProbe struct {
	VPC            string
	From           netip.Addr     // the load balancer's address
	To             netip.AddrPort // the backend's address and check port
	UDP            bool
	Interval       time.Duration
	Timeout        time.Duration
	HealthyAfter   int
	UnhealthyAfter int
}

// lbChecker runs the health checks of the listeners' backends, each in its
// own goroutine, and keeps their outcome. A new backend takes connections
// after its first check that succeeds; from then on UnhealthyThreshold
// failures in a row take it out and HealthyThreshold successes in a row
// bring it back, as the cloud's health checks do.
type lbChecker struct {
	probe func(ctx context.Context, p lbProbe) bool
	// changed is called (without the lock) when a backend's health flips.
	changed func()

	mu      sync.Mutex
	running map[lbProbeKey]*lbRun
	healthy map[lbProbeKey]bool
	// lbs are the load balancers as last synced, for reports.
	lbs   []LoadBalancer
	dirty bool
}

type lbRun struct {
	probe  lbProbe
	cancel context.CancelFunc
	done   chan struct{}
	// first is closed once the first check has an outcome.
	first chan struct{}
}

func newLBChecker(probe func(context.Context, lbProbe) bool, changed func()) *lbChecker {
	return &lbChecker{probe: probe, changed: changed, running: map[lbProbeKey]*lbRun{}, healthy: map[lbProbeKey]bool{}}
}

// lbProbes are the checks lbs need: one per backend of each running
// listener with its health check on.
func lbProbes(lbs []LoadBalancer) map[lbProbeKey]lbProbe {
	out := map[lbProbeKey]lbProbe{}
	for _, l := range lbs {
		for _, ls := range l.LB.Listeners {
			if ls.Status != model.ListenerRunning || !ls.HealthCheck.Enabled {
				continue
			}
			hc := ls.HealthCheck
			port := hc.ConnectPort
			if port == 0 {
				port = ls.BackendPort
			}
			for _, b := range l.LB.Backends {
				addr, ok := l.Addrs[b.ServerID]
				if !ok {
					continue
				}
				out[lbProbeKey{l.LB.ID, ls.Protocol, ls.Port, b.ServerID}] = lbProbe{
					VPC: l.LB.VpcID, From: l.LB.Address, To: netip.AddrPortFrom(addr, uint16(port)),
					UDP:          ls.Protocol == model.LBProtocolUDP,
					Interval:     time.Duration(max(hc.Interval, 1)) * time.Second,
					Timeout:      time.Duration(max(hc.ConnectTimeout, 1)) * time.Second,
					HealthyAfter: max(hc.HealthyThreshold, 1), UnhealthyAfter: max(hc.UnhealthyThreshold, 1),
				}
			}
		}
	}
	return out
}

// sync starts the checks lbs need and stops the others (forgetting their
// outcome).
func (c *lbChecker) sync(lbs []LoadBalancer) {
	want := lbProbes(lbs)
	var stopped []*lbRun
	c.mu.Lock()
	c.lbs = lbs
	c.dirty = true
	for k, r := range c.running {
		if p, ok := want[k]; ok && p == r.probe {
			continue
		}
		r.cancel()
		stopped = append(stopped, r)
		delete(c.running, k)
		delete(c.healthy, k)
	}
	var started []*lbRun
	for k, p := range want {
		if _, ok := c.running[k]; ok {
			continue
		}
		ctx, cancel := context.WithCancel(context.Background())
		r := &lbRun{probe: p, cancel: cancel, done: make(chan struct{}), first: make(chan struct{})}
		c.running[k] = r
		started = append(started, r)
		go c.run(ctx, k, r)
	}
	c.mu.Unlock()
	for _, r := range stopped {
		<-r.done
	}
	// The first check of each new backend, briefly: a restarted agent
	// (whose checks all start anew) then gives the kernel the backends
	// that answer instead of none, and no new connection is dropped
	// meanwhile; a new backend takes connections from the first
	// reconciliation after it answers.
	deadline := time.NewTimer(lbFirstCheckWait)
	defer deadline.Stop()
	for _, r := range started {
		select {
		case <-r.first:
		case <-deadline.C:
			return
		}
	}
}

// lbFirstCheckWait bounds how long sync waits for new backends' first
// checks.
const lbFirstCheckWait = 2 * time.Second

// stop ends every check.
func (c *lbChecker) stop() { c.sync(nil) }

func (c *lbChecker) run(ctx context.Context, k lbProbeKey, r *lbRun) {
	defer close(r.done)
	p := r.probe
	known, healthy, streak, first := false, false, 0, true
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		ok := c.probe(ctx, p)
		if ctx.Err() != nil {
			return
		}
		flip := false
		switch {
		case !known:
			known, flip, streak = ok, ok, 0 // the first success admits it
		case ok == healthy:
			streak = 0
		default:
			streak++
			need := p.UnhealthyAfter
			if ok {
				need = p.HealthyAfter
			}
			flip = streak >= need
		}
		if flip {
			healthy, streak = ok, 0
			c.mu.Lock()
			if c.running[k] == r {
				c.healthy[k] = ok
				c.dirty = true
			}
			c.mu.Unlock()
			c.changed()
		}
		if first {
			close(r.first)
			first = false
		}
		t.Reset(p.Interval)
	}
}

// backends are a listener's backends that take new connections: weight
// above 0, and healthy when the listener checks them.
func (c *lbChecker) backends(l LoadBalancer, ls model.LBListener) []dataplane.LBBackend {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []dataplane.LBBackend
	for _, b := range l.LB.Backends {
		addr, ok := l.Addrs[b.ServerID]
		if !ok || b.Weight < 1 {
			continue
		}
		if ls.HealthCheck.Enabled && !c.healthy[lbProbeKey{l.LB.ID, ls.Protocol, ls.Port, b.ServerID}] {
			continue
		}
		out = append(out, dataplane.LBBackend{Addr: addr, Weight: min(b.Weight, 100)})
	}
	return out
}

// mirrorBackends are the addresses a load balancer spreads mirrored copies
// over: the backends of its running UDP listener on the VXLAN port (4789)
// that take connections now, each as often as its weight is worth (all
// once for round robin), and the server ID of the first (nil: none).
func (c *lbChecker) mirrorBackends(l LoadBalancer) ([]netip.Addr, string) {
	i := slices.IndexFunc(l.LB.Listeners, func(ls model.LBListener) bool {
		return ls.Protocol == model.LBProtocolUDP && ls.Port == model.MirrorVXLANPort && ls.Status == model.ListenerRunning
	})
	if i < 0 {
		return nil, ""
	}
	ls := l.LB.Listeners[i]
	bs := c.backends(l, ls)
	if len(bs) == 0 {
		return nil, ""
	}
	first := ""
	for id, a := range l.Addrs {
		if a == bs[0].Addr {
			first = id
		}
	}
	return dataplane.LBListener{RoundRobin: ls.Scheduler == model.LBSchedulerRR, Backends: bs}.Slots(), first
}

// place gives each VPC of h its load balancers' running listeners with
// the backends that take connections now, and so its PrivateLink
// endpoints of services backed by one of them; it returns the counts of
// backendCounts.
func (c *lbChecker) place(h *dataplane.Host, lbs []LoadBalancer) (taking, out int) {
	byVPC := map[string][]dataplane.LoadBalancer{}
	for _, l := range lbs {
		dl := dataplane.LoadBalancer{ID: l.LB.ID, Addr: l.LB.Address}
		for _, ls := range l.LB.Listeners {
			if ls.Status != model.ListenerRunning {
				continue
			}
			dl.Listeners = append(dl.Listeners, dataplane.LBListener{
				Protocol: ls.Protocol, Port: uint16(ls.Port), BackendPort: uint16(ls.BackendPort),
				RoundRobin: ls.Scheduler == model.LBSchedulerRR, Backends: c.backends(l, ls), ACL: listenerACL(l, ls),
			})
		}
		byVPC[l.LB.VpcID] = append(byVPC[l.LB.VpcID], dl)
	}
	placeVPCs(h, byVPC)
	return backendCounts(lbs, byVPC)
}

// backendCounts are the backends of the running listeners of lbs that
// take new connections (as placed) and the others (weight 0, health check
// not passed, no address).
func backendCounts(lbs []LoadBalancer, placed map[string][]dataplane.LoadBalancer) (taking, out int) {
	for _, v := range placed {
		for _, lb := range v {
			for _, l := range lb.Listeners {
				taking += len(l.Backends)
			}
		}
	}
	for _, l := range lbs {
		for _, ls := range l.LB.Listeners {
			if ls.Status == model.ListenerRunning {
				out += len(l.LB.Backends)
			}
		}
	}
	return taking, out - taking
}

// placeVPCs gives each VPC of h its load balancers as placed, and so its
// PrivateLink endpoints of services backed by one of them.
func placeVPCs(h *dataplane.Host, byVPC map[string][]dataplane.LoadBalancer) {
	byID := map[string]dataplane.LoadBalancer{}
	for _, lbs := range byVPC {
		for _, lb := range lbs {
			byID[lb.ID] = lb
		}
	}
	for i := range h.VPCs {
		h.VPCs[i].LoadBalancers = byVPC[h.VPCs[i].ID]
		// PrivateLink endpoints of services backed by a load balancer
		// translate as its listeners do (none: it serves nothing now).
		for j, ep := range h.VPCs[i].Endpoints {
			if ep.LoadBalancer != "" {
				h.VPCs[i].Endpoints[j].Listeners = byID[ep.LoadBalancer].Listeners
			}
		}
	}
}

// listenerACL is a listener's access control for the data plane (nil:
// none). A list that is on but missing (being deleted) admits no one: a
// whitelist of nothing would admit everyone, so it fails closed as a
// whitelist of one unroutable address instead.
func listenerACL(l LoadBalancer, ls model.LBListener) *dataplane.LBACL {
	if ls.AclStatus != model.LBACLOn {
		return nil
	}
	a, ok := l.ACLs[ls.AclID]
	if !ok {
		return &dataplane.LBACL{White: true, Prefixes: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/32")}}
	}
	out := &dataplane.LBACL{White: ls.AclType == model.LBACLWhite}
	for _, e := range a.Entries {
		if e.Entry.Addr().Is4() {
			out.Prefixes = append(out.Prefixes, e.Entry.Masked())
		}
	}
	return out
}

// report is the health of every checked backend, when it changed since
// the last report (nil otherwise).
func (c *lbChecker) report() []model.LBHealth {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.dirty {
		return nil
	}
	c.dirty = false
	out := []model.LBHealth{}
	now := time.Now().UTC()
	for _, l := range c.lbs {
		h := model.LBHealth{LoadBalancerID: l.LB.ID, UpdatedAt: now}
		for _, ls := range l.LB.Listeners {
			if ls.Status != model.ListenerRunning || !ls.HealthCheck.Enabled {
				continue
			}
			lh := model.LBListenerHealth{Protocol: ls.Protocol, Port: ls.Port}
			for _, b := range l.LB.Backends {
				k := lbProbeKey{l.LB.ID, ls.Protocol, ls.Port, b.ServerID}
				if _, checked := c.running[k]; !checked {
					continue
				}
				st := model.LBHealthAbnormal
				if c.healthy[k] {
					st = model.LBHealthNormal
				}
				lh.Servers = append(lh.Servers, model.LBServerHealth{ServerID: b.ServerID, Status: st})
			}
			h.Listeners = append(h.Listeners, lh)
		}
		out = append(out, h)
	}
	return out
}

// lbReportPeriod is how often changed health is sent to the server.
const lbReportPeriod = time.Second

// runLBReports sends the backends' health when it changed, until ctx ends.
func (a *Agent) runLBReports(ctx context.Context) {
	if a.cfg.LBHealth == nil {
		return
	}
	t := time.NewTicker(lbReportPeriod)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		h := a.lbs.report()
		if h == nil {
			continue
		}
		if err := a.cfg.LBHealth.ReportLBHealth(ctx, h); err != nil {
			a.log.Warn("report load balancer health", "err", err)
			a.lbs.mu.Lock()
			a.lbs.dirty = true // again at the next tick
			a.lbs.mu.Unlock()
		}
	}
}

// probeLBBackend checks one backend from the load balancer's address in
// the VPC's namespace: a TCP connection that opens (closed at once with a
// reset), or a UDP datagram not refused by ICMP port unreachable within the
// timeout (an answer, or silence, passes: the cloud's UDP check without a
// request string).
func probeLBBackend(ctx context.Context, p lbProbe) bool {
	ns, err := netns.GetFromPath(filepath.Join("/run/netns", p.VPC))
	if err != nil {
		return false
	}
	defer ns.Close()
	ctx, cancel := context.WithTimeout(ctx, p.Timeout)
	defer cancel()
	var conn net.Conn
	err = netnsrun.In(ns, func() error {
		var err error
		if p.UDP {
			conn, err = net.DialUDP("udp4", &net.UDPAddr{IP: p.From.AsSlice()}, net.UDPAddrFromAddrPort(p.To))
			return err
		}
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: p.From.AsSlice()}}
		conn, err = d.DialContext(ctx, "tcp4", p.To.String())
		return err
	})
	if err != nil {
		return false
	}
	defer conn.Close()
	if !p.UDP {
		_ = conn.(*net.TCPConn).SetLinger(0)
		return true
	}
	if _, err := conn.Write([]byte("palisade health check")); err != nil {
		return !errors.Is(err, syscall.ECONNREFUSED)
	}
	deadline, _ := ctx.Deadline()
	_ = conn.SetReadDeadline(deadline)
	_, err = conn.Read(make([]byte, 512))
	return !errors.Is(err, syscall.ECONNREFUSED)
}
