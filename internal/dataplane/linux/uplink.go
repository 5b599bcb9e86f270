package linux

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/palisade-project/palisade/internal/dataplane"
)

// The uplink of a VPC that has EIPs on this host is a veth pair:
//
//	root netns   pu<vpc>  169.254.0.1/32 scope link, alias = marker
//	             <EIP>/32 via 169.254.0.2 dev pu<vpc> onlink proto 0x9a   (one per EIP)
//	vpc netns    uplink   169.254.0.2/32 scope link
//	             default via 169.254.0.1 dev uplink onlink proto 0x9a
//
// The two link addresses are the same on every uplink: each VPC namespace
// has its own stack, and in the root namespace the address only answers
// the router's ARP for its default gateway. Being link-scoped, the root
// side's address is never chosen as a source: the host talks to EIPs from
// its own addresses, which the instances then see, as real internet
// clients. Routes in the root namespace point at the router's address per
// EIP, so nothing but the EIPs themselves is routed into a VPC.
var (
	uplinkHostAddr = netip.MustParseAddr("169.254.0.1")
	uplinkVPCAddr  = netip.MustParseAddr("169.254.0.2")
)

// hostNS returns the network namespace of the calling thread, locked for
// the call: an unlocked goroutine's thread is always in the process's own
// namespace (code that enters another one locks its thread and restores or
// discards it), whereas /proc/<pid>/ns/net follows the main thread, which
// any goroutine may have locked into another namespace.
func hostNS() (netns.NsHandle, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	return netns.Get()
}

// openRootNS opens the namespace the Applier was created in: the host's
// side of every uplink.
func (a *Applier) openRootNS() (*nsRef, error) {
	if a.rootErr != nil {
		return nil, fmt.Errorf("root netns: %w", a.rootErr)
	}
	fd, err := unix.Dup(int(a.root))
	if err != nil {
		return nil, fmt.Errorf("root netns: %w", err)
	}
	ns := netns.NsHandle(fd)
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		ns.Close()
		return nil, fmt.Errorf("netlink handle in root netns: %w", err)
	}
	return &nsRef{name: "root", ns: ns, nl: h}, nil
}

// ensureUplink makes the VPC's uplink pair with its addresses and the
// router's default route, and returns the index of the root-side end.
func (a *Applier) ensureUplink(root, vref *nsRef, vpcID string) (rootIdx, vpcIdx int, err error) {
	name := UplinkName(vpcID)
	vpcEnd, rootEnd, err := lookupPair(vref, root, uplinkLink, name)
	if err != nil {
		return 0, 0, err
	}
	if !vethPair(vpcEnd, rootEnd) {
		if rootEnd != nil && rootEnd.Attrs().Alias != a.marker {
			return 0, 0, fmt.Errorf("root netns already has a link %s that is not this Palisade's", name)
		}
		for _, del := range []struct {
			nl   *netlink.Handle
			link netlink.Link
		}{{vref.nl, vpcEnd}, {root.nl, rootEnd}} {
			if del.link == nil {
				continue
			}
			if err := del.nl.LinkDel(del.link); err != nil && !errors.Is(err, unix.ENODEV) {
				return 0, 0, fmt.Errorf("delete stale %s: %w", del.link.Attrs().Name, err)
			}
		}
		veth := &netlink.Veth{
			LinkAttrs:     netlink.LinkAttrs{Name: uplinkLink},
			PeerName:      name,
			PeerNamespace: netlink.NsFd(root.ns),
		}
		if err := vref.nl.LinkAdd(veth); err != nil {
			return 0, 0, fmt.Errorf("create uplink %s/%s: %w", uplinkLink, name, err)
		}
		a.log.Info("created uplink", "vpc_netns", vref.name, "root", name)
		if vpcEnd, rootEnd, err = lookupPair(vref, root, uplinkLink, name); err != nil {
			return 0, 0, err
		}
		if vpcEnd == nil || rootEnd == nil {
			return 0, 0, fmt.Errorf("uplink %s/%s missing right after creation", uplinkLink, name)
		}
	}
	if rootEnd.Attrs().Alias != a.marker {
		if err := root.nl.LinkSetAlias(rootEnd, a.marker); err != nil {
			return 0, 0, fmt.Errorf("mark %s: %w", name, err)
		}
	}
	// IPv4 only: EIPs are IPv4, and the NAT table drops other families on
	// the uplink anyway.
	if _, err := applySysctls(vref.ns, []sysctl{{Key: "net/ipv6/conf/" + uplinkLink + "/disable_ipv6", Value: "1", Optional: true}}); err != nil {
		return 0, 0, err
	}
	if err := syncLinkScopeAddr(vref.nl, vpcEnd, uplinkVPCAddr); err != nil {
		return 0, 0, err
	}
	if err := syncLinkScopeAddr(root.nl, rootEnd, uplinkHostAddr); err != nil {
		return 0, 0, err
	}
	if err := linkUp(vref.nl, vpcEnd); err != nil {
		return 0, 0, err
	}
	if err := linkUp(root.nl, rootEnd); err != nil {
		return 0, 0, err
	}
	def := &netlink.Route{
		Dst:       prefixIPNet(netip.PrefixFrom(netip.IPv4Unspecified(), 0)),
		LinkIndex: vpcEnd.Attrs().Index,
		Gw:        uplinkHostAddr.AsSlice(),
		Flags:     int(netlink.FLAG_ONLINK),
		Protocol:  routeProto,
	}
	if err := vref.nl.RouteReplace(def); err != nil {
		return 0, 0, fmt.Errorf("default route via uplink: %w", err)
	}
	return rootEnd.Attrs().Index, vpcEnd.Attrs().Index, nil
}

