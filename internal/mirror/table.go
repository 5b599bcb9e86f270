package mirror

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"slices"
	"strings"
	"syscall"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	mnl "github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/palisade-project/palisade/internal/policy"
)

// The mirroring table of a VPC namespace, present while one of the VPC's
// local ENIs is the source of an enabled session, or copies are sent from
// the namespace to targets of its VPC for sources elsewhere (relayed from
// another host, or of a peered VPC: then it holds the output chain only):
//
//	table inet palisade_mirror {
//	  set sources { type ifname; elements = { host veths of source ENIs } }
//	  chain forward { type filter hook forward priority filter + 20; policy accept;
//	    iifname @sources limit rate 40000/second burst 4000 packets log prefix "palisade-mirror egress" group 8 queue-threshold 32 }
//	  chain input { type filter hook input priority filter + 20; policy accept;
//	    iifname @sources limit rate … log prefix "palisade-mirror egress-local" group 8 … }
//	  chain postrouting { type filter hook postrouting priority filter; policy accept;
//	    meta mark & 0x00800000 == 0 oifname @sources limit rate … log prefix "palisade-mirror ingress" group 8 … }
//	  chain output { type filter hook output priority raw; policy accept;
//	    meta mark & 0x00800000 != 0 notrack }
//	}
//
// The forward and input chains run after the security groups, network ACLs
// and the guard (priorities filter and filter + 10), so a packet they drop
// never gets here: what is mirrored is what the ENI really sent. Packets
// to an ENI are taken in postrouting, after every forward and output
// verdict. The copies themselves (Mark) are neither mirrored again nor
// tracked by conntrack, and the flow-log counting table passes them
// uncounted (flow logs never see them).
const (
	Table = "palisade_mirror"
	// Group is the NFLOG group of mirrored packets (flow logs use 7).
	Group = 8
	// Mark is the packet mark of the copies the mirror sends.
	Mark    = policy.MirrorCopyMark
	setName = "sources"
	// The prefixes say the direction, and for what an ENI sends whether
	// it was routed (forward: the TTL is already one less) or is for the
	// namespace itself (input). The hook is not read from NFLOG's packet
	// header: go-nflog v2.1.0 reads its padding byte instead.
	prefixEgress      = "palisade-mirror egress"
	prefixEgressLocal = "palisade-mirror egress-local"
	prefixIngress     = "palisade-mirror ingress"
	versionTag        = "palisade-mirror-v3"
	nftSockBuf        = 4 << 20
	// CopyBudget bounds the packets each chain of a VPC namespace's table
	// (routed, local, received) hands to the mirror per second; beyond it
	// copies are skipped in the kernel, where skipping costs almost
	// nothing, rather than copied into a queue the agent cannot drain
	// (BenchmarkMirrorCost: the agent copies about 60,000 packets per
	// second on two vCPUs). Mirroring is best effort: the traffic itself
	// is never held.
	CopyBudget      = 40000
	copyBudgetBurst = 4000
	// queueThreshold lets the kernel hand logged packets over in batches
	// (or after at most 10 ms).
	queueThreshold = 32
)

// ApplyTable makes the namespace's mirroring table hold exactly the source
// interfaces, and keep copies sent from the namespace out of conntrack
// when there are sources or receives is set (copies for targets here of
// sources elsewhere are sent from it); with neither, the table is removed
// (no cost on any packet). It reports whether it changed anything. A
// table whose chains, rules or set differ from what this version builds
// (drift, an older version) is replaced in one transaction.
func ApplyTable(nsPath string, ifaces []string, receives bool) (bool, error) {
	ns, err := os.Open(nsPath)
	if err != nil {
		return false, fmt.Errorf("open namespace: %w", err)
	}
	defer ns.Close()
	conn, err := nftables.New(nftables.WithNetNSFd(int(ns.Fd())), nftables.WithSockOptions(func(c *mnl.Conn) error {
		_ = c.SetReadBuffer(nftSockBuf)
		_ = c.SetWriteBuffer(nftSockBuf)
		return nil
	}))
	if err != nil {
		return false, fmt.Errorf("nftables connection: %w", err)
	}
	want := slices.Sorted(slices.Values(ifaces))
	want = slices.Compact(want)
	table := &nftables.Table{Name: Table, Family: nftables.TableFamilyINet}
	_, lerr := conn.ListTableOfFamily(Table, nftables.TableFamilyINet)
	exists := lerr == nil
	if len(want) == 0 && !receives {
		if !exists {
			return false, nil
		}
		conn.DelTable(table)
		if err := conn.Flush(); err != nil && !errors.Is(err, syscall.ENOENT) {
			return false, fmt.Errorf("delete %s: %w", Table, err)
		}
		return true, nil
	}
	if exists && intact(conn, table, want) {
		return false, nil
	}
	if err := rebuild(conn, table, want); err != nil {
		return false, err
	}
	return true, nil
}

// RemoveTable deletes the namespace's mirroring table, if any.
func RemoveTable(nsPath string) error {
	_, err := ApplyTable(nsPath, nil, false)
	return err
}

