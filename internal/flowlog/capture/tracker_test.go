package capture

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	nflog "github.com/florianl/go-nflog/v2"

	"github.com/palisade-project/palisade/internal/flowlog"
	"github.com/palisade-project/palisade/internal/policy"
)

// TCP flags.
const (
	flagSYN = 2
	flagACK = 16
)

var (
	ipA = netip.MustParseAddr("10.0.1.10")
	ipB = netip.MustParseAddr("10.0.2.20")
	ipX = netip.MustParseAddr("10.0.3.30") // not an ENI of the VPC
)

func eniOf(a netip.Addr) string {
	switch a {
	case ipA:
		return "a"
	case ipB:
		return "b"
	}
	return ""
}

// el is an element of a counting set that expires in exp.
func el(proto uint8, src, dst netip.Addr, sp, dp uint16, flags uint8, p, b uint64, exp time.Duration) Elem {
	return Elem{Src: src, Dst: dst, SrcPort: sp, DstPort: dp, Proto: proto, TCPFlags: flags, Packets: p, Bytes: b, Expires: exp}
}

type collected []string

func (c *collected) emit(t time.Time, o flowlog.Observation) {
	*c = append(*c, fmt.Sprintf("@%d %s %s %s %s:%d>%s:%d p%d %d/%d f%d", t.Unix(), o.ENI, o.Direction, o.Action,
		o.Src, o.SrcPort, o.Dst, o.DstPort, o.Proto, o.Packets, o.Bytes, o.TCPFlags))
}

func (c *collected) String() string {
	s := slices.Clone(*c)
	slices.Sort(s)
	return strings.Join(s, "\n")
}

// TestTrackerDeltas: counter growth per dump, the sender's out and the
// receiver's in, one element per TCP flag combination (flags without ECE
// and CWR), a table of unknown baselines (adopt) contributes only later
// growth, an element gone is forgotten one dump later.
func TestTrackerDeltas(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tr := NewTracker(true)
	tr.ENIOf = eniOf
	var got collected

	old := el(17, ipA, ipX, 5000, 53, 0, 100, 10000, time.Minute)
	tr.Dump(t0, []Elem{old}, got.emit)
	if len(got) != 0 {
		t.Fatalf("adopted baselines reported: %v", got)
	}
	syn := el(6, ipA, ipB, 40000, 80, flagSYN, 1, 60, 2*time.Minute)
	synack := el(6, ipB, ipA, 80, 40000, flagSYN|flagACK, 1, 60, 2*time.Minute)
	ack := el(6, ipA, ipB, 40000, 80, flagACK|0xc0, 2, 120, 2*time.Minute) // ECE, CWR
	tr.Dump(t0.Add(5*time.Second), []Elem{old, syn, synack, ack}, got.emit)
	want := `@1005 a in ACCEPT 10.0.2.20:80>10.0.1.10:40000 p6 1/60 f18
@1005 a out ACCEPT 10.0.1.10:40000>10.0.2.20:80 p6 1/60 f2
@1005 a out ACCEPT 10.0.1.10:40000>10.0.2.20:80 p6 2/120 f16
@1005 b in ACCEPT 10.0.1.10:40000>10.0.2.20:80 p6 1/60 f2
@1005 b in ACCEPT 10.0.1.10:40000>10.0.2.20:80 p6 2/120 f16
@1005 b out ACCEPT 10.0.2.20:80>10.0.1.10:40000 p6 1/60 f18`
	if got.String() != want {
		t.Errorf("first dump:\n%s\nwant:\n%s", got.String(), want)
	}

	got = nil
	old2 := el(17, ipA, ipX, 5000, 53, 0, 101, 10050, time.Minute)
	ack2 := el(6, ipA, ipB, 40000, 80, flagACK|0xc0, 5, 300, 2*time.Minute)
	tr.Dump(t0.Add(10*time.Second), []Elem{old2, ack2}, got.emit)
	want = `@1010 a out ACCEPT 10.0.1.10:40000>10.0.2.20:80 p6 3/180 f16
@1010 a out ACCEPT 10.0.1.10:5000>10.0.3.30:53 p17 1/50 f0
@1010 b in ACCEPT 10.0.1.10:40000>10.0.2.20:80 p6 3/180 f16`
	if got.String() != want {
		t.Errorf("second dump:\n%s\nwant:\n%s", got.String(), want)
	}
	if tr.Len() != 4 {
		t.Errorf("tracked %d elements after one dump without syn and synack, want 4 (kept one more dump)", tr.Len())
	}
	tr.Dump(t0.Add(15*time.Second), []Elem{old2, ack2}, got.emit)
	if tr.Len() != 2 {
		t.Errorf("tracked %d elements, want 2", tr.Len())
	}
}

