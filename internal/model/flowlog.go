package model

import (
	"net/netip"
	"time"
)

// Flow-log store prefixes (since issue 6).
const (
	// PrefixFlowLog + ID -> FlowLog. Mirrored to agents: they capture the
	// ENIs that active flow logs cover.
	PrefixFlowLog = "flowlog/"
)

// Flow-log resource types, traffic types and statuses (Alibaba spelling).
const (
	FlowLogResourceENI     = "NetworkInterface"
	FlowLogResourceVSwitch = "VSwitch"
	FlowLogResourceVPC     = "VPC"

	FlowLogTrafficAll   = "All"
	FlowLogTrafficAllow = "Allow"
	FlowLogTrafficDrop  = "Drop"

	FlowLogActive   = "Active"
	FlowLogInactive = "Inactive"
)

// Flow-log traffic paths (TrafficPath.N of CreateFlowLog) that Palisade
// captures; the other paths of the cloud's catalogue are refused.
const (
	// FlowLogPathAll is everything the ENIs send and receive (the default).
	FlowLogPathAll = "all"
	// FlowLogPathInternet is the traffic between the ENIs and the
	// internet: connections that cross the VPC's public edge (EIPs, NAT
	// gateways, forward entries). See FlowLogInside.
	FlowLogPathInternet = "internetGateway"
)

// FlowLog is one flow-log configuration: which ENIs are captured (one ENI,
// every ENI of a vSwitch or of a VPC, later ones included), which traffic,
// the capture window and where records go.
type FlowLog struct {
	ID           string `json:"id"` // fl-...
	AccountID    string `json:"account_id"`
	RegionID     string `json:"region_id"`
	Name         string `json:"name"`
	Description  string `json:"description"`
	ResourceType string `json:"resource_type"` // FlowLogResource*
	ResourceID   string `json:"resource_id"`
	VpcID        string `json:"vpc_id"` // the VPC of the resource
	TrafficType  string `json:"traffic_type"`
	// AggregationInterval is the capture window in minutes: 1, 5 or 10.
	AggregationInterval int `json:"aggregation_interval"`
	// WindowSeconds is the window the agents use: AggregationInterval
	// minutes divided by the server's --flowlog-window-scale (1 in
	// production). Written by the server so agents need no server setting.
	WindowSeconds int    `json:"window_seconds"`
	ProjectName   string `json:"project_name"`
	LogStoreName  string `json:"log_store_name"`
	Status        string `json:"status"` // FlowLogActive or FlowLogInactive
	// TrafficPaths are the paths captured (FlowLogPath*), as created:
	// their union is captured, so FlowLogPathAll with another path is
	// everything. Empty (flow logs stored before paths existed, and
	// those created without TrafficPath.N) means FlowLogPathAll.
	TrafficPaths []string `json:"traffic_paths,omitempty"`
	// Sinks besides the embedded store (always written, queried by the API).
	// FileSink is a path the server appends records to as JSON lines
	// (FileFormat "alibaba", the default) or AWS version-2 text lines
	// (FileFormat "aws-v2"). IPFIXCollector is host:port (UDP) of an IPFIX
	// (RFC 7011) collector.
	FileSink       string    `json:"file_sink,omitempty"`
	FileFormat     string    `json:"file_format,omitempty"`
	IPFIXCollector string    `json:"ipfix_collector,omitempty"`
	CreatedAt      time.Time `json:"created_at"`
}

// TrafficPathList is the flow log's paths as DescribeFlowLogs answers
// them: those it was created with, or ["all"].
func (f *FlowLog) TrafficPathList() []string {
	if len(f.TrafficPaths) == 0 {
		return []string{FlowLogPathAll}
	}
	return append([]string(nil), f.TrafficPaths...)
}

// InternetOnly reports whether the flow log captures only the traffic
// between its ENIs and the internet: its paths name internetGateway and
// not all.
func (f *FlowLog) InternetOnly() bool {
	internet := false
	for _, p := range f.TrafficPaths {
		switch p {
		case FlowLogPathAll:
			return false
		case FlowLogPathInternet:
			internet = true
		}
	}
	return internet
}

// FlowLogInside returns the address blocks of vpc's own network, which an
// internetGateway flow log leaves out: its CIDR blocks (primary,
// secondary, IPv6) and the destinations of its route entries to a VPC
// peering connection (routes holds route entries of any VPC; the others
// are skipped). Traffic to any other address, but the blocks no VPC
// reaches the internet through (flowlog.NewInternetPath adds those),
// crosses the VPC's public edge. Route entries to a NAT gateway are the
// way to the internet, not inside.
func FlowLogInside(vpc VPC, routes []RouteEntry) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range append([]netip.Prefix{vpc.CidrBlock, vpc.Ipv6CidrBlock}, vpc.SecondaryCidrs...) {
		if p.IsValid() {
			out = append(out, p.Masked())
		}
	}
	for _, r := range routes {
		if r.VpcID == vpc.ID && r.NextHopType == RouteNextHopPeer && r.DestinationCidr.IsValid() {
			out = append(out, r.DestinationCidr.Masked())
		}
	}
	return out
}
