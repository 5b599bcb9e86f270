package analysis

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/policy"
)

// VPC peering (SEMANTICS.md Part A, "VPC and vSwitch": different VPCs
// reach each other only over a peering), IPv4 and IPv6 alike. A packet
// from VPC A to an address X leaves A over peering P when A's most
// specific custom route entry covering X (of X's family) has next hop P
// (A's own vSwitch subnets are local and win), P is Activated, and X is
// in P's other VPC B, which delivers it as any packet. Replies need B to route the source back over the same P. A
// VPC firewall enabled on P judges each new connection crossing it, in
// either direction, where it enters the destination VPC: after the
// route, before the destination's network ACL and security groups.

// PointVpcFirewall is Cloud Firewall's VPC firewall on a peering.
const PointVpcFirewall = "vpc-firewall"

// Decision kinds of the VPC firewall step.
const (
	// ByVpcFirewallPolicy: a policy matched first (RuleID, Priority =
	// its order); ByVpcFirewallDefault: none did (allowed);
	// ByVpcFirewallOff: the firewall is off (closed) and judges nothing.
	ByVpcFirewallPolicy  = "vpc-firewall-policy"
	ByVpcFirewallDefault = "vpc-firewall-default"
	ByVpcFirewallOff     = "vpc-firewall-off"
)

func (a *Analyzer) indexPeerings() {
	w := a.w
	a.peerings = make(map[string]*model.PeerConnection, len(w.Peerings))
	a.routes = map[string][]*model.RouteEntry{}
	a.vpcFWs = map[string]*policy.VpcFirewall{}
	a.peered = map[string]bool{}
	for i := range w.Peerings {
		p := &w.Peerings[i]
		a.peerings[p.ID] = p
		a.peered[p.VpcID], a.peered[p.AcceptingVpcID] = true, true
	}
	for i := range w.RouteEntries {
		r := &w.RouteEntries[i]
		if r.DestinationCidr.IsValid() {
			a.routes[r.VpcID] = append(a.routes[r.VpcID], r)
		}
	}
	for _, rs := range a.routes {
		// Most specific first; equal prefixes (refused by the API) by ID.
		slices.SortFunc(rs, func(x, y *model.RouteEntry) int {
			return cmp.Or(cmp.Compare(y.DestinationCidr.Bits(), x.DestinationCidr.Bits()), strings.Compare(x.ID, y.ID))
		})
	}
	fws := slices.Clone(w.VpcFirewalls)
	slices.SortFunc(fws, func(x, y model.VpcFirewall) int { return strings.Compare(x.ID, y.ID) })
	books := append(slices.Clone(w.AddressBooks), w.PeerAddressBooks...)
	for _, fw := range fws {
		if _, ok := a.vpcFWs[fw.PeerConnectionID]; ok || fw.PeerConnectionID == "" {
			continue
		}
		c := policy.CompileVpcFirewall(fw, w.VpcFirewallPolicies, books)
		a.vpcFWs[fw.PeerConnectionID] = &c
	}
}

// usesPeering reports whether vpc is an end of a peering or has route
// entries (else the route step between VPCs keeps its plain wording).
func (a *Analyzer) usesPeering(vpc string) bool {
	return a.peered[vpc] || len(a.routes[vpc]) > 0
}

// own reports whether a resource of accountID may be named in answers.
func (a *Analyzer) own(accountID string) bool {
	return a.w.AccountID == "" || accountID == a.w.AccountID
}

// foreignVPC reports whether vpc is the far end of a peering, another
// account's VPC the World holds nothing of.
func (a *Analyzer) foreignVPC(vpc string) bool {
	return vpc != "" && a.vpcs[vpc] == nil
}

// vpcRoute is how a VPC routes a destination address.
type vpcRoute struct {
	local *model.VSwitch    // a vSwitch of the VPC holds the address
	entry *model.RouteEntry // else the most specific custom entry, if any
}

// routeIn is the route of vpc to addr: local to one of its vSwitch
// subnets (system routes, never overridden), else the most specific of
// its custom route entries covering addr.
func (a *Analyzer) routeIn(vpc string, addr netip.Addr) vpcRoute {
	for i := range a.w.VSwitches {
		v := &a.w.VSwitches[i]
		if v.VpcID == vpc && (v.CidrBlock.Contains(addr) || (v.Ipv6CidrBlock.IsValid() && v.Ipv6CidrBlock.Contains(addr))) {
			return vpcRoute{local: v}
		}
	}
	for _, r := range a.routes[vpc] {
		if r.DestinationCidr.Contains(addr) {
			return vpcRoute{entry: r}
		}
	}
	return vpcRoute{}
}

