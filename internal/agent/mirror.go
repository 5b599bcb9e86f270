package agent

import (
	"errors"
	"net"
	"net/netip"
	"path/filepath"
	"slices"

	"github.com/palisade-project/palisade/internal/dataplane"
	"github.com/palisade-project/palisade/internal/mirror"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/policy"
	"github.com/palisade-project/palisade/internal/store"
)

// mirrorPlan is what this host does for traffic mirroring: the view of
// each VPC namespace with local sources of enabled sessions, and the
// relay's targets (local targets of sources on other hosts).
type mirrorPlan struct {
	views        map[string]mirror.View
	relayTargets []mirror.RelayTarget
	// relay is this host's relay address (its underlay address and
	// mirror.RelayPort), valid when a session crosses hosts either way.
	relay netip.AddrPort
	// receivers are the VPCs whose namespace sends copies to targets of
	// theirs for sources elsewhere (another host, a peered VPC): their
	// mirroring table keeps those copies out of conntrack.
	receivers map[string]bool
}

// buildMirrors plans the host's traffic mirroring. A session is served
// where its source runs. A target on this host gets the copies from its
// VPC's namespace (the source's, or a peered VPC's that the source's
// routes the target's address to: routedOverPeering); a target on another
// host joined to this one by the underlay (model.Underlay.Joins) gets them through that host's
// relay (mirror/relay.go), and this host's relay delivers the copies of
// sources elsewhere to its own targets. A target on a host not joined to
// the source's is reported once per reconciliation and skipped.
func (a *Agent) buildMirrors(tx store.ReadTxn, d *Desired) (mirrorPlan, error) {
	plan := mirrorPlan{views: map[string]mirror.View{}, receivers: map[string]bool{}}
	w, err := readMirrorWorld(tx)
	if err != nil || len(w.sessions) == 0 {
		return plan, err
	}
	localU, hasLocalU := w.underlays[a.cfg.Zone]
	// joined returns the underlay of zone's host when it is another host
	// joined to this one.
	joined := func(zone string) (model.Underlay, bool) {
		u, ok := w.underlays[zone]
		return u, ok && hasLocalU && zone != a.cfg.Zone && localU.Joins(u)
	}
	local := map[string]model.ENI{}
	for _, e := range d.ENIs {
		local[e.ID] = e
	}
	perSource := map[string][]mirror.Session{}
	relayed := map[string]*mirror.RelayTarget{}
	for _, s := range w.sessions {
		f, ok := w.filters[s.FilterID]
		if !ok {
			continue
		}
		target, ok := w.enis[s.TargetID]
		var backends []netip.Addr
		targetIf := target.ID
		_, targetHere := local[target.ID]
		if s.TargetType == model.MirrorTargetSLB {
			// A load balancer: the copies go to the backends of its UDP
			// listener on the VXLAN port that take connections, which
			// only its zone's agent knows (it checks their health). A
			// source elsewhere sends the copies to the load balancer's
			// address through the relay, and that agent picks the
			// backend as a local source does (mirror.Session.Dst).
			lb, ok := w.lbs[s.TargetID]
			if !ok || lb.Status != model.LBStatusActive || !lb.Address.Is4() {
				continue
			}
			target = model.ENI{ID: lb.ID, VpcID: lb.VpcID, ZoneID: lb.ZoneID, PrimaryIP: lb.Address}
			if targetHere = lb.ZoneID == a.cfg.Zone; targetHere {
				var first string
				if backends, first = a.lbs.mirrorBackends(LoadBalancer{LB: lb, Addrs: w.primary}); len(backends) == 0 {
					continue
				}
				targetIf = w.primaryENI[first]
			}
		} else if !ok || !target.PrimaryIP.Is4() {
			continue
		}
		pol := policy.MirrorSession{ID: s.ID, Priority: s.Priority, Ingress: f.Ingress, Egress: f.Egress}
		for _, id := range s.SourceIDs {
			src, ok := w.enis[id]
			if !ok || id == target.ID {
				continue
			}
			_, srcHere := local[id]
			if src.VpcID != target.VpcID && !routedOverPeering(w.routing, src.VpcID, target) {
				if srcHere {
					a.log.Warn("traffic-mirror source in another VPC that does not route the target's address over a peering with it: not mirrored",
						"session", s.ID, "source", id, "target", s.TargetID)
				}
				continue
			}
			switch {
			case srcHere && targetHere:
				ms := mirror.Session{MirrorSession: pol, VNI: s.VNI, PacketLength: s.PacketLength,
					Target: target.PrimaryIP, TargetIf: a.ifName(targetIf), Backends: backends}
				if src.VpcID != target.VpcID {
					ms.TargetNetns = filepath.Join("/run/netns", target.VpcID)
					plan.receivers[target.VpcID] = true
				}
				perSource[id] = append(perSource[id], ms)
			case srcHere:
				u, ok := joined(target.ZoneID)
				if !ok {
					a.log.Warn("traffic-mirror target on a host not joined to this one by the underlay: session not served here",
						"session", s.ID, "target", s.TargetID, "zone", target.ZoneID)
					continue
				}
				perSource[id] = append(perSource[id], mirror.Session{MirrorSession: pol, VNI: s.VNI, PacketLength: s.PacketLength,
					Target: target.PrimaryIP, Relay: netip.AddrPortFrom(u.Addr, mirror.RelayPort(u.Port))})
				plan.relay = netip.AddrPortFrom(localU.Addr, mirror.RelayPort(localU.Port))
			case targetHere:
				u, ok := joined(src.ZoneID)
				if !ok || !src.PrimaryIP.Is4() {
					continue
				}
				rt := relayed[s.ID]
				if rt == nil {
					rt = &mirror.RelayTarget{SessionID: s.ID, VpcID: target.VpcID, NetnsPath: filepath.Join("/run/netns", target.VpcID),
						VNI: s.VNI, Target: target.PrimaryIP, TargetIf: a.ifName(targetIf), Backends: backends, Sources: map[netip.Addr]netip.Addr{}}
					relayed[s.ID] = rt
				}
				rt.Sources[src.PrimaryIP] = u.Addr
				plan.receivers[target.VpcID] = true
				plan.relay = netip.AddrPortFrom(localU.Addr, mirror.RelayPort(localU.Port))
			}
		}
	}
	for _, id := range sortedKeys(relayed) {
		plan.relayTargets = append(plan.relayTargets, *relayed[id])
	}
	for id, ss := range perSource {
		e := local[id]
		v := plan.views[e.VpcID]
		if v.Sources == nil {
			v.Sources = map[string]mirror.Source{}
		}
		v.Sources[a.ifName(id)] = mirrorSource(e, ss)
		plan.views[e.VpcID] = v
	}
	return plan, nil
}

