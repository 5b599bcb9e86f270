package policy

import (
	"cmp"
	"encoding/binary"
	"math"
	"net/netip"
	"slices"

	"github.com/palisade-project/palisade/internal/model"
)

// SourceRange is a block of IPv4 clients: the addresses Addr.From-Addr.To,
// each with the source ports SPort.From-SPort.To.
type SourceRange struct {
	Addr  AddrRange
	SPort Range
}

// AdmitsClient answers AdmittedSources' question for one client: whether
// the receiver's network ACL and security groups let in the first packet
// of a TCP connection from client to port port of the IPv4 address local
// of ENI eniID (a client inside the ENI's own vSwitch passes the ACL
// stage). The WAF asks it of its live client connections after a change,
// to close those that a new connection would no longer be allowed.
func AdmitsClient(w World, eniID string, local netip.Addr, port uint16, client netip.AddrPort) bool {
	eni := w.ENI(eniID)
	src, local := client.Addr().Unmap(), local.Unmap()
	if eni == nil || !local.Is4() || !src.Is4() {
		return false
	}
	p := Packet{Src: src, Dst: local, Proto: IPProtoTCP, SrcPort: client.Port(), DstPort: port}
	if !EvaluateENI(w, eniID, Ingress, p).Allow {
		return false
	}
	if vsw := w.VSwitch(eni.VSwitchID); vsw != nil && vsw.CidrBlock.Contains(src) {
		return true
	}
	return evaluateACL(w, eni, nil, Ingress, p).Allow
}

// AdmittedSources answers, for TCP port port of the IPv4 address local of
// ENI eniID, which clients outside the VPC may open a connection to it:
// the (source address, source port) ranges whose first packet the
// receiver's network ACL (ingress) and security groups (ingress) let in.
// That is the decision the kernel takes on the WAF's upstream connection,
// which carries such a client's requests from the client's own address and
// port; the steering uses the answer to refuse, at the client's SYN, the
// clients the instance's groups deny, as the direct path does.
//
// A client address inside the ENI's own vSwitch passes the ACL stage (the
// data plane compares the peer with the vSwitch's CIDR, the evaluator asks
// for an ENI of that vSwitch): the answer is never narrower than either.
//
// An unknown ENI, one with no or unknown groups, and a local address that
// is not IPv4 admit nobody (as the evaluator denies them).
//
// ranges are pairwise disjoint and sorted, in the fewest blocks of this
// shape: maximal address blocks whose addresses admit the same source
// ports, one range per span of those ports. all reports that every client
// is admitted (ranges is then nil). ok is false when the answer would take
// more than limit ranges (or the work on the way about four times as many
// pieces): the caller then admits every client at the SYN and leaves the
// decision to the upstream connection's filters.
//
// The cost is about linear in the rules and member addresses that apply
// to the port (each a rectangle of the plane (client address, source
// port), resolved in evaluation order over a sorted partition of the
// addresses), not quadratic: the audit asks it for every EIP and sensitive
// port of an account.
func AdmittedSources(w World, eniID string, local netip.Addr, port uint16, limit int) (ranges []SourceRange, all, ok bool) {
	a := NewAdmitter(w, limit).Admit(eniID, local, port)
	return a.Ranges, a.All, a.OK
}

// Admitter answers AdmittedSources for many ENIs, addresses and ports of
// one World (which must not change meanwhile), computing each distinct
// answer once: an answer depends only on the ENI's groups, the network
// ACL of its vSwitch (and the vSwitch's CIDR) and which of their rules
// and entries apply to the port and the local address, and many ENIs
// share groups, as many ports share the rules that apply to them (every
// port of an ENI whose groups only open some ports to the internet but
// accept all protocols from the VPC, say). An Admitter is not safe for
// concurrent use.
type Admitter struct {
	w     World
	limit int
	memo  map[string]Admission
	buf   []byte

	// Scratch space of the computations, reused (answers copy out of it).
	sgMap, aclMap admitMap
	both, merged  []admitSeg
}

// Admission is an answer of an Admitter: AdmittedSources' ranges, all and
// ok. Ranges may be shared with other answers and must not be modified.
// Class identifies the computation: answers of one Admitter with the same
// non-zero Class are equal, and for the same ENI and local address the
// same rules and entries decide each client (the port does not matter
// within a class). Class is zero for the answers that read no rule (an
// unknown ENI, no or unknown groups, an address that is not IPv4).
type Admission struct {
	Ranges  []SourceRange
	All, OK bool
	Class   int
}

