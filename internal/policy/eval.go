package policy

import (
	"fmt"
	"net/netip"

	"github.com/palisade-project/palisade/internal/model"
)

// Packet is the first packet of a flow. Established and related packets of
// an admitted flow pass without evaluation (the data plane's conntrack), so
// the evaluator only decides new flows.
type Packet struct {
	Src, Dst netip.Addr
	// Proto is the IP protocol number (IPProtoTCP, ...); any value is allowed.
	Proto uint8
	// SrcPort and DstPort are read only for TCP and UDP.
	SrcPort, DstPort uint16
	// ICMPType and ICMPCode are informational: no rule filters on them.
	ICMPType, ICMPCode uint8
}

// ReasonKind says what decided a verdict.
type ReasonKind uint8

// Reason kinds.
const (
	// ReasonRule: a custom rule matched (GroupID, RuleID, Priority, Policy).
	ReasonRule ReasonKind = iota + 1
	// ReasonIntraGroup: both ENIs are members of GroupID, a basic group with
	// InnerAccessPolicy=Accept.
	ReasonIntraGroup
	// ReasonDefault: no rule matched; the implicit default of the group type
	// (Policy says which; GroupID is empty).
	ReasonDefault
	// ReasonNoGroups: the ENI is in no group. The cloud never allows that;
	// Palisade fails closed and denies both directions.
	ReasonNoGroups
	// ReasonUnknownENI: the ENI does not exist; denied.
	ReasonUnknownENI
	// ReasonUnknownGroup: the ENI lists a group (GroupID) that does not
	// exist; its rules cannot be known, so everything is denied (fail closed,
	// as the data plane does for an ENI whose rules could not be installed).
	ReasonUnknownGroup
	// ReasonInvalidPacket: the packet's addresses are missing or of
	// different families; denied.
	ReasonInvalidPacket

	// Network ACL stage (Decision of PathDecision.ACLEgress/ACLIngress).

	// ReasonNoACL: the ENI's vSwitch has no network ACL; passes.
	ReasonNoACL
	// ReasonACLSameVSwitch: both ENIs are in one vSwitch; ACLs do not
	// filter traffic inside a vSwitch.
	ReasonACLSameVSwitch
	// ReasonACLExempt: the peer is an exempt service address (DNS,
	// metadata) or the packet is DHCP; passes.
	ReasonACLExempt
	// ReasonACLEntry: an entry matched (ACLID, RuleID = entry ID,
	// EntryName, Priority = 1-based position in the list, Policy).
	ReasonACLEntry
	// ReasonACLDefault: no entry of ACLID matched (an ACL without entries
	// included): the implicit deny.
	ReasonACLDefault
	// ReasonUnknownACL: the vSwitch names an ACL (ACLID) that does not
	// exist; denied (fail closed).
	ReasonUnknownACL
)

func (k ReasonKind) String() string {
	switch k {
	case ReasonRule:
		return "rule"
	case ReasonIntraGroup:
		return "intra-group"
	case ReasonDefault:
		return "default"
	case ReasonNoGroups:
		return "no-groups"
	case ReasonUnknownENI:
		return "unknown-eni"
	case ReasonUnknownGroup:
		return "unknown-group"
	case ReasonInvalidPacket:
		return "invalid-packet"
	case ReasonNoACL:
		return "no-acl"
	case ReasonACLSameVSwitch:
		return "acl-same-vswitch"
	case ReasonACLExempt:
		return "acl-exempt"
	case ReasonACLEntry:
		return "acl-entry"
	case ReasonACLDefault:
		return "acl-default"
	case ReasonUnknownACL:
		return "unknown-acl"
	}
	return fmt.Sprintf("ReasonKind(%d)", uint8(k))
}

// Reason is what decided a Decision.
type Reason struct {
	Kind     ReasonKind
	GroupID  string
	RuleID   string
	Priority int
	// Policy is model.PolicyAccept or model.PolicyDrop.
	Policy string
	// ACLID and EntryName name the network ACL (and its entry) of the ACL
	// kinds; VSwitchID is the vSwitch whose ACL was consulted.
	ACLID     string
	EntryName string
	VSwitchID string
}

