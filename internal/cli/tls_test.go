package cli_test

import (
	"bytes"
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/app/tlstest"
	"github.com/palisade-project/palisade/internal/cli"
)

func httpsRunner(t *testing.T, srv *tlstest.Server) *runner {
	return &runner{t: t, vars: map[string]string{
		cli.EnvEndpoint:     srv.Endpoint,
		cli.EnvAccessKeyID:  srv.AccessKeyID,
		cli.EnvAccessSecret: srv.AccessKeySecret,
	}}
}

// TestCACert: the client commands reach an https endpoint whose
// certificate chains to --ca-cert (or PALISADE_CA_CERT); without it they
// fail on the certificate, saying what to do.
func TestCACert(t *testing.T) {
	srv := tlstest.Start(t, nil)
	r := httpsRunner(t, srv)

	out := r.ok("account", "list", "--ca-cert", srv.Pair.CertFile)
	if !strings.Contains(out, "admin") {
		t.Errorf("account list over https: %q", out)
	}

	errOut := r.fail("account", "list")
	for _, want := range []string{"certificate signed by unknown authority", "--ca-cert", cli.EnvCACert} {
		if !strings.Contains(errOut, want) {
			t.Errorf("without the CA: stderr %q, want %q", errOut, want)
		}
	}

	r.vars[cli.EnvCACert] = srv.Pair.CertFile
	r.ok("account", "list")

	// A CA file with a plain-HTTP endpoint is a mistake, not a downgrade.
	errOut = r.fail("account", "list", "--endpoint", srv.App.Addr())
	if !strings.Contains(errOut, "plain HTTP") {
		t.Errorf("CA with a plain-HTTP endpoint: stderr %q", errOut)
	}
}

// TestServerCommandTLS runs "palisade server --tls-cert --tls-key": the
// API answers the CLI over https with --ca-cert, and not over plain HTTP.
func TestServerCommandTLS(t *testing.T) {
	dir := t.TempDir()
	pair := tlstest.SelfSigned(t, dir, "server")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dataDir := filepath.Join(dir, "data")

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var serverErr bytes.Buffer
	go func() {
		done <- cli.Execute(ctx, cli.Env{Stderr: &serverErr}, []string{"server", "--listen", addr, "--data-dir", dataDir,
			"--tls-cert", pair.CertFile, "--tls-key", pair.KeyFile})
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("server exit %d", code)
		}
	})

	r := &runner{t: t, vars: map[string]string{}}
	args := []string{"account", "list", "--data-dir", dataDir, "--endpoint", "https://" + addr, "--ca-cert", pair.CertFile}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, errOut, code := r.run(args...)
		if code == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no answer over https: %s", errOut)
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.fail("account", "list", "--data-dir", dataDir, "--endpoint", "http://"+addr)
}

// TestTLSFlagsTogether: --tls-cert without --tls-key (or the reverse) is
// refused before anything starts.
func TestTLSFlagsTogether(t *testing.T) {
	r := &runner{t: t, vars: map[string]string{}}
	dataDir := filepath.Join(t.TempDir(), "data")
	for _, args := range [][]string{
		{"server", "--data-dir", dataDir, "--tls-cert", "c.pem"},
		{"server", "--data-dir", dataDir, "--tls-key", "k.pem"},
		{"up", "--data-dir", dataDir, "--tls-cert", "c.pem"},
	} {
		errOut := r.fail(args...)
		if !strings.Contains(errOut, "--tls-cert and --tls-key go together") {
			t.Errorf("palisade %s: stderr %q", strings.Join(args, " "), errOut)
		}
	}
}
