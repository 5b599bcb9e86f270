package flowlog

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/model"
)

var (
	addrA = netip.MustParseAddr("10.0.1.10")
	addrB = netip.MustParseAddr("10.0.2.20")
)

func testLog(id, traffic string, w int64, enis ...string) Log {
	l := Log{ID: id, AccountID: "acct", TrafficType: traffic, WindowSeconds: w}
	for _, e := range enis {
		l.ENIs = append(l.ENIs, ENI{ID: e, VMID: "i-" + e, VSwitchID: "vsw-1", VpcID: "vpc-1"})
	}
	return l
}

func at(sec int64) time.Time { return time.Unix(sec, 0) }

// line prints the fields a test checks, one record per line.
func line(r Record) string {
	if r.LogStatus != StatusOK {
		return fmt.Sprintf("%s %s [%d,%d) %s", r.FlowLogID, r.ENIID, r.Start, r.End, r.LogStatus)
	}
	return fmt.Sprintf("%s %s %s %s %s:%d>%s:%d p%d %d/%d [%d,%d] f%d", r.FlowLogID, r.ENIID, r.Direction, r.Action,
		r.SrcAddr, r.SrcPort, r.DstAddr, r.DstPort, r.Protocol, r.Packets, r.Bytes, r.Start, r.End, r.TCPFlags)
}

func lines(rs []Record) string {
	var out []string
	for _, r := range rs {
		out = append(out, line(r))
	}
	return strings.Join(out, "\n")
}

func obs(eni, dir, action string, pk, by uint64, flags int) Observation {
	src, dst := addrA, addrB
	sp, dp := uint16(40000), uint16(80)
	if dir == DirIn && eni == "a" || dir == DirOut && eni == "b" {
		src, dst, sp, dp = dst, src, dp, sp
	}
	return Observation{ENI: eni, Direction: dir, Src: src, Dst: dst, SrcPort: sp, DstPort: dp, Proto: 6,
		Action: action, Packets: pk, Bytes: by, TCPFlags: flags}
}

