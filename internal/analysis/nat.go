package analysis

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/policy"
)

// Internet NAT gateways (model.NatGateway), as the agent compiles them
// (agent/nat.go, with policy/nat.go) and the data plane serves them
// (dataplane.NATGateway, on the host of the gateway's zone, with the EIPs
// associated with it: EIP.InstanceType model.EIPInstanceNat):
//
//   - forward (DNAT) entries: a new connection from the internet to an
//     entry's ExternalIP, protocol (TCP or UDP) and ExternalPort goes to
//     its InternalIP and InternalPort; an entry of protocol Any (an IP
//     mapping) sends every protocol and port of ExternalIP to InternalIP,
//     same port, before any port entry of the address. The client's
//     address is kept: the internal ENI's network ACL and security groups
//     judge the translated packet, as on an EIP's path. An ENI of another
//     zone is reached over the VPC's overlay when the hosts are joined
//     (natZoneOf). Echo requests to an address that
//     no IP mapping takes are answered by the gateway itself when
//     IcmpReplyEnabled, dropped otherwise; anything else that no entry
//     takes is dropped;
//   - outbound: an ENI address with an EIP of its own keeps using it; an
//     address that is the InternalIP of an IP mapping leaves with its
//     ExternalIP; any other address
//     leaves through the NAT gateway that the VPC's most specific route
//     entry covering the destination sends it to, with the SnatIP of the
//     gateway's most specific SNAT entry covering the address
//     (policy.SNATRanges: an entry with k SnatIPs splits its source range
//     into k equal consecutive parts, the last taking the remainder), when
//     the ENI is in the gateway's zone or its host is joined to the
//     gateway's (natZoneOf); otherwise it does not leave;
//   - the gateway's NAT firewall (natfirewall.go) judges the outbound
//     connections it translates, with the private source, before the
//     translation;
//   - the gateway's EIPs are behind the Internet firewall (its policies
//     judge the public address: before the translation on the way in,
//     after it on the way out) and Anti-DDoS, as any EIP (the agent gives
//     them every EIP it serves); traffic from inside a VPC to
//     them (or from them to an EIP) would need the EIP hairpin, which
//     the data plane does not do.
//
// The gateway and the entry are steps of their own (PointNatGateway,
// PointNatEntry; on the way out the NAT firewall, PointNatFirewall,
// between them): after the route on the way out, before it on the way
// in. Gateway and entry states are not read: the agent programs every
// stored entry.

// natGW is a NAT gateway with what the analysis needs.
type natGW struct {
	g    *model.NatGateway
	zone string // its own, else its vSwitch's
	eips []*model.EIP
	// fwd are its forward entries whose ExternalIP is one of its EIPs,
	// IP mappings first, then by ID.
	fwd []*model.ForwardEntry
	// fw is its compiled NAT firewall (no rules: nothing to show).
	fw policy.NatFirewall
}

// indexNAT indexes World.NatGateways, SnatEntries and ForwardEntries with
// the EIPs associated with the gateways.
func (a *Analyzer) indexNAT() {
	w := a.w
	a.nats = make(map[string]*natGW, len(w.NatGateways))
	a.natAddr = map[netip.Addr]*natGW{}
	a.natsByVPC = map[string][]*natGW{}
	a.fwdByInt = map[vpcAddr][]*model.ForwardEntry{}
	a.snats = make(map[string]*model.SnatEntry, len(w.SnatEntries))
	a.snatRanges = map[string][]policy.Ranged[policy.SNATChoice]{}
	for i := range w.NatGateways {
		g := &w.NatGateways[i]
		n := &natGW{g: g, zone: g.ZoneID}
		if v := a.vsws[g.VSwitchID]; n.zone == "" && v != nil {
			n.zone = v.ZoneID
		}
		a.nats[g.ID] = n
		a.natsByVPC[g.VpcID] = append(a.natsByVPC[g.VpcID], n)
	}
	for _, gs := range a.natsByVPC {
		slices.SortFunc(gs, func(x, y *natGW) int { return strings.Compare(x.g.ID, y.g.ID) })
	}
	a.indexNatFirewalls()
	for i := range w.EIPs {
		e := &w.EIPs[i]
		n := a.nats[e.InstanceID]
		if e.InstanceType != model.EIPInstanceNat || n == nil || !e.Address.IsValid() {
			continue
		}
		n.eips = append(n.eips, e)
		a.natAddr[e.Address.Unmap()] = n
	}
	for _, n := range a.nats {
		slices.SortFunc(n.eips, func(x, y *model.EIP) int { return x.Address.Compare(y.Address) })
	}
	fwd := make([]*model.ForwardEntry, 0, len(w.ForwardEntries))
	for i := range w.ForwardEntries {
		fwd = append(fwd, &w.ForwardEntries[i])
	}
	slices.SortFunc(fwd, func(x, y *model.ForwardEntry) int {
		return cmp.Or(cmp.Compare(b2i(!isMapping(x)), b2i(!isMapping(y))), strings.Compare(x.ID, y.ID))
	})
	for _, fe := range fwd {
		n := a.nats[fe.NatGatewayID]
		if n == nil || a.natAddr[fe.ExternalIP.Unmap()] != n {
			continue // no gateway, or an address the gateway does not receive
		}
		n.fwd = append(n.fwd, fe)
		k := vpcAddr{n.g.VpcID, fe.InternalIP.Unmap()}
		a.fwdByInt[k] = append(a.fwdByInt[k], fe)
	}
	// Each gateway's SNAT entries, in creation order as the agent takes
	// them (equal prefixes, which the service refuses, resolve alike).
	byGW := map[string][]*model.SnatEntry{}
	for i := range w.SnatEntries {
		s := &w.SnatEntries[i]
		if a.nats[s.NatGatewayID] == nil {
			continue
		}
		a.snats[s.ID] = s
		byGW[s.NatGatewayID] = append(byGW[s.NatGatewayID], s)
	}
	for id, ss := range byGW {
		slices.SortFunc(ss, func(x, y *model.SnatEntry) int {
			return cmp.Or(x.CreatedAt.Compare(y.CreatedAt), strings.Compare(x.ID, y.ID))
		})
		src := make([]policy.SNATSource, 0, len(ss))
		for _, s := range ss {
			src = append(src, policy.SNATSource{EntryID: s.ID, Prefix: s.SourceCIDR, Addrs: s.SnatIPs})
		}
		a.snatRanges[id] = policy.SNATRanges(src)
	}
}

