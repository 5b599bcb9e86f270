package analysis

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/palisade-project/palisade/internal/errs"
	"github.com/palisade-project/palisade/internal/ipspace"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/policy"
)

// DefaultSourcePort is the source port of reach and matrix queries that do
// not give one: the first port of the IANA ephemeral range.
const DefaultSourcePort = 49152

// ReachQuery asks whether From can open a flow to To.
type ReachQuery struct {
	// From and To are an instance ID, an ENI ID, an IP address or a
	// CIDR. An address outside every VPC is the internet. To may also be
	// a load balancer (its ID, lb-..., or its address): the paths go on
	// to its backends (lb.go); or a NAT gateway (its ID, ngw-..., for all
	// its EIPs, or one of its EIPs): the paths go on through its forward
	// entries (nat.go).
	//
	// An instance or an ENI stands for all its addresses, IPv4 and IPv6:
	// as a destination, each address of each of its ENIs is one path; as
	// a source, one path per address family of the destination, from the
	// ENI and source address the instance's own routing picks (a
	// destination in the subnet of one of its ENIs leaves through that
	// ENI, anything else through its default routes on eth0) or, for an
	// ENI, from its first address of the family.
	From, To string
	// Protocol is tcp, udp, icmp, icmpv6, gre or a protocol number.
	Protocol string
	// Port is the destination port (tcp and udp; required for them).
	Port int
	// SourcePort is the source port; 0 means DefaultSourcePort.
	SourcePort int
}

// Endpoint is one end of a path.
type Endpoint struct {
	// Kind is "eni", "address" (an address of a VPC that no ENI holds),
	// "load-balancer" (an internal load balancer's address),
	// "nat-gateway" (an EIP of an Internet NAT gateway), "service" (the
	// DNS and metadata addresses) or "internet".
	Kind     string
	Address  string
	Range    string `json:",omitempty"` // the addresses this answer covers (CIDR queries)
	ENI      string `json:",omitempty"`
	PublicIP string `json:",omitempty"` // the EIP mapped to Address
	Instance string `json:",omitempty"`
	VSwitch  string `json:",omitempty"`
	VPC      string `json:",omitempty"`
	// LoadBalancer is the load balancer (Kind "load-balancer").
	LoadBalancer string `json:",omitempty"`
	// NatGateway is the NAT gateway whose EIP Address is (Kind
	// "nat-gateway").
	NatGateway string `json:",omitempty"`
}

func (e Endpoint) String() string {
	switch e.Kind {
	case "eni":
		s := e.ENI
		if e.Instance != "" {
			s = e.Instance + "/" + e.ENI
		}
		if e.PublicIP != "" {
			return s + " (" + e.Address + ", EIP " + e.PublicIP + ")"
		}
		return s + " (" + e.Address + ")"
	case "load-balancer":
		return e.LoadBalancer + " (" + e.Address + ")"
	case "nat-gateway":
		return e.NatGateway + " (EIP " + e.Address + ")"
	case "internet", "service":
		if e.Range != "" {
			return e.Kind + " " + e.Range
		}
		return e.Kind + " " + e.Address
	}
	return e.Address + " in " + e.VPC
}

// Decision points of a Step, in path order.
const (
	PointSource = "source"
	// PointInstanceRoute is the routing of the sending instance: the ENI
	// a packet leaves through and its source address. A path has this
	// step when the instance has several ENIs or the step denies.
	PointInstanceRoute = "instance-route"
	PointSGEgress      = "sg-egress"
	PointACLEgress     = "acl-egress"
	PointRoute         = "route"
	// PointHosts is the way between the hosts of two zones, on a path
	// between ENIs in different zones (hosts.go).
	PointHosts = "hosts"
	// PointFirewall is the Internet firewall at the EIP: before the
	// route for inbound connections, after it (the source translated)
	// for outbound ones.
	PointFirewall = "internet-firewall"
	// PointDDoS is Anti-DDoS Basic at an EIP under attack, first on the
	// way in: a blackholed EIP receives nothing.
	PointDDoS        = "anti-ddos"
	PointWAF         = "waf"
	PointACLIngress  = "acl-ingress"
	PointSGIngress   = "sg-ingress"
	PointDestination = "destination"
	// PointLoadBalancer is an internal load balancer taking a packet sent
	// to its address (its listener, or why it drops it), after the
	// sender's route (and, for a client of another zone, its filters and
	// the hosts step); PointLBBackend whether the backend of the path
	// takes new connections now (lb.go).
	PointLoadBalancer = "load-balancer"
	PointLBBackend    = "lb-backend"
	// PointNatGateway is an Internet NAT gateway (its ngw- ID) on a path
	// between a VPC and the internet: which of its entries takes the
	// connection (RuleID), or why it drops it; on the way out it also
	// checks that the sender is in its zone. PointNatEntry is that entry
	// (its snat- or fwd- ID) and the translation it makes (nat.go).
	PointNatGateway = "nat-gateway"
	PointNatEntry   = "nat-entry"
)

// Step is one decision point of a path.
type Step struct {
	Point string
	// Resource is the ENI (security groups), the vSwitch (ACLs), the VPC
	// (route) or the endpoint (source, destination) the step is about.
	Resource string
	Allow    bool
	// DecidedBy is one of the By* kinds.
	DecidedBy string
	Groups    []string `json:",omitempty"` // the groups evaluated (security group steps)
	GroupID   string   `json:",omitempty"`
	RuleID    string   `json:",omitempty"`
	Priority  int      `json:",omitempty"`
	Action    string   `json:",omitempty"` // accept | drop
	ACLID     string   `json:",omitempty"`
	EntryName string   `json:",omitempty"`
	Detail    string
}

// PathResult is the answer for one pair of concrete endpoints.
type PathResult struct {
	From, To Endpoint
	Packet   string
	// Reachable: the first packet passes every step and so do the replies
	// (security groups are stateful; network ACLs are not).
	Reachable   bool
	Forward     bool
	ReplyPasses bool
	Steps       []Step
	// Reply holds the network ACL steps of the reply packet; empty when no
	// ACL is on the path.
	Reply []Step `json:",omitempty"`
	// Backend is, on a path to a load balancer, the backend its listener
	// translates the connection to (one path per backend), or on a path
	// to a NAT gateway's EIP the ENI its forward entry translates to; and
	// Translated the packet after the translation, which the steps after
	// the load balancer or gateway judge (on the way out through a NAT
	// gateway: the packet with its source translated, as the internet
	// sees it).
	Backend    *Endpoint `json:",omitempty"`
	Translated string    `json:",omitempty"`
}

// ReachResult is the answer of Reach.
type ReachResult struct {
	From, To   string
	Protocol   string
	Port       int
	SourcePort int
	// Verdict is reachable, unreachable or partial (some of the pairs a
	// CIDR stands for are reachable). A pair of endpoints is reachable
	// when one of its paths is: an instance reachable over IPv6 only, or
	// at one of its ENIs only, is reachable (a note says which).
	Verdict   string
	Reachable bool
	Paths     []PathResult
	Notes     []string `json:",omitempty"`
	// WhatIf lists the proposed changes the answer assumes (not applied).
	WhatIf []string `json:",omitempty"`
}

// ParseProtocol reads a protocol name or number.
func ParseProtocol(s string) (uint8, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "tcp":
		return ProtoTCP, nil
	case "udp":
		return ProtoUDP, nil
	case "icmp":
		return ProtoICMP, nil
	case "icmpv6":
		return ProtoICMPv6, nil
	case "gre":
		return ProtoGRE, nil
	case "":
		return 0, errs.MissingParameter("Protocol")
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > 255 {
		return 0, errs.InvalidParameter("Protocol", "use tcp, udp, icmp, icmpv6, gre or a protocol number 0-255, got %q", s)
	}
	return uint8(n), nil
}

// target is a resolved endpoint: an ENI, or an address (with the VPC it
// belongs to, "" for the internet).
type target struct {
	eni    *eniInfo
	addr   netip.Addr
	vpc    string
	rng    string
	public netip.Addr // the EIP the endpoint was named by, if any
	// elem is the endpoint of the query the target stands for (an
	// instance or ENI ID): paths of one pair of elements are one answer.
	elem string
	// srcInst, srcENI: a source endpoint that is an instance or an ENI,
	// made concrete for each destination by sourceFor.
	srcInst *model.Instance
	srcENI  bool
	// route is the sending instance's routing decision (sources only).
	route *instRoute
	// lb is the load balancer whose address addr is (eni nil).
	lb *model.LoadBalancer
	// nat is the NAT gateway whose EIP addr is (eni nil; public is addr).
	nat *natGW
}

