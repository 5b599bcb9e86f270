package policy

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/palisade-project/palisade/internal/ipspace"
	"github.com/palisade-project/palisade/internal/model"
)

// Program is the compiled form of the security groups of a set of ENIs
// (those filtered in one namespace). It is plain data: Render prints it as
// an nftables script, which the agent loads with nft(8) in one transaction
// (whole, or as set-element changes: see Incremental). Every slice is in a
// deterministic order.
//
// Shape: network ACLs first (see ACLChain and VSwitchChain: stateless, on
// every packet, in a base chain of their own ahead of the security groups).
// Then, per distinct group set of the ENIs and direction, a Flat: the
// pooled rules of the set (SEMANTICS.md Part A, group references expanded
// to the members' addresses) resolved into first-match-disjoint elements,
// each carrying its verdict, in four interval verdict maps shared by every
// ENI with that group set. Each ENI gets one chain per direction that
// accepts intra-group traffic, looks the packet up in its flat's map (one
// lookup whatever the number of rules and priorities) and applies the
// default. A group set whose flattening would exceed MaxFlatElements falls
// back to classes: each (group, direction, priority, action) becomes a
// Class, a chain whose few rules look the packet up in concatenated
// interval sets and return the class's verdict, shared by all ENIs of the
// group, and the ENI chain jumps through the classes of all its groups in
// pooled order (priority ascending, drop before accept).
type Program struct {
	// GuardPrefix, when set, makes the rendered base chains drop packets
	// of any interface whose name starts with it but that is not in the
	// interface maps (fail closed), and drop conntrack-invalid packets.
	GuardPrefix string
	// Flats sorted by name.
	Flats []*Flat
	// Classes (of the groups of group sets that fell back) sorted by group
	// ID, direction (ingress first), priority, drop before accept.
	Classes []*Class
	// MemberSets of the groups that give intra-group access or are
	// referenced by a rule of a class, sorted by group ID.
	MemberSets []MemberSet
	// ENIs sorted by ENI ID.
	ENIs []ENIProgram
	// ACLChains are the network ACL directions used by the vSwitches of
	// the ENIs, sorted by name; VSwitchChains the vSwitches' entry
	// points, sorted by name. Both empty when no ENI's vSwitch has an ACL.
	ACLChains     []*ACLChain
	VSwitchChains []VSwitchChain
	// FlowLogIfaces are the interfaces of the ENIs an active flow log
	// covers, sorted: their policy drops are logged (see DenyChain).
	// Compile leaves it empty; the agent sets it.
	FlowLogIfaces []string
	// Transparent adds the chains that filter the WAF's transparent
	// upstream connections (see TransparentMark). Compile leaves it false;
	// the agent sets it for VPCs with protected ports.
	Transparent bool
}

// Range is an inclusive range of ports or protocol numbers.
type Range struct{ From, To uint16 }

// AddrRange is an inclusive range of addresses of one family.
type AddrRange struct{ From, To netip.Addr }

// Element is one element of a class set: peer . proto . dport . sport .
// local. In the "any" sets (protocols without ports) DPort and SPort are
// always 0-65535 and are not part of the nft key.
type Element struct {
	Peer         AddrRange
	Proto        Range
	DPort, SPort Range
	Local        AddrRange
}

// RefRule is a rule whose peer is a group. It cannot be an element of an
// interval set (a set cannot hold a set), so it is one nft rule matching the
// referenced group's member set; the API caps these at 20 per basic group.
type RefRule struct {
	RuleID string
	// PeerGroupID is the referenced group.
	PeerGroupID string
	V4, V6      bool
	Proto       Range
	// Ports: TCP/UDP, DPort and SPort apply.
	Ports        bool
	DPort, SPort Range
	// Local restricts the ENI-side address; zero means any.
	Local netip.Prefix
}

// Class is the rules of one group with one direction, priority and action.
type Class struct {
	// Name is the chain name; set names derive from it.
	Name     string
	GroupID  string
	Dir      Direction
	Priority int
	Drop     bool
	// Ports4/Ports6: TCP and UDP rules, keyed peer . proto . dport . sport
	// . local. Any4/Any6: the other protocols, keyed peer . proto . local.
	// Elements are pairwise disjoint (the kernel refuses overlaps).
	Ports4, Ports6, Any4, Any6 []Element
	// Refs are the group-reference rules, in rule order.
	Refs []RefRule
}

