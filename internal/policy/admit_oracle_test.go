package policy

import (
	"cmp"
	"net/netip"
	"slices"

	"github.com/palisade-project/palisade/internal/ipspace"
)

// The first implementation of AdmittedSources, kept as a test oracle: a
// first-match over 5-dimensional boxes (quadratic in the pieces decided),
// written independently of the segment map that replaced it.

func admittedSourcesBoxes(w World, eniID string, local netip.Addr, port uint16, limit int) (ranges []SourceRange, all, ok bool) {
	eni := w.ENI(eniID)
	local = local.Unmap()
	if eni == nil || !local.Is4() {
		return nil, false, true
	}
	groups, _, known := eniGroups(w, eni)
	if !known {
		return nil, false, true // the ENI denies everything (fail closed)
	}
	slice := box{
		dimPeer:  ipspace.PrefixInterval(netip.PrefixFrom(netip.IPv4Unspecified(), 0)),
		dimProto: spanIval(span{uint16(IPProtoTCP), uint16(IPProtoTCP)}),
		dimDPort: spanIval(span{port, port}),
		dimSPort: spanIval(anyPort()),
		dimLocal: ipspace.PrefixInterval(netip.PrefixFrom(local, 32)),
	}
	budget := 2 * limit // pieces decided on the way, of either verdict (the work is quadratic in it)

	// Security groups: intra-group members first, then the pooled rules,
	// then the ingress default (deny).
	var sg firstMatch
	sg.slice, sg.budget = slice, budget
	members := memberCache(w)
	for _, g := range groups {
		if !innerAccept(g) {
			continue
		}
		for _, a := range members(g.ID).V4 {
			b := slice
			b[dimPeer] = ival{Lo: ipspace.FromAddr(a), Hi: ipspace.FromAddr(a)}
			if !sg.add(b, true) {
				return nil, false, false
			}
		}
	}
	for _, e := range pool(w, groups, Ingress) {
		for _, sb := range flatBoxes(&e.n, members) {
			if sb.space == spacePorts4 && !sg.add(sb.b, !e.n.drop) {
				return nil, false, false
			}
		}
	}

	// The network ACL of the ENI's vSwitch: the vSwitch itself and the
	// exempt service addresses pass, then the ingress entries in order,
	// then the default (deny).
	var acl []box
	vsw := w.VSwitch(eni.VSwitchID)
	if vsw != nil && vsw.NetworkAclID != "" {
		var fm firstMatch
		fm.slice, fm.budget = slice, budget
		pass := ACLExemptPrefixes()
		if vsw.CidrBlock.Addr().Is4() {
			pass = append(pass, vsw.CidrBlock.Masked())
		}
		for _, p := range pass {
			b := slice
			b[dimPeer] = ipspace.PrefixInterval(p)
			fm.add(b, true)
		}
		if a := w.NetworkACL(vsw.NetworkAclID); a != nil {
			for i := range a.Ingress {
				n, valid := normalizeACL(&a.Ingress[i])
				if !valid || n.family != fam4 || !n.proto.has(uint16(IPProtoTCP)) || (n.ports && !n.dport.has(port)) {
					continue
				}
				b := slice
				b[dimPeer] = ipspace.PrefixInterval(n.peer)
				if !fm.add(b, !n.drop) {
					return nil, false, false
				}
			}
		}
		acl = fm.allowed
	}

	admitted := sg.allowed
	if vsw != nil && vsw.NetworkAclID != "" {
		admitted = nil
		for _, s := range sg.allowed {
			for _, a := range acl {
				if x, ok := intersect(s, a); ok {
					admitted = append(admitted, x)
				}
			}
		}
	}
	var area uint64
	for _, b := range admitted {
		area += (b[dimPeer].Hi.Lo - b[dimPeer].Lo.Lo + 1) * (b[dimSPort].Hi.Lo - b[dimSPort].Lo.Lo + 1)
	}
	if area == 1<<48 {
		return nil, true, true
	}
	if len(admitted) > limit {
		return nil, false, false
	}
	for _, b := range admitted {
		ranges = append(ranges, SourceRange{
			Addr:  AddrRange{ipspace.ToAddr(b[dimPeer].Lo, fam4), ipspace.ToAddr(b[dimPeer].Hi, fam4)},
			SPort: Range{uint16(b[dimSPort].Lo.Lo), uint16(b[dimSPort].Hi.Lo)},
		})
	}
	slices.SortFunc(ranges, func(a, b SourceRange) int {
		if c := a.Addr.From.Compare(b.Addr.From); c != 0 {
			return c
		}
		return cmp.Compare(a.SPort.From, b.SPort.From)
	})
	return ranges, false, true
}

// firstMatch resolves boxes added in evaluation order, each with a verdict,
// within slice: the part of a box that no earlier box covers takes its
// verdict. allowed collects the accepted parts (pairwise disjoint).
type firstMatch struct {
	slice   box
	budget  int
	decided []box
	allowed []box
}

// add records b's verdict where no earlier box decided; false when the
// pieces exceed the budget.
func (f *firstMatch) add(b box, allow bool) bool {
	b, ok := intersect(b, f.slice)
	if !ok {
		return true
	}
	pieces := []box{b}
	for _, d := range f.decided {
		if !d.overlaps(b) {
			continue
		}
		var next []box
		for _, p := range pieces {
			next = append(next, p.minus(d)...)
		}
		if pieces = next; len(pieces) == 0 {
			return true
		}
	}
	f.decided = append(f.decided, pieces...)
	if allow {
		f.allowed = append(f.allowed, pieces...)
	}
	return len(f.decided) <= f.budget
}

// intersect returns a ∩ b; ok is false when they do not overlap.
func intersect(a, b box) (box, bool) {
	if !a.overlaps(b) {
		return box{}, false
	}
	var out box
	for i := range a {
		out[i] = a[i]
		if b[i].Lo.Cmp(out[i].Lo) > 0 {
			out[i].Lo = b[i].Lo
		}
		if b[i].Hi.Cmp(out[i].Hi) < 0 {
			out[i].Hi = b[i].Hi
		}
	}
	return out, true
}
