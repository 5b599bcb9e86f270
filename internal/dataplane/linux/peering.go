package linux

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/palisade-project/palisade/internal/dataplane"
)

// VPC peering joins the namespaces of two VPCs on the host with one veth
// pair per connection, both ends named PeerLinkName(ID):
//
//	vpc A netns  pp<id>  neighbours 169.254.77.1 and fe80::77:1 -> the other end's MAC (permanent)
//	             <A's IPv4 route entry> via 169.254.77.1 dev pp<id> onlink proto 0x9c
//	             <A's IPv6 route entry> via fe80::77:1 dev pp<id> proto 0x9c
//	vpc B netns  pp<id>  the same with B's route entries
//
//	table ip palisade_peer {                  # in each namespace with peerings
//	  set vfw_<peering ID>_… (a VPC firewall's rules: maps when flattened)
//	  chain forward { type filter hook forward priority filter - 20; policy accept;
//	    iifname "pp*" oifname != "pv*" oifname != "povl" drop  # a peer reaches ENIs (here or, through the tunnel, on other hosts), nothing beyond
//	    iifname "pp<id>" ct state new jump vfw_<peering ID>
//	  }
//	  chain vfw_<peering ID> { [ip saddr @…] [ip daddr @…] [meta l4proto P] [th dport @…] goto vfw_<peering ID>_r<i> … }
//	  chain vfw_<peering ID>_r<i> { counter [log …]; accept|drop }   # firewallRuleChainRules
//	  chain input { type filter hook input priority filter - 20; policy accept;
//	    iifname "pp*" drop }                   # nor the router itself
//	}
//	table ip6 palisade_peer {                 # the same for IPv6, without vfw chains
//	  chain forward { …; iifname "pp*" oifname != "pv*" drop }
//	  chain input { …; iifname "pp*" drop }
//	}
//
// Across hosts a peering's packets go through the overlay of its tunnel
// VPC (overlay.go) and cross on the host of the other VPC's ENI, where the
// agent gives the tunnel VPC a namespace if it has no ENIs there: so a
// peer may also send into the tunnel end (povl), to this VPC's ENIs on
// other hosts, and what comes out of it may go to a peering link.
//
// Each end routes only what its own route entries say, as in the cloud: a
// peering with routes on one side carries requests that get no answer.
// The next hop is a link-local address nobody has (one per family); the
// permanent neighbour makes the frames go to the other end, which routes
// them to the ENI as any packet. A VPC firewall judges the new connections
// arriving over the link, so every connection is judged once, where it
// enters the other VPC, after the route and before the ACLs and security
// groups. Its policies are IPv4 (Cloud Firewall's IpVersion 4; 6 is
// refused), and a policy matches addresses of its own family only, so an
// IPv6 connection meets none of them and is allowed, as when no policy
// matches: the ip6 table keeps the peer to ENIs and has no firewall chain.
// Both tables come before the link and the routes: a link whose tables
// could not be loaded is not made (fail closed). The link takes no router
// advertisements and makes no addresses of its own but its link-local one.
const (
	peerLinkPrefix = "pp"
	peerRouteProto = 0x9c
	peerTable      = "palisade_peer"
	peerPrioOff    = -20
)

// peerNextHop and peerNextHop6 are the link-local next hops of every
// peering route, IPv4 and IPv6.
var (
	peerNextHop  = netip.AddrFrom4([4]byte{169, 254, 77, 1})
	peerNextHop6 = netip.MustParseAddr("fe80::77:1")
)

// peerGateway is the next hop of a peering route to dst.
func peerGateway(dst netip.Prefix) netip.Addr {
	if dst.Addr().Is6() {
		return peerNextHop6
	}
	return peerNextHop
}

// PeerLinkName is a peering connection's link name in both namespaces:
// "pp" and the first 13 characters of the ID after its last '-'.
func PeerLinkName(peeringID string) string {
	suffix := peeringID
	if i := strings.LastIndexByte(peeringID, '-'); i >= 0 {
		suffix = peeringID[i+1:]
	}
	return truncate(peerLinkPrefix+sanitizeIfName(suffix), maxIfName)
}

// validPeering checks a peering before anything is made for it.
func validPeering(p dataplane.Peering) error {
	if p.ID == "" || sanitizeIfName(strings.TrimPrefix(p.ID, "pcc-")) == "" {
		return fmt.Errorf("peering %q: no usable ID", p.ID)
	}
	for _, r := range p.Routes {
		if !r.IsValid() || r != r.Masked() || r.Addr().Zone() != "" || r.Addr().Is4In6() {
			return fmt.Errorf("peering %s: route %v is not a masked IPv4 or IPv6 prefix", p.ID, r)
		}
	}
	return validNSName(p.PeerVPC, vpcNSPrefix)
}

