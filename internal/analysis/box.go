package analysis

import (
	"math/bits"
	"net/netip"
	"slices"
	"sync"
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

// u128 is an unsigned 128-bit number: ports, protocols and addresses of
// both families are intervals over it.
type u128 struct{ hi, lo uint64 }

func (a u128) cmp(b u128) int {
	switch {
	case a.hi < b.hi:
		return -1
	case a.hi > b.hi:
		return 1
	case a.lo < b.lo:
		return -1
	case a.lo > b.lo:
		return 1
	}
	return 0
}

func (a u128) inc() u128 {
	lo, c := bits.Add64(a.lo, 1, 0)
	return u128{a.hi + c, lo}
}

func (a u128) dec() u128 {
	lo, b := bits.Sub64(a.lo, 1, 0)
	return u128{a.hi - b, lo}
}

func u64(v uint64) u128 { return u128{0, v} }

// addrU128 maps an address to a number; IPv4 addresses are 32-bit numbers.
func addrU128(a netip.Addr) u128 {
	a = a.Unmap()
	if a.Is4() {
		b := a.As4()
		return u64(uint64(b[0])<<24 | uint64(b[1])<<16 | uint64(b[2])<<8 | uint64(b[3]))
	}
	b := a.As16()
	var hi, lo uint64
	for i := range 8 {
		hi = hi<<8 | uint64(b[i])
		lo = lo<<8 | uint64(b[8+i])
	}
	return u128{hi, lo}
}

// u128Addr is the inverse of addrU128 for family fam.
func u128Addr(v u128, fam int) netip.Addr {
	if fam == fam4 {
		x := uint32(v.lo)
		return netip.AddrFrom4([4]byte{byte(x >> 24), byte(x >> 16), byte(x >> 8), byte(x)})
	}
	var b [16]byte
	for i := range 8 {
		b[7-i] = byte(v.hi >> (8 * i))
		b[15-i] = byte(v.lo >> (8 * i))
	}
	return netip.AddrFrom16(b)
}

// ival is an inclusive interval.
type ival struct{ lo, hi u128 }

func (a ival) overlaps(b ival) bool { return a.lo.cmp(b.hi) <= 0 && b.lo.cmp(a.hi) <= 0 }

// prefixIval is the interval of addresses of p.
func prefixIval(p netip.Prefix) ival {
	p = p.Masked()
	lo := addrU128(p.Addr())
	var span u128 // number of host bits set to one
	host := p.Addr().BitLen() - p.Bits()
	switch {
	case host >= 128:
		span = u128{^uint64(0), ^uint64(0)}
	case host >= 64:
		span = u128{(uint64(1) << (host - 64)) - 1, ^uint64(0)}
	default:
		span = u128{0, (uint64(1) << host) - 1}
	}
	return ival{lo, u128{lo.hi | span.hi, lo.lo | span.lo}}
}

// famSpace is the whole address interval of a family.
func famSpace(fam int) ival {
	if fam == fam4 {
		return ival{u64(0), u64(1<<32 - 1)}
	}
	return ival{u64(0), u128{^uint64(0), ^uint64(0)}}
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
		if !a.d[i].overlaps(b.d[i]) {
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
		if cur.d[i].lo.cmp(b.d[i].lo) < 0 {
			p := cur
			p.d[i] = ival{cur.d[i].lo, b.d[i].lo.dec()}
			out = append(out, p)
			cur.d[i].lo = b.d[i].lo
		}
		if cur.d[i].hi.cmp(b.d[i].hi) > 0 {
			p := cur
			p.d[i] = ival{b.d[i].hi.inc(), cur.d[i].hi}
			out = append(out, p)
			cur.d[i].hi = b.d[i].hi
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
