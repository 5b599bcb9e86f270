// Package dataplane holds the desired state of one host's kernel data plane
// as plain values. It knows nothing of the API or the store: the agent
// translates stored resources into a Host and hands it to an applier (see
// the linux subpackage), so dependencies point inward.
//
// # North-south: the public edge
//
// The host's own network stack plays the internet. A VPC with at least one
// elastic IP on the host gets an uplink, a link between its router and the
// host, and the host routes each EIP of the VPC over it. On the router the
// EIP is translated to the private address of its ENI on the way in and
// back on the way out; an ENI without an EIP has no path to or from the
// uplink at all. The translation happens at the router, never in the
// instance: the instance knows only its private address, and its security
// groups see the real internet address of the peer, as in the public
// clouds. Associating, moving or releasing an EIP ends the connections that
// used the old mapping.
//
// Every EIP has its own edge: a stage that sees each inbound packet for that
// public address, with the public address still as destination, after the
// uplink and before the translation. The redirection of HTTP(S) to the WAF
// attaches there (EIP.WAFPorts); the internet firewall, anti-DDoS meters,
// SYN proxy and blackholing will too, per EIP, without touching the
// translation or the security groups behind it.
package dataplane

import (
	"net/netip"
	"strings"
)

// Host is everything one host must have in its kernel.
type Host struct {
	VPCs []VPC
	// MirrorRelay is the traffic-mirror relay of this host (nil: none).
	MirrorRelay *MirrorRelay
}

// MirrorRelay is what the host admits to its traffic-mirror relay: its
// UDP port (mirror.RelayPort of the underlay port), from the underlay
// addresses of the other hosts whose ENIs are sources of sessions with
// targets here, and from no one else.
type MirrorRelay struct {
	Port  uint16
	Peers []netip.Addr
}

// VPC is one router namespace and the ENIs routed through it.
type VPC struct {
	// ID is the VPC's ID (vpc-...); the namespace carries exactly this name.
	ID string
	// Gateways holds one prefix per vSwitch: the gateway address with the
	// vSwitch's prefix length (192.168.1.253/24), IPv6 too when enabled.
	Gateways []netip.Prefix
	ENIs     []ENI
	// EIPs are the elastic IPs mapped to ENIs of this VPC on this host;
	// the VPC has an uplink exactly when there is at least one.
	EIPs []EIP
	// Endpoints are the PrivateLink endpoints of this VPC (the consumer)
	// served on this host.
	Endpoints []Endpoint
	// Firewall is the Internet firewall of the VPC's EIPs (nil: none).
	Firewall *Firewall
	// DDoS is the Anti-DDoS Basic protection of the VPC's EIPs (nil:
	// none).
	DDoS *DDoS
	// Peerings are this VPC's ends of activated VPC peering connections
	// whose other VPC also has its namespace on this host.
	Peerings []Peering
	// Overlay joins this VPC's namespace to its namespaces on other hosts
	// (nil: the VPC is on this host only, or this host has no underlay).
	Overlay *Overlay
	// LoadBalancers are the VPC's internal load balancers served on this
	// host (those of its zone).
	LoadBalancers []LoadBalancer
	// NATGateways are the VPC's Internet NAT gateways served on this host
	// (those of its zone). Their EIPs are routed over the uplink like the
	// ENIs' EIPs: the VPC has an uplink when it has either.
	NATGateways []NATGateway
}

