// Package policytest builds security-group and network-ACL worlds for tests:
// terse constructors of model records, and the golden worlds whose compiled
// programs are pinned in internal/policy/testdata (the policy tests and the
// netlink loader's equivalence tests both load them). It imports only model,
// so that the policy package's own tests can use it.
package policytest

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/palisade-project/palisade/internal/model"
)

// Rule builds a rule. ports is "from/to" ("" for -1/-1); peer is a CIDR, a
// group ID ("sg-...") or a prefix list ("pl-...").
func Rule(id, dir, proto, ports, peer, policy string, prio int) model.Rule {
	r := model.Rule{ID: id, Direction: dir, Protocol: proto, Policy: policy, Priority: prio, Ports: model.PortRange{From: -1, To: -1}}
	if ports != "" {
		r.Ports = PortRange(ports)
	}
	switch {
	case strings.HasPrefix(peer, "sg-"):
		r.PeerGroupID = peer
	case strings.HasPrefix(peer, "pl-"):
		r.PeerPrefixListID = peer
	default:
		r.PeerCidr = netip.MustParsePrefix(peer)
	}
	return r
}

// PortRange parses "from/to".
func PortRange(s string) model.PortRange {
	from, to, _ := strings.Cut(s, "/")
	f, _ := strconv.Atoi(from)
	t, _ := strconv.Atoi(to)
	return model.PortRange{From: f, To: t}
}

// WithSrcPorts restricts r to source ports "from/to".
func WithSrcPorts(r model.Rule, ports string) model.Rule { r.SourcePorts = PortRange(ports); return r }

// WithLocal restricts r to the ENI-side addresses of cidr.
func WithLocal(r model.Rule, cidr string) model.Rule {
	r.LocalCidr = netip.MustParsePrefix(cidr)
	return r
}

// Group builds a group of vpc-1.
func Group(id, typ, inner string, rules ...model.Rule) model.SecurityGroup {
	return model.SecurityGroup{ID: id, VpcID: "vpc-1", Type: typ, InnerAccessPolicy: inner, Rules: rules}
}

// ENI builds an ENI in the groups: the first IPv4 address is primary, the
// others secondary; IPv6 addresses are its IPv6s.
func ENI(id, vpc string, groups []string, addrs ...string) model.ENI {
	e := model.ENI{ID: id, VpcID: vpc, SecurityGroupIDs: groups}
	for _, a := range addrs {
		ip := netip.MustParseAddr(a)
		switch {
		case ip.Is6():
			e.IPv6s = append(e.IPv6s, ip)
		case !e.PrimaryIP.IsValid():
			e.PrimaryIP = ip
		default:
			e.SecondaryIPs = append(e.SecondaryIPs, ip)
		}
	}
	return e
}

// ACLEntry builds an ACL entry: ports "from/to" ("" for -1/-1), cidr the
// source (ingress) or destination (egress).
func ACLEntry(id, name, policy, proto, ports, cidr string) model.ACLEntry {
	e := model.ACLEntry{ID: id, Name: name, Policy: policy, Protocol: proto, Ports: model.PortRange{From: -1, To: -1},
		Cidr: netip.MustParsePrefix(cidr), EntryType: "custom"}
	if ports != "" {
		e.Ports = PortRange(ports)
	}
	return e
}

// NACL builds a network ACL of vpc-1.
func NACL(id string, ingress, egress []model.ACLEntry) model.NetworkACL {
	return model.NetworkACL{ID: id, VpcID: "vpc-1", Ingress: ingress, Egress: egress}
}

// VSwitch builds a vSwitch of vpc-1 (cidr6 and aclID may be empty).
func VSwitch(id, cidr, cidr6, aclID string) model.VSwitch {
	v := model.VSwitch{ID: id, VpcID: "vpc-1", CidrBlock: netip.MustParsePrefix(cidr), NetworkAclID: aclID}
	if cidr6 != "" {
		v.Ipv6CidrBlock = netip.MustParsePrefix(cidr6)
	}
	return v
}

// InVSwitch puts e in the vSwitch.
func InVSwitch(e model.ENI, vsw string) model.ENI { e.VSwitchID = vsw; return e }

// World is the model side of a policy world, with the host-side interface
// of each ENI that has one.
type World struct {
	Groups    []model.SecurityGroup
	ENIs      []model.ENI
	VSwitches []model.VSwitch
	ACLs      []model.NetworkACL
	Ifaces    map[string]string
}

const (
	basic    = model.GroupTypeBasic
	advanced = model.GroupTypeAdvanced
	in       = model.Ingress
	out      = model.Egress
	acc      = model.PolicyAccept
	drp      = model.PolicyDrop
)