func TestAggregator(t *testing.T) {
	type step struct {
		at   int64
		add  *Observation
		miss string // ENI ("*" for all) missed at this time
		logs []Log  // SetLogs
	}
	o := func(x Observation) *Observation { return &x }
	tests := []struct {
		name   string
		logs   []Log
		steps  []step
		flush  int64
		want   string
		missed map[string]int64
	}{{
		name: "one window, both directions, flags ORed, idle ENI NODATA",
		logs: []Log{testLog("fl-1", model.FlowLogTrafficAll, 10, "a", "b", "c")},
		steps: []step{
			{at: 101, add: o(obs("a", DirOut, ActionAccept, 3, 180, 2))},
			{at: 105, add: o(obs("a", DirOut, ActionAccept, 2, 120, 16))},
			{at: 105, add: o(obs("a", DirIn, ActionAccept, 4, 240, 18))},
		},
		flush: 110,
		want: `fl-1 a in ACCEPT 10.0.2.20:80>10.0.1.10:40000 p6 4/240 [100,110] f18
fl-1 a out ACCEPT 10.0.1.10:40000>10.0.2.20:80 p6 5/300 [100,110] f18
fl-1 b [100,110) NODATA
fl-1 c [100,110) NODATA`,
	}, {
		name: "a long flow gives a record per window; an open window is not emitted",
		logs: []Log{testLog("fl-1", model.FlowLogTrafficAll, 10, "a")},
		steps: []step{
			{at: 109, add: o(obs("a", DirOut, ActionAccept, 1, 60, 2))},
			{at: 115, add: o(obs("a", DirOut, ActionAccept, 7, 700, 16))},
			{at: 125, add: o(obs("a", DirOut, ActionAccept, 9, 900, 16))},
		},
		flush: 129,
		want: `fl-1 a out ACCEPT 10.0.1.10:40000>10.0.2.20:80 p6 1/60 [100,110] f2
fl-1 a out ACCEPT 10.0.1.10:40000>10.0.2.20:80 p6 7/700 [110,120] f16`,
	}, {
		name: "traffic type filters: Allow keeps ACCEPT, Drop keeps REJECT",
		logs: []Log{testLog("fl-allow", model.FlowLogTrafficAllow, 10, "a"), testLog("fl-drop", model.FlowLogTrafficDrop, 10, "a")},
		steps: []step{
			{at: 101, add: o(obs("a", DirOut, ActionAccept, 1, 60, 2))},
			{at: 102, add: o(obs("a", DirOut, ActionReject, 2, 120, 2))},
		},
		flush: 110,
		want: `fl-allow a out ACCEPT 10.0.1.10:40000>10.0.2.20:80 p6 1/60 [100,110] f2
fl-drop a out REJECT 10.0.1.10:40000>10.0.2.20:80 p6 2/120 [100,110] f2`,
	}, {
		name: "uncovered ENI is not recorded",
		logs: []Log{testLog("fl-1", model.FlowLogTrafficAll, 10, "a")},
		steps: []step{
			{at: 101, add: o(obs("b", DirIn, ActionAccept, 1, 60, 2))},
		},
		flush: 110,
		want:  `fl-1 a [100,110) NODATA`,
	}, {
		name: "missed capture says SKIPDATA and counts",
		logs: []Log{testLog("fl-1", model.FlowLogTrafficAll, 10, "a", "b")},
		steps: []step{
			{at: 101, add: o(obs("a", DirOut, ActionAccept, 1, 60, 2))},
			{at: 103, miss: "a"},
			{at: 113, miss: "*"},
		},
		flush: 120,
		want: `fl-1 a out ACCEPT 10.0.1.10:40000>10.0.2.20:80 p6 1/60 [100,110] f2
fl-1 a [100,110) SKIPDATA
fl-1 b [100,110) NODATA
fl-1 a [110,120) SKIPDATA
fl-1 b [110,120) SKIPDATA`,
		missed: map[string]int64{"fl-1": 2},
	}, {
		name: "a span capture did not run says SKIPDATA in every window it overlaps",
		logs: []Log{testLog("fl-1", model.FlowLogTrafficAll, 10, "a")},
		steps: []step{
			{at: 105, miss: "span:105-127"},
		},
		flush: 140,
		want: `fl-1 a [100,110) SKIPDATA
fl-1 a [110,120) SKIPDATA
fl-1 a [120,130) SKIPDATA
fl-1 a [130,140) NODATA`,
		missed: map[string]int64{"fl-1": 1},
	}, {
		name:  "idle windows in a row are each NODATA",
		logs:  []Log{testLog("fl-1", model.FlowLogTrafficAll, 10, "a")},
		flush: 131,
		want: `fl-1 a [100,110) NODATA
fl-1 a [110,120) NODATA
fl-1 a [120,130) NODATA`,
	}, {
		name: "a removed log emits its open window at once",
		logs: []Log{testLog("fl-1", model.FlowLogTrafficAll, 10, "a"), testLog("fl-2", model.FlowLogTrafficAll, 10, "a")},
		steps: []step{
			{at: 101, add: o(obs("a", DirOut, ActionAccept, 1, 60, 2))},
			{at: 102, logs: []Log{testLog("fl-1", model.FlowLogTrafficAll, 10, "a")}},
		},
		flush: 105,
		want:  `fl-2 a out ACCEPT 10.0.1.10:40000>10.0.2.20:80 p6 1/60 [100,110] f2`,
	}, {
		name: "first and last clamp into the window",
		logs: []Log{testLog("fl-1", model.FlowLogTrafficAll, 10, "a")},
		steps: []step{
			{at: 103, add: func() *Observation {
				x := obs("a", DirOut, ActionReject, 1, 60, 2)
				x.First, x.Last = 103, 103
				return &x
			}()},
			{at: 106, add: func() *Observation {
				x := obs("a", DirOut, ActionReject, 1, 60, 2)
				x.First, x.Last = 106, 106
				return &x
			}()},
			{at: 107, add: func() *Observation {
				x := obs("a", DirOut, ActionAccept, 1, 60, 2)
				x.First, x.Last = 50, 500
				return &x
			}()},
		},
		flush: 110,
		want: `fl-1 a out ACCEPT 10.0.1.10:40000>10.0.2.20:80 p6 1/60 [100,110] f2
fl-1 a out REJECT 10.0.1.10:40000>10.0.2.20:80 p6 2/120 [103,106] f2`,
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := NewAggregator()
			var got []Record
			got = append(got, a.SetLogs(tc.logs, at(100))...)
			for _, s := range tc.steps {
				switch {
				case s.add != nil:
					a.Add(at(s.at), *s.add)
				case strings.HasPrefix(s.miss, "span:"):
					var from, to int64
					fmt.Sscanf(s.miss, "span:%d-%d", &from, &to)
					a.MissSpan(at(from), at(to))
				case s.miss == "*":
					a.Miss(at(s.at), "", 0, "")
				case s.miss != "":
					a.Miss(at(s.at), s.miss, 1, "")
				case s.logs != nil:
					got = append(got, a.SetLogs(s.logs, at(s.at))...)
				}
			}
			b := a.Flush(at(tc.flush))
			got = append(got, b.Records...)
			if g := lines(got); g != tc.want {
				t.Errorf("records:\n%s\nwant:\n%s", g, tc.want)
			}
			if fmt.Sprint(b.Missed) != fmt.Sprint(tc.missed) {
				t.Errorf("missed %v, want %v", b.Missed, tc.missed)
			}
			for _, r := range got {
				if r.Version != Version || r.AccountID != "acct" || r.VpcID != "vpc-1" || r.VMID != "i-"+r.ENIID {
					t.Errorf("identity fields of %+v", r)
				}
			}
		})
	}
}

// TestAggregatorCheckpoint: a restarted aggregator restored from a
// checkpoint continues the open window (no lost counts) and does not
// emit closed windows again (no duplicates).
func TestAggregatorCheckpoint(t *testing.T) {
	logs := []Log{testLog("fl-1", model.FlowLogTrafficAll, 10, "a")}
	a := NewAggregator()
	a.SetLogs(logs, at(100))
	a.Add(at(101), obs("a", DirOut, ActionAccept, 1, 60, 2))
	first := a.Flush(at(110))
	a.Add(at(112), obs("a", DirOut, ActionAccept, 2, 120, 16))
	blob, err := json.Marshal(a.State())
	if err != nil {
		t.Fatal(err)
	}

	b := NewAggregator()
	b.SetLogs(logs, at(114))
	var st AggState
	if err := json.Unmarshal(blob, &st); err != nil {
		t.Fatal(err)
	}
	b.Restore(st)
	b.Add(at(115), obs("a", DirOut, ActionAccept, 3, 180, 1))
	second := b.Flush(at(120))
	want := `fl-1 a out ACCEPT 10.0.1.10:40000>10.0.2.20:80 p6 1/60 [100,110] f2
fl-1 a out ACCEPT 10.0.1.10:40000>10.0.2.20:80 p6 5/300 [110,120] f17`
	if g := lines(append(first.Records, second.Records...)); g != want {
		t.Errorf("records:\n%s\nwant:\n%s", g, want)
	}
}
