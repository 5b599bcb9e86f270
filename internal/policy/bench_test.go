package policy

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/palisade-project/palisade/internal/model"
)

// bigWorld is 100 ENIs sharing groups that total 1,000 rules each, the
// size of the resync goal in issue 3, with overlapping CIDRs and ports so
// the disjoint split has work to do.
func bigWorld(b testing.TB) (*Snapshot, map[string]string) {
	b.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	var groups []model.SecurityGroup
	for gi := range 5 {
		g := model.SecurityGroup{ID: fmt.Sprintf("sg-big%d", gi), VpcID: "vpc-1", Type: model.GroupTypeBasic, InnerAccessPolicy: model.InnerAccept}
		for ri := range 200 {
			from := 1 + r.IntN(2000)
			addr := netip.AddrFrom4([4]byte{10, byte(r.IntN(4)), byte(r.IntN(256)), byte(r.IntN(256))})
			g.Rules = append(g.Rules, model.Rule{
				ID: fmt.Sprintf("sgr-%d-%d", gi, ri), Direction: []string{model.Ingress, model.Egress}[r.IntN(2)],
				Protocol: []string{"TCP", "UDP"}[r.IntN(2)], Ports: model.PortRange{From: from, To: from + r.IntN(100)},
				PeerCidr: netip.PrefixFrom(addr, 16+r.IntN(17)).Masked(), Policy: []string{"accept", "drop"}[r.IntN(2)], Priority: 1 + r.IntN(3),
			})
		}
		groups = append(groups, g)
	}
	var enis []model.ENI
	ifaces := map[string]string{}
	for i := range 100 {
		id := fmt.Sprintf("eni-big%d", i)
		enis = append(enis, model.ENI{ID: id, VpcID: "vpc-1", PrimaryIP: netip.AddrFrom4([4]byte{10, 9, byte(i >> 8), byte(i)}),
			SecurityGroupIDs: []string{"sg-big0", "sg-big1", "sg-big2", "sg-big3", "sg-big4"}})
		ifaces[id] = fmt.Sprintf("pv-%d", i)
	}
	return NewSnapshot(groups, enis), ifaces
}

func BenchmarkCompile(b *testing.B) {
	w, ifaces := bigWorld(b)
	var elems int
	for b.Loop() {
		p := Compile(w, ifaces)
		elems, _ = flatElements(p)
		for _, c := range p.Classes {
			elems += len(c.Ports4)
		}
	}
	b.ReportMetric(float64(elems), "elements")
}

func BenchmarkRender(b *testing.B) {
	w, ifaces := bigWorld(b)
	p := Compile(w, ifaces)
	for b.Loop() {
		_ = p.Render()
	}
}

func BenchmarkEvaluateENI(b *testing.B) {
	w, _ := bigWorld(b)
	p := pkt(IPProtoTCP, "10.1.2.3", "10.9.0.1", 40000, 1500)
	for b.Loop() {
		EvaluateENI(w, "eni-big1", Ingress, p)
	}
}
