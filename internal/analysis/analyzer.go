// Package analysis answers questions about a Palisade world without
// touching the kernel or the store: can X reach Y and why (each decision
// point with the rule or default that decided), who reaches whom in a VPC,
// and what in a configuration is dangerous, dead or close to a quota.
//
// It reads security groups exactly as package policy does (the same rule
// normalization, pooled order, intra-group precedence, defaults and
// fail-closed cases; differential tests compare the two on random worlds)
// and adds what policy leaves to the caller: VPC isolation, the state of
// instances, and network ACLs (SEMANTICS.md Part A, "Network ACLs").
//
// The service builds a World from the store (one account's resources) and
// calls New; nothing here does I/O, so answers are reproducible and what-if
// changes are just a modified World.
package analysis

import (
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/policy"
)

// World is the input of an analysis: the resources of one account.
// Membership comes from each ENI's SecurityGroupIDs.
type World struct {
	VPCs      []model.VPC
	VSwitches []model.VSwitch
	Groups    []model.SecurityGroup
	ENIs      []model.ENI
	Instances []model.Instance
	ACLs      []model.NetworkACL
	// EIPs route the internet to and from the ENIs they are associated
	// with (IPv4 only); an ENI without one is not on the internet.
	EIPs []model.EIP
	// PublicCIDR is the deployment's pool of elastic IP addresses (every
	// account's EIPs are in it): traffic between an address of it and a
	// VPC would have to turn around in the host (EIP hairpin), which the
	// data plane does not do. Zero: the pool is unknown, and only the
	// account's own associated EIPs are recognised.
	PublicCIDR netip.Prefix
	// WAF lists the protected ports: connections from the internet to
	// such a port of an instance's steered EIP (model.SteeredEIP) end at
	// the WAF, which connects on to the instance's upstream address and
	// port from the client's address and port.
	WAF []WAFSteer
	// Services are the account's PrivateLink services (the audit checks
	// that their instances, and their load balancers' backends, admit the
	// transit range).
	Services []model.EndpointService
	// Endpoints are the account's PrivateLink endpoints: their ENIs are
	// destinations whose connections go on to a service (while
	// connected), never sources. The provider's side is followed for a
	// service backed by load balancers that is in Services (the account's
	// own, privatelink.go); another account's is not read.
	Endpoints []model.Endpoint
	// LoadBalancers are the account's internal load balancers (Server
	// Load Balancer): their addresses are destinations whose connections
	// to a running listener go on to a backend (lb.go). LBHealth is the
	// last health of their backends as the agent of each one's zone
	// reported it (at most one record per load balancer; none yet: every
	// backend of a listener with its health check on is out).
	LoadBalancers []model.LoadBalancer
	LBHealth      []model.LBHealth
	// LBACLs are the account's access control lists of listeners.
	LBACLs []model.LBAccessControlList
	// FirewallPolicies and AddressBooks are the account's Internet
	// firewall; FirewallOff lists the EIP addresses it is switched off
	// for.
	FirewallPolicies []model.FirewallPolicy
	AddressBooks     []model.AddressBook
	FirewallOff      []netip.Addr
	// AccountID is the account the World is read for: resources of
	// another account (the far end of a peering, a VPC firewall it owns)
	// decide verdicts but are not named in them. Empty: every resource is
	// the caller's.
	AccountID string
	// Peerings are the VPC peering connections with an end in one of the
	// account's VPCs; the other end may be another account's VPC, whose
	// ENIs, network ACLs and security groups are not in the World (as the
	// provider side of PrivateLink): a path ends at its address.
	Peerings []model.PeerConnection
	// RouteEntries are the custom route entries of the account's VPCs and
	// of the other ends of Peerings (the route back).
	RouteEntries []model.RouteEntry
	// VpcFirewalls are Cloud Firewall's VPC firewalls on Peerings (of any
	// account), VpcFirewallPolicies their policies (VpcFirewallID set),
	// and PeerAddressBooks the address books of the other accounts that
	// own one of them (the account's own are in AddressBooks).
	VpcFirewalls        []model.VpcFirewall
	VpcFirewallPolicies []model.FirewallPolicy
	PeerAddressBooks    []model.AddressBook
	// Underlays are the underlays of the deployment's zones (every
	// zone's, whoever's instances its host serves): ENIs of one VPC in two
	// zones are on two hosts, and a packet between them crosses only when
	// the zones' underlays Join (model.Underlay.Joins), as the agents join
	// the hosts. A zone without one is joined to no other. ENIs of one
	// zone (or without a zone) are on one host, whatever the underlays.
	Underlays []model.Underlay
	// HostedZones are the zones a host serves now (an agent's recent
	// heartbeat, or palisade up's own zone). Paths between two zones are
	// judged by their hosts' underlays only when both zones have a host
	// (hosted, or an underlay announced): without agents (a server alone,
	// analysing policy) or with a zone nobody serves, nothing is said of
	// hosts.
	HostedZones []string
	// NatGateways are the account's Internet NAT gateways, SnatEntries
	// and ForwardEntries their SNAT and forward (DNAT) entries; the EIPs
	// associated with a gateway are in EIPs (InstanceType
	// model.EIPInstanceNat), its routes in RouteEntries (NextHopType
	// model.RouteNextHopNat). See nat.go.
	NatGateways    []model.NatGateway
	SnatEntries    []model.SnatEntry
	ForwardEntries []model.ForwardEntry
	// NatFirewallPolicies are the policies of Cloud Firewall's NAT
	// firewall on NatGateways (NatGatewayID set, stored under
	// model.PrefixNatFirewallPolicy); their address books are
	// AddressBooks, the Internet firewall's. See natfirewall.go.
	NatFirewallPolicies []model.FirewallPolicy
	// DomainResolutions are the addresses of the domains the firewalls'
	// policies name (the server's resolver's, as the agents match them).
	DomainResolutions []model.DomainResolution
	// DDoSEvents are the open Anti-DDoS events of the account's EIPs: an
	// EIP under a blackhole receives nothing from the internet, one under
	// scrubbing is scrubbed.
	DDoSEvents []model.DDoSEvent
	// Limits are the deployment's quotas, for the audit; zero fields are
	// not checked.
	Limits Limits
}

