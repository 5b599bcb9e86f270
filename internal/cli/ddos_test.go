package cli_test

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/apitest"
	"github.com/palisade-project/palisade/internal/model"
)

func TestDDoSCommands(t *testing.T) {
	env := apitest.Start(t, apitest.WithDDoS(model.DDoSConfig{BlackholeMbps: 800, BlackholeSeconds: 1800, QuietSeconds: 5}))
	r := newRunner(t, env)
	vpcID := strings.TrimSpace(r.ok("vpc", "create", "--cidr", "10.0.0.0/16"))
	vsw := strings.TrimSpace(r.ok("vswitch", "create", "--vpc", vpcID, "--cidr", "10.0.1.0/24"))
	sg := strings.TrimSpace(r.ok("sg", "create", "--vpc", vpcID, "--name", "web"))
	inst := strings.TrimSpace(r.ok("instance", "create", "--vswitch", vsw, "--sg", sg, "--private-ip", "10.0.1.7"))
	fields := strings.Fields(r.ok("eip", "allocate", "--name", "front"))
	eip, addr := fields[0], fields[1]
	r.ok("eip", "associate", eip, inst)
	spare := strings.Fields(r.ok("eip", "allocate", "--bandwidth", "1000"))

	out := r.ok("ddos", "list")
	for _, want := range []string{"Address", addr, eip, inst, "normal", "450", "100000", "800", spare[0], "1500", "1000000"} {
		if !strings.Contains(out, want) {
			t.Errorf("ddos list lacks %q:\n%s", want, out)
		}
	}

	// Thresholds.
	r.ok("ddos", "threshold", "set", "--instance", inst, "--ip", addr, "--bps", "100", "--pps", "2000")
	js := r.okJSON("ddos", "list")
	rows, _ := js["Ips"].([]any)
	if len(rows) != 2 {
		t.Fatalf("ddos list -o json: %v", js)
	}
	first := rows[0].(map[string]any)
	if first["InstanceIp"] != addr || first["InstanceId"] != inst || first["IsAuto"] != "false" ||
		first["DefenseBpsThreshold"].(float64) != 100 || first["DefensePpsThreshold"].(float64) != 2000 {
		t.Errorf("after threshold set: %v", first)
	}
	if e := r.fail("ddos", "threshold", "set", "--instance", inst, "--ip", addr, "--bps", "451", "--pps", "1"); !strings.Contains(e, "InvalidParameter") || !strings.Contains(e, "1 to 450") {
		t.Errorf("too high: %s", e)
	}
	if e := r.fail("ddos", "threshold", "set", "--instance", inst, "--ip", addr, "--bps", "1"); !strings.Contains(e, "pps") {
		t.Errorf("no --pps: %s", e)
	}
	r.ok("ddos", "threshold", "auto", "--instance", inst)
	if out := r.ok("ddos", "list"); !strings.Contains(out, "450") || strings.Contains(out, "false") {
		t.Errorf("after threshold auto:\n%s", out)
	}
	r.ok("ddos", "threshold", "set", "--instance", eip, "--ip", addr, "--bps", "300", "--pps", "3000")
	r.ok("ddos", "threshold", "auto", "--instance", eip, "--ip", addr)
	if out := r.ok("ddos", "list"); strings.Contains(out, "300") {
		t.Errorf("after threshold auto --ip:\n%s", out)
	}

	// Events.
	now := time.Now().UTC().Truncate(time.Second)
	if err := env.App.DDoSReporter().ReportDDoSEvents(context.Background(), []model.DDoSEvent{
		{IP: netip.MustParseAddr(addr), Type: model.DDoSBlackhole, Start: now.Add(-time.Minute), UnBlackholeAt: now.Add(29 * time.Minute)},
	}); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"ddos", "events", addr}, {"ddos", "events", "--instance", inst}, {"ddos", "events", "--instance", eip, addr}} {
		out := r.ok(args...)
		for _, want := range []string{"blackhole", now.Add(-time.Minute).Format(time.RFC3339), now.Add(29 * time.Minute).Format(time.RFC3339), "30"} {
			if !strings.Contains(out, want) {
				t.Errorf("%v lacks %q:\n%s", args, want, out)
			}
		}
	}
	if out := r.ok("ddos", "list"); !strings.Contains(out, "blackhole") {
		t.Errorf("ddos list while blackholed:\n%s", out)
	}
	if e := r.fail("ddos", "events", "203.0.113.1"); !strings.Contains(e, "not an EIP") {
		t.Errorf("events of no EIP: %s", e)
	}
	if e := r.fail("ddos", "events"); !strings.Contains(e, "--instance") {
		t.Errorf("events of nothing: %s", e)
	}
	if e := r.fail("ddos", "events", "--instance", "i-nothere"); !strings.Contains(e, "InvalidInstanceId.NotFound") {
		t.Errorf("events of no instance: %s", e)
	}
}

// The server's Anti-DDoS flags are checked before anything starts.
func TestDDoSServerFlags(t *testing.T) {
	r := &runner{t: t, vars: map[string]string{}}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--ddos-blackhole-mbps", "0"}, "--ddos-blackhole-mbps"},
		{[]string{"--ddos-blackhole-duration", "25h"}, "--ddos-blackhole-duration"},
		{[]string{"--ddos-blackhole-duration", "10m"}, "from 30m0s to 24h0m0s"},
		{[]string{"--ddos-time-scale", "-2"}, "time scale"},
		{[]string{"--ddos-blackhole-duration", "1500ms"}, "whole seconds"},
		{[]string{"--ddos-quiet", "0s"}, "--ddos-quiet"},
		{[]string{"--ddos-quiet", "2h"}, "--ddos-quiet"},
	} {
		for _, cmd := range []string{"server", "up"} {
			args := append([]string{cmd, "--data-dir", t.TempDir() + "/d", "--listen", "127.0.0.1:0"}, tc.args...)
			if e := r.fail(args...); !strings.Contains(e, tc.want) {
				t.Errorf("%v: %s", args, e)
			}
		}
	}
	help := r.ok("server", "--help")
	for _, want := range []string{"--ddos-blackhole-mbps int", "(default 5000)", "--ddos-blackhole-duration duration", "(default 2h30m0s)", "--ddos-quiet duration", "(default 1m0s)", "Anti-DDoS Basic"} {
		if !strings.Contains(help, want) {
			t.Errorf("server --help lacks %q", want)
		}
	}
}
