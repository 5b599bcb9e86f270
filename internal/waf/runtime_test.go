package waf

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/waf/wafrule"
)

func selfSigned(t *testing.T) (certPEM, keyPEM string) { return selfSignedCN(t, "waf.test") }

func selfSignedCN(t *testing.T, cn string) (certPEM, keyPEM string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn}, DNSNames: []string{"waf.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}))
}

// TestRuntimeTLS: the runtime terminates TLS with the object's certificate,
// applies a rule change in place and stops removed objects.
func TestRuntimeTLS(t *testing.T) {
	up := upstream(t)
	cert, key := selfSigned(t)
	sink := &memSink{}
	rt := NewRuntime(sink, nil)
	rt.Cache = testCache
	defer rt.Close()
	oc := wafrule.ObjectConfig{ID: "waf-tls", Listen: "127.0.0.1:0", Upstream: strings.TrimPrefix(up.URL, "http://"), TLSCert: cert, TLSKey: key,
		Profile: wafrule.ProfileConfig{Action: "block", ParanoiaLevel: 1},
		Rules:   []wafrule.RuleConfig{{ID: "r1", Kind: wafrule.KindCustom, Conditions: "path prefix /a", Action: "block"}}}
	if err := rt.Apply([]wafrule.ObjectConfig{oc}); err != nil {
		t.Fatal(err)
	}
	addr := rt.Addr("waf-tls").String()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, ServerName: "waf.test"}}}
	wantCN := "waf.test"
	get := func(path string) int {
		resp, err := client.Get("https://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.TLS == nil || resp.TLS.PeerCertificates[0].Subject.CommonName != wantCN {
			t.Errorf("not served with the object's certificate %s", wantCN)
		}
		return resp.StatusCode
	}
	if s := get("/x"); s != 200 {
		t.Errorf("clean over TLS: %d", s)
	}
	if s := get("/a"); s != 405 {
		t.Errorf("rule over TLS: %d", s)
	}
	oc.Rules[0].Conditions = "path prefix /b"
	if err := rt.Apply([]wafrule.ObjectConfig{oc}); err != nil {
		t.Fatal(err)
	}
	if rt.Addr("waf-tls").String() != addr {
		t.Errorf("a rule change restarted the listener")
	}
	if a, b := get("/a"), get("/b"); a != 200 || b != 405 {
		t.Errorf("after reload /a %d /b %d", a, b)
	}
	// New upstream and a rotated certificate: swapped in place too.
	up2 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "second") }))
	defer up2.Close()
	oc.Upstream = strings.TrimPrefix(up2.URL, "http://")
	oc.TLSCert, oc.TLSKey = selfSignedCN(t, "rotated")
	if err := rt.Apply([]wafrule.ObjectConfig{oc}); err != nil {
		t.Fatal(err)
	}
	if s := get("/x"); s != 200 { // an open connection keeps working with the old certificate
		t.Errorf("open connection after rotation: %d", s)
	}
	client.CloseIdleConnections()
	wantCN = "rotated"
	if get("/x"); rt.Addr("waf-tls").String() != addr {
		t.Errorf("an upstream or certificate change restarted the listener")
	}
	resp, err := client.Get("https://" + addr + "/x")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "second" {
		t.Errorf("new upstream not in force: %q", b)
	}
	if err := rt.Apply(nil); err != nil {
		t.Fatal(err)
	}
	if rt.Addr("waf-tls") != nil {
		t.Error("removed object still running")
	}
	if _, err := client.Get("https://" + addr + "/x"); err == nil {
		t.Error("listener of a removed object still answers")
	}
	bad := oc
	bad.Rules = []wafrule.RuleConfig{{ID: "r", Kind: "nope"}}
	if err := rt.Apply([]wafrule.ObjectConfig{bad}); err == nil {
		t.Error("bad rule kind applied")
	}
}

