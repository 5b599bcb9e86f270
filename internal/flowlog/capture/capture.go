package capture

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	nflog "github.com/florianl/go-nflog/v2"
	"github.com/mdlayher/netlink"

	"github.com/palisade-project/palisade/internal/flowlog"
	"github.com/palisade-project/palisade/internal/netnsrun"
	"github.com/palisade-project/palisade/internal/policy"
)

// Sink receives the records of closed windows.
type Sink interface {
	ReportFlowRecords(ctx context.Context, b flowlog.Batch) error
}

// View is what capture needs to know of the VPC, from the agent's desired
// state: the active flow logs with the ENIs they cover, the ENI of each
// address of the VPC, and optionally the sender-side egress verdict (see
// Tracker.EgressAllowed).
type View struct {
	Logs          []flowlog.Log
	ENIOf         func(netip.Addr) string
	EgressAllowed func(eniID string, p Packet) bool
}

// Config configures the capture of one VPC namespace.
type Config struct {
	VpcID string
	// NetnsPath is the VPC namespace (/run/netns/<vpc-id>).
	NetnsPath string
	Sink      Sink
	// CheckpointDir, when set, holds a checkpoint per VPC written at every
	// window boundary and on Stop, so that a restarted capture neither
	// repeats nor silently loses records.
	CheckpointDir string
	// GapTolerance: a restart whose checkpoint is older than this may have
	// missed elements that the kernel counted and dropped meanwhile, and
	// says SKIPDATA (default CountTimeout less one dump interval).
	GapTolerance time.Duration
	// SetSize bounds each counting set (default CountSetSize): the
	// kernel memory of the flows a VPC can have counted at once. It
	// applies when the counting table is made.
	SetSize int
	Logger  *slog.Logger
}

// Capture is the running capture of one VPC namespace.
type Capture struct {
	cfg    Config
	log    *slog.Logger
	views  chan View
	cancel context.CancelFunc
	done   chan struct{}
	// received counts NFLOG messages (the hook's goroutine adds).
	received atomic.Uint64
	// dropped counts NFLOG messages the hook could not hand over.
	dropped atomic.Uint64
	packets chan Packet
	// Stats for tests and benchmarks.
	stats atomic.Pointer[Stats]
	// ino identifies the namespace captured in (netnsrun.Inode).
	ino uint64
	// rawCounters are the logging counters last read, by table and name;
	// loggedSum, overSum and fullSum add up their growth (see counters).
	// Only the run loop touches them.
	rawCounters                 map[string]uint64
	loggedSum, overSum, fullSum uint64
}

// Stats are a capture's counters since it started.
type Stats struct {
	Flows    int   // tracked elements of the counting sets
	Logged   int64 // NFLOG messages received
	Missed   int64 // what was reported missed (SKIPDATA)
	Reported int   // records reported
	Windows  int   // window boundaries handled
	Dumps    int   // dumps of the counting sets done
	// LastDump is how long the last dump of the counting sets took, and
	// LastDumpElems how many elements it read.
	LastDump      time.Duration
	LastDumpElems int
}

// checkpoint is what a capture saves per VPC.
type checkpoint struct {
	Time time.Time        `json:"time"`
	Agg  flowlog.AggState `json:"agg"`
	// The elements' baselines follow the header, one JSON value each
	// (streamed: a checkpoint of 100,000 flows needs no buffer of them).
	Flows   []flowBase      `json:"-"`
	Pending []flowlog.Batch `json:"pending,omitempty"`
	Logged  uint64          `json:"logged"`
	Over    uint64          `json:"over"`
}

type flowBase struct {
	K ElemKey `json:"k"`
	C Counts  `json:"c"`
}