func isMapping(fe *model.ForwardEntry) bool {
	return strings.EqualFold(fe.IpProtocol, model.NatProtoAny)
}

// forwardMatches reports whether forward entry fe takes pkt arriving at
// its ExternalIP.
func forwardMatches(fe *model.ForwardEntry, pkt Packet) bool {
	if isMapping(fe) {
		return true
	}
	return hasPorts(pkt.Proto) && strings.EqualFold(fe.IpProtocol, ProtoName(pkt.Proto)) && fe.ExternalPort == pkt.DstPort
}

// forwardFor is the forward entry of n taking pkt, sent to its EIP addr
// (nil: none does).
func (n *natGW) forwardFor(addr netip.Addr, pkt Packet) *model.ForwardEntry {
	for _, fe := range n.fwd {
		if fe.ExternalIP.Unmap() == addr && forwardMatches(fe, pkt) {
			return fe
		}
	}
	return nil
}

// forwardTo is the forward entry through which the internet reaches port
// pkt.DstPort (of pkt.Proto) of addr in vpc, nil for none: an IP mapping
// of the address, or an entry of the protocol whose InternalPort is the
// port.
func (a *Analyzer) forwardTo(vpc string, addr netip.Addr, pkt Packet) *model.ForwardEntry {
	for _, fe := range a.fwdByInt[vpcAddr{vpc, addr}] {
		if isMapping(fe) || hasPorts(pkt.Proto) && strings.EqualFold(fe.IpProtocol, ProtoName(pkt.Proto)) && fe.InternalPort == pkt.DstPort {
			return fe
		}
	}
	return nil
}

// mappingOf is the IP mapping whose internal address is addr in vpc.
func (a *Analyzer) mappingOf(vpc string, addr netip.Addr) *model.ForwardEntry {
	for _, fe := range a.fwdByInt[vpcAddr{vpc, addr}] {
		if isMapping(fe) {
			return fe
		}
	}
	return nil
}

// natPublic reports whether addr is an EIP of a NAT gateway of the World.
func (a *Analyzer) natPublic(addr netip.Addr) bool { return a.natAddr[addr] != nil }

// publicSource reports whether addr is an address only instances behind
// their VPC's uplink send from: the EIP pool, or a NAT gateway's EIP.
func (a *Analyzer) publicSource(addr netip.Addr) bool { return a.inPool(addr) || a.natPublic(addr) }

// natZone is how gateway n reaches ENI e: on one host (the same zone, or
// a zone nobody serves: the answer is then the policy's alone), or across
// hosts over the VPC's overlay (dataplane.OverlayNAT: e's host routes its
// internet traffic to the gateway's host, which forwards to e through the
// tunnel). Across hosts it needs e to be an instance's (the overlay
// routes nothing else) and both hosts joined by the underlay; the
// gateway's host has a namespace of the VPC for it even without an
// instance there.
type natZone struct {
	ok, cross bool
	verdict   hostsVerdict
	why       string // when !ok
}

func (a *Analyzer) natZoneOf(n *natGW, e *eniInfo) natZone {
	if !a.zonesCross(n.zone, e.zone) {
		return natZone{ok: true}
	}
	z := natZone{cross: true, verdict: a.zonesJoin(e.zone, n.zone, n.g.VpcID)}
	switch {
	case !routedBetweenHosts(e.e):
		z.why = fmt.Sprintf("NAT gateway %s is in zone %s and %s in zone %s: the overlay between their hosts routes instances' ENIs only", n.g.ID, n.zone, e.e.ID, e.zone)
	case z.verdict != hostsJoined:
		z.why = fmt.Sprintf("NAT gateway %s is in zone %s and %s in zone %s, whose hosts are not joined: %s", n.g.ID, n.zone, e.e.ID, e.zone,
			a.zonesStep(e.zone, n.zone, n.g.VpcID, z.verdict, "").Detail)
	default:
		z.ok = true
	}
	return z
}

// natZoneOK reports whether gateway n reaches ENI e (natZoneOf).
func (a *Analyzer) natZoneOK(n *natGW, e *eniInfo) bool { return a.natZoneOf(n, e).ok }

