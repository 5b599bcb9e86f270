package linux

import (
	"bytes"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/palisade-project/palisade/internal/dataplane"
)

// The pure parts of the overlay (no kernel): MACs, next hops, validation,
// ordering. The kernel side is tested in test/kernel/multihost_test.go.

// overlayMAC is the same for the same VNI and underlay address (every
// host derives the others'), locally administered and unicast, and
// differs with either.
func TestOverlayMAC(t *testing.T) {
	a := netip.MustParseAddr("10.9.0.1")
	b := netip.MustParseAddr("10.9.0.2")
	c := netip.MustParseAddr("2001:db8::1")
	seen := map[string]string{}
	for _, tc := range []struct {
		name string
		vni  uint32
		addr netip.Addr
	}{
		{"vni 1 a", 1, a}, {"vni 2 a", 2, a}, {"vni 1 b", 1, b}, {"vni 2 b", 2, b},
		{"vni 1 v6", 1, c}, {"vni max a", 1<<24 - 1, a}, {"vni 256 a", 256, a}, {"vni 65536 a", 65536, a},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := overlayMAC(tc.vni, tc.addr)
			if len(m) != 6 {
				t.Fatalf("MAC %v: %d bytes", m, len(m))
			}
			if m[0]&0x02 == 0 {
				t.Errorf("MAC %v is not locally administered", m)
			}
			if m[0]&0x01 != 0 {
				t.Errorf("MAC %v is multicast", m)
			}
			if again := overlayMAC(tc.vni, tc.addr); !bytes.Equal(m, again) {
				t.Errorf("not deterministic: %v then %v", m, again)
			}
			if other, ok := seen[m.String()]; ok {
				t.Errorf("same MAC %v as %s", m, other)
			}
			seen[m.String()] = tc.name
		})
	}
	// Many VNIs on one host: no two share a MAC, and none is multicast.
	macs := map[string]uint32{}
	for vni := uint32(1); vni <= 5000; vni++ {
		m := overlayMAC(vni, a)
		if m[0]&0x03 != 0x02 {
			t.Fatalf("VNI %d: MAC %v not locally administered unicast", vni, m)
		}
		if prev, ok := macs[m.String()]; ok {
			t.Fatalf("VNIs %d and %d share MAC %v", prev, vni, m)
		}
		macs[m.String()] = vni
	}
}

// overlayNextHops gives each remote index its own IPv4 next hop in
// 169.254.78.1 and up (inside 169.254.0.0/16) and IPv6 next hop in
// fe80::/64, up to the largest index validOverlay admits.
func TestOverlayNextHops(t *testing.T) {
	linkLocal4 := netip.MustParsePrefix("169.254.0.0/16")
	linkLocal6 := netip.MustParsePrefix("fe80::/64")
	first := netip.MustParseAddr("169.254.78.1")
	seen4 := map[netip.Addr]int{}
	seen6 := map[netip.Addr]int{}
	check := func(i int) {
		t.Helper()
		v4, v6 := overlayNextHops(i)
		if !v4.Is4() || !linkLocal4.Contains(v4) || v4.Less(first) {
			t.Errorf("index %d: IPv4 next hop %v not in 169.254.78.1-169.254.255.255", i, v4)
		}
		if v4 == netip.MustParseAddr("169.254.255.255") {
			t.Errorf("index %d: IPv4 next hop is the broadcast address", i)
		}
		if !v6.Is6() || v6.Is4In6() || !linkLocal6.Contains(v6) || !v6.IsLinkLocalUnicast() {
			t.Errorf("index %d: IPv6 next hop %v not in fe80::/64", i, v6)
		}
		if j, ok := seen4[v4]; ok {
			t.Errorf("indexes %d and %d share IPv4 next hop %v", j, i, v4)
		}
		if j, ok := seen6[v6]; ok {
			t.Errorf("indexes %d and %d share IPv6 next hop %v", j, i, v6)
		}
		seen4[v4], seen6[v6] = i, i
	}
	for i := 0; i <= 1000; i++ {
		check(i)
	}
	// The last indexes validOverlay admits.
	for i := maxOverlayRemotes - 3; i < maxOverlayRemotes; i++ {
		check(i)
	}
	if v4, v6 := overlayNextHops(0); v4 != first || v6 != netip.MustParseAddr("fe80::4f:1") {
		t.Errorf("index 0: %v %v, want %v fe80::4f:1", v4, v6, first)
	}
}

