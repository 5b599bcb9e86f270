// Package linux applies a dataplane.Host to the Linux kernel: one network
// namespace per VPC acting as its router, one per instance, a veth pair per
// ENI, /32 and /128 routes, proxy ARP/NDP and anti-spoofing in nftables
// (ARCHITECTURE.md §4), and for VPCs with elastic IPs an uplink to the
// host's own namespace with the address translation and the public edge
// (uplink.go, nat.go). It knows nothing of the API or the store.
//
// Ownership: every namespace Palisade creates is named after a resource ID
// (vpc-…, i-…) and carries a marker, the alias "palisade" (or
// "palisade:<tag>") on its loopback device, which cannot be deleted. An
// Applier creates, changes and deletes only namespaces with its own marker
// and, inside them, only veths named "pv…"/"eth…"/"uplink", the dummy
// "pgw", routes with protocol 0x9a, the nftables tables inet
// palisade_spoof and inet palisade_nat, and for WAF steering the ip rule
// of SteerMark and routing table 154 (waf.go). In the host's own (root) namespace
// it touches only the host ends of its uplinks, veths named "pu…" whose
// alias is its marker, the routes with protocol 0x9a through them, and its
// own nftables table inet palisade[_<tag>]_uplinks that drops forwarding
// from one of its uplinks to another (hairpin.go); the links vanish with
// the VPC namespaces, and Cleanup removes any left over and the table.
package linux

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/palisade-project/palisade/internal/dataplane"
)

