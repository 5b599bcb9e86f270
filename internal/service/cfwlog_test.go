package service

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/errs"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/store/memory"
)

// cfwLogFixture is a service with the admin "0", accounts "1" and "2",
// and policies of each firewall: account 1 has the Internet policy
// pol-in (in, drop) and the NAT policy pol-nat (gateway ngw-1, log, to
// the domain api.example.com);
// account 2 has the VPC policy pol-vpc (firewall vfw-1, drop) and the
// Internet policy pol-out (out), changed to accept. Its clock says
// cfwLogNow.
func cfwLogFixture(t *testing.T) *Service {
	t.Helper()
	s := New(memory.New(), Config{Now: cfwLogNow})
	pol := func(id, acct, dir, action string) model.FirewallPolicy {
		return model.FirewallPolicy{ID: id, AccountID: acct, Direction: dir, Action: action, Order: 1, Enabled: true}
	}
	nat := pol("pol-nat", "1", model.FirewallOut, model.FirewallLog)
	nat.NatGatewayID = "ngw-1"
	nat.DestinationType, nat.Destination = model.FirewallDomain, "api.example.com"
	vpc := pol("pol-vpc", "2", "", model.FirewallDrop)
	vpc.VpcFirewallID = "vfw-1"
	putRecords(t, s, map[string]any{
		model.PrefixAccount + "0":                 model.Account{ID: "0", Name: "admin", Admin: true},
		model.PrefixAccount + "1":                 model.Account{ID: "1", Name: "alice"},
		model.PrefixAccount + "2":                 model.Account{ID: "2", Name: "bob"},
		model.PrefixFirewallPolicy + "pol-in":     pol("pol-in", "1", model.FirewallIn, model.FirewallDrop),
		model.PrefixNatFirewallPolicy + "pol-nat": nat,
		model.PrefixVpcFirewallPolicy + "pol-vpc": vpc,
		model.PrefixFirewallPolicy + "pol-out":    pol("pol-out", "2", model.FirewallOut, model.FirewallAccept),
	})
	return s
}

// cfwLogNow is the time on the clock of cfwLogFixture, after every
// record's time.
func cfwLogNow() time.Time { return time.Date(2026, 11, 27, 13, 0, 0, 0, time.UTC) }

// trafficLog is a TCP connection from src to dst:port judged by policy at
// the minute m after 12:00.
func trafficLog(policy, src, dst string, port uint16, m int) model.FirewallTrafficLog {
	return model.FirewallTrafficLog{
		Time: time.Date(2026, 11, 27, 12, m, 0, 0, time.UTC), PolicyID: policy, VpcID: "vpc-" + policy,
		Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst), SrcPort: 40000 + uint16(m), DstPort: port, Proto: 6,
	}
}

