package service

import (
	"context"
	"fmt"
	"net/netip"
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
			if err := putJSON(tx, model.PrefixInstance+"i-"+acct, model.Instance{ID: "i-" + acct, AccountID: acct, PrimaryENIID: "eni-w" + acct}); err != nil {
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
		if _, err := s.IngestWafLogs(ctx, caller, recs); !errs.HasCode(err, "Forbidden.NotAdmin") {
			t.Errorf("caller %s: %v, want Forbidden.NotAdmin", caller, err)
		}
	}
	if _, total, _ := s.DescribeWafLogs(ctx, "1", WAFLogFilter{}); total != 0 {
		t.Fatalf("a refused report stored %d records", total)
	}
	if _, err := s.IngestWafLogs(ctx, "0", make([]model.WAFLog, WAFLogsPerPut+1)); !errs.HasCode(err, "InvalidParameter") {
		t.Errorf("oversized batch: %v", err)
	}
	n, err := s.IngestWafLogs(ctx, "0", recs)
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
