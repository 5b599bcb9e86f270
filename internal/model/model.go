// Package model holds Palisade's resource types as they are stored.
//
// The types are plain data: JSON-encoded into the store, read by the service
// layer, the agent and the policy evaluator. Addresses use net/netip. A zero
// netip.Prefix or netip.Addr means "not set"; each field says what empty means.
package model

import (
	"net/netip"
	"time"
)

// Store key prefixes, one per resource kind. A resource lives at Prefix+ID.
const (
	PrefixAccount       = "account/"
	PrefixAccessKey     = "accesskey/"
	PrefixVPC           = "vpc/"
	PrefixVSwitch       = "vsw/"
	PrefixSecurityGroup = "sg/"
	PrefixInstance      = "instance/"
	PrefixENI           = "eni/"
	// PrefixIPAM + vswID + "/" + ip -> ID of the ENI (or the load balancer,
	// slb.go) holding that address.
	PrefixIPAM = "ipam/"
	// PrefixMember + sgID + "/" + eniID -> "" (ENI membership of a group).
	PrefixMember = "member/"
	// PrefixIdempotency + accountID + "/" + action + "/" + clientToken -> stored result.
	PrefixIdempotency = "idem/"
	// PrefixZoneStatus + zoneID -> ZoneStatus (written by agents).
	PrefixZoneStatus = "zone/"
	// PrefixUnderlay + zoneID -> Underlay (written by the zone's agent;
	// mirrored to every agent, which joins its VPC namespaces to the other
	// hosts' over it).
	PrefixUnderlay   = "underlay/"
	PrefixNetworkACL = "nacl/"
	PrefixEIP        = "eip/"
	// PrefixEIPAddr + address -> allocation ID (an address is given out once).
	PrefixEIPAddr = "eipaddr/"
)

// Tag is a resource tag.
type Tag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Account owns resources. The admin account may create accounts and keys.
type Account struct {
	ID        string    `json:"id"` // numeric string, like an Alibaba UID
	Name      string    `json:"name"`
	Admin     bool      `json:"admin"`
	CreatedAt time.Time `json:"created_at"`
}

// AccessKey authenticates requests of its account.
type AccessKey struct {
	ID        string    `json:"id"`
	Secret    string    `json:"secret"`
	AccountID string    `json:"account_id"`
	CreatedAt time.Time `json:"created_at"`
	// AgentZone, when set, makes this an agent key of the admin account:
	// it signs the agent actions only (mirroring the store, reporting),
	// for this zone only, so a remote agent's host never holds a key
	// that can change resources.
	AgentZone string `json:"agent_zone,omitempty"`
}

// VPC is a private network.
type VPC struct {
	ID             string         `json:"id"`
	AccountID      string         `json:"account_id"`
	Name           string         `json:"name"`
	Description    string         `json:"description"`
	CidrBlock      netip.Prefix   `json:"cidr_block"`
	SecondaryCidrs []netip.Prefix `json:"secondary_cidrs,omitempty"`
	Ipv6CidrBlock  netip.Prefix   `json:"ipv6_cidr_block"` // zero: IPv6 not enabled
	IsDefault      bool           `json:"is_default"`
	Status         string         `json:"status"` // Available
	VRouterID      string         `json:"vrouter_id"`
	RouteTableID   string         `json:"route_table_id"`
	ResourceGroup  string         `json:"resource_group,omitempty"`
	// DefaultSecurityGroupID is the group made when an instance is launched
	// in this VPC without one; empty until then.
	DefaultSecurityGroupID string    `json:"default_security_group_id,omitempty"`
	Tags                   []Tag     `json:"tags,omitempty"`
	CreatedAt              time.Time `json:"created_at"`
	// VNI identifies the VPC on the underlay between hosts (VXLAN), unique
	// in the store; 0 only in stores written before VNIs existed, until the
	// server assigns one at start.
	VNI uint32 `json:"vni,omitempty"`
}

