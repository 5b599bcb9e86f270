package linux

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"strconv"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/palisade-project/palisade/internal/dataplane"
)

// The Internet firewall of a VPC namespace with EIPs, on its uplink:
//
//	table ip palisade_cfw {
//	  set protected { type ipv4_addr; elements = { protected EIPs } }
//	  set in_<i>_src, in_<i>_dst, in_<i>_port … (intervals, per rule and field)
//	  chain in { type filter hook prerouting priority dstnat - 10; policy accept;
//	    iifname != "uplink" accept
//	    ct state established,related accept
//	    ip daddr != @protected accept
//	    [ip saddr @in_0_src] [ip daddr @in_0_dst] [meta l4proto P] [th dport @in_0_port] goto in_r0
//	    …
//	  }
//	  chain in_r0 { counter [limit … log …]; drop|accept }   # one per rule: its hits, its log, its verdict
//	  # or, flattened (Firewall.InMap; policy.FlattenFirewall), one lookup:
//	  map in_p4 { type ipv4_addr . inet_proto . inet_service . inet_service . ipv4_addr : verdict; flags interval }
//	  map in_a4 { type ipv4_addr . inet_proto . ipv4_addr : verdict; flags interval }
//	  chain in { … head as above …
//	    meta l4proto tcp ip saddr . meta l4proto . th dport . th sport . ip daddr vmap @in_p4
//	    meta l4proto udp ip saddr . meta l4proto . th dport . th sport . ip daddr vmap @in_p4
//	    meta l4proto != tcp meta l4proto != udp ip saddr . meta l4proto . ip daddr vmap @in_a4
//	  }
//	  chain out { type filter hook postrouting priority srcnat + 10; policy accept;
//	    oifname != "uplink" accept
//	    ct state established,related accept
//	    ip saddr != @protected accept
//	    …
//	  }
//	}
//
// Inbound connections are judged before their destination is translated,
// outbound ones after their source is: rules see the EIP, as the cloud's
// firewall at the internet border does. Only new connections are judged.
const (
	cfwTable = "palisade_cfw"
	// cfwPrioOffset places the chains next to the EIP translation.
	cfwPrioOffset = 10
)

// applyFirewallTable makes the namespace's firewall table match fw (nil,
// or nothing protected: no table).
func applyFirewallTable(nsFd int, fw *dataplane.Firewall) error {
	remove := fw == nil || len(fw.Protected) == 0
	var sets []tableSet
	var rules []plRule
	if !remove {
		protected := tableSet{name: "protected", key: nftables.TypeIPAddr}
		for _, a := range sortedAddrs(fw.Protected) {
			protected.elems = append(protected.elems, nftables.SetElement{Key: a.AsSlice()})
		}
		sets = append(sets, protected)
		head := func(chain string, ifKey expr.MetaKey, addrOff uint32) {
			rules = append(rules,
				plRule{chain, []expr.Any{
					&expr.Meta{Key: ifKey, Register: 1},
					&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: ifnameKey16(uplinkLink)},
					&expr.Verdict{Kind: expr.VerdictAccept}}},
				plRule{chain, []expr.Any{
					&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
					&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
						Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitESTABLISHED | expr.CtStateBitRELATED), Xor: make([]byte, 4)},
					&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)},
					&expr.Verdict{Kind: expr.VerdictAccept}}},
				plRule{chain, []expr.Any{
					&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: addrOff, Len: 4},
					&expr.Lookup{SourceRegister: 1, SetName: "protected", Invert: true},
					&expr.Verdict{Kind: expr.VerdictAccept}}},
			)
		}
		body := func(chain string, rs []dataplane.FirewallRule, m *dataplane.FirewallMap) {
			brules, bsets := firewallBody(chain, rs, m)
			rules, sets = append(rules, brules...), append(sets, bsets...)
		}
		head("in", expr.MetaKeyIIFNAME, 16)
		body("in", fw.In, fw.InMap)
		head("out", expr.MetaKeyOIFNAME, 12)
		body("out", fw.Out, fw.OutMap)
	}
	chains := map[string]chainHook{
		"in":  {typ: nftables.ChainTypeFilter, hook: nftables.ChainHookPrerouting, prio: nftables.ChainPriorityRef(*nftables.ChainPriorityNATDest - cfwPrioOffset)},
		"out": {typ: nftables.ChainTypeFilter, hook: nftables.ChainHookPostrouting, prio: nftables.ChainPriorityRef(*nftables.ChainPriorityNATSource + cfwPrioOffset)},
	}
	if !remove {
		for dir, rs := range map[string][]dataplane.FirewallRule{"in": fw.In, "out": fw.Out} {
			for i := range rs {
				chains[firewallRuleChain(dir, i)] = chainHook{} // regular chains, gone to
			}
		}
	}
	return applyTaggedTable(nsFd, cfwTable, chains, sets, rules, remove)
}

