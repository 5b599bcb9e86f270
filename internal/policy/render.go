package policy

import (
	"fmt"
	"hash/fnv"
	"net/netip"
	"strings"

	"github.com/palisade-project/palisade/internal/ipspace"
)

// Names of the nftables objects Render makes besides classes, member sets
// and ENI chains.
const (
	TableName = "palisade"
	// GuardTable is the loader's table beside TableName (see GuardMark).
	GuardTable = "palisade_guard"
	// The guard table, at a later forward priority than the program,
	// passes forwarded packets whose flow carries a conntrack mark (the
	// program's commit chain stamps every flow it lets through, see
	// GenSet; a generation is never 0) and drops other ENI traffic. So a
	// namespace whose program table is gone (deleted by hand) forwards no
	// new flow from or to ENIs until the table is loaded again, rather
	// than every flow (fail closed), while the flows the program had let
	// through go on. The stamp costs nothing more: the program writes it
	// once per flow, where a packet mark would be written on every packet.
	//
	// GuardMark: the router's own packets have no stamp at their first
	// packet (the output hook comes before the program's commit), so the
	// program's output chain (Transparent) ORs GuardMark into their packet
	// mark and the guard table's output chain drops the WAF's upstream
	// packets without it.
	GuardMark = 0x00100000
	// EgressChain is the security groups' one forward-hook chain (the
	// egress stage); IngressChain, the ingress stage, is where its passes
	// go (see Render).
	EgressChain   = "sg_egress"
	IngressChain  = "sg_ingress"
	EgressIfaces  = "sg_out_ifaces"
	IngressIfaces = "sg_in_ifaces"
	// ACLChain is the base chain of network ACLs (forward hook, before
	// the security-group chains, stateless), rendered only when some ENI's
	// vSwitch has an ACL; it dispatches on the interface maps below.
	ACLBaseChain     = "acl_forward"
	ACLEgressIfaces  = "acl_out_ifaces"
	ACLIngressIfaces = "acl_in_ifaces"

	// The verdict cache of flows that are not established yet (an
	// unreplied UDP stream, a TCP handshake): every pass of the ingress
	// stage (which runs after the egress stage) goes to the commit chain,
	// which stamps a new flow with the program's generation in its
	// conntrack mark and accepts; so does a packet the ingress stage lets
	// through without an ENI verdict. The base chain accepts later packets
	// of a flow whose mark is in GenSet without looking the rules up
	// again. The generation is a hash of the rest of
	// the program, so any change (a rule, a member, an ENI) makes every
	// stamp stale and the next packet of each such flow meets the rules
	// again; established flows the change denies are cut from conntrack by
	// the agent as before. Palisade owns the conntrack mark of flows in
	// VPC namespaces.
	GenSet      = "sg_gen"
	GenMap      = "sg_genmark"
	CommitChain = "sg_commit"
)

// Drop logging for flow logs (issue 6). Every policy drop of the
// security-group and network-ACL stages goes to a deny chain of its stage
// and direction (DenyChain) instead of dropping in place. The deny chain
// drops too, but first, when the dropping ENI or (for ingress stages) the
// sending ENI is in the set FlowLogIfaces (the interfaces of ENIs covered
// by an active flow log: an element change turns capture on or off), it
// hands the packet to NFLOG group FlowLogGroup with the prefix
// FlowLogPrefix(stage, dir), rate-limited to FlowLogRate packets per
// second per stage and direction; what the limit keeps from NFLOG is
// counted in the named counter FlowLogOverCounter, what is logged in
// FlowLogLoggedCounter (capture compares it with what it received).
// Verdicts are unchanged: every deny chain ends in drop.
const (
	FlowLogIfaces        = "flowlog_ifaces"
	FlowLogGroup         = 7
	FlowLogRate          = 20000
	FlowLogBurst         = 2000
	FlowLogSnaplen       = 128
	FlowLogOverCounter   = "flowlog_over"
	FlowLogLoggedCounter = "flowlog_logged"
	// Deny stages as they appear in prefixes and chain names.
	StageSG  = "sg"
	StageACL = "acl"
)

