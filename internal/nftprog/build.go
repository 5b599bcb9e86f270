// Package nftprog turns a compiled security-group program (policy.Program)
// into google/nftables objects and loads them over netlink: the same table
// policy.Program.Render prints for nft(8), built expression by expression
// (the bytecode nft 1.0 generates for the rendered text, so that
// `nft list table` shows the same listing), committed in one netlink batch
// per change (one atomic transaction).
//
// Build makes the desired state (a Spec) of a namespace: the program's
// table and, with a guard prefix, the guard table. Apply commits it: as a
// full replacement of both tables, or, when the old and the new Spec have
// the same skeleton (tables, sets, maps, chains, rules) and differ only in
// the elements of named sets and maps, as element deletions and additions.
package nftprog

import (
	"cmp"
	"net/netip"
	"slices"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"

	"github.com/palisade-project/palisade/internal/policy"
)

// Spec is the desired nftables state of one namespace: the guard table
// (when there is a guard prefix) and the program's table, in load order.
type Spec struct {
	Tables []*Table
	// skeleton is everything but the elements of named sets (see
	// Skeleton).
	skeleton string
}

// Table is one table of a Spec. Objects of each kind are listed in
// creation order, which is the order `nft list table` prints them in.
type Table struct {
	Table    *nftables.Table
	Counters []string
	Sets     []*Set
	Chains   []*Chain
}

// Set is a named set or map with its elements.
type Set struct {
	Set   *nftables.Set
	Elems []nftables.SetElement
}

// Chain is a chain with its rules.
type Chain struct {
	Chain *nftables.Chain
	Rules []*Rule
}

// Rule is a rule and the anonymous sets its expressions look up (created
// in the same transaction, before the rule).
type Rule struct {
	Rule *nftables.Rule
	Anon []*Set
}

// builder assigns set IDs (unique within a Spec, so within a batch) and
// builds the objects of one table.
type builder struct {
	table  *nftables.Table
	t      *Table
	sets   map[string]*Set // named sets of t
	nextID uint32
}

func (b *builder) id() uint32 {
	b.nextID++
	return b.nextID
}

// Build returns the Spec of p with the guard prefix (empty: no guard table
// and no fail-closed rules), the same objects p.Render and the agent's guard
// script describe. p is not modified.
func Build(p *policy.Program, guardPrefix string) (*Spec, error) {
	q := *p
	q.GuardPrefix = guardPrefix
	gen := q.Generation()
	b := &builder{}
	s := &Spec{}
	if guardPrefix != "" {
		s.Tables = append(s.Tables, b.guardTable(guardPrefix))
	}
	s.Tables = append(s.Tables, b.programTable(&q, gen))
	s.skeleton = skeleton(s)
	return s, nil
}

func (b *builder) begin(name string) {
	b.table = &nftables.Table{Name: name, Family: nftables.TableFamilyINet}
	b.t = &Table{Table: b.table}
	b.sets = map[string]*Set{}
}

// guardTable: ENI traffic of flows the program did not stamp (see
// policy.GuardMark) is dropped, so a namespace whose program table was
// deleted fails closed until the next load.
func (b *builder) guardTable(prefix string) *Table {
	b.begin(policy.GuardTable)
	ch := b.baseChain("forward", nftables.ChainHookForward, 10)
	// Packets of stamped flows (nearly all) leave after one rule. A
	// packet without a flow (invalid) has no mark to read and goes on.
	ch.add(nil, []expr.Any{
		&expr.Ct{Key: expr.CtKeyMARK, Register: 1},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)},
		&expr.Verdict{Kind: expr.VerdictAccept},
	})
	for _, key := range []expr.MetaKey{expr.MetaKeyIIFNAME, expr.MetaKeyOIFNAME} {
		ch.add(nil, cat(ifPrefix(key, prefix), verdict(expr.VerdictDrop, "")))
	}
	// The same for the WAF's upstream connections (policy.TransparentMark),
	// which the program's output chain marks.
	out := b.baseChain("output", nftables.ChainHookOutput, 10)
	out.add(nil, cat(markMask(policy.TransparentMark, expr.CmpOpNeq), markMask(policy.GuardMark, expr.CmpOpEq), verdict(expr.VerdictDrop, "")))
	return b.t
}

