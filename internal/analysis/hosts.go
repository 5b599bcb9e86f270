package analysis

import (
	"fmt"

	"github.com/palisade-project/palisade/internal/model"
)

// Each zone is served by one host (its agent). ENIs of one VPC in two
// zones are on two hosts, whose VPC namespaces the agents join by VXLAN
// only when both zones' underlays Join (model.Underlay.Joins, the
// predicate the agent uses), the VPC has a VNI, and both ENIs are
// instances' or PrivateLink endpoints' (the overlay routes nothing else
// between hosts; the endpoint's host makes a namespace of the consumer
// VPC for it when the VPC has no instance there). Otherwise the
// destination's address routes nowhere on the sender's host and the
// packet is dropped there. ENIs of one zone, or
// of no zone, are on one host: nothing to cross (a single host, such as
// palisade up serving its zone alone, is never affected). The address of
// an active load balancer is routed to its zone's host the same way
// (lb.go, lbHostsStep).

// hostsVerdict is why a packet between two zones' hosts crosses or not.
type hostsVerdict uint8

const (
	hostsJoined hostsVerdict = iota
	hostsNoUnderlayFrom
	hostsNoUnderlayTo
	hostsNoUnderlayEither
	hostsPortDiffers
	hostsFamilyDiffers
	hostsSameAddr
	hostsNoVNI
	hostsNotInstance
)

// crossesHosts reports whether a packet between f and t (ENIs of one VPC)
// goes from one host to another: their zones differ and both have a host
// (World.HostedZones). A zone nobody serves has no kernel to ask about:
// the answer is the policy's alone, as without agents.
func (a *Analyzer) crossesHosts(f, t *eniInfo) bool {
	return a.zonesCross(f.zone, t.zone)
}

// zonesCross reports whether a packet from zone fz's host to zone tz's
// crosses between two hosts (crossesHosts).
func (a *Analyzer) zonesCross(fz, tz string) bool {
	return fz != tz && fz != "" && tz != "" && a.hosted[fz] && a.hosted[tz]
}

// hostsJoin decides a packet from f to t, ENIs in different zones
// (Analyzer.crossesHosts), carried by the overlay of VPC vpc (theirs, or a
// peering's tunnel VPC).
func (a *Analyzer) hostsJoin(f, t *eniInfo, vpc string) hostsVerdict {
	if !routedBetweenHosts(f.e) || !routedBetweenHosts(t.e) {
		return hostsNotInstance
	}
	return a.zonesJoin(f.zone, t.zone, vpc)
}

// zonesJoin decides a packet from zone fz's host to zone tz's carried by
// the overlay of VPC vpc, whatever sends and receives it.
func (a *Analyzer) zonesJoin(fz, tz, vpc string) hostsVerdict {
	fu, tu := a.underlays[fz], a.underlays[tz]
	switch {
	case fu == nil && tu == nil:
		return hostsNoUnderlayEither
	case fu == nil:
		return hostsNoUnderlayFrom
	case tu == nil:
		return hostsNoUnderlayTo
	case fu.Joins(*tu):
	case fu.Port != tu.Port:
		return hostsPortDiffers
	case fu.Addr.Is4() != tu.Addr.Is4():
		return hostsFamilyDiffers
	default:
		return hostsSameAddr
	}
	if v := a.vpcs[vpc]; v != nil && v.VNI == 0 {
		return hostsNoVNI
	}
	return hostsJoined
}

// routedBetweenHosts reports whether the overlay routes e's addresses to
// its host: an instance's ENI, or a PrivateLink endpoint's.
func routedBetweenHosts(e *model.ENI) bool {
	return e.InstanceID != "" || e.EndpointID != ""
}

// hostsBlock reports whether a packet from f to t, ENIs of one VPC, is
// dropped between their hosts (the matrix's question).
func (a *Analyzer) hostsBlock(f, t *eniInfo) bool {
	return a.crossesHosts(f, t) && a.hostsJoin(f, t, f.e.VpcID) != hostsJoined
}

// hostsStep is the step of a packet from f to t, ENIs of one VPC, between
// their hosts; ok is false when both are on one host.
func (a *Analyzer) hostsStep(f, t *eniInfo) (Step, bool) {
	if !a.crossesHosts(f, t) {
		return Step{}, false
	}
	return a.hostsStepVia(f, t, f.e.VpcID), true
}