// DenyChain is the chain a drop of the stage (StageSG or StageACL) and
// direction goes to.
func DenyChain(stage string, dir Direction) string {
	return "fl_" + stage + "_" + dirShort(dir)
}

// FlowLogPrefix is the NFLOG prefix of drops of the stage and direction:
// "palisade <stage> <in|out>".
func FlowLogPrefix(stage string, dir Direction) string {
	return "palisade " + stage + " " + dirShort(dir)
}

func dirShort(dir Direction) string {
	if dir == Egress {
		return "out"
	}
	return "in"
}

// renderDeny prints the flow-log counters, the covered-interface set and
// the deny chains with their logging chains (those of the ACL stage only
// when there are ACLs). Accepted packets are counted by capture's own
// table (see flowlog/capture), not here.
func (p *Program) renderDeny(b *strings.Builder) {
	fmt.Fprintf(b, "\tcounter %s {\n\t}\n\tcounter %s {\n\t}\n", FlowLogOverCounter, FlowLogLoggedCounter)
	renderSet(b, FlowLogIfaces, "ifname", false, quoted(p.FlowLogIfaces))
	stages := []string{StageSG}
	if len(p.VSwitchChains) > 0 {
		stages = []string{StageACL, StageSG}
	}
	for _, stage := range stages {
		for _, dir := range []Direction{Ingress, Egress} {
			name := DenyChain(stage, dir)
			fmt.Fprintf(b, "\tchain %s_log {\n", name)
			fmt.Fprintf(b, "\t\tlimit rate over %d/second burst %d packets counter name %q drop\n", FlowLogRate, FlowLogBurst, FlowLogOverCounter)
			fmt.Fprintf(b, "\t\tcounter name %q log prefix %q group %d snaplen %d drop\n", FlowLogLoggedCounter, FlowLogPrefix(stage, dir), FlowLogGroup, FlowLogSnaplen)
			b.WriteString("\t}\n")
			fmt.Fprintf(b, "\tchain %s {\n", name)
			if dir == Ingress {
				// The receiver's ingress record (REJECT) and the
				// sender's egress record (its own decision).
				fmt.Fprintf(b, "\t\toifname @%s goto %s_log\n", FlowLogIfaces, name)
			}
			fmt.Fprintf(b, "\t\tiifname @%s goto %s_log\n", FlowLogIfaces, name)
			b.WriteString("\t\tdrop\n\t}\n")
		}
	}
}

func quoted(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}

// Render prints the program as an nftables script for `nft -f`: one table
// inet palisade holding member sets, class sets and chains (fallback), flat
// verdict maps, ENI chains, two interface verdict maps and one forward-hook
// base chain. The output is a function of the program only, so it can be
// compared with golden files.
//
// One base chain, because every hook a packet meets costs (about 5% of
// the small-packet rate each): sg_egress accepts packets of flows the
// verdict cache vouches for (see GenSet), then established and related
// packets (stateful; a flow stamped under an earlier program), then
// dispatches on the input interface to the sending
// ENI's egress chain. Every egress pass goes to the chain sg_ingress (a
// goto: whatever depth of jumps it is reached from, the verdict there is
// final), which dispatches on the output interface to the receiving ENI's
// ingress chain; every ingress pass goes to sg_commit, which stamps a new
// flow for the verdict cache and accepts. A drop anywhere is final. A
// packet whose interface is in neither map is not a security-group
// matter here: it goes through both stages to sg_commit.
func (p *Program) Render() string {
	var body strings.Builder
	p.renderBody(&body)
	var b strings.Builder
	b.WriteString("# Generated by palisade from security groups; do not edit.\n")
	fmt.Fprintf(&b, "table inet %s {\n", TableName)
	renderGeneration(&b, generation(body.String()))
	b.WriteString(body.String())
	b.WriteString("}\n")
	return b.String()
}