// TestNoAllocsModules: the module path (no CRS) allocates at most once per
// request (the rate-limit key of the client address).
func TestNoAllocsModules(t *testing.T) {
	c := mustCompile(t, Policy{ObjectID: "o",
		Whitelist:  []WhitelistRule{{ID: "w", Conditions: conds(t, "ip in-cidr 192.0.2.0/24")}},
		Blacklist:  []BlacklistEntry{{ID: "b", Prefix: mustPrefix("198.51.100.0/24")}},
		Custom:     []CustomRule{{ID: "c", Conditions: conds(t, "path prefix /admin && method equals post"), Action: wafrule.Block}},
		RateLimits: []RateLimit{{ID: "r", By: RateByIP, Interval: time.Second, Threshold: 1 << 30, BlockFor: time.Second, Action: wafrule.Block}},
	})
	st := NewState()
	r := mkReq(reqSpec{target: "/products?id=1"})
	ip, _ := clientAddr(r.RemoteAddr)
	req := ruleRequest(r, ip)
	if n := testing.AllocsPerRun(1000, func() { c.Evaluate(Input{HTTP: r, Req: req}, st, t0) }); n > 1 {
		t.Errorf("Evaluate allocates %v times per request, budget 1", n)
	}
}

// TestRuntimeHTTP2: a TLS object speaks HTTP/2 to clients that offer it
// (and HTTP/1.1 to those that do not); every stream is inspected, and
// concurrent streams of one connection go upstream on that client
// connection's own upstream connections, closed with it.
func TestRuntimeHTTP2(t *testing.T) {
	up := newConnLog(t)
	cert, key := selfSigned(t)
	rt := NewRuntime(nil, nil)
	rt.Cache = testCache
	rt.Transport = func(wafrule.ObjectConfig) http.RoundTripper { return PerClientConnection(NewTransport) }
	defer rt.Close()
	oc := wafrule.ObjectConfig{ID: "waf-h2", Listen: "127.0.0.1:0", Upstream: strings.TrimPrefix(up.srv.URL, "http://"), TLSCert: cert, TLSKey: key,
		Profile: wafrule.ProfileConfig{Action: "block", ParanoiaLevel: 1},
		Rules:   []wafrule.RuleConfig{{ID: "r1", Kind: wafrule.KindCustom, Conditions: "path prefix /a", Action: "block"}}}
	if err := rt.Apply([]wafrule.ObjectConfig{oc}); err != nil {
		t.Fatal(err)
	}
	base := "https://" + rt.Addr("waf-h2").String()
	tlsConf := &tls.Config{InsecureSkipVerify: true, ServerName: "waf.test"}
	h2 := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConf.Clone(), ForceAttemptHTTP2: true}}
	h1 := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConf.Clone()}}
	get := func(c *http.Client, path string) (int, int) {
		t.Helper()
		resp, err := c.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, resp.ProtoMajor
	}
	for _, tc := range []struct {
		c          *http.Client
		path       string
		code, prot int
	}{
		{h2, "/x", 200, 2},
		{h2, "/a", 405, 2},
		{h2, "/?id=" + url.QueryEscape("1' OR 1=1--"), 405, 2},
		{h1, "/x", 200, 1},
	} {
		if code, prot := get(tc.c, tc.path); code != tc.code || prot != tc.prot {
			t.Errorf("GET %s: %d over HTTP/%d, want %d over HTTP/%d", tc.path, code, prot, tc.code, tc.prot)
		}
	}
	// Concurrent streams of one HTTP/2 connection.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			resp, err := h2.Get(base + "/concurrent")
			if err != nil {
				t.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || resp.ProtoMajor != 2 {
				t.Errorf("concurrent stream: %d over HTTP/%d", resp.StatusCode, resp.ProtoMajor)
			}
		})
	}
	wg.Wait()
	h1.CloseIdleConnections()
	h2.CloseIdleConnections()
	up.mu.Lock()
	opened := append([]string(nil), up.opened...)
	up.mu.Unlock()
	for _, peer := range opened {
		up.waitClosed(t, peer)
	}
}
