package analysis

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/policy"
)

// exposureWorld is one VPC with one vSwitch (with network ACL acl unless
// nil), one group sg-1 with rules and one ENI eni-1 (10.0.1.10) in it,
// with the EIP 47.0.0.1 when eip is set.
func exposureWorld(rules []model.Rule, acl *model.NetworkACL, eip bool) *World {
	w := &World{}
	w.VPCs = []model.VPC{{ID: "vpc-1", CidrBlock: pfx("10.0.0.0/16")}}
	vsw := model.VSwitch{ID: "vsw-1", VpcID: "vpc-1", CidrBlock: pfx("10.0.1.0/24")}
	if acl != nil {
		acl.ID, acl.VpcID = "nacl-1", "vpc-1"
		vsw.NetworkAclID = acl.ID
		w.ACLs = []model.NetworkACL{*acl}
	}
	w.VSwitches = []model.VSwitch{vsw}
	w.Groups = []model.SecurityGroup{{ID: "sg-1", VpcID: "vpc-1", Name: "one", Type: model.GroupTypeBasic, InnerAccessPolicy: model.InnerDrop, Rules: rules}}
	w.ENIs = []model.ENI{{ID: "eni-1", InstanceID: "i-1", VSwitchID: "vsw-1", VpcID: "vpc-1", PrimaryIP: ip("10.0.1.10"),
		SecurityGroupIDs: []string{"sg-1"}, Type: model.ENITypePrimary, Status: model.ENIInUse}}
	w.Instances = []model.Instance{{ID: "i-1", VpcID: "vpc-1", VSwitchID: "vsw-1", PrimaryENIID: "eni-1", Status: model.InstanceRunning}}
	if eip {
		w.EIPs = []model.EIP{{ID: "eip-1", Address: ip("47.0.0.1"), ENIID: "eni-1", PrivateIP: ip("10.0.1.10"), InstanceID: "i-1", Status: model.EIPInUse}}
	}
	return w
}

func allRule(id, peer string, prio int) model.Rule {
	return model.Rule{ID: id, Direction: model.Ingress, Protocol: model.ProtoALL, Ports: model.PortRange{From: -1, To: -1},
		PeerCidr: pfx(peer), Policy: model.PolicyAccept, Priority: prio}
}

func aclEntry(id, policy, proto string, port int, cidr string) model.ACLEntry {
	e := model.ACLEntry{ID: id, Policy: policy, Protocol: proto, Ports: model.PortRange{From: -1, To: -1}, Cidr: pfx(cidr)}
	if port > 0 {
		e.Ports = model.PortRange{From: port, To: port}
	}
	if port < 0 {
		e.Ports = model.PortRange{From: -port, To: 65535}
	}
	return e
}

// portFindings returns the sensitive-port-open findings that name port
// label (e.g. "tcp/22 (SSH)").
func portFindings(fs []Finding, label string) []Finding {
	var out []Finding
	for _, f := range fs {
		if f.Code == CodeSensitivePortOpen && strings.Contains(f.Message, label) {
			out = append(out, f)
		}
	}
	return out
}

