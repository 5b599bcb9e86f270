package model

import (
	"net/netip"
	"time"
)

// Server Load Balancer (SLB, classic load balancer: CLB) store prefixes.
// Both are mirrored to agents: the agent of a load balancer's zone
// programs its address and probes its backends.
const (
	// PrefixLoadBalancer + ID -> LoadBalancer (its listeners and backend
	// servers inside).
	PrefixLoadBalancer = "slb/"
	// PrefixLBACL + ID -> LBAccessControlList (mirrored to agents: the
	// listeners that use one filter their clients by it).
	PrefixLBACL = "slbacl/"
	// PrefixLBHealth + load balancer ID -> LBHealth, written by the agent
	// of the load balancer's zone (an agent action), read by
	// DescribeHealthStatus.
	PrefixLBHealth = "slbhealth/"
)

// SLB values (Alibaba spelling).
const (
	// LBAddressIntranet is the one address type Palisade serves: an
	// internal-facing load balancer with an address of one vSwitch.
	LBAddressIntranet = "intranet"
	LBAddressInternet = "internet"

	LBStatusActive   = "active"
	LBStatusInactive = "inactive"

	LBProtocolTCP = "tcp"
	LBProtocolUDP = "udp"

	// Schedulers Palisade serves: weighted random (wrr: each new
	// connection goes to a backend with a probability proportional to
	// its weight) and round robin (rr: in turn).
	LBSchedulerWRR = "wrr"
	LBSchedulerRR  = "rr"

	ListenerRunning  = "running"
	ListenerStopped  = "stopped"
	ListenerStarting = "starting"

	// Backend health, as DescribeHealthStatus spells it.
	LBHealthNormal      = "normal"
	LBHealthAbnormal    = "abnormal"
	LBHealthUnavailable = "unavailable"

	LBBackendECS = "ecs"

	// Access control of a listener (AclStatus, AclType).
	LBACLOn    = "on"
	LBACLOff   = "off"
	LBACLWhite = "white"
	LBACLBlack = "black"
)

// LoadBalancer is an internal-facing classic load balancer: an address
// in a vSwitch that spreads the connections to its listeners' ports over
// its backend servers (instances of its VPC), keeping the client's
// address (layer 4, like CLB's TCP and UDP listeners).
type LoadBalancer struct {
	ID          string     `json:"id"` // lb-...
	AccountID   string     `json:"account_id"`
	RegionID    string     `json:"region_id"`
	Name        string     `json:"name"`
	AddressType string     `json:"address_type"` // LBAddressIntranet
	VpcID       string     `json:"vpc_id"`
	VSwitchID   string     `json:"vswitch_id"`
	ZoneID      string     `json:"zone_id"` // the vSwitch's
	Address     netip.Addr `json:"address"` // of the vSwitch, held in its IPAM
	// Status: LBStatusActive serves; LBStatusInactive (SetLoadBalancerStatus)
	// serves nothing.
	Status    string       `json:"status"`
	Listeners []LBListener `json:"listeners"` // sorted by (Port, Protocol)
	Backends  []LBBackend  `json:"backends"`  // in the order they were added
	CreatedAt time.Time    `json:"created_at"`
	// DeleteProtection refuses DeleteLoadBalancer while on.
	DeleteProtection bool `json:"delete_protection,omitempty"`
	// ResourceGroupID and Tags are the API's labels (no effect).
	ResourceGroupID string `json:"resource_group_id,omitempty"`
	Tags            []Tag  `json:"tags,omitempty"`
}

// LBListener is one (protocol, port) of a load balancer. A TCP and a UDP
// listener may share a port.
type LBListener struct {
	Protocol    string `json:"protocol"` // LBProtocolTCP or LBProtocolUDP
	Port        int    `json:"port"`     // 1-65535
	BackendPort int    `json:"backend_port"`
	Scheduler   string `json:"scheduler"` // LBSchedulerWRR or LBSchedulerRR
	// Status: ListenerStopped when created; ListenerRunning after
	// StartLoadBalancerListener. Only running listeners carry traffic.
	Status      string        `json:"status"`
	Description string        `json:"description,omitempty"`
	Bandwidth   int           `json:"bandwidth"` // -1: not limited (the only value for intranet)
	HealthCheck LBHealthCheck `json:"health_check"`
	// AclStatus LBACLOn filters new connections by the access control
	// list AclID: AclType LBACLWhite admits only its entries' addresses,
	// LBACLBlack refuses them; a list without entries admits everyone
	// either way (as the cloud documents). Off (or ""): no filter.
	AclStatus string `json:"acl_status,omitempty"`
	AclType   string `json:"acl_type,omitempty"`
	AclID     string `json:"acl_id,omitempty"`
}

// LBAccessControlList is a list of client addresses that listeners admit
// (whitelist) or refuse (blacklist).
type LBAccessControlList struct {
	ID               string       `json:"id"` // acl-...
	AccountID        string       `json:"account_id"`
	RegionID         string       `json:"region_id"`
	Name             string       `json:"name"`
	AddressIPVersion string       `json:"address_ip_version"` // ipv4
	Entries          []LBACLEntry `json:"entries"`
	CreatedAt        time.Time    `json:"created_at"`
	ResourceGroupID  string       `json:"resource_group_id,omitempty"`
	Tags             []Tag        `json:"tags,omitempty"`
}

// LBACLEntry is one address or CIDR block of a list.
type LBACLEntry struct {
	Entry   netip.Prefix `json:"entry"`
	Comment string       `json:"comment,omitempty"`
}

// LBHealthCheck is how the agent probes a listener's backends: a TCP
// connection (TCP listeners) or a datagram that must not be answered with
// ICMP port unreachable (UDP listeners), from the load balancer's
// address.
type LBHealthCheck struct {
	Enabled bool `json:"enabled"` // HealthCheck / HealthCheckSwitch "on"
	// ConnectPort: 0 means the backend port.
	ConnectPort        int `json:"connect_port,omitempty"`
	Interval           int `json:"interval"`            // seconds, 1-50 (default 2)
	ConnectTimeout     int `json:"connect_timeout"`     // seconds, 1-300 (default 5)
	HealthyThreshold   int `json:"healthy_threshold"`   // 2-10 (default 3)
	UnhealthyThreshold int `json:"unhealthy_threshold"` // 2-10 (default 3)
}

// LBBackend is a backend server: an instance of the load balancer's VPC
// (its primary ENI's primary address receives the connections).
type LBBackend struct {
	ServerID    string `json:"server_id"` // i-...
	Type        string `json:"type"`      // LBBackendECS
	Weight      int    `json:"weight"`    // 0-100; 0 takes no new connections
	Description string `json:"description,omitempty"`
}

// LBHealth is the last health of a load balancer's backends, per listener,
// as the agent of its zone saw it.
type LBHealth struct {
	LoadBalancerID string             `json:"load_balancer_id"`
	Listeners      []LBListenerHealth `json:"listeners"`
	UpdatedAt      time.Time          `json:"updated_at"`
}

// LBListenerHealth is one listener's backends' health.
type LBListenerHealth struct {
	Protocol string           `json:"protocol"`
	Port     int              `json:"port"`
	Servers  []LBServerHealth `json:"servers"`
}

// LBServerHealth is one backend's health on one listener.
type LBServerHealth struct {
	ServerID string `json:"server_id"`
	Status   string `json:"status"` // LBHealthNormal, LBHealthAbnormal
}