func (b *builder) programTable(p *policy.Program, gen uint32) *Table {
	b.begin(policy.TableName)
	// Generation (see policy.GenSet).
	b.set(policy.GenSet, nftables.TypeMark, nil, false, []nftables.SetElement{{Key: binaryutil.NativeEndian.PutUint32(gen)}})
	gm := b.newSet(policy.GenMap, nftables.TypeNFProto, nil, false)
	gm.Set.IsMap, gm.Set.DataType = true, nftables.TypeMark
	for _, f := range []byte{unix.NFPROTO_IPV4, unix.NFPROTO_IPV6} {
		gm.Elems = append(gm.Elems, nftables.SetElement{Key: []byte{f}, Val: binaryutil.NativeEndian.PutUint32(gen)})
	}
	members := map[string]policy.MemberSet{}
	for _, m := range p.MemberSets {
		members[m.GroupID] = m
		b.set(m.Name4, nftables.TypeIPAddr, nil, false, addrElems(m.V4))
		b.set(m.Name6, nftables.TypeIP6Addr, nil, false, addrElems(m.V6))
	}
	for _, c := range p.Classes {
		b.class(c, members)
	}
	for _, f := range p.Flats {
		b.flat(f)
	}
	for _, e := range p.ENIs {
		if e.Failed != "" {
			continue
		}
		b.eniChain(e.Ingress, policy.Ingress, members)
		b.eniChain(e.Egress, policy.Egress, members)
	}
	b.ifaceMap(policy.IngressIfaces, p.ENIs, func(e policy.ENIProgram) string { return e.Ingress.Name }, true)
	b.ifaceMap(policy.EgressIfaces, p.ENIs, func(e policy.ENIProgram) string { return e.Egress.Name }, true)
	b.sgBase(p.GuardPrefix)
	commit := b.chain(policy.CommitChain)
	commit.add(nil, cat(ctState(8, expr.CmpOpNeq),
		[]expr.Any{
			&expr.Ct{Key: expr.CtKeyMARK, Register: 1},
			&expr.Lookup{SourceRegister: 1, SetName: policy.GenSet, SetID: b.t.Sets[0].Set.ID, Invert: true},
			&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
			&expr.Lookup{SourceRegister: 1, SetName: policy.GenMap, SetID: gm.Set.ID, IsDestRegSet: true, DestRegister: 1},
			&expr.Ct{Key: expr.CtKeyMARK, Register: 1, SourceRegister: true},
		}))
	commit.add(nil, verdict(expr.VerdictAccept, ""))
	b.acls(p)
	b.deny(p)
	b.transparent(p)
	return b.t
}

// newSet appends an empty named set; keys > 1 makes it a concatenation.
func (b *builder) newSet(name string, key nftables.SetDatatype, parts []nftables.SetDatatype, interval bool) *Set {
	s := &nftables.Set{Table: b.table, Name: name, ID: b.id(), KeyType: key, Interval: interval}
	if len(parts) > 1 {
		s.KeyType = nftables.MustConcatSetType(parts...)
		s.Concatenation = interval // the pipapo backend; nft flags only interval concatenations
	}
	if key == nftables.TypeMark || key == nftables.TypeIFName {
		s.KeyByteOrder = binaryutil.NativeEndian
	}
	set := &Set{Set: s}
	b.t.Sets = append(b.t.Sets, set)
	b.sets[name] = set
	return set
}

func (b *builder) set(name string, key nftables.SetDatatype, parts []nftables.SetDatatype, interval bool, elems []nftables.SetElement) *Set {
	s := b.newSet(name, key, parts, interval)
	s.Elems = elems
	return s
}

// anon makes an anonymous constant set for one rule.
func (b *builder) anon(key nftables.SetDatatype, parts []nftables.SetDatatype, interval bool, elems []nftables.SetElement) *Set {
	s := &nftables.Set{Table: b.table, Name: "__set%d", ID: b.id(), Anonymous: true, Constant: true, KeyType: key, Interval: interval}
	if len(parts) > 1 {
		s.KeyType = nftables.MustConcatSetType(parts...)
		s.Concatenation = interval
	}
	return &Set{Set: s, Elems: elems}
}

func (b *builder) chain(name string) *Chain {
	c := &Chain{Chain: &nftables.Chain{Name: name, Table: b.table}}
	b.t.Chains = append(b.t.Chains, c)
	return c
}

func (b *builder) baseChain(name string, hook *nftables.ChainHook, prio int32) *Chain {
	c := b.chain(name)
	accept := nftables.ChainPolicyAccept
	c.Chain.Type = nftables.ChainTypeFilter
	c.Chain.Hooknum = hook
	c.Chain.Priority = nftables.ChainPriorityRef(nftables.ChainPriority(prio))
	c.Chain.Policy = &accept
	return c
}

// add appends a rule (comment: none when empty).
func (c *Chain) add(anon []*Set, exprs []expr.Any) *Rule {
	r := &Rule{Rule: &nftables.Rule{Table: c.Chain.Table, Chain: c.Chain, Exprs: exprs}, Anon: anon}
	c.Rules = append(c.Rules, r)
	return r
}

