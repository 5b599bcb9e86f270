package cli_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/apitest"
	"github.com/palisade-project/palisade/internal/app"
	"github.com/palisade-project/palisade/internal/flowlog"
)

func TestFlowLogCommands(t *testing.T) {
	env := apitest.Start(t)
	r := newRunner(t, env)
	vpcID := strings.TrimSpace(r.ok("vpc", "create", "--cidr", "10.0.0.0/16"))
	vsw := strings.TrimSpace(r.ok("vswitch", "create", "--vpc", vpcID, "--cidr", "10.0.1.0/24"))
	sink := filepath.Join(t.TempDir(), "flows.log")
	fl := strings.TrimSpace(r.ok("flowlog", "create", "--vswitch", vsw, "--traffic", "All", "--interval", "1", "--name", "web",
		"--file", sink, "--file-format", "aws-v2"))
	if !strings.HasPrefix(fl, "fl-") {
		t.Fatalf("flowlog create printed %q", fl)
	}
	if e := r.fail("flowlog", "create", "--vswitch", vsw, "--vpc", vpcID); !strings.Contains(e, "exactly one of") {
		t.Errorf("two resources: %s", e)
	}
	// The server's data directory (its database, a new file) and a file
	// of another kind are refused.
	passwd := filepath.Join(t.TempDir(), "passwd")
	if err := os.WriteFile(passwd, []byte("root:x:0:0:root:/root:/bin/bash\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(env.DataDir, app.DBFile), filepath.Join(env.DataDir, "flows.log"), passwd} {
		if e := r.fail("flowlog", "create", "--vpc", vpcID, "--file", p); !strings.Contains(e, "IllegalParam.FileSink") {
			t.Errorf("--file %s: %s", p, e)
		}
	}
	if e := r.fail("flowlog", "create", "--vpc", vpcID, "--interval", "3"); !strings.Contains(e, "IllegalParam.AggregationInterval") {
		t.Errorf("bad interval: %s", e)
	}
	if e := r.fail("flowlog", "create", "--vpc", vpcID, "--interval", "0"); !strings.Contains(e, "IllegalParam.AggregationInterval") {
		t.Errorf("--interval 0 (not the default 10): %s", e)
	}
	inet := strings.TrimSpace(r.ok("flowlog", "create", "--vpc", vpcID, "--traffic-path", "internetGateway"))
	if show := r.okJSON("flowlog", "show", inet); fmt.Sprint(show["TrafficPath"]) != "map[TrafficPathList:[internetGateway]]" {
		t.Errorf("flowlog show of an internetGateway log: TrafficPath %v", show["TrafficPath"])
	}
	if e := r.fail("flowlog", "create", "--vpc", vpcID, "--traffic-path", "vpnGateway"); !strings.Contains(e, "OperationUnsupported.TrafficPath") {
		t.Errorf("--traffic-path vpnGateway: %s", e)
	}
	r.ok("flowlog", "delete", inet)
	if e := r.fail("flowlog", "records", "--limit", "0"); !strings.Contains(e, "MaxResults") {
		t.Errorf("records --limit 0: %s", e)
	}
	out := r.ok("flowlog", "list")
	for _, want := range []string{fl, "web", "VSwitch", vsw, "Active"} {
		if !strings.Contains(out, want) {
			t.Errorf("flowlog list lacks %q:\n%s", want, out)
		}
	}
	show := r.okJSON("flowlog", "show", fl)
	if show["FileSink"] != sink || show["FileFormat"] != "aws-v2" || show["AggregationInterval"] != float64(1) {
		t.Errorf("flowlog show: %v", show)
	}
	r.ok("flowlog", "modify", fl, "--name", "renamed", "--interval", "5")
	r.ok("flowlog", "deactivate", fl)
	if show := r.ok("flowlog", "show", fl); !strings.Contains(show, "Inactive") || !strings.Contains(show, "renamed") {
		t.Errorf("after modify/deactivate:\n%s", show)
	}
	r.ok("flowlog", "activate", fl)

	// Records reported as the local agent would.
	now := time.Now().Unix()
	rec := func(src string, dport int, action string, bytes uint64) flowlog.Record {
		return flowlog.Record{FlowLogID: fl, ENIID: "eni-x", SrcAddr: src, DstAddr: "10.0.1.5", SrcPort: 50000, DstPort: dport,
			Protocol: 6, Direction: flowlog.DirIn, Packets: 1, Bytes: bytes, Start: now - 60, End: now, Action: action}
	}
	if err := env.App.FlowRecordReporter().ReportFlowRecords(context.Background(), flowlog.Batch{
		Records: []flowlog.Record{rec("192.0.2.1", 22, flowlog.ActionReject, 60), rec("192.0.2.2", 443, flowlog.ActionAccept, 9000),
			rec("192.0.2.3", 22, flowlog.ActionReject, 70)},
		Missed: map[string]int64{fl: 2},
	}); err != nil {
		t.Fatal(err)
	}
	out = r.ok("flowlog", "records", "--flow-log-id", fl, "--action", "reject")
	if !strings.Contains(out, "192.0.2.1") || !strings.Contains(out, "192.0.2.3") || strings.Contains(out, "192.0.2.2") ||
		!strings.Contains(out, "skipped (SKIPDATA): 2") {
		t.Errorf("flowlog records:\n%s", out)
	}
	js := r.okJSON("flowlog", "records", "--src", "192.0.2.2/32", "--port", "443", "--since", time.Unix(now-300, 0).UTC().Format(time.RFC3339))
	if recs := list(js, "Records", "Record"); len(recs) != 1 || recs[0]["bytes"] != float64(9000) {
		t.Errorf("records JSON: %v", js)
	}
	out = r.ok("flowlog", "top", "--by", "bytes", "--action", "REJECT")
	if i, j := strings.Index(out, "192.0.2.3"), strings.Index(out, "192.0.2.1"); i < 0 || j < 0 || i > j || strings.Contains(out, "192.0.2.2") {
		t.Errorf("flowlog top:\n%s", out)
	}
	// A VPC flow log over the same ENI records the same rejected packets:
	// records tell the two flow logs apart, top counts the traffic once.
	vpcLog := strings.TrimSpace(r.ok("flowlog", "create", "--vpc", vpcID, "--traffic", "Drop", "--interval", "1"))
	again := []flowlog.Record{rec("192.0.2.1", 22, flowlog.ActionReject, 60), rec("192.0.2.3", 22, flowlog.ActionReject, 70)}
	for i := range again {
		again[i].FlowLogID = vpcLog
	}
	if err := env.App.FlowRecordReporter().ReportFlowRecords(context.Background(), flowlog.Batch{Records: again}); err != nil {
		t.Fatal(err)
	}
	out = r.ok("flowlog", "records", "--action", "reject")
	rows, last, _ := strings.Cut(strings.TrimSuffix(out, "\n"), "\n4 of 4 records; ")
	// The counters are per flow log (they count the same misses), not summed.
	counters := []string{fl + " 2", vpcLog + " 0"}
	slices.Sort(counters)
	if h, _, _ := strings.Cut(rows, "\n"); !strings.HasPrefix(h, "FlowLogId") || strings.Count(rows, fl) != 2 || strings.Count(rows, vpcLog) != 2 ||
		last != "skipped (SKIPDATA) per flow log: "+strings.Join(counters, ", ") {
		t.Errorf("flowlog records over two flow logs:\n%s", out)
	}
	js = r.okJSON("flowlog", "top", "--by", "flows", "--action", "REJECT")
	if tops := list(js, "TopTalkers", "TopTalker"); len(tops) != 2 || tops[0]["Flows"] != float64(1) || tops[1]["Flows"] != float64(1) {
		t.Errorf("flowlog top over two flow logs: %v", js)
	}
	if e := r.fail("flowlog", "top", "--by", "octets"); !strings.Contains(e, "IllegalParam.By") {
		t.Errorf("bad --by: %s", e)
	}
	b, err := os.ReadFile(sink)
	if err != nil || strings.Count(string(b), "\n") != 3 || !strings.Contains(string(b), " 192.0.2.1 10.0.1.5 50000 22 6 1 60 ") {
		t.Errorf("file sink: %q %v", b, err)
	}

	if e := r.fail("vswitch", "delete", vsw); !strings.Contains(e, "DependencyViolation") {
		t.Errorf("delete covered vSwitch: %s", e)
	}
	r.ok("flowlog", "delete", fl)
	if out := r.ok("flowlog", "list"); strings.Contains(out, fl) {
		t.Errorf("deleted flow log still listed:\n%s", out)
	}
	// Its records stay, queryable by its ID.
	if out := r.ok("flowlog", "records", "--flow-log-id", fl); strings.Count(out, fl) != 3 || !strings.Contains(out, "3 of 3 records; skipped (SKIPDATA): 2") {
		t.Errorf("records of the deleted flow log:\n%s", out)
	}
	if out := r.ok("flowlog", "top", "--flow-log-id", fl, "--by", "flows"); !strings.Contains(out, "192.0.2.2") {
		t.Errorf("top of the deleted flow log:\n%s", out)
	}
	if e := r.fail("flowlog", "records", "--flow-log-id", "fl-nosuchflowlog"); !strings.Contains(e, "InvalidFlowLogId.NotFound") {
		t.Errorf("records of an unknown flow log: %s", e)
	}
}
