package service

import (
	"context"
	"encoding/json"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/errs"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/store"
	"github.com/palisade-project/palisade/internal/store/memory"
)

// ddosNow is the fixture's clock.
var ddosNow = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// ddosFixture is a service at ddosNow with the admin "0" and accounts "1"
// and "2". Account 1 has instance i-web (ENI eni-web, zone z-a) holding
// eip-a 198.18.0.10 (5 Mbit/s) and eip-d 198.18.0.12 (through its
// secondary ENI eni-web2), instance i-far (zone z-b) holding eip-e
// 198.18.0.13, and the unbound eip-b 198.18.0.11 (1000 Mbit/s); account 2
// holds eip-c 198.18.0.20.
func ddosFixture(t *testing.T) *Service {
	t.Helper()
	s := New(memory.New(), Config{Now: func() time.Time { return ddosNow }})
	n := 0
	eip := func(id, acct, addr string, bw int, eni string) model.EIP {
		n++ // created in this order
		e := model.EIP{ID: id, AccountID: acct, Address: netip.MustParseAddr(addr), Name: id + "-name", Bandwidth: bw,
			Status: model.EIPAvailable, CreatedAt: ddosNow.Add(time.Duration(n) * time.Second)}
		if eni != "" {
			e.InstanceID, e.InstanceType, e.ENIID, e.Status = "i-x", "EcsInstance", eni, model.EIPInUse
		}
		return e
	}
	recs := map[string]any{
		model.PrefixAccount + "0":      model.Account{ID: "0", Name: "admin", Admin: true},
		model.PrefixAccount + "1":      model.Account{ID: "1", Name: "alice"},
		model.PrefixAccount + "2":      model.Account{ID: "2", Name: "bob"},
		model.PrefixInstance + "i-web": model.Instance{ID: "i-web", AccountID: "1", Name: "web", ZoneID: "z-a", CreatedAt: ddosNow},
		model.PrefixInstance + "i-far": model.Instance{ID: "i-far", AccountID: "1", Name: "far", ZoneID: "z-b", CreatedAt: ddosNow.Add(time.Second)},
		model.PrefixENI + "eni-web":    model.ENI{ID: "eni-web", AccountID: "1", InstanceID: "i-web", ZoneID: "z-a"},
		model.PrefixENI + "eni-web2":   model.ENI{ID: "eni-web2", AccountID: "1", InstanceID: "i-web", ZoneID: "z-a"},
		model.PrefixENI + "eni-far":    model.ENI{ID: "eni-far", AccountID: "1", InstanceID: "i-far", ZoneID: "z-b"},
	}
	for _, e := range []model.EIP{
		eip("eip-a", "1", "198.18.0.10", 5, "eni-web"),
		eip("eip-b", "1", "198.18.0.11", 1000, ""),
		eip("eip-d", "1", "198.18.0.12", 5, "eni-web2"),
		eip("eip-e", "1", "198.18.0.13", 5, "eni-far"),
		eip("eip-c", "2", "198.18.0.20", 5, ""),
	} {
		recs[model.PrefixEIP+e.ID] = e
	}
	putRecords(t, s, recs)
	return s
}

func ipOf(s string) netip.Addr { return netip.MustParseAddr(s) }

// ddosIPStatus returns the status of ip among the caller's EIPs.
func ddosIPStatus(t *testing.T, s *Service, acct, ip string) string {
	t.Helper()
	list, err := s.DescribeDDoSInstances(context.Background(), acct, DDoSQuery{Type: "eip", IP: ip})
	if err != nil || len(list) != 1 || len(list[0].IPs) != 1 {
		t.Fatalf("DescribeDDoSInstances %s: %v %+v", ip, err, list)
	}
	return list[0].IPs[0].Status
}

