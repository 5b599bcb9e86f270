package linux

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/palisade-project/palisade/internal/dataplane"
)

// PrivateLink joins a consumer VPC namespace to a provider VPC namespace,
// one veth pair per endpoint ENI:
//
//	consumer netns  pv<eni>  (the endpoint ENI's interface: its security
//	                          groups, ACL and anti-spoofing apply as to any ENI)
//	                <endpoint IP>/32 dev pv<eni> proto 0x9a; neighbour: the peer's MAC
//	provider netns  pk<eni>  <transit IP>/32 dev pk<eni> proto 0x9b; neighbour: pv<eni>'s MAC
//
//	table ip palisade_plc {                        # consumer side
//	  chain postrouting { type nat hook postrouting priority srcnat;
//	    oifname "pv<eni>" snat ip to <transit IP> }
//	  chain forward { type filter hook forward priority filter - 10;
//	    iifname "pv<eni>" ct state != established,related drop }
//	  chain input { type filter hook input priority filter - 10;
//	    iifname "pv<eni>" ct state != established,related drop }
//	}
//	table ip palisade_plp {                        # provider side
//	  map backends_<n> { type mark : ipv4_addr; elements = { 0 : b0, 1 : b1, … } }
//	  chain prerouting { type nat hook prerouting priority dstnat;
//	    iifname "pk<eni>" ip daddr <endpoint IP> dnat ip to numgen random mod N map @backends_<n>
//	    # a service backed by a load balancer: per listener, as its own table
//	    iifname "pk<eni>" ip daddr <endpoint IP> meta l4proto tcp th dport <port>
//	      dnat ip to numgen random mod <slots> map @backends_<n>_tcp<port> : <backend port> }
//	  chain forward { type filter hook forward priority filter - 10;
//	    iifname "pk*" ct status & dnat == 0 drop       # only translated connections
//	    oifname "pk*" ct state new drop }              # the provider opens nothing
//	  chain input { type filter hook input priority filter - 10; iifname "pk*" drop }
//	}
//
// The consumer's source is replaced by the transit address (outside every
// VPC range), so the two VPCs may overlap; replies find their way back by
// conntrack on both sides.
const (
	plPeerPrefix   = "pk"
	plRouteProto   = 0x9b
	plcTable       = "palisade_plc"
	plpTable       = "palisade_plp"
	plVersionTag   = "palisade-pl-v1"
	plChainPrioOff = -10
	// ipsDstNAT is conntrack's IPS_DST_NAT status bit.
	ipsDstNAT = 1 << 5
)

// endpointPeerName is the provider-side name of an endpoint's veth.
func endpointPeerName(hostName string) string {
	return plPeerPrefix + strings.TrimPrefix(hostName, vethPrefix)
}

// ensureEndpoint makes the endpoint's veth pair between the consumer
// namespace vref and the provider's, with its neighbours and the provider's
// transit route, once the provider's table (provided) is in place (tables
// holds the outcome per provider, so that it is applied once). It returns
// the consumer side's index.
func (a *Applier) ensureEndpoint(vref *nsRef, ep dataplane.Endpoint, hostName string, provided *providedEndpoints, tables map[string]error) (int, error) {
	if provided == nil {
		return 0, fmt.Errorf("provider %s is not on this host", ep.ProviderVPC)
	}
	pref, err := a.ensureNS(ep.ProviderVPC)
	if err != nil {
		return 0, fmt.Errorf("provider namespace: %w", err)
	}
	defer pref.Close()
	// The provider's table before the link: it translates what crosses
	// and drops the rest.
	err, done := tables[ep.ProviderVPC]
	if !done { // once per provider and reconciliation
		err = applyProviderTable(int(pref.ns), provided.eps, provided.names)
		tables[ep.ProviderVPC] = err
	}
	if err != nil {
		return 0, fmt.Errorf("provider table in %s: %w", pref.name, err)
	}
	peerName := endpointPeerName(hostName)
	host, peer, err := a.ensureVethBetween(vref, pref, hostName, peerName)
	if err != nil {
		return 0, err
	}
	if err := linkUp(vref.nl, host); err != nil {
		return 0, err
	}
	if err := linkUp(pref.nl, peer); err != nil {
		return 0, err
	}
	// No ARP across: each side knows the other's address statically.
	for _, n := range []struct {
		nl   *netlink.Handle
		link netlink.Link
		ip   netip.Addr
		mac  net.HardwareAddr
	}{
		{vref.nl, host, ep.Addr, peer.Attrs().HardwareAddr},
		{pref.nl, peer, ep.TransitAddr, host.Attrs().HardwareAddr},
	} {
		if err := n.nl.NeighSet(&netlink.Neigh{LinkIndex: n.link.Attrs().Index, Family: unix.AF_INET,
			State: netlink.NUD_PERMANENT, IP: n.ip.AsSlice(), HardwareAddr: n.mac}); err != nil {
			return 0, fmt.Errorf("neighbour %s on %s: %w", n.ip, n.link.Attrs().Name, err)
		}
	}
	r := &netlink.Route{Dst: prefixIPNet(netip.PrefixFrom(ep.TransitAddr, 32)), LinkIndex: peer.Attrs().Index,
		Scope: netlink.SCOPE_LINK, Protocol: plRouteProto}
	if err := pref.nl.RouteReplace(r); err != nil {
		return 0, fmt.Errorf("transit route %s in %s: %w", ep.TransitAddr, pref.name, err)
	}
	return host.Attrs().Index, nil
}

