package api

import (
	"context"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/palisade-project/palisade/internal/errs"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/policy"
	"github.com/palisade-project/palisade/internal/service"
)

// DescribeFirewallLogs (VersionPalisade) queries the Cloud Firewall's
// traffic logs: the new connections that drop and log policies of the
// Internet, NAT and VPC firewalls decided, as agents record them
// (PalisadeReportFirewallLogs). The cloud ships these to SLS, which
// Palisade does not have: the action pages like the Cloudfw Describe
// actions (CurrentPage, PageSize) and each log carries the field names of
// Cloudfw's SLS traffic logs (log_type, acl_rule_id, src_ip, ...).

// Paging of DescribeFirewallLogs: PageSize 1-100, default 20.
const (
	cfwLogDefaultPageSize = 20
	cfwLogMaxPageSize     = 100
)

// cfwLogItem is one traffic log, named as in Cloudfw's SLS logs.
type cfwLogItem struct {
	LogType    string `json:"log_type"`
	AclRuleID  string `json:"acl_rule_id"`
	AliUID     string `json:"aliuid"`
	Direction  string `json:"direction"`
	SrcIP      string `json:"src_ip"`
	SrcPort    uint16 `json:"src_port"`
	DstIP      string `json:"dst_ip"`
	DstPort    uint16 `json:"dst_port"`
	IPProtocol string `json:"ip_protocol"`
	RuleResult string `json:"rule_result"`
	StartTime  int64  `json:"start_time"` // Unix seconds
	VpcID      string `json:"vpc_id"`
	FirewallID string `json:"firewall_id"`
	Domain     string `json:"domain,omitempty"` // a domain policy's destination
}

func toCfwLogItem(l model.FirewallTrafficLog) cfwLogItem {
	return cfwLogItem{
		LogType: l.LogType, AclRuleID: l.PolicyID, AliUID: l.AccountID, Direction: l.Direction,
		SrcIP: l.Src.String(), SrcPort: l.SrcPort, DstIP: l.Dst.String(), DstPort: l.DstPort,
		IPProtocol: ipProtocolName(l.Proto), RuleResult: l.Action, StartTime: l.Time.Unix(), VpcID: l.VpcID, FirewallID: l.FirewallID,
		Domain: l.Domain,
	}
}

// ipProtocolName is a protocol as Cloudfw's logs spell it: its name, or
// its number for the others.
func ipProtocolName(p uint8) string {
	switch p {
	case policy.IPProtoTCP:
		return model.ProtoTCP
	case policy.IPProtoUDP:
		return model.ProtoUDP
	case policy.IPProtoICMP:
		return model.ProtoICMP
	case policy.IPProtoICMPv6:
		return model.ProtoICMPv6
	}
	return strconv.Itoa(int(p))
}

// cfwLogAddr reads SrcIP or DstIP: an address (one host) or a CIDR block.
func cfwLogAddr(p Params, name string) (netip.Prefix, error) {
	v := strings.TrimSpace(p.Get(name))
	if v == "" {
		return netip.Prefix{}, nil
	}
	if a, err := netip.ParseAddr(v); err == nil && a.Zone() == "" {
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	pfx, err := netip.ParsePrefix(v)
	if err != nil {
		return netip.Prefix{}, errs.InvalidParameter(name, "%q: use an IP address such as 203.0.113.9 or a CIDR block such as 203.0.113.0/24", v)
	}
	return pfx.Masked(), nil
}

// cfwLogTime reads StartTime or EndTime: Unix seconds.
func cfwLogTime(p Params, name string) (time.Time, error) {
	v := strings.TrimSpace(p.Get(name))
	if v == "" {
		return time.Time{}, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, errs.InvalidParameter(name, "%q: use Unix seconds such as 1764064800", v)
	}
	return time.Unix(n, 0), nil
}

// firewallLogFilter reads the filters of DescribeFirewallLogs. A filter
// that can match nothing is a mistake to report, not an empty answer.
func firewallLogFilter(p Params) (service.FirewallLogFilter, error) {
	f := service.FirewallLogFilter{
		LogType: strings.ToLower(p.Get("LogType")), PolicyID: p.Get("AclUuid"), Action: strings.ToLower(p.Get("RuleResult")),
	}
	switch f.LogType {
	case "", model.FirewallLogTypeInternet, model.FirewallLogTypeNAT, model.FirewallLogTypeVPC:
	default:
		return f, errs.InvalidParameter("LogType", "%q: use %s, %s or %s", p.Get("LogType"),
			model.FirewallLogTypeInternet, model.FirewallLogTypeNAT, model.FirewallLogTypeVPC)
	}
	// Only drop and log policies are logged; a record's action is accept
	// when its policy was changed to accept before the record arrived.
	switch f.Action {
	case "", model.FirewallDrop, model.FirewallLog, model.FirewallAccept:
	default:
		return f, errs.InvalidParameter("RuleResult", "%q: use drop or log (or accept, for policies changed since)", p.Get("RuleResult"))
	}
	var err error
	if f.Src, err = cfwLogAddr(p, "SrcIP"); err != nil {
		return f, err
	}
	if f.Dst, err = cfwLogAddr(p, "DstIP"); err != nil {
		return f, err
	}
	port, err := p.IntRange("Port", 0, 1, 65535)
	if err != nil {
		return f, err
	}
	f.Port = uint16(port)
	if f.Start, err = cfwLogTime(p, "StartTime"); err != nil {
		return f, err
	}
	if f.End, err = cfwLogTime(p, "EndTime"); err != nil {
		return f, err
	}
	if !f.Start.IsZero() && !f.End.IsZero() && !f.End.After(f.Start) {
		return f, errs.InvalidParameter("EndTime", "%d is not after StartTime %d (EndTime is exclusive)", f.End.Unix(), f.Start.Unix())
	}
	return f, nil
}

// registerFirewallLogs registers DescribeFirewallLogs.
func registerFirewallLogs(rt *Router, svc *service.Service) {
	rt.Handle(VersionPalisade, "DescribeFirewallLogs", func(ctx context.Context, r *Request) (any, error) {
		f, err := firewallLogFilter(r.Params)
		if err != nil {
			return nil, err
		}
		pg, err := cfwPageSized(r.Params, cfwLogDefaultPageSize, cfwLogMaxPageSize)
		if err != nil {
			return nil, err
		}
		f.Offset, f.Limit = (pg.Number-1)*pg.Size, pg.Size
		logs, total, err := svc.DescribeFirewallLogs(ctx, r.Account.ID, f)
		if err != nil {
			return nil, err
		}
		out := make([]cfwLogItem, 0, len(logs))
		for _, l := range logs {
			out = append(out, toCfwLogItem(l))
		}
		return struct {
			TotalCount, CurrentPage, PageSize int
			Logs                              []cfwLogItem
		}{total, pg.Number, pg.Size, out}, nil
	})
}
