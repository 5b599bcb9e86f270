package app_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/palisade-project/palisade/internal/app"
	"github.com/palisade-project/palisade/internal/flowlog"
	"github.com/palisade-project/palisade/internal/flowlog/sink"
)

// TestFlowRecordStoreFile: the bolt backend keeps flow-log records in
// <data-dir>/flowlogs.db (mode 0600), the memory backend in memory; the
// local agent's reporter reaches the service as the admin.
func TestFlowRecordStoreFile(t *testing.T) {
	for _, tc := range []struct {
		backend  string
		wantFile bool
	}{{app.BackendBolt, true}, {app.BackendMemory, false}} {
		t.Run(tc.backend, func(t *testing.T) {
			dir := t.TempDir()
			a, err := app.New(app.Options{Listen: "127.0.0.1:0", DataDir: dir, Backend: tc.backend, Logger: quiet})
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			fi, err := os.Stat(filepath.Join(dir, sink.DBFile))
			if tc.wantFile && (err != nil || fi.Mode().Perm() != 0o600) {
				t.Errorf("flowlogs.db: %v %v", fi, err)
			}
			if !tc.wantFile && err == nil {
				t.Error("memory backend wrote flowlogs.db")
			}
			// Records of unknown flow logs are dropped, not an error.
			if err := a.FlowRecordReporter().ReportFlowRecords(context.Background(), flowlog.Batch{
				Records: []flowlog.Record{{FlowLogID: "fl-gone", SrcAddr: "10.0.0.1", DstAddr: "10.0.0.2"}},
			}); err != nil {
				t.Errorf("report: %v", err)
			}
		})
	}
}
