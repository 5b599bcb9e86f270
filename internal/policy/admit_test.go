package policy

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/policy/policytest"
)

// admitClients are the internet clients the admission tests probe: ENI
// addresses of every vSwitch (a client may reuse one), edges of the random
// CIDRs, exempt service addresses and addresses outside the VPC.
var admitClients = []string{
	"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6", "10.0.0.7", "10.0.0.8",
	"10.0.1.9", "10.0.1.10", "10.0.1.255", "10.0.2.1", "10.255.255.255", "11.0.0.0", "9.255.255.255",
	"100.100.2.113", "100.100.2.111", "100.100.100.200", "100.100.100.201",
	"192.168.0.1", "192.167.255.255", "198.18.0.7", "0.0.0.0", "255.255.255.255", "203.0.113.9",
}

// admitted reports whether (addr, sport) is in ranges.
func admitted(ranges []SourceRange, all bool, addr netip.Addr, sport uint16) bool {
	if all {
		return true
	}
	for _, s := range ranges {
		if s.Addr.From.Compare(addr) <= 0 && addr.Compare(s.Addr.To) <= 0 && s.SPort.From <= sport && sport <= s.SPort.To {
			return true
		}
	}
	return false
}

// TestAdmittedSourcesDifferential checks, on random worlds of groups and
// network ACLs, that a client is admitted exactly when the evaluator lets
// its first packet through the receiver's ACL and groups (for a client
// inside the ENI's own vSwitch the ACL passes, as in the data plane).
func TestAdmittedSourcesDifferential(t *testing.T) {
	seed := testSeed(t)
	r := rand.New(rand.NewPCG(seed, 0xad))
	worlds := 300
	if testing.Short() {
		worlds = 60
	}
	kinds := map[string]int{}
	for wi := range worlds {
		s := randACLWorld(r)
		for _, e := range s.enis {
			local := e.PrimaryIP
			vsw := s.w.VSwitch(e.VSwitchID)
			for range 4 {
				port := uint16(18 + r.IntN(14))
				if r.IntN(5) == 0 {
					port = uint16(1024 + r.IntN(60000))
				}
				ranges, all, ok := AdmittedSources(s.w, e.ID, local, port, 100000)
				if !ok {
					t.Fatalf("world %d %s port %d: over the limit", wi, e.ID, port)
				}
				checkSourcesDisjoint(t, ranges)
				if all {
					kinds["all"]++
				}
				for _, c := range admitClients {
					src := netip.MustParseAddr(c)
					for _, sport := range []uint16{999, 1000, 1001, 1002, 1003, 1004, 1005, 40000} {
						p := Packet{Src: src, Dst: local, Proto: IPProtoTCP, SrcPort: sport, DstPort: port}
						sg := EvaluateENI(s.w, e.ID, Ingress, p)
						acl := evaluateACL(s.w, s.w.ENI(e.ID), nil, Ingress, p)
						inVSwitch := vsw != nil && vsw.CidrBlock.Contains(src)
						want := sg.Allow && (acl.Allow || inVSwitch)
						if got := AdmitsClient(s.w, e.ID, local, port, netip.AddrPortFrom(src, sport)); got != want {
							t.Fatalf("world %d %s %s:%d from %s:%d: AdmitsClient %v, evaluator groups %v, ACL %v (in vSwitch %v)",
								wi, e.ID, local, port, src, sport, got, sg, acl, inVSwitch)
						}
						if got := admitted(ranges, all, src, sport); got != want {
							t.Fatalf("world %d %s %s:%d from %s:%d: admitted %v, evaluator groups %v, ACL %v (in vSwitch %v)\nranges %v",
								wi, e.ID, local, port, src, sport, got, sg, acl, inVSwitch, ranges)
						}
						kinds[fmt.Sprintf("sg:%v acl:%v", sg.Reason.Kind, acl.Reason.Kind)]++
					}
				}
			}
		}
	}
	t.Logf("decisions: %v", kinds)
	for _, k := range []string{"all", "sg:rule acl:acl-entry", "sg:intra-group acl:acl-entry", "sg:rule acl:acl-exempt", "sg:default acl:no-acl", "sg:rule acl:unknown-acl"} {
		if kinds[k] == 0 {
			t.Errorf("no %q case in %d worlds: the generator is too narrow", k, worlds)
		}
	}
}

func checkSourcesDisjoint(t *testing.T, ranges []SourceRange) {
	t.Helper()
	for i := range ranges {
		for j := i + 1; j < len(ranges); j++ {
			a, b := ranges[i], ranges[j]
			if a.Addr.From.Compare(b.Addr.To) <= 0 && b.Addr.From.Compare(a.Addr.To) <= 0 && a.SPort.From <= b.SPort.To && b.SPort.From <= a.SPort.To {
				t.Fatalf("ranges %d and %d overlap: %v %v", i, j, a, b)
			}
		}
	}
}

