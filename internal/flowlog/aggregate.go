package flowlog

import (
	"cmp"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"time"

	"github.com/palisade-project/palisade/internal/model"
)

// ENI is what a record says about the ENI it belongs to.
type ENI struct {
	ID        string `json:"id"`
	VMID      string `json:"vm_id"`
	VSwitchID string `json:"vswitch_id"`
	VpcID     string `json:"vpc_id"`
}

// Log is one active flow log as capture sees it: the ENIs it covers now,
// its traffic filters and its window length.
type Log struct {
	ID          string `json:"id"`
	AccountID   string `json:"account_id"`
	TrafficType string `json:"traffic_type"` // model.FlowLogTraffic*
	// Path is the traffic-path filter (nil: all traffic), built once
	// per log by whoever builds the Log (the agent, from the VPC).
	Path *PathFilter `json:"-"`
	// WindowSeconds is the capture window; windows are aligned to Unix
	// time multiples of it.
	WindowSeconds int64 `json:"window_seconds"`
	ENIs          []ENI `json:"enis"`
}

// Observation is traffic seen by capture for one ENI and direction: a
// counting-set element's growth (ACCEPT) or NFLOG'd packets (REJECT).
type Observation struct {
	ENI       string
	Direction string // DirIn or DirOut
	Src, Dst  netip.Addr
	SrcPort   uint16
	DstPort   uint16
	Proto     uint8
	Action    string // ActionAccept or ActionReject
	Packets   uint64
	Bytes     uint64
	// TCPFlags is ORed into the record's flags.
	TCPFlags int
	// First and Last bound the packets in time (Unix seconds); both are
	// clamped into the window. Zero First means the window start, zero
	// Last the window end.
	First, Last int64
}

// recKey identifies a record inside one window of one flow log.
type recKey struct {
	ENI, Dir, Action string
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
	Proto            uint8
}

// recAgg is what a window holds of a record besides its key: a record
// is built from both when the window is emitted (a window of 100,000
// flows holds 100,000 of these, not 100,000 records).
type recAgg struct {
	eni            *ENI // as the log covered it when the record began
	packets, bytes uint64
	flags          int
	start, end     int64
}

// window is one open capture window of one flow log.
type window struct {
	start   int64
	recs    map[recKey]recAgg
	skipped map[string]int64 // ENI -> missed count (SKIPDATA)
}

type logState struct {
	Log
	enis map[string]ENI
	// eniRefs shares one ENI value among the records of an ENI.
	eniRefs map[string]*ENI
	windows map[int64]*window // by start
	// closed is the end of the last window emitted: observations before
	// it are late (counted as missed in the current window).
	closed int64
}

// Aggregator turns observations into records per flow log, ENI,
// direction, 5-tuple, action and window. It is pure (the caller passes
// the time) and not safe for concurrent use: capture feeds it from one
// goroutine.
type Aggregator struct {
	// Logger receives what Restore says about checkpointed windows of
	// logs that are no longer active (nil: slog.Default()).
	Logger *slog.Logger
	logs   map[string]*logState
	byENI  map[string][]*logState
	// missed accumulates per flow log what was missed since the last Flush.
	missed map[string]int64
	// retired holds the checkpointed open windows of logs that were
	// deactivated, deleted or re-windowed while no capture ran (see
	// Restore): they take no more traffic and the next Flush emits them
	// whole.
	retired []*logState
}

// NewAggregator returns an empty aggregator.
func NewAggregator() *Aggregator {
	return &Aggregator{logs: map[string]*logState{}, byENI: map[string][]*logState{}, missed: map[string]int64{}}
}

func windowStart(t, w int64) int64 {
	s := t - t%w
	if t < 0 && t%w != 0 {
		s -= w
	}
	return s
}

