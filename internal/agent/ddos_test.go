package agent

import (
	"context"
	"encoding/json"
	"net/netip"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/dataplane"
	"github.com/palisade-project/palisade/internal/ddos"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/store"
	"github.com/palisade-project/palisade/internal/store/memory"
)

// putRecord stores v as JSON at key, as the service does.
func putRecord(t testing.TB, tx store.Txn, key string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Put(key, b); err != nil {
		t.Fatal(err)
	}
}

type discardDDoS struct{}

func (discardDDoS) ReportDDoSEvents(context.Context, []model.DDoSEvent) error { return nil }

// TestBuildDDoSResumes: a new agent (a restart) builds each VPC's
// protection from the store: every local EIP counted, one with an open
// blackhole event still blackholed, one whose blackhole is over not, and
// a manual threshold used for scrubbing; without a sink, nothing.
func TestBuildDDoSResumes(t *testing.T) {
	ctx := context.Background()
	st := memory.New()
	now := time.Now()
	held, freed, other := netip.MustParseAddr("198.51.100.1"), netip.MustParseAddr("198.51.100.2"), netip.MustParseAddr("198.51.100.3")
	if _, err := st.Update(ctx, func(tx store.Txn) error {
		putRecord(t, tx, model.KeyDDoSConfig, model.DDoSConfig{BlackholeMbps: 100, BlackholeSeconds: 60, QuietSeconds: 5})
		putRecord(t, tx, model.DDoSThresholdKey("acc", other), model.DDoSThreshold{AccountID: "acc", IP: other, Bps: 3, Pps: 700})
		for _, e := range []model.DDoSEvent{
			{IP: held, Type: model.DDoSBlackhole, Start: now.Add(-10 * time.Second), LastAttack: now.Add(-5 * time.Second), UnBlackholeAt: now.Add(55 * time.Second)},
			{IP: freed, Type: model.DDoSBlackhole, Start: now.Add(-2 * time.Minute), LastAttack: now.Add(-90 * time.Second), UnBlackholeAt: now.Add(-30 * time.Second)},
		} {
			putRecord(t, tx, e.Key(), e)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	desired := func() *Desired {
		d := &Desired{Host: dataplane.Host{VPCs: []dataplane.VPC{{ID: "vpc-a"}, {ID: "vpc-b"}}}}
		for i, ip := range []netip.Addr{held, freed, other} {
			d.EIPs = append(d.EIPs, model.EIP{ID: "eip-" + string(rune('a'+i)), AccountID: "acc", Address: ip, Bandwidth: 5, VpcID: "vpc-a"})
		}
		return d
	}
	a := New(Config{Store: st, DDoS: discardDDoS{}})
	d := desired()
	if err := st.View(ctx, func(tx store.ReadTxn) error { return a.buildDDoS(tx, d) }); err != nil {
		t.Fatal(err)
	}
	got := d.Host.VPCs[0].DDoS
	if got == nil || len(got.Counted) != 3 {
		t.Fatalf("vpc-a protection %+v, want its 3 EIPs counted", got)
	}
	if len(got.Blackholed) != 1 || got.Blackholed[0] != held {
		t.Errorf("blackholed %v, want only %v (the other blackhole is over)", got.Blackholed, held)
	}
	if d.Host.VPCs[1].DDoS != nil {
		t.Errorf("vpc-b has no EIP and got %+v", d.Host.VPCs[1].DDoS)
	}
	if thr := a.ddosView.thresholds[other]; thr != ddos.ThresholdOf(3, 700) {
		t.Errorf("threshold of %v: %+v, want the manual 3 Mbit/s, 700 packets/s", other, thr)
	}
	if thr := a.ddosView.thresholds[held]; thr != ddos.ThresholdOf(model.DefaultDDoSThreshold(5)) {
		t.Errorf("threshold of %v: %+v, want the default of 5 Mbit/s", held, thr)
	}

	none := New(Config{Store: st})
	d = desired()
	if err := st.View(ctx, func(tx store.ReadTxn) error { return none.buildDDoS(tx, d) }); err != nil {
		t.Fatal(err)
	}
	if d.Host.VPCs[0].DDoS != nil {
		t.Errorf("an agent without a sink protects: %+v", d.Host.VPCs[0].DDoS)
	}
}