// instRoute is how an instance's own routing sends a packet to dst. The
// data plane's main table has a connected IPv4 route for the vSwitch
// subnet of each ENI, the IPv4 and IPv6 default routes via the gateways on
// the ENI with the lowest device index, no IPv6 subnet routes; with several
// ENIs, a packet whose source address is chosen already follows the table
// of the ENI owning it (routeFrom).
type instRoute struct {
	inst  *model.Instance
	out   *eniInfo // the ENI the packet leaves through; nil: no route
	via   string   // the route, for people
	multi bool     // the instance has several ENIs
}

// routeOf is the route of inst to dst.
func (a *Analyzer) routeOf(inst *model.Instance, dst netip.Addr) *instRoute {
	enis := a.instENIs[inst.ID]
	r := &instRoute{inst: inst, multi: len(enis) > 1}
	if len(enis) == 0 {
		r.via = "instance " + inst.ID + " has no ENI"
		return r
	}
	def := enis[0]
	r.out = routeOut(enis, dst)
	switch {
	case r.out != nil && r.out.vsw.CidrBlock.Contains(dst):
		r.via = fmt.Sprintf("connected route of vSwitch %s (%s)", r.out.vsw.ID, r.out.vsw.CidrBlock)
	case r.out != nil && dst.Is4():
		r.via = fmt.Sprintf("default route via gateway %s", model.VSwitchGateway(def.vsw.CidrBlock))
	case r.out != nil:
		r.via = fmt.Sprintf("IPv6 default route via gateway %s", model.VSwitchGateway(r.out.vsw.Ipv6CidrBlock))
	case dst.Is4():
		r.via = "no IPv4 default route: vSwitch " + def.e.VSwitchID + " of " + def.e.ID + " (" + ifName(def) + ") does not exist"
	default:
		r.via = "no IPv6 route: none of its ENIs has an IPv6 address"
	}
	return r
}

// routeFrom is the route of a packet to dst whose source address is
// already chosen and belongs to e (a bound socket, a reply). An instance
// with several ENIs has a routing table per ENI, selected by source
// address (the data plane's source routing): its vSwitch's connected IPv4
// route and default routes via its own gateways. Without a route of dst's
// family there, the main table decides, as for any packet.
func (a *Analyzer) routeFrom(e *eniInfo, dst netip.Addr) *instRoute {
	inst := e.inst
	if inst == nil || len(a.instENIs[inst.ID]) < 2 || e.vsw == nil {
		return a.routeOf(inst, dst)
	}
	if !hasSourceTable(e, dst.Is6()) {
		return a.routeOf(inst, dst)
	}
	r := &instRoute{inst: inst, out: e, multi: true}
	table := fmt.Sprintf("the source routing table of %s (%s)", ifName(e), e.e.ID)
	switch {
	case dst.Is6():
		r.via = fmt.Sprintf("IPv6 default route via gateway %s in %s", model.VSwitchGateway(e.vsw.Ipv6CidrBlock), table)
	case e.vsw.CidrBlock.Contains(dst):
		r.via = fmt.Sprintf("connected route of vSwitch %s (%s) in %s", e.vsw.ID, e.vsw.CidrBlock, table)
	default:
		r.via = fmt.Sprintf("default route via gateway %s in %s", model.VSwitchGateway(e.vsw.CidrBlock), table)
	}
	return r
}

// sourceRoute is the route to dst of source f, which sourceFor made
// concrete from f0: an instance's routing picks the ENI, a bound address
// follows its ENI's table.
func (a *Analyzer) sourceRoute(f0, f target, dst netip.Addr) *instRoute {
	if f0.srcInst != nil {
		return a.routeOf(f0.srcInst, dst)
	}
	return a.routeFrom(f.eni, dst)
}

// hasSourceTable reports whether the source routing table of e (an ENI of
// an instance with several) has a route of the family: its vSwitch's
// IPv4 subnet and gateway, or its IPv6 gateway.
func hasSourceTable(e *eniInfo, v6 bool) bool {
	if e.vsw == nil {
		return false
	}
	if v6 {
		return e.vsw.Ipv6CidrBlock.IsValid()
	}
	return e.vsw.CidrBlock.IsValid() && e.e.PrimaryIP.Is4()
}

// routeOut is the ENI of enis (an instance's, by device index) that the
// instance's routing sends a packet to dst through, nil for none: the
// first ENI whose vSwitch subnet holds dst (a connected route; IPv4
// only, IPv6 addresses get no subnet route), else the default route's:
// the first ENI for IPv4, the first with an IPv6 address for IPv6.
func routeOut(enis []*eniInfo, dst netip.Addr) *eniInfo {
	if len(enis) == 0 {
		return nil
	}
	def := enis[0]
	if dst.Is4() {
		for _, e := range enis {
			if e.vsw != nil && e.vsw.CidrBlock.Contains(dst) && e.e.PrimaryIP.Is4() {
				return e
			}
		}
		if def.vsw == nil || !def.vsw.CidrBlock.IsValid() {
			return nil
		}
		return def
	}
	for _, e := range enis {
		if e.vsw != nil && e.vsw.Ipv6CidrBlock.IsValid() && firstAddr(e, true).IsValid() {
			return e
		}
	}
	return nil
}

// ifName is the instance's name of an ENI's interface.
func ifName(e *eniInfo) string { return "eth" + strconv.Itoa(e.e.DeviceIndex) }

// firstAddr is the ENI's source address for family v6: its primary IPv4
// address, or its first IPv6 address.
func firstAddr(e *eniInfo, v6 bool) netip.Addr {
	if !v6 {
		if e.e.PrimaryIP.Is4() {
			return e.e.PrimaryIP.Unmap()
		}
		return netip.Addr{}
	}
	for _, ad := range e.e.IPv6s {
		if ad.Is6() && !ad.Is4In6() {
			return ad
		}
	}
	return netip.Addr{}
}

// sourceFor makes a source endpoint concrete for a packet to dst: an
// instance sends from the ENI and address its routing picks; an ENI from
// its first address of dst's family. Either, and an address of an ENI,
// gets the routing decision of its instance. ok is false when the source
// has no address of dst's family.
func (a *Analyzer) sourceFor(f target, dst netip.Addr) (target, bool) {
	v6 := dst.Is6()
	switch {
	case f.srcInst != nil:
		r := a.routeOf(f.srcInst, dst)
		// The kernel takes the source address from the ENI the packet
		// leaves through; with no route, or no address of the family
		// there, from the first ENI that has one (Linux addresses belong
		// to the host, not to an interface).
		var src *eniInfo
		if r.out != nil && firstAddr(r.out, v6).IsValid() {
			src = r.out
		} else {
			for _, e := range a.instENIs[f.srcInst.ID] {
				if firstAddr(e, v6).IsValid() {
					src = e
					break
				}
			}
		}
		if src == nil {
			return target{}, false
		}
		t := target{eni: src, addr: firstAddr(src, v6), vpc: src.e.VpcID, elem: f.elem}
		t.route = a.sourceRoute(f, t, dst)
		return t, true
	case f.srcENI:
		ad := firstAddr(f.eni, v6)
		if !ad.IsValid() {
			return target{}, false
		}
		f.addr, f.srcENI = ad, false
	}
	if f.eni != nil && f.eni.inst != nil && f.route == nil && f.addr.Is6() == v6 {
		f.route = a.routeFrom(f.eni, dst)
	}
	return f, f.addr.IsValid() && f.addr.Is6() == v6
}

// routeDenies reports whether the routing of f's instance drops a packet
// from f: no route, or a route out of another ENI than the one holding
// the source address (the data plane's anti-spoofing drops it).
func (f target) routeDenies() bool {
	return f.route != nil && (f.route.out == nil || f.route.out != f.eni)
}

// instRouteStep is the routing step of source f.
func (a *Analyzer) instRouteStep(f target, pkt Packet) Step {
	r := f.route
	s := Step{Point: PointInstanceRoute, Resource: r.inst.ID, DecidedBy: ByRoute, Allow: !f.routeDenies()}
	switch {
	case r.out == nil:
		s.Detail = fmt.Sprintf("%s cannot send to %s: %s", r.inst.ID, pkt.Dst, r.via)
	case r.out != f.eni:
		s.Detail = fmt.Sprintf("%s sends to %s through %s (%s): %s; the source %s is an address of %s (%s), and the data plane's anti-spoofing drops packets leaving an ENI from another ENI's address",
			r.inst.ID, pkt.Dst, ifName(r.out), r.out.e.ID, r.via, f.addr, f.eni.e.ID, ifName(f.eni))
	default:
		s.Detail = fmt.Sprintf("%s sends to %s through %s (%s): %s, source %s", r.inst.ID, pkt.Dst, ifName(r.out), r.out.e.ID, r.via, f.addr)
	}
	return s
}

