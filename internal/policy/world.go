// Package policy is the pure model of Palisade's security-group and
// network-ACL semantics (SEMANTICS.md Part A, "Security groups" and
// "Network ACLs"; ACL decisions are documented in acl.go): an evaluator that returns the
// verdict of one packet with the reason that decided it, and a compiler that
// turns the same rules into the interval-set shape the nftables data plane
// loads. It touches neither the kernel nor the store, so the evaluator can be
// used as the oracle of differential tests against the kernel.
//
// Decisions taken here where SEMANTICS.md leaves room (the evaluator and
// the compiler share the code that implements them):
//   - Rule order: priority ascending, drop before accept at equal priority,
//     then the order of the groups on the ENI, then rule order in a group.
//     The last two only change which rule a trace names, never the verdict.
//   - Prefix-list peers are not modelled: such rules never match.
//   - A group reference matches a peer address held by an ENI of the local
//     ENI's VPC that is a member of the referenced group; members outside
//     the group's VPC, unknown groups and groups of another VPC match none.
//   - An ENI with no group, or with a group that does not exist, passes
//     nothing either way (fail closed). An ENI mixing basic and advanced
//     groups (forbidden by the API) gets the advanced defaults.
//   - Rules do not filter on ICMP type or code; a rule whose address
//     families disagree (ICMP with an IPv6 CIDR, ...) never matches.
//   - Only the first packet of a flow is evaluated; established and related
//     packets pass (conntrack in the data plane).
package policy

import (
	"net/netip"
	"slices"
	"sync"

	"github.com/palisade-project/palisade/internal/model"
)

// World is the read-only view the evaluator and the compiler need. Callers
// may implement it over a store view; NewSnapshot builds one from slices.
type World interface {
	// Group returns the group with that ID, or nil.
	Group(id string) *model.SecurityGroup
	// ENI returns the ENI with that ID, or nil.
	ENI(id string) *model.ENI
	// Members returns the IDs of the ENIs that are members of the group,
	// sorted, so compiled member sets are deterministic.
	Members(groupID string) []string
	// ENIByAddr returns the ID of the ENI of VPC vpcID that holds addr, or "".
	// Addresses are only unique inside a VPC (VPCs may overlap), hence vpcID.
	ENIByAddr(vpcID string, addr netip.Addr) string
	// VSwitch returns the vSwitch with that ID, or nil. A world that does
	// not know an ENI's vSwitch applies no network ACL to it.
	VSwitch(id string) *model.VSwitch
	// NetworkACL returns the network ACL with that ID, or nil.
	NetworkACL(id string) *model.NetworkACL
}

// Snapshot is an immutable World built from plain slices.
type Snapshot struct {
	groups    map[string]*model.SecurityGroup
	enis      map[string]*model.ENI
	members   map[string][]string
	byAddr    map[vpcAddr]string
	vswitches map[string]*model.VSwitch
	acls      map[string]*model.NetworkACL

	// pools memoizes pooled rule lists per (direction, group list): the
	// snapshot never changes, and evaluating many packets against one
	// snapshot (the agent judging every conntrack flow after a change)
	// would otherwise normalize and sort the same rules each time.
	poolMu sync.Mutex
	pools  map[string][]poolEntry
	// members4 memoizes memberAddrs4 per group, for the same reason
	// (AdmittedSources expands every group reference of an ENI's rules).
	members4 map[string][]uint32
}

// cachedPool returns the pooled rules under key, building them once.
func (s *Snapshot) cachedPool(key string, build func() []poolEntry) []poolEntry {
	s.poolMu.Lock()
	defer s.poolMu.Unlock()
	if p, ok := s.pools[key]; ok {
		return p
	}
	p := build()
	if s.pools == nil {
		s.pools = map[string][]poolEntry{}
	}
	s.pools[key] = p
	return p
}

