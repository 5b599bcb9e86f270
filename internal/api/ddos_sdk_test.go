package api_test

import (
	"encoding/json"
	"errors"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	antiddos "github.com/aliyun/alibaba-cloud-sdk-go/services/antiddos-public"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/vpc"

	"github.com/palisade-project/palisade/internal/api"
	"github.com/palisade-project/palisade/internal/apitest"
	"github.com/palisade-project/palisade/internal/errs"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/service"
)

// ddosTestConfig is a short operator configuration: blackholes at 1000
// Mbit/s for 10 minutes.
var ddosTestConfig = model.DDoSConfig{BlackholeMbps: 1000, BlackholeSeconds: 1800, QuietSeconds: 5}

// wantSDKErr checks an SDK error's status and code, and that its message
// holds inMsg.
func wantSDKErr(t *testing.T, what string, err error, status int, code, inMsg string) {
	t.Helper()
	gotStatus, gotCode := apitest.ServerErr(t, err)
	if gotStatus != status || gotCode != code {
		t.Errorf("%s: %d %s, want %d %s (%v)", what, gotStatus, gotCode, status, code, err)
		return
	}
	var se *sdkerrors.ServerError
	if inMsg != "" && (!errors.As(err, &se) || !strings.Contains(se.Message(), inMsg)) {
		t.Errorf("%s: message %v lacks %q", what, err, inMsg)
	}
}

// reportDDoS sends events as an agent would (PalisadeReportDdosEvents).
func reportDDoS(t *testing.T, env *apitest.Env, c apitest.Creds, events ...model.DDoSEvent) error {
	t.Helper()
	js, err := json.Marshal(events)
	if err != nil {
		t.Fatal(err)
	}
	_, err = env.Common(t, c, api.VersionPalisade, "PalisadeReportDdosEvents", map[string]string{"Events": string(js)})
	return err
}

func ddosInstances(t *testing.T, c *antiddos.Client, typ string, set func(*antiddos.DescribeInstanceIpAddressRequest)) *antiddos.DescribeInstanceIpAddressResponse {
	t.Helper()
	req := antiddos.CreateDescribeInstanceIpAddressRequest()
	req.DdosRegionId, req.InstanceType = apitest.Region, typ
	if set != nil {
		set(req)
	}
	resp, err := c.DescribeInstanceIpAddress(req)
	if err != nil {
		t.Fatalf("DescribeInstanceIpAddress %s: %v", typ, err)
	}
	if resp.RequestId == "" || resp.Total < len(resp.InstanceList) {
		t.Errorf("DescribeInstanceIpAddress: %+v", resp)
	}
	return resp
}

func ipThreshold(t *testing.T, c *antiddos.Client, inst, ip, typ string) antiddos.Threshold {
	t.Helper()
	req := antiddos.CreateDescribeIpDdosThresholdRequest()
	req.DdosRegionId, req.InstanceId, req.InternetIp, req.DdosType = apitest.Region, inst, ip, typ
	resp, err := c.DescribeIpDdosThreshold(req)
	if err != nil {
		t.Fatalf("DescribeIpDdosThreshold %s %s %s: %v", inst, ip, typ, err)
	}
	return resp.Threshold
}

func ddosEvents(t *testing.T, c *antiddos.Client, typ, inst string) []antiddos.DdosEvent {
	t.Helper()
	req := antiddos.CreateDescribeDdosEventListRequest()
	req.DdosRegionId, req.InstanceType, req.InstanceId, req.PageSize = apitest.Region, typ, inst, "50"
	resp, err := c.DescribeDdosEventList(req)
	if err != nil {
		t.Fatalf("DescribeDdosEventList %s: %v", inst, err)
	}
	if resp.Total != len(resp.DdosEventList.DdosEvent) {
		t.Errorf("DescribeDdosEventList: Total %d for %d events", resp.Total, len(resp.DdosEventList.DdosEvent))
	}
	return resp.DdosEventList.DdosEvent
}