// natHostsStep is the overlay step between the gateway's host and e's,
// from the gateway (in) or to it; ok is false when there is none.
func (a *Analyzer) natHostsStep(n *natGW, e *eniInfo, in bool) (Step, bool) {
	z := a.natZoneOf(n, e)
	if !z.cross || !z.ok {
		return Step{}, false
	}
	if in {
		return a.zonesStep(n.zone, e.zone, n.g.VpcID, z.verdict, ""), true
	}
	return a.zonesStep(e.zone, n.zone, n.g.VpcID, z.verdict, ""), true
}

// natEndpoint is a NAT gateway's EIP as an end of a path.
func natEndpoint(n *natGW, addr netip.Addr) Endpoint {
	return Endpoint{Kind: "nat-gateway", Address: addr.String(), NatGateway: n.g.ID, VSwitch: n.g.VSwitchID, VPC: n.g.VpcID}
}

// natTargets are the EIPs of NAT gateway id as destinations.
func (a *Analyzer) natTargets(id string) []target {
	n := a.nats[id]
	if n == nil {
		return nil
	}
	out := make([]target, 0, len(n.eips))
	for _, e := range n.eips {
		out = append(out, target{addr: e.Address.Unmap(), public: e.Address.Unmap(), nat: n, elem: id})
	}
	return out
}

// forwardText describes a forward entry: "tcp 47.0.0.10:80 -> 10.0.1.5:8080".
func forwardText(fe *model.ForwardEntry) string {
	if isMapping(fe) {
		return fmt.Sprintf("IP mapping %s <-> %s, every protocol and port", fe.ExternalIP, fe.InternalIP)
	}
	return fmt.Sprintf("%s %s -> %s", strings.ToLower(fe.IpProtocol),
		netip.AddrPortFrom(fe.ExternalIP, fe.ExternalPort), netip.AddrPortFrom(fe.InternalIP, fe.InternalPort))
}

// forwardsOf lists the forward entries of n at addr, for people.
func (n *natGW) forwardsOf(addr netip.Addr) string {
	var out []string
	for _, fe := range n.fwd {
		if fe.ExternalIP.Unmap() == addr {
			if isMapping(fe) {
				out = append(out, fe.ID+" (IP mapping)")
			} else {
				out = append(out, fmt.Sprintf("%s (%s %d)", fe.ID, strings.ToLower(fe.IpProtocol), fe.ExternalPort))
			}
		}
	}
	return strings.Join(out, ", ")
}

// --- Inbound: the internet to a gateway's EIP (DNAT) ---

// natInPath is the path of pkt from the internet (f) through NAT gateway n:
// to its EIP (t.nat set; the entry is the one taking pkt), or to an ENI
// address that forward entry fe reaches (pkt is then rewritten to what the
// client sends: the entry's ExternalIP and ExternalPort).
func (a *Analyzer) natInPath(f, t target, pkt Packet, n *natGW, fe *model.ForwardEntry) PathResult {
	pr := PathResult{From: a.endpointOf(f), To: a.endpointOf(t)}
	ext := t.addr
	if t.nat == nil {
		ext = fe.ExternalIP.Unmap()
		pkt.Dst = ext
		if !isMapping(fe) {
			pkt.DstPort = fe.ExternalPort
		}
	}
	pr.Packet = pkt.String()
	if a.publicSource(f.addr) {
		// Only instances behind an uplink send from the pool or a NAT
		// gateway's EIP: the packet would have to turn around.
		pr.Steps = []Step{a.hairpinStep(f, target{addr: ext, public: ext, nat: n}, pkt)}
		return pr
	}
	// Anti-DDoS and the Internet firewall see the gateway's EIPs as any
	// EIP, before the translation (the agent gives them every EIP it
	// serves).
	var steps []Step
	if s, ok := a.ddosAt(ext); ok {
		steps = append(steps, s)
	}
	if s, ok := a.firewallAt(n.g.AccountID, ext, model.FirewallIn, pkt); ok {
		steps = append(steps, s)
		if !s.Allow {
			pr.Steps = steps
			return pr
		}
	}
	gs := Step{Point: PointNatGateway, Resource: n.g.ID, DecidedBy: ByNatGateway}
	if fe == nil {
		fe = n.forwardFor(ext, pkt)
	}
	if fe == nil {
		pr.Steps = append(steps, a.natNoForwardStep(n, ext, pkt))
		pr.Forward = allAllow(pr.Steps)
		pr.ReplyPasses, pr.Reachable = true, pr.Forward
		return pr
	}
	gs.Allow, gs.RuleID = true, fe.ID
	gs.Detail = fmt.Sprintf("EIP %s of NAT gateway %s (zone %s): forward entry %s of its table %s takes the connection", ext, n.g.ID, orDash(n.zone), fe.ID, n.g.ForwardTableID)
	tp := pkt
	tp.Dst = fe.InternalIP.Unmap()
	if !isMapping(fe) {
		tp.DstPort = fe.InternalPort
	}
	es := Step{Point: PointNatEntry, Resource: fe.ID, Allow: true, DecidedBy: ByNatEntry,
		Detail: fmt.Sprintf("forward entry %s (%s) translates the destination to %s, with the client's address kept", fe.ID, forwardText(fe), natDst(tp))}
	pr.Translated = tp.String()
	steps = append(steps, gs, es)
	rs := Step{Point: PointRoute, Resource: n.g.VpcID, DecidedBy: ByRoute}
	i := a.eniByAddr(n.g.VpcID, tp.Dst)
	if i < 0 {
		rs.Detail = fmt.Sprintf("no ENI of %s holds %s, the internal address of forward entry %s: the translated connection goes nowhere", n.g.VpcID, tp.Dst, fe.ID)
		pr.Steps = append(steps, rs)
		return pr
	}
	e := a.enis[i]
	it := target{eni: e, addr: tp.Dst, vpc: e.e.VpcID, elem: t.elem}
	if t.nat != nil {
		ep := a.endpointOf(it)
		pr.Backend = &ep
	}
	if z := a.natZoneOf(n, e); !z.ok {
		rs.Detail = z.why
		pr.Steps = append(steps, rs)
		return pr
	}
	rs.Allow = true
	rs.Detail = fmt.Sprintf("inbound through NAT gateway %s: the gateway's host (zone %s) delivers the translated connection to vSwitch %s of %s", n.g.ID, orDash(n.zone), e.e.VSwitchID, n.g.VpcID)
	steps = append(steps, rs)
	if hs, ok := a.natHostsStep(n, e, true); ok {
		steps = append(steps, hs)
	}
	steps = append(steps,
		a.aclStep(PointACLIngress, e, f, model.Ingress, tp),
		a.sgStep(PointSGIngress, e, model.Ingress, tp))
	if s, ok := a.stateStep(PointDestination, it); ok {
		steps = append(steps, s)
	}
	pr.Steps = steps
	pr.Forward = allAllow(steps)
	a.natReply(&pr, f, it, tp, "NAT gateway "+n.g.ID+" translates its source back to "+natDst(pkt))
	return pr
}