// NATGateway translates between the internet and the ENIs of its VPC on
// this host with its EIPs:
//   - SNAT: a new connection to the internet from a source and to a
//     destination that an SNAT range covers leaves with the range's
//     address, unless its source has an EIP of its own or an IP mapping
//     (a DNAT rule with Proto 0), which it then leaves with;
//   - DNAT: a new connection from the internet to a rule's address,
//     protocol and port goes to its internal address and port; with Proto
//     0, every protocol and port of the address goes to the internal
//     address (an IP mapping);
//   - with ICMPReply, echo requests to its addresses that no IP mapping
//     takes are answered by the gateway.
type NATGateway struct {
	ID   string // ngw-...
	EIPs []EIP  // ID and Address
	SNAT []SNATRange
	DNAT []DNATRule
	// ICMPReply: the gateway answers pings to its addresses.
	ICMPReply bool
	// Firewall is the gateway's NAT firewall (Cloud Firewall), its rules
	// in order: they judge every new connection the gateway translates
	// on its way out (SNAT ranges and IP mappings), with the private
	// source, before the translation. The first rule that matches
	// decides; none matching (or no rule) allows.
	Firewall []FirewallRule
	// FirewallMap is Firewall flattened (nil: the rules are tried one
	// after another): one lookup finds the deciding rule.
	FirewallMap *FirewallMap
}

// FirewallMap is a firewall's rules flattened into disjoint boxes, each
// naming the index of the rule that decides it: Ports for TCP and UDP
// packets (source, protocol, destination port, destination), Any for the
// other protocols (the ports are then any). A packet in no box matches no
// rule.
type FirewallMap struct {
	Ports, Any []FirewallBox
}

// FirewallBox is one box of a FirewallMap (inclusive ranges, IPv4).
type FirewallBox struct {
	SrcFrom, SrcTo     netip.Addr
	ProtoFrom, ProtoTo uint8
	PortFrom, PortTo   uint16
	DstFrom, DstTo     netip.Addr
	Rule               int
}

// The Internet firewall's chains, as keys of their counters
// (Applier.FirewallCounters).
const (
	FirewallChainIn  = "in"
	FirewallChainOut = "out"
)

// NATFirewallChain names the chain of a gateway's NAT firewall rules, and
// the key of their counters (Applier.FirewallCounters).
func NATFirewallChain(gatewayID string) string {
	return "nfw_" + strings.ReplaceAll(gatewayID, "-", "_")
}

// PeerFirewallChain names the chain of the VPC firewall rules on a
// peering, in both ends' namespaces, and the key of their counters
// (Applier.FirewallCounters).
func PeerFirewallChain(peeringID string) string {
	return "vfw_" + strings.ReplaceAll(peeringID, "-", "_")
}

// SNATRange: sources From-Src..To-Src sending to Dst..DstTo leave with
// Addr. The ranges of a VPC's gateways do not overlap.
type SNATRange struct {
	Dst, DstTo netip.Addr
	Src, SrcTo netip.Addr
	Addr       netip.Addr
}

// DNATRule sends what arrives for Addr (Proto and Port; Proto 0: all) to
// Internal (InternalPort; with Proto 0 the same port).
type DNATRule struct {
	Addr         netip.Addr
	Proto        uint8 // 6, 17 or 0
	Port         uint16
	Internal     netip.Addr
	InternalPort uint16
}

// LoadBalancer is an internal load balancer's address in its VPC's
// namespace: connections to a listener's port go to one of the listener's
// backends, the client's address kept (destination NAT). Anything else
// sent to Addr is dropped, except echo requests, which it answers.
type LoadBalancer struct {
	ID        string     // lb-...
	Addr      netip.Addr // IPv4, of a vSwitch of the VPC
	Listeners []LBListener
}

// LBListener is one running listener with the backends that take new
// connections now (healthy, weight above 0); with none, its connections
// are dropped.
type LBListener struct {
	Protocol string // "tcp" or "udp"
	Port     uint16
	// BackendPort is where the backends receive the connections.
	BackendPort uint16
	// RoundRobin: in turn; otherwise at random, in proportion to weight.
	RoundRobin bool
	Backends   []LBBackend
	// ACL, when set, filters the listener's new connections by source.
	ACL *LBACL
}

// LBACL is a listener's access control: a whitelist (White) admits only
// sources in Prefixes, a blacklist refuses them; no prefixes admits all.
type LBACL struct {
	White    bool
	Prefixes []netip.Prefix // IPv4
}

