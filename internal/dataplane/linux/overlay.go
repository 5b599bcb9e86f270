package linux

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/palisade-project/palisade/internal/dataplane"
)

// A VPC spread over hosts has a namespace on each; they are joined by one
// VXLAN device per namespace, made from the host's own namespace (so its
// UDP socket, and the encapsulated traffic, live there) and moved into the
// VPC's:
//
//	vpc netns  povl  vxlan id <VNI> local <this host's underlay> dstport <port>, nolearning,
//	                 MAC overlayMAC(VNI, local), MTU overlayMTU (the underlay's less the encapsulation)
//	           fdb  <remote's MAC> dst <remote's underlay>  (one per other host, permanent)
//	           neighbour 169.254.78.<i> and fe80::4f:<i> -> <remote's MAC> (permanent)
//	           <remote ENI address>/32|/128 via <those> dev povl onlink proto 0x9d
//
//	table inet palisade_overlay {            # in each VPC namespace with remotes
//	  set remote4 { type ipv4_addr }         # the addresses of the VPC's ENIs on other hosts
//	  set remote6 { type ipv6_addr }
//	  chain prerouting { type filter hook prerouting priority raw; policy accept;
//	    iifname "povl" meta nfproto ipv4 ip saddr != @remote4 drop
//	    iifname "povl" meta nfproto ipv6 ip6 saddr != @remote6 drop }
//	  chain forward { type filter hook forward priority filter - 20; policy accept;
//	    iifname "povl" oifname != "pv*" oifname != "pp*" drop }  # to ENIs (instances', endpoints') and peerings only: not the uplink
//	  chain input { type filter hook input priority filter - 20; policy accept;
//	    iifname "povl" drop }                    # nor the router itself
//	}
//
// and, in the host's namespace, one table per Applier that accepts the
// tunnel's UDP port from the other hosts' underlay addresses only, and the
// traffic-mirror relay's (dataplane.MirrorRelay) from the hosts of the
// sources of sessions with targets here only:
//
//	table inet palisade_underlay {           # palisade_<tag>_underlay with a tag
//	  set peers4 { type ipv4_addr }  set peers6 { type ipv6_addr }
//	  chain input { type filter hook input priority filter - 20; policy accept;
//	    meta nfproto ipv4 meta l4proto udp udp dport <port> ip saddr != @peers4 drop
//	    meta nfproto ipv6 meta l4proto udp udp dport <port> ip6 saddr != @peers6 drop
//	    meta nfproto ipv4 meta l4proto udp udp dport <relay port> ip saddr != @relay4 drop   # with a relay
//	    meta nfproto ipv6 meta l4proto udp udp dport <relay port> ip6 saddr != @relay6 drop }
//	}
//
// Each host judges what its own ENIs send and receive: a packet to a
// remote ENI passes the sender's egress security groups and outbound
// network ACL here (the program's ingress stage lets a packet to a
// non-ENI interface through) and the receiver's on its host. The MACs are
// derived from the VNI and the underlay address, so every host knows the
// others' without asking. The tables come before the link: a VPC whose
// table could not be loaded has no tunnel end (fail closed).
const (
	overlayLink       = "povl"
	overlayRouteProto = 0x9d
	overlayTable      = "palisade_overlay"
	overlayPrioOff    = -20
)

// overlayMAC is the MAC of a VPC's tunnel end on the host with underlay
// address addr: locally administered, unicast, the same on every host.
func overlayMAC(vni uint32, addr netip.Addr) net.HardwareAddr {
	var b [4 + 16]byte
	binary.BigEndian.PutUint32(b[:4], vni)
	a16 := addr.As16()
	copy(b[4:], a16[:])
	sum := sha256.Sum256(append([]byte("palisade-overlay "), b[:]...))
	mac := net.HardwareAddr(sum[:6])
	mac[0] = mac[0]&0xfe | 0x02
	return mac
}

