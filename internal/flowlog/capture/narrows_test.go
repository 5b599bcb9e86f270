package capture

import (
	"net/netip"
	"testing"

	"github.com/palisade-project/palisade/internal/flowlog"
	"github.com/palisade-project/palisade/internal/model"
)

// TestNarrows: a new view makes the capture attribute the counters so
// far first when a log goes, or changes its window, traffic type, path or
// a path's inside blocks, or loses an ENI; a log or an ENI more does not.
func TestNarrows(t *testing.T) {
	vpc := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16")}
	peered := append(vpc, netip.MustParsePrefix("192.168.0.0/16"))
	log := func(edit func(*flowlog.Log)) []flowlog.Log {
		l := flowlog.Log{ID: "fl-1", TrafficType: model.FlowLogTrafficAll, WindowSeconds: 60, ENIs: []flowlog.ENI{{ID: "eni-a"}},
			Path: flowlog.NewInternetPath(vpc)}
		edit(&l)
		return []flowlog.Log{l}
	}
	old := log(func(*flowlog.Log) {})
	tests := []struct {
		name string
		new  []flowlog.Log
		want bool
	}{
		{"same", log(func(*flowlog.Log) {}), false},
		{"same blocks, built again", log(func(l *flowlog.Log) { l.Path = flowlog.NewInternetPath(vpc) }), false},
		{"an ENI more", log(func(l *flowlog.Log) { l.ENIs = append(l.ENIs, flowlog.ENI{ID: "eni-b"}) }), false},
		{"a log more", append(log(func(*flowlog.Log) {}), flowlog.Log{ID: "fl-2", WindowSeconds: 60}), false},
		{"log gone", nil, true},
		{"window", log(func(l *flowlog.Log) { l.WindowSeconds = 300 }), true},
		{"traffic type", log(func(l *flowlog.Log) { l.TrafficType = model.FlowLogTrafficDrop }), true},
		{"peering route added", log(func(l *flowlog.Log) { l.Path = flowlog.NewInternetPath(peered) }), true},
		{"path to all", log(func(l *flowlog.Log) { l.Path = nil }), true},
		{"ENI gone", log(func(l *flowlog.Log) { l.ENIs = nil }), true},
	}
	for _, tc := range tests {
		if got := narrows(old, tc.new); got != tc.want {
			t.Errorf("%s: narrows = %v, want %v", tc.name, got, tc.want)
		}
	}
}
