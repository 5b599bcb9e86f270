package app

import (
	"context"

	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/service"
)

// DDoSReporter hands the Anti-DDoS events of the local agent (palisade
// up) to the service as the admin: the in-process counterpart of
// remote.Mirror.ReportDDoSEvents (agent.DDoSSink).
type DDoSReporter struct {
	svc     *service.Service
	adminID string
}

// DDoSReporter returns the reporter for the local agent.
func (a *App) DDoSReporter() *DDoSReporter {
	return &DDoSReporter{svc: a.svc, adminID: a.admin.ID}
}

// ReportDDoSEvents stores events (service.ReportDDoSEvents). The local
// agent serves the server's own zones: no zone restriction.
func (r *DDoSReporter) ReportDDoSEvents(ctx context.Context, events []model.DDoSEvent) error {
	return r.svc.ReportDDoSEvents(ctx, r.adminID, "", events)
}

// ReportFirewallHits adds the Internet-firewall hits the local agent
// counted (service.ReportFirewallHits; agent.FirewallHitSink).
func (r *DDoSReporter) ReportFirewallHits(ctx context.Context, hits []model.FirewallHits) error {
	return r.svc.ReportFirewallHits(ctx, r.adminID, hits)
}

// ReportFirewallLogs stores the traffic logs of the Cloud Firewall's drop
// and log policies the local agent recorded (service.IngestFirewallLogs;
// agent.FirewallLogSink).
func (r *DDoSReporter) ReportFirewallLogs(ctx context.Context, recs []model.FirewallTrafficLog) error {
	_, err := r.svc.IngestFirewallLogs(ctx, r.adminID, "", recs)
	return err
}
