package linux

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"syscall"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
)

type chainHook struct {
	typ  nftables.ChainType
	hook *nftables.ChainHook
	prio *nftables.ChainPriority
	// device is the interface of a netdev-family ingress chain.
	device string
}

// tableSet is a set or map of a tagged table; rules refer to it by name.
type tableSet struct {
	name     string
	isMap    bool
	interval bool
	// concat: an interval set of concatenated keys (pipapo).
	concat    bool
	key, data nftables.SetDatatype
	elems     []nftables.SetElement
	// dynamic sets are filled by the rules (per-source meters), their
	// elements forgotten after timeout.
	dynamic bool
	timeout time.Duration
}

// applyTaggedTable replaces an ip-family table when what is in the kernel
// differs from what is wanted (a tag of the wanted content on every rule
// says what was loaded, so an unchanged table costs one listing); remove
// deletes it.
func applyTaggedTable(nsFd int, name string, chains map[string]chainHook, sets []tableSet, rules []plRule, remove bool) error {
	return applyTaggedTableOf(nsFd, nftables.TableFamilyIPv4, name, chains, sets, rules, remove, "")
}

// applyTaggedTableOf is applyTaggedTable for a table of any family; salt
// joins the tag (what the content depends on besides its rules, such as
// the index of a netdev chain's device, which a re-created device
// changes).
func applyTaggedTableOf(nsFd int, family nftables.TableFamily, name string, chains map[string]chainHook, sets []tableSet, rules []plRule, remove bool, salt string) error {
	conn, err := nftables.New(nftables.WithNetNSFd(nsFd), nftables.WithSockOptions(bigBuffers))
	if err != nil {
		return fmt.Errorf("nftables connection: %w", err)
	}
	table := &nftables.Table{Name: name, Family: family}
	_, lerr := conn.ListTableOfFamily(name, family)
	exists := lerr == nil
	if remove {
		if !exists {
			return nil
		}
		conn.DelTable(table)
		if err := conn.Flush(); err != nil && !errors.Is(err, syscall.ENOENT) {
			return fmt.Errorf("delete %s: %w", name, err)
		}
		return nil
	}
	tag := tableTag(sets, rules) + salt
	if exists && taggedTableIntact(conn, table, chains, len(rules), tag) {
		return nil
	}
	conn.AddTable(table)
	conn.DelTable(table)
	conn.AddTable(table)
	// Chains before sets: a verdict map's elements go to chains.
	accept := nftables.ChainPolicyAccept
	made := map[string]*nftables.Chain{}
	for _, cn := range slices.Sorted(mapsKeys(chains)) {
		h := chains[cn]
		if h.hook == nil { // a regular chain, jumped to
			made[cn] = conn.AddChain(&nftables.Chain{Name: cn, Table: table})
			continue
		}
		made[cn] = conn.AddChain(&nftables.Chain{Name: cn, Table: table, Type: h.typ, Hooknum: h.hook, Priority: h.prio, Policy: &accept, Device: h.device})
	}
	for i, m := range sets {
		set := &nftables.Set{Table: table, Name: m.name, ID: uint32(i + 1), IsMap: m.isMap, Interval: m.interval, Concatenation: m.concat,
			KeyType: m.key, DataType: m.data, Dynamic: m.dynamic, HasTimeout: m.timeout > 0, Timeout: m.timeout}
		if err := addSet(conn, set, m.elems); err != nil {
			return fmt.Errorf("add set %s: %w", m.name, err)
		}
	}
	for _, r := range rules {
		exprs := r.exprs
		setID := func(name string) uint32 {
			for j, m := range sets {
				if m.name == name {
					return uint32(j + 1)
				}
			}
			return 0
		}
		for i, e := range exprs {
			switch x := e.(type) {
			case *expr.Lookup:
				if x.SetID == 0 {
					c := *x
					c.SetID = setID(x.SetName)
					exprs[i] = &c
				}
			case *expr.Dynset:
				if x.SetID == 0 {
					c := *x
					c.SetID = setID(x.SetName)
					exprs[i] = &c
				}
			}
		}
		conn.AddRule(&nftables.Rule{Table: table, Chain: made[r.chain], Exprs: exprs,
			UserData: userdata.AppendString(nil, userdata.TypeComment, tag)})
	}
	if err := conn.Flush(); err != nil {
		return fmt.Errorf("commit %s: %w", name, err)
	}
	return nil
}

