// Package dataplane holds the desired state of one host's kernel data plane
// as plain values. It knows nothing of the API or the store: the agent
// translates stored resources into a Host and hands it to an applier (see
// the linux subpackage), so dependencies point inward.
package dataplane

import "net/netip"

// Host is everything one host must have in its kernel.
type Host struct {
	VPCs []VPC
}

// VPC is one router namespace and the ENIs routed through it.
type VPC struct {
	// ID is the VPC's ID (vpc-...); the namespace carries exactly this name.
	ID string
	// Gateways holds one prefix per vSwitch: the gateway address with the
	// vSwitch's prefix length (192.168.1.253/24), IPv6 too when enabled.
	Gateways []netip.Prefix
	ENIs     []ENI
}

// ENI is one elastic network interface attached to an instance.
type ENI struct {
	ID         string
	InstanceID string
	// DeviceIndex N makes the interface eth<N> inside the instance.
	DeviceIndex int
	MAC         string
	// Addrs lists the primary IPv4 address first, then secondaries, then IPv6.
	Addrs        []netip.Addr
	VSwitchCidr  netip.Prefix
	VSwitchCidr6 netip.Prefix // zero: no IPv6
	Gateway      netip.Addr
	Gateway6     netip.Addr // zero: no IPv6
}

// Status reports what an Apply achieved.
type Status struct {
	// ENIs is keyed by ENI ID and holds every ENI of the desired Host.
	ENIs map[string]ENIStatus
}

// ENIStatus says whether an ENI is fully in place in the kernel.
type ENIStatus struct {
	Ready bool
	// Error explains why the ENI is not ready; empty when Ready.
	Error string
}

// Ready reports whether the ENI with the given ID is fully in place.
func (s Status) Ready(eniID string) bool {
	return s.ENIs[eniID].Ready
}
