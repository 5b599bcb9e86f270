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

func sp(s string) *string { return &s }

// cfwFixture is a service with accounts "1" and "2"; account 1 holds the
// EIPs 198.18.0.10 (eip-a, bound to instance i-web) and 198.18.0.11
// (eip-b, unbound), account 2 holds 198.18.0.20 (eip-c).
func cfwFixture(t *testing.T, q Quotas) *Service {
	t.Helper()
	s := New(memory.New(), Config{Quotas: q})
	eip := func(id, acct, addr, inst string) model.EIP {
		e := model.EIP{ID: id, AccountID: acct, Address: netip.MustParseAddr(addr), Name: id + "-name", Status: model.EIPAvailable}
		if inst != "" {
			e.InstanceID, e.InstanceType, e.Status, e.PrivateIP = inst, "EcsInstance", model.EIPInUse, netip.MustParseAddr("10.0.1.5")
		}
		return e
	}
	recs := map[string]any{
		model.PrefixAccount + "1":      model.Account{ID: "1", Name: "alice"},
		model.PrefixAccount + "2":      model.Account{ID: "2", Name: "bob"},
		model.PrefixInstance + "i-web": model.Instance{ID: "i-web", AccountID: "1", Name: "web"},
		model.PrefixEIP + "eip-a":      eip("eip-a", "1", "198.18.0.10", "i-web"),
		model.PrefixEIP + "eip-b":      eip("eip-b", "1", "198.18.0.11", ""),
		model.PrefixEIP + "eip-c":      eip("eip-c", "2", "198.18.0.20", ""),
	}
	putRecords(t, s, recs)
	return s
}

// policyIn is a valid rule: TCP 443 from anywhere to 198.18.0.10, labelled
// by its description.
func policyIn(label string) PolicyInput {
	return PolicyInput{
		AclAction: sp("accept"), Proto: sp("TCP"), Source: sp("0.0.0.0/0"), SourceType: sp("net"),
		Destination: sp("198.18.0.10/32"), DestinationType: sp("net"), DestPort: sp("443"), Description: sp(label),
	}
}

func addPolicy(t *testing.T, s *Service, acct, dir, order, label string) model.FirewallPolicy {
	t.Helper()
	p, err := s.AddControlPolicy(context.Background(), acct, AddControlPolicyInput{Direction: dir, NewOrder: order, PolicyInput: policyIn(label)})
	if err != nil {
		t.Fatalf("AddControlPolicy %s at %s: %v", label, order, err)
	}
	return p
}

// labels returns the descriptions of an account's policies of a direction
// in order, checking that the orders are 1..n.
func labels(t *testing.T, s *Service, acct, dir string) []string {
	t.Helper()
	list, err := s.DescribeControlPolicy(context.Background(), acct, ControlPolicyQuery{Direction: dir})
	if err != nil {
		t.Fatal(err)
	}
	out := []string{}
	for i, p := range list {
		if p.Order != i+1 {
			t.Errorf("%s policy %s has order %d at position %d", dir, p.Description, p.Order, i+1)
		}
		out = append(out, p.Description)
	}
	return out
}

func wantLabels(t *testing.T, s *Service, acct, dir string, want ...string) {
	t.Helper()
	if got := labels(t, s, acct, dir); !slices.Equal(got, want) {
		t.Errorf("%s policies of %s: %v, want %v", dir, acct, got, want)
	}
}

func addBook(t *testing.T, s *Service, acct, name, typ, list string) model.AddressBook {
	t.Helper()
	b, err := s.AddAddressBook(context.Background(), acct, AddressBookInput{Name: sp(name), Type: sp(typ), Description: sp("book " + name), AddressList: sp(list)})
	if err != nil {
		t.Fatalf("AddAddressBook %s: %v", name, err)
	}
	return b
}

