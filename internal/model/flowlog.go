package model

import "time"

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
