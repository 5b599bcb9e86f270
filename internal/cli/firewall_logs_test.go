package cli_test

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/apitest"
	"github.com/palisade-project/palisade/internal/cli"
	"github.com/palisade-project/palisade/internal/model"
)

// TestFirewallLogsCommand: "firewall logs" lists the account's traffic
// logs newest first with their firewall, filters by each flag, pages, and
// refuses bad flags with what to fix.
func TestFirewallLogsCommand(t *testing.T) {
	env := apitest.Start(t)
	r := newRunner(t, env)
	acct := env.Admin.AccountID
	env.PutRecord(t, model.PrefixFirewallPolicy+"pol-in", model.FirewallPolicy{ID: "pol-in", AccountID: acct, Direction: "in", Action: "drop", Order: 1})
	env.PutRecord(t, model.PrefixNatFirewallPolicy+"pol-nat", model.FirewallPolicy{ID: "pol-nat", AccountID: acct, NatGatewayID: "ngw-1", Direction: "out", Action: "log", Order: 1,
		DestinationType: model.FirewallDomain, Destination: "api.example.com"})
	env.PutRecord(t, model.PrefixVpcFirewallPolicy+"pol-vpc", model.FirewallPolicy{ID: "pol-vpc", AccountID: acct, VpcFirewallID: "vfw-1", Action: "drop", Order: 1})
	now := time.Now().UTC().Truncate(time.Second)
	rec := func(policy, src, dst string, dport uint16, proto uint8, ago time.Duration) model.FirewallTrafficLog {
		return model.FirewallTrafficLog{Time: now.Add(-ago), PolicyID: policy, VpcID: "vpc-1", Src: netip.MustParseAddr(src),
			Dst: netip.MustParseAddr(dst), SrcPort: 50000, DstPort: dport, Proto: proto}
	}
	icmp := rec("pol-nat", "10.0.1.5", "192.0.2.1", 0, 1, time.Hour)
	icmp.SrcPort = 0
	n, err := env.App.Service().IngestFirewallLogs(context.Background(), acct, "", []model.FirewallTrafficLog{
		rec("pol-in", "203.0.113.9", "198.18.0.10", 22, 6, 3*time.Hour),
		icmp,
		rec("pol-vpc", "10.0.1.5", "10.1.0.7", 5432, 6, time.Minute),
	})
	if err != nil || n != 3 {
		t.Fatalf("ingest: %d %v", n, err)
	}

	out := r.ok("firewall", "logs")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 5 {
		t.Fatalf("firewall logs:\n%s", out)
	}
	for i, want := range [][]string{
		{"Time", "Type", "Action", "Policy", "Proto", "Source", "Destination", "Firewall"},
		{now.Add(-time.Minute).Format(time.RFC3339), "vpc", "drop", "pol-vpc", "TCP", "10.0.1.5:50000", "10.1.0.7:5432", "vfw-1"},
		{"nat", "log", "pol-nat", "ICMP", " 10.0.1.5 ", " 192.0.2.1 (api.example.com) ", "ngw-1"},
		{now.Add(-3 * time.Hour).Format(time.RFC3339), "internet", "drop", "pol-in", "203.0.113.9:50000", "198.18.0.10:22", " -"},
		{"page 1: 3 of 3 records"},
	} {
		for _, w := range want {
			if !strings.Contains(lines[i]+" ", w) {
				t.Errorf("line %d lacks %q:\n%s", i, w, out)
			}
		}
	}
	for _, tc := range []struct {
		args []string
		want []string // policies, in order
	}{
		{[]string{"--type", "nat"}, []string{"pol-nat"}},
		{[]string{"--type", "internet"}, []string{"pol-in"}},
		{[]string{"--policy", "pol-vpc"}, []string{"pol-vpc"}},
		{[]string{"--action", "drop"}, []string{"pol-vpc", "pol-in"}},
		{[]string{"--src", "10.0.1.0/24"}, []string{"pol-vpc", "pol-nat"}},
		{[]string{"--dst", "198.18.0.10"}, []string{"pol-in"}},
		{[]string{"--port", "5432"}, []string{"pol-vpc"}},
		{[]string{"--since", "2h"}, []string{"pol-vpc", "pol-nat"}},
		{[]string{"--page-size", "2", "--page", "2"}, []string{"pol-in"}},
	} {
		js := r.okJSON(append([]string{"firewall", "logs"}, tc.args...)...)
		logs, _ := js["Logs"].([]any)
		var got []string
		for _, l := range logs {
			got = append(got, fmt.Sprint(l.(map[string]any)["acl_rule_id"]))
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("firewall logs %v: %v, want %v", tc.args, got, tc.want)
		}
	}
	if js := r.okJSON("firewall", "logs", "--page-size", "2"); js["TotalCount"] != float64(3) || js["PageSize"] != float64(2) {
		t.Errorf("JSON paging fields: %v", js)
	}
	if out := r.ok("firewall", "logs", "--page-size", "2"); !strings.Contains(out, "page 1: 2 of 3 records; --page 2 for older ones") {
		t.Errorf("first of two pages:\n%s", out)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--type", "waf"}, "use internet, nat or vpc"},
		{[]string{"--since", "-1h"}, "give how far back"},
		{[]string{"--action", "deny"}, "InvalidParameter"},
		{[]string{"--src", "10.0.1"}, "SrcIP"},
		{[]string{"--page-size", "500"}, "PageSize"},
	} {
		if e := r.fail(append([]string{"firewall", "logs"}, tc.args...)...); !strings.Contains(e, tc.want) {
			t.Errorf("firewall logs %v: %s, want %q", tc.args, e, tc.want)
		}
	}

	// Another account sees none of them.
	bobCreds := env.NewAccount(t, "bob")
	bob := newRunner(t, env)
	bob.vars = maps.Clone(r.vars)
	bob.vars[cli.EnvAccessKeyID], bob.vars[cli.EnvAccessSecret] = bobCreds.AccessKeyID, bobCreds.Secret
	if js := bob.okJSON("firewall", "logs"); fmt.Sprint(js["Logs"]) != "[]" || js["TotalCount"] != float64(0) {
		t.Errorf("bob's logs: %v", js)
	}
}
