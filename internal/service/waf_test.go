package service

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

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
