package linux

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"
)

// No EIP hairpin. A packet from inside a VPC to an EIP (of the same VPC or
// another) leaves by its uplink, translated to the sender's EIP, and
// reaches the host, which stands for the internet. A host that forwards
// (net.ipv4.ip_forward=1, as on any host running containers) would route
// it into the target EIP's uplink, and the packet would arrive from an EIP
// where the analysis (and the rest of the design) says no such path
// exists. So that this does not depend on a host setting Palisade does not
// own, the root namespace holds one small table per Applier that drops
// what would be forwarded from one of its uplinks to another:
//
//	table inet palisade_uplinks {          # palisade_<tag>_uplinks with a tag
//	  set uplinks { type ifname }          # this Applier's root-side uplink ends
//	  chain forward { type filter hook forward priority filter; policy accept;
//	    iifname @uplinks oifname @uplinks drop comment "palisade-uplinks-v1"
//	  }
//	}
//
// Nothing else is matched: traffic between the host's other interfaces,
// and from an uplink to the rest of the world (the internet, where the
// host forwards), is left alone. The table exists while the Applier has an
// uplink and is removed with the last one and by Cleanup.
const (
	hairpinSet     = "uplinks"
	hairpinChain   = "forward"
	hairpinVersion = "palisade-uplinks-v1"
)

// hairpinTable is the name of this Applier's table in the root namespace.
func (a *Applier) hairpinTable() string {
	return strings.ReplaceAll(a.marker, ":", "_") + "_uplinks"
}

// ifnameKey is a set key of type ifname: the name padded to IFNAMSIZ.
func ifnameKey(name string) []byte {
	k := make([]byte, unix.IFNAMSIZ)
	copy(k, name)
	return k
}

// syncHairpinTable makes the table drop forwarding between exactly the
// given uplinks (root-side names), or removes it when there are none:
// element by element when it is intact, otherwise by replacing it in one
// transaction.
func (a *Applier) syncHairpinTable(root *nsRef, uplinks []string) error {
	conn, err := nftables.New(nftables.WithNetNSFd(int(root.ns)), nftables.WithSockOptions(bigBuffers))
	if err != nil {
		return fmt.Errorf("root netns: nftables connection: %w", err)
	}
	name := a.hairpinTable()
	table := &nftables.Table{Name: name, Family: nftables.TableFamilyINet}
	if len(uplinks) == 0 {
		return deleteTableIfExists(conn, table)
	}
	want := make(map[string][]byte, len(uplinks))
	for _, u := range uplinks {
		want[u] = ifnameKey(u)
	}
	set, ok := hairpinTableIntact(conn, table)
	if !ok {
		return rebuildHairpinTable(conn, table, want)
	}
	have, err := conn.GetSetElements(set)
	if err != nil {
		return fmt.Errorf("root netns: list set %s of %s: %w", hairpinSet, name, err)
	}
	byKey := make(map[string][]byte, len(want))
	for _, k := range want {
		byKey[string(k)] = k
	}
	add, del := diffElements(have, byKey)
	if len(add) == 0 && len(del) == 0 {
		return nil
	}
	if len(add) > 0 {
		if err := addElements(conn, set, add); err != nil {
			return fmt.Errorf("root netns: add to %s: %w", name, err)
		}
	}
	if len(del) > 0 {
		if err := deleteElements(conn, set, del); err != nil {
			return fmt.Errorf("root netns: delete from %s: %w", name, err)
		}
	}
	if err := conn.Flush(); err != nil {
		return fmt.Errorf("root netns: commit %s elements: %w", name, err)
	}
	return nil
}

// hairpinTableIntact reports whether the table, its set and its one rule
// exist as this version builds them.
func hairpinTableIntact(conn *nftables.Conn, table *nftables.Table) (*nftables.Set, bool) {
	if _, err := conn.ListTableOfFamily(table.Name, table.Family); err != nil {
		return nil, false
	}
	set, err := conn.GetSetByName(table, hairpinSet)
	if err != nil {
		return nil, false
	}
	chain, err := conn.ListChain(table, hairpinChain)
	if err != nil || chain.Hooknum == nil || *chain.Hooknum != *nftables.ChainHookForward ||
		chain.Policy == nil || *chain.Policy != nftables.ChainPolicyAccept {
		return nil, false
	}
	rules, err := conn.GetRules(table, &nftables.Chain{Name: hairpinChain, Table: table})
	if err != nil || len(rules) != 1 {
		return nil, false
	}
	if c, _ := userdata.GetString(rules[0].UserData, userdata.TypeComment); c != hairpinVersion {
		return nil, false
	}
	return set, true
}

func rebuildHairpinTable(conn *nftables.Conn, table *nftables.Table, want map[string][]byte) error {
	conn.AddTable(table)
	conn.DelTable(table)
	conn.AddTable(table)
	set := &nftables.Set{Table: table, Name: hairpinSet, KeyType: nftables.TypeIFName, ID: 1,
		// Names are strings: host byte order, so that nft lists them.
		KeyByteOrder: binaryutil.NativeEndian}
	names := make([]string, 0, len(want))
	for n := range want {
		names = append(names, n)
	}
	slices.Sort(names)
	elems := make([]nftables.SetElement, 0, len(names))
	for _, n := range names {
		elems = append(elems, nftables.SetElement{Key: want[n]})
	}
	if err := addSet(conn, set, elems); err != nil {
		return fmt.Errorf("root netns: add set %s: %w", hairpinSet, err)
	}
	policy := nftables.ChainPolicyAccept
	chain := conn.AddChain(&nftables.Chain{
		Name: hairpinChain, Table: table, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter,
		Policy: &policy,
	})
	conn.AddRule(&nftables.Rule{Table: table, Chain: chain,
		UserData: userdata.AppendString(nil, userdata.TypeComment, hairpinVersion),
		Exprs: []expr.Any{
			&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
			&expr.Lookup{SourceRegister: 1, SetName: set.Name, SetID: set.ID},
			&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
			&expr.Lookup{SourceRegister: 1, SetName: set.Name, SetID: set.ID},
			&expr.Verdict{Kind: expr.VerdictDrop},
		}})
	if err := conn.Flush(); err != nil {
		return fmt.Errorf("root netns: commit %s: %w", table.Name, err)
	}
	return nil
}

// deleteTableIfExists deletes the table, and nothing when it is not there.
func deleteTableIfExists(conn *nftables.Conn, table *nftables.Table) error {
	if _, err := conn.ListTableOfFamily(table.Name, table.Family); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return fmt.Errorf("root netns: look up table %s: %w", table.Name, err)
	}
	conn.DelTable(table)
	if err := conn.Flush(); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("root netns: delete table %s: %w", table.Name, err)
	}
	return nil
}