func mapsKeys(m map[string]chainHook) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// tableTag summarises the wanted content: the sets' elements and every
// rule's expressions.
func tableTag(sets []tableSet, rules []plRule) string {
	h := fnv.New64a()
	for _, m := range sets {
		fmt.Fprintf(h, "%s %v %v;", m.name, m.isMap, m.interval)
		for _, e := range m.elems {
			fmt.Fprintf(h, "%x %x %x %v", e.Key, e.KeyEnd, e.Val, e.IntervalEnd)
			if e.VerdictData != nil {
				fmt.Fprintf(h, " %d %s", e.VerdictData.Kind, e.VerdictData.Chain)
			}
			h.Write([]byte{','})
		}
	}
	for _, r := range rules {
		h.Write([]byte(r.chain))
		for _, e := range r.exprs {
			if d, ok := e.(*expr.Dynset); ok {
				// Its nested expressions are pointers: print their fields.
				fmt.Fprintf(h, "dynset %s %d %d %v[", d.SetName, d.Operation, d.SrcRegKey, d.Timeout)
				for _, x := range d.Exprs {
					fmt.Fprintf(h, "%T%+v,", x, x)
				}
				h.Write([]byte("];"))
				continue
			}
			fmt.Fprintf(h, "%T%+v;", e, e) // top-level pointers print their fields
		}
	}
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], h.Sum64())
	return fmt.Sprintf("%s %x %d", plVersionTag, n, len(rules))
}

// taggedTableIntact reports whether the kernel's table has the chains and the
// rules (by count and tag) this content makes.
func taggedTableIntact(conn *nftables.Conn, table *nftables.Table, chains map[string]chainHook, nrules int, tag string) bool {
	all, err := conn.ListChainsOfTableFamily(table.Family)
	if err != nil {
		return false
	}
	have := 0
	got := 0
	for _, c := range all {
		if c.Table.Name != table.Name {
			continue
		}
		if _, ok := chains[c.Name]; !ok {
			return false
		}
		have++
		rules, err := conn.GetRules(table, c)
		if err != nil {
			return false
		}
		for _, r := range rules {
			if t, _ := userdata.GetString(r.UserData, userdata.TypeComment); t != tag {
				return false
			}
			got++
		}
	}
	return have == len(chains) && got == nrules
}

// setElemChunk is how many elements go into one netlink message. All the
// elements of a google/nftables call travel in one nested attribute,
// whose 16-bit length wraps past 64 KiB: a few thousand elements (1,500
// of a concatenated verdict map) made the kernel refuse the whole
// transaction. Each chunk is a message of its own in the same batch, so
// the transaction stays one.
const setElemChunk = 256

// addSet adds set with elems, in chunks (see setElemChunk).
func addSet(conn *nftables.Conn, set *nftables.Set, elems []nftables.SetElement) error {
	first := elems[:min(len(elems), setElemChunk)]
	if err := conn.AddSet(set, first); err != nil {
		return err
	}
	return addElements(conn, set, elems[len(first):])
}

// addElements adds elems to set, in chunks (see setElemChunk).
func addElements(conn *nftables.Conn, set *nftables.Set, elems []nftables.SetElement) error {
	for len(elems) > 0 {
		n := min(len(elems), setElemChunk)
		if err := conn.SetAddElements(set, elems[:n]); err != nil {
			return err
		}
		elems = elems[n:]
	}
	return nil
}

// deleteElements deletes elems from set, in chunks (see setElemChunk).
func deleteElements(conn *nftables.Conn, set *nftables.Set, elems []nftables.SetElement) error {
	for len(elems) > 0 {
		n := min(len(elems), setElemChunk)
		if err := conn.SetDeleteElements(set, elems[:n]); err != nil {
			return err
		}
		elems = elems[n:]
	}
	return nil
}