// Config configures an Applier.
type Config struct {
	// Tag separates appliers that share a host (parallel tests, several
	// agents): each sees only namespaces whose marker carries its tag.
	// Empty in production, giving the marker "palisade".
	Tag string
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Applier reconciles the kernel with a desired dataplane.Host. Its methods
// are safe for concurrent use; Applies are serialised.
type Applier struct {
	mu     sync.Mutex
	marker string
	log    *slog.Logger
	// warned remembers optional sysctls already reported missing, so a
	// resync loop does not repeat the warning.
	warned map[string]bool
	// root is the host's own namespace (where New ran), the host side of
	// the uplinks; rootErr says why it could not be opened.
	root    netns.NsHandle
	rootErr error
}

// New returns an Applier.
func New(cfg Config) *Applier {
	marker := markerPrefix
	if cfg.Tag != "" {
		marker += ":" + cfg.Tag
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	root, rootErr := hostNS()
	return &Applier{marker: marker, log: log, warned: map[string]bool{}, root: root, rootErr: rootErr}
}

// Marker is the loopback alias that marks this Applier's namespaces.
func (a *Applier) Marker() string { return a.marker }

// Apply makes the kernel match h: it creates what is missing, repairs what
// differs and deletes what is this Applier's and no longer desired. It
// carries on past the failure of one VPC or ENI and reports every error
// joined; the Status says which ENIs are fully in place.
func (a *Applier) Apply(ctx context.Context, h dataplane.Host) (dataplane.Status, error) {
	a.mu.Lock()
	defer a.mu.Unlock()

	st := dataplane.Status{ENIs: map[string]dataplane.ENIStatus{}, EIPs: map[string]dataplane.ENIStatus{}}
	plans, errs := planHost(h, st)
	root, rootErr := a.openRootNS()
	if rootErr != nil {
		errs = append(errs, rootErr)
	} else {
		defer root.Close()
	}
	routes := map[netip.Addr]rootRoute{}
	keepUplinks := map[string]bool{}
	desired := map[string]bool{}
	for _, p := range plans {
		desired[p.vpc.ID] = true
		for _, e := range p.enis {
			desired[e.InstanceID] = true
		}
	}

	insts := map[string]*nsRef{}
	defer func() {
		for _, r := range insts {
			r.Close()
		}
	}()
	instEths := map[string]map[string]bool{} // instance -> desired eth names
	for _, p := range plans {
		if err := ctx.Err(); err != nil {
			return st, errors.Join(append(errs, err)...)
		}
		for _, e := range p.enis {
			if instEths[e.InstanceID] == nil {
				instEths[e.InstanceID] = map[string]bool{}
			}
			instEths[e.InstanceID][InstanceIfName(e.DeviceIndex)] = true
		}
		if len(p.eips) > 0 || hasNATAddrs(p.gws) {
			keepUplinks[UplinkName(p.vpc.ID)] = true
		}
		if err := a.applyVPC(p, root, insts, st, routes); err != nil {
			errs = append(errs, fmt.Errorf("vpc %s: %w", p.vpc.ID, err))
		}
	}
	// Peerings join namespaces: after every VPC's own.
	for vpc, err := range a.applyPeerings(plans) {
		errs = append(errs, fmt.Errorf("vpc %s: %w", vpc, err))
	}
	// Overlays join them to the other hosts' namespaces of the same VPCs,
	// after the host's underlay filter is in place (fail closed).
	var overlays []*dataplane.Overlay
	for _, p := range plans {
		if o := p.vpc.Overlay; o != nil && len(o.Remotes) > 0 && validOverlay(o) == nil {
			overlays = append(overlays, o)
		}
	}
	underlayErr := rootErr
	if root != nil {
		if err := a.syncUnderlayFilter(root, overlays, h.MirrorRelay); err != nil {
			underlayErr = err
			errs = append(errs, err)
		}
	}
	for vpc, err := range a.applyOverlays(plans, root, underlayErr) {
		errs = append(errs, fmt.Errorf("vpc %s: %w", vpc, err))
	}
	if root != nil {
		for id, err := range a.syncRootRoutes(root, routes) {
			st.EIPs[id] = dataplane.ENIStatus{Error: err.Error()}
			errs = append(errs, fmt.Errorf("eip %s: %w", id, err))
		}
		if err := a.pruneUplinks(root, keepUplinks); err != nil {
			errs = append(errs, err)
		}
		if err := a.syncHairpinTable(root, slices.Sorted(maps.Keys(keepUplinks))); err != nil {
			// Without it a host that forwards would carry traffic from
			// one EIP to another: the EIPs are not in place.
			for id := range st.EIPs {
				st.EIPs[id] = dataplane.ENIStatus{Error: err.Error()}
			}
			errs = append(errs, err)
		}
	}
	for id, ref := range insts {
		if err := pruneInstanceLinks(ref, instEths[id]); err != nil {
			errs = append(errs, err)
		}
	}
	if err := ctx.Err(); err != nil {
		return st, errors.Join(append(errs, err)...)
	}
	if err := a.pruneNamespaces(desired); err != nil {
		errs = append(errs, err)
	}
	return st, errors.Join(errs...)
}

// isPrimary6 reports whether e carries its instance's IPv6 default route.
func (p vpcPlan) isPrimary6(e dataplane.ENI) bool {
	d, ok := p.primary6[e.InstanceID]
	return ok && d == e.DeviceIndex
}

// vpcPlan is a validated VPC with the ENIs that passed validation.
type vpcPlan struct {
	vpc     dataplane.VPC
	enis    []dataplane.ENI
	names   map[string]string // ENI ID -> host veth
	primary map[string]int    // instance ID -> device index carrying the IPv4 default route
	// primary6 is the device index carrying the IPv6 default route: the
	// lowest with an IPv6 address, so that a packet the kernel sends by
	// it has a source address of that ENI (anti-spoofing would drop one
	// from another ENI's).
	primary6 map[string]int
	eips     []dataplane.EIP
	// gws are the VPC's NAT gateways with valid addresses.
	gws []dataplane.NATGateway
	// endpoints are the VPC's valid PrivateLink endpoints (the consumer
	// side); provided are those of any VPC whose provider is this one,
	// with their consumer-side interface names in providedNames.
	endpoints     []dataplane.Endpoint
	provided      []dataplane.Endpoint
	providedNames map[string]string
	// providers holds, by provider VPC, what its table serves (shared by
	// every plan of the host): a consumer makes sure it is in place
	// before it links an endpoint to the provider.
	providers map[string]*providedEndpoints
}

// providedEndpoints is what one provider VPC's table serves.
type providedEndpoints struct {
	eps   []dataplane.Endpoint
	names map[string]string
}

// planHost validates h. Invalid VPCs and ENIs are left out of the plans and
// marked not ready with the reason; valid ones start as "not applied".
func planHost(h dataplane.Host, st dataplane.Status) ([]vpcPlan, []error) {
	var errs []error
	fail := func(id string, err error) {
		st.ENIs[id] = dataplane.ENIStatus{Error: err.Error()}
		errs = append(errs, err)
	}
	instVPC := map[string]string{}
	seenVPC := map[string]bool{}
	seenENI := map[string]bool{}
	seenDev := map[string]bool{}
	seenEIP := map[netip.Addr]bool{}
	var plans []vpcPlan
	for _, v := range h.VPCs {
		if err := validNSName(v.ID, vpcNSPrefix); err != nil || seenVPC[v.ID] {
			if err == nil {
				err = fmt.Errorf("vpc %s listed twice", v.ID)
			}
			for _, e := range v.ENIs {
				fail(e.ID, fmt.Errorf("eni %s: %w", e.ID, err))
			}
			for _, e := range v.EIPs {
				st.EIPs[e.ID] = dataplane.ENIStatus{Error: err.Error()}
			}
			continue
		}
		seenVPC[v.ID] = true
		p := vpcPlan{vpc: v, primary: map[string]int{}, primary6: map[string]int{}}
		for _, e := range v.ENIs {
			dev := fmt.Sprintf("%s/%d", e.InstanceID, e.DeviceIndex)
			err := validENI(e)
			switch {
			case err != nil:
			case seenENI[e.ID]:
				err = fmt.Errorf("eni %s listed twice", e.ID)
			case instVPC[e.InstanceID] != "" && instVPC[e.InstanceID] != v.ID:
				err = fmt.Errorf("eni %s: instance %s already has ENIs in %s", e.ID, e.InstanceID, instVPC[e.InstanceID])
			case seenDev[dev]:
				err = fmt.Errorf("eni %s: instance %s has two ENIs at device index %d", e.ID, e.InstanceID, e.DeviceIndex)
			}
			if err != nil {
				fail(e.ID, err)
				continue
			}
			seenENI[e.ID], seenDev[dev] = true, true
			instVPC[e.InstanceID] = v.ID
			st.ENIs[e.ID] = dataplane.ENIStatus{Error: "not applied"}
			p.enis = append(p.enis, e)
			if cur, ok := p.primary[e.InstanceID]; !ok || e.DeviceIndex < cur {
				p.primary[e.InstanceID] = e.DeviceIndex
			}
			if cur, ok := p.primary6[e.InstanceID]; e.Gateway6.IsValid() && slices.ContainsFunc(e.Addrs, netip.Addr.Is6) && (!ok || e.DeviceIndex < cur) {
				p.primary6[e.InstanceID] = e.DeviceIndex
			}
		}
		for _, ep := range v.Endpoints {
			err := validEndpoint(ep)
			if err == nil && seenENI[ep.ENIID] {
				err = fmt.Errorf("eni %s listed twice", ep.ENIID)
			}
			if err != nil {
				fail(ep.ENIID, err)
				continue
			}
			seenENI[ep.ENIID] = true
			st.ENIs[ep.ENIID] = dataplane.ENIStatus{Error: "not applied"}
			p.endpoints = append(p.endpoints, ep)
		}
		ids := make([]string, 0, len(p.enis)+len(p.endpoints))
		for _, e := range p.enis {
			ids = append(ids, e.ID)
		}
		for _, ep := range p.endpoints {
			ids = append(ids, ep.ENIID)
		}
		p.names = assignVethNames(ids)
		p.eips = planEIPs(v, p.enis, seenEIP, st)
		p.gws = planGateways(v, seenEIP, st)
		plans = append(plans, p)
	}
	// Each provider serves the endpoints that name it.
	byID := map[string]int{}
	for i := range plans {
		byID[plans[i].vpc.ID] = i
	}
	providers := map[string]*providedEndpoints{}
	for _, c := range plans {
		for _, ep := range c.endpoints {
			if _, ok := byID[ep.ProviderVPC]; !ok {
				continue // its namespace is not on this host: ensureEndpoint fails
			}
			pe := providers[ep.ProviderVPC]
			if pe == nil {
				pe = &providedEndpoints{names: map[string]string{}}
				providers[ep.ProviderVPC] = pe
			}
			pe.eps = append(pe.eps, ep)
			pe.names[ep.ENIID] = c.names[ep.ENIID]
		}
	}
	for i := range plans {
		plans[i].providers = providers
		if pe := providers[plans[i].vpc.ID]; pe != nil {
			plans[i].provided, plans[i].providedNames = pe.eps, pe.names
		}
	}
	return plans, errs
}

// planEIPs keeps the VPC's EIPs that map a distinct public IPv4 address to
// a distinct IPv4 address of a valid ENI of the VPC; the others are marked
// not ready with the reason.
func planEIPs(v dataplane.VPC, enis []dataplane.ENI, seen map[netip.Addr]bool, st dataplane.Status) []dataplane.EIP {
	addrs := map[string][]netip.Addr{}
	for _, e := range enis {
		addrs[e.ID] = e.Addrs
	}
	private := map[netip.Addr]bool{}
	var out []dataplane.EIP
	for _, e := range v.EIPs {
		var err error
		switch {
		case e.ID == "":
			continue
		case !e.Address.Is4() || !e.PrivateIP.Is4():
			err = fmt.Errorf("eip %s: %v -> %v: both addresses must be IPv4", e.ID, e.Address, e.PrivateIP)
		case !slices.Contains(addrs[e.ENIID], e.PrivateIP):
			err = fmt.Errorf("eip %s: %v is not an address of a ready ENI %s in %s", e.ID, e.PrivateIP, e.ENIID, v.ID)
		case seen[e.Address]:
			err = fmt.Errorf("eip %s: address %v listed twice", e.ID, e.Address)
		case private[e.PrivateIP]:
			err = fmt.Errorf("eip %s: private address %v has two EIPs", e.ID, e.PrivateIP)
		}
		if err != nil {
			st.EIPs[e.ID] = dataplane.ENIStatus{Error: err.Error()}
			continue
		}
		seen[e.Address], private[e.PrivateIP] = true, true
		st.EIPs[e.ID] = dataplane.ENIStatus{Error: "not applied"}
		out = append(out, e)
	}
	return out
}

// planGateways keeps the VPC's NAT gateways with their valid EIPs (distinct
// public IPv4 addresses) and the rules on those; the other EIPs are marked
// not ready with the reason.
func planGateways(v dataplane.VPC, seen map[netip.Addr]bool, st dataplane.Status) []dataplane.NATGateway {
	var out []dataplane.NATGateway
	for _, g := range v.NATGateways {
		q := dataplane.NATGateway{ID: g.ID, ICMPReply: g.ICMPReply, Firewall: g.Firewall, FirewallMap: g.FirewallMap}
		own := map[netip.Addr]bool{}
		for _, e := range g.EIPs {
			var err error
			switch {
			case e.ID == "":
				continue
			case !e.Address.Is4():
				err = fmt.Errorf("eip %s of %s: %v is not IPv4", e.ID, g.ID, e.Address)
			case seen[e.Address]:
				err = fmt.Errorf("eip %s of %s: address %v listed twice", e.ID, g.ID, e.Address)
			}
			if err != nil {
				st.EIPs[e.ID] = dataplane.ENIStatus{Error: err.Error()}
				continue
			}
			seen[e.Address], own[e.Address] = true, true
			st.EIPs[e.ID] = dataplane.ENIStatus{Error: "not applied"}
			q.EIPs = append(q.EIPs, e)
		}
		for _, r := range g.DNAT {
			if own[r.Addr] && r.Internal.Is4() && (r.Proto == 0 || r.Proto == unix.IPPROTO_TCP || r.Proto == unix.IPPROTO_UDP) {
				q.DNAT = append(q.DNAT, r)
			}
		}
		for _, r := range g.SNAT {
			if own[r.Addr] && r.Src.Is4() && r.SrcTo.Is4() && r.Dst.Is4() && r.DstTo.Is4() {
				q.SNAT = append(q.SNAT, r)
			}
		}
		out = append(out, q)
	}
	return out
}

func validNSName(name, prefix string) error {
	if !strings.HasPrefix(name, prefix) || len(name) == len(prefix) || len(name) > 200 ||
		strings.ContainsAny(name, "/\x00") || name == "." || name == ".." {
		return fmt.Errorf("invalid namespace name %q (want %s…)", name, prefix)
	}
	return nil
}

func validENI(e dataplane.ENI) error {
	if e.ID == "" {
		return errors.New("eni without ID")
	}
	if err := validNSName(e.InstanceID, instanceNSPrefix); err != nil {
		return fmt.Errorf("eni %s: %w", e.ID, err)
	}
	if e.DeviceIndex < 0 || len(InstanceIfName(e.DeviceIndex)) > maxIfName {
		return fmt.Errorf("eni %s: invalid device index %d", e.ID, e.DeviceIndex)
	}
	if _, err := net.ParseMAC(e.MAC); err != nil {
		return fmt.Errorf("eni %s: mac %q: %w", e.ID, e.MAC, err)
	}
	for _, ad := range e.Addrs {
		if !ad.IsValid() || ad.Is4In6() {
			return fmt.Errorf("eni %s: invalid address %v", e.ID, ad)
		}
	}
	return nil
}

// applyVPC reconciles one VPC namespace and its ENIs, and its uplink:
// the EIP routes it needs in the root namespace are added to routes.
func (a *Applier) applyVPC(p vpcPlan, root *nsRef, insts map[string]*nsRef, st dataplane.Status, routes map[netip.Addr]rootRoute) error {
	notReady := func(e dataplane.ENI, err error) {
		st.ENIs[e.ID] = dataplane.ENIStatus{Error: err.Error()}
	}
	eipsNotReady := func(err error) {
		for _, e := range p.eips {
			st.EIPs[e.ID] = dataplane.ENIStatus{Error: err.Error()}
		}
		for _, g := range p.gws {
			for _, e := range g.EIPs {
				st.EIPs[e.ID] = dataplane.ENIStatus{Error: err.Error()}
			}
		}
	}
	vref, err := a.ensureNS(p.vpc.ID)
	if err == nil {
		defer vref.Close()
		err = a.setupVPC(vref, p)
	}
	if err != nil {
		for _, e := range p.enis {
			notReady(e, err)
		}
		eipsNotReady(err)
		return err
	}

	var errs []error
	hostIdx := map[string]int{}      // ENI ID -> host veth index
	placed := map[string][]eniLink{} // instance ID -> its ENIs in place
	for _, e := range p.enis {
		iref, err := a.instanceNS(e.InstanceID, insts)
		if err == nil {
			var idx, peerIdx int
			idx, peerIdx, err = a.ensureENI(vref, iref, e, p.names[e.ID], p.primary[e.InstanceID] == e.DeviceIndex, p.isPrimary6(e))
			hostIdx[e.ID] = idx
			if err == nil {
				placed[e.InstanceID] = append(placed[e.InstanceID], eniLink{eni: e, linkIdx: peerIdx})
			}
		}
		if err != nil {
			err = fmt.Errorf("eni %s: %w", e.ID, err)
			notReady(e, err)
			errs = append(errs, err)
			continue
		}
		st.ENIs[e.ID] = dataplane.ENIStatus{Ready: true}
	}
	for inst, links := range placed {
		if !slices.ContainsFunc(links, func(l eniLink) bool { return p.isPrimary6(l.eni) }) {
			// No ENI with IPv6 now: no IPv6 default route either (one
			// left through an ENI without an IPv6 address would send
			// from another ENI's address).
			if err := removeDefault6(insts[inst].nl); err != nil {
				err = fmt.Errorf("instance %s: %w", inst, err)
				for _, l := range links {
					notReady(l.eni, err)
				}
				errs = append(errs, err)
			}
		}
		if _, err := syncSourceRouting(insts[inst].nl, links); err != nil {
			err = fmt.Errorf("instance %s: source routing: %w", inst, err)
			for _, l := range links {
				notReady(l.eni, err)
			}
			errs = append(errs, err)
		}
	}

	// PrivateLink: this VPC's endpoints (consumer side), then what it
	// provides to others' endpoints. Fail closed: an endpoint is linked
	// only once the tables of both sides are in place (without them a
	// connection would cross untranslated); the links of a VPC whose
	// consumer table failed are removed below.
	keepLinks := maps.Clone(p.names)
	consumerErr := applyConsumerTable(int(vref.ns), p.endpoints, p.names)
	if consumerErr != nil {
		errs = append(errs, fmt.Errorf("privatelink consumer table: %w", consumerErr))
	}
	providerTables := map[string]error{}
	for _, ep := range p.endpoints {
		var idx int
		err := consumerErr
		if err == nil {
			idx, err = a.ensureEndpoint(vref, ep, p.names[ep.ENIID], p.providers[ep.ProviderVPC], providerTables)
		}
		if err != nil {
			notReady(dataplane.ENI{ID: ep.ENIID}, fmt.Errorf("endpoint eni %s: %w", ep.ENIID, err))
			if consumerErr == nil {
				errs = append(errs, fmt.Errorf("endpoint eni %s: %w", ep.ENIID, err))
			}
			delete(keepLinks, ep.ENIID)
			continue
		}
		hostIdx[ep.ENIID] = idx
		st.ENIs[ep.ENIID] = dataplane.ENIStatus{Ready: true}
	}
	if err := applyProviderTable(int(vref.ns), p.provided, p.providedNames); err != nil {
		errs = append(errs, fmt.Errorf("privatelink provider table: %w", err))
	}
	if err := applyLBTable(int(vref.ns), p.vpc.LoadBalancers); err != nil {
		errs = append(errs, err)
	}

	// The public edge: the NAT table before the uplink, so the uplink is
	// filtered from its first packet; without EIPs, neither.
	uplinkIdx := 0
	if len(p.eips) > 0 || hasNATAddrs(p.gws) {
		// WAF steering's routing before the rules that mark for it.
		err := syncSteerRouting(vref, slices.ContainsFunc(p.eips, func(e dataplane.EIP) bool { return len(e.WAFPorts) > 0 }))
		if err == nil {
			err = applyNATTable(int(vref.ns), p.eips, p.gws)
		}
		if err == nil {
			// Before the uplink: the firewall judges its first packet.
			err = applyFirewallTable(int(vref.ns), p.vpc.Firewall)
		}
		if err == nil {
			err = applyDDoSScrubTable(int(vref.ns), p.vpc.DDoS)
		}
		if err == nil && root == nil {
			err = errors.New("root netns not available")
		}
		var rootIdx int
		if err == nil {
			rootIdx, uplinkIdx, err = a.ensureUplink(root, vref, p.vpc.ID)
		}
		if err == nil {
			// Anti-DDoS counts and blackholes on the uplink's ingress,
			// which needs the uplink.
			err = applyDDoSCountTable(int(vref.ns), p.vpc.DDoS, uplinkIdx)
		}
		if err != nil {
			err = fmt.Errorf("uplink: %w", err)
			eipsNotReady(err)
			errs = append(errs, err)
		} else {
			for _, e := range p.eips {
				routes[e.Address] = rootRoute{eip: e, linkIdx: rootIdx}
			}
			for _, g := range p.gws {
				for _, e := range g.EIPs {
					routes[e.Address] = rootRoute{eip: e, linkIdx: rootIdx}
				}
			}
		}
	} else {
		if err := removeUplink(vref); err != nil {
			errs = append(errs, err)
		}
		if err := applyNATTable(int(vref.ns), nil, nil); err != nil {
			errs = append(errs, err)
		}
		if err := applyFirewallTable(int(vref.ns), nil); err != nil {
			errs = append(errs, err)
		}
		if err := applyDDoSCountTable(int(vref.ns), nil, 0); err != nil {
			errs = append(errs, err)
		}
		if err := applyDDoSScrubTable(int(vref.ns), nil); err != nil {
			errs = append(errs, err)
		}
		if err := syncSteerRouting(vref, false); err != nil {
			errs = append(errs, err)
		}
	}

	// Routes last: a /32 needs its veth.
	routed := slices.Clone(p.enis)
	for _, ep := range p.endpoints {
		routed = append(routed, dataplane.ENI{ID: ep.ENIID, Addrs: []netip.Addr{ep.Addr}})
	}
	routeErrs := syncVPCRoutes(vref, routed, hostIdx, uplinkIdx)
	for id, err := range routeErrs {
		notReady(dataplane.ENI{ID: id}, err)
		errs = append(errs, fmt.Errorf("eni %s: %w", id, err))
	}
	if err := pruneVPCLinks(vref, keepLinks); err != nil {
		errs = append(errs, err)
	}
	// Connections whose translation no longer holds end now.
	if n, err := flushStaleNAT(int(vref.ns), p.eips, p.gws, p.vpc.LoadBalancers); err != nil {
		errs = append(errs, fmt.Errorf("flush stale NAT flows: %w", err))
	} else if n > 0 {
		a.log.Info("ended flows of changed EIP mappings and load balancer listeners", "vpc_netns", vref.name, "flows", n)
	}
	for _, g := range p.gws {
		for _, e := range g.EIPs {
			if _, routed := routes[e.Address]; routed {
				st.EIPs[e.ID] = dataplane.ENIStatus{Ready: true}
			}
		}
	}
	for _, e := range p.eips {
		if _, routed := routes[e.Address]; routed && st.Ready(e.ENIID) {
			st.EIPs[e.ID] = dataplane.ENIStatus{Ready: true}
		} else if routed {
			st.EIPs[e.ID] = dataplane.ENIStatus{Error: "eni " + e.ENIID + " not ready"}
		}
	}
	return errors.Join(errs...)
}

// IdleTimeoutSeconds is how long an established flow lives without
// packets, as in the cloud's security groups.
const IdleTimeoutSeconds = 910

// setupVPC makes the router namespace: sysctls, the gateway dummy and the
// anti-spoofing table. The table comes before any veth so that a new veth
// is filtered from its first packet.
func (a *Applier) setupVPC(vref *nsRef, p vpcPlan) error {
	settings := []sysctl{
		{Key: "net/ipv4/ip_forward", Value: "1"},
		{Key: "net/ipv6/conf/all/forwarding", Value: "1", Optional: true},
		// Conntrack must not pick up mid-stream TCP flows it never saw open
		// (exists only once nf_conntrack is loaded). Flow logs count in
		// their own sets, not with conntrack accounting.
		{Key: "net/netfilter/nf_conntrack_tcp_loose", Value: "0", Optional: true},
		// Security groups are stateful with a 910 s idle timeout
		// (SEMANTICS.md Part A): established TCP flows and UDP flows
		// that have seen replies expire after 910 s without a packet.
		{Key: "net/netfilter/nf_conntrack_tcp_timeout_established", Value: strconv.Itoa(IdleTimeoutSeconds), Optional: true},
		{Key: "net/netfilter/nf_conntrack_udp_timeout_stream", Value: strconv.Itoa(IdleTimeoutSeconds), Optional: true},
	}
	missing, err := applySysctls(vref.ns, settings)
	if err != nil {
		return err
	}
	a.warnMissing(vref.name, missing)

	// The VPC's DNS server answers on an address of the gateway link.
	// So do the internal load balancers, whose addresses the namespace
	// answers ARP for like the gateways'.
	gws := append(slices.Clone(p.vpc.Gateways), netip.PrefixFrom(dataplane.ResolverAddr(), 32))
	if err := ensureGateway(vref, append(gws, lbAddrs(p.vpc.LoadBalancers)...)); err != nil {
		return err
	}
	var entries []spoofEntry
	for _, e := range p.enis {
		for _, ad := range e.Addrs {
			entries = append(entries, spoofEntry{IfName: p.names[e.ID], Addr: ad})
		}
	}
	for _, ep := range p.endpoints {
		entries = append(entries, spoofEntry{IfName: p.names[ep.ENIID], Addr: ep.Addr})
	}
	if err := applySpoofTable(int(vref.ns), entries); err != nil {
		return fmt.Errorf("anti-spoofing table: %w", err)
	}
	return nil
}

func (a *Applier) warnMissing(ns string, keys []string) {
	for _, k := range keys {
		if !a.warned[k] {
			a.warned[k] = true
			a.log.Warn("sysctl not available in namespace, skipped", "netns", ns, "sysctl", k)
		}
	}
}

// ensureGateway makes the dummy "pgw" hold exactly the gateway addresses.
// The instance ARPs for its gateway on its veth; Linux answers ARP for any
// local address of the namespace, and for IPv6 the veth proxies NDP.
func ensureGateway(vref *nsRef, gws []netip.Prefix) error {
	link, err := vref.nl.LinkByName(gatewayLink)
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("look up %s: %w", gatewayLink, err)
	}
	if link != nil && link.Type() != "dummy" && link.Type() != "bridge" {
		if err := vref.nl.LinkDel(link); err != nil {
			return fmt.Errorf("delete foreign %s: %w", gatewayLink, err)
		}
		link = nil
	}
	if link == nil {
		attrs := netlink.LinkAttrs{Name: gatewayLink}
		if derr := vref.nl.LinkAdd(&netlink.Dummy{LinkAttrs: attrs}); derr != nil {
			// Kernels built without the dummy driver: a bridge without
			// ports holds addresses just as well and carries no traffic.
			if berr := vref.nl.LinkAdd(&netlink.Bridge{LinkAttrs: attrs}); berr != nil {
				return fmt.Errorf("create %s: dummy: %w; bridge: %w", gatewayLink, derr, berr)
			}
		}
		if link, err = vref.nl.LinkByName(gatewayLink); err != nil {
			return fmt.Errorf("look up %s: %w", gatewayLink, err)
		}
	}
	want := make([]netip.Prefix, 0, len(gws))
	for _, g := range gws {
		if g.IsValid() {
			want = append(want, g)
		}
	}
	if err := syncAddrs(vref.nl, link, want); err != nil {
		return fmt.Errorf("%s addresses: %w", gatewayLink, err)
	}
	return linkUp(vref.nl, link)
}

// instanceNS opens (creating if needed) an instance namespace once per Apply.
func (a *Applier) instanceNS(id string, insts map[string]*nsRef) (*nsRef, error) {
	if r, ok := insts[id]; ok {
		return r, nil
	}
	r, err := a.ensureNS(id)
	if err != nil {
		return nil, err
	}
	if err := writeResolvConf(id); err != nil {
		r.Close()
		return nil, err
	}
	insts[id] = r
	return r, nil
}

// ensureNS opens the named namespace, creating and marking it when missing.
// A namespace of that name without this Applier's marker is refused unless
// it is empty (only lo), which is what a crash between creating and
// marking leaves behind.
func (a *Applier) ensureNS(name string) (*nsRef, error) {
	if _, err := os.Stat(filepath.Join(netnsDir, name)); errors.Is(err, fs.ErrNotExist) {
		if err := createNamedNS(name); err != nil {
			return nil, err
		}
		a.log.Info("created namespace", "netns", name)
	}
	r, err := openNS(name)
	if err != nil {
		return nil, err
	}
	marker, err := nsMarker(r)
	if err != nil {
		r.Close()
		return nil, err
	}
	if marker != a.marker {
		empty, err := onlyLoopback(r)
		if err != nil || !empty {
			r.Close()
			return nil, errors.Join(err, fmt.Errorf("namespace %s exists and is not ours (marker %q)", name, marker))
		}
	}
	if err := markNS(r, a.marker); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// ensureENI puts one ENI in place and returns the indexes of its host veth
// and of its interface in the instance.
func (a *Applier) ensureENI(vref, iref *nsRef, e dataplane.ENI, hostName string, primary, primary6 bool) (hostIdx, peerIdx int, err error) {
	ethName := InstanceIfName(e.DeviceIndex)
	mac, err := net.ParseMAC(e.MAC)
	if err != nil {
		return 0, 0, fmt.Errorf("mac: %w", err)
	}
	host, peer, err := lookupPair(vref, iref, hostName, ethName)
	if err != nil {
		return 0, 0, err
	}
	if !vethPair(host, peer) {
		// Half a pair, a pair into another namespace or a foreign link of
		// that name: start over, the two ends must be one pair.
		for _, del := range []struct {
			nl   *netlink.Handle
			link netlink.Link
		}{{vref.nl, host}, {iref.nl, peer}} {
			if del.link == nil {
				continue
			}
			if err := del.nl.LinkDel(del.link); err != nil && !errors.Is(err, unix.ENODEV) {
				return 0, 0, fmt.Errorf("delete stale %s: %w", del.link.Attrs().Name, err)
			}
		}
		veth := &netlink.Veth{
			LinkAttrs:        netlink.LinkAttrs{Name: hostName},
			PeerName:         ethName,
			PeerNamespace:    netlink.NsFd(iref.ns),
			PeerHardwareAddr: mac,
		}
		if err := vref.nl.LinkAdd(veth); err != nil {
			return 0, 0, fmt.Errorf("create veth %s/%s: %w", hostName, ethName, err)
		}
		a.log.Info("created veth", "eni", e.ID, "vpc_netns", vref.name, "host", hostName, "instance", e.InstanceID, "peer", ethName)
		if host, peer, err = lookupPair(vref, iref, hostName, ethName); err != nil {
			return 0, 0, err
		}
		if host == nil || peer == nil {
			return 0, 0, fmt.Errorf("veth %s/%s missing right after creation", hostName, ethName)
		}
	}
	if peer.Attrs().HardwareAddr.String() != mac.String() {
		if err := iref.nl.LinkSetHardwareAddr(peer, mac); err != nil {
			return 0, 0, fmt.Errorf("set mac of %s: %w", ethName, err)
		}
	}

	v6 := e.Gateway6.IsValid()
	// Proxy ARP/NDP answers broadcasts only after a random delay of up to
	// 0.8 s unless the device's proxy_delay is 0 (neigh/default is not
	// exposed outside the initial namespace, so it is set per veth).
	settings := []sysctl{
		{Key: "net/ipv4/conf/" + hostName + "/proxy_arp", Value: "1"},
		{Key: "net/ipv4/neigh/" + hostName + "/proxy_delay", Value: "0"},
	}
	if v6 {
		settings = append(settings,
			sysctl{Key: "net/ipv6/conf/" + hostName + "/proxy_ndp", Value: "1"},
			// The veth has only a link-local address, and the kernel sends no
			// neighbour solicitation while it is tentative: without this the
			// ENI is unreachable over IPv6 for the first seconds.
			sysctl{Key: "net/ipv6/conf/" + hostName + "/accept_dad", Value: "0"},
			sysctl{Key: "net/ipv6/neigh/" + hostName + "/proxy_delay", Value: "0"})
	}
	if _, err := applySysctls(vref.ns, settings); err != nil {
		return 0, 0, err
	}
	if err := syncProxyNDP(vref.nl, host, e.Gateway6); err != nil {
		return 0, 0, err
	}

	if err := syncAddrs(iref.nl, peer, eniPrefixes(e)); err != nil {
		return 0, 0, fmt.Errorf("%s addresses: %w", ethName, err)
	}
	if err := linkUp(vref.nl, host); err != nil {
		return 0, 0, err
	}
	if err := linkUp(iref.nl, peer); err != nil {
		return 0, 0, err
	}
	gw4, gw6 := netip.Addr{}, netip.Addr{}
	if primary {
		gw4 = e.Gateway
	}
	if primary6 {
		gw6 = e.Gateway6
	}
	if gw4.IsValid() || gw6.IsValid() {
		if err := ensureDefaultRoutes(iref.nl, peer, gw4, gw6); err != nil {
			return 0, 0, err
		}
	}
	return host.Attrs().Index, peer.Attrs().Index, nil
}

func lookupPair(vref, iref *nsRef, hostName, ethName string) (host, peer netlink.Link, err error) {
	host, err = vref.nl.LinkByName(hostName)
	if err != nil && !isNotFound(err) {
		return nil, nil, fmt.Errorf("look up %s: %w", hostName, err)
	}
	peer, err = iref.nl.LinkByName(ethName)
	if err != nil && !isNotFound(err) {
		return nil, nil, fmt.Errorf("look up %s: %w", ethName, err)
	}
	return host, peer, nil
}

// vethPair reports whether host and peer are the two ends of one veth pair
// (each one's IFLA_LINK is the other's index).
func vethPair(host, peer netlink.Link) bool {
	if host == nil || peer == nil || host.Type() != "veth" || peer.Type() != "veth" {
		return false
	}
	return host.Attrs().ParentIndex == peer.Attrs().Index && peer.Attrs().ParentIndex == host.Attrs().Index
}

func isNotFound(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf)
}

func linkUp(h *netlink.Handle, l netlink.Link) error {
	if l.Attrs().Flags&net.FlagUp != 0 {
		return nil
	}
	if err := h.LinkSetUp(l); err != nil {
		return fmt.Errorf("set %s up: %w", l.Attrs().Name, err)
	}
	return nil
}

// eniPrefixes are the instance-side addresses: IPv4 with the vSwitch prefix
// length so the instance sees its subnet, IPv6 likewise.
func eniPrefixes(e dataplane.ENI) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(e.Addrs))
	for _, ad := range e.Addrs {
		bits := ad.BitLen()
		switch {
		case ad.Is4() && e.VSwitchCidr.IsValid():
			bits = e.VSwitchCidr.Bits()
		case ad.Is6() && e.VSwitchCidr6.IsValid():
			bits = e.VSwitchCidr6.Bits()
		}
		out = append(out, netip.PrefixFrom(ad, bits))
	}
	return out
}

