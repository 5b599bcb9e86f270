package analysis

import (
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/palisade-project/palisade/internal/ipspace"
	"github.com/palisade-project/palisade/internal/model"
)

// Shadowing of security group rules, exact over the abstract packet space
// of box.go. Within one context (the groups of an ENI), a rule decides no
// packet when its cover, minus the peers caught first by an inner-accept
// group of the context, is inside the union of the covers of the rules
// before it in pooled order. A rule is shadowed when that holds in every
// context it is evaluated in: the contexts of the ENIs that have its group,
// or the group alone when no ENI has it. Shadowed in the group alone
// implies shadowed in every context (more groups only add earlier rules and
// inner-accept groups), which keeps the search short.

// cover is the box of r in family fam (ok false when r is of the other
// family), with the context's inner-accept groups as negative literals.
func cover(r *srule, fam int, inner []int32) (box, bool) {
	var b box
	if r.family != famAny && r.family != fam {
		return b, false
	}
	b.d[dimProto] = r.proto.ival()
	b.d[dimSport], b.d[dimDport] = anyPort.ival(), anyPort.ival()
	if r.ports {
		b.d[dimSport], b.d[dimDport] = r.sport.ival(), r.dport.ival()
	}
	if r.peerGroup != "" {
		b.d[dimPeer] = famSpace(fam)
		b.pos = []int32{r.peerIdx}
	} else {
		b.d[dimPeer] = ipspace.PrefixInterval(r.peer)
	}
	b.d[dimLocal] = famSpace(fam)
	if r.local.IsValid() {
		b.d[dimLocal] = ipspace.PrefixInterval(r.local)
	}
	b.neg = inner
	return b, true
}

// families lists the families a rule covers.
func families(r *srule) []int {
	if r.family == famAny {
		return []int{fam4, fam6}
	}
	return []int{r.family}
}

// Witness is a packet a rule decides, in the abstract space: the peer's
// ENI is a member of exactly PeerGroups (none: no ENI holds the peer).
type Witness struct {
	Family     int
	Proto      uint8
	SrcPort    uint16
	DstPort    uint16
	Peer       netip.Addr
	Local      netip.Addr
	PeerGroups []string
}

// shadowResult is the analysis of one rule.
type shadowResult struct {
	shadowed bool
	by       []*srule // earlier rules that cover part of it (shadowed rules)
	witness  *Witness // a packet it decides (other rules)
	context  *context // where the witness lives (nil: the group alone)
}

func famIndex(fam int) int {
	if fam == fam6 {
		return 1
	}
	return 0
}

// analyzeIn decides whether rule at position k of list is shadowed in
// family fam, given the covers of the list.
func (a *Analyzer) analyzeIn(list pooled, k int, fam int, inner []int32) (bool, []*srule, *Witness) {
	r := list[k]
	b, ok := cover(r, fam, inner)
	if !ok {
		return true, nil, nil
	}
	if hasAny(b.pos, b.neg) {
		// Every peer it names is caught by intra-group first.
		return true, nil, nil
	}
	fi := famIndex(fam)
	covered, p := coveredBy(b, list, k, fi, nil)
	if covered {
		// Shadowed (the minority): run again to name the rules.
		var hits []*srule
		coveredBy(b, list, k, fi, func(j int) { hits = append(hits, list[j]) })
		return true, hits, nil
	}
	w := &Witness{Family: fam, Proto: uint8(p.d[dimProto].Lo.Lo), SrcPort: uint16(p.d[dimSport].Lo.Lo), DstPort: uint16(p.d[dimDport].Lo.Lo),
		Peer: ipspace.ToAddr(p.d[dimPeer].Lo, fam), Local: ipspace.ToAddr(p.d[dimLocal].Lo, fam)}
	for _, g := range p.pos {
		w.PeerGroups = append(w.PeerGroups, a.groups[g].g.ID)
	}
	return false, nil, w
}

// analyzeRuleIn analyzes r (at position k of list) over its families: it
// is shadowed when shadowed in each.
func (a *Analyzer) analyzeRuleIn(list pooled, k int, inner []int32) shadowResult {
	res := shadowResult{shadowed: true}
	for _, fam := range families(list[k]) {
		sh, by, w := a.analyzeIn(list, k, fam, inner)
		if !sh {
			return shadowResult{witness: w}
		}
		res.by = append(res.by, by...)
	}
	return res
}

