package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"time"

	"github.com/palisade-project/palisade/internal/dataplane"
	"github.com/palisade-project/palisade/internal/ddos"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/store"
)

// DDoSCounters is implemented by a Topology that counts the inbound
// traffic of EIPs (linux.Applier).
type DDoSCounters interface {
	DDoSCounters(vpcID string) (map[netip.Addr]dataplane.DDoSCounter, error)
}

// ddosView is what the sampler needs from the last desired state.
type ddosView struct {
	vpcs       map[string][]netip.Addr // VPC -> its EIP addresses on this host
	thresholds map[netip.Addr]ddos.Threshold
}

// ddosSamplePeriod is how often the EIPs' counters are read: Alibaba's
// detection works on rates per second.
const ddosSamplePeriod = time.Second

// buildDDoS gives every VPC with EIPs its Anti-DDoS protection: all of
// them counted, and each blackholed or scrubbed as the detector says.
// The first call takes over the events a previous agent left open.
func (a *Agent) buildDDoS(tx store.ReadTxn, d *Desired) error {
	if a.cfg.DDoS == nil {
		return nil
	}
	cfg := model.DefaultDDoSConfig()
	if raw, ok, err := tx.Get(model.KeyDDoSConfig); err != nil {
		return fmt.Errorf("read %s: %w", model.KeyDDoSConfig, err)
	} else if ok {
		if err := json.Unmarshal(raw, &cfg); err != nil {
			return fmt.Errorf("decode %s: %w", model.KeyDDoSConfig, err)
		}
	}
	manual := map[string]model.DDoSThreshold{}
	if err := listAll(tx, model.PrefixDDoSThreshold, func(t model.DDoSThreshold) {
		manual[model.DDoSThresholdKey(t.AccountID, t.IP)] = t
	}); err != nil {
		return err
	}
	view := ddosView{vpcs: map[string][]netip.Addr{}, thresholds: map[netip.Addr]ddos.Threshold{}}
	for _, e := range d.EIPs {
		if e.VpcID == "" || !e.Address.Is4() {
			continue
		}
		view.vpcs[e.VpcID] = append(view.vpcs[e.VpcID], e.Address)
		bps, pps := model.EIPDDoSThreshold(e)
		if t, ok := manual[model.DDoSThresholdKey(e.AccountID, e.Address)]; ok {
			bps, pps = t.Bps, t.Pps
		}
		view.thresholds[e.Address] = ddos.ThresholdOf(bps, pps)
	}

	a.ddosMu.Lock()
	defer a.ddosMu.Unlock()
	now := time.Now()
	if a.detector == nil {
		a.detector = ddos.New(ddos.ConfigOf(cfg))
		var open []model.DDoSEvent
		if err := listAll(tx, model.PrefixDDoSEvent, func(e model.DDoSEvent) {
			if _, local := view.thresholds[e.IP]; local && e.Open(now) {
				open = append(open, e)
			}
		}); err != nil {
			return err
		}
		a.detector.Resume(open, now)
	} else {
		a.detector.SetConfig(ddos.ConfigOf(cfg))
	}
	a.ddosView = view
	a.ddosApplied = map[netip.Addr]ddos.Mode{}
	for i := range d.Host.VPCs {
		v := &d.Host.VPCs[i]
		ips := view.vpcs[v.ID]
		if len(ips) == 0 {
			continue
		}
		p := &dataplane.DDoS{Counted: ips}
		for _, ip := range ips {
			a.ddosApplied[ip] = a.detector.Mode(ip, now)
			switch a.ddosApplied[ip] {
			case ddos.Blackhole:
				p.Blackholed = append(p.Blackholed, ip)
			case ddos.Scrub:
				t := view.thresholds[ip]
				p.Scrubbed = append(p.Scrubbed, dataplane.DDoSScrub{IP: ip, Pps: t.Pps, Bps: t.Bps})
			}
		}
		v.DDoS = p
	}
	a.cfg.Metrics.setDDoS(a.ddosApplied)
	return nil
}

// runSamplers reads the kernel's counters until ctx ends: every
// ddosSamplePeriod the EIPs' (Anti-DDoS: it reports the events the
// detector opens, changes and closes, and asks for a reconciliation
// whenever an IP's mitigation changes), every fwHitsPeriod the Internet
// firewall's rules' (fwhits.go).
func (a *Agent) runSamplers(ctx context.Context) {
	ddosCounters, ddosOK := a.cfg.Topology.(DDoSCounters)
	ddosOK = ddosOK && a.cfg.DDoS != nil
	fwCounters, fwOK := a.cfg.Topology.(FirewallCounters)
	fwOK = fwOK && a.cfg.FirewallHits != nil
	if !ddosOK && !fwOK {
		return
	}
	if fwOK {
		// The baseline: what the tables in place (an earlier agent's,
		// already reported) have counted so far.
		a.sampleFirewallHits(ctx, fwCounters)
	}
	ticker := time.NewTicker(ddosSamplePeriod)
	defer ticker.Stop()
	for tick := 1; ; tick++ {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		if ddosOK {
			a.sampleDDoS(ctx, ddosCounters)
		}
		if fwOK && tick%int(fwHitsPeriod/ddosSamplePeriod) == 0 {
			a.sampleFirewallHits(ctx, fwCounters)
		}
	}
}

func (a *Agent) sampleDDoS(ctx context.Context, counters DDoSCounters) {
	a.ddosMu.Lock()
	view, det := a.ddosView, a.detector
	a.ddosMu.Unlock()
	if det == nil {
		return
	}
	counts := map[netip.Addr]ddos.Counter{}
	for vpcID, ips := range view.vpcs {
		got, err := counters.DDoSCounters(vpcID)
		if err != nil {
			a.log.Warn("anti-DDoS counters", "vpc", vpcID, "err", err)
			// Keep following them: a missing sample is not a quiet one.
			for _, ip := range ips {
				counts[ip] = ddos.Counter{}
			}
			continue
		}
		for _, ip := range ips {
			if c, ok := got[ip]; ok {
				counts[ip] = ddos.Counter{Packets: c.Packets, Bytes: c.Bytes, SYNs: c.SYNs}
			}
		}
	}
	now := time.Now()
	a.ddosMu.Lock()
	events := det.Observe(now, counts, view.thresholds)
	changed := false
	for ip := range counts {
		// Against what the kernel has: a blackhole whose time ran out
		// changes nothing in the detector's answer at this instant.
		changed = changed || det.Mode(ip, now) != a.ddosApplied[ip]
	}
	a.ddosMu.Unlock()
	if len(events) > 0 {
		for _, e := range events {
			a.log.Info("anti-DDoS", "ip", e.IP, "type", e.Type, "start", e.Start, "ended", !e.End.IsZero(), "peak_pps", e.PeakPps, "peak_bps", e.PeakBps)
		}
		if err := a.cfg.DDoS.ReportDDoSEvents(ctx, events); err != nil {
			a.log.Warn("report anti-DDoS events", "err", err)
		} else {
			a.cfg.Metrics.ddosEventsAdd(len(events))
		}
	}
	if changed {
		a.kickReconcile()
	}
}

// kickReconcile asks Run for a reconciliation (without waiting).
func (a *Agent) kickReconcile() {
	select {
	case a.kick <- struct{}{}:
	default:
	}
}
