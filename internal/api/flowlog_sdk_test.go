package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/vpc"

	"github.com/palisade-project/palisade/internal/api"
	"github.com/palisade-project/palisade/internal/apiclient"
	"github.com/palisade-project/palisade/internal/apitest"
	"github.com/palisade-project/palisade/internal/errs"
	"github.com/palisade-project/palisade/internal/flowlog"
	"github.com/palisade-project/palisade/internal/remote"
	"github.com/palisade-project/palisade/internal/service"
)

func createENI(t *testing.T, c *ecs.Client, vsw, sg string) string {
	t.Helper()
	req := ecs.CreateCreateNetworkInterfaceRequest()
	req.VSwitchId, req.SecurityGroupId = vsw, sg
	resp, err := c.CreateNetworkInterface(req)
	if err != nil {
		t.Fatalf("CreateNetworkInterface: %v", err)
	}
	return resp.NetworkInterfaceId
}

func createFlowLog(t *testing.T, c *vpc.Client, rt, id, traffic, name string) string {
	t.Helper()
	req := vpc.CreateCreateFlowLogRequest()
	req.ResourceType, req.ResourceId, req.TrafficType, req.FlowLogName = rt, id, traffic, name
	req.ProjectName, req.LogStoreName = "flow-project", "flow_store"
	resp, err := c.CreateFlowLog(req)
	if err != nil {
		t.Fatalf("CreateFlowLog: %v", err)
	}
	if !strings.HasPrefix(resp.FlowLogId, "fl-") || resp.Success != "true" {
		t.Fatalf("CreateFlowLog: %+v", resp)
	}
	return resp.FlowLogId
}

func describeFlowLog(t *testing.T, c *vpc.Client, id string) vpc.FlowLog {
	t.Helper()
	req := vpc.CreateDescribeFlowLogsRequest()
	req.FlowLogId = id
	resp, err := c.DescribeFlowLogs(req)
	if err != nil || resp.TotalCount != "1" || len(resp.FlowLogs.FlowLog) != 1 {
		t.Fatalf("DescribeFlowLogs %s: %v %+v", id, err, resp)
	}
	return resp.FlowLogs.FlowLog[0]
}

