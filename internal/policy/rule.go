package policy

import (
	"cmp"
	"net/netip"
	"slices"
	"strings"

	"github.com/palisade-project/palisade/internal/model"
)

// IP protocol numbers used by Packet.Proto and the compiled program.
const (
	IPProtoICMP   uint8 = 1
	IPProtoTCP    uint8 = 6
	IPProtoUDP    uint8 = 17
	IPProtoGRE    uint8 = 47
	IPProtoICMPv6 uint8 = 58
)

// Direction is the direction of a packet as seen from an ENI.
type Direction string

// Directions, spelled as model.Ingress and model.Egress.
const (
	Ingress Direction = model.Ingress
	Egress  Direction = model.Egress
)

// family of a rule or packet: 0 means "both" (only rules can be both: a
// group reference without a local CIDR covers v4 and v6 members).
const (
	famAny = 0
	fam4   = 4
	fam6   = 6
)

// span is an inclusive integer interval over protocol numbers or ports.
type span struct{ lo, hi uint16 }

// anyPort and anyProto are the full spans (functions, not variables, so
// the package has no mutable state).
func anyPort() span  { return span{0, 65535} }
func anyProto() span { return span{0, 255} }

func (s span) has(v uint16) bool { return s.lo <= v && v <= s.hi }

func (s span) exported() Span { return Span{s.lo, s.hi} }

// normRule is a rule reduced to what matching needs. The evaluator and the
// compiler both work from it, so they cannot disagree on how a model.Rule is
// read; the differential test checks it against an independent reading.
type normRule struct {
	family    int
	proto     span // one protocol, or 0-255 for ALL
	ports     bool // TCP/UDP: dport and sport are meaningful
	dport     span
	sport     span
	peer      netip.Prefix // valid: CIDR peer
	peerGroup string       // non-empty: group-reference peer
	local     netip.Prefix // valid: LocalCidr restriction
	drop      bool
}

// normalize reads r. ok is false when the rule can never match (see
// readRule).
func normalize(r *model.Rule) (normRule, bool) {
	n, why := readRule(r)
	return n, why == ""
}

// readRule reads r; why is empty when the rule can match, and otherwise
// says why it never does: prefix-list peers (not modelled yet), unknown
// protocols, impossible port ranges, or fields of different address
// families (e.g. ICMP with an IPv6 CIDR). The service rejects most of
// these; treating them as inert keeps the evaluator, the compiler and the
// analyzer total and in agreement.
func readRule(r *model.Rule) (n normRule, why string) {
	n = normRule{dport: anyPort(), sport: anyPort(), drop: strings.EqualFold(r.Policy, model.PolicyDrop)}
	famOK := func(f int) bool {
		if n.family != famAny && n.family != f {
			return false
		}
		n.family = f
		return true
	}
	switch strings.ToUpper(r.Protocol) {
	case "TCP":
		n.proto, n.ports = span{6, 6}, true
	case "UDP":
		n.proto, n.ports = span{17, 17}, true
	case "ICMP":
		n.proto, n.family = span{1, 1}, fam4
	case "ICMPV6":
		n.proto, n.family = span{58, 58}, fam6
	case "GRE":
		n.proto = span{47, 47}
	case "ALL":
		n.proto = anyProto()
	default:
		return n, "unknown protocol " + r.Protocol
	}
	if n.ports {
		var ok bool
		if n.dport, ok = portSpan(r.Ports); !ok {
			return n, "invalid port range"
		}
		if n.sport, ok = portSpan(r.SourcePorts); !ok {
			return n, "invalid source port range"
		}
	}
	switch {
	case r.PeerCidr.IsValid():
		n.peer = r.PeerCidr.Masked()
		if !famOK(prefixFamily(n.peer)) {
			return n, "protocol and peer CIDR of different address families"
		}
	case r.PeerGroupID != "":
		n.peerGroup = r.PeerGroupID
	default:
		// Prefix lists are not modelled yet: such a rule never matches
		// (for an accept rule that is the fail-closed reading).
		return n, "prefix lists are not modelled"
	}
	if r.LocalCidr.IsValid() {
		n.local = r.LocalCidr.Masked()
		if !famOK(prefixFamily(n.local)) {
			return n, "local CIDR of another address family"
		}
	}
	return n, ""
}

// Address families of RuleMatch and ACLMatch: FamilyAny only for rules (a
// group reference without a local CIDR covers IPv4 and IPv6 members).
const (
	FamilyAny = famAny
	Family4   = fam4
	Family6   = fam6
)

// Span is an inclusive interval of protocol numbers or ports.
type Span struct{ From, To uint16 }

// RuleMatch is a security group rule as the evaluator and the compiler
// read it, for the analyzer, which reasons over the same fields.
type RuleMatch struct {
	Family           int  // FamilyAny, Family4 or Family6
	Proto            Span // one protocol, or 0-255 for ALL
	Ports            bool // TCP or UDP: DstPort and SrcPort are meaningful
	DstPort, SrcPort Span
	Peer             netip.Prefix // valid: a CIDR peer
	PeerGroup        string       // non-empty: a group-reference peer
	Local            netip.Prefix // valid: a LocalCidr restriction
	Drop             bool
}

