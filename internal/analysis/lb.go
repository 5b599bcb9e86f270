package analysis

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/policy"
)

// Internal load balancers (Server Load Balancer, model.LoadBalancer), as
// the data plane serves them (README, "Server Load Balancer"; the agent's
// slb.go and the data plane's palisade_lb table):
//
//   - the address is a local address of the VPC's router on the host of
//     the load balancer's zone, served while the load balancer is active;
//     the VPC's other hosts route it to that host through the overlay when
//     their underlays join (as an instance's address);
//   - a new TCP or UDP connection to a running listener's port is
//     translated there, before routing, to one of the backends that take
//     connections now (weight above 0, and health "normal" when the
//     listener checks health), on the listener's backend port, with the
//     client's address kept; it is then forwarded like any packet between
//     ENIs: network ACLs and security groups judge the translated packet;
//   - ICMP echo is answered by the address itself; anything else sent to
//     it ends in the router and is dropped silently.
//
// A client on the load balancer's host (its zone) is translated before its
// own filters see the packet, so its egress rules and vSwitch ACL judge
// the backend's address and port; a client of another zone is judged on
// its own host, with the load balancer's address and port, and the
// backend's side on the load balancer's host. A packet that is not
// translated ends in the router: on the client's own host no security
// group or ACL sees it (they judge forwarded packets). A backend cannot
// reach itself through its own load balancer (its reply would come from
// its own address).
//
// A path to a load balancer is one path per backend of the listener
// (Reach reports the pair reachable when one of them is): the
// load-balancer step (the listener, or why nothing is), the lb-backend
// step (whether the backend takes new connections now) and the filters of
// the translated connection, exactly as to the backend directly.

// indexLoadBalancers indexes World.LoadBalancers and World.LBHealth.
func (a *Analyzer) indexLoadBalancers() {
	w := a.w
	a.lbs = make(map[string]*model.LoadBalancer, len(w.LoadBalancers))
	a.lbByAddr = make(map[vpcAddr]*model.LoadBalancer, len(w.LoadBalancers))
	a.lbHealth = make(map[string]*model.LBHealth, len(w.LBHealth))
	for i := range w.LoadBalancers {
		lb := &w.LoadBalancers[i]
		a.lbs[lb.ID] = lb
		if lb.Address.IsValid() {
			a.lbByAddr[vpcAddr{lb.VpcID, lb.Address.Unmap()}] = lb
		}
	}
	for i := range w.LBHealth {
		a.lbHealth[w.LBHealth[i].LoadBalancerID] = &w.LBHealth[i]
	}
	a.lbACLs = make(map[string]*model.LBAccessControlList, len(w.LBACLs))
	for i := range w.LBACLs {
		a.lbACLs[w.LBACLs[i].ID] = &w.LBACLs[i]
	}
}

// lbACLAdmits says whether listener l's access control admits a new
// connection from src, and why: a whitelist admits its entries only, a
// blacklist refuses them, an empty list admits everyone (as the cloud
// documents), a list that is on but missing admits no one (as the agent
// programs it).
func (a *Analyzer) lbACLAdmits(l *model.LBListener, src netip.Addr) (bool, string) {
	if l.AclStatus != model.LBACLOn {
		return true, ""
	}
	acl := a.lbACLs[l.AclID]
	if acl == nil {
		return false, fmt.Sprintf("its access control list %s is missing, so it admits no one", l.AclID)
	}
	kind := map[bool]string{true: "whitelist", false: "blacklist"}[l.AclType == model.LBACLWhite]
	if len(acl.Entries) == 0 {
		return true, fmt.Sprintf("its %s %s has no entries and admits everyone", kind, acl.ID)
	}
	for _, e := range acl.Entries {
		if e.Entry.Contains(src) {
			if l.AclType == model.LBACLWhite {
				return true, fmt.Sprintf("its whitelist %s admits %s (entry %s)", acl.ID, src, e.Entry)
			}
			return false, fmt.Sprintf("its blacklist %s refuses %s (entry %s)", acl.ID, src, e.Entry)
		}
	}
	if l.AclType == model.LBACLWhite {
		return false, fmt.Sprintf("its whitelist %s has no entry for %s", acl.ID, src)
	}
	return true, fmt.Sprintf("its blacklist %s has no entry for %s", acl.ID, src)
}

