package linux

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/palisade-project/palisade/internal/dataplane"
)

// NAT gateways across hosts (dataplane.OverlayNAT). On the host of an ENI
// whose NAT gateway is on another host, the VPC namespace routes the
// ENI's internet traffic to the gateway's host over the tunnel:
//
//	ip rule pref 200 lookup main suppress_prefixlength 0   # the VPC's own routes first
//	ip rule pref 201 from <ENI with an EIP here> lookup main   # per Keep address
//	ip rule pref 202 from <source> to <destination> lookup 160+<i>   # per route of the i-th gateway host
//	table 160+<i>: default via <the host's overlay next hop> dev povl onlink
//
// and its overlay table lets packets from outside the VPC (the internet,
// through the gateway) in from that host's tunnel end (its MAC), before
// the check of remote sources; from inside the VPC's vSwitches only the
// other hosts' ENI addresses still come out of the tunnel:
//
//	prerouting: iifname "povl" meta nfproto ipv4 ether saddr @natvia ip saddr != @natinside4 accept
//
// On the gateway's host, the overlay table lets the other hosts' packets
// out through the uplink where the gateway translates them: sources its
// SNAT ranges and IP mappings cover, and the answers of forwarded ports:
//
//	forward: iifname "povl" oifname "uplink" ct status dnat accept
//	         iifname "povl" oifname "uplink" ip daddr . ip saddr @natout4 accept
//
// Everything else from the tunnel still goes to ENIs and peerings only.
const (
	natMainRulePref = 200
	natKeepRulePref = 201
	natRulePref     = 202
	natTableBase    = 160
	natTableMax     = natTableBase + 63 // below the default (253), main and local tables
)

// overlayNATSets are the overlay table's sets for NAT gateways across
// hosts: the MACs of the gateways' tunnel ends (on an ENI's host) and the
// destination . source ranges the gateways here translate.
func overlayNATSets(o *dataplane.Overlay, gws []dataplane.NATGateway, inside []netip.Prefix) []tableSet {
	in := tableSet{name: "natinside4", interval: true, key: nftables.TypeIPAddr, elems: prefixIntervals(inside)}
	via := tableSet{name: "natvia", key: nftables.TypeEtherAddr}
	for _, n := range o.NAT {
		via.elems = append(via.elems, nftables.SetElement{Key: overlayMAC(o.VNI, n.Via)})
	}
	out := tableSet{name: "natout4", interval: true, concat: true, key: nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeIPAddr)}
	v4 := func(a netip.Addr) []byte { b := a.As4(); return b[:] }
	for _, r := range natOutRanges(gws) {
		out.elems = append(out.elems, nftables.SetElement{Key: append(v4(r.Dst), v4(r.Src)...), KeyEnd: append(v4(r.DstTo), v4(r.SrcTo)...)})
	}
	return []tableSet{via, out, in}
}

// natOutRanges are what the gateways translate on the way out: their SNAT
// ranges, and their IP mappings' internal addresses to anywhere.
func natOutRanges(gws []dataplane.NATGateway) []dataplane.SNATRange {
	var out []dataplane.SNATRange
	all := [2]netip.Addr{netip.IPv4Unspecified(), netip.AddrFrom4([4]byte{255, 255, 255, 255})}
	for _, g := range gws {
		out = append(out, g.SNAT...)
		for _, r := range g.DNAT {
			if r.Proto == 0 {
				out = append(out, dataplane.SNATRange{Dst: all[0], DstTo: all[1], Src: r.Internal, SrcTo: r.Internal, Addr: r.Addr})
			}
		}
	}
	// An IP mapping's source may also be in an SNAT range: drop the
	// overlapping elements a pipapo set refuses (the mapping's wins in the
	// NAT table anyway; either lets the packet out).
	var kept []dataplane.SNATRange
	for _, r := range out {
		if !slices.ContainsFunc(kept, func(k dataplane.SNATRange) bool { return overlaps(k, r) }) {
			kept = append(kept, r)
		}
	}
	return kept
}

func overlaps(a, b dataplane.SNATRange) bool {
	return a.Dst.Compare(b.DstTo) <= 0 && b.Dst.Compare(a.DstTo) <= 0 && a.Src.Compare(b.SrcTo) <= 0 && b.Src.Compare(a.SrcTo) <= 0
}

// overlayNATRules are the rules above (the prerouting one first in its
// chain, the forward ones before the chain's drop).
func overlayNATRules(o *dataplane.Overlay, gws []dataplane.NATGateway) (pre, fwd []plRule) {
	iif := ifnameIs(expr.MetaKeyIIFNAME, overlayLink, false)
	accept := &expr.Verdict{Kind: expr.VerdictAccept}
	if len(o.NAT) > 0 {
		pre = append(pre, plRule{"prerouting", cat(iif, []expr.Any{
			&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.NFPROTO_IPV4}},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseLLHeader, Offset: 6, Len: 6},
			&expr.Lookup{SourceRegister: 1, SetName: "natvia"},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
			&expr.Lookup{SourceRegister: 1, SetName: "natinside4", Invert: true},
			accept,
		})})
	}
	toUplink := cat(iif, ifnameIs(expr.MetaKeyOIFNAME, uplinkLink, false))
	if slices.ContainsFunc(gws, func(g dataplane.NATGateway) bool { return len(g.DNAT) > 0 }) {
		fwd = append(fwd, plRule{"forward", cat(toUplink, ctStatusIs(1<<5, true), []expr.Any{accept})})
	}
	if len(natOutRanges(gws)) > 0 {
		fwd = append(fwd, plRule{"forward", cat(toUplink, gwSNATKey(), []expr.Any{
			&expr.Lookup{SourceRegister: 1, SetName: "natout4"},
			accept,
		})})
	}
	return pre, fwd
}

