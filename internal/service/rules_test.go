package service

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/palisade-project/palisade/internal/errs"
	"github.com/palisade-project/palisade/internal/model"
)

func TestParseRule(t *testing.T) {
	tests := []struct {
		name string
		dir  string
		spec RuleSpec
		want model.Rule
		code string // expected error code; "" for success
	}{
		{"tcp defaults", model.Ingress, RuleSpec{IpProtocol: "tcp", PortRange: "22/22", PeerCidr: "10.0.0.0/8"},
			model.Rule{Direction: model.Ingress, Protocol: "TCP", Ports: model.PortRange{From: 22, To: 22},
				PeerCidr: netip.MustParsePrefix("10.0.0.0/8"), Policy: "accept", Priority: 1, NicType: "intranet"}, ""},
		{"single address becomes /32", model.Egress, RuleSpec{IpProtocol: "UDP", PortRange: "1/65535", PeerCidr: "1.2.3.4", Policy: "Drop", Priority: "100"},
			model.Rule{Direction: model.Egress, Protocol: "UDP", Ports: model.PortRange{From: 1, To: 65535},
				PeerCidr: netip.MustParsePrefix("1.2.3.4/32"), Policy: "drop", Priority: 100, NicType: "intranet"}, ""},
		{"icmp default ports", model.Ingress, RuleSpec{IpProtocol: "ICMP", PeerCidr: "0.0.0.0/0"},
			model.Rule{Direction: model.Ingress, Protocol: "ICMP", Ports: model.PortRange{From: -1, To: -1},
				PeerCidr: netip.MustParsePrefix("0.0.0.0/0"), Policy: "accept", Priority: 1, NicType: "intranet"}, ""},
		{"icmpv6 with v6 and local", model.Ingress, RuleSpec{IpProtocol: "icmpv6", PortRange: "-1/-1", PeerCidr6: "::/0", LocalCidr6: "fd00::1"},
			model.Rule{Direction: model.Ingress, Protocol: "ICMPv6", Ports: model.PortRange{From: -1, To: -1},
				PeerCidr: netip.MustParsePrefix("::/0"), LocalCidr: netip.MustParsePrefix("fd00::1/128"), Policy: "accept", Priority: 1, NicType: "intranet"}, ""},
		{"source ports -1/-1 means any", model.Ingress, RuleSpec{IpProtocol: "tcp", PortRange: "80/80", SourcePortRange: "-1/-1", PeerGroupID: "sg-x"},
			model.Rule{Direction: model.Ingress, Protocol: "TCP", Ports: model.PortRange{From: 80, To: 80},
				PeerGroupID: "sg-x", Policy: "accept", Priority: 1, NicType: "intranet"}, ""},
		{"cidr beats group", model.Ingress, RuleSpec{IpProtocol: "all", PeerCidr: "10.0.0.0/8", PeerGroupID: "sg-x"},
			model.Rule{Direction: model.Ingress, Protocol: "ALL", Ports: model.PortRange{From: -1, To: -1},
				PeerCidr: netip.MustParsePrefix("10.0.0.0/8"), Policy: "accept", Priority: 1, NicType: "intranet"}, ""},
		{"tcp needs ports", model.Ingress, RuleSpec{IpProtocol: "tcp", PeerCidr: "10.0.0.0/8"}, model.Rule{}, "MissingParameter"},
		{"gre with ports", model.Ingress, RuleSpec{IpProtocol: "gre", PortRange: "1/1", PeerCidr: "10.0.0.0/8"}, model.Rule{}, "InvalidIpPortRange.Malformed"},
		{"both families", model.Ingress, RuleSpec{IpProtocol: "all", PeerCidr: "10.0.0.0/8", PeerCidr6: "::/0"}, model.Rule{}, "InvalidParameter"},
		{"source equals destination", model.Ingress, RuleSpec{IpProtocol: "tcp", PortRange: "22/22", PeerCidr: "192.168.1.1/32", LocalCidr: "192.168.1.1"}, model.Rule{}, "InvalidParameter"},
		{"source equals destination, egress, v6", model.Egress, RuleSpec{IpProtocol: "all", PeerCidr6: "fd00::/64", LocalCidr6: "fd00::/64"}, model.Rule{}, "InvalidParameter"},
		{"local address differs from peer", model.Ingress, RuleSpec{IpProtocol: "tcp", PortRange: "22/22", PeerCidr: "192.168.1.1/32", LocalCidr: "192.168.1.4"},
			model.Rule{Direction: model.Ingress, Protocol: "TCP", Ports: model.PortRange{From: 22, To: 22},
				PeerCidr: netip.MustParsePrefix("192.168.1.1/32"), LocalCidr: netip.MustParsePrefix("192.168.1.4/32"), Policy: "accept", Priority: 1, NicType: "intranet"}, ""},
		{"local family mismatch", model.Egress, RuleSpec{IpProtocol: "all", PeerCidr: "10.0.0.0/8", LocalCidr6: "fd00::/64"}, model.Rule{}, "InvalidParameter"},
		{"mapped v4", model.Ingress, RuleSpec{IpProtocol: "all", PeerCidr6: "::ffff:10.0.0.0/104"}, model.Rule{}, "InvalidIpv6SourceCidrIp.Malformed"},
		{"egress names", model.Egress, RuleSpec{IpProtocol: "all", PeerCidr: "10.0.0.0/33"}, model.Rule{}, "InvalidDestCidrIp.Malformed"},
		{"long description", model.Ingress, RuleSpec{IpProtocol: "all", PeerCidr: "10.0.0.0/8", Description: strings.Repeat("x", 513)}, model.Rule{}, "InvalidParameter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRule(tt.dir, tt.spec)
			if tt.code != "" {
				if !errs.HasCode(err, tt.code) {
					t.Fatalf("error %v, want code %s", err, tt.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// FuzzParseRule checks that ParseRule never panics, that every error is a
// coded API error, and that an accepted rule is self-consistent and
// survives a round trip through its API form.
func FuzzParseRule(f *testing.F) {
	f.Add("ingress", "tcp", "22/22", "", "10.0.0.0/8", "", "", "accept", "1")
	f.Add("egress", "ICMPv6", "-1/-1", "", "", "::/0", "fd00::1", "drop", "100")
	f.Add("ingress", "udp", "1/65535", "1024/2048", "1.2.3.4", "", "", "", "")
	f.Add("egress", "all", "-1/-1", "-1/-1", "0.0.0.0/0", "", "10.0.0.0/24", "Accept", "50")
	f.Fuzz(func(t *testing.T, dir, proto, ports, sports, peer, peer6, local, policy, prio string) {
		if dir != model.Ingress {
			dir = model.Egress
		}
		spec := RuleSpec{IpProtocol: proto, PortRange: ports, SourcePortRange: sports, PeerCidr: peer,
			PeerCidr6: peer6, LocalCidr: local, Policy: policy, Priority: prio}
		r, err := ParseRule(dir, spec)
		if err != nil {
			if _, ok := errs.As(err); !ok {
				t.Fatalf("uncoded error %T: %v", err, err)
			}
			return
		}
		if r.Priority < 1 || r.Priority > 100 {
			t.Fatalf("priority %d accepted", r.Priority)
		}
		if HasPorts(r.Protocol) {
			if r.Ports.From < 1 || r.Ports.To > 65535 || r.Ports.From > r.Ports.To {
				t.Fatalf("port range %+v accepted for %s", r.Ports, r.Protocol)
			}
		} else if r.Ports != (model.PortRange{From: -1, To: -1}) || !r.SourcePorts.IsZero() {
			t.Fatalf("ports %+v/%+v accepted for %s", r.Ports, r.SourcePorts, r.Protocol)
		}
		if !r.PeerCidr.IsValid() {
			t.Fatalf("accepted a rule without a CIDR peer from %+v", spec)
		}
		again, err := ParseRule(dir, RuleToSpec(r))
		if err != nil {
			t.Fatalf("round trip of %+v: %v", r, err)
		}
		if !sameRule(again, r) {
			t.Fatalf("round trip changed the rule:\n%+v\n%+v", r, again)
		}
	})
}
