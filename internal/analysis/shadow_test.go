package analysis

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"github.com/palisade-project/palisade/internal/ipspace"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/policy"
)

// probeWorld is the world's groups with two synthetic ENIs: "eni-local"
// in groups (the context), and, when peerGroups is not empty, "eni-peer"
// holding peer and in peerGroups. policy.EvaluateENI at eni-local then
// decides the abstract packet (peer, local, membership) exactly.
func probeWorld(w *World, groups []string, peer netip.Addr, peerGroups []string) policy.World {
	enis := []model.ENI{{ID: "eni-local", VpcID: "vpc-1", SecurityGroupIDs: groups}}
	if len(peerGroups) > 0 {
		e := model.ENI{ID: "eni-peer", VpcID: "vpc-1", SecurityGroupIDs: peerGroups}
		if peer.Is4() {
			e.PrimaryIP = peer
		} else {
			e.IPv6s = []netip.Addr{peer}
		}
		enis = append(enis, e)
	}
	return policy.NewSnapshot(w.Groups, enis)
}

func probePacket(dir string, fam int, proto uint8, sport, dport uint16, peer, local netip.Addr) policy.Packet {
	p := policy.Packet{Proto: proto, SrcPort: sport, DstPort: dport, Src: peer, Dst: local}
	if dir == model.Egress {
		p.Src, p.Dst = local, peer
	}
	return p
}

func randIn(rng *rand.Rand, iv ival) u128 {
	switch rng.IntN(4) {
	case 0:
		return iv.Lo
	case 1:
		return iv.Hi
	}
	if iv.Lo.Hi == iv.Hi.Hi {
		w := iv.Hi.Lo - iv.Lo.Lo
		if w == ^uint64(0) {
			return u128{Hi: iv.Lo.Hi, Lo: rng.Uint64()}
		}
		return u128{Hi: iv.Lo.Hi, Lo: iv.Lo.Lo + rng.Uint64N(w+1)}
	}
	return u128{Hi: iv.Lo.Hi + rng.Uint64N(iv.Hi.Hi-iv.Lo.Hi), Lo: rng.Uint64()}
}

// contextsOf returns the group lists of the ENIs that have g, or g alone.
func contextsOf(w *World, g string) [][]string {
	var out [][]string
	for _, e := range w.ENIs {
		ids := uniq(e.SecurityGroupIDs)
		if slices.Contains(ids, g) && !slices.ContainsFunc(ids, func(id string) bool {
			return !slices.ContainsFunc(w.Groups, func(x model.SecurityGroup) bool { return x.ID == id })
		}) {
			out = append(out, ids)
		}
	}
	if len(out) == 0 {
		out = [][]string{{g}}
	}
	return out
}

