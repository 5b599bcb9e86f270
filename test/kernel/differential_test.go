package kernel_test

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/policy"
	"github.com/palisade-project/palisade/internal/store"
)

// The port pools where every instance of the differential test listens.
var (
	diffTCP = []int{22, 80, 443, 3306, 8080, 9000}
	diffUDP = []int{53, 123, 5000, 5353}
)

const (
	diffRigs      = 2                      // independent topologies probed in parallel
	diffMaxGroups = 4                      // groups per rule set: g0..g3
	diffTimeout   = 300 * time.Millisecond // a probe unanswered by then was dropped
	diffSportBase = 20000                  // source ports: unique per probe in the run
	diffMaxFails  = 3                      // rule sets reported before giving up
)

// diffProbe is one packet of a rule set.
type diffProbe struct {
	from, to int // node indexes
	proto    uint8
	sport    uint16
	dport    uint16
}

func (p diffProbe) String() string {
	switch p.proto {
	case policy.IPProtoICMP:
		return "icmp echo"
	case policy.IPProtoTCP:
		return fmt.Sprintf("tcp %d -> %d", p.sport, p.dport)
	}
	return fmt.Sprintf("udp %d -> %d", p.sport, p.dport)
}

// diffSet is one generated rule set with its probes.
type diffSet struct {
	index  int
	groups []model.SecurityGroup
	member [][]string // node index -> group IDs
	probes []diffProbe
}

func envInt(t *testing.T, name string, def uint64) uint64 {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, s, err)
	}
	return v
}

// TestKernelMatchesEvaluator is a differential test of the whole security
// group path: random groups, rules and memberships on three ENIs of one
// VPC are written to the store and reconciled by the agent into the
// kernel, then real TCP, UDP and ICMP packets are sent between the
// instances, and whether each was delivered is compared with
// policy.Evaluate on the same records. The topology is built once per rig
// (two rigs run in parallel); each rule set only rewrites the group and
// ENI records and flushes conntrack.
//
// PALISADE_DIFF_SEED fixes the seed, PALISADE_DIFF_SETS the number of rule
// sets (default 200), PALISADE_DIFF_SET replays one set of the seed.
func TestKernelMatchesEvaluator(t *testing.T) {
	requireKernel(t)
	seed := envInt(t, "PALISADE_DIFF_SEED", uint64(time.Now().UnixNano()))
	sets := int(envInt(t, "PALISADE_DIFF_SETS", 200))
	var jobs []int
	if s := os.Getenv("PALISADE_DIFF_SET"); s != "" {
		jobs = []int{int(envInt(t, "PALISADE_DIFF_SET", 0))}
	} else {
		for i := range sets {
			jobs = append(jobs, i)
		}
	}
	t.Logf("seed %d, %d rule sets (replay with PALISADE_DIFF_SEED=%d; one set with PALISADE_DIFF_SET=<n>)", seed, len(jobs), seed)

	queue := make(chan int, len(jobs))
	for _, j := range jobs {
		queue <- j
	}
	close(queue)
	var fails, done, probes, allowed atomic.Int64
	start := time.Now()
	t.Run("rigs", func(t *testing.T) {
		for ri := range diffRigs {
			t.Run(fmt.Sprintf("rig%d", ri), func(t *testing.T) {
				t.Parallel()
				r := newDiffRig(t, string(rune('a'+ri)))
				for i := range queue {
					if fails.Load() >= diffMaxFails {
						continue
					}
					s := genDiffSet(r, seed, i)
					n, ok, bad := r.runDiffSet(seed, s)
					probes.Add(int64(n))
					allowed.Add(int64(ok))
					done.Add(1)
					if bad {
						fails.Add(1)
					}
				}
			})
		}
	})
	t.Logf("%d rule sets, %d probes (%d delivered) in %v; %d sets differed (seed %d)",
		done.Load(), probes.Load(), allowed.Load(), time.Since(start).Round(time.Millisecond), fails.Load(), seed)
	if fails.Load() >= diffMaxFails {
		t.Errorf("stopped after %d differing rule sets (seed %d)", fails.Load(), seed)
	}
}

// newDiffRig builds one VPC with three instances on two vSwitches, each
// serving the port pools, and reconciles it once.
func newDiffRig(t *testing.T, idp string) *rig {
	r := newRig(t, idp, time.Hour)
	v1, v2 := r.vswitch("1", "10.77.1.0/24"), r.vswitch("2", "10.77.2.0/24")
	g := r.groupID("g0")
	r.put(model.PrefixSecurityGroup+g, model.SecurityGroup{ID: g, VpcID: r.vpc, Type: model.GroupTypeBasic})
	r.instance("a", v1, "10.77.1.10", g)
	r.instance("b", v1, "10.77.1.11", g)
	r.instance("c", v2, "10.77.2.10", g)
	r.reconcile()
	for _, n := range r.nodes {
		r.serve(n, diffTCP, diffUDP)
	}
	return r
}

func pick[T any](rng *rand.Rand, xs ...T) T { return xs[rng.IntN(len(xs))] }