// validEndpoint checks an endpoint before anything is made for it.
func validEndpoint(ep dataplane.Endpoint) error {
	switch {
	case ep.ENIID == "":
		return errors.New("endpoint without ENI ID")
	case !ep.Addr.Is4():
		return fmt.Errorf("endpoint %s: address %v is not IPv4", ep.ENIID, ep.Addr)
	case !ep.TransitAddr.Is4():
		return fmt.Errorf("endpoint %s: transit address %v is not IPv4", ep.ENIID, ep.TransitAddr)
	}
	for _, b := range ep.Backends {
		if !b.Is4() {
			return fmt.Errorf("endpoint %s: backend %v is not IPv4", ep.ENIID, b)
		}
	}
	if err := validLoadBalancer(dataplane.LoadBalancer{ID: ep.LoadBalancer, Addr: ep.Addr, Listeners: ep.Listeners}); err != nil {
		return fmt.Errorf("endpoint %s: %w", ep.ENIID, err)
	}
	return validNSName(ep.ProviderVPC, vpcNSPrefix)
}

// plRule is a rule of a tagged table, by chain.
type plRule struct {
	chain string
	exprs []expr.Any
}

func ifnameIs(key expr.MetaKey, name string, wildcard bool) []expr.Any {
	data := []byte(name)
	if !wildcard {
		data = make([]byte, 16)
		copy(data, name)
	}
	return []expr.Any{
		&expr.Meta{Key: key, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: data},
	}
}

func ctStateNotEstablished() []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitESTABLISHED | expr.CtStateBitRELATED), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: make([]byte, 4)},
	}
}

var plDrop = &expr.Verdict{Kind: expr.VerdictDrop}

// applyConsumerTable makes the consumer side's table hold the endpoints
// (names: ENI ID -> interface); with none it is removed.
func applyConsumerTable(nsFd int, eps []dataplane.Endpoint, names map[string]string) error {
	var rules []plRule
	for _, ep := range eps {
		n := names[ep.ENIID]
		rules = append(rules,
			plRule{"postrouting", append(ifnameIs(expr.MetaKeyOIFNAME, n, false),
				&expr.Immediate{Register: 1, Data: ep.TransitAddr.AsSlice()},
				&expr.NAT{Type: expr.NATTypeSourceNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1})},
			plRule{"forward", append(append(ifnameIs(expr.MetaKeyIIFNAME, n, false), ctStateNotEstablished()...), plDrop)},
			plRule{"input", append(append(ifnameIs(expr.MetaKeyIIFNAME, n, false), ctStateNotEstablished()...), plDrop)},
		)
	}
	chains := map[string]chainHook{
		"postrouting": {typ: nftables.ChainTypeNAT, hook: nftables.ChainHookPostrouting, prio: nftables.ChainPriorityNATSource},
		"forward":     {typ: nftables.ChainTypeFilter, hook: nftables.ChainHookForward, prio: nftables.ChainPriorityRef(plChainPrioOff)},
		"input":       {typ: nftables.ChainTypeFilter, hook: nftables.ChainHookInput, prio: nftables.ChainPriorityRef(plChainPrioOff)},
	}
	return applyTaggedTable(nsFd, plcTable, chains, nil, rules, len(eps) == 0)
}

