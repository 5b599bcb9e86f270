package nftprog_test

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strconv"

	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/policy"
	"github.com/palisade-project/palisade/internal/policy/policytest"
)

// The golden worlds of internal/policy, and terse constructors, from
// policytest.

func rl(id, dir, proto, ports, peer, pol string, prio int) model.Rule {
	return policytest.Rule(id, dir, proto, ports, peer, pol, prio)
}
func group(id, typ, inner string, rules ...model.Rule) model.SecurityGroup {
	return policytest.Group(id, typ, inner, rules...)
}
func eni(id, vpc string, groups []string, addrs ...string) model.ENI {
	return policytest.ENI(id, vpc, groups, addrs...)
}

const (
	basic    = model.GroupTypeBasic
	advanced = model.GroupTypeAdvanced
	in       = model.Ingress
	out      = model.Egress
	acc      = model.PolicyAccept
	drp      = model.PolicyDrop
)

func goldenWorld() (*policy.Snapshot, map[string]string) {
	g := policytest.Golden()
	return policy.NewSnapshot(g.Groups, g.ENIs), g.Ifaces
}

func aclGoldenWorld() (*policy.Snapshot, map[string]string) {
	g := policytest.ACLGolden()
	return policy.NewWorld(g.Groups, g.ENIs, g.VSwitches, g.ACLs), g.Ifaces
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
			v := policytest.VSwitch(fmt.Sprintf("vsw-%d", vi), fmt.Sprintf("10.0.%d.0/24", vi), "", acl)
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
	case k < 7: // flow logs: none, one, two (one to two is a set change)
		switch len(s.flowlog) {
		case 0:
			s.flowlog = []string{"pv-0"}
		case 1:
			s.flowlog = []string{"pv-0", "pv-1"}
		default:
			s.flowlog = nil
		}
	case k < 8 && len(s.acls) > 0: // an ACL entry
		a := &s.acls[r.IntN(len(s.acls))]
		a.Ingress = append(a.Ingress, randACLEntry(r, fmt.Sprintf("nae-new-%d", r.IntN(1000))))
	default: // an ENI's groups (structural)
		e := &s.enis[r.IntN(len(s.enis))]
		e.SecurityGroupIDs = []string{s.groups[r.IntN(len(s.groups))].ID}
	}
}