func TestReportDDoSEventsRefusals(t *testing.T) {
	start := ddosNow.Add(-time.Minute)
	good := model.DDoSEvent{IP: ipOf("198.18.0.10"), Type: model.DDoSDefense, Start: start}
	with := func(f func(*model.DDoSEvent)) []model.DDoSEvent { e := good; f(&e); return []model.DDoSEvent{good, e} }
	tests := []struct {
		name     string
		caller   string
		zone     string
		events   []model.DDoSEvent
		code     string
		status   int
		inMsg    string
		accepted bool
	}{
		{"tenant", "1", "", []model.DDoSEvent{good}, "Forbidden.NotAdmin", 403, "", false},
		{"no ip", "0", "", with(func(e *model.DDoSEvent) { e.IP = netip.Addr{} }), "InvalidParameter", 400, "Events[1]", false},
		{"bad type", "0", "", with(func(e *model.DDoSEvent) { e.Type = "scrub" }), "InvalidParameter", 400, "scrub", false},
		{"no start", "0", "", with(func(e *model.DDoSEvent) { e.Start = time.Time{} }), "InvalidParameter", 400, "no start", false},
		{"ends before start", "0", "", with(func(e *model.DDoSEvent) { e.End = start.Add(-time.Second) }), "InvalidParameter", 400, "before it starts", false},
		{"ends at start", "0", "", with(func(e *model.DDoSEvent) { e.End = start }), "InvalidParameter", 400, "before it starts", false},
		{"unknown ip", "0", "", with(func(e *model.DDoSEvent) { e.IP = ipOf("198.18.0.99") }), "InvalidInternetIp.NotFound", 404, "198.18.0.99", false},
		{"ip of another zone", "0", "z-a", with(func(e *model.DDoSEvent) { e.IP = ipOf("198.18.0.13") }), "Forbidden.AgentZone", 403, "198.18.0.13", false},
		{"too many", "0", "", make([]model.DDoSEvent, DDoSEventsPerReport+1), "InvalidParameter", 400, "at most", false},
		{"own zone", "0", "z-a", []model.DDoSEvent{good}, "", 0, "", true},
		{"unassociated EIP from any zone", "0", "z-b", []model.DDoSEvent{{IP: ipOf("198.18.0.11"), Type: model.DDoSDefense, Start: start}}, "", 0, "", true},
		{"full key, any zone", "0", "", with(func(e *model.DDoSEvent) { e.IP = ipOf("198.18.0.13") }), "", 0, "", true},
		{"empty", "0", "", nil, "", 0, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := ddosFixture(t)
			before := storeSnapshot(t, s)
			err := s.ReportDDoSEvents(context.Background(), tc.caller, tc.zone, tc.events)
			wantCode(t, tc.name, err, tc.code, tc.status)
			if err != nil && !strings.Contains(err.Error(), tc.inMsg) {
				t.Errorf("message %q lacks %q", err, tc.inMsg)
			}
			if changed := !maps.Equal(before, storeSnapshot(t, s)); changed != tc.accepted {
				t.Errorf("store changed: %v, want %v", changed, tc.accepted)
			}
		})
	}
}

