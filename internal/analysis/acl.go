package analysis

import (
	"net/netip"

	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/policy"
)

// Network ACLs, read by policy.ReadACLEntry and walked as policy's
// evaluator walks them (policy/acl.go; the differential tests check it):
// stateless, one per vSwitch; a packet crossing vSwitches passes the sender
// vSwitch's egress entries, then the receiver vSwitch's ingress entries;
// first match decides, no match denies; an ACL that does not exist denies.
// Exempt: traffic inside one vSwitch, a peer in the DNS and metadata
// ranges, DHCP (UDP 68 -> 67 and 67 -> 68). "icmp" means ICMPv6 for an
// IPv6 CIDR; ports are the destination port, tcp and udp only.

// aclRule is an ACL entry reduced to what matching needs.
type aclRule struct {
	e      *model.ACLEntry
	index  int // 1-based position: the entry's priority
	drop   bool
	family int
	proto  span
	ports  bool
	dport  span
	cidr   netip.Prefix
	inert  bool
}

type aclInfo struct {
	acl     *model.NetworkACL
	ingress []aclRule
	egress  []aclRule
}

// readACLEntries reads es through policy.ReadACLEntry (the evaluator's
// and the compiler's reading), keeping the inert entries for the record.
func readACLEntries(es []model.ACLEntry) []aclRule {
	out := make([]aclRule, 0, len(es))
	for i := range es {
		m, ok := policy.ReadACLEntry(&es[i])
		out = append(out, aclRule{e: &es[i], index: i + 1, drop: m.Drop, family: m.Family, proto: spanOf(m.Proto),
			ports: m.Ports, dport: spanOf(m.DstPort), cidr: m.Peer, inert: !ok})
	}
	return out
}

func newACLInfo(acl *model.NetworkACL) *aclInfo {
	return &aclInfo{acl: acl, ingress: readACLEntries(acl.Ingress), egress: readACLEntries(acl.Egress)}
}

func (ai *aclInfo) list(dir string) []aclRule {
	if dir == model.Egress {
		return ai.egress
	}
	return ai.ingress
}

// aclMatch: the CIDR is the source of an ingress entry and the destination
// of an egress entry; ports are always the destination port.
func (r *aclRule) match(dir string, pkt Packet) bool {
	if r.inert || !r.proto.has(uint16(pkt.Proto)) {
		return false
	}
	peer := pkt.Src
	if dir == model.Egress {
		peer = pkt.Dst
	}
	peer = peer.Unmap()
	if addrFamily(peer) != r.family || !r.cidr.Contains(peer) {
		return false
	}
	if r.ports && !r.dport.has(pkt.DstPort) {
		return false
	}
	return true
}

var aclExemptPrefixes = []netip.Prefix{
	netip.MustParsePrefix("100.100.2.112/28"),
	netip.MustParsePrefix("100.100.2.128/28"),
	netip.MustParsePrefix("100.100.100.200/32"),
}

// aclExempt says why pkt is never filtered by ACLs ("" when it is); peer
// is the destination when leaving a vSwitch, the source when entering.
func aclExempt(peer netip.Addr, pkt Packet) string {
	for _, p := range aclExemptPrefixes {
		if p.Contains(peer) {
			return "the peer " + peer.String() + " is a DNS or metadata address, never filtered by network ACLs"
		}
	}
	if pkt.Proto == ProtoUDP && ((pkt.SrcPort == 68 && pkt.DstPort == 67) || (pkt.SrcPort == 67 && pkt.DstPort == 68)) {
		return "DHCP is never filtered by network ACLs"
	}
	return ""
}

// aclDecision is the verdict of one ACL direction.
type aclDecision struct {
	allow bool
	acl   *aclInfo
	entry *aclRule
	by    string
	note  string
}

// evalACL decides pkt at the ACL of vsw in direction dir; otherVsw is the
// vSwitch at the other end ("" for an address outside the VPC's ENIs).
func (a *Analyzer) evalACL(vsw *model.VSwitch, otherVsw string, dir string, pkt Packet) aclDecision {
	if vsw == nil || vsw.NetworkAclID == "" {
		return aclDecision{allow: true, by: ByNoACL}
	}
	if otherVsw == vsw.ID {
		return aclDecision{allow: true, by: ByExempt, note: "both ends are in vSwitch " + vsw.ID + ": ACLs do not filter traffic inside a vSwitch"}
	}
	src, dst := pkt.Src.Unmap(), pkt.Dst.Unmap()
	if !src.IsValid() || !dst.IsValid() || src.Is4() != dst.Is4() {
		return aclDecision{by: ByInvalid}
	}
	peer := src
	if dir == model.Egress {
		peer = dst
	}
	if why := aclExempt(peer, pkt); why != "" {
		return aclDecision{allow: true, by: ByExempt, note: why}
	}
	ai := a.acls[vsw.NetworkAclID]
	if ai == nil {
		return aclDecision{by: ByUnknownACL, note: "vSwitch " + vsw.ID + " names network ACL " + vsw.NetworkAclID + ", which does not exist (fail closed)"}
	}
	for i := range ai.list(dir) {
		r := &ai.list(dir)[i]
		if r.match(dir, pkt) {
			return aclDecision{allow: !r.drop, acl: ai, entry: r, by: ByACLEntry}
		}
	}
	return aclDecision{acl: ai, by: ByACLDefault}
}
