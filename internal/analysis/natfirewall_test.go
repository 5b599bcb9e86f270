package analysis

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/palisade-project/palisade/internal/model"
)

// nfwPolicy is an enabled NAT-firewall policy of gateway gw (account
// acct-1): src and dst are CIDRs, or address books' names when they do
// not parse as one; port is "80" or "80/88", or a port book's name.
func nfwPolicy(id, gw string, order int, action, src, dst, proto, port string) model.FirewallPolicy {
	p := model.FirewallPolicy{ID: id, AccountID: "acct-1", NatGatewayID: gw, Direction: model.FirewallOut, Order: order, Action: action,
		Source: src, SourceType: model.FirewallNet, Destination: dst, DestinationType: model.FirewallNet, Proto: proto, Enabled: true}
	if !strings.Contains(src, ".") {
		p.SourceType = model.FirewallGroup
	}
	if !strings.Contains(dst, ".") {
		p.DestinationType = model.FirewallGroup
	}
	switch {
	case port == "":
	case strings.Trim(port, "0123456789/") == "":
		p.DestPort, p.DestPortType = port, model.FirewallPort
	default:
		p.DestPortGroup, p.DestPortType = port, model.FirewallPortGroup
	}
	return p
}

// nfwWorld is natWorld with the address books the NAT-firewall tests'
// policies use: web-hosts (vsw-d, 10.8.3.0/24) and web-ports (8080,
// 8000-8100).
func nfwWorld(policies ...model.FirewallPolicy) *World {
	w := natWorld()
	w.AddressBooks = []model.AddressBook{
		{ID: "book-hosts", AccountID: "acct-1", Name: "web-hosts", Type: model.AddressBookIP, Addresses: []string{"10.8.3.0/24"}},
		{ID: "book-ports", AccountID: "acct-1", Name: "web-ports", Type: model.AddressBookPort, Addresses: []string{"8080", "8000/8100"}},
	}
	w.NatFirewallPolicies = policies
	return w
}