// TestAuditExposure: a sensitive port is reported open to the internet
// when what the filters admit through an EIP (the union of the sources of
// the security-group rules, cut by the network ACL and the replies' ACL
// entries) covers every public IPv4 address, whatever the literal CIDRs.
func TestAuditExposure(t *testing.T) {
	ssh := func(id, peer string, prio int) model.Rule {
		return tcp(id, model.Ingress, 22, peer, model.PolicyAccept, prio)
	}
	redis := tcp("sgr-redis", model.Ingress, 6379, "0.0.0.0/0", model.PolicyAccept, 1)
	openEgress := []model.ACLEntry{aclEntry("nae-out", model.PolicyAccept, "all", 0, "0.0.0.0/0")}
	type want struct {
		label    string // port label; "" checks that no port is reported
		severity string // "" when label must not be reported
		rules    []string
		text     []string // substrings of the message
	}
	for _, c := range []struct {
		name  string
		rules []model.Rule
		acl   *model.NetworkACL
		noEIP bool
		want  []want
	}{
		{name: "ssh from two halves of the internet",
			rules: []model.Rule{ssh("sgr-low", "0.0.0.0/1", 1), ssh("sgr-high", "128.0.0.0/1", 1), allRule("sgr-all", "0.0.0.0/0", 100)},
			want: []want{
				{label: "tcp/22 (SSH)", severity: SeverityHigh, rules: []string{"sgr-high", "sgr-low"},
					text: []string{"sgr-low (tcp port 22 from 0.0.0.0/1)", "sgr-high (tcp port 22 from 128.0.0.0/1)", "to the whole internet", "1 of the 1 ENIs of sg-1: eni-1 (EIP 47.0.0.1)"}},
				{label: "tcp/3389 (RDP)", severity: SeverityHigh, rules: []string{"sgr-all"}, text: []string{"ingress rule sgr-all (all from 0.0.0.0/0) opens"}},
			}},
		{name: "network ACL admits tcp/80 only",
			rules: []model.Rule{redis},
			acl:   &model.NetworkACL{Ingress: []model.ACLEntry{aclEntry("nae-80", model.PolicyAccept, "tcp", 80, "0.0.0.0/0")}, Egress: openEgress},
			want:  []want{{label: "tcp/6379"}, {label: ""}}},
		{name: "ipv6 any on an ipv4 ENI with an EIP",
			rules: []model.Rule{ssh("sgr-v6", "::/0", 1)},
			want:  []want{{label: ""}}},
		{name: "ssh from anywhere",
			rules: []model.Rule{ssh("sgr-ssh", "0.0.0.0/0", 1)},
			want: []want{{label: "tcp/22 (SSH)", severity: SeverityHigh, rules: []string{"sgr-ssh"},
				text: []string{"ingress rule sgr-ssh (tcp port 22 from 0.0.0.0/0) opens tcp/22 (SSH) to the whole internet on 1 of the 1 ENIs of sg-1: eni-1 (EIP 47.0.0.1)"}}}},
		{name: "ssh from anywhere but documentation and private ranges",
			rules: []model.Rule{ssh("sgr-ssh", "0.0.0.0/0", 100), tcp("sgr-ban", model.Ingress, 22, "198.51.100.0/24", model.PolicyDrop, 1),
				tcp("sgr-ban2", model.Ingress, 22, "10.0.0.0/8", model.PolicyDrop, 1)},
			want: []want{{label: "tcp/22 (SSH)", severity: SeverityHigh, rules: []string{"sgr-ssh"}}}},
		{name: "network ACL admits redis from anywhere",
			rules: []model.Rule{redis},
			acl: &model.NetworkACL{Ingress: []model.ACLEntry{aclEntry("nae-80", model.PolicyAccept, "tcp", 80, "0.0.0.0/0"), aclEntry("nae-redis", model.PolicyAccept, "tcp", 6379, "0.0.0.0/0")},
				Egress: []model.ACLEntry{aclEntry("nae-eph", model.PolicyAccept, "tcp", -1024, "0.0.0.0/0")}},
			want: []want{{label: "tcp/6379 (Redis)", severity: SeverityHigh, rules: []string{"sgr-redis"}}}},
		{name: "network ACL admits redis in two halves",
			rules: []model.Rule{redis},
			acl: &model.NetworkACL{Ingress: []model.ACLEntry{aclEntry("nae-a", model.PolicyAccept, "tcp", 6379, "0.0.0.0/1"), aclEntry("nae-b", model.PolicyAccept, "all", 0, "128.0.0.0/1")},
				Egress: openEgress},
			want: []want{{label: "tcp/6379 (Redis)", severity: SeverityHigh, rules: []string{"sgr-redis"}}}},
		{name: "network ACL drops the replies",
			rules: []model.Rule{redis},
			acl: &model.NetworkACL{Ingress: []model.ACLEntry{aclEntry("nae-in", model.PolicyAccept, "all", 0, "0.0.0.0/0")},
				Egress: []model.ACLEntry{aclEntry("nae-out", model.PolicyAccept, "udp", 0, "0.0.0.0/0")}},
			want: []want{{label: ""}}},
		{name: "network ACL passes the replies to one source port",
			rules: []model.Rule{redis},
			acl: &model.NetworkACL{Ingress: []model.ACLEntry{aclEntry("nae-in", model.PolicyAccept, "all", 0, "0.0.0.0/0")},
				Egress: []model.ACLEntry{aclEntry("nae-out", model.PolicyAccept, "tcp", 443, "0.0.0.0/0")}},
			want: []want{{label: "tcp/6379 (Redis)", severity: SeverityHigh, rules: []string{"sgr-redis"}}}},
		{name: "half of the internet",
			rules: []model.Rule{ssh("sgr-ssh", "0.0.0.0/0", 100), tcp("sgr-ban", model.Ingress, 22, "0.0.0.0/1", model.PolicyDrop, 1)},
			want: []want{{label: "tcp/22 (SSH", severity: SeverityMedium, rules: []string{"sgr-ssh"},
				text: []string{"to part of the internet", "% of public IPv4 addresses"}}}},
		{name: "a few public ranges",
			rules: []model.Rule{ssh("sgr-office", "47.1.2.0/24", 1), ssh("sgr-vpn", "47.3.0.0/16", 1)},
			want:  []want{{label: ""}}},
		// Not reachable from the internet today: a latent exposure, which
		// the first EIP of the group would make real.
		{name: "no EIP",
			rules: []model.Rule{ssh("sgr-ssh", "0.0.0.0/0", 1)}, noEIP: true,
			want: []want{{label: "tcp/22 (SSH)", severity: SeverityMedium, rules: []string{"sgr-ssh"}, text: []string{"none of its 1 ENIs has an EIP"}}}},
		{name: "source ports restricted",
			rules: []model.Rule{{ID: "sgr-sp", Direction: model.Ingress, Protocol: model.ProtoTCP, Ports: model.PortRange{From: 22, To: 22},
				SourcePorts: model.PortRange{From: 1024, To: 2048}, PeerCidr: pfx("0.0.0.0/0"), Policy: model.PolicyAccept, Priority: 1}},
			want: []want{{label: "tcp/22 (SSH)", severity: SeverityHigh, rules: []string{"sgr-sp"}}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			res, err := New(exposureWorld(c.rules, c.acl, !c.noEIP)).Audit(AuditQuery{})
			if err != nil {
				t.Fatal(err)
			}
			var all []string
			for _, f := range res.Findings {
				all = append(all, fmt.Sprintf("[%s] %s %s %s: %s", f.Severity, f.Code, f.Resource, f.Rule, f.Message))
			}
			dump := strings.Join(all, "\n")
			for _, w := range c.want {
				got := portFindings(res.Findings, w.label)
				if w.severity == "" {
					if len(got) > 0 {
						t.Errorf("%q reported:\n%s", w.label, dump)
					}
					continue
				}
				if len(got) != 1 {
					t.Errorf("%q: %d findings, want 1:\n%s", w.label, len(got), dump)
					continue
				}
				f := got[0]
				if f.Severity != w.severity || f.Resource != "sg-1" || !slices.Contains(w.rules, f.Rule) {
					t.Errorf("%q: %s %s %s, want %s sg-1 one of %v", w.label, f.Severity, f.Resource, f.Rule, w.severity, w.rules)
				}
				for _, s := range append(w.text, w.rules...) {
					if !strings.Contains(f.Message, s) {
						t.Errorf("%q: message %q lacks %q", w.label, f.Message, s)
					}
				}
			}
		})
	}
}