// Start starts capturing in the VPC namespace with the first view.
func Start(cfg Config, v View) (*Capture, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.GapTolerance == 0 {
		cfg.GapTolerance = CountTimeout - DumpInterval
	}
	if cfg.SetSize <= 0 {
		cfg.SetSize = CountSetSize
	}
	if cfg.NetnsPath == "" {
		cfg.NetnsPath = filepath.Join("/run/netns", cfg.VpcID)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Capture{cfg: cfg, log: cfg.Logger.With("component", "flowlog", "vpc", cfg.VpcID), views: make(chan View, 1),
		cancel: cancel, done: make(chan struct{}), packets: make(chan Packet, 16384)}
	c.stats.Store(&Stats{})
	c.ino = netnsrun.Inode(cfg.NetnsPath)
	r, err := c.open(ctx)
	if err != nil {
		cancel()
		return nil, err
	}
	go func() {
		defer close(c.done)
		defer r.close()
		c.run(ctx, r, v)
	}()
	return c, nil
}

// Update hands capture a new view (non-blocking; the latest one wins).
func (c *Capture) Update(v View) {
	for {
		select {
		case c.views <- v:
			return
		default:
		}
		select {
		case <-c.views:
		default:
		}
	}
}

// Stop ends the capture: the counters are dumped, the open windows saved
// in the checkpoint (they continue after a restart) and what closed is
// reported.
func (c *Capture) Stop() {
	c.cancel()
	<-c.done
}

// Stats returns the capture's counters.
func (c *Capture) Stats() Stats { return *c.stats.Load() }

// Stale reports whether the VPC namespace at the capture's path is no
// longer the one it captures in (deleted by hand, or made anew by the
// agent): its counting table and NFLOG socket are the old namespace's,
// so the caller stops it (its counts are saved in the checkpoint) and
// starts a new one there.
func (c *Capture) Stale() bool { return netnsrun.Inode(c.cfg.NetnsPath) != c.ino }

// resources are the kernel sockets of one capture.
type resources struct {
	ns   *os.File
	sets *elemReader
	// fresh: the counting table was made by this capture (not kept from
	// an earlier one).
	fresh bool
	// counted says the last read of the counters succeeded.
	counted bool
	nf      *nflog.Nflog
}

func (r *resources) close() {
	if r.sets != nil {
		r.sets.Close()
	}
	if r.nf != nil {
		r.nf.Close()
	}
	if r.ns != nil {
		r.ns.Close()
	}
}

func (c *Capture) open(ctx context.Context) (*resources, error) {
	r := &resources{}
	var err error
	if r.ns, err = os.Open(c.cfg.NetnsPath); err != nil {
		return nil, fmt.Errorf("open namespace %s: %w", c.cfg.VpcID, err)
	}
	fd := int(r.ns.Fd())
	if r.fresh, err = ensureCountTable(fd, c.cfg.SetSize); err != nil {
		r.close()
		return nil, fmt.Errorf("%s: %w", c.cfg.VpcID, err)
	}
	if r.sets, err = newElemReader(fd); err != nil {
		r.close()
		return nil, err
	}
	r.nf, err = nflog.Open(&nflog.Config{NetNS: fd, Group: policy.FlowLogGroup, Copymode: nflog.CopyPacket,
		// Every message at once (no batching for up to a second), so
		// that a packet lands in the window it was dropped in.
		QThresh: 1, Timeout: 1})
	if err != nil {
		r.close()
		return nil, fmt.Errorf("nflog open: %w", err)
	}
	if err := r.nf.Con.SetReadBuffer(8 << 20); err != nil {
		c.log.Debug("nflog read buffer", "err", err)
	}
	hook := func(a nflog.Attribute) int {
		c.received.Add(1)
		p, ok := parseLogged(a)
		if !ok {
			return 0
		}
		select {
		case c.packets <- p:
		default:
			c.dropped.Add(1)
		}
		return 0
	}
	errFn := func(err error) int {
		if ctx.Err() != nil {
			return 1
		}
		var op *netlink.OpError
		if errors.As(err, &op) && op.Timeout() {
			return 0
		}
		// ENOBUFS: the kernel dropped messages; the logged counter
		// says how many (compared at every window boundary).
		c.log.Debug("nflog receive", "err", err)
		return 0
	}
	if err := r.nf.RegisterWithErrorFunc(ctx, hook, errFn); err != nil {
		r.close()
		return nil, fmt.Errorf("nflog register: %w", err)
	}
	return r, nil
}

func (c *Capture) ckptPath() string {
	if c.cfg.CheckpointDir == "" {
		return ""
	}
	return CheckpointPath(c.cfg.CheckpointDir, c.cfg.VpcID)
}

// inFlightWait bounds how long a window boundary waits for NFLOG messages
// that the kernel's counter has seen and the socket has not delivered yet
// before they are counted as lost.
const inFlightWait = time.Second

// CheckpointPath is the file in which the capture of a VPC keeps its open
// windows across restarts.
func CheckpointPath(dir, vpcID string) string {
	return filepath.Join(dir, "flowlog-"+vpcID+".json")
}

// nextBoundary is the first boundary of any log's window after now.
func nextBoundary(logs []flowlog.Log, now time.Time) time.Time {
	best := time.Time{}
	for _, l := range logs {
		w := l.WindowSeconds
		if w <= 0 {
			w = 600
		}
		s := now.Unix() - now.Unix()%w + w
		t := time.Unix(s, 0)
		if best.IsZero() || t.Before(best) {
			best = t
		}
	}
	if best.IsZero() {
		best = now.Add(time.Minute)
	}
	return best
}

func (c *Capture) run(ctx context.Context, r *resources, v View) {
	start := time.Now()
	agg := flowlog.NewAggregator()
	agg.Logger = c.log
	// A table kept from an earlier capture counted for it: without its
	// checkpoint, the first dump's counters are baselines.
	tr := NewTracker(!r.fresh)
	apply := func(v View) []flowlog.Record {
		tr.ENIOf, tr.EgressAllowed = v.ENIOf, v.EgressAllowed
		if tr.ENIOf == nil {
			tr.ENIOf = func(netip.Addr) string { return "" }
		}
		return agg.SetLogs(v.Logs, time.Now())
	}
	var pending []flowlog.Batch
	var loggedTotal, loggedPrev, overPrev, missedLogged uint64
	gone := apply(v)
	logs := v.Logs
	emit := func(t time.Time, o flowlog.Observation) { agg.Add(t, o) }
	tr.Lost = func(at time.Time, eniID string) { agg.Miss(at, eniID, 1, flowlog.ActionAccept) }
	// Restore the checkpoint of an earlier capture of this VPC.
	if path := c.ckptPath(); path != "" {
		if ck, err := readCheckpoint(path); !errors.Is(err, os.ErrNotExist) {
			if err != nil {
				c.log.Warn("flow-log checkpoint unreadable; the open window says SKIPDATA", "err", err)
				agg.Miss(start, "", 1, "")
			} else {
				agg.Restore(ck.Agg)
				if !r.fresh {
					base := make(map[ElemKey]Counts, len(ck.Flows))
					for _, f := range ck.Flows {
						base[f.K] = f.C
					}
					tr.Restore(base)
				}
				pending = ck.Pending
				loggedPrev, overPrev = ck.Logged, ck.Over
				if len(ck.Agg.Logs) > 0 {
					c.restartGap(agg, logs, ck.Time, start, r.fresh)
				}
			}
		}
	}
	if len(gone) > 0 {
		pending = append(pending, flowlog.Batch{ID: newBatchID(), Records: gone})
	}
	// The first dump sets the baselines.
	// Logged before this capture listened (the agent was down): missed.
	if cnt, err := c.dump(r, tr, time.Now(), emit, agg); err == nil {
		lg, ov := cnt.logged, cnt.over
		if lg >= loggedPrev && ov >= overPrev && (loggedPrev != 0 || overPrev != 0) {
			if n := (lg - loggedPrev) + (ov - overPrev); n > 0 {
				agg.Miss(time.Now(), "", int64(n), flowlog.ActionReject)
			}
		}
		loggedPrev, overPrev = lg, ov
	}
	received0 := c.received.Load()

	report := func() {
		b := agg.Flush(time.Now())
		if len(b.Records) > 0 || len(b.Missed) > 0 {
			pending = append(pending, splitBatch(b, MaxBatchRecords)...)
		}
		pending = boundPending(pending, MaxPendingRecords)
		for len(pending) > 0 && c.cfg.Sink != nil {
			rctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err := c.cfg.Sink.ReportFlowRecords(rctx, pending[0])
			cancel()
			if err != nil {
				c.log.Warn("report flow records; retried at the next window", "err", err)
				break
			}
			st := *c.stats.Load()
			st.Reported += len(pending[0].Records)
			for _, n := range pending[0].Missed {
				st.Missed += n
			}
			c.stats.Store(&st)
			pending = pending[1:]
		}
		if path := c.ckptPath(); path != "" {
			ck := checkpoint{Time: time.Now(), Agg: agg.State(), Pending: pending, Logged: loggedPrev, Over: overPrev}
			if err := writeCheckpoint(path, ck, tr); err != nil {
				c.log.Warn("flow-log checkpoint", "err", err)
			}
		}
	}
	boundary := func(edge time.Time) {
		at := edge.Add(-time.Nanosecond)
		c.drain(tr, at, emit) // what arrived before the boundary
		// Drops the rate limit kept from NFLOG, and NFLOG messages that
		// never arrived (socket overflow, agent down): SKIPDATA.
		if cnt, err := c.dump(r, tr, at, emit, agg); err == nil {
			lg, ov := cnt.logged, cnt.over
			reset := cnt.reset || lg < loggedPrev // a table was replaced
			loggedTotal += delta(lg, loggedPrev)
			if over := delta(ov, overPrev); over > 0 {
				agg.Miss(at, "", int64(over), flowlog.ActionReject)
			}
			loggedPrev, overPrev = lg, ov
			// Messages the counter has seen may still be on their way
			// (a loaded machine): wait for them, at most
			// inFlightWait, before taking the difference for lost; a
			// message taken for lost and arriving later would be
			// counted twice, as a record and as missed.
			var got uint64
			for deadline := time.Now().Add(inFlightWait); ; {
				time.Sleep(20 * time.Millisecond)
				c.drain(tr, at, emit)
				got = c.received.Load() - received0
				if got+missedLogged >= loggedTotal || time.Now().After(deadline) {
					break
				}
			}
			if reset && got+missedLogged > loggedTotal {
				// What was logged between the last read and the
				// replacement is not in the new counter: align, so
				// that later losses are not hidden behind it.
				loggedTotal = got + missedLogged
			}
			if loggedTotal > got+missedLogged {
				n := loggedTotal - got - missedLogged
				missedLogged += n
				agg.Miss(at, "", int64(n), flowlog.ActionReject)
			}
		} else {
			c.log.Debug("flow-log counters", "err", err)
		}
		if n := c.dropped.Swap(0); n > 0 {
			agg.Miss(at, "", int64(n), flowlog.ActionReject)
		}
		report()
		st := *c.stats.Load()
		st.Windows++
		st.Logged = int64(c.received.Load())
		c.stats.Store(&st)
	}
	// edge is the next window boundary; between boundaries the counters
	// are dumped every DumpInterval (see DumpInterval).
	edge := nextBoundary(logs, time.Now())
	wake := func() time.Time { return minTime(edge, time.Now().Add(DumpInterval)) }
	at := wake()
	timer := time.NewTimer(time.Until(at))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			// Final: attribute counters so far to the open window and
			// save it; closed windows are reported. A view handed over
			// just before (logs removed) is applied first.
			// The counters so far go to the logs as they were.
			now := time.Now()
			c.drain(tr, now, emit)
			c.dump(r, tr, now, emit, agg)
			select {
			case nv := <-c.views:
				if g := apply(nv); len(g) > 0 {
					pending = append(pending, flowlog.Batch{ID: newBatchID(), Records: g})
				}
				logs = nv.Logs
			default:
			}
			report()
			if len(logs) == 0 {
				// No log left: the capture ends for good, and so does
				// the kernel's counting; a later one starts afresh.
				if err := removeCountTable(int(r.ns.Fd())); err != nil {
					c.log.Warn("flow-log counting table left in place", "err", err)
				}
				if path := c.ckptPath(); path != "" && len(pending) == 0 {
					_ = os.Remove(path)
				}
			}
			return
		case nv := <-c.views:
			if narrows(logs, nv.Logs) {
				// A log (or a log's ENI) goes, or its window
				// changes: its windows are emitted now, with the
				// counters so far.
				now := time.Now()
				c.drain(tr, now, emit)
				c.dump(r, tr, now, emit, agg)
			}
			if g := apply(nv); len(g) > 0 {
				pending = append(pending, flowlog.Batch{ID: newBatchID(), Records: g})
			}
			logs = nv.Logs
			// A shorter window may bring the next boundary closer; a
			// boundary that passed is still handled (the timer fires).
			if nb := nextBoundary(logs, time.Now()); nb.Before(edge) {
				edge = nb
				at = wake()
				timer.Reset(time.Until(at))
			}
		case p := <-c.packets:
			tr.Logged(time.Now(), p, emit)
		case <-timer.C:
			if at.Equal(edge) {
				boundary(edge)
				edge = nextBoundary(logs, time.Now())
			} else {
				c.drain(tr, time.Now(), emit)
				c.dump(r, tr, time.Now(), emit, agg)
			}
			at = wake()
			timer.Reset(time.Until(at))
		}
	}
}