// SetLogs replaces the set of active flow logs at time now. A new log's
// first window is the one containing now (a partial first window). A log
// that is gone (or whose window changed) has its open windows, the
// current partial one included, emitted now: they are returned. ENIs
// added to a log are covered from then on (records, or NODATA when their
// window closes).
func (a *Aggregator) SetLogs(logs []Log, now time.Time) (gone []Record) {
	keep := map[string]bool{}
	a.byENI = map[string][]*logState{}
	for _, l := range logs {
		if l.WindowSeconds <= 0 {
			l.WindowSeconds = 600
		}
		keep[l.ID] = true
		s := a.logs[l.ID]
		if s == nil || s.WindowSeconds != l.WindowSeconds {
			if s != nil {
				gone = append(gone, a.emit(s, s.final(now.Unix()))...)
			}
			s = &logState{windows: map[int64]*window{}, closed: windowStart(now.Unix(), l.WindowSeconds)}
			a.logs[l.ID] = s
		}
		s.Log = l
		s.enis = map[string]ENI{}
		for _, e := range l.ENIs {
			s.enis[e.ID] = e
			a.byENI[e.ID] = append(a.byENI[e.ID], s)
		}
	}
	for id, s := range a.logs {
		if !keep[id] {
			gone = append(gone, a.emit(s, s.final(now.Unix()))...)
			delete(a.logs, id)
		}
	}
	sortRecords(gone)
	return gone
}

// Covered reports whether some active log covers the ENI.
func (a *Aggregator) Covered(eniID string) bool { return len(a.byENI[eniID]) > 0 }

func wants(trafficType, action string) bool {
	switch trafficType {
	case model.FlowLogTrafficAllow:
		return action == ActionAccept
	case model.FlowLogTrafficDrop:
		return action == ActionReject
	}
	return true
}

func (s *logState) window(start int64) *window {
	w := s.windows[start]
	if w == nil {
		w = &window{start: start, recs: map[recKey]recAgg{}, skipped: map[string]int64{}}
		s.windows[start] = w
	}
	return w
}

// Add records an observation made at time t (it belongs to the window
// containing t) for every log covering o.ENI whose traffic type and
// traffic path want it.
func (a *Aggregator) Add(t time.Time, o Observation) {
	if o.Packets == 0 {
		return
	}
	for _, s := range a.byENI[o.ENI] {
		if !wants(s.TrafficType, o.Action) || !s.Path.Keeps(&o) {
			continue
		}
		start := windowStart(t.Unix(), s.WindowSeconds)
		if start < s.closed {
			// Late: its window is emitted already. Say so in the
			// current one rather than lose it silently.
			s.window(windowStart(s.closed, s.WindowSeconds)).skipped[o.ENI] += int64(o.Packets)
			a.missed[s.ID] += int64(o.Packets)
			continue
		}
		w := s.window(start)
		end := start + s.WindowSeconds
		first, last := clamp(o.First, start, end, start), clamp(o.Last, start, end, end)
		k := recKey{ENI: o.ENI, Dir: o.Direction, Action: o.Action, Src: o.Src, Dst: o.Dst, SrcPort: o.SrcPort, DstPort: o.DstPort, Proto: o.Proto}
		r, ok := w.recs[k]
		if !ok {
			r = recAgg{eni: s.eniRef(o.ENI), start: first, end: last}
		}
		r.packets += o.Packets
		r.bytes += o.Bytes
		r.flags |= o.TCPFlags
		r.start = min(r.start, first)
		r.end = max(r.end, last)
		w.recs[k] = r
	}
}

// eniRef returns the shared value of the covered ENI id as the log covers
// it now.
func (s *logState) eniRef(id string) *ENI {
	e := s.enis[id]
	if p := s.eniRefs[id]; p != nil && *p == e {
		return p
	}
	if s.eniRefs == nil {
		s.eniRefs = map[string]*ENI{}
	}
	p := &e
	s.eniRefs[id] = p
	return p
}