// firewallBody is what decides in a firewall's chain (Internet, NAT or
// VPC firewall) and in its rules' chains, with the sets they look up:
// when flattened (m), one lookup of its maps; otherwise each rule's
// match, tried in order. Either way the deciding rule's chain counts and
// decides (firewallRuleChainRules).
func firewallBody(chain string, rs []dataplane.FirewallRule, m *dataplane.FirewallMap) ([]plRule, []tableSet) {
	if m != nil {
		return firewallMapRules(chain, rs), firewallMaps(chain, m)
	}
	var rules []plRule
	var sets []tableSet
	for i, r := range rs {
		ex, rsets := firewallRuleExprs(fmt.Sprintf("%s_%d", chain, i), firewallRuleChain(chain, i), r)
		sets = append(sets, rsets...)
		rules = append(rules, plRule{chain, ex})
		rules = append(rules, firewallRuleChainRules(chain, i, r)...)
	}
	return rules, sets
}

// firewallRuleExprs is one firewall rule of a chain of rules as a rule's
// expressions, with the interval sets it looks addresses and ports up in,
// named from name: match, and go to the rule's chain (ruleChain, see
// firewallRuleChainRules), which counts and decides.
func firewallRuleExprs(name, ruleChain string, r dataplane.FirewallRule) ([]expr.Any, []tableSet) {
	var ex []expr.Any
	var sets []tableSet
	match := func(field string, off uint32, ps []netip.Prefix) {
		if isAny4(ps) {
			return
		}
		s := tableSet{name: name + "_" + field, interval: true, key: nftables.TypeIPAddr, elems: prefixIntervals(ps)}
		sets = append(sets, s)
		ex = append(ex,
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: 4},
			&expr.Lookup{SourceRegister: 1, SetName: s.name})
	}
	match("src", 12, r.Src)
	match("dst", 16, r.Dst)
	if r.Proto != 0 {
		ex = append(ex,
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{r.Proto}})
	}
	if len(r.Ports) > 0 {
		s := tableSet{name: name + "_port", interval: true, key: nftables.TypeInetService, elems: portIntervals(r.Ports)}
		sets = append(sets, s)
		ex = append(ex,
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
			&expr.Lookup{SourceRegister: 1, SetName: s.name})
	}
	return append(ex, &expr.Verdict{Kind: expr.VerdictGoto, Chain: ruleChain}), sets
}

func ifnameKey16(name string) []byte {
	b := make([]byte, 16)
	copy(b, name)
	return b
}

func sortedAddrs(as []netip.Addr) []netip.Addr {
	out := slices.Clone(as)
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out)
}

func isAny4(ps []netip.Prefix) bool {
	return slices.ContainsFunc(ps, func(p netip.Prefix) bool { return p.Bits() == 0 })
}

// interval is a half-open range [lo, hi) of set keys.
type interval struct{ lo, hi uint64 }

// mergeIntervals sorts and merges overlapping or touching intervals: the
// kernel refuses overlapping elements in an interval set.
func mergeIntervals(ivs []interval) []interval {
	ivs = slices.Clone(ivs)
	slices.SortFunc(ivs, func(a, b interval) int { return cmp.Compare(a.lo, b.lo) })
	var merged []interval
	for _, x := range ivs {
		if n := len(merged); n > 0 && x.lo <= merged[n-1].hi {
			merged[n-1].hi = max(merged[n-1].hi, x.hi)
			continue
		}
		merged = append(merged, x)
	}
	return merged
}

// intervalElements are the elements of an interval set of keys of size
// bytes (4: IPv4 addresses, 2: ports), an end marker after each interval
// that does not reach the top of the key space. No intervals give no
// element: a set that matches nothing.
func intervalElements(ivs []interval, size int) []nftables.SetElement {
	top := uint64(1)<<(8*size) - 1
	key := func(v uint64) []byte {
		if size == 2 {
			return binary.BigEndian.AppendUint16(nil, uint16(v))
		}
		return binary.BigEndian.AppendUint32(nil, uint32(v))
	}
	var out []nftables.SetElement
	for _, x := range mergeIntervals(ivs) {
		out = append(out, nftables.SetElement{Key: key(x.lo)})
		if x.hi <= top {
			out = append(out, nftables.SetElement{Key: key(x.hi), IntervalEnd: true})
		}
	}
	return out
}

