package analysis

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/palisade-project/palisade/internal/model"
)

// PrivateLink endpoints, as the data plane serves them (README,
// "PrivateLink"; the data plane's palisade_plc and palisade_plp tables):
// on the consumer's side an endpoint's ENI is a destination like any ENI
// (its security groups and vSwitch ACL judge the connection), passing it
// on while the endpoint is connected. On the provider's side the
// connection leaves from the transit address of the endpoint's zone
// (model.TransitRange):
//
//   - to a service backed by instances (ecs), to one of them at random;
//     not followed here (the endpoint's step says so);
//   - to a service backed by load balancers (slb), to the service's load
//     balancer of the endpoint's zone (the first by ID), translated on
//     that zone's host as the load balancer's own clients are: the running
//     listener of the connection's protocol and port picks one of its
//     backends that take connections, on the listener's backend port.
//     Nothing else crosses (other ports, ICMP, an inactive load
//     balancer). Each backend's vSwitch ACL and security groups judge the
//     connection with the transit address as source.
//
// The provider's side is read from the World: it is followed only for
// the account's own services (an endpoint of a service of another account
// ends at the endpoint, whose resources the analysis does not read).

// PointPrivateLink is a PrivateLink endpoint passing a connection on to
// its service's provider side (which the steps after it judge).
const PointPrivateLink = "privatelink"

// indexPrivateLink indexes World.Services and World.Endpoints.
func (a *Analyzer) indexPrivateLink() {
	w := a.w
	a.services = make(map[string]*model.EndpointService, len(w.Services))
	a.endpoints = make(map[string]*model.Endpoint, len(w.Endpoints))
	for i := range w.Services {
		a.services[w.Services[i].ID] = &w.Services[i]
	}
	for i := range w.Endpoints {
		a.endpoints[w.Endpoints[i].ID] = &w.Endpoints[i]
	}
}

// endpointTargets are the addresses of an endpoint's zones (their ENIs)
// as destinations.
func (a *Analyzer) endpointTargets(ep *model.Endpoint) []target {
	var out []target
	for _, z := range ep.Zones {
		if i, ok := a.eniIdx[z.ENIID]; ok {
			e := a.enis[i]
			addr := z.Addr.Unmap()
			if !addr.IsValid() {
				addr = e.e.PrimaryIP.Unmap()
			}
			out = append(out, target{eni: e, addr: addr, vpc: e.e.VpcID, elem: ep.ID})
		}
	}
	return out
}

// serviceLB is the load balancer an slb-backed service sends the
// connections of an endpoint zone to: its resource of the zone with the
// lowest ID (the agent's choice). id is "" when it has none there; lb is
// nil when that load balancer is not in the World.
func (a *Analyzer) serviceLB(sv *model.EndpointService, zone string) (id string, lb *model.LoadBalancer) {
	for _, r := range sv.Resources {
		if r.ResourceType == model.EndpointResourceSLB && r.ZoneID == zone && (id == "" || r.ResourceID < id) {
			id = r.ResourceID
		}
	}
	if id == "" {
		return "", nil
	}
	return id, a.lbs[id]
}