// overlayNextHops are the link-local next hops of the i-th other host
// (in underlay address order) in a VPC namespace; they exist only as
// permanent neighbours there.
func overlayNextHops(i int) (v4, v6 netip.Addr) {
	n := i + 1
	v4 = netip.AddrFrom4([4]byte{169, 254, byte(78 + n>>8), byte(n)})
	var b [16]byte
	b[0], b[1] = 0xfe, 0x80
	b[12], b[13] = 0x00, 0x4f
	binary.BigEndian.PutUint16(b[14:], uint16(n))
	return v4, netip.AddrFrom16(b)
}

// maxOverlayRemotes keeps the IPv4 next hops inside 169.254.78.1-169.254.255.255.
const maxOverlayRemotes = (256-78)*256 - 2

// validOverlay checks an overlay before anything is made for it.
func validOverlay(o *dataplane.Overlay) error {
	switch {
	case o.VNI == 0 || o.VNI > 1<<24-1:
		return fmt.Errorf("overlay: VNI %d is not in 1-16777215", o.VNI)
	case !o.Local.IsValid() || o.Local.Is4In6():
		return fmt.Errorf("overlay: local underlay address %v is not valid", o.Local)
	case o.Port == 0:
		return errors.New("overlay: no UDP port")
	case len(o.Remotes) > maxOverlayRemotes:
		return fmt.Errorf("overlay: %d other hosts, more than %d", len(o.Remotes), maxOverlayRemotes)
	}
	seen := map[netip.Addr]bool{o.Local: true}
	addrs := map[netip.Addr]bool{}
	for _, r := range o.Remotes {
		if !r.Underlay.IsValid() || r.Underlay.Is4In6() || r.Underlay.Is4() != o.Local.Is4() || seen[r.Underlay] {
			return fmt.Errorf("overlay: remote underlay address %v is invalid, of another family than %v, or repeated", r.Underlay, o.Local)
		}
		seen[r.Underlay] = true
		for _, a := range r.Addrs {
			if !a.IsValid() || a.Is4In6() || addrs[a] {
				return fmt.Errorf("overlay: remote ENI address %v is invalid or repeated", a)
			}
			addrs[a] = true
		}
	}
	return nil
}

// sortedRemotes orders the remotes by underlay address: the index of a
// remote picks its next hops.
func sortedRemotes(o *dataplane.Overlay) []dataplane.RemoteHost {
	rs := slices.Clone(o.Remotes)
	slices.SortFunc(rs, func(a, b dataplane.RemoteHost) int { return a.Underlay.Compare(b.Underlay) })
	return rs
}

// addrSets returns the IPv4 and IPv6 addresses as set elements (sorted).
func addrSets(addrs []netip.Addr) (v4, v6 []nftables.SetElement) {
	sorted := slices.Clone(addrs)
	slices.SortFunc(sorted, netip.Addr.Compare)
	for _, a := range sorted {
		if a.Is4() {
			v4 = append(v4, nftables.SetElement{Key: a.AsSlice()})
		} else {
			v6 = append(v6, nftables.SetElement{Key: a.AsSlice()})
		}
	}
	return v4, v6
}

// saddrNotIn matches a packet of family fam (unix.NFPROTO_*) whose
// source address is not in set.
func saddrNotIn(fam byte, set string) []expr.Any {
	off, n := uint32(12), uint32(4)
	if fam == unix.NFPROTO_IPV6 {
		off, n = 8, 16
	}
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{fam}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: n},
		&expr.Lookup{SourceRegister: 1, SetName: set, Invert: true},
	}
}