// applyPeerTable makes a VPC namespace's peering tables, ip and ip6,
// match its peerings (none: no tables).
func applyPeerTable(nsFd int, peerings []dataplane.Peering) error {
	if len(peerings) == 0 {
		return errors.Join(applyTaggedTable(nsFd, peerTable, nil, nil, nil, true),
			applyTaggedTableOf(nsFd, nftables.TableFamilyIPv6, peerTable, nil, nil, nil, true, ""))
	}
	// The rules every family has: a peer reaches ENIs only.
	base := func() ([]plRule, map[string]chainHook) {
		drop := &expr.Verdict{Kind: expr.VerdictDrop}
		rules := []plRule{
			{"forward", cat(ifnameIs(expr.MetaKeyIIFNAME, peerLinkPrefix, true), []expr.Any{
				&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
				&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte(vethPrefix)},
				// Into the tunnel: the peer's packets to this VPC's
				// ENIs on other hosts, where this namespace is where
				// they cross (model.PeerConnection.TunnelVPC).
				&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: ifnameKey(overlayLink)},
				drop})},
			{"input", cat(ifnameIs(expr.MetaKeyIIFNAME, peerLinkPrefix, true), []expr.Any{drop})},
		}
		chains := map[string]chainHook{
			"forward": {typ: nftables.ChainTypeFilter, hook: nftables.ChainHookForward, prio: nftables.ChainPriorityRef(*nftables.ChainPriorityFilter + peerPrioOff)},
			"input":   {typ: nftables.ChainTypeFilter, hook: nftables.ChainHookInput, prio: nftables.ChainPriorityRef(*nftables.ChainPriorityFilter + peerPrioOff)},
		}
		return rules, chains
	}
	rules, chains := base()
	var sets []tableSet
	sorted := slices.Clone(peerings)
	slices.SortFunc(sorted, func(a, b dataplane.Peering) int { return strings.Compare(a.ID, b.ID) })
	for _, p := range sorted {
		if p.Firewall == nil {
			continue
		}
		ch := dataplane.PeerFirewallChain(p.ID)
		chains[ch] = chainHook{}
		rules = append(rules, plRule{"forward", cat(ifnameIs(expr.MetaKeyIIFNAME, PeerLinkName(p.ID), false), ctStateHas(expr.CtStateBitNEW),
			[]expr.Any{&expr.Verdict{Kind: expr.VerdictJump, Chain: ch}})})
		for i := range p.Firewall.Rules {
			chains[firewallRuleChain(ch, i)] = chainHook{}
		}
		brules, bsets := firewallBody(ch, p.Firewall.Rules, p.Firewall.Map)
		rules, sets = append(rules, brules...), append(sets, bsets...)
	}
	if err := applyTaggedTable(nsFd, peerTable, chains, sets, rules, false); err != nil {
		return err
	}
	rules6, chains6 := base()
	if err := applyTaggedTableOf(nsFd, nftables.TableFamilyIPv6, peerTable, chains6, nil, rules6, false, ""); err != nil {
		return fmt.Errorf("ip6: %w", err)
	}
	return nil
}

// peerFirewallCounters reads the packets each rule of each peering's VPC
// firewall matched in this namespace (the connections that entered the
// VPC over the peering), in rule order, keyed by
// dataplane.PeerFirewallChain.
func peerFirewallCounters(conn *nftables.Conn) map[string][]uint64 {
	return firewallChainCounters(conn, &nftables.Table{Name: peerTable, Family: nftables.TableFamilyIPv4}, "vfw_")
}

