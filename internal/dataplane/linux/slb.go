package linux

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/palisade-project/palisade/internal/dataplane"
)

// Internal load balancers, in the VPC namespace. The load balancer's
// address is a local address of the namespace (on the gateway link), so
// the namespace answers ARP for it on every ENI's veth as it does for the
// gateways; a listener's connections are translated to a backend before
// routing and then forwarded like any packet between ENIs (security groups
// and network ACLs judge them with the backend's address and port):
//
//	table ip palisade_lb {
//	  set vips { type ipv4_addr; elements = { <every load balancer address> } }
//	  map be_<n> { type mark : ipv4_addr; elements = { 0 : b0, 1 : b0, 2 : b1, … } }
//	  chain prerouting { type nat hook prerouting priority dstnat; policy accept;
//	    ip daddr <address> meta l4proto tcp th dport <port>
//	      dnat ip to numgen random mod <total weight> map @be_<n> : <backend port>   # wrr
//	      (numgen inc mod <backends> for rr)
//	  }
//	  set acl_<n> { type ipv4_addr; flags interval; elements = { <a listener's list> } }
//	  chain acl { type filter hook prerouting priority dstnat - 10; policy accept;
//	    ip daddr <address> meta l4proto tcp th dport <port> ct state new ip saddr != @acl_<n> drop  # whitelist
//	    ip daddr <address> meta l4proto tcp th dport <port> ct state new ip saddr @acl_<n> drop   # blacklist
//	  }
//	  chain input { type filter hook input priority filter - 5; policy accept;
//	    ip daddr @vips ct state established,related accept   # the health checks' replies
//	    ip daddr @vips icmp type echo-request accept
//	    ip daddr @vips drop       # no such listener, stopped, or no backend to take it
//	  }
//	}
//
// Each backend holds as many keys of the map as its weight is worth
// (dataplane.LBListener.Slots).
const (
	lbTable        = "palisade_lb"
	lbInputPrioOff = -5
	lbVIPSet       = "vips"
)

// validLoadBalancer checks a load balancer before anything is made for it.
func validLoadBalancer(lb dataplane.LoadBalancer) error {
	if !lb.Addr.Is4() {
		return fmt.Errorf("load balancer %s: address %v is not IPv4", lb.ID, lb.Addr)
	}
	seen := map[[2]any]bool{}
	for _, l := range lb.Listeners {
		if l.Protocol != "tcp" && l.Protocol != "udp" {
			return fmt.Errorf("load balancer %s: listener protocol %q", lb.ID, l.Protocol)
		}
		if l.Port == 0 || l.BackendPort == 0 {
			return fmt.Errorf("load balancer %s: listener %s/%d: port 0", lb.ID, l.Protocol, l.Port)
		}
		k := [2]any{l.Protocol, l.Port}
		if seen[k] {
			return fmt.Errorf("load balancer %s: listener %s/%d twice", lb.ID, l.Protocol, l.Port)
		}
		seen[k] = true
		if l.ACL != nil && slices.ContainsFunc(l.ACL.Prefixes, func(p netip.Prefix) bool { return !p.Addr().Is4() }) {
			return fmt.Errorf("load balancer %s: listener %s/%d: access control list with a non-IPv4 entry", lb.ID, l.Protocol, l.Port)
		}
		for _, b := range l.Backends {
			if !b.Addr.Is4() || b.Weight < 1 || b.Weight > 100 {
				return fmt.Errorf("load balancer %s: listener %s/%d: backend %v weight %d", lb.ID, l.Protocol, l.Port, b.Addr, b.Weight)
			}
		}
	}
	return nil
}

// lbACLChain filters listeners' new connections by their access control
// lists before the translation (dstnat - 10), where the destination is
// still the listener's.
var lbACLChain = chainHook{typ: nftables.ChainTypeFilter, hook: nftables.ChainHookPrerouting,
	prio: nftables.ChainPriorityRef(*nftables.ChainPriorityNATDest - 10)}

// withACLChain adds the access control chain when a rule needs it (a base
// chain costs every packet a hook, even empty).
func withACLChain(chains map[string]chainHook, rules []plRule) {
	if slices.ContainsFunc(rules, func(r plRule) bool { return r.chain == "acl" }) {
		chains["acl"] = lbACLChain
	}
}

// lbACL is the set and the rule (after match, e.g. an input interface)
// that drop a new connection to addr on listener l from a source l's list
// refuses; none when l has no list or an empty one (which admits all).
func lbACL(match []expr.Any, addr netip.Addr, l dataplane.LBListener, setName string) (tableSet, []expr.Any) {
	if l.ACL == nil || len(l.ACL.Prefixes) == 0 {
		return tableSet{}, nil
	}
	set := tableSet{name: setName, key: nftables.TypeIPAddr, interval: true, elems: prefixIntervals(l.ACL.Prefixes)}
	rule := append(slices.Clone(match), listenerMatch(addr, l)...)
	rule = append(rule, ctStateNew()...)
	rule = append(rule,
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
		&expr.Lookup{SourceRegister: 1, SetName: setName, Invert: l.ACL.White},
		plDrop)
	return set, rule
}