// hostRelay is what the host's underlay filter admits to the relay: its
// port, from the hosts of the sources of the targets here (nil: no relay).
func (p mirrorPlan) hostRelay() *dataplane.MirrorRelay {
	if !p.relay.IsValid() {
		return nil
	}
	r := &dataplane.MirrorRelay{Port: p.relay.Port()}
	for _, t := range p.relayTargets {
		for _, host := range t.Sources {
			if !slices.Contains(r.Peers, host) {
				r.Peers = append(r.Peers, host)
			}
		}
	}
	slices.SortFunc(r.Peers, netip.Addr.Compare)
	return r
}

// mirrorWorld is what traffic mirroring reads from the store.
type mirrorWorld struct {
	sessions  []model.MirrorSession // enabled ones
	filters   map[string]model.MirrorFilter
	enis      map[string]model.ENI
	underlays map[string]model.Underlay // by zone
	// lbs are the load balancers (targets of type SLB), primary the
	// address of each instance's primary ENI and primaryENI its ID.
	lbs        map[string]model.LoadBalancer
	primary    map[string]netip.Addr
	primaryENI map[string]string
	// routing holds the vSwitches, route entries and peerings
	// (routedOverPeering).
	routing *snapshot
}

// readMirrorWorld reads the enabled sessions and, when there is one, the
// rest of mirrorWorld.
func readMirrorWorld(tx store.ReadTxn) (*mirrorWorld, error) {
	w := &mirrorWorld{filters: map[string]model.MirrorFilter{}, enis: map[string]model.ENI{}, underlays: map[string]model.Underlay{},
		lbs: map[string]model.LoadBalancer{}, primary: map[string]netip.Addr{}, primaryENI: map[string]string{},
		routing: &snapshot{vswitches: map[string]model.VSwitch{}}}
	if err := listAll(tx, model.PrefixMirrorSession, func(s model.MirrorSession) {
		if s.Enabled {
			w.sessions = append(w.sessions, s)
		}
	}); err != nil || len(w.sessions) == 0 {
		return w, err
	}
	for _, err := range []error{
		listAll(tx, model.PrefixMirrorFilter, func(f model.MirrorFilter) { w.filters[f.ID] = f }),
		listAll(tx, model.PrefixENI, func(e model.ENI) { w.enis[e.ID] = e }),
		listAll(tx, model.PrefixUnderlay, func(u model.Underlay) { w.underlays[u.ZoneID] = u }),
		listAll(tx, model.PrefixVSwitch, func(v model.VSwitch) { w.routing.vswitches[v.ID] = v }),
		listAll(tx, model.PrefixRouteEntry, func(r model.RouteEntry) { w.routing.routes = append(w.routing.routes, r) }),
		listAll(tx, model.PrefixPeerConnection, func(p model.PeerConnection) { w.routing.peerings = append(w.routing.peerings, p) }),
		listAll(tx, model.PrefixLoadBalancer, func(lb model.LoadBalancer) { w.lbs[lb.ID] = lb }),
	} {
		if err != nil {
			return nil, err
		}
	}
	for _, e := range w.enis {
		if e.Type == model.ENITypePrimary && e.InstanceID != "" && e.PrimaryIP.Is4() {
			w.primary[e.InstanceID], w.primaryENI[e.InstanceID] = e.PrimaryIP, e.ID
		}
	}
	return w, nil
}

