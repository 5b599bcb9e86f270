package policy

import (
	"net/netip"
	"slices"
)

// NAT gateway semantics shared by the kernel compiler (the agent's NAT
// tables) and the analyzer: which public address a private source leaves
// with, and which destinations a VPC sends to which gateway. Both are
// most-specific-prefix-wins over IPv4 ranges; the results are disjoint
// ranges in address order, ready for an nftables interval map.

// Ranged is one IPv4 range [From, To] with the value it maps to.
type Ranged[T comparable] struct {
	From, To netip.Addr
	Value    T
}

// Contains reports whether a is in r.
func (r Ranged[T]) Contains(a netip.Addr) bool {
	return a.Is4() && r.From.Compare(a) <= 0 && a.Compare(r.To) <= 0
}

// PrefixValue is an IPv4 prefix mapped to a value.
type PrefixValue[T comparable] struct {
	Prefix netip.Prefix
	Value  T
}

// span is a candidate range with the specificity (prefix length) it
// competes with and its place in the input (earlier wins a tie).
type natSpan[T comparable] struct {
	from, to uint64
	bits     int
	order    int
	value    T
}

func u32(a netip.Addr) uint64 {
	b := a.As4()
	return uint64(b[0])<<24 | uint64(b[1])<<16 | uint64(b[2])<<8 | uint64(b[3])
}

func addr4(v uint64) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

func prefixSpan(p netip.Prefix) (uint64, uint64) {
	p = p.Masked()
	from := u32(p.Addr())
	return from, from + (uint64(1) << (32 - p.Bits())) - 1
}

// flatten resolves overlapping spans (the longest prefix wins, then the
// earliest) into disjoint ranges in address order, merging neighbours
// with the same value.
func flattenSpans[T comparable](spans []natSpan[T]) []Ranged[T] {
	if len(spans) == 0 {
		return nil
	}
	var cuts []uint64
	for _, s := range spans {
		cuts = append(cuts, s.from, s.to+1)
	}
	slices.Sort(cuts)
	cuts = slices.Compact(cuts)
	var out []Ranged[T]
	var last *natSpan[T]
	var lastTo uint64
	for i := 0; i+1 < len(cuts); i++ {
		lo, hi := cuts[i], cuts[i+1]-1
		var best *natSpan[T]
		for j := range spans {
			s := &spans[j]
			if s.from > lo || s.to < hi {
				continue
			}
			if best == nil || s.bits > best.bits || (s.bits == best.bits && s.order < best.order) {
				best = s
			}
		}
		if best == nil {
			last = nil
			continue
		}
		if last != nil && last.value == best.value && lastTo+1 == lo {
			out[len(out)-1].To = addr4(hi)
		} else {
			out = append(out, Ranged[T]{From: addr4(lo), To: addr4(hi), Value: best.value})
		}
		last, lastTo = best, hi
	}
	return out
}

// FlattenPrefixes maps every IPv4 address covered by items to the value of
// the most specific prefix covering it (the first of equal ones). Non-IPv4
// prefixes are ignored.
func FlattenPrefixes[T comparable](items []PrefixValue[T]) []Ranged[T] {
	var spans []natSpan[T]
	for i, it := range items {
		if !it.Prefix.IsValid() || !it.Prefix.Addr().Is4() {
			continue
		}
		from, to := prefixSpan(it.Prefix)
		spans = append(spans, natSpan[T]{from: from, to: to, bits: it.Prefix.Bits(), order: i, value: it.Value})
	}
	return flattenSpans(spans)
}

// SNATSource is one SNAT entry: its source prefix and public addresses.
type SNATSource struct {
	EntryID string
	Prefix  netip.Prefix
	Addrs   []netip.Addr
}

// SNATChoice is what a source address leaves with: the entry that covers
// it and the public address.
type SNATChoice struct {
	EntryID string
	Addr    netip.Addr
}

// SNATRanges flattens the SNAT entries of one table: an address leaves
// through the most specific entry covering it (the first of equal ones).
// An entry with k public addresses splits its prefix into k consecutive
// parts of equal size (the last one takes the remainder); the address of
// part i is Addrs[i]. The parts are cut from the whole prefix, so a more
// specific entry inside it takes its addresses out of whichever parts they
// fall in.
func SNATRanges(entries []SNATSource) []Ranged[SNATChoice] {
	var spans []natSpan[SNATChoice]
	for i, e := range entries {
		if !e.Prefix.IsValid() || !e.Prefix.Addr().Is4() || len(e.Addrs) == 0 {
			continue
		}
		from, to := prefixSpan(e.Prefix)
		addrs := e.Addrs
		if uint64(len(addrs)) > to-from+1 { // more addresses than sources: the first ones serve
			addrs = addrs[:to-from+1]
		}
		size := (to - from + 1) / uint64(len(addrs))
		for k, a := range addrs {
			lo := from + uint64(k)*size
			hi := lo + size - 1
			if k == len(addrs)-1 {
				hi = to
			}
			spans = append(spans, natSpan[SNATChoice]{from: lo, to: hi, bits: e.Prefix.Bits(), order: i,
				value: SNATChoice{EntryID: e.EntryID, Addr: a}})
		}
	}
	return flattenSpans(spans)
}

// Lookup returns the value of the range containing a.
func Lookup[T comparable](ranges []Ranged[T], a netip.Addr) (T, bool) {
	i, found := slices.BinarySearchFunc(ranges, a, func(r Ranged[T], a netip.Addr) int {
		if r.To.Compare(a) < 0 {
			return -1
		}
		if r.From.Compare(a) > 0 {
			return 1
		}
		return 0
	})
	if !found {
		var zero T
		return zero, false
	}
	return ranges[i].Value, true
}

// RangePrefixes returns the fewest IPv4 prefixes that cover exactly the
// range [from, to] (nil for a non-IPv4 or empty range).
func RangePrefixes(from, to netip.Addr) []netip.Prefix {
	if !from.Is4() || !to.Is4() || from.Compare(to) > 0 {
		return nil
	}
	lo, hi := u32(from), u32(to)
	var out []netip.Prefix
	for lo <= hi {
		bits := 32
		// Grow the block while it stays aligned and inside the range.
		for bits > 0 {
			size := uint64(1) << (32 - (bits - 1))
			if lo%size != 0 || lo+size-1 > hi {
				break
			}
			bits--
		}
		out = append(out, netip.PrefixFrom(addr4(lo), bits))
		lo += uint64(1) << (32 - bits)
	}
	return out
}