// narrows reports whether going from the logs old to the logs new ends a
// log, changes its window, traffic type or traffic path (a path's inside
// blocks change with the VPC's CIDRs and peering routes: the counters so
// far are for the old ones), or drops one of its ENIs.
func narrows(old, new []flowlog.Log) bool {
	byID := make(map[string]flowlog.Log, len(new))
	for _, l := range new {
		byID[l.ID] = l
	}
	for _, o := range old {
		n, ok := byID[o.ID]
		if !ok || n.WindowSeconds != o.WindowSeconds || n.TrafficType != o.TrafficType || !n.Path.Equal(o.Path) {
			return true
		}
		for _, e := range o.ENIs {
			if !slices.ContainsFunc(n.ENIs, func(x flowlog.ENI) bool { return x.ID == e.ID }) {
				return true
			}
		}
	}
	return false
}

// MaxBatchRecords bounds the records of one batch handed to the sink:
// a window of 100,000 flows is reported in several, so that no sink holds
// all of it encoded at once.
const MaxBatchRecords = 20_000

// splitBatch cuts b into batches of at most max records, each with its
// own ID (the missed counts go with the first).
func splitBatch(b flowlog.Batch, max int) []flowlog.Batch {
	var out []flowlog.Batch
	for first := true; first || len(b.Records) > 0; first = false {
		n := min(max, len(b.Records))
		part := flowlog.Batch{ID: newBatchID(), Records: b.Records[:n:n]}
		if first {
			part.Missed = b.Missed
		}
		b.Records = b.Records[n:]
		out = append(out, part)
	}
	return out
}