// TestAdmittedSources spells out the common cases.
func TestAdmittedSources(t *testing.T) {
	const vpc = "vpc-1"
	web := policytest.Rule("sgr-web", model.Ingress, "TCP", "80/80", "0.0.0.0/0", model.PolicyAccept, 1)
	office := policytest.Rule("sgr-office", model.Ingress, "TCP", "80/80", "203.0.113.0/24", model.PolicyAccept, 1)
	dropPort := policytest.WithSrcPorts(policytest.Rule("sgr-sport", model.Ingress, "TCP", "80/80", "0.0.0.0/0", model.PolicyDrop, 1), "24830/24830")
	ssh := policytest.Rule("sgr-ssh", model.Ingress, "TCP", "22/22", "0.0.0.0/0", model.PolicyAccept, 1)
	enis := func(groups ...string) []model.ENI {
		e := policytest.ENI("eni-1", vpc, groups, "192.168.1.1")
		e.VSwitchID = "vsw-1"
		return []model.ENI{e}
	}
	vsw := policytest.VSwitch("vsw-1", "192.168.1.0/24", "", "")
	vswACL := policytest.VSwitch("vsw-1", "192.168.1.0/24", "", "nacl-1")
	acl := policytest.NACL("nacl-1", []model.ACLEntry{
		policytest.ACLEntry("nae-1", "deny-bad", model.PolicyDrop, "all", "", "198.51.100.0/24"),
		policytest.ACLEntry("nae-2", "web", model.PolicyAccept, "tcp", "80/80", "0.0.0.0/0"),
	}, nil)
	group := func(rules ...model.Rule) model.SecurityGroup {
		g := policytest.Group("sg-1", model.GroupTypeBasic, model.InnerDrop, rules...)
		g.VpcID = vpc
		return g
	}
	type probe struct {
		from  string
		sport uint16
		want  bool
	}
	cases := []struct {
		name   string
		w      World
		all    bool
		probes []probe
	}{
		{"open to all", NewWorld([]model.SecurityGroup{group(web)}, enis("sg-1"), []model.VSwitch{vsw}, nil), true, nil},
		{"other port only", NewWorld([]model.SecurityGroup{group(ssh)}, enis("sg-1"), []model.VSwitch{vsw}, nil), false,
			[]probe{{"203.0.113.9", 40000, false}, {"192.168.1.2", 40000, false}}},
		{"one office", NewWorld([]model.SecurityGroup{group(office)}, enis("sg-1"), []model.VSwitch{vsw}, nil), false,
			[]probe{{"203.0.113.9", 40000, true}, {"203.0.114.9", 40000, false}}},
		{"one source port dropped", NewWorld([]model.SecurityGroup{group(dropPort, web)}, enis("sg-1"), []model.VSwitch{vsw}, nil), false,
			[]probe{{"203.0.113.9", 24830, false}, {"203.0.113.9", 24831, true}, {"203.0.113.9", 24829, true}}},
		{"network ACL", NewWorld([]model.SecurityGroup{group(web)}, enis("sg-1"), []model.VSwitch{vswACL}, []model.NetworkACL{acl}), false,
			[]probe{{"198.51.100.7", 40000, false}, {"203.0.113.9", 40000, true}, {"192.168.1.9", 40000, true}}},
		{"no group", NewWorld(nil, enis(), []model.VSwitch{vsw}, nil), false, []probe{{"203.0.113.9", 40000, false}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ranges, all, ok := AdmittedSources(tc.w, "eni-1", netip.MustParseAddr("192.168.1.1"), 80, 1000)
			if !ok || all != tc.all {
				t.Fatalf("all=%v ok=%v, want all=%v (ranges %v)", all, ok, tc.all, ranges)
			}
			for _, p := range tc.probes {
				if got := admitted(ranges, all, netip.MustParseAddr(p.from), p.sport); got != p.want {
					t.Errorf("%s:%d admitted %v, want %v (ranges %v)", p.from, p.sport, got, p.want, ranges)
				}
			}
		})
	}
	// Over the limit: the caller is told, not given a partial answer.
	w := NewWorld([]model.SecurityGroup{group(dropPort, office)}, enis("sg-1"), []model.VSwitch{vsw}, nil)
	if _, _, ok := AdmittedSources(w, "eni-1", netip.MustParseAddr("192.168.1.1"), 80, 1); ok {
		t.Error("a two-range answer fits a limit of 1")
	}
}

