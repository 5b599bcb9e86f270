package app_test

import (
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/app"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/service"
	"github.com/palisade-project/palisade/internal/store"
)

func storedDDoSConfig(t *testing.T, a *app.App) model.DDoSConfig {
	t.Helper()
	var cfg model.DDoSConfig
	if err := a.Service().Store().View(context.Background(), func(tx store.ReadTxn) error {
		b, ok, err := tx.Get(model.KeyDDoSConfig)
		if err != nil || !ok {
			t.Fatalf("%s: %v, present %v", model.KeyDDoSConfig, err, ok)
		}
		return json.Unmarshal(b, &cfg)
	}); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestDDoSConfigAtStart: the server writes the operator's Anti-DDoS
// configuration for the agents at every start (the default when none is
// given), refuses an invalid one before touching the data directory, and
// the local agent's reporter stores events as the admin.
func TestDDoSConfigAtStart(t *testing.T) {
	dir := t.TempDir()
	open := func(cfg model.DDoSConfig) *app.App {
		t.Helper()
		a, err := app.New(app.Options{Listen: "127.0.0.1:0", DataDir: dir, Logger: quiet, DDoS: cfg})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	a := open(model.DDoSConfig{})
	if got := storedDDoSConfig(t, a); got != model.DefaultDDoSConfig() {
		t.Errorf("default: %+v", got)
	}
	a.Close()
	short := model.DDoSConfig{BlackholeMbps: 10, BlackholeSeconds: 3600, QuietSeconds: 1, TimeScale: 60}
	a = open(short)
	defer a.Close()
	if got := storedDDoSConfig(t, a); got != short {
		t.Errorf("after a restart with other settings: %+v", got)
	}

	for _, bad := range []model.DDoSConfig{
		{BlackholeMbps: 0, BlackholeSeconds: 1800, QuietSeconds: 1},
		{BlackholeMbps: 10, BlackholeSeconds: 86401, QuietSeconds: 1},
		{BlackholeMbps: 10, BlackholeSeconds: 1799, QuietSeconds: 1}, // Alibaba's range starts at 30 min
		{BlackholeMbps: 10, BlackholeSeconds: 1800, QuietSeconds: 0},
		{BlackholeMbps: 10, BlackholeSeconds: 1800, QuietSeconds: 1, TimeScale: -1},
	} {
		other := t.TempDir() + "/data"
		if b, err := app.New(app.Options{Listen: "127.0.0.1:0", DataDir: other, Logger: quiet, DDoS: bad}); err == nil || !strings.Contains(err.Error(), "anti-DDoS") {
			if b != nil {
				b.Close()
			}
			t.Errorf("%+v: %v", bad, err)
		}
		if _, err := os.Stat(other); !os.IsNotExist(err) {
			t.Errorf("%+v: the data directory was made (%v)", bad, err)
		}
	}

	// The reporter: an address that is no EIP is refused, an EIP's
	// event is stored with its owner.
	ctx := context.Background()
	ev := model.DDoSEvent{IP: netip.MustParseAddr("198.18.0.9"), Type: model.DDoSDefense, Start: time.Now().Add(-time.Minute)}
	if err := a.DDoSReporter().ReportDDoSEvents(ctx, []model.DDoSEvent{ev}); err == nil {
		t.Error("an event of no EIP was stored")
	}
	acct, _ := a.Admin()
	e, err := a.Service().AllocateEipAddress(ctx, acct.ID, service.AllocateEipInput{})
	if err != nil {
		t.Fatal(err)
	}
	ev.IP = e.Address
	if err := a.DDoSReporter().ReportDDoSEvents(ctx, []model.DDoSEvent{ev}); err != nil {
		t.Fatal(err)
	}
	ips, err := a.Service().DDoSTargets(ctx, acct.ID, "eip", e.ID, "")
	if err != nil || len(ips) != 1 || ips[0].Status != model.DDoSDefense || ips[0].BlackholeMbps != 10 {
		t.Errorf("after the report: %v %+v", err, ips)
	}
}
