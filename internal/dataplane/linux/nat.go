package linux

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	mnl "github.com/mdlayher/netlink"
	"github.com/ti-mo/conntrack"
	"golang.org/x/sys/unix"

	"github.com/palisade-project/palisade/internal/dataplane"
)

// The public edge of a VPC namespace with EIPs: Palisade's own table, the
// only one this file touches, replaced in one transaction whenever the
// mappings change.
//
//	table inet palisade_nat {
//	  map dnat4 { type ipv4_addr : ipv4_addr }     # EIP -> private IP
//	  map snat4 { type ipv4_addr : ipv4_addr }     # private IP -> EIP
//	  set natted4 { type ipv4_addr }               # private IPs with an EIP
//	  map edge4 { type ipv4_addr : verdict }       # EIP -> jump edge_<eip>
//	  set admit_198_18_0_2_80 { type ipv4_addr . inet_service; flags interval }  # per WAF port with EIP.WAFAdmit
//	  chain edge_198_18_0_2 {                      # one per EIP
//	    tcp dport 80 ct state new tproxy ip to 198.18.0.2:80 meta mark set meta mark | 0x00400000 accept  # per WAF port
//	    tcp dport 80 ct state new drop             # no WAF listener: fail closed
//	  }
//	  chain edge { type filter hook prerouting priority mangle; policy accept;
//	    iifname "uplink" ip daddr 198.18.0.2 tcp dport 80 ct state new ip saddr . tcp sport != @admit_198_18_0_2_80 counter drop  # per WAF port with EIP.WAFAdmit
//	      # (with a WAFAdmission.Log: a limit rule and a log rule instead, as the program's deny chains have)
//	    meta l4proto tcp ct status & dnat == 0 socket transparent 1 meta mark set meta mark | 0x00400000 accept  # with WAF ports only
//	    iifname "uplink" meta nfproto ipv4 ip daddr vmap @edge4
//	  }
//	  map snatgw4 { type ipv4_addr . ipv4_addr : ipv4_addr; flags interval }  # NAT gateways: destination . source -> address
//	  chain prerouting { type nat hook prerouting priority dstnat; policy accept;
//	    meta mark & 0x00400000 == 0x00400000 accept  # with WAF ports only: steered, not translated
//	    iifname "uplink" meta nfproto ipv4 dnat ip to ip daddr map @dnat4   # EIPs and NAT gateways' IP mappings
//	    iifname "uplink" ip daddr 198.18.0.9 meta l4proto tcp th dport 8080 dnat ip to 10.0.1.5:80   # per forward entry
//	    iifname "uplink" ip daddr 198.18.0.9 icmp type echo-request dnat ip to 169.254.0.2          # gateway pings
//	  }
//	  chain postrouting { type nat hook postrouting priority srcnat; policy accept;
//	    oifname "uplink" meta nfproto ipv4 snat ip to ip saddr map @snat4
//	    oifname "uplink" meta nfproto ipv4 snat ip to ip daddr . ip saddr map @snatgw4   # with SNAT ranges
//	  }
//	  chain forward { type filter hook forward priority filter - 20; policy accept;
//	    iifname "uplink" meta nfproto != ipv4 drop
//	    oifname "uplink" meta nfproto != ipv4 drop
//	    iifname "uplink" ct status & (snat|dnat) == 0 drop   # only translated flows come in
//	    oifname "uplink" ct status & dnat == 0 ip saddr != @natted4 ip daddr . ip saddr != @snatgw4 drop
//	        # only replies of forwarded ports, ENIs with an EIP and what a gateway translates go out
//	  }
//	  chain input { type filter hook input priority filter; policy accept;
//	    meta mark & 0x00400000 == 0x00400000 accept          # with WAF ports only
//	    iifname "uplink" meta l4proto icmp ct status dnat accept   # gateway pings
//	    iifname "uplink" drop                                # the router itself is not on the internet
//	  }
//	}
//
// NAT gateways (dataplane.NATGateway) share the table: their addresses are
// routed over the same uplink, an IP mapping is an EIP in all but name,
// and an SNAT range or a forward entry is one more way through the same
// forward filter. A gateway's pings are translated to the router's own
// end of the uplink, which answers them.
//
// WAF steering (waf.go in this package has the sockets and the policy
// routing): a new connection to a protected port of an EIP is handed by
// tproxy to the WAF's transparent listener bound to EIP:port in this
// namespace, and marked so that the mark's routing table delivers it
// locally; it is neither translated nor forwarded. The WAF connects on to
// the instance from the client's own address (a transparent socket, so
// the security groups see the client, in the output hook), and the
// instance's answers, addressed to the client, match that socket and are
// delivered locally by the same mark instead of going out the uplink.
// Clients that the instance's network ACL and security groups deny
// (EIP.WAFAdmit) are dropped at their SYN, at the head of the edge chain,
// as the direct path drops them: they never see the WAF accept a
// connection.
//
// The edge chains are the per-EIP attachment point of the public edge
// (dataplane package doc): a filter chain, so it sees every inbound packet
// (not only a connection's first, as nat chains do), after conntrack and
// before the translation, with the EIP still as destination. The
// security-group chains of the VPC's program run later, in forward, on the
// translated packet: keyed by the ENI's interface, with the internet peer's
// real address, exactly as between ENIs.
const (
	natTable       = "palisade_nat"
	natDNAT        = "dnat4"
	natSNAT        = "snat4"
	natNatted      = "natted4"
	natEdgeMap     = "edge4"
	natEdgeChain   = "edge"
	natPrerouting  = "prerouting"
	natPostrouting = "postrouting"
	natForward     = "forward"
	natInput       = "input"
	natGatewaySNAT = "snatgw4"
	natVersion     = "palisade-nat-v3"
)