// Generation is the program's verdict-cache stamp, the element Render
// writes into GenSet (for builders of the same table through netlink).
func (p *Program) Generation() uint32 {
	var body strings.Builder
	p.renderBody(&body)
	return generation(body.String())
}

// generation is the program's stamp for the verdict cache (see GenSet):
// FNV-1a of everything else in the table, never 0 (the mark of flows
// nothing stamped).
func generation(body string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(body))
	if g := h.Sum32(); g != 0 {
		return g
	}
	return 1
}

func renderGeneration(b *strings.Builder, gen uint32) {
	fmt.Fprintf(b, "\tset %s {\n\t\ttype mark\n\t\telements = {\n\t\t\t0x%08x\n\t\t}\n\t}\n", GenSet, gen)
	fmt.Fprintf(b, "\tmap %s {\n\t\ttype nf_proto : mark\n\t\telements = {\n\t\t\tipv4 : 0x%08[2]x,\n\t\t\tipv6 : 0x%08[2]x\n\t\t}\n\t}\n", GenMap, gen)
}

func (p *Program) renderBody(b *strings.Builder) {
	for _, m := range p.MemberSets {
		renderSet(b, m.Name4, "ipv4_addr", false, addrStrings(m.V4))
		renderSet(b, m.Name6, "ipv6_addr", false, addrStrings(m.V6))
	}
	members := map[string]MemberSet{}
	for _, m := range p.MemberSets {
		members[m.GroupID] = m
	}
	for _, c := range p.Classes {
		renderClass(b, c, members)
	}
	for _, f := range p.Flats {
		renderFlat(b, f)
	}
	for _, e := range p.ENIs {
		if e.Failed != "" {
			continue
		}
		renderENIChain(b, e.Ingress, Ingress, members)
		renderENIChain(b, e.Egress, Egress, members)
	}
	renderMap(b, IngressIfaces, p.ENIs, func(e ENIProgram) string { return e.Ingress.Name })
	renderMap(b, EgressIfaces, p.ENIs, func(e ENIProgram) string { return e.Egress.Name })
	renderBase(b, p.GuardPrefix)
	fmt.Fprintf(b, "\tchain %s {\n", CommitChain)
	fmt.Fprintf(b, "\t\tct state new ct mark != @%s ct mark set meta nfproto map @%s\n\t\taccept\n\t}\n", GenSet, GenMap)
	p.renderACLs(b)
	p.renderDeny(b)
	p.renderTransparent(b)
}

// renderACLs prints the network ACL part: per ACL direction four accept
// sets (always present, possibly empty, so that a changed entry list is a
// change of set elements only: see Incremental) and a chain that returns
// for their elements and drops the rest; per vSwitch direction a chain
// that returns for traffic staying in the vSwitch and exempt traffic and
// goes to the ACL's chain; two interface maps and the base chain. The base
// chain has no "ct state established accept": ACLs are stateless, every
// packet passes them, and a verdict of return (not accept) lets the
// ingress lookup follow the egress one. It hooks forward at priority
// filter - 1, so security groups only see what the ACLs passed.
func (p *Program) renderACLs(b *strings.Builder) {
	if len(p.VSwitchChains) == 0 {
		return
	}
	for _, c := range p.ACLChains {
		renderACLChain(b, c)
	}
	for _, v := range p.VSwitchChains {
		renderVSwitchChain(b, v)
	}
	renderACLMap(b, ACLIngressIfaces, p.ENIs, func(e ENIProgram) string { return e.ACLIngress })
	renderACLMap(b, ACLEgressIfaces, p.ENIs, func(e ENIProgram) string { return e.ACLEgress })
	fmt.Fprintf(b, "\tchain %s {\n", ACLBaseChain)
	b.WriteString("\t\ttype filter hook forward priority filter - 1; policy accept;\n")
	fmt.Fprintf(b, "\t\tiifname vmap @%s\n", ACLEgressIfaces)
	fmt.Fprintf(b, "\t\toifname vmap @%s\n", ACLIngressIfaces)
	b.WriteString("\t}\n")
}

