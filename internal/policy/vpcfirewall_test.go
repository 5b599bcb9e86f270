package policy

import (
	"net/netip"
	"testing"

	"github.com/palisade-project/palisade/internal/model"
)

func TestVpcFirewallDecide(t *testing.T) {
	const acct = "1"
	fw := model.VpcFirewall{ID: "vfw-1", AccountID: acct, PeerConnectionID: "pcc-1", Enabled: true}
	pol := func(id string, order int, action, src, srcType, dst, proto, port string) model.FirewallPolicy {
		return model.FirewallPolicy{ID: id, AccountID: acct, VpcFirewallID: fw.ID, Order: order, Action: action, Source: src, SourceType: srcType,
			Destination: dst, DestinationType: model.FirewallNet, Proto: proto, DestPort: port, DestPortType: model.FirewallPort, Enabled: true}
	}
	books := []model.AddressBook{
		{AccountID: acct, Name: "app", Type: model.AddressBookIP, Addresses: []string{"10.1.0.0/24"}},
		{AccountID: "2", Name: "app", Type: model.AddressBookIP, Addresses: []string{"0.0.0.0/0"}},
	}
	policies := []model.FirewallPolicy{
		pol("p3", 3, model.FirewallDrop, "0.0.0.0/0", model.FirewallNet, "0.0.0.0/0", "TCP", "22/22"),
		pol("p1", 1, model.FirewallLog, "app", model.FirewallGroup, "10.2.0.0/16", "TCP", "22/22"),
		pol("p2", 2, model.FirewallDrop, "0.0.0.0/0", model.FirewallNet, "10.2.0.9/32", "UDP", ""),
		// Another firewall's policy and an Internet-firewall policy: not this firewall's.
		{ID: "other", AccountID: acct, VpcFirewallID: "vfw-2", Order: 1, Action: model.FirewallDrop, Source: "0.0.0.0/0", Destination: "0.0.0.0/0", Proto: "ANY", Enabled: true},
		{ID: "inet", AccountID: acct, Direction: model.FirewallIn, Order: 1, Action: model.FirewallDrop, Source: "0.0.0.0/0", Destination: "0.0.0.0/0", Proto: "ANY", Enabled: true},
	}
	c := CompileVpcFirewall(fw, policies, books)
	if len(c.Rules) != 3 || c.Rules[0].ID != "p1" || c.Rules[2].ID != "p3" {
		t.Fatalf("compiled %+v", c.Rules)
	}
	pkt := func(proto uint8, src, dst string, dport uint16) Packet {
		return Packet{Proto: proto, Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst), SrcPort: 40000, DstPort: dport}
	}
	for _, tc := range []struct {
		name  string
		off   bool
		p     Packet
		rule  string
		allow bool
	}{
		{"book source to ssh: logged (allowed) before the drop", false, pkt(IPProtoTCP, "10.1.0.5", "10.2.0.9", 22), "p1", true},
		{"other source to ssh: dropped", false, pkt(IPProtoTCP, "10.1.1.5", "10.2.0.9", 22), "p3", false},
		{"reverse direction to ssh: dropped", false, pkt(IPProtoTCP, "10.2.0.9", "10.1.0.5", 22), "p3", false},
		{"UDP to the host: dropped", false, pkt(IPProtoUDP, "10.1.0.5", "10.2.0.9", 53), "p2", false},
		{"TCP 80: no policy, allowed", false, pkt(IPProtoTCP, "10.1.0.5", "10.2.0.9", 80), "", true},
		{"firewall off: nothing judged", true, pkt(IPProtoTCP, "10.1.1.5", "10.2.0.9", 22), "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := c
			f.Enabled = !tc.off
			r, ok := f.Decide(tc.p)
			got := ""
			if ok {
				got = r.ID
			}
			if got != tc.rule || f.Allows(tc.p) != tc.allow {
				t.Fatalf("rule %q allow %v, want %q %v", got, f.Allows(tc.p), tc.rule, tc.allow)
			}
		})
	}
}