// TestNatFirewall: the NAT firewall of a gateway judges the new outbound
// connections the gateway translates (SNAT entries and IP mappings) with
// the instance's private source, before the translation: the first
// enabled policy of that gateway that matches decides, none matching
// allows. It does not judge an instance leaving by its own EIP,
// connections from the internet through forward entries, or traffic
// between VPCs.
func TestNatFirewall(t *testing.T) {
	const (
		drop   = model.FirewallDrop
		accept = model.FirewallAccept
		client = "198.51.100.7"
	)
	dropAll := nfwPolicy("nfw-drop-all", "ngw-1", 1, drop, "0.0.0.0/0", "0.0.0.0/0", "ANY", "")
	dropNet := nfwPolicy("nfw-drop-net", "ngw-1", 2, drop, "0.0.0.0/0", "1.2.3.0/24", "ANY", "")
	acceptA1 := nfwPolicy("nfw-accept-a1", "ngw-1", 1, accept, "10.8.1.11/32", "1.2.3.4/32", "TCP", "443")
	books := nfwPolicy("nfw-books", "ngw-1", 1, drop, "web-hosts", "0.0.0.0/0", "TCP", "web-ports")
	disabled := dropAll
	disabled.ID, disabled.Enabled = "nfw-disabled", false
	other := nfwPolicy("nfw-ngw-2", "ngw-2", 1, drop, "0.0.0.0/0", "0.0.0.0/0", "ANY", "")
	foreign := dropAll
	foreign.ID, foreign.AccountID = "nfw-foreign", "acct-2"
	logAll := nfwPolicy("nfw-log", "ngw-1", 1, model.FirewallLog, "10.8.0.0/16", "0.0.0.0/0", "ANY", "")
	rangePol := nfwPolicy("nfw-range", "ngw-1", 1, drop, "10.8.1.0/24", "0.0.0.0/0", "UDP", "50/60")

	q := func(from, to, proto string, port int) ReachQuery {
		return ReachQuery{From: from, To: to, Protocol: proto, Port: port}
	}
	for _, c := range []struct {
		name     string
		policies []model.FirewallPolicy
		q        ReachQuery
		reach    bool
		// step: "" no NAT-firewall step on the path; "default" the
		// default step; else the deciding policy's ID, with action.
		step, action string
		detail       []string
		translated   string
	}{
		{name: "a drop policy denies an outbound SNAT connection", policies: []model.FirewallPolicy{dropNet}, q: q("i-a1", "1.2.3.4", "tcp", 443),
			step: "nfw-drop-net", action: drop,
			detail: []string{"NAT firewall of ngw-1: policy nfw-drop-net (order 2) drops", "from 10.8.1.11 to 1.2.3.4"}},
		{name: "a drop policy for other destinations", policies: []model.FirewallPolicy{dropNet}, q: q("i-a1", "5.6.7.8", "tcp", 443), reach: true,
			step: "default", detail: []string{"no NAT-firewall policy of ngw-1 matches", "allowed"}, translated: "tcp 47.1.0.1:49152 -> 5.6.7.8:443"},
		{name: "an earlier accept wins", policies: []model.FirewallPolicy{dropNet, acceptA1}, q: q("i-a1", "1.2.3.4", "tcp", 443), reach: true,
			step: "nfw-accept-a1", action: accept, detail: []string{"policy nfw-accept-a1 (order 1) accepts"}, translated: "tcp 47.1.0.1:49152 -> 1.2.3.4:443"},
		{name: "the earlier accept is for another port", policies: []model.FirewallPolicy{dropNet, acceptA1}, q: q("i-a1", "1.2.3.4", "tcp", 80),
			step: "nfw-drop-net", action: drop},
		{name: "the earlier accept is for another source", policies: []model.FirewallPolicy{dropNet, acceptA1}, q: q("i-a2", "1.2.3.4", "tcp", 443),
			step: "nfw-drop-net", action: drop, detail: []string{"from 10.8.1.12 to 1.2.3.4"}},
		{name: "address book, port book and protocol match", policies: []model.FirewallPolicy{books}, q: q("i-d1", "5.6.7.8", "tcp", 8080),
			step: "nfw-books", action: drop},
		{name: "a port in a range of the port book", policies: []model.FirewallPolicy{books}, q: q("i-d3", "5.6.7.8", "tcp", 8001),
			step: "nfw-books", action: drop},
		{name: "a port outside the port book", policies: []model.FirewallPolicy{books}, q: q("i-d1", "5.6.7.8", "tcp", 443), reach: true,
			step: "default", translated: "tcp 47.1.0.1:49152 -> 5.6.7.8:443"},
		{name: "another protocol", policies: []model.FirewallPolicy{books}, q: q("i-d1", "5.6.7.8", "udp", 8080), reach: true,
			step: "default", translated: "udp 47.1.0.1:49152 -> 5.6.7.8:8080"},
		{name: "a source outside the address book", policies: []model.FirewallPolicy{books}, q: q("i-a1", "5.6.7.8", "tcp", 8080), reach: true,
			step: "default", translated: "tcp 47.1.0.1:49152 -> 5.6.7.8:8080"},
		{name: "a port range", policies: []model.FirewallPolicy{rangePol}, q: q("i-a1", "5.6.7.8", "udp", 53),
			step: "nfw-range", action: drop},
		{name: "the policies see the private source, not the SNAT IP", policies: []model.FirewallPolicy{
			nfwPolicy("nfw-snat-ip", "ngw-1", 1, drop, "47.1.0.1/32", "0.0.0.0/0", "ANY", "")}, q: q("i-a1", "5.6.7.8", "tcp", 443), reach: true,
			step: "default", translated: "tcp 47.1.0.1:49152 -> 5.6.7.8:443"},
		{name: "log allows", policies: []model.FirewallPolicy{logAll}, q: q("i-a1", "5.6.7.8", "tcp", 443), reach: true,
			step: "nfw-log", action: model.FirewallLog, detail: []string{"logs (allowed and counted)"}, translated: "tcp 47.1.0.1:49152 -> 5.6.7.8:443"},
		{name: "an IP-mapped instance's outbound connection is judged", policies: []model.FirewallPolicy{dropNet}, q: q("i-m1", "1.2.3.4", "tcp", 443),
			step: "nfw-drop-net", action: drop, detail: []string{"from 10.8.1.15 to 1.2.3.4"}},
		{name: "an instance with its own EIP is not judged", policies: []model.FirewallPolicy{dropAll}, q: q("i-e1", "1.2.3.4", "tcp", 443), reach: true},
		{name: "inbound through a forward entry is not judged", policies: []model.FirewallPolicy{dropAll}, q: q(client, "47.1.0.1", "tcp", 80), reach: true,
			translated: "tcp 198.51.100.7:49152 -> 10.8.1.11:8080"},
		{name: "inbound through an IP mapping is not judged", policies: []model.FirewallPolicy{dropAll}, q: q(client, "47.1.0.3", "tcp", 8080), reach: true,
			translated: "tcp 198.51.100.7:49152 -> 10.8.1.15:8080"},
		{name: "traffic between VPCs is not judged", policies: []model.FirewallPolicy{dropAll}, q: q("i-a1", "i-p1", "tcp", 8080), reach: true},
		{name: "a disabled policy is ignored", policies: []model.FirewallPolicy{disabled}, q: q("i-a1", "1.2.3.4", "tcp", 443), reach: true,
			translated: "tcp 47.1.0.1:49152 -> 1.2.3.4:443"},
		{name: "a disabled policy before an enabled one", policies: []model.FirewallPolicy{disabled, dropNet}, q: q("i-a1", "5.6.7.8", "tcp", 443), reach: true,
			step: "default", translated: "tcp 47.1.0.1:49152 -> 5.6.7.8:443"},
		{name: "another gateway's policies do not apply", policies: []model.FirewallPolicy{other}, q: q("i-a1", "1.2.3.4", "tcp", 443), reach: true,
			translated: "tcp 47.1.0.1:49152 -> 1.2.3.4:443"},
		{name: "the other gateway's policies apply to what it translates", policies: []model.FirewallPolicy{other}, q: q("i-a1", "8.8.8.8", "tcp", 443),
			step: "nfw-ngw-2", action: drop, detail: []string{"NAT firewall of ngw-2"}},
		{name: "another account's policy naming the gateway is ignored", policies: []model.FirewallPolicy{foreign}, q: q("i-a1", "1.2.3.4", "tcp", 443), reach: true,
			translated: "tcp 47.1.0.1:49152 -> 1.2.3.4:443"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, err := New(nfwWorld(c.policies...)).Reach(c.q)
			if err != nil {
				t.Fatalf("%+v: %v", c.q, err)
			}
			var b strings.Builder
			if err := WriteReach(&b, r); err != nil {
				t.Fatal(err)
			}
			out := b.String()
			if r.Reachable != c.reach {
				t.Errorf("reachable %v (%s), want %v:\n%s", r.Reachable, r.Verdict, c.reach, out)
			}
			p := r.Paths[0]
			s, has := stepAt(p.Steps, PointNatFirewall)
			switch {
			case c.step == "" && has:
				t.Errorf("a NAT-firewall step: %+v\n%s", s, out)
			case c.step == "":
			case !has:
				t.Errorf("no NAT-firewall step:\n%s", out)
			case c.step == "default":
				if !s.Allow || s.DecidedBy != ByNatFirewallDefault || s.RuleID != "" {
					t.Errorf("step %+v, want the default (allowed)", s)
				}
			default:
				if s.DecidedBy != ByNatFirewallPolicy || s.RuleID != c.step || s.Action != c.action || s.Allow != (c.action != drop) || s.Priority == 0 {
					t.Errorf("step %+v, want policy %s (%s)", s, c.step, c.action)
				}
				if !strings.Contains(out, c.step) {
					t.Errorf("the rendering does not name %s:\n%s", c.step, out)
				}
			}
			if has && !c.reach {
				// The NAT firewall's drop is the verdict: the first step
				// that denies, and nothing is translated.
				if d, _ := firstDeny(p); d.Point != PointNatFirewall {
					t.Errorf("first denying step %s, want %s:\n%s", d.Point, PointNatFirewall, out)
				}
				if _, ok := stepAt(p.Steps, PointNatEntry); ok {
					t.Errorf("a nat-entry step after the NAT firewall's drop:\n%s", out)
				}
			}
			for _, d := range c.detail {
				if !strings.Contains(s.Detail, d) {
					t.Errorf("detail %q lacks %q", s.Detail, d)
				}
			}
			if p.Translated != c.translated {
				t.Errorf("translated %q, want %q", p.Translated, c.translated)
			}
		})
	}
}