// TestTrackerRecreated: an element that left its set (CountTimeout after
// its last packet) and came back between two dumps counts from zero;
// one refreshed in time continues from its baseline.
func TestTrackerRecreated(t *testing.T) {
	t0 := time.Unix(1000, 0)
	for _, tc := range []struct {
		name string
		// at the second dump: remaining lifetime and counters
		exp     time.Duration
		packets uint64
		want    string
	}{
		{"refreshed before its expiry", CountTimeout - 4*time.Second, 12, "2"},
		{"recreated after its expiry", CountTimeout - time.Second, 12, "12"},
		{"recreated with fewer packets", CountTimeout - 4*time.Second, 3, "3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := NewTracker(false)
			tr.ENIOf = eniOf
			var got collected
			// Idle: it expires 3 s after the first dump.
			tr.Dump(t0, []Elem{el(17, ipA, ipX, 1, 2, 0, 10, 100, 3*time.Second)}, got.emit)
			got = nil
			tr.Dump(t0.Add(5*time.Second), []Elem{el(17, ipA, ipX, 1, 2, 0, tc.packets, 10*tc.packets, tc.exp)}, got.emit)
			if len(got) != 1 || !strings.Contains(got[0], " "+tc.want+"/") {
				t.Errorf("observed %v, want %s packets", got, tc.want)
			}
		})
	}
}

// TestTrackerExempt: exempt addresses (DNS, metadata) and DHCP are never
// observed.
func TestTrackerExempt(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tr := NewTracker(false)
	tr.ENIOf = eniOf
	var got collected
	dns := el(17, ipA, netip.MustParseAddr("100.100.2.136"), 5000, 53, 0, 1, 60, time.Minute)
	meta := el(6, netip.MustParseAddr("100.100.100.200"), ipA, 80, 5000, flagACK, 1, 60, time.Minute)
	dhcp := el(17, ipA, netip.MustParseAddr("255.255.255.255"), 68, 67, 0, 1, 300, time.Minute)
	f := el(17, ipA, ipB, 5000, 9000, 0, 1, 60, time.Minute)
	tr.Dump(t0.Add(2*time.Second), []Elem{dns, meta, dhcp, f}, got.emit)
	if len(got) != 2 { // f: a out, b in
		t.Errorf("observed %v", got)
	}
}

// TestTrackerLogged: an egress-stage drop is the sender's out REJECT; an
// ingress-stage drop the receiver's in REJECT and the sender's out with
// its own decision.
func TestTrackerLogged(t *testing.T) {
	tr := NewTracker(false)
	tr.ENIOf = eniOf
	tr.EgressAllowed = func(eni string, p Packet) bool { return p.DstPort != 23 }
	var got collected
	now := time.Unix(1001, 0)
	pk := func(stage, dir string, dport uint16) Packet {
		return Packet{Stage: stage, Direction: dir, Src: ipA, Dst: ipB, SrcPort: 1234, DstPort: dport, Proto: 17, Length: 40}
	}
	tr.Logged(now, pk(policy.StageSG, flowlog.DirOut, 22), got.emit)
	tr.Logged(now, pk(policy.StageSG, flowlog.DirIn, 22), got.emit)
	tr.Logged(now, pk(policy.StageACL, flowlog.DirIn, 23), got.emit)
	want := `@1001 a out ACCEPT 10.0.1.10:1234>10.0.2.20:22 p17 1/40 f0
@1001 a out REJECT 10.0.1.10:1234>10.0.2.20:22 p17 1/40 f0
@1001 a out REJECT 10.0.1.10:1234>10.0.2.20:23 p17 1/40 f0
@1001 b in REJECT 10.0.1.10:1234>10.0.2.20:22 p17 1/40 f0
@1001 b in REJECT 10.0.1.10:1234>10.0.2.20:23 p17 1/40 f0`
	if got.String() != want {
		t.Errorf("logged:\n%s\nwant:\n%s", got.String(), want)
	}
}

