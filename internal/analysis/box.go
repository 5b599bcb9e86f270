package analysis

import (
	"slices"
	"sync"

	"github.com/palisade-project/palisade/internal/ipspace"
)

// Interval arithmetic over the packet space of one address family, used to
// decide exactly whether a rule can ever decide a packet (shadowing).
//
// A packet of the abstract space is (protocol, source port, destination
// port, peer address, local address, M) where M is the set of security
// groups the peer's ENI belongs to. Membership is a free variable: it
// changes all the time, so a rule is judged against every membership, not
// only today's. A region is a union of boxes; a box is a product of
// inclusive intervals with a conjunction of membership literals (the peer
// is in every group of pos and in no group of neg).

// u128 and ival are ipspace's (shared with the policy compiler).
type (
	u128 = ipspace.U128
	ival = ipspace.Interval
)

// famSpace is the whole address interval of a family.
func famSpace(fam int) ival {
	if fam == fam4 {
		return ival{Lo: ipspace.U64(0), Hi: ipspace.U64(1<<32 - 1)}
	}
	return ival{Lo: ipspace.U64(0), Hi: ipspace.Max()}
}

// Dimensions of a box.
const (
	dimProto = iota
	dimSport
	dimDport
	dimPeer
	dimLocal
	nDims
)

// box is a product of intervals with membership literals (group indexes,
// sorted).
type box struct {
	d   [nDims]ival
	pos []int32
	neg []int32
}

func hasAny(a, b []int32) bool {
	for _, x := range a {
		if slices.Contains(b, x) {
			return true
		}
	}
	return false
}

func subsetOf(a, b []int32) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

// intersects reports whether a and b share a packet.
func (a *box) intersects(b *box) bool {
	for i := range nDims {
		if !a.d[i].Overlaps(b.d[i]) {
			return false
		}
	}
	return !hasAny(a.pos, b.neg) && !hasAny(b.pos, a.neg)
}

// subtract appends the pieces of a outside b to out. The pieces are
// disjoint, non-empty and satisfiable when a is.
func subtract(a *box, b *box, out []box) []box {
	if !a.intersects(b) {
		return append(out, *a)
	}
	cur := *a
	for i := range nDims {
		if cur.d[i].Lo.Cmp(b.d[i].Lo) < 0 {
			p := cur
			p.d[i] = ival{Lo: cur.d[i].Lo, Hi: b.d[i].Lo.Sub1()}
			out = append(out, p)
			cur.d[i].Lo = b.d[i].Lo
		}
		if cur.d[i].Hi.Cmp(b.d[i].Hi) > 0 {
			p := cur
			p.d[i] = ival{Lo: b.d[i].Hi.Add1(), Hi: cur.d[i].Hi}
			out = append(out, p)
			cur.d[i].Hi = b.d[i].Hi
		}
	}
	// cur is inside b's intervals: it survives only for peers that miss
	// one of b's groups (b has at most one positive literal in practice).
	for _, g := range b.pos {
		if slices.Contains(cur.pos, g) {
			continue
		}
		p := cur
		p.neg = append(slices.Clone(cur.neg), g)
		slices.Sort(p.neg)
		out = append(out, p)
		// The following literals apply to peers that are in g.
		cur.pos = append(slices.Clone(cur.pos), g)
		slices.Sort(cur.pos)
	}
	return out
}

// remainder returns the part of a outside every box of bs whose ok entry
// is true (ok nil: all), nil when covered, and calls hit with the index of
// each box that removed something.
func remainder(a box, bs []box, ok []bool, hit func(int)) []box {
	return remainderBuf(a, bs, ok, hit, nil, nil)
}

// scratch holds reusable buffers of remainder computations.
type scratch struct{ cur, next []box }

var scratchPool = sync.Pool{New: func() any { return &scratch{} }}

// remainderBuf is remainder with scratch buffers (the result aliases one
// of them).
func remainderBuf(a box, bs []box, ok []bool, hit func(int), cur, next []box) []box {
	cur = append(cur[:0], a)
	for j := range bs {
		if ok != nil && !ok[j] {
			continue
		}
		b := &bs[j]
		touched := false
		next = next[:0]
		for k := range cur {
			if cur[k].intersects(b) {
				touched = true
				next = subtract(&cur[k], b, next)
			} else {
				next = append(next, cur[k])
			}
		}
		if touched {
			if hit != nil {
				hit(j)
			}
			cur, next = next, cur
			if len(cur) == 0 {
				return nil
			}
		}
	}
	return cur
}

// coveredBy reports whether a is inside the union of the covers (family
// index fi) of list[:k]; when hit is not nil it is called with each rule
// that removed part of a. It allocates nothing in the steady state.
func coveredBy(a box, list pooled, k, fi int, hit func(int)) (bool, box) {
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	cur, next := append(sc.cur[:0], a), sc.next[:0]
	defer func() { sc.cur, sc.next = cur[:0], next[:0] }()
	for j := 0; j < k; j++ {
		r := list[j]
		if !r.covOK[fi] {
			continue
		}
		b := &r.cov[fi]
		touched := false
		next = next[:0]
		for x := range cur {
			if cur[x].intersects(b) {
				touched = true
				next = subtract(&cur[x], b, next)
			} else {
				next = append(next, cur[x])
			}
		}
		if touched {
			if hit != nil {
				hit(j)
			}
			cur, next = next, cur
			if len(cur) == 0 {
				return true, box{}
			}
		}
	}
	return false, cur[0]
}
