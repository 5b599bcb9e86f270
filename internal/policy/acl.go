package policy

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/palisade-project/palisade/internal/ipspace"
	"github.com/palisade-project/palisade/internal/model"
)

// Network ACLs (SEMANTICS.md Part A, "Network ACLs"; Part B §3): stateless
// filters of vSwitches. Decisions taken here where SEMANTICS.md leaves room
// (the evaluator and the compiler share normalizeACL and the exemptions):
//   - Every packet is evaluated, replies included: the reply of a
//     connection needs an entry of its own (ephemeral ports).
//   - Traffic between two ENIs of one vSwitch is not filtered. The
//     evaluator compares the ENIs' vSwitches; the data plane compares the
//     other end's address with the vSwitch's CIDRs (the same thing as long
//     as ENI addresses lie in their vSwitch, which the service enforces).
//   - Exempt: a peer in 100.100.2.128/28, 100.100.2.112/28 or
//     100.100.100.200/32 (the peer is the destination when leaving the
//     vSwitch, the source when entering it), and DHCP (UDP 68 -> 67 and
//     67 -> 68).
//   - Entry "icmp" matches ICMP for an IPv4 CIDR and ICMPv6 for an IPv6
//     CIDR; "all" matches every protocol of the CIDR's family. The port
//     range of a tcp/udp entry matches the destination port in both
//     directions; other protocols ignore ports. An entry with an unknown
//     protocol, an invalid CIDR or an impossible port range never matches.
//   - A vSwitch associated with an ACL that does not exist denies what the
//     ACL would filter (fail closed); a world without the vSwitch (e.g.
//     NewSnapshot) applies no ACL.

// aclExempt are the service addresses network ACLs never filter.
var aclExempt = [...]netip.Prefix{
	netip.MustParsePrefix("100.100.2.112/28"),
	netip.MustParsePrefix("100.100.2.128/28"),
	netip.MustParsePrefix("100.100.100.200/32"),
}

// DHCP ports: client 68, server 67.
const (
	dhcpServer = 67
	dhcpClient = 68
)

// aclExemptPacket reports whether pkt passes every ACL: peer is the
// address at the other end (destination for egress, source for ingress).
func aclExemptPacket(peer netip.Addr, pkt Packet) bool {
	for _, p := range aclExempt {
		if p.Contains(peer) {
			return true
		}
	}
	return pkt.Proto == IPProtoUDP &&
		((pkt.SrcPort == dhcpClient && pkt.DstPort == dhcpServer) || (pkt.SrcPort == dhcpServer && pkt.DstPort == dhcpClient))
}

// aclRule is an ACL entry reduced to what matching needs.
type aclRule struct {
	family int
	proto  span
	ports  bool // tcp/udp: dport is meaningful
	dport  span
	peer   netip.Prefix
	drop   bool
}

// normalizeACL reads e; ok is false when the entry can never match.
func normalizeACL(e *model.ACLEntry) (aclRule, bool) {
	n := aclRule{dport: anyPort(), drop: strings.EqualFold(e.Policy, model.PolicyDrop)}
	if !e.Cidr.IsValid() {
		return n, false
	}
	n.peer = e.Cidr.Masked()
	n.family = prefixFamily(n.peer)
	switch strings.ToLower(e.Protocol) {
	case model.ACLProtoTCP:
		n.proto, n.ports = span{6, 6}, true
	case model.ACLProtoUDP:
		n.proto, n.ports = span{17, 17}, true
	case model.ACLProtoICMP:
		n.proto = span{1, 1}
		if n.family == fam6 {
			n.proto = span{58, 58}
		}
	case model.ACLProtoGRE:
		n.proto = span{47, 47}
	case model.ACLProtoAll:
		n.proto = anyProto()
	default:
		return n, false
	}
	if n.ports {
		var ok bool
		if n.dport, ok = portSpan(e.Ports); !ok {
			return n, false
		}
	}
	return n, true
}