// syncAddrs makes the link's global addresses exactly want. IPv6 addresses
// skip DAD (the VPC guarantees uniqueness) and get no prefix route: all
// IPv6 traffic goes via the gateway, so the VPC namespace only has to
// proxy NDP for the gateway, not for every neighbour.
func syncAddrs(h *netlink.Handle, l netlink.Link, want []netip.Prefix) error {
	have, err := h.AddrList(l, netlink.FAMILY_ALL)
	if err != nil {
		return fmt.Errorf("list addresses of %s: %w", l.Attrs().Name, err)
	}
	wantSet := map[netip.Prefix]bool{}
	for _, p := range want {
		wantSet[p] = true
	}
	haveSet := map[netip.Prefix]bool{}
	for _, ad := range have {
		ip, ok := netip.AddrFromSlice(ad.IP)
		if !ok || ip.Unmap().IsLinkLocalUnicast() {
			continue
		}
		ones, _ := ad.Mask.Size()
		p := netip.PrefixFrom(ip.Unmap(), ones)
		if wantSet[p] {
			haveSet[p] = true
			continue
		}
		if err := h.AddrDel(l, &ad); err != nil {
			return fmt.Errorf("delete %s: %w", p, err)
		}
	}
	for _, p := range want {
		if haveSet[p] {
			continue
		}
		ad := &netlink.Addr{IPNet: prefixIPNet(p)}
		if p.Addr().Is6() {
			ad.Flags = unix.IFA_F_NODAD | unix.IFA_F_NOPREFIXROUTE
		}
		if err := h.AddrReplace(l, ad); err != nil {
			return fmt.Errorf("add %s: %w", p, err)
		}
	}
	return nil
}

func prefixIPNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// ensureDefaultRoutes points the instance's default routes of the valid
// gateways' families at them through eth. onlink: the IPv6 gateway is not
// covered by a connected route.
func ensureDefaultRoutes(h *netlink.Handle, eth netlink.Link, gw4, gw6 netip.Addr) error {
	for _, gw := range []netip.Addr{gw4, gw6} {
		if !gw.IsValid() {
			continue
		}
		family := netlink.FAMILY_V4
		if gw.Is6() {
			family = netlink.FAMILY_V6
		}
		routes, err := h.RouteList(nil, family)
		if err != nil {
			return fmt.Errorf("list routes: %w", err)
		}
		ok := false
		for _, r := range routes {
			if isDefault(r) && r.LinkIndex == eth.Attrs().Index && r.Gw != nil && r.Gw.Equal(net.IP(gw.AsSlice())) {
				ok = true
			}
		}
		if ok {
			continue
		}
		r := &netlink.Route{
			Dst:       prefixIPNet(netip.PrefixFrom(netip.IPv6Unspecified(), 0)),
			LinkIndex: eth.Attrs().Index,
			Gw:        gw.AsSlice(),
			Flags:     int(netlink.FLAG_ONLINK),
			Protocol:  routeProto,
		}
		if gw.Is4() {
			r.Dst = prefixIPNet(netip.PrefixFrom(netip.IPv4Unspecified(), 0))
		}
		if err := h.RouteReplace(r); err != nil {
			return fmt.Errorf("default route via %s: %w", gw, err)
		}
	}
	return nil
}

