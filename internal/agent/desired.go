// Package agent reconciles one host's kernel to the store: it computes the
// full desired state for its zone (namespaces, links, routes, the compiled
// security-group program of each VPC) from a store snapshot and hands it
// to the data plane, then reports instance and ENI status back.
package agent

import (
	"cmp"
	"encoding/json"
	"fmt"
	"iter"
	"maps"
	"net/netip"
	"slices"

	"github.com/palisade-project/palisade/internal/dataplane"
	"github.com/palisade-project/palisade/internal/flowlog"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/policy"
	"github.com/palisade-project/palisade/internal/resolver"
	"github.com/palisade-project/palisade/internal/store"
)

// Desired is the state one host must have, computed from one snapshot.
type Desired struct {
	Revision int64
	Host     dataplane.Host
	// World holds every group, ENI, vSwitch and network ACL of the VPCs
	// present on the host (member sets need members wherever they run).
	World *policy.Snapshot
	// Programs is the security-group and network-ACL program of each VPC
	// on the host (one table, so one transaction changes both).
	Programs map[string]*policy.Program
	// Instances and ENIs are the local ones, for status reporting.
	Instances []model.Instance
	ENIs      []model.ENI
	// EIPs are the ones mapped to local ENIs, for status reporting.
	EIPs []model.EIP
	// FlowLogs are, per VPC, the active flow logs with the local ENIs
	// they cover (flowlog.go).
	FlowLogs map[string][]flowlog.Log
	// WAF holds the protected objects steered on this host (waf.go).
	WAF []WAFObject
	// DNS holds, per VPC on the host, the names its resolver answers
	// (resolver.go).
	DNS map[string]resolver.Records
	// LoadBalancers are the internal load balancers this host serves, with
	// their backends' addresses (slb.go); the agent gives each VPC's data
	// plane those listeners' healthy backends.
	LoadBalancers []LoadBalancer
}

// snapshot is everything read from the store in one transaction.
type snapshot struct {
	vpcs      map[string]model.VPC
	vswitches map[string]model.VSwitch
	groups    []model.SecurityGroup
	enis      []model.ENI
	instances []model.Instance
	acls      []model.NetworkACL
	eips      []model.EIP
	services  map[string]model.EndpointService
	endpoints []model.Endpoint
	policies  []model.FirewallPolicy
	books     []model.AddressBook
	fwOff     map[string]bool // model.FirewallOffKey -> switched off
	peerings  []model.PeerConnection
	routes    []model.RouteEntry
	vpcFws    []model.VpcFirewall
	vpcFwPols []model.FirewallPolicy
	underlays map[string]model.Underlay // zone -> its host's underlay
	lbs       []model.LoadBalancer
	lbACLs    map[string]model.LBAccessControlList
	natGWs    []model.NatGateway
	snats     []model.SnatEntry
	forwards  []model.ForwardEntry
	natFwPols []model.FirewallPolicy
	domains   policy.Domains // the server's resolutions of the policies' domains
}

func listAll[T any](tx store.ReadTxn, prefix string, each func(T)) error {
	return tx.List(prefix, func(key string, value []byte) error {
		var v T
		if err := json.Unmarshal(value, &v); err != nil {
			return fmt.Errorf("decode %s: %w", key, err)
		}
		each(v)
		return nil
	})
}

