package agent

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/store"
	"github.com/palisade-project/palisade/internal/store/memory"
)

// TestBuildFlowLogsTrafficPath: an internetGateway flow log gets the
// path filter of its VPC, whose inside blocks are the VPC's CIDR blocks
// (primary, secondary, IPv6) and its peering routes' destinations (not
// its route to a NAT gateway, nor another VPC's peering routes), with the
// blocks no VPC reaches the internet through; a log of all, or of all
// with internetGateway, and one stored before paths existed, get none.
func TestBuildFlowLogsTrafficPath(t *testing.T) {
	st := memory.New()
	t.Cleanup(func() { st.Close() })
	pfx := netip.MustParsePrefix
	_, err := st.Update(context.Background(), func(tx store.Txn) error {
		putRecord(t, tx, model.PrefixVPC+"vpc-a", model.VPC{ID: "vpc-a", CidrBlock: pfx("10.0.0.0/16"),
			SecondaryCidrs: []netip.Prefix{pfx("172.20.0.0/16")}, Ipv6CidrBlock: pfx("2001:db8:1::/56")})
		putRecord(t, tx, model.PrefixVPC+"vpc-b", model.VPC{ID: "vpc-b", CidrBlock: pfx("192.168.0.0/16")})
		putRecord(t, tx, model.PrefixVSwitch+"vsw-1", model.VSwitch{ID: "vsw-1", VpcID: "vpc-a", ZoneID: "z1", CidrBlock: pfx("10.0.1.0/24")})
		putRecord(t, tx, model.PrefixInstance+"i-a", model.Instance{ID: "i-a", ZoneID: "z1", VpcID: "vpc-a", VSwitchID: "vsw-1", PrimaryENIID: "eni-a", Status: model.InstanceRunning})
		putRecord(t, tx, model.PrefixENI+"eni-a", model.ENI{ID: "eni-a", VpcID: "vpc-a", VSwitchID: "vsw-1", ZoneID: "z1", InstanceID: "i-a",
			MAC: "02:00:00:00:00:01", PrimaryIP: netip.MustParseAddr("10.0.1.5")})
		for _, r := range []model.RouteEntry{
			{ID: "rte-peer", VpcID: "vpc-a", DestinationCidr: pfx("192.168.0.0/16"), NextHopType: model.RouteNextHopPeer, NextHopID: "pcc-1"},
			{ID: "rte-peer2", VpcID: "vpc-a", DestinationCidr: pfx("10.8.0.0/24"), NextHopType: model.RouteNextHopPeer, NextHopID: "pcc-2"},
			{ID: "rte-nat", VpcID: "vpc-a", DestinationCidr: pfx("0.0.0.0/0"), NextHopType: model.RouteNextHopNat, NextHopID: "ngw-1"},
			{ID: "rte-other", VpcID: "vpc-b", DestinationCidr: pfx("10.99.0.0/16"), NextHopType: model.RouteNextHopPeer, NextHopID: "pcc-1"},
		} {
			putRecord(t, tx, model.PrefixRouteEntry+r.ID, r)
		}
		for _, f := range []model.FlowLog{
			{ID: "fl-net", TrafficPaths: []string{model.FlowLogPathInternet}},
			{ID: "fl-all", TrafficPaths: []string{model.FlowLogPathAll}},
			{ID: "fl-both", TrafficPaths: []string{model.FlowLogPathInternet, model.FlowLogPathAll}},
			{ID: "fl-old"},
		} {
			f.AccountID, f.ResourceType, f.ResourceID, f.VpcID = "acct", model.FlowLogResourceVPC, "vpc-a", "vpc-a"
			f.TrafficType, f.WindowSeconds, f.Status = model.FlowLogTrafficAll, 60, model.FlowLogActive
			putRecord(t, tx, model.PrefixFlowLog+f.ID, f)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	d := buildDesired(t, st, "z1")
	var got []string
	for _, l := range d.FlowLogs["vpc-a"] {
		var inside []string
		for _, p := range l.Path.Inside() {
			inside = append(inside, p.String())
		}
		got = append(got, fmt.Sprintf("%s %q [%s]", l.ID, l.Path.Name(), strings.Join(inside, " ")))
	}
	want := []string{
		`fl-all "" []`,
		`fl-both "" []`,
		`fl-net "internetGateway" [0.0.0.0/8 10.0.0.0/16 10.8.0.0/24 100.64.0.0/10 169.254.0.0/16 172.20.0.0/16 192.168.0.0/16 224.0.0.0/4 255.255.255.255/32 ::/128 2001:db8:1::/56 fe80::/10 ff00::/8]`,
		`fl-old "" []`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("flow logs:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