func (c *Chain) addComment(comment string, exprs []expr.Any) {
	r := c.add(nil, exprs)
	if comment != "" {
		r.Rule.UserData = userdata.AppendString(nil, userdata.TypeComment, comment)
	}
}

// Expression helpers. Registers are addressed in 32-bit slots, written the
// way nft writes them (slot 0 is reg 1, 4 is reg 2, others NFT_REG32_xx).

func reg(slot int) uint32 {
	if slot%4 == 0 {
		return uint32(1 + slot/4)
	}
	return uint32(unix.NFT_REG32_00 + slot)
}

func cat(parts ...[]expr.Any) []expr.Any {
	var out []expr.Any
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func verdict(kind expr.VerdictKind, chain string) []expr.Any {
	return []expr.Any{&expr.Verdict{Kind: kind, Chain: chain}}
}

func gotoDeny(stage string, dir policy.Direction) []expr.Any {
	return verdict(expr.VerdictGoto, policy.DenyChain(stage, dir))
}

// nfproto is the dependency nft adds to an ip/ip6 match in an inet table.
func nfproto(v6 bool) []expr.Any {
	p := byte(unix.NFPROTO_IPV4)
	if v6 {
		p = unix.NFPROTO_IPV6
	}
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{p}},
	}
}

// addrOffset is the network-header offset of the source or destination
// address.
func addrOffset(v6, src bool) (off, n uint32) {
	switch {
	case v6 && src:
		return 8, 16
	case v6:
		return 24, 16
	case src:
		return 12, 4
	default:
		return 16, 4
	}
}

func loadAddr(v6, src bool, slot int) *expr.Payload {
	off, n := addrOffset(v6, src)
	return &expr.Payload{DestRegister: reg(slot), Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: n}
}

func loadPort(dport bool, slot int) *expr.Payload {
	off := uint32(0)
	if dport {
		off = 2
	}
	return &expr.Payload{DestRegister: reg(slot), Base: expr.PayloadBaseTransportHeader, Offset: off, Len: 2}
}

// l4protoIn is `meta l4proto { tcp, udp }` (or != with invert).
func (b *builder) l4protoIn(invert bool) ([]expr.Any, *Set) {
	s := b.anon(nftables.TypeInetProto, nil, false, []nftables.SetElement{{Key: []byte{unix.IPPROTO_TCP}}, {Key: []byte{unix.IPPROTO_UDP}}})
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Lookup{SourceRegister: 1, SetName: s.Set.Name, SetID: s.Set.ID, Invert: invert},
	}, s
}

// concatKey loads `ip{6} peer . meta l4proto [. th dport . th sport] [.
// ip{6} local]` into consecutive slots from 0.
func concatKey(v6, peerSrc, ports, local, sport bool) []expr.Any {
	var out []expr.Any
	slot := 0
	out = append(out, loadAddr(v6, peerSrc, slot))
	slot += addrSlots(v6)
	out = append(out,
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg(slot)},
		&expr.Byteorder{SourceRegister: reg(slot), DestRegister: reg(slot), Op: expr.ByteorderHton, Len: 1, Size: 2})
	slot++
	if ports {
		out = append(out, loadPort(true, slot))
		slot++
		if sport {
			out = append(out, loadPort(false, slot))
			slot++
		}
	}
	if local {
		out = append(out, loadAddr(v6, !peerSrc, slot))
	}
	return out
}

func addrSlots(v6 bool) int {
	if v6 {
		return 4
	}
	return 1
}

func addrType(v6 bool) nftables.SetDatatype {
	if v6 {
		return nftables.TypeIP6Addr
	}
	return nftables.TypeIPAddr
}

// ctState is `ct state <bits>` (op neq: any of the bits) as nft writes it.
func ctState(bits uint32, op expr.CmpOp) []expr.Any {
	return []expr.Any{
		&expr.Ct{Key: expr.CtKeySTATE, Register: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: binaryutil.NativeEndian.PutUint32(bits), Xor: make([]byte, 4)},
		&expr.Cmp{Op: op, Register: 1, Data: make([]byte, 4)},
	}
}

// markMask is `meta mark & m == 0` (op eq) or `!= 0` (op neq).
func markMask(m uint32, op expr.CmpOp) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: binaryutil.NativeEndian.PutUint32(m), Xor: make([]byte, 4)},
		&expr.Cmp{Op: op, Register: 1, Data: make([]byte, 4)},
	}
}

// markOr is `meta mark set meta mark | m`.
func markOr(m uint32) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(^m),
			Xor:  binaryutil.NativeEndian.PutUint32(m)},
		&expr.Meta{Key: expr.MetaKeyMARK, Register: 1, SourceRegister: true},
	}
}

