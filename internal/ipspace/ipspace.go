// Package ipspace is 128-bit integer arithmetic over the dimensions of the
// packet space (addresses of both families, ports, protocols), shared by
// the policy compiler (disjoint boxes for the kernel's interval sets) and
// the analyzer (exact shadowing and reachability regions).
package ipspace

import (
	"cmp"
	"math/bits"
	"net/netip"
)

// U128 is an unsigned 128-bit integer: every dimension of a box (an
// address, a port, a protocol) is held as one, so one set of routines
// serves all.
type U128 struct{ Hi, Lo uint64 }

// U64 is v as a U128.
func U64(v uint64) U128 { return U128{0, v} }

// Max is the largest U128.
func Max() U128 { return U128{^uint64(0), ^uint64(0)} }

// Cmp compares a and b (-1, 0, +1).
func (a U128) Cmp(b U128) int {
	if c := cmp.Compare(a.Hi, b.Hi); c != 0 {
		return c
	}
	return cmp.Compare(a.Lo, b.Lo)
}

// Add1 is a+1 (wrapping).
func (a U128) Add1() U128 {
	lo, carry := bits.Add64(a.Lo, 1, 0)
	return U128{a.Hi + carry, lo}
}

// Sub1 is a-1 (wrapping).
func (a U128) Sub1() U128 {
	lo, borrow := bits.Sub64(a.Lo, 1, 0)
	return U128{a.Hi - borrow, lo}
}

// Sub is a-b (wrapping).
func (a U128) Sub(b U128) U128 {
	lo, borrow := bits.Sub64(a.Lo, b.Lo, 0)
	return U128{a.Hi - b.Hi - borrow, lo}
}

// And is the bitwise a&b.
func (a U128) And(b U128) U128 { return U128{a.Hi & b.Hi, a.Lo & b.Lo} }

// IsZero reports whether a is 0.
func (a U128) IsZero() bool { return a.Hi == 0 && a.Lo == 0 }

// OnesCount is the number of one bits of a.
func (a U128) OnesCount() int { return bits.OnesCount64(a.Hi) + bits.OnesCount64(a.Lo) }

// FromAddr maps an address to a number: an IPv4 address to a 32-bit
// number, an IPv6 address (an IPv4-mapped one too) to a 128-bit one.
func FromAddr(a netip.Addr) U128 {
	if a.Is4() {
		b := a.As4()
		return U64(uint64(b[0])<<24 | uint64(b[1])<<16 | uint64(b[2])<<8 | uint64(b[3]))
	}
	b := a.As16()
	var hi, lo uint64
	for i := range 8 {
		hi = hi<<8 | uint64(b[i])
		lo = lo<<8 | uint64(b[8+i])
	}
	return U128{hi, lo}
}

// ToAddr is the inverse of FromAddr: an IPv4 address when family is 4,
// an IPv6 address otherwise.
func ToAddr(v U128, family int) netip.Addr {
	if family == 4 {
		x := uint32(v.Lo)
		return netip.AddrFrom4([4]byte{byte(x >> 24), byte(x >> 16), byte(x >> 8), byte(x)})
	}
	var b [16]byte
	for i := range 8 {
		b[7-i] = byte(v.Hi >> (8 * i))
		b[15-i] = byte(v.Lo >> (8 * i))
	}
	return netip.AddrFrom16(b)
}

// Interval is an inclusive interval.
type Interval struct{ Lo, Hi U128 }

// Overlaps reports whether a and b share a point.
func (a Interval) Overlaps(b Interval) bool { return a.Lo.Cmp(b.Hi) <= 0 && b.Lo.Cmp(a.Hi) <= 0 }

// PrefixInterval is the interval of the addresses of p.
func PrefixInterval(p netip.Prefix) Interval {
	p = p.Masked()
	lo := FromAddr(p.Addr())
	host := p.Addr().BitLen() - p.Bits()
	// m has the low host bits set.
	var m U128
	switch {
	case host >= 128:
		m = Max()
	case host >= 64:
		m = U128{(uint64(1) << (host - 64)) - 1, ^uint64(0)}
	default:
		m = U128{0, (uint64(1) << host) - 1}
	}
	return Interval{lo, U128{lo.Hi | m.Hi, lo.Lo | m.Lo}}
}

// AsPrefix returns the prefix of the family (4 or 6) covering exactly a,
// if there is one.
func (a Interval) AsPrefix(family int) (netip.Prefix, bool) {
	x := a.Hi.Sub(a.Lo)
	if !x.And(x.Add1()).IsZero() || !a.Lo.And(x).IsZero() {
		return netip.Prefix{}, false
	}
	addr := ToAddr(a.Lo, family)
	return netip.PrefixFrom(addr, addr.BitLen()-x.OnesCount()), true
}