func (a *Analyzer) endpointOf(t target) Endpoint {
	if t.lb != nil && t.eni == nil {
		return lbEndpoint(t.lb)
	}
	if t.nat != nil && t.eni == nil {
		return natEndpoint(t.nat, t.addr)
	}
	if t.eni != nil {
		e := t.eni.e
		ep := Endpoint{Kind: "eni", Address: t.addr.String(), Range: t.rng, ENI: e.ID, Instance: e.InstanceID, VSwitch: e.VSwitchID, VPC: e.VpcID}
		if eip := a.eipByPrivate[eniAddr{e.ID, t.addr}]; eip != nil {
			ep.PublicIP = eip.Address.String()
		}
		return ep
	}
	if t.vpc == "" {
		if isServiceAddr(t.addr) {
			return Endpoint{Kind: "service", Address: t.addr.String(), Range: t.rng}
		}
		return Endpoint{Kind: "internet", Address: t.addr.String(), Range: t.rng}
	}
	return Endpoint{Kind: "address", Address: t.addr.String(), Range: t.rng, VPC: t.vpc}
}

// vpcOfAddr returns the VPCs whose CIDRs contain addr.
func (a *Analyzer) vpcsOfAddr(addr netip.Addr) []string {
	var out []string
	for _, v := range a.w.VPCs {
		in := v.CidrBlock.Contains(addr) || (v.Ipv6CidrBlock.IsValid() && v.Ipv6CidrBlock.Contains(addr))
		for _, c := range v.SecondaryCidrs {
			in = in || c.Contains(addr)
		}
		if in {
			out = append(out, v.ID)
		}
	}
	return out
}

// resolve reads an endpoint. hintVPC is the VPC of the other end when it is
// an ENI (addresses are only unique inside a VPC).
func (a *Analyzer) resolve(param, s, hintVPC string) ([]target, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errs.MissingParameter(param)
	}
	src := param == "From"
	switch {
	case strings.HasPrefix(s, "i-"):
		inst := a.insts[s]
		if inst == nil {
			return nil, errs.NotFound("InvalidInstanceId.NotFound", "The specified instance %q (%s) does not exist.", s, param)
		}
		enis := a.instENIs[s]
		if len(enis) == 0 {
			i, ok := a.eniIdx[inst.PrimaryENIID]
			if !ok {
				return nil, errs.NotFound("InvalidNetworkInterfaceId.NotFound", "Instance %s has no primary ENI.", s)
			}
			enis = []*eniInfo{a.enis[i]}
		}
		if src {
			return []target{{eni: enis[0], addr: enis[0].e.PrimaryIP, vpc: enis[0].e.VpcID, elem: s, srcInst: inst}}, nil
		}
		var out []target
		for _, e := range enis {
			out = append(out, a.eniTargets(e, s)...)
		}
		return out, nil
	case strings.HasPrefix(s, "eni-"):
		i, ok := a.eniIdx[s]
		if !ok {
			return nil, errs.NotFound("InvalidNetworkInterfaceId.NotFound", "The specified ENI %q (%s) does not exist.", s, param)
		}
		e := a.enis[i]
		if src {
			return []target{{eni: e, addr: e.e.PrimaryIP, vpc: e.e.VpcID, elem: s, srcENI: true}}, nil
		}
		return a.eniTargets(e, s), nil
	case strings.HasPrefix(s, "lb-"):
		lb := a.lbs[s]
		if lb == nil {
			return nil, errs.NotFound("InvalidLoadBalancerId.NotFound", "The specified load balancer %q (%s) does not exist.", s, param)
		}
		if src {
			return nil, errs.InvalidParameter(param, "load balancer %s opens no connections (its health checks only, which security groups do not judge): name it as To", s)
		}
		return []target{{lb: lb, addr: lb.Address.Unmap(), vpc: lb.VpcID, elem: s}}, nil
	case strings.HasPrefix(s, "ngw-"):
		if a.nats[s] == nil {
			return nil, errs.NotFound("InvalidNatGatewayId.NotFound", "The specified NAT gateway %q (%s) does not exist.", s, param)
		}
		if src {
			return nil, errs.InvalidParameter(param, "NAT gateway %s opens no connections of its own (it translates its instances'): name the instance as From", s)
		}
		out := a.natTargets(s)
		if len(out) == 0 {
			return nil, errs.InvalidParameter(param, "NAT gateway %s has no EIP: nothing reaches it from the internet", s)
		}
		return out, nil
	case strings.HasPrefix(s, "ep-"):
		ep := a.endpoints[s]
		if ep == nil {
			return nil, errs.NotFound("EndpointNotFound", "The specified PrivateLink endpoint %q (%s) does not exist.", s, param)
		}
		if src {
			return nil, errs.InvalidParameter(param, "PrivateLink endpoint %s opens no connections (it only receives them for its service): name it as To", s)
		}
		out := a.endpointTargets(ep)
		if len(out) == 0 {
			return nil, errs.InvalidParameter(param, "PrivateLink endpoint %s has no zone with an ENI to analyse", s)
		}
		return out, nil
	}
	if addr, err := netip.ParseAddr(s); err == nil {
		addr = addr.Unmap()
		if eip := a.eipByAddr[addr]; eip != nil && len(a.vpcsOfAddr(addr)) == 0 {
			if i, ok := a.eniIdx[eip.ENIID]; ok {
				e := a.enis[i]
				return []target{{eni: e, addr: eip.PrivateIP.Unmap(), vpc: e.e.VpcID, public: addr}}, nil
			}
		}
		if n := a.natAddr[addr]; n != nil && len(a.vpcsOfAddr(addr)) == 0 {
			// A NAT gateway's EIP: its forward entries decide where a
			// connection goes (nat.go).
			return []target{{addr: addr, public: addr, nat: n}}, nil
		}
		return []target{a.withLB(a.resolveAddr(addr, hintVPC), hintVPC)}, nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return nil, errs.InvalidParameter(param, "use an instance ID (i-...), an ENI ID (eni-...), a load balancer ID (lb-..., To only), a PrivateLink endpoint ID (ep-..., To only), a NAT gateway ID (ngw-..., To only), an IP address or a CIDR, got %q", s)
	}
	p = p.Masked()
	var out []target
	// ENIs of the VPC in the CIDR.
	for _, e := range a.enis {
		if hintVPC != "" && e.e.VpcID != hintVPC && len(a.routes[hintVPC]) == 0 {
			continue
		}
		for _, ad := range e.e.Addrs() {
			// With a hint, the hint's VPC and the peers its route
			// entries send the address to.
			if p.Contains(ad) && (hintVPC == "" || e.e.VpcID == hintVPC || a.peerVPCOf(hintVPC, ad) == e.e.VpcID) {
				out = append(out, target{eni: e, addr: ad, vpc: e.e.VpcID})
				break
			}
		}
	}
	inVPC := false
	for _, v := range a.w.VPCs {
		if hintVPC != "" && v.ID != hintVPC {
			continue
		}
		for _, c := range append([]netip.Prefix{v.CidrBlock, v.Ipv6CidrBlock}, v.SecondaryCidrs...) {
			if c.IsValid() && c.Overlaps(p) {
				inVPC = true
			}
		}
	}
	if !inVPC && len(out) == 0 {
		// The internet: one representative address per range of
		// addresses the rules treat alike.
		out = append(out, target{addr: p.Addr(), rng: p.String()})
	}
	if len(out) == 0 {
		return nil, errs.InvalidParameter(param, "no ENI holds an address of %s", p)
	}
	if len(out) > maxPairs {
		out = out[:maxPairs]
	}
	return out, nil
}

const maxPairs = 256

// eniTargets are the addresses of e as destinations (primary first).
func (a *Analyzer) eniTargets(e *eniInfo, elem string) []target {
	var out []target
	for _, ad := range e.e.Addrs() {
		if ad.IsValid() {
			out = append(out, target{eni: e, addr: ad.Unmap(), vpc: e.e.VpcID, elem: elem})
		}
	}
	if len(out) == 0 {
		out = append(out, target{eni: e, addr: e.e.PrimaryIP, vpc: e.e.VpcID, elem: elem})
	}
	return out
}

func (a *Analyzer) resolveAddr(addr netip.Addr, hintVPC string) target {
	if hintVPC != "" {
		if i := a.eniByAddr(hintVPC, addr); i >= 0 {
			return target{eni: a.enis[i], addr: addr, vpc: hintVPC}
		}
		if slices.Contains(a.vpcsOfAddr(addr), hintVPC) {
			return target{addr: addr, vpc: hintVPC}
		}
		// Outside the VPC, where its route entries send the address
		// over a peering: the VPC at the other end (VPCs may overlap;
		// the route decides which one is meant).
		if v := a.peerVPCOf(hintVPC, addr); v != "" {
			if i := a.eniByAddr(v, addr); i >= 0 {
				return target{eni: a.enis[i], addr: addr, vpc: v}
			}
			return target{addr: addr, vpc: v}
		}
	}
	vpcs := a.vpcsOfAddr(addr)
	for _, v := range vpcs {
		if i := a.eniByAddr(v, addr); i >= 0 {
			return target{eni: a.enis[i], addr: addr, vpc: v}
		}
	}
	if len(vpcs) > 0 {
		return target{addr: addr, vpc: vpcs[0]}
	}
	return target{addr: addr}
}

