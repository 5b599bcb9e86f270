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

func flow(id uint32, proto uint8, src, dst netip.Addr, sp, dp uint16, start time.Time, po, bo, pr, br uint64) Flow {
	return Flow{ID: id, Start: start.UnixNano(),
		Orig:   Tuple{Src: src, Dst: dst, SrcPort: sp, DstPort: dp, Proto: proto},
		Reply:  Tuple{Src: dst, Dst: src, SrcPort: dp, DstPort: sp, Proto: proto},
		Counts: Counts{po, bo, pr, br}}
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

// TestTrackerDeltas: counter growth per dump, both ENIs and directions,
// a flow older than the tracker contributes only later growth, flags from
// the flow's age (SYN, SYN+ACK, ACK) and state (FIN), an expired flow is
// forgotten.
func TestTrackerDeltas(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tr := NewTracker(t0)
	tr.ENIOf = eniOf
	var got collected

	old := flow(1, 17, ipA, ipX, 5000, 53, t0.Add(-time.Hour), 100, 10000, 100, 10000)
	tcp := flow(2, 6, ipA, ipB, 40000, 80, t0.Add(2*time.Second), 3, 180, 2, 120)
	tr.Dump(t0.Add(5*time.Second), []Flow{old, tcp}, got.emit)
	want := `@1005 a in ACCEPT 10.0.2.20:80>10.0.1.10:40000 p6 2/120 f18
@1005 a out ACCEPT 10.0.1.10:40000>10.0.2.20:80 p6 3/180 f18
@1005 b in ACCEPT 10.0.1.10:40000>10.0.2.20:80 p6 3/180 f18
@1005 b out ACCEPT 10.0.2.20:80>10.0.1.10:40000 p6 2/120 f18`
	if got.String() != want {
		t.Errorf("first dump:\n%s\nwant:\n%s", got.String(), want)
	}

	got = nil
	old2 := flow(1, 17, ipA, ipX, 5000, 53, t0.Add(-time.Hour), 101, 10050, 100, 10000)
	tcp2 := flow(2, 6, ipA, ipB, 40000, 80, t0.Add(2*time.Second), 5, 300, 2, 120)
	tr.Dump(t0.Add(10*time.Second), []Flow{old2, tcp2}, got.emit)
	tcp3 := tcp2
	tcp3.Counts = Counts{6, 360, 3, 180}
	tcp3.TCPState = tcpTimeWait
	tr.Dump(t0.Add(12*time.Second), []Flow{old2, tcp3}, got.emit)
	tr.Dump(t0.Add(14*time.Second), []Flow{old2}, got.emit) // tcp expired
	want = `@1010 a out ACCEPT 10.0.1.10:40000>10.0.2.20:80 p6 2/120 f16
@1010 b in ACCEPT 10.0.1.10:40000>10.0.2.20:80 p6 2/120 f16
@1012 a in ACCEPT 10.0.2.20:80>10.0.1.10:40000 p6 1/60 f17
@1012 a out ACCEPT 10.0.1.10:40000>10.0.2.20:80 p6 1/60 f17
@1012 b in ACCEPT 10.0.1.10:40000>10.0.2.20:80 p6 1/60 f17
@1012 b out ACCEPT 10.0.2.20:80>10.0.1.10:40000 p6 1/60 f17
@1010 a out ACCEPT 10.0.1.10:5000>10.0.3.30:53 p17 1/50 f0`
	gotS := got.String()
	wantS := func() string { w := strings.Split(want, "\n"); slices.Sort(w); return strings.Join(w, "\n") }()
	if gotS != wantS {
		t.Errorf("second dump and destroy:\n%s\nwant:\n%s", gotS, wantS)
	}
	if tr.Len() != 2 {
		t.Errorf("tracked %d flows after one dump without tcp, want 2 (kept one more dump)", tr.Len())
	}
	tr.Dump(t0.Add(16*time.Second), []Flow{old2}, got.emit)
	if tr.Len() != 1 {
		t.Errorf("tracked %d flows, want 1", tr.Len())
	}
}

// TestTrackerExempt: exempt addresses (DNS, metadata) and DHCP are never
// observed.
func TestTrackerExempt(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tr := NewTracker(t0)
	tr.ENIOf = eniOf
	var got collected
	dns := flow(1, 17, ipA, netip.MustParseAddr("100.100.2.136"), 5000, 53, t0.Add(time.Second), 1, 60, 1, 60)
	meta := flow(2, 6, ipA, netip.MustParseAddr("100.100.100.200"), 5000, 80, t0.Add(time.Second), 1, 60, 1, 60)
	dhcp := flow(3, 17, ipA, netip.MustParseAddr("255.255.255.255"), 68, 67, t0.Add(time.Second), 1, 300, 0, 0)
	f := flow(4, 17, ipA, ipB, 5000, 9000, t0.Add(time.Second), 1, 60, 0, 0)
	tr.Dump(t0.Add(2*time.Second), []Flow{dns, meta, dhcp, f}, got.emit)
	if len(got) != 2 { // f: a out, b in
		t.Errorf("observed %v", got)
	}
}

// TestTrackerLogged: an egress-stage drop is the sender's out REJECT; an
// ingress-stage drop the receiver's in REJECT and the sender's out with
// its own decision.
func TestTrackerLogged(t *testing.T) {
	tr := NewTracker(time.Unix(1000, 0))
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
		return map[string]uint64{policy.FlowLogLoggedCounter: logged, policy.FlowLogOverCounter: over, policy.FlowLogNewCounter: 9}
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
		if err == nil && (got.logged != st.logged || got.over != st.over || got.reset != st.reset || got.newFlows != 9) {
			t.Errorf("step %d: %+v, want logged %d over %d reset %v", i, got, st.logged, st.over, st.reset)
		}
	}
}