// SteerMark marks, in a VPC namespace, the packets of connections steered
// to the WAF (to the listener, and the instance's answers to the WAF's
// upstream connections): a policy-routing rule delivers them locally.
const SteerMark = 0x00400000

// AdmitSet is the name of the set of clients admitted to a WAF port of an
// EIP (EIP.WAFAdmit).
func AdmitSet(eip netip.Addr, port uint16) string {
	return fmt.Sprintf("admit_%s_%d", strings.ReplaceAll(eip.String(), ".", "_"), port)
}

// EdgeChain is the name of the per-EIP chain on the public edge of a VPC
// namespace (table inet palisade_nat): "edge_" and the address with
// underscores.
func EdgeChain(eip netip.Addr) string {
	return "edge_" + strings.ReplaceAll(eip.String(), ".", "_")
}

// natFingerprint identifies a set of mappings: the comment on the last
// rule of the forward chain, so an unchanged table is left alone.
func natFingerprint(eips []dataplane.EIP, gws []dataplane.NATGateway) string {
	lines := make([]string, 0, len(eips))
	for _, g := range gws {
		lines = append(lines, fmt.Sprintf("gw %s %v %+v %+v %v %+v %v", g.ID, g.ICMPReply, g.SNAT, g.DNAT, gatewayAddrs(g), g.Firewall, g.FirewallMap != nil))
	}
	for _, e := range eips {
		lines = append(lines, e.Address.String()+">"+e.PrivateIP.String()+fmt.Sprint(e.WAFPorts))
		for _, port := range slices.Sorted(maps.Keys(e.WAFAdmit)) {
			lines = append(lines, fmt.Sprintf("%s admit %d %+v", e.Address, port, e.WAFAdmit[port]))
		}
	}
	slices.Sort(lines)
	sum := sha256.Sum256([]byte(strings.Join(lines, "\n")))
	return natVersion + " " + hex.EncodeToString(sum[:8])
}

// gatewayAddrs are the public addresses of a NAT gateway.
func gatewayAddrs(g dataplane.NATGateway) []netip.Addr {
	out := make([]netip.Addr, 0, len(g.EIPs))
	for _, e := range g.EIPs {
		out = append(out, e.Address)
	}
	return out
}

// withIPMappings returns eips with the NAT gateways' IP mappings (DNAT
// rules of every protocol) added as EIPs of their internal addresses: they
// translate both ways exactly like an ENI's EIP.
func withIPMappings(eips []dataplane.EIP, gws []dataplane.NATGateway) []dataplane.EIP {
	out := slices.Clone(eips)
	for _, g := range gws {
		for _, r := range g.DNAT {
			if r.Proto == 0 {
				out = append(out, dataplane.EIP{ID: g.ID, Address: r.Addr, PrivateIP: r.Internal})
			}
		}
	}
	return out
}

// hasNATAddrs reports whether any gateway has a public address (and so
// needs the uplink).
func hasNATAddrs(gws []dataplane.NATGateway) bool {
	return slices.ContainsFunc(gws, func(g dataplane.NATGateway) bool { return len(g.EIPs) > 0 })
}