// Reach answers q.
func (a *Analyzer) Reach(q ReachQuery) (*ReachResult, error) {
	proto, err := ParseProtocol(q.Protocol)
	if err != nil {
		return nil, err
	}
	res := &ReachResult{From: q.From, To: q.To, Protocol: ProtoName(proto), SourcePort: q.SourcePort}
	if hasPorts(proto) {
		if q.Port < 1 || q.Port > 65535 {
			if q.Port == 0 {
				return nil, errs.MissingParameter("Port")
			}
			return nil, errs.InvalidParameter("Port", "use 1-65535, got %d", q.Port)
		}
		if q.SourcePort == 0 {
			res.SourcePort = DefaultSourcePort
		}
		if res.SourcePort < 1 || res.SourcePort > 65535 {
			return nil, errs.InvalidParameter("SourcePort", "use 1-65535, got %d", q.SourcePort)
		}
		res.Port = q.Port
	} else {
		res.SourcePort = 0
	}
	// Resolve ENI IDs first so that addresses are looked up in their VPC.
	hint := func(s string) string {
		ts, err := a.resolve("x", s, "")
		if err == nil && len(ts) > 0 && (ts[0].eni != nil || ts[0].lb != nil) && !strings.Contains(s, "/") &&
			(len(ts) == 1 || strings.HasPrefix(strings.TrimSpace(s), "i-") || strings.HasPrefix(strings.TrimSpace(s), "eni-") || strings.HasPrefix(strings.TrimSpace(s), "ep-")) {
			return ts[0].vpc
		}
		return ""
	}
	froms, err := a.resolve("From", q.From, hint(q.To))
	if err != nil {
		return nil, err
	}
	tos, err := a.resolve("To", q.To, hint(q.From))
	if err != nil {
		return nil, err
	}
	type pairKey struct{ from, to string }
	var pairs []pairKey
	for _, f0 := range froms {
		for _, t := range tos {
			f := f0
			if f.srcInst != nil || f.srcENI || f.eni != nil {
				var ok bool
				if f, ok = a.sourceFor(f0, t.addr); !ok {
					continue
				}
			}
			// An ENI to itself is no path, nor an instance to its own
			// addresses (the kernel delivers them locally); to its own EIP
			// it is one (a hairpin, which the data plane does not do).
			if f.eni != nil && t.eni != nil && !t.public.IsValid() && (f.eni == t.eni || f.eni.inst != nil && f.eni.inst == t.eni.inst) {
				continue
			}
			for _, fs := range a.segments(f, t, proto, false) {
				for _, ts := range a.segments(t, f, proto, true) {
					if fs.route != nil && ts.addr != t.addr {
						// Segments of an internet range are all outside
						// every VPC: the route is the same for each.
						fs.route = a.sourceRoute(f0, fs, ts.addr)
					}
					pkt := Packet{Src: fs.addr, Dst: ts.addr, Proto: proto}
					if a.hairpin(fs, ts) {
						// Sent to the EIP itself: nothing translates it to
						// the private address on the way.
						pkt.Dst = a.publicOf(ts)
					}
					if hasPorts(proto) {
						pkt.SrcPort, pkt.DstPort = uint16(res.SourcePort), uint16(res.Port)
					}
					if fs.addr.Is4() != ts.addr.Is4() {
						continue
					}
					if ts.lb != nil && ts.eni == nil {
						// One path per backend of the listener.
						for _, p := range a.lbPaths(fs, ts, pkt) {
							res.Paths = append(res.Paths, p)
							pairs = append(pairs, pairKey{fs.key(), ts.key()})
						}
						if len(res.Paths) >= maxPairs {
							break
						}
						continue
					}
					if ps, ok := a.endpointLBPaths(fs, ts, pkt); ok {
						// Through a PrivateLink endpoint to a load
						// balancer: one path per backend of the listener.
						for _, p := range ps {
							res.Paths = append(res.Paths, p)
							pairs = append(pairs, pairKey{fs.key(), ts.key()})
						}
						if len(res.Paths) >= maxPairs {
							break
						}
						continue
					}
					res.Paths = append(res.Paths, a.path(fs, ts, pkt))
					pairs = append(pairs, pairKey{fs.key(), ts.key()})
					if len(res.Paths) >= maxPairs {
						break
					}
				}
			}
		}
	}
	if len(res.Paths) == 0 {
		return nil, errs.InvalidParameter("To", "no pair of endpoints of the same address family (and distinct) to analyse between %s and %s", q.From, q.To)
	}
	// One answer per pair of endpoints: reachable when one of its paths
	// is (an instance or ENI stands for all its addresses).
	type pairInfo struct {
		paths []int
		reach bool
	}
	var order []pairKey
	byPair := map[pairKey]*pairInfo{}
	for i, k := range pairs {
		pi := byPair[k]
		if pi == nil {
			pi = &pairInfo{}
			byPair[k] = pi
			order = append(order, k)
		}
		pi.paths = append(pi.paths, i)
		pi.reach = pi.reach || res.Paths[i].Reachable
	}
	n := 0
	for _, k := range order {
		pi := byPair[k]
		if pi.reach {
			n++
		}
		if note := mixedNote(k.from, k.to, res.Paths, pi.paths); note != "" {
			res.Notes = append(res.Notes, note)
		}
	}
	switch {
	case n == len(order):
		res.Verdict, res.Reachable = "reachable", true
	case n == 0:
		res.Verdict = "unreachable"
	default:
		res.Verdict = "partial"
	}
	if hasPorts(proto) && q.SourcePort == 0 && a.sportMatters(res.Paths) {
		res.Notes = append(res.Notes, fmt.Sprintf("some rules on this path restrict source ports; the answer is for source port %d (set SourcePort to ask about another)", res.SourcePort))
	}
	return res, nil
}

// key identifies the endpoint of the query a target stands for.
func (t target) key() string {
	switch {
	case t.elem != "":
		return t.elem
	case t.rng != "":
		return t.rng
	case t.eni != nil:
		return t.eni.e.ID + " " + t.addr.String()
	}
	return t.vpc + " " + t.addr.String()
}

// mixedNote says which paths of a pair of endpoints with several paths
// are reachable, when some are and some are not.
func mixedNote(from, to string, paths []PathResult, idx []int) string {
	if len(idx) < 2 {
		return ""
	}
	if p := paths[idx[0]]; p.To.Kind == "load-balancer" || p.Backend != nil && p.To.Kind != "nat-gateway" {
		return lbNote(from, to, paths, idx)
	}
	var yes, no []string
	fam := [2][2]int{} // [v6][reachable] counts
	for _, i := range idx {
		p := paths[i]
		v6 := 0
		if strings.Contains(p.To.Address, ":") {
			v6 = 1
		}
		pair := p.From.Address + " -> " + p.To.Address
		if p.Reachable {
			yes = append(yes, pair)
			fam[v6][1]++
		} else {
			no = append(no, pair)
			fam[v6][0]++
		}
	}
	if len(yes) == 0 || len(no) == 0 {
		return ""
	}
	switch {
	case fam[0][1] > 0 && fam[0][0] == 0 && fam[1][1] == 0 && fam[1][0] > 0:
		return fmt.Sprintf("%s -> %s: reachable over IPv4 only (the IPv6 paths are blocked)", from, to)
	case fam[1][1] > 0 && fam[1][0] == 0 && fam[0][1] == 0 && fam[0][0] > 0:
		return fmt.Sprintf("%s -> %s: reachable over IPv6 only (the IPv4 paths are blocked)", from, to)
	}
	return fmt.Sprintf("%s -> %s: reachable at %s; blocked at %s", from, to, strings.Join(yes, ", "), strings.Join(no, ", "))
}

