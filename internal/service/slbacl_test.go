package service

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/palisade-project/palisade/internal/model"
)

func newLBACL(t *testing.T, s *Service, account, name string) model.LBAccessControlList {
	t.Helper()
	a, err := s.CreateLBACL(context.Background(), account, CreateLBACLInput{Name: name})
	if err != nil {
		t.Fatalf("CreateLBACL %s: %v", name, err)
	}
	return a
}

func aclEntries(t *testing.T, s *Service, account, id string) []string {
	t.Helper()
	v, err := s.GetLBACL(context.Background(), account, id)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range v.Entries {
		out = append(out, e.Entry.String()+"="+e.Comment)
	}
	return out
}

func entries(vs ...string) []LBACLEntrySpec {
	out := make([]LBACLEntrySpec, 0, len(vs))
	for _, v := range vs {
		e, c, _ := strings.Cut(v, "=")
		out = append(out, LBACLEntrySpec{Entry: e, Comment: c})
	}
	return out
}

func TestLBACLCreateAndRename(t *testing.T) {
	q := DefaultQuotas()
	q.LBACLsPerAccount = 2
	s := slbFixture(t, q)
	ctx := context.Background()
	a := newLBACL(t, s, "1", "office")
	if !strings.HasPrefix(a.ID, "acl-") || a.AddressIPVersion != "ipv4" || a.AccountID != "1" || a.Entries == nil || a.CreatedAt.IsZero() {
		t.Fatalf("created %+v", a)
	}
	for _, tc := range []struct {
		name string
		in   CreateLBACLInput
		code string
	}{
		{"no name", CreateLBACLInput{}, "MissingParameter"},
		{"long name", CreateLBACLInput{Name: strings.Repeat("a", 81)}, "InvalidParameter"},
		{"space in name", CreateLBACLInput{Name: "my list"}, "InvalidParameter"},
		{"ipv6", CreateLBACLInput{Name: "v6", AddressIPVersion: "ipv6"}, "OperationUnsupported.AddressIPVersion"},
		{"bad version", CreateLBACLInput{Name: "v5", AddressIPVersion: "ipv5"}, "InvalidParameter"},
		{"name taken", CreateLBACLInput{Name: "office"}, "AclNameExist"},
	} {
		unchanged(t, s, "create "+tc.name, tc.code, func() error { _, err := s.CreateLBACL(ctx, "1", tc.in); return err })
	}
	// Another account may use the name; a name of letters, digits and
	// . - / _ passes.
	newLBACL(t, s, "2", "office")
	b, err := s.CreateLBACL(ctx, "1", CreateLBACLInput{Name: "a.b-c/d_é9", AddressIPVersion: "IPv4", ResourceGroupID: "rg-1",
		Tags: []model.Tag{{Key: "env", Value: "prod"}}})
	if err != nil {
		t.Fatal(err)
	}
	unchanged(t, s, "quota", "AclNumberOverLimit", func() error { _, err := s.CreateLBACL(ctx, "1", CreateLBACLInput{Name: "third"}); return err })
	wantCode(t, "quota status", func() error { _, err := s.CreateLBACL(ctx, "1", CreateLBACLInput{Name: "third"}); return err }(), "AclNumberOverLimit", 400)

	// Rename.
	unchanged(t, s, "rename to a taken name", "AclNameExist", func() error { return s.SetLBACLName(ctx, "1", b.ID, "office") })
	unchanged(t, s, "rename without name", "MissingParameter", func() error { return s.SetLBACLName(ctx, "1", b.ID, "") })
	unchanged(t, s, "rename another account's", "AclNotExist", func() error { return s.SetLBACLName(ctx, "2", b.ID, "x") })
	if err := s.SetLBACLName(ctx, "1", a.ID, "office"); err != nil {
		t.Errorf("rename to its own name: %v", err)
	}
	if err := s.SetLBACLName(ctx, "1", b.ID, "branch"); err != nil {
		t.Fatal(err)
	}

	// Filters.
	for _, tc := range []struct {
		q    LBACLQuery
		want []string
	}{
		{LBACLQuery{}, []string{a.ID, b.ID}},
		{LBACLQuery{Name: "ffi"}, []string{a.ID}},
		{LBACLQuery{Name: "bran", AddressIPVersion: "ipv4"}, []string{b.ID}},
		{LBACLQuery{AddressIPVersion: "ipv6"}, nil},
		{LBACLQuery{ResourceGroupID: "rg-1"}, []string{b.ID}},
		{LBACLQuery{Tags: []model.Tag{{Key: "env", Value: "prod"}}}, []string{b.ID}},
	} {
		list, err := s.DescribeLBACLs(ctx, "1", tc.q)
		var ids []string
		for _, x := range list {
			ids = append(ids, x.ID)
		}
		if err != nil || !slices.Equal(ids, tc.want) {
			t.Errorf("%+v: %v %v, want %v", tc.q, ids, err, tc.want)
		}
	}
	if list, _ := s.DescribeLBACLs(ctx, "2", LBACLQuery{}); len(list) != 1 || list[0].AccountID != "2" {
		t.Errorf("account 2 lists %+v", list)
	}
}

