// Package capture captures flow-log traffic in the kernel path of one VPC
// namespace: accepted flows from conntrack (accounting on: counter dumps
// at every window boundary and at least every DumpInterval, which reads
// every flow's final counters before conntrack forgets it), rejected
// packets from NFLOG on the drop verdicts of the security-group and
// network-ACL stages (see policy.DenyChain). It feeds a
// flowlog.Aggregator and reports the records of closed windows to a sink.
//
// The pure part (Tracker: conntrack flows and logged packets to
// observations) is separate from the kernel I/O (Capture) so that it can
// be tested without a kernel.
package capture

import (
	"net/netip"
	"slices"
	"time"

	"github.com/palisade-project/palisade/internal/flowlog"
	"github.com/palisade-project/palisade/internal/policy"
)

// TCP flag bits of a record.
const (
	flagFIN = 1
	flagSYN = 2
	flagRST = 4
	flagACK = 16
)

// Conntrack TCP states (include/uapi/linux/netfilter/nf_conntrack_tcp.h).
const (
	tcpFinWait   = 4
	tcpCloseWait = 5
	tcpLastAck   = 6
	tcpTimeWait  = 7
	tcpClose     = 8
)

// FlowKey identifies a conntrack entry across dumps: its ID and start
// time (the kernel may reuse an ID) and its original tuple.
type FlowKey struct {
	ID               uint32
	Start            int64 // Unix nanoseconds
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
	Proto            uint8
}

// Counts are a conntrack entry's counters in both directions.
type Counts struct {
	OrigPackets, OrigBytes   uint64
	ReplyPackets, ReplyBytes uint64
}

func flowKey(f *Flow) FlowKey {
	return FlowKey{ID: f.ID, Start: f.Start, Src: f.Orig.Src, Dst: f.Orig.Dst, SrcPort: f.Orig.SrcPort, DstPort: f.Orig.DstPort, Proto: f.Orig.Proto}
}

// Tracker holds the conntrack baselines of one VPC namespace (the
// counters already attributed to windows) and turns dumps, destroy events
// and logged packets into observations for an aggregator.
type Tracker struct {
	// ENIOf returns the ID of the VPC's ENI holding an address, or "".
	ENIOf func(netip.Addr) string
	// EgressAllowed, when set, says whether the sender's egress security
	// groups allow a packet that the receiver's ingress network ACL
	// dropped (that stage runs before the sender's groups); without it
	// such a packet counts as accepted on the sender's side.
	EgressAllowed func(eniID string, p Packet) bool
	// Lost, when set, hears of a flow that left the table before its
	// timeout (deleted by hand, a conntrack flush, a cut nobody announced
	// with Final): its traffic since the last dump is unknown, so the
	// ENIs at its ends must say SKIPDATA.
	Lost func(at time.Time, eniID string)
	base map[FlowKey]*entry
	// exemptNets are the DNS and metadata addresses (never logged).
	exemptNets []netip.Prefix
	// lastDump is when the last dump was taken: a flow that started after
	// it has a zero baseline.
	lastDump time.Time
	gen      uint64
	// Created counts the flows the tracker has met for the first time (in
	// dumps and Final): capture compares it with conntrack's insertions to
	// notice flows that came and went unseen.
	Created uint64
}

type entry struct {
	c Counts
	// seen is the dump generation that last saw the flow.
	seen uint64
	// expires is when the flow leaves the table without another packet
	// (Unix nanoseconds; 0: unknown); final says its last counters were
	// read (Final) so that leaving early is expected.
	expires int64
	final   bool
	// done: a TCP flow last seen in TIME_WAIT or CLOSE; it carries no more
	// data, and a new connection on its tuple replaces it before its
	// timeout (conntrack reopens the tuple), which is no loss.
	done bool
	// src, dst, replySrc are the addresses at its ends (for Lost).
	src, dst, replySrc netip.Addr
}

// lostSlack absorbs the rounding of conntrack timeouts to seconds and the
// time a dump takes.
const lostSlack = 2 * time.Second

// NewTracker returns a tracker whose flows started before since have
// unknown baselines (they are taken from the first dump).
func NewTracker(since time.Time) *Tracker {
	return &Tracker{ENIOf: func(netip.Addr) string { return "" }, base: map[FlowKey]*entry{}, lastDump: since,
		exemptNets: policy.ACLExemptPrefixes()}
}

// Emit receives an observation with the time it belongs to.
type Emit func(t time.Time, o flowlog.Observation)

// exempt: not logged (DNS, metadata, DHCP).
func (t *Tracker) exempt(src, dst netip.Addr, proto uint8, sport, dport uint16) bool {
	for _, p := range t.exemptNets {
		if p.Contains(src) || p.Contains(dst) {
			return true
		}
	}
	return proto == 17 && (sport == 67 || sport == 68) && (dport == 67 || dport == 68)
}