// segments splits an internet CIDR endpoint into ranges the rules of the
// other end treat alike, one representative address each; other targets
// are returned as they are. outbound is set when t is the destination
// (the other end opens the connection): the NAT firewalls of the other
// end's VPC then cut it too (they judge outbound connections only).
func (a *Analyzer) segments(t, other target, proto uint8, outbound bool) []target {
	if t.eni != nil || t.vpc != "" || t.rng == "" {
		return []target{t}
	}
	p := netip.MustParsePrefix(t.rng)
	whole := ipspace.PrefixInterval(p)
	cuts := []u128{whole.Lo}
	add := func(q netip.Prefix) {
		if !q.IsValid() || q.Addr().Is4() != p.Addr().Is4() || !q.Overlaps(p) {
			return
		}
		iv := ipspace.PrefixInterval(q)
		if iv.Lo.Cmp(whole.Lo) > 0 {
			cuts = append(cuts, iv.Lo)
		}
		if iv.Hi.Cmp(whole.Hi) < 0 {
			cuts = append(cuts, iv.Hi.Add1())
		}
	}
	// The EIP pool is a range of its own: traffic between it and a VPC
	// is an EIP hairpin.
	add(a.w.PublicCIDR)
	// So is each NAT gateway's EIP outside the pool (only the instances
	// behind the gateway send from it).
	for ad := range a.natAddr {
		if !a.inPool(ad) {
			add(netip.PrefixFrom(ad, ad.BitLen()))
		}
	}
	var ends []*eniInfo
	switch {
	case other.eni != nil:
		ends = append(ends, other.eni)
		if len(a.natsByVPC[other.eni.e.VpcID]) > 0 {
			// Where the VPC's route entries send a destination decides
			// whether its NAT gateways translate it.
			for _, r := range a.routes[other.eni.e.VpcID] {
				add(r.DestinationCidr)
			}
			if outbound {
				// So do the destinations the gateways' NAT firewalls
				// name.
				for _, n := range a.natsByVPC[other.eni.e.VpcID] {
					for _, r := range n.fw.Rules {
						for _, d := range r.Dst {
							add(d)
						}
					}
				}
			}
		}
	case other.nat != nil:
		// A NAT gateway's EIP: the ENIs its forward entries reach.
		for _, fe := range other.nat.fwd {
			if i := a.eniByAddr(other.nat.g.VpcID, fe.InternalIP); fe.ExternalIP.Unmap() == other.addr && i >= 0 && !slices.Contains(ends, a.enis[i]) {
				ends = append(ends, a.enis[i])
			}
		}
	}
	for _, e := range ends {
		c := a.contextOf(e)
		for _, r := range c.ingress {
			add(r.peer)
		}
		for _, r := range c.egress {
			add(r.peer)
		}
		if e.vsw != nil {
			if ai := a.acls[e.vsw.NetworkAclID]; ai != nil {
				for _, r := range ai.ingress {
					add(r.cidr)
				}
				for _, r := range ai.egress {
					add(r.cidr)
				}
			}
		}
		for _, x := range aclExemptPrefixes {
			add(x)
		}
	}
	slices.SortFunc(cuts, func(x, y u128) int { return x.Cmp(y) })
	cuts = slices.Compact(cuts)
	fam := prefixFamily(p)
	var out []target
	for i, c := range cuts {
		hi := whole.Hi
		if i+1 < len(cuts) {
			hi = cuts[i+1].Sub1()
		}
		lo := ipspace.ToAddr(c, fam)
		rng := lo.String()
		if c.Cmp(hi) != 0 {
			rng = lo.String() + "-" + ipspace.ToAddr(hi, fam).String()
		}
		out = append(out, target{addr: lo, rng: rng})
		if len(out) >= 64 {
			break
		}
	}
	return out
}

// sportMatters reports whether a rule that restricts source ports is in
// the groups of an ENI of the paths (the ends, and an ENI the WAF forwards
// to).
func (a *Analyzer) sportMatters(paths []PathResult) bool {
	for _, p := range paths {
		ids := []string{p.From.ENI, p.To.ENI}
		for _, s := range p.Steps {
			if s.Point == PointSGIngress {
				ids = append(ids, s.Resource)
			}
		}
		for _, id := range ids {
			i, ok := a.eniIdx[id]
			if !ok {
				continue
			}
			c := a.contextOf(a.enis[i])
			for _, l := range []pooled{c.ingress, c.egress} {
				for _, r := range l {
					if r.ports && r.sport != anyPort {
						return true
					}
				}
			}
		}
	}
	return false
}

// path evaluates every decision point of pkt from f to t, in path order,
// and the reply's network ACLs.
func (a *Analyzer) path(f, t target, pkt Packet) PathResult {
	pr := PathResult{From: a.endpointOf(f), To: a.endpointOf(t), Packet: pkt.String()}
	if a.hairpin(f, t) {
		return a.hairpinPath(pr, f, t, pkt)
	}
	if f.vpc == "" {
		// From the internet through a NAT gateway: to one of its EIPs, or
		// to an address without an EIP that a forward entry reaches.
		if t.nat != nil && t.eni == nil {
			return a.natInPath(f, t, pkt, t.nat, nil)
		}
		if t.eni != nil && t.addr.Is4() && f.addr.Is4() && !isServiceAddr(f.addr) && a.eipByPrivate[eniAddr{t.eni.e.ID, t.addr}] == nil {
			if fe := a.forwardTo(t.vpc, t.addr, pkt); fe != nil {
				return a.natInPath(f, t, pkt, a.nats[fe.NatGatewayID], fe)
			}
		}
	}
	steps, sent := a.senderSteps(f, t, pkt)
	if !sent {
		// The packet never reaches the VPC.
		pr.Steps = steps
		return pr
	}
	rs := a.routeStep(f, t)
	fs, border := a.firewallStep(f, t, pkt, rs)
	if s, ok := a.ddosStep(f, t, rs); ok {
		steps = append(steps, s)
	}
	var peer *model.PeerConnection // the peering the path crosses
	switch {
	case border && f.vpc == "":
		steps = append(steps, fs, rs)
	case border:
		steps = append(steps, rs, fs)
	case f.vpc != "" && t.vpc != "" && f.vpc != t.vpc && a.usesPeering(f.vpc):
		rs, peer = a.peerRouteStep(f, t)
		steps = append(steps, rs)
		carried := rs.Allow
		if carried && f.eni != nil && t.eni != nil {
			if s, ok := a.peerHostsStep(f.eni, t.eni, peer); ok {
				steps = append(steps, s)
				carried = s.Allow
			}
		}
		if carried {
			if s, ok := a.vpcFirewallStep(peer, pkt); ok {
				steps = append(steps, s)
			}
		}
	default:
		steps = append(steps, rs)
		if rs.Allow && f.vpc != "" && t.vpc == "" && !isServiceAddr(t.addr) {
			// To the internet through a NAT gateway: the gateway and the
			// entry that translates the source.
			if o := a.natOutbound(f.eni, f.addr, t.addr); o != nil && o.gw != nil {
				ns, tr := a.natOutSteps(o, pkt)
				steps = append(steps, ns...)
				pr.Translated = tr
				if tr != "" {
					// The Internet firewall judges the translated
					// connection at the gateway's EIP.
					if s, ok := a.firewallAt(o.gw.g.AccountID, o.pub, model.FirewallOut, pkt); ok {
						steps = append(steps, s)
					}
				}
			}
		}
		// Two ENIs of the VPC in different zones: on two hosts, which
		// must be joined.
		if rs.Allow && f.eni != nil && t.eni != nil && f.eni.e.VpcID == t.eni.e.VpcID {
			if s, ok := a.hostsStep(f.eni, t.eni); ok {
				steps = append(steps, s)
			}
		}
	}
	reply := "reply "
	if s, up, ok := a.wafStep(f, t, pkt); ok {
		steps = append(steps, s)
		reply = "reply of the WAF's connection "
		// Every later step, and the replies, are about the WAF's own
		// connection: to the upstream address and port, from the client.
		t, pkt.Dst, pkt.DstPort = up.target, up.addr, up.port
	}
	if t.eni != nil {
		steps = append(steps, a.aclStep(PointACLIngress, t.eni, f, model.Ingress, pkt))
		steps = append(steps, a.sgStep(PointSGIngress, t.eni, model.Ingress, pkt))
	}
	if s, ok := a.stateStep(PointDestination, t); ok {
		steps = append(steps, s)
	}
	pr.Steps = steps
	pr.Forward = true
	for _, s := range steps {
		pr.Forward = pr.Forward && s.Allow
	}
	// Replies: conntrack passes them through security groups; ACLs see
	// them as packets of their own.
	rp := pkt.reverse()
	pr.ReplyPasses = true
	routed := false
	if t.eni != nil && t.eni.inst != nil {
		// The destination instance sends the replies by its own routing,
		// from the address they answer for: out of another ENI than the
		// one owning it (only without a source routing table of the
		// family), anti-spoofing drops them.
		rt := target{eni: t.eni, addr: t.addr, route: a.routeFrom(t.eni, rp.Dst)}
		if rt.route.multi || rt.routeDenies() {
			s := a.instRouteStep(rt, rp)
			s.Detail = "reply: " + s.Detail
			pr.Reply = append(pr.Reply, s)
			pr.ReplyPasses = s.Allow
			routed = true
		}
	}
	crossed := peer != nil && rs.Allow
	if crossed {
		// The reply goes back over the peering only where the
		// destination's VPC routes the source's address to it.
		s := a.replyRouteStep(f, t, peer)
		pr.Reply = append(pr.Reply, s)
		pr.ReplyPasses = pr.ReplyPasses && s.Allow
	}
	if t.eni != nil {
		if s := a.aclStep(PointACLEgress, t.eni, f, model.Egress, rp); s.DecidedBy != ByNoACL {
			pr.Reply = append(pr.Reply, s)
			pr.ReplyPasses = pr.ReplyPasses && s.Allow
		}
	}
	if f.eni != nil {
		if s := a.aclStep(PointACLIngress, f.eni, t, model.Ingress, rp); s.DecidedBy != ByNoACL {
			pr.Reply = append(pr.Reply, s)
			pr.ReplyPasses = pr.ReplyPasses && s.Allow
		}
	}
	if len(pr.Reply) > 0 {
		what := "network ACLs evaluate it"
		switch {
		case routed && crossed:
			what = "the destination instance's routing, the route back over " + peer.ID + " and network ACLs decide"
		case routed:
			what = "the destination instance's routing and network ACLs decide"
		case crossed && len(pr.Reply) == 1:
			what = "the route back over " + peer.ID + " decides"
		case crossed:
			what = "the route back over " + peer.ID + " and network ACLs decide"
		}
		pr.Reply = append([]Step{{Point: "reply", Allow: pr.ReplyPasses, DecidedBy: ByState, Detail: reply + rp.String() + ": security groups pass it (stateful), " + what}}, pr.Reply...)
	}
	pr.Reachable = pr.Forward && pr.ReplyPasses
	return pr
}

