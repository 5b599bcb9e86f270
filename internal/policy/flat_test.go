package policy

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/palisade-project/palisade/internal/model"
)

// benchRules mirrors the data-plane benchmark's random rules
// (bench/dataplane randomRules): TCP or UDP, ports from-from+200, peers
// /16-/32 in 172.16.0.0/12, accept or drop, priorities 1..prios.
func benchRules(r *rand.Rand, prefix, dir string, n, prios int) []model.Rule {
	out := make([]model.Rule, 0, n)
	for i := range n {
		addr := netip.AddrFrom4([4]byte{172, byte(16 + r.IntN(16)), byte(r.IntN(256)), byte(r.IntN(256))})
		from := 1 + r.IntN(60000)
		out = append(out, model.Rule{
			ID: fmt.Sprintf("sgr-%s%d", prefix, i), Direction: dir,
			Protocol: []string{"TCP", "UDP"}[r.IntN(2)],
			Ports:    model.PortRange{From: from, To: from + r.IntN(200)},
			PeerCidr: netip.PrefixFrom(addr, 16+r.IntN(17)).Masked(),
			Policy:   []string{model.PolicyAccept, model.PolicyDrop}[r.IntN(2)],
			Priority: 1 + r.IntN(prios),
		})
	}
	return out
}

func flatElements(p *Program) (elems, max int) {
	for _, f := range p.Flats {
		n := len(f.Ports4) + len(f.Ports6) + len(f.Any4) + len(f.Any6)
		elems += n
		max = maxInt(max, n)
	}
	return elems, max
}

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}

// TestFlatElementCounts measures the flattening on the benchmark's rule
// sets (10 groups of 1,000 rules, one group per ENI; and ENIs carrying
// all 10 groups, 10,000 rules) and on the dense bigWorld: none may fall
// back, and the counts are logged.
func TestFlatElementCounts(t *testing.T) {
	for _, prios := range []int{10, 99} {
		r := rand.New(rand.NewPCG(3, 4))
		var groups []model.SecurityGroup
		var all []string
		for g := range 10 {
			id := fmt.Sprintf("sg-g%d", g)
			rules := benchRules(r, fmt.Sprintf("g%di", g), model.Ingress, 500, prios)
			rules = append(rules, benchRules(r, fmt.Sprintf("g%de", g), model.Egress, 500, prios)...)
			groups = append(groups, model.SecurityGroup{ID: id, VpcID: "vpc-1", Type: model.GroupTypeBasic, InnerAccessPolicy: model.InnerDrop, Rules: rules})
			all = append(all, id)
		}
		enis := []model.ENI{{ID: "eni-all", VpcID: "vpc-1", PrimaryIP: netip.MustParseAddr("10.0.0.1"), SecurityGroupIDs: all}}
		ifaces := map[string]string{"eni-all": "pv-all"}
		for i := range 10 {
			id := fmt.Sprintf("eni-%d", i)
			enis = append(enis, model.ENI{ID: id, VpcID: "vpc-1", PrimaryIP: netip.AddrFrom4([4]byte{10, 0, 1, byte(i)}), SecurityGroupIDs: []string{all[i]}})
			ifaces[id] = "pv-" + id
		}
		w := NewSnapshot(groups, enis)
		p := Compile(w, ifaces)
		elems, most := flatElements(p)
		t.Logf("bench rules, priorities 1-%d: %d flats, %d elements, largest %d, %d fallback classes", prios, len(p.Flats), elems, most, len(p.Classes))
		if len(p.Classes) != 0 || len(p.Flats) != 22 {
			t.Errorf("priorities 1-%d: %d flats, %d classes: a group set fell back", prios, len(p.Flats), len(p.Classes))
		}
	}
	w, ifaces := bigWorld(t)
	p := Compile(w, ifaces)
	elems, most := flatElements(p)
	t.Logf("bigWorld (5 groups x 200 dense rules per ENI): %d flats, %d elements, largest %d, %d fallback classes", len(p.Flats), elems, most, len(p.Classes))
	if len(p.Classes) != 0 {
		t.Errorf("bigWorld fell back")
	}
	// Random worlds: the largest flat seen.
	r := rand.New(rand.NewPCG(testSeed(t), 11))
	most = 0
	for range 300 {
		w := randWorld(r)
		_, m := flatElements(Compile(w, ifacesOf(w)))
		most = maxInt(most, m)
	}
	t.Logf("random worlds: largest flat %d elements", most)
}
