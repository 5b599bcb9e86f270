package policy

import (
	"net/netip"
	"testing"

	"github.com/palisade-project/palisade/internal/model"
)

func TestInternetFirewallDecide(t *testing.T) {
	const acct = "1"
	pol := func(id string, order int, dir, action, src, srcType, dst, dstType, proto, port string) model.FirewallPolicy {
		return model.FirewallPolicy{ID: id, AccountID: acct, Direction: dir, Order: order, Action: action, Source: src, SourceType: srcType,
			Destination: dst, DestinationType: dstType, Proto: proto, DestPort: port, DestPortType: model.FirewallPort, Enabled: true}
	}
	books := []model.AddressBook{
		{AccountID: acct, Name: "office", Type: model.AddressBookIP, Addresses: []string{"203.0.113.0/24", "198.51.100.7"}},
		{AccountID: acct, Name: "web", Type: model.AddressBookPort, Addresses: []string{"80", "443", "8000/8100"}},
		{AccountID: "2", Name: "office", Type: model.AddressBookIP, Addresses: []string{"0.0.0.0/0"}}, // another account's
	}
	webFromOffice := pol("a", 1, model.FirewallIn, model.FirewallAccept, "office", model.FirewallGroup, "0.0.0.0/0", model.FirewallNet, "TCP", "")
	webFromOffice.DestPortType, webFromOffice.DestPortGroup = model.FirewallPortGroup, "web"
	disabled := pol("z", 1, model.FirewallIn, model.FirewallDrop, "0.0.0.0/0", model.FirewallNet, "0.0.0.0/0", model.FirewallNet, "ANY", "")
	disabled.Enabled = false
	policies := []model.FirewallPolicy{
		pol("c", 3, model.FirewallIn, model.FirewallDrop, "0.0.0.0/0", model.FirewallNet, "0.0.0.0/0", model.FirewallNet, "TCP", "0/0"),
		pol("b", 2, model.FirewallIn, model.FirewallLog, "0.0.0.0/0", model.FirewallNet, "198.18.0.5/32", model.FirewallNet, "TCP", "22"),
		webFromOffice, disabled,
		pol("o", 1, model.FirewallOut, model.FirewallDrop, "198.18.0.5", model.FirewallNet, "0.0.0.0/0", model.FirewallNet, "UDP", "53/53"),
		pol("x", 1, model.FirewallOut, model.FirewallDrop, "missing", model.FirewallGroup, "0.0.0.0/0", model.FirewallNet, "ANY", ""), // no such book
		{ID: "other", AccountID: "2", Direction: model.FirewallIn, Order: 1, Action: model.FirewallAccept, Source: "0.0.0.0/0", SourceType: model.FirewallNet,
			Destination: "0.0.0.0/0", DestinationType: model.FirewallNet, Proto: "ANY", Enabled: true},
	}
	fw := CompileInternetFirewall(acct, policies, books, nil)
	if len(fw.In) != 3 || fw.In[0].ID != "a" || fw.In[2].ID != "c" || len(fw.Out) != 1 {
		t.Fatalf("compiled in %+v out %+v", fw.In, fw.Out)
	}
	pkt := func(proto uint8, src, dst string, dport uint16) Packet {
		return Packet{Proto: proto, Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst), SrcPort: 40000, DstPort: dport}
	}
	for _, tc := range []struct {
		name  string
		dir   string
		p     Packet
		rule  string // "" when nothing matches
		allow bool
	}{
		{"office to a web port: accepted first", model.FirewallIn, pkt(IPProtoTCP, "203.0.113.9", "198.18.0.5", 443), "a", true},
		{"office, port range of the book", model.FirewallIn, pkt(IPProtoTCP, "198.51.100.7", "198.18.0.5", 8050), "a", true},
		{"office to ssh: not a web port, then the ssh log rule", model.FirewallIn, pkt(IPProtoTCP, "203.0.113.9", "198.18.0.5", 22), "b", true},
		{"anyone else to ssh of another EIP: dropped", model.FirewallIn, pkt(IPProtoTCP, "192.0.2.1", "198.18.0.6", 22), "c", false},
		{"UDP in: no rule, allowed", model.FirewallIn, pkt(IPProtoUDP, "192.0.2.1", "198.18.0.5", 53), "", true},
		{"DNS out of the EIP: dropped", model.FirewallOut, pkt(IPProtoUDP, "198.18.0.5", "8.8.8.8", 53), "o", false},
		{"DNS out of another EIP: allowed", model.FirewallOut, pkt(IPProtoUDP, "198.18.0.6", "8.8.8.8", 53), "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, ok := fw.Decide(tc.dir, tc.p)
			got := ""
			if ok {
				got = r.ID
			}
			if got != tc.rule || fw.Allows(tc.dir, tc.p) != tc.allow {
				t.Errorf("decided by %q (allow %v), want %q (allow %v)", got, fw.Allows(tc.dir, tc.p), tc.rule, tc.allow)
			}
		})
	}
}
