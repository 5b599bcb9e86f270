package linux

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"

	"github.com/palisade-project/palisade/internal/dataplane"
)

// The NAT firewall of Cloud Firewall, in the NAT table's forward chain:
// every new connection a gateway with firewall rules translates on its
// way out meets the gateway's chain, with its private source (the
// translation comes later, in postrouting):
//
//	table inet palisade_nat {
//	  set nfw_ngw_1_sel { type ipv4_addr . ipv4_addr; flags interval }  # the gateway's SNAT ranges: destination . source
//	  set nfw_ngw_1_map { type ipv4_addr }                             # the internal addresses of its IP mappings
//	  set nfw_ngw_1_0_src, nfw_ngw_1_0_dst, nfw_ngw_1_0_port …         # per rule and field, as the Internet firewall's
//	  chain nfw_ngw_1 {
//	    [ip saddr @nfw_ngw_1_0_src] [ip daddr @nfw_ngw_1_0_dst] [meta l4proto P] [th dport @nfw_ngw_1_0_port] counter drop|accept
//	    …
//	  }
//	  chain forward { …
//	    oifname "uplink" ct state new ip saddr @nfw_ngw_1_map jump nfw_ngw_1
//	    oifname "uplink" ct state new ip saddr != @natted4 ip daddr . ip saddr @nfw_ngw_1_sel jump nfw_ngw_1
//	    … (the last rule: what is not translated does not go out)
//	  }
//	}
//
// An instance's own EIP comes before the gateway's SNAT (natted4), so its
// connections are the Internet firewall's alone. A rule's accept ends the
// NAT table's forward chain only: the security groups' chains still judge
// the packet in their own. A packet no rule matches returns and goes on.
// A rule whose destination is a domain has the addresses the domain was
// resolved to in its destination set (none: it matches nothing); as for
// every rule, only new connections are judged, so a connection outlives a
// change of the domain's addresses.

// natFirewallSets are the sets the NAT firewalls of gws need, in a fixed
// order (gateways, then their selection sets, then the rules' sets).
func natFirewallSets(eips []dataplane.EIP, gws []dataplane.NATGateway) []tableSet {
	var out []tableSet
	for _, g := range gws {
		if len(g.Firewall) == 0 {
			continue
		}
		name := dataplane.NATFirewallChain(g.ID)
		sel, mapped := natFirewallSelection(eips, g)
		if len(sel) > 0 {
			out = append(out, tableSet{name: name + "_sel", interval: true, concat: true,
				key: nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeIPAddr), elems: sel})
		}
		if len(mapped) > 0 {
			out = append(out, tableSet{name: name + "_map", key: nftables.TypeIPAddr, elems: mapped})
		}
		_, sets := firewallBody(name, g.Firewall, g.FirewallMap)
		out = append(out, sets...)
	}
	return out
}

// natFirewallSelection is what the gateway translates on the way out:
// its SNAT ranges (destination . source intervals) and the internal
// addresses of its IP mappings, but for those with an EIP of their own
// (eips), which leave with it.
func natFirewallSelection(eips []dataplane.EIP, g dataplane.NATGateway) (sel, mapped []nftables.SetElement) {
	v4 := func(a netip.Addr) []byte { b := a.As4(); return b[:] }
	for _, r := range g.SNAT {
		sel = append(sel, nftables.SetElement{Key: append(v4(r.Dst), v4(r.Src)...), KeyEnd: append(v4(r.DstTo), v4(r.SrcTo)...)})
	}
	seen := map[netip.Addr]bool{}
	for _, e := range eips {
		seen[e.PrivateIP] = true
	}
	for _, r := range g.DNAT {
		if r.Proto == 0 && !seen[r.Internal] {
			seen[r.Internal] = true
			mapped = append(mapped, nftables.SetElement{Key: v4(r.Internal)})
		}
	}
	return sel, mapped
}

// natFirewallChains are the regular chains of the NAT firewalls of gws.
func natFirewallChains(table *nftables.Table, gws []dataplane.NATGateway) []*nftables.Chain {
	var out []*nftables.Chain
	for _, g := range gws {
		if len(g.Firewall) == 0 {
			continue
		}
		name := dataplane.NATFirewallChain(g.ID)
		out = append(out, &nftables.Chain{Name: name, Table: table})
		for i := range g.Firewall {
			out = append(out, &nftables.Chain{Name: firewallRuleChain(name, i), Table: table})
		}
	}
	return out
}