// TestAdmittedSourcesMatchesBoxes compares AdmittedSources with the first
// implementation (admittedSourcesBoxes, box first-match) as sets of
// clients, over the whole plane (every address and source port), on the
// random worlds of the differential test and every port either cuts.
func TestAdmittedSourcesMatchesBoxes(t *testing.T) {
	seed := testSeed(t)
	r := rand.New(rand.NewPCG(seed, 0xb0))
	worlds := 300
	if testing.Short() {
		worlds = 60
	}
	nonEmpty, shared := 0, 0
	for wi := range worlds {
		s := randACLWorld(r)
		// One Admitter per world: its memoized answers (shared between
		// ENIs with the same groups and vSwitch, and between ports and
		// addresses to which the same rules apply) must be right too.
		ad := NewAdmitter(s.w, 100000)
		classes := map[int]bool{}
		for _, e := range s.enis {
			for _, local := range append([]netip.Addr{e.PrimaryIP}, e.SecondaryIPs...) {
				// Every port the random rules cut (so that the memo sees
				// ports to which different rules of one group set apply),
				// and a random one.
				for pi := range 15 {
					port := uint16(18 + pi)
					if pi == 14 {
						port = uint16(1024 + r.IntN(60000))
					}
					got, gotAll, gotOK := AdmittedSources(s.w, e.ID, local, port, 100000)
					want, wantAll, wantOK := admittedSourcesBoxes(s.w, e.ID, local, port, 100000)
					a := ad.Admit(e.ID, local, port)
					if a.OK != gotOK || a.All != gotAll || !slices.Equal(a.Ranges, got) {
						t.Fatalf("world %d %s %s:%d: Admitter (class %d) %v all %v ok %v, AdmittedSources %v all %v ok %v",
							wi, e.ID, local, port, a.Class, a.Ranges, a.All, a.OK, got, gotAll, gotOK)
					}
					if classes[a.Class] {
						shared++
					}
					classes[a.Class] = true
					if !gotOK || !wantOK {
						t.Fatalf("world %d %s %s:%d: ok %v, boxes ok %v", wi, e.ID, local, port, gotOK, wantOK)
					}
					checkSourcesDisjoint(t, got)
					g, w := canonSources(got, gotAll), canonSources(want, wantAll)
					if !slices.Equal(g, w) {
						t.Fatalf("world %d %s %s:%d:\n got %v (all %v)\nwant %v (all %v)", wi, e.ID, local, port, g, gotAll, w, wantAll)
					}
					if !gotAll && !slices.Equal(got, g) {
						t.Fatalf("world %d %s %s:%d: the answer is not in canonical form (maximal blocks, sorted)\n got %v\nwant %v", wi, e.ID, local, port, got, g)
					}
					if gotAll != wantAll {
						t.Fatalf("world %d %s %s:%d: all %v, boxes %v", wi, e.ID, local, port, gotAll, wantAll)
					}
					if len(g) > 0 {
						nonEmpty++
					}
				}
			}
		}
	}
	t.Logf("%d non-empty answers, %d answered from the memo", nonEmpty, shared)
	if nonEmpty == 0 || shared == 0 {
		t.Error("every answer was empty, or none was shared: the generator is too narrow")
	}
}

// canonSources returns the clients of ranges as maximal address blocks,
// each with the union of its source ports, sorted; "all" is one block.
func canonSources(ranges []SourceRange, all bool) []SourceRange {
	if all {
		ranges = []SourceRange{{AddrRange{netip.IPv4Unspecified(), netip.AddrFrom4([4]byte{255, 255, 255, 255})}, Range{0, 65535}}}
	}
	var cuts []uint64
	for _, s := range ranges {
		cuts = append(cuts, uint64(addr32(s.Addr.From)), uint64(addr32(s.Addr.To))+1)
	}
	slices.Sort(cuts)
	cuts = slices.Compact(cuts)
	type block struct {
		lo, hi uint64
		ports  []Range
	}
	var blocks []block
	for i := 0; i+1 < len(cuts); i++ {
		lo, hi := cuts[i], cuts[i+1]-1
		var ps []Range
		for _, s := range ranges {
			if uint64(addr32(s.Addr.From)) <= lo && hi <= uint64(addr32(s.Addr.To)) {
				ps = append(ps, s.SPort)
			}
		}
		slices.SortFunc(ps, func(a, b Range) int { return cmp.Compare(a.From, b.From) })
		var merged []Range
		for _, p := range ps {
			if n := len(merged); n > 0 && uint32(p.From) <= uint32(merged[n-1].To)+1 {
				merged[n-1].To = max(merged[n-1].To, p.To)
				continue
			}
			merged = append(merged, p)
		}
		if len(merged) == 0 {
			continue
		}
		if n := len(blocks); n > 0 && blocks[n-1].hi+1 == lo && slices.Equal(blocks[n-1].ports, merged) {
			blocks[n-1].hi = hi
			continue
		}
		blocks = append(blocks, block{lo, hi, merged})
	}
	var out []SourceRange
	for _, b := range blocks {
		for _, p := range b.ports {
			out = append(out, SourceRange{AddrRange{addrFrom32(uint32(b.lo)), addrFrom32(uint32(b.hi))}, p})
		}
	}
	return out
}