// ACLMatch is a network ACL entry as the evaluator and the compiler read
// it (for the analyzer): the CIDR is the peer, the ports the destination
// port (TCP and UDP only); "icmp" is ICMPv6 for an IPv6 CIDR.
type ACLMatch struct {
	Family  int // Family4 or Family6
	Proto   Span
	Ports   bool
	DstPort Span
	Peer    netip.Prefix
	Drop    bool
}

// ReadACLEntry reads e as the evaluator and the compiler do; ok is false
// when the entry can never match.
func ReadACLEntry(e *model.ACLEntry) (m ACLMatch, ok bool) {
	n, ok := normalizeACL(e)
	return ACLMatch{Family: n.family, Proto: n.proto.exported(), Ports: n.ports, DstPort: n.dport.exported(), Peer: n.peer, Drop: n.drop}, ok
}

func (n *aclRule) matches(peer netip.Addr, pkt Packet) bool {
	return n.family == addrFamily(peer) && n.proto.has(uint16(pkt.Proto)) &&
		(!n.ports || n.dport.has(pkt.DstPort)) && n.peer.Contains(peer)
}

// aclEntries returns the entry list of dir.
func aclEntries(a *model.NetworkACL, dir Direction) []model.ACLEntry {
	if dir == Egress {
		return a.Egress
	}
	return a.Ingress
}

// EvaluateACLs decides the network-ACL part of a packet sent by ENI from
// to ENI to: the egress entries of the sender vSwitch's ACL and the ingress
// entries of the receiver vSwitch's ACL. ACLs are stateless: a reply is a
// packet of its own (evaluate the reverse 5-tuple from to to from).
func EvaluateACLs(w World, from, to string, pkt Packet) (egress, ingress Decision) {
	f, t := w.ENI(from), w.ENI(to)
	return evaluateACL(w, f, t, Egress, pkt), evaluateACL(w, t, f, Ingress, pkt)
}

// EvaluateACLIngress decides the network-ACL part of a packet that ENI to
// receives from an address that is no ENI of the VPC: the VPC router's
// own connections (a WAF's upstream), which pass only the receiver's ACL.
func EvaluateACLIngress(w World, to string, pkt Packet) Decision {
	e := w.ENI(to)
	if e != nil {
		src := pkt.Src.Unmap()
		if vsw := w.VSwitch(e.VSwitchID); vsw != nil && vsw.NetworkAclID != "" && (vsw.CidrBlock.Contains(src) || vsw.Ipv6CidrBlock.Contains(src)) {
			// An address of the receiver's own vSwitch (its gateway, from
			// which a standalone WAF connects): no ACL applies inside a
			// vSwitch, as the kernel's vSwitch chains return on the
			// vSwitch's own prefixes.
			return Decision{Allow: true, Reason: Reason{Kind: ReasonACLSameVSwitch, VSwitchID: vsw.ID, ACLID: vsw.NetworkAclID, Policy: model.PolicyAccept}}
		}
	}
	return evaluateACL(w, e, nil, Ingress, pkt)
}