// TestShadowingExact: on random worlds, (1) a rule reported shadowed
// decides no packet of its cover, for any peer membership, in any context
// of its group (checked with policy's evaluator at edge and random points
// of the cover); (2) every rule not reported has a witness, found by
// interval arithmetic, that policy's evaluator attributes to that rule.
func TestShadowingExact(t *testing.T) {
	worlds := 600
	if testing.Short() {
		worlds = 100
	}
	var nShadowed, nLive int
	for wi := range worlds {
		rng := rand.New(rand.NewPCG(uint64(wi), 3))
		w := genWorld(rng, false)
		a := New(w)
		res := a.shadowAll(a.groups, a.allContexts())
		var allGroups []string
		for _, g := range w.Groups {
			allGroups = append(allGroups, g.ID)
		}
		for _, g := range a.groups {
			for _, rs := range [][]srule{g.ingress, g.egress} {
				for i := range rs {
					r := &rs[i]
					if r.inert {
						continue
					}
					sr, ok := res[r]
					if !ok {
						t.Fatalf("world %d: rule %s not analysed", wi, r.rule.ID)
					}
					dir := r.rule.Direction
					decidedBy := func(ctx []string, fam int, proto uint8, sport, dport uint16, peer, local netip.Addr, m []string) bool {
						pw := probeWorld(w, ctx, peer, m)
						d := policy.EvaluateENI(pw, "eni-local", policy.Direction(dir), probePacket(dir, fam, proto, sport, dport, peer, local))
						return d.Reason.Kind == policy.ReasonRule && d.Reason.RuleID == r.rule.ID && d.Reason.GroupID == r.groupID
					}
					if sr.shadowed {
						nShadowed++
						for _, ctx := range contextsOf(w, g.g.ID) {
							for _, fam := range families(r) {
								b, _ := cover(r, fam, nil)
								for range 60 {
									var m []string
									for _, gid := range allGroups {
										if rng.IntN(3) == 0 {
											m = append(m, gid)
										}
									}
									if r.peerGroup != "" && !slices.Contains(m, r.peerGroup) {
										m = append(m, r.peerGroup)
									}
									if r.peerGroup == "" && rng.IntN(2) == 0 {
										m = nil
									}
									proto := uint8(randIn(rng, b.d[dimProto]).Lo)
									sport, dport := uint16(randIn(rng, b.d[dimSport]).Lo), uint16(randIn(rng, b.d[dimDport]).Lo)
									peer, local := ipspace.ToAddr(randIn(rng, b.d[dimPeer]), fam), ipspace.ToAddr(randIn(rng, b.d[dimLocal]), fam)
									if decidedBy(ctx, fam, proto, sport, dport, peer, local, m) {
										t.Fatalf("world %d: rule %s of %s reported shadowed (by %s) but decides %s %d %d->%d peer %s local %s members %v in context %v",
											wi, r.rule.ID, r.groupID, ruleNames(sr.by), dir, proto, sport, dport, peer, local, m, ctx)
									}
								}
							}
						}
						continue
					}
					nLive++
					wt := sr.witness
					if wt == nil {
						t.Fatalf("world %d: rule %s not shadowed but no witness", wi, r.rule.ID)
					}
					ctx := []string{g.g.ID}
					if sr.context != nil {
						ctx = uniq(splitKey(sr.context.key))
					}
					if !decidedBy(ctx, wt.Family, wt.Proto, wt.SrcPort, wt.DstPort, wt.Peer, wt.Local, wt.PeerGroups) {
						t.Fatalf("world %d: witness %+v of rule %s (%s) in context %v is not decided by it", wi, *wt, r.rule.ID, ruleSummary(r.rule), ctx)
					}
				}
			}
		}
	}
	t.Logf("%d shadowed rules never decide; %d other rules each decide their witness", nShadowed, nLive)
	if nShadowed < 50 || nLive < 50 {
		t.Errorf("too few cases: %d shadowed, %d live", nShadowed, nLive)
	}
}

func splitKey(k string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(k); i++ {
		if i == len(k) || k[i] == ',' {
			if i > start {
				out = append(out, k[start:i])
			}
			start = i + 1
		}
	}
	return out
}