// applyOverlayTable makes a VPC namespace's overlay table hold the
// remote ENI addresses of o (nil: no table).
func applyOverlayTable(nsFd int, o *dataplane.Overlay, gws []dataplane.NATGateway, inside []netip.Prefix) error {
	if o == nil {
		return applyTaggedTableOf(nsFd, nftables.TableFamilyINet, overlayTable, nil, nil, nil, true, "")
	}
	var addrs []netip.Addr
	for _, r := range o.Remotes {
		addrs = append(addrs, r.Addrs...)
	}
	v4, v6 := addrSets(addrs)
	sets := []tableSet{
		{name: "remote4", key: nftables.TypeIPAddr, elems: v4},
		{name: "remote6", key: nftables.TypeIP6Addr, elems: v6},
	}
	sets = append(sets, overlayNATSets(o, gws, inside)...)
	natPre, natFwd := overlayNATRules(o, gws)
	iif := ifnameIs(expr.MetaKeyIIFNAME, overlayLink, false)
	rules := append(natPre, natFwd...)
	rules = append(rules, []plRule{
		{"prerouting", cat(iif, saddrNotIn(unix.NFPROTO_IPV4, "remote4"), []expr.Any{plDrop})},
		{"prerouting", cat(iif, saddrNotIn(unix.NFPROTO_IPV6, "remote6"), []expr.Any{plDrop})},
		{"forward", cat(iif, []expr.Any{
			&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte(vethPrefix)},
			// A peering's packets cross where the tunnel VPC's
			// namespace links to the peer's (model.PeerConnection.TunnelVPC).
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte(peerLinkPrefix)},
			plDrop})},
		{"input", cat(iif, []expr.Any{plDrop})},
	}...)
	prio := nftables.ChainPriorityRef(*nftables.ChainPriorityFilter + overlayPrioOff)
	chains := map[string]chainHook{
		"prerouting": {typ: nftables.ChainTypeFilter, hook: nftables.ChainHookPrerouting, prio: nftables.ChainPriorityRaw},
		"forward":    {typ: nftables.ChainTypeFilter, hook: nftables.ChainHookForward, prio: prio},
		"input":      {typ: nftables.ChainTypeFilter, hook: nftables.ChainHookInput, prio: prio},
	}
	return applyTaggedTableOf(nsFd, nftables.TableFamilyINet, overlayTable, chains, sets, rules, false, "")
}

// maskedAll returns the prefixes masked (a vSwitch's gateway prefix names
// its whole block).
func maskedAll(ps []netip.Prefix) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(ps))
	for _, p := range ps {
		out = append(out, p.Masked())
	}
	return out
}

// underlayTable is the name of this Applier's table in the host's
// namespace.
func (a *Applier) underlayTable() string {
	return strings.ReplaceAll(a.marker, ":", "_") + "_underlay"
}

// syncUnderlayFilter makes the host's underlay table admit the tunnels'
// UDP ports from exactly the other hosts of the overlays, and the mirror
// relay's port from exactly its peers (neither: no table).
func (a *Applier) syncUnderlayFilter(root *nsRef, overlays []*dataplane.Overlay, relay *dataplane.MirrorRelay) error {
	name := a.underlayTable()
	if len(overlays) == 0 && relay == nil {
		return applyTaggedTableOf(int(root.ns), nftables.TableFamilyINet, name, nil, nil, nil, true, "")
	}
	var peers []netip.Addr
	var ports []uint16
	for _, o := range overlays {
		for _, r := range o.Remotes {
			if !slices.Contains(peers, r.Underlay) {
				peers = append(peers, r.Underlay)
			}
		}
		if !slices.Contains(ports, o.Port) {
			ports = append(ports, o.Port)
		}
	}
	slices.Sort(ports)
	v4, v6 := addrSets(peers)
	sets := []tableSet{
		{name: "peers4", key: nftables.TypeIPAddr, elems: v4},
		{name: "peers6", key: nftables.TypeIP6Addr, elems: v6},
	}
	var rules []plRule
	admit := func(port uint16, set4, set6 string) {
		udpDport := []expr.Any{
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_UDP}},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(port)},
		}
		rules = append(rules,
			plRule{"input", cat(udpDport, saddrNotIn(unix.NFPROTO_IPV4, set4), []expr.Any{plDrop})},
			plRule{"input", cat(udpDport, saddrNotIn(unix.NFPROTO_IPV6, set6), []expr.Any{plDrop})})
	}
	for _, port := range ports {
		admit(port, "peers4", "peers6")
	}
	if relay != nil {
		r4, r6 := addrSets(relay.Peers)
		sets = append(sets, tableSet{name: "relay4", key: nftables.TypeIPAddr, elems: r4},
			tableSet{name: "relay6", key: nftables.TypeIP6Addr, elems: r6})
		admit(relay.Port, "relay4", "relay6")
	}
	chains := map[string]chainHook{
		"input": {typ: nftables.ChainTypeFilter, hook: nftables.ChainHookInput, prio: nftables.ChainPriorityRef(*nftables.ChainPriorityFilter + overlayPrioOff)},
	}
	if err := applyTaggedTableOf(int(root.ns), nftables.TableFamilyINet, name, chains, sets, rules, false, ""); err != nil {
		return fmt.Errorf("root netns: underlay table: %w", err)
	}
	return nil
}

