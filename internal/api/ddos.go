package api

import (
	"context"
	"strings"
	"time"

	"github.com/palisade-project/palisade/internal/errs"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/service"
)

// Anti-DDoS Basic actions (antiddos-public 2017-05-18); semantics and
// error codes in service/ddos.go. Response names are those of
// github.com/aliyun/alibaba-cloud-sdk-go/services/antiddos-public:
// DescribeInstanceIpAddress answers bare arrays (InstanceList,
// IpAddressConfig), the older actions classic wrappers
// ({"InstanceList":{"Instance":[...]}}, {"Thresholds":{"Threshold":[...]}},
// {"DdosEventList":{"DdosEvent":[...]}}). Thresholds are in Mbit/s and
// packets/s, times in Unix seconds. DdosRegionId, when sent, must be this
// server's region; SourceIp and Lang are informational. Paging:
// CurrentPage (from 1) and PageSize (1-100, default 10).

// IndexDDoSInstanceIDs bounds DescribeDdosThreshold InstanceIds.N.
var IndexDDoSInstanceIDs = Indexes{1, 100}

// ddosQueryDaysMax bounds DescribeDdosEventList QueryDays.
const ddosQueryDaysMax = 365

// ddosRegion checks DdosRegionId: absent (unless required) or this
// server's region.
func ddosRegion(p Params, svc *service.Service, required bool) error {
	v := p.Get("DdosRegionId")
	switch {
	case v == "" && required:
		return errs.MissingParameter("DdosRegionId")
	case v != "" && v != svc.Region():
		return errs.InvalidParameter("DdosRegionId", "region %q is not served here: this endpoint serves region %q only", v, svc.Region())
	}
	return nil
}

// ddosType reads DdosType (required): defense (the scrubbing threshold)
// or blackhole.
func ddosType(p Params) (string, error) {
	v, err := p.Required("DdosType")
	if err != nil {
		return "", err
	}
	switch t := strings.ToLower(v); t {
	case model.DDoSDefense, model.DDoSBlackhole:
		return t, nil
	}
	return "", errs.InvalidParameter("DdosType", "%q is not a threshold type: use defense (scrubbing) or blackhole", v)
}

// ddosOptInt reads an optional integer parameter: nil when absent.
func ddosOptInt(p Params, name string) (*int, error) {
	if p.Get(name) == "" {
		return nil, nil
	}
	n, err := p.Int(name, 0)
	return &n, err
}

// Statuses of the older DescribeInstance, by the status they stand for.
var ddosLegacyStatus = map[string]string{
	model.DDoSNormal: "normal", model.DDoSDefense: "mitigating", model.DDoSBlackhole: "blackholed",
}

// ddosIPConfig is one IP of DescribeInstanceIpAddress
// (antiddos_public.IpAddressConfigItem). There is no Anti-DDoS Origin:
// IsBgppack is false and ElasticThreshold 0.
type ddosIPConfig struct {
	InstanceIp          string
	IsBgppack           bool
	IpVersion           string
	IpStatus            string
	RegionId            string
	ElasticThreshold    int
	BlackholeThreshold  int
	DefenseBpsThreshold int
	DefensePpsThreshold int
	IsFullProtection    int
}

// ddosInstanceItem is one instance of DescribeInstanceIpAddress
// (antiddos_public.Instance).
type ddosInstanceItem struct {
	InstanceId      string
	InstanceType    string
	InstanceName    string
	InstanceStatus  string
	IpAddressConfig []ddosIPConfig
}

// ddosLegacyItem is one IP of DescribeInstance (antiddos_public.Instance,
// the older fields); InstanceStatus is that IP's status.
type ddosLegacyItem struct {
	InstanceIp          string
	IsBgppack           bool
	IpVersion           string
	ElasticThreshold    int
	BlackholeThreshold  int
	DefenseBpsThreshold int
	DefensePpsThreshold int
	InstanceName        string
	InstanceStatus      string
	InstanceId          string
	InstanceType        string
}

// ddosThresholdItem is antiddos_public.Threshold. ElasticBps is 0 (no
// Anti-DDoS Origin).
type ddosThresholdItem struct {
	InternetIp string
	InstanceId string
	DdosType   string
	Bps        int
	Pps        int
	MaxBps     int
	MaxPps     int
	IsAuto     bool
	ElasticBps int
}