// localCidr is the block of vSwitch v that holds addr (its IPv4 or its
// IPv6 block).
func localCidr(v *model.VSwitch, addr netip.Addr) netip.Prefix {
	if addr.Is6() && v.Ipv6CidrBlock.IsValid() {
		return v.Ipv6CidrBlock
	}
	return v.CidrBlock
}

// peerVPCOf is the VPC at the other end of the peering that vpc's route
// entries send addr to ("" if none): where the address is, seen from vpc.
func (a *Analyzer) peerVPCOf(vpc string, addr netip.Addr) string {
	r := a.routeIn(vpc, addr)
	if r.entry == nil {
		return ""
	}
	if p := a.peerings[r.entry.NextHopID]; p != nil {
		return p.Other(vpc)
	}
	return ""
}

// entryText names a route entry, or only describes it when it is another
// account's.
func (a *Analyzer) entryText(r *model.RouteEntry) string {
	if a.own(r.AccountID) {
		return fmt.Sprintf("route entry %s (%s) of %s", r.ID, r.DestinationCidr, r.VpcID)
	}
	return fmt.Sprintf("a route entry (%s) of %s", r.DestinationCidr, r.VpcID)
}

// peeringOf is the peering a packet from f to t (different VPCs) crosses,
// with the route step: allowed when from's VPC routes to's address over
// an Activated peering to to's VPC.
func (a *Analyzer) peerRouteStep(f, t target) (Step, *model.PeerConnection) {
	s := Step{Point: PointRoute, Resource: f.vpc, DecidedBy: ByRoute}
	r := a.routeIn(f.vpc, t.addr)
	switch {
	case r.local != nil:
		s.Detail = fmt.Sprintf("%s is an address of vSwitch %s (%s) of %s: the local route keeps it inside %s, and different VPCs (%s, %s) never reach each other that way",
			t.addr, r.local.ID, localCidr(r.local, t.addr), f.vpc, f.vpc, f.vpc, t.vpc)
		return s, nil
	case r.entry == nil:
		s.Detail = fmt.Sprintf("no route to %s in %s: no custom route entry of %s covers it (different VPCs (%s, %s) reach each other only where a route entry sends traffic over a peering connection)",
			t.addr, f.vpc, f.vpc, f.vpc, t.vpc)
		return s, nil
	}
	e := r.entry
	p := a.peerings[e.NextHopID]
	switch {
	case p == nil && a.nats[e.NextHopID] != nil:
		s.Detail = fmt.Sprintf("%s sends %s to NAT gateway %s, towards the internet, not over a peering connection to %s (different VPCs reach each other only over a peering connection)", a.entryText(e), t.addr, e.NextHopID, t.vpc)
		return s, nil
	case p == nil:
		if a.own(e.AccountID) {
			s.Detail = fmt.Sprintf("%s sends %s to peering connection %s, which does not exist", a.entryText(e), t.addr, e.NextHopID)
		} else {
			s.Detail = fmt.Sprintf("%s does not route %s over a peering connection to %s", f.vpc, t.addr, t.vpc)
		}
		return s, nil
	case p.Other(f.vpc) != t.vpc:
		s.Detail = fmt.Sprintf("%s sends %s over peering connection %s to %s, not to %s", a.entryText(e), t.addr, p.ID, p.Other(f.vpc), t.vpc)
		return s, nil
	case p.Status != model.PeerActivated:
		s.Detail = fmt.Sprintf("%s sends %s over peering connection %s, which is %s: it carries nothing until it is Activated", a.entryText(e), t.addr, p.ID, p.Status)
		if p.Status == model.PeerRejected {
			s.Detail = fmt.Sprintf("%s sends %s over peering connection %s, which is Rejected: it carries nothing", a.entryText(e), t.addr, p.ID)
		}
		return s, p
	}
	s.Allow = true
	s.Detail = fmt.Sprintf("%s sends %s over peering connection %s (Activated) to %s", a.entryText(e), t.addr, p.ID, t.vpc)
	if t.eni != nil {
		s.Detail += ", whose system route delivers it to vSwitch " + t.eni.e.VSwitchID
	}
	return s, p
}

// replyRouteStep is the route of the reply of a connection that crossed
// peering p from f to t: t's VPC must send f's address back over p.
func (a *Analyzer) replyRouteStep(f, t target, p *model.PeerConnection) Step {
	s := Step{Point: PointRoute, Resource: t.vpc, DecidedBy: ByRoute}
	r := a.routeIn(t.vpc, f.addr)
	switch {
	case r.local != nil:
		s.Detail = fmt.Sprintf("reply: %s is an address of vSwitch %s of %s: the local route keeps the reply inside %s, it never goes back over %s",
			f.addr, r.local.ID, t.vpc, t.vpc, p.ID)
	case r.entry == nil:
		s.Detail = fmt.Sprintf("reply: no route to %s in %s: no custom route entry of %s sends it back over peering connection %s, so the request arrives and nothing comes back",
			f.addr, t.vpc, t.vpc, p.ID)
	case r.entry.NextHopID != p.ID:
		hop := a.hopText(r.entry)
		s.Detail = fmt.Sprintf("reply: %s sends %s to %s, not back over %s, so the request arrives and nothing comes back", a.entryText(r.entry), f.addr, hop, p.ID)
	default:
		s.Allow = true
		s.Detail = fmt.Sprintf("reply: %s sends %s back over peering connection %s", a.entryText(r.entry), f.addr, p.ID)
	}
	return s
}

