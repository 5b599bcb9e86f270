package model

import (
	"net/netip"
	"strings"
	"time"
)

// PrivateLink store prefixes. Both are mirrored to agents: the host of a
// connected endpoint's zone joins the consumer and provider VPCs.
const (
	// PrefixEndpointService + ID -> EndpointService.
	PrefixEndpointService = "epsrv/"
	// PrefixEndpoint + ID -> Endpoint.
	PrefixEndpoint = "ep/"
	// PrefixEndpointTransit + address -> the ID of the endpoint whose zone
	// holds that TransitAddr (an address is given out once). Server-side
	// bookkeeping, not mirrored to agents: the endpoints carry their
	// addresses.
	PrefixEndpointTransit = "eptransit/"
)

// PrivateLink values (Alibaba spelling).
const (
	// EndpointResourceECS and EndpointResourceSLB are the service
	// resources Palisade serves: instances of the provider's VPC
	// (connections are spread at random over those of the endpoint's
	// zone, on the same port), or internal load balancers of it (a
	// connection to a port of the endpoint goes to the load balancer's
	// listener on that port, which picks a backend as for its own
	// clients).
	EndpointResourceECS = "ecs"
	EndpointResourceSLB = "slb"

	EndpointConnected    = "Connected"
	EndpointDisconnected = "Disconnected"
	EndpointRejected     = "Rejected"
)

// TransitRange holds the addresses provider instances see PrivateLink
// connections come from: one per endpoint zone, never a VPC address
// (VPC CIDRs may not overlap 100.64.0.0/10), so both sides may use
// overlapping CIDRs. A provider's security groups must admit it.
var TransitRange = netip.MustParsePrefix("100.64.0.0/10")

// EndpointServiceResource is an instance or a load balancer backing a
// service.
type EndpointServiceResource struct {
	ResourceID   string `json:"resource_id"`   // i-... or lb-...
	ResourceType string `json:"resource_type"` // EndpointResourceECS or EndpointResourceSLB
	ZoneID       string `json:"zone_id"`
}

// EndpointService is a provider's PrivateLink service.
type EndpointService struct {
	ID          string `json:"id"` // epsrv-...
	AccountID   string `json:"account_id"`
	RegionID    string `json:"region_id"`
	Name        string `json:"name"`   // com.aliyuncs.privatelink.<region>.<id>
	Domain      string `json:"domain"` // <id>.<region>.privatelink.<domain>
	Description string `json:"description"`
	VpcID       string `json:"vpc_id"` // of its resources (one VPC)
	// ResourceType is the ServiceResourceType: the type of all its
	// resources, kept while it has none (EndpointResourceECS or
	// EndpointResourceSLB; "" in records written before load balancers
	// could back a service means EndpointResourceECS). Read it with
	// Type.
	ResourceType string                    `json:"resource_type,omitempty"`
	Resources    []EndpointServiceResource `json:"resources"`
	AutoAccept   bool                      `json:"auto_accept"`
	// Users are the accounts allowed to connect besides the owner, in the
	// order they were added; the owner always may and is never listed.
	Users     []string  `json:"users"`
	Status    string    `json:"status"` // Active
	CreatedAt time.Time `json:"created_at"`
	// ResourceGroupID and Tags are the API's labels (no effect).
	ResourceGroupID string `json:"resource_group_id,omitempty"`
	Tags            []Tag  `json:"tags,omitempty"`
}

// Type is the service's ServiceResourceType (EndpointResourceECS for old
// records without one).
func (sv *EndpointService) Type() string {
	if sv.ResourceType == "" {
		return EndpointResourceECS
	}
	return sv.ResourceType
}

// EndpointZone is an endpoint's presence in one zone: its ENI there (in a
// consumer vSwitch, with the endpoint's address) and the transit address
// its connections have on the provider side.
type EndpointZone struct {
	ZoneID    string     `json:"zone_id"`
	VSwitchID string     `json:"vswitch_id"`
	ENIID     string     `json:"eni_id"`
	Addr      netip.Addr `json:"addr"`
	// TransitAddr is unique among all endpoint zones, in TransitRange.
	TransitAddr netip.Addr `json:"transit_addr"`
}

// PrivateLinkDomain is the DNS suffix of services and endpoints
// (<service id>.<region>.PrivateLinkDomain), served by each VPC's
// resolver.
const PrivateLinkDomain = "privatelink.palisade.local"

// ZoneDomain is the DNS name of one zone of the endpoint.
func (ep *Endpoint) ZoneDomain(zoneID string) string {
	_, svcDomain, _ := strings.Cut(ep.Domain, ".")
	return ep.ID + "-" + zoneID + "." + svcDomain
}

// Endpoint is a consumer's interface endpoint of a service.
type Endpoint struct {
	ID               string         `json:"id"` // ep-...
	AccountID        string         `json:"account_id"`
	RegionID         string         `json:"region_id"`
	Name             string         `json:"name"`
	Description      string         `json:"description"`
	VpcID            string         `json:"vpc_id"` // consumer VPC
	ServiceID        string         `json:"service_id"`
	ServiceName      string         `json:"service_name"`
	SecurityGroupIDs []string       `json:"security_group_ids"`
	Zones            []EndpointZone `json:"zones"`
	// ConnectionStatus: EndpointConnected carries traffic; anything else
	// (awaiting acceptance, disabled by the provider) carries none.
	ConnectionStatus string    `json:"connection_status"`
	Status           string    `json:"status"` // Active
	Domain           string    `json:"domain"` // ep-<id>.<service domain>
	CreatedAt        time.Time `json:"created_at"`
	// ServiceAccountID is the account of the service (the provider).
	ServiceAccountID string `json:"service_account_id"`
	// ConnectionChangedAt is when ConnectionStatus last changed (creation
	// included).
	ConnectionChangedAt time.Time `json:"connection_changed_at"`
	// ResourceGroupID and Tags are the API's labels (no effect).
	ResourceGroupID string `json:"resource_group_id,omitempty"`
	Tags            []Tag  `json:"tags,omitempty"`
}