// prefixIntervals are the elements of an interval set holding the IPv4
// prefixes.
func prefixIntervals(ps []netip.Prefix) []nftables.SetElement {
	var ivs []interval
	for _, p := range ps {
		if !p.Addr().Is4() {
			continue
		}
		a := p.Masked().Addr().As4()
		lo := uint64(binary.BigEndian.Uint32(a[:]))
		ivs = append(ivs, interval{lo, lo + 1<<(32-p.Bits())})
	}
	return intervalElements(ivs, 4)
}

// portIntervals: likewise for port ranges.
func portIntervals(rs []dataplane.PortRange) []nftables.SetElement {
	var ivs []interval
	for _, r := range rs {
		ivs = append(ivs, interval{uint64(r.From), uint64(r.To) + 1})
	}
	return intervalElements(ivs, 2)
}

// FirewallCounters reads the packets each policy rule of a VPC's Internet
// firewall (chains dataplane.FirewallChainIn and FirewallChainOut), of
// its gateways' NAT firewalls (dataplane.NATFirewallChain) and of its
// peerings' VPC firewalls (dataplane.PeerFirewallChain) matched, in rule
// order (no key for a chain that is not there).
func (a *Applier) FirewallCounters(vpcID string) (map[string][]uint64, error) {
	out := map[string][]uint64{}
	err := nftIn(vpcID, func(conn *nftables.Conn) error {
		in, o := firewallCountersOf(conn)
		if in != nil {
			out[dataplane.FirewallChainIn] = in
		}
		if o != nil {
			out[dataplane.FirewallChainOut] = o
		}
		for chain, counts := range natFirewallCounters(conn) {
			out[chain] = counts
		}
		for chain, counts := range peerFirewallCounters(conn) {
			out[chain] = counts
		}
		return nil
	})
	return out, err
}

func firewallCountersOf(conn *nftables.Conn) (in, out []uint64) {
	c := firewallChainCounters(conn, &nftables.Table{Name: cfwTable, Family: nftables.TableFamilyIPv4}, "")
	return c["in"], c["out"]
}

// firewallMaps are the verdict maps of a flattened firewall (Internet
// or NAT firewall):
// <chain>_p4 (TCP and UDP: source . protocol . destination port . source
// port . destination) and <chain>_a4 (other protocols: source . protocol .
// destination), each box going to the chain of its rule.
func firewallMaps(chain string, m *dataplane.FirewallMap) []tableSet {
	v4 := func(a netip.Addr) []byte { b := a.As4(); return b[:] }
	pad := func(b ...byte) []byte { return append(b, make([]byte, 4-len(b))...) }
	verdict := func(rule int) *expr.Verdict {
		return &expr.Verdict{Kind: expr.VerdictGoto, Chain: firewallRuleChain(chain, rule)}
	}
	var ports, other []nftables.SetElement
	for _, b := range m.Ports {
		ports = append(ports, nftables.SetElement{
			Key:         cat4(v4(b.SrcFrom), pad(b.ProtoFrom), pad(byte(b.PortFrom>>8), byte(b.PortFrom)), pad(0, 0), v4(b.DstFrom)),
			KeyEnd:      cat4(v4(b.SrcTo), pad(b.ProtoTo), pad(byte(b.PortTo>>8), byte(b.PortTo)), pad(0xff, 0xff), v4(b.DstTo)),
			VerdictData: verdict(b.Rule)})
	}
	for _, b := range m.Any {
		other = append(other, nftables.SetElement{
			Key: cat4(v4(b.SrcFrom), pad(b.ProtoFrom), v4(b.DstFrom)), KeyEnd: cat4(v4(b.SrcTo), pad(b.ProtoTo), v4(b.DstTo)),
			VerdictData: verdict(b.Rule)})
	}
	return []tableSet{
		{name: chain + "_p4", isMap: true, interval: true, concat: true, data: nftables.TypeVerdict, elems: ports,
			key: nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeInetProto, nftables.TypeInetService, nftables.TypeInetService, nftables.TypeIPAddr)},
		{name: chain + "_a4", isMap: true, interval: true, concat: true, data: nftables.TypeVerdict, elems: other,
			key: nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeInetProto, nftables.TypeIPAddr)},
	}
}