// MaxVNI is the largest VXLAN network identifier (24 bits).
const MaxVNI = 1<<24 - 1

// Underlay is how the agent serving a zone is reached by the other hosts:
// VXLAN to UDP Port of Addr carries the packets between the VPC
// namespaces of different hosts.
type Underlay struct {
	ZoneID string     `json:"zone_id"`
	Addr   netip.Addr `json:"addr"`
	Port   uint16     `json:"port"`
}

// Joins reports whether the hosts of u and v are joined by the overlay
// (each agent makes the VXLAN to the other's): both have an address, of
// one family, on the same port, and the addresses differ. The agent
// joins its VPC namespaces to the hosts whose underlay it Joins, and the
// analyzer lets a packet between ENIs of one VPC in the two zones cross
// only then: otherwise nothing routes it between the hosts.
func (u Underlay) Joins(v Underlay) bool {
	return u.Addr.IsValid() && v.Addr.IsValid() && u.Port == v.Port &&
		u.Addr.Is4() == v.Addr.Is4() && u.Addr != v.Addr
}

// DefaultUnderlayPort is the UDP port of Palisade's VXLAN between hosts.
// It is not VXLAN's 4789, which Docker's overlay networks use: Palisade's
// tunnels must not share a socket, or network identifiers, with anyone
// else's on the host.
const DefaultUnderlayPort = 4798

// VSwitch is a zone-scoped subnet of a VPC.
type VSwitch struct {
	ID            string       `json:"id"`
	AccountID     string       `json:"account_id"`
	VpcID         string       `json:"vpc_id"`
	ZoneID        string       `json:"zone_id"`
	Name          string       `json:"name"`
	Description   string       `json:"description"`
	CidrBlock     netip.Prefix `json:"cidr_block"`
	Ipv6CidrBlock netip.Prefix `json:"ipv6_cidr_block"` // zero: no IPv6
	Status        string       `json:"status"`          // Available
	NetworkAclID  string       `json:"network_acl_id,omitempty"`
	Tags          []Tag        `json:"tags,omitempty"`
	CreatedAt     time.Time    `json:"created_at"`
}

// Security group types (API values of SecurityGroupType).
const (
	GroupTypeBasic    = "normal"
	GroupTypeAdvanced = "enterprise"
)

// InnerAccessPolicy values.
const (
	InnerAccept = "Accept"
	InnerDrop   = "Drop"
)

// SecurityGroup is a stateful firewall attached to ENIs.
type SecurityGroup struct {
	ID                string    `json:"id"`
	AccountID         string    `json:"account_id"`
	VpcID             string    `json:"vpc_id"`
	Name              string    `json:"name"`
	Description       string    `json:"description"`
	Type              string    `json:"type"`                // GroupTypeBasic or GroupTypeAdvanced
	InnerAccessPolicy string    `json:"inner_access_policy"` // InnerAccept or InnerDrop (advanced: always Drop)
	IsDefault         bool      `json:"is_default,omitempty"`
	ResourceGroup     string    `json:"resource_group,omitempty"`
	Rules             []Rule    `json:"rules"`
	Tags              []Tag     `json:"tags,omitempty"`
	CreatedAt         time.Time `json:"created_at"`
}

// Directions.
const (
	Ingress = "ingress"
	Egress  = "egress"
)

// Protocols, canonical spelling (the API is case-insensitive).
const (
	ProtoTCP    = "TCP"
	ProtoUDP    = "UDP"
	ProtoICMP   = "ICMP"
	ProtoICMPv6 = "ICMPv6"
	ProtoGRE    = "GRE"
	ProtoALL    = "ALL"
)

// Policies.
const (
	PolicyAccept = "accept"
	PolicyDrop   = "drop"
)

// PortRange is an inclusive range. For TCP/UDP 1..65535; {-1,-1} means all
// (protocols without ports). A zero value in an optional field means "any".
type PortRange struct {
	From int `json:"from"`
	To   int `json:"to"`
}

