package service

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/store"
)

// natPolicy is a valid NAT-firewall rule: drop TCP 25 from the VPC to
// anywhere, labelled by its description.
func natPolicy(label string) PolicyInput {
	return PolicyInput{
		AclAction: sp("drop"), Proto: sp("TCP"), Source: sp("10.0.0.0/16"), SourceType: sp("net"),
		Destination: sp("0.0.0.0/0"), DestinationType: sp("net"), DestPort: sp("25"), Description: sp(label),
	}
}

func addNatPolicy(t *testing.T, s *Service, acct, gw, order, label string) model.FirewallPolicy {
	t.Helper()
	p, err := s.CreateNatFirewallControlPolicy(context.Background(), acct, NatFirewallPolicyInput{
		NatGatewayID: gw, Direction: "out", NewOrder: order, PolicyInput: natPolicy(label),
	})
	if err != nil {
		t.Fatalf("CreateNatFirewallControlPolicy %s at %s: %v", label, order, err)
	}
	return p
}

// natLabels returns the descriptions of a gateway's policies in order,
// checking that the orders are 1..n and that each names the gateway.
func natLabels(t *testing.T, s *Service, acct, gw string) []string {
	t.Helper()
	list, err := s.DescribeNatFirewallControlPolicy(context.Background(), acct, NatPolicyQuery{NatGatewayID: gw})
	if err != nil {
		t.Fatalf("DescribeNatFirewallControlPolicy %s: %v", gw, err)
	}
	out := []string{}
	for i, p := range list {
		if p.Order != i+1 || p.NatGatewayID != gw || p.Direction != model.FirewallOut {
			t.Errorf("policy %s: order %d at position %d, gateway %q, direction %q", p.Description, p.Order, i+1, p.NatGatewayID, p.Direction)
		}
		out = append(out, p.Description)
	}
	return out
}