// toDDoSThreshold shows an IP's threshold of type typ. The blackhole
// threshold is the operator's: Bps and MaxBps, no packet rate, and never
// set by hand.
func toDDoSThreshold(instanceID string, d service.DDoSIP, typ string) ddosThresholdItem {
	t := ddosThresholdItem{InternetIp: d.EIP.Address.String(), InstanceId: instanceID, DdosType: typ, IsAuto: true}
	if typ == model.DDoSBlackhole {
		t.Bps, t.MaxBps = d.BlackholeMbps, d.BlackholeMbps
		return t
	}
	t.Bps, t.Pps, t.MaxBps, t.MaxPps, t.IsAuto = d.Bps, d.Pps, d.MaxBps, d.MaxPps, d.Auto
	return t
}

// ddosEventItem is antiddos_public.DdosEvent.
type ddosEventItem struct {
	DdosType        string
	StartTime       int64
	EndTime         int64 // 0 while open
	DelayTime       int64 // a blackhole's length in minutes (rounded up)
	DdosStatus      string
	UnBlackholeTime int64
}

func toDDoSEvent(v service.DDoSEventView) ddosEventItem {
	it := ddosEventItem{DdosType: v.Type, StartTime: v.Start.Unix(), DdosStatus: v.Status}
	if !v.Ended.IsZero() {
		it.EndTime = v.Ended.Unix()
	}
	if v.Type == model.DDoSBlackhole {
		it.UnBlackholeTime = v.UnBlackholeAt.Unix()
		end := v.UnBlackholeAt
		if !v.Ended.IsZero() {
			end = v.Ended
		}
		it.DelayTime = int64((end.Sub(v.Start) + time.Minute - 1) / time.Minute)
	}
	return it
}

