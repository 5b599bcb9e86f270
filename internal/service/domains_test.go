package service

import (
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/palisade-project/palisade/internal/errs"
	"github.com/palisade-project/palisade/internal/model"
)

// domainPolicy is a valid rule: TCP 443 from anywhere to the domain dst.
func domainPolicy(label, dst string) PolicyInput {
	return PolicyInput{
		AclAction: sp("drop"), Proto: sp("TCP"), Source: sp("0.0.0.0/0"), SourceType: sp("net"),
		Destination: sp(dst), DestinationType: sp("domain"), DestPort: sp("443"), Description: sp(label),
	}
}

func addDomainPolicy(t *testing.T, s *Service, acct, label, dst string) model.FirewallPolicy {
	t.Helper()
	p, err := s.AddControlPolicy(context.Background(), acct, AddControlPolicyInput{Direction: "out", NewOrder: "-1", PolicyInput: domainPolicy(label, dst)})
	if err != nil {
		t.Fatalf("AddControlPolicy %s -> %s: %v", label, dst, err)
	}
	return p
}

func addNatDomainPolicy(t *testing.T, s *Service, acct, gw, label, dst string) model.FirewallPolicy {
	t.Helper()
	in := domainPolicy(label, dst)
	in.Source = sp("10.0.0.0/16")
	p, err := s.CreateNatFirewallControlPolicy(context.Background(), acct, NatFirewallPolicyInput{NatGatewayID: gw, Direction: "out", NewOrder: "-1", PolicyInput: in})
	if err != nil {
		t.Fatalf("CreateNatFirewallControlPolicy %s -> %s: %v", label, dst, err)
	}
	return p
}

