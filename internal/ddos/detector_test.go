package ddos

import (
	"net/netip"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/model"
)

var (
	ipA = netip.MustParseAddr("198.51.100.10")
	ipB = netip.MustParseAddr("198.51.100.11")
	t0  = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
)

// feeder drives a detector with one sample per second at the given rates.
type feeder struct {
	t   *testing.T
	d   *Detector
	now time.Time
	c   map[netip.Addr]Counter
	thr map[netip.Addr]Threshold
}

func newFeeder(t *testing.T, cfg Config) *feeder {
	f := &feeder{t: t, d: New(cfg), now: t0, c: map[netip.Addr]Counter{},
		thr: map[netip.Addr]Threshold{ipA: {Bps: 10_000_000, Pps: 1000}, ipB: {Bps: 10_000_000, Pps: 1000}}}
	f.tick(map[netip.Addr][2]uint64{ipA: {}, ipB: {}}) // baseline
	return f
}

// tick advances one second in which each IP received pps packets of
// size bytes each.
func (f *feeder) tick(rates map[netip.Addr][2]uint64) []model.DDoSEvent {
	f.now = f.now.Add(time.Second)
	for ip, r := range rates {
		c := f.c[ip]
		c.Packets += r[0]
		c.Bytes += r[0] * r[1]
		f.c[ip] = c
	}
	return f.d.Observe(f.now, f.c, f.thr)
}

func rate(pps, size uint64) map[netip.Addr][2]uint64 {
	return map[netip.Addr][2]uint64{ipA: {pps, size}, ipB: {10, 100}}
}

func TestScrubbingStartsAndEndsAfterQuiet(t *testing.T) {
	f := newFeeder(t, Config{BlackholeBps: 1_000_000_000, BlackholeFor: time.Hour, Quiet: 3 * time.Second})
	if ev := f.tick(rate(500, 100)); len(ev) != 0 {
		t.Fatalf("under threshold: events %+v", ev)
	}
	ev := f.tick(rate(5000, 100))
	if len(ev) != 1 || ev[0].Type != model.DDoSDefense || ev[0].IP != ipA || !ev[0].End.IsZero() || ev[0].PeakPps != 5000 {
		t.Fatalf("over the packet threshold: events %+v, want one open defense of %v", ev, ipA)
	}
	if m := f.d.Mode(ipA, f.now); m != Scrub {
		t.Fatalf("mode %v, want scrub", m)
	}
	if m := f.d.Mode(ipB, f.now); m != Normal {
		t.Fatalf("the other IP: mode %v, want normal", m)
	}
	if ev := f.tick(rate(8000, 100)); len(ev) != 1 || ev[0].PeakPps != 8000 || !ev[0].Start.Equal(t0.Add(3*time.Second)) {
		t.Fatalf("a higher peak: events %+v, want the same event with peak 8000", ev)
	}
	// Quiet for 2 s: still scrubbing; the 3rd quiet second ends it.
	for i := range 2 {
		if ev := f.tick(rate(10, 100)); len(ev) != 0 {
			t.Fatalf("quiet second %d: events %+v", i+1, ev)
		}
	}
	ev = f.tick(rate(10, 100))
	if len(ev) != 1 || ev[0].End.IsZero() || f.d.Mode(ipA, f.now) != Normal {
		t.Fatalf("after the quiet period: events %+v, mode %v; want the defense ended", ev, f.d.Mode(ipA, f.now))
	}
	// The bit-rate threshold alone starts scrubbing too.
	if ev := f.tick(rate(900, 1500)); len(ev) != 1 || ev[0].Type != model.DDoSDefense || ev[0].PeakBps != 900*1500*8 {
		t.Fatalf("over the bit-rate threshold: %+v", ev)
	}
}

func TestBlackholeSupersedesAndLasts(t *testing.T) {
	f := newFeeder(t, Config{BlackholeBps: 50_000_000, BlackholeFor: 5 * time.Second, Quiet: time.Second})
	f.tick(rate(5000, 100)) // scrubbing
	ev := f.tick(rate(10_000, 1000))
	if len(ev) != 2 || ev[0].Type != model.DDoSBlackhole || ev[1].Type != model.DDoSDefense || ev[1].End.IsZero() {
		t.Fatalf("over the blackhole threshold: %+v, want a blackhole and the defense ended", ev)
	}
	start := f.now
	if got := ev[0].UnBlackholeAt; !got.Equal(start.Add(5 * time.Second)) {
		t.Fatalf("UnBlackholeAt %v, want %v", got, start.Add(5*time.Second))
	}
	// The attack goes on, under the blackhole threshold but over the
	// scrubbing one: the blackhole is pushed back.
	ev = f.tick(rate(5000, 100))
	if len(ev) != 1 || !ev[0].UnBlackholeAt.Equal(f.now.Add(5*time.Second)) || f.d.Mode(ipA, f.now) != Blackhole {
		t.Fatalf("attack continues: %+v", ev)
	}
	last := f.now
	for f.now.Before(last.Add(4 * time.Second)) {
		if ev := f.tick(rate(10, 100)); len(ev) != 0 {
			t.Fatalf("quiet during the blackhole at %v: %+v", f.now.Sub(last), ev)
		}
		if f.d.Mode(ipA, f.now) != Blackhole {
			t.Fatalf("lifted early at %v", f.now.Sub(last))
		}
	}
	if next := f.d.NextExpiry(); !next.Equal(last.Add(5 * time.Second)) {
		t.Fatalf("NextExpiry %v, want %v", next, last.Add(5*time.Second))
	}
	ev = f.tick(rate(10, 100))
	if len(ev) != 1 || ev[0].Type != model.DDoSBlackhole || !ev[0].End.Equal(last.Add(5*time.Second)) || f.d.Mode(ipA, f.now) != Normal {
		t.Fatalf("after its time: %+v mode %v, want the blackhole ended at %v", ev, f.d.Mode(ipA, f.now), last.Add(5*time.Second))
	}
}