// RegisterAntiDDoS registers the Anti-DDoS Basic actions.
func RegisterAntiDDoS(rt *Router, svc *service.Service) {
	v := VersionAntiDDoS

	rt.Handle(v, "DescribeInstanceIpAddress", func(ctx context.Context, r *Request) (any, error) {
		list, pg, err := ddosInstances(ctx, svc, r, func(s string) (string, bool) {
			return s, s == model.DDoSDefense || s == model.DDoSBlackhole
		}, "use defense (scrubbing) or blackhole")
		if err != nil {
			return nil, err
		}
		items, total, _ := Paginate(list, pg)
		out := make([]ddosInstanceItem, 0, len(items))
		for _, inst := range items {
			it := ddosInstanceItem{InstanceId: inst.ID, InstanceType: inst.Type, InstanceName: inst.Name, InstanceStatus: inst.Status,
				IpAddressConfig: make([]ddosIPConfig, 0, len(inst.IPs))}
			for _, d := range inst.IPs {
				it.IpAddressConfig = append(it.IpAddressConfig, ddosIPConfig{
					InstanceIp: d.EIP.Address.String(), IpVersion: "v4", IpStatus: d.Status, RegionId: svc.Region(),
					BlackholeThreshold: d.BlackholeMbps, DefenseBpsThreshold: d.Bps, DefensePpsThreshold: d.Pps,
				})
			}
			out = append(out, it)
		}
		return struct {
			Total        int
			InstanceList []ddosInstanceItem
		}{total, out}, nil
	})

	rt.Handle(v, "DescribeInstance", func(ctx context.Context, r *Request) (any, error) {
		list, pg, err := ddosInstances(ctx, svc, r, func(s string) (string, bool) {
			for st, legacy := range ddosLegacyStatus {
				if s == legacy {
					return st, true
				}
			}
			return "", false
		}, "use mitigating (scrubbing), blackholed or normal")
		if err != nil {
			return nil, err
		}
		var all []ddosLegacyItem
		for _, inst := range list {
			for _, d := range inst.IPs {
				all = append(all, ddosLegacyItem{
					InstanceIp: d.EIP.Address.String(), IpVersion: "v4", BlackholeThreshold: d.BlackholeMbps,
					DefenseBpsThreshold: d.Bps, DefensePpsThreshold: d.Pps, InstanceName: inst.Name,
					InstanceStatus: ddosLegacyStatus[d.Status], InstanceId: inst.ID, InstanceType: inst.Type,
				})
			}
		}
		items, total, _ := Paginate(all, pg)
		type wrapper struct{ Instance []ddosLegacyItem }
		return struct {
			Total        int
			InstanceList wrapper
		}{total, wrapper{items}}, nil
	})

	rt.Handle(v, "DescribeIpDdosThreshold", func(ctx context.Context, r *Request) (any, error) {
		p := r.Params
		if err := ddosRegion(p, svc, false); err != nil {
			return nil, err
		}
		id, err := p.Required("InstanceId")
		if err != nil {
			return nil, err
		}
		ip, err := p.Required("InternetIp")
		if err != nil {
			return nil, err
		}
		typ, err := ddosType(p)
		if err != nil {
			return nil, err
		}
		ips, err := svc.DDoSTargets(ctx, r.Account.ID, p.Get("InstanceType"), id, ip)
		if err != nil {
			return nil, err
		}
		return struct{ Threshold ddosThresholdItem }{toDDoSThreshold(id, ips[0], typ)}, nil
	})

	rt.Handle(v, "DescribeDdosThreshold", func(ctx context.Context, r *Request) (any, error) {
		p := r.Params
		if err := ddosRegion(p, svc, false); err != nil {
			return nil, err
		}
		instType, err := service.ParseDDoSInstanceType(p.Get("InstanceType"))
		if err != nil {
			return nil, err
		}
		typ, err := ddosType(p)
		if err != nil {
			return nil, err
		}
		ids, err := p.ListIn("InstanceIds", IndexDDoSInstanceIDs)
		if err != nil {
			return nil, err
		}
		if len(ids) == 0 {
			return nil, errs.MissingParameter("InstanceIds.1")
		}
		out := []ddosThresholdItem{}
		seen := map[string]bool{}
		for _, id := range ids {
			if seen[id] {
				continue
			}
			seen[id] = true
			ips, err := svc.DDoSTargets(ctx, r.Account.ID, instType, id, "")
			if err != nil {
				return nil, err
			}
			for _, d := range ips {
				out = append(out, toDDoSThreshold(id, d, typ))
			}
		}
		type wrapper struct{ Threshold []ddosThresholdItem }
		return struct{ Thresholds wrapper }{wrapper{out}}, nil
	})

	modify := func(ipRequired bool) Handler {
		return func(ctx context.Context, r *Request) (any, error) {
			p := r.Params
			if err := ddosRegion(p, svc, false); err != nil {
				return nil, err
			}
			id, err := p.Required("InstanceId")
			if err != nil {
				return nil, err
			}
			ip := p.Get("InternetIp")
			if ipRequired && ip == "" {
				return nil, errs.MissingParameter("InternetIp")
			}
			var in service.DDoSThresholdInput
			if in.Auto, err = p.Bool("IsAuto", false); err != nil {
				return nil, err
			}
			if in.Bps, err = ddosOptInt(p, "Bps"); err != nil {
				return nil, err
			}
			if in.Pps, err = ddosOptInt(p, "Pps"); err != nil {
				return nil, err
			}
			return empty{}, svc.ModifyDDoSThreshold(ctx, r.Account.ID, p.Get("InstanceType"), id, ip, in)
		}
	}
	rt.Handle(v, "ModifyIpDefenseThreshold", modify(true))
	rt.Handle(v, "ModifyDefenseThreshold", modify(false))

	rt.Handle(v, "DescribeDdosEventList", func(ctx context.Context, r *Request) (any, error) {
		p := r.Params
		if err := ddosRegion(p, svc, false); err != nil {
			return nil, err
		}
		id, err := p.Required("InstanceId")
		if err != nil {
			return nil, err
		}
		if _, err := service.ParseDDoSInstanceType(p.Get("InstanceType")); err != nil {
			return nil, err
		}
		days, err := p.IntRange("QueryDays", 7, 1, ddosQueryDaysMax)
		if err != nil {
			return nil, err
		}
		pg, err := cfwPage(p)
		if err != nil {
			return nil, err
		}
		list, err := svc.DescribeDDoSEvents(ctx, r.Account.ID, service.DDoSEventQuery{
			Type: p.Get("InstanceType"), InstanceID: id, IP: p.Get("InternetIp"), Days: days,
		})
		if err != nil {
			return nil, err
		}
		items, total, _ := Paginate(list, pg)
		out := make([]ddosEventItem, 0, len(items))
		for _, ev := range items {
			out = append(out, toDDoSEvent(ev))
		}
		type wrapper struct{ DdosEvent []ddosEventItem }
		return struct {
			Total         int
			DdosEventList wrapper
		}{total, wrapper{out}}, nil
	})

	rt.Handle(v, "DescribeDdosCount", func(ctx context.Context, r *Request) (any, error) {
		if err := ddosRegion(r.Params, svc, false); err != nil {
			return nil, err
		}
		total, defense, blackhole, err := svc.DDoSCount(ctx, r.Account.ID, r.Params.Get("InstanceType"))
		if err != nil {
			return nil, err
		}
		// InstacenCount (sic) is the SDK's spelling.
		type count struct{ InstacenCount, DefenseCount, BlackholeCount int }
		return struct{ DdosCount count }{count{total, defense, blackhole}}, nil
	})

	// DescribeDdosCredit: Palisade keeps no credit score; every account
	// has the best one, and BlackholeTime is the blackhole duration in
	// minutes.
	rt.Handle(v, "DescribeDdosCredit", func(ctx context.Context, r *Request) (any, error) {
		if err := ddosRegion(r.Params, svc, false); err != nil {
			return nil, err
		}
		type credit struct {
			Score         int
			ScoreLevel    string
			BlackholeTime int
		}
		return struct {
			Success    bool
			DdosCredit credit
		}{true, credit{100, "A", svc.DDoSConfig().BlackholeSeconds / 60}}, nil
	})

	rt.Handle(v, "ModifyDdosStatus", func(ctx context.Context, r *Request) (any, error) {
		p := r.Params
		if err := ddosRegion(p, svc, false); err != nil {
			return nil, err
		}
		id, err := p.Required("InstanceId")
		if err != nil {
			return nil, err
		}
		return nil, svc.ModifyDDoSStatus(ctx, r.Account.ID, p.Get("InstanceType"), id, p.Get("InternetIp"))
	})
}

