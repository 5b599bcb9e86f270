package policy

import (
	"slices"

	"github.com/palisade-project/palisade/internal/ipspace"
)

// The kernel's concatenated interval sets (nft_set_pipapo) refuse an
// element whose start or end key falls inside an existing element ("File
// exists"), so overlapping rules of one class cannot be loaded as they are.
// All rules of a class share one verdict, so only their union matters: the
// compiler turns the rules' hyper-rectangles ("boxes") into disjoint ones.

// u128 and ival are ipspace's: every box dimension (address, protocol,
// port) is an interval of 128-bit numbers.
type (
	u128 = ipspace.U128
	ival = ipspace.Interval
)

func spanIval(s span) ival { return ival{Lo: ipspace.U64(uint64(s.lo)), Hi: ipspace.U64(uint64(s.hi))} }

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
		if a[i].Hi.Cmp(b[i].Lo) < 0 || b[i].Hi.Cmp(a[i].Lo) < 0 {
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
		if cur[i].Lo.Cmp(b[i].Lo) < 0 {
			p := cur
			p[i].Hi = b[i].Lo.Sub1()
			out = append(out, p)
			cur[i].Lo = b[i].Lo
		}
		if cur[i].Hi.Cmp(b[i].Hi) > 0 {
			p := cur
			p[i].Lo = b[i].Hi.Add1()
			out = append(out, p)
			cur[i].Hi = b[i].Hi
		}
	}
	return out
}

// uncovered returns the parts of b that none of the boxes of earlier
// covers (boxOf reads an earlier one), as disjoint boxes: what b adds
// under first-match, where earlier entries win.
func uncovered[T any](b box, earlier []T, boxOf func(T) box) []box {
	pieces := []box{b}
	for _, o := range earlier {
		ob := boxOf(o)
		if !ob.overlaps(b) {
			continue
		}
		var next []box
		for _, x := range pieces {
			next = append(next, x.minus(ob)...)
		}
		if pieces = next; len(pieces) == 0 {
			break
		}
	}
	return pieces
}

// disjoint returns boxes covering exactly the union of in, pairwise
// disjoint, in a deterministic order. Larger boxes go first so that boxes
// they contain vanish instead of fragmenting them.
func disjoint(in []box) []box {
	in = slices.Clone(in)
	slices.SortStableFunc(in, func(a, b box) int {
		for _, d := range [...]int{dimPeer, dimLocal, dimProto, dimDPort, dimSPort} {
			if c := b[d].Hi.Sub(b[d].Lo).Cmp(a[d].Hi.Sub(a[d].Lo)); c != 0 {
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
		if c := a[i].Lo.Cmp(b[i].Lo); c != 0 {
			return c
		}
		if c := a[i].Hi.Cmp(b[i].Hi); c != 0 {
			return c
		}
	}
	return 0
}