func TestLBACLEntries(t *testing.T) {
	q := DefaultQuotas()
	q.LBACLEntries = 4
	s := slbFixture(t, q)
	ctx := context.Background()
	a := newLBACL(t, s, "1", "office")
	if err := s.AddLBACLEntries(ctx, "1", a.ID, entries("10.0.0.1=door", "192.168.0.0/16=lan")); err != nil {
		t.Fatal(err)
	}
	if got := aclEntries(t, s, "1", a.ID); !slices.Equal(got, []string{"10.0.0.1/32=door", "192.168.0.0/16=lan"}) {
		t.Errorf("entries %v", got)
	}
	many := make([]string, LBACLEntriesPerCall+1)
	for i := range many {
		many[i] = fmt.Sprintf("172.16.%d.0/24", i)
	}
	for _, tc := range []struct {
		name string
		add  []LBACLEntrySpec
		code string
	}{
		{"none", nil, "MissingParameter"},
		{"empty entry", entries("=x"), "InvalidParameter"},
		{"host bits", entries("10.1.0.1/24"), "InvalidParameter"},
		{"ipv6", entries("fd00::/64"), "InvalidParameter"},
		{"ipv6 address", entries("::ffff:10.0.0.9"), "InvalidParameter"},
		{"malformed", entries("10.0.0"), "InvalidParameter"},
		{"prefix 33", entries("10.0.0.0/33"), "InvalidParameter"},
		{"twice in the call", entries("10.2.0.0/16", "10.2.0.0/16"), "InvalidParameter"},
		{"twice, two spellings", entries("10.3.0.1", "10.3.0.1/32"), "InvalidParameter"},
		{"long comment", []LBACLEntrySpec{{Entry: "10.4.0.0/16", Comment: strings.Repeat("c", 101)}}, "InvalidParameter"},
		{"control in comment", []LBACLEntrySpec{{Entry: "10.4.0.0/16", Comment: "a\nb"}}, "InvalidParameter"},
		{"too many in one call", entries(many...), "InvalidParameter"},
		{"has it", entries("10.5.0.0/16", "10.0.0.1/32"), "Duplicated.AclEntry"},
		{"over quota", entries("10.6.0.0/16", "10.7.0.0/16", "10.8.0.0/16"), "OverQuota"},
	} {
		unchanged(t, s, "add "+tc.name, tc.code, func() error { return s.AddLBACLEntries(ctx, "1", a.ID, tc.add) })
	}
	unchanged(t, s, "add to another account's list", "AclNotExist", func() error { return s.AddLBACLEntries(ctx, "2", a.ID, entries("10.9.0.0/16")) })
	unchanged(t, s, "add to no list", "MissingParameter", func() error { return s.AddLBACLEntries(ctx, "1", "", entries("10.9.0.0/16")) })
	wantCode(t, "unknown list", s.AddLBACLEntries(ctx, "1", "acl-nope", entries("10.9.0.0/16")), "AclNotExist", 404)
	// Up to the quota, with a comment of 100 characters.
	if err := s.AddLBACLEntries(ctx, "1", a.ID, []LBACLEntrySpec{{Entry: "10.6.0.0/16", Comment: strings.Repeat("é", 100)}, {Entry: " 0.0.0.0/0 "}}); err != nil {
		t.Fatal(err)
	}

	// Remove: by entry, comments not compared; all or nothing.
	unchanged(t, s, "remove a stranger", "ResourceNotFound.AclEntry", func() error {
		return s.RemoveLBACLEntries(ctx, "1", a.ID, entries("10.0.0.1", "10.99.0.0/16"))
	})
	unchanged(t, s, "remove host bits", "InvalidParameter", func() error { return s.RemoveLBACLEntries(ctx, "1", a.ID, entries("192.168.1.0/16")) })
	unchanged(t, s, "remove from another account's list", "AclNotExist", func() error { return s.RemoveLBACLEntries(ctx, "2", a.ID, entries("10.0.0.1")) })
	if err := s.RemoveLBACLEntries(ctx, "1", a.ID, entries("10.0.0.1=other", "0.0.0.0/0")); err != nil {
		t.Fatal(err)
	}
	if got := aclEntries(t, s, "1", a.ID); len(got) != 2 || got[0] != "192.168.0.0/16=lan" || !strings.HasPrefix(got[1], "10.6.0.0/16=") {
		t.Errorf("after remove: %v", got)
	}
	// Down to none.
	if err := s.RemoveLBACLEntries(ctx, "1", a.ID, entries("192.168.0.0/16", "10.6.0.0/16")); err != nil {
		t.Fatal(err)
	}
	if got := aclEntries(t, s, "1", a.ID); len(got) != 0 {
		t.Errorf("emptied: %v", got)
	}
	for _, v := range []struct{ in, want string }{{"10.0.0.1", "10.0.0.1/32"}, {"10.0.0.0/8", "10.0.0.0/8"}, {"0.0.0.0/0", "0.0.0.0/0"}} {
		if p, err := ParseLBACLEntry(v.in); err != nil || p != netip.MustParsePrefix(v.want) {
			t.Errorf("ParseLBACLEntry(%s): %v %v", v.in, p, err)
		}
	}
}