// MemberSet holds the addresses of a group's member ENIs.
type MemberSet struct {
	GroupID      string
	Name4, Name6 string
	V4, V6       []netip.Addr
}

// ENIProgram is the policy of one ENI.
type ENIProgram struct {
	ENIID  string
	IfName string
	// Failed, when not empty, says why the ENI's policy could not be
	// built; the ENI then passes nothing (fail closed) and has no chains.
	Failed          string
	Ingress, Egress ChainProgram
	// ACLIngress and ACLEgress name the VSwitchChain that filters packets
	// to and from the ENI; empty when its vSwitch has no network ACL.
	ACLIngress, ACLEgress string
}

// ChainProgram is the per-ENI chain of one direction.
type ChainProgram struct {
	Name string
	// IntraGroups are the basic Accept groups of the ENI: traffic with
	// their members is accepted before any class.
	IntraGroups []string
	// Flat names the Flat of the ENI's group set for this direction;
	// empty when the group set fell back to classes.
	Flat string
	// Classes are class names in pooled evaluation order (fallback only).
	Classes      []string
	DefaultAllow bool
}

// MaxFlatElements bounds the elements of one Flat (before the elements
// whose verdict is the default are left out). A group set whose pooled
// rules fragment into more falls back to per-class chains for that
// direction: more lookups per packet, but a bounded load.
const MaxFlatElements = 20000

// Flat is the pooled rules of one group set in one direction, flattened:
// every element is the part of a rule's box that no earlier rule (in
// pooled order) covers, with that rule's verdict, so the elements are
// pairwise disjoint and a single lookup finds the first matching rule.
// Elements whose verdict equals the group set's default are left out (a
// miss falls through to the default). Group-reference rules are expanded
// to the addresses of the referenced group's members, so a membership
// change is a change of elements. The four maps are always rendered, even
// empty, so that any rule or membership change that keeps the group sets
// is a change of elements only (see Incremental).
type Flat struct {
	// Name is the map name prefix: f_<group suffix>_<i|o> for one group,
	// f_<hash>_<i|o> for several.
	Name string
	// GroupIDs is the group set, sorted.
	GroupIDs []string
	Dir      Direction
	// Keys as in Class: Ports4/Ports6 (TCP and UDP packets) hold the TCP,
	// UDP and all-protocol rules; Any4/Any6 (other protocols) the rules
	// without ports. Each slice is sorted and pairwise disjoint.
	Ports4, Ports6, Any4, Any6 []FlatElement
}

// FlatElement is an element of a flat verdict map.
type FlatElement struct {
	Element
	Drop bool
}

// Compile builds the program for the ENIs in ifaces (ENI ID -> name of the
// interface whose traffic is that ENI's, as the filtering namespace sees
// it). Only the groups of those ENIs are compiled. Member sets hold the
// addresses of every member of a referenced group in the group's VPC,
// wherever the member runs. This equals the evaluator's lookup as long as
// addresses are unique within a VPC and ENIs use groups of their own VPC,
// which the service enforces.
func Compile(w World, ifaces map[string]string) *Program {
	return compile(w, ifaces, MaxFlatElements)
}