// MaxPendingRecords bounds the records a capture keeps while its sink is
// unreachable; beyond it the oldest batches go, and their records are
// counted as missed in the batch that follows (so the flow logs' missed
// counters still say what was lost).
const MaxPendingRecords = 1_000_000

// boundPending drops the oldest batches while more than max records wait,
// moving their record counts (and missed counts) per flow log into the
// missed counts of the oldest batch kept.
func boundPending(pending []flowlog.Batch, max int) []flowlog.Batch {
	total := 0
	for _, b := range pending {
		total += len(b.Records)
	}
	lost := map[string]int64{}
	for total > max && len(pending) > 1 {
		for _, r := range pending[0].Records {
			lost[r.FlowLogID]++
		}
		for id, n := range pending[0].Missed {
			lost[id] += n
		}
		total -= len(pending[0].Records)
		pending = pending[1:]
	}
	if len(lost) > 0 {
		kept := &pending[0]
		if kept.Missed == nil {
			kept.Missed = map[string]int64{}
		}
		for id, n := range lost {
			kept.Missed[id] += n
		}
	}
	return pending
}

// newBatchID returns a random batch ID (kept with the batch in the
// checkpoint until the sink took it).
func newBatchID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read does not fail
	return hex.EncodeToString(b[:])
}

// DumpInterval bounds the time between two dumps of the counting sets.
// Counts go to windows at the boundary dumps (the kernel keeps counting
// in between); a dump between boundaries is there so that every element
// is read after its last packet before it leaves its set (CountTimeout),
// whatever the windows' length. Dumps are not cheap: the kernel walks a
// set from its start for every batch of a dump (nft_rhash_walk), so a
// dump of n elements costs O(n^2) (about a second of kernel time for
// 100,000).
const DumpInterval = time.Minute

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// restartGap marks SKIPDATA where a restart may have lost or misplaced
// traffic: with a checkpoint older than GapTolerance, elements may have
// come and gone unseen; with a counting table made anew (it was gone),
// nothing was counted meanwhile; across a window boundary, the counts of
// the downtime are attributed to the window of the restart. Then every
// window from the checkpoint to now says SKIPDATA.
func (c *Capture) restartGap(agg *flowlog.Aggregator, logs []flowlog.Log, ckpt, now time.Time, fresh bool) {
	gap := fresh || now.Sub(ckpt) > c.cfg.GapTolerance
	for _, l := range logs {
		if w := l.WindowSeconds; w > 0 && ckpt.Unix()/w != now.Unix()/w {
			gap = true
		}
	}
	if gap {
		agg.MissSpan(ckpt, now)
	}
}