// The server, not the agent, says whose event it is.
func TestReportDDoSEventsSetsOwner(t *testing.T) {
	s := ddosFixture(t)
	ev := model.DDoSEvent{IP: ipOf("198.18.0.10"), AccountID: "2", EipID: "eip-c", Type: model.DDoSDefense, Start: ddosNow.Add(-time.Minute), PeakBps: 9}
	if err := s.ReportDDoSEvents(context.Background(), "0", "", []model.DDoSEvent{ev}); err != nil {
		t.Fatal(err)
	}
	var got model.DDoSEvent
	if err := s.view(context.Background(), func(tx store.ReadTxn) error {
		ok, err := getJSON(tx, ev.Key(), &got)
		if !ok && err == nil {
			t.Fatal("event not stored at its key")
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if got.AccountID != "1" || got.EipID != "eip-a" || got.PeakBps != 9 {
		t.Errorf("stored %+v", got)
	}
	if st := ddosIPStatus(t, s, "1", "198.18.0.10"); st != model.DDoSDefense {
		t.Errorf("alice's status %s", st)
	}
	if list, _ := s.DescribeDDoSInstances(context.Background(), "2", DDoSQuery{Type: "eip", Status: "defense"}); len(list) != 0 {
		t.Errorf("bob sees %+v", list)
	}
}

func TestDDoSStatusFromEvents(t *testing.T) {
	ip := ipOf("198.18.0.10")
	ago := func(d time.Duration) time.Time { return ddosNow.Add(-d) }
	defense := func(start, end time.Time) model.DDoSEvent {
		return model.DDoSEvent{IP: ip, Type: model.DDoSDefense, Start: start, End: end}
	}
	blackhole := func(start, until, end time.Time) model.DDoSEvent {
		return model.DDoSEvent{IP: ip, Type: model.DDoSBlackhole, Start: start, UnBlackholeAt: until, End: end}
	}
	tests := []struct {
		name   string
		events []model.DDoSEvent
		want   string
	}{
		{"none", nil, model.DDoSNormal},
		{"open defense", []model.DDoSEvent{defense(ago(time.Hour), time.Time{})}, model.DDoSDefense},
		{"closed defense", []model.DDoSEvent{defense(ago(time.Hour), ago(time.Minute))}, model.DDoSNormal},
		{"open blackhole", []model.DDoSEvent{blackhole(ago(time.Hour), ddosNow.Add(time.Hour), time.Time{})}, model.DDoSBlackhole},
		{"expired blackhole", []model.DDoSEvent{blackhole(ago(time.Hour), ago(time.Second), time.Time{})}, model.DDoSNormal},
		{"ended blackhole", []model.DDoSEvent{blackhole(ago(time.Hour), ddosNow.Add(time.Hour), ago(time.Minute))}, model.DDoSNormal},
		{"blackhole over defense", []model.DDoSEvent{
			defense(ago(time.Hour), time.Time{}), blackhole(ago(time.Minute), ddosNow.Add(time.Hour), time.Time{}),
		}, model.DDoSBlackhole},
		{"defense after an expired blackhole", []model.DDoSEvent{
			blackhole(ago(3*time.Hour), ago(time.Hour), time.Time{}), defense(ago(time.Minute), time.Time{}),
		}, model.DDoSDefense},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := ddosFixture(t)
			if err := s.ReportDDoSEvents(context.Background(), "0", "", tc.events); err != nil {
				t.Fatal(err)
			}
			if got := ddosIPStatus(t, s, "1", ip.String()); got != tc.want {
				t.Errorf("status %s, want %s", got, tc.want)
			}
			// The instance shows the same, through either of its types.
			list, err := s.DescribeDDoSInstances(context.Background(), "1", DDoSQuery{Type: "ecs", InstanceID: "i-web"})
			if err != nil || len(list) != 1 || list[0].Status != tc.want || len(list[0].IPs) != 2 {
				t.Errorf("i-web: %v %+v", err, list)
			}
		})
	}
}

// Events of a past holder of the address (another EIP, maybe of another
// account) do not count, and are not shown.
func TestDDoSEventsOfAPastHolder(t *testing.T) {
	s := ddosFixture(t)
	old := model.DDoSEvent{IP: ipOf("198.18.0.10"), Type: model.DDoSBlackhole, Start: ddosNow.Add(-time.Hour), UnBlackholeAt: ddosNow.Add(time.Hour),
		AccountID: "2", EipID: "eip-old"}
	if _, err := s.update(context.Background(), func(tx store.Txn) error { return putJSON(tx, old.Key(), old) }); err != nil {
		t.Fatal(err)
	}
	if st := ddosIPStatus(t, s, "1", "198.18.0.10"); st != model.DDoSNormal {
		t.Errorf("status %s", st)
	}
	evs, err := s.DescribeDDoSEvents(context.Background(), "1", DDoSEventQuery{Type: "eip", InstanceID: "eip-a"})
	if err != nil || len(evs) != 0 {
		t.Errorf("events: %v %+v", err, evs)
	}
}

func TestDDoSEventRetention(t *testing.T) {
	s := ddosFixture(t)
	ip := ipOf("198.18.0.10")
	// The oldest event is still open: it stays whatever its age.
	events := []model.DDoSEvent{{IP: ip, Type: model.DDoSBlackhole, Start: ddosNow.Add(-1000 * time.Hour), UnBlackholeAt: ddosNow.Add(time.Hour)}}
	for i := range DDoSEventsPerIP + 10 {
		start := ddosNow.Add(-time.Duration(500-i) * time.Hour)
		events = append(events, model.DDoSEvent{IP: ip, Type: model.DDoSDefense, Start: start, End: start.Add(time.Minute)})
	}
	// An event of another address is not counted with them.
	other := model.DDoSEvent{IP: ipOf("198.18.0.11"), Type: model.DDoSDefense, Start: ddosNow.Add(-600 * time.Hour), End: ddosNow.Add(-599 * time.Hour)}
	for i := 0; i < len(events); i += 50 {
		batch := events[i:min(i+50, len(events))]
		if i == 0 {
			batch = append(slices.Clone(batch), other)
		}
		if err := s.ReportDDoSEvents(context.Background(), "0", "", batch); err != nil {
			t.Fatal(err)
		}
	}
	var kept []model.DDoSEvent
	if err := s.view(context.Background(), func(tx store.ReadTxn) error {
		return listJSON(tx, model.PrefixDDoSEvent+ip.String()+"/", func(e *model.DDoSEvent) error { kept = append(kept, *e); return nil })
	}); err != nil {
		t.Fatal(err)
	}
	if len(kept) != DDoSEventsPerIP {
		t.Fatalf("%d events kept, want %d", len(kept), DDoSEventsPerIP)
	}
	oldest := ddosNow
	for _, e := range kept {
		if e.Type == model.DDoSDefense && e.Start.Before(oldest) {
			oldest = e.Start
		}
	}
	if !slices.ContainsFunc(kept, func(e model.DDoSEvent) bool { return e.Type == model.DDoSBlackhole }) {
		t.Error("the open blackhole was dropped")
	}
	// 211 events: the 11 oldest closed ones went.
	if want := ddosNow.Add(-time.Duration(500-11) * time.Hour); !oldest.Equal(want) {
		t.Errorf("oldest closed event kept starts %s, want %s", oldest, want)
	}
	evs, err := s.DescribeDDoSEvents(context.Background(), "1", DDoSEventQuery{Type: "eip", InstanceID: "eip-b", Days: 30})
	if err != nil || len(evs) != 1 {
		t.Errorf("the other address's events: %v %d", err, len(evs))
	}
}

func TestDescribeDDoSEvents(t *testing.T) {
	s := ddosFixture(t)
	a, d := ipOf("198.18.0.10"), ipOf("198.18.0.12")
	events := []model.DDoSEvent{
		{IP: a, Type: model.DDoSDefense, Start: ddosNow.Add(-10 * 24 * time.Hour), End: ddosNow.Add(-9 * 24 * time.Hour)},          // too old for 7 days
		{IP: a, Type: model.DDoSDefense, Start: ddosNow.Add(-8 * 24 * time.Hour), End: ddosNow.Add(-6 * 24 * time.Hour)},           // overlaps
		{IP: a, Type: model.DDoSBlackhole, Start: ddosNow.Add(-2 * time.Hour), UnBlackholeAt: ddosNow.Add(-time.Hour)},             // ran out
		{IP: d, Type: model.DDoSBlackhole, Start: ddosNow.Add(-time.Hour), UnBlackholeAt: ddosNow.Add(time.Hour)},                  // open
		{IP: a, Type: model.DDoSDefense, Start: ddosNow.Add(-time.Minute)},                                                         // open
		{IP: ipOf("198.18.0.13"), Type: model.DDoSDefense, Start: ddosNow.Add(-time.Minute)},                                       // another instance
		{IP: ipOf("198.18.0.20"), Type: model.DDoSDefense, Start: ddosNow.Add(-time.Minute), End: ddosNow.Add(-time.Second)},       // another account
		{IP: a, Type: model.DDoSDefense, Start: ddosNow.Add(-30 * 24 * time.Hour), End: ddosNow.Add(-29 * 24 * time.Hour)},         // far too old
		{IP: d, Type: model.DDoSDefense, Start: ddosNow.Add(-5 * 24 * time.Hour), End: ddosNow.Add(-5*24*time.Hour + time.Minute)}, // closed
	}
	if err := s.ReportDDoSEvents(context.Background(), "0", "", events); err != nil {
		t.Fatal(err)
	}
	type row struct {
		ip, typ, status string
		ended           time.Time
	}
	tests := []struct {
		name string
		q    DDoSEventQuery
		want []row
		code string
	}{
		{"instance, 7 days", DDoSEventQuery{Type: "ecs", InstanceID: "i-web"}, []row{
			{"198.18.0.10", "defense", "defense", time.Time{}},
			{"198.18.0.12", "blackhole", "blackhole", time.Time{}},
			{"198.18.0.10", "blackhole", "normal", ddosNow.Add(-time.Hour)},
			{"198.18.0.12", "defense", "normal", ddosNow.Add(-5*24*time.Hour + time.Minute)},
			{"198.18.0.10", "defense", "normal", ddosNow.Add(-6 * 24 * time.Hour)},
		}, ""},
		{"one IP", DDoSEventQuery{Type: "ecs", InstanceID: "i-web", IP: "198.18.0.12"}, []row{
			{"198.18.0.12", "blackhole", "blackhole", time.Time{}},
			{"198.18.0.12", "defense", "normal", ddosNow.Add(-5*24*time.Hour + time.Minute)},
		}, ""},
		{"one day", DDoSEventQuery{Type: "ecs", InstanceID: "i-web", Days: 1}, []row{
			{"198.18.0.10", "defense", "defense", time.Time{}},
			{"198.18.0.12", "blackhole", "blackhole", time.Time{}},
			{"198.18.0.10", "blackhole", "normal", ddosNow.Add(-time.Hour)},
		}, ""},
		{"by EIP", DDoSEventQuery{Type: "eip", InstanceID: "eip-d", Days: 1}, []row{{"198.18.0.12", "blackhole", "blackhole", time.Time{}}}, ""},
		{"EIP ID as ecs", DDoSEventQuery{Type: "ecs", InstanceID: "eip-d"}, nil, "InvalidInstanceId.NotFound"},
		{"IP of another instance", DDoSEventQuery{Type: "ecs", InstanceID: "i-web", IP: "198.18.0.13"}, nil, "InvalidInternetIp.NotFound"},
		{"another account's EIP", DDoSEventQuery{Type: "eip", InstanceID: "eip-c"}, nil, "InvalidInstanceId.NotFound"},
		{"no type", DDoSEventQuery{InstanceID: "i-web"}, nil, "MissingParameter"},
		{"no instance", DDoSEventQuery{Type: "ecs"}, nil, "MissingParameter"},
		{"slb", DDoSEventQuery{Type: "slb", InstanceID: "i-web"}, nil, "InvalidInstanceId.NotFound"},
		{"bad type", DDoSEventQuery{Type: "vm", InstanceID: "i-web"}, nil, "InvalidParameter"},
		{"bad ip", DDoSEventQuery{Type: "ecs", InstanceID: "i-web", IP: "198.18.0"}, nil, "InvalidParameter"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			list, err := s.DescribeDDoSEvents(context.Background(), "1", tc.q)
			wantCode(t, tc.name, err, tc.code, 0)
			var got []row
			for _, v := range list {
				got = append(got, row{v.IP.String(), v.Type, v.Status, v.Ended})
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("events:\n got %v\nwant %v", got, tc.want)
			}
		})
	}
}

