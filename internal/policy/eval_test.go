package policy

import (
	"net/netip"
	"testing"

	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/policy/policytest"
)

// Terse constructors, from policytest (shared with the netlink loader's tests).
func rl(id, dir, proto, ports, peer, pol string, prio int) model.Rule {
	return policytest.Rule(id, dir, proto, ports, peer, pol, prio)
}
func portRange(s string) model.PortRange                 { return policytest.PortRange(s) }
func withSrcPorts(r model.Rule, ports string) model.Rule { return policytest.WithSrcPorts(r, ports) }
func withLocal(r model.Rule, cidr string) model.Rule     { return policytest.WithLocal(r, cidr) }
func group(id, typ, inner string, rules ...model.Rule) model.SecurityGroup {
	return policytest.Group(id, typ, inner, rules...)
}
func eni(id, vpc string, groups []string, addrs ...string) model.ENI {
	return policytest.ENI(id, vpc, groups, addrs...)
}

func pkt(proto uint8, src, dst string, sport, dport uint16) Packet {
	return Packet{Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst), Proto: proto, SrcPort: sport, DstPort: dport}
}

const (
	basic    = model.GroupTypeBasic
	advanced = model.GroupTypeAdvanced
	in       = model.Ingress
	out      = model.Egress
	acc      = model.PolicyAccept
	drp      = model.PolicyDrop
)