// Decision is the verdict for one packet in one direction at one ENI.
type Decision struct {
	Allow  bool
	Reason Reason
}

// String renders the decision for logs and test failures.
func (d Decision) String() string {
	v := "deny"
	if d.Allow {
		v = "allow"
	}
	r := d.Reason
	switch r.Kind {
	case ReasonRule:
		return fmt.Sprintf("%s by rule %s of %s (priority %d, %s)", v, r.RuleID, r.GroupID, r.Priority, r.Policy)
	case ReasonIntraGroup, ReasonUnknownGroup:
		return fmt.Sprintf("%s by %s %s", v, r.Kind, r.GroupID)
	case ReasonACLEntry:
		return fmt.Sprintf("%s by entry %d %s (%q) of %s (%s)", v, r.Priority, r.RuleID, r.EntryName, r.ACLID, r.Policy)
	case ReasonACLDefault:
		return fmt.Sprintf("%s by the implicit deny of %s (no entry matched)", v, r.ACLID)
	case ReasonUnknownACL:
		return fmt.Sprintf("%s by %s %s", v, r.Kind, r.ACLID)
	default:
		return fmt.Sprintf("%s by %s", v, r.Kind)
	}
}

// PathDecision is the verdict for a packet from one ENI to another: the
// sender vSwitch's network ACL (egress entries), the receiver vSwitch's
// network ACL (ingress entries), the sender's security groups (egress) and
// the receiver's (ingress); all must allow.
type PathDecision struct {
	Allow      bool
	ACLEgress  Decision
	ACLIngress Decision
	Egress     Decision
	Ingress    Decision
}

// Decisive returns the stage that decided the path: the first that denies
// in evaluation order (ACL egress, ACL ingress, SG egress, SG ingress), or,
// when all allow, the receiver's security-group decision.
func (p PathDecision) Decisive() Decision {
	for _, d := range []Decision{p.ACLEgress, p.ACLIngress, p.Egress} {
		if !d.Allow {
			return d
		}
	}
	return p.Ingress
}

// String renders all four stages.
func (p PathDecision) String() string {
	v := "deny"
	if p.Allow {
		v = "allow"
	}
	return fmt.Sprintf("%s [acl out: %v; acl in: %v; sg out: %v; sg in: %v]", v, p.ACLEgress, p.ACLIngress, p.Egress, p.Ingress)
}

// Evaluate decides a packet sent by ENI from to ENI to: network ACLs of
// both vSwitches (stateless, see EvaluateACLs) and security groups of both
// ENIs (first packet of a flow, see EvaluateENI). VPC isolation and routing
// are the caller's business. ENIs are named explicitly because addresses
// are only unique inside a VPC.
func Evaluate(w World, from, to string, pkt Packet) PathDecision {
	aout, ain := EvaluateACLs(w, from, to, pkt)
	out := EvaluateENI(w, from, Egress, pkt)
	in := EvaluateENI(w, to, Ingress, pkt)
	return PathDecision{
		Allow:     aout.Allow && ain.Allow && out.Allow && in.Allow,
		ACLEgress: aout, ACLIngress: ain, Egress: out, Ingress: in,
	}
}