// applyNATTable makes the namespace's NAT table carry exactly eips and the
// NAT gateways gws, or removes it when there are neither.
func applyNATTable(nsFd int, eips []dataplane.EIP, gws []dataplane.NATGateway) error {
	conn, err := nftables.New(nftables.WithNetNSFd(nsFd), nftables.WithSockOptions(bigBuffers))
	if err != nil {
		return fmt.Errorf("nftables connection: %w", err)
	}
	table := &nftables.Table{Name: natTable, Family: nftables.TableFamilyINet}
	_, terr := conn.ListTableOfFamily(natTable, nftables.TableFamilyINet)
	if len(eips) == 0 && !hasNATAddrs(gws) {
		if terr != nil {
			return nil
		}
		conn.DelTable(table)
		if err := conn.Flush(); err != nil {
			return fmt.Errorf("delete %s: %w", natTable, err)
		}
		return nil
	}
	fp := natFingerprint(eips, gws)
	if terr == nil && natTableIntact(conn, table, fp, eips, gws) {
		return nil
	}
	conn.AddTable(table)
	conn.DelTable(table)
	conn.AddTable(table)
	v4 := func(a netip.Addr) []byte { b := a.As4(); return b[:] }
	var dnat, snat, natted, edge, gwSNAT []nftables.SetElement
	for _, e := range eips {
		conn.AddChain(&nftables.Chain{Name: EdgeChain(e.Address), Table: table})
		edge = append(edge, nftables.SetElement{Key: v4(e.Address),
			VerdictData: &expr.Verdict{Kind: expr.VerdictJump, Chain: EdgeChain(e.Address)}})
	}
	outbound := map[netip.Addr]bool{}
	for _, e := range withIPMappings(eips, gws) {
		dnat = append(dnat, nftables.SetElement{Key: v4(e.Address), Val: v4(e.PrivateIP)})
		// One way out per private address: an ENI's own EIP (first in
		// the list) before an IP mapping of the same address. Two
		// translations of one key would fail the whole transaction.
		if outbound[e.PrivateIP] {
			continue
		}
		outbound[e.PrivateIP] = true
		snat = append(snat, nftables.SetElement{Key: v4(e.PrivateIP), Val: v4(e.Address)})
		natted = append(natted, nftables.SetElement{Key: v4(e.PrivateIP)})
	}
	for _, g := range gws {
		for _, r := range g.SNAT {
			gwSNAT = append(gwSNAT, nftables.SetElement{
				Key: append(v4(r.Dst), v4(r.Src)...), KeyEnd: append(v4(r.DstTo), v4(r.SrcTo)...), Val: v4(r.Addr)})
		}
	}
	// Explicit set IDs, as in the spoof table (no shared global counter).
	sets := []natSet{
		{&nftables.Set{Table: table, Name: natDNAT, ID: 1, IsMap: true, KeyType: nftables.TypeIPAddr, DataType: nftables.TypeIPAddr}, dnat},
		{&nftables.Set{Table: table, Name: natSNAT, ID: 2, IsMap: true, KeyType: nftables.TypeIPAddr, DataType: nftables.TypeIPAddr}, snat},
		{&nftables.Set{Table: table, Name: natNatted, ID: 3, KeyType: nftables.TypeIPAddr}, natted},
		{&nftables.Set{Table: table, Name: natEdgeMap, ID: 4, IsMap: true, KeyType: nftables.TypeIPAddr, DataType: nftables.TypeVerdict}, edge},
		{&nftables.Set{Table: table, Name: natGatewaySNAT, ID: 5, IsMap: true, Interval: true, Concatenation: true,
			KeyType: nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeIPAddr), DataType: nftables.TypeIPAddr}, gwSNAT},
	}
	admit := admitSets(table, eips, uint32(len(sets)+1))
	for _, s := range sets {
		if err := addSet(conn, s.set, s.elems); err != nil {
			return fmt.Errorf("add set %s: %w", s.set.Name, err)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(admit)) {
		if err := addSet(conn, admit[name].set, admit[name].elems); err != nil {
			return fmt.Errorf("add set %s: %w", name, err)
		}
	}
	// The firewalls' chains before their maps: a map's elements go to them.
	for _, c := range natFirewallChains(table, gws) {
		conn.AddChain(c)
	}
	nextID := uint32(len(sets) + len(admit) + 1)
	for _, ts := range natFirewallSets(eips, gws) {
		s := &nftables.Set{Table: table, Name: ts.name, ID: nextID, KeyType: ts.key, Interval: ts.interval, Concatenation: ts.concat,
			IsMap: ts.isMap, DataType: ts.data}
		nextID++
		if err := addSet(conn, s, ts.elems); err != nil {
			return fmt.Errorf("add set %s: %w", s.Name, err)
		}
		admit[ts.name] = natSet{s, ts.elems}
	}
	for _, name := range refuseCounters(eips) {
		conn.AddObj(&nftables.CounterObj{Table: table, Name: name})
	}
	accept := nftables.ChainPolicyAccept
	for _, c := range natBaseChains(table) {
		c.Policy = &accept
		conn.AddChain(c)
	}
	admitSet := func(name string) *nftables.Set { return admit[name].set }
	for _, r := range natRules(table, natSets{sets[0].set, sets[1].set, sets[2].set, sets[3].set, sets[4].set}, admitSet, fp, eips, gws) {
		conn.AddRule(r)
	}
	if err := conn.Flush(); err != nil {
		return fmt.Errorf("commit %s: %w", natTable, err)
	}
	return nil
}

func natBaseChains(table *nftables.Table) []*nftables.Chain {
	forwardPrio := nftables.ChainPriorityRef(*nftables.ChainPriorityFilter - 20)
	return []*nftables.Chain{
		{Name: natEdgeChain, Table: table, Type: nftables.ChainTypeFilter, Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityMangle},
		{Name: natPrerouting, Table: table, Type: nftables.ChainTypeNAT, Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityNATDest},
		{Name: natPostrouting, Table: table, Type: nftables.ChainTypeNAT, Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource},
		{Name: natForward, Table: table, Type: nftables.ChainTypeFilter, Hooknum: nftables.ChainHookForward, Priority: forwardPrio},
		{Name: natInput, Table: table, Type: nftables.ChainTypeFilter, Hooknum: nftables.ChainHookInput, Priority: nftables.ChainPriorityFilter},
	}
}