func delta(cur, prev uint64) uint64 {
	if cur < prev {
		return cur // the table was replaced: its counters restarted
	}
	return cur - prev
}

// drain handles the logged packets queued now.
func (c *Capture) drain(tr *Tracker, at time.Time, emit Emit) {
	for {
		select {
		case p := <-c.packets:
			tr.Logged(at, p, emit)
		default:
			return
		}
	}
}

// dump reads the namespace's flow-log counters and then the counting
// sets, and returns the counters it read. A packet that found its set
// full, a dump that fails, or counters that cannot be read make the
// window say SKIPDATA for every covered ENI (which ENIs lost packets is
// unknown); a counting table gone (deleted by hand) is made again.
func (c *Capture) dump(r *resources, tr *Tracker, at time.Time, emit Emit, agg *flowlog.Aggregator) (tableCounters, error) {
	fullBefore := c.fullSum
	cnt, cerr := c.counters()
	tr.begin()
	began, elems := time.Now(), 0
	err := r.sets.dump(func(e *Elem) { elems++; tr.elem(at, e, emit) })
	took := time.Since(began)
	tr.end(at)
	if err != nil {
		c.log.Warn("flow-log counting sets unreadable; the window says SKIPDATA", "err", err)
		agg.Miss(at, "", 1, flowlog.ActionAccept)
		if fresh, err := ensureCountTable(int(r.ns.Fd()), c.cfg.SetSize); err != nil {
			c.log.Warn("flow-log counting table", "err", err)
		} else if fresh {
			c.log.Warn("flow-log counting table was gone; made again")
		}
	}
	st := *c.stats.Load()
	st.Dumps++
	st.LastDump, st.LastDumpElems = took, elems
	st.Flows = tr.Len()
	c.stats.Store(&st)
	switch {
	case cerr != nil:
		if r.counted {
			c.log.Warn("flow-log counters; the window says SKIPDATA", "err", cerr)
			agg.Miss(at, "", 1, flowlog.ActionAccept)
		}
		r.counted = false
	default:
		if full := c.fullSum - fullBefore; full > 0 && r.counted {
			c.log.Warn("flow-log counting sets full; the window says SKIPDATA", "packets", full)
			agg.Miss(at, "", int64(full), flowlog.ActionAccept)
		}
		r.counted = true
	}
	return cnt, cerr
}

