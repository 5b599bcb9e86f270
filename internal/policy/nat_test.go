package policy

import (
	"fmt"
	"net/netip"
	"testing"
)

func TestSNATRanges(t *testing.T) {
	a := netip.MustParseAddr
	p := netip.MustParsePrefix
	e1, e2 := a("198.18.0.1"), a("198.18.0.2")
	tests := []struct {
		name    string
		entries []SNATSource
		want    map[string]SNATChoice // source -> choice; "" entry: none
	}{
		{"one entry", []SNATSource{{"s1", p("10.0.1.0/24"), []netip.Addr{e1}}},
			map[string]SNATChoice{"10.0.1.0": {"s1", e1}, "10.0.1.255": {"s1", e1}, "10.0.2.1": {}}},
		{"split over two addresses", []SNATSource{{"s1", p("10.0.1.0/24"), []netip.Addr{e1, e2}}},
			map[string]SNATChoice{"10.0.1.127": {"s1", e1}, "10.0.1.128": {"s1", e2}, "10.0.1.255": {"s1", e2}}},
		{"most specific wins, either order", []SNATSource{
			{"vsw", p("10.0.1.0/24"), []netip.Addr{e1}}, {"host", p("10.0.1.7/32"), []netip.Addr{e2}}, {"vpc", p("10.0.0.0/16"), []netip.Addr{e2}}},
			map[string]SNATChoice{"10.0.1.6": {"vsw", e1}, "10.0.1.7": {"host", e2}, "10.0.1.8": {"vsw", e1}, "10.0.9.9": {"vpc", e2}}},
		{"equal prefixes: the first", []SNATSource{{"a", p("10.0.1.0/24"), []netip.Addr{e1}}, {"b", p("10.0.1.0/24"), []netip.Addr{e2}}},
			map[string]SNATChoice{"10.0.1.1": {"a", e1}}},
		{"more addresses than sources", []SNATSource{{"a", p("10.0.1.9/32"), []netip.Addr{e2, e1}}},
			map[string]SNATChoice{"10.0.1.9": {"a", e2}}},
		{"everything", []SNATSource{{"a", p("0.0.0.0/0"), []netip.Addr{e1, e2}}},
			map[string]SNATChoice{"0.0.0.0": {"a", e1}, "127.255.255.255": {"a", e1}, "128.0.0.0": {"a", e2}, "255.255.255.255": {"a", e2}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := SNATRanges(tt.entries)
			for i := 1; i < len(r); i++ {
				if r[i-1].To.Compare(r[i].From) >= 0 {
					t.Fatalf("ranges overlap or are out of order: %v", r)
				}
			}
			for src, want := range tt.want {
				got, ok := Lookup(r, a(src))
				if ok != (want != SNATChoice{}) || got != want {
					t.Errorf("%s: got %v %v, want %v (ranges %v)", src, got, ok, want, r)
				}
			}
		})
	}
}

func TestFlattenPrefixes(t *testing.T) {
	p := netip.MustParsePrefix
	r := FlattenPrefixes([]PrefixValue[string]{{p("0.0.0.0/0"), "ngw-a"}, {p("10.2.0.0/16"), ""}, {p("8.8.8.0/24"), "ngw-b"}, {p("fd00::/8"), "x"}})
	for addr, want := range map[string]string{"1.1.1.1": "ngw-a", "10.2.3.4": "", "8.8.8.8": "ngw-b", "8.8.9.1": "ngw-a", "255.255.255.255": "ngw-a"} {
		if got, ok := Lookup(r, netip.MustParseAddr(addr)); !ok || got != want {
			t.Errorf("%s: got %q %v, want %q", addr, got, ok, want)
		}
	}
	if len(r) != 5 {
		t.Errorf("want 5 ranges (neighbours of one value merged), got %v", r)
	}
}

func TestRangePrefixes(t *testing.T) {
	a := netip.MustParseAddr
	for _, tc := range []struct {
		from, to string
		want     string
	}{
		{"0.0.0.0", "255.255.255.255", "[0.0.0.0/0]"},
		{"10.0.1.0", "10.0.1.255", "[10.0.1.0/24]"},
		{"10.0.1.6", "10.0.1.6", "[10.0.1.6/32]"},
		{"10.0.1.7", "10.0.1.255", "[10.0.1.7/32 10.0.1.8/29 10.0.1.16/28 10.0.1.32/27 10.0.1.64/26 10.0.1.128/25]"},
		{"0.0.0.0", "10.1.255.255", "[0.0.0.0/5 8.0.0.0/7 10.0.0.0/15]"},
		{"10.3.0.0", "255.255.255.255", "[10.3.0.0/16 10.4.0.0/14 10.8.0.0/13 10.16.0.0/12 10.32.0.0/11 10.64.0.0/10 10.128.0.0/9 11.0.0.0/8 12.0.0.0/6 16.0.0.0/4 32.0.0.0/3 64.0.0.0/2 128.0.0.0/1]"},
	} {
		if got := fmt.Sprint(RangePrefixes(a(tc.from), a(tc.to))); got != tc.want {
			t.Errorf("%s-%s: %s, want %s", tc.from, tc.to, got, tc.want)
		}
	}
	if RangePrefixes(a("10.0.0.2"), a("10.0.0.1")) != nil {
		t.Error("an empty range gave prefixes")
	}
}