// applyOverlays joins each planned VPC's namespace to its other hosts
// (after the VPCs' own setup), and takes the tunnel end out of those
// without an overlay. It returns the errors by VPC. Without the host's
// underlay filter (rootErr) no tunnel end is made.
func (a *Applier) applyOverlays(plans []vpcPlan, root *nsRef, rootErr error) map[string]error {
	errs := map[string]error{}
	mtus := map[netip.Addr]int{} // underlay address -> tunnel MTU, read once per Apply
	for _, p := range plans {
		o := p.vpc.Overlay
		if o != nil && len(o.Remotes) == 0 {
			o = nil
		}
		ref, err := a.ensureNS(p.vpc.ID)
		if err != nil {
			errs[p.vpc.ID] = err
			continue
		}
		mtu := 0
		if o != nil {
			if _, ok := mtus[o.Local]; !ok {
				mtus[o.Local] = overlayMTU(root, o.Local)
			}
			mtu = mtus[o.Local]
		}
		err = a.applyOverlay(root, rootErr, ref, o, p.gws, p.vpc.Gateways, mtu)
		ref.Close()
		if err != nil {
			errs[p.vpc.ID] = fmt.Errorf("overlay: %w", err)
		}
	}
	return errs
}

// applyOverlay makes one VPC namespace's tunnel end, its table,
// neighbours and routes match o (nil: none of them).
func (a *Applier) applyOverlay(root *nsRef, rootErr error, ref *nsRef, o *dataplane.Overlay, gws []dataplane.NATGateway, vswitches []netip.Prefix, mtu int) error {
	if o != nil {
		if err := validOverlay(o); err != nil {
			return errors.Join(err, removeOverlay(ref))
		}
		if rootErr != nil {
			return errors.Join(rootErr, removeOverlay(ref))
		}
	}
	if o == nil {
		return removeOverlay(ref)
	}
	if err := applyOverlayTable(int(ref.ns), o, gws, maskedAll(vswitches)); err != nil {
		return errors.Join(fmt.Errorf("table: %w", err), removeOverlay(ref))
	}
	link, err := a.ensureOverlayLink(root, ref, o, mtu)
	if err != nil {
		return err
	}
	return errors.Join(syncOverlayNeighbours(ref, link, o), syncOverlayRoutes(ref, link, o), syncOverlayNATRouting(ref, link, o))
}

// removeOverlay deletes a namespace's tunnel end (its routes and
// neighbours go with it), then its table.
func removeOverlay(ref *nsRef) error {
	var errs []error
	if l, err := ref.nl.LinkByName(overlayLink); err == nil {
		if err := ref.nl.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
			errs = append(errs, fmt.Errorf("netns %s: delete %s: %w", ref.name, overlayLink, err))
		}
	}
	if err := applyOverlayTable(int(ref.ns), nil, nil, nil); err != nil {
		errs = append(errs, fmt.Errorf("netns %s: delete %s: %w", ref.name, overlayTable, err))
	}
	if err := syncOverlayNATRouting(ref, nil, nil); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// ensureOverlayLink makes the VPC namespace's VXLAN device as o says,