func TestFlowLogLifecycleSDK(t *testing.T) {
	env := apitest.Start(t)
	c := env.VPC(t, env.Admin)
	n := newNet(t, env, env.Admin, "10.0.0.0/16", "10.0.1.0/24")
	eni := createENI(t, env.ECS(t, env.Admin), n.vsw, n.sg)

	onENI := createFlowLog(t, c, "NetworkInterface", eni, "All", "eni-log")
	onVsw := createFlowLog(t, c, "VSwitch", n.vsw, "Drop", "vsw-log")
	onVpc := createFlowLog(t, c, "VPC", n.vpc, "Allow", "vpc-log")

	f := describeFlowLog(t, c, onENI)
	if f.Status != "Active" || f.ResourceType != "NetworkInterface" || f.ResourceId != eni || f.TrafficType != "All" ||
		f.AggregationInterval != 10 || f.ProjectName != "flow-project" || f.LogStoreName != "flow_store" || f.RegionId != apitest.Region ||
		f.FlowLogName != "eni-log" || f.CreationTime == "" {
		t.Errorf("flow log: %+v", f)
	}

	// Filters and paging.
	list := func(mod func(*vpc.DescribeFlowLogsRequest)) []string {
		t.Helper()
		req := vpc.CreateDescribeFlowLogsRequest()
		mod(req)
		resp, err := c.DescribeFlowLogs(req)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, f := range resp.FlowLogs.FlowLog {
			ids = append(ids, f.FlowLogId)
		}
		return ids
	}
	filters := []struct {
		name string
		mod  func(*vpc.DescribeFlowLogsRequest)
		want []string
	}{
		{"all, creation order", func(*vpc.DescribeFlowLogsRequest) {}, []string{onENI, onVsw, onVpc}},
		{"by vpc", func(r *vpc.DescribeFlowLogsRequest) { r.VpcId = n.vpc }, []string{onENI, onVsw, onVpc}},
		{"by resource", func(r *vpc.DescribeFlowLogsRequest) { r.ResourceId = n.vsw }, []string{onVsw}},
		{"by type", func(r *vpc.DescribeFlowLogsRequest) { r.ResourceType = "VPC" }, []string{onVpc}},
		{"by traffic", func(r *vpc.DescribeFlowLogsRequest) { r.TrafficType = "Drop" }, []string{onVsw}},
		{"by name", func(r *vpc.DescribeFlowLogsRequest) { r.FlowLogName = "eni-log" }, []string{onENI}},
		{"page 2 of size 2", func(r *vpc.DescribeFlowLogsRequest) {
			r.PageNumber, r.PageSize = requests.NewInteger(2), requests.NewInteger(2)
		}, []string{onVpc}},
		{"no match", func(r *vpc.DescribeFlowLogsRequest) { r.FlowLogId = "fl-nope" }, nil},
	}
	for _, tc := range filters {
		if got := list(tc.mod); fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}

	mod := vpc.CreateModifyFlowLogAttributeRequest()
	mod.FlowLogId, mod.FlowLogName, mod.Description, mod.AggregationInterval = onENI, "renamed", "edge", requests.NewInteger(1)
	if _, err := c.ModifyFlowLogAttribute(mod); err != nil {
		t.Fatal(err)
	}
	if f := describeFlowLog(t, c, onENI); f.FlowLogName != "renamed" || f.Description != "edge" || f.AggregationInterval != 1 {
		t.Errorf("after modify: %+v", f)
	}

	deact := vpc.CreateDeactiveFlowLogRequest()
	deact.FlowLogId = onENI
	for range 2 { // idempotent
		if resp, err := c.DeactiveFlowLog(deact); err != nil || resp.Success != "true" {
			t.Fatalf("DeactiveFlowLog: %v %+v", err, resp)
		}
	}
	if f := describeFlowLog(t, c, onENI); f.Status != "Inactive" {
		t.Errorf("after deactivate: %s", f.Status)
	}
	if got := list(func(r *vpc.DescribeFlowLogsRequest) { r.Status = "Inactive" }); fmt.Sprint(got) != fmt.Sprint([]string{onENI}) {
		t.Errorf("by status: %v", got)
	}
	act := vpc.CreateActiveFlowLogRequest()
	act.FlowLogId = onENI
	if _, err := c.ActiveFlowLog(act); err != nil {
		t.Fatal(err)
	}
	if f := describeFlowLog(t, c, onENI); f.Status != "Active" {
		t.Errorf("after activate: %s", f.Status)
	}

	// A covered vSwitch cannot be deleted; the flow log first.
	delVsw := vpc.CreateDeleteVSwitchRequest()
	delVsw.VSwitchId = n.vsw
	if _, err := c.DeleteVSwitch(delVsw); err == nil {
		t.Error("deleted a vSwitch a flow log covers")
	} else if st, code := apitest.ServerErr(t, err); st != 403 || code != "DependencyViolation" {
		t.Errorf("delete covered vSwitch: %d %s", st, code)
	}
	del := vpc.CreateDeleteFlowLogRequest()
	del.FlowLogId = onVsw
	if resp, err := c.DeleteFlowLog(del); err != nil || resp.Success != "true" {
		t.Fatalf("DeleteFlowLog: %v", err)
	}
	if got := list(func(*vpc.DescribeFlowLogsRequest) {}); fmt.Sprint(got) != fmt.Sprint([]string{onENI, onVpc}) {
		t.Errorf("after delete: %v", got)
	}
	// Deleting the ENI deletes its flow log.
	delENI := ecs.CreateDeleteNetworkInterfaceRequest()
	delENI.NetworkInterfaceId = eni
	if _, err := env.ECS(t, env.Admin).DeleteNetworkInterface(delENI); err != nil {
		t.Fatal(err)
	}
	if got := list(func(*vpc.DescribeFlowLogsRequest) {}); fmt.Sprint(got) != fmt.Sprint([]string{onVpc}) {
		t.Errorf("after ENI deletion: %v", got)
	}
}

