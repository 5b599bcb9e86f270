package dataplane

import (
	"net/netip"
	"testing"
)

func TestLBSlots(t *testing.T) {
	a, b, c := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.3")
	count := func(slots []netip.Addr) map[netip.Addr]int {
		n := map[netip.Addr]int{}
		for _, s := range slots {
			n[s]++
		}
		return n
	}
	for _, tc := range []struct {
		name string
		l    LBListener
		want map[netip.Addr]int
	}{
		{"weights divided by their gcd", LBListener{Backends: []LBBackend{{Addr: a, Weight: 100}, {Addr: b, Weight: 50}}}, map[netip.Addr]int{a: 2, b: 1}},
		{"coprime weights", LBListener{Backends: []LBBackend{{Addr: a, Weight: 3}, {Addr: b, Weight: 7}, {Addr: c, Weight: 1}}}, map[netip.Addr]int{a: 3, b: 7, c: 1}},
		{"equal weights", LBListener{Backends: []LBBackend{{Addr: a, Weight: 80}, {Addr: b, Weight: 80}}}, map[netip.Addr]int{a: 1, b: 1}},
		{"round robin ignores weights", LBListener{RoundRobin: true, Backends: []LBBackend{{Addr: a, Weight: 100}, {Addr: b, Weight: 1}}}, map[netip.Addr]int{a: 1, b: 1}},
		{"none", LBListener{}, map[netip.Addr]int{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := count(tc.l.Slots())
			if len(got) != len(tc.want) {
				t.Fatalf("slots %v, want %v", got, tc.want)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("slots %v, want %v", got, tc.want)
				}
			}
		})
	}
}