// NewAdmitter returns an Admitter over w whose answers hold at most limit
// ranges (see AdmittedSources).
func NewAdmitter(w World, limit int) *Admitter {
	return &Admitter{w: w, limit: limit, memo: map[string]Admission{}}
}

// Admit answers AdmittedSources(w, eniID, local, port, limit).
func (ad *Admitter) Admit(eniID string, local netip.Addr, port uint16) Admission {
	w := ad.w
	eni := w.ENI(eniID)
	local = local.Unmap()
	if eni == nil || !local.Is4() {
		return Admission{OK: true}
	}
	groups, _, known := eniGroups(w, eni)
	if !known {
		return Admission{OK: true} // the ENI denies everything (fail closed)
	}

	// What the answer depends on, as the memo's key: the groups (in
	// order), the positions of the pooled rules that apply, and the
	// vSwitch when it has an ACL with the positions of the entries that
	// apply. The encoding is prefix-free (strings by length, positions
	// plus one ended by a zero), so two keys are equal only when all that
	// is.
	key := binary.AppendUvarint(ad.buf[:0], uint64(len(groups)))
	for _, g := range groups {
		key = appendString(key, g.ID)
	}
	var rules []*normRule
	entries := pool(w, groups, Ingress)
	for i := range entries {
		n := &entries[i].n
		if !n.proto.has(uint16(IPProtoTCP)) || !n.dport.has(port) || (n.local.IsValid() && !n.local.Contains(local)) {
			continue
		}
		if n.peerGroup == "" && prefixFamily(n.peer) != fam4 || n.peerGroup != "" && n.family != famAny && n.family != fam4 {
			continue
		}
		rules = append(rules, n)
		key = binary.AppendUvarint(key, uint64(i)+1)
	}
	key = append(key, 0)
	var acl *model.NetworkACL
	var aclRules []aclRule
	vsw := w.VSwitch(eni.VSwitchID)
	hasACL := vsw != nil && vsw.NetworkAclID != ""
	if hasACL {
		key = appendString(append(key, 1), vsw.ID)
		if acl = w.NetworkACL(vsw.NetworkAclID); acl != nil {
			for i := range acl.Ingress {
				n, valid := normalizeACL(&acl.Ingress[i])
				if !valid || n.family != fam4 || !n.proto.has(uint16(IPProtoTCP)) || (n.ports && !n.dport.has(port)) {
					continue
				}
				aclRules = append(aclRules, n)
				key = binary.AppendUvarint(key, uint64(i)+1)
			}
		}
		key = append(key, 0)
	}
	ad.buf = key
	if a, ok := ad.memo[string(key)]; ok {
		return a
	}
	a := ad.admit(groups, vsw, hasACL, rules, aclRules)
	a.Class = len(ad.memo) + 1
	ad.memo[string(key)] = a
	return a
}

// appendString appends s to a key, preceded by its length.
func appendString(key []byte, s string) []byte {
	return append(binary.AppendUvarint(key, uint64(len(s))), s...)
}

