package analysis

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/policy"
)

func policyWorld(w *World) policy.World {
	return policy.NewWorld(w.Groups, w.ENIs, w.VSwitches, w.ACLs)
}

func polPacket(p Packet) policy.Packet {
	return policy.Packet{Src: p.Src, Dst: p.Dst, Proto: p.Proto, SrcPort: p.SrcPort, DstPort: p.DstPort}
}

// sameSG compares an analyzer security-group decision with policy's.
func sameSG(d sgDecision, p policy.Decision) string {
	if d.allow != p.Allow {
		return fmt.Sprintf("allow %v vs policy %v", d.allow, p)
	}
	want := map[policy.ReasonKind]string{
		policy.ReasonRule: ByRule, policy.ReasonIntraGroup: ByIntraGroup, policy.ReasonDefault: ByDefault,
		policy.ReasonNoGroups: ByNoGroups, policy.ReasonUnknownGroup: ByUnknownGroup, policy.ReasonInvalidPacket: ByInvalid,
	}[p.Reason.Kind]
	if d.by != want {
		return fmt.Sprintf("decided by %s vs policy %v", d.by, p)
	}
	if d.by == ByRule && (d.rule.rule.ID != p.Reason.RuleID || d.rule.groupID != p.Reason.GroupID) {
		return fmt.Sprintf("rule %s/%s vs policy %v", d.rule.groupID, d.rule.rule.ID, p)
	}
	if (d.by == ByIntraGroup || d.by == ByUnknownGroup) && d.group != p.Reason.GroupID {
		return fmt.Sprintf("group %s vs policy %v", d.group, p)
	}
	return ""
}

func sameACL(d aclDecision, p policy.Decision) string {
	if d.allow != p.Allow {
		return fmt.Sprintf("allow %v (%s) vs policy %v", d.allow, d.by, p)
	}
	want := map[policy.ReasonKind]string{
		policy.ReasonNoACL: ByNoACL, policy.ReasonACLSameVSwitch: ByExempt, policy.ReasonACLExempt: ByExempt,
		policy.ReasonACLEntry: ByACLEntry, policy.ReasonACLDefault: ByACLDefault, policy.ReasonUnknownACL: ByUnknownACL,
		policy.ReasonInvalidPacket: ByInvalid,
	}[p.Reason.Kind]
	if d.by != want {
		return fmt.Sprintf("decided by %s vs policy %v", d.by, p)
	}
	if d.by == ByACLEntry && d.entry.e.ID != p.Reason.RuleID {
		return fmt.Sprintf("entry %s vs policy %v", d.entry.e.ID, p)
	}
	return ""
}

// TestAnalyzerMatchesPolicy: on random worlds (security groups of both
// types, group references, inner-accept, ENIs without or with unknown
// groups, network ACLs), every decision point of the analyzer equals
// policy's evaluator (which the kernel differential test checks against
// the data plane), down to the rule that decided.
func TestAnalyzerMatchesPolicy(t *testing.T) {
	worlds, packets := 400, 300
	if testing.Short() {
		worlds = 60
	}
	checked := 0
	for wi := range worlds {
		rng := rand.New(rand.NewPCG(uint64(wi), 7))
		w := genWorld(rng, wi%2 == 1)
		if wi%13 == 0 {
			w.ENIs[0].SecurityGroupIDs = append(w.ENIs[0].SecurityGroupIDs, "sg-missing")
		}
		if wi%17 == 0 && len(w.VSwitches) > 0 {
			w.VSwitches[0].NetworkAclID = "nacl-missing"
		}
		a := New(w)
		pw := policyWorld(w)
		for range packets {
			from, to, pkt := genPacket(rng, w)
			pp := polPacket(pkt)
			fail := func(stage, msg string) {
				t.Fatalf("world %d, %s, from %d to %d, %s: %s", wi, pkt, from, to, stage, msg)
			}
			var fromID, toID string
			if from >= 0 {
				fromID = w.ENIs[from].ID
				if m := sameSG(a.evalSG(a.enis[from], model.Egress, pkt), policy.EvaluateENI(pw, fromID, policy.Egress, pp)); m != "" {
					fail("sg egress", m)
				}
			}
			if to >= 0 {
				toID = w.ENIs[to].ID
				if m := sameSG(a.evalSG(a.enis[to], model.Ingress, pkt), policy.EvaluateENI(pw, toID, policy.Ingress, pp)); m != "" {
					fail("sg ingress", m)
				}
			}
			pe, pi := policy.EvaluateACLs(pw, fromID, toID, pp)
			other := func(i int) string {
				if i < 0 {
					return ""
				}
				return w.ENIs[i].VSwitchID
			}
			if from >= 0 {
				if m := sameACL(a.evalACL(a.enis[from].vsw, other(to), model.Egress, pkt), pe); m != "" {
					fail("acl egress", m)
				}
			}
			if to >= 0 {
				if m := sameACL(a.evalACL(a.enis[to].vsw, other(from), model.Ingress, pkt), pi); m != "" {
					fail("acl ingress", m)
				}
			}
			checked++
		}
	}
	t.Logf("%d packets in %d worlds agree with policy", checked, worlds)
}

// cellOfPaths is the matrix cell of the paths of one pair of instances.
func cellOfPaths(paths []PathResult) byte {
	var tried, reached [2]bool
	oneWay := false
	for _, p := range paths {
		fam := 0
		if netip.MustParseAddr(p.To.Address).Is6() {
			fam = 1
		}
		tried[fam] = true
		reached[fam] = reached[fam] || p.Reachable
		oneWay = oneWay || p.Forward && !p.Reachable
	}
	switch {
	case reached == tried:
		return CellReachable
	case reached[0]:
		return CellReachable4
	case reached[1]:
		return CellReachable6
	case oneWay:
		return CellOneWay
	}
	return CellBlocked
}

// TestMatrixMatchesReach: every cell of the matrix is the verdict of a
// reach query on the same pair (a third of the worlds over two zones'
// hosts, joined or not).
func TestMatrixMatchesReach(t *testing.T) {
	for wi := range 60 {
		rng := rand.New(rand.NewPCG(uint64(wi), 11))
		w := genWorld(rng, wi%2 == 0)
		if wi%5 == 0 {
			w.Instances[0].Status = model.InstanceStopped
		}
		if wi%3 == 1 {
			// Over two zones' hosts, joined or not.
			zoneWorld(rand.New(rand.NewPCG(uint64(wi), 23)), w)
		}
		a := New(w)
		ports := []PortSpec{{ProtoTCP, 22}, {ProtoUDP, 53}, {ProtoICMP, 0}, {ProtoTCP, 5432}}
		m, err := a.Matrix(MatrixQuery{VpcID: "vpc-1", Ports: ports})
		if err != nil {
			t.Fatal(err)
		}
		for i, row := range m.Rows {
			for pi, p := range ports {
				for j, c := range []byte(row.Cells[pi]) {
					if i == j {
						continue
					}
					q := ReachQuery{From: row.Instance, To: m.Instances[j].Instance, Protocol: ProtoName(p.Proto), Port: int(p.Port)}
					r, err := a.Reach(q)
					if err != nil {
						t.Fatal(err)
					}
					want := cellOfPaths(r.Paths)
					if c != want {
						t.Fatalf("world %d %v: matrix %c, reach %+v", wi, q, c, r)
					}
				}
			}
		}
	}
}