func readSnapshot(tx store.ReadTxn) (*snapshot, error) {
	s := &snapshot{vpcs: map[string]model.VPC{}, vswitches: map[string]model.VSwitch{}, services: map[string]model.EndpointService{}}
	if err := listAll(tx, model.PrefixVPC, func(v model.VPC) { s.vpcs[v.ID] = v }); err != nil {
		return nil, err
	}
	if err := listAll(tx, model.PrefixVSwitch, func(v model.VSwitch) { s.vswitches[v.ID] = v }); err != nil {
		return nil, err
	}
	if err := listAll(tx, model.PrefixSecurityGroup, func(g model.SecurityGroup) { s.groups = append(s.groups, g) }); err != nil {
		return nil, err
	}
	if err := listAll(tx, model.PrefixENI, func(e model.ENI) { s.enis = append(s.enis, e) }); err != nil {
		return nil, err
	}
	if err := listAll(tx, model.PrefixInstance, func(i model.Instance) { s.instances = append(s.instances, i) }); err != nil {
		return nil, err
	}
	if err := listAll(tx, model.PrefixNetworkACL, func(a model.NetworkACL) { s.acls = append(s.acls, a) }); err != nil {
		return nil, err
	}
	if err := listAll(tx, model.PrefixEIP, func(e model.EIP) { s.eips = append(s.eips, e) }); err != nil {
		return nil, err
	}
	if err := listAll(tx, model.PrefixEndpointService, func(v model.EndpointService) { s.services[v.ID] = v }); err != nil {
		return nil, err
	}
	if err := listAll(tx, model.PrefixEndpoint, func(e model.Endpoint) { s.endpoints = append(s.endpoints, e) }); err != nil {
		return nil, err
	}
	if err := listAll(tx, model.PrefixFirewallPolicy, func(p model.FirewallPolicy) { s.policies = append(s.policies, p) }); err != nil {
		return nil, err
	}
	if err := listAll(tx, model.PrefixAddressBook, func(b model.AddressBook) { s.books = append(s.books, b) }); err != nil {
		return nil, err
	}
	if err := listAll(tx, model.PrefixPeerConnection, func(p model.PeerConnection) { s.peerings = append(s.peerings, p) }); err != nil {
		return nil, err
	}
	if err := listAll(tx, model.PrefixRouteEntry, func(r model.RouteEntry) { s.routes = append(s.routes, r) }); err != nil {
		return nil, err
	}
	if err := listAll(tx, model.PrefixVpcFirewall, func(f model.VpcFirewall) { s.vpcFws = append(s.vpcFws, f) }); err != nil {
		return nil, err
	}
	if err := listAll(tx, model.PrefixVpcFirewallPolicy, func(p model.FirewallPolicy) { s.vpcFwPols = append(s.vpcFwPols, p) }); err != nil {
		return nil, err
	}
	s.underlays = map[string]model.Underlay{}
	if err := listAll(tx, model.PrefixUnderlay, func(u model.Underlay) { s.underlays[u.ZoneID] = u }); err != nil {
		return nil, err
	}
	if err := listAll(tx, model.PrefixLoadBalancer, func(lb model.LoadBalancer) { s.lbs = append(s.lbs, lb) }); err != nil {
		return nil, err
	}
	if err := listAll(tx, model.PrefixNatGateway, func(g model.NatGateway) { s.natGWs = append(s.natGWs, g) }); err != nil {
		return nil, err
	}
	if err := listAll(tx, model.PrefixSnatEntry, func(e model.SnatEntry) { s.snats = append(s.snats, e) }); err != nil {
		return nil, err
	}
	if err := listAll(tx, model.PrefixForwardEntry, func(e model.ForwardEntry) { s.forwards = append(s.forwards, e) }); err != nil {
		return nil, err
	}
	if err := listAll(tx, model.PrefixNatFirewallPolicy, func(p model.FirewallPolicy) { s.natFwPols = append(s.natFwPols, p) }); err != nil {
		return nil, err
	}
	var resolutions []model.DomainResolution
	if err := listAll(tx, model.PrefixDomainResolution, func(r model.DomainResolution) { resolutions = append(resolutions, r) }); err != nil {
		return nil, err
	}
	s.domains = policy.DomainsOf(resolutions)
	s.lbACLs = map[string]model.LBAccessControlList{}
	if err := listAll(tx, model.PrefixLBACL, func(a model.LBAccessControlList) { s.lbACLs[a.ID] = a }); err != nil {
		return nil, err
	}
	s.fwOff = map[string]bool{}
	if err := tx.List(model.PrefixFirewallOff, func(k string, _ []byte) error { s.fwOff[k] = true; return nil }); err != nil {
		return nil, err
	}
	return s, nil
}

