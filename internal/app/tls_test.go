package app_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/app"
	"github.com/palisade-project/palisade/internal/app/tlstest"
)

func trusting(certs ...*x509.Certificate) *x509.CertPool {
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool
}

// peerCert completes a TLS handshake with addr and returns the server's
// certificate.
func peerCert(t *testing.T, addr string, conf *tls.Config) (*x509.Certificate, error) {
	t.Helper()
	d := &net.Dialer{Timeout: 5 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", addr, conf)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0], nil
}

// TestTLSListener: with a certificate and key the API serves TLS only:
// TLS 1.2 and 1.3 handshakes succeed with the certificate, TLS 1.1 is
// refused, and a plain-HTTP request gets no API answer.
func TestTLSListener(t *testing.T) {
	srv := tlstest.Start(t, nil)
	addr := srv.App.Addr()
	roots := trusting(srv.Pair.Cert)

	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		got, err := peerCert(t, addr, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", MinVersion: v, MaxVersion: v})
		if err != nil {
			t.Fatalf("TLS %s handshake: %v", tls.VersionName(v), err)
		}
		if !got.Equal(srv.Pair.Cert) {
			t.Errorf("TLS %s: server presented %s, want the configured certificate", tls.VersionName(v), got.Subject)
		}
	}
	if _, err := peerCert(t, addr, &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}); err == nil {
		t.Error("TLS 1.1 handshake accepted, want TLS 1.2 at least")
	}

	// Plain HTTP to the TLS port: Go's server answers 400 without running
	// the API (no JSON, no RequestId).
	resp, err := http.Post("http://"+addr+"/", "application/x-www-form-urlencoded",
		strings.NewReader("Action=DescribeAccounts&Version=2026-11-01&Format=JSON"))
	if err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || bytes.Contains(body, []byte("RequestId")) {
			t.Errorf("plain HTTP to the TLS listener: %d %q, want 400 from the TLS layer", resp.StatusCode, body)
		}
	}

	// HTTPS answers the API (an unsigned request is refused by the API,
	// in JSON: it got through TLS to the handler).
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	resp, err = hc.Post(srv.Endpoint+"/", "application/x-www-form-urlencoded", strings.NewReader("Action=DescribeAccounts&Version=2026-11-01&Format=JSON"))
	if err != nil {
		t.Fatalf("https: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Contains(body, []byte("RequestId")) {
		t.Errorf("https: %d %q, want an API answer", resp.StatusCode, body)
	}
}

// TestTLSOptionsChecked: a certificate without a key, a missing file or a
// key that does not match the certificate fails the start.
func TestTLSOptionsChecked(t *testing.T) {
	dir := t.TempDir()
	a := tlstest.SelfSigned(t, dir, "a")
	b := tlstest.SelfSigned(t, dir, "b")
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, files := range map[string][2]string{
		"cert only":  {a.CertFile, ""},
		"key only":   {"", a.KeyFile},
		"missing":    {filepath.Join(dir, "nope.pem"), a.KeyFile},
		"mismatched": {a.CertFile, b.KeyFile},
		"not PEM":    {a.CertFile, garbage},
	} {
		t.Run(name, func(t *testing.T) {
			ap, err := app.New(app.Options{Listen: "127.0.0.1:0", DataDir: filepath.Join(t.TempDir(), "data"), Backend: app.BackendMemory, Logger: quiet,
				TLSCertFile: files[0], TLSKeyFile: files[1]})
			if err == nil {
				ap.Close()
				t.Fatal("started")
			}
		})
	}
}

// TestTLSReload: a renewed pair written over the files is served without
// a restart; a broken one leaves the previous pair in service.
func TestTLSReload(t *testing.T) {
	var logs syncBuffer
	srv := tlstest.Start(t, slog.New(slog.NewTextHandler(&logs, nil)))
	addr := srv.App.Addr()
	old := srv.Pair
	renewed := tlstest.SelfSigned(t, filepath.Dir(old.CertFile), "server") // same files
	conf := &tls.Config{RootCAs: trusting(old.Cert, renewed.Cert)}

	waitFor := func(want *x509.Certificate) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			got, err := peerCert(t, addr, conf)
			if err != nil {
				t.Fatal(err)
			}
			if got.Equal(want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("server still presents serial %s, want %s", got.SerialNumber, want.SerialNumber)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitFor(renewed.Cert)

	// A key that is not the certificate's: logged, the renewed pair stays.
	other := tlstest.SelfSigned(t, t.TempDir(), "other")
	k, err := os.ReadFile(other.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(renewed.KeyFile, k, 0o600); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), "does not load") {
		if time.Now().After(deadline) {
			t.Fatalf("no warning about the broken pair; logs:\n%s", logs.String())
		}
		if _, err := peerCert(t, addr, conf); err != nil {
			t.Fatalf("handshake with a broken renewal: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	waitFor(renewed.Cert)
}

// TestCleartextWarning: plain HTTP on a non-loopback address is logged as
// a warning; loopback, or TLS, is not.
func TestCleartextWarning(t *testing.T) {
	pair := tlstest.SelfSigned(t, t.TempDir(), "s")
	for _, tc := range []struct {
		name, listen string
		tls, warn    bool
	}{
		{"loopback", "127.0.0.1:0", false, false},
		{"any address", "0.0.0.0:0", false, true},
		{"any address with TLS", "0.0.0.0:0", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs syncBuffer
			o := app.Options{Listen: tc.listen, DataDir: filepath.Join(t.TempDir(), "data"), Backend: app.BackendMemory,
				Logger: slog.New(slog.NewTextHandler(&logs, nil))}
			if tc.tls {
				o.TLSCertFile, o.TLSKeyFile = pair.CertFile, pair.KeyFile
			}
			a, err := app.New(o)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			cancel() // Serve logs, then stops at once
			if err := a.Serve(ctx); err != nil {
				t.Fatal(err)
			}
			warned := strings.Contains(logs.String(), "without TLS")
			if warned != tc.warn {
				t.Errorf("warned = %v, want %v; logs:\n%s", warned, tc.warn, logs.String())
			}
			if want := "tls=" + map[bool]string{true: "true", false: "false"}[tc.tls]; !strings.Contains(logs.String(), want) {
				t.Errorf("listening line without %s; logs:\n%s", want, logs.String())
			}
		})
	}
}
