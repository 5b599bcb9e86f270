package model

import (
	"net/netip"
	"time"
)

// Cloud Firewall (the Internet firewall) store prefixes. All are mirrored
// to agents: each host filters the public traffic of its EIPs.
const (
	// PrefixFirewallPolicy + ID -> FirewallPolicy.
	PrefixFirewallPolicy = "cfwpol/"
	// PrefixAddressBook + ID -> AddressBook.
	PrefixAddressBook = "cfwbook/"
	// PrefixFirewallOff + accountID + "/" + public IP -> "": the Internet
	// firewall is switched off for that EIP (PutDisableFwSwitch). It is on
	// for every other EIP of the account.
	PrefixFirewallOff = "cfwoff/"
)

// Internet-firewall values (Alibaba spelling).
const (
	FirewallIn  = "in"  // from the internet to an EIP
	FirewallOut = "out" // from an EIP to the internet

	FirewallAccept = "accept"
	FirewallDrop   = "drop"
	FirewallLog    = "log" // allow, and count as a hit

	FirewallNet   = "net"   // Source/Destination is a CIDR
	FirewallGroup = "group" // Source/Destination is an address book's name
	// FirewallDomain: Destination is a domain name (an "out" policy of
	// the Internet firewall, or a NAT-firewall policy), matched by the
	// addresses the server's resolver last found for it
	// (DomainResolution, DomainResolveType FirewallResolveDNS).
	FirewallDomain = "domain"
	// FirewallResolveDNS is DomainResolveType 1: the domain is resolved
	// by DNS and its addresses are matched (the cloud's 0, FQDN, and 2,
	// FQDN and DNS, inspect TLS SNI and HTTP Host, which Palisade does
	// not do).
	FirewallResolveDNS = 1

	FirewallPort      = "port"  // DestPort is a port or a range "80/88"
	FirewallPortGroup = "group" // DestPortGroup is a port address book

	FirewallProtoANY  = "ANY"
	FirewallProtoTCP  = "TCP"
	FirewallProtoUDP  = "UDP"
	FirewallProtoICMP = "ICMP"

	AddressBookIP   = "ip"
	AddressBookPort = "port"
)

// FirewallPolicy is one Internet-firewall access-control policy. The
// policies of one account and direction are tried in Order (1 first); the
// first that matches a new connection decides; none matching allows it.
// Established connections are not judged again.
type FirewallPolicy struct {
	ID        string `json:"id"` // AclUuid
	AccountID string `json:"account_id"`
	// VpcFirewallID is set for a policy of a VPC firewall (stored under
	// PrefixVpcFirewallPolicy): it has no Direction, its Order is
	// contiguous per firewall, and Source and Destination may be either
	// side of the peering.
	VpcFirewallID string `json:"vpc_firewall_id,omitempty"`
	// NatGatewayID is set for a policy of the NAT firewall of that NAT
	// gateway (stored under PrefixNatFirewallPolicy): Direction is "out",
	// its Order is contiguous per gateway, its Source is on the private
	// side (before the gateway translates it) and its Destination on the
	// internet.
	NatGatewayID string `json:"nat_gateway_id,omitempty"`
	Direction    string `json:"direction"` // FirewallIn or FirewallOut (Internet firewall)
	Order        int    `json:"order"`     // 1..n, contiguous per account and direction
	Action       string `json:"action"`    // FirewallAccept, FirewallDrop or FirewallLog
	Description  string `json:"description"`
	// Source and Destination are a CIDR (type FirewallNet) or an address
	// book's name (FirewallGroup). For "in" the destination is the EIP
	// side, for "out" the source is.
	Source          string `json:"source"`
	SourceType      string `json:"source_type"`
	Destination     string `json:"destination"`
	DestinationType string `json:"destination_type"`
	Proto           string `json:"proto"` // FirewallProto*
	// Ports (TCP and UDP): DestPort "80" or "80/88" (DestPortType
	// FirewallPort), or the port book DestPortGroup (FirewallPortGroup);
	// empty: every port.
	DestPort         string   `json:"dest_port"`
	DestPortType     string   `json:"dest_port_type"`
	DestPortGroup    string   `json:"dest_port_group"`
	ApplicationNames []string `json:"application_names"`
	// DomainResolveType is FirewallResolveDNS for a domain Destination.
	DomainResolveType int       `json:"domain_resolve_type,omitempty"`
	Enabled           bool      `json:"enabled"` // Release
	CreatedAt         time.Time `json:"created_at"`
	// UpdatedAt is the last change of the policy's fields (ModifyTime;
	// not its order).
	UpdatedAt time.Time `json:"updated_at"`
}

