package flowlog

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
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

// TestAggregatorRestoreChangedLogs: the checkpointed open windows of a
// flow log that was deactivated, deleted or re-windowed while no capture
// ran are reported by the restarted aggregator (at its first Flush), with
// their own start and end, and the last says SKIPDATA (what happened
// after the checkpoint was not captured for it); they are never dropped.
// A log still active with the same window continues its window.
func TestAggregatorRestoreChangedLogs(t *testing.T) {
	fl1 := testLog("fl-1", model.FlowLogTrafficAll, 10, "a", "b")
	fl2 := testLog("fl-2", model.FlowLogTrafficAll, 10, "a")
	fl1Long := testLog("fl-1", model.FlowLogTrafficAll, 30, "a", "b")
	tests := []struct {
		name string
		// after is the active logs when the aggregator restarts at 114
		// (the checkpoint is taken at 113, in window [110,120)).
		after []Log
		// gap: the restart says capture did not run from 113 to 114.
		gap bool
		// add is traffic on ENI a after the restart, at 116 and 125.
		add    bool
		flush  int64
		want   string
		missed map[string]int64
	}{{
		name:  "still active, same window: the window continues",
		after: []Log{fl1, fl2},
		add:   true,
		flush: 120,
		want: `fl-1 a out ACCEPT 10.0.1.10:40000>10.0.2.20:80 p6 5/300 [110,120] f17
fl-1 b [110,120) NODATA
fl-2 a out ACCEPT 10.0.1.10:40000>10.0.2.20:80 p6 5/300 [110,120] f17`,
	}, {
		name:  "deactivated while down: its window is reported, SKIPDATA",
		after: []Log{fl2},
		add:   true,
		flush: 120,
		want: `fl-1 a out ACCEPT 10.0.1.10:40000>10.0.2.20:80 p6 2/120 [110,120] f16
fl-1 a [110,120) SKIPDATA
fl-1 b [110,120) SKIPDATA
fl-2 a out ACCEPT 10.0.1.10:40000>10.0.2.20:80 p6 5/300 [110,120] f17`,
		missed: map[string]int64{"fl-1": 1},
	}, {
		name:  "deactivated or deleted while down, no log left: reported at the first flush",
		after: nil,
		flush: 114,
		want: `fl-1 a out ACCEPT 10.0.1.10:40000>10.0.2.20:80 p6 2/120 [110,120] f16
fl-1 a [110,120) SKIPDATA
fl-1 b [110,120) SKIPDATA
fl-2 a out ACCEPT 10.0.1.10:40000>10.0.2.20:80 p6 2/120 [110,120] f16
fl-2 a [110,120) SKIPDATA`,
		missed: map[string]int64{"fl-1": 1, "fl-2": 1},
	}, {
		name:  "deactivated while down across a gap: reported once, counted once",
		after: []Log{fl2},
		gap:   true,
		flush: 120,
		want: `fl-1 a out ACCEPT 10.0.1.10:40000>10.0.2.20:80 p6 2/120 [110,120] f16
fl-1 a [110,120) SKIPDATA
fl-1 b [110,120) SKIPDATA
fl-2 a out ACCEPT 10.0.1.10:40000>10.0.2.20:80 p6 2/120 [110,120] f16
fl-2 a [110,120) SKIPDATA`,
		missed: map[string]int64{"fl-1": 1, "fl-2": 1},
	}, {
		// The new length's first window is the one containing the
		// restart, [90,120) (a new log's first window is partial).
		name:  "re-windowed while down: the old window with its own bounds, then the new length",
		after: []Log{fl1Long, fl2},
		add:   true,
		flush: 150,
		want: `fl-1 a out ACCEPT 10.0.1.10:40000>10.0.2.20:80 p6 3/180 [90,120] f1
fl-1 b [90,120) NODATA
fl-1 a out ACCEPT 10.0.1.10:40000>10.0.2.20:80 p6 2/120 [110,120] f16
fl-1 a [110,120) SKIPDATA
fl-1 b [110,120) SKIPDATA
fl-1 a out ACCEPT 10.0.1.10:40000>10.0.2.20:80 p6 4/300 [120,150] f1
fl-1 b [120,150) NODATA
fl-2 a out ACCEPT 10.0.1.10:40000>10.0.2.20:80 p6 5/300 [110,120] f17
fl-2 a out ACCEPT 10.0.1.10:40000>10.0.2.20:80 p6 4/300 [120,130] f1
fl-2 a [130,140) NODATA
fl-2 a [140,150) NODATA`,
		missed: map[string]int64{"fl-1": 1},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := NewAggregator()
			a.SetLogs([]Log{fl1, fl2}, at(100))
			a.Add(at(101), obs("a", DirOut, ActionAccept, 1, 60, 2))
			first := a.Flush(at(110))
			a.Add(at(112), obs("a", DirOut, ActionAccept, 2, 120, 16))
			blob, err := json.Marshal(a.State())
			if err != nil {
				t.Fatal(err)
			}
			var st AggState
			if err := json.Unmarshal(blob, &st); err != nil {
				t.Fatal(err)
			}

			b := NewAggregator()
			var logged strings.Builder
			b.Logger = slog.New(slog.NewTextHandler(&logged, nil))
			got := b.SetLogs(tc.after, at(114))
			b.Restore(st)
			// A log retired from the checkpoint is said at info level
			// (a deleted one's windows are dropped by the server).
			for _, l := range []string{"fl-1", "fl-2"} {
				retired := !slices.ContainsFunc(tc.after, func(x Log) bool { return x.ID == l && x.WindowSeconds == 10 })
				if said := strings.Contains(logged.String(), "level=INFO") && strings.Contains(logged.String(), "flow_log="+l); said != retired {
					t.Errorf("log of %s retired (%v): %q", l, retired, logged.String())
				}
			}
			if tc.gap {
				b.MissSpan(at(113), at(114))
			}
			if tc.add {
				b.Add(at(116), obs("a", DirOut, ActionAccept, 3, 180, 1))
				b.Add(at(125), obs("a", DirOut, ActionAccept, 4, 300, 1))
			}
			second := b.Flush(at(tc.flush))
			got = append(got, second.Records...)
			wantFirst := `fl-1 a out ACCEPT 10.0.1.10:40000>10.0.2.20:80 p6 1/60 [100,110] f2
fl-1 b [100,110) NODATA
fl-2 a out ACCEPT 10.0.1.10:40000>10.0.2.20:80 p6 1/60 [100,110] f2`
			if g := lines(first.Records); g != wantFirst {
				t.Fatalf("before the checkpoint:\n%s\nwant:\n%s", g, wantFirst)
			}
			if g := lines(got); g != tc.want {
				t.Errorf("records after the restart:\n%s\nwant:\n%s", g, tc.want)
			}
			if fmt.Sprint(second.Missed) != fmt.Sprint(tc.missed) {
				t.Errorf("missed %v, want %v", second.Missed, tc.missed)
			}
			for _, r := range got {
				if r.Version != Version || r.AccountID != "acct" || r.VpcID != "vpc-1" || r.VMID != "i-"+r.ENIID {
					t.Errorf("identity fields of %s", line(r))
				}
			}
			// Nothing is reported twice.
			if rest := b.Flush(at(tc.flush + 1)); len(rest.Records) > 0 || len(rest.Missed) > 0 {
				t.Errorf("reported again: %s %v", lines(rest.Records), rest.Missed)
			}
		})
	}
}

