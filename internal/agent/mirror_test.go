package agent

import (
	"context"
	"log/slog"
	"net/netip"
	"reflect"
	"testing"

	"github.com/palisade-project/palisade/internal/mirror"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/store"
)

// TestBuildMirrorsAcrossHosts plans traffic mirroring on zone a's host of
// overlayWorld (b joined to a by the underlay, c on another port, so not
// joined):
//
//	tms-out   eni-a1 (here)          -> eni-b1 (b)    copies relayed to b's relay
//	tms-in    eni-b2 (b), eni-c1 (c) -> eni-a1 (here) b's copies delivered here; c's refused
//	tms-far   eni-a1 (here)          -> eni-c1 (c)    not served: c is not joined
//	tms-other eni-b1 (b)             -> eni-b2 (b)    nothing here
//	tms-off   eni-a1 (here)          -> eni-b1 (b)    disabled
//
// and across the peering pcc-12 (vpc-2 routes 10.1.0.0/16 over it, vpc-1
// routes nothing back):
//
//	tms-peer  eni-a2 (here, vpc-2)   -> eni-a1 (here) sent from vpc-1's namespace
//	tms-peerb eni-b4 (b, vpc-2)      -> eni-a1 (here) b's copies delivered here
//	tms-back  eni-a1 (here)          -> eni-a2 (here, vpc-2) not served: vpc-1 does not route 10.2.1.5 over the peering
//	tms-lone  eni-a3 (here, vpc-3)   -> eni-a1 (here) not served: no peering
//
// Without this host's underlay nothing crosses: no relay, no relayed
// session.
func TestBuildMirrorsAcrossHosts(t *testing.T) {
	const p = model.DefaultUnderlayPort
	joined := map[string]model.Underlay{"a": ul("10.9.0.1", p), "b": ul("10.9.0.2", p), "c": ul("10.9.0.3", p+10)}
	accept := []model.MirrorRule{{ID: "tmr-1", Priority: 1, Action: model.PolicyAccept, Protocol: model.ProtoALL,
		SourcePorts: model.PortRange{From: -1, To: -1}, DestinationPorts: model.PortRange{From: -1, To: -1}}}
	sessions := []model.MirrorSession{
		{ID: "tms-out", TargetID: "eni-b1", SourceIDs: []string{"eni-a1"}, Priority: 1, VNI: 11, Enabled: true},
		{ID: "tms-in", TargetID: "eni-a1", SourceIDs: []string{"eni-b2", "eni-c1"}, Priority: 2, VNI: 12, Enabled: true},
		{ID: "tms-far", TargetID: "eni-c1", SourceIDs: []string{"eni-a1"}, Priority: 3, VNI: 13, Enabled: true},
		{ID: "tms-other", TargetID: "eni-b2", SourceIDs: []string{"eni-b1"}, Priority: 4, VNI: 14, Enabled: true},
		{ID: "tms-off", TargetID: "eni-b1", SourceIDs: []string{"eni-a1"}, Priority: 5, VNI: 15},
		{ID: "tms-peer", TargetID: "eni-a1", SourceIDs: []string{"eni-a2"}, Priority: 6, VNI: 16, Enabled: true},
		{ID: "tms-peerb", TargetID: "eni-a1", SourceIDs: []string{"eni-b4"}, Priority: 7, VNI: 17, Enabled: true},
		{ID: "tms-back", TargetID: "eni-a2", SourceIDs: []string{"eni-a1"}, Priority: 8, VNI: 18, Enabled: true},
		{ID: "tms-lone", TargetID: "eni-a1", SourceIDs: []string{"eni-a3"}, Priority: 9, VNI: 19, Enabled: true},
	}
	plan := func(t *testing.T, underlays map[string]model.Underlay) mirrorPlan {
		st := overlayWorld(t, nil, underlays)
		if _, err := st.Update(context.Background(), func(tx store.Txn) error {
			putRecord(t, tx, model.PrefixMirrorFilter+"tmf-1", model.MirrorFilter{ID: "tmf-1", Egress: accept, Ingress: accept})
			putRecord(t, tx, model.PrefixPeerConnection+"pcc-12", model.PeerConnection{ID: "pcc-12", VpcID: "vpc-1", AcceptingVpcID: "vpc-2", Status: model.PeerActivated})
			putRecord(t, tx, model.PrefixRouteEntry+"rte-1", model.RouteEntry{ID: "rte-1", VpcID: "vpc-2",
				DestinationCidr: netip.MustParsePrefix("10.1.0.0/16"), NextHopType: model.RouteNextHopPeer, NextHopID: "pcc-12"})
			for _, s := range sessions {
				s.FilterID, s.TargetType, s.PacketLength = "tmf-1", model.MirrorTargetENI, 1500
				putRecord(t, tx, model.PrefixMirrorSession+s.ID, s)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		a := New(Config{Store: st, Zone: "a", IfName: func(id string) string { return "pv" + id }, Logger: slog.New(slog.DiscardHandler)})
		var out mirrorPlan
		if err := st.View(context.Background(), func(tx store.ReadTxn) error {
			d, err := Build(tx, "a", a.cfg.IfName)
			if err != nil {
				return err
			}
			out, err = a.buildMirrors(tx, d)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}

	t.Run("joined", func(t *testing.T) {
		got := plan(t, joined)
		if want := netip.MustParseAddrPort("10.9.0.1:4799"); got.relay != want {
			t.Errorf("relay address %v, want %v (this host's underlay, the port after the tunnels')", got.relay, want)
		}
		src, ok := got.views["vpc-1"].Sources["pveni-a1"]
		if !ok || len(got.views) != 2 || len(got.views["vpc-1"].Sources) != 1 || len(got.views["vpc-2"].Sources) != 1 {
			t.Fatalf("views %+v, want vpc-1 with the one source eni-a1 and vpc-2 with eni-a2 (tms-lone's source has no peering)", got.views)
		}
		peer := got.views["vpc-2"].Sources["pveni-a2"]
		if len(peer.Sessions) != 1 || peer.Sessions[0].ID != "tms-peer" || peer.Sessions[0].TargetNetns != "/run/netns/vpc-1" ||
			peer.Sessions[0].TargetIf != "pveni-a1" || peer.Sessions[0].Relay.IsValid() {
			t.Errorf("eni-a2's sessions %+v, want tms-peer sent from vpc-1's namespace to pveni-a1", peer.Sessions)
		}
		var ids []string
		for _, s := range src.Sessions {
			ids = append(ids, s.ID)
		}
		if !reflect.DeepEqual(ids, []string{"tms-out"}) {
			t.Fatalf("eni-a1's sessions %v, want [tms-out] (tms-far's target is on a host not joined, tms-off is disabled, tms-back is not routed)", ids)
		}
		s := src.Sessions[0]
		if s.Relay != netip.MustParseAddrPort("10.9.0.2:4799") || s.Target != netip.MustParseAddr("10.1.2.5") || s.VNI != 11 {
			t.Errorf("tms-out: relay %v, target %v, VNI %d; want b's relay 10.9.0.2:4799, eni-b1's 10.1.2.5, 11", s.Relay, s.Target, s.VNI)
		}
		want := []mirror.RelayTarget{{SessionID: "tms-in", VpcID: "vpc-1", NetnsPath: "/run/netns/vpc-1", VNI: 12,
			Target: netip.MustParseAddr("10.1.1.5"), TargetIf: "pveni-a1",
			Sources: map[netip.Addr]netip.Addr{netip.MustParseAddr("10.1.2.7"): netip.MustParseAddr("10.9.0.2")}},
			{SessionID: "tms-peerb", VpcID: "vpc-1", NetnsPath: "/run/netns/vpc-1", VNI: 17,
				Target: netip.MustParseAddr("10.1.1.5"), TargetIf: "pveni-a1",
				Sources: map[netip.Addr]netip.Addr{netip.MustParseAddr("10.2.2.5"): netip.MustParseAddr("10.9.0.2")}}}
		if r := got.hostRelay(); r == nil || r.Port != 4799 || !reflect.DeepEqual(r.Peers, []netip.Addr{netip.MustParseAddr("10.9.0.2")}) {
			t.Errorf("the host's relay admission %+v, want port 4799 from b's host (the sources' host; c is not joined)", r)
		}
		if !reflect.DeepEqual(got.receivers, map[string]bool{"vpc-1": true}) {
			t.Errorf("receivers %v, want vpc-1 (copies of sources on b and in vpc-2 are sent from its namespace)", got.receivers)
		}
		if !reflect.DeepEqual(got.relayTargets, want) {
			t.Errorf("relay targets\n got %+v\nwant %+v (eni-c1's host is not joined)", got.relayTargets, want)
		}
	})
	t.Run("no underlay here", func(t *testing.T) {
		u := map[string]model.Underlay{"b": joined["b"], "c": joined["c"]}
		got := plan(t, u)
		if got.relay.IsValid() || len(got.views) != 1 || len(got.relayTargets) != 0 || !reflect.DeepEqual(got.receivers, map[string]bool{"vpc-1": true}) {
			t.Errorf("plan %+v, want only the peered source on this host (tms-peer): this host joins no other", got)
		}
		if r := got.hostRelay(); r != nil {
			t.Errorf("the host's relay admission %+v without an underlay, want none", r)
		}
	})
}
