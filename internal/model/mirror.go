package model

import (
	"net/netip"
	"time"
)

// Traffic-mirroring store prefixes. Both are mirrored to agents: a host
// mirrors the traffic of its own source ENIs.
const (
	// PrefixMirrorFilter + ID -> MirrorFilter.
	PrefixMirrorFilter = "tmf/"
	// PrefixMirrorSession + ID -> MirrorSession.
	PrefixMirrorSession = "tms/"
)

// Traffic-mirroring limits and defaults (SEMANTICS.md Part A).
const (
	MirrorRulesPerDirection = 10
	MirrorSessionsPerSource = 3
	MirrorMinPriority       = 1
	MirrorMaxPriority       = 32766
	MirrorMaxVNI            = 1<<24 - 1
	MirrorDefaultPacketLen  = 1500
	// MirrorVXLANPort is the fixed outer destination port (RFC 7348).
	MirrorVXLANPort = 4789
	// MirrorTargetENI and MirrorTargetSLB are the target types
	// (TrafficMirrorTargetType): a network interface, or an internal load
	// balancer whose running UDP listener on port 4789 spreads the copies
	// over its backends.
	MirrorTargetENI = "NetworkInterface"
	MirrorTargetSLB = "SLB"
)

// MirrorRule is one rule of a filter. The first rule of a direction, in
// priority order (smaller first), that matches a packet decides: accept
// mirrors it, drop does not; a packet no rule matches is not mirrored.
type MirrorRule struct {
	ID        string `json:"id"`        // tmr-...
	Direction string `json:"direction"` // Ingress (received by the ENI) or Egress (sent)
	Priority  int    `json:"priority"`  // 1..10, unique within a direction
	Action    string `json:"action"`    // PolicyAccept or PolicyDrop
	Protocol  string `json:"protocol"`  // ProtoALL, ProtoICMP, ProtoTCP or ProtoUDP
	// SourceCidr and DestinationCidr match the packet's addresses (not
	// the ENI's and the peer's). The zero Prefix (not given) matches any
	// address of either family; the API shows it as 0.0.0.0/0.
	SourceCidr      netip.Prefix `json:"source_cidr"`
	DestinationCidr netip.Prefix `json:"destination_cidr"`
	// Port ranges for TCP and UDP; {-1,-1} (all) for ALL and ICMP.
	SourcePorts      PortRange `json:"source_ports"`
	DestinationPorts PortRange `json:"destination_ports"`
}

// MirrorFilter is a traffic-mirror filter: which packets of a session's
// sources are mirrored, per direction.
type MirrorFilter struct {
	ID          string       `json:"id"` // tmf-...
	AccountID   string       `json:"account_id"`
	RegionID    string       `json:"region_id"`
	Name        string       `json:"name"`
	Description string       `json:"description"`
	Ingress     []MirrorRule `json:"ingress"`
	Egress      []MirrorRule `json:"egress"`
	// ResourceGroupID and Tags are kept and shown, nothing more.
	ResourceGroupID string    `json:"resource_group_id,omitempty"`
	Tags            []Tag     `json:"tags,omitempty"`
	CreatedAt       time.Time `json:"created_at"`
}

// MirrorSession copies the packets of its source ENIs that its filter
// accepts to its target ENI, in VXLAN (UDP 4789, VNI). Created disabled.
type MirrorSession struct {
	ID          string `json:"id"` // tms-...
	AccountID   string `json:"account_id"`
	RegionID    string `json:"region_id"`
	Name        string `json:"name"`
	Description string `json:"description"`
	FilterID    string `json:"filter_id"`
	TargetID    string `json:"target_id"`   // an ENI or a load balancer (lb-) of the account
	TargetType  string `json:"target_type"` // MirrorTargetENI or MirrorTargetSLB
	// Priority 1..32766, unique per account and region; a packet of a
	// source in several sessions is mirrored by the first (smallest)
	// whose filter accepts it, and only by that one.
	Priority     int      `json:"priority"`
	VNI          uint32   `json:"vni"`
	PacketLength int      `json:"packet_length"` // bytes of the original frame kept
	Enabled      bool     `json:"enabled"`
	SourceIDs    []string `json:"source_ids"` // ENIs of the account, up to 3 sessions each
	// ResourceGroupID and Tags are kept and shown, nothing more.
	ResourceGroupID string    `json:"resource_group_id,omitempty"`
	Tags            []Tag     `json:"tags,omitempty"`
	CreatedAt       time.Time `json:"created_at"`
}
