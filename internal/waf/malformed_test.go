package waf

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/waf/wafrule"
)

// rawFront serves px with NewServer (the listener settings of a protected
// object) on loopback, with the header timeout shortened to keep the test
// quick, and counts the requests that reach the upstream.
type rawFront struct {
	addr     string
	px       *Proxy
	upstream *atomic.Int64
}

func startRawFront(t *testing.T, p Policy, opts Options, headerTimeout time.Duration) *rawFront {
	t.Helper()
	var hits atomic.Int64
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(up.Close)
	opts.Upstream, _ = url.Parse(up.URL)
	opts.Cache = testCache
	px, err := NewProxy(opts, p)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(px)
	srv.ReadHeaderTimeout = headerTimeout
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return &rawFront{addr: ln.Addr().String(), px: px, upstream: &hits}
}

// send writes raw bytes and returns the status line's code (0 if the
// server closed without answering) and how long the exchange took.
func (f *rawFront) send(t *testing.T, raw string) (int, time.Duration) {
	t.Helper()
	start := time.Now()
	c, err := net.DialTimeout("tcp", f.addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		return 0, time.Since(start)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, time.Since(start)
	}
	resp.Body.Close()
	return resp.StatusCode, time.Since(start)
}

// Malformed HTTP at the TCP level against the proxy's real server: bad
// requests are refused with 4xx and never reach the upstream or the WAF
// engine, and nothing crashes.
func TestMalformedHTTP(t *testing.T) {
	f := startRawFront(t, Policy{Profile: Profile{Action: wafrule.Block}}, Options{BodyReadTimeout: time.Second}, time.Second)
	cases := []struct {
		name string
		raw  string
		want int
	}{
		{"bad chunk size", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", 400},
		{"chunk longer than its size", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n", 400},
		{"chunked body never finished", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", 400},
		{"unknown transfer encoding", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501},
		// Go's server takes chunked and drops Content-Length (RFC 9112
		// 6.3): the request goes on with one framing only, so it cannot be
		// smuggled past the proxy (checked in TestConflictingFraming).
		{"two content-lengths", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400},
		{"negative content-length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400},
		{"no host in HTTP/1.1", "GET / HTTP/1.1\r\n\r\n", 400},
		{"space in header name", "GET / HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n", 400},
		{"control character in header value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x00c\r\n\r\n", 400},
		{"garbage request line", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400},
		{"HTTP/2 preface over cleartext", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", DefaultBlockStatus}, // CRS 911100: method not allowed
		{"huge header", "GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + strings.Repeat("a", 2*MaxHeaderBytes) + "\r\n\r\n", 431},
		{"many headers", "GET / HTTP/1.1\r\nHost: a\r\n" + strings.Repeat("X-Many: 0123456789012345678901234567890123456789\r\n", 3000) + "\r\n", 431},
	}
	for _, tc := range cases {
		before := f.upstream.Load()
		got, _ := f.send(t, tc.raw)
		if got != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, got, tc.want)
		}
		if f.upstream.Load() != before {
			t.Errorf("%s: reached the upstream", tc.name)
		}
	}
	if n := f.px.buffered.Load(); n != 0 {
		t.Errorf("%d body bytes still reserved after the malformed requests", n)
	}
	// The server still serves well-formed requests.
	if got, _ := f.send(t, "GET /ok HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"); got != 200 {
		t.Errorf("well-formed request after the malformed ones: %d", got)
	}
}

// A client trickling its headers (slowloris) or its body is disconnected
// within the configured bound, and its body reservation is released.
func TestSlowClients(t *testing.T) {
	const headerTimeout, bodyTimeout = 500 * time.Millisecond, 700 * time.Millisecond
	f := startRawFront(t, Policy{Profile: Profile{Action: wafrule.Block}}, Options{BodyReadTimeout: bodyTimeout}, headerTimeout)
	trickle := func(prefix, drip string) (time.Duration, error) {
		c, err := net.Dial("tcp", f.addr)
		if err != nil {
			return 0, err
		}
		defer c.Close()
		start := time.Now()
		if _, err := io.WriteString(c, prefix); err != nil {
			return 0, err
		}
		for time.Since(start) < 10*time.Second {
			if _, err := io.WriteString(c, drip); err != nil {
				return time.Since(start), nil // closed by the server
			}
			_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			var b [512]byte
			if n, err := c.Read(b[:]); n > 0 || (err != nil && !errors.Is(err, os.ErrDeadlineExceeded)) {
				return time.Since(start), nil // answered (400) or closed
			}
		}
		return 0, fmt.Errorf("still connected after %v", time.Since(start))
	}
	took, err := trickle("GET / HTTP/1.1\r\nHost: a\r\n", "X-Slow: 1\r\n")
	// The slack allows for a loaded machine (CI runs packages in parallel).
	const slack = 3 * time.Second
	if err != nil || took > headerTimeout+slack {
		t.Errorf("header trickle: closed after %v (%v); want within %v", took, err, headerTimeout+slack)
	}
	took, err = trickle("POST /form HTTP/1.1\r\nHost: a\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\na=", "b")
	if err != nil || took > bodyTimeout+slack {
		t.Errorf("body trickle: closed after %v (%v); want within %v", took, err, bodyTimeout+slack)
	}
	deadline := time.Now().Add(2 * time.Second)
	for f.px.buffered.Load() != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := f.px.buffered.Load(); n != 0 {
		t.Errorf("%d body bytes still reserved after the slow clients left", n)
	}
	if f.upstream.Load() != 0 {
		t.Errorf("a trickled request reached the upstream")
	}
}

// Many clients sending bodies far over the inspection limit at once: each
// holds at most the limit in memory (the rest streams to the upstream),
// so the heap stays far below the bytes in flight.
func TestLargeBodiesBoundedMemory(t *testing.T) {
	const clients, size, limit = 32, 4 << 20, 16 << 10
	f := startRawFront(t, Policy{Profile: Profile{Action: wafrule.Block, BodyLimit: limit}}, Options{}, time.Second)
	var peak atomic.Uint64
	done := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Go(func() {
		var ms runtime.MemStats
		for {
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
		}
	})
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	// One long form field (many small fields would measure Coraza's per
	// argument garbage, not the body handling).
	chunk := strings.Repeat("plain+words+of+a+long+comment+", 1024)
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range clients {
		wg.Go(func() {
			pr, pw := io.Pipe()
			go func() {
				_, _ = io.WriteString(pw, "comment=")
				for sent := 0; sent < size; sent += len(chunk) {
					if _, err := io.WriteString(pw, chunk); err != nil {
						return
					}
				}
				pw.Close()
			}()
			req, _ := http.NewRequest("POST", "http://"+f.addr+"/upload", pr)
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := http.DefaultClient.Do(req)
			if err != nil || resp.StatusCode != 200 {
				failed.Add(1)
				if err == nil {
					resp.Body.Close()
				}
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		})
	}
	wg.Wait()
	close(done)
	sampler.Wait()
	if failed.Load() > 0 {
		t.Errorf("%d of %d large uploads failed", failed.Load(), clients)
	}
	growth := int64(peak.Load()) - int64(base.HeapInuse)
	t.Logf("%d concurrent %d MiB uploads (body limit %d KiB): heap in use grew by at most %d MiB", clients, size>>20, limit>>10, growth>>20)
	if growth > 96<<20 {
		t.Errorf("heap grew by %d MiB for %d MiB in flight: bodies are not bounded by the limit", growth>>20, clients*size>>20)
	}
}

// A request with both Content-Length and chunked framing (which the CRS
// flags: Block answers 405) reaches the upstream in Monitor mode with
// chunked framing only and the chunked body: no request hidden in the
// part Content-Length would have cut.
func TestConflictingFraming(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen = append(seen, fmt.Sprintf("%s %s cl=%q te=%v body=%q", r.Method, r.URL.Path, r.Header.Get("Content-Length"), r.TransferEncoding, b))
		mu.Unlock()
	}))
	defer up.Close()
	u, _ := url.Parse(up.URL)
	px, err := NewProxy(Options{Upstream: u, Cache: testCache}, Policy{Profile: Profile{Action: wafrule.Monitor}})
	if err != nil {
		t.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	srv := NewServer(px)
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	f := &rawFront{addr: ln.Addr().String(), px: px}
	raw := "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 40\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" +
		"3\r\nabc\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"
	if got, _ := f.send(t, raw); got != 200 {
		t.Fatalf("status %d", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 1 || !strings.Contains(seen[0], `body="abc"`) || strings.Contains(seen[0], `cl="40"`) {
		t.Errorf("upstream saw %q", seen)
	}
}

// TestUpstreamFailures checks the answers to requests the upstream fails:
// 504 for an upstream that accepts the request but does not answer within
// the transport's read timeout (NewTransport's is UpstreamReadTimeout,
// shortened here), 502 for one that refuses the connection. The client is
// answered either way, not held.
func TestUpstreamFailures(t *testing.T) {
	if got := NewTransport().ResponseHeaderTimeout; got != UpstreamReadTimeout {
		t.Errorf("NewTransport's read timeout %v, want UpstreamReadTimeout (%v)", got, UpstreamReadTimeout)
	}
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); slow.Close() })
	refused := httptest.NewServer(http.NotFoundHandler())
	refusedURL := refused.URL
	refused.Close() // nothing listens there now
	for _, tc := range []struct {
		name, upstream string
		want           int
	}{
		{"no answer", slow.URL, http.StatusGatewayTimeout},
		{"refused", refusedURL, http.StatusBadGateway},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := NewTransport()
			tr.ResponseHeaderTimeout = 200 * time.Millisecond
			u, _ := url.Parse(tc.upstream)
			px, err := NewProxy(Options{Upstream: u, Cache: testCache, Transport: tr}, Policy{})
			if err != nil {
				t.Fatal(err)
			}
			front := httptest.NewServer(px)
			defer front.Close()
			start := time.Now()
			resp, err := http.Get(front.URL + "/page")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want || time.Since(start) > 3*time.Second {
				t.Errorf("status %d after %v, want %d at once", resp.StatusCode, time.Since(start), tc.want)
			}
		})
	}
}
