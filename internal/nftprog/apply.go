package nftprog

import (
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
)

const (
	// sockBuf is the send and receive buffer of the netlink socket: a
	// full load is one sendmsg of the whole batch (tens of megabytes for
	// 100 ENIs with 1,000 rules each) and the kernel acknowledges every
	// message of it.
	sockBuf = 256 << 20
	// maxElemsPerMsg bounds the elements of one NEWSETELEM/DELSETELEM
	// message: its element list is one netlink attribute, whose length
	// is 16 bits (an IPv6 concatenated interval with a goto verdict
	// encodes in under 200 bytes).
	maxElemsPerMsg = 256
	// ioTimeout bounds a batch's round trip, so a kernel that never
	// acknowledges cannot hang the caller.
	ioTimeout = 2 * time.Minute
)

// Mode says how Apply changed the kernel's state.
type Mode int

// Modes of Apply.
const (
	Unchanged   Mode = iota // the specs are equal: nothing sent
	Incremental             // element deletions and additions
	Full                    // both tables replaced
)

func (m Mode) String() string {
	switch m {
	case Unchanged:
		return "unchanged"
	case Incremental:
		return "incremental"
	default:
		return "full"
	}
}

// Skeleton is everything of the spec but the elements of named sets and
// maps: two specs with the same skeleton differ in elements only.
func (s *Spec) Skeleton() string { return s.skeleton }

// Equal reports whether the specs describe the same state.
func (s *Spec) Equal(o *Spec) bool {
	if s.skeleton != o.skeleton {
		return false
	}
	for i, t := range s.Tables {
		for j, set := range t.Sets {
			if !sameElems(set.Elems, o.Tables[i].Sets[j].Elems) {
				return false
			}
		}
	}
	return true
}

func sameElems(a, b []nftables.SetElement) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if elemKey(a[i]) != elemKey(b[i]) {
			return false
		}
	}
	return true
}

// Elements returns the number of elements of named sets and maps.
func (s *Spec) Elements() int {
	n := 0
	for _, t := range s.Tables {
		for _, set := range t.Sets {
			n += len(set.Elems)
		}
	}
	return n
}

// Apply commits new in one netlink batch (one transaction: all or
// nothing). With old (what the kernel holds, as last applied) of the same
// skeleton, it sends the element changes, deletions first (a re-split
// interval never overlaps its old self); otherwise it replaces every table
// of new. A failed batch leaves the kernel's tables as they were.
func Apply(c *Conn, old, new *Spec) (Mode, error) {
	if err := c.real.SetDeadline(time.Now().Add(ioTimeout)); err != nil {
		return Unchanged, fmt.Errorf("netlink deadline: %w", err)
	}
	conn := c.nft
	mode := Full
	if old != nil && old.skeleton == new.skeleton {
		mode = Incremental
		if !queueElementChanges(conn, old, new) {
			return Unchanged, nil
		}
	} else if err := queueFull(conn, new); err != nil {
		return mode, err
	}
	if err := conn.Flush(); err != nil {
		return mode, fmt.Errorf("commit %s nftables batch: %w", mode, err)
	}
	return mode, nil
}

func queueFull(conn *nftables.Conn, s *Spec) error {
	// Named counters keep their values across the replacement (capture
	// reads them as running totals); what is counted between this read and
	// the commit is lost, a window of one batch.
	kept := map[string]*nftables.CounterObj{}
	for _, t := range s.Tables {
		objs, err := conn.GetObjects(t.Table)
		if err != nil {
			continue // no such table yet
		}
		for _, o := range objs {
			if c, ok := o.(*nftables.CounterObj); ok {
				kept[t.Table.Name+"/"+c.Name] = c
			}
		}
	}
	for _, t := range s.Tables {
		// Adding first makes the delete succeed whether or not the
		// table exists; the last add creates it anew.
		conn.AddTable(t.Table)
		conn.DelTable(t.Table)
		conn.AddTable(t.Table)
	}
	for _, t := range s.Tables {
		for _, name := range t.Counters {
			c := &nftables.CounterObj{Table: t.Table, Name: name}
			if k := kept[t.Table.Name+"/"+name]; k != nil {
				c.Packets, c.Bytes = k.Packets, k.Bytes
			}
			conn.AddObj(c)
		}
		// Chains before sets (verdict maps name chains), sets before
		// rules (rules look sets up).
		for _, c := range t.Chains {
			conn.AddChain(c.Chain)
		}
		for _, set := range t.Sets {
			if err := conn.AddSet(set.Set, nil); err != nil {
				return fmt.Errorf("add set %s: %w", set.Set.Name, err)
			}
			if err := addElems(conn, set.Set, set.Elems); err != nil {
				return err
			}
		}
		for _, c := range t.Chains {
			for _, r := range c.Rules {
				for _, a := range r.Anon {
					if err := conn.AddSet(a.Set, a.Elems); err != nil {
						return fmt.Errorf("add anonymous set of chain %s: %w", c.Chain.Name, err)
					}
				}
				conn.AddRule(r.Rule)
			}
		}
	}
	return nil
}

