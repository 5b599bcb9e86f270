package policy

import (
	"cmp"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/palisade-project/palisade/internal/model"
)

// The Internet firewall (Cloud Firewall, SEMANTICS.md Part A): the
// enabled policies of an account and direction, in order (1 first), judge
// each new connection between the internet and the account's protected
// EIPs; the first that matches decides (accept and log allow, drop
// drops); none matching allows. For "in" the packet's destination is the
// EIP, for "out" its source (after translation): policies see public
// addresses, never private ones.

// FirewallRule is one compiled policy: address books resolved.
type FirewallRule struct {
	ID    string
	Order int
	Drop  bool
	// Log is set for a "log" policy (it allows, as accept does).
	Log bool
	// Src and Dst are the prefixes the packet's addresses must be in
	// (a book with no usable entry matches nothing).
	Src, Dst []netip.Prefix
	// Proto is the IP protocol, 0 for any.
	Proto uint8
	// Ports are the destination port ranges (TCP, UDP); empty: any.
	Ports []Range
	// Domain is the destination domain of a domain policy (Dst are its
	// addresses).
	Domain string
}

// InternetFirewall is an account's compiled Internet firewall.
type InternetFirewall struct {
	In, Out []FirewallRule
}

// Domains are the addresses of the domains policies name as their
// destination (model.DomainResolution, keyed by the lowercase name without
// its final dot). A domain without an entry matches nothing.
type Domains map[string][]netip.Addr

// DomainsOf indexes resolutions by domain.
func DomainsOf(rs []model.DomainResolution) Domains {
	d := make(Domains, len(rs))
	for _, r := range rs {
		d[r.Domain] = r.Addrs
	}
	return d
}

// CompileInternetFirewall compiles an account's policies with its address
// books (other accounts' entries are ignored) and the domains' addresses.
// Disabled policies, and policies that refer to a missing book or that
// cannot be parsed, are left out (the API refuses such input; a book
// deleted later cannot be in use).
func CompileInternetFirewall(accountID string, policies []model.FirewallPolicy, books []model.AddressBook, domains Domains) InternetFirewall {
	ipBooks, portBooks := map[string][]netip.Prefix{}, map[string][]Range{}
	for _, b := range books {
		if b.AccountID != accountID {
			continue
		}
		switch b.Type {
		case model.AddressBookIP:
			var ps []netip.Prefix
			for _, a := range b.Addresses {
				if p, ok := parseFirewallCIDR(a); ok {
					ps = append(ps, p)
				}
			}
			ipBooks[b.Name] = ps
		case model.AddressBookPort:
			var rs []Range
			for _, a := range b.Addresses {
				if r, ok := parseFirewallPorts(a); ok {
					rs = append(rs, r)
				}
			}
			portBooks[b.Name] = rs
		}
	}
	var fw InternetFirewall
	for _, p := range policies {
		if p.AccountID != accountID || !p.Enabled {
			continue
		}
		r, ok := compileFirewallPolicy(p, ipBooks, portBooks, domains)
		if !ok {
			continue
		}
		switch p.Direction {
		case model.FirewallIn:
			fw.In = append(fw.In, r)
		case model.FirewallOut:
			fw.Out = append(fw.Out, r)
		}
	}
	byOrder := func(a, b FirewallRule) int { return cmp.Or(cmp.Compare(a.Order, b.Order), cmp.Compare(a.ID, b.ID)) }
	slices.SortFunc(fw.In, byOrder)
	slices.SortFunc(fw.Out, byOrder)
	return fw
}

