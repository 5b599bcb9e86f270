package nftprog_test

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/policy"
)

// The golden worlds of internal/policy (render_test.go, acl_test.go).

func rl(id, dir, proto, ports, peer, pol string, prio int) model.Rule {
	r := model.Rule{ID: id, Direction: dir, Protocol: proto, Policy: pol, Priority: prio, Ports: model.PortRange{From: -1, To: -1}}
	if ports != "" {
		r.Ports = portRange(ports)
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

func portRange(s string) model.PortRange {
	from, to, _ := strings.Cut(s, "/")
	f, _ := strconv.Atoi(from)
	t, _ := strconv.Atoi(to)
	return model.PortRange{From: f, To: t}
}

func withSrcPorts(r model.Rule, ports string) model.Rule { r.SourcePorts = portRange(ports); return r }
func withLocal(r model.Rule, cidr string) model.Rule {
	r.LocalCidr = netip.MustParsePrefix(cidr)
	return r
}

func group(id, typ, inner string, rules ...model.Rule) model.SecurityGroup {
	return model.SecurityGroup{ID: id, VpcID: "vpc-1", Type: typ, InnerAccessPolicy: inner, Rules: rules}
}

func eni(id, vpc string, groups []string, addrs ...string) model.ENI {
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

func ae(id, name, pol, proto, ports, cidr string) model.ACLEntry {
	e := model.ACLEntry{ID: id, Name: name, Policy: pol, Protocol: proto, Ports: model.PortRange{From: -1, To: -1},
		Cidr: netip.MustParsePrefix(cidr), EntryType: "custom"}
	if ports != "" {
		e.Ports = portRange(ports)
	}
	return e
}

func nacl(id string, ingress, egress []model.ACLEntry) model.NetworkACL {
	return model.NetworkACL{ID: id, VpcID: "vpc-1", Ingress: ingress, Egress: egress}
}

func vswitch(id, cidr, cidr6, aclID string) model.VSwitch {
	v := model.VSwitch{ID: id, VpcID: "vpc-1", CidrBlock: netip.MustParsePrefix(cidr), NetworkAclID: aclID}
	if cidr6 != "" {
		v.Ipv6CidrBlock = netip.MustParsePrefix(cidr6)
	}
	return v
}

func inVSwitch(e model.ENI, vsw string) model.ENI { e.VSwitchID = vsw; return e }

const (
	basic    = model.GroupTypeBasic
	advanced = model.GroupTypeAdvanced
	in       = model.Ingress
	out      = model.Egress
	acc      = model.PolicyAccept
	drp      = model.PolicyDrop
)

func goldenWorld() (*policy.Snapshot, map[string]string) {
	w := policy.NewSnapshot([]model.SecurityGroup{
		group("sg-web", basic, "Accept",
			rl("sgr-http", in, "TCP", "80/80", "0.0.0.0/0", acc, 100),
			rl("sgr-https6", in, "TCP", "443/443", "::/0", acc, 100),
			rl("sgr-ssh-wide", in, "TCP", "22/22", "10.0.0.0/8", acc, 1),
			rl("sgr-ssh-range", in, "TCP", "20/25", "10.1.0.0/16", acc, 1),
			rl("sgr-admin", in, "TCP", "22/22", "sg-admin", acc, 1),
			rl("sgr-bad", in, "ALL", "", "192.168.66.0/24", drp, 1),
			rl("sgr-ping", in, "ICMP", "", "0.0.0.0/0", acc, 50),
			rl("sgr-ping6", in, "ICMPv6", "", "::/0", acc, 50),
			withSrcPorts(rl("sgr-dns", in, "UDP", "53/53", "10.0.0.0/24", acc, 50), "1024/65535"),
			withLocal(rl("sgr-gre", in, "GRE", "", "172.16.0.0/12", acc, 50), "10.0.0.10/32"),
			rl("sgr-smtp", out, "TCP", "25/25", "0.0.0.0/0", drp, 1),
			rl("sgr-admin-out", out, "ALL", "", "sg-admin", acc, 1),
		),
		group("sg-admin", basic, "Drop",
			rl("sgr-a-ssh", in, "TCP", "22/22", "10.0.0.0/8", drp, 1),
			withLocal(rl("sgr-a-udp", in, "UDP", "1000/2000", "sg-web", acc, 5), "fd00::/64"),
		),
		group("sg-adv", advanced, "Drop",
			rl("sgr-adv-in", in, "TCP", "8080/8080", "10.0.0.0/24", acc, 1),
			rl("sgr-adv-out", out, "UDP", "123/123", "0.0.0.0/0", acc, 1),
		),
	}, []model.ENI{
		eni("eni-web1", "vpc-1", []string{"sg-web"}, "10.0.0.10", "fd00::10"),
		eni("eni-web2", "vpc-1", []string{"sg-web", "sg-admin"}, "10.0.0.11", "10.0.0.12"),
		eni("eni-adv", "vpc-1", []string{"sg-adv"}, "10.0.0.20"),
		eni("eni-none", "vpc-1", nil, "10.0.0.30"),
		eni("eni-bad", "vpc-1", []string{"sg-gone"}, "10.0.0.31"),
		eni("eni-remote", "vpc-1", []string{"sg-admin"}, "10.0.0.40", "fd00::40"),
	})
	return w, map[string]string{
		"eni-web1": "pv-web1", "eni-web2": "pv-web2", "eni-adv": "pv-adv",
		"eni-none": "pv-none", "eni-bad": "pv-bad",
	}
}

func aclGoldenWorld() (*policy.Snapshot, map[string]string) {
	web := nacl("nacl-web",
		[]model.ACLEntry{
			ae("nae-1", "no-ssh-from-b", drp, "tcp", "22/22", "10.0.2.0/24"),
			ae("nae-2", "ssh", acc, "tcp", "22/22", "10.0.0.0/16"),
			ae("nae-3", "web", acc, "tcp", "80/443", "0.0.0.0/0"),
			ae("nae-4", "no-gre", drp, "gre", "", "0.0.0.0/0"),
			ae("nae-5", "vpc", acc, "all", "", "10.0.0.0/16"),
			ae("nae-6", "ping6", acc, "icmp", "", "fd00::/16"),
		},
		[]model.ACLEntry{
			ae("nae-7", "ephemeral", acc, "tcp", "1024/65535", "0.0.0.0/0"),
			ae("nae-8", "dns", acc, "udp", "53/53", "10.0.0.0/8"),
			ae("nae-9", "v6", acc, "all", "", "::/0"),
		},
	)
	empty := nacl("nacl-empty", nil, nil)
	w := policy.NewWorld([]model.SecurityGroup{group("sg-open", basic, "Accept", rl("r", in, "ALL", "", "0.0.0.0/0", acc, 1))},
		[]model.ENI{
			inVSwitch(eni("eni-a1", "vpc-1", []string{"sg-open"}, "10.0.1.11", "fd00:1::11"), "vsw-a"),
			inVSwitch(eni("eni-b1", "vpc-1", []string{"sg-open"}, "10.0.2.21"), "vsw-b"),
			inVSwitch(eni("eni-c1", "vpc-1", []string{"sg-open"}, "10.0.3.31"), "vsw-c"),
			inVSwitch(eni("eni-d1", "vpc-1", []string{"sg-open"}, "10.0.4.41"), "vsw-d"),
			inVSwitch(eni("eni-e1", "vpc-1", []string{"sg-open"}, "10.0.5.51"), "vsw-e"),
		},
		[]model.VSwitch{
			vswitch("vsw-a", "10.0.1.0/24", "fd00:1::/64", "nacl-web"),
			vswitch("vsw-b", "10.0.2.0/24", "", "nacl-web"),
			vswitch("vsw-c", "10.0.3.0/24", "", ""),
			vswitch("vsw-d", "10.0.4.0/24", "", "nacl-empty"),
			vswitch("vsw-e", "10.0.5.0/24", "", "nacl-gone"),
		},
		[]model.NetworkACL{web, empty})
	return w, map[string]string{"eni-a1": "pv-a1", "eni-b1": "pv-b1", "eni-c1": "pv-c1", "eni-d1": "pv-d1", "eni-e1": "pv-e1"}
}

// Random worlds: a small universe so that rules overlap and split.
var (
	randV4 = []string{"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6", "10.0.1.9", "192.168.0.1"}
	randV6 = []string{"fd00::1", "fd00::2", "fd00::3", "fd00::4", "2001:db8::1"}
	randC4 = []string{"0.0.0.0/0", "10.0.0.0/24", "10.0.0.0/30", "10.0.0.4/31", "10.0.0.5/32", "10.0.0.2/32", "10.0.0.0/8", "192.168.0.0/16", "10.0.0.0/29", "10.0.0.0/23", "10.0.0.0/9"}
	randC6 = []string{"::/0", "fd00::/126", "fd00::2/128", "fd00::/8", "2001:db8::/32", "fd00::/64", "fd00::/65"}
	protos = []string{"TCP", "UDP", "ICMP", "ICMPv6", "GRE", "ALL"}
	aprots = []string{"tcp", "udp", "icmp", "gre", "all"}
)

type worldSpec struct {
	groups    []model.SecurityGroup
	enis      []model.ENI
	vswitches []model.VSwitch
	acls      []model.NetworkACL
	ifaces    map[string]string
	fallback  bool
	flowlog   []string
	transp    bool
}

func (s *worldSpec) compile() *policy.Program {
	w := policy.NewWorld(s.groups, s.enis, s.vswitches, s.acls)
	limit := policy.MaxFlatElements
	if s.fallback {
		limit = -1
	}
	p := policy.CompileLimit(w, s.ifaces, limit)
	p.FlowLogIfaces = slices.Clone(s.flowlog)
	p.Transparent = s.transp
	return p
}

func randProgram(r *rand.Rand) *policy.Program { return randWorldSpec(r).compile() }

func randRule(r *rand.Rand, id string, ngroups int) model.Rule {
	ru := model.Rule{ID: id, Direction: model.Ingress, Protocol: protos[r.IntN(len(protos))], Policy: model.PolicyAccept,
		Priority: 1 + r.IntN(4), Ports: model.PortRange{From: -1, To: -1}}
	if r.IntN(2) == 0 {
		ru.Direction = model.Egress
	}
	if r.IntN(2) == 0 {
		ru.Policy = model.PolicyDrop
	}
	if ru.Protocol == "TCP" || ru.Protocol == "UDP" {
		from := 20 + r.IntN(8)
		ru.Ports = model.PortRange{From: from, To: from + r.IntN(4)}
		if r.IntN(5) == 0 {
			ru.Ports = model.PortRange{From: 1, To: 65535}
		}
		if r.IntN(4) == 0 {
			from := 1000 + r.IntN(4)
			ru.SourcePorts = model.PortRange{From: from, To: from + r.IntN(3)}
		}
	}
	v6 := ru.Protocol == "ICMPv6" || (ru.Protocol != "ICMP" && r.IntN(3) == 0)
	switch {
	case r.IntN(4) == 0:
		ru.PeerGroupID = fmt.Sprintf("sg-%d", r.IntN(ngroups+1)) // may not exist
	case v6:
		ru.PeerCidr = netip.MustParsePrefix(randC6[r.IntN(len(randC6))])
	default:
		ru.PeerCidr = netip.MustParsePrefix(randC4[r.IntN(len(randC4))])
	}
	if r.IntN(4) == 0 {
		if v6 {
			ru.LocalCidr = netip.MustParsePrefix(randC6[r.IntN(len(randC6))])
		} else {
			ru.LocalCidr = netip.MustParsePrefix(randC4[r.IntN(len(randC4))])
		}
	}
	return ru
}

func randACLEntry(r *rand.Rand, id string) model.ACLEntry {
	e := model.ACLEntry{ID: id, Name: id, Policy: []string{acc, drp}[r.IntN(2)], Protocol: aprots[r.IntN(len(aprots))],
		Ports: model.PortRange{From: -1, To: -1}, EntryType: "custom"}
	if e.Protocol == "tcp" || e.Protocol == "udp" {
		from := 20 + r.IntN(8)
		e.Ports = model.PortRange{From: from, To: from + r.IntN(4)}
	}
	if r.IntN(3) == 0 {
		e.Cidr = netip.MustParsePrefix(randC6[r.IntN(len(randC6))])
	} else {
		e.Cidr = netip.MustParsePrefix(randC4[r.IntN(len(randC4))])
	}
	return e
}

func randWorldSpec(r *rand.Rand) *worldSpec {
	s := &worldSpec{ifaces: map[string]string{}, fallback: r.IntN(3) == 0, transp: r.IntN(3) == 0}
	ngroups := 1 + r.IntN(4)
	for gi := range ngroups {
		g := model.SecurityGroup{ID: fmt.Sprintf("sg-%d", gi), VpcID: "vpc-1", Type: model.GroupTypeBasic, InnerAccessPolicy: model.InnerAccept}
		if r.IntN(4) == 0 {
			g.Type, g.InnerAccessPolicy = model.GroupTypeAdvanced, model.InnerDrop
		} else if r.IntN(3) == 0 {
			g.InnerAccessPolicy = model.InnerDrop
		}
		for ri := range r.IntN(12) {
			g.Rules = append(g.Rules, randRule(r, fmt.Sprintf("sgr-%d-%d", gi, ri), ngroups))
		}
		s.groups = append(s.groups, g)
	}
	withACL := r.IntN(2) == 0
	if withACL {
		for ai := range 2 {
			a := model.NetworkACL{ID: fmt.Sprintf("nacl-%d", ai), VpcID: "vpc-1"}
			for i := range r.IntN(6) {
				a.Ingress = append(a.Ingress, randACLEntry(r, fmt.Sprintf("nae-%d-i%d", ai, i)))
			}
			for i := range r.IntN(6) {
				a.Egress = append(a.Egress, randACLEntry(r, fmt.Sprintf("nae-%d-o%d", ai, i)))
			}
			s.acls = append(s.acls, a)
		}
		for vi, acl := range []string{"nacl-0", "nacl-1", "", "nacl-gone"} {
			v := vswitch(fmt.Sprintf("vsw-%d", vi), fmt.Sprintf("10.0.%d.0/24", vi), "", acl)
			if vi == 0 {
				v.Ipv6CidrBlock = netip.MustParsePrefix("fd00::/64")
			}
			s.vswitches = append(s.vswitches, v)
		}
	}
	addrs := r.Perm(6)
	for i := range 2 + r.IntN(5) {
		e := model.ENI{ID: fmt.Sprintf("eni-%d", i), VpcID: "vpc-1", PrimaryIP: netip.MustParseAddr(randV4[addrs[i]])}
		if i < 4 && r.IntN(2) == 0 {
			e.IPv6s = []netip.Addr{netip.MustParseAddr(randV6[i])}
		}
		if withACL {
			e.VSwitchID = fmt.Sprintf("vsw-%d", r.IntN(5)) // vsw-4 does not exist
		}
		adv := r.IntN(2) == 0
		for _, gi := range r.Perm(ngroups)[:r.IntN(ngroups+1)] {
			if (s.groups[gi].Type == model.GroupTypeAdvanced) == adv {
				e.SecurityGroupIDs = append(e.SecurityGroupIDs, s.groups[gi].ID)
			}
		}
		if r.IntN(8) == 0 {
			e.SecurityGroupIDs = append(e.SecurityGroupIDs, "sg-gone") // fails closed
		}
		s.enis = append(s.enis, e)
		s.ifaces[e.ID] = "pv-" + strconv.Itoa(i)
	}
	if r.IntN(2) == 0 {
		s.flowlog = []string{"pv-0"}
	}
	return s
}

// mutate changes the world, mostly in ways that keep every ENI's group
// set (element changes), sometimes not.
func (s *worldSpec) mutate(r *rand.Rand) {
	switch k := r.IntN(10); {
	case k < 4: // a rule changes, is added or is removed
		g := &s.groups[r.IntN(len(s.groups))]
		switch {
		case len(g.Rules) > 0 && r.IntN(3) == 0:
			i := r.IntN(len(g.Rules))
			g.Rules = slices.Delete(g.Rules, i, i+1)
		case len(g.Rules) > 0 && r.IntN(2) == 0:
			g.Rules[r.IntN(len(g.Rules))] = randRule(r, g.Rules[0].ID, len(s.groups))
		default:
			g.Rules = append(g.Rules, randRule(r, fmt.Sprintf("sgr-new-%d", r.IntN(1000)), len(s.groups)))
		}
	case k < 6: // an address changes (member sets)
		e := &s.enis[r.IntN(len(s.enis))]
		e.PrimaryIP = netip.AddrFrom4([4]byte{10, 0, byte(r.IntN(3)), byte(1 + r.IntN(250))})
	case k < 7: // flow logs
		if len(s.flowlog) > 0 {
			s.flowlog = nil
		} else {
			s.flowlog = []string{"pv-0", "pv-1"}
		}
	case k < 8 && len(s.acls) > 0: // an ACL entry
		a := &s.acls[r.IntN(len(s.acls))]
		a.Ingress = append(a.Ingress, randACLEntry(r, fmt.Sprintf("nae-new-%d", r.IntN(1000))))
	default: // an ENI's groups (structural)
		e := &s.enis[r.IntN(len(s.enis))]
		e.SecurityGroupIDs = []string{s.groups[r.IntN(len(s.groups))].ID}
	}
}