func cat4(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// firewallRuleChain is the chain of rule i of a firewall's chain: its
// counter and its verdict (firewallRuleChainRules), where the rule's match
// or the flattened firewall's lookup goes.
func firewallRuleChain(chain string, i int) string {
	return chain + "_r" + strconv.Itoa(i)
}

// firewallRuleChainRules are the rules of the chain of rule i of a
// firewall's chain: count (the rule's hits: the first rule's counter),
// and accept or drop; a logged rule hands the packet to NFLOG in between,
// in a rule of its own, so that the rate limit holds back the log and
// never the verdict.
//
//	chain <chain>_r<i> {
//	  counter [limit rate 1000/second burst 1000 packets log prefix "palisade-cfw <policy>" group 9 snaplen 64]
//	  accept|drop
//	}
func firewallRuleChainRules(chain string, i int, r dataplane.FirewallRule) []plRule {
	name := firewallRuleChain(chain, i)
	v := &expr.Verdict{Kind: expr.VerdictAccept}
	if r.Drop {
		v.Kind = expr.VerdictDrop
	}
	if !r.Log {
		return []plRule{{name, []expr.Any{&expr.Counter{}, v}}}
	}
	return []plRule{
		{name, []expr.Any{&expr.Counter{},
			&expr.Limit{Type: expr.LimitTypePkts, Rate: dataplane.FirewallLogRate, Unit: expr.LimitTimeSecond, Burst: dataplane.FirewallLogBurst},
			&expr.Log{Key: 1<<unix.NFTA_LOG_PREFIX | 1<<unix.NFTA_LOG_GROUP | 1<<unix.NFTA_LOG_SNAPLEN,
				Data: []byte(dataplane.FirewallLogPrefix(r.ID)), Group: dataplane.FirewallLogGroup, Snaplen: dataplane.FirewallLogSnaplen}}},
		{name, []expr.Any{v}},
	}
}

// firewallMapRules are the rules of a flattened firewall's chain name:
// one lookup for TCP, one for UDP (the ports map), one for the other
// protocols, each going to the chain of the deciding rule (no element:
// the chain goes on); and each rule's chain, which counts and decides.
// Lookups name their maps only: callers give the set IDs.
func firewallMapRules(name string, rules []dataplane.FirewallRule) []plRule {
	l4 := func(op expr.CmpOp, p byte) []expr.Any {
		return []expr.Any{
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: op, Register: 1, Data: []byte{p}},
		}
	}
	saddr := func(reg uint32) expr.Any {
		return &expr.Payload{DestRegister: reg, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4}
	}
	daddr := func(reg uint32) expr.Any {
		return &expr.Payload{DestRegister: reg, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4}
	}
	proto := func(reg uint32) expr.Any { return &expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg} }
	port := func(reg, off uint32) expr.Any {
		return &expr.Payload{DestRegister: reg, Base: expr.PayloadBaseTransportHeader, Offset: off, Len: 2}
	}
	vmap := func(m string) []expr.Any {
		return []expr.Any{&expr.Lookup{SourceRegister: unix.NFT_REG32_00, DestRegister: 0, IsDestRegSet: true, SetName: m}}
	}
	portsKey := func() []expr.Any {
		return []expr.Any{saddr(unix.NFT_REG32_00), proto(unix.NFT_REG32_01), port(unix.NFT_REG32_02, 2), port(unix.NFT_REG32_03, 0), daddr(unix.NFT_REG32_04)}
	}
	anyKey := []expr.Any{saddr(unix.NFT_REG32_00), proto(unix.NFT_REG32_01), daddr(unix.NFT_REG32_02)}
	out := []plRule{
		{name, cat(l4(expr.CmpOpEq, unix.IPPROTO_TCP), portsKey(), vmap(name+"_p4"))},
		{name, cat(l4(expr.CmpOpEq, unix.IPPROTO_UDP), portsKey(), vmap(name+"_p4"))},
		{name, cat(l4(expr.CmpOpNeq, unix.IPPROTO_TCP), l4(expr.CmpOpNeq, unix.IPPROTO_UDP), anyKey, vmap(name+"_a4"))},
	}
	for i, r := range rules {
		out = append(out, firewallRuleChainRules(name, i, r)...)
	}
	return out
}