// IsZero reports whether the range is unset.
func (p PortRange) IsZero() bool { return p.From == 0 && p.To == 0 }

// Rule is one security group rule. For ingress the peer is the source and
// the local address is the destination (DestCidrIp); for egress the peer is
// the destination and the local address is the source (SourceCidrIp).
type Rule struct {
	ID        string `json:"id"` // sgr-...
	Direction string `json:"direction"`
	Protocol  string `json:"protocol"`
	// Ports is the destination port range; {-1,-1} for ICMP/ICMPv6/GRE/ALL.
	Ports PortRange `json:"ports"`
	// SourcePorts restricts the source port; zero means any.
	SourcePorts PortRange `json:"source_ports"`
	// Exactly one peer selector is set.
	PeerCidr         netip.Prefix `json:"peer_cidr"`           // IPv4 or IPv6 CIDR
	PeerGroupID      string       `json:"peer_group_id"`       // SourceGroupId / DestGroupId
	PeerGroupOwnerID string       `json:"peer_group_owner_id"` // account owning PeerGroupID (same account unless cross-account)
	PeerPrefixListID string       `json:"peer_prefix_list_id"`
	// LocalCidr restricts the ENI-side address; zero means any address of the ENI.
	LocalCidr   netip.Prefix `json:"local_cidr"`
	Policy      string       `json:"policy"`   // PolicyAccept or PolicyDrop
	Priority    int          `json:"priority"` // 1..100, smaller first
	NicType     string       `json:"nic_type"` // intranet
	Description string       `json:"description"`
	CreatedAt   time.Time    `json:"created_at"`
}

// Instance states.
const (
	InstancePending  = "Pending"
	InstanceRunning  = "Running"
	InstanceStopped  = "Stopped"
	InstanceStarting = "Starting"
	InstanceStopping = "Stopping"
)

// Instance is a network endpoint: on a host it is a network namespace.
type Instance struct {
	ID           string    `json:"id"`
	AccountID    string    `json:"account_id"`
	Name         string    `json:"name"`
	HostName     string    `json:"host_name"`
	Description  string    `json:"description"`
	ImageID      string    `json:"image_id"`
	InstanceType string    `json:"instance_type"`
	ZoneID       string    `json:"zone_id"`
	VpcID        string    `json:"vpc_id"`
	VSwitchID    string    `json:"vswitch_id"`
	PrimaryENIID string    `json:"primary_eni_id"`
	Status       string    `json:"status"`
	Tags         []Tag     `json:"tags,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
}

// ENI types and states.
const (
	ENITypePrimary   = "Primary"
	ENITypeSecondary = "Secondary"
	ENIAvailable     = "Available"
	ENIInUse         = "InUse"
	ENIAttaching     = "Attaching"
	ENIDetaching     = "Detaching"
)

// ENI is an elastic network interface.
type ENI struct {
	ID           string       `json:"id"`
	AccountID    string       `json:"account_id"`
	Name         string       `json:"name"`
	Description  string       `json:"description"`
	Type         string       `json:"type"` // ENITypePrimary or ENITypeSecondary
	VpcID        string       `json:"vpc_id"`
	VSwitchID    string       `json:"vswitch_id"`
	ZoneID       string       `json:"zone_id"`
	InstanceID   string       `json:"instance_id"`  // empty: not attached
	DeviceIndex  int          `json:"device_index"` // 0 for eth0, 1 for eth1, ...
	MAC          string       `json:"mac"`
	PrimaryIP    netip.Addr   `json:"primary_ip"`
	SecondaryIPs []netip.Addr `json:"secondary_ips,omitempty"`
	IPv6s        []netip.Addr `json:"ipv6s,omitempty"`
	// SecurityGroupIDs in the order they were joined; at most 10, all of one type.
	SecurityGroupIDs []string `json:"security_group_ids"`
	Status           string   `json:"status"`
	// EndpointID is set on the ENI a PrivateLink endpoint holds in one
	// zone (service-managed: not attachable, not deletable by hand); it
	// has no instance.
	EndpointID string    `json:"endpoint_id,omitempty"`
	Tags       []Tag     `json:"tags,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
}

