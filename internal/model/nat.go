package model

import (
	"net/netip"
	"time"
)

// Internet NAT gateways (Vpc 2016-04-28, the enhanced type) store keys.
// A NAT gateway sits in one vSwitch of its VPC (so in one zone, served by
// that zone's agent) and translates with the EIPs associated with it
// (EIP.InstanceType EIPInstanceNat): SNAT entries give the instances of a
// source range a public address for their connections to the internet,
// forward (DNAT) entries open a public address and port to one private
// address and port.
const (
	PrefixNatGateway   = "natgw/"    // + ngw-ID -> NatGateway
	PrefixSnatEntry    = "snat/"     // + snat-ID -> SnatEntry
	PrefixForwardEntry = "fwdentry/" // + fwd-ID -> ForwardEntry
	// PrefixNatFirewallPolicy + ID -> FirewallPolicy with NatGatewayID
	// set (Direction "out"): the access-control policies of Cloud
	// Firewall's NAT firewall on that gateway.
	PrefixNatFirewallPolicy = "nfwpol/"
)

// EIPInstanceNat is EIP.InstanceType of an EIP associated with a NAT
// gateway (InstanceID is then the ngw- ID; ENIID and PrivateIP are empty).
const EIPInstanceNat = "Nat"

// NAT gateway, SNAT entry and forward entry states.
const (
	NatGatewayAvailable = "Available"
	NatEntryAvailable   = "Available"
)

// RouteNextHopNat is RouteEntry.NextHopType of a route to a NAT gateway:
// the destinations the VPC sends to the internet through it (SNAT applies
// to them only).
const RouteNextHopNat = "NatGateway"

// NAT forward entry protocols (ForwardEntry.IpProtocol). With
// NatProtoAny the entry is an IP mapping: every port of ExternalIP goes to
// InternalIP, and InternalIP's own connections to the internet leave with
// ExternalIP.
const (
	NatProtoTCP = "TCP"
	NatProtoUDP = "UDP"
	NatProtoAny = "Any"
)

// NatGateway is an Internet NAT gateway (NatType Enhanced, NetworkType
// internet).
type NatGateway struct {
	ID          string `json:"id"` // ngw-...
	AccountID   string `json:"account_id"`
	VpcID       string `json:"vpc_id"`
	VSwitchID   string `json:"vswitch_id"`
	ZoneID      string `json:"zone_id"` // the vSwitch's
	Name        string `json:"name"`
	Description string `json:"description"`
	NatType     string `json:"nat_type"`     // Enhanced
	NetworkType string `json:"network_type"` // internet
	// Spec, charge types and EipBindMode are recorded and shown.
	Spec               string `json:"spec,omitempty"`
	InstanceChargeType string `json:"instance_charge_type"`
	InternetChargeType string `json:"internet_charge_type"`
	EipBindMode        string `json:"eip_bind_mode"`
	// IcmpReplyEnabled: the gateway answers echo requests to its EIPs.
	IcmpReplyEnabled   bool `json:"icmp_reply_enabled"`
	DeletionProtection bool `json:"deletion_protection"`
	// PrivateIP is the gateway's address in its vSwitch (held in the
	// vSwitch's IPAM while the gateway exists).
	PrivateIP      netip.Addr `json:"private_ip"`
	Status         string     `json:"status"`
	SnatTableID    string     `json:"snat_table_id"`    // stb-...
	ForwardTableID string     `json:"forward_table_id"` // ftb-...
	Tags           []Tag      `json:"tags,omitempty"`
	CreatedAt      time.Time  `json:"created_at"`
}

// SnatEntry translates the connections that sources in SourceCIDR open to
// the internet (destinations the VPC routes to the gateway) to one of
// SnatIPs (EIP addresses associated with the gateway). SourceVSwitchID is
// set when the entry was made for a vSwitch (SourceCIDR is then its CIDR
// block). Where entries overlap, the most specific source wins; an ENI
// address with an EIP of its own keeps using that EIP.
type SnatEntry struct {
	ID              string       `json:"id"` // snat-...
	AccountID       string       `json:"account_id"`
	NatGatewayID    string       `json:"nat_gateway_id"`
	SnatTableID     string       `json:"snat_table_id"`
	VpcID           string       `json:"vpc_id"`
	Name            string       `json:"name"`
	SourceVSwitchID string       `json:"source_vswitch_id,omitempty"`
	SourceCIDR      netip.Prefix `json:"source_cidr"`
	SnatIPs         []netip.Addr `json:"snat_ips"`
	EipAffinity     int          `json:"eip_affinity"`
	Status          string       `json:"status"`
	CreatedAt       time.Time    `json:"created_at"`
}

// ForwardEntry (DNAT) sends new connections from the internet to
// ExternalIP (an EIP associated with the gateway) and ExternalPort with
// IpProtocol to InternalIP and InternalPort. With IpProtocol NatProtoAny
// both ports are 0 (every port, the same one inside).
type ForwardEntry struct {
	ID             string     `json:"id"` // fwd-...
	AccountID      string     `json:"account_id"`
	NatGatewayID   string     `json:"nat_gateway_id"`
	ForwardTableID string     `json:"forward_table_id"`
	VpcID          string     `json:"vpc_id"`
	Name           string     `json:"name"`
	ExternalIP     netip.Addr `json:"external_ip"`
	ExternalPort   uint16     `json:"external_port"`
	IpProtocol     string     `json:"ip_protocol"` // NatProto*
	InternalIP     netip.Addr `json:"internal_ip"`
	InternalPort   uint16     `json:"internal_port"`
	PortBreak      bool       `json:"port_break"`
	Status         string     `json:"status"`
	CreatedAt      time.Time  `json:"created_at"`
}
