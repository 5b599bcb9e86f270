package policy

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/ipspace"
	"github.com/palisade-project/palisade/internal/model"
)

// bruteForce is an independent, deliberately naive reading of SEMANTICS.md
// Part A straight from the model: no normalization, no sorting, the best
// matching rule is found by a linear minimum over (priority, drop first).
// It returns allow, the reason kind, and for rule verdicts the winning
// (priority, policy), which is all that is unambiguous under ties.
func bruteForce(w World, eniID string, dir Direction, p Packet) (bool, ReasonKind, int, string) {
	e := w.ENI(eniID)
	if e == nil {
		return false, ReasonUnknownENI, 0, ""
	}
	if len(e.SecurityGroupIDs) == 0 {
		return false, ReasonNoGroups, 0, ""
	}
	var gs []*model.SecurityGroup
	for _, id := range e.SecurityGroupIDs {
		g := w.Group(id)
		if g == nil {
			return false, ReasonUnknownGroup, 0, ""
		}
		gs = append(gs, g)
	}
	src, dst := p.Src.Unmap(), p.Dst.Unmap()
	if src.Is4() != dst.Is4() {
		return false, ReasonInvalidPacket, 0, ""
	}
	peer, local := src, dst
	if dir == Egress {
		peer, local = dst, src
	}
	// The ENI owning the peer address, in the ENI's VPC.
	owner := ""
	for _, id := range allENIs(w) {
		o := w.ENI(id)
		if o.VpcID != e.VpcID {
			continue
		}
		for _, a := range o.Addrs() {
			if a == peer {
				owner = id
			}
		}
	}
	memberOf := func(gid, eni string) bool {
		o, g := w.ENI(eni), w.Group(gid)
		return o != nil && g != nil && slices.Contains(o.SecurityGroupIDs, gid) && g.VpcID == o.VpcID
	}
	for _, g := range gs {
		if g.Type != model.GroupTypeAdvanced && g.InnerAccessPolicy != model.InnerDrop && owner != "" && memberOf(g.ID, owner) {
			return true, ReasonIntraGroup, 0, ""
		}
	}
	best := (*model.Rule)(nil)
	for _, g := range gs {
		for i := range g.Rules {
			r := &g.Rules[i]
			if r.Direction != string(dir) || !bruteMatch(r, peer, local, p, owner, memberOf) {
				continue
			}
			if best == nil || r.Priority < best.Priority || (r.Priority == best.Priority && r.Policy == model.PolicyDrop && best.Policy != model.PolicyDrop) {
				best = r
			}
		}
	}
	if best != nil {
		return best.Policy != model.PolicyDrop, ReasonRule, best.Priority, best.Policy
	}
	allBasic := true
	for _, g := range gs {
		allBasic = allBasic && g.Type != model.GroupTypeAdvanced
	}
	return dir == Egress && allBasic, ReasonDefault, 0, ""
}

func bruteMatch(r *model.Rule, peer, local netip.Addr, p Packet, owner string, memberOf func(string, string) bool) bool {
	switch r.Protocol {
	case "TCP", "UDP":
		want := uint8(6)
		if r.Protocol == "UDP" {
			want = 17
		}
		if p.Proto != want {
			return false
		}
		if !(r.Ports.From == -1 || (int(p.DstPort) >= r.Ports.From && int(p.DstPort) <= r.Ports.To)) {
			return false
		}
		if !(r.SourcePorts.IsZero() || (int(p.SrcPort) >= r.SourcePorts.From && int(p.SrcPort) <= r.SourcePorts.To)) {
			return false
		}
	case "ICMP":
		if p.Proto != 1 || !peer.Is4() {
			return false
		}
	case "ICMPv6":
		if p.Proto != 58 || peer.Is4() {
			return false
		}
	case "GRE":
		if p.Proto != 47 {
			return false
		}
	case "ALL":
	default:
		return false
	}
	if r.LocalCidr.IsValid() && !r.LocalCidr.Contains(local) {
		return false
	}
	switch {
	case r.PeerCidr.IsValid():
		return r.PeerCidr.Contains(peer)
	case r.PeerGroupID != "":
		return owner != "" && memberOf(r.PeerGroupID, owner)
	}
	return false
}

// allENIs lists the ENIs of a randWorld snapshot (the World interface has
// no enumeration; the brute force needs one).
func allENIs(w World) []string {
	var ids []string
	for i := range 8 {
		if id := fmt.Sprintf("eni-%d", i); w.ENI(id) != nil {
			ids = append(ids, id)
		}
	}
	return ids
}