var (
	counterRE = regexp.MustCompile(`counter (\w+) \{\s*packets (\d+) bytes \d+`)
	tableRE   = regexp.MustCompile(`(?m)^table (\w+ \w+) \{`)
)

// tableCounters are the flow-log counters of a namespace: logged and over
// add up the logging counters of every table that has them (the
// program's deny chains, the NAT table's refused WAF clients) and only
// grow, except that the first read gives the counters' values; reset says
// that a table's counters restarted since the last read (it was replaced)
// or that a table went away.
type tableCounters struct {
	logged, over uint64
	reset        bool
}

// counters reads the flow-log counters of the namespace's tables.
func (c *Capture) counters() (tableCounters, error) {
	var tc tableCounters
	out, err := exec.Command("nsenter", "--net="+c.cfg.NetnsPath, "nft", "list", "counters").Output()
	if err != nil {
		return tc, fmt.Errorf("nft list counters: %w", err)
	}
	return c.accumulate(parseNftCounters(string(out)))
}

// accumulate adds the growth of the logging counters in raw (by table and
// name, as parseNftCounters reads them) to the capture's sums.
func (c *Capture) accumulate(raw map[string]map[string]uint64) (tableCounters, error) {
	var tc tableCounters
	prog := raw["inet "+policy.TableName]
	for _, name := range []string{policy.FlowLogLoggedCounter, policy.FlowLogOverCounter} {
		if _, ok := prog[name]; !ok {
			return tc, fmt.Errorf("flow-log counters not in the table")
		}
	}
	if c.rawCounters == nil {
		c.rawCounters = map[string]uint64{}
	}
	for key := range c.rawCounters {
		table, name, _ := strings.Cut(key, "/")
		if _, ok := raw[table][name]; !ok {
			// The counter (or its table) went away with what it counted
			// since the last read; if it comes back, it starts afresh.
			// (reset concerns the logging counters: the counting table
			// going away is said by its failed dump.)
			tc.reset = tc.reset || name != FullCounter
			delete(c.rawCounters, key)
		}
	}
	for table, cs := range raw {
		for _, name := range []string{policy.FlowLogLoggedCounter, policy.FlowLogOverCounter, FullCounter} {
			v, ok := cs[name]
			if !ok || (name == FullCounter) != (table == "inet "+CountTable) {
				continue
			}
			key := table + "/" + name
			d := v
			if prev, seen := c.rawCounters[key]; seen {
				tc.reset = tc.reset || (v < prev && name != FullCounter)
				d = delta(v, prev)
			}
			c.rawCounters[key] = v
			switch name {
			case policy.FlowLogLoggedCounter:
				c.loggedSum += d
			case policy.FlowLogOverCounter:
				c.overSum += d
			default:
				c.fullSum += d
			}
		}
	}
	tc.logged, tc.over = c.loggedSum, c.overSum
	return tc, nil
}