// TestNatFirewallPolicies: per-gateway ordering (insert, append, move,
// delete), retries, modify, the order range, and every refusal leaving
// the store as it was.
func TestNatFirewallPolicies(t *testing.T) {
	s := natFixture(t)
	ctx := context.Background()
	g := newNatGW(t, s, "1", CreateNatGatewayInput{VpcID: "vpc-1", VSwitchID: "vsw-a"})
	g2 := newNatGW(t, s, "1", CreateNatGatewayInput{VpcID: "vpc-2", VSwitchID: "vsw-c"})
	bobs := newNatGW(t, s, "2", CreateNatGatewayInput{VpcID: "vpc-x", VSwitchID: "vsw-x"})

	b := addNatPolicy(t, s, "1", g.ID, "-1", "b")
	a := addNatPolicy(t, s, "1", g.ID, "1", "a")
	c := addNatPolicy(t, s, "1", g.ID, "3", "c")
	addNatPolicy(t, s, "1", g2.ID, "1", "other gateway")
	if got := natLabels(t, s, "1", g.ID); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("order: %v", got)
	}
	if got := natLabels(t, s, "1", g2.ID); !slices.Equal(got, []string{"other gateway"}) {
		t.Errorf("the other gateway's: %v", got)
	}
	// A retry (the same policy where it was asked for) adds nothing.
	if again := addNatPolicy(t, s, "1", g.ID, "1", "a"); again.ID != a.ID {
		t.Errorf("retry: %s, want %s", again.ID, a.ID)
	}
	if again := addNatPolicy(t, s, "1", g.ID, "-1", "c"); again.ID != c.ID {
		t.Errorf("retry at the end: %s, want %s", again.ID, c.ID)
	}
	// Move (Direction may be left out: the SDK has none here).
	if err := s.ModifyNatFirewallControlPolicyPosition(ctx, "1", MoveNatPolicyInput{NatGatewayID: g.ID, AclUuid: c.ID, NewOrder: "1"}); err != nil {
		t.Fatal(err)
	}
	if got := natLabels(t, s, "1", g.ID); !slices.Equal(got, []string{"c", "a", "b"}) {
		t.Errorf("after move: %v", got)
	}
	if err := s.ModifyNatFirewallControlPolicyPosition(ctx, "1", MoveNatPolicyInput{NatGatewayID: g.ID, Direction: "OUT", AclUuid: c.ID, NewOrder: "-1"}); err != nil {
		t.Fatal(err)
	}
	if got := natLabels(t, s, "1", g.ID); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("after move to the end: %v", got)
	}
	// Modify: the fields given change, the order stays.
	if err := s.ModifyNatFirewallControlPolicy(ctx, "1", g.ID, "", b.ID, PolicyInput{AclAction: sp("accept"), Proto: sp("udp"), DestPort: sp("53")}); err != nil {
		t.Fatal(err)
	}
	list, err := s.DescribeNatFirewallControlPolicy(ctx, "1", NatPolicyQuery{NatGatewayID: g.ID, AclAction: "accept"})
	if err != nil || len(list) != 1 || list[0].ID != b.ID || list[0].Order != 2 || list[0].Proto != "UDP" || list[0].DestPort != "53" || list[0].Source != "10.0.0.0/16" {
		t.Errorf("after modify: %+v %v", list, err)
	}
	if start, end, err := s.NatFirewallPolicyPriorUsed(ctx, "1", g.ID, "out"); err != nil || start != 1 || end != 3 {
		t.Errorf("prior used: %d..%d %v", start, end, err)
	}
	if start, end, err := s.NatFirewallPolicyPriorUsed(ctx, "2", bobs.ID, "out"); err != nil || start != 0 || end != 0 {
		t.Errorf("prior used without policies: %d..%d %v", start, end, err)
	}
	// Delete: the rest move up.
	if err := s.DeleteNatFirewallControlPolicy(ctx, "1", g.ID, "out", a.ID); err != nil {
		t.Fatal(err)
	}
	if got := natLabels(t, s, "1", g.ID); !slices.Equal(got, []string{"b", "c"}) {
		t.Errorf("after delete: %v", got)
	}

	s.cfg.Quotas.FirewallPolicies = 2 // the gateway is full; g2 is not
	create := func(acct, gw, dir, order string, in PolicyInput) func() error {
		return func() error {
			_, err := s.CreateNatFirewallControlPolicy(ctx, acct, NatFirewallPolicyInput{NatGatewayID: gw, Direction: dir, NewOrder: order, PolicyInput: in})
			return err
		}
	}
	with := func(f func(*PolicyInput)) PolicyInput { in := natPolicy("x"); f(&in); return in }
	for _, tc := range []struct {
		what, code string
		status     int
		f          func() error
	}{
		{"no gateway", "MissingParameter", 400, create("1", "", "out", "1", natPolicy("x"))},
		{"no direction", "MissingParameter", 400, create("1", g2.ID, "", "1", natPolicy("x"))},
		{"direction in", "IllegalParam.Direction", 400, create("1", g2.ID, "in", "1", natPolicy("x"))},
		{"direction both", "IllegalParam.Direction", 400, create("1", g2.ID, "both", "1", natPolicy("x"))},
		{"no order", "MissingParameter", 400, create("1", g2.ID, "out", "", natPolicy("x"))},
		{"order past the end", "IllegalParam.NewOrder", 400, create("1", g2.ID, "out", "3", natPolicy("x"))},
		{"unknown gateway", "InvalidNatGatewayId.NotFound", 404, create("1", "ngw-nope", "out", "1", natPolicy("x"))},
		{"bob's gateway", "InvalidNatGatewayId.NotFound", 404, create("1", bobs.ID, "out", "1", natPolicy("x"))},
		{"domain source", "OperationUnsupported.SourceType", 400, create("1", g2.ID, "out", "1", with(func(in *PolicyInput) {
			in.SourceType, in.Source = sp("domain"), sp("example.com")
		}))},
		{"wildcard domain", "OperationUnsupported.Destination", 400, create("1", g2.ID, "out", "1", with(func(in *PolicyInput) {
			in.DestinationType, in.Destination = sp("domain"), sp("*.example.com")
		}))},
		{"bad cidr", "IllegalParam.Source", 400, create("1", g2.ID, "out", "1", with(func(in *PolicyInput) { in.Source = sp("10.0.0.0/33") }))},
		{"unknown book", "ResourceNotFound.AddressBook", 404, create("1", g2.ID, "out", "1", with(func(in *PolicyInput) {
			in.SourceType, in.Source = sp("group"), sp("nope")
		}))},
		{"ipv6", "OperationUnsupported.IpVersion", 400, create("1", g2.ID, "out", "1", with(func(in *PolicyInput) { in.IpVersion = sp("6") }))},
		{"quota", "QuotaExceeded.ControlPolicy", 403, create("1", g.ID, "out", "1", natPolicy("x"))},
		{"modify on another gateway", "ResourceNotFound.ControlPolicy", 404, func() error {
			return s.ModifyNatFirewallControlPolicy(ctx, "1", g2.ID, "", b.ID, PolicyInput{AclAction: sp("log")})
		}},
		{"modify in", "IllegalParam.Direction", 400, func() error {
			return s.ModifyNatFirewallControlPolicy(ctx, "1", g.ID, "in", b.ID, PolicyInput{AclAction: sp("log")})
		}},
		{"modify no id", "MissingParameter", 400, func() error {
			return s.ModifyNatFirewallControlPolicy(ctx, "1", g.ID, "", "", PolicyInput{AclAction: sp("log")})
		}},
		{"modify bob's view", "InvalidNatGatewayId.NotFound", 404, func() error {
			return s.ModifyNatFirewallControlPolicy(ctx, "2", g.ID, "", b.ID, PolicyInput{AclAction: sp("log")})
		}},
		{"modify bad port", "IllegalParam.DestPort", 400, func() error {
			return s.ModifyNatFirewallControlPolicy(ctx, "1", g.ID, "", b.ID, PolicyInput{Proto: sp("ICMP"), DestPort: sp("22")})
		}},
		{"delete without direction", "MissingParameter", 400, func() error { return s.DeleteNatFirewallControlPolicy(ctx, "1", g.ID, "", b.ID) }},
		{"delete deleted", "ResourceNotFound.ControlPolicy", 404, func() error { return s.DeleteNatFirewallControlPolicy(ctx, "1", g.ID, "out", a.ID) }},
		{"delete bob", "InvalidNatGatewayId.NotFound", 404, func() error { return s.DeleteNatFirewallControlPolicy(ctx, "2", g.ID, "out", b.ID) }},
		{"move past the end", "IllegalParam.NewOrder", 400, func() error {
			return s.ModifyNatFirewallControlPolicyPosition(ctx, "1", MoveNatPolicyInput{NatGatewayID: g.ID, AclUuid: b.ID, NewOrder: "3"})
		}},
		{"move without order", "MissingParameter", 400, func() error {
			return s.ModifyNatFirewallControlPolicyPosition(ctx, "1", MoveNatPolicyInput{NatGatewayID: g.ID, AclUuid: b.ID})
		}},
		{"move without id", "MissingParameter", 400, func() error {
			return s.ModifyNatFirewallControlPolicyPosition(ctx, "1", MoveNatPolicyInput{NatGatewayID: g.ID, NewOrder: "1"})
		}},
		{"prior used in", "IllegalParam.Direction", 400, func() error { _, _, err := s.NatFirewallPolicyPriorUsed(ctx, "1", g.ID, "in"); return err }},
		{"prior used bob", "InvalidNatGatewayId.NotFound", 404, func() error { _, _, err := s.NatFirewallPolicyPriorUsed(ctx, "2", g.ID, "out"); return err }},
		{"describe no gateway", "MissingParameter", 400, func() error { _, err := s.DescribeNatFirewallControlPolicy(ctx, "1", NatPolicyQuery{}); return err }},
		{"describe bob", "InvalidNatGatewayId.NotFound", 404, func() error {
			_, err := s.DescribeNatFirewallControlPolicy(ctx, "2", NatPolicyQuery{NatGatewayID: g.ID})
			return err
		}},
		{"describe bad proto", "IllegalParam.Proto", 400, func() error {
			_, err := s.DescribeNatFirewallControlPolicy(ctx, "1", NatPolicyQuery{NatGatewayID: g.ID, Proto: "GRE"})
			return err
		}},
	} {
		refused(t, s, tc.what, tc.code, tc.status, tc.f)
	}
	// The refusal of "in" says where inbound connections are judged.
	if err := create("1", g2.ID, "in", "1", natPolicy("x"))(); err == nil || !strings.Contains(err.Error(), "Internet firewall") {
		t.Errorf("direction in: %v", err)
	}
}