// inPool reports whether addr is an address of the EIP pool.
func (a *Analyzer) inPool(addr netip.Addr) bool {
	return a.w.PublicCIDR.IsValid() && a.w.PublicCIDR.Contains(addr)
}

// hairpin reports whether a packet from f to t would have to turn around
// in the host: from inside a VPC to an EIP (the account's own, named by
// its address, or any address of the pool: another account's, or one not
// associated), or from an address of the pool (only instances behind their
// VPC's uplink send from one) to an instance through its EIP.
//
// The data plane has no such path. In the VPC namespace a packet to an
// EIP matches no route but the uplink's default route (none without an
// uplink: the router answers network unreachable); the uplink lets out
// only private addresses with an EIP (forward chain of the palisade_nat
// table, "only ENIs with an EIP go out"), translated to theirs. The host's
// end of the uplink is its own interface: the host (the internet, not a
// router between VPCs; Palisade never turns on forwarding in its
// namespace) does not forward the packet back into an uplink and drops it
// silently. TestEIPHairpinMatchesKernel checks this on real packets.
//
// A NAT gateway's EIPs are the same (nat.go): routed over the uplink like
// the ENIs' EIPs, translated only for connections from the internet.
func (a *Analyzer) hairpin(f, t target) bool {
	if f.vpc != "" {
		return t.public.IsValid() || (t.vpc == "" && (a.inPool(t.addr) || a.natPublic(t.addr)))
	}
	if !a.publicSource(f.addr) {
		return false
	}
	if t.nat != nil && t.eni == nil {
		return true
	}
	if t.eni == nil {
		return false
	}
	return t.public.IsValid() || a.eipByPrivate[eniAddr{t.eni.e.ID, t.addr}] != nil
}

// publicOf is the address a packet to t from outside t's VPC is sent to:
// its EIP, or t's own address when it has none (or is outside every VPC).
func (a *Analyzer) publicOf(t target) netip.Addr {
	if t.public.IsValid() {
		return t.public
	}
	if t.eni != nil {
		if eip := a.eipByPrivate[eniAddr{t.eni.e.ID, t.addr}]; eip != nil {
			return eip.Address.Unmap()
		}
	}
	return t.addr
}

// senderSteps are the steps on the sender's side of a path to t: its state
// (the data plane drops everything of a stopped instance and knows nothing
// of a detached ENI), the instance's own route when it matters, and the
// sender's security groups and ACL. routed is false when the instance's
// route drops the packet before it reaches the VPC.
func (a *Analyzer) senderSteps(f, t target, pkt Packet) (steps []Step, routed bool) {
	if s, ok := a.stateStep(PointSource, f); ok {
		steps = append(steps, s)
	}
	if f.route != nil && (f.route.multi || f.routeDenies()) {
		steps = append(steps, a.instRouteStep(f, pkt))
		if f.routeDenies() {
			return steps, false
		}
	}
	if f.eni != nil {
		steps = append(steps, a.sgStep(PointSGEgress, f.eni, model.Egress, pkt))
		steps = append(steps, a.aclStep(PointACLEgress, f.eni, t, model.Egress, pkt))
	}
	return steps, true
}

// hairpinPath is the path of a packet that needs an EIP hairpin: the
// sender's own filters, then the route, which drops it. The receiver's
// filters never see it, and there is no reply.
func (a *Analyzer) hairpinPath(pr PathResult, f, t target, pkt Packet) PathResult {
	steps, routed := a.senderSteps(f, target{addr: pkt.Dst}, pkt)
	if !routed {
		pr.Steps = steps
		return pr
	}
	steps = append(steps, a.hairpinStep(f, t, pkt))
	pr.Steps = steps
	return pr
}

const hairpinNote = "EIP hairpin is not supported: "

func (a *Analyzer) hairpinStep(f, t target, pkt Packet) Step {
	s := Step{Point: PointRoute, DecidedBy: ByRoute}
	const back = "does not route traffic from a VPC's uplink back into a VPC (its end of an uplink is the internet, not a router between EIPs)"
	if f.vpc != "" {
		s.Resource = f.vpc
		dst := "EIP " + pkt.Dst.String()
		switch {
		case a.natPublic(pkt.Dst):
			dst = a.natPublicText(pkt.Dst)
		case !t.public.IsValid():
			// Nothing about the address beyond its being in the pool:
			// whose it is, if anyone's, is another account's business.
			dst = pkt.Dst.String() + ", an address of the EIP pool " + a.w.PublicCIDR.String() + ","
		}
		var eip *model.EIP
		if f.eni != nil {
			eip = a.eipByPrivate[eniAddr{f.eni.e.ID, f.addr}]
		}
		switch {
		case eip != nil:
			s.Detail = fmt.Sprintf("%straffic from inside a VPC to %s leaves through the uplink of %s, translated to the sender's EIP %s, and is dropped by the host, which %s",
				hairpinNote, dst, f.vpc, eip.Address, back)
		case f.eni != nil && len(a.natsByVPC[f.vpc]) > 0:
			s.Detail = a.natHairpinDetail(f, dst, pkt.Dst, back)
		default:
			s.Detail = fmt.Sprintf("%straffic from inside a VPC to %s never leaves %s: its router lets only private addresses with an EIP out through the VPC's uplink, and %s has none (it drops the packet, or answers network unreachable when no EIP of the VPC gives it an uplink); with one, the host would drop it, as it %s",
				hairpinNote, dst, f.vpc, f.addr, back)
		}
		return s
	}
	s.Resource = t.vpc
	if t.nat != nil {
		s.Resource = t.nat.g.VpcID
	}
	what := fmt.Sprintf("%s is an address of the EIP pool %s, which only instances inside a VPC send from (translated at their VPC's uplink)", f.addr, a.w.PublicCIDR)
	if n := a.natAddr[f.addr]; n != nil && !a.inPool(f.addr) {
		what = fmt.Sprintf("%s is an EIP of NAT gateway %s, which only the instances behind the gateway send from (translated at it)", f.addr, n.g.ID)
	}
	dst := "EIP " + pkt.Dst.String()
	if x := a.natPublicText(pkt.Dst); x != "" {
		dst = x
	}
	s.Detail = fmt.Sprintf("%s%s, and the host %s: nothing from %s reaches %s", hairpinNote, what, back, f.addr, dst)
	return s
}

func (a *Analyzer) stateStep(point string, t target) (Step, bool) {
	if t.lb != nil && t.eni == nil {
		return a.lbStateStep(point, t), true
	}
	if t.eni == nil {
		if a.foreignVPC(t.vpc) && point == PointDestination {
			return a.foreignStep(t), true
		}
		if t.vpc != "" && point == PointDestination {
			return Step{Point: point, Resource: t.addr.String(), DecidedBy: ByState, Detail: "no ENI of " + t.vpc + " holds " + t.addr.String()}, true
		}
		return Step{}, false
	}
	e := t.eni
	s := Step{Point: point, Resource: e.e.ID, DecidedBy: ByState}
	if e.e.EndpointID != "" {
		return a.endpointStep(point, e), true
	}
	switch {
	case e.e.InstanceID == "":
		s.Detail = "ENI " + e.e.ID + " is not attached to an instance"
	case e.inst == nil:
		s.Detail = "instance " + e.e.InstanceID + " of ENI " + e.e.ID + " does not exist"
	case e.inst.Status == model.InstanceStopped:
		s.Detail = "instance " + e.inst.ID + " is stopped: its ENIs pass nothing"
	default:
		return Step{}, false
	}
	return s, true
}

