package agent

import (
	"context"
	"path/filepath"
	"time"

	"github.com/palisade-project/palisade/internal/cfwlog"
	"github.com/palisade-project/palisade/internal/dataplane"
)

// The Cloud Firewall's traffic log on this host: a listener per VPC
// namespace whose firewalls (Internet, NAT, VPC) have logged rules (drop
// and log policies), all adding to one buffer that runFirewallLogs
// reports from every fwLogPeriod, fwLogReport records a call (a remote
// agent's one call to the server, so that a failed call leaves no stored
// part to send again). What the
// sink refuses (the server is down) is kept for the next report, within
// the buffer's bound; beyond it records are dropped and counted in the
// log (the policies' hits still count every connection).
const (
	fwLogPeriod   = 2 * time.Second
	fwLogReport   = 200
	fwLogBuffered = 20000
)

// loggedVPCs are the VPCs of vpcs with a firewall rule that logs.
func loggedVPCs(vpcs []dataplane.VPC) map[string]bool {
	out := map[string]bool{}
	logs := func(rs []dataplane.FirewallRule) bool {
		for _, r := range rs {
			if r.Log {
				return true
			}
		}
		return false
	}
	for _, v := range vpcs {
		if v.Firewall != nil && (logs(v.Firewall.In) || logs(v.Firewall.Out)) {
			out[v.ID] = true
		}
		for _, g := range v.NATGateways {
			if logs(g.Firewall) {
				out[v.ID] = true
			}
		}
		for _, p := range v.Peerings {
			if p.Firewall != nil && logs(p.Firewall.Rules) {
				out[v.ID] = true
			}
		}
	}
	return out
}

// syncFirewallLogs listens in the namespace of every VPC that logs (and
// whose namespace is in place, fwOK), again in one made anew, and stops
// listening in the others. Only the reconciling goroutine calls it.
func (a *Agent) syncFirewallLogs(vpcs []dataplane.VPC, fwOK map[string]bool) {
	if a.cfg.FirewallLogs == nil {
		return
	}
	want := loggedVPCs(vpcs)
	for vpc, l := range a.fwLogListeners {
		if !want[vpc] || l.Stale() {
			l.Close()
			delete(a.fwLogListeners, vpc)
		}
	}
	for vpc := range want {
		if a.fwLogListeners[vpc] != nil || !fwOK[vpc] {
			continue
		}
		l, err := cfwlog.Listen(vpc, filepath.Join("/run/netns", vpc), a.fwLogBuf, a.log)
		if err != nil {
			a.log.Warn("cloud firewall traffic log: listen", "vpc", vpc, "err", err)
			continue
		}
		a.fwLogListeners[vpc] = l
	}
}

// stopFirewallLogs stops listening (the agent stops); what the buffer
// holds is reported by runFirewallLogs's last round.
func (a *Agent) stopFirewallLogs() {
	for vpc, l := range a.fwLogListeners {
		l.Close()
		delete(a.fwLogListeners, vpc)
	}
}

// runFirewallLogs reports the buffer's records every fwLogPeriod until
// ctx ends, and once more then.
func (a *Agent) runFirewallLogs(ctx context.Context) {
	if a.cfg.FirewallLogs == nil {
		return
	}
	ticker := time.NewTicker(fwLogPeriod)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			// The last records, with a little time of their own.
			final, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			a.reportFirewallLogs(final)
			cancel()
			return
		case <-ticker.C:
			a.reportFirewallLogs(ctx)
		}
	}
}

func (a *Agent) reportFirewallLogs(ctx context.Context) {
	recs, dropped := a.fwLogBuf.Take()
	if dropped > 0 {
		a.log.Warn("cloud firewall traffic log: records dropped, the buffer was full", "dropped", dropped)
	}
	for len(recs) > 0 {
		n := min(len(recs), fwLogReport)
		if err := a.cfg.FirewallLogs.ReportFirewallLogs(ctx, recs[:n]); err != nil {
			a.log.Warn("cloud firewall traffic log: report; kept for the next", "records", len(recs), "err", err)
			a.fwLogBuf.Add(recs...)
			return
		}
		recs = recs[n:]
	}
}
