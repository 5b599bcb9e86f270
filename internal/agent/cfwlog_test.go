package agent

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/palisade-project/palisade/internal/dataplane"
	"github.com/palisade-project/palisade/internal/model"
)

func TestLoggedVPCs(t *testing.T) {
	logged := []dataplane.FirewallRule{{ID: "a"}, {ID: "b", Log: true}}
	quiet := []dataplane.FirewallRule{{ID: "c"}}
	got := loggedVPCs([]dataplane.VPC{
		{ID: "internet-out", Firewall: &dataplane.Firewall{In: quiet, Out: logged}},
		{ID: "internet-quiet", Firewall: &dataplane.Firewall{In: quiet}},
		{ID: "nat", NATGateways: []dataplane.NATGateway{{ID: "ngw-q", Firewall: quiet}, {ID: "ngw-l", Firewall: logged}}},
		{ID: "vpc-fw", Peerings: []dataplane.Peering{{ID: "pcc-1", Firewall: &dataplane.PeerFirewall{Rules: logged}}}},
		{ID: "peering-no-fw", Peerings: []dataplane.Peering{{ID: "pcc-2"}}},
	})
	want := map[string]bool{"internet-out": true, "nat": true, "vpc-fw": true}
	if len(got) != len(want) {
		t.Fatalf("logged VPCs %v, want %v", got, want)
	}
	for v := range want {
		if !got[v] {
			t.Errorf("logged VPCs %v, want %v", got, want)
		}
	}
}

type fwLogSink struct {
	calls []int
	fail  bool
	got   []model.FirewallTrafficLog
}

func (s *fwLogSink) ReportFirewallLogs(_ context.Context, recs []model.FirewallTrafficLog) error {
	s.calls = append(s.calls, len(recs))
	if s.fail {
		return errors.New("server down")
	}
	s.got = append(s.got, recs...)
	return nil
}

// TestReportFirewallLogs: records go in calls of at most fwLogReport, and
// what the sink refuses waits for the next report.
func TestReportFirewallLogs(t *testing.T) {
	sink := &fwLogSink{fail: true}
	a := New(Config{FirewallLogs: sink})
	for i := range 2500 {
		a.fwLogBuf.Add(model.FirewallTrafficLog{PolicyID: fmt.Sprint(i)})
	}
	a.reportFirewallLogs(context.Background())
	if len(sink.got) != 0 || len(sink.calls) != 1 {
		t.Fatalf("the sink refused, yet: calls %v, stored %d", sink.calls, len(sink.got))
	}
	sink.fail, sink.calls = false, nil
	a.reportFirewallLogs(context.Background())
	if len(sink.calls) != 13 || sink.calls[0] != fwLogReport || sink.calls[12] != 2500-12*fwLogReport || len(sink.got) != 2500 {
		t.Fatalf("calls %v, stored %d; want 13 calls of at most %d and every record", sink.calls, len(sink.got), fwLogReport)
	}
	seen := map[string]bool{}
	for _, r := range sink.got {
		seen[r.PolicyID] = true
	}
	if len(seen) != 2500 {
		t.Errorf("%d distinct records stored, want 2500", len(seen))
	}
}
