package waf

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/waf/wafrule"
)

// connLog is an upstream that answers each request with the address of
// the connection it came on and records its connections' ends.
type connLog struct {
	srv    *httptest.Server
	mu     sync.Mutex
	opened []string
	closed map[string]bool
}

func newConnLog(t *testing.T) *connLog {
	l := &connLog{closed: map[string]bool{}}
	l.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/close" {
			w.Header().Set("Connection", "close")
		}
		io.WriteString(w, r.RemoteAddr)
	}))
	l.srv.Config.ConnState = func(c net.Conn, st http.ConnState) {
		l.mu.Lock()
		defer l.mu.Unlock()
		switch st {
		case http.StateNew:
			l.opened = append(l.opened, c.RemoteAddr().String())
		case http.StateClosed:
			l.closed[c.RemoteAddr().String()] = true
		}
	}
	l.srv.Start()
	t.Cleanup(l.srv.Close)
	return l
}

func (l *connLog) waitClosed(t *testing.T, peer string) {
	t.Helper()
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		l.mu.Lock()
		done := l.closed[peer]
		l.mu.Unlock()
		if done {
			return
		}
	}
	t.Errorf("upstream connection %s still open", peer)
}

// TestPerClientConnection: through a runtime whose transport is
// PerClientConnection, each client connection has exactly one upstream
// connection of its own for all its requests, the dial sees the client's
// address and port, and the upstream connection ends with the client's.
func TestPerClientConnection(t *testing.T) {
	up := newConnLog(t)
	rt := NewRuntime(nil, nil)
	rt.Cache = testCache
	defer rt.Close()
	var mu sync.Mutex
	dialedFor := map[string]int{} // client address -> upstream dials
	rt.Transport = func(wafrule.ObjectConfig) http.RoundTripper {
		return PerClientConnection(func() *http.Transport {
			tr := NewTransport()
			tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
				from, ok := ClientAddr(ctx)
				if !ok {
					t.Errorf("upstream dial without the client's address")
				}
				mu.Lock()
				dialedFor[from.String()]++
				mu.Unlock()
				return (&net.Dialer{}).DialContext(ctx, network, addr)
			}
			return tr
		})
	}
	oc := wafrule.ObjectConfig{ID: "waf-conns", Listen: "127.0.0.1:0", Upstream: strings.TrimPrefix(up.srv.URL, "http://"),
		Profile: wafrule.ProfileConfig{Action: "block", ParanoiaLevel: 1}}
	if err := rt.Apply([]wafrule.ObjectConfig{oc}); err != nil {
		t.Fatal(err)
	}
	base := "http://" + rt.Addr("waf-conns").String()

	type client struct {
		*http.Client
		local string // the address of its one connection to the WAF
	}
	newClient := func() *client {
		c := &client{}
		c.Client = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxConnsPerHost: 1,
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
				if err == nil {
					c.local = conn.LocalAddr().String()
				}
				return conn, err
			}}}
		return c
	}
	peerOf := func(c *client, path string) string {
		t.Helper()
		resp, err := c.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
		}
		return string(b)
	}

	a, b := newClient(), newClient()
	pa := peerOf(a, "/a1")
	pb := peerOf(b, "/b1")
	for i := range 3 { // interleaved: each keeps its own upstream connection
		if p := peerOf(a, "/a"); p != pa {
			t.Errorf("request %d of client A came on upstream connection %s, its first on %s", i, p, pa)
		}
		if p := peerOf(b, "/b"); p != pb {
			t.Errorf("request %d of client B came on upstream connection %s, its first on %s", i, p, pb)
		}
	}
	if pa == pb {
		t.Fatalf("two clients shared the upstream connection %s", pa)
	}
	mu.Lock()
	if dialedFor[a.local] != 1 || dialedFor[b.local] != 1 || len(dialedFor) != 2 { // before B reconnects
		t.Errorf("upstream dials by client address %v, want one for %s and one for %s", dialedFor, a.local, b.local)
	}
	mu.Unlock()

	// The upstream ends B's connection after an answer: so does the WAF,
	// and B's next connection gets a fresh upstream connection.
	resp, err := b.Get(base + "/close")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if !resp.Close {
		t.Errorf("the upstream closed client B's upstream connection, the WAF kept B's connection open")
	}
	up.waitClosed(t, pb)
	firstB := b.local
	if pb = peerOf(b, "/b-reconnected"); b.local == firstB || pb == "" {
		t.Errorf("client B kept its connection %s after the upstream closed", firstB)
	}

	// Client A leaves: its upstream connection ends, B's stays.
	a.CloseIdleConnections()
	up.waitClosed(t, pa)
	if p := peerOf(b, "/b-after"); p != pb {
		t.Errorf("client B moved to upstream connection %s after A left", p)
	}
	up.mu.Lock()
	if up.closed[pb] || len(up.opened) != 3 {
		t.Errorf("upstream connections opened %v, closed %v; want A's and B's two, A's and B's first closed", up.opened, up.closed)
	}
	up.mu.Unlock()
}

// TestPerClientConnectionClosedInFlight: an upstream connection whose
// response was still being read when its client connection ended (an
// HTTP/2 stream, a request in flight) is closed with the response body,
// not left idle; and a closed client connection makes no new one.
func TestPerClientConnectionClosedInFlight(t *testing.T) {
	up := newConnLog(t)
	rtp := PerClientConnection(NewTransport)
	cc := &clientConn{remote: netip.MustParseAddrPort("192.0.2.7:40001")}
	ctx := context.WithValue(context.Background(), clientConnKey{}, cc)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, up.srv.URL, nil)
	resp, err := rtp.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if from, ok := ClientAddr(ctx); !ok || from != cc.remote {
		t.Errorf("ClientAddr %v %v, want %v", from, ok, cc.remote)
	}
	cc.close()
	peer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	up.waitClosed(t, string(peer))
	if _, err := rtp.RoundTrip(req.Clone(ctx)); err == nil {
		t.Error("a request of a closed client connection went upstream")
	}
	if _, err := rtp.RoundTrip(req.Clone(context.Background())); err == nil {
		t.Error("a request without a client connection went upstream")
	}
}