// WAFSteer is one protected port of an instance (a WAF protected object)
// with the mode of its template.
type WAFSteer struct {
	ProtectionID string
	InstanceID   string
	Port         int
	Protocol     string // HTTP or HTTPS (TLS terminated by the WAF)
	Mode         string // block, monitor or off (the core rule set's)
	Paranoia     int
	// Upstream is where the WAF forwards the requests it passes, IP:PORT
	// (model.WAFProtection.Upstream): the WAF's own connection goes there
	// from the client's address and port, so the network ACL and security
	// groups of the ENI holding IP decide on it at PORT. Empty: the
	// private address the steered EIP is mapped to, and Port (the agent's
	// default). One that is not a private IPv4 address of the instance is
	// not steered (the agent leaves the port on the direct path).
	Upstream string
}

// Limits are the quotas the audit compares usage with.
type Limits struct {
	VpcsPerAccount           int
	VSwitchesPerVpc          int
	SecurityGroupsPerAccount int
	GroupsPerENI             int
	RulesPerENI              int
	RulesPerGroup            int
	GroupRefRulesPerGroup    int
	BasicGroupIPs            int
	ENIsPerInstance          int
	PrivateIPsPerENI         int
	NetworkAclsPerVpc        int
	ACLEntriesPerDirection   int
}

type eniAddr struct {
	eni  string
	addr netip.Addr
}

type vpcAddr struct {
	vpc  string
	addr netip.Addr
}

// eniInfo is an ENI with what evaluation needs.
type eniInfo struct {
	e        *model.ENI
	idx      int32
	memberOf []int32 // groups it counts as a member of, sorted
	inst     *model.Instance
	vsw      *model.VSwitch
	ctx      *context
	// zone is the ENI's zone (its instance's when the ENI has none): the
	// host that serves it.
	zone string
}