func addElems(conn *nftables.Conn, s *nftables.Set, elems []nftables.SetElement) error {
	for len(elems) > 0 {
		n := min(len(elems), maxElemsPerMsg)
		if err := conn.SetAddElements(s, elems[:n]); err != nil {
			return fmt.Errorf("add elements to %s: %w", s.Name, err)
		}
		elems = elems[n:]
	}
	return nil
}

func delElems(conn *nftables.Conn, s *nftables.Set, elems []nftables.SetElement) error {
	for len(elems) > 0 {
		n := min(len(elems), maxElemsPerMsg)
		if err := conn.SetDeleteElements(s, elems[:n]); err != nil {
			return fmt.Errorf("delete elements from %s: %w", s.Name, err)
		}
		elems = elems[n:]
	}
	return nil
}

// queueElementChanges queues the element deletions, then additions, that
// turn old into new (same skeleton); false when there are none.
func queueElementChanges(conn *nftables.Conn, old, new *Spec) bool {
	type change struct {
		set      *nftables.Set
		del, add []nftables.SetElement
	}
	var changes []change
	for i, t := range new.Tables {
		for j, set := range t.Sets {
			del, add := diff(old.Tables[i].Sets[j].Elems, set.Elems)
			if len(del)+len(add) > 0 {
				changes = append(changes, change{set.Set, del, add})
			}
		}
	}
	if len(changes) == 0 {
		return false
	}
	for _, c := range changes {
		// Errors here are encoding errors of elements the spec built;
		// the conn records them and Flush reports them.
		_ = delElems(conn, c.set, c.del)
	}
	for _, c := range changes {
		_ = addElems(conn, c.set, c.add)
	}
	return true
}

func diff(before, after []nftables.SetElement) (gone, added []nftables.SetElement) {
	in := make(map[string]bool, len(before))
	for _, e := range before {
		in[elemKey(e)] = true
	}
	out := make(map[string]bool, len(after))
	for _, e := range after {
		k := elemKey(e)
		out[k] = true
		if !in[k] {
			added = append(added, e)
		}
	}
	for _, e := range before {
		if !out[elemKey(e)] {
			// A deletion names the key only.
			gone = append(gone, nftables.SetElement{Key: e.Key, KeyEnd: e.KeyEnd, IntervalEnd: e.IntervalEnd})
		}
	}
	return gone, added
}

// elemKey identifies an element with its data (a changed verdict is a
// deletion and an addition).
func elemKey(e nftables.SetElement) string {
	var b strings.Builder
	b.WriteString(hex.EncodeToString(e.Key))
	b.WriteByte('-')
	b.WriteString(hex.EncodeToString(e.KeyEnd))
	if e.IntervalEnd {
		b.WriteString("/end")
	}
	b.WriteByte(':')
	b.WriteString(hex.EncodeToString(e.Val))
	if v := e.VerdictData; v != nil {
		fmt.Fprintf(&b, ":%d:%s", v.Kind, v.Chain)
	}
	return b.String()
}

// skeleton serializes everything but the elements of named sets.
func skeleton(s *Spec) string {
	var b strings.Builder
	setHeader := func(set *nftables.Set) {
		fmt.Fprintf(&b, " set %s id=%d anon=%t const=%t int=%t map=%t concat=%t key=%d/%d data=%d/%d order=%v\n",
			set.Name, set.ID, set.Anonymous, set.Constant, set.Interval, set.IsMap, set.Concatenation,
			set.KeyType.GetNFTMagic(), set.KeyType.Bytes, set.DataType.GetNFTMagic(), set.DataType.Bytes,
			set.KeyByteOrder == binaryutil.NativeEndian)
	}
	for _, t := range s.Tables {
		fmt.Fprintf(&b, "table %s\n", t.Table.Name)
		for _, c := range t.Counters {
			fmt.Fprintf(&b, " counter %s\n", c)
		}
		for _, set := range t.Sets {
			setHeader(set.Set)
		}
		for _, c := range t.Chains {
			fmt.Fprintf(&b, " chain %s", c.Chain.Name)
			if c.Chain.Hooknum != nil {
				fmt.Fprintf(&b, " hook=%d prio=%d type=%s", *c.Chain.Hooknum, *c.Chain.Priority, c.Chain.Type)
			}
			b.WriteByte('\n')
			for _, r := range c.Rules {
				for _, a := range r.Anon {
					setHeader(a.Set)
					for _, e := range a.Elems {
						fmt.Fprintf(&b, "  elem %s\n", elemKey(e))
					}
				}
				b.WriteString("  rule")
				for _, e := range r.Rule.Exprs {
					data, err := expr.Marshal(byte(t.Table.Family), e)
					if err != nil {
						fmt.Fprintf(&b, " !%v", err)
						continue
					}
					b.WriteByte(' ')
					b.WriteString(hex.EncodeToString(data))
				}
				fmt.Fprintf(&b, " ud=%x\n", r.Rule.UserData)
			}
		}
	}
	return b.String()
}