// applyPeerings links the VPC namespaces of every peering in plans (both
// ends on this host), routes each end's destinations over its link, and
// removes the peering links no plan wants. It returns the errors by VPC.
func (a *Applier) applyPeerings(plans []vpcPlan) map[string]error {
	errs := map[string]error{}
	fail := func(vpc string, err error) { errs[vpc] = errors.Join(errs[vpc], err) }
	byVPC := map[string]vpcPlan{}
	for _, p := range plans {
		byVPC[p.vpc.ID] = p
	}
	tableErr := map[string]error{}
	refs := map[string]*nsRef{}
	defer func() {
		for _, r := range refs {
			r.Close()
		}
	}()
	for _, p := range plans {
		ref, err := a.ensureNS(p.vpc.ID)
		if err != nil {
			fail(p.vpc.ID, err)
			continue
		}
		refs[p.vpc.ID] = ref
		var valid []dataplane.Peering
		for _, pe := range p.vpc.Peerings {
			if err := validPeering(pe); err != nil {
				fail(p.vpc.ID, err)
				continue
			}
			valid = append(valid, pe)
		}
		if err := applyPeerTable(int(ref.ns), valid); err != nil {
			tableErr[p.vpc.ID] = err
			fail(p.vpc.ID, fmt.Errorf("peering table: %w", err))
		}
	}
	keep := map[string]map[string]bool{} // VPC -> link names wanted
	for _, p := range plans {
		for _, pe := range p.vpc.Peerings {
			other, ok := byVPC[pe.PeerVPC]
			// Both ends' tables in place, and the other end knows the
			// peering too; otherwise no link (fail closed).
			if !ok || refs[p.vpc.ID] == nil || refs[pe.PeerVPC] == nil || tableErr[p.vpc.ID] != nil || tableErr[pe.PeerVPC] != nil ||
				!slices.ContainsFunc(other.vpc.Peerings, func(o dataplane.Peering) bool { return o.ID == pe.ID }) || validPeering(pe) != nil {
				continue
			}
			name := PeerLinkName(pe.ID)
			if keep[p.vpc.ID] == nil {
				keep[p.vpc.ID] = map[string]bool{}
			}
			keep[p.vpc.ID][name] = true
			if p.vpc.ID > pe.PeerVPC {
				continue // the pair is made once, from the lower VPC ID
			}
			if err := a.ensurePeerLink(refs[p.vpc.ID], refs[pe.PeerVPC], name); err != nil {
				fail(p.vpc.ID, fmt.Errorf("peering %s: %w", pe.ID, err))
				fail(pe.PeerVPC, fmt.Errorf("peering %s: %w", pe.ID, err))
				delete(keep[p.vpc.ID], name)
			}
		}
	}
	for _, p := range plans {
		ref := refs[p.vpc.ID]
		if ref == nil {
			continue
		}
		if err := syncPeerRoutes(ref, p.vpc.Peerings, keep[p.vpc.ID]); err != nil {
			fail(p.vpc.ID, err)
		}
		if err := prunePeerLinks(ref, keep[p.vpc.ID]); err != nil {
			fail(p.vpc.ID, err)
		}
	}
	return errs
}

// ensurePeerLink makes the veth pair named name between two VPC
// namespaces, up, with no reverse-path filter and the next hop's permanent
// neighbour on both ends.
func (a *Applier) ensurePeerLink(aRef, bRef *nsRef, name string) error {
	aLink, bLink, err := a.ensureVethBetween(aRef, bRef, name, name)
	if err != nil {
		return err
	}
	for _, end := range []struct {
		ref        *nsRef
		link, peer netlink.Link
	}{{aRef, aLink, bLink}, {bRef, bLink, aLink}} {
		// IPv6 before the link is up: it comes up with no router
		// advertisements taken and no address made from one, forwarding,
		// and without DAD holding its link-local address.
		v6 := "net/ipv6/conf/" + name + "/"
		missing, err := applySysctls(end.ref.ns, []sysctl{
			{Key: "net/ipv4/conf/" + name + "/rp_filter", Value: "0"},
			{Key: v6 + "disable_ipv6", Value: "0", Optional: true},
			{Key: v6 + "forwarding", Value: "1", Optional: true},
			{Key: v6 + "accept_ra", Value: "0", Optional: true},
			{Key: v6 + "autoconf", Value: "0", Optional: true},
			{Key: v6 + "accept_dad", Value: "0", Optional: true},
		})
		if err != nil {
			return err
		}
		if err := linkUp(end.ref.nl, end.link); err != nil {
			return err
		}
		hops := []netip.Addr{peerNextHop}
		if len(missing) == 0 { // a host without IPv6 peers IPv4 only
			hops = append(hops, peerNextHop6)
		}
		for _, hop := range hops {
			family := unix.AF_INET
			if hop.Is6() {
				family = unix.AF_INET6
			}
			if err := end.ref.nl.NeighSet(&netlink.Neigh{LinkIndex: end.link.Attrs().Index, Family: family,
				State: netlink.NUD_PERMANENT, IP: hop.AsSlice(), HardwareAddr: end.peer.Attrs().HardwareAddr}); err != nil {
				return fmt.Errorf("neighbour %s on %s in %s: %w", hop, name, end.ref.name, err)
			}
		}
	}
	return nil
}