// natDst is the destination of pkt, with its port when it has ports.
func natDst(pkt Packet) string {
	if hasPorts(pkt.Proto) {
		return netip.AddrPortFrom(pkt.Dst, pkt.DstPort).String()
	}
	return pkt.Dst.String()
}

// natNoForwardStep is the gateway's step for pkt to its EIP addr that no
// forward entry takes: an echo request it answers itself, or a drop.
func (a *Analyzer) natNoForwardStep(n *natGW, addr netip.Addr, pkt Packet) Step {
	s := Step{Point: PointNatGateway, Resource: n.g.ID, DecidedBy: ByNatGateway}
	if pkt.Proto == ProtoICMP {
		if n.g.IcmpReplyEnabled {
			s.Allow = true
			s.Detail = fmt.Sprintf("NAT gateway %s answers ICMP echo requests to its EIP %s itself (ICMP reply on); no instance is involved (other ICMP messages to it are dropped)", n.g.ID, addr)
			return s
		}
		s.Detail = fmt.Sprintf("dropped by NAT gateway %s: no IP mapping takes ICMP to its EIP %s, and its ICMP reply is off (it does not answer echo requests)", n.g.ID, addr)
		return s
	}
	what := ProtoName(pkt.Proto)
	if hasPorts(pkt.Proto) {
		what += " port " + strconv.Itoa(int(pkt.DstPort))
	}
	s.Detail = fmt.Sprintf("dropped by NAT gateway %s: no forward entry of its table %s takes %s of its EIP %s", n.g.ID, n.g.ForwardTableID, what, addr)
	if l := n.forwardsOf(addr); l != "" {
		s.Detail += " (its entries for " + addr.String() + ": " + l + ")"
	} else {
		s.Detail += " (it has no forward entry for that address)"
	}
	return s
}

// natReply adds the reply steps of a connection that crossed a NAT
// gateway to ENI target it as tp (translated): the instance's routing and
// its network ACL; back is what the gateway does to the reply.
func (a *Analyzer) natReply(pr *PathResult, f, it target, tp Packet, back string) {
	rp := tp.reverse()
	routed := a.replyLeaves(pr, f, it.eni, it.addr, rp)
	if len(pr.Reply) > 0 {
		what := "network ACLs evaluate it"
		if routed {
			what = "the destination instance's routing and network ACLs decide"
		}
		pr.Reply = append([]Step{{Point: "reply", Allow: pr.ReplyPasses, DecidedBy: ByState,
			Detail: "reply " + rp.String() + ": security groups pass it (stateful), " + what + "; " + back}}, pr.Reply...)
	}
	pr.Reachable = pr.Forward && pr.ReplyPasses
}

// replyLeaves starts pr's reply rp from ENI e (address addr), which a
// connection from f reached: the instance's routing when it has a say
// (several ENIs, or a route that denies), then the ENI's outbound network
// ACL. It sets pr.ReplyPasses and reports whether routing was a step.
func (a *Analyzer) replyLeaves(pr *PathResult, f target, e *eniInfo, addr netip.Addr, rp Packet) (routed bool) {
	pr.ReplyPasses = true
	if e.inst != nil {
		rt := target{eni: e, addr: addr, route: a.routeFrom(e, rp.Dst)}
		if rt.route.multi || rt.routeDenies() {
			s := a.instRouteStep(rt, rp)
			s.Detail = "reply: " + s.Detail
			pr.Reply = append(pr.Reply, s)
			pr.ReplyPasses = s.Allow
			routed = true
		}
	}
	if s := a.aclStep(PointACLEgress, e, f, model.Egress, rp); s.DecidedBy != ByNoACL {
		pr.Reply = append(pr.Reply, s)
		pr.ReplyPasses = pr.ReplyPasses && s.Allow
	}
	return routed
}