// natTableIntact reports whether every chain has its rules and the last
// forward rule carries the fingerprint of the wanted mappings.
func natTableIntact(conn *nftables.Conn, table *nftables.Table, fp string, eips []dataplane.EIP, gws []dataplane.NATGateway) bool {
	want := map[string]int{}
	none := func(string) *nftables.Set { return &nftables.Set{} }
	empty := natSets{&nftables.Set{}, &nftables.Set{}, &nftables.Set{}, &nftables.Set{}, &nftables.Set{}}
	for _, r := range natRules(table, empty, none, fp, eips, gws) {
		want[r.Chain.Name]++
	}
	for name, n := range want {
		rules, err := conn.GetRules(table, &nftables.Chain{Name: name, Table: table})
		if err != nil || len(rules) != n {
			return false
		}
		if name == natForward {
			if c, _ := userdata.GetString(rules[n-1].UserData, userdata.TypeComment); c != fp {
				return false
			}
		}
	}
	return true
}

// natSet is a set of the NAT table with its elements.
type natSet struct {
	set   *nftables.Set
	elems []nftables.SetElement
}

// admitSets returns the sets of EIP.WAFAdmit by name, with IDs from
// firstID on, in name order.
func admitSets(table *nftables.Table, eips []dataplane.EIP, firstID uint32) map[string]natSet {
	out := map[string]natSet{}
	for _, e := range eips {
		for port, a := range e.WAFAdmit {
			elems := make([]nftables.SetElement, 0, len(a.Clients))
			for _, r := range a.Clients {
				from, to := r.From.As4(), r.To.As4()
				elems = append(elems, nftables.SetElement{
					Key:    append(from[:], byte(r.PortFrom>>8), byte(r.PortFrom), 0, 0),
					KeyEnd: append(to[:], byte(r.PortTo>>8), byte(r.PortTo), 0, 0),
				})
			}
			name := AdmitSet(e.Address, port)
			out[name] = natSet{&nftables.Set{Table: table, Name: name, KeyType: nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeInetService),
				Interval: true, Concatenation: true}, elems}
		}
	}
	id := firstID
	for _, name := range slices.Sorted(maps.Keys(out)) {
		out[name].set.ID = id
		id++
	}
	return out
}

// natSets are the NAT table's fixed sets, as the rules refer to them.
type natSets struct {
	dnat, snat, natted, edge, gwSNAT *nftables.Set
}