// TestNatFirewallBooksHitsAndGatewayDeletion: a book a NAT-firewall policy
// uses counts it, cannot be deleted and is renamed in it; agents' hits of
// the policy add up; deleting the gateway deletes its policies and their
// hits, and frees the book.
func TestNatFirewallBooksHitsAndGatewayDeletion(t *testing.T) {
	s := natFixture(t)
	ctx := context.Background()
	putRecords(t, s, map[string]any{model.PrefixAccount + "0": model.Account{ID: "0", Name: "admin", Admin: true}})
	g := newNatGW(t, s, "1", CreateNatGatewayInput{VpcID: "vpc-1", VSwitchID: "vsw-a"})
	book, err := s.AddAddressBook(ctx, "1", AddressBookInput{Name: sp("mail"), Type: sp("ip"), Description: sp("d"), AddressList: sp("192.0.2.0/24")})
	if err != nil {
		t.Fatal(err)
	}
	in := natPolicy("to mail")
	in.DestinationType, in.Destination = sp("group"), sp("mail")
	p, err := s.CreateNatFirewallControlPolicy(ctx, "1", NatFirewallPolicyInput{NatGatewayID: g.ID, Direction: "out", NewOrder: "1", PolicyInput: in})
	if err != nil {
		t.Fatal(err)
	}
	other := addNatPolicy(t, s, "1", g.ID, "-1", "plain")

	books, err := s.DescribeAddressBook(ctx, "1", AddressBookQuery{})
	if err != nil || len(books) != 1 || books[0].References != 1 {
		t.Errorf("DescribeAddressBook: %+v %v", books, err)
	}
	refused(t, s, "delete a book in use", "DependencyViolation.AddressBook", 403, func() error { return s.DeleteAddressBook(ctx, "1", book.ID) })
	if err := s.DeleteAddressBook(ctx, "1", book.ID); err == nil || !strings.Contains(err.Error(), p.ID) || !strings.Contains(err.Error(), g.ID) {
		t.Errorf("the refusal names the policy and its gateway: %v", err)
	}
	if err := s.ModifyAddressBook(ctx, "1", book.ID, AddressBookInput{Name: sp("smtp")}); err != nil {
		t.Fatal(err)
	}
	list, err := s.DescribeNatFirewallControlPolicy(ctx, "1", NatPolicyQuery{NatGatewayID: g.ID, AclUuid: p.ID})
	if err != nil || len(list) != 1 || list[0].Destination != "smtp" || !slices.Equal(list[0].DestinationGroupCidrs, []string{"192.0.2.0/24"}) {
		t.Errorf("renamed book: %+v %v", list, err)
	}

	t1 := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	if err := s.ReportFirewallHits(ctx, "0", []model.FirewallHits{{PolicyID: p.ID, Hits: 4, LastHit: t1}}); err != nil {
		t.Fatal(err)
	}
	list, err = s.DescribeNatFirewallControlPolicy(ctx, "1", NatPolicyQuery{NatGatewayID: g.ID, AclUuid: p.ID})
	if err != nil || len(list) != 1 || list[0].Hits.Hits != 4 || !list[0].Hits.LastHit.Equal(t1) {
		t.Errorf("hits: %+v %v", list, err)
	}

	// DeleteNatGateway (no entries, no EIPs: without Force) takes the
	// policies and their hits with it.
	if err := s.DeleteNatGateway(ctx, "1", g.ID, false); err != nil {
		t.Fatal(err)
	}
	if err := s.view(ctx, func(tx store.ReadTxn) error {
		for _, k := range []string{model.PrefixNatFirewallPolicy + p.ID, model.PrefixNatFirewallPolicy + other.ID, model.PrefixFirewallHits + p.ID} {
			if _, ok, _ := tx.Get(k); ok {
				t.Errorf("%s left after DeleteNatGateway", k)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteAddressBook(ctx, "1", book.ID); err != nil {
		t.Errorf("the book is free once the gateway is gone: %v", err)
	}
}

// TestAgentPrefixesIncludeNatFirewall: agents mirror the NAT firewall's
// policies, to every zone.
func TestAgentPrefixesIncludeNatFirewall(t *testing.T) {
	if p := AgentPrefixes(); !slices.Contains(p, model.PrefixNatFirewallPolicy) || slices.Contains(p, model.PrefixFirewallHits) {
		t.Errorf("AgentPrefixes %v", p)
	}
	s := natFixture(t)
	putRecords(t, s, map[string]any{model.PrefixAccount + "0": model.Account{ID: "0", Name: "admin", Admin: true}})
	g := newNatGW(t, s, "1", CreateNatGatewayInput{VpcID: "vpc-1", VSwitchID: "vsw-a"}) // zone z-a
	p := addNatPolicy(t, s, "1", g.ID, "1", "p")
	_, recs, err := s.ExportState(context.Background(), "0", "z-b")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(recs, func(r Record) bool { return r.Key == model.PrefixNatFirewallPolicy+p.ID }) {
		t.Errorf("the agent of another zone lacks %s", p.ID)
	}
}
