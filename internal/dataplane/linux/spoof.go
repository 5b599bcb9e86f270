package linux

import (
	"bytes"
	"fmt"
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	mnl "github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// The anti-spoofing table in every VPC namespace. It is Palisade's own table
// and the only one this file touches.
//
//	table inet palisade_spoof {
//	  set eni4 { type ifname . ipv4_addr }   # host veth . ENI address
//	  set eni6 { type ifname . ipv6_addr }
//	  chain prerouting { type filter hook prerouting priority raw; policy accept;
//	    iifname != "pv*" accept
//	    meta nfproto ipv4 iifname . ip saddr @eni4 accept
//	    meta nfproto ipv6 iifname . ip6 saddr @eni6 accept
//	    meta nfproto ipv6 ip6 saddr fe80::/10 meta l4proto ipv6-icmp accept  # ND, MLD
//	    meta nfproto ipv6 ip6 saddr :: meta l4proto ipv6-icmp accept         # DAD
//	    counter drop
//	  }
//	}
//
// The hook runs at raw priority, before conntrack, so a spoofed packet never
// creates a connection. Matching on the "pv" prefix rather than on a list of
// known veths fails closed: a veth whose addresses are not yet in the sets
// passes nothing.
const (
	spoofTable = "palisade_spoof"
	spoofChain = "prerouting"
	spoofSet4  = "eni4"
	spoofSet6  = "eni6"
	// spoofVersion is the comment on the last rule; a table whose
	// rules do not end with it is rebuilt, which also repairs rules
	// deleted by hand.
	spoofVersion = "palisade-spoof-v1"
	nftSockBuf   = 16 << 20
)

// spoofEntry is one allowed (host veth, source address) pair.
type spoofEntry struct {
	IfName string
	Addr   netip.Addr
}

func spoofKey(e spoofEntry) []byte {
	k := make([]byte, 16, 16+16)
	copy(k, e.IfName)
	return append(k, e.Addr.AsSlice()...)
}

// applySpoofTable makes the table in the namespace match entries: element
// by element when the table is intact, otherwise by replacing it in one
// atomic transaction.
func applySpoofTable(nsFd int, entries []spoofEntry) error {
	conn, err := nftables.New(nftables.WithNetNSFd(nsFd), nftables.WithSockOptions(bigBuffers))
	if err != nil {
		return fmt.Errorf("nftables connection: %w", err)
	}
	want4, want6 := map[string][]byte{}, map[string][]byte{}
	for _, e := range entries {
		k := spoofKey(e)
		if e.Addr.Is4() {
			want4[string(k)] = k
		} else {
			want6[string(k)] = k
		}
	}
	table := &nftables.Table{Name: spoofTable, Family: nftables.TableFamilyINet}
	set4, set6, ok := spoofTableIntact(conn, table)
	if !ok {
		return rebuildSpoofTable(conn, table, want4, want6)
	}
	changed := false
	for _, p := range []struct {
		set  *nftables.Set
		want map[string][]byte
	}{{set4, want4}, {set6, want6}} {
		have, err := conn.GetSetElements(p.set)
		if err != nil {
			return fmt.Errorf("list set %s: %w", p.set.Name, err)
		}
		add, del := diffElements(have, p.want)
		if len(add) > 0 {
			if err := addElements(conn, p.set, add); err != nil {
				return fmt.Errorf("add elements to %s: %w", p.set.Name, err)
			}
			changed = true
		}
		if len(del) > 0 {
			if err := deleteElements(conn, p.set, del); err != nil {
				return fmt.Errorf("delete elements from %s: %w", p.set.Name, err)
			}
			changed = true
		}
	}
	if !changed {
		return nil
	}
	if err := conn.Flush(); err != nil {
		return fmt.Errorf("commit %s elements: %w", spoofTable, err)
	}
	return nil
}

// bigBuffers raises the socket buffers: a VPC with many ENIs makes a batch
// that overflows the defaults (EMSGSIZE/ENOBUFS). Best effort: without the
// larger buffers small batches still work.
func bigBuffers(c *mnl.Conn) error {
	_ = c.SetReadBuffer(nftSockBuf)
	_ = c.SetWriteBuffer(nftSockBuf)
	return nil
}

func diffElements(have []nftables.SetElement, want map[string][]byte) (add, del []nftables.SetElement) {
	seen := make(map[string]bool, len(have))
	for _, e := range have {
		seen[string(e.Key)] = true
		if _, ok := want[string(e.Key)]; !ok {
			del = append(del, nftables.SetElement{Key: e.Key})
		}
	}
	for k, v := range want {
		if !seen[k] {
			add = append(add, nftables.SetElement{Key: v})
		}
	}
	return add, del
}

// spoofTableIntact reports whether the table, both sets and the complete
// chain exist as this version builds them.
func spoofTableIntact(conn *nftables.Conn, table *nftables.Table) (set4, set6 *nftables.Set, ok bool) {
	if _, err := conn.ListTableOfFamily(spoofTable, nftables.TableFamilyINet); err != nil {
		return nil, nil, false
	}
	set4, err := conn.GetSetByName(table, spoofSet4)
	if err != nil {
		return nil, nil, false
	}
	set6, err = conn.GetSetByName(table, spoofSet6)
	if err != nil {
		return nil, nil, false
	}
	chain, err := conn.ListChain(table, spoofChain)
	if err != nil || chain.Hooknum == nil || *chain.Hooknum != *nftables.ChainHookPrerouting {
		return nil, nil, false
	}
	rules, err := conn.GetRules(table, &nftables.Chain{Name: spoofChain, Table: table})
	if err != nil || len(rules) != len(spoofRules(table, set4, set6)) {
		return nil, nil, false
	}
	if c, _ := userdata.GetString(rules[len(rules)-1].UserData, userdata.TypeComment); c != spoofVersion {
		return nil, nil, false
	}
	return set4, set6, true
}

// rebuildSpoofTable replaces the table in one transaction: "add table" makes
// sure the following delete cannot fail, then everything is created anew.
func rebuildSpoofTable(conn *nftables.Conn, table *nftables.Table, want4, want6 map[string][]byte) error {
	conn.AddTable(table)
	conn.DelTable(table)
	conn.AddTable(table)
	// Explicit set IDs (they only need to be unique within this
	// transaction): with ID 0, AddSet increments a package-global counter
	// without synchronisation, a data race between concurrent Appliers.
	set4 := &nftables.Set{
		Table: table, Name: spoofSet4, Concatenation: true, ID: 1,
		KeyType: nftables.MustConcatSetType(nftables.TypeIFName, nftables.TypeIPAddr),
	}
	set6 := &nftables.Set{
		Table: table, Name: spoofSet6, Concatenation: true, ID: 2,
		KeyType: nftables.MustConcatSetType(nftables.TypeIFName, nftables.TypeIP6Addr),
	}
	if err := addSet(conn, set4, elements(want4)); err != nil {
		return fmt.Errorf("add set %s: %w", spoofSet4, err)
	}
	if err := addSet(conn, set6, elements(want6)); err != nil {
		return fmt.Errorf("add set %s: %w", spoofSet6, err)
	}
	policy := nftables.ChainPolicyAccept
	conn.AddChain(&nftables.Chain{
		Name: spoofChain, Table: table, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityRaw,
		Policy: &policy,
	})
	for _, r := range spoofRules(table, set4, set6) {
		conn.AddRule(r)
	}
	if err := conn.Flush(); err != nil {
		return fmt.Errorf("commit %s: %w", spoofTable, err)
	}
	return nil
}

func elements(m map[string][]byte) []nftables.SetElement {
	out := make([]nftables.SetElement, 0, len(m))
	for _, k := range m {
		out = append(out, nftables.SetElement{Key: k})
	}
	return out
}

func spoofRules(table *nftables.Table, set4, set6 *nftables.Set) []*nftables.Rule {
	chain := &nftables.Chain{Name: spoofChain, Table: table}
	accept := &expr.Verdict{Kind: expr.VerdictAccept}
	nfproto := func(p byte) []expr.Any {
		return []expr.Any{
			&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{p}},
		}
	}
	icmp6 := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_ICMPV6}},
	}
	// Concatenations fill registers back to back: the 16-byte ifname takes
	// register 1, the address starts in register 2.
	lookup := func(set *nftables.Set, off, n uint32) []expr.Any {
		return []expr.Any{
			&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
			&expr.Payload{DestRegister: 2, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: n},
			&expr.Lookup{SourceRegister: 1, SetName: set.Name, SetID: set.ID},
		}
	}
	saddr6 := func(mask, value []byte) []expr.Any {
		return []expr.Any{
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 8, Len: 16},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 16, Mask: mask, Xor: make([]byte, 16)},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: value},
		}
	}
	linkLocalMask := append([]byte{0xff, 0xc0}, make([]byte, 14)...)
	linkLocal := append([]byte{0xfe, 0x80}, make([]byte, 14)...)
	allOnes := bytes.Repeat([]byte{0xff}, 16)

	return []*nftables.Rule{
		{Table: table, Chain: chain, Exprs: []expr.Any{
			&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte(vethPrefix)},
			accept,
		}},
		{Table: table, Chain: chain, Exprs: cat(nfproto(unix.NFPROTO_IPV4), lookup(set4, 12, 4), []expr.Any{accept})},
		{Table: table, Chain: chain, Exprs: cat(nfproto(unix.NFPROTO_IPV6), lookup(set6, 8, 16), []expr.Any{accept})},
		{Table: table, Chain: chain, Exprs: cat(nfproto(unix.NFPROTO_IPV6), saddr6(linkLocalMask, linkLocal), icmp6, []expr.Any{accept})},
		{Table: table, Chain: chain, Exprs: cat(nfproto(unix.NFPROTO_IPV6), saddr6(allOnes, make([]byte, 16)), icmp6, []expr.Any{accept})},
		{Table: table, Chain: chain, UserData: userdata.AppendString(nil, userdata.TypeComment, spoofVersion), Exprs: []expr.Any{
			&expr.Counter{},
			&expr.Verdict{Kind: expr.VerdictDrop},
		}},
	}
}