// compile is Compile with the flattening bound as a parameter (tests use
// a small one to exercise the fallback).
func compile(w World, ifaces map[string]string, maxFlat int) *Program {
	p := &Program{}
	classes := map[string]*Class{} // by name
	compiled := map[string]bool{}  // group IDs whose classes exist
	memberGroups := map[string]bool{}
	flats := map[string]*Flat{} // by group set key and direction
	fellBack := map[string]bool{}
	memberOf := memberCache(w) // for the expansion of references
	for _, eniID := range sortedKeys(ifaces) {
		ep := ENIProgram{ENIID: eniID, IfName: ifaces[eniID]}
		eni := w.ENI(eniID)
		if eni == nil {
			ep.Failed = "unknown ENI"
			p.ENIs = append(p.ENIs, ep)
			continue
		}
		groups, d, ok := eniGroups(w, eni)
		if !ok {
			ep.Failed = d.String()
			p.ENIs = append(p.ENIs, ep)
			continue
		}
		for _, g := range groups {
			if innerAccept(g) {
				memberGroups[g.ID] = true
			}
		}
		suffix := nameSuffix(eniID)
		chains := [2]*ChainProgram{&ep.Ingress, &ep.Egress}
		for i, dir := range []Direction{Ingress, Egress} {
			name := "e_" + suffix + "_in"
			if dir == Egress {
				name = "e_" + suffix + "_out"
			}
			key := groupSetKey(groups) + "/" + string(dir)
			f, seen := flats[key]
			if !seen && !fellBack[key] {
				var ok bool
				if f, ok = flatten(w, groups, dir, maxFlat, memberOf); ok {
					flats[key] = f
				} else {
					fellBack[key] = true
				}
			}
			if f != nil {
				*chains[i] = ChainProgram{Name: name, IntraGroups: intraGroups(groups), Flat: f.Name, DefaultAllow: defaultAllow(groups, dir)}
				continue
			}
			for _, g := range groups {
				if !compiled[g.ID] {
					compiled[g.ID] = true
					for _, c := range compileGroup(w, g) {
						classes[c.Name] = c
						for _, r := range c.Refs {
							memberGroups[r.PeerGroupID] = true
						}
					}
				}
			}
			*chains[i] = eniChain(w, name, groups, dir)
		}
		p.ENIs = append(p.ENIs, ep)
	}
	for _, key := range sortedKeys(flats) {
		p.Flats = append(p.Flats, flats[key])
	}
	slices.SortFunc(p.Flats, func(a, b *Flat) int { return cmp.Compare(a.Name, b.Name) })
	for _, name := range sortedKeys(classes) {
		p.Classes = append(p.Classes, classes[name])
	}
	slices.SortFunc(p.Classes, cmpClass)
	for _, gid := range sortedKeys(memberGroups) {
		p.MemberSets = append(p.MemberSets, memberOf(gid))
	}
	compileACLs(w, p)
	return p
}

// groupSetKey identifies a group set: its IDs sorted, NUL-separated.
func groupSetKey(groups []*model.SecurityGroup) string {
	ids := make([]string, len(groups))
	for i, g := range groups {
		ids[i] = g.ID
	}
	slices.Sort(ids)
	return strings.Join(ids, "\x00")
}

// flatName names the flat of a group set: the group's suffix for one
// group, a hash of the sorted IDs for several (names stay short and
// stable while rules and members change).
func flatName(ids []string, dir Direction) string {
	d := "i"
	if dir == Egress {
		d = "o"
	}
	if len(ids) == 1 {
		return "f_" + nameSuffix(ids[0]) + "_" + d
	}
	h := sha256.Sum256([]byte(strings.Join(ids, "\x00")))
	return "f_" + hex.EncodeToString(h[:6]) + "_" + d
}

func intraGroups(groups []*model.SecurityGroup) []string {
	var out []string
	for _, g := range groups {
		if innerAccept(g) {
			out = append(out, g.ID)
		}
	}
	return out
}

// Key spaces of a flat, in Flat field order.
const (
	spacePorts4 = iota
	spacePorts6
	spaceAny4
	spaceAny6
	numSpaces
)

// flatten resolves the pooled rules of groups for dir into a Flat. The
// groups are taken sorted by ID: ties in pooled order are rules of one
// (priority, action), whose verdicts agree, so any order gives the same
// verdicts and the sorted one gives the same elements for every ENI of
// the set. ok is false when the elements would exceed limit (always for
// a negative limit).
func flatten(w World, groups []*model.SecurityGroup, dir Direction, limit int, members func(string) MemberSet) (*Flat, bool) {
	if limit < 0 {
		return nil, false
	}
	sorted := slices.Clone(groups)
	slices.SortFunc(sorted, func(a, b *model.SecurityGroup) int { return cmp.Compare(a.ID, b.ID) })
	f := &Flat{Dir: dir}
	for _, g := range sorted {
		f.GroupIDs = append(f.GroupIDs, g.ID)
	}
	f.Name = flatName(f.GroupIDs, dir)
	type piece struct {
		b    box
		drop bool
	}
	var spaces [numSpaces][]piece
	total := 0
	for _, e := range pool(w, sorted, dir) {
		for _, sb := range flatBoxes(&e.n, members) {
			pieces := uncovered(sb.b, spaces[sb.space], func(p piece) box { return p.b })
			if total += len(pieces); total > limit {
				return nil, false
			}
			for _, x := range pieces {
				spaces[sb.space] = append(spaces[sb.space], piece{x, e.n.drop})
			}
		}
	}
	def := defaultAllow(groups, dir)
	out := [numSpaces]*[]FlatElement{&f.Ports4, &f.Ports6, &f.Any4, &f.Any6}
	for s, ps := range spaces {
		family := fam4
		if s == spacePorts6 || s == spaceAny6 {
			family = fam6
		}
		slices.SortFunc(ps, func(a, b piece) int { return cmpBox(a.b, b.b) })
		for _, x := range ps {
			if x.drop == !def {
				continue // the default decides the same
			}
			*out[s] = append(*out[s], FlatElement{Element: boxElement(x.b, family), Drop: x.drop})
		}
	}
	return f, true
}

