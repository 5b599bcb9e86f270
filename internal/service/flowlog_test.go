package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/errs"
	"github.com/palisade-project/palisade/internal/flowlog"
	"github.com/palisade-project/palisade/internal/flowlog/sink"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/store"
	"github.com/palisade-project/palisade/internal/store/memory"
)

// flowFixture is a service with an admin ("0"), a tenant ("1") and, for
// the tenant, vpc-1 / vsw-1 / eni-1 and, for the admin, vpc-a / eni-a.
func flowFixture(t *testing.T, cfg Config) *Service {
	t.Helper()
	return flowFixtureOn(t, memory.New(), cfg)
}

// flowFixtureOn is flowFixture on a given store (to restart on it).
func flowFixtureOn(t *testing.T, st store.Store, cfg Config) *Service {
	t.Helper()
	s := New(st, cfg)
	if _, err := s.update(context.Background(), func(tx store.Txn) error {
		for _, p := range []struct {
			key string
			v   any
		}{
			{model.PrefixAccount + "0", model.Account{ID: "0", Name: "admin", Admin: true}},
			{model.PrefixAccount + "1", model.Account{ID: "1", Name: "bob"}},
			{model.PrefixVPC + "vpc-1", model.VPC{ID: "vpc-1", AccountID: "1"}},
			{model.PrefixVSwitch + "vsw-1", model.VSwitch{ID: "vsw-1", AccountID: "1", VpcID: "vpc-1"}},
			{model.PrefixENI + "eni-1", model.ENI{ID: "eni-1", AccountID: "1", VpcID: "vpc-1", VSwitchID: "vsw-1", ZoneID: "zone-a"}},
			{model.PrefixVPC + "vpc-2", model.VPC{ID: "vpc-2", AccountID: "1"}},
			{model.PrefixVPC + "vpc-a", model.VPC{ID: "vpc-a", AccountID: "0"}},
			{model.PrefixENI + "eni-a", model.ENI{ID: "eni-a", AccountID: "0", VpcID: "vpc-a"}},
		} {
			if err := putJSON(tx, p.key, p.v); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return s
}

func flowInput(rt, id, tt string) CreateFlowLogInput {
	return CreateFlowLogInput{ResourceType: rt, ResourceID: id, TrafficType: tt, ProjectName: "proj", LogStoreName: "store"}
}

// fileSinkFixture lays out the files of the FileSink cases: the server's
// data directory (with its database), a link to it, and existing files of
// every kind next to it.
type fileSinkFixture struct {
	dataDir, dataLink, passwd, passwdLink, empty, jsonLog, awsLog string
}

func newFileSinkFixture(t *testing.T) fileSinkFixture {
	t.Helper()
	root := t.TempDir()
	f := fileSinkFixture{
		dataDir: filepath.Join(root, "data"), dataLink: filepath.Join(root, "data-link"),
		passwd: filepath.Join(root, "passwd"), passwdLink: filepath.Join(root, "passwd-link"),
		empty: filepath.Join(root, "empty.log"), jsonLog: filepath.Join(root, "flows.json"), awsLog: filepath.Join(root, "flows.aws"),
	}
	r := flowlog.Record{Version: 1, FlowLogID: "fl-old", AccountID: "0", ENIID: "eni-a", SrcAddr: "10.0.0.1", DstAddr: "10.0.0.2",
		SrcPort: 1234, DstPort: 80, Protocol: 6, Packets: 1, Bytes: 60, Start: 100, End: 160, Action: flowlog.ActionAccept, LogStatus: flowlog.StatusOK}
	js, err := sink.FormatJSON(&r)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(f.dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	for path, content := range map[string]string{
		filepath.Join(f.dataDir, "palisade.db"): "\x00\x00\x00\x00\xed\xda\x0c\xed",
		f.passwd:                                "root:x:0:0:root:/root:/bin/bash\n",
		f.empty:                                 "",
		f.jsonLog:                               string(js) + "\n",
		f.awsLog:                                sink.AWSv2Line(&r) + "\n",
	} {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(f.dataDir, f.dataLink); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(f.passwd, f.passwdLink); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestCreateFlowLogValidation(t *testing.T) {
	fs := newFileSinkFixture(t)
	s := flowFixture(t, Config{FlowLogWindowScale: 60, DataDir: fs.dataDir})
	ctx := context.Background()
	ok := flowInput("NetworkInterface", "eni-1", "All")
	str := func(v string) *string { return &v }
	fileSink := func(p string) func(*CreateFlowLogInput) {
		return func(in *CreateFlowLogInput) { in.ResourceID = "eni-a"; in.Sinks.FileSink = str(p) }
	}
	tests := []struct {
		name string
		acct string
		edit func(*CreateFlowLogInput)
		code string
	}{
		{"ok", "1", func(*CreateFlowLogInput) {}, ""},
		{"type case-insensitive", "1", func(in *CreateFlowLogInput) { in.ResourceType = "vswitch"; in.ResourceID = "vsw-1" }, ""},
		{"no type", "1", func(in *CreateFlowLogInput) { in.ResourceType = "" }, "MissingParameter"},
		{"bad type", "1", func(in *CreateFlowLogInput) { in.ResourceType = "Instance" }, "IllegalParam.ResourceType"},
		{"no resource", "1", func(in *CreateFlowLogInput) { in.ResourceID = "" }, "MissingParameter"},
		{"unknown eni", "1", func(in *CreateFlowLogInput) { in.ResourceID = "eni-x" }, "InvalidEniId.NotFound"},
		{"other account's eni", "1", func(in *CreateFlowLogInput) { in.ResourceID = "eni-a" }, "InvalidEniId.NotFound"},
		{"other account's vpc", "1", func(in *CreateFlowLogInput) { in.ResourceType, in.ResourceID = "VPC", "vpc-a" }, "InvalidVpcId.NotFound"},
		{"vswitch id as vpc", "1", func(in *CreateFlowLogInput) { in.ResourceType = "VPC"; in.ResourceID = "vsw-1" }, "InvalidVpcId.NotFound"},
		{"no traffic type", "1", func(in *CreateFlowLogInput) { in.TrafficType = "" }, "MissingParameter"},
		{"bad traffic type", "1", func(in *CreateFlowLogInput) { in.TrafficType = "Reject" }, "IllegalParam.TrafficType"},
		{"no project", "1", func(in *CreateFlowLogInput) { in.ProjectName = "" }, "MissingParameter"},
		{"project upper case", "1", func(in *CreateFlowLogInput) { in.ProjectName = "Proj" }, "IllegalParam.ProjectName"},
		{"project too short", "1", func(in *CreateFlowLogInput) { in.ProjectName = "ab" }, "IllegalParam.ProjectName"},
		{"logstore too long", "1", func(in *CreateFlowLogInput) { in.LogStoreName = strings.Repeat("a", 64) }, "IllegalParam.LogStoreName"},
		{"logstore 63", "1", func(in *CreateFlowLogInput) { in.LogStoreName = strings.Repeat("a", 63) }, ""},
		{"name too long", "1", func(in *CreateFlowLogInput) { in.Name = strings.Repeat("n", 129) }, "IllegalParam.FlowLogName"},
		{"name url", "1", func(in *CreateFlowLogInput) { in.Name = "http://x" }, "IllegalParam.FlowLogName"},
		{"description too long", "1", func(in *CreateFlowLogInput) { in.Description = strings.Repeat("d", 257) }, "IllegalParam.Description"},
		{"interval 2", "1", func(in *CreateFlowLogInput) { in.AggregationInterval = 2 }, "IllegalParam.AggregationInterval"},
		{"file sink by tenant", "1", func(in *CreateFlowLogInput) { in.Sinks.FileSink = str("/tmp/x.log") }, "Forbidden.FileSink"},
		{"relative file sink", "0", func(in *CreateFlowLogInput) { in.ResourceID = "eni-a"; in.Sinks.FileSink = str("x.log") }, "IllegalParam.FileSink"},
		{"file sink dir missing", "0", func(in *CreateFlowLogInput) {
			in.ResourceID = "eni-a"
			in.Sinks.FileSink = str("/nonexistent-dir/x.log")
		}, "IllegalParam.FileSink"},
		{"file sink database in data dir", "0", fileSink(filepath.Join(fs.dataDir, "palisade.db")), "IllegalParam.FileSink"},
		{"file sink new file in data dir", "0", fileSink(filepath.Join(fs.dataDir, "flows.log")), "IllegalParam.FileSink"},
		{"file sink in data dir via link", "0", fileSink(filepath.Join(fs.dataLink, "flows.log")), "IllegalParam.FileSink"},
		{"file sink existing non-flow-log file", "0", fileSink(fs.passwd), "IllegalParam.FileSink"},
		{"file sink link to non-flow-log file", "0", fileSink(fs.passwdLink), "IllegalParam.FileSink"},
		{"file sink existing empty file", "0", fileSink(fs.empty), ""},
		{"file sink existing JSON flow-log file", "0", fileSink(fs.jsonLog), ""},
		{"file sink existing AWS flow-log file", "0", fileSink(fs.awsLog), ""},
		{"file sink new file", "0", fileSink(filepath.Join(filepath.Dir(fs.dataDir), "new.log")), ""},
		{"bad format", "0", func(in *CreateFlowLogInput) { in.ResourceID = "eni-a"; in.Sinks.FileFormat = str("csv") }, "IllegalParam.FileFormat"},
		{"ipfix no port", "1", func(in *CreateFlowLogInput) { in.Sinks.IPFIXCollector = str("127.0.0.1") }, "IllegalParam.IpfixCollector"},
		{"ipfix port 0", "1", func(in *CreateFlowLogInput) { in.Sinks.IPFIXCollector = str("127.0.0.1:0") }, "IllegalParam.IpfixCollector"},
		{"tenant ipfix to loopback", "1", func(in *CreateFlowLogInput) { in.Sinks.IPFIXCollector = str("127.0.0.1:53") }, "Forbidden.IpfixCollector"},
		{"tenant ipfix to v6 loopback", "1", func(in *CreateFlowLogInput) { in.Sinks.IPFIXCollector = str("[::1]:4739") }, "Forbidden.IpfixCollector"},
		{"tenant ipfix to mapped loopback", "1", func(in *CreateFlowLogInput) { in.Sinks.IPFIXCollector = str("[::ffff:127.0.0.1]:4739") }, "Forbidden.IpfixCollector"},
		{"tenant ipfix to link-local", "1", func(in *CreateFlowLogInput) { in.Sinks.IPFIXCollector = str("169.254.169.254:4739") }, "Forbidden.IpfixCollector"},
		{"tenant ipfix to a name", "1", func(in *CreateFlowLogInput) { in.Sinks.IPFIXCollector = str("localhost:4739") }, "Forbidden.IpfixCollector"},
		{"tenant ipfix to broadcast", "1", func(in *CreateFlowLogInput) { in.Sinks.IPFIXCollector = str("255.255.255.255:4739") }, "Forbidden.IpfixCollector"},
		{"tenant ipfix to unspecified", "1", func(in *CreateFlowLogInput) { in.Sinks.IPFIXCollector = str("0.0.0.0:4739") }, "Forbidden.IpfixCollector"},
		{"tenant ipfix to a private address", "1", func(in *CreateFlowLogInput) { in.Sinks.IPFIXCollector = str("10.1.2.3:4739") }, ""},
		{"admin ipfix to loopback", "0", func(in *CreateFlowLogInput) { in.ResourceID = "eni-a"; in.Sinks.IPFIXCollector = str("127.0.0.1:4739") }, ""},
		{"ipfix ok", "1", func(in *CreateFlowLogInput) { in.Sinks.IPFIXCollector = str("[2001:db8::1]:4739") }, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := ok
			tc.edit(&in)
			fl, err := s.CreateFlowLog(ctx, tc.acct, in)
			if tc.code != "" {
				if !errs.HasCode(err, tc.code) {
					t.Fatalf("got %v, want %s", err, tc.code)
				}
				var e *errs.Error
				if strings.HasPrefix(tc.code, "IllegalParam.") && (!errors.As(err, &e) || e.Status != 400) {
					t.Errorf("got %#v, want HTTP 400", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			wantVpc := map[string]string{"0": "vpc-a", "1": "vpc-1"}[tc.acct]
			if fl.Status != model.FlowLogActive || fl.AggregationInterval != 10 || fl.WindowSeconds != 10 || fl.VpcID != wantVpc ||
				!strings.HasPrefix(fl.ID, "fl-") || fl.AccountID != tc.acct || fl.RegionID != "local" {
				t.Errorf("created %+v", fl)
			}
			if in.Sinks.FileSink != nil && fl.FileSink != *in.Sinks.FileSink {
				t.Errorf("FileSink = %q, want %q", fl.FileSink, *in.Sinks.FileSink)
			}
		})
	}
}

func TestFlowLogQuota(t *testing.T) {
	q := DefaultQuotas()
	q.FlowLogsPerAccount = 2
	s := flowFixture(t, Config{Quotas: q})
	ctx := context.Background()
	for i := range 3 {
		_, err := s.CreateFlowLog(ctx, "1", flowInput("VPC", "vpc-1", "All"))
		if i < 2 && err != nil {
			t.Fatal(err)
		}
		if i == 2 && !errs.HasCode(err, "QuotaExceeded.FlowLog") {
			t.Fatalf("third flow log: %v", err)
		}
	}
	// The quota is per account.
	if _, err := s.CreateFlowLog(ctx, "0", flowInput("VPC", "vpc-a", "All")); err != nil {
		t.Fatal(err)
	}
}

func TestFlowLogDependencies(t *testing.T) {
	s := flowFixture(t, Config{})
	ctx := context.Background()
	onVsw, err := s.CreateFlowLog(ctx, "1", flowInput("VSwitch", "vsw-1", "All"))
	if err != nil {
		t.Fatal(err)
	}
	onENI, err := s.CreateFlowLog(ctx, "1", flowInput("NetworkInterface", "eni-1", "All"))
	if err != nil {
		t.Fatal(err)
	}
	// A VPC with nothing but a flow log: the flow log is what blocks it.
	if _, err := s.CreateFlowLog(ctx, "1", flowInput("VPC", "vpc-2", "All")); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteVpc(ctx, "1", "vpc-2", false, false); !errs.HasCode(err, "DependencyViolation") || !strings.Contains(err.Error(), "VPC vpc-2 is covered by flow log") || !strings.Contains(err.Error(), "ForceDelete") {
		t.Errorf("delete VPC with a flow log: %v", err)
	}
	if err := s.DeleteVpc(ctx, "1", "vpc-2", true, true); !ErrDryRun(err) {
		t.Errorf("dry run: %v", err)
	}
	if err := s.DeleteVpc(ctx, "1", "vpc-2", true, false); err != nil {
		t.Errorf("force delete VPC with a flow log: %v", err)
	}
	if err := s.DeleteVSwitch(ctx, "1", "vsw-1"); !errs.HasCode(err, "DependencyViolation") || !strings.Contains(err.Error(), "vSwitch vsw-1 is covered by flow log") {
		t.Errorf("delete covered vSwitch: %v", err)
	}
	// Deleting the ENI deletes its flow log, and only that one.
	if _, err := s.update(ctx, func(tx store.Txn) error {
		e, err := getENI(tx, "1", "eni-1")
		if err != nil {
			return err
		}
		return s.deleteENI(tx, e)
	}); err != nil {
		t.Fatal(err)
	}
	left, _ := s.DescribeFlowLogs(ctx, "1", FlowLogFilter{})
	if len(left) != 1 || left[0].ID != onVsw.ID {
		t.Errorf("after ENI deletion: %+v (flow log %s should be gone)", left, onENI.ID)
	}
	if err := s.DeleteVpc(ctx, "1", "vpc-1", false, false); !errs.HasCode(err, "DependencyViolation") {
		t.Errorf("delete VPC: %v", err)
	}
	if err := s.DeleteVpc(ctx, "1", "vpc-1", true, false); err != nil {
		t.Fatalf("force delete VPC: %v", err)
	}
	if left, _ := s.DescribeFlowLogs(ctx, "1", FlowLogFilter{}); len(left) != 0 {
		t.Errorf("force delete left %+v", left)
	}
}

func TestIngestFlowRecords(t *testing.T) {
	s := flowFixture(t, Config{})
	ctx := context.Background()
	dir := t.TempDir()
	file := filepath.Join(dir, "flows.log")
	allowOnly, err := s.CreateFlowLog(ctx, "1", flowInput("VPC", "vpc-1", "Allow"))
	if err != nil {
		t.Fatal(err)
	}
	in := flowInput("NetworkInterface", "eni-a", "All")
	in.Sinks.FileSink, in.Sinks.FileFormat = &file, new(string)
	*in.Sinks.FileFormat = "aws-v2"
	adminLog, err := s.CreateFlowLog(ctx, "0", in)
	if err != nil {
		t.Fatal(err)
	}
	r := func(fl, action, acct string, bytes uint64) flowlog.Record {
		return flowlog.Record{FlowLogID: fl, AccountID: acct, VpcID: "vpc-forged", ENIID: "eni-1", SrcAddr: "10.0.0.1", DstAddr: "10.0.0.2",
			SrcPort: 1234, DstPort: 80, Protocol: 6, Packets: 1, Bytes: bytes, Start: 100, End: 160, Action: action}
	}
	batch := flowlog.Batch{
		Records: []flowlog.Record{
			r(allowOnly.ID, flowlog.ActionAccept, "0", 10), // account forged: the flow log's wins
			r(allowOnly.ID, flowlog.ActionReject, "1", 20), // filtered by TrafficType Allow
			r(adminLog.ID, flowlog.ActionReject, "0", 30),
			r("fl-deleted", flowlog.ActionAccept, "1", 40), // unknown flow log: dropped
			{FlowLogID: allowOnly.ID, ENIID: "eni-1", Start: 100, End: 160, LogStatus: flowlog.StatusNoData},
		},
		Missed: map[string]int64{allowOnly.ID: 7, "fl-deleted": 3},
	}
	if err := s.IngestFlowRecords(ctx, "1", "", batch); !errs.HasCode(err, "Forbidden.NotAdmin") {
		t.Fatal("a tenant reported flow records")
	}
	if err := s.IngestFlowRecords(ctx, "0", "", flowlog.Batch{Missed: map[string]int64{allowOnly.ID: -1}}); err == nil {
		t.Error("negative missed count accepted")
	}
	if err := s.IngestFlowRecords(ctx, "0", "zone-b", batch); !errs.HasCode(err, "Forbidden.AgentZone") {
		t.Errorf("the agent key of another zone reported eni-1's records: %v", err)
	}
	// The agent key of eni-1's zone may.
	if err := s.IngestFlowRecords(ctx, "0", "zone-a", batch); err != nil {
		t.Fatal(err)
	}
	res, err := s.DescribeFlowLogRecords(ctx, "1", FlowRecordQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Records) != 2 || res.Records[0].Bytes != 10 || res.Records[0].AccountID != "1" || res.Records[0].VpcID != "vpc-1" ||
		res.Records[0].LogStatus != flowlog.StatusOK || res.Records[0].Version != flowlog.Version || res.Records[1].LogStatus != flowlog.StatusNoData {
		t.Errorf("tenant records: %+v", res.Records)
	}
	if want := []FlowLogSkipped{{allowOnly.ID, 7}}; !slices.Equal(res.Skipped, want) {
		t.Errorf("Skipped = %v, want %v", res.Skipped, want)
	}
	if v, _ := s.DescribeFlowLogs(ctx, "1", FlowLogFilter{ID: allowOnly.ID}); len(v) != 1 || v[0].SkippedRecords != 7 {
		t.Errorf("DescribeFlowLogs counter: %+v", v)
	}
	adminRes, _ := s.DescribeFlowLogRecords(ctx, "0", FlowRecordQuery{Action: "reject"})
	if len(adminRes.Records) != 1 || adminRes.Records[0].Bytes != 30 {
		t.Errorf("admin records: %+v", adminRes.Records)
	}
	// Isolation: the tenant cannot name the admin's flow log.
	if _, err := s.DescribeFlowLogRecords(ctx, "1", FlowRecordQuery{FlowLogID: adminLog.ID}); !errs.HasCode(err, "InvalidFlowLogId.NotFound") {
		t.Errorf("tenant queries admin's flow log: %v", err)
	}
	b, err := os.ReadFile(file)
	if err != nil || strings.Count(string(b), "\n") != 1 || !strings.HasPrefix(string(b), "2 0 eni-1 10.0.0.1 10.0.0.2 1234 80 6 1 30 100 160 REJECT OK") {
		t.Errorf("file sink: %q %v", b, err)
	}
	top, err := s.DescribeFlowLogTopTalkers(ctx, "1", FlowRecordQuery{}, "flows", 5)
	if err != nil || len(top) != 1 || top[0].SrcAddr != "10.0.0.1" || top[0].Flows != 1 || top[0].Bytes != 10 {
		t.Errorf("top talkers: %+v %v", top, err)
	}
	if _, err := s.DescribeFlowLogTopTalkers(ctx, "1", FlowRecordQuery{}, "octets", 5); !errs.HasCode(err, "IllegalParam.By") {
		t.Errorf("bad By: %v", err)
	}
	for _, q := range []FlowRecordQuery{{Action: "DROP"}, {Src: "10.0.0.300"}, {Port: 70000}, {Since: 10, Until: 5}} {
		if _, err := s.DescribeFlowLogRecords(ctx, "1", q); err == nil {
			t.Errorf("query %+v accepted", q)
		}
	}
}

// TestIngestFlowRecordsOnce: a batch sent again with its ID (an agent that
// crashed after reporting it, before its checkpoint said so) is taken once:
// records, missed counts and sinks; a new ID is a new batch.
func TestIngestFlowRecordsOnce(t *testing.T) {
	s := flowFixture(t, Config{})
	ctx := context.Background()
	fl, err := s.CreateFlowLog(ctx, "1", flowInput("VPC", "vpc-1", "All"))
	if err != nil {
		t.Fatal(err)
	}
	rec := flowlog.Record{FlowLogID: fl.ID, ENIID: "eni-1", SrcAddr: "10.0.0.1", DstAddr: "10.0.0.2",
		SrcPort: 1234, DstPort: 80, Protocol: 6, Packets: 1, Bytes: 60, Start: 100, End: 160, Action: flowlog.ActionAccept}
	batch := flowlog.Batch{ID: "b-1", Records: []flowlog.Record{rec}, Missed: map[string]int64{fl.ID: 2}}
	for range 2 {
		if err := s.IngestFlowRecords(ctx, "0", "", batch); err != nil {
			t.Fatal(err)
		}
	}
	res, err := s.DescribeFlowLogRecords(ctx, "1", FlowRecordQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Records) != 1 || !slices.Equal(res.Skipped, []FlowLogSkipped{{fl.ID, 2}}) {
		t.Fatalf("after the same batch twice: %d records, %v skipped; want 1 and 2", len(res.Records), res.Skipped)
	}
	batch.ID = "b-2"
	if err := s.IngestFlowRecords(ctx, "0", "", batch); err != nil {
		t.Fatal(err)
	}
	if res, _ := s.DescribeFlowLogRecords(ctx, "1", FlowRecordQuery{}); len(res.Records) != 2 || !slices.Equal(res.Skipped, []FlowLogSkipped{{fl.ID, 4}}) {
		t.Errorf("a new batch: %d records, %v skipped; want 2 and 4", len(res.Records), res.Skipped)
	}
}

func TestRecentIDsForgetsOldest(t *testing.T) {
	r := newRecentIDs(2)
	for _, id := range []string{"a", "b", "c"} {
		r.add(id)
	}
	if r.seen("a") || !r.seen("b") || !r.seen("c") {
		t.Errorf("after a, b, c with room for 2: a=%v b=%v c=%v", r.seen("a"), r.seen("b"), r.seen("c"))
	}
}

func TestFlowLogModifyAndStatus(t *testing.T) {
	s := flowFixture(t, Config{FlowLogWindowScale: 30})
	ctx := context.Background()
	fl, err := s.CreateFlowLog(ctx, "1", flowInput("VPC", "vpc-1", "Drop"))
	if err != nil {
		t.Fatal(err)
	}
	name, one, none := "renamed", 1, IPFIXNone
	collector := "192.0.2.10:4739"
	if err := s.ModifyFlowLogAttribute(ctx, "1", fl.ID, ModifyFlowLogInput{Name: &name, AggregationInterval: &one, Sinks: FlowLogSinks{IPFIXCollector: &collector}}); err != nil {
		t.Fatal(err)
	}
	v, _ := s.DescribeFlowLogs(ctx, "1", FlowLogFilter{Name: "renamed"})
	if len(v) != 1 || v[0].AggregationInterval != 1 || v[0].WindowSeconds != 2 || v[0].IPFIXCollector != collector {
		t.Fatalf("after modify: %+v", v)
	}
	if err := s.ModifyFlowLogAttribute(ctx, "1", fl.ID, ModifyFlowLogInput{Sinks: FlowLogSinks{IPFIXCollector: &none}}); err != nil {
		t.Fatal(err)
	}
	five := 3
	if err := s.ModifyFlowLogAttribute(ctx, "1", fl.ID, ModifyFlowLogInput{AggregationInterval: &five}); !errs.HasCode(err, "IllegalParam.AggregationInterval") {
		t.Errorf("interval 3: %v", err)
	}
	for i, step := range []struct {
		fn   func(context.Context, string, string) error
		want string
	}{{s.DeactiveFlowLog, "Inactive"}, {s.DeactiveFlowLog, "Inactive"}, {s.ActiveFlowLog, "Active"}, {s.ActiveFlowLog, "Active"}} {
		if err := step.fn(ctx, "1", fl.ID); err != nil {
			t.Fatal(err)
		}
		v, _ := s.DescribeFlowLogs(ctx, "1", FlowLogFilter{ID: fl.ID})
		if v[0].Status != step.want || v[0].IPFIXCollector != "" {
			t.Errorf("step %d: %+v", i, v[0])
		}
	}
	// Agents mirror flow logs.
	_, recs, err := s.ExportState(ctx, "0", "")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range recs {
		if r.Key == model.PrefixFlowLog+fl.ID {
			var got model.FlowLog
			found = json.Unmarshal(r.Value, &got) == nil && got.WindowSeconds == 2
		}
		if strings.HasPrefix(r.Key, prefixFlowLogStats) {
			t.Errorf("counter mirrored to agents: %s", r.Key)
		}
	}
	if !found {
		t.Error("flow log not in the agents' state")
	}
	if err := s.DeleteFlowLog(ctx, "0", fl.ID); !errs.HasCode(err, "InvalidFlowLogId.NotFound") {
		t.Errorf("admin deletes tenant's flow log by ID: %v", err)
	}
	if err := s.DeleteFlowLog(ctx, "1", fl.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.ActiveFlowLog(ctx, "1", fl.ID); !errs.HasCode(err, "InvalidFlowLogId.NotFound") {
		t.Errorf("activate deleted: %v", err)
	}
}

func TestReconcileFlowLogWindows(t *testing.T) {
	st := memory.New()
	demo := New(st, Config{FlowLogWindowScale: 60})
	ctx := context.Background()
	if _, err := demo.update(ctx, func(tx store.Txn) error {
		if err := putJSON(tx, model.PrefixAccount+"1", model.Account{ID: "1"}); err != nil {
			return err
		}
		return putJSON(tx, model.PrefixVPC+"vpc-1", model.VPC{ID: "vpc-1", AccountID: "1"})
	}); err != nil {
		t.Fatal(err)
	}
	in := flowInput("VPC", "vpc-1", "All")
	in.AggregationInterval = 5
	fl, err := demo.CreateFlowLog(ctx, "1", in)
	if err != nil || fl.WindowSeconds != 5 {
		t.Fatalf("demo window: %+v %v", fl, err)
	}
	prod := New(st, Config{})
	if err := prod.ReconcileFlowLogWindows(ctx); err != nil {
		t.Fatal(err)
	}
	if v, _ := prod.DescribeFlowLogs(ctx, "1", FlowLogFilter{}); len(v) != 1 || v[0].WindowSeconds != 300 {
		t.Errorf("after restart without scale: %+v", v)
	}
	rev := st.Revision()
	if err := prod.ReconcileFlowLogWindows(ctx); err != nil || st.Revision() != rev {
		t.Errorf("second reconcile wrote: %v", err)
	}
}

// TestFlowLogFileSinkRestart: ModifyFlowLogAttribute validates FileSink as
// CreateFlowLog does, and a file sink keeps working after a restart: the
// new server reopens its own file, and setting that file again is fine.
func TestFlowLogFileSinkRestart(t *testing.T) {
	fs := newFileSinkFixture(t)
	st := memory.New()
	s := flowFixtureOn(t, st, Config{DataDir: fs.dataDir})
	ctx := context.Background()
	path := filepath.Join(filepath.Dir(fs.dataDir), "restart.log")
	in := flowInput("NetworkInterface", "eni-a", "All")
	in.Sinks.FileSink = &path
	fl, err := s.CreateFlowLog(ctx, "0", in)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{fs.passwd, filepath.Join(fs.dataDir, "palisade.db")} {
		if err := s.ModifyFlowLogAttribute(ctx, "0", fl.ID, ModifyFlowLogInput{Sinks: FlowLogSinks{FileSink: &p}}); !errs.HasCode(err, "IllegalParam.FileSink") {
			t.Errorf("modify FileSink to %s: %v", p, err)
		}
	}
	rec := flowlog.Record{FlowLogID: fl.ID, ENIID: "eni-a", SrcAddr: "10.0.0.1", DstAddr: "10.0.0.2",
		SrcPort: 1234, DstPort: 80, Protocol: 6, Packets: 1, Bytes: 60, Start: 100, End: 160, Action: flowlog.ActionAccept}
	if err := s.IngestFlowRecords(ctx, "0", "", flowlog.Batch{Records: []flowlog.Record{rec}}); err != nil {
		t.Fatal(err)
	}
	if err := s.CloseFlowLogs(); err != nil {
		t.Fatal(err)
	}
	restarted := New(st, Config{DataDir: fs.dataDir})
	defer restarted.CloseFlowLogs()
	if err := restarted.ModifyFlowLogAttribute(ctx, "0", fl.ID, ModifyFlowLogInput{Sinks: FlowLogSinks{FileSink: &path}}); err != nil {
		t.Errorf("setting the sink's own file again: %v", err)
	}
	if err := restarted.IngestFlowRecords(ctx, "0", "", flowlog.Batch{Records: []flowlog.Record{rec}}); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(path); err != nil || strings.Count(string(b), "\n") != 2 {
		t.Errorf("file sink after a restart: %q %v", b, err)
	}
}

// TestTopTalkersOverlappingFlowLogs: three flow logs over one ENI (its own,
// its vSwitch's and its VPC's) each keep a record of the same traffic;
// top talkers count that traffic once, however the query is scoped.
func TestTopTalkersOverlappingFlowLogs(t *testing.T) {
	s := flowFixture(t, Config{})
	ctx := context.Background()
	var logs []string
	for _, res := range [][2]string{{"NetworkInterface", "eni-1"}, {"VSwitch", "vsw-1"}, {"VPC", "vpc-1"}} {
		fl, err := s.CreateFlowLog(ctx, "1", flowInput(res[0], res[1], "All"))
		if err != nil {
			t.Fatal(err)
		}
		logs = append(logs, fl.ID)
	}
	// Three rejected SYNs (three source ports) into eni-1, as the agent
	// reports them: once per flow log that covers the ENI.
	var batch flowlog.Batch
	for _, fl := range logs {
		for port := range 3 {
			batch.Records = append(batch.Records, flowlog.Record{FlowLogID: fl, ENIID: "eni-1", Direction: flowlog.DirIn,
				SrcAddr: "192.0.2.9", DstAddr: "10.0.1.5", SrcPort: 40000 + port, DstPort: 22, Protocol: 6,
				Packets: 1, Bytes: 60, Start: 600, End: 600, Action: flowlog.ActionReject, TCPFlags: 2})
		}
	}
	// The same 5-tuple in another window: more traffic of the same flow.
	batch.Records = append(batch.Records, flowlog.Record{FlowLogID: logs[0], ENIID: "eni-1", Direction: flowlog.DirIn,
		SrcAddr: "192.0.2.9", DstAddr: "10.0.1.5", SrcPort: 40000, DstPort: 22, Protocol: 6,
		Packets: 1, Bytes: 60, Start: 1200, End: 1200, Action: flowlog.ActionReject, TCPFlags: 2})
	if err := s.IngestFlowRecords(ctx, "0", "", batch); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name           string
		q              FlowRecordQuery
		flows, packets int64
	}{
		{"all flow logs", FlowRecordQuery{Action: "REJECT"}, 3, 4},
		{"by ENI", FlowRecordQuery{ENIID: "eni-1", Action: "REJECT"}, 3, 4},
		{"by VPC", FlowRecordQuery{VpcID: "vpc-1"}, 3, 4},
		{"one window", FlowRecordQuery{Until: 1000}, 3, 3},
		{"ENI flow log", FlowRecordQuery{FlowLogID: logs[0]}, 3, 4},
		{"VPC flow log", FlowRecordQuery{FlowLogID: logs[2]}, 3, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			top, err := s.DescribeFlowLogTopTalkers(ctx, "1", tt.q, TopByFlows, 10)
			if err != nil {
				t.Fatal(err)
			}
			want := TopTalker{SrcAddr: "192.0.2.9", Flows: tt.flows, Packets: uint64(tt.packets), Bytes: 60 * uint64(tt.packets)}
			if len(top) != 1 || top[0] != want {
				t.Errorf("top talkers: %+v, want [%+v]", top, want)
			}
		})
	}
	// Each flow log keeps its own records.
	if res, err := s.DescribeFlowLogRecords(ctx, "1", FlowRecordQuery{}); err != nil || len(res.Records) != 10 {
		t.Errorf("records: %d %v, want 10", len(res.Records), err)
	}
}

// TestTopTalkersWindows: flow logs over one ENI with windows of other
// lengths (1, 5, 10 minutes; scaled ones that do not divide each other),
// active over all or part of the traffic, record it as the aggregator
// does; top talkers count every byte, packet and flow once.
func TestTopTalkersWindows(t *testing.T) {
	type logSpec struct {
		rt, id   string
		interval int
		from, to int64 // active span (0: from the start, to the end)
	}
	eni := func(interval int, from, to int64) logSpec {
		return logSpec{"NetworkInterface", "eni-1", interval, from, to}
	}
	vsw := func(interval int, from, to int64) logSpec { return logSpec{"VSwitch", "vsw-1", interval, from, to} }
	vpc := func(interval int, from, to int64) logSpec { return logSpec{"VPC", "vpc-1", interval, from, to} }
	const begin, end = 600, 1300 // the traffic is in [600, 1200)
	tests := []struct {
		name  string
		scale int
		logs  []logSpec
	}{
		{"equal windows", 1, []logSpec{eni(1, 0, 0), vpc(1, 0, 0)}},
		{"1, 5 and 10 minutes", 1, []logSpec{eni(1, 0, 0), vsw(5, 0, 0), vpc(10, 0, 0)}},
		{"10 minutes created midway", 1, []logSpec{eni(1, 0, 0), vpc(10, 900, 0)}},
		{"1 minute deactivated midway", 1, []logSpec{eni(1, 0, 850), vpc(10, 0, 0)}},
		{"handover at a boundary", 1, []logSpec{eni(1, 0, 900), vpc(5, 900, 0)}},
		{"windows that do not divide", 7, []logSpec{eni(1, 0, 0), vsw(5, 0, 0), vpc(10, 0, 0)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := flowFixture(t, Config{FlowLogWindowScale: tt.scale})
			ctx := context.Background()
			var logs []flowlog.Log
			for _, l := range tt.logs {
				fl, err := s.CreateFlowLog(ctx, "1", CreateFlowLogInput{ResourceType: l.rt, ResourceID: l.id, TrafficType: "All",
					ProjectName: "proj", LogStoreName: "store", AggregationInterval: l.interval})
				if err != nil {
					t.Fatal(err)
				}
				logs = append(logs, flowlog.Log{ID: fl.ID, AccountID: "1", TrafficType: "All", WindowSeconds: int64(fl.WindowSeconds),
					ENIs: []flowlog.ENI{{ID: "eni-1", VSwitchID: "vsw-1", VpcID: "vpc-1"}}})
			}
			// Every second: the flow logs active then, and the traffic:
			// a long flow of 10 packets (600 bytes) a minute, and a scan
			// of 5 ports, one rejected SYN each.
			agg := flowlog.NewAggregator()
			var recs []flowlog.Record
			active := ""
			for sec := int64(begin); sec < end; sec++ {
				var now []flowlog.Log
				var ids []string
				for i, l := range tt.logs {
					if (l.from == 0 || sec >= l.from) && (l.to == 0 || sec < l.to) {
						now = append(now, logs[i])
						ids = append(ids, logs[i].ID)
					}
				}
				if k := strings.Join(ids, ","); k != active {
					recs = append(recs, agg.SetLogs(now, time.Unix(sec, 0))...)
					active = k
				}
				if sec < 1200 && sec%60 == 30 {
					agg.Add(time.Unix(sec, 0), flowlog.Observation{ENI: "eni-1", Direction: flowlog.DirIn,
						Src: netip.MustParseAddr("192.0.2.9"), Dst: netip.MustParseAddr("10.0.1.5"), SrcPort: 40000, DstPort: 443,
						Proto: 6, Action: flowlog.ActionAccept, Packets: 10, Bytes: 600})
				}
				if sec < 1200 && sec%100 == 10 && sec/100 <= 10 {
					agg.Add(time.Unix(sec, 0), flowlog.Observation{ENI: "eni-1", Direction: flowlog.DirIn,
						Src: netip.MustParseAddr("198.51.100.7"), Dst: netip.MustParseAddr("10.0.1.5"), SrcPort: 50000, DstPort: uint16(sec / 100),
						Proto: 6, Action: flowlog.ActionReject, Packets: 1, Bytes: 60, First: sec, Last: sec})
				}
			}
			recs = append(recs, agg.Flush(time.Unix(end+900, 0)).Records...)
			recs = append(recs, agg.SetLogs(nil, time.Unix(end+900, 0))...)
			if err := s.IngestFlowRecords(ctx, "0", "", flowlog.Batch{Records: recs}); err != nil {
				t.Fatal(err)
			}
			want := []TopTalker{
				{SrcAddr: "192.0.2.9", Bytes: 6000, Packets: 100, Flows: 1},
				{SrcAddr: "198.51.100.7", Bytes: 300, Packets: 5, Flows: 5},
			}
			for _, q := range []FlowRecordQuery{{}, {VpcID: "vpc-1"}, {ENIID: "eni-1"}} {
				top, err := s.DescribeFlowLogTopTalkers(ctx, "1", q, TopByBytes, 10)
				if err != nil || !slices.Equal(top, want) {
					t.Errorf("query %+v: %+v %v\nwant %+v", q, top, err, want)
				}
			}
			// A flow log active all along saw it all, alone.
			for i, l := range tt.logs {
				if l.from != 0 || l.to != 0 {
					continue
				}
				top, err := s.DescribeFlowLogTopTalkers(ctx, "1", FlowRecordQuery{FlowLogID: logs[i].ID}, TopByBytes, 10)
				if err != nil || !slices.Equal(top, want) {
					t.Errorf("flow log %d alone: %+v %v\nwant %+v", i, top, err, want)
				}
			}
		})
	}
}

func TestDistinctTraffic(t *testing.T) {
	rec := func(fl string, srcPort int, start, end int64, bytes uint64) flowlog.Record {
		return flowlog.Record{FlowLogID: fl, ENIID: "eni-1", Direction: flowlog.DirIn, SrcAddr: "192.0.2.9", DstAddr: "10.0.1.5",
			SrcPort: srcPort, DstPort: 22, Protocol: 6, Packets: bytes / 60, Bytes: bytes, Start: start, End: end, Action: flowlog.ActionAccept}
	}
	// fl-1 and fl-2: 1-minute windows; fl-5: 5 minutes; fl-x: unknown.
	windows := map[string]int64{"fl-1": 60, "fl-2": 60, "fl-3": 60, "fl-5": 300}
	tests := []struct {
		name  string
		recs  []flowlog.Record
		want  trafficCount // summed over keys
		nkeys int
	}{
		{"same traffic in three flow logs", []flowlog.Record{rec("fl-1", 1, 0, 60, 60), rec("fl-2", 1, 0, 60, 60), rec("fl-3", 1, 0, 60, 60)},
			trafficCount{bytes: 60, packets: 1}, 1},
		{"a flow log that saw part of the window", []flowlog.Record{rec("fl-1", 1, 0, 60, 600), rec("fl-2", 1, 30, 60, 120)},
			trafficCount{bytes: 600, packets: 10}, 1},
		{"one flow log reporting a window in parts", []flowlog.Record{rec("fl-1", 1, 0, 60, 60), rec("fl-1", 1, 10, 20, 120), rec("fl-2", 1, 0, 60, 180)},
			trafficCount{bytes: 180, packets: 3}, 1},
		{"other port; the same flow in another window", []flowlog.Record{rec("fl-1", 1, 0, 60, 60), rec("fl-2", 2, 0, 60, 60), rec("fl-2", 1, 60, 120, 60)},
			trafficCount{bytes: 180, packets: 3}, 2},
		{"five 1-minute windows in one of 5 minutes", []flowlog.Record{rec("fl-1", 1, 0, 60, 60), rec("fl-1", 1, 60, 120, 60),
			rec("fl-1", 1, 120, 180, 60), rec("fl-1", 1, 180, 240, 60), rec("fl-1", 1, 240, 300, 60), rec("fl-5", 1, 0, 300, 300)},
			trafficCount{bytes: 300, packets: 5}, 1},
		{"5 minutes, then 1 minute after it", []flowlog.Record{rec("fl-5", 1, 0, 300, 300), rec("fl-1", 1, 300, 360, 60)},
			trafficCount{bytes: 360, packets: 6}, 1},
		{"a packet at the end of a 5-minute window's first minute", []flowlog.Record{rec("fl-5", 1, 10, 60, 120), rec("fl-1", 1, 10, 10, 60),
			rec("fl-1", 1, 60, 60, 60)}, trafficCount{bytes: 120, packets: 2}, 1},
		{"unknown window: the record's times", []flowlog.Record{rec("fl-x", 1, 10, 10, 60), rec("fl-x", 1, 10, 10, 60), rec("fl-1", 1, 10, 10, 60)},
			trafficCount{bytes: 120, packets: 2}, 1},
		{"nodata left out", []flowlog.Record{{FlowLogID: "fl-1", ENIID: "eni-1", LogStatus: flowlog.StatusNoData}}, trafficCount{}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := distinctTraffic(tt.recs, func(id string) int64 { return windows[id] })
			var sum trafficCount
			for _, c := range got {
				sum.bytes, sum.packets = sum.bytes+c.bytes, sum.packets+c.packets
			}
			if len(got) != tt.nkeys || sum != tt.want {
				t.Errorf("%d keys, %+v; want %d, %+v", len(got), sum, tt.nkeys, tt.want)
			}
		})
	}
}

// testClock is a settable clock for Config.Now.
type testClock struct{ t time.Time }

func (c *testClock) now() time.Time { return c.t }

// TestFlowRecordsOfDeletedFlowLog: a deleted flow log's records stay
// queryable by its ID, by its account (deleted by DeleteFlowLog or with its
// resource), with its counter; an unknown ID, another account's (live or
// deleted) and one whose tombstone outlived the retention are not found.
func TestFlowRecordsOfDeletedFlowLog(t *testing.T) {
	clock := &testClock{t: time.Now()} // the record store prunes by the real clock
	s := flowFixture(t, Config{Now: clock.now, FlowLogRetention: time.Hour})
	start := clock.t.Unix() - 120
	ctx := context.Background()
	create := func(acct, rt, id string) string {
		t.Helper()
		fl, err := s.CreateFlowLog(ctx, acct, flowInput(rt, id, "All"))
		if err != nil {
			t.Fatal(err)
		}
		return fl.ID
	}
	mine, mineVpc, mineEmpty := create("1", "NetworkInterface", "eni-1"), create("1", "VPC", "vpc-2"), create("1", "VSwitch", "vsw-1")
	adminGone, adminLive := create("0", "NetworkInterface", "eni-a"), create("0", "VPC", "vpc-a")
	rec := func(fl, acct string, port int) flowlog.Record {
		return flowlog.Record{FlowLogID: fl, AccountID: acct, ENIID: "eni-1", SrcAddr: "192.0.2.9", DstAddr: "10.0.1.5", SrcPort: 40000,
			DstPort: port, Protocol: 6, Packets: 1, Bytes: 60, Start: start, End: start + 60, Action: flowlog.ActionAccept}
	}
	if err := s.IngestFlowRecords(ctx, "0", "", flowlog.Batch{
		Records: []flowlog.Record{rec(mine, "1", 22), rec(mine, "1", 80), rec(mineVpc, "1", 443), rec(adminGone, "0", 22), rec(adminLive, "0", 22)},
		Missed:  map[string]int64{mine: 3},
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteFlowLog(ctx, "1", mine); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteFlowLog(ctx, "0", adminGone); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteFlowLog(ctx, "1", mineEmpty); err != nil {
		t.Fatal(err)
	}
	// The agent reports the window that was open at the deletion (taken,
	// with its missed count) and, having learnt late, a later one
	// (dropped).
	late := rec(mine, "1", 9999)
	late.Start, late.End = clock.t.Unix()+1200, clock.t.Unix()+1260
	if err := s.IngestFlowRecords(ctx, "0", "", flowlog.Batch{
		Records: []flowlog.Record{rec(mine, "1", 8080), late},
		Missed:  map[string]int64{mine: 2},
	}); err != nil {
		t.Fatal(err)
	}
	// A VPC deleted with ForceDelete takes its flow logs.
	if _, err := s.update(ctx, func(tx store.Txn) error { return deleteFlowLogsOn(tx, s.stamp(), "vpc-2") }); err != nil {
		t.Fatal(err)
	}
	if v, _ := s.DescribeFlowLogs(ctx, "1", FlowLogFilter{}); len(v) != 0 {
		t.Errorf("deleted flow logs listed: %+v", v)
	}
	tests := []struct {
		name, acct, id string
		ports          []int  // of the records, in order
		skipped        int64  // the flow log's counter
		code           string // error code, if any
	}{
		{"own, deleted", "1", mine, []int{22, 80, 8080}, 5, ""},
		{"own, deleted with its VPC", "1", mineVpc, []int{443}, 0, ""},
		{"own, deleted without records", "1", mineEmpty, nil, 0, ""},
		{"another account's, deleted", "1", adminGone, nil, 0, "InvalidFlowLogId.NotFound"},
		{"another account's, live", "1", adminLive, nil, 0, "InvalidFlowLogId.NotFound"},
		{"deleted, asked by another account", "0", mine, nil, 0, "InvalidFlowLogId.NotFound"},
		{"unknown", "1", "fl-nosuchflowlog00000", nil, 0, "InvalidFlowLogId.NotFound"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := s.DescribeFlowLogRecords(ctx, tt.acct, FlowRecordQuery{FlowLogID: tt.id})
			_, terr := s.DescribeFlowLogTopTalkers(ctx, tt.acct, FlowRecordQuery{FlowLogID: tt.id}, TopByBytes, 10)
			if tt.code != "" {
				if !errs.HasCode(err, tt.code) || !errs.HasCode(terr, tt.code) || len(res.Records) != 0 {
					t.Errorf("records %v, %v; top talkers %v; want %s", res.Records, err, terr, tt.code)
				}
				return
			}
			if err != nil || terr != nil {
				t.Fatal(err, terr)
			}
			var ports []int
			for _, r := range res.Records {
				ports = append(ports, r.DstPort)
			}
			if !slices.Equal(ports, tt.ports) || !slices.Equal(res.Skipped, []FlowLogSkipped{{tt.id, tt.skipped}}) {
				t.Errorf("ports %v, skipped %v; want %v, %d", ports, res.Skipped, tt.ports, tt.skipped)
			}
		})
	}
	// The tombstone of a deleted flow log is kept for the retention (and
	// a window), when its records are gone. Records that outlive it (or
	// predate tombstones) still make the ID the account's, and only its.
	clock.t = clock.t.Add(time.Hour + 2*sink.MaxWindow*time.Second)
	create("1", "NetworkInterface", "eni-1") // prunes
	if err := s.view(ctx, func(tx store.ReadTxn) error {
		return tx.List(prefixFlowLogGone, func(k string, _ []byte) error { t.Errorf("tombstone kept: %s", k); return nil })
	}); err != nil {
		t.Fatal(err)
	}
	if res, err := s.DescribeFlowLogRecords(ctx, "1", FlowRecordQuery{FlowLogID: mine}); err != nil || len(res.Records) != 3 || len(res.Skipped) != 0 {
		t.Errorf("records without a tombstone: %+v %v", res, err)
	}
	for _, c := range []struct{ acct, id string }{{"1", adminGone}, {"0", mine}} {
		if _, err := s.DescribeFlowLogRecords(ctx, c.acct, FlowRecordQuery{FlowLogID: c.id}); !errs.HasCode(err, "InvalidFlowLogId.NotFound") {
			t.Errorf("account %s, another's flow log without a tombstone: %v", c.acct, err)
		}
	}
}

// TestDeactivatedFlowLogWritesNothingMore: after DeactiveFlowLog, the
// window in progress completes and nothing later is taken, even from an
// agent that learns of the deactivation late; after ActiveFlowLog, windows
// that end after it are taken again.
func TestDeactivatedFlowLogWritesNothingMore(t *testing.T) {
	const w = 60
	tests := []struct {
		name       string
		deactivate float64 // Unix seconds
		activate   float64 // 0: not again
		// Window starts reported, and those that must be kept.
		windows, kept []int64
	}{
		{"mid-window", 1030, 0, []int64{960, 1020, 1080, 1140}, []int64{960, 1020}},
		{"just after a boundary", 1080.4, 0, []int64{1020, 1080, 1140}, []int64{1020, 1080}},
		{"on a boundary", 1080, 0, []int64{1020, 1080, 1140}, []int64{1020}},
		{"and activated again", 1030, 1210.5, []int64{1020, 1080, 1140, 1200, 1260}, []int64{1020, 1200, 1260}},
		{"and activated again on a boundary", 1030, 1200, []int64{1080, 1140, 1200}, []int64{1200}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := &testClock{t: time.Unix(900, 0)}
			s := flowFixture(t, Config{Now: clock.now})
			ctx := context.Background()
			in := flowInput("NetworkInterface", "eni-1", "All")
			in.AggregationInterval = 1
			fl, err := s.CreateFlowLog(ctx, "1", in)
			if err != nil {
				t.Fatal(err)
			}
			at := func(sec float64) time.Time { return time.Unix(0, int64(sec*1e9)) }
			clock.t = at(tt.deactivate)
			if err := s.DeactiveFlowLog(ctx, "1", fl.ID); err != nil {
				t.Fatal(err)
			}
			if tt.activate != 0 {
				clock.t = at(tt.activate)
				if err := s.ActiveFlowLog(ctx, "1", fl.ID); err != nil {
					t.Fatal(err)
				}
			}
			// What an agent reports late: per window, a NODATA record, or
			// traffic and a SKIPDATA record.
			var b flowlog.Batch
			for i, ws := range tt.windows {
				if i%2 == 0 {
					b.Records = append(b.Records, flowlog.Record{FlowLogID: fl.ID, ENIID: "eni-1", Start: ws, End: ws + w, LogStatus: flowlog.StatusNoData})
					continue
				}
				b.Records = append(b.Records,
					flowlog.Record{FlowLogID: fl.ID, ENIID: "eni-1", SrcAddr: "192.0.2.9", DstAddr: "10.0.1.5", SrcPort: 40000, DstPort: 22,
						Protocol: 6, Packets: 1, Bytes: 60, Start: ws + 5, End: ws + w, Action: flowlog.ActionAccept},
					flowlog.Record{FlowLogID: fl.ID, ENIID: "eni-1", Start: ws, End: ws + w, LogStatus: flowlog.StatusSkipData})
			}
			if err := s.IngestFlowRecords(ctx, "0", "", b); err != nil {
				t.Fatal(err)
			}
			res, err := s.DescribeFlowLogRecords(ctx, "1", FlowRecordQuery{FlowLogID: fl.ID})
			if err != nil {
				t.Fatal(err)
			}
			var got []int64
			for _, r := range res.Records {
				if ws := r.Start - r.Start%w; !slices.Contains(got, ws) {
					got = append(got, ws)
				}
			}
			if !slices.Equal(got, tt.kept) {
				t.Errorf("windows kept %v, want %v", got, tt.kept)
			}
		})
	}
}

// TestDeactivationReportedLate: the agent learns of a deactivation after a
// window boundary; the window in progress at the deactivation is complete,
// the NODATA window the agent emits on learning is not taken.
func TestDeactivationReportedLate(t *testing.T) {
	clock := &testClock{t: time.Unix(900, 0)}
	s := flowFixture(t, Config{Now: clock.now})
	ctx := context.Background()
	in := flowInput("NetworkInterface", "eni-1", "All")
	in.AggregationInterval = 1
	fl, err := s.CreateFlowLog(ctx, "1", in)
	if err != nil {
		t.Fatal(err)
	}
	logs := []flowlog.Log{{ID: fl.ID, AccountID: "1", TrafficType: "All", WindowSeconds: int64(fl.WindowSeconds), ENIs: []flowlog.ENI{{ID: "eni-1"}}}}
	agg := flowlog.NewAggregator()
	agg.SetLogs(logs, time.Unix(1000, 0))
	agg.Add(time.Unix(1025, 0), flowlog.Observation{ENI: "eni-1", Direction: flowlog.DirIn, Src: netip.MustParseAddr("192.0.2.9"),
		Dst: netip.MustParseAddr("10.0.1.5"), SrcPort: 40000, DstPort: 22, Proto: 6, Action: flowlog.ActionAccept, Packets: 1, Bytes: 60})
	clock.t = time.Unix(1030, 0)
	if err := s.DeactiveFlowLog(ctx, "1", fl.ID); err != nil {
		t.Fatal(err)
	}
	var b flowlog.Batch
	b.Records = append(b.Records, agg.Flush(time.Unix(1080, 0)).Records...) // [960, 1020) NODATA, [1020, 1080) traffic
	b.Records = append(b.Records, agg.SetLogs(nil, time.Unix(1100, 0))...)  // learns: [1080, 1140) NODATA
	if err := s.IngestFlowRecords(ctx, "0", "", b); err != nil {
		t.Fatal(err)
	}
	res, err := s.DescribeFlowLogRecords(ctx, "1", FlowRecordQuery{FlowLogID: fl.ID})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range res.Records {
		got = append(got, fmt.Sprintf("%d %s", r.Start, r.LogStatus))
	}
	if want := []string{"960 NODATA", "1020 OK"}; !slices.Equal(got, want) {
		t.Errorf("records %v, want %v", got, want)
	}
}

// TestSkippedRecordsPerFlowLog: the SKIPDATA counters of flow logs over the
// same ENI count the same misses: they are given per flow log in scope,
// never summed.
func TestSkippedRecordsPerFlowLog(t *testing.T) {
	s := flowFixture(t, Config{})
	ctx := context.Background()
	var ids []string
	for _, r := range [][2]string{{"NetworkInterface", "eni-1"}, {"VPC", "vpc-1"}, {"VPC", "vpc-2"}} {
		fl, err := s.CreateFlowLog(ctx, "1", flowInput(r[0], r[1], "All"))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, fl.ID)
	}
	eniLog, vpcLog, otherLog := ids[0], ids[1], ids[2]
	var b flowlog.Batch
	for _, id := range []string{eniLog, vpcLog} {
		b.Records = append(b.Records, flowlog.Record{FlowLogID: id, ENIID: "eni-1", Start: 600, End: 660, LogStatus: flowlog.StatusSkipData})
	}
	b.Records = append(b.Records, flowlog.Record{FlowLogID: otherLog, ENIID: "eni-9", Start: 1200, End: 1260, LogStatus: flowlog.StatusNoData})
	b.Missed = map[string]int64{eniLog: 5, vpcLog: 5, otherLog: 2} // the same 5 misses on eni-1
	if err := s.IngestFlowRecords(ctx, "0", "", b); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		q    FlowRecordQuery
		want []FlowLogSkipped
	}{
		{"all", FlowRecordQuery{}, []FlowLogSkipped{{eniLog, 5}, {vpcLog, 5}, {otherLog, 2}}},
		{"by ENI", FlowRecordQuery{ENIID: "eni-1"}, []FlowLogSkipped{{eniLog, 5}, {vpcLog, 5}}},
		{"by VPC", FlowRecordQuery{VpcID: "vpc-2"}, []FlowLogSkipped{{otherLog, 2}}},
		{"by flow log", FlowRecordQuery{FlowLogID: vpcLog}, []FlowLogSkipped{{vpcLog, 5}}},
		{"by flow log, no record in range", FlowRecordQuery{FlowLogID: eniLog, Since: 5000}, []FlowLogSkipped{{eniLog, 5}}},
		{"no record", FlowRecordQuery{Since: 5000}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := s.DescribeFlowLogRecords(ctx, "1", tt.q)
			if err != nil {
				t.Fatal(err)
			}
			want := slices.Clone(tt.want)
			slices.SortFunc(want, func(a, b FlowLogSkipped) int { return strings.Compare(a.FlowLogID, b.FlowLogID) })
			if !slices.Equal(res.Skipped, want) {
				t.Errorf("skipped %v, want %v", res.Skipped, want)
			}
		})
	}
}