// ifPrefix is `iifname "<prefix>*"`.
func ifPrefix(key expr.MetaKey, prefix string) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: key, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte(prefix)},
	}
}

// lookupIf is `iifname @set` or, with vmap, `iifname vmap @set`.
func lookupIf(key expr.MetaKey, set *Set, vmap bool) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: key, Register: 1},
		&expr.Lookup{SourceRegister: 1, SetName: set.Set.Name, SetID: set.Set.ID, IsDestRegSet: vmap},
	}
}

// prefixMatch is `ip{6} saddr|daddr <prefix>` as nft writes it: a byte
// aligned prefix loads only its bytes, others are masked.
func prefixMatch(p netip.Prefix, src bool) []expr.Any {
	v6 := p.Addr().Is6()
	off, n := addrOffset(v6, src)
	addr := p.Masked().Addr().AsSlice()
	bits := p.Bits()
	out := nfproto(v6)
	// A /0 is masked too (mask 0: every address), as nft writes it; a
	// whole-address compare with 0.0.0.0 would match almost nothing.
	if bits%8 == 0 && bits > 0 {
		k := uint32(bits / 8)
		return append(out,
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: k},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: addr[:k]})
	}
	m := make([]byte, n)
	for i := 0; i < bits; i++ {
		m[i/8] |= 0x80 >> (i % 8)
	}
	return append(out,
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: n},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: n, Mask: m, Xor: make([]byte, n)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: addr})
}

// rangeMatch compares register 1 with a value or an inclusive range.
func rangeMatch(from, to []byte) []expr.Any {
	if string(from) == string(to) {
		return []expr.Any{&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: from}}
	}
	return []expr.Any{
		&expr.Cmp{Op: expr.CmpOpGte, Register: 1, Data: from},
		&expr.Cmp{Op: expr.CmpOpLte, Register: 1, Data: to},
	}
}

// Element encodings: concatenation fields are padded to 4 bytes.

func pad4(b []byte) []byte {
	if r := len(b) % 4; r != 0 {
		b = append(b, make([]byte, 4-r)...)
	}
	return b
}

func be16(v uint16) []byte { return []byte{byte(v >> 8), byte(v)} }

func addrElems(as []netip.Addr) []nftables.SetElement {
	out := make([]nftables.SetElement, len(as))
	for i, a := range as {
		out[i] = nftables.SetElement{Key: a.AsSlice()}
	}
	return out
}

func ifname(s string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, s)
	return b
}

// interval is a concatenated interval element: from and to keys.
type interval struct{ from, to []byte }

func (iv *interval) addr(r policy.AddrRange) {
	iv.from = append(iv.from, r.From.AsSlice()...)
	iv.to = append(iv.to, r.To.AsSlice()...)
}

func (iv *interval) proto(r policy.Range) {
	iv.from = append(iv.from, pad4([]byte{byte(r.From)})...)
	iv.to = append(iv.to, pad4([]byte{byte(r.To)})...)
}

func (iv *interval) port(r policy.Range) {
	iv.from = append(iv.from, pad4(be16(r.From))...)
	iv.to = append(iv.to, pad4(be16(r.To))...)
}

func (iv *interval) elem() nftables.SetElement {
	return nftables.SetElement{Key: iv.from, KeyEnd: iv.to}
}

func elementInterval(e policy.Element, ports bool) interval {
	var iv interval
	iv.addr(e.Peer)
	iv.proto(e.Proto)
	if ports {
		iv.port(e.DPort)
		iv.port(e.SPort)
	}
	iv.addr(e.Local)
	return iv
}

// classKeyTypes are the key types of class sets and flat maps.
func classKeyTypes(v6, ports bool) []nftables.SetDatatype {
	a := addrType(v6)
	if ports {
		return []nftables.SetDatatype{a, nftables.TypeInetProto, nftables.TypeInetService, nftables.TypeInetService, a}
	}
	return []nftables.SetDatatype{a, nftables.TypeInetProto, a}
}

type space struct {
	suffix    string
	v6, ports bool
}

var spaces = [...]space{{"_p4", false, true}, {"_p6", true, true}, {"_a4", false, false}, {"_a6", true, false}}

// keyMatch is the prefix of a lookup in a class set or flat map: the
// protocol filter and the concatenated key.
func (b *builder) keyMatch(sp space, peerSrc, local bool) ([]expr.Any, *Set) {
	pre, anon := b.l4protoIn(!sp.ports)
	return cat(pre, nfproto(sp.v6), concatKey(sp.v6, peerSrc, sp.ports, local, true)), anon
}