// with MTU mtu, replacing one that differs, and brings it up.
func (a *Applier) ensureOverlayLink(root, ref *nsRef, o *dataplane.Overlay, mtu int) (netlink.Link, error) {
	mac := overlayMAC(o.VNI, o.Local)
	if l, err := ref.nl.LinkByName(overlayLink); err == nil {
		vx, ok := l.(*netlink.Vxlan)
		if ok && vx.VxlanId == int(o.VNI) && vx.SrcAddr.Equal(o.Local.AsSlice()) && vx.Port == int(o.Port) &&
			!vx.Learning && slices.Equal(vx.HardwareAddr, mac) {
			if l.Attrs().MTU != mtu {
				if err := ref.nl.LinkSetMTU(l, mtu); err != nil {
					return nil, fmt.Errorf("netns %s: %s MTU %d: %w", ref.name, overlayLink, mtu, err)
				}
			}
			if err := linkUp(ref.nl, l); err != nil {
				return nil, err
			}
			return l, nil
		}
		if err := ref.nl.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
			return nil, fmt.Errorf("netns %s: delete stale %s: %w", ref.name, overlayLink, err)
		}
	}
	vx := &netlink.Vxlan{
		LinkAttrs: netlink.LinkAttrs{Name: overlayLink, MTU: mtu, HardwareAddr: mac, Namespace: netlink.NsFd(ref.ns)},
		VxlanId:   int(o.VNI), SrcAddr: o.Local.AsSlice(), Port: int(o.Port), Learning: false,
	}
	// Made by the host's namespace: the tunnel's socket is the host's.
	if err := root.nl.LinkAdd(vx); err != nil {
		return nil, fmt.Errorf("create %s (VNI %d) for %s: %w", overlayLink, o.VNI, ref.name, err)
	}
	a.log.Info("created overlay link", "netns", ref.name, "vni", o.VNI, "local", o.Local)
	l, err := ref.nl.LinkByName(overlayLink)
	if err != nil {
		return nil, fmt.Errorf("netns %s: %s missing right after creation: %w", ref.name, overlayLink, err)
	}
	if _, err := applySysctls(ref.ns, []sysctl{
		{Key: "net/ipv4/conf/" + overlayLink + "/rp_filter", Value: "0"},
		// No address of its own, no router advertisements: the link
		// only carries what the routes send.
		{Key: "net/ipv6/conf/" + overlayLink + "/addr_gen_mode", Value: "1", Optional: true},
		{Key: "net/ipv6/conf/" + overlayLink + "/accept_ra", Value: "0", Optional: true},
	}); err != nil {
		return nil, err
	}
	if err := linkUp(ref.nl, l); err != nil {
		return nil, err
	}
	return l, nil
}

// overlayMTU is the MTU of a VPC's tunnel end: the MTU of the host's link
// that holds the underlay address, less the encapsulation (50 bytes over
// IPv4, 70 over IPv6), at most the ENIs' 1500 and at least IPv6's 1280.
// Packets larger than it are refused by the VPC's router with
// "fragmentation needed" / "packet too big", so path-MTU discovery works
// for the instances; without it, a full-size packet would be dropped in
// the tunnel over an IPv6 underlay, which cannot fragment it.
func overlayMTU(root *nsRef, local netip.Addr) int {
	overhead := 50
	if local.Is6() {
		overhead = 70
	}
	underlay := 1500
	if root != nil {
		if addrs, err := root.nl.AddrList(nil, netlink.FAMILY_ALL); err == nil {
			for _, a := range addrs {
				if ip, ok := netip.AddrFromSlice(a.IP); ok && ip.Unmap() == local {
					if l, err := root.nl.LinkByIndex(a.LinkIndex); err == nil && l.Attrs().MTU > 0 {
						underlay = l.Attrs().MTU
					}
					break
				}
			}
		}
	}
	return min(max(underlay-overhead, 1280), 1500)
}