// --- Outbound: an ENI address to the internet (SNAT, IP mapping) ---

// natOut is how an ENI address without an EIP of its own leaves for an
// internet destination through a NAT gateway, or why it does not.
type natOut struct {
	e        *eniInfo
	src, dst netip.Addr
	// gws are the NAT gateways of the ENI's VPC.
	gws []*natGW
	// fwd: the source is the internal address of this IP mapping, of
	// gateway gw.
	fwd *model.ForwardEntry
	// route is the VPC's most specific route entry covering dst (nil:
	// none), and gw the NAT gateway it sends dst to (nil: none).
	route *model.RouteEntry
	gw    *natGW
	// snat is the most specific SNAT entry of gw covering src (nil:
	// none), part the index of its SnatIP pub; else other is the most
	// specific entry of another gateway of the VPC covering src, if any.
	snat  *model.SnatEntry
	part  int
	pub   netip.Addr
	other *model.SnatEntry
}

// natOutbound is the NAT decision for a packet from address src of ENI e
// to dst, on the internet, as the agent compiles it (natSNATRanges): the
// route entry decides the gateway, then the gateway's most specific SNAT
// entry covering src decides the address. nil when no NAT gateway is
// involved: src has an EIP of its own (it keeps using it), either address
// is not IPv4, or the VPC has no NAT gateway and src no IP mapping.
func (a *Analyzer) natOutbound(e *eniInfo, src, dst netip.Addr) *natOut {
	if e == nil || !src.Is4() || !dst.Is4() || a.eipByPrivate[eniAddr{e.e.ID, src}] != nil {
		return nil
	}
	vpc := e.e.VpcID
	o := &natOut{e: e, src: src, dst: dst, gws: a.natsByVPC[vpc]}
	if fe := a.mappingOf(vpc, src); fe != nil {
		o.fwd, o.gw, o.pub = fe, a.nats[fe.NatGatewayID], fe.ExternalIP.Unmap()
		return o
	}
	if len(o.gws) == 0 {
		return nil
	}
	for _, r := range a.routes[vpc] {
		if r.DestinationCidr.Contains(dst) {
			o.route = r
			break
		}
	}
	if o.route != nil {
		if n := a.nats[o.route.NextHopID]; n != nil && n.g.VpcID == vpc {
			o.gw = n
		}
	}
	if o.gw != nil {
		if c, ok := policy.Lookup(a.snatRanges[o.gw.g.ID], src); ok {
			o.snat, o.pub = a.snats[c.EntryID], c.Addr
			o.part = snatPartOf(o.snat, src)
			return o
		}
	}
	for _, n := range o.gws {
		if c, ok := policy.Lookup(a.snatRanges[n.g.ID], src); ok && n != o.gw {
			if x := a.snats[c.EntryID]; o.other == nil || x.SourceCIDR.Bits() > o.other.SourceCIDR.Bits() {
				o.other = x
			}
		}
	}
	return o
}

// ok reports whether the packet leaves through the gateway.
func (o *natOut) ok(a *Analyzer) bool {
	return o.gw != nil && (o.fwd != nil || o.snat != nil) && a.natZoneOK(o.gw, o.e)
}

func gatewayIDs(gws []*natGW) string {
	ids := make([]string, 0, len(gws))
	for _, n := range gws {
		ids = append(ids, n.g.ID)
	}
	return strings.Join(ids, ", ")
}

// natOutRouteStep is the VPC's route step of o (the internet branch of
// Analyzer.routeStep for a source without an EIP of its own).
func (a *Analyzer) natOutRouteStep(o *natOut) Step {
	vpc := o.e.e.VpcID
	s := Step{Point: PointRoute, Resource: vpc, DecidedBy: ByRoute}
	none := "no EIP is associated with " + o.src.String() + " of " + o.e.e.ID
	switch {
	case o.fwd != nil:
		s.Allow = true
		s.Detail = fmt.Sprintf("%s; it is the internal address of IP mapping %s of NAT gateway %s: its connections to the internet leave through the gateway", none, o.fwd.ID, o.gw.g.ID)
	case o.gw != nil:
		s.Allow = true
		s.Detail = fmt.Sprintf("%s; %s sends %s to NAT gateway %s", none, a.entryText(o.route), o.dst, o.gw.g.ID)
	default:
		s.Detail = none + "; " + a.natWhyNot(o) + ": it is not on the internet"
	}
	return s
}

// hopText names the next hop of a route entry.
func (a *Analyzer) hopText(r *model.RouteEntry) string {
	switch {
	case !a.own(r.AccountID):
		return "another next hop"
	case a.nats[r.NextHopID] != nil || r.NextHopType == model.RouteNextHopNat:
		return "NAT gateway " + r.NextHopID
	}
	return "peering connection " + r.NextHopID
}

