package app

import (
	"context"

	"github.com/palisade-project/palisade/internal/model"
)

// ReportLBHealth stores the health of the backends of the load balancers
// the local agent serves (service.ReportLBHealth): the in-process
// counterpart of remote.Mirror.ReportLBHealth. The local agent serves the
// server's own zones, all of them: no zone restriction, as for its
// Anti-DDoS events.
func (r *DDoSReporter) ReportLBHealth(ctx context.Context, h []model.LBHealth) error {
	return r.svc.ReportLBHealth(ctx, r.adminID, "", h)
}