func TestEvaluateENI(t *testing.T) {
	// eni-a 10.0.0.1 (+10.0.0.11, fd00::1) is the ENI under test unless a case
	// says otherwise; eni-b 10.0.0.2 and eni-c 10.0.0.3 are peers in vpc-1;
	// eni-z 10.0.0.7 lives in vpc-2 but is a member of sg-db.
	type tc struct {
		name   string
		groups []model.SecurityGroup
		aGroup []string // groups of eni-a; default sg-a
		bGroup []string // groups of eni-b; default sg-b
		eni    string   // default eni-a
		dir    string
		pkt    Packet
		allow  bool
		kind   ReasonKind
		rule   string // expected rule ID or group ID (intra-group, unknown group)
	}
	tcpIn := func(src string, dport uint16) Packet { return pkt(IPProtoTCP, src, "10.0.0.1", 40000, dport) }
	cases := []tc{
		{name: "priority ascending: drop at 1 beats accept at 2", dir: in, pkt: tcpIn("10.0.0.9", 22),
			groups: []model.SecurityGroup{group("sg-a", basic, "Accept",
				rl("r-acc", in, "TCP", "22/22", "0.0.0.0/0", acc, 2),
				rl("r-drop", in, "TCP", "22/22", "10.0.0.0/8", drp, 1))},
			allow: false, kind: ReasonRule, rule: "r-drop"},
		{name: "priority ascending: accept at 1 beats drop at 2", dir: in, pkt: tcpIn("10.0.0.9", 22),
			groups: []model.SecurityGroup{group("sg-a", basic, "Accept",
				rl("r-drop", in, "TCP", "22/22", "10.0.0.0/8", drp, 2),
				rl("r-acc", in, "TCP", "22/22", "0.0.0.0/0", acc, 1))},
			allow: true, kind: ReasonRule, rule: "r-acc"},
		{name: "equal priority: drop before accept even listed later", dir: in, pkt: tcpIn("10.0.0.9", 22),
			groups: []model.SecurityGroup{group("sg-a", basic, "Accept",
				rl("r-acc", in, "TCP", "22/22", "0.0.0.0/0", acc, 5),
				rl("r-drop", in, "TCP", "22/22", "0.0.0.0/0", drp, 5))},
			allow: false, kind: ReasonRule, rule: "r-drop"},
		{name: "pooled across groups: drop of second group wins the tie", dir: in, pkt: tcpIn("10.0.0.9", 22),
			aGroup: []string{"sg-a", "sg-a2"},
			groups: []model.SecurityGroup{
				group("sg-a", basic, "Accept", rl("r-acc", in, "TCP", "22/22", "0.0.0.0/0", acc, 5)),
				group("sg-a2", basic, "Accept", rl("r-drop", in, "TCP", "22/22", "0.0.0.0/0", drp, 5))},
			allow: false, kind: ReasonRule, rule: "r-drop"},
		{name: "equal class: trace names the first group on the ENI", dir: in, pkt: tcpIn("10.0.0.9", 22),
			aGroup: []string{"sg-a2", "sg-a"},
			groups: []model.SecurityGroup{
				group("sg-a", basic, "Accept", rl("r-1", in, "TCP", "22/22", "0.0.0.0/0", acc, 5)),
				group("sg-a2", basic, "Accept", rl("r-2", in, "TCP", "22/22", "0.0.0.0/0", acc, 5))},
			allow: true, kind: ReasonRule, rule: "r-2"},
		{name: "intra-group accept beats a drop rule", dir: in, pkt: tcpIn("10.0.0.2", 22),
			aGroup: []string{"sg-web"}, bGroup: []string{"sg-web"},
			groups: []model.SecurityGroup{group("sg-web", basic, "Accept", rl("r-drop", in, "ALL", "", "0.0.0.0/0", drp, 1))},
			allow:  true, kind: ReasonIntraGroup, rule: "sg-web"},
		{name: "intra-group applies to egress too", dir: out, pkt: pkt(IPProtoUDP, "10.0.0.1", "10.0.0.2", 5, 53),
			aGroup: []string{"sg-web"}, bGroup: []string{"sg-web"},
			groups: []model.SecurityGroup{group("sg-web", basic, "Accept", rl("r-drop", out, "ALL", "", "0.0.0.0/0", drp, 1))},
			allow:  true, kind: ReasonIntraGroup, rule: "sg-web"},
		{name: "intra-group Drop: members isolated", dir: in, pkt: tcpIn("10.0.0.2", 22),
			aGroup: []string{"sg-web"}, bGroup: []string{"sg-web"},
			groups: []model.SecurityGroup{group("sg-web", basic, "Drop")},
			allow:  false, kind: ReasonDefault},
		{name: "intra-group needs the peer in the same group", dir: in, pkt: tcpIn("10.0.0.2", 22),
			aGroup: []string{"sg-web"}, bGroup: []string{"sg-b"},
			groups: []model.SecurityGroup{group("sg-web", basic, "Accept"), group("sg-b", basic, "Accept")},
			allow:  false, kind: ReasonDefault},
		{name: "intra-group via a second group of the ENI", dir: in, pkt: tcpIn("10.0.0.2", 22),
			aGroup: []string{"sg-a", "sg-web"}, bGroup: []string{"sg-web"},
			groups: []model.SecurityGroup{group("sg-a", basic, "Drop"), group("sg-web", basic, "Accept")},
			allow:  true, kind: ReasonIntraGroup, rule: "sg-web"},
		{name: "advanced group: no intra-group access", dir: in, pkt: tcpIn("10.0.0.2", 22),
			aGroup: []string{"sg-adv"}, bGroup: []string{"sg-adv"},
			groups: []model.SecurityGroup{group("sg-adv", advanced, "Accept")},
			allow:  false, kind: ReasonDefault},
		{name: "basic default: ingress denied", dir: in, pkt: tcpIn("10.0.0.9", 22),
			groups: []model.SecurityGroup{group("sg-a", basic, "Accept")}, allow: false, kind: ReasonDefault},
		{name: "basic default: egress allowed", dir: out, pkt: pkt(IPProtoTCP, "10.0.0.1", "1.1.1.1", 40000, 443),
			groups: []model.SecurityGroup{group("sg-a", basic, "Accept")}, allow: true, kind: ReasonDefault},
		{name: "advanced default: ingress denied", dir: in, pkt: tcpIn("10.0.0.9", 22),
			aGroup: []string{"sg-adv"}, groups: []model.SecurityGroup{group("sg-adv", advanced, "Drop")}, allow: false, kind: ReasonDefault},
		{name: "advanced default: egress denied", dir: out, pkt: pkt(IPProtoTCP, "10.0.0.1", "1.1.1.1", 40000, 443),
			aGroup: []string{"sg-adv"}, groups: []model.SecurityGroup{group("sg-adv", advanced, "Drop")}, allow: false, kind: ReasonDefault},
		{name: "advanced egress accept rule", dir: out, pkt: pkt(IPProtoTCP, "10.0.0.1", "1.1.1.1", 40000, 443),
			aGroup: []string{"sg-adv"}, groups: []model.SecurityGroup{group("sg-adv", advanced, "Drop",
				rl("r-out", out, "TCP", "443/443", "0.0.0.0/0", acc, 1))}, allow: true, kind: ReasonRule, rule: "r-out"},
		{name: "basic egress drop rule", dir: out, pkt: pkt(IPProtoUDP, "10.0.0.1", "8.8.8.8", 40000, 53),
			groups: []model.SecurityGroup{group("sg-a", basic, "Accept", rl("r-dns", out, "UDP", "53/53", "8.8.8.8/32", drp, 1))},
			allow:  false, kind: ReasonRule, rule: "r-dns"},
		{name: "group reference: member allowed", dir: in, pkt: tcpIn("10.0.0.3", 5432),
			groups: []model.SecurityGroup{group("sg-a", basic, "Accept", rl("r-db", in, "TCP", "5432/5432", "sg-db", acc, 1)), group("sg-db", basic, "Accept")},
			allow:  true, kind: ReasonRule, rule: "r-db"},
		{name: "group reference: member's IPv6 allowed", dir: in, pkt: pkt(IPProtoTCP, "fd00::3", "fd00::1", 40000, 5432),
			groups: []model.SecurityGroup{group("sg-a", basic, "Accept", rl("r-db", in, "TCP", "5432/5432", "sg-db", acc, 1)), group("sg-db", basic, "Accept")},
			allow:  true, kind: ReasonRule, rule: "r-db"},
		{name: "group reference: non-member denied", dir: in, pkt: tcpIn("10.0.0.9", 5432),
			groups: []model.SecurityGroup{group("sg-a", basic, "Accept", rl("r-db", in, "TCP", "5432/5432", "sg-db", acc, 1)), group("sg-db", basic, "Accept")},
			allow:  false, kind: ReasonDefault},
		{name: "group reference: member in another VPC does not count", dir: in, pkt: tcpIn("10.0.0.7", 5432),
			groups: []model.SecurityGroup{group("sg-a", basic, "Accept", rl("r-db", in, "TCP", "5432/5432", "sg-db", acc, 1)), group("sg-db", basic, "Accept")},
			allow:  false, kind: ReasonDefault},
		{name: "group reference: unknown group matches nobody", dir: in, pkt: tcpIn("10.0.0.3", 5432),
			groups: []model.SecurityGroup{group("sg-a", basic, "Accept", rl("r-x", in, "TCP", "5432/5432", "sg-gone", acc, 1)), group("sg-db", basic, "Accept")},
			allow:  false, kind: ReasonDefault},
		{name: "port range: below", dir: in, pkt: tcpIn("10.0.0.9", 7999),
			groups: []model.SecurityGroup{group("sg-a", basic, "Accept", rl("r-p", in, "TCP", "8000/8080", "0.0.0.0/0", acc, 1))}, allow: false, kind: ReasonDefault},
		{name: "port range: first", dir: in, pkt: tcpIn("10.0.0.9", 8000),
			groups: []model.SecurityGroup{group("sg-a", basic, "Accept", rl("r-p", in, "TCP", "8000/8080", "0.0.0.0/0", acc, 1))}, allow: true, kind: ReasonRule, rule: "r-p"},
		{name: "port range: last", dir: in, pkt: tcpIn("10.0.0.9", 8080),
			groups: []model.SecurityGroup{group("sg-a", basic, "Accept", rl("r-p", in, "TCP", "8000/8080", "0.0.0.0/0", acc, 1))}, allow: true, kind: ReasonRule, rule: "r-p"},
		{name: "port range: above", dir: in, pkt: tcpIn("10.0.0.9", 8081),
			groups: []model.SecurityGroup{group("sg-a", basic, "Accept", rl("r-p", in, "TCP", "8000/8080", "0.0.0.0/0", acc, 1))}, allow: false, kind: ReasonDefault},
		{name: "TCP rule does not match UDP", dir: in, pkt: pkt(IPProtoUDP, "10.0.0.9", "10.0.0.1", 1, 8000),
			groups: []model.SecurityGroup{group("sg-a", basic, "Accept", rl("r-p", in, "TCP", "8000/8080", "0.0.0.0/0", acc, 1))}, allow: false, kind: ReasonDefault},
		{name: "protocol is case-insensitive", dir: in, pkt: pkt(IPProtoUDP, "10.0.0.9", "10.0.0.1", 1, 53),
			groups: []model.SecurityGroup{group("sg-a", basic, "Accept", rl("r-u", in, "udp", "53/53", "0.0.0.0/0", acc, 1))}, allow: true, kind: ReasonRule, rule: "r-u"},
		{name: "source ports: outside", dir: in, pkt: pkt(IPProtoTCP, "10.0.0.9", "10.0.0.1", 80, 22),
			groups: []model.SecurityGroup{group("sg-a", basic, "Accept", withSrcPorts(rl("r-s", in, "TCP", "22/22", "0.0.0.0/0", acc, 1), "1024/65535"))},
			allow:  false, kind: ReasonDefault},
		{name: "source ports: inside", dir: in, pkt: pkt(IPProtoTCP, "10.0.0.9", "10.0.0.1", 1024, 22),
			groups: []model.SecurityGroup{group("sg-a", basic, "Accept", withSrcPorts(rl("r-s", in, "TCP", "22/22", "0.0.0.0/0", acc, 1), "1024/65535"))},
			allow:  true, kind: ReasonRule, rule: "r-s"},
		{name: "IPv6 rule matches IPv6", dir: in, pkt: pkt(IPProtoTCP, "2001:db8::9", "fd00::1", 40000, 22),
			groups: []model.SecurityGroup{group("sg-a", basic, "Accept", rl("r-6", in, "TCP", "22/22", "::/0", acc, 1))}, allow: true, kind: ReasonRule, rule: "r-6"},
		{name: "IPv6 rule ignores IPv4", dir: in, pkt: tcpIn("10.0.0.9", 22),
			groups: []model.SecurityGroup{group("sg-a", basic, "Accept", rl("r-6", in, "TCP", "22/22", "::/0", acc, 1))}, allow: false, kind: ReasonDefault},
		{name: "IPv4 rule ignores IPv6", dir: in, pkt: pkt(IPProtoTCP, "2001:db8::9", "fd00::1", 40000, 22),
			groups: []model.SecurityGroup{group("sg-a", basic, "Accept", rl("r-4", in, "TCP", "22/22", "0.0.0.0/0", acc, 1))}, allow: false, kind: ReasonDefault},
		{name: "ICMP matches IPv4 ICMP", dir: in, pkt: pkt(IPProtoICMP, "10.0.0.9", "10.0.0.1", 0, 0),
			groups: []model.SecurityGroup{group("sg-a", basic, "Accept", rl("r-i", in, "ICMP", "", "0.0.0.0/0", acc, 1))}, allow: true, kind: ReasonRule, rule: "r-i"},
		{name: "ICMP does not match ICMPv6", dir: in, pkt: pkt(IPProtoICMPv6, "fd00::2", "fd00::1", 0, 0),
			groups: []model.SecurityGroup{group("sg-a", basic, "Accept", rl("r-i", in, "ICMP", "", "sg-b", acc, 1))}, allow: false, kind: ReasonDefault},
		{name: "ICMPv6 matches IPv6 ICMPv6", dir: in, pkt: pkt(IPProtoICMPv6, "2001:db8::9", "fd00::1", 0, 0),
			groups: []model.SecurityGroup{group("sg-a", basic, "Accept", rl("r-i6", in, "ICMPv6", "", "::/0", acc, 1))}, allow: true, kind: ReasonRule, rule: "r-i6"},
		{name: "ICMPv6 does not match protocol 58 over IPv4", dir: in, pkt: pkt(IPProtoICMPv6, "10.0.0.2", "10.0.0.1", 0, 0),
			groups: []model.SecurityGroup{group("sg-a", basic, "Accept", rl("r-i6", in, "ICMPv6", "", "sg-b", acc, 1))}, allow: false, kind: ReasonDefault},
		{name: "ALL matches GRE", dir: in, pkt: pkt(IPProtoGRE, "10.0.0.9", "10.0.0.1", 0, 0),
			groups: []model.SecurityGroup{group("sg-a", basic, "Accept", rl("r-all", in, "ALL", "", "10.0.0.0/24", acc, 1))}, allow: true, kind: ReasonRule, rule: "r-all"},
		{name: "ALL matches SCTP", dir: in, pkt: pkt(132, "10.0.0.9", "10.0.0.1", 5, 6),
			groups: []model.SecurityGroup{group("sg-a", basic, "Accept", rl("r-all", in, "ALL", "", "10.0.0.0/24", acc, 1))}, allow: true, kind: ReasonRule, rule: "r-all"},
		{name: "GRE rule does not match TCP", dir: in, pkt: tcpIn("10.0.0.9", 22),
			groups: []model.SecurityGroup{group("sg-a", basic, "Accept", rl("r-gre", in, "GRE", "", "0.0.0.0/0", acc, 1))}, allow: false, kind: ReasonDefault},
		{name: "LocalCidr: local address inside", dir: in, pkt: tcpIn("10.0.0.9", 22),
			groups: []model.SecurityGroup{group("sg-a", basic, "Accept", withLocal(rl("r-l", in, "TCP", "22/22", "0.0.0.0/0", acc, 1), "10.0.0.1/32"))},
			allow:  true, kind: ReasonRule, rule: "r-l"},
		{name: "LocalCidr: secondary address outside", dir: in, pkt: pkt(IPProtoTCP, "10.0.0.9", "10.0.0.11", 40000, 22),
			groups: []model.SecurityGroup{group("sg-a", basic, "Accept", withLocal(rl("r-l", in, "TCP", "22/22", "0.0.0.0/0", acc, 1), "10.0.0.1/32"))},
			allow:  false, kind: ReasonDefault},
		{name: "LocalCidr on egress restricts the source", dir: out, pkt: pkt(IPProtoTCP, "10.0.0.11", "1.1.1.1", 40000, 25),
			groups: []model.SecurityGroup{group("sg-a", basic, "Accept", withLocal(rl("r-l", out, "TCP", "25/25", "0.0.0.0/0", drp, 1), "10.0.0.11/32"))},
			allow:  false, kind: ReasonRule, rule: "r-l"},
		{name: "prefix-list peers never match", dir: in, pkt: tcpIn("10.0.0.9", 22),
			groups: []model.SecurityGroup{group("sg-a", basic, "Accept", rl("r-pl", in, "TCP", "22/22", "pl-1", acc, 1))}, allow: false, kind: ReasonDefault},
		{name: "rules of the other direction are ignored", dir: in, pkt: tcpIn("10.0.0.9", 22),
			groups: []model.SecurityGroup{group("sg-a", basic, "Accept", rl("r-o", out, "TCP", "22/22", "0.0.0.0/0", acc, 1))}, allow: false, kind: ReasonDefault},
		{name: "no groups: ingress denied", dir: in, pkt: tcpIn("10.0.0.9", 22), aGroup: []string{},
			allow: false, kind: ReasonNoGroups},
		{name: "no groups: egress denied", dir: out, pkt: pkt(IPProtoTCP, "10.0.0.1", "1.1.1.1", 40000, 443), aGroup: []string{},
			allow: false, kind: ReasonNoGroups},
		{name: "unknown group: fail closed", dir: out, pkt: pkt(IPProtoTCP, "10.0.0.1", "1.1.1.1", 40000, 443), aGroup: []string{"sg-gone"},
			allow: false, kind: ReasonUnknownGroup, rule: "sg-gone"},
		{name: "unknown ENI", eni: "eni-gone", dir: in, pkt: tcpIn("10.0.0.9", 22), allow: false, kind: ReasonUnknownENI},
		{name: "mixed families: invalid", dir: in, pkt: pkt(IPProtoTCP, "10.0.0.9", "fd00::1", 1, 22),
			groups: []model.SecurityGroup{group("sg-a", basic, "Accept", rl("r-all", in, "ALL", "", "0.0.0.0/0", acc, 1))}, allow: false, kind: ReasonInvalidPacket},
		{name: "IPv4-mapped addresses read as IPv4", dir: in, pkt: pkt(IPProtoTCP, "::ffff:10.0.0.9", "::ffff:10.0.0.1", 1, 22),
			groups: []model.SecurityGroup{group("sg-a", basic, "Accept", rl("r-4", in, "TCP", "22/22", "10.0.0.0/24", acc, 1))}, allow: true, kind: ReasonRule, rule: "r-4"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			aGroups, bGroups := c.aGroup, c.bGroup
			if aGroups == nil {
				aGroups = []string{"sg-a"}
			}
			if bGroups == nil {
				bGroups = []string{"sg-b"}
			}
			w := NewSnapshot(c.groups, []model.ENI{
				eni("eni-a", "vpc-1", aGroups, "10.0.0.1", "10.0.0.11", "fd00::1"),
				eni("eni-b", "vpc-1", bGroups, "10.0.0.2", "fd00::2"),
				eni("eni-c", "vpc-1", []string{"sg-db"}, "10.0.0.3", "fd00::3"),
				eni("eni-z", "vpc-2", []string{"sg-db"}, "10.0.0.7"),
			})
			id := c.eni
			if id == "" {
				id = "eni-a"
			}
			d := EvaluateENI(w, id, Direction(c.dir), c.pkt)
			if d.Allow != c.allow || d.Reason.Kind != c.kind {
				t.Fatalf("got %v (%+v), want allow=%v kind=%v", d, d.Reason, c.allow, c.kind)
			}
			switch c.kind {
			case ReasonRule:
				if d.Reason.RuleID != c.rule {
					t.Fatalf("got rule %q, want %q (%v)", d.Reason.RuleID, c.rule, d)
				}
			case ReasonIntraGroup, ReasonUnknownGroup:
				if d.Reason.GroupID != c.rule {
					t.Fatalf("got group %q, want %q (%v)", d.Reason.GroupID, c.rule, d)
				}
			}
			// The compiled program must agree on every case.
			if got := runProgram(t, Compile(w, map[string]string{id: "veth-x"}), w, id, Direction(c.dir), c.pkt); got != d.Allow {
				t.Fatalf("compiled program says allow=%v, evaluator %v", got, d)
			}
		})
	}
}