func natRules(table *nftables.Table, ns natSets, admitSet func(string) *nftables.Set, fp string, eips []dataplane.EIP, gws []dataplane.NATGateway) []*nftables.Rule {
	dnat, snat, natted, edge, gwSNAT := ns.dnat, ns.snat, ns.natted, ns.edge, ns.gwSNAT
	chain := func(n string) *nftables.Chain { return &nftables.Chain{Name: n, Table: table} }
	iif := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte(uplinkLink + "\x00")},
	}
	oif := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte(uplinkLink + "\x00")},
	}
	nfproto := func(op expr.CmpOp) []expr.Any {
		return []expr.Any{
			&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
			&expr.Cmp{Op: op, Register: 1, Data: []byte{unix.NFPROTO_IPV4}},
		}
	}
	daddr := &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4}
	saddr := &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4}
	drop := &expr.Verdict{Kind: expr.VerdictDrop}
	const ipsSrcNAT, ipsDstNAT = 1 << 4, 1 << 5 // IPS_SRC_NAT, IPS_DST_NAT
	natMask := uint32(ipsSrcNAT | ipsDstNAT)
	steered := steerMarked()
	accept := &expr.Verdict{Kind: expr.VerdictAccept}
	var pre, input, edgeBase []*nftables.Rule
	var perEIP, refuse []*nftables.Rule
	for _, e := range eips {
		for _, port := range e.WAFPorts {
			perEIP = append(perEIP, steerRules(table, chain(EdgeChain(e.Address)), e.Address, port)...)
			if a, ok := e.WAFAdmit[port]; ok {
				refuse = append(refuse, refuseRules(table, chain(natEdgeChain), iif, e.Address, port, admitSet(AdmitSet(e.Address, port)), a.Log)...)
			}
		}
	}
	if len(perEIP) > 0 {
		// A packet for one of the WAF's transparent sockets is delivered
		// locally. The socket lookup finds listening sockets too, so a
		// SYN to a protected port whose listener is up ends here, not in
		// the per-EIP chain's tproxy rule (which then only meets SYNs
		// while no listener exists, and drops them): the refuse rules
		// must come first. Flows translated to an instance (the direct
		// path, opened before the port was protected) are left alone:
		// they end on their own.
		edgeBase = append(edgeBase, &nftables.Rule{Table: table, Chain: chain(natEdgeChain), Exprs: cat(tcpOnly(), []expr.Any{
			&expr.Ct{Key: expr.CtKeySTATUS, Register: 1},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
				Mask: binaryutil.NativeEndian.PutUint32(ipsDstNAT), Xor: binaryutil.NativeEndian.PutUint32(0)},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(0)},
			&expr.Socket{Key: expr.SocketKeyTransparent, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{1}},
		}, setSteerMark(), []expr.Any{accept})})
		pre = append(pre, &nftables.Rule{Table: table, Chain: chain(natPrerouting), Exprs: cat(steered, []expr.Any{accept})})
		input = append(input, &nftables.Rule{Table: table, Chain: chain(natInput), Exprs: cat(steered, []expr.Any{accept})})
	}
	out := append(append(perEIP, refuse...), edgeBase...)
	out = append(out, pre...)
	out = append(out, input...)
	hasGwSNAT := slices.ContainsFunc(gws, func(g dataplane.NATGateway) bool { return len(g.SNAT) > 0 })
	gwPre, gwPost, gwInput := gatewayRules(table, chain, iif, oif, gws, gwSNAT)
	out = append(out, gwInput...)
	// An outbound packet is dropped unless its flow was translated on the
	// way in (a reply to a forwarded port), its source has an EIP or IP
	// mapping, or an SNAT range of a gateway covers it.
	lastOut := cat(oif, nfproto(expr.CmpOpEq), ctStatusIs(ipsDstNAT, false), []expr.Any{
		saddr,
		&expr.Lookup{SourceRegister: 1, SetName: natted.Name, SetID: natted.ID, Invert: true},
	})
	if hasGwSNAT {
		lastOut = append(lastOut, gwSNATKey()...)
		lastOut = append(lastOut, &expr.Lookup{SourceRegister: 1, SetName: gwSNAT.Name, SetID: gwSNAT.ID, Invert: true})
	}
	lastOut = append(lastOut, &expr.Counter{}, drop)
	fwJumps, fwRules := natFirewallRules(table, chain, oif, natted, admitSet, eips, gws)
	out = append(out, fwRules...)
	rules := []*nftables.Rule{
		{Table: table, Chain: chain(natEdgeChain), Exprs: cat(iif, nfproto(expr.CmpOpEq), []expr.Any{
			daddr,
			&expr.Lookup{SourceRegister: 1, DestRegister: 0, IsDestRegSet: true, SetName: edge.Name, SetID: edge.ID},
		})},
		{Table: table, Chain: chain(natPrerouting), Exprs: cat(iif, nfproto(expr.CmpOpEq), []expr.Any{
			daddr,
			&expr.Lookup{SourceRegister: 1, DestRegister: 1, IsDestRegSet: true, SetName: dnat.Name, SetID: dnat.ID},
			&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1},
		})},
	}
	rules = append(rules, gwPre...)
	rules = append(rules, &nftables.Rule{Table: table, Chain: chain(natPostrouting), Exprs: cat(oif, nfproto(expr.CmpOpEq), []expr.Any{
		saddr,
		&expr.Lookup{SourceRegister: 1, DestRegister: 1, IsDestRegSet: true, SetName: snat.Name, SetID: snat.ID},
		&expr.NAT{Type: expr.NATTypeSourceNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1},
	})})
	rules = append(rules, gwPost...)
	out = append(out, rules...)
	out = append(out, []*nftables.Rule{
		{Table: table, Chain: chain(natForward), Exprs: cat(iif, nfproto(expr.CmpOpNeq), []expr.Any{drop})},
		{Table: table, Chain: chain(natForward), Exprs: cat(oif, nfproto(expr.CmpOpNeq), []expr.Any{drop})},
		{Table: table, Chain: chain(natForward), Exprs: cat(iif, []expr.Any{
			&expr.Ct{Key: expr.CtKeySTATUS, Register: 1},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
				Mask: binaryutil.NativeEndian.PutUint32(natMask), Xor: binaryutil.NativeEndian.PutUint32(0)},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(0)},
			&expr.Counter{},
			drop,
		})},
	}...)
	out = append(out, fwJumps...)
	return append(out, []*nftables.Rule{
		{Table: table, Chain: chain(natForward), UserData: userdata.AppendString(nil, userdata.TypeComment, fp), Exprs: lastOut},
		{Table: table, Chain: chain(natInput), Exprs: cat(iif, []expr.Any{drop})},
	}...)
}

// ctStatusIs matches a conntrack status bit set (set) or clear.
func ctStatusIs(bit uint32, set bool) []expr.Any {
	op := expr.CmpOpEq
	if set {
		op = expr.CmpOpNeq
	}
	return []expr.Any{
		&expr.Ct{Key: expr.CtKeySTATUS, Register: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(bit), Xor: binaryutil.NativeEndian.PutUint32(0)},
		&expr.Cmp{Op: op, Register: 1, Data: binaryutil.NativeEndian.PutUint32(0)},
	}
}

