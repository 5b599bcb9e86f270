package service

import (
	"context"
	"fmt"
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

// TestWafLogRetention: an account keeps at most WAFLogRetention records;
// the oldest go first, and another account's records are untouched.
func TestWafLogRetention(t *testing.T) {
	ctx := context.Background()
	s := New(memory.New(), Config{})
	for _, acct := range []string{"1", "2"} {
		if _, err := s.update(ctx, func(tx store.Txn) error {
			if err := putJSON(tx, model.PrefixInstance+"i-"+acct, model.Instance{ID: "i-" + acct, AccountID: acct, PrimaryENIID: "eni-" + acct}); err != nil {
				return err
			}
			return putJSON(tx, model.PrefixENI+"eni-"+acct, model.ENI{ID: "eni-" + acct, AccountID: acct, PrimaryIP: netip.MustParseAddr("10.0.0.1")})
		}); err != nil {
			t.Fatal(err)
		}
	}
	p1, err := s.CreateWafProtection(ctx, "1", WAFProtectionInput{InstanceID: "i-1", Port: 80})
	if err != nil {
		t.Fatal(err)
	}
	p2, err := s.CreateWafProtection(ctx, "2", WAFProtectionInput{InstanceID: "i-2", Port: 80})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutWafLogs(ctx, "2", []model.WAFLog{{ProtectionID: p2.ID, Action: "block"}}); err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	n := 0
	for batch := 0; n < WAFLogRetention+500; batch++ {
		recs := make([]model.WAFLog, WAFLogsPerPut)
		for i := range recs {
			recs[i] = model.WAFLog{Time: base.Add(time.Duration(n) * time.Millisecond), ProtectionID: p1.ID, URI: fmt.Sprint("/", n), Action: "pass"}
			n++
		}
		if _, err := s.PutWafLogs(ctx, "1", recs); err != nil {
			t.Fatal(err)
		}
	}
	logs, total, err := s.DescribeWafLogs(ctx, "1", WAFLogFilter{Limit: 1})
	if err != nil || total != WAFLogRetention || logs[0].URI != fmt.Sprint("/", n-1) {
		t.Fatalf("kept %d (want %d), newest %+v, %v", total, WAFLogRetention, logs, err)
	}
	if old, _, _ := s.DescribeWafLogs(ctx, "1", WAFLogFilter{End: base.Add(time.Duration(n-WAFLogRetention) * time.Millisecond)}); len(old) != 0 {
		t.Errorf("%d records older than the retained window are left", len(old))
	}
	if _, total, _ := s.DescribeWafLogs(ctx, "2", WAFLogFilter{}); total != 1 {
		t.Errorf("other account's logs: %d", total)
	}
	if _, err := s.PutWafLogs(ctx, "2", []model.WAFLog{{ProtectionID: p1.ID}}); err == nil {
		t.Error("account 2 wrote logs of account 1's object")
	}
}

// TestIngestWafLogs: only the admin reports decisions for other accounts;
// each record takes its object's account whatever the agent says, records
// of unknown objects are dropped, and the batch bound is PutWafLogs's.
func TestIngestWafLogs(t *testing.T) {
	ctx := context.Background()
	s := flowFixture(t, Config{})
	for _, acct := range []string{"1", "2"} {
		if _, err := s.update(ctx, func(tx store.Txn) error {
			if err := putJSON(tx, model.PrefixAccount+acct, model.Account{ID: acct, Name: "tenant" + acct}); err != nil {
				return err
			}
			if err := putJSON(tx, model.PrefixInstance+"i-"+acct, model.Instance{ID: "i-" + acct, AccountID: acct, PrimaryENIID: "eni-w" + acct, ZoneID: "zone-" + acct}); err != nil {
				return err
			}
			return putJSON(tx, model.PrefixENI+"eni-w"+acct, model.ENI{ID: "eni-w" + acct, AccountID: acct, PrimaryIP: netip.MustParseAddr("10.0.0.1")})
		}); err != nil {
			t.Fatal(err)
		}
	}
	p1, err := s.CreateWafProtection(ctx, "1", WAFProtectionInput{InstanceID: "i-1", Port: 80})
	if err != nil {
		t.Fatal(err)
	}
	p2, err := s.CreateWafProtection(ctx, "2", WAFProtectionInput{InstanceID: "i-2", Port: 443})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	recs := []model.WAFLog{
		{Time: at, AccountID: "2", ProtectionID: p1.ID, URI: "/a", Action: "block"}, // forged account: the object's wins
		{Time: at.Add(time.Second), ProtectionID: p2.ID, URI: "/b", Action: "pass"},
		{ProtectionID: "waf-deleted", URI: "/c", Action: "block"}, // unknown object: dropped
		{ProtectionID: "", URI: "/d", Action: "block"},            // no object: dropped
		{AccountID: "1", ProtectionID: p1.ID, URI: "/e", Action: "monitor"},
	}
	for _, caller := range []string{"1", "2", "nobody"} {
		if _, err := s.IngestWafLogs(ctx, caller, "", recs); !errs.HasCode(err, "Forbidden.NotAdmin") {
			t.Errorf("caller %s: %v, want Forbidden.NotAdmin", caller, err)
		}
	}
	if _, total, _ := s.DescribeWafLogs(ctx, "1", WAFLogFilter{}); total != 0 {
		t.Fatalf("a refused report stored %d records", total)
	}
	if _, err := s.IngestWafLogs(ctx, "0", "", make([]model.WAFLog, WAFLogsPerPut+1)); !errs.HasCode(err, "InvalidParameter") {
		t.Errorf("oversized batch: %v", err)
	}
	// An agent key reports its own zone's objects only: p2 protects i-2
	// of zone-2.
	if _, err := s.IngestWafLogs(ctx, "0", "zone-1", recs); !errs.HasCode(err, "Forbidden.AgentZone") {
		t.Errorf("the agent key of zone-1 reported zone-2's WAF logs: %v", err)
	}
	if _, total, _ := s.DescribeWafLogs(ctx, "1", WAFLogFilter{}); total != 0 {
		t.Fatalf("a refused report stored %d records", total)
	}
	n, err := s.IngestWafLogs(ctx, "0", "", recs)
	if err != nil || n != 3 {
		t.Fatalf("ingest: %d %v, want 3 stored", n, err)
	}
	logs1, total1, err := s.DescribeWafLogs(ctx, "1", WAFLogFilter{})
	if err != nil || total1 != 2 {
		t.Fatalf("account 1: %d records (%v), want 2", total1, err)
	}
	for _, l := range logs1 {
		if l.AccountID != "1" || l.ProtectionID != p1.ID || l.Time.IsZero() {
			t.Errorf("account 1 record: %+v", l)
		}
	}
	logs2, total2, err := s.DescribeWafLogs(ctx, "2", WAFLogFilter{})
	if err != nil || total2 != 1 || logs2[0].AccountID != "2" || logs2[0].URI != "/b" {
		t.Errorf("account 2: %+v (%d, %v)", logs2, total2, err)
	}
	if _, total, _ := s.DescribeWafLogs(ctx, "0", WAFLogFilter{}); total != 0 {
		t.Errorf("the admin got %d records", total)
	}
}

// wafInstances makes, through the API, a VPC with two instances of account
// "1": i-web (primary ENI 10.0.1.7 with secondary 10.0.1.8, and a second
// ENI 10.0.1.9 with secondary 10.0.1.10) and i-other (10.0.1.20). It
// returns their IDs.
func wafInstances(t *testing.T, s *Service) (web, other string) {
	t.Helper()
	ctx := context.Background()
	vpc, err := s.CreateVpc(ctx, "1", CreateVpcInput{CidrBlock: "10.0.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	vsw, err := s.CreateVSwitch(ctx, "1", CreateVSwitchInput{VpcID: vpc.VpcID, ZoneID: s.DefaultZone(), CidrBlock: "10.0.1.0/24"})
	if err != nil {
		t.Fatal(err)
	}
	sg, err := s.CreateSecurityGroup(ctx, "1", CreateSecurityGroupInput{VpcID: vpc.VpcID})
	if err != nil {
		t.Fatal(err)
	}
	run := func(enis ...ENISpec) string {
		t.Helper()
		ids, err := s.RunInstances(ctx, "1", RunInstancesInput{ImageID: "img", InstanceType: "t", VSwitchID: vsw, SecurityGroupIDs: []string{sg}, ENIs: enis})
		if err != nil || len(ids) != 1 {
			t.Fatalf("run instances: %v %v", ids, err)
		}
		return ids[0]
	}
	web = run(ENISpec{PrimaryIP: "10.0.1.7", SecondaryIPs: []string{"10.0.1.8"}},
		ENISpec{VSwitchID: vsw, PrimaryIP: "10.0.1.9", SecondaryIPs: []string{"10.0.1.10"}})
	other = run(ENISpec{PrimaryIP: "10.0.1.20"})
	return web, other
}

// TestDeleteInstanceDeletesWAF: an instance's protected objects and their
// rules go with it, forced or not, and no longer count toward the quota;
// another instance's stay. A deletion that fails deletes nothing.
func TestDeleteInstanceDeletesWAF(t *testing.T) {
	for _, tc := range []struct {
		name  string
		force bool
	}{
		{"stopped", false},
		{"force", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s := New(memory.New(), Config{})
			web, other := wafInstances(t, s)
			protect := func(inst string, port int) model.WAFProtection {
				t.Helper()
				p, err := s.CreateWafProtection(ctx, "1", WAFProtectionInput{InstanceID: inst, Port: port})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := s.CreateWafRule(ctx, "1", WAFRuleInput{ProtectionID: p.ID, Kind: "blacklist", Addresses: []string{"203.0.113.5"}}); err != nil {
					t.Fatal(err)
				}
				return p
			}
			p80, p443, kept := protect(web, 80), protect(web, 443), protect(other, 80)

			// Running without force: refused, and nothing is deleted.
			if !tc.force {
				if err := s.DeleteInstance(ctx, "1", web, false, false); !errs.HasCode(err, "IncorrectInstanceStatus") {
					t.Fatalf("deleting a running instance: %v", err)
				}
				if ps, _ := s.DescribeWafProtections(ctx, "1", WAFProtectionFilter{InstanceID: web}); len(ps) != 2 {
					t.Fatalf("a refused deletion left %d of 2 protections", len(ps))
				}
				if err := s.StopInstance(ctx, "1", web, false); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.DeleteInstance(ctx, "1", web, tc.force, false); err != nil {
				t.Fatal(err)
			}
			if ps, err := s.DescribeWafProtections(ctx, "1", WAFProtectionFilter{InstanceID: web}); err != nil || len(ps) != 0 {
				t.Errorf("protections of the deleted instance: %+v %v", ps, err)
			}
			for _, p := range []model.WAFProtection{p80, p443} {
				if _, err := s.DescribeWafProtections(ctx, "1", WAFProtectionFilter{ID: p.ID}); !errs.HasCode(err, "InvalidProtectionId.NotFound") {
					t.Errorf("protection %s: %v, want InvalidProtectionId.NotFound", p.ID, err)
				}
				if _, err := s.CreateWafRule(ctx, "1", WAFRuleInput{ProtectionID: p.ID, Kind: "blacklist", Addresses: []string{"203.0.113.6"}}); !errs.HasCode(err, "InvalidProtectionId.NotFound") {
					t.Errorf("rule added to deleted protection %s: %v", p.ID, err)
				}
			}
			rules, err := s.DescribeWafRules(ctx, "1", "", "")
			if err != nil || len(rules) != 1 || rules[0].ProtectionID != kept.ID {
				t.Errorf("rules left: %+v %v, want only the one of %s", rules, err, kept.ID)
			}
			all, err := s.DescribeWafProtections(ctx, "1", WAFProtectionFilter{})
			if err != nil || len(all) != 1 || all[0].ID != kept.ID {
				t.Errorf("protections left: %+v %v, want only %s", all, err, kept.ID)
			}
			// The quota counts the remaining object only: the account can
			// fill it up again to exactly WAFProtectionsPerAccount.
			for port := 1; port < WAFProtectionsPerAccount; port++ {
				if _, err := s.CreateWafProtection(ctx, "1", WAFProtectionInput{InstanceID: other, Port: 1000 + port}); err != nil {
					t.Fatalf("protection %d of %d: %v", port+1, WAFProtectionsPerAccount, err)
				}
			}
			if _, err := s.CreateWafProtection(ctx, "1", WAFProtectionInput{InstanceID: other, Port: 999}); !errs.HasCode(err, "QuotaExceeded.WafProtection") {
				t.Errorf("over the quota: %v", err)
			}
		})
	}
}

// TestWafProtectionUpstream: an upstream is empty or IP:PORT with IP a
// private IPv4 address of the protected instance's own ENIs; anything else
// (another host, the host's loopback, IPv6, another instance) would let
// internet traffic past the instance's security groups and is refused, on
// Create and Modify alike, with nothing written.
func TestWafProtectionUpstream(t *testing.T) {
	ctx := context.Background()
	s := New(memory.New(), Config{})
	web, other := wafInstances(t, s)
	str := func(v string) *string { return &v }
	tests := []struct {
		upstream string
		want     string // stored upstream; "" with ok false: refused
		ok       bool
	}{
		{"", "", true},
		{"10.0.1.7:8080", "10.0.1.7:8080", true}, // own primary address, another port
		{"10.0.1.8:80", "10.0.1.8:80", true},     // secondary address of the primary ENI
		{"10.0.1.9:80", "10.0.1.9:80", true},     // second ENI
		{"10.0.1.10:65535", "10.0.1.10:65535", true},
		{"10.0.1.7:080", "10.0.1.7:80", true}, // stored canonical
		{"192.168.1.1:80", "", false},
		{"8.8.8.8:80", "", false},
		{"127.0.0.1:18787", "", false},
		{"[::1]:80", "", false},
		{":80", "", false},
		{"10.0.1.20:80", "", false}, // another instance of the account
		{"10.0.1.11:80", "", false}, // free address of the vSwitch
		{"[::ffff:10.0.1.7]:80", "", false},
		{"10.0.1.7:0", "", false},
		{"10.0.1.7:65536", "", false},
		{"10.0.1.7", "", false},
		{"10.0.1.7:", "", false},
		{"web:80", "", false},
		{"localhost:80", "", false},
		{"10.0.1.7/32:80", "", false},
	}
	base, err := s.CreateWafProtection(ctx, "1", WAFProtectionInput{InstanceID: web, Port: 81})
	if err != nil {
		t.Fatal(err)
	}
	for i, tc := range tests {
		t.Run(tc.upstream, func(t *testing.T) {
			check := func(op string, err error) {
				t.Helper()
				if tc.ok {
					if err != nil {
						t.Errorf("%s: %v", op, err)
					}
					return
				}
				e, isErr := errs.As(err)
				if !isErr || e.Code != "InvalidParameter" || e.Status != 400 || !strings.Contains(e.Message, "UpstreamAddress") || !strings.Contains(e.Message, "10.0.1.7, 10.0.1.8, 10.0.1.9, 10.0.1.10") {
					t.Errorf("%s: %v, want a 400 InvalidParameter on UpstreamAddress listing the instance's addresses", op, err)
				}
			}
			p, err := s.CreateWafProtection(ctx, "1", WAFProtectionInput{InstanceID: web, Port: 2000 + i, Upstream: str(tc.upstream)})
			check("create", err)
			if tc.ok {
				if got, _ := s.DescribeWafProtections(ctx, "1", WAFProtectionFilter{ID: p.ID}); len(got) != 1 || got[0].Upstream != tc.want {
					t.Errorf("create stored %+v, want upstream %q", got, tc.want)
				}
			} else if got, _ := s.DescribeWafProtections(ctx, "1", WAFProtectionFilter{InstanceID: web}); slices.ContainsFunc(got, func(x model.WAFProtection) bool { return x.Port == 2000+i }) {
				t.Errorf("a refused create was stored")
			}
			check("modify", s.ModifyWafProtection(ctx, "1", base.ID, WAFProtectionInput{Upstream: str(tc.upstream)}))
			got, _ := s.DescribeWafProtections(ctx, "1", WAFProtectionFilter{ID: base.ID})
			if want := map[bool]string{true: tc.want, false: ""}[tc.ok]; len(got) != 1 || got[0].Upstream != want {
				t.Errorf("modify stored %+v, want upstream %q", got, want)
			}
			if err := s.ModifyWafProtection(ctx, "1", base.ID, WAFProtectionInput{Upstream: str("")}); err != nil {
				t.Fatal(err)
			}
		})
	}

	// Modify keeps the object's instance: another instance's ID does not
	// make that instance's address acceptable, nor move the object.
	err = s.ModifyWafProtection(ctx, "1", base.ID, WAFProtectionInput{InstanceID: other, Upstream: str("10.0.1.20:80")})
	if !errs.HasCode(err, "InvalidParameter") {
		t.Errorf("modify with another instance's ID and address: %v", err)
	}
	if got, _ := s.DescribeWafProtections(ctx, "1", WAFProtectionFilter{ID: base.ID}); len(got) != 1 || got[0].InstanceID != web || got[0].Upstream != "" {
		t.Errorf("after the refused modify: %+v", got)
	}

	// An object stored with an upstream now refused (before this check
	// existed) is not modified until its upstream is fixed.
	if _, err := s.update(ctx, func(tx store.Txn) error {
		return putJSON(tx, model.PrefixWAFProtection+"waf-legacy",
			model.WAFProtection{ID: "waf-legacy", AccountID: "1", InstanceID: web, Port: 82, Upstream: "192.168.1.1:80"})
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.ModifyWafProtection(ctx, "1", "waf-legacy", WAFProtectionInput{BlockStatus: new(403)}); !errs.HasCode(err, "InvalidParameter") {
		t.Errorf("modify of a stored bad upstream: %v", err)
	}
	if err := s.ModifyWafProtection(ctx, "1", "waf-legacy", WAFProtectionInput{Upstream: str("10.0.1.7:80"), BlockStatus: new(403)}); err != nil {
		t.Errorf("fixing a stored bad upstream: %v", err)
	}
}

// TestWafSteering: a protected object is reported in force only as the
// agent steers it: NoEip until the instance has an EIP, then Active through
// that EIP (the one on the primary ENI when there are several), and
// UpstreamNotOnInstance once its upstream address is released; another
// account's objects are never answered for.
func TestWafSteering(t *testing.T) {
	ctx := context.Background()
	s := New(memory.New(), Config{})
	web, _ := wafInstances(t, s)
	up := "10.0.1.10:80" // secondary address of the second ENI
	p, err := s.CreateWafProtection(ctx, "1", WAFProtectionInput{InstanceID: web, Port: 80, Upstream: &up})
	if err != nil {
		t.Fatal(err)
	}
	state := func() WAFSteering {
		t.Helper()
		st, err := s.WafSteering(ctx, "1", []model.WAFProtection{p})
		if err != nil {
			t.Fatal(err)
		}
		return st[p.ID]
	}
	if st := state(); st.Status != WAFSteeringNoEIP || st.EIPAddress.IsValid() || !strings.Contains(st.Reason, "no EIP") {
		t.Errorf("without an EIP: %+v", st)
	}
	var enis []*model.ENI
	if err := s.view(ctx, func(tx store.ReadTxn) (err error) { enis, err = instanceENIs(tx, web); return err }); err != nil || len(enis) != 2 {
		t.Fatalf("ENIs of %s: %v %v", web, enis, err)
	}
	second, err := s.AllocateEipAddress(ctx, "1", AllocateEipInput{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AssociateEipAddress(ctx, "1", second.ID, enis[1].ID, "NetworkInterface", ""); err != nil {
		t.Fatal(err)
	}
	if st := state(); st.Status != WAFSteeringActive || st.EIPAddress != second.Address || st.Reason != "" {
		t.Errorf("with an EIP on the second ENI: %+v, want Active through %s", st, second.Address)
	}
	primary, err := s.AllocateEipAddress(ctx, "1", AllocateEipInput{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AssociateEipAddress(ctx, "1", primary.ID, web, "EcsInstance", ""); err != nil {
		t.Fatal(err)
	}
	if st := state(); st.Status != WAFSteeringActive || st.EIPAddress != primary.Address {
		t.Errorf("with EIPs on both ENIs: %+v, want Active through the primary ENI's %s", st, primary.Address)
	}
	if err := s.UnassignPrivateIpAddresses(ctx, "1", enis[1].ID, []string{"10.0.1.10"}); err != nil {
		t.Fatal(err)
	}
	if st := state(); st.Status != WAFSteeringUpstreamGone || !strings.Contains(st.Reason, up) {
		t.Errorf("upstream released: %+v", st)
	}
	if st, err := s.WafSteering(ctx, "2", []model.WAFProtection{p}); err != nil || len(st) != 0 {
		t.Errorf("another account: %v %v", st, err)
	}
}
