package cli

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/palisade-project/palisade/internal/app"
	"github.com/palisade-project/palisade/internal/app/tlstest"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/remote"
	"github.com/palisade-project/palisade/internal/store"
)

// TestAgentOverHTTPS: "palisade agent --server https://... --ca-cert"
// builds a client that registers the zone and mirrors DescribeState over
// TLS (the kernel side is replaced: it needs root and is tested in
// test/kernel); without the CA it fails on the certificate.
func TestAgentOverHTTPS(t *testing.T) {
	srv := tlstest.Start(t, nil)
	var synced int64 = -1
	saved := runAgent
	t.Cleanup(func() { runAgent = saved })
	runAgent = func(ctx context.Context, client remote.Caller, zone, tag string, logger *slog.Logger, _ ...app.AgentOption) error {
		m := remote.New(client, zone, logger)
		if err := m.Heartbeat(ctx); err != nil {
			return err
		}
		rev, err := m.Sync(ctx)
		synced = rev
		return err
	}
	vars := map[string]string{EnvAccessKeyID: srv.AccessKeyID, EnvAccessSecret: srv.AccessKeySecret}
	run := func(args ...string) (int, string) {
		var errb bytes.Buffer
		code := Execute(context.Background(), Env{Stderr: &errb, Getenv: func(k string) string { return vars[k] }}, args)
		return code, errb.String()
	}

	if code, errOut := run("agent", "--server", srv.Endpoint, "--ca-cert", srv.Pair.CertFile, "--zone", "local-b"); code != 0 {
		t.Fatalf("agent over https: exit %d: %s", code, errOut)
	}
	if synced < 0 {
		t.Fatal("the agent did not sync")
	}
	// The heartbeat went through: the server knows the zone.
	var found bool
	err := srv.App.Service().Store().View(context.Background(), func(tx store.ReadTxn) error {
		_, ok, err := tx.Get(model.PrefixZoneStatus + "local-b")
		found = ok
		return err
	})
	if err != nil || !found {
		t.Errorf("zone local-b not registered on the server (err %v)", err)
	}

	code, errOut := run("agent", "--server", srv.Endpoint, "--zone", "local-c")
	if code == 0 || !strings.Contains(errOut, "certificate signed by unknown authority") || !strings.Contains(errOut, "--ca-cert") {
		t.Errorf("agent without the CA: exit %d, stderr %q; want a certificate error", code, errOut)
	}
}