// record builds the record of key k in a window of s.
func (s *logState) record(k recKey, r recAgg) Record {
	e := r.eni
	if e == nil {
		e = &ENI{ID: k.ENI}
	}
	return Record{
		Version: Version, FlowLogID: s.ID, AccountID: s.AccountID, ENIID: e.ID, VMID: e.VMID,
		VSwitchID: e.VSwitchID, VpcID: e.VpcID, SrcAddr: k.Src.String(), SrcPort: int(k.SrcPort),
		DstAddr: k.Dst.String(), DstPort: int(k.DstPort), Protocol: int(k.Proto), Direction: k.Dir,
		Packets: r.packets, Bytes: r.bytes, Start: r.start, End: r.end, Action: k.Action, LogStatus: StatusOK, TCPFlags: r.flags,
		TrafficPath: s.Path.Name(),
	}
}

func clamp(v, lo, hi, zero int64) int64 {
	if v == 0 {
		return zero
	}
	return max(lo, min(v, hi))
}

// Miss says capture missed n packets or flows (at least one when n is 0)
// of the ENI at time t: the ENI's window gets a SKIPDATA record and the
// logs' missed counters grow. An empty eniID means every covered ENI
// (capture cannot tell whose traffic it missed).
func (a *Aggregator) Miss(t time.Time, eniID string, n int64, action string) {
	if n <= 0 {
		n = 1
	}
	var states []*logState
	if eniID == "" {
		for _, s := range a.logs {
			states = append(states, s)
		}
	} else {
		states = a.byENI[eniID]
	}
	for _, s := range states {
		if action != "" && !wants(s.TrafficType, action) {
			continue
		}
		start := max(windowStart(t.Unix(), s.WindowSeconds), s.closed)
		w := s.window(start)
		if eniID == "" {
			for id := range s.enis {
				w.skipped[id] += n
			}
		} else {
			w.skipped[eniID] += n
		}
		a.missed[s.ID] += n
	}
}

// MissSpan says capture did not run from from to to (an agent restart):
// every window of every log that overlaps the span says SKIPDATA for all
// its covered ENIs (unless it was emitted already), and each log's missed
// counter grows by one.
//
// The restored windows of retired logs (see Restore) that overlap the
// span say SKIPDATA too; they are counted already.
func (a *Aggregator) MissSpan(from, to time.Time) {
	for _, s := range a.logs {
		for st := max(windowStart(from.Unix(), s.WindowSeconds), s.closed); st <= to.Unix(); st += s.WindowSeconds {
			w := s.window(st)
			for id := range s.enis {
				w.skipped[id]++
			}
		}
		a.missed[s.ID]++
	}
	for _, s := range a.retired {
		for st := max(windowStart(from.Unix(), s.WindowSeconds), s.closed); st <= to.Unix() && st < s.lastEnd(); st += s.WindowSeconds {
			w := s.window(st)
			for id := range s.enis {
				w.skipped[id]++
			}
		}
	}
}

// Flush emits the records of every window that ended at or before now,
// with a NODATA record for each covered ENI that has no record in it and
// a SKIPDATA record for each ENI whose capture missed something, and
// every window of the retired logs (see Restore), and returns with them
// what was missed per log since the last Flush.
func (a *Aggregator) Flush(now time.Time) Batch {
	var b Batch
	var parts [][]Record
	n := 0
	for _, s := range a.logs {
		parts = append(parts, a.emit(s, now.Unix()))
		n += len(parts[len(parts)-1])
	}
	for _, s := range a.retired {
		parts = append(parts, a.emit(s, s.lastEnd()))
		n += len(parts[len(parts)-1])
	}
	a.retired = nil
	if len(parts) == 1 {
		b.Records = parts[0]
	} else if n > 0 {
		b.Records = make([]Record, 0, n)
		for _, p := range parts {
			b.Records = append(b.Records, p...)
		}
	}
	sortRecords(b.Records)
	if len(a.missed) > 0 {
		b.Missed = a.missed
		a.missed = map[string]int64{}
	}
	return b
}

