package apiclient_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/palisade-project/palisade/internal/apiclient"
	"github.com/palisade-project/palisade/internal/apitest"
)

func TestParseEndpoint(t *testing.T) {
	for _, tc := range []struct {
		in, scheme, domain string
	}{
		{"127.0.0.1:8787", "HTTP", "127.0.0.1:8787"},
		{"localhost:1", "HTTP", "localhost:1"},
		{"http://127.0.0.1:8787", "HTTP", "127.0.0.1:8787"},
		{"http://127.0.0.1:8787/", "HTTP", "127.0.0.1:8787"},
		{"HTTPS://example.com:8443", "HTTPS", "example.com:8443"},
		{"https://example.com", "HTTPS", "example.com:443"},
		{"example.com", "HTTP", "example.com:80"},
		{"[::1]:8787", "HTTP", "[::1]:8787"},
		{"http://[::1]:8787", "HTTP", "[::1]:8787"},
	} {
		scheme, domain, err := apiclient.ParseEndpoint(tc.in)
		if err != nil || scheme != tc.scheme || domain != tc.domain {
			t.Errorf("ParseEndpoint(%q) = %q, %q, %v; want %q, %q", tc.in, scheme, domain, err, tc.scheme, tc.domain)
		}
	}
	for _, bad := range []string{"", "ftp://x:1", "http://x:1/path", "http://", "x:1/y", "http://u@x:1"} {
		if _, _, err := apiclient.ParseEndpoint(bad); err == nil {
			t.Errorf("ParseEndpoint(%q) accepted", bad)
		}
	}
}

func newClient(t *testing.T, endpoint string, c apitest.Creds) *apiclient.Client {
	t.Helper()
	cl, err := apiclient.New(apiclient.Options{Endpoint: endpoint, AccessKeyID: c.AccessKeyID, AccessKeySecret: c.Secret})
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

func TestCall(t *testing.T) {
	env := apitest.Start(t)
	ctx := context.Background()
	for _, ep := range []string{env.Endpoint, "http://" + env.Endpoint} {
		cl := newClient(t, ep, env.Admin)
		out, err := cl.Call(ctx, apiclient.VersionPalisade, "DescribeAccounts", nil)
		if err != nil {
			t.Fatalf("%s: DescribeAccounts: %v", ep, err)
		}
		if out["RequestId"] == "" || out["Accounts"] == nil {
			t.Errorf("%s: DescribeAccounts: %v", ep, out)
		}
	}

	cl := newClient(t, env.Endpoint, env.Admin)
	_, err := cl.Call(ctx, apiclient.VersionECS, "DescribeSecurityGroupAttribute", map[string]string{"SecurityGroupId": "sg-nope"})
	var ae *apiclient.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("unknown group: got %T %v, want *APIError", err, err)
	}
	if ae.Code != "InvalidSecurityGroupId.NotFound" || ae.HTTPStatus != 404 || ae.Message == "" || ae.RequestID == "" {
		t.Errorf("unknown group: %+v", ae)
	}
	if got := ae.Error(); got != ae.Code+": "+ae.Message {
		t.Errorf("Error() = %q", got)
	}

	bad := newClient(t, env.Endpoint, apitest.Creds{AccessKeyID: env.Admin.AccessKeyID, Secret: "wrong"})
	_, err = bad.Call(ctx, apiclient.VersionPalisade, "DescribeAccounts", nil)
	if !errors.As(err, &ae) || ae.Code != "SignatureDoesNotMatch" {
		t.Errorf("wrong secret: %v", err)
	}

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := cl.Call(cctx, apiclient.VersionPalisade, "DescribeAccounts", nil); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
}

func TestCallTransportError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cl := newClient(t, addr, apitest.Creds{AccessKeyID: "id", Secret: "secret"})
	_, err = cl.Call(context.Background(), apiclient.VersionECS, "DescribeRegions", nil)
	var ae *apiclient.APIError
	if err == nil || errors.As(err, &ae) {
		t.Errorf("closed port: got %v, want a transport error", err)
	}
	// Said plainly, without the signed URL.
	if msg := fmt.Sprint(err); !strings.Contains(msg, "cannot reach Palisade at "+addr) || !strings.Contains(msg, "connection refused") ||
		strings.Contains(msg, "Signature") || strings.Contains(msg, "AccessKeyId") {
		t.Errorf("closed port: %q", msg)
	}
}

func TestNewValidates(t *testing.T) {
	if _, err := apiclient.New(apiclient.Options{Endpoint: "127.0.0.1:1"}); err == nil {
		t.Error("New accepted empty credentials")
	}
	if _, err := apiclient.New(apiclient.Options{Endpoint: "ftp://x", AccessKeyID: "a", AccessKeySecret: "b"}); err == nil {
		t.Error("New accepted a bad endpoint")
	}
}

// TestCallParamsInBody: the parameters travel in the form body, not the
// URL (a TLS private key must not reach the access log of a proxy in
// front of the API), and are signed there.
func TestCallParamsInBody(t *testing.T) {
	var mu sync.Mutex
	var gotQuery, gotBody string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		gotQuery, gotBody = r.URL.RawQuery, string(b)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"RequestId":"r"}`))
	}))
	defer srv.Close()
	cl := newClient(t, srv.URL, apitest.Creds{AccessKeyID: "id", Secret: "secret"})
	if _, err := cl.Call(context.Background(), apiclient.VersionPalisade, "CreateWafProtection", map[string]string{"TlsPrivateKey": "SECRET-KEY"}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Contains(gotQuery, "SECRET-KEY") || strings.Contains(gotQuery, "TlsPrivateKey") {
		t.Errorf("parameter in the URL: %s", gotQuery)
	}
	if !strings.Contains(gotBody, "TlsPrivateKey=SECRET-KEY") {
		t.Errorf("parameter not in the body: %q", gotBody)
	}

	// And the server takes it: signed, from the body.
	env := apitest.Start(t)
	out, err := newClient(t, env.Endpoint, env.Admin).Call(context.Background(), apiclient.VersionPalisade, "DescribeAccounts", map[string]string{"AccountId": env.Admin.AccountID})
	if err != nil || out["Accounts"] == nil {
		t.Errorf("DescribeAccounts with a body parameter: %v %v", out, err)
	}
}

// Every product's actions go through Call: the server dispatches on
// Version, whatever product the SDK's CommonRequest names.
func TestCallProducts(t *testing.T) {
	env := apitest.Start(t)
	cl := newClient(t, env.Endpoint, env.Admin)
	for _, tc := range []struct{ version, action, key string }{
		{apiclient.VersionECS, "DescribeRegions", "Regions"},
		{apiclient.VersionVPC, "DescribeVpcs", "Vpcs"},
		{apiclient.VersionPrivateLink, "ListVpcEndpoints", "Endpoints"},
		{apiclient.VersionCloudfw, "DescribeAddressBook", "Acls"},
		{apiclient.VersionPalisade, "DescribeAccounts", "Accounts"},
	} {
		out, err := cl.Call(context.Background(), tc.version, tc.action, nil)
		if err != nil || out[tc.key] == nil {
			t.Errorf("%s %s: %v %v", tc.version, tc.action, out, err)
		}
	}
}