// listenerMatch matches the packets to addr on listener l's protocol and
// port.
func listenerMatch(addr netip.Addr, l dataplane.LBListener) []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: addr.AsSlice()},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{lbProto(l.Protocol)}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(l.Port)},
	}
}

// lbListenerDNAT translates a new connection to addr on listener l's
// protocol and port to a backend picked from the map of its slots (n of
// them), on the backend port.
func lbListenerDNAT(addr netip.Addr, l dataplane.LBListener, n int, mapName string) []expr.Any {
	gen := uint32(unix.NFT_NG_RANDOM)
	if l.RoundRobin {
		gen = unix.NFT_NG_INCREMENTAL
	}
	return append(listenerMatch(addr, l),
		&expr.Numgen{Register: 1, Modulus: uint32(n), Type: gen},
		&expr.Lookup{SourceRegister: 1, DestRegister: 1, IsDestRegSet: true, SetName: mapName},
		&expr.Immediate{Register: 2, Data: binaryutil.BigEndian.PutUint16(l.BackendPort)},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: 2, Specified: true},
	)
}

// lbProgram is the table's content for lbs: its sets and rules.
func lbProgram(lbs []dataplane.LoadBalancer) ([]tableSet, []plRule) {
	vips := tableSet{name: lbVIPSet, key: nftables.TypeIPAddr}
	var sets []tableSet
	var rules []plRule
	for _, lb := range lbs {
		vips.elems = append(vips.elems, nftables.SetElement{Key: lb.Addr.AsSlice()})
		listeners := slices.Clone(lb.Listeners)
		slices.SortFunc(listeners, func(a, b dataplane.LBListener) int {
			if a.Port != b.Port {
				return int(a.Port) - int(b.Port)
			}
			return strings.Compare(a.Protocol, b.Protocol)
		})
		for _, l := range listeners {
			slots := l.Slots()
			if len(slots) == 0 {
				continue // nothing takes it: the input chain drops it
			}
			m := tableSet{name: fmt.Sprintf("be_%d", len(sets)), isMap: true, key: nftables.TypeMark, data: nftables.TypeIPAddr}
			for i, a := range slots {
				m.elems = append(m.elems, nftables.SetElement{Key: binaryutil.NativeEndian.PutUint32(uint32(i)), Val: a.AsSlice()})
			}
			sets = append(sets, m)
			if acl, rule := lbACL(nil, lb.Addr, l, fmt.Sprintf("acl_%d", len(sets)-1)); rule != nil {
				sets, rules = append(sets, acl), append(rules, plRule{"acl", rule})
			}
			rules = append(rules, plRule{"prerouting", lbListenerDNAT(lb.Addr, l, len(slots), m.name)})
		}
	}
	if len(lbs) == 0 {
		return nil, nil
	}
	vipIs := func() []expr.Any {
		return []expr.Any{
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
			&expr.Lookup{SourceRegister: 1, SetName: lbVIPSet},
		}
	}
	rules = append(rules,
		plRule{"input", append(append(vipIs(), ctStateEstablishedOrRelated()...), &expr.Verdict{Kind: expr.VerdictAccept})},
		plRule{"input", append(vipIs(),
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_ICMP}},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{8}}, // echo request
			&expr.Verdict{Kind: expr.VerdictAccept})},
		plRule{"input", append(vipIs(), plDrop)},
	)
	// The set goes first: the rules' lookups refer to sets by position.
	return append([]tableSet{vips}, sets...), rules
}

func ctStateEstablishedOrRelated() []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitESTABLISHED | expr.CtStateBitRELATED), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)},
	}
}

// applyLBTable makes the namespace's load-balancer table serve lbs (none:
// the table is removed).
func applyLBTable(nsFd int, lbs []dataplane.LoadBalancer) error {
	var valid []dataplane.LoadBalancer
	var errs []error
	for _, lb := range lbs {
		if err := validLoadBalancer(lb); err != nil {
			errs = append(errs, err)
			continue
		}
		valid = append(valid, lb)
	}
	sets, rules := lbProgram(valid)
	chains := map[string]chainHook{
		"prerouting": {typ: nftables.ChainTypeNAT, hook: nftables.ChainHookPrerouting, prio: nftables.ChainPriorityNATDest},
		"input":      {typ: nftables.ChainTypeFilter, hook: nftables.ChainHookInput, prio: nftables.ChainPriorityRef(*nftables.ChainPriorityFilter + lbInputPrioOff)},
	}
	withACLChain(chains, rules)
	if err := applyTaggedTable(nsFd, lbTable, chains, sets, rules, len(valid) == 0); err != nil {
		errs = append(errs, fmt.Errorf("load balancer table: %w", err))
	}
	return errors.Join(errs...)
}

// lbAddrs are the load balancers' addresses, as the gateway link holds
// them.
func lbAddrs(lbs []dataplane.LoadBalancer) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(lbs))
	for _, lb := range lbs {
		if lb.Addr.Is4() {
			out = append(out, netip.PrefixFrom(lb.Addr, 32))
		}
	}
	return out
}

// lbListenerKey names a listener as conntrack sees its connections.
type lbListenerKey struct {
	addr  netip.Addr
	proto uint8
	port  uint16
}

func lbProto(protocol string) uint8 {
	if protocol == "udp" {
		return unix.IPPROTO_UDP
	}
	return unix.IPPROTO_TCP
}