// mirrorSource is local ENI e as a source of sessions ss, sorted as
// policy.NewMirrorSessions sorts them.
func mirrorSource(e model.ENI, ss []mirror.Session) mirror.Source {
	mac, _ := net.ParseMAC(e.MAC)
	pol := make([]policy.MirrorSession, len(ss))
	for i, s := range ss {
		pol[i] = s.MirrorSession
	}
	pol = policy.NewMirrorSessions(pol)
	sorted := make([]mirror.Session, 0, len(ss))
	for _, p := range pol {
		i := slices.IndexFunc(ss, func(s mirror.Session) bool { return s.ID == p.ID })
		s := ss[i]
		s.MirrorSession = p
		sorted = append(sorted, s)
	}
	return mirror.Source{ENIID: e.ID, Addr: e.PrimaryIP, MAC: mac, Sessions: sorted}
}

// routedOverPeering reports whether VPC from's route entries send the
// target's primary address over an activated peering with the target's
// VPC (the way a copy to it would go).
func routedOverPeering(s *snapshot, from string, target model.ENI) bool {
	pcc := peeringOf(s, from, target.PrimaryIP)
	for _, p := range s.peerings {
		if p.ID == pcc && p.Status == model.PeerActivated && p.Other(from) == target.VpcID {
			return true
		}
	}
	return false
}

func (a *Agent) ifName(eniID string) string { return a.cfg.IfName(eniID) }