func TestParseIP(t *testing.T) {
	// IPv4 TCP SYN 10.0.1.10:40000 -> 10.0.2.20:80, total length 60.
	b := make([]byte, 60)
	b[0], b[2], b[3], b[9] = 0x45, 0, 60, 6
	copy(b[12:], ipA.AsSlice())
	copy(b[16:], ipB.AsSlice())
	b[20], b[21], b[22], b[23] = 0x9c, 0x40, 0, 80
	b[33] = 0x02
	var p Packet
	if !parseIP(b, &p) || p.Src != ipA || p.Dst != ipB || p.SrcPort != 40000 || p.DstPort != 80 || p.Proto != 6 || p.Length != 60 || p.TCPFlags != 2 {
		t.Errorf("parsed %+v", p)
	}
}

// TestParseLogged reads the deny chains' prefixes, and the prefix of a
// WAF port's refused SYN, which names the ENI's address the packet was
// bound for before translation.
func TestParseLogged(t *testing.T) {
	b := synTo(ipX, netip.MustParseAddr("198.18.0.2"), 80)
	for _, tc := range []struct {
		prefix string
		ok     bool
		dst    netip.Addr
	}{
		{"palisade sg in", true, netip.MustParseAddr("198.18.0.2")},
		{"palisade sg in " + ipB.String(), true, ipB},
		{"palisade sg in not-an-address", false, netip.Addr{}},
		{"palisade sg", false, netip.Addr{}},
		{"other sg in", false, netip.Addr{}},
	} {
		prefix := tc.prefix
		p, ok := parseLogged(nflog.Attribute{Prefix: &prefix, Payload: &b})
		if ok != tc.ok || (ok && (p.Dst != tc.dst || p.Src != ipX || p.Stage != policy.StageSG || p.Direction != flowlog.DirIn || p.DstPort != 80)) {
			t.Errorf("%q: %+v %v", tc.prefix, p, ok)
		}
	}
}

// synTo is a 40-byte IPv4 TCP SYN from src to dst:dport (source port 0).
func synTo(src, dst netip.Addr, dport uint16) []byte {
	b := make([]byte, 40)
	b[0], b[3], b[9] = 0x45, 40, 6
	copy(b[12:], src.AsSlice())
	copy(b[16:], dst.AsSlice())
	b[22], b[23] = byte(dport>>8), byte(dport)
	b[33] = 0x02
	return b
}

// TestParseNftCounters reads `nft list counters` of two tables.
func TestParseNftCounters(t *testing.T) {
	out := "table inet palisade {\n\tcounter flowlog_logged {\n\t\tpackets 7 bytes 700\n\t}\n\tcounter flowlog_new {\n\t\tpackets 3 bytes 1\n\t}\n}\n" +
		"table inet palisade_nat {\n\tcounter flowlog_logged {\n\t\tpackets 2 bytes 80\n\t}\n}\n"
	got := parseNftCounters(out)
	if got["inet palisade"]["flowlog_logged"] != 7 || got["inet palisade"]["flowlog_new"] != 3 || got["inet palisade_nat"]["flowlog_logged"] != 2 || len(got["inet palisade_nat"]) != 1 {
		t.Errorf("parsed %v", got)
	}
}

