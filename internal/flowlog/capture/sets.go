package capture

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"syscall"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/palisade-project/palisade/internal/policy"
)

// The counting table. While a VPC has an active flow log, capture keeps
// one table of its own in the VPC namespace, separate from the policy
// program (which the agent replaces whole on structural changes: the
// counts must survive that). Its base chains run after the program and the
// guard on the forward, input and output hooks, so they see only packets
// every stage let through, with the addresses the ENIs see (after the
// EIPs' destination translation, before their source translation). Each
// packet updates one element of a dynamic set keyed by its own header
// (addresses, protocol, ports, and for TCP its flags), and the element's
// counter counts it: per-flow accounting in the kernel, read in batches by
// netlink dumps, with no message per connection (conntrack events cost
// more per connection than everything else the capture does).
//
//	table inet palisade_flowlog {
//	  counter flowlog_full {}
//	  counter flowlog_mirror_copies {}
//	  set t4_00 ... t4_15 { type ipv4_addr . ipv4_addr . inet_service . inet_service . mark   # TCP flags
//	           size 65536; flags dynamic,timeout; timeout 2m; counter }
//	  set p4_NN { type ipv4_addr . ipv4_addr . inet_proto . inet_service . inet_service ... }
//	  set o4_NN { type ipv4_addr . ipv4_addr . inet_proto ... }
//	  set t6_NN, p6_NN, o6_NN { the same with ipv6_addr }
//	  map shard_t4 { type integer : verdict; elements = { 0 : goto c_t4_00, ... } }   # and so on
//	  chain c_t4_00 { update @t4_00 { ip saddr . ip daddr . th sport . th dport . tcp flags } accept; counter name flowlog_full }
//	  chain count {
//	    meta mark & 0x00800000 != 0 counter name flowlog_mirror_copies accept   # the traffic mirror's copies
//	    meta nfproto ipv4 meta l4proto tcp <load ip saddr . ip daddr . th sport . th dport . tcp flags>
//	        jhash <key> mod 16 vmap @shard_t4
//	    meta nfproto ipv4 meta l4proto udp <load ip saddr . ip daddr . meta l4proto . th sport . th dport> ... vmap @shard_p4
//	    (udplite, sctp, dccp likewise)
//	    meta nfproto ipv4 meta l4proto != { tcp, udp, udplite, sctp, dccp } <load ip saddr . ip daddr . meta l4proto> ... vmap @shard_o4
//	    meta nfproto ipv6 meta l4proto icmpv6 icmpv6 type 130-143 accept   # neighbour discovery, MLD
//	    (the same for ipv6)
//	  }
//	  chain forward { type filter hook forward priority filter + 20; policy accept; jump count }
//	  chain input   { ... input ... }
//	  chain output  { ... output ... }
//	}
//
// An element leaves its set CountTimeout after its last packet (every
// update restarts its timeout), far longer than the time between two
// dumps, so its last counters are always read.
const (
	CountTable = "palisade_flowlog"
	// CountTimeout is how long an element outlives its last packet.
	CountTimeout = 2 * time.Minute
	// CountSetSize bounds each set (CountShards sets per key shape: about
	// a million flows of each shape per VPC); a packet of a new flow that
	// finds its set full is counted in FullCounter, and the window says
	// SKIPDATA.
	CountSetSize = 1 << 16
	FullCounter  = "flowlog_full"
	// CopiesCounter counts the traffic mirror's copies (marked
	// policy.MirrorCopyMark), which the table passes uncounted otherwise.
	CopiesCounter = "flowlog_mirror_copies"
	countPrio     = 20 // after the program (filter) and the guard (filter + 10)
)

// Key shapes of the counting sets.
const (
	shapeTCP   = iota // addresses, ports, TCP flags
	shapePorts        // addresses, protocol, ports
	shapeOther        // addresses, protocol
)

// portProtos are the protocols other than TCP whose first four transport
// bytes are source and destination ports.
var portProtos = [...]uint8{unix.IPPROTO_UDP, unix.IPPROTO_UDPLITE, unix.IPPROTO_SCTP, unix.IPPROTO_DCCP}