// withLB marks t, a resolved address, as a load balancer's when no ENI
// holds it and it is one's (in t's VPC, or any VPC of the address when
// no other end hints at one).
func (a *Analyzer) withLB(t target, hintVPC string) target {
	if t.eni != nil || t.vpc == "" {
		return t
	}
	if lb := a.lbByAddr[vpcAddr{t.vpc, t.addr}]; lb != nil {
		t.lb = lb
		return t
	}
	if hintVPC == "" {
		for _, v := range a.vpcsOfAddr(t.addr) {
			if lb := a.lbByAddr[vpcAddr{v, t.addr}]; lb != nil {
				t.vpc, t.lb = v, lb
				return t
			}
		}
	}
	return t
}

func lbEndpoint(lb *model.LoadBalancer) Endpoint {
	return Endpoint{Kind: "load-balancer", Address: lb.Address.String(), LoadBalancer: lb.ID, VSwitch: lb.VSwitchID, VPC: lb.VpcID}
}

// lbStateStep is a load balancer's address at an end of a path that
// lbPaths does not follow: as a source (it opens nothing), or as the
// destination of a client outside its VPC.
func (a *Analyzer) lbStateStep(point string, t target) Step {
	lb := t.lb
	s := Step{Point: point, Resource: lb.ID, DecidedBy: ByLoadBalancer}
	if point != PointDestination {
		s.Detail = fmt.Sprintf("%s is the address of load balancer %s: nothing is sent from it but its health checks, which security groups do not judge", t.addr, lb.ID)
		return s
	}
	s.Detail = fmt.Sprintf("%s is the address of load balancer %s of %s: the analysis follows load balancers for clients of their own VPC only (ask about its backends directly)", t.addr, lb.ID, lb.VpcID)
	return s
}

// lbBackend is a backend server with the address the load balancer
// translates to: the primary IPv4 address of the instance's primary ENI
// (the agent's choice); eni is nil when there is none (why says why).
type lbBackend struct {
	b    model.LBBackend
	eni  *eniInfo
	addr netip.Addr
	why  string
}

func (a *Analyzer) lbBackendOf(b model.LBBackend) lbBackend {
	out := lbBackend{b: b}
	inst := a.insts[b.ServerID]
	if inst == nil {
		out.why = "instance " + b.ServerID + " does not exist"
		return out
	}
	var e *eniInfo
	if i, ok := a.eniIdx[inst.PrimaryENIID]; ok {
		e = a.enis[i]
	} else {
		for _, x := range a.instENIs[inst.ID] {
			if x.e.Type == model.ENITypePrimary {
				e = x
				break
			}
		}
	}
	switch {
	case e == nil:
		out.why = "instance " + inst.ID + " has no primary ENI"
	case !e.e.PrimaryIP.Is4():
		out.why = "the primary ENI " + e.e.ID + " of instance " + inst.ID + " has no IPv4 address"
	default:
		out.eni, out.addr = e, e.e.PrimaryIP.Unmap()
	}
	return out
}

// name is the backend for people: "i-b1 (10.0.1.11)".
func (be lbBackend) name() string {
	if be.eni == nil {
		return be.b.ServerID
	}
	return be.b.ServerID + " (" + be.addr.String() + ")"
}

func listenerName(l *model.LBListener) string {
	return fmt.Sprintf("%s listener on port %d", l.Protocol, l.Port)
}

// lbListenerStep is what load balancer lb does with pkt: the running
// listener of its protocol and port (l), or why it drops it or answers it
// itself (l nil). where says on which host that happens.
func (a *Analyzer) lbListenerStep(lb *model.LoadBalancer, pkt Packet, where string) (l *model.LBListener, s Step) {
	return a.lbListenerStepFrom(lb, pkt, "with the client's address kept", where)
}