func (b *builder) class(c *policy.Class, members map[string]policy.MemberSet) {
	elems := [][]policy.Element{c.Ports4, c.Ports6, c.Any4, c.Any6}
	var sets []*Set
	var used []space
	for i, sp := range spaces {
		if len(elems[i]) == 0 {
			continue
		}
		s := b.newSet(c.Name+sp.suffix, nftables.SetDatatype{}, classKeyTypes(sp.v6, sp.ports), true)
		for _, e := range elems[i] {
			iv := elementInterval(e, sp.ports)
			s.Elems = append(s.Elems, iv.elem())
		}
		sets = append(sets, s)
		used = append(used, sp)
	}
	v := passVerdict(c.Dir)
	if c.Drop {
		v = gotoDeny(policy.StageSG, c.Dir)
	}
	peerSrc := c.Dir != policy.Egress
	ch := b.chain(c.Name)
	for i, sp := range used {
		var anon []*Set
		var pre []expr.Any
		if sp.ports {
			var a *Set
			pre, a = b.l4protoIn(false)
			anon = append(anon, a)
		}
		s := sets[i]
		ch.add(anon, cat(pre, nfproto(sp.v6), concatKey(sp.v6, peerSrc, sp.ports, true, true),
			[]expr.Any{&expr.Lookup{SourceRegister: 1, SetName: s.Set.Name, SetID: s.Set.ID}}, v))
	}
	for _, r := range c.Refs {
		m := members[r.PeerGroupID]
		for _, v6 := range []bool{false, true} {
			if (!v6 && !r.V4) || (v6 && !r.V6) {
				continue
			}
			set := m.Name4
			if v6 {
				set = m.Name6
			}
			ex := cat(nfproto(v6), []expr.Any{
				loadAddr(v6, peerSrc, 0),
				&expr.Lookup{SourceRegister: 1, SetName: set, SetID: b.setID(set)},
			})
			if r.Proto != (policy.Range{From: 0, To: 255}) {
				ex = append(ex, &expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1})
				ex = append(ex, rangeMatch([]byte{byte(r.Proto.From)}, []byte{byte(r.Proto.To)})...)
			}
			anyPort := policy.Range{From: 0, To: 65535}
			dport := func() {
				ex = append(ex, loadPort(true, 0))
				ex = append(ex, rangeMatch(be16(r.DPort.From), be16(r.DPort.To))...)
			}
			sport := func() {
				ex = append(ex, loadPort(false, 0))
				ex = append(ex, rangeMatch(be16(r.SPort.From), be16(r.SPort.To))...)
			}
			switch {
			case !r.Ports:
			case r.DPort != anyPort && r.SPort != anyPort && r.DPort.From == r.DPort.To && r.SPort.From == r.SPort.To:
				// nft merges two exact compares of adjacent header
				// fields into one, in header order (source port
				// first); the same order here lists the same.
				sport()
				dport()
			default:
				if r.DPort != anyPort {
					dport()
				}
				if r.SPort != anyPort {
					sport()
				}
			}
			if r.Local.IsValid() {
				ex = append(ex, prefixMatch(r.Local, !peerSrc)[2:]...) // the family is known already
			}
			ch.addComment(r.RuleID, cat(ex, v))
		}
	}
}

// setID returns the ID of the named set of the table being built (0 when
// unknown: the kernel then finds it by name).
func (b *builder) setID(name string) uint32 {
	if s, ok := b.sets[name]; ok {
		return s.Set.ID
	}
	return 0
}

func (b *builder) flat(f *policy.Flat) {
	elems := [][]policy.FlatElement{f.Ports4, f.Ports6, f.Any4, f.Any6}
	for i, sp := range spaces {
		s := b.newSet(f.Name+sp.suffix, nftables.SetDatatype{}, classKeyTypes(sp.v6, sp.ports), true)
		s.Set.IsMap, s.Set.DataType = true, nftables.TypeVerdict
		for _, e := range elems[i] {
			iv := elementInterval(e.Element, sp.ports)
			el := iv.elem()
			el.VerdictData = passVerdict(f.Dir)[0].(*expr.Verdict)
			if e.Drop {
				el.VerdictData = &expr.Verdict{Kind: expr.VerdictGoto, Chain: policy.DenyChain(policy.StageSG, f.Dir)}
			}
			s.Elems = append(s.Elems, el)
		}
	}
}

