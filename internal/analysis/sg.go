package analysis

import (
	"cmp"
	"net/netip"
	"slices"
	"strings"

	"github.com/palisade-project/palisade/internal/model"
)

// Address families: famAny only for rules (a group reference without a
// local CIDR covers both).
const (
	famAny = 0
	fam4   = 4
	fam6   = 6
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

func (s span) ival() ival { return ival{u64(uint64(s.lo)), u64(uint64(s.hi))} }

var (
	anyPort  = span{0, 65535}
	anyProto = span{0, 255}
)

// srule is a security group rule reduced to what matching needs, read
// exactly as package policy reads it (the differential tests check it).
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

func portSpan(p model.PortRange) (span, bool) {
	if p.IsZero() || (p.From == -1 && p.To == -1) {
		return anyPort, true
	}
	if p.From < 0 || p.To > 65535 || p.From > p.To {
		return span{}, false
	}
	return span{uint16(p.From), uint16(p.To)}, true
}

// normalize reads r as policy's normalize does; ok false means inert.
func normalize(r *model.Rule) (n srule, ok bool, why string) {
	n = srule{rule: r, priority: r.Priority, dport: anyPort, sport: anyPort, drop: strings.EqualFold(r.Policy, model.PolicyDrop), peerIdx: -1}
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
		n.proto = anyProto
	default:
		return n, false, "unknown protocol " + r.Protocol
	}
	if n.ports {
		var ok bool
		if n.dport, ok = portSpan(r.Ports); !ok {
			return n, false, "invalid port range"
		}
		if n.sport, ok = portSpan(r.SourcePorts); !ok {
			return n, false, "invalid source port range"
		}
	}
	switch {
	case r.PeerCidr.IsValid():
		n.peer = r.PeerCidr.Masked()
		if !famOK(prefixFamily(n.peer)) {
			return n, false, "protocol and peer CIDR of different address families"
		}
	case r.PeerGroupID != "":
		n.peerGroup = r.PeerGroupID
	default:
		return n, false, "prefix lists are not modelled"
	}
	if r.LocalCidr.IsValid() {
		n.local = r.LocalCidr.Masked()
		if !famOK(prefixFamily(n.local)) {
			return n, false, "local CIDR of another address family"
		}
	}
	return n, true, ""
}

// isBasic and innerAccept as policy reads them.
func isBasic(g *model.SecurityGroup) bool { return !strings.EqualFold(g.Type, model.GroupTypeAdvanced) }

func innerAccept(g *model.SecurityGroup) bool {
	return isBasic(g) && (g.InnerAccessPolicy == "" || strings.EqualFold(g.InnerAccessPolicy, model.InnerAccept))
}

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

// pool orders rules as policy does: priority ascending, drop before
// accept, then group order on the ENI, then rule order (stable sort).
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
		if c := cmp.Compare(a.priority, b.priority); c != 0 {
			return c
		}
		switch {
		case a.drop == b.drop:
			return 0
		case a.drop:
			return -1
		}
		return 1
	})
	return out
}