func renderACLChain(b *strings.Builder, c *ACLChain) {
	peer := "saddr"
	if c.Dir == Egress {
		peer = "daddr"
	}
	if c.Missing {
		fmt.Fprintf(b, "\tchain %s {\n\t\tgoto %s comment \"unknown network ACL\"\n\t}\n", c.Name, DenyChain(StageACL, c.Dir))
		return
	}
	type aset struct {
		suffix, addr, ip string
		ports            bool
		elems            []ACLElement
	}
	sets := []aset{
		{"_p4", "ipv4_addr", "ip", true, c.Ports4},
		{"_p6", "ipv6_addr", "ip6", true, c.Ports6},
		{"_a4", "ipv4_addr", "ip", false, c.Any4},
		{"_a6", "ipv6_addr", "ip6", false, c.Any6},
	}
	for _, s := range sets {
		typ := s.addr + " . inet_proto"
		if s.ports {
			typ += " . inet_service"
		}
		elems := make([]string, 0, len(s.elems))
		for _, e := range s.elems {
			el := addrRange(e.Peer) + " . " + rng(e.Proto)
			if s.ports {
				el += " . " + rng(e.DPort)
			}
			elems = append(elems, el)
		}
		renderSet(b, c.Name+s.suffix, typ, true, elems)
	}
	fmt.Fprintf(b, "\tchain %s {\n", c.Name)
	for _, s := range sets {
		if s.ports {
			fmt.Fprintf(b, "\t\tmeta l4proto { tcp, udp } %s %s . meta l4proto . th dport @%s%s return\n", s.ip, peer, c.Name, s.suffix)
		} else {
			fmt.Fprintf(b, "\t\tmeta l4proto != { tcp, udp } %s %s . meta l4proto @%s%s return\n", s.ip, peer, c.Name, s.suffix)
		}
	}
	fmt.Fprintf(b, "\t\tgoto %s\n\t}\n", DenyChain(StageACL, c.Dir))
}

func renderVSwitchChain(b *strings.Builder, v VSwitchChain) {
	peer := "saddr"
	if v.Dir == Egress {
		peer = "daddr"
	}
	fmt.Fprintf(b, "\tchain %s {\n", v.Name)
	for _, l := range v.Local {
		ip := "ip"
		if l.Addr().Is6() {
			ip = "ip6"
		}
		fmt.Fprintf(b, "\t\t%s %s %s return\n", ip, peer, l)
	}
	ex := make([]string, 0, len(aclExempt))
	for _, e := range aclExempt {
		ex = append(ex, addrRange(AddrRange{e.Addr(), ipspace.ToAddr(ipspace.PrefixInterval(e).Hi, fam4)}))
	}
	fmt.Fprintf(b, "\t\tip %s { %s } return\n", peer, strings.Join(ex, ", "))
	fmt.Fprintf(b, "\t\tudp sport . udp dport { %d . %d, %d . %d } return\n", dhcpClient, dhcpServer, dhcpServer, dhcpClient)
	fmt.Fprintf(b, "\t\tgoto %s\n\t}\n", v.ACL)
}

func renderACLMap(b *strings.Builder, name string, enis []ENIProgram, chain func(ENIProgram) string) {
	fmt.Fprintf(b, "\tmap %s {\n\t\ttype ifname : verdict\n", name)
	var elems []string
	for _, e := range enis {
		if e.IfName != "" && chain(e) != "" {
			elems = append(elems, fmt.Sprintf("%q : jump %s", e.IfName, chain(e)))
		}
	}
	if len(elems) > 0 {
		fmt.Fprintf(b, "\t\telements = {\n\t\t\t%s\n\t\t}\n", strings.Join(elems, ",\n\t\t\t"))
	}
	b.WriteString("\t}\n")
}