type spaceBox struct {
	space int
	b     box
}

// flatBoxes returns the boxes of a rule in the flat key spaces: TCP, UDP
// and all-protocol rules in the ports space of their family (ports of an
// all-protocol rule are any), rules without ports in the other space. A
// group reference becomes one box per member address of its family.
func flatBoxes(n *normRule, members func(string) MemberSet) []spaceBox {
	var out []spaceBox
	add := func(family int, b box) {
		if n.proto.has(uint16(IPProtoTCP)) || n.proto.has(uint16(IPProtoUDP)) {
			out = append(out, spaceBox{spacePorts4 + boolInt(family == fam6), b})
		}
		if !n.ports {
			out = append(out, spaceBox{spaceAny4 + boolInt(family == fam6), b})
		}
	}
	if n.peerGroup == "" {
		add(prefixFamily(n.peer), ruleBox(n))
		return out
	}
	m := members(n.peerGroup)
	for _, a := range append(slices.Clone(m.V4), m.V6...) {
		family := addrFamily(a)
		if n.family != famAny && n.family != family {
			continue
		}
		var b box
		b[dimPeer] = ival{Lo: ipspace.FromAddr(a), Hi: ipspace.FromAddr(a)}
		b[dimProto] = spanIval(n.proto)
		b[dimDPort] = spanIval(n.dport)
		b[dimSPort] = spanIval(n.sport)
		local := n.local
		if !local.IsValid() {
			local = netip.PrefixFrom(a, 0).Masked()
		}
		b[dimLocal] = ipspace.PrefixInterval(local)
		add(family, b)
	}
	return out
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func cmpClass(a, b *Class) int {
	if c := cmp.Compare(a.GroupID, b.GroupID); c != 0 {
		return c
	}
	if a.Dir != b.Dir {
		if a.Dir == Ingress {
			return -1
		}
		return 1
	}
	if c := cmp.Compare(a.Priority, b.Priority); c != 0 {
		return c
	}
	return cmpDropFirst(a.Drop, b.Drop)
}

// eniChain pools the classes of groups for dir, in the same order pool()
// gives rules: the first class that matches has the verdict the evaluator's
// first matching rule has.
func eniChain(w World, name string, groups []*model.SecurityGroup, dir Direction) ChainProgram {
	ch := ChainProgram{Name: name, DefaultAllow: defaultAllow(groups, dir)}
	for _, g := range groups {
		if innerAccept(g) {
			ch.IntraGroups = append(ch.IntraGroups, g.ID)
		}
	}
	seen := map[string]bool{}
	for _, e := range pool(w, groups, dir) {
		// pool() is sorted; a class appears where its first rule does.
		n := className(e.groupID, dir, e.priority, e.n.drop)
		if !seen[n] {
			seen[n] = true
			ch.Classes = append(ch.Classes, n)
		}
	}
	return ch
}

// compileGroup turns a group's rules into classes.
func compileGroup(w World, g *model.SecurityGroup) []*Class {
	byName := map[string]*Class{}
	type raw struct{ p4, p6, a4, a6 []box }
	raws := map[string]*raw{}
	var order []string
	for _, dir := range []Direction{Ingress, Egress} {
		for _, e := range pool(w, []*model.SecurityGroup{g}, dir) {
			name := className(g.ID, dir, e.priority, e.n.drop)
			c := byName[name]
			if c == nil {
				c = &Class{Name: name, GroupID: g.ID, Dir: dir, Priority: e.priority, Drop: e.n.drop}
				byName[name] = c
				raws[name] = &raw{}
				order = append(order, name)
			}
			n := e.n
			if n.peerGroup != "" {
				c.Refs = append(c.Refs, refRule(e.rule.ID, &n))
				continue
			}
			b := ruleBox(&n)
			r := raws[name]
			switch {
			case n.ports && n.family == fam4:
				r.p4 = append(r.p4, b)
			case n.ports:
				r.p6 = append(r.p6, b)
			case n.family == fam4:
				r.a4 = append(r.a4, b)
			default:
				r.a6 = append(r.a6, b)
			}
		}
	}
	out := make([]*Class, 0, len(order))
	for _, name := range order {
		c, r := byName[name], raws[name]
		c.Ports4 = elements(r.p4, fam4)
		c.Ports6 = elements(r.p6, fam6)
		c.Any4 = elements(r.a4, fam4)
		c.Any6 = elements(r.a6, fam6)
		out = append(out, c)
	}
	return out
}

// ruleBox is the box of a CIDR-peer rule (its family is known: the peer's).
func ruleBox(n *normRule) box {
	var b box
	b[dimPeer] = ipspace.PrefixInterval(n.peer)
	b[dimProto] = spanIval(n.proto)
	b[dimDPort] = spanIval(n.dport)
	b[dimSPort] = spanIval(n.sport)
	local := n.local
	if !local.IsValid() {
		local = netip.PrefixFrom(n.peer.Addr(), 0).Masked()
	}
	b[dimLocal] = ipspace.PrefixInterval(local)
	return b
}

func elements(bs []box, family int) []Element {
	if len(bs) == 0 {
		return nil
	}
	var out []Element
	for _, b := range disjoint(bs) {
		out = append(out, boxElement(b, family))
	}
	return out
}

func boxElement(b box, family int) Element {
	return Element{
		Peer:  AddrRange{ipspace.ToAddr(b[dimPeer].Lo, family), ipspace.ToAddr(b[dimPeer].Hi, family)},
		Proto: Range{uint16(b[dimProto].Lo.Lo), uint16(b[dimProto].Hi.Lo)},
		DPort: Range{uint16(b[dimDPort].Lo.Lo), uint16(b[dimDPort].Hi.Lo)},
		SPort: Range{uint16(b[dimSPort].Lo.Lo), uint16(b[dimSPort].Hi.Lo)},
		Local: AddrRange{ipspace.ToAddr(b[dimLocal].Lo, family), ipspace.ToAddr(b[dimLocal].Hi, family)},
	}
}

func refRule(id string, n *normRule) RefRule {
	return RefRule{
		RuleID:      id,
		PeerGroupID: n.peerGroup,
		V4:          n.family != fam6,
		V6:          n.family != fam4,
		Proto:       Range{n.proto.lo, n.proto.hi},
		Ports:       n.ports,
		DPort:       Range{n.dport.lo, n.dport.hi},
		SPort:       Range{n.sport.lo, n.sport.hi},
		Local:       n.local,
	}
}

func memberSet(w World, gid string) MemberSet {
	s := nameSuffix(gid)
	ms := MemberSet{GroupID: gid, Name4: "m4_" + s, Name6: "m6_" + s}
	for _, eniID := range w.Members(gid) {
		if !isMember(w, gid, eniID) {
			continue
		}
		for _, a := range w.ENI(eniID).Addrs() {
			if a = a.Unmap(); a.Is4() {
				ms.V4 = append(ms.V4, a)
			} else if a.IsValid() {
				ms.V6 = append(ms.V6, a)
			}
		}
	}
	// Sorted and deduplicated: a set refuses a duplicate element.
	slices.SortFunc(ms.V4, netip.Addr.Compare)
	slices.SortFunc(ms.V6, netip.Addr.Compare)
	ms.V4 = slices.Compact(ms.V4)
	ms.V6 = slices.Compact(ms.V6)
	return ms
}

// memberCache returns memberSet of w, computed once per group.
func memberCache(w World) func(gid string) MemberSet {
	members := map[string]MemberSet{}
	return func(gid string) MemberSet {
		m, ok := members[gid]
		if !ok {
			m = memberSet(w, gid)
			members[gid] = m
		}
		return m
	}
}

// className names the class chain of (group, dir, priority, action).
func className(gid string, dir Direction, prio int, drop bool) string {
	d, a := "i", "a"
	if dir == Egress {
		d = "o"
	}
	if drop {
		a = "d"
	}
	p := fmt.Sprint(prio)
	if prio < 0 { // the API forbids it; keep the name an nft identifier anyway
		p = fmt.Sprint("n", -prio)
	}
	return fmt.Sprintf("c_%s_%s_%s_%s", nameSuffix(gid), d, p, a)
}

// nameSuffix turns an ID like "sg-abc123" into "abc123", the part that
// tells resources of one kind apart, with anything nft would not accept in
// a name replaced by '_'.
func nameSuffix(id string) string {
	if i := strings.IndexByte(id, '-'); i >= 0 && i < len(id)-1 {
		id = id[i+1:]
	}
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' {
			return r
		}
		return '_'
	}, id)
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
