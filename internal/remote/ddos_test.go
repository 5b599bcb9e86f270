package remote

import (
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/model"
)

type ddosCaller struct {
	calls [][]model.DDoSEvent
	err   error
}

func (c *ddosCaller) Call(_ context.Context, version, action string, p map[string]string) (map[string]any, error) {
	if version != VersionPalisade || action != "PalisadeReportDdosEvents" {
		return nil, errors.New("unexpected action " + action)
	}
	var evs []model.DDoSEvent
	if err := json.Unmarshal([]byte(p["Events"]), &evs); err != nil {
		return nil, err
	}
	c.calls = append(c.calls, evs)
	return map[string]any{}, c.err
}

// TestReportDDoSEventsSplits: calls hold at most ddosEventsPerCall
// events; every event goes exactly once, in order, whole.
func TestReportDDoSEventsSplits(t *testing.T) {
	start := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name  string
		n     int
		calls int
	}{
		{"none", 0, 0},
		{"one", 1, 1},
		{"exactly one call", ddosEventsPerCall, 1},
		{"split", 2*ddosEventsPerCall + 1, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &ddosCaller{}
			evs := make([]model.DDoSEvent, tc.n)
			for i := range evs {
				evs[i] = model.DDoSEvent{IP: netip.MustParseAddr("198.18.0.10"), Type: model.DDoSBlackhole, Start: start.Add(time.Duration(i) * time.Second),
					UnBlackholeAt: start.Add(time.Hour), PeakBps: int64(i)}
			}
			if err := New(c, "z", nil).ReportDDoSEvents(context.Background(), evs); err != nil {
				t.Fatal(err)
			}
			if len(c.calls) != tc.calls {
				t.Fatalf("%d calls, want %d", len(c.calls), tc.calls)
			}
			next := 0
			for _, call := range c.calls {
				if len(call) == 0 || len(call) > ddosEventsPerCall {
					t.Errorf("a call of %d events", len(call))
				}
				for _, ev := range call {
					if ev.PeakBps != int64(next) || !ev.Start.Equal(evs[next].Start) || !ev.UnBlackholeAt.Equal(evs[next].UnBlackholeAt) {
						t.Fatalf("event %+v where %d was expected", ev, next)
					}
					next++
				}
			}
			if next != tc.n {
				t.Errorf("%d events sent, want %d", next, tc.n)
			}
		})
	}
	c := &ddosCaller{err: errors.New("down")}
	if err := New(c, "z", nil).ReportDDoSEvents(context.Background(), make([]model.DDoSEvent, ddosEventsPerCall+1)); err == nil || len(c.calls) != 1 {
		t.Errorf("error: %v after %d calls", err, len(c.calls))
	}
}

type hitsCaller struct{ calls [][]model.FirewallHits }

func (c *hitsCaller) Call(_ context.Context, version, action string, p map[string]string) (map[string]any, error) {
	if version != VersionPalisade || action != "PalisadeReportFirewallHits" {
		return nil, errors.New("unexpected action " + action)
	}
	var hits []model.FirewallHits
	if err := json.Unmarshal([]byte(p["Hits"]), &hits); err != nil {
		return nil, err
	}
	c.calls = append(c.calls, hits)
	return map[string]any{}, nil
}

// TestReportFirewallHits: the hits go to PalisadeReportFirewallHits as a
// JSON array in Hits, split like the Anti-DDoS events.
func TestReportFirewallHits(t *testing.T) {
	at := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	hits := make([]model.FirewallHits, ddosEventsPerCall+1)
	for i := range hits {
		hits[i] = model.FirewallHits{PolicyID: "p", Hits: int64(i + 1), LastHit: at}
	}
	c := &hitsCaller{}
	if err := New(c, "z", nil).ReportFirewallHits(context.Background(), hits); err != nil {
		t.Fatal(err)
	}
	if len(c.calls) != 2 || len(c.calls[0]) != ddosEventsPerCall || len(c.calls[1]) != 1 || c.calls[1][0].Hits != int64(len(hits)) || !c.calls[1][0].LastHit.Equal(at) {
		t.Errorf("calls %d: %+v", len(c.calls), c.calls)
	}
}