// TestAccumulateCounters follows the logging counters of the program
// table and the NAT table through growth, a replacement and a table that
// goes away and comes back: the sums only grow, by what was counted, and
// every restart is said.
func TestAccumulateCounters(t *testing.T) {
	prog := func(logged, over uint64) map[string]uint64 {
		return map[string]uint64{policy.FlowLogLoggedCounter: logged, policy.FlowLogOverCounter: over}
	}
	nat := func(logged uint64) map[string]uint64 {
		return map[string]uint64{policy.FlowLogLoggedCounter: logged, policy.FlowLogOverCounter: 0}
	}
	const p, n = "inet " + policy.TableName, "inet palisade_nat"
	c := &Capture{}
	steps := []struct {
		raw           map[string]map[string]uint64
		logged, over  uint64
		reset, failed bool
	}{
		{map[string]map[string]uint64{p: prog(5, 1)}, 5, 1, false, false},             // first read: the values
		{map[string]map[string]uint64{p: prog(7, 1), n: nat(3)}, 10, 1, false, false}, // a new table counts from 0
		{map[string]map[string]uint64{p: prog(8, 2), n: nat(1)}, 12, 2, true, false},  // the NAT table replaced
		{map[string]map[string]uint64{p: prog(8, 2)}, 12, 2, true, false},             // ... and gone
		{map[string]map[string]uint64{p: prog(9, 2), n: nat(2)}, 15, 2, false, false}, // ... and back
		{map[string]map[string]uint64{p: prog(9, 2), n: {}}, 15, 2, true, false},      // its counters gone, the table kept
		{map[string]map[string]uint64{p: prog(9, 2), n: nat(2)}, 17, 2, false, false}, // ... and back
		{map[string]map[string]uint64{p: prog(1, 0), n: nat(2)}, 18, 2, true, false},  // the program replaced
		{map[string]map[string]uint64{n: nat(4)}, 0, 0, false, true},                  // no program table
	}
	for i, st := range steps {
		got, err := c.accumulate(st.raw)
		if (err != nil) != st.failed {
			t.Fatalf("step %d: error %v, want failure %v", i, err, st.failed)
		}
		if err == nil && (got.logged != st.logged || got.over != st.over || got.reset != st.reset) {
			t.Errorf("step %d: %+v, want logged %d over %d reset %v", i, got, st.logged, st.over, st.reset)
		}
	}
}

// TestAccumulateFullCounter: the counting table's full counter adds its
// growth (a table made again counts from zero) and its going away is not
// a reset of the logging counters.
func TestAccumulateFullCounter(t *testing.T) {
	prog := map[string]uint64{policy.FlowLogLoggedCounter: 1, policy.FlowLogOverCounter: 0}
	const p, f = "inet " + policy.TableName, "inet " + CountTable
	c := &Capture{}
	for i, st := range []struct {
		full  map[string]uint64 // nil: no counting table
		sum   uint64
		reset bool
	}{
		{map[string]uint64{FullCounter: 2}, 2, false},
		{map[string]uint64{FullCounter: 5}, 5, false},
		{nil, 5, false}, // deleted by hand
		{map[string]uint64{FullCounter: 1}, 6, false},
		{map[string]uint64{FullCounter: 0, policy.FlowLogLoggedCounter: 9}, 6, false}, // made again; not a logging counter there
	} {
		raw := map[string]map[string]uint64{p: prog}
		if st.full != nil {
			raw[f] = st.full
		}
		got, err := c.accumulate(raw)
		if err != nil {
			t.Fatal(err)
		}
		if c.fullSum != st.sum || got.reset != st.reset || got.logged != 1 {
			t.Errorf("step %d: full %d reset %v logged %d, want %d %v 1", i, c.fullSum, got.reset, got.logged, st.sum, st.reset)
		}
	}
}