// TestAggregatorRetiredCheckpoint: retired windows (see Restore) kept in
// a checkpoint taken before they were flushed are reported once, counted
// once, by the aggregator restored from it; a checkpoint of an older
// agent (no account, traffic type or ENIs) still has its records
// reported; a missed count of a log removed since the last Flush is kept.
func TestAggregatorRetiredCheckpoint(t *testing.T) {
	fl1 := testLog("fl-1", model.FlowLogTrafficAll, 10, "a", "b")
	fl2 := testLog("fl-2", model.FlowLogTrafficAll, 10, "a")
	roundTrip := func(t *testing.T, st AggState, edit func(map[string]any)) AggState {
		t.Helper()
		blob, err := json.Marshal(st)
		if err != nil {
			t.Fatal(err)
		}
		if edit != nil {
			var m map[string]any
			if err := json.Unmarshal(blob, &m); err != nil {
				t.Fatal(err)
			}
			edit(m)
			if blob, err = json.Marshal(m); err != nil {
				t.Fatal(err)
			}
		}
		var out AggState
		if err := json.Unmarshal(blob, &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	quiet := func() *Aggregator {
		a := NewAggregator()
		a.Logger = slog.New(slog.DiscardHandler)
		return a
	}
	// checkpoint is the state at 113 of an aggregator running fl-1 and
	// fl-2 since 100, with traffic on ENI a at 112.
	checkpoint := func() AggState {
		a := quiet()
		a.SetLogs([]Log{fl1, fl2}, at(100))
		a.Flush(at(110))
		a.Add(at(112), obs("a", DirOut, ActionAccept, 2, 120, 16))
		return a.State()
	}
	tests := []struct {
		name   string
		run    func(t *testing.T) Batch
		want   string
		missed map[string]int64
	}{{
		name: "retired windows checkpointed again before a flush",
		run: func(t *testing.T) Batch {
			b := quiet()
			b.SetLogs([]Log{fl2}, at(114))
			b.Restore(roundTrip(t, checkpoint(), nil))
			c := quiet()
			c.SetLogs([]Log{fl2}, at(115))
			c.Restore(roundTrip(t, b.State(), nil))
			return c.Flush(at(120))
		},
		want: `fl-1 a out ACCEPT 10.0.1.10:40000>10.0.2.20:80 p6 2/120 [110,120] f16
fl-1 a [110,120) SKIPDATA
fl-1 b [110,120) SKIPDATA
fl-2 a out ACCEPT 10.0.1.10:40000>10.0.2.20:80 p6 2/120 [110,120] f16`,
		missed: map[string]int64{"fl-1": 1},
	}, {
		name: "checkpoint of an older agent: the ENIs of its records",
		run: func(t *testing.T) Batch {
			b := quiet()
			b.SetLogs([]Log{fl2}, at(114))
			b.Restore(roundTrip(t, checkpoint(), func(m map[string]any) {
				for _, l := range m["logs"].([]any) {
					lc := l.(map[string]any)
					delete(lc, "enis")
					delete(lc, "account_id")
					delete(lc, "traffic_type")
				}
			}))
			return b.Flush(at(120))
		},
		want: `fl-1 a out ACCEPT 10.0.1.10:40000>10.0.2.20:80 p6 2/120 [110,120] f16
fl-1 a [110,120) SKIPDATA
fl-2 a out ACCEPT 10.0.1.10:40000>10.0.2.20:80 p6 2/120 [110,120] f16`,
		missed: map[string]int64{"fl-1": 1},
	}, {
		name: "missed count of a log removed since the last flush",
		run: func(t *testing.T) Batch {
			a := quiet()
			a.SetLogs([]Log{fl1, fl2}, at(100))
			a.Miss(at(101), "a", 3, "")
			a.SetLogs([]Log{fl2}, at(102)) // fl-1's window is emitted now; its count at the next Flush
			b := quiet()
			b.SetLogs([]Log{fl2}, at(103))
			b.Restore(roundTrip(t, a.State(), nil))
			return b.Flush(at(110))
		},
		want:   `fl-2 a [100,110) SKIPDATA`,
		missed: map[string]int64{"fl-1": 3, "fl-2": 3},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.run(t)
			if g := lines(b.Records); g != tc.want {
				t.Errorf("records:\n%s\nwant:\n%s", g, tc.want)
			}
			if fmt.Sprint(b.Missed) != fmt.Sprint(tc.missed) {
				t.Errorf("missed %v, want %v", b.Missed, tc.missed)
			}
		})
	}
}

// TestAggregatorDeactivatedWhileRunning: an agent learns of a
// deactivation (or a deletion) late, windows after it began. The window
// in progress at the deactivation is emitted, with the windows after it
// (the server drops those), at once when the log leaves the active set;
// the log's missed count goes with the next Flush.
func TestAggregatorDeactivatedWhileRunning(t *testing.T) {
	fl1 := testLog("fl-1", model.FlowLogTrafficAll, 10, "a")
	fl2 := testLog("fl-2", model.FlowLogTrafficAll, 10, "a")
	tests := []struct {
		name    string
		learnAt int64
		after   []Log
		want    string // records SetLogs returns when the agent learns
	}{{
		name:    "learned in the same window",
		learnAt: 108,
		after:   []Log{fl2},
		want: `fl-1 a out ACCEPT 10.0.1.10:40000>10.0.2.20:80 p6 1/60 [100,110] f2
fl-1 a [100,110) SKIPDATA`,
	}, {
		name:    "learned two windows later",
		learnAt: 127,
		after:   []Log{fl2},
		want: `fl-1 a out ACCEPT 10.0.1.10:40000>10.0.2.20:80 p6 1/60 [100,110] f2
fl-1 a [100,110) SKIPDATA
fl-1 a out ACCEPT 10.0.1.10:40000>10.0.2.20:80 p6 2/120 [110,120] f16
fl-1 a [120,130) NODATA`,
	}, {
		name:    "learned late, the VPC's last log",
		learnAt: 127,
		after:   nil,
		want: `fl-1 a out ACCEPT 10.0.1.10:40000>10.0.2.20:80 p6 1/60 [100,110] f2
fl-1 a [100,110) SKIPDATA
fl-1 a out ACCEPT 10.0.1.10:40000>10.0.2.20:80 p6 2/120 [110,120] f16
fl-1 a [120,130) NODATA
fl-2 a out ACCEPT 10.0.1.10:40000>10.0.2.20:80 p6 1/60 [100,110] f2
fl-2 a [100,110) SKIPDATA
fl-2 a out ACCEPT 10.0.1.10:40000>10.0.2.20:80 p6 2/120 [110,120] f16
fl-2 a [120,130) NODATA`,
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := NewAggregator()
			a.SetLogs([]Log{fl1, fl2}, at(100))
			// fl-1 is deactivated at 105, in window [100,110).
			a.Add(at(101), obs("a", DirOut, ActionAccept, 1, 60, 2))
			if b := a.Flush(at(103)); len(b.Records) > 0 {
				t.Fatalf("an open window flushed: %s", lines(b.Records))
			}
			a.Miss(at(104), "a", 1, "")
			if tc.learnAt >= 110 {
				a.Add(at(112), obs("a", DirOut, ActionAccept, 2, 120, 16))
			}
			gone := a.SetLogs(tc.after, at(tc.learnAt))
			if g := lines(gone); g != tc.want {
				t.Errorf("emitted when the agent learned:\n%s\nwant:\n%s", g, tc.want)
			}
			b := a.Flush(at(tc.learnAt))
			wantMissed := map[string]int64{"fl-1": 1, "fl-2": 1}
			if fmt.Sprint(b.Missed) != fmt.Sprint(wantMissed) {
				t.Errorf("missed %v, want %v", b.Missed, wantMissed)
			}
			for _, r := range b.Records {
				if r.FlowLogID == "fl-1" {
					t.Errorf("fl-1 reported again: %s", line(r))
				}
			}
		})
	}
}