func TestFirewallParsers(t *testing.T) {
	for in, want := range map[string]string{
		"10.0.0.7/24": "10.0.0.0/24", "0.0.0.0/0": "0.0.0.0/0", "192.0.2.9": "192.0.2.9/32", " 192.0.2.0/28 ": "192.0.2.0/28",
		"2001:db8::/32": "", "10.0.0.0/33": "", "ten": "", "": "", "::ffff:10.0.0.1/128": "",
	} {
		p, ok := ParseFirewallCIDR(in)
		if got := ""; ok {
			got = p.String()
			if got != want {
				t.Errorf("ParseFirewallCIDR(%q) = %s, want %q", in, got, want)
			}
		} else if want != "" {
			t.Errorf("ParseFirewallCIDR(%q) refused, want %s", in, want)
		}
	}
	for in, want := range map[string]string{
		"80": "80", "80/88": "80/88", "80/80": "80", "1/65535": "1/65535",
		"0": "", "0/0": "", "88/80": "", "65536": "", "-1/-1": "", "a/b": "", "80/": "", "": "",
	} {
		from, to, ok := ParseFirewallPorts(in)
		got := ""
		if ok {
			got = FormatFirewallPorts(from, to)
		}
		if got != want {
			t.Errorf("ParseFirewallPorts(%q) = %q, want %q", in, got, want)
		}
	}
	tests := []struct {
		typ, list string
		want      []string
		code      string
	}{
		{model.AddressBookIP, "10.0.0.7/24, 192.0.2.1,10.0.0.0/24", []string{"10.0.0.0/24", "192.0.2.1/32"}, ""},
		{model.AddressBookPort, "443,80/88 ,443/443", []string{"443", "80/88"}, ""},
		{model.AddressBookIP, "10.0.0.0/8,2001:db8::/32", nil, "IllegalParam.AddressList"},
		{model.AddressBookPort, "80,0/0", nil, "IllegalParam.AddressList"},
		{model.AddressBookPort, " , ", nil, "MissingParameter"},
		{model.AddressBookPort, "1,2,3,4", nil, "QuotaExceeded.AddressBookEntries"},
	}
	for _, tc := range tests {
		got, err := ParseAddressList(tc.typ, tc.list, 3)
		if tc.code != "" {
			if !errs.HasCode(err, tc.code) {
				t.Errorf("ParseAddressList(%s, %q): %v, want %s", tc.typ, tc.list, err, tc.code)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("ParseAddressList(%s, %q) = %v, %v; want %v", tc.typ, tc.list, got, err, tc.want)
		}
	}
	if u := NewUUID(); len(u) != 36 || strings.Count(u, "-") != 4 || u[14] != '4' || u == NewUUID() {
		t.Errorf("NewUUID: %s", u)
	}
}

func TestAddControlPolicyStoresCanonicalForms(t *testing.T) {
	s := cfwFixture(t, Quotas{})
	ctx := context.Background()
	addBook(t, s, "1", "office", "ip", "192.0.2.0/24")
	addBook(t, s, "1", "web", "port", "80,443")
	in := PolicyInput{
		AclAction: sp("LOG"), Proto: sp("udp"), Source: sp("office"), SourceType: sp("Group"),
		Destination: sp("198.18.0.10"), DestinationType: sp("NET"), DestPort: sp("53/53"), Description: sp("dns"),
		ApplicationNameList: []string{"any"}, Release: sp("FALSE"), IpVersion: sp("4"),
	}
	p, err := s.AddControlPolicy(ctx, "1", AddControlPolicyInput{Direction: "IN", NewOrder: "-1", PolicyInput: in})
	if err != nil {
		t.Fatal(err)
	}
	want := model.FirewallPolicy{
		ID: p.ID, AccountID: "1", Direction: "in", Order: 1, Action: "log", Description: "dns", Source: "office", SourceType: "group",
		Destination: "198.18.0.10/32", DestinationType: "net", Proto: "UDP", DestPort: "53", DestPortType: "port",
		ApplicationNames: []string{"ANY"}, Enabled: false, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt,
	}
	if fmt.Sprint(p) != fmt.Sprint(want) {
		t.Errorf("policy:\n got %+v\nwant %+v", p, want)
	}
	// Port group inferred from DestPortGroup alone; ANY without ports; "0/0".
	q, err := s.AddControlPolicy(ctx, "1", AddControlPolicyInput{Direction: "out", NewOrder: "1", PolicyInput: PolicyInput{
		AclAction: sp("drop"), Proto: sp("tcp"), Source: sp("198.18.0.11/32"), SourceType: sp("net"),
		Destination: sp("0.0.0.0/0"), DestinationType: sp("net"), DestPortGroup: sp("web"), Description: sp("no web out"),
	}})
	if err != nil || q.DestPortType != "group" || q.DestPortGroup != "web" || q.DestPort != "" || !q.Enabled || q.Order != 1 {
		t.Errorf("port group policy: %+v %v", q, err)
	}
	r, err := s.AddControlPolicy(ctx, "1", AddControlPolicyInput{Direction: "out", NewOrder: "2", PolicyInput: PolicyInput{
		AclAction: sp("accept"), Proto: sp("ANY"), Source: sp("10.1.2.3/8"), SourceType: sp("net"),
		Destination: sp("0.0.0.0/0"), DestinationType: sp("net"), DestPort: sp("0/0"), Description: sp("all"), ApplicationName: sp("ANY"),
	}})
	if err != nil || r.DestPortType != "port" || r.DestPort != "" || r.Source != "10.0.0.0/8" {
		t.Errorf("ANY policy: %+v %v", r, err)
	}
	views, err := s.DescribeControlPolicy(ctx, "1", ControlPolicyQuery{})
	if err != nil || len(views) != 3 || views[0].Direction != "in" || !slices.Equal(views[0].SourceGroupCidrs, []string{"192.0.2.0/24"}) ||
		!slices.Equal(views[1].DestPortGroupPorts, []string{"80", "443"}) || len(views[2].SourceGroupCidrs) != 0 {
		t.Errorf("DescribeControlPolicy: %+v %v", views, err)
	}
}

func TestAddControlPolicyRefusals(t *testing.T) {
	s := cfwFixture(t, Quotas{})
	addBook(t, s, "1", "office", "ip", "192.0.2.0/24")
	addBook(t, s, "1", "web", "port", "80,443")
	addBook(t, s, "2", "bobs", "ip", "203.0.113.0/24")
	addPolicy(t, s, "1", "in", "1", "first")
	with := func(f func(*PolicyInput)) PolicyInput { in := policyIn("x"); f(&in); return in }
	tests := []struct {
		name, dir, order string
		in               PolicyInput
		code             string
	}{
		{"no direction", "", "1", policyIn("x"), "MissingParameter"},
		{"bad direction", "inbound", "1", policyIn("x"), "IllegalParam.Direction"},
		{"no order", "in", "", policyIn("x"), "MissingParameter"},
		{"order 0", "in", "0", policyIn("x"), "IllegalParam.NewOrder"},
		{"order past the end", "in", "3", policyIn("x"), "IllegalParam.NewOrder"},
		{"order -2", "in", "-2", policyIn("x"), "IllegalParam.NewOrder"},
		{"order text", "in", "first", policyIn("x"), "IllegalParam.NewOrder"},
		{"no action", "in", "1", with(func(in *PolicyInput) { in.AclAction = nil }), "MissingParameter"},
		{"bad action", "in", "1", with(func(in *PolicyInput) { in.AclAction = sp("reject") }), "IllegalParam.AclAction"},
		{"no proto", "in", "1", with(func(in *PolicyInput) { in.Proto = nil }), "MissingParameter"},
		{"bad proto", "in", "1", with(func(in *PolicyInput) { in.Proto = sp("GRE") }), "IllegalParam.Proto"},
		{"no source", "in", "1", with(func(in *PolicyInput) { in.Source = nil }), "MissingParameter"},
		{"no source type", "in", "1", with(func(in *PolicyInput) { in.SourceType = nil }), "MissingParameter"},
		{"bad source type", "in", "1", with(func(in *PolicyInput) { in.SourceType = sp("cidr") }), "IllegalParam.SourceType"},
		{"location source", "in", "1", with(func(in *PolicyInput) { in.SourceType, in.Source = sp("location"), sp("CN") }), "OperationUnsupported.SourceType"},
		{"domain destination in", "in", "1", with(func(in *PolicyInput) { in.DestinationType, in.Destination = sp("domain"), sp("example.com") }), "OperationUnsupported.DestinationType"},
		{"bad source cidr", "in", "1", with(func(in *PolicyInput) { in.Source = sp("10.0.0.0/33") }), "IllegalParam.Source"},
		{"ipv6 source", "in", "1", with(func(in *PolicyInput) { in.Source = sp("2001:db8::/32") }), "IllegalParam.Source"},
		{"bad destination", "in", "1", with(func(in *PolicyInput) { in.Destination = sp("any") }), "IllegalParam.Destination"},
		{"unknown source book", "in", "1", with(func(in *PolicyInput) { in.SourceType, in.Source = sp("group"), sp("nope") }), "ResourceNotFound.AddressBook"},
		{"other account's book", "in", "1", with(func(in *PolicyInput) { in.SourceType, in.Source = sp("group"), sp("bobs") }), "ResourceNotFound.AddressBook"},
		{"port book as source", "in", "1", with(func(in *PolicyInput) { in.SourceType, in.Source = sp("group"), sp("web") }), "IllegalParam.Source"},
		{"ip book as port group", "in", "1", with(func(in *PolicyInput) { in.DestPort, in.DestPortGroup = nil, sp("office") }), "IllegalParam.DestPortGroup"},
		{"unknown port book", "in", "1", with(func(in *PolicyInput) { in.DestPort, in.DestPortGroup = nil, sp("nope") }), "ResourceNotFound.AddressBook"},
		{"port group without book", "in", "1", with(func(in *PolicyInput) { in.DestPort, in.DestPortType = nil, sp("group") }), "MissingParameter"},
		{"port and group", "in", "1", with(func(in *PolicyInput) { in.DestPortGroup = sp("web") }), "IllegalParam.DestPortGroup"},
		{"group type with port", "in", "1", with(func(in *PolicyInput) { in.DestPortType, in.DestPortGroup = sp("group"), sp("web") }), "IllegalParam.DestPort"},
		{"bad port type", "in", "1", with(func(in *PolicyInput) { in.DestPortType = sp("range") }), "IllegalParam.DestPortType"},
		{"port 0", "in", "1", with(func(in *PolicyInput) { in.DestPort = sp("0") }), "IllegalParam.DestPort"},
		{"port 65536", "in", "1", with(func(in *PolicyInput) { in.DestPort = sp("65536") }), "IllegalParam.DestPort"},
		{"reversed range", "in", "1", with(func(in *PolicyInput) { in.DestPort = sp("88/80") }), "IllegalParam.DestPort"},
		{"icmp with port", "in", "1", with(func(in *PolicyInput) { in.Proto = sp("ICMP") }), "IllegalParam.DestPort"},
		{"any with port", "in", "1", with(func(in *PolicyInput) { in.Proto = sp("any") }), "IllegalParam.DestPort"},
		{"icmp with port book", "in", "1", with(func(in *PolicyInput) { in.Proto, in.DestPort, in.DestPortGroup = sp("ICMP"), nil, sp("web") }), "IllegalParam.DestPortGroup"},
		{"application", "in", "1", with(func(in *PolicyInput) { in.ApplicationName = sp("HTTP") }), "OperationUnsupported.ApplicationName"},
		{"application list", "in", "1", with(func(in *PolicyInput) { in.ApplicationNameList = []string{"ANY", "SSH"} }), "OperationUnsupported.ApplicationName"},
		{"ipv6", "in", "1", with(func(in *PolicyInput) { in.IpVersion = sp("6") }), "OperationUnsupported.IpVersion"},
		{"ip version 5", "in", "1", with(func(in *PolicyInput) { in.IpVersion = sp("5") }), "IllegalParam.IpVersion"},
		{"bad release", "in", "1", with(func(in *PolicyInput) { in.Release = sp("yes") }), "IllegalParam.Release"},
		{"no description", "in", "1", with(func(in *PolicyInput) { in.Description = nil }), "MissingParameter"},
		{"long description", "in", "1", with(func(in *PolicyInput) { in.Description = sp(strings.Repeat("d", 513)) }), "IllegalParam.Description"},
	}
	for _, tc := range tests {
		unchanged(t, s, tc.name, tc.code, func() error {
			_, err := s.AddControlPolicy(context.Background(), "1", AddControlPolicyInput{Direction: tc.dir, NewOrder: tc.order, PolicyInput: tc.in})
			return err
		})
	}
	if e, _ := errs.As(func() error {
		_, err := s.AddControlPolicy(context.Background(), "1", AddControlPolicyInput{Direction: "in", NewOrder: "1",
			PolicyInput: with(func(in *PolicyInput) { in.ApplicationName = sp("HTTPS") })})
		return err
	}()); e == nil || !strings.Contains(e.Message, "DestPort") || e.Status != 400 {
		t.Errorf("application message: %v", e)
	}
}

func TestControlPolicyOrdering(t *testing.T) {
	s := cfwFixture(t, Quotas{})
	ctx := context.Background()
	a := addPolicy(t, s, "1", "in", "-1", "a")
	addPolicy(t, s, "1", "in", "2", "b") // n+1 appends
	c := addPolicy(t, s, "1", "in", "1", "c")
	addPolicy(t, s, "1", "in", "2", "d")
	addPolicy(t, s, "1", "out", "1", "o1")
	wantLabels(t, s, "1", "in", "c", "d", "a", "b")
	wantLabels(t, s, "1", "out", "o1")

	// The same policy at the same place again: nothing added.
	if again := addPolicy(t, s, "1", "in", "1", "c"); again.ID != c.ID {
		t.Errorf("identical policy at its order: %s, want %s", again.ID, c.ID)
	}
	if again := addPolicy(t, s, "1", "in", "-1", "b"); again.Order != 4 {
		t.Errorf("identical last policy appended: %+v", again)
	}
	// Elsewhere it is a new policy.
	addPolicy(t, s, "1", "in", "-1", "c")
	wantLabels(t, s, "1", "in", "c", "d", "a", "b", "c")

	// Deleting moves the ones after up.
	if err := s.DeleteControlPolicy(ctx, "1", a.ID, "in"); err != nil {
		t.Fatal(err)
	}
	wantLabels(t, s, "1", "in", "c", "d", "b", "c")
	// Moving, by AclUuid and by OldOrder.
	move := func(in MovePolicyInput) {
		t.Helper()
		if err := s.ModifyControlPolicyPosition(ctx, "1", in); err != nil {
			t.Fatalf("move %+v: %v", in, err)
		}
	}
	move(MovePolicyInput{Direction: "in", AclUuid: c.ID, NewOrder: "-1"})
	wantLabels(t, s, "1", "in", "d", "b", "c", "c")
	move(MovePolicyInput{Direction: "in", OldOrder: "3", NewOrder: "1"})
	wantLabels(t, s, "1", "in", "c", "d", "b", "c")
	move(MovePolicyInput{Direction: "in", OldOrder: "2", AclUuid: "", NewOrder: "3"})
	wantLabels(t, s, "1", "in", "c", "b", "d", "c")
	move(MovePolicyInput{Direction: "in", OldOrder: "2", NewOrder: "2"})
	wantLabels(t, s, "1", "in", "c", "b", "d", "c")
	wantLabels(t, s, "1", "out", "o1")
	if start, end, err := s.PolicyPriorUsed(ctx, "1", "in"); err != nil || start != 1 || end != 4 {
		t.Errorf("PolicyPriorUsed in: %d %d %v", start, end, err)
	}
	if start, end, err := s.PolicyPriorUsed(ctx, "2", "out"); err != nil || start != 0 || end != 0 {
		t.Errorf("PolicyPriorUsed of an empty list: %d %d %v", start, end, err)
	}

	list, _ := s.DescribeControlPolicy(ctx, "1", ControlPolicyQuery{Direction: "in"})
	first := list[0]
	for _, tc := range []struct {
		name string
		in   MovePolicyInput
		code string
	}{
		{"no direction", MovePolicyInput{AclUuid: first.ID, NewOrder: "1"}, "MissingParameter"},
		{"no policy", MovePolicyInput{Direction: "in", NewOrder: "1"}, "MissingParameter"},
		{"no new order", MovePolicyInput{Direction: "in", AclUuid: first.ID}, "MissingParameter"},
		{"new order past the end", MovePolicyInput{Direction: "in", AclUuid: first.ID, NewOrder: "5"}, "IllegalParam.NewOrder"},
		{"new order 0", MovePolicyInput{Direction: "in", AclUuid: first.ID, NewOrder: "0"}, "IllegalParam.NewOrder"},
		{"old order past the end", MovePolicyInput{Direction: "in", OldOrder: "5", NewOrder: "1"}, "IllegalParam.OldOrder"},
		{"old order disagrees", MovePolicyInput{Direction: "in", AclUuid: first.ID, OldOrder: "2", NewOrder: "1"}, "IllegalParam.OldOrder"},
		{"wrong direction", MovePolicyInput{Direction: "out", AclUuid: first.ID, NewOrder: "1"}, "ResourceNotFound.ControlPolicy"},
		{"unknown policy", MovePolicyInput{Direction: "in", AclUuid: "nope", NewOrder: "1"}, "ResourceNotFound.ControlPolicy"},
	} {
		unchanged(t, s, "move "+tc.name, tc.code, func() error { return s.ModifyControlPolicyPosition(ctx, "1", tc.in) })
	}
	unchanged(t, s, "delete in the wrong direction", "ResourceNotFound.ControlPolicy", func() error { return s.DeleteControlPolicy(ctx, "1", first.ID, "out") })
	unchanged(t, s, "delete without id", "MissingParameter", func() error { return s.DeleteControlPolicy(ctx, "1", "", "in") })
	unchanged(t, s, "delete without direction", "MissingParameter", func() error { return s.DeleteControlPolicy(ctx, "1", first.ID, "") })

	// Account 2 sees and changes nothing of account 1's.
	if list, err := s.DescribeControlPolicy(ctx, "2", ControlPolicyQuery{}); err != nil || len(list) != 0 {
		t.Errorf("account 2 sees %v %v", list, err)
	}
	unchanged(t, s, "delete another's", "ResourceNotFound.ControlPolicy", func() error { return s.DeleteControlPolicy(ctx, "2", first.ID, "in") })
	unchanged(t, s, "modify another's", "ResourceNotFound.ControlPolicy", func() error {
		return s.ModifyControlPolicy(ctx, "2", first.ID, "in", PolicyInput{AclAction: sp("drop")})
	})
	unchanged(t, s, "move another's", "ResourceNotFound.ControlPolicy", func() error {
		return s.ModifyControlPolicyPosition(ctx, "2", MovePolicyInput{Direction: "in", AclUuid: first.ID, NewOrder: "1"})
	})
	// Account 2's own list is numbered on its own.
	addPolicy(t, s, "2", "in", "1", "bob")
	wantLabels(t, s, "2", "in", "bob")
	wantLabels(t, s, "1", "in", "c", "b", "d", "c")
}

func TestControlPolicyQuota(t *testing.T) {
	q := DefaultQuotas()
	q.FirewallPolicies = 2
	s := cfwFixture(t, q)
	addPolicy(t, s, "1", "in", "1", "a")
	addPolicy(t, s, "1", "in", "1", "b")
	unchanged(t, s, "third policy", "QuotaExceeded.ControlPolicy", func() error {
		_, err := s.AddControlPolicy(context.Background(), "1", AddControlPolicyInput{Direction: "in", NewOrder: "-1", PolicyInput: policyIn("c")})
		return err
	})
	addPolicy(t, s, "1", "out", "1", "other direction")
	addPolicy(t, s, "2", "in", "1", "other account")
	// A retry of one at its place still answers.
	if p := addPolicy(t, s, "1", "in", "-1", "a"); p.Order != 2 {
		t.Errorf("retry at quota: %+v", p)
	}
}

func TestModifyControlPolicy(t *testing.T) {
	s := cfwFixture(t, Quotas{})
	ctx := context.Background()
	addBook(t, s, "1", "office", "ip", "192.0.2.0/24")
	addBook(t, s, "1", "web", "port", "80,443")
	p := addPolicy(t, s, "1", "in", "1", "p")
	addPolicy(t, s, "1", "in", "2", "q")
	get := func() model.FirewallPolicy {
		t.Helper()
		list, err := s.DescribeControlPolicy(ctx, "1", ControlPolicyQuery{AclUuid: p.ID})
		if err != nil || len(list) != 1 {
			t.Fatalf("policy %s: %v %v", p.ID, list, err)
		}
		return list[0].FirewallPolicy
	}
	modify := func(in PolicyInput) {
		t.Helper()
		if err := s.ModifyControlPolicy(ctx, "1", p.ID, "in", in); err != nil {
			t.Fatalf("ModifyControlPolicy %+v: %v", in, err)
		}
	}
	modify(PolicyInput{AclAction: sp("Drop"), Source: sp("office"), SourceType: sp("group"), Release: sp("false")})
	if g := get(); g.Action != "drop" || g.Source != "office" || g.SourceType != "group" || g.Enabled || g.DestPort != "443" || g.Order != 1 || g.Description != "p" {
		t.Errorf("after modify: %+v", g)
	}
	// A port book, then ICMP: the ports go.
	modify(PolicyInput{DestPortGroup: sp("web")})
	if g := get(); g.DestPortType != "group" || g.DestPortGroup != "web" || g.DestPort != "" {
		t.Errorf("port group: %+v", g)
	}
	modify(PolicyInput{Proto: sp("icmp")})
	if g := get(); g.Proto != "ICMP" || g.DestPortType != "port" || g.DestPortGroup != "" || g.DestPort != "" {
		t.Errorf("icmp: %+v", g)
	}
	modify(PolicyInput{Proto: sp("TCP"), DestPort: sp("22")})
	if g := get(); g.DestPort != "22" || g.DestPortType != "port" {
		t.Errorf("back to tcp: %+v", g)
	}
	modify(PolicyInput{Proto: sp("ANY")})
	if g := get(); g.DestPort != "" {
		t.Errorf("any: %+v", g)
	}
	modify(PolicyInput{Proto: sp("TCP"), DestPort: sp("8080/8090"), SourceType: sp("net"), Source: sp("198.51.100.7/24"), Description: sp("new")})
	g := get()
	if g.DestPort != "8080/8090" || g.Source != "198.51.100.0/24" || g.Description != "new" || g.Order != 1 {
		t.Errorf("after net: %+v", g)
	}
	for _, tc := range []struct {
		name, id, dir string
		in            PolicyInput
		code          string
	}{
		{"no id", "", "in", PolicyInput{AclAction: sp("drop")}, "MissingParameter"},
		{"no direction", p.ID, "", PolicyInput{AclAction: sp("drop")}, "MissingParameter"},
		{"wrong direction", p.ID, "out", PolicyInput{AclAction: sp("drop")}, "ResourceNotFound.ControlPolicy"},
		{"type without source", p.ID, "in", PolicyInput{SourceType: sp("group")}, "MissingParameter"},
		{"destination type without destination", p.ID, "in", PolicyInput{DestinationType: sp("group")}, "MissingParameter"},
		{"bad action", p.ID, "in", PolicyInput{AclAction: sp("allow")}, "IllegalParam.AclAction"},
		{"icmp with port", p.ID, "in", PolicyInput{Proto: sp("ICMP"), DestPort: sp("80")}, "IllegalParam.DestPort"},
		{"group type without group", p.ID, "in", PolicyInput{DestPortType: sp("group")}, "MissingParameter"},
		{"location", p.ID, "in", PolicyInput{SourceType: sp("location"), Source: sp("CN")}, "OperationUnsupported.SourceType"},
		{"application", p.ID, "in", PolicyInput{ApplicationName: sp("MySQL")}, "OperationUnsupported.ApplicationName"},
		{"empty description", p.ID, "in", PolicyInput{Description: sp("")}, "MissingParameter"},
	} {
		unchanged(t, s, "modify "+tc.name, tc.code, func() error { return s.ModifyControlPolicy(ctx, "1", tc.id, tc.dir, tc.in) })
	}
	// Changing nothing writes nothing.
	before := storeSnapshot(t, s)
	modify(PolicyInput{AclAction: sp("drop")})
	if after := storeSnapshot(t, s); fmt.Sprint(before) != fmt.Sprint(after) {
		t.Error("a modification that changes nothing wrote")
	}
}

func TestAddressBooks(t *testing.T) {
	s := cfwFixture(t, Quotas{})
	ctx := context.Background()
	office := addBook(t, s, "1", "office", "ip", "192.0.2.7/24, 198.51.100.1")
	web := addBook(t, s, "1", "web", "port", "443,80/88")
	spare := addBook(t, s, "1", "spare", "ip", "10.0.0.0/8")
	if office.Type != "ip" || !slices.Equal(office.Addresses, []string{"192.0.2.0/24", "198.51.100.1/32"}) || len(office.ID) != 36 {
		t.Errorf("office: %+v", office)
	}
	// The same book again: its ID; the name with other contents: refused.
	if again := addBook(t, s, "1", "office", "IP", "192.0.2.0/24,198.51.100.1/32"); again.ID != office.ID {
		t.Errorf("identical book: %s, want %s", again.ID, office.ID)
	}
	bookIn := func(name, typ, list string) AddressBookInput {
		return AddressBookInput{Name: sp(name), Type: sp(typ), Description: sp("d"), AddressList: sp(list)}
	}
	for _, tc := range []struct {
		name string
		in   AddressBookInput
		code string
	}{
		{"taken name", bookIn("office", "ip", "10.0.0.0/8"), "DuplicatedParam.GroupName"},
		{"no name", AddressBookInput{Type: sp("ip"), Description: sp("d"), AddressList: sp("10.0.0.0/8")}, "MissingParameter"},
		{"comma in name", bookIn("a,b", "ip", "10.0.0.0/8"), "IllegalParam.GroupName"},
		{"long name", bookIn(strings.Repeat("n", 129), "ip", "10.0.0.0/8"), "IllegalParam.GroupName"},
		{"no type", AddressBookInput{Name: sp("x"), Description: sp("d"), AddressList: sp("10.0.0.0/8")}, "MissingParameter"},
		{"domain book", bookIn("x", "domain", "example.com"), "OperationUnsupported.GroupType"},
		{"tag book", bookIn("x", "tag", ""), "OperationUnsupported.GroupType"},
		{"ipv6 book", bookIn("x", "ipv6", "2001:db8::/32"), "OperationUnsupported.GroupType"},
		{"bad type", bookIn("x", "cidr", "10.0.0.0/8"), "IllegalParam.GroupType"},
		{"no description", AddressBookInput{Name: sp("x"), Type: sp("ip"), AddressList: sp("10.0.0.0/8")}, "MissingParameter"},
		{"no entries", AddressBookInput{Name: sp("x"), Type: sp("ip"), Description: sp("d")}, "MissingParameter"},
		{"bad cidr", bookIn("x", "ip", "10.0.0.0/8,10.0.0.300/32"), "IllegalParam.AddressList"},
		{"bad port", bookIn("x", "port", "80,70000"), "IllegalParam.AddressList"},
		{"cidr in port book", bookIn("x", "port", "10.0.0.0/8"), "IllegalParam.AddressList"},
		{"tags", AddressBookInput{Name: sp("x"), Type: sp("ip"), Description: sp("d"), AddressList: sp("10.0.0.0/8"), TagCount: 1}, "OperationUnsupported.TagList"},
		{"auto add", AddressBookInput{Name: sp("x"), Type: sp("ip"), Description: sp("d"), AddressList: sp("10.0.0.0/8"), AutoAddTagEcs: "1"}, "OperationUnsupported.AutoAddTagEcs"},
		{"too many entries", bookIn("x", "port", func() string {
			var ps []string
			for i := 1; i <= 2001; i++ {
				ps = append(ps, fmt.Sprint(i))
			}
			return strings.Join(ps, ",")
		}()), "QuotaExceeded.AddressBookEntries"},
	} {
		unchanged(t, s, "add book "+tc.name, tc.code, func() error { _, err := s.AddAddressBook(ctx, "1", tc.in); return err })
	}
	// Account 2 may use the same name.
	addBook(t, s, "2", "office", "ip", "203.0.113.0/24")

	// Policies that use the books.
	in := policyIn("uses office")
	in.SourceType, in.Source, in.DestPort, in.DestPortGroup = sp("group"), sp("office"), nil, sp("web")
	p, err := s.AddControlPolicy(ctx, "1", AddControlPolicyInput{Direction: "in", NewOrder: "1", PolicyInput: in})
	if err != nil {
		t.Fatal(err)
	}
	out := policyIn("out to office")
	out.DestinationType, out.Destination = sp("group"), sp("office")
	q, err := s.AddControlPolicy(ctx, "1", AddControlPolicyInput{Direction: "out", NewOrder: "1", PolicyInput: out})
	if err != nil {
		t.Fatal(err)
	}
	views, err := s.DescribeAddressBook(ctx, "1", AddressBookQuery{})
	if err != nil || len(views) != 3 || views[0].Name != "office" || views[0].References != 2 || views[1].References != 1 || views[2].References != 0 {
		t.Errorf("DescribeAddressBook: %+v %v", views, err)
	}

	// In use: not deleted, and the message names the policies.
	unchanged(t, s, "delete office", "DependencyViolation.AddressBook", func() error { return s.DeleteAddressBook(ctx, "1", office.ID) })
	if err := s.DeleteAddressBook(ctx, "1", office.ID); err == nil || !strings.Contains(err.Error(), p.ID) || !strings.Contains(err.Error(), q.ID) {
		t.Errorf("dependency message: %v", err)
	}
	unchanged(t, s, "delete web", "DependencyViolation.AddressBook", func() error { return s.DeleteAddressBook(ctx, "1", web.ID) })
	unchanged(t, s, "delete another's", "ResourceNotFound.AddressBook", func() error { return s.DeleteAddressBook(ctx, "2", spare.ID) })
	unchanged(t, s, "delete no id", "MissingParameter", func() error { return s.DeleteAddressBook(ctx, "1", "") })

	// Renaming renames it in the policies.
	if err := s.ModifyAddressBook(ctx, "1", office.ID, AddressBookInput{Name: sp("hq"), AddressList: sp("192.0.2.0/25")}); err != nil {
		t.Fatal(err)
	}
	pols, _ := s.DescribeControlPolicy(ctx, "1", ControlPolicyQuery{})
	if len(pols) != 2 || pols[0].Source != "hq" || pols[1].Destination != "hq" || !slices.Equal(pols[0].SourceGroupCidrs, []string{"192.0.2.0/25"}) {
		t.Errorf("after rename: %+v", pols)
	}
	if err := s.ModifyAddressBook(ctx, "1", web.ID, AddressBookInput{Name: sp("www"), Description: sp("web ports")}); err != nil {
		t.Fatal(err)
	}
	if pols, _ := s.DescribeControlPolicy(ctx, "1", ControlPolicyQuery{Direction: "in"}); pols[0].DestPortGroup != "www" {
		t.Errorf("port book rename: %+v", pols[0])
	}
	for _, tc := range []struct {
		name, acct, id string
		in             AddressBookInput
		code           string
	}{
		{"taken name", "1", office.ID, AddressBookInput{Name: sp("spare")}, "DuplicatedParam.GroupName"},
		{"change type", "1", office.ID, AddressBookInput{Type: sp("port")}, "IllegalParam.GroupType"},
		{"bad entries", "1", web.ID, AddressBookInput{AddressList: sp("10.0.0.0/8")}, "IllegalParam.AddressList"},
		{"no id", "1", "", AddressBookInput{Name: sp("x")}, "MissingParameter"},
		{"another's", "2", office.ID, AddressBookInput{Name: sp("x")}, "ResourceNotFound.AddressBook"},
		{"bad name", "1", office.ID, AddressBookInput{Name: sp(" x")}, "IllegalParam.GroupName"},
		{"tag relation", "1", office.ID, AddressBookInput{TagRelation: "and"}, "OperationUnsupported.TagRelation"},
	} {
		unchanged(t, s, "modify book "+tc.name, tc.code, func() error { return s.ModifyAddressBook(ctx, tc.acct, tc.id, tc.in) })
	}

	// Filters.
	for _, tc := range []struct {
		q    AddressBookQuery
		want []string
	}{
		{AddressBookQuery{GroupType: "ip"}, []string{"hq", "spare"}},
		{AddressBookQuery{GroupType: "PORT"}, []string{"www"}},
		{AddressBookQuery{GroupType: "domain"}, nil},
		{AddressBookQuery{Query: "HQ"}, []string{"hq"}},
		{AddressBookQuery{Query: "10.0."}, []string{"spare"}},
		{AddressBookQuery{Query: "web ports"}, []string{"www"}},
		{AddressBookQuery{ContainPort: "85"}, []string{"www"}},
		{AddressBookQuery{ContainPort: "90"}, nil},
	} {
		views, err := s.DescribeAddressBook(ctx, "1", tc.q)
		var names []string
		for _, v := range views {
			names = append(names, v.Name)
		}
		if err != nil || !slices.Equal(names, tc.want) {
			t.Errorf("DescribeAddressBook %+v: %v %v, want %v", tc.q, names, err, tc.want)
		}
	}
	for _, q := range []AddressBookQuery{{GroupType: "cidr"}, {ContainPort: "0"}, {ContainPort: "http"}} {
		if _, err := s.DescribeAddressBook(ctx, "1", q); err == nil {
			t.Errorf("DescribeAddressBook %+v accepted", q)
		}
	}
	if views, _ := s.DescribeAddressBook(ctx, "2", AddressBookQuery{}); len(views) != 1 || views[0].Addresses[0] != "203.0.113.0/24" {
		t.Errorf("account 2's books: %+v", views)
	}

	// Once unused, a book goes.
	if err := s.DeleteControlPolicy(ctx, "1", q.ID, "out"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteControlPolicy(ctx, "1", p.ID, "in"); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{office.ID, web.ID, spare.ID} {
		if err := s.DeleteAddressBook(ctx, "1", id); err != nil {
			t.Errorf("delete %s: %v", id, err)
		}
	}
	for k := range storeSnapshot(t, s) {
		if strings.HasPrefix(k, model.PrefixFirewallPolicy) {
			t.Errorf("left: %s", k)
		}
	}
}

func TestAddressBookQuota(t *testing.T) {
	q := DefaultQuotas()
	q.AddressBooks, q.AddressBookEntries = 1, 2
	s := cfwFixture(t, q)
	addBook(t, s, "1", "a", "port", "1,2")
	unchanged(t, s, "second book", "QuotaExceeded.AddressBook", func() error {
		_, err := s.AddAddressBook(context.Background(), "1", AddressBookInput{Name: sp("b"), Type: sp("port"), Description: sp("d"), AddressList: sp("1")})
		return err
	})
	unchanged(t, s, "three entries", "QuotaExceeded.AddressBookEntries", func() error {
		_, err := s.AddAddressBook(context.Background(), "2", AddressBookInput{Name: sp("b"), Type: sp("port"), Description: sp("d"), AddressList: sp("1,2,3")})
		return err
	})
}

func TestFirewallSwitch(t *testing.T) {
	s := cfwFixture(t, Quotas{})
	ctx := context.Background()
	a10, a11 := netip.MustParseAddr("198.18.0.10"), netip.MustParseAddr("198.18.0.11")
	off := func() []string {
		t.Helper()
		var keys []string
		for k := range storeSnapshot(t, s) {
			if strings.HasPrefix(k, model.PrefixFirewallOff) {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		return keys
	}
	addrs := func(vs ...string) []FirewallSwitchAddr {
		var out []FirewallSwitchAddr
		for i, v := range vs {
			out = append(out, FirewallSwitchAddr{Param: fmt.Sprintf("IpaddrList.%d", i+1), Value: v})
		}
		return out
	}
	status := func(acct string) map[string]bool {
		t.Helper()
		assets, err := s.DescribeFirewallAssets(ctx, acct, AssetQuery{})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]bool{}
		for _, a := range assets {
			out[a.Address.String()] = a.Protected
		}
		return out
	}
	if st := status("1"); len(st) != 2 || !st["198.18.0.10"] || !st["198.18.0.11"] {
		t.Errorf("default status: %v", st)
	}
	if err := s.PutFirewallSwitch(ctx, "1", addrs("198.18.0.10", "198.18.0.10"), false); err != nil {
		t.Fatal(err)
	}
	if got := off(); !slices.Equal(got, []string{model.FirewallOffKey("1", a10)}) {
		t.Errorf("off keys: %v", got)
	}
	if st := status("1"); st["198.18.0.10"] || !st["198.18.0.11"] {
		t.Errorf("status after disable: %v", st)
	}
	// Again: no change. Then on.
	unchangedOK := func(what string, fn func() error) {
		t.Helper()
		before := storeSnapshot(t, s)
		if err := fn(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if after := storeSnapshot(t, s); fmt.Sprint(before) != fmt.Sprint(after) {
			t.Errorf("%s changed the store", what)
		}
	}
	unchangedOK("disable again", func() error { return s.PutFirewallSwitch(ctx, "1", addrs("198.18.0.10"), false) })
	unchangedOK("enable an enabled one", func() error { return s.PutFirewallSwitch(ctx, "1", addrs("198.18.0.11"), true) })
	for _, tc := range []struct {
		name, acct string
		addrs      []FirewallSwitchAddr
		code       string
	}{
		{"none", "1", nil, "MissingParameter"},
		{"another's eip", "1", addrs("198.18.0.11", "198.18.0.20"), "ResourceNotFound.Asset"},
		{"no eip", "1", addrs("198.18.0.99"), "ResourceNotFound.Asset"},
		{"malformed", "1", addrs("198.18.0.300"), "IllegalParam.IpaddrList"},
		{"ipv6", "1", addrs("2001:db8::1"), "IllegalParam.IpaddrList"},
		{"cidr", "1", addrs("198.18.0.10/32"), "IllegalParam.IpaddrList"},
		{"account 2 on 1's", "2", addrs("198.18.0.10"), "ResourceNotFound.Asset"},
	} {
		unchanged(t, s, "switch "+tc.name, tc.code, func() error { return s.PutFirewallSwitch(ctx, tc.acct, tc.addrs, false) })
		unchanged(t, s, "switch on "+tc.name, tc.code, func() error { return s.PutFirewallSwitch(ctx, tc.acct, tc.addrs, true) })
	}
	if err := s.PutFirewallSwitch(ctx, "1", addrs("198.18.0.10"), true); err != nil {
		t.Fatal(err)
	}
	if got := off(); len(got) != 0 {
		t.Errorf("after enable: %v", got)
	}
	// All: every EIP of the account, not the other's.
	if err := s.PutAllFirewallSwitch(ctx, "1", false); err != nil {
		t.Fatal(err)
	}
	if got := off(); !slices.Equal(got, []string{model.FirewallOffKey("1", a10), model.FirewallOffKey("1", a11)}) {
		t.Errorf("after disable all: %v", got)
	}
	if st := status("2"); !st["198.18.0.20"] {
		t.Errorf("account 2: %v", st)
	}
	// Filters.
	for _, tc := range []struct {
		q    AssetQuery
		want int
	}{
		{AssetQuery{Status: "closed"}, 2}, {AssetQuery{Status: "open"}, 0}, {AssetQuery{ResourceType: "ecseip"}, 1},
		{AssetQuery{ResourceType: "EIP"}, 1}, {AssetQuery{Type: "EniEIP"}, 0}, {AssetQuery{SearchItem: "i-web"}, 1},
		{AssetQuery{SearchItem: "0.11"}, 1}, {AssetQuery{RegionNo: "local"}, 2}, {AssetQuery{RegionNo: "cn-hangzhou"}, 0},
		{AssetQuery{IpVersion: "6"}, 0},
	} {
		if got, err := s.DescribeFirewallAssets(ctx, "1", tc.q); err != nil || len(got) != tc.want {
			t.Errorf("DescribeFirewallAssets %+v: %d %v, want %d", tc.q, len(got), err, tc.want)
		}
	}
	if got, _ := s.DescribeFirewallAssets(ctx, "1", AssetQuery{ResourceType: "EcsEIP"}); len(got) != 1 || got[0].InstanceName != "web" {
		t.Errorf("bound EIP: %+v", got)
	}
	if _, err := s.DescribeFirewallAssets(ctx, "1", AssetQuery{Status: "half"}); !errs.HasCode(err, "IllegalParam.Status") {
		t.Errorf("bad status: %v", err)
	}
	// Releasing an EIP drops its switch.
	if err := s.ReleaseEipAddress(ctx, "1", "eip-b"); err != nil {
		t.Fatal(err)
	}
	if got := off(); !slices.Equal(got, []string{model.FirewallOffKey("1", a10)}) {
		t.Errorf("after release: %v", got)
	}
	if err := s.PutAllFirewallSwitch(ctx, "1", true); err != nil {
		t.Fatal(err)
	}
	if got := off(); len(got) != 0 {
		t.Errorf("after enable all: %v", got)
	}
}

// TestReportFirewallHits: agents' hits add up per policy and show in
// DescribeControlPolicy; hits of a deleted policy are skipped; tenants
// cannot report; bad entries are refused whole; deleting a policy drops
// its count.
func TestReportFirewallHits(t *testing.T) {
	s := cfwFixture(t, Quotas{})
	ctx := context.Background()
	if _, err := s.update(ctx, func(tx store.Txn) error {
		return putJSON(tx, model.PrefixAccount+"0", model.Account{ID: "0", Name: "admin", Admin: true})
	}); err != nil {
		t.Fatal(err)
	}
	p := addPolicy(t, s, "1", "in", "1", "a")
	t1 := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	report := func(caller string, hits ...model.FirewallHits) error { return s.ReportFirewallHits(ctx, caller, hits) }
	if err := report("0", model.FirewallHits{PolicyID: p.ID, Hits: 3, LastHit: t1},
		model.FirewallHits{PolicyID: "gone", Hits: 9, LastHit: t1}); err != nil {
		t.Fatalf("report: %v", err)
	}
	if err := report("0", model.FirewallHits{PolicyID: p.ID, Hits: 2, LastHit: t1.Add(-time.Minute)}); err != nil {
		t.Fatalf("report: %v", err)
	}
	hits := func() model.FirewallHits {
		t.Helper()
		list, err := s.DescribeControlPolicy(ctx, "1", ControlPolicyQuery{AclUuid: p.ID})
		if err != nil || len(list) != 1 {
			t.Fatalf("DescribeControlPolicy: %v %v", list, err)
		}
		return list[0].Hits
	}
	if h := hits(); h.Hits != 5 || !h.LastHit.Equal(t1) {
		t.Errorf("hits %+v, want 5, the last at %v (an older report does not move it back)", h, t1)
	}
	for name, tc := range map[string]struct {
		caller string
		hits   model.FirewallHits
		code   string
	}{
		"tenant":    {"1", model.FirewallHits{PolicyID: p.ID, Hits: 1, LastHit: t1}, "Forbidden.NotAdmin"},
		"negative":  {"0", model.FirewallHits{PolicyID: p.ID, Hits: -1, LastHit: t1}, "InvalidParameter"},
		"no time":   {"0", model.FirewallHits{PolicyID: p.ID, Hits: 1}, "InvalidParameter"},
		"no policy": {"0", model.FirewallHits{Hits: 1, LastHit: t1}, "InvalidParameter"},
	} {
		if err := report(tc.caller, model.FirewallHits{PolicyID: p.ID, Hits: 1, LastHit: t1}, tc.hits); err == nil || !strings.Contains(err.Error(), tc.code) {
			t.Errorf("%s: %v, want %s", name, err, tc.code)
		}
	}
	if h := hits(); h.Hits != 5 {
		t.Errorf("after refused reports: %d hits, want 5 (nothing half-done)", h.Hits)
	}
	if err := s.DeleteControlPolicy(ctx, "1", p.ID, "in"); err != nil {
		t.Fatal(err)
	}
	if err := s.view(ctx, func(tx store.ReadTxn) error {
		if _, ok, _ := tx.Get(model.PrefixFirewallHits + p.ID); ok {
			t.Error("the deleted policy's hits are still stored")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