// gwSNATKey loads the key of the gateways' SNAT map: destination address
// then source address.
func gwSNATKey() []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Payload{DestRegister: unix.NFT_REG32_01, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
	}
}

// gatewayRules are the NAT gateways' rules: port forwards and answered
// pings (prerouting), SNAT through the gateways' map (postrouting), and
// the local delivery of the pings (input).
//
//	iifname "uplink" ip daddr 198.18.0.9 meta l4proto tcp th dport 8080 dnat ip to 10.0.1.5:80   # per DNAT rule
//	iifname "uplink" ip daddr 198.18.0.9 icmp type echo-request dnat ip to 169.254.0.2          # ICMPReply
//	oifname "uplink" snat ip to ip daddr . ip saddr map @snatgw4
//	iifname "uplink" meta l4proto icmp ct status dnat accept                                   # input, ICMPReply
func gatewayRules(table *nftables.Table, chain func(string) *nftables.Chain, iif, oif []expr.Any, gws []dataplane.NATGateway, gwSNAT *nftables.Set) (pre, post, input []*nftables.Rule) {
	ipv4 := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.NFPROTO_IPV4}},
	}
	to := func(a netip.Addr) []expr.Any {
		b := a.As4()
		return []expr.Any{
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: b[:]},
		}
	}
	l4 := func(proto uint8) []expr.Any {
		return []expr.Any{
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
		}
	}
	rule := func(ch string, parts ...[]expr.Any) *nftables.Rule {
		var ex []expr.Any
		for _, p := range parts {
			ex = append(ex, p...)
		}
		return &nftables.Rule{Table: table, Chain: chain(ch), Exprs: ex}
	}
	ping := false
	for _, g := range gws {
		mapped := map[netip.Addr]bool{}
		for _, r := range g.DNAT {
			if r.Proto == 0 {
				mapped[r.Addr] = true
				continue
			}
			in := r.Internal.As4()
			pre = append(pre, rule(natPrerouting, iif, ipv4, to(r.Addr), l4(r.Proto), []expr.Any{
				&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(r.Port)},
				&expr.Immediate{Register: 1, Data: in[:]},
				&expr.Immediate{Register: 2, Data: binaryutil.BigEndian.PutUint16(r.InternalPort)},
				&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: 2, Specified: true},
			}))
		}
		if !g.ICMPReply {
			continue
		}
		router := uplinkVPCAddr.As4()
		for _, e := range g.EIPs {
			if mapped[e.Address] {
				continue // the mapped instance answers
			}
			ping = true
			pre = append(pre, rule(natPrerouting, iif, ipv4, to(e.Address), l4(unix.IPPROTO_ICMP), []expr.Any{
				&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 1},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{8}}, // echo request
				&expr.Immediate{Register: 1, Data: router[:]},
				&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1},
			}))
		}
	}
	if ping {
		input = append(input, rule(natInput, iif, l4(unix.IPPROTO_ICMP), ctStatusIs(1<<5, true), []expr.Any{&expr.Verdict{Kind: expr.VerdictAccept}}))
	}
	if slices.ContainsFunc(gws, func(g dataplane.NATGateway) bool { return len(g.SNAT) > 0 }) {
		post = append(post, rule(natPostrouting, oif, ipv4, gwSNATKey(), []expr.Any{
			&expr.Lookup{SourceRegister: 1, DestRegister: 1, IsDestRegSet: true, SetName: gwSNAT.Name, SetID: gwSNAT.ID},
			&expr.NAT{Type: expr.NATTypeSourceNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1},
		}))
	}
	return pre, post, input
}

func tcpOnly() []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
	}
}

// steerMarked matches packets carrying SteerMark.
func steerMarked() []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(SteerMark), Xor: binaryutil.NativeEndian.PutUint32(0)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(SteerMark)},
	}
}

// setSteerMark ORs SteerMark into the packet mark.
func setSteerMark() []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(^uint32(SteerMark)), Xor: binaryutil.NativeEndian.PutUint32(SteerMark)},
		&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: 1},
	}
}

// steerRules hands new TCP connections to eip:port to the WAF's
// transparent listener bound to exactly eip:port (tproxy), or drops them
// while there is none (tproxy finds no socket and ends the rule).
func steerRules(table *nftables.Table, ch *nftables.Chain, eip netip.Addr, port uint16) []*nftables.Rule {
	a4 := eip.As4()
	dport := newTCPTo(port)
	tproxy := []expr.Any{
		&expr.Immediate{Register: 1, Data: a4[:]},
		&expr.Immediate{Register: 2, Data: binaryutil.BigEndian.PutUint16(port)},
		&expr.TProxy{Family: byte(nftables.TableFamilyIPv4), TableFamily: byte(nftables.TableFamilyINet), RegAddr: 1, RegPort: 2},
	}
	var steer, fallback []expr.Any
	steer = append(append(append(append(steer, dport...), tproxy...), setSteerMark()...), &expr.Verdict{Kind: expr.VerdictAccept})
	fallback = append(append(fallback, dport...), &expr.Counter{}, &expr.Verdict{Kind: expr.VerdictDrop})
	return []*nftables.Rule{
		{Table: table, Chain: ch, Exprs: steer},
		{Table: table, Chain: ch, Exprs: fallback},
	}
}