// endpointLBPaths are the paths of pkt from f to t, the ENI of an
// endpoint of a service of the World backed by load balancers: the path
// to the endpoint, then one per backend of the zone's load balancer's
// listener (or one that ends at the load balancer). ok is false when t
// is no such ENI (path answers as for any ENI).
func (a *Analyzer) endpointLBPaths(f, t target, pkt Packet) (out []PathResult, ok bool) {
	if t.eni == nil || t.eni.e.EndpointID == "" || t.public.IsValid() {
		return nil, false
	}
	ep := a.endpoints[t.eni.e.EndpointID]
	if ep == nil {
		return nil, false
	}
	sv := a.services[ep.ServiceID]
	if sv == nil || sv.Type() != model.EndpointResourceSLB {
		return nil, false
	}
	base := a.path(f, t, pkt)
	if !base.Forward || len(base.Steps) == 0 || base.Steps[len(base.Steps)-1].Point != PointDestination {
		// Blocked on the consumer's side (the endpoint's groups, its
		// connection status): nothing reaches the provider.
		return []PathResult{base}, true
	}
	zi := slices.IndexFunc(ep.Zones, func(z model.EndpointZone) bool { return z.ENIID == t.eni.e.ID })
	if zi < 0 {
		return []PathResult{base}, true
	}
	z := ep.Zones[zi]
	pre := slices.Clone(base.Steps[:len(base.Steps)-1])
	lbID, lb := a.serviceLB(sv, z.ZoneID)
	ps := Step{Point: PointPrivateLink, Resource: ep.ID, DecidedBy: ByState}
	switch {
	case lbID == "":
		ps.Detail = fmt.Sprintf("PrivateLink endpoint %s is connected, but service %s has no load balancer in the endpoint's zone %s (its zones: %s): the zone's connections are dropped on the provider's side",
			ep.ID, sv.ID, z.ZoneID, zoneList(sv))
	case lb == nil:
		ps.Detail = fmt.Sprintf("PrivateLink endpoint %s is connected, but load balancer %s of service %s does not exist: the zone's connections are dropped on the provider's side", ep.ID, lbID, sv.ID)
	default:
		ps.Allow = true
		ps.Detail = fmt.Sprintf("PrivateLink endpoint %s is connected: connections to its zone %s go on to service %s, from the zone's transit address %s, to the service's load balancer of the zone, %s (%s)",
			ep.ID, z.ZoneID, sv.ID, z.TransitAddr, lb.ID, lb.Address)
	}
	pre = append(pre, ps)
	pr := base
	if !ps.Allow {
		pr.Steps, pr.Forward, pr.Reachable = pre, false, false
		return []PathResult{pr}, true
	}
	// The provider's side: the connection from the transit address.
	tp := pkt
	tp.Src = z.TransitAddr.Unmap()
	var ls Step
	var l *model.LBListener
	switch tp.Proto {
	case ProtoTCP, ProtoUDP:
		l, ls = a.lbListenerStepFrom(lb, tp, "with the transit address "+tp.Src.String()+" as source", "on zone "+lb.ZoneID+"'s host (the endpoint's)")
	default:
		ls = Step{Point: PointLoadBalancer, Resource: lb.ID, DecidedBy: ByLoadBalancer,
			Detail: fmt.Sprintf("dropped on the provider's side: an endpoint of a service backed by a load balancer carries TCP and UDP connections to its listeners' ports only (not %s)", ProtoName(tp.Proto))}
	}
	if l == nil || len(lb.Backends) == 0 {
		if ls.Allow {
			// ICMP echo: the load balancer's own answer is no PrivateLink
			// path.
			ls.Allow = false
			ls.Detail = fmt.Sprintf("dropped on the provider's side: an endpoint of a service backed by a load balancer carries TCP and UDP connections to its listeners' ports only (not %s)", ProtoName(tp.Proto))
		}
		pr.Steps, pr.Forward, pr.Reachable = append(pre, ls), false, false
		return []PathResult{pr}, true
	}
	transit := target{addr: tp.Src}
	for _, b := range lb.Backends {
		out = append(out, a.endpointBackendPath(base, pre, ls, lb, l, a.lbBackendOf(b), transit, pkt, tp))
	}
	return out, true
}

