package agent

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/palisade-project/palisade/internal/dataplane"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/policy"
)

// addNATGateways gives each VPC on this host the Internet NAT gateways of
// this zone with their EIPs (which join d.EIPs, for their status and
// Anti-DDoS), their forward entries to the VPC's ENIs on this host, and
// their SNAT ranges: the sources of the gateway's SNAT entries (the most
// specific entry wins) crossed with the destinations the VPC's route
// entries send to the gateway (the longest prefix wins). A gateway reaches
// the instances of its own zone only: its host does not carry translated
// traffic to other hosts.
func addNATGateways(s *snapshot, byVPC map[string]*dataplane.VPC, zone string, d *Desired) {
	for _, g := range s.natGWs {
		v := byVPC[g.VpcID]
		if g.ZoneID != zone || v == nil {
			continue
		}
		local := map[netip.Addr]bool{}
		for _, e := range v.ENIs {
			for _, a := range e.Addrs {
				local[a] = true
			}
		}
		dg := dataplane.NATGateway{ID: g.ID, ICMPReply: g.IcmpReplyEnabled}
		for _, e := range s.eips {
			if e.InstanceType != model.EIPInstanceNat || e.InstanceID != g.ID || !e.Address.Is4() {
				continue
			}
			dg.EIPs = append(dg.EIPs, dataplane.EIP{ID: e.ID, Address: e.Address})
			d.EIPs = append(d.EIPs, e)
		}
		slices.SortFunc(dg.EIPs, func(a, b dataplane.EIP) int { return a.Address.Compare(b.Address) })
		for _, f := range s.forwards {
			if f.NatGatewayID != g.ID || !local[f.InternalIP] {
				continue
			}
			r := dataplane.DNATRule{Addr: f.ExternalIP, Port: f.ExternalPort, Internal: f.InternalIP, InternalPort: f.InternalPort}
			switch f.IpProtocol {
			case model.NatProtoTCP:
				r.Proto = 6
			case model.NatProtoUDP:
				r.Proto = 17
			case model.NatProtoAny:
				r.Port, r.InternalPort = 0, 0
			default:
				continue
			}
			dg.DNAT = append(dg.DNAT, r)
		}
		slices.SortFunc(dg.DNAT, func(a, b dataplane.DNATRule) int {
			if c := a.Addr.Compare(b.Addr); c != 0 {
				return c
			}
			if a.Proto != b.Proto {
				return int(a.Proto) - int(b.Proto)
			}
			return int(a.Port) - int(b.Port)
		})
		dg.SNAT = natSNATRanges(g, s.snats, s.routes)
		v.NATGateways = append(v.NATGateways, dg)
	}
	for _, v := range byVPC {
		slices.SortFunc(v.NATGateways, func(a, b dataplane.NATGateway) int { return strings.Compare(a.ID, b.ID) })
	}
}

// natSNATRanges are gateway g's SNAT ranges: its SNAT entries' sources
// (policy.SNATRanges) for the destinations its VPC routes to it
// (policy.FlattenPrefixes over all the VPC's route entries).
func natSNATRanges(g model.NatGateway, snats []model.SnatEntry, routes []model.RouteEntry) []dataplane.SNATRange {
	var mine []model.SnatEntry
	for _, e := range snats {
		if e.NatGatewayID == g.ID {
			mine = append(mine, e)
		}
	}
	// In creation order, so that equal prefixes (which the service
	// refuses) would resolve the same way everywhere.
	slices.SortFunc(mine, func(a, b model.SnatEntry) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	sources := make([]policy.SNATSource, 0, len(mine))
	for _, e := range mine {
		sources = append(sources, policy.SNATSource{EntryID: e.ID, Prefix: e.SourceCIDR, Addrs: e.SnatIPs})
	}
	src := policy.SNATRanges(sources)
	var hops []policy.PrefixValue[string]
	for _, r := range routes {
		if r.VpcID == g.VpcID {
			hop := ""
			if r.NextHopType == model.RouteNextHopNat {
				hop = r.NextHopID
			}
			hops = append(hops, policy.PrefixValue[string]{Prefix: r.DestinationCidr, Value: hop})
		}
	}
	var out []dataplane.SNATRange
	for _, dst := range policy.FlattenPrefixes(hops) {
		if dst.Value != g.ID {
			continue
		}
		for _, s := range src {
			out = append(out, dataplane.SNATRange{Dst: dst.From, DstTo: dst.To, Src: s.From, SrcTo: s.To, Addr: s.Value.Addr})
		}
	}
	return out
}