// TestUpgradeThroughRuntime: a protocol upgrade (WebSocket) passes the
// WAF after its request was inspected, and the upgraded connection then
// carries bytes both ways.
func TestUpgradeThroughRuntime(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "websocket" {
			http.Error(w, "want an upgrade", http.StatusBadRequest)
			return
		}
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		rw.Flush()
		line, err := rw.ReadString('\n')
		if err != nil {
			return
		}
		rw.WriteString("echo " + line)
		rw.Flush()
	}))
	defer up.Close()
	rt := NewRuntime(nil, nil)
	rt.Cache = testCache
	rt.Transport = func(wafrule.ObjectConfig) http.RoundTripper { return PerClientConnection(NewTransport) }
	defer rt.Close()
	oc := wafrule.ObjectConfig{ID: "waf-ws", Listen: "127.0.0.1:0", Upstream: strings.TrimPrefix(up.URL, "http://"),
		Profile: wafrule.ProfileConfig{Action: "block", ParanoiaLevel: 1}}
	if err := rt.Apply([]wafrule.ObjectConfig{oc}); err != nil {
		t.Fatal(err)
	}
	upgrade := func(path string) (status string, c net.Conn, rd *bufio.Reader) {
		t.Helper()
		c, err := net.Dial("tcp", rt.Addr("waf-ws").String())
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: ws.test\r\nUser-Agent: test\r\nAccept: */*\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", path)
		rd = bufio.NewReader(c)
		status, err = rd.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		for { // the rest of the head
			l, err := rd.ReadString('\n')
			if err != nil || l == "\r\n" {
				break
			}
		}
		return strings.TrimSpace(status), c, rd
	}
	status, c, rd := upgrade("/chat")
	defer c.Close()
	if status != "HTTP/1.1 101 Switching Protocols" {
		t.Fatalf("upgrade answered %q", status)
	}
	fmt.Fprintf(c, "hello\n")
	if got, err := rd.ReadString('\n'); err != nil || got != "echo hello\n" {
		t.Errorf("upgraded connection carried %q, %v", got, err)
	}
	status, c2, _ := upgrade("/chat?q=" + url.QueryEscape("1' OR 1=1--"))
	defer c2.Close()
	if !strings.Contains(status, " 405 ") && !strings.HasSuffix(status, " 405") {
		t.Errorf("attack in an upgrade request answered %q, want 405", status)
	}
}

// TestRuntimeCloseClients: CloseClients closes exactly the client
// connections the predicate rejects, with their upstream connections; the
// others keep serving on their connections.
func TestRuntimeCloseClients(t *testing.T) {
	up := newConnLog(t)
	rt := NewRuntime(nil, nil)
	rt.Cache = testCache
	rt.Transport = func(wafrule.ObjectConfig) http.RoundTripper { return PerClientConnection(NewTransport) }
	defer rt.Close()
	oc := wafrule.ObjectConfig{ID: "waf-cut", Listen: "127.0.0.1:0", Upstream: strings.TrimPrefix(up.srv.URL, "http://"),
		Profile: wafrule.ProfileConfig{Action: "block", ParanoiaLevel: 1}}
	if err := rt.Apply([]wafrule.ObjectConfig{oc}); err != nil {
		t.Fatal(err)
	}
	if n := rt.CloseClients("no-such-object", func(netip.AddrPort) bool { return false }); n != 0 {
		t.Errorf("CloseClients of an unknown object closed %d", n)
	}
	addr := rt.Addr("waf-cut").String()
	// Raw kept-alive connections: a closed one must show as EOF, not be
	// redialled by an HTTP client.
	type conn struct {
		net.Conn
		r        *bufio.Reader
		upstream string // its upstream connection's address, as the origin saw it
	}
	request := func(c *conn, path string) (string, error) {
		if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: waf.test\r\n\r\n"); err != nil {
			return "", err
		}
		_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
		resp, err := http.ReadResponse(c.r, nil)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			return "", fmt.Errorf("GET %s: %d %s", path, resp.StatusCode, b)
		}
		return string(b), err
	}
	var conns []*conn
	for range 3 {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		c := &conn{Conn: nc, r: bufio.NewReader(nc)}
		if c.upstream, err = request(c, "/first"); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	denied := netip.MustParseAddrPort(conns[1].LocalAddr().String())
	asked := 0
	n := rt.CloseClients("waf-cut", func(c netip.AddrPort) bool { asked++; return c != denied })
	if n != 1 || asked != 3 {
		t.Fatalf("CloseClients closed %d of the %d connections it asked about, want 1 of 3", n, asked)
	}
	_ = conns[1].SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := conns[1].r.ReadByte(); err != io.EOF && !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("the denied client's connection: read %v, want EOF (closed by the WAF)", err)
	}
	up.waitClosed(t, conns[1].upstream)
	for _, i := range []int{0, 2} {
		if got, err := request(conns[i], "/again"); err != nil || got != conns[i].upstream {
			t.Errorf("admitted client %d after CloseClients: %q %v, want its upstream connection %s", i, got, err, conns[i].upstream)
		}
	}
}