// TestAuditExposureTwoGroups: rules of two groups that together cover the
// internet are both named; an ENI with only one of them is not exposed.
func TestAuditExposureTwoGroups(t *testing.T) {
	w := exposureWorld([]model.Rule{tcp("sgr-a", model.Ingress, 3389, "0.0.0.0/1", model.PolicyAccept, 1)}, nil, true)
	w.Groups = append(w.Groups, model.SecurityGroup{ID: "sg-2", VpcID: "vpc-1", Type: model.GroupTypeBasic,
		Rules: []model.Rule{tcp("sgr-b", model.Ingress, 3389, "128.0.0.0/1", model.PolicyAccept, 1)}})
	w.ENIs[0].SecurityGroupIDs = []string{"sg-2", "sg-1"}
	w.ENIs = append(w.ENIs, model.ENI{ID: "eni-2", InstanceID: "i-1", VSwitchID: "vsw-1", VpcID: "vpc-1", PrimaryIP: ip("10.0.1.11"),
		SecurityGroupIDs: []string{"sg-1"}, Type: model.ENITypeSecondary, Status: model.ENIInUse})
	w.EIPs = append(w.EIPs, model.EIP{ID: "eip-2", Address: ip("47.0.0.2"), ENIID: "eni-2", PrivateIP: ip("10.0.1.11"), InstanceID: "i-1", Status: model.EIPInUse})
	res, err := New(w).Audit(AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	got := portFindings(res.Findings, "tcp/3389 (RDP)")
	if len(got) != 1 || got[0].Severity != SeverityHigh || got[0].Resource != "sg-1" || got[0].Rule != "sgr-a" ||
		!strings.Contains(got[0].Message, "sgr-a of sg-1 (tcp port 3389 from 0.0.0.0/1), sgr-b of sg-2 (tcp port 3389 from 128.0.0.0/1) together open") ||
		!strings.Contains(got[0].Message, "on 1 of the 2 ENIs of sg-1: eni-1 (EIP 47.0.0.1)") {
		t.Fatalf("findings %+v", got)
	}
}

// TestAuditExposureMatchesReach: on random worlds with EIPs, the clients
// the audit counts as able to connect to a port through an EIP are
// exactly those a reach query from the client's address and source port to
// the EIP finds reachable.
func TestAuditExposureMatchesReach(t *testing.T) {
	clients := []string{"203.0.113.9", "203.0.114.1", "198.51.100.1", "8.8.8.8", "127.255.255.255", "128.0.0.0",
		"11.0.0.1", "10.1.0.1", "0.0.0.1", "255.255.255.255"}
	sports := []uint16{22, 1023, 1024, 40000, 49152, 60000, 65535}
	checked, reached, aclReached := 0, 0, 0
	for wi := range 120 {
		rng := rand.New(rand.NewPCG(uint64(wi), 23))
		w := genWorld(rng, wi%4 != 0)
		// Random ACL entries seldom let an internet client in and its
		// reply out: in half the worlds, each ACL gets an ingress entry
		// for (part of) the internet and an egress entry for the replies,
		// anywhere in its lists, so that ACL-admitted exposures are tested.
		for i := range w.ACLs {
			if rng.IntN(2) == 0 {
				continue
			}
			a := &w.ACLs[i]
			in := model.ACLEntry{ID: fmt.Sprintf("nae-web-%d", i), Policy: model.PolicyAccept, Protocol: "tcp",
				Ports: pickOf(rng, model.PortRange{From: 22, To: 22}, model.PortRange{From: 1, To: 65535}, model.PortRange{From: 80, To: 5432}),
				Cidr:  netip.MustParsePrefix(pickOf(rng, "0.0.0.0/0", "0.0.0.0/1", "128.0.0.0/1", "203.0.113.0/24"))}
			out := model.ACLEntry{ID: fmt.Sprintf("nae-reply-%d", i), Policy: model.PolicyAccept, Protocol: pickOf(rng, "tcp", "all"),
				Ports: model.PortRange{From: -1, To: -1}, Cidr: netip.MustParsePrefix(pickOf(rng, "0.0.0.0/0", "0.0.0.0/1", "192.0.0.0/2"))}
			if out.Protocol == "tcp" {
				out.Ports = pickOf(rng, model.PortRange{From: 1024, To: 65535}, model.PortRange{From: 1, To: 65535}, model.PortRange{From: 40000, To: 65535})
			}
			a.Ingress = slices.Insert(slices.Clone(a.Ingress), rng.IntN(len(a.Ingress)+1), in)
			a.Egress = slices.Insert(slices.Clone(a.Egress), rng.IntN(len(a.Egress)+1), out)
			if rng.IntN(2) == 0 {
				// And a drop entry for some replies (by client port and address).
				drop := model.ACLEntry{ID: fmt.Sprintf("nae-noreply-%d", i), Policy: model.PolicyDrop, Protocol: "tcp",
					Ports: pickOf(rng, model.PortRange{From: 40000, To: 49152}, model.PortRange{From: 1, To: 1023}, model.PortRange{From: 60000, To: 65535}),
					Cidr:  netip.MustParsePrefix(pickOf(rng, "0.0.0.0/1", "192.0.0.0/2", "203.0.113.0/24", "0.0.0.0/0"))}
				a.Egress = slices.Insert(a.Egress, rng.IntN(len(a.Egress)+1), drop)
			}
		}
		for i, e := range w.ENIs {
			if rng.IntN(2) == 0 {
				w.EIPs = append(w.EIPs, model.EIP{ID: fmt.Sprintf("eip-%d", i), Address: netip.AddrFrom4([4]byte{47, 0, 0, byte(i + 1)}),
					ENIID: e.ID, PrivateIP: e.PrimaryIP, InstanceID: e.InstanceID, Status: model.EIPInUse})
			}
		}
		a := New(w)
		pw := policyWorld(w)
		// One Admitter per world, as the audit uses it: its memoized
		// answers are checked against reach too.
		ad := policy.NewAdmitter(pw, admitLimit)
		for _, eip := range w.EIPs {
			e := a.enis[a.eniIdx[eip.ENIID]]
			for _, port := range []uint16{22, 80, 5432} {
				got, ok := a.internetClients(ad, e, eip.PrivateIP, port)
				if !ok {
					t.Fatalf("world %d %s port %d: over the limit", wi, e.e.ID, port)
				}
				pieces, _ := publicClients(got)
				named, inner, partial := a.deciders(e, eip.PrivateIP, port, pieces, a.publicENICuts(e.e.VpcID))
				if partial {
					t.Fatalf("world %d %s port %d: too many cells to name the rules", wi, e.e.ID, port)
				}
				for _, c := range clients {
					for _, sp := range sports {
						r, err := a.Reach(ReachQuery{From: c, To: eip.Address.String(), Protocol: "tcp", Port: int(port), SourcePort: int(sp)})
						if err != nil {
							t.Fatal(err)
						}
						in := false
						v := addr32(ip(c))
						for _, x := range got {
							in = in || (x.addr.lo <= v && v <= x.addr.hi && x.sport.has(sp))
						}
						if in != r.Reachable {
							t.Fatalf("world %d %s:%d from %s:%d: audit %v, reach %v\n%+v", wi, eip.Address, port, c, sp, in, r.Reachable, r.Paths[0])
						}
						checked++
						if !in {
							continue
						}
						reached++
						if e.vsw != nil && e.vsw.NetworkAclID != "" {
							aclReached++
						}
						// The rule that admits an admitted public client is named.
						d := a.evalSG(e, model.Ingress, Packet{Src: ip(c), Dst: eip.PrivateIP, Proto: ProtoTCP, SrcPort: sp, DstPort: port})
						public := slices.ContainsFunc(public4, func(p span32) bool { return p.lo <= v && v <= p.hi })
						if public && !(d.by == ByRule && slices.Contains(named, d.rule)) && !(d.by == ByIntraGroup && inner) {
							t.Fatalf("world %d %s:%d from %s:%d: decided by %+v, named %v (intra-group %v)", wi, eip.Address, port, c, sp, d, named, inner)
						}
					}
				}
			}
		}
	}
	t.Logf("%d clients agree with reach, %d of them reach the port, %d through a network ACL", checked, reached, aclReached)
	if reached == 0 || reached == checked || aclReached == 0 {
		t.Fatal("the random worlds do not exercise both answers, and network ACLs that admit")
	}
}

// TestAuditExposureInternetFirewall: a port the security groups open to
// the whole internet is not reported when the Internet firewall drops it
// for everyone or lets only a few addresses in; it is again when the
// firewall is switched off for the EIP, or its policy does not cover it.
func TestAuditExposureInternetFirewall(t *testing.T) {
	ssh := tcp("sgr-ssh", model.Ingress, 22, "0.0.0.0/0", model.PolicyAccept, 1)
	pol := func(id string, order int, action, src, dst, port string) model.FirewallPolicy {
		return model.FirewallPolicy{ID: id, Direction: model.FirewallIn, Order: order, Action: action, Source: src, SourceType: model.FirewallNet,
			Destination: dst, DestinationType: model.FirewallNet, Proto: "TCP", DestPort: port, DestPortType: model.FirewallPort, Enabled: true}
	}
	for _, c := range []struct {
		name     string
		policies []model.FirewallPolicy
		off      bool
		reported bool
	}{
		{"no policy", nil, false, true},
		{"ssh dropped for everyone", []model.FirewallPolicy{pol("p1", 1, model.FirewallDrop, "0.0.0.0/0", "0.0.0.0/0", "22")}, false, false},
		{"ssh from the office only", []model.FirewallPolicy{
			pol("p1", 1, model.FirewallAccept, "203.0.113.0/24", "47.0.0.1/32", "22"),
			pol("p2", 2, model.FirewallDrop, "0.0.0.0/0", "47.0.0.1/32", "22")}, false, false},
		{"the drop is for another EIP", []model.FirewallPolicy{pol("p1", 1, model.FirewallDrop, "0.0.0.0/0", "47.0.0.2/32", "22")}, false, true},
		{"the drop is for another port", []model.FirewallPolicy{pol("p1", 1, model.FirewallDrop, "0.0.0.0/0", "0.0.0.0/0", "80")}, false, true},
		{"half the internet dropped: still a large part", []model.FirewallPolicy{pol("p1", 1, model.FirewallDrop, "0.0.0.0/1", "0.0.0.0/0", "22")}, false, true},
		{"switched off", []model.FirewallPolicy{pol("p1", 1, model.FirewallDrop, "0.0.0.0/0", "0.0.0.0/0", "22")}, true, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := exposureWorld([]model.Rule{ssh}, nil, true)
			w.FirewallPolicies = c.policies
			if c.off {
				w.FirewallOff = []netip.Addr{w.EIPs[0].Address}
			}
			res, err := New(w).Audit(AuditQuery{})
			if err != nil {
				t.Fatal(err)
			}
			got := portFindings(res.Findings, "tcp/22 (SSH") // medium findings say how much
			if (len(got) > 0) != c.reported {
				t.Errorf("reported %v, want %v: %+v", len(got) > 0, c.reported, got)
			}
		})
	}
}