func TestFlowLogBadInputSDK(t *testing.T) {
	q := service.DefaultQuotas()
	q.FlowLogsPerAccount = 1
	env := apitest.Start(t, apitest.WithQuotas(q))
	n := newNet(t, env, env.Admin, "10.0.0.0/16", "10.0.1.0/24")
	fl := createFlowLog(t, env.VPC(t, env.Admin), "VPC", n.vpc, "All", "one")
	bob := env.NewAccount(t, "bob")
	bobNet := newNet(t, env, bob, "10.0.0.0/16", "10.0.1.0/24")
	create := func(kv ...string) map[string]string {
		m := map[string]string{"ResourceType": "VSwitch", "ResourceId": bobNet.vsw, "TrafficType": "All", "ProjectName": "proj", "LogStoreName": "store"}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "" {
				delete(m, kv[i])
			} else {
				m[kv[i]] = kv[i+1]
			}
		}
		return m
	}
	tests := []struct {
		name, action string
		who          apitest.Creds
		params       map[string]string
		status       int
		code         string
	}{
		{"no resource type", "CreateFlowLog", bob, create("ResourceType", ""), 400, "MissingParameter"},
		{"bad resource type", "CreateFlowLog", bob, create("ResourceType", "Instance"), 400, "IllegalParam.ResourceType"},
		{"no resource id", "CreateFlowLog", bob, create("ResourceId", ""), 400, "MissingParameter"},
		{"unknown vswitch", "CreateFlowLog", bob, create("ResourceId", "vsw-nope"), 404, "InvalidVSwitchId.NotFound"},
		{"admin's vpc", "CreateFlowLog", bob, create("ResourceType", "VPC", "ResourceId", n.vpc), 404, "InvalidVpcId.NotFound"},
		{"no traffic type", "CreateFlowLog", bob, create("TrafficType", ""), 400, "MissingParameter"},
		{"bad traffic type", "CreateFlowLog", bob, create("TrafficType", "ACCEPT"), 400, "IllegalParam.TrafficType"},
		{"no project", "CreateFlowLog", bob, create("ProjectName", ""), 400, "MissingParameter"},
		{"bad project", "CreateFlowLog", bob, create("ProjectName", "My Project"), 400, "IllegalParam.ProjectName"},
		{"no logstore", "CreateFlowLog", bob, create("LogStoreName", ""), 400, "MissingParameter"},
		{"bad logstore", "CreateFlowLog", bob, create("LogStoreName", "ab"), 400, "IllegalParam.LogStoreName"},
		{"long name", "CreateFlowLog", bob, create("FlowLogName", strings.Repeat("n", 129)), 400, "IllegalParam.FlowLogName"},
		{"long description", "CreateFlowLog", bob, create("Description", strings.Repeat("d", 257)), 400, "IllegalParam.Description"},
		{"interval 0", "CreateFlowLog", bob, create("AggregationInterval", "0"), 400, "IllegalParam.AggregationInterval"},
		{"interval 15", "CreateFlowLog", bob, create("AggregationInterval", "15"), 400, "IllegalParam.AggregationInterval"},
		{"interval text", "CreateFlowLog", bob, create("AggregationInterval", "ten"), 400, "InvalidParameter"},
		{"tenant file sink", "CreateFlowLog", bob, create("FileSink", "/tmp/flows.log"), 403, "Forbidden.FileSink"},
		{"relative file sink", "CreateFlowLog", env.Admin, create("ResourceId", n.vsw, "FileSink", "flows.log"), 400, "IllegalParam.FileSink"},
		{"bad file format", "CreateFlowLog", bob, create("FileFormat", "csv"), 400, "IllegalParam.FileFormat"},
		{"bad collector", "CreateFlowLog", bob, create("IpfixCollector", "collector"), 400, "IllegalParam.IpfixCollector"},
		{"quota", "CreateFlowLog", env.Admin, create("ResourceId", n.vsw), 403, "QuotaExceeded.FlowLog"},
		{"modify no id", "ModifyFlowLogAttribute", env.Admin, map[string]string{"FlowLogName": "x"}, 400, "MissingParameter"},
		{"modify unknown", "ModifyFlowLogAttribute", env.Admin, map[string]string{"FlowLogId": "fl-nope", "FlowLogName": "x"}, 404, "InvalidFlowLogId.NotFound"},
		{"modify interval", "ModifyFlowLogAttribute", env.Admin, map[string]string{"FlowLogId": fl, "AggregationInterval": "2"}, 400, "IllegalParam.AggregationInterval"},
		{"modify name", "ModifyFlowLogAttribute", env.Admin, map[string]string{"FlowLogId": fl, "FlowLogName": "https://x"}, 400, "IllegalParam.FlowLogName"},
		{"activate no id", "ActiveFlowLog", env.Admin, map[string]string{}, 400, "MissingParameter"},
		{"deactivate unknown", "DeactiveFlowLog", env.Admin, map[string]string{"FlowLogId": "fl-nope"}, 404, "InvalidFlowLogId.NotFound"},
		{"delete unknown", "DeleteFlowLog", env.Admin, map[string]string{"FlowLogId": "fl-nope"}, 404, "InvalidFlowLogId.NotFound"},
		{"delete covered vpc", "DeleteVpc", env.Admin, map[string]string{"VpcId": n.vpc}, 403, "DependencyViolation"},
		{"describe bad page", "DescribeFlowLogs", env.Admin, map[string]string{"PageSize": "101"}, 400, "InvalidParameter"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := env.Snapshot(t)
			_, err := env.Common(t, tc.who, api.VersionVPC, tc.action, tc.params)
			if err == nil {
				t.Fatalf("%s %v succeeded", tc.action, tc.params)
			}
			st, code := apitest.ServerErr(t, err)
			if code != tc.code || st != tc.status {
				t.Errorf("%s: got %d %s, want %d %s (%v)", tc.action, st, code, tc.status, tc.code, err)
			}
			if after := env.Snapshot(t); !maps.Equal(before, after) {
				t.Errorf("%s changed the store on error", tc.action)
			}
		})
	}

	// Isolation: bob sees none of the admin's flow logs and cannot touch them.
	before := env.Snapshot(t)
	for _, action := range []string{"ModifyFlowLogAttribute", "ActiveFlowLog", "DeactiveFlowLog", "DeleteFlowLog"} {
		_, err := env.Common(t, bob, api.VersionVPC, action, map[string]string{"FlowLogId": fl, "FlowLogName": "pwned"})
		if st, code := apitest.ServerErr(t, err); st != 404 || code != "InvalidFlowLogId.NotFound" {
			t.Errorf("bob %s: %d %s", action, st, code)
		}
	}
	if out, err := env.Common(t, bob, api.VersionVPC, "DescribeFlowLogs", map[string]string{"FlowLogId": fl}); err != nil || out["TotalCount"] != "0" {
		t.Errorf("bob lists the admin's flow log: %v %v", out, err)
	}
	if _, err := env.Common(t, bob, api.VersionPalisade, "DescribeFlowLogRecords", map[string]string{"FlowLogId": fl}); err == nil {
		t.Error("bob queried the admin's records")
	} else if _, code := apitest.ServerErr(t, err); code != "InvalidFlowLogId.NotFound" {
		t.Errorf("bob records: %s", code)
	}
	if after := env.Snapshot(t); !maps.Equal(before, after) {
		t.Error("bob changed the store")
	}
}