// emit closes the windows of s that end at or before upTo, in order from
// the last one emitted, filling gaps with NODATA windows.
func (a *Aggregator) emit(s *logState, upTo int64) []Record {
	var out []Record
	W := s.WindowSeconds
	n := 0
	for st := s.closed; st+W <= upTo; st += W {
		if w := s.windows[st]; w != nil {
			n += len(w.recs) + len(w.skipped)
		}
		n += len(s.enis)
	}
	if n > 0 {
		out = make([]Record, 0, n)
	}
	for st := s.closed; st+W <= upTo; st += W {
		w := s.windows[st]
		delete(s.windows, st)
		seen := map[string]bool{}
		if w != nil {
			for k, r := range w.recs {
				out = append(out, s.record(k, r))
				seen[k.ENI] = true
			}
			for id := range w.skipped {
				e, ok := s.enis[id]
				if !ok {
					e = ENI{ID: id}
				}
				out = append(out, s.marker(e, st, StatusSkipData))
				seen[id] = true
			}
		}
		for _, e := range s.enis {
			if !seen[e.ID] {
				out = append(out, s.marker(e, st, StatusNoData))
			}
		}
		s.closed = st + W
	}
	return out
}

// final is the end of the last window of a log that goes away at now:
// the window containing now, or a later one holding data.
func (s *logState) final(now int64) int64 {
	end := windowStart(now, s.WindowSeconds) + s.WindowSeconds
	for st := range s.windows {
		end = max(end, st+s.WindowSeconds)
	}
	return end
}

// lastEnd is the end of the last open window of a retired log: the one
// in progress when it was checkpointed, or a later one holding data.
func (s *logState) lastEnd() int64 {
	end := s.closed + s.WindowSeconds
	for st := range s.windows {
		end = max(end, st+s.WindowSeconds)
	}
	return end
}

func (s *logState) marker(e ENI, start int64, status string) Record {
	return Record{
		Version: Version, FlowLogID: s.ID, AccountID: s.AccountID, ENIID: e.ID, VMID: e.VMID,
		VSwitchID: e.VSwitchID, VpcID: e.VpcID, Start: start, End: start + s.WindowSeconds, LogStatus: status,
		TrafficPath: s.Path.Name(),
	}
}

// sortRecords orders records deterministically: log, window, ENI,
// status, direction, action, addresses, ports, protocol.
func sortRecords(rs []Record) {
	slices.SortFunc(rs, func(x, y Record) int {
		// Short-circuit (cmp.Or would evaluate every comparison).
		if c := cmp.Compare(x.FlowLogID, y.FlowLogID); c != 0 {
			return c
		}
		if c := cmp.Compare(x.Start, y.Start); c != 0 {
			return c
		}
		if c := cmp.Compare(x.ENIID, y.ENIID); c != 0 {
			return c
		}
		if c := cmp.Compare(x.LogStatus, y.LogStatus); c != 0 {
			return c
		}
		if c := cmp.Compare(x.Direction, y.Direction); c != 0 {
			return c
		}
		if c := cmp.Compare(x.Action, y.Action); c != 0 {
			return c
		}
		if c := cmp.Compare(x.SrcAddr, y.SrcAddr); c != 0 {
			return c
		}
		if c := cmp.Compare(x.DstAddr, y.DstAddr); c != 0 {
			return c
		}
		if c := cmp.Compare(x.SrcPort, y.SrcPort); c != 0 {
			return c
		}
		if c := cmp.Compare(x.DstPort, y.DstPort); c != 0 {
			return c
		}
		return cmp.Compare(x.Protocol, y.Protocol)
	})
}

// AggState is the aggregator's open state, for a checkpoint: the logs'
// open windows with their records so far.
type AggState struct {
	Logs []LogCheckpoint `json:"logs"`
}