func compileFirewallPolicy(p model.FirewallPolicy, ipBooks map[string][]netip.Prefix, portBooks map[string][]Range, domains Domains) (FirewallRule, bool) {
	r := FirewallRule{ID: p.ID, Order: p.Order, Drop: p.Action == model.FirewallDrop, Log: p.Action == model.FirewallLog}
	side := func(v, typ string) ([]netip.Prefix, bool) {
		switch typ {
		case model.FirewallNet, "":
			pr, ok := parseFirewallCIDR(v)
			return []netip.Prefix{pr}, ok
		case model.FirewallGroup:
			ps, ok := ipBooks[v]
			return ps, ok
		}
		return nil, false
	}
	var ok bool
	if r.Src, ok = side(p.Source, p.SourceType); !ok {
		return r, false
	}
	if p.DestinationType == model.FirewallDomain {
		// The domain's addresses as last resolved; none (not resolved
		// yet, or no address): the rule matches nothing.
		r.Domain = p.Destination
		for _, a := range domains[p.Destination] {
			if a.Is4() {
				r.Dst = append(r.Dst, netip.PrefixFrom(a, 32))
			}
		}
	} else if r.Dst, ok = side(p.Destination, p.DestinationType); !ok {
		return r, false
	}
	switch strings.ToUpper(p.Proto) {
	case model.FirewallProtoANY, "":
	case model.FirewallProtoTCP:
		r.Proto = IPProtoTCP
	case model.FirewallProtoUDP:
		r.Proto = IPProtoUDP
	case model.FirewallProtoICMP:
		r.Proto = IPProtoICMP
	default:
		return r, false
	}
	if r.Proto == IPProtoTCP || r.Proto == IPProtoUDP {
		switch p.DestPortType {
		case model.FirewallPortGroup:
			rs, ok := portBooks[p.DestPortGroup]
			if !ok {
				return r, false
			}
			r.Ports = rs
			if len(rs) == 0 {
				return r, false // an empty port book matches nothing
			}
		default:
			if p.DestPort != "" {
				pr, ok := parseFirewallPorts(p.DestPort)
				if !ok {
					return r, false
				}
				if pr != (Range{From: 0, To: 65535}) {
					r.Ports = []Range{pr}
				}
			}
		}
	}
	return r, true
}

// parseFirewallCIDR reads an IPv4 CIDR or address.
func parseFirewallCIDR(s string) (netip.Prefix, bool) {
	s = strings.TrimSpace(s)
	if p, err := netip.ParsePrefix(s); err == nil && p.Addr().Is4() {
		return p.Masked(), true
	}
	if a, err := netip.ParseAddr(s); err == nil && a.Is4() {
		return netip.PrefixFrom(a, 32), true
	}
	return netip.Prefix{}, false
}

// parseFirewallPorts reads "80", "80/88" or "0/0" (every port).
func parseFirewallPorts(s string) (Range, bool) {
	a, b, isRange := strings.Cut(strings.TrimSpace(s), "/")
	from, err1 := strconv.Atoi(a)
	to := from
	var err2 error
	if isRange {
		to, err2 = strconv.Atoi(b)
	}
	if err1 != nil || err2 != nil || from < 0 || to > 65535 || from > to {
		return Range{}, false
	}
	if from == 0 && to == 0 {
		return Range{From: 0, To: 65535}, true
	}
	if from == 0 {
		return Range{}, false
	}
	return Range{From: uint16(from), To: uint16(to)}, true
}

// Matches reports whether the rule matches the packet.
func (r FirewallRule) Matches(p Packet) bool {
	if r.Proto != 0 && p.Proto != r.Proto {
		return false
	}
	if len(r.Ports) > 0 && !slices.ContainsFunc(r.Ports, func(x Range) bool { return p.DstPort >= x.From && p.DstPort <= x.To }) {
		return false
	}
	in := func(ps []netip.Prefix, a netip.Addr) bool {
		return slices.ContainsFunc(ps, func(x netip.Prefix) bool { return x.Contains(a) })
	}
	return in(r.Src, p.Src) && in(r.Dst, p.Dst)
}

// Decide returns the rule that decides a new connection in direction dir
// (model.FirewallIn or model.FirewallOut), if any. With none the
// connection is allowed.
func (f InternetFirewall) Decide(dir string, p Packet) (FirewallRule, bool) {
	rules := f.In
	if dir == model.FirewallOut {
		rules = f.Out
	}
	for _, r := range rules {
		if r.Matches(p) {
			return r, true
		}
	}
	return FirewallRule{}, false
}