func TestDescribeDDoSInstances(t *testing.T) {
	s := ddosFixture(t)
	err := s.ReportDDoSEvents(context.Background(), "0", "", []model.DDoSEvent{
		{IP: ipOf("198.18.0.12"), Type: model.DDoSDefense, Start: ddosNow.Add(-time.Minute)},
		{IP: ipOf("198.18.0.20"), Type: model.DDoSBlackhole, Start: ddosNow.Add(-time.Minute), UnBlackholeAt: ddosNow.Add(time.Hour)},
	})
	if err != nil {
		t.Fatal(err)
	}
	type inst struct {
		id, status string
		ips        string
	}
	tests := []struct {
		name string
		acct string
		q    DDoSQuery
		want []inst
		code string
	}{
		{"ecs", "1", DDoSQuery{Type: "ecs"}, []inst{{"i-web", "defense", "198.18.0.10,198.18.0.12"}, {"i-far", "normal", "198.18.0.13"}}, ""},
		{"eip", "1", DDoSQuery{Type: "EIP"}, []inst{
			{"eip-a", "normal", "198.18.0.10"}, {"eip-b", "normal", "198.18.0.11"}, {"eip-d", "defense", "198.18.0.12"}, {"eip-e", "normal", "198.18.0.13"},
		}, ""},
		{"by IP", "1", DDoSQuery{Type: "ecs", IP: "198.18.0.10"}, []inst{{"i-web", "defense", "198.18.0.10"}}, ""},
		{"by status", "1", DDoSQuery{Type: "ecs", Status: "defense"}, []inst{{"i-web", "defense", "198.18.0.12"}}, ""},
		{"by name", "1", DDoSQuery{Type: "ecs", Name: "fa"}, []inst{{"i-far", "normal", "198.18.0.13"}}, ""},
		{"by ID", "1", DDoSQuery{Type: "eip", InstanceID: "eip-b"}, []inst{{"eip-b", "normal", "198.18.0.11"}}, ""},
		{"other types", "1", DDoSQuery{Type: "ga_basic"}, nil, ""},
		{"bob", "2", DDoSQuery{Type: "eip"}, []inst{{"eip-c", "blackhole", "198.18.0.20"}}, ""},
		{"bob has no ECS", "2", DDoSQuery{Type: "ecs"}, nil, ""},
		{"bob names alice's", "2", DDoSQuery{Type: "eip", InstanceID: "eip-a"}, nil, ""},
		{"no type", "1", DDoSQuery{}, nil, "MissingParameter"},
		{"bad type", "1", DDoSQuery{Type: "vpc"}, nil, "InvalidParameter"},
		{"bad status", "1", DDoSQuery{Type: "ecs", Status: "attacked"}, nil, "InvalidParameter"},
		{"bad IP", "1", DDoSQuery{Type: "ecs", IP: "x"}, nil, "InvalidParameter"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			list, err := s.DescribeDDoSInstances(context.Background(), tc.acct, tc.q)
			wantCode(t, tc.name, err, tc.code, 400)
			var got []inst
			for _, in := range list {
				var ips []string
				for _, d := range in.IPs {
					ips = append(ips, d.EIP.Address.String())
				}
				got = append(got, inst{in.ID, in.Status, strings.Join(ips, ",")})
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("instances:\n got %v\nwant %v", got, tc.want)
			}
		})
	}
	total, defense, blackhole, err := s.DDoSCount(context.Background(), "1", "ecs")
	if err != nil || total != 2 || defense != 1 || blackhole != 0 {
		t.Errorf("DDoSCount ecs: %d %d %d %v", total, defense, blackhole, err)
	}
	total, defense, blackhole, err = s.DDoSCount(context.Background(), "2", "eip")
	if err != nil || total != 1 || defense != 0 || blackhole != 1 {
		t.Errorf("DDoSCount bob: %d %d %d %v", total, defense, blackhole, err)
	}
}