// TestAntiDDoSSDK drives Anti-DDoS Basic through the official SDK: the
// protected IPs of an instance and of EIPs, thresholds (read, set, refused
// out of bounds, reset), events reported by an agent turning an IP to
// defense and blackhole, the refusal to lift a blackhole, counts, and
// another account seeing none of it.
func TestAntiDDoSSDK(t *testing.T) {
	env := apitest.Start(t, apitest.WithDDoS(ddosTestConfig))
	alice, bob := env.NewAccount(t, "alice"), env.NewAccount(t, "bob")
	v := env.VPC(t, alice)
	n := newNet(t, env, alice, "10.0.0.0/16", "10.0.1.0/24")
	inst := runInstance(t, env.ECS(t, alice), n.vsw, n.sg, "10.0.1.10")
	eipID, addr := allocateEIP(t, v)
	as := vpc.CreateAssociateEipAddressRequest()
	as.AllocationId, as.InstanceId = eipID, inst
	if _, err := v.AssociateEipAddress(as); err != nil {
		t.Fatal(err)
	}
	big := vpc.CreateAllocateEipAddressRequest()
	big.Bandwidth = "500" // thresholds 750 Mbit/s, 500,000 packets/s
	br, err := v.AllocateEipAddress(big)
	if err != nil {
		t.Fatal(err)
	}
	bigID, bigAddr := br.AllocationId, br.EipAddress
	c := env.AntiDDoS(t, alice)

	// The protected IPs: the instance (ecs) and each EIP (eip).
	ecsList := ddosInstances(t, c, "ecs", nil)
	if ecsList.Total != 1 || len(ecsList.InstanceList) != 1 {
		t.Fatalf("ecs: %+v", ecsList)
	}
	in := ecsList.InstanceList[0]
	if in.InstanceId != inst || in.InstanceType != "ecs" || in.InstanceStatus != "normal" || len(in.IpAddressConfig) != 1 {
		t.Errorf("ecs instance: %+v", in)
	}
	want := antiddos.IpAddressConfigItem{InstanceIp: addr, IpVersion: "v4", IpStatus: "normal", RegionId: apitest.Region,
		BlackholeThreshold: 1000, DefenseBpsThreshold: 450, DefensePpsThreshold: 100000}
	if got := in.IpAddressConfig[0]; got != want {
		t.Errorf("IpAddressConfig %+v, want %+v", got, want)
	}
	eipList := ddosInstances(t, c, "eip", nil)
	var eipIDs []string
	for _, e := range eipList.InstanceList {
		eipIDs = append(eipIDs, e.InstanceId)
		if e.InstanceType != "eip" || len(e.IpAddressConfig) != 1 {
			t.Errorf("eip instance: %+v", e)
		}
	}
	if eipList.Total != 2 || !slices.Equal(eipIDs, []string{eipID, bigID}) {
		t.Errorf("eip: %+v", eipList)
	}
	if got := eipList.InstanceList[1].IpAddressConfig[0]; got.InstanceIp != bigAddr || got.DefenseBpsThreshold != 750 || got.DefensePpsThreshold != 500000 {
		t.Errorf("the 500 Mbit/s EIP: %+v", got)
	}
	page := ddosInstances(t, c, "eip", func(r *antiddos.DescribeInstanceIpAddressRequest) { r.PageSize, r.CurrentPage = "1", "2" })
	if page.Total != 2 || len(page.InstanceList) != 1 || page.InstanceList[0].InstanceId != bigID {
		t.Errorf("page 2 of 1: %+v", page)
	}
	if got := ddosInstances(t, c, "eip", func(r *antiddos.DescribeInstanceIpAddressRequest) { r.InstanceIp = bigAddr }); got.Total != 1 || got.InstanceList[0].InstanceId != bigID {
		t.Errorf("by InstanceIp: %+v", got)
	}
	if got := ddosInstances(t, c, "slb", nil); got.Total != 0 || len(got.InstanceList) != 0 {
		t.Errorf("slb: %+v", got)
	}
	for _, bad := range []struct {
		name   string
		set    func(*antiddos.DescribeInstanceIpAddressRequest)
		status int
		code   string
	}{
		{"no region", func(r *antiddos.DescribeInstanceIpAddressRequest) { r.DdosRegionId = "" }, 400, "MissingParameter"},
		{"another region", func(r *antiddos.DescribeInstanceIpAddressRequest) { r.DdosRegionId = "cn-hangzhou" }, 400, "InvalidParameter"},
		{"no type", func(r *antiddos.DescribeInstanceIpAddressRequest) { r.InstanceType = "" }, 400, "MissingParameter"},
		{"bad type", func(r *antiddos.DescribeInstanceIpAddressRequest) { r.InstanceType = "vm" }, 400, "InvalidParameter"},
		{"bad status", func(r *antiddos.DescribeInstanceIpAddressRequest) { r.DdosStatus = "normal" }, 400, "InvalidParameter"},
		{"bad page size", func(r *antiddos.DescribeInstanceIpAddressRequest) { r.PageSize = "0" }, 400, "InvalidParameter"},
	} {
		req := antiddos.CreateDescribeInstanceIpAddressRequest()
		req.DdosRegionId, req.InstanceType = apitest.Region, "ecs"
		bad.set(req)
		_, err := c.DescribeInstanceIpAddress(req)
		wantSDKErr(t, bad.name, err, bad.status, bad.code, "")
	}

	// Thresholds.
	thr := ipThreshold(t, c, inst, addr, "defense")
	if thr != (antiddos.Threshold{InternetIp: addr, InstanceId: inst, DdosType: "defense", Bps: 450, Pps: 100000, MaxBps: 450, MaxPps: 100000, IsAuto: true}) {
		t.Errorf("defense threshold: %+v", thr)
	}
	if thr := ipThreshold(t, c, eipID, addr, "blackhole"); thr.Bps != 1000 || thr.MaxBps != 1000 || thr.Pps != 0 || thr.InstanceId != eipID {
		t.Errorf("blackhole threshold: %+v", thr)
	}
	set := func(inst, ip, bps, pps, auto string) error {
		req := antiddos.CreateModifyIpDefenseThresholdRequest()
		req.DdosRegionId, req.InstanceId, req.InternetIp, req.Bps, req.Pps = apitest.Region, inst, ip, requests.Integer(bps), requests.Integer(pps)
		if auto != "" {
			req.IsAuto = requests.Boolean(auto)
		}
		_, err := c.ModifyIpDefenseThreshold(req)
		return err
	}
	if err := set(inst, addr, "100", "20000", ""); err != nil {
		t.Fatal(err)
	}
	if thr := ipThreshold(t, c, inst, addr, "defense"); thr.Bps != 100 || thr.Pps != 20000 || thr.MaxBps != 450 || thr.IsAuto {
		t.Errorf("after ModifyIpDefenseThreshold: %+v", thr)
	}
	before := env.Snapshot(t)
	for _, bad := range []struct {
		name, inst, ip, bps, pps string
		status                   int
		code, inMsg              string
	}{
		{"bps too high", inst, addr, "451", "1", 400, "InvalidParameter", "1 to 450"},
		{"pps too high", inst, addr, "1", "100001", 400, "InvalidParameter", "1 to 100000"},
		{"bps zero", inst, addr, "0", "1", 400, "InvalidParameter", "Bps"},
		{"not a number", inst, addr, "ten", "1", 400, "InvalidParameter", "Bps"},
		{"no pps", inst, addr, "1", "", 400, "MissingParameter", "Pps"},
		{"no ip", inst, "", "1", "1", 400, "MissingParameter", "InternetIp"},
		{"no instance", "", addr, "1", "1", 400, "MissingParameter", "InstanceId"},
		{"not its ip", inst, bigAddr, "1", "1", 404, "InvalidInternetIp.NotFound", bigAddr},
		{"unknown instance", "i-nothere", addr, "1", "1", 404, "InvalidInstanceId.NotFound", "i-nothere"},
	} {
		wantSDKErr(t, bad.name, set(bad.inst, bad.ip, bad.bps, bad.pps, ""), bad.status, bad.code, bad.inMsg)
	}
	if after := env.Snapshot(t); !maps.Equal(before, after) {
		t.Error("a refused threshold changed the store")
	}
	// ModifyDefenseThreshold: every IP of the instance.
	mdt := antiddos.CreateModifyDefenseThresholdRequest()
	mdt.DdosRegionId, mdt.InstanceId, mdt.InstanceType, mdt.Bps, mdt.Pps = apitest.Region, bigID, "eip", "700", "400000"
	if _, err := c.ModifyDefenseThreshold(mdt); err != nil {
		t.Fatal(err)
	}
	dt := antiddos.CreateDescribeDdosThresholdRequest()
	dt.DdosRegionId, dt.InstanceType, dt.DdosType, dt.InstanceIds = apitest.Region, "eip", "defense", &[]string{eipID, bigID}
	dtr, err := c.DescribeDdosThreshold(dt)
	if err != nil {
		t.Fatal(err)
	}
	if got := dtr.Thresholds.Threshold; len(got) != 2 || got[0].InternetIp != addr || got[0].Bps != 100 || got[1].InternetIp != bigAddr ||
		got[1].Bps != 700 || got[1].Pps != 400000 || got[1].MaxBps != 750 || got[1].IsAuto {
		t.Errorf("DescribeDdosThreshold: %+v", got)
	}
	// IsAuto restores the default.
	if err := set(inst, addr, "", "", "true"); err != nil {
		t.Fatal(err)
	}
	if thr := ipThreshold(t, c, inst, addr, "defense"); thr.Bps != 450 || thr.Pps != 100000 || !thr.IsAuto {
		t.Errorf("after IsAuto: %+v", thr)
	}

	// Events, as the agent of the EIP's zone reports them.
	now := time.Now().UTC().Truncate(time.Second)
	a := netip.MustParseAddr(addr)
	defense := model.DDoSEvent{IP: a, Type: model.DDoSDefense, Start: now.Add(-2 * time.Minute), LastAttack: now, PeakBps: 600e6}
	if err := reportDDoS(t, env, env.Admin, defense); err != nil {
		t.Fatal(err)
	}
	status := func() (ip, instance string) {
		t.Helper()
		got := ddosInstances(t, c, "ecs", nil).InstanceList[0]
		return got.IpAddressConfig[0].IpStatus, got.InstanceStatus
	}
	if ip, instance := status(); ip != "defense" || instance != "defense" {
		t.Errorf("under scrubbing: IP %s, instance %s", ip, instance)
	}
	evs := ddosEvents(t, c, "ecs", inst)
	if len(evs) != 1 || evs[0] != (antiddos.DdosEvent{DdosType: "defense", StartTime: defense.Start.Unix(), DdosStatus: "defense"}) {
		t.Errorf("events: %+v", evs)
	}
	blackhole := model.DDoSEvent{IP: a, Type: model.DDoSBlackhole, Start: now.Add(-time.Minute), UnBlackholeAt: now.Add(9 * time.Minute), LastAttack: now.Add(-time.Minute)}
	defense.End = blackhole.Start
	if err := reportDDoS(t, env, env.Admin, blackhole, defense); err != nil {
		t.Fatal(err)
	}
	if ip, instance := status(); ip != "blackhole" || instance != "blackhole" {
		t.Errorf("blackholed: IP %s, instance %s", ip, instance)
	}
	evs = ddosEvents(t, c, "eip", eipID)
	wantEvs := []antiddos.DdosEvent{
		{DdosType: "blackhole", StartTime: blackhole.Start.Unix(), DelayTime: 10, DdosStatus: "blackhole", UnBlackholeTime: blackhole.UnBlackholeAt.Unix()},
		{DdosType: "defense", StartTime: defense.Start.Unix(), EndTime: defense.End.Unix(), DdosStatus: "normal"},
	}
	if !slices.Equal(evs, wantEvs) {
		t.Errorf("events:\n got %+v\nwant %+v", evs, wantEvs)
	}
	if got := ddosInstances(t, c, "ecs", func(r *antiddos.DescribeInstanceIpAddressRequest) { r.DdosStatus = "defense" }); got.Total != 0 {
		t.Errorf("DdosStatus defense while blackholed: %+v", got)
	}
	// The older DescribeInstance: one entry per IP, its own vocabulary.
	di := antiddos.CreateDescribeInstanceRequest()
	di.DdosRegionId, di.InstanceType, di.DdosStatus = apitest.Region, "eip", "blackholed"
	dir, err := c.DescribeInstance(di)
	if err != nil {
		t.Fatal(err)
	}
	if got := dir.InstanceList.Instance; dir.Total != 1 || len(got) != 1 || got[0].InstanceIp != addr || got[0].InstanceId != eipID ||
		got[0].InstanceStatus != "blackholed" || got[0].DefenseBpsThreshold != 450 || got[0].BlackholeThreshold != 1000 {
		t.Errorf("DescribeInstance: %+v", dir)
	}
	di.DdosStatus = "defense"
	_, err = c.DescribeInstance(di)
	wantSDKErr(t, "DescribeInstance DdosStatus defense", err, 400, "InvalidParameter", "mitigating")

	// A blackhole is not lifted by hand.
	mds := antiddos.CreateModifyDdosStatusRequest()
	mds.DdosRegionId, mds.InstanceId, mds.InternetIp, mds.InstanceType = apitest.Region, inst, addr, "ecs"
	_, err = c.ModifyDdosStatus(mds)
	wantSDKErr(t, "ModifyDdosStatus", err, 403, "OperationDenied", "cannot be lifted by hand")

	// Counts and credit.
	count := func(cl *antiddos.Client, typ string) antiddos.DdosCount {
		t.Helper()
		req := antiddos.CreateDescribeDdosCountRequest()
		req.DdosRegionId, req.InstanceType = apitest.Region, typ
		resp, err := cl.DescribeDdosCount(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp.DdosCount
	}
	if got := count(c, "eip"); got != (antiddos.DdosCount{InstacenCount: 2, BlackholeCount: 1}) {
		t.Errorf("DescribeDdosCount eip: %+v", got)
	}
	if got := count(c, "ecs"); got != (antiddos.DdosCount{InstacenCount: 1, BlackholeCount: 1}) {
		t.Errorf("DescribeDdosCount ecs: %+v", got)
	}
	credit := antiddos.CreateDescribeDdosCreditRequest()
	credit.DdosRegionId = apitest.Region
	cr, err := c.DescribeDdosCredit(credit)
	if err != nil || !cr.Success || cr.DdosCredit != (antiddos.DdosCredit{Score: 100, ScoreLevel: "A", BlackholeTime: 30}) {
		t.Errorf("DescribeDdosCredit: %+v %v", cr, err)
	}

	// Bob sees none of it, and touches none of it.
	bc := env.AntiDDoS(t, bob)
	if got := ddosInstances(t, bc, "ecs", nil); got.Total != 0 {
		t.Errorf("bob's ecs: %+v", got)
	}
	if got := ddosInstances(t, bc, "eip", nil); got.Total != 0 {
		t.Errorf("bob's eip: %+v", got)
	}
	if got := count(bc, "eip"); got != (antiddos.DdosCount{}) {
		t.Errorf("bob's count: %+v", got)
	}
	before = env.Snapshot(t)
	bt := antiddos.CreateDescribeIpDdosThresholdRequest()
	bt.InstanceId, bt.InternetIp, bt.DdosType = inst, addr, "defense"
	_, err = bc.DescribeIpDdosThreshold(bt)
	wantSDKErr(t, "bob DescribeIpDdosThreshold", err, 404, "InvalidInstanceId.NotFound", inst)
	bm := antiddos.CreateModifyIpDefenseThresholdRequest()
	bm.InstanceId, bm.InternetIp, bm.IsAuto = eipID, addr, "true"
	_, err = bc.ModifyIpDefenseThreshold(bm)
	wantSDKErr(t, "bob ModifyIpDefenseThreshold", err, 404, "InvalidInstanceId.NotFound", eipID)
	bs := antiddos.CreateModifyDdosStatusRequest()
	bs.InstanceId, bs.InternetIp = inst, addr
	_, err = bc.ModifyDdosStatus(bs)
	wantSDKErr(t, "bob ModifyDdosStatus", err, 404, "InvalidInstanceId.NotFound", "")
	be := antiddos.CreateDescribeDdosEventListRequest()
	be.InstanceType, be.InstanceId = "eip", eipID
	_, err = bc.DescribeDdosEventList(be)
	wantSDKErr(t, "bob DescribeDdosEventList", err, 404, "InvalidInstanceId.NotFound", "")
	if after := env.Snapshot(t); !maps.Equal(before, after) {
		t.Error("bob's calls changed the store")
	}
}

// TestReportDdosEventsAgentAPI: only the admin (or an agent key of the
// EIP's zone) reports events; malformed reports and unknown addresses are
// refused and store nothing.
func TestReportDdosEventsAgentAPI(t *testing.T) {
	env := apitest.Start(t, apitest.WithDDoS(ddosTestConfig))
	alice := env.NewAccount(t, "alice")
	v := env.VPC(t, alice)
	n := newNet(t, env, alice, "10.0.0.0/16", "10.0.1.0/24")
	inst := runInstance(t, env.ECS(t, alice), n.vsw, n.sg, "10.0.1.10")
	eipID, addr := allocateEIP(t, v)
	as := vpc.CreateAssociateEipAddressRequest()
	as.AllocationId, as.InstanceId = eipID, inst
	if _, err := v.AssociateEipAddress(as); err != nil {
		t.Fatal(err)
	}
	agentKey := func(zone string) apitest.Creds {
		out, status, code := palisadeCall(t, env, env.Admin, "CreateAccessKey", map[string]string{"AgentZoneId": zone})
		if status != 200 {
			t.Fatalf("CreateAccessKey %s: %d %s", zone, status, code)
		}
		return apitest.Creds{AccessKeyID: out["AccessKeyId"].(string), Secret: out["AccessKeySecret"].(string), AccountID: env.Admin.AccountID}
	}
	ev := model.DDoSEvent{IP: netip.MustParseAddr(addr), Type: model.DDoSDefense, Start: time.Now().Add(-time.Minute)}
	js, _ := json.Marshal([]model.DDoSEvent{ev})
	zoneA, zoneB := agentKey("local-a"), agentKey("local-b")
	before := env.Snapshot(t)
	for _, bad := range []struct {
		name   string
		caller apitest.Creds
		events string
		status int
		code   string
	}{
		{"tenant", alice, string(js), 403, "Forbidden.NotAdmin"},
		{"agent of another zone", zoneB, string(js), 403, "Forbidden.AgentZone"},
		{"no events", env.Admin, "", 400, "MissingParameter"},
		{"not an array", env.Admin, `{"ip":"198.18.0.5"}`, 400, "InvalidParameter"},
		{"unknown field", env.Admin, `[{"ip":"198.18.0.5","colour":"red"}]`, 400, "InvalidParameter"},
		{"trailing data", env.Admin, string(js) + "[]", 400, "InvalidParameter"},
		{"bad type", env.Admin, strings.Replace(string(js), `"defense"`, `"scrub"`, 1), 400, "InvalidParameter"},
		{"unknown address", env.Admin, strings.Replace(string(js), addr, "203.0.113.9", 1), 404, "InvalidInternetIp.NotFound"},
	} {
		p := map[string]string{"Events": bad.events}
		if bad.events == "" {
			p = nil
		}
		if _, status, code := palisadeCall(t, env, bad.caller, "PalisadeReportDdosEvents", p); status != bad.status || code != bad.code {
			t.Errorf("%s: %d %s, want %d %s", bad.name, status, code, bad.status, bad.code)
		}
	}
	if after := env.Snapshot(t); !maps.Equal(before, after) {
		t.Error("a refused report changed the store")
	}
	if err := reportDDoS(t, env, zoneA, ev); err != nil {
		t.Fatalf("the agent of the EIP's zone: %v", err)
	}
	if got := ddosInstances(t, env.AntiDDoS(t, alice), "eip", nil); got.InstanceList[0].IpAddressConfig[0].IpStatus != "defense" {
		t.Errorf("after the agent's report: %+v", got)
	}
}

func FuzzDecodeDDoSEvents(f *testing.F) {
	f.Add(`[{"ip":"198.18.0.5","type":"blackhole","start":"2026-11-25T10:00:00Z","unblackhole_at":"2026-11-25T12:30:00Z","last_attack":"2026-11-25T10:00:00Z","peak_pps":1,"peak_bps":2}]`)
	f.Add(`[{"ip":"198.18.0.5","colour":"red"}]`)
	f.Add(`[] []`)
	f.Add(`null`)
	f.Add(``)
	f.Fuzz(func(t *testing.T, v string) {
		events, err := api.DecodeDDoSEvents(v)
		if err != nil {
			if _, ok := errs.As(err); !ok {
				t.Fatalf("uncoded error %v", err)
			}
			return
		}
		if len(events) > service.DDoSEventsPerReport {
			t.Fatalf("%d events accepted", len(events))
		}
	})
}