// admit computes an answer from the rules and ACL entries that apply, in
// evaluation order.
func (ad *Admitter) admit(groups []*model.SecurityGroup, vsw *model.VSwitch, hasACL bool, rules []*normRule, aclRules []aclRule) Admission {
	w, limit := ad.w, ad.limit
	// The answer is a first-match over the plane (client address, client
	// source port): every filter below is a rectangle of that plane once
	// the protocol (TCP), the port and the local address are fixed.
	budget := 4*limit + 16 // segments of a map on the way (the work is quadratic in it)
	fail := Admission{}

	// The network ACL of the ENI's vSwitch: the vSwitch itself and the
	// exempt service addresses pass, then the ingress entries in order,
	// then the default (deny).
	var acl *admitMap
	if hasACL {
		acl = ad.aclMap.reset(budget)
		pass := ACLExemptPrefixes()
		if vsw.CidrBlock.Addr().Is4() {
			pass = append(pass, vsw.CidrBlock.Masked())
		}
		for _, p := range pass {
			lo, hi := prefixSpan32(p)
			acl.decide(lo, hi, anyPort(), true)
		}
		for _, n := range aclRules {
			lo, hi := prefixSpan32(n.peer)
			if !acl.decide(lo, hi, anyPort(), !n.drop) {
				return fail
			}
		}
	}

	// Security groups: intra-group members first, then the pooled rules,
	// then the ingress default (deny).
	sg := ad.sgMap.reset(budget)
	for _, g := range groups {
		if !innerAccept(g) {
			continue
		}
		for _, a := range memberAddrs4(w, g.ID) {
			if !sg.decide(a, a, anyPort(), true) {
				return fail
			}
		}
	}
	for _, n := range rules {
		if n.peerGroup == "" {
			lo, hi := prefixSpan32(n.peer)
			if !sg.decide(lo, hi, n.sport, !n.drop) {
				return fail
			}
			continue
		}
		for _, a := range memberAddrs4(w, n.peerGroup) {
			if !sg.decide(a, a, n.sport, !n.drop) {
				return fail
			}
		}
	}

	admitted := sg.segs
	if acl != nil {
		ad.both = intersectAdmitted(ad.both[:0], sg.segs, acl.segs)
		admitted = ad.both
	}
	ad.merged = mergeAllowed(ad.merged[:0], admitted)
	admitted = ad.merged
	if len(admitted) == 1 && slices.Equal(admitted[0].allowed, fullPorts) {
		return Admission{All: true, OK: true}
	}
	var ranges []SourceRange
	for i, s := range admitted {
		hi := uint32(math.MaxUint32)
		if i+1 < len(admitted) {
			hi = admitted[i+1].lo - 1
		}
		for _, p := range s.allowed {
			if len(ranges) == limit {
				return fail
			}
			ranges = append(ranges, SourceRange{
				Addr:  AddrRange{addrFrom32(s.lo), addrFrom32(hi)},
				SPort: Range{p.lo, p.hi},
			})
		}
	}
	return Admission{Ranges: ranges, OK: true}
}

// memberAddrs4 returns the IPv4 addresses of the members of group gid
// (memberSet's), sorted, as numbers: once per group in a Snapshot.
func memberAddrs4(w World, gid string) []uint32 {
	build := func() []uint32 {
		m := memberSet(w, gid)
		out := make([]uint32, len(m.V4))
		for i, a := range m.V4 {
			out[i] = addr32(a)
		}
		return out
	}
	if c, ok := w.(interface {
		cachedMembers4(string, func() []uint32) []uint32
	}); ok {
		return c.cachedMembers4(gid, build)
	}
	return build()
}