// TestIngestFirewallLogs: records of the three firewalls' policies go to
// the policies' accounts with the fields the server fills, whatever the
// agent claims; unknown policies are dropped; only agents report; the
// batch bound and record checks refuse the whole call.
func TestIngestFirewallLogs(t *testing.T) {
	ctx := context.Background()
	s := cfwLogFixture(t)
	forged := trafficLog("pol-in", "203.0.113.9", "198.18.0.10", 22, 0)
	forged.AccountID, forged.LogType, forged.Action, forged.FirewallID = "2", model.FirewallLogTypeVPC, model.FirewallAccept, "vfw-1"
	mapped := trafficLog("pol-nat", "::ffff:10.0.1.5", "::ffff:192.0.2.1", 443, 1)
	noTime := trafficLog("pol-vpc", "10.0.1.5", "10.1.0.7", 5432, 0)
	noTime.Time = time.Time{}
	recs := []model.FirewallTrafficLog{forged, mapped, noTime, trafficLog("pol-out", "198.18.0.20", "192.0.2.1", 80, 3), trafficLog("pol-gone", "10.0.0.1", "10.0.0.2", 1, 4)}

	valid := trafficLog("pol-in", "203.0.113.9", "198.18.0.10", 22, 0)
	for name, tc := range map[string]struct {
		caller      string
		recs        []model.FirewallTrafficLog
		code, inMsg string
	}{
		"tenant":    {"1", recs, "Forbidden.NotAdmin", ""},
		"nobody":    {"nobody", recs, "Forbidden.NotAdmin", ""},
		"too many":  {"0", make([]model.FirewallTrafficLog, FirewallLogsPerReport+1), "InvalidParameter", "at most 1000"},
		"no policy": {"0", []model.FirewallTrafficLog{valid, {Src: valid.Src, Dst: valid.Dst}}, "InvalidParameter", "Records[1] has no policy_id"},
		"no src":    {"0", []model.FirewallTrafficLog{valid, {PolicyID: "pol-in", Dst: valid.Dst}}, "InvalidParameter", "Records[1] has no src"},
		"no dst":    {"0", []model.FirewallTrafficLog{{PolicyID: "pol-in", Src: valid.Src}}, "InvalidParameter", "Records[0] has no dst"},
	} {
		n, err := s.IngestFirewallLogs(ctx, tc.caller, "", tc.recs)
		if !errs.HasCode(err, tc.code) || !strings.Contains(err.Error(), tc.inMsg) || n != 0 {
			t.Errorf("%s: %d %v, want %s %q", name, n, err, tc.code, tc.inMsg)
		}
	}
	for _, acct := range []string{"0", "1", "2"} {
		if _, total, _ := s.DescribeFirewallLogs(ctx, acct, FirewallLogFilter{}); total != 0 {
			t.Fatalf("refused reports stored %d records of %s", total, acct)
		}
	}

	// An agent key of any zone may report: policies belong to no zone.
	n, err := s.IngestFirewallLogs(ctx, "0", "zone-x", recs)
	if err != nil || n != 4 {
		t.Fatalf("ingest: %d %v, want 4 stored (pol-gone dropped)", n, err)
	}
	want := map[string]model.FirewallTrafficLog{
		"pol-in": {AccountID: "1", LogType: model.FirewallLogTypeInternet, Direction: model.FirewallIn, Action: model.FirewallDrop},
		"pol-nat": {AccountID: "1", LogType: model.FirewallLogTypeNAT, Direction: model.FirewallOut, Action: model.FirewallLog,
			FirewallID: "ngw-1", Domain: "api.example.com", Src: netip.MustParseAddr("10.0.1.5"), Dst: netip.MustParseAddr("192.0.2.1")},
		"pol-vpc": {AccountID: "2", LogType: model.FirewallLogTypeVPC, Action: model.FirewallDrop, FirewallID: "vfw-1"},
		"pol-out": {AccountID: "2", LogType: model.FirewallLogTypeInternet, Direction: model.FirewallOut, Action: model.FirewallAccept},
	}
	// Newest first; the record without a time got the server's.
	for acct, ids := range map[string][]string{"1": {"pol-nat", "pol-in"}, "2": {"pol-vpc", "pol-out"}} {
		logs, total, err := s.DescribeFirewallLogs(ctx, acct, FirewallLogFilter{})
		if err != nil || total != len(ids) || len(logs) != len(ids) {
			t.Fatalf("account %s: %d records (%v), want %d", acct, total, err, len(ids))
		}
		for i, l := range logs {
			w := want[l.PolicyID]
			if l.PolicyID != ids[i] || l.AccountID != w.AccountID || l.LogType != w.LogType || l.Direction != w.Direction ||
				l.Action != w.Action || l.FirewallID != w.FirewallID || l.Domain != w.Domain || l.VpcID != "vpc-"+l.PolicyID || l.Time.IsZero() {
				t.Errorf("account %s record %d: %+v, want policy %s with %+v", acct, i, l, ids[i], w)
			}
			if l.PolicyID == "pol-vpc" && !l.Time.Equal(cfwLogNow()) {
				t.Errorf("the record without a time has %v, want the server's %v", l.Time, cfwLogNow())
			}
			if w.Src.IsValid() && (l.Src != w.Src || l.Dst != w.Dst) {
				t.Errorf("%s: addresses %v -> %v, want %v -> %v (unmapped)", l.PolicyID, l.Src, l.Dst, w.Src, w.Dst)
			}
		}
	}
	if _, total, _ := s.DescribeFirewallLogs(ctx, "0", FirewallLogFilter{}); total != 0 {
		t.Errorf("the admin sees %d records of other accounts", total)
	}
}

// TestFirewallLogRetention: an account keeps the newest
// FirewallLogRetention records; another account's are untouched.
func TestFirewallLogRetention(t *testing.T) {
	ctx := context.Background()
	s := cfwLogFixture(t)
	if _, err := s.IngestFirewallLogs(ctx, "0", "", []model.FirewallTrafficLog{trafficLog("pol-vpc", "10.0.1.5", "10.1.0.7", 22, 0)}); err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	n := 0
	for n < FirewallLogRetention+500 {
		recs := make([]model.FirewallTrafficLog, FirewallLogsPerReport)
		for i := range recs {
			recs[i] = trafficLog("pol-in", "203.0.113.9", "198.18.0.10", 22, 0)
			recs[i].Time, recs[i].SrcPort = base.Add(time.Duration(n)*time.Millisecond), uint16(n)
			n++
		}
		if _, err := s.IngestFirewallLogs(ctx, "0", "", recs); err != nil {
			t.Fatal(err)
		}
	}
	logs, total, err := s.DescribeFirewallLogs(ctx, "1", FirewallLogFilter{Limit: 1})
	if err != nil || total != FirewallLogRetention || len(logs) != 1 || logs[0].SrcPort != uint16(n-1) {
		t.Fatalf("kept %d (want %d), newest %+v, %v", total, FirewallLogRetention, logs, err)
	}
	oldestKept := base.Add(time.Duration(n-FirewallLogRetention) * time.Millisecond)
	if old, _, _ := s.DescribeFirewallLogs(ctx, "1", FirewallLogFilter{End: oldestKept}); len(old) != 0 {
		t.Errorf("%d records older than the retained window are left", len(old))
	}
	if _, total, _ := s.DescribeFirewallLogs(ctx, "2", FirewallLogFilter{}); total != 1 {
		t.Errorf("the other account's logs: %d, want 1", total)
	}
}