// removeDefault6 deletes Palisade's IPv6 default routes of the main table.
func removeDefault6(h *netlink.Handle) error {
	routes, err := h.RouteListFiltered(netlink.FAMILY_V6, &netlink.Route{Protocol: routeProto}, netlink.RT_FILTER_PROTOCOL)
	if err != nil {
		return fmt.Errorf("list IPv6 routes: %w", err)
	}
	for _, r := range routes {
		if !isDefault(r) {
			continue
		}
		if err := h.RouteDel(&r); err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("delete IPv6 default route: %w", err)
		}
	}
	return nil
}

func isDefault(r netlink.Route) bool {
	if r.Dst == nil {
		return true
	}
	ones, _ := r.Dst.Mask.Size()
	return ones == 0
}

// syncProxyNDP answers neighbour solicitations for the IPv6 gateway on the
// host veth (IPv6 has no proxy_arp equivalent for whole subnets).
func syncProxyNDP(h *netlink.Handle, host netlink.Link, gw6 netip.Addr) error {
	have, err := h.NeighProxyList(host.Attrs().Index, netlink.FAMILY_V6)
	if err != nil {
		return fmt.Errorf("list proxy neighbours: %w", err)
	}
	found := false
	for _, n := range have {
		if gw6.IsValid() && n.IP.Equal(net.IP(gw6.AsSlice())) {
			found = true
			continue
		}
		if err := h.NeighDel(&n); err != nil {
			return fmt.Errorf("delete proxy neighbour %s: %w", n.IP, err)
		}
	}
	if found || !gw6.IsValid() {
		return nil
	}
	n := &netlink.Neigh{
		LinkIndex: host.Attrs().Index,
		Family:    netlink.FAMILY_V6,
		Flags:     netlink.NTF_PROXY,
		IP:        gw6.AsSlice(),
	}
	if err := h.NeighAdd(n); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("proxy neighbour %s: %w", gw6, err)
	}
	return nil
}