func renderSet(b *strings.Builder, name, typ string, interval bool, elems []string) {
	fmt.Fprintf(b, "\tset %s {\n\t\ttype %s\n", name, typ)
	if interval {
		b.WriteString("\t\tflags interval\n")
	}
	if len(elems) > 0 {
		b.WriteString("\t\telements = {\n")
		for i, e := range elems {
			sep := ","
			if i == len(elems)-1 {
				sep = ""
			}
			fmt.Fprintf(b, "\t\t\t%s%s\n", e, sep)
		}
		b.WriteString("\t\t}\n")
	}
	b.WriteString("\t}\n")
}

// classSet is one non-empty set of a class: name suffix, family and
// whether the key carries ports.
type classSet struct {
	suffix string
	v6     bool
	ports  bool
	elems  []Element
}

func classSets(c *Class) []classSet {
	var out []classSet
	for _, s := range []classSet{
		{"_p4", false, true, c.Ports4},
		{"_p6", true, true, c.Ports6},
		{"_a4", false, false, c.Any4},
		{"_a6", true, false, c.Any6},
	} {
		if len(s.elems) > 0 {
			out = append(out, s)
		}
	}
	return out
}

func renderClass(b *strings.Builder, c *Class, members map[string]MemberSet) {
	sets := classSets(c)
	for _, s := range sets {
		addr := "ipv4_addr"
		if s.v6 {
			addr = "ipv6_addr"
		}
		typ := addr + " . inet_proto . " + addr
		if s.ports {
			typ = addr + " . inet_proto . inet_service . inet_service . " + addr
		}
		elems := make([]string, 0, len(s.elems))
		for _, e := range s.elems {
			parts := []string{addrRange(e.Peer), rng(e.Proto)}
			if s.ports {
				parts = append(parts, rng(e.DPort), rng(e.SPort))
			}
			elems = append(elems, strings.Join(append(parts, addrRange(e.Local)), " . "))
		}
		renderSet(b, c.Name+s.suffix, typ, true, elems)
	}
	verdict := passVerdict(c.Dir)
	if c.Drop {
		verdict = "goto " + DenyChain(StageSG, c.Dir)
	}
	peerDir, localDir := "saddr", "daddr"
	if c.Dir == Egress {
		peerDir, localDir = "daddr", "saddr"
	}
	fmt.Fprintf(b, "\tchain %s {\n", c.Name)
	for _, s := range sets {
		ip := "ip"
		if s.v6 {
			ip = "ip6"
		}
		key := fmt.Sprintf("%s %s . meta l4proto . %s %s", ip, peerDir, ip, localDir)
		pre := ""
		if s.ports {
			key = fmt.Sprintf("%s %s . meta l4proto . th dport . th sport . %s %s", ip, peerDir, ip, localDir)
			pre = "meta l4proto { tcp, udp } "
		}
		fmt.Fprintf(b, "\t\t%s%s @%s%s %s\n", pre, key, c.Name, s.suffix, verdict)
	}
	for _, r := range c.Refs {
		m := members[r.PeerGroupID]
		for _, v6 := range []bool{false, true} {
			if (!v6 && !r.V4) || (v6 && !r.V6) {
				continue
			}
			ip, set := "ip", m.Name4
			if v6 {
				ip, set = "ip6", m.Name6
			}
			parts := []string{fmt.Sprintf("%s %s @%s", ip, peerDir, set)}
			if r.Proto != (Range{0, 255}) {
				parts = append(parts, "meta l4proto "+rng(r.Proto))
			}
			if r.Ports && r.DPort != (Range{0, 65535}) {
				parts = append(parts, "th dport "+rng(r.DPort))
			}
			if r.Ports && r.SPort != (Range{0, 65535}) {
				parts = append(parts, "th sport "+rng(r.SPort))
			}
			if r.Local.IsValid() {
				parts = append(parts, fmt.Sprintf("%s %s %s", ip, localDir, r.Local))
			}
			comment := ""
			if r.RuleID != "" { // nft refuses an empty comment
				comment = fmt.Sprintf(" comment %q", r.RuleID)
			}
			fmt.Fprintf(b, "\t\t%s %s%s\n", strings.Join(parts, " "), verdict, comment)
		}
	}
	b.WriteString("\t}\n")
}