var seedFlag = flag.Uint64("seed", 0, "seed for the randomized tests (0: time-based); each test logs the seed it used")

// testSeed returns the seed to use and logs it, so any failure can be
// replayed with -seed.
func testSeed(t *testing.T) uint64 {
	t.Helper()
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (replay with -seed %d)", seed, seed)
	return seed
}

// The random universe is small so that random packets often hit rules.
var (
	randV4 = []string{"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6", "10.0.1.9", "192.168.0.1"}
	randV6 = []string{"fd00::1", "fd00::2", "fd00::3", "fd00::4", "2001:db8::1"}
	randC4 = []string{"0.0.0.0/0", "10.0.0.0/24", "10.0.0.0/30", "10.0.0.4/31", "10.0.0.5/32", "10.0.0.2/32", "10.0.0.0/8", "192.168.0.0/16", "10.0.0.0/29"}
	randC6 = []string{"::/0", "fd00::/126", "fd00::2/128", "fd00::/8", "2001:db8::/32"}
	protos = []string{"TCP", "UDP", "ICMP", "ICMPv6", "GRE", "ALL"}
)

// randWorld builds one VPC with up to 6 ENIs and 4 groups of random rules,
// plus one ENI in another VPC that reuses an address.
func randWorld(r *rand.Rand) *Snapshot {
	ngroups := 1 + r.IntN(4)
	var groups []model.SecurityGroup
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
		groups = append(groups, g)
	}
	var enis []model.ENI
	addrs := r.Perm(6)
	for i := range 2 + r.IntN(5) {
		e := model.ENI{ID: fmt.Sprintf("eni-%d", i), VpcID: "vpc-1", PrimaryIP: netip.MustParseAddr(randV4[addrs[i]])}
		if i < 4 && r.IntN(2) == 0 {
			e.IPv6s = []netip.Addr{netip.MustParseAddr(randV6[i])}
		}
		if i == 0 && r.IntN(2) == 0 {
			e.SecondaryIPs = []netip.Addr{netip.MustParseAddr("10.0.1.9")}
		}
		// Groups of one type only, as the service enforces; sometimes none.
		adv := r.IntN(2) == 0
		for _, gi := range r.Perm(ngroups)[:r.IntN(ngroups+1)] {
			if (groups[gi].Type == model.GroupTypeAdvanced) == adv {
				e.SecurityGroupIDs = append(e.SecurityGroupIDs, groups[gi].ID)
			}
		}
		if len(e.SecurityGroupIDs) == 0 && r.IntN(4) != 0 {
			e.SecurityGroupIDs = []string{groups[0].ID}
			if groups[0].Type == model.GroupTypeAdvanced {
				// keep one type
				e.SecurityGroupIDs = []string{groups[0].ID}
			}
		}
		enis = append(enis, e)
	}
	// A foreign ENI with a clashing address in another VPC, member of sg-0.
	enis = append(enis, model.ENI{ID: "eni-7", VpcID: "vpc-2", PrimaryIP: netip.MustParseAddr("10.0.0.6"), SecurityGroupIDs: []string{"sg-0"}})
	return NewSnapshot(groups, enis)
}

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
	case r.IntN(20) == 0:
		ru.PeerPrefixListID = "pl-1"
	case v6:
		ru.PeerCidr = netip.MustParsePrefix(randC6[r.IntN(len(randC6))])
	default:
		ru.PeerCidr = netip.MustParsePrefix(randC4[r.IntN(len(randC4))])
	}
	if r.IntN(5) == 0 {
		if v6 {
			ru.LocalCidr = netip.MustParsePrefix(randC6[r.IntN(len(randC6))])
		} else {
			ru.LocalCidr = netip.MustParsePrefix(randC4[r.IntN(len(randC4))])
		}
	}
	return ru
}

func randPacket(r *rand.Rand) Packet {
	var p Packet
	if r.IntN(3) == 0 {
		p.Src = netip.MustParseAddr(randV6[r.IntN(len(randV6))])
		p.Dst = netip.MustParseAddr(randV6[r.IntN(len(randV6))])
	} else {
		p.Src = netip.MustParseAddr(randV4[r.IntN(len(randV4))])
		p.Dst = netip.MustParseAddr(randV4[r.IntN(len(randV4))])
	}
	p.Proto = []uint8{1, 6, 17, 47, 58, 132, 6, 17}[r.IntN(8)]
	p.DstPort = uint16(18 + r.IntN(14))
	p.SrcPort = uint16(999 + r.IntN(6))
	return p
}

