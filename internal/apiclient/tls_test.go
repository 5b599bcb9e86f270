package apiclient_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/apiclient"
	"github.com/palisade-project/palisade/internal/app/tlstest"
)

// TestCallHTTPS: an https endpoint with the server's CA (here its
// self-signed certificate) works, concurrently too (each SDK client has a
// transport of its own).
func TestCallHTTPS(t *testing.T) {
	srv := tlstest.Start(t, nil)
	cl, err := apiclient.New(apiclient.Options{Endpoint: srv.Endpoint, AccessKeyID: srv.AccessKeyID, AccessKeySecret: srv.AccessKeySecret,
		CAFile: srv.Pair.CertFile})
	if err != nil {
		t.Fatal(err)
	}
	if cl.Scheme() != "HTTPS" {
		t.Fatalf("scheme %s, want HTTPS", cl.Scheme())
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			out, err := cl.Call(context.Background(), apiclient.VersionPalisade, "DescribeAccounts", nil)
			if err != nil {
				t.Errorf("DescribeAccounts over https: %v", err)
				return
			}
			if out["RequestId"] == nil {
				t.Errorf("DescribeAccounts over https: %v", out)
			}
		})
	}
	wg.Wait()
}

// TestCallHTTPSUntrusted: without the server's CA (system roots), or with
// another CA, the call fails on the certificate: no fallback, no answer.
func TestCallHTTPSUntrusted(t *testing.T) {
	srv := tlstest.Start(t, nil)
	other := tlstest.SelfSigned(t, t.TempDir(), "other")
	for name, ca := range map[string]string{"system roots": "", "another CA": other.CertFile} {
		t.Run(name, func(t *testing.T) {
			cl, err := apiclient.New(apiclient.Options{Endpoint: srv.Endpoint, AccessKeyID: srv.AccessKeyID, AccessKeySecret: srv.AccessKeySecret,
				CAFile: ca, Timeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			_, err = cl.Call(context.Background(), apiclient.VersionPalisade, "DescribeAccounts", nil)
			var unknown x509.UnknownAuthorityError
			var verr *tls.CertificateVerificationError
			if !errors.As(err, &unknown) || !errors.As(err, &verr) {
				t.Fatalf("err = %v (%T), want a certificate verification error", err, err)
			}
			var ae *apiclient.APIError
			if errors.As(err, &ae) {
				t.Errorf("got an API answer: %v", ae)
			}
		})
	}
}

// TestPlainHTTPToTLS: an http endpoint aimed at the TLS listener fails;
// the request never reaches the API.
func TestPlainHTTPToTLS(t *testing.T) {
	srv := tlstest.Start(t, nil)
	ep := strings.Replace(srv.Endpoint, "https://", "http://", 1)
	cl, err := apiclient.New(apiclient.Options{Endpoint: ep, AccessKeyID: srv.AccessKeyID, AccessKeySecret: srv.AccessKeySecret, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	out, err := cl.Call(context.Background(), apiclient.VersionPalisade, "DescribeAccounts", nil)
	if err == nil {
		t.Fatalf("plain HTTP to the TLS listener answered %v", out)
	}
	var ae *apiclient.APIError
	if errors.As(err, &ae) && (ae.RequestID != "" || ae.HTTPStatus != 400) {
		t.Errorf("plain HTTP reached the API: %+v", ae)
	}
}

// TestCAFileChecked: a CA file with a plain-HTTP endpoint, a missing file
// and a file without a PEM certificate are refused by New.
func TestCAFileChecked(t *testing.T) {
	dir := t.TempDir()
	pair := tlstest.SelfSigned(t, dir, "ca")
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ endpoint, ca, want string }{
		{"127.0.0.1:8787", pair.CertFile, "plain HTTP"},
		{"http://127.0.0.1:8787", pair.CertFile, "plain HTTP"},
		{"https://127.0.0.1:8787", filepath.Join(dir, "missing.pem"), "no such file"},
		{"https://127.0.0.1:8787", notPEM, "no PEM certificate"},
		{"https://127.0.0.1:8787", pair.KeyFile, "no PEM certificate"},
	} {
		_, err := apiclient.New(apiclient.Options{Endpoint: tc.endpoint, AccessKeyID: "a", AccessKeySecret: "b", CAFile: tc.ca})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%s, CA %s) = %v, want an error with %q", tc.endpoint, filepath.Base(tc.ca), err, tc.want)
		}
	}
	if _, err := apiclient.New(apiclient.Options{Endpoint: "https://127.0.0.1:8787", AccessKeyID: "a", AccessKeySecret: "b", CAFile: pair.CertFile}); err != nil {
		t.Errorf("New with a CA: %v", err)
	}
}