// AddressBook is a named list of CIDRs (AddressBookIP) or ports
// (AddressBookPort: "80" or "80/88") policies refer to by name.
type AddressBook struct {
	ID          string    `json:"id"` // GroupUuid
	AccountID   string    `json:"account_id"`
	Name        string    `json:"name"`
	Type        string    `json:"type"`
	Description string    `json:"description"`
	Addresses   []string  `json:"addresses"`
	CreatedAt   time.Time `json:"created_at"`
}

// FirewallOffKey is the store key that switches the firewall off for ip.
func FirewallOffKey(accountID string, ip netip.Addr) string {
	return PrefixFirewallOff + accountID + "/" + ip.String()
}

// PrefixFirewallHits + policy ID -> FirewallHits: the new connections a
// policy has decided, as the agents counted them in the kernel (not
// mirrored to agents).
const PrefixFirewallHits = "cfwhit/"

// FirewallHits counts a policy's hits (HitTimes, HitLastTime).
type FirewallHits struct {
	PolicyID string    `json:"policy_id"`
	Hits     int64     `json:"hits"`
	LastHit  time.Time `json:"last_hit"`
}

// PrefixFirewallTrafficLog + accountID + "/" + 20-digit unix nanoseconds
// + "-" + random suffix -> FirewallTrafficLog: Cloud Firewall traffic
// logs, bounded per account (oldest dropped first; not mirrored to
// agents).
const PrefixFirewallTrafficLog = "cfwlog/"

// Cloud Firewall log types (the log_type field of Cloudfw traffic logs).
const (
	FirewallLogTypeInternet = "internet_log"
	FirewallLogTypeNAT      = "nat_firewall_log"
	FirewallLogTypeVPC      = "vpc_firewall_log"
)

// FirewallTrafficLog is one new connection that a Cloud Firewall policy
// whose action is drop or log decided (accept policies are counted, not
// logged). Agents fill Time, PolicyID, VpcID and the packet's fields as
// the kernel judged it; the server fills the rest from the policy when it
// stores the record (agents are not trusted with tenancy).
type FirewallTrafficLog struct {
	AccountID string    `json:"account_id,omitempty"`
	Time      time.Time `json:"time"`
	PolicyID  string    `json:"policy_id"`
	// VpcID is the VPC whose namespace judged the connection.
	VpcID   string     `json:"vpc_id"`
	Src     netip.Addr `json:"src"`
	Dst     netip.Addr `json:"dst"`
	SrcPort uint16     `json:"src_port,omitempty"`
	DstPort uint16     `json:"dst_port,omitempty"`
	Proto   uint8      `json:"proto"` // IP protocol number
	// Set by the server: the firewall (FirewallLogTypeInternet,
	// FirewallLogTypeNAT, FirewallLogTypeVPC), the policy's Direction
	// ("in" or "out"; empty for the VPC firewall), its action when the
	// record was stored (drop or log), the NAT gateway or VPC firewall
	// ID, and the destination domain of a domain policy (Dst was one of
	// its addresses).
	LogType    string `json:"log_type,omitempty"`
	Direction  string `json:"direction,omitempty"`
	Action     string `json:"action,omitempty"`
	FirewallID string `json:"firewall_id,omitempty"`
	Domain     string `json:"domain,omitempty"`
}

// PrefixDomainResolution + domain -> DomainResolution: the addresses of a
// domain that an enabled policy names, as the server's resolver last
// found them (mirrored to agents, which match them; the analyzer reads
// the same).
const PrefixDomainResolution = "cfwdns/"

// DomainResolution is what DNS answered for a domain: its IPv4 addresses,
// sorted. A failed lookup keeps the addresses of the last one that
// succeeded and records its error.
type DomainResolution struct {
	Domain     string       `json:"domain"` // lowercase, no final dot
	Addrs      []netip.Addr `json:"addrs"`
	ResolvedAt time.Time    `json:"resolved_at"`
	Error      string       `json:"error,omitempty"`
}