// Addrs returns every address of the ENI (primary first).
func (e *ENI) Addrs() []netip.Addr {
	out := make([]netip.Addr, 0, 1+len(e.SecondaryIPs)+len(e.IPv6s))
	if e.PrimaryIP.IsValid() {
		out = append(out, e.PrimaryIP)
	}
	out = append(out, e.SecondaryIPs...)
	return append(out, e.IPv6s...)
}

// NetworkACL is a stateless filter of the vSwitches associated with it
// (VSwitch.NetworkAclID). The order of each entry list is its priority.
type NetworkACL struct {
	ID          string     `json:"id"`
	AccountID   string     `json:"account_id"`
	VpcID       string     `json:"vpc_id"`
	Name        string     `json:"name"`
	Description string     `json:"description"`
	Status      string     `json:"status"` // Available
	Ingress     []ACLEntry `json:"ingress"`
	Egress      []ACLEntry `json:"egress"`
	Tags        []Tag      `json:"tags,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
}

// ACL protocols (the API spells them in lowercase).
const (
	ACLProtoTCP  = "tcp"
	ACLProtoUDP  = "udp"
	ACLProtoICMP = "icmp"
	ACLProtoGRE  = "gre"
	ACLProtoAll  = "all"
)

// ACLEntry is one network ACL entry. Cidr is the source of an ingress
// entry and the destination of an egress entry; Ports always match the
// packet's destination port ({-1,-1} for protocols without ports).
type ACLEntry struct {
	ID          string       `json:"id"` // nae-...
	Name        string       `json:"name"`
	Description string       `json:"description"`
	Policy      string       `json:"policy"`   // PolicyAccept or PolicyDrop
	Protocol    string       `json:"protocol"` // ACLProto*
	Ports       PortRange    `json:"ports"`
	Cidr        netip.Prefix `json:"cidr"`
	EntryType   string       `json:"entry_type"` // custom
}

// EIP states.
const (
	EIPAvailable     = "Available"
	EIPInUse         = "InUse"
	EIPAssociating   = "Associating"
	EIPUnassociating = "Unassociating"
)

// EIP is an elastic (public) IP address: traffic to it reaches the private
// IP of the ENI it is associated with, and that ENI's traffic to the
// internet leaves with it as its source.
type EIP struct {
	ID                 string     `json:"id"` // eip-...
	AccountID          string     `json:"account_id"`
	Address            netip.Addr `json:"address"`
	Name               string     `json:"name"`
	Description        string     `json:"description"`
	Bandwidth          int        `json:"bandwidth"` // Mbit/s, recorded
	InternetChargeType string     `json:"internet_charge_type"`
	ISP                string     `json:"isp"`
	Status             string     `json:"status"`
	// Association: the instance or ENI as given, and the ENI and private
	// IP the address maps to. Empty when Available.
	InstanceID   string     `json:"instance_id,omitempty"`
	InstanceType string     `json:"instance_type,omitempty"` // EcsInstance or NetworkInterface
	ENIID        string     `json:"eni_id,omitempty"`
	PrivateIP    netip.Addr `json:"private_ip"`
	VpcID        string     `json:"vpc_id,omitempty"`
	ZoneID       string     `json:"zone_id,omitempty"`
	CreatedAt    time.Time  `json:"created_at"`
}

// ZoneStatus is written by the agent that serves a zone.
type ZoneStatus struct {
	ZoneID   string    `json:"zone_id"`
	Host     string    `json:"host"`
	LastSeen time.Time `json:"last_seen"`
	// AppliedRevision is the store revision the kernel reflects.
	AppliedRevision int64 `json:"applied_revision"`
	// Agent is set by agents' heartbeats (RegisterZone); a zone recorded
	// only by an in-process agent at startup leaves it false.
	Agent bool `json:"agent,omitempty"`
}