// TestDescribeFirewallLogs: each filter, paging, newest first.
func TestDescribeFirewallLogs(t *testing.T) {
	ctx := context.Background()
	s := cfwLogFixture(t)
	udp := trafficLog("pol-nat", "10.0.1.6", "192.0.2.53", 53, 4)
	udp.Proto = 17
	recs := []model.FirewallTrafficLog{
		trafficLog("pol-in", "203.0.113.9", "198.18.0.10", 22, 0),  // 0
		trafficLog("pol-in", "203.0.113.10", "198.18.0.10", 22, 1), // 1
		trafficLog("pol-nat", "10.0.1.5", "192.0.2.1", 443, 2),     // 2
		trafficLog("pol-in", "198.51.100.1", "198.18.0.11", 80, 3), // 3
		udp, // 4
		trafficLog("pol-vpc", "10.0.1.5", "10.1.0.7", 22, 5), // account 2
	}
	if _, err := s.IngestFirewallLogs(ctx, "0", "", recs); err != nil {
		t.Fatal(err)
	}
	at := func(m int) time.Time { return time.Date(2026, 11, 27, 12, m, 0, 0, time.UTC) }
	pfx := netip.MustParsePrefix
	for name, tc := range map[string]struct {
		f     FirewallLogFilter
		total int
		want  []int // minutes of the records returned, in order
	}{
		"all, newest first": {FirewallLogFilter{}, 5, []int{4, 3, 2, 1, 0}},
		"internet":          {FirewallLogFilter{LogType: model.FirewallLogTypeInternet}, 3, []int{3, 1, 0}},
		"nat":               {FirewallLogFilter{LogType: model.FirewallLogTypeNAT}, 2, []int{4, 2}},
		"vpc (account 2's)": {FirewallLogFilter{LogType: model.FirewallLogTypeVPC}, 0, nil},
		"policy":            {FirewallLogFilter{PolicyID: "pol-nat"}, 2, []int{4, 2}},
		"another's policy":  {FirewallLogFilter{PolicyID: "pol-vpc"}, 0, nil},
		"action log":        {FirewallLogFilter{Action: model.FirewallLog}, 2, []int{4, 2}},
		"action drop":       {FirewallLogFilter{Action: model.FirewallDrop}, 3, []int{3, 1, 0}},
		"src host":          {FirewallLogFilter{Src: pfx("203.0.113.9/32")}, 1, []int{0}},
		"src block":         {FirewallLogFilter{Src: pfx("203.0.113.0/24")}, 2, []int{1, 0}},
		"dst block":         {FirewallLogFilter{Dst: pfx("192.0.2.0/24")}, 2, []int{4, 2}},
		"src and dst":       {FirewallLogFilter{Src: pfx("10.0.1.0/24"), Dst: pfx("192.0.2.1/32")}, 1, []int{2}},
		"dst port":          {FirewallLogFilter{Port: 22}, 2, []int{1, 0}},
		"src port":          {FirewallLogFilter{Port: 40003}, 1, []int{3}},
		"start":             {FirewallLogFilter{Start: at(3)}, 2, []int{4, 3}},
		"end exclusive":     {FirewallLogFilter{End: at(2)}, 2, []int{1, 0}},
		"window":            {FirewallLogFilter{Start: at(1), End: at(3)}, 2, []int{2, 1}},
		"limit":             {FirewallLogFilter{Limit: 2}, 5, []int{4, 3}},
		"offset":            {FirewallLogFilter{Offset: 2, Limit: 2}, 5, []int{2, 1}},
		"last page":         {FirewallLogFilter{Offset: 4, Limit: 2}, 5, []int{0}},
		"past the end":      {FirewallLogFilter{Offset: 9, Limit: 2}, 5, nil},
	} {
		logs, total, err := s.DescribeFirewallLogs(ctx, "1", tc.f)
		var got []int
		for _, l := range logs {
			got = append(got, l.Time.Minute())
		}
		if err != nil || total != tc.total || fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s: %v of %d (%v), want %v of %d", name, got, total, err, tc.want, tc.total)
		}
	}
}