// endpointBackendPath is one path of an endpoint's connection through
// load balancer lb's listener l to backend be: base is the path to the
// endpoint, pre its steps up to the PrivateLink step, ls the load
// balancer's; pkt is the consumer's connection, tp the same from the
// transit address.
func (a *Analyzer) endpointBackendPath(base PathResult, pre []Step, ls Step, lb *model.LoadBalancer, l *model.LBListener, be lbBackend, transit target, pkt, tp Packet) PathResult {
	pr := PathResult{From: base.From, To: base.To, Packet: base.Packet}
	steps := append(slices.Clone(pre), ls, a.lbBackendStep(lb, l, be))
	if be.eni == nil {
		pr.Steps = steps
		return pr
	}
	bt := target{eni: be.eni, addr: be.addr, vpc: be.eni.e.VpcID}
	bep := a.endpointOf(bt)
	pr.Backend = &bep
	tp.Dst, tp.DstPort = be.addr, uint16(l.BackendPort)
	pr.Translated = tp.String()
	if s, ok := a.lbHostsStep(nil, lb.ZoneID, be.eni.zone, lb); ok {
		steps = append(steps, s)
	}
	steps = append(steps,
		a.aclStep(PointACLIngress, be.eni, transit, model.Ingress, tp),
		a.sgStep(PointSGIngress, be.eni, model.Ingress, tp))
	if s, ok := a.stateStep(PointDestination, bt); ok {
		steps = append(steps, s)
	}
	pr.Steps = steps
	pr.Forward = allAllow(steps)

	// Replies: the backend's to the transit address (its routing and
	// ACL), then the consumer's side as for the endpoint itself.
	rp := tp.reverse()
	pr.ReplyPasses = true
	var reply []Step
	routed := false
	if be.eni.inst != nil {
		rt := target{eni: be.eni, addr: be.addr, route: a.routeFrom(be.eni, rp.Dst)}
		if rt.route.multi || rt.routeDenies() {
			s := a.instRouteStep(rt, rp)
			s.Detail = "reply: " + s.Detail
			reply = append(reply, s)
			pr.ReplyPasses = s.Allow
			routed = true
		}
	}
	if s := a.aclStep(PointACLEgress, be.eni, transit, model.Egress, rp); s.DecidedBy != ByNoACL {
		reply = append(reply, s)
		pr.ReplyPasses = pr.ReplyPasses && s.Allow
	}
	for _, s := range base.Reply {
		if s.Point == "reply" {
			continue
		}
		reply = append(reply, s)
		pr.ReplyPasses = pr.ReplyPasses && s.Allow
	}
	if len(reply) > 0 {
		what := "network ACLs evaluate it"
		if routed {
			what = "the backend's routing and network ACLs decide"
		}
		pr.Reply = append([]Step{{Point: "reply", Allow: pr.ReplyPasses, DecidedBy: ByState,
			Detail: "reply " + rp.String() + ": security groups pass it (stateful), " + what + "; the endpoint's host translates it back to a reply from " +
				netip.AddrPortFrom(pkt.Dst, pkt.DstPort).String() + " to " + netip.AddrPortFrom(pkt.Src, pkt.SrcPort).String()}}, reply...)
	}
	pr.Reachable = pr.Forward && pr.ReplyPasses
	return pr
}

// zoneList lists the zones of a service's resources.
func zoneList(sv *model.EndpointService) string {
	var zs []string
	for _, r := range sv.Resources {
		if !slices.Contains(zs, r.ZoneID) {
			zs = append(zs, r.ZoneID)
		}
	}
	if len(zs) == 0 {
		return "none, it has no resources"
	}
	slices.Sort(zs)
	return strings.Join(zs, ", ")
}

// serviceLBFindings reports, for each load balancer backing one of the
// account's PrivateLink services, each backend (with an address, weight
// above 0) whose security groups have no ingress accept rule for a
// running listener's protocol and backend port whose source overlaps
// model.TransitRange: every endpoint connection the listener sends it is
// dropped. (A rule that overlaps it may still be narrowed by drops; only
// the certain case is reported.)
func (a *Analyzer) serviceLBFindings(svc *model.EndpointService, add func(Finding)) {
	transit := []netip.Prefix{model.TransitRange}
	for _, r := range svc.Resources {
		lb := a.lbs[r.ResourceID]
		if r.ResourceType != model.EndpointResourceSLB || lb == nil || lb.Status != model.LBStatusActive {
			continue
		}
		for _, b := range lb.Backends {
			be := a.lbBackendOf(b)
			if be.eni == nil || b.Weight < 1 {
				continue
			}
			var refused []string
			for j := range lb.Listeners {
				l := &lb.Listeners[j]
				if l.Status != model.ListenerRunning {
					continue
				}
				proto := ProtoTCP
				if l.Protocol == model.LBProtocolUDP {
					proto = ProtoUDP
				}
				if !a.mayAdmit(be, proto, uint16(l.BackendPort), transit, false) {
					refused = append(refused, fmt.Sprintf("%s port %d (the %s)", l.Protocol, l.BackendPort, listenerName(l)))
				}
			}
			if len(refused) == 0 {
				continue
			}
			add(Finding{SeverityMedium, CodeServiceRefusesTransit, b.ServerID, "",
				fmt.Sprintf("instance %s is a backend of load balancer %s, which backs PrivateLink service %s, but the security groups of its ENI %s admit nothing from %s, where endpoint connections come from, on %s: every endpoint connection the load balancer sends it there is dropped",
					b.ServerID, lb.ID, svc.ID, be.eni.e.ID, model.TransitRange, strings.Join(refused, ", ")),
				fmt.Sprintf("add an ingress rule accepting %s on the backend port to one of its groups (the backends see the transit address and the listener's backend port, not the endpoint's port)", model.TransitRange)})
		}
	}
}
