package analysis

import (
	"net/netip"
	"slices"

	"github.com/palisade-project/palisade/internal/ipspace"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/policy"
)

// Address families, policy's: famAny only for rules (a group reference
// without a local CIDR covers both).
const (
	famAny = policy.FamilyAny
	fam4   = policy.Family4
	fam6   = policy.Family6
)

// IP protocol numbers.
const (
	ProtoICMP   uint8 = 1
	ProtoTCP    uint8 = 6
	ProtoUDP    uint8 = 17
	ProtoGRE    uint8 = 47
	ProtoICMPv6 uint8 = 58
)

// span is an inclusive interval of protocol numbers or ports.
type span struct{ lo, hi uint16 }

func (s span) has(v uint16) bool { return s.lo <= v && v <= s.hi }

func (s span) ival() ival { return ival{Lo: ipspace.U64(uint64(s.lo)), Hi: ipspace.U64(uint64(s.hi))} }

var (
	anyPort  = span{0, 65535}
	anyProto = span{0, 255}
)

// srule is a security group rule reduced to what matching needs: policy's
// reading (policy.ReadRule) plus the analyzer's indexes and covers. How
// the pooled list is then walked is checked against policy's evaluator by
// the differential tests.
type srule struct {
	groupID   string
	group     int32 // index of groupID in the analyzer
	rule      *model.Rule
	priority  int
	drop      bool
	family    int
	proto     span
	ports     bool
	dport     span
	sport     span
	peer      netip.Prefix
	peerGroup string
	peerIdx   int32 // index of peerGroup, -1 when unknown
	local     netip.Prefix
	// inert: the rule never matches (prefix list, impossible fields, a
	// peer group that is missing or of another VPC); why says which.
	inert bool
	why   string
	// cov and covOK are the covers of the rule in IPv4 (0) and IPv6 (1),
	// without membership negations (shadowing).
	cov   [2]box
	covOK [2]bool
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

// normalize reads r through policy.ReadRule, so that the analyzer reads
// rules exactly as the evaluator and the compiler do; ok false means inert
// and why says why.
func normalize(r *model.Rule) (n srule, ok bool, why string) {
	m, why := policy.ReadRule(r)
	n = srule{rule: r, priority: r.Priority, drop: m.Drop, family: m.Family, proto: spanOf(m.Proto), ports: m.Ports,
		dport: spanOf(m.DstPort), sport: spanOf(m.SrcPort), peer: m.Peer, peerGroup: m.PeerGroup, local: m.Local, peerIdx: -1}
	return n, why == "", why
}

func spanOf(s policy.Span) span { return span{s.From, s.To} }

// groupInfo is a group with its rules read once.
type groupInfo struct {
	g       *model.SecurityGroup
	idx     int32
	ingress []srule // in group order, inert ones included
	egress  []srule
	members []int32 // ENI indexes counting as members (listed and in the group's VPC)
}

// pooled is the rule list of one set of groups for one direction, in
// evaluation order, inert rules left out.
type pooled []*srule

// context is what one set of groups (the groups of an ENI) evaluates.
type context struct {
	key     string
	groups  []int32 // first-occurrence order
	missing string  // a listed group that does not exist (fail closed)
	none    bool    // no group at all (fail closed)
	inner   []int32 // inner-accept groups, sorted
	ingress pooled
	egress  pooled
	// defaultEgress is the implicit egress default (ingress is always deny).
	defaultEgress bool
	enis          []int32 // ENIs with exactly this context
}

func (c *context) list(dir string) pooled {
	if dir == model.Egress {
		return c.egress
	}
	return c.ingress
}

// pool orders rules as policy does (policy.CompareRuleOrder), then by
// group order on the ENI, then rule order (stable sort).
func pool(groups []*groupInfo, dir string) pooled {
	var out pooled
	for _, g := range groups {
		rs := g.ingress
		if dir == model.Egress {
			rs = g.egress
		}
		for i := range rs {
			if !rs[i].inert {
				out = append(out, &rs[i])
			}
		}
	}
	slices.SortStableFunc(out, func(a, b *srule) int {
		return policy.CompareRuleOrder(a.priority, a.drop, b.priority, b.drop)
	})
	return out
}