// syncOverlayNeighbours makes the tunnel end's forwarding entries (a
// remote's MAC to its underlay address) and its next hops' neighbours
// exactly those of o's remotes.
func syncOverlayNeighbours(ref *nsRef, link netlink.Link, o *dataplane.Overlay) error {
	idx := link.Attrs().Index
	wantFDB := map[string]netip.Addr{}
	wantNeigh := map[netip.Addr]string{}
	var errs []error
	for i, r := range sortedRemotes(o) {
		mac := overlayMAC(o.VNI, r.Underlay)
		wantFDB[mac.String()] = r.Underlay
		v4, v6 := overlayNextHops(i)
		wantNeigh[v4], wantNeigh[v6] = mac.String(), mac.String()
		if err := ref.nl.NeighSet(&netlink.Neigh{LinkIndex: idx, Family: unix.AF_BRIDGE, Flags: netlink.NTF_SELF,
			State: netlink.NUD_PERMANENT, HardwareAddr: mac, IP: r.Underlay.AsSlice()}); err != nil {
			errs = append(errs, fmt.Errorf("netns %s: fdb %s dst %s: %w", ref.name, mac, r.Underlay, err))
		}
		for _, nh := range []netip.Addr{v4, v6} {
			fam := unix.AF_INET
			if nh.Is6() {
				fam = unix.AF_INET6
			}
			if err := ref.nl.NeighSet(&netlink.Neigh{LinkIndex: idx, Family: fam, State: netlink.NUD_PERMANENT,
				IP: nh.AsSlice(), HardwareAddr: mac}); err != nil {
				errs = append(errs, fmt.Errorf("netns %s: neighbour %s: %w", ref.name, nh, err))
			}
		}
	}
	fdb, err := ref.nl.NeighList(idx, unix.AF_BRIDGE)
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("netns %s: list fdb: %w", ref.name, err))...)
	}
	for _, n := range fdb {
		dst, _ := netip.AddrFromSlice(n.IP)
		if want, ok := wantFDB[n.HardwareAddr.String()]; ok && want == dst.Unmap() {
			continue
		}
		if err := ref.nl.NeighDel(&n); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("netns %s: delete fdb %s: %w", ref.name, n.HardwareAddr, err))
		}
	}
	for _, fam := range []int{unix.AF_INET, unix.AF_INET6} {
		ns, err := ref.nl.NeighList(idx, fam)
		if err != nil {
			errs = append(errs, fmt.Errorf("netns %s: list neighbours: %w", ref.name, err))
			continue
		}
		for _, n := range ns {
			ip, _ := netip.AddrFromSlice(n.IP)
			if want, ok := wantNeigh[ip.Unmap()]; ok && want == n.HardwareAddr.String() {
				continue
			}
			if err := ref.nl.NeighDel(&n); err != nil && !errors.Is(err, unix.ENOENT) {
				errs = append(errs, fmt.Errorf("netns %s: delete neighbour %s: %w", ref.name, n.IP, err))
			}
		}
	}
	return errors.Join(errs...)
}

// syncOverlayRoutes makes the namespace's overlay routes (protocol
// overlayRouteProto) exactly one per remote ENI address, via its host's
// next hop.
func syncOverlayRoutes(ref *nsRef, link netlink.Link, o *dataplane.Overlay) error {
	idx := link.Attrs().Index
	want := map[netip.Prefix]netip.Addr{} // destination -> next hop
	for i, r := range sortedRemotes(o) {
		v4, v6 := overlayNextHops(i)
		for _, a := range r.Addrs {
			if a.Is4() {
				want[netip.PrefixFrom(a, 32)] = v4
			} else {
				want[netip.PrefixFrom(a, 128)] = v6
			}
		}
	}
	routes, err := ref.nl.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Protocol: overlayRouteProto}, netlink.RT_FILTER_PROTOCOL)
	if err != nil {
		return fmt.Errorf("netns %s: list overlay routes: %w", ref.name, err)
	}
	var errs []error
	have := map[netip.Prefix]bool{}
	for _, r := range routes {
		p, ok := ipNetPrefix(r.Dst)
		gw, _ := netip.AddrFromSlice(r.Gw)
		if nh, wanted := want[p]; ok && wanted && r.LinkIndex == idx && gw.Unmap() == nh {
			have[p] = true
			continue
		}
		if err := ref.nl.RouteDel(&r); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("netns %s: delete overlay route %v: %w", ref.name, r.Dst, err))
		}
	}
	for p, nh := range want {
		if have[p] {
			continue
		}
		r := &netlink.Route{Dst: prefixIPNet(p), LinkIndex: idx, Gw: nh.AsSlice(), Flags: int(netlink.FLAG_ONLINK), Protocol: overlayRouteProto}
		if err := ref.nl.RouteReplace(r); err != nil {
			errs = append(errs, fmt.Errorf("netns %s: overlay route %s: %w", ref.name, p, err))
		}
	}
	return errors.Join(errs...)
}