// Build computes the desired state of the host serving zone. ifName maps
// an ENI ID to the name of its host-side interface in the VPC namespace
// (the data plane's naming).
func Build(tx store.ReadTxn, zone string, ifName func(eniID string) string) (*Desired, error) {
	s, err := readSnapshot(tx)
	if err != nil {
		return nil, err
	}
	d := &Desired{Revision: tx.Revision(), Programs: map[string]*policy.Program{}}
	local := map[string]bool{}
	// A stopped instance keeps its namespace and addresses, but its ENIs
	// are left out of the security-group program: the fail-closed guard
	// then drops every packet from and to them, as for a powered-off VM.
	stopped := map[string]bool{}
	for _, inst := range s.instances {
		if inst.ZoneID == zone {
			local[inst.ID] = true
			stopped[inst.ID] = inst.Status == model.InstanceStopped
			d.Instances = append(d.Instances, inst)
		}
	}
	byVPC := map[string]*dataplane.VPC{}
	localENI := map[string]string{} // ENI ID -> VPC ID
	for _, e := range s.enis {
		if e.InstanceID == "" || !local[e.InstanceID] {
			continue
		}
		vsw, ok := s.vswitches[e.VSwitchID]
		if !ok {
			continue // being deleted; nothing to route to
		}
		v := byVPC[e.VpcID]
		if v == nil {
			v = &dataplane.VPC{ID: e.VpcID}
			byVPC[e.VpcID] = v
		}
		de := dataplane.ENI{
			ID: e.ID, InstanceID: e.InstanceID, DeviceIndex: e.DeviceIndex, MAC: e.MAC,
			Addrs: e.Addrs(), VSwitchCidr: vsw.CidrBlock, Gateway: model.VSwitchGateway(vsw.CidrBlock),
		}
		if vsw.Ipv6CidrBlock.IsValid() {
			de.VSwitchCidr6 = vsw.Ipv6CidrBlock
			de.Gateway6 = model.VSwitchGateway(vsw.Ipv6CidrBlock)
		}
		v.ENIs = append(v.ENIs, de)
		d.ENIs = append(d.ENIs, e)
		localENI[e.ID] = e.VpcID
	}
	// Elastic IPs mapped to local ENIs: the VPC's uplink and translation.
	for _, e := range s.eips {
		vpc, ok := localENI[e.ENIID]
		if !ok || !e.Address.IsValid() || !e.PrivateIP.IsValid() {
			continue
		}
		byVPC[vpc].EIPs = append(byVPC[vpc].EIPs, dataplane.EIP{ID: e.ID, Address: e.Address, ENIID: e.ENIID, PrivateIP: e.PrivateIP})
		d.EIPs = append(d.EIPs, e)
	}
	addNATNamespaces(s, byVPC, zone)
	addEndpoints(s, byVPC, zone, stopped)
	addTransits(s, byVPC, zone)
	addPeerings(s, byVPC)
	addOverlays(s, byVPC, zone)
	// After the overlays: a gateway forwards to ENIs of other hosts too,
	// and ENIs here reach gateways of other hosts through them.
	addNATGateways(s, byVPC, zone, d)
	addOverlayNAT(s, byVPC, zone)
	addFirewalls(s, byVPC) // after the NAT gateways: their EIPs too
	d.LoadBalancers = loadBalancers(s, byVPC, zone)
	var wafVPCs map[string]bool
	if d.WAF, wafVPCs, err = buildWAF(tx, s, byVPC); err != nil {
		return nil, err
	}
	// Gateways: every vSwitch of a present VPC, so that a vSwitch's gateway
	// exists before its first ENI arrives.
	for _, vsw := range s.vswitches {
		v := byVPC[vsw.VpcID]
		if v == nil {
			continue
		}
		gw := netip.PrefixFrom(model.VSwitchGateway(vsw.CidrBlock), vsw.CidrBlock.Bits())
		v.Gateways = append(v.Gateways, gw)
		if vsw.Ipv6CidrBlock.IsValid() {
			v.Gateways = append(v.Gateways, netip.PrefixFrom(model.VSwitchGateway(vsw.Ipv6CidrBlock), vsw.Ipv6CidrBlock.Bits()))
		}
	}
	ids := make([]string, 0, len(byVPC))
	for id := range byVPC {
		ids = append(ids, id)
	}
	slices.Sort(ids)

	// The policy world: groups, ENIs, vSwitches and network ACLs of the
	// VPCs on this host.
	var groups []model.SecurityGroup
	for _, g := range s.groups {
		if byVPC[g.VpcID] != nil {
			groups = append(groups, g)
		}
	}
	var enis []model.ENI
	for _, e := range s.enis {
		if byVPC[e.VpcID] != nil {
			enis = append(enis, e)
		}
	}
	var vswitches []model.VSwitch
	for _, id := range sortedKeys(s.vswitches) {
		if vsw := s.vswitches[id]; byVPC[vsw.VpcID] != nil {
			vswitches = append(vswitches, vsw)
		}
	}
	var acls []model.NetworkACL
	for _, a := range s.acls {
		if byVPC[a.VpcID] != nil {
			acls = append(acls, a)
		}
	}
	d.World = policy.NewWorld(groups, enis, vswitches, acls)

	for _, id := range ids {
		v := byVPC[id]
		slices.SortFunc(v.ENIs, func(a, b dataplane.ENI) int { return cmpString(a.ID, b.ID) })
		slices.SortFunc(v.Gateways, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
		slices.SortFunc(v.EIPs, func(a, b dataplane.EIP) int { return a.Address.Compare(b.Address) })
		d.Host.VPCs = append(d.Host.VPCs, *v)
		ifaces := map[string]string{}
		for _, e := range v.ENIs {
			if !stopped[e.InstanceID] {
				ifaces[e.ID] = ifName(e.ID)
			}
		}
		for _, ep := range v.Endpoints {
			ifaces[ep.ENIID] = ifName(ep.ENIID)
		}
		d.Programs[id] = policy.Compile(d.World, ifaces)
	}
	// Filter the WAF's upstream connections: the agent's own, and those a
	// standalone WAF (waf serve) marks in a VPC with protected instances.
	for _, o := range d.WAF {
		d.Programs[o.VPCID].Transparent = true
	}
	for id := range wafVPCs {
		if p := d.Programs[id]; p != nil {
			p.Transparent = true
		}
	}
	if d.FlowLogs, err = buildFlowLogs(tx, d, ifName); err != nil {
		return nil, err
	}
	admitWAFClients(d, ifName)
	d.DNS = dnsRecords(s, d.Host.VPCs)
	return d, nil
}

// addFirewalls gives each VPC with EIPs on the host (its ENIs' or its NAT
// gateways') its account's Internet firewall, for the EIPs whose switch is
// on.
func addFirewalls(s *snapshot, byVPC map[string]*dataplane.VPC) {
	compiled := map[string]policy.InternetFirewall{}
	for id, v := range byVPC {
		vpc, ok := s.vpcs[id]
		if !ok {
			continue
		}
		// The ENIs' EIPs and the NAT gateways': the firewall judges a
		// connection by the public address, before DNAT and after SNAT.
		var protected []netip.Addr
		eips := slices.Clone(v.EIPs)
		for _, g := range v.NATGateways {
			eips = append(eips, g.EIPs...)
		}
		for _, e := range eips {
			if !s.fwOff[model.FirewallOffKey(vpc.AccountID, e.Address)] {
				protected = append(protected, e.Address)
			}
		}
		if len(protected) == 0 {
			continue
		}
		fw, ok := compiled[vpc.AccountID]
		if !ok {
			fw = policy.CompileInternetFirewall(vpc.AccountID, s.policies, s.books, s.domains)
			compiled[vpc.AccountID] = fw
		}
		v.Firewall = &dataplane.Firewall{Protected: protected, In: firewallRules(fw.In), Out: firewallRules(fw.Out)}
		if f, ok := policy.FlattenFirewall(fw.In, policy.MaxFirewallFlatElements); ok && len(fw.In) > 0 {
			v.Firewall.InMap = firewallMap(f)
		}
		if f, ok := policy.FlattenFirewall(fw.Out, policy.MaxFirewallFlatElements); ok && len(fw.Out) > 0 {
			v.Firewall.OutMap = firewallMap(f)
		}
	}
}

func firewallRules(rs []policy.FirewallRule) []dataplane.FirewallRule {
	out := make([]dataplane.FirewallRule, len(rs))
	for i, r := range rs {
		// Drop and log policies record what they decide (Cloud
		// Firewall's traffic log); accept policies are counted only.
		d := dataplane.FirewallRule{ID: r.ID, Drop: r.Drop, Log: r.Drop || r.Log, Src: r.Src, Dst: r.Dst, Proto: r.Proto}
		for _, p := range r.Ports {
			d.Ports = append(d.Ports, dataplane.PortRange{From: p.From, To: p.To})
		}
		out[i] = d
	}
	return out
}

// addPeerings gives both ends of every activated peering whose VPCs are
// both on the host their routes over it and its VPC firewall, when one is
// on.
func addPeerings(s *snapshot, byVPC map[string]*dataplane.VPC) {
	for _, p := range s.peerings {
		if p.Status != model.PeerActivated || byVPC[p.VpcID] == nil || byVPC[p.AcceptingVpcID] == nil {
			continue
		}
		// The firewall on the peering (the lowest ID, should there be
		// several, as the analyzer has it), when it is on.
		var fw *dataplane.PeerFirewall
		for _, f := range s.vpcFws {
			if f.PeerConnectionID == p.ID && (fw == nil || f.ID < fw.ID) {
				c := policy.CompileVpcFirewall(f, s.vpcFwPols, s.books)
				fw = &dataplane.PeerFirewall{ID: f.ID, Rules: firewallRules(c.Rules)}
				if flat, ok := policy.FlattenFirewall(c.Rules, policy.MaxFirewallFlatElements); ok && len(c.Rules) > 0 {
					fw.Map = firewallMap(flat)
				}
				if !f.Enabled {
					fw.Rules = nil
				}
			}
		}
		if fw != nil && fw.Rules == nil {
			fw = nil // off, or nothing to judge
		}
		for _, end := range []string{p.VpcID, p.AcceptingVpcID} {
			pe := dataplane.Peering{ID: p.ID, PeerVPC: p.Other(end), Firewall: fw}
			for _, r := range s.routes {
				if r.VpcID == end && r.NextHopID == p.ID && r.NextHopType == model.RouteNextHopPeer && r.DestinationCidr.IsValid() {
					pe.Routes = append(pe.Routes, r.DestinationCidr.Masked())
				}
			}
			slices.SortFunc(pe.Routes, func(a, b netip.Prefix) int {
				return cmp.Or(a.Addr().Compare(b.Addr()), cmp.Compare(a.Bits(), b.Bits()))
			})
			byVPC[end].Peerings = append(byVPC[end].Peerings, pe)
		}
	}
	for _, v := range byVPC {
		slices.SortFunc(v.Peerings, func(a, b dataplane.Peering) int { return cmpString(a.ID, b.ID) })
	}
}

// addTransits gives this host a namespace without ENIs of each peering's
// tunnel VPC (model.PeerConnection.TunnelVPC) that has none here, where
// the other VPC has ENIs here and the tunnel VPC has instances on a host
// joined to this one: their packets cross the peering here (see
// peerRemotes).
func addTransits(s *snapshot, byVPC map[string]*dataplane.VPC, zone string) {
	local, ok := s.underlays[zone]
	if !ok {
		return
	}
	for _, p := range s.peerings {
		x := p.TunnelVPC()
		if p.Status != model.PeerActivated || byVPC[p.Other(x)] == nil || byVPC[x] != nil || s.vpcs[x].VNI == 0 {
			continue
		}
		for range joinedRemoteENIs(s, x, zone, local) {
			byVPC[x] = &dataplane.VPC{ID: x}
			break
		}
	}
}

// peeringOf is the peering over which vpc's route entries send addr: the
// most specific entry covering it, unless a vSwitch of vpc holds addr (its
// system route wins); "" when none does.
func peeringOf(s *snapshot, vpc string, addr netip.Addr) string {
	for _, v := range s.vswitches {
		if v.VpcID == vpc && (v.CidrBlock.Contains(addr) || v.Ipv6CidrBlock.IsValid() && v.Ipv6CidrBlock.Contains(addr)) {
			return ""
		}
	}
	var best *model.RouteEntry
	for i := range s.routes {
		r := &s.routes[i]
		if r.VpcID == vpc && r.DestinationCidr.IsValid() && r.DestinationCidr.Contains(addr) &&
			(best == nil || r.DestinationCidr.Bits() > best.DestinationCidr.Bits() ||
				r.DestinationCidr.Bits() == best.DestinationCidr.Bits() && r.ID < best.ID) {
			best = r
		}
	}
	if best == nil || best.NextHopType != model.RouteNextHopPeer {
		return ""
	}
	return best.NextHopID
}

// peerRemotes adds to remote (underlay address -> addresses) the ENIs of
// the VPCs peered with vpc, where vpc is the peering's tunnel VPC, on the
// other hosts joined to local: vpc's namespace here routes each address
// its route entries send over the peering to the ENI's host, where vpc's
// namespace links to the peer's (addTransits). seen holds the addresses
// already routed (the VPC's own remote ENIs): an address is routed once.
func peerRemotes(s *snapshot, vpc string, zone string, local model.Underlay, remote map[netip.Addr][]netip.Addr, seen map[netip.Addr]bool) {
	for _, p := range s.peerings {
		if p.Status != model.PeerActivated || p.TunnelVPC() != vpc || p.Other(vpc) == vpc {
			continue
		}
		y := p.Other(vpc)
		for e, u := range joinedRemoteENIs(s, y, zone, local) {
			for _, a := range e.Addrs() {
				if !seen[a] && peeringOf(s, vpc, a) == p.ID {
					seen[a] = true
					remote[u.Addr] = append(remote[u.Addr], a)
				}
			}
		}
	}
}

// endpointRemotes adds to remote (underlay address -> addresses) the
// addresses of vpc's connected PrivateLink endpoints in the zones of other
// hosts joined to local: the endpoint's host makes a namespace of vpc for
// it (addEndpoints) when vpc has none there. seen holds the addresses
// already routed.
func endpointRemotes(s *snapshot, vpc, zone string, local model.Underlay, remote map[netip.Addr][]netip.Addr, seen map[netip.Addr]bool) {
	for _, ep := range s.endpoints {
		if ep.VpcID != vpc || ep.ConnectionStatus != model.EndpointConnected {
			continue
		}
		for _, z := range ep.Zones {
			u, ok := s.underlays[z.ZoneID]
			if z.ZoneID == zone || !ok || !local.Joins(u) || !z.Addr.IsValid() || seen[z.Addr] {
				continue
			}
			seen[z.Addr] = true
			remote[u.Addr] = append(remote[u.Addr], z.Addr)
		}
	}
}

// addEndpoints puts into each consumer VPC on the host its connected
// PrivateLink endpoints whose zone is this host's and whose provider VPC is
// here too (a zone is one host: the service's instances in the zone run
// here). The backends are the service's running instances of the zone.
// A consumer VPC without instances here gets a namespace for its endpoint
// when it has instances on a host joined to this one: they reach the
// endpoint through the VPC's overlay (addOverlays routes the endpoint's
// address to this host there).
func addEndpoints(s *snapshot, byVPC map[string]*dataplane.VPC, zone string, stopped map[string]bool) {
	enis := map[string]model.ENI{}
	for _, e := range s.enis {
		enis[e.ID] = e
	}
	insts := map[string]model.Instance{}
	for _, i := range s.instances {
		insts[i.ID] = i
	}
	slices.SortFunc(s.endpoints, func(a, b model.Endpoint) int { return cmpString(a.ID, b.ID) })
	for _, ep := range s.endpoints {
		svc, ok := s.services[ep.ServiceID]
		if !ok || ep.ConnectionStatus != model.EndpointConnected || byVPC[svc.VpcID] == nil ||
			!slices.ContainsFunc(ep.Zones, func(z model.EndpointZone) bool { return z.ZoneID == zone }) {
			continue
		}
		consumer := byVPC[ep.VpcID]
		if consumer == nil && reachedFromJoined(s, ep.VpcID, zone) {
			consumer = &dataplane.VPC{ID: ep.VpcID}
			byVPC[ep.VpcID] = consumer
		}
		if consumer == nil {
			continue
		}
		var backends []netip.Addr
		// A service backed by load balancers: the one of this zone
		// (the first by ID), whose listeners the agent fills in
		// (lbChecker.place).
		lbID := ""
		for _, r := range svc.Resources {
			if r.ResourceType == model.EndpointResourceSLB && r.ZoneID == zone && (lbID == "" || r.ResourceID < lbID) {
				lbID = r.ResourceID
			}
		}
		for _, r := range svc.Resources {
			if r.ResourceType == model.EndpointResourceSLB {
				continue
			}
			in, ok := insts[r.ResourceID]
			if !ok || in.ZoneID != zone || stopped[in.ID] || in.VpcID != svc.VpcID {
				continue
			}
			if e, ok := enis[in.PrimaryENIID]; ok && e.PrimaryIP.Is4() {
				backends = append(backends, e.PrimaryIP)
			}
		}
		slices.SortFunc(backends, netip.Addr.Compare)
		for _, z := range ep.Zones {
			if z.ZoneID != zone || !z.Addr.Is4() || !z.TransitAddr.Is4() {
				continue
			}
			consumer.Endpoints = append(consumer.Endpoints, dataplane.Endpoint{
				ENIID: z.ENIID, Addr: z.Addr, TransitAddr: z.TransitAddr, ProviderVPC: svc.VpcID, Backends: backends,
				LoadBalancer: lbID,
			})
		}
	}
}

// reachedFromJoined reports whether VPC vpc has instances on another host
// joined to this zone's by the underlay, with a VNI to join them by.
func reachedFromJoined(s *snapshot, vpc, zone string) bool {
	local, ok := s.underlays[zone]
	if !ok || s.vpcs[vpc].VNI == 0 {
		return false
	}
	for range joinedRemoteENIs(s, vpc, zone, local) {
		return true
	}
	return false
}

// joinedRemoteENIs yields vpc's instance ENIs in zones other than zone
// whose underlay local joins, with that underlay: the ENIs its overlay
// reaches on other hosts.
func joinedRemoteENIs(s *snapshot, vpc, zone string, local model.Underlay) iter.Seq2[model.ENI, model.Underlay] {
	return func(yield func(model.ENI, model.Underlay) bool) {
		for _, e := range s.enis {
			if e.VpcID != vpc || e.InstanceID == "" || e.ZoneID == zone {
				continue
			}
			if u, ok := s.underlays[e.ZoneID]; ok && local.Joins(u) && !yield(e, u) {
				return
			}
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// addOverlays joins each VPC on the host to the other hosts that serve
// ENIs of it: through this zone's underlay to each other zone's, with the
// addresses of the VPC's ENIs there. Nothing without this zone's underlay
// or the VPC's VNI; a zone without an underlay, or one this zone's does
// not Join (model.Underlay.Joins: another port or address family), is not
// joined (its ENIs stay unreachable from here, as here from there; the
// analyzer says so with the same predicate). The VPC's PrivateLink
// endpoints of other zones are routed to their hosts too
// (endpointRemotes), and a peering's tunnel VPC routes the peer's ENIs on
// other hosts through it (peerRemotes).
func addOverlays(s *snapshot, byVPC map[string]*dataplane.VPC, zone string) {
	local, ok := s.underlays[zone]
	if !ok {
		return
	}
	for id, v := range byVPC {
		vni := s.vpcs[id].VNI
		if vni == 0 {
			continue
		}
		remote := map[netip.Addr][]netip.Addr{}
		seen := map[netip.Addr]bool{}
		for e, u := range joinedRemoteENIs(s, id, zone, local) {
			remote[u.Addr] = append(remote[u.Addr], e.Addrs()...)
			for _, a := range e.Addrs() {
				seen[a] = true
			}
		}
		endpointRemotes(s, id, zone, local, remote, seen)
		lbRemotes(s, id, zone, local, remote, seen)
		natRemotes(s, id, zone, local, remote)
		peerRemotes(s, id, zone, local, remote, seen)
		if len(remote) == 0 {
			continue
		}
		o := &dataplane.Overlay{VNI: vni, Local: local.Addr, Port: local.Port}
		for _, addr := range slices.SortedFunc(maps.Keys(remote), netip.Addr.Compare) {
			addrs := remote[addr]
			slices.SortFunc(addrs, netip.Addr.Compare)
			o.Remotes = append(o.Remotes, dataplane.RemoteHost{Underlay: addr, Addrs: slices.Compact(addrs)})
		}
		v.Overlay = o
	}
}