func addr32(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func addrFrom32(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// prefixSpan32 returns the first and last addresses of an IPv4 prefix.
func prefixSpan32(p netip.Prefix) (lo, hi uint32) {
	p = p.Masked()
	lo = addr32(p.Addr())
	return lo, lo | uint32(uint64(1)<<(32-p.Bits())-1)
}

// portSet is a set of source ports: sorted, disjoint, non-adjacent spans.
// Sets are values: an operation returns a new slice (or an operand,
// unchanged) and never writes to its operands.
type portSet []span

// fullPorts is every source port.
var fullPorts = portSet{{0, 65535}}

func (s portSet) overlaps(x span) bool {
	for _, p := range s {
		if p.lo <= x.hi && x.lo <= p.hi {
			return true
		}
	}
	return false
}

// and returns s ∩ x.
func (s portSet) and(x span) portSet {
	if len(s) == 1 && s[0].lo >= x.lo && s[0].hi <= x.hi {
		return s
	}
	var out portSet
	for _, p := range s {
		if lo, hi := max(p.lo, x.lo), min(p.hi, x.hi); lo <= hi {
			out = append(out, span{lo, hi})
		}
	}
	return out
}

// minus returns s \ x.
func (s portSet) minus(x span) portSet {
	var out portSet
	for _, p := range s {
		if p.hi < x.lo || x.hi < p.lo {
			out = append(out, p)
			continue
		}
		if p.lo < x.lo {
			out = append(out, span{p.lo, x.lo - 1})
		}
		if p.hi > x.hi {
			out = append(out, span{x.hi + 1, p.hi})
		}
	}
	return out
}

// union returns s ∪ t.
func (s portSet) union(t portSet) portSet {
	switch {
	case len(t) == 0:
		return s
	case len(s) == 0:
		return t
	}
	all := make([]span, 0, len(s)+len(t))
	all = append(append(all, s...), t...)
	slices.SortFunc(all, func(a, b span) int { return cmp.Compare(a.lo, b.lo) })
	out := portSet{all[0]}
	for _, p := range all[1:] {
		last := &out[len(out)-1]
		if uint32(p.lo) <= uint32(last.hi)+1 {
			last.hi = max(last.hi, p.hi)
		} else {
			out = append(out, p)
		}
	}
	return out
}

// andSet returns s ∩ t.
func (s portSet) andSet(t portSet) portSet {
	switch {
	case len(s) == 0 || len(t) == 0:
		return nil
	case slices.Equal(t, fullPorts):
		return s
	case slices.Equal(s, fullPorts):
		return t
	}
	var out portSet
	for _, p := range t {
		out = append(out, s.and(p)...)
	}
	return out
}

// admitSeg is the addresses from lo to the next segment's lo (or the end
// of the IPv4 space): for each of them, the source ports still undecided
// (open) and those accepted so far.
type admitSeg struct {
	lo            uint32
	open, allowed portSet
}

func (a *admitSeg) same(b *admitSeg) bool {
	return slices.Equal(a.open, b.open) && slices.Equal(a.allowed, b.allowed)
}

// admitMap resolves rectangles of (client address, source port) given in
// evaluation order, each with a verdict: the part of a rectangle that no
// earlier one decided takes its verdict. The segments partition the IPv4
// space, sorted; adjacent segments differ.
type admitMap struct {
	segs   []admitSeg
	budget int
}

// reset makes m a map where nothing is decided yet (its segments' space
// is reused) and returns it.
func (m *admitMap) reset(budget int) *admitMap {
	m.segs = append(m.segs[:0], admitSeg{lo: 0, open: fullPorts})
	m.budget = budget
	return m
}

// decide records the verdict of the addresses lo-hi with the source ports
// sp where no earlier rectangle decided; false when the segments exceed
// the budget.
func (m *admitMap) decide(lo, hi uint32, sp span, allow bool) bool {
	k, _ := slices.BinarySearchFunc(m.segs, lo, func(s admitSeg, v uint32) int { return cmp.Compare(s.lo, v) })
	if k == len(m.segs) || m.segs[k].lo > lo {
		k-- // the segment holding lo
	}
	first := k
	for ; k < len(m.segs) && m.segs[k].lo <= hi; k++ {
		s := m.segs[k]
		if !s.open.overlaps(sp) {
			continue
		}
		if s.lo < lo {
			m.segs = slices.Insert(m.segs, k+1, admitSeg{lo, s.open, s.allowed})
			k++
		}
		if k+1 < len(m.segs) && m.segs[k+1].lo-1 > hi || k+1 == len(m.segs) && hi != math.MaxUint32 {
			m.segs = slices.Insert(m.segs, k+1, admitSeg{hi + 1, s.open, s.allowed})
		}
		if allow {
			m.segs[k].allowed = s.allowed.union(s.open.and(sp))
		}
		m.segs[k].open = s.open.minus(sp)
	}
	// Merge equal neighbours around what changed.
	from, to := max(first, 1), min(k+1, len(m.segs))
	out := from
	for i := from; i < to; i++ {
		if m.segs[out-1].same(&m.segs[i]) {
			continue
		}
		m.segs[out] = m.segs[i]
		out++
	}
	m.segs = append(m.segs[:out], m.segs[to:]...)
	return len(m.segs) <= m.budget
}

// intersectAdmitted appends to out the segments of the clients both a
// and b accept (allowed only).
func intersectAdmitted(out, a, b []admitSeg) []admitSeg {
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		out = append(out, admitSeg{lo: max(a[i].lo, b[j].lo), allowed: a[i].allowed.andSet(b[j].allowed)})
		// Step past the segment that ends first (both when they end together).
		ai, bj := i+1 < len(a), j+1 < len(b)
		switch {
		case ai && bj && a[i+1].lo == b[j+1].lo:
			i, j = i+1, j+1
		case ai && (!bj || a[i+1].lo < b[j+1].lo):
			i++
		case bj:
			j++
		default:
			i, j = len(a), len(b)
		}
	}
	return out
}

// mergeAllowed appends segs to out, neighbours that accept the same
// source ports merged.
func mergeAllowed(out, segs []admitSeg) []admitSeg {
	for _, s := range segs {
		if len(out) > 0 && slices.Equal(out[len(out)-1].allowed, s.allowed) {
			continue
		}
		out = append(out, admitSeg{lo: s.lo, allowed: s.allowed})
	}
	// Segments accepting nothing stay as separators.
	return out
}