// passVerdict is what a pass of a security-group stage does: egress goes
// on to the ingress stage, ingress commits the flow to the verdict cache
// and accepts (see GenSet).
func passVerdict(dir Direction) string {
	if dir == Ingress {
		return "goto " + CommitChain
	}
	return "goto " + IngressChain
}

func renderENIChain(b *strings.Builder, ch ChainProgram, dir Direction, members map[string]MemberSet) {
	peerDir := "saddr"
	if dir == Egress {
		peerDir = "daddr"
	}
	fmt.Fprintf(b, "\tchain %s {\n", ch.Name)
	for _, gid := range ch.IntraGroups {
		m := members[gid]
		fmt.Fprintf(b, "\t\tip %s @%s %s\n", peerDir, m.Name4, passVerdict(dir))
		fmt.Fprintf(b, "\t\tip6 %s @%s %s\n", peerDir, m.Name6, passVerdict(dir))
	}
	if ch.Flat != "" {
		for _, s := range flatKeys(ch.Flat, dir) {
			fmt.Fprintf(b, "\t\t%s vmap @%s\n", s.match, s.name)
		}
	}
	for _, c := range ch.Classes {
		fmt.Fprintf(b, "\t\tjump %s\n", c)
	}
	if ch.DefaultAllow {
		fmt.Fprintf(b, "\t\t%s\n", passVerdict(dir))
	} else {
		fmt.Fprintf(b, "\t\tgoto %s\n", DenyChain(StageSG, dir))
	}
	b.WriteString("\t}\n")
}

// flatKey is one of the four maps of a flat: its name, nft key type and
// the rule that looks a packet up in it.
type flatKey struct {
	name, typ, match string
	ports            bool
}

func flatKeys(name string, dir Direction) []flatKey {
	peerDir, localDir := "saddr", "daddr"
	if dir == Egress {
		peerDir, localDir = "daddr", "saddr"
	}
	var out []flatKey
	for _, k := range []struct {
		suffix, ip, addr string
		ports            bool
	}{
		{"_p4", "ip", "ipv4_addr", true},
		{"_p6", "ip6", "ipv6_addr", true},
		{"_a4", "ip", "ipv4_addr", false},
		{"_a6", "ip6", "ipv6_addr", false},
	} {
		fk := flatKey{name: name + k.suffix, ports: k.ports}
		if k.ports {
			fk.typ = k.addr + " . inet_proto . inet_service . inet_service . " + k.addr
			fk.match = fmt.Sprintf("meta l4proto { tcp, udp } %[1]s %[2]s . meta l4proto . th dport . th sport . %[1]s %[3]s", k.ip, peerDir, localDir)
		} else {
			fk.typ = k.addr + " . inet_proto . " + k.addr
			fk.match = fmt.Sprintf("meta l4proto != { tcp, udp } %[1]s %[2]s . meta l4proto . %[1]s %[3]s", k.ip, peerDir, localDir)
		}
		out = append(out, fk)
	}
	return out
}

