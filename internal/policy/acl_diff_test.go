package policy

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/palisade-project/palisade/internal/model"
)

// Random ACL worlds: three vSwitches of vpc-1 whose ENIs hold addresses of
// their vSwitch (as the service enforces), random groups (randRule), and
// up to three ACLs of random entries associated at random; sometimes a
// vSwitch names an ACL that does not exist.
var randVSwitches = []struct {
	id, cidr, cidr6 string
	v4, v6          []string
}{
	{"vsw-0", "10.0.0.0/30", "fd00::/126", []string{"10.0.0.1", "10.0.0.2", "10.0.0.3"}, []string{"fd00::1", "fd00::2", "fd00::3"}},
	{"vsw-1", "10.0.0.4/30", "fd00::4/126", []string{"10.0.0.4", "10.0.0.5", "10.0.0.6"}, []string{"fd00::4", "fd00::5", "fd00::6"}},
	{"vsw-2", "10.0.1.0/24", "", []string{"10.0.1.9", "10.0.1.10"}, nil},
}

var (
	aclC4    = []string{"0.0.0.0/0", "10.0.0.0/24", "10.0.0.0/30", "10.0.0.4/31", "10.0.0.5/32", "10.0.1.0/24", "10.0.0.0/8", "100.100.0.0/16", "192.168.0.0/16"}
	aclC6    = []string{"::/0", "fd00::/126", "fd00::4/127", "fd00::2/128", "fd00::/8"}
	aclProto = []string{"tcp", "udp", "icmp", "gre", "all"}
)

type aclWorldSpec struct {
	w     *Snapshot
	enis  []model.ENI
	addrs map[string][]netip.Addr
}

func randACLWorld(r *rand.Rand) aclWorldSpec {
	ngroups := 1 + r.IntN(3)
	var groups []model.SecurityGroup
	for gi := range ngroups {
		g := model.SecurityGroup{ID: fmt.Sprintf("sg-%d", gi), VpcID: "vpc-1", Type: model.GroupTypeBasic, InnerAccessPolicy: model.InnerAccept}
		if r.IntN(3) == 0 {
			g.InnerAccessPolicy = model.InnerDrop
		}
		// Mostly open groups, so that the ACL stage is what decides often.
		if r.IntN(2) == 0 {
			g.Rules = append(g.Rules, rl(fmt.Sprintf("sgr-%d-open", gi), in, "ALL", "", "0.0.0.0/0", acc, 50),
				rl(fmt.Sprintf("sgr-%d-open6", gi), in, "ALL", "", "::/0", acc, 50))
		}
		for ri := range r.IntN(6) {
			g.Rules = append(g.Rules, randRule(r, fmt.Sprintf("sgr-%d-%d", gi, ri), ngroups))
		}
		groups = append(groups, g)
	}
	nacls := r.IntN(4)
	var acls []model.NetworkACL
	for ai := range nacls {
		a := model.NetworkACL{ID: fmt.Sprintf("nacl-%d", ai), VpcID: "vpc-1"}
		for _, dir := range []Direction{Ingress, Egress} {
			var es []model.ACLEntry
			for ei := range r.IntN(7) {
				es = append(es, randACLEntry(r, fmt.Sprintf("nae-%d-%s-%d", ai, dir, ei)))
			}
			if dir == Egress {
				a.Egress = es
			} else {
				a.Ingress = es
			}
		}
		acls = append(acls, a)
	}
	var vsws []model.VSwitch
	for _, v := range randVSwitches {
		vs := model.VSwitch{ID: v.id, VpcID: "vpc-1", CidrBlock: netip.MustParsePrefix(v.cidr)}
		if v.cidr6 != "" {
			vs.Ipv6CidrBlock = netip.MustParsePrefix(v.cidr6)
		}
		switch k := r.IntN(nacls + 2); {
		case k < nacls:
			vs.NetworkAclID = acls[k].ID
		case k == nacls && r.IntN(6) == 0:
			vs.NetworkAclID = "nacl-gone"
		}
		vsws = append(vsws, vs)
	}
	spec := aclWorldSpec{addrs: map[string][]netip.Addr{}}
	used := map[string]bool{}
	for i := range 2 + r.IntN(4) {
		vi := r.IntN(len(randVSwitches))
		v := randVSwitches[vi]
		var free []string
		for _, a := range v.v4 {
			if !used[a] {
				free = append(free, a)
			}
		}
		if len(free) == 0 {
			continue
		}
		a4 := free[r.IntN(len(free))]
		used[a4] = true
		e := model.ENI{ID: fmt.Sprintf("eni-%d", i), VpcID: "vpc-1", VSwitchID: v.id, PrimaryIP: netip.MustParseAddr(a4)}
		if len(v.v6) > 0 && r.IntN(2) == 0 {
			a6 := v.v6[slices.Index(v.v4, a4)]
			e.IPv6s = []netip.Addr{netip.MustParseAddr(a6)}
		}
		for _, gi := range r.Perm(ngroups)[:1+r.IntN(ngroups)] {
			e.SecurityGroupIDs = append(e.SecurityGroupIDs, groups[gi].ID)
		}
		spec.enis = append(spec.enis, e)
		spec.addrs[e.ID] = e.Addrs()
	}
	spec.w = NewWorld(groups, spec.enis, vsws, acls)
	return spec
}

