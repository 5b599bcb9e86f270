package api_test

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/services/vpc"

	"github.com/palisade-project/palisade/internal/api"
	"github.com/palisade-project/palisade/internal/apitest"
	"github.com/palisade-project/palisade/internal/flowlog"
)

// TestFlowLogTrafficPathSDK: CreateFlowLog through the V1 SDK takes
// TrafficPath.N (all, internetGateway, both) and DescribeFlowLogs answers
// the list it was created with (["all"] without one); a path of the
// cloud's catalogue Palisade does not capture is
// OperationUnsupported.TrafficPath, anything else IllegalParam.TrafficPath,
// both 400 and leaving the store as it was.
func TestFlowLogTrafficPathSDK(t *testing.T) {
	env := apitest.Start(t)
	c := env.VPC(t, env.Admin)
	n := newNet(t, env, env.Admin, "10.0.0.0/16", "10.0.1.0/24")
	create := func(paths []string) (string, error) {
		req := vpc.CreateCreateFlowLogRequest()
		req.ResourceType, req.ResourceId, req.TrafficType = "VPC", n.vpc, "All"
		req.ProjectName, req.LogStoreName = "flow-project", "flow_store"
		if paths != nil {
			req.TrafficPath = &paths
		}
		resp, err := c.CreateFlowLog(req)
		if err != nil {
			return "", err
		}
		return resp.FlowLogId, nil
	}
	tests := []struct {
		name   string
		paths  []string
		want   []string // TrafficPath.TrafficPathList
		status int
		code   string
	}{
		{"none", nil, []string{"all"}, 0, ""},
		{"all", []string{"all"}, []string{"all"}, 0, ""},
		{"internet", []string{"internetGateway"}, []string{"internetGateway"}, 0, ""},
		{"both: all wins, the list is kept", []string{"all", "internetGateway"}, []string{"all", "internetGateway"}, 0, ""},
		{"vpn gateway", []string{"vpnGateway"}, nil, 400, "OperationUnsupported.TrafficPath"},
		{"transit router", []string{"internetGateway", "transitRouter"}, nil, 400, "OperationUnsupported.TrafficPath"},
		{"vbr", []string{"vbr"}, nil, 400, "OperationUnsupported.TrafficPath"},
		{"unknown", []string{"internet"}, nil, 400, "IllegalParam.TrafficPath"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := env.Snapshot(t)
			id, err := create(tc.paths)
			if tc.code != "" {
				if err == nil {
					t.Fatalf("CreateFlowLog with TrafficPath %q succeeded", tc.paths)
				}
				st, code := apitest.ServerErr(t, err)
				if st != tc.status || code != tc.code {
					t.Errorf("got %d %s, want %d %s (%v)", st, code, tc.status, tc.code, err)
				}
				if !strings.Contains(err.Error(), "internetGateway") {
					t.Errorf("the message does not name what Palisade supports: %v", err)
				}
				if after := env.Snapshot(t); !maps.Equal(before, after) {
					t.Error("a refused CreateFlowLog changed the store")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := describeFlowLog(t, c, id).TrafficPath.TrafficPathList; !slices.Equal(got, tc.want) {
				t.Errorf("TrafficPathList %q, want %q", got, tc.want)
			}
			del := vpc.CreateDeleteFlowLogRequest()
			del.FlowLogId = id
			if _, err := c.DeleteFlowLog(del); err != nil {
				t.Fatal(err)
			}
		})
	}

	// The wire form of the V2 SDK (TrafficPath.1, .2 from its repeated
	// list) and the bounds of N.
	params := func(kv ...string) map[string]string {
		m := map[string]string{"ResourceType": "VPC", "ResourceId": n.vpc, "TrafficType": "All", "ProjectName": "proj", "LogStoreName": "store"}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	out, err := env.Common(t, env.Admin, api.VersionVPC, "CreateFlowLog", params("TrafficPath.1", "internetGateway"))
	if err != nil {
		t.Fatal(err)
	}
	id, _ := out["FlowLogId"].(string)
	if got := describeFlowLog(t, c, id).TrafficPath.TrafficPathList; !slices.Equal(got, []string{"internetGateway"}) {
		t.Errorf("TrafficPath.1 internetGateway: TrafficPathList %q", got)
	}
	// Its records say their path, through the agents' report and the
	// record query alike; the VPC's own traffic is not among them.
	now := time.Now().Unix()
	rec := func(src string) flowlog.Record {
		return flowlog.Record{FlowLogID: id, ENIID: "eni-x", SrcAddr: src, DstAddr: "10.0.1.5", SrcPort: 40000, DstPort: 443,
			Protocol: 6, Direction: flowlog.DirIn, Packets: 1, Bytes: 60, Start: now - 120, End: now - 60, Action: flowlog.ActionAccept}
	}
	js, _ := json.Marshal(flowlog.Batch{Records: []flowlog.Record{rec("198.51.100.7"), rec("10.0.1.6")}})
	if _, err := env.Common(t, env.Admin, api.VersionPalisade, "PalisadeReportFlowRecords", map[string]string{"Batch": string(js)}); err != nil {
		t.Fatal(err)
	}
	out, err = env.Common(t, env.Admin, api.VersionPalisade, "DescribeFlowLogRecords", map[string]string{"FlowLogId": id})
	if err != nil {
		t.Fatal(err)
	}
	recs, _ := out["Records"].(map[string]any)["Record"].([]any)
	if len(recs) != 1 {
		t.Fatalf("records: %v", out["Records"])
	}
	if r, _ := recs[0].(map[string]any); r["srcaddr"] != "198.51.100.7" || r["trafficPath"] != "internetGateway" {
		t.Errorf("record: %v", r)
	}

	for _, bad := range []map[string]string{params("TrafficPath.0", "all"), params("TrafficPath.11", "all"), params("TrafficPath.x", "all")} {
		if _, err := env.Common(t, env.Admin, api.VersionVPC, "CreateFlowLog", bad); err == nil {
			t.Errorf("CreateFlowLog %v succeeded", bad)
		} else if st, code := apitest.ServerErr(t, err); st != 400 || code != "InvalidParameter" {
			t.Errorf("CreateFlowLog %v: %d %s, want 400 InvalidParameter", bad, st, code)
		}
	}
}
