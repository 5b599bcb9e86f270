package agent

import (
	"context"
	"testing"

	"github.com/palisade-project/palisade/internal/dataplane"
	"github.com/palisade-project/palisade/internal/model"
)

type fakeFwCounters map[string][2][]uint64

func (f fakeFwCounters) FirewallCounters(vpcID string) (map[string][]uint64, error) {
	c, ok := f[vpcID]
	if !ok {
		return nil, nil
	}
	return map[string][]uint64{dataplane.FirewallChainIn: c[0], dataplane.FirewallChainOut: c[1]}, nil
}

type hitLog struct{ got map[string]int64 }

func (h *hitLog) ReportFirewallHits(_ context.Context, hits []model.FirewallHits) error {
	for _, x := range hits {
		h.got[x.PolicyID] += x.Hits
	}
	return nil
}

// TestFirewallHits: the first reading is a baseline (an earlier agent
// reported those hits); afterwards gains are reported per policy, summed
// over VPCs; a rule that appears later counts from 0, a count that went
// down restarted; a chain whose rules are not the loaded ones is skipped.
func TestFirewallHits(t *testing.T) {
	sink := &hitLog{got: map[string]int64{}}
	a := New(Config{FirewallHits: sink})
	fw := func(in ...string) *dataplane.Firewall {
		f := &dataplane.Firewall{}
		for _, id := range in {
			f.In = append(f.In, dataplane.FirewallRule{ID: id})
		}
		return f
	}
	a.setFirewallRules([]dataplane.VPC{{ID: "v1", Firewall: fw("p1", "p2")}, {ID: "v2", Firewall: fw("p1")}})
	counts := fakeFwCounters{"v1": {{7, 3}}, "v2": {{5}}}
	step := func(want map[string]int64) {
		t.Helper()
		sink.got = map[string]int64{}
		a.sampleFirewallHits(context.Background(), counts)
		if len(sink.got) != len(want) {
			t.Fatalf("reported %v, want %v", sink.got, want)
		}
		for id, n := range want {
			if sink.got[id] != n {
				t.Fatalf("reported %v, want %v", sink.got, want)
			}
		}
	}
	step(map[string]int64{}) // baseline
	counts["v1"], counts["v2"] = [2][]uint64{{9, 3}}, [2][]uint64{{6}}
	step(map[string]int64{"p1": 3})
	// A new policy in v2: the table is rebuilt, its counters restart.
	a.setFirewallRules([]dataplane.VPC{{ID: "v1", Firewall: fw("p1", "p2")}, {ID: "v2", Firewall: fw("p3", "p1")}})
	counts["v2"] = [2][]uint64{{4, 1}}
	step(map[string]int64{"p3": 4, "p1": 1})
	// v1's table rebuilt with the same rules (a new EIP): counts went down.
	counts["v1"] = [2][]uint64{{2, 5}}
	step(map[string]int64{"p1": 2, "p2": 2})
	// Not the loaded rules (a load in progress): skipped.
	counts["v1"] = [2][]uint64{{100}}
	step(map[string]int64{})
}

type fakeChainCounters map[string]map[string][]uint64

func (f fakeChainCounters) FirewallCounters(vpcID string) (map[string][]uint64, error) {
	return f[vpcID], nil
}

// TestNATFirewallHits: the rules of each gateway's NAT firewall are
// counted in their own chain, beside the Internet firewall's, and a
// policy's hits are summed over its rules.
func TestNATFirewallHits(t *testing.T) {
	sink := &hitLog{got: map[string]int64{}}
	a := New(Config{FirewallHits: sink})
	gw := func(id string, pols ...string) dataplane.NATGateway {
		g := dataplane.NATGateway{ID: id}
		for _, p := range pols {
			g.Firewall = append(g.Firewall, dataplane.FirewallRule{ID: p})
		}
		return g
	}
	a.setFirewallRules([]dataplane.VPC{{ID: "v1",
		Firewall:    &dataplane.Firewall{Out: []dataplane.FirewallRule{{ID: "out1"}}},
		NATGateways: []dataplane.NATGateway{gw("ngw-a", "n1", "n2"), gw("ngw-b", "n3"), gw("ngw-c")}}})
	chainA, chainB := dataplane.NATFirewallChain("ngw-a"), dataplane.NATFirewallChain("ngw-b")
	counts := fakeChainCounters{"v1": {dataplane.FirewallChainOut: {1}, chainA: {2, 0}, chainB: {5}}}
	a.sampleFirewallHits(context.Background(), counts) // baseline
	if len(sink.got) != 0 {
		t.Fatalf("baseline reported %v", sink.got)
	}
	counts["v1"] = map[string][]uint64{dataplane.FirewallChainOut: {4}, chainA: {2, 7}, chainB: {6}}
	a.sampleFirewallHits(context.Background(), counts)
	want := map[string]int64{"out1": 3, "n2": 7, "n3": 1}
	if len(sink.got) != len(want) {
		t.Fatalf("reported %v, want %v", sink.got, want)
	}
	for id, n := range want {
		if sink.got[id] != n {
			t.Fatalf("reported %v, want %v", sink.got, want)
		}
	}
}

