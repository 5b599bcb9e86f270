package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
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

// TestReportWafLogsAPI: a remote agent (admin key) reports WAF decisions
// of several accounts; each is stored under its object's account, records
// of unknown objects are dropped, and tenants cannot report.
func TestReportWafLogsAPI(t *testing.T) {
	env := apitest.Start(t)
	bob := env.NewAccount(t, "bob")
	eve := env.NewAccount(t, "eve")
	putInstance(t, env, bob.AccountID, "i-bob", "10.0.1.7")
	putInstance(t, env, eve.AccountID, "i-eve", "10.0.1.8")
	ok := func(c apitest.Creds, action string, p map[string]string) map[string]any {
		t.Helper()
		out, status, code := palisadeCall(t, env, c, action, p)
		if status != 200 {
			t.Fatalf("%s %v: %d %s", action, p, status, code)
		}
		return out
	}
	bobObj := ok(bob, "CreateWafProtection", map[string]string{"InstanceId": "i-bob", "Port": "80"})["ProtectionId"].(string)
	eveObj := ok(eve, "CreateWafProtection", map[string]string{"InstanceId": "i-eve", "Port": "80"})["ProtectionId"].(string)

	at := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	recs := []model.WAFLog{
		{Time: at, AccountID: eve.AccountID, ProtectionID: bobObj, ClientIP: "203.0.113.9", Method: "GET", URI: "/?q=1", Status: 405,
			Module: "crs", RuleIDs: []string{"942100"}, Action: "block", Score: 5}, // forged account
		{Time: at.Add(time.Second), ProtectionID: eveObj, ClientIP: "203.0.113.10", Method: "GET", URI: "/", Status: 200, Action: "pass"},
		{Time: at, ProtectionID: "waf-gone", URI: "/x", Action: "block"},
	}
	js, err := json.Marshal(recs)
	if err != nil {
		t.Fatal(err)
	}
	// Tenants may not report, not even for their own objects.
	before := env.Snapshot(t)
	for _, who := range []apitest.Creds{bob, eve} {
		if _, status, code := palisadeCall(t, env, who, "PalisadeReportWafLogs", map[string]string{"Records": string(js)}); status != 403 || code != "Forbidden.NotAdmin" {
			t.Errorf("%s reports: %d %s", who.AccountID, status, code)
		}
	}
	var tooMany strings.Builder
	tooMany.WriteString("[")
	for i := range service.WAFLogsPerPut + 1 {
		if i > 0 {
			tooMany.WriteString(",")
		}
		fmt.Fprintf(&tooMany, `{"protection_id":%q}`, bobObj)
	}
	tooMany.WriteString("]")
	for _, bad := range []struct{ records, code string }{
		{"", "MissingParameter"},
		{"{", "InvalidParameter"},
		{`{"protection_id":"x"}`, "InvalidParameter"},
		{`[{"protection_id":"x","extra":1}]`, "InvalidParameter"},
		{`[] []`, "InvalidParameter"},
		{`[]]`, "InvalidParameter"},
		{tooMany.String(), "InvalidParameter"},
	} {
		p := map[string]string{"Records": bad.records}
		if bad.records == "" {
			p = nil
		}
		if _, status, code := palisadeCall(t, env, env.Admin, "PalisadeReportWafLogs", p); status != 400 || code != bad.code {
			t.Errorf("records %.40q: %d %s, want 400 %s", bad.records, status, code, bad.code)
		}
	}
	if after := env.Snapshot(t); !maps.Equal(before, after) {
		t.Error("a refused report changed the store")
	}

	if out := ok(env.Admin, "PalisadeReportWafLogs", map[string]string{"Records": string(js)}); out["Accepted"].(float64) != 2 {
		t.Errorf("admin report: %v", out)
	}
	out := ok(bob, "DescribeWafLogs", nil)
	logs := out["Logs"].(map[string]any)["Log"].([]any)
	if out["TotalCount"].(float64) != 1 || logs[0].(map[string]any)["ProtectionId"] != bobObj || logs[0].(map[string]any)["Module"] != "crs" {
		t.Errorf("bob's logs: %v", out)
	}
	out = ok(eve, "DescribeWafLogs", nil)
	logs = out["Logs"].(map[string]any)["Log"].([]any)
	if out["TotalCount"].(float64) != 1 || logs[0].(map[string]any)["ProtectionId"] != eveObj {
		t.Errorf("eve's logs: %v", out)
	}

	// Through the remote agent's mirror (apiclient), in more than one call:
	// the account it is given is ignored.
	cl, err := apiclient.New(apiclient.Options{Endpoint: env.Endpoint, AccessKeyID: env.Admin.AccessKeyID, AccessKeySecret: env.Admin.Secret})
	if err != nil {
		t.Fatal(err)
	}
	m := remote.New(cl, "local-a", nil)
	var many []model.WAFLog
	for i := range 1200 {
		many = append(many, model.WAFLog{Time: at.Add(time.Duration(i) * time.Millisecond), ProtectionID: bobObj,
			ClientIP: "198.51.100.1", Method: "GET", URI: "/" + strings.Repeat("a", 1500), Action: "pass"})
	}
	if err := m.ReportWafLogs(context.Background(), eve.AccountID, many); err != nil {
		t.Fatal(err)
	}
	if out := ok(bob, "DescribeWafLogs", map[string]string{"WafAction": "pass"}); out["TotalCount"].(float64) != 1200 {
		t.Errorf("bob's logs through the mirror: %v", out["TotalCount"])
	}
	if out := ok(eve, "DescribeWafLogs", nil); out["TotalCount"].(float64) != 1 {
		t.Errorf("eve's logs after the mirror's report: %v", out["TotalCount"])
	}
	if err := m.ReportWafLogs(context.Background(), "", nil); err != nil {
		t.Errorf("empty report: %v", err)
	}
}

func FuzzDecodeWafLogs(f *testing.F) {
	f.Add(`[{"time":"2026-11-25T10:00:00Z","protection_id":"waf-1","client_ip":"203.0.113.9","rule_ids":["942100"],"action":"block","score":5}]`)
	f.Add(`[{"protection_id":"x","extra":1}]`)
	f.Add(`[] []`)
	f.Add(`null`)
	f.Add(``)
	f.Fuzz(func(t *testing.T, v string) {
		recs, err := api.DecodeWafLogs(v)
		if err != nil {
			if _, ok := errs.As(err); !ok {
				t.Fatalf("uncoded error %v", err)
			}
			return
		}
		if len(recs) > service.WAFLogsPerPut {
			t.Fatalf("%d records accepted", len(recs))
		}
		if _, err := json.Marshal(recs); err != nil {
			t.Fatal(err)
		}
	})
}