// shadowAll analyzes every non-inert rule of the groups in scope, in
// parallel. It returns the result per rule; the rules named as shadowing
// come from the first context in key order, so outputs are stable.
func (a *Analyzer) shadowAll(groups []*groupInfo, contexts []*context) map[*srule]shadowResult {
	workers := runtime.GOMAXPROCS(0)
	var mu sync.Mutex
	out := map[*srule]shadowResult{}
	pending := map[*srule]*atomic.Bool{} // rules to decide in the real contexts; true once resolved

	// Phase 1: each group alone.
	gch := make(chan *groupInfo, len(groups))
	for _, g := range groups {
		gch <- g
	}
	close(gch)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			local := map[*srule]shadowResult{}
			var pend []*srule
			for g := range gch {
				c := a.buildContext([]string{g.g.ID})
				for _, dir := range []string{model.Ingress, model.Egress} {
					list := c.list(dir)
					for k, r := range list {
						res := a.analyzeRuleIn(list, k, c.inner)
						if !res.shadowed && len(g.members) > 0 {
							pend = append(pend, r)
						}
						local[r] = res
					}
				}
			}
			mu.Lock()
			for r, res := range local {
				out[r] = res
			}
			for _, r := range pend {
				pending[r] = new(atomic.Bool)
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	if len(pending) == 0 {
		return out
	}

	// Phase 2: rules not shadowed alone, of groups some ENI has, are
	// shadowed only if shadowed in every context of their group.
	type first struct {
		ctx int
		res shadowResult
	}
	shadowedIn := map[*srule]first{}
	cch := make(chan int, len(contexts))
	for i := range contexts {
		cch <- i
	}
	close(cch)
	for range workers {
		wg.Go(func() {
			for ci := range cch {
				c := contexts[ci]
				if c.none || c.missing != "" {
					continue
				}
				for _, dir := range []string{model.Ingress, model.Egress} {
					list := c.list(dir)
					for k, r := range list {
						done, ok := pending[r]
						if !ok || done.Load() {
							continue
						}
						res := a.analyzeRuleIn(list, k, c.inner)
						mu.Lock()
						if !res.shadowed {
							if done.CompareAndSwap(false, true) {
								res.context = c
								out[r] = res
							}
						} else if f, seen := shadowedIn[r]; !seen || ci < f.ctx {
							shadowedIn[r] = first{ci, res}
						}
						mu.Unlock()
					}
				}
			}
		})
	}
	wg.Wait()
	for r, done := range pending {
		if f, ok := shadowedIn[r]; ok && !done.Load() {
			out[r] = f.res
		}
	}
	return out
}

// sameMatch reports whether two rules match the same packets with the same
// action at the same priority (exact duplicates).
func sameMatch(x, y *srule) bool {
	return x.family == y.family && x.proto == y.proto && x.ports == y.ports && x.dport == y.dport && x.sport == y.sport &&
		x.peer == y.peer && x.peerGroup == y.peerGroup && x.local == y.local && x.drop == y.drop && x.priority == y.priority
}

// ACL entries: the same analysis without membership literals.

func aclCover(r *aclRule) box {
	var b box
	b.d[dimProto] = r.proto.ival()
	b.d[dimSport], b.d[dimDport] = anyPort.ival(), anyPort.ival()
	if r.ports {
		b.d[dimDport] = r.dport.ival()
	}
	b.d[dimPeer] = ipspace.PrefixInterval(r.cidr)
	b.d[dimLocal] = ival{}
	return b
}

// aclShadow returns, for each entry of list, the earlier entries that
// cover part of it when it is shadowed (nil slice and false otherwise).
func aclShadow(list []aclRule) (shadowed []bool, by [][]*aclRule) {
	shadowed = make([]bool, len(list))
	by = make([][]*aclRule, len(list))
	for k := range list {
		r := &list[k]
		if r.inert {
			continue
		}
		var preds []box
		var idx []int
		for j := 0; j < k; j++ {
			if !list[j].inert && list[j].family == r.family {
				preds = append(preds, aclCover(&list[j]))
				idx = append(idx, j)
			}
		}
		var hits []*aclRule
		rest := remainder(aclCover(r), preds, nil, func(j int) { hits = append(hits, &list[idx[j]]) })
		if len(rest) == 0 {
			shadowed[k], by[k] = true, slices.Clip(hits)
		}
	}
	return shadowed, by
}