func TestEvaluatePath(t *testing.T) {
	w := NewSnapshot([]model.SecurityGroup{
		group("sg-web", basic, "Drop", rl("r-in", in, "TCP", "80/80", "sg-cli", acc, 1)),
		group("sg-cli", basic, "Drop", rl("r-out", out, "TCP", "80/80", "10.0.0.0/24", drp, 10)),
		group("sg-cli2", basic, "Drop"),
	}, []model.ENI{
		eni("eni-web", "vpc-1", []string{"sg-web"}, "10.0.0.1"),
		eni("eni-cli", "vpc-1", []string{"sg-cli2", "sg-cli"}, "10.0.0.2"),
		eni("eni-cli3", "vpc-1", []string{"sg-cli2"}, "10.0.0.3"),
	})
	p := Evaluate(w, "eni-cli", "eni-web", pkt(IPProtoTCP, "10.0.0.2", "10.0.0.1", 40000, 80))
	if p.Allow || p.Egress.Allow || !p.Ingress.Allow || p.Egress.Reason.RuleID != "r-out" || p.Ingress.Reason.RuleID != "r-in" {
		t.Fatalf("cli->web: %+v", p)
	}
	p = Evaluate(w, "eni-cli3", "eni-web", pkt(IPProtoTCP, "10.0.0.3", "10.0.0.1", 40000, 80))
	if p.Allow || !p.Egress.Allow || p.Ingress.Allow || p.Ingress.Reason.Kind != ReasonDefault {
		t.Fatalf("cli3->web: %+v", p)
	}
	p = Evaluate(w, "eni-web", "eni-cli3", pkt(IPProtoTCP, "10.0.0.1", "10.0.0.3", 40000, 80))
	if p.Allow || !p.Egress.Allow || p.Ingress.Allow {
		t.Fatalf("web->cli3: %+v", p)
	}
}

func TestDecisionString(t *testing.T) {
	d := Decision{Allow: false, Reason: Reason{Kind: ReasonRule, GroupID: "sg-1", RuleID: "sgr-1", Priority: 3, Policy: drp}}
	if got, want := d.String(), "deny by rule sgr-1 of sg-1 (priority 3, drop)"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	if got := (Decision{Allow: true, Reason: Reason{Kind: ReasonDefault}}).String(); got != "allow by default" {
		t.Fatalf("got %q", got)
	}
}