// TestParseElem decodes elements of counting sets in the kernel's
// attribute layout (nf_tables_fill_setelem); the kernel tests decode real
// dumps.
func TestParseElem(t *testing.T) {
	for _, tc := range []struct {
		name  string
		set   countSet
		key   []byte
		exprs bool // NFTA_SET_ELEM_EXPRESSIONS instead of NFTA_SET_ELEM_EXPR
		want  Elem
	}{
		{"tcp4", countSet{"t4", false, shapeTCP}, concat(ipA.AsSlice(), ipB.AsSlice(), []byte{0x9c, 0x40, 0, 0, 0, 80, 0, 0, 0x12, 0, 0, 0}), false,
			Elem{Src: ipA, Dst: ipB, SrcPort: 40000, DstPort: 80, Proto: 6, TCPFlags: 0x12, Packets: 6, Bytes: 360, Expires: 119500 * time.Millisecond}},
		{"udp6", countSet{"p6", true, shapePorts}, concat(ip6A.AsSlice(), ip6B.AsSlice(), []byte{17, 0, 0, 0, 0x13, 0x88, 0, 0, 0, 53, 0, 0}), true,
			Elem{Src: ip6A, Dst: ip6B, SrcPort: 5000, DstPort: 53, Proto: 17, Packets: 6, Bytes: 360, Expires: 119500 * time.Millisecond}},
		{"icmp4", countSet{"o4", false, shapeOther}, concat(ipA.AsSlice(), ipB.AsSlice(), []byte{1, 0, 0, 0}), false,
			Elem{Src: ipA, Dst: ipB, Proto: 1, Packets: 6, Bytes: 360, Expires: 119500 * time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []Elem
			var e Elem
			parseElems(sampleElemAttrs(tc.key, tc.exprs), tc.set, &e, func(e *Elem) { got = append(got, *e) })
			if len(got) != 1 || got[0] != tc.want {
				t.Errorf("parsed %+v\nwant   %+v", got, tc.want)
			}
			// A key of another set's shape is refused.
			got = nil
			other := countSet{"o6", true, shapeOther}
			if tc.set.v6 {
				other = countSet{"o4", false, shapeOther}
			}
			parseElems(sampleElemAttrs(tc.key, tc.exprs), other, &e, func(e *Elem) { got = append(got, *e) })
			if len(got) != 0 {
				t.Errorf("key of %s parsed as %s: %+v", tc.set.name, other.name, got)
			}
		})
	}
}

var (
	ip6A = netip.MustParseAddr("fd00::a")
	ip6B = netip.MustParseAddr("fd00::b")
)

// sampleElemAttrs is a NEWSETELEM message body (after struct nfgenmsg)
// holding one element with key, a counter (6 packets, 360 bytes) and
// 119.5 s to live.
func sampleElemAttrs(key []byte, exprs bool) []byte {
	nest := func(typ uint16, parts ...[]byte) []byte { return attr(typ|0x8000, concat(parts...)) }
	u64 := func(v uint64) []byte { b := make([]byte, 8); binary.BigEndian.PutUint64(b, v); return b }
	counter := concat(attr(nftaExprName, []byte("counter\x00")),
		nest(nftaExprData, attr(nftaCounterBytes, u64(360)), attr(nftaCounterPackets, u64(6))))
	var ex []byte
	if exprs {
		ex = nest(nftaSetElemExprs, nest(nftaListElem, counter))
	} else {
		ex = nest(nftaSetElemExpr, counter)
	}
	elem := nest(nftaListElem,
		nest(nftaSetElemKey, attr(nftaDataValue, key)),
		attr(nftaSetElemExpire, u64(119500)),
		ex)
	return concat(attr(nftaSetElemListTable, []byte(CountTable+"\x00")), attr(nftaSetElemListSet, []byte("x\x00")),
		nest(nftaSetElemListElems, elem))
}

func attr(typ uint16, v []byte) []byte {
	l := 4 + len(v)
	b := make([]byte, align4(l))
	binary.NativeEndian.PutUint16(b[0:2], uint16(l))
	binary.NativeEndian.PutUint16(b[2:4], typ)
	copy(b[4:], v)
	return b
}