// Listeners use lists of their account, within the limits; a list in use
// stays; off forgets the list.
func TestLBACLListeners(t *testing.T) {
	q := DefaultQuotas()
	q.LBListenersPerACL = 2
	q.LBACLEntries = 3
	s := slbFixture(t, q)
	ctx := context.Background()
	lb := newLB(t, s, "1", CreateLoadBalancerInput{VSwitchID: "vsw-a"})
	lb2 := newLB(t, s, "1", CreateLoadBalancerInput{VSwitchID: "vsw-b"})
	a := newLBACL(t, s, "1", "office")
	b := newLBACL(t, s, "1", "branch")
	bobs := newLBACL(t, s, "2", "bob")
	if err := s.AddLBACLEntries(ctx, "1", a.ID, entries("10.0.0.0/8", "192.0.2.7")); err != nil {
		t.Fatal(err)
	}
	on := func(port int, proto, typ, id string) ListenerSpec {
		return ListenerSpec{Protocol: proto, Port: port, BackendPort: intp(port), AclStatus: strp("on"), AclType: strp(typ), AclID: strp(id)}
	}
	if err := s.CreateListener(ctx, "1", lb.ID, on(80, "tcp", "White", a.ID)); err != nil {
		t.Fatal(err)
	}
	if l, _ := s.GetListener(ctx, "1", lb.ID, 80, "tcp"); l.AclStatus != model.LBACLOn || l.AclType != model.LBACLWhite || l.AclID != a.ID {
		t.Errorf("listener %+v", l)
	}
	if err := s.CreateListener(ctx, "1", lb2.ID, on(53, "udp", "black", a.ID)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		lb   string
		x    ListenerSpec
		code string
	}{
		{"third listener of the list", lb.ID, on(81, "tcp", "white", a.ID), "OverQuota"},
		{"another account's list", lb.ID, on(81, "tcp", "white", bobs.ID), "AclNotExist"},
		{"no type", lb.ID, ListenerSpec{Protocol: "tcp", Port: 81, BackendPort: intp(81), AclStatus: strp("on"), AclID: strp(b.ID)}, "MissingParameter"},
		{"no list", lb.ID, ListenerSpec{Protocol: "tcp", Port: 81, BackendPort: intp(81), AclStatus: strp("on"), AclType: strp("black")}, "MissingParameter"},
		{"bad type", lb.ID, on(81, "tcp", "gray", b.ID), "InvalidParameter"},
	} {
		unchanged(t, s, tc.name, tc.code, func() error { return s.CreateListener(ctx, "1", tc.lb, tc.x) })
	}
	wantCode(t, "another account's list status", s.CreateListener(ctx, "1", lb.ID, on(81, "tcp", "white", bobs.ID)), "AclNotExist", 404)
	// Bob's listener cannot use alice's list either.
	bobLB := newLB(t, s, "2", CreateLoadBalancerInput{VSwitchID: "vsw-x"})
	unchanged(t, s, "bob uses alice's list", "AclNotExist", func() error { return s.CreateListener(ctx, "2", bobLB.ID, on(80, "tcp", "white", a.ID)) })

	// The list and its listeners.
	v, err := s.GetLBACL(ctx, "1", a.ID)
	want := []LBACLListener{{lb.ID, 80, "tcp", "white"}, {lb2.ID, 53, "udp", "black"}}
	if err != nil || !slices.Equal(v.Listeners, want) || len(v.Entries) != 2 {
		t.Errorf("list %+v %v, want listeners %v", v, err, want)
	}
	if _, err := s.GetLBACL(ctx, "2", a.ID); !strings.Contains(fmt.Sprint(err), "AclNotExist") {
		t.Errorf("bob reads alice's list: %v", err)
	}
	// Deleting a list in use is refused, naming its listeners; another
	// account cannot delete it at all.
	err = s.DeleteLBACL(ctx, "1", a.ID)
	wantCode(t, "delete in use", err, "AclInUsed", 400)
	if msg := err.Error(); !strings.Contains(msg, lb.ID+" TCP:80") || !strings.Contains(msg, lb2.ID+" UDP:53") {
		t.Errorf("message does not name the listeners: %s", msg)
	}
	unchanged(t, s, "delete in use", "AclInUsed", func() error { return s.DeleteLBACL(ctx, "1", a.ID) })
	unchanged(t, s, "bob deletes", "AclNotExist", func() error { return s.DeleteLBACL(ctx, "2", a.ID) })
	unchanged(t, s, "delete without id", "MissingParameter", func() error { return s.DeleteLBACL(ctx, "1", "") })

	// Entries: the list of listeners stays within the entries limit.
	err = s.AddLBACLEntries(ctx, "1", a.ID, entries("10.1.0.0/16", "10.2.0.0/16"))
	wantCode(t, "entries over the listeners' limit", err, "OverQuota", 400)
	if !strings.Contains(err.Error(), lb.ID+" TCP:80") {
		t.Errorf("message does not name the listeners: %v", err)
	}
	if err := s.AddLBACLEntries(ctx, "1", a.ID, entries("10.1.0.0/16")); err != nil {
		t.Fatal(err)
	}
	// Emptying a list in use is allowed (it then admits everyone).
	if err := s.RemoveLBACLEntries(ctx, "1", a.ID, entries("10.0.0.0/8", "192.0.2.7", "10.1.0.0/16")); err != nil {
		t.Fatal(err)
	}
	if err := s.AddLBACLEntries(ctx, "1", b.ID, entries("10.0.0.0/8", "10.1.0.0/16", "10.2.0.0/16")); err != nil {
		t.Fatal(err)
	}
	// A list with more entries than a listener's may hold (the quota was
	// lowered) cannot be associated.
	q2 := q
	q2.LBACLEntries = 2
	s2 := New(s.Store(), Config{Quotas: q2})
	unchanged(t, s2, "list over a listener's entries", "OverQuota", func() error {
		return s2.SetListener(ctx, "1", lb.ID, ListenerSpec{Protocol: "tcp", Port: 80, AclID: strp(b.ID)})
	})

	// Set: the type alone, the list alone, both stay on; a Set without
	// access control parameters keeps it.
	steps := []struct {
		x               ListenerSpec
		status, typ, id string
	}{
		{ListenerSpec{Protocol: "tcp", Port: 80, AclType: strp("black")}, "on", "black", a.ID},
		{ListenerSpec{Protocol: "tcp", Port: 80, AclID: strp(b.ID)}, "on", "black", b.ID},
		{ListenerSpec{Protocol: "tcp", Port: 80, Scheduler: strp("rr")}, "on", "black", b.ID},
		{ListenerSpec{Protocol: "tcp", Port: 80, AclStatus: strp("on")}, "on", "black", b.ID},
		{ListenerSpec{Protocol: "tcp", Port: 80, AclStatus: strp("off"), AclType: strp("white"), AclID: strp(a.ID)}, "", "", ""},
		// Off: a type or list alone is not kept.
		{ListenerSpec{Protocol: "tcp", Port: 80, AclID: strp(a.ID)}, "", "", ""},
	}
	for i, st := range steps {
		if err := s.SetListener(ctx, "1", lb.ID, st.x); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if l, _ := s.GetListener(ctx, "1", lb.ID, 80, "tcp"); l.AclStatus != st.status || l.AclType != st.typ || l.AclID != st.id {
			t.Errorf("step %d: %q %q %q, want %q %q %q", i, l.AclStatus, l.AclType, l.AclID, st.status, st.typ, st.id)
		}
	}
	unchanged(t, s, "on without list", "MissingParameter", func() error {
		return s.SetListener(ctx, "1", lb.ID, ListenerSpec{Protocol: "tcp", Port: 80, AclStatus: strp("on"), AclType: strp("white")})
	})
	unchanged(t, s, "set to another account's list", "AclNotExist", func() error {
		return s.SetListener(ctx, "1", lb.ID, ListenerSpec{Protocol: "tcp", Port: 80, AclStatus: strp("on"), AclType: strp("white"), AclID: strp(bobs.ID)})
	})
	// The list's third listener again, now that lb's listener left it:
	// accepted.
	if err := s.CreateListener(ctx, "1", lb.ID, on(81, "tcp", "white", a.ID)); err != nil {
		t.Fatal(err)
	}
	unchanged(t, s, "a third user by set", "OverQuota", func() error {
		return s.SetListener(ctx, "1", lb.ID, ListenerSpec{Protocol: "tcp", Port: 80, AclStatus: strp("on"), AclType: strp("white"), AclID: strp(a.ID)})
	})

	// Deleting the listener and the load balancer ends the uses.
	if err := s.DeleteListener(ctx, "1", lb.ID, 81, "tcp"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteLoadBalancer(ctx, "1", lb2.ID); err != nil {
		t.Fatal(err)
	}
	if v, _ := s.GetLBACL(ctx, "1", a.ID); len(v.Listeners) != 0 {
		t.Errorf("listeners left: %+v", v.Listeners)
	}
	if err := s.DeleteLBACL(ctx, "1", a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetLBACL(ctx, "1", a.ID); !strings.Contains(fmt.Sprint(err), "AclNotExist") {
		t.Errorf("deleted list: %v", err)
	}
}

func TestAgentsMirrorLBACLs(t *testing.T) {
	if p := AgentPrefixes(); !slices.Contains(p, model.PrefixLBACL) {
		t.Errorf("AgentPrefixes %v lacks %q", p, model.PrefixLBACL)
	}
}

// The default limits: 1,000 entries per list (50 per call), 50 listeners
// per list.
func TestLBACLDefaultLimits(t *testing.T) {
	s := slbFixture(t, Quotas{})
	ctx := context.Background()
	if q := s.Quotas(); q.LBACLEntries != 1000 || q.LBListenersPerACL != 50 || q.LBACLsPerAccount != 50 {
		t.Fatalf("default quotas %+v", q)
	}
	a := newLBACL(t, s, "1", "big")
	for call := range DefaultLBACLEntries / LBACLEntriesPerCall {
		var es []LBACLEntrySpec
		for i := range LBACLEntriesPerCall {
			n := call*LBACLEntriesPerCall + i
			es = append(es, LBACLEntrySpec{Entry: fmt.Sprintf("10.%d.%d.0/24", n/256, n%256)})
		}
		if err := s.AddLBACLEntries(ctx, "1", a.ID, es); err != nil {
			t.Fatalf("call %d: %v", call, err)
		}
	}
	unchanged(t, s, "entry 1001", "OverQuota", func() error { return s.AddLBACLEntries(ctx, "1", a.ID, entries("192.0.2.1")) })

	lb := newLB(t, s, "1", CreateLoadBalancerInput{VSwitchID: "vsw-a"})
	lb2 := newLB(t, s, "1", CreateLoadBalancerInput{VSwitchID: "vsw-b"})
	for port := 1; port <= DefaultLBListenersPerACL; port++ {
		x := ListenerSpec{Protocol: "tcp", Port: port, BackendPort: intp(port), AclStatus: strp("on"), AclType: strp("white"), AclID: strp(a.ID)}
		if err := s.CreateListener(ctx, "1", lb.ID, x); err != nil {
			t.Fatalf("listener %d: %v", port, err)
		}
	}
	unchanged(t, s, "listener 51", "OverQuota", func() error {
		return s.CreateListener(ctx, "1", lb2.ID, ListenerSpec{Protocol: "udp", Port: 1, BackendPort: intp(1), AclStatus: strp("on"), AclType: strp("black"), AclID: strp(a.ID)})
	})
	if v, _ := s.GetLBACL(ctx, "1", a.ID); len(v.Listeners) != 50 || len(v.Entries) != 1000 {
		t.Errorf("%d listeners, %d entries", len(v.Listeners), len(v.Entries))
	}
}