// lbListenerStepFrom is lbListenerStep; source says which source address
// the translated connection has.
func (a *Analyzer) lbListenerStepFrom(lb *model.LoadBalancer, pkt Packet, source, where string) (l *model.LBListener, s Step) {
	s = Step{Point: PointLoadBalancer, Resource: lb.ID, DecidedBy: ByLoadBalancer}
	if lb.Status != model.LBStatusActive {
		s.Detail = fmt.Sprintf("dropped: load balancer %s is %s, so its address %s is not served (SetLoadBalancerStatus active serves it again)", lb.ID, lb.Status, lb.Address)
		return nil, s
	}
	switch pkt.Proto {
	case ProtoICMP:
		s.Allow = true
		s.Detail = fmt.Sprintf("load balancer %s answers ICMP echo requests to its address %s itself, on zone %s's host; no backend is involved (other ICMP messages to it are dropped)", lb.ID, lb.Address, lb.ZoneID)
		return nil, s
	case ProtoTCP, ProtoUDP:
	default:
		s.Detail = fmt.Sprintf("dropped by load balancer %s: its address %s takes ICMP echo and its listeners' TCP and UDP ports only", lb.ID, lb.Address)
		return nil, s
	}
	proto := ProtoName(pkt.Proto)
	var running []string
	for i := range lb.Listeners {
		x := &lb.Listeners[i]
		if x.Status == model.ListenerRunning {
			running = append(running, fmt.Sprintf("%s %d", x.Protocol, x.Port))
		}
		if x.Protocol == proto && x.Port == int(pkt.DstPort) {
			l = x
		}
	}
	drop := fmt.Sprintf("dropped by load balancer %s: no running %s listener on port %d", lb.ID, proto, pkt.DstPort)
	switch {
	case l == nil:
		s.Detail = drop
		if len(running) > 0 {
			s.Detail += " (running: " + strings.Join(running, ", ") + ")"
		}
		return nil, s
	case l.Status != model.ListenerRunning:
		s.Detail = fmt.Sprintf("%s (the %s is %s; StartLoadBalancerListener starts it)", drop, listenerName(l), l.Status)
		return nil, s
	}
	admitted, acl := a.lbACLAdmits(l, pkt.Src)
	if !admitted {
		s.Detail = fmt.Sprintf("dropped by the %s of load balancer %s: %s", listenerName(l), lb.ID, acl)
		s.DecidedBy = ByLoadBalancerACL
		s.RuleID = l.AclID
		return nil, s
	}
	hc := "health check off"
	if l.HealthCheck.Enabled {
		hc = "health check on"
	}
	s.Allow = true
	s.Detail = fmt.Sprintf("the %s of load balancer %s is running (scheduler %s, %s): a new connection goes to one of its backends that take connections now, translated to the backend's address and port %d %s, %s",
		listenerName(l), lb.ID, l.Scheduler, hc, l.BackendPort, source, where)
	if acl != "" {
		s.Detail += "; " + acl
	}
	if len(lb.Backends) == 0 {
		s.Allow = false
		s.Detail = fmt.Sprintf("dropped by load balancer %s: the %s is running but the load balancer has no backend servers (AddBackendServers)", lb.ID, listenerName(l))
	}
	return l, s
}