// evaluateACL decides pkt at the ACL of eni's vSwitch: dir Egress when eni
// sends pkt, Ingress when it receives it; other is the ENI at the other end.
func evaluateACL(w World, eni, other *model.ENI, dir Direction, pkt Packet) Decision {
	if eni == nil {
		return deny(Reason{Kind: ReasonUnknownENI})
	}
	vsw := w.VSwitch(eni.VSwitchID)
	if vsw == nil || vsw.NetworkAclID == "" {
		return Decision{Allow: true, Reason: Reason{Kind: ReasonNoACL, VSwitchID: eni.VSwitchID, Policy: model.PolicyAccept}}
	}
	base := Reason{VSwitchID: vsw.ID, ACLID: vsw.NetworkAclID}
	if other != nil && other.VSwitchID == eni.VSwitchID {
		base.Kind, base.Policy = ReasonACLSameVSwitch, model.PolicyAccept
		return Decision{Allow: true, Reason: base}
	}
	src, dst := pkt.Src.Unmap(), pkt.Dst.Unmap()
	if !src.IsValid() || !dst.IsValid() || src.Is4() != dst.Is4() {
		base.Kind = ReasonInvalidPacket
		return deny(base)
	}
	peer := src
	if dir == Egress {
		peer = dst
	}
	if aclExemptPacket(peer, pkt) {
		base.Kind, base.Policy = ReasonACLExempt, model.PolicyAccept
		return Decision{Allow: true, Reason: base}
	}
	acl := w.NetworkACL(vsw.NetworkAclID)
	if acl == nil {
		base.Kind = ReasonUnknownACL
		return deny(base)
	}
	entries := aclEntries(acl, dir)
	for i := range entries {
		e := &entries[i]
		n, ok := normalizeACL(e)
		if !ok || !n.matches(peer, pkt) {
			continue
		}
		r := base
		r.Kind, r.RuleID, r.EntryName, r.Priority, r.Policy = ReasonACLEntry, e.ID, e.Name, i+1, model.PolicyAccept
		if n.drop {
			r.Policy = model.PolicyDrop
		}
		return Decision{Allow: !n.drop, Reason: r}
	}
	base.Kind = ReasonACLDefault
	return deny(base)
}

// ACLChain is the compiled entry list of one ACL and direction: a chain
// that returns (passes the packet on to the security groups) when the
// packet is in one of the accept sets and drops it otherwise. The sets
// hold the points whose first matching entry accepts: every entry minus
// the drop entries before it, made pairwise disjoint.
type ACLChain struct {
	// Name is the chain name; set names derive from it.
	Name  string
	ACLID string
	Dir   Direction
	// Missing: the ACL does not exist; the chain drops everything.
	Missing bool
	// Ports4/Ports6 (TCP and UDP packets) are keyed peer . proto . dport,
	// Any4/Any6 (other protocols) peer . proto.
	Ports4, Ports6, Any4, Any6 []ACLElement
}

// ACLElement is one element of an ACL accept set; DPort is 0-65535 in the
// "any" sets and not part of their key.
type ACLElement struct {
	Peer  AddrRange
	Proto Range
	DPort Range
}

// VSwitchChain is the ACL entry point of one vSwitch and direction: it
// passes traffic whose other end is in the vSwitch (Local) and exempt
// traffic, then goes to the ACL's chain.
type VSwitchChain struct {
	Name      string
	VSwitchID string
	Dir       Direction
	// Local are the vSwitch's CIDRs (IPv4, then IPv6 if any).
	Local []netip.Prefix
	// ACL is the name of the ACLChain to go to.
	ACL string
}

// aclChainName names the chain of an ACL direction.
func aclChainName(aclID string, dir Direction) string {
	return "acl_" + nameSuffix(aclID) + "_" + dirWord(dir)
}

func vswChainName(vswID string, dir Direction) string {
	return "vsw_" + nameSuffix(vswID) + "_" + dirWord(dir)
}

func dirWord(dir Direction) string {
	if dir == Egress {
		return "out"
	}
	return "in"
}

// compileACLs fills p's ACL chains, vSwitch chains and the ENIs' ACL
// dispatch for the ENIs of p (already compiled for security groups).
func compileACLs(w World, p *Program) {
	vsws := map[string]*VSwitchChain{}
	acls := map[string]*ACLChain{}
	for i := range p.ENIs {
		ep := &p.ENIs[i]
		eni := w.ENI(ep.ENIID)
		if eni == nil {
			continue
		}
		vsw := w.VSwitch(eni.VSwitchID)
		if vsw == nil || vsw.NetworkAclID == "" {
			continue
		}
		for _, dir := range []Direction{Ingress, Egress} {
			name := vswChainName(vsw.ID, dir)
			if vsws[name] == nil {
				vc := &VSwitchChain{Name: name, VSwitchID: vsw.ID, Dir: dir, ACL: aclChainName(vsw.NetworkAclID, dir)}
				for _, c := range []netip.Prefix{vsw.CidrBlock, vsw.Ipv6CidrBlock} {
					if c.IsValid() {
						vc.Local = append(vc.Local, c.Masked())
					}
				}
				vsws[name] = vc
			}
			if acls[vsws[name].ACL] == nil {
				acls[vsws[name].ACL] = compileACL(w.NetworkACL(vsw.NetworkAclID), vsw.NetworkAclID, dir)
			}
			if dir == Egress {
				ep.ACLEgress = name
			} else {
				ep.ACLIngress = name
			}
		}
	}
	for _, name := range sortedKeys(acls) {
		p.ACLChains = append(p.ACLChains, acls[name])
	}
	for _, name := range sortedKeys(vsws) {
		p.VSwitchChains = append(p.VSwitchChains, *vsws[name])
	}
}