// endpointStep is a PrivateLink endpoint's ENI at either end of a path:
// as the destination it passes connections on to its service while the
// endpoint is connected; it never opens a connection.
func (a *Analyzer) endpointStep(point string, e *eniInfo) Step {
	s := Step{Point: point, Resource: e.e.ID, DecidedBy: ByState}
	if point != PointDestination {
		s.Detail = "ENI " + e.e.ID + " belongs to PrivateLink endpoint " + e.e.EndpointID + ": it only receives connections for its service, it opens none"
		return s
	}
	ep := a.endpoints[e.e.EndpointID]
	switch {
	case ep == nil:
		s.Detail = "PrivateLink endpoint " + e.e.EndpointID + " of ENI " + e.e.ID + " does not exist"
	case ep.ConnectionStatus != model.EndpointConnected:
		s.Detail = "PrivateLink endpoint " + ep.ID + " is " + ep.ConnectionStatus + ": nothing crosses to service " + ep.ServiceID + " until its owner accepts the connection"
	default:
		s.Allow = true
		s.Detail = "PrivateLink endpoint " + ep.ID + ": connections go on to service " + ep.ServiceID + " (the provider's side, its instances' security groups included, is not analysed here)"
	}
	return s
}

func (a *Analyzer) routeStep(f, t target) Step {
	s := Step{Point: PointRoute, DecidedBy: ByRoute}
	switch {
	case f.vpc == "" && t.vpc == "":
		s.Detail = "both ends are outside every VPC"
	case (f.vpc == "" && isServiceAddr(f.addr)) || (t.vpc == "" && isServiceAddr(t.addr)):
		s.Resource, s.Allow = f.vpc+t.vpc, true
		s.Detail = "DNS or metadata service address, never filtered by network ACLs (whether it answers is outside this analysis)"
	case f.vpc == "" || t.vpc == "":
		// The internet: only through an EIP (IPv4), inbound to the EIP
		// (translated to the private IP before the filters), outbound from
		// a private IP that has one (translated to it).
		end, dir := t, "from"
		if f.vpc != "" {
			end, dir = f, "to"
		}
		s.Resource = end.vpc
		switch {
		case end.eni == nil:
			s.Detail = "no ENI holds " + end.addr.String() + ": nothing to route " + dir + " the internet"
		case !end.addr.Is4():
			s.Detail = "EIPs are IPv4 only: " + end.addr.String() + " is not reachable " + dir + " the internet"
		default:
			eip := a.eipByPrivate[eniAddr{end.eni.e.ID, end.addr}]
			if eip == nil {
				if dir == "to" {
					// Through a NAT gateway of the VPC, if any.
					if o := a.natOutbound(end.eni, end.addr, t.addr); o != nil {
						return a.natOutRouteStep(o)
					}
				}
				s.Detail = "no EIP is associated with " + end.addr.String() + " of " + end.eni.e.ID + ": it is not on the internet"
				if h := a.forwardHint(end.vpc, end.addr); dir == "from" && h != "" {
					s.Detail += " (" + h + ")"
				}
				break
			}
			s.Allow = true
			if dir == "from" {
				s.Detail = "inbound through EIP " + eip.Address.String() + " (" + eip.ID + "), translated to " + end.addr.String()
			} else {
				s.Detail = "outbound through EIP " + eip.Address.String() + " (" + eip.ID + "): source translated from " + end.addr.String()
			}
		}
	case f.vpc != t.vpc:
		s.Resource = f.vpc
		s.Detail = "different VPCs (" + f.vpc + ", " + t.vpc + ") never reach each other"
	default:
		s.Resource, s.Allow = f.vpc, true
		fv, tv := "", ""
		if f.eni != nil {
			fv = f.eni.e.VSwitchID
		}
		if t.eni != nil {
			tv = t.eni.e.VSwitchID
		}
		switch {
		case fv != "" && fv == tv:
			s.Detail = "local route inside vSwitch " + fv + " of " + f.vpc
		case fv != "" && tv != "":
			s.Detail = "system route of " + f.vpc + " from vSwitch " + fv + " to vSwitch " + tv
		default:
			s.Detail = "system route of " + f.vpc
		}
	}
	return s
}

// firewallStep is the Internet firewall on a path between the internet
// and an EIP that the route step let through, when the account has
// policies of the direction (ok false otherwise): they judge the
// connection with the EIP's public address.
func (a *Analyzer) firewallStep(f, t target, pkt Packet, route Step) (Step, bool) {
	if !route.Allow || (f.vpc != "" && t.vpc != "") || (f.vpc == "" && t.vpc == "") {
		return Step{}, false
	}
	end, dir := t, model.FirewallIn
	if f.vpc != "" {
		end, dir = f, model.FirewallOut
	}
	if end.eni == nil {
		return Step{}, false
	}
	eip := a.eipByPrivate[eniAddr{end.eni.e.ID, end.addr}]
	if eip == nil {
		return Step{}, false
	}
	return a.firewallAt(eip.AccountID, eip.Address, dir, pkt)
}

// firewallAt is the Internet firewall of account at its public address
// (an ENI's EIP or a NAT gateway's) for a connection of direction dir
// (ok false when the account has no policy of the direction): the
// policies see the public address, before DNAT on the way in and after
// SNAT on the way out.
func (a *Analyzer) firewallAt(account string, public netip.Addr, dir string, pkt Packet) (Step, bool) {
	fw := a.internetFirewall(account)
	if (dir == model.FirewallIn && len(fw.In) == 0) || (dir == model.FirewallOut && len(fw.Out) == 0) {
		return Step{}, false // no policy of the direction: nothing at the border to show
	}
	s := Step{Point: PointFirewall, Resource: public.String(), Allow: true}
	if a.fwOff[public] {
		s.DecidedBy = ByFirewallOff
		s.Detail = "the Internet firewall is switched off for " + public.String()
		return s, true
	}
	p := policy.Packet{Proto: pkt.Proto, SrcPort: pkt.SrcPort, DstPort: pkt.DstPort}
	if dir == model.FirewallIn {
		p.Src, p.Dst = pkt.Src, public
	} else {
		p.Src, p.Dst = public, pkt.Dst
	}
	r, ok := fw.Decide(dir, p)
	if !ok {
		s.DecidedBy = ByFirewallDefault
		s.Detail = "no " + dir + " policy of the Internet firewall matches: allowed"
		return s, true
	}
	s.DecidedBy, s.RuleID, s.Priority = ByFirewallPolicy, r.ID, r.Order
	s.Allow = !r.Drop
	s.Action = model.FirewallAccept
	if r.Drop {
		s.Action = model.FirewallDrop
	}
	s.Detail = fmt.Sprintf("%s policy %s (order %d) of the Internet firewall%s: %s", dir, r.ID, r.Order, domainNote(r), s.Action)
	return s, true
}

// ddosStep is Anti-DDoS Basic on a path from the internet to an EIP
// under attack (ok false for any other path): a blackhole drops
// everything, scrubbing lets a connection like this one through (it
// holds floods per source and to the threshold).
func (a *Analyzer) ddosStep(f, t target, route Step) (Step, bool) {
	if !route.Allow || f.vpc != "" || t.vpc == "" || t.eni == nil {
		return Step{}, false
	}
	eip := a.eipByPrivate[eniAddr{t.eni.e.ID, t.addr}]
	if eip == nil {
		return Step{}, false
	}
	return a.ddosAt(eip.Address)
}

// ddosAt is the Anti-DDoS step of a connection from the internet to EIP
// addr (ok false when no event of it is open): an ENI's EIP, or a NAT
// gateway's (the agent counts and mitigates both).
func (a *Analyzer) ddosAt(addr netip.Addr) (Step, bool) {
	e := a.ddos[addr]
	if e == nil {
		return Step{}, false
	}
	s := Step{Point: PointDDoS, Resource: addr.String()}
	if e.Type == model.DDoSBlackhole {
		s.DecidedBy = ByDDoSBlackhole
		s.Detail = fmt.Sprintf("%s is blackholed by Anti-DDoS Basic since %s (peak %d Mbit/s, %d packets/s); it is lifted at %s unless the attack goes on",
			addr, e.Start.UTC().Format(time.RFC3339), e.PeakBps/1_000_000, e.PeakPps, e.UnBlackholeAt.UTC().Format(time.RFC3339))
		return s, true
	}
	s.Allow, s.DecidedBy = true, ByDDoSScrubbing
	s.Detail = fmt.Sprintf("%s is scrubbed by Anti-DDoS Basic since %s (peak %d Mbit/s, %d packets/s): each source is held to a rate, the rest passes",
		addr, e.Start.UTC().Format(time.RFC3339), e.PeakBps/1_000_000, e.PeakPps)
	return s, true
}