func TestFlowLogRecordsAPI(t *testing.T) {
	env := apitest.Start(t)
	n := newNet(t, env, env.Admin, "10.0.0.0/16", "10.0.1.0/24")
	fl := createFlowLog(t, env.VPC(t, env.Admin), "VPC", n.vpc, "All", "all")
	bob := env.NewAccount(t, "bob")
	bobNet := newNet(t, env, bob, "10.0.0.0/16", "10.0.1.0/24")
	bobFl := createFlowLog(t, env.VPC(t, bob), "VSwitch", bobNet.vsw, "Drop", "drops")

	now := time.Now().Unix()
	r := func(flID, src, dst string, dport int, action string, bytes uint64) flowlog.Record {
		return flowlog.Record{FlowLogID: flID, ENIID: "eni-x", SrcAddr: src, DstAddr: dst, SrcPort: 40000, DstPort: dport,
			Protocol: 6, Direction: flowlog.DirIn, Packets: bytes / 100, Bytes: bytes, Start: now - 120, End: now - 60, Action: action}
	}
	batch := flowlog.Batch{
		Records: []flowlog.Record{
			r(fl, "192.0.2.1", "10.0.1.5", 443, flowlog.ActionAccept, 5000),
			r(fl, "192.0.2.1", "10.0.1.5", 22, flowlog.ActionReject, 300),
			r(fl, "192.0.2.2", "10.0.1.5", 22, flowlog.ActionReject, 200),
			r(fl, "192.0.2.2", "10.0.1.6", 22, flowlog.ActionReject, 100),
			r(bobFl, "198.51.100.7", "10.0.1.9", 3389, flowlog.ActionReject, 60),
			r(bobFl, "198.51.100.7", "10.0.1.9", 80, flowlog.ActionAccept, 999), // bob logs drops only
		},
		Missed: map[string]int64{bobFl: 4},
	}
	js, _ := json.Marshal(batch)
	// Only the admin reports records.
	if _, err := env.Common(t, bob, api.VersionPalisade, "PalisadeReportFlowRecords", map[string]string{"Batch": string(js)}); err == nil {
		t.Fatal("bob reported flow records")
	} else if st, code := apitest.ServerErr(t, err); st != 403 || code != "Forbidden.NotAdmin" {
		t.Errorf("bob reports: %d %s", st, code)
	}
	for _, bad := range []string{"", "{", `{"records":[],"extra":1}`} {
		if _, err := env.Common(t, env.Admin, api.VersionPalisade, "PalisadeReportFlowRecords", map[string]string{"Batch": bad}); err == nil {
			t.Errorf("batch %q accepted", bad)
		}
	}
	// Through the remote agent's mirror (apiclient), in more than one call.
	cl, err := apiclient.New(apiclient.Options{Endpoint: env.Endpoint, AccessKeyID: env.Admin.AccessKeyID, AccessKeySecret: env.Admin.Secret})
	if err != nil {
		t.Fatal(err)
	}
	m := remote.New(cl, "local-a", nil)
	if err := m.ReportFlowRecords(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	var many []flowlog.Record
	for i := range 1100 {
		many = append(many, r(fl, fmt.Sprintf("203.0.113.%d", i%200), "10.0.1.5", 8080, flowlog.ActionAccept, 1))
	}
	if err := m.ReportFlowRecords(context.Background(), flowlog.Batch{Records: many}); err != nil {
		t.Fatal(err)
	}

	call := func(who apitest.Creds, action string, p map[string]string) map[string]any {
		t.Helper()
		out, err := env.Common(t, who, api.VersionPalisade, action, p)
		if err != nil {
			t.Fatalf("%s %v: %v", action, p, err)
		}
		return out
	}
	records := func(out map[string]any) []map[string]any {
		var res []map[string]any
		rs, _ := out["Records"].(map[string]any)
		list, _ := rs["Record"].([]any)
		for _, x := range list {
			res = append(res, x.(map[string]any))
		}
		return res
	}
	total := func(out map[string]any) int { f, _ := out["TotalCount"].(float64); return int(f) }
	if got := total(call(env.Admin, "DescribeFlowLogRecords", nil)); got != 1104 {
		t.Errorf("admin total %d, want 1104", got)
	}
	tests := []struct {
		name   string
		params map[string]string
		want   int
	}{
		{"reject", map[string]string{"RecordAction": "REJECT", "PageSize": "1000"}, 3},
		{"src cidr", map[string]string{"SrcAddr": "192.0.2.0/31"}, 2},
		{"dst host", map[string]string{"DstAddr": "10.0.1.6"}, 1},
		{"port", map[string]string{"Port": "443"}, 1},
		{"since rfc3339", map[string]string{"Since": time.Unix(now-30, 0).UTC().Format(time.RFC3339)}, 0},
		{"until unix", map[string]string{"Until": fmt.Sprint(now - 60)}, 1104},
		{"flow log", map[string]string{"FlowLogId": fl, "Port": "22"}, 3},
		{"vpc", map[string]string{"VpcId": n.vpc, "Port": "22"}, 3},
	}
	for _, tc := range tests {
		if got := total(call(env.Admin, "DescribeFlowLogRecords", tc.params)); got != tc.want {
			t.Errorf("%s: %d records, want %d", tc.name, got, tc.want)
		}
	}
	page := call(env.Admin, "DescribeFlowLogRecords", map[string]string{"MaxResults": "2", "RecordAction": "REJECT"})
	if len(records(page)) != 2 || page["NextToken"] == nil {
		t.Errorf("token paging: %v", page)
	}
	// An offset is no token, nor is another action's token.
	for _, bad := range []string{"2", "azF8RGVzY3JpYmVJbnN0YW5jZXN8MXwx"} {
		_, err := env.Common(t, env.Admin, api.VersionPalisade, "DescribeFlowLogRecords", map[string]string{"NextToken": bad})
		if st, code := apitest.ServerErr(t, err); st != 400 || code != "InvalidNextToken.Malformed" {
			t.Errorf("NextToken %q: %d %s", bad, st, code)
		}
	}
	// A walk with NextToken while records arrive: three after the cursor
	// (same start, later arrival) and one before it (an earlier start).
	// The walk holds every record once, in order, and the one before the
	// cursor not at all; with an offset token it would shift the rest
	// and repeat a record.
	early := r(fl, "198.18.99.1", "10.0.1.5", 8080, flowlog.ActionAccept, 1)
	early.Start, early.End = now-180, now-150
	var walk []string
	token := ""
	for i := 0; ; i++ {
		p := map[string]string{"MaxResults": "500"}
		if token != "" {
			p["NextToken"] = token
		}
		out := call(env.Admin, "DescribeFlowLogRecords", p)
		for _, rec := range records(out) {
			js, _ := json.Marshal(rec)
			walk = append(walk, string(js))
		}
		if i == 0 {
			if err := m.ReportFlowRecords(context.Background(), flowlog.Batch{Records: append(slices.Clone(many[:3]), early)}); err != nil {
				t.Fatal(err)
			}
		}
		next, _ := out["NextToken"].(string)
		if next == "" {
			break
		}
		token = next
	}
	var paged []string
	for n := 1; n <= 2; n++ {
		for _, rec := range records(call(env.Admin, "DescribeFlowLogRecords", map[string]string{"PageSize": "1000", "PageNumber": fmt.Sprint(n)})) {
			if rec["srcaddr"] == early.SrcAddr {
				continue
			}
			js, _ := json.Marshal(rec)
			paged = append(paged, string(js))
		}
	}
	if len(walk) != 1107 || !slices.Equal(walk, paged) {
		t.Errorf("token walk: %d records, equal to the pages %v; want 1107 (1104 and 3 that arrived after the cursor during the walk)", len(walk), slices.Equal(walk, paged))
	}
	rec := records(call(env.Admin, "DescribeFlowLogRecords", map[string]string{"Port": "443"}))[0]
	for k, want := range map[string]any{"srcaddr": "192.0.2.1", "dstport": float64(443), "action": "ACCEPT", "vpc-id": n.vpc,
		"account-id": env.Admin.AccountID, "log-status": "OK", "flow-log-id": fl, "bytes": float64(5000)} {
		if rec[k] != want {
			t.Errorf("record field %s = %v, want %v", k, rec[k], want)
		}
	}
	// Bob sees his rejected record only (his flow log logs Drop), and his
	// counter: per flow log, and as SkippedRecords when he names it.
	bobOut := call(bob, "DescribeFlowLogRecords", nil)
	perLog := func(out map[string]any) []any {
		m, _ := out["SkippedRecordsByFlowLog"].(map[string]any)
		l, _ := m["FlowLog"].([]any)
		return l
	}
	if bobRecs := records(bobOut); len(bobRecs) != 1 || bobRecs[0]["dstport"] != float64(3389) {
		t.Errorf("bob records: %v", bobOut)
	}
	if l := perLog(bobOut); len(l) != 1 || l[0].(map[string]any)["FlowLogId"] != bobFl || l[0].(map[string]any)["SkippedRecords"] != float64(4) {
		t.Errorf("bob's counters: %v", bobOut)
	}
	if _, ok := bobOut["SkippedRecords"]; ok {
		t.Errorf("SkippedRecords without FlowLogId: %v", bobOut)
	}
	if out := call(bob, "DescribeFlowLogRecords", map[string]string{"FlowLogId": bobFl}); out["SkippedRecords"] != float64(4) || len(perLog(out)) != 1 {
		t.Errorf("bob's records by flow log: %v", out)
	}
	out, err := env.Common(t, bob, api.VersionVPC, "DescribeFlowLogs", nil)
	if err != nil {
		t.Fatal(err)
	}
	if fls := out["FlowLogs"].(map[string]any)["FlowLog"].([]any); fls[0].(map[string]any)["SkippedRecords"] != float64(4) {
		t.Errorf("DescribeFlowLogs SkippedRecords: %v", fls)
	}

	top := call(env.Admin, "DescribeFlowLogTopTalkers", map[string]string{"By": "bytes", "RecordAction": "REJECT", "Limit": "1"})
	tl := top["TopTalkers"].(map[string]any)["TopTalker"].([]any)
	if len(tl) != 1 || tl[0].(map[string]any)["SrcAddr"] != "192.0.2.1" || tl[0].(map[string]any)["Bytes"] != float64(300) {
		t.Errorf("top rejected by bytes: %v", top)
	}
	top = call(env.Admin, "DescribeFlowLogTopTalkers", map[string]string{"By": "flows", "RecordAction": "REJECT"})
	tl = top["TopTalkers"].(map[string]any)["TopTalker"].([]any)
	if len(tl) != 2 || tl[0].(map[string]any)["SrcAddr"] != "192.0.2.2" || tl[0].(map[string]any)["Flows"] != float64(2) {
		t.Errorf("top rejected by flows: %v", top)
	}

	// A deleted flow log's records stay queryable by its ID, by its
	// account only: the admin asking for it is told it does not exist.
	if _, err := env.Common(t, bob, api.VersionVPC, "DeleteFlowLog", map[string]string{"FlowLogId": bobFl}); err != nil {
		t.Fatal(err)
	}
	if out := call(bob, "DescribeFlowLogRecords", map[string]string{"FlowLogId": bobFl}); total(out) != 1 || out["SkippedRecords"] != float64(4) {
		t.Errorf("bob's records of his deleted flow log: %v", out)
	}
	for _, who := range []apitest.Creds{env.Admin, bob} {
		id := map[string]string{"FlowLogId": bobFl}
		if who == bob {
			id["FlowLogId"] = fl // the admin's, live
		}
		for _, action := range []string{"DescribeFlowLogRecords", "DescribeFlowLogTopTalkers"} {
			if _, err := env.Common(t, who, api.VersionPalisade, action, id); err == nil {
				t.Errorf("%s of another account's flow log accepted", action)
			} else if st, code := apitest.ServerErr(t, err); st != 404 || code != "InvalidFlowLogId.NotFound" {
				t.Errorf("%s of another account's flow log: %d %s", action, st, code)
			}
		}
	}

	for name, p := range map[string]map[string]string{
		"bad action": {"RecordAction": "DROP"}, "bad src": {"SrcAddr": "nope"}, "bad since": {"Since": "yesterday"},
		"bad port": {"Port": "0"}, "reversed": {"Since": "200", "Until": "100"},
	} {
		if _, err := env.Common(t, env.Admin, api.VersionPalisade, "DescribeFlowLogRecords", p); err == nil {
			t.Errorf("%s accepted", name)
		} else if st, _ := apitest.ServerErr(t, err); st != 400 {
			t.Errorf("%s: status %d", name, st)
		}
	}
	if _, err := env.Common(t, env.Admin, api.VersionPalisade, "DescribeFlowLogTopTalkers", map[string]string{"By": "octets"}); err == nil {
		t.Error("By=octets accepted")
	}
}

func FuzzDecodeFlowBatch(f *testing.F) {
	f.Add(`{"records":[{"flow-log-id":"fl-1","srcaddr":"10.0.0.1","bytes":10}],"missed":{"fl-1":3}}`)
	f.Add(`{"records":[],"extra":1}`)
	f.Add(``)
	f.Fuzz(func(t *testing.T, v string) {
		b, err := api.DecodeFlowBatch(v)
		if err != nil {
			if _, ok := errs.As(err); !ok {
				t.Fatalf("uncoded error %v", err)
			}
			return
		}
		if _, err := json.Marshal(b); err != nil {
			t.Fatal(err)
		}
	})
}

func FuzzParseFlowTime(f *testing.F) {
	for _, s := range []string{"", "1700000000", "2026-11-25T10:00:00Z", "-1", "yesterday"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		n, err := api.ParseFlowTime("Since", v)
		if err == nil && n < 0 {
			t.Fatalf("%q parsed to negative %d", v, n)
		}
	})
}
