package analysis

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/palisade-project/palisade/internal/model"
)

// Packet is the first packet of a flow.
type Packet struct {
	Src, Dst         netip.Addr
	Proto            uint8
	SrcPort, DstPort uint16
}

// reverse is the reply of p.
func (p Packet) reverse() Packet {
	return Packet{Src: p.Dst, Dst: p.Src, Proto: p.Proto, SrcPort: p.DstPort, DstPort: p.SrcPort}
}

func hasPorts(proto uint8) bool { return proto == ProtoTCP || proto == ProtoUDP }

// String renders "tcp 10.0.0.1:49152 -> 10.0.0.2:5432".
func (p Packet) String() string {
	name := ProtoName(p.Proto)
	if hasPorts(p.Proto) {
		return fmt.Sprintf("%s %s -> %s", name, netip.AddrPortFrom(p.Src, p.SrcPort), netip.AddrPortFrom(p.Dst, p.DstPort))
	}
	return fmt.Sprintf("%s %s -> %s", name, p.Src, p.Dst)
}

// ProtoName is the lowercase name of an IP protocol number.
func ProtoName(p uint8) string {
	switch p {
	case ProtoTCP:
		return "tcp"
	case ProtoUDP:
		return "udp"
	case ProtoICMP:
		return "icmp"
	case ProtoICMPv6:
		return "icmpv6"
	case ProtoGRE:
		return "gre"
	}
	return fmt.Sprintf("proto-%d", p)
}

// Decision kinds of a Step.
const (
	ByRule         = "rule"
	ByIntraGroup   = "intra-group"
	ByDefault      = "default"
	ByNoGroups     = "no-groups"
	ByUnknownGroup = "unknown-group"
	ByUnknownENI   = "unknown-eni"
	ByInvalid      = "invalid-packet"
	ByACLEntry     = "acl-entry"
	ByACLDefault   = "acl-default"
	ByNoACL        = "no-acl"
	ByExempt       = "exempt"
	ByUnknownACL   = "unknown-acl"
	ByRoute        = "route"
	ByState        = "state"
	ByWAF          = "waf"
	// ByUnderlay decides a PointHosts step: the zones' underlays (and
	// the VPC's VNI, the ENIs' kinds).
	ByUnderlay = "underlay"
	// ByFirewallPolicy and ByFirewallDefault: the Internet firewall's
	// policy that matched, or none (allowed); ByFirewallOff: switched off
	// for the EIP.
	ByFirewallPolicy  = "firewall-policy"
	ByFirewallDefault = "firewall-default"
	ByFirewallOff     = "firewall-off"
	// ByDDoSBlackhole and ByDDoSScrubbing: Anti-DDoS Basic's mitigation
	// of the destination EIP under attack.
	ByDDoSBlackhole = "ddos-blackhole"
	ByDDoSScrubbing = "ddos-scrubbing"
	// ByLoadBalancer decides a PointLoadBalancer step: the load
	// balancer's state and listeners. ByLBWeight and ByLBHealth decide a
	// PointLBBackend step: the backend's weight (0 takes no new
	// connections; above 0 suffices when the listener checks no health),
	// or its last reported health. ByLoadBalancerACL decides a
	// PointLoadBalancer step by the listener's access control list
	// (RuleID: the list's ID).
	ByLoadBalancer    = "load-balancer"
	ByLoadBalancerACL = "lb-acl"
	ByLBWeight        = "lb-weight"
	ByLBHealth        = "lb-health"
	// ByNatGateway decides a PointNatGateway step: which entry of the NAT
	// gateway takes the connection (RuleID), the gateway's zone, or why
	// it drops it; ByNatEntry a PointNatEntry step: the entry's
	// translation.
	ByNatGateway = "nat-gateway"
	ByNatEntry   = "nat-entry"
)

// sgDecision is the verdict of the security groups of one ENI.
type sgDecision struct {
	allow bool
	by    string
	rule  *srule
	group string // intra-group or unknown group
}

// evalSG decides pkt in direction dir at ENI e, as policy.EvaluateENI.
func (a *Analyzer) evalSG(e *eniInfo, dir string, pkt Packet) sgDecision {
	return a.evalSGList(e, dir, pkt, nil)
}

// evalSGList is evalSG over list instead of the context's pooled list for
// dir, when list is not nil: a prefiltered list (rules that cannot match
// the packet's protocol, ports or local address left out) gives the same
// verdict.
func (a *Analyzer) evalSGList(e *eniInfo, dir string, pkt Packet, list pooled) sgDecision {
	c := a.contextOf(e)
	if list == nil {
		list = c.list(dir)
	}
	switch {
	case c.none:
		return sgDecision{by: ByNoGroups}
	case c.missing != "":
		return sgDecision{by: ByUnknownGroup, group: c.missing}
	}
	src, dst := pkt.Src.Unmap(), pkt.Dst.Unmap()
	if !src.IsValid() || !dst.IsValid() || src.Is4() != dst.Is4() {
		return sgDecision{by: ByInvalid}
	}
	peer, local := src, dst
	if dir == model.Egress {
		peer, local = dst, src
	}
	peerENI := a.eniByAddr(e.e.VpcID, peer)
	if peerENI >= 0 {
		for _, g := range c.groups {
			if slices.Contains(c.inner, g) && a.isMember(peerENI, g) {
				return sgDecision{allow: true, by: ByIntraGroup, group: a.groups[g].g.ID}
			}
		}
	}
	fam := addrFamily(peer)
	for _, r := range list {
		if a.match(r, fam, peerENI, peer, local, pkt) {
			return sgDecision{allow: !r.drop, by: ByRule, rule: r}
		}
	}
	return sgDecision{allow: dir == model.Egress && c.defaultEgress, by: ByDefault}
}

// match reports whether r matches; peerENI is the ENI holding peer or -1.
func (a *Analyzer) match(r *srule, fam int, peerENI int32, peer, local netip.Addr, pkt Packet) bool {
	if r.family != famAny && r.family != fam {
		return false
	}
	if !r.proto.has(uint16(pkt.Proto)) {
		return false
	}
	if r.ports && (!r.dport.has(pkt.DstPort) || !r.sport.has(pkt.SrcPort)) {
		return false
	}
	if r.local.IsValid() && !r.local.Contains(local) {
		return false
	}
	if r.peerGroup != "" {
		return a.isMember(peerENI, r.peerIdx)
	}
	return r.peer.Contains(peer)
}