// compileACL compiles the entries of dir of acl (nil: missing).
func compileACL(acl *model.NetworkACL, id string, dir Direction) *ACLChain {
	c := &ACLChain{Name: aclChainName(id, dir), ACLID: id, Dir: dir, Missing: acl == nil}
	if acl == nil {
		return c
	}
	// One layer per (family, TCP/UDP or not): a packet is looked up in
	// exactly one, so first-match is resolved within each layer.
	type entry struct {
		b    box
		drop bool
	}
	var p4, p6, a4, a6 []entry
	entries := aclEntries(acl, dir)
	for i := range entries {
		n, ok := normalizeACL(&entries[i])
		if !ok {
			continue
		}
		mk := func(proto, dport span) box {
			var b box
			b[dimPeer] = ipspace.PrefixInterval(n.peer)
			b[dimProto] = spanIval(proto)
			b[dimDPort] = spanIval(dport)
			// sport and local are not keys of ACL sets: fixed, so they
			// never split boxes.
			return b
		}
		ports, other := &p4, &a4
		if n.family == fam6 {
			ports, other = &p6, &a6
		}
		switch {
		case n.ports:
			*ports = append(*ports, entry{mk(n.proto, n.dport), n.drop})
		case n.proto == anyProto():
			*ports = append(*ports, entry{mk(span{6, 6}, anyPort()), n.drop}, entry{mk(span{17, 17}, anyPort()), n.drop})
			*other = append(*other, entry{mk(n.proto, span{0, 0}), n.drop})
		default:
			*other = append(*other, entry{mk(n.proto, span{0, 0}), n.drop})
		}
	}
	// The points whose first matching entry accepts: each accept entry
	// minus the drop entries before it (an earlier accept entry covering a
	// point accepts it too), then made disjoint.
	accepted := func(es []entry) []box {
		var drops, out []box
		for _, e := range es {
			if e.drop {
				drops = append(drops, e.b)
				continue
			}
			pieces := []box{e.b}
			for _, d := range drops {
				var next []box
				for _, pc := range pieces {
					next = append(next, pc.minus(d)...)
				}
				pieces = next
			}
			out = append(out, pieces...)
		}
		return disjoint(out)
	}
	conv := func(es []entry, family int, ports bool) []ACLElement {
		var out []ACLElement
		for _, b := range accepted(es) {
			el := ACLElement{
				Peer:  AddrRange{ipspace.ToAddr(b[dimPeer].Lo, family), ipspace.ToAddr(b[dimPeer].Hi, family)},
				Proto: Range{uint16(b[dimProto].Lo.Lo), uint16(b[dimProto].Hi.Lo)},
				DPort: Range{0, 65535},
			}
			if ports {
				el.DPort = Range{uint16(b[dimDPort].Lo.Lo), uint16(b[dimDPort].Hi.Lo)}
			}
			out = append(out, el)
		}
		return out
	}
	c.Ports4, c.Ports6 = conv(p4, fam4, true), conv(p6, fam6, true)
	c.Any4, c.Any6 = conv(a4, fam4, false), conv(a6, fam6, false)
	return c
}

// ACLExemptPrefixes returns the service prefixes ACLs never filter.
func ACLExemptPrefixes() []netip.Prefix { return slices.Clone(aclExempt[:]) }