// TestNatFirewallStepOrder: on the way out the NAT firewall comes after
// the gateway's step (which picks the entry) and the overlay to the
// gateway's host, before the translation, and the Internet firewall
// judges the translated connection after it.
func TestNatFirewallStepOrder(t *testing.T) {
	w := nfwWorld(nfwPolicy("nfw-accept", "ngw-1", 1, model.FirewallAccept, "10.8.0.0/16", "0.0.0.0/0", "ANY", ""))
	w.Underlays = []model.Underlay{{ZoneID: "za", Addr: ip("192.0.2.1"), Port: 4798}, {ZoneID: "zb", Addr: ip("192.0.2.2"), Port: 4798}}
	w.FirewallPolicies = []model.FirewallPolicy{{ID: "fw-out", AccountID: "acct-1", Direction: model.FirewallOut, Order: 1, Action: model.FirewallAccept,
		Source: "0.0.0.0/0", SourceType: model.FirewallNet, Destination: "0.0.0.0/0", DestinationType: model.FirewallNet, Proto: "ANY", Enabled: true}}
	a := New(w)
	for _, c := range []struct {
		from string
		want []string
	}{
		{"i-a1", []string{PointSGEgress, PointRoute, PointNatGateway, PointNatFirewall, PointNatEntry, PointFirewall}},
		{"i-b1", []string{PointSGEgress, PointRoute, PointHosts, PointNatGateway, PointNatFirewall, PointNatEntry, PointFirewall}},
	} {
		r, err := a.Reach(ReachQuery{From: c.from, To: "1.2.3.4", Protocol: "tcp", Port: 443})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, s := range r.Paths[0].Steps {
			if slices.Contains(c.want, s.Point) {
				got = append(got, s.Point)
			}
		}
		if !r.Reachable || !slices.Equal(got, c.want) {
			t.Errorf("%s: reachable %v, steps %v, want %v", c.from, r.Reachable, got, c.want)
		}
	}
}

