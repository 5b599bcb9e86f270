package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"time"

	"github.com/palisade-project/palisade/internal/errs"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/service"
)

// RegisterAgentAPI registers the admin-only actions remote agents use to
// mirror the store and report what they applied (Palisade's own version):
// the agent actions, which agent keys may sign (Router.HandleAgent).
func RegisterAgentAPI(rt *Router, svc *service.Service) {
	rt.HandleAgent(VersionPalisade, "DescribeState", func(ctx context.Context, r *Request) (any, error) {
		rev, recs, err := svc.ExportState(ctx, r.Account.ID, r.AgentZone)
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
	rt.HandleAgent(VersionPalisade, "WaitState", func(ctx context.Context, r *Request) (any, error) {
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
	rt.HandleAgent(VersionPalisade, "RegisterZone", func(ctx context.Context, r *Request) (any, error) {
		zone, err := r.Params.Required("ZoneId")
		if err != nil {
			return nil, err
		}
		applied, err := r.Params.IntRange("AppliedRevision", 0, 0, 1<<62)
		if err != nil {
			return nil, err
		}
		underlay := service.UnderlayRequest{Addr: r.Params.Get("UnderlayAddress"), Port: r.Params.Get("UnderlayPort")}
		return empty{}, svc.RegisterZone(ctx, r.Account.ID, r.AgentZone, zone, r.Params.Get("Host"), int64(applied), underlay)
	})
	rt.HandleAgent(VersionPalisade, "ReportStatus", func(ctx context.Context, r *Request) (any, error) {
		statuses := func(list string) (map[string]string, error) {
			items, err := r.Params.StructsIn(list, IndexAgentReports)
			if err != nil {
				return nil, err
			}
			out := make(map[string]string, len(items))
			for _, it := range items {
				for f := range it.Fields {
					if f != "Id" && f != "Status" {
						return nil, errs.InvalidParameter(it.Param+"."+f, "unknown field: %s.N takes Id and Status", list)
					}
				}
				id, err := it.Fields.Required("Id")
				if err != nil {
					return nil, errs.MissingParameter(it.Param + ".Id")
				}
				st, err := it.Fields.Required("Status")
				if err != nil {
					return nil, errs.MissingParameter(it.Param + ".Status")
				}
				if prev, dup := out[id]; dup && prev != st {
					return nil, errs.InvalidParameter(it.Param+".Id", "%s is reported twice, as %s and %s", id, prev, st)
				}
				out[id] = st
			}
			return out, nil
		}
		inst, err := statuses("Instance")
		if err != nil {
			return nil, err
		}
		enis, err := statuses("NetworkInterface")
		if err != nil {
			return nil, err
		}
		eips, err := statuses("Eip")
		if err != nil {
			return nil, err
		}
		return empty{}, svc.ReportStatus(ctx, r.Account.ID, r.AgentZone, inst, enis, eips)
	})
	// PalisadeReportFlowRecords: the Batch parameter is a flowlog.Batch as
	// JSON (records of closed windows and missed counts per flow log).
	rt.HandleAgent(VersionPalisade, "PalisadeReportFlowRecords", func(ctx context.Context, r *Request) (any, error) {
		b, err := DecodeFlowBatch(r.Params.Get("Batch"))
		if err != nil {
			return nil, err
		}
		return empty{}, svc.IngestFlowRecords(ctx, r.Account.ID, r.AgentZone, b)
	})
	// PalisadeReportWafLogs: the Records parameter is a JSON array of WAF
	// decisions (model.WAFLog) of any accounts; the server takes each
	// record's account from its protected object and drops records of
	// unknown objects.
	rt.HandleAgent(VersionPalisade, "PalisadeReportWafLogs", func(ctx context.Context, r *Request) (any, error) {
		recs, err := DecodeWafLogs(r.Params.Get("Records"))
		if err != nil {
			return nil, err
		}
		n, err := svc.IngestWafLogs(ctx, r.Account.ID, r.AgentZone, recs)
		if err != nil {
			return nil, err
		}
		return map[string]int{"Accepted": n}, nil
	})
	// PalisadeReportDdosEvents: the Events parameter is a JSON array of
	// Anti-DDoS events (model.DDoSEvent) of the EIPs the agent serves; the
	// server sets each event's account and EIP from its address.
	rt.HandleAgent(VersionPalisade, "PalisadeReportDdosEvents", func(ctx context.Context, r *Request) (any, error) {
		events, err := DecodeDDoSEvents(r.Params.Get("Events"))
		if err != nil {
			return nil, err
		}
		return empty{}, svc.ReportDDoSEvents(ctx, r.Account.ID, r.AgentZone, events)
	})
	// PalisadeReportFirewallHits: the Hits parameter is a JSON array of
	// the Internet-firewall hits the agent counted (model.FirewallHits),
	// added to the policies' totals.
	rt.HandleAgent(VersionPalisade, "PalisadeReportFirewallHits", func(ctx context.Context, r *Request) (any, error) {
		hits, err := DecodeFirewallHits(r.Params.Get("Hits"))
		if err != nil {
			return nil, err
		}
		return empty{}, svc.ReportFirewallHits(ctx, r.Account.ID, hits)
	})
	// PalisadeReportFirewallLogs: the Records parameter is a JSON array of
	// the traffic logs of drop and log policies the agent recorded
	// (model.FirewallTrafficLog); the server takes each record's account,
	// firewall and action from its policy and drops records of unknown
	// policies.
	rt.HandleAgent(VersionPalisade, "PalisadeReportFirewallLogs", func(ctx context.Context, r *Request) (any, error) {
		recs, err := DecodeFirewallLogs(r.Params.Get("Records"))
		if err != nil {
			return nil, err
		}
		n, err := svc.IngestFirewallLogs(ctx, r.Account.ID, r.AgentZone, recs)
		if err != nil {
			return nil, err
		}
		return map[string]int{"Accepted": n}, nil
	})
	// PalisadeReportLoadBalancerHealth: the Health parameter is a JSON
	// array of model.LBHealth, the health of the backends of load
	// balancers of the agent's zone (an agent key: of its zone only).
	rt.HandleAgent(VersionPalisade, "PalisadeReportLoadBalancerHealth", func(ctx context.Context, r *Request) (any, error) {
		hs, err := DecodeLBHealth(r.Params.Get("Health"))
		if err != nil {
			return nil, err
		}
		return empty{}, svc.ReportLBHealth(ctx, r.Account.ID, r.AgentZone, hs)
	})
}

// DecodeWafLogs reads the Records parameter of PalisadeReportWafLogs: a JSON
// array of model.WAFLog, at most service.WAFLogsPerPut long; unknown fields
// and trailing data are refused.
func DecodeWafLogs(v string) ([]model.WAFLog, error) {
	return decodeReports[model.WAFLog]("Records", "WAF log records [{\"protection_id\":...}]", "records", service.WAFLogsPerPut, v)
}

// DecodeFirewallHits reads the Hits parameter of
// PalisadeReportFirewallHits: a JSON array of model.FirewallHits.
func DecodeFirewallHits(v string) ([]model.FirewallHits, error) {
	return decodeReports[model.FirewallHits]("Hits", "firewall hit counts [{\"policy_id\":...,\"hits\":...}]", "entries", service.FirewallHitsPerReport, v)
}

// DecodeFirewallLogs reads the Records parameter of
// PalisadeReportFirewallLogs: a JSON array of model.FirewallTrafficLog, at
// most service.FirewallLogsPerReport long.
func DecodeFirewallLogs(v string) ([]model.FirewallTrafficLog, error) {
	return decodeReports[model.FirewallTrafficLog]("Records", "firewall traffic logs [{\"policy_id\":...,\"src\":...,\"dst\":...}]", "records", service.FirewallLogsPerReport, v)
}

// decodeReports reads an agent report parameter: a JSON array of T, at
// most limit long; unknown fields and trailing data are refused.
func decodeReports[T any](param, what, unit string, limit int, v string) ([]T, error) {
	if strings.TrimSpace(v) == "" {
		return nil, errs.MissingParameter(param)
	}
	var out []T
	dec := json.NewDecoder(strings.NewReader(v))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&out); err != nil {
		return nil, errs.InvalidParameter(param, "expected a JSON array of %s: %v", what, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errs.InvalidParameter(param, "trailing data after the JSON array")
	}
	if len(out) > limit {
		return nil, errs.InvalidParameter(param, "at most %d %s per call, got %d", limit, unit, len(out))
	}
	return out, nil
}