// cachedMembers4 returns the member addresses of gid, building them once.
func (s *Snapshot) cachedMembers4(gid string, build func() []uint32) []uint32 {
	s.poolMu.Lock()
	defer s.poolMu.Unlock()
	if m, ok := s.members4[gid]; ok {
		return m
	}
	m := build()
	if s.members4 == nil {
		s.members4 = map[string][]uint32{}
	}
	s.members4[gid] = m
	return m
}

type vpcAddr struct {
	vpc  string
	addr netip.Addr
}

// NewSnapshot indexes groups and ENIs. Membership is taken from each ENI's
// SecurityGroupIDs (the same fact the store keeps under model.PrefixMember).
// The slices are copied, so later changes by the caller do not leak in.
// The snapshot knows no vSwitch, so no network ACL applies (see NewWorld).
func NewSnapshot(groups []model.SecurityGroup, enis []model.ENI) *Snapshot {
	return NewWorld(groups, enis, nil, nil)
}

// NewWorld is NewSnapshot with the vSwitches and network ACLs of the VPCs
// too: an ENI whose vSwitch has an ACL (VSwitch.NetworkAclID) is filtered
// by it (SEMANTICS.md Part A, "Network ACLs").
func NewWorld(groups []model.SecurityGroup, enis []model.ENI, vswitches []model.VSwitch, acls []model.NetworkACL) *Snapshot {
	s := &Snapshot{
		groups:    make(map[string]*model.SecurityGroup, len(groups)),
		enis:      make(map[string]*model.ENI, len(enis)),
		members:   make(map[string][]string),
		byAddr:    make(map[vpcAddr]string),
		vswitches: make(map[string]*model.VSwitch, len(vswitches)),
		acls:      make(map[string]*model.NetworkACL, len(acls)),
	}
	for i := range vswitches {
		v := vswitches[i]
		v.Tags = slices.Clone(v.Tags)
		s.vswitches[v.ID] = &v
	}
	for i := range acls {
		a := acls[i]
		a.Ingress = slices.Clone(a.Ingress)
		a.Egress = slices.Clone(a.Egress)
		a.Tags = slices.Clone(a.Tags)
		s.acls[a.ID] = &a
	}
	for i := range groups {
		g := groups[i]
		g.Rules = slices.Clone(g.Rules)
		s.groups[g.ID] = &g
	}
	for i := range enis {
		e := enis[i]
		e.SecurityGroupIDs = slices.Clone(e.SecurityGroupIDs)
		e.SecondaryIPs = slices.Clone(e.SecondaryIPs)
		e.IPv6s = slices.Clone(e.IPv6s)
		s.enis[e.ID] = &e
		for _, gid := range uniq(e.SecurityGroupIDs) {
			s.members[gid] = append(s.members[gid], e.ID)
		}
		for _, a := range e.Addrs() {
			s.byAddr[vpcAddr{e.VpcID, a.Unmap()}] = e.ID
		}
	}
	for gid := range s.members {
		slices.Sort(s.members[gid])
	}
	return s
}

// Group implements World.
func (s *Snapshot) Group(id string) *model.SecurityGroup { return s.groups[id] }

// ENI implements World.
func (s *Snapshot) ENI(id string) *model.ENI { return s.enis[id] }

// Members implements World.
func (s *Snapshot) Members(groupID string) []string { return s.members[groupID] }

// ENIByAddr implements World.
func (s *Snapshot) ENIByAddr(vpcID string, addr netip.Addr) string {
	return s.byAddr[vpcAddr{vpcID, addr.Unmap()}]
}

// VSwitch implements World.
func (s *Snapshot) VSwitch(id string) *model.VSwitch { return s.vswitches[id] }

// NetworkACL implements World.
func (s *Snapshot) NetworkACL(id string) *model.NetworkACL { return s.acls[id] }

// uniq returns ids without repeats, first occurrence kept, order preserved:
// a group listed twice on an ENI must not count its rules twice.
func uniq(ids []string) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}