// TestParseFlow decodes a conntrack entry in the kernel's attribute
// layout (the kernel tests decode real dumps).
func TestParseFlow(t *testing.T) {
	b, want := sampleFlowAttrs()
	var f Flow
	if !parseFlow(b, &f) {
		t.Fatal("not parsed")
	}
	if f != want {
		t.Errorf("parsed %+v\nwant   %+v", f, want)
	}
}

// sampleFlowAttrs is a TCP flow in TIME_WAIT as ctnetlink_dump_info writes
// its attributes (nested ones with NLA_F_NESTED; values in network order),
// and the Flow it decodes to.
func sampleFlowAttrs() ([]byte, Flow) {
	ts := time.Unix(1700000000, 123)
	nest := func(typ uint16, parts ...[]byte) []byte { return attr(typ|0x8000, concat(parts...)) }
	u16 := func(v uint16) []byte { return []byte{byte(v >> 8), byte(v)} }
	u32 := func(v uint32) []byte { return []byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)} }
	u64 := func(v uint64) []byte { return append(u32(uint32(v>>32)), u32(uint32(v))...) }
	tuple := func(typ uint16, src, dst netip.Addr, sp, dp uint16) []byte {
		return nest(typ,
			nest(ctaTupleIP, attr(ctaIPv4Src, src.AsSlice()), attr(ctaIPv4Dst, dst.AsSlice())),
			nest(ctaTupleProto, attr(ctaProtoNum, []byte{6}), attr(ctaProtoSrcPort, u16(sp)), attr(ctaProtoDstPort, u16(dp))))
	}
	b := concat(
		tuple(ctaTupleOrig, ipA, ipB, 40000, 80),
		tuple(ctaTupleReply, ipB, ipA, 80, 40000),
		attr(3, u32(0x8)), // status
		nest(ctaProtoinfo, nest(ctaProtoinfoTCP, attr(ctaTCPState, []byte{tcpTimeWait}), attr(2, []byte{7}))),
		nest(ctaCountersOrig, attr(ctaCtrPackets, u64(6)), attr(ctaCtrBytes, u64(360))),
		nest(ctaCountersRepl, attr(ctaCtrPackets, u64(3)), attr(ctaCtrBytes, u64(180))),
		attr(ctaID, u32(0xdeadbeef)),
		nest(ctaTimestamp, attr(ctaTSStart, u64(uint64(ts.UnixNano())))),
	)
	return b, Flow{ID: 0xdeadbeef, Start: ts.UnixNano(),
		Orig:  Tuple{Src: ipA, Dst: ipB, SrcPort: 40000, DstPort: 80, Proto: 6},
		Reply: Tuple{Src: ipB, Dst: ipA, SrcPort: 80, DstPort: 40000, Proto: 6}, Counts: Counts{6, 360, 3, 180}, TCPState: tcpTimeWait}
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

