// Package ddos decides Anti-DDoS Basic's mitigation of public IPs from
// their measured inbound traffic: when an IP's traffic crosses its
// scrubbing threshold it is scrubbed until the traffic has stayed under
// the threshold for a quiet period; when it crosses the blackhole
// threshold everything to it is dropped until the blackhole's time has
// passed since the attack was last seen. It is pure: counters in,
// events out; the agent measures, reports and programs the kernel.
package ddos

import (
	"net/netip"
	"slices"
	"time"

	"github.com/palisade-project/palisade/internal/model"
)

// Mode is the mitigation an IP is under.
type Mode int

const (
	Normal    Mode = iota
	Scrub          // an open defense event: scrubbing rules apply
	Blackhole      // an open blackhole event: everything is dropped
)

func (m Mode) String() string {
	switch m {
	case Scrub:
		return model.DDoSDefense
	case Blackhole:
		return model.DDoSBlackhole
	}
	return model.DDoSNormal
}

// Threshold is an IP's scrubbing threshold.
type Threshold struct {
	Bps int64 // bits/s
	Pps int64 // packets/s
}

// ThresholdOf converts a threshold in Alibaba's units (Mbit/s, packets/s).
func ThresholdOf(mbps, pps int) Threshold {
	return Threshold{Bps: int64(mbps) * 1_000_000, Pps: int64(pps)}
}

// Config is the operator's part (model.DDoSConfig in working units).
type Config struct {
	BlackholeBps int64
	BlackholeFor time.Duration
	Quiet        time.Duration
}

// ConfigOf converts the stored configuration.
func ConfigOf(c model.DDoSConfig) Config {
	return Config{
		BlackholeBps: int64(c.BlackholeMbps) * 1_000_000,
		BlackholeFor: c.Blackhole(),
		Quiet:        c.Quiet(),
	}
}

// Counter is an IP's cumulative inbound packets and bytes, and the TCP
// SYNs among the packets, as counted before any mitigation (so an attack
// stays visible while it is dropped).
type Counter struct {
	Packets, Bytes, SYNs uint64
}

// The SYN flood pattern: at least SYNFloodMinPps SYNs per second that
// make at least SYNFloodShare of the IP's packets. Connections that carry
// anything send several packets for their one SYN; a flood of
// handshakes that never go on is nearly all SYNs. It starts scrubbing
// even under the threshold, as Alibaba's detection does on a flood
// pattern.
const (
	SYNFloodMinPps = 1000
	SYNFloodShare  = 0.7
)

// Detector follows a set of IPs. It is not safe for concurrent use.
type Detector struct {
	cfg Config
	ips map[netip.Addr]*ipState
}

type ipState struct {
	last      Counter
	lastAt    time.Time
	defense   *model.DDoSEvent // open scrubbing, or nil
	blackhole *model.DDoSEvent // open blackhole, or nil
}

// New returns a detector with cfg.
func New(cfg Config) *Detector {
	return &Detector{cfg: cfg, ips: map[netip.Addr]*ipState{}}
}

// SetConfig changes the configuration for what follows (open blackholes
// keep their end until the attack is seen again).
func (d *Detector) SetConfig(cfg Config) { d.cfg = cfg }

// Resume takes over the events a previous agent left open (from the
// store), so that a restart neither lifts a blackhole nor opens a second
// event for the same attack. Events that are over at now are ignored.
func (d *Detector) Resume(events []model.DDoSEvent, now time.Time) {
	for _, e := range events {
		if !e.Open(now) {
			continue
		}
		st := d.state(e.IP)
		e := e
		switch e.Type {
		case model.DDoSBlackhole:
			if st.blackhole == nil || e.Start.After(st.blackhole.Start) {
				st.blackhole = &e
			}
		case model.DDoSDefense:
			if st.defense == nil || e.Start.After(st.defense.Start) {
				st.defense = &e
			}
		}
	}
}

func (d *Detector) state(ip netip.Addr) *ipState {
	st := d.ips[ip]
	if st == nil {
		st = &ipState{}
		d.ips[ip] = st
	}
	return st
}

// Mode is ip's mitigation at now.
func (d *Detector) Mode(ip netip.Addr, now time.Time) Mode {
	st := d.ips[ip]
	switch {
	case st == nil:
		return Normal
	case st.blackhole != nil && st.blackhole.Open(now):
		return Blackhole
	case st.defense != nil:
		return Scrub
	}
	return Normal
}