// hostsStepVia is the step of a packet from f to t between their hosts
// over the overlay of VPC vpc.
func (a *Analyzer) hostsStepVia(f, t *eniInfo, vpc string) Step {
	v := a.hostsJoin(f, t, vpc)
	other := ""
	if v == hostsNotInstance {
		other = t.e.ID
		if !routedBetweenHosts(f.e) {
			other = f.e.ID
		}
	}
	return a.zonesStep(f.zone, t.zone, vpc, v, other)
}

// zonesStep is the step of a packet from zone fz's host to zone tz's over
// the overlay of VPC vpc, given the verdict; eni names the ENI that is
// neither an instance's nor an endpoint's (hostsNotInstance).
func (a *Analyzer) zonesStep(fz, tz, vpc string, v hostsVerdict, eni string) Step {
	s := Step{Point: PointHosts, Resource: fz + " -> " + tz, DecidedBy: ByUnderlay}
	const nothing = "so nothing crosses between them"
	switch v {
	case hostsJoined:
		s.Allow = true
		s.Detail = fmt.Sprintf("zone %s's host and zone %s's are joined by the underlay: the packet crosses in VXLAN (UDP port %d)",
			fz, tz, a.underlays[fz].Port)
	case hostsNoUnderlayTo:
		s.Detail = fmt.Sprintf("zone %s's host has no underlay address (--underlay-addr of its palisade agent, or of palisade up): it is not joined to zone %s's host, %s", tz, fz, nothing)
	case hostsNoUnderlayFrom:
		s.Detail = fmt.Sprintf("zone %s's host has no underlay address (--underlay-addr of its palisade agent, or of palisade up): it is not joined to zone %s's host, %s", fz, tz, nothing)
	case hostsNoUnderlayEither:
		s.Detail = fmt.Sprintf("neither zone %s's host nor zone %s's has an underlay address (--underlay-addr of palisade agent, or of palisade up): they are not joined, %s", fz, tz, nothing)
	case hostsPortDiffers:
		s.Detail = fmt.Sprintf("zone %s's host tunnels on UDP port %d, zone %s's on %d (--underlay-port must be the same on every host): they are not joined, %s",
			fz, a.underlays[fz].Port, tz, a.underlays[tz].Port, nothing)
	case hostsFamilyDiffers:
		s.Detail = fmt.Sprintf("zone %s's host has an %s underlay address, zone %s's an %s one (every host needs one of the same family): they are not joined, %s",
			fz, family(a.underlays[fz].Addr.Is4()), tz, family(a.underlays[tz].Addr.Is4()), nothing)
	case hostsSameAddr:
		s.Detail = fmt.Sprintf("zones %s and %s announce the same underlay address: they are not joined, %s", fz, tz, nothing)
	case hostsNoVNI:
		s.Detail = fmt.Sprintf("%s has no VXLAN network identifier yet (the server assigns one at start): its namespaces on zone %s's and zone %s's hosts are not joined, %s",
			vpc, fz, tz, nothing)
	case hostsNotInstance:
		s.Detail = fmt.Sprintf("ENI %s is neither an instance's nor a PrivateLink endpoint's: only those are routed between hosts, so nothing crosses from zone %s's host to zone %s's",
			eni, fz, tz)
	}
	return s
}

// A packet over a peering between ENIs on two hosts goes through the
// overlay of the peering's tunnel VPC (model.PeerConnection.TunnelVPC) and
// crosses the peering on the host of the other VPC's ENI, either way (the
// agent's addTransits and peerRemotes): the two hosts must be joined as
// for one VPC, with the tunnel VPC's network identifier.

// peerHostsStep is the step of a packet from f to t, ENIs of two VPCs
// joined by peering p, when they are on two hosts (ok false otherwise).
func (a *Analyzer) peerHostsStep(f, t *eniInfo, p *model.PeerConnection) (Step, bool) {
	if !a.crossesHosts(f, t) {
		return Step{}, false
	}
	x := p.TunnelVPC()
	s := a.hostsStepVia(f, t, x)
	if s.Allow {
		at := t
		if t.e.VpcID == x {
			at = f
		}
		s.Detail = fmt.Sprintf("%s, in %s's overlay; it goes over peering connection %s on zone %s's host",
			s.Detail, x, p.ID, at.zone)
	}
	return s, true
}

func family(v4 bool) string {
	if v4 {
		return "IPv4"
	}
	return "IPv6"
}