// parseNftCounters reads `nft list counters`: packets by table ("family
// name") and counter name.
func parseNftCounters(out string) map[string]map[string]uint64 {
	res := map[string]map[string]uint64{}
	starts := tableRE.FindAllStringSubmatchIndex(out, -1)
	for i, st := range starts {
		end := len(out)
		if i+1 < len(starts) {
			end = starts[i+1][0]
		}
		table := out[st[2]:st[3]]
		cs := map[string]uint64{}
		for _, m := range counterRE.FindAllStringSubmatch(out[st[1]:end], -1) {
			cs[m[1]], _ = strconv.ParseUint(m[2], 10, 64)
		}
		res[table] = cs
	}
	return res
}

// writeCheckpoint writes the header and then every flow's baseline,
// streamed, to a temporary file renamed over path.
func writeCheckpoint(path string, ck checkpoint, tr *Tracker) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".flowlog-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // after the rename, a no-op
	w := bufio.NewWriterSize(f, 64<<10)
	enc := json.NewEncoder(w)
	err = enc.Encode(ck)
	for k, e := range tr.base {
		if err != nil {
			break
		}
		err = enc.Encode(flowBase{k, e.c})
	}
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// readCheckpoint reads what writeCheckpoint wrote.
func readCheckpoint(path string) (checkpoint, error) {
	var ck checkpoint
	f, err := os.Open(path)
	if err != nil {
		return ck, err
	}
	defer f.Close()
	dec := json.NewDecoder(bufio.NewReaderSize(f, 64<<10))
	if err := dec.Decode(&ck); err != nil {
		return ck, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	for {
		var fb flowBase
		if err := dec.Decode(&fb); err == io.EOF {
			return ck, nil
		} else if err != nil {
			return ck, fmt.Errorf("checkpoint %s: %w", path, err)
		}
		ck.Flows = append(ck.Flows, fb)
	}
}

// parseLogged decodes an NFLOG message of a deny chain.
func parseLogged(a nflog.Attribute) (Packet, bool) {
	if a.Prefix == nil || a.Payload == nil {
		return Packet{}, false
	}
	f := strings.Fields(*a.Prefix)
	if (len(f) != 3 && len(f) != 4) || f[0] != "palisade" {
		return Packet{}, false
	}
	p := Packet{Stage: f[1], Direction: f[2]}
	if !parseIP(*a.Payload, &p) {
		return Packet{}, false
	}
	if len(f) == 4 {
		// Dropped before its destination was translated (a WAF port's
		// refused client): the fourth field is the ENI's address the
		// packet was bound for, as the direct path would have seen it.
		dst, err := netip.ParseAddr(f[3])
		if err != nil {
			return Packet{}, false
		}
		p.Dst = dst
	}
	return p, true
}

// parseIP reads addresses, protocol, ports, length and TCP flags of an IP
// packet (possibly truncated to the snap length).
func parseIP(b []byte, p *Packet) bool {
	if len(b) < 1 {
		return false
	}
	var l4 []byte
	switch b[0] >> 4 {
	case 4:
		if len(b) < 20 {
			return false
		}
		ihl := int(b[0]&0x0f) * 4
		p.Length = uint64(binary.BigEndian.Uint16(b[2:4]))
		p.Proto = b[9]
		p.Src = netip.AddrFrom4([4]byte(b[12:16]))
		p.Dst = netip.AddrFrom4([4]byte(b[16:20]))
		if ihl < len(b) {
			l4 = b[ihl:]
		}
	case 6:
		if len(b) < 40 {
			return false
		}
		p.Length = uint64(binary.BigEndian.Uint16(b[4:6])) + 40
		p.Proto = b[6] // extension headers are not followed
		p.Src = netip.AddrFrom16([16]byte(b[8:24]))
		p.Dst = netip.AddrFrom16([16]byte(b[24:40]))
		l4 = b[40:]
	default:
		return false
	}
	if (p.Proto == 6 || p.Proto == 17) && len(l4) >= 4 {
		p.SrcPort = binary.BigEndian.Uint16(l4[0:2])
		p.DstPort = binary.BigEndian.Uint16(l4[2:4])
	}
	if p.Proto == 6 && len(l4) >= 14 {
		p.TCPFlags = int(l4[13] & 0x3f)
	}
	return true
}