func TestModifyDDoSThreshold(t *testing.T) {
	n := func(v int) *int { return &v }
	tests := []struct {
		name       string
		acct       string
		typ, id    string
		ip         string
		in         DDoSThresholdInput
		code       string
		inMsg      string
		want       map[string][2]int // IP -> manual Bps, Pps
		wantAuto   []string          // IPs without a manual threshold
		wantStatus int
	}{
		{name: "set", acct: "1", id: "i-web", ip: "198.18.0.10", in: DDoSThresholdInput{Bps: n(100), Pps: n(20000)},
			want: map[string][2]int{"198.18.0.10": {100, 20000}, "198.18.0.12": {200, 300}}, wantAuto: []string{"198.18.0.11"}},
		{name: "at the maximum", acct: "1", id: "i-web", ip: "198.18.0.10", in: DDoSThresholdInput{Bps: n(450), Pps: n(100000)},
			want: map[string][2]int{"198.18.0.10": {450, 100000}}},
		{name: "whole instance", acct: "1", id: "i-web", in: DDoSThresholdInput{Bps: n(10), Pps: n(10)},
			want: map[string][2]int{"198.18.0.10": {10, 10}, "198.18.0.12": {10, 10}}},
		{name: "by EIP, large bandwidth", acct: "1", typ: "eip", id: "eip-b", in: DDoSThresholdInput{Bps: n(1500), Pps: n(1000000)},
			want: map[string][2]int{"198.18.0.11": {1500, 1000000}}},
		{name: "inferred EIP type", acct: "1", id: "eip-b", ip: "198.18.0.11", in: DDoSThresholdInput{Bps: n(1), Pps: n(1)},
			want: map[string][2]int{"198.18.0.11": {1, 1}}},
		{name: "auto", acct: "1", id: "i-web", ip: "198.18.0.10", in: DDoSThresholdInput{Auto: true}, wantAuto: []string{"198.18.0.10"}},
		{name: "bps too high", acct: "1", id: "i-web", ip: "198.18.0.10", in: DDoSThresholdInput{Bps: n(451), Pps: n(1)}, code: "InvalidParameter", inMsg: "1 to 450", wantStatus: 400},
		{name: "bps zero", acct: "1", id: "i-web", ip: "198.18.0.10", in: DDoSThresholdInput{Bps: n(0), Pps: n(1)}, code: "InvalidParameter", inMsg: "Bps", wantStatus: 400},
		{name: "pps too high", acct: "1", id: "i-web", ip: "198.18.0.10", in: DDoSThresholdInput{Bps: n(1), Pps: n(100001)}, code: "InvalidParameter", inMsg: "1 to 100000", wantStatus: 400},
		{name: "pps negative", acct: "1", id: "eip-b", in: DDoSThresholdInput{Bps: n(1), Pps: n(-1)}, code: "InvalidParameter", inMsg: "Pps", wantStatus: 400},
		{name: "bps over the large EIP's", acct: "1", id: "eip-b", in: DDoSThresholdInput{Bps: n(1501), Pps: n(1)}, code: "InvalidParameter", inMsg: "1 to 1500", wantStatus: 400},
		{name: "no bps", acct: "1", id: "i-web", ip: "198.18.0.10", in: DDoSThresholdInput{Pps: n(1)}, code: "MissingParameter", inMsg: "Bps", wantStatus: 400},
		{name: "no pps", acct: "1", id: "i-web", ip: "198.18.0.10", in: DDoSThresholdInput{Bps: n(1)}, code: "MissingParameter", inMsg: "Pps", wantStatus: 400},
		{name: "no instance", acct: "1", in: DDoSThresholdInput{Auto: true}, code: "MissingParameter", wantStatus: 400},
		{name: "another account's instance", acct: "2", id: "i-web", ip: "198.18.0.10", in: DDoSThresholdInput{Auto: true}, code: "InvalidInstanceId.NotFound", wantStatus: 404},
		{name: "another account's EIP", acct: "1", id: "eip-c", in: DDoSThresholdInput{Bps: n(1), Pps: n(1)}, code: "InvalidInstanceId.NotFound", wantStatus: 404},
		{name: "IP of another instance", acct: "1", id: "i-web", ip: "198.18.0.13", in: DDoSThresholdInput{Bps: n(1), Pps: n(1)}, code: "InvalidInternetIp.NotFound", wantStatus: 404},
		{name: "instance without EIP type", acct: "1", typ: "eip", id: "i-web", in: DDoSThresholdInput{Auto: true}, code: "InvalidInstanceId.NotFound", wantStatus: 404},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := ddosFixture(t)
			// A manual threshold everywhere on i-web first, for auto to reset.
			if err := s.ModifyDDoSThreshold(context.Background(), "1", "", "i-web", "", DDoSThresholdInput{Bps: n(200), Pps: n(300)}); err != nil {
				t.Fatal(err)
			}
			before := storeSnapshot(t, s)
			err := s.ModifyDDoSThreshold(context.Background(), tc.acct, tc.typ, tc.id, tc.ip, tc.in)
			wantCode(t, tc.name, err, tc.code, tc.wantStatus)
			if err != nil {
				if !strings.Contains(err.Error(), tc.inMsg) {
					t.Errorf("message %q lacks %q", err, tc.inMsg)
				}
				if !maps.Equal(before, storeSnapshot(t, s)) {
					t.Error("a refused change changed the store")
				}
				return
			}
			ips, err := s.DescribeDDoSInstances(context.Background(), "1", DDoSQuery{Type: "eip"})
			if err != nil {
				t.Fatal(err)
			}
			for _, inst := range ips {
				d := inst.IPs[0]
				addr := d.EIP.Address.String()
				if w, ok := tc.want[addr]; ok && (d.Auto || d.Bps != w[0] || d.Pps != w[1]) {
					t.Errorf("%s: auto %v %d/%d, want %v", addr, d.Auto, d.Bps, d.Pps, w)
				}
				if slices.Contains(tc.wantAuto, addr) {
					wb, wp := model.DefaultDDoSThreshold(d.EIP.Bandwidth)
					if !d.Auto || d.Bps != wb || d.Pps != wp {
						t.Errorf("%s: auto %v %d/%d, want the default %d/%d", addr, d.Auto, d.Bps, d.Pps, wb, wp)
					}
				}
			}
		})
	}
}

