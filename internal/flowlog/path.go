package flowlog

import (
	"cmp"
	"net/netip"
	"slices"
	"sort"

	"github.com/palisade-project/palisade/internal/model"
)

// PathFilter is a flow log's traffic-path filter (TrafficPath
// internetGateway): it keeps the traffic whose remote end (the source of
// what enters the ENI, the destination of what leaves it) is on the
// internet, i.e. outside the blocks it is given as inside. The data plane
// translates before the ENI (an EIP's or a forward entry's public address
// becomes the private one, and a NAT gateway's SNAT happens after it), so
// the ENI's end is always its private address and the remote end is the
// real peer: the rule works on observations as capture makes them.
//
// A nil *PathFilter keeps everything (the path "all"). It is built once
// per log (NewInternetPath) and read, never changed, after that.
type PathFilter struct {
	name string
	// v4 and v6 are the inside blocks of each family, sorted by first
	// address, none inside another (a block nested in a wider one is
	// left out): the only block that may hold an address is the last
	// one starting at or before it.
	v4, v6 []netip.Prefix
}

// notInternet are the blocks no VPC reaches the internet through,
// whatever its CIDRs and routes.
var notInternet = [...]netip.Prefix{
	// PrivateLink's transit addresses; it holds 100.100.0.0/16, the
	// cloud-service addresses (DNS 100.100.2.136, metadata
	// 100.100.100.200).
	model.TransitRange,
	// Link-local: the next hops of the VPC namespaces' uplink, peerings
	// and overlay, IPv6 neighbour discovery.
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("fe80::/10"),
	// DHCP's and duplicate address detection's unspecified source, the
	// limited broadcast and multicast: never routed off the link.
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("::/128"),
	netip.MustParsePrefix("255.255.255.255/32"),
	netip.MustParsePrefix("224.0.0.0/4"),
	netip.MustParsePrefix("ff00::/8"),
}

// NewInternetPath returns the filter of the path internetGateway for a
// VPC whose own network is inside (model.FlowLogInside: its CIDR blocks
// and the destinations of its peering routes); the blocks no VPC reaches
// the internet through are added.
func NewInternetPath(inside []netip.Prefix) *PathFilter {
	all := make([]netip.Prefix, 0, len(inside)+len(notInternet))
	for _, p := range append(slices.Clone(inside), notInternet[:]...) {
		if p.IsValid() && p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		if p.IsValid() {
			all = append(all, p.Masked())
		}
	}
	// By first address, the wider first: a block nested in another
	// comes after it and is dropped.
	slices.SortFunc(all, func(a, b netip.Prefix) int {
		return cmp.Or(a.Addr().Compare(b.Addr()), cmp.Compare(a.Bits(), b.Bits()))
	})
	f := &PathFilter{name: model.FlowLogPathInternet}
	for _, p := range all {
		set := &f.v4
		if p.Addr().Is6() {
			set = &f.v6
		}
		if n := len(*set); n > 0 && (*set)[n-1].Contains(p.Addr()) {
			continue
		}
		*set = append(*set, p)
	}
	return f
}

// Name is the path of the records the filter keeps (their trafficPath):
// "" for a nil filter (all traffic).
func (f *PathFilter) Name() string {
	if f == nil {
		return ""
	}
	return f.name
}

// Inside returns the blocks the filter takes for inside (not the
// internet), IPv4 then IPv6, each sorted.
func (f *PathFilter) Inside() []netip.Prefix {
	if f == nil {
		return nil
	}
	return append(slices.Clone(f.v4), f.v6...)
}

// Equal reports whether f and g keep the same traffic under the same name.
func (f *PathFilter) Equal(g *PathFilter) bool {
	if f == nil || g == nil {
		return f == g
	}
	return f.name == g.name && slices.Equal(f.v4, g.v4) && slices.Equal(f.v6, g.v6)
}

// inside reports whether a lies in one of the inside blocks.
func (f *PathFilter) inside(a netip.Addr) bool {
	a = a.Unmap().WithZone("")
	set := f.v4
	if a.Is6() {
		set = f.v6
	}
	i := sort.Search(len(set), func(i int) bool { return set[i].Addr().Compare(a) > 0 })
	return i > 0 && set[i-1].Contains(a)
}

// remoteOnInternet is the rule: an address capture could not read is not
// known to be on the internet, and is left out.
func (f *PathFilter) remoteOnInternet(remote netip.Addr) bool {
	return remote.IsValid() && !f.inside(remote)
}

// Keeps reports whether the observation belongs in the log.
func (f *PathFilter) Keeps(o *Observation) bool {
	if f == nil {
		return true
	}
	remote := o.Dst
	if o.Direction == DirIn {
		remote = o.Src
	}
	return f.remoteOnInternet(remote)
}

// KeepsRecord reports whether the record belongs in the log (the server
// applies the filter again to what agents report). Records without
// traffic (NODATA, SKIPDATA) belong in every log.
func (f *PathFilter) KeepsRecord(r *Record) bool {
	if f == nil || r.SrcAddr == "" && r.DstAddr == "" {
		return true
	}
	remote := r.DstAddr
	if r.Direction == DirIn {
		remote = r.SrcAddr
	}
	a, err := netip.ParseAddr(remote)
	return err == nil && f.remoteOnInternet(a)
}
