package agent

import (
	"context"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"testing"

	"github.com/palisade-project/palisade/internal/dataplane"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/store"
	"github.com/palisade-project/palisade/internal/store/memory"
)

// overlayWorld is the store of TestBuildOverlays: zone a is this host.
//
//	vpc-1 (VNI 100)  a: eni-a1            b: eni-b1 (2 IPv4, 1 IPv6), eni-b2, eni-b3 (unattached)
//	                 c: eni-c1            d: eni-d1   e: eni-e1   f: eni-f1   g: eni-g1
//	vpc-2 (VNI 200)  a: eni-a2            b: eni-b4
//	vpc-3 (VNI 300)  a: eni-a3 only
//	vpc-0 (no VNI)   a: eni-a0            b: eni-b0
//	vpc-x (VNI 400)  b: eni-bx only (not on this host)
//
// vnis overrides VPC VNIs; underlays are the zones' underlay records.
func overlayWorld(t *testing.T, vnis map[string]uint32, underlays map[string]model.Underlay) store.Store {
	t.Helper()
	st := memory.New()
	t.Cleanup(func() { st.Close() })
	vni := map[string]uint32{"vpc-1": 100, "vpc-2": 200, "vpc-3": 300, "vpc-0": 0, "vpc-x": 400}
	for k, v := range vnis {
		vni[k] = v
	}
	type eni struct {
		id, vpc, zone string
		attached      bool
		addrs         []string // primary, then secondary IPv4s; IPv6 ones by ':'
	}
	enis := []eni{
		{"eni-a1", "vpc-1", "a", true, []string{"10.1.1.5"}},
		{"eni-b1", "vpc-1", "b", true, []string{"10.1.2.5", "10.1.2.6", "fd00:1:0:2::5"}},
		{"eni-b2", "vpc-1", "b", true, []string{"10.1.2.7"}},
		{"eni-b3", "vpc-1", "b", false, []string{"10.1.2.8"}},
		{"eni-c1", "vpc-1", "c", true, []string{"10.1.3.5", "fd00:1:0:3::5"}},
		{"eni-d1", "vpc-1", "d", true, []string{"10.1.4.5"}},
		{"eni-e1", "vpc-1", "e", true, []string{"10.1.5.5"}},
		{"eni-f1", "vpc-1", "f", true, []string{"10.1.6.5"}},
		{"eni-g1", "vpc-1", "g", true, []string{"10.1.7.5"}},
		{"eni-a2", "vpc-2", "a", true, []string{"10.2.1.5"}},
		{"eni-b4", "vpc-2", "b", true, []string{"10.2.2.5"}},
		{"eni-a3", "vpc-3", "a", true, []string{"10.3.1.5"}},
		{"eni-a0", "vpc-0", "a", true, []string{"10.4.1.5"}},
		{"eni-b0", "vpc-0", "b", true, []string{"10.4.2.5"}},
		{"eni-bx", "vpc-x", "b", true, []string{"10.5.2.5"}},
	}
	_, err := st.Update(context.Background(), func(tx store.Txn) error {
		for id, n := range vni {
			putRecord(t, tx, model.PrefixVPC+id, model.VPC{ID: id, CidrBlock: netip.MustParsePrefix("10.0.0.0/8"), VNI: n})
		}
		vsw := map[string]bool{}
		for _, e := range enis {
			vswID := "vsw-" + e.vpc + "-" + e.zone
			if !vsw[vswID] {
				vsw[vswID] = true
				p := netip.MustParseAddr(e.addrs[0]).As4()
				putRecord(t, tx, model.PrefixVSwitch+vswID, model.VSwitch{ID: vswID, VpcID: e.vpc, ZoneID: e.zone,
					CidrBlock: netip.PrefixFrom(netip.AddrFrom4([4]byte{p[0], p[1], p[2], 0}), 24)})
			}
			rec := model.ENI{ID: e.id, VpcID: e.vpc, VSwitchID: vswID, ZoneID: e.zone, MAC: "02:00:00:00:00:01",
				Type: model.ENITypeSecondary, Status: model.ENIAvailable, PrimaryIP: netip.MustParseAddr(e.addrs[0])}
			for _, a := range e.addrs[1:] {
				if addr := netip.MustParseAddr(a); addr.Is4() {
					rec.SecondaryIPs = append(rec.SecondaryIPs, addr)
				} else {
					rec.IPv6s = append(rec.IPv6s, addr)
				}
			}
			if e.attached {
				inst := "i-" + e.id[4:]
				rec.InstanceID, rec.Type, rec.Status = inst, model.ENITypePrimary, model.ENIInUse
				putRecord(t, tx, model.PrefixInstance+inst, model.Instance{ID: inst, ZoneID: e.zone, VpcID: e.vpc, VSwitchID: vswID,
					PrimaryENIID: e.id, Status: model.InstanceRunning})
			}
			putRecord(t, tx, model.PrefixENI+e.id, rec)
		}
		putUnderlays(t, tx, underlays)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// putUnderlays writes the zones' underlay records.
func putUnderlays(t *testing.T, tx store.Txn, underlays map[string]model.Underlay) {
	t.Helper()
	for zone, u := range underlays {
		u.ZoneID = zone
		putRecord(t, tx, model.PrefixUnderlay+zone, u)
	}
}

func ul(addr string, port uint16) model.Underlay {
	return model.Underlay{Addr: netip.MustParseAddr(addr), Port: port}
}

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

// TestBuildOverlays: a VPC with ENIs here (zone a) and in other zones
// with underlays gets an overlay with its VNI, this zone's underlay and
// one remote per other host, sorted by underlay address, carrying every
// address of the VPC's attached ENIs there; zones without an underlay,
// on another port or address family, or on this host's own address are
// not joined; no overlay without a local underlay, a VNI, or a remote.
func TestBuildOverlays(t *testing.T) {
	const p = model.DefaultUnderlayPort
	// Zone c's address sorts before b's (10.9.0.3 < 10.9.0.20), though
	// not as strings: the order is by address.
	all := map[string]model.Underlay{
		"a": ul("10.9.0.1", p),
		"b": ul("10.9.0.20", p),
		"c": ul("10.9.0.3", p),
		"d": ul("10.9.0.4", 4800), // another port
		"e": ul("2001:db8::5", p), // another family
		"g": ul("10.9.0.1", p),    // this host's own address
		"h": ul("10.9.0.8", p),    // a zone with no ENIs
		// f: no underlay
	}
	vpc1 := &dataplane.Overlay{VNI: 100, Local: netip.MustParseAddr("10.9.0.1"), Port: p, Remotes: []dataplane.RemoteHost{
		{Underlay: netip.MustParseAddr("10.9.0.3"), Addrs: addrs("10.1.3.5", "fd00:1:0:3::5")},
		{Underlay: netip.MustParseAddr("10.9.0.20"), Addrs: addrs("10.1.2.5", "10.1.2.6", "10.1.2.7", "fd00:1:0:2::5")},
	}}
	vpc2 := &dataplane.Overlay{VNI: 200, Local: netip.MustParseAddr("10.9.0.1"), Port: p, Remotes: []dataplane.RemoteHost{
		{Underlay: netip.MustParseAddr("10.9.0.20"), Addrs: addrs("10.2.2.5")},
	}}
	without := func(zones ...string) map[string]model.Underlay {
		out := map[string]model.Underlay{}
		for k, v := range all {
			out[k] = v
		}
		for _, z := range zones {
			delete(out, z)
		}
		return out
	}
	only := func(zones ...string) map[string]model.Underlay {
		out := map[string]model.Underlay{}
		for _, z := range zones {
			out[z] = all[z]
		}
		return out
	}
	for _, tc := range []struct {
		name      string
		vnis      map[string]uint32
		underlays map[string]model.Underlay
		want      map[string]*dataplane.Overlay // VPC on this host -> overlay (absent: nil)
	}{
		{"every zone", nil, all, map[string]*dataplane.Overlay{"vpc-1": vpc1, "vpc-2": vpc2}},
		{"no local underlay", nil, without("a"), nil},
		{"no remote underlay", nil, only("a"), nil},
		{"remotes on another port, family or this address only", nil, only("a", "d", "e", "g", "h"), nil},
		{"vpc-1 without VNI", map[string]uint32{"vpc-1": 0}, all, map[string]*dataplane.Overlay{"vpc-2": vpc2}},
		{"zone b gone", nil, without("b"), map[string]*dataplane.Overlay{"vpc-1": {VNI: 100, Local: netip.MustParseAddr("10.9.0.1"), Port: p,
			Remotes: []dataplane.RemoteHost{{Underlay: netip.MustParseAddr("10.9.0.3"), Addrs: addrs("10.1.3.5", "fd00:1:0:3::5")}}}}},
		{"ipv6 underlay", nil, map[string]model.Underlay{"a": ul("2001:db8::1", 4800), "b": ul("10.9.0.20", 4800), "c": ul("2001:db8::3", 4800),
			"e": ul("2001:db8::5", 4800), "d": ul("2001:db8::4", p)},
			map[string]*dataplane.Overlay{"vpc-1": {VNI: 100, Local: netip.MustParseAddr("2001:db8::1"), Port: 4800, Remotes: []dataplane.RemoteHost{
				{Underlay: netip.MustParseAddr("2001:db8::3"), Addrs: addrs("10.1.3.5", "fd00:1:0:3::5")},
				{Underlay: netip.MustParseAddr("2001:db8::5"), Addrs: addrs("10.1.5.5")},
			}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := overlayWorld(t, tc.vnis, tc.underlays)
			d := buildDesired(t, st, "a")
			// The VPCs on this host are those with an ENI here, overlay or not.
			got := map[string]*dataplane.Overlay{}
			var onHost []string
			for _, v := range d.Host.VPCs {
				onHost = append(onHost, v.ID)
				if v.Overlay != nil {
					got[v.ID] = v.Overlay
				}
			}
			if want := []string{"vpc-0", "vpc-1", "vpc-2", "vpc-3"}; !reflect.DeepEqual(onHost, want) {
				t.Errorf("VPCs on the host %v, want %v", onHost, want)
			}
			want := tc.want
			if want == nil {
				want = map[string]*dataplane.Overlay{}
			}
			for _, id := range []string{"vpc-0", "vpc-1", "vpc-2", "vpc-3"} {
				if !reflect.DeepEqual(got[id], want[id]) {
					t.Errorf("%s overlay:\n got %s\nwant %s", id, fmtOverlay(got[id]), fmtOverlay(want[id]))
				}
			}
		})
	}
}

// buildDesired is the desired state of the host serving zone, built from
// st as the agent builds it (ENI veths named "pv" + ID).
func buildDesired(t *testing.T, st store.Store, zone string) *Desired {
	t.Helper()
	var d *Desired
	if err := st.View(context.Background(), func(tx store.ReadTxn) error {
		var err error
		d, err = Build(tx, zone, func(id string) string { return "pv" + id })
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return d
}

func fmtOverlay(o *dataplane.Overlay) string {
	if o == nil {
		return "none"
	}
	s := fmt.Sprintf("VNI %d local %s port %d", o.VNI, o.Local, o.Port)
	for _, r := range o.Remotes {
		s += fmt.Sprintf(" [%s %v]", r.Underlay, r.Addrs)
	}
	return s
}

// TestBuildPeeringOverlays: a packet over a peering between ENIs on two
// hosts crosses it on the host of the non-tunnel VPC's ENI
// (model.PeerConnection.TunnelVPC, the lower ID). Zone a is this host.
//
//	pcc-1  vpc-a (tunnel, VNI 10, ENI in b only)  -  vpc-z (VNI 20, ENI here)
//	pcc-2  vpc-b (tunnel, VNI 30, ENI here)       -  vpc-y (VNI 40, ENIs in b: 10.40.2.5, 10.41.2.5)
//
// vpc-b routes 10.40.0.0/16 (not 10.41) over pcc-2; vpc-a and vpc-z route
// each other's blocks over pcc-1.
func TestBuildPeeringOverlays(t *testing.T) {
	const p = model.DefaultUnderlayPort
	here, there := ul("10.9.0.1", p), ul("10.9.0.2", p)
	for _, tc := range []struct {
		name      string
		underlays map[string]model.Underlay
		status    string
		onHost    []string
		want      map[string]*dataplane.Overlay
	}{
		{"joined", map[string]model.Underlay{"a": here, "b": there}, model.PeerActivated,
			// vpc-a has a namespace here without ENIs (its packets
			// to vpc-z's ENI cross pcc-1 here), reaching its ENI in b;
			// vpc-b routes vpc-y's 10.40.2.5 to zone b, where it
			// crosses pcc-2; vpc-z and vpc-y carry nothing of the peer.
			[]string{"vpc-a", "vpc-b", "vpc-z"},
			map[string]*dataplane.Overlay{
				"vpc-a": {VNI: 10, Local: here.Addr, Port: p, Remotes: []dataplane.RemoteHost{{Underlay: there.Addr, Addrs: addrs("10.10.2.5")}}},
				"vpc-b": {VNI: 30, Local: here.Addr, Port: p, Remotes: []dataplane.RemoteHost{{Underlay: there.Addr, Addrs: addrs("10.40.2.5")}}},
			}},
		{"zone b without an underlay", map[string]model.Underlay{"a": here}, model.PeerActivated, []string{"vpc-b", "vpc-z"}, nil},
		{"peerings not activated", map[string]model.Underlay{"a": here, "b": there}, model.PeerAccepting, []string{"vpc-b", "vpc-z"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := memory.New()
			t.Cleanup(func() { st.Close() })
			_, err := st.Update(context.Background(), func(tx store.Txn) error {
				for _, v := range []struct {
					id    string
					vni   uint32
					block string
				}{{"vpc-a", 10, "10.10.0.0/16"}, {"vpc-z", 20, "10.20.0.0/16"}, {"vpc-b", 30, "10.30.0.0/16"}, {"vpc-y", 40, "10.40.0.0/15"}} {
					putRecord(t, tx, model.PrefixVPC+v.id, model.VPC{ID: v.id, CidrBlock: netip.MustParsePrefix(v.block), VNI: v.vni})
				}
				for _, e := range []struct{ id, vpc, zone, addr string }{
					{"eni-a", "vpc-a", "b", "10.10.2.5"}, {"eni-z", "vpc-z", "a", "10.20.1.5"},
					{"eni-b", "vpc-b", "a", "10.30.1.5"}, {"eni-y1", "vpc-y", "b", "10.40.2.5"}, {"eni-y2", "vpc-y", "b", "10.41.2.5"},
				} {
					a := netip.MustParseAddr(e.addr)
					vsw := "vsw-" + e.id
					putRecord(t, tx, model.PrefixVSwitch+vsw, model.VSwitch{ID: vsw, VpcID: e.vpc, ZoneID: e.zone, CidrBlock: netip.PrefixFrom(a, 24).Masked()})
					inst := "i-" + e.id[4:]
					putRecord(t, tx, model.PrefixInstance+inst, model.Instance{ID: inst, ZoneID: e.zone, VpcID: e.vpc, VSwitchID: vsw, PrimaryENIID: e.id, Status: model.InstanceRunning})
					putRecord(t, tx, model.PrefixENI+e.id, model.ENI{ID: e.id, VpcID: e.vpc, VSwitchID: vsw, ZoneID: e.zone, MAC: "02:00:00:00:00:01",
						InstanceID: inst, Type: model.ENITypePrimary, Status: model.ENIInUse, PrimaryIP: a})
				}
				putRecord(t, tx, model.PrefixPeerConnection+"pcc-1", model.PeerConnection{ID: "pcc-1", VpcID: "vpc-z", AcceptingVpcID: "vpc-a", Status: tc.status})
				putRecord(t, tx, model.PrefixPeerConnection+"pcc-2", model.PeerConnection{ID: "pcc-2", VpcID: "vpc-b", AcceptingVpcID: "vpc-y", Status: tc.status})
				for _, r := range []struct{ id, vpc, dst, pcc string }{
					{"rte-az", "vpc-a", "10.20.0.0/16", "pcc-1"}, {"rte-za", "vpc-z", "10.10.0.0/16", "pcc-1"},
					{"rte-by", "vpc-b", "10.40.0.0/16", "pcc-2"}, {"rte-yb", "vpc-y", "10.30.0.0/16", "pcc-2"},
				} {
					putRecord(t, tx, model.PrefixRouteEntry+r.id, model.RouteEntry{ID: r.id, VpcID: r.vpc, DestinationCidr: netip.MustParsePrefix(r.dst),
						NextHopType: model.RouteNextHopPeer, NextHopID: r.pcc})
				}
				putUnderlays(t, tx, tc.underlays)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			d := buildDesired(t, st, "a")
			got := map[string]*dataplane.Overlay{}
			var onHost []string
			peerings := map[string][]string{}
			for _, v := range d.Host.VPCs {
				onHost = append(onHost, v.ID)
				if v.Overlay != nil {
					got[v.ID] = v.Overlay
				}
				for _, pe := range v.Peerings {
					peerings[v.ID] = append(peerings[v.ID], pe.ID+" to "+pe.PeerVPC)
				}
				if v.ID == "vpc-a" && len(v.ENIs) != 0 {
					t.Errorf("vpc-a's namespace here has ENIs %v, want none (a transit)", v.ENIs)
				}
			}
			if !reflect.DeepEqual(onHost, tc.onHost) {
				t.Errorf("VPCs on the host %v, want %v", onHost, tc.onHost)
			}
			want := tc.want
			if want == nil {
				want = map[string]*dataplane.Overlay{}
			}
			for _, id := range []string{"vpc-a", "vpc-b", "vpc-y", "vpc-z"} {
				if !reflect.DeepEqual(got[id], want[id]) {
					t.Errorf("%s overlay:\n got %s\nwant %s", id, fmtOverlay(got[id]), fmtOverlay(want[id]))
				}
			}
			// pcc-1 links vpc-a's namespace to vpc-z's here, where they cross.
			wantPeerings := map[string][]string{}
			if slices.Contains(tc.onHost, "vpc-a") {
				wantPeerings = map[string][]string{"vpc-a": {"pcc-1 to vpc-z"}, "vpc-z": {"pcc-1 to vpc-a"}}
			}
			if !reflect.DeepEqual(peerings, wantPeerings) {
				t.Errorf("peerings %v, want %v", peerings, wantPeerings)
			}
		})
	}
}

// TestBuildEndpointOverlays: a PrivateLink endpoint in zone a (this host,
// with the service's backend) whose consumer VPC has its instance in zone
// b only. Zone a makes a namespace of the consumer VPC for the endpoint
// and routes the instance to zone b; zone b routes the endpoint's address
// to zone a. Without joined hosts, or without a connection, neither does.
//
//	vpc-c (VNI 50)  a: endpoint ep-1's eni-ep 10.50.1.50   b: i-c 10.50.2.5
//	vpc-p (VNI 60)  a: i-p 10.60.1.5, epsrv-1's backend
func TestBuildEndpointOverlays(t *testing.T) {
	const p = model.DefaultUnderlayPort
	here, there := ul("10.9.0.1", p), ul("10.9.0.2", p)
	epAddr, backend := netip.MustParseAddr("10.50.1.50"), netip.MustParseAddr("10.60.1.5")
	type side struct {
		onHost    []string
		endpoints []dataplane.Endpoint // vpc-c's
		overlay   *dataplane.Overlay   // vpc-c's
	}
	for _, tc := range []struct {
		name      string
		underlays map[string]model.Underlay
		status    string
		a, b      side
	}{
		{"joined", map[string]model.Underlay{"a": here, "b": there}, model.EndpointConnected,
			side{[]string{"vpc-c", "vpc-p"},
				[]dataplane.Endpoint{{ENIID: "eni-ep", Addr: epAddr, TransitAddr: netip.MustParseAddr("100.64.0.5"), ProviderVPC: "vpc-p", Backends: []netip.Addr{backend}}},
				&dataplane.Overlay{VNI: 50, Local: here.Addr, Port: p, Remotes: []dataplane.RemoteHost{{Underlay: there.Addr, Addrs: addrs("10.50.2.5")}}}},
			side{[]string{"vpc-c"}, nil,
				&dataplane.Overlay{VNI: 50, Local: there.Addr, Port: p, Remotes: []dataplane.RemoteHost{{Underlay: here.Addr, Addrs: []netip.Addr{epAddr}}}}}},
		{"zone b without an underlay", map[string]model.Underlay{"a": here}, model.EndpointConnected,
			side{[]string{"vpc-p"}, nil, nil}, side{[]string{"vpc-c"}, nil, nil}},
		{"on another port", map[string]model.Underlay{"a": here, "b": ul("10.9.0.2", p+1)}, model.EndpointConnected,
			side{[]string{"vpc-p"}, nil, nil}, side{[]string{"vpc-c"}, nil, nil}},
		{"not connected", map[string]model.Underlay{"a": here, "b": there}, model.EndpointDisconnected,
			side{[]string{"vpc-p"}, nil, nil}, side{[]string{"vpc-c"}, nil, nil}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := memory.New()
			t.Cleanup(func() { st.Close() })
			_, err := st.Update(context.Background(), func(tx store.Txn) error {
				putRecord(t, tx, model.PrefixVPC+"vpc-c", model.VPC{ID: "vpc-c", CidrBlock: netip.MustParsePrefix("10.50.0.0/16"), VNI: 50})
				putRecord(t, tx, model.PrefixVPC+"vpc-p", model.VPC{ID: "vpc-p", CidrBlock: netip.MustParsePrefix("10.60.0.0/16"), VNI: 60})
				for _, e := range []struct{ id, vpc, zone, addr, inst string }{
					{"eni-ep", "vpc-c", "a", "10.50.1.50", ""}, {"eni-c", "vpc-c", "b", "10.50.2.5", "i-c"}, {"eni-p", "vpc-p", "a", "10.60.1.5", "i-p"},
				} {
					a := netip.MustParseAddr(e.addr)
					vsw := "vsw-" + e.vpc + "-" + e.zone
					putRecord(t, tx, model.PrefixVSwitch+vsw, model.VSwitch{ID: vsw, VpcID: e.vpc, ZoneID: e.zone, CidrBlock: netip.PrefixFrom(a, 24).Masked()})
					rec := model.ENI{ID: e.id, VpcID: e.vpc, VSwitchID: vsw, ZoneID: e.zone, MAC: "02:00:00:00:00:01",
						InstanceID: e.inst, Type: model.ENITypePrimary, Status: model.ENIInUse, PrimaryIP: a}
					if e.inst == "" {
						rec.Type, rec.EndpointID = model.ENITypeSecondary, "ep-1"
					} else {
						putRecord(t, tx, model.PrefixInstance+e.inst, model.Instance{ID: e.inst, ZoneID: e.zone, VpcID: e.vpc, VSwitchID: vsw, PrimaryENIID: e.id, Status: model.InstanceRunning})
					}
					putRecord(t, tx, model.PrefixENI+e.id, rec)
				}
				putRecord(t, tx, model.PrefixEndpointService+"epsrv-1", model.EndpointService{ID: "epsrv-1", VpcID: "vpc-p",
					Resources: []model.EndpointServiceResource{{ResourceID: "i-p", ResourceType: model.EndpointResourceECS, ZoneID: "a"}}})
				putRecord(t, tx, model.PrefixEndpoint+"ep-1", model.Endpoint{ID: "ep-1", VpcID: "vpc-c", ServiceID: "epsrv-1", ConnectionStatus: tc.status,
					Zones: []model.EndpointZone{{ZoneID: "a", VSwitchID: "vsw-vpc-c-a", ENIID: "eni-ep", Addr: epAddr, TransitAddr: netip.MustParseAddr("100.64.0.5")}}})
				putUnderlays(t, tx, tc.underlays)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			for zone, want := range map[string]side{"a": tc.a, "b": tc.b} {
				d := buildDesired(t, st, zone)
				var got side
				for _, v := range d.Host.VPCs {
					got.onHost = append(got.onHost, v.ID)
					if v.ID != "vpc-c" {
						continue
					}
					got.endpoints, got.overlay = v.Endpoints, v.Overlay
					if zone == "a" && len(v.ENIs) != 0 {
						t.Errorf("zone a: vpc-c's namespace has ENIs %v, want none (the endpoint's only)", v.ENIs)
					}
				}
				if !reflect.DeepEqual(got.onHost, want.onHost) || !reflect.DeepEqual(got.endpoints, want.endpoints) {
					t.Errorf("zone %s: VPCs %v with vpc-c's endpoints %+v, want %v with %+v", zone, got.onHost, got.endpoints, want.onHost, want.endpoints)
				}
				if !reflect.DeepEqual(got.overlay, want.overlay) {
					t.Errorf("zone %s: vpc-c's overlay\n got %s\nwant %s", zone, fmtOverlay(got.overlay), fmtOverlay(want.overlay))
				}
			}
		})
	}
}