// syncVPCRoutes makes the VPC namespace's Palisade routes exactly one host
// route per ENI address through its veth. It returns errors per ENI.
// Routes through the uplink (uplinkIdx, 0 when there is none) are the
// uplink's own and left alone.
func syncVPCRoutes(vref *nsRef, enis []dataplane.ENI, hostIdx map[string]int, uplinkIdx int) map[string]error {
	errs := map[string]error{}
	type target struct {
		eni string
		idx int
	}
	want := map[netip.Prefix]target{}
	for _, e := range enis {
		idx, ok := hostIdx[e.ID]
		if !ok || idx == 0 {
			continue
		}
		for _, ad := range e.Addrs {
			want[netip.PrefixFrom(ad, ad.BitLen())] = target{e.ID, idx}
		}
	}
	have := map[netip.Prefix]int{}
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		routes, err := vref.nl.RouteListFiltered(fam, &netlink.Route{Protocol: routeProto}, netlink.RT_FILTER_PROTOCOL)
		if err != nil {
			for _, e := range enis {
				errs[e.ID] = fmt.Errorf("list routes: %w", err)
			}
			return errs
		}
		for _, r := range routes {
			if uplinkIdx != 0 && r.LinkIndex == uplinkIdx {
				continue
			}
			p, ok := ipNetPrefix(r.Dst)
			if t, wanted := want[p]; ok && wanted && t.idx == r.LinkIndex {
				have[p] = r.LinkIndex
				continue
			}
			// Not desired (or through the wrong veth): ours, so delete.
			if err := vref.nl.RouteDel(&r); err != nil && !errors.Is(err, unix.ESRCH) {
				if t, wanted := want[p]; wanted {
					errs[t.eni] = fmt.Errorf("delete route %s: %w", p, err)
				}
			}
		}
	}
	for p, t := range want {
		if _, ok := have[p]; ok {
			continue
		}
		r := &netlink.Route{Dst: prefixIPNet(p), LinkIndex: t.idx, Protocol: routeProto}
		if p.Addr().Is4() {
			r.Scope = netlink.SCOPE_LINK
		}
		if err := vref.nl.RouteReplace(r); err != nil {
			errs[t.eni] = fmt.Errorf("route %s: %w", p, err)
		}
	}
	return errs
}

