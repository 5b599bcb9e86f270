// Package capture captures flow-log traffic in the kernel path of one VPC
// namespace: accepted packets from the counting table's sets (see
// sets.go: the kernel counts every packet that passed in an element per
// packet header, read by netlink dumps at every window boundary and at
// least every DumpInterval), rejected packets from NFLOG on the drop
// verdicts of the security-group and network-ACL stages (see
// policy.DenyChain). It feeds a flowlog.Aggregator and reports the records
// of closed windows to a sink.
//
// The pure part (Tracker: set elements and logged packets to
// observations) is separate from the kernel I/O (Capture) so that it can
// be tested without a kernel.
package capture

import (
	"net/netip"
	"time"

	"github.com/palisade-project/palisade/internal/flowlog"
	"github.com/palisade-project/palisade/internal/policy"
)

// ElemKey identifies an element of a counting set: the header of the
// packets it counts.
type ElemKey struct {
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
	Proto            uint8
	TCPFlags         uint8
}

// Counts are an element's counters.
type Counts struct {
	Packets, Bytes uint64
}

func elemKey(e *Elem) ElemKey {
	return ElemKey{Src: e.Src, Dst: e.Dst, SrcPort: e.SrcPort, DstPort: e.DstPort, Proto: e.Proto, TCPFlags: e.TCPFlags}
}

// Tracker holds the baselines of the counting sets' elements in one VPC
// namespace (the counters already attributed to windows) and turns dumps
// and logged packets into observations for an aggregator.
type Tracker struct {
	// ENIOf returns the ID of the VPC's ENI holding an address, or "".
	ENIOf func(netip.Addr) string
	// EgressAllowed, when set, says whether the sender's egress security
	// groups allow a packet that the receiver's ingress network ACL
	// dropped (that stage runs before the sender's groups); without it
	// such a packet counts as accepted on the sender's side.
	EgressAllowed func(eniID string, p Packet) bool
	// Lost, when set, hears of an element that left its set long before
	// its timeout (the set or the table was deleted by hand): its packets
	// since the last dump are unknown, so the ENIs at its ends must say
	// SKIPDATA.
	Lost func(at time.Time, eniID string)
	base map[ElemKey]*entry
	// exemptNets are the DNS and metadata addresses (never logged).
	exemptNets []netip.Prefix
	// adopt: the next dump's counters are baselines (elements counted
	// before this tracker, by a capture whose baselines are unknown).
	adopt bool
	gen   uint64
}

type entry struct {
	c Counts
	// seen is the dump generation that last saw the element; expires is
	// when it leaves its set without another packet (Unix nanoseconds).
	seen    uint64
	expires int64
}

// lostSlack absorbs the rounding of timeouts and the time a dump takes.
const lostSlack = 2 * time.Second

// NewTracker returns a tracker; with adopt, the first dump's counters are
// baselines (a table that counted before the tracker, of unknown
// baselines), otherwise every count is new.
func NewTracker(adopt bool) *Tracker {
	return &Tracker{ENIOf: func(netip.Addr) string { return "" }, base: map[ElemKey]*entry{}, adopt: adopt,
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

// Dump attributes the counter growth of every element since its baseline
// to the window containing at (at a window boundary, at is just before
// it). Elements gone from their set are forgotten: an element outlives its
// last packet by CountTimeout, far longer than the interval between two
// dumps, so its final counters were read.
func (t *Tracker) Dump(at time.Time, elems []Elem, emit Emit) {
	t.begin()
	for i := range elems {
		t.elem(at, &elems[i], emit)
	}
	t.end(at)
}

func (t *Tracker) begin() { t.gen++ }

func (t *Tracker) elem(at time.Time, el *Elem, emit Emit) {
	k := elemKey(el)
	c := Counts{Packets: el.Packets, Bytes: el.Bytes}
	e := t.base[k]
	switch {
	case e == nil:
		e = &entry{}
		if t.adopt {
			e.c = c
		}
		t.base[k] = e
	case c.Packets < e.c.Packets:
		// A new element under the same key: the old one left.
		e.c = Counts{}
	case e.expires != 0 && e.expires < at.UnixNano():
		// The element seen last could have left before this dump: if
		// its latest packet came after that, this is a new element
		// (an old one refreshed by a packet in the short time between
		// the last dump and its expiry, and again later, is counted
		// as new: it was idle for almost CountTimeout).
		if last := at.Add(el.Expires - CountTimeout); last.UnixNano() > e.expires {
			e.c = Counts{}
		}
	}
	t.observe(at, k, e.c, c, emit)
	e.c, e.seen = c, t.gen
	e.expires = at.Add(el.Expires).UnixNano()
}

func (t *Tracker) end(at time.Time) {
	t.adopt = false
	for k, e := range t.base {
		if e.seen+1 == t.gen && e.expires > at.Add(lostSlack).UnixNano() && t.Lost != nil {
			// Missing from this dump, long before its timeout.
			for _, a := range []netip.Addr{k.Src, k.Dst} {
				if eni := t.ENIOf(a.Unmap()); eni != "" {
					t.Lost(at, eni)
				}
			}
			e.expires = 0 // said once
		}
		if e.seen+1 < t.gen {
			// Kept for one dump: a dump of a set that grows while it is
			// read may skip elements.
			delete(t.base, k)
		}
	}
}

// observe emits the growth from prev to cur of one element for the
// covered ENIs at its ends: the sender's out and the receiver's in.
func (t *Tracker) observe(at time.Time, k ElemKey, prev, cur Counts, emit Emit) {
	p, b := sub(cur.Packets, prev.Packets), sub(cur.Bytes, prev.Bytes)
	if p == 0 {
		return
	}
	src, dst := k.Src.Unmap(), k.Dst.Unmap()
	if t.exempt(src, dst, k.Proto, k.SrcPort, k.DstPort) {
		return
	}
	o := flowlog.Observation{Src: src, Dst: dst, SrcPort: k.SrcPort, DstPort: k.DstPort, Proto: k.Proto,
		Action: flowlog.ActionAccept, Packets: p, Bytes: b, TCPFlags: int(k.TCPFlags & tcpFlagMask)}
	if eni := t.ENIOf(src); eni != "" {
		o.ENI, o.Direction = eni, flowlog.DirOut
		emit(at, o)
	}
	if eni := t.ENIOf(dst); eni != "" {
		o.ENI, o.Direction = eni, flowlog.DirIn
		emit(at, o)
	}
}

// tcpFlagMask keeps the flags a record reports (FIN SYN RST PSH ACK URG),
// without ECE and CWR.
const tcpFlagMask = 0x3f

func sub(a, b uint64) uint64 {
	if a < b {
		return a
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

// Restore loads baselines of a checkpoint: elements of the checkpoint
// continue from their counters then; elements made after it have zero
// baselines. (A restart must not take longer than CountTimeout: see
// Capture's GapTolerance.)
func (t *Tracker) Restore(base map[ElemKey]Counts) {
	for k, c := range base {
		t.base[k] = &entry{c: c, seen: t.gen}
	}
	t.adopt = false
}

// Len is the number of tracked elements.
func (t *Tracker) Len() int { return len(t.base) }