// CountShards is the number of sets of each key shape: a packet's key
// hash picks one. A dump of a set walks it from its start for every
// batch of elements (nft_rhash_walk skips what it sent), which costs the
// square of the set's size: sixteen sets of n/16 cost sixteen times less
// than one of n (100,000 elements: about 0.2 s instead of 2.7 s).
const CountShards = 16

// countSet is one set of a key shape.
type countSet struct {
	name  string
	v6    bool
	shape int
}

// countShapes are the key shapes, named after their sets' prefix.
func countShapes() []countSet {
	return []countSet{{"t4", false, shapeTCP}, {"p4", false, shapePorts}, {"o4", false, shapeOther},
		{"t6", true, shapeTCP}, {"p6", true, shapePorts}, {"o6", true, shapeOther}}
}

// shard is the set of shard i of the shape cs.
func (cs countSet) shard(i int) countSet {
	return countSet{name: fmt.Sprintf("%s_%02d", cs.name, i), v6: cs.v6, shape: cs.shape}
}

// countSets are all the counting sets.
func countSets() []countSet {
	var out []countSet
	for _, cs := range countShapes() {
		for i := range CountShards {
			out = append(out, cs.shard(i))
		}
	}
	return out
}

// keyLen is the length of a set's key (every field padded to 4 bytes).
func (s countSet) keyLen() int {
	a := 4
	if s.v6 {
		a = 16
	}
	switch s.shape {
	case shapeTCP:
		return 2*a + 12
	case shapePorts:
		return 2*a + 12
	default:
		return 2*a + 4
	}
}

func (s countSet) keyType() nftables.SetDatatype {
	addr := nftables.TypeIPAddr
	if s.v6 {
		addr = nftables.TypeIP6Addr
	}
	var t nftables.SetDatatype
	switch s.shape {
	case shapeTCP:
		t, _ = nftables.ConcatSetType(addr, addr, nftables.TypeInetService, nftables.TypeInetService, nftables.TypeMark)
	case shapePorts:
		t, _ = nftables.ConcatSetType(addr, addr, nftables.TypeInetProto, nftables.TypeInetService, nftables.TypeInetService)
	default:
		t, _ = nftables.ConcatSetType(addr, addr, nftables.TypeInetProto)
	}
	return t
}

