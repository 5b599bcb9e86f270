package service

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/errs"
	"github.com/palisade-project/palisade/internal/flowlog"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/store"
)

// TestCreateFlowLogTrafficPath: TrafficPath.N takes all and
// internetGateway in any case (canonical spelling kept, duplicates
// dropped, all with internetGateway is all), refuses the cloud's other
// paths with OperationUnsupported.TrafficPath and anything else with
// IllegalParam.TrafficPath, both 400 and naming what to send.
func TestCreateFlowLogTrafficPath(t *testing.T) {
	s := flowFixture(t, Config{})
	ctx := context.Background()
	tests := []struct {
		name     string
		paths    []string
		stored   []string
		list     []string // DescribeFlowLogs' TrafficPathList
		internet bool
		code     string
	}{
		{"none: all", nil, nil, []string{"all"}, false, ""},
		{"all", []string{"all"}, []string{"all"}, []string{"all"}, false, ""},
		{"internet", []string{"internetGateway"}, []string{"internetGateway"}, []string{"internetGateway"}, true, ""},
		{"any case, duplicates dropped", []string{"InternetGateway", "internetgateway"}, []string{"internetGateway"}, []string{"internetGateway"}, true, ""},
		{"all wins", []string{"internetGateway", "ALL"}, []string{"internetGateway", "all"}, []string{"internetGateway", "all"}, false, ""},
		{"vpn gateway", []string{"vpnGateway"}, nil, nil, false, "OperationUnsupported.TrafficPath"},
		{"transit router with internet", []string{"internetGateway", "transitRouter"}, nil, nil, false, "OperationUnsupported.TrafficPath"},
		{"nat gateway", []string{"natGateway"}, nil, nil, false, "OperationUnsupported.TrafficPath"},
		{"vbr", []string{"VBR"}, nil, nil, false, "OperationUnsupported.TrafficPath"},
		{"gateway endpoint", []string{"gatewayEndpoint"}, nil, nil, false, "OperationUnsupported.TrafficPath"},
		{"gwlb endpoint", []string{"gwlbEndpoint"}, nil, nil, false, "OperationUnsupported.TrafficPath"},
		{"express connect router", []string{"expressConnectRouter"}, nil, nil, false, "OperationUnsupported.TrafficPath"},
		{"ipv4 gateway", []string{"ipv4Gateway"}, nil, nil, false, "OperationUnsupported.TrafficPath"},
		{"unknown", []string{"internet"}, nil, nil, false, "IllegalParam.TrafficPath"},
		{"unknown after a good one", []string{"all", "everything"}, nil, nil, false, "IllegalParam.TrafficPath"},
		{"empty", []string{""}, nil, nil, false, "IllegalParam.TrafficPath"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := flowInput("VPC", "vpc-1", "All")
			in.TrafficPaths = tc.paths
			fl, err := s.CreateFlowLog(ctx, "1", in)
			if tc.code != "" {
				var e *errs.Error
				if !errors.As(err, &e) || e.Code != tc.code || e.Status != 400 {
					t.Fatalf("got %v, want %s (400)", err, tc.code)
				}
				if !strings.Contains(e.Message, "all") || !strings.Contains(e.Message, "internetGateway") {
					t.Errorf("message does not say what to send: %s", e.Message)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(fl.TrafficPaths, tc.stored) || fl.InternetOnly() != tc.internet {
				t.Errorf("stored %q (internet only %v), want %q (%v)", fl.TrafficPaths, fl.InternetOnly(), tc.stored, tc.internet)
			}
			v, err := s.DescribeFlowLogs(ctx, "1", FlowLogFilter{ID: fl.ID})
			if err != nil || len(v) != 1 {
				t.Fatalf("describe: %v %v", v, err)
			}
			if got := v[0].TrafficPathList(); !slices.Equal(got, tc.list) {
				t.Errorf("TrafficPathList %q, want %q", got, tc.list)
			}
		})
	}
}

// TestIngestFlowRecordsTrafficPath: the server stamps the records of an
// internetGateway flow log with its path (records of other logs lose a
// path an agent put on them), drops again what an agent should have left
// out (the VPC's own traffic and its peered VPC's, counted as filtered),
// and stamps the records of the window in progress at its deletion from
// its tombstone.
func TestIngestFlowRecordsTrafficPath(t *testing.T) {
	clock := &testClock{t: time.Now()}
	s := flowFixture(t, Config{Now: clock.now, FlowLogRetention: time.Hour})
	ctx := context.Background()
	if _, err := s.update(ctx, func(tx store.Txn) error {
		if err := putJSON(tx, model.PrefixVPC+"vpc-1", model.VPC{ID: "vpc-1", AccountID: "1", CidrBlock: netip.MustParsePrefix("10.0.0.0/16")}); err != nil {
			return err
		}
		return putJSON(tx, model.PrefixRouteEntry+"rte-1", model.RouteEntry{ID: "rte-1", AccountID: "1", VpcID: "vpc-1",
			DestinationCidr: netip.MustParsePrefix("192.168.0.0/16"), NextHopType: model.RouteNextHopPeer, NextHopID: "pcc-1"})
	}); err != nil {
		t.Fatal(err)
	}
	in := flowInput("VPC", "vpc-1", "All")
	in.TrafficPaths = []string{"internetGateway"}
	internet, err := s.CreateFlowLog(ctx, "1", in)
	if err != nil {
		t.Fatal(err)
	}
	all, err := s.CreateFlowLog(ctx, "1", flowInput("VPC", "vpc-1", "All"))
	if err != nil {
		t.Fatal(err)
	}
	start := clock.t.Unix() - 120
	rec := func(fl, dir, remote string, port int) flowlog.Record {
		r := flowlog.Record{FlowLogID: fl, ENIID: "eni-1", Direction: dir, SrcAddr: "10.0.1.5", DstAddr: remote, SrcPort: 40000, DstPort: port,
			Protocol: 6, Packets: 1, Bytes: 60, Start: start, End: start + 60, Action: flowlog.ActionAccept}
		if dir == flowlog.DirIn {
			r.SrcAddr, r.DstAddr, r.SrcPort, r.DstPort = remote, "10.0.1.5", port, 40000
		}
		return r
	}
	forged := rec(all.ID, flowlog.DirOut, "10.0.2.2", 2)
	forged.TrafficPath = model.FlowLogPathInternet
	if err := s.IngestFlowRecords(ctx, "0", "", flowlog.Batch{Records: []flowlog.Record{
		rec(internet.ID, flowlog.DirOut, "203.0.113.9", 1),   // internet: kept
		rec(internet.ID, flowlog.DirIn, "198.51.100.7", 2),   // internet client: kept
		rec(internet.ID, flowlog.DirOut, "10.0.2.2", 3),      // same VPC: dropped
		rec(internet.ID, flowlog.DirIn, "192.168.3.3", 4),    // peered VPC: dropped
		rec(internet.ID, flowlog.DirOut, "100.100.2.136", 5), // resolver: dropped
		{FlowLogID: internet.ID, ENIID: "eni-1", Start: start, End: start + 60, LogStatus: flowlog.StatusNoData},
		forged,
	}}); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]int64{internet.ID: 3, all.ID: 0} {
		var st flowLogStats
		if err := s.view(ctx, func(tx store.ReadTxn) error {
			_, err := getJSON(tx, prefixFlowLogStats+id, &st)
			return err
		}); err != nil || st.Filtered != want {
			t.Errorf("filtered counter of %s: %d %v, want %d", id, st.Filtered, err, want)
		}
	}
	if err := s.DeleteFlowLog(ctx, "1", internet.ID); err != nil {
		t.Fatal(err)
	}
	// The window in progress at the deletion, reported after it.
	if err := s.IngestFlowRecords(ctx, "0", "", flowlog.Batch{Records: []flowlog.Record{rec(internet.ID, flowlog.DirOut, "203.0.113.9", 6)}}); err != nil {
		t.Fatal(err)
	}
	res, err := s.DescribeFlowLogRecords(ctx, "1", FlowRecordQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range res.Records {
		port := r.DstPort
		if r.Direction == flowlog.DirIn {
			port = r.SrcPort
		}
		log := "internet"
		if r.FlowLogID == all.ID {
			log = "all"
		}
		got = append(got, strings.TrimSpace(log+" "+r.LogStatus+" "+strconv.Itoa(port)+" "+r.TrafficPath))
	}
	slices.Sort(got)
	want := []string{"all OK 2", "internet NODATA 0 internetGateway", "internet OK 1 internetGateway", "internet OK 2 internetGateway", "internet OK 6 internetGateway"}
	if !slices.Equal(got, want) {
		t.Errorf("records:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
