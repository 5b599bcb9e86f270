package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/palisade-project/palisade/internal/errs"
	"github.com/palisade-project/palisade/internal/model"
)

const (
	testKeyID  = "LTAItestkey000000000001"
	testSecret = "testsecret0000000000000000000"
	testAcct   = "1000000000000001"
)

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type testServer struct {
	*httptest.Server
	clock *fakeClock
	srv   *Server
	logs  *lockedBuffer // the server's log
}

// lockedBuffer is a bytes.Buffer safe for the server's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// newTestServer serves a router with "Echo" (returns the action, account,
// region and params it saw), "Fail" (a coded error), "Boom" (a plain error)
// and "Panic", all under VersionECS.
func newTestServer(t *testing.T) *testServer {
	t.Helper()
	rt := NewRouter()
	rt.Handle(VersionECS, "Echo", func(_ context.Context, r *Request) (any, error) {
		return map[string]any{"Action": r.Action, "Version": r.Version, "AccountId": r.Account.ID,
			"Region": r.RegionID, "Params": r.Params}, nil
	})
	rt.Handle(VersionECS, "Empty", func(context.Context, *Request) (any, error) { return struct{}{}, nil })
	rt.Handle(VersionECS, "Fail", func(context.Context, *Request) (any, error) {
		return nil, errs.NotFound("InvalidVpcId.NotFound", "The specified VpcId does not exist.")
	})
	rt.Handle(VersionECS, "Boom", func(context.Context, *Request) (any, error) {
		return nil, errors.New("disk on fire: secret detail")
	})
	rt.Handle(VersionECS, "Panic", func(context.Context, *Request) (any, error) { panic("boom") })
	rt.Handle(VersionECS, "NotObject", func(context.Context, *Request) (any, error) { return []int{1}, nil })
	clock := &fakeClock{t: time.Date(2026, 11, 25, 6, 0, 0, 0, time.UTC)}
	keys := func(_ context.Context, id string) (model.AccessKey, model.Account, error) {
		if id != testKeyID {
			return model.AccessKey{}, model.Account{}, errs.NotFound("InvalidAccessKeyId.NotFound", "Specified access key is not found.")
		}
		return model.AccessKey{ID: id, Secret: testSecret, AccountID: testAcct}, model.Account{ID: testAcct}, nil
	}
	logs := &lockedBuffer{}
	s := NewServer(ServerOptions{Router: rt, Keys: keys, Region: "local", Now: clock.Now,
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	return &testServer{Server: hs, clock: clock, srv: s, logs: logs}
}

var nonceSeq struct {
	mu sync.Mutex
	n  int
}

func nextNonce() string {
	nonceSeq.mu.Lock()
	defer nonceSeq.mu.Unlock()
	nonceSeq.n++
	return fmt.Sprintf("nonce-%d-%d", time.Now().UnixNano(), nonceSeq.n)
}

// v1Params returns the common parameters of a V1 SDK call at now.
func v1Params(action string, now time.Time, extra map[string]string) map[string]string {
	p := map[string]string{
		"Action": action, "Version": VersionECS, "Format": "JSON", "AccessKeyId": testKeyID,
		"SignatureMethod": "HMAC-SHA1", "SignatureVersion": "1.0", "SignatureType": "",
		"SignatureNonce": nextNonce(), "Timestamp": now.UTC().Format("2006-01-02T15:04:05Z"),
		"RegionId": "local",
	}
	for k, v := range extra {
		p[k] = v
	}
	return p
}

func sign(method string, p map[string]string, secret string) {
	p["Signature"] = SignV1(secret, StringToSignV1(method, p))
}

func encode(p map[string]string) string {
	v := url.Values{}
	for k, s := range p {
		v.Set(k, s)
	}
	return v.Encode()
}

type result struct {
	status int
	body   map[string]any
	raw    string
}

func (ts *testServer) do(t *testing.T, req *http.Request) result {
	t.Helper()
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatalf("response is not a JSON object: %v: %s", err, raw)
	}
	return result{resp.StatusCode, body, string(raw)}
}

// call sends p in the query (as the V1 SDK does).
func (ts *testServer) call(t *testing.T, method string, p map[string]string) result {
	t.Helper()
	req, err := http.NewRequest(method, ts.URL+"/?"+encode(p), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return ts.do(t, req)
}

// checkError asserts status and code and that the body is exactly the
// cloud's five string fields.
func checkError(t *testing.T, r result, status int, code string) {
	t.Helper()
	if r.status != status || r.body["Code"] != code {
		t.Fatalf("got %d %v, want %d %s: %s", r.status, r.body["Code"], status, code, r.raw)
	}
	want := []string{"RequestId", "HostId", "Code", "Message", "Recommend"}
	if len(r.body) != len(want) {
		t.Errorf("error body has %d fields, want %d: %s", len(r.body), len(want), r.raw)
	}
	for _, f := range want {
		if _, ok := r.body[f].(string); !ok {
			t.Errorf("error field %s is %T, want string", f, r.body[f])
		}
	}
}

func TestV1GetAndPost(t *testing.T) {
	ts := newTestServer(t)
	for _, method := range []string{"GET", "POST"} {
		p := v1Params("Echo", ts.clock.Now(), map[string]string{"Name": "a b+c*~/é", "Tag.1.Key": "env"})
		sign(method, p, testSecret)
		r := ts.call(t, method, p)
		if r.status != 200 {
			t.Fatalf("%s: %d %s", method, r.status, r.raw)
		}
		params, _ := r.body["Params"].(map[string]any)
		if r.body["AccountId"] != testAcct || r.body["Action"] != "Echo" || params["Name"] != "a b+c*~/é" || r.body["Region"] != "local" {
			t.Errorf("%s: handler saw %s", method, r.raw)
		}
		if id, _ := r.body["RequestId"].(string); len(id) != 36 || strings.Count(id, "-") != 4 {
			t.Errorf("%s: RequestId %q is not UUID-like", method, id)
		}
	}
}

func TestV1FormBody(t *testing.T) {
	ts := newTestServer(t)
	p := v1Params("Echo", ts.clock.Now(), map[string]string{"InBody": "x y"})
	sign("POST", p, testSecret)
	body := url.Values{"InBody": {"x y"}}.Encode()
	delete(p, "InBody")
	req, _ := http.NewRequest("POST", ts.URL+"/?"+encode(p), strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r := ts.do(t, req)
	if params, _ := r.body["Params"].(map[string]any); r.status != 200 || params["InBody"] != "x y" {
		t.Fatalf("form body: %d %s", r.status, r.raw)
	}
}

func TestV1AuthErrors(t *testing.T) {
	ts := newTestServer(t)
	now := ts.clock.Now
	tests := []struct {
		name   string
		build  func() map[string]string
		status int
		code   string
	}{
		{"tampered param", func() map[string]string {
			p := v1Params("Echo", now(), map[string]string{"Name": "a"})
			sign("POST", p, testSecret)
			p["Name"] = "b"
			return p
		}, 400, "SignatureDoesNotMatch"},
		{"added param", func() map[string]string {
			p := v1Params("Echo", now(), nil)
			sign("POST", p, testSecret)
			p["Extra"] = "1"
			return p
		}, 400, "SignatureDoesNotMatch"},
		{"dropped empty SignatureType", func() map[string]string {
			p := v1Params("Echo", now(), nil)
			sign("POST", p, testSecret)
			delete(p, "SignatureType")
			return p
		}, 400, "SignatureDoesNotMatch"},
		{"signed for GET, sent as POST", func() map[string]string {
			p := v1Params("Echo", now(), nil)
			sign("GET", p, testSecret)
			return p
		}, 400, "SignatureDoesNotMatch"},
		{"wrong secret", func() map[string]string {
			p := v1Params("Echo", now(), nil)
			sign("POST", p, "not-the-secret")
			return p
		}, 400, "SignatureDoesNotMatch"},
		{"unknown key", func() map[string]string {
			p := v1Params("Echo", now(), map[string]string{"AccessKeyId": "LTAInobody"})
			sign("POST", p, testSecret)
			return p
		}, 404, "InvalidAccessKeyId.NotFound"},
		{"stale timestamp", func() map[string]string {
			p := v1Params("Echo", now().Add(-16*time.Minute), nil)
			sign("POST", p, testSecret)
			return p
		}, 400, "InvalidTimeStamp.Expired"},
		{"future timestamp", func() map[string]string {
			p := v1Params("Echo", now().Add(16*time.Minute), nil)
			sign("POST", p, testSecret)
			return p
		}, 400, "InvalidTimeStamp.Expired"},
		{"malformed timestamp", func() map[string]string {
			p := v1Params("Echo", now(), map[string]string{"Timestamp": "yesterday"})
			sign("POST", p, testSecret)
			return p
		}, 400, "InvalidTimeStamp.Format"},
		{"missing signature", func() map[string]string {
			return v1Params("Echo", now(), nil)
		}, 400, "IncompleteSignature"},
		{"missing access key", func() map[string]string {
			p := v1Params("Echo", now(), nil)
			delete(p, "AccessKeyId")
			sign("POST", p, testSecret)
			return p
		}, 400, "MissingParameter"},
		{"missing nonce", func() map[string]string {
			p := v1Params("Echo", now(), nil)
			delete(p, "SignatureNonce")
			sign("POST", p, testSecret)
			return p
		}, 400, "MissingParameter"},
		{"missing timestamp", func() map[string]string {
			p := v1Params("Echo", now(), nil)
			delete(p, "Timestamp")
			sign("POST", p, testSecret)
			return p
		}, 400, "MissingParameter"},
		{"other signature method", func() map[string]string {
			p := v1Params("Echo", now(), map[string]string{"SignatureMethod": "HMAC-SHA256"})
			sign("POST", p, testSecret)
			return p
		}, 400, "IncompleteSignature"},
		{"unknown action", func() map[string]string {
			p := v1Params("NoSuchAction", now(), nil)
			sign("POST", p, testSecret)
			return p
		}, 404, "InvalidAction.NotFound"},
		{"known action, other version", func() map[string]string {
			p := v1Params("Echo", now(), map[string]string{"Version": VersionVPC})
			sign("POST", p, testSecret)
			return p
		}, 404, "InvalidAction.NotFound"},
		{"other region", func() map[string]string {
			p := v1Params("Echo", now(), map[string]string{"RegionId": "cn-hangzhou"})
			sign("POST", p, testSecret)
			return p
		}, 400, "InvalidRegionId.NotFound"},
		{"xml", func() map[string]string {
			p := v1Params("Echo", now(), map[string]string{"Format": "XML"})
			sign("POST", p, testSecret)
			return p
		}, 400, "InvalidParameter.Format"},
		{"coded handler error", func() map[string]string {
			p := v1Params("Fail", now(), nil)
			sign("POST", p, testSecret)
			return p
		}, 404, "InvalidVpcId.NotFound"},
		{"plain handler error", func() map[string]string {
			p := v1Params("Boom", now(), nil)
			sign("POST", p, testSecret)
			return p
		}, 500, "InternalError"},
		{"handler panic", func() map[string]string {
			p := v1Params("Panic", now(), nil)
			sign("POST", p, testSecret)
			return p
		}, 500, "InternalError"},
		{"response not an object", func() map[string]string {
			p := v1Params("NotObject", now(), nil)
			sign("POST", p, testSecret)
			return p
		}, 500, "InternalError"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ts.call(t, "POST", tt.build())
			checkError(t, r, tt.status, tt.code)
			if tt.code == "SignatureDoesNotMatch" && !strings.Contains(r.body["Message"].(string), "server string to sign is:POST&%2F&") {
				t.Errorf("message lacks the string to sign: %s", r.body["Message"])
			}
			if tt.code == "InternalError" && strings.Contains(r.raw, "secret detail") {
				t.Errorf("internal error leaks its cause: %s", r.raw)
			}
		})
	}
}

func TestV1NonceReplay(t *testing.T) {
	ts := newTestServer(t)
	p := v1Params("Echo", ts.clock.Now(), nil)
	sign("POST", p, testSecret)
	if r := ts.call(t, "POST", p); r.status != 200 {
		t.Fatalf("first use: %d %s", r.status, r.raw)
	}
	checkError(t, ts.call(t, "POST", p), 400, "SignatureNonceUsed")

	// A request with a bad signature does not burn a nonce.
	q := v1Params("Echo", ts.clock.Now(), nil)
	sign("POST", q, "wrong")
	checkError(t, ts.call(t, "POST", q), 400, "SignatureDoesNotMatch")
	sign("POST", q, testSecret)
	if r := ts.call(t, "POST", q); r.status != 200 {
		t.Fatalf("nonce burnt by a failed request: %d %s", r.status, r.raw)
	}
}

func TestNonceCacheExpires(t *testing.T) {
	n := newNonceCache(time.Minute)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 1000 {
		if err := n.use(fmt.Sprint(i), t0.Add(time.Duration(i)*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.use("5", t0.Add(30*time.Second)); !errs.HasCode(err, "SignatureNonceUsed") {
		t.Fatalf("replay within ttl: %v", err)
	}
	if err := n.use("new", t0.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got := n.size(); got != 1 {
		t.Errorf("after expiry %d nonces remain, want 1", got)
	}
	if len(n.order)-n.head != 1 {
		t.Errorf("order keeps %d live entries, want 1", len(n.order)-n.head)
	}
	if err := n.use("5", t0.Add(2*time.Minute)); err != nil {
		t.Errorf("expired nonce still refused: %v", err)
	}
}

// TestFailedAuthLogged: a refused signature is logged with the access key
// ID and the client's address (an audit trail of a key's misuse), never
// with the secret or the signature.
func TestFailedAuthLogged(t *testing.T) {
	ts := newTestServer(t)
	p := v1Params("Echo", ts.clock.Now(), nil)
	sign("POST", p, "wrong-secret")
	checkError(t, ts.call(t, "POST", p), 400, "SignatureDoesNotMatch")
	var line string
	for _, l := range strings.Split(ts.logs.String(), "\n") {
		if strings.Contains(l, "SignatureDoesNotMatch") {
			line = l
		}
	}
	if !strings.Contains(line, "access_key_id="+testKeyID) || !strings.Contains(line, "client=127.0.0.1:") {
		t.Errorf("log line of a refused signature lacks the key ID or the client: %q", line)
	}
	for _, secret := range []string{testSecret, "wrong-secret", p["Signature"]} {
		if strings.Contains(ts.logs.String(), secret) {
			t.Errorf("the log holds %q:\n%s", secret, ts.logs.String())
		}
	}
}

// TestLongMessageTruncated: an error message quotes the offending value;
// a huge value is not sent back whole.
func TestLongMessageTruncated(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int // length of the result at most
	}{
		{"short", 5},
		{strings.Repeat("x", maxMessage), maxMessage},
		{strings.Repeat("é", 3000), maxMessage + 64},
		{strings.Repeat("y", 3<<20), maxMessage + 64},
	} {
		got := truncateMessage(tc.in)
		if len(got) > tc.want || !utf8.ValidString(got) || (len(tc.in) <= maxMessage) != (got == tc.in) {
			t.Errorf("truncateMessage(%d bytes) = %d bytes, valid UTF-8 %v", len(tc.in), len(got), utf8.ValidString(got))
		}
	}
}

// TestNonceLength: a nonce is remembered for the replay window, so its
// length is bounded (the SDKs send 32 hex characters or a UUID).
func TestNonceLength(t *testing.T) {
	ts := newTestServer(t)
	ok := v1Params("Echo", ts.clock.Now(), nil)
	ok["SignatureNonce"] = strings.Repeat("a", 128)
	sign("POST", ok, testSecret)
	if r := ts.call(t, "POST", ok); r.status != 200 {
		t.Errorf("128-character nonce: %d %s", r.status, r.raw)
	}
	long := v1Params("Echo", ts.clock.Now(), nil)
	long["SignatureNonce"] = strings.Repeat("b", 1<<20)
	sign("POST", long, testSecret)
	req, _ := http.NewRequest("POST", ts.URL+"/", strings.NewReader(encode(long)))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	checkError(t, ts.do(t, req), 400, "InvalidParameter")
}

// TestHeaderFallbackUnsignedV1: a V1 request names its action in its
// signed parameters (the SDK always does, and sends the x-acs-action and
// x-acs-version headers besides). Taken from the headers, which V1 does
// not sign, the action of a signed request could be swapped in flight
// (security QA: a request signed with no Action ran CreateAccount).
func TestHeaderFallbackUnsignedV1(t *testing.T) {
	ts := newTestServer(t)
	for _, drop := range []string{"Action", "Version"} {
		p := v1Params("Echo", ts.clock.Now(), nil)
		delete(p, drop)
		sign("POST", p, testSecret)
		req, _ := http.NewRequest("POST", ts.URL+"/?"+encode(p), nil)
		req.Header.Set("x-acs-action", "Echo")
		req.Header.Set("x-acs-version", VersionECS)
		r := ts.do(t, req)
		checkError(t, r, 400, "MissingParameter")
		if !strings.Contains(r.raw, drop) {
			t.Errorf("without %s: %s", drop, r.raw)
		}
	}
}

func TestRequestShape(t *testing.T) {
	ts := newTestServer(t)
	p := v1Params("Empty", ts.clock.Now(), nil)
	sign("POST", p, testSecret)
	r := ts.call(t, "POST", p)
	if r.status != 200 || len(r.body) != 1 || r.body["RequestId"] == "" {
		t.Errorf("empty response: %d %s", r.status, r.raw)
	}

	req, _ := http.NewRequest("PUT", ts.URL+"/", nil)
	checkError(t, ts.do(t, req), 405, "UnsupportedHTTPMethod")
	req, _ = http.NewRequest("GET", ts.URL+"/other?Action=Echo", nil)
	checkError(t, ts.do(t, req), 404, "InvalidAction.NotFound")

	dup := v1Params("Echo", ts.clock.Now(), nil)
	sign("POST", dup, testSecret)
	req, _ = http.NewRequest("POST", ts.URL+"/?"+encode(dup)+"&Action=Echo", nil)
	checkError(t, ts.do(t, req), 400, "InvalidParameter")
}

func TestWithRequestID(t *testing.T) {
	tests := []struct {
		in   any
		want string
	}{
		{nil, `{"RequestId":"R"}`},
		{struct{}{}, `{"RequestId":"R"}`},
		{map[string]int{"A": 1}, `{"RequestId":"R","A":1}`},
		{struct{ VpcId string }{"vpc-1"}, `{"RequestId":"R","VpcId":"vpc-1"}`},
	}
	for _, tt := range tests {
		got, err := withRequestID(tt.in, "R")
		if err != nil || string(got) != tt.want {
			t.Errorf("withRequestID(%v) = %s, %v; want %s", tt.in, got, err, tt.want)
		}
	}
	if _, err := withRequestID("str", "R"); err == nil {
		t.Error("a string response was accepted")
	}
}

// acs3Request builds a request signed as the V2 SDK signs it.
func (ts *testServer) acs3Request(t *testing.T, action string, query map[string]string, body []byte, secret string, at time.Time, mutate func(*http.Request)) *http.Request {
	t.Helper()
	v := url.Values{}
	for k, s := range query {
		v.Set(k, s)
	}
	req, err := http.NewRequest("POST", ts.URL+"/?"+v.Encode(), bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("x-acs-action", action)
	req.Header.Set("x-acs-version", VersionECS)
	req.Header.Set("x-acs-date", at.UTC().Format("2006-01-02T15:04:05Z"))
	req.Header.Set("x-acs-signature-nonce", nextNonce())
	req.Header.Set("x-acs-content-sha256", HashPayload(body))
	if len(body) > 0 {
		req.Header.Set("content-type", "application/x-www-form-urlencoded")
	}
	signed := []string{"host", "x-acs-action", "x-acs-content-sha256", "x-acs-date", "x-acs-signature-nonce", "x-acs-version"}
	if len(body) > 0 {
		signed = append(signed, "content-type")
	}
	host := strings.TrimPrefix(ts.URL, "http://")
	sts := StringToSignACS3("POST", "/", query, host, req.Header, signed, HashPayload(body))
	req.Header.Set("Authorization", fmt.Sprintf("%s Credential=%s,SignedHeaders=%s,Signature=%s",
		AlgoACS3, testKeyID, strings.Join(signed, ";"), SignACS3(secret, sts)))
	if mutate != nil {
		mutate(req)
	}
	return req
}

func TestACS3(t *testing.T) {
	ts := newTestServer(t)
	now := ts.clock.Now()
	form := []byte("InBody=1")
	r := ts.do(t, ts.acs3Request(t, "Echo", map[string]string{"Name": "a b"}, form, testSecret, now, nil))
	params, _ := r.body["Params"].(map[string]any)
	if r.status != 200 || r.body["Action"] != "Echo" || params["Name"] != "a b" || params["InBody"] != "1" {
		t.Fatalf("ACS3 call: %d %s", r.status, r.raw)
	}

	tests := []struct {
		name   string
		req    func() *http.Request
		status int
		code   string
	}{
		{"wrong secret", func() *http.Request {
			return ts.acs3Request(t, "Echo", nil, nil, "wrong", now, nil)
		}, 400, "SignatureDoesNotMatch"},
		{"tampered query", func() *http.Request {
			return ts.acs3Request(t, "Echo", map[string]string{"A": "1"}, nil, testSecret, now, func(r *http.Request) {
				r.URL.RawQuery = "A=2"
			})
		}, 400, "SignatureDoesNotMatch"},
		{"tampered action header", func() *http.Request {
			return ts.acs3Request(t, "Echo", nil, nil, testSecret, now, func(r *http.Request) {
				r.Header.Set("x-acs-action", "Empty")
			})
		}, 400, "SignatureDoesNotMatch"},
		{"body does not match its hash", func() *http.Request {
			return ts.acs3Request(t, "Echo", nil, form, testSecret, now, func(r *http.Request) {
				r.Body = io.NopCloser(strings.NewReader("InBody=2"))
				r.ContentLength = 8
			})
		}, 400, "SignatureDoesNotMatch"},
		{"stale date", func() *http.Request {
			return ts.acs3Request(t, "Echo", nil, nil, testSecret, now.Add(-20*time.Minute), nil)
		}, 400, "InvalidTimeStamp.Expired"},
		{"nonce not signed", func() *http.Request {
			return ts.acs3Request(t, "Echo", nil, nil, testSecret, now, func(r *http.Request) {
				r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), ";x-acs-signature-nonce", "", 1))
			})
		}, 400, "IncompleteSignature"},
		{"host not signed", func() *http.Request {
			return ts.acs3Request(t, "Echo", nil, nil, testSecret, now, func(r *http.Request) {
				r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "SignedHeaders=host;", "SignedHeaders=", 1))
			})
		}, 400, "IncompleteSignature"},
		{"signed parameters hidden in an encoded name", func() *http.Request {
			// "CidrBlock=10.0.0.0/16&DryRun" is one name in the raw query
			// below; rendered unencoded it read as the two signed
			// parameters, and the request ran without them.
			return ts.acs3Request(t, "Echo", map[string]string{"CidrBlock": "10.0.0.0/16", "DryRun": "true", "RegionId": "local"}, nil, testSecret, now, func(r *http.Request) {
				r.URL.RawQuery = "CidrBlock%3D10.0.0.0%252F16%26DryRun=true&RegionId=local"
			})
		}, 400, "SignatureDoesNotMatch"},
		{"nonce too long", func() *http.Request {
			return ts.acs3Request(t, "Echo", nil, nil, testSecret, now, func(r *http.Request) {
				r.Header.Set("x-acs-signature-nonce", strings.Repeat("n", 129))
			})
		}, 400, "InvalidParameter"},
		{"malformed authorization", func() *http.Request {
			return ts.acs3Request(t, "Echo", nil, nil, testSecret, now, func(r *http.Request) {
				r.Header.Set("Authorization", "ACS3-HMAC-SHA256 nonsense")
			})
		}, 400, "IncompleteSignature"},
		{"unknown key", func() *http.Request {
			return ts.acs3Request(t, "Echo", nil, nil, testSecret, now, func(r *http.Request) {
				r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), testKeyID, "LTAInobody", 1))
			})
		}, 404, "InvalidAccessKeyId.NotFound"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkError(t, ts.do(t, tt.req()), tt.status, tt.code)
		})
	}

	t.Run("replayed nonce", func(t *testing.T) {
		req := ts.acs3Request(t, "Echo", nil, nil, testSecret, now, nil)
		if r := ts.do(t, req); r.status != 200 {
			t.Fatalf("first: %d %s", r.status, r.raw)
		}
		again, _ := http.NewRequest("POST", req.URL.String(), nil)
		again.Header = req.Header.Clone()
		checkError(t, ts.do(t, again), 400, "SignatureNonceUsed")
	})
}