// queueCountTable queues the counting table's objects on conn (one
// batch), with sets of size elements at most.
func queueCountTable(conn *nftables.Conn, size int) error {
	t := conn.AddTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: CountTable})
	conn.AddObj(&nftables.CounterObj{Table: t, Name: FullCounter})
	conn.AddObj(&nftables.CounterObj{Table: t, Name: CopiesCounter})
	full := &expr.Objref{Type: int(nftables.ObjTypeCounter), Name: FullCounter}
	count := conn.AddChain(&nftables.Chain{Name: "count", Table: t})
	// The traffic mirror's copies are not flows of the VPC (flow logs do
	// not log them): counted apart, never in a set.
	conn.AddRule(&nftables.Rule{Table: t, Chain: count, Exprs: []expr.Any{
		&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binary.NativeEndian.AppendUint32(nil, policy.MirrorCopyMark), Xor: []byte{0, 0, 0, 0}},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte{0, 0, 0, 0}},
		&expr.Objref{Type: int(nftables.ObjTypeCounter), Name: CopiesCounter},
		&expr.Verdict{Kind: expr.VerdictAccept},
	}})
	// Set IDs name sets within the batch. They are given here: the
	// library's own allocator is a package variable that concurrent
	// captures would race on.
	var setID uint32
	nextID := func() uint32 { setID++; return setID }
	for _, cs := range countShapes() {
		// The shape's shards: a set and a chain that updates it each,
		// and the verdict map from a key's hash to the chain.
		vmap := &nftables.Set{Table: t, Name: "shard_" + cs.name, ID: nextID(), IsMap: true, KeyType: nftables.TypeInteger, DataType: nftables.TypeVerdict}
		var jumps []nftables.SetElement
		for i := range CountShards {
			sh := cs.shard(i)
			set := &nftables.Set{Table: t, Name: sh.name, ID: nextID(), KeyType: sh.keyType(), Concatenation: true, Dynamic: true,
				HasTimeout: true, Timeout: CountTimeout, Counter: true, Size: uint32(size)}
			if err := conn.AddSet(set, nil); err != nil {
				return fmt.Errorf("counting set %s: %w", sh.name, err)
			}
			// The key is loaded again: the kernel takes registers only
			// from the rule that wrote them.
			ch := conn.AddChain(&nftables.Chain{Name: "c_" + sh.name, Table: t})
			conn.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: append(keyExprs(sh),
				&expr.Dynset{SrcRegKey: 8, SetName: sh.name, SetID: set.ID, Operation: unix.NFT_DYNSET_OP_UPDATE},
				&expr.Verdict{Kind: expr.VerdictAccept})})
			// Reached when the update failed: the set is full.
			conn.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: []expr.Any{full}})
			jumps = append(jumps, nftables.SetElement{Key: binary.NativeEndian.AppendUint32(nil, uint32(i)),
				VerdictData: &expr.Verdict{Kind: expr.VerdictGoto, Chain: ch.Name}})
		}
		if err := conn.AddSet(vmap, jumps); err != nil {
			return fmt.Errorf("counting shards of %s: %w", cs.name, err)
		}
		fam := byte(unix.NFPROTO_IPV4)
		if cs.v6 {
			fam = unix.NFPROTO_IPV6
		}
		head := []expr.Any{
			&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{fam}},
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		}
		var protos [][]expr.Any
		switch cs.shape {
		case shapeTCP:
			protos = append(protos, []expr.Any{&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}}})
		case shapePorts:
			for _, p := range portProtos {
				protos = append(protos, []expr.Any{&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{p}}})
			}
		default:
			var ne []expr.Any
			for _, p := range append([]uint8{unix.IPPROTO_TCP}, portProtos[:]...) {
				ne = append(ne, &expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte{p}})
			}
			protos = append(protos, ne)
			if cs.v6 {
				// Neighbour discovery and MLD (ICMPv6 130-143) are
				// the network's own, never a flow's.
				conn.AddRule(&nftables.Rule{Table: t, Chain: count, Exprs: append(append([]expr.Any{}, head...),
					&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_ICMPV6}},
					&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 1},
					&expr.Cmp{Op: expr.CmpOpGte, Register: 1, Data: []byte{130}},
					&expr.Cmp{Op: expr.CmpOpLte, Register: 1, Data: []byte{143}},
					&expr.Verdict{Kind: expr.VerdictAccept})})
			}
		}
		for _, p := range protos {
			exprs := append(append(append([]expr.Any{}, head...), p...), keyExprs(cs)...)
			exprs = append(exprs,
				&expr.Hash{SourceRegister: 8, DestRegister: 1, Length: uint32(cs.keyLen()), Modulus: CountShards, Type: expr.HashTypeJenkins},
				&expr.Lookup{SourceRegister: 1, SetName: vmap.Name, SetID: vmap.ID, IsDestRegSet: true, DestRegister: 0})
			conn.AddRule(&nftables.Rule{Table: t, Chain: count, Exprs: exprs})
		}
	}
	for _, h := range []struct {
		name string
		hook *nftables.ChainHook
	}{{"forward", nftables.ChainHookForward}, {"input", nftables.ChainHookInput}, {"output", nftables.ChainHookOutput}} {
		ch := conn.AddChain(&nftables.Chain{Name: h.name, Table: t, Type: nftables.ChainTypeFilter, Hooknum: h.hook,
			Priority: nftables.ChainPriorityRef(*nftables.ChainPriorityFilter + countPrio)})
		conn.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: []expr.Any{&expr.Verdict{Kind: expr.VerdictJump, Chain: "count"}}})
	}
	return nil
}

