package kernel_test

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/analysis"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/policy"
	"github.com/palisade-project/palisade/internal/store"
)

// TestKernelMatchesAnalyzer is a differential test of the reachability
// analyzer against the kernel: each set combines random security groups
// and memberships (genDiffSet), random network ACLs and vSwitch
// associations (genACLDiffSet) and sometimes a stopped instance; it is
// written to the store and reconciled, then TCP, UDP and ICMP probes run
// between the three instances, and each delivery must equal the
// analyzer's answer (analysis.Reach: reachable = the request passes every
// decision point and the stateless ACLs pass the reply).
//
// PALISADE_ANALYSIS_SEED fixes the seed, PALISADE_ANALYSIS_SETS the number
// of sets (default 60).
func TestKernelMatchesAnalyzer(t *testing.T) {
	requireKernel(t)
	seed := envInt(t, "PALISADE_ANALYSIS_SEED", uint64(time.Now().UnixNano()))
	sets := int(envInt(t, "PALISADE_ANALYSIS_SETS", 60))
	t.Logf("seed %d, %d sets (replay with PALISADE_ANALYSIS_SEED=%d)", seed, sets, seed)
	r := newDiffRig(t, "z")
	var vsw [2]string
	for _, n := range r.nodes {
		if vsw[0] == "" || vsw[0] == n.vsw {
			vsw[0] = n.vsw
		} else {
			vsw[1] = n.vsw
		}
	}
	start := time.Now()
	fails, probes, delivered := 0, 0, 0
	verdicts := map[string]int{}
	for i := range sets {
		n, ok, bad := r.runAnalysisSet(seed, i, vsw, verdicts)
		probes += n
		delivered += ok
		if bad {
			if fails++; fails >= 3 {
				t.Fatalf("stopped after %d differing sets (seed %d)", fails, seed)
			}
		}
	}
	t.Logf("%d sets, %d probes (%d delivered) in %v; analyzer verdicts %v (seed %d)",
		sets, probes, delivered, time.Since(start).Round(time.Millisecond), verdicts, seed)
}

func (r *rig) runAnalysisSet(seed uint64, i int, vsw [2]string, verdicts map[string]int) (int, int, bool) {
	t := r.t
	t.Helper()
	s := genDiffSet(r, seed, i)
	as := genACLDiffSet(r, rand.New(rand.NewPCG(seed^0x5eed, uint64(i))), i)
	rng := rand.New(rand.NewPCG(seed, uint64(i)^0xa11))
	stopped := -1
	if rng.IntN(8) == 0 {
		stopped = rng.IntN(len(r.nodes))
	}
	w := &analysis.World{
		VPCs:   []model.VPC{{ID: r.vpc, CidrBlock: netip.MustParsePrefix("10.77.0.0/16")}},
		Groups: s.groups,
		ACLs:   as.acls,
	}
	for v := range 2 {
		w.VSwitches = append(w.VSwitches, model.VSwitch{ID: vsw[v], VpcID: r.vpc, ZoneID: rigZone, CidrBlock: r.vswCID[vsw[v]],
			Status: "Available", NetworkAclID: as.assoc[v]})
	}
	for k, n := range r.nodes {
		w.ENIs = append(w.ENIs, r.eniRecord(k, s.member[k]))
		st := model.InstanceRunning
		if k == stopped {
			st = model.InstanceStopped
		}
		w.Instances = append(w.Instances, model.Instance{ID: n.inst, ZoneID: rigZone, VpcID: r.vpc, VSwitchID: n.vsw, PrimaryENIID: n.eni, Status: st})
	}
	r.update(func(tx store.Txn) error {
		for g := range diffMaxGroups {
			if err := tx.Delete(model.PrefixSecurityGroup + r.groupID(fmt.Sprintf("g%d", g))); err != nil {
				return err
			}
		}
		for _, g := range w.Groups {
			if err := putJSON(tx, model.PrefixSecurityGroup+g.ID, g); err != nil {
				return err
			}
		}
		for _, a := range w.ACLs {
			if err := putJSON(tx, model.PrefixNetworkACL+a.ID, a); err != nil {
				return err
			}
		}
		for _, v := range w.VSwitches {
			if err := putJSON(tx, model.PrefixVSwitch+v.ID, v); err != nil {
				return err
			}
		}
		for k := range w.ENIs {
			if err := putJSON(tx, model.PrefixENI+w.ENIs[k].ID, w.ENIs[k]); err != nil {
				return err
			}
			if err := putJSON(tx, model.PrefixInstance+w.Instances[k].ID, w.Instances[k]); err != nil {
				return err
			}
		}
		return nil
	})
	r.reconcile()
	r.flushConntrack()
	a := analysis.New(w)

	results := r.sendProbes(s.probes, diffTimeout)

	var diffs []string
	delivered := 0
	for k, p := range s.probes {
		from, to := r.nodes[p.from], r.nodes[p.to]
		q := analysis.ReachQuery{From: from.eni, To: to.eni, Protocol: analysis.ProtoName(p.proto)}
		if p.proto != policy.IPProtoICMP {
			q.Port, q.SourcePort = int(p.dport), int(p.sport)
		}
		ans, err := a.Reach(q)
		if err != nil {
			t.Fatalf("reach %+v: %v", q, err)
		}
		path := ans.Paths[0]
		verdicts[ans.Verdict]++
		res := results[k]
		if res.ok {
			delivered++
		}
		if res.err != nil || res.ok != path.Reachable {
			got := "dropped"
			if res.ok {
				got = "delivered"
			}
			if res.err != nil {
				got = "error: " + res.err.Error()
			}
			var steps []string
			for _, st := range append(path.Steps, path.Reply...) {
				steps = append(steps, fmt.Sprintf("%s %v %s", st.Point, st.Allow, st.Detail))
			}
			diffs = append(diffs, fmt.Sprintf("%s -> %s %v: kernel %s, analyzer %s\n    %s", from.name, to.name, p, got, ans.Verdict, strings.Join(steps, "\n    ")))
		}
	}
	if len(diffs) > 0 {
		t.Errorf("seed %d set %d (stopped node %d, ACLs %v): %d of %d probes differ (replay: PALISADE_ANALYSIS_SEED=%d)\n%s\n  %s",
			seed, i, stopped, as.assoc, len(diffs), len(s.probes), seed, r.describeSet(s), strings.Join(diffs, "\n  "))
	}
	return len(s.probes), delivered, len(diffs) > 0
}
