package api

import (
	"context"
	"time"

	"github.com/palisade-project/palisade/internal/service"
)

// RegisterAgentAPI registers the admin-only actions remote agents use to
// mirror the store and report what they applied (Palisade's own version).
func RegisterAgentAPI(rt *Router, svc *service.Service) {
	rt.Handle(VersionPalisade, "DescribeState", func(ctx context.Context, r *Request) (any, error) {
		rev, recs, err := svc.ExportState(ctx, r.Account.ID)
		if err != nil {
			return nil, err
		}
		if recs == nil {
			recs = []service.Record{}
		}
		return struct {
			Revision int64
			Records  []service.Record
		}{rev, recs}, nil
	})
	rt.Handle(VersionPalisade, "WaitState", func(ctx context.Context, r *Request) (any, error) {
		after, err := r.Params.IntRange("AfterRevision", 0, 0, 1<<62)
		if err != nil {
			return nil, err
		}
		wait, err := r.Params.IntRange("WaitSeconds", 25, 0, 60)
		if err != nil {
			return nil, err
		}
		rev, err := svc.WaitRevision(ctx, r.Account.ID, int64(after), time.Duration(wait)*time.Second)
		if err != nil {
			return nil, err
		}
		return struct{ Revision int64 }{rev}, nil
	})
	rt.Handle(VersionPalisade, "RegisterZone", func(ctx context.Context, r *Request) (any, error) {
		zone, err := r.Params.Required("ZoneId")
		if err != nil {
			return nil, err
		}
		applied, err := r.Params.IntRange("AppliedRevision", 0, 0, 1<<62)
		if err != nil {
			return nil, err
		}
		return empty{}, svc.RegisterZone(ctx, r.Account.ID, zone, r.Params.Get("Host"), int64(applied))
	})
	rt.Handle(VersionPalisade, "ReportStatus", func(ctx context.Context, r *Request) (any, error) {
		inst, enis := map[string]string{}, map[string]string{}
		for _, s := range r.Params.Structs("Instance") {
			if id, st := s.Get("Id"), s.Get("Status"); id != "" && st != "" {
				inst[id] = st
			}
		}
		for _, s := range r.Params.Structs("NetworkInterface") {
			if id, st := s.Get("Id"), s.Get("Status"); id != "" && st != "" {
				enis[id] = st
			}
		}
		eips := map[string]string{}
		for _, s := range r.Params.Structs("Eip") {
			if id, st := s.Get("Id"), s.Get("Status"); id != "" && st != "" {
				eips[id] = st
			}
		}
		return empty{}, svc.ReportStatus(ctx, r.Account.ID, inst, enis, eips)
	})
	// PalisadeReportFlowRecords: the Batch parameter is a flowlog.Batch as
	// JSON (records of closed windows and missed counts per flow log).
	rt.Handle(VersionPalisade, "PalisadeReportFlowRecords", func(ctx context.Context, r *Request) (any, error) {
		b, err := DecodeFlowBatch(r.Params.Get("Batch"))
		if err != nil {
			return nil, err
		}
		return empty{}, svc.IngestFlowRecords(ctx, r.Account.ID, b)
	})
}