// keyExprs load a packet's key for the set into the registers from
// NFT_REG32_00 (8) on, one field per 4-byte register (or four for an IPv6
// address).
func keyExprs(cs countSet) []expr.Any {
	addrOff, addrLen, step := uint32(12), uint32(4), uint32(1)
	if cs.v6 {
		addrOff, addrLen, step = 8, 16, 4
	}
	reg := uint32(8)
	out := []expr.Any{
		&expr.Payload{DestRegister: reg, Base: expr.PayloadBaseNetworkHeader, Offset: addrOff, Len: addrLen},
		&expr.Payload{DestRegister: reg + step, Base: expr.PayloadBaseNetworkHeader, Offset: addrOff + addrLen, Len: addrLen},
	}
	reg += 2 * step
	if cs.shape != shapeTCP {
		out = append(out, &expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg})
		reg++
	}
	if cs.shape != shapeOther {
		out = append(out,
			&expr.Payload{DestRegister: reg, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 2},
			&expr.Payload{DestRegister: reg + 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2})
		reg += 2
	}
	if cs.shape == shapeTCP {
		out = append(out, &expr.Payload{DestRegister: reg, Base: expr.PayloadBaseTransportHeader, Offset: 13, Len: 1})
	}
	return out
}

// ensureCountTable creates the counting table in the namespace unless a
// complete one is there (a restarted agent keeps the counts of its
// predecessor; the size of its sets is not checked: a new size applies
// to a new table). fresh says it was created now.
func ensureCountTable(nsFd, size int) (fresh bool, err error) {
	// The table is one batch of some 300 objects, acknowledged each:
	// more than the default buffers hold.
	conn, err := nftables.New(nftables.WithNetNSFd(nsFd), nftables.WithSockOptions(func(c *netlink.Conn) error {
		if err := c.SetReadBuffer(4 << 20); err != nil {
			return err
		}
		return c.SetWriteBuffer(4 << 20)
	}))
	if err != nil {
		return false, fmt.Errorf("nftables: %w", err)
	}
	t := &nftables.Table{Family: nftables.TableFamilyINet, Name: CountTable}
	if sets, err := conn.GetSets(t); err == nil {
		have := 0
		for _, s := range sets {
			for _, cs := range countSets() {
				if s.Name == cs.name && s.KeyType.Bytes == uint32(cs.keyLen()) && s.Dynamic {
					have++
				}
			}
		}
		// A table of an older agent lacks the mirror copies' rule (its
		// counter says it is there): it is made again.
		if have == len(countSets()) && hasCounter(conn, t, CopiesCounter) {
			return false, nil
		}
		conn.DelTable(t) // incomplete or of another shape
	}
	if err := queueCountTable(conn, size); err != nil {
		return false, err
	}
	if err := conn.Flush(); err != nil {
		return false, fmt.Errorf("create the flow-log counting table: %w", err)
	}
	return true, nil
}

// hasCounter reports whether table t has the named counter object.
func hasCounter(conn *nftables.Conn, t *nftables.Table, name string) bool {
	objs, err := conn.GetNamedObjects(t)
	if err != nil {
		return false
	}
	for _, o := range objs {
		if c, ok := o.(*nftables.CounterObj); ok && c.Name == name {
			return true
		}
	}
	return false
}

// RemoveCountTable deletes the counting table of the VPC namespace at
// nsPath, if it has one: a table a capture left behind (its agent stopped
// while a flow log was active, and the logs went meanwhile) would count
// every packet of the VPC for nothing.
func RemoveCountTable(nsPath string) error {
	ns, err := os.Open(nsPath)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open namespace: %w", err)
	}
	defer ns.Close()
	return removeCountTable(int(ns.Fd()))
}

// removeCountTable deletes the counting table (no flow log left).
func removeCountTable(nsFd int) error {
	conn, err := nftables.New(nftables.WithNetNSFd(nsFd))
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	conn.DelTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: CountTable})
	if err := conn.Flush(); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("delete the flow-log counting table: %w", err)
	}
	return nil
}

