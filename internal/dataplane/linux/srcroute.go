package linux

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/palisade-project/palisade/internal/dataplane"
)

// Source routing inside instances with several ENIs. The main table sends
// everything that is not on a connected subnet out of the primary ENI
// (the default routes), so a packet from a secondary ENI's address to
// anywhere else would leave through the primary ENI, where the VPC's
// anti-spoofing drops it: the reply to a connection that came in on a
// secondary ENI from outside its vSwitch, or anything a socket bound to
// that address sends. Cloud images configure the same remedy for their
// secondary NICs: every ENI gets a routing table of its own
// (eniTableBase + device index) with its vSwitch's connected IPv4 route
// and default routes via its own gateways, and every address of the ENI a
// rule "from ADDR lookup TABLE". A packet whose source address is already
// chosen then leaves through the ENI that owns it; a socket that lets the
// kernel choose still follows the main table.
//
// An instance with one ENI gets none of it: the main table already says
// the same.
const (
	eniTableBase = 1000
	eniRulePref  = 1000
	// maxSourceRoutedDevice bounds the device indexes that get a table
	// (table IDs are 32 bits; cloud instances have a few dozen ENIs).
	maxSourceRoutedDevice = 1 << 16
)

// eniLink is an ENI in place, with the index of its interface in the
// instance namespace.
type eniLink struct {
	eni     dataplane.ENI
	linkIdx int
}

// eniTable is the routing table of an ENI's device index.
func eniTable(deviceIndex int) int { return eniTableBase + deviceIndex }

type ruleKey struct {
	src   netip.Prefix
	table int
}

type routeKey struct {
	table int
	dst   netip.Prefix
	gw    netip.Addr
	link  int
}

// desiredSourceRouting is the rules and routes of an instance whose ENIs
// in place are links (empty for fewer than two).
func desiredSourceRouting(links []eniLink) (map[ruleKey]bool, map[routeKey]*netlink.Route) {
	rules := map[ruleKey]bool{}
	routes := map[routeKey]*netlink.Route{}
	if len(links) < 2 {
		return rules, routes
	}
	add := func(r *netlink.Route, dst netip.Prefix, gw netip.Addr) {
		routes[routeKey{r.Table, dst, gw, r.LinkIndex}] = r
	}
	for _, l := range links {
		e := l.eni
		if e.DeviceIndex < 0 || e.DeviceIndex > maxSourceRoutedDevice {
			continue
		}
		table := eniTable(e.DeviceIndex)
		for _, ad := range e.Addrs {
			rules[ruleKey{netip.PrefixFrom(ad, ad.BitLen()), table}] = true
		}
		if e.VSwitchCidr.IsValid() && e.Gateway.IsValid() && len(e.Addrs) > 0 && e.Addrs[0].Is4() {
			subnet := e.VSwitchCidr.Masked()
			add(&netlink.Route{Dst: prefixIPNet(subnet), LinkIndex: l.linkIdx, Table: table, Scope: netlink.SCOPE_LINK,
				Src: e.Addrs[0].AsSlice(), Protocol: routeProto}, subnet, netip.Addr{})
			def := netip.PrefixFrom(netip.IPv4Unspecified(), 0)
			add(&netlink.Route{Dst: prefixIPNet(def), LinkIndex: l.linkIdx, Table: table, Gw: e.Gateway.AsSlice(),
				Flags: int(netlink.FLAG_ONLINK), Protocol: routeProto}, def, e.Gateway)
		}
		if e.Gateway6.IsValid() {
			def := netip.PrefixFrom(netip.IPv6Unspecified(), 0)
			add(&netlink.Route{Dst: prefixIPNet(def), LinkIndex: l.linkIdx, Table: table, Gw: e.Gateway6.AsSlice(),
				Flags: int(netlink.FLAG_ONLINK), Protocol: routeProto}, def, e.Gateway6)
		}
	}
	return rules, routes
}

// syncSourceRouting makes the instance namespace's per-ENI tables and
// rules exactly those of links: missing ones are added, Palisade's others
// (an ENI detached, an address removed) deleted. Only rules and routes
// tagged routeProto in tables from eniTableBase up are touched. It returns
// how many rules and routes it added or deleted.
func syncSourceRouting(h *netlink.Handle, links []eniLink) (int, error) {
	wantRules, wantRoutes := desiredSourceRouting(links)
	var errs []error
	changes := 0
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		routes, err := h.RouteListFiltered(fam, &netlink.Route{Table: unix.RT_TABLE_UNSPEC, Protocol: routeProto},
			netlink.RT_FILTER_TABLE|netlink.RT_FILTER_PROTOCOL)
		if err != nil {
			return changes, fmt.Errorf("list routes: %w", err)
		}
		for _, r := range routes {
			if r.Table < eniTableBase {
				continue
			}
			k := routeKey{table: r.Table, link: r.LinkIndex}
			if p, ok := ipNetPrefix(r.Dst); ok {
				k.dst = p
			} else if fam == netlink.FAMILY_V4 {
				k.dst = netip.PrefixFrom(netip.IPv4Unspecified(), 0)
			} else {
				k.dst = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
			}
			if gw, ok := netip.AddrFromSlice(r.Gw); ok {
				k.gw = gw.Unmap()
			}
			if want, ok := wantRoutes[k]; ok && sameSrc(want.Src, r.Src) {
				delete(wantRoutes, k)
				continue
			}
			changes++
			if err := h.RouteDel(&r); err != nil && !errors.Is(err, unix.ESRCH) {
				errs = append(errs, fmt.Errorf("delete route %s table %d: %w", k.dst, r.Table, err))
			}
		}
	}
	for k, r := range wantRoutes {
		changes++
		if err := h.RouteReplace(r); err != nil {
			errs = append(errs, fmt.Errorf("route %s via %v table %d: %w", k.dst, k.gw, k.table, err))
		}
	}
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		rules, err := h.RuleList(fam)
		if err != nil {
			return changes, errors.Join(append(errs, fmt.Errorf("list ip rules: %w", err))...)
		}
		for _, r := range rules {
			if r.Protocol != routeProto || r.Table < eniTableBase {
				continue
			}
			var k ruleKey
			if r.Src != nil {
				k.src, _ = ipNetPrefix(r.Src)
			}
			k.table = r.Table
			if wantRules[k] && r.Priority == eniRulePref && r.Dst == nil && r.Mark == 0 && r.IifName == "" && r.OifName == "" {
				delete(wantRules, k)
				continue
			}
			changes++
			if err := h.RuleDel(&r); err != nil && !errors.Is(err, unix.ENOENT) {
				errs = append(errs, fmt.Errorf("delete ip rule from %s lookup %d: %w", k.src, k.table, err))
			}
		}
	}
	for k := range wantRules {
		r := netlink.NewRule()
		r.Family = netlink.FAMILY_V4
		if k.src.Addr().Is6() {
			r.Family = netlink.FAMILY_V6
		}
		r.Src, r.Table, r.Priority, r.Protocol = prefixIPNet(k.src), k.table, eniRulePref, routeProto
		changes++
		if err := h.RuleAdd(r); err != nil && !errors.Is(err, unix.EEXIST) {
			errs = append(errs, fmt.Errorf("add ip rule from %s lookup %d: %w", k.src, k.table, err))
		}
	}
	return changes, errors.Join(errs...)
}

func sameSrc(a, b net.IP) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	return a.Equal(b)
}