// checkAll compares the evaluator with the brute force and with the
// compiled programs for one packet at every ENI, both directions.
func checkAll(t *testing.T, w *Snapshot, progs []*Program, p Packet, kinds map[string]int) {
	t.Helper()
	for _, id := range allENIs(w) {
		if w.ENI(id).VpcID != "vpc-1" {
			continue
		}
		for _, dir := range []Direction{Ingress, Egress} {
			d := EvaluateENI(w, id, dir, p)
			allow, kind, prio, pol := bruteForce(w, id, dir, p)
			if d.Allow != allow || d.Reason.Kind != kind || (kind == ReasonRule && (d.Reason.Priority != prio || d.Reason.Policy != pol)) {
				t.Fatalf("%s %s %+v: evaluator %v (%+v), brute force allow=%v %v prio=%d %s", id, dir, p, d, d.Reason, allow, kind, prio, pol)
			}
			if kinds != nil {
				kinds[fmt.Sprintf("%v/%v", d.Reason.Kind, d.Allow)]++
			}
			for _, prog := range progs {
				if got := runProgram(t, prog, w, id, dir, p); got != d.Allow {
					t.Fatalf("%s %s %+v: compiled program (%d flats, %d classes) allow=%v, evaluator %v", id, dir, p, len(prog.Flats), len(prog.Classes), got, d)
				}
			}
		}
	}
}

func ifacesOf(w *Snapshot) map[string]string {
	m := map[string]string{}
	for _, id := range allENIs(w) {
		if w.ENI(id).VpcID == "vpc-1" {
			m[id] = "v" + id
		}
	}
	return m
}

func TestDifferential(t *testing.T) {
	seed := testSeed(t)
	r := rand.New(rand.NewPCG(seed, 0x9a115ade))
	worlds := 300
	if testing.Short() {
		worlds = 50
	}
	kinds := map[string]int{}
	for range worlds {
		w := randWorld(r)
		progs := diffPrograms(t, w, r.IntN(12))
		for range 60 {
			checkAll(t, w, progs, randPacket(r), kinds)
		}
	}
	// The mix shows the random worlds exercise every outcome.
	t.Logf("decisions: %v", kinds)
	for _, k := range []string{"rule/true", "rule/false", "intra-group/true", "default/true", "default/false"} {
		if kinds[k] == 0 {
			t.Errorf("no %s decision in %d worlds: the generator is too narrow", k, worlds)
		}
	}
}

func FuzzEvaluate(f *testing.F) {
	f.Add(uint64(1), uint8(6), uint8(0), uint8(1), uint16(22), uint16(1000), false)
	f.Add(uint64(2), uint8(58), uint8(2), uint8(3), uint16(0), uint16(0), true)
	f.Add(uint64(3), uint8(1), uint8(4), uint8(4), uint16(25), uint16(1001), false)
	f.Fuzz(func(t *testing.T, seed uint64, proto, src, dst uint8, dport, sport uint16, v6 bool) {
		w := randWorld(rand.New(rand.NewPCG(seed, 1)))
		progs := diffPrograms(t, w, int(seed%12))
		prog := progs[0]
		p := Packet{Proto: proto, DstPort: dport, SrcPort: sport}
		if v6 {
			p.Src = netip.MustParseAddr(randV6[int(src)%len(randV6)])
			p.Dst = netip.MustParseAddr(randV6[int(dst)%len(randV6)])
		} else {
			p.Src = netip.MustParseAddr(randV4[int(src)%len(randV4)])
			p.Dst = netip.MustParseAddr(randV4[int(dst)%len(randV4)])
		}
		checkAll(t, w, progs, p, nil)
		_ = prog.Render()
	})
}

// diffPrograms compiles w three ways: flattened (the default bound), all
// fallback classes (bound -1), and mixed (a small bound, so group sets
// whose flattening is larger fall back).
func diffPrograms(t *testing.T, w *Snapshot, small int) []*Program {
	t.Helper()
	ifaces := ifacesOf(w)
	progs := []*Program{Compile(w, ifaces), compile(w, ifaces, -1), compile(w, ifaces, small)}
	for _, p := range progs {
		checkDisjoint(t, p)
	}
	if len(progs[1].Flats) != 0 {
		t.Fatalf("bound -1 left flats: %v", progs[1].Flats[0].Name)
	}
	return progs
}