// Elem is one element of a counting set: the header of the packets it
// counted, their counts, and its remaining lifetime.
type Elem struct {
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
	Proto            uint8
	TCPFlags         uint8
	Packets, Bytes   uint64
	// Expires is the element's remaining lifetime (it restarts at every
	// packet).
	Expires time.Duration
}

// nf_tables message and attribute numbers (linux/netfilter/nf_tables.h).
const (
	nftGetSetElem        = unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_GETSETELEM
	nftNewSetElem        = unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_NEWSETELEM
	nftaSetElemListTable = 1
	nftaSetElemListSet   = 2
	nftaSetElemListElems = 3
	nftaListElem         = 1
	nftaSetElemKey       = 1
	nftaSetElemExpire    = 5
	nftaSetElemExpr      = 7
	nftaSetElemExprs     = 11
	nftaDataValue        = 1
	nftaExprName         = 1
	nftaExprData         = 2
	nftaCounterBytes     = 1
	nftaCounterPackets   = 2
)

// elemReader dumps counting sets as streams: each element is decoded in
// place, without allocation, as its message arrives.
type elemReader struct {
	nl  *netlink.Conn
	buf []byte
}

func newElemReader(nsFd int) (*elemReader, error) {
	nl, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: nsFd})
	if err != nil {
		return nil, fmt.Errorf("netlink dial: %w", err)
	}
	if err := nl.SetReadBuffer(4 << 20); err != nil {
		_ = err // the default buffer works, with more messages
	}
	return &elemReader{nl: nl, buf: make([]byte, 256<<10)}, nil
}

func (r *elemReader) Close() error { return r.nl.Close() }

// dump calls fn for every element of every counting set; e is reused.
func (r *elemReader) dump(fn func(e *Elem)) error {
	for _, cs := range countSets() {
		if err := r.dumpSet(cs, fn); err != nil {
			return fmt.Errorf("set %s: %w", cs.name, err)
		}
	}
	return nil
}

func (r *elemReader) dumpSet(cs countSet, fn func(e *Elem)) error {
	ae := netlink.NewAttributeEncoder()
	ae.String(nftaSetElemListTable, CountTable)
	ae.String(nftaSetElemListSet, cs.name)
	attrs, err := ae.Encode()
	if err != nil {
		return err
	}
	// struct nfgenmsg: family, version, resource ID (big endian).
	data := append([]byte{unix.NFPROTO_INET, unix.NFNETLINK_V0, 0, 0}, attrs...)
	if _, err := r.nl.Send(netlink.Message{Header: netlink.Header{Type: netlink.HeaderType(nftGetSetElem),
		Flags: netlink.Request | netlink.Dump}, Data: data}); err != nil {
		return fmt.Errorf("dump request: %w", err)
	}
	rc, err := r.nl.SyscallConn()
	if err != nil {
		return err
	}
	var e Elem
	for {
		var n int
		var rerr error
		if err := rc.Read(func(fd uintptr) bool {
			n, _, rerr = unix.Recvfrom(int(fd), r.buf, 0)
			return rerr != unix.EAGAIN && rerr != unix.EINTR
		}); err != nil {
			return fmt.Errorf("dump: %w", err)
		}
		if rerr != nil {
			return fmt.Errorf("dump: %w", rerr)
		}
		b := r.buf[:n]
		for len(b) >= unix.NLMSG_HDRLEN {
			l := int(binary.NativeEndian.Uint32(b[0:4]))
			typ := binary.NativeEndian.Uint16(b[4:6])
			if l < unix.NLMSG_HDRLEN || l > len(b) {
				return fmt.Errorf("dump: bad message length %d", l)
			}
			data := b[unix.NLMSG_HDRLEN:l]
			switch typ {
			case unix.NLMSG_DONE:
				return nil
			case unix.NLMSG_ERROR:
				if len(data) >= 4 {
					if errno := int32(binary.NativeEndian.Uint32(data[:4])); errno != 0 {
						return fmt.Errorf("dump: %w", syscall.Errno(-errno))
					}
				}
				return nil
			case nftNewSetElem:
				if len(data) > 4 {
					parseElems(data[4:], cs, &e, fn)
				}
			}
			b = b[min(align4(l), len(b)):]
		}
	}
}

