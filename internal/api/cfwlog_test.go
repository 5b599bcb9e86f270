package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/api"
	"github.com/palisade-project/palisade/internal/apiclient"
	"github.com/palisade-project/palisade/internal/apitest"
	"github.com/palisade-project/palisade/internal/errs"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/remote"
	"github.com/palisade-project/palisade/internal/service"
)

// TestFirewallLogsAPI: agents report traffic logs of the Internet, NAT
// and VPC firewalls' policies (PalisadeReportFirewallLogs, directly and
// through the remote agent's mirror); tenants cannot report; each account
// queries its own (DescribeFirewallLogs) with the Cloudfw SLS field
// names, filters and paging; bad filters are refused with what to fix.
func TestFirewallLogsAPI(t *testing.T) {
	env := apitest.Start(t)
	bob := env.NewAccount(t, "bob")
	eve := env.NewAccount(t, "eve")
	pol := func(prefix, id, acct, dir, action string, set func(*model.FirewallPolicy)) {
		p := model.FirewallPolicy{ID: id, AccountID: acct, Direction: dir, Action: action, Order: 1, Enabled: true}
		if set != nil {
			set(&p)
		}
		env.PutRecord(t, prefix+id, p)
	}
	pol(model.PrefixFirewallPolicy, "pol-in", bob.AccountID, model.FirewallIn, model.FirewallDrop, nil)
	pol(model.PrefixNatFirewallPolicy, "pol-nat", bob.AccountID, model.FirewallOut, model.FirewallLog, func(p *model.FirewallPolicy) { p.NatGatewayID = "ngw-bob" })
	pol(model.PrefixVpcFirewallPolicy, "pol-vpc", eve.AccountID, "", model.FirewallDrop, func(p *model.FirewallPolicy) { p.VpcFirewallID = "vfw-eve" })

	at := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	rec := func(policy, src, dst string, sport, dport uint16, proto uint8, sec int) model.FirewallTrafficLog {
		return model.FirewallTrafficLog{Time: at.Add(time.Duration(sec) * time.Second), PolicyID: policy, VpcID: "vpc-1",
			Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst), SrcPort: sport, DstPort: dport, Proto: proto}
	}
	forged := rec("pol-in", "203.0.113.9", "198.18.0.10", 51000, 22, 6, 0)
	forged.AccountID, forged.LogType = eve.AccountID, model.FirewallLogTypeVPC
	recs := []model.FirewallTrafficLog{
		forged,
		rec("pol-nat", "10.0.1.5", "192.0.2.53", 40000, 53, 17, 1),
		rec("pol-nat", "10.0.1.6", "192.0.2.1", 0, 0, 1, 2),
		rec("pol-vpc", "10.0.1.5", "10.1.0.7", 41000, 5432, 6, 3),
		rec("pol-gone", "10.0.1.5", "10.1.0.7", 41000, 5432, 6, 4),
	}
	js, err := json.Marshal(recs)
	if err != nil {
		t.Fatal(err)
	}
	report := map[string]string{"Records": string(js)}

	// Tenants may not report, not even their own policies' logs; the
	// refusals and bad reports change nothing.
	before := env.Snapshot(t)
	for _, who := range []apitest.Creds{bob, eve} {
		if _, status, code := palisadeCall(t, env, who, "PalisadeReportFirewallLogs", report); status != 403 || code != "Forbidden.NotAdmin" {
			t.Errorf("%s reports: %d %s, want 403 Forbidden.NotAdmin", who.AccountID, status, code)
		}
	}
	tooMany := "[" + strings.Repeat(`{"policy_id":"pol-in","src":"192.0.2.1","dst":"192.0.2.2"},`, service.FirewallLogsPerReport) +
		`{"policy_id":"pol-in","src":"192.0.2.1","dst":"192.0.2.2"}]`
	for _, bad := range []struct{ records, code string }{
		{"", "MissingParameter"},
		{`{"policy_id":"pol-in"}`, "InvalidParameter"},
		{`[{"policy_id":"pol-in","src":"192.0.2.1","dst":"192.0.2.2","extra":1}]`, "InvalidParameter"},
		{`[{"policy_id":"pol-in","src":"not an address","dst":"192.0.2.2"}]`, "InvalidParameter"},
		{`[{"policy_id":"pol-in","dst":"192.0.2.2"}]`, "InvalidParameter"},
		{`[{"src":"192.0.2.1","dst":"192.0.2.2"}]`, "InvalidParameter"},
		{`[] []`, "InvalidParameter"},
		{tooMany, "InvalidParameter"},
	} {
		p := map[string]string{"Records": bad.records}
		if bad.records == "" {
			p = nil
		}
		if _, status, code := palisadeCall(t, env, env.Admin, "PalisadeReportFirewallLogs", p); status != 400 || code != bad.code {
			t.Errorf("records %.60q: %d %s, want 400 %s", bad.records, status, code, bad.code)
		}
	}
	if after := env.Snapshot(t); !maps.Equal(before, after) {
		t.Error("a refused report changed the store")
	}

	out, status, code := palisadeCall(t, env, env.Admin, "PalisadeReportFirewallLogs", report)
	if status != 200 || out["Accepted"] != float64(4) {
		t.Fatalf("admin report: %v %d %s, want 4 accepted (pol-gone dropped)", out, status, code)
	}
	describe := func(c apitest.Creds, p map[string]string) (logs []map[string]any, total int) {
		t.Helper()
		out, status, code := palisadeCall(t, env, c, "DescribeFirewallLogs", p)
		if status != 200 {
			t.Fatalf("DescribeFirewallLogs %v: %d %s", p, status, code)
		}
		for _, l := range out["Logs"].([]any) {
			logs = append(logs, l.(map[string]any))
		}
		return logs, int(out["TotalCount"].(float64))
	}

	// Fields, newest first, each account its own.
	logs, total := describe(bob, nil)
	if total != 3 || len(logs) != 3 {
		t.Fatalf("bob's logs: %d of %d, want 3: %v", len(logs), total, logs)
	}
	wantIn := map[string]any{
		"log_type": "internet_log", "acl_rule_id": "pol-in", "aliuid": bob.AccountID, "direction": "in",
		"src_ip": "203.0.113.9", "src_port": float64(51000), "dst_ip": "198.18.0.10", "dst_port": float64(22),
		"ip_protocol": "TCP", "rule_result": "drop", "start_time": float64(at.Unix()), "vpc_id": "vpc-1", "firewall_id": "",
	}
	if !maps.Equal(logs[2], wantIn) {
		t.Errorf("oldest of bob's logs:\n got %v\nwant %v", logs[2], wantIn)
	}
	if l := logs[0]; l["log_type"] != "nat_firewall_log" || l["firewall_id"] != "ngw-bob" || l["direction"] != "out" ||
		l["rule_result"] != "log" || l["ip_protocol"] != "ICMP" || l["start_time"] != float64(at.Unix()+2) {
		t.Errorf("newest of bob's logs: %v", l)
	}
	if l := logs[1]; l["ip_protocol"] != "UDP" || l["dst_port"] != float64(53) {
		t.Errorf("bob's UDP log: %v", l)
	}
	logs, total = describe(eve, nil)
	if total != 1 || logs[0]["log_type"] != "vpc_firewall_log" || logs[0]["firewall_id"] != "vfw-eve" || logs[0]["direction"] != "" ||
		logs[0]["aliuid"] != eve.AccountID {
		t.Errorf("eve's logs: %d %v", total, logs)
	}
	if _, total := describe(env.Admin, nil); total != 0 {
		t.Errorf("the admin sees %d logs of other accounts", total)
	}

	// Filters and paging.
	for _, tc := range []struct {
		p    map[string]string
		want []string // acl_rule_id/dst_port of the logs returned
	}{
		{map[string]string{"LogType": "internet_log"}, []string{"pol-in/22"}},
		{map[string]string{"LogType": "nat_firewall_log"}, []string{"pol-nat/0", "pol-nat/53"}},
		{map[string]string{"LogType": "vpc_firewall_log"}, nil},
		{map[string]string{"AclUuid": "pol-nat", "RuleResult": "log"}, []string{"pol-nat/0", "pol-nat/53"}},
		{map[string]string{"AclUuid": "pol-vpc"}, nil},
		{map[string]string{"RuleResult": "drop"}, []string{"pol-in/22"}},
		{map[string]string{"SrcIP": "10.0.1.0/24"}, []string{"pol-nat/0", "pol-nat/53"}},
		{map[string]string{"SrcIP": "10.0.1.5"}, []string{"pol-nat/53"}},
		{map[string]string{"DstIP": "198.18.0.10"}, []string{"pol-in/22"}},
		{map[string]string{"Port": "51000"}, []string{"pol-in/22"}},
		{map[string]string{"Port": "53"}, []string{"pol-nat/53"}},
		{map[string]string{"StartTime": fmt.Sprint(at.Unix() + 1)}, []string{"pol-nat/0", "pol-nat/53"}},
		{map[string]string{"EndTime": fmt.Sprint(at.Unix() + 1)}, []string{"pol-in/22"}},
		{map[string]string{"PageSize": "2"}, []string{"pol-nat/0", "pol-nat/53"}},
		{map[string]string{"PageSize": "2", "CurrentPage": "2"}, []string{"pol-in/22"}},
		{map[string]string{"CurrentPage": "9"}, nil},
	} {
		logs, _ := describe(bob, tc.p)
		var got []string
		for _, l := range logs {
			got = append(got, fmt.Sprintf("%s/%v", l["acl_rule_id"], l["dst_port"]))
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%v: %v, want %v", tc.p, got, tc.want)
		}
	}
	out, _, _ = palisadeCall(t, env, bob, "DescribeFirewallLogs", map[string]string{"PageSize": "2", "CurrentPage": "2"})
	if out["TotalCount"] != float64(3) || out["CurrentPage"] != float64(2) || out["PageSize"] != float64(2) {
		t.Errorf("page 2: %v", out)
	}
	out, _, _ = palisadeCall(t, env, bob, "DescribeFirewallLogs", nil)
	if out["CurrentPage"] != float64(1) || out["PageSize"] != float64(20) {
		t.Errorf("default paging: %v", out)
	}

	// Bad filters: 400 with the parameter and what to fix.
	for _, tc := range []struct {
		p           map[string]string
		code, inMsg string
	}{
		{map[string]string{"LogType": "internet"}, "InvalidParameter", "internet_log, nat_firewall_log or vpc_firewall_log"},
		{map[string]string{"RuleResult": "deny"}, "InvalidParameter", "use drop or log"},
		{map[string]string{"SrcIP": "10.0.1"}, "InvalidParameter", "SrcIP"},
		{map[string]string{"DstIP": "10.0.0.0/33"}, "InvalidParameter", "DstIP"},
		{map[string]string{"Port": "70000"}, "InvalidParameter", "Port"},
		{map[string]string{"StartTime": "yesterday"}, "InvalidParameter", "Unix seconds"},
		{map[string]string{"StartTime": "100", "EndTime": "100"}, "InvalidParameter", "EndTime"},
		{map[string]string{"PageSize": "101"}, "InvalidParameter", "PageSize"},
		{map[string]string{"CurrentPage": "0"}, "InvalidParameter", "CurrentPage"},
	} {
		_, err := env.Common(t, bob, api.VersionPalisade, "DescribeFirewallLogs", tc.p)
		wantSDKErr(t, fmt.Sprint(tc.p), err, 400, tc.code, tc.inMsg)
	}

	// Through the remote agent's mirror, in more than one call.
	cl, err := apiclient.New(apiclient.Options{Endpoint: env.Endpoint, AccessKeyID: env.Admin.AccessKeyID, AccessKeySecret: env.Admin.Secret})
	if err != nil {
		t.Fatal(err)
	}
	m := remote.New(cl, "local-a", nil)
	many := make([]model.FirewallTrafficLog, 450)
	for i := range many {
		many[i] = rec("pol-vpc", "10.0.1.5", "10.1.0.7", uint16(30000+i), 5432, 6, 10+i)
	}
	if err := m.ReportFirewallLogs(context.Background(), many); err != nil {
		t.Fatal(err)
	}
	if _, total := describe(eve, map[string]string{"AclUuid": "pol-vpc"}); total != 451 {
		t.Errorf("eve's logs after the mirror's report: %d, want 451", total)
	}
	if err := m.ReportFirewallLogs(context.Background(), nil); err != nil {
		t.Errorf("empty report: %v", err)
	}
}

func FuzzDecodeFirewallLogs(f *testing.F) {
	f.Add(`[{"time":"2026-11-27T12:00:00Z","policy_id":"p","vpc_id":"vpc-1","src":"203.0.113.9","dst":"198.18.0.10","src_port":51000,"dst_port":22,"proto":6}]`)
	f.Add(`[{"policy_id":"p","src":"::1","dst":"x"}]`)
	f.Add(`[] []`)
	f.Add(`null`)
	f.Add(``)
	f.Fuzz(func(t *testing.T, v string) {
		recs, err := api.DecodeFirewallLogs(v)
		if err != nil {
			if _, ok := errs.As(err); !ok {
				t.Fatalf("uncoded error %v", err)
			}
			return
		}
		if len(recs) > service.FirewallLogsPerReport {
			t.Fatalf("%d records accepted", len(recs))
		}
	})
}
