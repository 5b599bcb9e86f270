package remote

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/palisade-project/palisade/internal/model"
)

type lbHealthCaller struct {
	calls [][]model.LBHealth
	err   error
}

func (c *lbHealthCaller) Call(_ context.Context, version, action string, p map[string]string) (map[string]any, error) {
	if version != VersionPalisade || action != "PalisadeReportLoadBalancerHealth" {
		return nil, errors.New("unexpected action " + action)
	}
	var hs []model.LBHealth
	if err := json.Unmarshal([]byte(p["Health"]), &hs); err != nil {
		return nil, err
	}
	c.calls = append(c.calls, hs)
	return map[string]any{}, c.err
}

// lbHealthOf is a record of one listener with n servers.
func lbHealthOf(i, n int) model.LBHealth {
	h := model.LBHealth{LoadBalancerID: fmt.Sprintf("lb-%d", i), Listeners: []model.LBListenerHealth{{Protocol: "tcp", Port: 80}}}
	for j := range n {
		h.Listeners[0].Servers = append(h.Listeners[0].Servers, model.LBServerHealth{ServerID: fmt.Sprintf("i-%d", j), Status: model.LBHealthNormal})
	}
	return h
}

// TestReportLBHealthSplits: calls hold at most lbHealthPerCall records
// and lbHealthEntriesPerCall entries, unless one record alone has more;
// every record goes exactly once, in order.
func TestReportLBHealthSplits(t *testing.T) {
	for _, tc := range []struct {
		name    string
		records []int // servers per record
		calls   int
	}{
		{"none", nil, 0},
		{"one", []int{3}, 1},
		{"by count", make([]int, 2*lbHealthPerCall+1), 3},
		{"by entries", []int{lbHealthEntriesPerCall / 2, lbHealthEntriesPerCall / 2, 1}, 2},
		{"a big one alone", []int{1, lbHealthEntriesPerCall + 1, 1}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &lbHealthCaller{}
			var hs []model.LBHealth
			for i, n := range tc.records {
				hs = append(hs, lbHealthOf(i, n))
			}
			if err := New(c, "z", nil).ReportLBHealth(context.Background(), hs); err != nil {
				t.Fatal(err)
			}
			if len(c.calls) != tc.calls {
				t.Fatalf("%d calls, want %d", len(c.calls), tc.calls)
			}
			next := 0
			for _, call := range c.calls {
				entries := 0
				for _, h := range call {
					if h.LoadBalancerID != hs[next].LoadBalancerID {
						t.Fatalf("%s where %s was expected", h.LoadBalancerID, hs[next].LoadBalancerID)
					}
					entries += len(h.Listeners[0].Servers)
					next++
				}
				if len(call) == 0 || len(call) > lbHealthPerCall || (len(call) > 1 && entries > lbHealthEntriesPerCall) {
					t.Errorf("a call of %d records, %d entries", len(call), entries)
				}
			}
			if next != len(hs) {
				t.Errorf("%d records sent, want %d", next, len(hs))
			}
		})
	}
	c := &lbHealthCaller{err: errors.New("down")}
	if err := New(c, "z", nil).ReportLBHealth(context.Background(), make([]model.LBHealth, lbHealthPerCall+1)); err == nil || len(c.calls) != 1 {
		t.Errorf("error: %v after %d calls", err, len(c.calls))
	}
}
