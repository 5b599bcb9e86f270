package policy

import (
	"net/netip"
	"slices"

	"github.com/palisade-project/palisade/internal/ipspace"
)

// A Cloud Firewall's rules are tried in order, one after another; in the
// kernel that is one lookup per rule for every new connection. Like the
// security groups' pooled rules (Flat), they can be flattened into
// disjoint boxes of the packet space, each naming the first rule that
// matches there, so that one lookup in a concatenated interval map finds
// the deciding rule whatever the number of rules.

// MaxFirewallFlatElements bounds a flattened firewall: rules whose boxes
// fragment into more stay a chain of rules (more lookups per new
// connection, but a bounded load).
const MaxFirewallFlatElements = 20000

// FirewallFlat is a first-match firewall (IPv4) flattened: Ports are the
// elements for TCP and UDP packets (key source . protocol . destination
// port . source port . destination; the source port is always any), Any
// those for other protocols (source . protocol . destination). Each slice
// is sorted and pairwise disjoint; a packet in no element matches no rule
// (allowed, as Cloud Firewall allows).
type FirewallFlat struct {
	Ports, Any []FirewallElement
}

// FirewallElement is one box of a flattened firewall and the index of the
// rule that decides it (every element of a rule is kept, accept ones too,
// so that the rule's hits are counted).
type FirewallElement struct {
	Element
	Rule int
}

// FlattenFirewall flattens rules (in the order they are tried). ok is false
// when they fragment into more than limit elements.
func FlattenFirewall(rules []FirewallRule, limit int) (f FirewallFlat, ok bool) {
	type piece struct {
		b    box
		rule int
	}
	var spaces [2][]piece // 0: ports, 1: any
	total := 0
	for i, r := range rules {
		for s, bs := range firewallBoxes(r) {
			for _, b := range bs {
				pieces := uncovered(b, spaces[s], func(p piece) box { return p.b })
				if total += len(pieces); total > limit {
					return FirewallFlat{}, false
				}
				for _, x := range pieces {
					spaces[s] = append(spaces[s], piece{x, i})
				}
			}
		}
	}
	out := [2]*[]FirewallElement{&f.Ports, &f.Any}
	for s, ps := range spaces {
		slices.SortFunc(ps, func(a, b piece) int { return cmpBox(a.b, b.b) })
		for _, p := range ps {
			*out[s] = append(*out[s], FirewallElement{Element: boxElement(p.b, fam4), Rule: p.rule})
		}
	}
	return f, true
}

// firewallBoxes are a rule's boxes in the ports space (TCP and UDP
// packets: a rule of any protocol, of TCP or of UDP) and in the other
// space (a rule of any protocol, or of one without ports), one per source
// prefix, destination prefix and port range. IPv4 only: a rule with no
// destination (a domain not resolved) has none.
func firewallBoxes(r FirewallRule) [2][]box {
	var out [2][]box
	ports := []span{anyPort()}
	if len(r.Ports) > 0 {
		ports = ports[:0]
		for _, p := range r.Ports {
			ports = append(ports, span{p.From, p.To})
		}
	}
	proto := anyProto()
	if r.Proto != 0 {
		proto = span{uint16(r.Proto), uint16(r.Proto)}
	}
	inPorts := r.Proto == 0 || r.Proto == IPProtoTCP || r.Proto == IPProtoUDP
	inAny := r.Proto != IPProtoTCP && r.Proto != IPProtoUDP
	for _, src := range r.Src {
		for _, dst := range r.Dst {
			if !src.Addr().Is4() || !dst.Addr().Is4() {
				continue
			}
			var b box
			b[dimPeer] = ipspace.PrefixInterval(src)
			b[dimProto] = spanIval(proto)
			b[dimSPort] = spanIval(anyPort())
			b[dimLocal] = ipspace.PrefixInterval(dst)
			if inAny {
				b[dimDPort] = spanIval(anyPort())
				out[1] = append(out[1], b)
			}
			if inPorts {
				for _, p := range ports {
					b[dimDPort] = spanIval(p)
					out[0] = append(out[0], b)
				}
			}
		}
	}
	return out
}

// Decide finds the element that holds a packet and returns its rule (the
// flattened firewall's answer, for tests against the rules).
func (f FirewallFlat) Decide(p Packet) (int, bool) {
	elems := f.Any
	if p.Proto == IPProtoTCP || p.Proto == IPProtoUDP {
		elems = f.Ports
	}
	in := func(r AddrRange, a netip.Addr) bool { return r.From.Compare(a) <= 0 && a.Compare(r.To) <= 0 }
	for _, e := range elems {
		if !in(e.Peer, p.Src) || !in(e.Local, p.Dst) || uint16(p.Proto) < e.Proto.From || uint16(p.Proto) > e.Proto.To {
			continue
		}
		if (p.Proto == IPProtoTCP || p.Proto == IPProtoUDP) && (p.DstPort < e.DPort.From || p.DstPort > e.DPort.To) {
			continue
		}
		return e.Rule, true
	}
	return 0, false
}
