package policy

import (
	"cmp"
	"net/netip"
	"slices"

	"github.com/palisade-project/palisade/internal/model"
)

// Traffic-mirroring semantics (SEMANTICS.md Part A): a packet an ENI sends
// (egress) or receives (ingress) is mirrored at most once per source ENI,
// by the first of the ENI's enabled sessions, in session priority order,
// whose filter accepts it. A filter's rules of the packet's direction are
// tried in rule priority order; the first that matches decides (accept:
// mirror, drop: not); a packet no rule matches is not mirrored.

// MirrorSession is what the evaluator needs of a session for one source.
type MirrorSession struct {
	ID       string
	Priority int
	// Ingress and Egress are the filter's rules of each direction.
	Ingress, Egress []model.MirrorRule
}

// NewMirrorSessions returns the sessions sorted by priority, each with its
// rules sorted by rule priority (ties by ID, so the order is total).
func NewMirrorSessions(ss []MirrorSession) []MirrorSession {
	out := make([]MirrorSession, len(ss))
	byPrio := func(a, b model.MirrorRule) int {
		return cmp.Or(cmp.Compare(a.Priority, b.Priority), cmp.Compare(a.ID, b.ID))
	}
	for i, s := range ss {
		s.Ingress = slices.SortedStableFunc(slices.Values(s.Ingress), byPrio)
		s.Egress = slices.SortedStableFunc(slices.Values(s.Egress), byPrio)
		out[i] = s
	}
	slices.SortStableFunc(out, func(a, b MirrorSession) int {
		return cmp.Or(cmp.Compare(a.Priority, b.Priority), cmp.Compare(a.ID, b.ID))
	})
	return out
}

// MirrorRuleMatches reports whether a filter rule matches the packet.
func MirrorRuleMatches(r model.MirrorRule, p Packet) bool {
	switch r.Protocol {
	case model.ProtoALL:
	case model.ProtoICMP:
		if p.Proto != IPProtoICMP && p.Proto != IPProtoICMPv6 {
			return false
		}
	case model.ProtoTCP:
		if p.Proto != IPProtoTCP || !portIn(r.SourcePorts, p.SrcPort) || !portIn(r.DestinationPorts, p.DstPort) {
			return false
		}
	case model.ProtoUDP:
		if p.Proto != IPProtoUDP || !portIn(r.SourcePorts, p.SrcPort) || !portIn(r.DestinationPorts, p.DstPort) {
			return false
		}
	default:
		return false
	}
	return mirrorCidrHas(r.SourceCidr, p.Src) && mirrorCidrHas(r.DestinationCidr, p.Dst)
}

// mirrorCidrHas: the zero prefix (not given) matches any address.
func mirrorCidrHas(c netip.Prefix, a netip.Addr) bool {
	return !c.IsValid() || c.Contains(a)
}

// portIn: {-1,-1} and the zero range mean every port.
func portIn(r model.PortRange, port uint16) bool {
	if r.From <= 0 && r.To <= 0 {
		return true
	}
	return int(port) >= r.From && int(port) <= r.To
}

// MirrorFilterDecides returns the first rule of the direction that matches
// the packet, if any: the packet is mirrored when that rule accepts.
func MirrorFilterDecides(s MirrorSession, dir Direction, p Packet) (model.MirrorRule, bool) {
	rules := s.Ingress
	if dir == Egress {
		rules = s.Egress
	}
	for _, r := range rules {
		if MirrorRuleMatches(r, p) {
			return r, true
		}
	}
	return model.MirrorRule{}, false
}

// SelectMirrorSession returns the index of the session (of sessions sorted
// as NewMirrorSessions sorts them) that mirrors the packet, or -1.
func SelectMirrorSession(sessions []MirrorSession, dir Direction, p Packet) int {
	for i, s := range sessions {
		if r, ok := MirrorFilterDecides(s, dir, p); ok && r.Action == model.PolicyAccept {
			return i
		}
	}
	return -1
}