// runProgram interprets a compiled program the way the rendered nftables
// rules act on a new flow, so the compiler is checked against the evaluator
// without a kernel.
func runProgram(t *testing.T, p *Program, _ World, eniID string, dir Direction, pkt Packet) bool {
	t.Helper()
	var ep *ENIProgram
	for i := range p.ENIs {
		if p.ENIs[i].ENIID == eniID {
			ep = &p.ENIs[i]
		}
	}
	if ep == nil {
		t.Fatalf("ENI %s not compiled", eniID)
	}
	src, dst := pkt.Src.Unmap(), pkt.Dst.Unmap()
	if ep.Failed != "" || !src.IsValid() || !dst.IsValid() || src.Is4() != dst.Is4() {
		return false
	}
	ch, peer, local := ep.Ingress, src, dst
	if dir == Egress {
		ch, peer, local = ep.Egress, dst, src
	}
	members := map[string]MemberSet{}
	for _, m := range p.MemberSets {
		members[m.GroupID] = m
	}
	inSet := func(gid string) bool {
		m, ok := members[gid]
		if !ok {
			t.Fatalf("member set of %s missing", gid)
		}
		return slices.Contains(m.V4, peer) || slices.Contains(m.V6, peer)
	}
	for _, gid := range ch.IntraGroups {
		if inSet(gid) {
			return true
		}
	}
	if ch.Flat != "" {
		if len(ch.Classes) != 0 {
			t.Fatalf("chain %s has a flat and classes", ch.Name)
		}
		var f *Flat
		for _, x := range p.Flats {
			if x.Name == ch.Flat {
				f = x
			}
		}
		if f == nil || f.Dir != dir {
			t.Fatalf("flat %s of %s missing", ch.Flat, ch.Name)
		}
		es := f.Any4
		tcpudp := pkt.Proto == IPProtoTCP || pkt.Proto == IPProtoUDP
		switch {
		case tcpudp && peer.Is4():
			es = f.Ports4
		case tcpudp:
			es = f.Ports6
		case peer.Is6():
			es = f.Any6
		}
		hits := 0
		allow := ch.DefaultAllow
		for _, e := range es {
			if elemHas(e.Element, peer, local, pkt, tcpudp) {
				hits++
				allow = !e.Drop
			}
		}
		if hits > 1 {
			t.Fatalf("flat %s: %d elements hold %+v", f.Name, hits, pkt)
		}
		return allow
	}
	classes := map[string]*Class{}
	for _, c := range p.Classes {
		classes[c.Name] = c
	}
	for _, name := range ch.Classes {
		c := classes[name]
		if c == nil {
			t.Fatalf("class %s missing", name)
		}
		if classMatches(c, inSet, peer, local, pkt) {
			return !c.Drop
		}
	}
	return ch.DefaultAllow
}

// elemHas reports whether the packet's key is in e (ports only with ports).
func elemHas(e Element, peer, local netip.Addr, pkt Packet, ports bool) bool {
	within := func(r AddrRange, a netip.Addr) bool {
		return r.From.Is4() == a.Is4() && r.From.Compare(a) <= 0 && a.Compare(r.To) <= 0
	}
	inR := func(r Range, v uint16) bool { return r.From <= v && v <= r.To }
	return within(e.Peer, peer) && inR(e.Proto, uint16(pkt.Proto)) && within(e.Local, local) &&
		(!ports || (inR(e.DPort, pkt.DstPort) && inR(e.SPort, pkt.SrcPort)))
}

func classMatches(c *Class, inSet func(string) bool, peer, local netip.Addr, pkt Packet) bool {
	within := func(r AddrRange, a netip.Addr) bool {
		return r.From.Is4() == a.Is4() && r.From.Compare(a) <= 0 && a.Compare(r.To) <= 0
	}
	inR := func(r Range, v uint16) bool { return r.From <= v && v <= r.To }
	elem := func(es []Element, ports bool) bool {
		for _, e := range es {
			if within(e.Peer, peer) && inR(e.Proto, uint16(pkt.Proto)) && within(e.Local, local) &&
				(!ports || (inR(e.DPort, pkt.DstPort) && inR(e.SPort, pkt.SrcPort))) {
				return true
			}
		}
		return false
	}
	tcpudp := pkt.Proto == IPProtoTCP || pkt.Proto == IPProtoUDP
	if peer.Is4() && ((tcpudp && elem(c.Ports4, true)) || elem(c.Any4, false)) {
		return true
	}
	if peer.Is6() && ((tcpudp && elem(c.Ports6, true)) || elem(c.Any6, false)) {
		return true
	}
	for _, r := range c.Refs {
		if (peer.Is4() && !r.V4) || (peer.Is6() && !r.V6) || !inSet(r.PeerGroupID) || !inR(r.Proto, uint16(pkt.Proto)) {
			continue
		}
		if r.Ports && (!inR(r.DPort, pkt.DstPort) || !inR(r.SPort, pkt.SrcPort)) {
			continue
		}
		if r.Local.IsValid() && !r.Local.Contains(local) {
			continue
		}
		return true
	}
	return false
}