// Dump attributes the counter growth of every flow since its baseline to
// the window containing at (at a window boundary, at is just before it).
// Flows gone from the table are forgotten: a flow outlives its last
// packet by its conntrack timeout, longer than the interval between two
// dumps, so their final counters were read (see DumpInterval). A flow
// missing from one dump keeps its baseline until the next one (a dump
// interrupted by table changes may skip entries).
func (t *Tracker) Dump(at time.Time, flows []Flow, emit Emit) {
	t.begin()
	for i := range flows {
		t.flow(at, &flows[i], emit)
	}
	t.end(at)
}

func (t *Tracker) begin() { t.gen++ }

func (t *Tracker) flow(at time.Time, f *Flow, emit Emit) {
	k := flowKey(f)
	c := f.Counts
	e := t.base[k]
	if e == nil {
		t.Created++
		e = &entry{}
		if f.Start != 0 && f.Start < t.lastDump.UnixNano() {
			// Older than what this tracker has seen: its earlier
			// traffic is not ours to report.
			e.c = c
		}
		t.base[k] = e
	}
	t.observe(at, f, e.c, c, emit)
	e.c, e.seen = c, t.gen
	e.src, e.dst, e.replySrc = f.Orig.Src.Unmap(), f.Orig.Dst.Unmap(), f.Reply.Src.Unmap()
	e.done = f.Orig.Proto == 6 && (f.TCPState == tcpTimeWait || f.TCPState == tcpClose)
	if f.Timeout > 0 {
		e.expires = at.UnixNano() + int64(f.Timeout)*int64(time.Second)
	}
}

// Final takes the last counters of flows about to be deleted on purpose
// (the agent cuts flows a policy change denies): their growth is
// attributed like a dump's, and their leaving the table is not a loss.
func (t *Tracker) Final(at time.Time, flows []Flow, emit Emit) {
	for i := range flows {
		t.flow(at, &flows[i], emit)
		t.base[flowKey(&flows[i])].final = true
	}
}

// Destroyed takes a flow conntrack destroyed, with its final counters
// (a DESTROY event): like Final for one flow.
func (t *Tracker) Destroyed(at time.Time, f *Flow, emit Emit) {
	t.flow(at, f, emit)
	t.base[flowKey(f)].final = true
}

func (t *Tracker) end(at time.Time) {
	for k, e := range t.base {
		if e.seen+1 == t.gen && !e.final && !e.done && e.expires > at.Add(lostSlack).UnixNano() && t.Lost != nil {
			// Missing from this dump, long before its timeout.
			for _, a := range uniqueAddrs(e.src, e.dst, e.replySrc) {
				if eni := t.ENIOf(a); eni != "" {
					t.Lost(at, eni)
				}
			}
			e.final = true // said once
		}
		if e.seen+1 < t.gen {
			delete(t.base, k)
		}
	}
	t.lastDump = at
}