func (b *builder) eniChain(cp policy.ChainProgram, dir policy.Direction, members map[string]policy.MemberSet) {
	peerSrc := dir != policy.Egress
	ch := b.chain(cp.Name)
	for _, gid := range cp.IntraGroups {
		m := members[gid]
		for _, v6 := range []bool{false, true} {
			set := m.Name4
			if v6 {
				set = m.Name6
			}
			ch.add(nil, cat(nfproto(v6), []expr.Any{
				loadAddr(v6, peerSrc, 0),
				&expr.Lookup{SourceRegister: 1, SetName: set, SetID: b.setID(set)},
			}, passVerdict(dir)))
		}
	}
	if cp.Flat != "" {
		for _, sp := range spaces {
			name := cp.Flat + sp.suffix
			pre, anon := b.keyMatch(sp, peerSrc, true)
			ch.add([]*Set{anon}, cat(pre, []expr.Any{
				&expr.Lookup{SourceRegister: 1, SetName: name, SetID: b.setID(name), IsDestRegSet: true},
			}))
		}
	}
	for _, c := range cp.Classes {
		ch.add(nil, verdict(expr.VerdictJump, c))
	}
	if cp.DefaultAllow {
		ch.add(nil, passVerdict(dir))
	} else {
		ch.add(nil, gotoDeny(policy.StageSG, dir))
	}
}

// ifaceMap is an `ifname : verdict` map jumping to each ENI's chain (drop
// for a failed ENI when failDrop; ENIs without a chain are left out
// otherwise).
func (b *builder) ifaceMap(name string, enis []policy.ENIProgram, chain func(policy.ENIProgram) string, failDrop bool) *Set {
	s := b.newSet(name, nftables.TypeIFName, nil, false)
	s.Set.IsMap, s.Set.DataType = true, nftables.TypeVerdict
	for _, e := range enis {
		if e.IfName == "" {
			continue
		}
		v := &expr.Verdict{Kind: expr.VerdictJump, Chain: chain(e)}
		if failDrop && e.Failed != "" {
			v = &expr.Verdict{Kind: expr.VerdictDrop} // fail closed
		} else if chain(e) == "" {
			continue
		}
		s.Elems = append(s.Elems, nftables.SetElement{Key: ifname(e.IfName), VerdictData: v})
	}
	return s
}

// sgBase builds the security groups' forward-hook chain (the egress
// stage) and the ingress stage's chain (see policy.Render).
func (b *builder) sgBase(guard string) {
	ch := b.baseChain(policy.EgressChain, nftables.ChainHookForward, 0)
	ch.add(nil, []expr.Any{
		&expr.Ct{Key: expr.CtKeyMARK, Register: 1},
		&expr.Lookup{SourceRegister: 1, SetName: policy.GenSet, SetID: b.setID(policy.GenSet)},
		&expr.Verdict{Kind: expr.VerdictAccept},
	})
	ch.add(nil, cat(ctState(2|4, expr.CmpOpNeq), verdict(expr.VerdictAccept, "")))
	if guard != "" {
		ch.add(nil, cat(ctState(1, expr.CmpOpNeq), verdict(expr.VerdictDrop, "")))
	}
	stage := func(ch *Chain, key expr.MetaKey, vmap, next string) {
		ch.add(nil, lookupIf(key, b.named(vmap), true))
		if guard != "" {
			// Fail closed: an ENI interface that is not in the map
			// (its rules are not installed yet) passes nothing.
			ch.add(nil, cat(ifPrefix(key, guard), verdict(expr.VerdictDrop, "")))
		}
		ch.add(nil, verdict(expr.VerdictGoto, next))
	}
	stage(ch, expr.MetaKeyIIFNAME, policy.EgressIfaces, policy.IngressChain)
	stage(b.chain(policy.IngressChain), expr.MetaKeyOIFNAME, policy.IngressIfaces, policy.CommitChain)
}

// passVerdict is what a pass of a security-group stage does (see
// policy.Render): egress goes on to the ingress stage, ingress to the
// commit chain.
func passVerdict(dir policy.Direction) []expr.Any {
	if dir == policy.Ingress {
		return verdict(expr.VerdictGoto, policy.CommitChain)
	}
	return verdict(expr.VerdictGoto, policy.IngressChain)
}

// named returns the named set of the table being built.
func (b *builder) named(name string) *Set {
	if s, ok := b.sets[name]; ok {
		return s
	}
	return &Set{Set: &nftables.Set{Table: b.table, Name: name}}
}

func (b *builder) acls(p *policy.Program) {
	if len(p.VSwitchChains) == 0 {
		return
	}
	for _, c := range p.ACLChains {
		b.aclChain(c)
	}
	for _, v := range p.VSwitchChains {
		b.vswChain(v)
	}
	b.ifaceMap(policy.ACLIngressIfaces, p.ENIs, func(e policy.ENIProgram) string { return e.ACLIngress }, false)
	b.ifaceMap(policy.ACLEgressIfaces, p.ENIs, func(e policy.ENIProgram) string { return e.ACLEgress }, false)
	ch := b.baseChain(policy.ACLBaseChain, nftables.ChainHookForward, -1)
	ch.add(nil, lookupIf(expr.MetaKeyIIFNAME, b.named(policy.ACLEgressIfaces), true))
	ch.add(nil, lookupIf(expr.MetaKeyOIFNAME, b.named(policy.ACLIngressIfaces), true))
}

