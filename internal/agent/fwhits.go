package agent

import (
	"context"
	"time"

	"github.com/palisade-project/palisade/internal/dataplane"
	"github.com/palisade-project/palisade/internal/model"
)

// FirewallCounters is implemented by a Topology that counts the hits of
// the Internet firewall's rules (linux.Applier): the packets each in and
// out rule matched, in rule order.
type FirewallCounters interface {
	FirewallCounters(vpcID string) (in, out []uint64, err error)
}

// FirewallHitSink adds hits to the policies' totals
// (service.ReportFirewallHits, remote.Mirror.ReportFirewallHits).
type FirewallHitSink interface {
	ReportFirewallHits(ctx context.Context, hits []model.FirewallHits) error
}

// fwHitsPeriod is how often the firewall's counters are read.
const fwHitsPeriod = 5 * time.Second

// fwRuleKey is one rule as loaded: its VPC, direction, place and policy.
type fwRuleKey struct {
	vpc, policy string
	dir, index  int
}

// setFirewallRules records the policies of each VPC's firewall rules as
// this reconciliation loads them.
func (a *Agent) setFirewallRules(vpcs []dataplane.VPC) {
	if a.cfg.FirewallHits == nil {
		return
	}
	rules := map[string][2][]string{}
	for _, v := range vpcs {
		if v.Firewall == nil {
			continue
		}
		var ids [2][]string
		for dir, rs := range [2][]dataplane.FirewallRule{v.Firewall.In, v.Firewall.Out} {
			for _, r := range rs {
				ids[dir] = append(ids[dir], r.ID)
			}
		}
		rules[v.ID] = ids
	}
	a.ddosMu.Lock()
	a.fwRules = rules
	a.ddosMu.Unlock()
}

// sampleFirewallHits reads the rules' counters and reports what each
// policy gained since the last reading. The table is rebuilt whenever its
// content changes, and its counters start again from 0: a rule first seen
// after this agent's first reading is new (all its hits count), a count
// that went down restarted. At the first reading the counts may be an
// earlier agent's, already reported: they are only the baseline.
func (a *Agent) sampleFirewallHits(ctx context.Context, counters FirewallCounters) {
	a.ddosMu.Lock()
	rules := a.fwRules
	a.ddosMu.Unlock()
	now := time.Now()
	seen := map[fwRuleKey]uint64{}
	gained := map[string]int64{}
	for vpc, ids := range rules {
		in, out, err := counters.FirewallCounters(vpc)
		if err != nil {
			a.log.Warn("internet firewall counters", "vpc", vpc, "err", err)
			continue
		}
		for dir, counts := range [2][]uint64{in, out} {
			if len(counts) != len(ids[dir]) {
				continue // not the rules this agent loaded (yet)
			}
			for i, c := range counts {
				k := fwRuleKey{vpc: vpc, policy: ids[dir][i], dir: dir, index: i}
				seen[k] = c
				prev, ok := a.fwCounts[k]
				switch {
				case !ok && !a.fwSampled:
				case c >= prev:
					gained[k.policy] += int64(c - prev)
				default:
					gained[k.policy] += int64(c)
				}
			}
		}
	}
	a.ddosMu.Lock()
	a.fwCounts, a.fwSampled = seen, true
	a.ddosMu.Unlock()
	if len(gained) == 0 {
		return
	}
	hits := make([]model.FirewallHits, 0, len(gained))
	for id, n := range gained {
		if n > 0 {
			hits = append(hits, model.FirewallHits{PolicyID: id, Hits: n, LastHit: now})
		}
	}
	if len(hits) == 0 {
		return
	}
	if err := a.cfg.FirewallHits.ReportFirewallHits(ctx, hits); err != nil {
		a.log.Warn("report internet firewall hits", "err", err)
	}
}
