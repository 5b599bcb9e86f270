package analysis

import (
	"slices"
	"strings"
	"testing"

	"github.com/palisade-project/palisade/internal/model"
)

// hairpinWorld is the golden world with the EIP pool known, an EIP on
// i-admin and one on i-other (another VPC). 198.18.0.11 is allocated and
// not associated; 198.18.0.99 stands for another account's EIP (not in
// the world at all).
func hairpinWorld() *World {
	w := fixedWorld()
	w.PublicCIDR = pfx("198.18.0.0/20")
	w.EIPs = append(w.EIPs,
		model.EIP{ID: "eip-admin", Address: ip("198.18.0.12"), ENIID: "eni-admin", PrivateIP: ip("10.0.3.10"), InstanceID: "i-admin", Status: model.EIPInUse},
		model.EIP{ID: "eip-other", Address: ip("198.18.0.13"), ENIID: "eni-other", PrivateIP: ip("10.0.1.10"), InstanceID: "i-other", Status: model.EIPInUse},
	)
	return w
}

// TestEIPHairpin: the data plane has no EIP hairpin (a packet from inside
// a VPC to an EIP leaves through the uplink and the host does not route it
// back into a VPC), so every path between the inside of a VPC and an EIP
// is unreachable, decided at the route, with a reason that says so and
// names no other account's resource; the receiver's filters never see
// the packet. Paths that do not turn around are untouched.
func TestEIPHairpin(t *testing.T) {
	const hairpin = "EIP hairpin is not supported"
	a := New(hairpinWorld())
	for _, c := range []struct {
		name     string
		q        ReachQuery
		verdict  string
		packet   string   // of the first path, "" not checked
		contains []string // in the route step's detail
		absent   []string // nowhere in the answer
	}{
		{"own EIP in the same VPC, sender with EIP",
			ReachQuery{From: "i-admin", To: "198.18.0.10", Protocol: "tcp", Port: 443}, "unreachable",
			"tcp 10.0.3.10:49152 -> 198.18.0.10:443",
			[]string{hairpin, "EIP 198.18.0.10", "uplink of vpc-prod", "sender's EIP 198.18.0.12", "dropped by the host"}, nil},
		{"own EIP in the same VPC, sender without EIP",
			ReachQuery{From: "i-db1", To: "198.18.0.10", Protocol: "tcp", Port: 443}, "unreachable",
			"tcp 10.0.2.10:49152 -> 198.18.0.10:443",
			[]string{hairpin, "never leaves vpc-prod", "10.0.2.10 has none"}, nil},
		{"own EIP of the sender itself",
			ReachQuery{From: "i-web1", To: "198.18.0.10", Protocol: "tcp", Port: 443}, "unreachable",
			"tcp 10.0.1.10:49152 -> 198.18.0.10:443",
			[]string{hairpin}, nil},
		{"own EIP in another VPC",
			ReachQuery{From: "i-admin", To: "198.18.0.13", Protocol: "icmp"}, "unreachable", "",
			[]string{hairpin, "EIP 198.18.0.13"}, []string{"never reach each other"}},
		{"EIP of another account",
			ReachQuery{From: "i-admin", To: "198.18.0.99", Protocol: "tcp", Port: 80}, "unreachable",
			"tcp 10.0.3.10:49152 -> 198.18.0.99:80",
			[]string{hairpin, "198.18.0.99, an address of the EIP pool 198.18.0.0/20"}, nil},
		{"own EIP not associated",
			ReachQuery{From: "i-admin", To: "198.18.0.11", Protocol: "udp", Port: 53}, "unreachable", "",
			[]string{hairpin, "EIP pool"}, []string{"eip-free"}},
		{"from another account's EIP to an instance with an EIP",
			ReachQuery{From: "198.18.0.99", To: "i-web1", Protocol: "tcp", Port: 443}, "unreachable", "",
			[]string{hairpin, "198.18.0.99 is an address of the EIP pool", "reaches EIP 198.18.0.10"}, nil},
		{"from another account's EIP to an EIP",
			ReachQuery{From: "198.18.0.99", To: "198.18.0.10", Protocol: "tcp", Port: 22}, "unreachable", "",
			[]string{hairpin}, nil},
		{"EIP to EIP",
			ReachQuery{From: "198.18.0.12", To: "198.18.0.10", Protocol: "tcp", Port: 443}, "unreachable", "",
			[]string{hairpin}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, err := a.Reach(c.q)
			if err != nil {
				t.Fatalf("%+v: %v", c.q, err)
			}
			var b strings.Builder
			if err := WriteReach(&b, r); err != nil {
				t.Fatal(err)
			}
			if r.Verdict != c.verdict || r.Reachable {
				t.Errorf("verdict %s, want %s:\n%s", r.Verdict, c.verdict, b.String())
			}
			p := r.Paths[0]
			if c.packet != "" && p.Packet != c.packet {
				t.Errorf("packet %s, want %s", p.Packet, c.packet)
			}
			last := p.Steps[len(p.Steps)-1]
			if last.Point != PointRoute || last.Allow || last.DecidedBy != ByRoute {
				t.Errorf("last step %+v, want the route denying:\n%s", last, b.String())
			}
			for _, s := range c.contains {
				if !strings.Contains(last.Detail, s) {
					t.Errorf("route detail %q lacks %q", last.Detail, s)
				}
			}
			for _, s := range c.absent {
				if strings.Contains(b.String(), s) {
					t.Errorf("answer mentions %q:\n%s", s, b.String())
				}
			}
			for _, s := range append(p.Steps, p.Reply...) {
				if s.Point == PointACLIngress || s.Point == PointSGIngress || s.Point == PointWAF {
					t.Errorf("step %s on a path that never reaches the receiver:\n%s", s.Point, b.String())
				}
			}
		})
	}
}