func TestParseFirewallDomain(t *testing.T) {
	long := strings.Repeat("a", 63)
	for _, tc := range []struct {
		in, want, code string
	}{
		{"example.com", "example.com", ""},
		{" WWW.Example.COM. ", "www.example.com", ""},
		{"a-b.c0.example", "a-b.c0.example", ""},
		{"xn--bcher-kva.example", "xn--bcher-kva.example", ""},
		{"1password.com", "1password.com", ""},
		{long + ".example", long + ".example", ""},
		{"*.example.com", "", "OperationUnsupported.Destination"},
		{"*", "", "OperationUnsupported.Destination"},
		{"", "", "IllegalParam.Destination"},
		{".", "", "IllegalParam.Destination"},
		{"localhost", "", "IllegalParam.Destination"},
		{"www.*.example.com", "", "IllegalParam.Destination"},
		{"-bad.example.com", "", "IllegalParam.Destination"},
		{"bad-.example.com", "", "IllegalParam.Destination"},
		{"a..example.com", "", "IllegalParam.Destination"},
		{"under_score.example.com", "", "IllegalParam.Destination"},
		{"spa ce.example.com", "", "IllegalParam.Destination"},
		{"bücher.example", "", "IllegalParam.Destination"},
		{long + "a.example", "", "IllegalParam.Destination"},
		{strings.Repeat("abcdefghi.", 25) + "example", "", "IllegalParam.Destination"}, // 257 characters
		{"192.0.2.1", "", "IllegalParam.Destination"},
		{"192.0.2.0/24", "", "IllegalParam.Destination"},
		{"2001:db8::1", "", "IllegalParam.Destination"},
		{"10.0.0", "", "IllegalParam.Destination"},
		{"http://example.com", "", "IllegalParam.Destination"},
		{"example.com:443", "", "IllegalParam.Destination"},
	} {
		got, err := ParseFirewallDomain("Destination", tc.in)
		if tc.code == "" {
			if err != nil || got != tc.want {
				t.Errorf("ParseFirewallDomain(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
			continue
		}
		if e, ok := errs.As(err); !ok || e.Code != tc.code || e.Status != 400 {
			t.Errorf("ParseFirewallDomain(%q) = %q, %v; want %s", tc.in, got, err, tc.code)
		}
	}
	// The messages say what to do.
	_, err := ParseFirewallDomain("Destination", "*.example.com")
	if e, _ := errs.As(err); e == nil || !strings.Contains(e.Message, "DNS") || !strings.Contains(e.Message, "SNI") {
		t.Errorf("wildcard message: %v", err)
	}
	_, err = ParseFirewallDomain("Destination", "192.0.2.1")
	if e, _ := errs.As(err); e == nil || !strings.Contains(e.Message, "DestinationType net") {
		t.Errorf("IP message: %v", err)
	}
}

// TestFirewallDomainPolicies: domain destinations of the Internet
// firewall's out policies and of NAT-firewall policies are stored in
// canonical form with DomainResolveType 1; retries, modify to and from a
// domain.
func TestFirewallDomainPolicies(t *testing.T) {
	s := natFixture(t)
	ctx := context.Background()
	g := newNatGW(t, s, "1", CreateNatGatewayInput{VpcID: "vpc-1", VSwitchID: "vsw-a"})

	in := domainPolicy("web", " WWW.Example.COM. ")
	p, err := s.AddControlPolicy(ctx, "1", AddControlPolicyInput{Direction: "OUT", NewOrder: "1", PolicyInput: in})
	if err != nil {
		t.Fatal(err)
	}
	if p.Destination != "www.example.com" || p.DestinationType != model.FirewallDomain || p.DomainResolveType != model.FirewallResolveDNS {
		t.Errorf("stored: %+v", p)
	}
	// A retry, with DomainResolveType 1 said out loud, adds nothing.
	in.DomainResolveType = sp("1")
	if again, err := s.AddControlPolicy(ctx, "1", AddControlPolicyInput{Direction: "out", NewOrder: "1", PolicyInput: in}); err != nil || again.ID != p.ID {
		t.Errorf("retry: %+v %v, want %s", again, err, p.ID)
	}
	n := addNatDomainPolicy(t, s, "1", g.ID, "nat web", "api.example.net")
	if n.Destination != "api.example.net" || n.DomainResolveType != model.FirewallResolveDNS || n.NatGatewayID != g.ID {
		t.Errorf("NAT policy: %+v", n)
	}

	// DomainResolveType does not concern other destinations: ignored and
	// stored 0, whatever its value.
	net := policyIn("net")
	net.Destination, net.DomainResolveType = sp("0.0.0.0/0"), sp("0")
	q, err := s.AddControlPolicy(ctx, "1", AddControlPolicyInput{Direction: "out", NewOrder: "-1", PolicyInput: net})
	if err != nil || q.DomainResolveType != 0 {
		t.Errorf("net destination with DomainResolveType 0: %+v %v", q, err)
	}

	get := func(id string) FirewallPolicyView {
		t.Helper()
		list, err := s.DescribeControlPolicy(ctx, "1", ControlPolicyQuery{AclUuid: id})
		if err != nil || len(list) != 1 {
			t.Fatalf("DescribeControlPolicy %s: %v %v", id, list, err)
		}
		return list[0]
	}
	// Modify: to a domain (the new Destination is needed), and back.
	if err := s.ModifyControlPolicy(ctx, "1", q.ID, "out", PolicyInput{DestinationType: sp("domain"), Destination: sp("Files.Example.org")}); err != nil {
		t.Fatal(err)
	}
	if v := get(q.ID); v.Destination != "files.example.org" || v.DestinationType != "domain" || v.DomainResolveType != 1 {
		t.Errorf("modified to a domain: %+v", v.FirewallPolicy)
	}
	// Another field changes; the domain stays.
	if err := s.ModifyControlPolicy(ctx, "1", q.ID, "out", PolicyInput{AclAction: sp("log"), DomainResolveType: sp("1")}); err != nil {
		t.Fatal(err)
	}
	if v := get(q.ID); v.Destination != "files.example.org" || v.Action != "log" || v.DomainResolveType != 1 {
		t.Errorf("modified action: %+v", v.FirewallPolicy)
	}
	// Modifying nothing (the same values) writes nothing.
	rev := s.st.Revision()
	if err := s.ModifyControlPolicy(ctx, "1", q.ID, "out", PolicyInput{Destination: sp("FILES.example.org."), DomainResolveType: sp("1")}); err != nil || s.st.Revision() != rev {
		t.Errorf("same values: %v, revision %d -> %d", err, rev, s.st.Revision())
	}
	if err := s.ModifyControlPolicy(ctx, "1", q.ID, "out", PolicyInput{DestinationType: sp("net"), Destination: sp("198.51.100.0/24")}); err != nil {
		t.Fatal(err)
	}
	if v := get(q.ID); v.Destination != "198.51.100.0/24" || v.DestinationType != "net" || v.DomainResolveType != 0 {
		t.Errorf("modified back to net: %+v", v.FirewallPolicy)
	}
	// The NAT firewall's modify, likewise.
	if err := s.ModifyNatFirewallControlPolicy(ctx, "1", g.ID, "", n.ID, PolicyInput{Destination: sp("api2.example.net")}); err != nil {
		t.Fatal(err)
	}
	list, err := s.DescribeNatFirewallControlPolicy(ctx, "1", NatPolicyQuery{NatGatewayID: g.ID})
	if err != nil || len(list) != 1 || list[0].Destination != "api2.example.net" || list[0].DomainResolveType != 1 {
		t.Errorf("NAT modify: %+v %v", list, err)
	}
	// A domain is not a book: a book of the same name is not in use.
	b := addBook(t, s, "1", "www.example.com", "ip", "192.0.2.0/24")
	if err := s.DeleteAddressBook(ctx, "1", b.ID); err != nil {
		t.Errorf("delete a book named like a policy's domain: %v", err)
	}
}

// TestFirewallDomainRefusals: a domain where it makes no sense, a
// wildcard, a malformed name and a DomainResolveType other than 1 are
// refused with their codes, and the store does not change.
func TestFirewallDomainRefusals(t *testing.T) {
	s := natFixture(t)
	ctx := context.Background()
	g := newNatGW(t, s, "1", CreateNatGatewayInput{VpcID: "vpc-1", VSwitchID: "vsw-a"})
	in := addPolicy(t, s, "1", "in", "1", "inbound")
	out := addDomainPolicy(t, s, "1", "out", "example.com")
	nat := addNatDomainPolicy(t, s, "1", g.ID, "nat", "example.com")
	with := func(f func(*PolicyInput)) PolicyInput { p := domainPolicy("x", "example.com"); f(&p); return p }
	add := func(dir string, p PolicyInput) func() error {
		return func() error {
			_, err := s.AddControlPolicy(ctx, "1", AddControlPolicyInput{Direction: dir, NewOrder: "-1", PolicyInput: p})
			return err
		}
	}
	addNat := func(p PolicyInput) func() error {
		return func() error {
			_, err := s.CreateNatFirewallControlPolicy(ctx, "1", NatFirewallPolicyInput{NatGatewayID: g.ID, Direction: "out", NewOrder: "-1", PolicyInput: p})
			return err
		}
	}
	for _, tc := range []struct {
		what, code string
		f          func() error
	}{
		{"direction in", "OperationUnsupported.DestinationType", add("in", domainPolicy("x", "example.com"))},
		{"domain source", "OperationUnsupported.SourceType", add("out", with(func(p *PolicyInput) {
			p.SourceType, p.Source, p.DestinationType, p.Destination = sp("domain"), sp("example.com"), sp("net"), sp("0.0.0.0/0")
		}))},
		{"nat domain source", "OperationUnsupported.SourceType", addNat(with(func(p *PolicyInput) {
			p.SourceType, p.Source = sp("domain"), sp("example.com")
		}))},
		{"wildcard", "OperationUnsupported.Destination", add("out", domainPolicy("x", "*.example.com"))},
		{"nat wildcard", "OperationUnsupported.Destination", addNat(domainPolicy("x", "*.example.com"))},
		{"bad name", "IllegalParam.Destination", add("out", domainPolicy("x", "exa mple.com"))},
		{"one label", "IllegalParam.Destination", add("out", domainPolicy("x", "intranet"))},
		{"ip literal", "IllegalParam.Destination", addNat(domainPolicy("x", "192.0.2.1"))},
		{"FQDN", "OperationUnsupported.DomainResolveType", add("out", with(func(p *PolicyInput) { p.DomainResolveType = sp("0") }))},
		{"FQDN and DNS", "OperationUnsupported.DomainResolveType", addNat(with(func(p *PolicyInput) { p.DomainResolveType = sp("2") }))},
		{"resolve type 3", "IllegalParam.DomainResolveType", add("out", with(func(p *PolicyInput) { p.DomainResolveType = sp("3") }))},
		{"resolve type text", "IllegalParam.DomainResolveType", addNat(with(func(p *PolicyInput) { p.DomainResolveType = sp("dns") }))},
		{"location", "OperationUnsupported.DestinationType", add("out", with(func(p *PolicyInput) { p.DestinationType = sp("location") }))},
		{"modify in to a domain", "OperationUnsupported.DestinationType", func() error {
			return s.ModifyControlPolicy(ctx, "1", in.ID, "in", PolicyInput{DestinationType: sp("domain"), Destination: sp("example.com")})
		}},
		{"modify to a domain without one", "MissingParameter", func() error {
			return s.ModifyControlPolicy(ctx, "1", in.ID, "in", PolicyInput{DestinationType: sp("domain")})
		}},
		{"modify from a domain without a CIDR", "MissingParameter", func() error {
			return s.ModifyControlPolicy(ctx, "1", out.ID, "out", PolicyInput{DestinationType: sp("net")})
		}},
		{"modify to a wildcard", "OperationUnsupported.Destination", func() error {
			return s.ModifyControlPolicy(ctx, "1", out.ID, "out", PolicyInput{Destination: sp("*.example.com")})
		}},
		{"modify to FQDN", "OperationUnsupported.DomainResolveType", func() error {
			return s.ModifyControlPolicy(ctx, "1", out.ID, "out", PolicyInput{DomainResolveType: sp("2")})
		}},
		{"nat modify to FQDN", "OperationUnsupported.DomainResolveType", func() error {
			return s.ModifyNatFirewallControlPolicy(ctx, "1", g.ID, "", nat.ID, PolicyInput{DomainResolveType: sp("0")})
		}},
		{"nat modify to a bad name", "IllegalParam.Destination", func() error {
			return s.ModifyNatFirewallControlPolicy(ctx, "1", g.ID, "", nat.ID, PolicyInput{Destination: sp("-x.example.com")})
		}},
	} {
		refused(t, s, tc.what, tc.code, 400, tc.f)
	}

	// The refusals say where a domain is accepted, and what to send.
	for what, f := range map[string]func() error{
		"direction in": add("in", domainPolicy("x", "example.com")),
		"source":       addNat(with(func(p *PolicyInput) { p.SourceType, p.Source = sp("domain"), sp("example.com") })),
	} {
		if e, _ := errs.As(f()); e == nil || !strings.Contains(e.Message, "Direction out") || !strings.Contains(e.Message, "NAT-firewall") {
			t.Errorf("%s: message %v", what, e)
		}
	}
	if e, _ := errs.As(add("out", with(func(p *PolicyInput) { p.DomainResolveType = sp("0") }))()); e == nil ||
		!strings.Contains(e.Message, "DNS only") || !strings.Contains(e.Message, "DomainResolveType 1") {
		t.Errorf("DomainResolveType 0: message %v", e)
	}
}

// TestVpcFirewallRefusesDomains: a VPC firewall's policies take no
// domain, on create and on modify.
func TestVpcFirewallRefusesDomains(t *testing.T) {
	s := peerFixture(t)
	ctx := context.Background()
	mustPeer(t, s, "1", CreatePeerInput{VpcID: "vpc-a", AcceptingVpcID: "vpc-b"}) // one account's: Activated at once
	fw, err := s.CreateVpcFirewallConfigure(ctx, "1", CreateVpcFirewallInput{Name: "fw", LocalVpcID: "vpc-a", PeerVpcID: "vpc-b", FirewallSwitch: "opened"})
	if err != nil {
		t.Fatal(err)
	}
	pol, err := s.CreateVpcFirewallControlPolicy(ctx, "1", fw.ID, "1", vpcPolicy("p"))
	if err != nil {
		t.Fatal(err)
	}
	in := vpcPolicy("d")
	in.Destination, in.DestinationType = sp("example.com"), sp("domain")
	refused(t, s, "create", "OperationUnsupported.DestinationType", 400, func() error {
		_, err := s.CreateVpcFirewallControlPolicy(ctx, "1", fw.ID, "1", in)
		return err
	})
	refused(t, s, "modify", "OperationUnsupported.DestinationType", 400, func() error {
		return s.ModifyVpcFirewallControlPolicy(ctx, "1", fw.ID, pol.ID, PolicyInput{Destination: sp("example.com"), DestinationType: sp("domain")})
	})
	_, err = s.CreateVpcFirewallControlPolicy(ctx, "1", fw.ID, "1", in)
	if e, _ := errs.As(err); e == nil || !strings.Contains(e.Message, "VPC firewall") || !strings.Contains(e.Message, "Direction out") {
		t.Errorf("message: %v", err)
	}
}

// TestDescribeDomainPolicy: a domain destination shows its resolution:
// none before the first lookup, then the addresses as /32 blocks.
func TestDescribeDomainPolicy(t *testing.T) {
	s := natFixture(t)
	ctx := context.Background()
	g := newNatGW(t, s, "1", CreateNatGatewayInput{VpcID: "vpc-1", VSwitchID: "vsw-a"})
	p := addDomainPolicy(t, s, "1", "web", "www.example.com")
	n := addNatDomainPolicy(t, s, "1", g.ID, "nat", "www.example.com")
	describe := func() (FirewallPolicyView, FirewallPolicyView) {
		t.Helper()
		a, err := s.DescribeControlPolicy(ctx, "1", ControlPolicyQuery{Direction: "out"})
		if err != nil || len(a) != 1 || a[0].ID != p.ID {
			t.Fatalf("DescribeControlPolicy: %+v %v", a, err)
		}
		b, err := s.DescribeNatFirewallControlPolicy(ctx, "1", NatPolicyQuery{NatGatewayID: g.ID})
		if err != nil || len(b) != 1 || b[0].ID != n.ID {
			t.Fatalf("DescribeNatFirewallControlPolicy: %+v %v", b, err)
		}
		return a[0], b[0]
	}
	a, b := describe()
	for _, v := range []FirewallPolicyView{a, b} {
		if v.Resolution != nil || len(v.DestinationGroupCidrs) != 0 || v.DestinationType != "domain" || v.DomainResolveType != 1 {
			t.Errorf("before any lookup: %+v", v)
		}
	}
	lookup := fakeDNS{"www.example.com": {addrs: addrList("192.0.2.9", "192.0.2.1")}}
	if err := s.ResolveFirewallDomains(ctx, lookup.lookup); err != nil {
		t.Fatal(err)
	}
	a, b = describe()
	for _, v := range []FirewallPolicyView{a, b} {
		if !slices.Equal(v.DestinationGroupCidrs, []string{"192.0.2.1/32", "192.0.2.9/32"}) || v.Resolution == nil ||
			v.Resolution.Domain != "www.example.com" || v.Resolution.ResolvedAt.IsZero() || v.Resolution.Error != "" {
			t.Errorf("after a lookup: %+v %+v", v.DestinationGroupCidrs, v.Resolution)
		}
	}
	// The Destination filter finds a domain by a part of it.
	if list, err := s.DescribeControlPolicy(ctx, "1", ControlPolicyQuery{Destination: "example"}); err != nil || len(list) != 1 {
		t.Errorf("Destination filter: %v %v", list, err)
	}
}

// fakeDNS answers lookups from a table; a name it lacks has no addresses.
type fakeDNS map[string]fakeAnswer

type fakeAnswer struct {
	addrs []netip.Addr
	err   error
}

func (f fakeDNS) lookup(_ context.Context, name string) ([]netip.Addr, error) {
	a := f[name]
	return a.addrs, a.err
}

func addrList(ss ...string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

// resolutions returns the stored resolutions by domain.
func resolutions(t *testing.T, s *Service) map[string]model.DomainResolution {
	t.Helper()
	out := map[string]model.DomainResolution{}
	for k, v := range storeSnapshot(t, s) {
		if d, ok := strings.CutPrefix(k, model.PrefixDomainResolution); ok {
			var r model.DomainResolution
			if err := json.Unmarshal([]byte(v), &r); err != nil {
				t.Fatalf("%s: %v", k, err)
			}
			out[d] = r
		}
	}
	return out
}

// TestResolveFirewallDomains: one record per domain that an enabled policy
// of either firewall names, whatever the account; unchanged answers write
// nothing; a failure keeps the addresses; records of domains no longer
// named go.
func TestResolveFirewallDomains(t *testing.T) {
	s := natFixture(t)
	ctx := context.Background()
	g := newNatGW(t, s, "1", CreateNatGatewayInput{VpcID: "vpc-1", VSwitchID: "vsw-a"})
	a1 := addDomainPolicy(t, s, "1", "a", "a.example.com")
	a2 := addDomainPolicy(t, s, "2", "a too", "a.example.com") // another account, the same domain
	nb := addNatDomainPolicy(t, s, "1", g.ID, "b", "b.example.com")
	off := domainPolicy("c", "c.example.com")
	off.Release = sp("false")
	if _, err := s.AddControlPolicy(ctx, "1", AddControlPolicyInput{Direction: "out", NewOrder: "-1", PolicyInput: off}); err != nil {
		t.Fatal(err)
	}
	addPolicy(t, s, "1", "out", "-1", "net")

	var mu sync.Mutex
	asked := map[string]int{}
	dns := fakeDNS{
		// IPv4 only, sorted, each once (an IPv4-mapped address is IPv4).
		"a.example.com": {addrs: addrList("192.0.2.2", "2001:db8::1", "192.0.2.1", "192.0.2.2", "::ffff:192.0.2.3")},
		"b.example.com": {addrs: addrList("198.51.100.7")},
	}
	lookup := func(ctx context.Context, name string) ([]netip.Addr, error) {
		mu.Lock()
		asked[name]++
		mu.Unlock()
		return dns.lookup(ctx, name)
	}
	if err := s.ResolveFirewallDomains(ctx, lookup); err != nil {
		t.Fatal(err)
	}
	got := resolutions(t, s)
	if len(got) != 2 || !slices.Equal(got["a.example.com"].Addrs, addrList("192.0.2.1", "192.0.2.2", "192.0.2.3")) ||
		!slices.Equal(got["b.example.com"].Addrs, addrList("198.51.100.7")) || got["a.example.com"].Domain != "a.example.com" ||
		got["a.example.com"].ResolvedAt.IsZero() || got["a.example.com"].Error != "" {
		t.Errorf("first pass: %+v", got)
	}
	if asked["a.example.com"] != 1 || asked["b.example.com"] != 1 || asked["c.example.com"] != 0 || len(asked) != 2 {
		t.Errorf("lookups: %v, want a and b once each (not the disabled policy's c)", asked)
	}

	// The same answers again: nothing is written.
	rev := s.st.Revision()
	if err := s.ResolveFirewallDomains(ctx, lookup); err != nil || s.st.Revision() != rev {
		t.Errorf("unchanged answers: %v, revision %d -> %d", err, rev, s.st.Revision())
	}
	// New only: every domain has a record, nothing is asked.
	clear(asked)
	if err := s.ResolveNewFirewallDomains(ctx, lookup); err != nil || len(asked) != 0 || s.st.Revision() != rev {
		t.Errorf("new only: %v, asked %v, revision %d -> %d", err, asked, rev, s.st.Revision())
	}

	// A failure keeps the addresses and records the error, once.
	dns["a.example.com"] = fakeAnswer{err: errors.New("192.0.2.53:53: timed out")}
	if err := s.ResolveFirewallDomains(ctx, lookup); err != nil {
		t.Fatal(err)
	}
	ra := resolutions(t, s)["a.example.com"]
	if !slices.Equal(ra.Addrs, addrList("192.0.2.1", "192.0.2.2", "192.0.2.3")) || ra.Error != "192.0.2.53:53: timed out" ||
		!ra.ResolvedAt.Equal(got["a.example.com"].ResolvedAt) {
		t.Errorf("after a failure: %+v", ra)
	}
	rev = s.st.Revision()
	if err := s.ResolveFirewallDomains(ctx, lookup); err != nil || s.st.Revision() != rev {
		t.Errorf("the same failure again: %v, revision %d -> %d", err, rev, s.st.Revision())
	}
	// Success again clears the error; a name without addresses
	// (NXDOMAIN) is an answer: none, and no error.
	dns["a.example.com"] = fakeAnswer{addrs: addrList("192.0.2.5")}
	dns["b.example.com"] = fakeAnswer{}
	if err := s.ResolveFirewallDomains(ctx, lookup); err != nil {
		t.Fatal(err)
	}
	got = resolutions(t, s)
	if r := got["a.example.com"]; !slices.Equal(r.Addrs, addrList("192.0.2.5")) || r.Error != "" {
		t.Errorf("recovered: %+v", r)
	}
	if r, ok := got["b.example.com"]; !ok || len(r.Addrs) != 0 || r.Error != "" {
		t.Errorf("no addresses: %+v %v", r, ok)
	}

	// A disabled policy names no domain: its record goes at the next pass,
	// new-only too (without asking anything).
	if err := s.ModifyNatFirewallControlPolicy(ctx, "1", g.ID, "", nb.ID, PolicyInput{Release: sp("false")}); err != nil {
		t.Fatal(err)
	}
	clear(asked)
	if err := s.ResolveNewFirewallDomains(ctx, lookup); err != nil || len(asked) != 0 {
		t.Errorf("new only after disabling: %v, asked %v", err, asked)
	}
	if got := resolutions(t, s); len(got) != 1 || got["a.example.com"].Domain == "" {
		t.Errorf("after disabling b's policy: %+v", got)
	}
	// Re-enabled: new-only asks for it alone.
	if err := s.ModifyNatFirewallControlPolicy(ctx, "1", g.ID, "", nb.ID, PolicyInput{Release: sp("true")}); err != nil {
		t.Fatal(err)
	}
	dns["b.example.com"] = fakeAnswer{addrs: addrList("198.51.100.8")}
	if err := s.ResolveNewFirewallDomains(ctx, lookup); err != nil || asked["b.example.com"] != 1 || asked["a.example.com"] != 0 {
		t.Errorf("new only after enabling: %v, asked %v", err, asked)
	}
	if r := resolutions(t, s)["b.example.com"]; !slices.Equal(r.Addrs, addrList("198.51.100.8")) {
		t.Errorf("b after enabling: %+v", r)
	}

	// One account's policy goes: the other still names the domain.
	if err := s.DeleteControlPolicy(ctx, "2", a2.ID, "out"); err != nil {
		t.Fatal(err)
	}
	if err := s.ResolveFirewallDomains(ctx, lookup); err != nil {
		t.Fatal(err)
	}
	if _, ok := resolutions(t, s)["a.example.com"]; !ok {
		t.Error("a's record went while account 1 still names it")
	}
	// A policy deleted while its domain is looked up: no record is
	// written for it (and the stale one goes).
	deleting := func(ctx context.Context, name string) ([]netip.Addr, error) {
		if name == "a.example.com" {
			if err := s.DeleteControlPolicy(ctx, "1", a1.ID, "out"); err != nil {
				t.Errorf("delete during the lookup: %v", err)
			}
		}
		return addrList("192.0.2.77"), nil
	}
	if err := s.ResolveFirewallDomains(ctx, deleting); err != nil {
		t.Fatal(err)
	}
	if got := resolutions(t, s); len(got) != 1 || !slices.Equal(got["b.example.com"].Addrs, addrList("192.0.2.77")) {
		t.Errorf("after deleting a's last policy during its lookup: %+v", got)
	}
	// The NAT gateway goes with its policies: at the next pass, the record.
	if err := s.DeleteNatGateway(ctx, "1", g.ID, true); err != nil {
		t.Fatal(err)
	}
	if err := s.ResolveNewFirewallDomains(ctx, lookup); err != nil {
		t.Fatal(err)
	}
	if got := resolutions(t, s); len(got) != 0 {
		t.Errorf("after deleting the gateway: %+v", got)
	}
}

// TestResolveFirewallDomainsCancelled: a pass cut short writes nothing
// (its lookups' errors say nothing about DNS).
func TestResolveFirewallDomainsCancelled(t *testing.T) {
	s := natFixture(t)
	addDomainPolicy(t, s, "1", "a", "a.example.com")
	ctx, cancel := context.WithCancel(context.Background())
	lookup := func(ctx context.Context, name string) ([]netip.Addr, error) {
		cancel()
		return nil, ctx.Err()
	}
	rev := s.st.Revision()
	if err := s.ResolveFirewallDomains(ctx, lookup); !errors.Is(err, context.Canceled) || s.st.Revision() != rev {
		t.Errorf("cancelled pass: %v, revision %d -> %d", err, rev, s.st.Revision())
	}
}

// TestAgentPrefixesIncludeDomainResolutions: agents match the addresses
// the server found.
func TestAgentPrefixesIncludeDomainResolutions(t *testing.T) {
	if p := AgentPrefixes(); !slices.Contains(p, model.PrefixDomainResolution) {
		t.Errorf("AgentPrefixes %v lacks %q", p, model.PrefixDomainResolution)
	}
}