// applyProviderTable makes the provider side's table serve the endpoints
// whose provider is this namespace (names: ENI ID -> consumer interface).
func applyProviderTable(nsFd int, eps []dataplane.Endpoint, names map[string]string) error {
	var rules []plRule
	var sets []tableSet
	for i, ep := range eps {
		peer := endpointPeerName(names[ep.ENIID])
		if ep.LoadBalancer != "" {
			// Per port, as the load balancer's listeners translate.
			for _, l := range ep.Listeners {
				slots := l.Slots()
				if len(slots) == 0 {
					continue
				}
				m := tableSet{name: fmt.Sprintf("backends_%d_%s%d", i, l.Protocol, l.Port), isMap: true, key: nftables.TypeMark, data: nftables.TypeIPAddr}
				for j, b := range slots {
					m.elems = append(m.elems, nftables.SetElement{Key: binaryutil.NativeEndian.PutUint32(uint32(j)), Val: b.AsSlice()})
				}
				sets = append(sets, m)
				// The listener's access control, with the transit
				// address as source (as the load balancer sees it).
				if acl, rule := lbACL(ifnameIs(expr.MetaKeyIIFNAME, peer, false), ep.Addr, l, m.name+"_acl"); rule != nil {
					sets, rules = append(sets, acl), append(rules, plRule{"acl", rule})
				}
				rules = append(rules, plRule{"prerouting", append(ifnameIs(expr.MetaKeyIIFNAME, peer, false),
					lbListenerDNAT(ep.Addr, l, len(slots), m.name)...)})
			}
			continue
		}
		if len(ep.Backends) == 0 {
			continue // not translated: the forward chain drops it
		}
		m := tableSet{name: fmt.Sprintf("backends_%d", i), isMap: true, key: nftables.TypeMark, data: nftables.TypeIPAddr}
		for j, b := range ep.Backends {
			m.elems = append(m.elems, nftables.SetElement{Key: binaryutil.NativeEndian.PutUint32(uint32(j)), Val: b.AsSlice()})
		}
		sets = append(sets, m)
		rules = append(rules, plRule{"prerouting", append(ifnameIs(expr.MetaKeyIIFNAME, peer, false),
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ep.Addr.AsSlice()},
			&expr.Numgen{Register: 1, Modulus: uint32(len(ep.Backends)), Type: unix.NFT_NG_RANDOM},
			&expr.Lookup{SourceRegister: 1, DestRegister: 1, IsDestRegSet: true, SetName: m.name},
			&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1})})
	}
	if len(eps) > 0 {
		rules = append(rules,
			plRule{"forward", append(ifnameIs(expr.MetaKeyIIFNAME, plPeerPrefix, true),
				&expr.Ct{Register: 1, Key: expr.CtKeySTATUS},
				&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
					Mask: binaryutil.NativeEndian.PutUint32(ipsDstNAT), Xor: make([]byte, 4)},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: make([]byte, 4)},
				plDrop)},
			plRule{"forward", append(append(ifnameIs(expr.MetaKeyOIFNAME, plPeerPrefix, true), ctStateNew()...), plDrop)},
			plRule{"input", append(ifnameIs(expr.MetaKeyIIFNAME, plPeerPrefix, true), plDrop)},
		)
	}
	chains := map[string]chainHook{
		"prerouting": {typ: nftables.ChainTypeNAT, hook: nftables.ChainHookPrerouting, prio: nftables.ChainPriorityNATDest},
		"forward":    {typ: nftables.ChainTypeFilter, hook: nftables.ChainHookForward, prio: nftables.ChainPriorityRef(plChainPrioOff)},
		"input":      {typ: nftables.ChainTypeFilter, hook: nftables.ChainHookInput, prio: nftables.ChainPriorityRef(plChainPrioOff)},
	}
	withACLChain(chains, rules)
	return applyTaggedTable(nsFd, plpTable, chains, sets, rules, len(eps) == 0)
}

func ctStateNew() []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitNEW), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)},
	}
}
