package model

import (
	"net/netip"
	"strings"
	"time"
)

// VPC peering (product VpcPeer, 2022-01-01), the custom route entries
// that send traffic over a peering (VPC 2016-04-28), and Cloud Firewall's
// VPC firewall on a peering (Cloudfw 2017-12-07). All are mirrored to
// agents: a host links the namespaces of two peered VPCs, routes what the
// route entries say, and filters what the VPC firewall says.
const (
	// PrefixPeerConnection + ID -> PeerConnection.
	PrefixPeerConnection = "pcc/"
	// PrefixRouteEntry + ID -> RouteEntry.
	PrefixRouteEntry = "rte/"
	// PrefixVpcFirewall + ID -> VpcFirewall.
	PrefixVpcFirewall = "vfw/"
	// PrefixVpcFirewallPolicy + ID -> FirewallPolicy with VpcFirewallID
	// set (Direction empty): the VPC firewall's access-control policies.
	PrefixVpcFirewallPolicy = "vfwpol/"
)

// Peering connection states (Alibaba spelling).
const (
	// PeerAccepting: created across accounts, waiting for the accepting
	// account's AcceptVpcPeerConnection. Nothing crosses yet.
	PeerAccepting = "Accepting"
	// PeerActivated: traffic crosses where route entries send it. A
	// peering within one account is activated when it is created.
	PeerActivated = "Activated"
	// PeerRejected: the accepting account refused it (RejectVpcPeerConnection).
	PeerRejected = "Rejected"
)

// PeerConnection connects two VPCs of one region (a requester's and an
// accepter's, possibly of another account). Only an Activated connection
// carries traffic, and only where each side's route entries send it: a
// peering adds no routes by itself, as in Alibaba Cloud. The two VPCs may
// not overlap where routes send traffic (a route entry may not cover the
// VPC's own CIDR).
type PeerConnection struct {
	ID                 string    `json:"id"` // pcc-...
	AccountID          string    `json:"account_id"`
	VpcID              string    `json:"vpc_id"`
	AcceptingAccountID string    `json:"accepting_account_id"`
	AcceptingVpcID     string    `json:"accepting_vpc_id"`
	Name               string    `json:"name"`
	Description        string    `json:"description"`
	Status             string    `json:"status"`
	Bandwidth          int       `json:"bandwidth"` // Mbit/s, informational (1024 by default)
	CreatedAt          time.Time `json:"created_at"`
}

// Other returns the VPC at the other end from vpcID ("" if vpcID is not
// an end of p).
func (p PeerConnection) Other(vpcID string) string {
	switch vpcID {
	case p.VpcID:
		return p.AcceptingVpcID
	case p.AcceptingVpcID:
		return p.VpcID
	}
	return ""
}

// TunnelVPC is, of p's two VPCs, the one whose overlay carries a packet
// between an ENI of each on two hosts: the lower ID. Such a packet, either
// way, crosses p on the host of the other VPC's ENI (the tunnel VPC's
// namespace there links to the other's), so one host's conntrack and VPC
// firewall see both directions of a connection.
func (p PeerConnection) TunnelVPC() string {
	return min(p.VpcID, p.AcceptingVpcID)
}

// Route-entry values (Alibaba spelling).
const (
	// RouteNextHopPeer sends the destination over a VPC peering
	// connection (NextHopId pcc-...). A custom route entry's next hop is
	// a peering connection or a NAT gateway (RouteNextHopNat, nat.go).
	RouteNextHopPeer = "VpcPeer"
	RouteTypeCustom  = "Custom"
	RouteTypeSystem  = "System"
	// RouteAvailable is a route entry's Status.
	RouteAvailable = "Available"
)

// RouteEntry is a custom route entry of a VPC's system route table: the
// VPC forwards packets to DestinationCidr over the peering NextHopID, or
// to the NAT gateway NextHopID (NextHopType RouteNextHopNat). The most
// specific entry wins; the VPC's own vSwitch CIDRs (system entries) are
// never overridden (a custom entry may not lie inside the VPC's CIDR; one
// to a NAT gateway may cover it, as 0.0.0.0/0 does).
type RouteEntry struct {
	ID              string       `json:"id"` // rte-...
	AccountID       string       `json:"account_id"`
	VpcID           string       `json:"vpc_id"`
	DestinationCidr netip.Prefix `json:"destination_cidr"`
	NextHopType     string       `json:"next_hop_type"` // RouteNextHopPeer or RouteNextHopNat
	NextHopID       string       `json:"next_hop_id"`
	Name            string       `json:"name"`
	Description     string       `json:"description"`
	CreatedAt       time.Time    `json:"created_at"`
}

// SystemRouteTableID is the ID of the system route table of a VPC stored
// without one (VPC.RouteTableID, given at creation, names it otherwise).
func SystemRouteTableID(vpcID string) string {
	return "vtb-" + strings.TrimPrefix(vpcID, "vpc-")
}

// VpcFirewall is Cloud Firewall's VPC firewall on the peering between
// LocalVpcID and PeerVpcID (CreateVpcFirewallConfigure). While Enabled
// (FirewallSwitch "opened"), every new connection crossing the peering, in
// either direction, meets its policies in Order: the first that matches
// decides (accept, drop, or log = accept and count), none matching allows
// it. Established connections are not judged again.
type VpcFirewall struct {
	ID               string    `json:"id"` // vfw-...
	AccountID        string    `json:"account_id"`
	Name             string    `json:"name"`
	LocalVpcID       string    `json:"local_vpc_id"`
	PeerVpcID        string    `json:"peer_vpc_id"`
	PeerConnectionID string    `json:"peer_connection_id"`
	Enabled          bool      `json:"enabled"`
	CreatedAt        time.Time `json:"created_at"`
}

// VPC-firewall switch values (FirewallSwitch, FirewallSwitchStatus).
const (
	VpcFirewallOpened = "opened"
	VpcFirewallClosed = "closed"
)