// lbBackendStep says whether backend be takes new connections of
// listener l now: weight above 0 and, when the listener checks health,
// "normal" in the last report of the load balancer's zone.
func (a *Analyzer) lbBackendStep(lb *model.LoadBalancer, l *model.LBListener, be lbBackend) Step {
	b := be.b
	s := Step{Point: PointLBBackend, Resource: b.ServerID, DecidedBy: ByLBWeight}
	if be.eni == nil {
		s.DecidedBy = ByState
		s.Detail = fmt.Sprintf("backend %s has no address to translate to: %s, so the load balancer leaves it out", b.ServerID, be.why)
		return s
	}
	if b.Weight < 1 {
		s.Detail = fmt.Sprintf("backend %s has weight 0: it takes no new connections", be.name())
		return s
	}
	if !l.HealthCheck.Enabled {
		s.Allow = true
		s.Detail = fmt.Sprintf("backend %s (%s, weight %d) takes new connections: the listener checks no health", b.ServerID, be.addr, b.Weight)
		return s
	}
	s.DecidedBy = ByLBHealth
	h := a.lbHealth[lb.ID]
	if h == nil {
		s.Detail = fmt.Sprintf("no health report for load balancer %s yet (from the agent of zone %s): a backend takes connections after its first health check that passes, so %s takes none", lb.ID, lb.ZoneID, be.name())
		return s
	}
	at := ""
	if !h.UpdatedAt.IsZero() {
		at = ", reported " + h.UpdatedAt.UTC().Format(time.RFC3339)
	}
	status := ""
	for _, lh := range h.Listeners {
		if lh.Protocol != l.Protocol || lh.Port != l.Port {
			continue
		}
		for _, sh := range lh.Servers {
			if sh.ServerID == b.ServerID {
				status = sh.Status
			}
		}
	}
	switch status {
	case model.LBHealthNormal:
		s.Allow = true
		s.Detail = fmt.Sprintf("backend %s (%s, weight %d) takes new connections: its health on the %s is normal%s", b.ServerID, be.addr, b.Weight, listenerName(l), at)
	case "":
		s.Detail = fmt.Sprintf("backend %s has no health report on the %s yet%s: it takes connections after its first health check that passes, so it takes none", be.name(), listenerName(l), at)
	default:
		s.Detail = fmt.Sprintf("backend %s is %s on the %s%s: its health check fails, so it takes no new connections", be.name(), status, listenerName(l), at)
	}
	return s
}

// lbRouteStep is the route of a client of another zone to the load
// balancer's address.
func lbRouteStep(f target, lb *model.LoadBalancer) Step {
	s := Step{Point: PointRoute, Resource: f.vpc, Allow: true, DecidedBy: ByRoute}
	s.Detail = fmt.Sprintf("system route of %s from vSwitch %s to load balancer %s's address %s in vSwitch %s", f.vpc, f.eni.e.VSwitchID, lb.ID, lb.Address, lb.VSwitchID)
	return s
}

// lbHostsStep is the step from zone fz's host to zone tz's on the way to
// or from load balancer lb (ok false on one host); e is the client's ENI
// (nil: the load balancer's host sends).
func (a *Analyzer) lbHostsStep(e *eniInfo, fz, tz string, lb *model.LoadBalancer) (Step, bool) {
	if !a.zonesCross(fz, tz) {
		return Step{}, false
	}
	v, other := hostsVerdict(0), ""
	if e != nil && !routedBetweenHosts(e.e) {
		v, other = hostsNotInstance, e.e.ID
	} else {
		v = a.zonesJoin(fz, tz, lb.VpcID)
	}
	s := a.zonesStep(fz, tz, lb.VpcID, v, other)
	if s.Allow && e != nil {
		s.Detail += "; the overlay routes load balancer " + lb.ID + "'s address to zone " + tz + "'s host"
	}
	return s, true
}