// parseElems decodes the elements of one NEWSETELEM message of the set cs.
func parseElems(b []byte, cs countSet, e *Elem, fn func(e *Elem)) {
	attrs(b, func(typ uint16, v []byte) {
		if typ != nftaSetElemListElems {
			return
		}
		attrs(v, func(typ uint16, v []byte) {
			if typ == nftaListElem && parseElem(v, cs, e) {
				fn(e)
			}
		})
	})
}

// parseElem decodes one element; false if its key has not the set's
// shape or it has no counter.
func parseElem(b []byte, cs countSet, e *Elem) bool {
	*e = Elem{}
	keyOK, counted := false, false
	counter := func(v []byte) { // the attributes of one expression
		isCounter := false
		var data []byte
		attrs(v, func(typ uint16, v []byte) {
			switch typ {
			case nftaExprName:
				isCounter = string(v) == "counter\x00"
			case nftaExprData:
				data = v
			}
		})
		if !isCounter {
			return
		}
		attrs(data, func(typ uint16, v []byte) {
			if len(v) != 8 {
				return
			}
			switch typ {
			case nftaCounterBytes:
				e.Bytes = binary.BigEndian.Uint64(v)
			case nftaCounterPackets:
				e.Packets = binary.BigEndian.Uint64(v)
			}
		})
		counted = true
	}
	attrs(b, func(typ uint16, v []byte) {
		switch typ {
		case nftaSetElemKey:
			attrs(v, func(typ uint16, v []byte) {
				if typ == nftaDataValue {
					keyOK = parseKey(v, cs, e)
				}
			})
		case nftaSetElemExpire:
			if len(v) == 8 {
				e.Expires = time.Duration(binary.BigEndian.Uint64(v)) * time.Millisecond
			}
		case nftaSetElemExpr:
			counter(v)
		case nftaSetElemExprs:
			attrs(v, func(typ uint16, v []byte) {
				if typ == nftaListElem {
					counter(v)
				}
			})
		}
	})
	return keyOK && counted
}

// parseKey decodes a key of the set cs (fields padded to 4 bytes).
func parseKey(k []byte, cs countSet, e *Elem) bool {
	if len(k) != cs.keyLen() {
		return false
	}
	if cs.v6 {
		e.Src, e.Dst = netip.AddrFrom16([16]byte(k[0:16])), netip.AddrFrom16([16]byte(k[16:32]))
		k = k[32:]
	} else {
		e.Src, e.Dst = netip.AddrFrom4([4]byte(k[0:4])), netip.AddrFrom4([4]byte(k[4:8]))
		k = k[8:]
	}
	switch cs.shape {
	case shapeTCP:
		e.Proto = unix.IPPROTO_TCP
		e.SrcPort, e.DstPort = binary.BigEndian.Uint16(k[0:2]), binary.BigEndian.Uint16(k[4:6])
		e.TCPFlags = k[8]
	case shapePorts:
		e.Proto = k[0]
		e.SrcPort, e.DstPort = binary.BigEndian.Uint16(k[4:6]), binary.BigEndian.Uint16(k[8:10])
	default:
		e.Proto = k[0]
	}
	return true
}

// nlaTypeMask strips NLA_F_NESTED and NLA_F_NET_BYTEORDER from a type.
const nlaTypeMask = 0x3fff

func align4(n int) int { return (n + 3) &^ 3 }

// attrs calls fn for each netlink attribute of b.
func attrs(b []byte, fn func(typ uint16, v []byte)) {
	for len(b) >= 4 {
		l := int(binary.NativeEndian.Uint16(b[0:2]))
		if l < 4 || l > len(b) {
			return
		}
		fn(binary.NativeEndian.Uint16(b[2:4])&nlaTypeMask, b[4:l])
		b = b[min(align4(l), len(b)):]
	}
}