// Analyzer holds a World with its indexes. It is safe for concurrent use.
type Analyzer struct {
	w        *World
	domains  policy.Domains
	vpcs     map[string]*model.VPC
	vsws     map[string]*model.VSwitch
	acls     map[string]*aclInfo
	aclList  []*aclInfo
	groups   []*groupInfo
	groupIdx map[string]int32
	enis     []*eniInfo
	eniIdx   map[string]int32
	insts    map[string]*model.Instance
	byAddr   map[vpcAddr]int32
	// instENIs lists the ENIs attached to each instance, by device index
	// (the instance's eth0, eth1, ...): the order of its routes.
	instENIs map[string][]*eniInfo
	// eipByAddr maps an associated EIP's address to it; eipByPrivate maps
	// (ENI, private IP) to the EIP mapped to it.
	eipByAddr    map[netip.Addr]*model.EIP
	eipByPrivate map[eniAddr]*model.EIP
	// waf maps an instance's protected port to its steering; steered
	// maps an instance to the ID of the EIP its ports are steered on.
	waf     map[instPort]*WAFSteer
	steered map[string]string

	// fwOff holds the EIP addresses the Internet firewall is off for;
	// firewalls the compiled firewall by account (under mu).
	fwOff     map[netip.Addr]bool
	firewalls map[string]policy.InternetFirewall
	// ddos holds the open Anti-DDoS event of each EIP address (a
	// blackhole over scrubbing).
	ddos map[netip.Addr]*model.DDoSEvent

	// peerings by ID; routes holds each VPC's custom route entries;
	// vpcFWs the compiled VPC firewall of each peering (the one with the
	// lowest ID when there are several).
	peerings map[string]*model.PeerConnection
	peered   map[string]bool
	routes   map[string][]*model.RouteEntry
	vpcFWs   map[string]*policy.VpcFirewall
	// underlays holds each zone's underlay (World.Underlays).
	underlays map[string]*model.Underlay
	// hosted holds the zones that have a host (World.HostedZones, and
	// those with an underlay).
	hosted map[string]bool
	// lbs holds the load balancers by ID, lbByAddr by address in their
	// VPC, lbHealth their last health by ID.
	lbs      map[string]*model.LoadBalancer
	lbByAddr map[vpcAddr]*model.LoadBalancer
	lbHealth map[string]*model.LBHealth
	lbACLs   map[string]*model.LBAccessControlList
	// services and endpoints hold World.Services and World.Endpoints by
	// ID.
	services  map[string]*model.EndpointService
	endpoints map[string]*model.Endpoint
	// nats holds the NAT gateways by ID, natAddr by EIP address,
	// natsByVPC by VPC (by ID); fwdByInt the forward entries by internal
	// address (IP mappings first); snats the SNAT entries by ID and
	// snatRanges each gateway's flattened SNAT entries (policy.SNATRanges).
	nats       map[string]*natGW
	natAddr    map[netip.Addr]*natGW
	natsByVPC  map[string][]*natGW
	fwdByInt   map[vpcAddr][]*model.ForwardEntry
	snats      map[string]*model.SnatEntry
	snatRanges map[string][]policy.Ranged[policy.SNATChoice]

	mu   sync.Mutex
	ctxs map[string]*context
}

