package policy

import (
	"cmp"
	"math/bits"
	"net/netip"
	"slices"
)

// The kernel's concatenated interval sets (nft_set_pipapo) refuse an
// element whose start or end key falls inside an existing element ("File
// exists"), so overlapping rules of one class cannot be loaded as they are.
// All rules of a class share one verdict, so only their union matters: the
// compiler turns the rules' hyper-rectangles ("boxes") into disjoint ones.

// u128 is an unsigned 128-bit integer; every box dimension (address,
// protocol, port) is held as one so a single subtraction routine serves all.
type u128 struct{ hi, lo uint64 }

func (a u128) cmp(b u128) int {
	if c := cmp.Compare(a.hi, b.hi); c != 0 {
		return c
	}
	return cmp.Compare(a.lo, b.lo)
}

func (a u128) add1() u128 {
	lo, carry := bits.Add64(a.lo, 1, 0)
	return u128{a.hi + carry, lo}
}

func (a u128) sub1() u128 {
	lo, borrow := bits.Sub64(a.lo, 1, 0)
	return u128{a.hi - borrow, lo}
}

func (a u128) sub(b u128) u128 {
	lo, borrow := bits.Sub64(a.lo, b.lo, 0)
	return u128{a.hi - b.hi - borrow, lo}
}

func (a u128) and(b u128) u128 { return u128{a.hi & b.hi, a.lo & b.lo} }

func (a u128) isZero() bool { return a.hi == 0 && a.lo == 0 }

func (a u128) onesCount() int { return bits.OnesCount64(a.hi) + bits.OnesCount64(a.lo) }

func addrU(a netip.Addr) u128 {
	if a.Is4() {
		b := a.As4()
		return u128{0, uint64(b[0])<<24 | uint64(b[1])<<16 | uint64(b[2])<<8 | uint64(b[3])}
	}
	b := a.As16()
	var hi, lo uint64
	for i := range 8 {
		hi = hi<<8 | uint64(b[i])
		lo = lo<<8 | uint64(b[8+i])
	}
	return u128{hi, lo}
}

func uAddr(u u128, family int) netip.Addr {
	if family == fam4 {
		v := uint32(u.lo)
		return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	}
	var b [16]byte
	for i := range 8 {
		b[7-i] = byte(u.hi >> (8 * i))
		b[15-i] = byte(u.lo >> (8 * i))
	}
	return netip.AddrFrom16(b)
}

// ival is an inclusive interval.
type ival struct{ lo, hi u128 }

func prefixIval(p netip.Prefix) ival {
	p = p.Masked()
	lo := addrU(p.Addr())
	total := p.Addr().BitLen()
	host := total - p.Bits()
	// hostMask has the low `host` bits set.
	var m u128
	switch {
	case host >= 128:
		m = u128{^uint64(0), ^uint64(0)}
	case host >= 64:
		m = u128{(uint64(1) << (host - 64)) - 1, ^uint64(0)}
	default:
		m = u128{0, (uint64(1) << host) - 1}
	}
	return ival{lo, u128{lo.hi | m.hi, lo.lo | m.lo}}
}

func spanIval(s span) ival { return ival{u128{0, uint64(s.lo)}, u128{0, uint64(s.hi)}} }

// asPrefix returns the prefix covering exactly iv, if there is one.
func (iv ival) asPrefix(family int) (netip.Prefix, bool) {
	x := iv.hi.sub(iv.lo)
	if !x.and(x.add1()).isZero() || !iv.lo.and(x).isZero() {
		return netip.Prefix{}, false
	}
	a := uAddr(iv.lo, family)
	return netip.PrefixFrom(a, a.BitLen()-x.onesCount()), true
}

// Box dimensions, in nft concatenation order.
const (
	dimPeer = iota
	dimProto
	dimDPort
	dimSPort
	dimLocal
	numDims
)

type box [numDims]ival

func (a box) overlaps(b box) bool {
	for i := range a {
		if a[i].hi.cmp(b[i].lo) < 0 || b[i].hi.cmp(a[i].lo) < 0 {
			return false
		}
	}
	return true
}

// minus returns a \ b as disjoint boxes: at most two slabs per dimension,
// peeled off in dimension order.
func (a box) minus(b box) []box {
	if !a.overlaps(b) {
		return []box{a}
	}
	var out []box
	cur := a
	for i := range cur {
		if cur[i].lo.cmp(b[i].lo) < 0 {
			p := cur
			p[i].hi = b[i].lo.sub1()
			out = append(out, p)
			cur[i].lo = b[i].lo
		}
		if cur[i].hi.cmp(b[i].hi) > 0 {
			p := cur
			p[i].lo = b[i].hi.add1()
			out = append(out, p)
			cur[i].hi = b[i].hi
		}
	}
	return out
}

// disjoint returns boxes covering exactly the union of in, pairwise
// disjoint, in a deterministic order. Larger boxes go first so that boxes
// they contain vanish instead of fragmenting them.
func disjoint(in []box) []box {
	in = slices.Clone(in)
	slices.SortStableFunc(in, func(a, b box) int {
		for _, d := range [...]int{dimPeer, dimLocal, dimProto, dimDPort, dimSPort} {
			if c := b[d].hi.sub(b[d].lo).cmp(a[d].hi.sub(a[d].lo)); c != 0 {
				return c
			}
		}
		return cmpBox(a, b)
	})
	var out []box
	for _, x := range in {
		pieces := []box{x}
		for _, y := range out {
			var next []box
			for _, p := range pieces {
				next = append(next, p.minus(y)...)
			}
			pieces = next
			if len(pieces) == 0 {
				break
			}
		}
		out = append(out, pieces...)
	}
	slices.SortFunc(out, cmpBox)
	return out
}

func cmpBox(a, b box) int {
	for i := range a {
		if c := a[i].lo.cmp(b[i].lo); c != 0 {
			return c
		}
		if c := a[i].hi.cmp(b[i].hi); c != 0 {
			return c
		}
	}
	return 0
}