// internetFirewall is an account's compiled Internet firewall (once per
// analyzer).
func (a *Analyzer) internetFirewall(accountID string) policy.InternetFirewall {
	a.mu.Lock()
	defer a.mu.Unlock()
	if fw, ok := a.firewalls[accountID]; ok {
		return fw
	}
	if a.firewalls == nil {
		a.firewalls = map[string]policy.InternetFirewall{}
	}
	fw := policy.CompileInternetFirewall(accountID, a.w.FirewallPolicies, a.w.AddressBooks, a.domains)
	a.firewalls[accountID] = fw
	return fw
}

// wafUpstream is where the WAF of a protected port forwards: an address
// of one of the instance's ENIs, and a port.
type wafUpstream struct {
	target
	port uint16
}

// wafStep is the WAF on the path of a TCP connection from the internet to
// a protected port of an instance, through the EIP its ports are steered
// on. It passes the connection on: whether a request reaches the instance
// depends on its content, which a packet does not say. The steps after it
// (network ACL, security groups) are about the WAF's own connection, to
// the upstream address and port (up) from the client's address and port:
// the edge drops the SYN of a client they deny (policy.AdmittedSources on
// the upstream's ENI, address and port), and they filter that connection.
func (a *Analyzer) wafStep(f, t target, pkt Packet) (Step, wafUpstream, bool) {
	if f.vpc != "" || t.eni == nil || t.eni.inst == nil || pkt.Proto != ProtoTCP {
		return Step{}, wafUpstream{}, false
	}
	eip := a.eipByPrivate[eniAddr{t.eni.e.ID, t.addr}]
	w := a.waf[instPort{t.eni.inst.ID, int(pkt.DstPort)}]
	if eip == nil || w == nil || a.steered[t.eni.inst.ID] != eip.ID {
		return Step{}, wafUpstream{}, false
	}
	up, ok := a.wafUpstream(w, t)
	if !ok {
		// The agent does not steer the port: the direct path.
		return Step{}, wafUpstream{}, false
	}
	mode := "core rule set off"
	switch w.Mode {
	case "block", "monitor":
		mode = fmt.Sprintf("core rule set paranoia %d, %s", w.Paranoia, w.Mode)
	}
	to := netip.AddrPortFrom(up.addr, up.port).String()
	if up.eni != t.eni {
		to += " (" + up.eni.e.ID + ")"
	}
	return Step{Point: PointWAF, Resource: w.ProtectionID, Allow: true, DecidedBy: ByWAF,
		Detail: fmt.Sprintf("port %d of EIP %s is protected (%s, %s): the connection ends at the WAF, which inspects each request and forwards those it passes to %s on its own connection from the client's address and port; the next steps decide on that connection (a client they deny is dropped at its SYN)",
			pkt.DstPort, eip.Address, w.Protocol, mode, to)}, up, true
}

// wafUpstream resolves where the WAF of w forwards, t being the address
// the steered EIP is mapped to: w.Upstream, else t's address and the
// protected port, as the agent does (wafconfig.Object with the EIP's
// private address). ok is false when the agent does not steer the port:
// an upstream that is not IP:PORT with IP a private IPv4 address of the
// instance's ENIs.
func (a *Analyzer) wafUpstream(w *WAFSteer, t target) (wafUpstream, bool) {
	if w.Upstream == "" {
		return wafUpstream{target: t, port: uint16(w.Port)}, true
	}
	ap, err := netip.ParseAddrPort(w.Upstream)
	if err != nil || !ap.Addr().Is4() {
		return wafUpstream{}, false
	}
	for _, e := range a.instENIs[t.eni.inst.ID] {
		if e.e.PrimaryIP == ap.Addr() || slices.Contains(e.e.SecondaryIPs, ap.Addr()) {
			return wafUpstream{target: target{eni: e, addr: ap.Addr(), vpc: e.e.VpcID, elem: t.elem}, port: ap.Port()}, true
		}
	}
	return wafUpstream{}, false
}

func (a *Analyzer) sgStep(point string, e *eniInfo, dir string, pkt Packet) Step {
	d := a.evalSG(e, dir, pkt)
	c := a.contextOf(e)
	s := Step{Point: point, Resource: e.e.ID, Allow: d.allow, DecidedBy: d.by}
	for _, g := range c.groups {
		s.Groups = append(s.Groups, a.groups[g].g.ID)
	}
	switch d.by {
	case ByRule:
		r := d.rule
		s.GroupID, s.RuleID, s.Priority, s.Action = r.groupID, r.rule.ID, r.priority, policyWord(r.drop)
		s.Detail = fmt.Sprintf("%s rule %s of %s (priority %d, %s %s) matched first", dir, r.rule.ID, r.groupID, r.priority, s.Action, ruleSummary(r.rule))
	case ByIntraGroup:
		s.GroupID, s.Action = d.group, model.PolicyAccept
		s.Detail = "both ENIs are members of " + d.group + " (InnerAccessPolicy Accept), before any rule"
	case ByDefault:
		if d.allow {
			s.Action = model.PolicyAccept
			s.Detail = "no " + dir + " rule matched: basic groups allow egress by default"
		} else {
			s.Action = model.PolicyDrop
			if dir == model.Egress {
				s.Detail = "no egress rule matched: advanced groups deny egress by default"
			} else {
				s.Detail = "no ingress rule matched: security groups deny ingress by default"
			}
		}
	case ByNoGroups:
		s.Detail = "the ENI is in no security group: it passes nothing (fail closed)"
	case ByUnknownGroup:
		s.GroupID = d.group
		s.Detail = "the ENI lists group " + d.group + ", which does not exist: it passes nothing (fail closed)"
	case ByInvalid:
		s.Detail = "addresses of different families"
	}
	return s
}

func (a *Analyzer) aclStep(point string, e *eniInfo, other target, dir string, pkt Packet) Step {
	ov := ""
	switch {
	case other.eni != nil:
		ov = other.eni.e.VSwitchID
	case other.lb != nil:
		ov = other.lb.VSwitchID
	}
	d := a.evalACL(e.vsw, ov, dir, pkt)
	s := Step{Point: point, Resource: e.e.VSwitchID, Allow: d.allow, DecidedBy: d.by, Detail: d.note}
	if e.vsw != nil {
		s.ACLID = e.vsw.NetworkAclID
	}
	switch d.by {
	case ByNoACL:
		s.Detail = "vSwitch " + e.e.VSwitchID + " has no network ACL"
	case ByACLEntry:
		r := d.entry
		s.RuleID, s.EntryName, s.Priority, s.Action = r.e.ID, r.e.Name, r.index, policyWord(r.drop)
		s.Detail = fmt.Sprintf("%s entry %d %s of %s (%s %s %s %s) matched first", dir, r.index, r.e.ID, s.ACLID, s.Action, r.e.Protocol, portText(r.e.Ports), r.e.Cidr)
	case ByACLDefault:
		s.Action = model.PolicyDrop
		s.Detail = "no " + dir + " entry of " + s.ACLID + " matched: network ACLs deny by default"
	}
	return s
}

func policyWord(drop bool) string {
	if drop {
		return model.PolicyDrop
	}
	return model.PolicyAccept
}

func portText(p model.PortRange) string {
	if p.IsZero() || (p.From == -1 && p.To == -1) {
		return "any port"
	}
	if p.From == p.To {
		return "port " + strconv.Itoa(p.From)
	}
	return fmt.Sprintf("ports %d-%d", p.From, p.To)
}

// ruleSummary renders the match of a rule: "tcp port 22 from 0.0.0.0/0".
func ruleSummary(r *model.Rule) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(r.Protocol))
	if strings.EqualFold(r.Protocol, model.ProtoTCP) || strings.EqualFold(r.Protocol, model.ProtoUDP) {
		b.WriteString(" " + portText(r.Ports))
		if !r.SourcePorts.IsZero() {
			b.WriteString(" source " + portText(r.SourcePorts))
		}
	}
	dir := " from "
	if strings.EqualFold(r.Direction, model.Egress) {
		dir = " to "
	}
	switch {
	case r.PeerCidr.IsValid():
		b.WriteString(dir + r.PeerCidr.String())
	case r.PeerGroupID != "":
		b.WriteString(dir + "group " + r.PeerGroupID)
	case r.PeerPrefixListID != "":
		b.WriteString(dir + "prefix list " + r.PeerPrefixListID)
	}
	if r.LocalCidr.IsValid() {
		b.WriteString(" local " + r.LocalCidr.String())
	}
	return b.String()
}

// isServiceAddr reports whether addr is a DNS or metadata service address.
func isServiceAddr(addr netip.Addr) bool {
	for _, p := range aclExemptPrefixes {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}