// TestVPCFirewallHits: the VPC firewall of a peering is counted in both
// ends' namespaces (each judges what enters its VPC), and a policy's hits
// are the sum of both; a peering without a firewall has no chain.
func TestVPCFirewallHits(t *testing.T) {
	sink := &hitLog{got: map[string]int64{}}
	a := New(Config{FirewallHits: sink})
	fw := &dataplane.PeerFirewall{ID: "vfw-a", Rules: []dataplane.FirewallRule{{ID: "v1"}, {ID: "v2"}}}
	a.setFirewallRules([]dataplane.VPC{
		{ID: "p", Peerings: []dataplane.Peering{{ID: "pcc-a", PeerVPC: "q", Firewall: fw}, {ID: "pcc-b", PeerVPC: "r"}}},
		{ID: "q", Peerings: []dataplane.Peering{{ID: "pcc-a", PeerVPC: "p", Firewall: fw}}},
	})
	chain := dataplane.PeerFirewallChain("pcc-a")
	counts := fakeChainCounters{"p": {chain: {1, 1}}, "q": {chain: {0, 4}}}
	a.sampleFirewallHits(context.Background(), counts) // baseline
	if len(sink.got) != 0 {
		t.Fatalf("baseline reported %v", sink.got)
	}
	counts = fakeChainCounters{"p": {chain: {3, 1}}, "q": {chain: {2, 9}}}
	a.sampleFirewallHits(context.Background(), counts)
	want := map[string]int64{"v1": 4, "v2": 5}
	if len(sink.got) != len(want) || sink.got["v1"] != want["v1"] || sink.got["v2"] != want["v2"] {
		t.Fatalf("reported %v, want %v", sink.got, want)
	}
	a.ddosMu.Lock()
	defer a.ddosMu.Unlock()
	if _, ok := a.fwRules["p"][dataplane.PeerFirewallChain("pcc-b")]; ok {
		t.Errorf("a peering without a firewall has rules to count: %v", a.fwRules["p"])
	}
}

// countingTopology is a Topology whose firewall counters are a
// fakeChainCounters.
type countingTopology struct{ fakeChainCounters }

func (countingTopology) Apply(context.Context, dataplane.Host) (dataplane.Status, error) {
	return dataplane.Status{}, nil
}

// TestHitsAroundApply: hits counted since the last reading are reported
// before a table is rebuilt (a policy inserted first shifts the others),
// and the new table's first hits count whole after it.
func TestHitsAroundApply(t *testing.T) {
	sink := &hitLog{got: map[string]int64{}}
	chain := dataplane.NATFirewallChain("ngw-a")
	counts := fakeChainCounters{"v1": {chain: {0}}}
	a := New(Config{FirewallHits: sink, Topology: countingTopology{counts}})
	vpc := func(pols ...string) []dataplane.VPC {
		g := dataplane.NATGateway{ID: "ngw-a"}
		for _, p := range pols {
			g.Firewall = append(g.Firewall, dataplane.FirewallRule{ID: p})
		}
		return []dataplane.VPC{{ID: "v1", NATGateways: []dataplane.NATGateway{g}}}
	}
	ctx := context.Background()
	a.setFirewallRules(vpc("drop"))
	a.sampleHitsAroundApply(ctx) // no baseline yet: nothing
	a.sampleFirewallHits(ctx, counts)
	counts["v1"][chain] = []uint64{4} // hits the sampler has not read
	a.sampleHitsAroundApply(ctx)      // before the apply
	// The apply inserts "accept" before "drop": a new table from 0.
	counts["v1"][chain] = []uint64{0, 0}
	a.setFirewallRules(vpc("accept", "drop"))
	a.sampleHitsAroundApply(ctx) // after: the baseline
	counts["v1"][chain] = []uint64{2, 1}
	a.sampleFirewallHits(ctx, counts)
	if sink.got["drop"] != 5 || sink.got["accept"] != 2 || len(sink.got) != 2 {
		t.Fatalf("reported %v, want drop 5 (4 before the rebuild, 1 after) and accept 2", sink.got)
	}
}