// natWhyNot says why o does not leave through a NAT gateway: no route
// entry sends the destination to one, the gateway it is sent to has no
// SNAT entry covering the address, or the gateway is in another zone.
func (a *Analyzer) natWhyNot(o *natOut) string {
	vpc := o.e.e.VpcID
	var why string
	switch {
	case o.fwd == nil && o.gw == nil && o.route == nil:
		why = fmt.Sprintf("no route entry of %s sends %s to a NAT gateway (a VPC sends to its NAT gateways, %s, only the destinations its route entries give them)", vpc, o.dst, gatewayIDs(o.gws))
	case o.fwd == nil && o.gw == nil:
		why = fmt.Sprintf("%s sends %s to %s, not to a NAT gateway (the most specific route entry decides)", a.entryText(o.route), o.dst, a.hopText(o.route))
	case o.fwd == nil && o.snat == nil:
		why = fmt.Sprintf("%s sends %s to NAT gateway %s, but no SNAT entry of %s covers %s", a.entryText(o.route), o.dst, o.gw.g.ID, o.gw.g.ID, o.src)
	default:
		return a.natZoneOf(o.gw, o.e).why
	}
	if o.other != nil {
		why += fmt.Sprintf(" (SNAT entry %s of NAT gateway %s covers %s, but only for the destinations routed to %s)", o.other.ID, o.other.NatGatewayID, o.src, o.other.NatGatewayID)
	}
	return why
}

// natOutSteps are the gateway, NAT firewall and entry steps of o after
// an allowing route step; translated is the packet with its source
// translated ("" when the gateway or its NAT firewall drops it).
func (a *Analyzer) natOutSteps(o *natOut, pkt Packet) (steps []Step, translated string) {
	n := o.gw
	gs := Step{Point: PointNatGateway, Resource: n.g.ID, DecidedBy: ByNatGateway}
	switch {
	case o.fwd == nil && o.snat == nil:
		gs.Detail = "dropped by NAT gateway " + n.g.ID + ": " + a.natWhyNot(o)
		return []Step{gs}, ""
	}
	if z := a.natZoneOf(n, o.e); !z.ok {
		gs.Detail = z.why
		return []Step{gs}, ""
	}
	var pre []Step
	if hs, ok := a.natHostsStep(n, o.e, false); ok {
		pre = append(pre, hs)
	}
	gs.Allow = true
	es := Step{Point: PointNatEntry, Allow: true, DecidedBy: ByNatEntry}
	if o.fwd != nil {
		gs.RuleID = o.fwd.ID
		gs.Detail = fmt.Sprintf("NAT gateway %s (zone %s) serves %s: IP mapping %s of its table %s gives %s its public address", n.g.ID, orDash(n.zone), o.e.e.ID, o.fwd.ID, n.g.ForwardTableID, o.src)
		es.Resource = o.fwd.ID
		es.Detail = fmt.Sprintf("IP mapping %s translates the source %s to %s", o.fwd.ID, o.src, o.pub)
	} else {
		gs.RuleID = o.snat.ID
		gs.Detail = fmt.Sprintf("NAT gateway %s (zone %s) serves %s: SNAT entry %s of its table %s is its most specific entry covering %s", n.g.ID, orDash(n.zone), o.e.e.ID, o.snat.ID, n.g.SnatTableID, o.src)
		es.Resource = o.snat.ID
		es.Detail = fmt.Sprintf("SNAT entry %s (source %s) translates the source %s to %s", o.snat.ID, o.snat.SourceCIDR, o.src, o.pub)
		if _, _, parts, _ := snatSplit(o.snat); parts > 1 {
			lo, hi := snatPart(o.snat, o.part)
			es.Detail += fmt.Sprintf(": its SNAT IPs split %s into %d consecutive parts, and %s is in part %d (%s-%s), which uses %s",
				o.snat.SourceCIDR.Masked(), parts, o.src, o.part+1, lo, hi, o.pub)
		}
	}
	steps = append(pre, gs)
	// The NAT firewall judges the connection on the gateway's host, with
	// the private source, before the entry translates it: a drop leaves
	// nothing to translate.
	if fs, ok := a.natFirewallStep(n, pkt); ok {
		steps = append(steps, fs)
		if !fs.Allow {
			return steps, ""
		}
	}
	tp := pkt
	tp.Src = o.pub
	return append(steps, es), tp.String()
}

// snatSplit is how policy.SNATRanges splits the source range of SNAT
// entry s (IPv4, with SnatIPs): from its first address, parts parts of
// size addresses, the last one taking the remainder (n addresses in all).
func snatSplit(s *model.SnatEntry) (from, n, parts, size uint64) {
	p := s.SourceCIDR.Masked()
	from = uint64(addr32(p.Addr()))
	n = uint64(1) << (32 - p.Bits())
	parts = min(uint64(len(s.SnatIPs)), n)
	return from, n, parts, n / parts
}

// snatPartOf is the part of SNAT entry s that src (an address of its
// source range) is in.
func snatPartOf(s *model.SnatEntry, src netip.Addr) int {
	from, _, parts, size := snatSplit(s)
	return int(min((uint64(addr32(src))-from)/size, parts-1))
}

