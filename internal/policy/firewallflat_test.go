package policy

import (
	"math/rand/v2"
	"net/netip"
	"testing"
)

// TestFlattenFirewall: for random rule lists and random packets, the
// flattened firewall's element names the first rule that matches, and no
// element at all when none does; elements of a space never overlap.
func TestFlattenFirewall(t *testing.T) {
	seed := uint64(rand.Int64())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 7))
	addr := func() netip.Addr {
		return netip.AddrFrom4([4]byte{10, byte(r.IntN(3)), byte(r.IntN(4)), byte(r.IntN(8))})
	}
	prefix := func() netip.Prefix {
		if r.IntN(6) == 0 {
			return netip.MustParsePrefix("0.0.0.0/0")
		}
		p, _ := addr().Prefix([]int{8, 16, 24, 30, 32}[r.IntN(5)])
		return p
	}
	protos := []uint8{0, IPProtoICMP, IPProtoTCP, IPProtoUDP}
	for round := range 300 {
		var rules []FirewallRule
		for i := range 1 + r.IntN(12) {
			fr := FirewallRule{ID: string(rune('a' + i)), Drop: r.IntN(2) == 0, Proto: protos[r.IntN(len(protos))]}
			for range 1 + r.IntN(2) {
				fr.Src = append(fr.Src, prefix())
			}
			for range r.IntN(3) { // sometimes none: a domain not resolved
				fr.Dst = append(fr.Dst, prefix())
			}
			if fr.Proto == IPProtoTCP || fr.Proto == IPProtoUDP || (fr.Proto == 0 && r.IntN(3) == 0) {
				for range r.IntN(3) {
					lo := uint16(r.IntN(100))
					fr.Ports = append(fr.Ports, Range{lo, lo + uint16(r.IntN(20))})
				}
			}
			if fr.Proto == 0 {
				fr.Ports = nil // compileFirewallPolicy keeps ports for TCP and UDP only
			}
			rules = append(rules, fr)
		}
		f, ok := FlattenFirewall(rules, MaxFirewallFlatElements)
		if !ok {
			t.Fatalf("round %d: over the limit", round)
		}
		for _, es := range [][]FirewallElement{f.Ports, f.Any} {
			for i := range es {
				for j := i + 1; j < len(es); j++ {
					a, b := es[i], es[j]
					if a.Peer.From.Compare(b.Peer.To) <= 0 && b.Peer.From.Compare(a.Peer.To) <= 0 &&
						a.Local.From.Compare(b.Local.To) <= 0 && b.Local.From.Compare(a.Local.To) <= 0 &&
						a.Proto.From <= b.Proto.To && b.Proto.From <= a.Proto.To &&
						a.DPort.From <= b.DPort.To && b.DPort.From <= a.DPort.To {
						t.Fatalf("round %d: elements %+v and %+v overlap", round, a, b)
					}
				}
			}
		}
		for range 200 {
			p := Packet{Proto: []uint8{IPProtoICMP, IPProtoTCP, IPProtoUDP, 47}[r.IntN(4)], Src: addr(), Dst: addr(),
				SrcPort: uint16(r.IntN(65536)), DstPort: uint16(r.IntN(120))}
			want, wantOK := -1, false
			for i, fr := range rules {
				if fr.Matches(p) {
					want, wantOK = i, true
					break
				}
			}
			got, gotOK := f.Decide(p)
			if gotOK != wantOK || (wantOK && got != want) {
				t.Fatalf("round %d: %+v decided by rule %d (%v), want %d (%v)\nrules %+v", round, p, got, gotOK, want, wantOK, rules)
			}
		}
	}
	if _, ok := FlattenFirewall([]FirewallRule{
		{Src: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, Dst: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}, Ports: []Range{{1, 1}, {3, 3}, {5, 5}}, Proto: IPProtoTCP},
		{Src: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}, Dst: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}, Proto: IPProtoTCP},
	}, 3); ok {
		t.Error("a flattening over the limit was accepted")
	}
}