// vpcFirewallStep is the VPC firewall of peering p on a new connection
// crossing it (ok false when p has none).
func (a *Analyzer) vpcFirewallStep(p *model.PeerConnection, pkt Packet) (Step, bool) {
	fw := a.vpcFWs[p.ID]
	if fw == nil {
		return Step{}, false
	}
	own := a.own(fw.AccountID)
	name := "VPC firewall " + fw.ID + " on " + p.ID
	s := Step{Point: PointVpcFirewall, Resource: fw.ID, Allow: true}
	if !own {
		name = "the VPC firewall of account " + fw.AccountID + " on " + p.ID
		s.Resource = p.ID
	}
	if !fw.Enabled {
		s.DecidedBy = ByVpcFirewallOff
		s.Detail = name + " is off (closed): it judges nothing"
		return s, true
	}
	r, ok := fw.Decide(policy.Packet{Proto: pkt.Proto, Src: pkt.Src, Dst: pkt.Dst, SrcPort: pkt.SrcPort, DstPort: pkt.DstPort})
	if !ok {
		s.DecidedBy = ByVpcFirewallDefault
		s.Detail = "no policy of " + name + " matches: allowed"
		if pkt.Dst.Is6() {
			// Policies are IPv4 (IpVersion 4): 0.0.0.0/0 is not ::/0.
			s.Detail = "no policy of " + name + " matches: its policies name IPv4 addresses only, so IPv6 meets none; allowed"
		}
		return s, true
	}
	s.DecidedBy, s.Priority, s.Allow = ByVpcFirewallPolicy, r.Order, !r.Drop
	s.Action = model.FirewallAccept
	switch {
	case r.Drop:
		s.Action = model.FirewallDrop
	case r.Log:
		s.Action = model.FirewallLog
	}
	word := s.Action
	if r.Log {
		word = "log (allowed and counted)"
	}
	if own {
		s.RuleID = r.ID
		s.Detail = fmt.Sprintf("policy %s (order %d) of %s: %s", r.ID, r.Order, name, word)
	} else {
		s.Detail = fmt.Sprintf("a policy (order %d) of %s: %s", r.Order, name, word)
	}
	return s, true
}

// vpcFirewallAllows is vpcFirewallStep's verdict alone, without its text
// (the matrix asks it for every cross-VPC cell).
func (a *Analyzer) vpcFirewallAllows(p *model.PeerConnection, pkt Packet) bool {
	fw := a.vpcFWs[p.ID]
	if fw == nil || !fw.Enabled {
		return true
	}
	r, ok := fw.Decide(policy.Packet{Proto: pkt.Proto, Src: pkt.Src, Dst: pkt.Dst, SrcPort: pkt.SrcPort, DstPort: pkt.DstPort})
	return !ok || !r.Drop
}

// foreignStep is the destination step of an address in another
// account's VPC, reached over a peering: its side is not analysed.
func (a *Analyzer) foreignStep(t target) Step {
	return Step{Point: PointDestination, Resource: t.addr.String(), Allow: true, DecidedBy: ByState,
		Detail: t.addr.String() + " is in " + t.vpc + ", another account's VPC: its ENIs, network ACLs and security groups are not analysed here"}
}

// vpcFirewallFindings reports the account's VPC firewalls that are off on
// an Activated peering with an end in scope.
func (a *Analyzer) vpcFirewallFindings(in func(string) bool, add func(Finding)) {
	for _, fw := range a.w.VpcFirewalls {
		p := a.peerings[fw.PeerConnectionID]
		if fw.Enabled || !a.own(fw.AccountID) || p == nil || p.Status != model.PeerActivated {
			continue
		}
		if !(a.vpcs[p.VpcID] != nil && in(p.VpcID)) && !(a.vpcs[p.AcceptingVpcID] != nil && in(p.AcceptingVpcID)) {
			continue
		}
		add(Finding{SeverityLow, CodeVpcFirewallClosed, fw.ID, "",
			fmt.Sprintf("VPC firewall %s on peering connection %s (%s <-> %s) is off (closed): its policies judge nothing that crosses the peering", fw.ID, p.ID, p.VpcID, p.AcceptingVpcID),
			"open it (FirewallSwitch opened) if the peering's traffic is meant to be filtered, or delete it"})
	}
}