// LogCheckpoint is one log's open state. AccountID, TrafficType,
// TrafficPath and ENIs (absent from checkpoints of older agents) let a
// restored log that is no longer active emit its windows as it would have
// (NODATA and SKIPDATA records name the ENIs it covered, and every record
// its path). The records in its windows were filtered by its path
// already: the path's inside blocks are not kept.
type LogCheckpoint struct {
	ID            string             `json:"id"`
	AccountID     string             `json:"account_id,omitempty"`
	TrafficType   string             `json:"traffic_type,omitempty"`
	TrafficPath   string             `json:"traffic_path,omitempty"` // PathFilter.Name
	WindowSeconds int64              `json:"window_seconds"`
	ENIs          []ENI              `json:"enis,omitempty"`
	Closed        int64              `json:"closed"`
	Records       []Record           `json:"records,omitempty"`
	Skipped       map[int64][]string `json:"skipped,omitempty"`
	Missed        int64              `json:"missed,omitempty"`
	// Retired: the log was retired already (see Restore); its windows
	// are emitted at the next Flush whatever the active logs.
	Retired bool `json:"retired,omitempty"`
}

// State returns the open state (for a checkpoint).
func (a *Aggregator) State() AggState {
	var st AggState
	counted := map[string]bool{}
	save := func(s *logState, retired bool) {
		lc := LogCheckpoint{ID: s.ID, AccountID: s.AccountID, TrafficType: s.TrafficType, TrafficPath: s.Path.Name(),
			WindowSeconds: s.WindowSeconds, Closed: s.closed, Retired: retired}
		if !counted[s.ID] {
			lc.Missed = a.missed[s.ID]
			counted[s.ID] = true
		}
		for _, e := range s.enis {
			lc.ENIs = append(lc.ENIs, e)
		}
		slices.SortFunc(lc.ENIs, func(x, y ENI) int { return cmp.Compare(x.ID, y.ID) })
		for start, w := range s.windows {
			for k, r := range w.recs {
				lc.Records = append(lc.Records, s.record(k, r))
			}
			for id := range w.skipped {
				if lc.Skipped == nil {
					lc.Skipped = map[int64][]string{}
				}
				lc.Skipped[start] = append(lc.Skipped[start], id)
			}
		}
		for _, ids := range lc.Skipped {
			slices.Sort(ids)
		}
		sortRecords(lc.Records)
		st.Logs = append(st.Logs, lc)
	}
	for _, s := range a.logs {
		save(s, false)
	}
	for _, s := range a.retired {
		save(s, true)
	}
	// Missed counts of logs gone since the last Flush (SetLogs emitted
	// their windows) are kept too.
	for id, n := range a.missed {
		if !counted[id] && n > 0 {
			st.Logs = append(st.Logs, LogCheckpoint{ID: id, Missed: n, Retired: true})
		}
	}
	slices.SortStableFunc(st.Logs, func(x, y LogCheckpoint) int {
		if c := cmp.Compare(x.ID, y.ID); c != 0 {
			return c
		}
		if x.Retired != y.Retired {
			if x.Retired {
				return 1
			}
			return -1
		}
		return cmp.Compare(x.WindowSeconds, y.WindowSeconds)
	})
	return st
}

// Restore loads a checkpoint into an aggregator whose logs are set
// (SetLogs): the open windows of logs that are still active with the same
// window continue; what was emitted before (Closed) is not emitted again.
//
// The open windows of a log that is no longer active (deactivated or
// deleted while no capture ran) or whose window changed are not dropped:
// the log is retired, and the next Flush emits its windows as they are,
// with their own start and end (the server takes the window in progress
// at a deactivation and drops windows of a deleted log). What happened
// between the checkpoint and now was not captured for it (its traffic
// went to no window, or to a window of the new length), so the last of
// its windows says SKIPDATA for every ENI it covered and its missed
// counter grows by one.
func (a *Aggregator) Restore(st AggState) {
	for _, lc := range st.Logs {
		if lc.Missed > 0 {
			a.missed[lc.ID] += lc.Missed
		}
		s := a.logs[lc.ID]
		if lc.Retired || s == nil || s.WindowSeconds != lc.WindowSeconds {
			a.retire(lc, s != nil)
			continue
		}
		s.closed = lc.Closed
		restoreWindows(s, lc)
	}
}

