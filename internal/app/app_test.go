package app_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/api"
	"github.com/palisade-project/palisade/internal/apitest"
	"github.com/palisade-project/palisade/internal/app"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestCredentialsFile(t *testing.T) {
	env := apitest.Start(t, apitest.WithBackend(app.BackendMemory))
	path := filepath.Join(env.DataDir, app.CredentialsFile)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s mode = %v, want 0600", path, fi.Mode().Perm())
	}
	di, err := os.Stat(env.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	if di.Mode().Perm() != 0o700 {
		t.Errorf("data dir mode = %v, want 0700", di.Mode().Perm())
	}
	c, err := app.ReadCredentials(env.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	if c.AccessKeyID != env.Admin.AccessKeyID || c.AccessKeySecret != env.Admin.Secret || c.AccessKeyID == "" {
		t.Errorf("credentials.json = %+v, admin %+v", c, env.Admin)
	}
	// The file's key works.
	if _, err := env.Common(t, apitest.Creds{AccessKeyID: c.AccessKeyID, Secret: c.AccessKeySecret}, api.VersionPalisade, "DescribeAccounts", nil); err != nil {
		t.Errorf("DescribeAccounts with the file's key: %v", err)
	}
	leftovers, _ := filepath.Glob(filepath.Join(env.DataDir, ".credentials-*"))
	if len(leftovers) != 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
}

func TestPresetRootKey(t *testing.T) {
	const id, secret = "LTAIpresetkey0000000001", "presetsecret000000000000000001"
	env := apitest.Start(t, apitest.WithBackend(app.BackendMemory), apitest.WithRootKey(id, secret))
	if env.Admin.AccessKeyID != id || env.Admin.Secret != secret {
		t.Fatalf("admin = %+v, want the preset pair", env.Admin)
	}
	if _, err := env.Common(t, env.Admin, api.VersionPalisade, "DescribeAccounts", nil); err != nil {
		t.Fatalf("preset key: %v", err)
	}
	c, _ := app.ReadCredentials(env.DataDir)
	if c.AccessKeyID != id || c.AccessKeySecret != secret {
		t.Errorf("credentials.json = %+v", c)
	}

	bob := env.NewAccount(t, "bob")

	// A different preset on a later start becomes the root key of the same
	// admin account and revokes the previous root key.
	svc := env.App.Service()
	ctx := context.Background()
	acct, key, created, err := svc.EnsureAdmin(ctx, "LTAIsecondpreset00000001", "secondsecret", "")
	if err != nil || created || acct.ID != env.Admin.AccountID || key.ID != "LTAIsecondpreset00000001" {
		t.Fatalf("second preset: %+v %+v created=%v err=%v", acct, key, created, err)
	}
	second := apitest.Creds{AccessKeyID: key.ID, Secret: key.Secret}
	if _, err := env.Common(t, second, api.VersionPalisade, "DescribeAccounts", nil); err != nil {
		t.Errorf("second preset key: %v", err)
	}
	if _, err := env.Common(t, env.Admin, api.VersionPalisade, "DescribeAccounts", nil); err == nil {
		t.Errorf("previous root key %s still accepted after the second preset", env.Admin.AccessKeyID)
	}
	// A changed secret for the same ID replaces the old one.
	if _, _, _, err := svc.EnsureAdmin(ctx, second.AccessKeyID, "rotated", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Common(t, second, api.VersionPalisade, "DescribeAccounts", nil); err == nil {
		t.Errorf("old secret still accepted after rotation")
	}
	// A revoked key ID cannot come back as a preset.
	if _, _, _, err := svc.EnsureAdmin(ctx, id, secret, ""); err == nil {
		t.Errorf("EnsureAdmin took a revoked key back")
	}
	// A preset key ID that belongs to another account is refused.
	if _, _, _, err := svc.EnsureAdmin(ctx, bob.AccessKeyID, "x", ""); err == nil {
		t.Errorf("EnsureAdmin took over bob's key")
	}
}

func TestNewRejectsHalfPreset(t *testing.T) {
	_, err := app.New(app.Options{Listen: "127.0.0.1:0", DataDir: t.TempDir(), Backend: app.BackendMemory, RootAccessKeyID: "LTAIonlyid", Logger: quiet})
	if err == nil {
		t.Fatal("New accepted an ID without a secret")
	}
	_, err = app.New(app.Options{Listen: "127.0.0.1:0", DataDir: t.TempDir(), Backend: "etcd?", Logger: quiet})
	if err == nil {
		t.Fatal("New accepted an unknown backend")
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	a, err := app.New(app.Options{Listen: "127.0.0.1:0", DataDir: t.TempDir(), Backend: app.BackendMemory, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if _, port, _ := net.SplitHostPort(a.Addr()); port == "0" || port == "" {
		t.Fatalf("Addr() = %q, want the real port", a.Addr())
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx) }()
	// Wait until it accepts connections.
	deadline := time.Now().Add(5 * time.Second)
	for {
		conn, err := net.Dial("tcp", a.Addr())
		if err == nil {
			conn.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("server never accepted: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve after cancel: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
	if conn, err := net.Dial("tcp", a.Addr()); err == nil {
		conn.Close()
		t.Error("still accepting after shutdown")
	}
	if err := a.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		t.Errorf("second Close: %v", err)
	}
}

func TestRootKeyFromEnv(t *testing.T) {
	env := map[string]string{app.EnvRootKeyID: "LTAIx", app.EnvRootKeySecret: "y"}
	id, secret := app.RootKeyFromEnv(func(k string) string { return env[k] })
	if id != "LTAIx" || secret != "y" {
		t.Errorf("RootKeyFromEnv = %q %q", id, secret)
	}
}