func randACLEntry(r *rand.Rand, id string) model.ACLEntry {
	e := model.ACLEntry{ID: id, Name: "n" + id, Policy: acc, Protocol: aclProto[r.IntN(len(aclProto))], Ports: model.PortRange{From: -1, To: -1}}
	if r.IntN(3) == 0 {
		e.Policy = drp
	}
	if e.Protocol == "tcp" || e.Protocol == "udp" {
		from := 20 + r.IntN(8)
		e.Ports = model.PortRange{From: from, To: from + r.IntN(4)}
		switch r.IntN(6) {
		case 0:
			e.Ports = model.PortRange{From: 1, To: 65535}
		case 1:
			e.Ports = model.PortRange{From: 1024, To: 65535}
		}
	}
	if r.IntN(4) == 0 {
		e.Cidr = netip.MustParsePrefix(aclC6[r.IntN(len(aclC6))])
	} else {
		e.Cidr = netip.MustParsePrefix(aclC4[r.IntN(len(aclC4))])
	}
	return e
}

// randACLPacket is a packet from an address of ENI from to one of ENI to,
// of one family. Between vSwitches, an address is sometimes replaced by a
// service address (exempt or just outside the exempt ranges): inside one
// vSwitch that would break the premise that addresses tell vSwitches apart.
func randACLPacket(r *rand.Rand, s aclWorldSpec, from, to string, crossVSwitch bool) (Packet, bool) {
	var fa, ta []netip.Addr
	v6 := r.IntN(3) == 0
	for _, a := range s.addrs[from] {
		if a.Is6() == v6 {
			fa = append(fa, a)
		}
	}
	for _, a := range s.addrs[to] {
		if a.Is6() == v6 {
			ta = append(ta, a)
		}
	}
	if len(fa) == 0 || len(ta) == 0 {
		return Packet{}, false
	}
	p := Packet{Src: fa[r.IntN(len(fa))], Dst: ta[r.IntN(len(ta))]}
	if crossVSwitch && !v6 && r.IntN(10) == 0 {
		p.Dst = netip.MustParseAddr([]string{"100.100.100.200", "100.100.2.130", "100.100.2.127", "100.100.2.144", "100.100.100.201"}[r.IntN(5)])
	}
	if crossVSwitch && !v6 && r.IntN(10) == 0 {
		p.Src = netip.MustParseAddr([]string{"100.100.100.200", "100.100.2.113", "100.100.2.111"}[r.IntN(3)])
	}
	p.Proto = []uint8{IPProtoTCP, IPProtoUDP, IPProtoTCP, IPProtoUDP, IPProtoICMP, IPProtoICMPv6, IPProtoGRE, 132}[r.IntN(8)]
	p.DstPort = uint16(18 + r.IntN(14))
	p.SrcPort = uint16(999 + r.IntN(6))
	switch r.IntN(8) {
	case 0:
		p.DstPort = uint16(1024 + r.IntN(60000))
	case 1:
		p.SrcPort, p.DstPort = 68, 67
	case 2:
		p.SrcPort, p.DstPort = 67, 68
	}
	return p, true
}

// bruteACL is an independent reading of SEMANTICS.md's network ACLs
// straight from the model, for one stage: the ACL of eni's vSwitch for a
// packet eni sends (egress) or receives (ingress) from/to other.
func bruteACL(w World, eni, other *model.ENI, dir Direction, p Packet) (bool, string) {
	vsw := w.VSwitch(eni.VSwitchID)
	if vsw == nil || vsw.NetworkAclID == "" || other.VSwitchID == eni.VSwitchID {
		return true, ""
	}
	peer := p.Src
	if dir == Egress {
		peer = p.Dst
	}
	for _, s := range []string{"100.100.2.128/28", "100.100.2.112/28", "100.100.100.200/32"} {
		if netip.MustParsePrefix(s).Contains(peer) {
			return true, ""
		}
	}
	if p.Proto == 17 && ((p.SrcPort == 67 && p.DstPort == 68) || (p.SrcPort == 68 && p.DstPort == 67)) {
		return true, ""
	}
	a := w.NetworkACL(vsw.NetworkAclID)
	if a == nil {
		return false, ""
	}
	entries := a.Ingress
	if dir == Egress {
		entries = a.Egress
	}
	for _, e := range entries {
		if !e.Cidr.Contains(peer) {
			continue
		}
		ok := false
		switch e.Protocol {
		case "tcp", "udp":
			want := uint8(6)
			if e.Protocol == "udp" {
				want = 17
			}
			ok = p.Proto == want && (e.Ports.From == -1 || (int(p.DstPort) >= e.Ports.From && int(p.DstPort) <= e.Ports.To))
		case "icmp":
			ok = (peer.Is4() && p.Proto == 1) || (peer.Is6() && p.Proto == 58)
		case "gre":
			ok = p.Proto == 47
		case "all":
			ok = true
		}
		if ok {
			return e.Policy == "accept", e.ID
		}
	}
	return false, ""
}