// TestSubtractExact checks box subtraction against brute force on a small
// two-dimensional space with membership literals.
func TestSubtractExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	rb := func() box {
		var b box
		for d := range nDims {
			lo, hi := rng.Uint64N(8), rng.Uint64N(8)
			if lo > hi {
				lo, hi = hi, lo
			}
			if d > dimDport {
				lo, hi = 0, 0
			}
			b.d[d] = ival{Lo: ipspace.U64(lo), Hi: ipspace.U64(hi)}
		}
		if rng.IntN(3) == 0 {
			b.pos = []int32{int32(rng.IntN(3))}
		}
		return b
	}
	in := func(b *box, x [3]uint64, m int) bool {
		for d := range 3 {
			if x[d] < b.d[d].Lo.Lo || x[d] > b.d[d].Hi.Lo {
				return false
			}
		}
		for _, g := range b.pos {
			if m&(1<<g) == 0 {
				return false
			}
		}
		for _, g := range b.neg {
			if m&(1<<g) != 0 {
				return false
			}
		}
		return true
	}
	for range 3000 {
		a := rb()
		a.neg = nil
		if rng.IntN(3) == 0 {
			a.neg = []int32{int32(rng.IntN(3))}
			if slices.Contains(a.pos, a.neg[0]) {
				a.neg = nil
			}
		}
		var bs []box
		for range 1 + rng.IntN(4) {
			bs = append(bs, rb())
		}
		rest := remainder(a, bs, nil, nil)
		for x0 := range uint64(8) {
			for x1 := range uint64(8) {
				for x2 := range uint64(8) {
					for m := range 8 {
						x := [3]uint64{x0, x1, x2}
						want := in(&a, x, m) && !slices.ContainsFunc(bs, func(b box) bool { return in(&b, x, m) })
						n := 0
						for k := range rest {
							if in(&rest[k], x, m) {
								n++
							}
						}
						if (n == 1) != want || n > 1 {
							t.Fatalf("point %v m=%b: in %d pieces, want in=%v (a=%+v bs=%+v rest=%+v)", x, m, n, want, a, bs, rest)
						}
					}
				}
			}
		}
	}
}

// TestACLShadowingExact: an ACL entry reported shadowed decides no packet
// of its cover (edge and random points), and every other entry decides
// the first point of what earlier entries leave of its cover.
func TestACLShadowingExact(t *testing.T) {
	var nSh, nLive int
	for wi := range 400 {
		rng := rand.New(rand.NewPCG(uint64(wi), 5))
		w := genWorld(rng, true)
		a := New(w)
		vsw := &model.VSwitch{ID: "vsw-x", VpcID: "vpc-1", CidrBlock: netip.MustParsePrefix("10.9.0.0/24")}
		local4 := netip.MustParseAddr("10.9.0.1")
		local6 := netip.MustParseAddr("fd09::1")
		for _, ai := range a.aclList {
			vsw.NetworkAclID = ai.acl.ID
			for _, dir := range []string{model.Ingress, model.Egress} {
				list := ai.list(dir)
				sh, _ := aclShadow(list)
				decides := func(k int, proto uint8, dport uint16, peer netip.Addr) bool {
					local := local4
					if peer.Is6() {
						local = local6
					}
					pkt := Packet{Proto: proto, SrcPort: 40000, DstPort: dport, Src: peer, Dst: local}
					if dir == model.Egress {
						pkt.Src, pkt.Dst = local, peer
					}
					if aclExempt(peer, pkt) != "" {
						return true // exempt points prove nothing either way
					}
					d := a.evalACL(vsw, "", dir, pkt)
					return d.by == ByACLEntry && d.entry == &list[k]
				}
				for k := range list {
					r := &list[k]
					if r.inert {
						continue
					}
					b := aclCover(r)
					if sh[k] {
						nSh++
						for range 50 {
							peer := ipspace.ToAddr(randIn(rng, b.d[dimPeer]), r.family)
							if aclExempt(peer, Packet{}) != "" {
								continue
							}
							if decides(k, uint8(randIn(rng, b.d[dimProto]).Lo), uint16(randIn(rng, b.d[dimDport]).Lo), peer) {
								t.Fatalf("world %d: ACL entry %s reported shadowed decides a packet", wi, r.e.ID)
							}
						}
						continue
					}
					nLive++
					var preds []box
					for j := 0; j < k; j++ {
						if !list[j].inert && list[j].family == r.family {
							preds = append(preds, aclCover(&list[j]))
						}
					}
					rest := remainder(b, preds, nil, nil)
					p := rest[0]
					if !decides(k, uint8(p.d[dimProto].Lo.Lo), uint16(p.d[dimDport].Lo.Lo), ipspace.ToAddr(p.d[dimPeer].Lo, r.family)) {
						t.Fatalf("world %d: ACL entry %s not shadowed but its witness is not decided by it", wi, r.e.ID)
					}
				}
			}
		}
	}
	t.Logf("%d shadowed ACL entries, %d live", nSh, nLive)
}
