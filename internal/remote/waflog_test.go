package remote

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/palisade-project/palisade/internal/model"
)

type recordingCaller struct {
	calls []map[string]string
	err   error
}

func (c *recordingCaller) Call(_ context.Context, version, action string, p map[string]string) (map[string]any, error) {
	if version != VersionPalisade || action != "PalisadeReportWafLogs" {
		return nil, errors.New("unexpected action " + action)
	}
	c.calls = append(c.calls, p)
	return map[string]any{}, c.err
}

// TestReportWafLogsSplits: calls hold at most wafLogsPerCall records and
// about wafLogBytesPerCall bytes; every record goes exactly once, in order.
func TestReportWafLogsSplits(t *testing.T) {
	for _, tc := range []struct {
		name     string
		n, uri   int
		minCalls int
	}{
		{"none", 0, 1, 0},
		{"one", 1, 1, 1},
		{"by count", 2*wafLogsPerCall + 1, 1, 3},
		{"by size", 400, 2048, 400 * 2048 / wafLogBytesPerCall},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &recordingCaller{}
			m := New(c, "z", nil)
			recs := make([]model.WAFLog, tc.n)
			for i := range recs {
				recs[i] = model.WAFLog{ProtectionID: "waf-1", URI: strings.Repeat("u", tc.uri), Score: i}
			}
			if err := m.ReportWafLogs(context.Background(), "ignored", recs); err != nil {
				t.Fatal(err)
			}
			if len(c.calls) < tc.minCalls || (tc.n == 0 && len(c.calls) != 0) {
				t.Fatalf("%d calls, want at least %d", len(c.calls), tc.minCalls)
			}
			next := 0
			for _, p := range c.calls {
				var got []model.WAFLog
				if err := json.Unmarshal([]byte(p["Records"]), &got); err != nil {
					t.Fatalf("call payload: %v", err)
				}
				if len(got) == 0 || len(got) > wafLogsPerCall || (len(got) > 1 && len(p["Records"]) > wafLogBytesPerCall) {
					t.Errorf("call of %d records, %d bytes", len(got), len(p["Records"]))
				}
				for _, r := range got {
					if r.Score != next {
						t.Fatalf("record %d where %d was expected", r.Score, next)
					}
					next++
				}
			}
			if next != tc.n {
				t.Errorf("%d records sent, want %d", next, tc.n)
			}
		})
	}
	c := &recordingCaller{err: errors.New("down")}
	if err := New(c, "z", nil).ReportWafLogs(context.Background(), "", make([]model.WAFLog, 3)); err == nil || len(c.calls) != 1 {
		t.Errorf("error: %v after %d calls", err, len(c.calls))
	}
}