// TestNatFirewallRange: to an internet range, the destinations a NAT
// firewall's policies name cut it, so that the dropped part is a path of
// its own; from an internet range (inbound), they do not.
func TestNatFirewallRange(t *testing.T) {
	a := New(nfwWorld(nfwPolicy("nfw-drop-net", "ngw-1", 1, model.FirewallDrop, "0.0.0.0/0", "1.2.3.0/24", "ANY", "")))
	r, err := a.Reach(ReachQuery{From: "i-a1", To: "1.2.0.0/16", Protocol: "tcp", Port: 443})
	if err != nil {
		t.Fatal(err)
	}
	var blocked []string
	for _, p := range r.Paths {
		if !p.Reachable {
			blocked = append(blocked, p.To.Range)
			if s, ok := stepAt(p.Steps, PointNatFirewall); !ok || s.RuleID != "nfw-drop-net" {
				t.Errorf("%s: NAT-firewall step %+v", p.To.Range, s)
			}
		}
	}
	if r.Verdict != "partial" || !slices.Equal(blocked, []string{"1.2.3.0-1.2.3.255"}) {
		t.Errorf("i-a1 to 1.2.0.0/16: %s, blocked %v; want partial, 1.2.3.0/24 blocked", r.Verdict, blocked)
	}
	r, err = a.Reach(ReachQuery{From: "1.2.0.0/16", To: "47.1.0.1", Protocol: "tcp", Port: 80})
	if err != nil {
		t.Fatal(err)
	}
	if r.Verdict != "reachable" || len(r.Paths) != 1 {
		t.Errorf("1.2.0.0/16 to natA:80: %s over %d paths, want reachable over one", r.Verdict, len(r.Paths))
	}
}

// TestNatFirewallDomain: a policy whose destination is a domain matches
// the addresses the server resolved it to, and says so; another address
// is not the domain's.
func TestNatFirewallDomain(t *testing.T) {
	dom := nfwPolicy("nfw-domain", "ngw-1", 1, model.FirewallAccept, "0.0.0.0/0", "api.example.com", "TCP", "443")
	dom.DestinationType, dom.DomainResolveType = model.FirewallDomain, model.FirewallResolveDNS
	rest := nfwPolicy("nfw-rest", "ngw-1", 2, model.FirewallDrop, "0.0.0.0/0", "0.0.0.0/0", "ANY", "")
	w := nfwWorld(dom, rest)
	w.DomainResolutions = []model.DomainResolution{{Domain: "api.example.com", Addrs: []netip.Addr{netip.MustParseAddr("1.2.3.4")}}}
	for _, c := range []struct {
		to    string
		reach bool
		rule  string
	}{
		{"1.2.3.4", true, "nfw-domain"},
		{"1.2.3.5", false, "nfw-rest"},
	} {
		r, err := New(w).Reach(ReachQuery{From: "i-a1", To: c.to, Protocol: "tcp", Port: 443})
		if err != nil {
			t.Fatal(err)
		}
		s, ok := stepAt(r.Paths[0].Steps, PointNatFirewall)
		if r.Reachable != c.reach || !ok || s.RuleID != c.rule {
			t.Errorf("i-a1 -> %s: reachable %v, step %+v; want %v by %s", c.to, r.Reachable, s, c.reach, c.rule)
		}
		if c.rule == "nfw-domain" && !strings.Contains(s.Detail, "destination domain api.example.com, resolved to 1.2.3.4") {
			t.Errorf("the step does not name the domain: %s", s.Detail)
		}
	}
}