// New indexes w. The World must not be modified afterwards.
func New(w *World) *Analyzer {
	a := &Analyzer{
		w:        w,
		domains:  policy.DomainsOf(w.DomainResolutions),
		vpcs:     make(map[string]*model.VPC, len(w.VPCs)),
		vsws:     make(map[string]*model.VSwitch, len(w.VSwitches)),
		acls:     make(map[string]*aclInfo, len(w.ACLs)),
		groupIdx: make(map[string]int32, len(w.Groups)),
		eniIdx:   make(map[string]int32, len(w.ENIs)),
		insts:    make(map[string]*model.Instance, len(w.Instances)),
		byAddr:   make(map[vpcAddr]int32, len(w.ENIs)),
		instENIs: make(map[string][]*eniInfo, len(w.Instances)),
		ctxs:     map[string]*context{},
		fwOff:    map[netip.Addr]bool{},
		ddos:     map[netip.Addr]*model.DDoSEvent{},

		eipByAddr:    map[netip.Addr]*model.EIP{},
		eipByPrivate: map[eniAddr]*model.EIP{},
		waf:          map[instPort]*WAFSteer{},
		steered:      map[string]string{},
	}
	for i := range w.WAF {
		s := &w.WAF[i]
		a.waf[instPort{s.InstanceID, s.Port}] = s
	}
	for i := range w.EIPs {
		e := &w.EIPs[i]
		if e.ENIID == "" || !e.Address.IsValid() {
			continue
		}
		a.eipByAddr[e.Address.Unmap()] = e
		a.eipByPrivate[eniAddr{e.ENIID, e.PrivateIP.Unmap()}] = e
	}
	for i := range w.VPCs {
		a.vpcs[w.VPCs[i].ID] = &w.VPCs[i]
	}
	a.underlays = make(map[string]*model.Underlay, len(w.Underlays))
	a.hosted = make(map[string]bool, len(w.Underlays)+len(w.HostedZones))
	for i := range w.Underlays {
		a.underlays[w.Underlays[i].ZoneID] = &w.Underlays[i]
		a.hosted[w.Underlays[i].ZoneID] = true
	}
	for _, z := range w.HostedZones {
		a.hosted[z] = true
	}
	for i := range w.VSwitches {
		a.vsws[w.VSwitches[i].ID] = &w.VSwitches[i]
	}
	for i := range w.ACLs {
		ai := newACLInfo(&w.ACLs[i])
		a.acls[ai.acl.ID] = ai
		a.aclList = append(a.aclList, ai)
	}
	for i := range w.Instances {
		a.insts[w.Instances[i].ID] = &w.Instances[i]
	}
	for i := range w.Groups {
		g := &w.Groups[i]
		a.groupIdx[g.ID] = int32(len(a.groups))
		a.groups = append(a.groups, &groupInfo{g: g, idx: int32(len(a.groups))})
	}
	for _, gi := range a.groups {
		for i := range gi.g.Rules {
			r := &gi.g.Rules[i]
			n, ok, why := normalize(r)
			n.groupID, n.group = gi.g.ID, gi.idx
			if ok && n.peerGroup != "" {
				pi, found := a.groupIdx[n.peerGroup]
				switch {
				case !found:
					ok, why = false, "peer group "+n.peerGroup+" does not exist"
				case gi.g.VpcID != "" && a.groups[pi].g.VpcID != "" && a.groups[pi].g.VpcID != gi.g.VpcID:
					ok, why = false, "peer group "+n.peerGroup+" is in another VPC"
				default:
					n.peerIdx = pi
				}
			}
			n.inert, n.why = !ok, why
			if ok {
				n.cov[0], n.covOK[0] = cover(&n, fam4, nil)
				n.cov[1], n.covOK[1] = cover(&n, fam6, nil)
			}
			switch {
			case strings.EqualFold(r.Direction, model.Ingress):
				gi.ingress = append(gi.ingress, n)
			case strings.EqualFold(r.Direction, model.Egress):
				gi.egress = append(gi.egress, n)
			}
		}
	}
	for i := range w.ENIs {
		e := &w.ENIs[i]
		ei := &eniInfo{e: e, idx: int32(i), inst: a.insts[e.InstanceID], vsw: a.vsws[e.VSwitchID], zone: e.ZoneID}
		if ei.zone == "" && ei.inst != nil {
			ei.zone = ei.inst.ZoneID
		}
		a.eniIdx[e.ID] = ei.idx
		a.enis = append(a.enis, ei)
		for _, gid := range uniq(e.SecurityGroupIDs) {
			gi, ok := a.groupIdx[gid]
			if !ok {
				continue
			}
			g := a.groups[gi]
			if g.g.VpcID == "" || g.g.VpcID == e.VpcID {
				ei.memberOf = append(ei.memberOf, gi)
				g.members = append(g.members, ei.idx)
			}
		}
		slices.Sort(ei.memberOf)
		for _, ad := range e.Addrs() {
			a.byAddr[vpcAddr{e.VpcID, ad.Unmap()}] = ei.idx
		}
		if ei.inst != nil {
			a.instENIs[e.InstanceID] = append(a.instENIs[e.InstanceID], ei)
		}
	}
	for _, es := range a.instENIs {
		// The data plane gives the default routes to the ENI with the
		// lowest device index (normally the primary ENI, eth0).
		slices.SortStableFunc(es, func(x, y *eniInfo) int {
			if c := x.e.DeviceIndex - y.e.DeviceIndex; c != 0 {
				return c
			}
			return strings.Compare(x.e.ID, y.e.ID)
		})
	}
	byInst := map[string][]*model.EIP{}
	for _, e := range a.eipByAddr {
		if i, ok := a.eniIdx[e.ENIID]; ok && a.enis[i].inst != nil {
			byInst[a.enis[i].inst.ID] = append(byInst[a.enis[i].inst.ID], e)
		}
	}
	for id, eips := range byInst {
		if k := model.SteeredEIP(a.insts[id].PrimaryENIID, eips, func(e *model.EIP) (string, string) { return e.ID, e.ENIID }); k >= 0 {
			a.steered[id] = eips[k].ID
		}
	}
	a.indexPeerings()
	a.indexLoadBalancers()
	a.indexPrivateLink()
	a.indexNAT()
	for _, ip := range w.FirewallOff {
		a.fwOff[ip] = true
	}
	for i := range w.DDoSEvents {
		e := &w.DDoSEvents[i]
		if cur := a.ddos[e.IP]; cur == nil || cur.Type != model.DDoSBlackhole {
			a.ddos[e.IP] = e
		}
	}
	return a
}

