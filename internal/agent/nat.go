package agent

import (
	"maps"
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
// entries send to the gateway (the longest prefix wins). Forward entries
// reach the VPC's ENIs on this host and, over the overlay, on the other
// hosts (whose agents route their answers back here: addOverlayNAT).
func addNATGateways(s *snapshot, byVPC map[string]*dataplane.VPC, zone string, d *Desired) {
	for _, g := range s.natGWs {
		v := byVPC[g.VpcID]
		if g.ZoneID != zone || v == nil {
			continue
		}
		local := map[netip.Addr]bool{} // ENI addresses here and on the overlay's other hosts
		for _, e := range v.ENIs {
			for _, a := range e.Addrs {
				local[a] = true
			}
		}
		if v.Overlay != nil {
			for _, r := range v.Overlay.Remotes {
				for _, a := range r.Addrs {
					local[a] = true
				}
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
		nfw := policy.CompileNatFirewall(g.AccountID, g.ID, s.natFwPols, s.books, s.domains)
		dg.Firewall = firewallRules(nfw.Rules)
		if len(dg.Firewall) == 0 {
			dg.Firewall = nil
		} else if flat, ok := policy.FlattenFirewall(nfw.Rules, policy.MaxFirewallFlatElements); ok {
			dg.FirewallMap = firewallMap(flat)
		}
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

// addNATNamespaces gives the VPC of each NAT gateway of this zone with an
// EIP a namespace here even without an instance of the VPC in the zone (a
// vSwitch of its own for the gateway is the usual layout): the gateway
// then translates for the VPC's instances on other hosts, which reach it
// over the overlay (natRemotes).
func addNATNamespaces(s *snapshot, byVPC map[string]*dataplane.VPC, zone string) {
	withEIP := map[string]bool{}
	for _, e := range s.eips {
		if e.InstanceType == model.EIPInstanceNat {
			withEIP[e.InstanceID] = true
		}
	}
	for _, g := range s.natGWs {
		if g.ZoneID == zone && withEIP[g.ID] && byVPC[g.VpcID] == nil {
			if _, ok := s.vpcs[g.VpcID]; ok {
				byVPC[g.VpcID] = &dataplane.VPC{ID: g.VpcID}
			}
		}
	}
}

// natRemotes adds to remote the hosts of the VPC's NAT gateways in other
// zones joined to local, without addresses of their own: the tunnel to
// them carries this host's internet traffic (addOverlayNAT), and their
// host may have no ENI of the VPC at all (addNATNamespaces).
func natRemotes(s *snapshot, vpc, zone string, local model.Underlay, remote map[netip.Addr][]netip.Addr) {
	for _, g := range s.natGWs {
		if g.VpcID != vpc || g.ZoneID == zone {
			continue
		}
		if u, ok := s.underlays[g.ZoneID]; ok && local.Joins(u) {
			remote[u.Addr] = append(remote[u.Addr], []netip.Addr{}...)
		}
	}
}

// addOverlayNAT joins the ENIs of this host to the NAT gateways of their
// VPC on other hosts of the overlay: the sources the gateway's SNAT
// ranges cover, and the internal addresses of its forward entries that
// are here, are routed to the gateway's host for the destinations the
// VPC sends to the gateway (ENIs with an EIP of this host keep leaving
// by its uplink).
func addOverlayNAT(s *snapshot, byVPC map[string]*dataplane.VPC, zone string) {
	for _, g := range s.natGWs {
		v := byVPC[g.VpcID]
		if g.ZoneID == zone || v == nil || v.Overlay == nil {
			continue
		}
		u, ok := s.underlays[g.ZoneID]
		if !ok || !slices.ContainsFunc(v.Overlay.Remotes, func(r dataplane.RemoteHost) bool { return r.Underlay == u.Addr }) {
			continue
		}
		here := map[netip.Addr]bool{}
		for _, e := range v.ENIs {
			for _, a := range e.Addrs {
				here[a] = true
			}
		}
		n := dataplane.OverlayNAT{Via: u.Addr}
		seen := map[dataplane.NATRoute]bool{}
		add := func(r dataplane.NATRoute) {
			if !seen[r] {
				seen[r] = true
				n.Routes = append(n.Routes, r)
			}
		}
		for _, r := range natSNATRanges(g, s.snats, s.routes) {
			for _, src := range policy.RangePrefixes(r.Src, r.SrcTo) {
				if !slices.ContainsFunc(slices.Collect(maps.Keys(here)), src.Contains) {
					continue // no ENI of this host in it
				}
				for _, dst := range policy.RangePrefixes(r.Dst, r.DstTo) {
					add(dataplane.NATRoute{Src: src, Dst: dst})
				}
			}
		}
		// The answers of forwarded ports, and IP mappings both ways, go
		// back through the gateway, wherever the VPC routes the internet.
		for _, f := range s.forwards {
			if f.NatGatewayID == g.ID && here[f.InternalIP] {
				add(dataplane.NATRoute{Src: netip.PrefixFrom(f.InternalIP, 32), Dst: netip.MustParsePrefix("0.0.0.0/0")})
			}
		}
		if len(n.Routes) == 0 {
			continue
		}
		for _, e := range v.EIPs {
			n.Keep = append(n.Keep, e.PrivateIP)
		}
		slices.SortFunc(n.Keep, netip.Addr.Compare)
		slices.SortFunc(n.Routes, func(a, b dataplane.NATRoute) int {
			if c := a.Src.Addr().Compare(b.Src.Addr()); c != 0 {
				return c
			}
			if a.Src.Bits() != b.Src.Bits() {
				return a.Src.Bits() - b.Src.Bits()
			}
			if c := a.Dst.Addr().Compare(b.Dst.Addr()); c != 0 {
				return c
			}
			return a.Dst.Bits() - b.Dst.Bits()
		})
		v.Overlay.NAT = append(v.Overlay.NAT, n)
	}
	for _, v := range byVPC {
		if v.Overlay != nil {
			slices.SortFunc(v.Overlay.NAT, func(a, b dataplane.OverlayNAT) int { return a.Via.Compare(b.Via) })
		}
	}
}

// firewallMap is a flattened firewall as the data plane takes it.
func firewallMap(f policy.FirewallFlat) *dataplane.FirewallMap {
	conv := func(es []policy.FirewallElement) []dataplane.FirewallBox {
		out := make([]dataplane.FirewallBox, 0, len(es))
		for _, e := range es {
			out = append(out, dataplane.FirewallBox{SrcFrom: e.Peer.From, SrcTo: e.Peer.To,
				ProtoFrom: uint8(e.Proto.From), ProtoTo: uint8(e.Proto.To), PortFrom: e.DPort.From, PortTo: e.DPort.To,
				DstFrom: e.Local.From, DstTo: e.Local.To, Rule: e.Rule})
		}
		return out
	}
	return &dataplane.FirewallMap{Ports: conv(f.Ports), Any: conv(f.Any)}
}