// restoreWindows puts the checkpointed windows of lc into s, except those
// emitted already.
func restoreWindows(s *logState, lc LogCheckpoint) {
	for _, r := range lc.Records {
		start := windowStart(r.Start, s.WindowSeconds)
		if start < s.closed {
			continue
		}
		src, _ := netip.ParseAddr(r.SrcAddr)
		dst, _ := netip.ParseAddr(r.DstAddr)
		k := recKey{ENI: r.ENIID, Dir: r.Direction, Action: r.Action, Src: src, Dst: dst, SrcPort: uint16(r.SrcPort), DstPort: uint16(r.DstPort), Proto: uint8(r.Protocol)}
		s.window(start).recs[k] = recAgg{eni: &ENI{ID: r.ENIID, VMID: r.VMID, VSwitchID: r.VSwitchID, VpcID: r.VpcID},
			packets: r.Packets, bytes: r.Bytes, flags: r.TCPFlags, start: r.Start, end: r.End}
	}
	for start, ids := range lc.Skipped {
		if start < s.closed {
			continue
		}
		for _, id := range ids {
			s.window(start).skipped[id]++
		}
	}
}

// retire keeps the checkpointed windows of a log that is not active with
// the same window (rewindowed: it is active with another one) for the
// next Flush.
func (a *Aggregator) retire(lc LogCheckpoint, rewindowed bool) {
	if lc.WindowSeconds <= 0 {
		return
	}
	s := &logState{Log: Log{ID: lc.ID, AccountID: lc.AccountID, TrafficType: lc.TrafficType, WindowSeconds: lc.WindowSeconds, ENIs: lc.ENIs},
		enis: map[string]ENI{}, windows: map[int64]*window{}, closed: lc.Closed}
	if lc.TrafficPath != "" {
		// A retired log takes no more traffic: its records keep their
		// path's name, and the inside blocks are not needed.
		s.Path = &PathFilter{name: lc.TrafficPath}
	}
	for _, e := range lc.ENIs {
		s.enis[e.ID] = e
	}
	// A checkpoint of an older agent names no ENIs: those of its records
	// and SKIPDATA markers.
	for _, r := range lc.Records {
		if _, ok := s.enis[r.ENIID]; !ok {
			s.enis[r.ENIID] = ENI{ID: r.ENIID, VMID: r.VMID, VSwitchID: r.VSwitchID, VpcID: r.VpcID}
		}
		if s.AccountID == "" {
			s.AccountID = r.AccountID
		}
	}
	for _, ids := range lc.Skipped {
		for _, id := range ids {
			if _, ok := s.enis[id]; !ok {
				s.enis[id] = ENI{ID: id}
			}
		}
	}
	restoreWindows(s, lc)
	if s.closed <= 0 && len(s.windows) > 0 {
		// No emitted window to start from (an older or odd
		// checkpoint): from the first window it holds.
		s.closed = slices.Min(slices.Collect(maps.Keys(s.windows)))
	}
	if lc.Retired {
		if s.closed > 0 && (len(s.windows) > 0 || len(s.enis) > 0) {
			a.retired = append(a.retired, s)
		}
		return
	}
	lg := a.Logger
	if lg == nil {
		lg = slog.Default()
	}
	why := "flow log deactivated or deleted while capture was down"
	if rewindowed {
		why = "flow log window changed while capture was down"
	}
	if s.closed <= 0 || len(s.windows) == 0 && len(s.enis) == 0 {
		// Nothing to report but the missed count (a checkpoint of an
		// older agent with an empty window).
		a.missed[s.ID]++
		lg.Info(why+"; its checkpointed window was empty", "flow_log", s.ID, "window_seconds", s.WindowSeconds)
		return
	}
	w := s.window(s.lastEnd() - s.WindowSeconds)
	for id := range s.enis {
		w.skipped[id]++
	}
	a.missed[s.ID]++
	lg.Info(why+"; its checkpointed windows are reported, the last says SKIPDATA (a deleted flow log's are dropped by the server)",
		"flow_log", s.ID, "window_seconds", s.WindowSeconds, "from", s.closed, "to", s.lastEnd(), "records", len(lc.Records))
	a.retired = append(a.retired, s)
}