// lbPaths are the paths of pkt from f to t, the address of a load
// balancer: one per backend of the listener, or one that ends at the load
// balancer (no running listener, nothing to translate to, ICMP echo).
func (a *Analyzer) lbPaths(f, t target, pkt Packet) []PathResult {
	lb := t.lb
	if f.vpc != lb.VpcID || f.lb != nil {
		return []PathResult{a.path(f, t, pkt)}
	}
	pr := PathResult{From: a.endpointOf(f), To: lbEndpoint(lb), Packet: pkt.String()}
	var pre []Step
	if s, ok := a.stateStep(PointSource, f); ok {
		pre = append(pre, s)
	}
	if f.route != nil && (f.route.multi || f.routeDenies()) {
		pre = append(pre, a.instRouteStep(f, pkt))
		if f.routeDenies() {
			pr.Steps = pre
			return []PathResult{pr}
		}
	}
	// A client of another zone sends from its own host, where its filters
	// judge the packet to the load balancer's address.
	remote := f.eni != nil && f.eni.zone != "" && lb.ZoneID != "" && f.eni.zone != lb.ZoneID
	where := "on zone " + lb.ZoneID + "'s host"
	switch {
	case remote:
		where += " (the client's own host judged it with the load balancer's address)"
	case f.eni != nil:
		where = "on the client's own host, before its filters (which judge the translated connection)"
	}
	if remote {
		pre = append(pre,
			a.sgStep(PointSGEgress, f.eni, model.Egress, pkt),
			a.aclStep(PointACLEgress, f.eni, t, model.Egress, pkt),
			lbRouteStep(f, lb))
		if s, ok := a.lbHostsStep(f.eni, f.eni.zone, lb.ZoneID, lb); ok {
			pre = append(pre, s)
		}
	}
	l, ls := a.lbListenerStep(lb, pkt, where)
	if l == nil || len(lb.Backends) == 0 {
		if !remote && f.eni != nil {
			ls.Detail += "; the packet ends in the VPC's router on the client's own host, where security groups and network ACLs (which judge forwarded packets) do not see it"
		}
		pr.Steps = append(pre, ls)
		pr.Forward = allAllow(pr.Steps)
		pr.ReplyPasses = true
		if ls.Allow && remote {
			// The answer comes back from the load balancer's address.
			rp := pkt.reverse()
			if s := a.aclStep(PointACLIngress, f.eni, t, model.Ingress, rp); s.DecidedBy != ByNoACL {
				pr.Reply = []Step{{Point: "reply", Allow: s.Allow, DecidedBy: ByState,
					Detail: "reply " + rp.String() + ": security groups pass it (stateful), network ACLs evaluate it"}, s}
				pr.ReplyPasses = s.Allow
			}
		}
		pr.Reachable = pr.Forward && pr.ReplyPasses
		return []PathResult{pr}
	}
	out := make([]PathResult, 0, len(lb.Backends))
	for _, b := range lb.Backends {
		out = append(out, a.lbBackendPath(f, t, pkt, pre, ls, l, a.lbBackendOf(b), remote))
	}
	return out
}