// EvaluateENI decides pkt in direction dir at ENI eniID (SEMANTICS.md Part A):
//  1. intra-group: if a basic group of the ENI with InnerAccessPolicy=Accept
//     also has the peer address's ENI (looked up in the ENI's VPC) as a
//     member, allow, before any rule;
//  2. the rules of all the ENI's groups for dir, pooled, by priority
//     ascending, drop before accept at equal priority, first match decides
//     (ties beyond that: group order on the ENI, then rule order);
//  3. defaults: basic ingress deny, egress allow; advanced deny both. An ENI
//     with an advanced group gets advanced defaults (mixing types is
//     forbidden; if it happens anyway, the stricter default wins).
//
// For ingress the peer is Src and the local address Dst; for egress the
// reverse. The evaluator does not check that the local address is the
// ENI's: anti-spoofing is the data plane's job, before security groups.
func EvaluateENI(w World, eniID string, dir Direction, pkt Packet) Decision {
	eni := w.ENI(eniID)
	if eni == nil {
		return deny(Reason{Kind: ReasonUnknownENI})
	}
	groups, d, ok := eniGroups(w, eni)
	if !ok {
		return d
	}
	src, dst := pkt.Src.Unmap(), pkt.Dst.Unmap()
	if !src.IsValid() || !dst.IsValid() || src.Is4() != dst.Is4() {
		return deny(Reason{Kind: ReasonInvalidPacket})
	}
	peer, local := src, dst
	if dir == Egress {
		peer, local = dst, src
	}
	peerENI := w.ENIByAddr(eni.VpcID, peer)
	if peerENI != "" {
		for _, g := range groups {
			if innerAccept(g) && isMember(w, g.ID, peerENI) {
				return Decision{Allow: true, Reason: Reason{Kind: ReasonIntraGroup, GroupID: g.ID}}
			}
		}
	}
	for _, e := range pool(w, groups, dir) {
		if matches(w, &e.n, peerENI, peer, local, pkt) {
			r := Reason{Kind: ReasonRule, GroupID: e.groupID, RuleID: e.rule.ID, Priority: e.priority, Policy: model.PolicyAccept}
			if e.n.drop {
				r.Policy = model.PolicyDrop
			}
			return Decision{Allow: !e.n.drop, Reason: r}
		}
	}
	if defaultAllow(groups, dir) {
		return Decision{Allow: true, Reason: Reason{Kind: ReasonDefault, Policy: model.PolicyAccept}}
	}
	return deny(Reason{Kind: ReasonDefault, Policy: model.PolicyDrop})
}

// eniGroups resolves the ENI's groups, first occurrence order. ok is false
// with the deny decision to return when the ENI has no group or an unknown
// one.
func eniGroups(w World, eni *model.ENI) ([]*model.SecurityGroup, Decision, bool) {
	ids := uniq(eni.SecurityGroupIDs)
	if len(ids) == 0 {
		return nil, deny(Reason{Kind: ReasonNoGroups}), false
	}
	groups := make([]*model.SecurityGroup, 0, len(ids))
	for _, id := range ids {
		g := w.Group(id)
		if g == nil {
			return nil, deny(Reason{Kind: ReasonUnknownGroup, GroupID: id}), false
		}
		groups = append(groups, g)
	}
	return groups, Decision{}, true
}

func deny(r Reason) Decision {
	if r.Policy == "" {
		r.Policy = model.PolicyDrop
	}
	return Decision{Allow: false, Reason: r}
}

// defaultAllow is the implicit default for the ENI's groups.
func defaultAllow(groups []*model.SecurityGroup, dir Direction) bool {
	if dir != Egress {
		return false
	}
	for _, g := range groups {
		if !isBasic(g) {
			return false
		}
	}
	return true
}

// matches reports whether n matches the packet with the given peer and
// local addresses; peerENI is the ENI holding the peer address, if any.
func matches(w World, n *normRule, peerENI string, peer, local netip.Addr, pkt Packet) bool {
	if n.family != famAny && n.family != addrFamily(peer) {
		return false
	}
	if !n.proto.has(uint16(pkt.Proto)) {
		return false
	}
	if n.ports && (!n.dport.has(pkt.DstPort) || !n.sport.has(pkt.SrcPort)) {
		return false
	}
	if n.local.IsValid() && !n.local.Contains(local) {
		return false
	}
	if n.peerGroup != "" {
		return peerENI != "" && isMember(w, n.peerGroup, peerENI)
	}
	return n.peer.Contains(peer)
}