// checkDisjoint asserts what the kernel requires of interval sets and
// maps: no two elements of one set overlap.
func checkDisjoint(t *testing.T, p *Program) {
	t.Helper()
	for _, f := range p.Flats {
		for _, fes := range [][]FlatElement{f.Ports4, f.Ports6, f.Any4, f.Any6} {
			for i := range fes {
				for j := range i {
					if elemOverlap(fes[i].Element, fes[j].Element) {
						t.Fatalf("flat %s: elements overlap: %+v and %+v", f.Name, fes[i], fes[j])
					}
				}
			}
		}
	}
	for _, c := range p.Classes {
		for _, es := range [][]Element{c.Ports4, c.Ports6, c.Any4, c.Any6} {
			for i := range es {
				for j := range i {
					if elemOverlap(es[i], es[j]) {
						t.Fatalf("class %s: elements overlap: %+v and %+v", c.Name, es[i], es[j])
					}
				}
			}
		}
	}
}

func elemOverlap(a, b Element) bool {
	ar := func(x, y AddrRange) bool { return x.From.Compare(y.To) <= 0 && y.From.Compare(x.To) <= 0 }
	rr := func(x, y Range) bool { return x.From <= y.To && y.From <= x.To }
	return ar(a.Peer, b.Peer) && rr(a.Proto, b.Proto) && rr(a.DPort, b.DPort) && rr(a.SPort, b.SPort) && ar(a.Local, b.Local)
}

// TestBoxMinus checks the box subtraction directly on a small grid: the
// pieces must be disjoint, inside a, outside b, and cover a \ b.
func TestBoxMinus(t *testing.T) {
	seed := testSeed(t)
	r := rand.New(rand.NewPCG(seed, 7))
	rnd := func() box {
		var b box
		for i := range b {
			lo := uint64(r.IntN(6))
			b[i] = ival{Lo: ipspace.U64(lo), Hi: ipspace.U64(lo + uint64(r.IntN(3)))}
		}
		return b
	}
	for range 200 {
		a, b := rnd(), rnd()
		pieces := a.minus(b)
		for range 200 {
			var pt box
			for i := range pt {
				v := ipspace.U64(uint64(r.IntN(9)))
				pt[i] = ival{Lo: v, Hi: v}
			}
			want := pt.overlaps(a) && !pt.overlaps(b)
			n := 0
			for _, p := range pieces {
				if pt.overlaps(p) {
					n++
				}
			}
			if (n == 1) != want || n > 1 {
				t.Fatalf("a=%v b=%v point %v: in %d pieces, want in a\\b=%v", a, b, pt, n, want)
			}
		}
	}
}

func TestAsPrefix(t *testing.T) {
	for _, c := range []struct{ from, to, want string }{
		{"10.0.0.0", "10.0.0.255", "10.0.0.0/24"},
		{"0.0.0.0", "255.255.255.255", "0.0.0.0/0"},
		{"10.0.0.1", "10.0.0.1", "10.0.0.1"},
		{"10.0.0.1", "10.0.0.2", "10.0.0.1-10.0.0.2"},
		{"10.0.0.0", "10.0.0.2", "10.0.0.0-10.0.0.2"},
		{"::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "::/0"},
		{"fd00::", "fd00::ffff:ffff:ffff:ffff", "fd00::/64"},
		{"fd00::1", "fd00::4", "fd00::1-fd00::4"},
	} {
		got := addrRange(AddrRange{netip.MustParseAddr(c.from), netip.MustParseAddr(c.to)})
		if got != c.want {
			t.Errorf("%s-%s: got %s, want %s", c.from, c.to, got, c.want)
		}
	}
	// Round trip prefixes through ivals.
	for _, s := range []string{"10.1.2.0/23", "fd00:1::/33", "::/0", "1.2.3.4/32", "fd00::1/128", "8000::/1"} {
		p := netip.MustParsePrefix(s)
		fam := fam6
		if p.Addr().Is4() {
			fam = fam4
		}
		got, ok := ipspace.PrefixInterval(p).AsPrefix(fam)
		if !ok || got != p {
			t.Errorf("%s: round trip gave %v %v", s, got, ok)
		}
	}
}
