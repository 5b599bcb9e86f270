package policy

import (
	"net/netip"
	"testing"

	"github.com/palisade-project/palisade/internal/model"
)

func TestSelectMirrorSession(t *testing.T) {
	all := model.PortRange{From: -1, To: -1}
	rule := func(id string, prio int, action, proto string, src, dst string, sp, dp model.PortRange) model.MirrorRule {
		r := model.MirrorRule{ID: id, Priority: prio, Action: action, Protocol: proto, SourcePorts: sp, DestinationPorts: dp}
		if src != "" {
			r.SourceCidr = netip.MustParsePrefix(src)
		}
		if dst != "" {
			r.DestinationCidr = netip.MustParsePrefix(dst)
		}
		return r
	}
	web := model.PortRange{From: 80, To: 443}
	// Given out of order: NewMirrorSessions sorts sessions and rules.
	sessions := NewMirrorSessions([]MirrorSession{
		{ID: "tms-late", Priority: 20, Egress: []model.MirrorRule{
			rule("r1", 1, model.PolicyAccept, model.ProtoALL, "", "", all, all),
		}},
		{ID: "tms-first", Priority: 5,
			Egress: []model.MirrorRule{
				rule("r3", 3, model.PolicyAccept, model.ProtoTCP, "", "10.0.0.0/8", all, web),
				rule("r1", 1, model.PolicyDrop, model.ProtoTCP, "", "10.9.0.0/16", all, all),
				rule("r2", 2, model.PolicyAccept, model.ProtoICMP, "", "", all, all),
			},
			Ingress: []model.MirrorRule{
				rule("r1", 1, model.PolicyAccept, model.ProtoUDP, "192.168.0.0/16", "", model.PortRange{From: 53, To: 53}, all),
				rule("r2", 2, model.PolicyAccept, model.ProtoALL, "2001:db8::/32", "", all, all),
			}},
	})
	if sessions[0].ID != "tms-first" || sessions[0].Egress[0].ID != "r1" {
		t.Fatalf("not sorted: %+v", sessions)
	}
	pkt := func(proto uint8, src, dst string, sp, dp uint16) Packet {
		return Packet{Proto: proto, Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst), SrcPort: sp, DstPort: dp}
	}
	for _, tc := range []struct {
		name string
		dir  Direction
		p    Packet
		want string // session ID, "" for not mirrored
	}{
		{"first session, web port", Egress, pkt(IPProtoTCP, "10.1.0.5", "10.2.0.7", 40000, 443), "tms-first"},
		{"first session drops 10.9/16: the next session mirrors it", Egress, pkt(IPProtoTCP, "10.1.0.5", "10.9.1.1", 40000, 443), "tms-late"},
		{"port outside the range falls through to the next session", Egress, pkt(IPProtoTCP, "10.1.0.5", "10.2.0.7", 40000, 8080), "tms-late"},
		{"ICMP", Egress, pkt(IPProtoICMP, "10.1.0.5", "8.8.8.8", 0, 0), "tms-first"},
		{"ICMPv6 is ICMP", Egress, pkt(IPProtoICMPv6, "2001:db8::1", "2001:db8::2", 0, 0), "tms-first"},
		{"ingress DNS from 192.168/16", Ingress, pkt(IPProtoUDP, "192.168.3.3", "10.1.0.5", 53, 40000), "tms-first"},
		{"ingress DNS, other source port: no rule matches", Ingress, pkt(IPProtoUDP, "192.168.3.3", "10.1.0.5", 54, 40000), ""},
		{"ingress IPv6 by prefix", Ingress, pkt(IPProtoTCP, "2001:db8::9", "2001:db8::1", 1, 2), "tms-first"},
		{"IPv4 never matches an IPv6 prefix", Ingress, pkt(IPProtoTCP, "10.0.0.1", "10.1.0.5", 1, 2), ""},
		{"GRE matches ALL only", Egress, pkt(IPProtoGRE, "10.1.0.5", "10.2.0.7", 0, 0), "tms-late"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ""
			if i := SelectMirrorSession(sessions, tc.dir, tc.p); i >= 0 {
				got = sessions[i].ID
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
	if SelectMirrorSession(nil, Egress, pkt(IPProtoTCP, "10.0.0.1", "10.0.0.2", 1, 2)) != -1 {
		t.Error("no session mirrored a packet")
	}
}
