package agent

import (
	"context"
	"time"

	"github.com/palisade-project/palisade/internal/dataplane"
	"github.com/palisade-project/palisade/internal/model"
)

// FirewallCounters is implemented by a Topology that counts the hits of
// the Cloud Firewall's rules (linux.Applier): per chain of a VPC's
// namespace (dataplane.FirewallChainIn and FirewallChainOut for the
// Internet firewall, dataplane.NATFirewallChain for each gateway's NAT
// firewall, dataplane.PeerFirewallChain for the VPC firewall of each
// peering), the packets each rule matched, in rule order.
type FirewallCounters interface {
	FirewallCounters(vpcID string) (map[string][]uint64, error)
}

// FirewallHitSink adds hits to the policies' totals
// (service.ReportFirewallHits, remote.Mirror.ReportFirewallHits).
type FirewallHitSink interface {
	ReportFirewallHits(ctx context.Context, hits []model.FirewallHits) error
}

// FirewallLogSink stores the traffic logs of the Cloud Firewall's drop and
// log policies (service.IngestFirewallLogs through the local reporter,
// remote.Mirror.ReportFirewallLogs).
type FirewallLogSink interface {
	ReportFirewallLogs(ctx context.Context, recs []model.FirewallTrafficLog) error
}

// fwHitsPeriod is how often the firewall's counters are read.
const fwHitsPeriod = 5 * time.Second

// fwRuleKey is one rule as loaded: its VPC, chain, place and policy.
type fwRuleKey struct {
	vpc, chain, policy string
	index              int
}

// setFirewallRules records the policies of each VPC's firewall rules
// (Internet and NAT firewalls) as this reconciliation loads them, per
// chain.
func (a *Agent) setFirewallRules(vpcs []dataplane.VPC) {
	if a.cfg.FirewallHits == nil {
		return
	}
	rules := map[string]map[string][]string{}
	ids := func(rs []dataplane.FirewallRule) []string {
		out := make([]string, 0, len(rs))
		for _, r := range rs {
			out = append(out, r.ID)
		}
		return out
	}
	for _, v := range vpcs {
		chains := map[string][]string{}
		if v.Firewall != nil {
			chains[dataplane.FirewallChainIn] = ids(v.Firewall.In)
			chains[dataplane.FirewallChainOut] = ids(v.Firewall.Out)
		}
		for _, g := range v.NATGateways {
			if len(g.Firewall) > 0 {
				chains[dataplane.NATFirewallChain(g.ID)] = ids(g.Firewall)
			}
		}
		// Both ends of a peering judge what enters their VPC: each
		// connection is counted once, by one of them.
		for _, p := range v.Peerings {
			if p.Firewall != nil && len(p.Firewall.Rules) > 0 {
				chains[dataplane.PeerFirewallChain(p.ID)] = ids(p.Firewall.Rules)
			}
		}
		if len(chains) > 0 {
			rules[v.ID] = chains
		}
	}
	a.ddosMu.Lock()
	a.fwRules = rules
	a.ddosMu.Unlock()
}

// sampleHitsAroundApply reads the firewall rules' counters just before
// and just after the topology is applied, once a baseline exists and some
// firewall has rules: the application may rebuild a table (a policy
// added, an EIP or a forward entry changed), and the hits its rules
// counted since the sampler's last reading would otherwise be lost with
// it; the reading after is the new table's baseline, so that its first
// hits are not taken for a restart's.
func (a *Agent) sampleHitsAroundApply(ctx context.Context) {
	counters, ok := a.cfg.Topology.(FirewallCounters)
	if !ok || a.cfg.FirewallHits == nil {
		return
	}
	a.ddosMu.Lock()
	ready := a.fwSampled && len(a.fwRules) > 0
	a.ddosMu.Unlock()
	if ready {
		a.sampleFirewallHits(ctx, counters)
	}
}

// sampleFirewallHits reads the rules' counters and reports what each
// policy gained since the last reading. The table is rebuilt whenever its
// content changes, and its counters start again from 0: a rule first seen
// after this agent's first reading is new (all its hits count), a count
// that went down restarted. At the first reading the counts may be an
// earlier agent's, already reported: they are only the baseline.
func (a *Agent) sampleFirewallHits(ctx context.Context, counters FirewallCounters) {
	a.fwMu.Lock()
	defer a.fwMu.Unlock()
	a.ddosMu.Lock()
	rules := a.fwRules
	a.ddosMu.Unlock()
	now := time.Now()
	seen := map[fwRuleKey]uint64{}
	gained := map[string]int64{}
	for vpc, chains := range rules {
		counts, err := counters.FirewallCounters(vpc)
		if err != nil {
			a.log.Warn("cloud firewall counters", "vpc", vpc, "err", err)
			continue
		}
		for chain, ids := range chains {
			got := counts[chain]
			if len(got) != len(ids) {
				continue // not the rules this agent loaded (yet)
			}
			for i, c := range got {
				k := fwRuleKey{vpc: vpc, chain: chain, policy: ids[i], index: i}
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
		a.log.Warn("report cloud firewall hits", "err", err)
	}
}