func tag(ifaces []string) string {
	h := fnv.New64a()
	h.Write([]byte(strings.Join(ifaces, "\x00")))
	return fmt.Sprintf("%s %016x", versionTag, h.Sum64())
}

func ifnameKey(name string) []byte {
	k := make([]byte, 16)
	copy(k, name)
	return k
}

// intact reports whether the table is what rebuild makes for ifaces.
func intact(conn *nftables.Conn, table *nftables.Table, ifaces []string) bool {
	set, err := conn.GetSetByName(table, setName)
	if err != nil {
		return false
	}
	elems, err := conn.GetSetElements(set)
	if err != nil || len(elems) != len(ifaces) {
		return false
	}
	have := make([]string, 0, len(elems))
	for _, e := range elems {
		have = append(have, strings.TrimRight(string(e.Key), "\x00"))
	}
	slices.Sort(have)
	if !slices.Equal(have, ifaces) {
		return false
	}
	want := chains(table, len(ifaces) > 0)
	for _, c := range want {
		rules, err := conn.GetRules(table, c.chain)
		if err != nil || len(rules) != 1 {
			return false
		}
		if t, _ := userdata.GetString(rules[0].UserData, userdata.TypeComment); t != tag(ifaces) {
			return false
		}
	}
	all, err := conn.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		return false
	}
	n := 0
	for _, c := range all {
		if c.Table.Name == Table {
			n++
		}
	}
	return n == len(want)
}

type chainSpec struct {
	chain *nftables.Chain
	exprs []expr.Any
}

// chains are the table's chains: the taps of the sources (when taps) and
// the copies' notrack.
func chains(table *nftables.Table, taps bool) []chainSpec {
	accept := nftables.ChainPolicyAccept
	mk := func(name string, hook *nftables.ChainHook, prio *nftables.ChainPriority) *nftables.Chain {
		return &nftables.Chain{Name: name, Table: table, Type: nftables.ChainTypeFilter, Hooknum: hook, Priority: prio, Policy: &accept}
	}
	sources := func(key expr.MetaKey) []expr.Any {
		return []expr.Any{
			&expr.Meta{Key: key, Register: 1},
			&expr.Lookup{SourceRegister: 1, SetName: setName, SetID: 1},
		}
	}
	log := func(prefix string) []expr.Any {
		return []expr.Any{
			&expr.Limit{Type: expr.LimitTypePkts, Rate: CopyBudget, Unit: expr.LimitTimeSecond, Burst: copyBudgetBurst},
			&expr.Log{Key: 1<<unix.NFTA_LOG_PREFIX | 1<<unix.NFTA_LOG_GROUP | 1<<unix.NFTA_LOG_QTHRESHOLD,
				Data: []byte(prefix), Group: Group, QThreshold: queueThreshold},
		}
	}
	markBit := func(op expr.CmpOp) []expr.Any {
		m := make([]byte, 4)
		binary.NativeEndian.PutUint32(m, Mark)
		return []expr.Any{
			&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: m, Xor: make([]byte, 4)},
			&expr.Cmp{Op: op, Register: 1, Data: make([]byte, 4)},
		}
	}
	notrack := chainSpec{mk("output", nftables.ChainHookOutput, nftables.ChainPriorityRaw),
		append(markBit(expr.CmpOpNeq), &expr.Notrack{})}
	if !taps {
		return []chainSpec{notrack}
	}
	return []chainSpec{
		{mk("forward", nftables.ChainHookForward, nftables.ChainPriorityRef(20)),
			append(sources(expr.MetaKeyIIFNAME), log(prefixEgress)...)},
		{mk("input", nftables.ChainHookInput, nftables.ChainPriorityRef(20)),
			append(sources(expr.MetaKeyIIFNAME), log(prefixEgressLocal)...)},
		{mk("postrouting", nftables.ChainHookPostrouting, nftables.ChainPriorityFilter),
			append(append(markBit(expr.CmpOpEq), sources(expr.MetaKeyOIFNAME)...), log(prefixIngress)...)},
		notrack,
	}
}

// rebuild replaces the table in one transaction ("add table" first, so
// the delete cannot fail).
func rebuild(conn *nftables.Conn, table *nftables.Table, ifaces []string) error {
	conn.AddTable(table)
	conn.DelTable(table)
	conn.AddTable(table)
	set := &nftables.Set{Table: table, Name: setName, ID: 1, KeyType: nftables.TypeIFName}
	elems := make([]nftables.SetElement, 0, len(ifaces))
	for _, n := range ifaces {
		elems = append(elems, nftables.SetElement{Key: ifnameKey(n)})
	}
	if err := conn.AddSet(set, elems); err != nil {
		return fmt.Errorf("add set %s: %w", setName, err)
	}
	t := tag(ifaces)
	for _, c := range chains(table, len(ifaces) > 0) {
		conn.AddChain(c.chain)
		conn.AddRule(&nftables.Rule{Table: table, Chain: c.chain, Exprs: c.exprs,
			UserData: userdata.AppendString(nil, userdata.TypeComment, t)})
	}
	if err := conn.Flush(); err != nil {
		return fmt.Errorf("commit %s: %w", Table, err)
	}
	return nil
}