// ensureVethBetween makes sure aName in aRef and bName in bRef are the two
// ends of one veth pair, replacing whatever stale links carry those names,
// and returns both ends.
func (a *Applier) ensureVethBetween(aRef, bRef *nsRef, aName, bName string) (aLink, bLink netlink.Link, err error) {
	aLink, bLink, err = lookupPair(aRef, bRef, aName, bName)
	if err != nil {
		return nil, nil, err
	}
	if vethPair(aLink, bLink) {
		return aLink, bLink, nil
	}
	for _, del := range []struct {
		nl   *netlink.Handle
		link netlink.Link
	}{{aRef.nl, aLink}, {bRef.nl, bLink}} {
		if del.link == nil {
			continue
		}
		if err := del.nl.LinkDel(del.link); err != nil && !errors.Is(err, unix.ENODEV) {
			return nil, nil, fmt.Errorf("delete stale %s: %w", del.link.Attrs().Name, err)
		}
	}
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: aName}, PeerName: bName, PeerNamespace: netlink.NsFd(bRef.ns)}
	if err := aRef.nl.LinkAdd(veth); err != nil {
		return nil, nil, fmt.Errorf("create veth %s/%s: %w", aName, bName, err)
	}
	a.log.Info("created veth between namespaces", "netns", aRef.name, "link", aName, "peer_netns", bRef.name, "peer", bName)
	if aLink, bLink, err = lookupPair(aRef, bRef, aName, bName); err != nil {
		return nil, nil, err
	}
	if aLink == nil || bLink == nil {
		return nil, nil, fmt.Errorf("veth %s/%s missing right after creation", aName, bName)
	}
	return aLink, bLink, nil
}

// syncPeerRoutes makes the namespace's peering routes (protocol
// peerRouteProto) exactly the routes of its peerings whose link is kept.
func syncPeerRoutes(ref *nsRef, peerings []dataplane.Peering, links map[string]bool) error {
	want := map[netip.Prefix]int{} // destination -> link index
	var errs []error
	for _, pe := range peerings {
		name := PeerLinkName(pe.ID)
		if !links[name] {
			continue
		}
		l, err := ref.nl.LinkByName(name)
		if err != nil {
			errs = append(errs, fmt.Errorf("peering %s: link %s: %w", pe.ID, name, err))
			continue
		}
		for _, r := range pe.Routes {
			want[r] = l.Attrs().Index
		}
	}
	have := map[netip.Prefix]bool{}
	for _, family := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		routes, err := ref.nl.RouteListFiltered(family, &netlink.Route{Protocol: peerRouteProto}, netlink.RT_FILTER_PROTOCOL)
		if err != nil {
			errs = append(errs, fmt.Errorf("netns %s: list peering routes (family %d): %w", ref.name, family, err))
			continue
		}
		for _, r := range routes {
			p, ok := ipNetPrefix(r.Dst)
			if idx, wanted := want[p]; ok && wanted && r.LinkIndex == idx && r.Gw.Equal(net.IP(peerGateway(p).AsSlice())) {
				have[p] = true
				continue
			}
			if err := ref.nl.RouteDel(&r); err != nil && !errors.Is(err, unix.ESRCH) {
				errs = append(errs, fmt.Errorf("netns %s: delete peering route %v: %w", ref.name, r.Dst, err))
			}
		}
	}
	// In order, so that errors read the same every time.
	for _, p := range slices.SortedFunc(maps.Keys(want), comparePrefix) {
		if have[p] {
			continue
		}
		r := &netlink.Route{Dst: prefixIPNet(p), LinkIndex: want[p], Gw: peerGateway(p).AsSlice(), Protocol: peerRouteProto}
		if p.Addr().Is4() {
			// The IPv4 next hop is in no subnet of the link; the IPv6
			// one is link-local, on the link by definition.
			r.Flags = int(netlink.FLAG_ONLINK)
		}
		if err := ref.nl.RouteReplace(r); err != nil {
			errs = append(errs, fmt.Errorf("netns %s: peering route %s: %w", ref.name, p, err))
		}
	}
	return errors.Join(errs...)
}

// prunePeerLinks deletes the namespace's peering links that are not kept
// (deleting one end removes the pair).
func prunePeerLinks(ref *nsRef, keep map[string]bool) error {
	links, err := ref.nl.LinkList()
	if err != nil {
		return fmt.Errorf("netns %s: list links: %w", ref.name, err)
	}
	var errs []error
	for _, l := range links {
		name := l.Attrs().Name
		if l.Type() != "veth" || !strings.HasPrefix(name, peerLinkPrefix) || keep[name] {
			continue
		}
		if err := ref.nl.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
			errs = append(errs, fmt.Errorf("netns %s: delete %s: %w", ref.name, name, err))
		}
	}
	return errors.Join(errs...)
}

// comparePrefix orders prefixes by address (IPv4 first), then length.
func comparePrefix(a, b netip.Prefix) int {
	return cmp.Or(a.Addr().Compare(b.Addr()), cmp.Compare(a.Bits(), b.Bits()))
}