func concat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// TestTrackerLost: an element that leaves its set long before its
// timeout (the table deleted by hand) is a loss at both its ENIs, said
// once; one that expires on time is not.
func TestTrackerLost(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tests := []struct {
		name     string
		expires  time.Duration // at the last dump that saw it
		wantLost string
	}{
		{name: "deleted early", expires: 100 * time.Second, wantLost: "a@1010 b@1010"},
		{name: "expired on time", expires: 3 * time.Second},
		{name: "within the slack", expires: 6 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := NewTracker(false)
			tr.ENIOf = eniOf
			var lost []string
			tr.Lost = func(at time.Time, eni string) { lost = append(lost, fmt.Sprintf("%s@%d", eni, at.Unix())) }
			var got collected
			tr.Dump(t0.Add(5*time.Second), []Elem{el(17, ipA, ipB, 5000, 9000, 0, 2, 200, tc.expires)}, got.emit)
			got = nil
			tr.Dump(t0.Add(10*time.Second), nil, got.emit)
			tr.Dump(t0.Add(15*time.Second), nil, got.emit)
			slices.Sort(lost)
			if g := strings.Join(lost, " "); g != tc.wantLost {
				t.Errorf("lost %q, want %q", g, tc.wantLost)
			}
			if len(got) != 0 {
				t.Errorf("observations after the first dump: %v", got)
			}
			if tr.Len() != 0 {
				t.Errorf("still tracking %d elements", tr.Len())
			}
		})
	}
}

// TestSplitBatch: batches of at most the bound, every record once, in
// order, each batch with its own ID, the missed counts with the first.
func TestSplitBatch(t *testing.T) {
	for _, n := range []int{0, 1, 4, 5, 9} {
		b := flowlog.Batch{Missed: map[string]int64{"fl": 3}}
		for i := range n {
			b.Records = append(b.Records, flowlog.Record{SrcPort: i})
		}
		parts := splitBatch(b, 4)
		if want := max(1, (n+3)/4); len(parts) != want {
			t.Fatalf("%d records: %d batches, want %d", n, len(parts), want)
		}
		ids := map[string]bool{}
		next := 0
		for i, p := range parts {
			if len(p.Records) > 4 || p.ID == "" || ids[p.ID] || (i == 0) != (p.Missed["fl"] == 3) {
				t.Errorf("%d records: batch %d: %d records, ID %q, missed %v", n, i, len(p.Records), p.ID, p.Missed)
			}
			ids[p.ID] = true
			for _, r := range p.Records {
				if r.SrcPort != next {
					t.Errorf("%d records: record %d where %d was due", n, r.SrcPort, next)
				}
				next++
			}
		}
		if next != n {
			t.Errorf("%d records: %d reported", n, next)
		}
	}
}

// TestBoundPending: past the bound the oldest batches go and their records
// and missed counts move into the missed counts of the oldest batch kept.
func TestBoundPending(t *testing.T) {
	rec := func(fl string) flowlog.Record { return flowlog.Record{FlowLogID: fl} }
	pending := []flowlog.Batch{
		{ID: "1", Records: []flowlog.Record{rec("fl-a"), rec("fl-a"), rec("fl-b")}, Missed: map[string]int64{"fl-b": 5}},
		{ID: "2", Records: []flowlog.Record{rec("fl-a")}},
		{ID: "3", Records: []flowlog.Record{rec("fl-a"), rec("fl-b")}},
	}
	got := boundPending(pending, 3)
	if len(got) != 2 || got[0].ID != "2" {
		t.Fatalf("kept %+v", got)
	}
	if got[0].Missed["fl-a"] != 2 || got[0].Missed["fl-b"] != 6 {
		t.Errorf("missed moved to the oldest kept batch: %v", got[0].Missed)
	}
	if same := boundPending(got, 3); len(same) != 2 {
		t.Errorf("within the bound, %d batches kept of 2", len(same))
	}
}