// genDiffSet draws rule set i of seed. It depends only on (seed, i) and the
// rig's shape, so a set replays alone.
func genDiffSet(r *rig, seed uint64, i int) diffSet {
	rng := rand.New(rand.NewPCG(seed, uint64(i)))
	s := diffSet{index: i}
	ng := 2 + rng.IntN(diffMaxGroups-1)
	var basic []string
	for g := range ng {
		typ := model.GroupTypeBasic
		if rng.IntN(4) == 0 {
			typ = model.GroupTypeAdvanced
		}
		sg := model.SecurityGroup{
			ID: r.groupID(fmt.Sprintf("g%d", g)), VpcID: r.vpc, Type: typ,
			InnerAccessPolicy: pick(rng, model.InnerAccept, model.InnerDrop, ""),
		}
		if typ == model.GroupTypeBasic {
			basic = append(basic, sg.ID)
		}
		s.groups = append(s.groups, sg)
	}
	sportLo := diffSportBase + (i*32)%40000
	for g := range s.groups {
		for j := range rng.IntN(7) {
			rule := genRule(rng, r, s.groups[g].Type == model.GroupTypeBasic, basic, sportLo)
			rule.ID = fmt.Sprintf("sgr-%d-g%d-%d", i, g, j)
			s.groups[g].Rules = append(s.groups[g].Rules, rule)
		}
	}
	// Memberships: one to three groups per ENI, all of one type.
	for range r.nodes {
		typ := s.groups[rng.IntN(len(s.groups))].Type
		var cand []string
		for _, g := range s.groups {
			if g.Type == typ {
				cand = append(cand, g.ID)
			}
		}
		rng.Shuffle(len(cand), func(a, b int) { cand[a], cand[b] = cand[b], cand[a] })
		s.member = append(s.member, cand[:1+rng.IntN(min(3, len(cand)))])
	}
	// Probes: every ordered pair, ICMP, two TCP and one UDP each, with
	// source ports unique in the run (no TIME_WAIT clash).
	k := 0
	for from := range r.nodes {
		for to := range r.nodes {
			if from == to {
				continue
			}
			add := func(proto uint8, dport int) {
				s.probes = append(s.probes, diffProbe{from: from, to: to, proto: proto, sport: uint16(sportLo + k), dport: uint16(dport)})
				k++
			}
			add(policy.IPProtoICMP, 0)
			add(policy.IPProtoTCP, pick(rng, diffTCP...))
			add(policy.IPProtoTCP, pick(rng, diffTCP...))
			add(policy.IPProtoUDP, pick(rng, diffUDP...))
		}
	}
	return s
}

func genRule(rng *rand.Rand, r *rig, basic bool, basicGroups []string, sportLo int) model.Rule {
	rule := model.Rule{Direction: model.Ingress, Policy: model.PolicyAccept, Ports: model.PortRange{From: -1, To: -1}}
	if rng.IntN(100) < 45 {
		rule.Direction = model.Egress
	}
	if rng.IntN(100) < 35 {
		rule.Policy = model.PolicyDrop
	}
	if rng.IntN(2) == 0 {
		rule.Priority = pick(rng, 1, 1, 2, 5, 100)
	} else {
		rule.Priority = 1 + rng.IntN(100)
	}
	switch n := rng.IntN(100); {
	case n < 35:
		rule.Protocol = model.ProtoTCP
	case n < 60:
		rule.Protocol = model.ProtoUDP
	case n < 80:
		rule.Protocol = model.ProtoICMP
	default:
		rule.Protocol = model.ProtoALL
	}
	if rule.Protocol == model.ProtoTCP || rule.Protocol == model.ProtoUDP {
		pool := diffTCP
		if rule.Protocol == model.ProtoUDP {
			pool = diffUDP
		}
		switch n := rng.IntN(100); {
		case n < 40: // one port of the pool
			p := pick(rng, pool...)
			rule.Ports = model.PortRange{From: p, To: p}
		case n < 70: // a range over part of the pool, edges off by a little
			a, b := pick(rng, pool...), pick(rng, pool...)
			a, b = min(a, b), max(a, b)
			rule.Ports = model.PortRange{From: max(1, a-rng.IntN(3)), To: b + rng.IntN(3)}
		case n < 85:
			rule.Ports = model.PortRange{From: 1, To: 65535}
		default: // just above a pool port
			p := pick(rng, pool...) + 1
			rule.Ports = model.PortRange{From: p, To: p + rng.IntN(50)}
		}
		if rng.IntN(100) < 15 {
			lo := sportLo + rng.IntN(24)
			rule.SourcePorts = model.PortRange{From: lo, To: lo + rng.IntN(12)}
		}
	}
	if basic && len(basicGroups) > 0 && rng.IntN(4) == 0 {
		rule.PeerGroupID = pick(rng, basicGroups...)
	} else {
		n := r.nodes[rng.IntN(len(r.nodes))]
		switch k := rng.IntN(100); {
		case k < 35:
			rule.PeerCidr = netip.PrefixFrom(n.addr, 32)
		case k < 50:
			rule.PeerCidr = r.vswCID[n.vsw]
		case k < 60:
			rule.PeerCidr = netip.MustParsePrefix("10.77.0.0/16")
		case k < 75:
			rule.PeerCidr = netip.MustParsePrefix("0.0.0.0/0")
		case k < 80:
			rule.PeerCidr = netip.MustParsePrefix("10.0.0.0/8")
		case k < 90:
			rule.PeerCidr = netip.PrefixFrom(n.addr, pick(rng, 30, 31)).Masked()
		default:
			rule.PeerCidr = netip.MustParsePrefix(pick(rng, "192.168.0.0/16", "10.78.0.0/16", "10.77.3.0/24"))
		}
	}
	if rng.IntN(10) == 0 {
		n := r.nodes[rng.IntN(len(r.nodes))]
		if rng.IntN(2) == 0 {
			rule.LocalCidr = netip.PrefixFrom(n.addr, 32)
		} else {
			rule.LocalCidr = r.vswCID[n.vsw]
		}
	}
	return rule
}