func (b *builder) aclChain(c *policy.ACLChain) {
	peerSrc := c.Dir != policy.Egress
	if c.Missing {
		b.chain(c.Name).addComment("unknown network ACL", gotoDeny(policy.StageACL, c.Dir))
		return
	}
	elems := [][]policy.ACLElement{c.Ports4, c.Ports6, c.Any4, c.Any6}
	var sets []*Set
	for i, sp := range spaces {
		types := []nftables.SetDatatype{addrType(sp.v6), nftables.TypeInetProto}
		if sp.ports {
			types = append(types, nftables.TypeInetService)
		}
		s := b.newSet(c.Name+sp.suffix, nftables.SetDatatype{}, types, true)
		for _, e := range elems[i] {
			var iv interval
			iv.addr(e.Peer)
			iv.proto(e.Proto)
			if sp.ports {
				iv.port(e.DPort)
			}
			s.Elems = append(s.Elems, iv.elem())
		}
		sets = append(sets, s)
	}
	ch := b.chain(c.Name)
	for i, sp := range spaces {
		pre, anon := b.l4protoIn(!sp.ports)
		key := []expr.Any{loadAddr(sp.v6, peerSrc, 0)}
		slot := addrSlots(sp.v6)
		key = append(key,
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg(slot)},
			&expr.Byteorder{SourceRegister: reg(slot), DestRegister: reg(slot), Op: expr.ByteorderHton, Len: 1, Size: 2})
		if sp.ports {
			key = append(key, loadPort(true, slot+1))
		}
		ch.add([]*Set{anon}, cat(pre, nfproto(sp.v6), key,
			[]expr.Any{&expr.Lookup{SourceRegister: 1, SetName: sets[i].Set.Name, SetID: sets[i].Set.ID}},
			verdict(expr.VerdictReturn, "")))
	}
	ch.add(nil, gotoDeny(policy.StageACL, c.Dir))
}

func (b *builder) vswChain(v policy.VSwitchChain) {
	peerSrc := v.Dir != policy.Egress
	ch := b.chain(v.Name)
	for _, l := range v.Local {
		ch.add(nil, cat(prefixMatch(l, peerSrc), verdict(expr.VerdictReturn, "")))
	}
	// The exempt service prefixes: an anonymous interval set (adjacent
	// prefixes merged, as nft does).
	ex := exemptElems(policy.ACLExemptPrefixes())
	s := b.anon(nftables.TypeIPAddr, nil, true, ex)
	ch.add([]*Set{s}, cat(nfproto(false), []expr.Any{
		loadAddr(false, peerSrc, 0),
		&expr.Lookup{SourceRegister: 1, SetName: s.Set.Name, SetID: s.Set.ID},
	}, verdict(expr.VerdictReturn, "")))
	dhcp := func(sport, dport uint16) nftables.SetElement {
		return nftables.SetElement{Key: append(pad4(be16(sport)), pad4(be16(dport))...)}
	}
	d := b.anon(nftables.SetDatatype{}, []nftables.SetDatatype{nftables.TypeInetService, nftables.TypeInetService}, false,
		[]nftables.SetElement{dhcp(68, 67), dhcp(67, 68)})
	ch.add([]*Set{d}, cat([]expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_UDP}},
		loadPort(false, 0),
		loadPort(true, 1),
		&expr.Lookup{SourceRegister: 1, SetName: d.Set.Name, SetID: d.Set.ID},
	}, verdict(expr.VerdictReturn, "")))
	ch.add(nil, verdict(expr.VerdictGoto, v.ACL))
}

// exemptElems encodes IPv4 prefixes as the elements of an anonymous
// interval set: starts and (flagged) ends one past each merged range, with
// the leading end element nft writes when the first range does not start
// at 0.
func exemptElems(ps []netip.Prefix) []nftables.SetElement {
	type rng struct{ lo, hi uint32 }
	u := func(a netip.Addr) uint32 {
		b := a.As4()
		return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	}
	var rs []rng
	for _, p := range ps {
		p = p.Masked()
		lo := u(p.Addr())
		hi := lo | (1<<(32-p.Bits()) - 1)
		if p.Bits() == 0 {
			hi = ^uint32(0)
		}
		rs = append(rs, rng{lo, hi})
	}
	slices.SortFunc(rs, func(a, b rng) int { return cmp.Compare(a.lo, b.lo) })
	var merged []rng
	for _, r := range rs {
		if n := len(merged); n > 0 && uint64(merged[n-1].hi)+1 >= uint64(r.lo) {
			if r.hi > merged[n-1].hi {
				merged[n-1].hi = r.hi
			}
			continue
		}
		merged = append(merged, r)
	}
	key := func(v uint32) []byte { return []byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)} }
	var out []nftables.SetElement
	if len(merged) > 0 && merged[0].lo != 0 {
		out = append(out, nftables.SetElement{Key: key(0), IntervalEnd: true})
	}
	for _, r := range merged {
		out = append(out, nftables.SetElement{Key: key(r.lo)})
		if r.hi != ^uint32(0) {
			out = append(out, nftables.SetElement{Key: key(r.hi + 1), IntervalEnd: true})
		}
	}
	return out
}