// TestACLDifferential compares, on random ACL+SG worlds, the evaluator's
// path decision with an independent brute-force reading of the ACLs and
// with the compiled program interpreted as the kernel runs it.
func TestACLDifferential(t *testing.T) {
	seed := testSeed(t)
	r := rand.New(rand.NewPCG(seed, 0xac1))
	worlds := 400
	if testing.Short() {
		worlds = 60
	}
	kinds := map[string]int{}
	for wi := range worlds {
		s := randACLWorld(r)
		ifaces := map[string]string{}
		for _, e := range s.enis {
			ifaces[e.ID] = "v" + e.ID
		}
		prog := Compile(s.w, ifaces)
		checkACLDisjoint(t, prog)
		for range 80 {
			if len(s.enis) < 2 {
				break
			}
			fi, ti := r.IntN(len(s.enis)), r.IntN(len(s.enis))
			if fi == ti {
				continue
			}
			from, to := s.enis[fi], s.enis[ti]
			p, ok := randACLPacket(r, s, from.ID, to.ID, from.VSwitchID != to.VSwitchID)
			if !ok {
				continue
			}
			d := Evaluate(s.w, from.ID, to.ID, p)
			bo, eo := bruteACL(s.w, &from, &to, Egress, p)
			bi, ei := bruteACL(s.w, &to, &from, Ingress, p)
			if d.ACLEgress.Allow != bo || d.ACLIngress.Allow != bi || d.ACLEgress.Reason.RuleID != eo || d.ACLIngress.Reason.RuleID != ei {
				t.Fatalf("world %d %s -> %s %+v: evaluator %v; brute force egress %v %q ingress %v %q", wi, from.ID, to.ID, p, d, bo, eo, bi, ei)
			}
			if got := runPath(t, prog, s.w, from.ID, to.ID, p); got != d.Allow {
				t.Fatalf("world %d %s -> %s %+v: compiled program allow=%v, evaluator %v\nACL chains: %s", wi, from.ID, to.ID, p, got, d, describeACLs(prog))
			}
			kinds[fmt.Sprintf("out:%v/%v", d.ACLEgress.Reason.Kind, d.ACLEgress.Allow)]++
			kinds[fmt.Sprintf("in:%v/%v", d.ACLIngress.Reason.Kind, d.ACLIngress.Allow)]++
			kinds[fmt.Sprintf("path/%v", d.Allow)]++
		}
	}
	t.Logf("decisions: %v", kinds)
	for _, k := range []string{"out:acl-entry/true", "out:acl-entry/false", "in:acl-entry/true", "in:acl-entry/false",
		"in:acl-default/false", "out:acl-same-vswitch/true", "out:acl-exempt/true", "in:acl-exempt/true", "in:no-acl/true", "in:unknown-acl/false"} {
		if kinds[k] == 0 {
			t.Errorf("no %s decision in %d worlds: the generator is too narrow", k, worlds)
		}
	}
}

func describeACLs(p *Program) string {
	var b strings.Builder
	for _, c := range p.ACLChains {
		fmt.Fprintf(&b, "\n%s missing=%v p4=%v a4=%v p6=%v a6=%v", c.Name, c.Missing, c.Ports4, c.Any4, c.Ports6, c.Any6)
	}
	return b.String()
}

// TestNftAcceptsACL asks nft, in check mode, to parse the ACL golden
// program and random ACL programs (the kernel validates the interval sets).
func TestNftAcceptsACL(t *testing.T) {
	nft, err := exec.LookPath("nft")
	if err != nil {
		t.Skip("nft not installed")
	}
	if os.Geteuid() != 0 {
		t.Skip("nft -c needs root")
	}
	check := func(name, script string) {
		t.Helper()
		f := filepath.Join(t.TempDir(), name+".nft")
		if err := os.WriteFile(f, []byte(script), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(nft, "-c", "-f", f)
		if un, err := exec.LookPath("unshare"); err == nil {
			cmd = exec.Command(un, "--net", nft, "-c", "-f", f)
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("nft -c rejects %s: %v\n%s\n--- script ---\n%s", name, err, out, script)
		}
	}
	w, ifaces := aclGoldenWorld()
	p := Compile(w, ifaces)
	p.GuardPrefix = "pv"
	check("golden", p.Render())
	seed := testSeed(t)
	r := rand.New(rand.NewPCG(seed, 11))
	for i := range 10 {
		s := randACLWorld(r)
		ifaces := map[string]string{}
		for _, e := range s.enis {
			ifaces[e.ID] = "v" + e.ID
		}
		check(fmt.Sprint("random", i), Compile(s.w, ifaces).Render())
	}
}