// TestTrackerLost: a flow that leaves the table long before its timeout
// (a flush, a deletion by hand) is a loss at both its ENIs, said once; one
// that expires on time is not; one whose last counters came through Final
// (the agent's cut) is reported up to the cut and is not a loss.
func TestTrackerLost(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tests := []struct {
		name     string
		timeout  uint32 // at the last dump that saw it
		tcpState uint8  // TCP (with this conntrack state) when not 0
		final    bool
		wantLost string
		wantObs  int
	}{
		{name: "deleted early", timeout: 900, wantLost: "a@1010 b@1010"},
		{name: "expired on time", timeout: 3},
		{name: "within the slack", timeout: 6},
		{name: "cut with its last counters", timeout: 900, final: true, wantObs: 4},
		{name: "closed TCP replaced by a new connection", tcpState: tcpClose, timeout: 9},
		{name: "established TCP deleted early", tcpState: 3, timeout: 900, wantLost: "a@1010 b@1010"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := NewTracker(t0)
			tr.ENIOf = eniOf
			var lost []string
			tr.Lost = func(at time.Time, eni string) { lost = append(lost, fmt.Sprintf("%s@%d", eni, at.Unix())) }
			var got collected
			f := flow(1, 17, ipA, ipB, 5000, 9000, t0.Add(time.Second), 2, 200, 1, 100)
			if tc.tcpState != 0 {
				f = flow(1, 6, ipA, ipB, 5000, 9000, t0.Add(time.Second), 2, 200, 1, 100)
				f.TCPState = tc.tcpState
			}
			f.Timeout = tc.timeout
			tr.Dump(t0.Add(5*time.Second), []Flow{f}, got.emit)
			got = nil
			if tc.final {
				last := f
				last.Counts = Counts{4, 400, 2, 200}
				tr.Final(t0.Add(7*time.Second), []Flow{last}, got.emit)
			}
			tr.Dump(t0.Add(10*time.Second), nil, got.emit)
			tr.Dump(t0.Add(15*time.Second), nil, got.emit)
			slices.Sort(lost)
			if g := strings.Join(lost, " "); g != tc.wantLost {
				t.Errorf("lost %q, want %q", g, tc.wantLost)
			}
			if len(got) != tc.wantObs {
				t.Errorf("observations after the first dump: %v, want %d", got, tc.wantObs)
			}
			if tr.Len() != 0 {
				t.Errorf("still tracking %d flows", tr.Len())
			}
		})
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

// TestTrackerDestroyed: a DESTROY event of a flow no dump met reports all
// of it; of a flow a dump met, its growth since; neither is a loss.
func TestTrackerDestroyed(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tr := NewTracker(t0)
	tr.ENIOf = eniOf
	tr.Lost = func(at time.Time, eni string) { t.Errorf("lost %s at %d", eni, at.Unix()) }
	var got collected
	seen := flow(1, 17, ipA, ipB, 5000, 9000, t0.Add(time.Second), 2, 200, 0, 0)
	seen.Timeout = 30
	tr.Dump(t0.Add(2*time.Second), []Flow{seen}, got.emit)
	got = nil
	seen.Counts = Counts{5, 500, 0, 0}
	unseen := flow(2, 17, ipA, ipB, 5001, 9000, t0.Add(3*time.Second), 3, 300, 0, 0)
	tr.Destroyed(t0.Add(4*time.Second), &seen, got.emit)
	tr.Destroyed(t0.Add(4*time.Second), &unseen, got.emit)
	tr.Dump(t0.Add(7*time.Second), nil, got.emit)
	want := `@1004 a out ACCEPT 10.0.1.10:5000>10.0.2.20:9000 p17 3/300 f0
@1004 a out ACCEPT 10.0.1.10:5001>10.0.2.20:9000 p17 3/300 f0
@1004 b in ACCEPT 10.0.1.10:5000>10.0.2.20:9000 p17 3/300 f0
@1004 b in ACCEPT 10.0.1.10:5001>10.0.2.20:9000 p17 3/300 f0`
	if got.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", got.String(), want)
	}
}