// LBBackend is one backend of a listener.
type LBBackend struct {
	Addr   netip.Addr // IPv4
	Weight int        // 1-100
}

// Slots are the addresses a new connection picks from, one at random (or
// in turn for round robin): each backend once for round robin, otherwise
// weight/gcd(weights) times, so that the picks follow the weights.
func (l LBListener) Slots() []netip.Addr {
	var out []netip.Addr
	if l.RoundRobin {
		for _, b := range l.Backends {
			out = append(out, b.Addr)
		}
		return out
	}
	g := 0
	for _, b := range l.Backends {
		g = gcd(g, b.Weight)
	}
	for _, b := range l.Backends {
		for range b.Weight / max(g, 1) {
			out = append(out, b.Addr)
		}
	}
	return out
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// Overlay is a VPC spread over hosts: each host has the VPC's namespace
// with the ENIs it serves, and the namespaces are joined by VXLAN over
// the hosts' own network (the underlay), one network identifier per VPC.
// Each host routes the addresses of the ENIs served elsewhere to their
// host and judges its own ENIs: the egress of a packet on the sender's
// host, the ingress on the receiver's, as security groups and network
// ACLs say of each end.
type Overlay struct {
	// VNI is the VPC's VXLAN network identifier (unique in the store).
	VNI uint32
	// Local is this host's underlay address and Port the UDP port of
	// every host's tunnel end.
	Local netip.Addr
	Port  uint16
	// Remotes are the other hosts with ENIs of the VPC.
	Remotes []RemoteHost
	// NAT joins this host's ENIs to the VPC's NAT gateways on other hosts.
	NAT []OverlayNAT
}

// OverlayNAT is a NAT gateway on another host (Via: the underlay address
// of one of the Remotes) that translates for ENIs of this host: a packet
// from a source and to a destination of one of Routes goes to it over
// the tunnel, unless this host routes the destination itself (anything
// more specific than a default route) or the source is in Keep (it has an
// EIP here, and leaves by this host's uplink); and packets from outside
// the VPC (the internet, through the gateway) are let in from its tunnel
// end.
type OverlayNAT struct {
	Via    netip.Addr
	Routes []NATRoute
	Keep   []netip.Addr
}

// NATRoute is a source and a destination prefix.
type NATRoute struct{ Src, Dst netip.Prefix }

// RemoteHost is another host of a VPC: its underlay address and the
// addresses of the VPC's ENIs it serves.
type RemoteHost struct {
	Underlay netip.Addr
	Addrs    []netip.Addr
}

// Peering is one end of a VPC peering connection: a link from this VPC's
// namespace to the other VPC's (both ends carry the same link name, one in
// each namespace), the destinations this VPC routes over it, and the VPC
// firewall that judges the new connections arriving over it. A peering
// routes nothing by itself; each end routes what its own route entries
// say, so traffic crosses only where both ends route (the way back).
type Peering struct {
	// ID is the connection's ID (pcc-...).
	ID string
	// PeerVPC is the other VPC's ID (its namespace's name).
	PeerVPC string
	// Routes are the destinations this VPC sends over the link, IPv4
	// and IPv6.
	Routes []netip.Prefix
	// Firewall, when set, judges every new connection that arrives over
	// the link (each end judges what comes in, so each connection is
	// judged once, where it enters the other VPC): Rules in order, the
	// first match decides, none matching allows.
	Firewall *PeerFirewall
}

// PeerFirewall is a VPC firewall's policies as one end applies them.
type PeerFirewall struct {
	// ID is the VPC firewall's ID (vfw-...).
	ID    string
	Rules []FirewallRule
	// Map is Rules flattened (nil: the rules are tried one after
	// another).
	Map *FirewallMap
}

// ResolverAddr is the VPC's DNS server, as in Alibaba Cloud
// (100.100.2.136, in the range network ACLs never filter): an address of
// every VPC namespace, which instances reach through their gateway, and
// the nameserver of their resolv.conf.
func ResolverAddr() netip.Addr { return netip.AddrFrom4([4]byte{100, 100, 2, 136}) }

// DDoS counts the inbound packets and bytes of every Counted EIP before
// anything else sees them, drops everything to a Blackholed one, and
// scrubs the traffic of a Scrubbed one.
type DDoS struct {
	Counted    []netip.Addr
	Blackholed []netip.Addr
	Scrubbed   []DDoSScrub
}

// DDoSScrub scrubs the inbound traffic of IP: invalid packets and TCP
// packets that open no connection are dropped, each source is held to a
// rate of new TCP connections, UDP and ICMP packets, and what is left is
// throttled to Pps packets and Bps bits per second (0: no limit).
type DDoSScrub struct {
	IP  netip.Addr
	Pps int64
	Bps int64
}

// DDoSCounter is an EIP's cumulative inbound traffic, and the TCP SYNs
// (without ACK) among it.
type DDoSCounter struct {
	Packets, Bytes, SYNs uint64
}

// Firewall filters new connections between the internet and the
// Protected EIP addresses: In (to an EIP) and Out (from one, after
// translation) are tried in order, the first that matches decides, and
// none matching allows. Established connections are not judged again.
type Firewall struct {
	Protected []netip.Addr
	In, Out   []FirewallRule
	// InMap and OutMap are In and Out flattened (nil: the rules are tried
	// one after another).
	InMap, OutMap *FirewallMap
}

// FirewallRule matches a packet whose source is in Src, destination in
// Dst, protocol Proto (0: any) and, with Ports, destination port in one of
// them.
type FirewallRule struct {
	// ID is the policy's (its hits are counted per rule).
	ID       string
	Drop     bool
	Src, Dst []netip.Prefix
	Proto    uint8
	Ports    []PortRange
	// Log hands the first packet of each connection the rule decides to
	// NFLOG group FirewallLogGroup with prefix FirewallLogPrefix(ID), at
	// most FirewallLogRate a second (the policy's traffic log; its hits
	// count every connection).
	Log bool
}

// The Cloud Firewall's traffic log in the kernel: the NFLOG group in each
// VPC namespace (flow logs use 7, traffic mirrors 8), the rate each rule
// logs at most (after a burst), and how much of the packet is copied (the
// IPv4 header and the ports).
const (
	FirewallLogGroup   = 9
	FirewallLogRate    = 1000
	FirewallLogBurst   = 1000
	FirewallLogSnaplen = 64
	firewallLogPrefix  = "palisade-cfw "
)

// FirewallLogPrefix is the NFLOG prefix of the connections a policy's
// rule logs.
func FirewallLogPrefix(policyID string) string { return firewallLogPrefix + policyID }

// FirewallLogPolicy is the policy an NFLOG prefix names (false: not a
// firewall log's).
func FirewallLogPolicy(prefix string) (string, bool) {
	id, ok := strings.CutPrefix(prefix, firewallLogPrefix)
	return id, ok && id != "" && !strings.ContainsAny(id, " \x00")
}

// PortRange is an inclusive range of ports.
type PortRange struct{ From, To uint16 }

// Endpoint is a PrivateLink endpoint's ENI in a consumer VPC, joined to the
// provider VPC's namespace on the same host. Connections the consumer opens
// to Addr cross to the provider with TransitAddr as their source and go to
// one of Backends, the same port; nothing crosses the other way.
type Endpoint struct {
	ENIID       string
	Addr        netip.Addr // IPv4, in a consumer vSwitch
	TransitAddr netip.Addr // IPv4, unique on the host (model.TransitRange)
	ProviderVPC string
	// Backends are the provider instances' IPv4 addresses; with none,
	// connections to Addr are dropped.
	Backends []netip.Addr
	// LoadBalancer, when set, is the provider's internal load balancer
	// behind the service (lb-...): Backends are unused, and a connection
	// to a port of Addr goes to Listeners' listener on that port, to one
	// of its backends on its backend port; other ports are dropped.
	LoadBalancer string
	Listeners    []LBListener
}

// EIP maps one public IPv4 address to a private address of an ENI in the
// same VPC (both directions: DNAT in, SNAT out).
type EIP struct {
	// ID is the allocation ID (eip-...), for status.
	ID        string
	Address   netip.Addr
	ENIID     string
	PrivateIP netip.Addr
	// WAFPorts are the TCP ports of this address steered to the WAF
	// (protected objects): new connections to them are handed to a
	// transparent listener in the VPC namespace (linux.ListenTransparent)
	// instead of being translated to PrivateIP, and are dropped while no
	// such listener exists (fail closed: a protected port never bypasses
	// the WAF).
	WAFPorts []uint16
	// WAFAdmit holds, per steered port, the clients that the network ACL
	// and security groups of the WAF's upstream (the instance) admit: a
	// new connection from any other client is dropped at its SYN, as on
	// the direct path, instead of reaching the WAF and failing on its
	// upstream connection. A port without an entry admits every client at
	// the SYN (its filters admit all, or the answer was too large to load);
	// the upstream connection's filters decide either way.
	WAFAdmit map[uint16]WAFAdmission
}

// WAFAdmission is what a steered port admits at the SYN.
type WAFAdmission struct {
	// Clients are the admitted (address, source port) ranges.
	Clients []SourceRange
	// Log, when its Prefix is set, hands the refused SYNs to NFLOG (the
	// upstream's ENI is covered by a flow log: they are its REJECT
	// records, as its security groups' drops are).
	Log NFLog
}

// NFLog says how a data-plane drop is handed to NFLOG: with Prefix, to
// Group, at most Rate packets a second (Burst), each of at most Snaplen
// bytes; the named counters LoggedCounter and OverCounter (in the table of
// the rule) count what was handed over and what the rate kept back.
type NFLog struct {
	Prefix                     string
	Group                      uint16
	Snaplen, Rate, Burst       uint32
	LoggedCounter, OverCounter string
}

// SourceRange is a block of IPv4 clients: the addresses From-To, each with
// the source ports PortFrom-PortTo.
type SourceRange struct {
	From, To         netip.Addr
	PortFrom, PortTo uint16
}

// ENI is one elastic network interface attached to an instance.
type ENI struct {
	ID         string
	InstanceID string
	// DeviceIndex N makes the interface eth<N> inside the instance.
	DeviceIndex int
	MAC         string
	// Addrs lists the primary IPv4 address first, then secondaries, then IPv6.
	Addrs        []netip.Addr
	VSwitchCidr  netip.Prefix
	VSwitchCidr6 netip.Prefix // zero: no IPv6
	Gateway      netip.Addr
	Gateway6     netip.Addr // zero: no IPv6
}

// Status reports what an Apply achieved.
type Status struct {
	// ENIs is keyed by ENI ID and holds every ENI of the desired Host.
	ENIs map[string]ENIStatus
	// EIPs is keyed by allocation ID and holds every EIP of the desired
	// Host; Ready means the public address reaches its private address
	// (uplink, routes and translation in place, its ENI ready).
	EIPs map[string]ENIStatus
}

// ENIStatus says whether an ENI is fully in place in the kernel.
type ENIStatus struct {
	Ready bool
	// Error explains why the ENI is not ready; empty when Ready.
	Error string
}

// Ready reports whether the ENI with the given ID is fully in place.
func (s Status) Ready(eniID string) bool {
	return s.ENIs[eniID].Ready
}

// EIPReady reports whether the EIP with the given allocation ID is fully in
// place.
func (s Status) EIPReady(id string) bool {
	return s.EIPs[id].Ready
}