// TestEIPHairpinLeavesOtherPathsAlone: private paths, the internet to an
// EIP and an instance to the internet keep their answers; a CIDR that
// spans the pool answers partial, the pool's range as a hairpin.
func TestEIPHairpinLeavesOtherPathsAlone(t *testing.T) {
	a := New(hairpinWorld())
	for _, c := range []struct {
		q       ReachQuery
		verdict string
	}{
		{ReachQuery{From: "i-admin", To: "10.0.1.10", Protocol: "tcp", Port: 443}, "reachable"},
		{ReachQuery{From: "i-admin", To: "i-web1", Protocol: "tcp", Port: 443}, "reachable"},
		{ReachQuery{From: "203.0.113.7", To: "198.18.0.10", Protocol: "tcp", Port: 443}, "reachable"},
		{ReachQuery{From: "203.0.113.7", To: "i-web1", Protocol: "tcp", Port: 22}, "reachable"},
		{ReachQuery{From: "i-admin", To: "203.0.113.7", Protocol: "tcp", Port: 443}, "reachable"},
		{ReachQuery{From: "i-db1", To: "203.0.113.7", Protocol: "tcp", Port: 443}, "unreachable"}, // no EIP
		{ReachQuery{From: "i-other", To: "i-web1", Protocol: "icmp"}, "unreachable"},
		{ReachQuery{From: "i-admin", To: "198.16.0.0/14", Protocol: "tcp", Port: 443}, "partial"},
		{ReachQuery{From: "198.0.0.0/7", To: "eni-web1", Protocol: "tcp", Port: 443}, "partial"},
	} {
		r, err := a.Reach(c.q)
		if err != nil {
			t.Fatalf("%+v: %v", c.q, err)
		}
		if r.Verdict != c.verdict {
			var b strings.Builder
			_ = WriteReach(&b, r)
			t.Errorf("%+v: %s, want %s:\n%s", c.q, r.Verdict, c.verdict, b.String())
		}
		if c.verdict != "partial" {
			continue
		}
		// Exactly the pool's range is the hairpin.
		var hair []string
		for _, p := range r.Paths {
			end := p.To
			if p.From.Kind == "internet" {
				end = p.From
			}
			if slices.ContainsFunc(p.Steps, func(s Step) bool { return strings.Contains(s.Detail, "EIP hairpin") }) {
				hair = append(hair, end.Range)
			} else if !p.Reachable {
				t.Errorf("%+v: path to %s unreachable for another reason", c.q, end.Range)
			}
		}
		if !slices.Equal(hair, []string{"198.18.0.0-198.18.15.255"}) {
			t.Errorf("%+v: hairpin ranges %v, want the pool 198.18.0.0/20", c.q, hair)
		}
	}
}
