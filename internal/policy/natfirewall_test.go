package policy

import (
	"net/netip"
	"testing"

	"github.com/palisade-project/palisade/internal/model"
)

// TestNatFirewallDecide: a gateway's NAT firewall holds its own enabled
// policies of its account in order (address books of that account), and
// judges by the private source and the internet destination.
func TestNatFirewallDecide(t *testing.T) {
	const acct, gw = "1", "ngw-1"
	pol := func(id string, order int, action, src, srcType, dst, proto, port string) model.FirewallPolicy {
		return model.FirewallPolicy{ID: id, AccountID: acct, NatGatewayID: gw, Direction: model.FirewallOut, Order: order, Action: action,
			Source: src, SourceType: srcType, Destination: dst, DestinationType: model.FirewallNet, Proto: proto, DestPort: port,
			DestPortType: model.FirewallPort, Enabled: true}
	}
	books := []model.AddressBook{
		{AccountID: acct, Name: "web", Type: model.AddressBookIP, Addresses: []string{"10.0.1.0/24"}},
		{AccountID: "2", Name: "web", Type: model.AddressBookIP, Addresses: []string{"0.0.0.0/0"}},
	}
	disabled := pol("off", 1, model.FirewallDrop, "0.0.0.0/0", model.FirewallNet, "0.0.0.0/0", "ANY", "")
	disabled.Enabled = false
	foreign := pol("foreign", 1, model.FirewallDrop, "0.0.0.0/0", model.FirewallNet, "0.0.0.0/0", "ANY", "")
	foreign.AccountID = "2"
	other := pol("other", 1, model.FirewallDrop, "0.0.0.0/0", model.FirewallNet, "0.0.0.0/0", "ANY", "")
	other.NatGatewayID = "ngw-2"
	policies := []model.FirewallPolicy{
		pol("p3", 4, model.FirewallDrop, "web", model.FirewallGroup, "0.0.0.0/0", "ANY", ""),
		pol("p1", 2, model.FirewallAccept, "web", model.FirewallGroup, "203.0.113.0/24", "TCP", "443/443"),
		pol("p2", 3, model.FirewallLog, "10.0.2.0/24", model.FirewallNet, "0.0.0.0/0", "UDP", "53/53"),
		disabled, foreign, other,
		// An Internet-firewall policy of the account: not the gateway's.
		{ID: "inet", AccountID: acct, Direction: model.FirewallOut, Order: 1, Action: model.FirewallDrop, Source: "0.0.0.0/0", Destination: "0.0.0.0/0", Proto: "ANY", Enabled: true},
	}
	c := CompileNatFirewall(acct, gw, policies, books, nil)
	if len(c.Rules) != 3 || c.Rules[0].ID != "p1" || c.Rules[1].ID != "p2" || c.Rules[2].ID != "p3" {
		t.Fatalf("compiled %+v", c.Rules)
	}
	pkt := func(proto uint8, src, dst string, dport uint16) Packet {
		return Packet{Proto: proto, Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst), SrcPort: 40000, DstPort: dport}
	}
	for _, tc := range []struct {
		name  string
		p     Packet
		rule  string
		allow bool
	}{
		{"web to the API over HTTPS: accepted first", pkt(IPProtoTCP, "10.0.1.5", "203.0.113.7", 443), "p1", true},
		{"web elsewhere: dropped", pkt(IPProtoTCP, "10.0.1.5", "198.51.100.1", 443), "p3", false},
		{"web to the API over HTTP: dropped", pkt(IPProtoTCP, "10.0.1.5", "203.0.113.7", 80), "p3", false},
		{"app DNS: logged (allowed)", pkt(IPProtoUDP, "10.0.2.5", "198.51.100.53", 53), "p2", true},
		{"app TCP: no policy, allowed", pkt(IPProtoTCP, "10.0.2.5", "198.51.100.53", 53), "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, ok := c.Decide(tc.p)
			got := ""
			if ok {
				got = r.ID
			}
			if got != tc.rule || c.Allows(tc.p) != tc.allow {
				t.Fatalf("rule %q allow %v, want %q %v", got, c.Allows(tc.p), tc.rule, tc.allow)
			}
		})
	}
}

// TestFirewallDomains: a domain destination matches the addresses of its
// resolution, and nothing while it has none.
func TestFirewallDomains(t *testing.T) {
	pol := func(id string, order int, action, dst string) model.FirewallPolicy {
		return model.FirewallPolicy{ID: id, AccountID: "1", NatGatewayID: "ngw-1", Order: order, Action: action, Source: "0.0.0.0/0",
			SourceType: model.FirewallNet, Destination: dst, DestinationType: model.FirewallDomain, DomainResolveType: model.FirewallResolveDNS,
			Proto: "TCP", DestPort: "443/443", DestPortType: model.FirewallPort, Enabled: true}
	}
	policies := []model.FirewallPolicy{pol("api", 1, model.FirewallAccept, "api.example.com"), pol("new", 2, model.FirewallAccept, "new.example.com")}
	policies = append(policies, model.FirewallPolicy{ID: "rest", AccountID: "1", NatGatewayID: "ngw-1", Order: 3, Action: model.FirewallDrop,
		Source: "0.0.0.0/0", SourceType: model.FirewallNet, Destination: "0.0.0.0/0", DestinationType: model.FirewallNet, Proto: "ANY", Enabled: true})
	domains := DomainsOf([]model.DomainResolution{
		{Domain: "api.example.com", Addrs: []netip.Addr{netip.MustParseAddr("203.0.113.7"), netip.MustParseAddr("2001:db8::7"), netip.MustParseAddr("203.0.113.8")}},
	})
	c := CompileNatFirewall("1", "ngw-1", policies, nil, domains)
	if len(c.Rules) != 3 || c.Rules[0].Domain != "api.example.com" || len(c.Rules[0].Dst) != 2 || len(c.Rules[1].Dst) != 0 {
		t.Fatalf("compiled %+v", c.Rules)
	}
	for _, tc := range []struct {
		dst  string
		port uint16
		rule string
	}{
		{"203.0.113.7", 443, "api"},
		{"203.0.113.8", 443, "api"},
		{"203.0.113.7", 80, "rest"},
		{"203.0.113.9", 443, "rest"}, // new.example.com is not resolved: its policy matches nothing
	} {
		r, ok := c.Decide(Packet{Proto: IPProtoTCP, Src: netip.MustParseAddr("10.0.1.5"), Dst: netip.MustParseAddr(tc.dst), SrcPort: 40000, DstPort: tc.port})
		if !ok || r.ID != tc.rule {
			t.Errorf("%s:%d decided by %q (%v), want %s", tc.dst, tc.port, r.ID, ok, tc.rule)
		}
	}
}
