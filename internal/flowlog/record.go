// Package flowlog holds flow-log records: what the agents capture in the
// kernel path (counting sets for accepted packets, NFLOG for rejected ones),
// aggregated per ENI, direction, 5-tuple and capture window, and the sinks
// records are written to.
package flowlog

// Directions of a record, seen from the ENI.
const (
	DirIn  = "in"  // into the ENI
	DirOut = "out" // from the ENI
)

// Actions and log statuses of a record.
const (
	ActionAccept = "ACCEPT"
	ActionReject = "REJECT"

	StatusOK       = "OK"
	StatusNoData   = "NODATA"
	StatusSkipData = "SKIPDATA"
)

// Version is the record format version (Alibaba's current value).
const Version = 1

// Record is one flow-log record with the Alibaba field names (SEMANTICS.md
// Part B §4.2). A NODATA record has only the identity fields, the window
// and LogStatus. Start and End are Unix seconds.
type Record struct {
	Version   int    `json:"version"`
	FlowLogID string `json:"flow-log-id"`
	AccountID string `json:"account-id"`
	ENIID     string `json:"eni-id"`
	VMID      string `json:"vm-id"`
	VSwitchID string `json:"vswitch-id"`
	VpcID     string `json:"vpc-id"`
	Region    string `json:"region,omitempty"`
	SrcAddr   string `json:"srcaddr,omitempty"`
	SrcPort   int    `json:"srcport"`
	DstAddr   string `json:"dstaddr,omitempty"`
	DstPort   int    `json:"dstport"`
	Protocol  int    `json:"protocol"` // IANA number
	Direction string `json:"direction,omitempty"`
	Packets   uint64 `json:"packets"`
	Bytes     uint64 `json:"bytes"`
	Start     int64  `json:"start"`
	End       int64  `json:"end"`
	Action    string `json:"action,omitempty"`
	LogStatus string `json:"log-status"`
	// TCPFlags is the OR of the TCP flags seen in the window (FIN 1, SYN 2,
	// RST 4, PSH 8, ACK 16, URG 32).
	TCPFlags int `json:"tcp-flags"`
	// TrafficPath is the path of the flow log's TrafficPath filter
	// (model.FlowLogPathInternet) in the records of a flow log that
	// captures one path only; empty (left out) in those of a flow log
	// that captures all traffic. The AWS and IPFIX formats do not carry
	// it.
	TrafficPath string `json:"trafficPath,omitempty"`
	// Seq is the record's place among the records of its account with
	// the same Start, in arrival order: the record store sets it in the
	// records a query returns, so that (Start, Seq) names one record for
	// paging. It is not part of the record.
	Seq uint64 `json:"-"`
}

// Batch is what an agent reports: records of closed windows, and how many
// packets or flows capture missed per flow log since the last batch (the
// server adds them to the flow log's SKIPDATA counter).
type Batch struct {
	// ID names the batch so that a batch sent twice (an agent that
	// crashed after reporting it and before checkpointing that it had) is
	// taken once; empty: no deduplication.
	ID      string           `json:"id,omitempty"`
	Records []Record         `json:"records"`
	Missed  map[string]int64 `json:"missed,omitempty"` // flow-log ID -> count
}
