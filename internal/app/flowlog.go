package app

import (
	"context"
	"path/filepath"
	"time"

	"github.com/palisade-project/palisade/internal/flowlog"
	"github.com/palisade-project/palisade/internal/flowlog/sink"
	"github.com/palisade-project/palisade/internal/service"
)

// DefaultFlowLogRetention is how long flow-log records stay in the
// embedded store by default.
const DefaultFlowLogRetention = 7 * 24 * time.Hour

// openFlowRecords opens the embedded flow-log record store that matches
// the backend: <data-dir>/flowlogs.db for bolt, memory for memory.
func openFlowRecords(backend, dataDir string, retention time.Duration) (sink.RecordStore, error) {
	ret := sink.Retention{Keep: retention}
	if backend == BackendMemory {
		return sink.NewMemory(ret), nil
	}
	return sink.OpenBolt(filepath.Join(dataDir, sink.DBFile), ret)
}

// FlowRecordReporter hands the flow-log records of the local agent
// (palisade up) to the service as the admin: the in-process counterpart
// of remote.Mirror.ReportFlowRecords.
type FlowRecordReporter struct {
	svc     *service.Service
	adminID string
}

// FlowRecordReporter returns the reporter for the local agent.
func (a *App) FlowRecordReporter() *FlowRecordReporter {
	return &FlowRecordReporter{svc: a.svc, adminID: a.admin.ID}
}

// ReportFlowRecords stores a batch (service.IngestFlowRecords).
func (r *FlowRecordReporter) ReportFlowRecords(ctx context.Context, b flowlog.Batch) error {
	return r.svc.IngestFlowRecords(ctx, r.adminID, "", b)
}