// lbBackendPath is the path of pkt from f to load balancer t's listener l
// and on to backend be; pre are the steps before the load balancer, ls
// its step.
func (a *Analyzer) lbBackendPath(f, t target, pkt Packet, pre []Step, ls Step, l *model.LBListener, be lbBackend, remote bool) PathResult {
	lb := t.lb
	pr := PathResult{From: a.endpointOf(f), To: lbEndpoint(lb), Packet: pkt.String()}
	bs := a.lbBackendStep(lb, l, be)
	steps := append(slices.Clone(pre), ls)
	if be.eni == nil {
		pr.Steps = append(steps, bs)
		return pr
	}
	bt := target{eni: be.eni, addr: be.addr, vpc: be.eni.e.VpcID}
	ep := a.endpointOf(bt)
	pr.Backend = &ep
	if f.eni != nil && f.eni.inst != nil && f.eni.inst.ID == be.b.ServerID {
		bs.Allow = false
		bs.Detail = fmt.Sprintf("backend %s is the client itself: a backend cannot reach itself through its own load balancer (its reply would come from its own address)", be.name())
		pr.Steps = append(steps, bs)
		return pr
	}
	tp := pkt
	tp.Dst, tp.DstPort = be.addr, uint16(l.BackendPort)
	pr.Translated = tp.String()
	steps = append(steps, bs)
	if remote {
		// Translated on the load balancer's host; a backend of yet
		// another zone is one more crossing.
		if s, ok := a.lbHostsStep(nil, lb.ZoneID, be.eni.zone, lb); ok {
			steps = append(steps, s)
		}
	} else {
		if f.eni != nil {
			steps = append(steps,
				a.sgStep(PointSGEgress, f.eni, model.Egress, tp),
				a.aclStep(PointACLEgress, f.eni, bt, model.Egress, tp))
		}
		steps = append(steps, a.routeStep(f, bt))
		if f.eni != nil {
			if s, ok := a.hostsStep(f.eni, be.eni); ok {
				steps = append(steps, s)
			}
		}
	}
	steps = append(steps,
		a.aclStep(PointACLIngress, be.eni, f, model.Ingress, tp),
		a.sgStep(PointSGIngress, be.eni, model.Ingress, tp))
	if s, ok := a.stateStep(PointDestination, bt); ok {
		steps = append(steps, s)
	}
	pr.Steps = steps
	pr.Forward = allAllow(steps)

	// Replies: from the backend's address and port; the load balancer's
	// host translates their source back to its address and port on their
	// way out, so a client of another zone's ACL sees those.
	rp := tp.reverse()
	routed := a.replyLeaves(&pr, f, be.eni, be.addr, rp)
	if f.eni != nil {
		crp, other := rp, bt
		if remote {
			crp.Src, crp.SrcPort, other = lb.Address, pkt.DstPort, t
		}
		if s := a.aclStep(PointACLIngress, f.eni, other, model.Ingress, crp); s.DecidedBy != ByNoACL {
			if remote {
				s.Detail = "reply " + crp.String() + " (translated back on the load balancer's host): " + s.Detail
			}
			pr.Reply = append(pr.Reply, s)
			pr.ReplyPasses = pr.ReplyPasses && s.Allow
		}
	}
	if len(pr.Reply) > 0 {
		what := "network ACLs evaluate it"
		if routed {
			what = "the backend's routing and network ACLs decide"
		}
		pr.Reply = append([]Step{{Point: "reply", Allow: pr.ReplyPasses, DecidedBy: ByState,
			Detail: "reply " + rp.String() + ": security groups pass it (stateful), " + what + "; the load balancer translates its source back to " + netip.AddrPortFrom(lb.Address, pkt.DstPort).String()}}, pr.Reply...)
	}
	pr.Reachable = pr.Forward && pr.ReplyPasses
	return pr
}

func allAllow(steps []Step) bool {
	for _, s := range steps {
		if !s.Allow {
			return false
		}
	}
	return true
}

// lbNote says, for a client and a load balancer with several backends,
// which backends its connections reach, when some do and some do not.
func lbNote(from, to string, paths []PathResult, idx []int) string {
	var yes, no []string
	for _, i := range idx {
		p := paths[i]
		name := ""
		for _, s := range p.Steps {
			if s.Point == PointLBBackend {
				name = s.Resource
			}
		}
		if name == "" {
			return ""
		}
		if p.Backend != nil {
			name += " (" + p.Backend.Address + ")"
		}
		if p.Reachable {
			yes = append(yes, name)
		} else {
			no = append(no, name)
		}
	}
	if len(yes) == 0 || len(no) == 0 {
		return ""
	}
	return fmt.Sprintf("%s -> %s: new connections reach backend %s; not %s", from, to, strings.Join(yes, ", "), strings.Join(no, ", "))
}