// newTCPTo matches the first packet of a TCP connection to port.
func newTCPTo(port uint16) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(port)},
		&expr.Ct{Key: expr.CtKeySTATE, Register: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitNEW), Xor: binaryutil.NativeEndian.PutUint32(0)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(0)},
	}
}

// refuseCounters are the named counters the refuse rules' logging needs,
// sorted.
func refuseCounters(eips []dataplane.EIP) []string {
	var out []string
	for _, e := range eips {
		for _, a := range e.WAFAdmit {
			if l := a.Log; l.Prefix != "" {
				for _, n := range []string{l.LoggedCounter, l.OverCounter} {
					if !slices.Contains(out, n) {
						out = append(out, n)
					}
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

// refuseRules drop a new TCP connection from the internet (iif) to
// eip:port from a client outside the admit set, handing the SYN to NFLOG
// first when log has a prefix. They sit at the head of the edge base
// chain: a SYN to a port with a WAF listener matches that listening
// transparent socket there and is delivered to it at once.
func refuseRules(table *nftables.Table, ch *nftables.Chain, iif []expr.Any, eip netip.Addr, port uint16, admit *nftables.Set, log dataplane.NFLog) []*nftables.Rule {
	match := refuseMatch(iif, eip, port, admit)
	drop := &expr.Verdict{Kind: expr.VerdictDrop}
	if log.Prefix == "" {
		return []*nftables.Rule{{Table: table, Chain: ch, Exprs: append(match, &expr.Counter{}, drop)}}
	}
	counter := func(name string) expr.Any { return &expr.Objref{Type: int(nftables.ObjTypeCounter), Name: name} }
	over := append(slices.Clone(match),
		&expr.Limit{Type: expr.LimitTypePkts, Rate: uint64(log.Rate), Over: true, Unit: expr.LimitTimeSecond, Burst: log.Burst},
		counter(log.OverCounter), drop)
	logged := append(slices.Clone(match), counter(log.LoggedCounter),
		&expr.Log{Key: 1<<unix.NFTA_LOG_PREFIX | 1<<unix.NFTA_LOG_GROUP | 1<<unix.NFTA_LOG_SNAPLEN,
			Data: []byte(log.Prefix), Group: log.Group, Snaplen: log.Snaplen},
		drop)
	return []*nftables.Rule{{Table: table, Chain: ch, Exprs: over}, {Table: table, Chain: ch, Exprs: logged}}
}

// refuseMatch matches the SYN of a client outside admit to eip:port.
func refuseMatch(iif []expr.Any, eip netip.Addr, port uint16, admit *nftables.Set) []expr.Any {
	a4 := eip.As4()
	ex := append([]expr.Any{}, iif...)
	ex = append(ex,
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.NFPROTO_IPV4}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: a4[:]})
	ex = append(ex, newTCPTo(port)...)
	ex = append(ex,
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
		&expr.Payload{DestRegister: unix.NFT_REG32_01, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 2},
		&expr.Lookup{SourceRegister: 1, SetName: admit.Name, SetID: admit.ID, Invert: true})
	return ex
}

// flushStaleNAT deletes, in the namespace nsFd, every conntrack entry
// whose address translation no longer matches eips: an inbound flow whose
// EIP now maps elsewhere (or nowhere), an outbound flow whose private
// address now leaves with another EIP (or none). The flow's next packets
// then find no state; TCP ones are invalid and dropped, so the connection
// ends as it does in the cloud when the address moves.
// plTransitRange holds PrivateLink's transit addresses (model.TransitRange):
// the source a provider sees endpoint connections come from.
var plTransitRange = netip.MustParsePrefix("100.64.0.0/10")

// privateLinkFlow reports whether conntrack translated f for PrivateLink:
// on the consumer side its source became a transit address, on the
// provider side it came from one.
func privateLinkFlow(f conntrack.Flow) bool {
	if f.Status.SrcNAT() && plTransitRange.Contains(f.TupleReply.IP.DestinationAddress.Unmap()) {
		return true
	}
	return f.Status.DstNAT() && plTransitRange.Contains(f.TupleOrig.IP.SourceAddress.Unmap())
}

// natPortKey is a forwarded port of a NAT gateway's address.
type natPortKey struct {
	addr  netip.Addr
	proto uint8
	port  uint16
}

// gatewayView is what the NAT gateways translate, to judge existing flows.
type gatewayView struct {
	forwards map[natPortKey]netip.AddrPort // public address, proto, port -> internal
	pings    map[netip.Addr]bool           // addresses whose pings the gateway answers
	snat     []dataplane.SNATRange
}

func newGatewayView(gws []dataplane.NATGateway) gatewayView {
	v := gatewayView{forwards: map[natPortKey]netip.AddrPort{}, pings: map[netip.Addr]bool{}}
	for _, g := range gws {
		for _, r := range g.DNAT {
			if r.Proto != 0 {
				v.forwards[natPortKey{r.Addr, r.Proto, r.Port}] = netip.AddrPortFrom(r.Internal, r.InternalPort)
			}
		}
		if g.ICMPReply {
			for _, e := range g.EIPs {
				v.pings[e.Address] = true
			}
		}
		v.snat = append(v.snat, g.SNAT...)
	}
	return v
}

// inbound reports whether the gateways still translate an inbound flow
// from the internet to dst (proto, port) to the reply's source to.
func (v gatewayView) inbound(dst netip.Addr, proto uint8, port uint16, to netip.AddrPort) (known, ok bool) {
	if t, found := v.forwards[natPortKey{dst, proto, port}]; found {
		return true, t == to
	}
	if proto == unix.IPPROTO_ICMP && v.pings[dst] {
		return true, to.Addr() == uplinkVPCAddr
	}
	return false, false
}

// outbound reports whether src sending to dst still leaves with public.
func (v gatewayView) outbound(src, dst, public netip.Addr) bool {
	for _, r := range v.snat {
		if r.Dst.Compare(dst) <= 0 && dst.Compare(r.DstTo) <= 0 && r.Src.Compare(src) <= 0 && src.Compare(r.SrcTo) <= 0 {
			return r.Addr == public
		}
	}
	return false
}

func flushStaleNAT(nsFd int, eips []dataplane.EIP, gws []dataplane.NATGateway, lbs []dataplane.LoadBalancer) (int, error) {
	eips = withIPMappings(eips, gws)
	gw := newGatewayView(gws)
	// Listeners of load balancers, by address, protocol and port: their
	// connections live while the listener does (a backend removed or
	// found unhealthy takes no new ones; those it has run to their end).
	listeners := map[lbListenerKey]bool{}
	for _, lb := range lbs {
		for _, l := range lb.Listeners {
			listeners[lbListenerKey{lb.Addr, lbProto(l.Protocol), l.Port}] = true
		}
	}
	in := map[netip.Addr]netip.Addr{}  // EIP -> private
	out := map[netip.Addr]netip.Addr{} // private -> EIP
	for _, e := range eips {
		in[e.Address] = e.PrivateIP
		out[e.PrivateIP] = e.Address
	}
	c, err := conntrack.Dial(&mnl.Config{NetNS: nsFd})
	if err != nil {
		return 0, fmt.Errorf("conntrack dial: %w", err)
	}
	defer c.Close()
	flows, err := c.Dump(nil)
	if err != nil {
		return 0, fmt.Errorf("conntrack dump: %w", err)
	}
	lbAddr := map[netip.Addr]bool{}
	for _, lb := range lbs {
		lbAddr[lb.Addr] = true
	}
	n := 0
	for _, f := range flows {
		if privateLinkFlow(f) {
			continue // translated by PrivateLink's tables, not by an EIP
		}
		stale := false
		if dst := f.TupleOrig.IP.DestinationAddress.Unmap(); f.Status.DstNAT() && lbAddr[dst] {
			// original: client -> load balancer; reply: backend -> client
			if !listeners[lbListenerKey{dst, f.TupleOrig.Proto.Protocol, f.TupleOrig.Proto.DestinationPort}] {
				stale = true
			}
		} else if f.Status.DstNAT() {
			// original: peer -> EIP; reply: private -> peer
			dst := f.TupleOrig.IP.DestinationAddress.Unmap()
			to := netip.AddrPortFrom(f.TupleReply.IP.SourceAddress.Unmap(), f.TupleReply.Proto.SourcePort)
			if known, ok := gw.inbound(dst, f.TupleOrig.Proto.Protocol, f.TupleOrig.Proto.DestinationPort, to); known {
				stale = !ok
			} else {
				want, ok := in[dst]
				stale = !ok || want != to.Addr()
			}
		}
		if f.Status.SrcNAT() {
			// original: private -> peer; reply: peer -> EIP (or the
			// gateway's address)
			src, public := f.TupleOrig.IP.SourceAddress.Unmap(), f.TupleReply.IP.DestinationAddress.Unmap()
			if want, ok := out[src]; ok {
				stale = stale || want != public
			} else {
				stale = stale || !gw.outbound(src, f.TupleOrig.IP.DestinationAddress.Unmap(), public)
			}
		}
		if !stale {
			continue
		}
		if err := c.Delete(f); err != nil {
			return n, fmt.Errorf("conntrack delete %v: %w", f.TupleOrig, err)
		}
		n++
	}
	return n, nil
}
