package kernel_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"path"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/vpc"

	"github.com/palisade-project/palisade/internal/apitest"
	"github.com/palisade-project/palisade/internal/app"
	"github.com/palisade-project/palisade/internal/flowlog"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/service"
)

// TestFlowLogInternetPath: a VPC-wide flow log created through the SDK
// with TrafficPath internetGateway, next to one of all traffic, against
// `palisade up` (windows scaled to 2 s). An instance with an EIP is
// reached from the internet (the root namespace) and reaches it, and
// pings an instance of its vSwitch: the internetGateway log has the
// internet connections, both ways on the instance's ENI with the real
// client's address and its private one (the data plane translates before
// the ENI), every record saying trafficPath internetGateway, and nothing
// of the pings; the all log has both, without a path.
func TestFlowLogInternetPath(t *testing.T) {
	requireKernel(t)
	tag := randTag(t)
	env := apitest.Start(t, apitest.WithBackend(app.BackendMemory), apitest.WithAgent(tag), apitest.WithFlowLogWindowScale(60/flowWindow))
	w := &eipWorld{world: newWorld(t, env)}
	cidr := netip.MustParsePrefix("10.93.0.0/16")
	w.vpcID = w.mustVPC(cidr.String())
	vsw := w.mustVSwitch(w.vpcID, "10.93.1.0/24")
	w.mustGroup("open", w.vpcID, "normal", "")
	w.authorize("open", ruleSpec{proto: "all", ports: "-1/-1", peer: "0.0.0.0/0", policy: "accept", priority: 1})
	w.run("e1", vsw, "10.93.1.11", "open")
	w.run("x2", vsw, "10.93.1.12", "open")
	w.waitRunning()
	serveWho(t, w.ids["e1"], "e1", 8080)
	eipID, eip := w.allocate()
	w.associate(eipID, "e1")
	w.waitInUse(eipID)
	w.settle()

	inet := serveWho(t, "", "internet", 0)
	probeConn, err := net.Dial("udp4", netip.AddrPortFrom(eip, 9).String())
	if err != nil {
		t.Fatal(err)
	}
	hostAddr := netip.MustParseAddrPort(probeConn.LocalAddr().String()).Addr()
	probeConn.Close()
	if !flowlog.NewInternetPath([]netip.Prefix{cidr}).KeepsRecord(&flowlog.Record{Direction: flowlog.DirOut, SrcAddr: "10.93.1.11", DstAddr: hostAddr.String()}) {
		t.Skipf("the host's address %s is not an internet address for a flow log (inside %s or a reserved block): nothing to tell apart", hostAddr, cidr)
	}
	inetAP := netip.AddrPortFrom(hostAddr, uint16(inet.port()))

	createLog := func(name string, paths ...string) string {
		t.Helper()
		req := vpc.CreateCreateFlowLogRequest()
		req.ResourceType, req.ResourceId, req.TrafficType = "VPC", w.vpcID, "All"
		req.AggregationInterval = requests.NewInteger(1)
		req.FlowLogName, req.ProjectName, req.LogStoreName = name, "palisade", "flows"
		if len(paths) > 0 {
			req.TrafficPath = &paths
		}
		resp, err := w.vpc.CreateFlowLog(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp.FlowLogId
	}
	internet := createLog("internet-"+tag, model.FlowLogPathInternet)
	all := createLog("all-" + tag)
	svc := env.App.Service()
	records := func(fl string, since int64) []flowlog.Record {
		res, err := svc.DescribeFlowLogRecords(context.Background(), env.Admin.AccountID, service.FlowRecordQuery{FlowLogID: fl, Since: since})
		if err != nil {
			t.Fatal(err)
		}
		return res.Records
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 20 s", what)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	for _, fl := range []string{internet, all} {
		waitFor("first records of "+fl, func() bool { return len(records(fl, 0)) > 0 })
	}

	start := waitBoundary()
	in := w.mustReach(netip.AddrPortFrom(eip, 8080), "e1")
	client := netip.MustParseAddrPort(in.LocalAddr().String())
	in.Close()
	out, src, err := w.outbound("e1", inetAP)
	if err != nil {
		t.Fatalf("e1 -> internet: %v", err)
	}
	out.Close()
	if src != eip.String() {
		t.Errorf("e1 -> internet: seen from %s, want its EIP %s", src, eip)
	}
	if err := icmpProbe(w.ids["e1"], w.addr["x2"], 2*time.Second); err != nil {
		t.Fatalf("ping e1 -> x2: %v", err)
	}

	// Every window that holds the traffic is reported once a later
	// one is (capture emits windows in order).
	got := map[string][]flowlog.Record{}
	for _, fl := range []string{internet, all} {
		waitFor("the windows of "+fl, func() bool {
			got[fl] = records(fl, start)
			for _, r := range got[fl] {
				if windowOf(r) >= start+3*flowWindow {
					return true
				}
			}
			return false
		})
	}
	e1, x2 := w.addr["e1"].String(), w.addr["x2"].String()
	remote := func(r flowlog.Record) string {
		if r.Direction == flowlog.DirIn {
			return r.SrcAddr
		}
		return r.DstAddr
	}
	// What the traffic must have left in a log, one pattern each (an
	// ephemeral port is *).
	has := func(fl string, want string) bool {
		for _, r := range got[fl] {
			if r.LogStatus != flowlog.StatusOK {
				continue
			}
			line := fmt.Sprintf("%s %s:%d>%s:%d p%d", r.Direction, r.SrcAddr, r.SrcPort, r.DstAddr, r.DstPort, r.Protocol)
			if ok, _ := path.Match(want, line); ok {
				return true
			}
		}
		return false
	}
	internetLines := []string{
		fmt.Sprintf("in %s:%d>%s:8080 p6", client.Addr(), client.Port(), e1),  // the client, DNATed before the ENI
		fmt.Sprintf("out %s:8080>%s:%d p6", e1, client.Addr(), client.Port()), // the answer, before SNAT
		fmt.Sprintf("out %s:*>%s:%d p6", e1, hostAddr, inetAP.Port()),         // e1's own connection out, before SNAT
		fmt.Sprintf("in %s:%d>%s:* p6", hostAddr, inetAP.Port(), e1),          // and its answers, after
	}
	pingLines := []string{
		fmt.Sprintf("out %s:0>%s:0 p1", e1, x2),
		fmt.Sprintf("in %s:0>%s:0 p1", x2, e1),
	}
	for _, l := range internetLines {
		if !has(internet, l) {
			t.Errorf("internetGateway log: no record %q", l)
		}
		if !has(all, l) {
			t.Errorf("all log: no record %q", l)
		}
	}
	for _, l := range pingLines {
		if !has(all, l) {
			t.Errorf("all log: no record %q", l)
		}
	}
	for _, r := range got[internet] {
		if r.TrafficPath != model.FlowLogPathInternet {
			t.Errorf("internetGateway log: record without its path: %s (trafficPath %q)", recordLine(r), r.TrafficPath)
		}
		if r.LogStatus == flowlog.StatusOK {
			if a, err := netip.ParseAddr(remote(r)); err != nil || cidr.Contains(a) {
				t.Errorf("internetGateway log: record of the VPC's own traffic: %s", recordLine(r))
			}
		}
	}
	for _, r := range got[all] {
		if r.TrafficPath != "" {
			t.Errorf("all log: record with a path: %s (trafficPath %q)", recordLine(r), r.TrafficPath)
		}
	}
}