// The Anti-DDoS records reach the agents; the operator's configuration is
// written once, and again when it changes.
func TestDDoSConfigAndAgentState(t *testing.T) {
	st := memory.New()
	cfg := model.DDoSConfig{BlackholeMbps: 100, BlackholeSeconds: 30, QuietSeconds: 2}
	s := New(st, Config{DDoS: cfg})
	ctx := context.Background()
	if got := New(st, Config{}).DDoSConfig(); got != model.DefaultDDoSConfig() {
		t.Errorf("default config %+v", got)
	}
	for range 2 {
		if err := s.EnsureDDoSConfig(ctx); err != nil {
			t.Fatal(err)
		}
	}
	rev := st.Revision()
	if err := s.EnsureDDoSConfig(ctx); err != nil || st.Revision() != rev {
		t.Errorf("an unchanged configuration was written again (%v)", err)
	}
	if err := New(st, Config{}).EnsureDDoSConfig(ctx); err != nil || st.Revision() == rev {
		t.Errorf("a changed configuration was not written (%v)", err)
	}
	if err := s.EnsureDDoSConfig(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.update(ctx, func(tx store.Txn) error {
		if err := putJSON(tx, model.PrefixAccount+"0", model.Account{ID: "0", Admin: true}); err != nil {
			return err
		}
		if err := putJSON(tx, model.DDoSThresholdKey("1", ipOf("198.18.0.10")), model.DDoSThreshold{Bps: 1, Pps: 1}); err != nil {
			return err
		}
		return putJSON(tx, model.PrefixDDoSEvent+"198.18.0.10/defense/1", model.DDoSEvent{})
	}); err != nil {
		t.Fatal(err)
	}
	_, recs, err := s.ExportState(ctx, "0", "z-a")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]json.RawMessage{}
	for _, r := range recs {
		got[r.Key] = r.Value
	}
	var exported model.DDoSConfig
	if err := json.Unmarshal(got[model.KeyDDoSConfig], &exported); err != nil || exported != cfg {
		t.Errorf("exported config %s (%v)", got[model.KeyDDoSConfig], err)
	}
	for _, k := range []string{model.DDoSThresholdKey("1", ipOf("198.18.0.10")), model.PrefixDDoSEvent + "198.18.0.10/defense/1"} {
		if _, ok := got[k]; !ok {
			t.Errorf("%s not exported to agents", k)
		}
	}
}