// Observe takes the counters of every followed IP at now and returns the
// events that started, changed or ended (each whole, to be stored again).
// An IP missing from counts is no longer on this host: its open events
// end. The first sample of an IP, and one whose counters went backwards
// (its kernel rules were replaced), only sets the baseline.
func (d *Detector) Observe(now time.Time, counts map[netip.Addr]Counter, thresholds map[netip.Addr]Threshold) []model.DDoSEvent {
	var out []model.DDoSEvent
	emit := func(e *model.DDoSEvent) { out = append(out, *e) }
	for _, ip := range sortedIPs(d.ips) {
		if _, ok := counts[ip]; ok {
			continue
		}
		st := d.ips[ip]
		for _, e := range []*model.DDoSEvent{st.defense, st.blackhole} {
			if e != nil && e.End.IsZero() {
				e.End = now
				emit(e)
			}
		}
		delete(d.ips, ip)
	}
	for _, ip := range sortedIPs(counts) {
		c := counts[ip]
		st := d.state(ip)
		prev, prevAt := st.last, st.lastAt
		st.last, st.lastAt = c, now
		dt := now.Sub(prevAt).Seconds()
		if prevAt.IsZero() || dt <= 0 || c.Packets < prev.Packets || c.Bytes < prev.Bytes || c.SYNs < prev.SYNs {
			d.expire(st, now, emit)
			continue
		}
		pps := int64(float64(c.Packets-prev.Packets) / dt)
		bps := int64(float64(c.Bytes-prev.Bytes) * 8 / dt)
		syns := int64(float64(c.SYNs-prev.SYNs) / dt)
		thr := thresholds[ip]
		attack := (thr.Pps > 0 && pps > thr.Pps) || (thr.Bps > 0 && bps > thr.Bps) ||
			(syns >= SYNFloodMinPps && float64(syns) >= SYNFloodShare*float64(pps))
		flood := d.cfg.BlackholeBps > 0 && bps > d.cfg.BlackholeBps

		if bh := st.blackhole; bh != nil {
			if attack || flood {
				// The blackhole lasts its time from the attack's last second.
				bh.LastAttack, bh.UnBlackholeAt = now, now.Add(d.cfg.BlackholeFor)
				bh.PeakPps, bh.PeakBps = max(bh.PeakPps, pps), max(bh.PeakBps, bps)
				emit(bh)
				continue
			}
			d.expire(st, now, emit)
			continue
		}
		if flood {
			bh := &model.DDoSEvent{IP: ip, Type: model.DDoSBlackhole, Start: now, LastAttack: now,
				UnBlackholeAt: now.Add(d.cfg.BlackholeFor), PeakPps: pps, PeakBps: bps}
			st.blackhole = bh
			emit(bh)
			// A blackhole supersedes scrubbing: nothing reaches the IP.
			if df := st.defense; df != nil {
				df.End = now
				emit(df)
				st.defense = nil
			}
			continue
		}
		switch df := st.defense; {
		case attack && df == nil:
			st.defense = &model.DDoSEvent{IP: ip, Type: model.DDoSDefense, Start: now, LastAttack: now, PeakPps: pps, PeakBps: bps}
			emit(st.defense)
		case attack:
			df.LastAttack = now
			if pps > df.PeakPps || bps > df.PeakBps {
				df.PeakPps, df.PeakBps = max(df.PeakPps, pps), max(df.PeakBps, bps)
				emit(df)
			}
		case df != nil && now.Sub(df.LastAttack) >= d.cfg.Quiet:
			df.End = now
			emit(df)
			st.defense = nil
		}
	}
	return out
}

// expire ends st's blackhole if its time has passed, and reports whether
// it did.
func (d *Detector) expire(st *ipState, now time.Time, emit func(*model.DDoSEvent)) bool {
	bh := st.blackhole
	if bh == nil || now.Before(bh.UnBlackholeAt) {
		return false
	}
	if bh.End.IsZero() {
		bh.End = bh.UnBlackholeAt
		emit(bh)
	}
	st.blackhole = nil
	return true
}

// NextExpiry is the earliest end of an open blackhole (zero: none), so
// the agent can lift it on time without waiting for traffic.
func (d *Detector) NextExpiry() time.Time {
	var next time.Time
	for _, st := range d.ips {
		if bh := st.blackhole; bh != nil && (next.IsZero() || bh.UnBlackholeAt.Before(next)) {
			next = bh.UnBlackholeAt
		}
	}
	return next
}

func sortedIPs[V any](m map[netip.Addr]V) []netip.Addr {
	ips := make([]netip.Addr, 0, len(m))
	for ip := range m {
		ips = append(ips, ip)
	}
	slices.SortFunc(ips, netip.Addr.Compare)
	return ips
}