func TestResumeAndReset(t *testing.T) {
	d := New(Config{BlackholeBps: 50_000_000, BlackholeFor: time.Minute, Quiet: time.Second})
	open := model.DDoSEvent{IP: ipA, Type: model.DDoSBlackhole, Start: t0, LastAttack: t0, UnBlackholeAt: t0.Add(time.Minute)}
	over := model.DDoSEvent{IP: ipB, Type: model.DDoSBlackhole, Start: t0.Add(-time.Hour), UnBlackholeAt: t0.Add(-time.Minute)}
	d.Resume([]model.DDoSEvent{open, over}, t0.Add(time.Second))
	if m := d.Mode(ipA, t0.Add(time.Second)); m != Blackhole {
		t.Fatalf("resumed blackhole: mode %v", m)
	}
	if m := d.Mode(ipB, t0.Add(time.Second)); m != Normal {
		t.Fatalf("an expired event is not resumed: mode %v", m)
	}
	// Counters that go backwards (rules replaced) only set a baseline.
	d.Observe(t0.Add(2*time.Second), map[netip.Addr]Counter{ipA: {Packets: 1e9, Bytes: 1e12}}, nil)
	if ev := d.Observe(t0.Add(3*time.Second), map[netip.Addr]Counter{ipA: {Packets: 5, Bytes: 500}}, nil); len(ev) != 0 {
		t.Fatalf("counter reset: %+v", ev)
	}
	// An IP that leaves the host ends its open events.
	ev := d.Observe(t0.Add(4*time.Second), map[netip.Addr]Counter{}, nil)
	if len(ev) != 1 || ev[0].IP != ipA || ev[0].End.IsZero() {
		t.Fatalf("IP gone: %+v", ev)
	}
}

// TestSYNFloodPattern: SYNs that make most of an IP's packets start
// scrubbing under the thresholds, and keep it going while they last; the
// same SYN rate inside real connections (several packets each) does not,
// nor do a few SYNs alone.
func TestSYNFloodPattern(t *testing.T) {
	d := New(Config{BlackholeBps: 1_000_000_000, BlackholeFor: time.Hour, Quiet: 2 * time.Second})
	thr := map[netip.Addr]Threshold{ipA: {Bps: 100_000_000, Pps: 100_000}}
	var c Counter
	now := t0
	tick := func(pkts, syns uint64) []model.DDoSEvent {
		now = now.Add(time.Second)
		c.Packets += pkts
		c.Bytes += pkts * 60
		c.SYNs += syns
		return d.Observe(now, map[netip.Addr]Counter{ipA: c}, thr)
	}
	tick(0, 0) // baseline
	if ev := tick(8000, 1500); len(ev) != 0 {
		t.Fatalf("1,500 SYNs/s among 8,000 packets/s (connections that carry data): %+v", ev)
	}
	if ev := tick(600, 590); len(ev) != 0 {
		t.Fatalf("590 SYNs/s, under the pattern's floor: %+v", ev)
	}
	ev := tick(3100, 3000)
	if len(ev) != 1 || ev[0].Type != model.DDoSDefense || d.Mode(ipA, now) != Scrub {
		t.Fatalf("3,000 SYNs/s of 3,100 packets/s, far under the 100,000 packets/s threshold: %+v, want scrubbing", ev)
	}
	for range 3 {
		if ev := tick(3100, 3000); len(ev) != 0 || d.Mode(ipA, now) != Scrub {
			t.Fatalf("the flood goes on: %+v mode %v", ev, d.Mode(ipA, now))
		}
	}
	tick(100, 5)
	if ev := tick(100, 5); len(ev) != 1 || ev[0].End.IsZero() {
		t.Fatalf("quiet for 2 s after the flood: %+v, want the scrubbing ended", ev)
	}
}