// DecodeDDoSEvents reads the Events parameter of PalisadeReportDdosEvents:
// a JSON array of model.DDoSEvent, at most service.DDoSEventsPerReport
// long; unknown fields and trailing data are refused.
func DecodeDDoSEvents(v string) ([]model.DDoSEvent, error) {
	return decodeReports[model.DDoSEvent]("Events", "Anti-DDoS events [{\"ip\":...,\"type\":...,\"start\":...}]", "events", service.DDoSEventsPerReport, v)
}

// ddosInstances answers the query both instance listings share: region,
// InstanceType, the DdosStatus filter in the action's words (status maps
// one to a status, or says it is none; hint lists the valid ones), paging.
func ddosInstances(ctx context.Context, svc *service.Service, r *Request, status func(string) (string, bool), hint string) ([]service.DDoSInstance, Page, error) {
	p := r.Params
	if err := ddosRegion(p, svc, true); err != nil {
		return nil, Page{}, err
	}
	if _, err := service.ParseDDoSInstanceType(p.Get("InstanceType")); err != nil {
		return nil, Page{}, err
	}
	var st string
	if s := strings.ToLower(p.Get("DdosStatus")); s != "" {
		var ok bool
		if st, ok = status(s); !ok {
			return nil, Page{}, errs.InvalidParameter("DdosStatus", "%q is not a status: %s", p.Get("DdosStatus"), hint)
		}
	}
	pg, err := cfwPage(p)
	if err != nil {
		return nil, Page{}, err
	}
	list, err := svc.DescribeDDoSInstances(ctx, r.Account.ID, service.DDoSQuery{
		Type: p.Get("InstanceType"), InstanceID: p.Get("InstanceId"), Name: p.Get("InstanceName"), IP: p.Get("InstanceIp"), Status: st,
	})
	return list, pg, err
}