func ipNetPrefix(n *net.IPNet) (netip.Prefix, bool) {
	if n == nil {
		return netip.Prefix{}, false
	}
	ip, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(ip.Unmap(), ones), true
}

// pruneVPCLinks deletes host veths of ENIs no longer in the VPC.
func pruneVPCLinks(vref *nsRef, names map[string]string) error {
	keep := map[string]bool{}
	for _, n := range names {
		keep[n] = true
	}
	links, err := vref.nl.LinkList()
	if err != nil {
		return fmt.Errorf("netns %s: list links: %w", vref.name, err)
	}
	var errs []error
	for _, l := range links {
		name := l.Attrs().Name
		if l.Type() != "veth" || !strings.HasPrefix(name, vethPrefix) || keep[name] {
			continue
		}
		if err := vref.nl.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
			errs = append(errs, fmt.Errorf("netns %s: delete %s: %w", vref.name, name, err))
		}
	}
	return errors.Join(errs...)
}

// pruneInstanceLinks deletes the instance's veths that are not desired ENIs
// (also removing their host ends in whatever VPC namespace they are).
func pruneInstanceLinks(iref *nsRef, keep map[string]bool) error {
	links, err := iref.nl.LinkList()
	if err != nil {
		return fmt.Errorf("netns %s: list links: %w", iref.name, err)
	}
	var errs []error
	for _, l := range links {
		if l.Type() != "veth" || keep[l.Attrs().Name] {
			continue
		}
		if err := iref.nl.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
			errs = append(errs, fmt.Errorf("netns %s: delete %s: %w", iref.name, l.Attrs().Name, err))
		}
	}
	return errors.Join(errs...)
}

