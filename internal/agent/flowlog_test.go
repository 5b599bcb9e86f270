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

// TestBuildFlowLogs checks which local ENIs each active flow log covers
// (one ENI, a vSwitch, a VPC), that inactive logs and ENIs of other hosts
// are left out, the window (WindowSeconds, else the aggregation interval),
// and the covered interfaces in the VPC's program.
func TestBuildFlowLogs(t *testing.T) {
	st := memory.New()
	t.Cleanup(func() { st.Close() })
	_, err := st.Update(context.Background(), func(tx store.Txn) error {
		putRecord(t, tx, model.PrefixVPC+"vpc-a", model.VPC{ID: "vpc-a", CidrBlock: netip.MustParsePrefix("10.0.0.0/16")})
		for _, v := range []struct{ id, cidr string }{{"vsw-1", "10.0.1.0/24"}, {"vsw-2", "10.0.2.0/24"}} {
			putRecord(t, tx, model.PrefixVSwitch+v.id, model.VSwitch{ID: v.id, VpcID: "vpc-a", ZoneID: "z1", CidrBlock: netip.MustParsePrefix(v.cidr)})
		}
		for _, i := range []struct{ id, zone, vsw, ip string }{
			{"i-a", "z1", "vsw-1", "10.0.1.5"}, {"i-b", "z1", "vsw-2", "10.0.2.5"}, {"i-far", "z2", "vsw-1", "10.0.1.9"},
		} {
			putRecord(t, tx, model.PrefixInstance+i.id, model.Instance{ID: i.id, ZoneID: i.zone, VpcID: "vpc-a", VSwitchID: i.vsw, PrimaryENIID: "eni-" + i.id[2:], Status: model.InstanceRunning})
			putRecord(t, tx, model.PrefixENI+"eni-"+i.id[2:], model.ENI{ID: "eni-" + i.id[2:], VpcID: "vpc-a", VSwitchID: i.vsw, ZoneID: i.zone, InstanceID: i.id,
				MAC: "02:00:00:00:00:01", PrimaryIP: netip.MustParseAddr(i.ip)})
		}
		for _, f := range []model.FlowLog{
			{ID: "fl-eni", AccountID: "acct", ResourceType: model.FlowLogResourceENI, ResourceID: "eni-a", VpcID: "vpc-a", TrafficType: model.FlowLogTrafficAllow, WindowSeconds: 2, Status: model.FlowLogActive},
			{ID: "fl-vsw", AccountID: "acct", ResourceType: model.FlowLogResourceVSwitch, ResourceID: "vsw-1", VpcID: "vpc-a", TrafficType: model.FlowLogTrafficAll, AggregationInterval: 5, Status: model.FlowLogActive},
			{ID: "fl-vpc", AccountID: "acct", ResourceType: model.FlowLogResourceVPC, ResourceID: "vpc-a", VpcID: "vpc-a", TrafficType: model.FlowLogTrafficDrop, WindowSeconds: 60, Status: model.FlowLogActive},
			{ID: "fl-off", AccountID: "acct", ResourceType: model.FlowLogResourceVPC, ResourceID: "vpc-a", VpcID: "vpc-a", WindowSeconds: 60, Status: model.FlowLogInactive},
			{ID: "fl-b-only", AccountID: "acct", ResourceType: model.FlowLogResourceENI, ResourceID: "eni-far", VpcID: "vpc-a", WindowSeconds: 60, Status: model.FlowLogActive},
		} {
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
		var enis []string
		for _, e := range l.ENIs {
			enis = append(enis, e.ID+"/"+e.VMID+"/"+e.VSwitchID)
		}
		got = append(got, fmt.Sprintf("%s %s %s %ds [%s]", l.ID, l.AccountID, l.TrafficType, l.WindowSeconds, strings.Join(enis, " ")))
	}
	want := []string{
		"fl-eni acct Allow 2s [eni-a/i-a/vsw-1]",
		"fl-vpc acct Drop 60s [eni-a/i-a/vsw-1 eni-b/i-b/vsw-2]",
		"fl-vsw acct All 300s [eni-a/i-a/vsw-1]",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("flow logs:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if ifs := d.Programs["vpc-a"].FlowLogIfaces; strings.Join(ifs, ",") != "pveni-a,pveni-b" {
		t.Errorf("covered interfaces %v", ifs)
	}
}