// syncMirrors makes the relay, and each VPC namespace's mirroring table
// and mirror, match the plan, after the programs are loaded. The table is
// checked on every reconciliation (drift is repaired); a VPC without
// sources has neither table nor mirror, a host whose sessions all stay on
// it has no relay.
func (a *Agent) syncMirrors(plan mirrorPlan, fwOK map[string]bool) error {
	var errs []error
	if err := a.syncRelay(plan, fwOK); err != nil {
		errs = append(errs, err)
	}
	views := plan.views
	for vpc := range fwOK {
		v := views[vpc]
		v.Relay = a.relay
		path := filepath.Join("/run/netns", vpc)
		ifaces := make([]string, 0, len(v.Sources))
		for n := range v.Sources {
			ifaces = append(ifaces, n)
		}
		if len(ifaces) == 0 {
			a.stopMirror(vpc)
			if _, err := mirror.ApplyTable(path, nil, plan.receivers[vpc]); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		if m := a.mirrors[vpc]; m != nil && m.Stale() {
			a.log.Info("VPC namespace made anew: restarting its traffic mirror", "vpc", vpc)
			a.stopMirror(vpc)
		}
		if m := a.mirrors[vpc]; m != nil {
			m.Update(v)
		} else {
			m, err := mirror.Start(mirror.Config{VpcID: vpc, NetnsPath: path, Logger: a.cfg.Logger}, v)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			a.mirrorMu.Lock()
			a.mirrors[vpc] = m
			a.mirrorMu.Unlock()
		}
		if changed, err := mirror.ApplyTable(path, ifaces, plan.receivers[vpc]); err != nil {
			errs = append(errs, err)
		} else if changed {
			a.log.Info("traffic-mirror table applied", "vpc", vpc, "sources", len(ifaces))
		}
	}
	for vpc := range a.mirrors {
		if _, ok := fwOK[vpc]; !ok && len(views[vpc].Sources) == 0 {
			a.stopMirror(vpc)
		}
	}
	return errors.Join(errs...)
}

// stopMirrors stops every mirror (the agent stops). The tables stay: with
// nobody reading their NFLOG group, the kernel drops the logged copies,
// and the traffic itself is untouched.
func (a *Agent) stopMirrors() {
	for vpc := range a.mirrors {
		a.stopMirror(vpc)
	}
	a.stopRelay()
}

// syncRelay opens, moves or closes this host's relay as the plan says,
// and gives it the targets whose VPC program is loaded (a copy is only
// delivered into a namespace the agent has made and secured).
func (a *Agent) syncRelay(plan mirrorPlan, fwOK map[string]bool) error {
	if !plan.relay.IsValid() {
		a.stopRelay()
		return nil
	}
	if a.relay != nil && a.relay.Addr() != plan.relay {
		a.stopRelay()
	}
	if a.relay == nil {
		r, err := mirror.ListenRelay(plan.relay, a.cfg.Logger)
		if err != nil {
			return err
		}
		a.log.Info("traffic-mirror relay listening", "addr", plan.relay)
		a.mirrorMu.Lock()
		a.relay = r
		a.mirrorMu.Unlock()
	}
	var targets []mirror.RelayTarget
	for _, t := range plan.relayTargets {
		if fwOK[t.VpcID] {
			targets = append(targets, t)
		}
	}
	return a.relay.Update(targets)
}

func (a *Agent) stopRelay() {
	a.mirrorMu.Lock()
	r := a.relay
	a.relay = nil
	a.mirrorMu.Unlock()
	if r != nil {
		// The mirrors hold it in their views until their next Update;
		// a closed relay makes their sends fail, counted as send errors.
		r.Close()
		a.mirrorMu.Lock()
		a.retired.addRelay(r.Stats())
		a.mirrorMu.Unlock()
	}
}

// RelayStats returns the counters of this host's traffic-mirror relay
// (false: none is open).
func (a *Agent) RelayStats() (mirror.RelayStats, bool) {
	a.mirrorMu.Lock()
	r := a.relay
	a.mirrorMu.Unlock()
	if r == nil {
		return mirror.RelayStats{}, false
	}
	return r.Stats(), true
}

func (a *Agent) stopMirror(vpc string) {
	a.mirrorMu.Lock()
	m := a.mirrors[vpc]
	delete(a.mirrors, vpc)
	a.mirrorMu.Unlock()
	if m != nil {
		m.Stop()
		a.mirrorMu.Lock()
		a.retired.add(m.Stats())
		a.mirrorMu.Unlock()
	}
}

// mirrorTotals are traffic-mirror counters summed over mirrors and
// relays: the retired ones' (stopped by this agent) keep the exported
// totals from going back when a mirror or the relay stops.
type mirrorTotals struct {
	copies mirror.Stats
	relay  mirror.RelayStats
}

func (t *mirrorTotals) add(s mirror.Stats) {
	t.copies.Received += s.Received
	t.copies.Mirrored += s.Mirrored
	t.copies.Unmatched += s.Unmatched
	t.copies.SendErrors += s.SendErrors
}

func (t *mirrorTotals) addRelay(s mirror.RelayStats) {
	t.relay.Received += s.Received
	t.relay.Delivered += s.Delivered
	t.relay.Refused += s.Refused
	t.relay.DeliverErrors += s.DeliverErrors
	t.relay.Sent += s.Sent
	t.relay.SendErrors += s.SendErrors
}

// mirrorTotals returns the counters of every mirror and relay this agent
// has run (the metrics read them).
func (a *Agent) mirrorTotals() (mirror.Stats, mirror.RelayStats) {
	a.mirrorMu.Lock()
	defer a.mirrorMu.Unlock()
	t := a.retired
	for _, m := range a.mirrors {
		t.add(m.Stats())
	}
	if a.relay != nil {
		t.addRelay(a.relay.Stats())
	}
	return t.copies, t.relay
}

// MirrorStats returns the mirror counters of a VPC.
func (a *Agent) MirrorStats(vpcID string) (mirror.Stats, bool) {
	a.mirrorMu.Lock()
	m := a.mirrors[vpcID]
	a.mirrorMu.Unlock()
	if m == nil {
		return mirror.Stats{}, false
	}
	return m.Stats(), true
}