// Releasing an EIP drops its manual threshold: the address may come back.
func TestReleaseEIPDropsDDoSThreshold(t *testing.T) {
	s := New(memory.New(), Config{})
	ctx := context.Background()
	e, err := s.AllocateEipAddress(ctx, "1", AllocateEipInput{})
	if err != nil {
		t.Fatal(err)
	}
	n := 50
	if err := s.ModifyDDoSThreshold(ctx, "1", "eip", e.ID, "", DDoSThresholdInput{Bps: &n, Pps: &n}); err != nil {
		t.Fatal(err)
	}
	if err := s.ReleaseEipAddress(ctx, "1", e.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.view(ctx, func(tx store.ReadTxn) error {
		if _, ok, _ := tx.Get(model.DDoSThresholdKey("1", e.Address)); ok {
			t.Error("the threshold outlived its EIP")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func TestModifyDDoSStatusRefused(t *testing.T) {
	s := ddosFixture(t)
	if err := s.ReportDDoSEvents(context.Background(), "0", "", []model.DDoSEvent{
		{IP: ipOf("198.18.0.10"), Type: model.DDoSBlackhole, Start: ddosNow.Add(-time.Minute), UnBlackholeAt: ddosNow.Add(90 * time.Minute)},
	}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, acct, id, ip string
		code               string
		status             int
		inMsg              string
	}{
		{"blackholed", "1", "i-web", "198.18.0.10", "OperationDenied", 403, "2026-11-25 13:30:00"},
		{"not blackholed", "1", "eip-b", "198.18.0.11", "OperationDenied", 403, "not blackholed"},
		{"another account", "2", "i-web", "198.18.0.10", "InvalidInstanceId.NotFound", 404, "i-web"},
		{"not its IP", "1", "i-web", "198.18.0.20", "InvalidInternetIp.NotFound", 404, "198.18.0.20"},
		{"no IP", "1", "i-web", "", "MissingParameter", 400, "InternetIp"},
	}
	for _, tc := range tests {
		err := s.ModifyDDoSStatus(context.Background(), tc.acct, "", tc.id, tc.ip)
		wantCode(t, tc.name, err, tc.code, tc.status)
		if e, _ := errs.As(err); !strings.Contains(e.Message, tc.inMsg) {
			t.Errorf("%s: message %q lacks %q", tc.name, e.Message, tc.inMsg)
		}
	}
}