// Golden has one of everything the compiler handles: overlapping rules in
// one class (split into disjoint elements), group references, intra-group
// groups, IPv6, ICMP/ICMPv6/GRE/ALL, source ports, local CIDRs, an advanced
// group, and ENIs that fail closed.
func Golden() World {
	return World{
		Groups: []model.SecurityGroup{
			Group("sg-web", basic, "Accept",
				Rule("sgr-http", in, "TCP", "80/80", "0.0.0.0/0", acc, 100),
				Rule("sgr-https6", in, "TCP", "443/443", "::/0", acc, 100),
				Rule("sgr-ssh-wide", in, "TCP", "22/22", "10.0.0.0/8", acc, 1),
				Rule("sgr-ssh-range", in, "TCP", "20/25", "10.1.0.0/16", acc, 1),
				Rule("sgr-admin", in, "TCP", "22/22", "sg-admin", acc, 1),
				Rule("sgr-bad", in, "ALL", "", "192.168.66.0/24", drp, 1),
				Rule("sgr-ping", in, "ICMP", "", "0.0.0.0/0", acc, 50),
				Rule("sgr-ping6", in, "ICMPv6", "", "::/0", acc, 50),
				WithSrcPorts(Rule("sgr-dns", in, "UDP", "53/53", "10.0.0.0/24", acc, 50), "1024/65535"),
				WithLocal(Rule("sgr-gre", in, "GRE", "", "172.16.0.0/12", acc, 50), "10.0.0.10/32"),
				Rule("sgr-smtp", out, "TCP", "25/25", "0.0.0.0/0", drp, 1),
				Rule("sgr-admin-out", out, "ALL", "", "sg-admin", acc, 1),
			),
			Group("sg-admin", basic, "Drop",
				Rule("sgr-a-ssh", in, "TCP", "22/22", "10.0.0.0/8", drp, 1),
				WithLocal(Rule("sgr-a-udp", in, "UDP", "1000/2000", "sg-web", acc, 5), "fd00::/64"),
			),
			Group("sg-adv", advanced, "Drop",
				Rule("sgr-adv-in", in, "TCP", "8080/8080", "10.0.0.0/24", acc, 1),
				Rule("sgr-adv-out", out, "UDP", "123/123", "0.0.0.0/0", acc, 1),
			),
		},
		ENIs: []model.ENI{
			ENI("eni-web1", "vpc-1", []string{"sg-web"}, "10.0.0.10", "fd00::10"),
			ENI("eni-web2", "vpc-1", []string{"sg-web", "sg-admin"}, "10.0.0.11", "10.0.0.12"),
			ENI("eni-adv", "vpc-1", []string{"sg-adv"}, "10.0.0.20"),
			ENI("eni-none", "vpc-1", nil, "10.0.0.30"),
			ENI("eni-bad", "vpc-1", []string{"sg-gone"}, "10.0.0.31"),
			ENI("eni-remote", "vpc-1", []string{"sg-admin"}, "10.0.0.40", "fd00::40"),
		},
		Ifaces: map[string]string{
			"eni-web1": "pv-web1", "eni-web2": "pv-web2", "eni-adv": "pv-adv",
			"eni-none": "pv-none", "eni-bad": "pv-bad",
		},
	}
}

// ACLGolden has two ACLs (one shared by two vSwitches), ordered
// accept/drop entries that overlap (the compiler resolves first match),
// IPv6 entries, a vSwitch without ACL and one whose ACL is missing.
func ACLGolden() World {
	web := NACL("nacl-web",
		[]model.ACLEntry{
			ACLEntry("nae-1", "no-ssh-from-b", drp, "tcp", "22/22", "10.0.2.0/24"),
			ACLEntry("nae-2", "ssh", acc, "tcp", "22/22", "10.0.0.0/16"),
			ACLEntry("nae-3", "web", acc, "tcp", "80/443", "0.0.0.0/0"),
			ACLEntry("nae-4", "no-gre", drp, "gre", "", "0.0.0.0/0"),
			ACLEntry("nae-5", "vpc", acc, "all", "", "10.0.0.0/16"),
			ACLEntry("nae-6", "ping6", acc, "icmp", "", "fd00::/16"),
		},
		[]model.ACLEntry{
			ACLEntry("nae-7", "ephemeral", acc, "tcp", "1024/65535", "0.0.0.0/0"),
			ACLEntry("nae-8", "dns", acc, "udp", "53/53", "10.0.0.0/8"),
			ACLEntry("nae-9", "v6", acc, "all", "", "::/0"),
		},
	)
	return World{
		Groups: []model.SecurityGroup{Group("sg-open", basic, "Accept", Rule("r", in, "ALL", "", "0.0.0.0/0", acc, 1))},
		ENIs: []model.ENI{
			InVSwitch(ENI("eni-a1", "vpc-1", []string{"sg-open"}, "10.0.1.11", "fd00:1::11"), "vsw-a"),
			InVSwitch(ENI("eni-b1", "vpc-1", []string{"sg-open"}, "10.0.2.21"), "vsw-b"),
			InVSwitch(ENI("eni-c1", "vpc-1", []string{"sg-open"}, "10.0.3.31"), "vsw-c"),
			InVSwitch(ENI("eni-d1", "vpc-1", []string{"sg-open"}, "10.0.4.41"), "vsw-d"),
			InVSwitch(ENI("eni-e1", "vpc-1", []string{"sg-open"}, "10.0.5.51"), "vsw-e"),
		},
		VSwitches: []model.VSwitch{
			VSwitch("vsw-a", "10.0.1.0/24", "fd00:1::/64", "nacl-web"),
			VSwitch("vsw-b", "10.0.2.0/24", "", "nacl-web"),
			VSwitch("vsw-c", "10.0.3.0/24", "", ""),
			VSwitch("vsw-d", "10.0.4.0/24", "", "nacl-empty"),
			VSwitch("vsw-e", "10.0.5.0/24", "", "nacl-gone"),
		},
		ACLs:   []model.NetworkACL{web, NACL("nacl-empty", nil, nil)},
		Ifaces: map[string]string{"eni-a1": "pv-a1", "eni-b1": "pv-b1", "eni-c1": "pv-c1", "eni-d1": "pv-d1", "eni-e1": "pv-e1"},
	}
}