// runDiffSet installs s, fires its probes and compares. It returns the
// number of probes, how many were delivered, and whether any differed.
func (r *rig) runDiffSet(seed uint64, s diffSet) (int, int, bool) {
	t := r.t
	t.Helper()
	enis := make([]model.ENI, len(r.nodes))
	for i := range r.nodes {
		enis[i] = r.eniRecord(i, s.member[i])
	}
	r.update(func(tx store.Txn) error {
		for g := range diffMaxGroups {
			if err := tx.Delete(model.PrefixSecurityGroup + r.groupID(fmt.Sprintf("g%d", g))); err != nil {
				return err
			}
		}
		for _, g := range s.groups {
			if err := putJSON(tx, model.PrefixSecurityGroup+g.ID, g); err != nil {
				return err
			}
		}
		for _, e := range enis {
			if err := putJSON(tx, model.PrefixENI+e.ID, e); err != nil {
				return err
			}
		}
		return nil
	})
	r.reconcile()
	r.flushConntrack()
	world := policy.NewSnapshot(s.groups, enis)

	results := r.sendProbes(s.probes, diffTimeout)

	var diffs []string
	delivered := 0
	for i, p := range s.probes {
		from, to := r.nodes[p.from], r.nodes[p.to]
		pkt := policy.Packet{Src: from.addr, Dst: to.addr, Proto: p.proto}
		if p.proto == policy.IPProtoICMP {
			pkt.ICMPType = 8
		} else {
			pkt.SrcPort, pkt.DstPort = p.sport, p.dport
		}
		d := policy.Evaluate(world, from.eni, to.eni, pkt)
		res := r.confirmDrop(t, p, results[i], d.Allow)
		if res.ok {
			delivered++
		}
		if res.err != nil || res.ok != d.Allow {
			got := "dropped"
			if res.ok {
				got = "delivered"
			}
			if res.err != nil {
				got = "error: " + res.err.Error()
			}
			diffs = append(diffs, fmt.Sprintf("%s -> %s %v: kernel %s, evaluator %v (egress at %s: %v; ingress at %s: %v)",
				from.name, to.name, p, got, d.Allow, from.name, d.Egress, to.name, d.Ingress))
		}
	}
	if len(diffs) > 0 {
		listing, err := r.vpcExec("nft", "list", "table", "inet", policy.TableName)
		if err != nil {
			listing = err.Error()
		}
		t.Errorf("seed %d set %d: %d of %d probes differ (replay: PALISADE_DIFF_SEED=%d PALISADE_DIFF_SET=%d)\n%s\nprobes:\n  %s\nkernel table:\n%s",
			seed, s.index, len(diffs), len(s.probes), seed, s.index, r.describeSet(s), strings.Join(diffs, "\n  "), listing)
	}
	return len(s.probes), delivered, len(diffs) > 0
}

// describeSet prints the rule set for a failure report.
func (r *rig) describeSet(s diffSet) string {
	var b strings.Builder
	for i, n := range r.nodes {
		fmt.Fprintf(&b, "node %s %s (%s) groups %v\n", n.name, n.addr, n.eni, s.member[i])
	}
	for _, g := range s.groups {
		fmt.Fprintf(&b, "group %s type=%s inner=%q\n", g.ID, g.Type, g.InnerAccessPolicy)
		rules := slices.Clone(g.Rules)
		for _, ru := range rules {
			peer := ru.PeerCidr.String()
			if ru.PeerGroupID != "" {
				peer = "group " + ru.PeerGroupID
			}
			extra := ""
			if !ru.SourcePorts.IsZero() {
				extra += fmt.Sprintf(" sport=%d/%d", ru.SourcePorts.From, ru.SourcePorts.To)
			}
			if ru.LocalCidr.IsValid() {
				extra += " local=" + ru.LocalCidr.String()
			}
			fmt.Fprintf(&b, "  %s %-7s %-4s %d/%d peer=%s%s %s prio=%d\n",
				ru.ID, ru.Direction, ru.Protocol, ru.Ports.From, ru.Ports.To, peer, extra, ru.Policy, ru.Priority)
		}
	}
	return b.String()
}