// ReadRule reads r as the evaluator and the compiler do. why is empty when
// the rule can match, and otherwise says why it never does.
func ReadRule(r *model.Rule) (m RuleMatch, why string) {
	n, why := readRule(r)
	return RuleMatch{Family: n.family, Proto: n.proto.exported(), Ports: n.ports, DstPort: n.dport.exported(), SrcPort: n.sport.exported(),
		Peer: n.peer, PeerGroup: n.peerGroup, Local: n.local, Drop: n.drop}, why
}

// IsBasic reports whether g has basic semantics (an empty type is basic).
func IsBasic(g *model.SecurityGroup) bool { return isBasic(g) }

// InnerAccept reports whether g lets its members talk to each other before
// any rule.
func InnerAccept(g *model.SecurityGroup) bool { return innerAccept(g) }

// CompareRuleOrder orders two rules of an ENI's pooled list for
// evaluation: priority ascending, drop before accept at equal priority
// (a stable sort keeps group and rule order after that).
func CompareRuleOrder(aPriority int, aDrop bool, bPriority int, bDrop bool) int {
	if c := cmp.Compare(aPriority, bPriority); c != 0 {
		return c
	}
	return cmpDropFirst(aDrop, bDrop)
}

// portSpan reads an optional port range: zero and -1/-1 mean any port.
func portSpan(p model.PortRange) (span, bool) {
	if p.IsZero() || (p.From == -1 && p.To == -1) {
		return anyPort(), true
	}
	if p.From < 0 || p.To > 65535 || p.From > p.To {
		return span{}, false
	}
	return span{uint16(p.From), uint16(p.To)}, true
}

func prefixFamily(p netip.Prefix) int {
	if p.Addr().Is4() {
		return fam4
	}
	return fam6
}

func addrFamily(a netip.Addr) int {
	if a.Is4() {
		return fam4
	}
	return fam6
}

// isBasic reports whether g has basic semantics; an empty type is the API's
// default, basic.
func isBasic(g *model.SecurityGroup) bool { return !strings.EqualFold(g.Type, model.GroupTypeAdvanced) }

// innerAccept reports whether g lets its members talk to each other before
// any rule. Advanced groups never do; for basic groups Accept is the default.
func innerAccept(g *model.SecurityGroup) bool {
	return isBasic(g) && (g.InnerAccessPolicy == "" || strings.EqualFold(g.InnerAccessPolicy, model.InnerAccept))
}

// poolEntry is one rule of the pooled, sorted list of an ENI.
type poolEntry struct {
	groupID  string
	rule     *model.Rule
	priority int
	n        normRule
}

// pool returns the rules of groups for dir in evaluation order: priority
// ascending, drop before accept at equal priority, then (stable sort) the
// order of the groups on the ENI and the order of rules within a group. The
// last two only choose which rule a trace names: every rule of one
// (priority, action) class has the same verdict. A rule referencing a group
// of another VPC is dropped: it could only name addresses of that VPC,
// which never reach this one.
func pool(w World, groups []*model.SecurityGroup, dir Direction) []poolEntry {
	if c, ok := w.(interface {
		cachedPool(string, func() []poolEntry) []poolEntry
	}); ok {
		var key strings.Builder
		key.WriteString(string(dir))
		for _, g := range groups {
			key.WriteByte('|')
			key.WriteString(g.ID)
		}
		return c.cachedPool(key.String(), func() []poolEntry { return buildPool(w, groups, dir) })
	}
	return buildPool(w, groups, dir)
}

// buildPool normalizes and sorts the rules of groups for dir.
func buildPool(w World, groups []*model.SecurityGroup, dir Direction) []poolEntry {
	var out []poolEntry
	for _, g := range groups {
		for i := range g.Rules {
			r := &g.Rules[i]
			if !strings.EqualFold(r.Direction, string(dir)) {
				continue
			}
			n, ok := normalize(r)
			if !ok || (n.peerGroup != "" && !sameVPC(w, g, n.peerGroup)) {
				continue
			}
			out = append(out, poolEntry{groupID: g.ID, rule: r, priority: r.Priority, n: n})
		}
	}
	slices.SortStableFunc(out, func(a, b poolEntry) int {
		return CompareRuleOrder(a.priority, a.n.drop, b.priority, b.n.drop)
	})
	return out
}

// cmpDropFirst orders drop before accept.
func cmpDropFirst(aDrop, bDrop bool) int {
	switch {
	case aDrop == bDrop:
		return 0
	case aDrop:
		return -1
	default:
		return 1
	}
}

// sameVPC reports whether the group peerGroup exists and is in g's VPC
// (groups without a VPC, as in tests, are anywhere).
func sameVPC(w World, g *model.SecurityGroup, peerGroup string) bool {
	pg := w.Group(peerGroup)
	return pg != nil && (g.VpcID == "" || pg.VpcID == "" || g.VpcID == pg.VpcID)
}

// isMember reports whether ENI eniID counts as a member of group gid: it
// must be listed and, when the group has a VPC, be in it. The second part
// keeps an inconsistent membership (an ENI of another VPC, whose addresses
// may clash with this VPC's) from granting access; the compiled member sets
// apply the same filter.
func isMember(w World, gid, eniID string) bool {
	g, e := w.Group(gid), w.ENI(eniID)
	if g == nil || e == nil || !slices.Contains(w.Members(gid), eniID) {
		return false
	}
	return g.VpcID == "" || g.VpcID == e.VpcID
}