func uniqueAddrs(as ...netip.Addr) []netip.Addr {
	var out []netip.Addr
	for _, a := range as {
		if a.IsValid() && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// observe emits the growth from prev to cur of one flow for the covered
// ENIs at both ends: the initiator's out (original) and in (reply), the
// responder's in (original) and out (reply).
func (t *Tracker) observe(at time.Time, f *Flow, prev, cur Counts, emit Emit) {
	po, bo := sub(cur.OrigPackets, prev.OrigPackets), sub(cur.OrigBytes, prev.OrigBytes)
	pr, br := sub(cur.ReplyPackets, prev.ReplyPackets), sub(cur.ReplyBytes, prev.ReplyBytes)
	if po == 0 && pr == 0 {
		return
	}
	o, r := f.Orig, f.Reply
	os, od := o.Src.Unmap(), o.Dst.Unmap()
	rs, rd := r.Src.Unmap(), r.Dst.Unmap()
	proto := o.Proto
	osp, odp, rsp, rdp := o.SrcPort, o.DstPort, r.SrcPort, r.DstPort
	if proto == 1 || proto == 58 {
		osp, odp, rsp, rdp = 0, 0, 0, 0
	}
	if t.exempt(os, od, proto, osp, odp) || t.exempt(rs, rd, proto, rsp, rdp) {
		return
	}
	var first, last int64
	started := f.Start != 0 && f.Start >= t.lastDump.UnixNano()
	if started {
		first = f.Start / 1e9
	}
	fo, fr := tcpFlags(f, started, po, pr)
	obs := func(eni, dir string, src, dst netip.Addr, sp, dp uint16, p, b uint64, flags int) {
		if eni == "" || p == 0 {
			return
		}
		emit(at, flowlog.Observation{ENI: eni, Direction: dir, Src: src, Dst: dst, SrcPort: sp, DstPort: dp, Proto: proto,
			Action: flowlog.ActionAccept, Packets: p, Bytes: b, TCPFlags: flags, First: first, Last: last})
	}
	if a := t.ENIOf(os); a != "" {
		obs(a, flowlog.DirOut, os, od, osp, odp, po, bo, fo)
		obs(a, flowlog.DirIn, rs, rd, rsp, rdp, pr, br, fr)
	}
	if b := t.ENIOf(rs); b != "" {
		obs(b, flowlog.DirIn, os, od, osp, odp, po, bo, fo)
		obs(b, flowlog.DirOut, rs, rd, rsp, rdp, pr, br, fr)
	}
}

// tcpFlags derives the flags of the original and reply directions of a
// TCP flow in one interval from what conntrack keeps (it has no per-packet
// flags): SYN in the original direction of an interval in which the flow
// started, SYN+ACK in its reply direction, ACK on every other packet (all
// packets after the first SYN carry it), FIN in both directions once the
// state is a closing one, RST in both when the state is CLOSE.
func tcpFlags(f *Flow, started bool, po, pr uint64) (orig, reply int) {
	if f.Orig.Proto != 6 {
		return 0, 0
	}
	if started {
		orig |= flagSYN
		if po > 1 {
			orig |= flagACK
		}
		if pr > 0 {
			reply |= flagSYN | flagACK
		}
	} else {
		orig |= flagACK
		reply |= flagACK
	}
	switch f.TCPState {
	case tcpFinWait, tcpCloseWait, tcpLastAck, tcpTimeWait:
		orig |= flagFIN
		reply |= flagFIN
	case tcpClose:
		orig |= flagRST
		reply |= flagRST
	}
	if po == 0 {
		orig = 0
	}
	if pr == 0 {
		reply = 0
	}
	return orig, reply
}

func sub(a, b uint64) uint64 {
	if a < b {
		return a // counters restarted (a new entry under the same key)
	}
	return a - b
}

// Packet is one packet handed to NFLOG by a deny chain.
type Packet struct {
	Stage     string // policy.StageSG or policy.StageACL
	Direction string // flowlog.DirIn or flowlog.DirOut: the stage's direction
	Src, Dst  netip.Addr
	SrcPort   uint16
	DstPort   uint16
	Proto     uint8
	Length    uint64 // IP length (header included)
	TCPFlags  int
}

// Logged turns a dropped packet into observations: a drop of an egress
// stage is the sender's out REJECT; a drop of an ingress stage is the
// receiver's in REJECT and the sender's out with the sender's own
// decision (ACCEPT: its egress stages passed, see EgressAllowed).
func (t *Tracker) Logged(at time.Time, p Packet, emit Emit) {
	if t.exempt(p.Src, p.Dst, p.Proto, p.SrcPort, p.DstPort) {
		return
	}
	o := flowlog.Observation{Src: p.Src, Dst: p.Dst, SrcPort: p.SrcPort, DstPort: p.DstPort, Proto: p.Proto,
		Packets: 1, Bytes: p.Length, TCPFlags: p.TCPFlags, First: at.Unix(), Last: at.Unix()}
	sender, receiver := t.ENIOf(p.Src), t.ENIOf(p.Dst)
	if p.Direction == flowlog.DirOut {
		if sender != "" {
			o.ENI, o.Direction, o.Action = sender, flowlog.DirOut, flowlog.ActionReject
			emit(at, o)
		}
		return
	}
	if receiver != "" {
		o.ENI, o.Direction, o.Action = receiver, flowlog.DirIn, flowlog.ActionReject
		emit(at, o)
	}
	if sender != "" {
		o.ENI, o.Direction, o.Action = sender, flowlog.DirOut, flowlog.ActionAccept
		if p.Stage == policy.StageACL && t.EgressAllowed != nil && !t.EgressAllowed(sender, p) {
			o.Action = flowlog.ActionReject
		}
		emit(at, o)
	}
}

// Restore loads baselines of a checkpoint taken at ckpt: flows of the
// checkpoint continue from their counters then; flows that started after
// it have zero baselines. (A restart must not take longer than a
// conntrack timeout: see Capture's GapTolerance.)
func (t *Tracker) Restore(ckpt time.Time, base map[FlowKey]Counts) {
	for k, c := range base {
		t.base[k] = &entry{c: c, seen: t.gen}
	}
	t.lastDump = ckpt
}

// Len is the number of tracked flows.
func (t *Tracker) Len() int { return len(t.base) }