// Allows reports whether the firewall lets a new connection through.
func (f InternetFirewall) Allows(dir string, p Packet) bool {
	r, ok := f.Decide(dir, p)
	return !ok || !r.Drop
}

// VpcFirewall is Cloud Firewall's compiled VPC firewall on a peering
// connection (SEMANTICS.md Part A, "Cloud Firewall"): while Enabled, its
// rules judge every new connection crossing the peering, in either
// direction, with the private addresses on both sides; the first that
// matches decides (drop drops, accept and log allow), none matching
// allows. Off, it judges nothing.
type VpcFirewall struct {
	ID               string
	AccountID        string
	PeerConnectionID string
	Enabled          bool
	Rules            []FirewallRule
}

// CompileVpcFirewall compiles the policies of fw (those with
// VpcFirewallID fw.ID and fw's account) with the address books of fw's
// account, as CompileInternetFirewall does: disabled policies and policies
// that refer to a missing book or cannot be parsed are left out.
func CompileVpcFirewall(fw model.VpcFirewall, policies []model.FirewallPolicy, books []model.AddressBook) VpcFirewall {
	var own []model.FirewallPolicy
	for _, p := range policies {
		if p.VpcFirewallID == fw.ID && p.AccountID == fw.AccountID {
			// Direction is meaningless for a VPC firewall: compile every
			// policy as "in".
			p.Direction = model.FirewallIn
			own = append(own, p)
		}
	}
	c := CompileInternetFirewall(fw.AccountID, own, books, nil)
	return VpcFirewall{ID: fw.ID, AccountID: fw.AccountID, PeerConnectionID: fw.PeerConnectionID, Enabled: fw.Enabled, Rules: c.In}
}

// Decide returns the rule that decides a new connection crossing the
// peering, if any (none, or a firewall that is off: allowed).
func (f VpcFirewall) Decide(p Packet) (FirewallRule, bool) {
	if !f.Enabled {
		return FirewallRule{}, false
	}
	for _, r := range f.Rules {
		if r.Matches(p) {
			return r, true
		}
	}
	return FirewallRule{}, false
}

// Allows reports whether the VPC firewall lets a new connection through.
func (f VpcFirewall) Allows(p Packet) bool {
	r, ok := f.Decide(p)
	return !ok || !r.Drop
}

// NatFirewall is Cloud Firewall's compiled NAT firewall on one NAT
// gateway (SEMANTICS.md §8.1, "traffic through NAT gateways"): its rules
// judge every new outbound connection the gateway translates (SNAT
// entries and IP mappings), with the instance's private address as the
// source and the internet address as the destination, before the
// translation; the first that matches decides (drop drops, accept and log
// allow), none matching allows. There is no switch: a gateway without
// policies lets everything through, as Cloud Firewall does.
type NatFirewall struct {
	GatewayID string
	AccountID string
	Rules     []FirewallRule
}

// CompileNatFirewall compiles the policies of the gateway gatewayID of
// accountID (those with that NatGatewayID and account) with the account's
// address books and the domains' addresses, as CompileInternetFirewall does: disabled policies and
// policies that refer to a missing book or cannot be parsed are left out.
func CompileNatFirewall(accountID, gatewayID string, policies []model.FirewallPolicy, books []model.AddressBook, domains Domains) NatFirewall {
	var own []model.FirewallPolicy
	for _, p := range policies {
		if p.NatGatewayID == gatewayID && p.AccountID == accountID {
			p.Direction = model.FirewallOut
			own = append(own, p)
		}
	}
	c := CompileInternetFirewall(accountID, own, books, domains)
	return NatFirewall{GatewayID: gatewayID, AccountID: accountID, Rules: c.Out}
}

// Decide returns the rule that decides a new outbound connection through
// the gateway, if any (none: allowed).
func (f NatFirewall) Decide(p Packet) (FirewallRule, bool) {
	for _, r := range f.Rules {
		if r.Matches(p) {
			return r, true
		}
	}
	return FirewallRule{}, false
}

// Allows reports whether the NAT firewall lets a new connection through.
func (f NatFirewall) Allows(p Packet) bool {
	r, ok := f.Decide(p)
	return !ok || !r.Drop
}