// deny builds the flow-log counters, the covered-interface set and the
// deny chains (see policy.DenyChain).
func (b *builder) deny(p *policy.Program) {
	b.t.Counters = append(b.t.Counters, policy.FlowLogOverCounter, policy.FlowLogLoggedCounter)
	var elems []nftables.SetElement
	for _, name := range p.FlowLogIfaces {
		elems = append(elems, nftables.SetElement{Key: ifname(name)})
	}
	ifs := b.set(policy.FlowLogIfaces, nftables.TypeIFName, nil, false, elems)
	stages := []string{policy.StageSG}
	if len(p.VSwitchChains) > 0 {
		stages = []string{policy.StageACL, policy.StageSG}
	}
	for _, stage := range stages {
		for _, dir := range []policy.Direction{policy.Ingress, policy.Egress} {
			name := policy.DenyChain(stage, dir)
			logc := b.chain(name + "_log")
			logc.add(nil, []expr.Any{
				&expr.Limit{Type: expr.LimitTypePkts, Rate: policy.FlowLogRate, Over: true, Unit: expr.LimitTimeSecond, Burst: policy.FlowLogBurst},
				&expr.Objref{Type: int(nftables.ObjTypeCounter), Name: policy.FlowLogOverCounter},
				&expr.Verdict{Kind: expr.VerdictDrop},
			})
			logc.add(nil, []expr.Any{
				&expr.Objref{Type: int(nftables.ObjTypeCounter), Name: policy.FlowLogLoggedCounter},
				&expr.Log{
					Key:     1<<unix.NFTA_LOG_PREFIX | 1<<unix.NFTA_LOG_GROUP | 1<<unix.NFTA_LOG_SNAPLEN,
					Data:    []byte(policy.FlowLogPrefix(stage, dir)),
					Group:   policy.FlowLogGroup,
					Snaplen: policy.FlowLogSnaplen,
				},
				&expr.Verdict{Kind: expr.VerdictDrop},
			})
			ch := b.chain(name)
			if dir == policy.Ingress {
				ch.add(nil, cat(lookupIf(expr.MetaKeyOIFNAME, ifs, false), verdict(expr.VerdictGoto, name+"_log")))
			}
			ch.add(nil, cat(lookupIf(expr.MetaKeyIIFNAME, ifs, false), verdict(expr.VerdictGoto, name+"_log")))
			ch.add(nil, verdict(expr.VerdictDrop, ""))
		}
	}
}

// transparent builds the output-hook chain (and, with network ACLs, the
// input-hook chain) of a Transparent program (see policy.OutputChain).
func (b *builder) transparent(p *policy.Program) {
	if !p.Transparent {
		return
	}
	acl := len(p.VSwitchChains) > 0
	out := b.baseChain(policy.OutputChain, nftables.ChainHookOutput, 0)
	out.add(nil, cat(markMask(policy.TransparentMark, expr.CmpOpEq), verdict(expr.VerdictAccept, "")))
	if p.GuardPrefix != "" {
		// Seen by this table: the guard table's output chain drops the
		// WAF's upstream packets without it.
		out.add(nil, markOr(policy.GuardMark))
	}
	if acl {
		out.add(nil, lookupIf(expr.MetaKeyOIFNAME, b.named(policy.ACLIngressIfaces), true))
	}
	out.add(nil, cat(ctState(2|4, expr.CmpOpNeq), verdict(expr.VerdictAccept, "")))
	out.add(nil, cat(ctState(1, expr.CmpOpNeq), verdict(expr.VerdictDrop, "")))
	out.add(nil, lookupIf(expr.MetaKeyOIFNAME, b.named(policy.IngressIfaces), true))
	out.addComment("not an ENI", verdict(expr.VerdictDrop, ""))
	if acl {
		in := b.baseChain(policy.InputChain, nftables.ChainHookInput, 0)
		in.add(nil, cat(markMask(policy.SteeredMark, expr.CmpOpNeq), lookupIf(expr.MetaKeyIIFNAME, b.named(policy.ACLEgressIfaces), true)))
	}
}