// renderFlat prints the four verdict maps of a flat, empty ones included
// (so that changes of rules and members stay changes of elements).
func renderFlat(b *strings.Builder, f *Flat) {
	elems := [][]FlatElement{f.Ports4, f.Ports6, f.Any4, f.Any6}
	for i, k := range flatKeys(f.Name, f.Dir) {
		fmt.Fprintf(b, "\tmap %s {\n\t\ttype %s : verdict\n\t\tflags interval\n", k.name, k.typ)
		if len(elems[i]) > 0 {
			b.WriteString("\t\telements = {\n")
			for j, e := range elems[i] {
				parts := []string{addrRange(e.Peer), rng(e.Proto)}
				if k.ports {
					parts = append(parts, rng(e.DPort), rng(e.SPort))
				}
				v := passVerdict(f.Dir)
				if e.Drop {
					v = "goto " + DenyChain(StageSG, f.Dir)
				}
				sep := ","
				if j == len(elems[i])-1 {
					sep = ""
				}
				fmt.Fprintf(b, "\t\t\t%s : %s%s\n", strings.Join(append(parts, addrRange(e.Local)), " . "), v, sep)
			}
			b.WriteString("\t\t}\n")
		}
		b.WriteString("\t}\n")
	}
}

func renderMap(b *strings.Builder, name string, enis []ENIProgram, chain func(ENIProgram) string) {
	fmt.Fprintf(b, "\tmap %s {\n\t\ttype ifname : verdict\n", name)
	var elems []string
	for _, e := range enis {
		if e.IfName == "" {
			continue
		}
		v := "jump " + chain(e)
		if e.Failed != "" {
			v = "drop" // fail closed
		}
		elems = append(elems, fmt.Sprintf("%q : %s", e.IfName, v))
	}
	if len(elems) > 0 {
		fmt.Fprintf(b, "\t\telements = {\n\t\t\t%s\n\t\t}\n", strings.Join(elems, ",\n\t\t\t"))
	}
	b.WriteString("\t}\n")
}

// renderBase prints the one forward-hook chain of the security groups
// (the egress stage) and the ingress stage's chain, which egress passes
// go to (see Render).
func renderBase(b *strings.Builder, guard string) {
	fmt.Fprintf(b, "\tchain %s {\n", EgressChain)
	b.WriteString("\t\ttype filter hook forward priority filter; policy accept;\n")
	// The verdict cache first: most packets (of flows stamped under this
	// program, established or not) leave here. A packet without a flow
	// (invalid) has no mark to match.
	fmt.Fprintf(b, "\t\tct mark @%s accept\n", GenSet)
	b.WriteString("\t\tct state established,related accept\n")
	if guard != "" {
		b.WriteString("\t\tct state invalid drop\n")
	}
	stage := func(key, vmap, next string) {
		fmt.Fprintf(b, "\t\t%s vmap @%s\n", key, vmap)
		if guard != "" {
			// Fail closed: an ENI interface that is not in the map
			// (its rules are not installed yet) passes nothing.
			fmt.Fprintf(b, "\t\t%s %q drop\n", key, guard+"*")
		}
		fmt.Fprintf(b, "\t\tgoto %s\n", next)
	}
	stage("iifname", EgressIfaces, IngressChain)
	b.WriteString("\t}\n")
	fmt.Fprintf(b, "\tchain %s {\n", IngressChain)
	stage("oifname", IngressIfaces, CommitChain)
	b.WriteString("\t}\n")
}

func addrStrings(as []netip.Addr) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.String()
	}
	return out
}

func rng(r Range) string {
	if r.From == r.To {
		return fmt.Sprint(r.From)
	}
	return fmt.Sprintf("%d-%d", r.From, r.To)
}

// addrRange prints a range as an address, a prefix, or from-to.
func addrRange(r AddrRange) string {
	if r.From == r.To {
		return r.From.String()
	}
	fam := fam6
	if r.From.Is4() {
		fam = fam4
	}
	if p, ok := (ival{Lo: ipspace.FromAddr(r.From), Hi: ipspace.FromAddr(r.To)}).AsPrefix(fam); ok {
		return p.String()
	}
	return r.From.String() + "-" + r.To.String()
}
