package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/palisade-project/palisade/internal/errs"
	"github.com/palisade-project/palisade/internal/flowlog"
	"github.com/palisade-project/palisade/internal/service"
)

// Flow-log actions: the six of VPC 2016-04-28, with Palisade's sink
// parameters (FileSink, FileFormat, IpfixCollector) as extensions, and the
// record queries DescribeFlowLogRecords and DescribeFlowLogTopTalkers under
// VersionPalisade (their action filter is RecordAction: Action names the
// API action). Response names are those of
// github.com/aliyun/alibaba-cloud-sdk-go/services/vpc; extension fields
// (VpcId, WindowSeconds, SkippedRecords, sinks) are ignored by the SDK.

type flowLogItem struct {
	FlowLogId           string
	FlowLogName         string
	Description         string
	RegionId            string
	ResourceType        string
	ResourceId          string
	TrafficType         string
	ProjectName         string
	LogStoreName        string
	Status              string
	BusinessStatus      string
	CreationTime        string
	AggregationInterval int
	IpVersion           string
	TrafficPath         struct{ TrafficPathList []string }
	Tags                tagsWrapper
	// Palisade extensions.
	VpcId          string
	WindowSeconds  int
	SkippedRecords int64
	FileSink       string `json:",omitempty"`
	FileFormat     string `json:",omitempty"`
	IpfixCollector string `json:",omitempty"`
}

func toFlowLogItem(v service.FlowLogView) flowLogItem {
	it := flowLogItem{
		FlowLogId: v.ID, FlowLogName: v.Name, Description: v.Description, RegionId: v.RegionID,
		ResourceType: v.ResourceType, ResourceId: v.ResourceID, TrafficType: v.TrafficType,
		ProjectName: v.ProjectName, LogStoreName: v.LogStoreName, Status: v.Status, BusinessStatus: "Normal",
		CreationTime: formatTime(v.CreatedAt), AggregationInterval: v.AggregationInterval, IpVersion: "IPv4",
		Tags: toTags(nil), VpcId: v.VpcID, WindowSeconds: v.WindowSeconds, SkippedRecords: v.SkippedRecords,
		FileSink: v.FileSink, IpfixCollector: v.IPFIXCollector,
	}
	if v.FileSink != "" {
		it.FileFormat = v.FileFormat
	}
	it.TrafficPath.TrafficPathList = v.TrafficPathList()
	return it
}

// IndexTrafficPaths is the range of N in CreateFlowLog's TrafficPath.N:
// the cloud documents no bound; ten is its catalogue of paths.
var IndexTrafficPaths = Indexes{1, 10}

// flowLogSkippedItem is one flow log's SKIPDATA counter in
// DescribeFlowLogRecords.
type flowLogSkippedItem struct {
	FlowLogId      string
	SkippedRecords int64
}

type successBody struct{ Success string }

var success = successBody{Success: "true"}

func flowLogSinks(p Params) service.FlowLogSinks {
	return service.FlowLogSinks{
		FileSink: optional(p, "FileSink"), FileFormat: optional(p, "FileFormat"), IPFIXCollector: optional(p, "IpfixCollector"),
	}
}

// ParseFlowTime reads a time parameter: RFC 3339 or Unix seconds.
func ParseFlowTime(param, v string) (int64, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, nil
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
		return n, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil || t.Unix() < 0 {
		return 0, errs.InvalidParam("IllegalParam."+param, "The specified %s %q is not valid; use RFC 3339 (2026-11-25T10:00:00Z) or Unix seconds.", param, v)
	}
	return t.Unix(), nil
}

func flowRecordQuery(p Params) (service.FlowRecordQuery, error) {
	q := service.FlowRecordQuery{
		FlowLogID: p.Get("FlowLogId"), ENIID: p.Get("EniId"), VpcID: p.Get("VpcId"),
		Action: p.Get("RecordAction"), Src: p.Get("SrcAddr"), Dst: p.Get("DstAddr"),
	}
	var err error
	if q.Since, err = ParseFlowTime("Since", p.Get("Since")); err != nil {
		return q, err
	}
	if q.Until, err = ParseFlowTime("Until", p.Get("Until")); err != nil {
		return q, err
	}
	q.Port, err = p.IntRange("Port", 0, 1, 65535)
	return q, err
}

