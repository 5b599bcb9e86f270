package service

import (
	"net/netip"
	"testing"

	"github.com/palisade-project/palisade/internal/errs"
	"github.com/palisade-project/palisade/internal/model"
)

func TestParseACLEntry(t *testing.T) {
	tests := []struct {
		name string
		dir  string
		spec ACLEntrySpec
		code string // "" = valid
		want model.ACLEntry
	}{
		{"tcp range", model.Ingress, ACLEntrySpec{Protocol: "TCP", Port: "80/443", Cidr: "10.0.0.0/8"}, "",
			model.ACLEntry{Policy: "accept", Protocol: "tcp", Ports: model.PortRange{From: 80, To: 443}, Cidr: netip.MustParsePrefix("10.0.0.0/8")}},
		{"icmp default port", model.Egress, ACLEntrySpec{Protocol: "icmp", Cidr: "0.0.0.0/0", Policy: "Drop"}, "",
			model.ACLEntry{Policy: "drop", Protocol: "icmp", Ports: model.PortRange{From: -1, To: -1}, Cidr: netip.MustParsePrefix("0.0.0.0/0")}},
		{"ipv6", model.Ingress, ACLEntrySpec{Protocol: "udp", Port: "53/53", Cidr: "fd00::/8", IPVersion: "IPv6"}, "",
			model.ACLEntry{Policy: "accept", Protocol: "udp", Ports: model.PortRange{From: 53, To: 53}, Cidr: netip.MustParsePrefix("fd00::/8")}},
		{"gre with port", model.Ingress, ACLEntrySpec{Protocol: "gre", Port: "1/1", Cidr: "10.0.0.0/8"}, "IllegalParam.Port", model.ACLEntry{}},
		{"udp zero port", model.Ingress, ACLEntrySpec{Protocol: "udp", Port: "0/10", Cidr: "10.0.0.0/8"}, "IllegalParam.Port", model.ACLEntry{}},
		{"no protocol", model.Ingress, ACLEntrySpec{Cidr: "10.0.0.0/8"}, "MissingParameter", model.ACLEntry{}},
		{"entry type", model.Ingress, ACLEntrySpec{Protocol: "all", Cidr: "10.0.0.0/8", EntryType: "system"}, "IllegalParam.EntryType", model.ACLEntry{}},
		{"cidr not masked", model.Egress, ACLEntrySpec{Protocol: "all", Cidr: "10.0.0.1/24"}, "IllegalParam.CidrIp", model.ACLEntry{}},
		{"bare address", model.Egress, ACLEntrySpec{Protocol: "all", Cidr: "10.0.0.1"}, "IllegalParam.CidrIp", model.ACLEntry{}},
		{"bad version", model.Egress, ACLEntrySpec{Protocol: "all", Cidr: "10.0.0.0/8", IPVersion: "IPv5"}, "IllegalParam.IpVersion", model.ACLEntry{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseACLEntry(tc.dir, "IngressAclEntries.1", tc.spec)
			if tc.code != "" {
				if !errs.HasCode(err, tc.code) {
					t.Fatalf("got %v, want code %s", err, tc.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got.ID, got.EntryType = "", ""
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func FuzzParseACLEntry(f *testing.F) {
	f.Add("tcp", "80/80", "10.0.0.0/8", "accept", "")
	f.Add("all", "-1/-1", "::/0", "drop", "IPv6")
	f.Add("icmp", "", "0.0.0.0/0", "", "ipv4")
	f.Fuzz(func(t *testing.T, proto, port, cidr, policy, version string) {
		e, err := ParseACLEntry(model.Ingress, "IngressAclEntries.1",
			ACLEntrySpec{Protocol: proto, Port: port, Cidr: cidr, Policy: policy, IPVersion: version})
		if err != nil {
			if _, ok := errs.As(err); !ok {
				t.Fatalf("uncoded error %T: %v", err, err)
			}
			return
		}
		hasPorts := e.Protocol == model.ACLProtoTCP || e.Protocol == model.ACLProtoUDP
		if hasPorts && (e.Ports.From < 1 || e.Ports.To > 65535 || e.Ports.From > e.Ports.To) {
			t.Fatalf("port range %+v accepted for %s", e.Ports, e.Protocol)
		}
		if !hasPorts && e.Ports != (model.PortRange{From: -1, To: -1}) {
			t.Fatalf("ports %+v accepted for %s", e.Ports, e.Protocol)
		}
		if !e.Cidr.IsValid() || e.Cidr.Masked() != e.Cidr {
			t.Fatalf("CIDR %v accepted", e.Cidr)
		}
		if e.Policy != model.PolicyAccept && e.Policy != model.PolicyDrop {
			t.Fatalf("policy %q accepted", e.Policy)
		}
	})
}