func remote(underlay string, addrs ...string) dataplane.RemoteHost {
	r := dataplane.RemoteHost{Underlay: netip.MustParseAddr(underlay)}
	for _, a := range addrs {
		r.Addrs = append(r.Addrs, netip.MustParseAddr(a))
	}
	return r
}

func TestValidOverlay(t *testing.T) {
	local4 := netip.MustParseAddr("10.9.0.1")
	local6 := netip.MustParseAddr("2001:db8::1")
	ok4 := func() *dataplane.Overlay {
		return &dataplane.Overlay{VNI: 100, Local: local4, Port: 4798, Remotes: []dataplane.RemoteHost{
			remote("10.9.0.2", "10.1.2.5", "fd00:1::5"), remote("10.9.0.3", "10.1.3.5"),
		}}
	}
	with := func(f func(o *dataplane.Overlay)) *dataplane.Overlay {
		o := ok4()
		f(o)
		return o
	}
	for _, tc := range []struct {
		name string
		o    *dataplane.Overlay
		bad  string // in the error; "" = valid
	}{
		{"ipv4 underlay", ok4(), ""},
		{"ipv6 underlay", &dataplane.Overlay{VNI: 1<<24 - 1, Local: local6, Port: 1, Remotes: []dataplane.RemoteHost{
			remote("2001:db8::2", "10.1.2.5"), remote("2001:db8::3", "fd00:1::7")}}, ""},
		{"no remotes", with(func(o *dataplane.Overlay) { o.Remotes = nil }), ""},
		{"remote without addresses", with(func(o *dataplane.Overlay) { o.Remotes[1].Addrs = nil }), ""},
		{"VNI 1", with(func(o *dataplane.Overlay) { o.VNI = 1 }), ""},
		{"VNI 0", with(func(o *dataplane.Overlay) { o.VNI = 0 }), "VNI"},
		{"VNI 2^24", with(func(o *dataplane.Overlay) { o.VNI = 1 << 24 }), "VNI"},
		{"VNI 2^32-1", with(func(o *dataplane.Overlay) { o.VNI = 1<<32 - 1 }), "VNI"},
		{"no local", with(func(o *dataplane.Overlay) { o.Local = netip.Addr{} }), "local"},
		{"ipv4-mapped local", with(func(o *dataplane.Overlay) { o.Local = netip.MustParseAddr("::ffff:10.9.0.1") }), "local"},
		{"port 0", with(func(o *dataplane.Overlay) { o.Port = 0 }), "port"},
		{"remote same as local", with(func(o *dataplane.Overlay) { o.Remotes[1].Underlay = local4 }), "remote underlay"},
		{"remote of the other family", with(func(o *dataplane.Overlay) { o.Remotes[1].Underlay = local6 }), "remote underlay"},
		{"ipv4 remote of an ipv6 local", &dataplane.Overlay{VNI: 5, Local: local6, Port: 4798, Remotes: []dataplane.RemoteHost{remote("10.9.0.2")}}, "remote underlay"},
		{"ipv4-mapped remote of an ipv6 local", &dataplane.Overlay{VNI: 5, Local: local6, Port: 4798, Remotes: []dataplane.RemoteHost{remote("::ffff:10.9.0.2")}}, "remote underlay"},
		{"invalid remote", with(func(o *dataplane.Overlay) { o.Remotes[1].Underlay = netip.Addr{} }), "remote underlay"},
		{"repeated remote", with(func(o *dataplane.Overlay) { o.Remotes[1].Underlay = o.Remotes[0].Underlay }), "remote underlay"},
		{"ENI address on two remotes", with(func(o *dataplane.Overlay) { o.Remotes[1].Addrs = append(o.Remotes[1].Addrs, o.Remotes[0].Addrs[1]) }), "remote ENI address"},
		{"ENI address twice on one remote", with(func(o *dataplane.Overlay) { o.Remotes[0].Addrs = append(o.Remotes[0].Addrs, o.Remotes[0].Addrs[0]) }), "remote ENI address"},
		{"invalid ENI address", with(func(o *dataplane.Overlay) { o.Remotes[0].Addrs[0] = netip.Addr{} }), "remote ENI address"},
		{"ipv4-mapped ENI address", with(func(o *dataplane.Overlay) { o.Remotes[0].Addrs[0] = netip.MustParseAddr("::ffff:10.1.2.5") }), "remote ENI address"},
		{"too many remotes", with(func(o *dataplane.Overlay) {
			o.Remotes = make([]dataplane.RemoteHost, maxOverlayRemotes+1)
			for i := range o.Remotes {
				o.Remotes[i].Underlay = netip.AddrFrom4([4]byte{10, 10, byte(i >> 8), byte(i)})
			}
		}), "other hosts"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := validOverlay(tc.o)
			switch {
			case tc.bad == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.bad != "" && err == nil:
				t.Errorf("accepted, want an error about %q", tc.bad)
			case tc.bad != "" && !strings.Contains(err.Error(), tc.bad):
				t.Errorf("error %q does not mention %q", err, tc.bad)
			}
		})
	}
	// The most remotes validOverlay admits.
	o := &dataplane.Overlay{VNI: 9, Local: netip.MustParseAddr("10.0.0.1"), Port: 4798, Remotes: make([]dataplane.RemoteHost, maxOverlayRemotes)}
	for i := range o.Remotes {
		o.Remotes[i].Underlay = netip.AddrFrom4([4]byte{10, 10, byte(i >> 8), byte(i)})
	}
	if err := validOverlay(o); err != nil {
		t.Errorf("%d remotes: %v", maxOverlayRemotes, err)
	}
}