// syncLinkScopeAddr makes ad/32 (scope link) the only IPv4 address of l.
func syncLinkScopeAddr(h *netlink.Handle, l netlink.Link, ad netip.Addr) error {
	have, err := h.AddrList(l, netlink.FAMILY_V4)
	if err != nil {
		return fmt.Errorf("list addresses of %s: %w", l.Attrs().Name, err)
	}
	want := prefixIPNet(netip.PrefixFrom(ad, 32))
	found := false
	for _, x := range have {
		ones, _ := x.Mask.Size()
		if x.IP.Equal(want.IP) && ones == 32 && x.Scope == int(netlink.SCOPE_LINK) {
			found = true
			continue
		}
		if err := h.AddrDel(l, &x); err != nil {
			return fmt.Errorf("delete %s from %s: %w", x.IPNet, l.Attrs().Name, err)
		}
	}
	if found {
		return nil
	}
	if err := h.AddrAdd(l, &netlink.Addr{IPNet: want, Scope: int(netlink.SCOPE_LINK)}); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("add %s to %s: %w", ad, l.Attrs().Name, err)
	}
	return nil
}

// removeUplink deletes the VPC's uplink (its root-side end and the routes
// through it go with it).
func removeUplink(vref *nsRef) error {
	l, err := vref.nl.LinkByName(uplinkLink)
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("look up %s: %w", uplinkLink, err)
	}
	if err := vref.nl.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("delete %s: %w", uplinkLink, err)
	}
	return nil
}

// ownedUplinks lists the root-side uplink ends carrying this Applier's
// marker, by name.
func (a *Applier) ownedUplinks(root *nsRef) (map[string]netlink.Link, error) {
	links, err := root.nl.LinkList()
	if err != nil {
		return nil, fmt.Errorf("root netns: list links: %w", err)
	}
	out := map[string]netlink.Link{}
	for _, l := range links {
		if l.Type() == "veth" && strings.HasPrefix(l.Attrs().Name, uplinkPrefix) && l.Attrs().Alias == a.marker {
			out[l.Attrs().Name] = l
		}
	}
	return out, nil
}

// pruneUplinks deletes this Applier's root-side uplink ends that are not
// in keep (an uplink whose VPC namespace is gone or lost its last EIP).
func (a *Applier) pruneUplinks(root *nsRef, keep map[string]bool) error {
	owned, err := a.ownedUplinks(root)
	if err != nil {
		return err
	}
	var errs []error
	for name, l := range owned {
		if keep[name] {
			continue
		}
		if err := root.nl.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
			errs = append(errs, fmt.Errorf("root netns: delete %s: %w", name, err))
			continue
		}
		a.log.Info("deleted uplink", "root", name)
	}
	return errors.Join(errs...)
}

// rootRoute is one desired EIP route in the root namespace.
type rootRoute struct {
	eip     dataplane.EIP
	linkIdx int // root-side uplink end
}

// syncRootRoutes makes the Palisade routes through this Applier's uplinks
// in the root namespace exactly want (one /32 per EIP). Routes through
// other links are never touched: an EIP routed elsewhere by someone else
// fails instead. It returns errors per EIP ID.
func (a *Applier) syncRootRoutes(root *nsRef, want map[netip.Addr]rootRoute) map[string]error {
	errs := map[string]error{}
	owned, err := a.ownedUplinks(root)
	if err != nil {
		for _, r := range want {
			errs[r.eip.ID] = err
		}
		return errs
	}
	ours := map[int]bool{}
	for _, l := range owned {
		ours[l.Attrs().Index] = true
	}
	routes, err := root.nl.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Protocol: routeProto}, netlink.RT_FILTER_PROTOCOL)
	if err != nil {
		for _, r := range want {
			errs[r.eip.ID] = fmt.Errorf("root netns: list routes: %w", err)
		}
		return errs
	}
	have := map[netip.Addr]bool{}
	gw := net.IP(uplinkVPCAddr.AsSlice())
	for _, r := range routes {
		if !ours[r.LinkIndex] {
			continue
		}
		p, ok := ipNetPrefix(r.Dst)
		if t, wanted := want[p.Addr()]; ok && wanted && p.Bits() == 32 && t.linkIdx == r.LinkIndex && r.Gw.Equal(gw) {
			have[p.Addr()] = true
			continue
		}
		if err := root.nl.RouteDel(&r); err != nil && !errors.Is(err, unix.ESRCH) {
			if t, wanted := want[p.Addr()]; wanted {
				errs[t.eip.ID] = fmt.Errorf("root netns: delete route %s: %w", p, err)
			}
		}
	}
	for ad, t := range want {
		if have[ad] {
			continue
		}
		r := &netlink.Route{
			Dst:       prefixIPNet(netip.PrefixFrom(ad, 32)),
			LinkIndex: t.linkIdx,
			Gw:        gw,
			Flags:     int(netlink.FLAG_ONLINK),
			Protocol:  routeProto,
		}
		if err := root.nl.RouteAdd(r); err != nil {
			errs[t.eip.ID] = fmt.Errorf("root netns: route %s: %w", ad, err)
		}
	}
	return errs
}
