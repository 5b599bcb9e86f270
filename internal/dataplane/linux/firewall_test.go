package linux

import (
	"encoding/hex"
	"net/netip"
	"strings"
	"testing"

	"github.com/palisade-project/palisade/internal/dataplane"
)

func TestIntervals(t *testing.T) {
	show := func(ps []netip.Prefix) string {
		var out []string
		for _, e := range prefixIntervals(ps) {
			s := hex.EncodeToString(e.Key)
			if e.IntervalEnd {
				s = "-" + s
			}
			out = append(out, s)
		}
		return strings.Join(out, " ")
	}
	p := func(ss ...string) []netip.Prefix {
		var out []netip.Prefix
		for _, s := range ss {
			out = append(out, netip.MustParsePrefix(s))
		}
		return out
	}
	for _, tc := range []struct {
		in   []netip.Prefix
		want string
	}{
		{p("10.0.0.0/8"), "0a000000 -0b000000"},
		{p("10.1.0.0/16", "10.0.0.0/8"), "0a000000 -0b000000"},                     // contained: merged
		{p("10.0.0.0/9", "10.128.0.0/9"), "0a000000 -0b000000"},                    // adjacent: merged
		{p("192.0.2.7/32", "10.0.0.0/8"), "0a000000 -0b000000 c0000207 -c0000208"}, // sorted
		{p("255.255.255.0/24"), "ffffff00"},                                        // to the top: no end
		{nil, ""},
	} {
		if got := show(tc.in); got != tc.want {
			t.Errorf("%v: %q, want %q", tc.in, got, tc.want)
		}
	}
	var ports []string
	for _, e := range portIntervals([]dataplane.PortRange{{From: 443, To: 443}, {From: 80, To: 80}, {From: 8000, To: 8100}, {From: 8050, To: 9000}, {From: 65000, To: 65535}}) {
		s := hex.EncodeToString(e.Key)
		if e.IntervalEnd {
			s = "-" + s
		}
		ports = append(ports, s)
	}
	if got, want := strings.Join(ports, " "), "0050 -0051 01bb -01bc 1f40 -2329 fde8"; got != want {
		t.Errorf("ports: %q, want %q", got, want)
	}
}