// sortedRemotes orders by underlay address (numerically, not as text),
// without touching the overlay's own list.
func TestSortedRemotes(t *testing.T) {
	o := &dataplane.Overlay{Remotes: []dataplane.RemoteHost{
		remote("10.9.0.20", "10.1.2.5"), remote("10.9.0.3", "10.1.3.5"), remote("10.9.0.100"), remote("10.9.0.4"),
	}}
	orig := slices.Clone(o.Remotes)
	var got []string
	for _, r := range sortedRemotes(o) {
		got = append(got, r.Underlay.String())
	}
	if want := []string{"10.9.0.3", "10.9.0.4", "10.9.0.20", "10.9.0.100"}; !slices.Equal(got, want) {
		t.Errorf("sorted %v, want %v", got, want)
	}
	for i := range orig {
		if o.Remotes[i].Underlay != orig[i].Underlay {
			t.Fatalf("sortedRemotes reordered the overlay: %v", o.Remotes)
		}
	}
	// The addresses stay with their remote.
	if rs := sortedRemotes(o); len(rs[0].Addrs) != 1 || rs[0].Addrs[0] != netip.MustParseAddr("10.1.3.5") {
		t.Errorf("first remote's addresses %v", rs[0].Addrs)
	}
}

// addrSets splits addresses into sorted IPv4 (4-byte) and IPv6 (16-byte)
// set elements.
func TestAddrSets(t *testing.T) {
	in := []netip.Addr{
		netip.MustParseAddr("fd00::2"), netip.MustParseAddr("10.0.0.9"), netip.MustParseAddr("10.0.0.10"),
		netip.MustParseAddr("fd00::1"), netip.MustParseAddr("10.0.0.1"),
	}
	v4, v6 := addrSets(in)
	var got4, got6 []string
	for _, e := range v4 {
		if len(e.Key) != 4 {
			t.Errorf("IPv4 element of %d bytes", len(e.Key))
		}
		a, _ := netip.AddrFromSlice(e.Key)
		got4 = append(got4, a.String())
	}
	for _, e := range v6 {
		if len(e.Key) != 16 {
			t.Errorf("IPv6 element of %d bytes", len(e.Key))
		}
		a, _ := netip.AddrFromSlice(e.Key)
		got6 = append(got6, a.String())
	}
	if want := []string{"10.0.0.1", "10.0.0.9", "10.0.0.10"}; !slices.Equal(got4, want) {
		t.Errorf("IPv4 %v, want %v", got4, want)
	}
	if want := []string{"fd00::1", "fd00::2"}; !slices.Equal(got6, want) {
		t.Errorf("IPv6 %v, want %v", got6, want)
	}
	if in[0] != netip.MustParseAddr("fd00::2") {
		t.Error("addrSets sorted its input")
	}
}

// Without the host's link to read, the tunnel end's MTU is a 1500-byte
// underlay's less the encapsulation of the underlay's family.
func TestOverlayMTUDefault(t *testing.T) {
	for _, tc := range []struct {
		local string
		want  int
	}{{"192.0.2.1", 1450}, {"2001:db8::1", 1430}} {
		if got := overlayMTU(nil, netip.MustParseAddr(tc.local)); got != tc.want {
			t.Errorf("overlayMTU(%s) = %d, want %d", tc.local, got, tc.want)
		}
	}
}
