package analysis

import (
	"slices"
	"testing"

	"github.com/palisade-project/palisade/internal/model"
)

// TestWAFStep: a TCP connection from the internet to a protected port of
// an instance's steered EIP has the WAF on its path, between the route
// and the filters that decide on the WAF's own connection (which keep
// their verdict); nothing else has.
func TestWAFStep(t *testing.T) {
	points := func(a *Analyzer, q ReachQuery) ([]string, *ReachResult) {
		t.Helper()
		r, err := a.Reach(q)
		if err != nil {
			t.Fatal(err)
		}
		var ps []string
		for _, s := range r.Paths[0].Steps {
			ps = append(ps, s.Point)
			if s.Point == PointWAF && (s.Resource != "waf-web1" || !s.Allow || s.DecidedBy != ByWAF) {
				t.Errorf("%v: waf step %+v", q, s)
			}
		}
		return ps, r
	}
	a := New(fixedWorld())
	withWAF := []string{PointRoute, PointWAF, PointACLIngress, PointSGIngress}
	for _, c := range []struct {
		q    ReachQuery
		want []string
	}{
		{ReachQuery{From: "203.0.113.7", To: "i-web1", Protocol: "tcp", Port: 443}, withWAF},
		{ReachQuery{From: "203.0.113.7", To: "198.18.0.10", Protocol: "tcp", Port: 443}, withWAF},
		{ReachQuery{From: "203.0.113.7", To: "i-web1", Protocol: "tcp", Port: 22}, []string{PointRoute, PointACLIngress, PointSGIngress}},
		{ReachQuery{From: "203.0.113.7", To: "i-web1", Protocol: "udp", Port: 443}, []string{PointRoute, PointACLIngress, PointSGIngress}},
		{ReachQuery{From: "i-admin", To: "i-web1", Protocol: "tcp", Port: 443}, []string{PointSGEgress, PointACLEgress, PointRoute, PointACLIngress, PointSGIngress}},
	} {
		if got, _ := points(a, c.q); !slices.Equal(got, c.want) {
			t.Errorf("%+v: steps %v, want %v", c.q, got, c.want)
		}
	}

	// The security groups still decide on the client: a drop for it
	// leaves the WAF on the path and the connection unreachable.
	w := fixedWorld()
	w.Groups[0].Rules = append(w.Groups[0].Rules, tcp("sgr-web-ban", model.Ingress, 443, "203.0.113.0/24", model.PolicyDrop, 1))
	got, r := points(New(w), ReachQuery{From: "203.0.113.7", To: "i-web1", Protocol: "tcp", Port: 443})
	if !slices.Equal(got, withWAF) || r.Reachable {
		t.Errorf("client dropped by the group: steps %v, reachable %v; want %v, unreachable", got, r.Reachable, withWAF)
	}
	if s := r.Paths[0].Steps[3]; s.Allow || s.RuleID != "sgr-web-ban" {
		t.Errorf("security-group step %+v, want the drop sgr-web-ban", s)
	}
}

func TestSteeredEIP(t *testing.T) {
	type eip struct{ id, eni string }
	of := func(e eip) (string, string) { return e.id, e.eni }
	for _, c := range []struct {
		eips []eip
		want int
	}{
		{nil, -1},
		{[]eip{{"eip-b", "eni-2"}, {"eip-a", "eni-3"}}, 1},                     // no primary: smallest ID
		{[]eip{{"eip-a", "eni-2"}, {"eip-z", "eni-1"}}, 1},                     // the primary's, whatever its ID
		{[]eip{{"eip-z", "eni-1"}, {"eip-c", "eni-1"}, {"eip-a", "eni-2"}}, 1}, // two on the primary
	} {
		if got := model.SteeredEIP("eni-1", c.eips, of); got != c.want {
			t.Errorf("SteeredEIP(%v) = %d, want %d", c.eips, got, c.want)
		}
	}
}