// RegisterFlowLogs registers the flow-log actions.
func RegisterFlowLogs(rt *Router, svc *service.Service) {
	rt.Handle(VersionVPC, "CreateFlowLog", func(ctx context.Context, r *Request) (any, error) {
		interval, err := r.Params.Int("AggregationInterval", 0)
		if err != nil {
			return nil, err
		}
		if r.Params.Has("AggregationInterval") && r.Params.Get("AggregationInterval") != "" && interval == 0 {
			return nil, errs.InvalidParam("IllegalParam.AggregationInterval", "The specified AggregationInterval 0 is not valid; use 1, 5 or 10 (minutes).")
		}
		paths, err := r.Params.ListIn("TrafficPath", IndexTrafficPaths)
		if err != nil {
			return nil, err
		}
		fl, err := svc.CreateFlowLog(ctx, r.Account.ID, service.CreateFlowLogInput{
			Name: r.Params.Get("FlowLogName"), Description: r.Params.Get("Description"),
			ResourceType: r.Params.Get("ResourceType"), ResourceID: r.Params.Get("ResourceId"),
			TrafficType: r.Params.Get("TrafficType"), ProjectName: r.Params.Get("ProjectName"),
			LogStoreName: r.Params.Get("LogStoreName"), AggregationInterval: interval, TrafficPaths: paths, Sinks: flowLogSinks(r.Params),
		})
		if err != nil {
			return nil, err
		}
		return struct {
			FlowLogId string
			Success   string
		}{fl.ID, "true"}, nil
	})
	rt.Handle(VersionVPC, "DescribeFlowLogs", func(ctx context.Context, r *Request) (any, error) {
		pg, err := r.Params.Paging(20, 100)
		if err != nil {
			return nil, err
		}
		list, err := svc.DescribeFlowLogs(ctx, r.Account.ID, service.FlowLogFilter{
			ID: r.Params.Get("FlowLogId"), Name: r.Params.Get("FlowLogName"), Description: r.Params.Get("Description"),
			ResourceID: r.Params.Get("ResourceId"), ResourceType: r.Params.Get("ResourceType"), VpcID: r.Params.Get("VpcId"),
			TrafficType: r.Params.Get("TrafficType"), Status: r.Params.Get("Status"),
			ProjectName: r.Params.Get("ProjectName"), LogStoreName: r.Params.Get("LogStoreName"),
		})
		if err != nil {
			return nil, err
		}
		page, total, _ := Paginate(list, pg)
		var resp struct {
			TotalCount string
			PageNumber string
			PageSize   string
			Success    string
			FlowLogs   struct{ FlowLog []flowLogItem }
		}
		resp.TotalCount, resp.PageNumber, resp.PageSize, resp.Success = strconv.Itoa(total), strconv.Itoa(pg.Number), strconv.Itoa(pg.Size), "true"
		resp.FlowLogs.FlowLog = make([]flowLogItem, 0, len(page))
		for _, v := range page {
			resp.FlowLogs.FlowLog = append(resp.FlowLogs.FlowLog, toFlowLogItem(v))
		}
		return resp, nil
	})
	rt.Handle(VersionVPC, "ModifyFlowLogAttribute", func(ctx context.Context, r *Request) (any, error) {
		id, err := r.Params.Required("FlowLogId")
		if err != nil {
			return nil, err
		}
		in := service.ModifyFlowLogInput{
			Name: optional(r.Params, "FlowLogName"), Description: optional(r.Params, "Description"), Sinks: flowLogSinks(r.Params),
		}
		if r.Params.Get("AggregationInterval") != "" {
			n, err := r.Params.Int("AggregationInterval", 0)
			if err != nil {
				return nil, err
			}
			in.AggregationInterval = &n
		}
		return success, svc.ModifyFlowLogAttribute(ctx, r.Account.ID, id, in)
	})
	for action, fn := range map[string]func(context.Context, string, string) error{
		"ActiveFlowLog": svc.ActiveFlowLog, "DeactiveFlowLog": svc.DeactiveFlowLog, "DeleteFlowLog": svc.DeleteFlowLog,
	} {
		rt.Handle(VersionVPC, action, func(ctx context.Context, r *Request) (any, error) {
			id, err := r.Params.Required("FlowLogId")
			if err != nil {
				return nil, err
			}
			return success, fn(ctx, r.Account.ID, id)
		})
	}

	rt.Handle(VersionPalisade, "DescribeFlowLogRecords", func(ctx context.Context, r *Request) (any, error) {
		q, err := flowRecordQuery(r.Params)
		if err != nil {
			return nil, err
		}
		pg, err := r.Params.PagingFor(PageFlowLogRecords)
		if err != nil {
			return nil, err
		}
		res, err := svc.DescribeFlowLogRecords(ctx, r.Account.ID, q)
		if err != nil {
			return nil, err
		}
		// A NextToken names the last record returned (its start and its
		// place in the store), so records pruned or added between two
		// calls neither shift nor repeat the rest.
		page, total, next := PaginateKeyset(res.Records, pg, func(rec flowlog.Record) (time.Time, string) {
			return time.Unix(rec.Start, 0), fmt.Sprintf("%020d", rec.Seq)
		})
		var resp struct {
			TotalCount int
			PageNumber int
			PageSize   int
			NextToken  string `json:",omitempty"`
			// SkippedRecords is the SKIPDATA counter of the flow log
			// named by FlowLogId; without it there is no single counter
			// (the counters of flow logs over the same ENIs count the
			// same misses, so a sum would mislead): see
			// SkippedRecordsByFlowLog.
			SkippedRecords *int64 `json:",omitempty"`
			// SkippedRecordsByFlowLog has the counter of each flow log in
			// scope: the one of FlowLogId, else those with records in the
			// answer (all pages), deleted ones included.
			SkippedRecordsByFlowLog struct{ FlowLog []flowLogSkippedItem }
			Records                 struct{ Record []flowlog.Record }
		}
		resp.TotalCount, resp.PageNumber, resp.PageSize, resp.NextToken = total, pg.Number, pg.Size, next
		resp.SkippedRecordsByFlowLog.FlowLog = make([]flowLogSkippedItem, 0, len(res.Skipped))
		for _, sk := range res.Skipped {
			resp.SkippedRecordsByFlowLog.FlowLog = append(resp.SkippedRecordsByFlowLog.FlowLog, flowLogSkippedItem{FlowLogId: sk.FlowLogID, SkippedRecords: sk.SkippedRecords})
			if sk.FlowLogID == q.FlowLogID {
				resp.SkippedRecords = &sk.SkippedRecords
			}
		}
		resp.Records.Record = page
		return resp, nil
	})
	rt.Handle(VersionPalisade, "DescribeFlowLogTopTalkers", func(ctx context.Context, r *Request) (any, error) {
		q, err := flowRecordQuery(r.Params)
		if err != nil {
			return nil, err
		}
		limit, err := r.Params.IntRange("Limit", 10, 1, 1000)
		if err != nil {
			return nil, err
		}
		by := r.Params.Get("By")
		top, err := svc.DescribeFlowLogTopTalkers(ctx, r.Account.ID, q, by, limit)
		if err != nil {
			return nil, err
		}
		if by == "" {
			by = service.TopByBytes
		}
		var resp struct {
			By         string
			TopTalkers struct{ TopTalker []service.TopTalker }
		}
		resp.By = strings.ToLower(by)
		resp.TopTalkers.TopTalker = top
		if top == nil {
			resp.TopTalkers.TopTalker = []service.TopTalker{}
		}
		return resp, nil
	})
}

// DecodeFlowBatch reads the Batch parameter of PalisadeReportFlowRecords:
// a flowlog.Batch as JSON; unknown fields are refused.
func DecodeFlowBatch(v string) (flowlog.Batch, error) {
	var b flowlog.Batch
	if strings.TrimSpace(v) == "" {
		return b, errs.MissingParameter("Batch")
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(v)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return b, errs.InvalidParameter("Batch", "expected a JSON flow-log batch {\"records\":[...],\"missed\":{...}}: %v", err)
	}
	return b, nil
}