// owned lists the namespaces carrying this Applier's marker.
func (a *Applier) owned() ([]string, error) {
	names, err := listNamedNS()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range names {
		if !isPalisadeNSName(n) {
			continue
		}
		r, err := openNS(n)
		if err != nil {
			// Not a live namespace (e.g. a stale file): not provably ours.
			continue
		}
		marker, err := nsMarker(r)
		r.Close()
		if err == nil && marker == a.marker {
			out = append(out, n)
		}
	}
	return out, nil
}

// pruneNamespaces deletes this Applier's namespaces that are not desired,
// instances before VPCs.
func (a *Applier) pruneNamespaces(desired map[string]bool) error {
	names, err := a.owned()
	if err != nil {
		return err
	}
	var stale []string
	for _, n := range names {
		if !desired[n] {
			stale = append(stale, n)
		}
	}
	return a.deleteNamespaces(stale)
}

func (a *Applier) deleteNamespaces(names []string) error {
	// Instances go first, so their veths (and the host ends) vanish before
	// the router namespaces.
	slices.SortFunc(names, func(x, y string) int {
		xi, yi := strings.HasPrefix(x, instanceNSPrefix), strings.HasPrefix(y, instanceNSPrefix)
		if xi != yi {
			if xi {
				return -1
			}
			return 1
		}
		return strings.Compare(x, y)
	})
	var errs []error
	for _, n := range names {
		if err := a.deleteNS(n); err != nil {
			errs = append(errs, err)
			continue
		}
		a.log.Info("deleted namespace", "netns", n)
	}
	return errors.Join(errs...)
}

// deleteNS kills the processes in the namespace (a deleted instance runs
// nothing; see killProcessesIn), removes its veths (were a process to
// keep the namespace alive, its links should still go), then the
// namespace. It kills again after the unmount: a process that entered
// in between would otherwise keep the namespace alive unseen.
func (a *Applier) deleteNS(name string) error {
	id, idErr := nsIDOf(filepath.Join(netnsDir, name))
	kill := func() {
		if idErr != nil {
			return
		}
		pids, err := killProcessesIn(id)
		if len(pids) > 0 {
			a.log.Info("killed the processes of a deleted namespace", "netns", name, "pids", pids)
		}
		if err != nil {
			a.log.Warn("processes of a deleted namespace", "netns", name, "err", err)
		}
	}
	kill()
	if r, err := openNS(name); err == nil {
		links, lerr := r.nl.LinkList()
		if lerr == nil {
			for _, l := range links {
				if l.Type() == "veth" {
					_ = r.nl.LinkDel(l) // best effort: namespace teardown removes it anyway
				}
			}
		}
		r.Close()
	}
	err := deleteNamedNS(name)
	kill()
	return errors.Join(err, removeResolvConf(name))
}

// Cleanup removes every namespace carrying this Applier's marker, and with
// them all links, routes and nftables tables Palisade made; nothing else.
func (a *Applier) Cleanup(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	names, err := a.owned()
	if err != nil {
		return err
	}
	err = a.deleteNamespaces(names)
	// The uplinks went with their VPC namespaces; remove any left over
	// (a namespace kept alive by a process in it).
	root, rerr := a.openRootNS()
	if rerr != nil {
		return errors.Join(err, rerr)
	}
	defer root.Close()
	return errors.Join(err, a.pruneUplinks(root, nil), a.syncHairpinTable(root, nil), a.syncUnderlayFilter(root, nil, nil))
}

// Namespaces lists the namespaces carrying this Applier's marker.
func (a *Applier) Namespaces() ([]string, error) {
	return a.owned()
}

// InstanceExec runs cmd inside the instance's namespace with the given
// standard streams and returns its exit code. err is set only when the
// command could not be run at all (or the instance is not ours).
func (a *Applier) InstanceExec(ctx context.Context, instanceID string, cmd []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	if len(cmd) == 0 {
		return -1, errors.New("instance exec: empty command")
	}
	if err := validNSName(instanceID, instanceNSPrefix); err != nil {
		return -1, fmt.Errorf("instance exec: %w", err)
	}
	r, err := openNS(instanceID)
	if err != nil {
		return -1, fmt.Errorf("instance exec: %w", err)
	}
	marker, err := nsMarker(r)
	r.Close()
	if err != nil {
		return -1, fmt.Errorf("instance exec: %w", err)
	}
	if marker != a.marker {
		return -1, fmt.Errorf("instance exec: namespace %s is not Palisade's", instanceID)
	}
	// `ip netns exec` also remounts /sys for the namespace, as users expect.
	c := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", instanceID}, cmd...)...)
	c.Stdin, c.Stdout, c.Stderr = stdin, stdout, stderr
	err = c.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), nil
	}
	if err != nil {
		return -1, fmt.Errorf("instance exec %s: %w", instanceID, err)
	}
	return 0, nil
}