// snatPart is the source range of part k of SNAT entry s.
func snatPart(s *model.SnatEntry, k int) (netip.Addr, netip.Addr) {
	from, n, parts, size := snatSplit(s)
	lo := from + uint64(k)*size
	hi := lo + size - 1
	if uint64(k) == parts-1 {
		hi = from + n - 1
	}
	return addrFrom32(uint32(lo)), addrFrom32(uint32(hi))
}

func addrFrom32(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// natHairpinDetail is the route's verdict on a hairpin from f (inside a
// VPC with NAT gateways, without an EIP of its own) to dst (named dstText):
// through a NAT gateway to the host, which drops it, or not out of the
// VPC at all.
func (a *Analyzer) natHairpinDetail(f target, dstText string, dst netip.Addr, back string) string {
	o := a.natOutbound(f.eni, f.addr, dst)
	if o != nil && o.ok(a) {
		return fmt.Sprintf("%straffic from inside a VPC to %s leaves %s through NAT gateway %s, translated to %s, and is dropped by the host, which %s",
			hairpinNote, dstText, f.vpc, o.gw.g.ID, o.pub, back)
	}
	why := "no EIP, IP mapping or SNAT entry gives it a public address"
	if o != nil {
		why = a.natWhyNot(o)
	}
	return fmt.Sprintf("%straffic from inside a VPC to %s never leaves %s: only private addresses with an EIP or translated by a NAT gateway leave through the VPC's uplink, and %s is neither (%s); if it were, the host would drop it, as it %s",
		hairpinNote, dstText, f.vpc, f.addr, why, back)
}

// forwardHint names the forward entries that reach other ports of addr
// in vpc ("" none), for a connection from the internet that none takes.
func (a *Analyzer) forwardHint(vpc string, addr netip.Addr) string {
	var out []string
	for _, fe := range a.fwdByInt[vpcAddr{vpc, addr}] {
		out = append(out, fmt.Sprintf("%s of NAT gateway %s: %s", fe.ID, fe.NatGatewayID, forwardText(fe)))
	}
	if len(out) == 0 {
		return ""
	}
	return "the internet reaches it only through forward entries for other ports: " + strings.Join(out, "; ")
}

// natPublicText names dst when it is a NAT gateway's EIP ("" otherwise).
func (a *Analyzer) natPublicText(dst netip.Addr) string {
	if n := a.natAddr[dst]; n != nil {
		return "EIP " + dst.String() + " of NAT gateway " + n.g.ID
	}
	return ""
}

// --- Audit ---

// natInternal is the ENI that forward entry fe of n reaches, nil when
// none does (no ENI holds the address, or one of another zone: the
// gateway does not reach it).
func (a *Analyzer) natInternal(n *natGW, fe *model.ForwardEntry) *eniInfo {
	i := a.eniByAddr(n.g.VpcID, fe.InternalIP)
	if i < 0 || !a.natZoneOK(n, a.enis[i]) {
		return nil
	}
	return a.enis[i]
}

// natForwardedPorts are the ENIs and TCP ports that forward entries of
// ports (not IP mappings) open to the internet, and natMapped the ENI
// addresses that IP mappings open: natFindings judges them, so the
// audit's other checks do not call them unreachable from the internet.
func (a *Analyzer) natForwardedPorts() (ports map[eniPort]bool, mapped map[eniAddr]bool) {
	ports, mapped = map[eniPort]bool{}, map[eniAddr]bool{}
	for _, n := range a.nats {
		for _, fe := range n.fwd {
			e := a.natInternal(n, fe)
			switch {
			case e == nil:
			case isMapping(fe):
				mapped[eniAddr{e.e.ID, fe.InternalIP.Unmap()}] = true
			case strings.EqualFold(fe.IpProtocol, model.NatProtoTCP):
				ports[eniPort{e.e.ID, fe.InternalPort}] = true
			}
		}
	}
	return ports, mapped
}

// natFindings reports each forward entry (of a gateway in scope) that
// opens a port to the whole internet: every public IPv4 address can open
// a connection through it (the internal ENI's network ACL, both ways, and
// security groups admit it; a NAT gateway's EIPs are not behind the
// Internet firewall). A port entry is reported whatever its port: high
// for a sensitive TCP port, low otherwise (to confirm it is meant to be
// public); an IP mapping for the sensitive TCP ports it opens (high).
func (a *Analyzer) natFindings(in func(string) bool, add func(Finding)) {
	gws := make([]*natGW, 0, len(a.nats))
	for _, n := range a.nats {
		if in(n.g.VpcID) {
			gws = append(gws, n)
		}
	}
	slices.SortFunc(gws, func(x, y *natGW) int { return strings.Compare(x.g.ID, y.g.ID) })
	for _, n := range gws {
		fes := slices.Clone(n.fwd)
		slices.SortFunc(fes, func(x, y *model.ForwardEntry) int { return strings.Compare(x.ID, y.ID) })
		for _, fe := range fes {
			e := a.natInternal(n, fe)
			if e == nil {
				continue
			}
			local := fe.InternalIP.Unmap()
			if s, ok := a.stateStep(PointDestination, target{eni: e, addr: local, vpc: e.e.VpcID}); ok && !s.Allow {
				continue // a stopped instance, or no instance: nothing listens
			}
			where := e.e.ID
			if e.e.InstanceID != "" {
				where = e.e.InstanceID + "/" + e.e.ID
			}
			if isMapping(fe) {
				var open []string
				var rules []string
				for _, port := range sortedSensitive() {
					if ok, rule := a.natOpenToInternet(e, local, ProtoTCP, port); ok {
						open = append(open, fmt.Sprintf("tcp/%d (%s)", port, SensitivePorts[port]))
						if rule != "" && !slices.Contains(rules, rule) {
							rules = append(rules, rule)
						}
					}
				}
				if len(open) == 0 {
					continue
				}
				f := Finding{SeverityHigh, CodeNatForwardOpen, fe.ID, "",
					fmt.Sprintf("IP mapping %s of NAT gateway %s (%s <-> %s) opens %s of %s to the whole internet: its network ACL and security groups admit every public IPv4 address%s, and a NAT gateway's EIPs are not behind the Internet firewall",
						fe.ID, n.g.ID, fe.ExternalIP, fe.InternalIP, strings.Join(open, ", "), where, admittedBy(rules)),
					"restrict the sources of the rules that admit these ports to the addresses that need them (a bastion, a VPN range, a security group), deny the ports in the network ACL of vSwitch " + e.e.VSwitchID + ", or replace the IP mapping with forward entries for the ports meant to be public"}
				if len(rules) == 1 {
					f.Rule = strings.SplitN(rules[0], " ", 2)[0]
				}
				add(f)
				continue
			}
			proto := ProtoTCP
			if strings.EqualFold(fe.IpProtocol, model.NatProtoUDP) {
				proto = ProtoUDP
			}
			ok, rule := a.natOpenToInternet(e, local, proto, fe.InternalPort)
			if !ok {
				continue
			}
			label := fmt.Sprintf("%s/%d", ProtoName(proto), fe.InternalPort)
			sev := SeverityLow
			if name := SensitivePorts[fe.InternalPort]; name != "" && proto == ProtoTCP {
				sev, label = SeverityHigh, label+" ("+name+")"
			}
			f := Finding{sev, CodeNatForwardOpen, fe.ID, "",
				fmt.Sprintf("forward entry %s of NAT gateway %s (%s) opens %s of %s to the whole internet: its network ACL and security groups admit every public IPv4 address%s, and a NAT gateway's EIPs are not behind the Internet firewall",
					fe.ID, n.g.ID, forwardText(fe), label, where, admittedBy([]string{rule})),
				"if the port is not meant to be public, restrict the sources of the rule that admits it to the addresses that need it (a bastion, a VPN range, a security group), deny it in the network ACL of vSwitch " + e.e.VSwitchID + ", or delete the forward entry (DeleteForwardEntry)"}
			if rule != "" {
				f.Rule = strings.SplitN(rule, " ", 2)[0]
			}
			add(f)
		}
	}
}

func admittedBy(rules []string) string {
	var rs []string
	for _, r := range rules {
		if r != "" {
			rs = append(rs, r)
		}
	}
	switch len(rs) {
	case 0:
		return ""
	case 1:
		return " (security group rule " + rs[0] + ")"
	}
	return " (security group rules " + strings.Join(rs, ", ") + ")"
}

// natOpenToInternet reports whether every public IPv4 address can open a
// connection of proto to port of local (an address of e) from the
// internet, with its reply: the network ACL of e's vSwitch (ingress, and
// egress for the reply) and e's security groups admit it. The internet is
// cut into the ranges e's rules and entries treat alike (segments); more
// ranges than segments returns is not decided (false). rule names the
// security group rule that admits them all ("rule of group"), "" when
// several do or none (intra-group).
func (a *Analyzer) natOpenToInternet(e *eniInfo, local netip.Addr, proto uint8, port uint16) (bool, string) {
	segs := a.segments(target{addr: netip.IPv4Unspecified(), rng: "0.0.0.0/0"}, target{eni: e, addr: local, vpc: e.e.VpcID}, proto, false)
	if len(segs) >= 64 {
		return false, ""
	}
	rule, first := "", true
	for _, sg := range segs {
		lo, hi, _ := strings.Cut(sg.rng, "-")
		if hi == "" {
			hi = lo
		}
		l, h := netip.MustParseAddr(lo), netip.MustParseAddr(hi)
		if !publicOverlap(l, h) || a.publicSource(l) {
			continue // no internet client there, or an EIP (a hairpin)
		}
		pkt := Packet{Src: l, Dst: local, Proto: proto}
		if hasPorts(proto) {
			pkt.SrcPort, pkt.DstPort = DefaultSourcePort, port
		}
		if !a.evalACL(e.vsw, "", model.Ingress, pkt).allow || !a.evalACL(e.vsw, "", model.Egress, pkt.reverse()).allow {
			return false, ""
		}
		d := a.evalSG(e, model.Ingress, pkt)
		if !d.allow {
			return false, ""
		}
		r := ""
		if d.by == ByRule {
			r = d.rule.rule.ID + " of " + d.rule.groupID
		}
		if first {
			rule, first = r, false
		} else if r != rule {
			rule = ""
		}
	}
	return !first, rule
}

// publicOverlap reports whether [lo, hi] (IPv4) holds a public address.
func publicOverlap(lo, hi netip.Addr) bool {
	l, h := addr32(lo), addr32(hi)
	for _, p := range public4 {
		if p.lo <= h && l <= p.hi {
			return true
		}
	}
	return false
}