// lbFindings reports each running listener of an active load balancer
// whose backends (those with an address) all have security groups without
// an ingress accept rule for the listener's protocol and backend port from
// an address of the load balancer's VPC (nor an inner-accept group with
// another member): every client's connection is dropped at the backend.
// (A rule that may admit some clients may still be narrowed by drops;
// only the certain case is reported, as for PrivateLink backends.)
func (a *Analyzer) lbFindings(in func(string) bool, add func(Finding)) {
	for i := range a.w.LoadBalancers {
		lb := &a.w.LoadBalancers[i]
		if !in(lb.VpcID) || lb.Status != model.LBStatusActive {
			continue
		}
		var bes []lbBackend
		for _, b := range lb.Backends {
			if be := a.lbBackendOf(b); be.eni != nil {
				bes = append(bes, be)
			}
		}
		if len(bes) == 0 {
			continue
		}
		cidrs := a.vpcCIDRs4(lb.VpcID)
		for j := range lb.Listeners {
			l := &lb.Listeners[j]
			if l.Status != model.ListenerRunning {
				continue
			}
			proto := ProtoTCP
			if l.Protocol == model.LBProtocolUDP {
				proto = ProtoUDP
			}
			if slices.ContainsFunc(bes, func(be lbBackend) bool { return a.mayAdmitClients(be, proto, uint16(l.BackendPort), cidrs) }) {
				continue
			}
			var names []string
			for _, be := range bes {
				names = append(names, be.name())
			}
			add(Finding{SeverityMedium, CodeLBBackendsRefuseVPC, lb.ID, "",
				fmt.Sprintf("the %s of load balancer %s sends its clients' connections to %s port %d of its backends %s, but their security groups admit no address of %s (%s) on it: every connection to the listener is dropped at the backends",
					listenerName(l), lb.ID, l.Protocol, l.BackendPort, strings.Join(names, ", "), lb.VpcID, prefixList(cidrs)),
				fmt.Sprintf("add an ingress rule accepting %s port %d from the clients' addresses (or their group) to the backends' groups; a rule on the listener's port %d does not count, the backends see the backend port",
					l.Protocol, l.BackendPort, l.Port)})
		}
	}
}

// vpcCIDRs4 are the IPv4 CIDRs of a VPC (load balancers are IPv4 only).
func (a *Analyzer) vpcCIDRs4(vpc string) []netip.Prefix {
	v := a.vpcs[vpc]
	if v == nil {
		return nil
	}
	var out []netip.Prefix
	for _, c := range append([]netip.Prefix{v.CidrBlock}, v.SecondaryCidrs...) {
		if c.IsValid() && c.Addr().Is4() {
			out = append(out, c)
		}
	}
	return out
}

func prefixList(ps []netip.Prefix) string {
	var out []string
	for _, p := range ps {
		out = append(out, p.String())
	}
	return strings.Join(out, ", ")
}

// mayAdmitClients reports whether backend be's security groups may admit
// a connection of proto to port from some address of cidrs: an ingress
// accept rule of the protocol and port (one that can match: not inert)
// whose source overlaps them or is a group with members (ENIs of the
// VPC), or an inner-accept group with another member.
func (a *Analyzer) mayAdmitClients(be lbBackend, proto uint8, port uint16, cidrs []netip.Prefix) bool {
	return a.mayAdmit(be, proto, port, cidrs, true)
}

// mayAdmit is mayAdmitClients; without viaGroups only rules with a CIDR
// source count (clients outside every group: transit addresses).
func (a *Analyzer) mayAdmit(be lbBackend, proto uint8, port uint16, cidrs []netip.Prefix, viaGroups bool) bool {
	for _, gid := range uniq(be.eni.e.SecurityGroupIDs) {
		gi, ok := a.groupIdx[gid]
		if !ok {
			return false // fail closed: the ENI passes nothing
		}
		g := a.groups[gi]
		if viaGroups && policy.InnerAccept(g.g) && len(g.members) > 1 {
			return true
		}
		for k := range g.ingress {
			r := &g.ingress[k]
			if r.drop {
				continue
			}
			if r.inert || !r.proto.has(uint16(proto)) || (r.ports && !r.dport.has(port)) || r.family == fam6 {
				continue
			}
			if r.local.IsValid() && !r.local.Contains(be.addr) {
				continue
			}
			switch {
			case r.peerGroup != "":
				if viaGroups && r.peerIdx >= 0 && len(a.groups[r.peerIdx].members) > 0 {
					return true
				}
			case r.peer.IsValid():
				if slices.ContainsFunc(cidrs, r.peer.Overlaps) {
					return true
				}
			}
		}
	}
	return false
}