// natRuleKey identifies one of the policy-routing rules above.
type natRuleKey struct {
	pref     int
	src, dst netip.Prefix
	table    int
}

// syncOverlayNATRouting makes the namespace's NAT policy routing exactly
// what o.NAT asks (none when o is nil or has none): the rules tagged
// routeProto with the preferences above, and the default routes of the
// tables from natTableBase on.
func syncOverlayNATRouting(ref *nsRef, link netlink.Link, o *dataplane.Overlay) error {
	wantRules := map[natRuleKey]bool{}
	wantRoutes := map[int]netip.Addr{} // table -> next hop
	if o != nil && len(o.NAT) > 0 && link != nil {
		idx := map[netip.Addr]int{}
		for i, r := range sortedRemotes(o) {
			idx[r.Underlay] = i
		}
		any4 := netip.PrefixFrom(netip.IPv4Unspecified(), 0)
		wantRules[natRuleKey{pref: natMainRulePref, table: unix.RT_TABLE_MAIN}] = true
		for i, n := range o.NAT {
			if i > natTableMax-natTableBase {
				break
			}
			remote, ok := idx[n.Via]
			if !ok {
				continue
			}
			hop, _ := overlayNextHops(remote)
			wantRoutes[natTableBase+i] = hop
			for _, k := range n.Keep {
				if k.Is4() {
					wantRules[natRuleKey{pref: natKeepRulePref, src: netip.PrefixFrom(k, 32), dst: any4, table: unix.RT_TABLE_MAIN}] = true
				}
			}
			for _, r := range n.Routes {
				if r.Src.Addr().Is4() && r.Dst.Addr().Is4() {
					wantRules[natRuleKey{pref: natRulePref, src: r.Src.Masked(), dst: r.Dst.Masked(), table: natTableBase + i}] = true
				}
			}
		}
	}
	var errs []error
	rules, err := ref.nl.RuleList(netlink.FAMILY_V4)
	if err != nil {
		return fmt.Errorf("netns %s: list ip rules: %w", ref.name, err)
	}
	for _, r := range rules {
		if r.Protocol != routeProto || r.Priority < natMainRulePref || r.Priority > natRulePref {
			continue
		}
		k := natRuleKey{pref: r.Priority, table: r.Table, src: netip.PrefixFrom(netip.IPv4Unspecified(), 0), dst: netip.PrefixFrom(netip.IPv4Unspecified(), 0)}
		if p, ok := ipNetPrefix(r.Src); ok {
			k.src = p
		}
		if p, ok := ipNetPrefix(r.Dst); ok {
			k.dst = p
		}
		if k.pref == natMainRulePref {
			k.src, k.dst = netip.Prefix{}, netip.Prefix{}
		}
		suppressOK := (k.pref == natMainRulePref) == (r.SuppressPrefixlen == 0)
		if wantRules[k] && suppressOK && r.Mark == 0 && r.IifName == "" && r.OifName == "" {
			delete(wantRules, k)
			continue
		}
		if err := ref.nl.RuleDel(&r); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("netns %s: delete ip rule %+v: %w", ref.name, k, err))
		}
	}
	for k := range wantRules {
		r := netlink.NewRule()
		r.Family, r.Priority, r.Table, r.Protocol = netlink.FAMILY_V4, k.pref, k.table, routeProto
		if k.pref == natMainRulePref {
			r.SuppressPrefixlen = 0
		} else {
			r.Src = prefixIPNet(k.src)
			if k.dst.Bits() > 0 {
				r.Dst = prefixIPNet(k.dst)
			}
		}
		if err := ref.nl.RuleAdd(r); err != nil && !errors.Is(err, unix.EEXIST) {
			errs = append(errs, fmt.Errorf("netns %s: add ip rule %+v: %w", ref.name, k, err))
		}
	}
	routes, err := ref.nl.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: unix.RT_TABLE_UNSPEC, Protocol: routeProto},
		netlink.RT_FILTER_TABLE|netlink.RT_FILTER_PROTOCOL)
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("netns %s: list routes: %w", ref.name, err))...)
	}
	for _, r := range routes {
		if r.Table < natTableBase || r.Table > natTableMax {
			continue
		}
		gw, _ := netip.AddrFromSlice(r.Gw)
		dst, ok := ipNetPrefix(r.Dst)
		isDefault := r.Dst == nil || (ok && dst.Bits() == 0)
		if hop, ok := wantRoutes[r.Table]; ok && link != nil && r.LinkIndex == link.Attrs().Index && gw.Unmap() == hop && isDefault {
			delete(wantRoutes, r.Table)
			continue
		}
		if err := ref.nl.RouteDel(&r); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("netns %s: delete route of table %d: %w", ref.name, r.Table, err))
		}
	}
	for table, hop := range wantRoutes {
		r := &netlink.Route{LinkIndex: link.Attrs().Index, Gw: hop.AsSlice(), Table: table, Flags: int(netlink.FLAG_ONLINK), Protocol: routeProto}
		if err := ref.nl.RouteReplace(r); err != nil {
			errs = append(errs, fmt.Errorf("netns %s: default route of table %d: %w", ref.name, table, err))
		}
	}
	return errors.Join(errs...)
}