// natFirewallRules are the jumps of the forward chain into the gateways'
// firewall chains, and those chains' rules. set finds a set by name (its
// ID); natted is the set of sources with an EIP or IP mapping; eips are
// the ENIs' own.
func natFirewallRules(table *nftables.Table, chain func(string) *nftables.Chain, oif []expr.Any, natted *nftables.Set, set func(string) *nftables.Set, eips []dataplane.EIP, gws []dataplane.NATGateway) (jumps, rules []*nftables.Rule) {
	isNew := []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitNEW), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)},
	}
	saddr := &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4}
	lookup := func(name string, invert bool) *expr.Lookup {
		s := set(name)
		return &expr.Lookup{SourceRegister: 1, SetName: name, SetID: s.ID, Invert: invert}
	}
	for _, g := range gws {
		if len(g.Firewall) == 0 {
			continue
		}
		name := dataplane.NATFirewallChain(g.ID)
		jump := &expr.Verdict{Kind: expr.VerdictJump, Chain: name}
		sel, mapped := natFirewallSelection(eips, g)
		if len(mapped) > 0 {
			jumps = append(jumps, &nftables.Rule{Table: table, Chain: chain(natForward),
				Exprs: cat(oif, isNew, []expr.Any{saddr, lookup(name+"_map", false), jump})})
		}
		if len(sel) > 0 {
			jumps = append(jumps, &nftables.Rule{Table: table, Chain: chain(natForward),
				Exprs: cat(oif, isNew, []expr.Any{
					saddr, &expr.Lookup{SourceRegister: 1, SetName: natted.Name, SetID: natted.ID, Invert: true},
				}, gwSNATKey(), []expr.Any{lookup(name+"_sel", false), jump})})
		}
		body, _ := firewallBody(name, g.Firewall, g.FirewallMap)
		rules = append(rules, natFirewallBody(table, chain, set, body)...)
	}
	return jumps, rules
}

// natFirewallBody makes the rules of a NAT firewall's chains (the
// lookups of a flattened one, or its rules, and each rule's chain), with
// the IDs of the sets their lookups name.
func natFirewallBody(table *nftables.Table, chain func(string) *nftables.Chain, set func(string) *nftables.Set, body []plRule) []*nftables.Rule {
	var out []*nftables.Rule
	for _, r := range body {
		for _, e := range r.exprs {
			if l, ok := e.(*expr.Lookup); ok {
				l.SetID = set(l.SetName).ID
			}
		}
		out = append(out, &nftables.Rule{Table: table, Chain: chain(r.chain), Exprs: r.exprs})
	}
	return out
}

// natFirewallCounters reads the packets each rule of each gateway's NAT
// firewall matched, in rule order, keyed by dataplane.NATFirewallChain.
func natFirewallCounters(conn *nftables.Conn) map[string][]uint64 {
	return firewallChainCounters(conn, &nftables.Table{Name: natTable, Family: nftables.TableFamilyINet}, "nfw_")
}

// firewallChainCounters reads the packets each rule matched, in rule
// order, of every firewall chain of table whose name starts with prefix
// (a gateway's NAT firewall, a peering's VPC firewall, the Internet
// firewall's in and out), keyed by the chain's name: the counter in the
// first rule of each rule's chain (firewallRuleChainRules).
func firewallChainCounters(conn *nftables.Conn, table *nftables.Table, prefix string) map[string][]uint64 {
	chains, err := conn.ListChainsOfTableFamily(table.Family)
	if err != nil {
		return nil
	}
	names := map[string]bool{}
	for _, c := range chains {
		if c.Table.Name == table.Name && strings.HasPrefix(c.Name, prefix) {
			names[c.Name] = true
		}
	}
	perRule := map[string]map[int]uint64{} // firewall chain -> rule -> count
	for name := range names {
		i := strings.LastIndex(name, "_r")
		if i < 0 || !names[name[:i]] {
			continue
		}
		n, err := strconv.Atoi(name[i+2:])
		if err != nil {
			continue
		}
		rules, err := conn.GetRules(table, &nftables.Chain{Name: name, Table: table})
		if err != nil || len(rules) == 0 {
			continue
		}
		var hits uint64
		for _, e := range rules[0].Exprs {
			if ctr, ok := e.(*expr.Counter); ok {
				hits = ctr.Packets
			}
		}
		if perRule[name[:i]] == nil {
			perRule[name[:i]] = map[int]uint64{}
		}
		perRule[name[:i]][n] = hits
	}
	out := map[string][]uint64{}
	for name, rules := range perRule {
		c := make([]uint64, len(rules))
		for i, n := range rules {
			if i < len(c) {
				c[i] = n
			}
		}
		out[name] = c
	}
	return out
}