// instPort is a port of an instance.
type instPort struct {
	inst string
	port int
}

func uniq(ids []string) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// contextOf returns the (cached) evaluation context of an ENI.
func (a *Analyzer) contextOf(e *eniInfo) *context {
	a.mu.Lock()
	if c := e.ctx; c != nil {
		a.mu.Unlock()
		return c
	}
	ids := uniq(e.e.SecurityGroupIDs)
	key := strings.Join(ids, ",")
	c := a.ctxs[key]
	a.mu.Unlock()
	if c == nil {
		c = a.buildContext(ids) // outside the lock: Prepare builds in parallel
		c.key = key
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if old := a.ctxs[key]; old != nil {
		c = old
	} else {
		a.ctxs[key] = c
	}
	e.ctx = c
	return c
}

// Prepare builds the evaluation context (the pooled, sorted rule lists) of
// every ENI now, in parallel, instead of on first use: afterwards every
// query runs on ready indexes.
func (a *Analyzer) Prepare() {
	ch := make(chan *eniInfo, 256)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for e := range ch {
				a.contextOf(e)
			}
		})
	}
	for _, e := range a.enis {
		ch <- e
	}
	close(ch)
	wg.Wait()
}

// buildContext pools the rules of a set of groups (given in ENI order).
func (a *Analyzer) buildContext(ids []string) *context {
	c := &context{}
	if len(ids) == 0 {
		c.none = true
		return c
	}
	var gs []*groupInfo
	for _, id := range ids {
		gi, ok := a.groupIdx[id]
		if !ok {
			c.missing = id
			return c
		}
		gs = append(gs, a.groups[gi])
		c.groups = append(c.groups, gi)
	}
	c.defaultEgress = true
	for _, g := range gs {
		if policy.InnerAccept(g.g) {
			c.inner = append(c.inner, g.idx)
		}
		if !policy.IsBasic(g.g) {
			c.defaultEgress = false
		}
	}
	slices.Sort(c.inner)
	c.ingress = pool(gs, model.Ingress)
	c.egress = pool(gs, model.Egress)
	return c
}

// contexts returns the context of every ENI (built as needed) and, for
// each group, the contexts that contain it.
func (a *Analyzer) allContexts() []*context {
	seen := map[*context]bool{}
	var out []*context
	for _, e := range a.enis {
		c := a.contextOf(e)
		if !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	a.mu.Lock()
	for _, c := range out {
		c.enis = c.enis[:0]
	}
	for _, e := range a.enis {
		e.ctx.enis = append(e.ctx.enis, e.idx)
	}
	a.mu.Unlock()
	slices.SortFunc(out, func(x, y *context) int { return strings.Compare(x.key, y.key) })
	return out
}

// isMember reports whether ENI e counts as a member of group g.
func (a *Analyzer) isMember(e int32, g int32) bool {
	return e >= 0 && g >= 0 && slices.Contains(a.enis[e].memberOf, g)
}

// eniByAddr is the ENI of vpc holding addr, or -1.
func (a *Analyzer) eniByAddr(vpc string, addr netip.Addr) int32 {
	if i, ok := a.byAddr[vpcAddr{vpc, addr.Unmap()}]; ok {
		return i
	}
	return -1
}
